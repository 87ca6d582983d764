/* Cross-entropy with ignored targets on the GPU (the language model's next-token loss): one block
 * per row of the logits for the log-sum-exp and the gradient, one block for the mean over the
 * counted rows. Every sum has one owner adding in a fixed order (lv_block_sum, then thread 0 over
 * the rows), so two runs are bit-identical; no atomics. fp32, expf with the row maximum
 * subtracted. Scratch slots 4 (the rows' loss terms) and 5 (the count of counted rows). */
#include "kernels_cuda.h"

#include <math.h>

/* The maximum over a block: every thread passes its part; every thread gets the result (thread 0
 * takes the parts in thread order). scratch: blockDim floats of shared memory. Every thread of
 * the block must call it. */
static __device__ __forceinline__ float ce_block_max(float v, float *scratch)
{
    __shared__ float result;
    scratch[threadIdx.x] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        float m = scratch[0];
        for (unsigned t = 1; t < blockDim.x; t++)
            m = fmaxf(m, scratch[t]);
        result = m;
    }
    __syncthreads();
    return result;
}

/* Row `blockIdx.x`: lse = m + log sum_v exp(x_v - m), m the row maximum (every exp <= 1, so a
 * logit of 100 does not overflow), and the row's loss term (m - x_t) + log sum (0 when
 * ignored), taken without lse's rounding. */
static __global__ void cross_entropy_rows_kernel(float *lse, float *term, const float *logits,
                                                 const int32_t *targets, int64_t V)
{
    __shared__ float scratch[LV_CUDA_THREADS];
    const int64_t row = blockIdx.x;
    const float *x = logits + row * V;                  /* (V) */
    float m = -INFINITY;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
        m = fmaxf(m, x[v]);
    m = ce_block_max(m, scratch);
    float s = 0.0f;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
        s += expf(x[v] - m);
    s = lv_block_sum(s, scratch);
    if (threadIdx.x == 0) {
        const float log_sum = logf(s);
        const int32_t t = targets[row];
        lse[row] = m + log_sum;
        term[row] = t >= 0 ? (m - x[t]) + log_sum : 0.0f;
    }
}

/* loss = (sum of the rows' terms) / count, 0 without a counted row: each thread sums a strided
 * share of the rows in double, thread 0 adds the shares in thread order. */
static __global__ void cross_entropy_loss_kernel(float *loss, const float *term,
                                                 const int32_t *targets, int64_t N)
{
    __shared__ double part[LV_CUDA_THREADS];
    __shared__ int64_t counted[LV_CUDA_THREADS];
    double mine = 0.0;
    int64_t count = 0;
    for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
        mine += term[n];
        count += targets[n] >= 0;
    }
    part[threadIdx.x] = mine;
    counted[threadIdx.x] = count;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        int64_t all = 0;
        for (unsigned k = 0; k < blockDim.x; k++) {
            total += part[k];
            all += counted[k];
        }
        loss[0] = all ? (float)(total / (double)all) : 0.0f;
    }
}

void lv_cuda_cross_entropy_forward(float *loss, float *lse, const float *logits,
                                   const int32_t *targets, int64_t N, int64_t V)
{
    LV_REQUIRE(N >= 0 && V > 0 && N <= 0x7fffffff);
    float *term = (float *)lv_cuda_scratch(4, (size_t)(N > 0 ? N : 1) * sizeof(float));  /* (N) */
    if (N > 0)
        LV_LAUNCH(cross_entropy_rows_kernel, (unsigned)N, LV_CUDA_THREADS, lse, term, logits,
                  targets, V);
    LV_LAUNCH(cross_entropy_loss_kernel, 1, LV_CUDA_THREADS, loss, term, targets, N);
    lv_cuda_check("cross_entropy_forward");
}

/* count[0] = the rows with a target >= 0 (one block, shares added in thread order) */
static __global__ void cross_entropy_count_kernel(int64_t *count, const int32_t *targets,
                                                  int64_t N)
{
    __shared__ int64_t counted[LV_CUDA_THREADS];
    int64_t mine = 0;
    for (int64_t n = threadIdx.x; n < N; n += blockDim.x)
        mine += targets[n] >= 0;
    counted[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0) {
        int64_t all = 0;
        for (unsigned k = 0; k < blockDim.x; k++)
            all += counted[k];
        count[0] = all;
    }
}

/* forward: loss += (lse(x) - x_t) / count on a counted row, d lse / d x_v = exp(x_v - lse)
 * =>  dx_v += c (exp(x_v - lse) - [v == t]),  c = dloss / count; an ignored row gets nothing.
 * A thread per entry of row blockIdx.x. */
static __global__ void cross_entropy_backward_kernel(float *dlogits, const float *dloss,
                                                     const float *logits, const float *lse,
                                                     const int32_t *targets, const int64_t *count,
                                                     int64_t V)
{
    const int64_t row = blockIdx.x;
    const int32_t t = targets[row];
    if (t < 0)
        return;
    const float c = dloss[0] / (float)count[0], l = lse[row];
    const float *x = logits + row * V;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
        dlogits[row * V + v] += c * (expf(x[v] - l) - (v == t ? 1.0f : 0.0f));
}

void lv_cuda_cross_entropy_backward(float *dlogits, const float *dloss, const float *logits,
                                    const float *lse, const int32_t *targets, int64_t N,
                                    int64_t V)
{
    LV_REQUIRE(N >= 0 && V > 0 && N <= 0x7fffffff);
    if (N == 0)
        return;
    int64_t *count = (int64_t *)lv_cuda_scratch(5, sizeof(int64_t));
    LV_LAUNCH(cross_entropy_count_kernel, 1, LV_CUDA_THREADS, count, targets, N);
    LV_LAUNCH(cross_entropy_backward_kernel, (unsigned)N, LV_CUDA_THREADS, dlogits, dloss,
              logits, lse, targets, count, V);
    lv_cuda_check("cross_entropy_backward");
}
