/* Check suite for ref/text_metrics: BLEU-4, ROUGE-L and CIDEr-D on hand-worked cases (each
 * figure derived in the comment above it), their edge cases, and on 13 hand + 40 seeded random
 * corpora against tests/text_metrics/reference.py: nltk's corpus_bleu and sentence_bleu, and a
 * Python ROUGE-L and CIDEr-D written from coco-caption's definitions. Deliberately wrong
 * variants (no clipping, beta 1, the per-reference F) must fail the same comparisons. Needs
 * /usr/bin/python3 for the random corpora, and python3-nltk for BLEU's: skips without them. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "text_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"
#define REFERENCE "tests/text_metrics/reference.py"
#define HAND_TOL 1e-12          /* hand values are closed forms: only rounding separates them */
#define REFERENCE_TOL 1e-6      /* the bound against nltk and the Python reference */

/* ---- corpora -------------------------------------------------------------------------------- */

#define CORPUS_SAMPLES 64
#define CORPUS_REFS 4
#define CORPUS_TEXTS (CORPUS_SAMPLES * CORPUS_REFS)
#define CORPUS_IDS (CORPUS_SAMPLES * (CORPUS_REFS + 1) * 32)
#define CORPUS_WORDS 64

/* Samples whose texts point into the corpus's own ids (fixed arrays: pointers stay valid). */
typedef struct {
    char name[64];
    int64_t S, n_refs, n_ids;
    int32_t ids[CORPUS_IDS];
    lv_text refs[CORPUS_TEXTS];                 /* every sample's references, in order */
    lv_text_sample samples[CORPUS_SAMPLES];     /* (S) */
    double want[CORPUS_SAMPLES][2];             /* (S, 2) the reference file's per-sample figures */
    double want_total[2];
    char words[CORPUS_WORDS][16];               /* hand cases: word i has id i */
    int n_words;
} corpus;

static corpus *corpus_new(const char *name)
{
    corpus *k = calloc(1, sizeof *k);
    ck_assert_ptr_nonnull(k);
    snprintf(k->name, sizeof k->name, "%s", name);
    return k;
}

/* Appends ids to the corpus; the text they make. */
static lv_text corpus_text(corpus *k, const int32_t *ids, int64_t n)
{
    ck_assert_int_le(k->n_ids + n, CORPUS_IDS);
    lv_text t = { k->ids + k->n_ids, n };
    memcpy(k->ids + k->n_ids, ids, (size_t)n * sizeof *ids);
    k->n_ids += n;
    return t;
}

/* Starts sample S with its candidate; its references follow with corpus_add_ref. */
static void corpus_add_sample(corpus *k, lv_text candidate)
{
    ck_assert_int_lt(k->S, CORPUS_SAMPLES);
    k->samples[k->S++] = (lv_text_sample){ candidate, k->refs + k->n_refs, 0 };
}

static void corpus_add_ref(corpus *k, lv_text ref)
{
    ck_assert_int_lt(k->n_refs, CORPUS_TEXTS);
    k->refs[k->n_refs++] = ref;
    k->samples[k->S - 1].n_refs++;
}

/* Words separated by spaces, each numbered in order of first appearance within the corpus. */
static lv_text corpus_words(corpus *k, const char *text)
{
    int32_t ids[64];
    int64_t n = 0;
    char word[16];
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, " ");
        if (len) {
            ck_assert_int_lt(len, sizeof word);
            ck_assert_int_lt(n, 64);
            memcpy(word, p, len);
            word[len] = '\0';
            int i = 0;
            while (i < k->n_words && strcmp(k->words[i], word))
                i++;
            if (i == k->n_words) {
                ck_assert_int_lt(k->n_words, CORPUS_WORDS);
                memcpy(k->words[k->n_words++], word, len + 1);
            }
            ids[n++] = i;
        }
        p += len + (p[len] == ' ');
    }
    return corpus_text(k, ids, n);
}

/* A hand case: candidate, then its references, NULL-terminated. */
typedef struct {
    const char *candidate;
    const char *refs[CORPUS_REFS + 1];
} hand_sample;

static corpus *corpus_hand(const char *name, const hand_sample *x, int64_t S)
{
    corpus *k = corpus_new(name);
    for (int64_t s = 0; s < S; s++) {
        corpus_add_sample(k, corpus_words(k, x[s].candidate));
        for (int j = 0; x[s].refs[j]; j++)
            corpus_add_ref(k, corpus_words(k, x[s].refs[j]));
    }
    return k;
}

/* ---- the figures, failing loudly ------------------------------------------------------------ */

static int close_to(double got, double want, double tol)
{
    return fabs(got - want) <= tol;
}

static void expect_value(const char *what, const char *metric, double got, double want)
{
    ck_assert_msg(close_to(got, want, HAND_TOL), "%s %s: got %.17g want %.17g", what, metric,
                  got, want);
    printf("  %-44s %-8s %.10f (hand %.10f)\n", what, metric, got, want);
}

static lv_bleu bleu_of(const corpus *k)
{
    lv_bleu b;
    ck_assert_msg(lv_bleu_corpus(&b, k->samples, k->S) == 0, "%s", lv_error());
    return b;
}

static double rouge_of(const corpus *k, double *per_sample)
{
    double mean;
    ck_assert_msg(lv_rouge_l(&mean, per_sample, k->samples, k->S) == 0, "%s", lv_error());
    return mean;
}

static double cider_of(const corpus *k, double *per_sample)
{
    double mean;
    ck_assert_msg(lv_cider_d(&mean, per_sample, k->samples, k->S) == 0, "%s", lv_error());
    return mean;
}

/* ---- BLEU-4 by hand --------------------------------------------------------------------------- */

START_TEST(test_bleu_hand)
{
    /* candidate a b c d e, reference a b c d f g: matching 1-grams a b c d (4 of 5), 2-grams
     * ab bc cd (3 of 4), 3-grams abc bcd (2 of 3), 4-gram abcd (1 of 2): the product is 1/5;
     * c = 5 < r = 6, so BP = exp(1 - 6/5) */
    const hand_sample partial[] = { { "a b c d e", { "a b c d f g" } } };
    corpus *k = corpus_hand("partial", partial, 1);
    lv_bleu b = bleu_of(k);
    expect_value("a b c d e | a b c d f g", "BLEU", b.bleu, exp(-0.2) * pow(0.2, 0.25));
    ck_assert(b.matches[0] == 4 && b.total[0] == 5 && b.matches[3] == 1 && b.total[3] == 2);
    ck_assert(b.candidate_length == 5 && b.reference_length == 6);
    free(k);

    /* clipping: candidate a x6, reference a a a a x y holds "a" 4 times, "a a" 3, "a a a" 2,
     * "a a a a" once: p = 4/6, 3/5, 2/4, 1/3, product 1/15; c = r = 6, BP = 1. Unclipped, every
     * candidate n-gram would count (p_n = 1): BLEU 1 */
    const hand_sample clipping[] = { { "a a a a a a", { "a a a a x y" } } };
    k = corpus_hand("clipping", clipping, 1);
    b = bleu_of(k);
    expect_value("a a a a a a | a a a a x y (clipping)", "BLEU", b.bleu, pow(1.0 / 15, 0.25));
    ck_assert_msg(!close_to(1.0, b.bleu, REFERENCE_TOL), "unclipped BLEU passes the hand case");
    free(k);

    /* closest reference length: c = 5 between r = 4 and r = 6, a tie: the shorter, 4, so c > r
     * and BP = 1; every n-gram of the candidate is in the longer reference: BLEU 1 (were the
     * tie the longer, BP = exp(1 - 6/5) = 0.8187) */
    const hand_sample tie[] = { { "a b c d e", { "a b c d", "a b c d e f" } } };
    k = corpus_hand("tie", tie, 1);
    b = bleu_of(k);
    expect_value("a b c d e | a b c d, a b c d e f (tie)", "BLEU", b.bleu, 1.0);
    ck_assert_int_eq(b.reference_length, 4);
    free(k);

    /* a candidate shorter than 4 words in a corpus: "a b c" has no 4-gram but counts 1 in the
     * 4-gram total (nltk's max(1, .)): p_4 = (0 + 2) / (1 + 2) = 2/3, p_1..3 = 1, c = r = 8 */
    const hand_sample short_cand[] = { { "a b c", { "a b c" } }, { "a b c d e", { "a b c d e" } } };
    k = corpus_hand("short", short_cand, 2);
    b = bleu_of(k);
    expect_value("a b c | a b c  +  a b c d e | a b c d e", "BLEU", b.bleu, pow(2.0 / 3, 0.25));
    ck_assert(b.matches[3] == 2 && b.total[3] == 3);
    free(k);

    /* nltk's docstring examples: sentence_bleu 0.5045..., corpus_bleu 0.5920... (the printed
     * digits; the full figures are compared in test_bleu_matches_nltk) */
    const hand_sample doc[] = {
        { "It is a guide to action which ensures that the military always obeys the commands of "
          "the party",
          { "It is a guide to action that ensures that the military will forever heed Party "
            "commands",
            "It is the guiding principle which guarantees the military forces always being under "
            "the command of the Party",
            "It is the practical guide for the army always to heed the directions of the party" } },
        { "he read the book because he was interested in world history",
          { "he was interested in world history because he read the book" } },
    };
    k = corpus_hand("nltk docstring", doc, 2);
    ck_assert_msg(lv_bleu_sentence(&b, k->samples) == 0, "%s", lv_error());
    ck_assert_msg(floor(b.bleu * 1e4) == 5045, "nltk's sentence example: got %.17g", b.bleu);
    printf("  %-44s %-8s %.10f (nltk's docstring 0.5045...)\n", "nltk sentence_bleu example",
           "BLEU", b.bleu);
    b = bleu_of(k);
    ck_assert_msg(floor(b.bleu * 1e4) == 5920, "nltk's corpus example: got %.17g", b.bleu);
    printf("  %-44s %-8s %.10f (nltk's docstring 0.5920...)\n", "nltk corpus_bleu example", "BLEU",
           b.bleu);
    free(k);
}
END_TEST

START_TEST(test_bleu_edges)
{
    /* identical texts of 6 words: every p_n = 1, c = r: BLEU 1 */
    const hand_sample same[] = { { "a man is playing a guitar", { "a man is playing a guitar" } } };
    corpus *k = corpus_hand("identical", same, 1);
    expect_value("identical", "BLEU", bleu_of(k).bleu, 1.0);
    free(k);
    /* the empty candidate: no match, c = 0 so BP = 0 */
    const hand_sample empty[] = { { "", { "a b c" } } };
    k = corpus_hand("empty candidate", empty, 1);
    lv_bleu b = bleu_of(k);
    expect_value("empty candidate", "BLEU", b.bleu, 0.0);
    expect_value("empty candidate", "BP", b.brevity_penalty, 0.0);
    free(k);
    /* a candidate shorter than 4 words alone: p_4 = 0/1, no smoothing: 0 */
    const hand_sample three[] = { { "a b c", { "a b c" } } };
    k = corpus_hand("three words", three, 1);
    expect_value("a b c | a b c (no 4-gram)", "BLEU", bleu_of(k).bleu, 0.0);
    free(k);
    /* an empty reference beside a full one: closest length to c = 4 is 5 (|0 - 4| = 4 > 1),
     * every n-gram matches: BLEU = exp(1 - 5/4) */
    const hand_sample empty_ref[] = { { "a b c d", { "", "a b c d e" } } };
    k = corpus_hand("empty reference", empty_ref, 1);
    expect_value("a b c d | (empty), a b c d e", "BLEU", bleu_of(k).bleu, exp(-0.25));
    free(k);
    /* a sample without any reference is refused, naming it; so by the other two metrics */
    const hand_sample none[] = { { "a b", { "a b" } }, { "a b", { NULL } } };
    k = corpus_hand("no reference", none, 2);
    double mean;
    ck_assert_int_eq(lv_bleu_corpus(&b, k->samples, 2), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), "sample 1 of 2 has no reference"));
    printf("  %-44s refused: %s\n", "a sample without references", lv_error());
    ck_assert_int_eq(lv_rouge_l(&mean, NULL, k->samples, 2), -1);
    ck_assert_int_eq(lv_cider_d(&mean, NULL, k->samples, 2), -1);
    free(k);
}
END_TEST

/* ---- ROUGE-L by hand -------------------------------------------------------------------------- */

/* F with weight b on recall: the formula of text_metrics.h, for the wrong-variant checks. */
static double rouge_f(double p, double r, double beta)
{
    return (1 + beta * beta) * p * r / (r + beta * beta * p);
}

START_TEST(test_rouge_hand)
{
    /* candidate "a cat sat on the mat" (6), reference "the cat was sitting on the mat" (7):
     * LCS = cat on the mat (4): P = 4/6, R = 4/7, F = 2.44 P R / (R + 1.44 P) */
    const hand_sample beta[] = { { "a cat sat on the mat", { "the cat was sitting on the mat" } } };
    corpus *k = corpus_hand("beta", beta, 1);
    const double want = rouge_f(4.0 / 6, 4.0 / 7, 1.2);
    expect_value("a cat sat on the mat | the cat was ...", "ROUGE-L", rouge_of(k, NULL), want);
    /* the wrong answers this case tells apart: beta 1 (16/26 = 0.6154) */
    ck_assert(!close_to(rouge_f(4.0 / 6, 4.0 / 7, 1.0), want, REFERENCE_TOL));
    free(k);

    /* two references: "a b" gives LCS a b (2): P = 2/4, R = 2/2; "a b c x y z w" gives LCS a b c
     * (3): P = 3/4, R = 3/7. coco-caption maximises each on its own: P = 3/4 (second), R = 1
     * (first), F = 2.44 * 0.75 / (1 + 1.08) = 0.8798. The per-reference F maximised instead
     * would be max(0.7093, 0.5199) = 0.7093 */
    const hand_sample two[] = { { "a b c d", { "a b", "a b c x y z w" } } };
    k = corpus_hand("two refs", two, 1);
    const double want2 = rouge_f(3.0 / 4, 1.0, 1.2);
    expect_value("a b c d | a b, a b c x y z w", "ROUGE-L", rouge_of(k, NULL), want2);
    const double per_ref = fmax(rouge_f(0.5, 1.0, 1.2), rouge_f(0.75, 3.0 / 7, 1.2));
    ck_assert(!close_to(per_ref, want2, REFERENCE_TOL));
    free(k);

    /* identical 1, empty candidate 0, an empty reference beside a full one ignored (its P and
     * R are 0): "a b c d" in "a b c d e" has P = 1, R = 4/5; the corpus mean over the three */
    const hand_sample three[] = { { "a man is playing a guitar", { "a man is playing a guitar" } },
                                  { "", { "a b c" } },
                                  { "a b c d", { "", "a b c d e" } } };
    k = corpus_hand("three", three, 3);
    double per[3];
    const double mean = rouge_of(k, per);
    expect_value("identical", "ROUGE-L", per[0], 1.0);
    expect_value("empty candidate", "ROUGE-L", per[1], 0.0);
    expect_value("a b c d | (empty), a b c d e", "ROUGE-L", per[2], rouge_f(1.0, 0.8, 1.2));
    expect_value("the mean of the three", "ROUGE-L", mean, (1.0 + rouge_f(1.0, 0.8, 1.2)) / 3);
    free(k);
}
END_TEST

/* ---- CIDEr-D by hand -------------------------------------------------------------------------- */

START_TEST(test_cider_hand)
{
    /* S = 2: sample 1 "a b" | "a b", sample 2 "c" | "c d". Every n-gram is in one sample's
     * references (or none): idf = log 2 - log 1 = L for all. Sample 1: the unigram vectors
     * (L, L) and (L, L), cosine 1; the bigram ab, cosine 1; no 3- or 4-grams: 0; same length:
     * score 10 * (1 + 1) / 4 = 5. Sample 2: unigrams (c: L) against (c: L, d: L): L^2 / (L *
     * sqrt(2) L) = 1/sqrt(2); no candidate bigram; lengths 1 and 2: penalty exp(-1/72):
     * 10 * exp(-1/72) / sqrt(2) / 4 */
    const hand_sample two[] = { { "a b", { "a b" } }, { "c", { "c d" } } };
    corpus *k = corpus_hand("two", two, 2);
    double per[3];
    double mean = cider_of(k, per);
    const double s2 = 2.5 * exp(-1.0 / 72) / sqrt(2.0);
    expect_value("a b | a b", "CIDEr-D", per[0], 5.0);
    expect_value("c | c d", "CIDEr-D", per[1], s2);
    expect_value("the mean of the two", "CIDEr-D", mean, (5.0 + s2) / 2);
    free(k);

    /* S = 3: "b b" | "a b", "a c";  "a d" | "a d";  "e" | "a e". "a" is in every sample's
     * references: idf log 3 - log 3 = 0, it weighs nothing; every other n-gram (and "b b",
     * in no reference) has idf L = log 3.
     * Sample 1, reference "a b": unigrams: candidate (b: 2L), reference (a: 0, b: L); clipped
     * dot min(2L, L) L = L^2 over norms 2L and L: 1/2; bigrams "b b" against "a b": 0; same
     * length. Reference "a c": nothing shared. Score 10 * (1/2) / 4 / 2 = 0.625 (unclipped,
     * 2L L / (2L L) = 1: 1.25).
     * Sample 2: unigrams (a: 0, d: L) twice: cosine 1; bigram "a d": 1; score 10 * 2 / 4 = 5.
     * Sample 3: unigram (e: L) against (a: 0, e: L): 1; lengths 1 and 2: 10 * exp(-1/72) / 4 */
    const hand_sample three[] = { { "b b", { "a b", "a c" } }, { "a d", { "a d" } },
                                  { "e", { "a e" } } };
    k = corpus_hand("three", three, 3);
    mean = cider_of(k, per);
    const double s3 = 2.5 * exp(-1.0 / 72);
    expect_value("b b | a b, a c (clipping)", "CIDEr-D", per[0], 0.625);
    ck_assert_msg(!close_to(1.25, per[0], REFERENCE_TOL), "unclipped CIDEr-D passes");
    expect_value("a d | a d (\"a\" has idf 0)", "CIDEr-D", per[1], 5.0);
    expect_value("e | a e", "CIDEr-D", per[2], s3);
    expect_value("the mean of the three", "CIDEr-D", mean, (0.625 + 5.0 + s3) / 3);
    free(k);

    /* identical 4-word texts sharing no word across samples: every order's cosine is 1: 10;
     * the empty candidate 0; a corpus of one: every idf is log 1 = 0, so 0 */
    const hand_sample same[] = { { "a b c d", { "a b c d" } }, { "e f g h", { "e f g h" } },
                                 { "", { "i j" } } };
    k = corpus_hand("identical", same, 3);
    mean = cider_of(k, per);
    expect_value("a b c d | a b c d", "CIDEr-D", per[0], 10.0);
    expect_value("empty candidate", "CIDEr-D", per[2], 0.0);
    k->S = 1;
    expect_value("a corpus of one", "CIDEr-D", cider_of(k, NULL), 0.0);
    free(k);
}
END_TEST

/* ---- against the references on many corpora --------------------------------------------------- */

static int have_module(const char *module)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, PYTHON " -c 'import %s' >/dev/null 2>&1", module);
    return system(cmd) == 0;
}

/* Runs the reference (mode bleu or coco) into path, echoing what it prints; it must exit 0. */
static void run_reference(const char *mode, const char *path, int broken)
{
    char cmd[2 * TEST_PATH_BYTES], line[512];
    ck_assert_msg(access(REFERENCE, R_OK) == 0, "%s not found: run the tests from the repository "
                  "root", REFERENCE);
    snprintf(cmd, sizeof cmd, PYTHON " %s %s '%s'%s", REFERENCE, mode, path,
             broken ? " --broken" : "");
    FILE *py = popen(cmd, "r");
    ck_assert_ptr_nonnull(py);
    while (fgets(line, sizeof line, py))
        printf("  reference: %s", line);
    ck_assert_msg(pclose(py) == 0, "%s failed", cmd);
}

/* The ids after the line's first word. */
static lv_text parse_text(corpus *k, const char *line)
{
    int32_t ids[256];
    int64_t n = 0;
    char *end;
    for (const char *p = line + 1;; p = end) {
        const long v = strtol(p, &end, 10);
        if (end == p)
            break;
        ck_assert_int_lt(n, 256);
        ids[n++] = (int32_t)v;
    }
    return corpus_text(k, ids, n);
}

/* Reads the next corpus of the reference file, NULL at its end. */
static corpus *read_corpus(FILE *f)
{
    char line[4096], name[64];
    long long S;
    if (!fgets(line, sizeof line, f))
        return NULL;
    ck_assert_msg(sscanf(line, "corpus %63s %lld", name, &S) == 2, "not a corpus line: %s", line);
    corpus *k = corpus_new(name);
    for (long long s = 0; s < S; s++) {
        long long R;
        double *v = k->want[s];
        ck_assert(fgets(line, sizeof line, f));
        ck_assert_msg(sscanf(line, "sample %lld %lf %lf", &R, &v[0], &v[1]) >= 2, "%s", line);
        ck_assert(fgets(line, sizeof line, f) && line[0] == 'c');
        corpus_add_sample(k, parse_text(k, line));
        for (long long j = 0; j < R; j++) {
            ck_assert(fgets(line, sizeof line, f) && line[0] == 'r');
            corpus_add_ref(k, parse_text(k, line));
        }
    }
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_msg(sscanf(line, "total %lf %lf", &k->want_total[0], &k->want_total[1]) >= 1, "%s",
                  line);
    return k;
}

/* One metric's agreement over a reference file. */
typedef struct {
    double max_total, max_sample;   /* max |ours - reference| of corpus and per-sample figures */
    int64_t corpora, samples;
    int64_t differ;                 /* corpora whose figure differs by more than REFERENCE_TOL */
    int64_t nonzero;                /* corpora where the reference's figure exceeds 0.01 */
    char worst[64];                 /* the corpus of max_total */
} agreement;

static void agree(agreement *a, const char *corpus_name, double got, double want)
{
    const double d = fabs(got - want);
    if (a->corpora == 0 || !(d <= a->max_total)) {    /* NaN too */
        a->max_total = d;
        snprintf(a->worst, sizeof a->worst, "%s", corpus_name);
    }
    a->differ += !(d <= REFERENCE_TOL);
    a->nonzero += want > 0.01;
    a->corpora++;
}

static void agree_sample(agreement *a, double got, double want)
{
    const double d = fabs(got - want);
    a->max_sample = d <= a->max_sample ? a->max_sample : d;
    a->samples++;
}

/* BLEU: lv_bleu_corpus against corpus_bleu, lv_bleu_sentence against sentence_bleu. */
static agreement compare_bleu(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    agreement a = { 0 };
    for (corpus *k; (k = read_corpus(f)); free(k)) {
        agree(&a, k->name, bleu_of(k).bleu, k->want_total[0]);
        for (int64_t s = 0; s < k->S; s++) {
            lv_bleu b;
            ck_assert_msg(lv_bleu_sentence(&b, &k->samples[s]) == 0, "%s", lv_error());
            agree_sample(&a, b.bleu, k->want[s][0]);
        }
    }
    fclose(f);
    return a;
}

/* ROUGE-L (a[0]) and CIDEr-D (a[1]), per sample and mean, against the Python reference. */
static void compare_coco(agreement *a, const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    a[0] = a[1] = (agreement){ 0 };
    double per[CORPUS_SAMPLES];
    for (corpus *k; (k = read_corpus(f)); free(k))
        for (int m = 0; m < 2; m++) {
            agree(&a[m], k->name, m ? cider_of(k, per) : rouge_of(k, per), k->want_total[m]);
            for (int64_t s = 0; s < k->S; s++)
                agree_sample(&a[m], per[s], k->want[s][m]);
        }
    fclose(f);
}

static void print_agreement(const char *metric, const char *against, const agreement *a)
{
    printf("  %s vs %s: %lld corpora (%lld samples), max |C - reference| %.3g over the corpora "
           "(worst: %s), %.3g over the samples; %lld corpora above 0.01, %lld differ by more "
           "than %g\n", metric, against, (long long)a->corpora, (long long)a->samples,
           a->max_total, a->worst, a->max_sample, (long long)a->nonzero, (long long)a->differ,
           REFERENCE_TOL);
    fflush(stdout);                     /* a failed assertion ends the forked test at once */
}

/* 13 hand corpora and 40 random ones; at least 30 with a BLEU above 0.01, so most of the
 * comparisons are not of zeros. */
START_TEST(test_bleu_matches_nltk)
{
    if (!have_module("nltk.translate.bleu_score")) {
        test_skip("BLEU vs nltk: " PYTHON " cannot import nltk (apt-get install python3-nltk, or "
                  "bash tools/install-deps.sh)");
        return;
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "bleu.txt");
    run_reference("bleu", path, 0);
    const agreement a = compare_bleu(path);
    print_agreement("BLEU-4", "nltk corpus_bleu / sentence_bleu", &a);
    ck_assert_int_ge(a.corpora, 43);
    ck_assert_int_ge(a.nonzero, 30);
    ck_assert_msg(a.max_total <= REFERENCE_TOL && a.max_sample <= REFERENCE_TOL,
                  "BLEU differs from nltk's by %.3g (corpus %s) and %.3g (sentences)", a.max_total,
                  a.worst, a.max_sample);
}
END_TEST

/* The test of the test: nltk with the clipping taken out must be told apart on many corpora. */
START_TEST(test_bleu_broken_nltk_is_caught)
{
    if (!have_module("nltk.translate.bleu_score")) {
        test_skip("BLEU vs a broken nltk: " PYTHON " cannot import nltk (apt-get install "
                  "python3-nltk, or bash tools/install-deps.sh)");
        return;
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "bleu_broken.txt");
    run_reference("bleu", path, 1);
    const agreement a = compare_bleu(path);
    print_agreement("BLEU-4", "nltk WITHOUT clipping", &a);
    ck_assert_int_ge(a.differ, 20);
}
END_TEST

START_TEST(test_coco_matches_reference)
{
    if (!have_module("math")) {
        test_skip("ROUGE-L and CIDEr-D vs the Python reference: no " PYTHON " (apt-get install "
                  "python3, or bash tools/install-deps.sh)");
        return;
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "coco.txt");
    run_reference("coco", path, 0);
    agreement a[2];
    compare_coco(a, path);
    print_agreement("ROUGE-L", "coco-caption's definition", &a[0]);
    print_agreement("CIDEr-D", "coco-caption's definition", &a[1]);
    for (int m = 0; m < 2; m++) {
        ck_assert_int_ge(a[m].corpora, 43);
        ck_assert_int_ge(a[m].nonzero, 30);
        ck_assert_msg(a[m].max_total <= REFERENCE_TOL && a[m].max_sample <= REFERENCE_TOL,
                      "%s differs from the reference by %.3g (corpus %s) and %.3g (samples)",
                      m ? "CIDEr-D" : "ROUGE-L", a[m].max_total, a[m].worst, a[m].max_sample);
    }
}
END_TEST

/* The test of the test: ROUGE-L with beta 1 and CIDEr-D without clipping must be told apart. */
START_TEST(test_coco_broken_reference_is_caught)
{
    if (!have_module("math")) {
        test_skip("ROUGE-L and CIDEr-D vs a broken reference: no " PYTHON " (apt-get install "
                  "python3, or bash tools/install-deps.sh)");
        return;
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "coco_broken.txt");
    run_reference("coco", path, 1);
    agreement a[2];
    compare_coco(a, path);
    print_agreement("ROUGE-L", "beta 1", &a[0]);
    print_agreement("CIDEr-D", "no clipping", &a[1]);
    ck_assert_int_ge(a[0].differ, 20);
    ck_assert_int_ge(a[1].differ, 20);
}
END_TEST

Suite *text_metrics_suite(void)
{
    const test_row rows[] = {
        { "hand", test_bleu_hand, 1 }, { "hand", test_bleu_edges, 1 },
        { "hand", test_rouge_hand, 1 }, { "hand", test_cider_hand, 1 },
        { "reference", test_bleu_matches_nltk, 1 },
        { "reference", test_bleu_broken_nltk_is_caught, 1 },
        { "reference", test_coco_matches_reference, 1 },
        { "reference", test_coco_broken_reference_is_caught, 1 },
    };
    return suite_from_rows("text_metrics", rows, sizeof rows / sizeof rows[0], 60, 1);
}
