/* Internal to blas_glue/: what the cpu kernels share (scratch slots, threads, a vectorisable exp,
 * group-list helpers). Not part of the public API. */
#ifndef LV_CPU_COMMON_H
#define LV_CPU_COMMON_H

#include "kernels.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
static inline int max_threads(void) { return omp_get_max_threads(); }
static inline int thread_id(void) { return omp_get_thread_num(); }
static inline int in_parallel(void) { return omp_in_parallel(); }
#else
static inline int max_threads(void) { return 1; }
static inline int thread_id(void) { return 0; }
static inline int in_parallel(void) { return 0; }
#endif

enum {
    PAR_MIN = 1 << 15,      /* floats of work below which a loop stays serial */
};

/* Temporaries (im2col columns, attention tiles and offsets, InfoNCE gradients) live in a few
 * slots grown to the largest size seen and kept, so steady-state steps allocate nothing. A
 * kernel holds lv_cpu_scratch_lock while it uses them: concurrent callers wait, never share.
 * Out of memory aborts with the reason (a kernel has no error return). */
enum { SLOT_A, SLOT_B, SLOT_C, SLOT_D, SLOT_INDEX,
       SLOT_COPIES,         /* attention's per-call copies of its inputs (fp32 or bf16) */
       SLOT_COUNT };
extern pthread_mutex_t lv_cpu_scratch_lock;
void *lv_cpu_scratch(int slot, size_t bytes);

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static inline int64_t list_row(const int64_t *index, int64_t i)
{
    return index ? index[i] : i;
}

/* a b + c in one rounding where the target has FMA (a vectorised fmaf is one instruction then;
 * without FMA fmaf is a library call, so the two roundings of a * b + c instead) */
static inline float mul_add(float a, float b, float c)
{
#ifdef __FMA__
    return __builtin_fmaf(a, b, c);
#else
    return a * b + c;
#endif
}

/* exp(x) for x <= 0, vectorisable (no library call, no branch): Cephes' expf, range reduction by
 * ln 2 in two parts and a degree-6 polynomial, ~1 ulp. Below -87 (and -INFINITY, a masked key)
 * exactly 0; NaN stays NaN. Its multiply-adds are fused where the target allows (mul_add): C11
 * does not contract them on its own, and unfused they were half the polynomial's instructions
 * (the softmax is ~17% of attention's forward at head size 64). */
static inline float exp_neg(float x)
{
    const float magic = 12582912.0f;          /* 1.5 * 2^23: adding it rounds to an integer */
    const float xc = x < -87.0f ? -87.0f : x;
    const float t = mul_add(xc, 1.44269504088896341f, magic), n = t - magic;  /* round(x/ln 2) */
    const float r = mul_add(n, 2.12194440e-4f, mul_add(n, -0.693359375f, xc));
    float p = 1.9875691500e-4f;
    p = mul_add(p, r, 1.3981999507e-3f);
    p = mul_add(p, r, 8.3334519073e-3f);
    p = mul_add(p, r, 4.1665795894e-2f);
    p = mul_add(p, r, 1.6666665459e-1f);
    p = mul_add(p, r, 5.0000001201e-1f);
    p = mul_add(p * r, r, r) + 1.0f;
    uint32_t bits;                            /* t's low mantissa bits hold n: 2^n from them */
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return x < -87.0f ? 0.0f : p * two_n;
}

/* exp_neg as the kernels compile it (blas_glue's flags: fused where the machine has FMA), for
 * the tests */
float lv_cpu_exp_neg(float x);

/* 1 when no row appears in two different groups of one list (start, index); uses SLOT_B. */
int lv_cpu_rows_disjoint(const int64_t *start, const int64_t *index, int64_t G);

/* One matmul C = alpha op(A) op(B) + beta C (lv_sgemm's contract) as data, so that the linear
 * and tubelet kernels can hand the fp32 or the bf16 matmul one job or two at once
 * (backend_cpu.c's sgemm_jobs, bf16_dnnl.c's lv_gemm_bf16_jobs). */
typedef struct lv_gemm_job {
    int ta, tb;
    int64_t M, N, K;
    float alpha;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float beta;
    float *c;
    int64_t ldc;
} lv_gemm_job;

enum { LV_SPLIT_MIN = 64 };     /* rows (or columns) of C per part of a split job, at least */

/* How n (1 or 2) independent jobs share T threads, a part of C per thread: job i gets T / n
 * threads (the last the remainder), fewer where its C has under LV_SPLIT_MIN rows per part
 * (rows_only; a job with ta is not split then) or rows-or-columns, whichever C has more of.
 * Returns the threads of the jobs' region, the sum of parts[i] (>= 1 each), never more than T;
 * 1 when the jobs should run whole, one after the other: on one thread, on fewer threads than
 * jobs, or when no job splits and there is one job. */
static inline int64_t lv_gemm_job_parts(const lv_gemm_job *jobs, int n, int64_t T, int rows_only,
                                        int64_t *parts)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const int64_t share = i == n - 1 ? T - T / n * (n - 1) : T / n;
        const lv_gemm_job *j = &jobs[i];
        const int64_t extent = rows_only ? (j->ta ? 0 : j->M) : max64(j->M, j->N);
        parts[i] = max64(1, min64(share, extent / LV_SPLIT_MIN));
        total += parts[i];
    }
    return T < n || total < 2 ? 1 : total;
}

/* Rows [*i0, *i1) of part p of n of a job's C (p < n) */
static inline void lv_gemm_part_rows(const lv_gemm_job *j, int64_t p, int64_t n, int64_t *i0,
                                     int64_t *i1)
{
    *i0 = j->M * p / n;
    *i1 = j->M * (p + 1) / n;
}

/* blas_glue/tile_gemm.c: the attention tiles' matmul, C (M x N, row stride ldc) = alpha A B,
 * plus C when accumulate (else C is only written). A(i, k) = a[i * sar + k * sak], so A or A^T
 * of a row-major block is one call; row k of B is the N contiguous floats at b + k * ldb. N must
 * be a multiple of LV_TILE_GEMM_COLS (a vector of floats); the other sizes are free. */
enum { LV_TILE_GEMM_COLS = 16 };
void lv_tile_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float *a, int64_t sar,
                  int64_t sak, const float *b, int64_t ldb, int accumulate, float *c,
                  int64_t ldc);

/* blas_glue/attention_cpu.c: the memory-efficient attention of lv_backend_cpu */
enum {
    ATT_BQ = 64,        /* query rows per tile */
    ATT_BK = 240,       /* key rows per tile: 64 x 240 x 64 = 983,040 <= 10^6, OpenBLAS's bound
                         * for its unpacked small-matrix sgemm on AVX-512 cores, which the tile
                         * products of head sizes not a multiple of 16 still call; with 256 keys
                         * every such product was packed first (~5% slower attention, one
                         * thread, ViT-S). On lv_tile_gemm (head size 64) 128 query rows or
                         * 480 keys measured the same within 1-4%; 240 is a multiple of 16,
                         * which lv_tile_gemm's score tiles need. */
    ATT_CHUNKS = 4      /* key chunks per (group, head) in the backward: parallel work units */
};

/* Per-thread tile scratch for head size hs: Q, dO, O tiles (BQ x hs), K, V, dK, dV tiles
 * (BK x hs), S and dP (BQ x BK), 4 row vectors. */
static inline int64_t lv_cpu_attention_thread_floats(int64_t hs)
{
    return 3 * ATT_BQ * hs + 4 * ATT_BK * hs + 2 * ATT_BQ * ATT_BK + 4 * ATT_BQ;
}

void lv_cpu_attention_forward(float *out, float *stats, const float *q, const float *k,
                              const float *v, const lv_attn_groups *g, int64_t ldq, int64_t ldkv,
                              int64_t H, int64_t D);
void lv_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *out, const float *stats, const float *q, const float *k,
                               const float *v, const lv_attn_groups *g, int64_t ldq,
                               int64_t ldkv, int64_t H, int64_t D);

#endif
