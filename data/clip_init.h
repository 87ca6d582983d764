/* Stage 0 of the recipe: initialise a built lv_model from a CLIP image-text checkpoint in
 * safetensors (Hugging Face CLIPModel names, or OpenAI CLIP / open_clip names), and the grid and
 * table resizes the two stages need. No network, no training: copying and reshaping only. */
#ifndef LV_CLIP_INIT_H
#define LV_CLIP_INIT_H

#include "model.h"

#include <stdint.h>

/* Loads the vision and text towers of a CLIP safetensors file into m (built by
 * lv_model_build) through one name-mapping table; F32, F16 and BF16 tensors are accepted (F64 is
 * rounded). Layer counts and every shape must match the config, except the position grid, which
 * is resized bilinearly, and the text positions, of which the first text_len rows are taken.
 * Then the tensors derived from loaded ones are made again: the inflated tubelet kernel and its
 * bias, and factorized attention's temporal blocks (copies of the spatial ones; gates stay 0).
 * Everything else (temporal position table, TubeViT tubes, frame pooling, adapters, LoRA) keeps
 * its init. This is an initialisation, not a reproduction of CLIP: our MLP uses the erf GELU
 * where OpenAI CLIP uses QuickGELU, and our text tower is bidirectional and mean-pooled where
 * CLIP's is causal and reads the end-of-text token.
 * Returns 0, or -1 with lv_error() listing the missing and mis-shaped tensors (name, expected
 * shape, found shape) and the parameters untouched: everything is checked and read into a
 * staging copy before any parameter changes. */
int lv_model_init_from_clip(lv_model *m, const char *path);

/* The same for a part: LV_CLIP_VISION (the vision tower and its projection: any text
 * vocabulary, the text tower keeps its init), LV_CLIP_TEXT, or both (logit_scale only then).
 * The naming layout is recognised from the file: OpenAI / open_clip when it has
 * visual.conv1.weight (blocks under visual.transformer.resblocks.<l>. and
 * transformer.resblocks.<l>., attention's fused in_proj, c_fc / c_proj, projections stored
 * transposed), else Hugging Face. */
enum { LV_CLIP_VISION = 1, LV_CLIP_TEXT = 2 };
int lv_model_init_from_clip_parts(lv_model *m, const char *path, int parts);

/* Bilinear resize of a (g0 x g0, D) grid of position embeddings (row y * g + x) to (g1 x g1, D),
 * with align_corners=False semantics as torch.nn.functional.interpolate(mode="bilinear").
 * out must not alias in. */
void lv_pos_grid_resize(float *out,            /* (g1 * g1, D) */
                        const float *in,       /* (g0 * g0, D) */
                        int64_t g0, int64_t g1, int64_t D);

/* A temporal table (T0, D) -> (T1, D): linear interpolation with align_corners=True (the first
 * and last rows are kept) or tiling (row t = in[t % T0]). out must not alias in. */
void lv_temporal_resize(float *out,            /* (T1, D) */
                        const float *in,       /* (T0, D) */
                        int64_t T0, int64_t T1, int64_t D, lv_temporal_extend mode);

#endif
