/* Check suite for data/safetensors: round trips, exact F16/BF16 decoding, byte-identical output
 * (also against the byte layouts the Rust crate's tests spell out), atomic writes, and one case
 * per malformed file asserting its message. Every test gets a fresh mkdtemp folder; no RNG. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "safetensors.h"
#include "backend.h"
#include "model_io.h"

#include <sys/resource.h>
#include <time.h>

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A safetensors file by hand: u64 header length, header text, data (NULL: zeros). */
static void write_st(const char *path, const char *header, const void *data, size_t data_bytes)
{
    size_t n = strlen(header);
    unsigned char *buf = calloc(8 + n + data_bytes, 1);
    ck_assert_ptr_nonnull(buf);
    put_le(buf, n, 8);
    memcpy(buf + 8, header, n);
    if (data)
        memcpy(buf + 8 + n, data, data_bytes);
    write_bytes(path, buf, 8 + n + data_bytes);
    free(buf);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    *n = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *buf = malloc(*n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, *n, fp), *n);
    fclose(fp);
    return buf;
}

static int count_temp_files(void)
{
    DIR *d = opendir(test_dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        count += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return count;
}

static void expect_error(const char *needle, const char *path)
{
    printf("    error: %s\n", lv_error());
    ck_assert_msg(strstr(lv_error(), needle), "message lacks \"%s\": %s", needle, lv_error());
    ck_assert_msg(!path || strstr(lv_error(), path), "message lacks %s: %s", path, lv_error());
}

static void expect_open_fails(const char *path, const char *needle)
{
    lv_st_file *f = lv_st_open(path);
    ck_assert_msg(f == NULL, "%s opened but should fail with \"%s\"", path, needle);
    expect_error(needle, path);
}

static uint32_t float_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static lv_st_file *open_ok(const char *path)
{
    lv_st_file *f = lv_st_open(path);
    ck_assert_msg(f != NULL, "lv_st_open: %s", lv_error());
    return f;
}

static const lv_st_tensor *find_ok(const lv_st_file *f, const char *name)
{
    const lv_st_tensor *t = lv_st_find(f, name);
    ck_assert_msg(t != NULL, "tensor %s missing", name);
    return t;
}

/* ---- round trips ----------------------------------------------------------------------------- */

START_TEST(test_roundtrip)
{
    /* 1, -0, the smallest subnormal, inf, a nan with payload, -123.456 */
    const uint32_t w_bits[6] = { 0x3f800000, 0x80000000, 0x00000001, 0x7f800000, 0x7fc01234,
                                 0xc2f6e979 };
    float w[6], scalar = 0.25f, w_back[6], scalar_back;
    memcpy(w, w_bits, sizeof w);
    const int64_t ids[4] = { INT64_MIN, -1, 0, INT64_MAX };
    int64_t ids_back[4];
    const int64_t w_shape[2] = { 2, 3 }, ids_shape[1] = { 4 };
    const char *quote = "say \"hi\" \\ back\nslash\ttab";
    const char *unicode = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e";
    char path[TEST_PATH_BYTES];
    tmp_path(path, "rt.safetensors");

    lv_st_writer *wr = lv_st_writer_new();
    ck_assert_ptr_nonnull(wr);
    ck_assert_int_eq(lv_st_writer_add_f32(wr, "blocks.0.w", w, 2, w_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_i64(wr, "ids", ids, 1, ids_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_f32(wr, "scale", &scalar, 0, NULL), 0);
    ck_assert_int_eq(lv_st_writer_meta(wr, "format", "pt"), 0);
    ck_assert_int_eq(lv_st_writer_meta(wr, "quote", quote), 0);
    ck_assert_int_eq(lv_st_writer_meta(wr, "unicode", unicode), 0);
    ck_assert_int_eq(lv_st_writer_meta(wr, "empty", ""), 0);
    ck_assert_int_eq(lv_st_writer_write(wr, path), 0);
    lv_st_writer_free(wr);

    size_t n;
    unsigned char *bytes = read_bytes(path, &n);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | bytes[i];
    ck_assert_uint_eq(header_len % 8, 0);
    ck_assert_uint_eq(n, 8 + header_len + 24 + 32 + 4);
    free(bytes);

    lv_st_file *f = open_ok(path);
    ck_assert_int_eq(lv_st_count(f), 3);
    const char *order[3] = { "blocks.0.w", "ids", "scale" };
    const int64_t begin[3] = { 0, 24, 56 }, end[3] = { 24, 56, 60 };
    for (int64_t i = 0; i < 3; i++) {
        const lv_st_tensor *t = lv_st_tensor_at(f, i);
        ck_assert_str_eq(t->name, order[i]);
        ck_assert_int_eq(t->begin, begin[i]);
        ck_assert_int_eq(t->end, end[i]);
    }
    const lv_st_tensor *tw = find_ok(f, "blocks.0.w"), *ti = find_ok(f, "ids");
    const lv_st_tensor *ts = find_ok(f, "scale");
    ck_assert_int_eq(tw->dtype, LV_DT_F32);
    ck_assert_int_eq(tw->ndim, 2);
    ck_assert_int_eq(tw->shape[0], 2);
    ck_assert_int_eq(tw->shape[1], 3);
    ck_assert_int_eq(ti->dtype, LV_DT_I64);
    ck_assert_int_eq(ts->ndim, 0);
    ck_assert_int_eq(ts->numel, 1);
    ck_assert_int_eq(lv_st_read_f32(f, tw, w_back, 6), 0);
    ck_assert_int_eq(lv_st_read_i64(f, ti, ids_back, 4), 0);
    ck_assert_int_eq(lv_st_read_f32(f, ts, &scalar_back, 1), 0);
    ck_assert_mem_eq(w_back, w, sizeof w);
    ck_assert_mem_eq(ids_back, ids, sizeof ids);
    ck_assert_uint_eq(float_bits(scalar_back), float_bits(scalar));

    const char *keys[4] = { "format", "quote", "unicode", "empty" };
    const char *values[4] = { "pt", quote, unicode, "" };
    ck_assert_int_eq(lv_st_meta_count(f), 4);
    for (int64_t i = 0; i < 4; i++) {
        const char *k, *v;
        ck_assert_int_eq(lv_st_meta_at(f, i, &k, &v), 0);
        ck_assert_str_eq(k, keys[i]);
        ck_assert_str_eq(v, values[i]);
        ck_assert_str_eq(lv_st_meta(f, keys[i]), values[i]);
    }
    ck_assert_ptr_null(lv_st_meta(f, "absent"));
    lv_st_close(f);
    printf("roundtrip: 3 tensors (f32 2x3 incl. -0/subnormal/inf/nan payload, i64 min/max, "
           "scalar) bitwise equal; header %llu bytes (8-aligned); 4 metadata strings equal\n",
           (unsigned long long)header_len);
}
END_TEST

START_TEST(test_metadata_escapes)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "esc.safetensors");
    write_st(path, "{\"__metadata__\": {\"q\": \"a\\\"b\\\\c\\n\", "
             "\"u\": \"\\u00e9\\u2713\\ud834\\udd1e\"}}", NULL, 0);
    lv_st_file *f = open_ok(path);
    ck_assert_str_eq(lv_st_meta(f, "q"), "a\"b\\c\n");
    ck_assert_str_eq(lv_st_meta(f, "u"), "\xc3\xa9\xe2\x9c\x93\xf0\x9d\x84\x9e");
    ck_assert_int_eq(lv_st_count(f), 0);
    lv_st_close(f);
    printf("metadata escapes: \\\" \\\\ \\n and \\u00e9 \\u2713 plus a surrogate pair decode to "
           "the expected UTF-8\n");
}
END_TEST

START_TEST(test_zero_size)
{
    const float a[2] = { 1.0f, 2.0f };
    const int64_t b[1] = { 7 };
    const int64_t a_shape[1] = { 2 }, empty_shape[2] = { 0, 5 }, b_shape[1] = { 1 };
    const int64_t tail_shape[2] = { 3, 0 };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "zero.safetensors");
    lv_st_writer *w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(w, "a", a, 1, a_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_f32(w, "empty", NULL, 2, empty_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_i64(w, "b", b, 1, b_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_i64(w, "tail", NULL, 2, tail_shape), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), 0);
    lv_st_writer_free(w);

    lv_st_file *f = open_ok(path);
    const char *order[4] = { "a", "empty", "b", "tail" };
    for (int64_t i = 0; i < 4; i++)
        ck_assert_str_eq(lv_st_tensor_at(f, i)->name, order[i]);
    const lv_st_tensor *e = find_ok(f, "empty"), *tail = find_ok(f, "tail");
    ck_assert_int_eq(e->numel, 0);
    ck_assert_int_eq(e->begin, 8);
    ck_assert_int_eq(e->end, 8);
    ck_assert_int_eq(tail->begin, 16);
    ck_assert_int_eq(tail->end, 16);
    ck_assert_int_eq(lv_st_read_f32(f, e, NULL, 0), 0);
    ck_assert_int_eq(lv_st_read_i64(f, tail, NULL, 0), 0);
    int64_t b_back;
    ck_assert_int_eq(lv_st_read_i64(f, find_ok(f, "b"), &b_back, 1), 0);
    ck_assert_int_eq(b_back, 7);
    lv_st_close(f);
    printf("zero-size: (0, 5) f32 at [8, 8] and (3, 0) i64 at [16, 16] round-trip between "
           "non-empty tensors\n");
}
END_TEST

/* Tensors over the 1 MiB read chunk: the chunk loop must advance both file and output offsets. */
START_TEST(test_large_chunked)
{
    enum { N = 300000 };                      /* 1.2 MB as F32 or I32: two read chunks */
    const float head = 9.0f;
    const int64_t head_shape[1] = { 1 }, big_shape[2] = { 3, N / 3 };
    float *x = malloc(N * sizeof *x), *back = malloc(N * sizeof *back);
    unsigned char *raw = malloc(4 * (size_t)N);
    int64_t *ints = malloc(N * sizeof *ints);
    ck_assert(x && back && raw && ints);
    for (int i = 0; i < N; i++) {
        x[i] = 0.5f * (float)i - 1000.0f;
        put_le(raw + 4 * (size_t)i, (uint32_t)(i - N / 2), 4);
    }
    char path[TEST_PATH_BYTES];
    tmp_path(path, "large.safetensors");
    lv_st_writer *w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(w, "head", &head, 1, head_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_f32(w, "big", x, 2, big_shape), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), 0);
    lv_st_writer_free(w);
    lv_st_file *f = open_ok(path);
    ck_assert_int_eq(lv_st_read_f32(f, find_ok(f, "big"), back, N), 0);
    ck_assert_mem_eq(back, x, N * sizeof *x);
    lv_st_close(f);

    write_st(path, "{\"i\":{\"dtype\":\"I32\",\"shape\":[300000],\"data_offsets\":[0,1200000]}}",
             raw, 4 * (size_t)N);
    f = open_ok(path);
    ck_assert_int_eq(lv_st_read_i64(f, find_ok(f, "i"), ints, N), 0);
    lv_st_close(f);
    int wrong = 0;                            /* one assertion: each ck_assert is a pipe write */
    for (int i = 0; i < N; i++)
        wrong += ints[i] != i - N / 2;
    ck_assert_int_eq(wrong, 0);
    printf("large: %d-element F32 (after a 4-byte tensor) and I32 tensors read back exactly "
           "across 1 MiB chunks\n", N);
    free(x);
    free(back);
    free(raw);
    free(ints);
}
END_TEST

/* ---- determinism ----------------------------------------------------------------------------- */

static lv_st_writer *sample_writer(const float *x, const int64_t *ids)
{
    static const int64_t x_shape[3] = { 2, 1, 3 }, ids_shape[1] = { 2 };
    lv_st_writer *w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(w, "x", x, 3, x_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_i64(w, "ids", ids, 1, ids_shape), 0);
    ck_assert_int_eq(lv_st_writer_meta(w, "step", "1200"), 0);
    return w;
}

static void expect_same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = read_bytes(a, &na), *y = read_bytes(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(x, y, na);
    free(x);
    free(y);
}

/* path must hold le64(strlen(header)) + header + data. */
static void expect_bytes(const char *path, const char *header, const void *data, size_t data_bytes)
{
    size_t n, header_len = strlen(header);
    unsigned char *got = read_bytes(path, &n), len8[8];
    put_le(len8, header_len, 8);
    ck_assert_uint_eq(n, 8 + header_len + data_bytes);
    ck_assert_mem_eq(got, len8, 8);
    ck_assert_mem_eq(got + 8, header, header_len);
    if (data_bytes)
        ck_assert_mem_eq(got + 8 + header_len, data, data_bytes);
    free(got);
}

START_TEST(test_deterministic)
{
    const float x[6] = { 0.5f, -1.0f, 3.0f, 1e-3f, 7.0f, -0.0f };
    const int64_t ids[2] = { 3, -9 };
    char p1[TEST_PATH_BYTES], p2[TEST_PATH_BYTES], p3[TEST_PATH_BYTES];
    tmp_path(p1, "d1.safetensors");
    tmp_path(p2, "d2.safetensors");
    tmp_path(p3, "d3.safetensors");
    lv_st_writer *w = sample_writer(x, ids), *w2 = sample_writer(x, ids);
    ck_assert_int_eq(lv_st_writer_write(w, p1), 0);
    ck_assert_int_eq(lv_st_writer_write(w, p2), 0);
    ck_assert_int_eq(lv_st_writer_write(w2, p3), 0);
    ck_assert_int_eq(lv_st_writer_write(w2, p3), 0);     /* replacing an existing file */
    expect_same_file(p1, p2);
    expect_same_file(p1, p3);
    lv_st_writer_free(w);
    lv_st_writer_free(w2);
    ck_assert_int_eq(count_temp_files(), 0);
    printf("deterministic: the same writer twice and a second identical writer give identical "
           "bytes; no temporary files left\n");
}
END_TEST

/* The byte layouts the Rust safetensors crate documents in its own serialization tests. */
START_TEST(test_reference_bytes)
{
    const float data[6] = { 0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f };
    const int64_t shape3[3] = { 1, 2, 3 }, shape4[4] = { 1, 1, 2, 3 };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "ref.safetensors");

    lv_st_writer *w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(w, "attn.0", data, 3, shape3), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), 0);
    lv_st_writer_free(w);
    expect_bytes(path, "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}",
                 data, sizeof data);

    w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(w, "attn0", data, 4, shape4), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), 0);
    lv_st_writer_free(w);
    expect_bytes(path, "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}"
                 "       ", data, sizeof data);

    w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_meta(w, "framework", "pt"), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), 0);
    lv_st_writer_free(w);
    expect_bytes(path, "{\"__metadata__\":{\"framework\":\"pt\"}}     ", NULL, 0);

    w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_write(w, path), 0);
    lv_st_writer_free(w);
    expect_bytes(path, "{}      ", NULL, 0);

    const int64_t big[2] = { 0, 1000000000000000 };   /* cJSON's own printer says 1e+15 */
    w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(w, "big", NULL, 2, big), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), 0);
    lv_st_writer_free(w);
    expect_bytes(path, "{\"big\":{\"dtype\":\"F32\",\"shape\":[0,1000000000000000],"
                 "\"data_offsets\":[0,0]}}       ", NULL, 0);
    lv_st_file *f = open_ok(path);
    ck_assert_int_eq(lv_st_tensor_at(f, 0)->shape[1], 1000000000000000);
    lv_st_close(f);
    printf("reference bytes: 5 files match the expected header+data bytes exactly (header "
           "lengths 64, 72, 40, 8, 80); 10^15 printed as an integer\n");
}
END_TEST

/* ---- atomic writes --------------------------------------------------------------------------- */

START_TEST(test_atomic_writer_error)
{
    const float x[2] = { 1.0f, 2.0f };
    const int64_t shape[1] = { 2 };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "keep.safetensors");
    lv_st_writer *good = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(good, "x", x, 1, shape), 0);
    ck_assert_int_eq(lv_st_writer_write(good, path), 0);
    lv_st_writer_free(good);
    size_t n_before;
    unsigned char *before = read_bytes(path, &n_before);

    lv_st_writer *bad = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(bad, "y", x, 1, shape), 0);
    ck_assert_int_eq(lv_st_writer_add_f32(bad, "y", x, 1, shape), -1);
    ck_assert_int_eq(lv_st_writer_write(bad, path), -1);
    expect_error("earlier call", path);
    ck_assert_ptr_nonnull(strstr(lv_error(), "duplicate tensor name 'y'"));
    lv_st_writer_free(bad);

    size_t n_after;
    unsigned char *after = read_bytes(path, &n_after);
    ck_assert_uint_eq(n_after, n_before);
    ck_assert_mem_eq(after, before, n_before);
    ck_assert_int_eq(count_temp_files(), 0);
    free(before);
    free(after);
    printf("atomic: a poisoned writer leaves the existing %zu-byte file identical, no temp files\n",
           n_before);
}
END_TEST

START_TEST(test_atomic_missing_dir)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "no_such_dir/out.safetensors");
    lv_st_writer *w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_meta(w, "k", "v"), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), -1);
    expect_error("cannot create the temporary file", path);
    lv_st_writer_free(w);
    ck_assert_int_eq(count_temp_files(), 0);
    printf("atomic: writing into a missing directory fails cleanly, no temp files\n");
}
END_TEST

START_TEST(test_atomic_rename_fails)
{
    char path[TEST_PATH_BYTES], inner[TEST_PATH_BYTES];
    tmp_path(path, "ckpt.safetensors");
    tmp_path(inner, "ckpt.safetensors/inner");
    ck_assert_int_eq(mkdir(path, 0700), 0);
    write_bytes(inner, "keep", 4);
    const int64_t ids[3] = { 1, 2, 3 }, shape[1] = { 3 };
    lv_st_writer *w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_i64(w, "ids", ids, 1, shape), 0);
    ck_assert_int_eq(lv_st_writer_write(w, path), -1);
    expect_error("cannot rename", path);
    lv_st_writer_free(w);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(stat(inner, &st), 0);
    ck_assert_int_eq(count_temp_files(), 0);
    printf("atomic: a failed rename (target is a directory) removes the written temp file and "
           "leaves the target alone\n");
}
END_TEST

/* ---- dtype conversion ------------------------------------------------------------------------ */

START_TEST(test_f16)
{
    const uint16_t h[11] = { 0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00,
                             0xfc00, 0x7e00, 0x7d01 };
    const float want[9] = { 1.0f, -2.5f, 65504.0f, 0x1p-24f, 0x1.ff8p-15f, 0x1p-14f, -0.0f,
                            INFINITY, -INFINITY };
    const uint32_t want_nan[2] = { 0x7fc00000, 0x7fa02000 };   /* payload kept, shifted by 13 */
    unsigned char data[22];
    for (int i = 0; i < 11; i++)
        put_le(data + 2 * i, h[i], 2);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "f16.safetensors");
    write_st(path, "{\n  \"h\": {\"dtype\": \"F16\", \"shape\": [11], "
             "\"data_offsets\": [0, 22]}\n}\n ", data, sizeof data);
    lv_st_file *f = open_ok(path);
    float got[11];
    ck_assert_int_eq(lv_st_read_f32(f, find_ok(f, "h"), got, 11), 0);
    lv_st_close(f);
    for (int i = 0; i < 9; i++) {
        printf("  f16 0x%04x -> %a (want %a)\n", h[i], got[i], want[i]);
        ck_assert_uint_eq(float_bits(got[i]), float_bits(want[i]));
    }
    for (int i = 0; i < 2; i++) {
        printf("  f16 0x%04x -> nan bits 0x%08x (want 0x%08x)\n", h[9 + i], float_bits(got[9 + i]),
               want_nan[i]);
        ck_assert_uint_eq(float_bits(got[9 + i]), want_nan[i]);
    }
    printf("f16: 11 bit patterns (normal, max, subnormals, -0, inf, nan) decode exactly\n");
}
END_TEST

START_TEST(test_bf16)
{
    const uint16_t h[8] = { 0x3f80, 0xc020, 0x4049, 0x7f80, 0xff80, 0x7fc1, 0x0001, 0x8000 };
    const float want[3] = { 1.0f, -2.5f, 3.140625f };
    unsigned char data[16];
    for (int i = 0; i < 8; i++)
        put_le(data + 2 * i, h[i], 2);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "bf16.safetensors");
    write_st(path, "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}}", data,
             sizeof data);
    lv_st_file *f = open_ok(path);
    float got[8];
    ck_assert_int_eq(lv_st_read_f32(f, find_ok(f, "b"), got, 8), 0);
    lv_st_close(f);
    for (int i = 0; i < 8; i++) {
        printf("  bf16 0x%04x -> bits 0x%08x\n", h[i], float_bits(got[i]));
        ck_assert_uint_eq(float_bits(got[i]), (uint32_t)h[i] << 16);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(float_bits(got[i]), float_bits(want[i]));
    printf("bf16: 8 patterns give the high half of the float (1.0, -2.5, 3.140625, inf, nan, "
           "subnormal, -0)\n");
}
END_TEST

/* Every integer dtype plus an unaligned F64, listed out of offset order in the header. */
START_TEST(test_ints_and_f64)
{
    static const char header[] =
        "{\"u32\":{\"dtype\":\"U32\",\"shape\":[2],\"data_offsets\":[20,28]},"
        "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[28,31]},"
        "\"i16\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[8,12]},"
        "\"f64\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[31,55]},"
        "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[12,14]},"
        "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[14,16]},"
        "\"u16\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[16,20]}}";
    static const struct { const char *name; int bytes; int64_t v[3]; } ints[7] = {
        { "i32", 4, { -7, INT32_MAX } }, { "i16", 2, { -32768, 1234 } }, { "i8", 1, { -128, 127 } },
        { "u8", 1, { 0, 255 } }, { "u16", 2, { 65535, 1 } }, { "u32", 4, { 4294967295, 2 } },
        { "b", 1, { 0, 1, 2 } },
    };
    const double f64[3] = { 1.5, -0.1, 65536.0 };
    unsigned char data[55];
    int64_t at = 0;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < (i == 6 ? 3 : 2); j++, at += ints[i].bytes)
            put_le(data + at, (uint64_t)ints[i].v[j], ints[i].bytes);
    for (int j = 0; j < 3; j++, at += 8)
        memcpy(data + at, &f64[j], 8);
    char path[TEST_PATH_BYTES];
    tmp_path(path, "ints.safetensors");
    write_st(path, header, data, sizeof data);

    lv_st_file *f = open_ok(path);
    const char *order[8] = { "i32", "i16", "i8", "u8", "u16", "u32", "b", "f64" };
    for (int64_t i = 0; i < 8; i++)
        ck_assert_str_eq(lv_st_tensor_at(f, i)->name, order[i]);
    for (int i = 0; i < 7; i++) {
        const lv_st_tensor *t = find_ok(f, ints[i].name);
        int64_t got[3];
        ck_assert_int_eq(lv_st_read_i64(f, t, got, t->numel), 0);
        for (int64_t j = 0; j < t->numel; j++) {
            int64_t want = i == 6 ? ints[i].v[j] != 0 : ints[i].v[j];
            printf("  %s[%lld] = %lld\n", t->name, (long long)j, (long long)got[j]);
            ck_assert_int_eq(got[j], want);
        }
    }
    float got_f[3];
    ck_assert_int_eq(lv_st_read_f32(f, find_ok(f, "f64"), got_f, 3), 0);
    for (int j = 0; j < 3; j++)
        ck_assert_uint_eq(float_bits(got_f[j]), float_bits((float)f64[j]));
    lv_st_close(f);
    printf("ints: I32/I16/I8/U8/U16/U32/BOOL extremes convert to int64; unaligned F64 rounds to "
           "float; tensor_at follows offsets, not header order\n");
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------------- */

START_TEST(test_read_errors)
{
    const float w[6] = { 1, 2, 3, 4, 5, 6 };
    const int64_t ids[4] = { 1, 2, 3, 4 }, w_shape[2] = { 2, 3 }, ids_shape[1] = { 4 };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "err.safetensors");
    lv_st_writer *wr = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(wr, "w", w, 2, w_shape), 0);
    ck_assert_int_eq(lv_st_writer_add_i64(wr, "ids", ids, 1, ids_shape), 0);
    ck_assert_int_eq(lv_st_writer_write(wr, path), 0);
    lv_st_writer_free(wr);

    lv_st_file *f = open_ok(path), *g = open_ok(path);
    const lv_st_tensor *tw = find_ok(f, "w"), *ti = find_ok(f, "ids");
    float out[6];
    int64_t out_i[6];
    ck_assert_int_eq(lv_st_read_f32(f, ti, out, 4), -1);
    expect_error("dtype I64, which lv_st_read_f32 cannot convert", path);
    ck_assert_int_eq(lv_st_read_i64(f, tw, out_i, 6), -1);
    expect_error("dtype F32, which lv_st_read_i64 cannot convert", path);
    ck_assert_int_eq(lv_st_read_f32(f, tw, out, 5), -1);
    expect_error("has 6 elements (shape [2, 3])", path);
    ck_assert_int_eq(lv_st_read_f32(f, find_ok(g, "w"), out, 6), -1);
    expect_error("does not come from this file", path);
    ck_assert_ptr_null(lv_st_tensor_at(f, 2));
    expect_error("out of range", path);
    const char *k, *v;
    ck_assert_int_eq(lv_st_meta_at(f, 0, &k, &v), -1);
    expect_error("out of range", path);
    lv_set_error("sentinel");
    ck_assert_ptr_null(lv_st_find(f, "nope"));
    ck_assert_str_eq(lv_error(), "sentinel");
    lv_st_close(g);

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 50), 0);  /* 6 of w's 24 data bytes remain */
    ck_assert_int_eq(lv_st_read_f32(f, tw, out, 6), -1);
    expect_error("short read of tensor 'w'", path);
    lv_st_close(f);

    write_st(path, "{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]},"
             "\"p\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[2,4]}}", NULL, 4);
    f = open_ok(path);
    ck_assert_int_eq(lv_st_read_f32(f, find_ok(f, "q"), out, 2), -1);
    expect_error("dtype F8_E4M3, which lv_st_read_f32 cannot convert", path);
    ck_assert_int_eq(lv_st_read_i64(f, find_ok(f, "p"), out_i, 4), -1);
    expect_error("dtype F4, which lv_st_read_i64 cannot convert", path);
    lv_st_close(f);
    printf("read errors: wrong dtype, wrong count, foreign tensor, index range, short read after "
           "truncation and unconvertible F8/F4 all fail with the file named\n");
}
END_TEST

/* rc came from a failing writer call: check the message, then that the write refuses. */
static void expect_poisoned(lv_st_writer *w, int rc, const char *needle)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "never.safetensors");
    ck_assert_int_eq(rc, -1);
    expect_error(needle, NULL);
    ck_assert_int_eq(lv_st_writer_write(w, path), -1);
    expect_error("earlier call", path);
    ck_assert_int_eq(access(path, F_OK), -1);
    lv_st_writer_free(w);
}

START_TEST(test_writer_errors)
{
    const float x[2] = { 1, 2 };
    const int64_t one[1] = { 2 }, nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 2 }, neg[2] = { 2, -1 };
    lv_st_writer *w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_add_f32(w, "x", x, 1, one), 0);
    expect_poisoned(w, lv_st_writer_add_f32(w, "x", x, 1, one), "duplicate tensor name 'x'");
    w = lv_st_writer_new();
    expect_poisoned(w, lv_st_writer_add_f32(w, "__metadata__", x, 1, one), "reserved");
    w = lv_st_writer_new();
    expect_poisoned(w, lv_st_writer_add_f32(w, "x", x, 9, nine), "ndim 9");
    w = lv_st_writer_new();
    expect_poisoned(w, lv_st_writer_add_i64(w, "x", NULL, 2, neg), "negative dim");
    w = lv_st_writer_new();
    expect_poisoned(w, lv_st_writer_add_f32(w, "x", NULL, 1, one), "data is NULL");
    w = lv_st_writer_new();
    expect_poisoned(w, lv_st_writer_add_f32(w, NULL, x, 1, one), "name is NULL");
    w = lv_st_writer_new();
    ck_assert_int_eq(lv_st_writer_meta(w, "k", "v"), 0);
    expect_poisoned(w, lv_st_writer_meta(w, "k", "w"), "already set");
    printf("writer errors: 7 bad calls each fail with their reason and block the write\n");
}
END_TEST

START_TEST(test_bad_prefix)
{
    char path[TEST_PATH_BYTES];
    unsigned char buf[24] = { 0 };
    tmp_path(path, "missing.safetensors");
    expect_open_fails(path, "cannot open");
    tmp_path(path, "");
    expect_open_fails(path, "not a regular file");
    tmp_path(path, "short.safetensors");
    write_bytes(path, buf, 5);
    expect_open_fails(path, "shorter than the 8-byte");
    put_le(buf, (uint64_t)200 << 20, 8);
    write_bytes(path, buf, 16);
    expect_open_fails(path, "100 MiB limit");
    put_le(buf, UINT64_MAX, 8);
    write_bytes(path, buf, 16);
    expect_open_fails(path, "100 MiB limit");
    put_le(buf, 100, 8);
    write_bytes(path, buf, 24);
    expect_open_fails(path, "runs past the end of the file (24 bytes)");
    expect_open_fails(path, "looks truncated");
    printf("bad prefix: missing, directory, 5-byte, 200 MiB and 2^64-1 header lengths, header "
           "past the end all refused\n");
}
END_TEST

typedef struct {
    const char *what;
    const char *header;
    size_t data_bytes;
    const char *needle;
} bad_case;

#define F32_A "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"

static const bad_case bad_cases[] = {
    { "empty header", "", 0, "not valid JSON" },
    { "not JSON", "{\"a\": ", 0, "not valid JSON" },
    { "JSON array", "[1, 2]", 0, "not a JSON object" },
    { "bytes after the object", "{} x", 0, "unexpected bytes after the JSON object" },
    { "entry not an object", "{\"a\": 5}", 0, "header entry 'a' is not an object" },
    { "missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
      "tensor 'a' has no \"dtype\"" },
    { "missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
      "tensor 'a' has no \"shape\"" },
    { "missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
      "tensor 'a' has no \"data_offsets\"" },
    { "dtype not a string", "{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
      "\"dtype\" must be a string" },
    { "unknown dtype", "{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
      "unknown dtype \"F17\"" },
    { "shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
      "\"shape\" must be an array" },
    { "negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
      "shape[0] must be a non-negative integer" },
    { "fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
      "shape[0] must be a non-negative integer" },
    { "dim as a string", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]}}",
      8, "shape[1] must be a non-negative integer" },
    { "offset 1e300", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 4,
      "data_offsets[1] must be a non-negative integer" },
    { "offset above 2^53", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],"
      "\"data_offsets\":[9007199254740994,9007199254740995]}}", 4, "no larger than 2^53" },
    { "nine dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
      "\"data_offsets\":[0,4]}}", 4, "has 9 dims, more than LV_ST_MAX_DIMS" },
    { "three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
      "must be an array [begin, end]" },
    { "begin > end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
      "[4, 0] with begin > end" },
    { "shape/size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
      "needs 8 bytes but data_offsets [0, 4] span 4 (shape/size mismatch)" },
    { "shape overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
      "\"data_offsets\":[0,4]}}", 4, "overflows a 64-bit byte count" },
    { "F4 odd count", "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
      "not a whole number of bytes" },
    { "duplicate tensor", "{" F32_A ",\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
      "\"data_offsets\":[4,8]}}", 8, "duplicate tensor name 'a'" },
    { "overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
      "tensors 'a' [0, 8] and 'b' [4, 12] overlap" },
    { "gap", "{" F32_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
      "gap of 4 bytes" },
    { "not starting at 0", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
      "data_offsets must start at 0" },
    { "truncated data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
      "looks truncated: the header describes 16 bytes of tensor data but 8 follow it" },
    { "uncovered data", "{" F32_A "}", 8, "the last 4 bytes of the data buffer are not covered" },
    { "data without tensors", "{}", 3, "the last 3 bytes of the data buffer are not covered" },
    { "__metadata__ not an object", "{\"__metadata__\":\"x\"}", 0,
      "\"__metadata__\" must be an object of strings" },
    { "metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0,
      "key 'k' has a non-string value" },
    { "duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
      "key 'k' appears twice" },
    { "two __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
      "\"__metadata__\" appears twice" },
};

START_TEST(test_bad_header)
{
    const bad_case *c = &bad_cases[_i];
    char path[TEST_PATH_BYTES];
    tmp_path(path, "bad.safetensors");
    write_st(path, c->header, NULL, c->data_bytes);
    printf("bad header %d (%s):\n", _i, c->what);
    expect_open_fails(path, c->needle);
}
END_TEST

/* ---- model files: vocabulary, metadata against tensors, finite parameters ------------------- */

static lv_config tiny_config(void)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "tiny"), 0);
    return c;
}

START_TEST(test_model_vocab_stored)
{
    char path[TEST_PATH_BYTES], bare[TEST_PATH_BYTES];
    tmp_path(path, "params.safetensors");
    tmp_path(bare, "bare.safetensors");
    const lv_config c = tiny_config();
    lv_model m;
    ck_assert_int_eq(lv_model_build(&m, &c, &lv_backend_ref), 0);
    ck_assert_msg(lv_model_save(&m, bare) == 0, "%s", lv_error());
    m.vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nred\n";
    ck_assert_msg(lv_model_save(&m, path) == 0, "%s", lv_error());
    char *v = (char *)"unset";
    ck_assert_msg(lv_vocab_from_file(&v, path) == 0, "%s", lv_error());
    ck_assert_str_eq(v, m.vocab);
    free(v);
    ck_assert_int_eq(lv_vocab_from_file(&v, bare), 0);
    ck_assert_ptr_null(v);                        /* an older file: none stored */
    printf("  the vocabulary travels in the metadata; a file without one says so\n");
    lv_model_free(&m);
}
END_TEST

/* Metadata claiming a model far larger than the tensors (width 2048, 24 layers: ~4.7 GB) is
 * refused from the header, before any parameter memory, naming the tensor and both shapes. */
START_TEST(test_model_config_claims_huge)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "huge.safetensors");
    const lv_config c = tiny_config();
    lv_model m;
    ck_assert_int_eq(lv_model_build(&m, &c, &lv_backend_ref), 0);
    lv_model claim = m;                            /* the same tensors, another config */
    ck_assert_int_eq(lv_config_set(&claim.cfg, "width=2048"), 0);
    ck_assert_int_eq(lv_config_set(&claim.cfg, "layers=24"), 0);
    ck_assert_msg(lv_config_validate(&claim.cfg) == 0, "%s", lv_error());
    lv_st_writer *w = lv_st_writer_new();
    lv_model_add_to_writer(w, &claim, claim.params.data, LV_PARAMS_FORMAT);
    ck_assert_msg(lv_st_writer_write(w, path) == 0, "%s", lv_error());
    lv_st_writer_free(w);
    struct rusage before, after;
    struct timespec t0, t1;
    getrusage(RUSAGE_SELF, &before);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lv_config back;
    ck_assert_int_lt(lv_config_from_file(&back, path), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    getrusage(RUSAGE_SELF, &after);
    const double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    const long grew_kb = after.ru_maxrss - before.ru_maxrss;
    printf("  refused in %.3f s, peak RSS +%ld KiB: %s\n", s, grew_kb, lv_error());
    ck_assert_ptr_nonnull(strstr(lv_error(), path));
    ck_assert_ptr_nonnull(strstr(lv_error(), "in the file, but the configuration in its metadata "
                                             "makes it ["));
    ck_assert_ptr_nonnull(strstr(lv_error(), "2048"));
    ck_assert_msg(s < 2.0, "took %.2f s", s);
    ck_assert_msg(grew_kb < 64 * 1024, "peak RSS grew by %ld KiB", grew_kb);
    lv_model_free(&m);
}
END_TEST

/* A NaN or Inf parameter is refused by every loader, naming the file, the tensor and the entry;
 * the model is left as it was. */
START_TEST(test_model_non_finite_refused)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "nan.safetensors");
    const lv_config c = tiny_config();
    lv_model m, b;
    ck_assert_int_eq(lv_model_build(&m, &c, &lv_backend_ref), 0);
    const int64_t i = lv_params_find(&m.params, "text.token_embed");
    const int64_t k = i >= 0 ? i : 3;
    for (int bad = 0; bad < 2; bad++) {
        lv_param_data(&m.params, k)[5] = bad ? INFINITY : NAN;
        ck_assert_msg(lv_model_save(&m, path) == 0, "%s", lv_error());
        ck_assert_int_eq(lv_model_build(&b, &c, &lv_backend_ref), 0);
        const float kept = b.params.data[0];
        char want[160];
        snprintf(want, sizeof want, "tensor '%s' entry 5 is %s", m.params.p[k].name,
                 bad ? "Inf" : "NaN");
        ck_assert_int_lt(lv_model_load(&b, path), 0);
        printf("  load: %s\n", lv_error());
        ck_assert_ptr_nonnull(strstr(lv_error(), path));
        ck_assert_ptr_nonnull(strstr(lv_error(), want));
        ck_assert(b.params.data[0] == kept);
        int64_t copied, resized, left;
        ck_assert_int_lt(lv_model_start_from(&b, path, &copied, &resized, &left), 0);
        ck_assert_ptr_nonnull(strstr(lv_error(), want));
        lv_model_free(&b);
    }
    lv_model_free(&m);
}
END_TEST

Suite *safetensors_suite(void)
{
    const test_row rows[] = {
        { "roundtrip", test_roundtrip, 1 },
        { "roundtrip", test_metadata_escapes, 1 },
        { "roundtrip", test_zero_size, 1 },
        { "roundtrip", test_large_chunked, 1 },
        { "deterministic", test_deterministic, 1 },
        { "deterministic", test_reference_bytes, 1 },
        { "atomic", test_atomic_writer_error, 1 },
        { "atomic", test_atomic_missing_dir, 1 },
        { "atomic", test_atomic_rename_fails, 1 },
        { "dtypes", test_f16, 1 },
        { "dtypes", test_bf16, 1 },
        { "dtypes", test_ints_and_f64, 1 },
        { "errors", test_read_errors, 1 },
        { "errors", test_writer_errors, 1 },
        { "errors", test_bad_prefix, 1 },
        { "model_files", test_model_vocab_stored, 1 },
        { "model_files", test_model_config_claims_huge, 1 },
        { "model_files", test_model_non_finite_refused, 1 },
        { "bad_header", test_bad_header, (int)(sizeof bad_cases / sizeof bad_cases[0]) },
    };
    return suite_from_rows("safetensors", rows, sizeof rows / sizeof rows[0], 10, 1);
}
