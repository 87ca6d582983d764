/* Strict option values for every command (see options.h). */
#include "options.h"

#include "bf16_dnnl.h"
#include "error.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **lv_opt_split_equals(int *argc, char **argv)
{
    const int argc0 = *argc;
    int extra = 0;
    for (int i = 0; i < *argc; i++)
        extra += !strncmp(argv[i], "--", 2) && strchr(argv[i], '=') != NULL;
    char **out = malloc((size_t)(*argc + extra + 1) * sizeof *out);
    if (!out)
        return NULL;
    int n = 0;
    for (int i = 0; i < *argc; i++) {
        char *eq = !strncmp(argv[i], "--", 2) ? strchr(argv[i], '=') : NULL;
        if (!eq) {
            out[n++] = argv[i];
            continue;
        }
        /* the value is the rest of the string; the name needs its own copy */
        char *name = strndup(argv[i], (size_t)(eq - argv[i]));
        if (!name) {
            free(out);
            return NULL;
        }
        out[n++] = name;
        out[n++] = eq + 1;
    }
    out[n] = NULL;
    *argc = n;
    /* --precision P applies to whichever backend the command picks: taken out here, once for
     * every command, and given to the registry (lv_backend_find) */
    for (int i = 1; i + 1 < n; i++)
        if (!strcmp(out[i], "--precision")) {
            lv_backend_set_precision(out[i + 1]);
            int copied = 1;                /* the name copied out of --precision=P */
            for (int j = 0; j < argc0; j++)
                copied &= out[i] != argv[j];
            if (copied)
                free(out[i]);
            memmove(out + i, out + i + 2, (size_t)(n - i - 1) * sizeof *out);  /* with NULL */
            *argc = n -= 2;
            i--;
        }
    return out;
}

void lv_opt_split_free(char **split, int n, int argc, char **argv)
{
    for (int i = 0; i < n; i++) {
        int original = 0;       /* an argument as given, or the value part of one */
        for (int j = 0; j < argc && !original; j++)
            original = (uintptr_t)split[i] >= (uintptr_t)argv[j] &&
                       (uintptr_t)split[i] <= (uintptr_t)argv[j] + strlen(argv[j]);
        if (!original)
            free(split[i]);      /* a --name copied out of --name=value */
    }
    free(split);
}

/* "an integer from 1 to 64", "an integer >= 1" */
static void describe_range(char *buf, size_t size, const char *what, double lo, int lo_open,
                           double hi, int huge_hi)
{
    if (huge_hi)
        snprintf(buf, size, "%s %s %.15g", what, lo_open ? ">" : ">=", lo);
    else
        snprintf(buf, size, "%s from %.15g%s to %.15g", what, lo, lo_open ? " (exclusive)" : "",
                 hi);
}

int lv_opt_int(const char *opt, const char *text, long long lo, long long hi, long long *out)
{
    char want[128], *end = NULL;
    describe_range(want, sizeof want, "a whole number", (double)lo, 0, (double)hi,
                   hi == LLONG_MAX);
    errno = 0;
    const long long x = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || end == text || *end || errno == ERANGE)
        return lv_set_error("%s '%s': not a whole number; give %s", opt, text ? text : "",
                            want);
    if (x < lo || x > hi)
        return lv_set_error("%s %s: out of range; give %s", opt, text, want);
    *out = x;
    return 0;
}

int lv_opt_real(const char *opt, const char *text, double lo, int lo_open, double hi,
                double *out)
{
    char want[128], *end = NULL;
    describe_range(want, sizeof want, "a number", lo, lo_open, hi, isinf(hi));
    errno = 0;
    const double x = text ? strtod(text, &end) : 0;
    if (!text || !*text || end == text || *end)
        return lv_set_error("%s '%s': not a number; give %s", opt, text ? text : "", want);
    if (!isfinite(x))
        return lv_set_error("%s %s: not a finite number; give %s", opt, text, want);
    if (errno == ERANGE || x < lo || (lo_open && x == lo) || x > hi)
        return lv_set_error("%s %s: out of range; give %s", opt, text, want);
    *out = x;
    return 0;
}

const char *lv_opt_config_value(const lv_config *c, const char *key, char *buf, size_t size)
{
    char text[8192];
    lv_config_format(c, text, sizeof text);
    const size_t k = strlen(key);
    buf[0] = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (!strncmp(l, key, k) && l[k] == '=')
            snprintf(buf, size, "%s", l + k + 1);
    return buf;
}

const char *lv_opt_precision_help(void)
{
    static char line[512];
    const int ready = lv_bf16_ready() == 0;
    snprintf(line, sizeof line, "--precision fp32|bf16: bf16 matmul operands, fp32 accumulation, "
             "cpu backend only\n  (docs/performance.md); in this build: %s\n",
             ready ? lv_bf16_backend() : lv_error());
    return line;
}
