/* The transformer stacks of both stages (see tower.h): the block engine, forward then backward,
 * then how a stack's parameters are registered and its activations laid out. Like the graphs
 * that use it, it calls kernels only through the backend table and holds no arithmetic. */
#include "tower.h"
#include "error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W(i) lv_param_data(e->params, (i))      /* a parameter tensor, backend memory */
#define G(i) lv_param_grad(e->params, (i))      /* its gradient, NULL when frozen */

/* ==== the forward pass ======================================================================= */

/* A linear layer of a block and, where the block has LoRA factors, its low-rank update. */
typedef struct {
    int64_t w, b;               /* weight (OC, C), bias (OC) */
    int64_t lora_a, lora_b;     /* LoRA A (r, C), B (OC, r); -1 without LoRA */
    float *u;                   /* (R, r) saved u = scale (x A^T) */
} linear_site;

static linear_site site(const lv_block_params *p, const lv_block_acts *a, int which,
                        int64_t w, int64_t b)
{
    return (linear_site){ .w = w, .b = b, .lora_a = p->lora_a[which],
                          .lora_b = p->lora_b[which], .u = a->lora_u[which] };
}

/* out = x W^T + b, plus (scale x A^T) B^T with LoRA */
static void linear_forward(const lv_engine *e, const lv_tower *tw, float *out, const float *x,
                           linear_site s, int64_t R, int64_t C, int64_t OC)
{
    const lv_backend *be = e->be;
    be->linear_forward(out, x, W(s.w), W(s.b), R, C, OC);
    if (s.lora_a >= 0) {
        be->linear_forward(s.u, x, W(s.lora_a), NULL, R, C, tw->lora_rank);
        be->scale(s.u, tw->lora_scale, R * tw->lora_rank);
        be->linear_forward(e->lora_out, s.u, W(s.lora_b), NULL, R, tw->lora_rank, OC);
        be->residual_forward(out, out, e->lora_out, R * OC);
    }
}

/* The MLP activation of a tower: erf GELU, QuickGELU or GELU's tanh approximation (GPT-2). */
static void act_forward(const lv_engine *e, const lv_tower *tw, float *out, const float *inp,
                        int64_t n)
{
    if (tw->act == LV_ACT_QUICK_GELU)
        e->be->quick_gelu_forward(out, inp, n);
    else if (tw->act == LV_ACT_GELU_TANH)
        e->be->gelu_tanh_forward(out, inp, n);
    else
        e->be->gelu_forward(out, inp, n);
}

static void act_backward(const lv_engine *e, const lv_tower *tw, float *dinp, const float *inp,
                         const float *dout, int64_t n)
{
    if (tw->act == LV_ACT_QUICK_GELU)
        e->be->quick_gelu_backward(dinp, inp, dout, n);
    else if (tw->act == LV_ACT_GELU_TANH)
        e->be->gelu_tanh_backward(dinp, inp, dout, n);
    else
        e->be->gelu_backward(dinp, inp, dout, n);
}

/* One pre-LN block over tw->rows rows: x -> out. g: the attention groups; tg: the temporal
 * groups of factorized attention (NULL skips the temporal branch, as for images). With a
 * key/value cache (decoding) the rows' qkv are first written to their cache rows, and the rows
 * attend over the cache through kv->groups instead of over each other through g. */
static void block_forward(const lv_engine *e, lv_tower *tw, int64_t l, const float *x, float *out,
                          const lv_attn_groups *g, const lv_attn_groups *tg,
                          const lv_kv_cache *kv)
{
    const lv_backend *be = e->be;
    const lv_block_params *b = &tw->blocks[l];
    lv_block_acts *a = &tw->acts[l];
    const int64_t R = tw->rows, D = tw->D, H = tw->H, Hd = tw->hidden;
    const float eps = tw->eps;
    float *branch = e->branch_out;                               /* (R, D) */
    /* x_mid = x + proj(attention(qkv(ln1(x)))) */
    be->layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, W(b->ln1_w), W(b->ln1_b), R, D,
                          eps);
    linear_forward(e, tw, a->qkv, a->ln1, site(b, a, LV_LORA_QKV, b->qkv_w, b->qkv_b), R, D,
                   3 * D);
    if (kv) {
        float *cache = kv->layer[l];
        for (int64_t r = 0; r < R; r++)
            be->copy(cache + kv->row_of[r] * 3 * D, a->qkv + r * 3 * D, 3 * D);
        be->attention_forward(a->atty, a->att, a->qkv, cache + D, cache + 2 * D, kv->groups,
                              3 * D, 3 * D, H, D);
    } else {
        be->attention_forward(a->atty, a->att, a->qkv, a->qkv + D, a->qkv + 2 * D, g, 3 * D,
                              3 * D, H, D);
    }
    linear_forward(e, tw, branch, a->atty, site(b, a, LV_LORA_PROJ, b->proj_w, b->proj_b), R, D,
                   D);
    be->residual_forward(a->x_mid, x, branch, R * D);
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
    linear_forward(e, tw, a->fc1, a->ln2, site(b, a, LV_LORA_FC1, b->fc1_w, b->fc1_b), R, D, Hd);
    act_forward(e, tw, a->gelu, a->fc1, R * Hd);
    linear_forward(e, tw, branch, a->gelu, site(b, a, LV_LORA_FC2, b->fc2_w, b->fc2_b), R, Hd,
                   D);
    float *x_mlp = tw->adapters ? a->x_mlp : out;
    be->residual_forward(x_mlp, x_t, branch, R * D);
    /* out = x_mlp + up(gelu(down(x_mlp))): the Houlsby adapter */
    if (tw->adapters) {
        const int64_t A = tw->adapter_dim;
        be->linear_forward(a->ad_down, x_mlp, W(b->ad_down_w), W(b->ad_down_b), R, D, A);
        be->gelu_forward(a->ad_gelu, a->ad_down, R * A);
        be->linear_forward(branch, a->ad_gelu, W(b->ad_up_w), W(b->ad_up_b), R, A, D);
        be->residual_forward(out, x_mlp, branch, R * D);
    }
}

/* One post-LN block (BERT) over tw->rows rows: x -> out, the LayerNorm after each residual add.
 * The same parameters as the pre-LN block; ln1 and ln2 sit after the attention and the MLP. */
static void block_forward_post_ln(const lv_engine *e, lv_tower *tw, int64_t l, const float *x,
                                  float *out, const lv_attn_groups *g)
{
    const lv_backend *be = e->be;
    const lv_block_params *b = &tw->blocks[l];
    lv_block_acts *a = &tw->acts[l];
    const int64_t R = tw->rows, D = tw->D, H = tw->H, Hd = tw->hidden;
    float *branch = e->branch_out;                               /* (R, D) */
    /* h = ln1(x + proj(attention(qkv(x)))), the sum kept in x_mid */
    linear_forward(e, tw, a->qkv, x, site(b, a, LV_LORA_QKV, b->qkv_w, b->qkv_b), R, D, 3 * D);
    be->attention_forward(a->atty, a->att, a->qkv, a->qkv + D, a->qkv + 2 * D, g, 3 * D, 3 * D,
                          H, D);
    linear_forward(e, tw, branch, a->atty, site(b, a, LV_LORA_PROJ, b->proj_w, b->proj_b), R, D,
                   D);
    be->residual_forward(a->x_mid, x, branch, R * D);
    be->layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->x_mid, W(b->ln1_w), W(b->ln1_b),
                          R, D, tw->eps);
    /* out = ln2(h + fc2(act(fc1(h)))), the sum kept in x_mlp */
    linear_forward(e, tw, a->fc1, a->ln1, site(b, a, LV_LORA_FC1, b->fc1_w, b->fc1_b), R, D, Hd);
    act_forward(e, tw, a->gelu, a->fc1, R * Hd);
    linear_forward(e, tw, branch, a->gelu, site(b, a, LV_LORA_FC2, b->fc2_w, b->fc2_b), R, Hd,
                   D);
    be->residual_forward(a->x_mlp, a->ln1, branch, R * D);
    be->layernorm_forward(out, a->ln2_mean, a->ln2_rstd, a->x_mlp, W(b->ln2_w), W(b->ln2_b), R,
                          D, tw->eps);
}

void lv_block_forward(const lv_engine *e, lv_tower *tw, int64_t l, const float *x, float *out,
                      const lv_attn_groups *g, const lv_attn_groups *tg)
{
    if (tw->post_ln)
        block_forward_post_ln(e, tw, l, x, out, g);
    else
        block_forward(e, tw, l, x, out, g, tg, NULL);
}

void lv_block_forward_cached(const lv_engine *e, lv_tower *tw, int64_t l, const float *x,
                             float *out, const lv_kv_cache *kv)
{
    LV_REQUIRE(!tw->post_ln && !tw->factorized);
    block_forward(e, tw, l, x, out, NULL, NULL, kv);
}

float *lv_tower_stream(const lv_tower *tw, int64_t l)
{
    /* in place, the prefix's streams x[0] .. x[prefix] are one buffer, the first */
    const int64_t slot = tw->every_stream ? l : l > tw->prefix ? l - tw->prefix : 0;
    return tw->x + slot * tw->rows * tw->D;
}

void lv_tower_final_forward(const lv_engine *e, lv_tower *tw)
{
    const int64_t R = tw->rows, D = tw->D;
    if (!tw->post_ln)
        e->be->layernorm_forward(tw->ln_f, tw->ln_f_mean, tw->ln_f_rstd,
                                 lv_tower_stream(tw, tw->L), W(tw->ln_f_w), W(tw->ln_f_b), R, D,
                                 tw->eps);
}

/* A block of the frozen prefix may run in place (x = out): each block reads x only before it
 * writes out (ln1 and the attention residual read it; the MLP residual, the last kernel,
 * writes out from the block's own x_t), and nothing reads its activations afterwards. */
void lv_tower_forward(const lv_engine *e, lv_tower *tw, const lv_attn_groups *g,
                      const lv_attn_groups *tg)
{
    for (int64_t l = 0; l < tw->L; l++)
        lv_block_forward(e, tw, l, lv_tower_stream(tw, l), lv_tower_stream(tw, l + 1), g, tg);
    lv_tower_final_forward(e, tw);
}

/* ==== the backward pass ======================================================================
 * Mirrors the forward line by line. The residual-stream gradient d_stream is updated in place:
 * each branch reads it as its upstream gradient, and only its last kernel (the LayerNorm or
 * linear nearest the branch input) accumulates into it. Every other gradient buffer is zeroed
 * right before the kernel that accumulates into it. */

/* Backward of linear_forward: dx += dout W (+ the LoRA path); weight gradients where
 * trainable. */
static void linear_backward(const lv_engine *e, const lv_tower *tw, float *dx, const float *dout,
                            const float *x, linear_site s, int64_t R, int64_t C, int64_t OC)
{
    const lv_backend *be = e->be;
    be->linear_backward(dx, G(s.w), G(s.b), dout, x, W(s.w), R, C, OC);
    if (s.lora_a >= 0) {
        /* forward: u = scale (x A^T); out += u B^T */
        float *du = e->d_lora;                                          /* (R, r) */
        be->set(du, 0.0f, R * tw->lora_rank);
        be->linear_backward(du, G(s.lora_b), NULL, dout, s.u, W(s.lora_b), R, tw->lora_rank,
                            OC);
        be->scale(du, tw->lora_scale, R * tw->lora_rank);
        be->linear_backward(dx, G(s.lora_a), NULL, du, x, W(s.lora_a), R, C, tw->lora_rank);
    }
}

static void block_backward(const lv_engine *e, lv_tower *tw, int64_t l, const float *x, float *dres,
                           const lv_attn_groups *g, const lv_attn_groups *tg)
{
    const lv_backend *be = e->be;
    const lv_block_params *b = &tw->blocks[l];
    const lv_block_acts *a = &tw->acts[l];
    const int64_t R = tw->rows, D = tw->D, H = tw->H, Hd = tw->hidden;
    float *d_inner = e->d_inner, *d_pre = e->d_pre, *d_norm = e->d_norm;
    const int temporal = tw->factorized && tg;
    const float *x_t = temporal ? a->x_t : a->x_mid;
    if (tw->adapters) {
        /* forward: out = x_mlp + up(gelu(down(x_mlp))) */
        const int64_t A = tw->adapter_dim;
        be->set(d_inner, 0.0f, R * A);                                  /* d ad_gelu (R, A) */
        be->linear_backward(d_inner, G(b->ad_up_w), G(b->ad_up_b), dres, a->ad_gelu,
                            W(b->ad_up_w), R, A, D);
        be->set(d_pre, 0.0f, R * A);                                    /* d ad_down (R, A) */
        be->gelu_backward(d_pre, a->ad_down, d_inner, R * A);
        be->linear_backward(dres, G(b->ad_down_w), G(b->ad_down_b), d_pre, a->x_mlp,
                            W(b->ad_down_w), R, D, A);
    }
    /* forward: x_mlp = x_t + fc2(gelu(fc1(ln2(x_t)))) */
    be->set(d_inner, 0.0f, R * Hd);                                     /* d gelu (R, Hd) */
    linear_backward(e, tw, d_inner, dres, a->gelu, site(b, a, LV_LORA_FC2, b->fc2_w, b->fc2_b),
                    R, Hd, D);
    be->set(d_pre, 0.0f, R * Hd);                                       /* d fc1 (R, Hd) */
    act_backward(e, tw, d_pre, a->fc1, d_inner, R * Hd);
    be->set(d_norm, 0.0f, R * D);                                       /* d ln2 (R, D) */
    linear_backward(e, tw, d_norm, d_pre, a->ln2, site(b, a, LV_LORA_FC1, b->fc1_w, b->fc1_b),
                    R, D, Hd);
    be->layernorm_backward(dres, G(b->ln2_w), G(b->ln2_b), d_norm, x_t, W(b->ln2_w),
                           a->ln2_mean, a->ln2_rstd, R, D);
    if (temporal) {
        /* forward: x_t = x_mid + tanh(gate) proj_t(attention_t(qkv_t(ln_t(x_mid)))) */
        be->set(d_inner, 0.0f, R * D);                                  /* d t_out (R, D) */
        be->gated_residual_backward(NULL, d_inner, G(b->t_gate), dres, a->t_out, W(b->t_gate),
                                    R * D);
        be->set(d_pre, 0.0f, R * D);                                    /* d t_atty (R, D) */
        be->linear_backward(d_pre, G(b->t_proj_w), G(b->t_proj_b), d_inner, a->t_atty,
                            W(b->t_proj_w), R, D, D);
        be->set(d_norm, 0.0f, R * 3 * D);                               /* d t_qkv (R, 3D) */
        be->attention_backward(d_norm, d_norm + D, d_norm + 2 * D, d_pre, a->t_atty, a->t_att,
                               a->t_qkv, a->t_qkv + D, a->t_qkv + 2 * D, tg, 3 * D, 3 * D, H,
                               D);
        be->set(d_inner, 0.0f, R * D);                                  /* d t_ln (R, D) */
        be->linear_backward(d_inner, G(b->t_qkv_w), G(b->t_qkv_b), d_norm, a->t_ln,
                            W(b->t_qkv_w), R, D, 3 * D);
        be->layernorm_backward(dres, G(b->t_ln_w), G(b->t_ln_b), d_inner, a->x_mid,
                               W(b->t_ln_w), a->t_mean, a->t_rstd, R, D);
    }
    /* forward: x_mid = x + proj(attention(qkv(ln1(x)))) */
    be->set(d_inner, 0.0f, R * D);                                      /* d atty (R, D) */
    linear_backward(e, tw, d_inner, dres, a->atty,
                    site(b, a, LV_LORA_PROJ, b->proj_w, b->proj_b), R, D, D);
    be->set(d_pre, 0.0f, R * 3 * D);                                    /* d qkv (R, 3D) */
    be->attention_backward(d_pre, d_pre + D, d_pre + 2 * D, d_inner, a->atty, a->att, a->qkv,
                           a->qkv + D, a->qkv + 2 * D, g, 3 * D, 3 * D, H, D);
    be->set(d_norm, 0.0f, R * D);                                       /* d ln1 (R, D) */
    linear_backward(e, tw, d_norm, d_pre, a->ln1, site(b, a, LV_LORA_QKV, b->qkv_w, b->qkv_b),
                    R, D, 3 * D);
    be->layernorm_backward(dres, G(b->ln1_w), G(b->ln1_b), d_norm, x, W(b->ln1_w), a->ln1_mean,
                           a->ln1_rstd, R, D);
}

/* Backward of block_forward_post_ln: dres holds d out on entry, d x on return. */
static void block_backward_post_ln(const lv_engine *e, lv_tower *tw, int64_t l, const float *x,
                                   float *dres, const lv_attn_groups *g)
{
    const lv_backend *be = e->be;
    const lv_block_params *b = &tw->blocks[l];
    const lv_block_acts *a = &tw->acts[l];
    const int64_t R = tw->rows, D = tw->D, H = tw->H, Hd = tw->hidden;
    float *d_inner = e->d_inner, *d_pre = e->d_pre, *d_norm = e->d_norm;
    /* forward: out = ln2(x_mlp), x_mlp = h + fc2(act(fc1(h))), h = ln1 */
    be->set(d_norm, 0.0f, R * D);                                       /* d x_mlp (R, D) */
    be->layernorm_backward(d_norm, G(b->ln2_w), G(b->ln2_b), dres, a->x_mlp, W(b->ln2_w),
                           a->ln2_mean, a->ln2_rstd, R, D);
    be->set(d_inner, 0.0f, R * Hd);                                     /* d act (R, Hd) */
    linear_backward(e, tw, d_inner, d_norm, a->gelu, site(b, a, LV_LORA_FC2, b->fc2_w, b->fc2_b),
                    R, Hd, D);
    be->set(d_pre, 0.0f, R * Hd);                                       /* d fc1 (R, Hd) */
    act_backward(e, tw, d_pre, a->fc1, d_inner, R * Hd);
    /* d h = d x_mlp (the residual) + the MLP's input gradient, accumulated onto it */
    linear_backward(e, tw, d_norm, d_pre, a->ln1, site(b, a, LV_LORA_FC1, b->fc1_w, b->fc1_b),
                    R, D, Hd);
    /* forward: h = ln1(x_mid), x_mid = x + proj(attention(qkv(x))); d out is spent, so dres
     * takes d x_mid, then the attention's input gradient on top of it (the residual) */
    be->set(dres, 0.0f, R * D);
    be->layernorm_backward(dres, G(b->ln1_w), G(b->ln1_b), d_norm, a->x_mid, W(b->ln1_w),
                           a->ln1_mean, a->ln1_rstd, R, D);
    be->set(d_inner, 0.0f, R * D);                                      /* d atty (R, D) */
    linear_backward(e, tw, d_inner, dres, a->atty,
                    site(b, a, LV_LORA_PROJ, b->proj_w, b->proj_b), R, D, D);
    be->set(d_pre, 0.0f, R * 3 * D);                                    /* d qkv (R, 3D) */
    be->attention_backward(d_pre, d_pre + D, d_pre + 2 * D, d_inner, a->atty, a->att, a->qkv,
                           a->qkv + D, a->qkv + 2 * D, g, 3 * D, 3 * D, H, D);
    linear_backward(e, tw, dres, d_pre, x, site(b, a, LV_LORA_QKV, b->qkv_w, b->qkv_b), R, D,
                    3 * D);
}

void lv_block_backward(const lv_engine *e, lv_tower *tw, int64_t l, const float *x, float *dres,
                       const lv_attn_groups *g, const lv_attn_groups *tg)
{
    if (tw->post_ln)
        block_backward_post_ln(e, tw, l, x, dres, g);
    else
        block_backward(e, tw, l, x, dres, g, tg);
}

float *lv_tower_final_backward(const lv_engine *e, lv_tower *tw, const float *dln_f)
{
    const int64_t R = tw->rows, D = tw->D;
    float *dres = e->d_stream;                                          /* (R, D) */
    if (tw->post_ln) {
        e->be->copy(dres, dln_f, R * D);                /* ln_f is x[L]: no final LayerNorm */
    } else {
        e->be->set(dres, 0.0f, R * D);
        e->be->layernorm_backward(dres, G(tw->ln_f_w), G(tw->ln_f_b), dln_f,
                                  lv_tower_stream(tw, tw->L), W(tw->ln_f_w), tw->ln_f_mean,
                                  tw->ln_f_rstd, R, D);
    }
    return dres;
}

float *lv_tower_backward(const lv_engine *e, lv_tower *tw, const float *dln_f,
                         const lv_attn_groups *g, const lv_attn_groups *tg)
{
    float *dres = lv_tower_final_backward(e, tw, dln_f);
    for (int64_t l = tw->L - 1; l >= tw->prefix; l--)       /* the frozen prefix: no backward */
        lv_block_backward(e, tw, l, lv_tower_stream(tw, l), dres, g, tg);
    return dres;
}

/* ==== the parameter table ====================================================================
 * Every tensor is one row of the descriptor table (params.h), added in a fixed order: the order
 * keys each tensor's initialisation stream, so it is part of the numerics. */

int64_t lv_table_add(lv_table *t, lv_param_spec spec, const char *fmt, ...)
{
    char name[LV_PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const int64_t i = lv_params_add(t->ps, name, &spec);
    if (i < 0)
        t->failed = 1;
    return i;
}

/* The usual kinds: a weight matrix (decayed, N(0, 0.02)), a zero bias, a LayerNorm's weight and
 * bias, a learned table (embeddings, positions: N(0, 0.02), not decayed), and a copy of another
 * tensor (the factorized temporal block starts as the spatial one). */
lv_param_spec lv_spec_matrix(int trainable, int64_t out, int64_t in)
{
    return (lv_param_spec){ .ndim = 2, .shape = { out, in }, .trainable = trainable, .decay = 1,
                            .init = LV_INIT_NORMAL, .init_value = LV_INIT_STD };
}

lv_param_spec lv_spec_linear(int trainable, int64_t out, int64_t in)
{
    return (lv_param_spec){ .ndim = 2, .shape = { out, in }, .trainable = trainable, .decay = 1,
                            .init = LV_INIT_UNIFORM, .init_value = 1.0 / sqrt((double)in) };
}

lv_param_spec lv_spec_zeros(int trainable, int ndim, int64_t d0, int64_t d1)
{
    return (lv_param_spec){ .ndim = ndim, .shape = { d0, d1 }, .trainable = trainable,
                            .init = LV_INIT_ZERO };
}

lv_param_spec lv_spec_normal(int trainable, int64_t rows, int64_t cols)
{
    return (lv_param_spec){ .ndim = 2, .shape = { rows, cols }, .trainable = trainable,
                            .init = LV_INIT_NORMAL, .init_value = LV_INIT_STD };
}

lv_param_spec lv_spec_copy(const lv_table *t, int trainable, int decay, int64_t source)
{
    const lv_param *s = &t->ps->p[source];
    return (lv_param_spec){ .ndim = s->ndim, .shape = { s->shape[0], s->shape[1] },
                            .trainable = trainable, .decay = decay, .init = LV_INIT_COPY,
                            .source = source };
}

void lv_table_add_layernorm(lv_table *t, int trainable, int64_t D, int64_t *w, int64_t *b,
                          const char *pre)
{
    *w = lv_table_add(t, (lv_param_spec){ .ndim = 1, .shape = { D }, .trainable = trainable,
                                 .init = LV_INIT_ONE }, "%s.weight", pre);
    *b = lv_table_add(t, lv_spec_zeros(trainable, 1, D, 0), "%s.bias", pre);
}

void lv_tower_add_block(lv_table *t, lv_tower *tw, int64_t l, const char *tower, lv_block_training bt)
{
    lv_block_params *b = &tw->blocks[l];
    const int64_t D = tw->D, Hd = tw->hidden;
    char pre[48], name[64];
    snprintf(pre, sizeof pre, "%s.blocks.%lld", tower, (long long)l);
    *b = (lv_block_params){ .t_ln_w = -1, .t_ln_b = -1, .t_qkv_w = -1, .t_qkv_b = -1,
                            .t_proj_w = -1, .t_proj_b = -1, .t_gate = -1, .ad_down_w = -1,
                            .ad_down_b = -1, .ad_up_w = -1, .ad_up_b = -1,
                            .lora_a = { -1, -1, -1, -1 }, .lora_b = { -1, -1, -1, -1 } };
    snprintf(name, sizeof name, "%s.ln1", pre);
    lv_table_add_layernorm(t, bt.base, D, &b->ln1_w, &b->ln1_b, name);
    b->qkv_w = lv_table_add(t, lv_spec_matrix(bt.base, 3 * D, D), "%s.attn.qkv.weight", pre);
    b->qkv_b = lv_table_add(t, lv_spec_zeros(bt.base, 1, 3 * D, 0), "%s.attn.qkv.bias", pre);
    b->proj_w = lv_table_add(t, lv_spec_matrix(bt.base, D, D), "%s.attn.proj.weight", pre);
    b->proj_b = lv_table_add(t, lv_spec_zeros(bt.base, 1, D, 0), "%s.attn.proj.bias", pre);
    if (tw->factorized) {
        /* the temporal block starts as a copy of the spatial one, switched off by its gate */
        const int tr = bt.temporal;
        b->t_ln_w = lv_table_add(t, lv_spec_copy(t, tr, 0, b->ln1_w), "%s.temporal.ln.weight", pre);
        b->t_ln_b = lv_table_add(t, lv_spec_copy(t, tr, 0, b->ln1_b), "%s.temporal.ln.bias", pre);
        b->t_qkv_w = lv_table_add(t, lv_spec_copy(t, tr, 1, b->qkv_w), "%s.temporal.attn.qkv.weight", pre);
        b->t_qkv_b = lv_table_add(t, lv_spec_copy(t, tr, 0, b->qkv_b), "%s.temporal.attn.qkv.bias", pre);
        b->t_proj_w = lv_table_add(t, lv_spec_copy(t, tr, 1, b->proj_w), "%s.temporal.attn.proj.weight", pre);
        b->t_proj_b = lv_table_add(t, lv_spec_copy(t, tr, 0, b->proj_b), "%s.temporal.attn.proj.bias", pre);
        b->t_gate = lv_table_add(t, lv_spec_zeros(tr, 1, 1, 0), "%s.temporal.gate", pre);
    }
    snprintf(name, sizeof name, "%s.ln2", pre);
    lv_table_add_layernorm(t, bt.base, D, &b->ln2_w, &b->ln2_b, name);
    b->fc1_w = lv_table_add(t, lv_spec_matrix(bt.base, Hd, D), "%s.mlp.fc1.weight", pre);
    b->fc1_b = lv_table_add(t, lv_spec_zeros(bt.base, 1, Hd, 0), "%s.mlp.fc1.bias", pre);
    b->fc2_w = lv_table_add(t, lv_spec_matrix(bt.base, D, Hd), "%s.mlp.fc2.weight", pre);
    b->fc2_b = lv_table_add(t, lv_spec_zeros(bt.base, 1, D, 0), "%s.mlp.fc2.bias", pre);
    if (tw->adapters) {
        /* Houlsby adapter after the MLP; the zero up-projection makes it start as identity */
        const int64_t A = tw->adapter_dim;
        b->ad_down_w = lv_table_add(t, lv_spec_matrix(bt.adapters, A, D), "%s.adapter.down.weight", pre);
        b->ad_down_b = lv_table_add(t, lv_spec_zeros(bt.adapters, 1, A, 0), "%s.adapter.down.bias", pre);
        b->ad_up_w = lv_table_add(t, (lv_param_spec){ .ndim = 2, .shape = { D, A },
                                             .trainable = bt.adapters, .decay = 1,
                                             .init = LV_INIT_ZERO }, "%s.adapter.up.weight", pre);
        b->ad_up_b = lv_table_add(t, lv_spec_zeros(bt.adapters, 1, D, 0), "%s.adapter.up.bias", pre);
    }
    if (tw->lora) {
        /* W + scale B A with B = 0 at init; A ~ N(0, 1/in) */
        static const char *const which[LV_LORA_COUNT] = { "attn.qkv", "attn.proj", "mlp.fc1",
                                                          "mlp.fc2" };
        const int64_t in[LV_LORA_COUNT] = { D, D, D, Hd }, out[LV_LORA_COUNT] = { 3 * D, D, Hd, D };
        const int64_t r = tw->lora_rank;
        for (int k = 0; k < LV_LORA_COUNT; k++) {
            b->lora_a[k] = lv_table_add(t, (lv_param_spec){ .ndim = 2, .shape = { r, in[k] },
                                                   .trainable = bt.lora, .decay = 1,
                                                   .init = LV_INIT_NORMAL,
                                                   .init_value = 1.0 / sqrt((double)in[k]) },
                               "%s.%s.lora_a", pre, which[k]);
            b->lora_b[k] = lv_table_add(t, (lv_param_spec){ .ndim = 2, .shape = { out[k], r },
                                                   .trainable = bt.lora, .decay = 1,
                                                   .init = LV_INIT_ZERO },
                               "%s.%s.lora_b", pre, which[k]);
        }
    }
}

int lv_tower_alloc(lv_tower *tw)
{
    tw->blocks = lv_calloc((size_t)tw->L, sizeof *tw->blocks, "the block table");
    tw->acts = lv_calloc((size_t)tw->L, sizeof *tw->acts, "the block activations");
    return tw->blocks && tw->acts ? 0 : -1;
}

/* ==== memory layout ========================================================================== */

float *lv_take(lv_fslab *s, int64_t n)
{
    float *p = s->base ? s->base + s->used : NULL;
    s->used += n;
    return p;
}

void *lv_take_bytes(lv_bslab *s, int64_t n)
{
    void *p = s->base ? s->base + s->used : NULL;
    s->used += (n + 7) / 8 * 8;
    return p;
}

static void layout_block(lv_fslab *s, const lv_tower *tw, lv_block_acts *a, float *out, int64_t R,
                         int64_t cache, int64_t temporal_cache)
{
    const int64_t D = tw->D, Hd = tw->hidden;
    if (tw->post_ln) {                   /* x_mid -> ln1 -> MLP -> x_mlp -> ln2 = out */
        *a = (lv_block_acts){ 0 };
        a->qkv = lv_take(s, R * 3 * D);
        a->att = lv_take(s, cache);
        a->atty = lv_take(s, R * D);
        a->x_mid = lv_take(s, R * D);
        a->ln1 = lv_take(s, R * D);
        a->ln1_mean = lv_take(s, R);
        a->ln1_rstd = lv_take(s, R);
        a->fc1 = lv_take(s, R * Hd);
        a->gelu = lv_take(s, R * Hd);
        a->x_mlp = lv_take(s, R * D);
        a->ln2 = out;
        a->ln2_mean = lv_take(s, R);
        a->ln2_rstd = lv_take(s, R);
        return;
    }
    a->ln1 = lv_take(s, R * D);
    a->ln1_mean = lv_take(s, R);
    a->ln1_rstd = lv_take(s, R);
    a->qkv = lv_take(s, R * 3 * D);
    a->att = lv_take(s, cache);
    a->atty = lv_take(s, R * D);
    a->x_mid = lv_take(s, R * D);
    a->x_t = a->x_mid;
    if (tw->factorized) {
        a->t_ln = lv_take(s, R * D);
        a->t_mean = lv_take(s, R);
        a->t_rstd = lv_take(s, R);
        a->t_qkv = lv_take(s, R * 3 * D);
        a->t_att = lv_take(s, temporal_cache);
        a->t_atty = lv_take(s, R * D);
        a->t_out = lv_take(s, R * D);
        a->x_t = lv_take(s, R * D);
    }
    a->ln2 = lv_take(s, R * D);
    a->ln2_mean = lv_take(s, R);
    a->ln2_rstd = lv_take(s, R);
    a->fc1 = lv_take(s, R * Hd);
    a->gelu = lv_take(s, R * Hd);
    a->x_mlp = out;
    if (tw->adapters) {
        a->x_mlp = lv_take(s, R * D);
        a->ad_down = lv_take(s, R * tw->adapter_dim);
        a->ad_gelu = lv_take(s, R * tw->adapter_dim);
    }
    for (int k = 0; k < LV_LORA_COUNT; k++)
        a->lora_u[k] = tw->lora ? lv_take(s, R * tw->lora_rank) : NULL;
}

void lv_tower_layout(lv_fslab *s, lv_tower *tw, int64_t R, int64_t B, int64_t E, int64_t cache,
                         int64_t temporal_cache)
{
    LV_REQUIRE(tw->prefix >= 0 && tw->prefix <= tw->L);
    tw->rows = R;
    const int64_t streams = tw->every_stream ? tw->L + 1 : tw->L + 1 - tw->prefix;
    tw->x = lv_take(s, streams * R * tw->D);
    const int counting = !tw->x;
    lv_block_acts shared = { 0 };        /* the frozen prefix's one set */
    for (int64_t l = 0; l < tw->L; l++) {
        lv_block_acts dummy, *a = tw->acts ? &tw->acts[l] : &dummy;
        if (l > 0 && l < tw->prefix) {
            *a = shared;
            continue;
        }
        layout_block(s, tw, a, counting ? NULL : lv_tower_stream(tw, l + 1), R, cache,
                     temporal_cache);
        shared = *a;
    }
    if (tw->post_ln) {
        tw->ln_f = counting ? NULL : lv_tower_stream(tw, tw->L);
        tw->ln_f_mean = tw->ln_f_rstd = NULL;
    } else {
        tw->ln_f = lv_take(s, R * tw->D);
        tw->ln_f_mean = lv_take(s, R);
        tw->ln_f_rstd = lv_take(s, R);
    }
    tw->pooled = lv_take(s, B * tw->D);
    tw->emb = lv_take(s, B * E);
    tw->emb_n = lv_take(s, B * E);
    tw->emb_norm = lv_take(s, B);
}

/* ---- model FLOPs -------------------------------------------------------------------------- */

/* Forward matmul FLOPs (2 per multiply-add) of one tower's blocks over R rows, with attention
 * over groups whose query x key sizes sum to qk per head slice. */
double lv_tower_flops(const lv_tower *tw, double R, double qk)
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
