/* Stage 0 of the recipe: initialise a built lv_model from a CLIP image-text checkpoint in
 * safetensors (Hugging Face CLIPModel names, or OpenAI CLIP / open_clip names) or its text tower
 * from a BERT checkpoint, the video-to-text stage's decoder LM from a GPT-2 checkpoint, and the
 * grid and table resizes the stages need. No network, no training: copying and reshaping only. */
#ifndef LV_CLIP_INIT_H
#define LV_CLIP_INIT_H

#include "model.h"
#include "v2t.h"

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

/* The video-to-text stage's decoder LM (built by lv_v2t_build, with lm_only or not) from a
 * Hugging Face GPT2Model safetensors file, or GPT2LMHeadModel's (names under "transformer.", its
 * lm_head.weight beside them): wte -> lm.token_embed (also our output projection: a stored
 * lm_head.weight must equal it), the first lm_ctx rows of wpe -> lm.pos_embed, ln_f ->
 * lm.ln_final, per layer h.<l>.ln_1 / ln_2 -> ln1 / ln2 and the Conv1D layers, stored (in, out),
 * transposed: attn.c_attn (W, 3W) -> attn.qkv (3W, W) (q|k|v column blocks become row blocks),
 * attn.c_proj -> attn.proj, mlp.c_fc (W, 4W) -> mlp.fc1, mlp.c_proj (4W, W) -> mlp.fc2; biases
 * as they are. The attn.bias / attn.masked_bias buffers are not needed. Checked and staged as
 * the CLIP load: lm_layers, lm_width, the vocabulary rows (lm_vocab, or vocab when 0) and every
 * shape must match, lm_ctx must not exceed the position rows; -1 + lv_error() listing every
 * problem, the parameters untouched. The file holds no head count or epsilon: GPT-2 has heads of
 * 64 (lm_heads = width / 64) and LayerNorm eps 1e-5 (ln_eps), and with lm_act=gelu_tanh the LM
 * computes GPT-2's logits. Resampler, cross-attention and encoder keep their values. */
int lv_v2t_init_lm_from_gpt2(lv_v2t *v, const char *path);

/* A GPT-2 file's sizes, read from its header: the rows of wte (vocabulary) and wpe (positions),
 * the width and the block count, to set lm_vocab, lm_ctx (at most positions), lm_width and
 * lm_layers from. */
typedef struct {
    int64_t vocab, positions, width, layers;
} lv_gpt2_dims;

/* 0, or -1 + lv_error() when the file lacks wte / wpe (2-D, one width) or blocks. */
int lv_gpt2_read_dims(const char *path, lv_gpt2_dims *out);

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
