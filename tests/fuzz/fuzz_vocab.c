/* data/wordpiece.c's vocab.txt loader (lv_tokenizer_load) on arbitrary bytes; a vocabulary that
 * loads then tokenizes a fixed caption and the input's own text, and every id must be a token
 * of the vocabulary with the mask marking the non-padding prefix. */
#include "fuzz.h"
#include "wordpiece.h"

#define T 64
#define MAX_TEXT 4096

static void encode(const lv_tokenizer *t, const char *text)
{
    int32_t ids[T];
    uint8_t valid[T];
    const int64_t n = lv_tokenizer_encode(t, text, ids, valid, T);
    const int64_t V = lv_tokenizer_vocab_size(t);
    if (n < 0)
        return;
    for (int64_t i = 0; i < T; i++)
        if (ids[i] < 0 || ids[i] >= V || valid[i] != (i < n) || !lv_tokenizer_token(t, ids[i]))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_tokenizer *t = lv_tokenizer_load(fuzz_file("vocab", data, size));
    if (!t)
        return 0;
    static char text[MAX_TEXT];
    const size_t n = size < MAX_TEXT - 1 ? size : MAX_TEXT - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    encode(t, "A man is slicing tomatoes, then he fries them in the pan.");
    encode(t, text);
    lv_tokenizer_free(t);
    return 0;
}
