/* The plain matrix multiply every fast one is checked against: one dot product per output,
 * accumulated in double. Row-major, BLAS semantics for alpha, beta and the transposes.
 * No blocking, no threads, no vector code: those are what it is the oracle for. */
#include "kernels.h"
#include "error.h"

/* C = alpha op(A) op(B) + beta C, one output at a time:
 *   C[i,j] = alpha sum_p op(A)[i,p] op(B)[p,j] + beta C[i,j],
 *   op(A)[i,p] = trans_a ? A[p,i] : A[i,p],   op(B)[p,j] = trans_b ? B[j,p] : B[p,j].
 * M, N, K are the matrix sizes here, not the legend's tokens: op(A) (M, K), op(B) (K, N),
 * C (M, N). A is stored (M, K), or (K, M) when transposed, its rows lda apart, so lda >= K, or
 * M (checked); likewise B with ldb and C with ldc. The dot product runs in double and alpha,
 * beta apply in double, so each C[i,j] is rounded once. beta == 0 never reads C, which may then
 * hold NaN or garbage: BLAS's rule. No backward: the gradients of a product are two more
 * products, d op(A) = alpha dC op(B)^T and d op(B) = alpha op(A)^T dC, made by its callers. */
void lv_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc)
{
    LV_REQUIRE(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;                          /* sum_p op(A)[i,p] op(B)[p,j] */
            for (int64_t p = 0; p < K; p++) {
                const float a = trans_a ? A[p * lda + i] : A[i * lda + p];
                const float b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}
