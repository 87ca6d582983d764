/* The port contract: everything a backend implements so that the one graph of ref/model.c runs
 * on it. Read it top to bottom: the memory model, the shapes shared by several kernels, then
 * every member of the table with named, shape-commented parameters. ref/ implements it plainly
 * (lv_backend_ref, ref/backend_ref.c), blas_glue/ fast on the CPU (lv_backend_cpu); a CUDA port
 * implements the same members and nothing else: it adds kernels, never graphs.
 *
 * ---- Memory model -----------------------------------------------------------------------------
 * Backend memory is what the backend's alloc returns. Every float * and index pointer a kernel
 * receives points into backend memory: parameters, gradients, AdamW moments, activations, the
 * batch once uploaded, and the per-batch index lists (kept tokens, attention groups, valid
 * masks). The graph builds index lists on the host and uploads them once per encode; it never
 * reads or writes backend memory itself: it moves data with upload/download/copy/set, reads the
 * loss with download and the gradient norm (which is also the finite check) from sum_squares.
 * Structs passed by pointer (lv_attn_groups, lv_tubelet_shape, lv_adamw_coef) are host memory
 * that hold backend pointers or plain numbers; they are valid only during the call.
 *
 * host_memory = 1 says backend memory is ordinary host memory (ref, cpu). The graph then hands a
 * batch's host arrays (pixels, text ids) to kernels directly instead of uploading a copy, and
 * host code that makes or reads whole slabs (parameter initialisation, model and checkpoint
 * files: lv_host_view) works in place instead of through a staging copy; nothing else changes.
 * tests/check_contract.c runs everything on a backend whose memory the host cannot touch.
 *
 * ---- Numerics ---------------------------------------------------------------------------------
 * Storage is fp32 everywhere. How a backend accumulates is its own choice and is stated per
 * backend: ref accumulates every sum in double and rounds once (the oracle); cpu uses fp32 sgemm
 * (OpenBLAS) and fp32 elementwise arithmetic with double only for whole-tensor sums. A port is
 * judged by the golden files against the port tolerances (docs/tolerances.md), never by
 * bit-equality with ref.
 *
 * ---- Rules every kernel keeps -----------------------------------------------------------------
 *  - Row-major dense tensors; shapes use the legend B batch, F frames, Ft tubelet time steps,
 *    P patches per frame, N tokens, K kept tokens, T text length, D width, H heads, E embedding
 *    width, V vocabulary, C/OC input/output channels.
 *  - Argument order as llm.c: outputs, inputs, parameters, caches, shape ints.
 *  - A backward ACCUMULATES (+=) into every gradient it writes (a step zeroes gradients once);
 *    a NULL gradient pointer means "not needed" and is skipped.
 *  - Empty sets give 0, never NaN: an attention query with no valid key, a mean over no valid
 *    token, an empty segment all produce 0 and pass back 0.
 *  - Results must not depend on the number of threads, except where a backend says so
 *    (lv_backend_cpu_thread_exact: OpenBLAS splits sums by thread count). */
#ifndef LV_BACKEND_H
#define LV_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* ---- shapes shared by several kernels ------------------------------------------------------ */

/* Attention groups: queries attend only to the keys of their own group. A group is a list of
 * rows: joint space-time attention has one group per sample (its kept tokens), factorized
 * attention one per time step (spatial) and one per spatial position (temporal), the frame
 * encoder one per frame, attentional pooling a one-query group per sample over its frames.
 * Self-attention passes the same lists for queries and keys. A query row belongs to at most
 * one group, and so does a key row (every list the graph builds is so): a parallel backend may
 * then write each row's gradient from one place, without atomics. The struct is host memory;
 * the arrays it points to are backend memory.
 *
 * Causal attention (a decoder's self-attention): with causal = 1, in group g with nq queries and
 * nk keys, both counted in list order, query i (0-based position in the group's query list)
 * attends only to keys j <= i + (nk - nq). The mask is end-aligned: nq == nk is the usual
 * triangle (query i sees keys 0 .. i), and a decode step whose nq queries are the last nq
 * positions of a sequence of nk keys (a KV cache) sees its prefix; with nq > nk the first
 * nq - nk queries see no key. k_valid still applies on top, and a query left with no allowed
 * key outputs 0 and passes back 0, as one whose keys are all padding. causal = 0 (what a
 * designated initialiser that leaves the field out gives) is full attention within the group. */
typedef struct {
    int64_t n_groups;            /* G */
    const int64_t *q_start;      /* (G+1) group g: queries q_index[q_start[g] .. q_start[g+1]) */
    const int64_t *q_index;      /* (Mq) query rows; NULL = rows q_start[g] .. q_start[g+1] */
    const int64_t *k_start;      /* (G+1) */
    const int64_t *k_index;      /* (Mk) key rows; NULL = rows k_start[g] .. k_start[g+1] */
    const uint8_t *k_valid;      /* (key rows) 0 = padding, never attended; NULL = all valid */
    int causal;                  /* 1: query i sees keys j <= i + nk - nq of its group (above) */
} lv_attn_groups;

/* A tubelet (3D patch) tokenizer over a channel-last video (F, H, W, C): each kt x kh x kw x C
 * voxel, elements ordered (dt, dy, dx, c), becomes one token. Non-overlapping tubelets have
 * stride == kernel and offset 0; kt = 1 is the 2D patch of images; TubeViT-style sparse tubes
 * use other strides and offsets. Tokens are numbered n = (t * Hp + y) * Wp + x over the grid,
 * so n / (Hp Wp) is the time step and n % (Hp Wp) the spatial position. */
typedef struct {
    int64_t F, H, W, C;          /* video frames, height, width, channels (3) */
    int64_t kt, kh, kw;          /* kernel extent */
    int64_t st, sh, sw;          /* stride */
    int64_t ot, oh, ow;          /* offset of the first tube */
} lv_tubelet_shape;

/* The numbers of one AdamW update (the rule and its schedule: ref/adamw.h). Per entry:
 *   g = fp32(grad * grad_scale)       (global-norm clipping folded in; 1 = none)
 *   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2        (stored as float)
 *   x = keep x - lr (m / bc1) / (sqrt(v / bc2) + eps)                  (stored as float) */
typedef struct {
    double lr, keep;            /* keep = 1 - lr * weight_decay on decayed tensors, else 1 */
    double beta1, beta2, eps;
    double bc1, bc2;            /* bias corrections 1 - beta^t */
    float grad_scale;           /* the clipping factor, applied as fp32(g * grad_scale) */
} lv_adamw_coef;

/* ---- memory operations --------------------------------------------------------------------- */

/* bytes of zeroed backend memory; NULL + lv_error() naming `what` when out of memory. */
typedef void *lv_alloc_fn(size_t bytes, const char *what);
typedef void lv_free_fn(void *p);                                 /* NULL is a no-op */
typedef void lv_upload_fn(void *dst,                              /* backend */
                          const void *src,                        /* host */
                          size_t bytes);
typedef void lv_download_fn(void *dst,                            /* host */
                            const void *src,                      /* backend */
                            size_t bytes);
typedef void lv_copy_fn(float *dst, const float *src, int64_t n); /* backend to backend */
typedef void lv_set_fn(float *x, float value, int64_t n);        /* x[i] = value */

/* ---- linear: out = inp W^T + b ------------------------------------------------------------- */
typedef void lv_linear_forward_fn(float *out,                     /* (N, OC) */
                                  const float *inp,               /* (N, C) */
                                  const float *weight,            /* (OC, C) */
                                  const float *bias,              /* (OC) or NULL */
                                  int64_t N, int64_t C, int64_t OC);
/* dinp += dout W;  dweight += dout^T inp;  dbias += column sums of dout */
typedef void lv_linear_backward_fn(float *dinp,                   /* (N, C) or NULL */
                                   float *dweight,                /* (OC, C) or NULL */
                                   float *dbias,                  /* (OC) or NULL */
                                   const float *dout,             /* (N, OC) */
                                   const float *inp,              /* (N, C) */
                                   const float *weight,           /* (OC, C) */
                                   int64_t N, int64_t C, int64_t OC);

/* ---- LayerNorm over the last dim: out = (inp - mean) rstd * weight + bias ------------------- */
typedef void lv_layernorm_forward_fn(float *out,                  /* (N, C) */
                                     float *mean, float *rstd,    /* (N) (N) saved for backward */
                                     const float *inp,            /* (N, C) */
                                     const float *weight,         /* (C) */
                                     const float *bias,           /* (C) */
                                     int64_t N, int64_t C, float eps);
typedef void lv_layernorm_backward_fn(float *dinp,                /* (N, C) */
                                      float *dweight, float *dbias,   /* (C) (C) or NULL */
                                      const float *dout,          /* (N, C) */
                                      const float *inp,           /* (N, C) */
                                      const float *weight,        /* (C) */
                                      const float *mean, const float *rstd,   /* (N) (N) */
                                      int64_t N, int64_t C);

/* ---- GELU, erf form: out = inp/2 (1 + erf(inp / sqrt 2)) ------------------------------------ */
typedef void lv_gelu_forward_fn(float *out, const float *inp, int64_t n);          /* (n) (n) */
typedef void lv_gelu_backward_fn(float *dinp,                     /* (n) */
                                 const float *inp,                /* (n) the forward's input */
                                 const float *dout,               /* (n) */
                                 int64_t n);

/* ---- QuickGELU, OpenAI CLIP's activation: out = inp sigmoid(1.702 inp) ----------------------- */
typedef void lv_quick_gelu_forward_fn(float *out, const float *inp, int64_t n);    /* (n) (n) */
typedef void lv_quick_gelu_backward_fn(float *dinp,               /* (n) */
                                       const float *inp,          /* (n) the forward's input */
                                       const float *dout,         /* (n) */
                                       int64_t n);

/* ---- GELU, tanh approximation (GPT-2's "gelu_new"):
 *      out = inp/2 (1 + tanh(sqrt(2/pi) (inp + 0.044715 inp^3))) ------------------------------- */
typedef void lv_gelu_tanh_forward_fn(float *out, const float *inp, int64_t n);     /* (n) (n) */
typedef void lv_gelu_tanh_backward_fn(float *dinp,                /* (n) */
                                      const float *inp,           /* (n) the forward's input */
                                      const float *dout,          /* (n) */
                                      int64_t n);

/* ---- multi-head scaled dot-product attention over groups ---------------------------------------
 * out = softmax(q k^T / sqrt(D/H)) v per head and group, the softmax over the keys each query
 * may attend (valid ones, and with causal = 1 none after its diagonal). Rows of q, k, v are
 * strided so a packed qkv (rows, 3D) projection is used in place: q = qkv, k = qkv + D,
 * v = qkv + 2D, ld 3D. What the cache holds is the backend's choice, announced by attention_lse
 * (below). */
typedef void lv_attention_forward_fn(float *out,      /* (query rows, D); rows in no group kept */
                                     float *cache,    /* lv_backend_attention_cache floats */
                                     const float *q,  /* (query rows, ldq) */
                                     const float *k,  /* (key rows, ldkv) */
                                     const float *v,  /* (key rows, ldkv) */
                                     const lv_attn_groups *g,
                                     int64_t ldq, int64_t ldkv, int64_t H, int64_t D);
/* out is the forward's output: a memory-efficient backward needs rowsum(dout * out). */
typedef void lv_attention_backward_fn(float *dq, float *dk, float *dv,  /* strided like q, k, v */
                                      const float *dout,              /* (query rows, D) */
                                      const float *out,               /* (query rows, D) */
                                      const float *cache,
                                      const float *q, const float *k, const float *v,
                                      const lv_attn_groups *g,
                                      int64_t ldq, int64_t ldkv, int64_t H, int64_t D);

/* ---- residual add: out = a + b (out may alias a) -------------------------------------------- */
typedef void lv_residual_forward_fn(float *out, const float *a, const float *b, int64_t n);
typedef void lv_residual_backward_fn(float *da, float *db,        /* (n) (n) or NULL */
                                     const float *dout, int64_t n);

/* ---- tanh-gated residual: out = h + tanh(gate) f (factorized attention's temporal branch) ---- */
typedef void lv_gated_residual_forward_fn(float *out,             /* (n) */
                                          const float *h,         /* (n) */
                                          const float *f,         /* (n) */
                                          const float *gate,      /* (1) */
                                          int64_t n);
typedef void lv_gated_residual_backward_fn(float *dh, float *df,  /* (n) (n) or NULL */
                                           float *dgate,          /* (1) or NULL */
                                           const float *dout,     /* (n) */
                                           const float *f,        /* (n) */
                                           const float *gate,     /* (1) */
                                           int64_t n);

/* ---- mean over the valid tokens of each sample: out[b] = mean_{t valid} inp[b, t] ------------ */
typedef void lv_mean_pool_forward_fn(float *out,                  /* (B, D) */
                                     const float *inp,            /* (B, T, D) */
                                     const uint8_t *valid,        /* (B, T) 0 = padding; NULL */
                                     int64_t B, int64_t T, int64_t D);
typedef void lv_mean_pool_backward_fn(float *dinp,                /* (B, T, D) */
                                      const float *dout,          /* (B, D) */
                                      const uint8_t *valid,       /* (B, T) or NULL */
                                      int64_t B, int64_t T, int64_t D);

/* ---- mean over contiguous row ranges: out[g] = mean of inp[start[g] .. start[g+1]) ---------- */
typedef void lv_segment_mean_forward_fn(float *out,               /* (G, D) */
                                        const float *inp,         /* (rows, D) */
                                        const int64_t *start,     /* (G+1) ascending */
                                        int64_t G, int64_t D);
typedef void lv_segment_mean_backward_fn(float *dinp,             /* (rows, D) */
                                         const float *dout,       /* (G, D) */
                                         const int64_t *start,    /* (G+1) */
                                         int64_t G, int64_t D);

/* ---- L2 normalisation of rows: out = inp / max(|inp|, 1e-12) ------------------------------- */
typedef void lv_l2norm_forward_fn(float *out,                     /* (N, C) */
                                  float *norm,                    /* (N) saved for backward */
                                  const float *inp,               /* (N, C) */
                                  int64_t N, int64_t C);
typedef void lv_l2norm_backward_fn(float *dinp,                   /* (N, C) */
                                   const float *dout,             /* (N, C) */
                                   const float *out,              /* (N, C) */
                                   const float *norm,             /* (N) */
                                   int64_t N, int64_t C);

/* ---- embedding lookup: out[n] = table[ids[n]] ----------------------------------------------- */
typedef void lv_embedding_forward_fn(float *out,                  /* (N, D) */
                                     const int32_t *ids,          /* (N), each in [0, V) */
                                     const float *table,          /* (V, D) */
                                     int64_t N, int64_t V, int64_t D);
typedef void lv_embedding_backward_fn(float *dtable,              /* (V, D) */
                                      const float *dout,          /* (N, D) */
                                      const int32_t *ids,         /* (N) */
                                      int64_t N, int64_t V, int64_t D);

/* ---- tubelet embedding: a strided 3D convolution over the kept tubes -------------------------
 * out[b, k] = weight . voxel(video[b], kept[b, k]) + bias. */
typedef void lv_tubelet_embed_forward_fn(float *out,              /* (B, K, D) */
                                         const float *video,      /* (B, F, H, W, C) */
                                         const float *weight,     /* (D, kt*kh*kw*C) */
                                         const float *bias,       /* (D) or NULL */
                                         const int64_t *kept,     /* (B, K) or NULL: K = N */
                                         const lv_tubelet_shape *s,
                                         int64_t B, int64_t K, int64_t D);
typedef void lv_tubelet_embed_backward_fn(float *dvideo,          /* (B, F, H, W, C) or NULL */
                                          float *dweight,         /* (D, kt*kh*kw*C) or NULL */
                                          float *dbias,           /* (D) or NULL */
                                          const float *dout,      /* (B, K, D) */
                                          const float *video,     /* (B, F, H, W, C) */
                                          const float *weight,    /* (D, kt*kh*kw*C) */
                                          const int64_t *kept,    /* (B, K) or NULL */
                                          const lv_tubelet_shape *s,
                                          int64_t B, int64_t K, int64_t D);

/* ---- position embeddings from separate spatial and temporal tables, by kept-token index -----
 * out[b,k] = inp[b,k] + spatial[n % P] + temporal[n / P], n = kept[b,k] (k when kept is NULL).
 * out may alias inp. */
typedef void lv_pos_embed_forward_fn(float *out,                  /* (B, K, D) */
                                     const float *inp,            /* (B, K, D) */
                                     const float *spatial,        /* (P, D) */
                                     const float *temporal,       /* (Ft, D) or NULL (images) */
                                     const int64_t *kept,         /* (B, K) or NULL */
                                     int64_t B, int64_t K, int64_t P, int64_t Ft, int64_t D);
typedef void lv_pos_embed_backward_fn(float *dinp,                /* (B, K, D) or NULL */
                                      float *dspatial,            /* (P, D) or NULL */
                                      float *dtemporal,           /* (Ft, D) or NULL */
                                      const float *dout,          /* (B, K, D) */
                                      const int64_t *kept,        /* (B, K) or NULL */
                                      int64_t B, int64_t K, int64_t P, int64_t Ft, int64_t D);

/* ---- symmetric InfoNCE over in-batch negatives (CLIP) ----------------------------------------
 * logits = exp(min(log_scale, log 100)) v t^T; loss = (CE(rows, diagonal) + CE(columns,
 * diagonal)) / 2, each a mean over B. While the clamp is active dlog_scale gets nothing. */
typedef void lv_infonce_forward_fn(float *loss,                   /* (1) */
                                   float *logits,                 /* (B, B) saved for backward */
                                   const float *v,                /* (B, E) L2-normalised */
                                   const float *t,                /* (B, E) L2-normalised */
                                   const float *log_scale,        /* (1) */
                                   int64_t B, int64_t E);
typedef void lv_infonce_backward_fn(float *dv, float *dt,         /* (B, E) (B, E) */
                                    float *dlog_scale,            /* (1) or NULL */
                                    const float *dloss,           /* (1) */
                                    const float *logits,          /* (B, B) */
                                    const float *v, const float *t,   /* (B, E) (B, E) */
                                    const float *log_scale,       /* (1) */
                                    int64_t B, int64_t E);

/* ---- cross-entropy of logits against class targets, some ignored (a language model's loss) ---
 * Counted rows are those with a target >= 0 (count of them); a row with target < 0 (padding, the
 * prompt) is ignored: it adds nothing to the loss and gets no gradient.
 *   lse[n] = log sum_v exp(logits[n, v])          every row, ignored ones included
 *   loss   = (1 / count) sum over counted n of (lse[n] - logits[n, target[n]]),  0 if count = 0
 * The log-sum-exp subtracts the row maximum (a logit of 100 must not overflow fp32). */
typedef void lv_cross_entropy_forward_fn(float *loss,             /* (1) mean over counted rows */
                                         float *lse,              /* (N) saved for backward */
                                         const float *logits,     /* (N, V) */
                                         const int32_t *targets,  /* (N) in [0, V), < 0 ignored */
                                         int64_t N, int64_t V);
/* dlogits[n, v] += dloss / count (exp(logits[n, v] - lse[n]) - [v == target[n]]) on counted
 * rows; ignored rows (and every row when count = 0) get nothing. */
typedef void lv_cross_entropy_backward_fn(float *dlogits,         /* (N, V) */
                                          const float *dloss,     /* (1) */
                                          const float *logits,    /* (N, V) */
                                          const float *lse,       /* (N) the forward's */
                                          const int32_t *targets, /* (N) */
                                          int64_t N, int64_t V);

/* ---- the optimiser and the few elementwise steps of the graph ------------------------------- */
typedef void lv_scale_fn(float *x, float s, int64_t n);          /* x *= s (LoRA, clipping) */
typedef void lv_adamw_update_fn(float *x,                         /* (n) parameters */
                                const float *grad,                /* (n) */
                                float *m, float *v,               /* (n) (n) moments */
                                int64_t n, const lv_adamw_coef *k);
/* sum of x^2, returned to the host: the global gradient norm, and the finite check (any NaN or
 * Inf makes it non-finite; finite floats cannot overflow it in double). */
typedef double lv_sum_squares_fn(const float *x, int64_t n);

/* ---- the table ------------------------------------------------------------------------------ */
typedef struct {
    const char *name;                       /* what --backend NAME selects */
    int host_memory;                        /* 1: backend memory is host memory (see above) */
    /* What the attention cache holds: 0, every probability (H x |queries| x |keys| per group,
     * quadratic in tokens); 1, per query row and head the row's maximum score and the log of
     * its sum of exponentials (2 H floats per query row, linear in tokens), the backward
     * recomputing the probabilities tile by tile as exp((s - max) - log sum). */
    int attention_lse;

    lv_alloc_fn *alloc;
    lv_free_fn *free;
    lv_upload_fn *upload;
    lv_download_fn *download;
    lv_copy_fn *copy;
    lv_set_fn *set;

    lv_linear_forward_fn *linear_forward;
    lv_linear_backward_fn *linear_backward;
    lv_layernorm_forward_fn *layernorm_forward;
    lv_layernorm_backward_fn *layernorm_backward;
    lv_gelu_forward_fn *gelu_forward;
    lv_gelu_backward_fn *gelu_backward;
    lv_quick_gelu_forward_fn *quick_gelu_forward;
    lv_quick_gelu_backward_fn *quick_gelu_backward;
    lv_gelu_tanh_forward_fn *gelu_tanh_forward;
    lv_gelu_tanh_backward_fn *gelu_tanh_backward;
    lv_attention_forward_fn *attention_forward;
    lv_attention_backward_fn *attention_backward;
    lv_residual_forward_fn *residual_forward;
    lv_residual_backward_fn *residual_backward;
    lv_gated_residual_forward_fn *gated_residual_forward;
    lv_gated_residual_backward_fn *gated_residual_backward;
    lv_mean_pool_forward_fn *mean_pool_forward;
    lv_mean_pool_backward_fn *mean_pool_backward;
    lv_segment_mean_forward_fn *segment_mean_forward;
    lv_segment_mean_backward_fn *segment_mean_backward;
    lv_l2norm_forward_fn *l2norm_forward;
    lv_l2norm_backward_fn *l2norm_backward;
    lv_embedding_forward_fn *embedding_forward;
    lv_embedding_backward_fn *embedding_backward;
    lv_tubelet_embed_forward_fn *tubelet_embed_forward;
    lv_tubelet_embed_backward_fn *tubelet_embed_backward;
    lv_pos_embed_forward_fn *pos_embed_forward;
    lv_pos_embed_backward_fn *pos_embed_backward;
    lv_infonce_forward_fn *infonce_forward;
    lv_infonce_backward_fn *infonce_backward;
    lv_cross_entropy_forward_fn *cross_entropy_forward;
    lv_cross_entropy_backward_fn *cross_entropy_backward;

    lv_scale_fn *scale;
    lv_adamw_update_fn *adamw_update;
    lv_sum_squares_fn *sum_squares;
} lv_backend;

/* The plain kernels of ref/ (ref/backend_ref.c): every sum in double, host memory. */
extern const lv_backend lv_backend_ref;

/* ---- registering a backend ---------------------------------------------------------------------
 * A backend is one const lv_backend with a unique name. It becomes selectable as --backend NAME
 * in every command by adding it to the registry's table (blas_glue/registry.c: ref, cpu, and
 * cuda when built with nvcc); lv_backend_find(name) is the only lookup. */

/* ---- sizes the graph asks of a backend ------------------------------------------------------ */

/* Floats of the attention-probability cache when every probability is kept:
 * sum over groups of H x |queries| x |keys| (host arrays g). */
int64_t lv_attention_cache_size(const lv_attn_groups *g, int64_t H);

/* Floats of backend be's attention cache for q_rows query rows in groups of at most max_keys
 * keys (activations are sized before any groups exist). */
static inline int64_t lv_backend_attention_bound(const lv_backend *be, int64_t q_rows,
                                                 int64_t max_keys, int64_t H)
{
    return be->attention_lse ? 2 * H * q_rows : H * q_rows * max_keys;
}

/* The same for groups g (host arrays). */
static inline int64_t lv_backend_attention_cache(const lv_backend *be, const lv_attn_groups *g,
                                                 int64_t H)
{
    return be->attention_lse ? 2 * H * (g->q_start[g->n_groups] - g->q_start[0])
                             : lv_attention_cache_size(g, H);
}

#endif
