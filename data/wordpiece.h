/* BERT's uncased WordPiece tokenizer over a vocab.txt (one token per line, id = line - 1): the
 * same tokens as BERT's BasicTokenizer(do_lower_case=True) + WordpieceTokenizer.
 * No model knowledge: it turns text into ids and a validity mask of a given length T. */
#ifndef LV_WORDPIECE_H
#define LV_WORDPIECE_H

#include <stdint.h>

typedef struct lv_tokenizer lv_tokenizer;

/* Reads a BERT vocab.txt ("\n" or "\r\n" line ends; an empty line keeps its id but matches
 * nothing). NULL + lv_error() for a missing or empty file, a missing [PAD]/[UNK]/[CLS]/[SEP],
 * or a token listed twice (the message names both lines). */
lv_tokenizer *lv_tokenizer_load(const char *vocab_path);

/* The same from the text of a vocab.txt (a model file's stored copy); origin names it in
 * messages ("run/ckpt.safetensors (its stored vocabulary)"). */
lv_tokenizer *lv_tokenizer_from_text(const char *text, const char *origin);

/* The vocabulary as text, one token per line, each ending in "\n" whatever the file used: what
 * a model file stores, and equal for equal token lists. Lives as long as t. */
const char *lv_tokenizer_text(const lv_tokenizer *t);

/* The first id where a and b hold different tokens (the shorter one's size when one is a prefix
 * of the other), or -1 when they are the same vocabulary. */
int64_t lv_tokenizer_first_difference(const lv_tokenizer *a, const lv_tokenizer *b);

/* ids (T), valid (T): [CLS] wordpieces... [SEP], then [PAD] to T (valid 1 for non-pad).
 * The pipeline is BERT's uncased BasicTokenizer + WordPiece (Google's tokenization.py, with
 * Hugging Face's limit of 100 characters a word), Unicode through utf8proc: drop U+0000, U+FFFD
 * and control characters (Cc, Cf; tab, newline and return are whitespace); whitespace (space,
 * Zs, and U+2028/U+2029, which Python's str.split() splits at) separates tokens; CJK ideographs
 * (BERT's list of blocks) are tokens of their own; each token lower-cased as Python's
 * str.lower() does (final sigma, U+0130 -> "i" + U+0307), put in NFD, its Mn marks dropped;
 * punctuation (ASCII symbols and P*) becomes words of its own; then greedy longest-match-first
 * WordPiece with "##" continuations; a word of more than 100 characters, or one that cannot be
 * covered by the vocabulary, becomes a single [UNK]. Invalid UTF-8 is dropped byte by byte
 * (each malformed, truncated, overlong or surrogate byte is a U+FFFD, which cleaning drops):
 * the same text remains as BERT's bytes.decode("utf-8", "ignore") leaves. A NUL ends the text,
 * and text written as "[SEP]" is plain text. tests/check_tokenizer.c compares all of it with an
 * independent Python implementation of BERT's algorithm.
 * Text longer than T - 2 wordpieces is truncated so that [SEP] stays last. T >= 2.
 * Returns the number of non-pad tokens. */
int64_t lv_tokenizer_encode(const lv_tokenizer *t, const char *text, int32_t *ids, uint8_t *valid,
                            int64_t T);

int64_t lv_tokenizer_vocab_size(const lv_tokenizer *t);
int32_t lv_tokenizer_id(const lv_tokenizer *t, const char *token);      /* -1 if absent */
const char *lv_tokenizer_token(const lv_tokenizer *t, int32_t id);      /* NULL if out of range */
void lv_tokenizer_free(lv_tokenizer *t);

/* The words of text as the encoder sees them before WordPiece (BERT's basic tokenization, as
 * lv_tokenizer_encode describes it), each as NUL-terminated UTF-8 to fn; words of more than 100
 * characters are skipped (they encode as [UNK] whatever the vocabulary). Stops at, and returns,
 * the first non-zero fn result; 0 otherwise. */
typedef int (*lv_word_fn)(void *ctx, const char *word, int64_t bytes);
int lv_tokenizer_words(const char *text, lv_word_fn fn, void *ctx);

/* Builds a vocab.txt text (malloc'd; *tokens gets its line count) from n captions, so that every
 * caption encodes without [UNK]. Deterministic, and documented in `longvivit vocab --help`:
 *   1. words: lv_tokenizer_words of every caption, counted;
 *   2. [PAD] [UNK] [CLS] [SEP] [MASK], ids 0-4;
 *   3. whole words, most frequent first, ties in byte order;
 *   4. for the words that did not fit as whole words, the characters that spell them: first
 *      characters as themselves, then "##" + each later character, each group in byte order.
 * size 0 lists every word (step 4 is empty); otherwise the most whole words are kept for which
 * steps 2-4 stay within size tokens. NULL + lv_error() when size cannot hold even steps 2 and 4
 * (the message says the smallest size that can) or the captions hold no word. */
char *lv_vocab_build(const char *const *texts, int64_t n, int64_t size, int64_t *tokens);

#endif
