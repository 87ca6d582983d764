/* The backend table: every kernel of ref/kernels.h as a function pointer. The model graph
 * (ref/model.c) is written once and calls kernels only through this table, so the fast CPU
 * path (blas_glue/) and the CUDA port add kernels, never graphs. lv_backend_ref holds the plain
 * kernels of ref/. Host-side decisions (masks, groups, data order) are made by the graph. */
#ifndef LV_BACKEND_H
#define LV_BACKEND_H

#include "kernels.h"

typedef struct {
    const char *name;
    void (*linear_forward)(float *, const float *, const float *, const float *,
                           int64_t, int64_t, int64_t);
    void (*linear_backward)(float *, float *, float *, const float *, const float *,
                            const float *, int64_t, int64_t, int64_t);
    void (*layernorm_forward)(float *, float *, float *, const float *, const float *,
                              const float *, int64_t, int64_t, float);
    void (*layernorm_backward)(float *, float *, float *, const float *, const float *,
                               const float *, const float *, const float *, int64_t, int64_t);
    void (*gelu_forward)(float *, const float *, int64_t);
    void (*gelu_backward)(float *, const float *, const float *, int64_t);
    void (*attention_forward)(float *, float *, const float *, const float *, const float *,
                              const lv_attn_groups *, int64_t, int64_t, int64_t, int64_t);
    /* (dq, dk, dv, dout, out, cache, q, k, v, ...): out is the forward's output, which the
     * memory-efficient kernels need (rowsum(dout * out)); the plain ones ignore it. */
    void (*attention_backward)(float *, float *, float *, const float *, const float *,
                               const float *, const float *, const float *, const float *,
                               const lv_attn_groups *, int64_t, int64_t, int64_t, int64_t);
    /* What the attention cache holds: 0, every probability (lv_attention_cache_size floats,
     * quadratic in tokens); 1, per query row and head the row's maximum score and the log of its
     * sum of exponentials (2 H floats per query row, linear in tokens), the backward
     * recomputing the probabilities tile by tile as exp((s - max) - log sum). */
    int attention_lse;
    void (*residual_forward)(float *, const float *, const float *, int64_t);
    void (*residual_backward)(float *, float *, const float *, int64_t);
    void (*gated_residual_forward)(float *, const float *, const float *, const float *, int64_t);
    void (*gated_residual_backward)(float *, float *, float *, const float *, const float *,
                                    const float *, int64_t);
    void (*mean_pool_forward)(float *, const float *, const uint8_t *, int64_t, int64_t, int64_t);
    void (*mean_pool_backward)(float *, const float *, const uint8_t *, int64_t, int64_t,
                               int64_t);
    void (*segment_mean_forward)(float *, const float *, const int64_t *, int64_t, int64_t);
    void (*segment_mean_backward)(float *, const float *, const int64_t *, int64_t, int64_t);
    void (*l2norm_forward)(float *, float *, const float *, int64_t, int64_t);
    void (*l2norm_backward)(float *, const float *, const float *, const float *, int64_t,
                            int64_t);
    void (*embedding_forward)(float *, const int32_t *, const float *, int64_t, int64_t, int64_t);
    void (*embedding_backward)(float *, const float *, const int32_t *, int64_t, int64_t,
                               int64_t);
    void (*tubelet_embed_forward)(float *, const float *, const float *, const float *,
                                  const int64_t *, const lv_tubelet_shape *, int64_t, int64_t,
                                  int64_t);
    void (*tubelet_embed_backward)(float *, float *, float *, const float *, const float *,
                                   const float *, const int64_t *, const lv_tubelet_shape *,
                                   int64_t, int64_t, int64_t);
    void (*pos_embed_forward)(float *, const float *, const float *, const float *,
                              const int64_t *, int64_t, int64_t, int64_t, int64_t, int64_t);
    void (*pos_embed_backward)(float *, float *, float *, const float *, const int64_t *,
                               int64_t, int64_t, int64_t, int64_t, int64_t);
    void (*infonce_forward)(float *, float *, const float *, const float *, const float *,
                            int64_t, int64_t);
    void (*infonce_backward)(float *, float *, float *, const float *, const float *,
                             const float *, const float *, const float *, int64_t, int64_t);
    void (*scale)(float *, float, int64_t);
    void (*zero)(float *, int64_t);
    void (*adamw_update)(float *, const float *, float *, float *, int64_t,
                         const lv_adamw_coef *);
    double (*sum_squares)(const float *, int64_t);
} lv_backend;

extern const lv_backend lv_backend_ref;

/* Floats of the attention cache of backend be for groups g with H heads. */
static inline int64_t lv_backend_attention_cache(const lv_backend *be, const lv_attn_groups *g,
                                                 int64_t H)
{
    return be->attention_lse ? 2 * H * (g->q_start[g->n_groups] - g->q_start[0])
                             : lv_attention_cache_size(g, H);
}

/* The same, bounded from above by group shapes alone (activations are sized before the groups
 * exist): q_rows query rows in groups of at most max_keys keys. */
static inline int64_t lv_backend_attention_bound(const lv_backend *be, int64_t q_rows,
                                                 int64_t max_keys, int64_t H)
{
    return be->attention_lse ? 2 * H * q_rows : H * q_rows * max_keys;
}

#endif
