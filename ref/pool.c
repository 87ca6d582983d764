/* Pooling and normalisation of token sets into one embedding per sample: mean over the valid
 * tokens (kept video tokens, non-padding text tokens) or over contiguous row ranges (the tokens of
 * each frame), then L2 normalisation of the rows. Means of nothing are 0, never NaN. */
#include "kernels.h"
#include "error.h"

#include <math.h>

/* Valid entries in one sample's (T) mask; all T when there is no mask. */
static int64_t count_valid(const uint8_t *valid, int64_t T)
{
    if (!valid)
        return T;
    int64_t n = 0;
    for (int64_t t = 0; t < T; t++)
        n += valid[t] != 0;
    return n;
}

/* Forward: inp (B, T, D) -> out (B, D), T being whichever token axis is pooled (K kept video
 * tokens, T text positions):
 *   out[b] = sum_{t valid} inp[b,t] / cnt_b,   cnt_b = the number of valid t of sample b.
 * Padding is skipped, not multiplied by 0, so not even NaN or inf in a padding row can leak
 * into the mean. The sum runs in double, one rounding per output; a sample with no valid
 * token gets out[b] = 0 (the empty-set rule) instead of 0/0. */
void lv_mean_pool_forward(float *out, const float *inp, const uint8_t *valid,
                          int64_t B, int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *vb = valid ? valid + b * T : NULL;   /* (T) sample b's mask, or NULL */
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

/* Backward. The forward is linear with the constant weight 1/cnt_b on each valid token and 0 on
 * padding, so each valid token receives that share of its sample's gradient, padding nothing;
 * a sample with cnt_b = 0 had the constant output 0 and passes nothing back. The division is in
 * double, rounded once per entry; dinp accumulates (+=) and is required. */
void lv_mean_pool_backward(float *dinp, const float *dout, const uint8_t *valid,
                           int64_t B, int64_t T, int64_t D)
{
    /* forward: out[b] = sum_{t valid} inp[b,t] / count  =>  dinp[b,t] += dout[b] / count */
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *vb = valid ? valid + b * T : NULL;   /* (T) or NULL */
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

/* Forward: segment g is rows start[g] .. start[g+1] - 1 of inp (rows, D); out (G, D) holds
 *   out[g] = sum_{r in segment g} inp[r] / cnt_g,   cnt_g = start[g+1] - start[g],
 * e.g. the mean of each frame's kept tokens when frames keep different counts. start must be
 * non-negative and non-decreasing (checked); rows outside start[0] .. start[G] are not read.
 * Double sums, one rounding per output, and an empty segment gives 0. */
void lv_segment_mean_forward(float *out, const float *inp, const int64_t *start,
                             int64_t G, int64_t D)
{
    for (int64_t g = 0; g < G; g++) {
        const int64_t r0 = start[g], cnt = start[g + 1] - r0;   /* first row, row count */
        LV_REQUIRE(r0 >= 0 && cnt >= 0);
        for (int64_t d = 0; d < D; d++) {
            double acc = 0.0;
            for (int64_t r = r0; r < r0 + cnt; r++)
                acc += inp[r * D + d];
            out[g * D + d] = cnt ? (float)(acc / (double)cnt) : 0.0f;
        }
    }
}

/* Backward, as for the mean pool with a segment in place of a sample: every row of segment g
 * had the weight 1/cnt_g in the forward, so it receives dout[g] / cnt_g; an empty segment has
 * no rows to receive anything. Accumulates (+=) into dinp, which is required. */
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

/* Forward, per row n of inp (N, C):
 *   nrm = max(|x|, eps),   |x| = sqrt(sum_c x_c^2),   out = x / nrm,
 * eps = LV_L2NORM_EPS = 1e-12 as in PyTorch's F.normalize, so an all-zero row gives out = 0
 * instead of 0/0. The sum of squares runs in double; nrm is cached in norm (N) as a float for
 * the backward, together with out itself. */
void lv_l2norm_forward(float *out, float *norm, const float *inp, int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        double ss = 0.0;                               /* sum of squares of row n */
        for (int64_t c = 0; c < C; c++)
            ss += (double)inp[n * C + c] * inp[n * C + c];
        double nrm = fmax(sqrt(ss), LV_L2NORM_EPS);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (float)(inp[n * C + c] / nrm);
        norm[n] = (float)nrm;
    }
}

/* Backward. In the forward pass this was  y = x / r  with  r = |x|;  since d r / d x_k =
 * x_k / r = y_k,
 *   d y_c / d x_k = delta_ck / r - x_c x_k / r^3 = (delta_ck - y_c y_k) / r,
 * and summing dy_c times that over c gives
 *   dinp += (dy - y (y . dy)) / r:
 * the component of dy along y is removed (scaling x does not move y), the rest divided by r.
 * While the clamp held, r was the constant eps and y = x / eps, so dinp += dy / eps (dot stays
 * 0). y and r are the forward's cached out and norm (floats); the dot runs in double. dinp
 * accumulates (+=) and is required. */
void lv_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                        int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        const float *y = out + n * C, *dy = dout + n * C;      /* (C) (C) row n */
        double dot = 0.0;                                      /* y . dy */
        if (norm[n] > LV_L2NORM_EPS)
            for (int64_t c = 0; c < C; c++)
                dot += (double)y[c] * dy[c];
        for (int64_t c = 0; c < C; c++)
            dinp[n * C + c] += (float)((dy[c] - y[c] * dot) / norm[n]);
    }
}
