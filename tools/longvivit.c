/* The longvivit program: one binary, git-style subcommands. This file only parses arguments and
 * dispatches; the work lives in the library (ref/, blas_glue/, data/). */
#include "blas_glue.h"
#include "commands.h"
#include "gradcheck.h"
#include "longvivit.h"
#include "model.h"
#include "options.h"
#include "safetensors.h"
#include "tolerance.h"
#include "video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit <command> [options]\n"
            "\n"
            "commands:\n"
            "  gradcheck [--variant V]    model gradients against finite differences, per variant\n"
            "  frames VIDEO --png OUT     decode as training does and write a contact sheet\n"
            "  plot CHART.json --png OUT   an x-y chart (series, error bars, log axes) from JSON\n"
            "  inspect [--finite] FILE    list the tensors and metadata of a safetensors file\n"
            "  synth --out DIR            write the synthetic long-range video-text benchmark\n"
            "  train --data MANIFEST      contrastive training (ShortViViT, LongViViT recipes)\n"
            "  eval --ckpt CKPT --data M  zero-shot retrieval and multiple-choice accuracy\n"
            "  encode --ckpt CKPT VIDEO.. video embeddings to a safetensors file\n"
            "  train --stage lm|text      the video-to-text stage: the decoder LM, then the\n"
            "                             resampler and cross-attention on a frozen encoder\n"
            "  caption --ckpt V2T VIDEO.. the text a video-to-text model writes per video\n"
            "  eval --v2t V2T --data M    its text against the references (ROUGE-L, CIDEr-D,\n"
            "                             BLEU-4) and --qa QA.jsonl by log-likelihood\n"
            "  vocab --data M --out FILE  a WordPiece vocab.txt for a manifest's captions\n"
            "  bench --preset P           time training steps; GFLOP/s beside this machine's sgemm\n"
            "  bench-data --data M        the training loader's samples/s at 1 and N threads\n"
            "  memory --preset P          analytic peak memory of a step (--measure: and measured)\n"
            "  golden --out|--check DIR   write golden files / check a backend against them\n"
            "  tolerances [--markdown]    print the per-kernel, per-tensor tolerance table\n"
            "  version                    print the version and what the build uses\n"
            "  help                       this text\n"
            "\n"
            "`longvivit <command> --help` describes one command.\n");
    return out == stderr ? 2 : 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

static void print_shape(const lv_st_tensor *t)
{
    printf("[");
    for (int d = 0; d < t->ndim; d++)
        printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
    printf("]");
}

/* The first NaN or Inf entry of the float tensors of f (F32, F16, BF16, F64; F64 through a float,
 * so beyond 3.4e38 counts as Inf): prints it and returns 1; 0 when every entry is finite, -1 on
 * a read error. inspect alone checks the structure only, which a checkpoint written after a NaN
 * step passes; training's tests need its numbers finite too. */
static int first_non_finite(lv_st_file *f, const char *path, int warn_only)
{
    int64_t checked = 0, tensors = 0;
    for (int64_t i = 0; i < lv_st_count(f); i++) {
        const lv_st_tensor *t = lv_st_tensor_at(f, i);
        if (t->dtype != LV_DT_F32 && t->dtype != LV_DT_F16 && t->dtype != LV_DT_BF16 &&
            t->dtype != LV_DT_F64)
            continue;
        float *x = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *x);
        if (!x || lv_st_read_f32(f, t, x, t->numel) != 0) {
            fprintf(stderr, "longvivit inspect: %s: %s\n", path, x ? lv_error() : "out of memory");
            free(x);
            return -1;
        }
        for (int64_t k = 0; k < t->numel; k++)
            if (!isfinite(x[k])) {
                printf("%snot finite: %s[%lld] = %g (the first NaN/Inf, in header order)%s\n",
                       warn_only ? "warning: " : "", t->name, (long long)k, (double)x[k],
                       warn_only ? "; eval, encode and train refuse this file" : "");
                free(x);
                return 1;
            }
        free(x);
        checked += t->numel;
        tensors++;
    }
    if (!warn_only)
        printf("finite: all %lld entries of %lld float tensors\n", (long long)checked,
           (long long)tensors);
    return 0;
}

static int cmd_inspect(int argc, char **argv)
{
    const int finite = argc == 3 && !strcmp(argv[1], "--finite");
    if (wants_help(argc, argv) || (argc != 2 && !finite)) {
        const int help = wants_help(argc, argv);
        fprintf(help ? stdout : stderr,
                "usage: longvivit inspect [--finite] FILE.safetensors\n"
                "Validates the header of FILE and lists its metadata and tensors (name, dtype,\n"
                "shape, bytes). Exits non-zero, naming the problem, if the file is damaged.\n"
                "--finite also reads every float tensor and exits 1 naming the first NaN or Inf\n"
                "entry (tensor and index).\n");
        return help ? 0 : 2;
    }
    const char *path = argv[argc - 1];
    lv_st_file *f = lv_st_open(path);
    if (!f) {
        fprintf(stderr, "longvivit inspect: %s\n", lv_error());
        return 1;
    }
    const int64_t n_meta = lv_st_meta_count(f), n = lv_st_count(f);
    printf("%s: %lld tensors, %lld metadata entries\n", path, (long long)n, (long long)n_meta);
    for (int64_t i = 0; i < n_meta; i++) {
        const char *key, *value;
        lv_st_meta_at(f, i, &key, &value);
        printf("  meta %s = %s\n", key, value);
    }
    int64_t bytes = 0, elements = 0;
    for (int64_t i = 0; i < n; i++) {
        const lv_st_tensor *t = lv_st_tensor_at(f, i);
        printf("  %-48s %-5s ", t->name, lv_dtype_name(t->dtype));
        print_shape(t);
        printf("  %lld bytes\n", (long long)(t->end - t->begin));
        bytes += t->end - t->begin;
        elements += t->numel;
    }
    printf("total: %lld elements, %lld bytes of data\n", (long long)elements, (long long)bytes);
    /* plain inspect stays permissive (exit 0) but says when a float is NaN or Inf */
    const int bad = first_non_finite(f, path, !finite);
    if (!finite && bad > 0) {
        lv_st_close(f);
        return 0;
    }
    lv_st_close(f);
    return bad ? 1 : 0;
}

static int cmd_tolerances(int argc, char **argv)
{
    const int markdown = argc == 2 && !strcmp(argv[1], "--markdown");
    if (wants_help(argc, argv) || (argc > 1 && !markdown)) {
        fprintf(argc > 1 && !wants_help(argc, argv) ? stderr : stdout,
                "usage: longvivit tolerances [--markdown]\n"
                "Prints the table every check reads: |got - want| <= abs + rel * |want|.\n");
        return wants_help(argc, argv) ? 0 : 2;
    }
    int count;
    const lv_tolerance *t = lv_tolerance_table(&count);
    if (markdown)
        printf("| kernel | tensor | check | abs | rel | reason |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < count; i++) {
        if (markdown)
            printf("| %s | %s | %s | %.0e | %.0e | %s |\n", t[i].kernel, t[i].tensor,
                   t[i].check, t[i].abs, t[i].rel, t[i].reason);
        else
            printf("%-15s %-10s abs %.0e rel %.0e  %s: %s\n", t[i].kernel, t[i].tensor,
                   t[i].abs, t[i].rel, t[i].check, t[i].reason);
    }
    return 0;
}

static int gradcheck_usage(FILE *out)
{
    int n;
    const lv_gradcheck_variant *v = lv_gradcheck_variants(&n);
    fprintf(out,
            "usage: longvivit gradcheck [--preset P] [--variant NAME|all] [--probes N] [--json]\n"
            "                           [--backend NAME] [--set key=value ...]\n"
            "For each model variant: the loss gradient of sampled entries of every trainable\n"
            "tensor and of the input pixels against central finite differences. The tolerance\n"
            "includes 8 times the rounding noise of the numeric gradient, measured per variant\n"
            "from the losses (the noise floor; docs/model.md). Exits non-zero if any entry is\n"
            "out of tolerance (a NaN counts as out). --json prints one JSON object last.\n"
            "Defaults: --preset tiny --variant all --probes 6.\nvariants:");
    for (int i = 0; i < n; i++)
        fprintf(out, " %s", v[i].name);
    fprintf(out, "\n");
    fprintf(out, "Backends in this build: %s.\n%s", lv_backend_names(),
            lv_opt_precision_help());
    return out == stderr ? 2 : 0;
}

static void json_number(double x, const char *fmt)
{
    if (isfinite(x))
        printf(fmt, x);
    else
        printf("null");
}

static int cmd_gradcheck(int argc, char **argv)
{
    const char *preset = "tiny", *variant = "all";
    const lv_backend *be = backend_by_name("ref");
    int json = 0;
    long probes = 6;
    lv_config c;
    const char *sets[32];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const int has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return gradcheck_usage(stdout);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--preset") && has_value)
            preset = argv[++i];
        else if (!strcmp(argv[i], "--variant") && has_value)
            variant = argv[++i];
        else if (!strcmp(argv[i], "--backend") && has_value) {
            if (!(be = backend_by_name(argv[++i]))) {
                fprintf(stderr, "longvivit gradcheck: %s\n", lv_error());
                return LV_EXIT_USAGE;
            }
        }
        else if (!strcmp(argv[i], "--probes") && has_value) {
            long long n;
            if (lv_opt_int("--probes", argv[++i], 1, 1000000, &n) < 0) {
                fprintf(stderr, "longvivit gradcheck: %s\n", lv_error());
                return LV_EXIT_USAGE;
            }
            probes = (long)n;
        }
        else if (!strcmp(argv[i], "--set") && has_value && n_sets < 32)
            sets[n_sets++] = argv[++i];
        else {
            fprintf(stderr, "longvivit gradcheck: bad argument '%s'\n", argv[i]);
            return gradcheck_usage(stderr);
        }
    }
    if (lv_config_preset(&c, preset) < 0) {
        fprintf(stderr, "longvivit gradcheck: %s\n", lv_error());
        return 2;
    }
    for (int i = 0; i < n_sets; i++)
        if (lv_config_set(&c, sets[i]) < 0) {
            fprintf(stderr, "longvivit gradcheck: %s\n", lv_error());
            return 2;
        }
    int n;
    const lv_gradcheck_variant *all = lv_gradcheck_variants(&n);
    if (strcmp(variant, "all")) {
        all = lv_gradcheck_find(variant);
        n = 1;
        if (!all) {
            fprintf(stderr, "longvivit gradcheck: unknown variant '%s'\n", variant);
            return gradcheck_usage(stderr);
        }
    }
    int failed = 0;
    double worst = 0.0, worst_margin = 0.0;
    double *noise = calloc((size_t)n, sizeof *noise);
    if (!noise) {
        fprintf(stderr, "longvivit gradcheck: out of memory\n");
        return 2;
    }
    for (int i = 0; i < n; i++) {
        lv_gradcheck_result r;
        noise[i] = NAN;
        if (lv_gradcheck_run(&c, &all[i], probes, be, stdout, &r) < 0) {
            fprintf(stderr, "longvivit gradcheck: variant %s: %s\n", all[i].name, lv_error());
            failed++;
            continue;
        }
        printf("  => %s: %lld tensors, %lld entries, max rel err %.2e (%s); worst margin %.2f "
               "(%s [%lld]: err %.2e, tolerance %.2e); noise floor %.2e: %s\n", all[i].name,
               (long long)r.tensors, (long long)r.entries, r.max_rel_err, r.worst, r.max_margin,
               r.worst_margin, (long long)r.worst_entry, r.worst_err, r.worst_tol, r.noise,
               r.failed ? "FAILED" : "passed");
        failed += r.failed > 0;
        worst = lv_margin_max(worst, r.max_rel_err);
        worst_margin = lv_margin_max(worst_margin, r.max_margin);
        noise[i] = r.noise;
    }
    /* The first three keys are what tests/cli.sh asserts; JSON has no inf, so null. */
    if (json) {
        printf("{\"variants\": %d, \"failed\": %d, \"max_rel_err\": ", n, failed);
        json_number(worst, "%.3e");
        printf(", \"max_margin\": ");
        json_number(worst_margin, "%.4f");
        printf(", \"noise_floor\": {");
        for (int i = 0; i < n; i++) {
            printf("%s\"%s\": ", i ? ", " : "", all[i].name);
            json_number(noise[i], "%.3e");
        }
        printf("}}\n");
    }
    free(noise);
    return failed ? 1 : 0;
}

static int cmd_version(void)
{
    printf("longvivit %s\n", LV_VERSION);
    printf("  matmul: %s\n", lv_sgemm_backend());
#ifdef _OPENMP
    printf("  OpenMP: %d\n", _OPENMP);
#else
    printf("  OpenMP: no (NO_OMP=1)\n");
#endif
    return 0;
}

/* Whether argv (a command's) holds the option `flag`: train --stage, eval --v2t and memory
 * --stage belong to the video-to-text stage's commands (tools/cmd_text.c). */
static int has_option(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], flag))
            return 1;
    return 0;
}

static int dispatch(int argc, char **argv)
{
    const char *cmd = argv[1];
    lv_video_quiet(1);      /* our own messages name the file and the fix */
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
        return usage(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version"))
        return cmd_version();
    if (!strcmp(cmd, "gradcheck"))
        return cmd_gradcheck(argc - 1, argv + 1);
    if (!strcmp(cmd, "train"))
        return has_option(argc - 1, argv + 1, "--stage") ? cmd_train_text(argc - 1, argv + 1)
                                                          : cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return has_option(argc - 1, argv + 1, "--v2t") ? cmd_eval_text(argc - 1, argv + 1)
                                                        : cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "caption"))
        return cmd_caption(argc - 1, argv + 1);
    if (!strcmp(cmd, "encode"))
        return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(cmd, "vocab"))
        return cmd_vocab(argc - 1, argv + 1);
    if (!strcmp(cmd, "synth"))
        return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(cmd, "frames"))
        return cmd_frames(argc - 1, argv + 1);
    if (!strcmp(cmd, "plot"))
        return cmd_plot(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench-data"))
        return cmd_bench_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "memory"))
        return has_option(argc - 1, argv + 1, "--stage") ? cmd_memory_text(argc - 1, argv + 1)
                                                          : cmd_memory(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "golden"))
        return cmd_golden(argc - 1, argv + 1);
    if (!strcmp(cmd, "tolerances"))
        return cmd_tolerances(argc - 1, argv + 1);
    fprintf(stderr, "longvivit: unknown command '%s'\n\n", cmd);
    return usage(stderr);
}

/* a failed LV_REQUIRE: the library leaves the message to us (error.h) */
static void print_fatal(const char *message)
{
    fprintf(stderr, "%s\n", message);
}

int main(int argc, char **argv)
{
    lv_set_fatal_hook(print_fatal);
    if (argc < 2)
        return usage(stderr);
    /* every command takes --opt=value as well as --opt value */
    int n = argc;
    char **split = lv_opt_split_equals(&n, argv);
    if (!split) {
        fprintf(stderr, "longvivit: out of memory\n");
        return LV_EXIT_RUNTIME;
    }
    const int rc = dispatch(n, split);
    lv_opt_split_free(split, n, argc, argv);
    return rc;
}
