/* GPT-2's byte-level BPE tokenizer over a vocab.json + merges.txt pair (OpenAI's names:
 * encoder.json + vocab.bpe): the same ids as OpenAI's gpt-2 src/encoder.py, for the GPT-2 style
 * decoder LM. No model knowledge, no regex library, no per-word cache: a loaded lv_bpe is only
 * read, so threads share one. */
#ifndef LV_BPE_H
#define LV_BPE_H

#include <stdint.h>

typedef struct lv_bpe lv_bpe;

/* A tokenizer folder: dir/vocab.json + dir/merges.txt (Hugging Face), or else dir/encoder.json
 * + dir/vocab.bpe (OpenAI). NULL + lv_error() when neither pair is there, or as below. */
lv_bpe *lv_bpe_load(const char *dir);

/* The two files by path. vocab.json: one JSON object, token -> id, the ids 0..V-1 each once,
 * every token written in GPT-2's byte characters (below), all 256 of them present. merges.txt:
 * an optional first line "#version..." then one merge "a b" per line (rank = order; "\r\n"
 * and blank lines accepted); both halves and the joined token must be in vocab.json, no merge
 * twice, and every token of vocab.json that is not a byte must be made by some merge or be a
 * special token written <...> ("<|endoftext|>"): a merges.txt cut short is caught. Any other
 * file is refused with a message naming the file, the line or token, and what to do. */
lv_bpe *lv_bpe_load_files(const char *vocab_path, const char *merges_path);

/* The same from the two files' contents (NUL-terminated), as a model file that embeds them
 * stores them (train --stage text's v2t.safetensors); vocab_name and merges_name stand for the
 * files in the messages ("v2t.safetensors (its stored vocab.json)"). */
lv_bpe *lv_bpe_from_text(const char *vocab_json, const char *merges_txt, const char *vocab_name,
                         const char *merges_name);

/* The two texts the tokenizer was made from, byte for byte: what a model file embeds to be
 * self-contained (lv_bpe_from_text reads them back). */
const char *lv_bpe_vocab_text(const lv_bpe *t);
const char *lv_bpe_merges_text(const lv_bpe *t);

/* text (NUL-terminated UTF-8) to ids, as encoder.py does it:
 *   1. pre-tokens: GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
 *      \s+(?!\S)|\s+  matched by hand, with Python regex's classes: \p{L} and \p{N} are the
 *      general categories L* and N* (utf8proc's Unicode), \s is White_Space (tab to return,
 *      space, U+0085, Z*); the contractions are lower-case ASCII only ("'S" is not one);
 *   2. each pre-token's bytes as GPT-2's byte characters (bytes_to_unicode: printable Latin-1
 *      as itself, the other 68 bytes as U+0100..U+0143);
 *   3. BPE: repeatedly the lowest-ranked adjacent pair present is merged, at every place it
 *      occurs, left to right (exactly encoder.py's loop, done with a heap).
 * Invalid UTF-8 is kept byte by byte: each malformed byte is a character of its own that is
 * neither letter, number nor space (where Python would have had U+FFFD), so decoding gives the
 * same bytes back. "<|endoftext|>" in the text is plain text (as in encoder.py): append
 * lv_bpe_eot() where a document ends. Writes the first min(count, cap) ids and returns count,
 * the number of ids of the whole text (snprintf's rule: call with cap 0 to size the buffer);
 * -1 + lv_error() only when out of memory. */
int64_t lv_bpe_encode(const lv_bpe *t, const char *text, int32_t *ids, int64_t cap);

/* ids (n) back to bytes: each token's bytes, concatenated. Writes at most cap - 1 bytes and a
 * NUL (when cap > 0) and returns the byte count of the whole decoding (snprintf's rule); the
 * bytes may be cut inside a UTF-8 sequence when the ids are. -1 + lv_error() for an id outside
 * 0..V-1. */
int64_t lv_bpe_decode(const lv_bpe *t, const int32_t *ids, int64_t n, char *out, int64_t cap);

int64_t lv_bpe_vocab_size(const lv_bpe *t);                /* V: 50257 for GPT-2 */
int32_t lv_bpe_eot(const lv_bpe *t);              /* <|endoftext|>'s id (50256), -1 if absent */
int32_t lv_bpe_id(const lv_bpe *t, const char *token);     /* as vocab.json writes it; -1 */
const char *lv_bpe_token(const lv_bpe *t, int32_t id);     /* as vocab.json writes it; NULL */
void lv_bpe_free(lv_bpe *t);

#endif
