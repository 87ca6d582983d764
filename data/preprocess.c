/* Resize-shorter-side, centre-crop and normalise (see preprocess.h for the exact rules): two
 * separable passes per frame over precomputed weight tables in the caller's scratch buffer.
 * No allocation, no libswscale, and only the pixels that survive the crop are computed. */
#include "preprocess.h"

#include "error.h"

#include <math.h>

const float LV_CLIP_MEAN[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
const float LV_CLIP_STD[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

/* One axis of the resize, restricted to the S cropped outputs. */
typedef struct {
    int64_t in, out, off;   /* source pixels, resized pixels, crop offset in resized pixels */
    int64_t taps;           /* stride of w: the most source pixels one output reads */
    double unit;            /* what one output's weights sum to: in (area), 1 (bilinear) */
    float *w;               /* (S, taps) */
} lv_axis;

static int64_t axis_taps(int64_t in, int64_t out)
{
    return in > out ? (in + out - 1) / out + 1 : 2;
}

static void resized_size(int64_t H, int64_t W, int64_t S, int64_t *rh, int64_t *rw)
{
    *rh = H <= W ? S : H * S / W;
    *rw = H <= W ? W * S / H : S;
}

/* Source pixels output o reads: returns their count, sets the first (and, for bilinear, the
 * fraction of the way to the second). */
static int64_t axis_span(const lv_axis *a, int64_t o, int64_t *first, double *frac)
{
    const int64_t j = o + a->off;
    if (a->in > a->out) {
        *first = j * a->in / a->out;
        return ((j + 1) * a->in + a->out - 1) / a->out - *first;
    }
    const double x = fmax((j + 0.5) * (double)a->in / (double)a->out - 0.5, 0.0);
    *first = (int64_t)x;
    *frac = x - (double)*first;
    return *first + 1 < a->in ? 2 : 1;
}

/* Area: the overlap of source pixel x with output o's footprint, in units of 1/out. */
static float axis_weight(const lv_axis *a, int64_t o, int64_t k, int64_t first, double frac,
                         int64_t count)
{
    if (a->in <= a->out)
        return count == 1 ? 1.0f : (float)(k ? frac : 1.0 - frac);
    const int64_t j = o + a->off, x = first + k;
    const int64_t lo = x * a->out > j * a->in ? x * a->out : j * a->in;
    const int64_t hi = (x + 1) * a->out < (j + 1) * a->in ? (x + 1) * a->out : (j + 1) * a->in;
    return (float)(hi - lo);
}

static lv_axis axis_make(int64_t in, int64_t out, int64_t S, float *w)
{
    lv_axis a = { in, out, (out - S) / 2, axis_taps(in, out), in > out ? (double)in : 1.0, w };
    for (int64_t o = 0; o < S; o++) {
        int64_t first;
        double frac = 0.0;
        const int64_t count = axis_span(&a, o, &first, &frac);
        for (int64_t k = 0; k < a.taps; k++)
            w[o * a.taps + k] = k < count ? axis_weight(&a, o, k, first, frac, count) : 0.0f;
    }
    return a;
}

int64_t lv_preprocess_scratch_floats(int64_t H, int64_t W, int64_t S)
{
    int64_t rh, rw;
    resized_size(H, W, S, &rh, &rw);
    return S * (axis_taps(W, rw) + axis_taps(H, rh)) + H * S * 3;
}

/* One source row -> (S, 3) floats, in the axis's weight units. */
static void resize_row(float *dst, const uint8_t *src, const lv_axis *ax, int64_t S)
{
    for (int64_t o = 0; o < S; o++) {
        int64_t first;
        double frac;
        const int64_t count = axis_span(ax, o, &first, &frac);
        const float *w = ax->w + o * ax->taps;
        const uint8_t *p = src + first * 3;
        float r = 0.0f, g = 0.0f, b = 0.0f;
        for (int64_t k = 0; k < count; k++) {
            r += w[k] * p[3 * k];
            g += w[k] * p[3 * k + 1];
            b += w[k] * p[3 * k + 2];
        }
        dst[3 * o] = r;
        dst[3 * o + 1] = g;
        dst[3 * o + 2] = b;
    }
}

/* rows (rows from row0, S, 3) -> out (S, S, 3): the vertical pass, then acc * scale[c] - shift[c]
 * which is (acc / units / 255 - mean) / std. */
static void resize_columns(float *out, const float *rows, int64_t row0, const lv_axis *ay,
                           int64_t S, const double scale[3], const double shift[3])
{
    for (int64_t o = 0; o < S; o++) {
        int64_t first;
        double frac;
        const int64_t count = axis_span(ay, o, &first, &frac);
        const float *w = ay->w + o * ay->taps, *src = rows + (first - row0) * S * 3;
        float *dst = out + o * S * 3;
        for (int64_t i = 0; i < S * 3; i += 3)
            for (int c = 0; c < 3; c++) {
                double acc = 0.0;
                for (int64_t k = 0; k < count; k++)
                    acc += (double)w[k] * src[k * S * 3 + i + c];
                dst[i + c] = (float)(acc * scale[c] - shift[c]);
            }
    }
}

void lv_preprocess(float *out, const uint8_t *rgb, int64_t N, int64_t H, int64_t W, int64_t S,
                   const float mean[3], const float std[3], float *scratch)
{
    LV_REQUIRE(N >= 0 && H >= 1 && W >= 1 && S >= 1);
    int64_t rh, rw, row0, row_end, last;
    double frac;
    resized_size(H, W, S, &rh, &rw);
    const lv_axis ax = axis_make(W, rw, S, scratch);
    const lv_axis ay = axis_make(H, rh, S, scratch + S * ax.taps);
    float *rows = scratch + S * (ax.taps + ay.taps);
    axis_span(&ay, 0, &row0, &frac);
    row_end = axis_span(&ay, S - 1, &last, &frac) + last;
    double scale[3], shift[3];
    for (int c = 0; c < 3; c++) {
        scale[c] = 1.0 / (ax.unit * ay.unit * 255.0 * std[c]);
        shift[c] = (double)mean[c] / std[c];
    }
    for (int64_t n = 0; n < N; n++) {
        const uint8_t *frame = rgb + n * H * W * 3;
        for (int64_t r = row0; r < row_end; r++)
            resize_row(rows + (r - row0) * S * 3, frame + r * W * 3, &ax, S);
        resize_columns(out + n * S * S * 3, rows, row0, &ay, S, scale, shift);
    }
}

void lv_unpreprocess(uint8_t *rgb, const float *in, int64_t N, int64_t S, const float mean[3],
                     const float std[3])
{
    for (int64_t i = 0; i < N * S * S * 3; i += 3)
        for (int c = 0; c < 3; c++) {
            const double v = round(((double)in[i + c] * std[c] + mean[c]) * 255.0);
            rgb[i + c] = (uint8_t)(v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : v);
        }
}
