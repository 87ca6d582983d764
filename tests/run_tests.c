/* The test runner of `make check`: every suite, Check's default forking, exit status = verdict.
 * Pass suite names as arguments to run only those (e.g. `build/run_tests kernels`). */
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    { "image", image_suite },
    { "pipeline", pipeline_suite },
    { "metrics", metrics_suite },
    { "adamw", adamw_suite },
    { "backend", backend_suite },
};

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
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
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
