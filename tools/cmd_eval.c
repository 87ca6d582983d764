/* Zero-shot evaluation of a dual encoder: every clip of a manifest through the video tower
 * (unmasked, as the paper evaluates), every caption through the text tower, text-video cosine
 * similarity, retrieval metrics both ways, and multiple-choice accuracy (the option whose text
 * is most similar to the video). Used by `eval`, `encode` and at the end of `train`. */
#include "evaluate.h"
#include "blas_glue.h"
#include "commands.h"
#include "error.h"
#include "metrics.h"
#include "plot.h"
#include "preprocess.h"
#include "model_io.h"
#include "safetensors.h"
#include "video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eval_model_make(lv_model *em, const lv_model *trained, int64_t batch)
{
    lv_config c = trained->cfg;
    c.mask_ratio = 0.0;           /* evaluation sees every token */
    if (lv_model_build(em, &c, trained->be) < 0)
        return -1;
    LV_REQUIRE(em->params.n_floats == trained->params.n_floats);
    em->be->copy(em->params.data, trained->params.data, em->params.n_floats);
    return lv_model_alloc_acts(em, batch, 0);
}

/* Decodes and preprocesses one video into dst (F, S, S, 3); scratch grows as needed. */
static int eval_load_video(float *dst, const char *path, double start, double end,
                           const lv_config *c, float **scratch, int64_t *scratch_floats)
{
    lv_sample_spec spec = lv_sample_spec_default(c->frames);
    spec.start = start;
    spec.end = end;
    lv_frames fr;
    if (lv_video_read(&fr, path, &spec) < 0)
        return -1;
    const int64_t need = lv_preprocess_scratch_floats(fr.height, fr.width, c->image_size);
    if (need > *scratch_floats) {
        float *s = realloc(*scratch, (size_t)need * sizeof(float));
        if (!s) {
            lv_frames_free(&fr);
            return lv_set_error("out of memory preprocessing %s", path);
        }
        *scratch = s;
        *scratch_floats = need;
    }
    lv_preprocess(dst, fr.rgb, fr.n, fr.height, fr.width, c->image_size, LV_CLIP_MEAN,
                  LV_CLIP_STD, *scratch);
    lv_frames_free(&fr);
    return 0;
}

/* Video embeddings (n, E) of n (path, start, end) clips, in batches of em->B. */
int eval_embed_videos(float *emb, lv_model *em, const char *const *paths, const double *start,
                      const double *end, int64_t n)
{
    const lv_config *c = &em->cfg;
    const int64_t per = c->frames * c->image_size * c->image_size * 3, E = c->embed_dim;
    float *video = lv_malloc((size_t)(em->B * per) * sizeof(float), "the evaluation batch");
    float *scratch = NULL;
    int64_t scratch_floats = 0;
    int rc = video ? 0 : -1;
    for (int64_t i0 = 0; i0 < n && rc == 0; i0 += em->B) {
        const int64_t B = n - i0 < em->B ? n - i0 : em->B;
        for (int64_t b = 0; b < B && rc == 0; b++)
            rc = eval_load_video(video + b * per, paths[i0 + b], start ? start[i0 + b] : 0,
                                 end ? end[i0 + b] : 0, c, &scratch, &scratch_floats);
        const lv_batch batch = { .B = B, .video = video };
        if (rc == 0)
            rc = lv_model_encode_video(em, &batch);
        if (rc == 0)
            em->be->download(emb + i0 * E, em->video.emb_n, (size_t)(B * E) * sizeof(float));
    }
    free(video);
    free(scratch);
    return rc;
}

/* Text embeddings (n, E) of n captions, in batches of em->B. */
static int embed_texts(float *emb, lv_model *em, const lv_tokenizer *tok,
                       const char *const *texts, int64_t n)
{
    const int64_t T = em->cfg.text_len, E = em->cfg.embed_dim, Bm = em->B;
    int32_t *ids = lv_malloc((size_t)(Bm * T) * sizeof *ids, "caption ids");
    uint8_t *valid = lv_malloc((size_t)(Bm * T), "caption masks");
    if (!ids || !valid) {
        free(ids);
        free(valid);
        return -1;
    }
    for (int64_t i0 = 0; i0 < n; i0 += Bm) {
        const int64_t B = n - i0 < Bm ? n - i0 : Bm;
        for (int64_t b = 0; b < B; b++)
            lv_tokenizer_encode(tok, texts[i0 + b], ids + b * T, valid + b * T, T);
        const lv_batch batch = { .B = B, .text = ids, .text_valid = valid };
        lv_model_encode_text(em, &batch);
        em->be->download(emb + i0 * E, em->text.emb_n, (size_t)(B * E) * sizeof(float));
    }
    free(ids);
    free(valid);
    return 0;
}

static void similarity(float *sim, const float *a, const float *b, int64_t na, int64_t nb,
                       int64_t E)
{
    for (int64_t i = 0; i < na; i++)
        for (int64_t j = 0; j < nb; j++) {
            double s = 0.0;
            for (int64_t e = 0; e < E; e++)
                s += (double)a[i * E + e] * b[j * E + e];
            sim[i * nb + j] = (float)s;
        }
}

static int eval_retrieval(eval_result *r, lv_model *em, const lv_tokenizer *tok,
                          const lv_clip_list *clips, const char *sim_png)
{
    const int64_t n = clips->n, E = em->cfg.embed_dim;
    const char **paths = lv_malloc((size_t)n * sizeof *paths, "paths");
    const char **texts = lv_malloc((size_t)n * sizeof *texts, "captions");
    double *start = lv_malloc((size_t)n * sizeof *start, "starts");
    double *end = lv_malloc((size_t)n * sizeof *end, "ends");
    int64_t *owner = lv_malloc((size_t)n * sizeof *owner, "owners");
    float *ve = lv_malloc((size_t)(n * E) * sizeof(float), "video embeddings");
    float *te = lv_malloc((size_t)(n * E) * sizeof(float), "text embeddings");
    float *sim = lv_malloc((size_t)(n * n) * sizeof(float), "the similarity matrix");
    int rc = paths && texts && start && end && owner && ve && te && sim ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        paths[i] = clips->e[i].video;
        texts[i] = clips->e[i].caption;
        start[i] = clips->e[i].start;
        end[i] = clips->e[i].end;
        owner[i] = i;
    }
    if (rc == 0)
        rc = eval_embed_videos(ve, em, paths, start, end, n);
    if (rc == 0)
        rc = embed_texts(te, em, tok, texts, n);
    if (rc == 0) {
        similarity(sim, te, ve, n, n, E);
        rc = lv_retrieval_both(&r->t2v, &r->v2t, sim, owner, n, n);
    }
    if (rc == 0 && sim_png) {
        /* at least ~560 pixels of matrix whatever n is, so a reader can see single cells */
        const lv_plot_matrix_text words = {
            .title = "text-video similarity (diagonal: the matching pairs)",
            .row_title = "text i (caption of video i)", .col_title = "video j",
            .value_title = "cosine similarity" };
        rc = lv_plot_matrix(sim_png, sim, n, n, n < 560 ? 560 / n : 1, 0.0f, 0.0f, &words);
        if (rc < 0 && !lv_pictures_available()) {       /* no cairo: one line, go on */
            fprintf(stderr, "longvivit eval: %s\n", lv_error());
            rc = 0;
        }
    }
    free(paths);
    free(texts);
    free(start);
    free(end);
    free(owner);
    free(ve);
    free(te);
    free(sim);
    return rc;
}

static int eval_mcq(eval_result *r, lv_model *em, const lv_tokenizer *tok, const lv_mcq_list *q)
{
    const int64_t n = q->n, E = em->cfg.embed_dim;
    float *ve = lv_malloc((size_t)(n * E) * sizeof(float), "question video embeddings");
    float *oe = lv_malloc((size_t)(5 * E) * sizeof(float), "option embeddings");
    float *scores = lv_malloc((size_t)(n * 5) * sizeof(float), "option scores");
    int32_t *answer = lv_malloc((size_t)n * sizeof *answer, "answers");
    const char **paths = lv_malloc((size_t)n * sizeof *paths, "question videos");
    int rc = ve && oe && scores && answer && paths ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        paths[i] = q->e[i].video;
        answer[i] = q->e[i].answer;
    }
    if (rc == 0)
        rc = eval_embed_videos(ve, em, paths, NULL, NULL, n);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        rc = embed_texts(oe, em, tok, (const char *const *)q->e[i].options, 5);
        if (rc == 0)
            similarity(scores + i * 5, ve + i * E, oe, 1, 5, E);
    }
    if (rc == 0)
        r->mcq = lv_mcq_accuracy(scores, answer, n, 5, &r->mcq_n);
    free(ve);
    free(oe);
    free(scores);
    free(answer);
    free(paths);
    return rc;
}

int eval_run(eval_result *r, const lv_model *trained, const lv_tokenizer *tok,
             const lv_clip_list *clips, const lv_mcq_list *mcq, const char *sim_png)
{
    *r = (eval_result){ .mcq = NAN };
    lv_model em;
    int rc = eval_model_make(&em, trained, 8);
    if (rc == 0 && clips && clips->n > 0)
        rc = eval_retrieval(r, &em, tok, clips, sim_png);
    if (rc == 0 && mcq && mcq->n > 0)
        rc = eval_mcq(r, &em, tok, mcq);
    lv_model_free(&em);
    return rc;
}

void eval_print(const eval_result *r, FILE *out, int json)
{
    if (json) {
        fprintf(out, "{\"t2v\": {\"r1\": %.4f, \"r5\": %.4f, \"r10\": %.4f, "
                "\"median_rank\": %.1f}, "
                "\"v2t\": {\"r1\": %.4f, \"r5\": %.4f, \"r10\": %.4f, \"median_rank\": %.1f}, "
                "\"clips\": %lld, \"mcq_accuracy\": %.4f, \"mcq_questions\": %lld}",
                r->t2v.r1, r->t2v.r5, r->t2v.r10, r->t2v.median_rank, r->v2t.r1, r->v2t.r5,
                r->v2t.r10, r->v2t.median_rank, (long long)r->t2v.n,
                isnan(r->mcq) ? -1.0 : r->mcq, (long long)r->mcq_n);
        return;
    }
    fprintf(out, "text->video  R@1 %5.1f  R@5 %5.1f  R@10 %5.1f  median rank %.1f  (%lld clips)\n",
            100 * r->t2v.r1, 100 * r->t2v.r5, 100 * r->t2v.r10, r->t2v.median_rank,
            (long long)r->t2v.n);
    fprintf(out, "video->text  R@1 %5.1f  R@5 %5.1f  R@10 %5.1f  median rank %.1f\n",
            100 * r->v2t.r1, 100 * r->v2t.r5, 100 * r->v2t.r10, r->v2t.median_rank);
    if (r->mcq_n > 0)
        fprintf(out, "multiple choice  accuracy %5.1f%%  (%lld questions, chance 20%%)\n",
                100 * r->mcq, (long long)r->mcq_n);
}

/* ---- the commands --------------------------------------------------------------------------- */

/* A model from a parameter file or checkpoint (its own configuration). */
/* --ckpt must hold a model; otherwise say what the file is and what is expected instead (the
 * library's message speaks to C callers). */
static int check_model_file(const char *path)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const char *format = lv_st_meta(f, "format");
    const int ok = format && (!strcmp(format, LV_PARAMS_FORMAT) || !strcmp(format, LV_CKPT_FORMAT));
    const int embeddings = lv_st_find(f, "video_embeddings") != NULL;
    lv_st_close(f);
    if (ok)
        return 0;
    return lv_set_error("%s is %s, not a trained model: --ckpt wants the ckpt.safetensors that "
                        "longvivit train writes in its --out folder", path,
                        embeddings ? "a file of video embeddings (longvivit encode's output)"
                        : "a safetensors file without longvivit's metadata (a CLIP checkpoint "
                          "starts a training instead: longvivit train --init FILE)");
}

static int load_trained(lv_model *m, const char *path, const lv_backend *be)
{
    lv_config c;
    if (!be)
        return -1;          /* lv_error() names the backends this build has */
    if (check_model_file(path) < 0 || lv_config_from_file(&c, path) < 0 ||
        lv_model_build(m, &c, be) < 0)
        return -1;
    return lv_model_load(m, path);
}

static int eval_usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit eval --ckpt CKPT [--data MANIFEST] [--mcq MCQ.jsonl]\n"
            "           [--msrvtt JSON --videos DIR [--split test]]\n"
            "           [--youcook2 JSON --videos DIR [--split validation]]\n"
            "           [--egoschema QUESTIONS.json [--answers ANSWERS.json] --videos DIR]\n"
            "           [--vocab FILE] [--sim-png OUT.png] [--backend NAME] [--json]\n"
            "Zero-shot text->video and video->text retrieval (Recall@1/5/10, median rank) and\n"
            "multiple-choice accuracy (the option most similar to the video). The model sees\n"
            "every token (no masking). Captions are tokenized with the vocabulary stored in\n"
            "CKPT; a --vocab that differs from it is refused. A file written before models\n"
            "stored their vocabulary takes --vocab (default: vocab.txt beside the data).\n"
            "Backends in this build: %s (default cpu).\n", lv_backend_names());
    return out == stderr ? 2 : 0;
}

typedef struct {
    const char *ckpt, *data, *mcq, *msrvtt, *youcook2, *egoschema, *answers, *videos, *split;
    const char *vocab, *sim_png, *backend;
    int json;
} eval_args;

static int eval_parse(eval_args *a, int argc, char **argv)
{
    static const char *const keys[] = { "--ckpt", "--data", "--mcq", "--msrvtt", "--youcook2",
                                        "--egoschema", "--answers", "--videos", "--split",
                                        "--vocab", "--sim-png", "--backend" };
    const char **slots[] = { &a->ckpt, &a->data, &a->mcq, &a->msrvtt, &a->youcook2,
                             &a->egoschema, &a->answers, &a->videos, &a->split, &a->vocab,
                             &a->sim_png, &a->backend };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            a->json = 1;
            continue;
        }
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(argv[i], keys[k]))
            k++;
        if (k == sizeof keys / sizeof keys[0] || i + 1 >= argc)
            return lv_set_error("bad argument '%s'", argv[i]);
        *slots[k] = argv[++i];
    }
    if (!a->ckpt)
        return lv_set_error("--ckpt is required");
    return 0;
}

/* The vocabulary: the one stored in the checkpoint (an explicit --vocab must equal it); for an
 * older file, --vocab, else vocab.txt beside the first data file given. *code: the exit code. */
static lv_tokenizer *eval_tokenizer(const eval_args *a, int *code)
{
    const char *near = a->data ? a->data : a->mcq ? a->mcq : a->msrvtt ? a->msrvtt
                     : a->youcook2 ? a->youcook2 : a->egoschema;
    char path[4096];
    lv_config c;
    *code = 1;
    if (!near) {
        lv_set_error("nothing to evaluate: give --data, --mcq, --msrvtt, --youcook2 or "
                     "--egoschema");
        return NULL;
    }
    snprintf(path, sizeof path, "%s", near);
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
             "vocab.txt");
    if (lv_config_from_file(&c, a->ckpt) < 0)      /* the embedding rows the ids index */
        return NULL;
    return vocab_for_model(a->ckpt, c.vocab, a->vocab, path, code);
}

int cmd_eval(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return eval_usage(stdout);
    eval_args a = { 0 };
    if (eval_parse(&a, argc, argv) < 0) {
        fprintf(stderr, "longvivit eval: %s\n", lv_error());
        return eval_usage(stderr);
    }
    if (check_model_file(a.ckpt) < 0) {       /* before the vocabulary, which reads it too */
        fprintf(stderr, "longvivit eval: %s\n", lv_error());
        return 1;
    }
    lv_model m = { 0 };
    lv_clip_list clips = { 0 };
    lv_mcq_list q = { 0 };
    int code = 1;
    lv_tokenizer *tok = eval_tokenizer(&a, &code);
    int rc = tok ? load_trained(&m, a.ckpt, backend_by_name(a.backend ? a.backend : "cpu")) : -1;
    const int have_clips = a.data || a.msrvtt || a.youcook2;
    if (rc == 0 && a.data)
        rc = lv_manifest_load(&clips, a.data, 1);
    if (rc == 0 && a.data && clips.n == 0)     /* an empty evaluation is no result */
        rc = lv_set_error("%s lists no clips: nothing to evaluate (a manifest holds one JSON "
                          "object per line, such as {\"video\": \"videos/a.mp4\", \"caption\": "
                          "\"a dog runs\"})", a.data);
    else if (rc == 0 && a.msrvtt)
        rc = lv_msrvtt_load(&clips, a.msrvtt, a.videos ? a.videos : ".",
                            a.split ? a.split : "test", 1);
    else if (rc == 0 && a.youcook2)
        rc = lv_youcook2_load(&clips, a.youcook2, a.videos ? a.videos : ".",
                              a.split ? a.split : "validation");
    if (rc == 0 && a.mcq)
        rc = lv_mcq_load(&q, a.mcq, 1);
    if (rc == 0 && a.mcq && q.n == 0)
        rc = lv_set_error("%s lists no questions: nothing to evaluate", a.mcq);
    else if (rc == 0 && a.egoschema)
        rc = lv_egoschema_load(&q, a.egoschema, a.answers, a.videos ? a.videos : ".");
    eval_result r;
    if (rc == 0)
        rc = eval_run(&r, &m, tok, have_clips ? &clips : NULL, q.n ? &q : NULL, a.sim_png);
    if (rc == 0) {
        eval_print(&r, stdout, a.json);
        if (a.json)
            printf("\n");
    } else {
        fprintf(stderr, "longvivit eval: %s\n", lv_error());
    }
    lv_model_free(&m);
    lv_tokenizer_free(tok);
    lv_clip_list_free(&clips);
    lv_mcq_list_free(&q);
    return rc == 0 ? 0 : tok ? 1 : code;
}

int cmd_encode(int argc, char **argv)
{
    const char *ckpt = NULL, *out = "embeddings.safetensors", *vocab = NULL;
    const char **videos = calloc((size_t)argc, sizeof *videos);
    int64_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: longvivit encode --ckpt CKPT [--out FILE] [--vocab FILE] VIDEO...\n"
                   "Writes the L2-normalised video embeddings (one row per video, in order) as\n"
                   "tensor 'video_embeddings' of FILE (default embeddings.safetensors), with the\n"
                   "video paths in its metadata. Videos need no vocabulary; a --vocab is checked\n"
                   "against the one stored in CKPT (refused when it differs) and stored with the\n"
                   "embeddings, so the text side of a search uses the same one.\n");
            free(videos);
            return 0;
        }
        if ((!strcmp(argv[i], "--ckpt") || !strcmp(argv[i], "--out") ||
             !strcmp(argv[i], "--vocab")) && i + 1 < argc)
            *(argv[i][2] == 'c' ? &ckpt : argv[i][2] == 'o' ? &out : &vocab) = argv[i + 1], i++;
        else
            videos[n++] = argv[i];
    }
    if (!ckpt || n == 0) {
        fprintf(stderr, "longvivit encode: --ckpt CKPT and at least one VIDEO are required\n");
        free(videos);
        return 2;
    }
    lv_model m = { 0 }, em = { 0 };
    float *emb = NULL;
    lv_tokenizer *tok = NULL;
    lv_config c;
    int code = 1;
    int rc = lv_config_from_file(&c, ckpt);
    if (rc == 0) {          /* the stored vocabulary, checked against --vocab */
        tok = vocab_for_model(ckpt, c.vocab, vocab, NULL, &code);
        rc = tok || !vocab ? 0 : -1;       /* without --vocab, an older file needs none */
        code = tok || vocab ? code : 1;
    }
    if (rc == 0)
        rc = load_trained(&m, ckpt, backend_by_name("cpu"));
    if (rc == 0)
        rc = eval_model_make(&em, &m, 8);
    if (rc == 0) {
        const int64_t E = m.cfg.embed_dim;
        emb = lv_malloc((size_t)(n * E) * sizeof(float), "the embeddings");
        rc = emb ? eval_embed_videos(emb, &em, videos, NULL, NULL, n) : -1;
        lv_st_writer *w = rc == 0 ? lv_st_writer_new() : NULL;
        if (w) {
            const int64_t shape[2] = { n, E };
            char key[32];
            lv_st_writer_add_f32(w, "video_embeddings", emb, 2, shape);
            if (tok)
                lv_st_writer_meta(w, "vocab", lv_tokenizer_text(tok));
            for (int64_t i = 0; i < n; i++) {
                snprintf(key, sizeof key, "video.%lld", (long long)i);
                lv_st_writer_meta(w, key, videos[i]);
            }
            rc = lv_st_writer_write(w, out);
            lv_st_writer_free(w);
        }
        lv_model_free(&em);
    }
    if (rc == 0)
        printf("wrote %lld embeddings of width %lld to %s\n", (long long)n,
               (long long)m.cfg.embed_dim, out);
    else
        fprintf(stderr, "longvivit encode: %s\n", lv_error());
    lv_model_free(&m);
    lv_tokenizer_free(tok);
    free(emb);
    free(videos);
    return rc == 0 ? 0 : code;
}
