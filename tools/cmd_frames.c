/* `longvivit frames`: decodes a video the way training does (fixed-rate sampling, resize, crop)
 * and writes a contact sheet, so a person can see what the model sees; with --mask, the tokens
 * that masking would drop are darkened, hatched and outlined, padding frames tagged "pad". */
#include "commands.h"
#include "error.h"
#include "mask.h"
#include "options.h"
#include "model_io.h"
#include "preprocess.h"
#include "sheet.h"
#include "video.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit frames VIDEO --png OUT.png [--fps R] [--max-frames F]\n"
            "           [--mode first|uniform] [--start S] [--end E] [--size S]\n"
            "           [--mask RATIO] [--mask-kind random|tube] [--tubelet-t T] [--patch P]\n"
            "           [--seed K] [--ckpt CKPT]\n"
            "Samples F frames at R per second (first F, the paper's choice, or uniform over\n"
            "the video), resizes the shorter side to S and centre-crops, prints each sample's\n"
            "time and source frame, and writes the frames as a contact sheet. --mask hatches\n"
            "the T x P x P tubelet tokens a mask of that ratio would drop; repeated frames\n"
            "(the video ran out) are marked \"pad\". --ckpt takes --size, --patch and\n"
            "--tubelet-t from a model's stored configuration (options given win).\n"
            "Defaults: --fps 1 --max-frames 16 --mode first --size 224 --tubelet-t 2 --patch 16\n"
            "--mask-kind random --seed 1.\n");
    return out == stderr ? 2 : 0;
}

typedef struct {
    const char *video, *png, *ckpt;
    lv_sample_spec sample;
    int64_t size, tubelet_t, patch;
    double mask;
    lv_mask_kind kind;
    uint64_t seed;
} frames_args;

/* --size, --patch and --tubelet-t not given (still 0): the model's with --ckpt, so the sheet
 * shows the tokens that model would see, else the defaults 224, 16 and 2. */
static int model_sizes(frames_args *a)
{
    lv_config c = { .image_size = 224, .patch = 16, .tubelet_t = 2 };
    if (a->ckpt && lv_config_from_file(&c, a->ckpt) < 0)
        return fprintf(stderr, "longvivit frames: %s (--ckpt takes a checkpoint or parameter "
                       "file written by longvivit train)\n", lv_error()), -1;
    a->size = a->size ? a->size : c.image_size;
    a->patch = a->patch ? a->patch : c.patch;
    a->tubelet_t = a->tubelet_t ? a->tubelet_t : c.tubelet_t;
    if (a->ckpt)
        printf("model %s: image size %lld, patch %lld, tubelet %lld frames\n", a->ckpt,
               (long long)a->size, (long long)a->patch, (long long)a->tubelet_t);
    return 0;
}

static int parse(frames_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (k[0] != '-') {
            if (a->video)
                return fprintf(stderr, "longvivit frames: one VIDEO only ('%s')\n", k), -1;
            a->video = k;
            continue;
        }
        if (!v)
            return fprintf(stderr, "longvivit frames: '%s' needs a value\n", k), -1;
        i++;
        double x = 0;    /* strict (tools/options.h): "nan", "inf" and "2x" are no numbers */
        const int number = lv_opt_real(k, v, -HUGE_VAL, 0, HUGE_VAL, &x) == 0;
        const int whole = number && x == floor(x) && fabs(x) < 1e15;
        if (!strcmp(k, "--png"))
            a->png = v;
        else if (!strcmp(k, "--ckpt"))
            a->ckpt = v;
        else if (!strcmp(k, "--mode") && (!strcmp(v, "first") || !strcmp(v, "uniform")))
            a->sample.mode = !strcmp(v, "first") ? LV_SAMPLE_FIRST : LV_SAMPLE_UNIFORM;
        else if (!strcmp(k, "--mask-kind") && lv_mask_kind_parse(v, &a->kind) == 0)
            continue;
        else if (number && x > 0 && !strcmp(k, "--fps"))
            a->sample.fps = x;
        else if (whole && x >= 1 && !strcmp(k, "--max-frames"))
            a->sample.max_frames = (int64_t)x;
        else if (number && x >= 0 && !strcmp(k, "--start"))
            a->sample.start = x;
        else if (number && !strcmp(k, "--end"))
            a->sample.end = x;
        else if (whole && x >= 1 && !strcmp(k, "--size"))
            a->size = (int64_t)x;
        else if (whole && x >= 1 && !strcmp(k, "--tubelet-t"))
            a->tubelet_t = (int64_t)x;
        else if (whole && x >= 1 && !strcmp(k, "--patch"))
            a->patch = (int64_t)x;
        else if (number && x >= 0 && x <= LV_MASK_RATIO_MAX && !strcmp(k, "--mask"))
            a->mask = x;
        else if (whole && x >= 0 && !strcmp(k, "--seed"))
            a->seed = (uint64_t)x;
        else
            return fprintf(stderr, "longvivit frames: bad argument '%s %s'\n", k, v), -1;
    }
    if (!a->video || !a->png)
        return fprintf(stderr, "longvivit frames: VIDEO and --png OUT.png are required\n"), -1;
    if (model_sizes(a) < 0)
        return -2;                      /* a bad file, not a bad command line */
    if (a->mask > 0 && a->size % a->patch)
        return fprintf(stderr, "longvivit frames: --size %lld is not a multiple of --patch %lld\n",
                       (long long)a->size, (long long)a->patch), -1;
    return 0;
}

/* keep (F, P): 1 where the token covering that frame's patch survives masking. Frames past the
 * last whole tubelet keep everything (the model would not see them at all). */
static int keep_map(uint8_t *keep, const frames_args *a, int64_t F)
{
    const int64_t g = a->size / a->patch, P = g * g, Ft = F / a->tubelet_t, N = Ft * P;
    memset(keep, 1, (size_t)(F * P));
    if (a->mask <= 0 || N == 0)
        return 0;
    int64_t *kept = lv_malloc((size_t)N * sizeof *kept, "the mask");
    if (!kept)
        return -1;
    const int64_t K = lv_mask_keep(kept, a->kind, a->mask, N, P, a->seed, 0, 0);
    if (K < 0) {
        free(kept);
        return -1;
    }
    memset(keep, 0, (size_t)(Ft * a->tubelet_t * P));
    for (int64_t k = 0; k < K; k++)
        for (int64_t dt = 0; dt < a->tubelet_t; dt++)
            keep[((kept[k] / P) * a->tubelet_t + dt) * P + kept[k] % P] = 1;
    printf("mask %.2f (%s): %lld of %lld tokens kept\n", a->mask, lv_mask_kind_name(a->kind),
           (long long)K, (long long)N);
    free(kept);
    return 0;
}

int cmd_frames(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout);
    frames_args a = { .sample = lv_sample_spec_default(16), .kind = LV_MASK_RANDOM, .seed = 1 };
    const int parsed = parse(&a, argc, argv);
    if (parsed == -2)
        return 1;
    if (parsed < 0)
        return usage(stderr);
    lv_frames fr;
    if (lv_video_read(&fr, a.video, &a.sample) < 0) {
        fprintf(stderr, "longvivit frames: %s\n", lv_error());
        return 1;
    }
    const int64_t F = fr.n, S = a.size;
    printf("%s: %lldx%lld, %lld samples (%lld from the video)\n", a.video, (long long)fr.width,
           (long long)fr.height, (long long)F, (long long)fr.valid);
    for (int64_t k = 0; k < F; k++)
        printf("  sample %3lld  t=%8.3fs  <- frame #%lld at %.3fs%s\n", (long long)k, fr.t[k],
               (long long)fr.src_index[k], fr.src_t[k], k >= fr.valid ? " (repeated)" : "");
    static const float zero[3] = { 0, 0, 0 }, one[3] = { 1, 1, 1 };
    float *pixels = lv_malloc((size_t)(F * S * S * 3) * sizeof(float), "the frames");
    float *scratch = lv_malloc((size_t)lv_preprocess_scratch_floats(fr.height, fr.width, S) *
                               sizeof(float), "the resize scratch");
    uint8_t *rgb = lv_malloc((size_t)(F * S * S * 3), "the sheet frames");
    uint8_t *keep = lv_malloc((size_t)(F * (S / a.patch) * (S / a.patch)), "the keep map");
    int rc = pixels && scratch && rgb && keep ? 0 : -1;
    if (rc == 0) {
        lv_preprocess(pixels, fr.rgb, F, fr.height, fr.width, S, zero, one, scratch);
        lv_unpreprocess(rgb, pixels, F, S, zero, one);
        rc = keep_map(keep, &a, F);
    }
    const lv_sheet_frames sheet = { rgb, F, S, fr.t, fr.valid, a.mask > 0 ? keep : NULL,
                                    a.patch };
    if (rc == 0)
        rc = lv_sheet_write(a.png, &sheet, NULL);
    if (rc == 0)
        printf("wrote %s\n", a.png);
    else
        fprintf(stderr, "longvivit frames: %s\n", lv_error());
    if (rc < 0 && !lv_pictures_available())    /* no cairo: the listing above is still useful */
        rc = 0;
    free(pixels);
    free(scratch);
    free(rgb);
    free(keep);
    lv_frames_free(&fr);
    return rc == 0 ? 0 : 1;
}
