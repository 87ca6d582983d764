/* Check suite for data/clip_init: tiny Hugging Face CLIPModel checkpoints (F32 through
 * lv_st_writer, F16/BF16 written by hand) loaded into the tiny model, every mapped tensor compared
 * with its source; the class token in both CLIP layouts; BERT files (tiny under both namings, and
 * one at BERT-base's shapes) into text_arch=bert; GPT-2 files (tiny under both namings, and one
 * at GPT-2 small's shapes) into the video-to-text LM; the resizes against hand-computed values;
 * each error with its message and the parameters left as they were. Seeded; every test gets a fresh
 * mkdtemp folder. */
#include "suites.h"
#include "check_util.h"
#include "clip_init.h"
#include "error.h"
#include "kernels.h"
#include "safetensors.h"
#include "v2t.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- tiny CLIPModel checkpoints ------------------------------------------------------------- */

#define MAX_TENSORS 512

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float *data;             /* multiples of 1/64 in [-2, 2]: exact in F16 and BF16 */
    lv_dtype dtype;          /* as written by ckpt_write_raw */
    int dropped;             /* left out of the file */
} src_tensor;

typedef struct {
    src_tensor t[MAX_TENSORS];
    int n;
} clip_ckpt;

/* The sizes of a checkpoint; ckpt_sizes_tiny() matches the tiny preset. */
typedef struct {
    int64_t D, p, g0, vis_layers, Dt, text_layers, V, text_rows, E, hidden;
} ckpt_sizes;

static ckpt_sizes ckpt_sizes_tiny(void)
{
    return (ckpt_sizes){ .D = 32, .p = 8, .g0 = 4, .vis_layers = 2, .Dt = 32, .text_layers = 2,
                         .V = 64, .text_rows = 20, .E = 16, .hidden = 128 };
}

static float *ckpt_add(clip_ckpt *c, lv_rng *r, const char *name, int ndim, int64_t d0,
                       int64_t d1, int64_t d2, int64_t d3)
{
    ck_assert_int_lt(c->n, MAX_TENSORS);
    src_tensor *t = &c->t[c->n++];
    const int64_t dims[4] = { d0, d1, d2, d3 };
    *t = (src_tensor){ .ndim = ndim, .numel = 1, .dtype = LV_DT_F32 };
    snprintf(t->name, sizeof t->name, "%s", name);
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = dims[d];
        t->numel *= dims[d];
    }
    t->data = malloc((size_t)t->numel * sizeof *t->data);
    ck_assert_ptr_nonnull(t->data);
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = (float)((int)lv_rng_below(r, 257) - 128) / 64.0f;
    return t->data;
}

static void ckpt_layernorm(clip_ckpt *c, lv_rng *r, const char *prefix, int64_t D)
{
    char name[96];
    snprintf(name, sizeof name, "%s.weight", prefix);
    ckpt_add(c, r, name, 1, D, 0, 0, 0);
    snprintf(name, sizeof name, "%s.bias", prefix);
    ckpt_add(c, r, name, 1, D, 0, 0, 0);
}

static void ckpt_layers(clip_ckpt *c, lv_rng *r, const char *tower, int64_t L, int64_t D,
                        int64_t hidden)
{
    static const char *const attn[4] = { "q_proj", "k_proj", "v_proj", "out_proj" };
    char pre[64], name[128];
    for (int64_t l = 0; l < L; l++) {
        snprintf(pre, sizeof pre, "%s.encoder.layers.%lld", tower, (long long)l);
        snprintf(name, sizeof name, "%s.layer_norm1", pre);
        ckpt_layernorm(c, r, name, D);
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s.self_attn.%s.weight", pre, attn[k]);
            ckpt_add(c, r, name, 2, D, D, 0, 0);
            snprintf(name, sizeof name, "%s.self_attn.%s.bias", pre, attn[k]);
            ckpt_add(c, r, name, 1, D, 0, 0, 0);
        }
        snprintf(name, sizeof name, "%s.layer_norm2", pre);
        ckpt_layernorm(c, r, name, D);
        snprintf(name, sizeof name, "%s.mlp.fc1.weight", pre);
        ckpt_add(c, r, name, 2, hidden, D, 0, 0);
        snprintf(name, sizeof name, "%s.mlp.fc1.bias", pre);
        ckpt_add(c, r, name, 1, hidden, 0, 0, 0);
        snprintf(name, sizeof name, "%s.mlp.fc2.weight", pre);
        ckpt_add(c, r, name, 2, D, hidden, 0, 0);
        snprintf(name, sizeof name, "%s.mlp.fc2.bias", pre);
        ckpt_add(c, r, name, 1, D, 0, 0, 0);
    }
}

/* Every tensor of a CLIPModel with sizes s, random; the class embedding included. */
static void ckpt_build(clip_ckpt *c, const ckpt_sizes *s, uint32_t seed)
{
    lv_rng r = test_rng(seed);
    c->n = 0;
    ckpt_add(c, &r, "vision_model.embeddings.patch_embedding.weight", 4, s->D, 3, s->p, s->p);
    ckpt_add(c, &r, "vision_model.embeddings.class_embedding", 1, s->D, 0, 0, 0);
    ckpt_add(c, &r, "vision_model.embeddings.position_embedding.weight", 2, 1 + s->g0 * s->g0,
             s->D, 0, 0);
    ckpt_layernorm(c, &r, "vision_model.pre_layrnorm", s->D);
    ckpt_layers(c, &r, "vision_model", s->vis_layers, s->D, s->hidden);
    ckpt_layernorm(c, &r, "vision_model.post_layernorm", s->D);
    ckpt_add(c, &r, "visual_projection.weight", 2, s->E, s->D, 0, 0);
    ckpt_add(c, &r, "text_model.embeddings.token_embedding.weight", 2, s->V, s->Dt, 0, 0);
    ckpt_add(c, &r, "text_model.embeddings.position_embedding.weight", 2, s->text_rows, s->Dt, 0,
             0);
    ckpt_layers(c, &r, "text_model", s->text_layers, s->Dt, s->hidden);
    ckpt_layernorm(c, &r, "text_model.final_layer_norm", s->Dt);
    ckpt_add(c, &r, "text_projection.weight", 2, s->E, s->Dt, 0, 0);
    ckpt_add(c, &r, "logit_scale", 0, 0, 0, 0, 0)[0] = 2.5f;
}

static void ckpt_free(clip_ckpt *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->t[i].data);
    c->n = 0;
}

static src_tensor *ckpt_find(clip_ckpt *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->t[i].name, name))
            return &c->t[i];
    ck_abort_msg("the test checkpoint has no %s", name);
    return NULL;
}

/* Gives tensor `name` a smaller shape (its first numel values stay). */
static void ckpt_shrink(clip_ckpt *c, const char *name, int ndim, int64_t d0, int64_t d1,
                        int64_t d2, int64_t d3)
{
    src_tensor *t = ckpt_find(c, name);
    const int64_t dims[4] = { d0, d1, d2, d3 };
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++)
        numel *= t->shape[d] = dims[d];
    ck_assert_int_le(numel, t->numel);
    t->ndim = ndim;
    t->numel = numel;
}

static void ckpt_write_f32(const clip_ckpt *c, const char *path)
{
    lv_st_writer *w = lv_st_writer_new();
    ck_assert_ptr_nonnull(w);
    for (int i = 0; i < c->n; i++)
        if (!c->t[i].dropped)
            ck_assert_int_eq(lv_st_writer_add_f32(w, c->t[i].name, c->t[i].data, c->t[i].ndim,
                                                  c->t[i].shape), 0);
    ck_assert_msg(lv_st_writer_write(w, path) == 0, "%s", lv_error());
    lv_st_writer_free(w);
}

static uint32_t float_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* F16 bits of x, for x = 0 or a normal number with at most 11 significant bits. */
static uint16_t f16_bits(float x)
{
    const uint32_t b = float_bits(x);
    const uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
    if ((b & 0x7fffffff) == 0)
        return sign;
    const int32_t e = (int32_t)((b >> 23) & 0xff) - 127 + 15;
    if (e <= 0 || e >= 31 || (b & 0x1fff) != 0)     /* not ck_assert: it reports every call */
        ck_abort_msg("%g is not exact in F16", x);
    return (uint16_t)(sign | (uint32_t)e << 10 | ((b >> 13) & 0x3ff));
}

/* BF16 bits of x, for x with at most 8 significant bits. */
static uint16_t bf16_bits(float x)
{
    const uint32_t b = float_bits(x);
    if ((b & 0xffff) != 0)
        ck_abort_msg("%g is not exact in BF16", x);
    return (uint16_t)(b >> 16);
}

static size_t dtype_bytes(lv_dtype dt)
{
    return dt == LV_DT_I64 ? 8 : dt == LV_DT_F32 || dt == LV_DT_I32 ? 4 : 2;
}

/* Element i of t in its dtype, little-endian, at out. */
static void encode(unsigned char *out, const src_tensor *t, int64_t i)
{
    uint64_t v;
    switch (t->dtype) {
    case LV_DT_F16: v = f16_bits(t->data[i]); break;
    case LV_DT_BF16: v = bf16_bits(t->data[i]); break;
    case LV_DT_I32: v = (uint32_t)(int32_t)t->data[i]; break;
    case LV_DT_I64: v = (uint64_t)(int64_t)t->data[i]; break;
    default: v = float_bits(t->data[i]);
    }
    for (size_t k = 0; k < dtype_bytes(t->dtype); k++)
        out[k] = (unsigned char)(v >> (8 * k));
}

/* A safetensors file by hand, each tensor in its own dtype (F32, F16, BF16, I32 or I64). */
static void ckpt_write_raw(const clip_ckpt *c, const char *path)
{
    size_t data_bytes = 0, header_len = 0;
    char *header = malloc(64 * 1024);   /* up to MAX_TENSORS entries of ~120 characters */
    ck_assert_ptr_nonnull(header);
    header_len += (size_t)sprintf(header, "{");
    for (int i = 0; i < c->n; i++) {
        const src_tensor *t = &c->t[i];
        if (t->dropped)
            continue;
        const size_t n = (size_t)t->numel * dtype_bytes(t->dtype);
        header_len += (size_t)sprintf(header + header_len, "%s\"%s\":{\"dtype\":\"%s\","
                                      "\"shape\":[", header_len > 1 ? "," : "", t->name,
                                      lv_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            header_len += (size_t)sprintf(header + header_len, "%s%lld", d ? "," : "",
                                          (long long)t->shape[d]);
        header_len += (size_t)sprintf(header + header_len, "],\"data_offsets\":[%zu,%zu]}",
                                      data_bytes, data_bytes + n);
        data_bytes += n;
    }
    header_len += (size_t)sprintf(header + header_len, "}");
    unsigned char *data = malloc(data_bytes), *p = data;
    ck_assert_ptr_nonnull(data);
    for (int i = 0; i < c->n; i++)
        for (int64_t k = 0; !c->t[i].dropped && k < c->t[i].numel; k++) {
            encode(p, &c->t[i], k);
            p += dtype_bytes(c->t[i].dtype);
        }
    unsigned char len8[8];
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)((uint64_t)header_len >> (8 * k));
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(len8, 1, 8, fp), 8);
    ck_assert_uint_eq(fwrite(header, 1, header_len, fp), header_len);
    ck_assert_uint_eq(fwrite(data, 1, data_bytes, fp), data_bytes);
    ck_assert_int_eq(fclose(fp), 0);
    free(header);
    free(data);
}

/* ---- the model ------------------------------------------------------------------------------ */

/* The tiny preset with the given overrides (NULL-terminated). */
static void model_make(lv_model *m, const char *const *overrides)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "tiny"), 0);
    for (int i = 0; overrides && overrides[i]; i++)
        ck_assert_msg(lv_config_set(&c, overrides[i]) == 0, "%s", lv_error());
    ck_assert_msg(lv_model_build(m, &c, &lv_backend_ref) == 0, "%s", lv_error());
}

static float *param(const lv_model *m, const char *name)
{
    const int64_t i = lv_params_find(&m->params, name);
    ck_assert_msg(i >= 0, "the model has no %s", name);
    return lv_param_data(&m->params, i);
}

static int64_t param_numel(const lv_model *m, const char *name)
{
    const int64_t i = lv_params_find(&m->params, name);
    ck_assert_msg(i >= 0, "the model has no %s", name);
    return m->params.p[i].numel;
}

/* Ours from element `at` equals want (n floats), exactly. Returns n. */
static int64_t expect_equal(const lv_model *m, const char *ours, int64_t at, const float *want,
                            int64_t n)
{
    const float *x = param(m, ours) + at;
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++)
        wrong += x[i] != want[i];
    ck_assert_msg(wrong == 0, "%s [%lld, %lld): %lld entries differ from the checkpoint", ours,
                  (long long)at, (long long)(at + n), (long long)wrong);
    return n;
}

static int64_t expect_zero(const lv_model *m, const char *ours)
{
    const float *x = param(m, ours);
    const int64_t n = param_numel(m, ours);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(x[i] == 0.0f, "%s[%lld] = %g, expected 0", ours, (long long)i, x[i]);
    return n;
}

/* Where each Hugging Face tensor of one encoder layer lands: part k of a fused tensor starts at
 * element k * numel(source). */
static const struct {
    const char *hf, *ours;
    int part;
} block_map[] = {
    { "layer_norm1.weight", "ln1.weight", 0 },       { "layer_norm1.bias", "ln1.bias", 0 },
    { "self_attn.q_proj.weight", "attn.qkv.weight", 0 },
    { "self_attn.k_proj.weight", "attn.qkv.weight", 1 },
    { "self_attn.v_proj.weight", "attn.qkv.weight", 2 },
    { "self_attn.q_proj.bias", "attn.qkv.bias", 0 },
    { "self_attn.k_proj.bias", "attn.qkv.bias", 1 },
    { "self_attn.v_proj.bias", "attn.qkv.bias", 2 },
    { "self_attn.out_proj.weight", "attn.proj.weight", 0 },
    { "self_attn.out_proj.bias", "attn.proj.bias", 0 },
    { "layer_norm2.weight", "ln2.weight", 0 },       { "layer_norm2.bias", "ln2.bias", 0 },
    { "mlp.fc1.weight", "mlp.fc1.weight", 0 },       { "mlp.fc1.bias", "mlp.fc1.bias", 0 },
    { "mlp.fc2.weight", "mlp.fc2.weight", 0 },       { "mlp.fc2.bias", "mlp.fc2.bias", 0 },
};

static const struct {
    const char *hf, *ours;
} once_map[] = {
    { "vision_model.pre_layrnorm.weight", "video.ln_pre.weight" },
    { "vision_model.pre_layrnorm.bias", "video.ln_pre.bias" },
    { "vision_model.post_layernorm.weight", "video.ln_final.weight" },
    { "vision_model.post_layernorm.bias", "video.ln_final.bias" },
    { "visual_projection.weight", "video.proj.weight" },
    { "text_model.embeddings.token_embedding.weight", "text.token_embed" },
    { "text_model.final_layer_norm.weight", "text.ln_final.weight" },
    { "text_model.final_layer_norm.bias", "text.ln_final.bias" },
    { "text_projection.weight", "text.proj.weight" },
    { "logit_scale", "logit_scale" },
};

static int64_t expect_blocks(const lv_model *m, clip_ckpt *c, const char *hf_tower,
                             const char *tower, int64_t L)
{
    int64_t n = 0;
    char hf[128], ours[LV_PARAM_NAME_MAX];
    for (int64_t l = 0; l < L; l++)
        for (size_t k = 0; k < sizeof block_map / sizeof block_map[0]; k++) {
            snprintf(hf, sizeof hf, "%s.encoder.layers.%lld.%s", hf_tower, (long long)l,
                     block_map[k].hf);
            snprintf(ours, sizeof ours, "%s.blocks.%lld.%s", tower, (long long)l,
                     block_map[k].ours);
            const src_tensor *t = ckpt_find(c, hf);
            n += expect_equal(m, ours, block_map[k].part * t->numel, t->data, t->numel);
        }
    return n;
}

/* The patch kernel, element by element: ours[d][(y*p + x)*3 + c] = conv[d][c][y][x]. */
static int64_t expect_patch(const lv_model *m, clip_ckpt *c, int64_t D, int64_t p)
{
    const float *conv = ckpt_find(c, "vision_model.embeddings.patch_embedding.weight")->data;
    const float *w = param(m, "video.patch.weight");
    for (int64_t d = 0; d < D; d++)
        for (int64_t ch = 0; ch < 3; ch++)
            for (int64_t y = 0; y < p; y++)
                for (int64_t x = 0; x < p; x++) {
                    const float want = conv[((d * 3 + ch) * p + y) * p + x];
                    const float got = w[d * p * p * 3 + (y * p + x) * 3 + ch];
                    if (got != want)
                        ck_abort_msg("video.patch.weight[%lld][(%lld, %lld, %lld)] = %g, conv "
                                     "[%lld][%lld][%lld][%lld] = %g", (long long)d, (long long)y,
                                     (long long)x, (long long)ch, got, (long long)d,
                                     (long long)ch, (long long)y, (long long)x, want);
                }
    return D * p * p * 3 + expect_zero(m, "video.patch.bias");
}

/* Every mapped tensor of the tiny model equals its source; returns the entries compared. */
static int64_t expect_loaded(const lv_model *m, clip_ckpt *c)
{
    const lv_config *cfg = &m->cfg;
    int64_t n = expect_patch(m, c, cfg->width, cfg->patch);
    const src_tensor *pos = ckpt_find(c, "vision_model.embeddings.position_embedding.weight");
    ck_assert_int_eq(pos->shape[0] - 1, param_numel(m, "video.pos.spatial") / cfg->width);
    n += expect_equal(m, "video.pos.spatial", 0, pos->data + cfg->width,
                      param_numel(m, "video.pos.spatial"));          /* from row 1: CLS dropped */
    for (size_t k = 0; k < sizeof once_map / sizeof once_map[0]; k++) {
        const src_tensor *t = ckpt_find(c, once_map[k].hf);
        n += expect_equal(m, once_map[k].ours, 0, t->data, t->numel);
    }
    n += expect_equal(m, "text.pos_embed", 0,
                      ckpt_find(c, "text_model.embeddings.position_embedding.weight")->data,
                      cfg->text_len * cfg->text_width);
    n += expect_blocks(m, c, "vision_model", "video", cfg->layers);
    n += expect_blocks(m, c, "text_model", "text", cfg->text_layers);
    return n;
}

/* video.tubelet.weight is the patch kernel spread over t frames; its bias the patch bias. */
static void expect_inflated(const lv_model *m, int central)
{
    const float *w3 = param(m, "video.tubelet.weight"), *w2 = param(m, "video.patch.weight");
    const int64_t D = m->cfg.width, t = m->cfg.tubelet_t, V2 = param_numel(m,
                                                                        "video.patch.weight") / D;
    for (int64_t d = 0; d < D; d++)
        for (int64_t dt = 0; dt < t; dt++)
            for (int64_t e = 0; e < V2; e++) {
                const float w = w2[d * V2 + e];
                const float want = central ? (dt == t / 2 ? w : 0.0f) : w / (float)t;
                ck_assert_msg(w3[(d * t + dt) * V2 + e] == want, "tubelet[%lld][%lld][%lld]",
                              (long long)d, (long long)dt, (long long)e);
            }
    expect_equal(m, "video.tubelet.bias", 0, param(m, "video.patch.bias"), D);
}

/* ---- loading -------------------------------------------------------------------------------- */

static void load_ok(lv_model *m, const char *path)
{
    ck_assert_msg(lv_model_init_from_clip(m, path) == 0, "%s", lv_error());
}

START_TEST(test_load_f32)
{
    lv_model m;
    model_make(&m, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 1);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "clip.safetensors");
    ckpt_write_f32(&c, path);
    load_ok(&m, path);
    const int64_t n = expect_loaded(&m, &c);
    expect_inflated(&m, 0);
    expect_zero(&m, "video.pos.temporal");
    printf("load F32: %lld entries of %d checkpoint tensors equal (conv -> (dy, dx, c) element by "
           "element, q|k|v rows, CLS row dropped, %lld of %lld text positions); class_embedding "
           "accepted; tubelet = average inflation (w / %lld per frame), bias 0; temporal table "
           "0\n", (long long)n, c.n, (long long)m.cfg.text_len, (long long)s.text_rows,
           (long long)m.cfg.tubelet_t);
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

START_TEST(test_load_half)
{
    static const lv_dtype cycle[3] = { LV_DT_F32, LV_DT_F16, LV_DT_BF16 };
    lv_model m;
    model_make(&m, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 2);
    int per_dtype[3] = { 0 };
    for (int i = 0; i < c.n; i++) {
        c.t[i].dtype = cycle[i % 3];
        per_dtype[i % 3]++;
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "clip_half.safetensors");
    ckpt_write_raw(&c, path);
    load_ok(&m, path);
    const int64_t n = expect_loaded(&m, &c);
    expect_inflated(&m, 0);
    printf("load F32/F16/BF16 (%d/%d/%d tensors, written by hand): %lld entries equal the "
           "source values exactly\n", per_dtype[0], per_dtype[1], per_dtype[2], (long long)n);
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

START_TEST(test_inflate_central)
{
    static const char *const central[] = { "inflate=central", NULL };
    lv_model m;
    model_make(&m, central);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 3);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "clip.safetensors");
    ckpt_write_f32(&c, path);
    load_ok(&m, path);
    expect_loaded(&m, &c);
    expect_inflated(&m, 1);
    printf("inflate=central: tubelet frame %lld = the loaded patch kernel, the other frame 0\n",
           (long long)(m.cfg.tubelet_t / 2));
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

START_TEST(test_factorized_copies)
{
    static const char *const factorized[] = { "attn=factorized", NULL };
    static const char *const pairs[][2] = {
        { "temporal.ln.weight", "ln1.weight" }, { "temporal.ln.bias", "ln1.bias" },
        { "temporal.attn.qkv.weight", "attn.qkv.weight" },
        { "temporal.attn.qkv.bias", "attn.qkv.bias" },
        { "temporal.attn.proj.weight", "attn.proj.weight" },
        { "temporal.attn.proj.bias", "attn.proj.bias" },
    };
    lv_model m;
    model_make(&m, factorized);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 4);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "clip.safetensors");
    ckpt_write_f32(&c, path);
    load_ok(&m, path);
    expect_loaded(&m, &c);
    int64_t n = 0;
    char t_name[LV_PARAM_NAME_MAX], s_name[LV_PARAM_NAME_MAX];
    for (int64_t l = 0; l < m.cfg.layers; l++) {
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            snprintf(t_name, sizeof t_name, "video.blocks.%lld.%s", (long long)l, pairs[k][0]);
            snprintf(s_name, sizeof s_name, "video.blocks.%lld.%s", (long long)l, pairs[k][1]);
            n += expect_equal(&m, t_name, 0, param(&m, s_name), param_numel(&m, s_name));
        }
        snprintf(t_name, sizeof t_name, "video.blocks.%lld.temporal.gate", (long long)l);
        expect_zero(&m, t_name);
    }
    printf("attn=factorized: %lld temporal entries over %lld layers re-copied from the loaded "
           "spatial attention (which equals the checkpoint); gates 0\n", (long long)n,
           (long long)m.cfg.layers);
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

/* Tensors CLIP has no counterpart for keep their init, in each variant that has them. */
static const struct {
    const char *overrides[3];
    const char *kept;          /* a substring of the names that must not change */
} keep_cases[] = {
    { { "tune=adapters", NULL }, ".adapter." },
    { { "tune=lora", NULL }, ".lora_" },
    { { "tubes=tubevit", NULL }, "video.tubes." },
    { { "attn=frame", "frame_pool=attn", NULL }, "video.pool." },
};

START_TEST(test_keeps_init)
{
    lv_model m;
    model_make(&m, keep_cases[_i].overrides);
    const size_t bytes = (size_t)m.params.n_floats * sizeof(float);
    float *before = malloc(bytes);
    ck_assert_ptr_nonnull(before);
    memcpy(before, m.params.data, bytes);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 5);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "clip.safetensors");
    ckpt_write_f32(&c, path);
    load_ok(&m, path);
    const int64_t n = expect_loaded(&m, &c);
    int64_t kept = 0, tensors = 0;
    for (int64_t i = 0; i < m.params.count; i++) {
        const lv_param *p = &m.params.p[i];
        if (!strstr(p->name, keep_cases[_i].kept))
            continue;
        ck_assert_msg(!memcmp(before + p->offset, lv_param_data(&m.params, i),
                              (size_t)p->numel * sizeof(float)), "%s changed", p->name);
        kept += p->numel;
        tensors++;
    }
    ck_assert_int_gt(tensors, 0);
    printf("%s%s%s: %lld loaded entries equal the checkpoint; %lld tensors (%lld entries) "
           "matching \"%s\" kept their init\n", keep_cases[_i].overrides[0],
           keep_cases[_i].overrides[1] ? " " : "",
           keep_cases[_i].overrides[1] ? keep_cases[_i].overrides[1] : "", (long long)n,
           (long long)tensors, (long long)kept, keep_cases[_i].kept);
    free(before);
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

/* torch.nn.functional.interpolate([[0, 1], [2, 3]], size=4, mode="bilinear") */
static const float grid_2_to_4[16] = {
    0.00f, 0.25f, 0.75f, 1.00f, 0.50f, 0.75f, 1.25f, 1.50f,
    1.50f, 1.75f, 2.25f, 2.50f, 2.00f, 2.25f, 2.75f, 3.00f,
};

START_TEST(test_load_other_grid)
{
    lv_model m;
    model_make(&m, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    s.g0 = 2;
    clip_ckpt c;
    ckpt_build(&c, &s, 6);
    float *pos = ckpt_find(&c, "vision_model.embeddings.position_embedding.weight")->data;
    const int64_t D = s.D;
    for (int64_t d = 0; d < D; d++)
        pos[d] = 99.0f;                               /* CLS: must not reach the grid */
    for (int64_t k = 0; k < 4; k++)
        pos[(1 + k) * D] = (float)k;                  /* channel 0 of the 2 x 2 grid */
    char path[TEST_PATH_BYTES];
    tmp_path(path, "clip_2x2.safetensors");
    ckpt_write_f32(&c, path);
    load_ok(&m, path);
    const float *ours = param(&m, "video.pos.spatial");
    double largest = 0;
    for (int64_t k = 0; k < 16; k++) {
        ck_assert_msg(ours[k * D] == grid_2_to_4[k], "grid entry %lld: %g, expected %g",
                      (long long)k, ours[k * D], grid_2_to_4[k]);
        for (int64_t d = 0; d < D; d++)
            largest = fmax(largest, fabs(ours[k * D + d]));
    }
    ck_assert(largest <= 3.0);
    printf("2x2 checkpoint grid -> our 4x4: channel 0 equals torch's bilinear table (16 values, "
           "e.g. (1, 2) = %g); largest |entry| %g <= 3, so the CLS row (99) was dropped\n",
           ours[6 * D], largest);
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

/* ---- the inflation property ----------------------------------------------------------------- */

START_TEST(test_inflation_tokens)
{
    static const char *const inflate[2][2] = { { "inflate=average", NULL },
                                               { "inflate=central", NULL } };
    lv_model m;
    model_make(&m, inflate[_i]);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 7);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "clip.safetensors");
    ckpt_write_f32(&c, path);
    load_ok(&m, path);
    const int64_t F = m.cfg.frames, S = m.cfg.image_size, p = m.cfg.patch, D = m.cfg.width;
    const int64_t t = m.cfg.tubelet_t, pixels = S * S * 3;
    lv_rng r = test_rng(100 + (uint32_t)_i);
    float *frame = rand_floats(&r, pixels, 1.0), *video = zeros(F * pixels);
    for (int64_t f = 0; f < F; f++)
        memcpy(video + f * pixels, frame, (size_t)pixels * sizeof *frame);
    const lv_tubelet_shape s3 = lv_tubelet_shape_make(F, S, S, t, p);
    const lv_tubelet_shape s2 = lv_tubelet_shape_make(1, S, S, 1, p);
    const int64_t N3 = lv_tubelet_grid(&s3, NULL, NULL, NULL), P = lv_tubelet_grid(&s2, NULL,
                                                                                 NULL, NULL);
    float *tok3 = zeros(N3 * D), *tok2 = zeros(P * D);
    lv_tubelet_embed_forward(tok3, video, param(&m, "video.tubelet.weight"),
                             param(&m, "video.tubelet.bias"), NULL, &s3, 1, N3, D);
    lv_tubelet_embed_forward(tok2, frame, param(&m, "video.patch.weight"),
                             param(&m, "video.patch.bias"), NULL, &s2, 1, P, D);
    /* relative to sum |w x| of the 2D product, which bounds any rounding of the sum */
    const float *w2 = param(&m, "video.patch.weight");
    const int64_t V2 = p * p * 3;
    double worst = 0;
    for (int64_t n = 0; n < N3; n++) {
        const int64_t sp = n % P, y = sp / (S / p), x = sp % (S / p);
        for (int64_t d = 0; d < D; d++) {
            double scale = 0;
            for (int64_t e = 0; e < V2; e++) {
                const int64_t dy = e / (p * 3), rest = e % (p * 3);
                scale += fabs((double)w2[d * V2 + e] *
                              frame[((y * p + dy) * S + x * p) * 3 + rest]);
            }
            const double err = fabs((double)tok3[n * D + d] - tok2[sp * D + d]);
            worst = lv_margin_max(worst, err / (1e-6 * scale));
        }
    }
    ck_assert_msg(worst <= 1.0, "worst error %g of the 1e-6 relative tolerance", worst);
    printf("inflation (%s): %lld tokens of a video of %lld identical frames = the 2D patch tokens "
           "of one frame; worst error %.3g of the 1e-6 relative tolerance\n", inflate[_i][0] + 8,
           (long long)N3, (long long)F, worst);
    free(frame);
    free(video);
    free(tok3);
    free(tok2);
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

/* ---- resizing ------------------------------------------------------------------------------- */

static void expect_same_floats(const float *got, const float *want, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(got[i] - want[i]) <= 1e-6f * (1.0f + fabsf(want[i])),
                      "%s[%lld] = %.9g, expected %.9g", what, (long long)i, got[i], want[i]);
}

START_TEST(test_pos_grid_resize)
{
    /* 2 x 2 -> 4 x 4, two channels (the second 10 times the first) */
    float in2[8], out4[32], want4[32];
    for (int k = 0; k < 4; k++) {
        in2[2 * k] = (float)k;
        in2[2 * k + 1] = 10.0f * (float)k;
    }
    for (int k = 0; k < 16; k++) {
        want4[2 * k] = grid_2_to_4[k];
        want4[2 * k + 1] = 10.0f * grid_2_to_4[k];
    }
    lv_pos_grid_resize(out4, in2, 2, 4, 2);
    expect_same_floats(out4, want4, 32, "2x2 -> 4x4");
    /* 4 x 4 -> 2 x 2: each output is the mean of a 2 x 2 block */
    float in4[16], out2[4];
    const float want2[4] = { 2.5f, 4.5f, 10.5f, 12.5f };
    for (int k = 0; k < 16; k++)
        in4[k] = (float)k;
    lv_pos_grid_resize(out2, in4, 4, 2, 1);
    expect_same_floats(out2, want2, 4, "4x4 -> 2x2");
    /* same size: a copy, bit for bit */
    lv_rng r = test_rng(200);
    float *in3 = rand_floats(&r, 9 * 5, 1.0), *out3 = zeros(9 * 5);
    lv_pos_grid_resize(out3, in3, 3, 3, 5);
    ck_assert_mem_eq(out3, in3, 9 * 5 * sizeof *out3);
    printf("pos grid: 2x2 -> 4x4 equals torch bilinear (align_corners=False) on 32 values, "
           "4x4 -> 2x2 gives block means (2.5 4.5 10.5 12.5), 3x3 -> 3x3 copies exactly\n");
    free(in3);
    free(out3);
}
END_TEST

START_TEST(test_temporal_resize)
{
    const float in[6] = { 0.0f, 1.0f, 4.0f, -3.0f, 10.0f, 7.0f };      /* (3, 2) */
    const float interp[10] = { 0, 1, 2, -1, 4, -3, 7, 2, 10, 7 };       /* endpoints, midpoints */
    const float tile[10] = { 0, 1, 4, -3, 10, 7, 0, 1, 4, -3 };
    float out[10];
    lv_temporal_resize(out, in, 3, 5, 2, LV_TEMPORAL_INTERPOLATE);
    ck_assert_mem_eq(out, interp, sizeof out);
    lv_temporal_resize(out, in, 3, 5, 2, LV_TEMPORAL_TILE);
    ck_assert_mem_eq(out, tile, sizeof out);
    /* 8 -> 64 (16 -> 128 frames with t = 2): the first and last rows kept exactly */
    lv_rng r = test_rng(300);
    const int64_t D = 4;
    float *t8 = rand_floats(&r, 8 * D, 1.0), *t64 = zeros(64 * D), *back = zeros(8 * D);
    lv_temporal_resize(t64, t8, 8, 64, D, LV_TEMPORAL_INTERPOLATE);
    ck_assert_mem_eq(t64, t8, (size_t)D * sizeof *t8);
    ck_assert_mem_eq(t64 + 63 * D, t8 + 7 * D, (size_t)D * sizeof *t8);
    /* every 9th of the 64 rows lies on an original row: 9 * 7 / 63 = 1 */
    lv_temporal_resize(back, t64, 64, 8, D, LV_TEMPORAL_INTERPOLATE);
    ck_assert_mem_eq(back, t8, 8 * (size_t)D * sizeof *t8);
    lv_temporal_resize(t64, t8, 8, 64, D, LV_TEMPORAL_TILE);
    for (int64_t k = 0; k < 64; k++)
        ck_assert_mem_eq(t64 + k * D, t8 + (k % 8) * D, (size_t)D * sizeof *t8);
    printf("temporal: 3 -> 5 interpolation keeps rows 0, 2, 4 and averages between "
           "(0 1 | 2 -1 | 4 -3 | 7 2 | 10 7), tiling repeats; 8 -> 64 keeps both endpoints and "
           "64 -> 8 recovers the 8 rows exactly; 8 -> 64 tiling row k = row k %% 8\n");
    free(t8);
    free(t64);
    free(back);
}
END_TEST

/* ---- errors: every problem listed, nothing changed ------------------------------------------ */

typedef int (*init_fn)(lv_model *m, const char *path);

static void expect_load_fails(lv_model *m, init_fn load, const char *path,
                              const char *const *needles)
{
    const size_t bytes = (size_t)m->params.n_floats * sizeof(float);
    float *before = malloc(bytes);
    ck_assert_ptr_nonnull(before);
    memcpy(before, m->params.data, bytes);
    ck_assert_int_eq(load(m, path), -1);
    printf("    error: %s\n", lv_error());
    for (int i = 0; needles[i]; i++)
        ck_assert_msg(strstr(lv_error(), needles[i]), "message lacks \"%s\": %s", needles[i],
                      lv_error());
    ck_assert_msg(!memcmp(before, m->params.data, bytes), "the parameters changed on failure");
    free(before);
}

static void expect_fails_unchanged(lv_model *m, const char *path, const char *const *needles)
{
    expect_load_fails(m, lv_model_init_from_clip, path, needles);
}

START_TEST(test_missing_tensors)
{
    static const char *const gone[] = { "vision_model.pre_layrnorm.bias",
                                        "vision_model.encoder.layers.1.self_attn.k_proj.weight",
                                        "text_projection.weight" };
    lv_model m;
    model_make(&m, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 8);
    for (int k = 0; k < 3; k++)
        ckpt_find(&c, gone[k])->dropped = 1;
    char path[TEST_PATH_BYTES];
    tmp_path(path, "missing.safetensors");
    ckpt_write_f32(&c, path);
    const char *const needles[] = { path, "3 problems",
                                    "missing vision_model.pre_layrnorm.bias, expected (32)",
                                    "missing vision_model.encoder.layers.1.self_attn.k_proj.weight"
                                    ", expected (32, 32)",
                                    "missing text_projection.weight, expected (16, 32)", NULL };
    printf("missing tensors:\n");
    expect_fails_unchanged(&m, path, needles);
    printf("  all 3 missing tensors named with their expected shapes; parameters unchanged\n");
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

START_TEST(test_wrong_shapes)
{
    lv_model m;
    model_make(&m, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt c;
    ckpt_build(&c, &s, 9);
    ckpt_shrink(&c, "vision_model.encoder.layers.0.mlp.fc1.weight", 2, 64, 32, 0, 0);
    ckpt_shrink(&c, "text_model.embeddings.position_embedding.weight", 2, 8, 32, 0, 0);
    ckpt_shrink(&c, "vision_model.embeddings.patch_embedding.weight", 4, 32, 3, 4, 4);
    ckpt_shrink(&c, "vision_model.embeddings.position_embedding.weight", 2, 11, 32, 0, 0);
    c.t[c.n - 1].dtype = LV_DT_I32;                    /* logit_scale */
    char path[TEST_PATH_BYTES];
    tmp_path(path, "shapes.safetensors");
    ckpt_write_raw(&c, path);
    const char *const needles[] = {
        "5 problems",
        "vision_model.encoder.layers.0.mlp.fc1.weight: expected (128, 32), found (64, 32)",
        "text_model.embeddings.position_embedding.weight: expected (>= 12, 32) for text_len 12, "
        "found (8, 32)",
        "patch_embedding.weight: expected (32, 3, 8, 8), found (32, 3, 4, 4)",
        "position_embedding.weight: expected (1 + g*g, 32) for a g x g grid, found (11, 32)",
        "logit_scale is I32, expected F32, F16 or BF16", NULL };
    printf("wrong shapes and dtype:\n");
    expect_fails_unchanged(&m, path, needles);
    printf("  all 5 problems named with expected and found shapes; parameters unchanged\n");
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

START_TEST(test_layer_counts)
{
    lv_model m;
    model_make(&m, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    s.vis_layers = 3;
    s.text_layers = 1;
    clip_ckpt c;
    ckpt_build(&c, &s, 10);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "layers.safetensors");
    ckpt_write_f32(&c, path);
    const char *const needles[] = {
        "vision_model.encoder.layers.* has 3 layers, the model 2 (config layers)",
        "text_model.encoder.layers.* has 1 layers, the model 2 (config text_layers)",
        "missing text_model.encoder.layers.1.layer_norm1.weight",
        "missing text_model.encoder.layers.1.mlp.fc2.bias", "18 problems", NULL };
    printf("layer counts (3 vision, 1 text against 2 and 2):\n");
    expect_fails_unchanged(&m, path, needles);
    printf("  both counts named, then every one of the 16 missing text tensors; parameters "
           "unchanged\n");
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST

START_TEST(test_missing_file)
{
    lv_model m;
    model_make(&m, NULL);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "absent.safetensors");
    const char *const needles[] = { path, NULL };
    printf("missing file:\n");
    expect_fails_unchanged(&m, path, needles);
    lv_model_free(&m);
}
END_TEST

/* ---- OpenAI CLIP / open_clip names ---------------------------------------------------------- */

/* The same weights under OpenAI's names: q|k|v fused as in_proj, c_fc / c_proj, the projections
 * stored (width, embed), blocks under visual.transformer.resblocks / transformer.resblocks. */
static void ckpt_to_openai(const clip_ckpt *hf, clip_ckpt *oa)
{
    static const char *const single[][2] = {
        { "vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight" },
        { "vision_model.embeddings.class_embedding", "visual.class_embedding" },
        { "vision_model.embeddings.position_embedding.weight", "visual.positional_embedding" },
        { "vision_model.pre_layrnorm.weight", "visual.ln_pre.weight" },
        { "vision_model.pre_layrnorm.bias", "visual.ln_pre.bias" },
        { "vision_model.post_layernorm.weight", "visual.ln_post.weight" },
        { "vision_model.post_layernorm.bias", "visual.ln_post.bias" },
        { "visual_projection.weight", "visual.proj" },
        { "text_model.embeddings.token_embedding.weight", "token_embedding.weight" },
        { "text_model.embeddings.position_embedding.weight", "positional_embedding" },
        { "text_model.final_layer_norm.weight", "ln_final.weight" },
        { "text_model.final_layer_norm.bias", "ln_final.bias" },
        { "text_projection.weight", "text_projection" },
        { "logit_scale", "logit_scale" },
    };
    static const char *const block[][2] = {
        { "layer_norm1.", "ln_1." }, { "layer_norm2.", "ln_2." }, { "mlp.fc1.", "mlp.c_fc." },
        { "mlp.fc2.", "mlp.c_proj." }, { "self_attn.out_proj.", "attn.out_proj." },
    };
    oa->n = 0;
    for (int i = 0; i < hf->n; i++) {
        const src_tensor *t = &hf->t[i];
        src_tensor *o = &oa->t[oa->n];
        char name[96] = "";
        for (size_t k = 0; k < sizeof single / sizeof single[0]; k++)
            if (!strcmp(t->name, single[k][0]))
                snprintf(name, sizeof name, "%s", single[k][1]);
        const char *tail = strstr(t->name, ".encoder.layers.");
        if (tail) {
            const int vision = !strncmp(t->name, "vision_model", 12);
            char *end;
            const long l = strtol(tail + 16, &end, 10);
            const char *rest = end + 1;
            const char *head = vision ? "visual.transformer.resblocks" : "transformer.resblocks";
            if (strstr(rest, "self_attn.k_proj") || strstr(rest, "self_attn.v_proj"))
                continue;                         /* fused with q below */
            if (strstr(rest, "self_attn.q_proj")) {
                const int weight = strstr(rest, ".weight") != NULL;
                snprintf(name, sizeof name, "%s.%ld.attn.in_proj_%s", head, l,
                         weight ? "weight" : "bias");
                *o = (src_tensor){ .ndim = t->ndim, .numel = 3 * t->numel, .dtype = LV_DT_F32 };
                snprintf(o->name, sizeof o->name, "%s", name);
                o->shape[0] = 3 * t->shape[0];
                o->shape[1] = t->shape[1];
                o->data = malloc((size_t)o->numel * sizeof *o->data);
                ck_assert_ptr_nonnull(o->data);
                for (int part = 0; part < 3; part++) {
                    char src_name[128];
                    snprintf(src_name, sizeof src_name, "%.*s.self_attn.%s_proj.%s",
                             (int)(rest - t->name - 1), t->name, part == 0 ? "q" : part == 1
                             ? "k" : "v", weight ? "weight" : "bias");
                    const src_tensor *src = NULL;
                    for (int j = 0; j < hf->n; j++)
                        if (!strcmp(hf->t[j].name, src_name))
                            src = &hf->t[j];
                    ck_assert_msg(src != NULL, "no %s", src_name);
                    memcpy(o->data + part * t->numel, src->data,
                           (size_t)t->numel * sizeof *o->data);
                }
                oa->n++;
                continue;
            }
            for (size_t k = 0; k < sizeof block / sizeof block[0]; k++)
                if (!strncmp(rest, block[k][0], strlen(block[k][0])))
                    snprintf(name, sizeof name, "%s.%ld.%s%s", head, l, block[k][1],
                             rest + strlen(block[k][0]));
        }
        ck_assert_msg(name[0], "no OpenAI name for %s", t->name);
        *o = *t;
        snprintf(o->name, sizeof o->name, "%s", name);
        o->data = malloc((size_t)t->numel * sizeof *o->data);
        ck_assert_ptr_nonnull(o->data);
        const int transpose = !strcmp(name, "visual.proj") || !strcmp(name, "text_projection");
        if (transpose) {                          /* (E, D) -> (D, E) */
            o->shape[0] = t->shape[1];
            o->shape[1] = t->shape[0];
            for (int64_t a = 0; a < t->shape[0]; a++)
                for (int64_t b = 0; b < t->shape[1]; b++)
                    o->data[b * t->shape[0] + a] = t->data[a * t->shape[1] + b];
        } else {
            memcpy(o->data, t->data, (size_t)t->numel * sizeof *o->data);
        }
        oa->n++;
    }
}

/* Parameters whose names start with prefix: identical in a and b (and how many floats). */
static int64_t expect_same_prefix(const lv_model *a, const lv_model *b, const char *prefix,
                                  int want_same)
{
    int64_t n = 0;
    for (int64_t i = 0; i < a->params.count; i++) {
        const lv_param *p = &a->params.p[i];
        if (strncmp(p->name, prefix, strlen(prefix)))
            continue;
        const int same = !memcmp(lv_param_data(&a->params, i), lv_param_data(&b->params, i),
                                 (size_t)p->numel * sizeof(float));
        ck_assert_msg(same == want_same, "%s: %s", p->name, want_same ? "differs" : "equal");
        n += p->numel;
    }
    return n;
}

/* Both towers from OpenAI names give exactly the model the Hugging Face names give; vision only
 * takes the vision tower and its projection and leaves the text tower and the scale alone. */
START_TEST(test_openai_names)
{
    lv_model hf_model, oa_model, vision_only, fresh;
    model_make(&hf_model, NULL);
    model_make(&oa_model, NULL);
    model_make(&vision_only, NULL);
    model_make(&fresh, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt hf, oa;
    ckpt_build(&hf, &s, 21);
    ckpt_to_openai(&hf, &oa);
    char hf_path[TEST_PATH_BYTES], oa_path[TEST_PATH_BYTES];
    tmp_path(hf_path, "hf.safetensors");
    tmp_path(oa_path, "openai.safetensors");
    ckpt_write_f32(&hf, hf_path);
    ckpt_write_f32(&oa, oa_path);
    load_ok(&hf_model, hf_path);
    ck_assert_msg(lv_model_init_from_clip(&oa_model, oa_path) == 0, "%s", lv_error());
    const int64_t all = expect_same_prefix(&hf_model, &oa_model, "", 1);
    ck_assert_msg(lv_model_init_from_clip_parts(&vision_only, oa_path, LV_CLIP_VISION) == 0,
                  "%s", lv_error());
    const int64_t video = expect_same_prefix(&hf_model, &vision_only, "video.", 1);
    const int64_t text = expect_same_prefix(&fresh, &vision_only, "text.", 1);
    expect_same_prefix(&fresh, &vision_only, "logit_scale", 1);
    expect_same_prefix(&fresh, &vision_only, "video.blocks.0.attn.qkv.weight", 0);
    printf("OpenAI names (%d tensors: in_proj fused, c_fc/c_proj, projections transposed) give "
           "the Hugging Face load exactly: %lld floats; vision only: %lld video floats loaded, "
           "%lld text floats and logit_scale untouched\n", oa.n, (long long)all,
           (long long)video, (long long)text);
    ckpt_free(&hf);
    ckpt_free(&oa);
    lv_model_free(&hf_model), lv_model_free(&oa_model);
    lv_model_free(&vision_only), lv_model_free(&fresh);
}
END_TEST

/* pool=cls: video.class_token = class_embedding + position row 0, exactly, in both layouts (the
 * grid still from row 1); without class_embedding a pool=cls load is refused naming it, where
 * pool=mean needs neither. */
START_TEST(test_class_token)
{
    static const char *const cls[] = { "pool=cls", NULL };
    lv_model hf_model, oa_model, refused, mean_model;
    model_make(&hf_model, cls);
    model_make(&oa_model, cls);
    model_make(&refused, cls);
    model_make(&mean_model, NULL);
    ckpt_sizes s = ckpt_sizes_tiny();
    clip_ckpt hf, oa;
    ckpt_build(&hf, &s, 41);
    ckpt_to_openai(&hf, &oa);
    const int64_t D = s.D;
    const float *ce = ckpt_find(&hf, "vision_model.embeddings.class_embedding")->data;
    const float *pos = ckpt_find(&hf, "vision_model.embeddings.position_embedding.weight")->data;
    float want[64];
    int differ_ce = 0, differ_pos = 0;
    for (int64_t d = 0; d < D; d++) {
        want[d] = ce[d] + pos[d];
        differ_ce += want[d] != ce[d];
        differ_pos += want[d] != pos[d];
    }
    ck_assert(differ_ce > 0 && differ_pos > 0);         /* each addend shows in the sum */
    char hf_path[TEST_PATH_BYTES], oa_path[TEST_PATH_BYTES], none_path[TEST_PATH_BYTES];
    tmp_path(hf_path, "hf.safetensors");
    tmp_path(oa_path, "openai.safetensors");
    tmp_path(none_path, "no_class.safetensors");
    ckpt_write_f32(&hf, hf_path);
    ckpt_write_f32(&oa, oa_path);
    load_ok(&hf_model, hf_path);
    const int64_t n = expect_loaded(&hf_model, &hf);
    expect_equal(&hf_model, "video.class_token", 0, want, D);
    ck_assert_msg(lv_model_init_from_clip(&oa_model, oa_path) == 0, "%s", lv_error());
    expect_equal(&oa_model, "video.class_token", 0, want, D);
    const int64_t all = expect_same_prefix(&hf_model, &oa_model, "", 1);
    ckpt_find(&hf, "vision_model.embeddings.class_embedding")->dropped = 1;
    ckpt_write_f32(&hf, none_path);
    const char *const needles[] = { none_path, "1 problem:",
                                    "missing vision_model.embeddings.class_embedding, expected "
                                    "(32)", NULL };
    printf("pool=cls without a class embedding:\n");
    expect_fails_unchanged(&refused, none_path, needles);
    load_ok(&mean_model, none_path);
    printf("class token: video.class_token = class_embedding + position row 0 exactly (%lld "
           "values; each addend differs from the sum in %d / %d places), the grid from row 1 "
           "(%lld entries equal); OpenAI names give the same %lld floats; without "
           "class_embedding pool=cls is refused naming it, pool=mean loads\n", (long long)D,
           differ_ce, differ_pos, (long long)n, (long long)all);
    ckpt_free(&hf);
    ckpt_free(&oa);
    lv_model_free(&hf_model), lv_model_free(&oa_model);
    lv_model_free(&refused), lv_model_free(&mean_model);
}
END_TEST

/* A ViT-B/16 CLIP vision tower at its real shapes (width 768, 12 layers, patch 16, 14 x 14 grid,
 * MLP 3072, projection to 512) in both naming layouts starts --preset vit-b's video tower; the
 * text tower (BERT-medium, any vocabulary) is not asked for. */
START_TEST(test_vit_b16_vision)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "vit-b"), 0);
    lv_model m;
    ck_assert_msg(lv_model_build_table(&m, &c, &lv_backend_ref) == 0, "%s", lv_error());
    ck_assert_int_eq(lv_params_alloc(&m.params, &lv_backend_ref), 0);
    ckpt_sizes s = { .D = 768, .p = 16, .g0 = 14, .vis_layers = 12, .Dt = 32, .text_layers = 0,
                     .V = 8, .text_rows = 4, .E = 512, .hidden = 3072 };
    clip_ckpt hf, oa;
    ckpt_build(&hf, &s, 31);
    ckpt_to_openai(&hf, &oa);
    char path[TEST_PATH_BYTES];
    const char *const layouts[2] = { "Hugging Face", "OpenAI" };
    for (int k = 0; k < 2; k++) {
        tmp_path(path, k ? "b16_openai.safetensors" : "b16_hf.safetensors");
        ckpt_write_f32(k ? &oa : &hf, path);
        ck_assert_msg(lv_model_init_from_clip_parts(&m, path, LV_CLIP_VISION) == 0, "%s: %s",
                      layouts[k], lv_error());
        const src_tensor *proj = ckpt_find(&hf, "visual_projection.weight");
        expect_equal(&m, "video.proj.weight", 0, proj->data, proj->numel);
        const src_tensor *fc2 = ckpt_find(&hf, "vision_model.encoder.layers.11.mlp.fc2.weight");
        expect_equal(&m, "video.blocks.11.mlp.fc2.weight", 0, fc2->data, fc2->numel);
        const src_tensor *v = ckpt_find(&hf, "vision_model.encoder.layers.5.self_attn.v_proj.bias");
        expect_equal(&m, "video.blocks.5.attn.qkv.bias", 2 * 768, v->data, v->numel);
        printf("ViT-B/16 CLIP vision tower with %s names (%.0f MB) starts --preset vit-b: "
               "projection, last MLP and v bias equal\n", layouts[k],
               (double)lv_params_count_floats(&m.params, "video.", 0) * 4e-6);
        unlink(path);
    }
    ckpt_free(&hf);
    ckpt_free(&oa);
    lv_model_free(&m);
}
END_TEST

/* ---- BERT ----------------------------------------------------------------------------------- */

/* The sizes of a BertModel file: width, layers, intermediate width, vocabulary, position rows,
 * token types. */
typedef struct {
    int64_t D, L, hidden, V, pos_rows, types;
} bert_sizes;

/* The tiny preset's text tower (text_len 12 of 20 positions). */
static bert_sizes bert_sizes_tiny(void)
{
    return (bert_sizes){ .D = 32, .L = 2, .hidden = 128, .V = 64, .pos_rows = 20, .types = 2 };
}

/* How a test BERT file spells its names. */
typedef struct {
    const char *prefix;      /* "" (BertModel) or "bert." (BertForPreTraining) */
    int legacy;              /* LayerNorm gamma / beta instead of weight / bias */
    int extras;              /* pooler, position_ids and the pre-training heads: not needed */
} bert_naming;

/* Each encoder layer's tensors (after "encoder.layer.<l>."), their shape in units of the width
 * ('D') or the intermediate width ('H'), 0 for none, and where they land (part k of a fused
 * tensor starts at element k * numel(source)): written independently of the loader's table. */
static const struct {
    const char *bert, *ours;
    int part;
    char d0, d1;
} bert_block_map[] = {
    { "attention.self.query.weight", "attn.qkv.weight", 0, 'D', 'D' },
    { "attention.self.key.weight", "attn.qkv.weight", 1, 'D', 'D' },
    { "attention.self.value.weight", "attn.qkv.weight", 2, 'D', 'D' },
    { "attention.self.query.bias", "attn.qkv.bias", 0, 'D', 0 },
    { "attention.self.key.bias", "attn.qkv.bias", 1, 'D', 0 },
    { "attention.self.value.bias", "attn.qkv.bias", 2, 'D', 0 },
    { "attention.output.dense.weight", "attn.proj.weight", 0, 'D', 'D' },
    { "attention.output.dense.bias", "attn.proj.bias", 0, 'D', 0 },
    { "attention.output.LayerNorm.weight", "ln1.weight", 0, 'D', 0 },
    { "attention.output.LayerNorm.bias", "ln1.bias", 0, 'D', 0 },
    { "intermediate.dense.weight", "mlp.fc1.weight", 0, 'H', 'D' },
    { "intermediate.dense.bias", "mlp.fc1.bias", 0, 'H', 0 },
    { "output.dense.weight", "mlp.fc2.weight", 0, 'D', 'H' },
    { "output.dense.bias", "mlp.fc2.bias", 0, 'D', 0 },
    { "output.LayerNorm.weight", "ln2.weight", 0, 'D', 0 },
    { "output.LayerNorm.bias", "ln2.bias", 0, 'D', 0 },
};

static int64_t bert_dim(char code, const bert_sizes *s)
{
    return code == 'D' ? s->D : code == 'H' ? s->hidden : 0;
}

/* name in the naming nm: its prefix, and LayerNorm.gamma / .beta for .weight / .bias when
 * legacy. */
static void bert_name(char *out, size_t size, const bert_naming *nm, const char *name)
{
    const char *ln = strstr(name, "LayerNorm.");
    if (nm->legacy && ln)
        snprintf(out, size, "%s%.*s%s", nm->prefix, (int)(ln + 10 - name), name,
                 strcmp(ln + 10, "weight") ? "beta" : "gamma");
    else
        snprintf(out, size, "%s%s", nm->prefix, name);
}

static src_tensor *bert_find(clip_ckpt *c, const bert_naming *nm, const char *name)
{
    char full[96];
    bert_name(full, sizeof full, nm, name);
    return ckpt_find(c, full);
}

static float *bert_add(clip_ckpt *c, lv_rng *r, const bert_naming *nm, const char *name,
                       int ndim, int64_t d0, int64_t d1)
{
    char full[96];
    bert_name(full, sizeof full, nm, name);
    return ckpt_add(c, r, full, ndim, d0, d1, 0, 0);
}

/* Every tensor of a BertModel with sizes s, random, named as nm says; with extras also what a
 * BertForPreTraining file holds besides (the heads under cls., outside the prefix). */
static void bert_build(clip_ckpt *c, const bert_sizes *s, const bert_naming *nm, uint32_t seed)
{
    lv_rng r = test_rng(seed);
    char name[96];
    c->n = 0;
    bert_add(c, &r, nm, "embeddings.word_embeddings.weight", 2, s->V, s->D);
    bert_add(c, &r, nm, "embeddings.position_embeddings.weight", 2, s->pos_rows, s->D);
    bert_add(c, &r, nm, "embeddings.token_type_embeddings.weight", 2, s->types, s->D);
    bert_add(c, &r, nm, "embeddings.LayerNorm.weight", 1, s->D, 0);
    bert_add(c, &r, nm, "embeddings.LayerNorm.bias", 1, s->D, 0);
    for (int64_t l = 0; l < s->L; l++)
        for (size_t k = 0; k < sizeof bert_block_map / sizeof bert_block_map[0]; k++) {
            snprintf(name, sizeof name, "encoder.layer.%lld.%s", (long long)l,
                     bert_block_map[k].bert);
            const int64_t d1 = bert_dim(bert_block_map[k].d1, s);
            bert_add(c, &r, nm, name, d1 ? 2 : 1, bert_dim(bert_block_map[k].d0, s), d1);
        }
    if (!nm->extras)
        return;
    bert_add(c, &r, nm, "pooler.dense.weight", 2, s->D, s->D);
    bert_add(c, &r, nm, "pooler.dense.bias", 1, s->D, 0);
    float *ids = bert_add(c, &r, nm, "embeddings.position_ids", 2, 1, s->pos_rows);
    for (int64_t t = 0; t < s->pos_rows; t++)
        ids[t] = (float)t;
    c->t[c->n - 1].dtype = LV_DT_I64;
    ckpt_add(c, &r, "cls.predictions.bias", 1, s->V, 0, 0, 0);
    ckpt_add(c, &r, "cls.predictions.transform.dense.weight", 2, s->D, s->D, 0, 0);
    ckpt_add(c, &r, "cls.seq_relationship.weight", 2, 2, s->D, 0, 0);
}

/* Every tensor the BERT file maps equals its source exactly: the embeddings, the first text_len
 * positions plus token type 0 (added in float, as the loader's and the forward's sum), the
 * embeddings' LayerNorm and every layer. Returns the entries compared. */
static int64_t expect_bert_loaded(const lv_model *m, clip_ckpt *c, const bert_naming *nm)
{
    const int64_t T = m->cfg.text_len, D = m->cfg.text_width;
    const src_tensor *words = bert_find(c, nm, "embeddings.word_embeddings.weight");
    int64_t n = expect_equal(m, "text.token_embed", 0, words->data, words->numel);
    const float *pos = bert_find(c, nm, "embeddings.position_embeddings.weight")->data;
    const float *type0 = bert_find(c, nm, "embeddings.token_type_embeddings.weight")->data;
    float *folded = malloc((size_t)(T * D) * sizeof *folded);
    ck_assert_ptr_nonnull(folded);
    for (int64_t i = 0; i < T * D; i++)
        folded[i] = pos[i] + type0[i % D];
    n += expect_equal(m, "text.pos_embed", 0, folded, T * D);
    free(folded);
    n += expect_equal(m, "text.ln_embed.weight", 0,
                      bert_find(c, nm, "embeddings.LayerNorm.weight")->data, D);
    n += expect_equal(m, "text.ln_embed.bias", 0,
                      bert_find(c, nm, "embeddings.LayerNorm.bias")->data, D);
    char name[128], ours[LV_PARAM_NAME_MAX];
    for (int64_t l = 0; l < m->cfg.text_layers; l++)
        for (size_t k = 0; k < sizeof bert_block_map / sizeof bert_block_map[0]; k++) {
            snprintf(name, sizeof name, "encoder.layer.%lld.%s", (long long)l,
                     bert_block_map[k].bert);
            snprintf(ours, sizeof ours, "text.blocks.%lld.%s", (long long)l,
                     bert_block_map[k].ours);
            const src_tensor *t = bert_find(c, nm, name);
            n += expect_equal(m, ours, bert_block_map[k].part * t->numel, t->data, t->numel);
        }
    return n;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A checksum of the bits of every parameter whose name starts with prefix. */
static uint64_t params_bits(const lv_model *m, const char *prefix)
{
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < m->params.count; i++) {
        const lv_param *p = &m->params.p[i];
        if (strncmp(p->name, prefix, strlen(prefix)))
            continue;
        const float *x = lv_param_data(&m->params, i);
        for (int64_t k = 0; k < p->numel; k++)
            h = (h ^ float_bits(x[k])) * 1099511628211ull;
    }
    return h;
}

/* A BERT-base file at its real shapes (hidden 768, 12 layers, 12 heads, intermediate 3072,
 * vocabulary 30522, 512 positions, 2 token types), stored in BF16 to keep it at 220 MB, starts
 * the text tower of --preset vit-b with text_arch=bert at BERT-base's sizes; the video tower and
 * text.proj.weight keep their values. */
START_TEST(test_bert_base)
{
    static const char *const sets[] = { "text_arch=bert", "text_width=768", "text_layers=12",
                                        "text_heads=12", "text_ln_eps=1e-12", NULL };
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "vit-b"), 0);
    for (int i = 0; sets[i]; i++)
        ck_assert_msg(lv_config_set(&c, sets[i]) == 0, "%s", lv_error());
    lv_model m;
    ck_assert_msg(lv_model_build_table(&m, &c, &lv_backend_ref) == 0, "%s", lv_error());
    ck_assert_int_eq(lv_params_alloc(&m.params, &lv_backend_ref), 0);
    const bert_sizes s = { .D = 768, .L = 12, .hidden = 3072, .V = 30522, .pos_rows = 512,
                           .types = 2 };
    const bert_naming plain = { .prefix = "" };
    static clip_ckpt ck;
    const double t0 = seconds_now();
    bert_build(&ck, &s, &plain, 51);
    int64_t floats = 0;
    for (int i = 0; i < ck.n; i++) {
        ck.t[i].dtype = LV_DT_BF16;
        floats += ck.t[i].numel;
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "bert_base.safetensors");
    ckpt_write_raw(&ck, path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    const double t1 = seconds_now();
    const int64_t proj = param_numel(&m, "text.proj.weight");
    float *proj_before = malloc((size_t)proj * sizeof *proj_before);
    ck_assert_ptr_nonnull(proj_before);
    memcpy(proj_before, param(&m, "text.proj.weight"), (size_t)proj * sizeof *proj_before);
    const uint64_t video_before = params_bits(&m, "video."), scale_before = params_bits(&m,
                                                                                      "logit");
    ck_assert_int_eq(lv_bert_vocab_rows(path), s.V);
    ck_assert_msg(lv_model_init_from_bert(&m, path) == 0, "%s", lv_error());
    const double t2 = seconds_now();
    const int64_t n = expect_bert_loaded(&m, &ck, &plain);
    expect_equal(&m, "text.proj.weight", 0, proj_before, proj);
    ck_assert(params_bits(&m, "video.") == video_before);
    ck_assert(params_bits(&m, "logit") == scale_before);
    printf("BERT-base (%d tensors, %.1f M floats, BF16: %.0f MB built and written in %.1f s) "
           "starts --preset vit-b text_arch=bert in %.1f s: %lld entries equal (q|k|v rows in "
           "order, token type 0 folded into the first %lld of %lld positions, LayerNorms); "
           "text.proj.weight (%lld floats), the video tower and logit_scale unchanged\n", ck.n,
           (double)floats * 1e-6, (double)st.st_size * 1e-6, t1 - t0, t2 - t1, (long long)n,
           (long long)m.cfg.text_len, (long long)s.pos_rows, (long long)proj);
    unlink(path);
    free(proj_before);
    ckpt_free(&ck);
    lv_model_free(&m);
}
END_TEST

/* The same weights under BertForPreTraining's names ("bert." prefix, legacy LayerNorm gamma /
 * beta, the pooler, position_ids and the cls.* heads besides, F32/F16/BF16 mixed) give exactly
 * the model BertModel's names give; the video tower, text.proj.weight and logit_scale keep their
 * values; the vocabulary rows read from the header in both. */
START_TEST(test_bert_names)
{
    static const char *const bert[] = { "text_arch=bert", NULL };
    static const lv_dtype cycle[3] = { LV_DT_F32, LV_DT_F16, LV_DT_BF16 };
    lv_model plain_model, wrapped_model, fresh;
    model_make(&plain_model, bert);
    model_make(&wrapped_model, bert);
    model_make(&fresh, bert);
    const bert_sizes s = bert_sizes_tiny();
    const bert_naming plain = { .prefix = "" };
    const bert_naming wrapped = { .prefix = "bert.", .legacy = 1, .extras = 1 };
    clip_ckpt a, b;
    bert_build(&a, &s, &plain, 61);
    bert_build(&b, &s, &wrapped, 61);
    for (int i = 0; i < b.n; i++)
        if (b.t[i].dtype != LV_DT_I64)
            b.t[i].dtype = cycle[i % 3];
    char plain_path[TEST_PATH_BYTES], wrapped_path[TEST_PATH_BYTES];
    tmp_path(plain_path, "bert.safetensors");
    tmp_path(wrapped_path, "bert_pretraining.safetensors");
    ckpt_write_f32(&a, plain_path);
    ckpt_write_raw(&b, wrapped_path);
    ck_assert_msg(lv_model_init_from_bert(&plain_model, plain_path) == 0, "%s", lv_error());
    ck_assert_msg(lv_model_init_from_bert(&wrapped_model, wrapped_path) == 0, "%s", lv_error());
    const int64_t n = expect_bert_loaded(&plain_model, &a, &plain);
    expect_bert_loaded(&wrapped_model, &b, &wrapped);
    const int64_t all = expect_same_prefix(&plain_model, &wrapped_model, "", 1);
    const int64_t video = expect_same_prefix(&fresh, &plain_model, "video.", 1);
    expect_same_prefix(&fresh, &plain_model, "text.proj.weight", 1);
    expect_same_prefix(&fresh, &plain_model, "logit_scale", 1);
    expect_same_prefix(&fresh, &plain_model, "text.token_embed", 0);
    ck_assert_int_eq(lv_bert_vocab_rows(plain_path), s.V);
    ck_assert_int_eq(lv_bert_vocab_rows(wrapped_path), s.V);
    clip_ckpt clip;
    ckpt_sizes cs = ckpt_sizes_tiny();
    ckpt_build(&clip, &cs, 62);
    char clip_path[TEST_PATH_BYTES];
    tmp_path(clip_path, "clip.safetensors");
    ckpt_write_f32(&clip, clip_path);
    ck_assert_int_eq(lv_bert_vocab_rows(clip_path), -1);
    ck_assert_msg(strstr(lv_error(), clip_path) && strstr(lv_error(), "not a BERT checkpoint"),
                  "%s", lv_error());
    printf("BERT names: BertModel's (F32) and BertForPreTraining's (\"bert.\", gamma/beta, "
           "pooler, I64 position_ids, cls.* heads; F32/F16/BF16) load %lld equal entries, the "
           "two models identical (%lld floats); %lld video floats, text.proj.weight and "
           "logit_scale untouched; vocabulary rows %lld from either header, a CLIP file "
           "refused: %s\n", (long long)n, (long long)all, (long long)video, (long long)s.V,
           lv_error());
    ckpt_free(&a);
    ckpt_free(&b);
    ckpt_free(&clip);
    lv_model_free(&plain_model), lv_model_free(&wrapped_model), lv_model_free(&fresh);
}
END_TEST

/* Each refusal: the model as configured, the file as written, what the message must say; the
 * parameters stay as they were. */
static const struct {
    const char *what;
    const char *overrides[3];
    int64_t layers, vocab, pos_rows;           /* 0: the tiny sizes */
    const char *prefix;
    const char *drop[2];                       /* left out of the file (names without prefix) */
    int clip;                                  /* a CLIP file through the CLIP loader */
    const char *needles[5];
} bert_errors[] = {
    { "3 layers against 2", { "text_arch=bert", NULL }, .layers = 3, .prefix = "bert.",
      .needles = { "bert.encoder.layer.* has 3 layers, the model 2 (config text_layers)",
                   "(read with Hugging Face BertModel names under \"bert.\"), 1 problem:",
                   "Use a BERT safetensors file", NULL } },
    { "missing tensors, another vocabulary", { "text_arch=bert", NULL }, .vocab = 100,
      .prefix = "",
      .drop = { "encoder.layer.1.attention.self.key.weight",
                "embeddings.token_type_embeddings.weight" },
      .needles = { "3 problems", "missing encoder.layer.1.attention.self.key.weight, expected "
                   "(32, 32)", "missing embeddings.token_type_embeddings.weight, expected "
                   "(>= 1, 32): its row 0 is added to text.pos_embed",
                   "embeddings.word_embeddings.weight: expected (64, 32), found (100, 32)",
                   NULL } },
    { "text_arch=pre-ln", { NULL }, .prefix = "",
      .needles = { "the model's text tower is not the checkpoint's: BERT is post-LN, use --set "
                   "text_arch=bert", NULL } },
    { "text_len 600 > 512 positions", { "text_arch=bert", "text_len=600", NULL },
      .pos_rows = 512, .prefix = "",
      .needles = { "1 problem:", "embeddings.position_embeddings.weight: expected (>= 600, 32) "
                   "for text_len 600, found (512, 32)", "text_len", NULL } },
    { "CLIP's text tower into text_arch=bert", { "text_arch=bert", NULL }, .clip = 1,
      .needles = { "CLIP's text tower is pre-LN, use --set text_arch=pre-ln", NULL } },
};

START_TEST(test_bert_errors)
{
    lv_model m;
    model_make(&m, bert_errors[_i].overrides);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "bad.safetensors");
    clip_ckpt c;
    if (bert_errors[_i].clip) {
        ckpt_sizes cs = ckpt_sizes_tiny();
        ckpt_build(&c, &cs, 70);
    } else {
        bert_sizes s = bert_sizes_tiny();
        s.L = bert_errors[_i].layers ? bert_errors[_i].layers : s.L;
        s.V = bert_errors[_i].vocab ? bert_errors[_i].vocab : s.V;
        s.pos_rows = bert_errors[_i].pos_rows ? bert_errors[_i].pos_rows : s.pos_rows;
        const bert_naming nm = { .prefix = bert_errors[_i].prefix };
        bert_build(&c, &s, &nm, 70 + (uint32_t)_i);
        for (int k = 0; k < 2 && bert_errors[_i].drop[k]; k++)
            bert_find(&c, &nm, bert_errors[_i].drop[k])->dropped = 1;
    }
    ckpt_write_f32(&c, path);
    const char *needles[7] = { path };
    for (int k = 0; bert_errors[_i].needles[k]; k++)
        needles[k + 1] = bert_errors[_i].needles[k];
    printf("BERT refusal, %s:\n", bert_errors[_i].what);
    expect_load_fails(&m, bert_errors[_i].clip ? lv_model_init_from_clip : lv_model_init_from_bert,
                      path, needles);
    printf("  named as expected; parameters unchanged\n");
    ckpt_free(&c);
    lv_model_free(&m);
}
END_TEST


/* ---- GPT-2 ---------------------------------------------------------------------------------- */

/* The sizes of a GPT-2 file: vocabulary, position rows, width, layers. */
typedef struct {
    int64_t V, P, W, L;
} gpt2_sizes;

/* The tiny preset's LM (lm_ctx 32 of 40 positions) at lm_vocab 64. */
static gpt2_sizes gpt2_sizes_tiny(void)
{
    return (gpt2_sizes){ .V = 64, .P = 40, .W = 32, .L = 2 };
}

/* Each block's tensors (after "h.<l>."), their shape in units of the width ('W', '3' for 3W,
 * '4' for 4W; 0 for none), and whether GPT-2 stores it (in, out), Conv1D's layout, where ours is
 * (out, in): written from GPT-2's published layout, independently of the loader's table. */
static const struct {
    const char *hf, *ours;
    char d0, d1;
    int transposed;
} gpt2_block_map[] = {
    { "ln_1.weight", "ln1.weight", 'W', 0, 0 },
    { "ln_1.bias", "ln1.bias", 'W', 0, 0 },
    { "attn.c_attn.weight", "attn.qkv.weight", 'W', '3', 1 },
    { "attn.c_attn.bias", "attn.qkv.bias", '3', 0, 0 },
    { "attn.c_proj.weight", "attn.proj.weight", 'W', 'W', 1 },
    { "attn.c_proj.bias", "attn.proj.bias", 'W', 0, 0 },
    { "ln_2.weight", "ln2.weight", 'W', 0, 0 },
    { "ln_2.bias", "ln2.bias", 'W', 0, 0 },
    { "mlp.c_fc.weight", "mlp.fc1.weight", 'W', '4', 1 },
    { "mlp.c_fc.bias", "mlp.fc1.bias", '4', 0, 0 },
    { "mlp.c_proj.weight", "mlp.fc2.weight", '4', 'W', 1 },
    { "mlp.c_proj.bias", "mlp.fc2.bias", 'W', 0, 0 },
};

static int64_t gpt2_dim(char code, const gpt2_sizes *s)
{
    return code == 'W' ? s->W : code == '3' ? 3 * s->W : code == '4' ? 4 * s->W : 0;
}

/* How a test GPT-2 file spells its names. */
typedef struct {
    const char *prefix;      /* "" (GPT2Model) or "transformer." (GPT2LMHeadModel) */
    int head;                /* lm_head.weight beside the prefix, a copy of wte */
    int buffers;             /* each block's attn.bias (causal mask) and attn.masked_bias */
} gpt2_naming;

static src_tensor *gpt2_find(clip_ckpt *c, const gpt2_naming *nm, const char *name)
{
    char full[96];
    snprintf(full, sizeof full, "%s%s", nm->prefix, name);
    return ckpt_find(c, full);
}

static float *gpt2_add(clip_ckpt *c, lv_rng *r, const gpt2_naming *nm, const char *name,
                       int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    char full[96];
    snprintf(full, sizeof full, "%s%s", nm->prefix, name);
    return ckpt_add(c, r, full, ndim, d0, d1, d2, d3);
}

/* The causal-mask buffers of block l, as older Hugging Face files store them (F32). */
static void gpt2_add_buffers(clip_ckpt *c, lv_rng *r, const gpt2_naming *nm, const gpt2_sizes *s,
                             int64_t l)
{
    char name[96];
    snprintf(name, sizeof name, "h.%lld.attn.bias", (long long)l);
    float *mask = gpt2_add(c, r, nm, name, 4, 1, 1, s->P, s->P);
    for (int64_t i = 0; i < s->P * s->P; i++)
        mask[i] = i % s->P <= i / s->P;
    snprintf(name, sizeof name, "h.%lld.attn.masked_bias", (long long)l);
    gpt2_add(c, r, nm, name, 0, 0, 0, 0, 0)[0] = -1e4f;
}

/* Every tensor of a GPT2Model with sizes s, random, named as nm says; the weights the same
 * whatever nm adds (its extras draw from a stream of their own). */
static void gpt2_build(clip_ckpt *c, const gpt2_sizes *s, const gpt2_naming *nm, uint32_t seed)
{
    lv_rng r = test_rng(seed), extra = test_rng(seed + 1000);
    char name[96];
    c->n = 0;
    gpt2_add(c, &r, nm, "wte.weight", 2, s->V, s->W, 0, 0);
    gpt2_add(c, &r, nm, "wpe.weight", 2, s->P, s->W, 0, 0);
    for (int64_t l = 0; l < s->L; l++) {
        for (size_t k = 0; k < sizeof gpt2_block_map / sizeof gpt2_block_map[0]; k++) {
            snprintf(name, sizeof name, "h.%lld.%s", (long long)l, gpt2_block_map[k].hf);
            const int64_t d1 = gpt2_dim(gpt2_block_map[k].d1, s);
            gpt2_add(c, &r, nm, name, d1 ? 2 : 1, gpt2_dim(gpt2_block_map[k].d0, s), d1, 0, 0);
        }
        if (nm->buffers)
            gpt2_add_buffers(c, &extra, nm, s, l);
    }
    gpt2_add(c, &r, nm, "ln_f.weight", 1, s->W, 0, 0, 0);
    gpt2_add(c, &r, nm, "ln_f.bias", 1, s->W, 0, 0, 0);
    if (nm->head) {
        float *head = ckpt_add(c, &extra, "lm_head.weight", 2, s->V, s->W, 0, 0);
        memcpy(head, gpt2_find(c, nm, "wte.weight")->data, (size_t)(s->V * s->W) * sizeof *head);
    }
}

/* The stage (lm_only or not) of the tiny preset with the given overrides (NULL-terminated). */
static void v2t_make(lv_v2t *v, const char *preset, const char *const *overrides, int lm_only)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, preset), 0);
    for (int i = 0; overrides && overrides[i]; i++)
        ck_assert_msg(lv_config_set(&c, overrides[i]) == 0, "%s", lv_error());
    ck_assert_msg(lv_v2t_build(v, &c, &lv_backend_ref, lm_only) == 0, "%s", lv_error());
}

static const lv_param *v2t_param(const lv_v2t *v, const char *name, const float **data)
{
    const int64_t i = lv_params_find(&v->params, name);
    ck_assert_msg(i >= 0, "the stage has no %s", name);
    *data = lv_param_data(&v->params, i);
    return &v->params.p[i];
}

/* Ours equals src (rows x cols) as it is, or transposed (ours (cols, rows)), exactly. */
static int64_t expect_lm_equal(const lv_v2t *v, const char *ours, const float *src, int64_t rows,
                               int64_t cols, int transposed)
{
    const float *x;
    const lv_param *p = v2t_param(v, ours, &x);
    ck_assert_int_eq(p->numel, rows * cols);
    int64_t wrong = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            wrong += (transposed ? x[j * rows + i] : x[i * cols + j]) != src[i * cols + j];
    ck_assert_msg(wrong == 0, "%s: %lld entries differ from the checkpoint%s", ours,
                  (long long)wrong, transposed ? " transposed" : "");
    return rows * cols;
}

/* Every tensor of the LM equals its source: wte, the first lm_ctx rows of wpe, ln_f, and each
 * block's, the Conv1D weights transposed. Returns the entries compared. */
static int64_t expect_gpt2_loaded(const lv_v2t *v, clip_ckpt *c, const gpt2_naming *nm,
                                  const gpt2_sizes *s)
{
    const int64_t W = s->W;
    int64_t n = expect_lm_equal(v, "lm.token_embed", gpt2_find(c, nm, "wte.weight")->data, s->V,
                                W, 0);
    n += expect_lm_equal(v, "lm.pos_embed", gpt2_find(c, nm, "wpe.weight")->data,
                         v->cfg.lm_ctx, W, 0);
    n += expect_lm_equal(v, "lm.ln_final.weight", gpt2_find(c, nm, "ln_f.weight")->data, 1, W, 0);
    n += expect_lm_equal(v, "lm.ln_final.bias", gpt2_find(c, nm, "ln_f.bias")->data, 1, W, 0);
    char name[96], ours[LV_PARAM_NAME_MAX];
    for (int64_t l = 0; l < s->L; l++)
        for (size_t k = 0; k < sizeof gpt2_block_map / sizeof gpt2_block_map[0]; k++) {
            snprintf(name, sizeof name, "h.%lld.%s", (long long)l, gpt2_block_map[k].hf);
            snprintf(ours, sizeof ours, "lm.blocks.%lld.%s", (long long)l,
                     gpt2_block_map[k].ours);
            const int64_t d1 = gpt2_dim(gpt2_block_map[k].d1, s);
            n += expect_lm_equal(v, ours, gpt2_find(c, nm, name)->data,
                                 gpt2_dim(gpt2_block_map[k].d0, s), d1 ? d1 : 1,
                                 gpt2_block_map[k].transposed);
        }
    return n;
}

/* Whether every tensor of a and b whose name starts with prefix is (want_same) or is not equal;
 * returns the floats compared. */
static int64_t expect_v2t_same(const lv_v2t *a, const lv_v2t *b, const char *prefix,
                               int want_same)
{
    int64_t n = 0;
    for (int64_t i = 0; i < a->params.count; i++) {
        const lv_param *p = &a->params.p[i];
        if (strncmp(p->name, prefix, strlen(prefix)))
            continue;
        const int same = !memcmp(lv_param_data(&a->params, i), lv_param_data(&b->params, i),
                                 (size_t)p->numel * sizeof(float));
        ck_assert_msg(same == want_same, "%s: %s", p->name, want_same ? "differs" : "equal");
        n += p->numel;
    }
    return n;
}

static const char *const gpt2_tiny_sets[] = { "lm_vocab=64", NULL };

/* GPT2Model's names (F32) load every tensor, the Conv1D weights transposed; GPT2LMHeadModel's
 * ("transformer.", lm_head.weight tied, the mask buffers, F32/F16/BF16 mixed) give the same LM;
 * into the full stage the LM loads the same and the resampler and cross-attention keep their
 * init; the sizes read from either header. */
START_TEST(test_gpt2_names)
{
    static const lv_dtype cycle[3] = { LV_DT_F32, LV_DT_F16, LV_DT_BF16 };
    lv_v2t plain, wrapped, full, fresh;
    v2t_make(&plain, "tiny", gpt2_tiny_sets, 1);
    v2t_make(&wrapped, "tiny", gpt2_tiny_sets, 1);
    v2t_make(&full, "tiny", gpt2_tiny_sets, 0);
    v2t_make(&fresh, "tiny", gpt2_tiny_sets, 0);
    const gpt2_sizes s = gpt2_sizes_tiny();
    const gpt2_naming model = { .prefix = "" };
    const gpt2_naming lm_head = { .prefix = "transformer.", .head = 1, .buffers = 1 };
    clip_ckpt a, b;
    gpt2_build(&a, &s, &model, 81);
    gpt2_build(&b, &s, &lm_head, 81);
    for (int i = 0; i < b.n; i++)           /* masked_bias, -1e4, stays F32 */
        b.t[i].dtype = b.t[i].ndim ? cycle[i % 3] : LV_DT_F32;
    char a_path[TEST_PATH_BYTES], b_path[TEST_PATH_BYTES];
    tmp_path(a_path, "gpt2.safetensors");
    tmp_path(b_path, "gpt2_lm_head.safetensors");
    ckpt_write_f32(&a, a_path);
    ckpt_write_raw(&b, b_path);
    ck_assert_msg(lv_v2t_init_lm_from_gpt2(&plain, a_path) == 0, "%s", lv_error());
    ck_assert_msg(lv_v2t_init_lm_from_gpt2(&wrapped, b_path) == 0, "%s", lv_error());
    ck_assert_msg(lv_v2t_init_lm_from_gpt2(&full, a_path) == 0, "%s", lv_error());
    const int64_t n = expect_gpt2_loaded(&plain, &a, &model, &s);
    expect_gpt2_loaded(&wrapped, &b, &lm_head, &s);
    const int64_t all = expect_v2t_same(&plain, &wrapped, "", 1);
    expect_gpt2_loaded(&full, &a, &model, &s);
    const int64_t kept = expect_v2t_same(&fresh, &full, "resampler.", 1) +
                         expect_v2t_same(&fresh, &full, "xattn.", 1);
    expect_v2t_same(&fresh, &full, "lm.", 0);
    ck_assert_int_gt(kept, 0);
    for (int k = 0; k < 2; k++) {
        lv_gpt2_dims d;
        ck_assert_msg(lv_gpt2_read_dims(k ? b_path : a_path, &d) == 0, "%s", lv_error());
        ck_assert(d.vocab == s.V && d.positions == s.P && d.width == s.W && d.layers == s.L);
    }
    clip_ckpt clip;
    ckpt_sizes cs = ckpt_sizes_tiny();
    ckpt_build(&clip, &cs, 82);
    char clip_path[TEST_PATH_BYTES];
    tmp_path(clip_path, "clip.safetensors");
    ckpt_write_f32(&clip, clip_path);
    lv_gpt2_dims d;
    ck_assert_int_eq(lv_gpt2_read_dims(clip_path, &d), -1);
    ck_assert_msg(strstr(lv_error(), clip_path) && strstr(lv_error(), "not a GPT-2 checkpoint"),
                  "%s", lv_error());
    printf("GPT-2 names: GPT2Model's (F32) load %lld equal entries (c_attn, c_proj, c_fc, "
           "mlp.c_proj transposed, the first %lld of %lld wpe rows); GPT2LMHeadModel's "
           "(\"transformer.\", tied lm_head.weight, attn.bias / masked_bias buffers; F32/F16/BF16) "
           "give the identical LM (%lld floats); into the full stage the LM loads alike and %lld "
           "resampler and cross-attention floats keep their init; sizes (%lld, %lld, %lld, %lld) "
           "from either header, a CLIP file refused: %s\n", (long long)n,
           (long long)plain.cfg.lm_ctx, (long long)s.P, (long long)all, (long long)kept,
           (long long)s.V, (long long)s.P, (long long)s.W, (long long)s.L, lv_error());
    ckpt_free(&a);
    ckpt_free(&b);
    ckpt_free(&clip);
    lv_v2t_free(&plain), lv_v2t_free(&wrapped), lv_v2t_free(&full), lv_v2t_free(&fresh);
}
END_TEST

/* GPT-2 small at its real shapes (width 768, 12 layers, vocabulary 50257, 1024 positions),
 * stored in BF16 to keep it at 250 MB: its sizes read from the header configure the LM
 * (lm_vocab, lm_ctx, lm_width, lm_layers; lm_heads 12), which then loads every tensor. */
START_TEST(test_gpt2_small)
{
    const gpt2_sizes s = { .V = 50257, .P = 1024, .W = 768, .L = 12 };
    const gpt2_naming plain = { .prefix = "" };
    static clip_ckpt ck;
    const double t0 = seconds_now();
    gpt2_build(&ck, &s, &plain, 83);
    int64_t floats = 0;
    for (int i = 0; i < ck.n; i++) {
        ck.t[i].dtype = LV_DT_BF16;
        floats += ck.t[i].numel;
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "gpt2_small.safetensors");
    ckpt_write_raw(&ck, path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    const double t1 = seconds_now();
    lv_gpt2_dims d;
    ck_assert_msg(lv_gpt2_read_dims(path, &d) == 0, "%s", lv_error());
    ck_assert(d.vocab == s.V && d.positions == s.P && d.width == s.W && d.layers == s.L);
    char sets[5][48];
    snprintf(sets[0], sizeof sets[0], "lm_vocab=%lld", (long long)d.vocab);
    snprintf(sets[1], sizeof sets[1], "lm_ctx=%lld", (long long)d.positions);
    snprintf(sets[2], sizeof sets[2], "lm_width=%lld", (long long)d.width);
    snprintf(sets[3], sizeof sets[3], "lm_layers=%lld", (long long)d.layers);
    snprintf(sets[4], sizeof sets[4], "lm_heads=%lld", (long long)(d.width / 64));
    const char *const overrides[] = { sets[0], sets[1], sets[2], sets[3], sets[4], NULL };
    lv_v2t v;
    v2t_make(&v, "tiny", overrides, 1);
    const double t2 = seconds_now();
    ck_assert_msg(lv_v2t_init_lm_from_gpt2(&v, path) == 0, "%s", lv_error());
    const double t3 = seconds_now();
    const int64_t n = expect_gpt2_loaded(&v, &ck, &plain, &s);
    int64_t lm_floats = 0;
    for (int64_t i = 0; i < v.params.count; i++)
        lm_floats += v.params.p[i].numel;
    ck_assert_int_eq(n, lm_floats);
    printf("GPT-2 small (%d tensors, %.1f M floats, BF16: %.0f MB built and written in %.1f s): "
           "its header gives vocab %lld, positions %lld, width %lld, layers %lld; the LM so "
           "configured (built in %.1f s) loads in %.1f s, all %lld of its floats equal to the "
           "file's (Conv1D weights transposed)\n", ck.n, (double)floats * 1e-6,
           (double)st.st_size * 1e-6, t1 - t0, (long long)d.vocab, (long long)d.positions,
           (long long)d.width, (long long)d.layers, t2 - t1, t3 - t2, (long long)n);
    unlink(path);
    ckpt_free(&ck);
    lv_v2t_free(&v);
}
END_TEST

/* Each refusal: the stage as configured, the file as written, what the message must say; the
 * parameters stay as they were. */
static const struct {
    const char *what;
    const char *overrides[3];
    int64_t layers, vocab;                     /* 0: the tiny sizes */
    const char *prefix;
    const char *drop[2];                       /* left out of the file (names without prefix) */
    const char *swapped[2];                    /* stored (out, in), ours' layout, not Conv1D's */
    const char *as_i32;                        /* stored as I32 */
    int untied;                                /* lm_head.weight one entry off wte */
    int absent;                                /* no file at all */
    const char *needles[5];
} gpt2_errors[] = {
    { "3 layers against 2", { "lm_vocab=64", NULL }, .layers = 3, .prefix = "transformer.",
      .needles = { "transformer.h.* has 3 layers, the model 2 (config lm_layers)",
                   "(read with Hugging Face GPT2Model names under \"transformer.\"), 1 problem:",
                   "Use a GPT-2 safetensors file", "lm_vocab, lm_width, lm_layers", NULL } },
    { "missing tensors, another vocabulary", { "lm_vocab=64", NULL }, .vocab = 100,
      .prefix = "", .drop = { "h.1.attn.c_attn.bias", "ln_f.weight" },
      .needles = { "3 problems", "missing h.1.attn.c_attn.bias, expected (96)",
                   "missing ln_f.weight, expected (32)",
                   "wte.weight: expected (64, 32), found (100, 32)", NULL } },
    { "weights in our layout, an I32 bias", { "lm_vocab=64", NULL }, .prefix = "",
      .swapped = { "h.0.attn.c_attn.weight", "h.1.mlp.c_fc.weight" }, .as_i32 = "ln_f.bias",
      .needles = { "3 problems", "h.0.attn.c_attn.weight: expected (32, 96), found (96, 32)",
                   "h.1.mlp.c_fc.weight: expected (32, 128), found (128, 32)",
                   "ln_f.bias is I32, expected F32, F16 or BF16", NULL } },
    { "lm_ctx 64 > 40 positions", { "lm_vocab=64", "lm_ctx=64", NULL }, .prefix = "",
      .needles = { "1 problem:", "wpe.weight: expected (>= 64, 32) for lm_ctx 64, found "
                   "(40, 32)", NULL } },
    { "an untied lm_head", { "lm_vocab=64", NULL }, .prefix = "transformer.", .untied = 1,
      .needles = { "1 problem:", "lm_head.weight differs from transformer.wte.weight in 1 of "
                   "2048 entries (first [3, 5]", "an untied head cannot be loaded", NULL } },
    { "no file", { "lm_vocab=64", NULL }, .absent = 1, .needles = { NULL } },
};

START_TEST(test_gpt2_errors)
{
    lv_v2t v;
    v2t_make(&v, "tiny", gpt2_errors[_i].overrides, 1);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "bad.safetensors");
    gpt2_sizes s = gpt2_sizes_tiny();
    s.L = gpt2_errors[_i].layers ? gpt2_errors[_i].layers : s.L;
    s.V = gpt2_errors[_i].vocab ? gpt2_errors[_i].vocab : s.V;
    const gpt2_naming nm = { .prefix = gpt2_errors[_i].prefix ? gpt2_errors[_i].prefix : "",
                             .head = gpt2_errors[_i].untied };
    clip_ckpt c;
    gpt2_build(&c, &s, &nm, 90 + (uint32_t)_i);
    for (int k = 0; k < 2 && gpt2_errors[_i].drop[k]; k++)
        gpt2_find(&c, &nm, gpt2_errors[_i].drop[k])->dropped = 1;
    for (int k = 0; k < 2 && gpt2_errors[_i].swapped[k]; k++) {
        src_tensor *t = gpt2_find(&c, &nm, gpt2_errors[_i].swapped[k]);
        const int64_t d0 = t->shape[0];
        t->shape[0] = t->shape[1];
        t->shape[1] = d0;
    }
    if (gpt2_errors[_i].as_i32)
        gpt2_find(&c, &nm, gpt2_errors[_i].as_i32)->dtype = LV_DT_I32;
    if (gpt2_errors[_i].untied)
        ckpt_find(&c, "lm_head.weight")->data[3 * s.W + 5] += 0.5f;
    if (!gpt2_errors[_i].absent)
        ckpt_write_raw(&c, path);
    const char *needles[7] = { path };
    for (int k = 0; gpt2_errors[_i].needles[k]; k++)
        needles[k + 1] = gpt2_errors[_i].needles[k];
    printf("GPT-2 refusal, %s:\n", gpt2_errors[_i].what);
    const size_t bytes = (size_t)v.params.n_floats * sizeof(float);
    float *before = malloc(bytes);
    ck_assert_ptr_nonnull(before);
    memcpy(before, v.params.data, bytes);
    ck_assert_int_eq(lv_v2t_init_lm_from_gpt2(&v, path), -1);
    printf("    error: %s\n", lv_error());
    for (int i = 0; needles[i]; i++)
        ck_assert_msg(strstr(lv_error(), needles[i]), "message lacks \"%s\": %s", needles[i],
                      lv_error());
    ck_assert_msg(!memcmp(before, v.params.data, bytes), "the parameters changed on failure");
    printf("  named as expected; parameters unchanged\n");
    free(before);
    ckpt_free(&c);
    lv_v2t_free(&v);
}
END_TEST

Suite *clip_init_suite(void)
{
    const test_row rows[] = {
        { "load", test_load_f32, 1 },
        { "load", test_load_half, 1 },
        { "load", test_inflate_central, 1 },
        { "load", test_factorized_copies, 1 },
        { "load", test_load_other_grid, 1 },
        { "load", test_openai_names, 1 },
        { "load", test_class_token, 1 },
        { "load", test_vit_b16_vision, 1 },
        { "bert", test_bert_names, 1 },
        { "bert", test_bert_base, 1 },
        { "bert", test_bert_errors, (int)(sizeof bert_errors / sizeof bert_errors[0]) },
        { "gpt2", test_gpt2_names, 1 },
        { "gpt2", test_gpt2_small, 1 },
        { "gpt2", test_gpt2_errors, (int)(sizeof gpt2_errors / sizeof gpt2_errors[0]) },
        { "resize", test_pos_grid_resize, 1 },
        { "resize", test_temporal_resize, 1 },
        { "errors", test_missing_tensors, 1 },
        { "errors", test_wrong_shapes, 1 },
        { "errors", test_layer_counts, 1 },
        { "errors", test_missing_file, 1 },
        { "variants", test_keeps_init, (int)(sizeof keep_cases / sizeof keep_cases[0]) },
        { "variants", test_inflation_tokens, 2 },
    };
    return suite_from_rows("clip_init", rows, sizeof rows / sizeof rows[0], 120, 1);
}
