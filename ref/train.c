/* One training step, written once (see train.h). The loss is read from the backend with
 * download, the gradients' finiteness from the same sum of squares that gives the clipping
 * norm: one pass over the gradients serves both. */
#include "train.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W_LOGIT(m) lv_param_data(&(m)->params, (m)->logit_scale)

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
    free(t->dx.f_slab);
    free(t->dx.d_slab);
    *t = (lv_trainer){ 0 };
}

int lv_trainer_distribute(lv_trainer *t, const lv_dist *d, int64_t batch)
{
    lv_model *m = t->model;
    if (d->size < 2)
        return 0;
    if (!m->be->host_memory)
        return lv_set_error("data-parallel training exchanges host memory: the %s backend's "
                            "memory is not the host's; use --backend cpu or ref", m->be->name);
    lv_dist_buffers *x = &t->dx;
    const int64_t B = batch, G = d->size * batch, E = m->cfg.embed_dim;
    const int64_t shard = m->params.n_grad_floats / d->size + 1;
    x->B = B, x->G = G, x->E = E;
    x->f_slab = lv_malloc((size_t)(4 * B * E + 2 * G * E + 2 * B * G + shard) * sizeof(float),
                          "the data-parallel step's embeddings");
    x->d_slab = lv_malloc((size_t)(2 * G * E + 2 * B * E + d->size) * sizeof(double),
                          "the data-parallel step's embedding gradients");
    if (!x->f_slab || !x->d_slab)
        return -1;
    x->emb_v = x->f_slab, x->emb_t = x->emb_v + B * E;
    x->all_v = x->emb_t + B * E, x->all_t = x->all_v + G * E;
    x->rows = x->all_t + G * E, x->cols = x->rows + B * G;
    x->demb_v = x->cols + B * G, x->demb_t = x->demb_v + B * E;
    x->grad_shard = x->demb_t + B * E;
    x->dall_v = x->d_slab, x->dall_t = x->dall_v + G * E;
    x->down_v = x->dall_t + G * E, x->down_t = x->down_v + B * E;
    x->shares = x->down_t + B * E;
    t->dist = d;
    return 0;
}

/* One contrastive loss over the global batch (see dist.h): this rank's micro-batches hold its
 * B pairs, global numbers r0 = rank B onwards. Every micro-batch is encoded (its embeddings
 * kept), all ranks' embeddings gathered, this rank's share of the loss and its gradient with
 * respect to every pair's embeddings computed, those gradients summed on their owners, then
 * each micro-batch back-propagated from its rows (encoded again when there are several).
 * Returns the share; NaN + lv_error() when masking failed here (the collectives still run, so
 * the other ranks see a NaN loss instead of waiting for this one). */
static double dist_part(lv_trainer *t, const lv_batch *micro, int64_t n_micro)
{
    lv_model *m = t->model;
    const lv_backend *be = m->be;
    const lv_dist *d = t->dist;
    lv_dist_buffers *x = &t->dx;
    const int64_t E = x->E;
    int64_t B = 0;
    for (int64_t i = 0; i < n_micro; i++)
        B += micro[i].B;
    const int64_t G = d->size * B, r0 = d->rank * B;
    LV_REQUIRE(B <= x->B);
    int ok = 1;
    for (int64_t i = 0, b0 = 0; i < n_micro; b0 += micro[i++].B) {     /* 1: own embeddings */
        LV_REQUIRE(micro[i].first_sample == r0 + b0);
        ok = ok && lv_model_encode(m, &micro[i]) == 0;
        if (ok) {
            be->download(x->emb_v + b0 * E, m->video.emb_n, (size_t)(micro[i].B * E) * 4);
            be->download(x->emb_t + b0 * E, m->text.emb_n, (size_t)(micro[i].B * E) * 4);
        }
    }
    if (!ok)                       /* the others get NaN embeddings from us: a NaN loss */
        for (int64_t i = 0; i < B * E; i++)
            x->emb_v[i] = x->emb_t[i] = NAN;
    d->allgather_f32(d, x->all_v, x->emb_v, B * E);                  /* 2: everyone's */
    d->allgather_f32(d, x->all_t, x->emb_t, B * E);
    float log_scale;
    be->download(&log_scale, W_LOGIT(m), sizeof log_scale);
    const double share = lv_infonce_shard_forward(x->rows, x->cols, x->all_v, x->all_t,
                                                  log_scale, G, r0, B, E);
    memset(x->dall_v, 0, (size_t)(2 * G * E) * sizeof(double));     /* dall_v, dall_t */
    double dls = 0.0;
    lv_infonce_shard_backward(x->dall_v, x->dall_t, &dls, 1.0, x->rows, x->cols, x->all_v,
                              x->all_t, log_scale, G, r0, B, E);
    d->reduce_scatter_f64(d, x->down_v, x->dall_v, B * E);           /* 3: to their owners */
    d->reduce_scatter_f64(d, x->down_t, x->dall_t, B * E);
    for (int64_t i = 0; i < B * E; i++) {
        x->demb_v[i] = (float)x->down_v[i];
        x->demb_t[i] = (float)x->down_t[i];
    }
    float *gls = lv_param_grad(&m->params, m->logit_scale);         /* this rank's part of it */
    if (gls) {
        float g;
        be->download(&g, gls, sizeof g);
        g += (float)dls;
        be->upload(gls, &g, sizeof g);
    }
    if (!ok)
        return NAN;
    for (int64_t i = 0, b0 = 0; i < n_micro; b0 += micro[i++].B) {     /* 4: back, per micro */
        if (n_micro > 1)
            lv_model_encode(m, &micro[i]);
        lv_model_backward_embeddings(m, &micro[i], x->demb_v + b0 * E, x->demb_t + b0 * E);
    }
    return share;
}

/* The data-parallel forward and backward of a step: every part's share, then the loss (the
 * shares summed in rank order, on every rank) and the gradients summed over the ranks (each
 * shard reduced once: the same bits everywhere, so the ranks' updates stay identical). */
static float dist_parts(lv_trainer *t, const lv_step_part *parts, int n_parts)
{
    const lv_dist *d = t->dist;
    lv_params *ps = &t->model->params;
    double share = 0.0;
    for (int i = 0; i < n_parts; i++)
        share += dist_part(t, parts[i].micro, parts[i].n_micro);
    d->allgather_f64(d, t->dx.shares, &share, 1);
    double loss = 0.0;
    for (int r = 0; r < d->size; r++)
        loss += t->dx.shares[r];
    if (ps->grad)
        lv_dist_allreduce_f32(d, ps->grad, t->dx.grad_shard, ps->n_grad_floats);
    return (float)loss;
}

int lv_train_step(lv_trainer *t, const lv_step_part *parts, int n_parts, int64_t step,
                  lv_step_stats *stats)
{
    lv_model *m = t->model;
    lv_params *ps = &m->params;
    *stats = (lv_step_stats){ .lr = lv_lr_at(&t->opt, step) };
    /* zero, then every part's forward and backward (gradients accumulate) */
    lv_params_zero_grad(ps);
    const int parallel = t->dist && t->dist->size > 1;
    if (parallel)
        stats->loss = dist_parts(t, parts, n_parts);
    for (int i = 0; !parallel && i < n_parts && isfinite(stats->loss); i++)
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
