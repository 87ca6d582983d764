/* Counter-based random numbers (Philox4x32-10): every value is a pure function of
 * (seed, purpose, step, sample, position), so masks, initialisation and data order are the
 * same on every backend and for every thread count. No global state. */
#ifndef LV_RNG_H
#define LV_RNG_H

#include <stdint.h>

/* What a stream is used for; keeps e.g. the mask of sample 3 independent of its data order. */
enum {
    LV_RNG_INIT = 1,        /* parameter initialisation (sample = tensor index) */
    LV_RNG_MASK = 2,        /* token masking */
    LV_RNG_DATA = 3,        /* data order, augmentation */
    LV_RNG_TEST = 100       /* tests */
};

typedef struct {
    uint32_t key[2];        /* the seed */
    uint32_t ctr[4];        /* block index, step, sample, purpose */
    uint32_t block[4];      /* current output block */
    int used;               /* words of block consumed (4 = refill) */
    int have_spare;         /* Box-Muller's second normal is cached */
    double spare;
} lv_rng;

/* One Philox4x32-10 block: out = philox(ctr, key). */
void lv_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

/* The stream for (seed, purpose, step, sample), positioned at its start. */
lv_rng lv_rng_stream(uint64_t seed, uint32_t purpose, uint32_t step, uint32_t sample);

uint32_t lv_rng_u32(lv_rng *r);
uint64_t lv_rng_u64(lv_rng *r);
double lv_rng_uniform(lv_rng *r);                 /* [0, 1), 53 random bits */
double lv_rng_normal(lv_rng *r);                  /* N(0, 1), Box-Muller */
uint64_t lv_rng_below(lv_rng *r, uint64_t n);     /* uniform in [0, n), unbiased; n > 0 */
void lv_rng_permutation(lv_rng *r, int64_t *perm, int64_t n);   /* uniform permutation of 0..n-1 */

#endif
