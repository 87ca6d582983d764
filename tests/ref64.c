/* Naive double-precision forwards (see ref64.h). Deliberately unlike ref/: no caches, no
 * max-subtraction tricks beyond what double needs, loops in the most literal order. */
#include "ref64.h"

#include <math.h>
#include <stdlib.h>

void r64_linear(double *out, const double *inp, const double *w, const double *b,
                int64_t N, int64_t C, int64_t OC)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < OC; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t c = 0; c < C; c++)
                s += inp[n * C + c] * w[o * C + c];
            out[n * OC + o] = s;
        }
}

void r64_layernorm(double *out, const double *inp, const double *w, const double *b,
                   int64_t N, int64_t C, double eps)
{
    for (int64_t n = 0; n < N; n++) {
        const double *x = inp + n * C;
        double mean = 0.0, var = 0.0;
        for (int64_t c = 0; c < C; c++)
            mean += x[c] / C;
        for (int64_t c = 0; c < C; c++)
            var += (x[c] - mean) * (x[c] - mean) / C;
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (x[c] - mean) / sqrt(var + eps) * w[c] + b[c];
    }
}

void r64_gelu(double *out, const double *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = inp[i] * 0.5 * erfc(-inp[i] / sqrt(2.0));
}

/* x / (1 + exp(-1.702 x)): the plain logistic form (exp(1702) = inf gives -0 at x = -1000) */
void r64_quick_gelu(double *out, const double *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = inp[i] / (1.0 + exp(-1.702 * inp[i]));
}

/* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the published tanh form (1 + tanh cancels to 0
 * in the deep negative tail, where the kernel's sigmoid form keeps values below any tolerance) */
void r64_gelu_tanh(double *out, const double *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const double x = inp[i];
        out[i] = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    }
}

/* q_i . k_j / sqrt(hs) for head h */
static double r64_score(const double *q, const double *k, int64_t qr, int64_t kr, int64_t ldq,
                        int64_t ldkv, int64_t h, int64_t hs)
{
    double s = 0.0;
    for (int64_t d = 0; d < hs; d++)
        s += q[qr * ldq + h * hs + d] * k[kr * ldkv + h * hs + d];
    return s / sqrt((double)hs);
}

/* Whether list entry i of group gi's queries may attend list entry j of its keys: the key is
 * valid and, under the causal mask, its place in the key list is at most the query's place in
 * the query list plus (keys - queries) of the group. */
static int r64_attends(const lv_attn_groups *g, int64_t gi, int64_t i, int64_t j)
{
    const int64_t kr = g->k_index ? g->k_index[j] : j;
    if (g->k_valid && !g->k_valid[kr])
        return 0;
    const int64_t nq = g->q_start[gi + 1] - g->q_start[gi];
    const int64_t nk = g->k_start[gi + 1] - g->k_start[gi];
    return !g->causal || j - g->k_start[gi] <= i - g->q_start[gi] + nk - nq;
}

void r64_attention(double *out, const double *q, const double *k, const double *v,
                   const lv_attn_groups *g, int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    const int64_t hs = D / H;
    for (int64_t gi = 0; gi < g->n_groups; gi++) {
        for (int64_t i = g->q_start[gi]; i < g->q_start[gi + 1]; i++) {
            const int64_t qr = g->q_index ? g->q_index[i] : i;
            for (int64_t h = 0; h < H; h++) {
                /* w_j = exp(s_j - max) over the keys attended, out = sum w_j v_j / sum w_j */
                double mx = -INFINITY;
                for (int64_t j = g->k_start[gi]; j < g->k_start[gi + 1]; j++) {
                    const int64_t kr = g->k_index ? g->k_index[j] : j;
                    if (!r64_attends(g, gi, i, j))
                        continue;
                    mx = fmax(mx, r64_score(q, k, qr, kr, ldq, ldkv, h, hs));
                }
                double wsum = 0.0;
                for (int64_t d = 0; d < hs; d++)
                    out[qr * D + h * hs + d] = 0.0;
                for (int64_t j = g->k_start[gi]; j < g->k_start[gi + 1]; j++) {
                    const int64_t kr = g->k_index ? g->k_index[j] : j;
                    if (!r64_attends(g, gi, i, j))
                        continue;
                    const double w = exp(r64_score(q, k, qr, kr, ldq, ldkv, h, hs) - mx);
                    wsum += w;
                    for (int64_t d = 0; d < hs; d++)
                        out[qr * D + h * hs + d] += w * v[kr * ldkv + h * hs + d];
                }
                for (int64_t d = 0; d < hs && wsum > 0; d++)
                    out[qr * D + h * hs + d] /= wsum;
            }
        }
    }
}

void r64_gated_residual(double *out, const double *h, const double *f, double gate, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = h[i] + tanh(gate) * f[i];
}

void r64_mean_pool(double *out, const double *inp, const uint8_t *valid,
                   int64_t B, int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; b++) {
        int64_t cnt = 0;
        for (int64_t t = 0; t < T; t++)
            cnt += !valid || valid[b * T + t];
        for (int64_t d = 0; d < D; d++) {
            double s = 0.0;
            for (int64_t t = 0; t < T; t++)
                if (!valid || valid[b * T + t])
                    s += inp[(b * T + t) * D + d];
            out[b * D + d] = cnt ? s / cnt : 0.0;
        }
    }
}

void r64_l2norm(double *out, const double *inp, int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++)
            ss += inp[n * C + c] * inp[n * C + c];
        const double nrm = fmax(sqrt(ss), (double)LV_L2NORM_EPS);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = inp[n * C + c] / nrm;
    }
}

void r64_tubelet(double *out, const double *video, const double *w, const double *b,
                 const int64_t *kept, const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    int64_t Ft, Hp, Wp;
    lv_tubelet_grid(s, &Ft, &Hp, &Wp);
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t ki = 0; ki < K; ki++) {
            const int64_t n = kept ? kept[bi * K + ki] : ki;
            const int64_t t = n / (Hp * Wp), y = (n / Wp) % Hp, x = n % Wp;
            for (int64_t d = 0; d < D; d++) {
                double acc = b ? b[d] : 0.0;
                int64_t e = 0;   /* voxel element index, (dt, dy, dx, c) order */
                for (int64_t dt = 0; dt < s->kt; dt++)
                    for (int64_t dy = 0; dy < s->kh; dy++)
                        for (int64_t dx = 0; dx < s->kw; dx++)
                            for (int64_t c = 0; c < s->C; c++, e++) {
                                const int64_t f = s->ot + t * s->st + dt;
                                const int64_t yy = s->oh + y * s->sh + dy;
                                const int64_t xx = s->ow + x * s->sw + dx;
                                const int64_t at = (((bi * s->F + f) * s->H + yy) * s->W + xx)
                                                   * s->C + c;
                                acc += w[d * (s->kt * s->kh * s->kw * s->C) + e] * video[at];
                            }
                out[(bi * K + ki) * D + d] = acc;
            }
        }
}

void r64_pos_embed(double *out, const double *inp, const double *spatial, const double *temporal,
                   const int64_t *kept, int64_t B, int64_t K, int64_t P, int64_t Ft, int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            for (int64_t d = 0; d < D; d++)
                out[(b * K + k) * D + d] = inp[(b * K + k) * D + d] + spatial[(n % P) * D + d] +
                                           (temporal ? temporal[(n / P) * D + d] : 0.0);
        }
}

void r64_segment_mean(double *out, const double *inp, const int64_t *start, int64_t G, int64_t D)
{
    for (int64_t g = 0; g < G; g++)
        for (int64_t d = 0; d < D; d++) {
            double s = 0.0;
            for (int64_t r = start[g]; r < start[g + 1]; r++)
                s += inp[r * D + d];
            out[g * D + d] = start[g + 1] > start[g] ? s / (start[g + 1] - start[g]) : 0.0;
        }
}

void r64_infonce(double *loss, double *logits, const double *v, const double *t, double log_scale,
                 int64_t B, int64_t E)
{
    const double scale = exp(fmin(log_scale, log(100.0)));
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < B; j++) {
            double s = 0.0;
            for (int64_t e = 0; e < E; e++)
                s += v[i * E + e] * t[j * E + e];
            logits[i * B + j] = scale * s;
        }
    /* -log p(text i | video i) - log p(video i | text i), p a softmax over the batch;
     * |logits| <= 100 (unit vectors), so exp needs no max subtraction in double */
    double total = 0.0;
    for (int64_t i = 0; i < B; i++) {
        double row = 0.0, col = 0.0;
        for (int64_t j = 0; j < B; j++) {
            row += exp(logits[i * B + j]);
            col += exp(logits[j * B + i]);
        }
        total += -log(exp(logits[i * B + i]) / row) - log(exp(logits[i * B + i]) / col);
    }
    *loss = total / (2.0 * B);
}

/* the mean over rows with a target >= 0 of log sum_v exp(x_v) - x_t, the plain formula (no max
 * subtracted: fine in double for |x| well below 700); lse of every row */
void r64_cross_entropy(double *loss, double *lse, const double *logits, const int32_t *targets,
                       int64_t N, int64_t V)
{
    double total = 0.0;
    int64_t count = 0;
    for (int64_t n = 0; n < N; n++) {
        double s = 0.0;
        for (int64_t v = 0; v < V; v++)
            s += exp(logits[n * V + v]);
        lse[n] = log(s);
        if (targets[n] >= 0) {
            total += -log(exp(logits[n * V + targets[n]]) / s);
            count++;
        }
    }
    *loss = count ? total / count : 0.0;
}
