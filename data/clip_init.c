/* Initialisation from CLIP, BERT and GPT-2 checkpoints (see clip_init.h): one mapping table per
 * naming layout, a checking pass that collects every problem, then a reading pass into a staging
 * copy of the parameters. No per-tensor code outside the tables' conversion kinds; no partial
 * loads. */
#include "clip_init.h"
#include "error.h"
#include "safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the mapping tables ----------------------------------------------------------------------
 * CLIP's vision tower maps whole: with act=quick_gelu pool=cls our video tower computes CLIP's
 * image function exactly on an image of CLIP's size (class embedding plus position row 0 =
 * video.class_token, pre_layrnorm = video.ln_pre, post_layernorm on the class row =
 * video.ln_final, then visual_projection). With pool=mean the class embedding and the CLS
 * position row are not needed, and are dropped. CLIP's text tower is causal and reads the
 * end-of-text token where ours is bidirectional: its load is an initialisation, not a
 * reproduction. The position_ids buffers are accepted but not needed. Tensors CLIP has no
 * counterpart for keep their init: video.pos.temporal (zeros), the TubeViT tubes video.tubes.*,
 * the frame pooling video.pool.*, adapters and LoRA factors.
 * BERT (Hugging Face BertModel) maps onto text_arch=bert block for block; every caption is
 * segment 0, so token type 0 is a constant added to every position and is folded into
 * text.pos_embed. Accepted and not needed: pooler.*, embeddings.position_ids, token types 1..,
 * and the cls.* heads of BertForPreTraining / BertForMaskedLM files. BERT has no projection:
 * text.proj.weight keeps its init.
 * GPT-2 (Hugging Face GPT2Model, or GPT2LMHeadModel with "transformer.") maps onto the
 * video-to-text decoder LM block for block: its Conv1D layers store their weights (in, out) and
 * multiply on the right, so c_attn, c_proj, c_fc and mlp.c_proj are transposed (c_attn's q|k|v
 * column blocks become our q|k|v row blocks); the first lm_ctx rows of wpe are taken. Its output
 * projection is tied to wte, as ours: a stored lm_head.weight must equal wte. Accepted and not
 * needed: the attn.bias / attn.masked_bias buffers (the causal mask, which our attention
 * applies). */

typedef enum {
    MAP_COPY,           /* same shape; a scalar may be stored as shape (1) */
    MAP_CONV_TO_PATCH,  /* conv kernel (D, 3, p, p) -> (D, p*p*3), elements ordered (dy, dx, c) */
    MAP_POS_GRID,       /* (1 + g0*g0, D): the CLS row dropped, the g0 x g0 grid resized to ours */
    MAP_QKV_PART,       /* (D, ...) -> rows [part*D, (part+1)*D) of the fused (3D, ...) */
    MAP_PREFIX_ROWS,    /* (R, D) with R >= ours (positions: R >= text_len or lm_ctx) -> its first
                         * rows */
    MAP_TRANSPOSE,      /* (C, OC) -> our (OC, C): OpenAI's projections and GPT-2's Conv1D layers
                         * multiply on the right */
    MAP_TIED,           /* a copy the file may hold of a tensor another row loads (GPT-2's
                         * lm_head.weight, tied to wte): absent is fine, present it must equal
                         * that tensor (.equal) element for element; nothing is read into ours */
    MAP_ZERO            /* no checkpoint tensor: zeros (CLIP's patch conv has no bias) */
} map_kind;

typedef struct {
    const char *ckpt;   /* the checkpoint's name; block rows: after the tower's block head */
    const char *legacy; /* an older spelling of ckpt, read when ckpt is absent, or NULL */
    const char *plus;   /* a (R, D) tensor whose row 0 is added to every row of ours, or NULL */
    const char *ours;   /* our name; block rows: after "<tower>.blocks.<l>." */
    map_kind kind;
    int part;           /* MAP_QKV_PART: 0 q, 1 k, 2 v */
    int block;          /* the row repeats for every layer of the tower(s) */
    int optional;       /* only for model variants that have ours, skipped in the others */
    const char *key;    /* MAP_PREFIX_ROWS: the config key of our row count (messages) */
    const char *equal;  /* MAP_TIED: the checkpoint tensor it must equal */
    int top;            /* named outside the layout's wrapper (a head beside the wrapped model) */
} clip_map;

#define ONCE(ckpt_, ours_, kind_) { .ckpt = ckpt_, .ours = ours_, .kind = kind_ }
#define BLOCK(ckpt_, ours_, kind_, part_)                                                      \
    { .ckpt = ckpt_, .ours = ours_, .kind = kind_, .part = part_, .block = 1 }
/* the first rows of a position table, as many as config key_ says */
#define PREFIX(ckpt_, ours_, key_)                                                             \
    { .ckpt = ckpt_, .ours = ours_, .kind = MAP_PREFIX_ROWS, .key = key_ }
/* CLIP's class embedding (D) plus its position row 0: video.class_token (pool=cls only) */
#define CLASS_TOKEN(class_, pos_)                                                              \
    { .ckpt = class_, .plus = pos_, .ours = "video.class_token", .kind = MAP_COPY,            \
      .optional = 1 }
/* A BERT LayerNorm: weight and bias, in older files gamma and beta */
#define BERT_LN(ckpt_, ours_, block_)                                                          \
    { .ckpt = ckpt_ ".weight", .legacy = ckpt_ ".gamma", .ours = ours_ ".weight",             \
      .kind = MAP_COPY, .block = block_ },                                                     \
    { .ckpt = ckpt_ ".bias", .legacy = ckpt_ ".beta", .ours = ours_ ".bias", .kind = MAP_COPY, \
      .block = block_ }

static const clip_map clip_table[] = {
    ONCE("vision_model.embeddings.patch_embedding.weight", "video.patch.weight",
         MAP_CONV_TO_PATCH),
    ONCE(NULL, "video.patch.bias", MAP_ZERO),
    ONCE("vision_model.embeddings.position_embedding.weight", "video.pos.spatial", MAP_POS_GRID),
    CLASS_TOKEN("vision_model.embeddings.class_embedding",
                "vision_model.embeddings.position_embedding.weight"),
    ONCE("vision_model.pre_layrnorm.weight", "video.ln_pre.weight", MAP_COPY),
    ONCE("vision_model.pre_layrnorm.bias", "video.ln_pre.bias", MAP_COPY),
    ONCE("vision_model.post_layernorm.weight", "video.ln_final.weight", MAP_COPY),
    ONCE("vision_model.post_layernorm.bias", "video.ln_final.bias", MAP_COPY),
    ONCE("visual_projection.weight", "video.proj.weight", MAP_COPY),
    ONCE("text_model.embeddings.token_embedding.weight", "text.token_embed", MAP_COPY),
    PREFIX("text_model.embeddings.position_embedding.weight", "text.pos_embed", "text_len"),
    ONCE("text_model.final_layer_norm.weight", "text.ln_final.weight", MAP_COPY),
    ONCE("text_model.final_layer_norm.bias", "text.ln_final.bias", MAP_COPY),
    ONCE("text_projection.weight", "text.proj.weight", MAP_COPY),
    ONCE("logit_scale", "logit_scale", MAP_COPY),
    BLOCK("layer_norm1.weight", "ln1.weight", MAP_COPY, 0),
    BLOCK("layer_norm1.bias", "ln1.bias", MAP_COPY, 0),
    BLOCK("self_attn.q_proj.weight", "attn.qkv.weight", MAP_QKV_PART, 0),
    BLOCK("self_attn.k_proj.weight", "attn.qkv.weight", MAP_QKV_PART, 1),
    BLOCK("self_attn.v_proj.weight", "attn.qkv.weight", MAP_QKV_PART, 2),
    BLOCK("self_attn.q_proj.bias", "attn.qkv.bias", MAP_QKV_PART, 0),
    BLOCK("self_attn.k_proj.bias", "attn.qkv.bias", MAP_QKV_PART, 1),
    BLOCK("self_attn.v_proj.bias", "attn.qkv.bias", MAP_QKV_PART, 2),
    BLOCK("self_attn.out_proj.weight", "attn.proj.weight", MAP_COPY, 0),
    BLOCK("self_attn.out_proj.bias", "attn.proj.bias", MAP_COPY, 0),
    BLOCK("layer_norm2.weight", "ln2.weight", MAP_COPY, 0),
    BLOCK("layer_norm2.bias", "ln2.bias", MAP_COPY, 0),
    BLOCK("mlp.fc1.weight", "mlp.fc1.weight", MAP_COPY, 0),
    BLOCK("mlp.fc1.bias", "mlp.fc1.bias", MAP_COPY, 0),
    BLOCK("mlp.fc2.weight", "mlp.fc2.weight", MAP_COPY, 0),
    BLOCK("mlp.fc2.bias", "mlp.fc2.bias", MAP_COPY, 0),
};

/* OpenAI's CLIP and open_clip: the same tensors under other names; attention's q, k, v already
 * fused as in_proj (q, k, v order, as ours), the projections stored (width, embed) */
static const clip_map openai_table[] = {
    ONCE("visual.conv1.weight", "video.patch.weight", MAP_CONV_TO_PATCH),
    ONCE(NULL, "video.patch.bias", MAP_ZERO),
    ONCE("visual.positional_embedding", "video.pos.spatial", MAP_POS_GRID),
    CLASS_TOKEN("visual.class_embedding", "visual.positional_embedding"),
    ONCE("visual.ln_pre.weight", "video.ln_pre.weight", MAP_COPY),
    ONCE("visual.ln_pre.bias", "video.ln_pre.bias", MAP_COPY),
    ONCE("visual.ln_post.weight", "video.ln_final.weight", MAP_COPY),
    ONCE("visual.ln_post.bias", "video.ln_final.bias", MAP_COPY),
    ONCE("visual.proj", "video.proj.weight", MAP_TRANSPOSE),
    ONCE("token_embedding.weight", "text.token_embed", MAP_COPY),
    PREFIX("positional_embedding", "text.pos_embed", "text_len"),
    ONCE("ln_final.weight", "text.ln_final.weight", MAP_COPY),
    ONCE("ln_final.bias", "text.ln_final.bias", MAP_COPY),
    ONCE("text_projection", "text.proj.weight", MAP_TRANSPOSE),
    ONCE("logit_scale", "logit_scale", MAP_COPY),
    BLOCK("ln_1.weight", "ln1.weight", MAP_COPY, 0),
    BLOCK("ln_1.bias", "ln1.bias", MAP_COPY, 0),
    BLOCK("attn.in_proj_weight", "attn.qkv.weight", MAP_COPY, 0),
    BLOCK("attn.in_proj_bias", "attn.qkv.bias", MAP_COPY, 0),
    BLOCK("attn.out_proj.weight", "attn.proj.weight", MAP_COPY, 0),
    BLOCK("attn.out_proj.bias", "attn.proj.bias", MAP_COPY, 0),
    BLOCK("ln_2.weight", "ln2.weight", MAP_COPY, 0),
    BLOCK("ln_2.bias", "ln2.bias", MAP_COPY, 0),
    BLOCK("mlp.c_fc.weight", "mlp.fc1.weight", MAP_COPY, 0),
    BLOCK("mlp.c_fc.bias", "mlp.fc1.bias", MAP_COPY, 0),
    BLOCK("mlp.c_proj.weight", "mlp.fc2.weight", MAP_COPY, 0),
    BLOCK("mlp.c_proj.bias", "mlp.fc2.bias", MAP_COPY, 0),
};

/* Hugging Face BertModel onto text_arch=bert: q, k, v stacked as CLIP's; the post-LN blocks'
 * LayerNorm after attention is our ln1, the one after the MLP our ln2. Its first row tells
 * whether the names carry the "bert." of BertForPreTraining / BertForMaskedLM. */
static const clip_map bert_table[] = {
    ONCE("embeddings.word_embeddings.weight", "text.token_embed", MAP_COPY),
    { .ckpt = "embeddings.position_embeddings.weight",
      .plus = "embeddings.token_type_embeddings.weight", .ours = "text.pos_embed",
      .kind = MAP_PREFIX_ROWS, .key = "text_len" },
    BERT_LN("embeddings.LayerNorm", "text.ln_embed", 0),
    BLOCK("attention.self.query.weight", "attn.qkv.weight", MAP_QKV_PART, 0),
    BLOCK("attention.self.key.weight", "attn.qkv.weight", MAP_QKV_PART, 1),
    BLOCK("attention.self.value.weight", "attn.qkv.weight", MAP_QKV_PART, 2),
    BLOCK("attention.self.query.bias", "attn.qkv.bias", MAP_QKV_PART, 0),
    BLOCK("attention.self.key.bias", "attn.qkv.bias", MAP_QKV_PART, 1),
    BLOCK("attention.self.value.bias", "attn.qkv.bias", MAP_QKV_PART, 2),
    BLOCK("attention.output.dense.weight", "attn.proj.weight", MAP_COPY, 0),
    BLOCK("attention.output.dense.bias", "attn.proj.bias", MAP_COPY, 0),
    BERT_LN("attention.output.LayerNorm", "ln1", 1),
    BLOCK("intermediate.dense.weight", "mlp.fc1.weight", MAP_COPY, 0),
    BLOCK("intermediate.dense.bias", "mlp.fc1.bias", MAP_COPY, 0),
    BLOCK("output.dense.weight", "mlp.fc2.weight", MAP_COPY, 0),
    BLOCK("output.dense.bias", "mlp.fc2.bias", MAP_COPY, 0),
    BERT_LN("output.LayerNorm", "ln2", 1),
};

/* Hugging Face GPT2Model onto the decoder LM: Conv1D weights (in, out) transposed, c_attn's
 * (W, 3W) columns q|k|v becoming our (3W, W) rows; its first row tells whether the names carry
 * the "transformer." of GPT2LMHeadModel, whose lm_head.weight sits beside it. */
static const clip_map gpt2_table[] = {
    ONCE("wte.weight", "lm.token_embed", MAP_COPY),
    PREFIX("wpe.weight", "lm.pos_embed", "lm_ctx"),
    ONCE("ln_f.weight", "lm.ln_final.weight", MAP_COPY),
    ONCE("ln_f.bias", "lm.ln_final.bias", MAP_COPY),
    { .ckpt = "lm_head.weight", .equal = "wte.weight", .ours = "lm.token_embed",
      .kind = MAP_TIED, .top = 1 },
    BLOCK("ln_1.weight", "ln1.weight", MAP_COPY, 0),
    BLOCK("ln_1.bias", "ln1.bias", MAP_COPY, 0),
    BLOCK("attn.c_attn.weight", "attn.qkv.weight", MAP_TRANSPOSE, 0),
    BLOCK("attn.c_attn.bias", "attn.qkv.bias", MAP_COPY, 0),
    BLOCK("attn.c_proj.weight", "attn.proj.weight", MAP_TRANSPOSE, 0),
    BLOCK("attn.c_proj.bias", "attn.proj.bias", MAP_COPY, 0),
    BLOCK("ln_2.weight", "ln2.weight", MAP_COPY, 0),
    BLOCK("ln_2.bias", "ln2.bias", MAP_COPY, 0),
    BLOCK("mlp.c_fc.weight", "mlp.fc1.weight", MAP_TRANSPOSE, 0),
    BLOCK("mlp.c_fc.bias", "mlp.fc1.bias", MAP_COPY, 0),
    BLOCK("mlp.c_proj.weight", "mlp.fc2.weight", MAP_TRANSPOSE, 0),
    BLOCK("mlp.c_proj.bias", "mlp.fc2.bias", MAP_COPY, 0),
};

/* The stacks a file can hold blocks of: the contrastive video and text towers, and the
 * video-to-text decoder LM (PART_LM: only lv_v2t_init_lm_from_gpt2 loads it). */
enum { PART_LM = 4 };
enum { TOWER_VIDEO, TOWER_TEXT, TOWER_LM, TOWERS };
static const int tower_part[TOWERS] = { LV_CLIP_VISION, LV_CLIP_TEXT, PART_LM };

/* A naming layout: its table, where each tower's blocks live ("<head><l>.<row>"), and what a
 * message about it says. */
typedef struct {
    const char *family;                   /* "CLIP", "BERT" */
    const char *name;                     /* the naming layout */
    const clip_map *table;
    int64_t rows;
    const char *block_head[TOWERS];       /* video, text, LM; NULL: the file has no such stack */
    const char *wrapper;                  /* a prefix every name may carry, or NULL */
    lv_text_arch text_arch;               /* the block the file's text tower has ... */
    const char *arch_fix;                 /* ... and what to do when the config's differs */
    const char *file;                     /* what to give instead, in a message */
    const char *sizes[TOWERS];            /* the config keys each stack's shapes come from */
} clip_layout;

#define ROWS(table) (int64_t)(sizeof table / sizeof table[0])
#define CLIP_FILE "a CLIP safetensors file (Hugging Face CLIPModel or OpenAI/open_clip names)"
#define CLIP_ARCH "CLIP's text tower is pre-LN, use --set text_arch=pre-ln (or take only its " \
                  "vision tower, --init-vision)"
#define CLIP_SIZES { "width, layers, patch, mlp_ratio, embed_dim", \
                     "text_width, text_layers, vocab, text_len" }

enum { LAYOUT_HF_CLIP, LAYOUT_OPENAI_CLIP, LAYOUT_BERT, LAYOUT_GPT2 };

static const clip_layout layouts[] = {
    [LAYOUT_HF_CLIP] = {
        .family = "CLIP", .name = "Hugging Face CLIPModel", .table = clip_table,
        .rows = ROWS(clip_table),
        .block_head = { "vision_model.encoder.layers.", "text_model.encoder.layers." },
        .text_arch = LV_TEXT_PRE_LN, .arch_fix = CLIP_ARCH, .file = CLIP_FILE,
        .sizes = CLIP_SIZES },
    [LAYOUT_OPENAI_CLIP] = {
        .family = "CLIP", .name = "OpenAI CLIP / open_clip", .table = openai_table,
        .rows = ROWS(openai_table),
        .block_head = { "visual.transformer.resblocks.", "transformer.resblocks." },
        .text_arch = LV_TEXT_PRE_LN, .arch_fix = CLIP_ARCH, .file = CLIP_FILE,
        .sizes = CLIP_SIZES },
    [LAYOUT_BERT] = {
        .family = "BERT", .name = "Hugging Face BertModel", .table = bert_table,
        .rows = ROWS(bert_table), .block_head = { NULL, "encoder.layer." }, .wrapper = "bert.",
        .text_arch = LV_TEXT_BERT, .arch_fix = "BERT is post-LN, use --set text_arch=bert",
        .file = "a BERT safetensors file (Hugging Face BertModel names, with or without "
                "\"bert.\")",
        .sizes = { NULL, "text_width, text_layers, mlp_ratio, text_len, and vocab: train with "
                         "the file's vocab.txt" } },
    [LAYOUT_GPT2] = {
        .family = "GPT-2", .name = "Hugging Face GPT2Model", .table = gpt2_table,
        .rows = ROWS(gpt2_table), .block_head = { [TOWER_LM] = "h." }, .wrapper = "transformer.",
        .file = "a GPT-2 safetensors file (Hugging Face GPT2Model names, or GPT2LMHeadModel's "
                "with \"transformer.\")",
        .sizes = { [TOWER_LM] = "lm_vocab, lm_width, lm_layers, and lm_ctx at most its "
                                "positions" } },
};

/* What a load writes: a parameter table (lv_model's, or the video-to-text stage's) and the
 * config its shapes were built from. */
typedef struct {
    lv_params *ps;
    const lv_config *cfg;
} target;

/* A file read through a layout: its names carry prefix ("" or the layout's wrapper); parts is
 * what this load takes (LV_CLIP_VISION, LV_CLIP_TEXT, PART_LM). */
typedef struct {
    const clip_layout *lay;
    const char *prefix;
    int parts;
} source;

/* The stacks: the checkpoint's block head (prefix included), our prefix, the config key of the
 * layer count, and whether this load takes the stack. */
typedef struct {
    char ckpt[96];
    const char *ours, *layers_key;
    int64_t layers;
    int wanted;
} tower_names;

static void towers_of(const lv_config *c, const source *s, tower_names t[TOWERS])
{
    static const char *const ours[TOWERS] = { "video", "text", "lm" };
    static const char *const keys[TOWERS] = { "layers", "text_layers", "lm_layers" };
    const int64_t layers[TOWERS] = { c->layers, c->text_layers, c->lm_layers };
    for (int k = 0; k < TOWERS; k++) {
        const char *head = s->lay->block_head[k];
        t[k] = (tower_names){ .ours = ours[k], .layers_key = keys[k], .layers = layers[k],
                              .wanted = head && (s->parts & tower_part[k]) };
        snprintf(t[k].ckpt, sizeof t[k].ckpt, "%s%s", s->prefix, head ? head : "");
    }
}

/* Whether a single (non-block) row belongs to what this load takes: the vision tower with its
 * projection, the text tower with its projection, logit_scale only with both, the LM's rows with
 * the LM; an optional row only when the model has its tensor. */
static int row_wanted(const target *d, const clip_map *row, int parts)
{
    if (row->optional && lv_params_find(d->ps, row->ours) < 0)
        return 0;
    if (!strncmp(row->ours, "video.", 6))
        return (parts & LV_CLIP_VISION) != 0;
    if (!strncmp(row->ours, "text.", 5))
        return (parts & LV_CLIP_TEXT) != 0;
    if (!strncmp(row->ours, "lm.", 3))
        return (parts & PART_LM) != 0;
    return parts == (LV_CLIP_VISION | LV_CLIP_TEXT);
}

/* One row of the table applied to one tensor pair. */
typedef struct {
    const clip_map *row;
    char ckpt[128], legacy[128], plus[128], equal[128];   /* the row's names in this file
                                                           * ("": none) */
    char ours[LV_PARAM_NAME_MAX];
    int64_t dst;                  /* our tensor */
    const lv_st_tensor *src;      /* NULL for MAP_ZERO, or when missing */
    const lv_st_tensor *plus_src; /* the row's plus tensor, NULL without */
} map_item;

/* The file's name for a row's tensor `name` (NULL: none, ""): of layer l of tower tw for a block
 * row, else at the top level, under the wrapper prefix. */
static void ckpt_name(char *out, size_t size, const char *prefix, const tower_names *tw,
                      int64_t l, const char *name)
{
    int n = 0;
    if (!name)
        out[0] = 0;
    else if (tw)
        n = snprintf(out, size, "%s%lld.%s", tw->ckpt, (long long)l, name);
    else
        n = snprintf(out, size, "%s%s", prefix, name);
    LV_REQUIRE(n >= 0 && (size_t)n < size);      /* the tables' names fit */
}

static void item_set(map_item *it, const target *d, const source *s, const clip_map *row,
                     const tower_names *tw, int64_t l)
{
    it->row = row;
    ckpt_name(it->ckpt, sizeof it->ckpt, row->top ? "" : s->prefix, tw, l, row->ckpt);
    ckpt_name(it->legacy, sizeof it->legacy, s->prefix, tw, l, row->legacy);
    ckpt_name(it->plus, sizeof it->plus, s->prefix, tw, l, row->plus);
    ckpt_name(it->equal, sizeof it->equal, s->prefix, tw, l, row->equal);
    if (tw)
        snprintf(it->ours, sizeof it->ours, "%s.blocks.%lld.%s", tw->ours, (long long)l,
                 row->ours);
    else
        snprintf(it->ours, sizeof it->ours, "%s", row->ours);
    it->dst = lv_params_find(d->ps, it->ours);
    LV_REQUIRE(it->dst >= 0);     /* every variant of the text_arch has these (optional rows:
                                   * row_wanted checked) */
    it->src = it->plus_src = NULL;
}

/* The layout's table expanded over the wanted towers' layers: (*n) items, malloc'd; NULL +
 * lv_error(). */
static map_item *table_expand(const target *d, const source *s, int64_t *n)
{
    const clip_layout *lay = s->lay;
    tower_names tw[TOWERS];
    towers_of(d->cfg, s, tw);
    int64_t count = 0;
    for (int64_t r = 0; r < lay->rows; r++) {
        const clip_map *row = &lay->table[r];
        if (!row->block)
            count += row_wanted(d, row, s->parts);
        for (int t = 0; row->block && t < TOWERS; t++)
            count += tw[t].wanted * tw[t].layers;
    }
    map_item *items = lv_malloc((size_t)(count ? count : 1) * sizeof *items,
                                "the checkpoint's name mapping");
    if (!items)
        return NULL;
    int64_t k = 0;
    for (int64_t r = 0; r < lay->rows; r++) {
        const clip_map *row = &lay->table[r];
        if (!row->block) {
            if (row_wanted(d, row, s->parts))
                item_set(&items[k++], d, s, row, NULL, 0);
            continue;
        }
        for (int t = 0; t < TOWERS; t++)
            for (int64_t l = 0; tw[t].wanted && l < tw[t].layers; l++)
                item_set(&items[k++], d, s, row, &tw[t], l);
    }
    *n = count;
    return items;
}

/* ---- checking ------------------------------------------------------------------------------- */

/* The problems found, as lines that fit lv_error()'s buffer next to the header and the fix. */
#define REPORT_BYTES 15000

typedef struct {
    char text[REPORT_BYTES];
    size_t used;
    int count, omitted;
} problems;

static void problem(problems *pr, const char *fmt, ...) LV_PRINTF(2, 3);

static void problem(problems *pr, const char *fmt, ...)
{
    char line[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pr->count++;
    if (pr->omitted || pr->used + strlen(line) + 4 > sizeof pr->text) {
        pr->omitted++;
        return;
    }
    pr->used += (size_t)snprintf(pr->text + pr->used, sizeof pr->text - pr->used, "\n  %s", line);
}

/* g with g * g == n, or 0 when n is not a positive square. */
static int64_t square_side(int64_t n)
{
    const int64_t g = n > 0 ? (int64_t)llround(sqrt((double)n)) : 0;
    return g * g == n ? g : 0;
}

/* The checkpoint shape the row's kind asks for, given our tensor. */
static void expected_shape(char *out, size_t size, const lv_param *p, const clip_map *row,
                           int64_t patch)
{
    const long long d0 = p->shape[0], d1 = p->shape[1];
    switch (row->kind) {
    case MAP_CONV_TO_PATCH: snprintf(out, size, "(%lld, 3, %lld, %lld)", d0, (long long)patch,
                                     (long long)patch); break;
    case MAP_POS_GRID: snprintf(out, size, "(1 + g*g, %lld) for a g x g grid", d1); break;
    case MAP_PREFIX_ROWS: snprintf(out, size, "(>= %lld, %lld) for %s %lld", d0, d1, row->key,
                                   d0); break;
    case MAP_TRANSPOSE: snprintf(out, size, "(%lld, %lld)", d1, d0); break;
    case MAP_QKV_PART:
        if (p->ndim == 1)
            snprintf(out, size, "(%lld)", d0 / 3);
        else
            snprintf(out, size, "(%lld, %lld)", d0 / 3, d1);
        break;
    default:
        if (p->ndim == 0)
            snprintf(out, size, "() or (1)");
        else
            lv_st_shape_text(out, size, p->ndim, p->shape, "()");
    }
}

static int same_shape(int ndim, const int64_t *a, const int64_t *b)
{
    for (int d = 0; d < ndim; d++)
        if (a[d] != b[d])
            return 0;
    return 1;
}

static int shape_ok(const lv_param *p, const lv_st_tensor *t, map_kind kind, int64_t patch)
{
    const int64_t *s = t->shape;
    switch (kind) {
    case MAP_CONV_TO_PATCH:
        return t->ndim == 4 && s[0] == p->shape[0] && s[1] == 3 && s[2] == patch &&
               s[3] == patch && p->shape[1] == 3 * patch * patch;
    case MAP_POS_GRID:
        return t->ndim == 2 && s[1] == p->shape[1] && square_side(s[0] - 1) > 0;
    case MAP_PREFIX_ROWS:
        return t->ndim == 2 && s[0] >= p->shape[0] && s[1] == p->shape[1];
    case MAP_TRANSPOSE:
        return t->ndim == 2 && p->ndim == 2 && s[0] == p->shape[1] && s[1] == p->shape[0];
    case MAP_QKV_PART:
        return t->ndim == p->ndim && 3 * s[0] == p->shape[0] &&
               same_shape(t->ndim - 1, s + 1, p->shape + 1);
    default:
        if (p->ndim == 0)
            return t->numel == 1 && t->ndim <= 1;
        return t->ndim == p->ndim && same_shape(t->ndim, s, p->shape);
    }
}

static int is_float(lv_dtype dt)
{
    return dt == LV_DT_F32 || dt == LV_DT_F16 || dt == LV_DT_BF16 || dt == LV_DT_F64;
}

/* Layers in the checkpoint: 1 + the largest l of "<head><l>.". */
static int64_t ckpt_layers(const lv_st_file *f, const char *head)
{
    const size_t n = strlen(head);
    int64_t count = 0;
    for (int64_t i = 0; i < lv_st_count(f); i++) {
        const char *name = lv_st_tensor_at(f, i)->name;
        char *end;
        if (strncmp(name, head, n))
            continue;
        const long long l = strtoll(name + n, &end, 10);
        if (end != name + n && *end == '.' && l >= count)
            count = l + 1;
    }
    return count;
}

static void check_layers(problems *pr, const target *d, const lv_st_file *f, const source *s)
{
    tower_names tw[TOWERS];
    towers_of(d->cfg, s, tw);
    for (int t = 0; t < TOWERS; t++) {
        const int64_t have = tw[t].wanted ? ckpt_layers(f, tw[t].ckpt) : 0;
        if (tw[t].wanted && have != tw[t].layers)
            problem(pr, "%s* has %lld layers, the model %lld (config %s)", tw[t].ckpt,
                    (long long)have, (long long)tw[t].layers, tw[t].layers_key);
    }
}

/* The tensor whose row 0 is added to ours: (>= 1, D), D our last dimension. */
static void check_plus(problems *pr, const lv_param *p, const lv_st_file *f, map_item *it)
{
    const long long D = p->shape[p->ndim - 1];
    const lv_st_tensor *t = lv_st_find(f, it->plus);
    char found[64];
    if (!t) {
        problem(pr, "missing %s, expected (>= 1, %lld): its row 0 is added to %s", it->plus, D,
                it->ours);
        return;
    }
    lv_st_shape_text(found, sizeof found, t->ndim, t->shape, "()");
    if (!is_float(t->dtype))
        problem(pr, "%s is %s, expected F32, F16 or BF16", it->plus, lv_dtype_name(t->dtype));
    else if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] != D)
        problem(pr, "%s: expected (>= 1, %lld) (its row 0 is added to %s), found %s", it->plus,
                D, it->ours, found);
    else
        it->plus_src = t;
}

/* A MAP_TIED tensor t against the one it copies: the same values, or a problem saying where
 * they first differ and how many do. Reads both (the check pass's only data reads). */
static int check_tied(problems *pr, lv_st_file *f, const map_item *it, const lv_st_tensor *t)
{
    const lv_st_tensor *e = lv_st_find(f, it->equal);
    if (!e || e->numel != t->numel || !is_float(e->dtype))
        return 0;                 /* the row loading it names the problem */
    float *a = lv_malloc((size_t)t->numel * sizeof *a, "a checkpoint tensor");
    float *b = lv_malloc((size_t)t->numel * sizeof *b, "a checkpoint tensor");
    int rc = a && b && lv_st_read_f32(f, t, a, t->numel) == 0 &&
             lv_st_read_f32(f, e, b, e->numel) == 0 ? 0 : -1;
    int64_t differ = 0, first = -1;
    for (int64_t i = 0; rc == 0 && i < t->numel; i++)
        if (a[i] != b[i] && !(isnan(a[i]) && isnan(b[i])) && differ++ == 0)
            first = i;
    if (differ) {
        const int64_t D = t->shape[t->ndim - 1];
        problem(pr, "%s differs from %s in %lld of %lld entries (first [%lld, %lld]: %g against "
                "%g): the LM's output projection is its token embedding, so an untied head "
                "cannot be loaded", it->ckpt, it->equal, (long long)differ, (long long)t->numel,
                (long long)(first / D), (long long)(first % D), a[first], b[first]);
    }
    free(a);
    free(b);
    return rc;
}

static int check_item(problems *pr, const target *d, lv_st_file *f, map_item *it)
{
    const lv_param *p = &d->ps->p[it->dst];
    char want[64], found[64];
    if (it->row->kind == MAP_ZERO)
        return 0;
    expected_shape(want, sizeof want, p, it->row, d->cfg->patch);
    const lv_st_tensor *t = lv_st_find(f, it->ckpt);
    if (!t && it->legacy[0] && (t = lv_st_find(f, it->legacy)))
        memcpy(it->ckpt, it->legacy, sizeof it->ckpt);    /* messages name what is read */
    if (it->plus[0])
        check_plus(pr, p, f, it);
    if (!t) {
        if (it->row->kind != MAP_TIED)                    /* a tied copy may be left out */
            problem(pr, "missing %s, expected %s", it->ckpt, want);
        return 0;
    }
    lv_st_shape_text(found, sizeof found, t->ndim, t->shape, "()");
    if (!is_float(t->dtype))
        problem(pr, "%s is %s, expected F32, F16 or BF16", it->ckpt, lv_dtype_name(t->dtype));
    else if (!shape_ok(p, t, it->row->kind, d->cfg->patch))
        problem(pr, "%s: expected %s, found %s", it->ckpt, want, found);
    else if (it->row->kind == MAP_TIED)
        return check_tied(pr, f, it, t);
    else
        it->src = t;
    return 0;
}

/* Resolves every item's checkpoint tensors; -1 + lv_error() listing all problems. */
static int check_all(const target *d, lv_st_file *f, const char *path, const source *s,
                     map_item *items, int64_t n)
{
    const clip_layout *lay = s->lay;
    problems pr = { .used = 0 };
    check_layers(&pr, d, f, s);
    for (int64_t i = 0; i < n; i++)
        if (check_item(&pr, d, f, &items[i]) < 0)
            return -1;
    if (!pr.count)
        return 0;
    char more[48] = "", under[64] = "", sizes[256] = "";
    if (pr.omitted)
        snprintf(more, sizeof more, "\n  ... and %d more", pr.omitted);
    if (*s->prefix)
        snprintf(under, sizeof under, " under \"%s\"", s->prefix);
    for (int t = 0, used = 0; t < TOWERS; t++)
        if ((s->parts & tower_part[t]) && lay->sizes[t])
            used += snprintf(sizes + used, sizeof sizes - (size_t)used, "%s%s", used ? ", " : "",
                             lay->sizes[t]);
    return lv_set_error("%s: not a %s checkpoint this model can start from (read with %s "
                        "names%s), %d problem%s:%s%s\n"
                        "Use %s whose sizes match the config (%s).",
                        path, lay->family, lay->name, under, pr.count, pr.count == 1 ? "" : "s",
                        pr.text, more, lay->file, sizes);
}

/* ---- loading -------------------------------------------------------------------------------- */

static void conv_to_patch(float *out, const float *conv, int64_t D, int64_t p)
{
    for (int64_t d = 0; d < D; d++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t y = 0; y < p; y++)
                for (int64_t x = 0; x < p; x++)
                    out[d * p * p * 3 + (y * p + x) * 3 + c] = conv[((d * 3 + c) * p + y) * p + x];
}

/* Converts src (the checkpoint tensor as read) into dst for the reshaping kinds. */
static void convert(float *dst, const float *src, const lv_param *p, const lv_st_tensor *t,
                    map_kind kind, int64_t patch)
{
    const int64_t D = p->shape[0];
    switch (kind) {
    case MAP_CONV_TO_PATCH:
        conv_to_patch(dst, src, D, patch);
        break;
    case MAP_POS_GRID:          /* row 0 is CLS */
        lv_pos_grid_resize(dst, src + p->shape[1], square_side(t->shape[0] - 1),
                           square_side(p->shape[0]), p->shape[1]);
        break;
    case MAP_TRANSPOSE:         /* (C, OC) -> (OC, C) */
        for (int64_t o = 0; o < D; o++)
            for (int64_t c = 0; c < p->shape[1]; c++)
                dst[o * p->shape[1] + c] = src[c * D + o];
        break;
    default:                    /* MAP_PREFIX_ROWS */
        memcpy(dst, src, (size_t)p->numel * sizeof *dst);
    }
}

/* Our tensor from the row's checkpoint tensor, before any plus. */
static int read_mapped(lv_st_file *f, const target *d, const map_item *it, float *dst)
{
    const lv_param *p = &d->ps->p[it->dst];
    const lv_st_tensor *t = it->src;
    switch (it->row->kind) {
    case MAP_ZERO:
        memset(dst, 0, (size_t)p->numel * sizeof *dst);
        return 0;
    case MAP_COPY:
        return lv_st_read_f32(f, t, dst, p->numel);
    case MAP_QKV_PART:
        return lv_st_read_f32(f, t, dst + it->row->part * t->numel, t->numel);
    default:
        break;
    }
    float *tmp = lv_malloc((size_t)t->numel * sizeof *tmp, "a checkpoint tensor");
    if (!tmp)
        return -1;
    const int rc = lv_st_read_f32(f, t, tmp, t->numel);
    if (rc == 0)
        convert(dst, tmp, p, t, it->row->kind, d->cfg->patch);
    free(tmp);
    return rc;
}

/* dst (numel / D rows of D) += row 0 of t (R, D) on every row, in float as our forward would
 * add them: CLIP's CLS position into the class token, BERT's token type 0 into the positions. */
static int add_row0(lv_st_file *f, const lv_st_tensor *t, float *dst, int64_t numel)
{
    float *rows = lv_malloc((size_t)t->numel * sizeof *rows, "a checkpoint tensor");
    if (!rows)
        return -1;
    const int64_t D = t->shape[1];
    const int rc = lv_st_read_f32(f, t, rows, t->numel);
    for (int64_t i = 0; rc == 0 && i < numel; i++)
        dst[i] += rows[i % D];
    free(rows);
    return rc;
}

static int apply(lv_st_file *f, const target *d, const map_item *it, float *stage)
{
    const lv_param *p = &d->ps->p[it->dst];
    float *dst = stage + p->offset;
    if (it->row->kind == MAP_TIED)          /* checked equal to what another row loads */
        return 0;
    const int rc = read_mapped(f, d, it, dst);
    return rc == 0 && it->plus_src ? add_row0(f, it->plus_src, dst, p->numel) : rc;
}

/* Makes again the tensors the table initialises from others (model.c's COPY and INFLATE rows:
 * the tubelet kernel, central or average as cfg.inflate chose, its bias, and the temporal blocks
 * of factorized attention), now from the loaded sources (unchanged ones give what they gave). */
static void derive(const lv_params *ps, float *stage)
{
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (p->init != LV_INIT_COPY && p->init != LV_INIT_INFLATE_AVERAGE &&
            p->init != LV_INIT_INFLATE_CENTRAL)
            continue;
        const lv_param *s = &ps->p[p->source];
        if (p->init == LV_INIT_COPY)
            memcpy(stage + p->offset, stage + s->offset, (size_t)p->numel * sizeof(float));
        else
            lv_inflate_kernel(stage + p->offset, stage + s->offset, p->shape[0], s->shape[1],
                              p->shape[1] / s->shape[1], p->init == LV_INIT_INFLATE_CENTRAL);
    }
}

/* Reads everything into a copy of the parameter slab; the model changes only once all worked. */
static int load_all(const target *d, lv_st_file *f, const map_item *items, int64_t n)
{
    lv_params *ps = d->ps;
    const size_t bytes = (size_t)ps->n_floats * sizeof(float);
    float *stage = lv_malloc(bytes, "a staging copy of the parameters");
    if (!stage)
        return -1;
    ps->be->download(stage, ps->data, bytes);
    for (int64_t i = 0; i < n; i++)
        if (apply(f, d, &items[i], stage) < 0) {
            free(stage);
            return -1;
        }
    derive(ps, stage);
    ps->be->upload(ps->data, stage, bytes);
    free(stage);
    return 0;
}

/* The layout's wrapper when the file's names carry it (told by the table's first row), else "". */
static const char *prefix_of(const lv_st_file *f, const clip_layout *lay)
{
    char name[160];
    if (!lay->wrapper)
        return "";
    snprintf(name, sizeof name, "%s%s", lay->wrapper, lay->table[0].ckpt);
    return lv_st_find(f, name) ? lay->wrapper : "";
}

/* Checks, then loads, the parts of the open file f through layout lay. */
static int load_layout(const target *d, lv_st_file *f, const char *path,
                       const clip_layout *lay, int parts)
{
    if ((parts & LV_CLIP_TEXT) && d->cfg->text_arch != lay->text_arch)
        return lv_set_error("%s: the model's text tower is not the checkpoint's: %s", path,
                            lay->arch_fix);
    const source s = { .lay = lay, .prefix = prefix_of(f, lay), .parts = parts };
    int64_t n = 0;
    map_item *items = table_expand(d, &s, &n);
    int rc = items ? check_all(d, f, path, &s, items, n) : -1;
    if (rc == 0)
        rc = load_all(d, f, items, n);
    free(items);
    return rc;
}

/* A model's parameters and config as a load's target. */
static target model_target(lv_model *m)
{
    return (target){ .ps = &m->params, .cfg = &m->cfg };
}

int lv_model_init_from_clip_parts(lv_model *m, const char *path, int parts)
{
    LV_REQUIRE(parts && !(parts & ~(LV_CLIP_VISION | LV_CLIP_TEXT)));
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    /* the layout is told by the patch convolution's name */
    const int openai = lv_st_find(f, "visual.conv1.weight") != NULL;
    const target d = model_target(m);
    const int rc = load_layout(&d, f, path,
                               &layouts[openai ? LAYOUT_OPENAI_CLIP : LAYOUT_HF_CLIP], parts);
    lv_st_close(f);
    return rc;
}

int lv_model_init_from_clip(lv_model *m, const char *path)
{
    return lv_model_init_from_clip_parts(m, path, LV_CLIP_VISION | LV_CLIP_TEXT);
}

int lv_model_init_from_bert(lv_model *m, const char *path)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const target d = model_target(m);
    const int rc = load_layout(&d, f, path, &layouts[LAYOUT_BERT], LV_CLIP_TEXT);
    lv_st_close(f);
    return rc;
}

int64_t lv_bert_vocab_rows(const char *path)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const clip_layout *lay = &layouts[LAYOUT_BERT];
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix_of(f, lay), lay->table[0].ckpt);
    const lv_st_tensor *t = lv_st_find(f, name);
    const int64_t rows = t && t->ndim == 2 ? t->shape[0] : -1;
    lv_st_close(f);
    if (rows < 0)
        lv_set_error("%s: no word embeddings (%s, shape (V, D), with or without \"%s\"): not a "
                     "BERT checkpoint; use %s", path, lay->table[0].ckpt, lay->wrapper,
                     lay->file);
    return rows;
}

int lv_v2t_init_lm_from_gpt2(lv_v2t *v, const char *path)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const target d = { .ps = &v->params, .cfg = &v->cfg };
    const int rc = load_layout(&d, f, path, &layouts[LAYOUT_GPT2], PART_LM);
    lv_st_close(f);
    return rc;
}

/* A 2-D float tensor of the file called prefix + name, or NULL. */
static const lv_st_tensor *find_matrix(const lv_st_file *f, const char *prefix, const char *name)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const lv_st_tensor *t = lv_st_find(f, full);
    return t && t->ndim == 2 && is_float(t->dtype) ? t : NULL;
}

int lv_gpt2_read_dims(const char *path, lv_gpt2_dims *out)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const clip_layout *lay = &layouts[LAYOUT_GPT2];
    const char *prefix = prefix_of(f, lay);
    char head[64];
    snprintf(head, sizeof head, "%s%s", prefix, lay->block_head[TOWER_LM]);
    const lv_st_tensor *wte = find_matrix(f, prefix, "wte.weight");
    const lv_st_tensor *wpe = find_matrix(f, prefix, "wpe.weight");
    const char *why = !wte ? "no 2-D float wte.weight" : !wpe ? "no 2-D float wpe.weight"
                      : wte->shape[1] != wpe->shape[1] ? "the two widths differ" : NULL;
    const lv_gpt2_dims d = why ? (lv_gpt2_dims){ 0 }
                               : (lv_gpt2_dims){ .vocab = wte->shape[0],
                                                 .positions = wpe->shape[0],
                                                 .width = wte->shape[1],
                                                 .layers = ckpt_layers(f, head) };
    if (!why && d.layers < 1)
        why = "no block h.<l>.*";
    lv_st_close(f);
    if (why)
        return lv_set_error("%s: not a GPT-2 checkpoint (%s%s%s): it needs wte.weight (vocab, "
                            "width), wpe.weight (positions, width) and blocks h.<l>.*, all with "
                            "or without \"transformer.\". Use %s", path, why,
                            *prefix ? " under " : "", prefix, lay->file);
    *out = d;
    return 0;
}

/* ---- resizing ------------------------------------------------------------------------------- */

/* The two source rows of output index i and the weight of the second, as PyTorch's
 * area_pixel_compute_source_index with align_corners=False (clamped at 0 and at n_in - 1). */
typedef struct {
    int64_t i0, i1;
    double w1;
} tap;

static tap bilinear_tap(int64_t i, int64_t n_in, int64_t n_out)
{
    double src = ((double)i + 0.5) * (double)n_in / (double)n_out - 0.5;
    if (src < 0)
        src = 0;
    const int64_t i0 = (int64_t)src;
    return (tap){ i0, i0 + 1 < n_in ? i0 + 1 : i0, src - (double)i0 };
}

void lv_pos_grid_resize(float *out, const float *in, int64_t g0, int64_t g1, int64_t D)
{
    LV_REQUIRE(g0 > 0 && g1 > 0 && D > 0 && out != in);
    if (g0 == g1) {
        memcpy(out, in, (size_t)(g0 * g0 * D) * sizeof *out);
        return;
    }
    for (int64_t y = 0; y < g1; y++) {
        const tap ty = bilinear_tap(y, g0, g1);
        for (int64_t x = 0; x < g1; x++) {
            const tap tx = bilinear_tap(x, g0, g1);
            const float *a = in + (ty.i0 * g0 + tx.i0) * D, *b = in + (ty.i0 * g0 + tx.i1) * D;
            const float *c = in + (ty.i1 * g0 + tx.i0) * D, *e = in + (ty.i1 * g0 + tx.i1) * D;
            float *o = out + (y * g1 + x) * D;
            for (int64_t d = 0; d < D; d++)
                o[d] = (float)((1 - ty.w1) * ((1 - tx.w1) * a[d] + tx.w1 * b[d]) +
                               ty.w1 * ((1 - tx.w1) * c[d] + tx.w1 * e[d]));
        }
    }
}

void lv_temporal_resize(float *out, const float *in, int64_t T0, int64_t T1, int64_t D,
                        lv_temporal_extend mode)
{
    LV_REQUIRE(T0 > 0 && T1 > 0 && D > 0 && out != in);
    for (int64_t t = 0; t < T1; t++) {
        float *o = out + t * D;
        if (mode == LV_TEMPORAL_TILE) {
            memcpy(o, in + (t % T0) * D, (size_t)D * sizeof *o);
            continue;
        }
        const double src = T1 > 1 ? (double)t * (double)(T0 - 1) / (double)(T1 - 1) : 0.0;
        const int64_t i0 = (int64_t)src, i1 = i0 + 1 < T0 ? i0 + 1 : i0;
        const double w = src - (double)i0;
        for (int64_t d = 0; d < D; d++)
            o[d] = (float)((1 - w) * in[i0 * D + d] + w * in[i1 * D + d]);
    }
}
