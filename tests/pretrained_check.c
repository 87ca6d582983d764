/* pretrained_check: one batch through a model started from pretrained files (a CLIP vision tower,
 * a BERT text tower), its embeddings, pooled vectors and projections written to a safetensors
 * file for tests/torch/pretrained.py, which compares them with PyTorch's CLIP and BERT. It
 * checks nothing itself: the verdict is the script's, this program's exit status says only
 * whether the files could be read, the model built and the output written.
 *
 *   pretrained_check --in INPUT --out OUT [--preset tiny] [--set key=value]... [--clip FILE]
 *                    [--bert FILE] [--backend ref]
 *   pretrained_check --backends          the backends of this build, one name a line
 *
 * INPUT holds video (B, F, S, S, 3) F32 normalised pixels, text (B, T) I32 ids and text_valid
 * (B, T) U8. OUT holds video.emb_n, text.emb_n (B, E), video.pooled (B, D), text.pooled
 * (B, D_text), video.proj.weight (E, D), text.proj.weight (E, D_text), all F32. */
#include "blas_glue.h"
#include "clip_init.h"
#include "error.h"
#include "model.h"
#include "safetensors.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 64

typedef struct {
    const char *preset, *clip, *bert, *in, *out, *backend;
    const char *sets[MAX_SETS];
    int n_sets;
} options;

/* The batch as read from INPUT, in host memory. */
typedef struct {
    int64_t B;
    float *video;           /* (B, F, S, S, 3) */
    int32_t *text;          /* (B, T) */
    uint8_t *text_valid;    /* (B, T) */
} input_batch;

/* What OUT receives, downloaded from backend memory. */
typedef struct {
    float *video_emb, *text_emb;        /* (B, E) (B, E) */
    float *video_pooled, *text_pooled;  /* (B, D) (B, D_text) */
    float *video_proj, *text_proj;      /* (E, D) (E, D_text) */
} outputs;

static void print_fatal(const char *message)       /* LV_REQUIRE's message, then abort */
{
    fprintf(stderr, "%s\n", message);
}

static int usage(FILE *to)
{
    fprintf(to, "usage: pretrained_check --in INPUT.safetensors --out OUT.safetensors "
                "[--preset tiny] [--set key=value]... [--clip CLIP.safetensors] "
                "[--bert BERT.safetensors] [--backend NAME]\n"
                "       pretrained_check --backends\n");
    return 2;
}

/* The value-taking options, and where each value goes. */
static const char **option_slot(options *o, const char *name)
{
    static const struct {
        const char *name;
        size_t offset;
    } table[] = {
        { "--preset", offsetof(options, preset) }, { "--clip", offsetof(options, clip) },
        { "--bert", offsetof(options, bert) },     { "--in", offsetof(options, in) },
        { "--out", offsetof(options, out) },       { "--backend", offsetof(options, backend) },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(name, table[i].name))
            return (const char **)((char *)o + table[i].offset);
    return NULL;
}

/* 0, 1 when the run is done (--help, --backends), or 2 on a usage error. */
static int parse_options(options *o, int argc, char **argv)
{
    *o = (options){ .preset = "tiny", .backend = "ref" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--backends")) {
            for (int k = 0; k < lv_backend_count(); k++)
                printf("%s\n", lv_backend_at(k)->name);
            return 1;
        }
        const char **slot = option_slot(o, a);
        if (!slot && strcmp(a, "--set")) {
            fprintf(stderr, "pretrained_check: unknown option %s\n", a);
            return usage(stderr);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "pretrained_check: %s needs a value\n", a);
            return usage(stderr);
        }
        if (slot) {
            *slot = argv[++i];
        } else if (o->n_sets < MAX_SETS) {
            o->sets[o->n_sets++] = argv[++i];
        } else {
            fprintf(stderr, "pretrained_check: more than %d --set\n", MAX_SETS);
            return 2;
        }
    }
    if (!o->in || !o->out) {
        fprintf(stderr, "pretrained_check: --in INPUT and --out OUT are required\n");
        return usage(stderr);
    }
    return 0;
}

static int make_config(lv_config *c, const options *o)
{
    if (lv_config_preset(c, o->preset) < 0)
        return -1;
    for (int i = 0; i < o->n_sets; i++)
        if (lv_config_set(c, o->sets[i]) < 0)
            return -1;
    return lv_config_validate(c);
}

/* The tensor called name, with ndim dims, dims[d] >= 0 required equal (-1: any); -1 +
 * lv_error() naming the file, the tensor and both shapes. */
static const lv_st_tensor *find_shaped(const lv_st_file *f, const char *path, const char *name,
                                       int ndim, const int64_t *dims)
{
    const lv_st_tensor *t = lv_st_find(f, name);
    if (!t) {
        lv_set_error("%s: no tensor '%s' (the input needs video, text and text_valid)", path,
                     name);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = dims[d] < 0 || t->shape[d] == dims[d];
    if (!ok) {
        char want[96], found[96];
        lv_st_shape_text(want, sizeof want, ndim, dims, "()");
        lv_st_shape_text(found, sizeof found, t->ndim, t->shape, "()");
        lv_set_error("%s: tensor '%s' has shape %s, the config wants %s (-1: any)", path, name,
                     found, want);
        return NULL;
    }
    return t;
}

/* Reads the batch; B is the video's first dimension, every other size the config's. */
static int read_input(input_batch *in, const char *path, const lv_config *c)
{
    int rc = -1;
    int64_t *wide = NULL;                                        /* (B T) ids, then flags */
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const int64_t S = c->image_size, T = c->text_len;
    const int64_t vdims[5] = { -1, c->frames, S, S, 3 };
    const lv_st_tensor *tv = find_shaped(f, path, "video", 5, vdims);
    if (!tv)
        goto end;
    in->B = tv->shape[0];
    const int64_t tdims[2] = { in->B, T };
    const lv_st_tensor *tt = find_shaped(f, path, "text", 2, tdims);
    const lv_st_tensor *tm = tt ? find_shaped(f, path, "text_valid", 2, tdims) : NULL;
    if (!tm)
        goto end;
    const int64_t n = in->B * T;
    in->video = lv_malloc((size_t)tv->numel * sizeof *in->video, "the input video");
    in->text = lv_malloc((size_t)n * sizeof *in->text, "the input text");
    in->text_valid = lv_malloc((size_t)n, "the input text mask");
    wide = lv_malloc((size_t)n * sizeof *wide, "the input text");
    if (!in->video || !in->text || !in->text_valid || !wide ||
        lv_st_read_f32(f, tv, in->video, tv->numel) < 0 || lv_st_read_i64(f, tt, wide, n) < 0)
        goto end;
    for (int64_t i = 0; i < n; i++) {
        if (wide[i] < 0 || wide[i] >= c->vocab) {
            lv_set_error("%s: text id %lld at position %lld is outside the vocabulary [0, %lld)",
                         path, (long long)wide[i], (long long)i, (long long)c->vocab);
            goto end;
        }
        in->text[i] = (int32_t)wide[i];
    }
    if (lv_st_read_i64(f, tm, wide, n) < 0)
        goto end;
    for (int64_t i = 0; i < n; i++)
        in->text_valid[i] = wide[i] != 0;
    rc = 0;
end:
    free(wide);
    lv_st_close(f);
    return rc;
}

/* n floats of backend memory into a new host array; NULL + lv_error(). */
static float *download_new(const lv_backend *be, const float *src, int64_t n, const char *what)
{
    float *dst = lv_malloc((size_t)n * sizeof *dst, what);
    if (dst)
        be->download(dst, src, (size_t)n * sizeof *dst);
    return dst;
}

static int download_outputs(outputs *out, const lv_model *m, int64_t B)
{
    const lv_config *c = &m->cfg;
    const int64_t E = c->embed_dim, D = c->width, Dt = c->text_width;
    const lv_backend *be = m->be;
    out->video_emb = download_new(be, m->video.emb_n, B * E, "video.emb_n");
    out->text_emb = download_new(be, m->text.emb_n, B * E, "text.emb_n");
    out->video_pooled = download_new(be, m->video.pooled, B * D, "video.pooled");
    out->text_pooled = download_new(be, m->text.pooled, B * Dt, "text.pooled");
    out->video_proj = download_new(be, lv_param_data(&m->params, m->video.proj_w), E * D,
                                   "video.proj.weight");
    out->text_proj = download_new(be, lv_param_data(&m->params, m->text.proj_w), E * Dt,
                                  "text.proj.weight");
    return out->video_emb && out->text_emb && out->video_pooled && out->text_pooled &&
           out->video_proj && out->text_proj ? 0 : -1;
}

static int write_outputs(const outputs *out, const lv_model *m, int64_t B, const char *path)
{
    const lv_config *c = &m->cfg;
    const int64_t E = c->embed_dim, D = c->width, Dt = c->text_width;
    char config[8192];
    lv_config_format(c, config, sizeof config);
    lv_st_writer *w = lv_st_writer_new();
    if (!w)
        return -1;
    lv_st_writer_add_f32(w, "video.emb_n", out->video_emb, 2, (const int64_t[]){ B, E });
    lv_st_writer_add_f32(w, "text.emb_n", out->text_emb, 2, (const int64_t[]){ B, E });
    lv_st_writer_add_f32(w, "video.pooled", out->video_pooled, 2, (const int64_t[]){ B, D });
    lv_st_writer_add_f32(w, "text.pooled", out->text_pooled, 2, (const int64_t[]){ B, Dt });
    lv_st_writer_add_f32(w, "video.proj.weight", out->video_proj, 2, (const int64_t[]){ E, D });
    lv_st_writer_add_f32(w, "text.proj.weight", out->text_proj, 2, (const int64_t[]){ E, Dt });
    lv_st_writer_meta(w, "backend", m->be->name);
    lv_st_writer_meta(w, "config", config);
    const int rc = lv_st_writer_write(w, path);           /* refuses if an add failed */
    lv_st_writer_free(w);
    return rc;
}

static void outputs_free(outputs *out)
{
    free(out->video_emb);
    free(out->text_emb);
    free(out->video_pooled);
    free(out->text_pooled);
    free(out->video_proj);
    free(out->text_proj);
}

/* Builds the model, loads the pretrained towers asked for, encodes the batch, writes OUT. */
static int run(const options *o)
{
    lv_config c;
    lv_model m = { 0 };
    input_batch in = { 0 };
    outputs out = { 0 };
    int rc = -1;
    const lv_backend *be = lv_backend_find(o->backend);
    if (!be || make_config(&c, o) < 0 || read_input(&in, o->in, &c) < 0)
        goto end;
    if (lv_model_build(&m, &c, be) < 0)
        goto end;
    if (o->clip && lv_model_init_from_clip_parts(&m, o->clip, LV_CLIP_VISION) < 0)
        goto end;
    if (o->bert && lv_model_init_from_bert(&m, o->bert) < 0)
        goto end;
    if (lv_model_alloc_acts(&m, in.B, 0) < 0)
        goto end;
    const lv_batch batch = { .B = in.B, .video = in.video, .text = in.text,
                             .text_valid = in.text_valid };
    if (lv_model_encode(&m, &batch) < 0 || download_outputs(&out, &m, in.B) < 0 ||
        write_outputs(&out, &m, in.B, o->out) < 0)
        goto end;
    printf("pretrained_check: %s: B %lld, %s%s%s%s -> %s\n", be->name, (long long)in.B,
           o->clip ? "vision from " : "vision at init", o->clip ? o->clip : "",
           o->bert ? ", text from " : ", text at init", o->bert ? o->bert : "", o->out);
    rc = 0;
end:
    if (rc < 0)
        fprintf(stderr, "pretrained_check: %s\n", lv_error());
    outputs_free(&out);
    lv_model_free(&m);                    /* a zeroed or partly built model is fine */
    free(in.video);
    free(in.text);
    free(in.text_valid);
    return rc;
}

int main(int argc, char **argv)
{
    lv_set_fatal_hook(print_fatal);
    options o;
    const int parsed = parse_options(&o, argc, argv);
    if (parsed)
        return parsed == 1 ? 0 : 2;
    return run(&o) == 0 ? 0 : 1;
}
