/* GPT-2's byte-level BPE (see bpe.h): vocab.json through cJSON, merges.txt line by line, two
 * open-addressing hash tables (token -> id, id pair -> merge rank), GPT-2's pre-tokenisation
 * pattern as a small hand-written matcher over utf8proc's categories (no regex library), and
 * encoder.py's merge loop on a linked list of symbols with a heap of candidate pairs. */
#include "bpe.h"
#include "error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define LV_BYTE_CHAR_END 0x144         /* bytes_to_unicode's characters are all below U+0144 */
#define LV_FNV_OFFSET 0xcbf29ce484222325ull
#define LV_FNV_PRIME 0x100000001b3ull
#define LV_SHOW_LINE 60                /* bytes of a bad merges.txt line quoted in a message */

struct lv_bpe {
    int64_t V;
    char *tokens;           /* every token as vocab.json writes it, each NUL-terminated */
    int64_t *token_at;      /* (V) where id's token starts in tokens */
    char *bytes;            /* every token's bytes (its byte characters decoded), concatenated */
    int64_t *bytes_at;      /* (V + 1) where id's bytes start; bytes_at[V] is their total */
    int32_t *token_slot;    /* ids by hash of their token, -1 = empty; a power of two >= 2V */
    int64_t token_mask;
    int32_t byte_id[256];   /* the id of each byte's one-character token */
    int64_t M;              /* merges; a merge's rank is its index */
    int32_t *merge_left;    /* (M) the merge's first token */
    int32_t *merge_right;   /* (M) its second token */
    int32_t *merge_result;  /* (M) the token the two make */
    int32_t *merge_slot;    /* ranks by hash of (left, right), -1 = empty; a power of two >= 2M */
    int64_t merge_mask;
    int32_t eot;            /* <|endoftext|>, -1 when absent */
    char *vocab_text;       /* vocab.json as read, NUL-terminated: what a model file embeds */
    char *merges_text;      /* merges.txt as read, likewise */
};

/* ---- GPT-2's byte characters ----------------------------------------------------------------- */

/* bytes_to_unicode(): every byte as a printable character, so that a token is a string. The
 * bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68 (controls, space,
 * 0x7F..0xA0, 0xAD), in byte order, become U+0100, U+0101, ... U+0143. char_of[b] is byte b's
 * character, byte_of[c] the byte of character c (-1 for none). */
static void byte_chars(uint32_t char_of[256], int16_t byte_of[LV_BYTE_CHAR_END])
{
    uint32_t next = 0x100;
    for (uint32_t c = 0; c < LV_BYTE_CHAR_END; c++)
        byte_of[c] = -1;
    for (int b = 0; b < 256; b++) {
        const int itself = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        char_of[b] = itself ? (uint32_t)b : next++;
        byte_of[char_of[b]] = (int16_t)b;
    }
}

/* ---- files ----------------------------------------------------------------------------------- */

/* A whole file, malloc'd and NUL-terminated; what names it in messages ("the GPT-2 vocabulary"),
 * hint says which file to pass. */
static char *read_file(const char *path, const char *what, const char *hint, int64_t *size)
{
    struct stat st;
    const int missing = stat(path, &st);
    if (missing || !S_ISREG(st.st_mode)) {
        lv_set_error("cannot read %s %s: %s: pass %s", what, path,
                     missing ? strerror(errno) : "not a regular file", hint);
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        lv_set_error("cannot open %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *text = lv_malloc((size_t)st.st_size + 1, what);
    if (text && fread(text, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
        lv_set_error("cannot read %s %s: read error: check the file", what, path);
        free(text);
        text = NULL;
    }
    fclose(fp);
    if (text)
        text[st.st_size] = '\0';
    *size = (int64_t)st.st_size;
    return text;
}

/* ---- the vocabulary -------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * LV_FNV_PRIME;
    return h;
}

/* The slot holding the token a + b (b may be empty), or the empty slot where it would go. */
static int64_t token_slot(const lv_bpe *t, const char *a, int64_t na, const char *b, int64_t nb)
{
    int64_t i = (int64_t)(fnv1a(fnv1a(LV_FNV_OFFSET, a, na), b, nb) & (uint64_t)t->token_mask);
    for (; t->token_slot[i] >= 0; i = (i + 1) & t->token_mask) {
        const char *s = t->tokens + t->token_at[t->token_slot[i]];
        if (!strncmp(s, a, (size_t)na) && !strncmp(s + na, b, (size_t)nb) && s[na + nb] == '\0')
            break;
    }
    return i;
}

static int32_t token_find(const lv_bpe *t, const char *a, int64_t na, const char *b, int64_t nb)
{
    return t->token_slot[token_slot(t, a, na, b, nb)];
}

/* The tokens and ids of the parsed object into t->tokens / t->token_at, each id once. */
static int vocab_take(lv_bpe *t, const cJSON *root, const char *path)
{
    int64_t chars = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        chars += (int64_t)strlen(e->string) + 1;
    t->tokens = lv_malloc((size_t)chars, "the GPT-2 tokens");
    t->token_at = lv_malloc((size_t)t->V * sizeof *t->token_at, "the GPT-2 token table");
    if (!t->tokens || !t->token_at)
        return -1;
    for (int64_t id = 0; id < t->V; id++)
        t->token_at[id] = -1;
    int64_t at = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        const double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v >= 0 && v < (double)t->V && v == (double)(int64_t)v)) {
            char id[32] = "an id that is not a number";
            if (cJSON_IsNumber(e))
                snprintf(id, sizeof id, "the id %.17g", e->valuedouble);
            return lv_set_error("%s: the token '%s' has %s, but ids must be the integers 0..%lld, "
                                "each once (the file lists %lld tokens): the file is not a GPT-2 "
                                "vocab.json, or is damaged; download it again", path, e->string,
                                id, (long long)t->V - 1, (long long)t->V);
        }
        const int64_t id = (int64_t)v;
        if (t->token_at[id] >= 0)
            return lv_set_error("%s: the tokens '%s' and '%s' both have the id %lld: each id "
                                "must be given once; the file is damaged, download it again",
                                path, t->tokens + t->token_at[id], e->string, (long long)id);
        t->token_at[id] = at;
        memcpy(t->tokens + at, e->string, strlen(e->string) + 1);
        at += (int64_t)strlen(e->string) + 1;
    }
    return 0;
}

static int vocab_index(lv_bpe *t, const char *path)
{
    int64_t slots = 16;
    while (slots < 2 * t->V)
        slots *= 2;
    t->token_slot = lv_malloc((size_t)slots * sizeof *t->token_slot, "the GPT-2 token hash");
    if (!t->token_slot)
        return -1;
    memset(t->token_slot, 0xff, (size_t)slots * sizeof *t->token_slot);
    t->token_mask = slots - 1;
    for (int32_t id = 0; id < t->V; id++) {
        const char *s = t->tokens + t->token_at[id];
        const int64_t i = token_slot(t, s, (int64_t)strlen(s), "", 0);
        if (t->token_slot[i] >= 0)
            return lv_set_error("%s: the token '%s' is listed twice (ids %d and %d): each token "
                                "must appear once; the file is damaged, download it again", path,
                                s, t->token_slot[i], id);
        t->token_slot[i] = id;
    }
    return 0;
}

/* Each token's bytes: its characters must all be byte characters (a byte-level vocabulary), and
 * each of the 256 bytes must have its one-character token. */
static int vocab_bytes(lv_bpe *t, const char *path)
{
    uint32_t char_of[256];
    int16_t byte_of[LV_BYTE_CHAR_END];
    byte_chars(char_of, byte_of);
    int64_t chars = 0;          /* a byte character is 1 or 2 bytes of UTF-8: bytes <= chars */
    for (int64_t id = 0; id < t->V; id++)
        chars += (int64_t)strlen(t->tokens + t->token_at[id]);
    t->bytes = lv_malloc((size_t)chars + 1, "the GPT-2 token bytes");
    t->bytes_at = lv_malloc((size_t)(t->V + 1) * sizeof *t->bytes_at, "the GPT-2 token bytes");
    if (!t->bytes || !t->bytes_at)
        return -1;
    int64_t n = 0;
    for (int64_t id = 0; id < t->V; id++) {
        const char *s = t->tokens + t->token_at[id];
        t->bytes_at[id] = n;
        for (const char *p = s; *p;) {
            utf8proc_int32_t c;
            const utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p, -1, &c);
            if (k < 1 || c >= LV_BYTE_CHAR_END || byte_of[c] < 0) {
                char what[32] = "invalid UTF-8";
                if (k >= 1)
                    snprintf(what, sizeof what, "U+%04X", (unsigned)c);
                return lv_set_error("%s: the token '%s' (id %lld) holds %s, which is not one of "
                                    "GPT-2's 256 byte characters: not a byte-level BPE vocabulary "
                                    "(GPT-2's vocab.json or OpenAI's encoder.json)", path, s,
                                    (long long)id, what);
            }
            t->bytes[n++] = (char)byte_of[c];
            p += k;
        }
    }
    t->bytes_at[t->V] = n;
    for (int b = 0; b < 256; b++) {
        char one[8];
        one[utf8proc_encode_char((utf8proc_int32_t)char_of[b], (utf8proc_uint8_t *)one)] = '\0';
        t->byte_id[b] = token_find(t, one, (int64_t)strlen(one), "", 0);
        if (t->byte_id[b] < 0)
            return lv_set_error("%s: no token is the byte 0x%02X (written '%s'): a byte-level "
                                "BPE vocabulary holds all 256 byte characters; the file is not "
                                "GPT-2's or is damaged, download it again", path, b, one);
    }
    return 0;
}

static int vocab_parse(lv_bpe *t, const char *text, int64_t size, const char *path)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)size + 1, &end, 1);
    if (!root) {
        int64_t line = 1, col = 1;
        for (const char *p = text; end && p < end; p++, col++)
            if (*p == '\n') {
                line++;
                col = 0;
            }
        int64_t last = size;
        while (last > 0 && strchr(" \t\r\n", text[last - 1]))
            last--;
        return lv_set_error("%s:%lld:%lld: not valid JSON%s: expected a GPT-2 vocab.json (one "
                            "object, token -> id); download it again", path, (long long)line,
                            (long long)col, last > 0 && text[last - 1] != '}' ? " (it does not "
                            "end with '}': cut short?)" : "");
    }
    int rc = 0;
    if (!cJSON_IsObject(root) || !root->child)
        rc = lv_set_error("%s: %s: a GPT-2 vocab.json is one JSON object, token -> id", path,
                          cJSON_IsObject(root) ? "the object is empty" : "not a JSON object");
    else
        t->V = cJSON_GetArraySize(root);    /* an int: the ids fit in int32 */
    if (rc == 0)
        rc = vocab_take(t, root, path);
    cJSON_Delete(root);
    if (rc == 0)
        rc = vocab_index(t, path);
    if (rc == 0)
        rc = vocab_bytes(t, path);
    return rc;
}

/* ---- the merges ------------------------------------------------------------------------------ */

/* The slot holding the merge (left, right), or the empty slot where it would go. */
static int64_t merge_slot(const lv_bpe *t, int32_t left, int32_t right)
{
    const uint64_t h = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) * 0x9E3779B97F4A7C15ull;
    int64_t i = (int64_t)((h ^ h >> 29) & (uint64_t)t->merge_mask);
    for (; t->merge_slot[i] >= 0; i = (i + 1) & t->merge_mask) {
        const int32_t r = t->merge_slot[i];
        if (t->merge_left[r] == left && t->merge_right[r] == right)
            break;
    }
    return i;
}

/* The rank of the merge (left, right), -1 when there is none. */
static int32_t merge_rank(const lv_bpe *t, int32_t left, int32_t right)
{
    return t->merge_slot[merge_slot(t, left, right)];
}

/* Line `line` of merges.txt, s (n bytes, NUL-terminated, line end removed), as the next merge.
 * line_of (M) remembers each merge's line for the message about a merge listed twice. */
static int merge_add(lv_bpe *t, const char *s, int64_t n, int64_t line, int64_t *line_of,
                     const char *path, const char *vocab_path)
{
    const char *space = memchr(s, ' ', (size_t)n);
    if (!space || space == s || space == s + n - 1 || strchr(space + 1, ' '))
        return lv_set_error("%s:%lld: '%.*s' is not a merge: after an optional '#version' first "
                            "line, each line is two tokens and one space ('\xC4\xA0 t'); the "
                            "file is damaged or cut short, download it again", path,
                            (long long)line, LV_SHOW_LINE, s);
    const int64_t na = space - s, nb = n - na - 1;
    const int32_t left = token_find(t, s, na, "", 0);
    const int32_t right = token_find(t, space + 1, nb, "", 0);
    const int32_t result = token_find(t, s, na, space + 1, nb);
    if (left < 0 || right < 0 || result < 0)
        return lv_set_error("%s:%lld: the merge '%s' needs the token '%.*s%.*s', which %s lacks: "
                            "the two files are not from the same tokenizer; pass the vocab.json "
                            "and merges.txt of one model", path, (long long)line, s,
                            (int)(left < 0 ? na : right < 0 ? 0 : na), s,
                            (int)(left < 0 ? 0 : nb), space + 1, vocab_path);
    const int64_t i = merge_slot(t, left, right);
    if (t->merge_slot[i] >= 0)
        return lv_set_error("%s:%lld: the merge '%s' is already on line %lld: each merge is "
                            "listed once (its rank is its place); the file is damaged, download "
                            "it again", path, (long long)line, s,
                            (long long)line_of[t->merge_slot[i]]);
    t->merge_left[t->M] = left;
    t->merge_right[t->M] = right;
    t->merge_result[t->M] = result;
    line_of[t->M] = line;
    t->merge_slot[i] = (int32_t)t->M++;
    return 0;
}

static int merges_alloc(lv_bpe *t, int64_t lines, const char *path)
{
    if (lines > INT32_MAX)
        return lv_set_error("%s has %lld lines: ranks are int32, at most %d merges", path,
                            (long long)lines, INT32_MAX);
    int64_t slots = 16;
    while (slots < 2 * lines)
        slots *= 2;
    t->merge_left = lv_malloc((size_t)lines * sizeof(int32_t), "the GPT-2 merges");
    t->merge_right = lv_malloc((size_t)lines * sizeof(int32_t), "the GPT-2 merges");
    t->merge_result = lv_malloc((size_t)lines * sizeof(int32_t), "the GPT-2 merges");
    t->merge_slot = lv_malloc((size_t)slots * sizeof(int32_t), "the GPT-2 merge hash");
    if (!t->merge_left || !t->merge_right || !t->merge_result || !t->merge_slot)
        return -1;
    memset(t->merge_slot, 0xff, (size_t)slots * sizeof(int32_t));
    t->merge_mask = slots - 1;
    return 0;
}

/* The lines of merges.txt (cut in place): "#version..." first is skipped, and so are blank
 * lines; "\r\n" ends are accepted. */
static int merges_parse(lv_bpe *t, char *text, int64_t size, const char *path,
                        const char *vocab_path)
{
    int64_t lines = 1;
    for (int64_t i = 0; i < size; i++) {
        if (text[i] == '\0')
            return lv_set_error("%s:%lld: a NUL byte: merges.txt is UTF-8 text, one merge a line; "
                                "the file is damaged, download it again", path,
                                (long long)lines);
        lines += text[i] == '\n';
    }
    int64_t *line_of = lv_malloc((size_t)lines * sizeof *line_of, "the GPT-2 merge lines");
    int rc = line_of ? merges_alloc(t, lines, path) : -1;
    char *s = text;
    for (int64_t line = 1; rc == 0 && line <= lines; line++) {
        char *nl = memchr(s, '\n', (size_t)(text + size - s));
        int64_t n = (nl ? nl : text + size) - s;
        while (n > 0 && s[n - 1] == '\r')
            n--;
        s[n] = '\0';
        if (n > 0 && !(line == 1 && !strncmp(s, "#version", 8)))
            rc = merge_add(t, s, n, line, line_of, path, vocab_path);
        s = nl ? nl + 1 : text + size;
    }
    free(line_of);
    if (rc == 0 && t->M == 0)
        rc = lv_set_error("%s holds no merges: expected GPT-2's merges.txt (OpenAI: vocab.bpe), "
                          "one merge 'a b' a line", path);
    return rc;
}

/* Every token is a byte, made by a merge, or a special token written <...>; any other one
 * would never be produced: merges.txt lacks the merges that make it (cut short at a line end,
 * or another tokenizer's). */
static int check_reachable(const lv_bpe *t, const char *vocab_path, const char *merges_path)
{
    uint8_t *made = lv_calloc((size_t)t->V, 1, "the GPT-2 token check");
    if (!made)
        return -1;
    for (int b = 0; b < 256; b++)
        made[t->byte_id[b]] = 1;
    for (int64_t r = 0; r < t->M; r++)
        made[t->merge_result[r]] = 1;
    int rc = 0;
    for (int64_t id = 0; id < t->V && rc == 0; id++) {
        const char *s = t->tokens + t->token_at[id];
        const size_t n = strlen(s);
        if (!made[id] && !(n >= 2 && s[0] == '<' && s[n - 1] == '>'))
            rc = lv_set_error("%s: the token '%s' (id %lld) is not a byte, no merge of %s makes "
                              "it (%lld merges), and it is not a special token written <...>: "
                              "%s is cut short or from another tokenizer; download both files "
                              "of one model again", vocab_path, s, (long long)id, merges_path,
                              (long long)t->M, merges_path);
    }
    free(made);
    return rc;
}

/* ---- loading --------------------------------------------------------------------------------- */

/* The tokenizer from the two files' texts (NUL-terminated, size bytes each, taken over: freed
 * here on failure); the names stand for the files in messages. */
static lv_bpe *bpe_build(char *vocab, int64_t vocab_size, const char *vocab_name, char *merges,
                         int64_t merges_size, const char *merges_name)
{
    lv_bpe *t = lv_calloc(1, sizeof *t, "the GPT-2 tokenizer");
    char *cut = lv_malloc((size_t)merges_size + 1, "the GPT-2 merges");  /* parsed in place */
    int rc = t && cut ? vocab_parse(t, vocab, vocab_size, vocab_name) : -1;
    if (rc == 0) {
        memcpy(cut, merges, (size_t)merges_size + 1);
        rc = merges_parse(t, cut, merges_size, merges_name, vocab_name);
    }
    if (rc == 0)
        rc = check_reachable(t, vocab_name, merges_name);
    free(cut);
    if (t) {
        t->vocab_text = vocab;
        t->merges_text = merges;
    } else {
        free(vocab);
        free(merges);
    }
    if (rc != 0) {
        lv_bpe_free(t);
        return NULL;
    }
    t->eot = lv_bpe_id(t, "<|endoftext|>");
    return t;
}

lv_bpe *lv_bpe_load_files(const char *vocab_path, const char *merges_path)
{
    LV_REQUIRE(vocab_path && merges_path);
    int64_t vocab_size = 0, merges_size = 0;
    char *vocab = read_file(vocab_path, "the GPT-2 vocabulary", "the vocab.json (OpenAI: "
                            "encoder.json) of a GPT-2 tokenizer", &vocab_size);
    char *merges = vocab ? read_file(merges_path, "the GPT-2 merges", "the merges.txt (OpenAI: "
                                     "vocab.bpe) of the same tokenizer as the vocabulary",
                                     &merges_size) : NULL;
    if (!merges) {
        free(vocab);
        return NULL;
    }
    return bpe_build(vocab, vocab_size, vocab_path, merges, merges_size, merges_path);
}

lv_bpe *lv_bpe_from_text(const char *vocab_json, const char *merges_txt, const char *vocab_name,
                         const char *merges_name)
{
    LV_REQUIRE(vocab_json && merges_txt && vocab_name && merges_name);
    const size_t nv = strlen(vocab_json), nm = strlen(merges_txt);
    char *vocab = lv_malloc(nv + 1, "the GPT-2 vocabulary");
    char *merges = lv_malloc(nm + 1, "the GPT-2 merges");
    if (!vocab || !merges) {
        free(vocab);
        free(merges);
        return NULL;
    }
    memcpy(vocab, vocab_json, nv + 1);
    memcpy(merges, merges_txt, nm + 1);
    return bpe_build(vocab, (int64_t)nv, vocab_name, merges, (int64_t)nm, merges_name);
}

lv_bpe *lv_bpe_load(const char *dir)
{
    static const char *const names[2][2] = {
        { "vocab.json", "merges.txt" },         /* Hugging Face */
        { "encoder.json", "vocab.bpe" },        /* OpenAI */
    };
    LV_REQUIRE(dir);
    struct stat st;
    const int missing = stat(dir, &st);
    if (missing || !S_ISDIR(st.st_mode)) {
        lv_set_error("cannot open the GPT-2 tokenizer folder %s: %s: pass a folder holding "
                     "vocab.json and merges.txt (or OpenAI's encoder.json and vocab.bpe)", dir,
                     missing ? strerror(errno) : "not a folder");
        return NULL;
    }
    const size_t bytes = strlen(dir) + 16;
    char *vocab = lv_malloc(bytes, "a file name"), *merges = lv_malloc(bytes, "a file name");
    lv_bpe *t = NULL;
    int found = 0;
    for (int k = 0; k < 2 && vocab && merges && !found; k++) {
        snprintf(vocab, bytes, "%s/%s", dir, names[k][0]);
        snprintf(merges, bytes, "%s/%s", dir, names[k][1]);
        found = stat(vocab, &st) == 0;
        if (found)
            t = lv_bpe_load_files(vocab, merges);
    }
    if (vocab && merges && !found)
        lv_set_error("%s holds neither vocab.json + merges.txt (Hugging Face's names) nor "
                     "encoder.json + vocab.bpe (OpenAI's): pass the folder of a GPT-2 tokenizer",
                     dir);
    free(vocab);
    free(merges);
    return t;
}

void lv_bpe_free(lv_bpe *t)
{
    if (!t)
        return;
    free(t->tokens);
    free(t->token_at);
    free(t->bytes);
    free(t->bytes_at);
    free(t->token_slot);
    free(t->merge_left);
    free(t->merge_right);
    free(t->merge_result);
    free(t->merge_slot);
    free(t->vocab_text);
    free(t->merges_text);
    free(t);
}

int64_t lv_bpe_vocab_size(const lv_bpe *t)
{
    return t->V;
}

const char *lv_bpe_vocab_text(const lv_bpe *t)
{
    return t->vocab_text;
}

const char *lv_bpe_merges_text(const lv_bpe *t)
{
    return t->merges_text;
}

int32_t lv_bpe_eot(const lv_bpe *t)
{
    return t->eot;
}

int32_t lv_bpe_id(const lv_bpe *t, const char *token)
{
    return token_find(t, token, (int64_t)strlen(token), "", 0);
}

const char *lv_bpe_token(const lv_bpe *t, int32_t id)
{
    return id >= 0 && id < t->V ? t->tokens + t->token_at[id] : NULL;
}

/* ---- pre-tokens ------------------------------------------------------------------------------ */

/* The classes of GPT-2's pattern, as Python's regex module has them: \p{L}, \p{N}, \s (the
 * White_Space property: tab to carriage return, U+0085 and the Z categories) and the rest. */
typedef enum { CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE, CLASS_OTHER } char_class;

/* The class of the character at s (n > 0 bytes left) and, in *len, its bytes; a malformed
 * UTF-8 byte is a character of one byte of CLASS_OTHER (Python would see U+FFFD, a symbol). */
static char_class class_at(const unsigned char *s, int64_t n, int64_t *len)
{
    utf8proc_int32_t c;
    const utf8proc_ssize_t k = utf8proc_iterate(s, n, &c);
    *len = k > 0 ? k : 1;
    if (k < 1)
        return CLASS_OTHER;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CLASS_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CLASS_NUMBER;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CLASS_SPACE;
    default:
        return (c >= '\t' && c <= '\r') || c == 0x85 ? CLASS_SPACE : CLASS_OTHER;
    }
}

/* The end of the run of class k characters that starts at i. */
static int64_t run_end(const unsigned char *s, int64_t n, int64_t i, char_class k)
{
    int64_t len;
    while (i < n && class_at(s + i, n - i, &len) == k)
        i += len;
    return i;
}

/* The bytes of the contraction 's 't 're 've 'm 'll 'd at s (lower-case only), 0 for none. */
static int64_t contraction(const unsigned char *s, int64_t n)
{
    static const char *const forms[] = { "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" };
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        const int64_t len = (int64_t)strlen(forms[k]);
        if (len <= n && !memcmp(s, forms[k], (size_t)len))
            return len;
    }
    return 0;
}

/* Where the pre-token starting at i ends: the first alternative of GPT-2's pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * that matches at i (one always does: every character is in one of the four classes). */
static int64_t pretoken_end(const unsigned char *s, int64_t n, int64_t i)
{
    const int64_t k = contraction(s + i, n - i);
    if (k > 0)
        return i + k;
    int64_t len;
    if (s[i] == ' ' && i + 1 < n) {         /* " ?" then a run of letters, numbers or others */
        const char_class next = class_at(s + i + 1, n - i - 1, &len);
        if (next != CLASS_SPACE)
            return run_end(s, n, i + 1, next);
    }
    const char_class c = class_at(s + i, n - i, &len);
    if (c != CLASS_SPACE)
        return run_end(s, n, i, c);
    /* \s+(?!\S): the whole run when the text ends with it; else the run less its last
     * character (which stays to lead the next pre-token) when that leaves one; else \s+ */
    int64_t last = i, end = i;
    while (end < n && class_at(s + end, n - end, &len) == CLASS_SPACE) {
        last = end;
        end += len;
    }
    return end == n || last == i ? end : last;
}

/* ---- BPE ------------------------------------------------------------------------------------- */

/* encoder.py's bpe() on one pre-token: while some adjacent pair of symbols is a merge, take the
 * lowest-ranked such pair and merge it wherever it occurs, left to right (in "a a a" with the
 * merge "a a": "aa a"), then look again. Done in O(m log m) rather than encoder.py's O(m^2):
 * the symbols are a linked list, and a heap holds a candidate (rank, left symbol) for every
 * adjacent pair that is a merge, stale ones included (checked when popped). One pass pops every
 * candidate of the lowest rank, in position order, and only then pushes the pairs the merges
 * made: so a pair made during a pass waits for the next one even if its rank is lower, as in
 * encoder.py. */
typedef struct {
    uint64_t *heap;         /* (3m) candidates rank << 32 | left symbol: m - 1 at first, then
                             * at most 2 per merge, and there are at most m - 1 merges; the
                             * one allocation, the arrays below follow it */
    int32_t *id;            /* (m) the symbol's token; -1 once merged into its left neighbour */
    int32_t *next, *prev;   /* (m) the neighbours among live symbols, -1 at the ends */
    int32_t *made;          /* (m) the symbols merged in this pass */
    int64_t heap_n;
    int64_t cap;            /* m the buffers hold */
} bpe_work;

static int work_reserve(bpe_work *w, int64_t m)
{
    if (m <= w->cap)
        return 0;
    if (m > INT32_MAX / 3)
        return lv_set_error("lv_bpe_encode: one pre-token of %lld bytes: at most %d", (long long)m,
                            INT32_MAX / 3);
    int64_t cap = w->cap ? w->cap : 64;
    while (cap < m)
        cap *= 2;
    free(w->heap);
    *w = (bpe_work){ 0 };
    w->heap = lv_malloc((size_t)cap * (3 * sizeof(uint64_t) + 4 * sizeof(int32_t)),
                        "the BPE work buffers");
    if (!w->heap)
        return -1;
    w->id = (int32_t *)(w->heap + 3 * cap);
    w->next = w->id + cap;
    w->prev = w->next + cap;
    w->made = w->prev + cap;
    w->cap = cap;
    return 0;
}

static void heap_push(bpe_work *w, uint64_t key)
{
    int64_t i = w->heap_n++;
    for (; i > 0 && w->heap[(i - 1) / 2] > key; i = (i - 1) / 2)
        w->heap[i] = w->heap[(i - 1) / 2];
    w->heap[i] = key;
}

static uint64_t heap_pop(bpe_work *w)
{
    const uint64_t top = w->heap[0], key = w->heap[--w->heap_n];
    int64_t i = 0;
    for (int64_t c; (c = 2 * i + 1) < w->heap_n; i = c) {
        if (c + 1 < w->heap_n && w->heap[c + 1] < w->heap[c])
            c++;
        if (key <= w->heap[c])
            break;
        w->heap[i] = w->heap[c];
    }
    w->heap[i] = key;
    return top;
}

/* The pair that symbol p starts, as a candidate when it is a merge. */
static void push_pair(const lv_bpe *t, bpe_work *w, int32_t p)
{
    const int32_t q = w->next[p];
    const int32_t rank = q >= 0 ? merge_rank(t, w->id[p], w->id[q]) : -1;
    if (rank >= 0)
        heap_push(w, (uint64_t)rank << 32 | (uint32_t)p);
}

/* One pass: every candidate of the lowest rank still valid (its symbols are still the merge's
 * two tokens, side by side) is merged, left to right; then the new pairs become candidates. */
static void bpe_pass(const lv_bpe *t, bpe_work *w)
{
    const uint64_t rank = w->heap[0] >> 32;
    const int32_t left = t->merge_left[rank], right = t->merge_right[rank];
    int64_t made = 0;
    while (w->heap_n > 0 && w->heap[0] >> 32 == rank) {
        const int32_t p = (int32_t)(heap_pop(w) & 0xffffffffu), q = w->next[p];
        if (w->id[p] != left || q < 0 || w->id[q] != right)
            continue;                       /* stale: p or q took part in another merge */
        w->id[p] = t->merge_result[rank];
        w->id[q] = -1;
        w->next[p] = w->next[q];
        if (w->next[q] >= 0)
            w->prev[w->next[q]] = p;
        w->made[made++] = p;
    }
    for (int64_t k = 0; k < made; k++) {
        const int32_t p = w->made[k];
        if (w->prev[p] >= 0)
            push_pair(t, w, w->prev[p]);
        push_pair(t, w, p);
    }
}

/* The ids of one pre-token s (m bytes) written at ids[count..] (those below cap); returns the
 * new count. */
static int64_t bpe_word(const lv_bpe *t, bpe_work *w, const unsigned char *s, int64_t m,
                        int32_t *ids, int64_t cap, int64_t count)
{
    for (int32_t i = 0; i < m; i++) {
        w->id[i] = t->byte_id[s[i]];
        w->prev[i] = i - 1;
        w->next[i] = i + 1 < m ? i + 1 : -1;
    }
    w->heap_n = 0;
    for (int32_t i = 0; i + 1 < m; i++)
        push_pair(t, w, i);
    while (w->heap_n > 0)
        bpe_pass(t, w);
    for (int32_t p = 0; p >= 0; p = w->next[p], count++)    /* symbol 0 is never merged away */
        if (count < cap)
            ids[count] = w->id[p];
    return count;
}

/* ---- encode and decode ----------------------------------------------------------------------- */

int64_t lv_bpe_encode(const lv_bpe *t, const char *text, int32_t *ids, int64_t cap)
{
    LV_REQUIRE(t && text && cap >= 0 && (ids || cap == 0));
    const unsigned char *s = (const unsigned char *)text;
    const int64_t n = (int64_t)strlen(text);
    bpe_work w = { 0 };
    int64_t count = 0;
    for (int64_t i = 0, end; i < n; i = end) {
        end = pretoken_end(s, n, i);
        if (work_reserve(&w, end - i)) {
            count = -1;
            break;
        }
        count = bpe_word(t, &w, s + i, end - i, ids, cap, count);
    }
    free(w.heap);
    return count;
}

int64_t lv_bpe_decode(const lv_bpe *t, const int32_t *ids, int64_t n, char *out, int64_t cap)
{
    LV_REQUIRE(t && n >= 0 && (ids || n == 0) && cap >= 0 && (out || cap == 0));
    int64_t len = 0;
    if (cap > 0)
        out[0] = '\0';
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->V)
            return lv_set_error("lv_bpe_decode: id %d (position %lld) is outside the vocabulary "
                                "(ids 0..%lld): these ids are not from this tokenizer", ids[i],
                                (long long)i, (long long)t->V - 1);
        const int64_t at = t->bytes_at[ids[i]], k = t->bytes_at[ids[i] + 1] - at;
        if (len < cap - 1)
            memcpy(out + len, t->bytes + at, (size_t)(k < cap - 1 - len ? k : cap - 1 - len));
        len += k;
    }
    if (cap > 0)
        out[len < cap - 1 ? len : cap - 1] = '\0';
    return len;
}
