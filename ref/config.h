/* Model configuration: the presets (tiny, vit-s, vit-b, vit-l, 1b), the overrides every field
 * accepts ("frames=128", "attn=factorized", ...), validation, and the text form stored in every
 * checkpoint's metadata. Plain data; no allocation. */
#ifndef LV_CONFIG_H
#define LV_CONFIG_H

#include "kernels.h"
#include "mask.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LV_ATTN_JOINT = 0,       /* joint space-time attention over all kept tokens (ViViT model 1) */
    LV_ATTN_FACTORIZED,      /* spatial attention + tanh-gated temporal attention per block */
    LV_ATTN_FRAME            /* frame-level: the image ViT on each frame, then pooled over frames */
} lv_attn_kind;

typedef enum { LV_FRAME_POOL_MEAN = 0, LV_FRAME_POOL_ATTN } lv_frame_pool;

/* The MLP activation of a tower: the erf GELU (ViT, BERT), CLIP's QuickGELU x sigmoid(1.702 x), or
 * GPT-2's tanh approximation of GELU x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
typedef enum { LV_ACT_GELU = 0, LV_ACT_QUICK_GELU, LV_ACT_GELU_TANH } lv_act;

/* A tower's one vector per sample: the mean of its tokens, or the class token's row (video: a
 * learned token prepended to every sample, as CLIP's image tower; text: the [CLS] position). */
typedef enum { LV_POOL_MEAN = 0, LV_POOL_CLS } lv_pool;

/* The text tower's block: pre-LN (ours, CLIP-like: x += f(LN x), a final LayerNorm) or BERT's
 * post-LN (a LayerNorm on the embeddings, x = LN(x + f(x)) per sub-layer, no final LayerNorm). */
typedef enum { LV_TEXT_PRE_LN = 0, LV_TEXT_BERT } lv_text_arch;

typedef enum {
    LV_TUNE_FULL = 0,        /* every parameter trains */
    LV_TUNE_LAST_K,          /* the last k video blocks and the head; nothing before them */
    LV_TUNE_ADAPTERS,        /* MLP adapters (and the new tubelet projection) */
    LV_TUNE_LORA,            /* LoRA factors (and the new tubelet projection) */
    LV_TUNE_TEMPORAL         /* factorized attention's temporal blocks and gates only */
} lv_tune;

typedef enum { LV_INFLATE_AVERAGE = 0, LV_INFLATE_CENTRAL } lv_inflate;
typedef enum { LV_TEMPORAL_INTERPOLATE = 0, LV_TEMPORAL_TILE } lv_temporal_extend;

/* One kind of tube of the TubeViT-style tokenizer: kernel, stride, offset (time, height, width). */
typedef struct {
    int64_t k[3], s[3], o[3];
} lv_tube_spec;

#define LV_MAX_TUBES 4

typedef struct {
    /* video input and tokenizer */
    int64_t frames;              /* F, sampled at 1 FPS */
    int64_t image_size;          /* H = W after resize and centre crop */
    int64_t tubelet_t;           /* tubelet time extent t (coarse-t: 4) */
    int64_t patch;               /* tubelet spatial extent p (coarse-s: 32) */
    int64_t n_tubes;             /* 0: tubelets t x p x p; > 0: TubeViT-style mix of tubes[] */
    lv_tube_spec tubes[LV_MAX_TUBES];
    /* video tower */
    int64_t width, layers, heads, mlp_ratio;
    lv_act act;                  /* MLP activation of the video tower's blocks */
    lv_attn_kind attn;
    lv_frame_pool frame_pool;
    lv_pool pool;                /* mean of the kept tokens, or a class token (attn=joint) */
    lv_mask_kind mask_kind;
    double mask_ratio;           /* r in [0, 0.9]: fraction of tokens dropped */
    /* text tower */
    int64_t vocab, text_len, text_width, text_layers, text_heads;
    lv_text_arch text_arch;
    lv_act text_act;
    lv_pool text_pool;           /* masked mean, or the row of position 0 ([CLS]) */
    double text_ln_eps;          /* BERT: 1e-12 */
    /* shared */
    int64_t embed_dim;           /* E */
    double ln_eps;
    /* tuning */
    lv_tune tune;
    int64_t tune_last_k;         /* k of last-k (paper: 4) */
    int freeze_text;             /* text tower frozen (the long stage) */
    int64_t adapter_dim;         /* adapter bottleneck (default width / 4) */
    int64_t lora_rank;           /* r (default 8) */
    double lora_alpha;           /* LoRA scale is alpha / r (default alpha = r) */
    /* initialisation from an image-text model */
    lv_inflate inflate;
    lv_temporal_extend temporal_extend;
    /* video-to-text (stage 2): the frozen encoder's tokens, pooled over time, through a Perceiver
     * resampler into gated cross-attention layers before the layers of a frozen decoder LM */
    int64_t lm_vocab, lm_ctx, lm_width, lm_layers, lm_heads;      /* the LM, GPT-2 shape;
                                                                   * lm_vocab 0: vocab's */
    lv_act lm_act;
    int64_t rs_latents, rs_depth, rs_heads, rs_head_dim;          /* the resampler */
    int64_t xattn_every, xattn_heads, xattn_head_dim;             /* the cross-attention */
    double v2t_mask_ratio;       /* video tokens dropped in this stage, training and inference */
    uint64_t seed;
    char preset[16];
} lv_config;

/* Fills *c with a preset ("tiny", "vit-s", "vit-b", "vit-l", "1b"); -1 + lv_error() if unknown. */
int lv_config_preset(lv_config *c, const char *name);

/* Applies one "key=value" override (keys as printed by lv_config_format); -1 + lv_error(). */
int lv_config_set(lv_config *c, const char *assignment);

/* Checks every field and their combinations (divisibility, ranges, tuning vs attention);
 * -1 + lv_error() naming the field and the fix. */
int lv_config_validate(const lv_config *c);

/* "key=value" lines, one per field, parseable back by lv_config_set; returns the length
 * (as snprintf: the text is truncated if it does not fit in size). */
size_t lv_config_format(const lv_config *c, char *out, size_t size);

/* Token geometry of the video tower. Tokens of one sample are numbered over the tokenizers in
 * order: tokenizer j owns [start, start + N) and, inside it, n = (t * Hp + y) * Wp + x. */
typedef struct {
    lv_tubelet_shape shape;      /* over one sample's (F, H, W, 3) video */
    int64_t Ft, Hp, Wp, P, N;    /* its grid; P = Hp * Wp spatial positions per time step */
    int64_t voxel;               /* kt * kh * kw * 3 */
    int64_t start;               /* first token number */
} lv_tokenizer_geometry;

typedef struct {
    int64_t n_tokenizers;        /* 1, or the TubeViT mix */
    lv_tokenizer_geometry tok[LV_MAX_TUBES];
    int64_t N;                   /* tokens per sample before masking */
    int64_t K;                   /* tokens kept per sample after masking */
    int64_t cls;                 /* 1 with a class token (pool=cls), else 0 */
    int64_t R;                   /* the tower's rows per sample: the class token, then K */
} lv_video_geometry;

/* Geometry of the video tower's input: the config's videos, or (image != 0) single images
 * through the 2D patch path. K follows the mask ratio. */
lv_video_geometry lv_config_geometry(const lv_config *c, int image);

/* The decoder LM's vocabulary: lm_vocab, or the captions' (vocab) when lm_vocab is 0. */
int64_t lv_config_lm_vocab(const lv_config *c);

const char *lv_attn_kind_name(lv_attn_kind a);
const char *lv_tune_name(lv_tune t);

#endif
