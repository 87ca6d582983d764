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
    int64_t failed;              /* entries outside tolerance */
    double max_rel_err;          /* max |a - n| / max(|a|, |n|, floor) */
    char worst[96];              /* tensor of the worst entry */
} lv_gradcheck_result;

/* Checks one variant on top of base (usually the tiny preset): batch of 3, `probes` entries per
 * tensor. Per-tensor lines go to log (NULL: silent). Returns 0 when it ran (see res->failed),
 * -1 + lv_error() when the variant could not be built. */
int lv_gradcheck_run(const lv_config *base, const lv_gradcheck_variant *v, int64_t probes,
                     const lv_backend *be, FILE *log, lv_gradcheck_result *res);

#endif
