/* The test runner of `make check`: every suite, Check's default forking, exit status = verdict.
 * Pass suite names as arguments to run only those (e.g. `build/run_tests kernels`).
 * Skipped tests (test_skip) look like passes to Check, so the runner counts them: each appends a
 * line to the file named by LV_SKIP_LOG (a temporary one when unset), and the last line says how
 * many there were. LV_REQUIRE_ALL=1 turns every skip into a failure. */
#include "error.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef Suite *(*suite_fn)(void);

static const struct { const char *name; suite_fn make; } suites[] = {
    { "kernels", kernels_suite },
    { "sgemm", sgemm_suite },
    { "rng", rng_suite },
    { "safetensors", safetensors_suite },
    { "model_kernels", model_kernels_suite },
    { "clip_init", clip_init_suite },
    { "model", model_suite },
    { "video", video_suite },
    { "text_data", text_data_suite },
    { "benchmarks", benchmarks_suite },
    { "image", image_suite },
    { "pipeline", pipeline_suite },
    { "metrics", metrics_suite },
    { "text_metrics", text_metrics_suite },
    { "adamw", adamw_suite },
    { "backend", backend_suite },
    { "checkers", checkers_suite },
    { "contract", contract_suite },
    { "tokenizer", tokenizer_suite },
    { "bpe", bpe_suite },
    { "v2t", v2t_suite },
    { "chart", chart_suite },
    { "bf16", bf16_suite },
};

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    if (!f)
        return 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

/* a failed LV_REQUIRE: the library leaves the message to us (error.h) */
static void print_fatal(const char *message)
{
    fprintf(stderr, "%s\n", message);
}

int main(int argc, char **argv)
{
    lv_set_fatal_hook(print_fatal);
    SRunner *runner = NULL;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        if (!selected(suites[i].name, argc, argv))
            continue;
        if (!runner)
            runner = srunner_create(suites[i].make());
        else
            srunner_add_suite(runner, suites[i].make());
    }
    if (!runner) {
        fprintf(stderr, "run_tests: no suite matches; suites are:");
        for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
            fprintf(stderr, " %s", suites[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    /* the skip log: the caller's (make check sums the runner's, cli.sh's and torch's), or ours */
    char own[] = "/tmp/lv_skips_XXXXXX";
    const char *log = getenv("LV_SKIP_LOG");
    int own_fd = -1;
    if (!log || !*log) {
        own_fd = mkstemp(own);
        if (own_fd >= 0 && setenv("LV_SKIP_LOG", own, 1) == 0)
            log = own;
    }
    const long skips_before = log ? count_lines(log) : 0;
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    const long skipped = log ? count_lines(log) - skips_before : 0;
    const char *require = getenv("LV_REQUIRE_ALL");
    printf("run_tests: %ld skipped%s\n", skipped,
           skipped == 0 ? "" : require && !strcmp(require, "1")
                                   ? " (LV_REQUIRE_ALL=1: each one failed its test)"
                                   : " (see the SKIP: lines; LV_REQUIRE_ALL=1 makes them failures)");
    if (own_fd >= 0) {
        close(own_fd);
        unlink(own);
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
