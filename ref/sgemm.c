/* The plain matrix multiply every fast one is checked against: one dot product per output,
 * accumulated in double. Row-major, BLAS semantics for alpha, beta and the transposes. */
#include "kernels.h"
#include "error.h"

void lv_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc)
{
    LV_REQUIRE(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < K; p++) {
                const float a = trans_a ? A[p * lda + i] : A[i * lda + p];
                const float b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}
