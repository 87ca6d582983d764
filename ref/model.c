/* The LongViViT graph, read top to bottom like the paper's figure:
 *
 *   video (B, F, S, S, 3) --1. mask: keep K of N tubelets per sample (random or tube)
 *                         --2. tokenize: tubelet embedding of the kept tubes + space/time
 *                              position embeddings [+ a class token in front of each sample]
 *                              + CLIP's pre-LayerNorm                         -> x[0] (B R, D)
 *                         --3. attention groups: joint (one per sample), factorized (one per
 *                              time step, then one per spatial position), or frame-level
 *                         --4. L pre-LN blocks: x += attn(ln1 x); [x += tanh(g) attn_t(ln_t x)];
 *                              x += mlp(ln2 x); [adapter]; every linear with optional LoRA
 *                         --5. final LayerNorm, mean pool (frame-level: per frame, then over
 *                              frames by mean or attention) or the class token's row,
 *                              projection, L2 normalisation
 *   text (B, T) ids       --token + position embeddings, L blocks, LayerNorm, masked mean pool
 *                              or the [CLS] row, projection, L2 normalisation; BERT's variant:
 *                              LayerNorm on the embeddings, post-LN blocks, no final LayerNorm
 *   both                  --6. symmetric InfoNCE with a learned temperature
 *
 * The forward pass comes first, then the backward mirroring it, then the micro-batch step, then
 * the parameter table and the memory layout. No arithmetic lives here: every tensor operation
 * is a call through the backend table (ref/backend.h), and the graph never reads or writes
 * backend memory itself; it only builds the index lists (masks, groups) on the host. */
#include "model.h"
#include "error.h"
#include "mask.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W(i) lv_param_data(&m->params, (i))      /* a parameter tensor, backend memory */
#define G(i) lv_param_grad(&m->params, (i))      /* its gradient, NULL when frozen */

/* ==== the forward pass ======================================================================= */

/* ---- 1. masking: which tokens each sample keeps ----------------------------------------------
 * Sample b of the step keeps K of its N tokens, drawn from the (seed, step, sample) stream so
 * every backend and thread count sees the same mask. kept[] numbers tokens over all tokenizers
 * (TubeViT mixes several, each owning a consecutive range); kept_local[] is the same number
 * relative to its tokenizer's grid, which is what the tokenizer kernels index by. */
static int mask_tokens(lv_model *m, int64_t B, uint32_t step, uint32_t first_sample)
{
    const lv_config *c = &m->cfg;
    const lv_video_geometry *g = &m->geo;
    const lv_index_lists *ix = &m->ix;
    const int64_t K = g->K, single = g->n_tokenizers == 1;
    for (int64_t b = 0; b < B; b++) {
        int64_t *kept = ix->kept + b * K;
        /* tube masking keeps the same spatial positions in every time step: P per step */
        if (lv_mask_keep(kept, c->mask_kind, c->mask_ratio, g->N, single ? g->tok[0].P : g->N,
                         c->seed, step, first_sample + (uint32_t)b) != K)
            return -1;
        for (int64_t k = 0, j = 0; k < K; k++) {
            while (kept[k] >= g->tok[j].start + g->tok[j].N)
                j++;
            ix->kept_local[b * K + k] = kept[k] - g->tok[j].start;
        }
    }
    return 0;
}

/* ---- 3. attention groups from the kept lists ---------------------------------------------------
 * Rows are the B K kept tokens, sample-major, each sample's in ascending token order, so the
 * tokens of one time step are contiguous rows. Joint attention: one group per sample (with a
 * class token, its row leads the sample's: R = 1 + K rows, and the row gather that puts it
 * there is listed here too). Spatial
 * (factorized and frame-level): one group per (sample, time step), counted then prefix-summed.
 * Temporal (factorized): one group per (sample, spatial position), rows gathered by a counting
 * sort on n % P so each group lists its rows in time order. Frame-level also needs which frames
 * kept any token, and attentional pooling one query per sample over its Ft frames. */
static void video_groups(lv_model *m, int64_t B)
{
    const lv_config *c = &m->cfg;
    const lv_video_geometry *g = &m->geo;
    const lv_index_lists *ix = &m->ix, *dev = &m->ix_dev;
    const int64_t K = g->K, R = g->R, P = g->tok[0].P, Ft = g->tok[0].Ft;
    for (int64_t b = 0; b <= B; b++)
        ix->joint_start[b] = b * R;
    m->g_video = (lv_attn_groups){ .n_groups = B, .q_start = dev->joint_start,
                                   .k_start = dev->joint_start };
    if (g->cls) {
        /* sample b's rows are its class token, then its K tokens: gathered from the staged
         * table whose row 0 is the class token and row 1 + b K + k token k of sample b */
        for (int64_t b = 0; b < B; b++) {
            ix->cls_rows[b] = (int32_t)(b * R);
            ix->token_rows[b * R] = 0;
            for (int64_t k = 0; k < K; k++)
                ix->token_rows[b * R + 1 + k] = (int32_t)(1 + b * K + k);
        }
    }
    if (c->attn == LV_ATTN_JOINT)
        return;
    /* spatial groups: tokens per (sample, time step), then prefix sums */
    for (int64_t i = 0; i <= B * Ft; i++)
        ix->space_start[i] = 0;
    for (int64_t r = 0; r < B * K; r++)
        ix->space_start[(r / K) * Ft + ix->kept[r] / P + 1]++;
    for (int64_t i = 0; i < B * Ft; i++)
        ix->space_start[i + 1] += ix->space_start[i];
    m->g_video = (lv_attn_groups){ .n_groups = B * Ft, .q_start = dev->space_start,
                                   .k_start = dev->space_start };
    if (c->attn == LV_ATTN_FRAME) {
        /* a frame whose tokens were all dropped has no embedding to offer the pooling */
        for (int64_t f = 0; f < B * Ft; f++)
            ix->frame_valid[f] = ix->space_start[f + 1] > ix->space_start[f];
        for (int64_t b = 0; b <= B; b++) {
            ix->pool_q_start[b] = b;
            ix->pool_k_start[b] = b * Ft;
        }
        m->g_pool = (lv_attn_groups){ .n_groups = B, .q_start = dev->pool_q_start,
                                      .k_start = dev->pool_k_start,
                                      .k_valid = dev->frame_valid };
        return;
    }
    /* temporal groups: a counting sort of the rows by spatial position. After the prefix sums
     * time_start[i] is bucket i's first row; it serves as the fill cursor, ends at bucket i+1's
     * first row, and is shifted back. Rows stay in ascending time order. */
    for (int64_t i = 0; i <= B * P; i++)
        ix->time_start[i] = 0;
    for (int64_t r = 0; r < B * K; r++)
        ix->time_start[(r / K) * P + ix->kept[r] % P + 1]++;
    for (int64_t i = 0; i < B * P; i++)
        ix->time_start[i + 1] += ix->time_start[i];
    for (int64_t r = 0; r < B * K; r++)
        ix->time_index[ix->time_start[(r / K) * P + ix->kept[r] % P]++] = r;
    for (int64_t i = B * P; i > 0; i--)
        ix->time_start[i] = ix->time_start[i - 1];
    ix->time_start[0] = 0;
    m->g_time = (lv_attn_groups){ .n_groups = B * P, .q_start = dev->time_start,
                                  .q_index = dev->time_index, .k_start = dev->time_start,
                                  .k_index = dev->time_index };
}

/* The batch's video and the index lists the host just built, where the kernels read them. */
static void upload_video_inputs(lv_model *m, const lv_batch *batch)
{
    const lv_backend *be = m->be;
    if (be->host_memory) {
        m->video_in = batch->video;
        return;
    }
    const int64_t pixels = batch->B * m->cfg.frames * m->cfg.image_size * m->cfg.image_size * 3;
    be->upload(m->pixels, batch->video, (size_t)pixels * sizeof(float));
    be->upload(m->index_dev, m->index_host, (size_t)m->index_bytes);
    m->video_in = m->pixels;
}

/* Sample b's kept tokens from tokenizer j: rows [k0, k1) of the sample (kept lists ascend and
 * tokenizers own consecutive ranges, so they follow k0, where tokenizer j-1 stopped), and the
 * tensors that tokenizer uses for this batch (images: the 2D patch kernel, no temporal table). */
typedef struct {
    int64_t k0, k1, w, bias, pos_s, pos_t;
} token_span;

static token_span tokenizer_span(const lv_model *m, int64_t b, int64_t j, int64_t k0)
{
    const lv_video_geometry *g = &m->geo;
    const int64_t *kept = m->ix.kept + b * g->K;
    token_span t = { .k0 = k0, .k1 = k0 };
    while (t.k1 < g->K && kept[t.k1] < g->tok[j].start + g->tok[j].N)
        t.k1++;
    t.w = m->image ? m->patch_w : m->tok_w[j];
    t.bias = m->image ? m->patch_b : m->tok_b[j];
    t.pos_s = m->pos_s[j];
    t.pos_t = m->image ? -1 : m->pos_t[j];
    return t;
}

/* ---- 2. tokenize: per sample and tokenizer, the tubelet (or 2D patch) embedding of the kept
 * tubes, plus spatial and temporal position embeddings; with a class token, a row gather puts it
 * in front of each sample's tokens (CLIP's class embedding, its position folded in); then CLIP's
 * pre-LayerNorm into x[0]. */
static void video_tokens(lv_model *m, int64_t B)
{
    const lv_backend *be = m->be;
    const lv_video_geometry *g = &m->geo;
    const int64_t K = g->K, D = m->cfg.width;
    const int64_t sample = g->tok[0].shape.F * g->tok[0].shape.H * g->tok[0].shape.W * 3;
    float *embedded = g->cls ? m->staged + D : m->embedded;            /* (B K, D) */
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0, k0 = 0; j < g->n_tokenizers; j++) {
            const token_span t = tokenizer_span(m, b, j, k0);
            k0 = t.k1;
            const int64_t rows = (b * K + t.k0) * D, n = t.k1 - t.k0;
            const int64_t *local = m->ix_dev.kept_local + b * K + t.k0;
            be->tubelet_embed_forward(m->tokens + rows, m->video_in + b * sample, W(t.w),
                                      W(t.bias), local, &g->tok[j].shape, 1, n, D);
            be->pos_embed_forward(embedded + rows, m->tokens + rows, W(t.pos_s), W(t.pos_t),
                                  local, 1, n, g->tok[j].P, g->tok[j].Ft, D);
        }
    if (g->cls) {
        /* embedded[b R] = class token; embedded[b R + 1 + k] = staged token k of sample b */
        be->copy(m->staged, W(m->cls_token), D);
        be->embedding_forward(m->embedded, m->ix_dev.token_rows, m->staged, B * g->R, 1 + B * K,
                              D);
    }
    be->layernorm_forward(m->video.x, m->ln_pre_mean, m->ln_pre_rstd, m->embedded,
                          W(m->ln_pre_w), W(m->ln_pre_b), B * g->R, D, m->video.eps);
}

/* ---- 4. transformer blocks -------------------------------------------------------------------- */


/* ---- 5. pooling and projection -------------------------------------------------------------- */

/* The video tower's one vector per sample. Joint and factorized: the mean of the kept tokens,
 * or the class token's row (a row gather). Frame-level: the mean of each frame's kept tokens,
 * then over the frames that kept any, by mean or by attention of one learned query over the
 * frame embeddings. */
static void video_pool(lv_model *m, int64_t B)
{
    const lv_backend *be = m->be;
    const lv_config *c = &m->cfg;
    lv_tower *tw = &m->video;
    const int64_t D = tw->D, Ft = m->geo.tok[0].Ft;
    if (m->geo.cls) {
        be->embedding_forward(tw->pooled, m->ix_dev.cls_rows, tw->ln_f, B, B * m->geo.R, D);
        return;
    }
    if (c->attn != LV_ATTN_FRAME) {
        be->mean_pool_forward(tw->pooled, tw->ln_f, NULL, B, m->geo.K, D);
        return;
    }
    be->segment_mean_forward(m->frame_emb, tw->ln_f, m->ix_dev.space_start, B * Ft, D);
    if (c->frame_pool == LV_FRAME_POOL_MEAN) {
        be->mean_pool_forward(tw->pooled, m->frame_emb, m->ix_dev.frame_valid, B, Ft, D);
        return;
    }
    /* pooled = attention(q = the query for every sample, kv = kv(frame_emb)) */
    be->embedding_forward(m->pool_q, m->ix_dev.zeros_ids, W(m->pool_query), B, 1, D);
    be->linear_forward(m->pool_kv, m->frame_emb, W(m->pool_kv_w), W(m->pool_kv_b), B * Ft, D,
                       2 * D);
    be->attention_forward(tw->pooled, m->pool_att, m->pool_q, m->pool_kv, m->pool_kv + D,
                          &m->g_pool, D, 2 * D, tw->H, D);
}

/* pooled (B, D) -> emb = pooled P^T (B, E) -> emb_n = emb / |emb| */
static void tower_project(lv_model *m, lv_tower *tw, int64_t B)
{
    const int64_t E = m->cfg.embed_dim;
    m->be->linear_forward(tw->emb, tw->pooled, W(tw->proj_w), NULL, B, tw->D, E);
    m->be->l2norm_forward(tw->emb_n, tw->emb_norm, tw->emb, B, E);
}

/* ---- the towers --------------------------------------------------------------------------- */

int lv_model_encode_video(lv_model *m, const lv_batch *batch)
{
    const int64_t B = batch->B;
    LV_REQUIRE(B >= 1 && B <= m->B);
    m->image = batch->is_image;
    m->geo = lv_config_geometry(&m->cfg, batch->is_image);
    m->video.rows = B * m->geo.R;
    if (mask_tokens(m, B, batch->step, batch->first_sample) < 0)           /* 1 */
        return -1;
    video_groups(m, B);                                                     /* 3 */
    upload_video_inputs(m, batch);
    video_tokens(m, B);                                                     /* 2 */
    const int temporal = m->video.factorized && !m->image;
    lv_tower_forward(&m->eng, &m->video, &m->g_video, temporal ? &m->g_time : NULL);  /* 4 */
    video_pool(m, B);                                                       /* 5 */
    tower_project(m, &m->video, B);
    return 0;
}

void lv_model_encode_text(lv_model *m, const lv_batch *batch)
{
    const lv_backend *be = m->be;
    lv_tower *tw = &m->text;
    const int64_t B = batch->B, T = m->cfg.text_len, D = tw->D;
    LV_REQUIRE(B >= 1 && B <= m->B);
    m->text_in = batch->text;
    m->text_valid_in = batch->text_valid;
    if (!be->host_memory) {
        be->upload(m->ix_dev.text, batch->text, (size_t)(B * T) * sizeof(int32_t));
        be->upload(m->ix_dev.text_valid, batch->text_valid, (size_t)(B * T));
        m->text_in = m->ix_dev.text;
        m->text_valid_in = m->ix_dev.text_valid;
    }
    tw->rows = B * T;
    /* x[0] = token_embed[ids] + pos_embed[t]; BERT: x[0] = ln_embed(that) */
    float *embedded = tw->post_ln ? m->text_embedded : tw->x;           /* (B T, D) */
    be->embedding_forward(embedded, m->text_in, W(m->tok_embed), B * T, m->cfg.vocab, D);
    be->pos_embed_forward(embedded, embedded, W(m->text_pos), NULL, NULL, B, T, T, 1, D);
    if (tw->post_ln)
        be->layernorm_forward(tw->x, m->ln_embed_mean, m->ln_embed_rstd, embedded,
                              W(m->ln_embed_w), W(m->ln_embed_b), B * T, D, tw->eps);
    /* one attention group per caption; padding is never attended */
    m->g_text = (lv_attn_groups){ .n_groups = B, .q_start = m->ix_dev.text_start,
                                  .k_start = m->ix_dev.text_start, .k_valid = m->text_valid_in };
    lv_tower_forward(&m->eng, tw, &m->g_text, NULL);
    if (m->cfg.text_pool == LV_POOL_CLS)           /* the [CLS] position's row */
        be->embedding_forward(tw->pooled, m->ix_dev.text_cls_rows, tw->ln_f, B, B * T, D);
    else
        be->mean_pool_forward(tw->pooled, tw->ln_f, m->text_valid_in, B, T, D);
    tower_project(m, tw, B);
}

int lv_model_encode(lv_model *m, const lv_batch *batch)
{
    if (lv_model_encode_video(m, batch) < 0)
        return -1;
    lv_model_encode_text(m, batch);
    return 0;
}

/* ---- 6. the loss ---------------------------------------------------------------------------- */

float lv_model_forward(lv_model *m, const lv_batch *batch)
{
    if (lv_model_encode(m, batch) < 0)
        return NAN;
    m->be->infonce_forward(m->loss, m->logits, m->video.emb_n, m->text.emb_n, W(m->logit_scale),
                           batch->B, m->cfg.embed_dim);
    float loss;
    m->be->download(&loss, m->loss, sizeof loss);
    return loss;
}

/* ==== the backward pass ======================================================================
 * Mirrors the forward line by line, from the loss back to the pixels. The residual-stream
 * gradient d_stream is updated in place: each branch reads it as its upstream gradient, and only
 * its last kernel (the LayerNorm or linear nearest the branch input) accumulates into it. Every
 * other gradient buffer is zeroed right before the kernel that accumulates into it. */


/* From d emb_n (B, E) to d pooled (B, D), returned in m->d_pooled. */
static float *tower_project_backward(lv_model *m, lv_tower *tw, const float *demb_n, int64_t B)
{
    const lv_backend *be = m->be;
    const int64_t E = m->cfg.embed_dim, D = tw->D;
    float *demb = m->eng.d_norm, *dpooled = m->d_pooled;                    /* (B, E) (B, D) */
    /* forward: emb_n = emb / |emb|; emb = pooled P^T */
    be->set(demb, 0.0f, B * E);
    be->l2norm_backward(demb, demb_n, tw->emb_n, tw->emb_norm, B, E);
    be->set(dpooled, 0.0f, B * D);
    be->linear_backward(dpooled, G(tw->proj_w), NULL, demb, tw->pooled, W(tw->proj_w), B, D, E);
    return dpooled;
}


/* Backward of video_pool: from d pooled into dln_f (rows, D), zeroed by the caller. */
static void video_pool_backward(lv_model *m, const float *dpooled, float *dln_f, int64_t B)
{
    const lv_backend *be = m->be;
    const lv_config *c = &m->cfg;
    const lv_tower *tw = &m->video;
    const int64_t D = tw->D, Ft = m->geo.tok[0].Ft;
    if (m->geo.cls) {                   /* forward: pooled[b] = ln_f[b R], a row gather */
        be->embedding_backward(dln_f, dpooled, m->ix_dev.cls_rows, B, B * m->geo.R, D);
        return;
    }
    if (c->attn != LV_ATTN_FRAME) {
        be->mean_pool_backward(dln_f, dpooled, NULL, B, m->geo.K, D);
        return;
    }
    float *dframe = m->eng.d_inner;                                         /* (B Ft, D) */
    be->set(dframe, 0.0f, B * Ft * D);
    if (c->frame_pool == LV_FRAME_POOL_MEAN) {
        be->mean_pool_backward(dframe, dpooled, m->ix_dev.frame_valid, B, Ft, D);
    } else {
        /* forward: pooled = attention(query broadcast, kv(frame_emb)) */
        float *dq = m->eng.d_pre, *dkv = m->eng.d_norm;                         /* (B, D) (B Ft, 2D) */
        be->set(dq, 0.0f, B * D);
        be->set(dkv, 0.0f, B * Ft * 2 * D);
        be->attention_backward(dq, dkv, dkv + D, dpooled, tw->pooled, m->pool_att, m->pool_q,
                               m->pool_kv, m->pool_kv + D, &m->g_pool, D, 2 * D, tw->H, D);
        be->linear_backward(dframe, G(m->pool_kv_w), G(m->pool_kv_b), dkv, m->frame_emb,
                            W(m->pool_kv_w), B * Ft, D, 2 * D);
        be->embedding_backward(G(m->pool_query), dq, m->ix_dev.zeros_ids, B, 1, D);
    }
    be->segment_mean_backward(dln_f, dframe, m->ix_dev.space_start, B * Ft, D);
}

/* Pre-LayerNorm, class token, position embeddings and tokenizers, per sample and tokenizer,
 * from dres = d x[0]. */
static void video_tokens_backward(lv_model *m, int64_t B, const float *dres)
{
    const lv_backend *be = m->be;
    const lv_video_geometry *g = &m->geo;
    const int64_t K = g->K, D = m->cfg.width;
    const int64_t sample = g->tok[0].shape.F * g->tok[0].shape.H * g->tok[0].shape.W * 3;
    float *dembedded = m->eng.d_inner;                                      /* (B R, D) */
    be->set(dembedded, 0.0f, B * g->R * D);
    be->layernorm_backward(dembedded, G(m->ln_pre_w), G(m->ln_pre_b), dres, m->embedded,
                           W(m->ln_pre_w), m->ln_pre_mean, m->ln_pre_rstd, B * g->R, D);
    if (g->cls) {
        /* forward: embedded = staged[token_rows], staged[0] = the class token */
        float *dstaged = m->eng.d_pre;                                      /* (1 + B K, D) */
        be->set(dstaged, 0.0f, (1 + B * K) * D);
        be->embedding_backward(dstaged, dembedded, m->ix_dev.token_rows, B * g->R, 1 + B * K,
                               D);
        if (G(m->cls_token))
            be->residual_forward(G(m->cls_token), G(m->cls_token), dstaged, D);
        dembedded = dstaged + D;                                        /* (B K, D) */
    }
    be->set(m->dtokens, 0.0f, B * K * D);
    if (m->dvideo)
        be->set(m->dvideo, 0.0f, B * sample);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0, k0 = 0; j < g->n_tokenizers; j++) {
            const token_span t = tokenizer_span(m, b, j, k0);
            k0 = t.k1;
            const int64_t rows = (b * K + t.k0) * D, n = t.k1 - t.k0;
            const int64_t *local = m->ix_dev.kept_local + b * K + t.k0;
            /* forward: embedded = tokens + spatial[n % P] + temporal[n / P] */
            be->pos_embed_backward(m->dtokens + rows, G(t.pos_s), G(t.pos_t), dembedded + rows,
                                   local, 1, n, g->tok[j].P, g->tok[j].Ft, D);
            /* forward: tokens = voxels W^T + b */
            be->tubelet_embed_backward(m->dvideo ? m->dvideo + b * sample : NULL, G(t.w),
                                       G(t.bias), m->dtokens + rows, m->video_in + b * sample,
                                       W(t.w), local, &g->tok[j].shape, 1, n, D);
        }
}

static void text_backward(lv_model *m, int64_t B)
{
    const lv_backend *be = m->be;
    lv_tower *tw = &m->text;
    const int64_t T = m->cfg.text_len, D = tw->D;
    const float *dpooled = tower_project_backward(m, tw, m->demb_t, B);
    float *dln_f = m->d_final;                                          /* (B T, D) */
    /* forward: pooled = mean of ln_f over the valid tokens */
    be->set(dln_f, 0.0f, B * T * D);
    if (m->cfg.text_pool == LV_POOL_CLS)           /* forward: pooled[b] = ln_f[b T] */
        be->embedding_backward(dln_f, dpooled, m->ix_dev.text_cls_rows, B, B * T, D);
    else
        be->mean_pool_backward(dln_f, dpooled, m->text_valid_in, B, T, D);
    const float *dres = lv_tower_backward(&m->eng, tw, dln_f, &m->g_text, NULL);
    if (tw->post_ln) {
        /* forward: x[0] = ln_embed(embedded) */
        float *dembedded = m->eng.d_inner;                                  /* (B T, D) */
        be->set(dembedded, 0.0f, B * T * D);
        be->layernorm_backward(dembedded, G(m->ln_embed_w), G(m->ln_embed_b), dres,
                               m->text_embedded, W(m->ln_embed_w), m->ln_embed_mean,
                               m->ln_embed_rstd, B * T, D);
        dres = dembedded;
    }
    /* forward: embedded = token_embed[ids] + pos_embed[t] */
    be->pos_embed_backward(NULL, G(m->text_pos), NULL, dres, NULL, B, T, T, 1, D);
    be->embedding_backward(G(m->tok_embed), dres, m->text_in, B * T, m->cfg.vocab, D);
}

void lv_model_backward(lv_model *m, const lv_batch *batch)
{
    const lv_backend *be = m->be;
    const int64_t B = batch->B, E = m->cfg.embed_dim;
    /* forward: loss = InfoNCE(emb_n video, emb_n text; logit scale) */
    be->set(m->dloss, 1.0f, 1);
    be->set(m->demb_v, 0.0f, B * E);
    be->set(m->demb_t, 0.0f, B * E);
    be->infonce_backward(m->demb_v, m->demb_t, G(m->logit_scale), m->dloss, m->logits,
                         m->video.emb_n, m->text.emb_n, W(m->logit_scale), B, E);
    lv_model_backward_embeddings(m, batch, m->demb_v, m->demb_t);
}

void lv_model_backward_embeddings(lv_model *m, const lv_batch *batch, const float *demb_v,
                                  const float *demb_t)
{
    const lv_backend *be = m->be;
    const int64_t B = batch->B, E = m->cfg.embed_dim;
    be->copy(m->demb_v, demb_v, B * E);
    be->copy(m->demb_t, demb_t, B * E);
    if (!m->cfg.freeze_text)
        text_backward(m, B);
    lv_tower *tw = &m->video;
    const float *dpooled = tower_project_backward(m, tw, m->demb_v, B);
    float *dln_f = m->d_final;                                          /* (B K, D) */
    be->set(dln_f, 0.0f, tw->rows * tw->D);
    video_pool_backward(m, dpooled, dln_f, B);
    const int temporal = tw->factorized && !m->image;
    const float *dres = lv_tower_backward(&m->eng, tw, dln_f, &m->g_video, temporal ? &m->g_time : NULL);
    if (tw->prefix == 0)     /* a frozen prefix: nothing below block prefix wants a gradient */
        video_tokens_backward(m, B, dres);
}

/* ==== a step over micro-batches ============================================================== */

int lv_accum_alloc(lv_accum *a, const lv_backend *be, int64_t B, int64_t E)
{
    *a = (lv_accum){ .be = be, .B = B, .E = E };
    a->emb_v = be->alloc((size_t)(4 * B * E + B * B + 2) * sizeof(float),
                         "the step's embeddings");
    if (!a->emb_v)
        return -1;
    a->emb_t = a->emb_v + B * E;
    a->demb_v = a->emb_t + B * E;
    a->demb_t = a->demb_v + B * E;
    a->logits = a->demb_t + B * E;
    a->loss = a->logits + B * B;
    a->dloss = a->loss + 1;
    return 0;
}

void lv_accum_free(lv_accum *a)
{
    if (a->be)
        a->be->free(a->emb_v);
    *a = (lv_accum){ 0 };
}

float lv_model_step(lv_model *m, const lv_batch *micro, int64_t n_micro, lv_accum *a)
{
    if (n_micro == 1) {
        const float loss = lv_model_forward(m, micro);
        if (!isnan(loss))
            lv_model_backward(m, micro);
        return loss;
    }
    const lv_backend *be = m->be;
    const int64_t E = m->cfg.embed_dim;
    int64_t B = 0;
    for (int64_t i = 0; i < n_micro; B += micro[i++].B) {      /* 1: every embedding */
        LV_REQUIRE(micro[i].first_sample == B && B + micro[i].B <= a->B);
        if (lv_model_encode(m, &micro[i]) < 0)
            return NAN;
        be->copy(a->emb_v + B * E, m->video.emb_n, micro[i].B * E);
        be->copy(a->emb_t + B * E, m->text.emb_n, micro[i].B * E);
    }
    be->infonce_forward(a->loss, a->logits, a->emb_v, a->emb_t, W(m->logit_scale), B, E);
    be->set(a->dloss, 1.0f, 1);                                 /* 2: the loss over all */
    be->set(a->demb_v, 0.0f, B * E);
    be->set(a->demb_t, 0.0f, B * E);
    be->infonce_backward(a->demb_v, a->demb_t, G(m->logit_scale), a->dloss, a->logits, a->emb_v,
                         a->emb_t, W(m->logit_scale), B, E);
    for (int64_t i = 0, b0 = 0; i < n_micro; b0 += micro[i++].B) {   /* 3: back, per micro */
        lv_model_encode(m, &micro[i]);
        lv_model_backward_embeddings(m, &micro[i], a->demb_v + b0 * E, a->demb_t + b0 * E);
    }
    float loss;
    be->download(&loss, a->loss, sizeof loss);
    return loss;
}

/* ==== the parameter table ====================================================================
 * Every tensor is one row of the descriptor table (params.h), added in a fixed order: the order
 * keys each tensor's initialisation stream, so it is part of the numerics. */



static lv_block_training video_block_training(const lv_config *c, int64_t l)
{
    lv_block_training bt = { 0 };
    switch (c->tune) {
    case LV_TUNE_FULL: bt.base = bt.temporal = 1; break;
    case LV_TUNE_LAST_K: bt.base = bt.temporal = l >= c->layers - c->tune_last_k; break;
    case LV_TUNE_ADAPTERS: bt.adapters = 1; break;
    case LV_TUNE_LORA: bt.lora = 1; break;
    case LV_TUNE_TEMPORAL: bt.temporal = 1; break;
    }
    return bt;
}


/* The shapes and variant flags of both towers, from the config alone. */
static void towers_from_config(lv_tower *video, lv_tower *text, const lv_config *c)
{
    *video = (lv_tower){ .D = c->width, .H = c->heads, .L = c->layers,
                         .hidden = c->mlp_ratio * c->width,
                         .factorized = c->attn == LV_ATTN_FACTORIZED,
                         .adapters = c->tune == LV_TUNE_ADAPTERS, .lora = c->tune == LV_TUNE_LORA,
                         .adapter_dim = c->adapter_dim, .lora_rank = c->lora_rank,
                         .lora_scale = (float)(c->lora_alpha / (double)c->lora_rank),
                         .act = c->act, .eps = (float)c->ln_eps };
    *text = (lv_tower){ .D = c->text_width, .H = c->text_heads, .L = c->text_layers,
                        .hidden = c->mlp_ratio * c->text_width, .act = c->text_act,
                        .post_ln = c->text_arch == LV_TEXT_BERT, .eps = (float)c->text_ln_eps };
}


/* Blocks 0 .. prefix-1 of the video tower run forward only: with last-k nothing before the last
 * k blocks trains (the embeddings were trained in stage 1), so the backward stops there. */
static int64_t video_prefix(const lv_config *c)
{
    return c->tune == LV_TUNE_LAST_K ? c->layers - c->tune_last_k : 0;
}

/* What trains in the video tower besides its blocks: embed, the tokenizers, positions, class
 * token and ln_pre (full tuning only: they sit before the last k blocks); head, the final
 * LayerNorm and projection (full and last-k); fresh, the new tubelet kernel and temporal
 * tables (every mode but last-k, where stage 1 trained them). */
static void add_video_tower(lv_table *t, lv_model *m)
{
    const lv_config *c = &m->cfg;
    const int embed = c->tune == LV_TUNE_FULL;
    const int head = c->tune == LV_TUNE_FULL || c->tune == LV_TUNE_LAST_K;
    const int fresh = c->tune != LV_TUNE_LAST_K;
    const int64_t D = c->width;
    const lv_video_geometry img = lv_config_geometry(c, 1), vid = lv_config_geometry(c, 0);
    /* the image model's 2D patch embedding and spatial positions */
    m->patch_w = lv_table_add(t, lv_spec_matrix(embed, D, img.tok[0].voxel), "video.patch.weight");
    m->patch_b = lv_table_add(t, lv_spec_zeros(embed, 1, D, 0), "video.patch.bias");
    m->pos_spatial = lv_table_add(t, lv_spec_normal(embed, img.tok[0].P, D), "video.pos.spatial");
    m->pos_temporal = -1;
    if (c->attn == LV_ATTN_FRAME) {          /* the image ViT on every frame */
        m->tok_w[0] = m->patch_w;
        m->tok_b[0] = m->patch_b;
        m->pos_s[0] = m->pos_spatial;
        m->pos_t[0] = -1;
    } else if (c->n_tubes == 0) {            /* tubelets: inflated kernel, new temporal table */
        m->tok_w[0] = lv_table_add(t, (lv_param_spec){ .ndim = 2, .shape = { D, vid.tok[0].voxel },
                                              .trainable = fresh, .decay = 1,
                                              .init = c->inflate == LV_INFLATE_CENTRAL
                                                      ? LV_INIT_INFLATE_CENTRAL
                                                      : LV_INIT_INFLATE_AVERAGE,
                                              .source = m->patch_w }, "video.tubelet.weight");
        m->tok_b[0] = lv_table_add(t, lv_spec_copy(t, fresh, 0, m->patch_b), "video.tubelet.bias");
        m->pos_s[0] = m->pos_spatial;
        m->pos_temporal = m->pos_t[0] = lv_table_add(t, lv_spec_zeros(fresh, 2, vid.tok[0].Ft, D),
                                            "video.pos.temporal");
    } else {                                 /* TubeViT-style: each tube kind its own tables */
        for (int64_t j = 0; j < vid.n_tokenizers; j++) {
            const lv_tokenizer_geometry *g = &vid.tok[j];
            m->tok_w[j] = lv_table_add(t, lv_spec_matrix(fresh, D, g->voxel), "video.tubes.%lld.weight",
                              (long long)j);
            m->tok_b[j] = lv_table_add(t, lv_spec_zeros(fresh, 1, D, 0), "video.tubes.%lld.bias", (long long)j);
            m->pos_s[j] = lv_table_add(t, lv_spec_normal(fresh, g->P, D), "video.tubes.%lld.pos.spatial",
                              (long long)j);
            m->pos_t[j] = lv_table_add(t, lv_spec_zeros(fresh, 2, g->Ft, D), "video.tubes.%lld.pos.temporal",
                              (long long)j);
        }
    }
    m->cls_token = -1;
    if (c->pool == LV_POOL_CLS)              /* CLIP's class embedding (+ its position row) */
        m->cls_token = lv_table_add(t, (lv_param_spec){ .ndim = 1, .shape = { D }, .trainable = embed,
                                               .init = LV_INIT_NORMAL, .init_value = LV_INIT_STD },
                           "video.class_token");
    lv_table_add_layernorm(t, embed, D, &m->ln_pre_w, &m->ln_pre_b, "video.ln_pre");
    lv_tower *tw = &m->video;
    for (int64_t l = 0; l < c->layers; l++)
        lv_tower_add_block(t, tw, l, "video", video_block_training(c, l));
    lv_table_add_layernorm(t, head, D, &tw->ln_f_w, &tw->ln_f_b, "video.ln_final");
    m->pool_query = m->pool_kv_w = m->pool_kv_b = -1;
    if (c->attn == LV_ATTN_FRAME && c->frame_pool == LV_FRAME_POOL_ATTN) {
        m->pool_query = lv_table_add(t, lv_spec_normal(1, 1, D), "video.pool.query");
        m->pool_kv_w = lv_table_add(t, lv_spec_matrix(1, 2 * D, D), "video.pool.kv.weight");
        m->pool_kv_b = lv_table_add(t, lv_spec_zeros(1, 1, 2 * D, 0), "video.pool.kv.bias");
    }
    tw->proj_w = lv_table_add(t, lv_spec_matrix(head, c->embed_dim, D), "video.proj.weight");
}

static void add_text_tower(lv_table *t, lv_model *m)
{
    const lv_config *c = &m->cfg;
    const int tr = !c->freeze_text;
    const int64_t D = c->text_width;
    m->tok_embed = lv_table_add(t, lv_spec_normal(tr, c->vocab, D), "text.token_embed");
    m->text_pos = lv_table_add(t, lv_spec_normal(tr, c->text_len, D), "text.pos_embed");
    m->ln_embed_w = m->ln_embed_b = m->text.ln_f_w = m->text.ln_f_b = -1;
    const int bert = c->text_arch == LV_TEXT_BERT;
    if (bert)                                /* BERT normalises the embeddings ... */
        lv_table_add_layernorm(t, tr, D, &m->ln_embed_w, &m->ln_embed_b, "text.ln_embed");
    const lv_block_training bt = { .base = tr };
    for (int64_t l = 0; l < c->text_layers; l++)
        lv_tower_add_block(t, &m->text, l, "text", bt);
    if (!bert)                               /* ... and ends normalised: no final LayerNorm */
        lv_table_add_layernorm(t, tr, D, &m->text.ln_f_w, &m->text.ln_f_b, "text.ln_final");
    m->text.proj_w = lv_table_add(t, lv_spec_matrix(tr, c->embed_dim, D), "text.proj.weight");
}

int lv_model_build_table(lv_model *m, const lv_config *c, const lv_backend *be)
{
    *m = (lv_model){ .cfg = *c, .be = be };
    m->eng = (lv_engine){ .be = be, .params = &m->params };
    if (lv_config_validate(c) < 0)
        return -1;
    towers_from_config(&m->video, &m->text, c);
    if (lv_tower_alloc(&m->video) < 0 || lv_tower_alloc(&m->text) < 0)
        return -1;
    lv_table t = { &m->params, 0 };
    add_video_tower(&t, m);
    add_text_tower(&t, m);
    /* CLIP's learned temperature, as log(1 / 0.07) */
    m->logit_scale = lv_table_add(&t, (lv_param_spec){ .ndim = 0, .trainable = 1, .init = LV_INIT_CONST,
                                              .init_value = log(1.0 / 0.07) }, "logit_scale");
    return t.failed ? -1 : 0;
}

int lv_model_build(lv_model *m, const lv_config *c, const lv_backend *be)
{
    if (lv_model_build_table(m, c, be) < 0 || lv_params_alloc(&m->params, be) < 0)
        return -1;
    return lv_params_init(&m->params, c->seed);
}

/* ==== memory layout ==========================================================================
 * One function says where every activation lives, one where every index list lives. Run with a
 * NULL base they only count (lv_model_act_floats, the analytic figure); with the allocation they
 * hand out the pointers. */


static int64_t max3(int64_t a, int64_t b, int64_t c)
{
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/* Attention-cache floats of each variant for backend be, bounded for any mask: a sample's R
 * rows in one group (joint), or K kept tokens in groups of at most P keys (one time step), or
 * Ft (one spatial position). */
static void cache_bounds(const lv_config *c, const lv_backend *be, const lv_video_geometry *g,
                         int64_t B, int64_t *video_cache, int64_t *temporal_cache)
{
    const int64_t H = c->heads, K = g->K, P = g->tok[0].P, Ft = g->tok[0].Ft;
    *temporal_cache = c->attn == LV_ATTN_FACTORIZED
                      ? lv_backend_attention_bound(be, B * K, Ft < K ? Ft : K, H) : 0;
    *video_cache = lv_backend_attention_bound(be, B * g->R, c->attn == LV_ATTN_JOINT ? g->R
                                              : (P < K ? P : K), H);
}


static int64_t layout(lv_model *m, float *base, int64_t B, int flags)
{
    const lv_config *c = &m->cfg;
    const int want_pixel_grad = (flags & LV_ACTS_PIXEL_GRAD) != 0;
    /* the pixels' gradient needs the whole backward: no frozen prefix then */
    m->video.prefix = want_pixel_grad ? 0 : video_prefix(c);
    m->video.every_stream = (flags & LV_ACTS_EVERY_STREAM) != 0;
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const int64_t E = c->embed_dim, F = c->frames, T = c->text_len, D = c->width;
    const int64_t Rv = B * g.R, Rt = B * T, S = c->image_size;
    int64_t cache, tcache;
    cache_bounds(c, m->be, &g, B, &cache, &tcache);
    lv_fslab s = { base, 0 };
    lv_tower_layout(&s, &m->video, Rv, B, E, cache, tcache);
    lv_tower_layout(&s, &m->text, Rt, B, E, lv_backend_attention_bound(m->be, Rt, T, c->text_heads),
                 0);
    m->pixels = m->be->host_memory ? NULL : lv_take(&s, B * F * S * S * 3);
    m->tokens = lv_take(&s, B * g.K * D);
    m->staged = g.cls ? lv_take(&s, (1 + B * g.K) * D) : NULL;
    m->embedded = lv_take(&s, Rv * D);
    m->ln_pre_mean = lv_take(&s, Rv);
    m->ln_pre_rstd = lv_take(&s, Rv);
    const int frame_level = c->attn == LV_ATTN_FRAME;
    m->frame_emb = frame_level ? lv_take(&s, B * F * D) : NULL;
    const int bert = c->text_arch == LV_TEXT_BERT;
    m->text_embedded = bert ? lv_take(&s, Rt * c->text_width) : NULL;
    m->ln_embed_mean = bert ? lv_take(&s, Rt) : NULL;
    m->ln_embed_rstd = bert ? lv_take(&s, Rt) : NULL;
    const int attn_pool = frame_level && c->frame_pool == LV_FRAME_POOL_ATTN;
    m->pool_q = attn_pool ? lv_take(&s, B * D) : NULL;
    m->pool_kv = attn_pool ? lv_take(&s, B * F * 2 * D) : NULL;
    m->pool_att = attn_pool ? lv_take(&s, lv_backend_attention_bound(m->be, B, F, c->heads))
                             : NULL;
    m->logits = lv_take(&s, B * B);
    m->loss = lv_take(&s, 1);
    m->dloss = lv_take(&s, 1);
    m->demb_v = lv_take(&s, B * E);
    m->demb_t = lv_take(&s, B * E);
    /* temporaries, each sized for its widest use: the branch inner ones for rows x the widest
     * matrix of either tower (qkv, MLP, pooling kv; they also hold the pooling's and the
     * tokenizers' gradients), the stream-wide ones for rows x the wider tower, LoRA's only with
     * LoRA (the video tower's) */
    const int64_t Rmax = Rv > Rt ? Rv : Rt, Rf = frame_level ? B * F : 0;
    const int64_t Dmax = D > c->text_width ? D : c->text_width;
    const int64_t W = max3(3 * D, m->video.hidden, max3(3 * c->text_width, m->text.hidden, E));
    const int64_t wide = Rmax * W > Rf * 2 * D ? Rmax * W : Rf * 2 * D;
    const int lora = c->tune == LV_TUNE_LORA;
    m->eng.branch_out = lv_take(&s, Rmax * Dmax);
    m->eng.lora_out = lora ? lv_take(&s, Rv * max3(3 * D, m->video.hidden, D)) : NULL;
    m->eng.d_stream = lv_take(&s, Rmax * Dmax);
    m->eng.d_inner = lv_take(&s, wide);
    m->eng.d_pre = lv_take(&s, wide);
    m->eng.d_norm = lv_take(&s, wide);
    m->d_pooled = lv_take(&s, B * Dmax);
    m->d_final = lv_take(&s, Rmax * Dmax);
    m->eng.d_lora = lora ? lv_take(&s, Rv * c->lora_rank) : NULL;
    m->dtokens = m->video.prefix ? NULL : lv_take(&s, B * g.K * D);
    m->dvideo = want_pixel_grad ? lv_take(&s, B * F * S * S * 3) : NULL;
    return s.used;
}

/* The index lists of a batch of up to B samples: the video's first (uploaded per video encode),
 * then the text's (text_start is constant; the ids are uploaded per text encode). */
static int64_t layout_indices(const lv_model *m, lv_index_lists *ix, char *base, int64_t B,
                              int64_t *video_bytes)
{
    const lv_config *c = &m->cfg;
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const int64_t K = g.K, P = g.tok[0].P, T = c->text_len;
    const int64_t Ft = c->attn == LV_ATTN_FRAME ? c->frames : g.tok[0].Ft;
    lv_bslab s = { base, 0 };
    ix->kept = lv_take_bytes(&s, B * K * (int64_t)sizeof(int64_t));
    ix->kept_local = lv_take_bytes(&s, B * K * (int64_t)sizeof(int64_t));
    ix->joint_start = lv_take_bytes(&s, (B + 1) * (int64_t)sizeof(int64_t));
    ix->space_start = lv_take_bytes(&s, (B * Ft + 1) * (int64_t)sizeof(int64_t));
    ix->time_start = lv_take_bytes(&s, (B * P + 1) * (int64_t)sizeof(int64_t));
    ix->time_index = lv_take_bytes(&s, B * K * (int64_t)sizeof(int64_t));
    ix->pool_q_start = lv_take_bytes(&s, (B + 1) * (int64_t)sizeof(int64_t));
    ix->pool_k_start = lv_take_bytes(&s, (B + 1) * (int64_t)sizeof(int64_t));
    ix->frame_valid = lv_take_bytes(&s, B * Ft);
    ix->zeros_ids = lv_take_bytes(&s, B * (int64_t)sizeof(int32_t));
    ix->token_rows = g.cls ? lv_take_bytes(&s, B * g.R * (int64_t)sizeof(int32_t)) : NULL;
    ix->cls_rows = g.cls ? lv_take_bytes(&s, B * (int64_t)sizeof(int32_t)) : NULL;
    *video_bytes = s.used;
    ix->text_start = lv_take_bytes(&s, (B + 1) * (int64_t)sizeof(int64_t));
    ix->text_cls_rows = lv_take_bytes(&s, B * (int64_t)sizeof(int32_t));
    const int upload_text = !m->be->host_memory;
    ix->text = upload_text ? lv_take_bytes(&s, B * T * (int64_t)sizeof(int32_t)) : NULL;
    ix->text_valid = upload_text ? lv_take_bytes(&s, B * T) : NULL;
    return s.used;
}

int64_t lv_model_act_floats(const lv_config *c, const lv_backend *be, int64_t B)
{
    lv_model m = { .cfg = *c, .be = be };
    towers_from_config(&m.video, &m.text, c);
    return layout(&m, NULL, B, 0);
}

int lv_model_alloc_acts(lv_model *m, int64_t B, int flags)
{
    const lv_backend *be = m->be;
    const int64_t n = layout(m, NULL, B, flags);
    int64_t video_bytes;
    lv_index_lists counted;
    m->index_bytes = layout_indices(m, &counted, NULL, B, &video_bytes);
    m->act_slab = be->alloc((size_t)n * sizeof(float), "the activations");
    m->index_host = lv_calloc((size_t)m->index_bytes, 1, "the mask and group indices");
    m->index_dev = be->host_memory ? m->index_host
                                   : be->alloc((size_t)m->index_bytes, "the uploaded indices");
    if (!m->act_slab || !m->index_host || !m->index_dev)
        return -1;
    m->act_floats = layout(m, m->act_slab, B, flags);
    m->B = B;
    layout_indices(m, &m->ix, m->index_host, B, &video_bytes);
    layout_indices(m, &m->ix_dev, m->index_dev, B, &video_bytes);
    /* the constant lists: one text group per caption (zeros_ids are zero from the allocation) */
    for (int64_t b = 0; b <= B; b++)
        m->ix.text_start[b] = b * m->cfg.text_len;
    for (int64_t b = 0; b < B; b++)
        m->ix.text_cls_rows[b] = (int32_t)(b * m->cfg.text_len);
    if (!be->host_memory)
        be->upload(m->index_dev, m->index_host, (size_t)m->index_bytes);
    m->index_bytes = video_bytes;     /* what each video encode uploads again */
    return 0;
}

void lv_model_free(lv_model *m)
{
    const lv_backend *be = m->be;
    lv_params_free(&m->params);
    free(m->video.blocks);
    free(m->video.acts);
    free(m->text.blocks);
    free(m->text.acts);
    if (be) {
        be->free(m->act_slab);
        if (m->index_dev != m->index_host)
            be->free(m->index_dev);
    }
    free(m->index_host);
    *m = (lv_model){ 0 };
}

/* ---- model FLOPs -------------------------------------------------------------------------- */


double lv_model_step_flops(const lv_config *c, int64_t B)
{
    lv_tower video, text;
    towers_from_config(&video, &text, c);
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const double K = (double)g.K, Rv = (double)B * (double)g.R, T = (double)c->text_len;
    const double P = (double)g.tok[0].P, Ft = (double)g.tok[0].Ft;
    double voxel = 0.0;           /* average over the tokenizers, weighted by their tokens */
    for (int64_t i = 0; i < g.n_tokenizers; i++)
        voxel += (double)g.tok[i].voxel * (double)g.tok[i].N / (double)g.N;
    /* attention pairs per sample: joint K^2; factorized K min(P, K) + K min(Ft, K); frame K P */
    double qk = (double)g.R * (double)g.R;
    if (c->attn == LV_ATTN_FACTORIZED)
        qk = K * fmin(P, K) + K * fmin(Ft, K);
    else if (c->attn == LV_ATTN_FRAME)
        qk = K * fmin(P, K);
    const double E = (double)c->embed_dim;
    double fwd = 2.0 * (double)B * K * voxel * (double)c->width         /* tubelet embedding */
                 + lv_tower_flops(&video, Rv, (double)B * qk)
                 + lv_tower_flops(&text, (double)B * T, (double)B * T * T)
                 + 2.0 * (double)B * E * (double)(c->width + c->text_width)   /* projections */
                 + 2.0 * (double)B * (double)B * E;                          /* logits */
    return 3.0 * fwd;
}
