/* The data-parallel training step against one process (tests/mpi.sh runs it under mpirun with 2
 * and 3 ranks): N ranks with B pairs each must give the loss and every gradient of one process
 * with the whole global batch of N x B pairs, on the same pairs in the same order, and leave the
 * same parameters on every rank. Rank 0 computes the single-process step beside its own and
 * compares; the exit status is the verdict (1 on any rank's failure).
 *   check_mpi                   every case, two optimiser steps each
 *   check_mpi --break MODE      the same comparison fed a deliberately wrong distributed step;
 *                               it must fail (tests/mpi.sh expects exit 1): local-negatives (each
 *                               rank's InfoNCE over its own pairs only, gradients averaged: the
 *                               usual mistake), unscaled (the shares weighted 1/2B instead of
 *                               1/2G: gradients N times too large), shard (every rank reads the
 *                               first B pairs of the global batch). */
#include "blas_glue.h"
#include "dist_transport.h"
#include "error.h"
#include "rng.h"
#include "tolerance.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STEPS = 2, MAX_MICRO = 8 };

typedef struct {
    const char *name;
    const char *sets[3];        /* config keys over the tiny preset */
    int64_t B;                  /* pairs per rank */
    int64_t micro;              /* micro-batches per rank (sizes differ by one when uneven) */
} dp_case;

static const dp_case cases[] = {
    { "plain", { NULL }, 2, 1 },
    { "micro-batches (2 x 2 per rank)", { NULL }, 4, 2 },
    { "masking 0.5", { "mask_ratio=0.5", NULL }, 2, 1 },
    { "uneven micro-batches (2 + 1 per rank), masking 0.5", { "mask_ratio=0.5", NULL }, 3, 2 },
};

typedef enum { BREAK_NONE, BREAK_LOCAL, BREAK_UNSCALED, BREAK_SHARD } break_mode;

/* The global batch of one step: G pairs, the same on every rank (seeded by the step). */
typedef struct {
    float *video;               /* (G, F, S, S, 3) */
    int32_t *text;              /* (G, T) */
    uint8_t *valid;             /* (G, T) */
    int64_t G, per;             /* pairs; floats per video */
} global_batch;

static void batch_fill(global_batch *g, const lv_config *c, int64_t step)
{
    const int64_t T = c->text_len;
    lv_rng r = lv_rng_stream(c->seed, 0x64706368u, (uint32_t)step, 0);      /* "dpch" */
    for (int64_t i = 0; i < g->G * g->per; i++)
        g->video[i] = (float)(0.5 * lv_rng_normal(&r));
    for (int64_t i = 0; i < g->G * T; i++) {
        g->valid[i] = i % T < T - (i / T) % (T / 2);
        g->text[i] = g->valid[i] ? 1 + (int32_t)lv_rng_below(&r, (uint64_t)c->vocab - 1) : 0;
    }
}

/* Captures the gradients between the backward and the update (the trainer's observer). */
typedef struct {
    float *grad;                /* (n_grad_floats) */
} capture;

static void observe(void *ctx, const lv_model *m, int64_t step)
{
    capture *cap = ctx;
    memcpy(cap->grad, m->params.grad, (size_t)m->params.n_grad_floats * sizeof(float));
}

/* One optimiser step on pairs [g0, g0 + B) of the global batch, as M micro-batches whose first
 * pairs are numbered first + offset (the masks' keys). */
static int take_step(lv_trainer *t, const global_batch *g, const lv_config *c, int64_t g0,
                     int64_t first, int64_t B, int64_t M, int64_t step, float *loss)
{
    lv_batch micro[MAX_MICRO];
    for (int64_t i = 0, off = 0; i < M; i++) {
        const int64_t mb = B / M + (i < B % M);
        const int64_t row = g0 + off;
        micro[i] = (lv_batch){ .B = mb, .video = g->video + row * g->per,
                               .text = g->text + row * c->text_len,
                               .text_valid = g->valid + row * c->text_len,
                               .step = (uint32_t)step, .first_sample = (uint32_t)(first + off) };
        off += mb;
    }
    const lv_step_part part = { .micro = micro, .n_micro = M };
    lv_step_stats stats;
    const int rc = lv_train_step(t, &part, 1, step, &stats);
    *loss = stats.loss;
    return rc;
}

typedef struct {
    lv_model m;
    lv_trainer t;
    capture cap;
} learner;

static int learner_init(learner *l, const lv_config *c, int64_t B, int64_t micro_max)
{
    lv_adamw_config opt = lv_adamw_defaults();
    opt.lr = 1e-3;
    opt.total = STEPS;
    *l = (learner){ 0 };
    if (lv_model_build(&l->m, c, &lv_backend_cpu) < 0 ||
        lv_model_alloc_acts(&l->m, micro_max, 0) < 0 || lv_trainer_init(&l->t, &l->m, &opt, B) < 0)
        return -1;
    l->cap.grad = lv_malloc((size_t)l->m.params.n_grad_floats * sizeof(float), "the gradients");
    l->t.observe = observe;
    l->t.observe_ctx = &l->cap;
    return l->cap.grad ? 0 : -1;
}

static void learner_free(learner *l)
{
    lv_trainer_free(&l->t);
    lv_model_free(&l->m);
    free(l->cap.grad);
}

/* The worst margin over every gradient tensor, in units of the tensor's largest entry (the
 * dist_step grad row: the same sums in another order); names the tensor. */
static double grad_margin(const lv_params *ps, const float *got, const float *want, char *worst,
                          size_t size)
{
    const lv_tolerance *tg = lv_tolerance_get("dist_step", "grad", LV_CHECK_DIST);
    double margin = 0.0;
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (p->grad_offset < 0)
            continue;
        double scale = 0.0, diff = 0.0;
        for (int64_t k = 0; k < p->numel; k++) {
            scale = fmax(scale, fabs(want[p->grad_offset + k]));
            diff = lv_margin_max(diff, fabs((double)got[p->grad_offset + k] -
                                            want[p->grad_offset + k]));
        }
        const double mi = lv_tolerance_margin(diff, 0.0, tg->abs * scale, 0.0);
        if (!(mi <= margin)) {
            margin = mi;
            snprintf(worst, size, "%s (max diff %.2e, largest entry %.2e)", p->name, diff, scale);
        }
    }
    return margin;
}

static uint64_t param_hash(const lv_params *ps)
{
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b = (const unsigned char *)ps->data;
    for (size_t i = 0; i < (size_t)ps->n_floats * sizeof(float); i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Rank 0: the single-process step on the whole global batch, compared with the distributed
 * one's loss and gradients; 1 when they differ. */
static int compare(learner *one, const learner *dp, const dp_case *k, const global_batch *g,
                   const lv_config *c, int64_t s, int N, int64_t B, float loss_dp, int same,
                   double *worst_loss, double *worst_grad)
{
    float loss_one;
    if (take_step(&one->t, g, c, 0, 0, g->G, 1, s, &loss_one) < 0) {
        fprintf(stderr, "check_mpi: %s\n", lv_error());
        return 1;
    }
    const lv_tolerance *tl = lv_tolerance_get("dist_step", "loss", LV_CHECK_DIST);
    const double rel = fabs((double)loss_dp - loss_one) / fabs((double)loss_one);
    char worst[256] = "";
    const double margin = grad_margin(&one->m.params, dp->cap.grad, one->cap.grad, worst,
                                      sizeof worst);
    *worst_loss = lv_margin_max(*worst_loss, rel);
    *worst_grad = lv_margin_max(*worst_grad, margin);
    const int ok = lv_tolerance_margin(loss_dp, loss_one, tl->abs, tl->rel) <= 1.0 &&
                   margin <= 1.0 && same;
    printf("  %-52s step %lld: loss %.7f (%d ranks x %lld) vs %.7f (1 x %lld): rel diff "
           "%.1e; gradients worst %.4f of tol: %s; parameters on the ranks %s  %s\n",
           k->name, (long long)s + 1, loss_dp, N, (long long)B, loss_one, (long long)g->G, rel,
           margin, worst, same ? "identical" : "DIFFER", ok ? "ok" : "FAIL");
    return !ok;
}

/* One case: STEPS steps distributed and (rank 0) in one process; 0 when they agree. */
static int run_case(const lv_dist *d, const dp_case *k, break_mode brk, double *worst_loss,
                    double *worst_grad)
{
    lv_config c;
    lv_config_preset(&c, "tiny");
    for (int i = 0; k->sets[i]; i++)
        lv_config_set(&c, k->sets[i]);
    if (lv_config_validate(&c) < 0)
        return fprintf(stderr, "check_mpi: %s\n", lv_error()), -1;
    const int N = d->size;
    const int64_t B = k->B, G = N * B, M = k->micro, mb = (B + M - 1) / M;
    global_batch g = { .G = G, .per = c.frames * c.image_size * c.image_size * 3 };
    g.video = malloc((size_t)(G * g.per) * sizeof(float));
    g.text = malloc((size_t)(G * c.text_len) * sizeof(int32_t));
    g.valid = malloc((size_t)(G * c.text_len));
    learner dp, one;
    int rc = learner_init(&dp, &c, B, mb);
    if (rc == 0 && brk != BREAK_LOCAL)
        rc = lv_trainer_distribute(&dp.t, d, B);
    if (rc == 0 && d->rank == 0)
        rc = learner_init(&one, &c, G, G);
    if (rc < 0) {
        fprintf(stderr, "check_mpi: rank %d: %s\n", d->rank, lv_error());
        lv_dist_abort(d, 1);
    }
    int failed = 0;
    for (int64_t s = 0; s < STEPS; s++) {
        batch_fill(&g, &c, s);
        float loss_dp;
        const int64_t g0 = brk == BREAK_SHARD ? 0 : d->rank * B;
        const int64_t first = brk == BREAK_LOCAL ? 0 : d->rank * B;
        if (take_step(&dp.t, &g, &c, g0, first, B, M, s, &loss_dp) < 0)
            return fprintf(stderr, "check_mpi: rank %d: %s\n", d->rank, lv_error()), -1;
        if (brk == BREAK_LOCAL) {      /* local losses and gradients, averaged over the ranks */
            double shares[64], mean = 0.0, mine = loss_dp;
            d->allgather_f64(d, shares, &mine, 1);
            for (int r = 0; r < N; r++)
                mean += shares[r] / N;
            loss_dp = (float)mean;
            float *shard = malloc((size_t)(dp.m.params.n_grad_floats / N + 1) * sizeof(float));
            lv_dist_allreduce_f32(d, dp.cap.grad, shard, dp.m.params.n_grad_floats);
            for (int64_t i = 0; i < dp.m.params.n_grad_floats; i++)
                dp.cap.grad[i] /= (float)N;
            free(shard);
        }
        if (brk == BREAK_UNSCALED) {   /* each share as a local mean: N times the global one */
            loss_dp *= (float)N;
            for (int64_t i = 0; i < dp.m.params.n_grad_floats; i++)
                dp.cap.grad[i] *= (float)N;
        }
        /* every rank holds the same parameters after the update */
        const uint64_t h = param_hash(&dp.m.params);
        double mine, hashes[64];
        memcpy(&mine, &h, sizeof h);
        d->allgather_f64(d, hashes, &mine, 1);
        int same = 1;
        for (int r = 1; r < N; r++)
            same &= memcmp(&hashes[r], &hashes[0], sizeof h) == 0;
        if (d->rank == 0) {
            failed |= compare(&one, &dp, k, &g, &c, s, N, B, loss_dp, same, worst_loss,
                              worst_grad);
            /* the next step starts both from the distributed state, so each step is compared
             * from the same parameters (Adam's first steps amplify rounding in gradients near 0) */
            memcpy(one.m.params.data, dp.m.params.data, (size_t)dp.m.params.n_floats * 4);
            memcpy(one.t.adam.m, dp.t.adam.m, (size_t)dp.t.adam.n * 4);
            memcpy(one.t.adam.v, dp.t.adam.v, (size_t)dp.t.adam.n * 4);
        }
        if (brk != BREAK_NONE)
            break;                     /* a broken step's ranks need not stay in step */
    }

    learner_free(&dp);
    if (d->rank == 0)
        learner_free(&one);
    free(g.video), free(g.text), free(g.valid);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    break_mode brk = BREAK_NONE;
    if (argc == 3 && !strcmp(argv[1], "--break")) {
        brk = !strcmp(argv[2], "local-negatives") ? BREAK_LOCAL
            : !strcmp(argv[2], "unscaled") ? BREAK_UNSCALED
            : !strcmp(argv[2], "shard") ? BREAK_SHARD : BREAK_NONE;
        if (brk == BREAK_NONE)
            return fprintf(stderr, "check_mpi: --break local-negatives|unscaled|shard\n"), 2;
    } else if (argc != 1) {
        return fprintf(stderr, "usage: mpirun -np N check_mpi [--break MODE]\n"), 2;
    }
    const lv_dist *d = lv_dist_open();
    if (d->size < 2 || d->size > 64) {
        fprintf(stderr, "check_mpi: run it under mpirun with 2 to 64 ranks (this is %d)\n",
                d->size);
        lv_dist_close(d);
        return 2;
    }
    if (d->rank == 0)
        printf("data-parallel step vs one process, %d ranks, %s%s%s\n", d->size,
               lv_dist_transport_name(), brk ? ", deliberately broken: " : "",
               brk ? argv[2] : "");
    int failed = 0;
    double worst_loss = 0.0, worst_grad = 0.0;
    const size_t n_cases = brk ? 1 : sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n_cases; i++)
        failed |= run_case(d, &cases[brk == BREAK_NONE ? i : 2], brk, &worst_loss,
                           &worst_grad) != 0;
    if (d->rank == 0)
        printf("check_mpi (%d ranks): %s; loss rel diff at most %.1e (dist_step loss: rel "
               "%.0e), gradients at most %.4f of tolerance (dist_step grad: %.0e of each "
               "tensor's largest entry)\n", d->size, failed ? "FAILED" : "passed", worst_loss,
               lv_tolerance_get("dist_step", "loss", LV_CHECK_DIST)->rel, worst_grad,
               lv_tolerance_get("dist_step", "grad", LV_CHECK_DIST)->abs);
    lv_dist_close(d);
    return failed ? 1 : 0;
}
