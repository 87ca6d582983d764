/* One training step, written once (see train.h). The loss is read from the backend with
 * download, the gradients' finiteness from the same sum of squares that gives the clipping
 * norm: one pass over the gradients serves both. */
#include "train.h"
#include "error.h"

#include <math.h>
#include <stdio.h>

int lv_trainer_init(lv_trainer *t, lv_model *m, const lv_adamw_config *opt, int64_t batch)
{
    *t = (lv_trainer){ .model = m, .opt = *opt };
    if (lv_adamw_init(&t->adam, &m->params) < 0 ||
        lv_accum_alloc(&t->acc, m->be, batch, m->cfg.embed_dim) < 0) {
        lv_trainer_free(t);
        return -1;
    }
    return 0;
}

void lv_trainer_free(lv_trainer *t)
{
    lv_adamw_free(&t->adam);
    lv_accum_free(&t->acc);
    *t = (lv_trainer){ 0 };
}

int lv_train_step(lv_trainer *t, const lv_step_part *parts, int n_parts, int64_t step,
                  lv_step_stats *stats)
{
    lv_model *m = t->model;
    lv_params *ps = &m->params;
    *stats = (lv_step_stats){ .lr = lv_lr_at(&t->opt, step) };
    /* zero, then every part's forward and backward (gradients accumulate) */
    lv_params_zero_grad(ps);
    for (int i = 0; i < n_parts && isfinite(stats->loss); i++)
        stats->loss += lv_model_step(m, parts[i].micro, parts[i].n_micro, &t->acc);
    if (lv_train_check(ps, step, stats) < 0)
        return -1;
    if (t->observe)
        t->observe(t->observe_ctx, m, step);
    lv_adamw_step_with_norm(&t->adam, ps, stats->lr, &t->opt, stats->grad_norm);
    return 0;
}

int lv_train_check(const lv_params *ps, int64_t step, lv_step_stats *stats)
{
    if (!isfinite(stats->loss))
        return lv_set_error("step %lld: the loss is %s", (long long)step + 1,
                            isnan(stats->loss) ? "NaN" : "infinite");
    /* the squared norm is non-finite exactly when a gradient is (finite floats cannot overflow
     * it in double); then name the tensor */
    stats->grad_norm = lv_grad_norm(ps);
    if (!isfinite(stats->grad_norm)) {
        char why[1024];
        if (lv_grads_finite(ps) == 0)
            return lv_set_error("step %lld: the gradient norm is %g", (long long)step + 1,
                                stats->grad_norm);
        snprintf(why, sizeof why, "%s", lv_error());
        return lv_set_error("step %lld: %s", (long long)step + 1, why);
    }
    return 0;
}

int lv_v2t_train_step(lv_v2t *v, lv_adamw *adam, const lv_adamw_config *opt,
                      const lv_v2t_batch *batch, int64_t step, lv_step_stats *stats)
{
    *stats = (lv_step_stats){ .lr = lv_lr_at(opt, step) };
    lv_params_zero_grad(&v->params);
    lv_v2t_batch b = *batch;
    b.step = (uint32_t)step;
    stats->loss = lv_v2t_forward(v, &b);
    if (isfinite(stats->loss))
        lv_v2t_backward(v, &b);
    if (lv_train_check(&v->params, step, stats) < 0)
        return -1;
    lv_adamw_step_with_norm(adam, &v->params, stats->lr, opt, stats->grad_norm);
    return 0;
}
