/* `longvivit train`: the contrastive training loop of the paper's two stages. Options become
 * key=value lines stored in every checkpoint, so `--resume` continues the same run bit for bit.
 * Checkpoints are atomic; SIGINT saves and exits; a NaN loss or gradient stops the run without
 * overwriting the last good checkpoint. */
#include "adamw.h"
#include "checkpoint.h"
#include "clip_init.h"
#include "commands.h"
#include "error.h"
#include "evaluate.h"
#include "loader.h"
#include "model_io.h"
#include "plot.h"
#include "preprocess.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

/* Options that are training settings (the rest are config keys, given as config.KEY). */
static const char *const train_keys[] = {
    "data", "vocab", "out", "preset", "recipe", "steps", "batch", "micro", "lr", "warmup",
    "wd", "clip", "fps", "save_every", "eval", "mcq", "init", "from", "backend", NULL
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
            "           [--from PARAMS] [--resume CKPT] [--steps N] [--batch B] [--micro M]\n"
            "           [--lr X] [--warmup W] [--wd X] [--clip X] [--out DIR]\n"
            "           [--save-every N] [--eval MANIFEST] [--mcq MCQ.jsonl] [--vocab FILE]\n"
            "           [--seed K] [--backend cpu|ref] [--set key=value ...] [--stop-at N]\n"
            "           [--json] [--dry-run]\n"
            "Recipes (SPEC 2.7): short = ShortViViT (16 frames, full tuning, lr 1e-4);\n"
            "long = LongViViT (128 frames, mask 0.75, last 4 blocks, text frozen, lr 1e-5,\n"
            "from a ShortViViT: --from its ckpt.safetensors, temporal embeddings interpolated).\n"
            "--micro M splits each batch into M micro-batches (negatives still span the batch).\n"
            "Writes DIR/ckpt.safetensors (every --save-every steps and at the end), DIR/loss.png\n"
            "and, with an evaluation set (default: test.jsonl and mcq.jsonl beside the data),\n"
            "DIR/similarity.png. --resume continues a run exactly where its checkpoint ends\n"
            "(--stop-at N saves and stops at step N of the run, for a later --resume).\n"
            "--dry-run prints the configuration, parameter counts and step memory and exits.\n");
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
            c->stop_at = atoll(v);
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

static int make_config(lv_config *c, const options *o, int64_t vocab)
{
    if (lv_config_preset(c, opt_get(o, "preset", "tiny")) < 0)
        return -1;
    for (int i = 0; i < o->n; i++)
        if (!strncmp(o->kv[i], "config.", 7) && lv_config_set(c, o->kv[i] + 7) < 0)
            return -1;
    if (vocab > 0) {
        char v[64];
        snprintf(v, sizeof v, "vocab=%lld", (long long)vocab);
        lv_config_set(c, v);
    }
    return lv_config_validate(c);
}

/* ---- dry run -------------------------------------------------------------------------------- */

static void memory_row(const char *what, double floats)
{
    printf("  %-34s %10.1f MiB\n", what, floats * 4.0 / (1 << 20));
}

static int dry_run(const options *o)
{
    lv_config c;
    lv_model m;
    const lv_backend *be = backend_by_name(opt_get(o, "backend", "cpu"));
    if (!be)
        return lv_set_error("--backend must be ref or cpu");
    if (make_config(&c, o, 0) < 0 || lv_model_build_table(&m, &c, be) < 0)
        return -1;
    const int64_t B = atoll(opt_get(o, "batch", "8")) / atoll(opt_get(o, "micro", "1"));
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
    lv_adamw adam;
    lv_adamw_config ac;
    lv_accum acc;
    lv_tokenizer *tok;
    lv_clip_list clips;
    lv_loader *loader;
    lv_loader *images;           /* image-text pairs of the manifest, if any (mixed training) */
    float *losses;
    int64_t steps, batch, micro, step, position, image_position, save_every;
    char out[2048], ckpt[2100], args[MAX_OPTS * OPT_LEN];
    int json;
    int64_t stop_at;
} run;

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

static int save(run *r)
{
    const lv_train_state st = { .step = r->step, .data_position = r->position,
                                .image_position = r->image_position,
                                .losses = r->losses, .n_losses = r->step,
                                .train_args = r->args };
    return lv_checkpoint_save(r->ckpt, &r->model, &r->adam, &st);
}

static int setup_optimizer(run *r)
{
    r->ac = lv_adamw_defaults();
    r->ac.lr = atof(opt_get(&r->opt, "lr", "1e-4"));
    r->ac.weight_decay = atof(opt_get(&r->opt, "wd", "0.05"));
    r->ac.clip = atof(opt_get(&r->opt, "clip", "1.0"));
    r->ac.total = r->steps;
    char warm[32];
    snprintf(warm, sizeof warm, "%lld", (long long)(r->steps / 10 < 100 ? r->steps / 10 : 100));
    r->ac.warmup = atoll(opt_get(&r->opt, "warmup", warm));
    return lv_adamw_init(&r->adam, &r->model.params);
}

/* Model, optimiser and position: fresh (with --init / --from) or from --resume. */
static int setup_model(run *r, const char *resume)
{
    const lv_backend *be = backend_by_name(opt_get(&r->opt, "backend", "cpu"));
    if (!be)
        return lv_set_error("--backend must be ref or cpu");
    if (lv_model_build(&r->model, &r->cfg, be) < 0 || setup_optimizer(r) < 0)
        return -1;
    r->losses = lv_calloc((size_t)(r->steps ? r->steps : 1), sizeof(float), "the loss history");
    if (!r->losses)
        return -1;
    const char *init = opt_get(&r->opt, "init", NULL), *from = opt_get(&r->opt, "from", NULL);
    if (resume) {
        lv_train_state st;
        char *saved_args;
        if (lv_checkpoint_load(resume, &r->model, &r->adam, &st, &saved_args) < 0)
            return -1;
        free(saved_args);
        r->step = st.step;
        r->position = st.data_position;
        r->image_position = st.image_position;
        memcpy(r->losses, st.losses, (size_t)(st.n_losses < r->steps ? st.n_losses : r->steps) *
                                         sizeof(float));
        free((void *)st.losses);
        fprintf(stderr, "resumed %s at step %lld\n", resume, (long long)r->step);
    } else if (init && lv_model_init_from_clip(&r->model, init) < 0) {
        return -1;
    } else if (from) {
        int64_t copied, resized, kept;
        if (lv_model_start_from(&r->model, from, &copied, &resized, &kept) < 0)
            return -1;
        fprintf(stderr, "started from %s: %lld tensors copied, %lld temporal tables resized, "
                "%lld kept their initialisation\n", from, (long long)copied, (long long)resized,
                (long long)kept);
    }
    return 0;
}

static int setup_data(run *r)
{
    const char *data = opt_get(&r->opt, "data", NULL);
    if (!data)
        return lv_set_error("--data MANIFEST is required");
    char folder[2048], vocab[2100];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", folder_of(data, folder, sizeof folder));
    r->tok = lv_tokenizer_load(opt_get(&r->opt, "vocab", vocab));
    if (!r->tok || lv_manifest_load(&r->clips, data, 1) < 0)
        return -1;
    return r->clips.n ? 0 : lv_set_error("%s lists no clips to train on", data);
}

static int setup_loader(run *r)
{
    lv_loader_spec spec = {
        .batch = r->batch, .frames = r->cfg.frames, .size = r->cfg.image_size,
        .text_len = r->cfg.text_len, .fps = atof(opt_get(&r->opt, "fps", "1")),
        .mode = LV_SAMPLE_FIRST, .mean = { LV_CLIP_MEAN[0], LV_CLIP_MEAN[1], LV_CLIP_MEAN[2] },
        .std = { LV_CLIP_STD[0], LV_CLIP_STD[1], LV_CLIP_STD[2] }, .shuffle = 1,
        .seed = r->cfg.seed, .max_bad_fraction = 0.1, .start_position = r->position };
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
    const int64_t mb = r->batch / r->micro, per = c->frames * c->image_size * c->image_size * 3;
    lv_batch micro[64];
    for (int64_t i = 0; b && i < r->micro; i++)
        micro[i] = (lv_batch){ .B = mb, .video = b->video + i * mb * per,
                               .text = b->text + i * mb * c->text_len,
                               .text_valid = b->text_valid + i * mb * c->text_len,
                               .step = (uint32_t)r->step, .first_sample = (uint32_t)(i * mb) };
    lv_params_zero_grad(&r->model.params);
    *loss = b ? lv_model_step(&r->model, micro, r->micro, &r->acc) : 0.0f;
    if (img && isfinite(*loss)) {
        const lv_batch ib = { .B = img->B, .video = img->video, .is_image = 1,
                              .text = img->text, .text_valid = img->text_valid,
                              .step = (uint32_t)r->step };
        *loss += lv_model_step(&r->model, &ib, 1, &r->acc);
    }
    if (!isfinite(*loss))
        return lv_set_error("step %lld: the loss is %s", (long long)r->step + 1,
                            isnan(*loss) ? "NaN" : "infinite");
    if (lv_grads_finite(&r->model.params) < 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", lv_error());
        return lv_set_error("step %lld: %s", (long long)r->step + 1, why);
    }
    lv_adamw_clip_step(r->model.be, &r->adam, &r->model.params, lv_lr_at(&r->ac, r->step),
                       &r->ac);
    return 0;
}

static void report(run *r, float loss, double t0, int64_t first)
{
    char line[256];
    const double dt = (double)clock() / CLOCKS_PER_SEC - t0;
    const double rate = dt > 0 ? (double)((r->step + 1 - first) * r->batch) / dt : 0;
    const float scale = expf(fminf(lv_param_data(&r->model.params, r->model.logit_scale)[0],
                                   logf(LV_LOGIT_SCALE_MAX)));
    const double eta = rate > 0 ? (double)((r->steps - r->step - 1) * r->batch) / rate : 0;
    snprintf(line, sizeof line, "train step %lld/%lld loss %.4f temp %.4f lr %.2e %.1f samples/s"
             " ETA %.0fs", (long long)r->step + 1, (long long)r->steps, loss, 1.0 / scale,
             lv_lr_at(&r->ac, r->step), rate, eta);
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

static int finish(run *r)
{
    char png[2100], folder[2048];
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
    const int plotted = lv_plot_lines(png, r->losses, smooth, r->step, 640, 360,
                                      "loss per step, mean of 20");
    free(smooth);
    if (plotted < 0)
        return -1;
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
               "\"peak_rss_mb\": %.1f, \"checkpoint\": \"%s\", \"eval\": ", (long long)r->step,
               mean_loss(r->losses, 0, r->step), mean_loss(r->losses, 1, r->step), peak_mb,
               r->ckpt);
        eval_print(&e, stdout, 1);
        printf("}\n");
    } else if (rc == 0) {
        printf("peak memory (RSS) %.1f MiB; checkpoint %s\n", peak_mb, r->ckpt);
    }
    lv_clip_list_free(&clips);
    lv_mcq_list_free(&q);
    return rc;
}

static int train_loop(run *r)
{
    const double t0 = (double)clock() / CLOCKS_PER_SEC;
    const int64_t first = r->step;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    const int64_t end = r->stop_at > 0 && r->stop_at < r->steps ? r->stop_at : r->steps;
    while (r->step < end && !interrupted) {
        const lv_loader_batch *b = NULL, *img = NULL;
        float loss;
        if ((r->loader && lv_loader_next(r->loader, &b) < 0) ||
            (r->images && lv_loader_next(r->images, &img) < 0))
            return -1;
        if (train_step(r, b, img, &loss) < 0) {
            char why[1024];
            snprintf(why, sizeof why, "%s", lv_error());
            return lv_set_error("%s; stopped without saving: %s keeps the last good state "
                                "(lower --lr, then --resume it)", why, r->ckpt);
        }
        r->losses[r->step] = loss;
        r->position = b ? b->position : 0;
        r->image_position = img ? img->position : 0;
        report(r, loss, t0, first);
        r->step++;
        if (r->save_every > 0 && r->step % r->save_every == 0 && save(r) < 0)
            return -1;
    }
    if (save(r) < 0)
        return -1;
    if (interrupted || r->step < r->steps) {
        fprintf(stderr, "\n%s at step %lld; saved %s (continue with --resume %s)\n",
                interrupted ? "interrupted" : "stopped", (long long)r->step, r->ckpt, r->ckpt);
        return 0;
    }
    return finish(r);
}

static void run_free(run *r)
{
    lv_loader_close(r->loader);
    lv_loader_close(r->images);
    lv_accum_free(&r->acc);
    lv_adamw_free(&r->adam);
    lv_model_free(&r->model);
    lv_tokenizer_free(r->tok);
    lv_clip_list_free(&r->clips);
    free(r->losses);
}

/* On --resume the run's own options come back from the checkpoint; the command line may only
 * extend it (--steps) or move its output (--out). */
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
    for (int i = 0; i < given->n; i++)
        if (!strncmp(given->kv[i], "steps=", 6) || !strncmp(given->kv[i], "out=", 4))
            opt_set(o, strncmp(given->kv[i], "steps=", 6) ? "out" : "steps",
                    strchr(given->kv[i], '=') + 1);
    return 0;
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
    int rc = c.resume ? resume_options(&r.opt, c.resume, &c.opt) : apply_recipe(&r.opt, &c.opt);
    if (rc == 0 && c.dry_run)
        rc = dry_run(&r.opt);
    if (rc < 0 || c.dry_run) {
        if (rc < 0)
            fprintf(stderr, "longvivit train: %s\n", lv_error());
        return rc < 0 ? 2 : 0;
    }
    r.json = c.json;
    r.stop_at = c.stop_at;
    r.steps = atoll(opt_get(&r.opt, "steps", "100"));
    r.batch = atoll(opt_get(&r.opt, "batch", "8"));
    r.micro = atoll(opt_get(&r.opt, "micro", "1"));
    r.save_every = atoll(opt_get(&r.opt, "save_every", "0"));
    snprintf(r.out, sizeof r.out, "%s", opt_get(&r.opt, "out", "run"));
    snprintf(r.ckpt, sizeof r.ckpt, "%s/ckpt.safetensors", r.out);
    if (r.steps < 1 || r.batch < 1 || r.micro < 1 || r.micro > 64 || r.batch % r.micro) {
        fprintf(stderr, "longvivit train: need steps >= 1, batch >= 1 and a micro count "
                        "(<= 64) that divides the batch\n");
        return 2;
    }
    args_text(&r);
    rc = setup_data(&r);
    if (rc == 0)
        rc = make_config(&r.cfg, &r.opt, lv_tokenizer_vocab_size(r.tok));
    if (rc == 0 && mkdir(r.out, 0755) != 0 && access(r.out, W_OK) != 0)
        rc = lv_set_error("%s: cannot create the output folder", r.out);
    if (rc == 0)
        rc = setup_model(&r, c.resume);
    if (rc == 0)
        rc = lv_model_alloc_acts(&r.model, r.batch / r.micro, 0);
    if (rc == 0)
        rc = lv_accum_alloc(&r.acc, r.batch, r.cfg.embed_dim);
    if (rc == 0)
        rc = setup_loader(&r);
    if (rc == 0)
        rc = train_loop(&r);
    if (rc < 0)
        fprintf(stderr, "longvivit train: %s\n", lv_error());
    run_free(&r);
    return rc < 0 ? 1 : 0;
}
