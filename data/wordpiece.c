/* WordPiece tokenizer (see wordpiece.h): an open-addressing hash table over the vocab, a UTF-8
 * decoder that never reads past the terminating NUL, and small Unicode tables for the scripts it
 * covers instead of a dependency on ICU or a whole Unicode database. */
#include "wordpiece.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LV_WORD_MAX_CHARS 100          /* BERT's max_input_chars_per_word */
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

typedef struct {
    uint32_t lo, hi;
} cp_range;

static int in_ranges(uint32_t c, const cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return 1;
    return 0;
}

#define LV_IN(c, table) in_ranges(c, table, sizeof table / sizeof table[0])

/* Dropped: Cc other than tab/newline/return, the Cf format characters, private use (Co). */
static int is_control(uint32_t c)
{
    static const cp_range format_or_private[] = {
        { 0xAD, 0xAD }, { 0x600, 0x605 }, { 0x61C, 0x61C }, { 0x6DD, 0x6DD }, { 0x70F, 0x70F },
        { 0x180E, 0x180E }, { 0x200B, 0x200F }, { 0x202A, 0x202E }, { 0x2060, 0x2064 },
        { 0x2066, 0x206F }, { 0xE000, 0xF8FF }, { 0xFEFF, 0xFEFF }, { 0xFFF9, 0xFFFB },
        { 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F }, { 0xF0000, 0x10FFFF },
    };
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || LV_IN(c, format_or_private);
}

/* Space, tab, newline, return and the Zs space separators. */
static int is_whitespace(uint32_t c)
{
    static const cp_range zs[] = {
        { 0xA0, 0xA0 }, { 0x1680, 0x1680 }, { 0x2000, 0x200A }, { 0x202F, 0x202F },
        { 0x205F, 0x205F }, { 0x3000, 0x3000 },
    };
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || (c >= 0xA0 && LV_IN(c, zs));
}

/* BERT's "Chinese characters": the CJK Unified Ideographs blocks and their extensions. */
static int is_cjk(uint32_t c)
{
    static const cp_range cjk[] = {
        { 0x3400, 0x4DBF }, { 0x4E00, 0x9FFF }, { 0xF900, 0xFAFF }, { 0x20000, 0x2A6DF },
        { 0x2A700, 0x2B73F }, { 0x2B740, 0x2B81F }, { 0x2B820, 0x2CEAF }, { 0x2F800, 0x2FA1F },
    };
    return c >= 0x3400 && LV_IN(c, cjk);
}

/* Every ASCII symbol (BERT counts $ + < = > ^ ` | ~ as punctuation too), and Unicode P* in
 * Latin-1, Greek, General Punctuation, CJK Symbols and Punctuation, and the fullwidth forms. */
static int is_punct(uint32_t c)
{
    static const cp_range p[] = {
        { 0xA1, 0xA1 }, { 0xA7, 0xA7 }, { 0xAB, 0xAB }, { 0xB6, 0xB7 }, { 0xBB, 0xBB },
        { 0xBF, 0xBF }, { 0x37E, 0x37E }, { 0x387, 0x387 }, { 0x2010, 0x2027 },
        { 0x2030, 0x2043 }, { 0x2045, 0x2051 }, { 0x2053, 0x205E }, { 0x3001, 0x3003 },
        { 0x3008, 0x3011 }, { 0x3014, 0x301F }, { 0x3030, 0x3030 }, { 0x303D, 0x303D },
        { 0x30FB, 0x30FB }, { 0xFF01, 0xFF03 }, { 0xFF05, 0xFF0A }, { 0xFF0C, 0xFF0F },
        { 0xFF1A, 0xFF1B }, { 0xFF1F, 0xFF20 }, { 0xFF3B, 0xFF3D }, { 0xFF3F, 0xFF3F },
        { 0xFF5B, 0xFF5B }, { 0xFF5D, 0xFF5D }, { 0xFF5F, 0xFF65 },
    };
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    return LV_IN(c, p);
}

/* ---- lower case and accents ------------------------------------------------------------------ */

/* Python's str.lower() on Latin-1, Latin Extended-A, basic Greek and Cyrillic (Greek final
 * sigma is not special-cased: a word-final capital sigma becomes σ, not ς). */
static uint32_t to_lower(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 0x20;
    if (c == 0x130)
        return 'i';             /* Python gives "i\u0307", whose mark is stripped next anyway */
    if (c == 0x178)
        return 0xFF;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 0)
        return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1)
        return c + 1;
    if ((c >= 0x391 && c <= 0x3AB && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (c == 0x386)
        return 0x3AC;
    if (c >= 0x388 && c <= 0x38A)
        return c + 0x25;
    if (c == 0x38C)
        return 0x3CC;
    if (c == 0x38E || c == 0x38F)
        return c + 0x3F;
    return c;
}

static int is_combining_mark(uint32_t c)
{
    return (c >= 0x300 && c <= 0x36F) || (c >= 0x1DC0 && c <= 0x1DFF) ||
           (c >= 0xFE20 && c <= 0xFE2F);
}

/* NFD then drop the marks, for lower-case input: the base letter, c itself when it has no
 * canonical decomposition, 0 for a combining mark (dropped). */
static uint32_t strip_accent(uint32_t c)
{
    /* U+00C0..U+017F, 16 per row; '.' = no canonical decomposition */
    static const char latin[] =
        "AAAAAA.CEEEEIIII" ".NOOOOO..UUUUY.." "aaaaaa.ceeeeiiii" ".nooooo..uuuuy.y"
        "AaAaAaCcCcCcCcDd" "..EeEeEeEeEeGgGg" "GgGgHh..IiIiIiIi" "I...JjKk.LlLlLl."
        "...NnNnNn...OoOo" "Oo..RrRrRrSsSsSs" "SsTtTt..UuUuUuUu" "UuUuWwYyYZzZzZz.";
    static const uint32_t greek_cyrillic[][2] = {
        { 0x390, 0x3B9 }, { 0x3AC, 0x3B1 }, { 0x3AD, 0x3B5 }, { 0x3AE, 0x3B7 }, { 0x3AF, 0x3B9 },
        { 0x3B0, 0x3C5 }, { 0x3CA, 0x3B9 }, { 0x3CB, 0x3C5 }, { 0x3CC, 0x3BF }, { 0x3CD, 0x3C5 },
        { 0x3CE, 0x3C9 }, { 0x439, 0x438 }, { 0x450, 0x435 }, { 0x451, 0x435 }, { 0x453, 0x433 },
        { 0x457, 0x456 }, { 0x45C, 0x43A }, { 0x45D, 0x438 }, { 0x45E, 0x443 },
    };
    if (is_combining_mark(c))
        return 0;
    if (c >= 0xC0 && c <= 0x17F)
        return latin[c - 0xC0] == '.' ? c : (uint32_t)latin[c - 0xC0];
    for (size_t i = 0; i < sizeof greek_cyrillic / sizeof greek_cyrillic[0]; i++)
        if (greek_cyrillic[i][0] == c)
            return greek_cyrillic[i][1];
    return c;
}

/* ---- encoding -------------------------------------------------------------------------------- */

typedef struct {
    const lv_tokenizer *t;
    int32_t *ids;                           /* (T) */
    int64_t n;                              /* ids written, [CLS] included */
    int64_t room;                           /* T - 1: [SEP] goes at n once n reaches it */
    uint32_t word[LV_WORD_MAX_CHARS];
    int64_t chars;                          /* characters of the current word (may pass the max) */
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
}

static void single(encoder *e, uint32_t c)
{
    flush(e);
    e->word[0] = c;
    e->chars = 1;
    flush(e);
}

static void feed(encoder *e, uint32_t c)
{
    if (c == LV_REPLACEMENT_CHAR || is_control(c))
        return;
    if (is_whitespace(c)) {
        flush(e);
        return;
    }
    if (is_cjk(c)) {
        single(e, c);
        return;
    }
    c = strip_accent(to_lower(c));
    if (c == 0)
        return;
    if (is_punct(c)) {
        single(e, c);
        return;
    }
    if (e->chars < LV_WORD_MAX_CHARS)
        e->word[e->chars] = c;
    e->chars++;
}

int64_t lv_tokenizer_encode(const lv_tokenizer *t, const char *text, int32_t *ids, uint8_t *valid,
                            int64_t T)
{
    LV_REQUIRE(t && text && ids && valid && T >= 2);
    encoder e = { .t = t, .ids = ids, .n = 1, .room = T - 1 };
    ids[0] = t->cls;
    for (const unsigned char *p = (const unsigned char *)text; *p && e.n < e.room;)
        feed(&e, utf8_next(&p));
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
    for (const unsigned char *p = (const unsigned char *)text; *p && e.rc == 0;)
        feed(&e, utf8_next(&p));
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
