/* bf16 matmuls for the cpu backend (--precision bf16): fp32 operands rounded to bf16, products
 * accumulated and stored in fp32, through oneDNN's matmul primitive (bf16_dnnl.c) on CPUs with
 * AVX512-BF16; without oneDNN in the build, bf16_none.c says what to install. Only the matmul
 * operands change precision: weights, optimiser state, LayerNorm, softmax and losses stay fp32. */
#ifndef LV_BF16_DNNL_H
#define LV_BF16_DNNL_H

#include "backend.h"

#include <stdint.h>
#include <string.h>

/* 0 when bf16 matmuls run here; -1 + lv_error() saying why not and what to do: a build without
 * oneDNN (install libdnnl-dev and rebuild), a CPU without AVX512-BF16, or oneDNN capped below
 * it (DNNL_MAX_CPU_ISA). */
int lv_bf16_ready(void);

/* The contract of lv_sgemm (row-major, BLAS transpose/alpha/beta) with op(A) and op(B) rounded
 * to bf16 (alpha folded into A before rounding), fp32 accumulation, C in fp32. Requires
 * lv_bf16_ready() == 0. Operands are converted into buffers grown to the largest call and kept;
 * one oneDNN primitive per shape, made on first use and kept. */
void lv_gemm_bf16(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc);

/* The jobs (1 or 2, independent) of a linear or tubelet kernel (cpu_common.h's lv_gemm_job,
 * lv_gemm_bf16's contract each), as one parallel region of single-threaded oneDNN matmuls: the
 * operands rounded once (an A two jobs share, once), then a part of C per thread
 * (lv_gemm_job_parts, rows only); where that would leave a thread idle, each job whole through
 * lv_gemm_bf16 and oneDNN's threads instead. Requires lv_bf16_ready() == 0. */
struct lv_gemm_job;
void lv_gemm_bf16_jobs(const struct lv_gemm_job *jobs, int n);

/* Products of dense bf16 tiles for kernels that run them inside their own OpenMP loop (the
 * attention of --precision bf16): C = alpha op(A) op(B) + beta C with A stored (M, K) or, with
 * trans_a, (K, M), B stored (K, N) or, with trans_b, (N, K), both dense bf16; fp32 accumulation,
 * alpha applied to the fp32 sums, C fp32 with row stride ldc. Thread t of the region runs the
 * product on itself with its own primitive per shape (made on first use, kept), so
 * lv_bf16_tiles_reserve(threads) must have been called, outside the region, by then.
 * Requires lv_bf16_ready() == 0. */
void lv_bf16_tiles_reserve(int threads);
void lv_gemm_bf16_tile(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const uint16_t *A, const uint16_t *B, float beta, float *C, int64_t ldc);

/* The cpu backend's attention (attention_cpu.c, the lv_backend attention_forward/_backward
 * contract) with every tile product on bf16 operands through lv_gemm_bf16_tile: q, k, v, dout
 * rounded once per call, the probabilities and dS per tile; softmax, its running maximum and
 * sum, and every accumulator fp32. The attention of "cpu-bf16" (registry.c). */
void lv_cpu_attention_forward_bf16(float *out, float *stats, const float *q, const float *k,
                                   const float *v, const lv_attn_groups *g, int64_t ldq,
                                   int64_t ldkv, int64_t H, int64_t D);
void lv_cpu_attention_backward_bf16(float *dq, float *dk, float *dv, const float *dout,
                                    const float *out, const float *stats, const float *q,
                                    const float *k, const float *v, const lv_attn_groups *g,
                                    int64_t ldq, int64_t ldkv, int64_t H, int64_t D);

/* fp32 -> bf16 bits, round to nearest even (NaN stays a quiet NaN): what lv_gemm_bf16 does to
 * each operand. */
static inline uint16_t lv_bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);              /* ties to even */
    return (uint16_t)(u >> 16);
}

/* fp32 -> bf16 -> fp32: the value lv_gemm_bf16 multiplies (tests emulate it with this). */
static inline float lv_bf16_round(float x)
{
    const uint32_t u = (uint32_t)lv_bf16_bits(x) << 16;
    float y;
    memcpy(&y, &u, sizeof y);
    return y;
}

/* "oneDNN 2.6.3 matmul, ISA ..." or why there is none. */
const char *lv_bf16_backend(void);

/* lv_backend_cpu with the matmuls of linear layers, of the tubelet embedding and of attention
 * (the bf16 attention above) on bf16 operands (blas_glue/backend_cpu.c): "cpu-bf16". InfoNCE
 * and every other kernel are the fp32 ones. */
const lv_backend *lv_backend_cpu_bf16(void);

/* The precision of the backend every command picks by name (blas_glue/registry.c): "fp32" (the
 * default) or "bf16", from --precision (tools/options.c takes it out of every command's
 * arguments). Under bf16, lv_backend_find("cpu") is "cpu-bf16" (NULL + lv_error() saying what is
 * missing where the build or the CPU cannot run it) and any other backend is refused; a value
 * other than fp32 or bf16 makes lv_backend_find fail naming it. */
void lv_backend_set_precision(const char *precision);

#endif
