/* Random and tube token masking (see mask.h). The subset is drawn by selection sampling (Knuth,
 * TAOCP vol. 2, 3.4.2, Algorithm S): one pass over the candidates in order, so the kept list
 * comes out ascending, with no scratch buffer and no sort, uniform over all subsets of its size. */
#include "mask.h"
#include "error.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* Tokens kept out of n at this masking ratio: round((1 - ratio) n), C's round() (half away from
 * zero), but never fewer than 1, so every sample keeps a token to pool. */
static int64_t kept_of(double ratio, int64_t n)
{
    const int64_t k = (int64_t)round((1.0 - ratio) * (double)n);
    return k > 0 ? k : 1;
}

/* K for a batch: it depends only on the kind, the ratio and the grid, never on the draw, so
 * every sample of a batch keeps the same count and the kept tokens stack as (B, K). The
 * arguments are validated here, once, for lv_mask_keep too. */
int64_t lv_mask_kept_count(lv_mask_kind kind, double ratio, int64_t N, int64_t P)
{
    /* these come from a configuration, so they are reported (-1), not asserted like a shape */
    if (kind != LV_MASK_RANDOM && kind != LV_MASK_TUBE)
        return lv_set_error("mask kind %d is neither random (0) nor tube (1)", (int)kind);
    if (!(ratio >= 0.0 && ratio <= LV_MASK_RATIO_MAX))
        return lv_set_error("mask ratio %g is outside [0, %g]: the paper masks up to 0.75",
                            ratio, LV_MASK_RATIO_MAX);
    if (N <= 0 || P <= 0)
        return lv_set_error("mask over N=%lld tokens with P=%lld positions per time step: "
                            "both must be positive", (long long)N, (long long)P);
    if (kind == LV_MASK_RANDOM)
        return kept_of(ratio, N);
    /* tube: the ratio applies to the P positions of one time step, kept in all Ft = N / P */
    if (N % P)
        return lv_set_error("tube masking needs whole time steps: N=%lld tokens is not a multiple "
                            "of P=%lld positions; use random masking or a whole number of "
                            "tubelets in time", (long long)N, (long long)P);
    return kept_of(ratio, P) * (N / P);
}

/* Selection sampling: candidate i is kept with probability (still needed) / (still unseen),
 * decided by an unbiased integer draw, so every k-subset of 0..n-1 is equally likely.
 * Why uniform: with k - m still needed among the n - i unseen, keeping i with probability
 * (k - m) / (n - i) is exactly the share of the remaining subsets that contain i. When
 * k - m = n - i every draw keeps, so exactly k are chosen; the loop stops once m = k.
 * The draw is an integer below n - i compared with k - m, not a double against a fraction:
 * no rounding, the same result everywhere. kept: (k), filled in increasing order. */
static void select_ascending(int64_t *kept, int64_t k, int64_t n, lv_rng *r)
{
    int64_t m = 0;                                     /* kept so far */
    for (int64_t i = 0; i < n && m < k; i++)
        if ((int64_t)lv_rng_below(r, (uint64_t)(n - i)) < k - m)
            kept[m++] = i;
}

/* One sample's kept list, kept (K) ascending in [0, N). The stream is (seed, step, sample), so
 * the mask of a sample does not depend on which thread, backend or batch position draws it. */
int64_t lv_mask_keep(int64_t *kept, lv_mask_kind kind, double ratio, int64_t N, int64_t P,
                     uint64_t seed, uint32_t step, uint32_t sample)
{
    const int64_t K = lv_mask_kept_count(kind, ratio, N, P);
    if (K < 0)
        return -1;
    lv_rng r = lv_rng_stream(seed, LV_RNG_MASK, step, sample);
    /* random: any K of the N grid indices */
    if (kind == LV_MASK_RANDOM) {
        select_ascending(kept, K, N, &r);
        return K;
    }
    /* tube: the positions of time step 0 in kept[0 .. Kp), then the same positions shifted to
     * each later step t in kept[t Kp .. (t+1) Kp); step t's indices all lie in [t P, (t+1) P),
     * so the whole list stays ascending */
    const int64_t Ft = N / P, Kp = K / Ft;             /* time steps, positions kept per step */
    select_ascending(kept, Kp, P, &r);
    for (int64_t t = 1; t < Ft; t++)
        for (int64_t k = 0; k < Kp; k++)
            kept[t * Kp + k] = t * P + kept[k];
    return K;
}

/* The spelling used on the command line (--mask-kind) and in messages; "invalid" otherwise. */
const char *lv_mask_kind_name(lv_mask_kind kind)
{
    return kind == LV_MASK_TUBE ? "tube" : kind == LV_MASK_RANDOM ? "random" : "invalid";
}

/* The inverse of lv_mask_kind_name, exact and case-sensitive; *kind is untouched on error. */
int lv_mask_kind_parse(const char *name, lv_mask_kind *kind)
{
    if (!strcmp(name, "random"))
        *kind = LV_MASK_RANDOM;
    else if (!strcmp(name, "tube"))
        *kind = LV_MASK_TUBE;
    else
        return lv_set_error("unknown mask kind '%s': use random or tube", name);
    return 0;
}
