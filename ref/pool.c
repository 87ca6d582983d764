/* Pooling and normalisation of token sets into one embedding per sample: mean over the valid
 * tokens (kept video tokens, non-padding text tokens) or over contiguous row ranges (the tokens of
 * each frame), then L2 normalisation of the rows. Means of nothing are 0, never NaN. */
#include "kernels.h"
#include "error.h"

#include <math.h>

static int64_t count_valid(const uint8_t *valid, int64_t T)
{
    if (!valid)
        return T;
    int64_t n = 0;
    for (int64_t t = 0; t < T; t++)
        n += valid[t] != 0;
    return n;
}

void lv_mean_pool_forward(float *out, const float *inp, const uint8_t *valid,
                          int64_t B, int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *vb = valid ? valid + b * T : NULL;
        const int64_t cnt = count_valid(vb, T);
        for (int64_t d = 0; d < D; d++) {
            double acc = 0.0;
            for (int64_t t = 0; t < T; t++)
                if (!vb || vb[t])
                    acc += inp[(b * T + t) * D + d];
            out[b * D + d] = cnt ? (float)(acc / (double)cnt) : 0.0f;
        }
    }
}

void lv_mean_pool_backward(float *dinp, const float *dout, const uint8_t *valid,
                           int64_t B, int64_t T, int64_t D)
{
    /* forward: out[b] = sum_{t valid} inp[b,t] / count  =>  dinp[b,t] += dout[b] / count */
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *vb = valid ? valid + b * T : NULL;
        const int64_t cnt = count_valid(vb, T);
        if (cnt == 0)
            continue;
        for (int64_t t = 0; t < T; t++) {
            if (vb && !vb[t])
                continue;
            for (int64_t d = 0; d < D; d++)
                dinp[(b * T + t) * D + d] += (float)(dout[b * D + d] / (double)cnt);
        }
    }
}

void lv_segment_mean_forward(float *out, const float *inp, const int64_t *start,
                             int64_t G, int64_t D)
{
    for (int64_t g = 0; g < G; g++) {
        const int64_t r0 = start[g], cnt = start[g + 1] - r0;
        LV_REQUIRE(r0 >= 0 && cnt >= 0);
        for (int64_t d = 0; d < D; d++) {
            double acc = 0.0;
            for (int64_t r = r0; r < r0 + cnt; r++)
                acc += inp[r * D + d];
            out[g * D + d] = cnt ? (float)(acc / (double)cnt) : 0.0f;
        }
    }
}

void lv_segment_mean_backward(float *dinp, const float *dout, const int64_t *start,
                              int64_t G, int64_t D)
{
    /* forward: out[g] = sum_{r in segment g} inp[r] / count  =>  dinp[r] += dout[g] / count */
    for (int64_t g = 0; g < G; g++) {
        const int64_t r0 = start[g], cnt = start[g + 1] - r0;
        LV_REQUIRE(r0 >= 0 && cnt >= 0);
        for (int64_t r = r0; r < r0 + cnt; r++)
            for (int64_t d = 0; d < D; d++)
                dinp[r * D + d] += (float)(dout[g * D + d] / (double)cnt);
    }
}

void lv_l2norm_forward(float *out, float *norm, const float *inp, int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++)
            ss += (double)inp[n * C + c] * inp[n * C + c];
        double nrm = fmax(sqrt(ss), LV_L2NORM_EPS);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (float)(inp[n * C + c] / nrm);
        norm[n] = (float)nrm;
    }
}

void lv_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                        int64_t N, int64_t C)
{
    /* forward: y = x / |x|  =>  dx = (dy - y (y . dy)) / |x|.
     * Below eps the divisor is the constant eps, so dx = dy / eps. */
    for (int64_t n = 0; n < N; n++) {
        const float *y = out + n * C, *dy = dout + n * C;
        double dot = 0.0;
        if (norm[n] > LV_L2NORM_EPS)
            for (int64_t c = 0; c < C; c++)
                dot += (double)y[c] * dy[c];
        for (int64_t c = 0; c < C; c++)
            dinp[n * C + c] += (float)((dy[c] - y[c] * dot) / norm[n]);
    }
}
