/* Multi-head scaled dot-product attention over groups of tokens, the plain way: the full
 * probability matrix of every group and head is stored for the backward. One kernel serves
 * joint, factorized, cross and causal (decoder) attention; only the group lists differ (see
 * backend.h). No tiling, no online softmax, no skipping of masked blocks: those belong to the
 * fast backends. */
#include "kernels.h"
#include "error.h"

#include <math.h>

/* Row of member i of a group: index[i] through the list, or i itself when the list is NULL
 * (the group is then the contiguous range of rows). */
static int64_t row_of(const int64_t *index, int64_t i)
{
    return index ? index[i] : i;
}

/* The keys query i of a group may attend are the first key_limit of its nk (before k_valid):
 * all of them, or with the causal mask keys j <= i + (nk - nq), end-aligned (backend.h). */
static int64_t key_limit(const lv_attn_groups *g, int64_t i, int64_t nq, int64_t nk)
{
    if (!g->causal)
        return nk;
    const int64_t last = i + (nk - nq);                 /* the last key query i may attend */
    return last < 0 ? 0 : last + 1 < nk ? last + 1 : nk;
}

/* The cache is laid out group after group; within a group head after head, and within a head
 * one row of nk probabilities per query: an (H, nq, nk) block, in the order both passes walk. */
int64_t lv_attention_cache_size(const lv_attn_groups *g, int64_t H)
{
    int64_t total = 0;
    for (int64_t gi = 0; gi < g->n_groups; gi++)
        total += H * (g->q_start[gi + 1] - g->q_start[gi]) * (g->k_start[gi + 1] - g->k_start[gi]);
    return total;
}

/* Forward. Head h owns columns [h*hs, (h+1)*hs) of every q, k, v and out row, hs = D / H. For
 * each group, head h and query i of the group (row qr), over the group's nk keys j:
 *   s_j   = q_i . k_j / sqrt(hs)                                the scaled score
 *   a_j   = exp(s_j - max s) / sum_{l seen} exp(s_l - max s)   on keys seen, 0 on the others
 *   out_i = sum_j a_j v_j                                      (hs), at row qr, stride D
 * A key is seen when it is valid and, under the causal mask, j < key_limit (j <= i + nk - nq).
 * The scores are staged in the cache row itself (keys not seen as -inf), rounded to float there,
 * and the softmax is taken of those stored values; every dot product and the softmax sum run in
 * double, each result rounded once. Subtracting the max keeps exp from overflowing. A query
 * that sees no key (all padding, or before the first key under the causal mask) has sum = 0:
 * its row of a and its output are 0, never 0/0 = NaN. */
void lv_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          const lv_attn_groups *g, int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    LV_REQUIRE(H > 0 && D % H == 0);
    const int64_t hs = D / H;                               /* head size */
    const double scale = 1.0 / sqrt((double)hs);
    float *a = att;                       /* (nk) the cache row of the current group, head, query */
    for (int64_t gi = 0; gi < g->n_groups; gi++) {
        /* the group's queries are members [q0, q0+nq) of the query list, its keys [k0, k0+nk) */
        const int64_t q0 = g->q_start[gi], nq = g->q_start[gi + 1] - q0;
        const int64_t k0 = g->k_start[gi], nk = g->k_start[gi + 1] - k0;
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < nq; i++, a += nk) {
                const int64_t qr = row_of(g->q_index, q0 + i);
                const float *qi = q + qr * ldq + h * hs;        /* (hs) head h of query row qr */
                const int64_t seen = key_limit(g, i, nq, nk);   /* keys past it: causal mask */
                /* scores, max-subtracted softmax over the keys the query sees */
                double mx = -INFINITY;
                for (int64_t j = 0; j < nk; j++) {
                    const int64_t kr = row_of(g->k_index, k0 + j);
                    if (j >= seen || (g->k_valid && !g->k_valid[kr])) {
                        a[j] = -INFINITY;
                        continue;
                    }
                    const float *kj = k + kr * ldkv + h * hs;   /* (hs) head h of key row kr */
                    double s = 0.0;
                    for (int64_t d = 0; d < hs; d++)
                        s += (double)qi[d] * kj[d];
                    a[j] = (float)(s * scale);
                    if (a[j] > mx)
                        mx = a[j];
                }
                /* sum = sum over valid j of exp(s_j - max); padding (-inf) adds exactly 0 */
                double sum = 0.0;
                for (int64_t j = 0; j < nk; j++)
                    sum += (a[j] == -INFINITY) ? 0.0 : exp(a[j] - mx);
                for (int64_t j = 0; j < nk; j++)   /* no valid key: all-zero row, zero output */
                    a[j] = (sum == 0.0 || a[j] == -INFINITY) ? 0.0f : (float)(exp(a[j] - mx) / sum);
                /* out = att . V */
                float *oi = out + qr * D + h * hs;              /* (hs) head h of output row qr */
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

/* Backward, for one group, head and query i (all slices hs wide). In the forward pass this was
 *   out_i = sum_j a_j v_j      so   dv_j += a_j dout_i   and   da_j = dout_i . v_j;
 *   a = softmax(s)             whose Jacobian is  d a_j / d s_l = a_j (delta_jl - a_l),  so
 *                                   ds_l = sum_j da_j a_j (delta_jl - a_l) = a_l (da_l - dot),
 *                                   dot  = sum_j a_j da_j  (one scalar per query);
 *   s_j = scale q_i . k_j      so   dq_i += scale sum_j ds_j k_j   and   dk_j += scale ds_j q_i.
 * The probabilities a come from the forward's cache, walked in the same order, so no exp is
 * recomputed, and the masks come with them: a key the query did not see (padding, or after its
 * diagonal under the causal mask) has a_j = 0, hence ds_j = 0 and dv_j += 0; a query that saw
 * no key passes back 0 everywhere, the empty-set rule. Gradients accumulate (+=); dq shares the
 * stride of q and dk, dv that of k, v (a packed dqkv is filled in place); dout has stride D like
 * out; a NULL gradient is not needed and skipped. */
void lv_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v,
                           const lv_attn_groups *g, int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    LV_REQUIRE(H > 0 && D % H == 0);
    const int64_t hs = D / H;                               /* head size */
    const double scale = 1.0 / sqrt((double)hs);
    const float *a = att;                 /* (nk) the cached probabilities of the current query */
    for (int64_t gi = 0; gi < g->n_groups; gi++) {
        const int64_t q0 = g->q_start[gi], nq = g->q_start[gi + 1] - q0;
        const int64_t k0 = g->k_start[gi], nk = g->k_start[gi + 1] - k0;
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < nq; i++, a += nk) {
                const int64_t qr = row_of(g->q_index, q0 + i);
                const float *qi = q + qr * ldq + h * hs;        /* (hs) */
                const float *doi = dout + qr * D + h * hs;      /* (hs) dout_i of this head */
                /* forward: o = sum_j a_j v_j  =>  da_j = do . v_j,  dv_j += a_j do */
                /* forward: a = softmax(s)     =>  ds_j = a_j (da_j - sum_l a_l da_l) */
                double dot = 0.0;                               /* sum_l a_l da_l */
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
                    /* a_j = 0 makes ds_j = 0: keys not seen, and underflowed ones, add nothing */
                    if (a[j] == 0.0f)
                        continue;
                    const int64_t kr = row_of(g->k_index, k0 + j);
                    const float *vj = v + kr * ldkv + h * hs;   /* (hs) */
                    double da = 0.0;
                    for (int64_t d = 0; d < hs; d++)
                        da += (double)doi[d] * vj[d];
                    const double ds = a[j] * (da - dot) * scale;   /* ds_j, scale folded in */
                    const float *kj = k + kr * ldkv + h * hs;   /* (hs) */
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
