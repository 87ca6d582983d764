/* longvivit bench-data: the training loader's rate (samples/s, and CPU use) at 1 thread and at
 * N on a manifest, both in this run, with a check that the two give the same batches; and the
 * rate of decoding alone (our reader, one sample after another) on the same clips, so the cost
 * of preprocessing and tokenizing shows. Figures for comparisons are ratios within one run:
 * the machine may be shared. The single-file comparison with the ffmpeg program is
 * build/bench_video's (docs/data.md). */
#include "commands.h"
#include "error.h"
#include "loader.h"
#include "manifest.h"
#include "options.h"
#include "video.h"
#include "wordpiece.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct {
    const char *data, *vocab;
    int64_t threads, batch, frames, size, text_len, batches, repeats;
    uint64_t seed;
} bench_data_opts;

typedef struct {
    double seconds, cpu_seconds;  /* wall and CPU (user + system, every thread) */
    int64_t samples, skipped;
    uint64_t digest;              /* of every byte of every timed batch */
} rate;

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit bench-data --data MANIFEST [--threads N] [--batch B]\n"
            "                            [--frames F] [--size S] [--text-len T] [--batches K]\n"
            "                            [--repeats R] [--seed K] [--vocab FILE]\n"
            "Times the training loader (decode at 1 FPS, resize, crop, normalise, tokenize) at\n"
            "1 thread and at N (default: OMP_NUM_THREADS, else the CPU count), K batches each\n"
            "after one untimed batch, R times in turn (the best of each is shown), checks that\n"
            "all give the same batches, and times decoding alone on the same clips. Make data\n"
            "with `longvivit synth --out DIR`, then --data DIR/train.jsonl. Defaults: --batch 16\n"
            "--frames 64 --size 32 --text-len 40 --batches 10 --repeats 3 --seed 1; the\n"
            "vocabulary is vocab.txt beside the manifest.\n"
            "Compare figures as ratios within one run: the machine may be shared.\n");
    return out == stderr ? 2 : 0;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/* FNV-1a over 64-bit words (a byte at a time would cost the consumer a fifth of the run), the
 * tail bytewise. */
static uint64_t digest_bytes(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; n > 0; p++, n--)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

static int parse(bench_data_opts *o, int argc, char **argv)
{
    *o = (bench_data_opts){ .batch = 16, .frames = 64, .size = 32, .text_len = 40,
                            .batches = 10, .repeats = 3, .seed = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return lv_set_error("'%s' needs a value", a);
        i++;
        long long n = 0;
        if (!strcmp(a, "--data")) {
            o->data = v;
            continue;
        }
        if (!strcmp(a, "--vocab")) {
            o->vocab = v;
            continue;
        }
        const long long hi = !strcmp(a, "--threads") ? LV_LOADER_MAX_THREADS : 1LL << 40;
        if (lv_opt_int(a, v, !strcmp(a, "--seed") ? 0 : 1, hi, &n) < 0)
            return -1;
        if (!strcmp(a, "--threads"))
            o->threads = n;
        else if (!strcmp(a, "--batch"))
            o->batch = n;
        else if (!strcmp(a, "--frames"))
            o->frames = n;
        else if (!strcmp(a, "--size"))
            o->size = n;
        else if (!strcmp(a, "--text-len"))
            o->text_len = n;
        else if (!strcmp(a, "--batches"))
            o->batches = n;
        else if (!strcmp(a, "--repeats"))
            o->repeats = n;
        else if (!strcmp(a, "--seed"))
            o->seed = (uint64_t)n;
        else
            return lv_set_error("unknown option '%s'", a);
    }
    if (!o->data)
        return lv_set_error("--data MANIFEST is required");
    if (o->text_len < 2)
        return lv_set_error("--text-len %lld: give 2 or more ([CLS] and [SEP])",
                            (long long)o->text_len);
    return 0;
}

/* K batches of the loader at `threads` threads, after one untimed batch. */
static int time_loader(rate *out, const lv_clip_list *clips, const lv_tokenizer *tok,
                       const bench_data_opts *o, int threads)
{
    const lv_loader_spec spec = {
        .batch = o->batch, .frames = o->frames, .size = o->size, .text_len = o->text_len,
        .fps = 1.0, .mode = LV_SAMPLE_FIRST, .mean = { 0.5f, 0.5f, 0.5f },
        .std = { 0.25f, 0.25f, 0.25f }, .shuffle = 1, .seed = o->seed,
        .max_bad_fraction = 0.5, .threads = threads };
    lv_loader *l = lv_loader_open(clips, tok, &spec);
    if (!l)
        return -1;
    const lv_loader_batch *b;
    int rc = lv_loader_next(l, &b);
    const size_t video = (size_t)(o->batch * o->frames * o->size * o->size * 3) * sizeof(float);
    const size_t text = (size_t)(o->batch * o->text_len);
    *out = (rate){ .digest = 0xcbf29ce484222325ULL };
    const double t0 = wall_seconds(), c0 = cpu_s();
    for (int64_t k = 0; rc == 0 && k < o->batches; k++) {
        rc = lv_loader_next(l, &b);
        if (rc < 0)
            break;
        out->digest = digest_bytes(out->digest, b->video, video);
        out->digest = digest_bytes(out->digest, b->text, text * sizeof *b->text);
        out->digest = digest_bytes(out->digest, b->clip, (size_t)o->batch * sizeof *b->clip);
        out->samples += b->B;
        out->skipped = b->skipped;
    }
    out->seconds = wall_seconds() - t0;
    out->cpu_seconds = cpu_s() - c0;
    lv_loader_close(l);
    return rc;
}

/* Decoding alone: the loader's sampling of the same number of clips, one after another, in list
 * order (no resize, normalisation or tokenizing). */
static int time_decode(rate *out, const lv_clip_list *clips, const bench_data_opts *o,
                       int64_t samples)
{
    *out = (rate){ 0 };
    const double t0 = wall_seconds(), c0 = cpu_s();
    for (int64_t i = 0; out->samples + out->skipped < samples; i++) {
        const lv_clip_entry *e = &clips->e[i % clips->n];
        if (e->is_image)
            continue;
        const lv_sample_spec spec = { .fps = 1.0, .max_frames = o->frames,
                                      .mode = LV_SAMPLE_FIRST, .start = e->start,
                                      .end = e->end };
        lv_frames fr;
        if (lv_video_read(&fr, e->video, &spec) < 0) {
            out->skipped++;
            continue;
        }
        lv_frames_free(&fr);
        out->samples++;
    }
    out->seconds = wall_seconds() - t0;
    out->cpu_seconds = cpu_s() - c0;
    return 0;
}

static void print_rate(const char *what, const rate *r, double base)
{
    printf("%-28s %8.1f samples/s  %6.0f%% CPU  %6.2fx  (%lld samples in %.2f s",
           what, (double)r->samples / r->seconds, 100.0 * r->cpu_seconds / r->seconds,
           base > 0 ? (double)r->samples / r->seconds / base : 1.0, (long long)r->samples,
           r->seconds);
    if (r->skipped)
        printf(", %lld skipped", (long long)r->skipped);
    printf(")\n");
}

static int run_bench(const bench_data_opts *o, lv_clip_list *clips)
{
    char vocab[4096];
    if (!o->vocab) {             /* vocab.txt beside the manifest */
        const char *slash = strrchr(o->data, '/');
        snprintf(vocab, sizeof vocab, "%.*s%svocab.txt", slash ? (int)(slash - o->data) : 0,
                 o->data, slash ? "/" : "");
    }
    lv_tokenizer *tok = lv_tokenizer_load(o->vocab ? o->vocab : vocab);
    if (!tok)
        return -1;
    const int n = o->threads > 0 ? (int)o->threads : lv_loader_default_threads();
    printf("loader on %s: %lld batches of %lld clips, %lld frames at 1 FPS, %lldx%lld, "
           "text %lld\n", o->data, (long long)o->batches, (long long)o->batch,
           (long long)o->frames, (long long)o->size, (long long)o->size, (long long)o->text_len);
    fflush(stdout);
    rate one = { 0 }, many = { 0 }, decode = { 0 };
    int rc = 0, same = 1;
    for (int64_t r = 0; rc == 0 && r < o->repeats; r++) {   /* in turn: the load drifts */
        rate a, b, d;
        rc = time_loader(&a, clips, tok, o, 1);
        if (rc == 0)
            rc = time_loader(&b, clips, tok, o, n);
        if (rc == 0)
            rc = time_decode(&d, clips, o, a.samples);
        if (rc < 0)
            break;
        same &= b.digest == a.digest && (r == 0 || a.digest == one.digest);
        one = r == 0 || a.seconds < one.seconds ? a : one;
        many = r == 0 || b.seconds < many.seconds ? b : many;
        decode = r == 0 || d.seconds < decode.seconds ? d : decode;
    }
    if (rc == 0) {
        const double base = (double)one.samples / one.seconds;
        char label[64];
        print_rate("loader, 1 thread", &one, base);
        snprintf(label, sizeof label, "loader, %d threads", n);
        print_rate(label, &many, base);
        print_rate("decode alone, 1 thread", &decode, base);
        printf("best of %lld runs each; the same batches in every run at 1 and %d threads: %s "
               "(digest %016llx)\n", (long long)o->repeats, n, same ? "yes" : "NO",
               (unsigned long long)one.digest);
        if (!same)
            rc = lv_set_error("the loader gave other batches at %d threads than at 1: a bug; "
                              "please report it with this command line", n);
    }
    lv_tokenizer_free(tok);
    return rc;
}

int cmd_bench_data(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout);
    bench_data_opts o;
    if (parse(&o, argc, argv) < 0) {
        fprintf(stderr, "longvivit bench-data: %s\n", lv_error());
        return usage(stderr);
    }
    lv_video_quiet(1);
    lv_clip_list clips;
    if (lv_manifest_load(&clips, o.data, 0) < 0) {
        fprintf(stderr, "longvivit bench-data: %s\n", lv_error());
        return LV_EXIT_RUNTIME;
    }
    const int rc = run_bench(&o, &clips);
    lv_clip_list_free(&clips);
    if (rc < 0) {
        fprintf(stderr, "longvivit bench-data: %s\n", lv_error());
        return LV_EXIT_RUNTIME;
    }
    return LV_EXIT_OK;
}
