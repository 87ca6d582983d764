/* Multi-head scaled dot-product attention over groups of tokens, the plain way: the full
 * probability matrix of every group and head is stored for the backward. One kernel serves
 * joint, factorized and cross attention; only the group lists differ (see kernels.h). */
#include "kernels.h"
#include "error.h"

#include <math.h>

static int64_t row_of(const int64_t *index, int64_t i)
{
    return index ? index[i] : i;
}

int64_t lv_attention_cache_size(const lv_attn_groups *g, int64_t H)
{
    int64_t total = 0;
    for (int64_t gi = 0; gi < g->n_groups; gi++)
        total += H * (g->q_start[gi + 1] - g->q_start[gi]) * (g->k_start[gi + 1] - g->k_start[gi]);
    return total;
}

void lv_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          const lv_attn_groups *g, int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    LV_REQUIRE(H > 0 && D % H == 0);
    const int64_t hs = D / H;
    const double scale = 1.0 / sqrt((double)hs);
    float *a = att;
    for (int64_t gi = 0; gi < g->n_groups; gi++) {
        const int64_t q0 = g->q_start[gi], nq = g->q_start[gi + 1] - q0;
        const int64_t k0 = g->k_start[gi], nk = g->k_start[gi + 1] - k0;
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < nq; i++, a += nk) {
                const int64_t qr = row_of(g->q_index, q0 + i);
                const float *qi = q + qr * ldq + h * hs;
                /* scores, max-subtracted softmax over the valid keys of the group */
                double mx = -INFINITY;
                for (int64_t j = 0; j < nk; j++) {
                    const int64_t kr = row_of(g->k_index, k0 + j);
                    if (g->k_valid && !g->k_valid[kr]) {
                        a[j] = -INFINITY;
                        continue;
                    }
                    const float *kj = k + kr * ldkv + h * hs;
                    double s = 0.0;
                    for (int64_t d = 0; d < hs; d++)
                        s += (double)qi[d] * kj[d];
                    a[j] = (float)(s * scale);
                    if (a[j] > mx)
                        mx = a[j];
                }
                double sum = 0.0;
                for (int64_t j = 0; j < nk; j++)
                    sum += (a[j] == -INFINITY) ? 0.0 : exp(a[j] - mx);
                for (int64_t j = 0; j < nk; j++)   /* no valid key: all-zero row, zero output */
                    a[j] = (sum == 0.0 || a[j] == -INFINITY) ? 0.0f : (float)(exp(a[j] - mx) / sum);
                /* out = att . V */
                float *oi = out + qr * D + h * hs;
                for (int64_t d = 0; d < hs; d++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < nk; j++)
                        acc += (double)a[j] * v[row_of(g->k_index, k0 + j) * ldkv + h * hs + d];
                    oi[d] = (float)acc;
                }
            }
        }
    }
}

void lv_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v,
                           const lv_attn_groups *g, int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    LV_REQUIRE(H > 0 && D % H == 0);
    const int64_t hs = D / H;
    const double scale = 1.0 / sqrt((double)hs);
    const float *a = att;
    for (int64_t gi = 0; gi < g->n_groups; gi++) {
        const int64_t q0 = g->q_start[gi], nq = g->q_start[gi + 1] - q0;
        const int64_t k0 = g->k_start[gi], nk = g->k_start[gi + 1] - k0;
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < nq; i++, a += nk) {
                const int64_t qr = row_of(g->q_index, q0 + i);
                const float *qi = q + qr * ldq + h * hs;
                const float *doi = dout + qr * D + h * hs;
                /* forward: o = sum_j a_j v_j  =>  da_j = do . v_j,  dv_j += a_j do */
                /* forward: a = softmax(s)     =>  ds_j = a_j (da_j - sum_l a_l da_l) */
                double dot = 0.0;
                for (int64_t j = 0; j < nk; j++) {
                    const int64_t kr = row_of(g->k_index, k0 + j);
                    double da = 0.0;
                    for (int64_t d = 0; d < hs; d++)
                        da += (double)doi[d] * v[kr * ldkv + h * hs + d];
                    dot += a[j] * da;
                    if (dv)
                        for (int64_t d = 0; d < hs; d++)
                            dv[kr * ldkv + h * hs + d] += a[j] * doi[d];
                }
                /* forward: s_j = scale q . k_j  =>  dq += scale ds_j k_j,  dk_j += scale ds_j q
                 * (da_j is recomputed here: the reference keeps no scratch buffer) */
                for (int64_t j = 0; j < nk; j++) {
                    if (a[j] == 0.0f)
                        continue;
                    const int64_t kr = row_of(g->k_index, k0 + j);
                    const float *vj = v + kr * ldkv + h * hs;
                    double da = 0.0;
                    for (int64_t d = 0; d < hs; d++)
                        da += (double)doi[d] * vj[d];
                    const double ds = a[j] * (da - dot) * scale;
                    const float *kj = k + kr * ldkv + h * hs;
                    for (int64_t d = 0; d < hs; d++) {
                        if (dq)
                            dq[qr * ldq + h * hs + d] += (float)(ds * kj[d]);
                        if (dk)
                            dk[kr * ldkv + h * hs + d] += (float)(ds * qi[d]);
                    }
                }
            }
        }
    }
}
