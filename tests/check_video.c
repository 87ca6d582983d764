/* Check suite for data/video (reader) and data/video_write (encoder): videos the tests encode
 * themselves, with each frame's number painted into its pixels in big bands that survive lossy
 * codecs, so every sample's source frame is read back exactly. Nothing is downloaded. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "video.h"
#include "video_write.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define W 64                    /* test frames: 10 bands of 8 rows */
#define H 80
#define BITS 10                 /* frame numbers up to 1023 */
#define FRAME_BYTES (3 * W * H)

/* ---- the painted frame number ------------------------------------------------------------- */

/* Band b (from the top) holds bit BITS-1-b of the number: light or dark, white/black on the
 * right half and orange/navy on the left half (so a mirror image reads as garbage). */
static void paint(uint8_t *rgb, int64_t index)
{
    static const uint8_t colour[2][2][3] = { { { 0, 0, 160 }, { 255, 160, 0 } },
                                             { { 0, 0, 0 }, { 255, 255, 255 } } };
    for (int64_t y = 0; y < H; y++) {
        const int bit = (int)(index >> (BITS - 1 - y * BITS / H)) & 1;
        for (int64_t x = 0; x < W; x++)
            memcpy(rgb + 3 * (y * W + x), colour[x >= W / 2][bit], 3);
    }
}

/* The pixel of the painted (unrotated) frame at (x, y), in a frame rotated clockwise by deg. */
static const uint8_t *pixel_at(const uint8_t *rgb, int64_t x, int64_t y, int deg)
{
    int64_t dx = x, dy = y, dw = W;
    if (deg == 90) {
        dx = H - 1 - y;
        dy = x;
        dw = H;
    } else if (deg == 180) {
        dx = W - 1 - x;
        dy = H - 1 - y;
    } else if (deg == 270) {
        dx = y;
        dy = W - 1 - x;
        dw = H;
    }
    return rgb + 3 * (dy * dw + dx);
}

/* Mean of channel c over the middle of one half of one band. */
static double band_mean(const uint8_t *rgb, int band, int right, int c, int deg)
{
    const int64_t bh = H / BITS, y0 = band * bh + bh / 4, x0 = right ? W / 2 : 0;
    double sum = 0.0;
    int64_t n = 0;
    for (int64_t y = y0; y < y0 + bh / 2; y++)
        for (int64_t x = x0 + W / 8; x < x0 + W / 2 - W / 8; x++, n++)
            sum += pixel_at(rgb, x, y, deg)[c];
    return sum / (double)n;
}

/* The painted number, or -1 when the bands are not the pattern. */
static int64_t read_index(const uint8_t *rgb, int deg)
{
    int64_t index = 0;
    for (int b = 0; b < BITS; b++) {
        const double grey = (band_mean(rgb, b, 1, 0, deg) + band_mean(rgb, b, 1, 1, deg) +
                             band_mean(rgb, b, 1, 2, deg)) / 3.0;
        const int bit = grey > 128.0;
        const double red = band_mean(rgb, b, 0, 0, deg), blue = band_mean(rgb, b, 0, 2, deg);
        if (bit ? red < blue + 100.0 : blue < red + 100.0)
            return -1;
        index = 2 * index + bit;
    }
    return index;
}

/* ---- making videos ------------------------------------------------------------------------ */

/* Frames 0..n-1 at a constant rate; NULL codec = mpeg4. */
static void write_video(const char *path, const char *codec, int fps_num, int fps_den,
                        int64_t n, int rotation)
{
    lv_video_writer *w = lv_video_writer_open(path, W, H, fps_num, fps_den, codec);
    ck_assert_msg(w != NULL, "%s", lv_error());
    if (rotation)
        ck_assert_msg(lv_video_writer_set_rotation(w, rotation) == 0, "%s", lv_error());
    uint8_t rgb[FRAME_BYTES];
    for (int64_t i = 0; i < n; i++) {
        paint(rgb, i);
        ck_assert_msg(lv_video_writer_add(w, rgb) == 0, "%s", lv_error());
    }
    ck_assert_msg(lv_video_writer_close(w) == 0, "%s", lv_error());
}

/* Whether this FFmpeg has an encoder: a writer that fails to open says so. */
static int have_encoder(const char *codec)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "probe_encoder.mkv");
    lv_video_writer *w = lv_video_writer_open(path, W, H, 25, 1, codec);
    if (!w) {
        test_skip("%s: no %s encoder in this FFmpeg build (%s); Debian's libavcodec-dev and "
                  "ffmpeg (bash tools/install-deps.sh) have it", codec, codec, lv_error());
        return 0;
    }
    lv_video_writer_close(w);
    return 1;
}

static lv_frames read_ok(const char *path, const lv_sample_spec *spec)
{
    lv_frames f;
    ck_assert_msg(lv_video_read(&f, path, spec) == 0, "%s", lv_error());
    ck_assert_int_eq(f.n, spec->max_frames);
    return f;
}

static lv_sample_spec first_spec(double fps, int64_t n)
{
    lv_sample_spec s = lv_sample_spec_default(n);
    s.fps = fps;
    return s;
}

static lv_sample_spec uniform_spec(int64_t n, double start, double end)
{
    lv_sample_spec s = lv_sample_spec_default(n);
    s.mode = LV_SAMPLE_UNIFORM;
    s.start = start;
    s.end = end;
    return s;
}

/* Every sample's painted number and src_index equal want[k]; src_t equals want[k] * period (or
 * want_t[k]); samples past `valid` repeat the last valid frame byte for byte. */
static void expect_samples(const char *what, const lv_frames *f, const int64_t *want,
                           const double *want_t, double period, int64_t valid, int deg)
{
    const size_t bytes = (size_t)(3 * f->width * f->height);
    ck_assert_int_eq(f->valid, valid);
    printf("  %s: %" PRId64 " samples, %" PRId64 " valid, frames", what, f->n, f->valid);
    for (int64_t k = 0; k < f->n; k++) {
        const int64_t got = read_index(f->rgb + (size_t)k * bytes, deg);
        const double t = want_t ? want_t[k] : (double)want[k] * period;
        printf(" %" PRId64, got);
        ck_assert_msg(got == want[k], "%s: sample %" PRId64 " (t %.3f s) shows frame %" PRId64
                      ", want %" PRId64, what, k, f->t[k], got, want[k]);
        ck_assert_int_eq(f->src_index[k], want[k]);
        ck_assert_msg(fabs(f->src_t[k] - t) < 1e-3, "%s: sample %" PRId64 " src_t %.6f want "
                      "%.6f", what, k, f->src_t[k], t);
        if (k >= valid)
            ck_assert(!memcmp(f->rgb + (size_t)k * bytes, f->rgb + (size_t)(valid - 1) * bytes,
                              bytes));
    }
    printf("\n");
}

/* The last frame i at or before t seconds of a video at fps_num/fps_den, in integers:
 * i * fps_den <= t * fps_num, with t = t_num / t_den. */
static int64_t frame_at(int64_t t_num, int64_t t_den, int64_t fps_num, int64_t fps_den)
{
    return (t_num * fps_num) / (t_den * fps_den);
}

/* ---- sampling rules on constant frame rates ----------------------------------------------- */

START_TEST(test_first_25fps)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "cfr25.mp4");
    write_video(path, "mpeg4", 25, 1, 250, 0);
    lv_sample_spec spec = first_spec(1.0, 8);
    lv_frames f = read_ok(path, &spec);
    int64_t want[8];
    for (int64_t k = 0; k < 8; k++) {
        want[k] = frame_at(k, 1, 25, 1);
        ck_assert(fabs(f.t[k] - (double)k) < 1e-12);
    }
    ck_assert_int_eq(f.width, W);
    ck_assert_int_eq(f.height, H);
    expect_samples("mp4/mpeg4 25 fps, 1 FPS first", &f, want, NULL, 1.0 / 25, 8, 0);
    lv_frames_free(&f);
}
END_TEST

START_TEST(test_first_ntsc)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "ntsc.mp4");
    write_video(path, "mpeg4", 30000, 1001, 240, 0);
    lv_sample_spec spec = first_spec(1.0, 8);
    lv_frames f = read_ok(path, &spec);
    int64_t want[8];
    for (int64_t k = 0; k < 8; k++)
        want[k] = frame_at(k, 1, 30000, 1001);     /* 0 29 59 89 119 149 179 209 */
    expect_samples("mp4/mpeg4 30000/1001 fps, 1 FPS first", &f, want, NULL, 1001.0 / 30000,
                   8, 0);
    lv_frames_free(&f);
}
END_TEST

START_TEST(test_uniform)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "uniform.mp4");
    write_video(path, "mpeg4", 25, 1, 250, 0);
    /* whole 10 s video, 5 samples: centres 1, 3, 5, 7, 9 s */
    lv_sample_spec spec = uniform_spec(5, 0.0, 0.0);
    lv_frames f = read_ok(path, &spec);
    int64_t want[5];
    for (int64_t k = 0; k < 5; k++)
        want[k] = frame_at(10 * (2 * k + 1), 2 * 5, 25, 1);
    expect_samples("uniform over the whole video", &f, want, NULL, 1.0 / 25, 5, 0);
    lv_frames_free(&f);
    /* [2, 6] s, 4 samples: centres 2.5, 3.5, 4.5, 5.5 s */
    spec = uniform_spec(4, 2.0, 6.0);
    f = read_ok(path, &spec);
    for (int64_t k = 0; k < 4; k++) {
        want[k] = frame_at(2 * 2 * 4 + 4 * (2 * k + 1), 2 * 4, 25, 1);
        ck_assert(fabs(f.t[k] - (2.5 + (double)k)) < 1e-12);
    }
    expect_samples("uniform over [2, 6] s", &f, want, NULL, 1.0 / 25, 4, 0);
    lv_frames_free(&f);
}
END_TEST

START_TEST(test_rates)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "rates.mp4");
    write_video(path, "mpeg4", 25, 1, 250, 0);
    lv_sample_spec spec = first_spec(2.0, 10);
    lv_frames f = read_ok(path, &spec);
    int64_t want[10];
    for (int64_t k = 0; k < 10; k++)
        want[k] = frame_at(k, 2, 25, 1);            /* 0 12 25 37 ... */
    expect_samples("fps 2", &f, want, NULL, 1.0 / 25, 10, 0);
    lv_frames_free(&f);
    spec = first_spec(0.5, 5);
    f = read_ok(path, &spec);
    for (int64_t k = 0; k < 5; k++)
        want[k] = frame_at(2 * k, 1, 25, 1);
    expect_samples("fps 0.5", &f, want, NULL, 1.0 / 25, 5, 0);
    lv_frames_free(&f);
    /* first mode inside [start, end): samples at 3.2, 4.2, 5.2; 6.2 is past end = 6 */
    spec = first_spec(1.0, 4);
    spec.start = 3.2;
    spec.end = 6.0;
    f = read_ok(path, &spec);
    for (int64_t k = 0; k < 4; k++)
        want[k] = frame_at(32 + 10 * (k < 3 ? k : 2), 10, 25, 1);
    expect_samples("fps 1 from 3.2 s to 6 s", &f, want, NULL, 1.0 / 25, 3, 0);
    lv_frames_free(&f);
}
END_TEST

START_TEST(test_short_video)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "short.mp4");
    write_video(path, "mpeg4", 25, 1, 75, 0);        /* 3 s */
    lv_sample_spec spec = first_spec(1.0, 8);
    lv_frames f = read_ok(path, &spec);
    const int64_t want[8] = { 0, 25, 50, 50, 50, 50, 50, 50 };
    expect_samples("3 s video, 8 samples", &f, want, NULL, 1.0 / 25, 3, 0);
    for (int64_t k = 0; k < 8; k++)
        ck_assert(fabs(f.t[k] - (double)k) < 1e-12);
    lv_frames_free(&f);
}
END_TEST

/* ---- variable frame rate ------------------------------------------------------------------ */

#define VFR_FRAMES 40

/* Irregular times on a 10 ms grid, from a seeded stream; the last ends at x.30 s so that every
 * sample time is clearly inside or clearly past the video whatever the last frame's length. */
static void vfr_times(int64_t *ms)
{
    lv_rng r = test_rng(41);
    ms[0] = 0;
    for (int i = 1; i < VFR_FRAMES; i++)
        ms[i] = ms[i - 1] + 10 * (1 + (int64_t)lv_rng_below(&r, 60));
    ms[VFR_FRAMES - 1] = 1000 * (ms[VFR_FRAMES - 2] / 1000 + 1) + 300;
}

START_TEST(test_variable_rate)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "vfr.mkv");
    int64_t ms[VFR_FRAMES];
    vfr_times(ms);
    lv_video_writer *w = lv_video_writer_open(path, W, H, 100, 1, "ffv1");
    ck_assert_msg(w != NULL, "%s", lv_error());
    uint8_t rgb[FRAME_BYTES];
    for (int i = 0; i < VFR_FRAMES; i++) {
        paint(rgb, i);
        ck_assert_msg(lv_video_writer_add_at(w, rgb, (double)ms[i] / 1000.0) == 0, "%s",
                      lv_error());
    }
    ck_assert_msg(lv_video_writer_close(w) == 0, "%s", lv_error());
    const int64_t n = ms[VFR_FRAMES - 1] / 1000 + 3;
    lv_sample_spec spec = first_spec(1.0, n);
    lv_frames f = read_ok(path, &spec);
    int64_t want[64], valid = 0;
    double want_t[64];
    for (int64_t k = 0; k < n; k++) {
        int64_t i = 0;
        while (i + 1 < VFR_FRAMES && ms[i + 1] <= 1000 * k)
            i++;
        valid += 1000 * k < ms[VFR_FRAMES - 1] + 10;
        want[k] = k < valid ? i : want[valid - 1];
        want_t[k] = (double)ms[want[k]] / 1000.0;
    }
    printf("  variable rate: %d frames over %.2f s\n", VFR_FRAMES,
           (double)ms[VFR_FRAMES - 1] / 1000.0);
    expect_samples("mkv/ffv1 variable rate, 1 FPS first", &f, want, want_t, 0.0, valid, 0);
    lv_frames_free(&f);
}
END_TEST

/* ---- containers and codecs ---------------------------------------------------------------- */

static const struct { const char *file, *codec; int lossless; } formats[] = {
    { "mpeg4.mp4", "mpeg4", 0 },
    { "mjpeg.avi", "mjpeg", 0 },
    { "ffv1.mkv", "ffv1", 1 },
    { "h264.mp4", "libx264", 0 },
    { "h264.avi", "libx264", 0 },
};

static void expect_lossless(const lv_frames *f)
{
    uint8_t rgb[FRAME_BYTES];
    for (int64_t k = 0; k < f->n; k++) {
        paint(rgb, f->src_index[k]);
        ck_assert_msg(!memcmp(f->rgb + (size_t)k * FRAME_BYTES, rgb, FRAME_BYTES),
                      "lossless sample %" PRId64 " differs from the frame written", k);
    }
    printf("  lossless: all %" PRId64 " samples equal the written frames byte for byte\n", f->n);
}

START_TEST(test_formats)
{
    if (!have_encoder(formats[_i].codec))
        return;
    char path[TEST_PATH_BYTES];
    tmp_path(path, formats[_i].file);
    write_video(path, formats[_i].codec, 25, 1, 100, 0);
    lv_sample_spec spec = first_spec(1.0, 4);
    lv_frames f = read_ok(path, &spec);
    int64_t want[7];
    char what[128];
    for (int64_t k = 0; k < 4; k++)
        want[k] = 25 * k;
    snprintf(what, sizeof what, "%s, 1 FPS first", formats[_i].file);
    expect_samples(what, &f, want, NULL, 1.0 / 25, 4, 0);
    if (formats[_i].lossless)
        expect_lossless(&f);
    lv_frames_free(&f);
    spec = uniform_spec(7, 0.0, 0.0);                /* centres (k + 1/2) 4/7 s */
    f = read_ok(path, &spec);
    for (int64_t k = 0; k < 7; k++)
        want[k] = frame_at(4 * (2 * k + 1), 2 * 7, 25, 1);
    snprintf(what, sizeof what, "%s, uniform 7", formats[_i].file);
    expect_samples(what, &f, want, NULL, 1.0 / 25, 7, 0);
    lv_frames_free(&f);
}
END_TEST

/* Timestamps that start at 1000 s (a cut of a longer recording, ffmpeg -output_ts_offset):
 * Matroska and WebM then store the segment's end time as its duration (ffprobe: start 1000 s,
 * duration 1005 s), and uniform sampling once placed its first sample at 125.6 s "past the end
 * (5.000 s)". Both modes must sample relative to the first frame and see a 5 s video. */
static const struct { const char *file, *codec; } offset_formats[] = {
    { "offset.mkv", "ffv1" },
    { "offset.webm", "libvpx" },
};

START_TEST(test_start_offset)
{
    if (!have_encoder(offset_formats[_i].codec))
        return;
    char path[TEST_PATH_BYTES], what[128];
    tmp_path(path, offset_formats[_i].file);
    lv_video_writer *w = lv_video_writer_open(path, W, H, 25, 1, offset_formats[_i].codec);
    ck_assert_msg(w != NULL, "%s", lv_error());
    uint8_t rgb[FRAME_BYTES];
    for (int64_t i = 0; i < 125; i++) {
        paint(rgb, i);
        ck_assert_msg(lv_video_writer_add_at(w, rgb, 1000.0 + (double)i / 25.0) == 0, "%s",
                      lv_error());
    }
    ck_assert_msg(lv_video_writer_close(w) == 0, "%s", lv_error());
    lv_video_info info;
    ck_assert_msg(lv_video_probe(path, &info) == 0, "%s", lv_error());
    printf("  %s: timestamps from 1000 s, probe duration %.3f s\n", offset_formats[_i].file,
           info.duration);
    ck_assert_msg(fabs(info.duration - 5.0) < 1e-3, "%s: duration %.3f s, want 5 s",
                  offset_formats[_i].file, info.duration);
    lv_sample_spec spec = first_spec(1.0, 7);       /* 0..4 s, then 2 past the end */
    lv_frames f = read_ok(path, &spec);
    int64_t want[7];
    for (int64_t k = 0; k < 7; k++)
        want[k] = 25 * (k < 5 ? k : 4);
    snprintf(what, sizeof what, "%s, 1 FPS first", offset_formats[_i].file);
    expect_samples(what, &f, want, NULL, 1.0 / 25, 5, 0);
    lv_frames_free(&f);
    spec = uniform_spec(5, 0.0, 0.0);                /* centres 0.5, 1.5, ... 4.5 s */
    f = read_ok(path, &spec);
    for (int64_t k = 0; k < 5; k++) {
        want[k] = frame_at(5 * (2 * k + 1), 2 * 5, 25, 1);
        ck_assert(fabs(f.t[k] - (0.5 + (double)k)) < 1e-9);
    }
    snprintf(what, sizeof what, "%s, uniform 5", offset_formats[_i].file);
    expect_samples(what, &f, want, NULL, 1.0 / 25, 5, 0);
    lv_frames_free(&f);
    spec = uniform_spec(4, 1.0, 3.0);                /* centres 1.25, 1.75, 2.25, 2.75 s */
    f = read_ok(path, &spec);
    for (int64_t k = 0; k < 4; k++)
        want[k] = frame_at(8 + 2 * (2 * k + 1), 8, 25, 1);
    snprintf(what, sizeof what, "%s, uniform 4 over [1, 3] s", offset_formats[_i].file);
    expect_samples(what, &f, want, NULL, 1.0 / 25, 4, 0);
    lv_frames_free(&f);
}
END_TEST

START_TEST(test_rotation)
{
    const int deg = 90 * (_i + 1);
    char path[TEST_PATH_BYTES], name[32];
    snprintf(name, sizeof name, "rot%d.mp4", deg);
    tmp_path(path, name);
    write_video(path, "mpeg4", 25, 1, 50, deg);
    lv_video_info info;
    ck_assert_msg(lv_video_probe(path, &info) == 0, "%s", lv_error());
    ck_assert_int_eq(info.rotation, deg);
    lv_sample_spec spec = first_spec(1.0, 2);
    lv_frames f = read_ok(path, &spec);
    const int turn = deg != 180;
    ck_assert_int_eq(f.width, turn ? H : W);
    ck_assert_int_eq(f.height, turn ? W : H);
    ck_assert_int_eq(info.width, f.width);
    ck_assert_int_eq(info.height, f.height);
    ck_assert_int_eq(read_index(f.rgb, 0), -1);     /* unrotated, the bands do not read */
    const int64_t want[2] = { 0, 25 };
    snprintf(name, sizeof name, "rotation %d, output %" PRId64 "x%" PRId64, deg, f.width,
             f.height);
    expect_samples(name, &f, want, NULL, 1.0 / 25, 2, deg);
    lv_frames_free(&f);
}
END_TEST

/* ---- seeking gives the same answer as decoding straight through ---------------------------- */

static void expect_same(const char *what, const lv_frames *a, const lv_frames *b)
{
    ck_assert_int_eq(a->n, b->n);
    ck_assert_int_eq(a->valid, b->valid);
    ck_assert_int_eq(a->width, b->width);
    ck_assert_int_eq(a->height, b->height);
    const size_t bytes = (size_t)(3 * a->n * a->width * a->height);
    ck_assert_msg(!memcmp(a->rgb, b->rgb, bytes), "%s: pixels differ", what);
    for (int64_t k = 0; k < a->n; k++) {
        ck_assert_int_eq(a->src_index[k], b->src_index[k]);
        ck_assert(a->src_t[k] == b->src_t[k] && a->t[k] == b->t[k]);
    }
}

/* Never, always and automatic seeking, and automatic with one decoding thread (the loader's
 * pool decodes that way), give the same samples. */
static void seek_case(const char *path, const char *what, lv_sample_spec spec)
{
    lv_frames runs[4];
    const lv_seek_policy policy[4] = { LV_SEEK_NEVER, LV_SEEK_ALWAYS, LV_SEEK_AUTO,
                                       LV_SEEK_AUTO };
    for (int i = 0; i < 4; i++) {
        spec.seek = policy[i];
        spec.decode_threads = i == 3 ? 1 : 0;
        runs[i] = read_ok(path, &spec);
    }
    expect_same(what, &runs[0], &runs[1]);
    expect_same(what, &runs[0], &runs[2]);
    expect_same(what, &runs[0], &runs[3]);
    ck_assert_int_eq(runs[0].seeks, 0);
    ck_assert_int_gt(runs[1].seeks, 0);
    printf("  %s: never/always/auto/auto-1-thread identical; decoded %" PRId64 "/%" PRId64
           "/%" PRId64 " frames with %" PRId64 "/%" PRId64 "/%" PRId64 " seeks; frames", what,
           runs[0].decoded, runs[1].decoded, runs[2].decoded, runs[0].seeks, runs[1].seeks,
           runs[2].seeks);
    for (int64_t k = 0; k < runs[0].n; k++)
        printf(" %" PRId64, runs[0].src_index[k]);
    printf("\n");
    for (int i = 0; i < 4; i++)
        lv_frames_free(&runs[i]);
}

static int have_ffmpeg(void)
{
    return system("ffmpeg -version > /dev/null 2>&1") == 0;
}

/* Open GOPs (leading pictures that reference the previous GOP) come from the ffmpeg program:
 * our writer has no x264 options. */
static const struct { const char *file, *codec, *x264_params; } seek_formats[] = {
    { "long_mpeg4.mp4", "mpeg4", NULL },
    { "long_mjpeg.avi", "mjpeg", NULL },
    { "long_h264.mp4", "libx264", NULL },
    { "long_h264.avi", "libx264", NULL },
    { "long_open_gop.mp4", "ffv1", "keyint=20:open-gop=1:scenecut=0" },
};

static int write_long_video(int i, const char *path)
{
    if (!seek_formats[i].x264_params) {
        write_video(path, seek_formats[i].codec, 5, 1, 600, 0);
        return 1;
    }
    char lossless[TEST_PATH_BYTES], cmd[3 * TEST_PATH_BYTES];
    tmp_path(lossless, "source.mkv");
    write_video(lossless, "ffv1", 5, 1, 600, 0);
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -nostdin -i '%s' -c:v libx264 -x264-params %s "
             "'%s'", lossless, seek_formats[i].x264_params, path);
    if (!have_ffmpeg() || system(cmd) != 0) {
        test_skip("%s: needs the ffmpeg program with libx264 (apt-get install ffmpeg, or bash "
                  "tools/install-deps.sh)", seek_formats[i].file);
        return 0;
    }
    return 1;
}

START_TEST(test_seek_identical)
{
    if (!have_encoder(seek_formats[_i].codec))
        return;
    char path[TEST_PATH_BYTES];
    tmp_path(path, seek_formats[_i].file);
    if (!write_long_video(_i, path))
        return;
    lv_sample_spec spec = uniform_spec(8, 0.0, 0.0);
    lv_frames f = read_ok(path, &spec);
    int64_t want[8];
    for (int64_t k = 0; k < 8; k++)
        want[k] = frame_at(120 * (2 * k + 1), 2 * 8, 5, 1);
    printf("  %s:\n", seek_formats[_i].file);
    expect_samples("120 s at 5 fps, uniform 8", &f, want, NULL, 0.2, 8, 0);
    lv_frames_free(&f);
    seek_case(path, "uniform 8", spec);
    spec = first_spec(0.1, 14);                                     /* 0, 10, ... 130 s */
    seek_case(path, "fps 0.1, 14 samples (2 past the end)", spec);
    spec = first_spec(0.3, 40);
    seek_case(path, "fps 0.3, 40 samples", spec);
    spec = first_spec(1.0, 20);
    spec.start = 50.1;
    seek_case(path, "fps 1 from 50.1 s", spec);
}
END_TEST

/* ---- cross-check against the ffmpeg program ----------------------------------------------- */

/* ffmpeg's fps filter with round=up puts frame p in output slot ceil(p * fps), so slot k holds
 * the last frame with p <= k: the same rule as ours (the default round=near would take the last
 * frame before k + 1/2 s instead). The RGB conversion is the same swscale call (bicubic flags,
 * the frame's colour matrix and range) and ffmpeg applies the rotation itself, so the pixels
 * are expected to match exactly: tolerance 0. Not cross-checked: H.264 in AVI, where ffmpeg's
 * frame times lag by the reorder delay (see video.h). */
static int64_t ffmpeg_frames(const char *path, int64_t n, int64_t w, int64_t h, uint8_t *rgb)
{
    char cmd[TEST_PATH_BYTES + 160];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -vf fps=1:round=up -frames:v %" PRId64
             " -f rawvideo -pix_fmt rgb24 -", path, n);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    const size_t got = fread(rgb, 1, (size_t)(n * w * h * 3), p);
    ck_assert_int_eq(pclose(p), 0);
    return (int64_t)(got / (size_t)(w * h * 3));
}

static const struct { const char *file, *codec; int num, den, rotation; } cross_files[] = {
    { "x_mpeg4.mp4", "mpeg4", 25, 1, 0 },
    { "x_ntsc.mp4", "mpeg4", 30000, 1001, 0 },
    { "x_rot90.mp4", "mpeg4", 25, 1, 90 },
    { "x_mjpeg.avi", "mjpeg", 25, 1, 0 },
    { "x_h264.mp4", "libx264", 25, 1, 0 },
};

START_TEST(test_ffmpeg_program)
{
    if (!have_ffmpeg()) {
        test_skip("%s: the ffmpeg program is not installed, no cross-check (apt-get install "
                  "ffmpeg, or bash tools/install-deps.sh)", cross_files[_i].file);
        return;
    }
    if (!have_encoder(cross_files[_i].codec))
        return;
    char path[TEST_PATH_BYTES];
    tmp_path(path, cross_files[_i].file);
    write_video(path, cross_files[_i].codec, cross_files[_i].num, cross_files[_i].den, 200,
                cross_files[_i].rotation);
    lv_sample_spec spec = first_spec(1.0, 6);
    lv_frames f = read_ok(path, &spec);
    uint8_t *theirs = malloc((size_t)(f.n * f.width * f.height * 3));
    ck_assert_ptr_nonnull(theirs);
    const int64_t got = ffmpeg_frames(path, f.n, f.width, f.height, theirs);
    ck_assert_int_eq(got, f.n);
    int worst = 0;
    for (int64_t i = 0; i < got * f.width * f.height * 3; i++)
        worst = abs((int)theirs[i] - (int)f.rgb[i]) > worst ? abs((int)theirs[i] - f.rgb[i])
                                                            : worst;
    printf("  %s vs ffmpeg -vf fps=1:round=up: %" PRId64 " frames, max |diff| %d (tolerance 0)"
           "\n", cross_files[_i].file, got, worst);
    ck_assert_int_eq(worst, 0);
    free(theirs);
    lv_frames_free(&f);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    *n = (size_t)st.st_size;
    uint8_t *buf = malloc(*n);
    FILE *fp = fopen(path, "rb");
    ck_assert(buf && fp);
    ck_assert_uint_eq(fread(buf, 1, *n, fp), *n);
    fclose(fp);
    return buf;
}

/* One second of a 440 Hz tone as a 16-bit mono WAV file: audio, no video. */
static void write_wav(const char *path)
{
    enum { RATE = 8000, SAMPLES = 8000 };
    uint8_t buf[44 + 2 * SAMPLES];
    const uint32_t data = 2 * SAMPLES;
    const uint32_t fields[] = { 36 + data, 16, 1 | (1u << 16), RATE, 2 * RATE, 2 | (16u << 16),
                                data };
    memcpy(buf, "RIFF", 4);
    memcpy(buf + 8, "WAVEfmt ", 8);
    memcpy(buf + 36, "data", 4);
    const int at[] = { 4, 16, 20, 24, 28, 32, 40 };
    for (int f = 0; f < 7; f++)
        for (int b = 0; b < 4; b++)
            buf[at[f] + b] = (uint8_t)(fields[f] >> (8 * b));
    for (int i = 0; i < SAMPLES; i++) {
        const int16_t v = (int16_t)(8000.0 * sin(2.0 * M_PI * 440.0 * i / RATE));
        buf[44 + 2 * i] = (uint8_t)(v & 0xff);
        buf[45 + 2 * i] = (uint8_t)((uint16_t)v >> 8);
    }
    write_bytes(path, buf, sizeof buf);
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An avi whose frame chunks ("00dc" in the "movi" list) are all zeros: a video stream with
 * dimensions in its header and packets that never decode. */
static void write_undecodable(const char *path)
{
    write_video(path, "mjpeg", 25, 1, 25, 0);
    size_t n;
    uint8_t *b = read_bytes(path, &n);
    const uint8_t *movi = memmem(b, n, "movi", 4);
    ck_assert_ptr_nonnull(movi);
    int chunks = 0;
    for (size_t at = (size_t)(movi - b) + 4; at + 8 <= n && memcmp(b + at, "idx1", 4);) {
        const size_t size = le32(b + at + 4);
        ck_assert(at + 8 + size <= n);
        if (!memcmp(b + at, "00dc", 4)) {
            memset(b + at + 8, 0, size);
            chunks++;
        }
        at += 8 + size + (size & 1);
    }
    ck_assert_int_eq(chunks, 25);
    write_bytes(path, b, n);
    free(b);
}

/* An mpeg4 avi relabelled as AVS2, a codec FFmpeg knows but has no decoder for. */
static void write_no_decoder(const char *path)
{
    write_video(path, "mpeg4", 25, 1, 10, 0);
    size_t n;
    uint8_t *b = read_bytes(path, &n);
    int hits = 0;
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(b + i, "FMP4", 4)) {
            memcpy(b + i, "AVS2", 4);
            hits++;
        }
    ck_assert_int_gt(hits, 0);
    write_bytes(path, b, n);
    free(b);
}

static void write_truncated(const char *path, int thirds, off_t bytes)
{
    write_video(path, "mpeg4", 25, 1, 100, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, bytes ? bytes : st.st_size * thirds / 3), 0);
}

typedef struct {
    const char *what, *file, *needle;
    int64_t max_frames;
    double fps;
    int64_t max_side;
    int decode_threads;
} bad_case;

static const bad_case bad_cases[] = {
    { "missing file", "missing.mp4", "no such file", 4, 1.0, 0, 0 },
    { "text file", "notes.mp4", "not a video file", 4, 1.0, 0, 0 },
    { "mp4 cut to 1/3", "third.mp4", "damaged or truncated", 4, 1.0, 0, 0 },
    { "mp4 cut to 200 bytes", "tiny.mp4", "damaged or truncated", 4, 1.0, 0, 0 },
    { "audio only", "tone.wav", "no video stream", 4, 1.0, 0, 0 },
    { "no decodable frame", "broken.avi", "no frame of the video stream could be decoded", 4,
      1.0, 0, 0 },
    { "no decoder", "avs2.avi", "no decoder for the avs2 codec", 4, 1.0, 0, 0 },
    { "absurd dimensions", "big.mp4", "exceeds the limit of 32 pixels", 4, 1.0, 32, 0 },
    { "N = 0", "n0.mp4", "max_frames is 0", 0, 1.0, 0, 0 },
    { "fps = 0", "fps0.mp4", "fps is 0", 4, 0.0, 0, 0 },
    { "fps < 0", "fpsneg.mp4", "fps is -1", 4, -1.0, 0, 0 },
    { "decode threads < 0", "threadsneg.mp4", "decode_threads is -1", 4, 1.0, 0, -1 },
    { "decode threads > 16", "threads17.mp4", "decode_threads is 17", 4, 1.0, 0, 17 },
};

static void make_bad(int i, const char *path)
{
    static const char text[] = "this is a note, not a video\n";
    switch (i) {
    case 0: break;
    case 1: write_bytes(path, text, sizeof text - 1); break;
    case 2: write_truncated(path, 1, 0); break;
    case 3: write_truncated(path, 0, 200); break;
    case 4: write_wav(path); break;
    case 5: write_undecodable(path); break;
    case 6: write_no_decoder(path); break;
    default: write_video(path, "mpeg4", 25, 1, 5, 0); break;
    }
}

START_TEST(test_bad_input)
{
    const bad_case *c = &bad_cases[_i];
    char path[TEST_PATH_BYTES];
    tmp_path(path, c->file);
    make_bad(_i, path);
    lv_sample_spec spec = first_spec(c->fps, c->max_frames);
    spec.max_side = c->max_side;
    spec.decode_threads = c->decode_threads;
    lv_frames f;
    ck_assert_int_eq(lv_video_read(&f, path, &spec), -1);
    printf("  %s: %s\n", c->what, lv_error());
    ck_assert_msg(strstr(lv_error(), path) != NULL, "the message does not name %s", path);
    ck_assert_msg(strstr(lv_error(), c->needle) != NULL, "want '%s'", c->needle);
    ck_assert(f.rgb == NULL && f.t == NULL && f.n == 0);
}
END_TEST

/* A streamable container cut short: what is there decodes, the tail only lowers `valid`. */
START_TEST(test_truncated_tail)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "cut.mkv");
    write_video(path, "mpeg4", 25, 1, 250, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size / 3), 0);
    lv_sample_spec spec = first_spec(1.0, 8);
    lv_frames f = read_ok(path, &spec);
    ck_assert(f.valid >= 2 && f.valid < 8);
    int64_t want[8];
    for (int64_t k = 0; k < 8; k++)
        want[k] = 25 * (k < f.valid ? k : f.valid - 1);
    expect_samples("mkv cut to 1/3 of 10 s", &f, want, NULL, 1.0 / 25, f.valid, 0);
    lv_frames_free(&f);
}
END_TEST

/* ---- probe and writer --------------------------------------------------------------------- */

START_TEST(test_probe)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "probe.mp4");
    write_video(path, "mpeg4", 25, 1, 250, 0);
    lv_video_info info;
    ck_assert_msg(lv_video_probe(path, &info) == 0, "%s", lv_error());
    printf("  probe: %.3f s, %.3f fps, %" PRId64 "x%" PRId64 ", rotation %d, %s, %" PRId64
           " frames\n", info.duration, info.avg_fps, info.width, info.height, info.rotation,
           info.codec, info.n_frames_hint);
    ck_assert(fabs(info.duration - 10.0) < 1e-6 && fabs(info.avg_fps - 25.0) < 1e-6);
    ck_assert(info.width == W && info.height == H && info.rotation == 0);
    ck_assert_str_eq(info.codec, "mpeg4");
    ck_assert_int_eq(info.n_frames_hint, 250);
    tmp_path(path, "none.mp4");
    ck_assert_int_eq(lv_video_probe(path, &info), -1);
    ck_assert(strstr(lv_error(), "no such file") != NULL);
}
END_TEST

static int count_entries(void)
{
    char cmd[TEST_PATH_BYTES + 32];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", test_dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    ck_assert(p && fscanf(p, "%d", &n) == 1);
    pclose(p);
    return n;
}

START_TEST(test_writer_errors)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "w.mp4");
    ck_assert_ptr_null(lv_video_writer_open(path, W, H, 25, 1, "no_such_codec"));
    printf("  unknown codec: %s\n", lv_error());
    ck_assert(strstr(lv_error(), "no video encoder 'no_such_codec'") != NULL);
    tmp_path(path, "w.unknownext");
    ck_assert_ptr_null(lv_video_writer_open(path, W, H, 25, 1, NULL));
    ck_assert(strstr(lv_error(), "cannot tell a single-file video container") != NULL);
    tmp_path(path, "w.mp4");
    ck_assert_ptr_null(lv_video_writer_open(path, 0, H, 25, 1, NULL));
    ck_assert_ptr_null(lv_video_writer_open(path, W, H, 0, 1, NULL));
    lv_video_writer *w = lv_video_writer_open(path, W, H, 25, 1, NULL);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(lv_video_writer_close(w), -1);
    printf("  no frames: %s\n", lv_error());
    ck_assert_int_eq(count_entries(), 0);
    w = lv_video_writer_open(path, W, H, 25, 1, NULL);
    uint8_t rgb[FRAME_BYTES];
    paint(rgb, 1);
    ck_assert_int_eq(lv_video_writer_add_at(w, rgb, 1.0), 0);
    ck_assert_int_eq(lv_video_writer_add_at(w, rgb, 0.5), -1);
    printf("  time going back: %s\n", lv_error());
    ck_assert_int_eq(lv_video_writer_set_rotation(w, 90), -1);
    ck_assert_int_eq(lv_video_writer_close(w), 0);
    ck_assert_int_eq(count_entries(), 1);            /* the video, no temporary file */
}
END_TEST

Suite *video_suite(void)
{
    lv_video_quiet(1);
    Suite *s = suite_create("video");
    struct { const char *name; const TTest *test; int loops; } rows[] = {
        { "rules", test_first_25fps, 1 },
        { "rules", test_first_ntsc, 1 },
        { "rules", test_uniform, 1 },
        { "rules", test_rates, 1 },
        { "rules", test_short_video, 1 },
        { "rules", test_variable_rate, 1 },
        { "formats", test_formats, (int)(sizeof formats / sizeof formats[0]) },
        { "formats", test_rotation, 3 },
        { "formats", test_start_offset,
          (int)(sizeof offset_formats / sizeof offset_formats[0]) },
        { "seek", test_seek_identical, (int)(sizeof seek_formats / sizeof seek_formats[0]) },
        { "ffmpeg", test_ffmpeg_program, (int)(sizeof cross_files / sizeof cross_files[0]) },
        { "bad_input", test_bad_input, (int)(sizeof bad_cases / sizeof bad_cases[0]) },
        { "bad_input", test_truncated_tail, 1 },
        { "io", test_probe, 1 },
        { "io", test_writer_errors, 1 },
    };
    TCase *tc = NULL;
    const char *current = "";
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (strcmp(current, rows[i].name)) {
            current = rows[i].name;
            tc = tcase_create(rows[i].name);
            tcase_set_timeout(tc, 120);
            tcase_add_unchecked_fixture(tc, tmp_root_setup, tmp_root_teardown);
            tcase_add_checked_fixture(tc, tmp_dir_setup, NULL);
            suite_add_tcase(s, tc);
        }
        tcase_add_loop_test(tc, rows[i].test, 0, rows[i].loops);
    }
    return s;
}
