/* Stage 0 of the recipe: initialise a built lv_model from a CLIP image-text checkpoint in
 * safetensors (Hugging Face CLIPModel names, or OpenAI CLIP / open_clip names) or its text tower
 * from a BERT checkpoint, and the grid and table resizes the two stages need. No network, no
 * training: copying and reshaping only. */
#ifndef LV_CLIP_INIT_H
#define LV_CLIP_INIT_H

#include "model.h"

#include <stdint.h>

/* Loads the vision and text towers of a CLIP safetensors file into m (built by
 * lv_model_build) through one name-mapping table; F32, F16 and BF16 tensors are accepted (F64 is
 * rounded). Layer counts and every shape must match the config, except the position grid, which
 * is resized bilinearly, and the text positions, of which the first text_len rows are taken.
 * With pool=cls, CLIP's class embedding plus its position row 0 becomes video.class_token (with
 * pool=mean both are dropped). Then the tensors derived from loaded ones are made again: the
 * inflated tubelet kernel and its bias, and factorized attention's temporal blocks (copies of the
 * spatial ones; gates stay 0). Everything else (temporal position table, TubeViT tubes, frame
 * pooling, adapters, LoRA) keeps its init. With act=quick_gelu pool=cls and CLIP's image size the
 * vision tower computes CLIP's image function exactly (pre_layrnorm = video.ln_pre,
 * post_layernorm on the class row = video.ln_final, visual_projection = video.proj); the text
 * tower (text_arch=pre-ln, required) is bidirectional where CLIP's is causal and reads the
 * end-of-text token, so there the load is an initialisation, not a reproduction.
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

/* The text tower (text_arch=bert, required) from a Hugging Face BertModel safetensors file, its
 * names with or without the "bert." of BertForPreTraining / BertForMaskedLM (whose cls.* heads,
 * like pooler.*, are not needed): word embeddings -> text.token_embed; the first text_len
 * position rows plus token type 0 (every caption is segment 0) -> text.pos_embed; the embeddings'
 * LayerNorm (weight/bias or legacy gamma/beta) -> text.ln_embed; per layer query|key|value ->
 * attn.qkv, attention.output.dense -> attn.proj, its LayerNorm -> ln1, intermediate.dense ->
 * mlp.fc1, output.dense -> mlp.fc2, output.LayerNorm -> ln2. text.proj.weight (BERT has no
 * projection) and the video tower keep their values. Checked and staged as the CLIP load: layer
 * count, width, vocab rows and every shape must match, text_len must not exceed the position
 * rows; -1 + lv_error() listing every problem, the parameters untouched. */
int lv_model_init_from_bert(lv_model *m, const char *path);

/* The rows of a BERT file's word embeddings (its vocabulary size), read from the header only;
 * -1 + lv_error() when it has none. */
int64_t lv_bert_vocab_rows(const char *path);

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
