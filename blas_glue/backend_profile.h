/* A profiling wrapper around any host-memory backend (longvivit bench --profile): the same table
 * whose every member times the wrapped one and books the time, and the matmul FLOPs, to a row
 * keyed by (operation, direction, shape) and a family (matmuls by shape, attention, text tower,
 * zeroing, AdamW, ...). Nothing changes when it is not used: the graph then holds the plain
 * table, so the cost when off is zero. Deliberately not thread-safe: one profile at a time. */
#ifndef LV_BACKEND_PROFILE_H
#define LV_BACKEND_PROFILE_H

#include "backend.h"

#include <stdio.h>

/* The families of the table, in print order. */
typedef enum {
    LV_PROF_MATMUL,          /* linear layers (video tower, projections), tubelet, InfoNCE */
    LV_PROF_ATTENTION,       /* attention forward and backward (video side) */
    LV_PROF_TEXT,            /* every kernel of the text tower that names its rows (B T) */
    LV_PROF_ZERO_GRAD,       /* set(0) over the parameter-gradient slab */
    LV_PROF_ZERO_ACT,        /* set(0) of activation gradients before a kernel accumulates */
    LV_PROF_ADAMW,           /* adamw_update */
    LV_PROF_NORM_CLIP,       /* sum_squares (gradient norm, finite check), scale */
    LV_PROF_LAYERNORM,
    LV_PROF_GELU,            /* GELU (erf, tanh), QuickGELU */
    LV_PROF_ELEMENTWISE,     /* residuals, pooling, L2 norm, embeddings, position embeddings */
    LV_PROF_COPY,            /* copy, set(other values), upload, download, alloc, free */
    LV_PROF_OTHER,           /* InfoNCE's and cross-entropy's non-matmul work */
    LV_PROF_HOST,            /* between kernels: the graph's host code (masks, index lists) */
    LV_PROF_FAMILIES
} lv_prof_family;

/* What the wrapper needs to attribute calls (all optional: 0 / NULL = no such attribution). */
typedef struct {
    int64_t text_rows;           /* B T: linear, LayerNorm, attention, embedding calls over
                                  * this many rows are the text tower's */
    const float *grad;           /* the parameter-gradient slab (n_grad_floats) */
    int64_t grad_floats;
} lv_profile_opts;

enum { LV_PROFILE_ROWS = 96 };

typedef struct {
    int op, dir;                 /* internal operation code; 0 forward, 1 backward */
    int64_t s0, s1, s2;          /* the shape that keys the row (rows, in, out for a matmul) */
    lv_prof_family family;
    int64_t calls;
    double seconds;
    double flops;                /* model FLOPs of the matmuls (attention: QK^T and PV, and
                                  * twice that backward; its recomputation is not counted) */
} lv_profile_row;

typedef struct {
    lv_backend be;               /* the wrapping table: hand this to the graph */
    const lv_backend *inner;
    lv_profile_opts o;
    lv_profile_row rows[LV_PROFILE_ROWS];
    int n_rows;
    int64_t dropped_calls;       /* calls of row keys beyond LV_PROFILE_ROWS (booked to OTHER) */
    double other_s;              /* their time */
    double wall_s;               /* sum of the marked steps' wall time */
    double host_s;               /* time between kernels inside marked steps */
    double t_last;               /* end of the last call (or the step's start); < 0 outside */
    int64_t steps;
} lv_profile;

/* Wraps inner (a host-memory backend) and makes p the active profile; returns &p->be. */
const lv_backend *lv_profile_wrap(lv_profile *p, const lv_backend *inner,
                                  const lv_profile_opts *o);
/* Forgets what was booked (after warm-up steps), keeping the wrapper. */
void lv_profile_reset(lv_profile *p);
/* Around each step: time before the first call and after the last is host time too. */
void lv_profile_step_begin(lv_profile *p);
void lv_profile_step_end(lv_profile *p);

/* Seconds booked to family f (summed over the marked steps). */
double lv_profile_family_seconds(const lv_profile *p, lv_prof_family f);
/* Model FLOPs booked, dir 0 forward, 1 backward, -1 both; family f or -1 for all. */
double lv_profile_flops(const lv_profile *p, int dir, int f);
const char *lv_profile_family_name(lv_prof_family f);

/* The table per step (ms, % of step, GFLOP/s for rows with FLOPs): families, then the rows of
 * the matmul, attention and text families by shape; json = 1 prints one JSON object instead
 * (no newline: bench puts it inside its own). */
void lv_profile_print(FILE *out, const lv_profile *p, int json);

#endif
