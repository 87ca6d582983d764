/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) and the
 * helpers built on it. Plain integer arithmetic only; the output is the same on every platform.
 * Counter-based, not a sequential generator like a Mersenne Twister: value i of a stream is a
 * function of i and the stream's numbers alone, so threads share no state and any stream can be
 * recreated at any step. */
#include "rng.h"
#include "error.h"

#include <math.h>

/* The paper's constants (as in Random123): the two round multipliers, and the Weyl increments
 * added to the key between rounds (golden ratio and sqrt(3) - 1, as 32-bit fractions). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* One round on the 4-word counter block c with round key k: two 32 x 32 -> 64 bit products
 * (the only nonlinear step), whose high halves are mixed with the other two words and the
 * key by xor, and whose low halves move to words 1 and 3. */
static void philox_round(uint32_t c[4], const uint32_t k[2])
{
    const uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];    /* full 64-bit products */
    const uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c[0] = hi1 ^ c[1] ^ k[0];
    c[1] = lo1;
    c[2] = hi0 ^ c[3] ^ k[1];
    c[3] = lo0;
}

/* Ten rounds, the key bumped by (W0, W1) before each round after the first. Checked against
 * Random123's known-answer vectors in tests/check_rng.c. */
void lv_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2])
{
    uint32_t c[4] = { ctr[0], ctr[1], ctr[2], ctr[3] };   /* the block, scrambled in place */
    uint32_t k[2] = { key[0], key[1] };                   /* the round key */
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    for (int i = 0; i < 4; i++)
        out[i] = c[i];
}

/* The 64-bit seed is the key; the counter is (block index, step, sample, purpose), so streams
 * with any other step, sample or purpose never share a block. used = 4 makes the first draw
 * compute block 0; the other fields (have_spare, block) start at zero. */
lv_rng lv_rng_stream(uint64_t seed, uint32_t purpose, uint32_t step, uint32_t sample)
{
    lv_rng r = { .key = { (uint32_t)seed, (uint32_t)(seed >> 32) },
                 .ctr = { 0, step, sample, purpose },
                 .used = 4 };
    return r;
}

/* Next word of the stream: one Philox block gives four, then the block index advances. */
uint32_t lv_rng_u32(lv_rng *r)
{
    if (r->used == 4) {                                /* block used up: compute the next one */
        lv_philox4x32_10(r->block, r->ctr, r->key);
        r->ctr[0]++;
        LV_REQUIRE(r->ctr[0] != 0);   /* 2^34 values per stream; a new stream is cheaper */
        r->used = 0;
    }
    return r->block[r->used++];
}

/* Two words, the first one drawn as the high half (a separate statement fixes the order). */
uint64_t lv_rng_u64(lv_rng *r)
{
    const uint64_t hi = lv_rng_u32(r);
    return (hi << 32) | lv_rng_u32(r);
}

/* The top 53 bits times 2^-53: every value is a multiple of 2^-53 in [0, 1), all exactly
 * representable in a double, each equally likely; 1.0 itself never comes out. */
double lv_rng_uniform(lv_rng *r)
{
    return (double)(lv_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller: for u1, u2 uniform, radius = sqrt(-2 ln u1) and angle = 2 pi u2 make
 * radius cos(angle) and radius sin(angle) two independent N(0, 1) values. The first is
 * returned, the second kept as the spare for the next call. */
double lv_rng_normal(lv_rng *r)
{
    if (r->have_spare) {                               /* the sine half of the last pair */
        r->have_spare = 0;
        return r->spare;
    }
    const double u1 = 1.0 - lv_rng_uniform(r);   /* (0, 1]: log stays finite */
    const double u2 = lv_rng_uniform(r);
    const double radius = sqrt(-2.0 * log(u1)), angle = 2.0 * M_PI * u2;
    r->spare = radius * sin(angle);
    r->have_spare = 1;
    return radius * cos(angle);
}

/* x % n alone would favour small residues when n does not divide 2^64. */
uint64_t lv_rng_below(lv_rng *r, uint64_t n)
{
    LV_REQUIRE(n > 0);
    /* reject the top 2^64 mod n values so every residue is equally likely */
    /* threshold = 2^64 mod n, computed as (2^64 - n) mod n in unsigned arithmetic; the values
     * kept, threshold .. 2^64 - 1, are a whole multiple of n. Fewer than 2 draws on average. */
    const uint64_t threshold = (0 - n) % n;
    for (;;) {
        const uint64_t x = lv_rng_u64(r);
        if (x >= threshold)
            return x % n;
    }
}

/* perm (n): a uniformly random order of 0..n-1, each of the n! orders equally likely because
 * every pick below is unbiased (lv_rng_below). */
void lv_rng_permutation(lv_rng *r, int64_t *perm, int64_t n)
{
    for (int64_t i = 0; i < n; i++)                    /* the identity */
        perm[i] = i;
    /* Fisher-Yates: position i takes a uniform pick among perm[0 .. i], which then is final */
    for (int64_t i = n - 1; i > 0; i--) {   /* Fisher-Yates */
        const int64_t j = (int64_t)lv_rng_below(r, (uint64_t)i + 1);
        const int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
