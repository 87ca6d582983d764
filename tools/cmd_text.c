/* `longvivit train --stage lm|text`, `caption` and `eval --v2t`: the paper's video-to-text stage
 * (ref/v2t.h, docs/video-to-text.md) from the command line. The decoder LM pretrains on the
 * manifest's captions and summaries (or a GPT-2 checkpoint stands in for it, with GPT-2's
 * byte-level BPE); the resampler and the gated cross-attention then learn between the frozen
 * contrastive encoder and that frozen LM; the result writes text about videos
 * and is scored (ROUGE-L, CIDEr-D, BLEU-4; questions by log-likelihood). Each stage writes one
 * self-contained file atomically (lv_st_writer_write) at its end; there is no resume and no
 * micro-batching here: one batch per step. */
#include "bpe.h"
#include "clip_init.h"
#include "commands.h"
#include "error.h"
#include "evaluate.h"
#include "loader.h"
#include "manifest.h"
#include "model_io.h"
#include "options.h"
#include "plot.h"
#include "preprocess.h"
#include "rng.h"
#include "safetensors.h"
#include "text_metrics.h"
#include "train.h"
#include "v2t.h"
#include "wordpiece.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LM_FORMAT "longvivit-lm-1"     /* train --stage lm: the LM's tensors */
#define V2T_FORMAT "longvivit-v2t-1"   /* train --stage text: every tensor the stage computes */
#define TOKENIZER_WORDPIECE "wordpiece" /* v2t "tokenizer": the LM reads the stored "vocab" */
#define TOKENIZER_BPE "gpt2-bpe"        /* a GPT-2 LM: bpe_vocab_json and bpe_merges_txt */
#define QA_OPTIONS 5
enum { MAX_SETS = 64 };

/* Set by usage_error(): the failure is the command line's (exit 2), not the run's (exit 1). */
static int usage_failed;

static int usage_error(const char *fmt, ...) LV_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    usage_failed = 1;
    return lv_set_error("%s", msg);
}

static int exit_code(int rc)
{
    return rc == 0 ? LV_EXIT_OK : usage_failed ? LV_EXIT_USAGE : LV_EXIT_RUNTIME;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* A string as a JSON string literal. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* ==== options ================================================================================ */

typedef struct {
    const char *stage, *data, *vocab, *preset, *out, *backend, *encoder, *lm, *target, *prompt;
    const char *bpe;             /* a GPT-2 --lm's tokenizer folder (default: the file's) */
    const char *steps, *batch, *lr, *warmup, *wd, *clip, *text_len, *loader_threads;
    const char *sets[MAX_SETS];  /* "key=value": --set, --seed and --frames, in order */
    int n_sets, json, dry_run;
} stage_args;

/* The options' values once read strictly (tools/options.h). */
typedef struct {
    int64_t steps, batch, warmup, text_len;    /* text_len 0: the default, min(lm_ctx, 64) */
    int64_t loader_threads;                     /* 0: the loader's default */
    double lr, wd, clip;
} stage_numbers;

static const struct {
    const char *flag;
    size_t at;
} stage_flags[] = {
    { "--stage", offsetof(stage_args, stage) }, { "--data", offsetof(stage_args, data) },
    { "--vocab", offsetof(stage_args, vocab) }, { "--preset", offsetof(stage_args, preset) },
    { "--out", offsetof(stage_args, out) }, { "--backend", offsetof(stage_args, backend) },
    { "--encoder", offsetof(stage_args, encoder) }, { "--lm", offsetof(stage_args, lm) },
    { "--target", offsetof(stage_args, target) }, { "--prompt", offsetof(stage_args, prompt) },
    { "--steps", offsetof(stage_args, steps) }, { "--batch", offsetof(stage_args, batch) },
    { "--lr", offsetof(stage_args, lr) }, { "--warmup", offsetof(stage_args, warmup) },
    { "--wd", offsetof(stage_args, wd) }, { "--clip", offsetof(stage_args, clip) },
    { "--text-len", offsetof(stage_args, text_len) }, { "--bpe", offsetof(stage_args, bpe) },
    { "--loader-threads", offsetof(stage_args, loader_threads) },
};

static int stage_usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit train --stage lm --data MANIFEST [--vocab FILE] [--preset P]\n"
            "           [--set key=value ...] [--text-len T] [--steps N] [--batch B] [--lr X]\n"
            "           [--warmup W] [--wd X] [--clip X] [--seed K] [--out DIR]\n"
            "           [--backend NAME] [--json] [--dry-run]\n"
            "       longvivit train --stage text --data MANIFEST --encoder CKPT --lm LM\n"
            "           [--bpe DIR] [--target summary|caption] [--prompt TEXT]\n"
            "           [--set key=value ...] [--loader-threads N]\n"
            "           (and the options above but --preset and --vocab)\n"
            "The video-to-text stage (docs/video-to-text.md).\n"
            "--stage lm pretrains the decoder LM (lm_* keys of the configuration) on the\n"
            "manifest's captions and summaries, WordPiece-tokenised with --vocab (default:\n"
            "vocab.txt beside the data): [CLS] text [SEP], each token predicting the next.\n"
            "Writes DIR/lm.safetensors (default DIR: run), DIR/log.jsonl and DIR/loss.png.\n"
            "--stage text builds the stage on the contrastive checkpoint CKPT (its configuration\n"
            "and vocabulary; the LM's lm_* keys come from LM, which must share that vocabulary)\n"
            "and trains only the resampler and the cross-attention (rs_*, xattn_* keys), the\n"
            "encoder and the LM frozen, on [CLS] PROMPT target [SEP] with the loss on the\n"
            "target: the manifest's \"summary\" (default when every clip has one) or its\n"
            "\"caption\". Writes DIR/v2t.safetensors: every tensor the stage computes with\n"
            "(the encoder's video tower, the LM, the trained layers), so caption and eval --v2t\n"
            "need nothing else; it names the encoder and LM files it started from.\n"
            "LM may also be a GPT-2 checkpoint (Hugging Face GPT2Model or GPT2LMHeadModel\n"
            "safetensors): its sizes come from the file (lm_heads = width / 64 unless --set,\n"
            "lm_ctx its positions unless --set lower, lm_act=gelu_tanh) and the text is GPT-2's\n"
            "byte-level BPE, vocab.json and merges.txt from --bpe DIR (default: the folder\n"
            "of LM), each text between <|endoftext|> tokens; v2t.safetensors embeds both files.\n"
            "--set may change rs_*, xattn_*, v2t_mask_ratio and seed there; an lm_* value\n"
            "must be the LM file's (of a GPT-2 file's, lm_heads and a lower lm_ctx may be set).\n"
            "--text-len: text rows per sample (default min(lm_ctx, 64)); a longer text is cut\n"
            "and then has no end token. Defaults: --steps 100 --batch 8\n"
            "--lr 1e-3 (lm) / 1e-4 (text) --wd 0.05 --clip 1 --warmup steps/10 (at most 100).\n"
            "--dry-run prints the configuration, the trainable and frozen parameter counts and\n"
            "the memory of one step (without --encoder: of --preset's model).\n");
    fprintf(out, "Backends in this build: %s (default cpu).\n%s", lv_backend_names(),
            lv_opt_precision_help());
    return out == stderr ? LV_EXIT_USAGE : LV_EXIT_OK;
}

static int stage_add_set(stage_args *a, const char *kv)
{
    if (a->n_sets == MAX_SETS)
        return usage_error("more than %d --set options", MAX_SETS);
    a->sets[a->n_sets++] = kv;
    return 0;
}

/* The command line into *a (values borrowed from argv; --seed and --frames become sets). */
static int stage_parse(stage_args *a, int argc, char **argv)
{
    static char shorthand[MAX_SETS][64];
    int n_short = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--json") || !strcmp(f, "--dry-run")) {
            *(f[2] == 'j' ? &a->json : &a->dry_run) = 1;
            continue;
        }
        if (!v || strncmp(f, "--", 2))
            return usage_error("'%s' %s", f, v || strncmp(f, "--", 2) ? "is not an option"
                                                                      : "needs a value");
        i++;
        if (!strcmp(f, "--set")) {
            if (!strchr(v, '=') || stage_add_set(a, v) < 0)
                return usage_error("--set %s: expected key=value", v);
            continue;
        }
        if (!strcmp(f, "--seed") || !strcmp(f, "--frames")) {
            char *kv = shorthand[n_short++ % MAX_SETS];
            snprintf(kv, 64, "%s=%s", f + 2, v);
            if (stage_add_set(a, kv) < 0)
                return -1;
            continue;
        }
        size_t k = 0;
        while (k < sizeof stage_flags / sizeof stage_flags[0] && strcmp(f, stage_flags[k].flag))
            k++;
        if (k == sizeof stage_flags / sizeof stage_flags[0])
            return usage_error("unknown option '%s'", f);
        *(const char **)((char *)a + stage_flags[k].at) = v;
    }
    return 0;
}

static int stage_numbers_read(stage_numbers *n, const stage_args *a, int text_stage)
{
    long long x;
#define INT_OPT(flag, text, fallback, lo, hi, dst)                                             \
    do {                                                                                       \
        if (lv_opt_int(flag, (text) ? (text) : (fallback), lo, hi, &x) < 0)                    \
            return usage_error("%s", lv_error());                                              \
        dst = x;                                                                               \
    } while (0)
#define REAL_OPT(flag, text, fallback, lo, lo_open, dst)                                       \
    do {                                                                                       \
        if (lv_opt_real(flag, (text) ? (text) : (fallback), lo, lo_open, INFINITY, &dst) < 0)  \
            return usage_error("%s", lv_error());                                              \
    } while (0)
    INT_OPT("--steps", a->steps, "100", 1, 1000000000000LL, n->steps);
    INT_OPT("--batch", a->batch, "8", 1, 1 << 20, n->batch);
    INT_OPT("--text-len", a->text_len, "0", a->text_len ? 2 : 0, 1 << 20, n->text_len);
    INT_OPT("--loader-threads", a->loader_threads, "0", a->loader_threads ? 1 : 0,
            LV_LOADER_MAX_THREADS, n->loader_threads);
    REAL_OPT("--lr", a->lr, text_stage ? "1e-4" : "1e-3", 0.0, 1, n->lr);
    REAL_OPT("--wd", a->wd, "0.05", 0.0, 0, n->wd);
    REAL_OPT("--clip", a->clip, "1.0", 0.0, 0, n->clip);
    char warm[32];
    snprintf(warm, sizeof warm, "%lld", (long long)min64(n->steps / 10, 100));
    INT_OPT("--warmup", a->warmup, warm, 0, LLONG_MAX, n->warmup);
    if (n->warmup > n->steps)
        return usage_error("--warmup %lld is longer than the run (--steps %lld); give a warmup "
                           "from 0 to %lld steps", (long long)n->warmup, (long long)n->steps,
                           (long long)n->steps);
#undef INT_OPT
#undef REAL_OPT
    return 0;
}

/* ==== the stage's files ======================================================================= */

typedef enum { FILE_OTHER, FILE_CONTRASTIVE, FILE_LM, FILE_V2T } file_kind;

static const char *const kind_words[] = {
    [FILE_OTHER] = "a safetensors file without longvivit's model metadata",
    [FILE_CONTRASTIVE] = "a contrastive model (the ckpt.safetensors of longvivit train)",
    [FILE_LM] = "a language model (the lm.safetensors of train --stage lm)",
    [FILE_V2T] = "a video-to-text model (the v2t.safetensors of train --stage text)",
};

/* f's kind by its metadata "format". */
static file_kind kind_of(lv_st_file *f)
{
    const char *format = lv_st_meta(f, "format");
    if (!format)
        return FILE_OTHER;
    if (!strcmp(format, LV_PARAMS_FORMAT) || !strcmp(format, LV_CKPT_FORMAT))
        return FILE_CONTRASTIVE;
    return !strcmp(format, LM_FORMAT) ? FILE_LM : !strcmp(format, V2T_FORMAT) ? FILE_V2T
                                                                              : FILE_OTHER;
}

/* Opens path, which `flag` wants to be of kind `want`; otherwise NULL + lv_error() saying what
 * the file is and what the option wants (runtime errors: the file, not the command line). */
static lv_st_file *open_kind(const char *path, const char *flag, file_kind want)
{
    lv_st_file *f = lv_st_open(path);
    if (!f) {
        char why[2048];
        snprintf(why, sizeof why, "%s", lv_error());
        lv_set_error("%s %s", flag, why);
        return NULL;
    }
    const file_kind k = kind_of(f);
    if (k == want && lv_st_meta(f, "config"))
        return f;
    lv_st_close(f);
    lv_set_error("%s %s is %s, not %s%s", flag, path, kind_words[k], kind_words[want],
                 k == FILE_CONTRASTIVE && want == FILE_LM ? " (give the checkpoint to --encoder)"
                 : k == FILE_LM && want == FILE_CONTRASTIVE ? " (give the LM to --lm)"
                 : k == FILE_CONTRASTIVE ? "; retrieval and multiple choice with a contrastive "
                                           "model are longvivit eval --ckpt" : "");
    return NULL;
}

/* A configuration from the text a file stores ("key=value" lines over the tiny preset, as
 * lv_config_from_file reads them), validated. */
static int config_from_text(lv_config *c, const char *text, const char *path)
{
    char *copy = strdup(text);
    if (!copy)
        return lv_set_error("out of memory reading the configuration of %s", path);
    int rc = lv_config_preset(c, "tiny"), line = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l && rc == 0;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (lv_config_set(c, l) < 0)
            rc = lv_set_error("%s: configuration line %d: %s", path, line, lv_error());
    }
    free(copy);
    if (rc == 0 && lv_config_validate(c) < 0)
        rc = lv_set_error("%s: its configuration: %s", path, lv_error());
    return rc;
}

/* FNV-1a (64 bits) over the bytes of the tensors of ps whose name starts with prefix, in table
 * order: what v2t.safetensors records of the encoder and LM it was trained on. */
static int params_hash(const lv_params *ps, const char *prefix, uint64_t *hash)
{
    float *copy;
    const float *host = lv_host_view(ps->be, ps->data, ps->n_floats, &copy);
    if (!host)
        return -1;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (strncmp(p->name, prefix, strlen(prefix)))
            continue;
        const unsigned char *b = (const unsigned char *)(host + p->offset);
        for (size_t k = 0; k < (size_t)p->numel * sizeof(float); k++)
            h = (h ^ b[k]) * 0x100000001b3ull;
    }
    free(copy);
    *hash = h;
    return 0;
}

/* A bounded list of names for an error message; the count is exact. */
typedef struct {
    char text[1024];
    int count;
} name_list;

static void name_add(name_list *l, const char *name, const char *detail)
{
    const size_t n = strlen(l->text);
    if (n + strlen(name) + strlen(detail) + 8 < sizeof l->text)
        snprintf(l->text + n, sizeof l->text - n, "%s%s%s", l->count ? ", " : "", name, detail);
    else if (!strstr(l->text, "..."))
        snprintf(l->text + n, sizeof l->text - n, ", ...");
    l->count++;
}

/* Reads every tensor of ps whose name starts with prefix from f (path names it in messages),
 * all or nothing: every missing or mis-shaped tensor is listed, a NaN or Inf entry refused, and
 * ps is unchanged unless everything loads. The other tensors keep their values. */
static int load_tensors(lv_params *ps, lv_st_file *f, const char *path, const char *prefix)
{
    name_list bad = { "", 0 };
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (strncmp(p->name, prefix, strlen(prefix)))
            continue;
        const lv_st_tensor *t = lv_st_find(f, p->name);
        int same = t && t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = t->shape[d] == p->shape[d];
        char detail[192] = " (missing)", want[64], have[64];
        if (t && !same) {
            lv_st_shape_text(want, sizeof want, p->ndim, p->shape, "[]");
            lv_st_shape_text(have, sizeof have, t->ndim, t->shape, "[]");
            snprintf(detail, sizeof detail, " (%s in the file, %s by its configuration)", have,
                     want);
        }
        if (!same)
            name_add(&bad, p->name, detail);
    }
    if (bad.count)
        return lv_set_error("%s: %d tensors do not fit the configuration stored with them: %s; "
                            "the file is damaged or was edited: use the file longvivit wrote",
                            path, bad.count, bad.text);
    float *staged = lv_malloc((size_t)ps->n_floats * sizeof(float), "the staged parameters");
    if (!staged)
        return -1;
    ps->be->download(staged, ps->data, (size_t)ps->n_floats * sizeof(float));
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (strncmp(p->name, prefix, strlen(prefix)))
            continue;
        float *x = staged + p->offset;
        rc = lv_st_read_f32(f, lv_st_find(f, p->name), x, p->numel);
        for (int64_t k = 0; rc == 0 && k < p->numel; k++)
            if (!isfinite(x[k]))
                rc = lv_set_error("%s: tensor '%s' entry %lld is %s: the run that wrote it "
                                  "diverged; train again with a lower --lr", path, p->name,
                                  (long long)k, isnan(x[k]) ? "NaN" : "Inf");
    }
    if (rc == 0)
        ps->be->upload(ps->data, staged, (size_t)ps->n_floats * sizeof(float));
    free(staged);
    return rc;
}

/* Adds the tensors of ps whose name starts with prefix to w (host: ps's slab on the host). */
static void add_tensors(lv_st_writer *w, const lv_params *ps, const float *host,
                        const char *prefix)
{
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (!strncmp(p->name, prefix, strlen(prefix)))
            lv_st_writer_add_f32(w, p->name, host + p->offset, p->ndim, p->shape);
    }
}

/* ==== text as the LM's rows ==================================================================== */

/* The LM's text: the WordPiece vocabulary of the project's own LM (the encoder's), or GPT-2's
 * byte-level BPE for an LM started from GPT-2 weights. */
typedef struct {
    const lv_tokenizer *wp;      /* WordPiece; unused when bpe is set */
    const lv_bpe *bpe;           /* GPT-2's BPE, or NULL */
} lm_text;

/* A text's ids without the start and end tokens ([CLS] and [SEP]; GPT-2: <|endoftext|>). */
typedef struct {
    int32_t *id;                 /* (n) */
    int64_t n;
} pieces;

/* The pieces of text, at most cap of them (cap + 1 when cut: the caller sees that it is too
 * long). after_words: the text follows other words in the sequence (a prompt, a question), so
 * GPT-2's BPE reads it after a space, as running text has it (" first" is one token, "first"
 * after a space another); WordPiece has no such difference. */
static int pieces_of(pieces *p, lm_text tx, const char *text, int64_t cap, int after_words)
{
    const size_t spaced = tx.bpe ? strlen(text) + 2 : 0;
    int32_t *ids = lv_malloc((size_t)(cap + 3) * sizeof *ids + spaced, "a tokenised text");
    if (!ids)
        return -1;
    if (tx.bpe) {
        char *line = (char *)(ids + cap + 3);
        snprintf(line, spaced, "%s%s", after_words && text[0] ? " " : "", text);
        const int64_t n = lv_bpe_encode(tx.bpe, line, ids, cap + 1);
        if (n < 0) {
            free(ids);
            return -1;
        }
        *p = (pieces){ .id = ids, .n = min64(n, cap + 1) };
        return 0;
    }
    uint8_t *valid = lv_malloc((size_t)(cap + 3), "a tokenised text");
    if (!valid) {
        free(ids);
        return -1;
    }
    const int64_t n = lv_tokenizer_encode(tx.wp, text, ids, valid, cap + 3);
    memmove(ids, ids + 1, (size_t)(n - 2) * sizeof *ids);
    free(valid);
    *p = (pieces){ .id = ids, .n = n - 2 };
    return 0;
}

/* The special ids every sequence uses: WordPiece's [CLS], [SEP] and [PAD]; GPT-2 has one,
 * <|endoftext|>, which starts and ends every text (and fills the padding, never attended). */
typedef struct {
    int32_t cls, sep, pad;
} specials;

static specials specials_of(lm_text tx)
{
    if (tx.bpe)
        return (specials){ .cls = lv_bpe_eot(tx.bpe), .sep = lv_bpe_eot(tx.bpe),
                           .pad = lv_bpe_eot(tx.bpe) };
    return (specials){ .cls = lv_tokenizer_id(tx.wp, "[CLS]"),
                       .sep = lv_tokenizer_id(tx.wp, "[SEP]"),
                       .pad = lv_tokenizer_id(tx.wp, "[PAD]") };
}

/* One sequence of T rows: [CLS], the context's pieces (the prompt, a question), the answer's
 * pieces, [SEP], then [PAD] rows (valid 0). targets[t] is the token row t + 1 holds from the
 * last context row on, so the loss covers the answer and its end; -1 elsewhere (the context
 * takes no loss, padding none). An answer longer than the rows left is cut and then has no
 * [SEP]: the text goes on past the window, an end there would be false. Returns 1 when cut. */
static int sequence_make(int32_t *ids, int32_t *targets, uint8_t *valid, int64_t T,
                         const pieces *context, const pieces *answer, specials s)
{
    const int64_t room = T - 1 - context->n;      /* rows for the answer and its [SEP] */
    LV_REQUIRE(room >= 1);
    const int cut = answer->n + 1 > room;
    const int64_t n = cut ? room : answer->n, len = 1 + context->n + n + !cut;
    ids[0] = s.cls;
    if (context->n > 0)                           /* an empty list may have no array at all */
        memcpy(ids + 1, context->id, (size_t)context->n * sizeof *ids);
    if (n > 0)
        memcpy(ids + 1 + context->n, answer->id, (size_t)n * sizeof *ids);
    if (!cut)
        ids[len - 1] = s.sep;
    for (int64_t t = 0; t < T; t++) {
        if (t >= len)
            ids[t] = s.pad;
        valid[t] = t < len;
        targets[t] = t >= context->n && t + 1 < len ? ids[t + 1] : -1;
    }
    return cut;
}

/* Text from GPT-2 BPE ids: every token's bytes, <|endoftext|> left out, the space GPT-2 puts
 * before a word trimmed at both ends. malloc'd. */
static char *text_of_bpe(const lv_bpe *bpe, const int32_t *ids, int64_t n)
{
    int32_t *kept = lv_malloc((size_t)(n + 1) * sizeof *kept, "a generated text");
    int64_t k = 0;
    for (int64_t i = 0; kept && i < n; i++)
        if (ids[i] != lv_bpe_eot(bpe))
            kept[k++] = ids[i];
    const int64_t size = kept ? lv_bpe_decode(bpe, kept, k, NULL, 0) : -1;
    char *out = size >= 0 ? lv_malloc((size_t)size + 1, "a generated text") : NULL;
    if (out)
        lv_bpe_decode(bpe, kept, k, out, size + 1);
    free(kept);
    if (!out)
        return NULL;
    char *from = out, *end = out + strlen(out);
    while (*from && strchr(" \t\n\r", *from))
        from++;
    while (end > from && strchr(" \t\n\r", end[-1]))
        end--;
    *end = 0;
    memmove(out, from, (size_t)(end - from) + 1);
    return out;
}

/* Text from the LM's ids. WordPiece: a "##" piece joins the word before it, so does a lone
 * punctuation mark ("moves up."); the special tokens ([PAD], [CLS], [SEP], [MASK]) are left out,
 * [UNK] kept. GPT-2's BPE: text_of_bpe. malloc'd. */
static char *text_of(lm_text tx, const int32_t *ids, int64_t n)
{
    if (tx.bpe)
        return text_of_bpe(tx.bpe, ids, n);
    const lv_tokenizer *tok = tx.wp;
    size_t size = 1;
    for (int64_t i = 0; i < n; i++) {
        const char *p = lv_tokenizer_token(tok, ids[i]);
        size += (p ? strlen(p) : 0) + 1;
    }
    char *out = lv_malloc(size, "a generated text");
    if (!out)
        return NULL;
    size_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *p = lv_tokenizer_token(tok, ids[i]);
        if (!p || (p[0] == '[' && strcmp(p, "[UNK]") && p[strlen(p) - 1] == ']'))
            continue;
        const int joins = !strncmp(p, "##", 2) ||
                          (strlen(p) == 1 && strchr(".,!?;:)", p[0]) != NULL);
        if (at && !joins)
            out[at++] = ' ';
        const char *piece = strncmp(p, "##", 2) ? p : p + 2;
        memcpy(out + at, piece, strlen(piece));
        at += strlen(piece);
    }
    out[at] = 0;
    return out;
}

/* ==== configuration ============================================================================ */

/* The LM stage's configuration: --preset (tiny) and the --set lines, its vocabulary the
 * tokenizer's (vocab > 0; a dry run without one keeps the preset's). */
static int lm_stage_config(lv_config *c, const stage_args *a, int64_t vocab, const char *vocab_path)
{
    if (lv_config_preset(c, a->preset ? a->preset : "tiny") < 0)
        return usage_error("--preset: %s", lv_error());
    for (int i = 0; i < a->n_sets; i++)
        if (lv_config_set(c, a->sets[i]) < 0)
            return usage_error("%s", lv_error());
    if (vocab > 0) {
        for (int i = 0; i < a->n_sets; i++)
            if (!strncmp(a->sets[i], "vocab=", 6) && c->vocab != vocab)
                return usage_error("--set %s conflicts with the vocabulary %s, which has %lld "
                                   "tokens: the LM has one embedding row per token; drop --set "
                                   "vocab", a->sets[i], vocab_path, (long long)vocab);
        c->vocab = vocab;
        if (c->lm_vocab > 0 && c->lm_vocab != vocab)
            return usage_error("--set lm_vocab=%lld: this LM reads the WordPiece vocabulary %s "
                               "(%lld tokens); drop --set lm_vocab", (long long)c->lm_vocab,
                               vocab_path, (long long)vocab);
    }
    return lv_config_validate(c) < 0 ? usage_error("%s", lv_error()) : 0;
}

/* What --set may change in the text stage, whose encoder and LM come from files. */
static int text_stage_may_set(const char *key)
{
    static const char *const keys[] = { "rs_latents", "rs_depth", "rs_heads", "rs_head_dim",
                                        "xattn_every", "xattn_heads", "xattn_head_dim",
                                        "v2t_mask_ratio", "seed", NULL };
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], key))
            return 1;
    return 0;
}

/* What --lm gives: the project's own LM (train --stage lm: its configuration and WordPiece
 * vocabulary) or a GPT-2 checkpoint (its sizes; its BPE comes from --bpe). */
typedef struct {
    int gpt2;                    /* 1: a Hugging Face GPT-2 safetensors file */
    lv_config cfg;               /* the project's LM: its configuration (its lm_* keys count) */
    lv_gpt2_dims dims;           /* a GPT-2 file: the rows of wte and wpe, width, blocks */
    lv_tokenizer *tok;           /* the project's LM: its vocabulary; NULL for GPT-2 */
} lm_source;

static void lm_source_free(lm_source *s)
{
    lv_tokenizer_free(s->tok);
    s->tok = NULL;
}

/* The LM's keys into c: the project's LM file's lm_* lines, or GPT-2's from the file's sizes
 * (GPT-2's heads are 64 wide: lm_heads = width / 64, 0 = unknown when the width is not a
 * multiple; its activation is the tanh GELU, "gelu_new"). */
static void lm_keys_copy(lv_config *c, const lm_source *lm)
{
    if (lm->gpt2) {
        c->lm_vocab = lm->dims.vocab;
        c->lm_width = lm->dims.width;
        c->lm_layers = lm->dims.layers;
        c->lm_ctx = lm->dims.positions;
        c->lm_heads = lm->dims.width % 64 ? 0 : lm->dims.width / 64;
        c->lm_act = LV_ACT_GELU_TANH;
        return;
    }
    char buf[8192];
    lv_config_format(&lm->cfg, buf, sizeof buf);
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (!strncmp(l, "lm_", 3))
            lv_config_set(c, l);
}

/* A GPT-2 LM's keys once --set is applied: a head count, at most the file's positions, and
 * GPT-2's LayerNorm epsilon (the stage's LM shares ln_eps with the encoder). */
static int gpt2_config_check(const lv_config *c, const stage_args *a, const lm_source *lm)
{
    if (c->lm_heads == 0)
        return usage_error("--lm %s is a GPT-2 checkpoint %lld wide, not a multiple of GPT-2's "
                           "head width 64, and the file does not say its head count: give it, "
                           "--set lm_heads=N (n_head in the model's config.json)", a->lm,
                           (long long)c->lm_width);
    if (c->lm_ctx > lm->dims.positions)
        return usage_error("--set lm_ctx=%lld: --lm %s has %lld positions (rows of wpe); give "
                           "at most %lld", (long long)c->lm_ctx, a->lm,
                           (long long)lm->dims.positions, (long long)lm->dims.positions);
    if (c->ln_eps != 1e-5)
        return usage_error("--lm %s is a GPT-2 checkpoint, whose LayerNorms take eps 1e-5, but "
                           "the stage's LM shares ln_eps with %s %s, which has ln_eps=%g: the "
                           "LM would not compute GPT-2's function; use an encoder trained with "
                           "ln_eps=1e-5 (the default)", a->lm, a->encoder ? "--encoder"
                           : "--preset", a->encoder ? a->encoder : a->preset ? a->preset
                           : "tiny", c->ln_eps);
    return 0;
}

/* The text stage's configuration: the encoder's (or, in a dry run without --encoder, --preset's
 * and the --set lines), the LM's lm_* keys (lm: the --lm file, or NULL), then --set of the
 * stage's own keys; an lm_* --set that differs from the LM file's is refused naming both (of a
 * GPT-2 file, which holds no head count, lm_heads and a lower lm_ctx may be set). */
static int text_stage_config(lv_config *c, const stage_args *a, const lm_source *lm)
{
    char was[256], now[256];
    if (a->encoder) {
        if (a->preset)
            return usage_error("--preset %s: the text stage takes its configuration from "
                               "--encoder %s; drop --preset", a->preset, a->encoder);
        if (lv_config_from_file(c, a->encoder) < 0)
            return -1;
    } else if (lv_config_preset(c, a->preset ? a->preset : "tiny") < 0) {
        return usage_error("--preset: %s", lv_error());
    }
    if (lm)
        lm_keys_copy(c, lm);
    for (int i = 0; i < a->n_sets; i++) {
        const char *kv = a->sets[i], *eq = strchr(kv, '=');
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        lv_config t = *c;
        if (lv_config_set(&t, kv) < 0)
            return usage_error("%s", lv_error());
        const int gpt2_free = lm && lm->gpt2 && (!strcmp(key, "lm_heads") ||
                                                 !strcmp(key, "lm_ctx"));
        if (lm && !gpt2_free && !strncmp(key, "lm_", 3) &&
            strcmp(lv_opt_config_value(c, key, was, sizeof was),
                   lv_opt_config_value(&t, key, now, sizeof now))) {
            if (lm->gpt2)
                return usage_error("--set %s conflicts with --lm %s, a GPT-2 checkpoint of "
                                   "%s=%s: the LM's shape comes from its file; drop --set %s "
                                   "(of the lm_* keys only lm_heads and a lower lm_ctx may be "
                                   "set for a GPT-2 file)", kv, a->lm, key, was, key);
            return usage_error("--set %s conflicts with --lm %s, an LM of %s=%s: the LM's shape "
                               "comes from its file; drop --set %s, or train an LM of that "
                               "shape (train --stage lm --set %s)", kv, a->lm, key, was, key, kv);
        }
        if (a->encoder && strncmp(key, "lm_", 3) && !text_stage_may_set(key))
            return usage_error("--set %s: the text stage takes %s from --encoder %s; only rs_*, "
                               "xattn_*, v2t_mask_ratio and seed may change here", kv, key,
                               a->encoder);
        *c = t;
    }
    if (lm && lm->gpt2 && gpt2_config_check(c, a, lm) < 0)
        return -1;
    if (lv_config_validate(c) < 0)
        return usage_error("%s", lv_error());
    return 0;
}

/* The text rows per sample: --text-len, else min(lm_ctx, 64); at most lm_ctx. */
static int text_rows(int64_t *T, const lv_config *c, int64_t given)
{
    *T = given ? given : min64(c->lm_ctx, 64);
    if (*T < 2)
        return usage_error("lm_ctx=%lld: a text needs at least 2 rows ([CLS] and a token)",
                           (long long)c->lm_ctx);
    if (*T > c->lm_ctx)
        return usage_error("--text-len %lld: the LM has %lld positions (lm_ctx); give at most "
                           "%lld", (long long)*T, (long long)c->lm_ctx, (long long)c->lm_ctx);
    return 0;
}

/* ==== memory and parameter counts (--dry-run, memory --stage) ================================== */

static void mib_row(int json, const char *key, const char *label, double floats, int last)
{
    if (json)
        printf("\"%s_mib\": %.3f%s", key, floats * 4.0 / (1 << 20), last ? "" : ", ");
    else
        printf("  %-34s %10.1f MiB\n", label, floats * 4.0 / (1 << 20));
}

/* Builds the stage for c (allocating its parameters and, for batches of B samples of T rows,
 * its activations), then prints the parameter counts (trainable, frozen) and the memory of one
 * training step. */
static int stage_report(const lv_config *c, const lv_backend *be, int lm_only, int64_t B,
                        int64_t T, int json)
{
    lv_v2t v;
    if (lv_v2t_build(&v, c, be, lm_only) < 0 || lv_v2t_alloc_acts(&v, B, T) < 0) {
        lv_v2t_free(&v);
        return -1;
    }
    const lv_params *ps = &v.params;
    const double enc = lm_only ? 0 : (double)v.enc.params.n_floats;
    const double enc_video = lm_only ? 0 : (double)lv_params_count_floats(&v.enc.params,
                                                                         "video.", 0);
    const double lm = (double)lv_params_count_floats(ps, "lm.", 0);
    const double rs = (double)lv_params_count_floats(ps, "resampler.", 0);
    const double xa = (double)lv_params_count_floats(ps, "xattn.", 0);
    const double trainable = (double)ps->n_grad_floats, frozen = enc + (double)ps->n_floats -
                                                                 trainable;
    const double acts = (double)v.act_floats + (lm_only ? 0 : (double)v.enc.act_floats);
    const double total = enc + (double)ps->n_floats + 3.0 * trainable + acts;
    if (json) {
        printf("{\"stage\": \"%s\", \"backend\": \"%s\", \"batch\": %lld, \"text_len\": %lld, "
               "\"trainable\": %.0f, \"frozen\": %.0f, \"encoder\": %.0f, "
               "\"encoder_video_tower\": %.0f, \"lm\": %.0f, \"resampler\": %.0f, "
               "\"xattn\": %.0f, \"activation_floats\": %lld, \"encoder_activation_floats\": "
               "%lld, ", lm_only ? "lm" : "text", be->name, (long long)B, (long long)T,
               trainable, frozen, enc, enc_video, lm, rs, xa, (long long)v.act_floats,
               lm_only ? 0LL : (long long)v.enc.act_floats);
    } else {
        printf("parameters of the %s (floats)\n", lm_only ? "LM's pretraining" :
               "video-to-text stage");
        if (!lm_only)
            printf("  encoder          %12.0f  frozen (video tower %.0f; its text tower and "
                   "logit scale are built, unused)\n", enc, enc_video);
        printf("  LM (lm.*)        %12.0f  %s\n", lm, lm_only ? "trainable" : "frozen");
        if (!lm_only)
            printf("  resampler        %12.0f  trainable\n  cross-attention  %12.0f  trainable\n",
                   rs, xa);
        printf("  trainable %.0f, frozen %.0f\n", trainable, frozen);
        printf("memory of one training step, batch %lld, %lld text rows, %s backend (fp32)\n",
               (long long)B, (long long)T, be->name);
    }
    mib_row(json, "params", "parameters", enc + (double)ps->n_floats, 0);
    mib_row(json, "grads", "gradients (trainable only)", trainable, 0);
    mib_row(json, "adamw", "AdamW moments", 2.0 * trainable, 0);
    if (!lm_only)
        mib_row(json, "encoder_activations", "activations (encoder)", (double)v.enc.act_floats, 0);
    mib_row(json, "activations", "activations (LM, resampler, xattn)", (double)v.act_floats, 0);
    mib_row(json, "total", "total", total, 1);
    if (json)
        printf("}\n");
    lv_v2t_free(&v);
    return 0;
}

/* ==== training ================================================================================= */

typedef struct {
    stage_args a;
    stage_numbers num;
    int lm_only;
    lv_config cfg;
    lv_v2t v;
    lv_adamw adam;
    lv_adamw_config opt;
    lv_tokenizer *tok;           /* WordPiece: the LM's (lm stage), the encoder's (text stage) */
    lv_bpe *bpe;                 /* a GPT-2 LM's tokenizer (text stage), or NULL */
    int gpt2;                    /* --lm is a GPT-2 checkpoint */
    lm_text tx;                  /* the LM's text: bpe, else tok */
    specials sp;
    pieces prompt;               /* the text stage's prompt pieces (none: just [CLS]) */
    int target_summary;          /* the text stage's target: the summary, else the caption */
    lv_clip_list clips;
    lv_loader *loader;           /* the text stage's videos */
    const char **texts;          /* (n_texts) the LM stage's texts: captions, then summaries */
    int64_t n_texts, *order, epoch, cursor;
    int64_t T;
    int32_t *ids, *targets;      /* (B, T) */
    uint8_t *valid;              /* (B, T) */
    int64_t cut;                 /* training texts cut to T rows */
    float *losses;               /* (steps) */
    char out[2048], file[2100];
    uint64_t enc_hash, lm_hash;
    FILE *log;
} stage_run;

static void stage_run_free(stage_run *r)
{
    lv_loader_close(r->loader);
    lv_adamw_free(&r->adam);
    lv_v2t_free(&r->v);
    lv_tokenizer_free(r->tok);
    lv_bpe_free(r->bpe);
    lv_clip_list_free(&r->clips);
    free(r->prompt.id);
    free(r->texts);
    free(r->order);
    free(r->ids);
    free(r->targets);
    free(r->valid);
    free(r->losses);
    if (r->log)
        fclose(r->log);
}

static const char *folder_of(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(buf, size, ".");
    return buf;
}

/* The manifest (required, a file) and its clips. */
static int load_data(stage_run *r)
{
    struct stat sb;
    if (!r->a.data)
        return usage_error("--data MANIFEST is required: a JSON Lines file, one clip per line "
                           "such as {\"video\": \"videos/a.mp4\", \"caption\": \"...\", "
                           "\"summary\": \"...\"}");
    const int missing = stat(r->a.data, &sb) != 0;
    if (missing || S_ISDIR(sb.st_mode))
        return usage_error("--data %s: %s; --data wants a JSON Lines manifest (such as "
                           "DIR/train.jsonl)", r->a.data, missing ? strerror(errno)
                                                                  : "a folder");
    if (lv_manifest_load(&r->clips, r->a.data, !r->lm_only) < 0)
        return -1;
    return r->clips.n ? 0 : lv_set_error("%s lists no clips to train on", r->a.data);
}

/* The LM stage's vocabulary (--vocab, else vocab.txt beside --data) and its texts: every
 * caption, then every summary, in manifest order. */
static int lm_stage_setup(stage_run *r)
{
    char folder[2048], path[2100];
    snprintf(path, sizeof path, "%s/vocab.txt", folder_of(r->a.data, folder, sizeof folder));
    const char *vocab = r->a.vocab ? r->a.vocab : path;
    if (!(r->tok = lv_tokenizer_load(vocab)))
        return -1;
    if (lm_stage_config(&r->cfg, &r->a, lv_tokenizer_vocab_size(r->tok), vocab) < 0)
        return -1;
    r->texts = lv_malloc((size_t)(2 * r->clips.n) * sizeof *r->texts, "the texts");
    if (!r->texts)
        return -1;
    for (int64_t i = 0; i < r->clips.n; i++)
        if (r->clips.e[i].caption[0])
            r->texts[r->n_texts++] = r->clips.e[i].caption;
    for (int64_t i = 0; i < r->clips.n; i++)
        if (r->clips.e[i].summary && r->clips.e[i].summary[0])
            r->texts[r->n_texts++] = r->clips.e[i].summary;
    r->order = lv_malloc((size_t)r->n_texts * sizeof *r->order, "the text order");
    r->cursor = r->n_texts;
    r->epoch = -1;
    return r->order ? 0 : -1;
}

/* The LM file's configuration and vocabulary (the text stage's --lm). */
static int lm_file_read(const char *path, lv_config *c, lv_tokenizer **tok)
{
    lv_st_file *f = open_kind(path, "--lm", FILE_LM);
    if (!f)
        return -1;
    const char *vocab = lv_st_meta(f, "vocab");
    int rc = config_from_text(c, lv_st_meta(f, "config"), path);
    if (rc == 0 && !vocab)
        rc = lv_set_error("%s stores no vocabulary: the file is damaged; use the lm.safetensors "
                          "train --stage lm wrote", path);
    if (rc == 0) {
        char origin[2200];
        snprintf(origin, sizeof origin, "%s (its stored vocabulary)", path);
        rc = (*tok = lv_tokenizer_from_text(vocab, origin)) ? 0 : -1;
    }
    lv_st_close(f);
    return rc;
}

/* The encoder's and the LM's vocabularies must be one token list: the LM's ids are the
 * captions' WordPiece ids the stage feeds it. */
static int same_vocab(const lv_tokenizer *enc, const lv_tokenizer *lm, const char *enc_path,
                      const char *lm_path)
{
    const int64_t at = lv_tokenizer_first_difference(lm, enc);
    if (at < 0)
        return 0;
    const char *mine = lv_tokenizer_token(lm, (int32_t)at), *theirs = lv_tokenizer_token(enc,
                                                                                  (int32_t)at);
    return usage_error("--lm %s was trained on another vocabulary than --encoder %s (%lld and "
                       "%lld tokens; line %lld is '%s' in the LM's, '%s' in the encoder's): the "
                       "LM's token ids would stand for other words. Train the LM on the "
                       "encoder's vocab.txt (train --stage lm --vocab FILE)", lm_path, enc_path,
                       (long long)lv_tokenizer_vocab_size(lm),
                       (long long)lv_tokenizer_vocab_size(enc), (long long)at + 1,
                       mine ? mine : "(end of file)", theirs ? theirs : "(end of file)");
}

/* --lm's file into *s: the project's LM (lm_file_read), or else a GPT-2 checkpoint (its sizes);
 * anything else is refused naming the file and both kinds it could have been. */
static int lm_source_read(lm_source *s, const char *path)
{
    *s = (lm_source){ 0 };
    lv_st_file *f = lv_st_open(path);
    if (!f) {
        char why[2048];
        snprintf(why, sizeof why, "%s", lv_error());
        return lv_set_error("--lm %s", why);
    }
    const file_kind k = kind_of(f);
    lv_st_close(f);
    if (k != FILE_OTHER)                  /* an LM, or another longvivit file: said there */
        return lm_file_read(path, &s->cfg, &s->tok);
    if (lv_gpt2_read_dims(path, &s->dims) < 0) {
        char why[2048];
        snprintf(why, sizeof why, "%s", lv_error());
        return lv_set_error("--lm %s is neither a longvivit LM (the lm.safetensors of train "
                            "--stage lm, format %s in its metadata) nor a GPT-2 checkpoint: %s",
                            path, LM_FORMAT, why);
    }
    s->gpt2 = 1;
    return 0;
}

/* --bpe belongs to a GPT-2 --lm: the project's LM reads the WordPiece vocabulary it stores. */
static int bpe_flag_check(const stage_args *a, const lm_source *lm)
{
    if (a->bpe && (!a->lm || !lm->gpt2))
        return usage_error("--bpe %s: a GPT-2 tokenizer goes with a GPT-2 checkpoint as --lm; "
                           "%s%s reads %s; drop --bpe", a->bpe, a->lm ? "--lm " : "",
                           a->lm ? a->lm : "without --lm the stage", a->lm ? "the WordPiece "
                           "vocabulary it stores (train --stage lm)" : "no LM file");
    return 0;
}

/* A GPT-2 --lm's tokenizer: --bpe DIR, else the folder of the file (a Hugging Face download
 * keeps model.safetensors, vocab.json and merges.txt together); one token per row of the
 * file's wte, and an <|endoftext|>, which starts and ends every text. NULL + lv_error(): files
 * missing or damaged (a runtime error), another vocabulary (usage). */
static lv_bpe *bpe_for(const stage_args *a, const lm_source *lm)
{
    char folder[2048], why[2048];
    const char *dir = a->bpe ? a->bpe : folder_of(a->lm, folder, sizeof folder);
    lv_bpe *bpe = lv_bpe_load(dir);
    if (!bpe) {
        snprintf(why, sizeof why, "%s", lv_error());
        if (a->bpe)
            lv_set_error("--bpe %s: %s", a->bpe, why);
        else
            lv_set_error("--lm %s is a GPT-2 checkpoint, whose tokenizer was looked for beside "
                         "it: %s; give --bpe DIR, the folder of its vocab.json and merges.txt",
                         a->lm, why);
        return NULL;
    }
    const int64_t V = lv_bpe_vocab_size(bpe);
    if (V != lm->dims.vocab || lv_bpe_eot(bpe) < 0) {
        if (V != lm->dims.vocab)
            usage_error("the GPT-2 tokenizer in %s has %lld tokens, but --lm %s has %lld rows of "
                        "token embeddings (wte): its ids would stand for other tokens; give the "
                        "vocab.json and merges.txt of that checkpoint's own tokenizer (--bpe "
                        "DIR)", dir, (long long)V, a->lm, (long long)lm->dims.vocab);
        else
            usage_error("the GPT-2 tokenizer in %s has no <|endoftext|>, which starts and ends "
                        "every text of a GPT-2 LM; give GPT-2's own vocab.json and merges.txt "
                        "(--bpe DIR)", dir);
        lv_bpe_free(bpe);
        return NULL;
    }
    return bpe;
}

/* The target of the text stage: --target, else the summary when every video clip has one. */
static int pick_target(stage_run *r)
{
    int64_t missing = -1;
    for (int64_t i = 0; i < r->clips.n && missing < 0; i++)
        if (!r->clips.e[i].is_image && !r->clips.e[i].summary)
            missing = i;
    const char *t = r->a.target;
    if (t && strcmp(t, "summary") && strcmp(t, "caption"))
        return usage_error("--target %s: give summary or caption", t);
    r->target_summary = t ? !strcmp(t, "summary") : missing < 0;
    if (r->target_summary && missing >= 0)
        return usage_error("--target summary: clip %lld of %s (%s) has no \"summary\"; give "
                           "every line one, or train on the captions (--target caption)",
                           (long long)missing + 1, r->a.data, r->clips.e[missing].video);
    if (!t)
        fprintf(stderr, "target: the %s of each clip%s\n", r->target_summary ? "summary"
                : "caption", r->target_summary ? "" : " (not every clip has a summary)");
    return 0;
}

/* The encoder's stored vocabulary (an explicit --vocab must equal it) into *out when out is not
 * NULL, checked against the LM's (lm_tok; NULL for a GPT-2 LM, whose text is its BPE: the
 * encoder's vocabulary then serves only the loader). */
static int text_stage_vocab(const lv_config *c, const stage_args *a, const lv_tokenizer *lm_tok,
                            lv_tokenizer **out)
{
    int code = 1;
    lv_tokenizer *tok = vocab_for_model(a->encoder, c->vocab, a->vocab, NULL, &code);
    if (!tok)
        return code == 2 ? usage_error("%s", lv_error()) : -1;
    const int rc = lm_tok ? same_vocab(tok, lm_tok, a->encoder, a->lm) : 0;
    if (rc == 0 && out)
        *out = tok;
    else
        lv_tokenizer_free(tok);
    return rc;
}

/* The text stage: the encoder's configuration and vocabulary, the LM's lm_* keys, and the
 * LM's text: the same WordPiece vocabulary checked, or a GPT-2 LM's BPE. */
static int text_stage_setup(stage_run *r)
{
    lm_source lm = { 0 };
    if (!r->a.encoder || !r->a.lm)
        return usage_error("--stage text needs --encoder CKPT (a contrastive checkpoint of "
                           "longvivit train) and --lm LM (the lm.safetensors of train --stage "
                           "lm, or a GPT-2 checkpoint)");
    lv_st_file *f = open_kind(r->a.encoder, "--encoder", FILE_CONTRASTIVE);
    if (!f)
        return -1;
    lv_st_close(f);
    if (lm_source_read(&lm, r->a.lm) < 0)
        return -1;
    int rc = bpe_flag_check(&r->a, &lm);
    if (rc == 0)
        rc = text_stage_config(&r->cfg, &r->a, &lm);
    if (rc == 0)
        rc = text_stage_vocab(&r->cfg, &r->a, lm.tok, &r->tok);
    if (rc == 0 && lm.gpt2)
        rc = (r->bpe = bpe_for(&r->a, &lm)) ? 0 : -1;
    r->gpt2 = lm.gpt2;
    lm_source_free(&lm);
    return rc;
}

/* Loads the encoder (the whole contrastive model; its video tower is what runs) and the LM
 * (its file's lm.* tensors, or a GPT-2 checkpoint's through lv_v2t_init_lm_from_gpt2) into the
 * built stage, and records a hash of each. */
static int text_stage_load(stage_run *r)
{
    if (lv_model_load(&r->v.enc, r->a.encoder) < 0)
        return -1;
    int rc;
    if (r->gpt2) {
        rc = lv_v2t_init_lm_from_gpt2(&r->v, r->a.lm);
    } else {
        lv_st_file *f = lv_st_open(r->a.lm);
        rc = f ? load_tensors(&r->v.params, f, r->a.lm, "lm.") : -1;
        lv_st_close(f);
    }
    if (rc == 0)
        rc = params_hash(&r->v.enc.params, "video.", &r->enc_hash);
    if (rc == 0)
        rc = params_hash(&r->v.params, "lm.", &r->lm_hash);
    return rc;
}

/* The next B texts of the LM stage (a new permutation every epoch, keyed by the seed). */
static int lm_batch(stage_run *r, int64_t B)
{
    for (int64_t b = 0; b < B; b++) {
        if (r->cursor == r->n_texts) {
            r->epoch++;
            r->cursor = 0;
            lv_rng g = lv_rng_stream(r->cfg.seed, LV_RNG_DATA, (uint32_t)r->epoch, 1);
            lv_rng_permutation(&g, r->order, r->n_texts);
        }
        const char *text = r->texts[r->order[r->cursor++]];
        const pieces none = { 0 };
        pieces p;
        if (pieces_of(&p, r->tx, text, r->T, 0) < 0)
            return -1;
        r->cut += sequence_make(r->ids + b * r->T, r->targets + b * r->T, r->valid + b * r->T,
                                r->T, &none, &p, r->sp);
        free(p.id);
    }
    return 0;
}

/* The text stage's sequences for a loader batch: [CLS] prompt target [SEP] per clip. */
static int text_batch(stage_run *r, const lv_loader_batch *lb)
{
    for (int64_t b = 0; b < lb->B; b++) {
        const lv_clip_entry *e = &r->clips.e[lb->clip[b]];
        pieces p;
        if (pieces_of(&p, r->tx, r->target_summary ? e->summary : e->caption, r->T,
                      r->prompt.n > 0) < 0)
            return -1;
        r->cut += sequence_make(r->ids + b * r->T, r->targets + b * r->T, r->valid + b * r->T,
                                r->T, &r->prompt, &p, r->sp);
        free(p.id);
    }
    return 0;
}

static int setup_loader(stage_run *r)
{
    const lv_loader_spec spec = {
        .batch = r->num.batch, .frames = r->cfg.frames, .size = r->cfg.image_size,
        .text_len = r->T, .fps = 1.0, .mode = LV_SAMPLE_FIRST,
        .mean = { LV_CLIP_MEAN[0], LV_CLIP_MEAN[1], LV_CLIP_MEAN[2] },
        .std = { LV_CLIP_STD[0], LV_CLIP_STD[1], LV_CLIP_STD[2] }, .shuffle = 1,
        .seed = r->cfg.seed, .max_bad_fraction = 0.1, .threads = (int)r->num.loader_threads };
    r->loader = lv_loader_open(&r->clips, r->tok, &spec);
    return r->loader ? 0 : -1;
}

/* The stage built, its file's tensors loaded, buffers for a batch, AdamW over what trains. */
static int stage_build(stage_run *r, const lv_backend *be)
{
    const int64_t B = r->num.batch, T = r->T;
    if (lv_v2t_build(&r->v, &r->cfg, be, r->lm_only) < 0 || lv_v2t_alloc_acts(&r->v, B, T) < 0)
        return -1;
    if (!r->lm_only && text_stage_load(r) < 0)
        return -1;
    r->ids = lv_malloc((size_t)(B * T) * sizeof *r->ids, "a batch of texts");
    r->targets = lv_malloc((size_t)(B * T) * sizeof *r->targets, "a batch of targets");
    r->valid = lv_malloc((size_t)(B * T), "a batch of masks");
    r->losses = lv_calloc((size_t)r->num.steps, sizeof *r->losses, "the loss history");
    if (!r->ids || !r->targets || !r->valid || !r->losses || lv_adamw_init(&r->adam,
                                                                           &r->v.params) < 0)
        return -1;
    r->opt = lv_adamw_defaults();
    r->opt.lr = r->num.lr;
    r->opt.weight_decay = r->num.wd;
    r->opt.clip = r->num.clip;
    r->opt.total = r->num.steps;
    r->opt.warmup = r->num.warmup;
    return 0;
}

/* The options of the run as key=value lines (metadata "train_args"); not --loader-threads,
 * which changes nothing of the result (the same batches for every count). */
static void args_text(const stage_run *r, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t k = 0; k < sizeof stage_flags / sizeof stage_flags[0]; k++) {
        const char *v = *(const char *const *)((const char *)&r->a + stage_flags[k].at);
        if (v && n < size && stage_flags[k].at != offsetof(stage_args, loader_threads))
            n += (size_t)snprintf(buf + n, size - n, "%s=%s\n", stage_flags[k].flag + 2, v);
    }
    for (int i = 0; i < r->a.n_sets && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "set=%s\n", r->a.sets[i]);
}

/* OUT/lm.safetensors (the LM's tensors) or OUT/v2t.safetensors (the encoder's video tower, the
 * LM, the resampler and cross-attention), with the configuration, the vocabulary, the text rows,
 * the loss of every step and, for the text stage, the prompt, the target and the files it built
 * on with a hash of their parameters; written atomically. */
static int stage_save(stage_run *r, int64_t steps)
{
    const lv_params *ps = &r->v.params;
    float *copy = NULL, *enc_copy = NULL;
    const float *host = lv_host_view(ps->be, ps->data, ps->n_floats, &copy);
    const float *enc = r->lm_only || !host ? NULL
                     : lv_host_view(ps->be, r->v.enc.params.data, r->v.enc.params.n_floats,
                                    &enc_copy);
    lv_st_writer *w = host && (r->lm_only || enc) ? lv_st_writer_new() : NULL;
    int rc = -1;
    if (w) {
        char config[8192], num[2][32], args[4096], hash[2][32];
        lv_config_format(&r->cfg, config, sizeof config);
        snprintf(num[0], sizeof num[0], "%lld", (long long)r->T);
        snprintf(num[1], sizeof num[1], "%lld", (long long)steps);
        args_text(r, args, sizeof args);
        lv_st_writer_meta(w, "format", r->lm_only ? LM_FORMAT : V2T_FORMAT);
        lv_st_writer_meta(w, "config", config);
        lv_st_writer_meta(w, "vocab", lv_tokenizer_text(r->tok));
        if (!r->lm_only)
            lv_st_writer_meta(w, "tokenizer", r->bpe ? TOKENIZER_BPE : TOKENIZER_WORDPIECE);
        if (r->bpe) {            /* the LM's own text: GPT-2's BPE, both files as they were */
            lv_st_writer_meta(w, "bpe_vocab_json", lv_bpe_vocab_text(r->bpe));
            lv_st_writer_meta(w, "bpe_merges_txt", lv_bpe_merges_text(r->bpe));
        }
        lv_st_writer_meta(w, "text_len", num[0]);
        lv_st_writer_meta(w, "step", num[1]);
        lv_st_writer_meta(w, "train_args", args);
        if (!r->lm_only) {
            snprintf(hash[0], sizeof hash[0], "%016" PRIx64, r->enc_hash);
            snprintf(hash[1], sizeof hash[1], "%016" PRIx64, r->lm_hash);
            lv_st_writer_meta(w, "prompt", r->a.prompt ? r->a.prompt : "");
            lv_st_writer_meta(w, "target", r->target_summary ? "summary" : "caption");
            lv_st_writer_meta(w, "encoder", r->a.encoder);
            lv_st_writer_meta(w, "encoder_video_fnv1a64", hash[0]);
            lv_st_writer_meta(w, "lm", r->a.lm);
            lv_st_writer_meta(w, "lm_fnv1a64", hash[1]);
            add_tensors(w, &r->v.enc.params, enc, "video.");
        }
        add_tensors(w, ps, host, "");
        lv_st_writer_add_f32(w, "train.loss", r->losses, 1, &steps);
        rc = lv_st_writer_write(w, r->file);
    }
    lv_st_writer_free(w);
    free(copy);
    free(enc_copy);
    return rc;
}

/* OUT/loss.png: the loss per step and its 20-step mean (one line without cairo). */
static void stage_plot(const stage_run *r, int64_t steps)
{
    char png[2100];
    snprintf(png, sizeof png, "%s/loss.png", r->out);
    float *smooth = lv_malloc((size_t)steps * sizeof *smooth, "a curve");
    if (!smooth)
        return;
    for (int64_t i = 0; i < steps; i++) {
        double s = 0;
        const int64_t from = i >= 19 ? i - 19 : 0;
        for (int64_t j = from; j <= i; j++)
            s += r->losses[j];
        smooth[i] = (float)(s / (double)(i - from + 1));
    }
    const lv_plot_text words = { .title = r->lm_only ? "LM pretraining loss"
                                                     : "video-to-text training loss",
                                 .x_title = "step", .y_title = "loss",
                                 .y_name = "loss per step", .y2_name = "mean of the last 20 steps" };
    if (lv_plot_lines(png, r->losses, smooth, steps, 800, 450, &words) < 0)
        fprintf(stderr, "longvivit train: %s\n", lv_error());
    free(smooth);
}

/* Mean loss of the first (end = 0) or last (end = 1) tenth of n steps, at least one step. */
static double mean_loss(const float *losses, int end, int64_t n)
{
    const int64_t k = n / 10 > 0 ? n / 10 : 1, from = end ? n - k : 0;
    double s = 0;
    for (int64_t i = from; i < from + k; i++)
        s += losses[i];
    return s / (double)k;
}

/* One step: the batch (texts, or the loader's videos with their targets), then
 * lv_v2t_train_step; a line of OUT/log.jsonl and a progress line every few seconds. */
static int stage_step(stage_run *r, int64_t step, double t0)
{
    const lv_loader_batch *lb = NULL;
    if (r->lm_only) {
        if (lm_batch(r, r->num.batch) < 0)
            return -1;
    } else if (lv_loader_next(r->loader, &lb) < 0 || text_batch(r, lb) < 0)
        return -1;
    const lv_v2t_batch b = { .B = r->num.batch, .T = r->T, .video = lb ? lb->video : NULL,
                             .ids = r->ids, .targets = r->targets, .valid = r->valid };
    lv_step_stats st;
    if (lv_v2t_train_step(&r->v, &r->adam, &r->opt, &b, step, &st) < 0)
        return -1;
    r->losses[step] = st.loss;
    const double dt = wall_seconds() - t0;
    fprintf(r->log, "{\"step\": %lld, \"loss\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, "
            "\"elapsed_s\": %.3f}\n", (long long)step + 1, (double)st.loss, st.lr, st.grad_norm,
            dt);
    fflush(r->log);
    static double last;
    if (step == 0 || dt - last >= 5.0 || step + 1 == r->num.steps) {
        fprintf(stderr, "train --stage %s step %lld/%lld loss %.4f lr %.2e %.1f samples/s\n",
                r->lm_only ? "lm" : "text", (long long)step + 1, (long long)r->num.steps,
                st.loss, st.lr, dt > 0 ? (double)((step + 1) * r->num.batch) / dt : 0.0);
        last = dt;
    }
    return 0;
}

static int stage_train(stage_run *r)
{
    char path[2100];
    if (mkdir(r->out, 0755) != 0 && errno != EEXIST)
        return lv_set_error("%s: cannot create the output folder: %s", r->out, strerror(errno));
    snprintf(path, sizeof path, "%s/log.jsonl", r->out);
    if (!(r->log = fopen(path, "w")))
        return lv_set_error("%s: cannot write the training log: %s", path, strerror(errno));
    if (!r->lm_only && setup_loader(r) < 0)
        return -1;
    const double t0 = wall_seconds();
    for (int64_t s = 0; s < r->num.steps; s++)
        if (stage_step(r, s, t0) < 0) {
            char why[2048];
            snprintf(why, sizeof why, "%s", lv_error());
            return lv_set_error("%s; stopped without saving: this run wrote no file (%s, if "
                                "there is one, is as it was); lower --lr and train again", why,
                                r->file);
        }
    if (stage_save(r, r->num.steps) < 0)
        return -1;
    stage_plot(r, r->num.steps);
    return 0;
}

static void stage_summary(const stage_run *r)
{
    const int64_t n = r->num.steps;
    const double first = mean_loss(r->losses, 0, n), last = mean_loss(r->losses, 1, n);
    const double trainable = (double)r->v.params.n_grad_floats;
    const double frozen = (double)r->v.params.n_floats - trainable +
                          (r->lm_only ? 0.0 : (double)r->v.enc.params.n_floats);
    if (r->cut)
        fprintf(stderr, "note: %lld training texts were longer than %lld rows and were cut "
                "(--text-len)\n", (long long)r->cut, (long long)r->T);
    if (r->a.json) {
        printf("{\"stage\": \"%s\", \"steps\": %lld, \"loss_start\": %.6f, \"loss_end\": %.6f, "
               "\"trainable\": %.0f, \"frozen\": %.0f, \"texts_cut\": %lld, \"file\": ",
               r->lm_only ? "lm" : "text", (long long)n, first, last, trainable, frozen,
               (long long)r->cut);
        json_string(stdout, r->file);
        printf("}\n");
    } else {
        printf("%s: loss %.4f -> %.4f (mean of the first and last tenth of %lld steps); "
               "%.0f trainable, %.0f frozen parameters; saved %s and %s/loss.png\n",
               r->lm_only ? "LM pretraining" : "video-to-text stage", first, last, (long long)n,
               trainable, frozen, r->file, r->out);
    }
}

/* Everything a run needs before its first step, or the dry run's report. */
static int stage_prepare(stage_run *r, const lv_backend *be)
{
    if (r->lm_only) {
        if (load_data(r) < 0 || lm_stage_setup(r) < 0)
            return -1;
        if (r->n_texts == 0)
            return lv_set_error("%s has no caption or summary text to train on", r->a.data);
    } else {
        if (text_stage_setup(r) < 0 || load_data(r) < 0 || pick_target(r) < 0)
            return -1;
    }
    if (text_rows(&r->T, &r->cfg, r->num.text_len) < 0)
        return -1;
    r->tx = (lm_text){ .wp = r->tok, .bpe = r->bpe };
    r->sp = specials_of(r->tx);
    if (!r->lm_only && r->a.prompt) {
        if (pieces_of(&r->prompt, r->tx, r->a.prompt, r->T, 0) < 0)
            return -1;
        if (r->prompt.n + 2 > r->T)
            return usage_error("--prompt '%s' takes %lld tokens, leaving no row of the %lld "
                               "(--text-len) for the text", r->a.prompt,
                               (long long)r->prompt.n, (long long)r->T);
    }
    return stage_build(r, be);
}

/* A dry run: the configuration the run would take and stage_report's figures. The text stage
 * without --encoder sizes --preset's model (with the --lm's lm_* keys when given). */
static int stage_dry_run(const stage_args *a, const stage_numbers *num, int lm_only,
                         const lv_backend *be)
{
    lv_config c;
    lv_tokenizer *tok = NULL;
    int rc;
    if (lm_only) {
        char folder[2048], path[2100];
        if (a->data)
            snprintf(path, sizeof path, "%s/vocab.txt", folder_of(a->data, folder, sizeof folder));
        const char *vocab = a->vocab ? a->vocab : a->data && access(path, R_OK) == 0 ? path
                                                                                      : NULL;
        rc = vocab && !(tok = lv_tokenizer_load(vocab)) ? -1 : 0;
        if (rc == 0)
            rc = lm_stage_config(&c, a, tok ? lv_tokenizer_vocab_size(tok) : 0, vocab);
    } else {
        lm_source lm = { 0 };
        rc = a->lm ? lm_source_read(&lm, a->lm) : 0;
        if (rc == 0)
            rc = bpe_flag_check(a, &lm);
        if (rc == 0 && a->encoder) {
            lv_st_file *f = open_kind(a->encoder, "--encoder", FILE_CONTRASTIVE);
            rc = f ? 0 : -1;
            lv_st_close(f);
        }
        if (rc == 0)
            rc = text_stage_config(&c, a, a->lm ? &lm : NULL);
        if (rc == 0 && a->encoder && a->lm)      /* the run's vocabulary checks, too */
            rc = text_stage_vocab(&c, a, lm.tok, NULL);
        if (rc == 0 && a->encoder && lm.gpt2) {
            lv_bpe *bpe = bpe_for(a, &lm);
            rc = bpe ? 0 : -1;
            lv_bpe_free(bpe);
        }
        lm_source_free(&lm);
    }
    lv_tokenizer_free(tok);
    int64_t T;
    if (rc < 0 || text_rows(&T, &c, num->text_len) < 0)
        return -1;
    if (!a->json) {
        char text[8192];
        lv_config_format(&c, text, sizeof text);
        printf("configuration\n%s", text);
    }
    return stage_report(&c, be, lm_only, num->batch, T, a->json);
}

int cmd_train_text(int argc, char **argv)
{
    static stage_run r;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return stage_usage(stdout);
    int rc = stage_parse(&r.a, argc, argv);
    const int bad_line = rc < 0;
    if (rc == 0 && (!r.a.stage || (strcmp(r.a.stage, "lm") && strcmp(r.a.stage, "text"))))
        rc = usage_error("--stage %s: give lm (the decoder LM's pretraining) or text (the "
                         "video-to-text stage); contrastive training is train without --stage",
                         r.a.stage ? r.a.stage : "(none)");
    r.lm_only = rc == 0 && !strcmp(r.a.stage, "lm");
    if (rc == 0 && r.lm_only && (r.a.encoder || r.a.lm || r.a.target || r.a.prompt || r.a.bpe))
        rc = usage_error("%s belongs to --stage text; the LM's pretraining reads text only",
                         r.a.encoder ? "--encoder" : r.a.lm ? "--lm" : r.a.target ? "--target"
                         : r.a.prompt ? "--prompt" : "--bpe");
    if (rc == 0)
        rc = stage_numbers_read(&r.num, &r.a, !r.lm_only);
    const lv_backend *be = rc == 0 ? backend_by_name(r.a.backend ? r.a.backend : "cpu") : NULL;
    if (rc == 0 && !be)
        rc = usage_error("%s", lv_error());
    if (rc == 0 && r.a.dry_run) {
        rc = stage_dry_run(&r.a, &r.num, r.lm_only, be);
    } else if (rc == 0) {
        snprintf(r.out, sizeof r.out, "%s", r.a.out ? r.a.out : "run");
        snprintf(r.file, sizeof r.file, "%s/%s", r.out, r.lm_only ? "lm.safetensors"
                                                                  : "v2t.safetensors");
        rc = stage_prepare(&r, be);
        if (rc == 0)
            rc = stage_train(&r);
        if (rc == 0)
            stage_summary(&r);
    }
    if (rc < 0)
        fprintf(stderr, "longvivit train: %s\n", lv_error());
    if (bad_line)
        stage_usage(stderr);
    stage_run_free(&r);
    return exit_code(rc);
}

/* ==== memory --stage ============================================================================ */

int cmd_memory_text(int argc, char **argv)
{
    stage_args a = { 0 };
    stage_numbers num;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: longvivit memory --stage lm|text [--preset P] [--set key=value ...]\n"
                   "           [--encoder CKPT] [--lm LM] [--batch B] [--text-len T]\n"
                   "           [--backend NAME] [--json]\n"
                   "The video-to-text stage's parameters (trainable and frozen) and the memory\n"
                   "of one training step, as train --stage ... --dry-run prints them (default\n"
                   "--preset vit-s --batch 1). The parameters are built and the activations\n"
                   "allocated (not touched) to count them.\n");
            return LV_EXIT_OK;
        }
    int rc = stage_parse(&a, argc, argv);
    if (rc == 0 && (!a.stage || (strcmp(a.stage, "lm") && strcmp(a.stage, "text"))))
        rc = usage_error("--stage %s: give lm or text", a.stage ? a.stage : "(none)");
    if (rc == 0 && !a.preset && !a.encoder)
        a.preset = "vit-s";
    if (rc == 0 && !a.batch)
        a.batch = "1";
    if (rc == 0)
        rc = stage_numbers_read(&num, &a, strcmp(a.stage, "lm"));
    const lv_backend *be = rc == 0 ? backend_by_name(a.backend ? a.backend : "cpu") : NULL;
    if (rc == 0 && !be)
        rc = usage_error("%s", lv_error());
    if (rc == 0) {
        if (!a.json)
            printf("video-to-text stage %s\n", a.stage);
        rc = stage_dry_run(&a, &num, !strcmp(a.stage, "lm"), be);
    }
    if (rc < 0)
        fprintf(stderr, "longvivit memory: %s\n", lv_error());
    return exit_code(rc);
}

/* ==== a trained stage: caption and eval --v2t ==================================================== */

typedef struct {
    lv_v2t v;
    lv_config cfg;
    lv_tokenizer *tok;           /* the LM's WordPiece vocabulary, or NULL */
    lv_bpe *bpe;                 /* or a GPT-2 LM's BPE (the file's "tokenizer" says which) */
    lm_text tx;
    specials sp;
    pieces prompt;               /* the prompt's pieces (without [CLS]) */
    int32_t *prompt_ids;         /* (1 + prompt.n) [CLS] and the prompt: generation's start */
    int target_summary;
    int64_t text_len;            /* the training rows; the default length of what is written */
    int blind;                   /* every gate closed: the frozen LM alone */
} v2t_model;

/* Closes every cross-attention gate: the model is then the frozen LM exactly (the cross-attention
 * layers add exact zeros; tests/check_v2t.c), which never reads the video. */
static void v2t_model_blind(v2t_model *m)
{
    const lv_v2t *v = &m->v;
    for (int64_t j = 0; j < v->n_xattn; j++) {
        v->be->set(lv_param_data(&v->params, v->xa[j].attn_gate), 0.0f, 1);
        v->be->set(lv_param_data(&v->params, v->xa[j].ff_gate), 0.0f, 1);
    }
    m->blind = 1;
}

static void v2t_model_free(v2t_model *m)
{
    lv_v2t_free(&m->v);
    lv_tokenizer_free(m->tok);
    lv_bpe_free(m->bpe);
    free(m->prompt.id);
    free(m->prompt_ids);
}

/* The LM's text of a v2t file f (path): its "tokenizer" says which (none: WordPiece, as files
 * written before GPT-2 LMs were), then the stored WordPiece vocabulary ("vocab", one token per
 * `vocab` of the configuration) or GPT-2's two files (one token per lm_vocab). */
static int v2t_model_text(v2t_model *m, lv_st_file *f, const char *path)
{
    const char *kind = lv_st_meta(f, "tokenizer");
    char origin[2200], merges[2200];
    if (!kind || !strcmp(kind, TOKENIZER_WORDPIECE)) {
        const char *vocab = lv_st_meta(f, "vocab");
        snprintf(origin, sizeof origin, "%s (its stored vocabulary)", path);
        if (!vocab)
            return lv_set_error("%s: its metadata lacks the vocabulary: the file is damaged; use "
                                "the v2t.safetensors that train --stage text wrote", path);
        if (!(m->tok = lv_tokenizer_from_text(vocab, origin)))
            return -1;
        if (lv_tokenizer_vocab_size(m->tok) != m->cfg.vocab)
            return lv_set_error("%s: its vocabulary has %lld tokens but its configuration %lld: "
                                "the file is damaged", path,
                                (long long)lv_tokenizer_vocab_size(m->tok),
                                (long long)m->cfg.vocab);
        if (lv_config_lm_vocab(&m->cfg) != m->cfg.vocab)     /* a GPT-2 stage's, cut short */
            return lv_set_error("%s: its LM has %lld tokens (lm_vocab) but its WordPiece "
                                "vocabulary %lld, and no \"tokenizer\" names another: the file "
                                "is damaged", path, (long long)lv_config_lm_vocab(&m->cfg),
                                (long long)m->cfg.vocab);
        m->tx = (lm_text){ .wp = m->tok };
        return 0;
    }
    if (strcmp(kind, TOKENIZER_BPE))
        return lv_set_error("%s: its LM's tokenizer is '%s', which this longvivit does not read "
                            "(it reads %s and %s): a newer longvivit wrote it", path, kind,
                            TOKENIZER_WORDPIECE, TOKENIZER_BPE);
    const char *vocab = lv_st_meta(f, "bpe_vocab_json"), *merge = lv_st_meta(f, "bpe_merges_txt");
    if (!vocab || !merge)
        return lv_set_error("%s: its LM reads GPT-2's BPE, but its metadata lacks %s: the file is "
                            "damaged; use the v2t.safetensors that train --stage text wrote",
                            path, vocab ? "bpe_merges_txt" : "bpe_vocab_json");
    snprintf(origin, sizeof origin, "%s (its stored vocab.json)", path);
    snprintf(merges, sizeof merges, "%s (its stored merges.txt)", path);
    if (!(m->bpe = lv_bpe_from_text(vocab, merge, origin, merges)))
        return -1;
    if (lv_bpe_vocab_size(m->bpe) != lv_config_lm_vocab(&m->cfg) || lv_bpe_eot(m->bpe) < 0)
        return lv_set_error("%s: its GPT-2 tokenizer has %lld tokens%s for an LM of lm_vocab=%lld: "
                            "the file is damaged", path, (long long)lv_bpe_vocab_size(m->bpe),
                            lv_bpe_eot(m->bpe) < 0 ? " and no <|endoftext|>" : "",
                            (long long)lv_config_lm_vocab(&m->cfg));
    m->tx = (lm_text){ .bpe = m->bpe };
    return 0;
}

/* A v2t.safetensors file (flag names the option that gave it) into m, on backend `backend`. */
static int v2t_model_open(v2t_model *m, const char *path, const char *flag, const char *backend)
{
    const lv_backend *be = backend_by_name(backend ? backend : "cpu");
    if (!be)
        return usage_error("%s", lv_error());
    lv_st_file *f = open_kind(path, flag, FILE_V2T);
    if (!f)
        return -1;
    const char *rows = lv_st_meta(f, "text_len");
    const char *prompt = lv_st_meta(f, "prompt"), *target = lv_st_meta(f, "target");
    char *end = NULL;
    int rc = config_from_text(&m->cfg, lv_st_meta(f, "config"), path);
    m->text_len = rows ? strtoll(rows, &end, 10) : 0;
    if (rc == 0 && (!prompt || !target || !rows || *end || m->text_len < 2 ||
                    m->text_len > m->cfg.lm_ctx))
        rc = lv_set_error("%s: its metadata lacks the prompt, the target or the text rows: the "
                          "file is damaged; use the v2t.safetensors that train --stage text "
                          "wrote", path);
    if (rc == 0)
        rc = v2t_model_text(m, f, path);
    if (rc == 0)
        rc = lv_v2t_build(&m->v, &m->cfg, be, 0);
    if (rc == 0)
        rc = load_tensors(&m->v.enc.params, f, path, "video.");
    if (rc == 0)
        rc = load_tensors(&m->v.params, f, path, "");
    if (rc == 0) {
        m->sp = specials_of(m->tx);
        m->target_summary = !strcmp(target, "summary");
        rc = pieces_of(&m->prompt, m->tx, prompt, m->text_len, 0);
    }
    if (rc == 0 && (m->prompt_ids = lv_malloc((size_t)(m->prompt.n + 1) * sizeof(int32_t),
                                              "the prompt"))) {
        m->prompt_ids[0] = m->sp.cls;
        if (m->prompt.n > 0)                      /* no prompt words: maybe no array */
            memcpy(m->prompt_ids + 1, m->prompt.id, (size_t)m->prompt.n * sizeof(int32_t));
    } else if (rc == 0) {
        rc = -1;
    }
    lv_st_close(f);
    return rc;
}

/* Activations for `batch` samples and the rows that --max-new needs (*max_new 0: the training
 * rows' worth). */
static int v2t_model_alloc(v2t_model *m, int64_t batch, int64_t *max_new)
{
    const int64_t n_prompt = m->prompt.n + 1;
    if (*max_new == 0)
        *max_new = m->text_len - n_prompt + 1;
    const int64_t T = max64(m->text_len, n_prompt + *max_new - 1);
    if (T > m->cfg.lm_ctx)
        return usage_error("--max-new %lld: with the prompt's %lld tokens that needs %lld rows, "
                           "but the LM has %lld positions (lm_ctx); give at most %lld",
                           (long long)*max_new, (long long)n_prompt, (long long)T,
                           (long long)m->cfg.lm_ctx, (long long)(m->cfg.lm_ctx - n_prompt + 1));
    return lv_v2t_alloc_acts(&m->v, batch, T);
}

/* The text the model writes about one video (F, S, S, 3): malloc'd into *text. */
static int v2t_write(v2t_model *m, const float *video, const lv_v2t_decode *d, char **text)
{
    int32_t *out = lv_malloc((size_t)d->max_new * sizeof *out, "the generated ids");
    if (!out)
        return -1;
    const int64_t n = lv_v2t_generate(&m->v, video, m->prompt_ids, m->prompt.n + 1, d, out);
    *text = n < 0 ? NULL : text_of(m->tx, out, n);
    free(out);
    return *text ? 0 : -1;
}

/* --beam and --max-new, strictly. */
static int decode_options(const char *beam, const char *max_new, int64_t *k, int64_t *n)
{
    long long x;
    if (lv_opt_int("--beam", beam ? beam : "1", 1, 64, &x) < 0)
        return usage_error("%s", lv_error());
    *k = x;
    if (lv_opt_int("--max-new", max_new ? max_new : "0", max_new ? 1 : 0, 1 << 20, &x) < 0)
        return usage_error("%s", lv_error());
    *n = x;
    return 0;
}

int cmd_caption(int argc, char **argv)
{
    const char *ckpt = NULL, *beam = NULL, *max_new = NULL, *backend = NULL;
    const char **videos = lv_calloc((size_t)argc, sizeof *videos, "the video list");
    int64_t n = 0;
    int json = 0, rc = videos ? 0 : -1;
    for (int i = 1; rc == 0 && i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            printf("usage: longvivit caption --ckpt V2T [--beam N] [--max-new N] [--backend NAME]\n"
                   "           [--json] VIDEO...\n"
                   "Writes the text a video-to-text model (the v2t.safetensors of train --stage\n"
                   "text) generates for each video: its first frames at 1 FPS as in training,\n"
                   "v2t_mask_ratio of the tokens dropped, then beam search from [CLS] and the\n"
                   "model's prompt (--beam 1: greedy) until [SEP] or --max-new tokens (default:\n"
                   "the training text rows), WordPiece joined back into words; a model on a GPT-2\n"
                   "LM starts from <|endoftext|> and the prompt, stops at <|endoftext|> and\n"
                   "decodes GPT-2's byte-level BPE. --json prints\n"
                   "{\"captions\": [{\"video\", \"text\"}, ...]}.\n");
            free(videos);
            return LV_EXIT_OK;
        }
        if (!strcmp(f, "--json"))
            json = 1;
        else if (!strncmp(f, "--", 2) && !v)
            rc = usage_error("'%s' needs a value", f);
        else if (!strcmp(f, "--ckpt"))
            ckpt = argv[++i];
        else if (!strcmp(f, "--beam"))
            beam = argv[++i];
        else if (!strcmp(f, "--max-new"))
            max_new = argv[++i];
        else if (!strcmp(f, "--backend"))
            backend = argv[++i];
        else if (!strncmp(f, "--", 2))
            rc = usage_error("unknown option '%s'", f);
        else
            videos[n++] = f;
    }
    if (rc == 0 && (!ckpt || n == 0))
        rc = usage_error("--ckpt V2T and at least one VIDEO are required");
    int64_t k = 1, max = 0;
    if (rc == 0)
        rc = decode_options(beam, max_new, &k, &max);
    v2t_model m = { 0 };
    float *video = NULL, *scratch = NULL;
    int64_t scratch_floats = 0;
    if (rc == 0)
        rc = v2t_model_open(&m, ckpt, "--ckpt", backend);
    if (rc == 0)
        rc = v2t_model_alloc(&m, k, &max);
    const int64_t per = m.cfg.frames * m.cfg.image_size * m.cfg.image_size * 3;
    if (rc == 0 && !(video = lv_malloc((size_t)per * sizeof *video, "a video")))
        rc = -1;
    const lv_v2t_decode d = { .max_new = max, .beam = k, .eos = m.sp.sep };
    if (rc == 0 && json)
        printf("{\"captions\": [");
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        char *text = NULL;
        rc = eval_load_video(video, videos[i], 0, 0, &m.cfg, &scratch, &scratch_floats);
        if (rc == 0)
            rc = v2t_write(&m, video, &d, &text);
        if (rc == 0 && json) {
            printf("%s{\"video\": ", i ? ", " : "");
            json_string(stdout, videos[i]);
            printf(", \"text\": ");
            json_string(stdout, text);
            printf("}");
        } else if (rc == 0) {
            printf("%s: %s\n", videos[i], text);
        }
        free(text);
    }
    if (rc == 0 && json)
        printf("]}\n");
    if (rc < 0)
        fprintf(stderr, "longvivit caption: %s\n", lv_error());
    v2t_model_free(&m);
    free(video);
    free(scratch);
    free(videos);
    return exit_code(rc);
}

/* ---- eval --v2t: words for the metrics ------------------------------------------------------- */

/* Distinct words to ids (open addressing on FNV-1a): the metrics only compare ids. */
typedef struct {
    char **key;                  /* (cap) NULL: empty slot */
    int32_t *val;                /* (cap) */
    int64_t cap, n;
} word_dict;

static uint64_t fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int dict_grow(word_dict *d)
{
    const int64_t cap = d->cap ? 2 * d->cap : 1024;
    char **key = lv_calloc((size_t)cap, sizeof *key, "the word table");
    int32_t *val = lv_calloc((size_t)cap, sizeof *val, "the word table");
    if (!key || !val) {
        free(key);
        free(val);
        return -1;
    }
    for (int64_t i = 0; i < d->cap; i++) {
        if (!d->key[i])
            continue;
        uint64_t h = fnv(d->key[i]) % (uint64_t)cap;
        while (key[h])
            h = (h + 1) % (uint64_t)cap;
        key[h] = d->key[i];
        val[h] = d->val[i];
    }
    free(d->key);
    free(d->val);
    d->key = key;
    d->val = val;
    d->cap = cap;
    return 0;
}

static int32_t dict_id(word_dict *d, const char *word)
{
    if (2 * (d->n + 1) > d->cap && dict_grow(d) < 0)
        return -1;
    uint64_t h = fnv(word) % (uint64_t)d->cap;
    while (d->key[h] && strcmp(d->key[h], word))
        h = (h + 1) % (uint64_t)d->cap;
    if (!d->key[h]) {
        if (!(d->key[h] = strdup(word)))
            return lv_set_error("out of memory in the word table");
        d->val[h] = (int32_t)d->n++;
    }
    return d->val[h];
}

static void dict_free(word_dict *d)
{
    for (int64_t i = 0; i < d->cap; i++)
        free(d->key[i]);
    free(d->key);
    free(d->val);
}

/* Every text's word ids in one array: text i is [start[i], start[i + 1]). */
typedef struct {
    word_dict dict;
    int32_t *id;
    int64_t n, cap;
    int64_t *start;              /* (texts + 1) */
    int64_t texts, texts_cap;
} word_store;

static int store_word(void *ctx, const char *word, int64_t bytes)
{
    word_store *s = ctx;
    int punct = 1;               /* coco-caption drops punctuation tokens: all-ASCII-punct words */
    for (int64_t i = 0; i < bytes && punct; i++)
        punct = (unsigned char)word[i] < 0x80 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
                                                        word[i]) != NULL;
    if (punct)
        return 0;
    if (s->n == s->cap) {
        const int64_t cap = s->cap ? 2 * s->cap : 4096;
        int32_t *id = realloc(s->id, (size_t)cap * sizeof *id);
        if (!id)
            return lv_set_error("out of memory storing words");
        s->id = id;
        s->cap = cap;
    }
    const int32_t id = dict_id(&s->dict, word);
    if (id < 0)
        return -1;
    s->id[s->n++] = id;
    return 0;
}

/* Adds text's words (the tokenizer's basic step: lower-cased, accents stripped, punctuation
 * split off, then dropped); returns the text's index. */
static int64_t store_text(word_store *s, const char *text)
{
    if (s->texts + 2 > s->texts_cap) {
        const int64_t cap = s->texts_cap ? 2 * s->texts_cap : 256;
        int64_t *start = realloc(s->start, (size_t)cap * sizeof *start);
        if (!start)
            return lv_set_error("out of memory storing texts");
        s->start = start;
        s->texts_cap = cap;
    }
    if (s->texts == 0)
        s->start[0] = 0;
    if (lv_tokenizer_words(text, store_word, s) != 0)
        return -1;
    s->start[++s->texts] = s->n;
    return s->texts - 1;
}

static lv_text store_get(const word_store *s, int64_t i)
{
    return (lv_text){ .ids = s->id + s->start[i], .n = s->start[i + 1] - s->start[i] };
}

static void store_free(word_store *s)
{
    dict_free(&s->dict);
    free(s->id);
    free(s->start);
}

/* ---- eval --v2t: the samples ------------------------------------------------------------------ */

/* Clips with the same file, start and end are one video with several references. */
static const lv_clip_list *sort_clips;

static int clip_cmp(const void *pa, const void *pb)
{
    const int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    const lv_clip_entry *x = &sort_clips->e[a], *y = &sort_clips->e[b];
    int c = strcmp(x->video, y->video);
    if (!c)
        c = (x->start > y->start) - (x->start < y->start);
    if (!c)
        c = (x->end > y->end) - (x->end < y->end);
    return c ? c : (a > b) - (a < b);
}

/* order (n): the clips sorted so that each video's clips are one run, runs in the order of
 * their first clip; first (groups + 1): each run's start. Returns the number of runs. */
static int64_t clip_groups(const lv_clip_list *clips, int64_t *order, int64_t *first)
{
    for (int64_t i = 0; i < clips->n; i++)
        order[i] = i;
    sort_clips = clips;
    qsort(order, (size_t)clips->n, sizeof *order, clip_cmp);
    int64_t g = 0;
    for (int64_t i = 0; i < clips->n; i++) {
        const lv_clip_entry *x = &clips->e[order[i]], *y = i ? &clips->e[order[i - 1]] : NULL;
        if (!y || strcmp(x->video, y->video) || x->start != y->start || x->end != y->end)
            first[g++] = i;
    }
    first[g] = clips->n;
    return g;
}

typedef struct {
    const char *v2t, *data, *qa, *beam, *max_new, *backend, *examples;
    int json, blind;
} eval_text_args;

#define QA_KINDS 16              /* question kinds counted apart (the rest go in the last) */

typedef struct {
    int64_t videos, shown;
    double rouge, cider, bleu;
    int64_t qa_n, qa_right;
    char qa_kind[QA_KINDS][32];  /* a question's kind: its id after the last '-' (synth's
                                  * "v0192-after": after), "" without one */
    int64_t qa_kind_n[QA_KINDS], qa_kind_right[QA_KINDS], n_kinds;
    char **generated;            /* (videos) */
    int64_t *clip;               /* (videos) a clip of each video (its first) */
} eval_text_result;

/* The slot of the question kind named by id (after its last '-'), a new one while there is
 * room, else the last ("other"). */
static int64_t qa_kind_of(eval_text_result *r, const char *id)
{
    const char *dash = id ? strrchr(id, '-') : NULL;
    char kind[32];
    snprintf(kind, sizeof kind, "%s", dash && dash[1] ? dash + 1 : "");
    for (int64_t k = 0; k < r->n_kinds; k++)
        if (!strcmp(r->qa_kind[k], kind))
            return k;
    if (r->n_kinds == QA_KINDS - 1)
        snprintf(kind, sizeof kind, "other");
    if (r->n_kinds == QA_KINDS)
        return QA_KINDS - 1;
    snprintf(r->qa_kind[r->n_kinds], sizeof r->qa_kind[0], "%s", kind);
    return r->n_kinds++;
}

/* The reference a clip gives: its summary or its caption (the model's target). */
static const char *clip_reference(const lv_clip_entry *e, int summary)
{
    return summary ? e->summary : e->caption;
}

/* Generates for every video of the manifest and scores against its clips' references. */
static int eval_generate(eval_text_result *res, v2t_model *m, const lv_clip_list *clips,
                         const lv_v2t_decode *d, float *video, float **scratch, int64_t *sf)
{
    int64_t *order = lv_malloc((size_t)clips->n * sizeof *order, "the clip order");
    int64_t *first = lv_malloc((size_t)(clips->n + 1) * sizeof *first, "the clip groups");
    lv_text_sample *samples = lv_calloc((size_t)clips->n, sizeof *samples, "the samples");
    lv_text *refs = lv_calloc((size_t)clips->n, sizeof *refs, "the references");
    int64_t *cand = lv_calloc((size_t)clips->n, sizeof *cand, "the candidates");
    res->generated = lv_calloc((size_t)clips->n, sizeof *res->generated, "the texts");
    res->clip = lv_calloc((size_t)clips->n, sizeof *res->clip, "the texts");
    word_store ws = { 0 };
    int rc = order && first && samples && refs && cand && res->generated && res->clip ? 0 : -1;
    const int64_t G = rc == 0 ? clip_groups(clips, order, first) : 0;
    int64_t *ref_text = lv_calloc((size_t)clips->n, sizeof *ref_text, "the references");
    rc = ref_text ? rc : -1;
    for (int64_t g = 0; rc == 0 && g < G; g++) {
        const lv_clip_entry *e = &clips->e[order[first[g]]];
        res->clip[g] = order[first[g]];
        rc = eval_load_video(video, e->video, e->start, e->end, &m->cfg, scratch, sf);
        if (rc == 0)
            rc = v2t_write(m, video, d, &res->generated[g]);
        if (rc == 0)
            rc = (cand[g] = store_text(&ws, res->generated[g])) < 0 ? -1 : 0;
        for (int64_t i = first[g]; rc == 0 && i < first[g + 1]; i++)
            rc = (ref_text[i] = store_text(&ws, clip_reference(&clips->e[order[i]],
                                                               m->target_summary))) < 0 ? -1 : 0;
        res->videos = g + 1;
        progress_report("generating", (long long)g + 1, (long long)G);
    }
    for (int64_t g = 0; rc == 0 && g < G; g++) {    /* the store no longer moves */
        for (int64_t i = first[g]; i < first[g + 1]; i++)
            refs[i] = store_get(&ws, ref_text[i]);
        samples[g] = (lv_text_sample){ .candidate = store_get(&ws, cand[g]),
                                       .refs = refs + first[g], .n_refs = first[g + 1] - first[g] };
    }
    lv_bleu bleu;
    if (rc == 0)
        rc = lv_rouge_l(&res->rouge, NULL, samples, G) < 0 || lv_cider_d(&res->cider, NULL,
             samples, G) < 0 || lv_bleu_corpus(&bleu, samples, G) < 0 ? -1 : 0;
    res->bleu = rc == 0 ? bleu.bleu : NAN;
    free(order);
    free(first);
    free(samples);
    free(refs);
    free(cand);
    free(ref_text);
    store_free(&ws);
    return rc;
}

/* One question: its video once through the encoder, then each option's log-likelihood given
 * the video and [CLS] prompt question (the question cut short when it does not fit, never the
 * option): the targets are the option's tokens and its [SEP]. The options are scored in batches
 * of the activations' size, the media repeated to each batch's samples. */
static int eval_question(v2t_model *m, const lv_mcq_entry *q, const float *video, int *right)
{
    const int64_t T = m->v.T;
    int32_t *ids = lv_malloc((size_t)(QA_OPTIONS * T) * sizeof *ids, "the options");
    int32_t *targets = lv_malloc((size_t)(QA_OPTIONS * T) * sizeof *targets, "the options");
    uint8_t *valid = lv_malloc((size_t)(QA_OPTIONS * T), "the options");
    pieces question = { 0 }, ctx = { 0 };
    const lv_v2t_batch vb = { .B = 1, .T = T, .video = video };
    int rc = ids && targets && valid ? 0 : -1;
    if (rc == 0 && (lv_v2t_encode(&m->v, &vb) < 0 ||
                    pieces_of(&question, m->tx, q->question, T, m->prompt.n > 0) < 0))
        rc = -1;
    const int64_t chunk = min64(m->v.B, QA_OPTIONS);
    if (rc == 0)
        lv_v2t_repeat_media(&m->v, chunk);
    if (rc == 0 && !(ctx.id = lv_malloc((size_t)(m->prompt.n + question.n + 1) * sizeof *ctx.id,
                                        "a question")))
        rc = -1;
    for (int k = 0; rc == 0 && k < QA_OPTIONS; k++) {
        pieces option;
        if ((rc = pieces_of(&option, m->tx, q->options[k], T,
                            m->prompt.n + question.n > 0)) < 0)
            break;
        const int64_t room = max64(0, T - 2 - m->prompt.n - option.n);
        ctx.n = m->prompt.n + min64(question.n, room);
        if (m->prompt.n > 0)
            memcpy(ctx.id, m->prompt.id, (size_t)m->prompt.n * sizeof *ctx.id);
        if (ctx.n > m->prompt.n)
            memcpy(ctx.id + m->prompt.n, question.id,
                   (size_t)(ctx.n - m->prompt.n) * sizeof *ctx.id);
        sequence_make(ids + k * T, targets + k * T, valid + k * T, T, &ctx, &option, m->sp);
        free(option.id);
    }
    double score[QA_OPTIONS];
    for (int64_t k = 0; rc == 0 && k < QA_OPTIONS; k += chunk) {
        const lv_v2t_batch b = { .B = min64(chunk, QA_OPTIONS - k), .T = T, .ids = ids + k * T,
                                 .targets = targets + k * T, .valid = valid + k * T };
        lv_v2t_score(&m->v, &b, score + k);
    }
    if (rc == 0) {
        int best = 0, tied = 0;
        for (int k = 1; k < QA_OPTIONS; k++) {
            tied = score[k] == score[best] ? 1 : score[k] > score[best] ? 0 : tied;
            best = score[k] > score[best] ? k : best;
        }
        *right = !tied && best == q->answer;     /* a tie is wrong, as eval --mcq counts it */
    }
    free(question.id);
    free(ctx.id);
    free(ids);
    free(targets);
    free(valid);
    return rc;
}

static int eval_questions(eval_text_result *res, v2t_model *m, const lv_mcq_list *q,
                          float *video, float **scratch, int64_t *sf)
{
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < q->n; i++) {
        if (q->e[i].answer < 0)
            continue;
        int right = 0;
        rc = eval_load_video(video, q->e[i].video, 0, 0, &m->cfg, scratch, sf);
        if (rc == 0)
            rc = eval_question(m, &q->e[i], video, &right);
        res->qa_n++;
        res->qa_right += right;
        const int64_t kind = qa_kind_of(res, q->e[i].id);
        res->qa_kind_n[kind]++;
        res->qa_kind_right[kind] += right;
        progress_report("questions", (long long)i + 1, (long long)q->n);
    }
    return rc;
}

static void eval_text_print(const eval_text_result *r, const v2t_model *m,
                            const lv_clip_list *clips, int json)
{
    const char *what = m->target_summary ? "summary" : "caption";
    const char *whats = m->target_summary ? "summaries" : "captions";
    const double acc = r->qa_n ? (double)r->qa_right / (double)r->qa_n : NAN;
    if (json) {
        printf("{\"target\": \"%s\", \"videos\": %lld, ", what, (long long)r->videos);
        if (r->videos)
            printf("\"rouge_l\": %.6f, \"cider_d\": %.6f, \"bleu4\": %.6f, ", r->rouge, r->cider,
                   r->bleu);
        else
            printf("\"rouge_l\": null, \"cider_d\": null, \"bleu4\": null, ");
        printf("\"qa_questions\": %lld, \"qa_accuracy\": ", (long long)r->qa_n);
        if (r->qa_n)
            printf("%.6f", acc);
        else
            printf("null");
        printf(", \"qa_chance\": 0.2, \"qa_by_kind\": {");
        for (int64_t k = 0; k < r->n_kinds; k++) {
            printf("%s", k ? ", " : "");
            json_string(stdout, r->qa_kind[k]);
            printf(": {\"questions\": %lld, \"accuracy\": %.6f}", (long long)r->qa_kind_n[k],
                   (double)r->qa_kind_right[k] / (double)r->qa_kind_n[k]);
        }
        printf("}, \"blind\": %s, \"examples\": [", m->blind ? "true" : "false");
        for (int64_t i = 0; i < r->videos && i < r->shown; i++) {
            const lv_clip_entry *e = &clips->e[r->clip[i]];
            printf("%s{\"video\": ", i ? ", " : "");
            json_string(stdout, e->video);
            printf(", \"generated\": ");
            json_string(stdout, r->generated[i]);
            printf(", \"reference\": ");
            json_string(stdout, clip_reference(e, m->target_summary));
            printf("}");
        }
        printf("]}\n");
        return;
    }
    if (r->videos) {
        printf("generated %s of %lld videos against their references:\n", whats,
               (long long)r->videos);
        printf("  ROUGE-L %.4f  CIDEr-D %.4f  BLEU-4 %.4f\n", r->rouge, r->cider, r->bleu);
        for (int64_t i = 0; i < r->videos && i < r->shown; i++) {
            const lv_clip_entry *e = &clips->e[r->clip[i]];
            printf("  %s\n    generated: %s\n    truth:     %s\n", e->video, r->generated[i],
                   clip_reference(e, m->target_summary));
        }
    }
    if (r->qa_n) {
        printf("QA accuracy %.1f%% (%lld questions, %lld right; chance 20.0%%)\n", 100.0 * acc,
               (long long)r->qa_n, (long long)r->qa_right);
        for (int64_t k = 0; r->n_kinds > 1 && k < r->n_kinds; k++)
            printf("  %-12s %5.1f%% of %lld\n", r->qa_kind[k][0] ? r->qa_kind[k] : "(no id)",
                   100.0 * (double)r->qa_kind_right[k] / (double)r->qa_kind_n[k],
                   (long long)r->qa_kind_n[k]);
    }
    if (m->blind)
        printf("(--blind: every gate closed, the frozen LM alone: the video is not used)\n");
}

static int eval_text_parse(eval_text_args *a, int argc, char **argv)
{
    static const char *const keys[] = { "--v2t", "--data", "--qa", "--beam", "--max-new",
                                        "--backend", "--examples" };
    const char **slots[] = { &a->v2t, &a->data, &a->qa, &a->beam, &a->max_new, &a->backend,
                             &a->examples };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--blind")) {
            *(argv[i][2] == 'j' ? &a->json : &a->blind) = 1;
            continue;
        }
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(argv[i], keys[k]))
            k++;
        if (k == sizeof keys / sizeof keys[0] || i + 1 >= argc)
            return usage_error("'%s' %s (eval --v2t takes --data, --qa, --beam, --max-new, "
                               "--examples, --backend, --blind, --json)", argv[i],
                               k < sizeof keys / sizeof keys[0] ? "needs a value"
                                                                : "is not an option here");
        *slots[k] = argv[++i];
    }
    if (!a->data && !a->qa)
        return usage_error("eval --v2t needs --data MANIFEST (generated text against its "
                           "references) or --qa QA.jsonl (questions), or both");
    return 0;
}

/* Every clip of the manifest must hold the reference the model writes. */
static int check_references(const lv_clip_list *clips, const v2t_model *m, const char *path)
{
    for (int64_t i = 0; i < clips->n; i++)
        if (!clip_reference(&clips->e[i], m->target_summary))
            return lv_set_error("%s: clip %lld (%s) has no \"summary\", the text this model was "
                                "trained to write (train --stage text --target summary); give "
                                "a manifest with summaries", path, (long long)i + 1,
                                clips->e[i].video);
    return clips->n ? 0 : lv_set_error("%s lists no clips: nothing to evaluate", path);
}

int cmd_eval_text(int argc, char **argv)
{
    eval_text_args a = { 0 };
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: longvivit eval --v2t V2T [--data MANIFEST] [--qa QA.jsonl] [--beam N]\n"
                   "           [--max-new N] [--examples N] [--backend NAME] [--blind] [--json]\n"
                   "A video-to-text model (train --stage text's v2t.safetensors) writes its text\n"
                   "for every video of MANIFEST (clips of one file, start and end are one video\n"
                   "with several references), scored against the clips' summaries or captions\n"
                   "(what it was trained on) by ROUGE-L, CIDEr-D and corpus BLEU-4 over words\n"
                   "(the tokenizer's basic step: lower-cased, punctuation dropped;\n"
                   "docs/metrics.md); --examples N (3) shows N beside their truth. --qa scores\n"
                   "multiple-choice questions (mcq.jsonl's format, synth's qa.jsonl) by the\n"
                   "log-likelihood of each option given the video and the question; a tie is\n"
                   "wrong; chance is 20%%; questions whose ids end in -KIND are also counted per\n"
                   "kind. --blind closes every gate: the frozen LM alone, which never sees the\n"
                   "video (bit for bit), the floor a model that ignores the video reaches.\n"
                   "A model on a GPT-2 LM reads and writes GPT-2's byte-level BPE (stored in it).\n");
            return LV_EXIT_OK;
        }
    int64_t k = 1, max = 0, shown = 3;
    long long x = 3;
    int rc = eval_text_parse(&a, argc, argv);
    if (rc == 0)
        rc = decode_options(a.beam, a.max_new, &k, &max);
    if (rc == 0 && lv_opt_int("--examples", a.examples ? a.examples : "3", 0, 1 << 20, &x) < 0)
        rc = usage_error("%s", lv_error());
    shown = x;
    v2t_model m = { 0 };
    lv_clip_list clips = { 0 };
    lv_mcq_list q = { 0 };
    eval_text_result res = { .shown = shown };
    float *video = NULL, *scratch = NULL;
    int64_t sf = 0;
    if (rc == 0)
        rc = v2t_model_open(&m, a.v2t, "--v2t", a.backend);
    if (rc == 0 && a.blind)
        v2t_model_blind(&m);
    if (rc == 0 && a.data)
        rc = lv_manifest_load(&clips, a.data, 1) < 0 ? -1 : check_references(&clips, &m, a.data);
    if (rc == 0 && a.qa && lv_mcq_load(&q, a.qa, 1) < 0)
        rc = -1;
    if (rc == 0)
        rc = v2t_model_alloc(&m, k, &max);
    const int64_t per = m.cfg.frames * m.cfg.image_size * m.cfg.image_size * 3;
    if (rc == 0 && !(video = lv_malloc((size_t)per * sizeof *video, "a video")))
        rc = -1;
    const lv_v2t_decode d = { .max_new = max, .beam = k, .eos = m.sp.sep };
    if (rc == 0 && a.data)
        rc = eval_generate(&res, &m, &clips, &d, video, &scratch, &sf);
    if (rc == 0 && a.qa)
        rc = eval_questions(&res, &m, &q, video, &scratch, &sf);
    if (rc == 0)
        eval_text_print(&res, &m, &clips, a.json);
    else
        fprintf(stderr, "longvivit eval: %s\n", lv_error());
    for (int64_t i = 0; res.generated && i < clips.n; i++)
        free(res.generated[i]);
    free(res.generated);
    free(res.clip);
    v2t_model_free(&m);
    lv_clip_list_free(&clips);
    lv_mcq_list_free(&q);
    free(video);
    free(scratch);
    return exit_code(rc);
}
