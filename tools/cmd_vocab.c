/* `longvivit vocab`: a WordPiece vocab.txt for one's own captions (the algorithm is
 * lv_vocab_build's, data/wordpiece.h), and vocab_for_model: which vocabulary a command that
 * reads a model file uses, shared by eval, encode and train so that the rule is one rule. */
#include "commands.h"
#include "error.h"
#include "manifest.h"
#include "model_io.h"
#include "wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the vocabulary of a model file ---------------------------------------------------------- */

/* A stored vocabulary and an explicit --vocab must be the same token list: the same ids with
 * other words behind them give wrong numbers with exit 0, which is worse than an error. */
static lv_tokenizer *check_given(lv_tokenizer *stored, const char *model, const char *given,
                                 int *code)
{
    lv_tokenizer *g = lv_tokenizer_load(given);
    if (!g) {
        lv_tokenizer_free(stored);
        return NULL;
    }
    const int64_t at = lv_tokenizer_first_difference(g, stored);
    if (at >= 0) {
        const char *mine = lv_tokenizer_token(g, (int32_t)at);
        const char *theirs = lv_tokenizer_token(stored, (int32_t)at);
        lv_set_error("--vocab %s is not the vocabulary stored in %s (%lld and %lld tokens; line "
                     "%lld is '%s' there, '%s' stored): the model's token ids would stand for "
                     "other words. Leave --vocab out (the stored one is used), or pass the "
                     "vocab.txt it was trained with", given, model,
                     (long long)lv_tokenizer_vocab_size(g),
                     (long long)lv_tokenizer_vocab_size(stored), (long long)at + 1,
                     mine ? mine : "(end of file)", theirs ? theirs : "(end of file)");
        *code = 2;
        lv_tokenizer_free(stored);
        stored = NULL;
    }
    lv_tokenizer_free(g);
    return stored;
}

lv_tokenizer *vocab_for_model(const char *model, int64_t model_vocab, const char *given,
                              const char *fallback, int *code)
{
    char *text = NULL;
    *code = 1;
    if (model && lv_vocab_from_file(&text, model) < 0)
        return NULL;
    if (text) {
        char origin[4200];
        snprintf(origin, sizeof origin, "%s (its stored vocabulary)", model);
        lv_tokenizer *t = lv_tokenizer_from_text(text, origin);
        free(text);
        if (t && model_vocab > 0 && lv_tokenizer_vocab_size(t) != model_vocab) {
            lv_set_error("%s: its stored vocabulary has %lld tokens but its model %lld: the file "
                         "is damaged; use the file longvivit wrote", model,
                         (long long)lv_tokenizer_vocab_size(t), (long long)model_vocab);
            lv_tokenizer_free(t);
            return NULL;
        }
        return t && given ? check_given(t, model, given, code) : t;
    }
    const char *path = given ? given : fallback;
    if (!path) {
        *code = 2;
        lv_set_error("%s stores no vocabulary (it predates stored vocabularies): pass --vocab "
                     "with the vocab.txt the model was trained with", model);
        return NULL;
    }
    lv_tokenizer *t = lv_tokenizer_load(path);
    if (!t || !model)
        return t;
    const int64_t V = lv_tokenizer_vocab_size(t);
    if (model_vocab > 0 && V > model_vocab) {
        /* ids past the embedding table: refused here, not as a crash in the embedding */
        *code = 2;
        lv_set_error("the vocabulary %s has %lld tokens but the model in %s has %lld (its "
                     "embedding table): it is not the vocabulary the model was trained with; "
                     "pass --vocab with that vocab.txt", path, (long long)V, model,
                     (long long)model_vocab);
        lv_tokenizer_free(t);
        return NULL;
    }
    fprintf(stderr, "note: %s stores no vocabulary (written before models carried theirs); "
            "using %s%s: it must be the vocab.txt the model was trained with\n", model, path,
            model_vocab > 0 && V != model_vocab ? ", which has fewer tokens than the model" : "");
    return t;
}

/* ---- the command ----------------------------------------------------------------------------- */

static int vocab_usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit vocab --data MANIFEST [--data MANIFEST ...] [--mcq MCQ.jsonl ...]\n"
            "                       --out vocab.txt [--size N]\n"
            "Builds a WordPiece vocab.txt from the captions of the manifests (and the questions\n"
            "and options of MCQ files) so that every one of them tokenizes without [UNK]. Train\n"
            "with it (train --vocab, or vocab.txt beside the manifest); the model stores it, so\n"
            "eval and encode need no --vocab afterwards. Deterministic; the algorithm:\n"
            "  1. BERT basic tokenization of each caption, as the tokenizer does it: control\n"
            "     characters dropped, lower-case, accents stripped, split on whitespace, each\n"
            "     punctuation mark and CJK ideograph a word of its own; words counted (a word of\n"
            "     more than 100 characters is skipped: it is [UNK] whatever the vocabulary);\n"
            "  2. [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0-4);\n"
            "  3. whole words, most frequent first, ties in byte order;\n"
            "  4. for the words that did not fit whole, the characters that spell them: first\n"
            "     characters as themselves, then \"##\" + each later character, each group in\n"
            "     byte order, so WordPiece can always cover such a word.\n"
            "Without --size every word is listed whole (step 4 is empty). With --size N the\n"
            "most whole words are kept for which steps 2-4 fit in N lines; an N too small for\n"
            "steps 2 and 4 alone is refused with the smallest N that works.\n");
    return out == stderr ? 2 : 0;
}

static int write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return lv_set_error("cannot write %s: %s", path, strerror(errno));
    const size_t n = strlen(text);
    const int bad = fwrite(text, 1, n, fp) != n;
    if (fclose(fp) != 0 || bad) {
        remove(path);
        return lv_set_error("cannot write %s: %s; check the disk", path, strerror(errno));
    }
    return 0;
}

/* Every caption, question and option of the files, in order (pointers into the lists). */
static int collect(const char ***texts, int64_t *n, const lv_clip_list *clips, int n_clips,
                   const lv_mcq_list *mcqs, int n_mcqs)
{
    int64_t total = 0;
    for (int i = 0; i < n_clips; i++)
        total += clips[i].n;
    for (int i = 0; i < n_mcqs; i++)
        total += 6 * mcqs[i].n;
    *texts = lv_malloc((size_t)(total ? total : 1) * sizeof **texts, "the caption list");
    if (!*texts)
        return -1;
    *n = 0;
    for (int i = 0; i < n_clips; i++)
        for (int64_t k = 0; k < clips[i].n; k++)
            (*texts)[(*n)++] = clips[i].e[k].caption;
    for (int i = 0; i < n_mcqs; i++)
        for (int64_t k = 0; k < mcqs[i].n; k++) {
            (*texts)[(*n)++] = mcqs[i].e[k].question ? mcqs[i].e[k].question : "";
            for (int o = 0; o < 5; o++)
                (*texts)[(*n)++] = mcqs[i].e[k].options[o] ? mcqs[i].e[k].options[o] : "";
        }
    return 0;
}

int cmd_vocab(int argc, char **argv)
{
    enum { MAX_FILES = 32 };
    const char *data[MAX_FILES], *mcq[MAX_FILES], *out = NULL;
    int n_data = 0, n_mcq = 0;
    long long size = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return vocab_usage(stdout);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v) {
            fprintf(stderr, "longvivit vocab: '%s' needs a value (or is not an option)\n", a);
            return vocab_usage(stderr);
        }
        if (!strcmp(a, "--data") && n_data < MAX_FILES)
            data[n_data++] = v;
        else if (!strcmp(a, "--mcq") && n_mcq < MAX_FILES)
            mcq[n_mcq++] = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--size") && (size = strtoll(v, &end, 10), *v && !*end) && size > 0)
            ;
        else {
            fprintf(stderr, "longvivit vocab: bad argument '%s %s'%s\n", a, v,
                    !strcmp(a, "--size") ? ": --size takes a positive number of tokens" : "");
            return vocab_usage(stderr);
        }
        i++;
    }
    if (!out || n_data + n_mcq == 0) {
        fprintf(stderr, "longvivit vocab: --out FILE and at least one --data MANIFEST (or --mcq) "
                "are required\n");
        return vocab_usage(stderr);
    }
    lv_clip_list clips[MAX_FILES] = { { 0 } };
    lv_mcq_list mcqs[MAX_FILES] = { { 0 } };
    const char **texts = NULL;
    char *text = NULL;
    int64_t n = 0, tokens = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n_data; i++)
        rc = lv_manifest_load(&clips[i], data[i], 0);    /* captions only: videos not needed */
    for (int i = 0; rc == 0 && i < n_mcq; i++)
        rc = lv_mcq_load(&mcqs[i], mcq[i], 0);
    if (rc == 0)
        rc = collect(&texts, &n, clips, n_data, mcqs, n_mcq);
    if (rc == 0)
        rc = (text = lv_vocab_build(texts, n, size, &tokens)) ? 0 : -1;
    if (rc == 0)
        rc = write_text(out, text);
    if (rc == 0)
        printf("wrote %s: %lld tokens from %lld texts\n", out, (long long)tokens, (long long)n);
    else
        fprintf(stderr, "longvivit vocab: %s\n", lv_error());
    for (int i = 0; i < n_data; i++)
        lv_clip_list_free(&clips[i]);
    for (int i = 0; i < n_mcq; i++)
        lv_mcq_list_free(&mcqs[i]);
    free(texts);
    free(text);
    return rc == 0 ? 0 : 1;
}
