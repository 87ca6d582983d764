/* gpt2_check: one batch of token ids through the video-to-text stage's decoder LM started from a
 * GPT-2 file, its logits written to a safetensors file for tests/torch/gpt2.py, which compares
 * them with a float64 PyTorch GPT-2. It checks nothing itself: the verdict is the script's; this
 * program's exit status says only whether the files could be read, the LM built and loaded, and
 * the output written.
 *
 *   gpt2_check --gpt2 FILE --in INPUT --out OUT [--preset tiny] [--set key=value]...
 *              [--backend ref]
 *   gpt2_check --backends          the backends of this build, one name a line
 *
 * The LM's sizes come from the file (lv_gpt2_read_dims: lm_vocab, lm_width, lm_layers), then
 * the --set overrides (lm_ctx, lm_heads, lm_act, ...). INPUT holds ids (B, T) I32 and valid
 * (B, T) U8 (1 = token, 0 = padding); OUT holds logits (B, T, V) F32. */
#include "blas_glue.h"
#include "clip_init.h"
#include "error.h"
#include "safetensors.h"
#include "v2t.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 64

typedef struct {
    const char *preset, *gpt2, *in, *out, *backend;
    const char *sets[MAX_SETS];
    int n_sets;
} options;

/* The batch as read from INPUT, in host memory. */
typedef struct {
    int64_t B, T;
    int32_t *ids;           /* (B, T) */
    int32_t *targets;       /* (B, T) all -1: no loss is taken */
    uint8_t *valid;         /* (B, T) */
} input_batch;

static void print_fatal(const char *message)       /* LV_REQUIRE's message, then abort */
{
    fprintf(stderr, "%s\n", message);
}

static int usage(FILE *to)
{
    fprintf(to, "usage: gpt2_check --gpt2 GPT2.safetensors --in INPUT.safetensors "
                "--out OUT.safetensors [--preset tiny] [--set key=value]... [--backend NAME]\n"
                "       gpt2_check --backends\n");
    return 2;
}

/* The value-taking options, and where each value goes. */
static const char **option_slot(options *o, const char *name)
{
    static const struct {
        const char *name;
        size_t offset;
    } table[] = {
        { "--preset", offsetof(options, preset) }, { "--gpt2", offsetof(options, gpt2) },
        { "--in", offsetof(options, in) },         { "--out", offsetof(options, out) },
        { "--backend", offsetof(options, backend) },
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
            fprintf(stderr, "gpt2_check: unknown option %s\n", a);
            return usage(stderr);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gpt2_check: %s needs a value\n", a);
            return usage(stderr);
        }
        if (slot) {
            *slot = argv[++i];
        } else if (o->n_sets < MAX_SETS) {
            o->sets[o->n_sets++] = argv[++i];
        } else {
            fprintf(stderr, "gpt2_check: more than %d --set\n", MAX_SETS);
            return 2;
        }
    }
    if (!o->gpt2 || !o->in || !o->out) {
        fprintf(stderr, "gpt2_check: --gpt2 FILE, --in INPUT and --out OUT are required\n");
        return usage(stderr);
    }
    return 0;
}

/* The preset, the LM's sizes from the GPT-2 file, then the overrides. */
static int make_config(lv_config *c, const options *o)
{
    lv_gpt2_dims d;
    if (lv_config_preset(c, o->preset) < 0 || lv_gpt2_read_dims(o->gpt2, &d) < 0)
        return -1;
    c->lm_vocab = d.vocab;
    c->lm_width = d.width;
    c->lm_layers = d.layers;
    for (int i = 0; i < o->n_sets; i++)
        if (lv_config_set(c, o->sets[i]) < 0)
            return -1;
    return lv_config_validate(c);
}

/* The (B, T) integer tensor `name` of the file into wide; -1 + lv_error() when it has no such
 * tensor of that shape. */
static int read_bt(lv_st_file *f, const char *path, const char *name, int64_t *wide, int64_t B,
                   int64_t T)
{
    const lv_st_tensor *t = lv_st_find(f, name);
    if (!t || t->ndim != 2 || t->shape[0] != B || t->shape[1] != T)
        return lv_set_error("%s: needs '%s' of shape (%lld, %lld), as ids", path, name,
                            (long long)B, (long long)T);
    return lv_st_read_i64(f, t, wide, B * T);
}

/* Reads ids (their shape gives B and T) and valid; every id must be below the vocabulary V. */
static int read_input(input_batch *in, const char *path, int64_t V)
{
    int rc = -1;
    int64_t *wide = NULL;
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const lv_st_tensor *t = lv_st_find(f, "ids");
    if (!t || t->ndim != 2) {
        lv_set_error("%s: needs 'ids' of shape (B, T)", path);
        goto end;
    }
    in->B = t->shape[0];
    in->T = t->shape[1];
    const int64_t n = in->B * in->T;
    wide = lv_malloc((size_t)n * sizeof *wide, "the input ids");
    in->ids = lv_malloc((size_t)n * sizeof *in->ids, "the input ids");
    in->targets = lv_malloc((size_t)n * sizeof *in->targets, "the targets");
    in->valid = lv_malloc((size_t)n, "the input mask");
    if (!wide || !in->ids || !in->targets || !in->valid ||
        read_bt(f, path, "ids", wide, in->B, in->T) < 0)
        goto end;
    for (int64_t i = 0; i < n; i++) {
        if (wide[i] < 0 || wide[i] >= V) {
            lv_set_error("%s: id %lld at %lld is outside the vocabulary [0, %lld)", path,
                         (long long)wide[i], (long long)i, (long long)V);
            goto end;
        }
        in->ids[i] = (int32_t)wide[i];
        in->targets[i] = -1;
    }
    if (read_bt(f, path, "valid", wide, in->B, in->T) < 0)
        goto end;
    for (int64_t i = 0; i < n; i++)
        in->valid[i] = wide[i] != 0;
    rc = 0;
end:
    free(wide);
    lv_st_close(f);
    return rc;
}

static int write_logits(const lv_v2t *v, const input_batch *in, const char *path)
{
    const int64_t n = in->B * in->T * v->V;
    float *logits = lv_malloc((size_t)n * sizeof *logits, "the logits");
    lv_st_writer *w = logits ? lv_st_writer_new() : NULL;
    char config[8192];
    int rc = -1;
    if (w) {
        v->be->download(logits, v->logits, (size_t)n * sizeof *logits);
        lv_config_format(&v->cfg, config, sizeof config);
        lv_st_writer_add_f32(w, "logits", logits, 3, (const int64_t[]){ in->B, in->T, v->V });
        lv_st_writer_meta(w, "backend", v->be->name);
        lv_st_writer_meta(w, "config", config);
        rc = lv_st_writer_write(w, path);                 /* refuses if an add failed */
    }
    lv_st_writer_free(w);
    free(logits);
    return rc;
}

/* Builds the LM alone, loads the GPT-2 file, runs the batch, writes OUT. */
static int run(const options *o)
{
    lv_config c;
    lv_v2t v = { 0 };
    input_batch in = { 0 };
    int rc = -1;
    const lv_backend *be = lv_backend_find(o->backend);
    if (!be || make_config(&c, o) < 0 || read_input(&in, o->in, lv_config_lm_vocab(&c)) < 0)
        goto end;
    if (lv_v2t_build(&v, &c, be, 1) < 0 || lv_v2t_init_lm_from_gpt2(&v, o->gpt2) < 0 ||
        lv_v2t_alloc_acts(&v, in.B, in.T) < 0)
        goto end;
    const lv_v2t_batch batch = { .B = in.B, .T = in.T, .ids = in.ids, .targets = in.targets,
                                 .valid = in.valid };
    lv_v2t_text_logits(&v, &batch);
    if (write_logits(&v, &in, o->out) < 0)
        goto end;
    printf("gpt2_check: %s: B %lld, T %lld, LM %lld x %lld layers, vocab %lld, from %s -> %s\n",
           be->name, (long long)in.B, (long long)in.T, (long long)c.lm_width,
           (long long)c.lm_layers, (long long)v.V, o->gpt2, o->out);
    rc = 0;
end:
    if (rc < 0)
        fprintf(stderr, "gpt2_check: %s\n", lv_error());
    if (v.be)
        lv_v2t_free(&v);
    free(in.ids);
    free(in.targets);
    free(in.valid);
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
