/* The LongViViT dual encoder as one graph: video tower (joint, factorized or frame-level
 * attention; tubelet or TubeViT tokenizers; masking), text tower, symmetric InfoNCE. Written
 * once, it calls kernels only through an lv_backend, so every backend runs the same graph.
 * Memory: parameters and gradients in the slabs of params.h, activations in one slab sized
 * before allocation from (batch, kept tokens), reused every step. */
#ifndef LV_MODEL_H
#define LV_MODEL_H

#include "backend.h"
#include "config.h"
#include "params.h"
#include "tower.h"

typedef struct {
    int64_t B;                  /* video-text pairs */
    const float *video;         /* (B, F, S, S, 3) normalised pixels; (B, 1, S, S, 3) images;
                                 * host memory (uploaded by the graph when the backend's is not) */
    int is_image;               /* the batch holds images: 2D patch path, no temporal parts */
    const int32_t *text;        /* (B, T) token ids, host memory */
    const uint8_t *text_valid;  /* (B, T) 1 = token, 0 = padding, host memory */
    uint32_t step;              /* keys the masks: (seed, step, sample) */
    uint32_t first_sample;      /* sample number of row 0 within the step (micro-batches) */
} lv_batch;

/* The per-batch index lists the host builds (the masking step, then the attention groups) and
 * the kernels read. One layout, two copies: m->ix in host memory, m->ix_dev in backend memory,
 * uploaded once per encode (the same arrays when the backend's memory is the host's). */
typedef struct {
    int64_t *kept;              /* (B, K) kept token numbers over all tokenizers, ascending */
    int64_t *kept_local;        /* (B, K) the same, relative to their tokenizer */
    int64_t *joint_start;       /* (B+1) joint attention: one group per sample */
    int64_t *space_start;       /* (B Ft + 1) one group per time step (factorized, frame-level) */
    int64_t *time_start;        /* (B P + 1) one group per spatial position (factorized) */
    int64_t *time_index;        /* (B K) the rows of each spatial position, in time order */
    int64_t *text_start;        /* (B+1) text: one group per caption */
    int64_t *pool_q_start;      /* (B+1) attentional pooling: the query of sample b ... */
    int64_t *pool_k_start;      /* (B+1) ... attends to its Ft frames */
    uint8_t *frame_valid;       /* (B, Ft) frame-level: 1 where the frame kept a token */
    int32_t *zeros_ids;         /* (B) all 0: broadcasts the pooling query */
    int32_t *token_rows;        /* (B R) pool=cls: the row of the staged table (class token,
                                 * then the B K tokens) that each tower row takes */
    int32_t *cls_rows;          /* (B) pool=cls: each sample's class-token row, b R */
    int32_t *text_cls_rows;     /* (B) text_pool=cls: each caption's first row, b T */
    int32_t *text;              /* (B, T) the batch's token ids (uploaded copy; NULL when the
                                 * backend's memory is the host's) */
    uint8_t *text_valid;        /* (B, T) likewise */
} lv_index_lists;

typedef struct {
    lv_config cfg;
    const lv_backend *be;
    lv_params params;
    const char *vocab;          /* vocab.txt text saved with the parameters (not owned; NULL:
                                 * none): the ids mean nothing without it */
    lv_video_geometry geo;      /* of the current batch (video or image) */
    int image;                  /* the current batch is images */
    /* parameter indices: video tokenizers (tubelet(s) or, frame-level and images, the 2D patch),
     * CLIP's LayerNorm on the embedded tokens, frame-level attentional pooling, text embeddings */
    int64_t tok_w[LV_MAX_TUBES], tok_b[LV_MAX_TUBES], pos_s[LV_MAX_TUBES], pos_t[LV_MAX_TUBES];
    int64_t patch_w, patch_b, pos_spatial, pos_temporal;
    int64_t ln_pre_w, ln_pre_b;
    int64_t cls_token;          /* pool=cls: the class token (D), CLIP's class embedding plus
                                 * its position embedding; -1 without */
    int64_t ln_embed_w, ln_embed_b;              /* text_arch=bert: the embeddings' LayerNorm */
    int64_t pool_query, pool_kv_w, pool_kv_b;
    int64_t tok_embed, text_pos, logit_scale;
    lv_tower video, text;
    int64_t B;                  /* batch size the activations are sized for */

    /* ---- activations outside the towers (backend memory); Rv = B R video rows, R = K kept
     * tokens per sample, or 1 + K with a class token ---- */
    float *pixels;              /* (B, F, S, S, 3) the uploaded batch; NULL on host memory */
    float *tokens;              /* (B K, D) tokenizer output before position embeddings */
    float *staged;              /* pool=cls: (1 + B K, D) the class token, then the tokens with
                                 * their position embeddings; NULL without */
    float *embedded;            /* (Rv, D) tokens + position embeddings (and class tokens),
                                 * before ln_pre */
    float *ln_pre_mean, *ln_pre_rstd;            /* (Rv) (Rv) */
    float *frame_emb;           /* (B Ft, D) frame-level: per-frame means */
    float *text_embedded;       /* text_arch=bert: (B T, D) token + position embeddings */
    float *ln_embed_mean, *ln_embed_rstd;        /* (B T) (B T) */
    float *pool_q, *pool_kv, *pool_att;          /* (B, D) (B Ft, 2D) (cache) attn pooling */
    float *logits, *loss;       /* (B, B) (1) */
    float *dloss;               /* (1) = 1: d loss / d loss, where the backward starts */
    float *demb_v, *demb_t;     /* (B, E) loss gradients of the normalised embeddings */
    /* the block engine: the backend, the parameters and the temporaries of both towers, each
     * sized for its widest use (rows x the widest matrix, or x the wider tower; LoRA's only
     * with LoRA: layout in model.c); the pooling and tokenizer steps reuse them as commented
     * where they do */
    lv_engine eng;
    float *d_pooled;            /* backward: (B, D) d of the pooled tower output */
    float *d_final;             /* backward: (rows, D) d of the final LayerNorm's output */
    float *d_lora;              /* backward: (rows, r) d of LoRA's u = scale A x */
    float *dtokens;             /* (B K, D); NULL with a frozen prefix (video.prefix > 0) */
    float *dvideo;              /* (B, F, S, S, 3) or NULL when pixels need no gradient */

    /* ---- the per-batch index lists: host copy (built here) and backend copy (kernels) ---- */
    lv_index_lists ix, ix_dev;
    lv_attn_groups g_video;     /* joint: per sample; factorized and frame-level: per time step */
    lv_attn_groups g_time;      /* factorized: per spatial position */
    lv_attn_groups g_text, g_pool;
    /* what the kernels read for the current batch: the uploaded copies, or the batch's own
     * host arrays when the backend's memory is the host's */
    const float *video_in;      /* (B, F, S, S, 3) */
    const int32_t *text_in;     /* (B, T) */
    const uint8_t *text_valid_in;   /* (B, T) */

    float *act_slab;            /* every float activation above: one backend allocation */
    int64_t act_floats;
    void *index_host, *index_dev;   /* the index lists: one host and one backend allocation (the
                                     * same one when the backend's memory is the host's) */
    int64_t index_bytes;        /* the video part of it, uploaded again by every video encode */
} lv_model;

/* Builds the parameter table for c, allocates and initialises it (seed c->seed). */
int lv_model_build(lv_model *m, const lv_config *c, const lv_backend *be);

/* The parameter table alone, nothing allocated: counts and names of any preset, cheaply. */
int lv_model_build_table(lv_model *m, const lv_config *c, const lv_backend *be);

/* Activation floats of one training step with batch B (videos) on backend be (its attention
 * cache), computed without allocating: what lv_model_alloc_acts will take. */
int64_t lv_model_act_floats(const lv_config *c, const lv_backend *be, int64_t B);

/* Model FLOPs of one training step with batch B: 3 x the forward's matmul FLOPs (linear layers,
 * tubelet embedding, attention's QK^T and PV, projections, logits; 2 per multiply-add), the
 * usual convention: the backward's input and weight gradients are two more matmuls of each.
 * Recomputation (memory-efficient attention) and elementwise work are not counted. */
double lv_model_step_flops(const lv_config *c, int64_t B);

/* What lv_model_alloc_acts lays out beyond the training step's needs: the pixels' gradient
 * m->dvideo (the whole backward then runs, through any frozen prefix), and each block's output
 * in the video tower's frozen prefix (read through lv_tower_stream; without it the prefix runs
 * in place and only its last output, the input of block prefix, stays). */
enum { LV_ACTS_PIXEL_GRAD = 1, LV_ACTS_EVERY_STREAM = 2 };

/* Allocates the activation slab for batches of up to B pairs (once; reused every step); flags:
 * LV_ACTS_* or 0. */
int lv_model_alloc_acts(lv_model *m, int64_t B, int flags);

/* Forward: masks, both towers, the loss. Returns the loss (downloaded from m->loss); NaN +
 * lv_error() when masking fails. */
float lv_model_forward(lv_model *m, const lv_batch *batch);

/* Backward of the last forward: accumulates into the gradient slab (zero it first) and, if
 * allocated, into m->dvideo (zeroed here). */
void lv_model_backward(lv_model *m, const lv_batch *batch);

/* Both towers without the loss: the normalised embeddings land in m->video.emb_n and
 * m->text.emb_n (B, E). With lv_model_backward_embeddings this is gradient accumulation with
 * negatives across micro-batches: encode every micro-batch (keeping a copy of its embeddings),
 * compute the loss over all of them, then per micro-batch encode again (recomputing its
 * activations) and run the backward from its slice of the embedding gradients. */
int lv_model_encode(lv_model *m, const lv_batch *batch);

/* One tower alone (evaluation): the video tower of batch->video (batch->text unused), or the
 * text tower of batch->text (batch->video unused). */
int lv_model_encode_video(lv_model *m, const lv_batch *batch);
void lv_model_encode_text(lv_model *m, const lv_batch *batch);

/* Backward of the last lv_model_encode from given embedding gradients (B, E) each. */
void lv_model_backward_embeddings(lv_model *m, const lv_batch *batch, const float *demb_v,
                                  const float *demb_t);

/* Buffers for a step over several micro-batches whose negatives span the whole batch, in
 * backend memory (one allocation). */
typedef struct {
    const lv_backend *be;
    int64_t B, E;                        /* the whole batch */
    float *emb_v, *emb_t;                /* (B, E) (B, E) every micro-batch's embeddings */
    float *demb_v, *demb_t;              /* (B, E) (B, E) their loss gradients */
    float *logits;                       /* (B, B) */
    float *loss, *dloss;                 /* (1) (1) */
} lv_accum;

int lv_accum_alloc(lv_accum *a, const lv_backend *be, int64_t B, int64_t E);
void lv_accum_free(lv_accum *a);

/* Loss and gradients (accumulated into the gradient slab) of one step made of n_micro
 * micro-batches, as if they were one batch: every embedding is computed first, then the InfoNCE
 * loss over all of them, then each micro-batch is encoded again and back-propagated from its
 * share of the embedding gradients. One micro-batch is a plain forward + backward. Returns the
 * loss (NaN + lv_error() if masking failed). */
float lv_model_step(lv_model *m, const lv_batch *micro, int64_t n_micro, lv_accum *a);

void lv_model_free(lv_model *m);

#endif
