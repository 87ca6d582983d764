/* Pooling, L2 normalisation and the contrastive loss on the GPU. One thread owns each output
 * (a pooled column, a row norm, a row of the logits) and sums in a fixed order, so results are
 * the same on every run; the InfoNCE sums over the batch (B is at most a few hundred) run in
 * one block. */
#include "kernels_cuda.h"

extern "C" {
#include "kernels.h"               /* LV_L2NORM_EPS, LV_LOGIT_SCALE_MAX: the shared rules */
}

#include <math.h>

/* ==== mean over the valid tokens of each sample ============================================== */

/* out[b, d] = mean over valid t of inp[b, t, d] (0 when none is valid): a thread per (b, d) */
static __global__ void mean_pool_forward_kernel(float *out, const float *inp,
                                                const uint8_t *valid, int64_t B, int64_t T,
                                                int64_t D)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B * D)
        return;
    const int64_t b = i / D, d = i % D;
    float s = 0.0f;
    int64_t count = 0;
    for (int64_t t = 0; t < T; t++)
        if (!valid || valid[b * T + t]) {
            s += inp[(b * T + t) * D + d];
            count++;
        }
    out[i] = count ? s / (float)count : 0.0f;
}

void lv_cuda_mean_pool_forward(float *out, const float *inp, const uint8_t *valid, int64_t B,
                               int64_t T, int64_t D)
{
    if (B * D == 0)
        return;
    LV_LAUNCH(mean_pool_forward_kernel, lv_cuda_blocks(B * D, LV_CUDA_THREADS), LV_CUDA_THREADS,
              out, inp, valid, B, T, D);
    lv_cuda_check("mean_pool_forward");
}

/* forward out[b] = (1/count) sum over valid t of inp[b, t], so every valid token gets
 * dout[b] / count and padding gets nothing */
static __global__ void mean_pool_backward_kernel(float *dinp, const float *dout,
                                                 const uint8_t *valid, int64_t B, int64_t T,
                                                 int64_t D)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B * D)
        return;
    const int64_t b = i / D, d = i % D;
    int64_t count = 0;
    for (int64_t t = 0; t < T; t++)
        count += !valid || valid[b * T + t];
    if (count == 0)
        return;
    const float g = dout[i] / (float)count;
    for (int64_t t = 0; t < T; t++)
        if (!valid || valid[b * T + t])
            dinp[(b * T + t) * D + d] += g;
}

void lv_cuda_mean_pool_backward(float *dinp, const float *dout, const uint8_t *valid, int64_t B,
                                int64_t T, int64_t D)
{
    if (B * D == 0)
        return;
    LV_LAUNCH(mean_pool_backward_kernel, lv_cuda_blocks(B * D, LV_CUDA_THREADS), LV_CUDA_THREADS,
              dinp, dout, valid, B, T, D);
    lv_cuda_check("mean_pool_backward");
}

/* ==== mean over contiguous row ranges ======================================================= */

static __global__ void segment_mean_forward_kernel(float *out, const float *inp,
                                                   const int64_t *start, int64_t G, int64_t D)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= G * D)
        return;
    const int64_t g = i / D, d = i % D, r0 = start[g], r1 = start[g + 1];
    float s = 0.0f;
    for (int64_t r = r0; r < r1; r++)
        s += inp[r * D + d];
    out[i] = r1 > r0 ? s / (float)(r1 - r0) : 0.0f;
}

void lv_cuda_segment_mean_forward(float *out, const float *inp, const int64_t *start, int64_t G,
                                  int64_t D)
{
    if (G * D == 0)
        return;
    LV_LAUNCH(segment_mean_forward_kernel, lv_cuda_blocks(G * D, LV_CUDA_THREADS),
              LV_CUDA_THREADS, out, inp, start, G, D);
    lv_cuda_check("segment_mean_forward");
}

/* forward out[g] = mean of rows start[g] .. start[g+1], so each of those rows gets
 * dout[g] / rows (segments are disjoint: one writer per row) */
static __global__ void segment_mean_backward_kernel(float *dinp, const float *dout,
                                                    const int64_t *start, int64_t G, int64_t D)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= G * D)
        return;
    const int64_t g = i / D, d = i % D, r0 = start[g], r1 = start[g + 1];
    if (r1 <= r0)
        return;
    const float v = dout[i] / (float)(r1 - r0);
    for (int64_t r = r0; r < r1; r++)
        dinp[r * D + d] += v;
}

void lv_cuda_segment_mean_backward(float *dinp, const float *dout, const int64_t *start,
                                   int64_t G, int64_t D)
{
    if (G * D == 0)
        return;
    LV_LAUNCH(segment_mean_backward_kernel, lv_cuda_blocks(G * D, LV_CUDA_THREADS),
              LV_CUDA_THREADS, dinp, dout, start, G, D);
    lv_cuda_check("segment_mean_backward");
}

/* ==== L2 normalisation of rows: out = x / max(|x|, eps), one block per row ================== */

static __global__ void l2norm_forward_kernel(float *out, float *norm, const float *inp,
                                             int64_t C)
{
    __shared__ float scratch[LV_CUDA_THREADS];
    __shared__ float nrm;
    const int64_t row = blockIdx.x;
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        s += inp[row * C + c] * inp[row * C + c];
    s = lv_block_sum(s, scratch);
    if (threadIdx.x == 0) {
        nrm = fmaxf(sqrtf(s), LV_L2NORM_EPS);
        norm[row] = nrm;
    }
    __syncthreads();
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        out[row * C + c] = inp[row * C + c] / nrm;
}

void lv_cuda_l2norm_forward(float *out, float *norm, const float *inp, int64_t N, int64_t C)
{
    if (N <= 0)
        return;
    LV_LAUNCH(l2norm_forward_kernel, (unsigned)N, LV_CUDA_THREADS, out, norm, inp, C);
    lv_cuda_check("l2norm_forward");
}

/* forward y = x / n with n = |x| (above the floor), so dx += (dy - y (y . dy)) / n; at the
 * floor n is a constant and dx += dy / n */
static __global__ void l2norm_backward_kernel(float *dinp, const float *dout, const float *out,
                                              const float *norm, int64_t C)
{
    __shared__ float scratch[LV_CUDA_THREADS];
    __shared__ float dot;
    const int64_t row = blockIdx.x;
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        s += out[row * C + c] * dout[row * C + c];
    s = lv_block_sum(s, scratch);
    if (threadIdx.x == 0)
        dot = norm[row] > LV_L2NORM_EPS ? s : 0.0f;
    __syncthreads();
    const float n = norm[row];
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        dinp[row * C + c] += (dout[row * C + c] - out[row * C + c] * dot) / n;
}

void lv_cuda_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                             int64_t N, int64_t C)
{
    if (N <= 0)
        return;
    LV_LAUNCH(l2norm_backward_kernel, (unsigned)N, LV_CUDA_THREADS, dinp, dout, out, norm, C);
    lv_cuda_check("l2norm_backward");
}

/* ==== symmetric InfoNCE ====================================================================== */

/* exp(min(log_scale, log 100)) and whether the clamp holds (the rule of lv_logit_scale) */
static __device__ __forceinline__ float logit_scale(float log_scale, int *clamped)
{
    *clamped = (double)log_scale > log((double)LV_LOGIT_SCALE_MAX);
    return *clamped ? LV_LOGIT_SCALE_MAX : expf(log_scale);
}

/* log sum_i exp(x[i stride]) with the maximum subtracted */
static __device__ float logsumexp(const float *x, int64_t n, int64_t stride)
{
    float mx = -INFINITY, s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        mx = fmaxf(mx, x[i * stride]);
    for (int64_t i = 0; i < n; i++)
        s += expf(x[i * stride] - mx);
    return mx + logf(s);
}

static __global__ void scale_logits_kernel(float *logits, const float *log_scale, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int clamped;
    if (i < n)
        logits[i] *= logit_scale(log_scale[0], &clamped);
}

/* loss = sum over i of (lse(row i) + lse(column i) - 2 L_ii) / 2B: thread i takes line i into
 * part[i], thread 0 adds the parts in order */
static __global__ void infonce_loss_kernel(float *loss, const float *logits, int64_t B)
{
    __shared__ float part[LV_CUDA_THREADS];
    float mine = 0.0f;
    for (int64_t i = threadIdx.x; i < B; i += blockDim.x)
        mine += logsumexp(logits + i * B, B, 1) + logsumexp(logits + i, B, B) -
                2.0f * logits[i * B + i];
    part[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (unsigned k = 0; k < blockDim.x; k++)
            total += part[k];
        loss[0] = total / (2.0f * (float)B);
    }
}

void lv_cuda_infonce_forward(float *loss, float *logits, const float *v, const float *t,
                             const float *log_scale, int64_t B, int64_t E)
{
    LV_REQUIRE(B > 0 && E > 0);
    lv_cuda_gemm(0, 1, B, B, E, 1.0f, v, E, t, E, 0.0f, logits, B);      /* v t^T */
    LV_LAUNCH(scale_logits_kernel, lv_cuda_blocks(B * B, LV_CUDA_THREADS), LV_CUDA_THREADS,
              logits, log_scale, B * B);
    LV_LAUNCH(infonce_loss_kernel, 1, LV_CUDA_THREADS, loss, logits, B);
    lv_cuda_check("infonce_forward");
}

/* forward: each row i (video -> texts) and column i (text -> videos) is a cross-entropy with
 * target i, weighted c = dloss / 2B, so dL_ij = c (softmax_row_i(L)_j - [i = j]) +
 * c (softmax_col_j(L)_i - [i = j]). With L = s v t^T: dv += s dL t, dt += s dL^T v, and
 * dlog_scale += sum_ij dL_ij L_ij unless the clamp holds. dlogits (B, B): one thread per row
 * (the row terms) then one per column (the column terms), each owning its entries. */
static __global__ void infonce_row_grad_kernel(float *dl, const float *logits, const float *dloss,
                                               int64_t B)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B)
        return;
    const float c = dloss[0] / (2.0f * (float)B), lse = logsumexp(logits + i * B, B, 1);
    for (int64_t j = 0; j < B; j++)
        dl[i * B + j] = c * (expf(logits[i * B + j] - lse) - (i == j ? 1.0f : 0.0f));
}

static __global__ void infonce_col_grad_kernel(float *dl, const float *logits, const float *dloss,
                                               int64_t B)
{
    const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= B)
        return;
    const float c = dloss[0] / (2.0f * (float)B), lse = logsumexp(logits + j, B, B);
    for (int64_t i = 0; i < B; i++)
        dl[i * B + j] += c * (expf(logits[i * B + j] - lse) - (i == j ? 1.0f : 0.0f));
}

static __global__ void infonce_scale_grad_kernel(float *dlog_scale, float *dl_scaled,
                                                 const float *dl, const float *logits,
                                                 const float *log_scale, int64_t B)
{
    __shared__ float part[LV_CUDA_THREADS];
    int clamped;
    const float s = logit_scale(log_scale[0], &clamped);
    float mine = 0.0f;
    for (int64_t k = threadIdx.x; k < B * B; k += blockDim.x) {
        mine += dl[k] * logits[k];
        dl_scaled[k] = s * dl[k];
    }
    part[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0 && dlog_scale && !clamped) {
        float total = 0.0f;
        for (unsigned k = 0; k < blockDim.x; k++)
            total += part[k];
        dlog_scale[0] += total;
    }
}

void lv_cuda_infonce_backward(float *dv, float *dt, float *dlog_scale, const float *dloss,
                              const float *logits, const float *v, const float *t,
                              const float *log_scale, int64_t B, int64_t E)
{
    LV_REQUIRE(B > 0 && E > 0);
    float *dl = (float *)lv_cuda_scratch(3, (size_t)(2 * B * B) * sizeof(float));
    float *dls = dl + B * B;                               /* s dL */
    LV_LAUNCH(infonce_row_grad_kernel, lv_cuda_blocks(B, LV_CUDA_THREADS), LV_CUDA_THREADS, dl,
              logits, dloss, B);
    LV_LAUNCH(infonce_col_grad_kernel, lv_cuda_blocks(B, LV_CUDA_THREADS), LV_CUDA_THREADS, dl,
              logits, dloss, B);
    LV_LAUNCH(infonce_scale_grad_kernel, 1, LV_CUDA_THREADS, dlog_scale, dls, dl, logits,
              log_scale, B);
    if (dv)
        lv_cuda_gemm(0, 0, B, E, B, 1.0f, dls, B, t, E, 1.0f, dv, E);    /* dv += s dL t */
    if (dt)
        lv_cuda_gemm(1, 0, B, E, B, 1.0f, dls, B, v, E, 1.0f, dt, E);    /* dt += s dL^T v */
    lv_cuda_check("infonce_backward");
}
