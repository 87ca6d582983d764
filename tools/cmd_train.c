/* `longvivit train`: the contrastive training loop of the paper's two stages. Options become
 * key=value lines stored in every checkpoint, so `--resume` continues the same run bit for bit.
 * Checkpoints are atomic; SIGINT saves and exits; a NaN loss or gradient stops the run without
 * overwriting the last good checkpoint. */
#include "train.h"
#include "checkpoint.h"
#include "clip_init.h"
#include "commands.h"
#include "dist_transport.h"
#include "error.h"
#include "evaluate.h"
#include "loader.h"
#include "model_io.h"
#include "options.h"
#include "plot.h"
#include "preprocess.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_OPTS = 64, OPT_LEN = 256 };

/* The run's options as key=value lines; config keys go to the model configuration. */
typedef struct {
    char kv[MAX_OPTS][OPT_LEN];
    int n;
} options;

static const char *opt_get(const options *o, const char *key, const char *fallback)
{
    const size_t k = strlen(key);
    const char *found = fallback;
    for (int i = 0; i < o->n; i++)        /* the last setting wins */
        if (!strncmp(o->kv[i], key, k) && o->kv[i][k] == '=')
            found = o->kv[i] + k + 1;
    return found;
}

static int opt_set(options *o, const char *key, const char *value)
{
    if (o->n == MAX_OPTS || strlen(key) + strlen(value) + 2 > OPT_LEN)
        return lv_set_error("too many or too long options (%s=%s)", key, value);
    snprintf(o->kv[o->n++], OPT_LEN, "%s=%s", key, value);
    return 0;
}

/* Set by usage_error(): the failure is the command line's (exit 2), not the run's (exit 1). */
static int usage_failed;

/* The ranks of a data-parallel run (mpirun -np N longvivit train ...), or the one process. */
static const lv_dist *dist = &lv_dist_single;

/* Data parallelism's agreement (see agree()): every rank's state at the last agreement, and
 * whether this rank's failure is another rank's (reported there) or shared by all ranks (rank 0
 * reports it once). */
static double *rank_states;          /* (size) */
static int others_failed, all_failed;

/* Every rank calls this at the same points (after setting up, before each step, after each
 * save, at the end): -1 on every rank when any rank's rc is -1, so no rank waits forever in a
 * collective for one that stopped; *sig (when given) becomes the first signal any rank caught,
 * so all stop at the same step. One process: rc itself. */
static int agree(int rc, volatile sig_atomic_t *sig)
{
    if (dist->size == 1)
        return rc;
    const double mine = rc < 0 ? -1.0 - usage_failed : sig ? (double)*sig : 0.0;
    dist->allgather_f64(dist, rank_states, &mine, 1);
    int failed = 0, usage = 0, caught = 0;
    for (int q = 0; q < dist->size; q++) {
        failed += rank_states[q] < 0;
        usage |= rank_states[q] == -2.0;
        if (!caught && rank_states[q] > 0)
            caught = (int)rank_states[q];
    }
    if (sig && caught)
        *sig = caught;
    if (!failed)
        return 0;
    static int decided;                  /* who failed: said at the first failed agreement */
    if (decided)
        return -1;
    decided = 1;
    all_failed = failed == dist->size;
    if (rc == 0) {
        others_failed = 1;
        usage_failed |= usage;
        lv_set_error("another rank stopped the run");
    }
    return -1;
}

/* A line about the run on stderr, from rank 0 only: N ranks say it once. */
static void note(const char *fmt, ...) LV_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
    if (dist->rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

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

/* Options that are training settings (the rest are config keys, given as config.KEY). */
static const char *const train_keys[] = {
    "data", "vocab", "out", "preset", "recipe", "steps", "batch", "micro", "lr", "warmup",
    "wd", "clip", "fps", "save_every", "eval", "mcq", "init", "init_vision", "init_text", "from",
    "backend", NULL
};

/* Shorthand flags for config keys. */
static const char *const config_flags[][2] = {
    { "--frames", "frames" }, { "--mask", "mask_ratio" }, { "--attn", "attn" },
    { "--tune", "tune" }, { "--seed", "seed" },
};

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit train --data MANIFEST [--preset P] [--recipe short|long]\n"
            "           [--frames F] [--fps R] [--mask R] [--attn joint|factorized|frame]\n"
            "           [--tune full|last-k|adapters|lora|temporal] [--init CLIP.safetensors]\n"
            "           [--init-vision CLIP.safetensors] [--init-text BERT.safetensors]\n"
            "           [--from PARAMS] [--resume CKPT] [--steps N] [--batch B] [--micro M]\n"
            "           [--lr X] [--warmup W] [--wd X] [--clip X] [--out DIR]\n"
            "           [--save-every N] [--eval MANIFEST] [--mcq MCQ.jsonl] [--vocab FILE]\n"
            "           [--seed K] [--backend NAME] [--set key=value ...] [--stop-at N]\n"
            "           [--loader-threads N] [--json] [--dry-run]\n"
            "Recipes (the paper's two stages): short = ShortViViT (16 frames, full tuning,\n"
            "lr 1e-4);\n"
            "long = LongViViT (128 frames, mask 0.75, last 4 blocks, text frozen, lr 1e-5,\n"
            "from a ShortViViT: --from its ckpt.safetensors, temporal embeddings interpolated).\n"
            "--micro M splits each batch into M micro-batches (negatives still span the batch).\n"
            "Data-parallel: mpirun -np N longvivit train ... (an MPI build): --batch is per\n"
            "rank, the loss spans all N x B pairs; --resume works on any N dividing them.\n"
            "--init loads both towers of a CLIP file; --init-vision only its vision tower;\n"
            "--init-text the text tower from a BERT file (with --set text_arch=bert; the\n"
            "vocabulary must be that BERT's vocab.txt, one line per word-embedding row):\n"
            "--init-vision CLIP --init-text BERT starts both towers (docs/training.md).\n"
            "Writes DIR/ckpt.safetensors (every --save-every steps and at the end), DIR/loss.png\n"
            "and, with an evaluation set (default: test.jsonl and mcq.jsonl beside the data),\n"
            "DIR/similarity.png. --resume continues a run exactly where its checkpoint ends\n"
            "(--stop-at N saves and stops at step N of the run, for a later --resume).\n"
            "--dry-run prints the configuration, parameter counts and step memory and exits.\n"
            "--loader-threads N decodes N clips at once (default: OMP_NUM_THREADS, else the\n"
            "CPU count); the batches are the same for every N.\n"
            "--stage lm|text trains the video-to-text stage instead (train --stage lm --help).\n");
    fprintf(out, "Backends in this build: %s (default cpu).\n%s", lv_backend_names(),
            lv_opt_precision_help());
    return out == stderr ? 2 : 0;
}

static int is_train_key(const char *k)
{
    for (int i = 0; train_keys[i]; i++)
        if (!strcmp(train_keys[i], k))
            return 1;
    return 0;
}

typedef struct {
    options opt;
    const char *resume;
    int json, dry_run;
    long long stop_at;           /* save and stop at this step (not stored: a resume goes on) */
    long long loader_threads;    /* 0: the loader's default (not stored: it changes nothing) */
} cli;

static int parse(cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json") || !strcmp(a, "--dry-run")) {
            *(a[2] == 'j' ? &c->json : &c->dry_run) = 1;
            continue;
        }
        if (strncmp(a, "--", 2) || !v)
            return lv_set_error("'%s' %s", a, v ? "is not an option" : "needs a value");
        i++;
        char key[64];
        snprintf(key, sizeof key, "%s", a + 2);
        for (char *p = key; *p; p++)
            *p = *p == '-' ? '_' : *p;
        int done = 0;
        for (size_t k = 0; k < sizeof config_flags / sizeof config_flags[0] && !done; k++)
            if (!strcmp(a, config_flags[k][0])) {
                char ck[80];
                snprintf(ck, sizeof ck, "config.%s", config_flags[k][1]);
                if (opt_set(&c->opt, ck, v) < 0)
                    return -1;
                done = 1;
            }
        if (done)
            continue;
        if (!strcmp(a, "--resume")) {
            c->resume = v;
        } else if (!strcmp(a, "--stop-at")) {
            long long n;
            if (lv_opt_int(a, v, 1, LLONG_MAX, &n) < 0)
                return -1;
            c->stop_at = n;
        } else if (!strcmp(a, "--loader-threads")) {
            long long n;
            if (lv_opt_int(a, v, 1, LV_LOADER_MAX_THREADS, &n) < 0)
                return -1;
            c->loader_threads = n;
        } else if (!strcmp(a, "--set")) {
            char ck[OPT_LEN];
            const char *eq = strchr(v, '=');
            if (!eq)
                return lv_set_error("--set %s: expected key=value", v);
            snprintf(ck, sizeof ck, "config.%.*s", (int)(eq - v), v);
            if (opt_set(&c->opt, ck, eq + 1) < 0)
                return -1;
        } else if (is_train_key(key)) {
            if (opt_set(&c->opt, key, v) < 0)
                return -1;
        } else {
            return lv_set_error("unknown option '%s'", a);
        }
    }
    return 0;
}

/* The recipe's defaults go first, so explicit options (later lines) win. */
static int apply_recipe(options *o, const options *given)
{
    const char *r = opt_get(given, "recipe", "");
    static const char *const short_stage[] = { "config.frames=16", "config.tune=full",
                                               "config.mask_ratio=0", "lr=1e-4", NULL };
    static const char *const long_stage[] = { "config.frames=128", "config.mask_ratio=0.75",
                                              "config.tune=last-k", "config.freeze_text=1",
                                              "lr=1e-5", NULL };
    const char *const *lines = !strcmp(r, "short") ? short_stage : !strcmp(r, "long") ? long_stage
                                                                                    : NULL;
    if (*r && !lines)
        return lv_set_error("unknown recipe '%s': short or long", r);
    *o = (options){ 0 };
    for (int i = 0; lines && lines[i]; i++)
        snprintf(o->kv[o->n++], OPT_LEN, "%s", lines[i]);
    for (int i = 0; i < given->n; i++)
        snprintf(o->kv[o->n++], OPT_LEN, "%s", given->kv[i]);
    return 0;
}

/* The flag a stored option came from, for messages: "--frames", "--set text_len", "--lr". */
static const char *flag_of(const char *key, char *buf, size_t size)
{
    if (!strncmp(key, "config.", 7)) {
        for (size_t k = 0; k < sizeof config_flags / sizeof config_flags[0]; k++)
            if (!strcmp(key + 7, config_flags[k][1]))
                return config_flags[k][0];
        snprintf(buf, size, "--set %s", key + 7);
        return buf;
    }
    snprintf(buf, size, "--%s", key);
    for (char *p = buf; *p; p++)
        *p = *p == '_' ? '-' : *p;
    return buf;
}

/* How a key=value option reads on the command line: "--attn joint", "--set heads=8", "--lr 1". */
static const char *flag_with_value(const char *key, const char *value, char *buf, size_t size)
{
    char tmp[128];
    const char *flag = flag_of(key, tmp, sizeof tmp);
    snprintf(buf, size, "%s%s%s", flag, strncmp(flag, "--set ", 6) ? " " : "=", value);
    return buf;
}

static const char *folder_of(const char *path, char *buf, size_t size);

/* The vocab.txt a fresh run reads: --vocab, else the one beside --data; NULL with neither. */
static const char *vocab_file(const options *o, char *buf, size_t size)
{
    const char *given = opt_get(o, "vocab", NULL), *data = opt_get(o, "data", NULL);
    char folder[2048];
    if (given || !data)
        return given;
    snprintf(buf, size, "%s/vocab.txt", folder_of(data, folder, sizeof folder));
    return buf;
}

/* The weights a fresh run starts from: --init (both CLIP towers), --init-vision (CLIP's vision
 * tower), --init-text (a BERT text tower), or --from (a longvivit model); a tower asked for
 * twice is a usage error. */
static int check_init_options(const options *o)
{
    const int init = opt_get(o, "init", NULL) != NULL;
    if (init && opt_get(o, "init_vision", NULL))
        return usage_error("--init and --init-vision both start the vision tower: give one "
                           "(--init takes both towers of the CLIP file)");
    if (init && opt_get(o, "init_text", NULL))
        return usage_error("--init and --init-text both start the text tower: give one (--init "
                           "takes both towers of the CLIP file; CLIP's vision tower with BERT's "
                           "text tower is --init-vision CLIP.safetensors --init-text "
                           "BERT.safetensors)");
    if (opt_get(o, "from", NULL) && (init || opt_get(o, "init_vision", NULL) ||
                                     opt_get(o, "init_text", NULL)))
        return usage_error("--from starts every tensor from a longvivit model file, and --init, "
                           "--init-vision and --init-text start towers from CLIP or BERT: give "
                           "one or the other (the long stage starts --from the short stage's "
                           "checkpoint, which already holds what CLIP or BERT began)");
    return 0;
}

/* What the long stage may change in a model it starts from (--from): how it is fed and tuned,
 * never its shapes or architecture (the recipe's documented exceptions, docs/training.md). */
static int from_may_change(const char *key)
{
    static const char *const keys[] = { "frames", "mask", "mask_ratio", "tune", "tune_last_k",
                                        "freeze_text", "adapter_dim", "lora_rank", "lora_alpha",
                                        "inflate", "temporal_extend", "seed", NULL };
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], key))
            return 1;
    return 0;
}

/* The model configuration: the preset and the config options; with --from (or on --resume) the
 * checkpoint's own configuration, which a flag may change only where from_may_change() allows
 * (printed), and any other differing flag is a usage error naming both values. vocab > 0: the
 * tokenizer's size, which must match a checkpoint's, and a --init-text BERT file's word
 * embedding rows (which give the vocab when there is no tokenizer, in a dry run). */
static int make_config(lv_config *c, const options *o, int64_t vocab, const char *resume)
{
    const char *base = resume ? resume : opt_get(o, "from", NULL);
    char flag[128], was[256], now[256], changes[2048] = "";
    if (!base) {
        if (lv_config_preset(c, opt_get(o, "preset", "tiny")) < 0)
            return usage_error("--preset: %s", lv_error());
        for (int i = 0; i < o->n; i++)
            if (!strncmp(o->kv[i], "config.", 7) && lv_config_set(c, o->kv[i] + 7) < 0)
                return usage_error("%s", lv_error());
    } else {
        if (lv_config_from_file(c, base) < 0)
            return -1;
        const char *preset = opt_get(o, "preset", NULL);
        if (preset && strcmp(preset, c->preset))
            return usage_error("--preset %s conflicts with %s, a %s model: %s takes the model "
                               "configuration from the checkpoint; drop --preset", preset, base,
                               c->preset, resume ? "--resume" : "--from");
        /* on --resume the checkpoint's configuration is the run's; resume_options() has
         * already refused flags that differ from the stored ones */
        for (int i = 0; !resume && i < o->n; i++) {
            if (strncmp(o->kv[i], "config.", 7))
                continue;
            const char *line = o->kv[i] + 7, *eq = strchr(line, '=');
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(eq ? eq - line : 0), line);
            lv_config t = *c;
            if (lv_config_set(&t, line) < 0)
                return usage_error("%s", lv_error());
            lv_opt_config_value(c, key, was, sizeof was);
            lv_opt_config_value(&t, key, now, sizeof now);
            if (!strcmp(was, now))
                continue;
            char given[OPT_LEN + 128], ck[80];
            snprintf(ck, sizeof ck, "config.%s", key);
            if (!from_may_change(key))
                return usage_error("%s conflicts with %s, whose model has %s=%s: --from takes "
                                   "the model configuration from the checkpoint (only frames, "
                                   "mask, tuning and seed may change); drop %s",
                                   flag_with_value(ck, eq + 1, given, sizeof given), base, key,
                                   was, flag_of(ck, flag, sizeof flag));
            const size_t n = strlen(changes);
            snprintf(changes + n, sizeof changes - n, "%s%s %s -> %s", n ? ", " : "", key, was,
                     now);
            *c = t;
        }
    }
    if (vocab > 0 && base && c->vocab != vocab)
        return usage_error("the vocabulary has %lld tokens but %s was trained with %lld: give "
                           "--vocab the vocab.txt of that run", (long long)vocab, base,
                           (long long)c->vocab);
    /* --init-text: BERT's word embeddings are indexed by its own vocab.txt, so the vocabulary
     * file must have exactly one line per row */
    const char *init_text = opt_get(o, "init_text", NULL);
    int64_t bert_rows = 0;
    char file_buf[2100];
    if (!base && init_text && (bert_rows = lv_bert_vocab_rows(init_text)) < 0)
        return -1;
    if (bert_rows > 0 && vocab > 0 && bert_rows != vocab)
        return usage_error("the vocabulary file %s has %lld tokens but --init-text %s has %lld "
                           "word-embedding rows: BERT's rows are indexed by its own vocab.txt; "
                           "give --vocab the vocab.txt that came with %s",
                           vocab_file(o, file_buf, sizeof file_buf), (long long)vocab, init_text,
                           (long long)bert_rows, init_text);
    /* the vocabulary is never silently replaced: an explicit vocab= must agree with the file
     * (or, without one, with the BERT rows) */
    const int64_t rows = vocab > 0 ? vocab : bert_rows;
    for (int i = 0; !base && rows > 0 && i < o->n; i++)
        if (!strncmp(o->kv[i], "config.vocab=", 13)) {
            lv_config t = *c;
            if (lv_config_set(&t, o->kv[i] + 7) < 0 || t.vocab == rows)
                continue;
            if (vocab > 0)
                return usage_error("--set vocab=%lld conflicts with the vocabulary file, which "
                                   "has %lld tokens: the text embedding has one row per token "
                                   "of the file; drop --set vocab, or give --vocab a file of "
                                   "%lld tokens", (long long)t.vocab, (long long)vocab,
                                   (long long)t.vocab);
            return usage_error("--set vocab=%lld conflicts with --init-text %s, whose word "
                               "embeddings have %lld rows: drop --set vocab (the vocabulary is "
                               "that BERT's vocab.txt)", (long long)t.vocab, init_text,
                               (long long)bert_rows);
        }
    if (rows > 0) {
        char v[64];
        snprintf(v, sizeof v, "vocab=%lld", (long long)rows);
        lv_config_set(c, v);
    }
    if (base && !resume && vocab > 0)   /* once, in the real run (not in --dry-run's pass) */
        note("model configuration from %s (%s, attn %s, %lld heads); changed for "
                "this stage: %s\n", base, c->preset, lv_attn_kind_name(c->attn),
                (long long)c->heads, *changes ? changes : "nothing");
    if (lv_config_validate(c) < 0)
        return base ? lv_set_error("%s: %s", base, lv_error()) : usage_error("%s", lv_error());
    return 0;
}

/* ---- dry run -------------------------------------------------------------------------------- */

static void memory_row(const char *what, double floats)
{
    printf("  %-34s %10.1f MiB\n", what, floats * 4.0 / (1 << 20));
}

static int dry_run(const options *o, const char *resume, int64_t B)
{
    lv_config c;
    lv_model m;
    const lv_backend *be = backend_by_name(opt_get(o, "backend", "cpu"));
    if (!be)
        return -1;          /* lv_error() names the backends this build has */
    /* the vocabulary the run would use (--vocab, else vocab.txt beside --data), so the dry run
     * prints the real vocab size and refuses the same conflicts */
    int64_t vocab = 0;
    char buf[2100];
    const char *path = vocab_file(o, buf, sizeof buf);
    const int given = opt_get(o, "vocab", NULL) != NULL;
    if (!resume && !opt_get(o, "from", NULL) && path && (given || access(path, R_OK) == 0)) {
        lv_tokenizer *tok = lv_tokenizer_load(path);
        if (!tok)
            return -1;
        vocab = lv_tokenizer_vocab_size(tok);
        lv_tokenizer_free(tok);
    }
    if (make_config(&c, o, vocab, resume) < 0 || lv_model_build_table(&m, &c, be) < 0)
        return -1;
    char text[4096];
    lv_config_format(&c, text, sizeof text);
    const lv_video_geometry g = lv_config_geometry(&c, 0);
    printf("configuration\n%s", text);
    printf("tokens per video: %lld, kept after masking: %lld\n", (long long)g.N, (long long)g.K);
    printf("parameters\n");
    printf("  video tower %12lld  (trainable %lld)\n",
           (long long)lv_params_count_floats(&m.params, "video.", 0),
           (long long)lv_params_count_floats(&m.params, "video.", 1));
    printf("  text tower  %12lld  (trainable %lld)\n",
           (long long)lv_params_count_floats(&m.params, "text.", 0),
           (long long)lv_params_count_floats(&m.params, "text.", 1));
    printf("  total       %12lld  (trainable %lld) in %lld tensors\n",
           (long long)m.params.n_floats, (long long)m.params.n_grad_floats,
           (long long)m.params.count);
    const double acts = (double)lv_model_act_floats(&c, m.be, B);
    printf("memory of one training step, micro-batch %lld, %s backend (analytic, fp32)\n",
           (long long)B, m.be->name);
    memory_row("parameters", (double)m.params.n_floats);
    memory_row("gradients (trainable only)", (double)m.params.n_grad_floats);
    memory_row("AdamW moments", 2.0 * (double)m.params.n_grad_floats);
    memory_row("activations", acts);
    memory_row("total", (double)m.params.n_floats + 3.0 * (double)m.params.n_grad_floats + acts);
    lv_model_free(&m);
    return 0;
}

/* ---- the run -------------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

typedef struct {
    options opt;
    lv_config cfg;
    lv_model model;
    lv_trainer trainer;          /* AdamW state and settings, micro-batch buffers */
    lv_tokenizer *tok;
    lv_clip_list clips;
    lv_loader *loader;
    lv_loader *images;           /* image-text pairs of the manifest, if any (mixed training) */
    float *losses;               /* (steps) */
    int64_t steps, batch, micro, step, position, image_position, save_every, warmup;
    double lr, wd, clip, fps;
    char out[2048], ckpt[2100], args[MAX_OPTS * OPT_LEN];
    const char *resume;          /* the checkpoint this run continues, or NULL */
    int json;
    int64_t stop_at;
    int loader_threads;          /* 0: the loader's default */
    int64_t saved_step;          /* the step of this run's last save, -1 before one */
    int64_t resumed_step;        /* the step --resume started at */
    int64_t skipped;             /* samples that failed to load so far (this run) */
    int64_t manifest_clips, short_clips, unreadable;   /* the start summary */
    FILE *log;                   /* RUN/log.jsonl */
    int lock_fd;                 /* RUN/lock, flock()ed for the whole run */
    double t_start;              /* wall clock at the first step */
    int lead;                    /* rank 0 (or the one process): writes, logs, evaluates */
} run;

/* Wall-clock seconds (clock() is CPU time: it counts every OpenMP thread). */
/* Every number of the run's options, read strictly (tools/options.h): a value that is not a
 * number, not finite or out of range is a usage error naming the option, never a silent 0. */
static int read_numbers(run *r, int dry_run)
{
    const options *o = &r->opt;
    long long n;
    char flag[128];
#define INT_OPT(key, fallback, lo, hi, dst)                                                   \
    do {                                                                                      \
        if (lv_opt_int(flag_of(key, flag, sizeof flag), opt_get(o, key, fallback), lo, hi,    \
                       &n) < 0)                                                               \
            return usage_error("%s", lv_error());                                             \
        dst = n;                                                                              \
    } while (0)
#define REAL_OPT(key, fallback, lo, lo_open, dst)                                             \
    do {                                                                                      \
        if (lv_opt_real(flag_of(key, flag, sizeof flag), opt_get(o, key, fallback), lo,       \
                        lo_open, INFINITY, &dst) < 0)                                         \
            return usage_error("%s", lv_error());                                             \
    } while (0)
    INT_OPT("steps", "100", 1, 1000000000000LL, r->steps);
    INT_OPT("batch", "8", 1, 1 << 20, r->batch);
    INT_OPT("micro", "1", 1, 64, r->micro);
    INT_OPT("save_every", "0", 0, LLONG_MAX, r->save_every);
    REAL_OPT("lr", "1e-4", 0.0, 1, r->lr);
    REAL_OPT("wd", "0.05", 0.0, 0, r->wd);
    REAL_OPT("clip", "1.0", 0.0, 0, r->clip);
    REAL_OPT("fps", "1", 0.0, 1, r->fps);
    if (r->batch < 2 && !dry_run)    /* a dry run sizes memory, also for one clip */
        return usage_error("--batch %lld: contrastive training needs at least 2 clips per "
                           "batch (InfoNCE contrasts each clip with the other clips of its "
                           "batch; with one there are no negatives and the loss is 0 at every "
                           "step); give --batch 2 or more", (long long)r->batch);
    if (r->micro > r->batch)
        return usage_error("--micro %lld is more than --batch %lld: every micro-batch needs at "
                           "least one clip; give --micro from 1 to %lld (the batch is split as "
                           "evenly as it goes)", (long long)r->micro, (long long)r->batch,
                           (long long)r->batch);
    char warm[32];       /* default: a tenth of the run, at most 100 steps */
    snprintf(warm, sizeof warm, "%lld", (long long)(r->steps / 10 < 100 ? r->steps / 10 : 100));
    if (lv_opt_int("--warmup", opt_get(o, "warmup", warm), 0, LLONG_MAX, &n) < 0)
        return usage_error("%s", lv_error());
    if (n > r->steps)
        return usage_error("--warmup %lld is longer than the run (--steps %lld); give a warmup "
                           "from 0 to %lld steps", n, (long long)r->steps, (long long)r->steps);
    r->warmup = n;
#undef INT_OPT
#undef REAL_OPT
    return 0;
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

static void args_text(run *r)
{
    size_t n = 0;
    for (int i = 0; i < r->opt.n; i++)
        n += (size_t)snprintf(r->args + n, sizeof r->args - n, "%s\n", r->opt.kv[i]);
}

/* Rank 0 writes the checkpoint (every rank holds the same state); the others wait for it, so
 * every rank knows which step the file holds. */
static int save(run *r)
{
    int rc = 0;
    if (r->lead) {
        const lv_train_state st = { .step = r->step, .data_position = r->position,
                                .image_position = r->image_position,
                                .losses = r->losses, .n_losses = r->step,
                                .train_args = r->args };
        rc = lv_checkpoint_save(r->ckpt, &r->model, &r->trainer.adam, &st);
    }
    if (agree(rc, NULL) < 0)
        return -1;
    r->saved_step = r->step;
    return 0;
}

static int setup_optimizer(run *r)
{
    lv_adamw_config opt = lv_adamw_defaults();
    opt.lr = r->lr;
    opt.weight_decay = r->wd;
    opt.clip = r->clip;
    opt.total = r->steps;
    opt.warmup = r->warmup;
    if (lv_trainer_init(&r->trainer, &r->model, &opt, r->batch) < 0)
        return -1;
    return dist->size > 1 ? lv_trainer_distribute(&r->trainer, dist, r->batch) : 0;
}

/* --init (both CLIP towers), --init-vision (CLIP's vision tower) and --init-text (BERT's text
 * tower; check_init_options refused a tower asked for twice), then one line saying what came
 * from where. */
static int init_towers(lv_model *m, const char *init, const char *init_vision,
                       const char *init_text)
{
    if ((init && lv_model_init_from_clip(m, init) < 0) ||
        (init_vision && lv_model_init_from_clip_parts(m, init_vision, LV_CLIP_VISION) < 0) ||
        (init_text && lv_model_init_from_bert(m, init_text) < 0))
        return -1;
    char line[4500];
    int n = 0;
    if (init)
        n = snprintf(line, sizeof line, "both towers and logit_scale from the CLIP file %s", init);
    if (init_vision)
        n = snprintf(line, sizeof line, "the vision tower and its projection from the CLIP file "
                     "%s", init_vision);
    if (init_text)
        snprintf(line + n, sizeof line - (size_t)n, "%sthe text tower from the BERT file %s "
                 "(text.proj.weight, which BERT lacks, keeps its initialisation)",
                 n ? ", " : "", init_text);
    note("initialised %s%s\n", line, init || (init_vision && init_text) ? ""
            : init_vision ? "; the text tower keeps its initialisation"
            : "; the vision tower keeps its initialisation");
    return 0;
}

/* Model, optimiser and position: fresh (with --init* / --from) or from --resume. */
static int setup_model(run *r, const char *resume)
{
    const lv_backend *be = backend_by_name(opt_get(&r->opt, "backend", "cpu"));
    if (!be)
        return -1;          /* lv_error() names the backends this build has */
    if (lv_model_build(&r->model, &r->cfg, be) < 0 || setup_optimizer(r) < 0)
        return -1;
    r->losses = lv_calloc((size_t)r->steps, sizeof(float), "the loss history");
    if (!r->losses)
        return -1;
    const char *init = opt_get(&r->opt, "init", NULL), *from = opt_get(&r->opt, "from", NULL);
    const char *init_vision = opt_get(&r->opt, "init_vision", NULL);
    const char *init_text = opt_get(&r->opt, "init_text", NULL);
    if (resume) {
        lv_train_state st;
        char *saved_args;
        if (lv_checkpoint_load(resume, &r->model, &r->trainer.adam, &st, &saved_args) < 0)
            return -1;
        free(saved_args);
        /* the loss history is the run's record of every step done: a checkpoint whose step
         * disagrees with it (or with --steps) would make the next save write past the buffer */
        const int64_t n_losses = st.n_losses;
        if (n_losses == st.step && st.step <= r->steps)
            memcpy(r->losses, st.losses, (size_t)n_losses * sizeof(float));
        free((void *)st.losses);
        if (n_losses != st.step)
            return lv_set_error("%s: its metadata says step %lld but its loss history "
                                "(train.loss) holds %lld steps; the checkpoint is damaged: "
                                "resume from an earlier one", resume, (long long)st.step,
                                (long long)n_losses);
        if (st.step > r->steps)
            return usage_error("%s is at step %lld, past --steps %lld; give --steps above %lld "
                               "to continue it", resume, (long long)st.step,
                               (long long)r->steps, (long long)st.step);
        r->step = r->resumed_step = st.step;
        r->position = st.data_position;
        r->image_position = st.image_position;
        note("resumed %s at step %lld\n", resume, (long long)r->step);
    } else if (init || init_vision || init_text) {
        if (init_towers(&r->model, init, init_vision, init_text) < 0)
            return -1;
    } else if (from) {
        int64_t copied, resized, kept;
        if (lv_model_start_from(&r->model, from, &copied, &resized, &kept) < 0)
            return -1;
        note("started from %s: %lld tensors copied, %lld temporal tables resized, "
                "%lld kept their initialisation\n", from, (long long)copied, (long long)resized,
                (long long)kept);
    }
    return 0;
}

#define MANIFEST_EXAMPLE "{\"video\": \"videos/a.mp4\", \"caption\": \"a dog runs\"}"

/* --data must name a JSON Lines manifest; a folder or a video would otherwise fail later on
 * the vocab.txt beside it, a message about the wrong file. */
static int check_manifest_path(const char *data)
{
    struct stat sb;
    if (stat(data, &sb) != 0)
        return usage_error("--data %s: %s; --data wants a JSON Lines manifest, one clip per "
                           "line such as %s", data, strerror(errno), MANIFEST_EXAMPLE);
    if (S_ISDIR(sb.st_mode)) {
        char hint[2200];
        snprintf(hint, sizeof hint, "%s/train.jsonl", data);
        return usage_error("--data %s is a folder; --data wants a JSON Lines manifest, one clip "
                           "per line such as %s%s%s%s", data, MANIFEST_EXAMPLE,
                           access(hint, R_OK) == 0 ? " (did you mean " : "",
                           access(hint, R_OK) == 0 ? hint : "",
                           access(hint, R_OK) == 0 ? "?)" : "");
    }
    FILE *fp = fopen(data, "rb");
    int ch = fp ? fgetc(fp) : EOF;
    while (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == 0xEF || ch == 0xBB ||
           ch == 0xBF)                                   /* blank lines, a UTF-8 BOM */
        ch = fgetc(fp);
    if (fp)
        fclose(fp);
    if (ch != '{' && ch != EOF)
        return usage_error("--data %s is not a JSON Lines manifest (it does not start with '{'; "
                           "a video?); --data wants one clip per line such as %s", data,
                           MANIFEST_EXAMPLE);
    return 0;
}

/* The start summary: clips listed, clips shorter than the span one sample covers (their last
 * frame repeats) and clips that do not open as a video (the loader skips them when drawn).
 * Probing reads headers only; past a few thousand clips it would delay the start, so it stops
 * there and says so. */
static void summarize_clips(run *r, const char *data)
{
    enum { MAX_PROBED = 2000 };
    const double span = (double)r->cfg.frames / r->fps;
    int64_t videos = 0, probed = 0;
    r->manifest_clips = r->clips.n;
    for (int64_t i = 0; i < r->clips.n; i++) {
        const lv_clip_entry *e = &r->clips.e[i];
        if (e->is_image || probed == MAX_PROBED) {
            videos += !e->is_image;
            continue;
        }
        videos++;
        probed++;
        lv_video_info info;
        if (lv_video_probe(e->video, &info) < 0) {
            r->unreadable++;
            continue;
        }
        const double len = (e->end > 0 ? e->end : info.duration) - e->start;
        r->short_clips += info.duration > 0 && len < span;
    }
    note("data %s: %lld clips (%lld videos, %lld images); %lld shorter than the "
            "sampled span (%lld frames at %g fps = %g s; their last frame repeats); %lld not "
            "readable as video (skipped when drawn)%s\n", data, (long long)r->clips.n,
            (long long)videos, (long long)(r->clips.n - videos), (long long)r->short_clips,
            (long long)r->cfg.frames, r->fps, span, (long long)r->unreadable,
            probed < videos ? " (of the first 2000 videos)" : "");
}

static int setup_data(run *r)
{
    const char *data = opt_get(&r->opt, "data", NULL);
    if (!data)
        return usage_error("--data MANIFEST is required: a JSON Lines file, one clip per line "
                           "such as %s", MANIFEST_EXAMPLE);
    if (check_manifest_path(data) < 0)
        return -1;
    char folder[2048], vocab[2100];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", folder_of(data, folder, sizeof folder));
    /* --from / --resume: the vocabulary stored in that file (a differing --vocab is refused) */
    int code;
    r->tok = vocab_for_model(r->resume ? r->resume : opt_get(&r->opt, "from", NULL), 0,
                             opt_get(&r->opt, "vocab", NULL), vocab, &code);
    if (!r->tok)
        return code == 2 ? usage_error("%s", lv_error()) : -1;
    if (lv_manifest_load(&r->clips, data, 1) < 0)
        return -1;
    return r->clips.n ? 0 : lv_set_error("%s lists no clips to train on", data);
}

static int setup_loader(run *r)
{
    lv_loader_spec spec = {
        .batch = r->batch, .frames = r->cfg.frames, .size = r->cfg.image_size,
        .text_len = r->cfg.text_len, .fps = r->fps,
        .mode = LV_SAMPLE_FIRST, .mean = { LV_CLIP_MEAN[0], LV_CLIP_MEAN[1], LV_CLIP_MEAN[2] },
        .std = { LV_CLIP_STD[0], LV_CLIP_STD[1], LV_CLIP_STD[2] }, .shuffle = 1,
        .seed = r->cfg.seed, .max_bad_fraction = 0.1, .start_position = r->position,
        .shard_rank = dist->rank, .shard_count = dist->size, .threads = r->loader_threads };
    int has_video = 0, has_image = 0;
    for (int64_t i = 0; i < r->clips.n; i++)
        *(r->clips.e[i].is_image ? &has_image : &has_video) = 1;
    if (has_video && !(r->loader = lv_loader_open(&r->clips, r->tok, &spec)))
        return -1;
    if (!has_image)
        return 0;
    /* one micro-batch of image-text pairs per step, through the 2D patch path */
    spec.images = 1;
    spec.batch = r->batch / r->micro;
    spec.start_position = r->image_position;
    r->images = lv_loader_open(&r->clips, r->tok, &spec);
    return r->images ? 0 : -1;
}

/* One optimiser step on one video batch and, in mixed training, one image micro-batch (the
 * two contrastive losses add up); -1 on a NaN/Inf loss or gradient. */
static int train_step(run *r, const lv_loader_batch *b, const lv_loader_batch *img, float *loss)
{
    const lv_config *c = &r->cfg;
    const int64_t per = c->frames * c->image_size * c->image_size * 3;
    const int64_t first = dist->rank * r->batch;   /* this rank's pairs in the global batch */
    lv_batch micro[64], images;
    lv_step_part parts[2];
    int n_parts = 0;
    /* micro-batches as even as the batch allows: the first batch % micro take one more */
    for (int64_t i = 0, at = 0; b && i < r->micro; at += micro[i++].B) {
        const int64_t mb = r->batch / r->micro + (i < r->batch % r->micro);
        micro[i] = (lv_batch){ .B = mb, .video = b->video + at * per,
                               .text = b->text + at * c->text_len,
                               .text_valid = b->text_valid + at * c->text_len,
                               .step = (uint32_t)r->step,
                               .first_sample = (uint32_t)(first + at) };
    }
    if (b)
        parts[n_parts++] = (lv_step_part){ .micro = micro, .n_micro = r->micro };
    if (img) {
        /* one micro-batch of image-text pairs through the 2D patch path */
        images = (lv_batch){ .B = img->B, .video = img->video, .is_image = 1,
                             .text = img->text, .text_valid = img->text_valid,
                             .step = (uint32_t)r->step,
                             .first_sample = (uint32_t)(dist->rank * img->B) };
        parts[n_parts++] = (lv_step_part){ .micro = &images, .n_micro = 1 };
    }
    lv_step_stats stats;
    const int rc = lv_train_step(&r->trainer, parts, n_parts, r->step, &stats);
    *loss = stats.loss;
    return rc;
}

/* The progress line, and one line of RUN/log.jsonl per step (flushed: a killed run keeps its
 * log up to its last step). */
static void report(run *r, float loss, int64_t first)
{
    char line[320], skipped[64] = "";
    const double dt = wall_seconds() - r->t_start;
    const int64_t global = r->batch * dist->size;     /* pairs per step over every rank */
    const double rate = dt > 0 ? (double)((r->step + 1 - first) * global) / dt : 0;
    float log_scale;                         /* the parameter lives in backend memory */
    r->model.be->download(&log_scale, lv_param_data(&r->model.params, r->model.logit_scale),
                          sizeof log_scale);
    const float scale = expf(fminf(log_scale, logf(LV_LOGIT_SCALE_MAX)));
    const double eta = rate > 0 ? (double)((r->steps - r->step - 1) * global) / rate : 0;
    const double lr = lv_lr_at(&r->trainer.opt, r->step);
    if (r->skipped)
        snprintf(skipped, sizeof skipped, " skipped %lld clips", (long long)r->skipped);
    snprintf(line, sizeof line, "train step %lld/%lld loss %.4f temp %.4f lr %.2e %.1f samples/s"
             " ETA %.0fs%s", (long long)r->step + 1, (long long)r->steps, loss, 1.0 / scale,
             lr, rate, eta, skipped);
    if (r->log) {
        fprintf(r->log, "{\"step\": %lld, \"loss\": %.6g, \"lr\": %.6g, \"logit_scale\": %.6g, "
                "\"temperature\": %.6g, \"samples_per_s\": %.3f, \"elapsed_s\": %.3f, "
                "\"skipped_clips\": %lld}\n", (long long)r->step + 1, (double)loss, lr,
                (double)scale, 1.0 / scale, rate, dt, (long long)r->skipped);
        fflush(r->log);
    }
    static double last;
    const int tty = isatty(STDERR_FILENO);
    if (tty)
        fprintf(stderr, "\r%s   ", line);
    else if (dt - last >= 5.0 || r->step + 1 == r->steps)
        fprintf(stderr, "%s\n", line), last = dt;
    if (tty && r->step + 1 == r->steps)
        fprintf(stderr, "\n");
}

/* Mean loss of the first (end = 0) or last (end = 1) tenth of the steps, at least one step. */
static double mean_loss(const float *losses, int end, int64_t n)
{
    const int64_t k = n / 10 > 0 ? n / 10 : 1, from = end ? n - k : 0;
    double s = 0;
    for (int64_t i = from; i < from + k && i < n; i++)
        s += losses[i];
    return n ? s / (double)k : NAN;
}

/* RUN/loss.png: the loss of every step done, and its running mean. */
static int plot_losses(run *r)
{
    char png[2100];
    snprintf(png, sizeof png, "%s/loss.png", r->out);
    float *smooth = lv_malloc((size_t)(r->step ? r->step : 1) * sizeof *smooth, "a curve");
    if (!smooth)
        return -1;
    for (int64_t i = 0; i < r->step; i++) {        /* mean of the last (up to) 20 steps */
        const int64_t from = i >= 19 ? i - 19 : 0;
        double s = 0;
        for (int64_t j = from; j <= i; j++)
            s += r->losses[j];
        smooth[i] = (float)(s / (double)(i - from + 1));
    }
    const lv_plot_text words = { .title = "training loss", .x_title = "step",
                                 .y_title = "loss", .y_name = "loss per step",
                                 .y2_name = "mean of the last 20 steps" };
    int plotted = lv_plot_lines(png, r->losses, smooth, r->step, 800, 450, &words);
    free(smooth);
    if (plotted < 0 && !lv_pictures_available()) {     /* no cairo: say so once, keep training */
        fprintf(stderr, "longvivit train: %s\n", lv_error());
        plotted = 0;
    }
    return plotted;
}

static int finish(run *r)
{
    char png[2100], folder[2048];
    const char *data = opt_get(&r->opt, "data", "");
    char test[2100], mcq_path[2100];
    snprintf(test, sizeof test, "%s/test.jsonl", folder_of(data, folder, sizeof folder));
    snprintf(mcq_path, sizeof mcq_path, "%s/mcq.jsonl", folder);
    const char *eval = opt_get(&r->opt, "eval", access(test, R_OK) == 0 ? test : NULL);
    const char *mcq = opt_get(&r->opt, "mcq", access(mcq_path, R_OK) == 0 ? mcq_path : NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double peak_mb = ru.ru_maxrss / 1024.0;
    eval_result e = { .mcq = NAN };
    lv_clip_list clips = { 0 };
    lv_mcq_list q = { 0 };
    int rc = 0;
    if (eval || mcq) {
        snprintf(png, sizeof png, "%s/similarity.png", r->out);
        rc = (eval ? lv_manifest_load(&clips, eval, 1) : 0) < 0 ||
             (mcq ? lv_mcq_load(&q, mcq, 1) : 0) < 0 ||
             eval_run(&e, &r->model, r->tok, eval ? &clips : NULL, mcq ? &q : NULL, png) < 0
             ? -1 : 0;
    }
    if (rc == 0 && !r->json && (eval || mcq))
        eval_print(&e, stdout, 0);
    if (rc == 0 && r->json) {
        printf("{\"steps\": %lld, \"loss_start\": %.6f, \"loss_end\": %.6f, "
               "\"peak_rss_mb\": %.1f, \"checkpoint\": \"%s\", \"clips\": %lld, "
               "\"short_clips\": %lld, \"unreadable_clips\": %lld, \"skipped_clips\": %lld, "
               "\"eval\": ", (long long)r->step, mean_loss(r->losses, 0, r->step),
               mean_loss(r->losses, 1, r->step), peak_mb, r->ckpt, (long long)r->manifest_clips,
               (long long)r->short_clips, (long long)r->unreadable, (long long)r->skipped);
        eval_print(&e, stdout, 1);
        printf("}\n");
    } else if (rc == 0) {
        printf("peak memory (RSS) %.1f MiB; checkpoint %s; skipped %lld clips\n", peak_mb,
               r->ckpt, (long long)r->skipped);
    }
    lv_clip_list_free(&clips);
    lv_mcq_list_free(&q);
    return rc;
}

/* What a stopped run leaves behind, said as it is: this run's last save, the checkpoint it
 * resumed from, or nothing at all. */
static void last_good_state(const run *r, char *buf, size_t size)
{
    if (r->saved_step >= 0)
        snprintf(buf, size, "%s keeps step %lld, the last good state (lower --lr, then --resume "
                 "it)", r->ckpt, (long long)r->saved_step);
    else if (r->resume)
        snprintf(buf, size, "nothing was saved in this run; %s still holds step %lld (lower "
                 "--lr, then --resume it)", r->resume, (long long)r->resumed_step);
    else
        snprintf(buf, size, "nothing was saved: this run wrote no checkpoint (--save-every %lld); "
                 "lower --lr and start again (--save-every N keeps states to --resume)",
                 (long long)r->save_every);
}

/* Where a run stopped by its data stands: its last save, the checkpoint it resumed from, or
 * none; a checkpoint is only ever replaced whole, so the one named is intact. */
static void last_checkpoint(const run *r, char *buf, size_t size)
{
    if (r->saved_step >= 0)
        snprintf(buf, size, "%s holds step %lld, intact", r->ckpt, (long long)r->saved_step);
    else if (r->resume)
        snprintf(buf, size, "nothing was saved in this run; %s still holds step %lld", r->resume,
                 (long long)r->resumed_step);
    else
        snprintf(buf, size, "no checkpoint was written yet");
}

/* 0: done (or stopped at --stop-at); 1: interrupted after a clean save; -1: failed. Every rank
 * runs the same steps: they agree before each one (a rank whose loader failed stops them all,
 * naming itself and the file) and after each save. */
static int train_loop(run *r)
{
    const int64_t first = r->step;
    char path[2100];
    snprintf(path, sizeof path, "%s/log.jsonl", r->out);
    r->log = r->lead ? fopen(path, r->resume ? "a" : "w") : NULL;  /* a resume appends */
    if (agree(r->lead && !r->log ? lv_set_error("%s: cannot write the training log: %s", path,
                                                strerror(errno)) : 0, NULL) < 0)
        return -1;
    r->t_start = wall_seconds();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    const int64_t end = r->stop_at > 0 && r->stop_at < r->steps ? r->stop_at : r->steps;
    while (r->step < end) {
        const lv_loader_batch *b = NULL, *img = NULL;
        float loss;
        int rc = (r->loader && lv_loader_next(r->loader, &b) < 0) ||
                 (r->images && lv_loader_next(r->images, &img) < 0) ? -1 : 0;
        if (rc < 0 && dist->size > 1) {
            char why[1024], state[2400];
            snprintf(why, sizeof why, "%s", lv_error());
            last_checkpoint(r, state, sizeof state);
            lv_set_error("rank %d of %d: %s; every rank stopped: %s", dist->rank, dist->size,
                         why, state);
        }
        if (agree(rc, &interrupted) < 0)
            return -1;
        if (interrupted)
            break;
        r->skipped = (b ? b->skipped : 0) + (img ? img->skipped : 0);
        if (train_step(r, b, img, &loss) < 0) {
            char why[1024], state[2400];
            snprintf(why, sizeof why, "%s", lv_error());
            last_good_state(r, state, sizeof state);
            return lv_set_error("%s; stopped without saving: %s", why, state);
        }
        r->losses[r->step] = loss;
        r->position = b ? b->position : 0;
        r->image_position = img ? img->position : 0;
        if (r->lead)
            report(r, loss, first);
        r->step++;
        if (r->save_every > 0 && r->step % r->save_every == 0 && save(r) < 0)
            return -1;
    }
    if (save(r) < 0)
        return -1;
    if (!r->lead)                    /* rank 0 plots and evaluates */
        return interrupted ? 1 : 0;
    if (interrupted || r->step < r->steps) {
        if (plot_losses(r) < 0)
            return -1;
        note("\n%s at step %lld; saved %s and %s/loss.png (continue with --resume "
                "%s)\n", interrupted ? "interrupted" : "stopped", (long long)r->step, r->ckpt,
                r->out, r->ckpt);
        return interrupted ? 1 : 0;
    }
    return plot_losses(r) < 0 ? -1 : finish(r);
}

static void run_free(run *r)
{
    lv_loader_close(r->loader);
    lv_loader_close(r->images);
    lv_trainer_free(&r->trainer);
    lv_model_free(&r->model);
    lv_tokenizer_free(r->tok);
    lv_clip_list_free(&r->clips);
    free(r->losses);
    if (r->log)
        fclose(r->log);
    if (r->lock_fd > 0)
        close(r->lock_fd);           /* releases the run folder's lock */
}

/* On --resume the run's own options come back from the checkpoint; the command line may only
 * extend it (--steps) or move its output (--out). Any other flag that differs from the stored
 * value is a usage error naming both: silently training on other data or another learning
 * rate than the flag says is worse than refusing. */
static int resume_options(options *o, const char *path, const options *given)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const char *saved = lv_st_meta(f, "train_args");
    char *args = strdup(saved ? saved : "");
    lv_st_close(f);
    *o = (options){ 0 };
    for (char *save_ptr = NULL, *l = strtok_r(args, "\n", &save_ptr); l;
         l = strtok_r(NULL, "\n", &save_ptr))
        if (o->n < MAX_OPTS)
            snprintf(o->kv[o->n++], OPT_LEN, "%s", l);
    free(args);
    if (o->n == 0)
        return lv_set_error("%s: no training options in the checkpoint; is it a checkpoint "
                            "written by longvivit train?", path);
    for (int i = 0; i < given->n; i++) {
        const char *kv = given->kv[i], *eq = strchr(kv, '=');
        char key[OPT_LEN], flag[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        if (!strcmp(key, "steps") || !strcmp(key, "out")) {
            if (opt_set(o, key, eq + 1) < 0)
                return usage_error("%s", lv_error());
            continue;
        }
        const char *stored = opt_get(o, key, NULL);
        if (stored && !strcmp(stored, eq + 1))
            continue;
        char had[OPT_LEN + 160], now[OPT_LEN + 128];
        if (stored)
            flag_with_value(key, stored, had, sizeof had);
        else
            snprintf(had, sizeof had, "no %s (its default)", flag_of(key, flag, sizeof flag));
        return usage_error("%s conflicts with %s, whose run has %s: --resume continues that "
                           "run with its own options (only --steps and --out may change); drop "
                           "the flag, or start a new run from its weights with --from %s",
                           flag_with_value(key, eq + 1, now, sizeof now), path, had, path);
    }
    return 0;
}

/* Holds RUN/lock for the whole run: two trainings writing one folder would overwrite each
 * other's checkpoint, each exiting 0. The lock dies with the process (no stale lock). */
static int lock_run_folder(run *r)
{
    char path[2100], pid[32] = "";
    snprintf(path, sizeof path, "%s/lock", r->out);
    r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (r->lock_fd < 0)
        return lv_set_error("%s: cannot create the run folder's lock file: %s", path,
                            strerror(errno));
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        const ssize_t n = pread(r->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        return err == EWOULDBLOCK
             ? lv_set_error("%s is in use by another training (PID %s holds %s); wait for it "
                            "to finish or give another --out", r->out, *pid ? pid : "unknown",
                            path)
             : lv_set_error("%s: cannot lock the run folder: %s", path, strerror(err));
    }
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(r->lock_fd, 0) != 0 || pwrite(r->lock_fd, pid, strlen(pid), 0) < 0)
        return lv_set_error("%s: cannot write the lock file: %s", path, strerror(errno));
    return 0;
}

/* The global batch is the run's: a run on N ranks stores ranks=N beside its per-rank batch, and
 * a resume on another number of ranks splits the same global batch over them. The sample
 * stream and its positions are global, so the resumed run goes on with the same samples in
 * the same order. */
static int split_global_batch(options *o, const char *resume)
{
    long long b, n, m;
    if (lv_opt_int("--batch", opt_get(o, "batch", "8"), 1, 1 << 20, &b) < 0 ||
        lv_opt_int("--micro", opt_get(o, "micro", "1"), 1, 64, &m) < 0 ||
        lv_opt_int("ranks", opt_get(o, "ranks", "1"), 1, 1 << 20, &n) < 0)
        return usage_error("%s", lv_error());
    const long long size = dist->size, global = b * n;
    char v[32];
    if (n == size && (resume || size == 1))
        return 0;
    if (!resume) {                   /* a fresh run on several ranks says how many */
        snprintf(v, sizeof v, "%lld", size);
        return opt_set(o, "ranks", v);
    }
    if (global % size)
        return usage_error("%s was trained on %lld ranks x --batch %lld, a global batch of %lld "
                           "pairs, which %lld ranks cannot share evenly; resume it on a number "
                           "of ranks that divides %lld", resume, n, b, global, size, global);
    snprintf(v, sizeof v, "%lld", global / size);
    if (opt_set(o, "batch", v) < 0)
        return -1;
    snprintf(v, sizeof v, "%lld", size);
    if (opt_set(o, "ranks", v) < 0)
        return -1;
    note("%s: trained on %lld ranks x --batch %lld, resumed on %lld x %lld: the same global "
         "batch of %lld pairs and sample order\n", resume, n, b, size, global / size, global);
    if (m > global / size) {
        snprintf(v, sizeof v, "%lld", global / size);
        note("--micro %lld is more than the %lld pairs of a rank now: --micro %s\n", m,
             global / size, v);
        return opt_set(o, "micro", v);
    }
    return 0;
}

/* Everything after the command line parsed: the run's options, data, model and loop. */
static int train_command(cli *c, run *r)
{
    r->resume = c->resume;
    r->saved_step = -1;
    r->lead = dist->rank == 0;
    int rc = c->resume ? resume_options(&r->opt, c->resume, &c->opt)
                       : apply_recipe(&r->opt, &c->opt);
    if (rc == 0 && !c->dry_run)
        rc = split_global_batch(&r->opt, c->resume);
    if (rc == 0)
        rc = read_numbers(r, c->dry_run);
    if (rc == 0)                     /* before any file is read: which start the run takes */
        rc = check_init_options(&r->opt);
    if (rc < 0 && c->resume && !strstr(lv_error(), c->resume)) {
        char why[1536];              /* a stored option's error names the checkpoint */
        snprintf(why, sizeof why, "%s", lv_error());
        lv_set_error("%s (options stored in %s)", why, c->resume);
    }
    /* the largest micro-batch (r->micro is 0 when the options were refused above) */
    const int64_t micro_max = r->micro > 0 ? (r->batch + r->micro - 1) / r->micro : 0;
    if (rc == 0 && c->dry_run && r->lead)
        rc = dry_run(&r->opt, c->resume, micro_max);
    if (rc < 0 || c->dry_run) {
        if (rc < 0 && r->lead)
            fprintf(stderr, "longvivit train: %s\n", lv_error());
        return rc < 0 ? LV_EXIT_USAGE : LV_EXIT_OK;
    }
    r->json = c->json;
    r->stop_at = c->stop_at;
    r->loader_threads = (int)c->loader_threads;
    snprintf(r->out, sizeof r->out, "%s", opt_get(&r->opt, "out", "run"));
    snprintf(r->ckpt, sizeof r->ckpt, "%s/ckpt.safetensors", r->out);
    args_text(r);
    rc = setup_data(r);
    if (rc == 0)
        rc = make_config(&r->cfg, &r->opt, lv_tokenizer_vocab_size(r->tok), c->resume);
    if (rc == 0 && r->lead)
        summarize_clips(r, opt_get(&r->opt, "data", ""));
    if (rc == 0 && mkdir(r->out, 0755) != 0 && errno != EEXIST)
        rc = lv_set_error("%s: cannot create the output folder: %s", r->out, strerror(errno));
    if (rc == 0 && r->lead)          /* the ranks of one run share the folder */
        rc = lock_run_folder(r);
    if (rc == 0)
        rc = setup_model(r, c->resume);
    if (rc == 0)
        r->model.vocab = lv_tokenizer_text(r->tok);  /* stored in every checkpoint */
    if (rc == 0 && r->step == r->steps) {
        note("%s is already at step %lld of --steps %lld: nothing to do (give "
             "--steps above %lld to train on)\n", c->resume, (long long)r->step,
             (long long)r->steps, (long long)r->step);
        return LV_EXIT_OK;
    }
    if (rc == 0)
        rc = lv_model_alloc_acts(&r->model, micro_max, 0);
    if (rc == 0)
        rc = setup_loader(r);
    rc = agree(rc, NULL);            /* every rank set up, or none trains */
    if (rc == 0)
        rc = train_loop(r);
    rc = agree(rc < 0 ? -1 : 0, NULL) < 0 ? -1 : rc;   /* rank 0's plots and evaluation */
    /* a failure every rank shares is reported once, by rank 0; another rank's, there */
    if (rc < 0 && !others_failed && (!all_failed || r->lead))
        fprintf(stderr, "longvivit train: %s\n", lv_error());
    return rc < 0 ? (usage_failed ? LV_EXIT_USAGE : LV_EXIT_RUNTIME)
         : rc == 1 ? 128 + (int)interrupted : LV_EXIT_OK;
}

int cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout);
    static cli c;
    static run r;
    if (parse(&c, argc, argv) < 0) {
        fprintf(stderr, "longvivit train: %s\n", lv_error());
        return usage(stderr);
    }
    dist = lv_dist_open();
    rank_states = lv_calloc((size_t)dist->size, sizeof *rank_states, "the ranks' states");
    if (!rank_states) {
        fprintf(stderr, "longvivit train: %s\n", lv_error());
        lv_dist_abort(dist, LV_EXIT_RUNTIME);
    }
    const int code = train_command(&c, &r);
    run_free(&r);
    free(rank_states);
    lv_dist_close(dist);
    return code;
}
