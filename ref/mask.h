/* Token masking, the paper's main lever: which tubelet tokens each sample keeps before the first
 * transformer block. The choice is a pure function of (seed, step, sample), so every backend and
 * thread count drops the same tokens; no allocation, no global state. */
#ifndef LV_MASK_H
#define LV_MASK_H

#include <stdint.h>

typedef enum { LV_MASK_RANDOM = 0, LV_MASK_TUBE = 1 } lv_mask_kind;

#define LV_MASK_RATIO_MAX 0.9   /* the largest masking ratio accepted (the paper uses 0.75) */

/* Tokens kept per sample out of N = Ft * P (P spatial positions per time step), at least 1:
 * random: round((1 - ratio) * N); tube: round((1 - ratio) * P) * Ft (round half away from zero).
 * Returns -1 + lv_set_error(...) for a ratio outside [0, 0.9], N or P <= 0, or N not a multiple
 * of P for tube masking. */
int64_t lv_mask_kept_count(lv_mask_kind kind, double ratio, int64_t N, int64_t P);

/* kept: (K) token indices in [0, N), strictly increasing (so the tokens of one time step stay
 * contiguous), a uniformly random subset drawn from the Philox stream
 * lv_rng_stream(seed, LV_RNG_MASK, step, sample): the same on every backend and for any thread
 * count. random: any K of the N tokens; tube: the same K/Ft spatial positions kept in every time
 * step (VideoMAE tube masking). Returns K = lv_mask_kept_count(...), or -1 with its error. */
int64_t lv_mask_keep(int64_t *kept, lv_mask_kind kind, double ratio, int64_t N, int64_t P,
                     uint64_t seed, uint32_t step, uint32_t sample);

/* The mask kind spelled "random" / "tube"; lv_mask_kind_parse returns 0, or -1 + lv_set_error
 * for any other spelling. */
const char *lv_mask_kind_name(lv_mask_kind kind);
int lv_mask_kind_parse(const char *name, lv_mask_kind *kind);

#endif
