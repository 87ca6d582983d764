/* Initialisation from a Hugging Face CLIPModel checkpoint (see clip_init.h): one mapping table,
 * a checking pass that collects every problem, then a reading pass into a staging copy of the
 * parameters. No per-tensor code outside the table's conversion kinds; no partial loads. */
#include "clip_init.h"
#include "error.h"
#include "safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the mapping table ----------------------------------------------------------------------
 * Not reproduced from CLIP, on purpose: our MLP uses the erf GELU (OpenAI CLIP: QuickGELU), and
 * our text tower is bidirectional with mean pooling (CLIP: causal, end-of-text token). The CLS
 * token is dropped (we mean-pool), so vision_model.embeddings.class_embedding and the
 * position_ids buffers are accepted but not needed. Tensors CLIP has no counterpart for keep
 * their init: video.pos.temporal (zeros), the TubeViT tubes video.tubes.*, the frame pooling
 * video.pool.*, adapters and LoRA factors. */

typedef enum {
    MAP_COPY,           /* same shape; a scalar may be stored as shape (1) */
    MAP_CONV_TO_PATCH,  /* conv kernel (D, 3, p, p) -> (D, p*p*3), elements ordered (dy, dx, c) */
    MAP_POS_GRID,       /* (1 + g0*g0, D): the CLS row dropped, the g0 x g0 grid resized to ours */
    MAP_QKV_PART,       /* (D, ...) -> rows [part*D, (part+1)*D) of the fused (3D, ...) */
    MAP_PREFIX_ROWS,    /* (R, D) with R >= ours -> its first rows */
    MAP_TRANSPOSE,      /* (C, OC) -> our (OC, C): OpenAI's projections multiply on the right */
    MAP_ZERO            /* no checkpoint tensor: zeros (CLIP's patch conv has no bias) */
} map_kind;

typedef struct {
    const char *ckpt;   /* the checkpoint's name; block rows: after the tower's block head */
    const char *ours;   /* our name; block rows: after "<tower>.blocks.<l>." */
    map_kind kind;
    int part;           /* MAP_QKV_PART: 0 q, 1 k, 2 v */
    int block;          /* the row repeats for every layer of both towers */
} clip_map;

#define ONCE(ckpt, ours, kind) { ckpt, ours, kind, 0, 0 }
#define BLOCK(ckpt, ours, kind, part) { ckpt, ours, kind, part, 1 }

static const clip_map clip_table[] = {
    ONCE("vision_model.embeddings.patch_embedding.weight", "video.patch.weight",
         MAP_CONV_TO_PATCH),
    ONCE(NULL, "video.patch.bias", MAP_ZERO),
    ONCE("vision_model.embeddings.position_embedding.weight", "video.pos.spatial", MAP_POS_GRID),
    ONCE("vision_model.pre_layrnorm.weight", "video.ln_pre.weight", MAP_COPY),
    ONCE("vision_model.pre_layrnorm.bias", "video.ln_pre.bias", MAP_COPY),
    ONCE("vision_model.post_layernorm.weight", "video.ln_final.weight", MAP_COPY),
    ONCE("vision_model.post_layernorm.bias", "video.ln_final.bias", MAP_COPY),
    ONCE("visual_projection.weight", "video.proj.weight", MAP_COPY),
    ONCE("text_model.embeddings.token_embedding.weight", "text.token_embed", MAP_COPY),
    ONCE("text_model.embeddings.position_embedding.weight", "text.pos_embed", MAP_PREFIX_ROWS),
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
    ONCE("visual.ln_pre.weight", "video.ln_pre.weight", MAP_COPY),
    ONCE("visual.ln_pre.bias", "video.ln_pre.bias", MAP_COPY),
    ONCE("visual.ln_post.weight", "video.ln_final.weight", MAP_COPY),
    ONCE("visual.ln_post.bias", "video.ln_final.bias", MAP_COPY),
    ONCE("visual.proj", "video.proj.weight", MAP_TRANSPOSE),
    ONCE("token_embedding.weight", "text.token_embed", MAP_COPY),
    ONCE("positional_embedding", "text.pos_embed", MAP_PREFIX_ROWS),
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

/* A naming layout: its table and where each tower's blocks live ("<head><l>.<row>"). */
typedef struct {
    const char *name;
    const clip_map *table;
    int64_t rows;
    const char *block_head[2];            /* vision, text */
} clip_layout;

static const clip_layout layouts[] = {
    { "Hugging Face CLIPModel", clip_table, (int64_t)(sizeof clip_table / sizeof clip_table[0]),
      { "vision_model.encoder.layers.", "text_model.encoder.layers." } },
    { "OpenAI CLIP / open_clip", openai_table,
      (int64_t)(sizeof openai_table / sizeof openai_table[0]),
      { "visual.transformer.resblocks.", "transformer.resblocks." } },
};

/* The two towers: the checkpoint's block head, our prefix, the config key of the layer count,
 * and whether this load takes the tower. */
typedef struct {
    const char *ckpt, *ours, *layers_key;
    int64_t layers;
    int wanted;
} tower_names;

static void towers_of(const lv_config *c, const clip_layout *lay, int parts, tower_names t[2])
{
    t[0] = (tower_names){ lay->block_head[0], "video", "layers", c->layers,
                          (parts & LV_CLIP_VISION) != 0 };
    t[1] = (tower_names){ lay->block_head[1], "text", "text_layers", c->text_layers,
                          (parts & LV_CLIP_TEXT) != 0 };
}

/* Whether a single (non-block) row belongs to what this load takes: the vision tower with its
 * projection, the text tower with its projection, and logit_scale only with both. */
static int row_wanted(const clip_map *row, int parts)
{
    if (!strncmp(row->ours, "video.", 6))
        return (parts & LV_CLIP_VISION) != 0;
    if (!strncmp(row->ours, "text.", 5))
        return (parts & LV_CLIP_TEXT) != 0;
    return parts == (LV_CLIP_VISION | LV_CLIP_TEXT);
}

/* One row of the table applied to one tensor pair. */
typedef struct {
    const clip_map *row;
    char ckpt[128];
    char ours[LV_PARAM_NAME_MAX];
    int64_t dst;                  /* our tensor */
    const lv_st_tensor *src;      /* NULL for MAP_ZERO, or when missing */
} map_item;

static void item_set(map_item *it, const lv_model *m, const clip_map *row,
                     const tower_names *tw, int64_t l)
{
    it->row = row;
    it->ckpt[0] = 0;
    if (row->block) {
        snprintf(it->ckpt, sizeof it->ckpt, "%s%lld.%s", tw->ckpt, (long long)l, row->ckpt);
        snprintf(it->ours, sizeof it->ours, "%s.blocks.%lld.%s", tw->ours, (long long)l,
                 row->ours);
    } else {
        if (row->ckpt)
            snprintf(it->ckpt, sizeof it->ckpt, "%s", row->ckpt);
        snprintf(it->ours, sizeof it->ours, "%s", row->ours);
    }
    it->dst = lv_params_find(&m->params, it->ours);
    LV_REQUIRE(it->dst >= 0);                 /* every model variant has these tensors */
    it->src = NULL;
}

/* The layout's table expanded over the wanted towers' layers: (*n) items, malloc'd; NULL +
 * lv_error(). */
static map_item *table_expand(const lv_model *m, const clip_layout *lay, int parts, int64_t *n)
{
    tower_names tw[2];
    towers_of(&m->cfg, lay, parts, tw);
    int64_t count = 0;
    for (int64_t r = 0; r < lay->rows; r++) {
        const clip_map *row = &lay->table[r];
        count += row->block ? tw[0].wanted * tw[0].layers + tw[1].wanted * tw[1].layers
                            : row_wanted(row, parts);
    }
    map_item *items = lv_malloc((size_t)(count ? count : 1) * sizeof *items,
                                "the CLIP name mapping");
    if (!items)
        return NULL;
    int64_t k = 0;
    for (int64_t r = 0; r < lay->rows; r++) {
        const clip_map *row = &lay->table[r];
        if (!row->block) {
            if (row_wanted(row, parts))
                item_set(&items[k++], m, row, NULL, 0);
            continue;
        }
        for (int t = 0; t < 2; t++)
            for (int64_t l = 0; tw[t].wanted && l < tw[t].layers; l++)
                item_set(&items[k++], m, row, &tw[t], l);
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
static void expected_shape(char *out, size_t size, const lv_param *p, map_kind kind,
                           int64_t patch)
{
    const long long d0 = p->shape[0], d1 = p->shape[1];
    switch (kind) {
    case MAP_CONV_TO_PATCH: snprintf(out, size, "(%lld, 3, %lld, %lld)", d0, (long long)patch,
                                     (long long)patch); break;
    case MAP_POS_GRID: snprintf(out, size, "(1 + g*g, %lld) for a g x g grid", d1); break;
    case MAP_PREFIX_ROWS: snprintf(out, size, "(>= %lld, %lld)", d0, d1); break;
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

static void check_layers(problems *pr, const lv_model *m, const lv_st_file *f,
                         const clip_layout *lay, int parts)
{
    tower_names tw[2];
    towers_of(&m->cfg, lay, parts, tw);
    for (int t = 0; t < 2; t++) {
        const int64_t have = ckpt_layers(f, tw[t].ckpt);
        if (tw[t].wanted && have != tw[t].layers)
            problem(pr, "%s* has %lld layers, the model %lld (config %s)", tw[t].ckpt,
                    (long long)have, (long long)tw[t].layers, tw[t].layers_key);
    }
}

static void check_item(problems *pr, const lv_model *m, const lv_st_file *f, map_item *it)
{
    const lv_param *p = &m->params.p[it->dst];
    char want[64], found[64];
    if (it->row->kind == MAP_ZERO)
        return;
    expected_shape(want, sizeof want, p, it->row->kind, m->cfg.patch);
    const lv_st_tensor *t = lv_st_find(f, it->ckpt);
    if (!t) {
        problem(pr, "missing %s, expected %s", it->ckpt, want);
        return;
    }
    lv_st_shape_text(found, sizeof found, t->ndim, t->shape, "()");
    if (!is_float(t->dtype))
        problem(pr, "%s is %s, expected F32, F16 or BF16", it->ckpt, lv_dtype_name(t->dtype));
    else if (!shape_ok(p, t, it->row->kind, m->cfg.patch))
        problem(pr, "%s: expected %s, found %s", it->ckpt, want, found);
    else
        it->src = t;
}

/* Resolves every item's checkpoint tensor; -1 + lv_error() listing all problems. */
static int check_all(const lv_model *m, const lv_st_file *f, const char *path,
                     const clip_layout *lay, int parts, map_item *items, int64_t n)
{
    problems pr = { .used = 0 };
    check_layers(&pr, m, f, lay, parts);
    for (int64_t i = 0; i < n; i++)
        check_item(&pr, m, f, &items[i]);
    if (!pr.count)
        return 0;
    char more[48] = "";
    if (pr.omitted)
        snprintf(more, sizeof more, "\n  ... and %d more", pr.omitted);
    return lv_set_error("%s: not a CLIP checkpoint this model can start from (read with %s "
                        "names), %d problem%s:%s%s\n"
                        "Use a CLIP safetensors file (Hugging Face CLIPModel or OpenAI/open_clip "
                        "names) whose sizes match the config (width, layers, patch, mlp_ratio%s).",
                        path, lay->name, pr.count, pr.count == 1 ? "" : "s", pr.text, more,
                        parts & LV_CLIP_TEXT ? ", text_width, text_layers, vocab, embed_dim"
                                             : ", embed_dim");
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

static int apply(lv_st_file *f, const lv_model *m, const map_item *it, float *stage)
{
    const lv_param *p = &m->params.p[it->dst];
    const lv_st_tensor *t = it->src;
    float *dst = stage + p->offset;
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
        convert(dst, tmp, p, t, it->row->kind, m->cfg.patch);
    free(tmp);
    return rc;
}

/* Makes again the tensors the table initialises from others (model.c's COPY and INFLATE rows:
 * the tubelet kernel, central or average as cfg.inflate chose, its bias, and the temporal blocks
 * of factorized attention), now from the loaded sources. */
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
static int load_all(lv_model *m, lv_st_file *f, const map_item *items, int64_t n)
{
    lv_params *ps = &m->params;
    const size_t bytes = (size_t)ps->n_floats * sizeof(float);
    float *stage = lv_malloc(bytes, "a staging copy of the parameters");
    if (!stage)
        return -1;
    ps->be->download(stage, ps->data, bytes);
    for (int64_t i = 0; i < n; i++)
        if (apply(f, m, &items[i], stage) < 0) {
            free(stage);
            return -1;
        }
    derive(ps, stage);
    ps->be->upload(ps->data, stage, bytes);
    free(stage);
    return 0;
}

int lv_model_init_from_clip_parts(lv_model *m, const char *path, int parts)
{
    LV_REQUIRE(parts && !(parts & ~(LV_CLIP_VISION | LV_CLIP_TEXT)));
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    /* the layout is told by the patch convolution's name */
    const clip_layout *lay = lv_st_find(f, "visual.conv1.weight") ? &layouts[1] : &layouts[0];
    int64_t n = 0;
    map_item *items = table_expand(m, lay, parts, &n);
    int rc = items ? check_all(m, f, path, lay, parts, items, n) : -1;
    if (rc == 0)
        rc = load_all(m, f, items, n);
    free(items);
    lv_st_close(f);
    return rc;
}

int lv_model_init_from_clip(lv_model *m, const char *path)
{
    return lv_model_init_from_clip_parts(m, path, LV_CLIP_VISION | LV_CLIP_TEXT);
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
