/* Every ref/ kernel: the forward on a small hand-computed case, the forward against the naive
 * fp64 reference of tests/ref64.c on random inputs, and the backward against central finite
 * differences of that fp64 reference, over several shapes (odd sizes included). Gradients are
 * pre-filled so each test also proves that backward accumulates. */
#include "check_util.h"
#include "kernels.h"
#include "ref64.h"
#include "suites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FD_MAX 96       /* entries probed per tensor: enough to hit every code path */

/* ---- linear --------------------------------------------------------------------------------- */

START_TEST(test_linear_hand)
{
    const float x[2 * 3] = { 1, 2, 3, -1, 0, 2 };
    const float w[2 * 3] = { 1, 0, -1, 0.5f, 0.5f, 0.5f };
    const float b[2] = { 0.5f, -1 };
    float out[4];
    lv_linear_forward(out, x, w, b, 2, 3, 2);
    const double want[4] = { 1 - 3 + 0.5, 3 - 1, -1 - 2 + 0.5, 0.5 - 1 };
    expect_floats("linear forward (2x3 . 3x2 + b)", out, want, 4, 0);
}
END_TEST

typedef struct {
    double *x, *w, *b, *g, *out;
    int64_t N, C, OC;
} linear_ctx;

static double linear_objective(void *p)
{
    linear_ctx *c = p;
    r64_linear(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
    return dot_f64(c->out, c->g, c->N * c->OC);
}

static const int64_t linear_shapes[][3] = { { 1, 1, 1 }, { 7, 33, 5 }, { 16, 64, 48 },
                                            { 3, 257, 2 } };

START_TEST(test_linear_random)
{
    const int64_t N = linear_shapes[_i][0], C = linear_shapes[_i][1], OC = linear_shapes[_i][2];
    lv_rng r = test_rng(100 + _i);
    float *x = rand_floats(&r, N * C, 1), *w = rand_floats(&r, OC * C, 1);
    float *b = rand_floats(&r, OC, 1), *g = rand_floats(&r, N * OC, 1), *out = zeros(N * OC);
    printf("linear N=%lld C=%lld OC=%lld\n", (long long)N, (long long)C, (long long)OC);
    linear_ctx c = { to_double(x, N * C), to_double(w, OC * C), to_double(b, OC),
                     to_double(g, N * OC), calloc(N * OC, sizeof(double)), N, C, OC };
    lv_linear_forward(out, x, w, b, N, C, OC);
    linear_objective(&c);
    compare_f32_f64("linear", "out", LV_CHECK_F64, out, c.out, N * OC);
    grad_buf dx = grad_new(&r, N * C), dw = grad_new(&r, OC * C), db = grad_new(&r, OC);
    lv_linear_backward(dx.grad, dw.grad, db.grad, g, x, w, N, C, OC);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), N * C, 0, 0 },
                      { "dweight", c.w, grad_delta(&dw), OC * C, 0, 0 },
                      { "dbias", c.b, grad_delta(&db), OC, 0, 0 } };
    fd_check("linear", t, 3, linear_objective, &c, FD_MAX);
    /* NULL gradients are skipped: a frozen weight costs nothing and touches nothing */
    lv_linear_backward(NULL, NULL, NULL, g, x, w, N, C, OC);
    grad_free(&dx), grad_free(&dw), grad_free(&db);
    free(x), free(w), free(b), free(g), free(out);
    free(c.x), free(c.w), free(c.b), free(c.g), free(c.out);
}
END_TEST

/* ---- layernorm ------------------------------------------------------------------------------ */

START_TEST(test_layernorm_hand)
{
    const float x[3] = { 1, 2, 3 }, w[3] = { 1, 1, 2 }, b[3] = { 0, 1, 0 };
    float out[3], mean, rstd;
    lv_layernorm_forward(out, &mean, &rstd, x, w, b, 1, 3, 0.0f);
    const double s = sqrt(1.5);   /* (x - 2) / sqrt(2/3) */
    const double want[3] = { -s, 1, 2 * s };
    expect_floats("layernorm forward ([1,2,3], eps 0)", out, want, 3, 1e-6);
    ck_assert_float_eq_tol(mean, 2.0f, 1e-7f);
}
END_TEST

typedef struct {
    double *x, *w, *b, *g, *out;
    int64_t N, C;
    double eps;
} layernorm_ctx;

static double layernorm_objective(void *p)
{
    layernorm_ctx *c = p;
    r64_layernorm(c->out, c->x, c->w, c->b, c->N, c->C, c->eps);
    return dot_f64(c->out, c->g, c->N * c->C);
}

static const int64_t layernorm_shapes[][2] = { { 1, 2 }, { 5, 33 }, { 4, 192 } };

START_TEST(test_layernorm_random)
{
    const int64_t N = layernorm_shapes[_i][0], C = layernorm_shapes[_i][1];
    const float eps = 1e-5f;
    lv_rng r = test_rng(200 + _i);
    float *x = rand_floats(&r, N * C, 1), *w = rand_floats(&r, C, 1), *b = rand_floats(&r, C, 1);
    float *g = rand_floats(&r, N * C, 1), *out = zeros(N * C), *mean = zeros(N), *rstd = zeros(N);
    for (int64_t i = 0; i < N * C; i++)   /* an offset row mean: tests the two-pass variance */
        x[i] += 3.0f;
    printf("layernorm N=%lld C=%lld\n", (long long)N, (long long)C);
    layernorm_ctx c = { to_double(x, N * C), to_double(w, C), to_double(b, C),
                        to_double(g, N * C), calloc(N * C, sizeof(double)), N, C, eps };
    lv_layernorm_forward(out, mean, rstd, x, w, b, N, C, eps);
    layernorm_objective(&c);
    compare_f32_f64("layernorm", "out", LV_CHECK_F64, out, c.out, N * C);
    grad_buf dx = grad_new(&r, N * C), dw = grad_new(&r, C), db = grad_new(&r, C);
    lv_layernorm_backward(dx.grad, dw.grad, db.grad, g, x, w, mean, rstd, N, C);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), N * C, 0, 0 },
                      { "dweight", c.w, grad_delta(&dw), C, 0, 0 },
                      { "dbias", c.b, grad_delta(&db), C, 0, 0 } };
    fd_check("layernorm", t, 3, layernorm_objective, &c, FD_MAX);
    grad_free(&dx), grad_free(&dw), grad_free(&db);
    free(x), free(w), free(b), free(g), free(out), free(mean), free(rstd);
    free(c.x), free(c.w), free(c.b), free(c.g), free(c.out);
}
END_TEST

/* ---- GELU ----------------------------------------------------------------------------------- */

START_TEST(test_gelu_hand)
{
    const float x[5] = { -3, -1, 0, 1, 2 };
    float out[5];
    lv_gelu_forward(out, x, 5);
    /* x Phi(x) with Phi from tables of the standard normal CDF */
    const double want[5] = { -3 * 0.0013498980316301, -0.15865525393145705, 0,
                             0.8413447460685429, 2 * 0.9772498680518208 };
    expect_floats("gelu forward (erf form)", out, want, 5, 1e-7);
}
END_TEST

typedef struct {
    double *x, *g, *out;
    int64_t n;
} unary_ctx;

static double gelu_objective(void *p)
{
    unary_ctx *c = p;
    r64_gelu(c->out, c->x, c->n);
    return dot_f64(c->out, c->g, c->n);
}

START_TEST(test_gelu_random)
{
    const int64_t n = (int64_t[]){ 1, 37, 1000 }[_i];
    lv_rng r = test_rng(300 + _i);
    float *x = rand_floats(&r, n, 2), *g = rand_floats(&r, n, 1), *out = zeros(n);
    printf("gelu n=%lld\n", (long long)n);
    unary_ctx c = { to_double(x, n), to_double(g, n), calloc(n, sizeof(double)), n };
    lv_gelu_forward(out, x, n);
    gelu_objective(&c);
    compare_f32_f64("gelu", "out", LV_CHECK_F64, out, c.out, n);
    grad_buf dx = grad_new(&r, n);
    lv_gelu_backward(dx.grad, x, g, n);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), n, 0, 0 } };
    fd_check("gelu", t, 1, gelu_objective, &c, FD_MAX);
    grad_free(&dx);
    free(x), free(g), free(out), free(c.x), free(c.g), free(c.out);
}
END_TEST

/* ---- QuickGELU ------------------------------------------------------------------------------ */

/* The forward at small and huge |x|, and the backward where the sigmoid saturates: 1.702 x
 * reaches 1702, where exp overflows double, so a sigmoid written as exp(a) / (1 + exp(a)) gives
 * NaN here. Sigmoid values from s(a) = 1 / (1 + exp(-a)). */
START_TEST(test_quick_gelu_hand)
{
    const float x[9] = { -1000, -100, -3, -1, 0, 1, 2, 100, 1000 };
    float out[9], dinp[9] = { 0 };
    const float ones[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    lv_quick_gelu_forward(out, x, 9);
    const double want[9] = { 0, -100 * 1.2108188685204309e-74, -3 * 0.006023769902595322,
                             -0.1542042340671787, 0, 0.8457957659328212, 2 * 0.9678293115721042,
                             100, 1000 };
    expect_floats("quick_gelu forward (x sigmoid(1.702 x))", out, want, 9, 1e-7);
    /* s + 1.702 x s (1 - s); note d(x) + d(-x) = 1, since out(x) - out(-x) = x */
    lv_quick_gelu_backward(dinp, x, ones, 9);
    const double dwant[9] = { 0, 0, -0.02454832390565235, -0.06777960655633405, 0.5,
                              1.067779606556334, 1.0738153543085418, 1, 1 };
    expect_floats("quick_gelu backward (dout = 1)", dinp, dwant, 9, 1e-7);
}
END_TEST

static double quick_gelu_objective(void *p)
{
    unary_ctx *c = p;
    r64_quick_gelu(c->out, c->x, c->n);
    return dot_f64(c->out, c->g, c->n);
}

START_TEST(test_quick_gelu_random)
{
    const int64_t n = (int64_t[]){ 1, 37, 1000 }[_i];
    lv_rng r = test_rng(350 + _i);
    float *x = rand_floats(&r, n, 2), *g = rand_floats(&r, n, 1), *out = zeros(n);
    printf("quick_gelu n=%lld\n", (long long)n);
    unary_ctx c = { to_double(x, n), to_double(g, n), calloc(n, sizeof(double)), n };
    lv_quick_gelu_forward(out, x, n);
    quick_gelu_objective(&c);
    compare_f32_f64("quick_gelu", "out", LV_CHECK_F64, out, c.out, n);
    grad_buf dx = grad_new(&r, n);
    lv_quick_gelu_backward(dx.grad, x, g, n);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), n, 0, 0 } };
    fd_check("quick_gelu", t, 1, quick_gelu_objective, &c, FD_MAX);
    grad_free(&dx);
    free(x), free(g), free(out), free(c.x), free(c.g), free(c.out);
}
END_TEST

/* ---- GELU, tanh approximation ------------------------------------------------------------- */

/* GPT-2's GELU at small and huge |x| (3e38: a = 2 sqrt(2/pi) (x + 0.044715 x^3) is 1e115, far
 * beyond exp's range), from x s(a) in 40-digit arithmetic; at x = -1 the erf GELU would give
 * -0.15866, 1.5e-4 away. The backward where the sigmoid saturates and x^2 is huge: 0 and 1, no
 * NaN. */
START_TEST(test_gelu_tanh_hand)
{
    const float x[11] = { -3e38f, -1000, -100, -3, -1, 0, 1, 2, 3, 1000, 3e38f };
    float out[11], dinp[11] = { 0 };
    const float ones[11] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    lv_gelu_tanh_forward(out, x, 11);
    const double want[11] = { 0, 0, 0, -0.0036373920817730188, -0.1588080093917233, 0,
                              0.8411919906082767, 1.954597694087775, 3 - 0.0036373920817730188,
                              1000, 3e38f };
    expect_floats("gelu_tanh forward (x/2 (1 + tanh u))", out, want, 11, 1.5e-7); /* ulp/2 at 3:
                                                                                    * 1.2e-7 */
    /* s + x s (1 - s) da/dx; d(x) + d(-x) = 1, since out(x) - out(-x) = x */
    lv_gelu_tanh_backward(dinp, x, ones, 11);
    const double dwant[11] = { 0, 0, 0, -0.011584166630969726, -0.082964083845782555, 0.5,
                               1.0829640838457826, 1.0860992566236184, 1.011584166630969726, 1,
                               1 };
    expect_floats("gelu_tanh backward (dout = 1)", dinp, dwant, 11, 1e-7);
}
END_TEST

static double gelu_tanh_objective(void *p)
{
    unary_ctx *c = p;
    r64_gelu_tanh(c->out, c->x, c->n);
    return dot_f64(c->out, c->g, c->n);
}

START_TEST(test_gelu_tanh_random)
{
    const int64_t n = (int64_t[]){ 1, 37, 1000 }[_i];
    lv_rng r = test_rng(360 + _i);
    float *x = rand_floats(&r, n, 2), *g = rand_floats(&r, n, 1), *out = zeros(n);
    printf("gelu_tanh n=%lld\n", (long long)n);
    unary_ctx c = { to_double(x, n), to_double(g, n), calloc(n, sizeof(double)), n };
    lv_gelu_tanh_forward(out, x, n);
    gelu_tanh_objective(&c);
    compare_f32_f64("gelu_tanh", "out", LV_CHECK_F64, out, c.out, n);
    grad_buf dx = grad_new(&r, n);
    lv_gelu_tanh_backward(dx.grad, x, g, n);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), n, 0, 0 } };
    fd_check("gelu_tanh", t, 1, gelu_tanh_objective, &c, FD_MAX);
    grad_free(&dx);
    free(x), free(g), free(out), free(c.x), free(c.g), free(c.out);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------------ */

START_TEST(test_attention_hand)
{
    /* one head of width 2, one query, keys (1,0) and (0,0): scores 1/sqrt2 and 0 */
    const float q[2] = { 1, 0 }, k[2 * 2] = { 1, 0, 0, 0 }, v[2 * 2] = { 1, 2, 3, 4 };
    const int64_t qs[2] = { 0, 1 }, ks[2] = { 0, 2 };
    const lv_attn_groups g = { .n_groups = 1, .q_start = qs, .k_start = ks };
    float out[2], att[2];
    ck_assert_int_eq(lv_attention_cache_size(&g, 1), 2);
    lv_attention_forward(out, att, q, k, v, &g, 2, 2, 1, 2);
    const double p = 1.0 / (1.0 + exp(-1.0 / sqrt(2.0)));
    const double want[2] = { p * 1 + (1 - p) * 3, p * 2 + (1 - p) * 4 };
    expect_floats("attention forward (1 query, 2 keys)", out, want, 2, 1e-6);
    /* the second key is padding: the query sees only the first */
    const uint8_t valid[2] = { 1, 0 };
    const lv_attn_groups gp = { .n_groups = 1, .q_start = qs, .k_start = ks, .k_valid = valid };
    lv_attention_forward(out, att, q, k, v, &gp, 2, 2, 1, 2);
    expect_floats("attention forward (padded key ignored)", out, (double[]){ 1, 2 }, 2, 1e-6);
    /* no valid key at all: output 0, not NaN */
    const uint8_t none[2] = { 0, 0 };
    const lv_attn_groups gn = { .n_groups = 1, .q_start = qs, .k_start = ks, .k_valid = none };
    lv_attention_forward(out, att, q, k, v, &gn, 2, 2, 1, 2);
    expect_floats("attention forward (no valid key -> 0)", out, (double[]){ 0, 0 }, 2, 0);
}
END_TEST

/* The causal mask by hand, one head of width 1 (scores q k exactly, scale 1), values v = 1, 10,
 * 100: keys j <= i + (nk - nq) of each group, end-aligned. */
START_TEST(test_attention_causal_hand)
{
    const float q[3] = { 1, 1, 1 }, k[3] = { 0, 0, 0 }, v[3] = { 1, 10, 100 };
    float out[3], att[9];
    /* nq = nk = 3, the triangle: query 0 sees key 0, query 1 keys 0-1, query 2 all three */
    const int64_t s3[2] = { 0, 3 }, s1[2] = { 0, 1 }, s2[2] = { 0, 2 };
    const lv_attn_groups tri = { .n_groups = 1, .q_start = s3, .k_start = s3, .causal = 1 };
    lv_attention_forward(out, att, q, k, v, &tri, 1, 1, 1, 1);
    expect_floats("causal attention (3 queries, 3 keys: the triangle)", out,
                  (double[]){ 1, 5.5, 37 }, 3, 1e-6);
    /* the same, key 0 padding: query 0 sees no key (0), query 1 only key 1 */
    const uint8_t valid[3] = { 0, 1, 1 };
    const lv_attn_groups tri_pad = { .n_groups = 1, .q_start = s3, .k_start = s3,
                                     .k_valid = valid, .causal = 1 };
    lv_attention_forward(out, att, q, k, v, &tri_pad, 1, 1, 1, 1);
    expect_floats("causal attention, key 0 padding (query 0 sees nothing -> 0)", out,
                  (double[]){ 0, 10, 55 }, 3, 1e-6);
    /* a decode step: 1 query over 3 keys is the newest position, it sees all three */
    const lv_attn_groups step = { .n_groups = 1, .q_start = s1, .k_start = s3, .causal = 1 };
    lv_attention_forward(out, att, q, k, v, &step, 1, 1, 1, 1);
    expect_floats("causal attention (1 query, 3 keys: a decode step sees all)", out,
                  (double[]){ 37 }, 1, 1e-6);
    /* 2 queries over 3 keys: the last two positions, keys 0-1 and 0-2 */
    const lv_attn_groups two = { .n_groups = 1, .q_start = s2, .k_start = s3, .causal = 1 };
    lv_attention_forward(out, att, q, k, v, &two, 1, 1, 1, 1);
    expect_floats("causal attention (2 queries, 3 keys: end-aligned)", out,
                  (double[]){ 5.5, 37 }, 2, 1e-6);
    /* 3 queries over 2 keys: query 0 sees none, 1 key 0, 2 keys 0-1 */
    const lv_attn_groups more = { .n_groups = 1, .q_start = s3, .k_start = s2, .causal = 1 };
    lv_attention_forward(out, att, q, k, v, &more, 1, 1, 1, 1);
    expect_floats("causal attention (3 queries, 2 keys: query 0 sees none)", out,
                  (double[]){ 0, 1, 5.5 }, 3, 1e-6);
    /* the backward passes nothing through the hidden keys: with dout = 1, dv = a^T dout gets
     * 1 + 1/2 + 1/3 on key 0, 1/2 + 1/3 on key 1 (hidden from query 0), 1/3 on key 2 */
    lv_attention_forward(out, att, q, k, v, &tri, 1, 1, 1, 1);
    float dq[3] = { 0 }, dk[3] = { 0 }, dv[3] = { 0 };
    const float ones[3] = { 1, 1, 1 };
    lv_attention_backward(dq, dk, dv, ones, att, q, k, v, &tri, 1, 1, 1, 1);
    expect_floats("causal attention backward dv (dout = 1)", dv,
                  (double[]){ 1 + 0.5 + 1.0 / 3, 0.5 + 1.0 / 3, 1.0 / 3 }, 3, 1e-6);
}
END_TEST

/* Token groups of the three uses: joint (a group per sample), factorized (a group per time step
 * and per spatial position, with scattered row indices) and cross (queries of one set, keys of
 * another, padded keys). Rows of a B x Ft x P token grid. */
typedef struct {
    int64_t starts_q[64], starts_k[64], index_q[256], index_k[256];
    uint8_t valid[256];
    lv_attn_groups g;
    int64_t nq_rows, nk_rows;
} groups_case;

static void groups_joint(groups_case *c, int64_t B, int64_t T)
{
    for (int64_t b = 0; b <= B; b++)
        c->starts_q[b] = c->starts_k[b] = b * T;
    c->g = (lv_attn_groups){ .n_groups = B, .q_start = c->starts_q, .k_start = c->starts_k };
    c->nq_rows = c->nk_rows = B * T;
}

static void groups_by_space(groups_case *c, int64_t B, int64_t Ft, int64_t P)
{
    /* factorized temporal attention: tokens of one spatial position, across time */
    int64_t m = 0, gi = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < P; p++, gi++) {
            c->starts_q[gi] = c->starts_k[gi] = m;
            for (int64_t t = 0; t < Ft; t++, m++)
                c->index_q[m] = c->index_k[m] = (b * Ft + t) * P + p;
        }
    c->starts_q[gi] = c->starts_k[gi] = m;
    c->g = (lv_attn_groups){ .n_groups = gi, .q_start = c->starts_q, .q_index = c->index_q,
                             .k_start = c->starts_k, .k_index = c->index_k };
    c->nq_rows = c->nk_rows = B * Ft * P;
}

static void groups_cross(groups_case *c, lv_rng *r, int64_t B, int64_t Q, int64_t T)
{
    for (int64_t b = 0; b <= B; b++) {
        c->starts_q[b] = b * Q;
        c->starts_k[b] = b * T;
    }
    for (int64_t i = 0; i < B * T; i++)     /* padded keys; the last of each sample valid */
        c->valid[i] = (i % T == T - 1) || lv_rng_below(r, 3) != 0;
    c->g = (lv_attn_groups){ .n_groups = B, .q_start = c->starts_q, .k_start = c->starts_k,
                             .k_valid = c->valid };
    c->nq_rows = B * Q;
    c->nk_rows = B * T;
}

/* causal self-attention (a decoder): a group per sample of T tokens, keys padded at random,
 * the first key of sample 0 padding (its first query sees no key) */
static void groups_causal(groups_case *c, lv_rng *r, int64_t B, int64_t T)
{
    groups_joint(c, B, T);
    for (int64_t i = 0; i < B * T; i++)
        c->valid[i] = i != 0 && lv_rng_below(r, 4) != 0;
    c->g.k_valid = c->valid;
    c->g.causal = 1;
}

/* a decode step over a KV cache: sample b's nq[b] newest queries (rows listed, one row in no group
 * after each sample's) over its nk[b] cached keys in rows b cap .. b cap + nk[b] - 1 (listed);
 * causal, so a query sees the keys up to its own position; nq > nk leaves queries seeing none */
static void groups_decode(groups_case *c, int64_t B, const int64_t *nq, const int64_t *nk,
                          int64_t cap)
{
    int64_t mq = 0, mk = 0, row = 0;
    c->starts_q[0] = c->starts_k[0] = 0;
    for (int64_t b = 0; b < B; b++, row++) {
        for (int64_t i = 0; i < nq[b]; i++)
            c->index_q[mq++] = row++;
        for (int64_t j = 0; j < nk[b]; j++)
            c->index_k[mk++] = b * cap + j;
        c->starts_q[b + 1] = mq;
        c->starts_k[b + 1] = mk;
    }
    c->g = (lv_attn_groups){ .n_groups = B, .q_start = c->starts_q, .q_index = c->index_q,
                             .k_start = c->starts_k, .k_index = c->index_k, .causal = 1 };
    c->nq_rows = row;
    c->nk_rows = B * cap;
}

typedef struct {
    double *q, *kv, *g, *out;
    const lv_attn_groups *groups;
    int64_t ldq, H, D, nq_rows;
} attention_ctx;

static double attention_objective(void *p)
{
    attention_ctx *c = p;
    r64_attention(c->out, c->q, c->kv, c->kv + c->D, c->groups, c->ldq, 2 * c->D, c->H, c->D);
    return dot_f64(c->out, c->g, c->nq_rows * c->D);
}

/* q is read from a packed (rows, 3D) buffer for self-attention, from its own (rows, D) buffer
 * for cross-attention; k and v always from a packed (rows, 2D) one: strides are exercised. */
static void attention_case(const char *label, groups_case *gc, int64_t H, int64_t D, lv_rng *r)
{
    const int64_t ldq = 3 * D, ldkv = 2 * D, nq = gc->nq_rows, nk = gc->nk_rows;
    float *q = rand_floats(r, nq * ldq, 1), *kv = rand_floats(r, nk * ldkv, 1);
    float *g = rand_floats(r, nq * D, 1), *out = zeros(nq * D);
    float *att = zeros(lv_attention_cache_size(&gc->g, H));
    printf("attention %s: groups=%lld H=%lld D=%lld query rows=%lld key rows=%lld\n", label,
           (long long)gc->g.n_groups, (long long)H, (long long)D, (long long)nq, (long long)nk);
    attention_ctx c = { to_double(q, nq * ldq), to_double(kv, nk * ldkv), to_double(g, nq * D),
                        calloc(nq * D, sizeof(double)), &gc->g, ldq, H, D, nq };
    lv_attention_forward(out, att, q, kv, kv + D, &gc->g, ldq, ldkv, H, D);
    attention_objective(&c);
    compare_f32_f64("attention", "out", LV_CHECK_F64, out, c.out, nq * D);
    grad_buf dq = grad_new(r, nq * ldq), dkv = grad_new(r, nk * ldkv);
    lv_attention_backward(dq.grad, dkv.grad, dkv.grad + D, g, att, q, kv, kv + D, &gc->g,
                          ldq, ldkv, H, D);
    grad_delta(&dq);
    grad_delta(&dkv);
    /* q, k and v are probed through their strides inside the packed buffers */
    fd_tensor t[] = { { "dq", c.q, dq.grad, nq * D, D, ldq },
                      { "dk", c.kv, dkv.grad, nk * D, D, ldkv },
                      { "dv", c.kv + D, dkv.grad + D, nk * D, D, ldkv } };
    fd_check("attention", t, 3, attention_objective, &c, FD_MAX);
    /* the untouched third of q's packed row (where v would be in self-attention) and the
     * accumulation: everything outside the q columns still holds its prior */
    for (int64_t i = 0; i < nq * ldq; i++)
        if (i % ldq >= D)
            ck_assert_float_eq(dq.grad[i], 0.0f);
    grad_free(&dq), grad_free(&dkv);
    free(q), free(kv), free(g), free(out), free(att), free(c.q), free(c.kv), free(c.g), free(c.out);
}

START_TEST(test_attention_joint)
{
    lv_rng r = test_rng(500);
    groups_case gc;
    groups_joint(&gc, 2, 7);
    attention_case("joint (2 samples x 7 tokens)", &gc, 2, 12, &r);
}
END_TEST

START_TEST(test_attention_factorized)
{
    lv_rng r = test_rng(501);
    groups_case gc;
    groups_by_space(&gc, 2, 3, 5);
    attention_case("factorized temporal (2 x 3 steps x 5 positions)", &gc, 3, 9, &r);
}
END_TEST

START_TEST(test_attention_cross)
{
    lv_rng r = test_rng(502);
    groups_case gc;
    groups_cross(&gc, &r, 3, 4, 6);
    attention_case("cross (4 queries -> 6 padded keys, 3 samples)", &gc, 1, 8, &r);
}
END_TEST

START_TEST(test_attention_causal)
{
    lv_rng r = test_rng(503 + _i);
    groups_case gc;
    if (_i == 0) {
        groups_causal(&gc, &r, 3, 7);
        attention_case("causal (3 samples x 7 tokens, padded keys)", &gc, 2, 12, &r);
    } else {
        const int64_t nq[3] = { 3, 1, 4 }, nk[3] = { 7, 5, 2 };
        groups_decode(&gc, 3, nq, nk, 8);
        attention_case("causal decode (3, 1, 4 queries over 7, 5, 2 cached keys)", &gc, 2, 8, &r);
    }
}
END_TEST

/* ---- residuals ------------------------------------------------------------------------------ */

typedef struct {
    double *h, *f, *gate, *g, *out;
    int64_t n;
} gated_ctx;

static double gated_objective(void *p)
{
    gated_ctx *c = p;
    r64_gated_residual(c->out, c->h, c->f, c->gate[0], c->n);
    return dot_f64(c->out, c->g, c->n);
}

static double residual_objective(void *p)
{
    gated_ctx *c = p;
    for (int64_t i = 0; i < c->n; i++)
        c->out[i] = c->h[i] + c->f[i];
    return dot_f64(c->out, c->g, c->n);
}

START_TEST(test_residual)
{
    lv_rng r = test_rng(600);
    const int64_t n = 77;
    float *a = rand_floats(&r, n, 1), *b = rand_floats(&r, n, 1), *g = rand_floats(&r, n, 1);
    float *out = zeros(n);
    printf("residual n=%lld\n", (long long)n);
    const float x[2] = { 1, 2 }, y[2] = { 0.5f, -4 };
    lv_residual_forward(out, x, y, 2);
    expect_floats("residual forward", out, (double[]){ 1.5, -2 }, 2, 0);
    gated_ctx c = { to_double(a, n), to_double(b, n), &(double){ 0 }, to_double(g, n),
                    calloc(n, sizeof(double)), n };
    lv_residual_forward(out, a, b, n);
    residual_objective(&c);
    compare_f32_f64("residual", "out", LV_CHECK_F64, out, c.out, n);
    grad_buf da = grad_new(&r, n), db = grad_new(&r, n);
    lv_residual_backward(da.grad, db.grad, g, n);
    fd_tensor t[] = { { "da", c.h, grad_delta(&da), n, 0, 0 },
                      { "db", c.f, grad_delta(&db), n, 0, 0 } };
    fd_check("residual", t, 2, residual_objective, &c, FD_MAX);
    grad_free(&da), grad_free(&db);
    free(a), free(b), free(g), free(out), free(c.h), free(c.f), free(c.g), free(c.out);
}
END_TEST

START_TEST(test_gated_residual)
{
    const float gates[3] = { 0.0f, 0.3f, -1.2f };   /* 0 is the init: output == h exactly */
    lv_rng r = test_rng(610 + _i);
    const int64_t n = 50;
    float gate = gates[_i];
    float *h = rand_floats(&r, n, 1), *f = rand_floats(&r, n, 1), *g = rand_floats(&r, n, 1);
    float *out = zeros(n);
    printf("gated_residual n=%lld gate=%g\n", (long long)n, gate);
    double gate64 = gate;
    gated_ctx c = { to_double(h, n), to_double(f, n), &gate64, to_double(g, n),
                    calloc(n, sizeof(double)), n };
    lv_gated_residual_forward(out, h, f, &gate, n);
    if (gate == 0.0f)
        for (int64_t i = 0; i < n; i++)
            ck_assert_float_eq(out[i], h[i]);
    gated_objective(&c);
    compare_f32_f64("gated_residual", "out", LV_CHECK_F64, out, c.out, n);
    grad_buf dh = grad_new(&r, n), df = grad_new(&r, n), dg = grad_new(&r, 1);
    lv_gated_residual_backward(dh.grad, df.grad, dg.grad, g, f, &gate, n);
    fd_tensor t[] = { { "dh", c.h, grad_delta(&dh), n, 0, 0 },
                      { "df", c.f, grad_delta(&df), n, 0, 0 },
                      { "dgate", &gate64, grad_delta(&dg), 1, 0, 0 } };
    fd_check("gated_residual", t, 3, gated_objective, &c, FD_MAX);
    grad_free(&dh), grad_free(&df), grad_free(&dg);
    free(h), free(f), free(g), free(out), free(c.h), free(c.f), free(c.g), free(c.out);
}
END_TEST

/* ---- pooling and normalisation -------------------------------------------------------------- */

typedef struct {
    double *x, *g, *out;
    const uint8_t *valid;
    int64_t B, T, D;
} pool_ctx;

static double mean_pool_objective(void *p)
{
    pool_ctx *c = p;
    r64_mean_pool(c->out, c->x, c->valid, c->B, c->T, c->D);
    return dot_f64(c->out, c->g, c->B * c->D);
}

static double l2norm_objective(void *p)
{
    pool_ctx *c = p;
    r64_l2norm(c->out, c->x, c->B, c->D);
    return dot_f64(c->out, c->g, c->B * c->D);
}

START_TEST(test_mean_pool)
{
    const float x[2 * 3 * 2] = { 1, 2, 3, 4, 100, 100, 5, 6, 7, 8, 9, 10 };
    const uint8_t v[2 * 3] = { 1, 1, 0, 0, 0, 0 };
    float out[4];
    lv_mean_pool_forward(out, x, v, 2, 3, 2);
    expect_floats("mean_pool forward (padding; empty sample -> 0)", out,
                  (double[]){ 2, 3, 0, 0 }, 4, 0);
    lv_mean_pool_forward(out, x, NULL, 2, 3, 2);
    expect_floats("mean_pool forward (all valid)", out, (double[]){ 104 / 3.0, 106 / 3.0, 7, 8 },
                  4, 1e-5);

    lv_rng r = test_rng(700);
    const int64_t B = 3, T = 9, D = 5;
    float *xr = rand_floats(&r, B * T * D, 1), *g = rand_floats(&r, B * D, 1), *o = zeros(B * D);
    uint8_t valid[3 * 9];
    for (int64_t i = 0; i < B * T; i++)
        valid[i] = i < T ? 1 : (i >= 2 * T ? 0 : lv_rng_below(&r, 2));
    printf("mean_pool B=%lld T=%lld D=%lld (full, partly padded, empty)\n", (long long)B,
           (long long)T, (long long)D);
    pool_ctx c = { to_double(xr, B * T * D), to_double(g, B * D), calloc(B * D, sizeof(double)),
                   valid, B, T, D };
    lv_mean_pool_forward(o, xr, valid, B, T, D);
    mean_pool_objective(&c);
    compare_f32_f64("mean_pool", "out", LV_CHECK_F64, o, c.out, B * D);
    grad_buf dx = grad_new(&r, B * T * D);
    lv_mean_pool_backward(dx.grad, g, valid, B, T, D);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), B * T * D, 0, 0 } };
    fd_check("mean_pool", t, 1, mean_pool_objective, &c, 0);
    grad_free(&dx);
    free(xr), free(g), free(o), free(c.x), free(c.g), free(c.out);
}
END_TEST

START_TEST(test_l2norm)
{
    const float x[2 * 2] = { 3, 4, 0, 0 };
    float out[4], norm[2];
    lv_l2norm_forward(out, norm, x, 2, 2);
    expect_floats("l2norm forward ([3,4]; zero row stays 0)", out, (double[]){ 0.6, 0.8, 0, 0 },
                  4, 1e-7);

    lv_rng r = test_rng(710 + _i);
    const int64_t N = (int64_t[]){ 1, 4, 8 }[_i], C = (int64_t[]){ 1, 17, 256 }[_i];
    float *xr = rand_floats(&r, N * C, 1), *g = rand_floats(&r, N * C, 1), *o = zeros(N * C);
    float *nr = zeros(N);
    printf("l2norm N=%lld C=%lld\n", (long long)N, (long long)C);
    pool_ctx c = { to_double(xr, N * C), to_double(g, N * C), calloc(N * C, sizeof(double)),
                   NULL, N, 1, C };
    lv_l2norm_forward(o, nr, xr, N, C);
    l2norm_objective(&c);
    compare_f32_f64("l2norm", "out", LV_CHECK_F64, o, c.out, N * C);
    grad_buf dx = grad_new(&r, N * C);
    lv_l2norm_backward(dx.grad, g, o, nr, N, C);
    fd_tensor t[] = { { "dinp", c.x, grad_delta(&dx), N * C, 0, 0 } };
    fd_check("l2norm", t, 1, l2norm_objective, &c, FD_MAX);
    grad_free(&dx);
    free(xr), free(g), free(o), free(nr), free(c.x), free(c.g), free(c.out);
}
END_TEST

/* ---- embeddings ----------------------------------------------------------------------------- */

typedef struct {
    double *table, *g, *out;
    const int32_t *ids;
    int64_t N, D;
} embedding_ctx;

static double embedding_objective(void *p)
{
    embedding_ctx *c = p;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t d = 0; d < c->D; d++)
            c->out[n * c->D + d] = c->table[c->ids[n] * c->D + d];
    return dot_f64(c->out, c->g, c->N * c->D);
}

START_TEST(test_embedding)
{
    lv_rng r = test_rng(800);
    const int64_t V = 11, D = 6, N = 20;
    int32_t ids[20];
    for (int64_t n = 0; n < N; n++)   /* repeated ids: their gradients must add up */
        ids[n] = (int32_t)lv_rng_below(&r, 5) * 2;
    float *table = rand_floats(&r, V * D, 1), *g = rand_floats(&r, N * D, 1), *out = zeros(N * D);
    printf("embedding V=%lld D=%lld N=%lld (repeated ids)\n", (long long)V, (long long)D,
           (long long)N);
    embedding_ctx c = { to_double(table, V * D), to_double(g, N * D),
                        calloc(N * D, sizeof(double)), ids, N, D };
    lv_embedding_forward(out, ids, table, N, V, D);
    embedding_objective(&c);
    compare_f32_f64("embedding", "out", LV_CHECK_F64, out, c.out, N * D);
    grad_buf dt = grad_new(&r, V * D);
    lv_embedding_backward(dt.grad, g, ids, N, V, D);
    fd_tensor t[] = { { "dtable", c.table, grad_delta(&dt), V * D, 0, 0 } };
    fd_check("embedding", t, 1, embedding_objective, &c, 0);
    grad_free(&dt);
    free(table), free(g), free(out), free(c.table), free(c.g), free(c.out);
}
END_TEST

typedef struct {
    double *x, *spatial, *temporal, *g, *out;
    const int64_t *kept;
    int64_t B, K, P, Ft, D;
} pos_ctx;

static double pos_objective(void *p)
{
    pos_ctx *c = p;
    r64_pos_embed(c->out, c->x, c->spatial, c->temporal, c->kept, c->B, c->K, c->P, c->Ft, c->D);
    return dot_f64(c->out, c->g, c->B * c->K * c->D);
}

START_TEST(test_pos_embed)
{
    /* hand case: P = 2 positions, Ft = 2 steps, D = 1; kept tokens 3 (t1,p1) and 0 (t0,p0) */
    const float sp[2] = { 10, 20 }, tp[2] = { 100, 200 }, in[2] = { 1, 2 };
    const int64_t kept_hand[2] = { 3, 0 };
    float o[2];
    lv_pos_embed_forward(o, in, sp, tp, kept_hand, 1, 2, 2, 2, 1);
    expect_floats("pos_embed forward (gathered by kept index)", o, (double[]){ 221, 112 }, 2, 0);

    lv_rng r = test_rng(810);
    const int64_t B = 2, P = 6, Ft = 4, N = P * Ft, K = 9, D = 5;
    int64_t kept[2 * 9], perm[24];
    for (int64_t b = 0; b < B; b++) {   /* a different random subset per sample */
        lv_rng_permutation(&r, perm, N);
        for (int64_t k = 0; k < K; k++)
            kept[b * K + k] = perm[k];
    }
    float *x = rand_floats(&r, B * K * D, 1), *s = rand_floats(&r, P * D, 1);
    float *t = rand_floats(&r, Ft * D, 1), *g = rand_floats(&r, B * K * D, 1);
    float *out = zeros(B * K * D);
    printf("pos_embed B=%lld K=%lld of N=%lld (P=%lld Ft=%lld) D=%lld\n", (long long)B,
           (long long)K, (long long)N, (long long)P, (long long)Ft, (long long)D);
    pos_ctx c = { to_double(x, B * K * D), to_double(s, P * D), to_double(t, Ft * D),
                  to_double(g, B * K * D), calloc(B * K * D, sizeof(double)), kept,
                  B, K, P, Ft, D };
    lv_pos_embed_forward(out, x, s, t, kept, B, K, P, Ft, D);
    pos_objective(&c);
    compare_f32_f64("pos_embed", "out", LV_CHECK_F64, out, c.out, B * K * D);
    grad_buf dx = grad_new(&r, B * K * D), ds = grad_new(&r, P * D), dtp = grad_new(&r, Ft * D);
    lv_pos_embed_backward(dx.grad, ds.grad, dtp.grad, g, kept, B, K, P, Ft, D);
    fd_tensor ft[] = { { "dinp", c.x, grad_delta(&dx), B * K * D, 0, 0 },
                       { "dspatial", c.spatial, grad_delta(&ds), P * D, 0, 0 },
                       { "dtemporal", c.temporal, grad_delta(&dtp), Ft * D, 0, 0 } };
    fd_check("pos_embed", ft, 3, pos_objective, &c, 0);
    grad_free(&dx), grad_free(&ds), grad_free(&dtp);
    free(x), free(s), free(t), free(g), free(out);
    free(c.x), free(c.spatial), free(c.temporal), free(c.g), free(c.out);
}
END_TEST

/* ---- tubelet embedding ---------------------------------------------------------------------- */

START_TEST(test_tubelet_hand)
{
    /* 2 frames of 2x2 RGB, one 2x2x2 tubelet; weight row 0 picks pixel (f1, y0, x1, G),
     * row 1 sums every element: element index ((dt*2 + dy)*2 + dx)*3 + c */
    float video[2 * 2 * 2 * 3], w[2 * 24] = { 0 }, out[2];
    for (int i = 0; i < 24; i++) {
        video[i] = (float)i;
        w[24 + i] = 1.0f;
    }
    w[((1 * 2 + 0) * 2 + 1) * 3 + 1] = 1.0f;
    const lv_tubelet_shape s = lv_tubelet_shape_make(2, 2, 2, 2, 2);
    lv_tubelet_embed_forward(out, video, w, (float[]){ 0.5f, 0 }, NULL, &s, 1, 1, 2);
    const double want[2] = { ((1 * 2 + 0) * 2 + 1) * 3 + 1 + 0.5, 23 * 24 / 2 };
    expect_floats("tubelet forward (voxel order dt,dy,dx,c)", out, want, 2, 0);
    int64_t Ft, Hp, Wp;
    const lv_tubelet_shape s2 = lv_tubelet_shape_make(16, 224, 224, 2, 16);
    ck_assert_int_eq(lv_tubelet_grid(&s2, &Ft, &Hp, &Wp), 8 * 14 * 14);
    const lv_tubelet_shape s3 = lv_tubelet_shape_make(256, 224, 224, 2, 16);
    ck_assert_int_eq(lv_tubelet_grid(&s3, NULL, NULL, NULL), 25088);   /* the paper's count */
}
END_TEST

typedef struct {
    double *video, *w, *b, *g, *out;
    const int64_t *kept;
    const lv_tubelet_shape *s;
    int64_t B, K, D;
} tubelet_ctx;

static double tubelet_objective(void *p)
{
    tubelet_ctx *c = p;
    r64_tubelet(c->out, c->video, c->w, c->b, c->kept, c->s, c->B, c->K, c->D);
    return dot_f64(c->out, c->g, c->B * c->K * c->D);
}

/* 2D patches (kt = 1); 2x3x3 tubelets with a ragged edge; TubeViT-like overlapping strided tubes
 * with an offset; a coarse 4x2x2 kernel on a kept subset. */
static const lv_tubelet_shape tubelet_shapes[] = {
    { .F = 1, .H = 6, .W = 4, .C = 3, .kt = 1, .kh = 2, .kw = 2, .st = 1, .sh = 2, .sw = 2 },
    { .F = 4, .H = 7, .W = 6, .C = 3, .kt = 2, .kh = 3, .kw = 3, .st = 2, .sh = 3, .sw = 3 },
    { .F = 5, .H = 6, .W = 6, .C = 3, .kt = 3, .kh = 3, .kw = 2, .st = 1, .sh = 2, .sw = 3,
      .ot = 1, .oh = 1, .ow = 0 },
    { .F = 8, .H = 4, .W = 4, .C = 3, .kt = 4, .kh = 2, .kw = 2, .st = 4, .sh = 2, .sw = 2 },
};

START_TEST(test_tubelet_random)
{
    const lv_tubelet_shape *s = &tubelet_shapes[_i];
    int64_t Ft, Hp, Wp;
    const int64_t N = lv_tubelet_grid(s, &Ft, &Hp, &Wp), B = 2, D = 5;
    const int64_t V = s->kt * s->kh * s->kw * s->C, vid = B * s->F * s->H * s->W * s->C;
    const int use_kept = _i == 3;
    const int64_t K = use_kept ? N / 2 : N;
    lv_rng r = test_rng(900 + _i);
    int64_t kept[64], perm[64];
    for (int64_t b = 0; use_kept && b < B; b++) {
        lv_rng_permutation(&r, perm, N);
        for (int64_t k = 0; k < K; k++)
            kept[b * K + k] = perm[k];
    }
    float *video = rand_floats(&r, vid, 1), *w = rand_floats(&r, D * V, 0.3);
    float *b = rand_floats(&r, D, 1), *g = rand_floats(&r, B * K * D, 1), *out = zeros(B * K * D);
    printf("tubelet %lldx%lldx%lldx%lld video, kernel %lldx%lldx%lld stride %lldx%lldx%lld "
           "offset %lld,%lld,%lld: grid %lldx%lldx%lld, %lld of %lld tokens kept\n",
           (long long)s->F, (long long)s->H, (long long)s->W, (long long)s->C, (long long)s->kt,
           (long long)s->kh, (long long)s->kw, (long long)s->st, (long long)s->sh,
           (long long)s->sw, (long long)s->ot, (long long)s->oh, (long long)s->ow, (long long)Ft,
           (long long)Hp, (long long)Wp, (long long)K, (long long)N);
    tubelet_ctx c = { to_double(video, vid), to_double(w, D * V), to_double(b, D),
                      to_double(g, B * K * D), calloc(B * K * D, sizeof(double)),
                      use_kept ? kept : NULL, s, B, K, D };
    lv_tubelet_embed_forward(out, video, w, b, c.kept, s, B, K, D);
    tubelet_objective(&c);
    compare_f32_f64("tubelet", "out", LV_CHECK_F64, out, c.out, B * K * D);
    grad_buf dv = grad_new(&r, vid), dw = grad_new(&r, D * V), db = grad_new(&r, D);
    lv_tubelet_embed_backward(dv.grad, dw.grad, db.grad, g, video, w, c.kept, s, B, K, D);
    fd_tensor t[] = { { "dvideo", c.video, grad_delta(&dv), vid, 0, 0 },
                      { "dweight", c.w, grad_delta(&dw), D * V, 0, 0 },
                      { "dbias", c.b, grad_delta(&db), D, 0, 0 } };
    fd_check("tubelet", t, 3, tubelet_objective, &c, FD_MAX);
    grad_free(&dv), grad_free(&dw), grad_free(&db);
    free(video), free(w), free(b), free(g), free(out);
    free(c.video), free(c.w), free(c.b), free(c.g), free(c.out);
}
END_TEST

Suite *kernels_suite(void)
{
    const test_row rows[] = {
        { "linear", test_linear_hand, 1 },
        { "linear", test_linear_random, 4 },
        { "layernorm", test_layernorm_hand, 1 },
        { "layernorm", test_layernorm_random, 3 },
        { "gelu", test_gelu_hand, 1 },
        { "gelu", test_gelu_random, 3 },
        { "quick_gelu", test_quick_gelu_hand, 1 },
        { "quick_gelu", test_quick_gelu_random, 3 },
        { "gelu_tanh", test_gelu_tanh_hand, 1 },
        { "gelu_tanh", test_gelu_tanh_random, 3 },
        { "attention", test_attention_hand, 1 },
        { "attention", test_attention_joint, 1 },
        { "attention", test_attention_factorized, 1 },
        { "attention", test_attention_cross, 1 },
        { "attention", test_attention_causal_hand, 1 },
        { "attention", test_attention_causal, 2 },
        { "residual", test_residual, 1 },
        { "residual", test_gated_residual, 3 },
        { "pool", test_mean_pool, 1 },
        { "pool", test_l2norm, 3 },
        { "embedding", test_embedding, 1 },
        { "embedding", test_pos_embed, 1 },
        { "tubelet", test_tubelet_hand, 1 },
        { "tubelet", test_tubelet_random, 4 },
    };
    return suite_from_rows("kernels", rows, sizeof rows / sizeof rows[0], 60, 0);
}
