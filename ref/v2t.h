/* The video-to-text stage (the paper's step 2, docs/video-to-text.md) as one graph:
 *
 *   video --frozen contrastive video tower (v2t_mask_ratio of its tokens dropped)--> its last
 *         layer's tokens --temporal mean pooling (one token per spatial position)--> visual
 *         tokens (B, P, Dv) --Perceiver resampler (rs_latents learned latents, rs_depth layers)
 *         --> media (B, Lq, Dv)
 *   text ids --frozen decoder LM (GPT-2 shape: learned positions, pre-LN causal blocks, tied
 *         output embedding); before every xattn_every-th block a gated cross-attention layer
 *         x += tanh(a) xattn(LN x, media); x += tanh(b) ffw(LN x), a = b = 0 at init
 *         --> logits (B, T, V) --next-token cross-entropy over the target tokens only
 *
 * Only the resampler and the cross-attention layers train; the encoder and the LM are frozen
 * and hold no gradient memory. With lm_only the graph is the LM alone, trainable: its
 * pretraining on caption text (no video, no resampler, no cross-attention).
 * Like the contrastive graph it calls kernels only through the backend table; the host builds
 * the index lists (pooling order, attention groups) and the backend reads them. */
#ifndef LV_V2T_H
#define LV_V2T_H

#include "model.h"
#include "tower.h"

typedef struct {
    int64_t B, T;                /* samples, text rows per sample (T <= lm_ctx) */
    const float *video;          /* (B, F, S, S, 3) normalised pixels, host memory; unused
                                  * with lm_only */
    const int32_t *ids;          /* (B, T) the LM's input tokens (prompt, then target), host */
    const int32_t *targets;      /* (B, T) the next token each position predicts, < 0 where no
                                  * loss is taken (prompt, padding), host */
    const uint8_t *valid;        /* (B, T) 1 = token, 0 = padding (never attended), host */
    uint32_t step;               /* keys the video masks: (seed, step, sample) */
    uint32_t first_sample;
} lv_v2t_batch;

/* One gated cross-attention layer's parameter indices (Flamingo's GatedCrossAttentionBlock, no
 * biases as OpenFlamingo). */
typedef struct {
    int64_t ln_w, ln_b, q_w, kv_w, out_w, attn_gate;
    int64_t ff_ln_w, ff_ln_b, fc1_w, fc2_w, ff_gate;
} lv_xattn_params;

/* Its saved activations over R text rows (media rows Rm). */
typedef struct {
    float *x;                    /* (R, W) the layer's input (the stream before it) */
    float *ln, *ln_mean, *ln_rstd;       /* (R, W) (R) (R) */
    float *q, *kv, *att, *atty;  /* (R, I) (Rm, 2I) (cache) (R, I) */
    float *attn_out;             /* (R, W) out(atty), before its gate */
    float *x_mid;                /* (R, W) x + tanh(a) attn_out */
    float *ff_ln, *ff_mean, *ff_rstd;    /* (R, W) (R) (R) */
    float *fc1, *gelu, *ff_out;  /* (R, 4W) (R, 4W) (R, W) */
    float *y;                    /* (R, W) x_mid + tanh(b) ff_out: the next block's input */
} lv_xattn_acts;

/* One resampler layer's parameter indices (OpenFlamingo's PerceiverAttention + FeedForward). */
typedef struct {
    int64_t ln_media_w, ln_media_b, ln_lat_w, ln_lat_b, q_w, kv_w, out_w;
    int64_t ff_ln_w, ff_ln_b, fc1_w, fc2_w;
} lv_resampler_params;

typedef struct {
    float *lat;                  /* (Rl, Dv) the latents entering the layer */
    float *norm, *norm_mean, *norm_rstd; /* (Rv + Rl, Dv) LN(visual) rows, then LN(latents) rows */
    float *kv_in;                /* (Rk, Dv) per sample [LN(visual); LN(latents)] */
    float *q, *kv, *att, *atty;  /* (Rl, I) (Rk, 2I) (cache) (Rl, I) */
    float *lat_mid;              /* (Rl, Dv) lat + out(atty) */
    float *ff_ln, *ff_mean, *ff_rstd;    /* (Rl, Dv) (Rl) (Rl) */
    float *fc1, *gelu;           /* (Rl, 4Dv) (Rl, 4Dv) */
} lv_resampler_acts;

/* The per-batch index lists (host copy built by the graph, backend copy read by kernels). */
typedef struct {
    int32_t *pool_rows;          /* (B K) encoder rows sorted by (sample, spatial position) */
    int64_t *pool_start;         /* (B P + 1) each (sample, position)'s run in that order */
    uint8_t *visual_valid;       /* (B P) 1 where the position kept a token */
    uint8_t *kv_valid;           /* (B (P + Lq)) the resampler's keys: visual_valid, then 1s */
    int32_t *kv_rows;            /* (B (P + Lq)) row of [LN visual; LN latents] each key reads */
    int32_t *latent_ids;         /* (B Lq) i % Lq: the learned latents, broadcast */
    int64_t *lat_start;          /* (B + 1) b Lq: each sample's latent rows (queries, media) */
    int64_t *kv_start;           /* (B + 1) b (P + Lq): each sample's resampler keys */
    int64_t *text_start;         /* (B + 1) b T */
    int32_t *ids, *targets;      /* (B, T) uploaded copies (NULL when host memory) */
    uint8_t *valid;              /* (B, T) */
} lv_v2t_index;

typedef struct {
    lv_config cfg;
    const lv_backend *be;
    int lm_only;
    lv_model enc;                /* the contrastive model: its video tower is the frozen encoder
                                  * (built with mask_ratio = v2t_mask_ratio, every tensor
                                  * frozen); absent with lm_only */
    lv_params params;            /* the LM, the resampler, the cross-attention layers */
    lv_engine eng;
    int64_t V, T, W, P, Dv, Lq;  /* vocabulary, text rows per sample, LM width, visual tokens
                                  * per video, their width, latents */
    int64_t I_rs, I_xa;          /* inner widths: rs_heads rs_head_dim, xattn_heads head_dim */
    int64_t n_xattn;             /* cross-attention layers: before blocks 0, k, 2k, ... */
    /* parameters */
    int64_t tok_embed, pos_embed;            /* (V, W) also the output projection; (ctx, W) */
    lv_tower lm;
    int64_t latents, rs_ln_w, rs_ln_b;       /* (Lq, Dv); the resampler's final LayerNorm */
    lv_resampler_params *rs;                 /* (rs_depth) */
    lv_xattn_params *xa;                     /* (n_xattn) */
    int64_t B;                               /* batch the activations are sized for */
    /* activations */
    lv_resampler_acts *rs_acts;              /* (rs_depth) */
    lv_xattn_acts *xa_acts;                  /* (n_xattn) */
    float *gathered;             /* (B K, Dv) encoder tokens in pooling order */
    float *visual;               /* (B P, Dv) pooled over time */
    float *lat_out;              /* (Rl, Dv) the last layer's latents, before the final LN */
    float *media, *media_mean, *media_rstd;  /* (Rl, Dv) (Rl) (Rl) */
    float *logits, *lse, *loss, *dloss;      /* (B T, V) (B T) (1) (1) */
    float *dlogits;              /* (B T, V) */
    float *d_final;              /* (B T, W) d of the LM's final LayerNorm output */
    float *d_media, *d_lat;      /* (Rl, Dv) each */
    float *d_norm_rows;          /* (Rv + Rl, Dv) */
    float *d_kv_in;              /* (Rk, Dv) */
    float *d_ffn;                /* (max rows, 4 max(W, Dv)) backward of a feed-forward */
    float *act_slab;
    int64_t act_floats;
    lv_v2t_index ix, ix_dev;
    void *index_host, *index_dev;
    int64_t index_bytes;         /* the part each video forward uploads (its lists) */
    lv_attn_groups g_text, g_xattn, g_rs;
    const int32_t *ids_in, *targets_in;      /* what the kernels read for the current batch */
    const uint8_t *valid_in;
} lv_v2t;

/* Builds the stage for c (lm_only: the LM alone, trainable) on backend be and initialises every
 * tensor from c->seed: the encoder's as lv_model_build would, then the LM, resampler and
 * cross-attention (latents N(0, 1), weights N(0, 0.02), gates 0). A caller loads real weights
 * over them (the encoder from a contrastive checkpoint, the LM from its pretraining). */
int lv_v2t_build(lv_v2t *v, const lv_config *c, const lv_backend *be, int lm_only);

/* Activation floats of batches of B samples of T text rows, the frozen encoder's included:
 * what lv_v2t_alloc_acts will take (call it before). */
int64_t lv_v2t_act_floats(lv_v2t *v, int64_t B, int64_t T);

/* Activations for batches of up to B samples of T text rows (once; reused every step). */
int lv_v2t_alloc_acts(lv_v2t *v, int64_t B, int64_t T);

/* Forward: encoder, pooling, resampler, LM with cross-attention, logits, the loss (mean over
 * target tokens; downloaded). NaN + lv_error() when masking fails. It is lv_v2t_encode then
 * lv_v2t_text_logits then the loss; the pieces serve decoding and scoring. */
float lv_v2t_forward(lv_v2t *v, const lv_v2t_batch *b);

/* The visual side of b's videos (b->video; its text unused): media for b->B samples, kept for
 * the LM calls that follow. Nothing with lm_only. -1 + lv_error() when masking fails. */
int lv_v2t_encode(lv_v2t *v, const lv_v2t_batch *b);

/* Sample 0's media copied to samples 1 .. n-1 (one video, n texts: beams, answer options). */
void lv_v2t_repeat_media(lv_v2t *v, int64_t n);

/* The LM (with cross-attention to the current media) over b's text: logits in v->logits. */
void lv_v2t_text_logits(lv_v2t *v, const lv_v2t_batch *b);

/* Each sample's log-likelihood of its targets given the current media: out[b] = sum over rows
 * with a target of log softmax(logits)[target] (double, on the host). */
void lv_v2t_score(lv_v2t *v, const lv_v2t_batch *b, double *out);

/* Decoding one video (video: (1, F, S, S, 3); NULL with lm_only) after a prompt of n_prompt
 * ids, with a key/value cache unless opt->no_cache: beam search with `beam` hypotheses (1: greedy), each extended by its most likely
 * tokens, finished at eos or after max_new tokens; the hypothesis with the highest total
 * log-probability wins (no length normalisation). Writes up to max_new ids (eos not included)
 * to out, returns their count; -1 + lv_error() when the prompt and max_new do not fit the
 * allocated text rows or beam exceeds the allocated batch. */
typedef struct {
    int64_t max_new;             /* tokens to generate at most */
    int64_t beam;                /* hypotheses kept (1: greedy) */
    int32_t eos;                 /* the end token (< 0: none) */
    uint32_t step;               /* keys the video's token mask */
    int no_cache;                /* 1: no key/value cache, every step runs every hypothesis's
                                  * whole sequence again (the reference the cache is tested
                                  * against); 0: one new row per hypothesis and step, the
                                  * keys and values of earlier positions and of the media kept */
    double *trace;               /* (max_new, beam) or NULL: after each step, the kept
                                  * hypotheses' total log-probabilities, best first (-INFINITY
                                  * where fewer are kept): the whole beam, for tests and logs */
} lv_v2t_decode;

int64_t lv_v2t_generate(lv_v2t *v, const float *video, const int32_t *prompt, int64_t n_prompt,
                        const lv_v2t_decode *opt, int32_t *out);

/* Backward of the last forward: accumulates into v->params' gradients (zero them first). */
void lv_v2t_backward(lv_v2t *v, const lv_v2t_batch *b);

void lv_v2t_free(lv_v2t *v);

#endif
