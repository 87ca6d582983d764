/* The fast CPU kernels: same contracts as ref/kernels.h, built for speed (OpenBLAS, OpenMP).
 * Without OpenBLAS (NO_BLAS=1) the matmul falls back to a blocked OpenMP loop. */
#ifndef LV_BLAS_GLUE_H
#define LV_BLAS_GLUE_H

#include "backend.h"

/* Same contract as lv_sgemm_ref (row-major, BLAS alpha/beta/transpose semantics). */
void lv_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc);

/* What does the matmul: "OpenBLAS <version> (<core>, openmp)" or the fallback's name. */
const char *lv_sgemm_backend(void);

/* The fast CPU backend: the kernels of lv_backend_ref with the same contracts and cache layouts,
 * on lv_sgemm and OpenMP. Threads: OMP_NUM_THREADS (OpenBLAS's OpenMP build follows it too). */
extern const lv_backend lv_backend_cpu;

/* 1 when every kernel of lv_backend_cpu, matmuls included, is bit-identical on any number of
 * threads (NO_BLAS builds); 0 with OpenBLAS, whose sgemm blocking follows the thread count:
 * there only the kernels without a matmul are (linear, tubelet and InfoNCE agree within
 * tolerance). */
int lv_backend_cpu_thread_exact(void);

/* ---- the registry: every backend of this build, by name (blas_glue/registry.c) --------------
 * "ref" (the plain kernels), "cpu" (OpenBLAS + OpenMP) and "cuda" when the build has nvcc.
 * Every command's --backend NAME goes through lv_backend_find; adding a backend to the table in
 * registry.c makes it selectable everywhere. */

/* The backend called name; NULL + lv_error() listing the names this build has. */
const lv_backend *lv_backend_find(const char *name);
/* The i-th backend of the registry (0 <= i < lv_backend_count()), in table order. */
int lv_backend_count(void);
const lv_backend *lv_backend_at(int i);
/* "ref, cpu" and so on: the names, for help texts. */
const char *lv_backend_names(void);

/* Floats of scratch lv_backend_cpu keeps (grown to the largest call and reused) for a training
 * step of config c with batch B on the current number of threads: an upper bound. */
#include "config.h"
int64_t lv_backend_cpu_scratch_floats(const lv_config *c, int64_t B);

#endif
