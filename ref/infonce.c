/* Symmetric InfoNCE (CLIP's contrastive loss): each video against every text of the batch and each
 * text against every video, targets on the diagonal. Log-sum-exp in double with the max
 * subtracted; no scratch buffer, so the backward recomputes each row's and column's log-sum-exp. */
#include "kernels.h"
#include "dist.h"
#include "error.h"

#include <math.h>

/* exp(min(s, log 100)); *clamped says the clamp is active (and the scale is flat in s).
 * The temperature is learned in log space, so it stays positive, and capped at 100 as in CLIP
 * so the logits cannot grow without bound. */
double lv_logit_scale(float log_scale, int *clamped)
{
    *clamped = log_scale > log((double)LV_LOGIT_SCALE_MAX);
    return *clamped ? (double)LV_LOGIT_SCALE_MAX : exp((double)log_scale);
}

/* log sum_i exp(x[i * stride]), i < n: a row (stride 1) or a column (stride B) of the logits.
 * Written as mx + log sum_i exp(x_i - mx): every exp is <= 1, so nothing overflows, and the
 * largest term is exactly 1, so the sum is >= 1 and its log finite (for finite x; n >= 1). */
double lv_logsumexp_strided(const float *x, int64_t n, int64_t stride)
{
    double mx = -INFINITY, sum = 0.0;                  /* max_i x_i, sum_i exp(x_i - mx) */
    for (int64_t i = 0; i < n; i++)
        mx = fmax(mx, x[i * stride]);
    for (int64_t i = 0; i < n; i++)
        sum += exp(x[i * stride] - mx);
    return mx + log(sum);
}

/* Forward. v, t (B, E) are the L2-normalised video and text embeddings of the batch, so
 * v_i . t_j is a cosine similarity; with scale = exp(min(s, log 100)), s = *log_scale,
 *   logits[i,j] = scale v_i . t_j                                (B, B), cached for the backward
 *   loss = 1/(2B) sum_i [ lse_j logits[i,j] - logits[i,i]        video i against the B texts
 *                       + lse_j logits[j,i] - logits[i,i] ]      text i against the B videos
 * the mean of two cross-entropies whose class is the matching pair on the diagonal, the other
 * B - 1 items of the batch being the negatives. Dot products and log-sum-exps run in double;
 * the logits are rounded to float when stored and the loss is taken from the stored values,
 * which are the ones the backward will differentiate. */
void lv_infonce_forward(float *loss, float *logits, const float *v, const float *t,
                        const float *log_scale, int64_t B, int64_t E)
{
    LV_REQUIRE(B > 0 && E > 0);
    int clamped;
    const double scale = lv_logit_scale(*log_scale, &clamped);
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < B; j++) {
            double acc = 0.0;
            for (int64_t e = 0; e < E; e++)
                acc += (double)v[i * E + e] * t[j * E + e];
            logits[i * B + j] = (float)(scale * acc);
        }
    /* video i -> texts: row i, target i; text i -> videos: column i, target i */
    double total = 0.0;
    for (int64_t i = 0; i < B; i++)
        total += lv_logsumexp_strided(logits + i * B, B, 1) +
                 lv_logsumexp_strided(logits + i, B, B) - 2.0 * logits[i * B + i];
    *loss = (float)(total / (2.0 * (double)B));
}

/* The gradient of one cross-entropy term: video a against the texts (row a, transposed = 0) or
 * text a against the videos (column a, transposed = 1), weighted by c. Adds to dv and dt;
 * returns the term's share of sum_ij dL_ij L_ij (the log-scale gradient). */
static double ce_line_backward(float *dv, float *dt, double c, double scale, const float *logits,
                               const float *v, const float *t, int64_t a, int transposed,
                               int64_t B, int64_t E)
{
    const double lse = transposed ? lv_logsumexp_strided(logits + a, B, B)
                                  : lv_logsumexp_strided(logits + a * B, B, 1);
    double ds = 0.0;                                   /* sum over the line of dL_ij L_ij */
    for (int64_t b = 0; b < B; b++) {
        /* position b of the line is logits[i,j]: (a, b) on a row, (b, a) on a column */
        const int64_t i = transposed ? b : a, j = transposed ? a : b;
        const double L = logits[i * B + j];
        /* forward: loss_a = lse(line) - L_aa  =>  dL = c (softmax(line) - onehot(a)) */
        const double g = c * (exp(L - lse) - (b == a ? 1.0 : 0.0));   /* this line's dL_ij */
        /* forward: L_ij = scale v_i . t_j and d scale / d s = scale  =>  d L_ij / d s = L_ij */
        ds += g * L;
        /* forward: L_ij = scale v_i . t_j  =>  dv_i += scale dL_ij t_j, dt_j += scale dL_ij v_i */
        for (int64_t e = 0; e < E; e++) {
            if (dv)
                dv[i * E + e] += (float)(scale * g * t[j * E + e]);
            if (dt)
                dt[j * E + e] += (float)(scale * g * v[i * E + e]);
        }
    }
    return ds;
}

/* Backward. In the forward pass this was
 *   loss = sum_a (lse(row a) - L_aa + lse(column a) - L_aa) / 2B,   L = scale v t^T,
 * so step by step:
 *  - each of the 2B terms is one cross-entropy over a line of L, weighted c = dloss / 2B, and
 *    d (lse(x) - x_a) / d x_b = softmax(x)_b - delta_ab, so entry L_ij collects
 *    dL_ij = c (softmax(row i)_j - delta_ij) + c (softmax(column j)_i - delta_ij);
 *  - L_ij = scale v_i . t_j, so dv_i += scale sum_j dL_ij t_j, dt_j += scale sum_i dL_ij v_i;
 *  - scale = exp(s), d scale / ds = scale, so d L_ij / ds = L_ij and
 *    dlog_scale += sum_ij dL_ij L_ij, or nothing while the clamp holds the scale at 100
 *    (there the loss does not depend on s at all).
 * dL (B, B) is never stored: ce_line_backward adds each line's share as it computes it,
 * recomputing the line's log-sum-exp from the cached logits. v and t are treated as free
 * vectors; the L2 normalisation before them has its own backward. Gradients accumulate
 * (+=), and a NULL one is skipped. */
void lv_infonce_backward(float *dv, float *dt, float *dlog_scale, const float *dloss,
                         const float *logits, const float *v, const float *t,
                         const float *log_scale, int64_t B, int64_t E)
{
    LV_REQUIRE(B > 0 && E > 0);
    int clamped;
    const double scale = lv_logit_scale(*log_scale, &clamped);
    const double c = *dloss / (2.0 * (double)B);       /* the weight of each of the 2B terms */
    double ds = 0.0;                                    /* sum_ij dL_ij L_ij, for dlog_scale */
    for (int64_t a = 0; a < B; a++) {
        ds += ce_line_backward(dv, dt, c, scale, logits, v, t, a, 0, B, E);
        ds += ce_line_backward(dv, dt, c, scale, logits, v, t, a, 1, B, E);
    }
    if (dlog_scale && !clamped)
        *dlog_scale += (float)ds;
}

/* ==== the global batch over ranks (dist.h) ====================================================
 * Data parallelism: every rank holds B of the G = size x B pairs and all G embeddings (gathered),
 * and computes only the loss terms of its own pairs: video a against all G texts (row a) and
 * text a against all G videos (column a). Memory O(B G) per rank instead of O(G^2). */

static double dot_f64(const float *x, const float *y, int64_t E)
{
    double acc = 0.0;
    for (int64_t e = 0; e < E; e++)
        acc += (double)x[e] * y[e];
    return acc;
}

/* Forward: as lv_infonce_forward, restricted to the own pairs' rows and columns:
 *   rows[i, j] = scale v_{r0+i} . t_j,   cols[i, j] = scale v_j . t_{r0+i}
 *   share = 1/(2G) sum_i [ lse(rows i) - L_aa + lse(cols i) - L_aa ],   a = r0 + i */
double lv_infonce_shard_forward(float *rows, float *cols, const float *v, const float *t,
                                float log_scale, int64_t G, int64_t r0, int64_t B, int64_t E)
{
    LV_REQUIRE(B > 0 && E > 0 && r0 >= 0 && r0 + B <= G);
    int clamped;
    const double scale = lv_logit_scale(log_scale, &clamped);
    double total = 0.0;
    for (int64_t i = 0; i < B; i++) {
        const int64_t a = r0 + i;
        for (int64_t j = 0; j < G; j++) {
            rows[i * G + j] = (float)(scale * dot_f64(v + a * E, t + j * E, E));
            cols[i * G + j] = (float)(scale * dot_f64(v + j * E, t + a * E, E));
        }
        total += lv_logsumexp_strided(rows + i * G, G, 1) +
                 lv_logsumexp_strided(cols + i * G, G, 1) - 2.0 * rows[i * G + a];
    }
    return total / (2.0 * (double)G);
}

/* Backward. The forward's terms for an own pair a were
 *   lse_j L[a, j] - L[a, a]   (row a)   and   lse_j L[j, a] - L[a, a]   (column a),
 * each weighted c = dloss / 2G (the global mean: the 1/G, not 1/B, is what makes the ranks'
 * gradients add up to the single-process one), so with p the softmax of the line
 *   dL[a, j] = c (p_row(j) - delta_aj),   dL[j, a] = c (p_col(j) - delta_aj);
 * L_ij = scale v_i . t_j gives dv_i += scale dL_ij t_j, dt_j += scale dL_ij v_i, which reaches
 * other ranks' embeddings v_j, t_j too (their partial gradients), and d L_ij / ds = L_ij. */
void lv_infonce_shard_backward(double *dv, double *dt, double *dlog_scale, double dloss,
                               const float *rows, const float *cols, const float *v,
                               const float *t, float log_scale, int64_t G, int64_t r0,
                               int64_t B, int64_t E)
{
    LV_REQUIRE(B > 0 && E > 0 && r0 >= 0 && r0 + B <= G);
    int clamped;
    const double scale = lv_logit_scale(log_scale, &clamped);
    const double c = dloss / (2.0 * (double)G);
    double ds = 0.0;
    for (int64_t i = 0; i < B; i++) {
        const int64_t a = r0 + i;
        const float *row = rows + i * G, *col = cols + i * G;
        const double lse_r = lv_logsumexp_strided(row, G, 1);
        const double lse_c = lv_logsumexp_strided(col, G, 1);
        for (int64_t j = 0; j < G; j++) {
            const double gr = c * (exp(row[j] - lse_r) - (j == a ? 1.0 : 0.0));   /* dL[a, j] */
            const double gc = c * (exp(col[j] - lse_c) - (j == a ? 1.0 : 0.0));   /* dL[j, a] */
            ds += gr * row[j] + gc * col[j];
            for (int64_t e = 0; e < E; e++) {
                dv[a * E + e] += scale * gr * t[j * E + e];
                dt[j * E + e] += scale * gr * v[a * E + e];
                dv[j * E + e] += scale * gc * t[a * E + e];
                dt[a * E + e] += scale * gc * v[j * E + e];
            }
        }
    }
    if (dlog_scale && !clamped)
        *dlog_scale += ds;
}
