/* The fast CPU backend: every kernel of ref/kernels.h with the contracts and cache layouts of
 * lv_backend_ref (attention's cache aside: attention_cpu.c), so the graph runs unchanged.
 * Matmuls (linear, tubelet) are jobs on OpenBLAS's sgemm threaded by us (sgemm_jobs: one
 * OpenMP region, a single-threaded lv_sgemm per thread, so one threading level at a time);
 * InfoNCE's small ones call lv_sgemm; the rest is OpenMP over rows, (group, head) pairs or
 * parameter columns. No atomics and no per-thread gradient copies: each output element is
 * written by one thread in a fixed order, so a result does not depend on the number of threads
 * (lv_sgemm aside: see lv_backend_cpu_thread_exact). */
#include "kernels.h"
#include "bf16_dnnl.h"
#include "blas_glue.h"
#include "cpu_common.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX__
#include <immintrin.h>        /* the AdamW loop only (cpu_adamw_update) */
#endif

enum {
    COLS = 16,              /* columns per task in column reductions */
    DOT_PARTS = 64          /* fixed partial sums of a whole-tensor dot product */
};

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

/* ---- scratch (see cpu_common.h) ----------------------------------------------------------- */

pthread_mutex_t lv_cpu_scratch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *p;
    size_t bytes;
} scratch[SLOT_COUNT];

void *lv_cpu_scratch(int slot, size_t bytes)
{
    if (bytes > scratch[slot].bytes) {
        free(scratch[slot].p);
        scratch[slot].p = lv_malloc(bytes, "the cpu backend's scratch");
        if (!scratch[slot].p) {          /* a kernel has no error return: stop, saying why */
            fprintf(stderr, "longvivit: %s\n", lv_error());
            abort();
        }
        scratch[slot].bytes = bytes;
    }
    return scratch[slot].p;
}

/* sum_i a[i] b[i] in double over DOT_PARTS fixed parts added in order: the same on any number
 * of threads */
static double dot_parts(const float *a, const float *b, int64_t n)
{
    double part[DOT_PARTS];
    const int64_t len = (n + DOT_PARTS - 1) / DOT_PARTS;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t p = 0; p < DOT_PARTS; p++) {
        const int64_t i0 = min64(n, p * len), i1 = min64(n, i0 + len);
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (int64_t i = i0; i < i1; i++)
            s += (double)a[i] * b[i];
        part[p] = s;
    }
    double dot = 0.0;
    for (int64_t p = 0; p < DOT_PARTS; p++)
        dot += part[p];
    return dot;
}

/* ---- small vector helpers (vectorised by omp simd; plain loops without OpenMP) ------------- */

static void axpy_f32(float *y, float a, const float *x, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* dst[c] += sum_r x[r, c]: tasks own column slices and sum the rows in order in double, so the
 * result is the same on any number of threads. */
static void column_sums_add(float *dst, const float *x, int64_t rows, int64_t cols)
{
    const int64_t tasks = (cols + COLS - 1) / COLS;
    #pragma omp parallel for schedule(static) if (rows * cols > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t c0 = t * COLS, nc = min64(COLS, cols - c0);
        double acc[COLS] = { 0 };
        for (int64_t r = 0; r < rows; r++) {
            const float *row = x + r * cols + c0;
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++)
                acc[c] += row[c];
        }
        for (int64_t c = 0; c < nc; c++)
            dst[c0 + c] += (float)acc[c];
    }
}

static void fill_rows(float *out, const float *row, int64_t N, int64_t C)
{
    #pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t n = 0; n < N; n++)
        memcpy(out + n * C, row, (size_t)C * sizeof *out);
}

/* ---- the fp32 matmul: our threads, OpenBLAS's kernels ---------------------------------------- */

/* Why not lv_sgemm's own threads: on 2 threads OpenBLAS's split of one matmul ran the model's
 * shapes (392 or 1568 rows by 384, 1152, 1536 columns) at 150-190 GFLOP/s in some runs and ~205
 * (its 1536^3 rate) in others, run to run on a quiet machine; the same matmuls as one OpenMP
 * region of single-threaded calls, a part of C per thread, ran at 197-208 in every run (Zen 4,
 * 2 threads; `bench --profile` shows the matmul family's rate, docs/performance.md). The
 * backward's two products (dinp and dW, equal FLOPs) become one region with a thread each. */

/* Part p of n of a job, single-threaded (a call inside a parallel region): C's rows when it
 * has at least as many rows as columns, else its columns, in near-equal slices */
static void job_part(const lv_gemm_job *j, int64_t p, int64_t n)
{
    if (j->M >= j->N) {
        int64_t i0, i1;
        lv_gemm_part_rows(j, p, n, &i0, &i1);
        const float *a = j->ta ? j->a + i0 : j->a + i0 * j->lda;
        lv_sgemm(j->ta, j->tb, i1 - i0, j->N, j->K, j->alpha, a, j->lda, j->b, j->ldb, j->beta,
                 j->c + i0 * j->ldc, j->ldc);
    } else {
        const int64_t c0 = j->N * p / n, c1 = j->N * (p + 1) / n;
        const float *b = j->tb ? j->b + c0 * j->ldb : j->b + c0;
        lv_sgemm(j->ta, j->tb, j->M, c1 - c0, j->K, j->alpha, j->a, j->lda, b, j->ldb, j->beta,
                 j->c + c0, j->ldc);
    }
}

/* The fp32 jobs of a kernel (1 or 2, independent: no job's C is another's input) as one
 * parallel region, a part per thread (lv_gemm_job_parts); on one thread, or with one part in
 * all (small matmuls), whole to lv_sgemm, one after the other. */
static void sgemm_jobs(const lv_gemm_job *jobs, int n)
{
    int64_t parts[2];
    const int64_t total = lv_gemm_job_parts(jobs, n, max_threads(), 0, parts);
    if (total < 2 || in_parallel()) {
        for (int i = 0; i < n; i++)
            job_part(&jobs[i], 0, 1);
        return;
    }
    #pragma omp parallel for schedule(static) num_threads(total)
    for (int64_t u = 0; u < total; u++) {
        const int i = u < parts[0] ? 0 : 1;
        job_part(&jobs[i], i ? u - parts[0] : u, parts[i]);
    }
}

/* The matmuls of the linear and tubelet kernels: sgemm_jobs, or lv_gemm_bf16_jobs in the
 * cpu-bf16 table (--precision bf16: the wrappers at the end of this file) */
typedef void gemm_jobs_fn(const lv_gemm_job *jobs, int n);

/* One job: C = alpha op(A) op(B) + beta C */
static void gemm1(gemm_jobs_fn *run, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc)
{
    const lv_gemm_job j = { ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc };
    run(&j, 1);
}

/* ---- linear --------------------------------------------------------------------------------- */

static void linear_forward(gemm_jobs_fn *gemm, float *out, const float *inp, const float *weight,
                           const float *bias, int64_t N, int64_t C, int64_t OC)
{
    /* out (N, OC) = inp (N, C) W^T + b, W (OC, C): the bias written first and the product added
     * by the matmul (beta 1), one pass over out instead of a zeroing pass and a bias pass */
    if (bias)
        fill_rows(out, bias, N, OC);
    gemm1(gemm, 0, 1, N, OC, C, 1.0f, inp, C, weight, C, bias ? 1.0f : 0.0f, out, OC);
}

static void linear_backward(gemm_jobs_fn *gemm, float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp, const float *weight, int64_t N,
                            int64_t C, int64_t OC)
{
    /* forward: out = inp W^T + b => dinp += dout W, dW += dout^T inp, db += colsum(dout) */
    /* both at once, a share of the threads each (dinp and dW have equal FLOPs) */
    lv_gemm_job jobs[2];
    int n = 0;
    if (dinp)
        jobs[n++] = (lv_gemm_job){ 0, 0, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C };
    if (dweight)
        jobs[n++] = (lv_gemm_job){ 1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C };
    if (n)
        gemm(jobs, n);
    if (dbias)
        column_sums_add(dbias, dout, N, OC);
}

static void cpu_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                               int64_t N, int64_t C, int64_t OC)
{
    linear_forward(sgemm_jobs, out, inp, weight, bias, N, C, OC);
}

static void cpu_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int64_t N, int64_t C,
                                int64_t OC)
{
    linear_backward(sgemm_jobs, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

/* ---- layernorm ------------------------------------------------------------------------------ */

static void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                  const float *weight, const float *bias, int64_t N, int64_t C,
                                  float eps)
{
    #pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        double sum = 0.0, var = 0.0;
        #pragma omp simd reduction(+:sum)
        for (int64_t c = 0; c < C; c++)
            sum += x[c];
        const double m = sum / (double)C;
        #pragma omp simd reduction(+:var)
        for (int64_t c = 0; c < C; c++)
            var += ((double)x[c] - m) * ((double)x[c] - m);
        const float mf = (float)m, s = (float)(1.0 / sqrt(var / (double)C + eps));
        float *y = out + n * C;
        #pragma omp simd
        for (int64_t c = 0; c < C; c++)
            y[c] = (x[c] - mf) * s * weight[c] + bias[c];
        mean[n] = mf;
        rstd[n] = s;
    }
}

static void cpu_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *weight, const float *mean,
                                   const float *rstd, int64_t N, int64_t C)
{
    /* forward: y = xhat * w + b, xhat = (x - mean) * rstd
     * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * w */
    if (dinp) {
        #pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
        for (int64_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            const float m = mean[n], s = rstd[n];
            double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
            #pragma omp simd reduction(+:sum_dxhat, sum_dxhat_xhat)
            for (int64_t c = 0; c < C; c++) {
                const float dxhat = dy[c] * weight[c];
                sum_dxhat += dxhat;
                sum_dxhat_xhat += dxhat * ((x[c] - m) * s);
            }
            const float a = (float)(sum_dxhat / (double)C);
            const float b = (float)(sum_dxhat_xhat / (double)C);
            float *dx = dinp + n * C;
            #pragma omp simd
            for (int64_t c = 0; c < C; c++)
                dx[c] += s * (dy[c] * weight[c] - a - (x[c] - m) * s * b);
        }
    }
    if (!dweight && !dbias)
        return;
    /* dw[c] += sum_n dy[n,c] xhat[n,c], db[c] += sum_n dy[n,c]: tasks own column slices */
    const int64_t tasks = (C + COLS - 1) / COLS;
    #pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t c0 = t * COLS, nc = min64(COLS, C - c0);
        double aw[COLS] = { 0 }, ab[COLS] = { 0 };
        for (int64_t n = 0; n < N; n++) {
            const float *x = inp + n * C + c0, *dy = dout + n * C + c0;
            const float m = mean[n], s = rstd[n];
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++) {
                aw[c] += dy[c] * ((x[c] - m) * s);
                ab[c] += dy[c];
            }
        }
        for (int64_t c = 0; c < nc; c++) {
            if (dweight)
                dweight[c0 + c] += (float)aw[c];
            if (dbias)
                dbias[c0 + c] += (float)ab[c];
        }
    }
}

/* ---- GELU (erf form) --------------------------------------------------------------------------
 * Phi(x) = erfc(-x / sqrt 2) / 2 with erfc(z) for z >= 0 from Abramowitz & Stegun 7.1.26:
 * erfc(z) = t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-z^2), t = 1 / (1 + p z), absolute
 * error <= 1.5e-7; erfc(-z) = 2 - erfc(z). No library call and no branch, so the loops
 * vectorise (libm's erfcf does not); exp through exp_neg. */

static inline float std_normal_cdf(float x)
{
    const float z = fabsf(x) * INV_SQRT2, t = 1.0f / (1.0f + 0.3275911f * z);
    const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f +
                       t * (-1.453152027f + t * 1.061405429f))));
    const float half_erfc = 0.5f * poly * exp_neg(-z * z);        /* Phi(-|x|) */
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

static void cpu_gelu_forward(float *out, const float *inp, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++)
        out[i] = inp[i] * std_normal_cdf(inp[i]);
}

static void cpu_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    /* forward: y = x Phi(x); dy/dx = Phi(x) + x phi(x) */
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i];
        const float pdf = INV_SQRT2PI * exp_neg(-0.5f * x * x);
        dinp[i] += dout[i] * (std_normal_cdf(x) + x * pdf);
    }
}

/* ---- QuickGELU --------------------------------------------------------------------------------
 * out = x s(a), a = 1.702 x, s the logistic sigmoid. With e = exp(-|a|) (exp_neg: no overflow,
 * no branch) and r = 1 / (1 + e):  s(a) = r for a >= 0, e r below, and s (1 - s) = e r^2 either
 * way, so s (1 - s) keeps its accuracy where s rounds to 1 (1 - fp32(s) would not). a itself
 * overflows to +-inf beyond |x| = FLT_MAX / 1.702; e is then 0, and x multiplies 1.702 e r^2
 * rather than a multiplying e r^2, so no inf * 0 makes a NaN. */

#define QUICK_GELU_K 1.702f

static void cpu_quick_gelu_forward(float *out, const float *inp, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i], a = QUICK_GELU_K * x;
        const float e = exp_neg(-fabsf(a)), r = 1.0f / (1.0f + e);
        out[i] = x * (x < 0.0f ? e * r : r);
    }
}

static void cpu_quick_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    /* forward: y = x s(a), a = 1.702 x; dy/dx = s + x 1.702 s (1 - s) */
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i], a = QUICK_GELU_K * x;
        const float e = exp_neg(-fabsf(a)), r = 1.0f / (1.0f + e);
        dinp[i] += dout[i] * ((x < 0.0f ? e * r : r) + x * (QUICK_GELU_K * e * r * r));
    }
}

/* ---- GELU, tanh approximation -----------------------------------------------------------------
 * GPT-2's x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), as ref evaluates it: x s(a) with
 * a = 2u = 2 sqrt(2/pi) x (1 + 0.044715 x^2) and the sigmoid s from e = exp(-|a|) as QuickGELU's
 * above (s (1 - s) = e r^2, accurate where s ~ 1). a overflows to +-inf from |x| ~ 1.8e19 (x^2),
 * harmlessly: e = 0. The backward's da/dx = 2 sqrt(2/pi) (1 + 3 0.044715 x^2) would overflow there
 * too and meet e = 0 (inf * 0 = NaN), so it is taken at x clamped to +-GELU_TANH_CLAMP: from
 * |x| ~ 10 on, e is already 0 in fp32 and the term is exactly 0 with or without the clamp. */

#define GELU_TANH_2C 1.5957691216057308f       /* 2 sqrt(2 / pi) */
#define GELU_TANH_K 0.044715f
#define GELU_TANH_CLAMP 1e4f

static void cpu_gelu_tanh_forward(float *out, const float *inp, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i], a = GELU_TANH_2C * x * (1.0f + GELU_TANH_K * x * x);
        const float e = exp_neg(-fabsf(a)), r = 1.0f / (1.0f + e);
        out[i] = x * (x < 0.0f ? e * r : r);
    }
}

static void cpu_gelu_tanh_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    /* forward: y = x s(a), a = 2 sqrt(2/pi) (x + 0.044715 x^3); dy/dx = s + x s (1 - s) da/dx */
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i], a = GELU_TANH_2C * x * (1.0f + GELU_TANH_K * x * x);
        const float e = exp_neg(-fabsf(a)), r = 1.0f / (1.0f + e);
        const float xc = fminf(fmaxf(x, -GELU_TANH_CLAMP), GELU_TANH_CLAMP);
        const float da = GELU_TANH_2C * (1.0f + 3.0f * GELU_TANH_K * xc * xc);
        dinp[i] += dout[i] * ((x < 0.0f ? e * r : r) + xc * da * (e * r * r));
    }
}

/* ---- group lists (attention itself: attention_cpu.c) ---------------------------------------- */

/* 1 when no row appears in two different groups of one list (start, index). */
int lv_cpu_rows_disjoint(const int64_t *start, const int64_t *index, int64_t G)
{
    if (!index)
        return 1;                /* ranges of consecutive rows, ascending by contract */
    int64_t rows = 0;
    for (int64_t i = start[0]; i < start[G]; i++)
        rows = index[i] + 1 > rows ? index[i] + 1 : rows;
    int64_t *owner = lv_cpu_scratch(SLOT_B, (size_t)rows * sizeof *owner);
    for (int64_t r = 0; r < rows; r++)
        owner[r] = -1;
    for (int64_t gi = 0; gi < G; gi++)
        for (int64_t i = start[gi]; i < start[gi + 1]; i++) {
            if (owner[index[i]] >= 0 && owner[index[i]] != gi)
                return 0;
            owner[index[i]] = gi;
        }
    return 1;
}

/* ---- residuals ------------------------------------------------------------------------------ */

static void cpu_residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

static void cpu_residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    if (da)
        cpu_residual_forward(da, da, dout, n);
    if (db)
        cpu_residual_forward(db, db, dout, n);
}

static void cpu_gated_residual_forward(float *out, const float *h, const float *f,
                                       const float *gate, int64_t n)
{
    const float g = tanhf(gate[0]);
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        out[i] = h[i] + g * f[i];
}

static void cpu_gated_residual_backward(float *dh, float *df, float *dgate, const float *dout,
                                        const float *f, const float *gate, int64_t n)
{
    /* forward: out = h + tanh(a) f; d/da = (1 - tanh(a)^2) sum(dout * f) */
    const float g = tanhf(gate[0]);
    if (dh)
        cpu_residual_forward(dh, dh, dout, n);
    if (df)
        cpu_gated_residual_forward(df, df, dout, gate, n);
    if (!dgate)
        return;
    const double dot = dot_parts(dout, f, n);
    dgate[0] += (float)((1.0 - (double)g * g) * dot);
}

/* ---- pooling and normalisation -------------------------------------------------------------- */

static int64_t count_valid(const uint8_t *valid, int64_t T)
{
    if (!valid)
        return T;
    int64_t n = 0;
    for (int64_t t = 0; t < T; t++)
        n += valid[t] != 0;
    return n;
}

static void cpu_mean_pool_forward(float *out, const float *inp, const uint8_t *valid, int64_t B,
                                  int64_t T, int64_t D)
{
    /* tasks: (sample, column slice), rows summed in order in double */
    const int64_t slices = (D + COLS - 1) / COLS;
    #pragma omp parallel for schedule(static) if (B * T * D > PAR_MIN)
    for (int64_t task = 0; task < B * slices; task++) {
        const int64_t b = task / slices, c0 = (task % slices) * COLS, nc = min64(COLS, D - c0);
        const uint8_t *vb = valid ? valid + b * T : NULL;
        const int64_t cnt = count_valid(vb, T);
        double acc[COLS] = { 0 };
        for (int64_t t = 0; t < T; t++) {
            if (vb && !vb[t])
                continue;
            const float *x = inp + (b * T + t) * D + c0;
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++)
                acc[c] += x[c];
        }
        for (int64_t c = 0; c < nc; c++)
            out[b * D + c0 + c] = cnt ? (float)(acc[c] / (double)cnt) : 0.0f;
    }
}

static void cpu_mean_pool_backward(float *dinp, const float *dout, const uint8_t *valid,
                                   int64_t B, int64_t T, int64_t D)
{
    /* forward: out[b] = sum_{t valid} inp[b,t] / count  =>  dinp[b,t] += dout[b] / count */
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    float *inv = lv_cpu_scratch(SLOT_A, (size_t)B * sizeof *inv);
    for (int64_t b = 0; b < B; b++) {
        const int64_t cnt = count_valid(valid ? valid + b * T : NULL, T);
        inv[b] = cnt ? (float)(1.0 / (double)cnt) : 0.0f;
    }
    #pragma omp parallel for schedule(static) if (B * T * D > PAR_MIN)
    for (int64_t r = 0; r < B * T; r++)
        if (!valid || valid[r])
            axpy_f32(dinp + r * D, inv[r / T], dout + (r / T) * D, D);
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
}

static void cpu_segment_mean_forward(float *out, const float *inp, const int64_t *start,
                                     int64_t G, int64_t D)
{
    const int64_t slices = (D + COLS - 1) / COLS;
    #pragma omp parallel for schedule(static) if (start[G] * D > PAR_MIN)
    for (int64_t task = 0; task < G * slices; task++) {
        const int64_t g = task / slices, c0 = (task % slices) * COLS, nc = min64(COLS, D - c0);
        const int64_t r0 = start[g], cnt = start[g + 1] - r0;
        LV_REQUIRE(r0 >= 0 && cnt >= 0);
        double acc[COLS] = { 0 };
        for (int64_t r = r0; r < r0 + cnt; r++) {
            const float *x = inp + r * D + c0;
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++)
                acc[c] += x[c];
        }
        for (int64_t c = 0; c < nc; c++)
            out[g * D + c0 + c] = cnt ? (float)(acc[c] / (double)cnt) : 0.0f;
    }
}

static void cpu_segment_mean_backward(float *dinp, const float *dout, const int64_t *start,
                                      int64_t G, int64_t D)
{
    /* forward: out[g] = sum_{r in segment g} inp[r] / count  =>  dinp[r] += dout[g] / count;
     * segments are disjoint row ranges, so each task owns its rows */
    #pragma omp parallel for schedule(static) if (start[G] * D > PAR_MIN)
    for (int64_t g = 0; g < G; g++) {
        const int64_t r0 = start[g], cnt = start[g + 1] - r0;
        LV_REQUIRE(r0 >= 0 && cnt >= 0);
        const float inv = cnt ? (float)(1.0 / (double)cnt) : 0.0f;
        for (int64_t r = r0; r < r0 + cnt; r++)
            axpy_f32(dinp + r * D, inv, dout + g * D, D);
    }
}

static void cpu_l2norm_forward(float *out, float *norm, const float *inp, int64_t N, int64_t C)
{
    #pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        double ss = 0.0;
        #pragma omp simd reduction(+:ss)
        for (int64_t c = 0; c < C; c++)
            ss += (double)x[c] * x[c];
        const double nrm = fmax(sqrt(ss), LV_L2NORM_EPS);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (float)(x[c] / nrm);
        norm[n] = (float)nrm;
    }
}

static void cpu_l2norm_backward(float *dinp, const float *dout, const float *out,
                                const float *norm, int64_t N, int64_t C)
{
    /* forward: y = x / |x|  =>  dx = (dy - y (y . dy)) / |x|; below eps, dx = dy / eps */
    #pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *y = out + n * C, *dy = dout + n * C;
        double dot = 0.0;
        if (norm[n] > LV_L2NORM_EPS) {
            #pragma omp simd reduction(+:dot)
            for (int64_t c = 0; c < C; c++)
                dot += y[c] * dy[c];
        }
        const float d = (float)dot, inv = 1.0f / norm[n];
        float *dx = dinp + n * C;
        #pragma omp simd
        for (int64_t c = 0; c < C; c++)
            dx[c] += (dy[c] - y[c] * d) * inv;
    }
}

/* ---- embeddings ------------------------------------------------------------------------------
 * Gradients of lookup tables scatter rows by id. A task owns a range of table rows and takes,
 * in token order, the tokens that land there: no two tasks write one row, and each row sums in
 * the same order on any number of threads. */

static void cpu_embedding_forward(float *out, const int32_t *ids, const float *table, int64_t N,
                                  int64_t V, int64_t D)
{
    #pragma omp parallel for schedule(static) if (N * D > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        LV_REQUIRE(ids[n] >= 0 && ids[n] < V);
        memcpy(out + n * D, table + (int64_t)ids[n] * D, (size_t)D * sizeof *out);
    }
}

static void cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids,
                                   int64_t N, int64_t V, int64_t D)
{
    const int64_t parts = max_threads();
    #pragma omp parallel for schedule(static) if (N * D > PAR_MIN)
    for (int64_t p = 0; p < parts; p++) {
        const int64_t v0 = V * p / parts, v1 = V * (p + 1) / parts;
        for (int64_t n = 0; n < N; n++)
            if (ids[n] >= v0 && ids[n] < v1)
                axpy_f32(dtable + (int64_t)ids[n] * D, 1.0f, dout + n * D, D);
    }
}

static void cpu_pos_embed_forward(float *out, const float *inp, const float *spatial,
                                  const float *temporal, const int64_t *kept, int64_t B,
                                  int64_t K, int64_t P, int64_t Ft, int64_t D)
{
    #pragma omp parallel for schedule(static) if (B * K * D > PAR_MIN)
    for (int64_t r = 0; r < B * K; r++) {
        const int64_t n = kept ? kept[r] : r % K;
        LV_REQUIRE(n >= 0 && n < P * Ft);
        const float *sp = spatial + (n % P) * D;
        const float *tp = temporal ? temporal + (n / P) * D : NULL;
        const float *x = inp + r * D;
        float *y = out + r * D;
        #pragma omp simd
        for (int64_t d = 0; d < D; d++)
            y[d] = x[d] + sp[d] + (tp ? tp[d] : 0.0f);
    }
}

/* dtab[row(n)] += dout[r] for every token r, row(n) = n % P (spatial) or n / P (temporal) */
static void pos_table_add(float *dtab, int64_t rows, int temporal, const float *dout,
                          const int64_t *kept, int64_t B, int64_t K, int64_t P, int64_t D)
{
    const int64_t parts = max_threads();
    #pragma omp parallel for schedule(static) if (B * K * D > PAR_MIN)
    for (int64_t p = 0; p < parts; p++) {
        const int64_t t0 = rows * p / parts, t1 = rows * (p + 1) / parts;
        for (int64_t r = 0; r < B * K; r++) {
            const int64_t n = kept ? kept[r] : r % K, row = temporal ? n / P : n % P;
            if (row >= t0 && row < t1)
                axpy_f32(dtab + row * D, 1.0f, dout + r * D, D);
        }
    }
}

static void cpu_pos_embed_backward(float *dinp, float *dspatial, float *dtemporal,
                                   const float *dout, const int64_t *kept, int64_t B, int64_t K,
                                   int64_t P, int64_t Ft, int64_t D)
{
    /* forward: out[b,k] = inp[b,k] + spatial[n % P] + temporal[n / P] */
    if (dinp)
        cpu_residual_forward(dinp, dinp, dout, B * K * D);
    if (dspatial)
        pos_table_add(dspatial, P, 0, dout, kept, B, K, P, D);
    if (dtemporal)
        pos_table_add(dtemporal, Ft, 1, dout, kept, B, K, P, D);
}

/* ---- tubelet embedding ----------------------------------------------------------------------
 * im2col: the kept tokens' voxels gathered into a (B*K, V) matrix, then one sgemm. */

typedef struct {
    const lv_tubelet_shape *s;
    const int64_t *kept;
    int64_t B, K, N, Hp, Wp, V, sample;
} tube_geom;

static tube_geom tube_setup(const lv_tubelet_shape *s, const int64_t *kept, int64_t B, int64_t K)
{
    tube_geom t = { .s = s, .kept = kept, .B = B, .K = K };
    t.N = lv_tubelet_grid(s, NULL, &t.Hp, &t.Wp);
    LV_REQUIRE(t.N > 0 && (kept || K == t.N));
    t.V = s->kt * s->kh * s->kw * s->C;
    t.sample = s->F * s->H * s->W * s->C;
    return t;
}

/* Video row (b * F + f) * H + y of the first voxel row of token row r (= b * K + k); *x0 its
 * first column. */
static int64_t tube_first_row(const tube_geom *t, int64_t r, int64_t *x0)
{
    const lv_tubelet_shape *s = t->s;
    const int64_t b = r / t->K, n = t->kept ? t->kept[r] : r % t->K;
    LV_REQUIRE(n >= 0 && n < t->N);
    const int64_t ti = n / (t->Hp * t->Wp), y = (n / t->Wp) % t->Hp, x = n % t->Wp;
    *x0 = s->ow + x * s->sw;
    return (b * s->F + s->ot + ti * s->st) * s->H + s->oh + y * s->sh;
}

static void tube_gather(float *cols, const float *video, const tube_geom *t)
{
    const lv_tubelet_shape *s = t->s;
    const int64_t row_len = s->kw * s->C, pitch = s->W * s->C;
    #pragma omp parallel for schedule(static) if (t->B * t->K * t->V > PAR_MIN)
    for (int64_t r = 0; r < t->B * t->K; r++) {
        int64_t x0;
        const int64_t vr = tube_first_row(t, r, &x0);
        float *dst = cols + r * t->V;
        for (int64_t dt = 0; dt < s->kt; dt++)
            for (int64_t dy = 0; dy < s->kh; dy++, dst += row_len)
                memcpy(dst, video + (vr + dt * s->H + dy) * pitch + x0 * s->C,
                       (size_t)row_len * sizeof *dst);
    }
}

/* dvideo += the columns put back at their pixels. Overlapping tubes add to one pixel, so a task
 * owns a range of video rows and takes, in token order, the voxel rows that land in it: no two
 * tasks write one pixel, and each pixel sums in the same order on any number of threads. */
static void tube_scatter_add(float *dvideo, const float *dcols, const tube_geom *t)
{
    const lv_tubelet_shape *s = t->s;
    const int64_t row_len = s->kw * s->C, pitch = s->W * s->C;
    const int64_t rows = t->B * s->F * s->H, parts = max_threads();
    #pragma omp parallel for schedule(static) if (t->B * t->K * t->V > PAR_MIN)
    for (int64_t p = 0; p < parts; p++) {
        const int64_t v0 = rows * p / parts, v1 = rows * (p + 1) / parts;
        for (int64_t r = 0; r < t->B * t->K; r++) {
            int64_t x0;
            const int64_t vr = tube_first_row(t, r, &x0);
            const float *src = dcols + r * t->V;
            for (int64_t dt = 0; dt < s->kt; dt++)
                for (int64_t dy = 0; dy < s->kh; dy++, src += row_len) {
                    const int64_t at = vr + dt * s->H + dy;
                    if (at >= v0 && at < v1)
                        axpy_f32(dvideo + at * pitch + x0 * s->C, 1.0f, src, row_len);
                }
        }
    }
}

static void tubelet_embed_forward(gemm_jobs_fn *gemm, float *out, const float *video,
                                  const float *weight, const float *bias, const int64_t *kept,
                                  const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    const tube_geom t = tube_setup(s, kept, B, K);
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    float *cols = lv_cpu_scratch(SLOT_A, (size_t)(B * K * t.V) * sizeof *cols);
    tube_gather(cols, video, &t);
    /* out (B*K, D) = cols (B*K, V) W^T + b, W (D, V); the bias first, as in linear */
    if (bias)
        fill_rows(out, bias, B * K, D);
    gemm1(gemm, 0, 1, B * K, D, t.V, 1.0f, cols, t.V, weight, t.V, bias ? 1.0f : 0.0f, out, D);
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
}

static void tubelet_embed_backward(gemm_jobs_fn *gemm, float *dvideo, float *dweight,
                                   float *dbias, const float *dout, const float *video,
                                   const float *weight, const int64_t *kept,
                                   const lv_tubelet_shape *s, int64_t B,
                                   int64_t K, int64_t D)
{
    /* forward: out = cols W^T + b  =>  dW += dout^T cols, dcols = dout W, db += colsum(dout) */
    const tube_geom t = tube_setup(s, kept, B, K);
    if (dbias)
        column_sums_add(dbias, dout, B * K, D);
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    if (dweight) {
        float *cols = lv_cpu_scratch(SLOT_A, (size_t)(B * K * t.V) * sizeof *cols);
        tube_gather(cols, video, &t);
        gemm1(gemm, 1, 0, D, t.V, B * K, 1.0f, dout, D, cols, t.V, 1.0f, dweight, t.V);
    }
    if (dvideo) {
        float *dcols = lv_cpu_scratch(SLOT_B, (size_t)(B * K * t.V) * sizeof *dcols);
        gemm1(gemm, 0, 0, B * K, t.V, D, 1.0f, dout, D, weight, t.V, 0.0f, dcols, t.V);
        tube_scatter_add(dvideo, dcols, &t);
    }
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
}

static void cpu_tubelet_embed_forward(float *out, const float *video, const float *weight,
                                      const float *bias, const int64_t *kept,
                                      const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    tubelet_embed_forward(sgemm_jobs, out, video, weight, bias, kept, s, B, K, D);
}

static void cpu_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias,
                                       const float *dout, const float *video, const float *weight,
                                       const int64_t *kept, const lv_tubelet_shape *s, int64_t B,
                                       int64_t K, int64_t D)
{
    tubelet_embed_backward(sgemm_jobs, dvideo, dweight, dbias, dout, video, weight, kept, s, B, K,
                           D);
}

/* ---- symmetric InfoNCE ----------------------------------------------------------------------
 * The logits are one sgemm; the backward builds the (B, B) logit gradient G and makes dv and dt
 * two more. The O(B^2) log-sum-exps are serial: small next to the matmuls. */

static void cpu_infonce_forward(float *loss, float *logits, const float *v, const float *t,
                                const float *log_scale, int64_t B, int64_t E)
{
    LV_REQUIRE(B > 0 && E > 0);
    int clamped;
    const double scale = lv_logit_scale(*log_scale, &clamped);
    lv_sgemm(0, 1, B, B, E, (float)scale, v, E, t, E, 0.0f, logits, B);
    double total = 0.0;
    for (int64_t i = 0; i < B; i++)
        total += lv_logsumexp_strided(logits + i * B, B, 1) +
                 lv_logsumexp_strided(logits + i, B, B) - 2.0 * logits[i * B + i];
    *loss = (float)(total / (2.0 * (double)B));
}

static void cpu_infonce_backward(float *dv, float *dt, float *dlog_scale, const float *dloss,
                                 const float *logits, const float *v, const float *t,
                                 const float *log_scale, int64_t B, int64_t E)
{
    /* forward: loss = sum_a (lse(row a) - L_aa + lse(column a) - L_aa) / 2B, L = scale v t^T
     * =>  G = dL = c (softmax of rows + softmax of columns - 2 I), c = dloss / 2B;
     *     dv += scale G t,  dt += scale G^T v,  dlog_scale += sum G L unless clamped */
    LV_REQUIRE(B > 0 && E > 0);
    int clamped;
    const double scale = lv_logit_scale(*log_scale, &clamped);
    const double c = *dloss / (2.0 * (double)B);
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    float *G = lv_cpu_scratch(SLOT_A, (size_t)(B * B) * sizeof *G);
    double *lse = lv_cpu_scratch(SLOT_B, (size_t)(2 * B) * sizeof *lse);
    for (int64_t i = 0; i < B; i++) {
        lse[i] = lv_logsumexp_strided(logits + i * B, B, 1);
        lse[B + i] = lv_logsumexp_strided(logits + i, B, B);
    }
    double ds = 0.0;
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < B; j++) {
            const double L = logits[i * B + j];
            const double g = c * (exp(L - lse[i]) + exp(L - lse[B + j]) - (i == j ? 2.0 : 0.0));
            G[i * B + j] = (float)g;
            ds += g * L;
        }
    if (dv)
        lv_sgemm(0, 0, B, E, B, (float)scale, G, B, t, E, 1.0f, dv, E);
    if (dt)
        lv_sgemm(1, 0, B, E, B, (float)scale, G, B, v, E, 1.0f, dt, E);
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
    if (dlog_scale && !clamped)
        *dlog_scale += (float)ds;
}

/* ---- cross-entropy with ignored targets -------------------------------------------------------
 * OpenMP over rows, fp32 exp (exp_neg, with the row maximum subtracted so its argument is <= 0)
 * and double row sums, as the LayerNorm statistics. The loss adds the rows' terms in row order
 * from a per-row scratch, so it does not depend on the number of threads. */

/* The counted rows (target >= 0); each target must be < V. */
static int64_t ce_counted(const int32_t *targets, int64_t N, int64_t V)
{
    int64_t count = 0;
    for (int64_t n = 0; n < N; n++) {
        LV_REQUIRE(targets[n] < V);
        count += targets[n] >= 0;
    }
    return count;
}

static void cpu_cross_entropy_forward(float *loss, float *lse, const float *logits,
                                      const int32_t *targets, int64_t N, int64_t V)
{
    /* lse[n] = m + log sum_v exp(x_v - m), m = max_v x_v; loss = mean over counted rows of
     * lse[n] - x_t, each row's term taken as (m - x_t) + log sum (no rounding of lse in it) */
    LV_REQUIRE(N >= 0 && V > 0);
    const int64_t count = ce_counted(targets, N, V);
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    double *term = lv_cpu_scratch(SLOT_A, (size_t)(N > 0 ? N : 1) * sizeof *term);   /* (N) */
    #pragma omp parallel for schedule(static) if (N * V > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *x = logits + n * V;
        float m = x[0];
        #pragma omp simd reduction(max:m)
        for (int64_t v = 1; v < V; v++)
            m = x[v] > m ? x[v] : m;
        double sum = 0.0;
        #pragma omp simd reduction(+:sum)
        for (int64_t v = 0; v < V; v++)
            sum += exp_neg(x[v] - m);
        const double log_sum = log(sum);
        lse[n] = (float)((double)m + log_sum);
        term[n] = targets[n] >= 0 ? ((double)m - x[targets[n]]) + log_sum : 0.0;
    }
    double total = 0.0;
    for (int64_t n = 0; n < N; n++)
        total += term[n];
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
    *loss = count ? (float)(total / (double)count) : 0.0f;
}

static void cpu_cross_entropy_backward(float *dlogits, const float *dloss, const float *logits,
                                       const float *lse, const int32_t *targets, int64_t N,
                                       int64_t V)
{
    /* forward: loss += (lse(x) - x_t) / count on counted rows
     * =>  dx_v += c (exp(x_v - lse) - [v == t]),  c = dloss / count; ignored rows nothing.
     * x_v - lse is <= 0 up to lse's rounding; min(., 0) keeps exp_neg in its range (p <= 1). */
    LV_REQUIRE(N >= 0 && V > 0);
    const int64_t count = ce_counted(targets, N, V);
    if (count == 0)
        return;
    const float c = (float)((double)*dloss / (double)count);
    #pragma omp parallel for schedule(static) if (N * V > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const int32_t t = targets[n];
        if (t < 0)
            continue;
        const float *x = logits + n * V, l = lse[n];
        float *dx = dlogits + n * V;
        #pragma omp simd
        for (int64_t v = 0; v < V; v++)
            dx[v] += c * (exp_neg(fminf(x[v] - l, 0.0f)) - (v == t ? 1.0f : 0.0f));
    }
}

/* ---- elementwise utilities ------------------------------------------------------------------ */

static void cpu_scale(float *x, float s, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

/* x = value in parallel chunks (zeroing is memset), and a parallel copy: the graph's gradient
 * resets and buffer copies are large and memory-bound */
enum { CHUNK = 1 << 16 };

static void cpu_set(float *x, float value, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n > 4 * CHUNK)
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {
        const int64_t len = min64(CHUNK, n - i0);
        if (value == 0.0f && !signbit(value))
            memset(x + i0, 0, (size_t)len * sizeof *x);
        else
            for (int64_t i = i0; i < i0 + len; i++)
                x[i] = value;
    }
}

static void cpu_copy(float *dst, const float *src, int64_t n)
{
    if (dst == src)
        return;
    #pragma omp parallel for schedule(static) if (n > 4 * CHUNK)
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK)
        memcpy(dst + i0, src + i0, (size_t)min64(CHUNK, n - i0) * sizeof *dst);
}

int64_t lv_backend_cpu_scratch_floats(const lv_config *c, int64_t B)
{
    const lv_video_geometry g = lv_config_geometry(c, 0);
    int64_t voxel = 0;
    for (int64_t i = 0; i < g.n_tokenizers; i++)
        voxel = max64(voxel, g.tok[i].voxel);
    const int64_t Rv = B * g.R, Rt = B * c->text_len, R = max64(Rv, Rt);
    const int64_t D = max64(c->width, c->text_width), H = max64(c->heads, c->text_heads);
    const int64_t hs = max64(c->width / c->heads, c->text_width / c->text_heads);
    const int64_t a = max64(max64(Rv * voxel, max_threads() * lv_cpu_attention_thread_floats(hs)),
                            B * B);                     /* im2col; attention tiles; logits */
    const int64_t b = max64(Rv * voxel, 2 * R);         /* im2col gradient; row owners */
    /* + attention's delta and dq planes, and its per-call copies of the inputs: K^T and V^T by
     * head (fp32), or q, k, v and dout in bf16 (4 R D halves, 2 R D floats) */
    return a + b + R * H + ATT_CHUNKS * R * D + 2 * (R + LV_TILE_GEMM_COLS) * D;
}

/* ---- the optimiser's per-entry work (ref/elementwise.c's rule, entries in parallel) ---------- */

/* In fp32, as torch.optim.AdamW computes (ref: double per entry): the loop is memory-bound then,
 * where double division and square root made it compute-bound (~2x slower). With errno (the
 * default) GCC keeps a branch to libm's sqrtf per entry, and a branch stops the vectoriser: the
 * plain loop ran scalar, 3-5x slower than memory allows (14% of a ViT-S 392-token step on one
 * thread). So with AVX the entries go 8 at a time through intrinsics, operation for operation
 * the scalar expression (no FMA: ISO C does not contract), hence bit-identical to the tail loop. */
typedef struct {
    float b1, b2, c1, c2, keep, eps, step, inv_sqrt_bc2, scale;
} adamw_f32;

static void adamw_entries(float *x, const float *g, float *m, float *v, int64_t n,
                          const adamw_f32 *k)
{
    const adamw_f32 c = *k;
    int64_t i = 0;
#ifdef __AVX__
    const __m256 b1 = _mm256_set1_ps(c.b1), b2 = _mm256_set1_ps(c.b2);
    const __m256 c1 = _mm256_set1_ps(c.c1), c2 = _mm256_set1_ps(c.c2);
    const __m256 keep = _mm256_set1_ps(c.keep), eps = _mm256_set1_ps(c.eps);
    const __m256 step = _mm256_set1_ps(c.step), ib = _mm256_set1_ps(c.inv_sqrt_bc2);
    const __m256 scale = _mm256_set1_ps(c.scale);
    for (; i + 8 <= n; i += 8) {
        const __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), scale);
        const __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
                                        _mm256_mul_ps(c1, gi));
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                        _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        const __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ib), eps);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(x + i, _mm256_sub_ps(_mm256_mul_ps(keep, _mm256_loadu_ps(x + i)),
                                              _mm256_div_ps(_mm256_mul_ps(step, mi), den)));
    }
#endif
    for (; i < n; i++) {
        const float gi = g[i] * c.scale;
        const float mi = c.b1 * m[i] + c.c1 * gi, vi = c.b2 * v[i] + c.c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        x[i] = c.keep * x[i] - c.step * mi / (sqrtf(vi) * c.inv_sqrt_bc2 + c.eps);
    }
}

static void cpu_adamw_update(float *x, const float *g, float *m, float *v, int64_t n,
                             const lv_adamw_coef *k)
{
    const adamw_f32 c = {
        .b1 = (float)k->beta1, .b2 = (float)k->beta2, .c1 = (float)(1.0 - k->beta1),
        .c2 = (float)(1.0 - k->beta2), .keep = (float)k->keep, .eps = (float)k->eps,
        .step = (float)(k->lr / k->bc1), .inv_sqrt_bc2 = (float)(1.0 / sqrt(k->bc2)),
        .scale = k->grad_scale,
    };
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK)
        adamw_entries(x + i0, g + i0, m + i0, v + i0, min64(CHUNK, n - i0), &c);
}

static double cpu_sum_squares(const float *x, int64_t n)
{
    return dot_parts(x, x, n);
}

int lv_backend_cpu_thread_exact(void)
{
#ifdef LV_HAVE_BLAS
    return 0;       /* OpenBLAS splits a matmul by the thread count, and its sums with it */
#else
    return 1;       /* the built-in loop sums each entry of C in one order on any thread count */
#endif
}

const lv_backend lv_backend_cpu = {
    .name = "cpu",
    .host_memory = 1,
    .attention_lse = 1,
    .alloc = lv_host_alloc,              /* host memory, as ref: calloc and memcpy */
    .free = lv_host_free,
    .upload = lv_host_upload,
    .download = lv_host_download,
    .copy = cpu_copy,
    .set = cpu_set,
    .linear_forward = cpu_linear_forward,
    .linear_backward = cpu_linear_backward,
    .layernorm_forward = cpu_layernorm_forward,
    .layernorm_backward = cpu_layernorm_backward,
    .gelu_forward = cpu_gelu_forward,
    .gelu_backward = cpu_gelu_backward,
    .quick_gelu_forward = cpu_quick_gelu_forward,
    .quick_gelu_backward = cpu_quick_gelu_backward,
    .gelu_tanh_forward = cpu_gelu_tanh_forward,
    .gelu_tanh_backward = cpu_gelu_tanh_backward,
    .attention_forward = lv_cpu_attention_forward,
    .attention_backward = lv_cpu_attention_backward,
    .residual_forward = cpu_residual_forward,
    .residual_backward = cpu_residual_backward,
    .gated_residual_forward = cpu_gated_residual_forward,
    .gated_residual_backward = cpu_gated_residual_backward,
    .mean_pool_forward = cpu_mean_pool_forward,
    .mean_pool_backward = cpu_mean_pool_backward,
    .segment_mean_forward = cpu_segment_mean_forward,
    .segment_mean_backward = cpu_segment_mean_backward,
    .l2norm_forward = cpu_l2norm_forward,
    .l2norm_backward = cpu_l2norm_backward,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .tubelet_embed_forward = cpu_tubelet_embed_forward,
    .tubelet_embed_backward = cpu_tubelet_embed_backward,
    .pos_embed_forward = cpu_pos_embed_forward,
    .pos_embed_backward = cpu_pos_embed_backward,
    .infonce_forward = cpu_infonce_forward,
    .infonce_backward = cpu_infonce_backward,
    .cross_entropy_forward = cpu_cross_entropy_forward,
    .cross_entropy_backward = cpu_cross_entropy_backward,
    .scale = cpu_scale,
    .adamw_update = cpu_adamw_update,
    .sum_squares = cpu_sum_squares,
};

/* ---- the cpu-bf16 table (--precision bf16) ---------------------------------------------------
 * lv_backend_cpu with the matmuls of the linear layers and of the tubelet embedding on bf16
 * operands (bf16_dnnl.c: fp32 accumulation and output); attention, InfoNCE and every other
 * kernel are the fp32 ones above, so weights, optimiser, LayerNorm, softmax and losses stay
 * fp32. A copy of the table made once, four members replaced. */

static void bf16_linear_forward(float *out, const float *inp, const float *weight,
                                const float *bias, int64_t N, int64_t C, int64_t OC)
{
    linear_forward(lv_gemm_bf16_jobs, out, inp, weight, bias, N, C, OC);
}

static void bf16_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, int64_t N, int64_t C,
                                 int64_t OC)
{
    linear_backward(lv_gemm_bf16_jobs, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

static void bf16_tubelet_embed_forward(float *out, const float *video, const float *weight,
                                       const float *bias, const int64_t *kept,
                                       const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    tubelet_embed_forward(lv_gemm_bf16_jobs, out, video, weight, bias, kept, s, B, K, D);
}

static void bf16_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias,
                                        const float *dout, const float *video,
                                        const float *weight, const int64_t *kept,
                                        const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    tubelet_embed_backward(lv_gemm_bf16_jobs, dvideo, dweight, dbias, dout, video, weight, kept,
                           s, B, K, D);
}

static lv_backend cpu_bf16;

static void cpu_bf16_build(void)
{
    cpu_bf16 = lv_backend_cpu;
    cpu_bf16.name = "cpu-bf16";
    cpu_bf16.linear_forward = bf16_linear_forward;
    cpu_bf16.linear_backward = bf16_linear_backward;
    cpu_bf16.tubelet_embed_forward = bf16_tubelet_embed_forward;
    cpu_bf16.tubelet_embed_backward = bf16_tubelet_embed_backward;
    cpu_bf16.attention_forward = lv_cpu_attention_forward_bf16;
    cpu_bf16.attention_backward = lv_cpu_attention_backward_bf16;
}

const lv_backend *lv_backend_cpu_bf16(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cpu_bf16_build);
    return &cpu_bf16;
}
