/* Presets, overrides, validation and the text form of lv_config (see config.h). One field table
 * drives parsing and printing, so a new field is one line. */
#include "config.h"
#include "error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- presets -------------------------------------------------------------------------------- */

/* The TubeViT tubes as published for 224 px (kernel, stride, offset in time, height, width). */
static const lv_tube_spec tubevit_published[4] = {
    { { 8, 8, 8 }, { 16, 32, 32 }, { 0, 0, 0 } },
    { { 16, 4, 4 }, { 6, 32, 32 }, { 4, 8, 8 } },
    { { 4, 12, 12 }, { 16, 32, 32 }, { 0, 16, 16 } },
    { { 1, 16, 16 }, { 32, 16, 16 }, { 0, 0, 0 } },
};

/* The same four shapes (cube, long thin, short wide, one frame) shrunk for 8 x 32 x 32 videos. */
static const lv_tube_spec tubevit_tiny[4] = {
    { { 4, 8, 8 }, { 4, 16, 16 }, { 0, 0, 0 } },
    { { 8, 2, 2 }, { 2, 16, 16 }, { 0, 4, 4 } },
    { { 2, 6, 6 }, { 4, 16, 16 }, { 0, 8, 8 } },
    { { 1, 8, 8 }, { 8, 8, 8 }, { 0, 0, 0 } },
};

static void set_common(lv_config *c)
{
    *c = (lv_config){ 0 };
    c->tubelet_t = 2;
    c->mlp_ratio = 4;
    c->attn = LV_ATTN_JOINT;
    c->frame_pool = LV_FRAME_POOL_MEAN;
    c->mask_kind = LV_MASK_RANDOM;
    c->ln_eps = 1e-5;
    c->text_ln_eps = 1e-5;
    c->tune = LV_TUNE_FULL;
    c->tune_last_k = 4;
    c->lora_rank = 8;
    c->lora_alpha = 8;
    c->lm_act = LV_ACT_GELU;
    c->rs_latents = 64;          /* OpenFlamingo's resampler (docs/video-to-text.md) */
    c->rs_depth = 6;
    c->rs_heads = 8;
    c->rs_head_dim = 64;
    c->xattn_every = 1;          /* a gated cross-attention layer before every LM layer */
    c->xattn_heads = 8;
    c->xattn_head_dim = 64;
    c->v2t_mask_ratio = 0.3;
    c->seed = 1234;
}

int lv_config_preset(lv_config *c, const char *name)
{
    /* name, frames, size, patch, width, layers, heads, vocab, text len/width/layers/heads, E */
    static const struct {
        const char *name;
        int64_t frames, size, patch, width, layers, heads;
        int64_t vocab, text_len, text_width, text_layers, text_heads, embed;
    } presets[] = {
        { "tiny", 8, 32, 8, 32, 2, 2, 64, 12, 32, 2, 2, 16 },
        { "vit-s", 16, 224, 16, 384, 12, 6, 30522, 32, 512, 4, 8, 384 },       /* BERT-small */
        { "vit-b", 16, 224, 16, 768, 12, 12, 30522, 32, 512, 8, 8, 512 },      /* BERT-medium */
        { "vit-l", 16, 224, 16, 1024, 24, 16, 30522, 32, 768, 12, 12, 768 },   /* BERT-base */
        { "1b", 16, 224, 16, 1280, 32, 16, 30522, 32, 1024, 24, 16, 1024 },    /* ViT-H, BERT-L */
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name))
            continue;
        set_common(c);
        c->frames = presets[i].frames;
        c->image_size = presets[i].size;
        c->patch = presets[i].patch;
        c->width = presets[i].width;
        c->layers = presets[i].layers;
        c->heads = presets[i].heads;
        c->vocab = presets[i].vocab;
        c->text_len = presets[i].text_len;
        c->text_width = presets[i].text_width;
        c->text_layers = presets[i].text_layers;
        c->text_heads = presets[i].text_heads;
        c->embed_dim = presets[i].embed;
        c->adapter_dim = c->width / 4;
        /* the decoder LM: GPT-2 small's shape over the captions' vocabulary (a GPT-2 file brings
         * its own), scaled down in tiny with the resampler and cross-attention */
        c->lm_vocab = 0;             /* 0: the captions' vocabulary, `vocab` */
        c->lm_ctx = 1024;
        c->lm_width = 768;
        c->lm_layers = 12;
        c->lm_heads = 12;
        if (!strcmp(name, "tiny")) {
            c->tune_last_k = 1;
            c->lora_rank = c->lora_alpha = 4;
            c->lm_ctx = 32;
            c->lm_width = 32;
            c->lm_layers = 2;
            c->lm_heads = 2;
            c->rs_latents = 8;
            c->rs_depth = 2;
            c->rs_heads = 2;
            c->rs_head_dim = 16;
            c->xattn_heads = 2;
            c->xattn_head_dim = 16;
        }
        snprintf(c->preset, sizeof c->preset, "%s", name);
        return 0;
    }
    return lv_set_error("unknown preset '%s': use tiny, vit-s, vit-b, vit-l or 1b", name);
}

/* ---- the field table ------------------------------------------------------------------------ */

typedef enum { F_INT, F_REAL, F_BOOL, F_ENUM, F_SEED, F_TUBES, F_NAME } field_type;

typedef struct {
    const char *key;
    field_type type;
    size_t offset;
    const char *const *names;      /* F_ENUM: spelling of each value, NULL-terminated */
    double min, max;               /* F_INT / F_REAL range */
} field;

static const char *const attn_names[] = { "joint", "factorized", "frame", NULL };
static const char *const pool_names[] = { "mean", "attn", NULL };
static const char *const mask_names[] = { "random", "tube", NULL };
static const char *const tune_names[] = { "full", "last-k", "adapters", "lora", "temporal", NULL };
static const char *const inflate_names[] = { "average", "central", NULL };
static const char *const extend_names[] = { "interpolate", "tile", NULL };
static const char *const act_names[] = { "gelu", "quick_gelu", "gelu_tanh", NULL };
static const char *const token_pool_names[] = { "mean", "cls", NULL };
static const char *const text_arch_names[] = { "pre-ln", "bert", NULL };

#define AT(f) offsetof(lv_config, f)
static const field fields[] = {
    { "preset", F_NAME, AT(preset), NULL, 0, 0 },
    { "frames", F_INT, AT(frames), NULL, 1, 4096 },
    { "image_size", F_INT, AT(image_size), NULL, 1, 4096 },
    { "tubelet_t", F_INT, AT(tubelet_t), NULL, 1, 64 },
    { "patch", F_INT, AT(patch), NULL, 1, 512 },
    { "tubes", F_TUBES, AT(n_tubes), NULL, 0, 0 },
    { "width", F_INT, AT(width), NULL, 1, 16384 },
    { "layers", F_INT, AT(layers), NULL, 1, 256 },
    { "heads", F_INT, AT(heads), NULL, 1, 256 },
    { "mlp_ratio", F_INT, AT(mlp_ratio), NULL, 1, 16 },
    { "act", F_ENUM, AT(act), act_names, 0, 0 },
    { "attn", F_ENUM, AT(attn), attn_names, 0, 0 },
    { "frame_pool", F_ENUM, AT(frame_pool), pool_names, 0, 0 },
    { "pool", F_ENUM, AT(pool), token_pool_names, 0, 0 },
    { "mask", F_ENUM, AT(mask_kind), mask_names, 0, 0 },
    { "mask_ratio", F_REAL, AT(mask_ratio), NULL, 0, 0.9 },
    { "vocab", F_INT, AT(vocab), NULL, 5, 1 << 24 },
    { "text_len", F_INT, AT(text_len), NULL, 1, 4096 },
    { "text_width", F_INT, AT(text_width), NULL, 1, 16384 },
    { "text_layers", F_INT, AT(text_layers), NULL, 1, 256 },
    { "text_heads", F_INT, AT(text_heads), NULL, 1, 256 },
    { "text_arch", F_ENUM, AT(text_arch), text_arch_names, 0, 0 },
    { "text_act", F_ENUM, AT(text_act), act_names, 0, 0 },
    { "text_pool", F_ENUM, AT(text_pool), token_pool_names, 0, 0 },
    { "embed_dim", F_INT, AT(embed_dim), NULL, 1, 16384 },
    { "ln_eps", F_REAL, AT(ln_eps), NULL, 1e-12, 1e-2 },
    { "text_ln_eps", F_REAL, AT(text_ln_eps), NULL, 1e-12, 1e-2 },
    { "tune", F_ENUM, AT(tune), tune_names, 0, 0 },
    { "tune_last_k", F_INT, AT(tune_last_k), NULL, 1, 256 },
    { "freeze_text", F_BOOL, AT(freeze_text), NULL, 0, 1 },
    { "adapter_dim", F_INT, AT(adapter_dim), NULL, 1, 16384 },
    { "lora_rank", F_INT, AT(lora_rank), NULL, 1, 1024 },
    { "lora_alpha", F_REAL, AT(lora_alpha), NULL, 1e-6, 1e6 },
    { "inflate", F_ENUM, AT(inflate), inflate_names, 0, 0 },
    { "temporal_extend", F_ENUM, AT(temporal_extend), extend_names, 0, 0 },
    { "lm_vocab", F_INT, AT(lm_vocab), NULL, 0, 1 << 24 },
    { "lm_ctx", F_INT, AT(lm_ctx), NULL, 1, 1 << 20 },
    { "lm_width", F_INT, AT(lm_width), NULL, 1, 16384 },
    { "lm_layers", F_INT, AT(lm_layers), NULL, 1, 256 },
    { "lm_heads", F_INT, AT(lm_heads), NULL, 1, 256 },
    { "lm_act", F_ENUM, AT(lm_act), act_names, 0, 0 },
    { "rs_latents", F_INT, AT(rs_latents), NULL, 1, 4096 },
    { "rs_depth", F_INT, AT(rs_depth), NULL, 1, 64 },
    { "rs_heads", F_INT, AT(rs_heads), NULL, 1, 256 },
    { "rs_head_dim", F_INT, AT(rs_head_dim), NULL, 1, 1024 },
    { "xattn_every", F_INT, AT(xattn_every), NULL, 1, 256 },
    { "xattn_heads", F_INT, AT(xattn_heads), NULL, 1, 256 },
    { "xattn_head_dim", F_INT, AT(xattn_head_dim), NULL, 1, 1024 },
    { "v2t_mask_ratio", F_REAL, AT(v2t_mask_ratio), NULL, 0, 0.9 },
    { "seed", F_SEED, AT(seed), NULL, 0, 0 },
};
#undef AT

static int enum_index(const char *const *names, const char *value)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], value))
            return i;
    return -1;
}

static int list_names(const char *const *names, char *out, size_t size)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; names[i] && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", names[i]);
    return 0;
}

/* One tube "kt.kh.kw/st.sh.sw/ot.oh.ow" at the start of p, as sscanf's %lld (strtoll, base 10)
 * would read it: returns how many of the nine numbers were read, *used the characters taken. */
static int parse_tube(const char *p, long long a[9], int *used)
{
    const char *q = p;
    for (int i = 0; i < 9; i++) {
        char *end;
        if (i > 0 && *q++ != (i % 3 ? '.' : '/'))
            return i;
        a[i] = strtoll(q, &end, 10);
        if (end == q)
            return i;
        q = end;
    }
    *used = (int)(q - p);
    return 9;
}

/* "tubevit" (the published mix, or the small one below 224 px), "none", or up to four
 * "kt.kh.kw/st.sh.sw/ot.oh.ow" separated by commas. */
static int parse_tubes(lv_config *c, const char *v)
{
    if (!strcmp(v, "none")) {
        c->n_tubes = 0;
        return 0;
    }
    if (!strcmp(v, "tubevit")) {
        memcpy(c->tubes, c->image_size >= 224 ? tubevit_published : tubevit_tiny,
               sizeof tubevit_published);
        c->n_tubes = 4;
        return 0;
    }
    lv_tube_spec t[LV_MAX_TUBES];
    int64_t n = 0;
    const char *p = v;
    while (*p) {
        long long a[9];
        int used = 0;
        if (n == LV_MAX_TUBES || parse_tube(p, a, &used) != 9)
            return lv_set_error("tubes='%s': expected 'tubevit', 'none' or up to %d of "
                                "kt.kh.kw/st.sh.sw/ot.oh.ow separated by commas", v, LV_MAX_TUBES);
        for (int i = 0; i < 3; i++) {
            t[n].k[i] = a[i];
            t[n].s[i] = a[3 + i];
            t[n].o[i] = a[6 + i];
        }
        n++;
        p += used;
        if (*p == ',')
            p++;
    }
    memcpy(c->tubes, t, sizeof t);
    c->n_tubes = n;
    return 0;
}

int lv_config_set(lv_config *c, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return lv_set_error("config override '%s' is not key=value (e.g. frames=128)", assignment);
    const size_t klen = (size_t)(eq - assignment);
    const char *v = eq + 1;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const field *f = &fields[i];
        if (strlen(f->key) != klen || strncmp(f->key, assignment, klen))
            continue;
        char *base = (char *)c + f->offset, *end = NULL;
        errno = 0;
        switch (f->type) {
        case F_INT: case F_BOOL: {
            const long long x = strtoll(v, &end, 10);
            if (errno || end == v || *end || x < f->min || x > f->max)
                return lv_set_error("config %s=%s: expected an integer in [%g, %g]", f->key, v,
                                    f->min, f->max);
            if (f->type == F_BOOL)
                *(int *)base = (int)x;
            else
                *(int64_t *)base = x;
            return 0;
        }
        case F_REAL: {
            const double x = strtod(v, &end);
            if (errno || end == v || *end || !(x >= f->min && x <= f->max))
                return lv_set_error("config %s=%s: expected a number in [%g, %g]", f->key, v,
                                    f->min, f->max);
            *(double *)base = x;
            return 0;
        }
        case F_SEED: {
            const unsigned long long x = strtoull(v, &end, 10);
            if (errno || end == v || *end)
                return lv_set_error("config seed=%s: expected a non-negative integer", v);
            *(uint64_t *)base = x;
            return 0;
        }
        case F_ENUM: {
            const int x = enum_index(f->names, v);
            if (x < 0) {
                char names[160];
                list_names(f->names, names, sizeof names);
                return lv_set_error("config %s=%s: expected one of %s", f->key, v, names);
            }
            *(int *)base = x;
            return 0;
        }
        case F_TUBES:
            return parse_tubes(c, v);
        case F_NAME:
            snprintf(c->preset, sizeof c->preset, "%s", v);
            return 0;
        }
    }
    return lv_set_error("unknown config key '%.*s' (longvivit train --dry-run prints them all)",
                        (int)klen, assignment);
}

size_t lv_config_format(const lv_config *c, char *out, size_t size)
{
    size_t n = 0;
#define PUT(...) (n += (size_t)snprintf(out + (n < size ? n : size), n < size ? size - n : 0, \
                                        __VA_ARGS__))
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const field *f = &fields[i];
        const char *base = (const char *)c + f->offset;
        PUT("%s=", f->key);
        switch (f->type) {
        case F_INT: PUT("%lld", (long long)*(const int64_t *)base); break;
        case F_BOOL: PUT("%d", *(const int *)base); break;
        case F_REAL: PUT("%.17g", *(const double *)base); break;
        case F_SEED: PUT("%llu", (unsigned long long)*(const uint64_t *)base); break;
        case F_ENUM: PUT("%s", f->names[*(const int *)base]); break;
        case F_NAME: PUT("%s", c->preset); break;
        case F_TUBES:
            if (c->n_tubes == 0)
                PUT("none");
            for (int64_t t = 0; t < c->n_tubes; t++) {
                const lv_tube_spec *s = &c->tubes[t];
                PUT("%s%lld.%lld.%lld/%lld.%lld.%lld/%lld.%lld.%lld", t ? "," : "",
                    (long long)s->k[0], (long long)s->k[1], (long long)s->k[2], (long long)s->s[0],
                    (long long)s->s[1], (long long)s->s[2], (long long)s->o[0], (long long)s->o[1],
                    (long long)s->o[2]);
            }
            break;
        }
        PUT("\n");
    }
#undef PUT
    return n;
}

/* ---- geometry and validation ---------------------------------------------------------------- */

lv_video_geometry lv_config_geometry(const lv_config *c, int image)
{
    lv_video_geometry g = { 0 };
    const int64_t F = image ? 1 : c->frames, S = c->image_size;
    const int frame_level = image || c->attn == LV_ATTN_FRAME;
    g.n_tokenizers = (!frame_level && c->n_tubes > 0) ? c->n_tubes : 1;
    for (int64_t j = 0; j < g.n_tokenizers; j++) {
        lv_tokenizer_geometry *t = &g.tok[j];
        if (g.n_tokenizers > 1) {
            const lv_tube_spec *s = &c->tubes[j];
            t->shape = (lv_tubelet_shape){ .F = F, .H = S, .W = S, .C = 3,
                                           .kt = s->k[0], .kh = s->k[1], .kw = s->k[2],
                                           .st = s->s[0], .sh = s->s[1], .sw = s->s[2],
                                           .ot = s->o[0], .oh = s->o[1], .ow = s->o[2] };
        } else {
            t->shape = lv_tubelet_shape_make(F, S, S, frame_level ? 1 : c->tubelet_t, c->patch);
        }
        t->N = lv_tubelet_grid(&t->shape, &t->Ft, &t->Hp, &t->Wp);
        t->P = t->Hp * t->Wp;
        t->voxel = t->shape.kt * t->shape.kh * t->shape.kw * t->shape.C;
        t->start = g.N;
        g.N += t->N;
    }
    const int64_t P = g.n_tokenizers == 1 ? g.tok[0].P : g.N;
    g.K = g.N > 0 ? lv_mask_kept_count(c->mask_kind, c->mask_ratio, g.N, P > 0 ? P : 1) : 0;
    g.cls = c->pool == LV_POOL_CLS;
    g.R = g.cls + g.K;
    return g;
}

int lv_config_validate(const lv_config *c)
{
    if (c->width % c->heads)
        return lv_set_error("config: width %lld is not a multiple of heads %lld",
                            (long long)c->width, (long long)c->heads);
    if (c->text_width % c->text_heads)
        return lv_set_error("config: text_width %lld is not a multiple of text_heads %lld",
                            (long long)c->text_width, (long long)c->text_heads);
    if (c->n_tubes == 0 && (c->image_size % c->patch ||
                            (c->attn != LV_ATTN_FRAME && c->frames % c->tubelet_t)))
        return lv_set_error("config: tubelets %lldx%lldx%lld must tile the %lld-frame %lldx%lld "
                            "video exactly (frames %% tubelet_t and image_size %% patch must be 0)",
                            (long long)c->tubelet_t, (long long)c->patch, (long long)c->patch,
                            (long long)c->frames, (long long)c->image_size,
                            (long long)c->image_size);
    if (c->n_tubes > 0 && c->attn != LV_ATTN_JOINT)
        return lv_set_error("config: the TubeViT tokenizer (tubes=...) has no single space-time "
                            "grid; use it with attn=joint");
    if (c->n_tubes > 0 && c->mask_kind == LV_MASK_TUBE)
        return lv_set_error("config: tube masking needs a single tubelet grid; use mask=random "
                            "with tubes=...");
    const lv_video_geometry g = lv_config_geometry(c, 0);
    for (int64_t j = 0; j < g.n_tokenizers; j++)
        if (g.tok[j].N == 0)
            return lv_set_error("config: tube %lld (kernel %lldx%lldx%lld) does not fit in a "
                                "%lld-frame %lldx%lld video", (long long)j,
                                (long long)g.tok[j].shape.kt, (long long)g.tok[j].shape.kh,
                                (long long)g.tok[j].shape.kw, (long long)c->frames,
                                (long long)c->image_size, (long long)c->image_size);
    if (c->pool == LV_POOL_CLS && c->attn != LV_ATTN_JOINT)
        return lv_set_error("config: pool=cls prepends a class token to each sample's tokens, "
                            "which only joint attention attends over; use it with attn=joint");
    if (c->lm_width % c->lm_heads)
        return lv_set_error("config: lm_width %lld is not a multiple of lm_heads %lld",
                            (long long)c->lm_width, (long long)c->lm_heads);
    if (c->tune == LV_TUNE_TEMPORAL && c->attn != LV_ATTN_FACTORIZED)
        return lv_set_error("config: tune=temporal trains factorized attention's temporal "
                            "blocks; it needs attn=factorized");
    if (c->tune == LV_TUNE_LAST_K && c->tune_last_k > c->layers)
        return lv_set_error("config: tune_last_k %lld is more than the %lld layers",
                            (long long)c->tune_last_k, (long long)c->layers);
    return 0;
}

int64_t lv_config_lm_vocab(const lv_config *c)
{
    return c->lm_vocab > 0 ? c->lm_vocab : c->vocab;
}

const char *lv_attn_kind_name(lv_attn_kind a)
{
    return attn_names[a];
}

const char *lv_tune_name(lv_tune t)
{
    return tune_names[t];
}
