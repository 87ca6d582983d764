/* The attention tiles' matmul (cpu_common.h, lv_tile_gemm): C = alpha A B (+ C), with A read
 * element by element through two strides and B's rows contiguous, written for the shapes of
 * blas_glue/attention_cpu.c: 64-row tiles, 64-wide heads, a few hundred keys.
 *
 * Why not lv_sgemm: a tile product is ~2 MFLOP, small enough that OpenBLAS's per-call work
 * (its dispatch, its small-matrix path reading strided operands) costs 20-35% of it, and every
 * 64-query tile of a (group, head) hands OpenBLAS the same keys again. Here the attention packs
 * each head's K^T and V^T once per call (attention_cpu.c), so the B operand of QK^T and dO V^T is
 * a run of contiguous rows too, and this one register-blocked loop serves all seven products of
 * the forward and the backward, transposed or not, by the strides of A.
 *
 * The register block: R rows of C by NV vectors of 16 floats, R * NV accumulators; for each k,
 * NV loads of B's row k and R broadcasts of A(r, k), R * NV fused multiply-adds. R = 6, NV = 4
 * (24 accumulators, 4 + 6 loads for 24 FMAs) is the main block; the column tails take NV = 2
 * and 1, the row tails R = 1 .. 5. The vectors are GCC/Clang vector extensions: the compiler
 * maps them to one AVX-512 register where the target has it (blas_glue builds with
 * -march=native) and to two AVX or four SSE registers elsewhere, so the file is portable C;
 * only the fused multiply-add names its instruction (fma16). */
#include "cpu_common.h"
#include "error.h"

#include <string.h>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

typedef float v16 __attribute__((vector_size(64)));

/* K is taken TILE_KC at a time: the B rows of one slice (128 x 64 floats, 32 KiB) stay in the
 * L1 cache while every row block of A passes over them (attention's forward and backward ran
 * ~4% faster than with K whole, one thread, ViT-S shapes; 64, 96, 120 and 160 were slower) */
enum { TILE_KC = 128 };

static inline v16 load16(const float *p)
{
    v16 x;
    memcpy(&x, p, sizeof x);               /* an unaligned vector load */
    return x;
}

static inline void store16(float *p, v16 x)
{
    memcpy(p, &x, sizeof x);
}

/* a in every lane (not (v16){ 0 } + a: C must keep -0 + 0 = +0, an extra add per broadcast) */
static inline v16 bcast16(float a)
{
    return (v16){ a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a };
}

/* a b + c, fused where the target has FMA (C11 does not contract a * b + c on its own) */
static inline v16 fma16(v16 a, v16 b, v16 c)
{
#if defined(__AVX512F__)
    return (v16)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(__FMA__)
    __m256 h[3][2];
    memcpy(h[0], &a, sizeof a);
    memcpy(h[1], &b, sizeof b);
    memcpy(h[2], &c, sizeof c);
    for (int i = 0; i < 2; i++)
        h[2][i] = _mm256_fmadd_ps(h[0][i], h[1][i], h[2][i]);
    memcpy(&c, h[2], sizeof c);
    return c;
#else
    return a * b + c;
#endif
}

/* The R x (16 NV) block of C at c: acc = sum_k A(r, k) B[k][0 .. 16 NV), then C = alpha acc
 * (+ C when accumulate). R and NV are constants at every call, so the loops unroll and acc
 * lives in registers. */
static inline __attribute__((always_inline)) void
block(const int R, const int NV, int64_t K, float alpha, const float *a, int64_t sar,
      int64_t sak, const float *b, int64_t ldb, int accumulate, float *c, int64_t ldc)
{
    v16 acc[6][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = bcast16(0.0f);
    for (int64_t k = 0; k < K; k++) {
        const float *bk = b + k * ldb, *ak = a + k * sak;
        v16 bv[4];
        for (int v = 0; v < NV; v++)
            bv[v] = load16(bk + 16 * v);
        for (int r = 0; r < R; r++) {
            const v16 ar = bcast16(ak[r * sar]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = fma16(ar, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) {
            float *cr = c + r * ldc + 16 * v;
            const v16 x = alpha * acc[r][v];
            store16(cr, accumulate ? load16(cr) + x : x);
        }
}

/* Every row block of one column panel of NV vectors: blocks of 6 rows, then the 1-5 left */
static inline __attribute__((always_inline)) void
panel(const int NV, int64_t M, int64_t K, float alpha, const float *a, int64_t sar, int64_t sak,
      const float *b, int64_t ldb, int accumulate, float *c, int64_t ldc)
{
    int64_t i = 0;
    for (; i + 6 <= M; i += 6)
        block(6, NV, K, alpha, a + i * sar, sar, sak, b, ldb, accumulate, c + i * ldc, ldc);
    const float *ai = a + i * sar;
    float *ci = c + i * ldc;
    switch (M - i) {
    case 5: block(5, NV, K, alpha, ai, sar, sak, b, ldb, accumulate, ci, ldc); break;
    case 4: block(4, NV, K, alpha, ai, sar, sak, b, ldb, accumulate, ci, ldc); break;
    case 3: block(3, NV, K, alpha, ai, sar, sak, b, ldb, accumulate, ci, ldc); break;
    case 2: block(2, NV, K, alpha, ai, sar, sak, b, ldb, accumulate, ci, ldc); break;
    case 1: block(1, NV, K, alpha, ai, sar, sak, b, ldb, accumulate, ci, ldc); break;
    default: break;
    }
}

void lv_tile_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float *a, int64_t sar,
                  int64_t sak, const float *b, int64_t ldb, int accumulate, float *c,
                  int64_t ldc)
{
    LV_REQUIRE(N % LV_TILE_GEMM_COLS == 0);
    for (int64_t k0 = 0; k0 < K; k0 += TILE_KC) {
        const int64_t kc = K - k0 < TILE_KC ? K - k0 : TILE_KC;
        const float *ak = a + k0 * sak, *bk = b + k0 * ldb;
        const int acc = accumulate || k0 > 0;
        int64_t j = 0;
        for (; j + 64 <= N; j += 64)
            panel(4, M, kc, alpha, ak, sar, sak, bk + j, ldb, acc, c + j, ldc);
        for (; j + 32 <= N; j += 32)
            panel(2, M, kc, alpha, ak, sar, sak, bk + j, ldb, acc, c + j, ldc);
        for (; j < N; j += 16)
            panel(1, M, kc, alpha, ak, sar, sak, bk + j, ldb, acc, c + j, ldc);
    }
}
