/* AdamW with decoupled weight decay (torch.optim.AdamW semantics), the warm-up + cosine learning
 * rate schedule, global-norm gradient clipping and the finite-gradient check of the training loop.
 * One flat loop over the descriptor table: no parameter groups, no fused or multi-tensor paths. */
#ifndef LV_ADAMW_H
#define LV_ADAMW_H

#include "params.h"

#include <stdint.h>

typedef struct {
    double lr;                  /* peak learning rate: 1e-4 (our default); 1e-5 long stage */
    double beta1, beta2, eps;   /* 0.9, 0.999, 1e-8: torch.optim.AdamW's defaults */
    double weight_decay;        /* 0.05, decoupled, only on tensors whose descriptor says decay */
    double clip;                /* global-norm clipping threshold (1.0); <= 0 disables clipping */
    int64_t warmup;             /* linear warm-up steps (0: none) */
    int64_t total;              /* cosine decay reaches min_lr_ratio * lr at this step; <= 0: no
                                 * decay (constant lr after warm-up). Otherwise total >= warmup. */
    double min_lr_ratio;        /* the cosine floor as a fraction of lr (0.0) */
} lv_adamw_config;

/* The values above; warmup and total are 0 (the training loop sets them from its step count). */
lv_adamw_config lv_adamw_defaults(void);

/* The learning rate of step s (0-based: the lr of the (s+1)-th optimiser step), with
 * lr_min = min_lr_ratio * lr:
 *   s < warmup:           lr * (s + 1) / warmup
 *   warmup <= s < total:  lr_min + (lr - lr_min) * 0.5 * (1 + cos(pi * (s - warmup) / span)),
 *                         span = total - warmup
 *   s >= total:           lr_min           (total > 0; with total <= 0, lr for every s >= warmup)
 * so the peak is reached at s = warmup - 1 and s = warmup, and the cosine midpoint is
 * (lr + lr_min) / 2. */
double lv_lr_at(const lv_adamw_config *c, int64_t step);

typedef struct {
    const lv_backend *be;   /* whose memory m and v are in: the parameters' backend */
    float *m, *v;       /* (n) first and second moments, laid out like the gradient slab */
    int64_t n;          /* ps->n_grad_floats: trainable tensors only */
    int64_t t;          /* optimiser steps taken (bias correction); a checkpoint saves m, v, t */
} lv_adamw;

/* Zeroed moments for the trainable tensors of ps, in the memory of ps's backend; -1 + lv_error()
 * when out of memory. */
int lv_adamw_init(lv_adamw *a, const lv_params *ps);
void lv_adamw_free(lv_adamw *a);

/* sqrt(sum of g^2) over every trainable gradient (the backend's sum_squares). */
double lv_grad_norm(const lv_params *ps);

/* Global-norm clipping: when norm > clip > 0 (and the norm is finite), scales every gradient by
 * clip / norm, so the clipped norm is clip (torch's clip_grad_norm_ divides by norm + 1e-6
 * instead). Returns the norm before clipping. Check lv_grads_finite first: a NaN or Inf norm
 * leaves the gradients as they are. */
double lv_clip_grad_norm(lv_params *ps, double clip);

/* One AdamW step at learning rate lr over every trainable tensor, t = a->t + 1, per entry:
 *   p = p * (1 - lr * weight_decay)        only when the descriptor's decay flag is set
 *   m = beta1 * m + (1 - beta1) * g        stored as float
 *   v = beta2 * v + (1 - beta2) * g^2      stored as float
 *   p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 * in double from the stored floats, rounded to float once per entry. Frozen tensors are not
 * touched. The gradients are read, not cleared. The per-entry work is the backend's
 * adamw_update (ref: in double per entry as above; cpu: in fp32, as torch computes it). */
void lv_adamw_step(lv_adamw *a, lv_params *ps, double lr, const lv_adamw_config *c);

/* lv_clip_grad_norm then lv_adamw_step, bit for bit, with the clipping factor applied inside the
 * update (each gradient read as fp32(g * factor), exactly what clipping in place stores) instead
 * of a separate pass over the gradients, which are left unscaled. Returns the norm before
 * clipping. */
double lv_adamw_clip_step(lv_adamw *a, lv_params *ps, double lr, const lv_adamw_config *c);

/* The same with the norm already known (the training step computes it once, as its finite
 * check): clips by c->clip / norm where norm > c->clip, then the update. */
void lv_adamw_step_with_norm(lv_adamw *a, lv_params *ps, double lr, const lv_adamw_config *c,
                             double norm);

/* 0 when every trainable gradient is finite; otherwise -1 + lv_error() naming the first tensor
 * (in table order) that holds a NaN or Inf, the value and its entry. Through the contract: one
 * sum_squares over the slab, and only when that is not finite, one per tensor and a download of
 * the first bad tensor. */
int lv_grads_finite(const lv_params *ps);

#endif
