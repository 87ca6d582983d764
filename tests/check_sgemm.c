/* The fast matmul (OpenBLAS, or the blocked fallback of NO_BLAS=1) against the plain one, on
 * odd shapes, every transpose combination, alpha/beta, padded leading dimensions; and the
 * attention tiles' matmul (lv_tile_gemm) against a double loop, with its test of the test; and
 * the softmax's exp (exp_neg, blas_glue/cpu_common.h, as blas_glue compiles it) against libm's
 * in double. */
#include "blas_glue.h"
#include "cpu_common.h"
#include "tolerance.h"
#include "check_util.h"
#include "suites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const int64_t dims[] = { 1, 7, 33, 257 };

START_TEST(test_sgemm_vs_ref)
{
    /* _i enumerates (M, N, K) over dims^3 */
    const int64_t M = dims[_i / 16], N = dims[(_i / 4) % 4], K = dims[_i % 4];
    lv_rng r = test_rng(1000 + _i);
    double worst = 0.0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
            float *A = rand_floats(&r, (ta ? K : M) * lda, 1);
            float *B = rand_floats(&r, (tb ? N : K) * ldb, 1);
            float *C0 = rand_floats(&r, M * ldc, 1);
            float *C1 = malloc(M * ldc * sizeof *C1), *C2 = malloc(M * ldc * sizeof *C2);
            const float alpha = 0.75f, beta = (ta + tb) % 2 ? 0.0f : -0.5f;
            for (int64_t i = 0; i < M * ldc; i++) {
                /* beta = 0 must overwrite C: NaN there must not leak into the result */
                C1[i] = C2[i] = beta == 0.0f ? NAN : C0[i];
            }
            lv_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
            lv_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
            /* error grows like sqrt(K) |a||b|: compare in units of sqrt(K) */
            double *want = malloc(M * N * sizeof *want);
            float *got = malloc(M * N * sizeof *got);
            const double unit = sqrt((double)K);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    want[i * N + j] = C2[i * ldc + j] / unit;
                    got[i * N + j] = (float)(C1[i * ldc + j] / unit);
                }
            printf("sgemm M=%lld N=%lld K=%lld trans_a=%d trans_b=%d beta=%g (%s)\n",
                   (long long)M, (long long)N, (long long)K, ta, tb, beta, lv_sgemm_backend());
            const double w = compare_f32_f64("sgemm", "C", LV_CHECK_FAST, got, want, M * N);
            worst = lv_margin_max(worst, w);
            /* the padding columns of C are never written */
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = N; j < ldc; j++)
                    ck_assert(isnan(C1[i * ldc + j]) || C1[i * ldc + j] == C0[i * ldc + j]);
            free(A), free(B), free(C0), free(C1), free(C2), free(want), free(got);
        }
    ck_assert(worst <= 1.0);
}
END_TEST

/* ---- lv_tile_gemm ---------------------------------------------------------------------------- */

/* Every row tail (1-5 and 6-row blocks), every column panel (64, 32, 16 wide), A read by rows
 * (sar = lda, sak = 1) and transposed (sar = 1, sak = lda), written and accumulated into. */
static const int64_t tile_m[] = { 1, 5, 6, 13, 64, 71 };
static const int64_t tile_n[] = { 16, 48, 64, 112, 240 };
static const int64_t tile_k[] = { 1, 7, 64, 240 };

/* C0 + alpha A B in double (accumulate) or alpha A B, over sqrt(K) */
static void tile_want(double *want, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
                      int64_t sar, int64_t sak, const float *b, int64_t ldb, int accumulate,
                      const float *c0, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)a[i * sar + k * sak] * b[k * ldb + j];
            want[i * N + j] = ((accumulate ? c0[i * ldc + j] : 0.0) + alpha * acc) /
                              sqrt((double)K);
        }
}

START_TEST(test_tile_gemm_vs_double)
{
    /* _i enumerates (M, N, K) */
    const int64_t M = tile_m[_i / 20], N = tile_n[(_i / 4) % 5], K = tile_k[_i % 4];
    lv_rng r = test_rng(2000 + _i);
    const lv_tolerance *t = lv_tolerance_get("tile_gemm", "C", LV_CHECK_FAST);
    double worst = 0.0;
    for (int trans_a = 0; trans_a < 2; trans_a++)
        for (int accumulate = 0; accumulate < 2; accumulate++) {
            const int64_t lda = (trans_a ? M : K) + 3, ldb = N + 5, ldc = N + 7;
            const int64_t sar = trans_a ? 1 : lda, sak = trans_a ? lda : 1;
            float *a = rand_floats(&r, (trans_a ? K : M) * lda, 1);
            float *b = rand_floats(&r, K * ldb, 1);
            float *c0 = rand_floats(&r, M * ldc, 1), *c = malloc(M * ldc * sizeof *c);
            /* written, not accumulated: NaN in C before must not reach the result */
            for (int64_t i = 0; i < M * ldc; i++)
                c[i] = accumulate ? c0[i] : NAN;
            const float alpha = 0.375f;
            lv_tile_gemm(M, N, K, alpha, a, sar, sak, b, ldb, accumulate, c, ldc);
            double *want = malloc(M * N * sizeof *want);
            float *got = malloc(M * N * sizeof *got);
            tile_want(want, M, N, K, alpha, a, sar, sak, b, ldb, accumulate, c0, ldc);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    got[i * N + j] = (float)(c[i * ldc + j] / sqrt((double)K));
            printf("tile_gemm M=%lld N=%lld K=%lld A%s accumulate=%d\n", (long long)M,
                   (long long)N, (long long)K, trans_a ? "^T" : "", accumulate);
            const double w = compare_f32_f64("tile_gemm", "C", LV_CHECK_FAST, got, want, M * N);
            worst = lv_margin_max(worst, w);
            /* the test of the test: an entry off by 1.5 tolerances, or a NaN, must fail */
            const int64_t at = (M * N) / 2;
            const double tol = t->abs + t->rel * fabs(want[at]);
            const float keep = got[at];
            got[at] = (float)(want[at] + 1.5 * tol);
            ck_assert(compare_stats(t, got, want, M * N).worst > 1.0);
            got[at] = NAN;
            ck_assert(compare_stats(t, got, want, M * N).worst > 1.0);
            got[at] = keep;
            /* the padding columns of C are never touched */
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = N; j < ldc; j++)
                    ck_assert(accumulate ? c[i * ldc + j] == c0[i * ldc + j]
                                         : isnan(c[i * ldc + j]));
            free(a), free(b), free(c0), free(c), free(want), free(got);
        }
    ck_assert(worst <= 1.0);
}
END_TEST

/* ---- exp_neg --------------------------------------------------------------------------------- */

/* exp_neg's error in units of the float spacing at the true value (ulp) */
static double exp_ulps(float got, double x)
{
    const double want = exp(x);
    if (isnan(got))
        return INFINITY;
    const double ulp = nextafterf((float)want, INFINITY) - (float)want;
    return fabs(got - want) / ulp;
}

START_TEST(test_exp_neg)
{
    /* every 1/4096 of [-87, 0] and random points: within 2 ulp of exp; below -87 exactly 0 */
    lv_rng r = test_rng(2500);
    double worst = 0.0, worst_x = 0.0;
    const int64_t steps = 87 * 4096;
    for (int64_t i = 0; i <= steps + 100000; i++) {
        const float x = i <= steps ? (float)(-(double)i / 4096.0)
                                   : (float)(-87.0 * lv_rng_uniform(&r));
        const double e = exp_ulps(lv_cpu_exp_neg(x), x);
        if (e > worst)
            worst = e, worst_x = x;
    }
    printf("exp_neg: worst %.2f ulp at x = %.6f over [-87, 0] (%lld points)\n", worst, worst_x,
           (long long)steps + 100001);
    ck_assert(worst <= 2.0);
    ck_assert(lv_cpu_exp_neg(0.0f) == 1.0f && lv_cpu_exp_neg(-0.0f) == 1.0f);
    ck_assert(lv_cpu_exp_neg(-87.5f) == 0.0f && lv_cpu_exp_neg(-1000.0f) == 0.0f);
    ck_assert(lv_cpu_exp_neg(-INFINITY) == 0.0f && isnan(lv_cpu_exp_neg(NAN)));
    /* the test of the test: 3 ulp off, or a NaN, is caught by the same measure */
    const float x = -3.25f, e = lv_cpu_exp_neg(x);
    ck_assert(exp_ulps(nextafterf(nextafterf(nextafterf(e, 1.0f), 1.0f), 1.0f), x) > 2.0);
    ck_assert(exp_ulps(NAN, x) > 2.0);
}
END_TEST

/* ---- how matmul jobs share threads (lv_gemm_job_parts) ------------------------------------- */

/* The threads a kernel's jobs take: never more than asked (one thread once ran a backward's two
 * jobs on two), rows or columns split by LV_SPLIT_MIN, a backward's pair a thread each */
START_TEST(test_gemm_job_parts)
{
    const lv_gemm_job big = { .M = 1568, .N = 384 }, wide = { .M = 32, .N = 1536 };
    const lv_gemm_job small = { .M = 32, .N = 96 }, dw = { .ta = 1, .M = 384, .N = 384 };
    const lv_gemm_job pair[2] = { big, dw };
    int64_t parts[2];
    struct {
        const lv_gemm_job *jobs;
        int n;
        int64_t T;
        int rows_only;
        int64_t threads, p0, p1;      /* p1 < 0: one job */
    } cases[] = {
        { pair, 2, 1, 0, 1, 1, 1 },   /* one thread: whole, one after the other */
        { pair, 2, 2, 0, 2, 1, 1 },   /* a thread each */
        { pair, 2, 4, 0, 4, 2, 2 },
        { pair, 2, 3, 0, 3, 1, 2 },   /* the last job takes the remainder */
        { &big, 1, 2, 0, 2, 2, -1 },  /* rows split */
        { &big, 1, 1, 0, 1, 1, -1 },
        { &wide, 1, 2, 0, 2, 2, -1 }, /* columns split: C is short and wide */
        { &wide, 1, 2, 1, 1, 1, -1 }, /* rows only (bf16): 32 rows do not split */
        { &small, 1, 2, 0, 1, 1, -1 },/* under 2 x LV_SPLIT_MIN both ways: whole */
        { &dw, 1, 2, 1, 1, 1, -1 },   /* rows only, A transposed: not split */
        { &dw, 1, 2, 0, 2, 2, -1 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t got = lv_gemm_job_parts(cases[c].jobs, cases[c].n, cases[c].T,
                                              cases[c].rows_only, parts);
        printf("jobs %zu: %d job(s) on %lld threads%s: %lld threads, parts %lld %lld\n", c,
               cases[c].n, (long long)cases[c].T, cases[c].rows_only ? " (rows only)" : "",
               (long long)got, (long long)parts[0], cases[c].n > 1 ? (long long)parts[1] : -1LL);
        ck_assert_int_le(got, cases[c].T);
        ck_assert_int_eq(got, cases[c].threads);
        ck_assert_int_eq(parts[0], cases[c].p0);
        if (cases[c].n > 1)
            ck_assert_int_eq(parts[1], cases[c].p1);
    }
}
END_TEST

Suite *sgemm_suite(void)
{
    Suite *s = suite_create("sgemm");
    TCase *tc = tcase_create("blas_vs_naive");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_sgemm_vs_ref, 0, 64);
    suite_add_tcase(s, tc);
    TCase *tile = tcase_create("tile_gemm_vs_double");
    tcase_set_timeout(tile, 120);
    tcase_add_loop_test(tile, test_tile_gemm_vs_double, 0, 6 * 5 * 4);
    suite_add_tcase(s, tile);
    TCase *jp = tcase_create("gemm_job_parts");
    tcase_add_test(jp, test_gemm_job_parts);
    suite_add_tcase(s, jp);
    TCase *e = tcase_create("exp_neg");
    tcase_add_test(e, test_exp_neg);
    suite_add_tcase(s, e);
    return s;
}
