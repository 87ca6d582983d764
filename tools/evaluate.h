/* Zero-shot evaluation shared by `eval`, `encode` and `train` (tools/cmd_eval.c). */
#ifndef LV_EVALUATE_H
#define LV_EVALUATE_H

#include "manifest.h"
#include "metrics.h"
#include "model.h"
#include "wordpiece.h"

#include <stdio.h>

typedef struct {
    lv_retrieval t2v, v2t;       /* t2v.n captions, v2t.n videos; both 0 when no clip was given */
    double mcq;                  /* accuracy, NaN when no question was scored */
    int64_t mcq_n;               /* questions with an answer, scored */
    int64_t mcq_ties;            /* questions whose best score two options share (scored wrong) */
    double mcq_blind;            /* the blind floor: each question answered against the mean of
                                  * all the questions' video embeddings (normalised), so the
                                  * options' texts alone decide; NaN when none was scored */
    int64_t mcq_blind_ties;
    int64_t missing_videos;      /* skipped before evaluating (not found on disk), set by the */
    int64_t missing_clips;       /* caller: their entries */
} eval_result;

/* How eval_run scores; a zeroed struct is today's default. */
typedef struct {
    const char *sim_png;         /* the text-video similarity matrix as a picture, or NULL */
    int mcq_question;            /* an option's text is its question then the option (below) */
    int32_t *mcq_choice;         /* (mcq->n) the chosen option of each question, or NULL: the
                                  * highest score, the lowest index among ties */
} eval_options;

/* An unmasked copy of a trained model with activations for batches of `batch`. */
int eval_model_make(lv_model *em, const lv_model *trained, int64_t batch);

/* Decodes one clip (start, end in seconds; end <= 0: to the end) at 1 FPS, its first c->frames
 * samples (the last repeats when shorter), and preprocesses it into dst (F, S, S, 3) as
 * training does; *scratch (*scratch_floats of it) grows as needed, the caller frees it. */
int eval_load_video(float *dst, const char *path, double start, double end, const lv_config *c,
                    float **scratch, int64_t *scratch_floats);

/* Video embeddings (n, E), L2-normalised, of n clips (start/end may be NULL: whole videos). */
int eval_embed_videos(float *emb, lv_model *em, const char *const *paths, const double *start,
                      const double *end, int64_t n);

/* Retrieval over clips (may be NULL) and multiple choice over mcq (may be NULL), the latter
 * also blind (r->mcq_blind: every question against the mean video embedding, the floor of a
 * model that does not look at the video).
 * Retrieval: clips with the same file, start and end are one video with several captions (the
 * all-captions protocol of MSR-VTT): t2v ranks the videos for every caption; v2t ranks every
 * caption for each video, the video's rank being that of its best-ranked own caption.
 * Multiple choice: each option's text embedding against the question's video embedding, the
 * most similar option chosen. With o->mcq_question the text of option j is the question
 * followed by the option, tokenized as one text ("question option" joined by a space) except
 * that when it exceeds the text length the question is cut short, never the option. */
int eval_run_with(eval_result *r, const lv_model *trained, const lv_tokenizer *tok,
                  const lv_clip_list *clips, const lv_mcq_list *mcq, const eval_options *o);

/* eval_run_with with only a similarity picture (sim_png may be NULL). */
int eval_run(eval_result *r, const lv_model *trained, const lv_tokenizer *tok,
             const lv_clip_list *clips, const lv_mcq_list *mcq, const char *sim_png);

/* Text: the retrieval lines when clips were evaluated, the skipped videos when any, the
 * multiple-choice line when a question was scored (with its blind floor). JSON: one object;
 * "t2v"/"v2t" are null without clips, "mcq_accuracy" and "mcq_blind_accuracy" -1 without a
 * scored question. */
void eval_print(const eval_result *r, FILE *out, int json);

#endif
