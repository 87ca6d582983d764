/* Symmetric InfoNCE (CLIP's contrastive loss): each video against every text of the batch and each
 * text against every video, targets on the diagonal. Log-sum-exp in double with the max
 * subtracted; no scratch buffer, so the backward recomputes each row's and column's log-sum-exp. */
#include "kernels.h"
#include "error.h"

#include <math.h>

/* exp(min(s, log 100)); *clamped says the clamp is active (and the scale is flat in s) */
double lv_logit_scale(float log_scale, int *clamped)
{
    *clamped = log_scale > log((double)LV_LOGIT_SCALE_MAX);
    return *clamped ? (double)LV_LOGIT_SCALE_MAX : exp((double)log_scale);
}

/* log sum_i exp(x[i * stride]), i < n: a row (stride 1) or a column (stride B) of the logits */
double lv_logsumexp_strided(const float *x, int64_t n, int64_t stride)
{
    double mx = -INFINITY, sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        mx = fmax(mx, x[i * stride]);
    for (int64_t i = 0; i < n; i++)
        sum += exp(x[i * stride] - mx);
    return mx + log(sum);
}

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
    double ds = 0.0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t i = transposed ? b : a, j = transposed ? a : b;
        const double L = logits[i * B + j];
        /* forward: loss_a = lse(line) - L_aa  =>  dL = c (softmax(line) - onehot(a)) */
        const double g = c * (exp(L - lse) - (b == a ? 1.0 : 0.0));
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

void lv_infonce_backward(float *dv, float *dt, float *dlog_scale, const float *dloss,
                         const float *logits, const float *v, const float *t,
                         const float *log_scale, int64_t B, int64_t E)
{
    /* forward: loss = sum_a (lse(row a) - L_aa + lse(column a) - L_aa) / 2B, L = scale v t^T.
     * Each term is one cross-entropy weighted by dloss / 2B; d scale / ds = scale, so
     * dlog_scale += sum_ij dL_ij L_ij, or nothing while the clamp holds the scale at 100. */
    LV_REQUIRE(B > 0 && E > 0);
    int clamped;
    const double scale = lv_logit_scale(*log_scale, &clamped);
    const double c = *dloss / (2.0 * (double)B);
    double ds = 0.0;
    for (int64_t a = 0; a < B; a++) {
        ds += ce_line_backward(dv, dt, c, scale, logits, v, t, a, 0, B, E);
        ds += ce_line_backward(dv, dt, c, scale, logits, v, t, a, 1, B, E);
    }
    if (dlog_scale && !clamped)
        *dlog_scale += (float)ds;
}
