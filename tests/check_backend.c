/* The fast CPU backend (blas_glue/backend_cpu.c) against the reference backend: every kernel of
 * the table on random inputs (odd sizes; joint, factorized, cross and shared-key attention
 * groups; kept and overlapping tubelets) with gradients pre-filled so accumulation shows; the
 * whole training step of every model variant; results that do not depend on the thread count.
 * Also the profiling wrapper of bench --profile (blas_glue/backend_profile.c): the same step
 * through it, its families summing to the step and its FLOPs to the analytic count. */
#include "backend_profile.h"
#include "blas_glue.h"
#include "check_util.h"
#include "error.h"
#include "gradcheck.h"
#include "model.h"
#include "suites.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- the harness ---------------------------------------------------------------------------- */

#define MAX_OUTS 4

typedef struct {
    const char *tensor;          /* key of the (kernel, tensor, LV_CHECK_FAST) tolerance row */
    int64_t n;
    float *ref;                  /* ref's result, filled by compare_backends; free_outs frees */
} out_spec;

/* Runs one kernel call (or a few) on backend be, writing the outputs out[i]. */
enum { NO_MATMUL, MATMUL };     /* whether the cpu kernel runs lv_sgemm */
typedef void (*backend_run)(const lv_backend *be, void *ctx, float *const *out);

static int threads_now(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* what "1 vs 2 threads" means in this build */
#ifdef _OPENMP
#define THREADS_NOTE ""
#else
#define THREADS_NOTE " (NO_OMP build: both runs serial)"
#endif

static void threads_set(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static float *copy_floats(const float *x, int64_t n)
{
    float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    ck_assert_ptr_nonnull(y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

static void run_from(const lv_backend *be, backend_run run, void *ctx, float *const *init,
                     const out_spec *outs, int n_out, float **res)
{
    for (int i = 0; i < n_out; i++)
        res[i] = copy_floats(init[i], outs[i].n);
    run(be, ctx, res);
}

/* Runs `run` on ref, then on cpu with 2 threads and with 1, each time from the same random
 * contents of the outputs (a prior for gradients: a backward that overwrote would differ from
 * ref's +=); compares cpu with ref through the LV_CHECK_FAST rows of the tolerance table, and the
 * two thread counts bit for bit, or within the same rows where the kernel runs a matmul and
 * lv_sgemm's sums follow the thread count (OpenBLAS). Returns the worst fraction of tolerance. */
static double compare_backends(const char *kernel, backend_run run, void *ctx, out_spec *outs,
                               int n_out, lv_rng *r, int matmul)
{
    float *init[MAX_OUTS], *ref[MAX_OUTS], *cpu2[MAX_OUTS], *cpu1[MAX_OUTS];
    ck_assert_int_le(n_out, MAX_OUTS);
    for (int i = 0; i < n_out; i++)
        init[i] = rand_floats(r, outs[i].n, 1);
    const int saved = threads_now();
    run_from(&lv_backend_ref, run, ctx, init, outs, n_out, ref);
    threads_set(2);
    run_from(&lv_backend_cpu, run, ctx, init, outs, n_out, cpu2);
    threads_set(1);
    run_from(&lv_backend_cpu, run, ctx, init, outs, n_out, cpu1);
    threads_set(saved);
    const int exact = !matmul || lv_backend_cpu_thread_exact();
    double worst = 0.0;
    int same = 1;
    for (int i = 0; i < n_out; i++) {
        double *want = to_double(ref[i], outs[i].n);
        worst = lv_margin_max(worst, compare_f32_f64(kernel, outs[i].tensor, LV_CHECK_FAST,
                                                     cpu2[i], want, outs[i].n));
        same &= memcmp(cpu1[i], cpu2[i], (size_t)outs[i].n * sizeof(float)) == 0;
        free(want);
    }
    printf("  %-15s 1 vs 2 threads: %s%s\n", kernel, same ? "bit-identical" : exact ? "DIFFER"
           : "differ (the matmul is OpenBLAS's); within tolerance, 1 thread as got, 2 as want:",
           THREADS_NOTE);
    ck_assert_msg(same || !exact, "%s: the result depends on the number of threads", kernel);
    for (int i = 0; i < n_out; i++) {
        if (!same) {
            double *two = to_double(cpu2[i], outs[i].n);
            worst = lv_margin_max(worst, compare_f32_f64(kernel, outs[i].tensor, LV_CHECK_FAST,
                                                         cpu1[i], two, outs[i].n));
            free(two);
        }
        outs[i].ref = ref[i];
        free(init[i]), free(cpu2[i]), free(cpu1[i]);
    }
    return worst;
}

static void free_outs(out_spec *outs, int n_out)
{
    for (int i = 0; i < n_out; i++)
        free(outs[i].ref);
}

/* ---- linear --------------------------------------------------------------------------------- */

typedef struct {
    const float *x, *w, *b, *dout;
    int64_t N, C, OC;
} linear_ctx;

static void linear_fwd(const lv_backend *be, void *p, float *const *o)
{
    const linear_ctx *c = p;
    be->linear_forward(o[0], c->x, c->w, c->b, c->N, c->C, c->OC);
}

static void linear_bwd(const lv_backend *be, void *p, float *const *o)
{
    const linear_ctx *c = p;
    be->linear_backward(o[0], o[1], o[2], c->dout, c->x, c->w, c->N, c->C, c->OC);
    /* NULL gradients are skipped: dweight alone gets a second share */
    be->linear_backward(NULL, o[1], NULL, c->dout, c->x, c->w, c->N, c->C, c->OC);
}

/* the last two: the cpu backend's matmul threading splits the forward's C by rows (300 x 130)
 * and, wide and short, by columns (32 x 200); the backward runs dinp and dW a thread each */
static const int64_t linear_shapes[][3] = { { 1, 1, 1 }, { 7, 33, 5 }, { 33, 64, 48 },
                                            { 3, 257, 2 }, { 300, 96, 130 }, { 32, 96, 200 } };

START_TEST(test_linear)
{
    const int64_t N = linear_shapes[_i][0], C = linear_shapes[_i][1], OC = linear_shapes[_i][2];
    lv_rng r = test_rng(3000 + _i);
    float *x = rand_floats(&r, N * C, 1), *w = rand_floats(&r, OC * C, 1);
    float *b = rand_floats(&r, OC, 1), *g = rand_floats(&r, N * OC, 1);
    printf("linear N=%lld C=%lld OC=%lld%s\n", (long long)N, (long long)C, (long long)OC,
           _i == 1 ? " (no bias)" : "");
    linear_ctx c = { x, w, _i == 1 ? NULL : b, g, N, C, OC };
    out_spec fwd[] = { { "out", N * OC, NULL } };
    compare_backends("linear", linear_fwd, &c, fwd, 1, &r, MATMUL);
    out_spec bwd[] = { { "dinp", N * C, NULL }, { "dweight", OC * C, NULL },
                       { "dbias", OC, NULL } };
    compare_backends("linear", linear_bwd, &c, bwd, 3, &r, MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 3);
    free(x), free(w), free(b), free(g);
}
END_TEST

/* ---- layernorm ------------------------------------------------------------------------------ */

typedef struct {
    const float *x, *w, *b, *dout, *mean, *rstd;
    int64_t N, C;
} layernorm_ctx;

static void layernorm_fwd(const lv_backend *be, void *p, float *const *o)
{
    const layernorm_ctx *c = p;
    be->layernorm_forward(o[0], o[1], o[2], c->x, c->w, c->b, c->N, c->C, 1e-5f);
}

static void layernorm_bwd(const lv_backend *be, void *p, float *const *o)
{
    const layernorm_ctx *c = p;
    be->layernorm_backward(o[0], o[1], o[2], c->dout, c->x, c->w, c->mean, c->rstd, c->N, c->C);
    be->layernorm_backward(NULL, NULL, o[2], c->dout, c->x, c->w, c->mean, c->rstd, c->N, c->C);
}

static const int64_t layernorm_shapes[][2] = { { 1, 2 }, { 7, 33 }, { 33, 192 }, { 400, 97 } };

START_TEST(test_layernorm)
{
    const int64_t N = layernorm_shapes[_i][0], C = layernorm_shapes[_i][1];
    lv_rng r = test_rng(3100 + _i);
    float *x = rand_floats(&r, N * C, 1), *w = rand_floats(&r, C, 1), *b = rand_floats(&r, C, 1);
    float *g = rand_floats(&r, N * C, 1);
    for (int64_t i = 0; i < N * C; i++)     /* an offset row mean, as in check_kernels */
        x[i] += 3.0f;
    printf("layernorm N=%lld C=%lld\n", (long long)N, (long long)C);
    layernorm_ctx c = { x, w, b, g, NULL, NULL, N, C };
    out_spec fwd[] = { { "out", N * C, NULL }, { "mean", N, NULL }, { "rstd", N, NULL } };
    compare_backends("layernorm", layernorm_fwd, &c, fwd, 3, &r, NO_MATMUL);
    c.mean = fwd[1].ref, c.rstd = fwd[2].ref;     /* both backwards read ref's cache */
    out_spec bwd[] = { { "dinp", N * C, NULL }, { "dweight", C, NULL }, { "dbias", C, NULL } };
    compare_backends("layernorm", layernorm_bwd, &c, bwd, 3, &r, NO_MATMUL);
    free_outs(fwd, 3), free_outs(bwd, 3);
    free(x), free(w), free(b), free(g);
}
END_TEST

/* ---- GELU ----------------------------------------------------------------------------------- */

typedef struct {
    const float *x, *dout;
    int64_t n;
} unary_ctx;

static void gelu_fwd(const lv_backend *be, void *p, float *const *o)
{
    const unary_ctx *c = p;
    be->gelu_forward(o[0], c->x, c->n);
}

static void gelu_bwd(const lv_backend *be, void *p, float *const *o)
{
    const unary_ctx *c = p;
    be->gelu_backward(o[0], c->x, c->dout, c->n);
}

START_TEST(test_gelu)
{
    const int64_t n = (int64_t[]){ 1, 37, 1000, 40001 }[_i];
    lv_rng r = test_rng(3200 + _i);
    float *x = rand_floats(&r, n, 3), *g = rand_floats(&r, n, 1);
    printf("gelu n=%lld (x ~ N(0, 9): deep negative tails)\n", (long long)n);
    unary_ctx c = { x, g, n };
    out_spec fwd[] = { { "out", n, NULL } }, bwd[] = { { "dinp", n, NULL } };
    compare_backends("gelu", gelu_fwd, &c, fwd, 1, &r, NO_MATMUL);
    compare_backends("gelu", gelu_bwd, &c, bwd, 1, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 1);
    free(x), free(g);
}
END_TEST

/* ---- QuickGELU ------------------------------------------------------------------------------ */

static void quick_gelu_fwd(const lv_backend *be, void *p, float *const *o)
{
    const unary_ctx *c = p;
    be->quick_gelu_forward(o[0], c->x, c->n);
}

static void quick_gelu_bwd(const lv_backend *be, void *p, float *const *o)
{
    const unary_ctx *c = p;
    be->quick_gelu_backward(o[0], c->x, c->dout, c->n);
}

START_TEST(test_quick_gelu)
{
    const int64_t n = (int64_t[]){ 1, 37, 1000, 40001 }[_i];
    lv_rng r = test_rng(3250 + _i);
    float *x = rand_floats(&r, n, 3), *g = rand_floats(&r, n, 1);
    /* saturated entries: exp(-1.702 |x|) below fp32's range from |x| > 51, and 1.702 x itself
     * overflowing fp32 at +-3e38 */
    const float huge[] = { 60, -60, 1000, -1000, 3e38f, -3e38f };
    for (int i = 0; n >= 37 && i < 6; i++)
        x[5 * i] = huge[i];
    printf("quick_gelu n=%lld (x ~ N(0, 9)%s)\n", (long long)n,
           n >= 37 ? ", 6 entries at +-60, +-1000, +-3e38" : "");
    unary_ctx c = { x, g, n };
    out_spec fwd[] = { { "out", n, NULL } }, bwd[] = { { "dinp", n, NULL } };
    compare_backends("quick_gelu", quick_gelu_fwd, &c, fwd, 1, &r, NO_MATMUL);
    compare_backends("quick_gelu", quick_gelu_bwd, &c, bwd, 1, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 1);
    free(x), free(g);
}
END_TEST

/* ---- GELU, tanh approximation ------------------------------------------------------------- */

static void gelu_tanh_fwd(const lv_backend *be, void *p, float *const *o)
{
    const unary_ctx *c = p;
    be->gelu_tanh_forward(o[0], c->x, c->n);
}

static void gelu_tanh_bwd(const lv_backend *be, void *p, float *const *o)
{
    const unary_ctx *c = p;
    be->gelu_tanh_backward(o[0], c->x, c->dout, c->n);
}

START_TEST(test_gelu_tanh)
{
    const int64_t n = (int64_t[]){ 1, 37, 1000, 40001 }[_i];
    lv_rng r = test_rng(3260 + _i);
    float *x = rand_floats(&r, n, 3), *g = rand_floats(&r, n, 1);
    /* saturated entries: exp(-|a|) below fp32's range from |x| ~ 10, x^2 (and a) overflowing
     * fp32 beyond 1.8e19, and x^3 beyond 7e12 */
    const float huge[] = { 10, -10, 1e13f, -1e13f, 3e38f, -3e38f };
    for (int i = 0; n >= 37 && i < 6; i++)
        x[5 * i] = huge[i];
    printf("gelu_tanh n=%lld (x ~ N(0, 9)%s)\n", (long long)n,
           n >= 37 ? ", 6 entries at +-10, +-1e13, +-3e38" : "");
    unary_ctx c = { x, g, n };
    out_spec fwd[] = { { "out", n, NULL } }, bwd[] = { { "dinp", n, NULL } };
    compare_backends("gelu_tanh", gelu_tanh_fwd, &c, fwd, 1, &r, NO_MATMUL);
    compare_backends("gelu_tanh", gelu_tanh_bwd, &c, bwd, 1, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 1);
    free(x), free(g);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------------ */

/* Token groups: joint (a group per sample), factorized (a group per spatial position across
 * time, scattered row indices), cross (queries of one set, padded keys of another, one sample
 * with no valid key), and shared keys (every query group attends to the same key rows). */
typedef struct {
    int64_t *qs, *ks, *qi, *ki;
    uint8_t *valid;
    lv_attn_groups g;
    int64_t nq_rows, nk_rows;
} groups_case;

static groups_case groups_alloc(int64_t groups, int64_t rows)
{
    groups_case c = { .qs = calloc(groups + 1, sizeof(int64_t)),
                      .ks = calloc(groups + 1, sizeof(int64_t)),
                      .qi = calloc(rows, sizeof(int64_t)), .ki = calloc(rows, sizeof(int64_t)),
                      .valid = calloc(rows, 1) };
    return c;
}

static void groups_free(groups_case *c)
{
    free(c->qs), free(c->ks), free(c->qi), free(c->ki), free(c->valid);
}

static groups_case groups_joint(int64_t B, int64_t T)
{
    groups_case c = groups_alloc(B, B * T);
    for (int64_t b = 0; b <= B; b++)
        c.qs[b] = c.ks[b] = b * T;
    c.g = (lv_attn_groups){ .n_groups = B, .q_start = c.qs, .k_start = c.ks };
    c.nq_rows = c.nk_rows = B * T;
    return c;
}

static groups_case groups_by_space(int64_t B, int64_t Ft, int64_t P)
{
    groups_case c = groups_alloc(B * P, B * Ft * P);
    int64_t m = 0, gi = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < P; p++, gi++) {
            c.qs[gi] = c.ks[gi] = m;
            for (int64_t t = 0; t < Ft; t++, m++)
                c.qi[m] = c.ki[m] = (b * Ft + t) * P + p;
        }
    c.qs[gi] = c.ks[gi] = m;
    c.g = (lv_attn_groups){ .n_groups = gi, .q_start = c.qs, .q_index = c.qi, .k_start = c.ks,
                            .k_index = c.ki };
    c.nq_rows = c.nk_rows = B * Ft * P;
    return c;
}

static groups_case groups_cross(lv_rng *r, int64_t B, int64_t Q, int64_t T)
{
    groups_case c = groups_alloc(B, B * (Q > T ? Q : T));
    for (int64_t b = 0; b <= B; b++) {
        c.qs[b] = b * Q;
        c.ks[b] = b * T;
    }
    for (int64_t i = 0; i < B * T; i++)    /* padded keys; the last sample has none valid */
        c.valid[i] = i < (B - 1) * T && ((i % T == T - 1) || lv_rng_below(r, 3) != 0);
    c.g = (lv_attn_groups){ .n_groups = B, .q_start = c.qs, .k_start = c.ks, .k_valid = c.valid };
    c.nq_rows = B * Q;
    c.nk_rows = B * T;
    return c;
}

static groups_case groups_shared_keys(int64_t G, int64_t Q, int64_t T)
{
    groups_case c = groups_alloc(G, G * (Q > T ? Q : T));
    for (int64_t gi = 0; gi <= G; gi++) {
        c.qs[gi] = gi * Q;
        c.ks[gi] = gi * T;
    }
    for (int64_t i = 0; i < G * T; i++)    /* every group: key rows T-1 .. 0 */
        c.ki[i] = T - 1 - i % T;
    c.g = (lv_attn_groups){ .n_groups = G, .q_start = c.qs, .k_start = c.ks, .k_index = c.ki };
    c.nq_rows = G * Q;
    c.nk_rows = T;
    return c;
}

/* Causal self-attention (a decoder's): a group per sample of T tokens, keys padded one time in
 * five, the first key of sample 0 padding (its first query sees no key). */
static groups_case groups_causal(lv_rng *r, int64_t B, int64_t T)
{
    groups_case c = groups_joint(B, T);
    for (int64_t i = 0; i < B * T; i++)
        c.valid[i] = i != 0 && lv_rng_below(r, 5) != 0;
    c.g.k_valid = c.valid;
    c.g.causal = 1;
    return c;
}

/* Causal decode over a KV cache: sample b's nq[b] newest queries (contiguous rows) over its
 * nk[b] cached keys, rows b cap .. b cap + nk[b] - 1 listed by index (the rest of the cache in
 * no group); nq > nk leaves the first queries seeing no key. */
static groups_case groups_decode(int64_t B, const int64_t *nq, const int64_t *nk, int64_t cap)
{
    int64_t mq = 0, mk = 0;
    for (int64_t b = 0; b < B; b++)
        mq += nq[b], mk += nk[b];
    groups_case c = groups_alloc(B, mq > B * cap ? mq : B * cap);
    for (int64_t b = 0; b < B; b++) {
        c.qs[b + 1] = c.qs[b] + nq[b];
        c.ks[b + 1] = c.ks[b] + nk[b];
        for (int64_t j = 0; j < nk[b]; j++)
            c.ki[c.ks[b] + j] = b * cap + j;
    }
    c.g = (lv_attn_groups){ .n_groups = B, .q_start = c.qs, .k_start = c.ks, .k_index = c.ki,
                            .causal = 1 };
    c.nq_rows = mq;
    c.nk_rows = B * cap;
    return c;
}

typedef struct {
    const float *q, *k, *v, *dout;
    const lv_attn_groups *g;
    int64_t ldq, ldkv, H, D, nq_rows;
} attention_ctx;

/* Each backend keeps its own attention cache (ref: every probability; cpu: a (max, log-sum)
 * pair per query row and head), so a run makes its own and only out, dq, dk, dv are compared. */
static float *attention_cache(const lv_backend *be, const attention_ctx *c)
{
    const int64_t n = lv_backend_attention_cache(be, c->g, c->H);
    float *cache = malloc((size_t)(n ? n : 1) * sizeof *cache);
    ck_assert_ptr_nonnull(cache);
    return cache;
}

static void attention_fwd(const lv_backend *be, void *p, float *const *o)
{
    const attention_ctx *c = p;
    float *cache = attention_cache(be, c);
    be->attention_forward(o[0], cache, c->q, c->k, c->v, c->g, c->ldq, c->ldkv, c->H, c->D);
    free(cache);
}

/* forward, then the backward twice: all three gradients, then dk alone (NULL dq, dv skipped) */
static void attention_bwd(const lv_backend *be, void *p, float *const *o)
{
    const attention_ctx *c = p;
    float *cache = attention_cache(be, c);
    float *out = calloc((size_t)(c->nq_rows * c->D), sizeof *out);
    ck_assert_ptr_nonnull(out);
    be->attention_forward(out, cache, c->q, c->k, c->v, c->g, c->ldq, c->ldkv, c->H, c->D);
    be->attention_backward(o[0], o[1], o[2], c->dout, out, cache, c->q, c->k, c->v, c->g,
                           c->ldq, c->ldkv, c->H, c->D);
    be->attention_backward(NULL, o[1], NULL, c->dout, out, cache, c->q, c->k, c->v, c->g,
                           c->ldq, c->ldkv, c->H, c->D);
    free(cache), free(out);
}

/* q in rows of ldq (the packed qkv layout for self-attention), k and v in rows of an odd
 * stride, so stray writes outside the head slices would show in the untouched columns. With
 * wide = 1, q and k hold small integers (q in [-16, 16], k in [-4, 4]; head size 16, scale 1/4):
 * scores are exact in fp32 and span hundreds, so probabilities underflow to 0. */
static void attention_case(const char *label, groups_case *gc, int64_t H, int64_t D, int64_t ldq,
                           int wide, lv_rng *r)
{
    const int64_t ldkv = 2 * D + 1, nq = gc->nq_rows, nk = gc->nk_rows;
    float *q = rand_floats(r, nq * ldq, 1), *k = rand_floats(r, nk * ldkv, 1);
    float *v = rand_floats(r, nk * ldkv, 1), *g = rand_floats(r, nq * D, 1);
    for (int64_t i = 0; wide && i < nq * ldq; i++)
        q[i] = (float)((int)lv_rng_below(r, 33) - 16);
    for (int64_t i = 0; wide && i < nk * ldkv; i++)
        k[i] = (float)((int)lv_rng_below(r, 9) - 4);
    printf("attention %s: groups=%lld H=%lld D=%lld query rows=%lld key rows=%lld\n", label,
           (long long)gc->g.n_groups, (long long)H, (long long)D, (long long)nq, (long long)nk);
    attention_ctx c = { q, k, v, g, &gc->g, ldq, ldkv, H, D, nq };
    const int64_t cache_ref = lv_backend_attention_cache(&lv_backend_ref, &gc->g, H);
    const int64_t cache_cpu = lv_backend_attention_cache(&lv_backend_cpu, &gc->g, H);
    printf("  attention cache: ref %lld floats (probabilities), cpu %lld (max, log-sum)\n",
           (long long)cache_ref, (long long)cache_cpu);
    ck_assert_int_eq(cache_cpu, 2 * H * (gc->g.q_start[gc->g.n_groups] - gc->g.q_start[0]));
    if (wide) {   /* the plain kernel's probabilities: many underflow, which the cpu must match */
        float *att = malloc((size_t)cache_ref * sizeof *att), *out = calloc((size_t)(nq * D), 4);
        ck_assert(att && out);
        lv_backend_ref.attention_forward(out, att, q, k, v, &gc->g, ldq, ldkv, H, D);
        int64_t underflow = 0;
        for (int64_t i = 0; i < cache_ref; i++)
            underflow += att[i] == 0.0f;
        printf("  %lld of %lld probabilities underflow to 0\n", (long long)underflow,
               (long long)cache_ref);
        ck_assert(underflow > 0);
        free(att), free(out);
    }
    out_spec fwd[] = { { "out", nq * D, NULL } };
    compare_backends("attention", attention_fwd, &c, fwd, 1, r, MATMUL);
    out_spec bwd[] = { { "dq", nq * ldq, NULL }, { "dk", nk * ldkv, NULL },
                       { "dv", nk * ldkv, NULL } };
    compare_backends("attention", attention_bwd, &c, bwd, 3, r, MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 3);
    free(q), free(k), free(v), free(g);
    groups_free(gc);
}

START_TEST(test_attention)
{
    lv_rng r = test_rng(3300 + _i);
    groups_case gc;
    switch (_i) {
    case 0:
        gc = groups_joint(2, 7);
        attention_case("joint (2 samples x 7 tokens)", &gc, 2, 12, 36, 0, &r);
        break;
    case 1:
        gc = groups_joint(3, 65);
        attention_case("joint (3 samples x 65 tokens)", &gc, 4, 64, 192, 0, &r);
        break;
    case 2:
        gc = groups_joint(4, 1);
        attention_case("joint (4 samples x 1 token)", &gc, 1, 3, 9, 0, &r);
        break;
    case 3:
        gc = groups_by_space(2, 3, 5);
        attention_case("factorized (2 x 3 steps x 5 positions)", &gc, 3, 9, 27, 0, &r);
        break;
    case 4:
        gc = groups_by_space(2, 8, 16);
        attention_case("factorized (2 x 8 steps x 16 positions)", &gc, 2, 32, 96, 0, &r);
        break;
    case 5:
        gc = groups_cross(&r, 3, 4, 6);
        attention_case("cross (4 queries -> 6 padded keys, 3 samples, last all padding)", &gc,
                       1, 8, 11, 0, &r);
        break;
    case 6:
        gc = groups_cross(&r, 5, 33, 70);
        attention_case("cross (33 queries -> 70 padded keys, 5 samples)", &gc, 4, 32, 35, 0, &r);
        break;
    case 7:
        gc = groups_shared_keys(6, 9, 40);
        attention_case("shared keys (6 query groups -> the same 40 keys)", &gc, 2, 16, 19, 0, &r);
        break;
    case 8:
        gc = groups_joint(2, 33);
        attention_case("joint (2 x 33 tokens), exact scores spanning hundreds", &gc, 2, 32, 96,
                       1, &r);
        break;
    case 9:     /* 18 query tiles, 5 key tiles in 4 uneven backward chunks */
        gc = groups_joint(1, 1100);
        attention_case("joint (1 x 1100 tokens: many query and key tiles)", &gc, 2, 32, 96, 0,
                       &r);
        break;
    case 10:    /* padding spread over 3 key tiles, 2 query tiles */
        gc = groups_cross(&r, 2, 70, 530);
        attention_case("cross (70 queries -> 530 padded keys, 2 samples)", &gc, 2, 16, 19, 0,
                       &r);
        break;
    case 11:
        gc = groups_causal(&r, 3, 70);
        attention_case("causal (3 samples x 70 tokens, padded keys)", &gc, 2, 32, 96, 0, &r);
        break;
    case 12:    /* 18 query tiles against 5 key tiles: diagonal tiles, skipped tiles both ways */
        gc = groups_causal(&r, 1, 1100);
        attention_case("causal (1 x 1100 tokens: the diagonal across many tiles)", &gc, 2, 32,
                       96, 0, &r);
        break;
    /* The cpu backend runs its tile products on lv_tile_gemm when the head size is a multiple of
     * 16 (cases 1, 4, 8, 9, 11, 12 above at 16) and on lv_sgemm otherwise; these give the
     * tiled path the key lists it could get wrong: gathered, padded, and head sizes that use
     * its 64- and 32-wide column panels. */
    case 13:
        gc = groups_shared_keys(6, 9, 40);
        attention_case("shared keys, head size 32 (gathered keys on the tiled path)", &gc, 2, 64,
                       67, 0, &r);
        break;
    case 14:
        gc = groups_cross(&r, 2, 70, 530);
        attention_case("cross (70 -> 530 padded keys), head size 64 (tiled path)", &gc, 1, 64,
                       64, 0, &r);
        break;
    case 15:
        gc = groups_joint(2, 200);
        attention_case("joint (2 x 200 tokens), head size 48 (tiled path)", &gc, 2, 96, 288, 0,
                       &r);
        break;
    case 16: {  /* decode steps of 1 to 70 queries over caches of up to 600 keys (3 key tiles) */
        const int64_t nq[4] = { 1, 70, 5, 9 }, nk[4] = { 600, 300, 33, 4 };
        gc = groups_decode(4, nq, nk, 640);
        attention_case("causal decode (1, 70, 5, 9 queries over 600, 300, 33, 4 cached keys)",
                       &gc, 2, 16, 19, 0, &r);
        break;
    }
    }
}
END_TEST

/* ---- residuals ------------------------------------------------------------------------------ */

typedef struct {
    const float *a, *b, *dout;
    float gate;
    int64_t n;
} residual_ctx;

static void residual_fwd(const lv_backend *be, void *p, float *const *o)
{
    const residual_ctx *c = p;
    be->residual_forward(o[0], c->a, c->b, c->n);
    be->residual_forward(o[1], o[1], c->b, c->n);         /* in place, as the graph does */
}

static void residual_bwd(const lv_backend *be, void *p, float *const *o)
{
    const residual_ctx *c = p;
    be->residual_backward(o[0], o[1], c->dout, c->n);
    be->residual_backward(o[0], NULL, c->dout, c->n);
}

static void gated_fwd(const lv_backend *be, void *p, float *const *o)
{
    const residual_ctx *c = p;
    be->gated_residual_forward(o[0], c->a, c->b, &c->gate, c->n);
}

static void gated_bwd(const lv_backend *be, void *p, float *const *o)
{
    const residual_ctx *c = p;
    be->gated_residual_backward(o[0], o[1], o[2], c->dout, c->b, &c->gate, c->n);
    be->gated_residual_backward(NULL, o[1], NULL, c->dout, c->b, &c->gate, c->n);
}

START_TEST(test_residual)
{
    const int64_t n = (int64_t[]){ 1, 77, 100003 }[_i];
    lv_rng r = test_rng(3400 + _i);
    float *a = rand_floats(&r, n, 1), *b = rand_floats(&r, n, 1), *g = rand_floats(&r, n, 1);
    printf("residual n=%lld\n", (long long)n);
    residual_ctx c = { a, b, g, 0.0f, n };
    out_spec fwd[] = { { "out", n, NULL }, { "out", n, NULL } };
    compare_backends("residual", residual_fwd, &c, fwd, 2, &r, NO_MATMUL);
    out_spec bwd[] = { { "da", n, NULL }, { "db", n, NULL } };
    compare_backends("residual", residual_bwd, &c, bwd, 2, &r, NO_MATMUL);
    free_outs(fwd, 2), free_outs(bwd, 2);
    free(a), free(b), free(g);
}
END_TEST

START_TEST(test_gated_residual)
{
    const int64_t n = (int64_t[]){ 50, 70001, 7 }[_i];
    lv_rng r = test_rng(3410 + _i);
    float *h = rand_floats(&r, n, 1), *f = rand_floats(&r, n, 1), *g = rand_floats(&r, n, 1);
    residual_ctx c = { h, f, g, (float[]){ 0.0f, 0.3f, -1.2f }[_i], n };
    printf("gated_residual n=%lld gate=%g\n", (long long)n, c.gate);
    out_spec fwd[] = { { "out", n, NULL } };
    compare_backends("gated_residual", gated_fwd, &c, fwd, 1, &r, NO_MATMUL);
    out_spec bwd[] = { { "dh", n, NULL }, { "df", n, NULL }, { "dgate", 1, NULL } };
    compare_backends("gated_residual", gated_bwd, &c, bwd, 3, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 3);
    free(h), free(f), free(g);
}
END_TEST

/* ---- pooling and normalisation -------------------------------------------------------------- */

typedef struct {
    const float *x, *dout, *y, *norm;
    const uint8_t *valid;
    const int64_t *start;
    int64_t B, T, D;
} pool_ctx;

static void mean_pool_fwd(const lv_backend *be, void *p, float *const *o)
{
    const pool_ctx *c = p;
    be->mean_pool_forward(o[0], c->x, c->valid, c->B, c->T, c->D);
}

static void mean_pool_bwd(const lv_backend *be, void *p, float *const *o)
{
    const pool_ctx *c = p;
    be->mean_pool_backward(o[0], c->dout, c->valid, c->B, c->T, c->D);
}

START_TEST(test_mean_pool)
{
    const int64_t B = (int64_t[]){ 3, 2 }[_i], T = (int64_t[]){ 9, 300 }[_i];
    const int64_t D = (int64_t[]){ 5, 70 }[_i];
    lv_rng r = test_rng(3500 + _i);
    float *x = rand_floats(&r, B * T * D, 1), *g = rand_floats(&r, B * D, 1);
    uint8_t *valid = malloc(B * T);
    for (int64_t i = 0; i < B * T; i++)    /* full, partly padded, empty */
        valid[i] = i < T ? 1 : (i >= 2 * T ? 0 : lv_rng_below(&r, 2));
    printf("mean_pool B=%lld T=%lld D=%lld (%s)\n", (long long)B, (long long)T, (long long)D,
           _i == 0 ? "full, partly padded, empty" : "no padding mask");
    pool_ctx c = { x, g, NULL, NULL, _i == 0 ? valid : NULL, NULL, B, T, D };
    out_spec fwd[] = { { "out", B * D, NULL } }, bwd[] = { { "dinp", B * T * D, NULL } };
    compare_backends("mean_pool", mean_pool_fwd, &c, fwd, 1, &r, NO_MATMUL);
    compare_backends("mean_pool", mean_pool_bwd, &c, bwd, 1, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 1);
    free(x), free(g), free(valid);
}
END_TEST

static void segment_mean_fwd(const lv_backend *be, void *p, float *const *o)
{
    const pool_ctx *c = p;
    be->segment_mean_forward(o[0], c->x, c->start, c->B, c->D);
}

static void segment_mean_bwd(const lv_backend *be, void *p, float *const *o)
{
    const pool_ctx *c = p;
    be->segment_mean_backward(o[0], c->dout, c->start, c->B, c->D);
}

START_TEST(test_segment_mean)
{
    const int64_t G = (int64_t[]){ 6, 40 }[_i], D = (int64_t[]){ 33, 64 }[_i];
    lv_rng r = test_rng(3510 + _i);
    int64_t start[41] = { 0 };
    for (int64_t g = 0; g < G; g++)        /* segments of 0 .. 40 rows, empty ones included */
        start[g + 1] = start[g] + (g % 3 == 1 ? 0 : (int64_t)lv_rng_below(&r, 41));
    const int64_t rows = start[G];
    float *x = rand_floats(&r, rows * D, 1), *g = rand_floats(&r, G * D, 1);
    printf("segment_mean G=%lld D=%lld over %lld rows (empty segments)\n", (long long)G,
           (long long)D, (long long)rows);
    pool_ctx c = { x, g, NULL, NULL, NULL, start, G, 0, D };
    out_spec fwd[] = { { "out", G * D, NULL } }, bwd[] = { { "dinp", rows * D, NULL } };
    compare_backends("segment_mean", segment_mean_fwd, &c, fwd, 1, &r, NO_MATMUL);
    compare_backends("segment_mean", segment_mean_bwd, &c, bwd, 1, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 1);
    free(x), free(g);
}
END_TEST

static void l2norm_fwd(const lv_backend *be, void *p, float *const *o)
{
    const pool_ctx *c = p;
    be->l2norm_forward(o[0], o[1], c->x, c->B, c->D);
}

static void l2norm_bwd(const lv_backend *be, void *p, float *const *o)
{
    const pool_ctx *c = p;
    be->l2norm_backward(o[0], c->dout, c->y, c->norm, c->B, c->D);
}

START_TEST(test_l2norm)
{
    const int64_t N = (int64_t[]){ 1, 4, 8, 300 }[_i], C = (int64_t[]){ 1, 17, 256, 128 }[_i];
    lv_rng r = test_rng(3520 + _i);
    float *x = rand_floats(&r, N * C, 1), *g = rand_floats(&r, N * C, 1);
    if (N > 1)                              /* a zero row: the norm is clamped at eps */
        memset(x, 0, (size_t)C * sizeof *x);
    printf("l2norm N=%lld C=%lld%s\n", (long long)N, (long long)C, N > 1 ? " (a zero row)" : "");
    pool_ctx c = { x, g, NULL, NULL, NULL, NULL, N, 0, C };
    out_spec fwd[] = { { "out", N * C, NULL }, { "norm", N, NULL } };
    compare_backends("l2norm", l2norm_fwd, &c, fwd, 2, &r, NO_MATMUL);
    c.y = fwd[0].ref, c.norm = fwd[1].ref;
    out_spec bwd[] = { { "dinp", N * C, NULL } };
    compare_backends("l2norm", l2norm_bwd, &c, bwd, 1, &r, NO_MATMUL);
    free_outs(fwd, 2), free_outs(bwd, 1);
    free(x), free(g);
}
END_TEST

/* ---- embeddings ----------------------------------------------------------------------------- */

typedef struct {
    const float *table, *dout;
    const int32_t *ids;
    int64_t N, V, D;
} embedding_ctx;

static void embedding_fwd(const lv_backend *be, void *p, float *const *o)
{
    const embedding_ctx *c = p;
    be->embedding_forward(o[0], c->ids, c->table, c->N, c->V, c->D);
}

static void embedding_bwd(const lv_backend *be, void *p, float *const *o)
{
    const embedding_ctx *c = p;
    be->embedding_backward(o[0], c->dout, c->ids, c->N, c->V, c->D);
}

START_TEST(test_embedding)
{
    const int64_t V = (int64_t[]){ 11, 300 }[_i], D = (int64_t[]){ 6, 40 }[_i];
    const int64_t N = (int64_t[]){ 20, 2000 }[_i];
    lv_rng r = test_rng(3600 + _i);
    int32_t *ids = malloc(N * sizeof *ids);
    for (int64_t n = 0; n < N; n++)        /* repeated ids, a third of the table unused */
        ids[n] = (int32_t)lv_rng_below(&r, (uint64_t)(2 * V / 3));
    float *table = rand_floats(&r, V * D, 1), *g = rand_floats(&r, N * D, 1);
    printf("embedding V=%lld D=%lld N=%lld (repeated ids)\n", (long long)V, (long long)D,
           (long long)N);
    embedding_ctx c = { table, g, ids, N, V, D };
    out_spec fwd[] = { { "out", N * D, NULL } }, bwd[] = { { "dtable", V * D, NULL } };
    compare_backends("embedding", embedding_fwd, &c, fwd, 1, &r, NO_MATMUL);
    compare_backends("embedding", embedding_bwd, &c, bwd, 1, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 1);
    free(ids), free(table), free(g);
}
END_TEST

typedef struct {
    const float *x, *spatial, *temporal, *dout;
    const int64_t *kept;
    int64_t B, K, P, Ft, D;
} pos_ctx;

static void pos_fwd(const lv_backend *be, void *p, float *const *o)
{
    const pos_ctx *c = p;
    be->pos_embed_forward(o[0], c->x, c->spatial, c->temporal, c->kept, c->B, c->K, c->P, c->Ft,
                          c->D);
}

static void pos_bwd(const lv_backend *be, void *p, float *const *o)
{
    const pos_ctx *c = p;
    be->pos_embed_backward(o[0], o[1], c->temporal ? o[2] : NULL, c->dout, c->kept, c->B, c->K,
                           c->P, c->Ft, c->D);
    be->pos_embed_backward(NULL, o[1], NULL, c->dout, c->kept, c->B, c->K, c->P, c->Ft, c->D);
}

/* (B, P, Ft, K, D, kept?, temporal?): a kept subset; text (no kept list, no temporal table);
 * a larger kept subset */
static const int64_t pos_shapes[][7] = { { 2, 6, 4, 9, 5, 1, 1 }, { 3, 12, 1, 12, 32, 0, 0 },
                                         { 2, 64, 16, 256, 48, 1, 1 } };

START_TEST(test_pos_embed)
{
    const int64_t *s = pos_shapes[_i];
    const int64_t B = s[0], P = s[1], Ft = s[2], K = s[3], D = s[4], N = P * Ft;
    lv_rng r = test_rng(3610 + _i);
    int64_t *kept = malloc(B * K * sizeof *kept), *perm = malloc(N * sizeof *perm);
    for (int64_t b = 0; b < B; b++) {      /* a different random subset per sample */
        lv_rng_permutation(&r, perm, N);
        for (int64_t k = 0; k < K; k++)
            kept[b * K + k] = perm[k];
    }
    float *x = rand_floats(&r, B * K * D, 1), *sp = rand_floats(&r, P * D, 1);
    float *tp = rand_floats(&r, Ft * D, 1), *g = rand_floats(&r, B * K * D, 1);
    printf("pos_embed B=%lld K=%lld of N=%lld (P=%lld Ft=%lld) D=%lld%s\n", (long long)B,
           (long long)K, (long long)N, (long long)P, (long long)Ft, (long long)D,
           s[5] ? "" : " (no kept list, no temporal table)");
    pos_ctx c = { x, sp, s[6] ? tp : NULL, g, s[5] ? kept : NULL, B, K, P, Ft, D };
    out_spec fwd[] = { { "out", B * K * D, NULL } };
    compare_backends("pos_embed", pos_fwd, &c, fwd, 1, &r, NO_MATMUL);
    out_spec bwd[] = { { "dinp", B * K * D, NULL }, { "dspatial", P * D, NULL },
                       { "dtemporal", Ft * D, NULL } };
    compare_backends("pos_embed", pos_bwd, &c, bwd, 3, &r, NO_MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 3);
    free(kept), free(perm), free(x), free(sp), free(tp), free(g);
}
END_TEST

/* ---- tubelet embedding ---------------------------------------------------------------------- */

typedef struct {
    const float *video, *w, *b, *dout;
    const int64_t *kept;
    const lv_tubelet_shape *s;
    int64_t B, K, D;
} tubelet_ctx;

static void tubelet_fwd(const lv_backend *be, void *p, float *const *o)
{
    const tubelet_ctx *c = p;
    be->tubelet_embed_forward(o[0], c->video, c->w, c->b, c->kept, c->s, c->B, c->K, c->D);
}

static void tubelet_bwd(const lv_backend *be, void *p, float *const *o)
{
    const tubelet_ctx *c = p;
    be->tubelet_embed_backward(o[0], o[1], o[2], c->dout, c->video, c->w, c->kept, c->s, c->B,
                               c->K, c->D);
    be->tubelet_embed_backward(NULL, o[1], NULL, c->dout, c->video, c->w, c->kept, c->s, c->B,
                               c->K, c->D);
}

/* 2D patches; 2x3x3 tubelets with a ragged edge; TubeViT-like overlapping strided tubes with an
 * offset; a coarse 4x2x2 kernel; the tiny preset's 2x8x8 tubelets over 8 x 32 x 32 frames; wide
 * overlapping tubes (stride half the kernel) over a larger video */
static const lv_tubelet_shape tubelet_shapes[] = {
    { .F = 1, .H = 6, .W = 4, .C = 3, .kt = 1, .kh = 2, .kw = 2, .st = 1, .sh = 2, .sw = 2 },
    { .F = 4, .H = 7, .W = 6, .C = 3, .kt = 2, .kh = 3, .kw = 3, .st = 2, .sh = 3, .sw = 3 },
    { .F = 5, .H = 6, .W = 6, .C = 3, .kt = 3, .kh = 3, .kw = 2, .st = 1, .sh = 2, .sw = 3,
      .ot = 1, .oh = 1, .ow = 0 },
    { .F = 8, .H = 4, .W = 4, .C = 3, .kt = 4, .kh = 2, .kw = 2, .st = 4, .sh = 2, .sw = 2 },
    { .F = 8, .H = 32, .W = 32, .C = 3, .kt = 2, .kh = 8, .kw = 8, .st = 2, .sh = 8, .sw = 8 },
    { .F = 9, .H = 24, .W = 20, .C = 3, .kt = 3, .kh = 8, .kw = 6, .st = 2, .sh = 4, .sw = 3,
      .ot = 0, .oh = 2, .ow = 1 },
};

START_TEST(test_tubelet)
{
    const lv_tubelet_shape *s = &tubelet_shapes[_i];
    int64_t Ft, Hp, Wp;
    const int64_t N = lv_tubelet_grid(s, &Ft, &Hp, &Wp), B = 2, D = _i >= 4 ? 32 : 5;
    const int64_t V = s->kt * s->kh * s->kw * s->C, vid = B * s->F * s->H * s->W * s->C;
    const int use_kept = _i >= 3;
    const int64_t K = use_kept ? (N + 1) / 2 : N;
    lv_rng r = test_rng(3700 + _i);
    int64_t *kept = malloc(B * N * sizeof *kept), *perm = malloc(N * sizeof *perm);
    for (int64_t b = 0; use_kept && b < B; b++) {
        lv_rng_permutation(&r, perm, N);
        for (int64_t k = 0; k < K; k++)
            kept[b * K + k] = perm[k];
    }
    float *video = rand_floats(&r, vid, 1), *w = rand_floats(&r, D * V, 0.3);
    float *b = rand_floats(&r, D, 1), *g = rand_floats(&r, B * K * D, 1);
    printf("tubelet %lldx%lldx%lld video, kernel %lldx%lldx%lld stride %lldx%lldx%lld: "
           "grid %lldx%lldx%lld, %lld of %lld tokens kept, D=%lld\n", (long long)s->F,
           (long long)s->H, (long long)s->W, (long long)s->kt, (long long)s->kh, (long long)s->kw,
           (long long)s->st, (long long)s->sh, (long long)s->sw, (long long)Ft, (long long)Hp,
           (long long)Wp, (long long)K, (long long)N, (long long)D);
    tubelet_ctx c = { video, w, b, g, use_kept ? kept : NULL, s, B, K, D };
    out_spec fwd[] = { { "out", B * K * D, NULL } };
    compare_backends("tubelet", tubelet_fwd, &c, fwd, 1, &r, MATMUL);
    out_spec bwd[] = { { "dvideo", vid, NULL }, { "dweight", D * V, NULL },
                       { "dbias", D, NULL } };
    compare_backends("tubelet", tubelet_bwd, &c, bwd, 3, &r, MATMUL);
    free_outs(fwd, 1), free_outs(bwd, 3);
    free(kept), free(perm), free(video), free(w), free(b), free(g);
}
END_TEST

/* ---- InfoNCE -------------------------------------------------------------------------------- */

typedef struct {
    const float *v, *t, *logits;
    float log_scale, dloss;
    int64_t B, E;
} infonce_ctx;

static void infonce_fwd(const lv_backend *be, void *p, float *const *o)
{
    const infonce_ctx *c = p;
    be->infonce_forward(o[0], o[1], c->v, c->t, &c->log_scale, c->B, c->E);
}

static void infonce_bwd(const lv_backend *be, void *p, float *const *o)
{
    const infonce_ctx *c = p;
    be->infonce_backward(o[0], o[1], o[2], &c->dloss, c->logits, c->v, c->t, &c->log_scale,
                         c->B, c->E);
    be->infonce_backward(NULL, o[1], NULL, &c->dloss, c->logits, c->v, c->t, &c->log_scale,
                         c->B, c->E);
}

START_TEST(test_infonce)
{
    const int64_t B = (int64_t[]){ 1, 5, 33, 8 }[_i], E = (int64_t[]){ 4, 16, 64, 32 }[_i];
    const float log_scale = _i == 3 ? 5.0f : (float)log(1 / 0.07);   /* 5: the clamp holds */
    lv_rng r = test_rng(3800 + _i);
    float *v = rand_unit_rows(&r, B, E), *t = rand_unit_rows(&r, B, E);
    printf("infonce B=%lld E=%lld log_scale=%.3f%s\n", (long long)B, (long long)E, log_scale,
           _i == 3 ? " (clamped at 100)" : "");
    infonce_ctx c = { v, t, NULL, log_scale, 0.7f, B, E };
    out_spec fwd[] = { { "loss", 1, NULL }, { "logits", B * B, NULL } };
    compare_backends("infonce", infonce_fwd, &c, fwd, 2, &r, MATMUL);
    c.logits = fwd[1].ref;
    out_spec bwd[] = { { "dv", B * E, NULL }, { "dt", B * E, NULL },
                       { "dlog_scale", 1, NULL } };
    compare_backends("infonce", infonce_bwd, &c, bwd, 3, &r, MATMUL);
    free_outs(fwd, 2), free_outs(bwd, 3);
    free(v), free(t);
}
END_TEST

/* ---- cross-entropy -------------------------------------------------------------------------- */

typedef struct {
    const float *logits, *lse;
    const int32_t *targets;
    float dloss;
    int64_t N, V;
} ce_ctx;

static void ce_fwd(const lv_backend *be, void *p, float *const *o)
{
    const ce_ctx *c = p;
    be->cross_entropy_forward(o[0], o[1], c->logits, c->targets, c->N, c->V);
}

static void ce_bwd(const lv_backend *be, void *p, float *const *o)
{
    const ce_ctx *c = p;
    be->cross_entropy_backward(o[0], &c->dloss, c->logits, c->lse, c->targets, c->N, c->V);
}

/* logits N(shift, 3^2); targets uniform, about one row in four ignored (-1); _i == 2 ignores
 * every row; _i == 3 puts every logit near 100 (exp overflows fp32 unless the row maximum is
 * subtracted) */
START_TEST(test_cross_entropy)
{
    const int64_t N = (int64_t[]){ 1, 7, 5, 9, 64 }[_i], V = (int64_t[]){ 1, 13, 3, 11, 5003 }[_i];
    const float shift = _i == 3 ? 100.0f : 0.0f;
    lv_rng r = test_rng(3900 + _i);
    float *x = rand_floats(&r, N * V, 3);
    int32_t *t = malloc((size_t)N * sizeof *t);
    ck_assert_ptr_nonnull(t);
    int64_t ignored = 0;
    for (int64_t n = 0; n < N; n++) {
        t[n] = _i == 2 || (n > 0 && lv_rng_below(&r, 4) == 0) ? -1
                                                              : (int32_t)lv_rng_below(&r, V);
        ignored += t[n] < 0;
    }
    for (int64_t i = 0; i < N * V; i++)
        x[i] += shift;
    printf("cross_entropy N=%lld V=%lld logits N(%g, 3^2), %lld rows ignored\n", (long long)N,
           (long long)V, shift, (long long)ignored);
    ce_ctx c = { x, NULL, t, 0.7f, N, V };
    out_spec fwd[] = { { "loss", 1, NULL }, { "lse", N, NULL } };
    compare_backends("cross_entropy", ce_fwd, &c, fwd, 2, &r, NO_MATMUL);
    c.lse = fwd[1].ref;
    out_spec bwd[] = { { "dlogits", N * V, NULL } };
    compare_backends("cross_entropy", ce_bwd, &c, bwd, 1, &r, NO_MATMUL);
    if (_i == 2)
        ck_assert_float_eq(fwd[0].ref[0], 0.0f);
    free_outs(fwd, 2), free_outs(bwd, 1);
    free(x), free(t);
}
END_TEST

/* ---- scale and the memory operations set and copy ------------------------------------------- */

typedef struct {
    int64_t n;
    const float *src;
} fill_ctx;

static void scale_fill_run(const lv_backend *be, void *p, float *const *o)
{
    const fill_ctx *c = p;
    be->scale(o[0], 0.375f, c->n);
    be->set(o[1], 0.0f, c->n);
    be->set(o[2], -0.25f, c->n);
    be->copy(o[3], c->src, c->n);
}

START_TEST(test_scale_zero)
{
    const int64_t n = (int64_t[]){ 1, 1000, 300001 }[_i];
    lv_rng r = test_rng(3900 + _i);
    printf("scale, set (0 and -0.25), copy n=%lld\n", (long long)n);
    float *src = rand_floats(&r, n, 1.0);
    fill_ctx c = { n, src };
    out_spec outs[] = { { "scale", n, NULL }, { "zero", n, NULL }, { "set", n, NULL },
                        { "copy", n, NULL } };
    compare_backends("elementwise", scale_fill_run, &c, outs, 4, &r, NO_MATMUL);
    for (int64_t i = 0; i < n; i++)
        ck_assert(outs[1].ref[i] == 0.0f && outs[2].ref[i] == -0.25f && outs[3].ref[i] == src[i]);
    free_outs(outs, 4);
    free(src);
}
END_TEST

/* ---- the optimiser's per-entry work --------------------------------------------------------- */

typedef struct {
    const float *g;
    int64_t n;
    lv_adamw_coef k;
} adamw_ctx;

/* outputs: x, m (both pre-filled), v (made non-negative here), and the sum of squares of g */
static void adamw_run(const lv_backend *be, void *p, float *const *o)
{
    const adamw_ctx *c = p;
    for (int64_t i = 0; i < c->n; i++)
        o[2][i] = fabsf(o[2][i]);
    be->adamw_update(o[0], c->g, o[1], o[2], c->n, &c->k);
}

START_TEST(test_adamw)
{
    const int64_t n = (int64_t[]){ 1, 1001, 300007 }[_i];
    lv_rng r = test_rng(3950 + _i);
    float *g = rand_floats(&r, n, 1);
    adamw_ctx c = { g, n, { .lr = 1e-3, .keep = _i == 1 ? 1.0 : 1.0 - 1e-3 * 0.05,
                            .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                            .bc1 = 1.0 - pow(0.9, 3.0), .bc2 = 1.0 - pow(0.999, 3.0),
                            .grad_scale = _i == 2 ? 0.37f : 1.0f } };
    printf("adamw update and sum of squares, n=%lld\n", (long long)n);
    out_spec outs[] = { { "x", n, NULL }, { "m", n, NULL }, { "v", n, NULL } };
    compare_backends("adamw", adamw_run, &c, outs, 3, &r, NO_MATMUL);
    /* the sum of squares is a double: compared here, not through the float harness */
    const lv_tolerance *tol = lv_tolerance_get("sum_squares", "out", LV_CHECK_FAST);
    const int saved = threads_now();
    const double want = lv_backend_ref.sum_squares(g, n);
    threads_set(1);
    const double one = lv_backend_cpu.sum_squares(g, n);
    threads_set(2);
    const double two = lv_backend_cpu.sum_squares(g, n);
    threads_set(saved);
    printf("  sum_squares     out        vs ref         rel diff %.2e (tolerance rel %.0e); "
           "1 vs 2 threads: %s\n", fabs(two - want) / want, tol->rel,
           one == two ? "bit-identical" : "DIFFER");
    ck_assert(fabs(two - want) <= tol->abs + tol->rel * fabs(want));
    ck_assert(one == two);
    free_outs(outs, 3);
    free(g);
}
END_TEST

/* ---- the whole training step ---------------------------------------------------------------- */

enum { STEP_BATCH = 3 };

static lv_config variant_config(const lv_gradcheck_variant *v)
{
    lv_config c;
    char buf[256];
    ck_assert_int_eq(lv_config_preset(&c, "tiny"), 0);
    snprintf(buf, sizeof buf, "%s", v->overrides);
    for (char *save = NULL, *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save))
        ck_assert_msg(lv_config_set(&c, kv) == 0, "%s: %s", kv, lv_error());
    ck_assert_msg(lv_config_validate(&c) == 0, "%s", lv_error());
    return c;
}

/* One step (zeroed gradients) of m at the given thread count; returns the loss. */
static float step_at(lv_model *m, const lv_batch *batch, lv_accum *acc, int threads)
{
    const int saved = threads_now();
    threads_set(threads);
    lv_params_zero_grad(&m->params);
    const float loss = lv_model_step(m, batch, 1, acc);
    threads_set(saved);
    return loss;
}

typedef struct {
    double loss_err, grad_err;        /* cpu (2 threads) vs ref */
    double threads_err;               /* cpu 1 thread vs 2 threads */
    int bitwise;                      /* ... bit for bit */
    char worst[LV_PARAM_NAME_MAX];
} step_result;

/* Largest scaled difference over every gradient tensor of two models (and their pixel
 * gradients); names the worst tensor in worst (may be NULL). */
static double grads_diff(const lv_model *got, const float *got_pixels, const lv_model *want,
                         const float *want_pixels, int64_t pixels, char *worst)
{
    double err = scaled_diff(got_pixels, want_pixels, pixels);
    if (worst)
        snprintf(worst, LV_PARAM_NAME_MAX, "pixels");
    for (int64_t i = 0; i < want->params.count; i++) {
        const float *gw = lv_param_grad(&want->params, i), *gg = lv_param_grad(&got->params, i);
        if (!gw)
            continue;
        const double e = scaled_diff(gg, gw, want->params.p[i].numel);
        if (!(e <= err)) {
            err = e;
            if (worst)
                snprintf(worst, LV_PARAM_NAME_MAX, "%s", want->params.p[i].name);
        }
    }
    return err;
}

/* The step of variant v on ref and on cpu (1 thread, then 2) from the same parameters; every
 * gradient compared, the pixel gradient included. */
static step_result step_compare(const lv_gradcheck_variant *v)
{
    const lv_config c = variant_config(v);
    lv_model mr, m1, m2;
    ck_assert_msg(lv_model_build(&mr, &c, &lv_backend_ref) == 0, "%s", lv_error());
    ck_assert_msg(lv_model_build(&m1, &c, &lv_backend_cpu) == 0, "%s", lv_error());
    ck_assert_msg(lv_model_build(&m2, &c, &lv_backend_cpu) == 0, "%s", lv_error());
    /* noise on every parameter, so zero-initialised branches (gates, LoRA B) are live */
    lv_rng r = test_rng(3950);
    for (int64_t i = 0; i < mr.params.n_floats; i++)
        mr.params.data[i] += (float)(0.05 * lv_rng_normal(&r));
    memcpy(m1.params.data, mr.params.data, (size_t)mr.params.n_floats * sizeof(float));
    memcpy(m2.params.data, mr.params.data, (size_t)mr.params.n_floats * sizeof(float));
    ck_assert_int_eq(lv_model_alloc_acts(&mr, STEP_BATCH, 1), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&m1, STEP_BATCH, 1), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&m2, STEP_BATCH, 1), 0);
    lv_accum acc;
    ck_assert_int_eq(lv_accum_alloc(&acc, mr.be, STEP_BATCH, c.embed_dim), 0);
    test_batch t = batch_make(&c, STEP_BATCH, v->image, 3960);
    const int64_t F = v->image ? 1 : c.frames;
    const int64_t pixels = STEP_BATCH * F * c.image_size * c.image_size * 3;

    const float loss_ref = step_at(&mr, &t.batch, &acc, 1);
    const float loss_1 = step_at(&m1, &t.batch, &acc, 1);
    const float loss_2 = step_at(&m2, &t.batch, &acc, 2);
    ck_assert(isfinite(loss_ref) && isfinite(loss_2));
    step_result res = { .loss_err = fabs((double)loss_2 - loss_ref) / fabs((double)loss_ref) };
    res.grad_err = grads_diff(&m2, m2.dvideo, &mr, mr.dvideo, pixels, res.worst);
    /* lv_margin_max, not fmax: fmax drops a NaN (a NaN loss on 1 thread) */
    res.threads_err = lv_margin_max(fabs((double)loss_1 - loss_2) / fabs((double)loss_2),
                                    grads_diff(&m1, m1.dvideo, &m2, m2.dvideo, pixels, NULL));
    res.bitwise = loss_1 == loss_2 &&
                  memcmp(m1.params.grad, m2.params.grad,
                         (size_t)m1.params.n_grad_floats * sizeof(float)) == 0 &&
                  memcmp(m1.dvideo, m2.dvideo, (size_t)pixels * sizeof(float)) == 0;
    batch_free(&t);
    lv_accum_free(&acc);
    lv_model_free(&mr);
    lv_model_free(&m1);
    lv_model_free(&m2);
    return res;
}

/* Loss and every gradient of a step, cpu against ref, for every model variant; and the cpu step
 * on 1 thread against 2: bit for bit where lv_backend_cpu_thread_exact() promises it, within
 * the same tolerance otherwise. Gradients are compared in units of each tensor's largest
 * entry. */
START_TEST(test_step_equivalence)
{
    int n;
    const lv_gradcheck_variant *variants = lv_gradcheck_variants(&n);
    const lv_tolerance *tl = lv_tolerance_get("model_step", "loss", LV_CHECK_FAST);
    const lv_tolerance *tg = lv_tolerance_get("model_step", "grad", LV_CHECK_FAST);
    const int exact = lv_backend_cpu_thread_exact();
    double worst = 0.0;
    int worst_at = 0;
    for (int i = 0; i < n; i++) {
        const step_result s = step_compare(&variants[i]);
        const double frac = lv_margin_max(s.loss_err / tl->rel, s.grad_err / tg->rel);
        printf("  step %-12s loss rel diff %.2e  gradients max diff %.2e of scale (%s)  "
               "1 vs 2 threads: %s (%.1e)\n", variants[i].name, s.loss_err, s.grad_err, s.worst,
               s.bitwise ? "bit-identical" : "differ", s.threads_err);
        ck_assert_msg(s.loss_err <= tl->rel, "%s: loss differs by %.2e", variants[i].name,
                      s.loss_err);
        ck_assert_msg(s.grad_err <= tg->rel, "%s: %s differs by %.2e of its scale",
                      variants[i].name, s.worst, s.grad_err);
        ck_assert_msg(s.bitwise || (!exact && s.threads_err <= tg->rel),
                      "%s: the cpu step depends on the number of threads (%.2e)",
                      variants[i].name, s.threads_err);
        if (frac > worst) {
            worst = frac;
            worst_at = i;
        }
    }
    printf("  worst variant: %s at %.3f of tolerance (loss rel %.0e, gradients %.0e of scale); "
           "threads: %s%s; matmul: %s\n", variants[worst_at].name, worst, tl->rel, tg->rel,
           exact ? "bit-identical promised" : "within tolerance (OpenBLAS)", THREADS_NOTE,
           lv_sgemm_backend());
}
END_TEST

/* ---- the profiling wrapper (bench --profile) ----------------------------------------------- */

/* What a profile of marked training steps must show, NULL when it does: the families (host time
 * between kernels included) sum to the marked wall time within 3%; the forward matmul FLOPs are
 * lv_model_step_flops / 3 (its convention: 3 x the forward); the backward's are twice the
 * forward's less the tubelet's pixel-gradient product, which no step asks for (dvideo NULL); the
 * text family's forward FLOPs are the text tower's (lv_tower_flops). */
static const char *profile_verdict(const lv_profile *p, double fwd_want, double bwd_want,
                                   double text_want, char *why, size_t n)
{
    double sum = 0.0;
    for (int f = 0; f < LV_PROF_FAMILIES; f++)
        sum += lv_profile_family_seconds(p, f);
    const double fwd = lv_profile_flops(p, 0, -1), bwd = lv_profile_flops(p, 1, -1);
    const double text = lv_profile_flops(p, 0, LV_PROF_TEXT), steps = (double)p->steps;
    if (!(fabs(sum / p->wall_s - 1.0) <= 0.03))
        snprintf(why, n, "families sum to %.4f s of %.4f s", sum, p->wall_s);
    else if (!(fabs(fwd / steps / fwd_want - 1.0) <= 1e-9))
        snprintf(why, n, "forward %.6g FLOPs per step, analytic %.6g", fwd / steps, fwd_want);
    else if (!(fabs(bwd / steps / bwd_want - 1.0) <= 1e-9))
        snprintf(why, n, "backward %.6g FLOPs per step, analytic %.6g", bwd / steps, bwd_want);
    else if (!(fabs(text / steps / text_want - 1.0) <= 1e-9))
        snprintf(why, n, "text tower %.6g FLOPs per step, analytic %.6g", text / steps,
                 text_want);
    else
        return NULL;
    return why;
}

/* The tiny model's training step through the wrapper: the same loss and gradients as the plain
 * cpu table, bit for bit (the wrapper only forwards); the profile of 3 marked steps passes
 * profile_verdict; and the verdict catches a doubled FLOP count, time booked twice and a text
 * row booked to the video matmuls (the test of the test). */
START_TEST(test_profile_wrapper)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "tiny"), 0);
    const int64_t B = 3, T = c.text_len;
    static lv_profile prof;
    const lv_backend *wrapped = lv_profile_wrap(&prof, &lv_backend_cpu,
                                                &(lv_profile_opts){ .text_rows = B * T });
    lv_model m0, m1;
    lv_trainer t0, t1;
    const lv_adamw_config opt = lv_adamw_defaults();
    ck_assert_msg(lv_model_build(&m0, &c, &lv_backend_cpu) == 0, "%s", lv_error());
    ck_assert_msg(lv_model_build(&m1, &c, wrapped) == 0, "%s", lv_error());
    ck_assert_int_eq(lv_model_alloc_acts(&m0, B, 0), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&m1, B, 0), 0);
    ck_assert_int_eq(lv_trainer_init(&t0, &m0, &opt, B), 0);
    ck_assert_int_eq(lv_trainer_init(&t1, &m1, &opt, B), 0);
    prof.o.grad = m1.params.grad;
    prof.o.grad_floats = m1.params.n_grad_floats;
    test_batch tb = batch_make(&c, B, 0, 4100);
    const lv_step_part part = { .micro = &tb.batch, .n_micro = 1 };
    lv_step_stats s0, s1;
    for (int64_t step = 0; step < 4; step++) {
        tb.batch.step = (uint32_t)step;
        if (step == 1)
            lv_profile_reset(&prof);
        ck_assert_int_eq(lv_train_step(&t0, &part, 1, step, &s0), 0);
        if (step >= 1)
            lv_profile_step_begin(&prof);
        ck_assert_int_eq(lv_train_step(&t1, &part, 1, step, &s1), 0);
        if (step >= 1)
            lv_profile_step_end(&prof);
        ck_assert_msg(s0.loss == s1.loss, "step %lld: loss %.9g plain, %.9g wrapped",
                      (long long)step, s0.loss, s1.loss);
    }
    ck_assert(memcmp(m0.params.data, m1.params.data,
                     (size_t)m0.params.n_floats * sizeof(float)) == 0);
    const lv_video_geometry g = lv_config_geometry(&c, 0);
    const double fwd = lv_model_step_flops(&c, B) / 3.0;
    const double bwd = 2.0 * fwd - 2.0 * (double)(B * g.K * g.tok[0].voxel * c.width);
    const double text = lv_tower_flops(&m1.text, (double)(B * T), (double)(B * T * T));
    char why[256];
    const char *bad = profile_verdict(&prof, fwd, bwd, text, why, sizeof why);
    double families = 0.0;
    for (int f = 0; f < LV_PROF_FAMILIES; f++)
        families += lv_profile_family_seconds(&prof, f);
    printf("  profile of 3 tiny steps: %.3f ms/step, families %.3f ms, host between kernels "
           "%.1f%%; forward %.0f FLOPs (analytic %.0f), backward %.0f (%.0f), text %.0f (%.0f): "
           "%s\n", prof.wall_s / 3 * 1e3, families / 3 * 1e3, 100.0 * prof.host_s / prof.wall_s,
           lv_profile_flops(&prof, 0, -1) / 3, fwd, lv_profile_flops(&prof, 1, -1) / 3, bwd,
           lv_profile_flops(&prof, 0, LV_PROF_TEXT) / 3, text, bad ? bad : "passes");
    ck_assert_msg(!bad, "%s", bad);
    ck_assert_int_eq(prof.steps, 3);
    ck_assert_int_eq(prof.dropped_calls, 0);

    /* the test of the test: each tampering must be caught */
    static lv_profile x;
    int first_linear = -1, first_text = -1;
    for (int i = 0; i < prof.n_rows; i++) {
        if (first_linear < 0 && prof.rows[i].family == LV_PROF_MATMUL && prof.rows[i].flops > 0)
            first_linear = i;
        if (first_text < 0 && prof.rows[i].family == LV_PROF_TEXT && prof.rows[i].flops > 0)
            first_text = i;
    }
    ck_assert(first_linear >= 0 && first_text >= 0);
    x = prof;
    for (int i = 0; i < x.n_rows; i++)
        x.rows[i].flops *= 2.0;
    bad = profile_verdict(&x, fwd, bwd, text, why, sizeof why);
    printf("  every FLOP count doubled: %s\n", bad ? bad : "NOT CAUGHT");
    ck_assert(bad);
    x = prof;
    x.rows[first_linear].flops *= 2.0;
    bad = profile_verdict(&x, fwd, bwd, text, why, sizeof why);
    printf("  one matmul row's FLOPs doubled: %s\n", bad ? bad : "NOT CAUGHT");
    ck_assert(bad);
    x = prof;
    x.rows[first_linear].seconds += 0.05 * prof.wall_s;
    bad = profile_verdict(&x, fwd, bwd, text, why, sizeof why);
    printf("  5%% of the wall time booked twice: %s\n", bad ? bad : "NOT CAUGHT");
    ck_assert(bad);
    x = prof;
    x.rows[first_text].family = LV_PROF_MATMUL;
    bad = profile_verdict(&x, fwd, bwd, text, why, sizeof why);
    printf("  a text-tower row booked to the video matmuls: %s\n", bad ? bad : "NOT CAUGHT");
    ck_assert(bad);

    batch_free(&tb);
    lv_trainer_free(&t0);
    lv_trainer_free(&t1);
    lv_model_free(&m0);
    lv_model_free(&m1);
}
END_TEST

Suite *backend_suite(void)
{
    const test_row rows[] = {
        { "linear", test_linear, 6 },
        { "layernorm", test_layernorm, 4 },
        { "gelu", test_gelu, 4 },
        { "quick_gelu", test_quick_gelu, 4 },
        { "gelu_tanh", test_gelu_tanh, 4 },
        { "attention", test_attention, 17 },
        { "residual", test_residual, 3 },
        { "residual", test_gated_residual, 3 },
        { "pool", test_mean_pool, 2 },
        { "pool", test_segment_mean, 2 },
        { "pool", test_l2norm, 4 },
        { "embedding", test_embedding, 2 },
        { "embedding", test_pos_embed, 3 },
        { "tubelet", test_tubelet, 6 },
        { "infonce", test_infonce, 4 },
        { "cross_entropy", test_cross_entropy, 5 },
        { "elementwise", test_scale_zero, 3 },
        { "adamw", test_adamw, 3 },
        { "step", test_step_equivalence, 1 },
        { "profile", test_profile_wrapper, 1 },
    };
    return suite_from_rows("backend", rows, sizeof rows / sizeof rows[0], 120, 0);
}
