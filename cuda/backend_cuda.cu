/* The cuda backend: device memory, the elementwise kernels, LayerNorm, linear layers (cuBLAS),
 * AdamW and whole-tensor sums, and the table that holds every member (the others live in
 * attention.cu, tokens.cu and pool.cu). One readable kernel per job, fp32 storage and
 * arithmetic, and no float atomics: every sum runs in a fixed order, so two runs on the same GPU
 * are bit-identical. The same source builds for the host (host_exec.h) as "cuda-host". */
#include "kernels_cuda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== memory ================================================================================= */

#ifdef __CUDACC__

void lv_cuda_check(const char *what)
{
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        fprintf(stderr, "longvivit cuda: %s failed: %s\n", what, cudaGetErrorString(e));
        abort();
    }
}

static void check_call(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "longvivit cuda: %s failed: %s\n", what, cudaGetErrorString(e));
        abort();
    }
}

/* 0 when a GPU is usable, else -1 + lv_error() saying so (asked once) */
static int device_ready(void)
{
    static int state;                     /* 0 unknown, 1 ready, -1 none */
    static char why[256];
    if (state == 0) {
        int count = 0;
        const cudaError_t e = cudaGetDeviceCount(&count);
        state = e == cudaSuccess && count > 0 ? 1 : -1;
        snprintf(why, sizeof why, "%s", e == cudaSuccess ? "no device" : cudaGetErrorString(e));
        cudaGetLastError();
    }
    if (state < 0)
        return lv_set_error("the cuda backend finds no usable GPU (%s): run on a machine with an "
                            "NVIDIA GPU and driver, or choose --backend cpu (or cuda-host, the "
                            "same kernels run on the CPU)", why);
    return 0;
}

void *lv_cuda_alloc(size_t bytes, const char *what)
{
    void *p = NULL;
    const size_t n = bytes ? bytes : 1;
    if (device_ready() < 0)
        return NULL;
    const cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        lv_set_error("out of GPU memory allocating %.1f MiB for %s (%.1f of %.1f MiB free): "
                     "lower the batch, the frames or raise the mask ratio", n / 1048576.0, what,
                     free_b / 1048576.0, total_b / 1048576.0);
        cudaGetLastError();
        return NULL;
    }
    check_call(cudaMemset(p, 0, n), "cudaMemset");
    return p;
}

void lv_cuda_free(void *p)
{
    if (p)
        cudaFree(p);
}

void lv_cuda_upload(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        check_call(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "upload");
}

void lv_cuda_download(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        check_call(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "download");
}

void lv_cuda_copy(float *dst, const float *src, int64_t n)
{
    if (n > 0 && dst != src)
        check_call(cudaMemcpy(dst, src, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice),
                   "copy");
}

/* One cuBLAS handle for the process, in pedantic math: no TF32, fp32 products and sums. */
static cublasHandle_t blas_handle(void)
{
    static cublasHandle_t h;
    if (!h) {
        if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS ||
            cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH) != CUBLAS_STATUS_SUCCESS) {
            fprintf(stderr, "longvivit cuda: cuBLAS could not start (is a GPU visible?)\n");
            abort();
        }
    }
    return h;
}

/* Row-major C = A B is column-major C^T = B^T A^T: swap the operands, keep the transposes. */
void lv_cuda_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                  int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    const cublasStatus_t s = cublasSgemm(blas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
                                         (int)K, &alpha, B, (int)ldb, A, (int)lda, &beta, C,
                                         (int)ldc);
    if (s != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "longvivit cuda: cublasSgemm failed (status %d)\n", (int)s);
        abort();
    }
}

#else   /* the host build: device memory is host memory (ref's), the matmul is the cpu backend's */

extern "C" {
#include "blas_glue.h"
#include "kernels.h"
}

void lv_cuda_check(const char *what)
{
    (void)what;
}

void *lv_cuda_alloc(size_t bytes, const char *what)
{
    return lv_host_alloc(bytes, what);
}

void lv_cuda_free(void *p)
{
    lv_host_free(p);
}

void lv_cuda_upload(void *dst, const void *src, size_t bytes)
{
    lv_host_upload(dst, src, bytes);
}

void lv_cuda_download(void *dst, const void *src, size_t bytes)
{
    lv_host_download(dst, src, bytes);
}

void lv_cuda_copy(float *dst, const float *src, int64_t n)
{
    lv_host_copy(dst, src, n);
}

void lv_cuda_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                  int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    lv_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

void *lv_cuda_scratch(int slot, size_t bytes)
{
    static struct {
        void *p;
        size_t bytes;
    } slots[8];
    if (slot < 0 || slot >= 8) {
        fprintf(stderr, "longvivit cuda: scratch slot %d out of range\n", slot);
        abort();
    }
    if (slots[slot].bytes < bytes) {
        lv_cuda_free(slots[slot].p);
        slots[slot].p = lv_cuda_alloc(bytes, "the cuda backend's scratch");
        if (!slots[slot].p) {
            fprintf(stderr, "longvivit cuda: %s\n", lv_error());
            abort();
        }
        slots[slot].bytes = bytes;
    }
    return slots[slot].p;
}

/* ==== elementwise ============================================================================ */

static __global__ void set_kernel(float *x, float value, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] = value;
}

void lv_cuda_set(float *x, float value, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(set_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, x, value, n);
    lv_cuda_check("set");
}

static __global__ void scale_kernel(float *x, float s, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] *= s;
}

void lv_cuda_scale(float *x, float s, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(scale_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, x, s, n);
    lv_cuda_check("scale");
}

/* out = a + b */
static __global__ void residual_forward_kernel(float *out, const float *a, const float *b,
                                               int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = a[i] + b[i];
}

void lv_cuda_residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(residual_forward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, out,
              a, b, n);
    lv_cuda_check("residual_forward");
}

/* forward out = a + b, so da += dout and db += dout (either may be NULL) */
static __global__ void residual_backward_kernel(float *da, float *db, const float *dout,
                                                int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        if (da)
            da[i] += dout[i];
        if (db)
            db[i] += dout[i];
    }
}

void lv_cuda_residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    if (n <= 0 || (!da && !db))
        return;
    LV_LAUNCH(residual_backward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, da,
              db, dout, n);
    lv_cuda_check("residual_backward");
}

/* GELU, erf form: out = x/2 (1 + erf(x / sqrt 2)) */
static __global__ void gelu_forward_kernel(float *out, const float *inp, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
    }
}

void lv_cuda_gelu_forward(float *out, const float *inp, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(gelu_forward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, out, inp,
              n);
    lv_cuda_check("gelu_forward");
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x), Phi the normal CDF, phi its density */
static __global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout,
                                            int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = inp[i];
        const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752440f));
        const float pdf = 0.39894228040143267794f * expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

void lv_cuda_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(gelu_backward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, dinp,
              inp, dout, n);
    lv_cuda_check("gelu_backward");
}

/* QuickGELU, CLIP's: out = x s(a), a = 1.702 x, the sigmoid s taken as r = 1 / (1 + e) for
 * a >= 0 and e r below, e = exp(-|a|), so expf never overflows */
static __global__ void quick_gelu_forward_kernel(float *out, const float *inp, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = inp[i], e = expf(-fabsf(1.702f * x)), r = 1.0f / (1.0f + e);
        out[i] = x * (x < 0.0f ? e * r : r);
    }
}

void lv_cuda_quick_gelu_forward(float *out, const float *inp, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(quick_gelu_forward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, out,
              inp, n);
    lv_cuda_check("quick_gelu_forward");
}

/* d/dx [x s(a)], a = 1.702 x: s + 1.702 x s (1 - s), with s (1 - s) = e r^2 (accurate where
 * s ~ 1); x times 1.702 e r^2, not a times e r^2: a is inf beyond FLT_MAX / 1.702, where e = 0 */
static __global__ void quick_gelu_backward_kernel(float *dinp, const float *inp, const float *dout,
                                                  int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = inp[i], e = expf(-fabsf(1.702f * x)), r = 1.0f / (1.0f + e);
        dinp[i] += dout[i] * ((x < 0.0f ? e * r : r) + x * (1.702f * e * r * r));
    }
}

void lv_cuda_quick_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(quick_gelu_backward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS,
              dinp, inp, dout, n);
    lv_cuda_check("quick_gelu_backward");
}

/* GELU's tanh approximation, GPT-2's: x s(a), a = 2 sqrt(2/pi) x (1 + 0.044715 x^2), with the
 * sigmoid from e = expf(-|a|) as QuickGELU's (a = +-inf beyond |x| ~ 1.8e19 gives e = 0) */
#define GELU_TANH_2C 1.5957691216057308f       /* 2 sqrt(2 / pi) */
#define GELU_TANH_K 0.044715f
#define GELU_TANH_CLAMP 1e4f                    /* e = 0 from |x| ~ 10: clamping changes nothing */

static __global__ void gelu_tanh_forward_kernel(float *out, const float *inp, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = inp[i], a = GELU_TANH_2C * x * (1.0f + GELU_TANH_K * x * x);
        const float e = expf(-fabsf(a)), r = 1.0f / (1.0f + e);
        out[i] = x * (x < 0.0f ? e * r : r);
    }
}

void lv_cuda_gelu_tanh_forward(float *out, const float *inp, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(gelu_tanh_forward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, out,
              inp, n);
    lv_cuda_check("gelu_tanh_forward");
}

/* d/dx [x s(a)] = s + x s (1 - s) da/dx, da/dx = 2 sqrt(2/pi) (1 + 3 0.044715 x^2), s (1 - s) =
 * e r^2; da/dx at x clamped to +-1e4, so it never overflows to meet e = 0 (inf * 0) */
static __global__ void gelu_tanh_backward_kernel(float *dinp, const float *inp, const float *dout,
                                                 int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = inp[i], a = GELU_TANH_2C * x * (1.0f + GELU_TANH_K * x * x);
        const float e = expf(-fabsf(a)), r = 1.0f / (1.0f + e);
        const float xc = fminf(fmaxf(x, -GELU_TANH_CLAMP), GELU_TANH_CLAMP);
        const float da = GELU_TANH_2C * (1.0f + 3.0f * GELU_TANH_K * xc * xc);
        dinp[i] += dout[i] * ((x < 0.0f ? e * r : r) + xc * da * (e * r * r));
    }
}

void lv_cuda_gelu_tanh_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(gelu_tanh_backward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS,
              dinp, inp, dout, n);
    lv_cuda_check("gelu_tanh_backward");
}

/* ==== whole-tensor sums in a fixed order =====================================================
 * Pass 1: SUM_BLOCKS blocks, each summing a fixed strided share of the entries (thread order,
 * then lv_block_sum's fixed tree) into partial[block]; pass 2: one thread adds the partials in
 * block order. The grid never depends on the GPU, so the result is the same on every run. */
enum { SUM_BLOCKS = 64 };

static double *sum_partials(void)
{
    static double *partial;              /* SUM_BLOCKS + 1 doubles, allocated once */
    if (!partial)
        partial = (double *)lv_cuda_alloc((SUM_BLOCKS + 1) * sizeof(double), "sum partials");
    if (!partial) {
        fprintf(stderr, "longvivit cuda: %s\n", lv_error());
        abort();
    }
    return partial;
}

/* partial[blockIdx] = sum over this block's share of a[i] * b[i] (b NULL: a[i]^2), in double */
static __global__ void dot_partial_kernel(double *partial, const float *a, const float *b,
                                          int64_t n)
{
    __shared__ double lanes[LV_CUDA_THREADS];
    double s = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        s += (double)a[i] * (double)(b ? b[i] : a[i]);
    lanes[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (unsigned k = 0; k < blockDim.x; k++)     /* thread order: fixed */
            t += lanes[k];
        partial[blockIdx.x] = t;
    }
}

static __global__ void dot_finish_kernel(double *partial, int blocks)
{
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int k = 0; k < blocks; k++)
            t += partial[k];
        partial[blocks] = t;
    }
}

/* sum a[i] b[i] into partial[SUM_BLOCKS] (device); returns that slot */
static double *dot_device(const float *a, const float *b, int64_t n)
{
    double *partial = sum_partials();
    LV_LAUNCH(dot_partial_kernel, SUM_BLOCKS, LV_CUDA_THREADS, partial, a, b, n);
    LV_LAUNCH(dot_finish_kernel, 1, 32, partial, (int)SUM_BLOCKS);
    lv_cuda_check("dot");
    return partial + SUM_BLOCKS;
}

double lv_cuda_sum_squares(const float *x, int64_t n)
{
    double s = 0.0;
    if (n <= 0)
        return 0.0;
    lv_cuda_download(&s, dot_device(x, NULL, n), sizeof s);
    return s;
}

/* ---- tanh-gated residual: out = h + tanh(gate) f ------------------------------------------ */

static __global__ void gated_forward_kernel(float *out, const float *h, const float *f,
                                            const float *gate, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = h[i] + tanhf(gate[0]) * f[i];
}

void lv_cuda_gated_residual_forward(float *out, const float *h, const float *f,
                                    const float *gate, int64_t n)
{
    if (n <= 0)
        return;
    LV_LAUNCH(gated_forward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, out, h,
              f, gate, n);
    lv_cuda_check("gated_residual_forward");
}

/* forward out = h + tanh(g) f, so dh += dout, df += tanh(g) dout,
 * dgate += (1 - tanh(g)^2) sum(dout f) (the sum: dot_device, fixed order) */
static __global__ void gated_backward_kernel(float *dh, float *df, const float *dout,
                                             const float *gate, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        if (dh)
            dh[i] += dout[i];
        if (df)
            df[i] += tanhf(gate[0]) * dout[i];
    }
}

static __global__ void gate_grad_kernel(float *dgate, const double *dot, const float *gate)
{
    if (threadIdx.x == 0) {
        const float t = tanhf(gate[0]);
        dgate[0] += (float)(dot[0] * (double)(1.0f - t * t));
    }
}

void lv_cuda_gated_residual_backward(float *dh, float *df, float *dgate, const float *dout,
                                     const float *f, const float *gate, int64_t n)
{
    if (n <= 0)
        return;
    if (dh || df)
        LV_LAUNCH(gated_backward_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS,
                  dh, df, dout, gate, n);
    if (dgate) {
        const double *dot = dot_device(dout, f, n);
        LV_LAUNCH(gate_grad_kernel, 1, 32, dgate, dot, gate);
    }
    lv_cuda_check("gated_residual_backward");
}

/* ==== column sums (bias and LayerNorm parameter gradients) ==================================
 * One thread per column walks the rows in order: deterministic, and fine for the widths here. */

static __global__ void column_sums_kernel(float *out, const float *x, int64_t rows, int64_t cols)
{
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c < cols) {
        float s = 0.0f;
        for (int64_t r = 0; r < rows; r++)
            s += x[r * cols + c];
        out[c] += s;
    }
}

void lv_cuda_column_sums_add(float *out, const float *x, int64_t rows, int64_t cols)
{
    if (cols <= 0 || rows <= 0)
        return;
    LV_LAUNCH(column_sums_kernel, lv_cuda_blocks(cols, LV_CUDA_THREADS), LV_CUDA_THREADS, out, x,
              rows, cols);
    lv_cuda_check("column sums");
}

/* ==== linear: out = inp W^T + b ============================================================== */

static __global__ void add_bias_kernel(float *out, const float *bias, int64_t N, int64_t OC)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * OC)
        out[i] += bias[i % OC];
}

void lv_cuda_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                            int64_t N, int64_t C, int64_t OC)
{
    lv_cuda_gemm(0, 1, N, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
    if (bias && N * OC > 0) {
        LV_LAUNCH(add_bias_kernel, lv_cuda_blocks(N * OC, LV_CUDA_THREADS), LV_CUDA_THREADS, out,
                  bias, N, OC);
        lv_cuda_check("linear bias");
    }
}

/* forward out = inp W^T + b, so dinp += dout W, dW += dout^T inp, db += column sums of dout */
void lv_cuda_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight, int64_t N, int64_t C,
                             int64_t OC)
{
    if (dinp)
        lv_cuda_gemm(0, 0, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    if (dweight)
        lv_cuda_gemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias)
        lv_cuda_column_sums_add(dbias, dout, N, OC);
}

/* ==== LayerNorm: one block per row ========================================================== */

static __global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd,
                                                const float *inp, const float *weight,
                                                const float *bias, int64_t C, float eps)
{
    __shared__ float scratch[LV_CUDA_THREADS];
    __shared__ float stat[2];
    const int64_t row = blockIdx.x;
    const float *x = inp + row * C;
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        s += x[c];
    s = lv_block_sum(s, scratch);
    if (threadIdx.x == 0)
        stat[0] = s / (float)C;
    __syncthreads();
    const float m = stat[0];
    float v = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        v += (x[c] - m) * (x[c] - m);
    v = lv_block_sum(v, scratch);
    if (threadIdx.x == 0) {
        stat[1] = 1.0f / sqrtf(v / (float)C + eps);
        mean[row] = m;
        rstd[row] = stat[1];
    }
    __syncthreads();
    const float r = stat[1];
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        out[row * C + c] = (x[c] - m) * r * weight[c] + bias[c];
}

void lv_cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                               const float *weight, const float *bias, int64_t N, int64_t C,
                               float eps)
{
    if (N <= 0)
        return;
    LV_LAUNCH(layernorm_forward_kernel, (unsigned)N, LV_CUDA_THREADS, out, mean, rstd, inp,
              weight, bias, C, eps);
    lv_cuda_check("layernorm_forward");
}

/* forward y = xhat w + b with xhat = (x - mean) rstd, so with g = dout w:
 * dx += rstd (g - mean(g) - xhat mean(g xhat)); dw += sum over rows dout xhat; db += sum dout */
static __global__ void layernorm_backward_kernel(float *dinp, const float *dout, const float *inp,
                                                 const float *weight, const float *mean,
                                                 const float *rstd, int64_t C)
{
    __shared__ float scratch[LV_CUDA_THREADS];
    __shared__ float stat[2];
    const int64_t row = blockIdx.x;
    const float m = mean[row], r = rstd[row];
    const float *x = inp + row * C, *dy = dout + row * C;
    float sg = 0.0f, sgx = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        const float g = dy[c] * weight[c];
        sg += g;
        sgx += g * (x[c] - m) * r;
    }
    sg = lv_block_sum(sg, scratch);
    sgx = lv_block_sum(sgx, scratch);
    if (threadIdx.x == 0) {
        stat[0] = sg / (float)C;
        stat[1] = sgx / (float)C;
    }
    __syncthreads();
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        const float xhat = (x[c] - m) * r;
        dinp[row * C + c] += r * (dy[c] * weight[c] - stat[0] - xhat * stat[1]);
    }
}

/* dweight[c] += sum over rows dout xhat, dbias[c] += sum over rows dout: a thread per column */
static __global__ void layernorm_params_kernel(float *dweight, float *dbias, const float *dout,
                                               const float *inp, const float *mean,
                                               const float *rstd, int64_t N, int64_t C)
{
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C) {
        float sw = 0.0f, sb = 0.0f;
        for (int64_t r = 0; r < N; r++) {
            const float dy = dout[r * C + c];
            sw += dy * (inp[r * C + c] - mean[r]) * rstd[r];
            sb += dy;
        }
        if (dweight)
            dweight[c] += sw;
        if (dbias)
            dbias[c] += sb;
    }
}

void lv_cuda_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, const float *mean,
                                const float *rstd, int64_t N, int64_t C)
{
    if (N <= 0)
        return;
    if (dinp)
        LV_LAUNCH(layernorm_backward_kernel, (unsigned)N, LV_CUDA_THREADS, dinp, dout, inp,
                  weight, mean, rstd, C);
    if (dweight || dbias)
        LV_LAUNCH(layernorm_params_kernel, lv_cuda_blocks(C, LV_CUDA_THREADS), LV_CUDA_THREADS,
                  dweight, dbias, dout, inp, mean, rstd, N, C);
    lv_cuda_check("layernorm_backward");
}

/* ==== AdamW: the rule of lv_adamw_coef, per entry in double as the reference ================= */

static __global__ void adamw_kernel(float *x, const float *g, float *m, float *v, int64_t n,
                                    lv_adamw_coef k)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const double gi = g[i] * k.grad_scale;
        m[i] = (float)(k.beta1 * m[i] + (1.0 - k.beta1) * gi);
        v[i] = (float)(k.beta2 * v[i] + (1.0 - k.beta2) * gi * gi);
        const double update = (m[i] / k.bc1) / (sqrt(v[i] / k.bc2) + k.eps);
        x[i] = (float)(k.keep * x[i] - k.lr * update);
    }
}

void lv_cuda_adamw_update(float *x, const float *grad, float *m, float *v, int64_t n,
                          const lv_adamw_coef *k)
{
    if (n <= 0)
        return;
    LV_LAUNCH(adamw_kernel, lv_cuda_blocks(n, LV_CUDA_THREADS), LV_CUDA_THREADS, x, grad, m, v, n,
              *k);
    lv_cuda_check("adamw_update");
}

/* ==== the table ============================================================================== */

extern "C" const lv_backend lv_backend_cuda = {
#ifdef __CUDACC__
    .name = "cuda",
#else
    .name = "cuda-host",
#endif
    .host_memory = 0,
    .attention_lse = 1,
    .alloc = lv_cuda_alloc,
    .free = lv_cuda_free,
    .upload = lv_cuda_upload,
    .download = lv_cuda_download,
    .copy = lv_cuda_copy,
    .set = lv_cuda_set,
    .linear_forward = lv_cuda_linear_forward,
    .linear_backward = lv_cuda_linear_backward,
    .layernorm_forward = lv_cuda_layernorm_forward,
    .layernorm_backward = lv_cuda_layernorm_backward,
    .gelu_forward = lv_cuda_gelu_forward,
    .gelu_backward = lv_cuda_gelu_backward,
    .quick_gelu_forward = lv_cuda_quick_gelu_forward,
    .quick_gelu_backward = lv_cuda_quick_gelu_backward,
    .gelu_tanh_forward = lv_cuda_gelu_tanh_forward,
    .gelu_tanh_backward = lv_cuda_gelu_tanh_backward,
    .attention_forward = lv_cuda_attention_forward,
    .attention_backward = lv_cuda_attention_backward,
    .residual_forward = lv_cuda_residual_forward,
    .residual_backward = lv_cuda_residual_backward,
    .gated_residual_forward = lv_cuda_gated_residual_forward,
    .gated_residual_backward = lv_cuda_gated_residual_backward,
    .mean_pool_forward = lv_cuda_mean_pool_forward,
    .mean_pool_backward = lv_cuda_mean_pool_backward,
    .segment_mean_forward = lv_cuda_segment_mean_forward,
    .segment_mean_backward = lv_cuda_segment_mean_backward,
    .l2norm_forward = lv_cuda_l2norm_forward,
    .l2norm_backward = lv_cuda_l2norm_backward,
    .embedding_forward = lv_cuda_embedding_forward,
    .embedding_backward = lv_cuda_embedding_backward,
    .tubelet_embed_forward = lv_cuda_tubelet_embed_forward,
    .tubelet_embed_backward = lv_cuda_tubelet_embed_backward,
    .pos_embed_forward = lv_cuda_pos_embed_forward,
    .pos_embed_backward = lv_cuda_pos_embed_backward,
    .infonce_forward = lv_cuda_infonce_forward,
    .infonce_backward = lv_cuda_infonce_backward,
    .cross_entropy_forward = lv_cuda_cross_entropy_forward,
    .cross_entropy_backward = lv_cuda_cross_entropy_backward,
    .scale = lv_cuda_scale,
    .adamw_update = lv_cuda_adamw_update,
    .sum_squares = lv_cuda_sum_squares,
};
