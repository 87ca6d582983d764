/* The fast CPU kernels: same contracts as ref/kernels.h, built for speed (OpenBLAS, OpenMP).
 * Without OpenBLAS (NO_BLAS=1) the matmul falls back to a blocked OpenMP loop. */
#ifndef LV_BLAS_GLUE_H
#define LV_BLAS_GLUE_H

#include "kernels.h"

/* Same contract as lv_sgemm_ref (row-major, BLAS alpha/beta/transpose semantics). */
void lv_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc);

/* What does the matmul: "OpenBLAS <version> (<core>, openmp)" or the fallback's name. */
const char *lv_sgemm_backend(void);

#endif
