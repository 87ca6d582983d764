/* Tubelet embedding: a strided 3D convolution from a channel-last video to tokens, computed
 * only for the tokens that are kept (masked tokens cost nothing). Plain loops over the voxel.
 * No im2col buffer: each token's voxel is read in place from the video. In this file V is the
 * voxel size kt*kh*kw*C (the legend's vocabulary does not occur here). */
#include "kernels.h"
#include "error.h"

/* Positions along one axis: offset, offset + stride, ... while a whole kernel still fits,
 * floor((extent - offset - kernel) / stride) + 1 of them; 0 when none fits or a parameter is
 * not positive (offset may be 0). */
static int64_t grid_1d(int64_t extent, int64_t kernel, int64_t stride, int64_t offset)
{
    if (kernel <= 0 || stride <= 0 || offset < 0 || extent - offset < kernel)
        return 0;
    return (extent - offset - kernel) / stride + 1;
}

/* The token grid is Ft x Hp x Wp (time, rows, columns), P = Hp * Wp positions per time step. */
int64_t lv_tubelet_grid(const lv_tubelet_shape *s, int64_t *Ft, int64_t *Hp, int64_t *Wp)
{
    const int64_t t = grid_1d(s->F, s->kt, s->st, s->ot);
    const int64_t h = grid_1d(s->H, s->kh, s->sh, s->oh);
    const int64_t w = grid_1d(s->W, s->kw, s->sw, s->ow);
    if (Ft)
        *Ft = t;
    if (Hp)
        *Hp = h;
    if (Wp)
        *Wp = w;
    return t * h * w;
}

/* ViViT's tubelets: stride = kernel (no overlap, no gap), offset 0, RGB. */
lv_tubelet_shape lv_tubelet_shape_make(int64_t F, int64_t H, int64_t W, int64_t t, int64_t p)
{
    return (lv_tubelet_shape){ .F = F, .H = H, .W = W, .C = 3, .kt = t, .kh = p, .kw = p,
                               .st = t, .sh = p, .sw = p };
}

/* Offset in the video (one sample) of voxel element 0 of token n, with the grid it lives on.
 * n = (t * Hp + y) * Wp + x gives grid cell (t, y, x), whose tube starts at frame f0, row y0,
 * column x0; channel-last (F, H, W, C) storage puts that pixel at ((f0 H + y0) W + x0) C. */
static int64_t token_origin(const lv_tubelet_shape *s, int64_t n, int64_t Hp, int64_t Wp)
{
    const int64_t t = n / (Hp * Wp), y = (n / Wp) % Hp, x = n % Wp;
    const int64_t f0 = s->ot + t * s->st, y0 = s->oh + y * s->sh, x0 = s->ow + x * s->sw;
    return ((f0 * s->H + y0) * s->W + x0) * s->C;
}

/* Forward. For kept token n = kept[b,k] of sample b, its tube starting at (f0, y0, x0):
 *   out[b,k,d] = bias[d] + sum_e weight[d,e] vox[e],   d < D, e < V,
 *   vox[e] = video[b, f0 + dt, y0 + dy, x0 + dx, c],   e = ((dt kh + dy) kw + dx) C + c,
 * the 3D convolution of the video with D filters of extent kt x kh x kw x C and strides
 * (st, sh, sw), evaluated only at the K kept grid cells. It is im2col without the copy: vox is
 * the token's column, read where it lies. Channel-last storage makes each (dt, dy) line of the
 * voxel kw * C contiguous floats, so the inner loop walks a line of the video while w walks
 * weight row d in the same (dt, dy, dx, c) order. Double accumulation from the bias (0 when
 * NULL), one rounding per output. Out (B, K, D); kept (B, K), or NULL when K = N. */
void lv_tubelet_embed_forward(float *out, const float *video, const float *weight,
                              const float *bias, const int64_t *kept, const lv_tubelet_shape *s,
                              int64_t B, int64_t K, int64_t D)
{
    int64_t Hp, Wp;
    const int64_t N = lv_tubelet_grid(s, NULL, &Hp, &Wp);
    LV_REQUIRE(N > 0 && (kept || K == N));
    const int64_t V = s->kt * s->kh * s->kw * s->C;        /* voxel size */
    const int64_t sample = s->F * s->H * s->W * s->C;      /* floats per video */
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            LV_REQUIRE(n >= 0 && n < N);
            /* (kt, kh, kw, C) voxel of token n, with strides (H W C, W C, C, 1) of the video */
            const float *vox = video + b * sample + token_origin(s, n, Hp, Wp);
            for (int64_t d = 0; d < D; d++) {
                const float *w = weight + d * V;     /* walked in voxel order (dt, dy, dx, c) */
                double acc = bias ? bias[d] : 0.0;
                for (int64_t dt = 0; dt < s->kt; dt++)
                    for (int64_t dy = 0; dy < s->kh; dy++) {
                        /* (kw * C) contiguous: the voxel's line at frame dt, row dy */
                        const float *row = vox + (dt * s->H + dy) * s->W * s->C;
                        for (int64_t e = 0; e < s->kw * s->C; e++)
                            acc += (double)*w++ * row[e];
                    }
                out[(b * K + k) * D + d] = (float)acc;
            }
        }
}

/* Backward. In the forward pass this was  out[b,k,d] = bias[d] + sum_e weight[d,e] video[off_e],
 * off_e the video offset of voxel element e of token kept[b,k]. With g = dout[b,k] (D):
 *   dbias[d]      += g[d]
 *   dweight[d,e]  += g[d] video[off_e]         the outer product g vox^T, summed over tokens
 *   dvideo[off_e] += sum_d g[d] weight[d,e]    W^T g, scattered back where vox was gathered
 * (im2col's adjoint, col2im). One pass per voxel element e does both: the double sum over d
 * for dvideo, and the D updates of column e of dweight (each a float product added in float).
 * Overlapping tubes (stride < kernel) add several tokens' contributions to one pixel; pixels of
 * masked tokens, or in no tube, get none. Gradients accumulate (+=); NULL ones are skipped
 * (dvideo is not needed when the video is data). The forward checked the kept indices. */
void lv_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias, const float *dout,
                               const float *video, const float *weight, const int64_t *kept,
                               const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    int64_t Hp, Wp;
    const int64_t N = lv_tubelet_grid(s, NULL, &Hp, &Wp);
    LV_REQUIRE(N > 0 && (kept || K == N));
    const int64_t V = s->kt * s->kh * s->kw * s->C;        /* voxel size */
    const int64_t sample = s->F * s->H * s->W * s->C;      /* floats per video */
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            const int64_t origin = b * sample + token_origin(s, n, Hp, Wp);
            const float *g = dout + (b * K + k) * D;        /* (D) this token's gradient */
            int64_t e = 0;                          /* voxel element, order (dt, dy, dx, c) */
            for (int64_t dt = 0; dt < s->kt; dt++)
                for (int64_t dy = 0; dy < s->kh; dy++)
                    for (int64_t x = 0; x < s->kw * s->C; x++, e++) {
                        const int64_t off = origin + (dt * s->H + dy) * s->W * s->C + x;
                        double acc = 0.0;                   /* sum_d g[d] weight[d,e] */
                        for (int64_t d = 0; d < D; d++) {
                            acc += (double)g[d] * weight[d * V + e];
                            if (dweight)
                                dweight[d * V + e] += g[d] * video[off];
                        }
                        if (dvideo)
                            dvideo[off] += (float)acc;
                    }
            if (dbias)
                for (int64_t d = 0; d < D; d++)
                    dbias[d] += g[d];
        }
}
