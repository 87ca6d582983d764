/* AdamW against steps computed by hand from the formulas and against torch.optim.AdamW, the
 * warm-up + cosine schedule, global-norm clipping and the NaN/Inf check, on a hand-made table of
 * a decayed matrix, a frozen tensor and a bias without decay. No model, no files but the script. */
#include "adamw.h"
#include "blas_glue.h"
#include "check_util.h"
#include "error.h"
#include "suites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The toy table, in slab order: head.weight (2, 3) trainable with decay, text.embed (4) frozen,
 * head.bias (3) trainable without decay. The frozen tensor sits between the two trainable ones,
 * so parameter and gradient offsets differ for head.bias (10 vs 6). */
enum { N_TRAIN = 9, N_FROZEN = 4 };
typedef struct {
    lv_params ps;
    int64_t w, frozen, b;
    int decay[N_TRAIN];         /* the decay flag of each trainable float, gradient layout */
} toy;

static void toy_build_on(toy *t, lv_rng *r, const lv_backend *be)
{
    *t = (toy){ 0 };
    t->w = lv_params_add(&t->ps, "head.weight", &(lv_param_spec){ .ndim = 2, .shape = { 2, 3 },
                                                                  .trainable = 1, .decay = 1 });
    t->frozen = lv_params_add(&t->ps, "text.embed", &(lv_param_spec){ .ndim = 1,
                                                                      .shape = { N_FROZEN } });
    t->b = lv_params_add(&t->ps, "head.bias", &(lv_param_spec){ .ndim = 1, .shape = { 3 },
                                                                .trainable = 1 });
    ck_assert_int_eq(lv_params_alloc(&t->ps, be), 0);
    ck_assert_int_eq(t->ps.n_grad_floats, N_TRAIN);
    float *x = rand_floats(r, t->ps.n_floats, 1.0);
    memcpy(t->ps.data, x, (size_t)t->ps.n_floats * sizeof *x);
    free(x);
    for (int k = 0; k < N_TRAIN; k++)
        t->decay[k] = k < 6;
}

static void toy_build(toy *t, lv_rng *r)
{
    toy_build_on(t, r, &lv_backend_ref);
}

/* The trainable parameters in gradient layout (head.weight then head.bias). */
static void toy_params(const toy *t, float *out)
{
    for (int64_t i = 0; i < t->ps.count; i++)
        if (t->ps.p[i].grad_offset >= 0)
            memcpy(out + t->ps.p[i].grad_offset, lv_param_data(&t->ps, i),
                   (size_t)t->ps.p[i].numel * sizeof *out);
}

/* One float ulp relative to the value, at most: the step rounds each entry to float once. */
#define ULP_REL 1.2e-7

/* Step 1 in closed form: m = (1 - b1) g and v = (1 - b2) g^2, so the bias-corrected ratio is
 * g / (|g| + eps) and p1 = p0 (1 - lr wd [decay]) - lr g / (|g| + eps). With p0 = 0.5,
 * g = 0.25, lr = 1e-3, wd = 0.05 that is 0.499975 - 0.00099999996 = 0.49897500004. */
START_TEST(test_adamw_one_step)
{
    lv_rng r = test_rng(1);
    toy t;
    toy_build(&t, &r);
    lv_param_data(&t.ps, t.w)[0] = 0.5f;
    float *g = rand_floats(&r, N_TRAIN, 1.0);
    g[0] = 0.25f;
    memcpy(t.ps.grad, g, sizeof(float) * N_TRAIN);
    float p0[N_TRAIN], frozen0[N_FROZEN];
    toy_params(&t, p0);
    memcpy(frozen0, lv_param_data(&t.ps, t.frozen), sizeof frozen0);

    lv_adamw_config c = lv_adamw_defaults();
    c.lr = 1e-3;
    lv_adamw a;
    ck_assert_int_eq(lv_adamw_init(&a, &t.ps), 0);
    lv_adamw_step(&a, &t.ps, c.lr, &c);
    ck_assert_int_eq(a.t, 1);

    double want_p[N_TRAIN], want_m[N_TRAIN], want_v[N_TRAIN];
    for (int k = 0; k < N_TRAIN; k++) {
        const double gk = g[k];
        want_m[k] = 0.1 * gk;
        want_v[k] = 0.001 * gk * gk;
        want_p[k] = p0[k] * (t.decay[k] ? 1.0 - 1e-3 * 0.05 : 1.0) - 1e-3 * gk / (fabs(gk) + 1e-8);
    }
    ck_assert(fabs(want_p[0] - 0.49897500004) < 1e-15);
    float p1[N_TRAIN];
    toy_params(&t, p1);
    expect_close("step 1: parameters", p1, want_p, N_TRAIN, ULP_REL, 0.0);
    expect_close("step 1: first moments", a.m, want_m, N_TRAIN, ULP_REL, 0.0);
    expect_close("step 1: second moments", a.v, want_v, N_TRAIN, ULP_REL, 0.0);
    ck_assert(memcmp(frozen0, lv_param_data(&t.ps, t.frozen), sizeof frozen0) == 0);
    printf("  head.weight[0]: 0.5 -> %.9g (hand 0.49897500004); text.embed bit-identical\n",
           (double)p1[0]);
    lv_adamw_free(&a);
    lv_params_free(&t.ps);
    free(g);
}
END_TEST

/* A zero gradient leaves m = v = 0 and the Adam update 0 / (0 + eps) = 0, so what moves is
 * decay alone: head.weight becomes p (1 - lr wd), head.bias (no decay) stays bit for bit. */
START_TEST(test_adamw_decay_only_where_flagged)
{
    lv_rng r = test_rng(2);
    toy t;
    toy_build(&t, &r);
    float p0[N_TRAIN], p1[N_TRAIN];
    toy_params(&t, p0);
    lv_adamw_config c = lv_adamw_defaults();
    c.lr = 0.1;         /* lr * wd = 5e-3: a visible shrink */
    lv_adamw a;
    ck_assert_int_eq(lv_adamw_init(&a, &t.ps), 0);
    lv_adamw_step(&a, &t.ps, c.lr, &c);
    toy_params(&t, p1);
    double want[6];
    for (int k = 0; k < 6; k++)
        want[k] = p0[k] * (1.0 - 0.1 * 0.05);
    expect_close("zero grad: head.weight * 0.995", p1, want, 6, ULP_REL, 0.0);
    ck_assert(memcmp(p0 + 6, p1 + 6, 3 * sizeof(float)) == 0);
    for (int k = 0; k < N_TRAIN; k++)
        ck_assert(a.m[k] == 0.0f && a.v[k] == 0.0f);
    printf("  head.bias (decay 0) bit-identical after a zero-gradient step at lr 0.1\n");
    lv_adamw_free(&a);
    lv_params_free(&t.ps);
}
END_TEST

/* Three steps, a new gradient and learning rate each, against the recurrence written out in
 * double. The state is float (as stored and checkpointed), so the reference rounds p, m and v to
 * float after every step too; what remains is at most one float rounding per entry. */
START_TEST(test_adamw_three_steps)
{
    lv_rng r = test_rng(3);
    toy t;
    toy_build(&t, &r);
    float p0[N_TRAIN], frozen0[N_FROZEN];
    toy_params(&t, p0);
    memcpy(frozen0, lv_param_data(&t.ps, t.frozen), sizeof frozen0);
    const double lrs[3] = { 1e-3, 2e-3, 5e-4 }, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.05;
    lv_adamw_config c = lv_adamw_defaults();
    lv_adamw a;
    ck_assert_int_eq(lv_adamw_init(&a, &t.ps), 0);

    double p[N_TRAIN], m[N_TRAIN] = { 0 }, v[N_TRAIN] = { 0 };
    for (int k = 0; k < N_TRAIN; k++)
        p[k] = p0[k];
    for (int s = 0; s < 3; s++) {
        float *g = rand_floats(&r, N_TRAIN, 0.5);
        memcpy(t.ps.grad, g, sizeof(float) * N_TRAIN);
        lv_adamw_step(&a, &t.ps, lrs[s], &c);
        const double bc1 = 1.0 - pow(b1, s + 1), bc2 = 1.0 - pow(b2, s + 1);
        for (int k = 0; k < N_TRAIN; k++) {
            m[k] = (float)(b1 * m[k] + (1.0 - b1) * g[k]);
            v[k] = (float)(b2 * v[k] + (1.0 - b2) * (double)g[k] * g[k]);
            const double decayed = t.decay[k] ? p[k] * (1.0 - lrs[s] * wd) : p[k];
            p[k] = (float)(decayed - lrs[s] * (m[k] / bc1) / (sqrt(v[k] / bc2) + eps));
        }
        free(g);
    }
    ck_assert_int_eq(a.t, 3);
    float p3[N_TRAIN];
    toy_params(&t, p3);
    expect_close("3 steps: parameters", p3, p, N_TRAIN, ULP_REL, 0.0);
    expect_close("3 steps: first moments", a.m, m, N_TRAIN, ULP_REL, 0.0);
    expect_close("3 steps: second moments", a.v, v, N_TRAIN, ULP_REL, 0.0);
    ck_assert(memcmp(frozen0, lv_param_data(&t.ps, t.frozen), sizeof frozen0) == 0);
    printf("  head.bias[0]: %.9g -> %.9g (hand %.9g); text.embed bit-identical\n",
           (double)p0[6], (double)p3[6], p[6]);
    lv_adamw_free(&a);
    lv_params_free(&t.ps);
}
END_TEST

static int have_torch(void)
{
    return system("OMP_NUM_THREADS=1 /usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

static void print_list(FILE *f, const char *name, const float *x, int n)
{
    fprintf(f, "%s = [", name);
    for (int k = 0; k < n; k++)
        fprintf(f, "%s%.9g", k ? ", " : "", (double)x[k]);
    fprintf(f, "]\n");
}

/* torch.optim.AdamW with two parameter groups (weight_decay 0.05 on head.weight, 0 on
 * head.bias), clip_grad_norm_(max_norm=1) and the schedule's lr per step, three steps with
 * gradients whose norm is about 3 (so every step clips). Our side runs the same steps with
 * lv_clip_grad_norm, lv_lr_at and lv_adamw_step. Torch rounds to float32 after every operation
 * (two roundings of p per step, m, v, sqrt, the division) and divides by norm + 1e-6 when
 * clipping, where ours works in double and divides by the norm: at norm ~3 that makes torch's
 * clipped g 3.3e-7 smaller, its g^2 6.7e-7 smaller. Tolerances: 1e-6 relative on the parameters
 * (Adam's ratio hardly sees the scale), 2e-6 on the moments. */
START_TEST(test_adamw_vs_torch)
{
    if (!have_torch()) {
        test_skip("adamw vs torch: /usr/bin/python3 cannot import torch (apt-get install "
                  "python3-torch, or bash tools/install-deps.sh)");
        return;
    }
    lv_rng r = test_rng(4);
    toy t;
    toy_build(&t, &r);
    float p0[N_TRAIN];
    toy_params(&t, p0);
    lv_adamw_config c = lv_adamw_defaults();
    c.lr = 1e-2;
    c.warmup = 2;
    c.total = 4;
    c.min_lr_ratio = 0.1;
    lv_adamw a;
    ck_assert_int_eq(lv_adamw_init(&a, &t.ps), 0);

    char script[TEST_PATH_BYTES], cmd[TEST_PATH_BYTES + 64];
    tmp_path(script, "adamw_torch.py");
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "import torch\ntorch.set_num_threads(1)\n");
    print_list(f, "p0", p0, N_TRAIN);
    fprintf(f, "grads, lrs = [], []\n");
    double norms[3];
    for (int s = 0; s < 3; s++) {
        float *g = rand_floats(&r, N_TRAIN, 1.0);
        print_list(f, "g", g, N_TRAIN);
        fprintf(f, "grads.append(g)\nlrs.append(%.17g)\n", lv_lr_at(&c, s));
        memcpy(t.ps.grad, g, sizeof(float) * N_TRAIN);
        norms[s] = lv_clip_grad_norm(&t.ps, c.clip);
        lv_adamw_step(&a, &t.ps, lv_lr_at(&c, s), &c);
        free(g);
    }
    fprintf(f,
            "w = torch.tensor(p0[:6]).reshape(2, 3).requires_grad_()\n"
            "b = torch.tensor(p0[6:]).requires_grad_()\n"
            "opt = torch.optim.AdamW([{'params': [w], 'weight_decay': %.17g},\n"
            "                         {'params': [b], 'weight_decay': 0.0}],\n"
            "                        lr=lrs[0], betas=(%.17g, %.17g), eps=%.17g)\n"
            "for g, lr in zip(grads, lrs):\n"
            "    w.grad = torch.tensor(g[:6]).reshape(2, 3)\n"
            "    b.grad = torch.tensor(g[6:])\n"
            "    torch.nn.utils.clip_grad_norm_([w, b], max_norm=%.17g)\n"
            "    for group in opt.param_groups:\n"
            "        group['lr'] = lr\n"
            "    opt.step()\n"
            "def show(x, y):\n"
            "    print(' '.join('%%.9g' %% e for e in x.flatten().tolist() + y.tolist()))\n"
            "show(w.detach(), b.detach())\n"
            "show(opt.state[w]['exp_avg'], opt.state[b]['exp_avg'])\n"
            "show(opt.state[w]['exp_avg_sq'], opt.state[b]['exp_avg_sq'])\n",
            c.weight_decay, c.beta1, c.beta2, c.eps, c.clip);
    ck_assert_int_eq(fclose(f), 0);

    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 /usr/bin/python3 '%s'", script);
    FILE *py = popen(cmd, "r");
    ck_assert_ptr_nonnull(py);
    double want[3][N_TRAIN];
    for (int row = 0; row < 3; row++)
        for (int k = 0; k < N_TRAIN; k++)
            ck_assert_int_eq(fscanf(py, "%lf", &want[row][k]), 1);
    ck_assert_int_eq(pclose(py), 0);

    float p3[N_TRAIN];
    toy_params(&t, p3);
    printf("  gradient norms before clipping %.4f %.4f %.4f (clip 1), lrs %.4g %.4g %.4g\n",
           norms[0], norms[1], norms[2], lv_lr_at(&c, 0), lv_lr_at(&c, 1), lv_lr_at(&c, 2));
    expect_close("vs torch AdamW: parameters", p3, want[0], N_TRAIN, 1e-6, 0.0);
    expect_close("vs torch AdamW: exp_avg", a.m, want[1], N_TRAIN, 2e-6, 0.0);
    expect_close("vs torch AdamW: exp_avg_sq", a.v, want[2], N_TRAIN, 2e-6, 0.0);
    lv_adamw_free(&a);
    lv_params_free(&t.ps);
}
END_TEST

/* Warm-up 10 and decay to step 110, peak 1e-4, floor 1e-5: the ramp, the peak held at steps 9
 * and 10, the cosine quarter and midpoint, the floor at 110 and beyond. */
START_TEST(test_lr_schedule)
{
    lv_adamw_config c = lv_adamw_defaults();
    c.lr = 1e-4;
    c.warmup = 10;
    c.total = 110;
    c.min_lr_ratio = 0.1;
    static const struct { int64_t step; double want; const char *what; } rows[] = {
        { 0, 1e-5, "warm-up 1/10" },
        { 4, 5e-5, "warm-up 5/10" },
        { 9, 1e-4, "peak (end of warm-up)" },
        { 10, 1e-4, "peak (cosine start)" },
        { 35, 1e-5 + 9e-5 * 0.5 * (1.0 + 0.70710678118654752), "cosine quarter" },
        { 60, (1e-4 + 1e-5) / 2, "cosine midpoint (lr + min) / 2" },
        { 110, 1e-5, "end = min" },
        { 5000, 1e-5, "beyond total stays min" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const double got = lv_lr_at(&c, rows[i].step);
        ck_assert_msg(fabs(got - rows[i].want) <= 1e-12 * rows[i].want, "step %lld: %.17g vs %.17g",
                      (long long)rows[i].step, got, rows[i].want);
        printf("  step %4lld  lr %.10e  (%s)\n", (long long)rows[i].step, got, rows[i].what);
    }
    for (int64_t s = 10; s < 200; s++)
        ck_assert(lv_lr_at(&c, s + 1) <= lv_lr_at(&c, s));
    c.total = 0;
    ck_assert(lv_lr_at(&c, 9) == 1e-4 && lv_lr_at(&c, 1000) == 1e-4);
    c.warmup = 0;
    ck_assert(lv_lr_at(&c, 0) == 1e-4);
    printf("  non-increasing after warm-up over steps 10..200 (tol 1e-12 rel above); total 0: "
           "constant 1e-4 after warm-up\n");
}
END_TEST

/* Gradients (1, 2, 2, 0, 0, 0) and (0, 4, 0): norm sqrt(1 + 4 + 4 + 16) = 5 exactly. */
START_TEST(test_clip_grad_norm)
{
    lv_rng r = test_rng(5);
    toy t;
    toy_build(&t, &r);
    static const float g[N_TRAIN] = { 1, 2, 2, 0, 0, 0, 0, 4, 0 };
    memcpy(t.ps.grad, g, sizeof g);
    ck_assert(lv_grad_norm(&t.ps) == 5.0);
    ck_assert(lv_clip_grad_norm(&t.ps, 10.0) == 5.0);
    ck_assert(memcmp(t.ps.grad, g, sizeof g) == 0);
    ck_assert(lv_clip_grad_norm(&t.ps, 0.0) == 5.0);
    ck_assert(memcmp(t.ps.grad, g, sizeof g) == 0);
    printf("  norm 5 (hand 5); clip 10 and clip 0 (off) leave the gradients bit-identical\n");

    ck_assert(lv_clip_grad_norm(&t.ps, 1.0) == 5.0);
    double want[N_TRAIN];
    for (int k = 0; k < N_TRAIN; k++)
        want[k] = g[k] / 5.0;
    expect_close("clip 1: gradients / 5", t.ps.grad, want, N_TRAIN, ULP_REL, 0.0);
    const double after = lv_grad_norm(&t.ps);
    ck_assert(fabs(after - 1.0) <= 1e-7);
    printf("  norm after clipping to 1: %.12f\n", after);
    lv_params_free(&t.ps);

    /* Double accumulation: 3e5 gradients against a long double sum, within 1e-12; a float
     * accumulator, summed here for contrast, is far outside that. */
    lv_params big = { 0 };
    lv_params_add(&big, "a.weight", &(lv_param_spec){ .ndim = 1, .shape = { 100000 },
                                                      .trainable = 1, .decay = 1 });
    lv_params_add(&big, "a.frozen", &(lv_param_spec){ .ndim = 1, .shape = { 100000 } });
    lv_params_add(&big, "b.weight", &(lv_param_spec){ .ndim = 1, .shape = { 100000 },
                                                      .trainable = 1, .decay = 1 });
    lv_params_add(&big, "c.bias", &(lv_param_spec){ .ndim = 1, .shape = { 100000 },
                                                    .trainable = 1 });
    ck_assert_int_eq(lv_params_alloc(&big, &lv_backend_ref), 0);
    float *x = rand_floats(&r, big.n_grad_floats, 1.0);
    memcpy(big.grad, x, (size_t)big.n_grad_floats * sizeof *x);
    long double sum = 0.0L;
    float sum_f32 = 0.0f;
    for (int64_t k = 0; k < big.n_grad_floats; k++) {
        sum += (long double)x[k] * x[k];
        sum_f32 += x[k] * x[k];
    }
    const double hand = (double)sqrtl(sum), got = lv_grad_norm(&big);
    const double f32_err = fabs(sqrt(sum_f32) - hand) / hand;
    ck_assert(fabs(got - hand) <= 1e-12 * hand);
    ck_assert(f32_err > 1e-12);
    printf("  3e5 gradients: norm %.12f vs long double %.12f (rel err %.1e, tol 1e-12; "
           "a float sum: %.1e)\n", got, hand, fabs(got - hand) / hand, f32_err);
    free(x);
    lv_params_free(&big);
}
END_TEST

/* The training loop's fused step: clipping folded into the update gives the parameters and
 * moments of clip-then-step bit for bit, on both backends, and leaves the gradients unscaled. */
START_TEST(test_adamw_clip_step_fused)
{
    const lv_backend *backends[2] = { &lv_backend_ref, &lv_backend_cpu };
    static const float g[N_TRAIN] = { 1, 2, 2, 0, 0, 0, 0, 4, 0 };     /* norm 5 */
    for (int b = 0; b < 2; b++)
        for (int clipped = 0; clipped < 2; clipped++) {
            lv_rng r1 = test_rng(6), r2 = test_rng(6);
            toy t1, t2;
            toy_build_on(&t1, &r1, backends[b]);
            toy_build_on(&t2, &r2, backends[b]);
            lv_adamw a1, a2;
            ck_assert_int_eq(lv_adamw_init(&a1, &t1.ps), 0);
            ck_assert_int_eq(lv_adamw_init(&a2, &t2.ps), 0);
            lv_adamw_config c = lv_adamw_defaults();
            c.clip = clipped ? 1.0 : 10.0;
            for (int s = 0; s < 3; s++) {
                memcpy(t1.ps.grad, g, sizeof g);
                memcpy(t2.ps.grad, g, sizeof g);
                const double n1 = lv_clip_grad_norm(&t1.ps, c.clip);
                lv_adamw_step(&a1, &t1.ps, 1e-2, &c);
                const double n2 = lv_adamw_clip_step(&a2, &t2.ps, 1e-2, &c);
                ck_assert(n1 == 5.0 && n2 == 5.0);
                ck_assert(memcmp(t2.ps.grad, g, sizeof g) == 0);
            }
            ck_assert(memcmp(t1.ps.data, t2.ps.data,
                             (size_t)t1.ps.n_floats * sizeof(float)) == 0);
            ck_assert(memcmp(a1.m, a2.m, N_TRAIN * sizeof(float)) == 0);
            ck_assert(memcmp(a1.v, a2.v, N_TRAIN * sizeof(float)) == 0);
            printf("  %s backend, clip %s: 3 fused steps bit-identical to clip then step\n",
                   backends[b]->name, clipped ? "active (norm 5 > 1)" : "inactive");
            lv_adamw_free(&a1), lv_adamw_free(&a2);
            lv_params_free(&t1.ps), lv_params_free(&t2.ps);
        }
}
END_TEST

START_TEST(test_grads_finite)
{
    lv_rng r = test_rng(6);
    toy t;
    toy_build(&t, &r);
    ck_assert_int_eq(lv_grads_finite(&t.ps), 0);
    lv_param_grad(&t.ps, t.b)[1] = NAN;
    ck_assert_int_eq(lv_grads_finite(&t.ps), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), "head.bias"));
    ck_assert_ptr_nonnull(strstr(lv_error(), "NaN"));
    ck_assert_ptr_nonnull(strstr(lv_error(), "entry 1 of 3"));
    printf("  NaN: %s\n", lv_error());
    lv_param_grad(&t.ps, t.w)[4] = -INFINITY;
    ck_assert_int_eq(lv_grads_finite(&t.ps), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), "head.weight"));
    ck_assert_ptr_nonnull(strstr(lv_error(), "-Inf"));
    printf("  Inf (first in table order): %s\n", lv_error());
    lv_param_data(&t.ps, t.frozen)[0] = NAN;        /* a frozen tensor has no gradient */
    lv_param_grad(&t.ps, t.w)[4] = 0.0f;
    lv_param_grad(&t.ps, t.b)[1] = 0.0f;
    ck_assert_int_eq(lv_grads_finite(&t.ps), 0);
    lv_params_free(&t.ps);
}
END_TEST

Suite *adamw_suite(void)
{
    const test_row rows[] = {
        { "adamw", test_adamw_one_step, 1 },
        { "adamw", test_adamw_decay_only_where_flagged, 1 },
        { "adamw", test_adamw_three_steps, 1 },
        { "adamw", test_adamw_vs_torch, 1 },
        { "schedule", test_lr_schedule, 1 },
        { "clipping", test_clip_grad_norm, 1 },
        { "clipping", test_adamw_clip_step_fused, 1 },
        { "clipping", test_grads_finite, 1 },
    };
    return suite_from_rows("adamw", rows, sizeof rows / sizeof rows[0], 120, 1);
}
