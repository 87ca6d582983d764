/* Whole-model finite-difference gradient check (see gradcheck.h). The model runs in fp32 (its
 * kernels are each checked against fp64 finite differences in the tests); here the loss is
 * evaluated at x +- h and the difference taken in double. The checked point is the initial
 * model plus noise, so zero-initialised branches (gates, LoRA B, adapter up) are live. */
#include "gradcheck.h"
#include "error.h"
#include "model.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GC_BATCH 3
#define GC_NOISE 0.05          /* std of the noise added to every parameter */
#define GC_STEP_LOG2 (-7)    /* finite-difference step 2^-7, times 2^ceil(log2 |x|) if |x| > 1 */
#define GC_ABS 1e-4            /* |a - n| <= GC_ABS + GC_REL max(|a|, |n|) */
#define GC_REL 1e-3

static const lv_gradcheck_variant variants[] = {
    { "joint", "", 0 },
    { "factorized", "attn=factorized", 0 },
    { "frame-mean", "attn=frame frame_pool=mean", 0 },
    { "frame-attn", "attn=frame frame_pool=attn", 0 },
    { "coarse-t", "tubelet_t=4", 0 },
    { "coarse-s", "patch=16", 0 },
    { "coarse-ts", "tubelet_t=4 patch=16", 0 },
    { "tubevit", "tubes=tubevit", 0 },
    { "mask-random", "mask_ratio=0.75", 0 },
    { "mask-tube", "mask=tube mask_ratio=0.75", 0 },
    { "adapters", "tune=adapters", 0 },
    { "lora", "tune=lora lora_alpha=8", 0 },
    { "last-k", "tune=last-k freeze_text=1", 0 },
    { "temporal", "attn=factorized tune=temporal", 0 },
    { "image", "attn=factorized", 1 },
};

const lv_gradcheck_variant *lv_gradcheck_variants(int *count)
{
    *count = (int)(sizeof variants / sizeof variants[0]);
    return variants;
}

const lv_gradcheck_variant *lv_gradcheck_find(const char *name)
{
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (!strcmp(variants[i].name, name))
            return &variants[i];
    return NULL;
}

static int apply_overrides(lv_config *c, const char *overrides)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", overrides);
    for (char *save = NULL, *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save))
        if (lv_config_set(c, kv) < 0)
            return -1;
    return lv_config_validate(c);
}

/* The batch: pixels ~ N(0, 0.5^2); sample b's caption has text_len - b tokens, then padding. */
typedef struct {
    float *video;
    int32_t *text;
    uint8_t *valid;
    lv_batch batch;
    int64_t n_pixels;
} gc_data;

static int data_make(gc_data *d, const lv_config *c, int image, lv_rng *r)
{
    const int64_t B = GC_BATCH, T = c->text_len, F = image ? 1 : c->frames;
    d->n_pixels = B * F * c->image_size * c->image_size * 3;
    d->video = lv_malloc((size_t)d->n_pixels * sizeof(float), "the gradcheck video");
    d->text = lv_malloc((size_t)(B * T) * sizeof(int32_t), "the gradcheck captions");
    d->valid = lv_malloc((size_t)(B * T), "the gradcheck caption mask");
    if (!d->video || !d->text || !d->valid)
        return -1;
    for (int64_t i = 0; i < d->n_pixels; i++)
        d->video[i] = (float)(0.5 * lv_rng_normal(r));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            d->valid[b * T + t] = t < T - b;
            d->text[b * T + t] = t < T - b ? 1 + (int32_t)lv_rng_below(r, c->vocab - 1) : 0;
        }
    d->batch = (lv_batch){ .B = B, .video = d->video, .is_image = image, .text = d->text,
                           .text_valid = d->valid, .step = 7 };
    return 0;
}

static void data_free(gc_data *d)
{
    free(d->video);
    free(d->text);
    free(d->valid);
}

typedef struct {
    double max_abs, max_rel;
    int64_t failed, probed;
} tensor_err;

/* The loss with x[i] set to v. */
static double loss_at(lv_model *m, const lv_batch *batch, float *x, int64_t i, double v)
{
    const float saved = x[i];
    x[i] = (float)v;
    const double loss = lv_model_forward(m, batch);
    x[i] = saved;
    return loss;
}

/* Probes entry i of x (analytic gradient a) with central differences at steps h and 2h,
 * combined by Richardson extrapolation, (4 D(h) - D(2h)) / 3, which cancels the O(h^2) error
 * term so a step large enough to keep fp32 rounding of the loss small can be used. h is a power
 * of two, so x +- h and x +- 2h are exact in fp32 for |x| below the step's scale. */
static void probe(lv_model *m, const lv_batch *batch, float *x, int64_t i, double a,
                  tensor_err *e)
{
    const double x0 = x[i];
    const double h = ldexp(1.0, GC_STEP_LOG2) * (fabs(x0) > 1 ? exp2(ceil(log2(fabs(x0)))) : 1);
    const double d1 = (loss_at(m, batch, x, i, x0 + h) - loss_at(m, batch, x, i, x0 - h)) / (2 * h);
    const double d2 = (loss_at(m, batch, x, i, x0 + 2 * h) - loss_at(m, batch, x, i, x0 - 2 * h))
                      / (4 * h);
    const double n = (4 * d1 - d2) / 3;
    const double err = fabs(a - n), scale = fmax(fabs(a), fabs(n));
    const double rel = err / fmax(scale, GC_ABS / GC_REL);
    e->max_abs = fmax(e->max_abs, err);
    e->max_rel = fmax(e->max_rel, rel);
    e->failed += err > GC_ABS + GC_REL * scale;
    e->probed++;
}

static void report(FILE *log, const char *name, const tensor_err *e, lv_gradcheck_result *res)
{
    if (log)
        fprintf(log, "    %-44s probes %3lld  max abs err %.2e  max rel err %.2e  %s\n", name,
                (long long)e->probed, e->max_abs, e->max_rel, e->failed ? "FAIL" : "ok");
    res->tensors++;
    res->entries += e->probed;
    res->failed += e->failed;
    if (e->max_rel > res->max_rel_err) {
        res->max_rel_err = e->max_rel;
        snprintf(res->worst, sizeof res->worst, "%s", name);
    }
}

/* Entries to probe in a tensor of n: evenly spread, plus the largest |gradient| entries (the
 * ones a wrong gradient is most visible in), all distinct. */
static int64_t pick(int64_t *at, int64_t probes, const float *grad, int64_t n, lv_rng *r)
{
    const int64_t k = probes < n ? probes : n;
    int64_t count = 0;
    for (int64_t j = 0; j < k - k / 2; j++)
        at[count++] = (int64_t)lv_rng_below(r, (uint64_t)n);
    for (int64_t j = 0; j < k / 2; j++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++) {
            int taken = 0;
            for (int64_t q = 0; q < count && !taken; q++)
                taken = at[q] == i;
            if (!taken && (best < 0 || fabsf(grad[i]) > fabsf(grad[best])))
                best = i;
        }
        if (best >= 0)
            at[count++] = best;
    }
    return count;
}

static int check_model(lv_model *m, gc_data *d, int64_t probes, FILE *log,
                       lv_gradcheck_result *res, lv_rng *r)
{
    lv_params *ps = &m->params;
    int64_t *at = lv_malloc((size_t)probes * sizeof *at, "the probe list");
    float *pixel_grad = lv_malloc((size_t)d->n_pixels * sizeof(float), "the pixel gradient");
    if (!at || !pixel_grad) {
        free(at);
        free(pixel_grad);
        return -1;
    }
    lv_params_zero_grad(ps);
    const float loss = lv_model_forward(m, &d->batch);
    lv_model_backward(m, &d->batch);
    memcpy(pixel_grad, m->dvideo, (size_t)d->n_pixels * sizeof(float));
    if (log)
        fprintf(log, "  loss %.6f, %lld trainable tensors\n", loss,
                (long long)(ps->n_grad_floats ? ps->count : 0));
    for (int64_t i = 0; i < ps->count; i++) {
        const float *g = lv_param_grad(ps, i);
        if (!g)
            continue;
        tensor_err e = { 0 };
        const int64_t k = pick(at, probes, g, ps->p[i].numel, r);
        for (int64_t j = 0; j < k; j++)
            probe(m, &d->batch, lv_param_data(ps, i), at[j], g[at[j]], &e);
        report(log, ps->p[i].name, &e, res);
    }
    tensor_err e = { 0 };
    const int64_t k = pick(at, probes, pixel_grad, d->n_pixels, r);
    for (int64_t j = 0; j < k; j++)
        probe(m, &d->batch, d->video, at[j], pixel_grad[at[j]], &e);
    report(log, "input pixels", &e, res);
    free(at);
    free(pixel_grad);
    return 0;
}

int lv_gradcheck_run(const lv_config *base, const lv_gradcheck_variant *v, int64_t probes,
                     const lv_backend *be, FILE *log, lv_gradcheck_result *res)
{
    *res = (lv_gradcheck_result){ 0 };
    lv_config c = *base;
    if (apply_overrides(&c, v->overrides) < 0)
        return -1;
    lv_model m;
    gc_data d = { 0 };
    lv_rng r = lv_rng_stream(c.seed, LV_RNG_TEST, 1, 0);
    int rc = -1;
    if (lv_model_build(&m, &c, be) == 0 && lv_model_alloc_acts(&m, GC_BATCH, 1) == 0
        && data_make(&d, &c, v->image, &r) == 0) {
        for (int64_t i = 0; i < m.params.count; i++) {   /* move off the initial point */
            float *x = lv_param_data(&m.params, i);
            for (int64_t j = 0; j < m.params.p[i].numel; j++)
                x[j] += (float)(GC_NOISE * lv_rng_normal(&r));
        }
        if (log)
            fprintf(log, "variant %s (%s%s)\n", v->name,
                    v->overrides[0] ? v->overrides : "defaults", v->image ? ", image batch" : "");
        rc = check_model(&m, &d, probes, log, res, &r);
    }
    data_free(&d);
    lv_model_free(&m);
    return rc;
}
