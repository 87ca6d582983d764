/* Check suite for the video-to-text graph (ref/v2t.c) on the tiny preset: at gates 0 the
 * model's logits are the frozen LM's bit for bit (and not once a gate opens); every trainable
 * tensor's gradient against central finite differences of the loss, for the whole stage and for
 * the LM's own pretraining, with a deliberately broken gradient that must fail; the cpu and
 * cuda-host backends against ref. Seeded; every figure checked is printed. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "blas_glue.h"
#include "rng.h"
#include "train.h"
#include "v2t.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 3
#define TEXT 12
#define PROMPT 4                 /* the first rows of every caption take no loss */

typedef struct {
    float *video;
    int32_t *ids, *targets;
    uint8_t *valid;
    lv_v2t_batch b;
} v2t_data;

static lv_config tiny(void)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "tiny"), 0);
    return c;
}

/* Pixels N(0, 0.5^2); captions of 12, 9 and 6 tokens (the rest padding), the first PROMPT of
 * each without loss, every other position predicting the next token. */
static void v2t_batch_make(v2t_data *d, const lv_config *c, uint64_t seed)
{
    const int64_t B = BATCH, T = TEXT, S = c->image_size;
    const int64_t n = B * c->frames * S * S * 3, V = lv_config_lm_vocab(c);
    d->video = malloc((size_t)n * sizeof(float));
    d->ids = malloc((size_t)(B * T) * sizeof(int32_t));
    d->targets = malloc((size_t)(B * T) * sizeof(int32_t));
    d->valid = malloc((size_t)(B * T));
    ck_assert(d->video && d->ids && d->targets && d->valid);
    lv_rng r = lv_rng_stream(seed, LV_RNG_TEST, 0, 0);
    for (int64_t i = 0; i < n; i++)
        d->video[i] = 0.5f * (float)lv_rng_normal(&r);
    const int64_t len[BATCH] = { 12, 9, 6 };
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            d->ids[b * T + t] = t < len[b] ? (int32_t)(4 + lv_rng_below(&r, (uint64_t)(V - 4))) : 0;
            d->valid[b * T + t] = t < len[b];
        }
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            d->targets[b * T + t] = t >= PROMPT - 1 && t + 1 < len[b] ? d->ids[b * T + t + 1] : -1;
    d->b = (lv_v2t_batch){ .B = B, .T = T, .video = d->video, .ids = d->ids,
                           .targets = d->targets, .valid = d->valid };
}

static void v2t_batch_free(v2t_data *d)
{
    free(d->video);
    free(d->ids);
    free(d->targets);
    free(d->valid);
}

static void build(lv_v2t *v, const lv_config *c, const lv_backend *be, int lm_only)
{
    ck_assert_msg(lv_v2t_build(v, c, be, lm_only) == 0, "%s", lv_error());
    ck_assert_msg(lv_v2t_alloc_acts(v, BATCH, TEXT) == 0, "%s", lv_error());
}

/* Sets every entry of the named parameters (a suffix match) to value. */
static void set_params(lv_v2t *v, const char *suffix, float value)
{
    lv_params *ps = &v->params;
    for (int64_t i = 0; i < ps->count; i++) {
        const size_t n = strlen(ps->p[i].name), k = strlen(suffix);
        if (n >= k && !strcmp(ps->p[i].name + n - k, suffix))
            v->be->set(lv_param_data(ps, i), value, ps->p[i].numel);
    }
}

static float *logits_of(lv_v2t *v, const v2t_data *d)
{
    const float loss = lv_v2t_forward(v, &d->b);
    ck_assert_msg(isfinite(loss), "loss %g: %s", loss, lv_error());
    const int64_t n = BATCH * TEXT * v->V;
    float *out = malloc((size_t)n * sizeof(float));
    ck_assert(out);
    v->be->download(out, v->logits, (size_t)n * sizeof(float));
    return out;
}

/* At gates 0 the cross-attention layers add exact zeros: the logits are the LM's, bit for bit,
 * on every backend; one open gate changes them (the comparison can fail). */
START_TEST(test_gates_zero_is_lm)
{
    static const char *const names[] = { "ref", "cpu", "cuda-host" };
    const lv_config c = tiny();
    v2t_data d;
    v2t_batch_make(&d, &c, 11);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const lv_backend *be = lv_backend_find(names[k]);
        if (!be)
            continue;
        lv_v2t full, lm;
        build(&full, &c, be, 0);
        build(&lm, &c, be, 1);
        float *a = logits_of(&full, &d), *b = logits_of(&lm, &d);
        const int64_t n = BATCH * TEXT * full.V;
        int64_t differ = 0;
        for (int64_t i = 0; i < n; i++)
            differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
        ck_assert_msg(differ == 0, "%s: %lld of %lld logits differ at gates 0", names[k],
                      (long long)differ, (long long)n);
        set_params(&full, "xattn.0.attn_gate", 0.25f);
        float *opened = logits_of(&full, &d);
        int64_t moved = 0;
        for (int64_t i = 0; i < n; i++)
            moved += opened[i] != b[i];
        ck_assert_msg(moved > n / 2, "%s: an open gate moved only %lld of %lld logits",
                      names[k], (long long)moved, (long long)n);
        printf("  gates 0 on %-9s: %lld logits equal the frozen LM's bit for bit; "
               "attn_gate 0.25 moves %lld\n", names[k], (long long)n, (long long)moved);
        free(a);
        free(b);
        free(opened);
        lv_v2t_free(&full);
        lv_v2t_free(&lm);
    }
    v2t_batch_free(&d);
}
END_TEST

/* ---- finite differences ------------------------------------------------------------------------
 * The loss of the fp32 model (ref backend: every sum in double, stored in fp32) at x +- h, x +-
 * 2h gives the five-point derivative n = (L(-2h) - 8 L(-h) + 8 L(h) - L(2h)) / 12h, h = 2^-7
 * scaled to |x|. The loss (~4) is rounded to fp32 once (ulp 4.8e-7), which puts about
 * 0.95 ulp / h ~ 6e-5 of noise into n; the tolerance is 1.5e-4 + 1e-2 max(|a|, |n|) (that
 * noise with room, and a relative part for the stencil's truncation). The test of the test
 * scales the gradient of the tensor with the largest entry by 1.05, which must fail. */

#define PROBES 3

typedef struct {
    int64_t tensors, entries;
    double max_rel, max_margin;
    char worst[64];
} fd_result;

static double loss_at(lv_v2t *v, const v2t_data *d, float *x, double value)
{
    const float keep = *x;
    *x = (float)value;
    const double loss = lv_v2t_forward(v, &d->b);
    *x = keep;
    return loss;
}

/* corrupt: 1 scales the analytic gradient of the tensor with the largest entry by 1.05 before
 * comparing */
static fd_result gradcheck(lv_v2t *v, const v2t_data *d, int corrupt)
{
    lv_params *ps = &v->params;
    lv_params_zero_grad(ps);
    ck_assert(isfinite(lv_v2t_forward(v, &d->b)));
    lv_v2t_backward(v, &d->b);
    fd_result res = { 0 };
    int64_t broken = -1;
    float top = 0.0f;
    for (int64_t i = 0; corrupt && i < ps->count; i++)
        for (int64_t k = 0; lv_param_grad(ps, i) && k < ps->p[i].numel; k++)
            if (fabsf(lv_param_grad(ps, i)[k]) > top) {
                top = fabsf(lv_param_grad(ps, i)[k]);
                broken = i;
            }
    lv_rng r = lv_rng_stream(5, LV_RNG_TEST, 1, 0);
    for (int64_t i = 0; i < ps->count; i++) {
        const float *g = lv_param_grad(ps, i);
        if (!g)
            continue;
        res.tensors++;
        float *x = lv_param_data(ps, i);
        const int64_t n = ps->p[i].numel;
        int64_t at[PROBES], largest = 0;
        for (int64_t k = 1; k < n; k++)
            largest = fabsf(g[k]) > fabsf(g[largest]) ? k : largest;
        at[0] = largest;
        for (int k = 1; k < PROBES; k++)
            at[k] = (int64_t)lv_rng_below(&r, (uint64_t)n);
        for (int k = 0; k < PROBES && k < n; k++) {
            const double x0 = x[at[k]];
            const double h = ldexp(1.0, -7) * (fabs(x0) > 1.0 ? exp2(ceil(log2(fabs(x0)))) : 1.0);
            const double num = (loss_at(v, d, &x[at[k]], x0 - 2 * h)
                                - 8 * loss_at(v, d, &x[at[k]], x0 - h)
                                + 8 * loss_at(v, d, &x[at[k]], x0 + h)
                                - loss_at(v, d, &x[at[k]], x0 + 2 * h)) / (12 * h);
            double ana = g[at[k]];
            if (i == broken)
                ana *= 1.05;
            const double err = fabs(ana - num), big = fmax(fabs(ana), fabs(num));
            const double tol = 1.5e-4 + 1e-2 * big, margin = isfinite(err) ? err / tol : INFINITY;
            const double rel = err / fmax(big, 0.1);
            res.entries++;
            if (margin > res.max_margin) {
                res.max_margin = margin;
                snprintf(res.worst, sizeof res.worst, "%s", ps->p[i].name);
            }
            res.max_rel = fmax(res.max_rel, rel);
        }
    }
    return res;
}

static void open_gates(lv_v2t *v)
{
    set_params(v, "attn_gate", 0.7f);       /* gates at 0 would hide every branch's gradient */
    set_params(v, "ff_gate", -0.5f);
}

/* The whole check on the ref backend: the stage with its gates opened, or the LM alone. */
static void check_gradients(int lm_only, uint64_t seed, const char *what)
{
    const lv_config c = tiny();
    v2t_data d;
    v2t_batch_make(&d, &c, seed);
    lv_v2t v;
    build(&v, &c, &lv_backend_ref, lm_only);
    if (!lm_only)
        open_gates(&v);
    const fd_result r = gradcheck(&v, &d, 0);
    printf("  %s gradcheck: %lld tensors, %lld entries, max rel err %.2e, worst margin %.2f "
           "(%s)\n", what, (long long)r.tensors, (long long)r.entries, r.max_rel, r.max_margin,
           r.worst);
    ck_assert_msg(r.max_margin <= 1.0, "worst margin %.2f at %s", r.max_margin, r.worst);
    /* the test of the test: one gradient 5% off must fail */
    const fd_result bad = gradcheck(&v, &d, 1);
    printf("  the same with the largest gradient's tensor x1.05: worst margin %.2f (%s)\n",
           bad.max_margin, bad.worst);
    ck_assert_msg(bad.max_margin > 1.0, "a 5%% error passed (margin %.2f)", bad.max_margin);
    lv_v2t_free(&v);
    v2t_batch_free(&d);
}

START_TEST(test_gradcheck_stage)
{
    check_gradients(0, 12, "v2t (resampler + cross-attention)");
}
END_TEST

START_TEST(test_gradcheck_lm)
{
    check_gradients(1, 13, "LM pretraining");
}
END_TEST

/* cpu and cuda-host against ref: the loss and every trainable gradient of one step, in units of
 * the tensor's largest entry (fp32 sums in another order: ~1e-6; 2e-5 allowed). A gate's
 * gradient is one entry, a sum of B T W products that cancel (fp32 in another order against
 * double: ~sqrt(n) eps of the terms, which are ~10x the sum): 2e-4 for single-entry tensors. */
START_TEST(test_backends_match_ref)
{
    static const char *const names[] = { "cpu", "cuda-host" };
    const lv_config c = tiny();
    v2t_data d;
    v2t_batch_make(&d, &c, 14);
    lv_v2t ref;
    build(&ref, &c, &lv_backend_ref, 0);
    open_gates(&ref);
    lv_params_zero_grad(&ref.params);
    const float want = lv_v2t_forward(&ref, &d.b);
    lv_v2t_backward(&ref, &d.b);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const lv_backend *be = lv_backend_find(names[k]);
        if (!be)
            continue;
        lv_v2t v;
        build(&v, &c, be, 0);
        open_gates(&v);
        lv_params_zero_grad(&v.params);
        const float got = lv_v2t_forward(&v, &d.b);
        lv_v2t_backward(&v, &d.b);
        const double loss_rel = fabs(got - want) / fabs(want);
        double worst = 0.0;
        char worst_name[64] = "";
        for (int64_t i = 0; i < v.params.count; i++) {
            const int64_t n = v.params.p[i].numel;
            const float *gw = lv_param_grad(&ref.params, i), *gg = lv_param_grad(&v.params, i);
            if (!gw)
                continue;
            float *host = malloc((size_t)n * sizeof(float));
            ck_assert(host);
            be->download(host, gg, (size_t)n * sizeof(float));
            double scale = 1e-30, err = 0.0;
            for (int64_t e = 0; e < n; e++) {
                scale = fmax(scale, fabs(gw[e]));
                err = fmax(err, fabs((double)host[e] - gw[e]));
            }
            const double allowed = n == 1 ? 2e-4 : 2e-5;
            if (err / scale / allowed > worst) {
                worst = err / scale / allowed;
                snprintf(worst_name, sizeof worst_name, "%s", v.params.p[i].name);
            }
            free(host);
        }
        printf("  %-9s vs ref: loss rel diff %.2e, gradients worst margin %.2f (%s)\n",
               names[k], loss_rel, worst, worst_name);
        ck_assert_msg(loss_rel <= 2e-6, "%s loss %g vs %g", names[k], got, want);
        ck_assert_msg(worst <= 1.0, "%s gradient %s off by %.2f of its tolerance", names[k],
                      worst_name, worst);
        lv_v2t_free(&v);
    }
    lv_v2t_free(&ref);
    v2t_batch_free(&d);
}
END_TEST

/* The per-sample log-likelihoods sum to minus the loss times the number of target tokens. */
START_TEST(test_score_matches_loss)
{
    const lv_config c = tiny();
    v2t_data d;
    v2t_batch_make(&d, &c, 15);
    lv_v2t v;
    build(&v, &c, &lv_backend_ref, 0);
    open_gates(&v);
    const double loss = lv_v2t_forward(&v, &d.b);
    double score[BATCH], sum = 0.0;
    lv_v2t_score(&v, &d.b, score);
    int64_t n = 0;
    for (int64_t i = 0; i < BATCH * TEXT; i++)
        n += d.targets[i] >= 0;
    for (int b = 0; b < BATCH; b++)
        sum += score[b];
    const double rel = fabs(sum + loss * (double)n) / (loss * (double)n);
    printf("  scores %.6f %.6f %.6f sum to -loss x %lld targets within %.1e\n", score[0],
           score[1], score[2], (long long)n, rel);
    ck_assert_msg(rel <= 1e-6, "scores sum %g, -loss n %g", sum, -loss * (double)n);
    lv_v2t_free(&v);
    v2t_batch_free(&d);
}
END_TEST

/* Training lowers the loss: the LM memorises three captions (then greedy decoding from each
 * prompt writes the rest back, and beam search agrees), and the stage's resampler and
 * cross-attention, on top of that untrained LM frozen, fit the same captions better than the LM
 * alone (4.17 -> 3.52; the gates leave 0). 3.52 is a floor of the frozen random LM, not of the
 * stage: its final LayerNorm (weights 1) and tied embedding (N(0, 0.02), 32 wide) bound every
 * logit to about +-0.6, and the stage reaches the same 3.5195 with its gates opened at 0.7 or
 * its latents drawn at 0.02 instead of 1. */
START_TEST(test_training_and_decoding)
{
    const lv_config c = tiny();
    v2t_data d;
    v2t_batch_make(&d, &c, 16);
    lv_adamw_config opt = lv_adamw_defaults();
    opt.lr = 1e-2;
    opt.warmup = 0;
    opt.total = 0;
    opt.weight_decay = 0.0;
    lv_v2t lm;
    build(&lm, &c, &lv_backend_cpu, 1);
    lv_adamw adam;
    ck_assert_int_eq(lv_adamw_init(&adam, &lm.params), 0);
    lv_step_stats st;
    double first = 0.0;
    for (int64_t s = 0; s < 150; s++) {
        ck_assert_msg(lv_v2t_train_step(&lm, &adam, &opt, &d.b, s, &st) == 0, "%s", lv_error());
        if (s == 0)
            first = st.loss;
    }
    printf("  LM pretraining, 150 steps on 3 captions: loss %.4f -> %.4f\n", first, st.loss);
    ck_assert_msg(st.loss < 0.05 * first, "the LM did not learn (%g -> %g)", first, st.loss);
    /* greedy from each caption's prompt gives its continuation back */
    const int64_t len[BATCH] = { 12, 9, 6 };
    for (int b = 0; b < BATCH; b++) {
        int32_t got[TEXT];
        const lv_v2t_decode dec = { .max_new = len[b] - PROMPT, .beam = 1, .eos = -1 };
        const int64_t n = lv_v2t_generate(&lm, NULL, d.ids + b * TEXT, PROMPT, &dec, got);
        ck_assert_int_eq(n, len[b] - PROMPT);
        for (int64_t t = 0; t < n; t++)
            ck_assert_msg(got[t] == d.ids[b * TEXT + PROMPT + t], "caption %d token %lld: %d "
                          "instead of %d", b, (long long)t, got[t], d.ids[b * TEXT + PROMPT + t]);
        const lv_v2t_decode beam = { .max_new = len[b] - PROMPT, .beam = 3, .eos = -1 };
        int32_t got3[TEXT];
        ck_assert_int_eq(lv_v2t_generate(&lm, NULL, d.ids + b * TEXT, PROMPT, &beam, got3), n);
        ck_assert_msg(!memcmp(got, got3, (size_t)n * sizeof(int32_t)),
                      "beam 3 disagrees with greedy on a memorised caption %d", b);
    }
    printf("  greedy and beam-3 decoding write each memorised caption back from its prompt\n");
    lv_adamw_free(&adam);
    lv_v2t_free(&lm);
    /* the stage: only the resampler and cross-attention train; the loss falls below the LM's */
    lv_v2t v;
    build(&v, &c, &lv_backend_cpu, 0);
    ck_assert_int_eq(lv_adamw_init(&adam, &v.params), 0);
    for (int64_t s = 0; s < 120; s++) {
        ck_assert_msg(lv_v2t_train_step(&v, &adam, &opt, &d.b, s, &st) == 0, "%s", lv_error());
        if (s == 0)
            first = st.loss;
    }
    float gate;
    v.be->download(&gate, lv_param_data(&v.params, lv_params_find(&v.params,
                                                                  "xattn.0.attn_gate")),
                   sizeof gate);
    printf("  video-to-text stage, 120 steps, LM frozen: loss %.4f -> %.4f, xattn.0.attn_gate "
           "0 -> %.4f\n", first, st.loss, gate);
    ck_assert_msg(st.loss < 0.9 * first, "the stage did not learn (%g -> %g)", first, st.loss);
    ck_assert_msg(gate != 0.0f, "the gate never moved");
    lv_adamw_free(&adam);
    lv_v2t_free(&v);
    v2t_batch_free(&d);
}
END_TEST

/* The key/value cache changes nothing: greedy and beam-3 decoding of the full stage (gates
 * open, each sample's video and prompt) write the same tokens, and keep beams of the same
 * scores at every step, with the cache as by running every prefix again, on ref and cpu. */
START_TEST(test_cache_matches_recompute)
{
    static const char *const names[] = { "ref", "cpu" };
    const lv_config c = tiny();
    v2t_data d;
    v2t_batch_make(&d, &c, 17);
    const int64_t frame = c.frames * c.image_size * c.image_size * 3;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        lv_v2t v;
        build(&v, &c, lv_backend_find(names[k]), 0);
        open_gates(&v);
        int64_t tokens = 0;
        double worst = 0.0;
        for (int b = 0; b < BATCH; b++)
            for (int64_t beam = 1; beam <= 3; beam += 2) {
                int32_t with[TEXT], without[TEXT];
                double tw[TEXT * 3], tn[TEXT * 3];
                for (int i = 0; i < TEXT * 3; i++)
                    tw[i] = tn[i] = 0.0;
                lv_v2t_decode o = { .max_new = TEXT - PROMPT, .beam = beam, .eos = -1,
                                    .step = (uint32_t)b, .trace = tw };
                const int64_t n = lv_v2t_generate(&v, d.video + b * frame, d.ids + b * TEXT,
                                                  PROMPT, &o, with);
                o.no_cache = 1;
                o.trace = tn;
                const int64_t m = lv_v2t_generate(&v, d.video + b * frame, d.ids + b * TEXT,
                                                  PROMPT, &o, without);
                /* every kept hypothesis's score at every step, not only the winner's tokens */
                for (int64_t i = 0; i < (TEXT - PROMPT) * beam; i++) {
                    const double err = tw[i] == tn[i] ? 0.0 : fabs(tw[i] - tn[i]);
                    worst = fmax(worst, isnan(err) ? INFINITY : err);
                }
                ck_assert_msg(n >= 0 && n == m, "%s sample %d beam %lld: %lld tokens cached, "
                              "%lld recomputed", names[k], b, (long long)beam, (long long)n,
                              (long long)m);
                ck_assert_msg(!memcmp(with, without, (size_t)n * sizeof(int32_t)),
                              "%s sample %d beam %lld: the cached decode differs", names[k], b,
                              (long long)beam);
                tokens += n;
            }
        printf("  %-4s: greedy and beam-3 decodes of 3 videos (%lld tokens) equal with and "
               "without the key/value cache; every kept beam's score within %.1e\n", names[k],
               (long long)tokens, worst);
        /* ref computes each row alike either way; cpu's sgemm blocks by the row count */
        ck_assert_msg(worst <= (k == 0 ? 1e-9 : 1e-4), "%s: a beam's score is %.3g off",
                      names[k], worst);
        lv_v2t_free(&v);
    }
    v2t_batch_free(&d);
}
END_TEST

/* How a built stage starts: each layer it adds (resampler, cross-attention) as PyTorch's
 * nn.Linear, U(-1/sqrt(in), 1/sqrt(in)), so a linear's output keeps 1/sqrt(3) of its input's
 * scale at any width; the latents N(0, 1); the gates 0. The check reads each matrix's range and
 * variance (within 15%: a uniform sample of n entries has a variance within 3 sqrt(0.8 / n) of
 * its own, at most 9% here); the test of the test applies it to the LM's N(0, 0.02) matrices,
 * whose variance is at most 0.15 of 1/(3 in) at width 32, and demands a failure. */
static int linear_init_ok(const lv_params *ps, int64_t i, double *ratio)
{
    const lv_param *p = &ps->p[i];
    const float *x = lv_param_data(ps, i);
    const double bound = 1.0 / sqrt((double)p->shape[1]);
    double ss = 0;
    int in_range = 1;
    for (int64_t k = 0; k < p->numel; k++) {
        ss += (double)x[k] * x[k];
        in_range &= fabs(x[k]) <= bound;
    }
    *ratio = ss / (double)p->numel / (bound * bound / 3.0);
    return in_range && fabs(*ratio - 1.0) <= 0.15;
}

START_TEST(test_initialisation)
{
    const lv_config c = tiny();
    lv_v2t v;
    build(&v, &c, &lv_backend_ref, 0);
    const lv_params *ps = &v.params;
    int64_t linears = 0, lm_checked = 0, lm_failed = 0;
    double lo = INFINITY, hi = 0;
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        const size_t n = strlen(p->name);
        const int matrix = p->ndim == 2 && n > 7 && !strcmp(p->name + n - 7, ".weight");
        double ratio;
        if (!strncmp(p->name, "lm.", 3)) {
            if (matrix && strstr(p->name, "blocks")) {
                lm_checked++;
                lm_failed += !linear_init_ok(ps, i, &ratio);
            }
            continue;
        }
        if (strstr(p->name, "_gate"))
            for (int64_t k = 0; k < p->numel; k++)
                ck_assert_msg(lv_param_data(ps, i)[k] == 0.0f, "%s starts open", p->name);
        if (!matrix)
            continue;
        ck_assert_msg(linear_init_ok(ps, i, &ratio), "%s: variance %.3f of 1/(3 in), or an "
                      "entry past 1/sqrt(in)", p->name, ratio);
        lo = fmin(lo, ratio);
        hi = fmax(hi, ratio);
        linears++;
    }
    const int64_t lat = v.latents;
    double ss = 0;
    for (int64_t k = 0; k < ps->p[lat].numel; k++)
        ss += (double)lv_param_data(ps, lat)[k] * lv_param_data(ps, lat)[k];
    const double lat_var = ss / (double)ps->p[lat].numel;
    ck_assert_msg(fabs(lat_var - 1.0) < 0.3, "latents' variance %.3f, not 1", lat_var);
    ck_assert_int_gt(linears, 0);
    ck_assert_msg(lm_checked > 0 && lm_failed == lm_checked, "the check passed %lld of the "
                  "LM's N(0, 0.02) matrices", (long long)(lm_checked - lm_failed));
    printf("  init: %lld resampler / cross-attention matrices U(-1/sqrt(in), 1/sqrt(in)) "
           "(variance %.3f..%.3f of 1/(3 in)); latents variance %.3f; gates 0; the check "
           "refuses all %lld of the LM's N(0, 0.02) matrices\n", (long long)linears, lo, hi,
           lat_var, (long long)lm_checked);
    lv_v2t_free(&v);
}
END_TEST

Suite *v2t_suite(void)
{
    Suite *s = suite_create("v2t");
    TCase *tc = tcase_create("v2t");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_initialisation);
    tcase_add_test(tc, test_gates_zero_is_lm);
    tcase_add_test(tc, test_gradcheck_stage);
    tcase_add_test(tc, test_gradcheck_lm);
    tcase_add_test(tc, test_backends_match_ref);
    tcase_add_test(tc, test_score_matches_loss);
    tcase_add_test(tc, test_training_and_decoding);
    tcase_add_test(tc, test_cache_matches_recompute);
    suite_add_tcase(s, tc);
    return s;
}
