/* BLEU-4, ROUGE-L and CIDEr-D on word ids (see text_metrics.h, docs/metrics.md). N-grams are
 * counted in one small hash table type that points into the caller's sequences (no copies, no
 * strings); every count is an integer until the final division, so BLEU is exact. No sorting,
 * no floating point in the counting, nothing that depends on the order of a hash table's slots
 * beyond the rounding of a few sums. */
#include "text_metrics.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- n-gram tables ------------------------------------------------------------------------ */

/* An n-gram is n consecutive ids of one of the caller's sequences, named by where it starts. */
typedef struct {
    const int32_t *at;      /* (n) its words, inside a caller's lv_text */
    int32_t n;              /* its order, 1..4; 0 marks a free slot */
    int64_t count;          /* occurrences in a text, or the document frequency */
    int64_t clip;           /* BLEU: the most occurrences in any one reference of the sample */
} ngram;

/* Open addressing with linear probing; cap is a power of two at least twice the entries, so a
 * probe always ends at a free slot. */
typedef struct {
    ngram *slot;            /* (cap) */
    int64_t cap, used;
} ngram_table;

/* FNV-1a over the ids' 32-bit values and the order, then a final avalanche (the low bits pick
 * the slot). */
static uint64_t ngram_hash(const int32_t *at, int32_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)n;
    for (int32_t i = 0; i < n; i++)
        h = (h ^ (uint32_t)at[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static int ngram_equal(const ngram *e, const int32_t *at, int32_t n)
{
    return e->n == n && (e->at == at || !memcmp(e->at, at, (size_t)n * sizeof *at));
}

/* The slot holding (at, n), or the free slot where it would go. */
static ngram *table_probe(const ngram_table *t, const int32_t *at, int32_t n)
{
    const uint64_t mask = (uint64_t)t->cap - 1;
    for (uint64_t i = ngram_hash(at, n) & mask;; i = (i + 1) & mask)
        if (!t->slot[i].n || ngram_equal(&t->slot[i], at, n))
            return &t->slot[i];
}

/* The entry of (at, n), NULL when the table does not hold it. */
static const ngram *table_find(const ngram_table *t, const int32_t *at, int32_t n)
{
    const ngram *e = table_probe(t, at, n);
    return e->n ? e : NULL;
}

/* The entry of (at, n), a new one (count 0) when absent; the caller reserved the room. */
static ngram *table_insert(ngram_table *t, const int32_t *at, int32_t n)
{
    ngram *e = table_probe(t, at, n);
    if (!e->n) {
        *e = (ngram){ .at = at, .n = n };
        t->used++;
    }
    return e;
}

/* Room for `more` new entries beyond those held: doubles the capacity (rehashing what is held)
 * until the load stays at most 1/2. Returns 0, or -1 when out of memory (the table unchanged). */
static int table_reserve(ngram_table *t, int64_t more)
{
    int64_t cap = t->cap ? t->cap : 16;
    while (cap < 2 * (t->used + more))
        cap *= 2;
    if (cap == t->cap)
        return 0;
    ngram_table grown = { lv_calloc((size_t)cap, sizeof *grown.slot, "an n-gram table"), cap, 0 };
    if (!grown.slot)
        return -1;
    for (int64_t i = 0; i < t->cap; i++)
        if (t->slot[i].n)
            *table_probe(&grown, t->slot[i].at, t->slot[i].n) = t->slot[i];
    grown.used = t->used;
    free(t->slot);
    *t = grown;
    return 0;
}

static void table_clear(ngram_table *t)
{
    if (t->slot)
        memset(t->slot, 0, (size_t)t->cap * sizeof *t->slot);
    t->used = 0;
}

/* Adds every n-gram of orders 1..max_n of x to t, counting occurrences (a text of w words has
 * w - n + 1 of order n, none when w < n). Returns 0, or -1 when out of memory. */
static int table_add_text(ngram_table *t, lv_text x, int32_t max_n)
{
    if (table_reserve(t, max_n * x.n))
        return -1;
    for (int32_t n = 1; n <= max_n; n++)
        for (int64_t i = 0; i + n <= x.n; i++)
            table_insert(t, x.ids + i, n)->count++;
    return 0;
}

/* A sample without a reference is an input error (no published scorer defines a score for it);
 * shapes that are not even sequences are the caller's bug. */
static int check_samples(const char *metric, const lv_text_sample *samples, int64_t S)
{
    LV_REQUIRE(S >= 1 && samples);
    for (int64_t s = 0; s < S; s++) {
        const lv_text_sample *x = &samples[s];
        LV_REQUIRE(x->candidate.n >= 0 && (x->candidate.n == 0 || x->candidate.ids));
        if (x->n_refs < 1)
            return lv_set_error("%s: sample %lld of %lld has no reference text: every sample "
                                "needs at least one (leave out the samples without references)",
                                metric, (long long)s, (long long)S);
        LV_REQUIRE(x->refs);
        for (int64_t j = 0; j < x->n_refs; j++)
            LV_REQUIRE(x->refs[j].n >= 0 && (x->refs[j].n == 0 || x->refs[j].ids));
    }
    return 0;
}

/* ---- BLEU-4 ---------------------------------------------------------------------------------- */

/* The reference length closest to the candidate's c; of two at the same distance the shorter
 * (nltk's closest_ref_length: min by (|r - c|, r)). */
static int64_t closest_reference_length(const lv_text_sample *x)
{
    int64_t best = x->refs[0].n;
    for (int64_t j = 1; j < x->n_refs; j++) {
        const int64_t r = x->refs[j].n;
        const int64_t d = llabs(r - x->candidate.n), d_best = llabs(best - x->candidate.n);
        if (d < d_best || (d == d_best && r < best))
            best = r;
    }
    return best;
}

/* One sample's clipped matches, added to matches[n-1]: each distinct candidate n-gram counts
 * min(its count, the most times one reference holds it). cand holds the candidate's n-grams
 * with clip 0; ref is scratch. */
static int bleu_sample_matches(int64_t *matches, ngram_table *cand, ngram_table *ref,
                               const lv_text_sample *x)
{
    for (int64_t j = 0; j < x->n_refs; j++) {
        table_clear(ref);
        if (table_add_text(ref, x->refs[j], LV_BLEU_N))
            return -1;
        for (int64_t i = 0; i < cand->cap; i++) {
            ngram *e = &cand->slot[i];
            const ngram *in_ref = e->n ? table_find(ref, e->at, e->n) : NULL;
            if (in_ref && in_ref->count > e->clip)
                e->clip = in_ref->count;
        }
    }
    for (int64_t i = 0; i < cand->cap; i++) {
        const ngram *e = &cand->slot[i];
        if (e->n)
            matches[e->n - 1] += e->count < e->clip ? e->count : e->clip;
    }
    return 0;
}

/* p_n and the brevity penalty from the corpus counts; BLEU = BP * exp(sum_n log(p_n) / 4).
 * A zero p_n makes the geometric mean 0: returned as exactly 0 (nltk: about 1e-77, from
 * log(DBL_MIN), or 0 when p_1 = 0). */
static void bleu_summarise(lv_bleu *out)
{
    const int64_t c = out->candidate_length, r = out->reference_length;
    out->brevity_penalty = c > r ? 1.0 : c == 0 ? 0.0 : exp(1.0 - (double)r / (double)c);
    double log_sum = 0.0;                              /* sum_n log(p_n) / 4 */
    int zero = 0;                                      /* some p_n = 0 */
    for (int n = 0; n < LV_BLEU_N; n++) {
        out->precision[n] = (double)out->matches[n] / (double)out->total[n];   /* total >= S */
        if (out->matches[n] == 0)
            zero = 1;
        else
            log_sum += log(out->precision[n]) / LV_BLEU_N;
    }
    out->bleu = zero ? 0.0 : out->brevity_penalty * exp(log_sum);
}

int lv_bleu_corpus(lv_bleu *out, const lv_text_sample *samples, int64_t S)
{
    if (check_samples("BLEU", samples, S))
        return -1;
    *out = (lv_bleu){ 0 };
    ngram_table cand = { 0 }, ref = { 0 };
    int rc = -1;
    for (int64_t s = 0; s < S; s++) {
        const lv_text_sample *x = &samples[s];
        table_clear(&cand);
        if (table_add_text(&cand, x->candidate, LV_BLEU_N) ||
            bleu_sample_matches(out->matches, &cand, &ref, x))
            goto end;
        /* the denominator: the candidate's n-grams, at least 1 per sample and order (nltk's
         * max(1, .); Papineni's sum would add 0 for a candidate shorter than n) */
        for (int n = 1; n <= LV_BLEU_N; n++)
            out->total[n - 1] += x->candidate.n - n + 1 > 1 ? x->candidate.n - n + 1 : 1;
        out->candidate_length += x->candidate.n;
        out->reference_length += closest_reference_length(x);
    }
    bleu_summarise(out);
    rc = 0;
end:
    free(cand.slot);
    free(ref.slot);
    return rc;
}

int lv_bleu_sentence(lv_bleu *out, const lv_text_sample *sample)
{
    return lv_bleu_corpus(out, sample, 1);
}

/* ---- ROUGE-L --------------------------------------------------------------------------------- */

/* Length of the longest common subsequence of a (na) and b (nb), by the textbook recurrence
 *   L[i][j] = L[i-1][j-1] + 1             if a[i-1] == b[j-1]
 *           = max(L[i-1][j], L[i][j-1])   otherwise,      L[0][.] = L[.][0] = 0,
 * kept one row at a time: row (nb + 1) holds L[i-1][.] and is overwritten left to right with
 * L[i][.], diag carrying L[i-1][j-1] past the overwrite. */
static int64_t lcs_length(const int32_t *a, int64_t na, const int32_t *b, int64_t nb,
                          int64_t *row)
{
    for (int64_t j = 0; j <= nb; j++)
        row[j] = 0;
    for (int64_t i = 1; i <= na; i++) {
        int64_t diag = 0;                              /* L[i-1][0] */
        for (int64_t j = 1; j <= nb; j++) {
            const int64_t up = row[j];                 /* L[i-1][j] */
            row[j] = a[i - 1] == b[j - 1] ? diag + 1 : up > row[j - 1] ? up : row[j - 1];
            diag = up;
        }
    }
    return row[nb];
}

/* One sample's F: P and R each maximised over the references, then the weighted harmonic
 * mean (coco-caption's Rouge.calc_score). row: (candidate length + 1) scratch. */
static double rouge_l_sample(const lv_text_sample *x, int64_t *row)
{
    const lv_text c = x->candidate;
    double p_max = 0.0, r_max = 0.0;
    for (int64_t j = 0; j < x->n_refs; j++) {
        const lv_text r = x->refs[j];
        const int64_t lcs = lcs_length(r.ids, r.n, c.ids, c.n, row);
        const double p = c.n ? (double)lcs / (double)c.n : 0.0;
        const double rec = r.n ? (double)lcs / (double)r.n : 0.0;
        p_max = p > p_max ? p : p_max;
        r_max = rec > r_max ? rec : r_max;
    }
    if (p_max == 0.0 || r_max == 0.0)
        return 0.0;
    const double b2 = LV_ROUGE_BETA * LV_ROUGE_BETA;
    return (1.0 + b2) * p_max * r_max / (r_max + b2 * p_max);
}

int lv_rouge_l(double *mean, double *per_sample, const lv_text_sample *samples, int64_t S)
{
    if (check_samples("ROUGE-L", samples, S))
        return -1;
    int64_t longest = 0;                               /* the longest candidate */
    for (int64_t s = 0; s < S; s++)
        longest = samples[s].candidate.n > longest ? samples[s].candidate.n : longest;
    int64_t *row = lv_malloc((size_t)(longest + 1) * sizeof *row, "the LCS row");   /* (c + 1) */
    if (!row)
        return -1;
    double sum = 0.0;
    for (int64_t s = 0; s < S; s++) {
        const double f = rouge_l_sample(&samples[s], row);
        if (per_sample)
            per_sample[s] = f;
        sum += f;
    }
    *mean = sum / (double)S;
    free(row);
    return 0;
}

/* ---- CIDEr-D --------------------------------------------------------------------------------- */

/* Document frequencies: for every n-gram of any reference, the number of samples whose
 * references (together) hold it, counted once per sample however often it occurs. one: scratch
 * for a sample's union. */
static int cider_document_frequency(ngram_table *df, ngram_table *one,
                                    const lv_text_sample *samples, int64_t S)
{
    for (int64_t s = 0; s < S; s++) {
        table_clear(one);
        for (int64_t j = 0; j < samples[s].n_refs; j++)
            if (table_add_text(one, samples[s].refs[j], LV_CIDER_N))
                return -1;
        if (table_reserve(df, one->used))
            return -1;
        for (int64_t i = 0; i < one->cap; i++)
            if (one->slot[i].n)
                table_insert(df, one->slot[i].at, one->slot[i].n)->count++;
    }
    return 0;
}

/* idf = log(S) - log(max(1, df)): an n-gram in no reference gets the largest, log(S); one in
 * every sample's references 0. */
static double cider_idf(const ngram_table *df, double log_s, const int32_t *at, int32_t n)
{
    const ngram *e = table_find(df, at, n);
    const double count = e && e->count > 1 ? (double)e->count : 1.0;
    return log_s - log(count);
}

/* The squared norm of each order's TF-IDF vector g_n = count * idf over the entries of t. */
static void cider_norms2(double *norm2, const ngram_table *t, const ngram_table *df,
                         double log_s)
{
    for (int n = 0; n < LV_CIDER_N; n++)
        norm2[n] = 0.0;
    for (int64_t i = 0; i < t->cap; i++) {
        const ngram *e = &t->slot[i];
        if (e->n) {
            const double g = (double)e->count * cider_idf(df, log_s, e->at, e->n);
            norm2[e->n - 1] += g * g;
        }
    }
}

/* One sample: for each reference j and order n,
 *   sim_n = sum over the candidate's n-grams of min(g_c, g_r) g_r / (|g_c| |g_r|)
 * (0 when either vector is zero), times the length penalty exp(-(c - r_j)^2 / (2 sigma^2));
 * the score is 10 * the mean over n and j. cand holds the candidate's n-grams, ref is scratch. */
static int cider_sample(double *score, const lv_text_sample *x, const ngram_table *cand,
                        ngram_table *ref, const ngram_table *df, double log_s)
{
    double cand_norm2[LV_CIDER_N], ref_norm2[LV_CIDER_N], sum = 0.0;
    cider_norms2(cand_norm2, cand, df, log_s);
    for (int64_t j = 0; j < x->n_refs; j++) {
        table_clear(ref);
        if (table_add_text(ref, x->refs[j], LV_CIDER_N))
            return -1;
        cider_norms2(ref_norm2, ref, df, log_s);
        double dot[LV_CIDER_N] = { 0 };                /* the clipped dot product per order */
        for (int64_t i = 0; i < cand->cap; i++) {
            const ngram *e = &cand->slot[i];
            const ngram *in_ref = e->n ? table_find(ref, e->at, e->n) : NULL;
            if (!in_ref)                               /* g_r = 0: adds min(g_c, 0) 0 = 0 */
                continue;
            const double idf = cider_idf(df, log_s, e->at, e->n);
            const double gc = (double)e->count * idf, gr = (double)in_ref->count * idf;
            dot[e->n - 1] += (gc < gr ? gc : gr) * gr;
        }
        const double delta = (double)(x->candidate.n - x->refs[j].n);
        const double penalty = exp(-(delta * delta) / (2.0 * LV_CIDER_SIGMA * LV_CIDER_SIGMA));
        for (int n = 0; n < LV_CIDER_N; n++)
            if (cand_norm2[n] > 0.0 && ref_norm2[n] > 0.0)
                sum += dot[n] / (sqrt(cand_norm2[n]) * sqrt(ref_norm2[n])) * penalty;
    }
    *score = 10.0 * sum / LV_CIDER_N / (double)x->n_refs;
    return 0;
}

int lv_cider_d(double *mean, double *per_sample, const lv_text_sample *samples, int64_t S)
{
    if (check_samples("CIDEr-D", samples, S))
        return -1;
    ngram_table df = { 0 }, cand = { 0 }, ref = { 0 };
    int rc = -1;
    if (cider_document_frequency(&df, &ref, samples, S))
        goto end;
    const double log_s = log((double)S);
    double sum = 0.0;
    for (int64_t s = 0; s < S; s++) {
        double score;
        table_clear(&cand);
        if (table_add_text(&cand, samples[s].candidate, LV_CIDER_N) ||
            cider_sample(&score, &samples[s], &cand, &ref, &df, log_s))
            goto end;
        if (per_sample)
            per_sample[s] = score;
        sum += score;
    }
    *mean = sum / (double)S;
    rc = 0;
end:
    free(df.slot);
    free(cand.slot);
    free(ref.slot);
    return rc;
}
