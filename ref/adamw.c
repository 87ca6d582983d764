/* AdamW, the learning rate schedule and gradient clipping (see adamw.h). The per-entry work runs
 * through the backend table (ref: plain loops in double per entry, ref/elementwise.c); the
 * state stays float, like the parameters. */
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
    *a = (lv_adamw){ .n = ps->n_grad_floats };
    a->m = lv_calloc((size_t)a->n, sizeof(float), "the AdamW first moments");
    a->v = lv_calloc((size_t)a->n, sizeof(float), "the AdamW second moments");
    if (!a->m || !a->v) {
        lv_adamw_free(a);
        return -1;
    }
    return 0;
}

void lv_adamw_free(lv_adamw *a)
{
    free(a->m);
    free(a->v);
    *a = (lv_adamw){ 0 };
}

static float clip_factor(double norm, double clip)
{
    return clip > 0.0 && isfinite(norm) && norm > clip ? (float)(clip / norm) : 1.0f;
}

double lv_grad_norm(const lv_backend *be, const lv_params *ps)
{
    /* the slab holds trainable tensors only */
    return sqrt(be->sum_squares(ps->grad, ps->n_grad_floats));
}

double lv_clip_grad_norm(const lv_backend *be, lv_params *ps, double clip)
{
    const double norm = lv_grad_norm(be, ps);
    const float factor = clip_factor(norm, clip);
    if (factor != 1.0f)
        be->scale(ps->grad, factor, ps->n_grad_floats);
    return norm;
}

static void adamw_step(const lv_backend *be, lv_adamw *a, lv_params *ps, double lr,
                       const lv_adamw_config *c, float grad_scale)
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
        be->adamw_update(lv_param_data(ps, i), lv_param_grad(ps, i), a->m + p->grad_offset,
                         a->v + p->grad_offset, p->numel, &k);
    }
}

void lv_adamw_step(const lv_backend *be, lv_adamw *a, lv_params *ps, double lr,
                   const lv_adamw_config *c)
{
    adamw_step(be, a, ps, lr, c, 1.0f);
}

double lv_adamw_clip_step(const lv_backend *be, lv_adamw *a, lv_params *ps, double lr,
                          const lv_adamw_config *c)
{
    const double norm = lv_grad_norm(be, ps);
    adamw_step(be, a, ps, lr, c, clip_factor(norm, c->clip));
    return norm;
}

int lv_grads_finite(const lv_params *ps)
{
    for (int64_t i = 0; i < ps->count; i++) {
        const float *g = lv_param_grad(ps, i);
        if (!g)
            continue;
        for (int64_t k = 0; k < ps->p[i].numel; k++)
            if (!isfinite(g[k]))
                return lv_set_error("the gradient of %s is %s at entry %lld of %lld: lower the "
                                    "learning rate or resume from the last good checkpoint",
                                    ps->p[i].name, isnan(g[k]) ? "NaN" : g[k] > 0 ? "+Inf" : "-Inf",
                                    (long long)k, (long long)ps->p[i].numel);
    }
    return 0;
}
