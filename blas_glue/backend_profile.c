/* longvivit bench --profile: a backend table whose members time the wrapped backend's and book
 * the time to rows keyed by (operation, direction, shape) and to families. The graph cannot tell
 * it from the backend it wraps; when profiling is off the graph holds the plain table, so the
 * cost when off is nothing. Avoids: threads (the graph calls kernels from one thread; a kernel's
 * own threads run inside the timed call), allocation (a fixed table of rows). */
#include "backend_profile.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* Operations: one code per kernel kind (the row key's first part, and its printed name). */
enum {
    OP_LINEAR, OP_TUBELET, OP_INFONCE, OP_ATTENTION, OP_LAYERNORM, OP_GELU, OP_RESIDUAL,
    OP_POOL, OP_L2NORM, OP_EMBEDDING, OP_POS_EMBED, OP_CROSS_ENTROPY, OP_ZERO, OP_SET, OP_COPY,
    OP_TRANSFER, OP_ALLOC, OP_SCALE, OP_ADAMW, OP_SUM_SQUARES, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "linear", "tubelet im2col+matmul", "infonce", "attention", "layernorm", "gelu", "residual",
    "pool", "l2norm", "embedding", "pos_embed", "cross_entropy", "set 0", "set", "copy",
    "upload/download", "alloc/free", "scale", "adamw", "sum_squares"
};

static const char *const family_names[LV_PROF_FAMILIES] = {
    "matmuls", "attention", "text tower", "zero param grads", "zero act grads", "adamw",
    "grad norm + clip", "layernorm", "gelu", "elementwise", "copies/uploads", "other kernels",
    "host (between kernels)"
};

static lv_profile *active;       /* the profile the trampolines book to */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

const char *lv_profile_family_name(lv_prof_family f)
{
    return f >= 0 && f < LV_PROF_FAMILIES ? family_names[f] : "?";
}

/* Books one call that started at t0 to its row (found or added). */
static void book(int op, int dir, int64_t s0, int64_t s1, int64_t s2, lv_prof_family family,
                 double t0, double flops)
{
    lv_profile *p = active;
    const double t1 = now_s();
    if (p->t_last >= 0.0)
        p->host_s += t0 - p->t_last;
    p->t_last = t1;
    lv_profile_row *r = NULL;
    for (int i = 0; i < p->n_rows && !r; i++) {
        lv_profile_row *c = &p->rows[i];
        if (c->op == op && c->dir == dir && c->s0 == s0 && c->s1 == s1 && c->s2 == s2 &&
            c->family == family)
            r = c;
    }
    if (!r && p->n_rows == LV_PROFILE_ROWS) {
        p->dropped_calls++;
        p->other_s += t1 - t0;
        return;
    }
    if (!r) {
        r = &p->rows[p->n_rows++];
        *r = (lv_profile_row){ .op = op, .dir = dir, .s0 = s0, .s1 = s1, .s2 = s2,
                               .family = family };
    }
    r->calls++;
    r->seconds += t1 - t0;
    r->flops += flops;
}

/* The family of a call over `rows` rows that is not a text-tower call. */
static lv_prof_family text_or(int64_t rows, lv_prof_family otherwise)
{
    return active->o.text_rows > 0 && rows == active->o.text_rows ? LV_PROF_TEXT : otherwise;
}

/* ---- memory ---------------------------------------------------------------------------------- */

static void *p_alloc(size_t bytes, const char *what)
{
    const double t0 = now_s();
    void *x = active->inner->alloc(bytes, what);
    book(OP_ALLOC, 0, 0, 0, 0, LV_PROF_COPY, t0, 0.0);
    return x;
}

static void p_free(void *x)
{
    const double t0 = now_s();
    active->inner->free(x);
    book(OP_ALLOC, 1, 0, 0, 0, LV_PROF_COPY, t0, 0.0);
}

static void p_upload(void *dst, const void *src, size_t bytes)
{
    const double t0 = now_s();
    active->inner->upload(dst, src, bytes);
    book(OP_TRANSFER, 0, 0, 0, 0, LV_PROF_COPY, t0, 0.0);
}

static void p_download(void *dst, const void *src, size_t bytes)
{
    const double t0 = now_s();
    active->inner->download(dst, src, bytes);
    book(OP_TRANSFER, 1, 0, 0, 0, LV_PROF_COPY, t0, 0.0);
}

static void p_copy(float *dst, const float *src, int64_t n)
{
    const double t0 = now_s();
    active->inner->copy(dst, src, n);
    book(OP_COPY, 0, 0, 0, 0, LV_PROF_COPY, t0, 0.0);
}

/* set(0) over the gradient slab is the step's zero_grad; set(0) elsewhere zeroes an activation
 * gradient that a kernel then accumulates into (the waste a first-writer kernel would avoid) */
static void p_set(float *x, float value, int64_t n)
{
    const double t0 = now_s();
    active->inner->set(x, value, n);
    const lv_profile_opts *o = &active->o;
    const int in_grads = o->grad && x >= o->grad && x < o->grad + o->grad_floats;
    if (value != 0.0f)
        book(OP_SET, 0, 0, 0, 0, LV_PROF_COPY, t0, 0.0);
    else
        book(OP_ZERO, 0, n, 0, 0, in_grads ? LV_PROF_ZERO_GRAD : LV_PROF_ZERO_ACT,
             t0, 0.0);
}

/* ---- matmuls ---------------------------------------------------------------------------------- */

static void p_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                             int64_t N, int64_t C, int64_t OC)
{
    const double t0 = now_s();
    active->inner->linear_forward(out, inp, weight, bias, N, C, OC);
    book(OP_LINEAR, 0, N, C, OC, text_or(N, LV_PROF_MATMUL), t0, 2.0 * N * C * OC);
}

static void p_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, int64_t N, int64_t C,
                              int64_t OC)
{
    const double t0 = now_s();
    active->inner->linear_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    book(OP_LINEAR, 1, N, C, OC, text_or(N, LV_PROF_MATMUL), t0,
         2.0 * N * C * OC * ((dinp != NULL) + (dweight != NULL)));
}

static int64_t tube_voxel(const lv_tubelet_shape *s)
{
    return s->kt * s->kh * s->kw * s->C;
}

static void p_tubelet_embed_forward(float *out, const float *video, const float *weight,
                                    const float *bias, const int64_t *kept,
                                    const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    const double t0 = now_s();
    active->inner->tubelet_embed_forward(out, video, weight, bias, kept, s, B, K, D);
    const int64_t V = tube_voxel(s);
    book(OP_TUBELET, 0, B * K, V, D, LV_PROF_MATMUL, t0, 2.0 * B * K * V * D);
}

static void p_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias,
                                     const float *dout, const float *video, const float *weight,
                                     const int64_t *kept, const lv_tubelet_shape *s, int64_t B,
                                     int64_t K, int64_t D)
{
    const double t0 = now_s();
    active->inner->tubelet_embed_backward(dvideo, dweight, dbias, dout, video, weight, kept, s,
                                          B, K, D);
    const int64_t V = tube_voxel(s);
    book(OP_TUBELET, 1, B * K, V, D, LV_PROF_MATMUL, t0,
         2.0 * B * K * V * D * ((dvideo != NULL) + (dweight != NULL)));
}

static void p_infonce_forward(float *loss, float *logits, const float *v, const float *t,
                              const float *log_scale, int64_t B, int64_t E)
{
    const double t0 = now_s();
    active->inner->infonce_forward(loss, logits, v, t, log_scale, B, E);
    book(OP_INFONCE, 0, B, E, B, LV_PROF_OTHER, t0, 2.0 * B * B * E);
}

static void p_infonce_backward(float *dv, float *dt, float *dlog_scale, const float *dloss,
                               const float *logits, const float *v, const float *t,
                               const float *log_scale, int64_t B, int64_t E)
{
    const double t0 = now_s();
    active->inner->infonce_backward(dv, dt, dlog_scale, dloss, logits, v, t, log_scale, B, E);
    book(OP_INFONCE, 1, B, E, B, LV_PROF_OTHER, t0,
         2.0 * B * B * E * ((dv != NULL) + (dt != NULL)));
}

/* ---- attention: FLOPs from the groups, QK^T and PV, every listed key ------------------------- *
 * The group lists are backend memory: read only where that is the host's (else 0 FLOPs, 0 rows). */

static double attention_pairs(const lv_attn_groups *g, int64_t *q_rows)
{
    double pairs = 0.0;
    *q_rows = 0;
    if (!active->inner->host_memory)
        return 0.0;
    for (int64_t i = 0; i < g->n_groups; i++)
        pairs += (double)(g->q_start[i + 1] - g->q_start[i]) *
                 (double)(g->k_start[i + 1] - g->k_start[i]);
    *q_rows = g->q_start[g->n_groups] - g->q_start[0];
    return pairs;
}

static void p_attention_forward(float *out, float *cache, const float *q, const float *k,
                                const float *v, const lv_attn_groups *g, int64_t ldq,
                                int64_t ldkv, int64_t H, int64_t D)
{
    const double t0 = now_s();
    active->inner->attention_forward(out, cache, q, k, v, g, ldq, ldkv, H, D);
    int64_t rows;
    const double pairs = attention_pairs(g, &rows);
    book(OP_ATTENTION, 0, rows, (int64_t)pairs, D, text_or(rows, LV_PROF_ATTENTION), t0,
         4.0 * pairs * (double)D);
}

static void p_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                 const float *out, const float *cache, const float *q,
                                 const float *k, const float *v, const lv_attn_groups *g,
                                 int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    const double t0 = now_s();
    active->inner->attention_backward(dq, dk, dv, dout, out, cache, q, k, v, g, ldq, ldkv, H, D);
    int64_t rows;
    const double pairs = attention_pairs(g, &rows);
    book(OP_ATTENTION, 1, rows, (int64_t)pairs, D, text_or(rows, LV_PROF_ATTENTION), t0,
         8.0 * pairs * (double)D);
}

/* ---- row kernels ------------------------------------------------------------------------------ */

static void p_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                const float *weight, const float *bias, int64_t N, int64_t C,
                                float eps)
{
    const double t0 = now_s();
    active->inner->layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, eps);
    book(OP_LAYERNORM, 0, N, C, 0, text_or(N, LV_PROF_LAYERNORM), t0, 0.0);
}

static void p_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, const float *mean,
                                 const float *rstd, int64_t N, int64_t C)
{
    const double t0 = now_s();
    active->inner->layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    book(OP_LAYERNORM, 1, N, C, 0, text_or(N, LV_PROF_LAYERNORM), t0, 0.0);
}

static void p_l2norm_forward(float *out, float *norm, const float *inp, int64_t N, int64_t C)
{
    const double t0 = now_s();
    active->inner->l2norm_forward(out, norm, inp, N, C);
    book(OP_L2NORM, 0, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                              int64_t N, int64_t C)
{
    const double t0 = now_s();
    active->inner->l2norm_backward(dinp, dout, out, norm, N, C);
    book(OP_L2NORM, 1, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_embedding_forward(float *out, const int32_t *ids, const float *table, int64_t N,
                                int64_t V, int64_t D)
{
    const double t0 = now_s();
    active->inner->embedding_forward(out, ids, table, N, V, D);
    book(OP_EMBEDDING, 0, 0, 0, 0, text_or(N, LV_PROF_ELEMENTWISE), t0, 0.0);
}

static void p_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int64_t N,
                                 int64_t V, int64_t D)
{
    const double t0 = now_s();
    active->inner->embedding_backward(dtable, dout, ids, N, V, D);
    book(OP_EMBEDDING, 1, 0, 0, 0, text_or(N, LV_PROF_ELEMENTWISE), t0, 0.0);
}

static void p_pos_embed_forward(float *out, const float *inp, const float *spatial,
                                const float *temporal, const int64_t *kept, int64_t B, int64_t K,
                                int64_t P, int64_t Ft, int64_t D)
{
    const double t0 = now_s();
    active->inner->pos_embed_forward(out, inp, spatial, temporal, kept, B, K, P, Ft, D);
    book(OP_POS_EMBED, 0, 0, 0, 0, text_or(B * K, LV_PROF_ELEMENTWISE), t0, 0.0);
}

static void p_pos_embed_backward(float *dinp, float *dspatial, float *dtemporal,
                                 const float *dout, const int64_t *kept, int64_t B, int64_t K,
                                 int64_t P, int64_t Ft, int64_t D)
{
    const double t0 = now_s();
    active->inner->pos_embed_backward(dinp, dspatial, dtemporal, dout, kept, B, K, P, Ft, D);
    book(OP_POS_EMBED, 1, 0, 0, 0, text_or(B * K, LV_PROF_ELEMENTWISE), t0, 0.0);
}

/* ---- elementwise (both towers: n alone does not say which) ------------------------------------ */

#define P_UNARY(name, op, family)                                                               \
    static void p_##name##_forward(float *out, const float *inp, int64_t n)                     \
    {                                                                                           \
        const double t0 = now_s();                                                              \
        active->inner->name##_forward(out, inp, n);                                             \
        book(op, 0, 0, 0, 0, family, t0, 0.0);                                                  \
    }                                                                                           \
    static void p_##name##_backward(float *dinp, const float *inp, const float *dout, int64_t n)\
    {                                                                                           \
        const double t0 = now_s();                                                              \
        active->inner->name##_backward(dinp, inp, dout, n);                                     \
        book(op, 1, 0, 0, 0, family, t0, 0.0);                                                  \
    }
P_UNARY(gelu, OP_GELU, LV_PROF_GELU)
P_UNARY(quick_gelu, OP_GELU, LV_PROF_GELU)
P_UNARY(gelu_tanh, OP_GELU, LV_PROF_GELU)
#undef P_UNARY

static void p_residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    const double t0 = now_s();
    active->inner->residual_forward(out, a, b, n);
    book(OP_RESIDUAL, 0, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    const double t0 = now_s();
    active->inner->residual_backward(da, db, dout, n);
    book(OP_RESIDUAL, 1, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_gated_residual_forward(float *out, const float *h, const float *f, const float *gate,
                                     int64_t n)
{
    const double t0 = now_s();
    active->inner->gated_residual_forward(out, h, f, gate, n);
    book(OP_RESIDUAL, 0, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_gated_residual_backward(float *dh, float *df, float *dgate, const float *dout,
                                      const float *f, const float *gate, int64_t n)
{
    const double t0 = now_s();
    active->inner->gated_residual_backward(dh, df, dgate, dout, f, gate, n);
    book(OP_RESIDUAL, 1, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_mean_pool_forward(float *out, const float *inp, const uint8_t *valid, int64_t B,
                                int64_t T, int64_t D)
{
    const double t0 = now_s();
    active->inner->mean_pool_forward(out, inp, valid, B, T, D);
    book(OP_POOL, 0, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_mean_pool_backward(float *dinp, const float *dout, const uint8_t *valid, int64_t B,
                                 int64_t T, int64_t D)
{
    const double t0 = now_s();
    active->inner->mean_pool_backward(dinp, dout, valid, B, T, D);
    book(OP_POOL, 1, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_segment_mean_forward(float *out, const float *inp, const int64_t *start, int64_t G,
                                   int64_t D)
{
    const double t0 = now_s();
    active->inner->segment_mean_forward(out, inp, start, G, D);
    book(OP_POOL, 0, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_segment_mean_backward(float *dinp, const float *dout, const int64_t *start,
                                    int64_t G, int64_t D)
{
    const double t0 = now_s();
    active->inner->segment_mean_backward(dinp, dout, start, G, D);
    book(OP_POOL, 1, 0, 0, 0, LV_PROF_ELEMENTWISE, t0, 0.0);
}

static void p_cross_entropy_forward(float *loss, float *lse, const float *logits,
                                    const int32_t *targets, int64_t N, int64_t V)
{
    const double t0 = now_s();
    active->inner->cross_entropy_forward(loss, lse, logits, targets, N, V);
    book(OP_CROSS_ENTROPY, 0, 0, 0, 0, LV_PROF_OTHER, t0, 0.0);
}

static void p_cross_entropy_backward(float *dlogits, const float *dloss, const float *logits,
                                     const float *lse, const int32_t *targets, int64_t N,
                                     int64_t V)
{
    const double t0 = now_s();
    active->inner->cross_entropy_backward(dlogits, dloss, logits, lse, targets, N, V);
    book(OP_CROSS_ENTROPY, 1, 0, 0, 0, LV_PROF_OTHER, t0, 0.0);
}

/* ---- the optimiser ---------------------------------------------------------------------------- */

static void p_scale(float *x, float s, int64_t n)
{
    const double t0 = now_s();
    active->inner->scale(x, s, n);
    book(OP_SCALE, 0, 0, 0, 0, LV_PROF_NORM_CLIP, t0, 0.0);
}

static void p_adamw_update(float *x, const float *grad, float *m, float *v, int64_t n,
                           const lv_adamw_coef *k)
{
    const double t0 = now_s();
    active->inner->adamw_update(x, grad, m, v, n, k);
    book(OP_ADAMW, 0, 0, 0, 0, LV_PROF_ADAMW, t0, 0.0);
}

static double p_sum_squares(const float *x, int64_t n)
{
    const double t0 = now_s();
    const double s = active->inner->sum_squares(x, n);
    book(OP_SUM_SQUARES, 0, 0, 0, 0, LV_PROF_NORM_CLIP, t0, 0.0);
    return s;
}

/* ---- the table and its bookkeeping ------------------------------------------------------------ */

const lv_backend *lv_profile_wrap(lv_profile *p, const lv_backend *inner, const lv_profile_opts *o)
{
    *p = (lv_profile){ .inner = inner, .o = o ? *o : (lv_profile_opts){ 0 }, .t_last = -1.0 };
    p->be = (lv_backend){
        .name = inner->name, .host_memory = inner->host_memory,
        .attention_lse = inner->attention_lse,
        .alloc = p_alloc, .free = p_free, .upload = p_upload, .download = p_download,
        .copy = p_copy, .set = p_set,
        .linear_forward = p_linear_forward, .linear_backward = p_linear_backward,
        .layernorm_forward = p_layernorm_forward, .layernorm_backward = p_layernorm_backward,
        .gelu_forward = p_gelu_forward, .gelu_backward = p_gelu_backward,
        .quick_gelu_forward = p_quick_gelu_forward, .quick_gelu_backward = p_quick_gelu_backward,
        .gelu_tanh_forward = p_gelu_tanh_forward, .gelu_tanh_backward = p_gelu_tanh_backward,
        .attention_forward = p_attention_forward, .attention_backward = p_attention_backward,
        .residual_forward = p_residual_forward, .residual_backward = p_residual_backward,
        .gated_residual_forward = p_gated_residual_forward,
        .gated_residual_backward = p_gated_residual_backward,
        .mean_pool_forward = p_mean_pool_forward, .mean_pool_backward = p_mean_pool_backward,
        .segment_mean_forward = p_segment_mean_forward,
        .segment_mean_backward = p_segment_mean_backward,
        .l2norm_forward = p_l2norm_forward, .l2norm_backward = p_l2norm_backward,
        .embedding_forward = p_embedding_forward, .embedding_backward = p_embedding_backward,
        .tubelet_embed_forward = p_tubelet_embed_forward,
        .tubelet_embed_backward = p_tubelet_embed_backward,
        .pos_embed_forward = p_pos_embed_forward, .pos_embed_backward = p_pos_embed_backward,
        .infonce_forward = p_infonce_forward, .infonce_backward = p_infonce_backward,
        .cross_entropy_forward = p_cross_entropy_forward,
        .cross_entropy_backward = p_cross_entropy_backward,
        .scale = p_scale, .adamw_update = p_adamw_update, .sum_squares = p_sum_squares,
    };
    active = p;
    return &p->be;
}

void lv_profile_reset(lv_profile *p)
{
    p->n_rows = 0;
    p->dropped_calls = 0;
    p->other_s = p->wall_s = p->host_s = 0.0;
    p->t_last = -1.0;
    p->steps = 0;
}

static double step_t0;

void lv_profile_step_begin(lv_profile *p)
{
    step_t0 = p->t_last = now_s();
}

void lv_profile_step_end(lv_profile *p)
{
    const double t = now_s();
    p->host_s += t - p->t_last;
    p->wall_s += t - step_t0;
    p->t_last = -1.0;
    p->steps++;
}

double lv_profile_family_seconds(const lv_profile *p, lv_prof_family f)
{
    if (f == LV_PROF_HOST)
        return p->host_s;
    double s = f == LV_PROF_OTHER ? p->other_s : 0.0;
    for (int i = 0; i < p->n_rows; i++)
        if (p->rows[i].family == f)
            s += p->rows[i].seconds;
    return s;
}

double lv_profile_flops(const lv_profile *p, int dir, int f)
{
    double s = 0.0;
    for (int i = 0; i < p->n_rows; i++)
        if ((dir < 0 || p->rows[i].dir == dir) && (f < 0 || (int)p->rows[i].family == f))
            s += p->rows[i].flops;
    return s;
}

/* ---- printing --------------------------------------------------------------------------------- */

static void row_label(char *buf, size_t n, const lv_profile_row *r)
{
    const char *d = r->dir ? "bwd" : "fwd";
    switch (r->op) {
    case OP_LINEAR:
    case OP_TUBELET:
        snprintf(buf, n, "%s %lldx%lld->%lld %s", op_names[r->op], (long long)r->s0,
                 (long long)r->s1, (long long)r->s2, d);
        break;
    case OP_ATTENTION:
        snprintf(buf, n, "attention %lld rows, %.0f keys/row, D %lld %s", (long long)r->s0,
                 r->s0 ? (double)r->s1 / (double)r->s0 : 0.0, (long long)r->s2, d);
        break;
    case OP_LAYERNORM:
        snprintf(buf, n, "layernorm %lldx%lld %s", (long long)r->s0, (long long)r->s1, d);
        break;
    case OP_ZERO:
        snprintf(buf, n, "set 0, %lld floats", (long long)r->s0);
        break;
    default:
        snprintf(buf, n, "%s %s", op_names[r->op], d);
    }
}

void lv_profile_print(FILE *out, const lv_profile *p, int json)
{
    const double steps = p->steps > 0 ? (double)p->steps : 1.0;
    const double wall_ms = p->wall_s / steps * 1e3;
    if (json) {
        fprintf(out, "{\"steps\": %lld, \"step_ms\": %.3f, \"families\": [", (long long)p->steps,
                wall_ms);
        for (int f = 0; f < LV_PROF_FAMILIES; f++) {
            const double ms = lv_profile_family_seconds(p, f) / steps * 1e3;
            const double fl = lv_profile_flops(p, -1, f) / steps;
            fprintf(out, "%s{\"family\": \"%s\", \"ms\": %.3f, \"gflop\": %.4f}", f ? ", " : "",
                    family_names[f], ms, fl * 1e-9);
        }
        fprintf(out, "], \"rows\": [");
        for (int i = 0; i < p->n_rows; i++) {
            const lv_profile_row *r = &p->rows[i];
            char label[96];
            row_label(label, sizeof label, r);
            fprintf(out, "%s{\"row\": \"%s\", \"family\": \"%s\", \"calls\": %.2f, \"ms\": %.3f, "
                    "\"gflop\": %.4f}", i ? ", " : "", label, family_names[r->family],
                    (double)r->calls / steps, r->seconds / steps * 1e3, r->flops / steps * 1e-9);
        }
        fprintf(out, "]}");
        return;
    }
    fprintf(out, "profile: %lld steps, %.1f ms/step (per step below; GFLOP/s: model FLOPs of the "
            "matmuls, attention's recomputation not counted)\n", (long long)p->steps, wall_ms);
    fprintf(out, "  %-46s %7s %9s %6s %8s %8s\n", "family / row", "calls", "ms", "%step", "GFLOP",
            "GFLOP/s");
    double sum_ms = 0.0;
    for (int f = 0; f < LV_PROF_FAMILIES; f++) {
        const double s = lv_profile_family_seconds(p, f), ms = s / steps * 1e3;
        const double fl = lv_profile_flops(p, -1, f);
        sum_ms += ms;
        if (fl > 0.0)
            fprintf(out, "  %-46s %7s %9.1f %6.1f %8.2f %8.1f\n", family_names[f], "", ms,
                    100.0 * ms / wall_ms, fl / steps * 1e-9, s > 0 ? fl / s * 1e-9 : 0.0);
        else
            fprintf(out, "  %-46s %7s %9.1f %6.1f\n", family_names[f], "", ms,
                    100.0 * ms / wall_ms);
        if (f > LV_PROF_TEXT && f != LV_PROF_ZERO_ACT)
            continue;
        for (int i = 0; i < p->n_rows; i++) {   /* the shapes of the matmul families, zeroing */
            const lv_profile_row *r = &p->rows[i];
            if ((int)r->family != f || r->seconds / steps * 1e3 < 0.05 * wall_ms / 100.0)
                continue;
            char label[96];
            row_label(label, sizeof label, r);
            if (r->flops > 0.0)
                fprintf(out, "    %-44s %7.0f %9.1f %6.1f %8.2f %8.1f\n", label,
                        (double)r->calls / steps, r->seconds / steps * 1e3,
                        100.0 * r->seconds / p->wall_s, r->flops / steps * 1e-9,
                        r->seconds > 0 ? r->flops / r->seconds * 1e-9 : 0.0);
            else
                fprintf(out, "    %-44s %7.0f %9.1f %6.1f\n", label, (double)r->calls / steps,
                        r->seconds / steps * 1e3, 100.0 * r->seconds / p->wall_s);
        }
    }
    fprintf(out, "  %-46s %7s %9.1f %6.1f\n", "sum of families", "", sum_ms,
            100.0 * sum_ms / wall_ms);
}
