/* The parameter descriptor table: one row per tensor (name, shape, trainable, weight decay,
 * initialisation). The table drives the single parameter slab, the gradient slab (trainable
 * tensors only: frozen tensors cost no gradient memory), deterministic initialisation,
 * safetensors names and the optimiser. */
#ifndef LV_PARAMS_H
#define LV_PARAMS_H

#include "backend.h"

#include <stddef.h>
#include <stdint.h>

#define LV_PARAM_NAME_MAX 64
#define LV_PARAM_MAX_DIMS 4

typedef enum {
    LV_INIT_ZERO = 0,
    LV_INIT_ONE,
    LV_INIT_NORMAL,           /* N(0, std^2) from the tensor's own Philox stream */
    LV_INIT_CONST,            /* every entry = value (the contrastive log-scale) */
    LV_INIT_COPY,             /* a copy of tensor `source` (the factorized temporal block) */
    LV_INIT_INFLATE_AVERAGE,  /* 2D kernel `source` repeated over t frames, divided by t */
    LV_INIT_INFLATE_CENTRAL,  /* 2D kernel `source` at frame t/2, zeros elsewhere */
    LV_INIT_UNIFORM           /* U(-bound, bound), bound = value, from the tensor's own stream */
} lv_init_kind;

/* What a tensor is, given by name with designated initializers:
 *   (lv_param_spec){ .ndim = 2, .shape = { 3 * D, D }, .trainable = 1, .decay = 1,
 *                    .init = LV_INIT_NORMAL, .init_value = 0.02 } */
typedef struct {
    int ndim;
    int64_t shape[LV_PARAM_MAX_DIMS];
    int trainable;
    int decay;                           /* AdamW weight decay (matrices; not biases, norms,
                                          * gates, embeddings, the log-scale) */
    lv_init_kind init;
    double init_value;                   /* std (NORMAL) or value (CONST) */
    int64_t source;                      /* COPY / INFLATE: index of the source tensor */
} lv_param_spec;

typedef struct {
    char name[LV_PARAM_NAME_MAX];        /* "video.blocks.3.attn.qkv.weight" */
    int ndim;
    int64_t shape[LV_PARAM_MAX_DIMS];
    int64_t numel;
    int trainable;
    int decay;                           /* AdamW weight decay (matrices; not biases, norms,
                                          * gates, embeddings, the log-scale) */
    lv_init_kind init;
    double init_value;                   /* std (NORMAL) or value (CONST) */
    int64_t source;                      /* COPY / INFLATE: index of the source tensor */
    int64_t offset;                      /* floats into the parameter slab */
    int64_t grad_offset;                 /* floats into the gradient slab; -1 when frozen */
} lv_param;

typedef struct {
    lv_param *p;                         /* (count) rows, in slab order */
    int64_t count, cap;
    int64_t n_floats, n_grad_floats;     /* slab sizes */
    const lv_backend *be;                /* whose memory the slabs are in */
    float *data;                         /* (n_floats) backend memory */
    float *grad;                         /* (n_grad_floats) backend memory, NULL when nothing
                                          * trains */
} lv_params;

/* Appends a row; returns its index, -1 + lv_error() on failure. spec->source is read only for
 * the COPY and INFLATE rules. */
int64_t lv_params_add(lv_params *ps, const char *name, const lv_param_spec *spec);

/* Marks every tensor frozen (no gradient memory), before lv_params_alloc: a model used as a
 * fixed function, such as the video-to-text stage's encoder. */
void lv_params_freeze(lv_params *ps);

/* Allocates both slabs in be's memory (gradients zeroed) once the table is complete. */
int lv_params_alloc(lv_params *ps, const lv_backend *be);

/* Fills every tensor by its init rule, in table order; tensor i draws from
 * lv_rng_stream(seed, LV_RNG_INIT, 0, i), so the result is independent of thread count. The
 * values are made on the host and uploaded (in place when the backend's memory is the host's).
 * -1 + lv_error() when the host staging buffer cannot be allocated. */
int lv_params_init(lv_params *ps, uint64_t seed);

/* The 2D patch kernel (D, V2) spread over t frames as a tubelet kernel (D, t * V2), voxel
 * elements ordered (dt, dy, dx, c): average (each frame w / t) or central (frame t / 2 only). */
void lv_inflate_kernel(float *w3, const float *w2, int64_t D, int64_t V2, int64_t t, int central);

/* n floats of be's memory readable on the host: src itself when the backend's memory is the
 * host's (*copy = NULL), else a downloaded copy in *copy (free it after use). NULL + lv_error()
 * when out of memory. File code saves parameters and optimiser state through it. */
const float *lv_host_view(const lv_backend *be, const float *src, int64_t n, float **copy);

/* Every gradient = 0 (backend set); the training step's first verb. */
void lv_params_zero_grad(lv_params *ps);
void lv_params_free(lv_params *ps);

int64_t lv_params_find(const lv_params *ps, const char *name);     /* -1 if absent */
int64_t lv_params_count_floats(const lv_params *ps, const char *prefix, int trainable_only);

/* Data / gradient of tensor i (gradient NULL when frozen or i < 0). */
static inline float *lv_param_data(const lv_params *ps, int64_t i)
{
    return i < 0 ? NULL : ps->data + ps->p[i].offset;
}

static inline float *lv_param_grad(const lv_params *ps, int64_t i)
{
    return (i < 0 || ps->p[i].grad_offset < 0) ? NULL : ps->grad + ps->p[i].grad_offset;
}

#endif
