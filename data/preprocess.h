/* The model input of docs/model.md from RGB24 frames, in our own C: resize the shorter side to S,
 * centre-crop S x S, scale to [0,1], normalise per channel; and the inverse, for pictures.
 * No libswscale here (its filters are not ours to state), no allocation, no model headers. */
#ifndef LV_PREPROCESS_H
#define LV_PREPROCESS_H

#include <stdint.h>

/* CLIP's normalisation constants (OpenAI CLIP and open_clip), for callers who want them. */
extern const float LV_CLIP_MEAN[3];     /* 0.48145466 0.4578275  0.40821073 */
extern const float LV_CLIP_STD[3];      /* 0.26862954 0.26130258 0.27577711 */

/* Floats of scratch lv_preprocess needs for frames of H x W to S x S (the weight tables and one
 * frame's horizontally resized rows); the same for every frame, so allocate it once. */
int64_t lv_preprocess_scratch_floats(int64_t H, int64_t W, int64_t S);

/* rgb (N, H, W, 3) uint8 -> out (N, S, S, 3) float, frame by frame, with these exact rules:
 *  - resized size: the shorter side becomes S, the longer floor(long * S / short) (torchvision's
 *    Resize(S)); crop offset floor((resized - S) / 2) on each axis (an odd surplus pixel is cut
 *    on the right or bottom); only the cropped pixels are computed.
 *  - each axis separately (horizontal, then vertical), with in = source and out = resized size:
 *    shrinking (in > out): area average, a box filter as wide as the factor: resized pixel j
 *      covers [j*in/out, (j+1)*in/out) of the source, and each source pixel weighs by the length
 *      of its overlap (OpenCV INTER_AREA, PIL BOX); a 2x shrink is the exact mean of 2x2 blocks.
 *      Weights are integers (overlaps in units of 1/out) and sums are exact.
 *    enlarging or equal (in <= out): bilinear with half-pixel centres (align_corners=False):
 *      source x = max((j + 0.5) * in / out - 0.5, 0), the right neighbour clamped to the edge.
 *  - then v / 255, and (v - mean[c]) / std[c], computed in double and rounded once to float.
 * scratch holds lv_preprocess_scratch_floats(H, W, S) floats. N = 0 does nothing. */
void lv_preprocess(float *out, const uint8_t *rgb, int64_t N, int64_t H, int64_t W, int64_t S,
                   const float mean[3], const float std[3], float *scratch);

/* The inverse of the scale and normalisation, for showing what the model sees:
 * in (N, S, S, 3) float -> rgb (N, S, S, 3) uint8, round((x * std[c] + mean[c]) * 255) clamped to
 * 0..255. */
void lv_unpreprocess(uint8_t *rgb, const float *in, int64_t N, int64_t S, const float mean[3],
                     const float std[3]);

#endif
