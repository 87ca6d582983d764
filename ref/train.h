/* The training loop's verbs, written once for every program that trains (longvivit train, the
 * benchmark, the golden files): build a trainer beside a model, take steps, free it. A step is
 * zero the gradients, forward and backward (over micro-batches, optionally plus a batch of
 * images), check the loss and the gradients are finite, then clip and update with AdamW. */
#ifndef LV_TRAIN_H
#define LV_TRAIN_H

#include "adamw.h"
#include "dist.h"
#include "model.h"
#include "v2t.h"

typedef struct lv_trainer lv_trainer;

/* Called between the backward and the update, once the gradients are complete and finite (the
 * golden files record activations, kept lists and raw gradients there). */
typedef void lv_step_observer(void *ctx, const lv_model *m, int64_t step);

/* The buffers of a data-parallel step (host memory, one allocation each for floats and
 * doubles): B pairs on this rank, G = size x B in the global batch. */
typedef struct {
    int64_t B, G, E;
    float *emb_v, *emb_t;       /* (B, E) (B, E) this rank's normalised embeddings, all micros */
    float *all_v, *all_t;       /* (G, E) (G, E) every rank's, in global order (gathered) */
    float *rows, *cols;         /* (B, G) (B, G) the own pairs' rows and columns of the logits */
    float *demb_v, *demb_t;     /* (B, E) (B, E) the loss gradient of the own embeddings */
    float *grad_shard;          /* (n_grad / size + 1) this rank's shard of the summed gradients */
    double *dall_v, *dall_t;    /* (G, E) (G, E) this rank's partial gradients of every pair's */
    double *down_v, *down_t;    /* (B, E) (B, E) the own pairs' gradients, summed over ranks */
    double *shares;             /* (size) every rank's share of the loss */
    float *f_slab;
    double *d_slab;
} lv_dist_buffers;

struct lv_trainer {
    lv_model *model;            /* not owned */
    lv_adamw_config opt;        /* learning rate, schedule, clipping, decay */
    lv_adamw adam;              /* the moments, in the model's backend memory */
    lv_accum acc;               /* the whole batch's embeddings when a step has micro-batches */
    lv_step_observer *observe;  /* optional */
    void *observe_ctx;
    const lv_dist *dist;        /* the ranks of a data-parallel run; NULL or size 1: one process */
    lv_dist_buffers dx;         /* with dist: the global-batch buffers */
};

/* One contrastive loss: n_micro micro-batches whose negatives span all of them. */
typedef struct {
    const lv_batch *micro;
    int64_t n_micro;
} lv_step_part;

typedef struct {
    float loss;                 /* the sum of the parts' losses */
    double grad_norm;           /* the global gradient norm before clipping */
    double lr;                  /* the learning rate the update used */
} lv_step_stats;

/* A trainer for model m with optimiser settings opt, for steps of up to batch pairs; the AdamW
 * moments start at zero. -1 + lv_error() when out of memory. */
int lv_trainer_init(lv_trainer *t, lv_model *m, const lv_adamw_config *opt, int64_t batch);
void lv_trainer_free(lv_trainer *t);

/* Makes t's steps data-parallel over the ranks of d (size > 1): every step's parts are this
 * rank's pairs of a global batch of d->size x B (each micro-batch's first_sample numbers its
 * first pair within the global batch: rank x B + offset, so masks are the single process's),
 * the loss and every gradient those of the global batch (docs/training.md), the same bits on
 * every rank. batch: this rank's largest part. Needs a backend whose memory is the host's; -1 +
 * lv_error() otherwise or when out of memory. */
int lv_trainer_distribute(lv_trainer *t, const lv_dist *d, int64_t batch);

/* Optimiser step number `step` (0-based: it keys the masks through the batches and the learning
 * rate through lv_lr_at): zero the gradients; for each part, lv_model_step adds its loss and
 * gradients; stop with -1 + lv_error() ("step N: the loss is NaN", or the first non-finite
 * gradient, named) before anything is updated; else observe, then clip and update. */
int lv_train_step(lv_trainer *t, const lv_step_part *parts, int n_parts, int64_t step,
                  lv_step_stats *stats);

/* The checks every stage's step makes before its update, on the gradients of ps: the loss
 * (stats->loss) and every gradient finite, else -1 + lv_error() naming the step and the first
 * non-finite tensor; sets stats->grad_norm. */
int lv_train_check(const lv_params *ps, int64_t step, lv_step_stats *stats);

/* One step of the video-to-text stage (or of the LM's pretraining, lm_only): zero, forward and
 * backward of batch (its masks keyed by step), the checks, then clipping and AdamW on v's
 * trainable tensors with moments adam (lv_adamw_init(adam, &v->params)). */
int lv_v2t_train_step(lv_v2t *v, lv_adamw *adam, const lv_adamw_config *opt,
                      const lv_v2t_batch *batch, int64_t step, lv_step_stats *stats);

#endif
