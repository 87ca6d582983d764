/* The host execution layer: the CUDA sources of cuda/ compiled as plain C++ for a machine without
 * a GPU, so CI runs every kernel through the golden files. It checks indexing, tiling, barriers,
 * reductions and the memory contract; it does not check timing, coalescing, occupancy, the GPU's
 * memory model or races that this schedule happens to hide (compute-sanitizer on a GPU does).
 *
 * How a launch runs: the blocks of the grid one after another, on the calling thread; the
 * threads of a block as fibers (ucontext) that the scheduler runs in turn, each until it
 * finishes or waits. `__shared__` variables are static locals, the block's shared memory (one
 * block at a time); __syncthreads waits until every thread of the block has arrived; a warp
 * shuffle waits only for the lanes of its own warp, so a shuffle inside `if (threadIdx.x < 32)`
 * works as on the GPU, where only the named lanes take part. A barrier some threads never reach
 * is reported and aborts (it is undefined behaviour on the GPU). Kernels use only what is
 * defined here: 1D blocks, float shuffles, no atomics, no dynamic shared memory. */
#ifndef LV_CUDA_HOST_EXEC_H
#define LV_CUDA_HOST_EXEC_H

#include <cmath>
#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static                 /* one block at a time: statics are its shared memory */

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct lv_uint3 {
    unsigned x, y, z;
};

/* set by the scheduler before it resumes a thread: one OS thread runs every fiber */
extern lv_uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

void __syncthreads(void);

/* v from lane src_lane of this thread's warp (every lane of the warp calls it) */
float lv_warp_exchange(float v, unsigned src_lane);

static inline float __shfl_xor_sync(unsigned mask, float v, int lane_mask)
{
    (void)mask;
    return lv_warp_exchange(v, (threadIdx.x % 32) ^ (unsigned)lane_mask);
}

static inline float __shfl_down_sync(unsigned mask, float v, unsigned delta)
{
    (void)mask;
    const unsigned lane = threadIdx.x % 32;
    const float got = lv_warp_exchange(v, lane + delta < 32 ? lane + delta : lane);
    return lane + delta < 32 ? got : v;
}

static inline float __shfl_sync(unsigned mask, float v, int src_lane)
{
    (void)mask;
    return lv_warp_exchange(v, (unsigned)src_lane);
}

/* Runs body(ctx) as every thread of every block of the grid. */
void lv_host_run_grid(dim3 grid, dim3 block, void (*body)(void *), void *ctx);

#define LV_LAUNCH(kernel, grid, block, ...)                                                    \
    do {                                                                                       \
        auto lv_body_ = [&]() { kernel(__VA_ARGS__); };                                        \
        lv_host_run_grid(dim3(grid), dim3(block),                                              \
                         [](void *lv_c) { (*static_cast<decltype(lv_body_) *>(lv_c))(); },    \
                         &lv_body_);                                                           \
    } while (0)

#endif
