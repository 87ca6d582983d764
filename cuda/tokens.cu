/* Embeddings on the GPU: the tubelet embedding (im2col of the kept tubes, then one matmul),
 * position embeddings by kept-token index, and text token embeddings. Gradients that several
 * tokens add into one place (a table row, a position, a pixel under overlapping tubes) are
 * summed by the one thread that owns the destination, in token order: no atomics, the same
 * result on every run. */
#include "kernels_cuda.h"

extern "C" {
#include "kernels.h"               /* lv_tubelet_grid: the grid of a tubelet shape (host) */
}

/* ==== tubelet embedding ======================================================================
 * A strided 3D convolution over the kept tubes: cols[row] = the voxel of token kept[b, k],
 * elements ordered (dt, dy, dx, c); out = cols W^T + b. */

typedef struct {
    int64_t F, H, W, C, kt, kh, kw, st, sh, sw, ot, oh, ow;
    int64_t Hp, Wp, N, V, sample;          /* grid, voxel size, floats per video */
} tube_geom;

static tube_geom tube_geom_make(const lv_tubelet_shape *s)
{
    tube_geom g = { s->F, s->H, s->W, s->C, s->kt, s->kh, s->kw, s->st, s->sh, s->sw,
                    s->ot, s->oh, s->ow, 0, 0, 0, 0, 0 };
    g.N = lv_tubelet_grid(s, NULL, &g.Hp, &g.Wp);
    g.V = s->kt * s->kh * s->kw * s->C;
    g.sample = s->F * s->H * s->W * s->C;
    LV_REQUIRE(g.N > 0);
    return g;
}

/* offset in one video of element e of token n's voxel */
static __device__ __forceinline__ int64_t voxel_offset(const tube_geom &g, int64_t n, int64_t e)
{
    const int64_t t = n / (g.Hp * g.Wp), y = (n / g.Wp) % g.Hp, x = n % g.Wp;
    const int64_t c = e % g.C, dx = e / g.C % g.kw, dy = e / (g.C * g.kw) % g.kh;
    const int64_t dt = e / (g.C * g.kw * g.kh);
    const int64_t f = g.ot + t * g.st + dt, yy = g.oh + y * g.sh + dy, xx = g.ow + x * g.sw + dx;
    return ((f * g.H + yy) * g.W + xx) * g.C + c;
}

/* cols (B K, V): one thread per element */
static __global__ void im2col_kernel(float *cols, const float *video, const int64_t *kept,
                                     tube_geom g, int64_t B, int64_t K)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < B * K * g.V) {
        const int64_t row = i / g.V, e = i % g.V, b = row / K;
        const int64_t n = kept ? kept[row] : row % K;
        cols[i] = video[b * g.sample + voxel_offset(g, n, e)];
    }
}

static float *gather_cols(const float *video, const int64_t *kept, const tube_geom &g,
                          int64_t B, int64_t K)
{
    float *cols = (float *)lv_cuda_scratch(0, (size_t)(B * K * g.V) * sizeof(float));
    LV_LAUNCH(im2col_kernel, lv_cuda_blocks(B * K * g.V, LV_CUDA_THREADS), LV_CUDA_THREADS, cols,
              video, kept, g, B, K);
    lv_cuda_check("tubelet im2col");
    return cols;
}

void lv_cuda_tubelet_embed_forward(float *out, const float *video, const float *weight,
                                   const float *bias, const int64_t *kept,
                                   const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    if (B * K == 0)
        return;
    const tube_geom g = tube_geom_make(s);
    const float *cols = gather_cols(video, kept, g, B, K);
    lv_cuda_linear_forward(out, cols, weight, bias, B * K, g.V, D);
}

/* inverse of the kept lists: inv[b N + n] = k where kept[b, k] = n, else -1 */
static __global__ void fill_minus_one_kernel(int64_t *inv, int64_t n)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        inv[i] = -1;
}

static __global__ void fill_inverse_kernel(int64_t *inv, const int64_t *kept, int64_t B,
                                           int64_t K, int64_t N)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < B * K)
        inv[(i / K) * N + (kept ? kept[i] : i % K)] = i % K;
}

/* one range of tube indices along an axis that covers position p: i with o + i s <= p <
 * o + i s + k, 0 <= i < n */
static __device__ __forceinline__ void covering(int64_t p, int64_t o, int64_t s, int64_t k,
                                                int64_t n, int64_t *lo, int64_t *hi)
{
    const int64_t q = p - o;                   /* i s <= q and i s > q - k */
    *hi = q < 0 ? -1 : q / s;                  /* the largest i with i s <= q */
    *lo = q - k < 0 ? 0 : (q - k) / s + 1;     /* the smallest i with i s > q - k */
    if (*hi > n - 1)
        *hi = n - 1;
}

/* forward: cols = gather(video), so dvideo[pixel] += sum over the kept tubes covering it of
 * dcols[row, element]: one thread per pixel, tubes in (t, y, x) order */
static __global__ void col2im_kernel(float *dvideo, const float *dcols, const int64_t *inv,
                                     tube_geom g, int64_t B, int64_t K)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B * g.sample)
        return;
    const int64_t b = i / g.sample, off = i % g.sample;
    const int64_t c = off % g.C, x = off / g.C % g.W, y = off / (g.C * g.W) % g.H;
    const int64_t f = off / (g.C * g.W * g.H);
    const int64_t Ft = g.N / (g.Hp * g.Wp);
    int64_t t0, t1, y0, y1, x0, x1;
    covering(f, g.ot, g.st, g.kt, Ft, &t0, &t1);
    covering(y, g.oh, g.sh, g.kh, g.Hp, &y0, &y1);
    covering(x, g.ow, g.sw, g.kw, g.Wp, &x0, &x1);
    float acc = 0.0f;
    for (int64_t t = t0; t <= t1; t++)
        for (int64_t ty = y0; ty <= y1; ty++)
            for (int64_t tx = x0; tx <= x1; tx++) {
                const int64_t k = inv[b * g.N + (t * g.Hp + ty) * g.Wp + tx];
                if (k < 0)
                    continue;
                const int64_t dt = f - (g.ot + t * g.st), dy = y - (g.oh + ty * g.sh);
                const int64_t dx = x - (g.ow + tx * g.sw);
                acc += dcols[(b * K + k) * g.V + ((dt * g.kh + dy) * g.kw + dx) * g.C + c];
            }
    dvideo[i] += acc;
}

/* forward out = cols W^T + b, so dW += dout^T cols, db += column sums of dout, and
 * dcols = dout W goes back to the pixels through col2im */
void lv_cuda_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias,
                                    const float *dout, const float *video, const float *weight,
                                    const int64_t *kept, const lv_tubelet_shape *s, int64_t B,
                                    int64_t K, int64_t D)
{
    if (B * K == 0)
        return;
    const tube_geom g = tube_geom_make(s);
    if (dweight || dbias) {
        const float *cols = gather_cols(video, kept, g, B, K);
        lv_cuda_linear_backward(NULL, dweight, dbias, dout, cols, weight, B * K, g.V, D);
    }
    if (!dvideo)
        return;
    float *dcols = (float *)lv_cuda_scratch(1, (size_t)(B * K * g.V) * sizeof(float));
    lv_cuda_gemm(0, 0, B * K, g.V, D, 1.0f, dout, D, weight, g.V, 0.0f, dcols, g.V);
    int64_t *inv = (int64_t *)lv_cuda_scratch(2, (size_t)(B * g.N) * sizeof(int64_t));
    LV_LAUNCH(fill_minus_one_kernel, lv_cuda_blocks(B * g.N, LV_CUDA_THREADS), LV_CUDA_THREADS,
              inv, B * g.N);
    LV_LAUNCH(fill_inverse_kernel, lv_cuda_blocks(B * K, LV_CUDA_THREADS), LV_CUDA_THREADS, inv,
              kept, B, K, g.N);
    LV_LAUNCH(col2im_kernel, lv_cuda_blocks(B * g.sample, LV_CUDA_THREADS), LV_CUDA_THREADS,
              dvideo, dcols, inv, g, B, K);
    lv_cuda_check("tubelet_embed_backward");
}

/* ==== position embeddings: out = inp + spatial[n % P] + temporal[n / P] ====================== */

static __global__ void pos_forward_kernel(float *out, const float *inp, const float *spatial,
                                          const float *temporal, const int64_t *kept, int64_t B,
                                          int64_t K, int64_t P, int64_t D)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < B * K * D) {
        const int64_t row = i / D, d = i % D, n = kept ? kept[row] : row % K;
        float v = inp[i] + spatial[(n % P) * D + d];
        if (temporal)
            v += temporal[(n / P) * D + d];
        out[i] = v;
    }
}

void lv_cuda_pos_embed_forward(float *out, const float *inp, const float *spatial,
                               const float *temporal, const int64_t *kept, int64_t B, int64_t K,
                               int64_t P, int64_t Ft, int64_t D)
{
    if (B * K * D == 0)
        return;
    LV_LAUNCH(pos_forward_kernel, lv_cuda_blocks(B * K * D, LV_CUDA_THREADS), LV_CUDA_THREADS,
              out, inp, spatial, temporal, kept, B, K, P, D);
    lv_cuda_check("pos_embed_forward");
}

/* forward out = inp + spatial[n % P] + temporal[n / P], so dinp += dout, and each table row
 * gets the sum of dout over the tokens that used it: one thread per column d walks the tokens
 * in order (it alone writes column d of both tables) */
static __global__ void pos_tables_kernel(float *dspatial, float *dtemporal, const float *dout,
                                         const int64_t *kept, int64_t B, int64_t K, int64_t P,
                                         int64_t D)
{
    const int64_t d = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D)
        return;
    for (int64_t row = 0; row < B * K; row++) {
        const int64_t n = kept ? kept[row] : row % K;
        const float g = dout[row * D + d];
        if (dspatial)
            dspatial[(n % P) * D + d] += g;
        if (dtemporal)
            dtemporal[(n / P) * D + d] += g;
    }
}

void lv_cuda_pos_embed_backward(float *dinp, float *dspatial, float *dtemporal,
                                const float *dout, const int64_t *kept, int64_t B, int64_t K,
                                int64_t P, int64_t Ft, int64_t D)
{
    if (B * K * D == 0)
        return;
    if (dinp)
        lv_cuda_residual_backward(dinp, NULL, dout, B * K * D);
    if (dspatial || dtemporal)
        LV_LAUNCH(pos_tables_kernel, lv_cuda_blocks(D, LV_CUDA_THREADS), LV_CUDA_THREADS,
                  dspatial, dtemporal, dout, kept, B, K, P, D);
    lv_cuda_check("pos_embed_backward");
}

/* ==== text token embeddings: out[n] = table[ids[n]] ========================================= */

static __global__ void embedding_forward_kernel(float *out, const int32_t *ids,
                                                const float *table, int64_t N, int64_t D)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * D)
        out[i] = table[(int64_t)ids[i / D] * D + i % D];
}

void lv_cuda_embedding_forward(float *out, const int32_t *ids, const float *table, int64_t N,
                               int64_t V, int64_t D)
{
    if (N * D == 0)
        return;
    LV_LAUNCH(embedding_forward_kernel, lv_cuda_blocks(N * D, LV_CUDA_THREADS), LV_CUDA_THREADS,
              out, ids, table, N, D);
    lv_cuda_check("embedding_forward");
}

/* forward out[n] = table[ids[n]], so dtable[ids[n]] += dout[n]: one thread per column d walks
 * the tokens in order, so repeated ids add up in a fixed order */
static __global__ void embedding_backward_kernel(float *dtable, const float *dout,
                                                 const int32_t *ids, int64_t N, int64_t D)
{
    const int64_t d = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (d < D)
        for (int64_t n = 0; n < N; n++)
            dtable[(int64_t)ids[n] * D + d] += dout[n * D + d];
}

void lv_cuda_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int64_t N,
                                int64_t V, int64_t D)
{
    if (N * D == 0 || !dtable)
        return;
    LV_LAUNCH(embedding_backward_kernel, lv_cuda_blocks(D, LV_CUDA_THREADS), LV_CUDA_THREADS,
              dtable, dout, ids, N, D);
    lv_cuda_check("embedding_backward");
}
