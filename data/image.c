/* Still images to and from RGB24 (see image.h): PNG with libpng's png_image API, JPEG with the
 * mjpeg decoder of libavcodec plus swscale. No setjmp, no libjpeg, no guessing by extension;
 * every failure names the file and leaves nothing allocated. */
#include "image.h"

#include "error.h"
#include "safetensors.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LV_JPEG_MAX_BYTES ((int64_t)512 << 20)     /* one still picture, read whole */

static const uint8_t png_signature[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };

/* channels 4 leaves room for an alpha channel that drop_alpha then squeezes out in place */
static int image_alloc(lv_image *out, int64_t width, int64_t height, int64_t channels)
{
    out->rgb = lv_malloc((size_t)(width * height * channels), "an RGB image");
    if (!out->rgb)
        return -1;
    out->width = width;
    out->height = height;
    return 0;
}

void lv_image_free(lv_image *img)
{
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

static int too_large(const char *path, const char *kind, int64_t width, int64_t height)
{
    return lv_set_error("%s: %s of %lld x %lld pixels exceeds the %d-pixel side limit (an absurd "
                        "header, or a picture to downscale before use)", path, kind,
                        (long long)width, (long long)height, LV_IMAGE_MAX_SIDE);
}

/* ---- PNG ------------------------------------------------------------------------------------ */

static void drop_alpha(uint8_t *rgba, int64_t pixels)
{
    for (int64_t i = 0; i < pixels; i++)
        memmove(rgba + 3 * i, rgba + 4 * i, 3);
}

static int png_read(lv_image *out, const char *path)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&png, path))
        return lv_set_error("%s: not a readable PNG (libpng: %s); re-export the picture", path,
                            png.message);
    if (png.width > LV_IMAGE_MAX_SIDE || png.height > LV_IMAGE_MAX_SIDE) {
        png_image_free(&png);
        return too_large(path, "PNG", png.width, png.height);
    }
    const int alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    png.format = alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    png.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    if (image_alloc(out, png.width, png.height, alpha ? 4 : 3) < 0) {
        png_image_free(&png);
        return -1;
    }
    if (!png_image_finish_read(&png, NULL, out->rgb, 0, NULL)) {
        lv_image_free(out);
        return lv_set_error("%s: truncated or corrupt PNG (libpng: %s); fetch or re-export the "
                            "file", path, png.message);
    }
    if (alpha)
        drop_alpha(out->rgb, out->width * out->height);
    return 0;
}

int lv_image_write_png(const char *path, const uint8_t *rgb, int64_t width, int64_t height)
{
    if (width < 1 || height < 1 || width > LV_IMAGE_MAX_SIDE || height > LV_IMAGE_MAX_SIDE)
        return lv_set_error("%s: cannot write a %lld x %lld PNG: each side must be 1..%d", path,
                            (long long)width, (long long)height, LV_IMAGE_MAX_SIDE);
    const size_t tmp_size = strlen(path) + 32;
    char *tmp = lv_malloc(tmp_size, "a temporary file name");
    if (!tmp)
        return -1;
    FILE *fp = lv_file_temp_create(path, tmp, tmp_size);
    if (!fp) {
        const int e = errno;
        free(tmp);
        return lv_set_error("%s: cannot create a temporary file beside it: %s; check that the "
                            "folder exists and is writable", path, strerror(e));
    }
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)width;
    png.height = (png_uint_32)height;
    png.format = PNG_FORMAT_RGB;
    int rc = 0;
    const int written = png_image_write_to_stdio(&png, fp, 0, rgb, (png_int_32)(width * 3), NULL);
    const int closed = fclose(fp) == 0;
    if (!written || !closed)
        rc = lv_set_error("%s: cannot write the PNG (%s while writing %s)%s", path,
                          written ? strerror(errno) : png.message, tmp,
                          written ? "" : "; check that the disk has room");
    else if (rename(tmp, path) != 0)
        rc = lv_set_error("%s: cannot rename the temporary file %s over it: %s; an existing %s "
                          "is unchanged", path, tmp, strerror(errno), path);
    if (rc)
        remove(tmp);
    free(tmp);
    return rc;
}

/* ---- JPEG ----------------------------------------------------------------------------------- */

static int is_sof(int marker)
{
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

/* After an SOS header: entropy-coded bytes up to the next marker (FF then neither a 00 stuffing
 * byte nor a restart marker D0..D7). Returns the marker's offset, or n if the data runs out. */
static int64_t jpeg_skip_scan(const uint8_t *b, int64_t n, int64_t i)
{
    for (; i + 1 < n; i++)
        if (b[i] == 0xFF && b[i + 1] != 0 && (b[i + 1] < 0xD0 || b[i + 1] > 0xD7))
            return i;
    return n;
}

/* Walks the marker segments to the EOI, reading the frame size from the SOF segment. The mjpeg
 * decoder conceals a cut-off file ("EOI missing, emulating"); this walk refuses it instead. */
static int jpeg_scan(const uint8_t *b, int64_t n, int64_t *width, int64_t *height,
                     const char *path)
{
    *width = *height = 0;
    int64_t i = 2;
    while (i + 1 < n) {
        const int m = b[i + 1];
        if (b[i] != 0xFF)
            return lv_set_error("%s: corrupt JPEG (no marker at byte %lld); fetch or re-encode "
                                "the file", path, (long long)i);
        if (m == 0xD9)
            return *width > 0 && *height > 0 ? 0 :
                   lv_set_error("%s: JPEG without a frame size (no SOF segment); re-encode it",
                                path);
        if (m == 0xFF || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            i += m == 0xFF ? 1 : 2;
            continue;
        }
        const int64_t len = i + 4 <= n ? (int64_t)b[i + 2] << 8 | b[i + 3] : 0;
        if (len < 2 || i + 2 + len > n)
            break;
        if (is_sof(m) && len >= 7) {
            *height = (int64_t)b[i + 5] << 8 | b[i + 6];
            *width = (int64_t)b[i + 7] << 8 | b[i + 8];
        }
        i += 2 + len;
        if (m == 0xDA)
            i = jpeg_skip_scan(b, n, i);
    }
    return lv_set_error("%s: truncated JPEG (no end-of-image marker in its %lld bytes); the file "
                        "was cut short: fetch or re-encode it", path, (long long)n);
}

/* The whole file, followed by the zeroed padding libavcodec's bitstream readers require. */
static int read_file(const char *path, uint8_t **data, int64_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return lv_set_error("%s: cannot open the image: %s", path, strerror(errno));
    int rc = -1;
    *data = NULL;
    if (fseek(fp, 0, SEEK_END) != 0 || (*size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
        lv_set_error("%s: cannot find the file's size: %s", path, strerror(errno));
    else if (*size > LV_JPEG_MAX_BYTES)
        lv_set_error("%s: a %lld-byte JPEG is too large for a still picture (limit %lld)", path,
                     (long long)*size, (long long)LV_JPEG_MAX_BYTES);
    else if (!(*data = av_malloc((size_t)*size + AV_INPUT_BUFFER_PADDING_SIZE)))
        lv_set_error("out of memory reading %s (%lld bytes)", path, (long long)*size);
    else if (fread(*data, 1, (size_t)*size, fp) != (size_t)*size)
        lv_set_error("%s: cannot read the file: %s", path,
                     ferror(fp) ? strerror(errno) : "it shrank while being read");
    else
        rc = 0;
    fclose(fp);
    if (rc == 0)
        memset(*data + *size, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    else
        av_freep(data);
    return rc;
}

/* One packet in, the end of stream, one frame out. */
static int jpeg_decode(AVFrame *frame, uint8_t *data, int64_t size, const char *path)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
    if (!codec)
        return lv_set_error("%s: this FFmpeg build has no mjpeg decoder; install a full libavcodec"
                            " or convert the picture to PNG", path);
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    AVPacket *pkt = av_packet_alloc();
    int rc = -1, err = AVERROR(ENOMEM);
    if (!ctx || !pkt)
        goto end;
    pkt->data = data;
    pkt->size = (int)size;
    if ((err = avcodec_open2(ctx, codec, NULL)) < 0 || (err = avcodec_send_packet(ctx, pkt)) < 0
        || (err = avcodec_send_packet(ctx, NULL)) < 0
        || (err = avcodec_receive_frame(ctx, frame)) < 0)
        goto end;
    rc = 0;
end:
    if (rc)
        lv_set_error("%s: corrupt JPEG (libavcodec mjpeg: %s); fetch or re-encode the file", path,
                     av_err2str(err));
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
    return rc;
}

/* The deprecated full-range "J" formats as their plain twins plus an explicit full range. */
static enum AVPixelFormat plain_format(enum AVPixelFormat fmt, int *full_range)
{
    static const enum AVPixelFormat twins[][2] = {
        { AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV420P }, { AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUV422P },
        { AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUV444P }, { AV_PIX_FMT_YUVJ440P, AV_PIX_FMT_YUV440P },
        { AV_PIX_FMT_YUVJ411P, AV_PIX_FMT_YUV411P },
    };
    for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++)
        if (fmt == twins[i][0]) {
            *full_range = 1;
            return twins[i][1];
        }
    return fmt;
}

static int frame_to_rgb(lv_image *out, const AVFrame *f, const char *path)
{
    int full = f->color_range == AVCOL_RANGE_JPEG;
    const enum AVPixelFormat fmt = plain_format((enum AVPixelFormat)f->format, &full);
    struct SwsContext *sws = sws_getContext(f->width, f->height, fmt, f->width, f->height,
                                            AV_PIX_FMT_RGB24, SWS_BILINEAR | SWS_ACCURATE_RND |
                                            SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP,
                                            NULL, NULL, NULL);
    if (!sws)
        return lv_set_error("%s: swscale cannot convert the JPEG's %s pixels to RGB", path,
                            av_get_pix_fmt_name(fmt));
    const int *bt601 = sws_getCoefficients(SWS_CS_ITU601);
    sws_setColorspaceDetails(sws, bt601, full, bt601, 1, 0, 1 << 16, 1 << 16);
    int rc = image_alloc(out, f->width, f->height, 3);
    if (rc == 0) {
        uint8_t *dst[4] = { out->rgb, NULL, NULL, NULL };
        const int stride[4] = { f->width * 3, 0, 0, 0 };
        sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, stride);
    }
    sws_freeContext(sws);
    return rc;
}

static int jpeg_read(lv_image *out, const char *path)
{
    uint8_t *data;
    int64_t size = 0, width, height;
    AVFrame *frame = NULL;
    int rc = -1;
    if (read_file(path, &data, &size) < 0)
        return -1;
    if (jpeg_scan(data, size, &width, &height, path) < 0)
        goto end;
    if (width > LV_IMAGE_MAX_SIDE || height > LV_IMAGE_MAX_SIDE) {
        too_large(path, "JPEG", width, height);
        goto end;
    }
    if (!(frame = av_frame_alloc())) {
        lv_set_error("out of memory decoding %s", path);
        goto end;
    }
    if (jpeg_decode(frame, data, size, path) == 0 && frame_to_rgb(out, frame, path) == 0)
        rc = 0;
end:
    av_frame_free(&frame);
    av_free(data);
    return rc;
}

/* ---- either --------------------------------------------------------------------------------- */

int lv_image_read(lv_image *out, const char *path)
{
    memset(out, 0, sizeof *out);
    uint8_t magic[8] = { 0 };
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return lv_set_error("%s: cannot open the image: %s; check the path", path,
                            strerror(errno));
    const size_t n = fread(magic, 1, sizeof magic, fp);
    const int failed = ferror(fp);
    fclose(fp);
    if (failed)
        return lv_set_error("%s: cannot read the image (is it a folder?)", path);
    if (n == sizeof magic && !memcmp(magic, png_signature, sizeof magic))
        return png_read(out, path);
    if (n >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF)
        return jpeg_read(out, path);
    return lv_set_error("%s: not a PNG or JPEG file (%zu-byte signature %02x %02x %02x %02x ...);"
                        " convert the picture to PNG", path, n, magic[0], magic[1], magic[2],
                        magic[3]);
}
