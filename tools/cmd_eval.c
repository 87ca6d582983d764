/* Zero-shot evaluation of a dual encoder: every video of a manifest or benchmark through the
 * video tower (unmasked, as the paper evaluates), every caption through the text tower,
 * text-video cosine similarity, retrieval metrics both ways (several captions per video as the
 * benchmarks' protocols count them), and multiple-choice accuracy (the option whose text is
 * most similar to the video), with EgoSchema's submission file. Used by `eval`, `encode` and at
 * the end of `train`; the benchmark files themselves are read by data/manifest.c. */
#include "evaluate.h"
#include "blas_glue.h"
#include "commands.h"
#include "error.h"
#include "metrics.h"
#include "plot.h"
#include "preprocess.h"
#include "model_io.h"
#include "options.h"
#include "safetensors.h"
#include "video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int eval_load_video(float *dst, const char *path, double start, double end, const lv_config *c,
                    float **scratch, int64_t *scratch_floats)
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

/* ids/valid (T) of a question and one of its options as one text: [CLS] question pieces, option
 * pieces, [SEP], then padding; the same ids as encoding "question option" whenever that fits,
 * and otherwise the question cut short so that the option stays whole (the option alone is
 * cut only when it does not fit by itself). q_ids/q_valid: (T) scratch. */
static void encode_question_option(const lv_tokenizer *tok, const char *question,
                                   const char *option, int32_t *ids, uint8_t *valid,
                                   int32_t *q_ids, uint8_t *q_valid, int64_t T)
{
    const int64_t n_o = lv_tokenizer_encode(tok, option, ids, valid, T);
    const int64_t n_q = lv_tokenizer_encode(tok, question, q_ids, q_valid, T);
    const int64_t room = T - n_o, keep = n_q - 2 < room ? n_q - 2 : room;
    if (keep <= 0)
        return;
    memmove(ids + 1 + keep, ids + 1, (size_t)(n_o - 1) * sizeof *ids);  /* option, [SEP] */
    memcpy(ids + 1, q_ids + 1, (size_t)keep * sizeof *ids);
    memset(valid + n_o, 1, (size_t)keep);
}

/* Text embeddings (n, E) of n captions, in batches of em->B; with question, each text is an
 * option of that question (encode_question_option). */
static int embed_texts(float *emb, lv_model *em, const lv_tokenizer *tok,
                       const char *const *texts, const char *question, int64_t n)
{
    const int64_t T = em->cfg.text_len, E = em->cfg.embed_dim, Bm = em->B;
    int32_t *ids = lv_malloc((size_t)((Bm + 1) * T) * sizeof *ids, "caption ids");
    uint8_t *valid = lv_malloc((size_t)((Bm + 1) * T), "caption masks");
    if (!ids || !valid) {
        free(ids);
        free(valid);
        return -1;
    }
    int32_t *q_ids = ids + Bm * T;          /* (T) the question alone */
    uint8_t *q_valid = valid + Bm * T;
    for (int64_t i0 = 0; i0 < n; i0 += Bm) {
        const int64_t B = n - i0 < Bm ? n - i0 : Bm;
        for (int64_t b = 0; b < B; b++) {
            if (question)
                encode_question_option(tok, question, texts[i0 + b], ids + b * T,
                                       valid + b * T, q_ids, q_valid, T);
            else
                lv_tokenizer_encode(tok, texts[i0 + b], ids + b * T, valid + b * T, T);
        }
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

typedef struct {
    const lv_clip_entry *e;
    int64_t i;
} clip_ref;

/* By file, start, end and kind, then by position: equal clips end up adjacent, first one first. */
static int clip_ref_cmp(const void *pa, const void *pb)
{
    const clip_ref *a = pa, *b = pb;
    const int c = strcmp(a->e->video, b->e->video);
    if (c)
        return c;
    if (a->e->start != b->e->start)
        return a->e->start < b->e->start ? -1 : 1;
    if (a->e->end != b->e->end)
        return a->e->end < b->e->end ? -1 : 1;
    if (a->e->is_image != b->e->is_image)
        return a->e->is_image - b->e->is_image;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* owner (n): each clip's video, videos numbered in the order of their first clip, clips with the
 * same file, start, end and kind being one video; first (n, V used): a clip of each video.
 * Returns V, or -1 when out of memory. */
static int64_t clip_videos(const lv_clip_list *clips, int64_t *owner, int64_t *first)
{
    const int64_t n = clips->n;
    clip_ref *r = lv_malloc((size_t)n * sizeof *r, "the clip order");
    int64_t *head = lv_malloc((size_t)n * sizeof *head, "the clip groups");      /* (n) */
    if (!r || !head) {
        free(r);
        free(head);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        r[i] = (clip_ref){ &clips->e[i], i };
    qsort(r, (size_t)n, sizeof *r, clip_ref_cmp);
    for (int64_t k = 0; k < n; k++)     /* head[i]: the first clip equal to clip i */
        head[r[k].i] = k > 0 && clip_ref_cmp(&(clip_ref){ r[k - 1].e, 0 },
                                             &(clip_ref){ r[k].e, 0 }) == 0
                       ? head[r[k - 1].i] : r[k].i;
    int64_t V = 0;
    for (int64_t i = 0; i < n; i++) {   /* head[i] <= i, so its owner is already set */
        if (head[i] == i)
            first[V++] = i;
        owner[i] = head[i] == i ? V - 1 : owner[head[i]];
    }
    free(r);
    free(head);
    return V;
}

static int eval_sim_png(const char *png, const float *sim, int64_t T, int64_t V)
{
    /* at least ~560 pixels of matrix whatever T is, so a reader can see single cells; with
     * several captions per video the diagonal means nothing, so no cell is big enough for the
     * plot to outline it */
    int64_t cell = T < 560 ? 560 / T : 1;
    if (T != V && cell > 2)
        cell = 2;
    const lv_plot_matrix_text words = {
        .title = T == V ? "text-video similarity (diagonal: the matching pairs)"
                        : "text-video similarity (several captions per video)",
        .row_title = T == V ? "text i (caption of video i)" : "text i",
        .col_title = "video j", .value_title = "cosine similarity" };
    int rc = lv_plot_matrix(png, sim, T, V, cell, 0.0f, 0.0f, &words);
    if (rc < 0 && !lv_pictures_available()) {       /* no cairo: one line, go on */
        fprintf(stderr, "longvivit eval: %s\n", lv_error());
        rc = 0;
    }
    return rc;
}

static int eval_retrieval(eval_result *r, lv_model *em, const lv_tokenizer *tok,
                          const lv_clip_list *clips, const char *sim_png)
{
    const int64_t T = clips->n, E = em->cfg.embed_dim;
    int64_t *owner = lv_malloc((size_t)T * sizeof *owner, "owners");       /* (T) */
    int64_t *first = lv_malloc((size_t)T * sizeof *first, "videos");       /* (V) */
    const int64_t V = owner && first ? clip_videos(clips, owner, first) : -1;
    const char **paths = lv_malloc((size_t)T * sizeof *paths, "paths");    /* (V) */
    const char **texts = lv_malloc((size_t)T * sizeof *texts, "captions"); /* (T) */
    double *start = lv_malloc((size_t)T * sizeof *start, "starts");        /* (V) */
    double *end = lv_malloc((size_t)T * sizeof *end, "ends");              /* (V) */
    float *ve = V > 0 ? lv_malloc((size_t)(V * E) * sizeof(float), "video embeddings") : NULL;
    float *te = lv_malloc((size_t)(T * E) * sizeof(float), "text embeddings");
    float *sim = V > 0 ? lv_malloc((size_t)(T * V) * sizeof(float), "the similarity matrix")
                       : NULL;                                             /* (T, V) */
    int rc = paths && texts && start && end && ve && te && sim ? 0 : -1;
    for (int64_t v = 0; rc == 0 && v < V; v++) {
        paths[v] = clips->e[first[v]].video;
        start[v] = clips->e[first[v]].start;
        end[v] = clips->e[first[v]].end;
    }
    for (int64_t t = 0; rc == 0 && t < T; t++)
        texts[t] = clips->e[t].caption;
    if (rc == 0)
        rc = eval_embed_videos(ve, em, paths, start, end, V);
    if (rc == 0)
        rc = embed_texts(te, em, tok, texts, NULL, T);
    if (rc == 0) {
        similarity(sim, te, ve, T, V, E);
        rc = lv_retrieval_both(&r->t2v, &r->v2t, sim, owner, T, V);
    }
    if (rc == 0 && sim_png)
        rc = eval_sim_png(sim_png, sim, T, V);
    free(owner);
    free(first);
    free(paths);
    free(texts);
    free(start);
    free(end);
    free(ve);
    free(te);
    free(sim);
    return rc;
}

/* The option with the highest score (the lowest index among ties; NaN never wins) and whether
 * another option shares that score. */
static int32_t mcq_choose(const float *scores, int *tied)
{
    int32_t best = 0;
    for (int32_t j = 1; j < 5; j++)
        if (scores[j] > scores[best] || (isnan(scores[best]) && !isnan(scores[j])))
            best = j;
    *tied = 0;
    for (int32_t j = 0; j < 5; j++)
        *tied |= j != best && !(scores[j] < scores[best]);
    return best;
}

static int eval_mcq(eval_result *r, lv_model *em, const lv_tokenizer *tok, const lv_mcq_list *q,
                    const eval_options *o)
{
    const int64_t n = q->n, E = em->cfg.embed_dim;
    float *ve = lv_malloc((size_t)(n * E) * sizeof(float), "question video embeddings");
    float *oe = lv_malloc((size_t)(5 * E) * sizeof(float), "option embeddings");
    float *scores = lv_malloc((size_t)(n * 5) * sizeof(float), "option scores");   /* (n, 5) */
    int32_t *answer = lv_malloc((size_t)n * sizeof *answer, "answers");
    const char **paths = lv_malloc((size_t)n * sizeof *paths, "question videos");
    int rc = ve && oe && scores && answer && paths ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        paths[i] = q->e[i].video;
        answer[i] = q->e[i].answer;
    }
    float *blind = lv_malloc((size_t)(n * 5) * sizeof(float), "blind option scores");
    double *mean = lv_calloc((size_t)E, sizeof *mean, "the mean video embedding");
    float *mean_f = lv_malloc((size_t)E * sizeof *mean_f, "the mean video embedding");
    rc = rc == 0 && blind && mean && mean_f ? 0 : -1;
    if (rc == 0)
        rc = eval_embed_videos(ve, em, paths, NULL, NULL, n);
    /* the blind floor's one video: the normalised mean of the questions' video embeddings */
    double norm = 0.0;
    for (int64_t e = 0; rc == 0 && e < E; e++) {
        for (int64_t i = 0; i < n; i++)
            mean[e] += ve[i * E + e];
        norm += mean[e] * mean[e];
    }
    for (int64_t e = 0; rc == 0 && e < E; e++)
        mean_f[e] = norm > 0.0 ? (float)(mean[e] / sqrt(norm)) : 0.0f;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        rc = embed_texts(oe, em, tok, (const char *const *)q->e[i].options,
                         o->mcq_question ? q->e[i].question : NULL, 5);
        if (rc == 0) {
            similarity(scores + i * 5, ve + i * E, oe, 1, 5, E);
            similarity(blind + i * 5, mean_f, oe, 1, 5, E);
        }
    }
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        int tied;
        const int32_t c = mcq_choose(scores + i * 5, &tied);
        r->mcq_ties += tied;
        if (o->mcq_choice)
            o->mcq_choice[i] = c;
        mcq_choose(blind + i * 5, &tied);
        r->mcq_blind_ties += tied;
    }
    if (rc == 0) {
        int64_t scored;
        r->mcq = lv_mcq_accuracy(scores, answer, n, 5, &r->mcq_n);
        r->mcq_blind = lv_mcq_accuracy(blind, answer, n, 5, &scored);
    }
    free(blind);
    free(mean);
    free(mean_f);
    free(ve);
    free(oe);
    free(scores);
    free(answer);
    free(paths);
    return rc;
}

int eval_run_with(eval_result *r, const lv_model *trained, const lv_tokenizer *tok,
                  const lv_clip_list *clips, const lv_mcq_list *mcq, const eval_options *o)
{
    *r = (eval_result){ .mcq = NAN, .mcq_blind = NAN };
    lv_model em;
    int rc = eval_model_make(&em, trained, 8);
    if (rc == 0 && clips && clips->n > 0)
        rc = eval_retrieval(r, &em, tok, clips, o->sim_png);
    if (rc == 0 && mcq && mcq->n > 0)
        rc = eval_mcq(r, &em, tok, mcq, o);
    lv_model_free(&em);
    return rc;
}

int eval_run(eval_result *r, const lv_model *trained, const lv_tokenizer *tok,
             const lv_clip_list *clips, const lv_mcq_list *mcq, const char *sim_png)
{
    const eval_options o = { .sim_png = sim_png };
    return eval_run_with(r, trained, tok, clips, mcq, &o);
}

static void retrieval_json(FILE *out, const char *name, const lv_retrieval *x, int present)
{
    if (!present) {
        fprintf(out, "\"%s\": null, ", name);
        return;
    }
    fprintf(out, "\"%s\": {\"r1\": %.4f, \"r5\": %.4f, \"r10\": %.4f, \"median_rank\": %.1f}, ",
            name, x->r1, x->r5, x->r10, x->median_rank);
}

void eval_print(const eval_result *r, FILE *out, int json)
{
    const int retrieval = r->t2v.n > 0;
    if (json) {
        fprintf(out, "{");
        retrieval_json(out, "t2v", &r->t2v, retrieval);
        retrieval_json(out, "v2t", &r->v2t, retrieval);
        fprintf(out, "\"clips\": %lld, \"videos\": %lld, \"missing_videos\": %lld, "
                "\"missing_clips\": %lld, \"mcq_accuracy\": %.4f, \"mcq_questions\": %lld, "
                "\"mcq_ties\": %lld, \"mcq_blind_accuracy\": %.4f, \"mcq_blind_ties\": %lld}",
                (long long)r->t2v.n, (long long)r->v2t.n, (long long)r->missing_videos,
                (long long)r->missing_clips, isnan(r->mcq) ? -1.0 : r->mcq, (long long)r->mcq_n,
                (long long)r->mcq_ties, isnan(r->mcq_blind) ? -1.0 : r->mcq_blind,
                (long long)r->mcq_blind_ties);
        return;
    }
    if (r->missing_videos > 0)
        fprintf(out, "skipped %lld missing videos (%lld clips): not found under --videos\n",
                (long long)r->missing_videos, (long long)r->missing_clips);
    if (retrieval && r->t2v.n == r->v2t.n)
        fprintf(out, "text->video  R@1 %5.1f  R@5 %5.1f  R@10 %5.1f  median rank %.1f  "
                "(%lld clips)\n", 100 * r->t2v.r1, 100 * r->t2v.r5, 100 * r->t2v.r10,
                r->t2v.median_rank, (long long)r->t2v.n);
    else if (retrieval)
        fprintf(out, "text->video  R@1 %5.1f  R@5 %5.1f  R@10 %5.1f  median rank %.1f  "
                "(%lld captions of %lld videos)\n", 100 * r->t2v.r1, 100 * r->t2v.r5,
                100 * r->t2v.r10, r->t2v.median_rank, (long long)r->t2v.n,
                (long long)r->v2t.n);
    if (retrieval)
        fprintf(out, "video->text  R@1 %5.1f  R@5 %5.1f  R@10 %5.1f  median rank %.1f\n",
                100 * r->v2t.r1, 100 * r->v2t.r5, 100 * r->v2t.r10, r->v2t.median_rank);
    if (r->mcq_n > 0)
        fprintf(out, "multiple choice  accuracy %5.1f%%  (%lld questions, chance 20%%; blind "
                "%.1f%%: against the mean video)\n", 100 * r->mcq, (long long)r->mcq_n,
                100 * r->mcq_blind);
    if (r->mcq_ties > 0)
        fprintf(out, "multiple choice  %lld questions with a tie for the best option (scored "
                "wrong; a prediction takes the lowest index)\n", (long long)r->mcq_ties);
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
            "           [--msrvtt videodatainfo.json --videos DIR [--split test]\n"
            "                                        [--captions first|all]]\n"
            "           [--msrvtt MSRVTT_JSFUSION_test.csv --videos DIR]\n"
            "           [--youcook2 JSON --videos DIR [--split validation]]\n"
            "           [--egoschema questions.json --videos DIR [--answers ANSWERS.json]\n"
            "                                        [--predictions OUT.json]]\n"
            "           [--mcq-text option|question+option] [--vocab FILE] [--sim-png OUT.png]\n"
            "           [--backend NAME] [--json]\n"
            "Zero-shot text->video and video->text retrieval (Recall@1/5/10, median rank) and\n"
            "multiple-choice accuracy (the option most similar to the video). The model sees\n"
            "every token (no masking). Captions are tokenized with the vocabulary stored in\n"
            "CKPT; a --vocab that differs from it is refused. A file written before models\n"
            "stored their vocabulary takes --vocab (default: vocab.txt beside the data).\n"
            "Clips with the same file, start and end are one video with several captions:\n"
            "text->video ranks the videos for every caption, video->text counts a video at\n"
            "the rank of its best-ranked own caption. A video-to-text model's generated text\n"
            "and questions: eval --v2t V2T (eval --v2t V2T --help).\n"
            "  --msrvtt FILE.csv       MSR-VTT 1k-A: the test CSV (key,vid_key,video_id,\n"
            "                          sentence), one query per row (told apart by .csv)\n"
            "  --captions all          every caption of each MSR-VTT video is a query (the\n"
            "                          full-test protocol); first (default): one per video\n"
            "  --youcook2              searches DIR/<id>.mp4 and the download's tree\n"
            "                          DIR/raw_videos/<subset>/<recipe_type>/<id>.mp4|mkv|webm;\n"
            "                          missing videos are skipped and counted\n"
            "  --answers FILE          score only the questions it answers (EgoSchema's\n"
            "                          subset_answers.json); their videos alone are read\n"
            "  --predictions OUT.json  EgoSchema's submission: {\"<q_uid>\": option 0..4}\n"
            "  --mcq-text MODE         an option's text: option alone (default of --mcq) or\n"
            "                          question+option (default of --egoschema)\n"
            "Backends in this build: %s (default cpu).\n%s", lv_backend_names(),
            lv_opt_precision_help());
    return out == stderr ? 2 : 0;
}

typedef struct {
    const char *ckpt, *data, *mcq, *msrvtt, *youcook2, *egoschema, *answers, *videos, *split;
    const char *vocab, *sim_png, *backend, *captions, *predictions, *mcq_text;
    int json;
} eval_args;

/* name ends in .csv, any case */
static int is_csv(const char *name)
{
    const size_t n = strlen(name);
    return n >= 4 && !strcasecmp(name + n - 4, ".csv");
}

/* Options that contradict each other or do nothing: usage errors. */
static int eval_check_args(const eval_args *a)
{
    const int csv = a->msrvtt && is_csv(a->msrvtt);
    if (!a->ckpt)
        return lv_set_error("--ckpt is required");
    if (a->captions && strcmp(a->captions, "first") && strcmp(a->captions, "all"))
        return lv_set_error("--captions %s: give first or all", a->captions);
    if (a->captions && (!a->msrvtt || csv))
        return lv_set_error("--captions applies to --msrvtt's videodatainfo JSON (the 1k-A CSV "
                            "has one caption per row already)");
    if (a->split && csv)
        return lv_set_error("--split does not apply to the 1k-A CSV: it is the test split");
    if (a->mcq_text && strcmp(a->mcq_text, "option") && strcmp(a->mcq_text, "question+option"))
        return lv_set_error("--mcq-text %s: give option or question+option", a->mcq_text);
    if ((a->answers || a->predictions) && !a->egoschema)
        return lv_set_error("%s applies to --egoschema", a->answers ? "--answers"
                                                                      : "--predictions");
    if (a->egoschema && !a->answers && !a->predictions)
        return lv_set_error("--egoschema without --answers or --predictions reports nothing: "
                            "--answers subset_answers.json scores the questions it answers, "
                            "--predictions OUT.json writes the submission for all of them");
    return 0;
}

static int eval_parse(eval_args *a, int argc, char **argv)
{
    static const char *const keys[] = { "--ckpt", "--data", "--mcq", "--msrvtt", "--youcook2",
                                        "--egoschema", "--answers", "--videos", "--split",
                                        "--vocab", "--sim-png", "--backend", "--captions",
                                        "--predictions", "--mcq-text" };
    const char **slots[] = { &a->ckpt, &a->data, &a->mcq, &a->msrvtt, &a->youcook2,
                             &a->egoschema, &a->answers, &a->videos, &a->split, &a->vocab,
                             &a->sim_png, &a->backend, &a->captions, &a->predictions,
                             &a->mcq_text };
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
    return eval_check_args(a);
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

/* YouCook2 with the videos that are there: the download always lacks some. */
static int eval_load_youcook2(lv_clip_list *clips, const eval_args *a, const char *videos,
                              eval_result *missing)
{
    const char *subset = a->split ? a->split : "validation";
    if (lv_youcook2_load(clips, a->youcook2, videos, subset) < 0 ||
        lv_clip_list_drop_missing(clips, &missing->missing_videos, &missing->missing_clips) < 0)
        return -1;
    if (clips->n == 0)
        return lv_set_error("none of the %lld videos of subset '%s' in %s is under %s (looked "
                            "for <id>.mp4/.mkv/.webm there and in raw_videos/%s/<recipe_type>/): "
                            "give --videos the folder that holds them",
                            (long long)missing->missing_videos, subset, a->youcook2, videos,
                            subset);
    return 0;
}

/* The clips of --data, --msrvtt (JSON or 1k-A CSV) or --youcook2, the first one given. */
static int eval_load_clips(lv_clip_list *clips, const eval_args *a, eval_result *missing)
{
    const char *videos = a->videos ? a->videos : ".";
    if (a->data) {
        if (lv_manifest_load(clips, a->data, 1) < 0)
            return -1;
        if (clips->n == 0)      /* an empty evaluation is no result */
            return lv_set_error("%s lists no clips: nothing to evaluate (a manifest holds one "
                                "JSON object per line, such as {\"video\": \"videos/a.mp4\", "
                                "\"caption\": \"a dog runs\"})", a->data);
        return 0;
    }
    if (a->msrvtt && is_csv(a->msrvtt))
        return lv_msrvtt_csv_load(clips, a->msrvtt, videos);
    if (a->msrvtt)
        return lv_msrvtt_load(clips, a->msrvtt, videos, a->split ? a->split : "test",
                              !a->captions || !strcmp(a->captions, "first"));
    if (a->youcook2)
        return eval_load_youcook2(clips, a, videos, missing);
    return 0;
}

/* The questions of --mcq or --egoschema; with --answers only the answered ones. */
static int eval_load_mcq(lv_mcq_list *q, const eval_args *a)
{
    if (a->mcq) {
        if (lv_mcq_load(q, a->mcq, 1) < 0)
            return -1;
        return q->n ? 0 : lv_set_error("%s lists no questions: nothing to evaluate", a->mcq);
    }
    if (!a->egoschema)
        return 0;
    if (lv_egoschema_load(q, a->egoschema, a->answers, a->videos ? a->videos : ".") < 0)
        return -1;
    const int64_t all = q->n;
    if (a->answers && lv_mcq_list_keep_answered(q) == all)
        return lv_set_error("%s answers none of the %lld questions of %s: expected EgoSchema's "
                            "answers for those q_uids (subset_answers.json)", a->answers,
                            (long long)all, a->egoschema);
    return all ? 0 : lv_set_error("%s lists no questions: nothing to evaluate", a->egoschema);
}

/* Evaluates the loaded data, writes --predictions, prints the result. */
static int eval_report(const eval_args *a, const lv_model *m, const lv_tokenizer *tok,
                       const lv_clip_list *clips, const lv_mcq_list *q, eval_result missing)
{
    const int have_clips = a->data || a->msrvtt || a->youcook2;
    int32_t *choice = a->predictions && q->n
                      ? lv_malloc((size_t)q->n * sizeof *choice, "the predictions") : NULL;
    const eval_options o = {
        .sim_png = a->sim_png, .mcq_choice = choice,
        .mcq_question = a->mcq_text ? !strcmp(a->mcq_text, "question+option")
                                    : a->egoschema != NULL };
    eval_result r;
    int rc = a->predictions && !choice ? -1 : 0;
    if (rc == 0)
        rc = eval_run_with(&r, m, tok, have_clips ? clips : NULL, q->n ? q : NULL, &o);
    if (rc == 0 && a->predictions)
        rc = lv_egoschema_write_predictions(a->predictions, q, choice);
    if (rc == 0) {
        r.missing_videos = missing.missing_videos;
        r.missing_clips = missing.missing_clips;
        eval_print(&r, stdout, a->json);
        if (a->json)
            printf("\n");
        else if (a->predictions)
            printf("wrote the predictions of %lld questions to %s (EgoSchema's submission "
                   "format)\n", (long long)q->n, a->predictions);
    }
    free(choice);
    return rc;
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
    eval_result missing = { 0 };
    int code = 1;
    lv_tokenizer *tok = eval_tokenizer(&a, &code);
    int rc = tok ? load_trained(&m, a.ckpt, backend_by_name(a.backend ? a.backend : "cpu")) : -1;
    if (rc == 0)
        rc = eval_load_clips(&clips, &a, &missing);
    if (rc == 0)
        rc = eval_load_mcq(&q, &a);
    if (rc == 0)
        rc = eval_report(&a, &m, tok, &clips, &q, missing);
    if (rc != 0)
        fprintf(stderr, "longvivit eval: %s\n", lv_error());
    lv_model_free(&m);
    lv_tokenizer_free(tok);
    lv_clip_list_free(&clips);
    lv_mcq_list_free(&q);
    return rc == 0 ? 0 : tok ? 1 : code;
}

int cmd_encode(int argc, char **argv)
{
    const char *ckpt = NULL, *out = "embeddings.safetensors", *vocab = NULL, *backend = "cpu";
    const char **videos = calloc((size_t)argc, sizeof *videos);
    int64_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: longvivit encode --ckpt CKPT [--out FILE] [--vocab FILE] "
                   "[--backend NAME] VIDEO...\n"
                   "Writes the L2-normalised video embeddings (one row per video, in order) as\n"
                   "tensor 'video_embeddings' of FILE (default embeddings.safetensors), with the\n"
                   "video paths in its metadata. Videos need no vocabulary; a --vocab is checked\n"
                   "against the one stored in CKPT (refused when it differs) and stored with the\n"
                   "embeddings, so the text side of a search uses the same one.\n"
                   "Backends in this build: %s (default cpu).\n%s", lv_backend_names(),
            lv_opt_precision_help());
            free(videos);
            return 0;
        }
        if ((!strcmp(argv[i], "--ckpt") || !strcmp(argv[i], "--out") ||
             !strcmp(argv[i], "--vocab")) && i + 1 < argc)
            *(argv[i][2] == 'c' ? &ckpt : argv[i][2] == 'o' ? &out : &vocab) = argv[i + 1], i++;
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            backend = argv[++i];
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
        rc = load_trained(&m, ckpt, backend_by_name(backend));
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
