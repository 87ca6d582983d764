/* The video-to-text graph (see v2t.h), read top to bottom: the visual side (frozen encoder,
 * temporal pooling, resampler), the decoder LM with its gated cross-attention layers, the loss;
 * then the backward mirroring it; then the parameter table and the memory layout. As in
 * model.c, every tensor operation is a call through the backend table. */
#include "v2t.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W(i) lv_param_data(&v->params, (i))      /* a parameter tensor, backend memory */
#define G(i) lv_param_grad(&v->params, (i))      /* its gradient, NULL when frozen */

/* ==== the forward pass ======================================================================= */

/* ---- 1. the visual tokens ----------------------------------------------------------------------
 * The frozen encoder's last-layer tokens (its final LayerNorm's output) of the kept tubelets,
 * averaged over time per spatial position: a fixed P tokens per video whatever its length. The
 * host sorts each sample's kept tokens by spatial position (a counting sort on n % P, so a
 * position's tokens stay in time order); a row gather then puts them in that order and a
 * segment mean averages each run. A position that kept no token is an empty run: its mean is 0
 * and the resampler never attends to it. */
static void pooling_lists(lv_v2t *v, int64_t B)
{
    const lv_model *e = &v->enc;
    const lv_v2t_index *ix = &v->ix;
    const int64_t K = e->geo.K, R = e->geo.R, P = v->P, Lq = v->Lq;
    for (int64_t i = 0; i <= B * P; i++)
        ix->pool_start[i] = 0;
    for (int64_t r = 0; r < B * K; r++)
        ix->pool_start[(r / K) * P + e->ix.kept[r] % P + 1]++;
    for (int64_t i = 0; i < B * P; i++) {
        ix->visual_valid[i] = ix->pool_start[i + 1] > 0;
        ix->pool_start[i + 1] += ix->pool_start[i];
    }
    /* pool_start[i] is bucket i's fill cursor, then shifted back to its first row */
    for (int64_t r = 0; r < B * K; r++) {
        const int64_t b = r / K, k = r % K;
        ix->pool_rows[ix->pool_start[b * P + e->ix.kept[r] % P]++] =
            (int32_t)(b * R + e->geo.cls + k);              /* the encoder's row of token k */
    }
    for (int64_t i = B * P; i > 0; i--)
        ix->pool_start[i] = ix->pool_start[i - 1];
    ix->pool_start[0] = 0;
    /* sample b's resampler keys: its P visual rows of the normalised buffer (B P visual rows,
     * then B Lq latent rows), then its Lq latents; and which of them may be attended */
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < P + Lq; i++) {
            ix->kv_rows[b * (P + Lq) + i] = (int32_t)(i < P ? b * P + i
                                                            : B * P + b * Lq + (i - P));
            ix->kv_valid[b * (P + Lq) + i] = i < P ? ix->visual_valid[b * P + i] : 1;
        }
}

static int visual_tokens(lv_v2t *v, const lv_v2t_batch *batch)
{
    const lv_backend *be = v->be;
    lv_model *e = &v->enc;
    const int64_t B = batch->B, Dv = v->Dv;
    const lv_batch eb = { .B = B, .video = batch->video, .step = batch->step,
                          .first_sample = batch->first_sample };
    if (lv_model_encode_video(e, &eb) < 0)
        return -1;
    pooling_lists(v, B);
    if (!be->host_memory)
        be->upload(v->index_dev, v->index_host, (size_t)v->index_bytes);
    const int64_t K = e->geo.K;
    be->embedding_forward(v->gathered, v->ix_dev.pool_rows, e->video.ln_f, B * K,
                          B * e->geo.R, Dv);
    be->segment_mean_forward(v->visual, v->gathered, v->ix_dev.pool_start, B * v->P, Dv);
    return 0;
}

/* ---- 2. the Perceiver resampler ---------------------------------------------------------------
 * Per layer, per sample: latents += out(attention(q = LN_l(latents), kv = [LN_m(visual);
 * LN_l(latents)])); latents += fc2(gelu(fc1(LN(latents)))); then a final LayerNorm. The two
 * normalised sets share one buffer (visual rows, then latent rows), and a row gather lays out
 * each sample's keys [visual; latents] contiguously, so one group per sample covers them. */
static void resampler_forward(lv_v2t *v, int64_t B)
{
    const lv_backend *be = v->be;
    const lv_config *c = &v->cfg;
    const int64_t Dv = v->Dv, P = v->P, Lq = v->Lq, I = v->I_rs, Hf = 4 * Dv;
    const int64_t Rv = B * P, Rl = B * Lq, Rk = B * (P + Lq);
    const float eps = (float)c->ln_eps;
    float *branch = v->eng.branch_out;
    be->embedding_forward(v->rs_acts[0].lat, v->ix_dev.latent_ids, W(v->latents), Rl, Lq, Dv);
    for (int64_t l = 0; l < c->rs_depth; l++) {
        const lv_resampler_params *p = &v->rs[l];
        lv_resampler_acts *a = &v->rs_acts[l];
        float *lat_norm = a->norm + Rv * Dv;
        be->layernorm_forward(a->norm, a->norm_mean, a->norm_rstd, v->visual, W(p->ln_media_w),
                              W(p->ln_media_b), Rv, Dv, eps);
        be->layernorm_forward(lat_norm, a->norm_mean + Rv, a->norm_rstd + Rv, a->lat,
                              W(p->ln_lat_w), W(p->ln_lat_b), Rl, Dv, eps);
        be->embedding_forward(a->kv_in, v->ix_dev.kv_rows, a->norm, Rk, Rv + Rl, Dv);
        be->linear_forward(a->q, lat_norm, W(p->q_w), NULL, Rl, Dv, I);
        be->linear_forward(a->kv, a->kv_in, W(p->kv_w), NULL, Rk, Dv, 2 * I);
        be->attention_forward(a->atty, a->att, a->q, a->kv, a->kv + I, &v->g_rs, I, 2 * I,
                              c->rs_heads, I);
        be->linear_forward(branch, a->atty, W(p->out_w), NULL, Rl, I, Dv);
        be->residual_forward(a->lat_mid, a->lat, branch, Rl * Dv);
        be->layernorm_forward(a->ff_ln, a->ff_mean, a->ff_rstd, a->lat_mid, W(p->ff_ln_w),
                              W(p->ff_ln_b), Rl, Dv, eps);
        be->linear_forward(a->fc1, a->ff_ln, W(p->fc1_w), NULL, Rl, Dv, Hf);
        be->gelu_forward(a->gelu, a->fc1, Rl * Hf);
        be->linear_forward(branch, a->gelu, W(p->fc2_w), NULL, Rl, Hf, Dv);
        float *next = l + 1 < c->rs_depth ? v->rs_acts[l + 1].lat : v->lat_out;
        be->residual_forward(next, a->lat_mid, branch, Rl * Dv);
    }
    be->layernorm_forward(v->media, v->media_mean, v->media_rstd, v->lat_out, W(v->rs_ln_w),
                          W(v->rs_ln_b), Rl, Dv, eps);
}

/* ---- 3. a gated cross-attention layer -----------------------------------------------------------
 * y = x_mid + tanh(b) fc2(gelu(fc1(LN(x_mid)))), x_mid = x + tanh(a) out(attention(q = LN(x),
 * kv = media)): every text row of a sample attends to its sample's latents. With a = b = 0 (the
 * initialisation) both adds are of exact zeros and y == x: the frozen LM, bit for bit. */
/* Over Rt text rows with B samples' media and groups g; media_kv = 0 reuses the keys and
 * values of the media from the previous call (decoding: computed once per video). */
static void xattn_forward(lv_v2t *v, int64_t j, const float *x, int64_t Rt, int64_t B,
                          const lv_attn_groups *g, int media_kv)
{
    const lv_backend *be = v->be;
    const lv_config *c = &v->cfg;
    const lv_xattn_params *p = &v->xa[j];
    lv_xattn_acts *a = &v->xa_acts[j];
    const int64_t W = v->W, I = v->I_xa, Hf = 4 * v->W, Rl = B * v->Lq;
    const float eps = (float)c->ln_eps;
    a->x = (float *)x;
    be->layernorm_forward(a->ln, a->ln_mean, a->ln_rstd, x, W(p->ln_w), W(p->ln_b), Rt, W, eps);
    be->linear_forward(a->q, a->ln, W(p->q_w), NULL, Rt, W, I);
    if (media_kv)
        be->linear_forward(a->kv, v->media, W(p->kv_w), NULL, Rl, v->Dv, 2 * I);
    be->attention_forward(a->atty, a->att, a->q, a->kv, a->kv + I, g, I, 2 * I, c->xattn_heads,
                          I);
    be->linear_forward(a->attn_out, a->atty, W(p->out_w), NULL, Rt, I, W);
    be->gated_residual_forward(a->x_mid, x, a->attn_out, W(p->attn_gate), Rt * W);
    be->layernorm_forward(a->ff_ln, a->ff_mean, a->ff_rstd, a->x_mid, W(p->ff_ln_w),
                          W(p->ff_ln_b), Rt, W, eps);
    be->linear_forward(a->fc1, a->ff_ln, W(p->fc1_w), NULL, Rt, W, Hf);
    be->gelu_forward(a->gelu, a->fc1, Rt * Hf);
    be->linear_forward(a->ff_out, a->gelu, W(p->fc2_w), NULL, Rt, Hf, W);
    be->gated_residual_forward(a->y, a->x_mid, a->ff_out, W(p->ff_gate), Rt * W);
}

/* Whether a cross-attention layer sits before LM block l, and which. */
static int64_t xattn_before(const lv_v2t *v, int64_t l)
{
    return !v->lm_only && l % v->cfg.xattn_every == 0 ? l / v->cfg.xattn_every : -1;
}

/* The input LM block l reads: the cross-attention layer's output, or the stream x[l]. */
static const float *block_input(const lv_v2t *v, int64_t l)
{
    const int64_t j = xattn_before(v, l);
    return j >= 0 ? v->xa_acts[j].y : v->lm.x + l * v->lm.rows * v->W;
}

/* ---- 4. the decoder LM: token + learned position embeddings, causal pre-LN blocks (padding
 * never attended), the final LayerNorm, logits through the tied token embedding. */
static void lm_forward(lv_v2t *v, int64_t B)
{
    const lv_backend *be = v->be;
    lv_tower *tw = &v->lm;
    const int64_t T = v->T, W = v->W;
    tw->rows = B * T;
    be->embedding_forward(tw->x, v->ids_in, W(v->tok_embed), B * T, v->V, W);
    be->pos_embed_forward(tw->x, tw->x, W(v->pos_embed), NULL, NULL, B, T, T, 1, W);
    for (int64_t l = 0; l < tw->L; l++) {
        const int64_t j = xattn_before(v, l);
        if (j >= 0)
            xattn_forward(v, j, tw->x + l * B * T * W, B * T, B, &v->g_xattn, 1);
        lv_block_forward(&v->eng, tw, l, block_input(v, l), tw->x + (l + 1) * B * T * W,
                         &v->g_text, NULL);
    }
    lv_tower_final_forward(&v->eng, tw);
    be->linear_forward(v->logits, tw->ln_f, W(v->tok_embed), NULL, B * T, W, v->V);
}

/* The attention groups of B samples (they point at the backend's index lists). */
static void text_groups(lv_v2t *v, int64_t B)
{
    const lv_v2t_index *d = &v->ix_dev;
    v->g_text = (lv_attn_groups){ .n_groups = B, .q_start = d->text_start,
                                  .k_start = d->text_start, .k_valid = v->valid_in,
                                  .causal = 1 };
    v->g_xattn = (lv_attn_groups){ .n_groups = B, .q_start = d->text_start,
                                   .k_start = d->lat_start };
    v->g_rs = (lv_attn_groups){ .n_groups = B, .q_start = d->lat_start,
                                .k_start = d->kv_start, .k_valid = d->kv_valid };
}

/* The batch's text where the kernels read it, and the groups of this batch size. */
static void text_inputs(lv_v2t *v, const lv_v2t_batch *b)
{
    const lv_backend *be = v->be;
    const int64_t n = b->B * v->T;
    v->ids_in = b->ids;
    v->targets_in = b->targets;
    v->valid_in = b->valid;
    if (!be->host_memory) {
        be->upload(v->ix_dev.ids, b->ids, (size_t)n * sizeof(int32_t));
        be->upload(v->ix_dev.targets, b->targets, (size_t)n * sizeof(int32_t));
        be->upload(v->ix_dev.valid, b->valid, (size_t)n);
        v->ids_in = v->ix_dev.ids;
        v->targets_in = v->ix_dev.targets;
        v->valid_in = v->ix_dev.valid;
    }
    text_groups(v, b->B);
}

int lv_v2t_encode(lv_v2t *v, const lv_v2t_batch *b)
{
    LV_REQUIRE(b->B >= 1 && b->B <= v->B);
    if (v->lm_only)
        return 0;
    text_groups(v, b->B);
    if (visual_tokens(v, b) < 0)
        return -1;
    resampler_forward(v, b->B);
    return 0;
}

void lv_v2t_repeat_media(lv_v2t *v, int64_t n)
{
    LV_REQUIRE(n >= 1 && n <= v->B);
    const int64_t rows = v->Lq * v->Dv;
    for (int64_t i = 1; !v->lm_only && i < n; i++)
        v->be->copy(v->media + i * rows, v->media, rows);
}

void lv_v2t_text_logits(lv_v2t *v, const lv_v2t_batch *b)
{
    LV_REQUIRE(b->B >= 1 && b->B <= v->B && b->T == v->T);
    text_inputs(v, b);
    lm_forward(v, b->B);
}

float lv_v2t_forward(lv_v2t *v, const lv_v2t_batch *b)
{
    if (lv_v2t_encode(v, b) < 0)
        return NAN;
    lv_v2t_text_logits(v, b);
    v->be->cross_entropy_forward(v->loss, v->lse, v->logits, v->targets_in, b->B * v->T, v->V);
    float loss;
    v->be->download(&loss, v->loss, sizeof loss);
    return loss;
}

/* ==== the backward pass ======================================================================
 * From the loss back to the learned latents (the encoder is frozen: nothing flows into it). The
 * LM's residual-stream gradient is the engine's d_stream, updated in place through the blocks
 * and the cross-attention layers; d_media gathers what every cross-attention layer sends the
 * resampler. Each gradient buffer is zeroed right before the kernel that accumulates into it. */

/* dres: d y on entry, d x on return; d media accumulates. */
static void xattn_backward(lv_v2t *v, int64_t j, float *dres, int64_t B)
{
    const lv_backend *be = v->be;
    const lv_config *c = &v->cfg;
    const lv_xattn_params *p = &v->xa[j];
    const lv_xattn_acts *a = &v->xa_acts[j];
    const int64_t W = v->W, I = v->I_xa, Hf = 4 * v->W, Rt = B * v->T, Rl = B * v->Lq;
    float *d_inner = v->eng.d_inner, *d_pre = v->eng.d_pre, *d_norm = v->eng.d_norm;
    float *dq = v->eng.branch_out, *dkv = v->eng.lora_out;
    /* forward: y = x_mid + tanh(b) ff_out; d x_mid's identity part is dres itself */
    be->set(d_inner, 0.0f, Rt * W);                                     /* d ff_out (Rt, W) */
    be->gated_residual_backward(NULL, d_inner, G(p->ff_gate), dres, a->ff_out, W(p->ff_gate),
                                Rt * W);
    be->set(v->d_ffn, 0.0f, Rt * Hf);                                   /* d gelu (Rt, 4W) */
    be->linear_backward(v->d_ffn, G(p->fc2_w), NULL, d_inner, a->gelu, W(p->fc2_w), Rt, Hf, W);
    be->set(d_pre, 0.0f, Rt * Hf);                                      /* d fc1 (Rt, 4W) */
    be->gelu_backward(d_pre, a->fc1, v->d_ffn, Rt * Hf);
    be->set(d_norm, 0.0f, Rt * W);                                      /* d ff_ln (Rt, W) */
    be->linear_backward(d_norm, G(p->fc1_w), NULL, d_pre, a->ff_ln, W(p->fc1_w), Rt, W, Hf);
    be->layernorm_backward(dres, G(p->ff_ln_w), G(p->ff_ln_b), d_norm, a->x_mid, W(p->ff_ln_w),
                           a->ff_mean, a->ff_rstd, Rt, W);
    /* forward: x_mid = x + tanh(a) out(attention(q(ln(x)), kv(media))) */
    be->set(d_inner, 0.0f, Rt * W);                                     /* d attn_out (Rt, W) */
    be->gated_residual_backward(NULL, d_inner, G(p->attn_gate), dres, a->attn_out,
                                W(p->attn_gate), Rt * W);
    be->set(d_pre, 0.0f, Rt * I);                                       /* d atty (Rt, I) */
    be->linear_backward(d_pre, G(p->out_w), NULL, d_inner, a->atty, W(p->out_w), Rt, I, W);
    be->set(dq, 0.0f, Rt * I);
    be->set(dkv, 0.0f, Rl * 2 * I);
    be->attention_backward(dq, dkv, dkv + I, d_pre, a->atty, a->att, a->q, a->kv, a->kv + I,
                           &v->g_xattn, I, 2 * I, c->xattn_heads, I);
    be->linear_backward(v->d_media, G(p->kv_w), NULL, dkv, v->media, W(p->kv_w), Rl, v->Dv,
                        2 * I);
    be->set(d_norm, 0.0f, Rt * W);                                      /* d ln (Rt, W) */
    be->linear_backward(d_norm, G(p->q_w), NULL, dq, a->ln, W(p->q_w), Rt, W, I);
    be->layernorm_backward(dres, G(p->ln_w), G(p->ln_b), d_norm, a->x, W(p->ln_w), a->ln_mean,
                           a->ln_rstd, Rt, W);
}

/* From d media (B Lq, Dv) to the learned latents' gradient and every resampler tensor's. */
static void resampler_backward(lv_v2t *v, int64_t B)
{
    const lv_backend *be = v->be;
    const lv_config *c = &v->cfg;
    const int64_t Dv = v->Dv, P = v->P, Lq = v->Lq, I = v->I_rs, Hf = 4 * Dv;
    const int64_t Rv = B * P, Rl = B * Lq, Rk = B * (P + Lq);
    float *d_lat = v->d_lat, *d_inner = v->eng.d_inner, *d_pre = v->eng.d_pre;
    float *d_norm = v->eng.d_norm, *dq = v->eng.branch_out, *dkv = v->eng.lora_out;
    /* forward: media = LN(lat_out) */
    be->set(d_lat, 0.0f, Rl * Dv);
    be->layernorm_backward(d_lat, G(v->rs_ln_w), G(v->rs_ln_b), v->d_media, v->lat_out,
                           W(v->rs_ln_w), v->media_mean, v->media_rstd, Rl, Dv);
    for (int64_t l = c->rs_depth - 1; l >= 0; l--) {
        const lv_resampler_params *p = &v->rs[l];
        const lv_resampler_acts *a = &v->rs_acts[l];
        /* forward: out = lat_mid + fc2(gelu(fc1(LN(lat_mid)))); d_lat: d out -> d lat_mid */
        be->set(v->d_ffn, 0.0f, Rl * Hf);                               /* d gelu (Rl, 4Dv) */
        be->linear_backward(v->d_ffn, G(p->fc2_w), NULL, d_lat, a->gelu, W(p->fc2_w), Rl, Hf,
                            Dv);
        be->set(d_pre, 0.0f, Rl * Hf);                                  /* d fc1 */
        be->gelu_backward(d_pre, a->fc1, v->d_ffn, Rl * Hf);
        be->set(d_norm, 0.0f, Rl * Dv);                                 /* d ff_ln */
        be->linear_backward(d_norm, G(p->fc1_w), NULL, d_pre, a->ff_ln, W(p->fc1_w), Rl, Dv,
                            Hf);
        be->layernorm_backward(d_lat, G(p->ff_ln_w), G(p->ff_ln_b), d_norm, a->lat_mid,
                               W(p->ff_ln_w), a->ff_mean, a->ff_rstd, Rl, Dv);
        /* forward: lat_mid = lat + out(attention(q(LN_l lat), kv(kv_in))); d_lat -> d lat */
        be->set(d_inner, 0.0f, Rl * I);                                 /* d atty (Rl, I) */
        be->linear_backward(d_inner, G(p->out_w), NULL, d_lat, a->atty, W(p->out_w), Rl, I, Dv);
        be->set(dq, 0.0f, Rl * I);
        be->set(dkv, 0.0f, Rk * 2 * I);
        be->attention_backward(dq, dkv, dkv + I, d_inner, a->atty, a->att, a->q, a->kv,
                               a->kv + I, &v->g_rs, I, 2 * I, c->rs_heads, I);
        be->set(v->d_kv_in, 0.0f, Rk * Dv);
        be->linear_backward(v->d_kv_in, G(p->kv_w), NULL, dkv, a->kv_in, W(p->kv_w), Rk, Dv,
                            2 * I);
        /* forward: kv_in = norm[kv_rows]; q = LN_l(lat) Wq^T reads the latent rows of norm */
        be->set(v->d_norm_rows, 0.0f, (Rv + Rl) * Dv);
        be->embedding_backward(v->d_norm_rows, v->d_kv_in, v->ix_dev.kv_rows, Rk, Rv + Rl, Dv);
        be->linear_backward(v->d_norm_rows + Rv * Dv, G(p->q_w), NULL, dq, a->norm + Rv * Dv,
                            W(p->q_w), Rl, Dv, I);
        /* the visual rows: only ln_media's own gradient (the encoder is frozen; d visual is
         * computed into a scratch and dropped) */
        be->set(d_norm, 0.0f, Rv * Dv);
        be->layernorm_backward(d_norm, G(p->ln_media_w), G(p->ln_media_b), v->d_norm_rows,
                               v->visual, W(p->ln_media_w), a->norm_mean, a->norm_rstd, Rv, Dv);
        be->layernorm_backward(d_lat, G(p->ln_lat_w), G(p->ln_lat_b), v->d_norm_rows + Rv * Dv,
                               a->lat, W(p->ln_lat_w), a->norm_mean + Rv, a->norm_rstd + Rv, Rl,
                               Dv);
    }
    /* forward: lat[0] = latents[i % Lq] */
    be->embedding_backward(G(v->latents), d_lat, v->ix_dev.latent_ids, Rl, Lq, Dv);
}

void lv_v2t_backward(lv_v2t *v, const lv_v2t_batch *b)
{
    const lv_backend *be = v->be;
    lv_tower *tw = &v->lm;
    const int64_t B = b->B, T = v->T, W = v->W, Rt = B * T;
    /* forward: loss = CE(logits, targets); logits = ln_f E^T (E the token embedding) */
    be->set(v->dloss, 1.0f, 1);
    be->set(v->dlogits, 0.0f, Rt * v->V);
    be->cross_entropy_backward(v->dlogits, v->dloss, v->logits, v->lse, v->targets_in, Rt, v->V);
    float *dln_f = v->d_final;
    be->set(dln_f, 0.0f, Rt * W);
    be->linear_backward(dln_f, G(v->tok_embed), NULL, v->dlogits, tw->ln_f, W(v->tok_embed), Rt,
                        W, v->V);
    float *dres = lv_tower_final_backward(&v->eng, tw, dln_f);
    if (!v->lm_only)
        be->set(v->d_media, 0.0f, B * v->Lq * v->Dv);
    for (int64_t l = tw->L - 1; l >= 0; l--) {
        lv_block_backward(&v->eng, tw, l, block_input(v, l), dres, &v->g_text, NULL);
        const int64_t j = xattn_before(v, l);
        if (j >= 0)
            xattn_backward(v, j, dres, B);
    }
    if (v->lm_only) {
        /* forward: x[0] = token_embed[ids] + pos_embed[t] */
        be->pos_embed_backward(NULL, G(v->pos_embed), NULL, dres, NULL, B, T, T, 1, W);
        be->embedding_backward(G(v->tok_embed), dres, v->ids_in, Rt, v->V, W);
        return;
    }
    resampler_backward(v, B);
}

/* ==== scoring and decoding ===================================================================
 * Host-side loops over the forward pieces above: no gradient, no training. Log-probabilities
 * are taken in double from the downloaded fp32 logits (max-subtracted log-sum-exp). */

static double log_softmax_at(const float *row, int64_t V, int64_t at, double *lse_out)
{
    double mx = row[0];
    for (int64_t i = 1; i < V; i++)
        mx = row[i] > mx ? row[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < V; i++)
        sum += exp((double)row[i] - mx);
    const double lse = mx + log(sum);
    if (lse_out)
        *lse_out = lse;
    return at >= 0 ? (double)row[at] - lse : 0.0;
}

void lv_v2t_score(lv_v2t *v, const lv_v2t_batch *b, double *out)
{
    const int64_t T = v->T, V = v->V;
    float *row = lv_calloc((size_t)V, sizeof(float), "a row of logits");
    LV_REQUIRE(row != NULL);
    lv_v2t_text_logits(v, b);
    for (int64_t s = 0; s < b->B; s++) {
        out[s] = 0.0;
        for (int64_t t = 0; t < T; t++) {
            const int32_t want = b->targets[s * T + t];
            if (want < 0)
                continue;
            v->be->download(row, v->logits + (s * T + t) * V, (size_t)V * sizeof(float));
            out[s] += log_softmax_at(row, V, want, NULL);
        }
    }
    free(row);
}

typedef struct {
    int64_t from, len;           /* the hypothesis extended, its length after */
    int32_t token;
    double score;
} candidate;

/* best first; ties by hypothesis, then token: the same order on every machine */
static int candidate_cmp(const void *pa, const void *pb)
{
    const candidate *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->from != b->from)
        return a->from < b->from ? -1 : 1;
    return (a->token > b->token) - (a->token < b->token);
}

/* The decoder state. Cached: per LM block a key/value cache of K hypotheses x T positions
 * (qkv rows, 3W wide; a second set to reorder into when beams are chosen), and the step's index
 * lists; each step runs one new row per hypothesis. Uncached (the reference the cache is
 * tested against): every step runs every hypothesis's whole sequence again. */
typedef struct {
    lv_v2t *v;
    int cached;
    int64_t K, T, n_prompt;
    int32_t *ids, *targets;     /* host (K, T) uncached; (K) the step's new tokens cached */
    uint8_t *valid;             /* host (K, T) uncached */
    float **cache, **spare;     /* (L) each (K T, 3W), backend */
    int64_t *row_of;            /* host (K): the cache row each new row writes */
    int64_t *lists;             /* host: pos (K), q_start (K+1), k_start (K+1), k_index (K T) */
    void *lists_dev;            /* backend: the same, then the new tokens (K int32) */
    int64_t lists_bytes;
    int media_kv;               /* the cross-attention's media keys/values are computed */
} decoder;

static void decoder_free(decoder *d)
{
    const lv_backend *be = d->v->be;
    for (int64_t l = 0; d->cache && l < d->v->lm.L; l++) {
        be->free(d->cache[l]);
        be->free(d->spare[l]);
    }
    free(d->cache);
    free(d->spare);
    if (d->lists_dev)
        be->free(d->lists_dev);
    free(d->ids);
    free(d->targets);
    free(d->valid);
    free(d->row_of);
    free(d->lists);
}

static int decoder_init(decoder *d, lv_v2t *v, int cached, int64_t K, int64_t n_prompt)
{
    const lv_backend *be = v->be;
    const int64_t T = v->T, L = v->lm.L, W = v->W;
    *d = (decoder){ .v = v, .cached = cached, .K = K, .T = T, .n_prompt = n_prompt };
    d->ids = lv_calloc((size_t)(K * T), sizeof(int32_t), "the hypotheses");
    d->targets = lv_calloc((size_t)(K * T), sizeof(int32_t), "the hypotheses");
    d->valid = lv_calloc((size_t)(K * T), 1, "the hypotheses");
    d->row_of = lv_calloc((size_t)K, sizeof(int64_t), "the cache rows");
    d->lists_bytes = (int64_t)sizeof(int64_t) * (K + 2 * (K + 1) + K * T) +
                     (int64_t)sizeof(int32_t) * K;
    d->lists = lv_calloc((size_t)d->lists_bytes, 1, "the decoding lists");
    if (!d->ids || !d->targets || !d->valid || !d->row_of || !d->lists)
        return -1;
    for (int64_t i = 0; i < K * T; i++)
        d->targets[i] = -1;
    if (!cached)
        return 0;
    d->cache = lv_calloc((size_t)L, sizeof *d->cache, "the key/value caches");
    d->spare = lv_calloc((size_t)L, sizeof *d->spare, "the key/value caches");
    d->lists_dev = be->alloc((size_t)d->lists_bytes, "the decoding lists");
    if (!d->cache || !d->spare || !d->lists_dev)
        return -1;
    for (int64_t l = 0; l < L; l++) {
        d->cache[l] = be->alloc((size_t)(K * T * 3 * W) * sizeof(float), "a key/value cache");
        d->spare[l] = be->alloc((size_t)(K * T * 3 * W) * sizeof(float), "a key/value cache");
        if (!d->cache[l] || !d->spare[l])
            return -1;
    }
    return 0;
}

/* Cached: hypothesis h's new token tokens[h] at position t, for n hypotheses: the LM over these
 * n rows against the caches; logits rows 0 .. n-1. */
static void decoder_feed(decoder *d, int64_t n, const int32_t *tokens, int64_t t)
{
    lv_v2t *v = d->v;
    const lv_backend *be = v->be;
    lv_tower *tw = &v->lm;
    const int64_t T = d->T, W = v->W;
    int64_t *pos = d->lists, *q_start = pos + n, *k_start = q_start + n + 1;
    int64_t *k_index = k_start + n + 1;
    int32_t *ids = (int32_t *)(k_index + n * (t + 1));
    for (int64_t h = 0; h <= n; h++) {
        q_start[h] = h;
        k_start[h] = h * (t + 1);
    }
    for (int64_t h = 0; h < n; h++) {
        pos[h] = t;
        ids[h] = tokens[h];
        d->row_of[h] = h * T + t;
        for (int64_t i = 0; i <= t; i++)
            k_index[h * (t + 1) + i] = h * T + i;
    }
    const int64_t used = (int64_t)((char *)(ids + n) - (char *)d->lists);
    const int64_t *pos_d = d->lists, *qs_d = pos_d + n, *ks_d = qs_d + n + 1;
    const int64_t *ki_d = ks_d + n + 1;
    const int32_t *ids_d = (const int32_t *)(ki_d + n * (t + 1));
    if (!be->host_memory) {
        be->upload(d->lists_dev, d->lists, (size_t)used);
        const char *base = d->lists_dev;
        pos_d = (const int64_t *)base;
        qs_d = pos_d + n;
        ks_d = qs_d + n + 1;
        ki_d = ks_d + n + 1;
        ids_d = (const int32_t *)(ki_d + n * (t + 1));
    }
    const lv_attn_groups self = { .n_groups = n, .q_start = qs_d, .k_start = ks_d,
                                  .k_index = ki_d };
    const lv_attn_groups cross = { .n_groups = n, .q_start = qs_d,
                                   .k_start = v->ix_dev.lat_start };
    const lv_kv_cache kv = { .layer = d->cache, .row_of = d->row_of, .groups = &self };
    tw->rows = n;
    be->embedding_forward(tw->x, ids_d, W(v->tok_embed), n, v->V, W);
    be->pos_embed_forward(tw->x, tw->x, W(v->pos_embed), NULL, pos_d, n, 1, v->cfg.lm_ctx, 1, W);
    for (int64_t l = 0; l < tw->L; l++) {
        const int64_t j = xattn_before(v, l);
        const float *x = tw->x + l * n * W;
        if (j >= 0) {
            xattn_forward(v, j, x, n, d->K, &cross, !d->media_kv);   /* media: K copies */
            x = v->xa_acts[j].y;
        }
        lv_block_forward_cached(&v->eng, tw, l, x, tw->x + (l + 1) * n * W, &kv);
    }
    d->media_kv = 1;
    lv_tower_final_forward(&v->eng, tw);
    be->linear_forward(v->logits, tw->ln_f, W(v->tok_embed), NULL, n, W, v->V);
}

/* Cached: the caches of the next step's hypotheses, new k from old from[k], positions 0 .. t. */
static void decoder_reorder(decoder *d, int64_t n, const int64_t *from, int64_t t)
{
    const lv_backend *be = d->v->be;
    const int64_t T = d->T, row = 3 * d->v->W;
    for (int64_t l = 0; l < d->v->lm.L; l++) {
        for (int64_t k = 0; k < n; k++)
            be->copy(d->spare[l] + k * T * row, d->cache[l] + from[k] * T * row, (t + 1) * row);
        float *x = d->cache[l];
        d->cache[l] = d->spare[l];
        d->spare[l] = x;
    }
}

/* The logits row (backend memory) of hypothesis h's next token, after decoder_next. */
static const float *decoder_row(const decoder *d, int64_t h, int64_t len)
{
    const lv_v2t *v = d->v;
    return d->cached ? v->logits + h * v->V : v->logits + (h * d->T + d->n_prompt + len - 1) * v->V;
}

/* Uncached: the logits of n hypotheses of len tokens after the prompt. */
static void decoder_run_all(decoder *d, int64_t n, const int32_t *prompt, const int32_t *hyp,
                            int64_t N, int64_t len)
{
    const int64_t T = d->T;
    for (int64_t h = 0; h < n; h++)
        for (int64_t t = 0; t < T; t++) {
            const int64_t at = t - d->n_prompt;
            d->ids[h * T + t] = t < d->n_prompt ? prompt[t] : at < len ? hyp[h * N + at] : 0;
            d->valid[h * T + t] = t < d->n_prompt + len;
        }
    const lv_v2t_batch tb = { .B = n, .T = T, .ids = d->ids, .targets = d->targets,
                              .valid = d->valid };
    lv_v2t_text_logits(d->v, &tb);
}

int64_t lv_v2t_generate(lv_v2t *v, const float *video, const int32_t *prompt, int64_t n_prompt,
                        const lv_v2t_decode *opt, int32_t *out)
{
    const int64_t T = v->T, V = v->V, K = opt->beam, N = opt->max_new;
    if (K < 1 || K > v->B || K > V)
        return lv_set_error("decoding: beam %lld must be in [1, %lld] (the allocated batch)",
                            (long long)K, (long long)(v->B < V ? v->B : V));
    if (n_prompt < 1 || N < 1 || n_prompt + N - 1 > T)
        return lv_set_error("decoding: a prompt of %lld tokens and %lld new ones need %lld text "
                            "rows; %lld are allocated (at least one prompt token)",
                            (long long)n_prompt, (long long)N, (long long)(n_prompt + N - 1),
                            (long long)T);
    decoder d;
    int32_t *hyp = lv_calloc((size_t)(K * N), sizeof(int32_t), "the hypotheses");
    int32_t *next = lv_calloc((size_t)(K * N), sizeof(int32_t), "the hypotheses");
    int32_t *last = lv_calloc((size_t)K, sizeof(int32_t), "the hypotheses");
    int64_t *from = lv_calloc((size_t)K, sizeof(int64_t), "the hypotheses");
    double *score = lv_calloc((size_t)K, sizeof(double), "the hypotheses");
    candidate *cand = lv_calloc((size_t)(K * K), sizeof(candidate), "the candidates");
    float *row = lv_calloc((size_t)V, sizeof(float), "a row of logits");
    int32_t *best = lv_calloc((size_t)N, sizeof(int32_t), "the best hypothesis");
    int64_t rc = -1;
    if (decoder_init(&d, v, !opt->no_cache, K, n_prompt) < 0 || !hyp || !next || !last ||
        !from || !score || !cand || !row || !best)
        goto done;
    if (!v->lm_only) {
        const lv_v2t_batch vb = { .B = 1, .T = T, .video = video, .step = opt->step };
        if (lv_v2t_encode(v, &vb) < 0)
            goto done;
        lv_v2t_repeat_media(v, K);
    }
    if (d.cached)                            /* the prompt, one position at a time */
        for (int64_t t = 0; t < n_prompt; t++)
            decoder_feed(&d, 1, &prompt[t], t);
    int64_t alive = 1, len = 0, best_len = -1;
    double best_score = -INFINITY;
    for (; alive > 0 && len < N; len++) {
        if (!d.cached)
            decoder_run_all(&d, alive, prompt, hyp, N, len);
        /* each hypothesis's K most likely next tokens */
        int64_t nc = 0;
        for (int64_t h = 0; h < alive; h++) {
            v->be->download(row, decoder_row(&d, h, len), (size_t)V * sizeof(float));
            double lse;
            log_softmax_at(row, V, -1, &lse);
            for (int64_t k = 0; k < K; k++) {             /* selection of the k-th largest */
                int64_t arg = -1;
                for (int64_t i = 0; i < V; i++) {
                    int taken = 0;
                    for (int64_t j = nc - k; j < nc && !taken; j++)
                        taken = cand[j].token == i;
                    if (!taken && (arg < 0 || row[i] > row[arg]))
                        arg = i;
                }
                cand[nc++] = (candidate){ .from = h, .len = len + 1, .token = (int32_t)arg,
                                          .score = score[h] + (double)row[arg] - lse };
            }
        }
        qsort(cand, (size_t)nc, sizeof *cand, candidate_cmp);
        /* the K best go on; one that ends (eos, or the length limit) competes for the result */
        int64_t kept = 0;
        for (int64_t c = 0; c < nc && kept < K; c++) {
            const candidate *x = &cand[c];
            const int ends = x->token == opt->eos || x->len == N;
            if (ends && x->score > best_score) {
                best_score = x->score;
                best_len = x->token == opt->eos ? x->len - 1 : x->len;
                memcpy(best, hyp + x->from * N, (size_t)len * sizeof(int32_t));
                best[len] = x->token;
            }
            if (ends)
                continue;
            memcpy(next + kept * N, hyp + x->from * N, (size_t)len * sizeof(int32_t));
            next[kept * N + len] = x->token;
            last[kept] = x->token;
            from[kept] = x->from;
            score[kept++] = x->score;
        }
        memcpy(hyp, next, (size_t)(K * N) * sizeof(int32_t));
        alive = kept;
        for (int64_t k = 0; opt->trace && k < K; k++)
            opt->trace[len * K + k] = k < kept ? score[k] : -INFINITY;
        /* scores only fall as hypotheses grow: none alive can beat a finished better one */
        if (alive > 0 && best_score >= score[0])
            alive = 0;
        if (alive > 0 && d.cached) {
            const int64_t t = n_prompt + len;     /* the position of the tokens just chosen */
            decoder_reorder(&d, alive, from, t - 1);
            decoder_feed(&d, alive, last, t);
        }
    }
    memcpy(out, best, (size_t)(best_len > 0 ? best_len : 0) * sizeof(int32_t));
    rc = best_len > 0 ? best_len : 0;
done:
    decoder_free(&d);
    free(hyp);
    free(next);
    free(last);
    free(from);
    free(score);
    free(cand);
    free(row);
    free(best);
    return rc;
}

/* ==== the parameter table ====================================================================
 * In a fixed order (it keys each tensor's initialisation stream): the LM, then the resampler,
 * then the cross-attention layers. */

static void add_layernorm(lv_table *t, int64_t D, int64_t *w, int64_t *b, const char *fmt,
                          int64_t i)
{
    char pre[64];
    snprintf(pre, sizeof pre, fmt, (long long)i);
    lv_table_add_layernorm(t, 1, D, w, b, pre);
}

static void add_resampler(lv_table *t, lv_v2t *v)
{
    const int64_t Dv = v->Dv, I = v->I_rs;
    lv_param_spec lat = lv_spec_normal(1, v->Lq, Dv);
    lat.init_value = 1.0;                    /* Flamingo: torch.randn */
    v->latents = lv_table_add(t, lat, "resampler.latents");
    for (int64_t l = 0; l < v->cfg.rs_depth; l++) {
        lv_resampler_params *p = &v->rs[l];
        const long long n = (long long)l;
        add_layernorm(t, Dv, &p->ln_media_w, &p->ln_media_b, "resampler.layers.%lld.ln_media",
                      l);
        add_layernorm(t, Dv, &p->ln_lat_w, &p->ln_lat_b, "resampler.layers.%lld.ln_latents", l);
        p->q_w = lv_table_add(t, lv_spec_linear(1, I, Dv), "resampler.layers.%lld.q.weight", n);
        p->kv_w = lv_table_add(t, lv_spec_linear(1, 2 * I, Dv),
                               "resampler.layers.%lld.kv.weight", n);
        p->out_w = lv_table_add(t, lv_spec_linear(1, Dv, I), "resampler.layers.%lld.out.weight",
                                n);
        add_layernorm(t, Dv, &p->ff_ln_w, &p->ff_ln_b, "resampler.layers.%lld.ff.ln", l);
        p->fc1_w = lv_table_add(t, lv_spec_linear(1, 4 * Dv, Dv),
                                "resampler.layers.%lld.ff.fc1.weight", n);
        p->fc2_w = lv_table_add(t, lv_spec_linear(1, Dv, 4 * Dv),
                                "resampler.layers.%lld.ff.fc2.weight", n);
    }
    lv_table_add_layernorm(t, 1, Dv, &v->rs_ln_w, &v->rs_ln_b, "resampler.ln");
}

static void add_xattn(lv_table *t, lv_v2t *v)
{
    const int64_t W = v->W, I = v->I_xa;
    for (int64_t j = 0; j < v->n_xattn; j++) {
        lv_xattn_params *p = &v->xa[j];
        const long long n = (long long)j;
        add_layernorm(t, W, &p->ln_w, &p->ln_b, "xattn.%lld.ln", j);
        p->q_w = lv_table_add(t, lv_spec_linear(1, I, W), "xattn.%lld.q.weight", n);
        p->kv_w = lv_table_add(t, lv_spec_linear(1, 2 * I, v->Dv), "xattn.%lld.kv.weight", n);
        p->out_w = lv_table_add(t, lv_spec_linear(1, W, I), "xattn.%lld.out.weight", n);
        p->attn_gate = lv_table_add(t, lv_spec_zeros(1, 1, 1, 0), "xattn.%lld.attn_gate", n);
        add_layernorm(t, W, &p->ff_ln_w, &p->ff_ln_b, "xattn.%lld.ff.ln", j);
        p->fc1_w = lv_table_add(t, lv_spec_linear(1, 4 * W, W), "xattn.%lld.ff.fc1.weight", n);
        p->fc2_w = lv_table_add(t, lv_spec_linear(1, W, 4 * W), "xattn.%lld.ff.fc2.weight", n);
        p->ff_gate = lv_table_add(t, lv_spec_zeros(1, 1, 1, 0), "xattn.%lld.ff_gate", n);
    }
}

static int build_table(lv_v2t *v)
{
    const lv_config *c = &v->cfg;
    const int tr = v->lm_only;               /* the LM trains only in its own pretraining */
    lv_table t = { &v->params, 0 };
    v->tok_embed = lv_table_add(&t, lv_spec_normal(tr, v->V, v->W), "lm.token_embed");
    v->pos_embed = lv_table_add(&t, lv_spec_normal(tr, c->lm_ctx, v->W), "lm.pos_embed");
    const lv_block_training bt = { .base = tr };
    for (int64_t l = 0; l < v->lm.L; l++)
        lv_tower_add_block(&t, &v->lm, l, "lm", bt);
    lv_table_add_layernorm(&t, tr, v->W, &v->lm.ln_f_w, &v->lm.ln_f_b, "lm.ln_final");
    v->lm.proj_w = -1;
    if (!v->lm_only) {
        add_resampler(&t, v);
        add_xattn(&t, v);
    }
    return t.failed ? -1 : 0;
}

int lv_v2t_build(lv_v2t *v, const lv_config *c, const lv_backend *be, int lm_only)
{
    *v = (lv_v2t){ .cfg = *c, .be = be, .lm_only = lm_only };
    v->eng = (lv_engine){ .be = be, .params = &v->params };
    if (lv_config_validate(c) < 0)
        return -1;
    if (!lm_only && c->n_tubes > 0)
        return lv_set_error("video-to-text averages the encoder's tokens over time per spatial "
                            "position, which needs one tubelet grid: use tubes=none");
    v->V = lv_config_lm_vocab(c);
    v->W = c->lm_width;
    v->Dv = c->width;
    v->Lq = c->rs_latents;
    v->I_rs = c->rs_heads * c->rs_head_dim;
    v->I_xa = c->xattn_heads * c->xattn_head_dim;
    v->n_xattn = lm_only ? 0 : (c->lm_layers + c->xattn_every - 1) / c->xattn_every;
    v->lm = (lv_tower){ .D = c->lm_width, .H = c->lm_heads, .L = c->lm_layers,
                        .hidden = 4 * c->lm_width, .act = c->lm_act, .eps = (float)c->ln_eps };
    if (lv_tower_alloc(&v->lm) < 0)
        return -1;
    if (!lm_only) {
        /* the encoder: the contrastive model at this stage's mask ratio, every tensor frozen */
        lv_config ec = *c;
        ec.mask_ratio = c->v2t_mask_ratio;
        if (lv_model_build_table(&v->enc, &ec, be) < 0)
            return -1;
        lv_params_freeze(&v->enc.params);
        if (lv_params_alloc(&v->enc.params, be) < 0 || lv_params_init(&v->enc.params, c->seed) < 0)
            return -1;
        v->P = lv_config_geometry(&ec, 0).tok[0].P;
        v->rs = lv_calloc((size_t)c->rs_depth, sizeof *v->rs, "the resampler table");
        v->rs_acts = lv_calloc((size_t)c->rs_depth, sizeof *v->rs_acts,
                               "the resampler activations");
        v->xa = lv_calloc((size_t)v->n_xattn, sizeof *v->xa, "the cross-attention table");
        v->xa_acts = lv_calloc((size_t)v->n_xattn, sizeof *v->xa_acts,
                               "the cross-attention activations");
        if (!v->rs || !v->rs_acts || !v->xa || !v->xa_acts)
            return -1;
    }
    if (build_table(v) < 0 || lv_params_alloc(&v->params, be) < 0)
        return -1;
    return lv_params_init(&v->params, c->seed ^ 0x7632747632747632ull);   /* "v2tv2tv2" */
}

/* ==== memory layout ========================================================================== */

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t layout(lv_v2t *v, float *base, int64_t B)
{
    const lv_config *c = &v->cfg;
    const lv_backend *be = v->be;
    const int64_t T = v->T, W = v->W, Dv = v->Dv, P = v->P, Lq = v->Lq;
    const int64_t Rt = B * T, Rl = B * Lq, Rv = B * P, Rk = B * (P + Lq);
    const int64_t Ix = v->I_xa, Ir = v->I_rs;
    lv_fslab s = { base, 0 };
    lv_tower_layout(&s, &v->lm, Rt, 0, 0, lv_backend_attention_bound(be, Rt, T, c->lm_heads),
                    0);
    for (int64_t j = 0; j < v->n_xattn; j++) {
        lv_xattn_acts *a = &v->xa_acts[j];
        a->ln = lv_take(&s, Rt * W);
        a->ln_mean = lv_take(&s, Rt);
        a->ln_rstd = lv_take(&s, Rt);
        a->q = lv_take(&s, Rt * Ix);
        a->kv = lv_take(&s, Rl * 2 * Ix);
        a->att = lv_take(&s, lv_backend_attention_bound(be, Rt, Lq, c->xattn_heads));
        a->atty = lv_take(&s, Rt * Ix);
        a->attn_out = lv_take(&s, Rt * W);
        a->x_mid = lv_take(&s, Rt * W);
        a->ff_ln = lv_take(&s, Rt * W);
        a->ff_mean = lv_take(&s, Rt);
        a->ff_rstd = lv_take(&s, Rt);
        a->fc1 = lv_take(&s, Rt * 4 * W);
        a->gelu = lv_take(&s, Rt * 4 * W);
        a->ff_out = lv_take(&s, Rt * W);
        a->y = lv_take(&s, Rt * W);
    }
    int64_t K = 0, enc_rows = 0;
    if (!v->lm_only) {
        const lv_video_geometry g = lv_config_geometry(&v->enc.cfg, 0);
        K = g.K;
        enc_rows = g.R;
        for (int64_t l = 0; l < c->rs_depth; l++) {
            lv_resampler_acts *a = &v->rs_acts[l];
            a->lat = lv_take(&s, Rl * Dv);
            a->norm = lv_take(&s, (Rv + Rl) * Dv);
            a->norm_mean = lv_take(&s, Rv + Rl);
            a->norm_rstd = lv_take(&s, Rv + Rl);
            a->kv_in = lv_take(&s, Rk * Dv);
            a->q = lv_take(&s, Rl * Ir);
            a->kv = lv_take(&s, Rk * 2 * Ir);
            a->att = lv_take(&s, lv_backend_attention_bound(be, Rl, P + Lq, c->rs_heads));
            a->atty = lv_take(&s, Rl * Ir);
            a->lat_mid = lv_take(&s, Rl * Dv);
            a->ff_ln = lv_take(&s, Rl * Dv);
            a->ff_mean = lv_take(&s, Rl);
            a->ff_rstd = lv_take(&s, Rl);
            a->fc1 = lv_take(&s, Rl * 4 * Dv);
            a->gelu = lv_take(&s, Rl * 4 * Dv);
        }
        v->gathered = lv_take(&s, B * K * Dv);
        v->visual = lv_take(&s, Rv * Dv);
        v->lat_out = lv_take(&s, Rl * Dv);
        v->media = lv_take(&s, Rl * Dv);
        v->media_mean = lv_take(&s, Rl);
        v->media_rstd = lv_take(&s, Rl);
        v->d_media = lv_take(&s, Rl * Dv);
        v->d_lat = lv_take(&s, Rl * Dv);
        v->d_norm_rows = lv_take(&s, (Rv + Rl) * Dv);
        v->d_kv_in = lv_take(&s, Rk * Dv);
    }
    (void)enc_rows;
    v->logits = lv_take(&s, Rt * v->V);
    v->dlogits = lv_take(&s, Rt * v->V);
    v->lse = lv_take(&s, Rt);
    v->loss = lv_take(&s, 1);
    v->dloss = lv_take(&s, 1);
    v->d_final = lv_take(&s, Rt * W);
    v->d_ffn = lv_take(&s, max64(Rt * 4 * W, v->lm_only ? 0 : Rl * 4 * Dv));
    /* the engine's temporaries: rows x the widest matrix of any stack or layer here */
    const int64_t rows = max64(Rt, v->lm_only ? 0 : max64(Rk, Rv + Rl));
    const int64_t width = max64(max64(3 * W, 4 * W), v->lm_only ? 0
                                : max64(max64(2 * Ix, 2 * Ir), 4 * Dv));
    v->eng.branch_out = lv_take(&s, rows * width);
    v->eng.lora_out = lv_take(&s, rows * width);
    v->eng.d_stream = lv_take(&s, rows * width);
    v->eng.d_inner = lv_take(&s, rows * width);
    v->eng.d_pre = lv_take(&s, rows * width);
    v->eng.d_norm = lv_take(&s, rows * width);
    v->eng.d_lora = NULL;
    return s.used;
}

/* Index lists: the constant ones are filled once, the pooling ones per batch; *video_bytes is
 * the part a video forward uploads again (everything before the text copies). */
static int64_t layout_indices(const lv_v2t *v, lv_v2t_index *ix, char *base, int64_t B,
                              int64_t *video_bytes)
{
    const int64_t T = v->T, P = v->P, Lq = v->Lq;
    const int64_t K = v->lm_only ? 0 : lv_config_geometry(&v->enc.cfg, 0).K;
    lv_bslab s = { base, 0 };
#define TAKE(field, n, type) ix->field = lv_take_bytes(&s, (int64_t)(n) * (int64_t)sizeof(type))
    TAKE(pool_rows, B * K, int32_t);
    TAKE(pool_start, B * P + 1, int64_t);
    TAKE(visual_valid, B * P, uint8_t);
    TAKE(kv_valid, B * (P + Lq), uint8_t);
    TAKE(kv_rows, B * (P + Lq), int32_t);
    TAKE(latent_ids, B * Lq, int32_t);
    TAKE(lat_start, B + 1, int64_t);
    TAKE(kv_start, B + 1, int64_t);
    TAKE(text_start, B + 1, int64_t);
    *video_bytes = s.used;
    const int upload_text = !v->be->host_memory;
    TAKE(ids, upload_text ? B * T : 0, int32_t);
    TAKE(targets, upload_text ? B * T : 0, int32_t);
    TAKE(valid, upload_text ? B * T : 0, uint8_t);
#undef TAKE
    return s.used;
}

int64_t lv_v2t_act_floats(lv_v2t *v, int64_t B, int64_t T)
{
    LV_REQUIRE(v->act_slab == NULL);         /* layout() with no base only counts, but it does
                                              * so through v's pointers */
    const int64_t keep = v->T;
    v->T = T;
    int64_t n = layout(v, NULL, B);
    v->T = keep;
    if (!v->lm_only)
        n += lv_model_act_floats(&v->enc.cfg, v->be, B);
    return n;
}

int lv_v2t_alloc_acts(lv_v2t *v, int64_t B, int64_t T)
{
    const lv_backend *be = v->be;
    if (T < 1 || T > v->cfg.lm_ctx)
        return lv_set_error("video-to-text: %lld text rows per sample, but the LM has %lld "
                            "positions (lm_ctx)", (long long)T, (long long)v->cfg.lm_ctx);
    v->T = T;
    v->B = B;
    if (!v->lm_only && lv_model_alloc_acts(&v->enc, B, 0) < 0)
        return -1;
    const int64_t n = layout(v, NULL, B);
    v->act_slab = be->alloc((size_t)n * sizeof(float), "the video-to-text activations");
    int64_t video_bytes;
    const int64_t bytes = layout_indices(v, &v->ix, NULL, B, &video_bytes);
    v->index_host = lv_calloc((size_t)bytes, 1, "the video-to-text indices");
    v->index_dev = be->host_memory ? v->index_host
                                   : be->alloc((size_t)bytes, "the uploaded indices");
    if (!v->act_slab || !v->index_host || !v->index_dev)
        return -1;
    v->act_floats = layout(v, v->act_slab, B);
    layout_indices(v, &v->ix, v->index_host, B, &video_bytes);
    layout_indices(v, &v->ix_dev, v->index_dev, B, &video_bytes);
    v->index_bytes = video_bytes;
    const int64_t P = v->P, Lq = v->Lq;
    for (int64_t b = 0; b <= B; b++) {
        v->ix.lat_start[b] = b * Lq;
        v->ix.kv_start[b] = b * (P + Lq);
        v->ix.text_start[b] = b * T;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < Lq; i++)
            v->ix.latent_ids[b * Lq + i] = (int32_t)i;
    if (!be->host_memory)
        be->upload(v->index_dev, v->index_host, (size_t)v->index_bytes);
    return 0;
}

void lv_v2t_free(lv_v2t *v)
{
    const lv_backend *be = v->be;
    if (!v->lm_only)
        lv_model_free(&v->enc);
    lv_params_free(&v->params);
    free(v->lm.blocks);
    free(v->lm.acts);
    free(v->rs);
    free(v->rs_acts);
    free(v->xa);
    free(v->xa_acts);
    if (be) {
        be->free(v->act_slab);
        if (v->index_dev != v->index_host)
            be->free(v->index_dev);
    }
    free(v->index_host);
    *v = (lv_v2t){ 0 };
}
