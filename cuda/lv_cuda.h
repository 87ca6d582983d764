/* What every source of cuda/ includes: the port contract (ref/backend.h, C linkage), then either
 * the CUDA runtime and cuBLAS (nvcc) or the host execution layer (host_exec.h, built with g++ for
 * CI), and the few helpers both builds share: the launch macro, the matmul, error checks. */
#ifndef LV_CUDA_H
#define LV_CUDA_H

extern "C" {
#include "backend.h"
#include "error.h"
}

#include <stdint.h>
#include <stddef.h>

#ifdef __CUDACC__
#include <cublas_v2.h>
#include <cuda_runtime.h>
#define LV_LAUNCH(kernel, grid, block, ...) kernel<<<(grid), (block)>>>(__VA_ARGS__)
#else
#include "host_exec.h"
#endif

/* Threads per block of the row kernels (a multiple of 32; 128 keeps the host layer's teams
 * small). */
enum { LV_CUDA_THREADS = 128 };

static inline unsigned lv_cuda_blocks(int64_t n, unsigned threads)
{
    return (unsigned)((n + threads - 1) / threads);
}

/* Row-major C (M, N) = alpha op(A) op(B) + beta C, the contract of lv_sgemm_ref, in fp32:
 * cuBLAS with TF32 off (CUBLAS_PEDANTIC_MATH) on the GPU, the cpu backend's lv_sgemm in the
 * host build. Pointers are device memory. */
void lv_cuda_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                  int64_t ldc);

/* After a launch: a launch or execution error aborts with the kernel's name (a kernel failure
 * leaves the context unusable, so there is nothing to return to). */
void lv_cuda_check(const char *what);

/* A sum over a block: every thread passes its part; thread 0 gets the total. The parts are
 * added by thread 0 in thread order, so the result is reproducible (readable first: a warp-shuffle
 * tree would be faster on the GPU, and equally fixed in order). scratch: blockDim floats of
 * shared memory. Every thread of the block must call it. */
static __device__ __forceinline__ float lv_block_sum(float v, float *scratch)
{
    scratch[threadIdx.x] = v;
    __syncthreads();
    float total = 0.0f;
    if (threadIdx.x == 0)
        for (unsigned t = 0; t < blockDim.x; t++)
            total += scratch[t];
    __syncthreads();
    return total;
}

#endif
