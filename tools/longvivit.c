/* The longvivit program: one binary, git-style subcommands. This file only parses arguments and
 * dispatches; the work lives in the library (ref/, blas_glue/, data/). */
#include "blas_glue.h"
#include "commands.h"
#include "gradcheck.h"
#include "longvivit.h"
#include "model.h"
#include "video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LV_VERSION "0.1.0"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit <command> [options]\n"
            "\n"
            "commands:\n"
            "  gradcheck [--variant V]    model gradients against finite differences, per variant\n"
            "  frames VIDEO --png OUT     decode as training does and write a contact sheet\n"
            "  inspect FILE.safetensors   list the tensors and metadata of a safetensors file\n"
            "  synth --out DIR            write the synthetic long-range video-text benchmark\n"
            "  train --dry-run [options]  print the configuration, parameters and memory of a run\n"
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

static int cmd_inspect(int argc, char **argv)
{
    if (wants_help(argc, argv) || argc != 2) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: longvivit inspect FILE.safetensors\n"
                "Validates the header of FILE and lists its metadata and tensors (name, dtype,\n"
                "shape, bytes). Exits non-zero, naming the problem, if the file is damaged.\n");
        return argc == 2 ? 0 : 2;
    }
    lv_st_file *f = lv_st_open(argv[1]);
    if (!f) {
        fprintf(stderr, "longvivit inspect: %s\n", lv_error());
        return 1;
    }
    const int64_t n_meta = lv_st_meta_count(f), n = lv_st_count(f);
    printf("%s: %lld tensors, %lld metadata entries\n", argv[1], (long long)n, (long long)n_meta);
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
    lv_st_close(f);
    return 0;
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
            "                           [--set key=value ...]\n"
            "For each model variant: the loss gradient of sampled entries of every trainable\n"
            "tensor and of the input pixels against central finite differences. Exits non-zero\n"
            "if any entry is out of tolerance. --json prints one JSON object last.\n"
            "Defaults: --preset tiny --variant all --probes 6.\nvariants:");
    for (int i = 0; i < n; i++)
        fprintf(out, " %s", v[i].name);
    fprintf(out, "\n");
    return out == stderr ? 2 : 0;
}

static int cmd_gradcheck(int argc, char **argv)
{
    const char *preset = "tiny", *variant = "all";
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
        else if (!strcmp(argv[i], "--probes") && has_value && (probes = atol(argv[++i])) > 0)
            continue;
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
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        lv_gradcheck_result r;
        if (lv_gradcheck_run(&c, &all[i], probes, stdout, &r) < 0) {
            fprintf(stderr, "longvivit gradcheck: variant %s: %s\n", all[i].name, lv_error());
            failed++;
            continue;
        }
        printf("  => %s: %lld tensors, %lld entries, max rel err %.2e (%s): %s\n", all[i].name,
               (long long)r.tensors, (long long)r.entries, r.max_rel_err, r.worst,
               r.failed ? "FAILED" : "passed");
        failed += r.failed > 0;
        if (r.max_rel_err > worst)
            worst = r.max_rel_err;
    }
    if (json)
        printf("{\"variants\": %d, \"failed\": %d, \"max_rel_err\": %.3e}\n", n, failed, worst);
    return failed ? 1 : 0;
}

static int train_usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit train --dry-run [--preset P] [--frames F] [--mask R]\n"
            "           [--attn joint|factorized|frame]\n"
            "           [--tune full|last-k|adapters|lora|temporal]\n"
            "           [--batch B] [--set key=value ...]\n"
            "--dry-run prints the full configuration (every key accepts --set key=value), the\n"
            "parameter counts per tower, and the analytic memory of one training step.\n"
            "(Training itself arrives with the training issue, #5.)\n");
    return out == stderr ? 2 : 0;
}

static void print_memory_row(const char *what, double floats)
{
    printf("  %-34s %10.1f MiB\n", what, floats * 4.0 / (1 << 20));
}

/* The shorthand options of train and the config keys they set. */
static const char *const train_shorthands[][2] = {
    { "--frames", "frames" }, { "--mask", "mask_ratio" },
    { "--attn", "attn" }, { "--tune", "tune" },
};

static int cmd_train(int argc, char **argv)
{
    enum { MAX_SETS = 64 };
    static char sets[MAX_SETS][128];     /* "key=value" overrides, in command-line order */
    int n_sets = 0, dry_run = 0;
    const char *preset = "tiny";
    long batch = 8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return train_usage(stdout);
        if (!strcmp(a, "--dry-run")) {
            dry_run = 1;
            continue;
        }
        if (!v || n_sets == MAX_SETS) {
            fprintf(stderr, "longvivit train: '%s' needs a value\n", a);
            return train_usage(stderr);
        }
        i++;
        const char *key = NULL;
        for (size_t k = 0; k < sizeof train_shorthands / sizeof train_shorthands[0]; k++)
            if (!strcmp(a, train_shorthands[k][0]))
                key = train_shorthands[k][1];
        if (key)
            snprintf(sets[n_sets++], sizeof sets[0], "%s=%s", key, v);
        else if (!strcmp(a, "--set"))
            snprintf(sets[n_sets++], sizeof sets[0], "%s", v);
        else if (!strcmp(a, "--preset"))
            preset = v;
        else if (strcmp(a, "--batch") || (batch = atol(v)) <= 0) {
            fprintf(stderr, "longvivit train: bad argument '%s %s'\n", a, v);
            return train_usage(stderr);
        }
    }
    if (!dry_run) {
        fprintf(stderr, "longvivit train: only --dry-run exists so far; training arrives with "
                        "the training issue (#5)\n");
        return 2;
    }
    lv_config c;
    if (lv_config_preset(&c, preset) < 0) {
        fprintf(stderr, "longvivit train: %s\n", lv_error());
        return 2;
    }
    for (int i = 0; i < n_sets; i++)
        if (lv_config_set(&c, sets[i]) < 0) {
            fprintf(stderr, "longvivit train: %s\n", lv_error());
            return 2;
        }
    lv_model m;
    if (lv_model_build_table(&m, &c, &lv_backend_ref) < 0) {
        fprintf(stderr, "longvivit train: %s\n", lv_error());
        lv_model_free(&m);
        return 2;
    }
    char text[4096];
    lv_config_format(&c, text, sizeof text);
    const lv_video_geometry g = lv_config_geometry(&c, 0);
    printf("configuration\n%s", text);
    printf("tokens per video: %lld, kept after masking: %lld\n", (long long)g.N, (long long)g.K);
    printf("parameters\n");
    printf("  video tower %12lld  (trainable %lld)\n",
           (long long)lv_params_count_floats(&m.params, "video.", 0),
           (long long)lv_params_count_floats(&m.params, "video.", 1));
    printf("  text tower  %12lld  (trainable %lld)\n",
           (long long)lv_params_count_floats(&m.params, "text.", 0),
           (long long)lv_params_count_floats(&m.params, "text.", 1));
    printf("  total       %12lld  (trainable %lld) in %lld tensors\n",
           (long long)m.params.n_floats, (long long)m.params.n_grad_floats,
           (long long)m.params.count);
    printf("memory of one training step, batch %ld (analytic, fp32)\n", batch);
    print_memory_row("parameters", (double)m.params.n_floats);
    print_memory_row("gradients (trainable only)", (double)m.params.n_grad_floats);
    print_memory_row("AdamW moments", 2.0 * (double)m.params.n_grad_floats);
    print_memory_row("activations", (double)lv_model_act_floats(&c, batch));
    print_memory_row("total", (double)m.params.n_floats + 3.0 * (double)m.params.n_grad_floats +
                                  (double)lv_model_act_floats(&c, batch));
    lv_model_free(&m);
    return 0;
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

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    lv_video_quiet(1);      /* our own messages name the file and the fix */
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
        return usage(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version"))
        return cmd_version();
    if (!strcmp(cmd, "gradcheck"))
        return cmd_gradcheck(argc - 1, argv + 1);
    if (!strcmp(cmd, "train"))
        return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "synth"))
        return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(cmd, "frames"))
        return cmd_frames(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "tolerances"))
        return cmd_tolerances(argc - 1, argv + 1);
    fprintf(stderr, "longvivit: unknown command '%s'\n\n", cmd);
    return usage(stderr);
}
