/* Memory-efficient multi-head attention over groups for the cuda backend (attention_lse = 1),
 * FlashAttention-2 style, fp32 throughout, written to be read rather than to be fast. The
 * contract is ref/attention.c's (ref/backend.h): queries attend only to the keys of their own
 * group, rows come from index lists or contiguous ranges, padded keys (k_valid = 0) are never
 * attended, a query with no valid key outputs 0 and passes back 0, rows in no group are left
 * untouched, q, k, v are strided (a packed qkv works in place), the backward accumulates (+=)
 * and skips a NULL gradient.
 *
 * The cache is the cpu backend's (blas_glue/attention_cpu.c), 2 H floats per query-list
 * position p = q_start[g] + i (counted from q_start[0]):
 *     cache[2 ((p - q_start[0]) H + h) + 0] = m,     the row's maximum scaled score
 *     cache[2 ((p - q_start[0]) H + h) + 1] = log l, l = sum over valid keys of exp(s - m)
 * and a row with no valid key stores (m, log l) = (+inf, 0), so that the backward's
 * exp((s - m) - log l) is 0 for it.
 *
 * Tiles: ATT_TILE query rows by ATT_TILE key rows, each staged in shared memory for one head
 * (head size hs <= ATT_HS_MAX; rows padded to hs + 1 floats so that a warp reading one column of
 * several rows hits distinct banks). A block has ATT_THREADS threads; a tile's (row, column)
 * accumulators (O, dQ, dK, dV) live in registers, element e = threadIdx.x + r ATT_THREADS of the
 * tile belonging to register r of thread threadIdx.x.
 *
 * Grid: the host knows n_groups and H but none of the group sizes (they are device memory), so
 * every kernel launches n_groups x H x `slots` blocks, block b serving group b / (H slots), head
 * (b / slots) % H and slot b % slots, and each block walks its group's tiles slot, slot + slots,
 * slot + 2 slots, ... (a grid-stride loop inside the group). slots is chosen on the host from
 * n_groups H alone so that the grid has about ATT_TARGET_BLOCKS blocks; which block serves a
 * tile never changes what the tile computes, so results do not depend on it.
 *
 * Forward (attention_forward_kernel), per query tile: for each key tile in order, S = scale Q K^T
 * (padding -inf), then per row an online softmax keeping the running maximum m and sum l,
 * rescaling the output accumulator by exp(m_old - m_new) as the maximum grows: O = alpha O + P V.
 * At the end out = O / l and the cache gets (m, log l).
 *
 * Backward, recomputing the probabilities P = exp((scale Q K^T - m) - log l) tile by tile, with
 * delta_i = rowsum(dout_i * out_i) per head (FlashAttention-2):
 *     dV += P^T dO,  dP = dO V^T,  dS = P (dP - delta) scale,  dK += dS^T Q,  dQ += dS K.
 * Deterministic without atomics, in two passes that each own what they write:
 *  - key-major (attention_dkdv_kernel): a block owns a key tile of one (group, head) and walks
 *    the group's query tiles in order, summing dK and dV in registers; one thread per element
 *    adds the total to dk, dv at the end;
 *  - query-major (attention_dq_kernel): a block owns a query tile and walks the key tiles in
 *    order, summing dQ in registers, then adds it to dq.
 * Each gradient element is therefore summed by one thread in a fixed order, and two runs are
 * bit-identical. The price is computing P and dP twice (once per pass); no scratch memory.
 *
 * The causal mask (g.causal: query i of a group sees keys j <= i + diag, diag = nk - nq,
 * end-aligned, backend.h) is one more condition beside the key's validity wherever a score is
 * made (att_sees), and it shortens the tile loops: a query tile walks the key tiles up to its
 * last query's last key (att_key_end), a key tile the query tiles from the first that sees its
 * first key (att_query_begin). The pairs skipped have every probability 0, so no sum changes;
 * the bounds come from the group extents, the same for every thread of a block.
 *
 * Precondition (as in every group list the graph builds, ref/model.c): a query row belongs to at
 * most one group, and so does a key row. Two groups sharing a row would have two blocks writing
 * it (ref and cpu then go group by group; here it would be a race).
 *
 * Barriers: every loop bound in a kernel is the same for all threads of the block (it comes from
 * the group extents), so every thread reaches every __syncthreads; only per-thread work sits
 * inside `if`s. Static shared memory only, 1D blocks, no shuffles: the host layer's rules
 * (host_exec.h). */
#include "kernels_cuda.h"

#include <math.h>

static constexpr int ATT_TILE = 16;                  /* query rows and key rows per tile */
static constexpr int ATT_THREADS = 64;               /* threads per block */
static constexpr int ATT_HS_MAX = 128;               /* the largest head size */
static constexpr int ATT_LD_MAX = ATT_HS_MAX + 1;    /* a staged row, padded */
static constexpr int ATT_ACC = ATT_TILE * ATT_HS_MAX / ATT_THREADS;  /* registers per thread */

/* About this many blocks per launch: enough to fill a GPU; on the host layer, which runs blocks
 * one after another, empty blocks only cost time, so few. */
#ifdef __CUDACC__
static constexpr int64_t ATT_TARGET_BLOCKS = 1024;
#define ATT_UNROLL _Pragma("unroll")
#else
static constexpr int64_t ATT_TARGET_BLOCKS = 16;
#define ATT_UNROLL
#endif

/* The row of list position pos: index[pos], or pos itself when the list is NULL. */
static __device__ __forceinline__ int64_t att_row(const int64_t *index, int64_t pos)
{
    return index ? index[pos] : pos;
}

static __device__ __forceinline__ int att_min(int64_t a, int64_t b)
{
    return (int)(a < b ? a : b);
}

/* Under the causal mask query i of a group of nq queries and nk keys sees keys
 * j <= i + (nk - nq); without it every key. */
static __device__ __forceinline__ bool att_sees(const lv_attn_groups &g, int64_t i, int64_t j,
                                               int64_t nq, int64_t nk)
{
    return !g.causal || j <= i + (nk - nq);
}

/* The end of the keys a query tile (group positions i0 .. i0 + n) sees: all nk, or under the
 * causal mask those up to its last query's last key. */
static __device__ __forceinline__ int64_t att_key_end(const lv_attn_groups &g, int64_t i0, int n,
                                                      int64_t nq, int64_t nk)
{
    const int64_t end = i0 + n + (nk - nq);
    return !g.causal ? nk : end < 0 ? 0 : end < nk ? end : nk;
}

/* The first query tile that sees any key of the key tile starting at j0: 0, or under the causal
 * mask the tile of query j0 - (nk - nq). */
static __device__ __forceinline__ int64_t att_query_begin(const lv_attn_groups &g, int64_t j0,
                                                          int64_t nq, int64_t nk)
{
    const int64_t first = j0 - (nk - nq);
    return !g.causal || first < 0 ? 0 : first / ATT_TILE * ATT_TILE;
}

/* Which (group, head, slot) block blockIdx.x serves. */
struct att_unit {
    int64_t g, h, slot;
};

static __device__ __forceinline__ att_unit att_unit_of(int64_t H, int slots)
{
    const int64_t b = blockIdx.x;
    return att_unit{ b / ((int64_t)H * slots), (b / slots) % H, b % slots };
}

/* Stages head columns [ho, ho + hs) of rows rows[0 .. n) of x (row stride ld) into tile (row
 * stride hs + 1). Rows not kept (keep[r] = 0: padding keys) and rows n .. ATT_TILE - 1 are
 * zeros, so nothing from them, NaN included, reaches a sum. */
static __device__ void att_load_tile(float *tile, const float *x, int64_t ld, const int64_t *rows,
                                     const uint8_t *keep, int n, int64_t ho, int hs)
{
    for (int e = (int)threadIdx.x; e < ATT_TILE * hs; e += ATT_THREADS) {
        const int r = e / hs, d = e % hs;
        tile[r * (hs + 1) + d] = r < n && (!keep || keep[r]) ? x[rows[r] * ld + ho + d] : 0.0f;
    }
}

/* The dot product of two staged rows. */
static __device__ __forceinline__ float att_dot(const float *a, const float *b, int hs)
{
    float s = 0.0f;
    for (int d = 0; d < hs; d++)
        s += a[d] * b[d];
    return s;
}

/* Staging of a query tile shared by the backward passes: the rows of list positions
 * q0 + i0 .. q0 + i0 + n, and per row the cache's (m, log l) and delta = rowsum(dout * out) of
 * head h (threads 0 .. ATT_TILE - 1, one row each). */
static __device__ void att_query_rows(int64_t *qrow, float *m, float *log_l, float *delta,
                                      const lv_attn_groups &g, const float *cache,
                                      const float *dout, const float *out, int64_t q0, int64_t i0,
                                      int n, int64_t h, int64_t H, int hs)
{
    const int i = (int)threadIdx.x;
    if (i < n) {
        const int64_t row = att_row(g.q_index, q0 + i0 + i), D = H * hs;
        const float *c = cache + 2 * ((q0 + i0 + i - g.q_start[0]) * H + h);
        const float *a = dout + row * D + h * hs, *b = out + row * D + h * hs;
        float acc = 0.0f;
        for (int d = 0; d < hs; d++)
            acc += a[d] * b[d];
        qrow[i] = row;
        m[i] = c[0];
        log_l[i] = c[1];
        delta[i] = acc;
    }
}

/* Staging of a key tile (list positions k0 + j0 .. k0 + j0 + nb): rows and validity (threads
 * 0 .. ATT_TILE - 1, one key each; keys past nb count as padding). */
static __device__ void att_key_rows(int64_t *krow, uint8_t *kok, const lv_attn_groups &g,
                                    int64_t k0, int64_t j0, int nb)
{
    const int j = (int)threadIdx.x;
    if (j < ATT_TILE) {
        const int64_t row = j < nb ? att_row(g.k_index, k0 + j0 + j) : 0;
        krow[j] = row;
        kok[j] = j < nb && (!g.k_valid || g.k_valid[row]);
    }
}

/* The backward's recomputation for one (query tile, key tile) pair, both staged (n queries from
 * group position i0, keys from j0): P = exp((scale q k - m) - log l) and
 * dS = P (dO . v - delta) scale, 0 on padding keys, on keys the causal mask hides and on rows
 * or keys past the tiles' ends. */
static __device__ void att_probs_and_dscores(float (*P)[ATT_TILE], float (*dS)[ATT_TILE],
                                             const float *Qs, const float *dOs, const float *Ks,
                                             const float *Vs, const float *m, const float *log_l,
                                             const float *delta, const uint8_t *kok,
                                             const lv_attn_groups &g, int64_t i0, int64_t j0,
                                             int64_t nq, int64_t nk, int n, int hs, float scale)
{
    const int ld = hs + 1;
    for (int e = (int)threadIdx.x; e < ATT_TILE * ATT_TILE; e += ATT_THREADS) {
        const int i = e / ATT_TILE, j = e % ATT_TILE;
        float p = 0.0f, ds = 0.0f;
        if (i < n && kok[j] && att_sees(g, i0 + i, j0 + j, nq, nk)) {
            /* forward: s = scale q.k, p = exp(s - m) / l */
            const float s = att_dot(Qs + i * ld, Ks + j * ld, hs) * scale;
            p = expf((s - m[i]) - log_l[i]);
            /* forward: o = sum_j p_j v_j  =>  dp_j = dO . v_j;  p = softmax(s)  =>
             * ds_j = p_j (dp_j - sum_l p_l dp_l) with sum_l p_l dp_l = dO . o = delta */
            const float dp = att_dot(dOs + i * ld, Vs + j * ld, hs);
            ds = p * (dp - delta[i]) * scale;
        }
        P[i][j] = p;
        dS[i][j] = ds;
    }
}

/* ---- forward ------------------------------------------------------------------------------- */

static __global__ void attention_forward_kernel(float *out, float *cache, const float *q,
                                                const float *k, const float *v, lv_attn_groups g,
                                                int64_t ldq, int64_t ldkv, int64_t H, int hs,
                                                float scale, int slots)
{
    __shared__ float Qs[ATT_TILE * ATT_LD_MAX], Ks[ATT_TILE * ATT_LD_MAX],
        Vs[ATT_TILE * ATT_LD_MAX];
    __shared__ float S[ATT_TILE][ATT_TILE];          /* scores, then probabilities */
    __shared__ int64_t qrow[ATT_TILE], krow[ATT_TILE];
    __shared__ uint8_t kok[ATT_TILE];                /* key j of the tile is valid */
    __shared__ float m[ATT_TILE], l[ATT_TILE], alpha[ATT_TILE];   /* online softmax per row */

    const int tid = (int)threadIdx.x, ld = hs + 1;
    const att_unit u = att_unit_of(H, slots);
    const int64_t D = H * hs, ho = u.h * hs;
    const int64_t q0 = g.q_start[u.g], nq = g.q_start[u.g + 1] - q0;
    const int64_t k0 = g.k_start[u.g], nk = g.k_start[u.g + 1] - k0;

    for (int64_t i0 = u.slot * ATT_TILE; i0 < nq; i0 += (int64_t)slots * ATT_TILE) {
        const int n = att_min(ATT_TILE, nq - i0);            /* queries in this tile */
        __syncthreads();                                     /* the last tile is done with them */
        if (tid < ATT_TILE) {
            qrow[tid] = tid < n ? att_row(g.q_index, q0 + i0 + tid) : 0;
            m[tid] = -INFINITY;
            l[tid] = 0.0f;
        }
        __syncthreads();
        att_load_tile(Qs, q, ldq, qrow, NULL, n, ho, hs);
        float acc[ATT_ACC] = {};                             /* O, unnormalised */
        const int64_t kend = att_key_end(g, i0, n, nq, nk);  /* keys the tile sees: [0, kend) */

        for (int64_t j0 = 0; j0 < kend; j0 += ATT_TILE) {
            const int nb = att_min(ATT_TILE, kend - j0);     /* keys in this tile */
            __syncthreads();                                 /* done with the last K, V, S */
            att_key_rows(krow, kok, g, k0, j0, nb);
            __syncthreads();
            att_load_tile(Ks, k, ldkv, krow, kok, nb, ho, hs);
            att_load_tile(Vs, v, ldkv, krow, kok, nb, ho, hs);
            __syncthreads();
            /* S = scale Q K^T, -inf on padding and where the causal mask hides the key */
            for (int e = tid; e < ATT_TILE * ATT_TILE; e += ATT_THREADS) {
                const int i = e / ATT_TILE, j = e % ATT_TILE;
                S[i][j] = i < n && kok[j] && att_sees(g, i0 + i, j0 + j, nq, nk)
                              ? att_dot(Qs + i * ld, Ks + j * ld, hs) * scale
                              : -INFINITY;
            }
            __syncthreads();
            /* online softmax, one thread per query row: P = exp(S - m_new), l and O rescaled
             * by alpha = exp(m_old - m_new) */
            if (tid < n) {
                const int i = tid;
                float mx = m[i];
                for (int j = 0; j < nb; j++)
                    mx = fmaxf(mx, S[i][j]);
                if (mx == -INFINITY) {                       /* no valid key yet: adds nothing */
                    for (int j = 0; j < nb; j++)
                        S[i][j] = 0.0f;
                    alpha[i] = 1.0f;
                } else {
                    const float a = expf(m[i] - mx);         /* 0 while m was -inf */
                    float sum = 0.0f;
                    for (int j = 0; j < nb; j++) {
                        S[i][j] = expf(S[i][j] - mx);        /* padding: exp(-inf) = 0 */
                        sum += S[i][j];
                    }
                    l[i] = l[i] * a + sum;
                    m[i] = mx;
                    alpha[i] = a;
                }
            }
            __syncthreads();
            /* O = alpha O + P V */
            ATT_UNROLL
            for (int r = 0; r < ATT_ACC; r++) {
                const int e = tid + r * ATT_THREADS;
                if (e < n * hs) {
                    const int i = e / hs, d = e % hs;
                    float pv = 0.0f;
                    for (int j = 0; j < nb; j++)
                        pv += S[i][j] * Vs[j * ld + d];
                    acc[r] = acc[r] * alpha[i] + pv;
                }
            }
        }
        /* out = O / l (0 without a valid key); the cache gets (m, log l), or (+inf, 0) */
        ATT_UNROLL
        for (int r = 0; r < ATT_ACC; r++) {
            const int e = tid + r * ATT_THREADS;
            if (e < n * hs) {
                const int i = e / hs, d = e % hs;
                const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
                out[qrow[i] * D + ho + d] = acc[r] * inv;
            }
        }
        if (tid < n) {
            float *c = cache + 2 * ((q0 + i0 + tid - g.q_start[0]) * H + u.h);
            c[0] = l[tid] > 0.0f ? m[tid] : INFINITY;
            c[1] = l[tid] > 0.0f ? logf(l[tid]) : 0.0f;
        }
    }
}

/* ---- backward, key-major: dk, dv ------------------------------------------------------------ */

static __global__ void attention_dkdv_kernel(float *dk, float *dv, const float *dout,
                                             const float *out, const float *cache, const float *q,
                                             const float *k, const float *v, lv_attn_groups g,
                                             int64_t ldq, int64_t ldkv, int64_t H, int hs,
                                             float scale, int slots)
{
    __shared__ float Qs[ATT_TILE * ATT_LD_MAX], dOs[ATT_TILE * ATT_LD_MAX],
        Ks[ATT_TILE * ATT_LD_MAX], Vs[ATT_TILE * ATT_LD_MAX];
    __shared__ float P[ATT_TILE][ATT_TILE], dS[ATT_TILE][ATT_TILE];
    __shared__ int64_t qrow[ATT_TILE], krow[ATT_TILE];
    __shared__ uint8_t kok[ATT_TILE];
    __shared__ float m[ATT_TILE], log_l[ATT_TILE], delta[ATT_TILE];

    const int tid = (int)threadIdx.x, ld = hs + 1;
    const att_unit u = att_unit_of(H, slots);
    const int64_t D = H * hs, ho = u.h * hs;
    const int64_t q0 = g.q_start[u.g], nq = g.q_start[u.g + 1] - q0;
    const int64_t k0 = g.k_start[u.g], nk = g.k_start[u.g + 1] - k0;

    for (int64_t j0 = u.slot * ATT_TILE; j0 < nk; j0 += (int64_t)slots * ATT_TILE) {
        const int nb = att_min(ATT_TILE, nk - j0);           /* keys this block owns now */
        __syncthreads();                                     /* the last tile is done with them */
        att_key_rows(krow, kok, g, k0, j0, nb);
        __syncthreads();
        att_load_tile(Ks, k, ldkv, krow, kok, nb, ho, hs);
        att_load_tile(Vs, v, ldkv, krow, kok, nb, ho, hs);
        float dk_acc[ATT_ACC] = {}, dv_acc[ATT_ACC] = {};

        /* every query tile of the group that sees these keys, in order: the fixed order of the
         * dk, dv sums */
        for (int64_t i0 = att_query_begin(g, j0, nq, nk); i0 < nq; i0 += ATT_TILE) {
            const int n = att_min(ATT_TILE, nq - i0);
            __syncthreads();                                 /* done with the last Q, dO, P, dS */
            att_query_rows(qrow, m, log_l, delta, g, cache, dout, out, q0, i0, n, u.h, H, hs);
            __syncthreads();
            att_load_tile(Qs, q, ldq, qrow, NULL, n, ho, hs);
            att_load_tile(dOs, dout, D, qrow, NULL, n, ho, hs);
            __syncthreads();
            att_probs_and_dscores(P, dS, Qs, dOs, Ks, Vs, m, log_l, delta, kok, g, i0, j0, nq,
                                  nk, n, hs, scale);
            __syncthreads();
            /* dV += P^T dO,  dK += dS^T Q */
            ATT_UNROLL
            for (int r = 0; r < ATT_ACC; r++) {
                const int e = tid + r * ATT_THREADS;
                if (e < nb * hs) {
                    const int j = e / hs, d = e % hs;
                    for (int i = 0; i < n; i++) {
                        dv_acc[r] += P[i][j] * dOs[i * ld + d];
                        dk_acc[r] += dS[i][j] * Qs[i * ld + d];
                    }
                }
            }
        }
        /* padding keys were never attended: they get nothing */
        ATT_UNROLL
        for (int r = 0; r < ATT_ACC; r++) {
            const int e = tid + r * ATT_THREADS;
            if (e < nb * hs && kok[e / hs]) {
                const int64_t at = krow[e / hs] * ldkv + ho + e % hs;
                if (dk)
                    dk[at] += dk_acc[r];
                if (dv)
                    dv[at] += dv_acc[r];
            }
        }
    }
}

/* ---- backward, query-major: dq -------------------------------------------------------------- */

static __global__ void attention_dq_kernel(float *dq, const float *dout, const float *out,
                                           const float *cache, const float *q, const float *k,
                                           const float *v, lv_attn_groups g, int64_t ldq,
                                           int64_t ldkv, int64_t H, int hs, float scale,
                                           int slots)
{
    __shared__ float Qs[ATT_TILE * ATT_LD_MAX], dOs[ATT_TILE * ATT_LD_MAX],
        Ks[ATT_TILE * ATT_LD_MAX], Vs[ATT_TILE * ATT_LD_MAX];
    __shared__ float P[ATT_TILE][ATT_TILE], dS[ATT_TILE][ATT_TILE];
    __shared__ int64_t qrow[ATT_TILE], krow[ATT_TILE];
    __shared__ uint8_t kok[ATT_TILE];
    __shared__ float m[ATT_TILE], log_l[ATT_TILE], delta[ATT_TILE];

    const int tid = (int)threadIdx.x, ld = hs + 1;
    const att_unit u = att_unit_of(H, slots);
    const int64_t D = H * hs, ho = u.h * hs;
    const int64_t q0 = g.q_start[u.g], nq = g.q_start[u.g + 1] - q0;
    const int64_t k0 = g.k_start[u.g], nk = g.k_start[u.g + 1] - k0;

    for (int64_t i0 = u.slot * ATT_TILE; i0 < nq; i0 += (int64_t)slots * ATT_TILE) {
        const int n = att_min(ATT_TILE, nq - i0);            /* queries this block owns now */
        __syncthreads();                                     /* the last tile is done with them */
        att_query_rows(qrow, m, log_l, delta, g, cache, dout, out, q0, i0, n, u.h, H, hs);
        __syncthreads();
        att_load_tile(Qs, q, ldq, qrow, NULL, n, ho, hs);
        att_load_tile(dOs, dout, D, qrow, NULL, n, ho, hs);
        float dq_acc[ATT_ACC] = {};
        const int64_t kend = att_key_end(g, i0, n, nq, nk);

        /* every key tile the query tile sees, in order: the fixed order of the dq sums */
        for (int64_t j0 = 0; j0 < kend; j0 += ATT_TILE) {
            const int nb = att_min(ATT_TILE, kend - j0);
            __syncthreads();                                 /* done with the last K, V, dS */
            att_key_rows(krow, kok, g, k0, j0, nb);
            __syncthreads();
            att_load_tile(Ks, k, ldkv, krow, kok, nb, ho, hs);
            att_load_tile(Vs, v, ldkv, krow, kok, nb, ho, hs);
            __syncthreads();
            att_probs_and_dscores(P, dS, Qs, dOs, Ks, Vs, m, log_l, delta, kok, g, i0, j0, nq,
                                  nk, n, hs, scale);
            __syncthreads();
            /* dQ += dS K */
            ATT_UNROLL
            for (int r = 0; r < ATT_ACC; r++) {
                const int e = tid + r * ATT_THREADS;
                if (e < n * hs) {
                    const int i = e / hs, d = e % hs;
                    for (int j = 0; j < nb; j++)
                        dq_acc[r] += dS[i][j] * Ks[j * ld + d];
                }
            }
        }
        ATT_UNROLL
        for (int r = 0; r < ATT_ACC; r++) {
            const int e = tid + r * ATT_THREADS;
            if (e < n * hs)
                dq[qrow[e / hs] * ldq + ho + e % hs] += dq_acc[r];
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

/* Blocks per (group, head): about ATT_TARGET_BLOCKS in all, at least one each. Host ints only. */
static int att_slots(int64_t groups_heads)
{
    const int64_t s = (ATT_TARGET_BLOCKS + groups_heads - 1) / groups_heads;
    return (int)(s < 1 ? 1 : s);
}

static unsigned att_grid(int64_t groups_heads, int slots)
{
    const int64_t blocks = groups_heads * slots;
    LV_REQUIRE(blocks <= 0x7fffffff);                        /* CUDA's grid.x limit */
    return (unsigned)blocks;
}

static float att_scale(int64_t hs)
{
    return (float)(1.0 / sqrt((double)hs));
}

void lv_cuda_attention_forward(float *out, float *cache, const float *q, const float *k,
                               const float *v, const lv_attn_groups *g, int64_t ldq,
                               int64_t ldkv, int64_t H, int64_t D)
{
    LV_REQUIRE(H > 0 && D % H == 0 && D / H <= ATT_HS_MAX);
    if (g->n_groups <= 0 || D == 0)
        return;
    const int hs = (int)(D / H), slots = att_slots(g->n_groups * H);
    LV_LAUNCH(attention_forward_kernel, att_grid(g->n_groups * H, slots), ATT_THREADS, out,
              cache, q, k, v, *g, ldq, ldkv, H, hs, att_scale(hs), slots);
    lv_cuda_check("attention_forward");
}

void lv_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *out, const float *cache, const float *q,
                                const float *k, const float *v, const lv_attn_groups *g,
                                int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    LV_REQUIRE(H > 0 && D % H == 0 && D / H <= ATT_HS_MAX);
    if (g->n_groups <= 0 || D == 0)
        return;
    const int hs = (int)(D / H), slots = att_slots(g->n_groups * H);
    const unsigned grid = att_grid(g->n_groups * H, slots);
    if (dk || dv)
        LV_LAUNCH(attention_dkdv_kernel, grid, ATT_THREADS, dk, dv, dout, out, cache, q, k, v,
                  *g, ldq, ldkv, H, hs, att_scale(hs), slots);
    if (dq)
        LV_LAUNCH(attention_dq_kernel, grid, ATT_THREADS, dq, dout, out, cache, q, k, v, *g, ldq,
                  ldkv, H, hs, att_scale(hs), slots);
    lv_cuda_check("attention_backward");
}
