/* bench_video: frames/s of our reader against the ffmpeg program doing the same 1 FPS sampling
 * of a 5-minute 640x360 H.264 30 fps video, both timed in this run, plus a check that the two
 * give the same frames. A program run on demand, never a timed test. */
#include "error.h"
#include "video.h"
#include "video_write.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_W 640
#define BENCH_H 360
#define BENCH_FPS 30
#define BENCH_SECONDS 300
#define BENCH_SAMPLES 300
#define BENCH_REPEATS 3

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A moving scene with some texture, so the encoder spends bits the way it does on real video:
 * a drifting gradient, three moving boxes and a slowly changing block pattern. */
static void paint_scene(uint8_t *rgb, int64_t i)
{
    for (int64_t y = 0; y < BENCH_H; y++) {
        for (int64_t x = 0; x < BENCH_W; x++) {
            uint8_t *p = rgb + 3 * (y * BENCH_W + x);
            const uint32_t block = (uint32_t)((x / 16) * 7919 + (y / 16) * 104729 + i / 45);
            const uint8_t tex = (uint8_t)((block * 2654435761u) >> 27);
            p[0] = (uint8_t)(x + 2 * i + tex);
            p[1] = (uint8_t)(y + i + tex);
            p[2] = (uint8_t)(x + y - i);
        }
    }
    for (int b = 0; b < 3; b++) {
        const int64_t bx = (i * (3 + 2 * b) + 150 * b) % (BENCH_W - 80);
        const int64_t by = (i * (2 + b) + 90 * b) % (BENCH_H - 80);
        for (int64_t y = by; y < by + 80; y++)
            for (int64_t x = bx; x < bx + 80; x++)
                memset(rgb + 3 * (y * BENCH_W + x), 60 + 80 * b, 3);
    }
}

static int make_video(const char *path)
{
    printf("writing %s: %d s of %dx%d at %d fps with libx264 ...\n", path, BENCH_SECONDS,
           BENCH_W, BENCH_H, BENCH_FPS);
    fflush(stdout);
    lv_video_writer *w = lv_video_writer_open(path, BENCH_W, BENCH_H, BENCH_FPS, 1, "libx264");
    uint8_t *rgb = malloc(3 * BENCH_W * BENCH_H);
    int rc = w && rgb ? 0 : -1;
    const double t0 = now();
    for (int64_t i = 0; rc == 0 && i < (int64_t)BENCH_SECONDS * BENCH_FPS; i++) {
        paint_scene(rgb, i);
        rc = lv_video_writer_add(w, rgb);
    }
    if (w && lv_video_writer_close(w) != 0)
        rc = -1;
    free(rgb);
    if (rc == 0)
        printf("written in %.1f s\n", now() - t0);
    return rc;
}

static const char *ffmpeg_args = "-vf fps=1:round=up -frames:v 300 -f rawvideo -pix_fmt rgb24";

/* The ffmpeg program's time for the same sampling, written to /dev/null. */
static double time_ffmpeg(const char *path)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -nostdin -i '%s' %s -y /dev/null", path,
             ffmpeg_args);
    const double t0 = now();
    FILE *p = popen(cmd, "r");
    if (!p || pclose(p) != 0)
        return -1.0;
    return now() - t0;
}

static double time_ours(const char *path, lv_frames *keep)
{
    lv_sample_spec spec = lv_sample_spec_default(BENCH_SAMPLES);
    lv_frames f;
    const double t0 = now();
    if (lv_video_read(&f, path, &spec) != 0)
        return -1.0;
    const double t = now() - t0;
    lv_frames_free(keep);
    *keep = f;
    return t;
}

/* Frames from the ffmpeg program through a pipe, compared with ours. */
static int compare_with_ffmpeg(const char *path, const lv_frames *f)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -nostdin -i '%s' %s -", path, ffmpeg_args);
    const size_t bytes = (size_t)(3 * f->width * f->height);
    uint8_t *frame = malloc(bytes);
    FILE *p = popen(cmd, "r");
    if (!frame || !p) {
        free(frame);
        return -1;
    }
    int64_t got = 0, same = 0;
    int worst = 0;
    for (; got < f->n && fread(frame, 1, bytes, p) == bytes; got++) {
        const uint8_t *ours = f->rgb + (size_t)got * bytes;
        same += !memcmp(frame, ours, bytes);
        for (size_t i = 0; i < bytes; i++)
            worst = abs(frame[i] - ours[i]) > worst ? abs(frame[i] - ours[i]) : worst;
    }
    pclose(p);
    free(frame);
    printf("frames agree: %" PRId64 " of %" PRId64 " identical (ffmpeg gave %" PRId64
           "), max |diff| %d\n", same, f->n, got, worst);
    return got == f->n && same == f->n ? 0 : -1;
}

static double best(const double *t, int n)
{
    double b = t[0];
    for (int i = 1; i < n; i++)
        b = t[i] < b ? t[i] : b;
    return b;
}

static void print_fatal(const char *message)       /* LV_REQUIRE's message, then abort */
{
    fprintf(stderr, "%s\n", message);
}

int main(int argc, char **argv)
{
    lv_set_fatal_hook(print_fatal);
    const char *path = argc > 1 ? argv[1] : "build/bench_video.mp4";
    if (argc > 2 || (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fprintf(stderr, "usage: bench_video [VIDEO]   (default build/bench_video.mp4, made "
                "when missing)\n");
        return 2;
    }
    lv_video_quiet(1);
    if (access(path, R_OK) != 0 && make_video(path) != 0) {
        fprintf(stderr, "bench_video: %s\n", lv_error());
        return 1;
    }
    if (system("ffmpeg -version > /dev/null 2>&1") != 0) {
        fprintf(stderr, "bench_video: the ffmpeg program is not installed; nothing to compare\n");
        return 1;
    }
    lv_frames f = { 0 };
    double ours[BENCH_REPEATS], theirs[BENCH_REPEATS];
    for (int r = 0; r < BENCH_REPEATS; r++) {
        ours[r] = time_ours(path, &f);
        theirs[r] = time_ffmpeg(path);
        if (ours[r] < 0 || theirs[r] < 0) {
            fprintf(stderr, "bench_video: %s\n", ours[r] < 0 ? lv_error() : "ffmpeg failed");
            lv_frames_free(&f);
            return 1;
        }
        printf("run %d: ours %.3f s, ffmpeg %.3f s\n", r + 1, ours[r], theirs[r]);
    }
    const double a = best(ours, BENCH_REPEATS), b = best(theirs, BENCH_REPEATS);
    printf("%s: 1 FPS, first %d samples, %" PRId64 "x%" PRId64 "; decoded %" PRId64
           " frames, %" PRId64 " seeks\n", path, BENCH_SAMPLES, f.width, f.height, f.decoded,
           f.seeks);
    printf("ours:   %8.1f frames/s (best of %d: %.3f s)\n", BENCH_SAMPLES / a, BENCH_REPEATS, a);
    printf("ffmpeg: %8.1f frames/s (best of %d: %.3f s, ffmpeg %s)\n", BENCH_SAMPLES / b,
           BENCH_REPEATS, b, ffmpeg_args);
    printf("ratio ours/ffmpeg: %.2fx\n", b / a);
    const int rc = compare_with_ffmpeg(path, &f);
    lv_frames_free(&f);
    return rc == 0 ? 0 : 1;
}
