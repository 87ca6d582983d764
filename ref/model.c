/* The LongViViT graph (see model.h): the parameter table, the activation layout, and the
 * forward and backward passes as lists of kernel calls through the backend table. No kernel
 * arithmetic lives here; only host-side bookkeeping (masks, attention groups). */
#include "model.h"
#include "error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INIT_STD 0.02          /* ViT / BERT initialisation of weights and embeddings */

/* ---- the parameter table -------------------------------------------------------------------- */

typedef struct {
    lv_params *ps;
    int failed;
} table;

static int64_t add(table *t, int trainable, int decay, lv_init_kind init, double value,
                   int64_t source, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
    LV_PRINTF(10, 11);

static int64_t add(table *t, int trainable, int decay, lv_init_kind init, double value,
                   int64_t source, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
{
    char name[LV_PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const int64_t shape[2] = { d0, d1 };
    const int64_t i = lv_params_add(t->ps, name, ndim, shape, trainable, decay, init, value,
                                    source);
    if (i < 0)
        t->failed = 1;
    return i;
}

/* Shorthands: a weight matrix (decayed, N(0, 0.02)), a bias, a LayerNorm pair. */
#define MATRIX(tr, o, i, ...) add(t, tr, 1, LV_INIT_NORMAL, INIT_STD, -1, 2, o, i, __VA_ARGS__)
#define BIAS(tr, n, ...) add(t, tr, 0, LV_INIT_ZERO, 0, -1, 1, n, 0, __VA_ARGS__)
#define COPY(tr, decay, src, ...) \
    add(t, tr, decay, LV_INIT_COPY, 0, src, t->ps->p[src].ndim, t->ps->p[src].shape[0], \
        t->ps->p[src].shape[1], __VA_ARGS__)

static void add_layernorm(table *t, int tr, int64_t D, int64_t *w, int64_t *b, const char *pre)
{
    *w = add(t, tr, 0, LV_INIT_ONE, 0, -1, 1, D, 0, "%s.weight", pre);
    *b = add(t, tr, 0, LV_INIT_ZERO, 0, -1, 1, D, 0, "%s.bias", pre);
}

/* What trains in block l of the video tower under each tuning mode (text: full or frozen). */
typedef struct {
    int base, temporal, adapters, lora;
} block_training;

static block_training video_block_training(const lv_config *c, int64_t l)
{
    block_training bt = { 0 };
    switch (c->tune) {
    case LV_TUNE_FULL: bt.base = bt.temporal = 1; break;
    case LV_TUNE_LAST_K: bt.base = bt.temporal = l >= c->layers - c->tune_last_k; break;
    case LV_TUNE_ADAPTERS: bt.adapters = 1; break;
    case LV_TUNE_LORA: bt.lora = 1; break;
    case LV_TUNE_TEMPORAL: bt.temporal = 1; break;
    }
    return bt;
}

static void add_block(table *t, lv_tower *tw, int64_t l, const char *tower, block_training bt)
{
    lv_block_params *b = &tw->blocks[l];
    const int64_t D = tw->D, Hd = tw->hidden;
    char pre[48];
    snprintf(pre, sizeof pre, "%s.blocks.%lld", tower, (long long)l);
    for (int k = 0; k < LV_LORA_COUNT; k++)
        b->lora_a[k] = b->lora_b[k] = -1;
    b->t_ln_w = b->t_ln_b = b->t_qkv_w = b->t_qkv_b = b->t_proj_w = b->t_proj_b = -1;
    b->t_gate = b->ad_down_w = b->ad_down_b = b->ad_up_w = b->ad_up_b = -1;

    char name[64];
    snprintf(name, sizeof name, "%s.ln1", pre);
    add_layernorm(t, bt.base, D, &b->ln1_w, &b->ln1_b, name);
    b->qkv_w = MATRIX(bt.base, 3 * D, D, "%s.attn.qkv.weight", pre);
    b->qkv_b = BIAS(bt.base, 3 * D, "%s.attn.qkv.bias", pre);
    b->proj_w = MATRIX(bt.base, D, D, "%s.attn.proj.weight", pre);
    b->proj_b = BIAS(bt.base, D, "%s.attn.proj.bias", pre);
    if (tw->factorized) {
        /* the temporal block starts as a copy of the spatial one, switched off by its gate */
        b->t_ln_w = COPY(bt.temporal, 0, b->ln1_w, "%s.temporal.ln.weight", pre);
        b->t_ln_b = COPY(bt.temporal, 0, b->ln1_b, "%s.temporal.ln.bias", pre);
        b->t_qkv_w = COPY(bt.temporal, 1, b->qkv_w, "%s.temporal.attn.qkv.weight", pre);
        b->t_qkv_b = COPY(bt.temporal, 0, b->qkv_b, "%s.temporal.attn.qkv.bias", pre);
        b->t_proj_w = COPY(bt.temporal, 1, b->proj_w, "%s.temporal.attn.proj.weight", pre);
        b->t_proj_b = COPY(bt.temporal, 0, b->proj_b, "%s.temporal.attn.proj.bias", pre);
        b->t_gate = add(t, bt.temporal, 0, LV_INIT_ZERO, 0, -1, 1, 1, 0, "%s.temporal.gate",
                        pre);
    }
    snprintf(name, sizeof name, "%s.ln2", pre);
    add_layernorm(t, bt.base, D, &b->ln2_w, &b->ln2_b, name);
    b->fc1_w = MATRIX(bt.base, Hd, D, "%s.mlp.fc1.weight", pre);
    b->fc1_b = BIAS(bt.base, Hd, "%s.mlp.fc1.bias", pre);
    b->fc2_w = MATRIX(bt.base, D, Hd, "%s.mlp.fc2.weight", pre);
    b->fc2_b = BIAS(bt.base, D, "%s.mlp.fc2.bias", pre);
    if (tw->adapters) {
        /* Houlsby adapter after the MLP; the zero up-projection makes it start as identity */
        const int64_t A = tw->adapter_dim;
        b->ad_down_w = MATRIX(bt.adapters, A, D, "%s.adapter.down.weight", pre);
        b->ad_down_b = BIAS(bt.adapters, A, "%s.adapter.down.bias", pre);
        b->ad_up_w = add(t, bt.adapters, 1, LV_INIT_ZERO, 0, -1, 2, D, A,
                         "%s.adapter.up.weight", pre);
        b->ad_up_b = BIAS(bt.adapters, D, "%s.adapter.up.bias", pre);
    }
    if (tw->lora) {
        /* W + scale B A with B = 0 at init; A ~ N(0, 1/in) */
        static const char *const which[LV_LORA_COUNT] = { "attn.qkv", "attn.proj", "mlp.fc1",
                                                          "mlp.fc2" };
        const int64_t in[LV_LORA_COUNT] = { D, D, D, Hd }, out[LV_LORA_COUNT] = { 3 * D, D, Hd, D };
        for (int k = 0; k < LV_LORA_COUNT; k++) {
            b->lora_a[k] = add(t, bt.lora, 1, LV_INIT_NORMAL, 1.0 / sqrt((double)in[k]), -1, 2,
                               tw->lora_rank, in[k], "%s.%s.lora_a", pre, which[k]);
            b->lora_b[k] = add(t, bt.lora, 1, LV_INIT_ZERO, 0, -1, 2, out[k], tw->lora_rank,
                               "%s.%s.lora_b", pre, which[k]);
        }
    }
}

/* The shapes and variant flags of both towers, from the config alone. */
static void towers_from_config(lv_tower *video, lv_tower *text, const lv_config *c)
{
    *video = (lv_tower){ .D = c->width, .H = c->heads, .L = c->layers,
                         .hidden = c->mlp_ratio * c->width,
                         .factorized = c->attn == LV_ATTN_FACTORIZED,
                         .adapters = c->tune == LV_TUNE_ADAPTERS, .lora = c->tune == LV_TUNE_LORA,
                         .adapter_dim = c->adapter_dim, .lora_rank = c->lora_rank,
                         .lora_scale = (float)(c->lora_alpha / (double)c->lora_rank) };
    *text = (lv_tower){ .D = c->text_width, .H = c->text_heads, .L = c->text_layers,
                        .hidden = c->mlp_ratio * c->text_width };
}

static int tower_alloc(lv_tower *tw)
{
    tw->blocks = lv_calloc((size_t)tw->L, sizeof *tw->blocks, "the block table");
    tw->acts = lv_calloc((size_t)tw->L, sizeof *tw->acts, "the block activations");
    return tw->blocks && tw->acts ? 0 : -1;
}

static void add_video_tower(table *t, lv_model *m)
{
    const lv_config *c = &m->cfg;
    const int full = c->tune == LV_TUNE_FULL, lastk = c->tune == LV_TUNE_LAST_K;
    const int64_t D = c->width;
    const lv_video_geometry img = lv_config_geometry(c, 1), vid = lv_config_geometry(c, 0);
    /* the image model's 2D patch embedding and spatial positions */
    m->patch_w = MATRIX(full || lastk, D, img.tok[0].voxel, "video.patch.weight");
    m->patch_b = BIAS(full || lastk, D, "video.patch.bias");
    m->pos_spatial = add(t, full || lastk, 0, LV_INIT_NORMAL, INIT_STD, -1, 2, img.tok[0].P, D,
                         "video.pos.spatial");
    m->pos_temporal = -1;
    if (c->attn == LV_ATTN_FRAME) {          /* the image ViT on every frame */
        m->tok_w[0] = m->patch_w;
        m->tok_b[0] = m->patch_b;
        m->pos_s[0] = m->pos_spatial;
        m->pos_t[0] = -1;
    } else if (c->n_tubes == 0) {            /* tubelets: inflated kernel, new temporal table */
        const lv_init_kind inflate = c->inflate == LV_INFLATE_CENTRAL ? LV_INIT_INFLATE_CENTRAL
                                                                      : LV_INIT_INFLATE_AVERAGE;
        m->tok_w[0] = add(t, 1, 1, inflate, 0, m->patch_w, 2, D, vid.tok[0].voxel,
                          "video.tubelet.weight");
        m->tok_b[0] = COPY(1, 0, m->patch_b, "video.tubelet.bias");
        m->pos_s[0] = m->pos_spatial;
        m->pos_temporal = m->pos_t[0] = add(t, 1, 0, LV_INIT_ZERO, 0, -1, 2, vid.tok[0].Ft, D,
                                            "video.pos.temporal");
    } else {                                 /* TubeViT-style: each tube kind its own tables */
        for (int64_t j = 0; j < vid.n_tokenizers; j++) {
            const lv_tokenizer_geometry *g = &vid.tok[j];
            m->tok_w[j] = MATRIX(1, D, g->voxel, "video.tubes.%lld.weight", (long long)j);
            m->tok_b[j] = BIAS(1, D, "video.tubes.%lld.bias", (long long)j);
            m->pos_s[j] = add(t, 1, 0, LV_INIT_NORMAL, INIT_STD, -1, 2, g->P, D,
                              "video.tubes.%lld.pos.spatial", (long long)j);
            m->pos_t[j] = add(t, 1, 0, LV_INIT_ZERO, 0, -1, 2, g->Ft, D,
                              "video.tubes.%lld.pos.temporal", (long long)j);
        }
    }
    add_layernorm(t, full || lastk, D, &m->ln_pre_w, &m->ln_pre_b, "video.ln_pre");
    lv_tower *tw = &m->video;
    for (int64_t l = 0; l < c->layers; l++)
        add_block(t, tw, l, "video", video_block_training(c, l));
    add_layernorm(t, full || lastk, D, &tw->ln_f_w, &tw->ln_f_b, "video.ln_final");
    m->pool_query = m->pool_kv_w = m->pool_kv_b = -1;
    if (c->attn == LV_ATTN_FRAME && c->frame_pool == LV_FRAME_POOL_ATTN) {
        m->pool_query = add(t, 1, 0, LV_INIT_NORMAL, INIT_STD, -1, 2, 1, D, "video.pool.query");
        m->pool_kv_w = MATRIX(1, 2 * D, D, "video.pool.kv.weight");
        m->pool_kv_b = BIAS(1, 2 * D, "video.pool.kv.bias");
    }
    tw->proj_w = MATRIX(full || lastk, c->embed_dim, D, "video.proj.weight");
}

static void add_text_tower(table *t, lv_model *m)
{
    const lv_config *c = &m->cfg;
    const int tr = !c->freeze_text;
    const int64_t D = c->text_width;
    m->tok_embed = add(t, tr, 0, LV_INIT_NORMAL, INIT_STD, -1, 2, c->vocab, D, "text.token_embed");
    m->text_pos = add(t, tr, 0, LV_INIT_NORMAL, INIT_STD, -1, 2, c->text_len, D, "text.pos_embed");
    const block_training bt = { .base = tr };
    for (int64_t l = 0; l < c->text_layers; l++)
        add_block(t, &m->text, l, "text", bt);
    add_layernorm(t, tr, D, &m->text.ln_f_w, &m->text.ln_f_b, "text.ln_final");
    m->text.proj_w = MATRIX(tr, c->embed_dim, D, "text.proj.weight");
}

int lv_model_build_table(lv_model *m, const lv_config *c, const lv_backend *be)
{
    *m = (lv_model){ .cfg = *c, .be = be };
    if (lv_config_validate(c) < 0)
        return -1;
    towers_from_config(&m->video, &m->text, c);
    if (tower_alloc(&m->video) < 0 || tower_alloc(&m->text) < 0)
        return -1;
    table t = { &m->params, 0 };
    add_video_tower(&t, m);
    add_text_tower(&t, m);
    m->logit_scale = add(&t, 1, 0, LV_INIT_CONST, log(1.0 / 0.07), -1, 0, 0, 0, "logit_scale");
    return t.failed ? -1 : 0;
}

int lv_model_build(lv_model *m, const lv_config *c, const lv_backend *be)
{
    if (lv_model_build_table(m, c, be) < 0 || lv_params_alloc(&m->params) < 0)
        return -1;
    lv_params_init(&m->params, c->seed);
    return 0;
}

/* ---- activation layout ---------------------------------------------------------------------
 * One function describes where every activation lives. Run with a NULL base it only counts
 * (lv_model_act_floats, the analytic figure); with the slab it hands out the pointers. */

typedef struct {
    float *base;
    int64_t used;
} fslab;

static float *take(fslab *s, int64_t n)
{
    float *p = s->base ? s->base + s->used : NULL;
    s->used += n;
    return p;
}

static int64_t max3(int64_t a, int64_t b, int64_t c)
{
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/* Attention-cache floats of each variant for backend be, bounded for any mask: a sample's K
 * kept tokens in groups of at most P keys (one time step), or Ft (one spatial position). */
static void cache_bounds(const lv_config *c, const lv_backend *be, const lv_video_geometry *g,
                         int64_t B, int64_t *video_cache, int64_t *temporal_cache)
{
    const int64_t H = c->heads, K = g->K, P = g->tok[0].P, Ft = g->tok[0].Ft;
    *temporal_cache = c->attn == LV_ATTN_FACTORIZED
                      ? lv_backend_attention_bound(be, B * K, Ft < K ? Ft : K, H) : 0;
    *video_cache = lv_backend_attention_bound(be, B * K, c->attn == LV_ATTN_JOINT ? K
                                              : (P < K ? P : K), H);
}

static void layout_block(fslab *s, const lv_tower *tw, lv_block_acts *a, float *out, int64_t R,
                         int64_t cache, int64_t temporal_cache)
{
    const int64_t D = tw->D, Hd = tw->hidden;
    a->ln1 = take(s, R * D);
    a->ln1_mean = take(s, R);
    a->ln1_rstd = take(s, R);
    a->qkv = take(s, R * 3 * D);
    a->att = take(s, cache);
    a->atty = take(s, R * D);
    a->x_mid = take(s, R * D);
    a->x_t = a->x_mid;
    if (tw->factorized) {
        a->t_ln = take(s, R * D);
        a->t_mean = take(s, R);
        a->t_rstd = take(s, R);
        a->t_qkv = take(s, R * 3 * D);
        a->t_att = take(s, temporal_cache);
        a->t_atty = take(s, R * D);
        a->t_out = take(s, R * D);
        a->x_t = take(s, R * D);
    }
    a->ln2 = take(s, R * D);
    a->ln2_mean = take(s, R);
    a->ln2_rstd = take(s, R);
    a->fc1 = take(s, R * Hd);
    a->gelu = take(s, R * Hd);
    a->x_mlp = out;
    if (tw->adapters) {
        a->x_mlp = take(s, R * D);
        a->ad_down = take(s, R * tw->adapter_dim);
        a->ad_gelu = take(s, R * tw->adapter_dim);
    }
    for (int k = 0; k < LV_LORA_COUNT; k++)
        a->lora_u[k] = tw->lora ? take(s, R * tw->lora_rank) : NULL;
}

static void layout_tower(fslab *s, lv_tower *tw, int64_t R, int64_t B, int64_t E, int64_t cache,
                         int64_t temporal_cache)
{
    tw->rows = R;
    tw->x = take(s, (tw->L + 1) * R * tw->D);
    for (int64_t l = 0; l < tw->L; l++) {
        lv_block_acts dummy, *a = tw->acts ? &tw->acts[l] : &dummy;
        layout_block(s, tw, a, tw->x ? tw->x + (l + 1) * R * tw->D : NULL, R, cache,
                     temporal_cache);
    }
    tw->ln_f = take(s, R * tw->D);
    tw->ln_f_mean = take(s, R);
    tw->ln_f_rstd = take(s, R);
    tw->pooled = take(s, B * tw->D);
    tw->emb = take(s, B * E);
    tw->emb_n = take(s, B * E);
    tw->emb_norm = take(s, B);
}

static int64_t layout(lv_model *m, float *base, int64_t B, int want_pixel_grad)
{
    const lv_config *c = &m->cfg;
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const int64_t E = c->embed_dim, F = c->frames, T = c->text_len, D = c->width;
    const int64_t Rv = B * g.K, Rt = B * T;
    int64_t cache, tcache;
    cache_bounds(c, m->be, &g, B, &cache, &tcache);
    fslab s = { base, 0 };
    layout_tower(&s, &m->video, Rv, B, E, cache, tcache);
    layout_tower(&s, &m->text, Rt, B, E, lv_backend_attention_bound(m->be, Rt, T, c->text_heads),
                 0);
    m->tokens = take(&s, Rv * D);
    m->embedded = take(&s, Rv * D);
    m->ln_pre_mean = take(&s, Rv);
    m->ln_pre_rstd = take(&s, Rv);
    const int frame_level = c->attn == LV_ATTN_FRAME;
    m->frame_emb = frame_level ? take(&s, B * F * D) : NULL;
    const int attn_pool = frame_level && c->frame_pool == LV_FRAME_POOL_ATTN;
    m->pool_q = attn_pool ? take(&s, B * D) : NULL;
    m->pool_kv = attn_pool ? take(&s, B * F * 2 * D) : NULL;
    m->pool_att = attn_pool ? take(&s, lv_backend_attention_bound(m->be, B, F, c->heads))
                             : NULL;
    m->logits = take(&s, B * B);
    m->loss = take(&s, 1);
    m->demb_v = take(&s, B * E);
    m->demb_t = take(&s, B * E);
    m->zero_emb = take(&s, B * E);
    /* temporaries: rows x the widest matrix of either tower (qkv, MLP, pooling kv) */
    const int64_t Rmax = Rv > Rt ? Rv : Rt, Rf = frame_level ? B * F : 0;
    const int64_t W = max3(3 * D, m->video.hidden, max3(3 * c->text_width, m->text.hidden, E));
    m->scratch = take(&s, Rmax * W > Rf * 2 * D ? Rmax * W : Rf * 2 * D);
    for (int k = 0; k < 6; k++)
        m->dscratch[k] = take(&s, Rmax * W > Rf * 2 * D ? Rmax * W : Rf * 2 * D);
    m->dtokens = take(&s, Rv * D);
    m->dvideo = want_pixel_grad ? take(&s, B * F * c->image_size * c->image_size * 3) : NULL;
    return s.used;
}

int64_t lv_model_act_floats(const lv_config *c, const lv_backend *be, int64_t B)
{
    lv_model m = { .cfg = *c, .be = be };
    towers_from_config(&m.video, &m.text, c);
    return layout(&m, NULL, B, 0);
}

/* Forward matmul FLOPs (2 per multiply-add) of one tower's blocks over R rows, with attention
 * over groups whose query x key sizes sum to qk per head slice. */
static double tower_flops(const lv_tower *tw, double R, double qk)
{
    const double D = (double)tw->D, Hd = (double)tw->hidden;
    double per_row = 2.0 * (3.0 * D * D + D * D + 2.0 * D * Hd);        /* qkv, proj, fc1, fc2 */
    if (tw->factorized)
        per_row += 2.0 * 4.0 * D * D;                                   /* temporal qkv, proj */
    if (tw->adapters)
        per_row += 2.0 * 2.0 * D * (double)tw->adapter_dim;
    if (tw->lora)
        per_row += 2.0 * (double)tw->lora_rank * (4.0 * D + 2.0 * D + (D + Hd) + (Hd + D));
    return (double)tw->L * (R * per_row + 2.0 * 2.0 * qk * D);         /* + QK^T and PV */
}

double lv_model_step_flops(const lv_config *c, int64_t B)
{
    lv_tower video, text;
    towers_from_config(&video, &text, c);
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const double K = (double)g.K, Rv = (double)B * K, T = (double)c->text_len;
    const double P = (double)g.tok[0].P, Ft = (double)g.tok[0].Ft;
    double voxel = 0.0;           /* average over the tokenizers, weighted by their tokens */
    for (int64_t i = 0; i < g.n_tokenizers; i++)
        voxel += (double)g.tok[i].voxel * (double)g.tok[i].N / (double)g.N;
    /* attention pairs per sample: joint K^2; factorized K min(P, K) + K min(Ft, K); frame K P */
    double qk = K * K;
    if (c->attn == LV_ATTN_FACTORIZED)
        qk = K * fmin(P, K) + K * fmin(Ft, K);
    else if (c->attn == LV_ATTN_FRAME)
        qk = K * fmin(P, K);
    const double E = (double)c->embed_dim;
    double fwd = 2.0 * Rv * voxel * (double)c->width                    /* tubelet embedding */
                 + tower_flops(&video, Rv, (double)B * qk)
                 + tower_flops(&text, (double)B * T, (double)B * T * T)
                 + 2.0 * (double)B * E * (double)(c->width + c->text_width)   /* projections */
                 + 2.0 * (double)B * (double)B * E;                          /* logits */
    return 3.0 * fwd;
}

int lv_model_alloc_acts(lv_model *m, int64_t B, int want_pixel_grad)
{
    const lv_config *c = &m->cfg;
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const int64_t n = layout(m, NULL, B, want_pixel_grad);
    m->act_slab = lv_calloc((size_t)n, sizeof(float), "the activations");
    const int64_t P = g.tok[0].P, Ft = c->attn == LV_ATTN_FRAME ? c->frames : g.tok[0].Ft;
    const int64_t n_index = 2 * B * g.K + (B + 1) + (B * Ft + 1) + (B * P + 1) + B * g.K +
                            3 * (B + 1);
    m->index_slab = lv_calloc((size_t)n_index, sizeof(int64_t), "the mask and group indices");
    m->zeros_ids = lv_calloc((size_t)B, sizeof(int32_t), "the pooling query ids");
    m->frame_valid = lv_calloc((size_t)(B * c->frames), 1, "the frame masks");
    if (!m->act_slab || !m->index_slab || !m->zeros_ids || !m->frame_valid)
        return -1;
    m->act_floats = layout(m, m->act_slab, B, want_pixel_grad);
    m->B = B;
    int64_t *p = m->index_slab;
    m->kept = p, p += B * g.K;
    m->kept_local = p, p += B * g.K;
    m->joint_start = p, p += B + 1;
    m->space_start = p, p += B * Ft + 1;
    m->time_start = p, p += B * P + 1;
    m->time_index = p, p += B * g.K;
    m->text_start = p, p += B + 1;
    m->pool_q_start = p, p += B + 1;
    m->pool_k_start = p;
    return 0;
}

void lv_model_free(lv_model *m)
{
    lv_params_free(&m->params);
    free(m->video.blocks);
    free(m->video.acts);
    free(m->text.blocks);
    free(m->text.acts);
    free(m->act_slab);
    free(m->index_slab);
    free(m->zeros_ids);
    free(m->frame_valid);
    *m = (lv_model){ 0 };
}

/* ---- forward -------------------------------------------------------------------------------- */

#define W(i) lv_param_data(&m->params, (i))
#define G(i) lv_param_grad(&m->params, (i))

/* out = x W^T + b, plus scale * (x A^T) B^T where the block has LoRA factors la, lb. */
static void linear_forward(const lv_model *m, const lv_tower *tw, float *out, const float *x,
                           int64_t w, int64_t b, int64_t la, int64_t lb, float *u,
                           int64_t R, int64_t C, int64_t OC)
{
    const lv_backend *be = m->be;
    be->linear_forward(out, x, W(w), W(b), R, C, OC);
    if (la >= 0) {
        float *tmp = m->dscratch[1];
        be->linear_forward(u, x, W(la), NULL, R, C, tw->lora_rank);
        be->scale(u, tw->lora_scale, R * tw->lora_rank);
        be->linear_forward(tmp, u, W(lb), NULL, R, tw->lora_rank, OC);
        be->residual_forward(out, out, tmp, R * OC);
    }
}

/* One pre-LN block: x -> out over tw->rows rows. g: the attention groups; tg: the temporal
 * groups of factorized attention (NULL skips the temporal branch, as for images). */
static void block_forward(lv_model *m, lv_tower *tw, int64_t l, const float *x, float *out,
                          const lv_attn_groups *g, const lv_attn_groups *tg)
{
    const lv_backend *be = m->be;
    const lv_block_params *b = &tw->blocks[l];
    lv_block_acts *a = &tw->acts[l];
    const int64_t R = tw->rows, D = tw->D, H = tw->H, Hd = tw->hidden;
    const float eps = (float)m->cfg.ln_eps;
    float *tmp = m->scratch;
    /* x_mid = x + proj(attention(qkv(ln1(x)))) */
    be->layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, W(b->ln1_w), W(b->ln1_b), R, D,
                          eps);
    linear_forward(m, tw, a->qkv, a->ln1, b->qkv_w, b->qkv_b, b->lora_a[LV_LORA_QKV],
                   b->lora_b[LV_LORA_QKV], a->lora_u[LV_LORA_QKV], R, D, 3 * D);
    be->attention_forward(a->atty, a->att, a->qkv, a->qkv + D, a->qkv + 2 * D, g, 3 * D, 3 * D,
                          H, D);
    linear_forward(m, tw, tmp, a->atty, b->proj_w, b->proj_b, b->lora_a[LV_LORA_PROJ],
                   b->lora_b[LV_LORA_PROJ], a->lora_u[LV_LORA_PROJ], R, D, D);
    be->residual_forward(a->x_mid, x, tmp, R * D);
    /* x_t = x_mid + tanh(gate) proj_t(attention_t(qkv_t(ln_t(x_mid)))) */
    const float *x_t = a->x_mid;
    if (tw->factorized && tg) {
        be->layernorm_forward(a->t_ln, a->t_mean, a->t_rstd, a->x_mid, W(b->t_ln_w),
                              W(b->t_ln_b), R, D, eps);
        be->linear_forward(a->t_qkv, a->t_ln, W(b->t_qkv_w), W(b->t_qkv_b), R, D, 3 * D);
        be->attention_forward(a->t_atty, a->t_att, a->t_qkv, a->t_qkv + D, a->t_qkv + 2 * D, tg,
                              3 * D, 3 * D, H, D);
        be->linear_forward(a->t_out, a->t_atty, W(b->t_proj_w), W(b->t_proj_b), R, D, D);
        be->gated_residual_forward(a->x_t, a->x_mid, a->t_out, W(b->t_gate), R * D);
        x_t = a->x_t;
    }
    /* x_mlp = x_t + fc2(gelu(fc1(ln2(x_t)))) */
    be->layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, x_t, W(b->ln2_w), W(b->ln2_b), R, D,
                          eps);
    linear_forward(m, tw, a->fc1, a->ln2, b->fc1_w, b->fc1_b, b->lora_a[LV_LORA_FC1],
                   b->lora_b[LV_LORA_FC1], a->lora_u[LV_LORA_FC1], R, D, Hd);
    be->gelu_forward(a->gelu, a->fc1, R * Hd);
    linear_forward(m, tw, tmp, a->gelu, b->fc2_w, b->fc2_b, b->lora_a[LV_LORA_FC2],
                   b->lora_b[LV_LORA_FC2], a->lora_u[LV_LORA_FC2], R, Hd, D);
    float *x_mlp = tw->adapters ? a->x_mlp : out;
    be->residual_forward(x_mlp, x_t, tmp, R * D);
    /* out = x_mlp + up(gelu(down(x_mlp))) */
    if (tw->adapters) {
        const int64_t A = tw->adapter_dim;
        be->linear_forward(a->ad_down, x_mlp, W(b->ad_down_w), W(b->ad_down_b), R, D, A);
        be->gelu_forward(a->ad_gelu, a->ad_down, R * A);
        be->linear_forward(tmp, a->ad_gelu, W(b->ad_up_w), W(b->ad_up_b), R, A, D);
        be->residual_forward(out, x_mlp, tmp, R * D);
    }
}

/* All blocks, then the final LayerNorm; x[0] holds the embedded tokens. */
static void tower_forward(lv_model *m, lv_tower *tw, const lv_attn_groups *g,
                          const lv_attn_groups *tg)
{
    const int64_t R = tw->rows, D = tw->D;
    for (int64_t l = 0; l < tw->L; l++)
        block_forward(m, tw, l, tw->x + l * R * D, tw->x + (l + 1) * R * D, g, tg);
    m->be->layernorm_forward(tw->ln_f, tw->ln_f_mean, tw->ln_f_rstd, tw->x + tw->L * R * D,
                             W(tw->ln_f_w), W(tw->ln_f_b), R, D, (float)m->cfg.ln_eps);
}

/* pooled (B, D) -> emb = pooled P^T (B, E) -> emb_n = emb / |emb| */
static void tower_project(lv_model *m, lv_tower *tw, int64_t B)
{
    const int64_t E = m->cfg.embed_dim;
    m->be->linear_forward(tw->emb, tw->pooled, W(tw->proj_w), NULL, B, tw->D, E);
    m->be->l2norm_forward(tw->emb_n, tw->emb_norm, tw->emb, B, E);
}

/* Host side: each sample's kept tokens, relative to their tokenizer, and the attention groups
 * of the variant (kept lists are ascending, so one time step's tokens are contiguous). */
static int video_groups(lv_model *m, int64_t B, uint32_t step, uint32_t first)
{
    const lv_config *c = &m->cfg;
    const lv_video_geometry *g = &m->geo;
    const int64_t K = g->K, single = g->n_tokenizers == 1;
    const int64_t P = g->tok[0].P, Ft = g->tok[0].Ft;
    for (int64_t b = 0; b < B; b++) {
        int64_t *kept = m->kept + b * K;
        if (lv_mask_keep(kept, c->mask_kind, c->mask_ratio, g->N, single ? P : g->N, c->seed,
                         step, first + (uint32_t)b) != K)
            return -1;
        for (int64_t k = 0, j = 0; k < K; k++) {
            while (kept[k] >= g->tok[j].start + g->tok[j].N)
                j++;
            m->kept_local[b * K + k] = kept[k] - g->tok[j].start;
        }
    }
    for (int64_t b = 0; b <= B; b++)
        m->joint_start[b] = b * K;
    m->g_video = (lv_attn_groups){ B, m->joint_start, NULL, m->joint_start, NULL, NULL };
    if (c->attn == LV_ATTN_JOINT)
        return 0;
    /* per time step: counts, then prefix sums */
    for (int64_t i = 0; i <= B * Ft; i++)
        m->space_start[i] = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++)
            m->space_start[b * Ft + m->kept[b * K + k] / P + 1]++;
    for (int64_t i = 0; i < B * Ft; i++)
        m->space_start[i + 1] += m->space_start[i];
    m->g_video = (lv_attn_groups){ B * Ft, m->space_start, NULL, m->space_start, NULL, NULL };
    if (c->attn != LV_ATTN_FACTORIZED)
        return 0;
    /* per spatial position: bucket the rows of each sample by n % P (a counting sort: after
     * the prefix sums time_start[i] is bucket i's first row; it serves as the fill cursor, ends
     * at bucket i+1's first row, and is shifted back). Rows stay in ascending time order. */
    for (int64_t i = 0; i <= B * P; i++)
        m->time_start[i] = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++)
            m->time_start[b * P + m->kept[b * K + k] % P + 1]++;
    for (int64_t i = 0; i < B * P; i++)
        m->time_start[i + 1] += m->time_start[i];
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++)
            m->time_index[m->time_start[b * P + m->kept[b * K + k] % P]++] = b * K + k;
    for (int64_t i = B * P; i > 0; i--)
        m->time_start[i] = m->time_start[i - 1];
    m->time_start[0] = 0;
    m->g_time = (lv_attn_groups){ B * P, m->time_start, m->time_index, m->time_start,
                                  m->time_index, NULL };
    return 0;
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
    const int64_t *kept = m->kept + b * g->K;
    token_span t = { .k0 = k0, .k1 = k0 };
    while (t.k1 < g->K && kept[t.k1] < g->tok[j].start + g->tok[j].N)
        t.k1++;
    t.w = m->image ? m->patch_w : m->tok_w[j];
    t.bias = m->image ? m->patch_b : m->tok_b[j];
    t.pos_s = m->pos_s[j];
    t.pos_t = m->image ? -1 : m->pos_t[j];
    return t;
}

/* Tokens of every sample and tokenizer: tubelet (or 2D patch) embedding of the kept tokens,
 * spatial + temporal position embeddings, then CLIP's pre-LayerNorm into x[0]. */
static void video_tokens(lv_model *m, const lv_batch *batch)
{
    const lv_backend *be = m->be;
    const lv_video_geometry *g = &m->geo;
    const int64_t K = g->K, D = m->cfg.width, B = batch->B;
    const int64_t sample = g->tok[0].shape.F * g->tok[0].shape.H * g->tok[0].shape.W * 3;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0, k0 = 0; j < g->n_tokenizers; j++) {
            const token_span t = tokenizer_span(m, b, j, k0);
            k0 = t.k1;
            const int64_t rows = (b * K + t.k0) * D, n = t.k1 - t.k0;
            const int64_t *local = m->kept_local + b * K + t.k0;
            be->tubelet_embed_forward(m->tokens + rows, batch->video + b * sample, W(t.w),
                                      W(t.bias), local, &g->tok[j].shape, 1, n, D);
            be->pos_embed_forward(m->embedded + rows, m->tokens + rows, W(t.pos_s), W(t.pos_t),
                                  local, 1, n, g->tok[j].P, g->tok[j].Ft, D);
        }
    be->layernorm_forward(m->video.x, m->ln_pre_mean, m->ln_pre_rstd, m->embedded,
                          W(m->ln_pre_w), W(m->ln_pre_b), B * K, D, (float)m->cfg.ln_eps);
}

static void video_pool(lv_model *m, int64_t B)
{
    const lv_backend *be = m->be;
    const lv_config *c = &m->cfg;
    lv_tower *tw = &m->video;
    const int64_t D = tw->D, Ft = m->geo.tok[0].Ft;
    if (c->attn != LV_ATTN_FRAME) {
        be->mean_pool_forward(tw->pooled, tw->ln_f, NULL, B, m->geo.K, D);
        return;
    }
    /* frame-level: mean over each frame's kept tokens, then over the frames that kept any
     * (mean or attention; a frame whose tokens were all dropped has no embedding to offer) */
    be->segment_mean_forward(m->frame_emb, tw->ln_f, m->space_start, B * Ft, D);
    for (int64_t f = 0; f < B * Ft; f++)
        m->frame_valid[f] = m->space_start[f + 1] > m->space_start[f];
    if (c->frame_pool == LV_FRAME_POOL_MEAN) {
        be->mean_pool_forward(tw->pooled, m->frame_emb, m->frame_valid, B, Ft, D);
        return;
    }
    for (int64_t b = 0; b <= B; b++) {
        m->pool_q_start[b] = b;
        m->pool_k_start[b] = b * Ft;
    }
    m->g_pool = (lv_attn_groups){ B, m->pool_q_start, NULL, m->pool_k_start, NULL,
                                  m->frame_valid };
    be->embedding_forward(m->pool_q, m->zeros_ids, W(m->pool_query), B, 1, D);
    be->linear_forward(m->pool_kv, m->frame_emb, W(m->pool_kv_w), W(m->pool_kv_b), B * Ft, D,
                       2 * D);
    be->attention_forward(tw->pooled, m->pool_att, m->pool_q, m->pool_kv, m->pool_kv + D,
                          &m->g_pool, D, 2 * D, tw->H, D);
}

static void text_forward(lv_model *m, const lv_batch *batch)
{
    const lv_backend *be = m->be;
    lv_tower *tw = &m->text;
    const int64_t B = batch->B, T = m->cfg.text_len, D = tw->D;
    tw->rows = B * T;
    be->embedding_forward(tw->x, batch->text, W(m->tok_embed), B * T, m->cfg.vocab, D);
    be->pos_embed_forward(tw->x, tw->x, W(m->text_pos), NULL, NULL, B, T, T, 1, D);
    for (int64_t b = 0; b <= B; b++)
        m->text_start[b] = b * T;
    m->g_text = (lv_attn_groups){ B, m->text_start, NULL, m->text_start, NULL,
                                  batch->text_valid };
    tower_forward(m, tw, &m->g_text, NULL);
    be->mean_pool_forward(tw->pooled, tw->ln_f, batch->text_valid, B, T, D);
    tower_project(m, tw, B);
}

int lv_model_encode_video(lv_model *m, const lv_batch *batch)
{
    const int64_t B = batch->B;
    LV_REQUIRE(B >= 1 && B <= m->B);
    m->image = batch->is_image;
    m->geo = lv_config_geometry(&m->cfg, batch->is_image);
    m->video.rows = B * m->geo.K;
    if (video_groups(m, B, batch->step, batch->first_sample) < 0)
        return -1;
    video_tokens(m, batch);
    const int temporal = m->video.factorized && !m->image;
    tower_forward(m, &m->video, &m->g_video, temporal ? &m->g_time : NULL);
    video_pool(m, B);
    tower_project(m, &m->video, B);
    return 0;
}

void lv_model_encode_text(lv_model *m, const lv_batch *batch)
{
    LV_REQUIRE(batch->B >= 1 && batch->B <= m->B);
    text_forward(m, batch);
}

int lv_model_encode(lv_model *m, const lv_batch *batch)
{
    if (lv_model_encode_video(m, batch) < 0)
        return -1;
    lv_model_encode_text(m, batch);
    return 0;
}

float lv_model_forward(lv_model *m, const lv_batch *batch)
{
    if (lv_model_encode(m, batch) < 0)
        return NAN;
    m->be->infonce_forward(m->loss, m->logits, m->video.emb_n, m->text.emb_n, W(m->logit_scale),
                           batch->B, m->cfg.embed_dim);
    return m->loss[0];
}

/* ---- backward ------------------------------------------------------------------------------
 * Mirrors the forward line by line. The residual-stream gradient dres (dscratch[0]) is updated
 * in place: each branch reads it as its upstream gradient, and only its last kernel (the
 * LayerNorm or linear nearest the branch input) accumulates into it. */

/* Backward of linear_forward: dx += dout W (+ LoRA path); weight gradients where trainable. */
static void linear_backward(const lv_model *m, const lv_tower *tw, float *dx, const float *dout,
                            const float *x, int64_t w, int64_t b, int64_t la, int64_t lb,
                            const float *u, int64_t R, int64_t C, int64_t OC)
{
    const lv_backend *be = m->be;
    be->linear_backward(dx, G(w), G(b), dout, x, W(w), R, C, OC);
    if (la >= 0) {
        /* forward: u = s (x A^T); out += u B^T */
        float *du = m->dscratch[5];
        be->zero(du, R * tw->lora_rank);
        be->linear_backward(du, G(lb), NULL, dout, u, W(lb), R, tw->lora_rank, OC);
        be->scale(du, tw->lora_scale, R * tw->lora_rank);
        be->linear_backward(dx, G(la), NULL, du, x, W(la), R, C, tw->lora_rank);
    }
}

static void block_backward(lv_model *m, lv_tower *tw, int64_t l, const float *x, float *dres,
                           const lv_attn_groups *g, const lv_attn_groups *tg)
{
    const lv_backend *be = m->be;
    const lv_block_params *b = &tw->blocks[l];
    const lv_block_acts *a = &tw->acts[l];
    const int64_t R = tw->rows, D = tw->D, H = tw->H, Hd = tw->hidden;
    float *d1 = m->dscratch[1], *d2 = m->dscratch[2], *d3 = m->dscratch[3];
    const int temporal = tw->factorized && tg;
    const float *x_t = temporal ? a->x_t : a->x_mid;
    const float *x_mlp = tw->adapters ? a->x_mlp : NULL;
    if (tw->adapters) {
        /* forward: out = x_mlp + up(gelu(down(x_mlp))) */
        const int64_t A = tw->adapter_dim;
        be->zero(d1, R * A);
        be->linear_backward(d1, G(b->ad_up_w), G(b->ad_up_b), dres, a->ad_gelu, W(b->ad_up_w),
                            R, A, D);
        be->zero(d2, R * A);
        be->gelu_backward(d2, a->ad_down, d1, R * A);
        be->linear_backward(dres, G(b->ad_down_w), G(b->ad_down_b), d2, x_mlp,
                            W(b->ad_down_w), R, D, A);
    }
    /* forward: x_mlp = x_t + fc2(gelu(fc1(ln2(x_t)))) */
    be->zero(d1, R * Hd);
    linear_backward(m, tw, d1, dres, a->gelu, b->fc2_w, b->fc2_b, b->lora_a[LV_LORA_FC2],
                    b->lora_b[LV_LORA_FC2], a->lora_u[LV_LORA_FC2], R, Hd, D);
    be->zero(d2, R * Hd);
    be->gelu_backward(d2, a->fc1, d1, R * Hd);
    be->zero(d3, R * D);
    linear_backward(m, tw, d3, d2, a->ln2, b->fc1_w, b->fc1_b, b->lora_a[LV_LORA_FC1],
                    b->lora_b[LV_LORA_FC1], a->lora_u[LV_LORA_FC1], R, D, Hd);
    be->layernorm_backward(dres, G(b->ln2_w), G(b->ln2_b), d3, x_t, W(b->ln2_w), a->ln2_mean,
                           a->ln2_rstd, R, D);
    if (temporal) {
        /* forward: x_t = x_mid + tanh(gate) proj_t(attention_t(qkv_t(ln_t(x_mid)))) */
        be->zero(d1, R * D);
        be->gated_residual_backward(NULL, d1, G(b->t_gate), dres, a->t_out, W(b->t_gate), R * D);
        be->zero(d2, R * D);
        be->linear_backward(d2, G(b->t_proj_w), G(b->t_proj_b), d1, a->t_atty, W(b->t_proj_w),
                            R, D, D);
        be->zero(d3, R * 3 * D);
        be->attention_backward(d3, d3 + D, d3 + 2 * D, d2, a->t_atty, a->t_att, a->t_qkv,
                               a->t_qkv + D, a->t_qkv + 2 * D, tg, 3 * D, 3 * D, H, D);
        be->zero(d1, R * D);
        be->linear_backward(d1, G(b->t_qkv_w), G(b->t_qkv_b), d3, a->t_ln, W(b->t_qkv_w), R, D,
                            3 * D);
        be->layernorm_backward(dres, G(b->t_ln_w), G(b->t_ln_b), d1, a->x_mid, W(b->t_ln_w),
                               a->t_mean, a->t_rstd, R, D);
    }
    /* forward: x_mid = x + proj(attention(qkv(ln1(x)))) */
    be->zero(d1, R * D);
    linear_backward(m, tw, d1, dres, a->atty, b->proj_w, b->proj_b, b->lora_a[LV_LORA_PROJ],
                    b->lora_b[LV_LORA_PROJ], a->lora_u[LV_LORA_PROJ], R, D, D);
    be->zero(d2, R * 3 * D);
    be->attention_backward(d2, d2 + D, d2 + 2 * D, d1, a->atty, a->att, a->qkv, a->qkv + D,
                           a->qkv + 2 * D, g, 3 * D, 3 * D, H, D);
    be->zero(d3, R * D);
    linear_backward(m, tw, d3, d2, a->ln1, b->qkv_w, b->qkv_b, b->lora_a[LV_LORA_QKV],
                    b->lora_b[LV_LORA_QKV], a->lora_u[LV_LORA_QKV], R, D, 3 * D);
    be->layernorm_backward(dres, G(b->ln1_w), G(b->ln1_b), d3, x, W(b->ln1_w), a->ln1_mean,
                           a->ln1_rstd, R, D);
}

/* From the gradient of the normalised embedding to dpooled (returned in dscratch[4]). */
static float *tower_project_backward(lv_model *m, lv_tower *tw, const float *demb_n, int64_t B)
{
    const lv_backend *be = m->be;
    const int64_t E = m->cfg.embed_dim, D = tw->D;
    float *demb = m->dscratch[3], *dpooled = m->dscratch[4];
    be->zero(demb, B * E);
    be->l2norm_backward(demb, demb_n, tw->emb_n, tw->emb_norm, B, E);
    be->zero(dpooled, B * D);
    be->linear_backward(dpooled, G(tw->proj_w), NULL, demb, tw->pooled, W(tw->proj_w), B, D, E);
    return dpooled;
}

/* From the gradient of the final LayerNorm's output (dln_f) back to x[0]; returns dres. */
static float *tower_backward(lv_model *m, lv_tower *tw, const float *dln_f,
                             const lv_attn_groups *g, const lv_attn_groups *tg)
{
    const int64_t R = tw->rows, D = tw->D;
    float *dres = m->dscratch[0];
    m->be->zero(dres, R * D);
    m->be->layernorm_backward(dres, G(tw->ln_f_w), G(tw->ln_f_b), dln_f, tw->x + tw->L * R * D,
                              W(tw->ln_f_w), tw->ln_f_mean, tw->ln_f_rstd, R, D);
    for (int64_t l = tw->L - 1; l >= 0; l--)
        block_backward(m, tw, l, tw->x + l * R * D, dres, g, tg);
    return dres;
}

static void video_pool_backward(lv_model *m, const float *dpooled, float *dln_f, int64_t B)
{
    const lv_backend *be = m->be;
    const lv_config *c = &m->cfg;
    const lv_tower *tw = &m->video;
    const int64_t D = tw->D, Ft = m->geo.tok[0].Ft;
    if (c->attn != LV_ATTN_FRAME) {
        be->mean_pool_backward(dln_f, dpooled, NULL, B, m->geo.K, D);
        return;
    }
    float *dframe = m->dscratch[1];
    be->zero(dframe, B * Ft * D);
    if (c->frame_pool == LV_FRAME_POOL_MEAN) {
        be->mean_pool_backward(dframe, dpooled, m->frame_valid, B, Ft, D);
    } else {
        /* forward: pooled = attention(query broadcast, kv(frame_emb)) */
        float *dq = m->dscratch[2], *dkv = m->dscratch[3];
        be->zero(dq, B * D);
        be->zero(dkv, B * Ft * 2 * D);
        be->attention_backward(dq, dkv, dkv + D, dpooled, tw->pooled, m->pool_att, m->pool_q,
                               m->pool_kv, m->pool_kv + D, &m->g_pool, D, 2 * D, tw->H, D);
        be->linear_backward(dframe, G(m->pool_kv_w), G(m->pool_kv_b), dkv, m->frame_emb,
                            W(m->pool_kv_w), B * Ft, D, 2 * D);
        be->embedding_backward(G(m->pool_query), dq, m->zeros_ids, B, 1, D);
    }
    be->segment_mean_backward(dln_f, dframe, m->space_start, B * Ft, D);
}

/* Pre-LayerNorm, position embeddings and tokenizers, per sample and tokenizer, from
 * dres = d x[0]. */
static void video_tokens_backward(lv_model *m, const lv_batch *batch, const float *dres)
{
    const lv_backend *be = m->be;
    const lv_video_geometry *g = &m->geo;
    const int64_t K = g->K, D = m->cfg.width, B = batch->B;
    const int64_t sample = g->tok[0].shape.F * g->tok[0].shape.H * g->tok[0].shape.W * 3;
    float *dembedded = m->dscratch[1];
    be->zero(dembedded, B * K * D);
    be->layernorm_backward(dembedded, G(m->ln_pre_w), G(m->ln_pre_b), dres, m->embedded,
                           W(m->ln_pre_w), m->ln_pre_mean, m->ln_pre_rstd, B * K, D);
    be->zero(m->dtokens, B * K * D);
    if (m->dvideo)
        be->zero(m->dvideo, B * sample);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0, k0 = 0; j < g->n_tokenizers; j++) {
            const token_span t = tokenizer_span(m, b, j, k0);
            k0 = t.k1;
            const int64_t rows = (b * K + t.k0) * D, n = t.k1 - t.k0;
            const int64_t *local = m->kept_local + b * K + t.k0;
            be->pos_embed_backward(m->dtokens + rows, G(t.pos_s), G(t.pos_t), dembedded + rows,
                                   local, 1, n, g->tok[j].P, g->tok[j].Ft, D);
            be->tubelet_embed_backward(m->dvideo ? m->dvideo + b * sample : NULL, G(t.w),
                                       G(t.bias), m->dtokens + rows, batch->video + b * sample,
                                       W(t.w), local, &g->tok[j].shape, 1, n, D);
        }
}

static void text_backward(lv_model *m, const lv_batch *batch)
{
    const lv_backend *be = m->be;
    lv_tower *tw = &m->text;
    const int64_t B = batch->B, T = m->cfg.text_len, D = tw->D;
    const float *dpooled = tower_project_backward(m, tw, m->demb_t, B);
    float *dln_f = m->dscratch[1];
    be->zero(dln_f, B * T * D);
    be->mean_pool_backward(dln_f, dpooled, batch->text_valid, B, T, D);
    const float *dres = tower_backward(m, tw, dln_f, &m->g_text, NULL);
    /* forward: x[0] = token_embed[ids] + pos_embed[t] */
    be->pos_embed_backward(NULL, G(m->text_pos), NULL, dres, NULL, B, T, T, 1, D);
    be->embedding_backward(G(m->tok_embed), dres, batch->text, B * T, m->cfg.vocab, D);
}

void lv_model_backward(lv_model *m, const lv_batch *batch)
{
    const lv_backend *be = m->be;
    const int64_t B = batch->B, E = m->cfg.embed_dim;
    static const float one = 1.0f;      /* d loss / d loss */
    be->zero(m->demb_v, B * E);
    be->zero(m->demb_t, B * E);
    be->infonce_backward(m->demb_v, m->demb_t, G(m->logit_scale), &one, m->logits,
                         m->video.emb_n, m->text.emb_n, W(m->logit_scale), B, E);
    lv_model_backward_embeddings(m, batch, m->demb_v, m->demb_t);
}

void lv_model_backward_embeddings(lv_model *m, const lv_batch *batch, const float *demb_v,
                                  const float *demb_t)
{
    const lv_backend *be = m->be;
    const int64_t B = batch->B, E = m->cfg.embed_dim;
    if (demb_v != m->demb_v)
        be->residual_forward(m->demb_v, demb_v, m->zero_emb, B * E);
    if (demb_t != m->demb_t)
        be->residual_forward(m->demb_t, demb_t, m->zero_emb, B * E);
    if (!m->cfg.freeze_text)
        text_backward(m, batch);
    lv_tower *tw = &m->video;
    const float *dpooled = tower_project_backward(m, tw, m->demb_v, B);
    float *dln_f = m->dscratch[5];
    be->zero(dln_f, tw->rows * tw->D);
    video_pool_backward(m, dpooled, dln_f, B);
    const int temporal = tw->factorized && !m->image;
    const float *dres = tower_backward(m, tw, dln_f, &m->g_video, temporal ? &m->g_time : NULL);
    video_tokens_backward(m, batch, dres);
}

/* ---- a step over micro-batches -------------------------------------------------------------- */

int lv_accum_alloc(lv_accum *a, int64_t B, int64_t E)
{
    *a = (lv_accum){ .B = B, .E = E };
    a->emb_v = lv_calloc((size_t)(4 * B * E + B * B), sizeof(float), "the step's embeddings");
    if (!a->emb_v)
        return -1;
    a->emb_t = a->emb_v + B * E;
    a->demb_v = a->emb_t + B * E;
    a->demb_t = a->demb_v + B * E;
    a->logits = a->demb_t + B * E;
    return 0;
}

void lv_accum_free(lv_accum *a)
{
    free(a->emb_v);
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
        be->residual_forward(a->emb_v + B * E, m->video.emb_n, m->zero_emb, micro[i].B * E);
        be->residual_forward(a->emb_t + B * E, m->text.emb_n, m->zero_emb, micro[i].B * E);
    }
    static const float one = 1.0f;                             /* 2: the loss over all */
    be->infonce_forward(&a->loss, a->logits, a->emb_v, a->emb_t, W(m->logit_scale), B, E);
    be->zero(a->demb_v, B * E);
    be->zero(a->demb_t, B * E);
    be->infonce_backward(a->demb_v, a->demb_t, G(m->logit_scale), &one, a->logits, a->emb_v,
                         a->emb_t, W(m->logit_scale), B, E);
    for (int64_t i = 0, b0 = 0; i < n_micro; b0 += micro[i++].B) {   /* 3: back, per micro */
        lv_model_encode(m, &micro[i]);
        lv_model_backward_embeddings(m, &micro[i], a->demb_v + b0 * E, a->demb_t + b0 * E);
    }
    return a->loss;
}
