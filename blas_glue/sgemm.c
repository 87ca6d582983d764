/* Row-major sgemm glue: maps the contract onto cblas_sgemm. Threading is OpenBLAS's own (its
 * OpenMP build); we never set its thread count. Without OpenBLAS, a cache-blocked OpenMP loop
 * with the same contract stands in, so NO_BLAS=1 builds still run every test. */
#include "blas_glue.h"
#include "error.h"

#include <limits.h>
#include <stdio.h>

#ifdef LV_HAVE_BLAS
#include <cblas.h>

void lv_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc)
{
    LV_REQUIRE(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX &&
               ldb <= INT_MAX && ldc <= INT_MAX);
    LV_REQUIRE(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N);
    if (M == 0 || N == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha,
                A, (int)(lda ? lda : 1), B, (int)(ldb ? ldb : 1), beta, C, (int)ldc);
}

const char *lv_sgemm_backend(void)
{
    static char name[160];
    snprintf(name, sizeof name, "OpenBLAS (%s; core %s)", openblas_get_config(),
             openblas_get_corename());
    return name;
}

#else

enum { TILE_M = 64, TILE_N = 256, TILE_K = 256 };

void lv_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc)
{
    LV_REQUIRE(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N);
    /* C = beta C first, then accumulate alpha op(A) op(B) tile by tile */
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    #pragma omp parallel for schedule(dynamic)
    for (int64_t i0 = 0; i0 < M; i0 += TILE_M)
        for (int64_t p0 = 0; p0 < K; p0 += TILE_K)
            for (int64_t j0 = 0; j0 < N; j0 += TILE_N) {
                const int64_t i1 = i0 + TILE_M < M ? i0 + TILE_M : M;
                const int64_t p1 = p0 + TILE_K < K ? p0 + TILE_K : K;
                const int64_t j1 = j0 + TILE_N < N ? j0 + TILE_N : N;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t p = p0; p < p1; p++) {
                        const float a = alpha * (trans_a ? A[p * lda + i] : A[i * lda + p]);
                        float *c = C + i * ldc;
                        if (trans_b)
                            for (int64_t j = j0; j < j1; j++)
                                c[j] += a * B[j * ldb + p];
                        else
                            for (int64_t j = j0; j < j1; j++)
                                c[j] += a * B[p * ldb + j];
                    }
            }
}

const char *lv_sgemm_backend(void)
{
    return "built-in blocked loop (NO_BLAS=1)";
}

#endif
