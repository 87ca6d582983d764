/* The transformer stacks of both stages: a stack of pre-LN (or BERT's post-LN) blocks with
 * optional factorized temporal branches, adapters and LoRA, run by one block engine over any
 * rows and attention groups. The contrastive towers (model.h) and the video-to-text decoder are
 * both built from it; what differs between them (tokenizers, pooling, losses) lives with them.
 * Parameters are rows of the caller's lv_params table; activations are laid out in the caller's
 * slab by lv_tower_layout. */
#ifndef LV_TOWER_H
#define LV_TOWER_H

#include "backend.h"
#include "config.h"
#include "error.h"
#include "params.h"

#include <stdint.h>

/* Indices into the parameter table of one transformer block (-1 where a variant lacks it). */
enum { LV_LORA_QKV, LV_LORA_PROJ, LV_LORA_FC1, LV_LORA_FC2, LV_LORA_COUNT };

typedef struct {
    int64_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
    int64_t t_ln_w, t_ln_b, t_qkv_w, t_qkv_b, t_proj_w, t_proj_b, t_gate;   /* factorized */
    int64_t ad_down_w, ad_down_b, ad_up_w, ad_up_b;                         /* adapters */
    int64_t lora_a[LV_LORA_COUNT], lora_b[LV_LORA_COUNT];                   /* LoRA */
} lv_block_params;

/* Saved activations of one block over R token rows. */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd;     /* (R, D) (R) (R) */
    float *qkv, *att, *atty;              /* (R, 3D) (cache) (R, D) */
    float *x_mid;                         /* (R, D) x + attention (post-LN: before ln1) */
    float *t_ln, *t_mean, *t_rstd, *t_qkv, *t_att, *t_atty, *t_out;   /* factorized */
    float *x_t;                           /* (R, D) x_mid + tanh(g) temporal (= x_mid if none) */
    float *ln2, *ln2_mean, *ln2_rstd;     /* (R, D) (R) (R); post-LN: ln2 is the block output */
    float *fc1, *gelu;                    /* (R, 4D) pre- and post-GELU */
    float *x_mlp;                         /* (R, D) x_t + MLP (= out without adapters);
                                           * post-LN: ln1 + MLP, before ln2 */
    float *ad_down, *ad_gelu;             /* (R, A) adapters */
    float *lora_u[LV_LORA_COUNT];         /* (R, r) scale * A x, LoRA */
} lv_block_acts;

/* One transformer stack (video or text) and its saved activations. */
typedef struct {
    int64_t D, H, L, hidden, rows;        /* width, heads, layers, MLP width, token rows */
    lv_act act;                           /* the blocks' MLP activation */
    int post_ln;                          /* BERT's post-LN blocks, no final LayerNorm */
    float eps;                            /* every LayerNorm's epsilon */
    lv_block_params *blocks;              /* (L) */
    int64_t ln_f_w, ln_f_b, proj_w;
    int factorized, adapters, lora;
    int64_t adapter_dim, lora_rank;
    float lora_scale;
    /* The frozen prefix: blocks 0 .. prefix-1 run forward only (nothing in them or before them
     * trains, and nothing asks for a gradient of the input), so the backward stops at block
     * prefix. They share one activation set (acts[0] = ... = acts[prefix-1]) and, unless
     * every_stream asks to keep each block's output (the golden files record them), run in
     * place on one residual-stream buffer: x[0] = ... = x[prefix]. 0: every block trains. */
    int64_t prefix;
    int every_stream;
    /* activations */
    float *x;                             /* (L+1, R, D) residual stream at each block input;
                                           * with an in-place prefix (L+1-prefix, R, D): read
                                           * x[l] through lv_tower_stream */
    lv_block_acts *acts;                  /* (L) */
    float *ln_f, *ln_f_mean, *ln_f_rstd;  /* (R, D) (R) (R); post-LN: ln_f is x[L], no stats */
    float *pooled, *emb, *emb_n, *emb_norm;   /* (B, D) (B, E) (B, E) (B) */
} lv_tower;

/* What a block engine runs on: the backend, the parameter table, and the temporaries its
 * blocks share, each (rows, widest matrix of any stack it runs) floats, named by the role they
 * play in a block. */
typedef struct {
    const lv_backend *be;
    lv_params *params;
    float *branch_out;          /* forward: a branch's output before its residual add */
    float *lora_out;            /* forward: LoRA's scale B (A x) before it joins the linear */
    float *d_stream;            /* backward: d x of the residual stream, updated in place */
    float *d_inner;             /* backward: d of a branch's inner activation (GELU output,
                                 * attention output, temporal branch output) */
    float *d_pre;               /* backward: d before the nonlinearity (fc1 output, qkv, temporal
                                 * attention output) */
    float *d_norm;              /* backward: d of a LayerNorm output (or temporal qkv) */
    float *d_lora;              /* backward: (rows, r) d of LoRA's u = scale A x */
} lv_engine;

/* x[l], the residual stream at the input of block l (l = L: after the last block). */
float *lv_tower_stream(const lv_tower *tw, int64_t l);

/* All blocks of tw, x[l] -> x[l+1], then the final LayerNorm (pre-LN; post-LN blocks end
 * normalised and ln_f is x[L] itself); x[0] holds the embedded tokens, tw->rows the row count.
 * g: the attention groups; tg: factorized attention's temporal groups (NULL: no temporal
 * branch). */
void lv_tower_forward(const lv_engine *e, lv_tower *tw, const lv_attn_groups *g,
                      const lv_attn_groups *tg);

/* Backward of the last lv_tower_forward from d ln_f (rows, D): accumulates every trainable
 * parameter's gradient and returns d x[prefix] (e->d_stream): the blocks of the frozen prefix
 * are not run backward. */
float *lv_tower_backward(const lv_engine *e, lv_tower *tw, const float *dln_f,
                         const lv_attn_groups *g, const lv_attn_groups *tg);

/* The pieces of those two, for a caller that puts layers of its own between the blocks (the
 * video-to-text decoder's gated cross-attention): block l over tw->rows rows, x -> out
 * (backward: dres holds d out on entry, d x on return); the final LayerNorm of x[L] into ln_f
 * (backward: returns d x[L] in e->d_stream). */
void lv_block_forward(const lv_engine *e, lv_tower *tw, int64_t l, const float *x, float *out,
                      const lv_attn_groups *g, const lv_attn_groups *tg);
void lv_block_backward(const lv_engine *e, lv_tower *tw, int64_t l, const float *x, float *dres,
                       const lv_attn_groups *g, const lv_attn_groups *tg);
void lv_tower_final_forward(const lv_engine *e, lv_tower *tw);

/* A key/value cache for decoding: per block, the qkv rows (3D wide, backend memory) of every
 * position decoded so far; a step writes its new rows' qkv to cache rows row_of[r] (host
 * array), then each new row attends over the cache rows its group lists (kv->groups, usually
 * through k_index: a hypothesis's positions 0 .. t). Forward only. */
typedef struct {
    float *const *layer;        /* (L) each (cache rows, 3D) */
    const int64_t *row_of;      /* (rows) */
    const lv_attn_groups *groups;
} lv_kv_cache;

/* Block l of a pre-LN stack over tw->rows new rows with a key/value cache: x -> out. */
void lv_block_forward_cached(const lv_engine *e, lv_tower *tw, int64_t l, const float *x,
                             float *out, const lv_kv_cache *kv);
float *lv_tower_final_backward(const lv_engine *e, lv_tower *tw, const float *dln_f);

/* ---- registering parameters ------------------------------------------------------------- */

#define LV_INIT_STD 0.02       /* ViT / BERT / GPT-2 initialisation of weights and embeddings */

/* A parameter table being filled; failed is set by the first add that fails. */
typedef struct {
    lv_params *ps;
    int failed;
} lv_table;

/* Adds one tensor named by the format; returns its index (-1 and t->failed on failure). */
int64_t lv_table_add(lv_table *t, lv_param_spec spec, const char *fmt, ...) LV_PRINTF(3, 4);

/* The usual kinds: a weight matrix (decayed, N(0, 0.02)), zeros (biases, gates, new tables), a
 * learned table N(0, 0.02) (embeddings, positions; not decayed), a copy of another tensor.
 * lv_spec_linear is a weight matrix as PyTorch's nn.Linear starts it, U(-1/sqrt(in),
 * 1/sqrt(in)): a gain (standard deviation out over in) of 1/sqrt(3) at every width, where
 * N(0, 0.02) gives 0.02 sqrt(in) (0.11 at width 32); the layers the video-to-text stage adds
 * on frozen towers use it, as OpenFlamingo does. */
lv_param_spec lv_spec_matrix(int trainable, int64_t out, int64_t in);
lv_param_spec lv_spec_linear(int trainable, int64_t out, int64_t in);
lv_param_spec lv_spec_zeros(int trainable, int ndim, int64_t d0, int64_t d1);
lv_param_spec lv_spec_normal(int trainable, int64_t rows, int64_t cols);
lv_param_spec lv_spec_copy(const lv_table *t, int trainable, int decay, int64_t source);

/* A LayerNorm's weight (ones) and bias (zeros), "<pre>.weight" and "<pre>.bias". */
void lv_table_add_layernorm(lv_table *t, int trainable, int64_t D, int64_t *w, int64_t *b,
                            const char *pre);

/* What trains in one block: its base (attention, MLP, LayerNorms), the factorized temporal
 * branch, the adapter, the LoRA factors. */
typedef struct {
    int base, temporal, adapters, lora;
} lv_block_training;

/* Block l's tensors, "<tower>.blocks.<l>.*", per tw's variant flags. */
void lv_tower_add_block(lv_table *t, lv_tower *tw, int64_t l, const char *tower,
                        lv_block_training bt);

/* tw->blocks and tw->acts for tw->L blocks (freed by the owner with free()). */
int lv_tower_alloc(lv_tower *tw);

/* ---- activations ---------------------------------------------------------------------------- */

/* A slab being laid out: with base NULL it only counts (the analytic figure). */
typedef struct {
    float *base;
    int64_t used;
} lv_fslab;

float *lv_take(lv_fslab *s, int64_t n);

/* The same for index lists, in bytes, each piece rounded up to 8 (so any type is aligned). */
typedef struct {
    char *base;
    int64_t used;
} lv_bslab;

void *lv_take_bytes(lv_bslab *s, int64_t n);

/* tw's activations for R rows (and B pooled rows, E-wide embeddings: 0 for a stack without
 * them) with attention caches of the given floats per block: one set per block after the
 * frozen prefix (tw->prefix), one set for the whole prefix. */
void lv_tower_layout(lv_fslab *s, lv_tower *tw, int64_t R, int64_t B, int64_t E, int64_t cache,
                     int64_t temporal_cache);

/* Forward matmul FLOPs (2 per multiply-add) of tw's blocks over R rows, with attention over
 * groups whose query x key sizes sum to qk per head slice. */
double lv_tower_flops(const lv_tower *tw, double R, double qk);

#endif
