/* AdamW, the learning rate schedule and gradient clipping (see adamw.h). The per-entry work runs
 * through the backend table (ref: plain loops in double per entry, ref/elementwise.c; cpu: fp32);
 * the state stays float, in the parameters' backend memory. */
#include "adamw.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>

lv_adamw_config lv_adamw_defaults(void)
{
    return (lv_adamw_config){ .lr = 1e-4, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                              .weight_decay = 0.05, .clip = 1.0, .warmup = 0, .total = 0,
                              .min_lr_ratio = 0.0 };
}

double lv_lr_at(const lv_adamw_config *c, int64_t step)
{
    LV_REQUIRE(step >= 0 && c->warmup >= 0 && (c->total <= 0 || c->total >= c->warmup));
    if (step < c->warmup)
        return c->lr * (double)(step + 1) / (double)c->warmup;
    if (c->total <= 0)
        return c->lr;
    const double lr_min = c->min_lr_ratio * c->lr;
    if (step >= c->total)
        return lr_min;
    const double progress = (double)(step - c->warmup) / (double)(c->total - c->warmup);
    return lr_min + (c->lr - lr_min) * 0.5 * (1.0 + cos(M_PI * progress));
}

int lv_adamw_init(lv_adamw *a, const lv_params *ps)
{
    const lv_backend *be = ps->be;
    *a = (lv_adamw){ .be = be, .n = ps->n_grad_floats };
    a->m = be->alloc((size_t)a->n * sizeof(float), "the AdamW first moments");
    a->v = be->alloc((size_t)a->n * sizeof(float), "the AdamW second moments");
    if (!a->m || !a->v) {
        lv_adamw_free(a);
        return -1;
    }
    return 0;
}

void lv_adamw_free(lv_adamw *a)
{
    if (a->be) {
        a->be->free(a->m);
        a->be->free(a->v);
    }
    *a = (lv_adamw){ 0 };
}

/* clip / norm where clipping is on and the norm exceeds it, else 1 (a non-finite norm never
 * reaches here from the training step: its finite check stops first) */
static float clip_factor(double norm, double clip)
{
    return clip > 0.0 && isfinite(norm) && norm > clip ? (float)(clip / norm) : 1.0f;
}

double lv_grad_norm(const lv_params *ps)
{
    /* the slab holds trainable tensors only */
    return sqrt(ps->be->sum_squares(ps->grad, ps->n_grad_floats));
}

double lv_clip_grad_norm(lv_params *ps, double clip)
{
    const double norm = lv_grad_norm(ps);
    const float factor = clip_factor(norm, clip);
    if (factor != 1.0f)
        ps->be->scale(ps->grad, factor, ps->n_grad_floats);
    return norm;
}

/* One flat loop over the descriptor table: each trainable tensor's entries in one call of the
 * backend's adamw_update, with the tensor's own decay. */
static void adamw_step(lv_adamw *a, lv_params *ps, double lr, const lv_adamw_config *c,
                       float grad_scale)
{
    LV_REQUIRE(a->n == ps->n_grad_floats);
    a->t++;
    lv_adamw_coef k = { .lr = lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                        .bc1 = 1.0 - pow(c->beta1, (double)a->t),
                        .bc2 = 1.0 - pow(c->beta2, (double)a->t), .grad_scale = grad_scale };
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (p->grad_offset < 0)
            continue;
        k.keep = p->decay ? 1.0 - lr * c->weight_decay : 1.0;
        ps->be->adamw_update(lv_param_data(ps, i), lv_param_grad(ps, i), a->m + p->grad_offset,
                             a->v + p->grad_offset, p->numel, &k);
    }
}

void lv_adamw_step(lv_adamw *a, lv_params *ps, double lr, const lv_adamw_config *c)
{
    adamw_step(a, ps, lr, c, 1.0f);
}

void lv_adamw_step_with_norm(lv_adamw *a, lv_params *ps, double lr, const lv_adamw_config *c,
                             double norm)
{
    adamw_step(a, ps, lr, c, clip_factor(norm, c->clip));
}

double lv_adamw_clip_step(lv_adamw *a, lv_params *ps, double lr, const lv_adamw_config *c)
{
    const double norm = lv_grad_norm(ps);
    lv_adamw_step_with_norm(a, ps, lr, c, norm);
    return norm;
}

int lv_grads_finite(const lv_params *ps)
{
    const lv_backend *be = ps->be;
    if (!ps->grad || isfinite(be->sum_squares(ps->grad, ps->n_grad_floats)))
        return 0;
    for (int64_t i = 0; i < ps->count; i++) {
        const float *g = lv_param_grad(ps, i);
        const int64_t n = ps->p[i].numel;
        if (!g || isfinite(be->sum_squares(g, n)))
            continue;
        float *host = lv_malloc((size_t)n * sizeof *host, "a copy of the bad gradient");
        if (!host)
            return -1;
        be->download(host, g, (size_t)n * sizeof *host);
        int64_t k = 0;
        while (k < n - 1 && isfinite(host[k]))
            k++;
        const float bad = host[k];
        free(host);
        return lv_set_error("the gradient of %s is %s at entry %lld of %lld: lower the learning "
                            "rate or resume from the last good checkpoint", ps->p[i].name,
                            isnan(bad) ? "NaN" : bad > 0 ? "+Inf" : "-Inf", (long long)k,
                            (long long)n);
    }
    return 0;
}
