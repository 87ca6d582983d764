/* Retrieval and multiple-choice figures (see metrics.h): every rank is a count of candidates not
 * below the correct score, one pass over the scores, so ties and NaN are pessimistic by
 * construction. Only the ranks are sorted (for the median); the candidates never are. */
#include "metrics.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>

/* qsort's ascending order on int64 ranks, written without a - b (which could overflow). */
static int compare_rank(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Recall@1/5/10, median and mean of ranks (n >= 1), which are sorted in place. */
static void summarise_ranks(lv_retrieval *out, int64_t *ranks, int64_t n)
{
    int64_t within[3] = { 0, 0, 0 };                   /* ranks <= 1, <= 5, <= 10 */
    double sum = 0.0;                                  /* of the ranks, for the mean */
    for (int64_t i = 0; i < n; i++) {
        within[0] += ranks[i] <= 1;
        within[1] += ranks[i] <= 5;
        within[2] += ranks[i] <= 10;
        sum += (double)ranks[i];
    }
    /* the median needs the middle of the sorted ranks: the n ranks are sorted, never the
     * candidates, which only ever get counted */
    qsort(ranks, (size_t)n, sizeof *ranks, compare_rank);
    /* recall@k: the fraction of queries whose correct answer is among the top k */
    out->n = n;
    out->r1 = (double)within[0] / (double)n;
    out->r5 = (double)within[1] / (double)n;
    out->r10 = (double)within[2] / (double)n;
    out->mean_rank = sum / (double)n;
    /* odd n: the middle rank; even n: the mean of the two middle ones */
    out->median_rank = n % 2 ? (double)ranks[n / 2]
                             : 0.5 * ((double)ranks[n / 2 - 1] + (double)ranks[n / 2]);
}

/* One row-major pass over sim (Q, C): the rank of query q is 1 + the count of other candidates
 * c whose score is not below the correct one, s. "!(row[c] < s)" rather than "row[c] >= s" is
 * what makes NaN pessimistic: a comparison with NaN is false, so the negation counts it. A
 * NaN correct score s thus counts every other candidate and ranks C. */
int lv_retrieval_metrics(lv_retrieval *out, const float *sim, const int64_t *gt, int64_t Q,
                         int64_t C)
{
    LV_REQUIRE(Q >= 1 && C >= 1);
    int64_t *ranks = lv_malloc((size_t)Q * sizeof *ranks, "the retrieval ranks");   /* (Q) */
    if (!ranks)
        return -1;
    for (int64_t q = 0; q < Q; q++) {
        LV_REQUIRE(gt[q] >= 0 && gt[q] < C);
        const float *row = sim + q * C;                /* (C) the scores of query q */
        const float s = row[gt[q]];                    /* the correct candidate's score */
        /* 1 for the correct candidate itself, + 1 for each other one not below it */
        int64_t rank = 1;
        for (int64_t c = 0; c < C; c++)
            rank += c != gt[q] && !(row[c] < s);
        ranks[q] = rank;
    }
    summarise_ranks(out, ranks, Q);
    free(ranks);
    return 0;
}

/* v2t ranks: best[v] is the highest non-NaN score of a caption of v (-inf if none), then every
 * caption of another video scoring not below it pushes v down one place. Row-major passes.
 * sim is (T, V), text rows, so a video's scores form a column: rather than walk columns, each
 * pass goes over sim row by row and updates all V videos at once. "s > best" is false for NaN,
 * so NaN own scores never become best; a video left at -inf is passed by every caption of the
 * others and ranks last. */
static int video_to_text(lv_retrieval *out, const float *sim, const int64_t *owner, int64_t T,
                         int64_t V)
{
    /* (V) each: best own-caption score, number of own captions, rank */
    float *best = lv_malloc((size_t)V * sizeof *best, "the best caption score per video");
    int64_t *captions = lv_calloc((size_t)V, sizeof *captions, "the captions per video");
    int64_t *ranks = lv_malloc((size_t)V * sizeof *ranks, "the video-to-text ranks");
    int rc = -1;
    if (!best || !captions || !ranks)
        goto end;
    for (int64_t v = 0; v < V; v++) {                  /* no caption seen yet, rank 1 */
        best[v] = -INFINITY;
        ranks[v] = 1;
    }
    /* pass 1: each caption's own score, towards its video's best */
    for (int64_t t = 0; t < T; t++) {
        const float s = sim[t * V + owner[t]];
        captions[owner[t]]++;
        if (s > best[owner[t]])
            best[owner[t]] = s;
    }
    /* pass 2: caption t of another video, scoring not below v's best, pushes v down */
    for (int64_t t = 0; t < T; t++)
        for (int64_t v = 0; v < V; v++)
            ranks[v] += v != owner[t] && !(sim[t * V + v] < best[v]);
    /* compact in place to the videos with a caption (n <= v, so nothing is overwritten early) */
    int64_t n = 0;                              /* >= 1: T >= 1 captions have an owner */
    for (int64_t v = 0; v < V; v++)
        if (captions[v])
            ranks[n++] = ranks[v];
    summarise_ranks(out, ranks, n);
    rc = 0;
end:
    free(best);
    free(captions);
    free(ranks);
    return rc;
}

/* t2v is the plain retrieval with gt = owner; v2t needs the per-video pass above. owner is
 * checked here, once, since both directions index with it. */
int lv_retrieval_both(lv_retrieval *t2v, lv_retrieval *v2t, const float *sim,
                      const int64_t *owner, int64_t T, int64_t V)
{
    LV_REQUIRE(T >= 1 && V >= 1);
    for (int64_t t = 0; t < T; t++)
        LV_REQUIRE(owner[t] >= 0 && owner[t] < V);
    /* text -> video: T queries over V candidates, the correct one the caption's owner */
    if (lv_retrieval_metrics(t2v, sim, owner, T, V))
        return -1;
    return video_to_text(v2t, sim, owner, T, V);
}

/* A question is right when its answer strictly beats every other option: unique_max starts as
 * "the answer's score is a number" and is cleared by any option it does not beat (">" is false
 * for ties and for NaN on either side). No sort, no argmax index, so ties cannot fall in the
 * answer's favour by position. */
double lv_mcq_accuracy(const float *scores, const int32_t *answer, int64_t Q, int64_t O,
                       int64_t *answered)
{
    LV_REQUIRE(Q >= 0 && O >= 1);
    int64_t asked = 0, right = 0;                     /* questions with a known answer, right */
    for (int64_t q = 0; q < Q; q++) {
        LV_REQUIRE(answer[q] >= -1 && answer[q] < O);
        if (answer[q] < 0)                             /* unknown answer: not asked */
            continue;
        const float *row = scores + q * O;             /* (O) the options of question q */
        int unique_max = !isnan(row[answer[q]]);
        for (int64_t o = 0; o < O; o++)
            unique_max &= o == answer[q] || row[answer[q]] > row[o];
        asked++;
        right += unique_max;
    }
    if (answered)
        *answered = asked;
    /* no answered question: NaN, since no accuracy was measured (0 would claim one) */
    return asked ? (double)right / (double)asked : NAN;
}
