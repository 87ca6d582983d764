/* The fast matmul (OpenBLAS, or the blocked fallback of NO_BLAS=1) against the plain one, on
 * odd shapes, every transpose combination, alpha/beta, padded leading dimensions. */
#include "blas_glue.h"
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

Suite *sgemm_suite(void)
{
    Suite *s = suite_create("sgemm");
    TCase *tc = tcase_create("blas_vs_naive");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_sgemm_vs_ref, 0, 64);
    suite_add_tcase(s, tc);
    return s;
}
