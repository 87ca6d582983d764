/* The kernel contracts of longvivit: every layer as a forward/backward pair, in llm.c argument
 * order (outputs, inputs, parameters, caches, shape ints). ref/ implements them in plain C;
 * blas_glue/ and cuda/ implement the same contracts fast. This header is all they share.
 *
 * Conventions for every kernel:
 *  - Tensors are dense, row-major float32; shapes in comments use the legend of STYLE.md:
 *    B batch, F frames, N tokens, K kept tokens, T text length, D width, H heads, V vocabulary.
 *  - Backward ACCUMULATES (+=) into every gradient it writes, so residual branches add up for
 *    free and a step zeroes gradients once. A NULL gradient pointer means "not needed" (frozen
 *    parameter, or an input that needs no gradient) and is skipped.
 *  - Empty sets are explicit, never NaN: a softmax row with every entry masked, an attention query
 *    with no valid key and a mean over zero valid tokens all produce 0 and pass back 0.
 */
#ifndef LV_KERNELS_H
#define LV_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- linear: out = inp W^T + b ------------------------------------------------------------ */
void lv_linear_forward(float *out,                     /* (N, OC) */
                       const float *inp,               /* (N, C) */
                       const float *weight,            /* (OC, C) */
                       const float *bias,              /* (OC) or NULL */
                       int64_t N, int64_t C, int64_t OC);
void lv_linear_backward(float *dinp, float *dweight, float *dbias,   /* (N,C) (OC,C) (OC) */
                        const float *dout,             /* (N, OC) */
                        const float *inp, const float *weight,
                        int64_t N, int64_t C, int64_t OC);

/* ---- layernorm over the last dim: out = (x - mean) * rstd * w + b --------------------------- */
void lv_layernorm_forward(float *out, float *mean, float *rstd,      /* (N,C) (N) (N) */
                          const float *inp,            /* (N, C) */
                          const float *weight, const float *bias,    /* (C) (C) */
                          int64_t N, int64_t C, float eps);
void lv_layernorm_backward(float *dinp, float *dweight, float *dbias,
                           const float *dout, const float *inp, const float *weight,
                           const float *mean, const float *rstd, int64_t N, int64_t C);

/* ---- GELU, erf form: out = x/2 (1 + erf(x / sqrt 2)) ------------------------------------- */
void lv_gelu_forward(float *out, const float *inp, int64_t n);
void lv_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n);

/* ---- multi-head scaled dot-product attention over groups of tokens ---------------------------
 * Queries attend only to the keys of their own group. A group is a list of row indices:
 * joint space-time attention has one group per sample (all its kept tokens), factorized
 * attention one group per time step or per spatial position, cross-attention pairs a query
 * group with a key group (latents -> visual tokens, text -> resampled video).
 * Self-attention passes the same lists for queries and keys. Rows of q, k, v are strided so a
 * packed qkv (N, 3D) projection is used in place: q = qkv, k = qkv + D, v = qkv + 2D, ld 3D. */
typedef struct {
    int64_t n_groups;            /* G */
    const int64_t *q_start;      /* (G+1) group g: queries q_index[q_start[g] .. q_start[g+1]) */
    const int64_t *q_index;      /* (Mq) query rows; NULL = rows q_start[g] .. q_start[g+1] */
    const int64_t *k_start;      /* (G+1) */
    const int64_t *k_index;      /* (Mk) key rows; NULL = rows k_start[g] .. k_start[g+1] */
    const uint8_t *k_valid;      /* (key rows) 0 = padding, never attended; NULL = all valid */
} lv_attn_groups;

/* Floats of the attention-probability cache: sum over groups of H * |queries| * |keys|. */
int64_t lv_attention_cache_size(const lv_attn_groups *g, int64_t H);

void lv_attention_forward(float *out,          /* (query rows, D); rows in no group untouched */
                          float *att,          /* (lv_attention_cache_size) probabilities */
                          const float *q, const float *k, const float *v,
                          const lv_attn_groups *g,
                          int64_t ldq,         /* row stride of q */
                          int64_t ldkv,        /* row stride of k and of v */
                          int64_t H, int64_t D);
void lv_attention_backward(float *dq, float *dk, float *dv,  /* strided like q, k, v */
                           const float *dout, const float *att,
                           const float *q, const float *k, const float *v,
                           const lv_attn_groups *g, int64_t ldq, int64_t ldkv,
                           int64_t H, int64_t D);

/* ---- residual add: out = a + b ------------------------------------------------------------ */
void lv_residual_forward(float *out, const float *a, const float *b, int64_t n);
void lv_residual_backward(float *da, float *db, const float *dout, int64_t n);

/* ---- tanh-gated residual: out = h + tanh(gate) * f (Flamingo, factorized attention) -------- */
void lv_gated_residual_forward(float *out, const float *h, const float *f, const float *gate,
                               int64_t n);
void lv_gated_residual_backward(float *dh, float *df, float *dgate, const float *dout,
                                const float *f, const float *gate, int64_t n);

/* ---- mean over the valid tokens of each sample: out[b] = mean_{t valid} inp[b, t] ------------ */
void lv_mean_pool_forward(float *out,                  /* (B, D) */
                          const float *inp,            /* (B, T, D) */
                          const uint8_t *valid,        /* (B, T) 0 = padding, or NULL */
                          int64_t B, int64_t T, int64_t D);
void lv_mean_pool_backward(float *dinp, const float *dout, const uint8_t *valid,
                           int64_t B, int64_t T, int64_t D);

/* ---- L2 normalisation of rows: out = x / max(|x|, eps) ----------------------------------- */
#define LV_L2NORM_EPS 1e-12f
void lv_l2norm_forward(float *out, float *norm,        /* (N, C) (N) */
                       const float *inp, int64_t N, int64_t C);
void lv_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                        int64_t N, int64_t C);

/* ---- embedding lookup: out[n] = table[ids[n]] --------------------------------------------- */
void lv_embedding_forward(float *out,                  /* (N, D) */
                          const int32_t *ids,          /* (N), each in [0, V) */
                          const float *table,          /* (V, D) */
                          int64_t N, int64_t V, int64_t D);
void lv_embedding_backward(float *dtable, const float *dout, const int32_t *ids,
                           int64_t N, int64_t V, int64_t D);

/* ---- tubelet embedding: each kt x kh x kw x C voxel of a channel-last video -> D -------------
 * A 3D convolution written as "flatten the voxel, multiply by (D, kt*kh*kw*C), add bias".
 * Non-overlapping tubelets have stride == kernel and offset 0; kt = 1 is the 2D patch path
 * of images; TubeViT-style sparse tubes use other strides and offsets. Tokens are numbered
 * n = (t * Hp + y) * Wp + x over the grid, so n / (Hp*Wp) is the time index and
 * n % (Hp*Wp) the spatial position. Voxel elements are ordered (dt, dy, dx, c). */
typedef struct {
    int64_t F, H, W, C;          /* video frames, height, width, channels (3) */
    int64_t kt, kh, kw;          /* kernel extent */
    int64_t st, sh, sw;          /* stride */
    int64_t ot, oh, ow;          /* offset of the first tube */
} lv_tubelet_shape;

/* Grid size along time, height, width (any may be NULL); returns N = Ft*Hp*Wp, 0 if none fits. */
int64_t lv_tubelet_grid(const lv_tubelet_shape *s, int64_t *Ft, int64_t *Hp, int64_t *Wp);
/* A non-overlapping t x p x p tubelet shape over an F x H x W x 3 video. */
lv_tubelet_shape lv_tubelet_shape_make(int64_t F, int64_t H, int64_t W, int64_t t, int64_t p);

void lv_tubelet_embed_forward(float *out,              /* (B, K, D) */
                              const float *video,      /* (B, F, H, W, C) */
                              const float *weight,     /* (D, kt*kh*kw*C) */
                              const float *bias,       /* (D) or NULL */
                              const int64_t *kept,     /* (B, K) token indices, or NULL: K = N */
                              const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D);
void lv_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias,
                               const float *dout, const float *video, const float *weight,
                               const int64_t *kept, const lv_tubelet_shape *s,
                               int64_t B, int64_t K, int64_t D);

/* ---- position embeddings from separate spatial and temporal tables, by kept-token index -----
 * out[b,k] = inp[b,k] + spatial[n % P] + temporal[n / P], n = kept[b,k] (or k if kept is NULL).
 * temporal may be NULL (images: spatial only). out may alias inp. */
void lv_pos_embed_forward(float *out,                  /* (B, K, D) */
                          const float *inp,            /* (B, K, D) */
                          const float *spatial,        /* (P, D) */
                          const float *temporal,       /* (Ft, D) or NULL */
                          const int64_t *kept,         /* (B, K) or NULL */
                          int64_t B, int64_t K, int64_t P, int64_t Ft, int64_t D);
void lv_pos_embed_backward(float *dinp, float *dspatial, float *dtemporal, const float *dout,
                           const int64_t *kept, int64_t B, int64_t K, int64_t P, int64_t Ft,
                           int64_t D);

/* ---- matrix multiply, row-major: C = alpha op(A) op(B) + beta C --------------------------
 * op(A) is (M, K), op(B) is (K, N), C is (M, N); trans_a/trans_b != 0 mean A/B are stored
 * transposed. beta = 0 overwrites C (NaN in C does not propagate), as in BLAS.
 * lv_sgemm_ref is the plain triple loop; blas_glue/ has the fast twin lv_sgemm. */
void lv_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc);

/* ---- mean over contiguous row ranges: out[g] = mean of inp[start[g] .. start[g+1]) ---------
 * The frame-level encoder pools the tokens of each frame; with random masking frames keep
 * different counts. An empty segment gives 0 and passes back 0. */
void lv_segment_mean_forward(float *out,               /* (G, D) */
                             const float *inp,         /* (rows, D) */
                             const int64_t *start,     /* (G+1) ascending row offsets */
                             int64_t G, int64_t D);
void lv_segment_mean_backward(float *dinp, const float *dout, const int64_t *start,
                              int64_t G, int64_t D);

/* ---- symmetric InfoNCE over the in-batch negatives (CLIP) --------------------------------- */
#define LV_LOGIT_SCALE_MAX 100.0f   /* exp(log_scale) is clamped to this (CLIP's choice) */
/* The loss's two rules every backend shares: exp(min(log_scale, log LV_LOGIT_SCALE_MAX)), with
 * *clamped = 1 where the clamp is active (the scale is then flat in log_scale); and
 * log sum_i exp(x[i * stride]), i < n, in double with the maximum subtracted. */
double lv_logit_scale(float log_scale, int *clamped);
double lv_logsumexp_strided(const float *x, int64_t n, int64_t stride);
/* v, t: (B, E) L2-normalised embeddings; logits = exp(min(s, log 100)) v t^T (B, B), kept for the
 * backward; loss = (CE(rows of logits, diagonal) + CE(columns, diagonal)) / 2, each a mean over B.
 * While the clamp is active (exp(s) > 100) dlog_scale gets nothing: the clamp is flat. */
void lv_infonce_forward(float *loss,                   /* (1) */
                        float *logits,                 /* (B, B) */
                        const float *v, const float *t,   /* (B, E) (B, E) */
                        const float *log_scale,        /* (1) */
                        int64_t B, int64_t E);
void lv_infonce_backward(float *dv, float *dt, float *dlog_scale,   /* (B,E) (B,E) (1) */
                         const float *dloss,           /* (1) */
                         const float *logits, const float *v, const float *t,
                         const float *log_scale, int64_t B, int64_t E);

/* ---- elementwise utilities of the graph ----------------------------------------------------
 * x *= s in place (LoRA's alpha / r; its backward is the same call on the gradient), and
 * x = 0 (gradient scratch before a backward accumulates into it). */
void lv_scale(float *x, float s, int64_t n);
void lv_zero(float *x, int64_t n);

/* ---- the optimiser's per-entry work (the rule and its schedule: adamw.h) -------------------
 * AdamW on n entries of one tensor at step t, in double from the stored floats, rounded to
 * float once per entry:  x = keep x - lr (m / bc1) / (sqrt(v / bc2) + eps), after
 * m = beta1 m + (1 - beta1) g and v = beta2 v + (1 - beta2) g^2, with g = fp32(grad * grad_scale)
 * (gradient clipping folded in; 1 = none). */
typedef struct {
    double lr, keep;            /* keep = 1 - lr * weight_decay on decayed tensors, else 1 */
    double beta1, beta2, eps;
    double bc1, bc2;            /* bias corrections 1 - beta^t */
    float grad_scale;           /* the clipping factor, applied as fp32(g * grad_scale) */
} lv_adamw_coef;

void lv_adamw_update(float *x, const float *g, float *m, float *v, int64_t n,
                     const lv_adamw_coef *k);
/* sum of x^2 in double (the global gradient norm) */
double lv_sum_squares(const float *x, int64_t n);

#endif
