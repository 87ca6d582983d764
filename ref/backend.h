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
    void (*attention_backward)(float *, float *, float *, const float *, const float *,
                               const float *, const float *, const float *,
                               const lv_attn_groups *, int64_t, int64_t, int64_t, int64_t);
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
} lv_backend;

extern const lv_backend lv_backend_ref;

#endif
