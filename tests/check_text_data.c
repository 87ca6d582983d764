/* Check suite for data/wordpiece and data/manifest: tokenisations worked out by hand for a
 * vocabulary the test writes, a seeded fuzz of malformed text, bad vocabularies, and every loader
 * on small files written in its format (each bad line asserting "file:LINE" in the message). */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "manifest.h"
#include "wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- files ----------------------------------------------------------------------------------- */

/* Writes text to name inside the test folder; path (TEST_PATH_BYTES) receives its full path. */
static void write_text(char *path, const char *name, const char *text)
{
    tmp_path(path, name);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), fp), strlen(text));
    ck_assert_int_eq(fclose(fp), 0);
}

static void make_dir(const char *name)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, name);
    ck_assert_int_eq(mkdir(path, 0700), 0);
}

static void expect_error(const char *needle, const char *needle2)
{
    printf("    error: %s\n", lv_error());
    ck_assert_msg(strstr(lv_error(), needle), "message lacks \"%s\": %s", needle, lv_error());
    ck_assert_msg(!needle2 || strstr(lv_error(), needle2), "message lacks \"%s\": %s", needle2,
                  lv_error());
}

/* ---- tokenizer: hand-worked tokenisations ---------------------------------------------------- */

static const char test_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n,\nworld\n!\nu\nun\n##a\n##aff\n##able\ncafe\ndeja\n"
    "skoda\nistanbul\necole\n中\n国\n«\n»\n$\n5\na\nthe\n##s\n";
static const int64_t test_vocab_size = 27;

static lv_tokenizer *load_test_vocab(void)
{
    char path[TEST_PATH_BYTES];
    write_text(path, "vocab.txt", test_vocab);
    lv_tokenizer *t = lv_tokenizer_load(path);
    ck_assert_msg(t != NULL, "%s", lv_error());
    return t;
}

/* text with bytes outside printable ASCII written as \xNN */
static void escape(char *out, size_t cap, const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 5 < cap; p++)
        n += (size_t)(*p >= 32 && *p < 127 ? snprintf(out + n, cap - n, "%c", *p)
                                           : snprintf(out + n, cap - n, "\\x%02x", *p));
    out[n] = '\0';
}

/* Encodes text to T ids: the non-pad tokens joined by spaces must read `want`, the rest [PAD]
 * with valid 0, and nothing written past T. */
static void expect_tokens(const lv_tokenizer *t, const char *text, int64_t T, const char *want)
{
    enum { CAP = 256 };
    int32_t ids[CAP + 1];
    uint8_t valid[CAP + 1];
    ck_assert_int_le(T, CAP);
    ids[T] = 12345;
    valid[T] = 77;
    const int64_t n = lv_tokenizer_encode(t, text, ids, valid, T);
    char got[4096] = "", shown[1024];
    for (int64_t i = 0; i < n; i++) {
        ck_assert_uint_lt(strlen(got) + 32, sizeof got);
        strcat(got, i ? " " : "");
        strcat(got, lv_tokenizer_token(t, ids[i]));
    }
    escape(shown, sizeof shown, text);
    printf("  \"%.60s%s\" (T=%lld) -> %.120s%s\n", shown, strlen(shown) > 60 ? "..." : "",
           (long long)T, got, strlen(got) > 120 ? "..." : "");
    ck_assert_str_eq(got, want);
    for (int64_t i = 0; i < T; i++) {
        ck_assert_int_eq(valid[i], i < n);
        if (i >= n)
            ck_assert_int_eq(ids[i], lv_tokenizer_id(t, "[PAD]"));
    }
    ck_assert_int_eq(ids[T], 12345);
    ck_assert_int_eq(valid[T], 77);
}

START_TEST(test_tokenize_basic)
{
    lv_tokenizer *t = load_test_vocab();
    expect_tokens(t, "Hello, world!", 16, "[CLS] hello , world ! [SEP]");
    expect_tokens(t, "unaffable", 16, "[CLS] un ##aff ##able [SEP]");
    expect_tokens(t, "$5 the as", 16, "[CLS] $ 5 the a ##s [SEP]");
    expect_tokens(t, "«hello»", 16, "[CLS] « hello » [SEP]");
    expect_tokens(t, "", 8, "[CLS] [SEP]");
    expect_tokens(t, " \t\n\r ", 8, "[CLS] [SEP]");
    lv_tokenizer_free(t);
}
END_TEST

START_TEST(test_tokenize_accents_and_case)
{
    lv_tokenizer *t = load_test_vocab();
    expect_tokens(t, "Café Déjà", 16, "[CLS] cafe deja [SEP]");
    expect_tokens(t, "ÉCOLE Škoda İSTANBUL", 16, "[CLS] ecole skoda istanbul [SEP]");
    expect_tokens(t, "cafe\xcc\x81 \xcc\x81" "deja", 16, "[CLS] cafe deja [SEP]");
    lv_tokenizer_free(t);
}
END_TEST

START_TEST(test_tokenize_unknown_and_cjk)
{
    lv_tokenizer *t = load_test_vocab();
    expect_tokens(t, "xyz hello", 16, "[CLS] [UNK] hello [SEP]");
    expect_tokens(t, "unx", 16, "[CLS] [UNK] [SEP]");      /* "un" matches, "##x" does not */
    expect_tokens(t, "中国人", 16, "[CLS] 中 国 [UNK] [SEP]");
    expect_tokens(t, "hello中国world", 16, "[CLS] hello 中 国 world [SEP]");
    lv_tokenizer_free(t);
}
END_TEST

/* Controls and format characters vanish (joining their neighbours, as in BERT), Unicode spaces
 * separate, and malformed UTF-8 is dropped byte by byte, even when cut by the end of the text. */
START_TEST(test_tokenize_cleaning_and_bad_utf8)
{
    lv_tokenizer *t = load_test_vocab();
    expect_tokens(t, "hel\x01lo\tworld\xc2\xa0hello", 16, "[CLS] hello world hello [SEP]");
    expect_tokens(t, "hel\xe2\x80\x8blo", 16, "[CLS] hello [SEP]");
    expect_tokens(t, "hel\xfflo \xc0\xafworld\xed\xa0\x80 \xf4\x90\x80\x80!\xe4\xb8", 16,
                  "[CLS] hello world ! [SEP]");
    expect_tokens(t, "\xff\xfe\x80\xbf", 8, "[CLS] [SEP]");
    expect_tokens(t, "hello\xf0\x9f", 8, "[CLS] hello [SEP]");
    lv_tokenizer_free(t);
}
END_TEST

/* What the hand-written Unicode tables used to miss, worked by hand from BERT's rules (Python's
 * lower(), NFD, categories): final sigma, Latin Extended Additional accents, fullwidth letters
 * (NFD keeps them, only NFKC would not), U+2028 separating (Python's str.split()), the emoji
 * variation selector (Mn) dropped, a Devanagari nukta stripped (U+0958 is क + U+093C), the
 * Arabic comma (Po) split off, private use kept as a letter. tests/check_tokenizer.c compares
 * many more strings, and every code point, with a Python implementation of BERT's tokenizer. */
START_TEST(test_tokenize_bert_unicode)
{
    lv_tokenizer *t = lv_tokenizer_from_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nοδυσσευς\nσας\n.\n"
                                             "tieng\nviet\nａｂｃ\n！\na\nb\ni\n❤\nक\nx\n،\n"
                                             "y\nprivate\xee\x80\x80use\n", "unicode vocab");
    ck_assert_msg(t != NULL, "%s", lv_error());
    expect_tokens(t, "ΟΔΥΣΣΕΥΣ ΣΑΣ.", 16, "[CLS] οδυσσευς σας . [SEP]");
    expect_tokens(t, "Tiếng Việt", 16, "[CLS] tieng viet [SEP]");
    expect_tokens(t, "ＡＢＣ！", 16, "[CLS] ａｂｃ ！ [SEP]");
    expect_tokens(t, "a\xe2\x80\xa8" "b", 16, "[CLS] a b [SEP]");
    expect_tokens(t, "I \xe2\x9d\xa4\xef\xb8\x8f", 16, "[CLS] i ❤ [SEP]");
    expect_tokens(t, "\xe0\xa5\x98", 16, "[CLS] क [SEP]");
    expect_tokens(t, "x،y", 16, "[CLS] x ، y [SEP]");
    expect_tokens(t, "Private\xee\x80\x80use", 16, "[CLS] private\xee\x80\x80use [SEP]");
    lv_tokenizer_free(t);
}
END_TEST

static char *repeat(char c, int n)
{
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, (size_t)n);
    s[n] = '\0';
    return s;
}

/* BERT's limit: a word of 100 characters is split, one of 101 or 150 becomes [UNK]. */
START_TEST(test_tokenize_long_word)
{
    lv_tokenizer *t = load_test_vocab();
    char want[1024] = "[CLS] a";
    for (int i = 1; i < 100; i++)
        strcat(want, " ##a");
    strcat(want, " [SEP]");
    char *w100 = repeat('a', 100), *w101 = repeat('a', 101), *w150 = repeat('a', 150);
    expect_tokens(t, w100, 128, want);
    expect_tokens(t, w101, 16, "[CLS] [UNK] [SEP]");
    expect_tokens(t, w150, 16, "[CLS] [UNK] [SEP]");
    free(w100);
    free(w101);
    free(w150);
    lv_tokenizer_free(t);
}
END_TEST

START_TEST(test_tokenize_truncate_and_pad)
{
    lv_tokenizer *t = load_test_vocab();
    expect_tokens(t, "hello , world ! hello", 5, "[CLS] hello , world [SEP]");
    expect_tokens(t, "unaffable world", 4, "[CLS] un ##aff [SEP]");
    expect_tokens(t, "hello world", 2, "[CLS] [SEP]");
    expect_tokens(t, "hello", 8, "[CLS] hello [SEP]");
    int32_t ids[8];
    uint8_t valid[8];
    ck_assert_int_eq(lv_tokenizer_encode(t, "hello", ids, valid, 8), 3);
    const int32_t want[8] = { 2, 4, 3, 0, 0, 0, 0, 0 };
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(ids[i], want[i]);
        ck_assert_int_eq(valid[i], i < 3);
    }
    printf("  ids 2 4 3 0 0 0 0 0, valid 1 1 1 0 0 0 0 0: as the vocab's line numbers say\n");
    lv_tokenizer_free(t);
}
END_TEST

START_TEST(test_vocab_lookup)
{
    lv_tokenizer *t = load_test_vocab();
    ck_assert_int_eq(lv_tokenizer_vocab_size(t), test_vocab_size);
    ck_assert_int_eq(lv_tokenizer_id(t, "hello"), 4);
    ck_assert_int_eq(lv_tokenizer_id(t, "##aff"), 11);
    ck_assert_int_eq(lv_tokenizer_id(t, "国"), 19);
    ck_assert_int_eq(lv_tokenizer_id(t, "aff"), -1);
    ck_assert_int_eq(lv_tokenizer_id(t, ""), -1);
    ck_assert_str_eq(lv_tokenizer_token(t, 26), "##s");
    ck_assert_ptr_null(lv_tokenizer_token(t, -1));
    ck_assert_ptr_null(lv_tokenizer_token(t, (int32_t)test_vocab_size));
    lv_tokenizer_free(t);

    /* "\r\n" line ends, an empty line that keeps its id, no final newline */
    char path[TEST_PATH_BYTES];
    write_text(path, "crlf.txt", "[PAD]\r\n\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello");
    t = lv_tokenizer_load(path);
    ck_assert_msg(t != NULL, "%s", lv_error());
    ck_assert_int_eq(lv_tokenizer_vocab_size(t), 6);
    ck_assert_int_eq(lv_tokenizer_id(t, "[UNK]"), 2);
    ck_assert_int_eq(lv_tokenizer_id(t, "hello"), 5);
    ck_assert_str_eq(lv_tokenizer_token(t, 1), "");
    expect_tokens(t, "Hello there", 8, "[CLS] hello [UNK] [SEP]");
    lv_tokenizer_free(t);
    printf("  27-token vocab: ids = line - 1; CRLF vocab with an empty line: 6 ids, [UNK] = 2\n");
}
END_TEST

static void expect_vocab_fails(const char *name, const char *text, const char *needle,
                               const char *needle2)
{
    char path[TEST_PATH_BYTES];
    if (text)
        write_text(path, name, text);
    else
        tmp_path(path, name);
    printf("  vocab %s:\n", name);
    ck_assert_ptr_null(lv_tokenizer_load(path));
    ck_assert_msg(strstr(lv_error(), path), "message lacks the path: %s", lv_error());
    expect_error(needle, needle2);
}

START_TEST(test_vocab_errors)
{
    expect_vocab_fails("missing.txt", NULL, "No such file", NULL);
    expect_vocab_fails("empty.txt", "", "is empty", NULL);
    expect_vocab_fails("nosep.txt", "[PAD]\n[UNK]\n[CLS]\nhello\n", "no [SEP] token", NULL);
    expect_vocab_fails("nounk.txt", "[PAD]\n[CLS]\n[SEP]\n", "no [UNK] token", NULL);
    expect_vocab_fails("dup.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nx\ny\nz\nhello\n",
                       "line 5 and line 9", "'hello'");
    make_dir("folder.txt");
    expect_vocab_fails("folder.txt", NULL, "not a regular file", NULL);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "nul.txt");
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite("[PAD]\n[UNK]\nab\0c\n", 1, 17, fp), 17);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_ptr_null(lv_tokenizer_load(path));
    expect_error(path, ":3: a NUL byte");
}
END_TEST

/* ---- tokenizer: seeded fuzz ------------------------------------------------------------------ */

/* Random text from pieces that stress each branch: ASCII, accents, CJK, combining marks,
 * controls, malformed and truncated UTF-8, long runs. */
static void random_text(lv_rng *r, char *out, size_t cap)
{
    static const char *const pieces[] = {
        "hello", " ", "world", ",", "un", "aff", "able", "Café", "中", "国", "\xcc\x81", "\x01",
        "\xff", "\xc3", "\xe4\xb8", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc2\xa0", "a", "\t",
        "«", "$", "xyz", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "\xe2\x80\x8b",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    size_t n = 0;
    const uint64_t count = lv_rng_below(r, 60);
    for (uint64_t k = 0; k < count; k++) {
        const char *p = pieces[lv_rng_below(r, np)];
        if (n + strlen(p) + 1 >= cap)
            break;
        memcpy(out + n, p, strlen(p));
        n += strlen(p);
    }
    out[n] = '\0';
}

/* Every encoding: [CLS] first, [SEP] last, no special token between, ids inside the vocab, the
 * mask and the pads consistent, and truncation to T a prefix of the encoding to 256. */
static void check_encoding(const lv_tokenizer *t, const char *text, int64_t T)
{
    int32_t ids[257], full[256];
    uint8_t valid[257], full_valid[256];
    ids[T] = -7;
    const int64_t n = lv_tokenizer_encode(t, text, ids, valid, T);
    const int64_t nf = lv_tokenizer_encode(t, text, full, full_valid, 256);
    ck_assert(n >= 2 && n <= T && n <= nf);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[n - 1], 3);
    for (int64_t i = 1; i < n - 1; i++) {
        ck_assert(ids[i] == 1 || ids[i] > 3);
        ck_assert_int_lt(ids[i], test_vocab_size);
        ck_assert_int_eq(ids[i], full[i]);
    }
    for (int64_t i = 0; i < T; i++)
        ck_assert(valid[i] == (i < n) && (i < n || ids[i] == 0));
    ck_assert_int_eq(ids[T], -7);
}

START_TEST(test_tokenize_fuzz)
{
    lv_rng r = test_rng(1000);
    lv_tokenizer *t = load_test_vocab();
    int64_t tokens = 0, truncated = 0;
    for (int it = 0; it < 500; it++) {
        char text[2048];
        random_text(&r, text, sizeof text);
        const int64_t T = 2 + (int64_t)lv_rng_below(&r, 40);
        check_encoding(t, text, T);
        int32_t ids[256];
        uint8_t valid[256];
        const int64_t n = lv_tokenizer_encode(t, text, ids, valid, 256);
        tokens += n;
        truncated += n > T;
    }
    printf("  500 seeded random texts (%lld tokens, %lld truncated): [CLS]/[SEP], ids, mask, "
           "pads and truncation-as-prefix hold\n", (long long)tokens, (long long)truncated);
    ck_assert_int_gt(truncated, 50);
    lv_tokenizer_free(t);
}
END_TEST

/* ---- JSON Lines manifests -------------------------------------------------------------------- */

/* a.mp4, clips/b.mp4, pic.png (empty files: nothing here decodes them) */
static void make_media(void)
{
    char path[TEST_PATH_BYTES];
    make_dir("clips");
    write_text(path, "a.mp4", "");
    write_text(path, "clips/b.mp4", "");
    write_text(path, "pic.png", "");
}

static void expect_clip(const lv_clip_entry *e, const char *video, const char *caption,
                        double start, double end, int is_image, const char *id)
{
    char path[TEST_PATH_BYTES];
    if (video[0] == '/')
        snprintf(path, sizeof path, "%s", video);
    else
        tmp_path(path, video);
    printf("    %s%s \"%s\" [%g, %g]%s%s\n", e->is_image ? "image " : "", e->video, e->caption,
           e->start, e->end, e->id ? " id " : "", e->id ? e->id : "");
    ck_assert_str_eq(e->video, path);
    ck_assert_str_eq(e->caption, caption);
    ck_assert(e->start == start && e->end == end);
    ck_assert_int_eq(e->is_image, is_image);
    if (id)
        ck_assert_str_eq(e->id, id);
    else
        ck_assert_ptr_null(e->id);
}

START_TEST(test_manifest_valid)
{
    make_media();
    char path[TEST_PATH_BYTES], abs[TEST_PATH_BYTES], text[2048];
    tmp_path(abs, "a.mp4");
    snprintf(text, sizeof text,
             "{\"video\": \"a.mp4\", \"caption\": \"a red square appears\", \"start\": 1.5, "
             "\"end\": 4}\n\n"
             "{\"video\": \"clips/b.mp4\", \"caption\": \"then a blue circle\", \"id\": \"b\", "
             "\"summary\": \"next a blue circle.\"}\n"
             "{\"image\": \"pic.png\", \"caption\": \"a picture\"}\r\n"
             "   \t\n"
             "{\"video\": \"%s\", \"caption\": \"absolute, whole\", \"start\": 2, \"end\": 0}",
             abs);
    write_text(path, "train.jsonl", text);
    lv_clip_list l;
    ck_assert_msg(lv_manifest_load(&l, path, 1) == 0, "%s", lv_error());
    printf("  %s: %lld entries\n", path, (long long)l.n);
    ck_assert_int_eq(l.n, 4);
    expect_clip(&l.e[0], "a.mp4", "a red square appears", 1.5, 4, 0, NULL);
    expect_clip(&l.e[1], "clips/b.mp4", "then a blue circle", 0, 0, 0, "b");
    expect_clip(&l.e[2], "pic.png", "a picture", 0, 0, 1, NULL);
    expect_clip(&l.e[3], abs, "absolute, whole", 2, 0, 0, NULL);
    /* the optional summary (the video-to-text stage's target): NULL where a line has none */
    printf("    summaries: %s, \"%s\"\n", l.e[0].summary ? l.e[0].summary : "(none)",
           l.e[1].summary);
    ck_assert_ptr_null(l.e[0].summary);
    ck_assert_str_eq(l.e[1].summary, "next a blue circle.");
    lv_clip_list_free(&l);
    ck_assert(l.n == 0 && l.e == NULL);

    /* a manifest in a sub-folder resolves against its own folder */
    write_text(path, "clips/m.jsonl", "{\"video\": \"b.mp4\", \"caption\": \"c\"}\n");
    ck_assert_msg(lv_manifest_load(&l, path, 1) == 0, "%s", lv_error());
    ck_assert_int_eq(l.n, 1);
    expect_clip(&l.e[0], "clips/b.mp4", "c", 0, 0, 0, NULL);
    lv_clip_list_free(&l);

    /* without check_files a missing video is only resolved */
    write_text(path, "later.jsonl", "{\"video\": \"later.mp4\", \"caption\": \"c\"}\n");
    ck_assert_msg(lv_manifest_load(&l, path, 0) == 0, "%s", lv_error());
    expect_clip(&l.e[0], "later.mp4", "c", 0, 0, 0, NULL);
    lv_clip_list_free(&l);
}
END_TEST

typedef struct {
    const char *what, *line, *needle;
} bad_line;

static const bad_line bad_clip_lines[] = {
    { "not JSON", "{\"video\": \"a.mp4\", \"caption\": \"x\"", "not JSON" },
    { "trailing text", "{\"video\": \"a.mp4\", \"caption\": \"x\"} and more", "not JSON" },
    { "not an object", "[\"a.mp4\", \"x\"]", "not an object" },
    { "missing caption", "{\"video\": \"a.mp4\"}", "\"caption\" is missing" },
    { "caption a number", "{\"video\": \"a.mp4\", \"caption\": 3}", "\"caption\" is not a string" },
    { "summary a list", "{\"video\": \"a.mp4\", \"caption\": \"x\", \"summary\": [\"y\"]}",
      "\"summary\" is not a string" },
    { "no video", "{\"caption\": \"x\"}", "no \"video\" or \"image\"" },
    { "video and image", "{\"video\": \"a.mp4\", \"image\": \"pic.png\", \"caption\": \"x\"}",
      "both \"video\" and \"image\"" },
    { "empty video", "{\"video\": \"\", \"caption\": \"x\"}", "\"video\" is empty" },
    { "missing video file", "{\"video\": \"nope.mp4\", \"caption\": \"x\"}",
      "nope.mp4: No such file or directory" },
    { "video is a folder", "{\"video\": \"clips\", \"caption\": \"x\"}", "not a regular file" },
    { "start > end", "{\"video\": \"a.mp4\", \"caption\": \"x\", \"start\": 5, \"end\": 2}",
      "need 0 <= start < end" },
    { "negative start", "{\"video\": \"a.mp4\", \"caption\": \"x\", \"start\": -1}",
      "need 0 <= start < end" },
    { "start a string", "{\"video\": \"a.mp4\", \"caption\": \"x\", \"start\": \"1\"}",
      "\"start\" must be a number of seconds" },
};

/* A good line, a blank line, then the bad one: -1, "manifest:3" and the reason, nothing left. */
START_TEST(test_manifest_bad_line)
{
    const bad_line *b = &bad_clip_lines[_i];
    make_media();
    char path[TEST_PATH_BYTES], text[1024], where[TEST_PATH_BYTES + 8];
    snprintf(text, sizeof text, "{\"video\": \"a.mp4\", \"caption\": \"fine\"}\n\n%s\n", b->line);
    write_text(path, "bad.jsonl", text);
    snprintf(where, sizeof where, "%s:3", path);
    lv_clip_list l;
    printf("  bad manifest line (%s):\n", b->what);
    ck_assert_int_eq(lv_manifest_load(&l, path, 1), -1);
    ck_assert(l.n == 0 && l.e == NULL);
    expect_error(where, b->needle);
}
END_TEST

START_TEST(test_manifest_missing)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "absent.jsonl");
    lv_clip_list l;
    printf("  missing manifest:\n");
    ck_assert_int_eq(lv_manifest_load(&l, path, 0), -1);
    ck_assert(l.n == 0 && l.e == NULL);
    expect_error(path, "No such file");
}
END_TEST

/* ---- MSR-VTT, YouCook2 ----------------------------------------------------------------------- */

static const char msrvtt_json[] =
    "{\"info\": {\"year\": 2016}, \"videos\": [\n"
    " {\"category\": 9, \"url\": \"u\", \"video_id\": \"video0\", \"start time\": 137.72,"
    " \"end time\": 149.44, \"split\": \"train\", \"id\": 0},\n"
    " {\"category\": 1, \"video_id\": \"video7010\", \"split\": \"test\", \"id\": 7010},\n"
    " {\"category\": 2, \"video_id\": \"video7011\", \"split\": \"test\", \"id\": 7011},\n"
    " {\"category\": 3, \"video_id\": \"video6513\", \"split\": \"validate\", \"id\": 6513}],\n"
    " \"sentences\": [\n"
    " {\"caption\": \"a man is talking\", \"video_id\": \"video7011\", \"sen_id\": 0},\n"
    " {\"caption\": \"a car drives\", \"video_id\": \"video7010\", \"sen_id\": 1},\n"
    " {\"caption\": \"a cartoon\", \"video_id\": \"video0\", \"sen_id\": 2},\n"
    " {\"caption\": \"a man speaks\", \"video_id\": \"video7011\", \"sen_id\": 3},\n"
    " {\"caption\": \"a vehicle on a road\", \"video_id\": \"video7010\", \"sen_id\": 4}]}\n";

static void expect_named_clip(const lv_clip_entry *e, const char *video, const char *caption,
                              double start, double end, const char *id)
{
    printf("    %s \"%s\" [%g, %g] id %s\n", e->video, e->caption, e->start, e->end, e->id);
    ck_assert_str_eq(e->video, video);
    ck_assert_str_eq(e->caption, caption);
    ck_assert(e->start == start && e->end == end && !e->is_image);
    ck_assert_str_eq(e->id, id);
}

START_TEST(test_msrvtt)
{
    char path[TEST_PATH_BYTES];
    write_text(path, "test_videodatainfo.json", msrvtt_json);
    lv_clip_list l;
    ck_assert_msg(!lv_msrvtt_load(&l, path, "/data/msrvtt/", "test", 1), "%s", lv_error());
    printf("  MSR-VTT test, first caption: %lld entries\n", (long long)l.n);
    ck_assert_int_eq(l.n, 2);
    expect_named_clip(&l.e[0], "/data/msrvtt/video7010.mp4", "a car drives", 0, 0, "video7010");
    expect_named_clip(&l.e[1], "/data/msrvtt/video7011.mp4", "a man is talking", 0, 0,
                      "video7011");
    lv_clip_list_free(&l);

    ck_assert_msg(!lv_msrvtt_load(&l, path, "videos", "test", 0), "%s", lv_error());
    printf("  MSR-VTT test, every caption: %lld entries\n", (long long)l.n);
    ck_assert_int_eq(l.n, 4);
    expect_named_clip(&l.e[0], "videos/video7010.mp4", "a car drives", 0, 0, "video7010");
    expect_named_clip(&l.e[1], "videos/video7010.mp4", "a vehicle on a road", 0, 0, "video7010");
    expect_named_clip(&l.e[2], "videos/video7011.mp4", "a man is talking", 0, 0, "video7011");
    expect_named_clip(&l.e[3], "videos/video7011.mp4", "a man speaks", 0, 0, "video7011");
    lv_clip_list_free(&l);

    ck_assert_msg(!lv_msrvtt_load(&l, path, "v", "train", 0), "%s", lv_error());
    ck_assert_int_eq(l.n, 1);
    expect_named_clip(&l.e[0], "v/video0.mp4", "a cartoon", 0, 0, "video0");
    lv_clip_list_free(&l);
}
END_TEST

START_TEST(test_msrvtt_errors)
{
    char path[TEST_PATH_BYTES];
    lv_clip_list l;
    write_text(path, "msrvtt.json", msrvtt_json);
    printf("  MSR-VTT split without sentences, unknown split:\n");
    ck_assert_int_eq(lv_msrvtt_load(&l, path, "v", "validate", 1), -1);
    expect_error(path, "none of the 1 videos of split 'validate' has a sentence");
    ck_assert_int_eq(lv_msrvtt_load(&l, path, "v", "val", 1), -1);
    expect_error(path, "no video has \"split\": \"val\"");
    ck_assert(l.n == 0 && l.e == NULL);

    printf("  MSR-VTT malformed files:\n");
    write_text(path, "nocaption.json", "{\"videos\": [{\"video_id\": \"v1\", \"split\": \"test\"}],"
               " \"sentences\": [{\"video_id\": \"v1\", \"caption\": \"c\"},"
               " {\"video_id\": \"v1\"}]}");
    ck_assert_int_eq(lv_msrvtt_load(&l, path, "v", "test", 0), -1);
    expect_error(path, "sentences[1] lacks");
    write_text(path, "twice.json", "{\"videos\": [{\"video_id\": \"v1\", \"split\": \"test\"},"
               " {\"video_id\": \"v1\", \"split\": \"test\"}], \"sentences\": []}");
    ck_assert_int_eq(lv_msrvtt_load(&l, path, "v", "test", 0), -1);
    expect_error(path, "video_id 'v1' is listed twice");
    write_text(path, "broken.json", "{\"videos\": [\n  {\"video_id\": v1}]}");
    ck_assert_int_eq(lv_msrvtt_load(&l, path, "v", "test", 0), -1);
    expect_error(path, ":2:");
    write_text(path, "other.json", "{\"database\": {}}");
    ck_assert_int_eq(lv_msrvtt_load(&l, path, "v", "test", 0), -1);
    expect_error(path, "no \"videos\" and \"sentences\" arrays");
    ck_assert(l.n == 0 && l.e == NULL);
}
END_TEST

static const char youcook2_json[] =
    "{\"database\": {\n"
    " \"GLd3aX16zBg\": {\"duration\": 241.62, \"subset\": \"validation\", \"recipe_type\": \"113\","
    " \"annotations\": [\n"
    "  {\"segment\": [90, 102], \"id\": 0, \"sentence\": \"spread margarine on the bread\"},\n"
    "  {\"segment\": [114, 127], \"id\": 1, \"sentence\": \"place a slice of cheese\"}],"
    " \"video_url\": \"https://www.youtube.com/watch?v=GLd3aX16zBg\"},\n"
    " \"xHr8X2Wpmno\": {\"subset\": \"training\", \"annotations\": [\n"
    "  {\"segment\": [5, 10.5], \"id\": 0, \"sentence\": \"boil water\"}]},\n"
    " \"V53XmPeyjIU\": {\"subset\": \"validation\", \"annotations\": [\n"
    "  {\"segment\": [3, 9], \"id\": 0, \"sentence\": \"cut the tofu\"}]}}}\n";

START_TEST(test_youcook2)
{
    char path[TEST_PATH_BYTES], vdir[TEST_PATH_BYTES], file[TEST_PATH_BYTES + 32];
    write_text(path, "youcookii_annotations_trainval.json", youcook2_json);
    make_dir("yc");
    write_text(file, "yc/V53XmPeyjIU.webm", "");
    tmp_path(vdir, "yc");
    lv_clip_list l;
    ck_assert_msg(!lv_youcook2_load(&l, path, vdir, "validation"), "%s", lv_error());
    printf("  YouCook2 validation: %lld segments\n", (long long)l.n);
    ck_assert_int_eq(l.n, 3);
    snprintf(file, sizeof file, "%s/GLd3aX16zBg.mp4", vdir);
    expect_named_clip(&l.e[0], file, "spread margarine on the bread", 90, 102, "GLd3aX16zBg_0");
    expect_named_clip(&l.e[1], file, "place a slice of cheese", 114, 127, "GLd3aX16zBg_1");
    snprintf(file, sizeof file, "%s/V53XmPeyjIU.webm", vdir);
    expect_named_clip(&l.e[2], file, "cut the tofu", 3, 9, "V53XmPeyjIU_0");
    lv_clip_list_free(&l);

    ck_assert_msg(!lv_youcook2_load(&l, path, "yc", "training"), "%s", lv_error());
    ck_assert_int_eq(l.n, 1);
    expect_named_clip(&l.e[0], "yc/xHr8X2Wpmno.mp4", "boil water", 5, 10.5, "xHr8X2Wpmno_0");
    lv_clip_list_free(&l);
}
END_TEST

START_TEST(test_youcook2_errors)
{
    char path[TEST_PATH_BYTES];
    lv_clip_list l;
    write_text(path, "yc.json", youcook2_json);
    printf("  YouCook2 subset without annotations, bad segments:\n");
    ck_assert_int_eq(lv_youcook2_load(&l, path, "yc", "testing"), -1);
    expect_error(path, "no annotated segment of subset 'testing'");
    write_text(path, "reversed.json", "{\"database\": {\"abc\": {\"subset\": \"validation\","
               " \"annotations\": [{\"segment\": [1, 2], \"sentence\": \"fine\"},"
               " {\"segment\": [12, 5], \"sentence\": \"backwards\"}]}}}");
    ck_assert_int_eq(lv_youcook2_load(&l, path, "yc", "validation"), -1);
    ck_assert(l.n == 0 && l.e == NULL);
    expect_error(path, "database.abc.annotations[1]");
    write_text(path, "nosentence.json", "{\"database\": {\"abc\": {\"subset\": \"validation\","
               " \"annotations\": [{\"segment\": [1, 2]}]}}}");
    ck_assert_int_eq(lv_youcook2_load(&l, path, "yc", "validation"), -1);
    expect_error(path, "a string \"sentence\"");
    write_text(path, "msrvtt.json", msrvtt_json);
    ck_assert_int_eq(lv_youcook2_load(&l, path, "yc", "validation"), -1);
    expect_error(path, "no \"database\" object");
}
END_TEST

/* ---- multiple choice: mcq.jsonl and EgoSchema ------------------------------------------------ */

static void expect_mcq(const lv_mcq_entry *e, const char *video, const char *question,
                       const char *first_option, int answer, const char *id)
{
    printf("    %s \"%s\" [%s | %s | %s | %s | %s] answer %d id %s\n", e->video, e->question,
           e->options[0], e->options[1], e->options[2], e->options[3], e->options[4], e->answer,
           e->id ? e->id : "(none)");
    ck_assert_str_eq(e->video, video);
    ck_assert_str_eq(e->question, question);
    ck_assert_str_eq(e->options[0], first_option);
    for (int j = 1; j < 5; j++)
        ck_assert_ptr_nonnull(e->options[j]);
    ck_assert_int_eq(e->answer, answer);
    if (id)
        ck_assert_str_eq(e->id, id);
    else
        ck_assert_ptr_null(e->id);
}

#define OPTIONS5 "[\"red first\", \"blue first\", \"green first\", \"both\", \"neither\"]"

START_TEST(test_mcq_jsonl)
{
    make_media();
    char path[TEST_PATH_BYTES], a[TEST_PATH_BYTES], b[TEST_PATH_BYTES];
    write_text(path, "mcq.jsonl",
               "{\"video\": \"a.mp4\", \"question\": \"which shape came first?\", \"options\": "
               OPTIONS5 ", \"answer\": 2, \"id\": \"q0\"}\n\n"
               "{\"video\": \"clips/b.mp4\", \"question\": \"what happened last?\", \"options\": "
               OPTIONS5 "}\n");
    tmp_path(a, "a.mp4");
    tmp_path(b, "clips/b.mp4");
    lv_mcq_list l;
    ck_assert_msg(!lv_mcq_load(&l, path, 1), "%s", lv_error());
    printf("  mcq.jsonl: %lld questions\n", (long long)l.n);
    ck_assert_int_eq(l.n, 2);
    expect_mcq(&l.e[0], a, "which shape came first?", "red first", 2, "q0");
    expect_mcq(&l.e[1], b, "what happened last?", "red first", -1, NULL);
    ck_assert_str_eq(l.e[1].options[4], "neither");
    lv_mcq_list_free(&l);
    ck_assert(l.n == 0 && l.e == NULL);
}
END_TEST

static const bad_line bad_mcq_lines[] = {
    { "four options", "{\"video\": \"a.mp4\", \"question\": \"q\", \"options\": [\"1\", \"2\", "
      "\"3\", \"4\"], \"answer\": 0}", "\"options\" must be an array of 5 strings" },
    { "an option not a string", "{\"video\": \"a.mp4\", \"question\": \"q\", \"options\": [\"1\", "
      "\"2\", \"3\", \"4\", 5], \"answer\": 0}", "\"options\" must be an array of 5 strings" },
    { "answer 5", "{\"video\": \"a.mp4\", \"question\": \"q\", \"options\": " OPTIONS5
      ", \"answer\": 5}", "\"answer\" must be the index 0..4" },
    { "answer -1", "{\"video\": \"a.mp4\", \"question\": \"q\", \"options\": " OPTIONS5
      ", \"answer\": -1}", "\"answer\" must be the index 0..4" },
    { "answer 1.5", "{\"video\": \"a.mp4\", \"question\": \"q\", \"options\": " OPTIONS5
      ", \"answer\": 1.5}", "\"answer\" must be the index 0..4" },
    { "answer a string", "{\"video\": \"a.mp4\", \"question\": \"q\", \"options\": " OPTIONS5
      ", \"answer\": \"2\"}", "\"answer\" must be the index 0..4" },
    { "missing question", "{\"video\": \"a.mp4\", \"options\": " OPTIONS5 "}",
      "\"question\" is missing" },
    { "missing video file", "{\"video\": \"gone.mp4\", \"question\": \"q\", \"options\": "
      OPTIONS5 "}", "gone.mp4: No such file or directory" },
    { "not JSON", "{\"video\": \"a.mp4\", \"question\": ", "not JSON" },
};

START_TEST(test_mcq_bad_line)
{
    const bad_line *b = &bad_mcq_lines[_i];
    make_media();
    char path[TEST_PATH_BYTES], text[1024], where[TEST_PATH_BYTES + 8];
    snprintf(text, sizeof text, "{\"video\": \"a.mp4\", \"question\": \"q\", \"options\": "
             OPTIONS5 ", \"answer\": 1}\n\n%s\n", b->line);
    write_text(path, "mcq.jsonl", text);
    snprintf(where, sizeof where, "%s:3", path);
    lv_mcq_list l;
    printf("  bad mcq line (%s):\n", b->what);
    ck_assert_int_eq(lv_mcq_load(&l, path, 1), -1);
    ck_assert(l.n == 0 && l.e == NULL);
    expect_error(where, b->needle);
}
END_TEST

#define EGO_UID0 "001934bb-81bd-4cd8-a574-0472ef3f6678"
#define EGO_UID1 "00b9a0de-c59e-49cb-a127-6081e2fb8c8e"
#define EGO_UID2 "00f93e1e-cf4e-4835-88b4-4ad68216e86f"
#define EGO_OPTIONS(a) "\"option 0\": \"" a "\", \"option 1\": \"o1\", \"option 2\": \"o2\"," \
                       " \"option 3\": \"o3\", \"option 4\": \"o4\""

static const char ego_questions[] =
    "[{\"q_uid\": \"" EGO_UID0 "\", \"google_drive_id\": \"1x\", \"question\": \"What is c "
    "doing overall?\", " EGO_OPTIONS("cooking") "},\n"
    " {\"q_uid\": \"" EGO_UID1 "\", \"question\": \"Which tool matters most?\", "
    EGO_OPTIONS("a knife") "},\n"
    " {\"q_uid\": \"" EGO_UID2 "\", \"question\": \"How does the scene change?\", "
    EGO_OPTIONS("it gets dark") "}]\n";

START_TEST(test_egoschema)
{
    char q[TEST_PATH_BYTES], a[TEST_PATH_BYTES];
    write_text(q, "questions.json", ego_questions);
    write_text(a, "subset_answers.json", "{\"" EGO_UID0 "\": 0, \"" EGO_UID2 "\": 4, "
               "\"ffffffff-0000-0000-0000-000000000000\": 3}");
    lv_mcq_list l;
    ck_assert_msg(!lv_egoschema_load(&l, q, a, "/ego/videos"), "%s", lv_error());
    printf("  EgoSchema with subset answers: %lld questions\n", (long long)l.n);
    ck_assert_int_eq(l.n, 3);
    expect_mcq(&l.e[0], "/ego/videos/" EGO_UID0 ".mp4", "What is c doing overall?", "cooking",
               0, EGO_UID0);
    expect_mcq(&l.e[1], "/ego/videos/" EGO_UID1 ".mp4", "Which tool matters most?", "a knife",
               -1, EGO_UID1);
    expect_mcq(&l.e[2], "/ego/videos/" EGO_UID2 ".mp4", "How does the scene change?",
               "it gets dark", 4, EGO_UID2);
    lv_mcq_list_free(&l);

    ck_assert_msg(!lv_egoschema_load(&l, q, NULL, "v"), "%s", lv_error());
    printf("  EgoSchema without answers:\n");
    ck_assert_int_eq(l.n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(l.e[i].answer, -1);
    expect_mcq(&l.e[2], "v/" EGO_UID2 ".mp4", "How does the scene change?", "it gets dark", -1,
               EGO_UID2);
    lv_mcq_list_free(&l);
}
END_TEST

START_TEST(test_egoschema_errors)
{
    char q[TEST_PATH_BYTES], a[TEST_PATH_BYTES];
    lv_mcq_list l;
    write_text(q, "questions.json", ego_questions);
    printf("  EgoSchema answers out of range, malformed files:\n");
    write_text(a, "answers7.json", "{\"" EGO_UID0 "\": 7}");
    ck_assert_int_eq(lv_egoschema_load(&l, q, a, "v"), -1);
    expect_error(a, "the answer of \"" EGO_UID0 "\" is not an index 0..4");
    write_text(a, "answers_text.json", "{\"" EGO_UID0 "\": \"B\"}");
    ck_assert_int_eq(lv_egoschema_load(&l, q, a, "v"), -1);
    expect_error(a, "is not an index 0..4");
    write_text(a, "answers_list.json", "[0, 1]");
    ck_assert_int_eq(lv_egoschema_load(&l, q, a, "v"), -1);
    expect_error(a, "expected EgoSchema's answers");
    tmp_path(a, "absent.json");
    ck_assert_int_eq(lv_egoschema_load(&l, q, a, "v"), -1);
    expect_error(a, "No such file");
    write_text(q, "short.json", "[{\"q_uid\": \"u0\", \"question\": \"q\", " EGO_OPTIONS("x")
               "}, {\"q_uid\": \"u1\", \"question\": \"q\", \"option 0\": \"x\"}]");
    ck_assert_int_eq(lv_egoschema_load(&l, q, NULL, "v"), -1);
    expect_error(q, "question [1] lacks");
    write_text(q, "empty.json", "");
    ck_assert_int_eq(lv_egoschema_load(&l, q, NULL, "v"), -1);
    expect_error(q, "the file is empty");
    ck_assert(l.n == 0 && l.e == NULL);
}
END_TEST

/* ---- suite ----------------------------------------------------------------------------------- */

/* ---- building a vocabulary (longvivit vocab) -------------------------------------------------- */

static int collect_word(void *ctx, const char *word, int64_t bytes)
{
    char *out = ctx;
    const size_t n = strlen(out);
    snprintf(out + n, 2048 - n, "%s%s", n ? " " : "", word);
    return 0;
}

/* Every caption of the manifest encodes without [UNK], and the pieces ("##" dropped, joined)
 * spell exactly the words the basic tokenization gives: the vocabulary covers the captions. */
static void expect_round_trip(const lv_tokenizer *t, const char *const *texts, int64_t n_texts)
{
    enum { T = 256 };
    int32_t ids[T];
    uint8_t valid[T];
    for (int64_t i = 0; i < n_texts; i++) {
        char want[2048] = "", got[2048] = "";
        ck_assert_int_eq(lv_tokenizer_words(texts[i], collect_word, want), 0);
        const int64_t n = lv_tokenizer_encode(t, texts[i], ids, valid, T);
        ck_assert_int_lt(n, T);                 /* nothing truncated */
        for (int64_t k = 1; k + 1 < n; k++) {
            ck_assert_msg(ids[k] != lv_tokenizer_id(t, "[UNK]"), "caption %lld: [UNK] at %lld",
                          (long long)i, (long long)k);
            const char *piece = lv_tokenizer_token(t, ids[k]);
            const size_t len = strlen(got);
            const int cont = !strncmp(piece, "##", 2);
            snprintf(got + len, sizeof got - len, "%s%s", cont || !len ? "" : " ",
                     piece + (cont ? 2 : 0));
        }
        ck_assert_str_eq(got, want);
    }
}

START_TEST(test_vocab_build_round_trip)
{
    static const char manifest[] =
        "{\"video\": \"a.mp4\", \"caption\": \"A red square moves up, then a green circle.\"}\n"
        "{\"video\": \"b.mp4\", \"caption\": \"Déjà vu: the CAFÉ's «menu» costs $5!\"}\n"
        "{\"video\": \"c.mp4\", \"caption\": \"中国 škoda   unaffable\\tred\\nsquare\"}\n"
        "{\"video\": \"d.mp4\", \"caption\": \"the red circle; the red square (again)\"}\n";
    char path[TEST_PATH_BYTES];
    write_text(path, "train.jsonl", manifest);
    lv_clip_list clips;
    ck_assert_msg(lv_manifest_load(&clips, path, 0) == 0, "%s", lv_error());
    const char *texts[4];
    for (int i = 0; i < 4; i++)
        texts[i] = clips.e[i].caption;
    int64_t tokens = 0, all = 0;
    /* every word whole; the same input gives the same bytes */
    char *text = lv_vocab_build(texts, 4, 0, &all), *again = lv_vocab_build(texts, 4, 0, NULL);
    ck_assert_msg(text && again, "%s", lv_error());
    ck_assert_str_eq(text, again);
    /* red 4 times; square and the 3 times each, so byte order */
    const char *head = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nred\nsquare\nthe\n";
    ck_assert(!strncmp(text, head, strlen(head)));
    lv_tokenizer *t = lv_tokenizer_from_text(text, "built");
    ck_assert_msg(t != NULL, "%s", lv_error());
    ck_assert_int_eq(lv_tokenizer_vocab_size(t), all);
    expect_round_trip(t, texts, 4);
    lv_tokenizer_free(t);
    /* a size that holds only some whole words: the rest are spelled with ## pieces */
    const char *ab[] = { "aa ab ba bb", "aab abb bab bba aa", "aaa bbb abab baba aa ab" };
    char *small = lv_vocab_build(ab, 3, 12, &tokens);     /* 12 words, 4 letters (a b ##a ##b) */
    ck_assert_msg(small != NULL, "%s", lv_error());
    ck_assert_int_le(tokens, 12);
    ck_assert_str_eq(small, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\naa\nab\naaa\na\nb\n##a\n##b\n");
    t = lv_tokenizer_from_text(small, "built small");
    ck_assert_msg(t != NULL, "%s", lv_error());
    expect_round_trip(t, ab, 3);
    printf("  vocab: %lld tokens cover the captions whole, %lld with ## pieces; both round-trip "
           "without [UNK]\n", (long long)all, (long long)tokens);
    lv_tokenizer_free(t);
    /* too small even for the alphabet: refused with the size that works */
    ck_assert_ptr_null(lv_vocab_build(ab, 3, 8, NULL));
    expect_error("--size 8 is too small", "pass --size 9 or more");
    free(text);
    free(again);
    free(small);
    lv_clip_list_free(&clips);
}
END_TEST

/* A model file stores the vocabulary's canonical text: CRLF or a missing last newline compare
 * equal, a reordered vocabulary does not, at the first line that differs. */
START_TEST(test_vocab_text_and_compare)
{
    lv_tokenizer *a = load_test_vocab();
    char crlf[1024] = "";
    for (const char *p = test_vocab; *p; p++)
        strncat(crlf, *p == '\n' ? "\r\n" : (char[]){ *p, 0 }, sizeof crlf - strlen(crlf) - 1);
    crlf[strlen(crlf) - 2] = '\0';                     /* no newline at the end */
    lv_tokenizer *b = lv_tokenizer_from_text(crlf, "crlf");
    ck_assert_msg(b != NULL, "%s", lv_error());
    ck_assert_str_eq(lv_tokenizer_text(a), test_vocab);
    ck_assert_str_eq(lv_tokenizer_text(b), test_vocab);
    ck_assert_int_eq(lv_tokenizer_first_difference(a, b), -1);
    lv_tokenizer *c = lv_tokenizer_from_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nworld\n", "other");
    ck_assert_msg(c != NULL, "%s", lv_error());
    ck_assert_int_eq(lv_tokenizer_first_difference(a, c), 4);
    ck_assert_ptr_null(lv_tokenizer_from_text("[PAD]\nhello\n", "stored"));
    expect_error("stored", "[UNK]");
    lv_tokenizer_free(a);
    lv_tokenizer_free(b);
    lv_tokenizer_free(c);
}
END_TEST

static TCase *tmp_case(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tmp_root_setup, tmp_root_teardown);
    tcase_add_checked_fixture(tc, tmp_dir_setup, NULL);
    suite_add_tcase(s, tc);
    return tc;
}

Suite *text_data_suite(void)
{
    Suite *s = suite_create("text_data");
    TCase *tok = tmp_case(s, "wordpiece");
    tcase_add_test(tok, test_tokenize_basic);
    tcase_add_test(tok, test_tokenize_accents_and_case);
    tcase_add_test(tok, test_tokenize_unknown_and_cjk);
    tcase_add_test(tok, test_tokenize_cleaning_and_bad_utf8);
    tcase_add_test(tok, test_tokenize_bert_unicode);
    tcase_add_test(tok, test_tokenize_long_word);
    tcase_add_test(tok, test_tokenize_truncate_and_pad);
    tcase_add_test(tok, test_vocab_lookup);
    tcase_add_test(tok, test_vocab_errors);
    tcase_add_test(tok, test_tokenize_fuzz);
    tcase_add_test(tok, test_vocab_build_round_trip);
    tcase_add_test(tok, test_vocab_text_and_compare);
    TCase *man = tmp_case(s, "manifest");
    tcase_add_test(man, test_manifest_valid);
    tcase_add_loop_test(man, test_manifest_bad_line, 0,
                        (int)(sizeof bad_clip_lines / sizeof bad_clip_lines[0]));
    tcase_add_test(man, test_manifest_missing);
    TCase *bench = tmp_case(s, "benchmarks");
    tcase_add_test(bench, test_msrvtt);
    tcase_add_test(bench, test_msrvtt_errors);
    tcase_add_test(bench, test_youcook2);
    tcase_add_test(bench, test_youcook2_errors);
    tcase_add_test(bench, test_mcq_jsonl);
    tcase_add_loop_test(bench, test_mcq_bad_line, 0,
                        (int)(sizeof bad_mcq_lines / sizeof bad_mcq_lines[0]));
    tcase_add_test(bench, test_egoschema);
    tcase_add_test(bench, test_egoschema_errors);
    return s;
}
