/* `longvivit synth`: writes the synthetic long-range benchmark (data/synth.c) to a folder. */
#include "commands.h"
#include "error.h"
#include "options.h"
#include "synth.h"

#include <stdlib.h>
#include <string.h>

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit synth --out DIR [--videos N] [--frames F] [--size S] [--seed K]\n"
            "                       [--events E] [--group G]\n"
            "Writes DIR/videos/*.mp4 (F seconds each, events spread over the whole length),\n"
            "DIR/train.jsonl and DIR/test.jsonl (a caption and a summary per video),\n"
            "DIR/mcq.jsonl, DIR/qa.jsonl (questions about the late events) and DIR/vocab.txt;\n"
            "see docs/synthetic.md for why a model must see the whole video to answer.\n"
            "Defaults: --videos 64 --frames 64 --size 64 --events 4 --group 4 --seed 1.\n");
    return out == stderr ? 2 : 0;
}

static void show(int64_t done, int64_t total)
{
    progress_report("synth", done, total);
}

int cmd_synth(int argc, char **argv)
{
    lv_synth_spec spec = lv_synth_defaults();
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return usage(stdout);
        if (!v) {
            fprintf(stderr, "longvivit synth: '%s' needs a value\n", a);
            return usage(stderr);
        }
        i++;
        long long n = 0;     /* strict (tools/options.h): "1e3" and "2x" are no counts */
        const int number = lv_opt_int(a, v, 0, 1LL << 40, &n) == 0;
        if (!strcmp(a, "--out"))
            out = v;
        else if (number && !strcmp(a, "--videos"))
            spec.videos = n;
        else if (number && !strcmp(a, "--frames"))
            spec.frames = n;
        else if (number && !strcmp(a, "--size"))
            spec.size = n;
        else if (number && !strcmp(a, "--seed"))
            spec.seed = (uint64_t)n;
        else if (number && !strcmp(a, "--events"))
            spec.events = n, spec.shared = n / 2;
        else if (number && !strcmp(a, "--group"))
            spec.group = n;
        else {
            fprintf(stderr, "longvivit synth: bad argument '%s %s'%s%s\n", a, v,
                    number || !strcmp(a, "--out") ? "" : ": ", number ? "" : lv_error());
            return usage(stderr);
        }
    }
    if (!out) {
        fprintf(stderr, "longvivit synth: --out DIR is required\n");
        return usage(stderr);
    }
    if (lv_synth_write(out, &spec, show) < 0) {
        fprintf(stderr, "longvivit synth: %s\n", lv_error());
        return 1;
    }
    printf("wrote %lld videos of %lld s (%lldx%lld) to %s: train.jsonl test.jsonl mcq.jsonl "
           "qa.jsonl vocab.txt\n", (long long)spec.videos, (long long)spec.frames,
           (long long)spec.size, (long long)spec.size, out);
    return 0;
}
