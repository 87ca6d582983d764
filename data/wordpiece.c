/* WordPiece tokenizer (see wordpiece.h): an open-addressing hash table over the vocab, a UTF-8
 * decoder that never reads past the terminating NUL, and BERT's basic tokenizer with its Unicode
 * questions (categories, lower case, NFD, combining classes) asked of utf8proc rather than of
 * tables of our own. Python's case rules that utf8proc lacks are the only code points listed. */
#include "wordpiece.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define LV_WORD_MAX_CHARS 100          /* Hugging Face BertTokenizer's max_input_chars_per_word */
#define LV_DECOMPOSITION_MAX 8         /* a canonical decomposition is at most 4 code points */
#define LV_REPLACEMENT_CHAR 0xFFFDu    /* what a malformed UTF-8 byte decodes to */
#define LV_FNV_OFFSET 0xcbf29ce484222325ull
#define LV_FNV_PRIME 0x100000001b3ull

typedef struct {
    const char *s;          /* points into the vocabulary text, NUL-terminated */
    int32_t n;              /* bytes */
} vocab_token;

struct lv_tokenizer {
    char *text;             /* the whole vocab.txt, lines cut in place */
    char *canon;            /* the tokens one per line, "\n" ends: what a model file stores */
    vocab_token *tok;       /* (V) */
    int64_t V;
    int32_t *slot;          /* token ids by hash, -1 = empty; a power of two >= 2V of them */
    int64_t slot_mask;
    int32_t pad, unk, cls, sep;
};

/* ---- vocabulary ------------------------------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const char *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * LV_FNV_PRIME;
    return h;
}

/* The slot holding "s" (prefixed by "##" when cont), or the empty slot where it would go. */
static int64_t vocab_slot(const lv_tokenizer *t, int cont, const char *s, int64_t n)
{
    const int64_t p = cont ? 2 : 0;
    int64_t i = (int64_t)(fnv1a(fnv1a(LV_FNV_OFFSET, "##", p), s, n) & (uint64_t)t->slot_mask);
    for (; t->slot[i] >= 0; i = (i + 1) & t->slot_mask) {
        const vocab_token *v = &t->tok[t->slot[i]];
        if (v->n == n + p && !memcmp(v->s, "##", (size_t)p) && !memcmp(v->s + p, s, (size_t)n))
            break;
    }
    return i;
}

static int32_t vocab_find(const lv_tokenizer *t, int cont, const char *s, int64_t n)
{
    return t->slot[vocab_slot(t, cont, s, n)];
}

static char *vocab_read_file(const char *path, int64_t *size)
{
    struct stat st;
    const int missing = stat(path, &st);
    if (missing || !S_ISREG(st.st_mode)) {
        lv_set_error("cannot read the vocabulary %s: %s: pass the path of a BERT vocab.txt", path,
                     missing ? strerror(errno) : "not a regular file");
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        lv_set_error("cannot open the vocabulary %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = lv_malloc((size_t)st.st_size + 1, "the vocabulary text");
    if (text && fread(text, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
        lv_set_error("cannot read the vocabulary %s: read error: check the file", path);
        free(text);
        text = NULL;
    }
    fclose(fp);
    if (text)
        text[st.st_size] = '\0';
    *size = (int64_t)st.st_size;
    return text;
}

/* Cuts the text into lines in place ("\n" or "\r\n"); line k is token id k - 1. */
static int vocab_split(lv_tokenizer *t, const char *path, int64_t size)
{
    int64_t lines = size > 0 && t->text[size - 1] != '\n';
    for (int64_t i = 0; i < size; i++)
        lines += t->text[i] == '\n';
    if (lines == 0)
        return lv_set_error("the vocabulary %s is empty: expected a BERT vocab.txt, one WordPiece "
                            "token per line", path);
    if (lines > INT32_MAX)
        return lv_set_error("the vocabulary %s has %lld lines: ids are int32, at most %d tokens",
                            path, (long long)lines, INT32_MAX);
    t->tok = lv_malloc((size_t)lines * sizeof *t->tok, "the vocabulary tokens");
    if (!t->tok)
        return -1;
    for (int64_t i = 0, start = 0; t->V < lines; i++) {
        if (i < size && t->text[i] == '\0')
            return lv_set_error("%s:%lld: a NUL byte: a vocab.txt is plain UTF-8 text", path,
                                (long long)t->V + 1);
        if (i < size && t->text[i] != '\n')
            continue;
        int64_t end = i;
        while (end > start && t->text[end - 1] == '\r')
            end--;
        t->text[end] = '\0';
        t->tok[t->V++] = (vocab_token){ t->text + start, (int32_t)(end - start) };
        start = i + 1;
    }
    return 0;
}

/* The hash table; an empty line keeps its id but is not indexed (no word piece is empty). */
static int vocab_index(lv_tokenizer *t, const char *path)
{
    int64_t slots = 16;
    while (slots < 2 * t->V)
        slots *= 2;
    t->slot = lv_malloc((size_t)slots * sizeof *t->slot, "the vocabulary hash table");
    if (!t->slot)
        return -1;
    memset(t->slot, 0xff, (size_t)slots * sizeof *t->slot);
    t->slot_mask = slots - 1;
    for (int32_t id = 0; id < t->V; id++) {
        if (t->tok[id].n == 0)
            continue;
        const int64_t i = vocab_slot(t, 0, t->tok[id].s, t->tok[id].n);
        if (t->slot[i] >= 0)
            return lv_set_error("%s: line %d and line %d both hold the token '%s': each token "
                                "must appear once (its id is its line number - 1); remove one",
                                path, t->slot[i] + 1, id + 1, t->tok[id].s);
        t->slot[i] = id;
    }
    return 0;
}

static int vocab_specials(lv_tokenizer *t, const char *path)
{
    const char *names[4] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]" };
    int32_t *ids[4] = { &t->pad, &t->unk, &t->cls, &t->sep };
    for (int k = 0; k < 4; k++) {
        *ids[k] = vocab_find(t, 0, names[k], (int64_t)strlen(names[k]));
        if (*ids[k] < 0)
            return lv_set_error("the vocabulary %s has no %s token: a BERT vocab.txt lists [PAD], "
                                "[UNK], [CLS] and [SEP], one per line", path, names[k]);
    }
    return 0;
}

/* The canonical text: CRLF or a missing last newline must not make two equal vocabularies
 * differ when a model file's stored one is compared with a --vocab. */
static int vocab_canon(lv_tokenizer *t)
{
    int64_t bytes = 1;
    for (int64_t i = 0; i < t->V; i++)
        bytes += t->tok[i].n + 1;
    t->canon = lv_malloc((size_t)bytes, "the vocabulary text");
    if (!t->canon)
        return -1;
    char *o = t->canon;
    for (int64_t i = 0; i < t->V; i++) {
        memcpy(o, t->tok[i].s, (size_t)t->tok[i].n);
        o += t->tok[i].n;
        *o++ = '\n';
    }
    *o = '\0';
    return 0;
}

/* Takes ownership of text (size bytes, NUL-terminated); origin names it in messages. */
static lv_tokenizer *vocab_parse(char *text, int64_t size, const char *origin)
{
    lv_tokenizer *t = text ? lv_calloc(1, sizeof *t, "the tokenizer") : NULL;
    if (!t) {
        free(text);
        return NULL;
    }
    t->text = text;
    if (vocab_split(t, origin, size) || vocab_index(t, origin) || vocab_specials(t, origin) ||
        vocab_canon(t)) {
        lv_tokenizer_free(t);
        return NULL;
    }
    return t;
}

lv_tokenizer *lv_tokenizer_load(const char *vocab_path)
{
    int64_t size = 0;
    char *text = vocab_read_file(vocab_path, &size);
    return text ? vocab_parse(text, size, vocab_path) : NULL;
}

lv_tokenizer *lv_tokenizer_from_text(const char *text, const char *origin)
{
    const size_t n = strlen(text);
    char *copy = lv_malloc(n + 1, "the vocabulary text");
    if (copy)
        memcpy(copy, text, n + 1);
    return vocab_parse(copy, (int64_t)n, origin);
}

const char *lv_tokenizer_text(const lv_tokenizer *t)
{
    return t->canon;
}

int64_t lv_tokenizer_first_difference(const lv_tokenizer *a, const lv_tokenizer *b)
{
    const int64_t n = a->V < b->V ? a->V : b->V;
    for (int64_t i = 0; i < n; i++)
        if (a->tok[i].n != b->tok[i].n || memcmp(a->tok[i].s, b->tok[i].s, (size_t)a->tok[i].n))
            return i;
    return a->V == b->V ? -1 : n;
}

void lv_tokenizer_free(lv_tokenizer *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->canon);
    free(t->tok);
    free(t->slot);
    free(t);
}

int64_t lv_tokenizer_vocab_size(const lv_tokenizer *t)
{
    return t->V;
}

int32_t lv_tokenizer_id(const lv_tokenizer *t, const char *token)
{
    const int64_t n = (int64_t)strlen(token);
    return n ? vocab_find(t, 0, token, n) : -1;
}

const char *lv_tokenizer_token(const lv_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->V ? t->tok[id].s : NULL;
}

/* ---- UTF-8 ----------------------------------------------------------------------------------- */

/* The code point at *p, advancing *p. A malformed, truncated, overlong or surrogate sequence, or
 * one above U+10FFFF, consumes one byte and gives U+FFFD. Stops at a NUL: never reads past it. */
static uint32_t utf8_next(const unsigned char **p)
{
    static const uint32_t least[4] = { 0, 0x80, 0x800, 0x10000 };
    const unsigned char *s = *p;
    uint32_t c = s[0];
    const int more = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
                   : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
    *p = s + 1;
    if (more <= 0)
        return more ? LV_REPLACEMENT_CHAR : c;
    c &= 0x3Fu >> more;
    for (int i = 1; i <= more; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return LV_REPLACEMENT_CHAR;
        c = c << 6 | (s[i] & 0x3Fu);
    }
    if (c < least[more] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return LV_REPLACEMENT_CHAR;
    *p = s + 1 + more;
    return c;
}

static int64_t utf8_put(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ---- character classes (BERT's _is_control, _is_whitespace, _is_punctuation, CJK) ---------- */

static utf8proc_category_t category(uint32_t c)
{
    return utf8proc_category((utf8proc_int32_t)c);
}

static int combining_class(uint32_t c)
{
    return utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
}

/* _clean_text drops these: categories Cc and Cf, except tab, newline and return (whitespace). */
static int is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    const utf8proc_category_t k = category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF;
}

/* Word separators, asked after is_control: _is_whitespace (space, tab, newline, return, Zs), and
 * what Python's str.split() in whitespace_tokenize also splits at once the controls are gone.
 * Its isspace() is "bidi class WS, B or S, or category Zs", which adds U+2028 LINE SEPARATOR
 * and U+2029 PARAGRAPH SEPARATOR. */
static int is_whitespace(uint32_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return 1;
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* BERT's "Chinese characters" (_is_chinese_char): its own fixed list of blocks, not a Unicode
 * property, so it is written here as BERT wrote it. */
static int is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* _is_punctuation: every ASCII symbol (BERT counts $ + < = > ^ ` | ~ too) and categories P*. */
static int is_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    switch (category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

/* ---- lower case: Python's str.lower(), final sigma included ---------------------------------- */

/* Case_Ignorable (DerivedCoreProperties), which Python's lower() skips when it looks around a
 * capital sigma: categories Mn, Me, Cf, Lm, Sk, plus the Word_Break classes MidLetter,
 * MidNumLet and Single_Quote, which utf8proc does not carry: those 17 code points are listed
 * (' . : middle dots, Armenian and Hebrew marks, quotes, one-dot leader, hyphenation point, and
 * their small and fullwidth forms). tests/check_tokenizer.c checks both lists against Python's
 * lower() on every code point. */
static int is_case_ignorable(uint32_t c)
{
    static const uint32_t word_break_mid[] = {
        0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
        0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A,
    };
    switch (category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
        return 1;
    default:
        break;
    }
    for (size_t i = 0; i < sizeof word_break_mid / sizeof word_break_mid[0]; i++)
        if (c == word_break_mid[i])
            return 1;
    return 0;
}

/* Cased (DerivedCoreProperties), asked only of characters that are not case-ignorable: Lu, Ll,
 * Lt, anything with a case mapping, and the Other_Lowercase / Other_Uppercase characters that
 * have none and are not Lm (ignorable first): ª, º, and the squared, negative circled and
 * negative squared Latin capital letters. */
static int is_cased(uint32_t c)
{
    const utf8proc_category_t k = category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return 1;
    const utf8proc_int32_t s = (utf8proc_int32_t)c;
    if (utf8proc_tolower(s) != s || utf8proc_toupper(s) != s || utf8proc_totitle(s) != s)
        return 1;
    return c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* ---- encoding -------------------------------------------------------------------------------- */

/* BERT's basic tokenizer, done as one pass over the code points (no copy of the text):
 *   _clean_text        drop U+0000, U+FFFD and control characters (malformed UTF-8 arrives as
 *                      U+FFFD, one per byte, so each such byte is dropped)
 *   CJK + whitespace   a whitespace character ends the current token; a CJK ideograph is a
 *                      token of its own
 *   lower()            per token, as Python does it: utf8proc's lower-case mapping, U+0130 ->
 *                      "i" + U+0307, and a capital sigma -> final ς when a cased character
 *                      precedes it in the token and none follows (case-ignorables skipped both
 *                      ways; the look ahead reads the text from where the sigma ends)
 *   strip accents      NFD (utf8proc's canonical decomposition), drop Mn; what stays of a run of
 *                      combining characters is kept in canonical order
 *   split on punct     each punctuation character a word of its own
 * then each word to WordPiece (or to the caller's lv_word_fn). */
typedef struct {
    const lv_tokenizer *t;
    int32_t *ids;                           /* (T) */
    int64_t n;                              /* ids written, [CLS] included */
    int64_t room;                           /* T - 1: [SEP] goes at n once n reaches it */
    uint32_t word[LV_WORD_MAX_CHARS];       /* the current word after NFD and stripping */
    int64_t chars;                          /* characters of the current word (may pass the max) */
    int64_t run;                            /* where its current run of combining characters
                                             * (non-zero class, canonically ordered) starts */
    int cased_before;                       /* the token's last character that is not case-
                                             * ignorable is cased (sigma context) */
    lv_word_fn fn;                          /* lv_tokenizer_words: each word goes here instead */
    void *ctx;
    int rc;                                 /* the first non-zero fn result; stops the walk */
} encoder;

static void emit(encoder *e, int32_t id)
{
    if (e->n < e->room)
        e->ids[e->n++] = id;
}

/* The longest vocab entry at character `start` ("##"-prefixed after the first): its id, or -1
 * when none matches; *end is where the piece stops. */
static int32_t longest_piece(const encoder *e, const char *bytes, const int64_t *off,
                             int64_t start, int64_t *end)
{
    for (*end = e->chars; *end > start; (*end)--) {
        const int32_t id = vocab_find(e->t, start > 0, bytes + off[start], off[*end] - off[start]);
        if (id >= 0)
            return id;
    }
    return -1;
}

/* Greedy longest-match-first; a word with any position left uncovered becomes one [UNK]. */
static void wordpiece(encoder *e)
{
    char bytes[4 * LV_WORD_MAX_CHARS];
    int64_t off[LV_WORD_MAX_CHARS + 1] = { 0 };    /* byte offset of each character */
    int32_t pieces[LV_WORD_MAX_CHARS];
    int64_t np = 0;
    for (int64_t i = 0; i < e->chars; i++)
        off[i + 1] = off[i] + utf8_put(bytes + off[i], e->word[i]);
    for (int64_t start = 0, end; start < e->chars; start = end) {
        const int32_t id = longest_piece(e, bytes, off, start, &end);
        if (id < 0) {
            emit(e, e->t->unk);
            return;
        }
        pieces[np++] = id;
    }
    for (int64_t i = 0; i < np; i++)
        emit(e, pieces[i]);
}

/* The word as UTF-8 to e->fn; a word of more than the maximum is skipped (it encodes as [UNK]
 * whatever the vocabulary holds). */
static void give_word(encoder *e)
{
    char bytes[4 * LV_WORD_MAX_CHARS + 1];
    int64_t n = 0;
    if (e->rc || e->chars > LV_WORD_MAX_CHARS)
        return;
    for (int64_t i = 0; i < e->chars; i++)
        n += utf8_put(bytes + n, e->word[i]);
    bytes[n] = '\0';
    e->rc = e->fn(e->ctx, bytes, n);
}

static void flush(encoder *e)
{
    if (e->fn && e->chars > 0)
        give_word(e);
    else if (e->chars > LV_WORD_MAX_CHARS)
        emit(e, e->t->unk);
    else if (e->chars > 0)
        wordpiece(e);
    e->chars = 0;
    e->run = 0;
}

/* The end of a whitespace token: the word ends, and so does the sigma context. */
static void token_end(encoder *e)
{
    flush(e);
    e->cased_before = 0;
}

/* One character of NFD output: a punctuation character is a word of its own, an Mn mark is
 * dropped (accent stripping), anything else joins the word. A character of non-zero combining
 * class moves back past those of a higher class in its run (NFD's canonical ordering, a stable
 * sort; dropping the Mn marks first leaves the others' order unchanged). */
static void put_decomposed(encoder *e, uint32_t c)
{
    const int cls = combining_class(c);
    if (is_punct(c)) {                      /* class 0 in every Unicode version so far */
        flush(e);
        e->word[0] = c;
        e->chars = 1;
        flush(e);
        return;
    }
    if (category(c) == UTF8PROC_CATEGORY_MN) {
        if (cls == 0)
            e->run = e->chars;
        return;
    }
    if (e->chars < LV_WORD_MAX_CHARS) {
        int64_t i = e->chars;
        for (; cls != 0 && i > e->run && combining_class(e->word[i - 1]) > cls; i--)
            e->word[i] = e->word[i - 1];
        e->word[i] = c;
    }
    e->chars++;
    if (cls == 0)
        e->run = e->chars;
}

/* Whether the first character after p in the same whitespace token that is not case-ignorable
 * is cased: the right half of Python's final-sigma test. */
static int cased_after(const unsigned char *p)
{
    while (*p) {
        const uint32_t c = utf8_next(&p);
        if (c == LV_REPLACEMENT_CHAR || is_control(c))
            continue;                                   /* gone before lower() sees the token */
        if (is_whitespace(c) || is_cjk(c))
            return 0;
        if (!is_case_ignorable(c))
            return is_cased(c);
    }
    return 0;
}

/* A character of a token: lower-cased as Python's str.lower() does, then decomposed (NFD). */
static void put_char(encoder *e, uint32_t c, const unsigned char *next)
{
    uint32_t lower[2] = { (uint32_t)utf8proc_tolower((utf8proc_int32_t)c), 0 };
    int n = 1;
    if (c == 0x130) {                       /* İ: SpecialCasing's "i" + COMBINING DOT ABOVE */
        lower[0] = 'i';
        lower[1] = 0x307;
        n = 2;
    } else if (c == 0x3A3) {                /* Σ: final ς at the end of a cased word */
        lower[0] = e->cased_before && !cased_after(next) ? 0x3C2 : 0x3C3;
    }
    if (!is_case_ignorable(c))
        e->cased_before = is_cased(c);
    for (int k = 0; k < n; k++) {
        utf8proc_int32_t d[LV_DECOMPOSITION_MAX];
        int boundclass = 0;
        const utf8proc_ssize_t nd = utf8proc_decompose_char((utf8proc_int32_t)lower[k], d,
                                                            LV_DECOMPOSITION_MAX,
                                                            UTF8PROC_DECOMPOSE, &boundclass);
        LV_REQUIRE(nd >= 1 && nd <= LV_DECOMPOSITION_MAX);
        for (utf8proc_ssize_t i = 0; i < nd; i++)
            put_decomposed(e, (uint32_t)d[i]);
    }
}

/* The next code point c of the text, next pointing just after it. */
static void feed(encoder *e, uint32_t c, const unsigned char *next)
{
    if (c == LV_REPLACEMENT_CHAR || is_control(c))
        return;
    if (is_whitespace(c)) {
        token_end(e);
    } else if (is_cjk(c)) {
        token_end(e);
        put_char(e, c, next);
        token_end(e);
    } else {
        put_char(e, c, next);
    }
}

int64_t lv_tokenizer_encode(const lv_tokenizer *t, const char *text, int32_t *ids, uint8_t *valid,
                            int64_t T)
{
    LV_REQUIRE(t && text && ids && valid && T >= 2);
    encoder e = { .t = t, .ids = ids, .n = 1, .room = T - 1 };
    ids[0] = t->cls;
    for (const unsigned char *p = (const unsigned char *)text; *p && e.n < e.room;) {
        const uint32_t c = utf8_next(&p);
        feed(&e, c, p);
    }
    flush(&e);
    ids[e.n++] = t->sep;
    for (int64_t i = 0; i < T; i++) {
        valid[i] = i < e.n;
        if (i >= e.n)
            ids[i] = t->pad;
    }
    return e.n;
}

int lv_tokenizer_words(const char *text, lv_word_fn fn, void *ctx)
{
    LV_REQUIRE(text && fn);
    encoder e = { .fn = fn, .ctx = ctx };
    for (const unsigned char *p = (const unsigned char *)text; *p && e.rc == 0;) {
        const uint32_t c = utf8_next(&p);
        feed(&e, c, p);
    }
    flush(&e);
    return e.rc;
}

/* ---- building a vocabulary ------------------------------------------------------------------- */

/* A string -> count table (open addressing, keys copied). */
typedef struct {
    char **key;
    int64_t *val;
    int64_t cap, n;
} str_table;

static int64_t table_slot(const str_table *h, const char *s)
{
    int64_t i = (int64_t)(fnv1a(LV_FNV_OFFSET, s, (int64_t)strlen(s)) & (uint64_t)(h->cap - 1));
    while (h->key[i] && strcmp(h->key[i], s))
        i = (i + 1) & (h->cap - 1);
    return i;
}

static int table_grow(str_table *h)
{
    str_table g = { .cap = h->cap ? 2 * h->cap : 1024, .n = h->n };
    g.key = lv_calloc((size_t)g.cap, sizeof *g.key, "the word table");
    g.val = lv_calloc((size_t)g.cap, sizeof *g.val, "the word table");
    if (!g.key || !g.val) {
        free(g.key);
        free(g.val);
        return -1;
    }
    for (int64_t i = 0; i < h->cap; i++)
        if (h->key[i]) {
            const int64_t j = table_slot(&g, h->key[i]);
            g.key[j] = h->key[i];
            g.val[j] = h->val[i];
        }
    free(h->key);
    free(h->val);
    *h = g;
    return 0;
}

/* Adds delta to s's count (a new key starts at 0); the slot, or -1 when out of memory. */
static int64_t table_add(str_table *h, const char *s, int64_t delta)
{
    if (2 * (h->n + 1) > h->cap && table_grow(h) < 0)
        return -1;
    int64_t i = table_slot(h, s);
    if (!h->key[i]) {
        const size_t n = strlen(s);
        h->key[i] = lv_malloc(n + 1, "a word");
        if (!h->key[i])
            return -1;
        memcpy(h->key[i], s, n + 1);
        h->n++;
    }
    h->val[i] += delta;
    return i;
}

static void table_free(str_table *h)
{
    for (int64_t i = 0; i < h->cap; i++)
        free(h->key[i]);
    free(h->key);
    free(h->val);
    *h = (str_table){ 0 };
}

static int count_word(void *ctx, const char *word, int64_t bytes)
{
    return table_add(ctx, word, 1) < 0 ? -1 : 0;
}

typedef struct {
    const char *word;
    int64_t count;
} word_count;

static int by_count_then_bytes(const void *a, const void *b)
{
    const word_count *x = a, *y = b;
    return x->count != y->count ? (x->count > y->count ? -1 : 1) : strcmp(x->word, y->word);
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The single-character pieces that spell word: its first character as itself, every later one
 * as "##" + it. Calls add(h, piece, delta) for each. */
static int spell(str_table *h, const char *word, int64_t delta)
{
    char piece[8];
    for (const char *p = word; *p;) {
        const char *q = p + 1;
        while ((*q & 0xC0) == 0x80)          /* the continuation bytes of one UTF-8 character */
            q++;
        const int64_t k = p == word ? 0 : 2;
        memcpy(piece, "##", 2);
        memcpy(piece + k, p, (size_t)(q - p));
        piece[k + (q - p)] = '\0';
        if (table_add(h, piece, delta) < 0)
            return -1;
        p = q;
    }
    return 0;
}

static int out_append(char **out, int64_t *len, int64_t *cap, const char *token)
{
    const int64_t n = (int64_t)strlen(token);
    if (*len + n + 2 > *cap) {
        const int64_t c = 2 * (*cap + n + 2);
        char *g = realloc(*out, (size_t)c);
        if (!g)
            return lv_set_error("out of memory writing the vocabulary (%lld bytes)", (long long)c);
        *out = g;
        *cap = c;
    }
    memcpy(*out + *len, token, (size_t)n);
    *len += n;
    (*out)[(*len)++] = '\n';
    (*out)[*len] = '\0';
    return 0;
}

static const char *const specials[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
#define N_SPECIALS 5

char *lv_vocab_build(const char *const *texts, int64_t n, int64_t size, int64_t *tokens)
{
    str_table words = { 0 }, entries = { 0 };
    word_count *wc = NULL;
    char **pieces = NULL, *out = NULL;
    int64_t n_words = 0, n_pieces = 0, len = 0, cap = 0, k = 0, fewest = 0;
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++)
        rc = lv_tokenizer_words(texts[i], count_word, &words);
    if (rc == 0 && words.n == 0)
        rc = lv_set_error("the captions hold no words: nothing to build a vocabulary from");
    if (rc == 0)
        rc = (wc = lv_malloc((size_t)words.n * sizeof *wc, "the word list")) ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < words.cap; i++)
        if (words.key[i])
            wc[n_words++] = (word_count){ words.key[i], words.val[i] };
    if (rc == 0)
        qsort(wc, (size_t)n_words, sizeof *wc, by_count_then_bytes);
    /* entries counts how many reasons each token has to be listed: being one of the first k
     * whole words, or spelling one of the others. Lowering k from n_words one word at a time
     * keeps it exact; the largest k whose distinct entries fit wins (more whole words, fewer
     * pieces per caption). */
    for (int64_t i = 0; rc == 0 && i < n_words; i++)
        rc = table_add(&entries, wc[i].word, 1) < 0 ? -1 : 0;
    k = n_words;
    int64_t distinct = entries.n;
    fewest = N_SPECIALS + distinct;
    while (rc == 0 && size > 0 && N_SPECIALS + distinct > size && k > 0) {
        k--;
        const int64_t slot = table_add(&entries, wc[k].word, -1);
        distinct -= entries.val[slot] == 0;
        /* count the pieces that become needed: an entry going 0 -> 1 */
        str_table once = { 0 };
        rc = spell(&once, wc[k].word, 1);
        for (int64_t i = 0; rc == 0 && i < once.cap; i++)
            if (once.key[i]) {
                const int64_t s = table_add(&entries, once.key[i], 1);
                rc = s < 0 ? -1 : 0;
                distinct += rc == 0 && entries.val[s] == 1;
            }
        table_free(&once);
        if (N_SPECIALS + distinct < fewest)
            fewest = N_SPECIALS + distinct;
    }
    if (rc == 0 && size > 0 && N_SPECIALS + distinct > size)
        rc = lv_set_error("--size %lld is too small for these captions: the 5 special tokens and "
                          "the characters that spell every word need at least %lld; pass --size "
                          "%lld or more", (long long)size, (long long)fewest, (long long)fewest);
    /* the pieces: entries that are not among the first k whole words */
    if (rc == 0)
        rc = (pieces = lv_malloc((size_t)(entries.n ? entries.n : 1) * sizeof *pieces,
                                 "the word pieces")) ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < k; i++)
        rc = table_add(&entries, wc[i].word, -((int64_t)1 << 40)) < 0 ? -1 : 0;   /* words */
    for (int64_t i = 0; rc == 0 && i < entries.cap; i++)
        if (entries.key[i] && entries.val[i] > 0)
            pieces[n_pieces++] = entries.key[i];
    if (rc == 0)
        qsort(pieces, (size_t)n_pieces, sizeof *pieces, by_bytes);
    for (int s = 0; rc == 0 && s < N_SPECIALS; s++)
        rc = out_append(&out, &len, &cap, specials[s]);
    for (int64_t i = 0; rc == 0 && i < k; i++)
        rc = out_append(&out, &len, &cap, wc[i].word);
    for (int pass = 0; pass < 2; pass++)           /* first characters, then "##" pieces */
        for (int64_t i = 0; rc == 0 && i < n_pieces; i++)
            if ((strncmp(pieces[i], "##", 2) == 0) == pass)
                rc = out_append(&out, &len, &cap, pieces[i]);
    if (rc == 0 && tokens)
        *tokens = N_SPECIALS + k + n_pieces;
    free(wc);
    free(pieces);
    table_free(&words);
    table_free(&entries);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}
