/* The plain kernels of ref/: one C function per member of the port contract (ref/backend.h, where
 * every parameter is named and shaped), plus the few host-side rules several backends share.
 * Each kernel accumulates in double and rounds once; none is parallel, none calls BLAS.
 * blas_glue/ implements the same contracts fast and checks itself against these. */
#ifndef LV_KERNELS_H
#define LV_KERNELS_H

#include "backend.h"

/* ---- memory of the ref backend: host memory (calloc / free / memcpy) ------------------------- */
lv_alloc_fn lv_host_alloc;
lv_free_fn lv_host_free;
lv_upload_fn lv_host_upload;
lv_download_fn lv_host_download;
lv_copy_fn lv_host_copy;
lv_set_fn lv_host_set;

/* ---- layers, forward and backward (see backend.h for each contract) -------------------------- */
lv_linear_forward_fn lv_linear_forward;
lv_linear_backward_fn lv_linear_backward;
lv_layernorm_forward_fn lv_layernorm_forward;
lv_layernorm_backward_fn lv_layernorm_backward;
lv_gelu_forward_fn lv_gelu_forward;
lv_gelu_backward_fn lv_gelu_backward;
lv_quick_gelu_forward_fn lv_quick_gelu_forward;
lv_quick_gelu_backward_fn lv_quick_gelu_backward;
lv_gelu_tanh_forward_fn lv_gelu_tanh_forward;
lv_gelu_tanh_backward_fn lv_gelu_tanh_backward;
lv_attention_forward_fn lv_attention_forward;
lv_residual_forward_fn lv_residual_forward;
lv_residual_backward_fn lv_residual_backward;
lv_gated_residual_forward_fn lv_gated_residual_forward;
lv_gated_residual_backward_fn lv_gated_residual_backward;
lv_mean_pool_forward_fn lv_mean_pool_forward;
lv_mean_pool_backward_fn lv_mean_pool_backward;
lv_segment_mean_forward_fn lv_segment_mean_forward;
lv_segment_mean_backward_fn lv_segment_mean_backward;
lv_l2norm_forward_fn lv_l2norm_forward;
lv_l2norm_backward_fn lv_l2norm_backward;
lv_embedding_forward_fn lv_embedding_forward;
lv_embedding_backward_fn lv_embedding_backward;
lv_tubelet_embed_forward_fn lv_tubelet_embed_forward;
lv_tubelet_embed_backward_fn lv_tubelet_embed_backward;
lv_pos_embed_forward_fn lv_pos_embed_forward;
lv_pos_embed_backward_fn lv_pos_embed_backward;
lv_infonce_forward_fn lv_infonce_forward;
lv_infonce_backward_fn lv_infonce_backward;
lv_cross_entropy_forward_fn lv_cross_entropy_forward;
lv_cross_entropy_backward_fn lv_cross_entropy_backward;
lv_scale_fn lv_scale;
lv_adamw_update_fn lv_adamw_update;           /* in double per entry, rounded to float once */
lv_sum_squares_fn lv_sum_squares;

/* The plain attention keeps every probability (attention_lse = 0: cache of
 * lv_attention_cache_size floats), so its backward needs no forward output. */
void lv_attention_backward(float *dq, float *dk, float *dv,   /* strided like q, k, v */
                           const float *dout,                 /* (query rows, D) */
                           const float *att,                  /* the probabilities */
                           const float *q, const float *k, const float *v,
                           const lv_attn_groups *g, int64_t ldq, int64_t ldkv,
                           int64_t H, int64_t D);

/* ---- host-side rules every backend shares ------------------------------------------------- */

/* L2 normalisation's floor on the norm. */
#define LV_L2NORM_EPS 1e-12f

/* exp(log_scale) is clamped to this (CLIP's choice). */
#define LV_LOGIT_SCALE_MAX 100.0f
/* exp(min(log_scale, log LV_LOGIT_SCALE_MAX)), with *clamped = 1 where the clamp is active (the
 * scale is then flat in log_scale). */
double lv_logit_scale(float log_scale, int *clamped);
/* log sum_i exp(x[i * stride]), i < n, in double with the maximum subtracted. */
double lv_logsumexp_strided(const float *x, int64_t n, int64_t stride);

/* Grid size of a tubelet tokenizer along time, height, width (any may be NULL); returns
 * N = Ft Hp Wp, 0 if no tube fits. */
int64_t lv_tubelet_grid(const lv_tubelet_shape *s, int64_t *Ft, int64_t *Hp, int64_t *Wp);
/* A non-overlapping t x p x p tubelet shape over an F x H x W x 3 video. */
lv_tubelet_shape lv_tubelet_shape_make(int64_t F, int64_t H, int64_t W, int64_t t, int64_t p);

/* Row-major matrix multiply, the plain triple loop in double: C = alpha op(A) op(B) + beta C,
 * op(A) (M, K), op(B) (K, N), C (M, N); trans_a / trans_b != 0 mean A / B are stored transposed;
 * beta = 0 overwrites C (a NaN in C does not propagate), as in BLAS. blas_glue/ has the fast
 * twin lv_sgemm. */
void lv_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc);

#endif
