/* Check suite for data/wordpiece against an independent BERT tokenizer: tests/tokenizer/
 * bert_reference.py (Python's unicodedata, written from the algorithm of BERT's tokenization.py,
 * no transformers) tokenizes the tricky strings of tests/tokenizer/strings.txt and every code
 * point, and ours must give the same words and wordpieces for each. A deliberately wrong
 * reference (accents kept) must be caught. Needs /usr/bin/python3: skips without it. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#define PYTHON "/usr/bin/python3"
#define REFERENCE "tests/tokenizer/bert_reference.py"
#define STRINGS "tests/tokenizer/strings.txt"
#define SHOW_DIFFERENCES 5
#define T_MAX 1024                      /* no string of strings.txt comes near it */

static int have_python(void)
{
    return system(PYTHON " -c 'import unicodedata' >/dev/null 2>&1") == 0;
}

/* Runs the reference with args, echoing what it prints; it must exit 0. */
static void run_reference(const char *args)
{
    char cmd[3 * TEST_PATH_BYTES], line[512];
    ck_assert_msg(access(REFERENCE, R_OK) == 0 && access(STRINGS, R_OK) == 0,
                  "%s and %s not found: run the tests from the repository root", REFERENCE,
                  STRINGS);
    snprintf(cmd, sizeof cmd, PYTHON " %s %s", REFERENCE, args);
    FILE *py = popen(cmd, "r");
    ck_assert_ptr_nonnull(py);
    while (fgets(line, sizeof line, py))
        printf("  reference: %s", line);
    ck_assert_msg(pclose(py) == 0, "%s failed", cmd);
}

/* A growing string: the words or wordpieces of one text, space-separated. */
typedef struct {
    char *s;
    size_t n, cap;
} joined;

static void join(joined *j, const char *piece)
{
    const size_t k = strlen(piece);
    if (j->n + k + 2 > j->cap) {
        j->cap = 2 * (j->n + k + 2);
        j->s = realloc(j->s, j->cap);
        ck_assert_ptr_nonnull(j->s);
    }
    if (j->n)
        j->s[j->n++] = ' ';
    memcpy(j->s + j->n, piece, k + 1);
    j->n += k;
}

static int join_word(void *ctx, const char *word, int64_t bytes)
{
    join(ctx, word);
    return 0;
}

static size_t unhex(char *out, const char *hex, size_t n)
{
    size_t k = 0;
    for (; k < n / 2; k++) {
        unsigned byte;
        ck_assert_int_eq(sscanf(hex + 2 * k, "%2x", &byte), 1);
        out[k] = (char)byte;
    }
    out[k] = '\0';
    return k;
}

/* A code point that utf8proc does not know (Python's Unicode newer than ours): such a line is
 * a version difference, not one of the algorithm. */
static int unknown_to_utf8proc(const char *text)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    while (*p) {
        utf8proc_int32_t c;
        const utf8proc_ssize_t k = utf8proc_iterate(p, -1, &c);
        if (k > 0 && utf8proc_category(c) == UTF8PROC_CATEGORY_CN)
            return 1;
        p += k > 0 ? k : 1;
    }
    return 0;
}

typedef struct {
    int64_t lines, differ, unknown;
} tally;

/* Every line of path (HEX TAB words [TAB wordpieces]) against ours: lv_tokenizer_words, and when
 * the line has wordpieces lv_tokenizer_encode with t (without [CLS] and [SEP]). Prints the first
 * few differences. Lines holding a code point utf8proc does not know are counted apart when
 * skip_unknown is set. */
static tally compare_file(const char *path, const lv_tokenizer *t, int skip_unknown)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    tally r = { 0 };
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        line[len - 1] = '\0';
        char *want_words = strchr(line, '\t');
        ck_assert_ptr_nonnull(want_words);
        *want_words++ = '\0';
        char *want_pieces = strchr(want_words, '\t');
        if (want_pieces)
            *want_pieces++ = '\0';
        char *text = malloc(strlen(line) / 2 + 1);
        ck_assert_ptr_nonnull(text);
        unhex(text, line, strlen(line));
        if (skip_unknown && unknown_to_utf8proc(text)) {
            r.unknown++;
            free(text);
            continue;
        }
        joined words = { 0 }, pieces = { 0 };
        join(&words, "");
        join(&pieces, "");
        ck_assert_int_eq(lv_tokenizer_words(text, join_word, &words), 0);
        int ok = strcmp(words.s, want_words) == 0;
        if (want_pieces) {
            int32_t ids[T_MAX];
            uint8_t valid[T_MAX];
            const int64_t n = lv_tokenizer_encode(t, text, ids, valid, T_MAX);
            ck_assert_int_lt(n, T_MAX);
            for (int64_t i = 1; i < n - 1; i++)
                join(&pieces, lv_tokenizer_token(t, ids[i]));
            ok = ok && strcmp(pieces.s, want_pieces) == 0;
        }
        if (!ok && r.differ++ < SHOW_DIFFERENCES)
            printf("  differs: %s\n    words  BERT: %s\n           ours: %s\n"
                   "    pieces BERT: %s\n           ours: %s\n", line, want_words, words.s,
                   want_pieces ? want_pieces : "-", want_pieces ? pieces.s : "-");
        r.lines++;
        free(words.s);
        free(pieces.s);
        free(text);
    }
    free(line);
    fclose(f);
    return r;
}

/* The tricky strings in the reference's cases format, written to dir by the reference. */
static tally compare_cases(const char *dir, const char *broken)
{
    char args[2 * TEST_PATH_BYTES], path[TEST_PATH_BYTES + 16];
    snprintf(args, sizeof args, "cases %s '%s'%s", STRINGS, dir, broken);
    run_reference(args);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    lv_tokenizer *t = lv_tokenizer_load(path);
    ck_assert_msg(t != NULL, "%s", lv_error());
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    const tally r = compare_file(path, t, 0);
    lv_tokenizer_free(t);
    return r;
}

/* Every string of strings.txt: the same words and the same wordpieces as BERT's, over a vocab
 * the reference built from its own words (whole words, pieces, and no "q": [UNK]s too). */
START_TEST(test_tricky_strings_match_bert)
{
    if (!have_python()) {
        test_skip("tokenizer vs BERT: no " PYTHON " (apt-get install python3, or bash "
                  "tools/install-deps.sh)");
        return;
    }
    const tally r = compare_cases(test_dir, "");
    printf("  %lld of %lld strings equal to BERT's words and wordpieces (ours: utf8proc %s, "
           "Unicode %s)\n", (long long)(r.lines - r.differ), (long long)r.lines,
           utf8proc_version(), utf8proc_unicode_version());
    fflush(stdout);                     /* a failed assertion ends the forked test at once */
    ck_assert_int_ge(r.lines, 40);
    ck_assert_int_eq(r.differ, 0);
}
END_TEST

/* The test of the test: a reference that keeps accents must differ from ours, at least on the
 * strings with accents (French, Vietnamese, Greek tonos, Hebrew niqqud, Devanagari...). */
START_TEST(test_broken_reference_is_caught)
{
    if (!have_python()) {
        test_skip("tokenizer vs a broken BERT: no " PYTHON " (apt-get install python3, or bash "
                  "tools/install-deps.sh)");
        return;
    }
    const tally r = compare_cases(test_dir, " --broken accents");
    printf("  a reference that keeps accents differs on %lld of %lld strings\n",
           (long long)r.differ, (long long)r.lines);
    ck_assert_int_ge(r.differ, 10);
}
END_TEST

/* Every code point of Python's Unicode alone, between "a" and a capital sigma, and before one:
 * the categories (control, whitespace, punctuation, Mn), CJK, lower case, NFD and the final-
 * sigma context (Case_Ignorable, Cased) for all of Unicode, as words. Code points that only
 * the newer of the two Unicode versions assigns are counted apart. */
START_TEST(test_every_code_point_matches_bert)
{
    if (!have_python()) {
        test_skip("tokenizer vs BERT on every code point: no " PYTHON " (apt-get install "
                  "python3, or bash tools/install-deps.sh)");
        return;
    }
    char path[TEST_PATH_BYTES], args[TEST_PATH_BYTES + 32];
    tmp_path(path, "codepoints.txt");
    snprintf(args, sizeof args, "codepoints '%s'", path);
    run_reference(args);
    const tally r = compare_file(path, NULL, 1);
    printf("  %lld of %lld one-character strings equal to BERT's words (%lld left out: code "
           "points utf8proc %s does not know)\n", (long long)(r.lines - r.differ),
           (long long)r.lines, (long long)r.unknown, utf8proc_version());
    fflush(stdout);
    ck_assert_int_gt(r.lines, 400000);
    ck_assert_int_eq(r.differ, 0);
}
END_TEST

Suite *tokenizer_suite(void)
{
    const test_row rows[] = {
        { "bert", test_tricky_strings_match_bert, 1 },
        { "bert", test_broken_reference_is_caught, 1 },
        { "bert", test_every_code_point_matches_bert, 1 },
    };
    return suite_from_rows("tokenizer", rows, sizeof rows / sizeof rows[0], 120, 1);
}
