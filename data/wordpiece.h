/* BERT's uncased WordPiece tokenizer over a vocab.txt (one token per line, id = line - 1): the
 * same tokens as Hugging Face's BertTokenizer(do_lower_case=True) for the Unicode it covers.
 * No model knowledge: it turns text into ids and a validity mask of a given length T. */
#ifndef LV_WORDPIECE_H
#define LV_WORDPIECE_H

#include <stdint.h>

typedef struct lv_tokenizer lv_tokenizer;

/* Reads a BERT vocab.txt ("\n" or "\r\n" line ends; an empty line keeps its id but matches
 * nothing). NULL + lv_error() for a missing or empty file, a missing [PAD]/[UNK]/[CLS]/[SEP],
 * or a token listed twice (the message names both lines). */
lv_tokenizer *lv_tokenizer_load(const char *vocab_path);

/* ids (T), valid (T): [CLS] wordpieces... [SEP], then [PAD] to T (valid 1 for non-pad).
 * Pipeline (BERT uncased): drop NUL, U+FFFD and control characters (invalid UTF-8 bytes decode
 * to U+FFFD, so they are dropped too), whitespace separates words, CJK ideographs become words
 * of their own, lower-case, strip accents, punctuation becomes words of its own, then greedy
 * longest-match-first WordPiece with "##" continuations; a word of more than 100 characters, or
 * one that cannot be covered by the vocabulary, becomes a single [UNK]. Unicode covered:
 * lower-casing and accent stripping for Latin-1 Supplement, Latin Extended-A, basic Greek and
 * Cyrillic; combining marks U+0300-036F, U+1DC0-1DFF, U+FE20-FE2F; punctuation = all ASCII
 * symbols plus P* of Latin-1, Greek, General Punctuation, CJK Symbols and fullwidth forms.
 * Text longer than T - 2 wordpieces is truncated so that [SEP] stays last. T >= 2.
 * Returns the number of non-pad tokens. */
int64_t lv_tokenizer_encode(const lv_tokenizer *t, const char *text, int32_t *ids, uint8_t *valid,
                            int64_t T);

int64_t lv_tokenizer_vocab_size(const lv_tokenizer *t);
int32_t lv_tokenizer_id(const lv_tokenizer *t, const char *token);      /* -1 if absent */
const char *lv_tokenizer_token(const lv_tokenizer *t, int32_t id);      /* NULL if out of range */
void lv_tokenizer_free(lv_tokenizer *t);

#endif
