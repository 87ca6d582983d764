/* Tubelet embedding: a strided 3D convolution from a channel-last video to tokens, computed
 * only for the tokens that are kept (masked tokens cost nothing). Plain loops over the voxel. */
#include "kernels.h"
#include "error.h"

static int64_t grid_1d(int64_t extent, int64_t kernel, int64_t stride, int64_t offset)
{
    if (kernel <= 0 || stride <= 0 || offset < 0 || extent - offset < kernel)
        return 0;
    return (extent - offset - kernel) / stride + 1;
}

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

lv_tubelet_shape lv_tubelet_shape_make(int64_t F, int64_t H, int64_t W, int64_t t, int64_t p)
{
    return (lv_tubelet_shape){ .F = F, .H = H, .W = W, .C = 3, .kt = t, .kh = p, .kw = p,
                               .st = t, .sh = p, .sw = p };
}

/* Offset in the video (one sample) of voxel element 0 of token n, with the grid it lives on. */
static int64_t token_origin(const lv_tubelet_shape *s, int64_t n, int64_t Hp, int64_t Wp)
{
    const int64_t t = n / (Hp * Wp), y = (n / Wp) % Hp, x = n % Wp;
    const int64_t f0 = s->ot + t * s->st, y0 = s->oh + y * s->sh, x0 = s->ow + x * s->sw;
    return ((f0 * s->H + y0) * s->W + x0) * s->C;
}

void lv_tubelet_embed_forward(float *out, const float *video, const float *weight,
                              const float *bias, const int64_t *kept, const lv_tubelet_shape *s,
                              int64_t B, int64_t K, int64_t D)
{
    int64_t Hp, Wp;
    const int64_t N = lv_tubelet_grid(s, NULL, &Hp, &Wp);
    LV_REQUIRE(N > 0 && (kept || K == N));
    const int64_t V = s->kt * s->kh * s->kw * s->C;        /* voxel size */
    const int64_t sample = s->F * s->H * s->W * s->C;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            LV_REQUIRE(n >= 0 && n < N);
            const float *vox = video + b * sample + token_origin(s, n, Hp, Wp);
            for (int64_t d = 0; d < D; d++) {
                const float *w = weight + d * V;     /* walked in voxel order (dt, dy, dx, c) */
                double acc = bias ? bias[d] : 0.0;
                for (int64_t dt = 0; dt < s->kt; dt++)
                    for (int64_t dy = 0; dy < s->kh; dy++) {
                        const float *row = vox + (dt * s->H + dy) * s->W * s->C;
                        for (int64_t e = 0; e < s->kw * s->C; e++)
                            acc += (double)*w++ * row[e];
                    }
                out[(b * K + k) * D + d] = (float)acc;
            }
        }
}

void lv_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias, const float *dout,
                               const float *video, const float *weight, const int64_t *kept,
                               const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    /* forward: out[b,k,d] = sum_e w[d,e] voxel(b,n)[e] + bias[d]
     * Overlapping tubes (stride < kernel) add several contributions to one pixel. */
    int64_t Hp, Wp;
    const int64_t N = lv_tubelet_grid(s, NULL, &Hp, &Wp);
    LV_REQUIRE(N > 0 && (kept || K == N));
    const int64_t V = s->kt * s->kh * s->kw * s->C;
    const int64_t sample = s->F * s->H * s->W * s->C;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            const int64_t origin = b * sample + token_origin(s, n, Hp, Wp);
            const float *g = dout + (b * K + k) * D;
            int64_t e = 0;                          /* voxel element, order (dt, dy, dx, c) */
            for (int64_t dt = 0; dt < s->kt; dt++)
                for (int64_t dy = 0; dy < s->kh; dy++)
                    for (int64_t x = 0; x < s->kw * s->C; x++, e++) {
                        const int64_t off = origin + (dt * s->H + dy) * s->W * s->C + x;
                        double acc = 0.0;
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
