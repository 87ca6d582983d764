/* bf16 matmuls of the cpu backend (--precision bf16, blas_glue/bf16_dnnl.c): the gemm against a
 * double loop on the fp32 operands within the bf16 row, against the same loop on bf16-rounded
 * operands within fp32 accumulation, and differing from fp32 by about 2^-8 (so bf16 is really
 * used); the attention's products on bf16 (forward and backward) against ref's fp32 attention
 * within the bf16 attention rows, the same way; whole golden model cases on cpu-bf16 within the
 * bf16 column and outside the strict one; the tests of these tests; the refusals. Tests SKIP,
 * saying what to install, only where the build lacks oneDNN or the CPU AVX512-BF16. */
#include "bf16_dnnl.h"
#include "blas_glue.h"
#include "check_util.h"
#include "cpu_common.h"
#include "golden_bf16.h"
#include "suites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U_BF16 (1.0 / 256.0)          /* bf16's unit roundoff, 2^-8 */

static int bf16_or_skip(void)
{
    if (lv_bf16_ready() == 0)
        return 1;
    test_skip("bf16 tests: %s", lv_error());
    return 0;
}

/* ---- the gemm --------------------------------------------------------------------------------
 * One product C = alpha op(A) op(B) + beta C0 with padded leading dimensions; want is the double
 * loop on the fp32 operands, emu the same loop on bf16(alpha a) and bf16(b), the operands the
 * gemm is meant to multiply. Errors are in units of each entry's sqrt(sum_k (alpha a_k b_k)^2)
 * (+ 2^-16 abs(beta c), for the output's own rounding; the bf16 row's units): its error
 * sum_k a_k b_k (d_ak + d_bk), with d the operands' relative roundings, has sd <= u sqrt(2/3)
 * there for any K (about u sqrt(K) rms(a) rms(b) for large K). */

typedef struct {
    int trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0;
    double *want, *emu, *unit;        /* (M, N) */
} gemm_case;

/* want, emu and unit of g from its A, B and C0 */
static void gemm_case_expect(gemm_case *g)
{
    const int ta = g->trans_a, tb = g->trans_b;
    const int64_t M = g->M, N = g->N, K = g->K;
    const float alpha = g->alpha, beta = g->beta;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0, e = 0.0, sq = 0.0;
            for (int64_t k = 0; k < K; k++) {
                const float a = ta ? g->A[k * g->lda + i] : g->A[i * g->lda + k];
                const float b = tb ? g->B[j * g->ldb + k] : g->B[k * g->ldb + j];
                s += (double)a * b;
                sq += ((double)alpha * a * b) * ((double)alpha * a * b);
                e += (double)lv_bf16_round(alpha * a) * lv_bf16_round(b);
            }
            const double c = beta == 0.0f ? 0.0 : (double)beta * g->C0[i * g->ldc + j];
            g->want[i * N + j] = alpha * s + c;
            g->emu[i * N + j] = e + c;
            /* + the output's own fp32 rounding, 2^-24 |c| = u 2^-16 |c| where beta c dominates */
            g->unit[i * N + j] = sqrt(sq) + 0x1p-16 * fabs(c) > 0.0
                                     ? sqrt(sq) + 0x1p-16 * fabs(c) : 1.0;
        }
}

static gemm_case gemm_case_make(lv_rng *r, int ta, int tb, int64_t M, int64_t N, int64_t K,
                                float alpha, float beta)
{
    gemm_case g = { .trans_a = ta, .trans_b = tb, .M = M, .N = N, .K = K, .alpha = alpha,
                    .beta = beta, .lda = (ta ? M : K) + 3, .ldb = (tb ? K : N) + 1,
                    .ldc = N + 2 };
    g.A = rand_floats(r, (ta ? K : M) * g.lda, 1);
    g.B = rand_floats(r, (tb ? N : K) * g.ldb, 1);
    g.C0 = rand_floats(r, M * g.ldc, 1);
    g.want = malloc((size_t)(M * N) * sizeof *g.want);
    g.emu = malloc((size_t)(M * N) * sizeof *g.emu);
    g.unit = malloc((size_t)(M * N) * sizeof *g.unit);
    gemm_case_expect(&g);
    return g;
}

static void gemm_case_free(gemm_case *g)
{
    free(g->A), free(g->B), free(g->C0), free(g->want), free(g->emu), free(g->unit);
}

/* C (M, ldc) run by gemm from C0 (NaN where beta = 0: it must be overwritten) */
typedef void gemm_fn(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                     const float *, int64_t, float, float *, int64_t);

static float *gemm_case_run(const gemm_case *g, gemm_fn *gemm)
{
    float *C = malloc((size_t)(g->M * g->ldc) * sizeof *C);
    for (int64_t i = 0; i < g->M * g->ldc; i++)
        C[i] = g->beta == 0.0f ? NAN : g->C0[i];
    if (gemm)                                 /* NULL: C0 only, for a caller's own run */
        gemm(g->trans_a, g->trans_b, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta,
         C, g->ldc);
    return C;
}

/* What the checks measure of one result C: the bf16 row's margin against the fp32 product, the
 * fp32-accumulation margin against the bf16 emulation (the LV_CHECK_FAST sgemm row), and the rms
 * and largest error against the fp32 product in units of u sqrt(sum_k (a_k b_k)^2). */
typedef struct {
    double margin, emu_margin, rms_u, max_u;
} gemm_figures;

static gemm_figures gemm_figures_of(const gemm_case *g, const float *C)
{
    const lv_tolerance *bf = lv_tolerance_get("sgemm", "C", LV_CHECK_BF16);
    const lv_tolerance *fast = lv_tolerance_get("sgemm", "C", LV_CHECK_FAST);
    gemm_figures f = { 0 };
    double sq = 0.0;
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            const double unit = g->unit[i * g->N + j], got = C[i * g->ldc + j] / unit;
            const double want = g->want[i * g->N + j] / unit, emu = g->emu[i * g->N + j] / unit;
            const double err = fabs(got - want);
            f.margin = lv_margin_max(f.margin, lv_tolerance_margin(got, want, bf->abs, bf->rel));
            f.emu_margin = lv_margin_max(f.emu_margin,
                                         lv_tolerance_margin(got, emu, fast->abs, fast->rel));
            f.max_u = lv_margin_max(f.max_u, err / U_BF16);
            sq += err * err;
        }
    f.rms_u = sqrt(sq / (double)(g->M * g->N)) / U_BF16;
    return f;
}

/* bf16 really used: the error against the fp32 product is of bf16's size, not fp32's. Its rms
 * in these units is at most u sqrt(2/3) = 0.82 u for independent roundings (measured ~0.6 u);
 * fp32 operands give ~1e-4 u. Needs enough entries for an rms: M N >= 16. */
static int looks_bf16(const gemm_figures *f)
{
    return f->rms_u > 0.1 && f->rms_u < 1.0;
}

static const int64_t dims[] = { 1, 7, 33, 300 };

/* lv_gemm_bf16's contract through lv_gemm_bf16_jobs: one job (a forward's path) */
static void gemm_bf16_one_job(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                              const float *A, int64_t lda, const float *B, int64_t ldb,
                              float beta, float *C, int64_t ldc)
{
    const lv_gemm_job j = { ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc };
    lv_gemm_bf16_jobs(&j, 1);
}

/* (M, N, K) = shape s of dims^3, every transpose, alpha 1 and not, beta 0 and 1, by gemm */
static void gemm_shape_check(int s, gemm_fn *gemm, const char *name)
{
    const int64_t M = dims[s / 16], N = dims[(s / 4) % 4], K = dims[s % 4];
    lv_rng r = test_rng(2000 + (uint32_t)s);
    gemm_figures worst = { 0 };
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const float alpha = (ta + tb) % 2 ? 1.0f : 0.625f, beta = ta ? 0.0f : 1.0f;
            gemm_case g = gemm_case_make(&r, ta, tb, M, N, K, alpha, beta);
            float *C = gemm_case_run(&g, gemm);
            const gemm_figures f = gemm_figures_of(&g, C);
            ck_assert_msg(f.margin <= 1.0, "M=%lld N=%lld K=%lld trans_a=%d trans_b=%d: bf16 "
                          "gemm off the fp32 product by %.3f u", (long long)M, (long long)N,
                          (long long)K, ta, tb, f.max_u);
            ck_assert_msg(f.emu_margin <= 1.0, "M=%lld N=%lld K=%lld trans_a=%d trans_b=%d: "
                          "not the bf16-rounded product (margin %.3g)", (long long)M,
                          (long long)N, (long long)K, ta, tb, f.emu_margin);
            if (M * N >= 16)
                ck_assert_msg(looks_bf16(&f), "M=%lld N=%lld K=%lld trans_a=%d trans_b=%d: rms "
                              "error %.3g u, not bf16's size", (long long)M, (long long)N,
                              (long long)K, ta, tb, f.rms_u);
            for (int64_t i = 0; i < M; i++)        /* C's padding columns are never written */
                for (int64_t j = N; j < g.ldc; j++)
                    ck_assert(isnan(C[i * g.ldc + j]) || C[i * g.ldc + j] == g.C0[i * g.ldc + j]);
            worst.margin = lv_margin_max(worst.margin, f.margin);
            worst.emu_margin = lv_margin_max(worst.emu_margin, f.emu_margin);
            worst.max_u = lv_margin_max(worst.max_u, f.max_u);
            worst.rms_u = lv_margin_max(worst.rms_u, M * N >= 16 ? f.rms_u : 0.0);
            free(C);
            gemm_case_free(&g);
        }
    printf("%s M=%lld N=%lld K=%lld, 4 transposes: vs fp32 max %.3f u (margin %.3f), "
           "rms up to %.3f u; vs the bf16-rounded product margin %.3f\n", name, (long long)M,
           (long long)N, (long long)K, worst.max_u, worst.margin, worst.rms_u, worst.emu_margin);
}

START_TEST(test_gemm_bf16_vs_ref)
{
    if (!bf16_or_skip())
        return;
    printf("%s\n", lv_bf16_backend());
    for (int s = 0; s < 64; s++)
        gemm_shape_check(s, lv_gemm_bf16, "bf16 gemm");
}
END_TEST

/* The jobs of a linear kernel on 2 threads (lv_gemm_bf16_jobs): one job split by rows, and a
 * backward's pair, dinp = dout W and dW = dout^T inp, sharing dout (rounded once) and run a
 * thread each; every shape of the gemm test, then the pair at shapes that split, each result
 * within the same bounds as lv_gemm_bf16's. */
START_TEST(test_gemm_bf16_jobs)
{
    if (!bf16_or_skip())
        return;
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
    omp_set_num_threads(2);
#endif
    for (int s = 0; s < 64; s++)
        gemm_shape_check(s, gemm_bf16_one_job, "bf16 gemm, one job");
    static const int64_t pair[][3] = { { 300, 33, 130 }, { 7, 300, 33 }, { 130, 64, 300 } };
    lv_rng r = test_rng(2050);
    for (int p = 0; p < 3; p++) {
        const int64_t N = pair[p][0], C = pair[p][1], OC = pair[p][2];
        /* dinp (N, C) = dout (N, OC) W (OC, C) + dinp; dW (OC, C) = dout^T inp (N, C) + dW */
        gemm_case dinp = gemm_case_make(&r, 0, 0, N, C, OC, 1.0f, 1.0f);
        gemm_case dw = gemm_case_make(&r, 1, 0, OC, C, N, 1.0f, 1.0f);
        ck_assert_int_eq(dinp.lda, dw.lda);
        memcpy(dw.A, dinp.A, (size_t)(N * dinp.lda) * sizeof *dw.A);     /* the same dout */
        gemm_case_expect(&dw);
        float *c0 = gemm_case_run(&dinp, NULL), *c1 = gemm_case_run(&dw, NULL);
        const lv_gemm_job jobs[2] = {
            { 0, 0, N, C, OC, 1.0f, dinp.A, dinp.lda, dinp.B, dinp.ldb, 1.0f, c0, dinp.ldc },
            { 1, 0, OC, C, N, 1.0f, dw.A, dw.lda, dw.B, dw.ldb, 1.0f, c1, dw.ldc },
        };
        lv_gemm_bf16_jobs(jobs, 2);
        const gemm_figures f0 = gemm_figures_of(&dinp, c0), f1 = gemm_figures_of(&dw, c1);
        printf("bf16 jobs, a backward pair N=%lld C=%lld OC=%lld: dinp margin %.3f (vs the "
               "bf16-rounded product %.3f, rms %.3f u), dW margin %.3f (%.3f, rms %.3f u)\n",
               (long long)N, (long long)C, (long long)OC, f0.margin, f0.emu_margin, f0.rms_u,
               f1.margin, f1.emu_margin, f1.rms_u);
        ck_assert(f0.margin <= 1.0 && f0.emu_margin <= 1.0 && looks_bf16(&f0));
        ck_assert(f1.margin <= 1.0 && f1.emu_margin <= 1.0 && looks_bf16(&f1));
        free(c0), free(c1);
        gemm_case_free(&dinp), gemm_case_free(&dw);
    }
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
}
END_TEST

/* The tests of the test above: an error just past the bf16 row is caught; fp32 operands (the
 * gemm silently not using bf16) fail the "about 2^-8" check and the emulation check; and the
 * emulation check tells bf16 rounding to nearest even from truncation. */
START_TEST(test_gemm_checks_catch)
{
    if (!bf16_or_skip())
        return;
    lv_rng r = test_rng(2100);
    gemm_case g = gemm_case_make(&r, 0, 1, 64, 48, 300, 1.0f, 1.0f);
    float *C = gemm_case_run(&g, lv_gemm_bf16);
    const gemm_figures ok = gemm_figures_of(&g, C);
    ck_assert(ok.margin <= 1.0 && ok.emu_margin <= 1.0 && looks_bf16(&ok));

    /* one entry moved to 1.01 times the tolerance from the fp32 product */
    const double tol = lv_tolerance_get("sgemm", "C", LV_CHECK_BF16)->abs * g.unit[5 * g.N + 7];
    const float keep = C[5 * g.ldc + 7];
    C[5 * g.ldc + 7] = (float)(g.want[5 * g.N + 7] + 1.01 * tol);
    const gemm_figures past = gemm_figures_of(&g, C);
    C[5 * g.ldc + 7] = keep;
    printf("an error of 1.01 x the bf16 tolerance (%.3g): margin %.3f\n", tol, past.margin);
    ck_assert(past.margin > 1.0);

    /* fp32 operands: lv_sgemm passes the bf16 row but not the bf16-is-used checks */
    float *C32 = gemm_case_run(&g, lv_sgemm);
    const gemm_figures f32 = gemm_figures_of(&g, C32);
    printf("fp32 operands: rms %.2e u vs fp32 (bf16: %.3f u), emulation margin %.3g\n",
           f32.rms_u, ok.rms_u, f32.emu_margin);
    ck_assert(f32.margin <= 1.0 && !looks_bf16(&f32) && f32.emu_margin > 1.0);

    /* truncated operands (rounding toward zero instead of to nearest) miss the emulation */
    float *At = malloc((size_t)(g.M * g.lda) * sizeof *At);
    float *Bt = malloc((size_t)(g.N * g.ldb) * sizeof *Bt);
    for (int64_t i = 0; i < g.M * g.lda; i++) {
        uint32_t u;
        memcpy(&u, &g.A[i], sizeof u);
        u &= 0xffff0000u;
        memcpy(&At[i], &u, sizeof u);
    }
    for (int64_t i = 0; i < g.N * g.ldb; i++) {
        uint32_t u;
        memcpy(&u, &g.B[i], sizeof u);
        u &= 0xffff0000u;
        memcpy(&Bt[i], &u, sizeof u);
    }
    float *Ct = malloc((size_t)(g.M * g.ldc) * sizeof *Ct);
    memcpy(Ct, g.C0, (size_t)(g.M * g.ldc) * sizeof *Ct);
    lv_sgemm(0, 1, g.M, g.N, g.K, 1.0f, At, g.lda, Bt, g.ldb, 1.0f, Ct, g.ldc);
    const gemm_figures trunc = gemm_figures_of(&g, Ct);
    printf("truncated operands: emulation margin %.3g (round to nearest: %.3f)\n",
           trunc.emu_margin, ok.emu_margin);
    ck_assert(trunc.emu_margin > 1.0);
    free(At), free(Bt), free(Ct), free(C), free(C32);
    gemm_case_free(&g);
}
END_TEST

/* ---- attention ---------------------------------------------------------------------------------
 * cpu-bf16's attention (every tile product on bf16 operands, softmax and accumulators fp32)
 * against ref's fp32 attention: forward out, backward dq, dk, dv within the bf16 column's
 * attention rows (plain units, as golden --check applies them; their abs is set by peaked scores)
 * and, these cases' scores being O(1), within ATT_MAX_U u of each tensor's largest entry.
 *
 * Why ATT_MAX_U = 4: each output is a sum of terms a_j b_j with both operands rounded (sd
 * u sqrt(2/3) of the entry's sqrt(sum_j (a_j b_j)^2)); out and dv carry the score error too,
 * scale sum_k q_k k_k (d_q + d_k), sd u sqrt(2/3) scale sqrt(sum_k (q_k k_k)^2) ~ 0.8 u absolute
 * for N(0, 1) q and k, through P; dq and dk that and dP's through dS: sd up to ~1.4 u of an
 * entry's scale, which the tensor's largest entry bounds, so 4 u is ~3 sd. Measured up to 1.75 u
 * (dv, cross attention), rms 0.04-0.19 u. */
#define ATT_MAX_U 4.0

/* The attention of one case: packed qkv rows (ldq = 3 D, the self-attention layout) or separate
 * key rows for cross attention; dout N(0, 1). */
typedef struct {
    lv_attn_groups g;
    int64_t H, D, ldq, ldkv, nq_rows, nk_rows;
    float *q, *k, *v, *dout;
    int64_t *qs, *ks, *qi, *ki;
    uint8_t *valid;
} att_case;

/* kind 0: joint self-attention, one group of T tokens; 1: factorized, a group per spatial position
 * (scattered rows, P positions x T steps); 2: cross, T queries per sample -> 100 keys of which
 * about a third padding, 3 samples, the last all padding; 3: causal self-attention of T tokens */
static att_case att_case_make(lv_rng *r, int kind, int64_t T, int64_t H, int64_t D)
{
    att_case c = { .H = H, .D = D };
    const int64_t P = kind == 1 ? 16 : 1, S = kind == 2 ? 3 : 1, nk = kind == 2 ? 100 : T;
    const int64_t G = kind == 1 ? P : S;
    c.nq_rows = P * S * T;
    c.nk_rows = kind == 2 ? S * nk : c.nq_rows;
    c.qs = calloc((size_t)G + 1, sizeof *c.qs), c.ks = calloc((size_t)G + 1, sizeof *c.ks);
    for (int64_t gi = 0; gi <= G; gi++) {
        c.qs[gi] = gi * (c.nq_rows / G);
        c.ks[gi] = gi * (c.nk_rows / G);
    }
    c.g = (lv_attn_groups){ .n_groups = G, .q_start = c.qs, .k_start = c.ks, .causal = kind == 3 };
    if (kind == 1) {                      /* group p: rows t P + p, t = 0 .. T-1 */
        c.qi = malloc((size_t)c.nq_rows * sizeof *c.qi);
        for (int64_t p = 0, m = 0; p < P; p++)
            for (int64_t t = 0; t < T; t++, m++)
                c.qi[m] = t * P + p;
        c.g.q_index = c.g.k_index = c.qi;
    }
    if (kind == 2) {
        c.valid = malloc((size_t)c.nk_rows);
        for (int64_t i = 0; i < c.nk_rows; i++)
            c.valid[i] = i < (S - 1) * nk && (i % nk == 0 || lv_rng_below(r, 3) != 0);
        c.g.k_valid = c.valid;
    }
    c.ldq = kind == 2 ? D : 3 * D;
    c.ldkv = kind == 2 ? 2 * D : 3 * D;
    float *qkv = rand_floats(r, c.nq_rows * c.ldq, 1.0);
    float *kv = kind == 2 ? rand_floats(r, c.nk_rows * c.ldkv, 1.0) : NULL;
    c.q = qkv;
    c.k = kv ? kv : qkv + D;
    c.v = kv ? kv + D : qkv + 2 * D;
    c.dout = rand_floats(r, c.nq_rows * D, 1.0);
    return c;
}

static void att_case_free(att_case *c)
{
    free(c->q), free(c->dout), free(c->qs), free(c->ks), free(c->qi), free(c->valid);
    if (c->k != c->q + c->D)
        free(c->k);
}

/* out (nq_rows, D), dq (nq_rows, ldq), dk, dv (nk_rows, ldkv) of backend be: fresh buffers */
typedef struct {
    float *t[4];
} att_result;

static const char *const att_names[] = { "out", "dq", "dk", "dv" };

static att_result att_run(const att_case *c, const lv_backend *be)
{
    att_result res;
    const int64_t n[4] = { c->nq_rows * c->D, c->nq_rows * c->ldq, c->nk_rows * c->ldkv,
                           c->nk_rows * c->ldkv };
    for (int i = 0; i < 4; i++) {
        res.t[i] = calloc((size_t)n[i], sizeof *res.t[i]);
        ck_assert_ptr_nonnull(res.t[i]);
    }
    const int64_t nc = lv_backend_attention_cache(be, &c->g, c->H);
    float *cache = malloc((size_t)(nc ? nc : 1) * sizeof *cache);
    be->attention_forward(res.t[0], cache, c->q, c->k, c->v, &c->g, c->ldq, c->ldkv, c->H, c->D);
    be->attention_backward(res.t[1], res.t[2], res.t[3], c->dout, res.t[0], cache, c->q, c->k,
                           c->v, &c->g, c->ldq, c->ldkv, c->H, c->D);
    free(cache);
    return res;
}

static void att_result_free(att_result *res)
{
    for (int i = 0; i < 4; i++)
        free(res->t[i]);
}

/* Tensor i of got against want: the margin in the bf16 attention row, and the largest and rms error
 * in units of u times want's largest entry (max_u within ATT_MAX_U). Only the head slices are
 * compared (dq, dk, dv are written in their D columns of the ldq / ldkv rows; the rest stays 0 in
 * both). */
typedef struct {
    double margin, max_u, rms_u;
} att_figures;

static int64_t att_rows(const att_case *c, int i)
{
    return i == 0 || i == 1 ? c->nq_rows : c->nk_rows;
}

static int64_t att_ld(const att_case *c, int i)
{
    return i == 0 ? c->D : i == 1 ? c->ldq : c->ldkv;
}

/* tensor i's largest entry (1 where all are 0) */
static double att_scale(const att_case *c, int i, const float *want)
{
    double scale = 0.0;
    for (int64_t r = 0; r < att_rows(c, i); r++)
        for (int64_t d = 0; d < c->D; d++)
            scale = fmax(scale, fabs(want[r * att_ld(c, i) + d]));
    return scale > 0.0 ? scale : 1.0;
}

static att_figures att_figures_of(const att_case *c, int i, const float *got, const float *want)
{
    const lv_tolerance *tol = lv_tolerance_get("attention", att_names[i], LV_CHECK_BF16);
    const int64_t rows = att_rows(c, i), ld = att_ld(c, i);
    const double scale = att_scale(c, i, want);
    double sq = 0.0;
    att_figures f = { 0 };
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < c->D; d++) {
            const double g = got[r * ld + d] / scale, w = want[r * ld + d] / scale;
            f.margin = lv_margin_max(f.margin, lv_tolerance_margin(got[r * ld + d],
                                                                   want[r * ld + d], tol->abs,
                                                                   tol->rel));
            f.max_u = lv_margin_max(f.max_u, fabs(g - w) / U_BF16);
            sq += (g - w) * (g - w);
        }
    f.rms_u = sqrt(sq / (double)(rows * c->D)) / U_BF16;
    return f;
}

static const lv_backend *bf16_backend(void)
{
    const lv_backend *be = lv_backend_find("cpu-bf16");
    ck_assert_msg(be != NULL, "%s", lv_error());
    return be;
}

/* bf16 really used: the rms error is of bf16's size. Measured 0.04-0.19 u in these units (the
 * largest entry is several times the typical one); fp32 products give ~1e-5 u. */
static int att_looks_bf16(const att_figures *f)
{
    return f->rms_u > 1e-2 && f->rms_u < 1.0;
}

static const struct {
    const char *label;
    int kind;
    int64_t T, H, D;
} att_cases[] = {
    { "joint, 300 tokens (5 query x 2 key tiles), 2 heads of 64", 0, 300, 2, 128 },
    { "factorized, 16 positions x 8 steps, 3 heads of 16", 1, 8, 3, 48 },
    { "cross, 70 queries -> 100 padded keys x 3 samples, last all padding", 2, 70, 2, 64 },
    { "causal, 260 tokens, 2 heads of 64", 3, 260, 2, 128 },
};

START_TEST(test_attention_bf16_vs_ref)
{
    if (!bf16_or_skip())
        return;
    lv_rng r = test_rng(2200 + (uint32_t)_i);
    att_case c = att_case_make(&r, att_cases[_i].kind, att_cases[_i].T, att_cases[_i].H,
                               att_cases[_i].D);
    att_result want = att_run(&c, &lv_backend_ref), got = att_run(&c, bf16_backend());
    printf("bf16 attention, %s:\n", att_cases[_i].label);
    for (int i = 0; i < 4; i++) {
        const att_figures f = att_figures_of(&c, i, got.t[i], want.t[i]);
        printf("  %-3s vs fp32 ref: max %.3f u, rms %.4f u (x its largest entry), row margin "
               "%.3f\n",
               att_names[i], f.max_u, f.rms_u, f.margin);
        ck_assert_msg(f.margin <= 1.0 && f.max_u <= ATT_MAX_U, "%s: bf16 attention off fp32 by "
                      "%.3f u (margin %.3f)", att_names[i], f.max_u, f.margin);
        ck_assert_msg(att_looks_bf16(&f), "%s: rms error %.3g u, not bf16's size", att_names[i],
                      f.rms_u);
    }
    att_result_free(&want), att_result_free(&got);
    att_case_free(&c);
}
END_TEST

/* The tests of the test above: an error of 1.01 x the row's tolerance in one entry is caught, and
 * so is one of 1.01 ATT_MAX_U u of the largest entry; the fp32 attention (cpu-bf16 silently running
 * it) passes the tolerance but not the "bf16 used" check. */
START_TEST(test_attention_checks_catch)
{
    if (!bf16_or_skip())
        return;
    lv_rng r = test_rng(2300);
    att_case c = att_case_make(&r, 0, 300, 2, 128);
    att_result want = att_run(&c, &lv_backend_ref), got = att_run(&c, bf16_backend());
    att_result f32 = att_run(&c, &lv_backend_cpu);
    for (int i = 0; i < 4; i++) {
        const att_figures ok = att_figures_of(&c, i, got.t[i], want.t[i]);
        ck_assert(ok.margin <= 1.0 && ok.max_u <= ATT_MAX_U && att_looks_bf16(&ok));
        const double scale = att_scale(&c, i, want.t[i]);
        const int64_t at = 7 * att_ld(&c, i) + 5;
        const double tol = lv_tolerance_get("attention", att_names[i], LV_CHECK_BF16)->abs;
        const float keep = got.t[i][at];
        got.t[i][at] = (float)(want.t[i][at] + 1.01 * tol);
        const att_figures past = att_figures_of(&c, i, got.t[i], want.t[i]);
        got.t[i][at] = (float)(want.t[i][at] + 1.01 * ATT_MAX_U * U_BF16 * scale);
        const att_figures past_u = att_figures_of(&c, i, got.t[i], want.t[i]);
        got.t[i][at] = keep;
        const att_figures fp = att_figures_of(&c, i, f32.t[i], want.t[i]);
        printf("%s: an error of 1.01 x the bf16 row: margin %.3f; of 1.01 x %.0f u: %.3f u; fp32 "
               "attention: rms %.2e u (bf16: %.4f u), margin %.3f\n", att_names[i], past.margin,
               ATT_MAX_U, past_u.max_u, fp.rms_u, ok.rms_u, fp.margin);
        ck_assert(past.margin > 1.0 && past_u.max_u > ATT_MAX_U);
        ck_assert(fp.margin <= 1.0 && !att_looks_bf16(&fp));
    }
    att_result_free(&want), att_result_free(&got), att_result_free(&f32);
    att_case_free(&c);
}
END_TEST

/* ---- whole training steps ----------------------------------------------------------------- */

/* Case i run on ref (the fp32 golden values) and on cpu-bf16, every output compared in the bf16
 * column and in the strict one: *bf16 and *strict, the worst margins. The bf16 column has rows
 * for every float output of a model case that a matmul feeds, after.* included (no widening);
 * the strict after.* rows need the whole file's widening and are left out of *strict. */
static void golden_case_margins(int i, double *bf16, double *strict, int64_t *tensors)
{
    lv_golden_set in = { 0 }, want = { 0 }, got = { 0 };
    ck_assert_msg(lv_golden_make(i, "check_bf16", &in) == 0, "%s", lv_error());
    ck_assert_msg(lv_golden_run(&in, &want, &lv_backend_ref) == 0, "%s", lv_error());
    ck_assert_msg(lv_golden_run(&in, &got, bf16_backend()) == 0, "%s", lv_error());
    ck_assert_int_eq(got.n, want.n);
    *bf16 = *strict = 0.0;
    for (int64_t k = 0; k < want.n; k++) {
        const lv_golden_tensor *w = &want.t[k], *g = lv_golden_find(&got, w->name);
        ck_assert_msg(g != NULL, "cpu-bf16 did not produce %s", w->name);
        double abs, rel, scale;
        int widen;
        ck_assert(lv_golden_tolerance_bf16(&in, w, &abs, &rel, &widen) != NULL);
        const int after = !strncmp(w->name, "after.", 6);
        ck_assert_msg(!(after && widen), "%s: no bf16 row", w->name);
        *bf16 = lv_margin_max(*bf16, lv_golden_compare(g, w, abs, rel).margin);
        ck_assert(lv_golden_tolerance(&in, w, 0, &abs, &rel, &scale) != NULL);
        if (!after)
            *strict = lv_margin_max(*strict, lv_golden_compare(g, w, abs, rel).margin);
    }
    *tensors = want.n;
    lv_golden_set_free(&in), lv_golden_set_free(&want), lv_golden_set_free(&got);
}

static int case_index(const char *path)
{
    for (int i = 0; i < lv_golden_case_count(); i++)
        if (!strcmp(lv_golden_case_path(i), path))
            return i;
    ck_abort_msg("no golden case %s", path);
    return -1;
}

/* A training step (forward, backward, 3 AdamW steps) of model variants on cpu-bf16 within the
 * bf16 column of the tolerance table; and outside the strict column somewhere (a cpu-bf16 that
 * ran its matmuls in fp32 would pass the strict column, as cpu does). */
static const char *const step_cases[] = { "models/joint", "models/factorized", "models/v2t_lm" };

START_TEST(test_golden_step_bf16)
{
    if (!bf16_or_skip())
        return;
    double bf16, strict;
    int64_t tensors;
    golden_case_margins(case_index(step_cases[_i]), &bf16, &strict, &tensors);
    printf("golden %s on cpu-bf16: %lld tensors, worst margin %.3f in the bf16 column, %.3g in "
           "the strict column (fp32 backends pass it)\n", step_cases[_i], (long long)tensors,
           bf16, strict);
    ck_assert(bf16 <= 1.0);
    ck_assert_msg(strict > 1.0, "cpu-bf16 matches fp32 within the strict rows: bf16 not used?");
}
END_TEST

/* ---- selection and refusals ---------------------------------------------------------------- */

START_TEST(test_precision_selects)
{
    lv_backend_set_precision("fp16");
    ck_assert(lv_backend_find("cpu") == NULL);
    printf("--precision fp16: %s\n", lv_error());
    ck_assert(strstr(lv_error(), "give fp32") != NULL);
    lv_backend_set_precision("bf16");
    ck_assert(lv_backend_find("ref") == NULL);
    printf("--precision bf16 --backend ref: %s\n", lv_error());
    ck_assert(strstr(lv_error(), "cpu backend") != NULL);
    const lv_backend *be = lv_backend_find("cpu");
    if (!be) {
        printf("--precision bf16 --backend cpu: %s\n", lv_error());
        ck_assert(strstr(lv_error(), "libdnnl-dev") || strstr(lv_error(), "AVX512-BF16"));
        lv_backend_set_precision("fp32");
        bf16_or_skip();
        return;
    }
    ck_assert(be == lv_backend_cpu_bf16() && !strcmp(be->name, "cpu-bf16"));
    ck_assert(be->linear_forward != lv_backend_cpu.linear_forward &&
              be->attention_forward == lv_cpu_attention_forward_bf16 &&
              be->attention_backward == lv_cpu_attention_backward_bf16 &&
              lv_backend_cpu.attention_forward != lv_cpu_attention_forward_bf16);
    lv_backend_set_precision("fp32");
    ck_assert(lv_backend_find("cpu") == &lv_backend_cpu);
    ck_assert(lv_backend_find("cpu-bf16") == be);
    printf("--precision bf16 selects %s (%s); fp32 selects cpu\n", be->name, lv_bf16_backend());
}
END_TEST

/* oneDNN capped below AVX512-BF16 (what a CPU without it looks like to the library) is refused
 * with the reason; in a fresh process, before oneDNN first ran (Check forks each test). */
START_TEST(test_refused_without_bf16_isa)
{
    const char *fork = getenv("CK_FORK");
    if (fork && !strcmp(fork, "no")) {
        printf("CK_FORK=no: oneDNN's ISA is fixed once per process, not tested here\n");
        return;
    }
    setenv("DNNL_MAX_CPU_ISA", "AVX512_CORE", 1);
    const int rc = lv_bf16_ready();
    printf("DNNL_MAX_CPU_ISA=AVX512_CORE: %s\n", rc ? lv_error() : "(accepted)");
    ck_assert(rc < 0);
    ck_assert(strstr(lv_error(), "libdnnl-dev") || strstr(lv_error(), "DNNL_MAX_CPU_ISA") ||
              strstr(lv_error(), "AVX512-BF16"));
}
END_TEST

Suite *bf16_suite(void)
{
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gemm_bf16_vs_ref);
    tcase_add_test(tc, test_gemm_bf16_jobs);
    tcase_add_test(tc, test_gemm_checks_catch);
    suite_add_tcase(s, tc);
    tc = tcase_create("attention");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_attention_bf16_vs_ref, 0,
                        (int)(sizeof att_cases / sizeof att_cases[0]));
    tcase_add_test(tc, test_attention_checks_catch);
    suite_add_tcase(s, tc);
    tc = tcase_create("step");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_golden_step_bf16, 0,
                        (int)(sizeof step_cases / sizeof step_cases[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("select");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_precision_selects);
    tcase_add_test(tc, test_refused_without_bf16_isa);
    suite_add_tcase(s, tc);
    return s;
}
