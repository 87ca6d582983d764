/* cuda/attention.cu on the host execution layer against ref/attention.c: forward out, the
 * (m, log l) cache, and the backward's dq, dk, dv accumulated onto nonzero gradients, on random
 * data for every kind of group list the graph builds (joint, factorized with index lists,
 * cross with padded keys and empty groups, text with trailing padding, a peaked softmax, causal
 * self-attention and causal decode steps over a KV cache), with
 * the port tolerances of golden/harness/tolerance.c; then a second run must be bit-identical.
 * Prints the worst margin (|got - want| / (abs + rel |want|), passing when <= 1) per tensor and
 * case; exits 1 on a failure.
 *
 * Built and run by `make check` (the host build of cuda/, linked from the library). */
#include "kernels_cuda.h"

extern "C" {
#include "kernels.h"
#include "tolerance.h"
}

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>


/* ---- random numbers ------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int64_t rng_below(int64_t n)
{
    return (int64_t)(rng_next() % (uint64_t)n);
}

static float randn(void)
{
    const double u1 = ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
    const double u2 = (double)(rng_next() >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static std::vector<float> randn_vec(size_t n, float scale = 1.0f)
{
    std::vector<float> x(n);
    for (float &e : x)
        e = randn() * scale;
    return x;
}

/* ---- a case: rows, groups, heads ----------------------------------------------------------- */

struct att_case {
    const char *name;
    int64_t Nq, Nk;                      /* query rows, key rows */
    std::vector<int64_t> q_start, k_start, q_index, k_index;   /* index lists empty: NULL */
    std::vector<uint8_t> k_valid;        /* empty: NULL */
    int64_t H, hs;
    int packed;                          /* 1: self-attention on a packed qkv (ld 3D), Nq = Nk;
                                            0: q (Nq, D) and a packed kv (Nk, 2D), ld 2D */
    float qk_scale;                      /* q and k multiplied by this (peaked softmax) */
    int causal;                          /* the end-aligned causal mask (backend.h) */
};

/* starts from sizes, first row `first` */
static std::vector<int64_t> starts(std::vector<int64_t> sizes, int64_t first = 0)
{
    std::vector<int64_t> s(1, first);
    for (int64_t n : sizes)
        s.push_back(s.back() + n);
    return s;
}

struct run_out {
    std::vector<float> out, cache, dqkv_q, dqkv_kv;   /* the gradients, in their packed buffers */
};

struct tensors {
    int64_t D, ldq, ldkv;
    std::vector<float> qbuf, kvbuf;      /* packed: qbuf = qkv, kvbuf unused */
    std::vector<float> dout, out0, dq0, dkv0;   /* initial out and gradients (nonzero) */
    const float *q() const { return qbuf.data(); }
    const float *k(int packed) const { return packed ? qbuf.data() + D : kvbuf.data(); }
    const float *v(int packed) const { return packed ? qbuf.data() + 2 * D : kvbuf.data() + D; }
};

static tensors make_tensors(const att_case &c)
{
    tensors t;
    t.D = c.H * c.hs;
    if (c.packed) {
        t.ldq = t.ldkv = 3 * t.D;
        t.qbuf = randn_vec((size_t)(c.Nq * 3 * t.D));
        for (int64_t r = 0; r < c.Nq; r++)          /* q and k columns */
            for (int64_t d = 0; d < 2 * t.D; d++)
                t.qbuf[r * 3 * t.D + d] *= c.qk_scale;
        t.dq0 = randn_vec((size_t)(c.Nq * 3 * t.D));
    } else {
        t.ldq = t.D;
        t.ldkv = 2 * t.D;
        t.qbuf = randn_vec((size_t)(c.Nq * t.D), c.qk_scale);
        t.kvbuf = randn_vec((size_t)(c.Nk * 2 * t.D));
        for (int64_t r = 0; r < c.Nk; r++)          /* k columns */
            for (int64_t d = 0; d < t.D; d++)
                t.kvbuf[r * 2 * t.D + d] *= c.qk_scale;
        t.dq0 = randn_vec((size_t)(c.Nq * t.D));
        t.dkv0 = randn_vec((size_t)(c.Nk * 2 * t.D));
    }
    t.dout = randn_vec((size_t)(c.Nq * t.D));
    t.out0 = randn_vec((size_t)(c.Nq * t.D));       /* rows in no group must keep these */
    return t;
}

static lv_attn_groups groups_of(const att_case &c)
{
    return lv_attn_groups{ (int64_t)c.q_start.size() - 1, c.q_start.data(),
                           c.q_index.empty() ? NULL : c.q_index.data(), c.k_start.data(),
                           c.k_index.empty() ? NULL : c.k_index.data(),
                           c.k_valid.empty() ? NULL : c.k_valid.data(), c.causal };
}

/* ref: every probability kept, double sums */
static run_out run_ref(const att_case &c, const tensors &t)
{
    const lv_attn_groups g = groups_of(c);
    const int64_t D = t.D;
    run_out r;
    r.out = t.out0;
    r.dqkv_q = t.dq0;
    r.dqkv_kv = t.dkv0;
    std::vector<float> att((size_t)std::max<int64_t>(1, lv_attention_cache_size(&g, c.H)));
    lv_attention_forward(r.out.data(), att.data(), t.q(), t.k(c.packed), t.v(c.packed), &g, t.ldq,
                         t.ldkv, c.H, D);
    float *dq = r.dqkv_q.data();
    float *dk = c.packed ? dq + D : r.dqkv_kv.data(), *dv = c.packed ? dq + 2 * D : dk + D;
    lv_attention_backward(dq, dk, dv, t.dout.data(), att.data(), t.q(), t.k(c.packed),
                          t.v(c.packed), &g, t.ldq, t.ldkv, c.H, D);
    return r;
}

/* cuda/attention.cu on the host layer: the (m, log l) cache, 2 H floats per query position */
static run_out run_cuda(const att_case &c, const tensors &t)
{
    const lv_attn_groups g = groups_of(c);
    const int64_t D = t.D, G = g.n_groups;
    run_out r;
    r.out = t.out0;
    r.dqkv_q = t.dq0;
    r.dqkv_kv = t.dkv0;
    r.cache.assign((size_t)std::max<int64_t>(1, 2 * c.H * (c.q_start[G] - c.q_start[0])), NAN);
    lv_cuda_attention_forward(r.out.data(), r.cache.data(), t.q(), t.k(c.packed), t.v(c.packed),
                              &g, t.ldq, t.ldkv, c.H, D);
    float *dq = r.dqkv_q.data();
    float *dk = c.packed ? dq + D : r.dqkv_kv.data(), *dv = c.packed ? dq + 2 * D : dk + D;
    lv_cuda_attention_backward(dq, dk, dv, t.dout.data(), r.out.data(), r.cache.data(), t.q(),
                               t.k(c.packed), t.v(c.packed), &g, t.ldq, t.ldkv, c.H, D);
    return r;
}

/* ---- comparisons ---------------------------------------------------------------------------- */

/* worst margin over the entries of columns [c0, c0 + w) of rows of width ld */
static double worst(const std::vector<float> &got, const std::vector<float> &want, int64_t ld,
                    int64_t c0, int64_t w, const char *tensor)
{
    const lv_tolerance *tol = lv_tolerance_get("attention", tensor, LV_CHECK_PORT);
    double m = 0.0;
    for (size_t i = 0; i < got.size(); i++) {
        const int64_t col = (int64_t)i % ld;
        if (col >= c0 && col < c0 + w)
            m = lv_margin_max(m, lv_tolerance_margin(got[i], want[i], tol->abs, tol->rel));
    }
    return m;
}

/* The cache against (m, log l) in double from the same inputs: m is the max of the fp32 scaled
 * scores, log l = log sum exp(s - m) over the keys the row sees (valid, and not after its
 * diagonal under the causal mask); a row that sees no key must hold (+inf, 0) exactly.
 * Returns the worst |difference| / (1e-5 + 1e-5 |want|) (an fp32 dot product of hs terms against
 * a double one, and an fp32 sum of exponentials), or INFINITY on a wrong empty row. */
static double cache_margin(const att_case &c, const tensors &t, const std::vector<float> &cache)
{
    const lv_attn_groups g = groups_of(c);
    const int64_t G = g.n_groups, hs = c.hs, H = c.H;
    const float scale = (float)(1.0 / sqrt((double)hs));
    double m = 0.0;
    for (int64_t gi = 0; gi < G; gi++)
        for (int64_t p = c.q_start[gi]; p < c.q_start[gi + 1]; p++)
            for (int64_t h = 0; h < H; h++) {
                const int64_t qr = g.q_index ? g.q_index[p] : p;
                std::vector<double> s;
                const int64_t nq = c.q_start[gi + 1] - c.q_start[gi];
                const int64_t nk = c.k_start[gi + 1] - c.k_start[gi];
                for (int64_t j = c.k_start[gi]; j < c.k_start[gi + 1]; j++) {
                    const int64_t kr = g.k_index ? g.k_index[j] : j;
                    if (g.k_valid && !g.k_valid[kr])
                        continue;
                    if (c.causal && j - c.k_start[gi] > p - c.q_start[gi] + nk - nq)
                        break;
                    double dot = 0.0;
                    for (int64_t d = 0; d < hs; d++)
                        dot += (double)t.q()[qr * t.ldq + h * hs + d] *
                               t.k(c.packed)[kr * t.ldkv + h * hs + d];
                    s.push_back(dot * scale);
                }
                const float *got = &cache[(size_t)(2 * ((p - c.q_start[0]) * H + h))];
                if (s.empty()) {
                    if (!(got[0] == INFINITY && got[1] == 0.0f))
                        return INFINITY;
                    continue;
                }
                double mx = -INFINITY, l = 0.0;
                for (double e : s)
                    mx = std::max(mx, e);
                for (double e : s)
                    l += exp(e - mx);
                m = lv_margin_max(m, lv_tolerance_margin(got[0], mx, 1e-5, 1e-5));
                m = lv_margin_max(m, lv_tolerance_margin(got[1], log(l), 1e-5, 1e-5));
            }
    return m;
}

static int run_case(const att_case &c)
{
    const tensors t = make_tensors(c);
    const run_out want = run_ref(c, t), got = run_cuda(c, t), again = run_cuda(c, t);
    const int64_t D = t.D;
    double mo = worst(got.out, want.out, D, 0, D, "out"), mq, mk, mv;
    if (c.packed) {
        mq = worst(got.dqkv_q, want.dqkv_q, 3 * D, 0, D, "dq");
        mk = worst(got.dqkv_q, want.dqkv_q, 3 * D, D, D, "dk");
        mv = worst(got.dqkv_q, want.dqkv_q, 3 * D, 2 * D, D, "dv");
    } else {
        mq = worst(got.dqkv_q, want.dqkv_q, D, 0, D, "dq");
        mk = worst(got.dqkv_kv, want.dqkv_kv, 2 * D, 0, D, "dk");
        mv = worst(got.dqkv_kv, want.dqkv_kv, 2 * D, D, D, "dv");
    }
    const double mc = cache_margin(c, t, got.cache);
    const size_t fb = sizeof(float);
    const int same = !memcmp(got.out.data(), again.out.data(), got.out.size() * fb) &&
                     !memcmp(got.cache.data(), again.cache.data(), got.cache.size() * fb) &&
                     !memcmp(got.dqkv_q.data(), again.dqkv_q.data(), got.dqkv_q.size() * fb) &&
                     !memcmp(got.dqkv_kv.data(), again.dqkv_kv.data(), got.dqkv_kv.size() * fb);
    const double all = lv_margin_max(lv_margin_max(mo, mq), lv_margin_max(mk, mv));
    const int ok = all <= 1.0 && mc <= 1.0 && same;
    printf("%-4s %-34s H=%lld hs=%-3lld out %.3f dq %.3f dk %.3f dv %.3f cache %.3f %s\n",
           ok ? "ok" : "FAIL", c.name, (long long)c.H, (long long)c.hs, mo, mq, mk, mv, mc,
           same ? "rerun bit-identical" : "RERUN DIFFERS");
    return ok;
}

/* ---- the cases ------------------------------------------------------------------------------ */

/* joint: one contiguous group per sample, self-attention on a packed qkv */
static att_case joint(const char *name, std::vector<int64_t> sizes, int64_t H, int64_t hs,
                      int64_t first = 0, int64_t tail = 0, float qk_scale = 1.0f)
{
    att_case c{};
    c.name = name;
    c.q_start = c.k_start = starts(sizes, first);
    c.Nq = c.Nk = c.q_start.back() + tail;           /* rows before first and after: no group */
    c.H = H;
    c.hs = hs;
    c.packed = 1;
    c.qk_scale = qk_scale;
    return c;
}

/* factorized temporal: R rows spread over G groups at random, each listed ascending by index;
 * rows with group G belong to none */
static att_case factorized(const char *name, int64_t R, int64_t G, int64_t H, int64_t hs)
{
    att_case c{};
    c.name = name;
    std::vector<int64_t> group((size_t)R), sizes((size_t)G, 0);
    for (int64_t i = 0; i < R; i++) {
        group[(size_t)i] = i < G ? i : rng_below(G + 1);  /* every group non-empty; some none */
        if (group[(size_t)i] < G)
            sizes[(size_t)group[(size_t)i]]++;
    }
    c.q_start = c.k_start = starts(sizes);
    for (int64_t gi = 0; gi < G; gi++)
        for (int64_t i = 0; i < R; i++)
            if (group[(size_t)i] == gi)
                c.q_index.push_back(i);
    c.k_index = c.q_index;
    c.Nq = c.Nk = R;
    c.H = H;
    c.hs = hs;
    c.packed = 1;
    c.qk_scale = 1.0f;
    return c;
}

/* cross (attentional pooling): per group qsizes[g] queries over ksizes[g] keys, keys padded at
 * random with the first kept, except groups listed in all_padding (every key padding); q rows
 * start at row 1 (row 0 in no group); q (Nq, D), kv packed (Nk, 2D) */
static att_case cross(const char *name, std::vector<int64_t> qsizes, std::vector<int64_t> ksizes,
                      std::vector<int64_t> all_padding, int64_t H, int64_t hs)
{
    att_case c{};
    c.name = name;
    c.q_start = starts(qsizes, 1);
    c.k_start = starts(ksizes);
    c.Nq = c.q_start.back();
    c.Nk = c.k_start.back();
    c.k_valid.assign((size_t)c.Nk, 0);
    for (size_t gi = 0; gi < ksizes.size(); gi++) {
        int none = 0;
        for (int64_t a : all_padding)
            none |= a == (int64_t)gi;
        for (int64_t j = c.k_start[gi]; j < c.k_start[gi + 1]; j++)
            c.k_valid[(size_t)j] = !none && (j == c.k_start[gi] || rng_below(3) > 0);
    }
    c.H = H;
    c.hs = hs;
    c.packed = 0;
    c.qk_scale = 1.0f;
    return c;
}

/* text: one group per caption of T tokens, valid prefixes of the given lengths */
static att_case text(const char *name, int64_t T, std::vector<int64_t> lengths, int64_t H,
                     int64_t hs)
{
    att_case c = joint(name, std::vector<int64_t>(lengths.size(), T), H, hs);
    c.k_valid.assign((size_t)c.Nk, 0);
    for (size_t b = 0; b < lengths.size(); b++)
        for (int64_t t = 0; t < lengths[b]; t++)
            c.k_valid[b * (size_t)T + (size_t)t] = 1;
    return c;
}

/* causal decode over a KV cache: group g's qsizes[g] newest queries (q (Nq, D), contiguous)
 * over its ksizes[g] cached keys in rows g cap .. (k_index; the rest of the cache in no group),
 * kv packed (Nk, 2D) */
static att_case decode(const char *name, std::vector<int64_t> qsizes, std::vector<int64_t> ksizes,
                       int64_t cap, int64_t H, int64_t hs)
{
    att_case c{};
    c.name = name;
    c.q_start = starts(qsizes);
    c.k_start = starts(ksizes);
    for (size_t gi = 0; gi < ksizes.size(); gi++)
        for (int64_t j = 0; j < ksizes[gi]; j++)
            c.k_index.push_back((int64_t)gi * cap + j);
    c.Nq = c.q_start.back();
    c.Nk = (int64_t)ksizes.size() * cap;
    c.H = H;
    c.hs = hs;
    c.packed = 0;
    c.qk_scale = 1.0f;
    c.causal = 1;
    return c;
}

static att_case causal(att_case c)
{
    c.causal = 1;
    return c;
}

int main(void)
{
    const int64_t heads[][2] = { { 1, 4 }, { 1, 16 }, { 1, 64 }, { 2, 4 }, { 2, 16 },
                                 { 2, 64 }, { 4, 4 }, { 4, 16 }, { 4, 64 } };
    std::vector<att_case> cases;
    for (const auto &hh : heads)
        cases.push_back(joint("joint 1,7,33,130", { 1, 7, 33, 130 }, hh[0], hh[1]));
    cases.push_back(joint("joint rows outside groups", { 5, 40 }, 2, 16, 2, 3));
    /* scores in the hundreds (the golden attention_peaked case: 9 rows, D 16, H 2); a longer
     * group at x8 is beyond the port tolerances for any fp32 kernel (fp32 scores of |s| ~ 100
     * carry ~1e-5 absolute error into exp: the cpu backend fails it too), so x4 there */
    cases.push_back(joint("joint peaked (q, k x8)", { 9 }, 2, 8, 0, 0, 8.0f));
    cases.push_back(joint("joint peaked (q, k x4)", { 9, 70 }, 2, 16, 0, 0, 4.0f));
    cases.push_back(joint("joint hs 128", { 20, 3 }, 1, 128));
    cases.push_back(factorized("factorized index lists", 60, 7, 4, 16));
    cases.push_back(factorized("factorized index lists", 45, 5, 2, 64));
    cases.push_back(factorized("factorized index lists", 70, 9, 1, 4));
    /* groups: 5 keys; 0 keys; 40 keys; 7 keys all padding; no query, 6 keys; 20 keys */
    for (const auto &hh : { std::array<int64_t, 2>{ 1, 4 }, std::array<int64_t, 2>{ 2, 16 },
                            std::array<int64_t, 2>{ 4, 64 } })
        cases.push_back(cross("cross padded, empty groups", { 1, 1, 2, 1, 0, 17 },
                              { 5, 0, 40, 7, 6, 20 }, { 3 }, hh[0], hh[1]));
    cases.push_back(text("text trailing padding", 12, { 12, 5, 1 }, 2, 16));
    /* causal: the triangle across 16-row tiles, with rows outside groups and with padding */
    for (const auto &hh : { std::array<int64_t, 2>{ 1, 4 }, std::array<int64_t, 2>{ 2, 16 },
                            std::array<int64_t, 2>{ 4, 64 } })
        cases.push_back(causal(joint("causal joint 1,7,33,130", { 1, 7, 33, 130 }, hh[0],
                                     hh[1], 2, 3)));
    cases.push_back(causal(text("causal text trailing padding", 40, { 40, 17, 1 }, 2, 16)));
    /* decode: 1 query over 40 keys, 3 over 7, 20 over 50 (crossing tiles), 5 over 2 (the first
     * 3 queries see no key) */
    cases.push_back(decode("causal decode (KV cache)", { 1, 3, 20, 5 }, { 40, 7, 50, 2 }, 64, 2,
                           16));
    cases.push_back(decode("causal decode (KV cache)", { 1, 3, 20, 5 }, { 40, 7, 50, 2 }, 64, 4,
                           64));

    int failed = 0;
    for (const att_case &c : cases)
        failed += !run_case(c);
    printf("%s: %d of %zu cases failed\n", failed ? "FAIL" : "ok", failed, cases.size());
    return failed ? 1 : 0;
}
