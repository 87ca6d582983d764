/* Memory-efficient multi-head attention for the cpu backend: the contract of ref/attention.c
 * (groups of query rows attending to groups of key rows, strided q/k/v, padded keys, empty rows
 * giving 0), but its cache holds two floats per query row and head instead of every
 * probability, so memory grows linearly with tokens: the row's maximum score m and log l, the
 * log of its sum of exp(s - m). (One float, lse = m + log l, would cost accuracy: exp(s - lse)
 * then carries the rounding of lse, which grows with |lse|; s - m is rounded relative to itself.)
 *
 * Forward, per (group, head, tile of ATT_BQ queries): the scores against ATT_BK keys at a time,
 * S = scale Q K^T (a tile product, below); an online softmax keeps each row's running maximum
 * m and sum l, and rescales the output accumulator by exp(m_old - m_new) as the maximum grows;
 * at the end out = O / l and the cache gets (m, log l). A row with no valid key gets out = 0
 * and m = +inf, so that the backward's exp(s - m) is 0 for it.
 *
 * The causal mask (g->causal; query i of a group sees keys j <= i + nk - nq, backend.h) is
 * applied by tiles: a query tile stops at the key tile holding its last query's last key (the
 * tiles after it would be all -inf), and the scores of a key tile that reaches past its first
 * query's last key are masked entry by entry (-inf above the diagonal). The backward skips the
 * same pairs from the key side: a key tile starts at the first query tile that sees any of its
 * keys. A skipped pair is one whose every probability is 0, so skipping changes no sum.
 *
 * Backward, per (group, head, chunk of key tiles): for every key tile of the chunk and every query
 * tile, the probabilities are recomputed, P = exp((scale Q K^T - m) - log l), and
 *     dV += P^T dO,   dP = dO V^T,   dS = P * (dP - delta) * scale,
 *     dK += dS^T Q,   dQ += dS K,    with delta = rowsum(dO * out) (FlashAttention-2).
 * dK and dV of a key tile are complete inside its chunk. dQ is summed per chunk into its own
 * scratch plane (ATT_CHUNKS planes of query rows x D) and the planes are added in order at the
 * end, so no two threads write one element and the result does not depend on the thread count.
 * Scratch: O(tile^2) per thread plus ATT_CHUNKS x query rows x D: linear in tokens.
 *
 * The tile products run inside the OpenMP loop over (group, head, tile), one thread each. In
 * fp32 they run on lv_tile_gemm (blas_glue/tile_gemm.c) when the head size is a multiple of 16
 * (every preset's is 64): each call first packs K and V transposed by head (att_setup_packed),
 * once, so that QK^T and dO V^T read their B operand as contiguous rows like the other five
 * products. On the ViT-S shapes (1568 tokens, head size 64, one thread) that made the backward
 * ~8% faster and the forward ~5% than lv_sgemm, whose small-matrix path the products took
 * before; other head sizes still use lv_sgemm (OpenBLAS runs a call made inside a parallel
 * region on the calling thread, so there is one threading level at a time).
 *
 * Under --precision bf16 (the _bf16 entry points, cpu-bf16's attention) the same loops run every
 * tile product on bf16 operands (lv_gemm_bf16_tile, fp32 accumulation and output): q, k, v and
 * dout are rounded once per call into head-major copies, so a tile is a dense block of them;
 * the probabilities P and dS are rounded per tile into per-thread buffers. The scale of S is
 * applied to the fp32 sums. Softmax, m, l, delta, O, dK, dV and dQ stay fp32. */
#include "bf16_dnnl.h"
#include "blas_glue.h"
#include "cpu_common.h"
#include "error.h"

#include <math.h>

typedef struct {
    const lv_attn_groups *g;
    const float *q, *k, *v;
    int64_t ldq, ldkv, H, hs, D;
    float scale;
    int64_t q_base, q_rows;      /* first query-list position, query-list length */
    int64_t k_base, k_rows;      /* first key-list position, key-list length */
    float *work;                 /* per-thread tiles, `stride` floats each */
    int64_t stride;
    /* bf16 only (NULL in fp32): q and dout by query-list position, k and v by key-list
     * position, head-major: q16 (H, q_rows, hs), k16 and v16 (H, k_rows, hs) */
    const uint16_t *q16, *k16, *v16, *do16;
    /* fp32 with hs a multiple of LV_TILE_GEMM_COLS (else NULL): K^T and V^T by head, (H, hs,
     * ldt), column = key-list position - k_base, zero past k_rows; every tile product then runs
     * on lv_tile_gemm */
    const float *kT, *vT;
    int64_t ldt;
} att_args;

/* A tile operand: fp32 rows f with row stride ld, or (bf16) the dense block b; with the packed
 * transposes, t (row stride tld) is the same rows transposed (a key tile of K^T or V^T) */
typedef struct {
    const float *f;
    int64_t ld;
    const uint16_t *b;
    const float *t;
    int64_t tld;
} tile_in;

static int64_t round_up(int64_t n, int64_t m)
{
    return (n + m - 1) / m * m;
}

/* C = alpha op(A) op(B) + beta C (beta 0 or 1) on bf16 operands, or fp32 ones on lv_tile_gemm
 * (x->kT set) or lv_sgemm. On lv_tile_gemm a transposed B is read from its packed transpose,
 * and the columns of a tile of scores are computed up to the next multiple of
 * LV_TILE_GEMM_COLS: the extra ones (the packed keys after the tile, or the zero padding) land
 * in the tile's row stride ATT_BK, itself a multiple, and nothing reads them. */
static void tile_product(const att_args *x, int trans_a, int trans_b, int64_t M, int64_t N,
                         int64_t K, float alpha, tile_in a, tile_in b, float beta, float *c,
                         int64_t ldc)
{
    if (a.b) {
        lv_gemm_bf16_tile(trans_a, trans_b, M, N, K, alpha, a.b, b.b, beta, c, ldc);
    } else if (x->kT) {
        lv_tile_gemm(M, round_up(N, LV_TILE_GEMM_COLS), K, alpha, a.f, trans_a ? 1 : a.ld,
                     trans_a ? a.ld : 1, trans_b ? b.t : b.f, trans_b ? b.tld : b.ld,
                     beta != 0.0f, c, ldc);
    } else {
        lv_sgemm(trans_a, trans_b, M, N, K, alpha, a.f, a.ld, b.f, b.ld, beta, c, ldc);
    }
}

/* Probabilities or dS (n, nb) in s with row stride ATT_BK as a tile operand: s itself, or (bf16,
 * b16 non-NULL) rounded into the dense b16 */
static tile_in tile_of_scores(const float *s, int64_t n, int64_t nb, uint16_t *b16)
{
    if (!b16)
        return (tile_in){ .f = s, .ld = ATT_BK };   /* only ever op(A): needs no .t */
    for (int64_t r = 0; r < n; r++) {
        #pragma omp simd
        for (int64_t j = 0; j < nb; j++)
            b16[r * nb + j] = lv_bf16_bits(s[r * ATT_BK + j]);
    }
    return (tile_in){ .b = b16 };
}

/* bf16: per-thread floats past lv_cpu_attention_thread_floats for the P and dS tiles */
enum { ATT_BF16_FLOATS = ATT_BQ * ATT_BK };

static att_args att_setup(const float *q, const float *k, const float *v, const lv_attn_groups *g,
                          int64_t ldq, int64_t ldkv, int64_t H, int64_t D, int bf16)
{
    LV_REQUIRE(H > 0 && D % H == 0);
    const int64_t hs = D / H;
    att_args x = { .g = g, .q = q, .k = k, .v = v, .ldq = ldq, .ldkv = ldkv, .H = H, .hs = hs,
                   .D = D, .scale = (float)(1.0 / sqrt((double)hs)), .q_base = g->q_start[0],
                   .q_rows = g->q_start[g->n_groups] - g->q_start[0], .k_base = g->k_start[0],
                   .k_rows = g->k_start[g->n_groups] - g->k_start[0] };
    x.stride = lv_cpu_attention_thread_floats(hs) + (bf16 ? ATT_BF16_FLOATS : 0);
    x.work = lv_cpu_scratch(SLOT_A, (size_t)(max_threads() * x.stride) * sizeof *x.work);
    return x;
}

/* Rows first .. first+n-1 of a group list, head slice at column ho, as a matrix with leading
 * dimension *ld: a view into x when the list is a range of rows, else a copy into buf. */
static const float *rows_view(const float *x, int64_t ldx, const int64_t *index, int64_t first,
                              int64_t n, int64_t ho, int64_t hs, float *buf, int64_t *ld)
{
    if (!index) {
        *ld = ldx;
        return x + first * ldx + ho;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(buf + i * hs, x + index[first + i] * ldx + ho, (size_t)hs * sizeof *buf);
    *ld = hs;
    return buf;
}

/* Rows first .. first+n-1 of a list at head h as a tile operand: rows_view of the fp32 x, or the
 * dense block of its head-major bf16 copy x16 (list positions base .. base+rows-1) */
static tile_in tile_rows(const float *x, int64_t ldx, const uint16_t *x16, int64_t base,
                         int64_t rows, const int64_t *index, int64_t first, int64_t n, int64_t h,
                         int64_t hs, float *buf)
{
    if (x16)
        return (tile_in){ .b = x16 + (h * rows + first - base) * hs };
    tile_in t = { 0 };
    t.f = rows_view(x, ldx, index, first, n, h * hs, hs, buf, &t.ld);
    return t;
}

/* A key tile (first .. first+n-1 of the key list) of k or v at head h: tile_rows, and with the
 * packed transposes xT (x->kT or x->vT) its columns there */
static tile_in key_tile(const att_args *x, const float *kv, const uint16_t *kv16,
                        const float *xT, int64_t first, int64_t n, int64_t h, float *buf)
{
    tile_in t = tile_rows(kv, x->ldkv, kv16, x->k_base, x->k_rows, x->g->k_index, first, n, h,
                          x->hs, buf);
    if (xT) {
        t.t = xT + h * x->hs * x->ldt + (first - x->k_base);
        t.tld = x->ldt;
    }
    return t;
}

/* Scores of a tile with padded keys: columns of invalid keys to -inf. */
static void mask_keys(float *s, int64_t n, int64_t nb, int64_t ld, const att_args *x,
                      int64_t kpos)
{
    const uint8_t *valid = x->g->k_valid;
    if (!valid)
        return;
    for (int64_t j = 0; j < nb; j++)
        if (!valid[list_row(x->g->k_index, kpos + j)])
            for (int64_t r = 0; r < n; r++)
                s[r * ld + j] = -INFINITY;
}

/* The causal mask of a group of nq queries and nk keys: query i sees keys j <= i + diag, with
 * diag = nk - nq (backend.h). */
static int64_t causal_diag(int64_t nq, int64_t nk)
{
    return nk - nq;
}

/* Scores of a tile of n queries from group position i0 against nb keys from position j0 (ld per
 * row) under the causal mask: -inf where j0 + j > i0 + r + diag. */
static void mask_causal(float *s, int64_t n, int64_t nb, int64_t ld, int64_t i0, int64_t j0,
                        int64_t diag)
{
    for (int64_t r = 0; r < n; r++) {
        const int64_t first = i0 + r + diag + 1 - j0;          /* the first masked column */
        for (int64_t j = first < 0 ? 0 : first; j < nb; j++)
            s[r * ld + j] = -INFINITY;
    }
}

/* ---- per-call copies of the inputs ---------------------------------------------------------- */

/* x->kT and x->vT, when the head size allows lv_tile_gemm: per head, the key list's K and V
 * transposed, a key per column, so that a key tile of K^T (the B of S = Q K^T) or of V^T (of
 * dP = dO V^T) is a run of contiguous rows. Packed once per call instead of once per 64-query
 * tile; blocks of 16 keys keep the transposition's reads and writes in cache lines. */
static void att_setup_packed(att_args *x)
{
    const lv_attn_groups *g = x->g;
    const int64_t H = x->H, hs = x->hs;
    if (hs % LV_TILE_GEMM_COLS != 0)
        return;
    x->ldt = x->k_rows + LV_TILE_GEMM_COLS;
    const int64_t plane = H * hs * x->ldt;
    float *kT = lv_cpu_scratch(SLOT_COPIES, (size_t)(2 * plane) * sizeof *kT), *vT = kT + plane;
    const int64_t blocks = (x->ldt + 15) / 16;
    #pragma omp parallel for schedule(static) if (x->k_rows * x->D > PAR_MIN)
    for (int64_t u = 0; u < H * blocks; u++) {
        const int64_t h = u / blocks, p0 = u % blocks * 16, n = min64(16, x->ldt - p0);
        for (int64_t i = 0; i < n; i++) {
            const int64_t p = p0 + i;
            const float *krow = NULL, *vrow = NULL;
            if (p < x->k_rows) {
                const int64_t row = list_row(g->k_index, x->k_base + p);
                krow = x->k + row * x->ldkv + h * hs;
                vrow = x->v + row * x->ldkv + h * hs;
            }
            for (int64_t d = 0; d < hs; d++) {
                kT[(h * hs + d) * x->ldt + p] = krow ? krow[d] : 0.0f;
                vT[(h * hs + d) * x->ldt + p] = vrow ? vrow[d] : 0.0f;
            }
        }
    }
    x->kT = kT, x->vT = vT;
}

float lv_cpu_exp_neg(float x)
{
    return exp_neg(x);
}

/* ---- forward -------------------------------------------------------------------------------- */

/* One tile: queries qpos .. qpos+n-1 of group gi, head h. */
static void att_tile_forward(float *out, float *stats, const att_args *x, int64_t gi, int64_t h,
                             int64_t qpos, int64_t n)
{
    const lv_attn_groups *g = x->g;
    const int64_t hs = x->hs, ho = h * hs;
    const int64_t q0 = g->q_start[gi], nq = g->q_start[gi + 1] - q0, i0 = qpos - q0;
    const int64_t k0 = g->k_start[gi], nk = g->k_start[gi + 1] - k0;
    const int64_t diag = causal_diag(nq, nk);
    /* keys [0, kend): all of them, or under the causal mask those the tile's last query sees */
    const int64_t kend = g->causal ? max64(0, min64(nk, i0 + n + diag)) : nk;
    float *w = x->work + thread_id() * x->stride;
    float *qbuf = w, *o = qbuf + 2 * ATT_BQ * hs, *kbuf = o + ATT_BQ * hs;
    float *vbuf = kbuf + ATT_BK * hs, *s = vbuf + 3 * ATT_BK * hs;
    float *m = s + 2 * ATT_BQ * ATT_BK, *l = m + ATT_BQ;
    /* bf16: P of a tile, (n, nb), past the fp32 tiles */
    uint16_t *p16 = x->q16 ? (uint16_t *)(w + lv_cpu_attention_thread_floats(hs)) : NULL;
    const tile_in qt = tile_rows(x->q, x->ldq, x->q16, x->q_base, x->q_rows, g->q_index, qpos,
                                 n, h, hs, qbuf);
    for (int64_t r = 0; r < n; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
    memset(o, 0, (size_t)(n * hs) * sizeof *o);
    for (int64_t j0 = 0; j0 < kend; j0 += ATT_BK) {
        const int64_t nb = min64(ATT_BK, kend - j0);
        const tile_in kt = key_tile(x, x->k, x->k16, x->kT, k0 + j0, nb, h, kbuf);
        const tile_in vt = key_tile(x, x->v, x->v16, x->vT, k0 + j0, nb, h, vbuf);
        /* S = scale Q K^T */
        tile_product(x, 0, 1, n, nb, hs, x->scale, qt, kt, 0.0f, s, ATT_BK);
        mask_keys(s, n, nb, ATT_BK, x, k0 + j0);
        if (g->causal && j0 + nb > i0 + diag + 1)     /* past the first query's last key */
            mask_causal(s, n, nb, ATT_BK, i0, j0, diag);
        for (int64_t r = 0; r < n; r++) {
            float *sr = s + r * ATT_BK;
            float mx = m[r];
            #pragma omp simd reduction(max:mx)
            for (int64_t j = 0; j < nb; j++)
                mx = sr[j] > mx ? sr[j] : mx;
            if (mx == -INFINITY) {             /* no valid key yet: this tile adds nothing */
                memset(sr, 0, (size_t)nb * sizeof *sr);
                continue;
            }
            /* online softmax: rescale what was summed under the old maximum */
            const float alpha = exp_neg(m[r] - mx);
            float sum = 0.0f;
            #pragma omp simd reduction(+:sum)
            for (int64_t j = 0; j < nb; j++) {
                sr[j] = exp_neg(sr[j] - mx);
                sum += sr[j];
            }
            l[r] = l[r] * alpha + sum;
            m[r] = mx;
            if (alpha != 1.0f)
                for (int64_t d = 0; d < hs; d++)
                    o[r * hs + d] *= alpha;
        }
        /* O += P V */
        tile_product(x, 0, 0, n, hs, nb, 1.0f, tile_of_scores(s, n, nb, p16), vt, 1.0f, o, hs);
    }
    for (int64_t r = 0; r < n; r++) {
        const int64_t p = qpos + r;
        float *orow = out + list_row(g->q_index, p) * x->D + ho;
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        for (int64_t d = 0; d < hs; d++)
            orow[d] = o[r * hs + d] * inv;
        float *cache = stats + 2 * ((p - x->q_base) * x->H + h);
        cache[0] = l[r] > 0.0f ? m[r] : INFINITY;
        cache[1] = l[r] > 0.0f ? logf(l[r]) : 0.0f;
    }
}

/* Work units are (query tile, head) pairs numbered in group order; tile_start (G+1) holds each
 * group's first tile. */
static int64_t group_of(const int64_t *start, int64_t G, int64_t unit)
{
    int64_t lo = 0, hi = G - 1;      /* the last group with start[gi] <= unit */
    while (lo < hi) {
        const int64_t mid = (lo + hi + 1) / 2;
        if (start[mid] <= unit)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static void attention_forward(float *out, float *stats, const att_args *xp)
{
    const att_args x = *xp;
    const lv_attn_groups *g = x.g;
    const int64_t H = x.H, G = g->n_groups;
    int64_t *tile_start = lv_cpu_scratch(SLOT_INDEX, (size_t)(G + 1) * sizeof *tile_start);
    tile_start[0] = 0;
    int64_t work = 0;
    for (int64_t gi = 0; gi < G; gi++) {
        const int64_t nq = g->q_start[gi + 1] - g->q_start[gi];
        tile_start[gi + 1] = tile_start[gi] + (nq + ATT_BQ - 1) / ATT_BQ;
        work += nq * (g->k_start[gi + 1] - g->k_start[gi]);
    }
    const int64_t units = tile_start[G] * H;
    /* a query row in two groups would be written by two units: then one unit at a time */
    const int parallel = work * x.hs > PAR_MIN &&
                         lv_cpu_rows_disjoint(g->q_start, g->q_index, G);
    #pragma omp parallel for schedule(dynamic) if (parallel)
    for (int64_t u = 0; u < units; u++) {
        const int64_t t = u / H, h = u % H, gi = group_of(tile_start, G, t);
        const int64_t qpos = g->q_start[gi] + (t - tile_start[gi]) * ATT_BQ;
        att_tile_forward(out, stats, &x, gi, h, qpos, min64(ATT_BQ, g->q_start[gi + 1] - qpos));
    }
}

void lv_cpu_attention_forward(float *out, float *stats, const float *q, const float *k,
                              const float *v, const lv_attn_groups *g, int64_t ldq, int64_t ldkv,
                              int64_t H, int64_t D)
{
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    att_args x = att_setup(q, k, v, g, ldq, ldkv, H, D, 0);
    att_setup_packed(&x);
    attention_forward(out, stats, &x);
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
}

/* ---- bf16 copies ----------------------------------------------------------------------------- */

/* dst (H, rows, hs) = bf16 of list positions first .. first+rows-1 of x (row stride ld), head
 * by head */
static void round_heads(uint16_t *dst, const float *x, int64_t ld, const int64_t *index,
                        int64_t first, int64_t rows, int64_t H, int64_t hs)
{
    #pragma omp parallel for schedule(static) if (rows * H * hs > PAR_MIN)
    for (int64_t p = 0; p < rows; p++) {
        const float *row = x + list_row(index, first + p) * ld;
        for (int64_t h = 0; h < H; h++) {
            uint16_t *d = dst + (h * rows + p) * hs;
            #pragma omp simd
            for (int64_t c = 0; c < hs; c++)
                d[c] = lv_bf16_bits(row[h * hs + c]);
        }
    }
}

/* x's bf16 copies of q, k, v and (dout non-NULL) dout, and oneDNN's per-thread state */
static void att_setup_bf16(att_args *x, const float *dout)
{
    const lv_attn_groups *g = x->g;
    const int64_t Q = x->q_rows, H = x->H, hs = x->hs, Kr = x->k_rows;
    uint16_t *b = lv_cpu_scratch(SLOT_COPIES, (size_t)((2 * Q + 2 * Kr) * x->D) * sizeof *b);
    uint16_t *q16 = b, *k16 = q16 + Q * x->D, *v16 = k16 + Kr * x->D, *do16 = v16 + Kr * x->D;
    round_heads(q16, x->q, x->ldq, g->q_index, x->q_base, Q, H, hs);
    round_heads(k16, x->k, x->ldkv, g->k_index, x->k_base, Kr, H, hs);
    round_heads(v16, x->v, x->ldkv, g->k_index, x->k_base, Kr, H, hs);
    if (dout)
        round_heads(do16, dout, x->D, g->q_index, x->q_base, Q, H, hs);
    x->q16 = q16, x->k16 = k16, x->v16 = v16, x->do16 = dout ? do16 : NULL;
    lv_bf16_tiles_reserve(max_threads());
}

void lv_cpu_attention_forward_bf16(float *out, float *stats, const float *q, const float *k,
                                   const float *v, const lv_attn_groups *g, int64_t ldq,
                                   int64_t ldkv, int64_t H, int64_t D)
{
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    att_args x = att_setup(q, k, v, g, ldq, ldkv, H, D, 1);
    att_setup_bf16(&x, NULL);
    attention_forward(out, stats, &x);
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
}

/* ---- backward ------------------------------------------------------------------------------- */

typedef struct {
    const float *dout, *stats, *delta;   /* stats: the forward's (m, log l) pairs */
    float *dq_part;              /* ATT_CHUNKS planes of (q_rows, D); NULL: no dq wanted */
    float *dk, *dv;
} att_grads;

/* Key tiles [t0, t1) of group gi, head h, against every query tile of the group; the chunk's
 * dQ share goes to plane `chunk`. */
static void att_chunk_backward(const att_grads *gr, const att_args *x, int64_t gi, int64_t h,
                               int64_t chunk, int64_t t0, int64_t t1)
{
    const lv_attn_groups *g = x->g;
    const int64_t hs = x->hs, ho = h * hs, H = x->H;
    const int64_t q0 = g->q_start[gi], nq = g->q_start[gi + 1] - q0;
    const int64_t k0 = g->k_start[gi], nk = g->k_start[gi + 1] - k0;
    const int64_t diag = causal_diag(nq, nk);
    float *w = x->work + thread_id() * x->stride;
    float *qbuf = w, *dobuf = qbuf + ATT_BQ * hs, *kbuf = dobuf + 2 * ATT_BQ * hs;
    float *vbuf = kbuf + ATT_BK * hs, *dk = vbuf + ATT_BK * hs, *dv = dk + ATT_BK * hs;
    float *s = dv + ATT_BK * hs, *dp = s + ATT_BQ * ATT_BK;
    /* bf16: P and dS of a tile, (n, nb) each, past the fp32 tiles */
    uint16_t *p16 = x->q16 ? (uint16_t *)(w + lv_cpu_attention_thread_floats(hs)) : NULL;
    uint16_t *ds16 = p16 ? p16 + ATT_BQ * ATT_BK : NULL;
    float *plane = gr->dq_part ? gr->dq_part + chunk * x->q_rows * x->D : NULL;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t j0 = t * ATT_BK, nb = min64(ATT_BK, nk - j0);
        const tile_in kt = key_tile(x, x->k, x->k16, x->kT, k0 + j0, nb, h, kbuf);
        const tile_in vt = key_tile(x, x->v, x->v16, x->vT, k0 + j0, nb, h, vbuf);
        memset(dk, 0, (size_t)(2 * ATT_BK * hs) * sizeof *dk);      /* dk and dv */
        /* under the causal mask the first query that sees key j0 is j0 - diag: start at its
         * tile (the query tiles before it have every probability 0 against these keys) */
        const int64_t ifirst = g->causal ? max64(0, j0 - diag) / ATT_BQ * ATT_BQ : 0;
        for (int64_t i0 = ifirst; i0 < nq; i0 += ATT_BQ) {
            const int64_t n = min64(ATT_BQ, nq - i0), qpos = q0 + i0;
            const tile_in qt = tile_rows(x->q, x->ldq, x->q16, x->q_base, x->q_rows,
                                         g->q_index, qpos, n, h, hs, qbuf);
            const tile_in dot = tile_rows(gr->dout, x->D, x->do16, x->q_base, x->q_rows,
                                          g->q_index, qpos, n, h, hs, dobuf);
            /* forward: s = scale q k^T, p = exp((s - m) - log l) */
            tile_product(x, 0, 1, n, nb, hs, x->scale, qt, kt, 0.0f, s, ATT_BK);
            mask_keys(s, n, nb, ATT_BK, x, k0 + j0);
            if (g->causal && j0 + nb > i0 + diag + 1)
                mask_causal(s, n, nb, ATT_BK, i0, j0, diag);
            for (int64_t r = 0; r < n; r++) {
                const float *cache = gr->stats + 2 * ((qpos + r - x->q_base) * H + h);
                const float mr = cache[0], log_l = cache[1];
                float *sr = s + r * ATT_BK;
                #pragma omp simd
                for (int64_t j = 0; j < nb; j++)
                    sr[j] = exp_neg((sr[j] - mr) - log_l);
            }
            /* forward: o = p v  =>  dv += p^T do,  dp = do v^T */
            tile_product(x, 1, 0, nb, hs, n, 1.0f, tile_of_scores(s, n, nb, p16), dot, 1.0f, dv,
                         hs);
            tile_product(x, 0, 1, n, nb, hs, 1.0f, dot, vt, 0.0f, dp, ATT_BK);
            /* forward: p = softmax(s)  =>  ds = p (dp - delta); then the 1/sqrt(hs) of s */
            for (int64_t r = 0; r < n; r++) {
                const float dr = gr->delta[(qpos + r - x->q_base) * H + h];
                const float *pr = s + r * ATT_BK;
                float *dsr = dp + r * ATT_BK;
                #pragma omp simd
                for (int64_t j = 0; j < nb; j++)
                    dsr[j] = pr[j] * (dsr[j] - dr) * x->scale;
            }
            /* forward: s = q k^T  =>  dk += ds^T q,  dq += ds k */
            const tile_in dst = tile_of_scores(dp, n, nb, ds16);
            tile_product(x, 1, 0, nb, hs, n, 1.0f, dst, qt, 1.0f, dk, hs);
            if (plane)
                tile_product(x, 0, 0, n, hs, nb, 1.0f, dst, kt, 1.0f,
                             plane + (qpos - x->q_base) * x->D + ho, x->D);
        }
        for (int64_t j = 0; j < nb; j++) {
            const int64_t kr = list_row(g->k_index, k0 + j0 + j);
            for (int64_t d = 0; gr->dk && d < hs; d++)
                gr->dk[kr * x->ldkv + ho + d] += dk[j * hs + d];
            for (int64_t d = 0; gr->dv && d < hs; d++)
                gr->dv[kr * x->ldkv + ho + d] += dv[j * hs + d];
        }
    }
}

/* Key tiles of a group split into at most ATT_CHUNKS chunks: chunk c holds [t0, t1). */
static int64_t chunk_count(int64_t nk)
{
    return min64(ATT_CHUNKS, (nk + ATT_BK - 1) / ATT_BK);
}

static void chunk_range(int64_t nk, int64_t c, int64_t *t0, int64_t *t1)
{
    const int64_t tiles = (nk + ATT_BK - 1) / ATT_BK, n = chunk_count(nk);
    *t0 = tiles * c / n;
    *t1 = tiles * (c + 1) / n;
}

static void attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *out, const float *stats, const att_args *xp)
{
    const att_args x = *xp;
    const lv_attn_groups *g = x.g;
    const int64_t H = x.H, D = x.D, ldq = x.ldq, G = g->n_groups, hs = x.hs, Q = x.q_rows;
    /* delta = rowsum(dout * out) per query-list position and head */
    float *delta = lv_cpu_scratch(SLOT_C, (size_t)(Q * H) * sizeof *delta);
    #pragma omp parallel for schedule(static) if (Q * D > PAR_MIN)
    for (int64_t p = 0; p < Q; p++) {
        const int64_t row = list_row(g->q_index, x.q_base + p);
        for (int64_t h = 0; h < H; h++) {
            const float *a = dout + row * D + h * hs, *b = out + row * D + h * hs;
            float acc = 0.0f;
            #pragma omp simd reduction(+:acc)
            for (int64_t d = 0; d < hs; d++)
                acc += a[d] * b[d];
            delta[p * H + h] = acc;
        }
    }
    float *part = NULL;
    if (dq) {
        part = lv_cpu_scratch(SLOT_D, (size_t)(ATT_CHUNKS * Q * D) * sizeof *part);
        memset(part, 0, (size_t)(ATT_CHUNKS * Q * D) * sizeof *part);
    }
    const att_grads gr = { dout, stats, delta, part, dk, dv };
    int64_t *unit_start = lv_cpu_scratch(SLOT_INDEX, (size_t)(G + 1) * sizeof *unit_start);
    unit_start[0] = 0;
    int64_t work = 0;
    for (int64_t gi = 0; gi < G; gi++) {
        const int64_t nk = g->k_start[gi + 1] - g->k_start[gi];
        unit_start[gi + 1] = unit_start[gi] + chunk_count(nk);
        work += (g->q_start[gi + 1] - g->q_start[gi]) * nk;
    }
    /* a key row in two groups would get dk, dv from two units: then one unit at a time */
    const int parallel = work * hs > PAR_MIN && lv_cpu_rows_disjoint(g->k_start, g->k_index, G);
    const int64_t units = unit_start[G] * H;
    #pragma omp parallel for schedule(dynamic) if (parallel)
    for (int64_t u = 0; u < units; u++) {
        const int64_t t = u / H, h = u % H, gi = group_of(unit_start, G, t);
        const int64_t c = t - unit_start[gi];
        int64_t t0, t1;
        chunk_range(g->k_start[gi + 1] - g->k_start[gi], c, &t0, &t1);
        att_chunk_backward(&gr, &x, gi, h, c, t0, t1);
    }
    /* dq += the chunk planes, added in chunk order; rows of one list position each (a query
     * row in two groups sums its positions one after the other) */
    if (dq) {
        const int q_disjoint = lv_cpu_rows_disjoint(g->q_start, g->q_index, G);
        #pragma omp parallel for schedule(static) if (q_disjoint && Q * D > PAR_MIN)
        for (int64_t p = 0; p < Q; p++) {
            float *row = dq + list_row(g->q_index, x.q_base + p) * ldq;
            for (int64_t c = 0; c < ATT_CHUNKS; c++) {
                const float *src = part + (c * Q + p) * D;
                #pragma omp simd
                for (int64_t d = 0; d < D; d++)
                    row[d] += src[d];
            }
        }
    }
}

void lv_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *out, const float *stats, const float *q, const float *k,
                               const float *v, const lv_attn_groups *g, int64_t ldq,
                               int64_t ldkv, int64_t H, int64_t D)
{
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    att_args x = att_setup(q, k, v, g, ldq, ldkv, H, D, 0);
    att_setup_packed(&x);
    attention_backward(dq, dk, dv, dout, out, stats, &x);
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
}

void lv_cpu_attention_backward_bf16(float *dq, float *dk, float *dv, const float *dout,
                                    const float *out, const float *stats, const float *q,
                                    const float *k, const float *v, const lv_attn_groups *g,
                                    int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    pthread_mutex_lock(&lv_cpu_scratch_lock);
    att_args x = att_setup(q, k, v, g, ldq, ldkv, H, D, 1);
    att_setup_bf16(&x, dout);
    attention_backward(dq, dk, dv, dout, out, stats, &x);
    pthread_mutex_unlock(&lv_cpu_scratch_lock);
}
