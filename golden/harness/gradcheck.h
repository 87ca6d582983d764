/* The whole-model gradient check: for every model variant, the analytic loss gradient of
 * sampled entries of every trainable tensor and of the input pixels against central finite
 * differences of the loss (taken in double). Used by `longvivit gradcheck` and by the tests. */
#ifndef LV_GRADCHECK_H
#define LV_GRADCHECK_H

#include "backend.h"
#include "config.h"

#include <stdio.h>

typedef struct {
    const char *name;            /* "joint", "factorized", ... */
    const char *overrides;       /* space-separated key=value applied to the base config */
    int image;                   /* check an image batch (2D patch path) */
} lv_gradcheck_variant;

/* Every variant the project implements, in a fixed order. */
const lv_gradcheck_variant *lv_gradcheck_variants(int *count);
const lv_gradcheck_variant *lv_gradcheck_find(const char *name);

typedef struct {
    int64_t tensors, entries;    /* tensors and entries probed */
    int64_t failed;              /* entries outside tolerance (a NaN or infinite gradient, analytic
                                  * or numeric, counts as outside) */
    int64_t refined;             /* entries whose step was halved (loss too curved at h) */
    double max_rel_err;          /* max |a - n| / max(|a|, |n|, 0.1), for the record */
    char worst[96];              /* tensor of the entry with max_rel_err */
    double noise;                /* the measured rounding noise of the fp32 loss (loss units) */
    double noise_grad;           /* what that noise alone puts into a numeric gradient at the
                                  * base step: sqrt(130)/12 * noise / 2^-7 */
    /* The entry nearest to failing (or furthest past it): margin = |a - n| / tolerance, so > 1 is
     * a failure; INFINITY for a non-finite gradient. */
    double max_margin;
    char worst_margin[96];       /* its tensor */
    int64_t worst_entry;
    double worst_err, worst_tol, worst_analytic, worst_numeric, worst_step;
} lv_gradcheck_result;

/* Test-of-the-test hook: a checker that cannot fail proves nothing, so the tests break the
 * analytic gradient on purpose and demand a failure. Applied to the analytic gradient the
 * checker compares, after backward and after the probes are picked (so the largest-|gradient|
 * entry is still picked). Never used by the program. */
typedef struct {
    const char *corrupt_tensor;  /* a trainable tensor's name or "input pixels"; NULL: none */
    double corrupt_scale;        /* multiply its analytic gradient by this (0 or 1: leave) */
    int corrupt_zero_largest;    /* set its largest-|gradient| entry to 0 */
} lv_gradcheck_options;

/* Checks one variant on top of base (usually the tiny preset): batch of 3, `probes` entries per
 * tensor. Per-tensor lines go to log (NULL: silent). Returns 0 when it ran (see res->failed),
 * -1 + lv_error() when the variant could not be built. opt may be NULL. */
int lv_gradcheck_run(const lv_config *base, const lv_gradcheck_variant *v, int64_t probes,
                     const lv_backend *be, FILE *log, lv_gradcheck_result *res);
int lv_gradcheck_run_opts(const lv_config *base, const lv_gradcheck_variant *v, int64_t probes,
                          const lv_backend *be, const lv_gradcheck_options *opt, FILE *log,
                          lv_gradcheck_result *res);

#endif
