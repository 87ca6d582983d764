/* Text-generation figures of the video-to-text stage: corpus BLEU-4 (as nltk's corpus_bleu),
 * ROUGE-L (as coco-caption's Rouge) and CIDEr-D (as coco-caption's CiderD), on texts the caller
 * has already tokenised into word ids. Pure arithmetic: no tokeniser, no strings, no files.
 *
 * Tokenisation (the caller's, before these functions): words, not wordpieces, as the published
 * scorers see them: lower-cased, punctuation split off PTB-style and the punctuation tokens then
 * dropped (coco-caption's PTBTokenizer removes '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - --
 * ... ;), then each distinct word mapped to one id by any one-to-one mapping (a vocabulary, a
 * hash map). Every figure here only asks whether two tokens are equal, so the ids' values do not
 * matter, only that equal words get equal ids and different words different ones. docs/metrics.md
 * has each definition as implemented and where it departs from the paper that named it. */
#ifndef LV_TEXT_METRICS_H
#define LV_TEXT_METRICS_H

#include <stdint.h>

#define LV_BLEU_N 4                 /* BLEU-4: n-grams of 1..4 words, weights 1/4 each */
#define LV_CIDER_N 4                /* CIDEr-D: n = 1..4, mean over n */
#define LV_ROUGE_BETA 1.2           /* coco-caption's: recall weighs beta^2 = 1.44 times more */
#define LV_CIDER_SIGMA 6.0          /* CIDEr-D's Gaussian length penalty */

/* One tokenised text: n word ids (n = 0: the empty text, ids may then be NULL). */
typedef struct {
    const int32_t *ids;             /* (n) */
    int64_t n;
} lv_text;

/* One sample: the generated text and the human references it is scored against (n_refs >= 1;
 * a sample without a reference is refused, as every published scorer refuses it). */
typedef struct {
    lv_text candidate;
    const lv_text *refs;            /* (n_refs) */
    int64_t n_refs;
} lv_text_sample;

/* Corpus BLEU-4 and the counts it is made of (Papineni et al. 2002 as nltk 3.8 computes it). */
typedef struct {
    double bleu;                    /* brevity_penalty * (p_1 p_2 p_3 p_4)^(1/4); 0 when any
                                     * p_n is 0 (no smoothing) */
    double precision[LV_BLEU_N];    /* p_n = matches[n-1] / total[n-1] */
    int64_t matches[LV_BLEU_N];     /* candidate n-grams, each clipped to the most times any one
                                     * reference of its sample holds it, summed over the corpus */
    int64_t total[LV_BLEU_N];       /* candidate n-grams summed over the corpus, a sample with
                                     * fewer than n words counting 1 (nltk's max(1, .)) */
    double brevity_penalty;         /* 1 if c > r, 0 if c = 0, else exp(1 - r/c) */
    int64_t candidate_length;       /* c: candidate words summed over the corpus */
    int64_t reference_length;       /* r: per sample the reference length closest to the
                                     * candidate's (a tie: the shorter), summed */
} lv_bleu;

/* Corpus BLEU-4 over S >= 1 samples: the n-gram counts are summed over the corpus before the
 * division (micro-average), so this is not the mean of sentence BLEUs. Equals nltk's
 * corpus_bleu(list_of_references, hypotheses) with its defaults (to 1e-6 in tests/: exactly,
 * except that where nltk returns about 1e-77 for a zero precision this returns 0). Returns 0, or
 * -1 with lv_error() when a sample has no reference or memory runs out. */
int lv_bleu_corpus(lv_bleu *out, const lv_text_sample *samples, int64_t S);

/* Sentence BLEU-4 of one sample: the corpus BLEU of a corpus of one, as nltk's sentence_bleu. */
int lv_bleu_sentence(lv_bleu *out, const lv_text_sample *sample);

/* ROUGE-L as coco-caption's Rouge scores a caption: per reference j the longest common
 * subsequence LCS_j of candidate (c words) and reference (r_j words); P = max_j LCS_j / c and
 * R = max_j LCS_j / r_j, each maximised over the references on its own (they may come from two
 * different references: coco-caption's variant, not the per-reference F of Lin 2004), then
 * F = (1 + b^2) P R / (R + b^2 P) with b = LV_ROUGE_BETA, 0 when P or R is 0. An empty
 * candidate or reference contributes P or R 0 (nothing to divide). per_sample (S) may be NULL;
 * *mean is the mean over the S >= 1 samples. Returns 0, or -1 with lv_error(). */
int lv_rouge_l(double *mean, double *per_sample, const lv_text_sample *samples, int64_t S);

/* CIDEr-D as coco-caption's CiderD with df_mode "corpus" (docs/metrics.md has the formula):
 * TF-IDF vectors of the n-grams of each order n = 1..4, the term frequency a raw count, the
 * document frequency of an n-gram the number of samples whose references hold it, idf =
 * log(S) - log(max(1, df)); per reference the cosine of candidate and reference vectors with the
 * candidate's weights clipped to the reference's, times exp(-(c - r)^2 / (2 sigma^2)); mean over
 * n and over the references, times 10. The idf comes from this corpus, so a sample's score
 * depends on the others (a corpus of one scores 0: every idf is log 1 = 0). per_sample (S) may
 * be NULL; *mean is the mean over the S >= 1 samples. Returns 0, or -1 with lv_error(). */
int lv_cider_d(double *mean, double *per_sample, const lv_text_sample *samples, int64_t S);

#endif
