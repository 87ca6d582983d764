/* The counter-based RNG: Random123's known answers for Philox4x32-10, reproducibility from
 * (seed, purpose, step, sample), independence from the thread count, and the distributions. */
#include "check_util.h"
#include "suites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

START_TEST(test_philox_known_answers)
{
    /* Random123's kat_vectors for philox4x32_10 */
    static const uint32_t kat[3][10] = {
        { 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
        { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
          0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
        { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
          0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        lv_philox4x32_10(out, kat[i], kat[i] + 4);
        for (int j = 0; j < 4; j++)
            ck_assert_uint_eq(out[j], kat[i][6 + j]);
    }
    printf("  philox4x32-10: 3 of 3 Random123 known-answer vectors match\n");
}
END_TEST

START_TEST(test_rng_streams)
{
    lv_rng a = lv_rng_stream(42, LV_RNG_MASK, 7, 3), b = lv_rng_stream(42, LV_RNG_MASK, 7, 3);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(lv_rng_u32(&a), lv_rng_u32(&b));
    /* each coordinate of the stream key changes the numbers */
    const lv_rng others[4] = { lv_rng_stream(43, LV_RNG_MASK, 7, 3),
                               lv_rng_stream(42, LV_RNG_INIT, 7, 3),
                               lv_rng_stream(42, LV_RNG_MASK, 8, 3),
                               lv_rng_stream(42, LV_RNG_MASK, 7, 4) };
    for (int k = 0; k < 4; k++) {
        lv_rng x = lv_rng_stream(42, LV_RNG_MASK, 7, 3), y = others[k];
        int same = 0;
        for (int i = 0; i < 64; i++)
            same += lv_rng_u32(&x) == lv_rng_u32(&y);
        ck_assert_int_lt(same, 2);
    }
    printf("  streams: identical for equal (seed, purpose, step, sample), distinct otherwise\n");
}
END_TEST

/* Sample s's numbers computed inside a parallel loop equal the serial ones, whatever the
 * number of threads: every stream is a pure function of its key. */
START_TEST(test_rng_thread_independence)
{
    enum { SAMPLES = 64, PER = 257 };
    static double serial[SAMPLES][PER], parallel[SAMPLES][PER];
    for (int s = 0; s < SAMPLES; s++) {
        lv_rng r = lv_rng_stream(9, LV_RNG_INIT, 1, (uint32_t)s);
        for (int i = 0; i < PER; i++)
            serial[s][i] = lv_rng_normal(&r);
    }
    int threads = 1;
#ifdef _OPENMP
    omp_set_num_threads(3);
    #pragma omp parallel
    #pragma omp single
    threads = omp_get_num_threads();
#endif
    #pragma omp parallel for schedule(dynamic, 1)
    for (int s = SAMPLES - 1; s >= 0; s--) {
        lv_rng r = lv_rng_stream(9, LV_RNG_INIT, 1, (uint32_t)s);
        for (int i = 0; i < PER; i++)
            parallel[s][i] = lv_rng_normal(&r);
    }
    ck_assert(memcmp(serial, parallel, sizeof serial) == 0);
    printf("  %d streams bit-identical with 1 and %d threads\n", SAMPLES, threads);
}
END_TEST

START_TEST(test_rng_distributions)
{
    lv_rng r = test_rng(1);
    const int n = 400000;
    double su = 0, sn = 0, sn2 = 0, umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        const double u = lv_rng_uniform(&r), z = lv_rng_normal(&r);
        su += u;
        sn += z;
        sn2 += z * z;
        umin = fmin(umin, u);
        umax = fmax(umax, u);
    }
    const double mean_u = su / n, mean_n = sn / n, var_n = sn2 / n - mean_n * mean_n;
    /* 5 standard errors: sd(u) = 1/sqrt(12), sd(z) = 1, sd(z^2) = sqrt(2) */
    ck_assert(umin >= 0.0 && umax < 1.0);
    ck_assert(fabs(mean_u - 0.5) < 5 * sqrt(1.0 / 12 / n));
    ck_assert(fabs(mean_n) < 5 / sqrt(n));
    ck_assert(fabs(var_n - 1) < 5 * sqrt(2.0 / n));
    printf("  uniform mean %.5f (want 0.5); normal mean %.5f var %.5f (want 0, 1); n=%d\n",
           mean_u, mean_n, var_n, n);
}
END_TEST

START_TEST(test_rng_below_and_permutation)
{
    lv_rng r = test_rng(2);
    /* below(7): chi-square with 6 degrees of freedom; 22.46 is its 0.999 quantile */
    enum { BINS = 7, DRAWS = 70000 };
    int64_t count[BINS] = { 0 };
    for (int i = 0; i < DRAWS; i++)
        count[lv_rng_below(&r, BINS)]++;
    double chi2 = 0;
    for (int b = 0; b < BINS; b++)
        chi2 += pow(count[b] - DRAWS / BINS, 2) / (DRAWS / BINS);
    ck_assert(chi2 < 22.46);
    /* permutations of 4: all 24 orders equally likely; 0.999 quantile of chi2(23) is 49.73 */
    int64_t seen[256] = { 0 };
    const int perms = 48000;
    for (int i = 0; i < perms; i++) {
        int64_t p[4];
        lv_rng_permutation(&r, p, 4);
        int used = 0, code = 0;
        for (int j = 0; j < 4; j++) {
            ck_assert(p[j] >= 0 && p[j] < 4 && !(used & (1 << p[j])));
            used |= 1 << p[j];
            code = code * 4 + (int)p[j];
        }
        seen[code]++;
    }
    double chi2p = 0;
    int distinct = 0;
    for (int c = 0; c < 256; c++)
        if (seen[c]) {
            distinct++;
            chi2p += pow(seen[c] - perms / 24.0, 2) / (perms / 24.0);
        }
    ck_assert_int_eq(distinct, 24);
    ck_assert(chi2p < 49.73);
    int64_t big[1000];
    lv_rng_permutation(&r, big, 1000);
    int64_t sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += big[i];
    ck_assert_int_eq(sum, 999 * 1000 / 2);
    printf("  below(7) chi2 %.2f (< 22.46); permutations of 4: 24 orders, chi2 %.2f (< 49.73)\n",
           chi2, chi2p);
}
END_TEST

Suite *rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("philox");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_philox_known_answers);
    tcase_add_test(tc, test_rng_streams);
    tcase_add_test(tc, test_rng_thread_independence);
    tcase_add_test(tc, test_rng_distributions);
    tcase_add_test(tc, test_rng_below_and_permutation);
    suite_add_tcase(s, tc);
    return s;
}
