/* The model-level kernels: symmetric InfoNCE, the cross-entropy of a language model and the
 * per-frame segment mean (hand cases, fp64 references and finite differences, as in
 * check_kernels.c), and token masking: exact counts, order, reproducibility for any thread
 * count, uniformity of the kept subsets, bad arguments. */
#include "check_util.h"
#include "error.h"
#include "kernels.h"
#include "mask.h"
#include "ref64.h"
#include "suites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define FD_MAX 96       /* entries probed per tensor: enough to hit every code path */

/* ---- InfoNCE -------------------------------------------------------------------------------- */

START_TEST(test_infonce_hand)
{
    /* v = identity, t = (1, 0), (0.6, 0.8), scale e^(ln 2) = 2: logits [[2, 1.2], [0, 1.6]].
     * video -> text, rows:    log(1 + e^-0.8) = 0.371101, log(1 + e^-1.6) = 0.183901
     * text -> video, columns: log(1 + e^-2)   = 0.126928, log(1 + e^-0.4) = 0.513015
     * loss = ((0.371101 + 0.183901) / 2 + (0.126928 + 0.513015) / 2) / 2 = 0.298736 */
    const float v[2 * 2] = { 1, 0, 0, 1 }, t[2 * 2] = { 1, 0, 0.6f, 0.8f };
    const float log_scale = (float)log(2.0);
    float loss, logits[2 * 2];
    lv_infonce_forward(&loss, logits, v, t, &log_scale, 2, 2);
    expect_floats("infonce logits (B=2, scale 2)", logits, (double[]){ 2, 1.2, 0, 1.6 }, 4, 1e-6);
    expect_floats("infonce loss (B=2, scale 2)", &loss, (double[]){ 0.2987361675697604 }, 1, 1e-6);
}
END_TEST

typedef struct {
    double *v, *t, *logits;
    double log_scale, dloss;
    int64_t B, E;
} infonce_ctx;

static double infonce_objective(void *p)
{
    infonce_ctx *c = p;
    double loss;
    r64_infonce(&loss, c->logits, c->v, c->t, c->log_scale, c->B, c->E);
    return c->dloss * loss;
}

typedef struct {
    float loss, dlog_scale;     /* the kernel's loss and its dlog_scale (prior removed) */
    float *v, *t, *logits;      /* the inputs and the forward's logits, malloc'd */
} infonce_result;

/* Forward vs fp64, backward vs finite differences over v, t and log_scale, NULL gradients. */
static infonce_result infonce_case(lv_rng *r, int64_t B, int64_t E, float log_scale)
{
    infonce_result res = { .v = rand_unit_rows(r, B, E), .t = rand_unit_rows(r, B, E),
                           .logits = zeros(B * B) };
    const float dloss = (float)lv_rng_normal(r);
    printf("infonce B=%lld E=%lld log_scale %.4f\n", (long long)B, (long long)E, log_scale);
    infonce_ctx c = { to_double(res.v, B * E), to_double(res.t, B * E),
                      calloc(B * B, sizeof(double)), log_scale, dloss, B, E };
    lv_infonce_forward(&res.loss, res.logits, res.v, res.t, &log_scale, B, E);
    double loss64;
    r64_infonce(&loss64, c.logits, c.v, c.t, c.log_scale, B, E);
    compare_f32_f64("infonce", "logits", LV_CHECK_F64, res.logits, c.logits, B * B);
    compare_f32_f64("infonce", "loss", LV_CHECK_F64, &res.loss, &loss64, 1);
    grad_buf dv = grad_new(r, B * E), dt = grad_new(r, B * E), ds = grad_new(r, 1);
    lv_infonce_backward(dv.grad, dt.grad, ds.grad, &dloss, res.logits, res.v, res.t, &log_scale,
                        B, E);
    fd_tensor ft[] = { { "dv", c.v, grad_delta(&dv), B * E, 0, 0 },
                       { "dt", c.t, grad_delta(&dt), B * E, 0, 0 },
                       { "dlog_scale", &c.log_scale, grad_delta(&ds), 1, 0, 0 } };
    fd_check("infonce", ft, 3, infonce_objective, &c, FD_MAX);
    res.dlog_scale = ds.grad[0];
    /* NULL gradients are skipped: the frozen log-scale or a tower without gradient */
    lv_infonce_backward(NULL, NULL, NULL, &dloss, res.logits, res.v, res.t, &log_scale, B, E);
    grad_free(&dv), grad_free(&dt), grad_free(&ds);
    free(c.v), free(c.t), free(c.logits);
    return res;
}

static void infonce_result_free(infonce_result *res)
{
    free(res->v), free(res->t), free(res->logits);
}

START_TEST(test_infonce_random)
{
    const int64_t B = (int64_t[]){ 1, 3, 8 }[_i / 2], E = (int64_t[]){ 4, 16 }[_i % 2];
    lv_rng r = test_rng(900 + _i);
    /* around CLIP's initial log(1 / 0.07) */
    const float log_scale = (float)(log(1.0 / 0.07) + 0.3 * lv_rng_normal(&r));
    infonce_result res = infonce_case(&r, B, E, log_scale);
    if (B == 1) {   /* one pair, no negatives: each cross-entropy is lse(x) - x = 0 exactly */
        ck_assert_float_eq(res.loss, 0.0f);
        printf("  B=1: loss %g (want exactly 0)\n", res.loss);
    }
    infonce_result_free(&res);
}
END_TEST

START_TEST(test_infonce_clamped)
{
    /* log_scale = log 200: the scale is clamped to 100, where it is flat in log_scale */
    const int64_t B = 5, E = 8;
    lv_rng r = test_rng(910);
    infonce_result res = infonce_case(&r, B, E, (float)log(200.0));
    ck_assert_float_eq(res.dlog_scale, 0.0f);
    double *v = to_double(res.v, B * E), *t = to_double(res.t, B * E);
    double *logits = calloc(B * B, sizeof *logits), loss100, dot00 = 0.0;
    r64_infonce(&loss100, logits, v, t, log(100.0), B, E);
    for (int64_t e = 0; e < E; e++)
        dot00 += v[e] * t[e];
    compare_f32_f64("infonce", "loss", LV_CHECK_F64, &res.loss, &loss100, 1);
    compare_f32_f64("infonce", "logits", LV_CHECK_F64, res.logits, logits, B * B);
    ck_assert(fabs(res.logits[0] / dot00 - 100.0) < 1e-4);
    printf("  clamped: logits[0] / (v0 . t0) = %.6f (want 100), loss %.6f = loss at scale 100 "
           "%.6f, dlog_scale %g (want exactly 0)\n", res.logits[0] / dot00, res.loss, loss100,
           res.dlog_scale);
    free(v), free(t), free(logits);
    infonce_result_free(&res);
}
END_TEST

/* ---- cross-entropy with ignored targets ------------------------------------------------------ */

/* Three rows of 3 classes, dloss = 1:
 *   row 0: logits 0, 0, 0, target 2: lse = log 3, term log 3, gradient (1/3, 1/3, 1/3 - 1) / 2
 *   row 1: logits 1000, 0, -1000, target 0: lse = 1000 (exp(1000) overflows double unless the
 *          maximum is subtracted), term ~ e^-1000 = 0, gradient 0 (p = (1, 0, 0), target 0)
 *   row 2: logits 1, 2, 3, ignored (-1): lse = 3 + log(1 + e^-1 + e^-2), no loss, no gradient
 * loss = (log 3 + 0) / 2 over the 2 counted rows; then every row ignored: loss 0, nothing. */
START_TEST(test_cross_entropy_hand)
{
    const float x[3 * 3] = { 0, 0, 0, 1000, 0, -1000, 1, 2, 3 };
    const int32_t t[3] = { 2, 0, -1 }, none[3] = { -1, -7, -100 };
    float loss, lse[3], dx[3 * 3], dloss = 1;
    for (int i = 0; i < 9; i++)
        dx[i] = 7;
    lv_cross_entropy_forward(&loss, lse, x, t, 3, 3);
    expect_floats("cross_entropy loss (2 counted rows of 3)", &loss,
                  (double[]){ 0.5493061443340549 }, 1, 1e-7);
    expect_floats("cross_entropy lse (incl. a row of +-1000 and an ignored row)", lse,
                  (double[]){ 1.0986122886681098, 1000, 3.4076059644443806 }, 3, 1e-6);
    lv_cross_entropy_backward(dx, &dloss, x, lse, t, 3, 3);
    const double third = 1.0 / 6.0;
    expect_floats("cross_entropy dlogits (+= onto 7; the ignored row untouched)", dx,
                  (double[]){ 7 + third, 7 + third, 7 - 2 * third, 7, 7, 7, 7, 7, 7 }, 9, 1e-6);
    float before[3 * 3];
    memcpy(before, dx, sizeof before);
    lv_cross_entropy_forward(&loss, lse, x, none, 3, 3);
    lv_cross_entropy_backward(dx, &dloss, x, lse, none, 3, 3);
    ck_assert_float_eq(loss, 0.0f);
    ck_assert(memcmp(before, dx, sizeof before) == 0);
    printf("  every row ignored (-1, -7, -100): loss %g (want exactly 0, not 0/0), dlogits "
           "untouched\n", loss);
}
END_TEST

typedef struct {
    double *logits, *lse;
    const int32_t *targets;
    double dloss;
    int64_t N, V;
} ce_ctx;

static double ce_objective(void *p)
{
    ce_ctx *c = p;
    double loss;
    r64_cross_entropy(&loss, c->lse, c->logits, c->targets, c->N, c->V);
    return c->dloss * loss;
}

/* Forward (loss and lse) vs fp64, backward vs central differences: logits N(0, scale^2) plus
 * shift, targets uniform with about one row in four ignored (-1, or -100 as PyTorch's
 * ignore_index). */
static void ce_case(lv_rng *r, int64_t N, int64_t V, double scale, float shift)
{
    float *x = rand_floats(r, N * V, scale), *lse = zeros(N), loss;
    int32_t *t = malloc((size_t)N * sizeof *t);
    ck_assert_ptr_nonnull(t);
    int64_t ignored = 0;
    for (int64_t n = 0; n < N; n++) {
        t[n] = n > 0 && lv_rng_below(r, 4) == 0 ? (n % 2 ? -1 : -100)
                                                 : (int32_t)lv_rng_below(r, (uint64_t)V);
        ignored += t[n] < 0;
    }
    for (int64_t i = 0; i < N * V; i++)
        x[i] += shift;
    const float dloss = (float)(1.0 + 0.5 * lv_rng_normal(r));
    printf("cross_entropy N=%lld V=%lld logits N(%g, %g^2), %lld rows ignored\n", (long long)N,
           (long long)V, shift, scale, (long long)ignored);
    ce_ctx c = { to_double(x, N * V), calloc(N, sizeof(double)), t, dloss, N, V };
    lv_cross_entropy_forward(&loss, lse, x, t, N, V);
    double loss64;
    r64_cross_entropy(&loss64, c.lse, c.logits, t, N, V);
    compare_f32_f64("cross_entropy", "loss", LV_CHECK_F64, &loss, &loss64, 1);
    compare_f32_f64("cross_entropy", "lse", LV_CHECK_F64, lse, c.lse, N);
    grad_buf dx = grad_new(r, N * V);
    lv_cross_entropy_backward(dx.grad, &dloss, x, lse, t, N, V);
    fd_tensor ft[] = { { "dlogits", c.logits, grad_delta(&dx), N * V, 0, 0 } };
    fd_check("cross_entropy", ft, 1, ce_objective, &c, FD_MAX);
    grad_free(&dx);
    free(x), free(lse), free(t), free(c.logits), free(c.lse);
}

START_TEST(test_cross_entropy_random)
{
    const int64_t N = (int64_t[]){ 1, 7, 33 }[_i], V = (int64_t[]){ 1, 13, 500 }[_i];
    lv_rng r = test_rng(920 + _i);
    ce_case(&r, N, V, 2, 0);
}
END_TEST

/* every logit near 100: exp overflows fp32 there, so only the max-subtracted form works; the
 * plain fp64 twin is still exact (e^100 is far from double's limit) */
START_TEST(test_cross_entropy_peaked)
{
    lv_rng r = test_rng(930);
    ce_case(&r, 9, 11, 2, 100);
}
END_TEST

/* ---- segment mean --------------------------------------------------------------------------- */

START_TEST(test_segment_mean_hand)
{
    /* 5 rows of width 2 in segments {0, 1}, {} and {2, 3, 4} */
    const float x[5 * 2] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    const int64_t start[4] = { 0, 2, 2, 5 };
    float out[3 * 2], dx[5 * 2] = { 0 };
    lv_segment_mean_forward(out, x, start, 3, 2);
    expect_floats("segment_mean forward (empty segment -> 0)", out,
                (double[]){ 2, 3, 0, 0, 7, 8 }, 6, 0);
    const float dout[3 * 2] = { 1, 2, 100, 100, 3, 6 };
    lv_segment_mean_backward(dx, dout, start, 3, 2);
    expect_floats("segment_mean backward (dout / count)", dx,
                (double[]){ 0.5, 1, 0.5, 1, 1, 2, 1, 2, 1, 2 }, 10, 0);
}
END_TEST

typedef struct {
    double *x, *g, *out;
    const int64_t *start;
    int64_t G, D;
} segment_ctx;

static double segment_objective(void *p)
{
    segment_ctx *c = p;
    r64_segment_mean(c->out, c->x, c->start, c->G, c->D);
    return dot_f64(c->out, c->g, c->G * c->D);
}

START_TEST(test_segment_mean_random)
{
    const int64_t G = (int64_t[]){ 1, 5, 9 }[_i], D = (int64_t[]){ 1, 7, 16 }[_i];
    lv_rng r = test_rng(950 + _i);
    int64_t start[10] = { 0 }, empty = 0;
    for (int64_t g = 0; g < G; g++) {   /* 0..4 rows each, segment 1 empty (frames fully masked) */
        const int64_t n = g == 1 ? 0 : (int64_t)lv_rng_below(&r, 5) + (g == 0);
        start[g + 1] = start[g] + n;
        empty += n == 0;
    }
    const int64_t rows = start[G];
    float *x = rand_floats(&r, rows * D, 1), *g = rand_floats(&r, G * D, 1), *out = zeros(G * D);
    printf("segment_mean G=%lld D=%lld rows=%lld (%lld empty segments)\n", (long long)G,
           (long long)D, (long long)rows, (long long)empty);
    segment_ctx c = { to_double(x, rows * D), to_double(g, G * D), calloc(G * D, sizeof(double)),
                      start, G, D };
    lv_segment_mean_forward(out, x, start, G, D);
    segment_objective(&c);
    compare_f32_f64("segment_mean", "out", LV_CHECK_F64, out, c.out, G * D);
    grad_buf dx = grad_new(&r, rows * D);
    lv_segment_mean_backward(dx.grad, g, start, G, D);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), rows * D, 0, 0 } };
    fd_check("segment_mean", t, 1, segment_objective, &c, 0);
    grad_free(&dx);
    free(x), free(g), free(out), free(c.x), free(c.g), free(c.out);
}
END_TEST

/* ---- token masking -------------------------------------------------------------------------- */

/* kept is strictly increasing and inside [0, N): K distinct tokens */
static void expect_ascending(const int64_t *kept, int64_t K, int64_t N)
{
    for (int64_t k = 0; k < K; k++) {
        ck_assert_msg(kept[k] >= 0 && kept[k] < N, "kept[%lld] = %lld outside [0, %lld)",
                      (long long)k, (long long)kept[k], (long long)N);
        ck_assert_msg(k == 0 || kept[k] > kept[k - 1], "kept[%lld] = %lld after %lld",
                      (long long)k, (long long)kept[k], (long long)kept[k - 1]);
    }
}

START_TEST(test_mask_counts)
{
    /* want, by hand: 1568 = 8 time steps x 196 positions (16 frames, 2x16x16 tubelets at 224);
     * 25088 = 128 x 196 (256 frames); 0.1 * 1568 = 156.8 -> 157; 0.1 * 196 = 19.6 -> 20 per step;
     * 0.5 * 25 = 12.5 -> 13 (half away from zero); 0.1 * 3 = 0.3 -> 0 -> at least 1 */
    static const struct {
        lv_mask_kind kind;
        int64_t N, P;
        double ratio;
        int64_t want;
    } cases[] = {
        { LV_MASK_RANDOM, 1568, 196, 0.0, 1568 },   { LV_MASK_TUBE, 1568, 196, 0.0, 1568 },
        { LV_MASK_RANDOM, 1568, 196, 0.5, 784 },    { LV_MASK_TUBE, 1568, 196, 0.5, 784 },
        { LV_MASK_RANDOM, 25088, 196, 0.75, 6272 }, { LV_MASK_TUBE, 25088, 196, 0.75, 6272 },
        { LV_MASK_RANDOM, 1568, 196, 0.9, 157 },    { LV_MASK_TUBE, 1568, 196, 0.9, 160 },
        { LV_MASK_RANDOM, 25, 5, 0.5, 13 },         { LV_MASK_RANDOM, 3, 3, 0.9, 1 },
        { LV_MASK_TUBE, 12, 4, 0.9, 3 },            { LV_MASK_RANDOM, 1, 1, 0.9, 1 },
    };
    int64_t *kept = malloc(25088 * sizeof *kept);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const lv_mask_kind kind = cases[i].kind;
        const int64_t N = cases[i].N, P = cases[i].P, want = cases[i].want;
        const double ratio = cases[i].ratio;
        const int64_t K = lv_mask_keep(kept, kind, ratio, N, P, 7, 0, (uint32_t)i);
        ck_assert_int_eq(K, want);
        ck_assert_int_eq(lv_mask_kept_count(kind, ratio, N, P), want);
        expect_ascending(kept, K, N);
        if (ratio == 0.0)   /* nothing masked: every token, in order */
            for (int64_t k = 0; k < N; k++)
                ck_assert_int_eq(kept[k], k);
        printf("  %-6s N=%-5lld P=%-3lld ratio %.2f: K = %lld (want %lld)\n",
               lv_mask_kind_name(kind), (long long)N, (long long)P, ratio, (long long)K,
               (long long)want);
    }
    free(kept);
}
END_TEST

START_TEST(test_mask_reproducible)
{
    enum { N = 1568, P = 196 };
    const int64_t K = lv_mask_kept_count(LV_MASK_RANDOM, 0.75, N, P);
    int64_t a[N], b[N];
    ck_assert_int_eq(lv_mask_keep(a, LV_MASK_RANDOM, 0.75, N, P, 42, 3, 5), K);
    ck_assert_int_eq(lv_mask_keep(b, LV_MASK_RANDOM, 0.75, N, P, 42, 3, 5), K);
    ck_assert(memcmp(a, b, K * sizeof *a) == 0);
    /* another sample, step or seed: another subset */
    const uint32_t other[3][3] = { { 42, 3, 6 }, { 42, 4, 5 }, { 43, 3, 5 } };
    for (int i = 0; i < 3; i++) {
        lv_mask_keep(b, LV_MASK_RANDOM, 0.75, N, P, other[i][0], other[i][1], other[i][2]);
        int64_t same = 0;
        for (int64_t k = 0; k < K; k++)
            same += a[k] == b[k];
        ck_assert_int_lt(same, K);
    }
    /* tube masking reads the same stream, as a different subset of positions */
    ck_assert_int_eq(lv_mask_keep(b, LV_MASK_TUBE, 0.75, N, P, 42, 3, 5), K);
    ck_assert(memcmp(a, b, K * sizeof *a) != 0);
    printf("  (seed 42, step 3, sample 5): %lld of %d tokens, identical twice; another sample, "
           "step or seed differs\n", (long long)K, N);
}
END_TEST

/* Masks computed inside a parallel loop, in any order, equal the serial ones: each is a pure
 * function of (seed, step, sample). */
START_TEST(test_mask_threads)
{
    enum { SAMPLES = 64, N = 1568, P = 196 };
    const int64_t K = lv_mask_kept_count(LV_MASK_RANDOM, 0.75, N, P);
    int64_t *serial = malloc(SAMPLES * K * sizeof *serial);
    int64_t *parallel = malloc(SAMPLES * K * sizeof *parallel);
    for (int s = 0; s < SAMPLES; s++)
        lv_mask_keep(serial + s * K, LV_MASK_RANDOM, 0.75, N, P, 11, 2, (uint32_t)s);
    for (int want_threads = 2; want_threads <= 3; want_threads++) {
        int threads = 1;
#ifdef _OPENMP
        omp_set_num_threads(want_threads);
        #pragma omp parallel
        #pragma omp single
        threads = omp_get_num_threads();
#endif
        memset(parallel, 0xff, SAMPLES * K * sizeof *parallel);
        #pragma omp parallel for schedule(dynamic, 1)
        for (int s = SAMPLES - 1; s >= 0; s--)
            lv_mask_keep(parallel + s * K, LV_MASK_RANDOM, 0.75, N, P, 11, 2, (uint32_t)s);
        ck_assert(memcmp(serial, parallel, SAMPLES * K * sizeof *serial) == 0);
        printf("  %d masks of %lld / %d tokens identical serially and with %d threads\n",
               SAMPLES, (long long)K, N, threads);
    }
    free(serial), free(parallel);
}
END_TEST

START_TEST(test_mask_tube)
{
    enum { Ft = 8, P = 196, N = Ft * P };
    int64_t kept[N];
    const int64_t K = lv_mask_keep(kept, LV_MASK_TUBE, 0.75, N, P, 5, 1, 9);
    ck_assert_int_eq(K, 49 * Ft);
    expect_ascending(kept, K, N);
    const int64_t Kp = K / Ft;
    for (int64_t t = 0; t < Ft; t++)   /* time step t holds exactly the positions of step 0 */
        for (int64_t k = 0; k < Kp; k++)
            ck_assert_int_eq(kept[t * Kp + k], t * P + kept[k]);
    printf("  tube: %lld positions of %d, the same in each of %d time steps (K = %lld)\n",
           (long long)Kp, P, Ft, (long long)K);
}
END_TEST

/* How often each token is kept over many samples: Binomial(S, K/N) for every token. */
static double mask_marginal_z(lv_mask_kind kind, double ratio, int64_t N, int64_t P, int S)
{
    int64_t *count = calloc(N, sizeof *count), *kept = malloc(N * sizeof *kept);
    int64_t K = 0;
    for (int s = 0; s < S; s++) {
        K = lv_mask_keep(kept, kind, ratio, N, P, 3, 0, (uint32_t)s);
        for (int64_t k = 0; k < K; k++)
            count[kept[k]]++;
    }
    const double p = (double)K / N, sd = sqrt(S * p * (1 - p));
    double worst = 0.0;
    for (int64_t n = 0; n < N; n++)
        worst = lv_margin_max(worst, fabs(count[n] - S * p) / sd);
    printf("  %-6s N=%lld P=%lld K=%lld: each token kept %d times +- %.1f over %d samples; "
           "worst %.2f sigma (< 5)\n", lv_mask_kind_name(kind), (long long)N, (long long)P,
           (long long)K, (int)(S * p), sd, S, worst);
    free(count), free(kept);
    return worst;
}

/* How often each whole subset is drawn: every one of the C(n, k) equally likely. Returns the
 * chi-square statistic over the subsets (n <= 8, encoded as bit sets). */
static double mask_subset_chi2(lv_mask_kind kind, double ratio, int64_t N, int64_t P, int S,
                               int subsets)
{
    int64_t seen[256] = { 0 }, kept[8];
    for (int s = 0; s < S; s++) {
        const int64_t K = lv_mask_keep(kept, kind, ratio, N, P, 4, 1, (uint32_t)s);
        int code = 0;
        for (int64_t k = 0; k < K && kept[k] < P; k++)   /* the positions of time step 0 */
            code |= 1 << kept[k];
        seen[code]++;
    }
    double chi2 = 0.0;
    int distinct = 0;
    for (int c = 0; c < 256; c++)
        if (seen[c]) {
            distinct++;
            chi2 += pow(seen[c] - (double)S / subsets, 2) / ((double)S / subsets);
        }
    ck_assert_int_eq(distinct, subsets);
    return chi2;
}

START_TEST(test_mask_uniform)
{
    ck_assert(mask_marginal_z(LV_MASK_RANDOM, 0.75, 50, 10, 20000) < 5.0);
    ck_assert(mask_marginal_z(LV_MASK_TUBE, 0.75, 40, 10, 20000) < 5.0);
    /* random 3 of 6: 20 subsets, chi2(19) 0.999 quantile 43.82; tube 2 of 4 positions (x 3
     * steps): 6 subsets, chi2(5) 0.999 quantile 20.52 */
    const double chi_random = mask_subset_chi2(LV_MASK_RANDOM, 0.5, 6, 6, 40000, 20);
    const double chi_tube = mask_subset_chi2(LV_MASK_TUBE, 0.5, 12, 4, 12000, 6);
    ck_assert(chi_random < 43.82);
    ck_assert(chi_tube < 20.52);
    printf("  subsets: random 3 of 6 chi2 %.2f (< 43.82, 20 subsets); tube 2 of 4 positions "
           "chi2 %.2f (< 20.52, 6 subsets)\n", chi_random, chi_tube);
}
END_TEST

START_TEST(test_mask_errors)
{
    static const struct {
        lv_mask_kind kind;
        double ratio;
        int64_t N, P;
        const char *message;     /* a word the message must contain */
    } bad[] = {
        { LV_MASK_RANDOM, -0.1, 16, 4, "ratio" },  { LV_MASK_RANDOM, 0.95, 16, 4, "ratio" },
        { LV_MASK_TUBE, NAN, 16, 4, "ratio" },     { LV_MASK_RANDOM, 0.5, 0, 4, "positive" },
        { LV_MASK_RANDOM, 0.5, 16, 0, "positive" }, { LV_MASK_TUBE, 0.5, 16, -4, "positive" },
        { LV_MASK_TUBE, 0.5, 10, 4, "multiple" },  { (lv_mask_kind)7, 0.5, 16, 4, "kind" },
    };
    int64_t kept[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lv_set_error("%s", "");
        ck_assert_int_eq(lv_mask_kept_count(bad[i].kind, bad[i].ratio, bad[i].N, bad[i].P), -1);
        ck_assert_int_eq(lv_mask_keep(kept, bad[i].kind, bad[i].ratio, bad[i].N, bad[i].P,
                                      1, 0, 0), -1);
        ck_assert_msg(strstr(lv_error(), bad[i].message), "message '%s' lacks '%s'", lv_error(),
                      bad[i].message);
        printf("  -1: %s\n", lv_error());
    }
    /* the ends of the ratio range are accepted */
    ck_assert_int_eq(lv_mask_kept_count(LV_MASK_RANDOM, 0.9, 16, 4), 2);
    ck_assert_int_eq(lv_mask_kept_count(LV_MASK_RANDOM, 0.0, 16, 4), 16);
    lv_mask_kind kind = LV_MASK_RANDOM;
    ck_assert_int_eq(lv_mask_kind_parse("tube", &kind), 0);
    ck_assert_int_eq(kind, LV_MASK_TUBE);
    ck_assert_int_eq(lv_mask_kind_parse(lv_mask_kind_name(LV_MASK_RANDOM), &kind), 0);
    ck_assert_int_eq(kind, LV_MASK_RANDOM);
    ck_assert_str_eq(lv_mask_kind_name(LV_MASK_TUBE), "tube");
    ck_assert_int_eq(lv_mask_kind_parse("Tube", &kind), -1);
    ck_assert(strstr(lv_error(), "'Tube'"));
    printf("  kinds: random <-> \"random\", tube <-> \"tube\"; -1: %s\n", lv_error());
}
END_TEST

Suite *model_kernels_suite(void)
{
    const test_row rows[] = {
        { "infonce", test_infonce_hand, 1 },
        { "infonce", test_infonce_random, 6 },
        { "infonce", test_infonce_clamped, 1 },
        { "cross_entropy", test_cross_entropy_hand, 1 },
        { "cross_entropy", test_cross_entropy_random, 3 },
        { "cross_entropy", test_cross_entropy_peaked, 1 },
        { "segment_mean", test_segment_mean_hand, 1 },
        { "segment_mean", test_segment_mean_random, 3 },
        { "mask", test_mask_counts, 1 },
        { "mask", test_mask_reproducible, 1 },
        { "mask", test_mask_threads, 1 },
        { "mask", test_mask_tube, 1 },
        { "mask", test_mask_uniform, 1 },
        { "mask", test_mask_errors, 1 },
    };
    return suite_from_rows("model_kernels", rows, sizeof rows / sizeof rows[0], 60, 0);
}
