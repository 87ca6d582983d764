/* Check suite for data/image, data/preprocess and data/sheet: PNG round trips and conversions,
 * JPEGs the test encodes itself, bad files by name, resize/crop/normalise against hand-computed
 * values and a direct 2D reference, and contact sheets read back pixel by pixel (their dropped
 * tokens visible on white footage, padding marked, long times unclipped). Seeded. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "image.h"
#include "preprocess.h"
#include "sheet.h"

#include <dirent.h>
#include <libavcodec/avcodec.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files by hand -------------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    *n = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *buf = malloc(*n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, *n, fp), *n);
    fclose(fp);
    return buf;
}

static int count_dir_entries(void)
{
    DIR *d = opendir(test_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* One chunk: length, type, data, CRC over type + data. Returns the bytes written at out. */
static size_t png_chunk(uint8_t *out, const char *type, const uint8_t *data, uint32_t n)
{
    put_be32(out, n);
    memcpy(out + 4, type, 4);
    if (n)
        memcpy(out + 8, data, n);
    put_be32(out + 8 + n, crc32_png(out + 4, 4 + n));
    return 12 + n;
}

/* A PNG without any ancillary chunk (so no gAMA): IHDR, IDAT holding raw (a filter byte 0
 * before each row) in one stored deflate block, IEND. */
static void write_png_by_hand(const char *path, uint32_t w, uint32_t h, int depth, int colour,
                              const uint8_t *raw, uint32_t raw_n)
{
    static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };
    uint8_t ihdr[13] = { 0 }, *file = malloc(64 + raw_n + 11), *z = malloc(raw_n + 11);
    ck_assert(file && z && raw_n < 65536);
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)colour;
    uint32_t a = 1, b = 0;                  /* zlib: header, one final stored block, adler32 */
    const uint8_t stored[7] = { 0x78, 0x01, 0x01, (uint8_t)raw_n, (uint8_t)(raw_n >> 8),
                                (uint8_t)~raw_n, (uint8_t)(~raw_n >> 8) };
    memcpy(z, stored, 7);
    for (uint32_t i = 0; i < raw_n; i++) {
        z[7 + i] = raw[i];
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    put_be32(z + 7 + raw_n, b << 16 | a);
    size_t n = 8;
    memcpy(file, signature, 8);
    n += png_chunk(file + n, "IHDR", ihdr, 13);
    n += png_chunk(file + n, "IDAT", z, raw_n + 11);
    n += png_chunk(file + n, "IEND", NULL, 0);
    write_bytes(path, file, n);
    free(file);
    free(z);
}

static void write_png_simplified(const char *path, uint32_t format, const void *pixels,
                                 const void *colormap, uint32_t entries, uint32_t w, uint32_t h)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = w;
    png.height = h;
    png.format = format;
    png.colormap_entries = entries;
    ck_assert_msg(png_image_write_to_file(&png, path, 0, pixels, 0, colormap), "libpng: %s",
                  png.message);
}

static lv_image read_ok(const char *path)
{
    lv_image img;
    ck_assert_msg(lv_image_read(&img, path) == 0, "%s", lv_error());
    return img;
}

/* -1, *out zeroed, and the message names the file (and says `also`, if given). */
static void expect_read_error(const char *path, const char *also, const char *what)
{
    lv_image img;
    ck_assert_int_eq(lv_image_read(&img, path), -1);
    ck_assert_ptr_null(img.rgb);
    ck_assert_msg(strstr(lv_error(), path), "message does not name the file: %s", lv_error());
    ck_assert_msg(!also || strstr(lv_error(), also), "message lacks \"%s\": %s", also,
                  lv_error());
    printf("  %-22s -> -1: %s\n", what, lv_error() + strlen(test_dir) + 1);
}

/* ---- PNG ------------------------------------------------------------------------------------ */

START_TEST(test_png_roundtrip)
{
    const int64_t sizes[3][2] = { { 1, 1 }, { 7, 3 }, { 64, 48 } };
    const int64_t w = sizes[_i][0], h = sizes[_i][1];
    lv_rng r = test_rng(4000 + (uint32_t)_i);
    uint8_t *rgb = malloc((size_t)(w * h * 3));
    ck_assert_ptr_nonnull(rgb);
    for (int64_t i = 0; i < w * h * 3; i++)
        rgb[i] = (uint8_t)lv_rng_u32(&r);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "rt.png");
    write_bytes(path, "old contents", 12);
    ck_assert_msg(lv_image_write_png(path, rgb, w, h) == 0, "%s", lv_error());
    ck_assert_int_eq(count_dir_entries(), 1);
    lv_image img = read_ok(path);
    ck_assert_int_eq(img.width, w);
    ck_assert_int_eq(img.height, h);
    ck_assert_mem_eq(img.rgb, rgb, (size_t)(w * h * 3));
    printf("png round trip %lldx%lld: %lld random bytes equal, old file replaced, no temporary "
           "left\n", (long long)w, (long long)h, (long long)(w * h * 3));
    lv_image_free(&img);
    ck_assert_ptr_null(img.rgb);
    free(rgb);
}
END_TEST

/* RGBA (alpha dropped, colours as stored), grey, palette: exact. */
START_TEST(test_png_formats_8bit)
{
    char path[TEST_PATH_BYTES];
    const uint8_t rgba[4][4] = { { 200, 100, 50, 255 }, { 200, 100, 50, 128 },
                                 { 10, 20, 30, 0 }, { 255, 255, 255, 64 } };
    tmp_path(path, "rgba.png");
    write_png_simplified(path, PNG_FORMAT_RGBA, rgba, NULL, 0, 2, 2);
    lv_image img = read_ok(path);
    for (int i = 0; i < 4; i++)
        ck_assert_mem_eq(img.rgb + 3 * i, rgba[i], 3);
    lv_image_free(&img);

    uint8_t grey[3 * 5];
    for (int i = 0; i < 15; i++)
        grey[i] = (uint8_t)(i * 17);
    tmp_path(path, "grey.png");
    write_png_simplified(path, PNG_FORMAT_GRAY, grey, NULL, 0, 5, 3);
    img = read_ok(path);
    ck_assert(img.width == 5 && img.height == 3);
    for (int i = 0; i < 15; i++)
        ck_assert(img.rgb[3 * i] == grey[i] && img.rgb[3 * i + 1] == grey[i] &&
                  img.rgb[3 * i + 2] == grey[i]);
    lv_image_free(&img);

    const uint8_t palette[4][3] = { { 255, 0, 0 }, { 0, 200, 0 }, { 1, 2, 3 }, { 90, 90, 250 } };
    const uint8_t index[6] = { 0, 1, 2, 3, 2, 1 };
    tmp_path(path, "palette.png");
    write_png_simplified(path, PNG_FORMAT_RGB_COLORMAP, index, palette, 4, 3, 2);
    img = read_ok(path);
    for (int i = 0; i < 6; i++)
        ck_assert_mem_eq(img.rgb + 3 * i, palette[index[i]], 3);
    lv_image_free(&img);
    printf("png formats: RGBA -> RGB drops alpha (alpha 255/128/0/64 keep their colours), "
           "grey g -> (g,g,g) for 15 levels, 4-colour palette -> its colours: all exact\n");
}
END_TEST

/* 16-bit: with gAMA 1.0 (what png_image writes for linear data) libpng encodes to sRGB with its
 * gamma 2.2 curve; without gAMA the samples are taken as sRGB already: v / 257. */
START_TEST(test_png_16bit)
{
    char path[TEST_PATH_BYTES];
    const uint16_t linear[5] = { 0, 1000, 20000, 32768, 65535 };
    uint16_t rgb16[5 * 3];
    for (int i = 0; i < 5; i++)
        rgb16[3 * i] = rgb16[3 * i + 1] = rgb16[3 * i + 2] = linear[i];
    tmp_path(path, "linear16.png");
    write_png_simplified(path, PNG_FORMAT_RGB | PNG_FORMAT_FLAG_LINEAR, rgb16, NULL, 0, 5, 1);
    lv_image img = read_ok(path);
    int worst = 0;
    for (int i = 0; i < 5; i++) {
        const int want = (int)lround(255.0 * pow(linear[i] / 65535.0, 1.0 / 2.2));
        worst = abs(img.rgb[3 * i] - want) > worst ? abs(img.rgb[3 * i] - want) : worst;
        ck_assert_msg(abs(img.rgb[3 * i] - want) <= 1, "linear %u: got %u want %d", linear[i],
                      img.rgb[3 * i], want);
    }
    lv_image_free(&img);

    const uint16_t samples[4] = { 0, 257 * 100, 257 * 200 + 128, 65535 };
    uint8_t raw[1 + 4 * 6];
    raw[0] = 0;
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) {
            raw[1 + 6 * i + 2 * c] = (uint8_t)(samples[i] >> 8);
            raw[2 + 6 * i + 2 * c] = (uint8_t)samples[i];
        }
    tmp_path(path, "nogama16.png");
    write_png_by_hand(path, 4, 1, 16, 2, raw, sizeof raw);
    img = read_ok(path);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(img.rgb[3 * i] == (int)lround(samples[i] / 257.0), "sample %u -> %u",
                      samples[i], img.rgb[3 * i]);
    lv_image_free(&img);
    printf("png 16-bit: gAMA 1.0 file -> 255*(v/65535)^(1/2.2) within %d level (tol 1); "
           "hand-made file without gAMA -> v/257 exactly\n", worst);
}
END_TEST

/* ---- JPEG ----------------------------------------------------------------------------------- */

/* JFIF full-range BT.601, by hand; chroma_420 averages each 2x2 block (edge blocks clamp). */
static void rgb_to_jfif(AVFrame *f, const uint8_t *rgb, int w, int h, int chroma_420)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = rgb + (y * w + x) * 3;
            f->data[0][y * f->linesize[0] + x] =
                (uint8_t)lround(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
        }
    const int s = chroma_420 ? 2 : 1;
    for (int y = 0; y < (h + s - 1) / s; y++)
        for (int x = 0; x < (w + s - 1) / s; x++) {
            double cb = 0.0, cr = 0.0;
            for (int k = 0; k < s * s; k++) {
                const int yy = y * s + k / s < h ? y * s + k / s : h - 1;
                const int xx = x * s + k % s < w ? x * s + k % s : w - 1;
                const uint8_t *p = rgb + (yy * w + xx) * 3;
                cb += 128.0 - 0.168736 * p[0] - 0.331264 * p[1] + 0.5 * p[2];
                cr += 128.0 + 0.5 * p[0] - 0.418688 * p[1] - 0.081312 * p[2];
            }
            f->data[1][y * f->linesize[1] + x] = (uint8_t)lround(cb / (s * s));
            f->data[2][y * f->linesize[2] + x] = (uint8_t)lround(cr / (s * s));
        }
}

/* One JPEG at quantiser 2 from libavcodec's mjpeg encoder. */
static void write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int chroma_420)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    ck_assert_msg(codec != NULL, "this FFmpeg has no mjpeg encoder");
    AVCodecContext *c = avcodec_alloc_context3(codec);
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    ck_assert(c && f && pkt);
    c->width = w;
    c->height = h;
    c->pix_fmt = chroma_420 ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUVJ444P;
    c->color_range = AVCOL_RANGE_JPEG;
    c->time_base = (AVRational){ 1, 25 };
    c->flags |= AV_CODEC_FLAG_QSCALE;
    c->global_quality = FF_QP2LAMBDA * 2;
    ck_assert_int_eq(avcodec_open2(c, codec, NULL), 0);
    f->format = c->pix_fmt;
    f->width = w;
    f->height = h;
    f->quality = c->global_quality;
    ck_assert_int_eq(av_frame_get_buffer(f, 0), 0);
    rgb_to_jfif(f, rgb, w, h, chroma_420);
    ck_assert_int_eq(avcodec_send_frame(c, f), 0);
    ck_assert_int_eq(avcodec_send_frame(c, NULL), 0);
    ck_assert_int_eq(avcodec_receive_packet(c, pkt), 0);
    write_bytes(path, pkt->data, (size_t)pkt->size);
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&c);
}

static uint8_t *gradient(int w, int h)
{
    uint8_t *rgb = malloc((size_t)(w * h * 3));
    ck_assert_ptr_nonnull(rgb);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            rgb[(y * w + x) * 3] = (uint8_t)(40 + 2 * x);
            rgb[(y * w + x) * 3 + 1] = (uint8_t)(200 - 3 * y);
            rgb[(y * w + x) * 3 + 2] = (uint8_t)(60 + x + 2 * y);
        }
    return rgb;
}

/* A smooth gradient (1-3 levels per pixel) survives a q=2 JPEG within max |err| 5 and mean
 * |err| 1.0 with 4:4:4 chroma, 8 and 2.0 with 4:2:0 (chroma averaged over 2x2 blocks; the ffmpeg
 * program's own decode of such a file is off by up to 6, 1.43 on average). */
START_TEST(test_jpeg_read)
{
    const int sizes[2][2] = { { 64, 48 }, { 37, 23 } }, w = sizes[_i / 2][0], h = sizes[_i / 2][1];
    const int chroma_420 = _i % 2;
    uint8_t *rgb = gradient(w, h);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "gradient.dat");
    write_jpeg(path, rgb, w, h, chroma_420);
    lv_image img = read_ok(path);
    ck_assert(img.width == w && img.height == h);
    int worst = 0;
    double sum = 0.0;
    for (int i = 0; i < w * h * 3; i++) {
        const int e = abs(img.rgb[i] - rgb[i]);
        worst = e > worst ? e : worst;
        sum += e;
    }
    const int tol_max = chroma_420 ? 8 : 5;
    const double mean = sum / (w * h * 3), tol_mean = chroma_420 ? 2.0 : 1.0;
    printf("jpeg %dx%d %s (named .dat: chosen by signature): max |err| %d (tol %d), "
           "mean |err| %.3f (tol %.1f)\n", w, h, chroma_420 ? "4:2:0" : "4:4:4", worst, tol_max,
           mean, tol_mean);
    ck_assert_int_le(worst, tol_max);
    ck_assert(mean <= tol_mean);
    lv_image_free(&img);
    free(rgb);
}
END_TEST

/* ---- bad files ------------------------------------------------------------------------------ */

START_TEST(test_bad_files)
{
    char path[TEST_PATH_BYTES], good[TEST_PATH_BYTES];
    tmp_path(path, "missing.png");
    expect_read_error(path, "No such file", "missing");
    tmp_path(path, "text.png");
    write_bytes(path, "hello, world\n", 13);
    expect_read_error(path, "not a PNG or JPEG", "text named .png");
    tmp_path(path, "empty.jpg");
    write_bytes(path, "", 0);
    expect_read_error(path, "not a PNG or JPEG", "empty file");
    tmp_path(path, "");
    path[strlen(path) - 1] = '\0';
    expect_read_error(path, NULL, "a folder");

    uint8_t *rgb = gradient(64, 48);
    size_t n;
    tmp_path(good, "good.png");
    ck_assert_int_eq(lv_image_write_png(good, rgb, 64, 48), 0);
    uint8_t *bytes = read_bytes(good, &n);
    tmp_path(path, "truncated.png");
    write_bytes(path, bytes, n / 2);
    expect_read_error(path, "truncated or corrupt PNG", "truncated PNG");
    tmp_path(path, "signature_only.png");
    write_bytes(path, bytes, 8);
    expect_read_error(path, "not a readable PNG", "PNG signature only");
    free(bytes);

    tmp_path(good, "good.jpg");
    write_jpeg(good, rgb, 64, 48, 1);
    bytes = read_bytes(good, &n);
    tmp_path(path, "truncated.jpg");
    write_bytes(path, bytes, n * 2 / 3);
    expect_read_error(path, "truncated JPEG", "truncated JPEG");
    for (size_t i = 0; i + 9 < n; i++)
        if (bytes[i] == 0xFF && bytes[i + 1] == 0xC0) {
            bytes[i + 5] = bytes[i + 7] = 0x4E;     /* 0x4E30 = 20016 rows and columns */
            bytes[i + 6] = bytes[i + 8] = 0x30;
            break;
        }
    tmp_path(path, "huge.jpg");
    write_bytes(path, bytes, n);
    expect_read_error(path, "16384", "JPEG SOF 20016x20016");
    free(bytes);
    free(rgb);

    tmp_path(path, "huge.png");
    const uint8_t filter = 0;
    write_png_by_hand(path, 20000, 20000, 8, 2, &filter, 1);
    expect_read_error(path, "16384", "PNG IHDR 20000x20000");
}
END_TEST

START_TEST(test_write_errors)
{
    const uint8_t rgb[3] = { 1, 2, 3 };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "no_such_dir/out.png");
    ck_assert_int_eq(lv_image_write_png(path, rgb, 1, 1), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), path));
    printf("  missing folder -> -1: %s\n", lv_error() + strlen(test_dir) + 1);
    tmp_path(path, "zero.png");
    ck_assert_int_eq(lv_image_write_png(path, rgb, 0, 1), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), path));
    ck_assert_int_eq(lv_image_write_png(path, rgb, 1, 16385), -1);
    ck_assert_int_eq(count_dir_entries(), 0);
    printf("  0x1 and 1x16385 -> -1: %s\n", lv_error() + strlen(test_dir) + 1);
}
END_TEST

/* A temporary file named after the PID (every container's first process is PID 1) left by a
 * killed writer -- here a folder of that name, which no fopen can replace -- must not block the
 * next write: the writer takes a fresh unique name, and leaves only the picture behind. */
START_TEST(test_write_stale_temp)
{
    const uint8_t rgb[3] = { 1, 2, 3 };
    char path[TEST_PATH_BYTES], stale[TEST_PATH_BYTES + 32];
    tmp_path(path, "loss.png");
    snprintf(stale, sizeof stale, "%s.tmp-%ld", path, (long)getpid());
    ck_assert_int_eq(mkdir(stale, 0777), 0);
    ck_assert_msg(lv_image_write_png(path, rgb, 1, 1) == 0, "%s", lv_error());
    ck_assert_int_eq(rmdir(stale), 0);
    ck_assert_int_eq(count_dir_entries(), 1);
    printf("  a stale %s of the old PID name did not block the write; no temp file left\n",
           stale + strlen(test_dir) + 1);
}
END_TEST

/* ---- preprocessing -------------------------------------------------------------------------- */

static float *preprocess_new(const uint8_t *rgb, int64_t N, int64_t H, int64_t W, int64_t S,
                             const float mean[3], const float std[3])
{
    const int64_t guard = 16, ns = lv_preprocess_scratch_floats(H, W, S);
    float *out = malloc((size_t)(N * S * S * 3) * sizeof *out);
    float *scratch = malloc((size_t)(ns + guard) * sizeof *scratch);
    ck_assert(out && scratch);
    for (int64_t i = 0; i < guard; i++)
        scratch[ns + i] = -12345.0f;
    lv_preprocess(out, rgb, N, H, W, S, mean, std, scratch);
    for (int64_t i = 0; i < guard; i++)
        ck_assert_msg(scratch[ns + i] == -12345.0f, "scratch overrun at %lld", (long long)i);
    free(scratch);
    return out;
}

static const float zero3[3] = { 0.0f, 0.0f, 0.0f }, one3[3] = { 1.0f, 1.0f, 1.0f };

START_TEST(test_preprocess_constant)
{
    const int64_t shapes[6][3] = { { 37, 20, 16 }, { 20, 37, 16 }, { 3, 5, 11 }, { 1, 1, 7 },
                                   { 100, 100, 16 }, { 48, 64, 48 } };
    const int64_t H = shapes[_i][0], W = shapes[_i][1], S = shapes[_i][2];
    uint8_t *rgb = malloc((size_t)(H * W * 3));
    ck_assert_ptr_nonnull(rgb);
    const uint8_t v[3] = { 7, 128, 255 };
    for (int64_t i = 0; i < H * W * 3; i++)
        rgb[i] = v[i % 3];
    float *out = preprocess_new(rgb, 1, H, W, S, LV_CLIP_MEAN, LV_CLIP_STD);
    double *want = malloc((size_t)(S * S * 3) * sizeof *want);
    ck_assert_ptr_nonnull(want);
    for (int64_t i = 0; i < S * S * 3; i++)
        want[i] = (v[i % 3] / 255.0 - LV_CLIP_MEAN[i % 3]) / LV_CLIP_STD[i % 3];
    char what[64];
    snprintf(what, sizeof what, "constant %lldx%lld -> S=%lld", (long long)H, (long long)W,
             (long long)S);
    expect_floats(what, out, want, S * S * 3, 1e-6);
    free(want);
    free(out);
    free(rgb);
}
END_TEST

/* 2x2 -> 4x4: bilinear, half-pixel centres, edges clamped: per axis the weights are
 * (1,0) (3/4,1/4) (1/4,3/4) (0,1). */
START_TEST(test_preprocess_enlarge)
{
    const uint8_t p[2][2] = { { 0, 100 }, { 200, 40 } };
    const double want_r[4][4] = { { 0, 25, 75, 100 }, { 50, 58.75, 76.25, 85 },
                                  { 150, 126.25, 78.75, 55 }, { 200, 160, 80, 40 } };
    uint8_t rgb[2 * 2 * 3];
    for (int i = 0; i < 4; i++) {
        rgb[3 * i] = p[i / 2][i % 2];
        rgb[3 * i + 1] = (uint8_t)(255 - p[i / 2][i % 2]);
        rgb[3 * i + 2] = 7;
    }
    float *out = preprocess_new(rgb, 1, 2, 2, 4, zero3, one3);
    double want[4 * 4 * 3];
    for (int i = 0; i < 16; i++) {
        want[3 * i] = want_r[i / 4][i % 4] / 255.0;
        want[3 * i + 1] = (255.0 - want_r[i / 4][i % 4]) / 255.0;
        want[3 * i + 2] = 7.0 / 255.0;
    }
    expect_floats("bilinear 2x2 -> 4x4", out, want, 48, 1e-6);
    free(out);
}
END_TEST

/* 8x12 -> S=4: resized 4x6, crop columns 1..4 of it: each output the mean of one 2x2 block,
 * rows 2oy..2oy+1, source columns 2(ox+1)..2(ox+1)+1. */
START_TEST(test_preprocess_shrink2x)
{
    lv_rng r = test_rng(4100);
    uint8_t rgb[8 * 12 * 3];
    for (int i = 0; i < 8 * 12 * 3; i++)
        rgb[i] = (uint8_t)lv_rng_u32(&r);
    float *out = preprocess_new(rgb, 1, 8, 12, 4, zero3, one3);
    double want[4 * 4 * 3];
    for (int oy = 0; oy < 4; oy++)
        for (int ox = 0; ox < 4; ox++)
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int k = 0; k < 4; k++)
                    sum += rgb[((2 * oy + k / 2) * 12 + 2 * (ox + 1) + k % 2) * 3 + c];
                want[(oy * 4 + ox) * 3 + c] = sum / 4.0 / 255.0;
            }
    expect_floats("area 8x12 -> 4x6 -> crop 4x4", out, want, 48, 1e-6);
    free(out);
}
END_TEST

/* No resize (shorter side already S): 4x8 keeps columns 2..5, 8x4 keeps rows 2..5. */
START_TEST(test_preprocess_centre_crop)
{
    uint8_t land[4 * 8 * 3], port[8 * 4 * 3];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++)
            for (int c = 0; c < 3; c++) {
                land[(y * 8 + x) * 3 + c] = (uint8_t)(10 * x + c);
                port[(x * 4 + y) * 3 + c] = (uint8_t)(10 * x + c);
            }
    float *out_l = preprocess_new(land, 1, 4, 8, 4, zero3, one3);
    float *out_p = preprocess_new(port, 1, 8, 4, 4, zero3, one3);
    double want_l[48], want_p[48];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 3; c++) {
                want_l[(y * 4 + x) * 3 + c] = (10 * (x + 2) + c) / 255.0;
                want_p[(y * 4 + x) * 3 + c] = (10 * (y + 2) + c) / 255.0;
            }
    expect_floats("crop 4x8 -> columns 2..5", out_l, want_l, 48, 1e-7);
    expect_floats("crop 8x4 -> rows 2..5", out_p, want_p, 48, 1e-7);
    free(out_l);
    free(out_p);
}
END_TEST

/* The rule of preprocess.h restated per source pixel: area = overlap length / factor,
 * bilinear = tent max(0, 1 - |x - src|) around the clamped source position. */
static double ref_weight(int64_t in, int64_t out, int64_t j, int64_t x)
{
    const double f = (double)in / (double)out;
    if (in > out)
        return fmax(0.0, fmin(x + 1.0, (j + 1) * f) - fmax((double)x, j * f)) / f;
    const double src = fmin(fmax((j + 0.5) * f - 0.5, 0.0), in - 1.0);
    return fmax(0.0, 1.0 - fabs(x - src));
}

static void ref_preprocess(double *out, const uint8_t *rgb, int64_t H, int64_t W, int64_t S)
{
    const int64_t rh = H <= W ? S : H * S / W, rw = H <= W ? W * S / H : S;
    for (int64_t oy = 0; oy < S; oy++)
        for (int64_t ox = 0; ox < S; ox++)
            for (int c = 0; c < 3; c++) {
                double acc = 0.0;
                for (int64_t y = 0; y < H; y++)
                    for (int64_t x = 0; x < W; x++)
                        acc += ref_weight(H, rh, oy + (rh - S) / 2, y) *
                               ref_weight(W, rw, ox + (rw - S) / 2, x) * rgb[(y * W + x) * 3 + c];
                out[(oy * S + ox) * 3 + c] = (acc / 255.0 - LV_CLIP_MEAN[c]) / LV_CLIP_STD[c];
            }
}

/* Portrait and landscape, shrinking by non-integer factors and enlarging, two frames per call,
 * against the direct 2D sum of the stated rule. */
START_TEST(test_preprocess_reference)
{
    const int64_t shapes[6][3] = { { 30, 50, 16 }, { 50, 30, 16 }, { 5, 7, 12 }, { 7, 5, 12 },
                                   { 33, 33, 10 }, { 9, 40, 9 } };
    const int64_t H = shapes[_i][0], W = shapes[_i][1], S = shapes[_i][2], N = 2;
    lv_rng r = test_rng(4200 + (uint32_t)_i);
    uint8_t *rgb = malloc((size_t)(N * H * W * 3));
    double *want = malloc((size_t)(N * S * S * 3) * sizeof *want);
    ck_assert(rgb && want);
    for (int64_t i = 0; i < N * H * W * 3; i++)
        rgb[i] = (uint8_t)lv_rng_u32(&r);
    for (int64_t n = 0; n < N; n++)
        ref_preprocess(want + n * S * S * 3, rgb + n * H * W * 3, H, W, S);
    float *out = preprocess_new(rgb, N, H, W, S, LV_CLIP_MEAN, LV_CLIP_STD);
    char what[64];
    snprintf(what, sizeof what, "2 frames %lldx%lld -> S=%lld vs 2D ref", (long long)H,
             (long long)W, (long long)S);
    expect_floats(what, out, want, N * S * S * 3, 2e-6);
    free(out);
    free(want);
    free(rgb);
}
END_TEST

START_TEST(test_unpreprocess)
{
    const int64_t S = 24, N = 3;
    lv_rng r = test_rng(4300);
    uint8_t rgb[3 * 24 * 24 * 3], back[3 * 24 * 24 * 3];
    for (int64_t i = 0; i < N * S * S * 3; i++)
        rgb[i] = (uint8_t)lv_rng_u32(&r);
    float *x = preprocess_new(rgb, N, S, S, S, LV_CLIP_MEAN, LV_CLIP_STD);
    lv_unpreprocess(back, x, N, S, LV_CLIP_MEAN, LV_CLIP_STD);
    int worst = 0;
    for (int64_t i = 0; i < N * S * S * 3; i++)
        worst = abs(back[i] - rgb[i]) > worst ? abs(back[i] - rgb[i]) : worst;
    ck_assert_int_le(worst, 1);
    const float big[3] = { 100.0f, -100.0f, 0.0f };
    uint8_t clamped[3];
    lv_unpreprocess(clamped, big, 1, 1, LV_CLIP_MEAN, LV_CLIP_STD);
    ck_assert(clamped[0] == 255 && clamped[1] == 0 && clamped[2] == 104);
    printf("unpreprocess(preprocess(x)) at S=H=W=24, 3 frames, CLIP mean/std: max |diff| %d "
           "level (tol 1); out-of-range inputs clamp to 255 and 0\n", worst);
    free(x);
}
END_TEST

/* ---- contact sheet -------------------------------------------------------------------------- */

enum { SH_N = 6, SH_S = 32, SH_P = 8, SH_GP = (SH_S / SH_P) * (SH_S / SH_P) };

static void sheet_frames(uint8_t *frames, uint8_t *keep, double *times)
{
    for (int f = 0; f < SH_N; f++) {
        for (int y = 0; y < SH_S; y++)
            for (int x = 0; x < SH_S; x++)
                for (int c = 0; c < 3; c++)
                    frames[((f * SH_S + y) * SH_S + x) * 3 + c] =
                        (uint8_t)(40 * f + 3 * x + 2 * y + 60 * c);
        for (int i = 0; i < SH_GP; i++)
            keep[f * SH_GP + i] = (i + f) % 3 != 0;
        times[f] = 1.5 * f;
    }
}

/* A build without cairo: the sheet is refused with the one documented line; 1 means skip. */
static int sheet_skipped(int rc)
{
    if (lv_pictures_available())
        return 0;
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(lv_error(), LV_NO_PICTURES);
    test_skip("contact sheets: this build has no cairo (apt-get install libcairo2-dev, rebuild)");
    return 1;
}

/* Every screen pixel of a frame's cell (zoom z) against sheet.h's formula: kept pixels are the
 * frame's, dropped tokens outlined, hatched and darkened. */
static void check_cell(const lv_image *img, const uint8_t *frame, const uint8_t *keep, int x0,
                       int y0, int z, int *kept, int *dropped)
{
    const int pz = SH_P * z;
    for (int y = 0; y < SH_S * z; y++)
        for (int x = 0; x < SH_S * z; x++)
            for (int c = 0; c < 3; c++) {
                const int v = frame[((y / z) * SH_S + x / z) * 3 + c];
                const int on = !keep || keep[(y / pz) * (SH_S / SH_P) + x / pz];
                const int ring = x % pz == 0 || y % pz == 0 || x % pz == pz - 1 ||
                                 y % pz == pz - 1;
                const int want = on ? v : ring ? LV_SHEET_OUTLINE :
                                 (x0 + x + y0 + y) % LV_SHEET_HATCH_PERIOD == 0 ?
                                 LV_SHEET_HATCH : LV_SHEET_DARKEN(v);
                const int got = img->rgb[((y0 + y) * img->width + x0 + x) * 3 + c];
                ck_assert_msg(got == want, "pixel (%d,%d,%d) of the cell at (%d,%d): got %d "
                              "want %d", x, y, c, x0, y0, got, want);
                *kept += on;
                *dropped += !on;
            }
}

/* Samples of the rectangle that differ from the background (text, marks), and the leftmost and
 * rightmost column holding one. */
static int marked(const lv_image *img, int x0, int y0, int w, int h, int *left, int *right)
{
    int n = 0;
    *left = x0 + w;
    *right = x0 - 1;
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++)
            if (img->rgb[(y * img->width + x) * 3] != LV_SHEET_BACKGROUND) {
                n++;
                *left = x < *left ? x : *left;
                *right = x > *right ? x : *right;
            }
    return n;
}

START_TEST(test_sheet)
{
    uint8_t *frames = malloc(SH_N * SH_S * SH_S * 3), keep[SH_N * SH_GP];
    double times[SH_N];
    ck_assert_ptr_nonnull(frames);
    sheet_frames(frames, keep, times);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "sheet.png");
    const lv_sheet_style style = { 0, 4, 1, 0 };
    const lv_sheet_frames in = { frames, SH_N, SH_S, times, SH_N, keep, SH_P };
    const int rc = lv_sheet_write(path, &in, &style);
    if (sheet_skipped(rc)) {
        free(frames);
        return;
    }
    ck_assert_msg(rc == 0, "%s", lv_error());
    lv_image img = read_ok(path);
    /* automatic zoom 3 (96 >= LV_SHEET_MIN_CELL), a time strip, a legend line for the mask */
    const int cols = 3, rows = 2, gap = 4, z = 3, C = z * SH_S, L = LV_SHEET_LABEL;
    const int H = LV_SHEET_HEADER;
    ck_assert_int_eq(img.width, cols * C + (cols + 1) * gap);
    ck_assert_int_eq(img.height, H + rows * (C + L) + (rows + 1) * gap);
    int kept = 0, dropped = 0, label = 0, left, right;
    for (int f = 0; f < SH_N; f++) {
        const int x0 = gap + f % cols * (C + gap), y0 = H + gap + f / cols * (C + L + gap);
        check_cell(&img, frames + f * SH_S * SH_S * 3, keep + f * SH_GP, x0, y0, z, &kept,
                   &dropped);
        const int changed = marked(&img, x0, y0 + C, C, L, &left, &right);
        ck_assert_msg(changed > 20, "frame %d: its time changed only %d samples", f, changed);
        label += changed;
    }
    ck_assert_int_gt(marked(&img, 0, 0, img.width, H, &left, &right), 100);   /* the legend */
    printf("sheet 6 frames S=32 p=8: %lldx%lld = layout formula (3 cols, 2 rows, zoom 3, gap 4, "
           "strip %d, legend %d); %d kept samples equal, %d dropped samples outlined, hatched "
           "and darkened as documented; times drew %d samples\n", (long long)img.width,
           (long long)img.height, L, H, kept, dropped, label);
    lv_image_free(&img);
    free(frames);
}
END_TEST

/* No keep map and no times, zoom 1: the cells are the frames exactly; 4 columns as asked. */
START_TEST(test_sheet_plain)
{
    uint8_t *frames = malloc(SH_N * SH_S * SH_S * 3), keep[SH_N * SH_GP];
    double times[SH_N];
    ck_assert_ptr_nonnull(frames);
    sheet_frames(frames, keep, times);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "plain.png");
    const lv_sheet_style style = { 4, 2, 0, 1 };
    const lv_sheet_frames in = { frames, SH_N, SH_S, times, SH_N, NULL, 0 };
    const int rc = lv_sheet_write(path, &in, &style);
    if (sheet_skipped(rc)) {
        free(frames);
        return;
    }
    ck_assert_msg(rc == 0, "%s", lv_error());
    lv_image img = read_ok(path);
    ck_assert_int_eq(img.width, 4 * SH_S + 5 * 2);
    ck_assert_int_eq(img.height, 2 * SH_S + 3 * 2);
    int kept = 0, dropped = 0;
    for (int f = 0; f < SH_N; f++)
        check_cell(&img, frames + f * SH_S * SH_S * 3, NULL, 2 + f % 4 * (SH_S + 2),
                   2 + f / 4 * (SH_S + 2), 1, &kept, &dropped);
    ck_assert_int_eq(dropped, 0);
    ck_assert_int_eq(count_dir_entries(), 1);
    printf("sheet without keep map and times, cols 4 gap 2 zoom 1: %lldx%lld, all %d samples "
           "equal the frames\n", (long long)img.width, (long long)img.height, kept);
    lv_image_free(&img);
    tmp_path(path, "no_such_dir/sheet.png");
    ck_assert_int_eq(lv_sheet_write(path, &in, NULL), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), path));
    free(frames);
}
END_TEST

/* What a reader must not miss, on white footage (where a light tint would vanish): a dropped
 * token is far darker than the same token kept, a padding frame has its orange border, and
 * times past a minute and an hour ("1:05", "1:00:05.5 pad") fit their strip, unclipped. */
START_TEST(test_sheet_marks)
{
    enum { N = 4, S = 32, P = 8, G = (S / P) * (S / P), TOKEN = 5 };
    uint8_t *frames = malloc(N * S * S * 3), keep[N * G];
    ck_assert_ptr_nonnull(frames);
    memset(frames, 255, N * S * S * 3);
    memset(keep, 1, sizeof keep);
    keep[0 * G + TOKEN] = 0;                        /* frame 0 drops token 5; frame 1 keeps it */
    const double times[N] = { 65.0, 256.0, 599.9, 3605.5 };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "marks.png");
    const lv_sheet_style style = { 4, 4, 1, 0 };
    const lv_sheet_frames in = { frames, N, S, times, 3, keep, P };    /* frame 3 is padding */
    const int rc = lv_sheet_write(path, &in, &style);
    if (sheet_skipped(rc)) {
        free(frames);
        return;
    }
    ck_assert_msg(rc == 0, "%s", lv_error());
    lv_image img = read_ok(path);
    const int z = 3, C = z * S, gap = 4, H = LV_SHEET_HEADER, L = LV_SHEET_LABEL;
    ck_assert_int_eq(img.width, 4 * C + 5 * gap);
    ck_assert_int_eq(img.height, H + C + L + 2 * gap);
    double sum[2] = { 0, 0 };
    const int tx = TOKEN % (S / P) * P * z, ty = TOKEN / (S / P) * P * z;
    for (int f = 0; f < 2; f++)
        for (int y = 0; y < P * z; y++)
            for (int x = 0; x < P * z; x++) {
                const uint8_t *px = img.rgb + ((H + gap + ty + y) * img.width + gap +
                                               f * (C + gap) + tx + x) * 3;
                sum[f] += (px[0] + px[1] + px[2]) / 3.0;
            }
    const double dark = sum[0] / (P * z * P * z), light = sum[1] / (P * z * P * z);
    ck_assert_msg(light == 255.0 && dark < 0.5 * light, "dropped token mean %.1f, kept %.1f",
                  dark, light);
    const int pad_x = gap + 3 * (C + gap) + 1, mid_y = H + gap + C / 2;
    const uint8_t *border = img.rgb + (mid_y * img.width + pad_x) * 3;
    const uint8_t *plain = img.rgb + (mid_y * img.width + pad_x - (C + gap)) * 3;   /* frame 2 */
    const uint8_t orange[3] = { LV_SHEET_PAD_RGB };
    ck_assert_msg(memcmp(border, orange, 3) == 0, "padding border (%d, %d, %d)", border[0],
                  border[1], border[2]);
    ck_assert_msg(plain[0] == 255 && plain[1] == 255 && plain[2] == 255, "frame 2 has a border");
    for (int f = 0; f < N; f++) {
        const int x0 = gap + f * (C + gap);
        int left, right;
        const int n = marked(&img, x0 - gap / 2, H + gap + C, C + gap, L, &left, &right);
        ck_assert_msg(n > 20 && left > x0 && right < x0 + C - 1, "frame %d: time drawn on "
                      "%d samples in columns %d..%d, the strip is %d..%d", f, n, left, right,
                      x0, x0 + C - 1);
    }
    printf("white frames: a dropped token averages %.1f against 255 kept; the padding frame has "
           "its orange border; times 1:05 .. 1:00:05.5 pad fit their %d-pixel strips\n", dark, C);
    lv_image_free(&img);
    free(frames);
}
END_TEST

Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    struct { const char *name; const TTest *test; int loops; } rows[] = {
        { "png", test_png_roundtrip, 3 }, { "png", test_png_formats_8bit, 1 },
        { "png", test_png_16bit, 1 }, { "jpeg", test_jpeg_read, 4 },
        { "bad_files", test_bad_files, 1 }, { "bad_files", test_write_errors, 1 },
        { "bad_files", test_write_stale_temp, 1 },
        { "preprocess", test_preprocess_constant, 6 }, { "preprocess", test_preprocess_enlarge, 1 },
        { "preprocess", test_preprocess_shrink2x, 1 },
        { "preprocess", test_preprocess_centre_crop, 1 },
        { "preprocess", test_preprocess_reference, 6 }, { "preprocess", test_unpreprocess, 1 },
        { "sheet", test_sheet, 1 }, { "sheet", test_sheet_plain, 1 },
        { "sheet", test_sheet_marks, 1 },
    };
    TCase *tc = NULL;
    const char *current = "";
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (strcmp(current, rows[i].name)) {
            current = rows[i].name;
            tc = tcase_create(current);
            tcase_set_timeout(tc, 20);
            tcase_add_unchecked_fixture(tc, tmp_root_setup, tmp_root_teardown);
            tcase_add_checked_fixture(tc, tmp_dir_setup, NULL);
            suite_add_tcase(s, tc);
        }
        tcase_add_loop_test(tc, rows[i].test, 0, rows[i].loops);
    }
    return s;
}
