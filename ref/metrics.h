/* Zero-shot evaluation figures from score matrices: retrieval Recall@K and ranks (text->video,
 * video->text with several captions per video) and multiple-choice accuracy. Pure arithmetic on
 * given scores: no model, no files, no sorting of the candidates, ties never resolved in favour. */
#ifndef LV_METRICS_H
#define LV_METRICS_H

#include <stdint.h>

typedef struct {
    double r1, r5, r10;         /* fraction of the n queries ranked <= 1, 5, 10 */
    double median_rank;         /* mean of the two middle ranks when n is even */
    double mean_rank;
    int64_t n;                  /* queries scored */
} lv_retrieval;

/* sim: (Q, C) score of query q against candidate c; gt: (Q) the correct candidate of each query,
 * in [0, C) (several queries may share one: MSR-VTT has 20 captions per video).
 * The rank of query q is 1 + the number of other candidates c != gt[q] whose score is not below
 * the correct one: ties count as ranked above it (pessimistic), so a constant model ranks every
 * query C, never 1. NaN is pessimistic too: a NaN candidate counts as above, a NaN correct score
 * ranks C. Needs Q >= 1 and C >= 1. Returns 0, or -1 with lv_error() when out of memory. */
int lv_retrieval_metrics(lv_retrieval *out, const float *sim, const int64_t *gt, int64_t Q,
                         int64_t C);

/* Both directions from sim: (T, V), the score of text t against video v, where text t is a
 * caption of video owner[t] in [0, V). t2v: each text is a query over the V videos, as above.
 * v2t: each video is a query over the T texts and every caption of its own is a correct answer,
 * so the video's rank is that of its best-scoring own caption: 1 + the number of captions of
 * OTHER videos scoring not below that caption (ties pessimistic; NaN own scores are ignored, so
 * a video whose own scores are all NaN ranks last). Videos without a caption are skipped
 * (v2t->n counts the others). Returns 0, or -1 with lv_error() when out of memory. */
int lv_retrieval_both(lv_retrieval *t2v, lv_retrieval *v2t, const float *sim,
                      const int64_t *owner, int64_t T, int64_t V);

/* Multiple choice: scores (Q, O) of each question's options, answer (Q) the correct option in
 * [0, O), or -1 for unknown (skipped). A question counts as right only when its answer's score
 * is strictly above every other option's: an argmax tie, or any NaN in the comparison, is wrong.
 * Returns the accuracy over the answered questions (NaN when none is), and their count in
 * *answered when answered is not NULL. */
double lv_mcq_accuracy(const float *scores, const int32_t *answer, int64_t Q, int64_t O,
                       int64_t *answered);

#endif
