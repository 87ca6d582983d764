/* Zero-shot evaluation shared by `eval`, `encode` and `train` (tools/cmd_eval.c). */
#ifndef LV_EVALUATE_H
#define LV_EVALUATE_H

#include "manifest.h"
#include "metrics.h"
#include "model.h"
#include "wordpiece.h"

#include <stdio.h>

typedef struct {
    lv_retrieval t2v, v2t;
    double mcq;                  /* accuracy, NaN when no question was scored */
    int64_t mcq_n;
} eval_result;

/* An unmasked copy of a trained model with activations for batches of `batch`. */
int eval_model_make(lv_model *em, const lv_model *trained, int64_t batch);

/* Video embeddings (n, E), L2-normalised, of n clips (start/end may be NULL: whole videos). */
int eval_embed_videos(float *emb, lv_model *em, const char *const *paths, const double *start,
                      const double *end, int64_t n);

/* Retrieval over clips (may be NULL) and multiple choice over mcq (may be NULL); with sim_png,
 * the text-video similarity matrix as a picture. */
int eval_run(eval_result *r, const lv_model *trained, const lv_tokenizer *tok,
             const lv_clip_list *clips, const lv_mcq_list *mcq, const char *sim_png);

void eval_print(const eval_result *r, FILE *out, int json);

#endif
