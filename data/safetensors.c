/* Safetensors reader and writer (see safetensors.h). The JSON header goes through cJSON; tensor
 * bytes are fetched with pread on demand and converted in bounded chunks. Avoids mmap (a file
 * truncated under us is an error message, not a SIGBUS) and big-endian hosts. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "safetensors.h"
#include "error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes host memory as little-endian tensor data: big-endian is unsupported"
#endif
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "F32/F64 must be binary32/binary64");

#define READ_CHUNK_BYTES ((int64_t)1 << 20)
#define MAX_EXACT_INT 9007199254740992.0    /* 2^53: cJSON keeps numbers as doubles */

static const struct {
    const char *name;
    int bits;
} dtypes[LV_DT_COUNT] = {
    [LV_DT_F64] = { "F64", 64 }, [LV_DT_F32] = { "F32", 32 }, [LV_DT_F16] = { "F16", 16 },
    [LV_DT_BF16] = { "BF16", 16 }, [LV_DT_I64] = { "I64", 64 }, [LV_DT_I32] = { "I32", 32 },
    [LV_DT_I16] = { "I16", 16 }, [LV_DT_I8] = { "I8", 8 }, [LV_DT_U8] = { "U8", 8 },
    [LV_DT_BOOL] = { "BOOL", 8 }, [LV_DT_U16] = { "U16", 16 }, [LV_DT_U32] = { "U32", 32 },
    [LV_DT_U64] = { "U64", 64 }, [LV_DT_F8_E4M3] = { "F8_E4M3", 8 },
    [LV_DT_F8_E5M2] = { "F8_E5M2", 8 }, [LV_DT_F8_E8M0] = { "F8_E8M0", 8 },
    [LV_DT_F4] = { "F4", 4 }, [LV_DT_F6_E2M3] = { "F6_E2M3", 6 },
    [LV_DT_F6_E3M2] = { "F6_E3M2", 6 }, [LV_DT_C64] = { "C64", 64 },
};
#define DTYPE_LIST "F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL U16 U32 U64 F8_E4M3 F8_E5M2 " \
                   "F8_E8M0 F4 F6_E2M3 F6_E3M2 C64"

const char *lv_dtype_name(lv_dtype dtype)
{
    return (unsigned)dtype < LV_DT_COUNT ? dtypes[dtype].name : "invalid";
}

static int dtype_from_name(const char *name, lv_dtype *dtype)
{
    for (int i = 0; i < LV_DT_COUNT; i++) {
        if (!strcmp(name, dtypes[i].name)) {
            *dtype = (lv_dtype)i;
            return 0;
        }
    }
    return -1;
}

/* Product of the dims, or -1 when a dim is negative or numel * bits would overflow int64. */
static int64_t shape_numel(int ndim, const int64_t *shape, int bits)
{
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] != 0 && numel > INT64_MAX / bits / shape[d]))
            return -1;
        numel *= shape[d];
    }
    return numel;
}

/* "[2, 3]" into buf, for error messages. */
static const char *shape_text(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

static char *dup_string(const char *s, const char *what)
{
    size_t n = strlen(s) + 1;
    char *copy = lv_malloc(n, what);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* ---- reader: the open file ------------------------------------------------------------------ */

struct lv_st_file {
    char *path;
    int fd;
    int64_t data_start;             /* file offset of data byte 0: 8 + header length */
    int64_t data_bytes;             /* size of the data buffer */
    int64_t n_tensors;
    lv_st_tensor *tensors;          /* (n_tensors,) sorted by data offset */
    const lv_st_tensor **by_name;   /* (n_tensors,) sorted by name, for lv_st_find */
    int64_t n_meta;
    char **meta;                    /* (2 * n_meta,) key, value, key, value, ... */
};

static uint64_t load_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int read_exact(const lv_st_file *f, void *buf, int64_t bytes, int64_t offset,
                      const char *what)
{
    int64_t done = 0;
    while (done < bytes) {
        ssize_t got = pread(f->fd, (char *)buf + done, (size_t)(bytes - done),
                            (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return lv_set_error("%s: reading %s (%" PRId64 " bytes at file offset %" PRId64
                                ") failed: %s; check the disk and the file's permissions",
                                f->path, what, bytes, offset, strerror(errno));
        if (got == 0)
            return lv_set_error("%s: short read of %s: got %" PRId64 " of %" PRId64 " bytes at "
                                "file offset %" PRId64 "; the file was truncated or replaced "
                                "after it was opened, reopen it", f->path, what, done, bytes,
                                offset);
        done += got;
    }
    return 0;
}

static int open_file(lv_st_file *f, int64_t *file_bytes)
{
    struct stat st;
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return lv_set_error("%s: cannot open safetensors file: %s; check the path and its "
                            "permissions", f->path, strerror(errno));
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return lv_set_error("%s: not a regular file; pass the path of a .safetensors file",
                            f->path);
    *file_bytes = (int64_t)st.st_size;
    if (*file_bytes < 8)
        return lv_set_error("%s: file is %" PRId64 " bytes, shorter than the 8-byte header "
                            "length that starts every safetensors file; it is truncated or not "
                            "a safetensors file", f->path, *file_bytes);
    return 0;
}

/* ---- reader: header entries ----------------------------------------------------------------- */

static const cJSON *entry_field(const lv_st_file *f, const cJSON *entry, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, key);
    if (!v)
        lv_set_error("%s: tensor '%s' has no \"%s\" field; every tensor entry needs \"dtype\", "
                     "\"shape\" and \"data_offsets\"", f->path, entry->string, key);
    return v;
}

/* A shape dim or offset: a JSON number that is an integer in [0, 2^53]. */
static int json_index(const lv_st_file *f, const char *name, const char *key, int i,
                      const cJSON *v, int64_t *out)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    if (!(d >= 0.0 && d <= MAX_EXACT_INT) || d != (double)(int64_t)d)
        return lv_set_error("%s: tensor '%s': %s[%d] must be a non-negative integer no larger "
                            "than 2^53; the header is corrupt", f->path, name, key, i);
    *out = (int64_t)d;
    return 0;
}

static int parse_dtype(const lv_st_file *f, const cJSON *entry, lv_st_tensor *t)
{
    const cJSON *v = entry_field(f, entry, "dtype");
    if (!v)
        return -1;
    if (!cJSON_IsString(v))
        return lv_set_error("%s: tensor '%s': \"dtype\" must be a string such as \"F32\"",
                            f->path, entry->string);
    if (dtype_from_name(v->valuestring, &t->dtype))
        return lv_set_error("%s: tensor '%s' has unknown dtype \"%s\"; safetensors dtypes are "
                            DTYPE_LIST, f->path, entry->string, v->valuestring);
    return 0;
}

static int parse_shape(const lv_st_file *f, const cJSON *entry, lv_st_tensor *t)
{
    const cJSON *v = entry_field(f, entry, "shape");
    if (!v)
        return -1;
    if (!cJSON_IsArray(v))
        return lv_set_error("%s: tensor '%s': \"shape\" must be an array of integers",
                            f->path, entry->string);
    int ndim = cJSON_GetArraySize(v);
    if (ndim > LV_ST_MAX_DIMS)
        return lv_set_error("%s: tensor '%s' has %d dims, more than LV_ST_MAX_DIMS (%d); raise "
                            "it in safetensors.h", f->path, entry->string, ndim, LV_ST_MAX_DIMS);
    const cJSON *dim;
    t->ndim = 0;
    cJSON_ArrayForEach(dim, v) {
        if (json_index(f, entry->string, "shape", t->ndim, dim, &t->shape[t->ndim]))
            return -1;
        t->ndim++;
    }
    return 0;
}

static int parse_offsets(const lv_st_file *f, const cJSON *entry, lv_st_tensor *t)
{
    const cJSON *v = entry_field(f, entry, "data_offsets");
    if (!v)
        return -1;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return lv_set_error("%s: tensor '%s': \"data_offsets\" must be an array [begin, end] of "
                            "two integers", f->path, entry->string);
    if (json_index(f, entry->string, "data_offsets", 0, v->child, &t->begin) ||
        json_index(f, entry->string, "data_offsets", 1, v->child->next, &t->end))
        return -1;
    if (t->begin > t->end)
        return lv_set_error("%s: tensor '%s' has data_offsets [%" PRId64 ", %" PRId64 "] with "
                            "begin > end; the header is corrupt", f->path, entry->string,
                            t->begin, t->end);
    return 0;
}

/* numel from the shape, and the byte span the dtype and shape call for against data_offsets. */
static int check_size(const lv_st_file *f, const char *name, lv_st_tensor *t)
{
    char shape[256];
    int bits = dtypes[t->dtype].bits;
    t->numel = shape_numel(t->ndim, t->shape, bits);
    shape_text(shape, sizeof shape, t->ndim, t->shape);
    if (t->numel < 0)
        return lv_set_error("%s: tensor '%s': shape %s overflows a 64-bit byte count; the header "
                            "is corrupt", f->path, name, shape);
    if (t->numel * bits % 8 != 0)
        return lv_set_error("%s: tensor '%s': %" PRId64 " elements of %s (%d bits each) are not a "
                            "whole number of bytes", f->path, name, t->numel,
                            dtypes[t->dtype].name, bits);
    int64_t bytes = t->numel * bits / 8;
    if (t->end - t->begin != bytes)
        return lv_set_error("%s: tensor '%s': shape %s of %s needs %" PRId64 " bytes but "
                            "data_offsets [%" PRId64 ", %" PRId64 "] span %" PRId64 " (shape/size "
                            "mismatch); the header is corrupt", f->path, name, shape,
                            dtypes[t->dtype].name, bytes, t->begin, t->end, t->end - t->begin);
    return 0;
}

static int parse_tensor(lv_st_file *f, const cJSON *entry)
{
    lv_st_tensor *t = &f->tensors[f->n_tensors];
    if (!cJSON_IsObject(entry))
        return lv_set_error("%s: header entry '%s' is not an object; a tensor entry looks like "
                            "{\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}",
                            f->path, entry->string);
    if (parse_dtype(f, entry, t) || parse_shape(f, entry, t) || parse_offsets(f, entry, t) ||
        check_size(f, entry->string, t))
        return -1;
    t->name = dup_string(entry->string, "a tensor name");
    if (!t->name)
        return -1;
    f->n_tensors++;
    return 0;
}

static int parse_meta(lv_st_file *f, const cJSON *obj)
{
    if (f->meta)
        return lv_set_error("%s: \"__metadata__\" appears twice in the header; merge the two",
                            f->path);
    if (!cJSON_IsObject(obj))
        return lv_set_error("%s: \"__metadata__\" must be an object of strings, such as "
                            "{\"format\": \"pt\"}", f->path);
    f->meta = lv_calloc(2 * (size_t)cJSON_GetArraySize(obj), sizeof *f->meta, "the metadata");
    if (!f->meta)
        return -1;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, obj) {
        if (!cJSON_IsString(kv))
            return lv_set_error("%s: __metadata__ key '%s' has a non-string value; metadata "
                                "values must be strings", f->path, kv->string);
        if (lv_st_meta(f, kv->string))
            return lv_set_error("%s: __metadata__ key '%s' appears twice; keys must be unique",
                                f->path, kv->string);
        char **pair = &f->meta[2 * f->n_meta];
        pair[0] = dup_string(kv->string, "a metadata key");
        pair[1] = pair[0] ? dup_string(kv->valuestring, "a metadata value") : NULL;
        if (!pair[1]) {
            free(pair[0]);
            pair[0] = NULL;
            return -1;
        }
        f->n_meta++;
    }
    return 0;
}

static int parse_entries(lv_st_file *f, const cJSON *root)
{
    const cJSON *item;
    int64_t count = 0;
    cJSON_ArrayForEach(item, root)
        count += strcmp(item->string, "__metadata__") != 0;
    f->tensors = lv_calloc((size_t)count, sizeof *f->tensors, "the tensor table");
    if (!f->tensors)
        return -1;
    cJSON_ArrayForEach(item, root) {
        int rc = strcmp(item->string, "__metadata__") ? parse_tensor(f, item)
                                                      : parse_meta(f, item);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- reader: layout ------------------------------------------------------------------------- */

static int compare_offsets(const void *a, const void *b)
{
    const lv_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int compare_names(const void *a, const void *b)
{
    const lv_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static int compare_name_key(const void *key, const void *elem)
{
    const lv_st_tensor *const *t = elem;
    return strcmp(key, (*t)->name);
}

static int index_names(lv_st_file *f)
{
    f->by_name = lv_calloc((size_t)f->n_tensors, sizeof *f->by_name, "the tensor name index");
    if (!f->by_name)
        return -1;
    for (int64_t i = 0; i < f->n_tensors; i++)
        f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, (size_t)f->n_tensors, sizeof *f->by_name, compare_names);
    for (int64_t i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name))
            return lv_set_error("%s: duplicate tensor name '%s' in the header; names must be "
                                "unique", f->path, f->by_name[i]->name);
    return 0;
}

/* The tensors, in offset order, must tile [0, data_bytes) exactly. */
static int check_tiling(const lv_st_file *f)
{
    int64_t expected = 0;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const lv_st_tensor *t = &f->tensors[i];
        if (t->begin < expected)
            return lv_set_error("%s: tensors '%s' [%" PRId64 ", %" PRId64 "] and '%s' [%" PRId64
                                ", %" PRId64 "] overlap in the data buffer; the header is corrupt",
                                f->path, f->tensors[i - 1].name, f->tensors[i - 1].begin,
                                expected, t->name, t->begin, t->end);
        if (t->begin > expected && i == 0)
            return lv_set_error("%s: the first tensor '%s' begins at data offset %" PRId64 ": "
                                "data_offsets must start at 0; the header is corrupt", f->path,
                                t->name, t->begin);
        if (t->begin > expected)
            return lv_set_error("%s: gap of %" PRId64 " bytes in the data buffer between tensor "
                                "'%s' (ends at %" PRId64 ") and tensor '%s' (begins at %" PRId64
                                "); the header is corrupt", f->path, t->begin - expected,
                                f->tensors[i - 1].name, expected, t->name, t->begin);
        expected = t->end;
    }
    if (expected > f->data_bytes)
        return lv_set_error("%s: the file looks truncated: the header describes %" PRId64 " bytes "
                            "of tensor data but %" PRId64 " follow it (expected a file of %"
                            PRId64 " bytes, got %" PRId64 "); copy or save the checkpoint again",
                            f->path, expected, f->data_bytes, f->data_start + expected,
                            f->data_start + f->data_bytes);
    if (expected < f->data_bytes)
        return lv_set_error("%s: the last %" PRId64 " bytes of the data buffer are not covered by "
                            "any tensor (tensors end at %" PRId64 ", data is %" PRId64 " bytes); "
                            "the file is corrupt", f->path, f->data_bytes - expected, expected,
                            f->data_bytes);
    return 0;
}

static int parse_header(lv_st_file *f, const char *text, size_t n)
{
    const char *end = text;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root)
        return lv_set_error("%s: header is not valid JSON (parse error at header byte %td of "
                            "%zu); the file is corrupt or not a safetensors file", f->path,
                            end - text, n);
    int rc = 0;
    if (!cJSON_IsObject(root))
        rc = lv_set_error("%s: header is not a JSON object; the file is corrupt or not a "
                          "safetensors file", f->path);
    else if (end + strspn(end, " \t\r\n") != text + n)
        rc = lv_set_error("%s: unexpected bytes after the JSON object at header byte %td; only "
                          "space padding may follow it", f->path, end - text);
    else
        rc = parse_entries(f, root);
    cJSON_Delete(root);
    if (rc)
        return rc;
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, compare_offsets);
    if (index_names(f))
        return -1;
    return check_tiling(f);
}

static int read_header(lv_st_file *f, int64_t file_bytes)
{
    unsigned char len8[8];
    if (read_exact(f, len8, 8, 0, "the header length"))
        return -1;
    uint64_t n = load_le(len8, 8);
    if (n > (uint64_t)LV_ST_MAX_HEADER_BYTES)
        return lv_set_error("%s: header length %" PRIu64 " exceeds the %" PRId64 " MiB limit; the "
                            "file is corrupt or not a safetensors file", f->path, n,
                            LV_ST_MAX_HEADER_BYTES >> 20);
    if ((int64_t)n > file_bytes - 8)
        return lv_set_error("%s: header length %" PRIu64 " runs past the end of the file (%"
                            PRId64 " bytes); the file looks truncated, copy or save it again",
                            f->path, n, file_bytes);
    char *text = lv_malloc((size_t)n + 1, "the safetensors header");
    if (!text)
        return -1;
    int rc = read_exact(f, text, (int64_t)n, 8, "the header");
    if (rc == 0) {
        text[n] = '\0';
        f->data_start = 8 + (int64_t)n;
        f->data_bytes = file_bytes - f->data_start;
        rc = parse_header(f, text, (size_t)n);
    }
    free(text);
    return rc;
}

lv_st_file *lv_st_open(const char *path)
{
    lv_st_file *f = lv_calloc(1, sizeof *f, "a safetensors reader");
    if (!f)
        return NULL;
    f->fd = -1;
    int64_t file_bytes = 0;
    f->path = dup_string(path, "a file path");
    if (!f->path || open_file(f, &file_bytes) || read_header(f, file_bytes)) {
        lv_st_close(f);
        return NULL;
    }
    return f;
}

void lv_st_close(lv_st_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    for (int64_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    for (int64_t i = 0; i < 2 * f->n_meta; i++)
        free(f->meta[i]);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->path);
    free(f);
}

/* ---- reader: lookups ------------------------------------------------------------------------ */

int64_t lv_st_count(const lv_st_file *f)
{
    return f->n_tensors;
}

const lv_st_tensor *lv_st_tensor_at(const lv_st_file *f, int64_t i)
{
    if (i < 0 || i >= f->n_tensors) {
        lv_set_error("%s: tensor index %" PRId64 " is out of range [0, %" PRId64 "); loop up to "
                     "lv_st_count()", f->path, i, f->n_tensors);
        return NULL;
    }
    return &f->tensors[i];
}

const lv_st_tensor *lv_st_find(const lv_st_file *f, const char *name)
{
    const lv_st_tensor *const *hit = bsearch(name, f->by_name, (size_t)f->n_tensors,
                                             sizeof *f->by_name, compare_name_key);
    return hit ? *hit : NULL;
}

int64_t lv_st_meta_count(const lv_st_file *f)
{
    return f->n_meta;
}

const char *lv_st_meta(const lv_st_file *f, const char *key)
{
    for (int64_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key))
            return f->meta[2 * i + 1];
    return NULL;
}

int lv_st_meta_at(const lv_st_file *f, int64_t i, const char **key, const char **value)
{
    if (i < 0 || i >= f->n_meta)
        return lv_set_error("%s: metadata index %" PRId64 " is out of range [0, %" PRId64 "); "
                            "loop up to lv_st_meta_count()", f->path, i, f->n_meta);
    *key = f->meta[2 * i];
    *value = f->meta[2 * i + 1];
    return 0;
}

/* ---- reader: tensor data -------------------------------------------------------------------- */

typedef void (*convert_fn)(lv_dtype dtype, void *out, const unsigned char *raw, int64_t count);

static float float_from_bits(uint32_t bits)
{
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* IEEE binary16 to binary32, exact: every half is a float. */
static float f16_to_f32(uint32_t h)
{
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0) {                                  /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 0x1f)                                 /* inf, or nan keeping its payload */
        return float_from_bits(sign | 0x7f800000u | man << 13);
    return float_from_bits(sign | (exp + 112) << 23 | man << 13);     /* rebias 15 -> 127 */
}

static float float_at(lv_dtype dtype, const unsigned char *p)
{
    uint64_t bits;
    double d;
    switch (dtype) {
    case LV_DT_F16:
        return f16_to_f32((uint32_t)load_le(p, 2));
    case LV_DT_BF16:                                 /* the high half of a binary32 */
        return float_from_bits((uint32_t)load_le(p, 2) << 16);
    case LV_DT_F64:
        bits = load_le(p, 8);
        memcpy(&d, &bits, sizeof d);
        return (float)d;
    default:
        return float_from_bits((uint32_t)load_le(p, 4));
    }
}

static void floats_from_raw(lv_dtype dtype, void *out, const unsigned char *raw, int64_t count)
{
    int size = dtypes[dtype].bits / 8;
    float *o = out;
    for (int64_t i = 0; i < count; i++)
        o[i] = float_at(dtype, raw + i * size);
}

static void ints_from_raw(lv_dtype dtype, void *out, const unsigned char *raw, int64_t count)
{
    int size = dtypes[dtype].bits / 8;
    int is_signed = dtype == LV_DT_I8 || dtype == LV_DT_I16 || dtype == LV_DT_I32;
    int64_t *o = out;
    for (int64_t i = 0; i < count; i++) {
        uint64_t v = load_le(raw + i * size, size);
        if (is_signed && v >> (8 * size - 1))        /* sign-extend */
            v |= ~(uint64_t)0 << (8 * size);
        o[i] = dtype == LV_DT_BOOL ? v != 0 : (int64_t)v;
    }
}

static int check_read(const lv_st_file *f, const lv_st_tensor *t, const void *out, int64_t n,
                      int convertible, const char *reader, const char *accepted)
{
    uintptr_t p = (uintptr_t)t, lo = (uintptr_t)f->tensors;
    if (!t || p < lo || p >= lo + (uintptr_t)f->n_tensors * sizeof *t)
        return lv_set_error("%s: %s got a tensor that does not come from this file; take it from "
                            "lv_st_find or lv_st_tensor_at on the same lv_st_file", f->path,
                            reader);
    if (!convertible)
        return lv_set_error("%s: tensor '%s' has dtype %s, which %s cannot convert: it reads %s",
                            f->path, t->name, dtypes[t->dtype].name, reader, accepted);
    if (n != t->numel || (!out && n > 0)) {
        char shape[256];
        return lv_set_error("%s: tensor '%s' has %" PRId64 " elements (shape %s) but %s was given "
                            "%s%" PRId64 " elements; allocate t->numel", f->path, t->name,
                            t->numel, shape_text(shape, sizeof shape, t->ndim, t->shape), reader,
                            out ? "" : "a NULL buffer of ", n);
    }
    return 0;
}

static int read_converted(lv_st_file *f, const lv_st_tensor *t, void *out, size_t out_size,
                          convert_fn convert)
{
    if (t->numel == 0)
        return 0;
    int64_t size = dtypes[t->dtype].bits / 8;
    int64_t chunk = t->numel < READ_CHUNK_BYTES / size ? t->numel : READ_CHUNK_BYTES / size;
    unsigned char *raw = lv_malloc((size_t)(chunk * size), "a tensor read buffer");
    if (!raw)
        return -1;
    char what[128];
    snprintf(what, sizeof what, "tensor '%s'", t->name);
    int rc = 0;
    for (int64_t i = 0; i < t->numel && rc == 0; i += chunk) {
        int64_t count = t->numel - i < chunk ? t->numel - i : chunk;
        rc = read_exact(f, raw, count * size, f->data_start + t->begin + i * size, what);
        if (rc == 0)
            convert(t->dtype, (char *)out + (size_t)i * out_size, raw, count);
    }
    free(raw);
    return rc;
}

int lv_st_read_f32(lv_st_file *f, const lv_st_tensor *t, float *out, int64_t n)
{
    lv_dtype d = t ? t->dtype : LV_DT_COUNT;
    int ok = d == LV_DT_F32 || d == LV_DT_F16 || d == LV_DT_BF16 || d == LV_DT_F64;
    if (check_read(f, t, out, n, ok, "lv_st_read_f32",
                   "F32, F16, BF16 and F64 (use lv_st_read_i64 for integer tensors)"))
        return -1;
    return read_converted(f, t, out, sizeof *out, floats_from_raw);
}

int lv_st_read_i64(lv_st_file *f, const lv_st_tensor *t, int64_t *out, int64_t n)
{
    lv_dtype d = t ? t->dtype : LV_DT_COUNT;
    int ok = d == LV_DT_I64 || d == LV_DT_I32 || d == LV_DT_I16 || d == LV_DT_I8 ||
             d == LV_DT_U8 || d == LV_DT_U16 || d == LV_DT_U32 || d == LV_DT_BOOL;
    if (check_read(f, t, out, n, ok, "lv_st_read_i64",
                   "I64, I32, I16, I8, U8, U16, U32 and BOOL (use lv_st_read_f32 for floats)"))
        return -1;
    return read_converted(f, t, out, sizeof *out, ints_from_raw);
}

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct {
    char *name;
    lv_dtype dtype;
    int ndim;
    int64_t shape[LV_ST_MAX_DIMS];
    int64_t bytes;
    const void *data;                   /* borrowed from the caller */
} writer_entry;

struct lv_st_writer {
    writer_entry *entries;              /* (cap_entries,) in the order added */
    int64_t n_entries, cap_entries;
    char **meta;                        /* (2 * cap_meta,) key, value, ... in the order set */
    int64_t n_meta, cap_meta;
    int failed;                         /* an add or meta call failed: the write refuses */
    char first_error[512];
};

lv_st_writer *lv_st_writer_new(void)
{
    return lv_calloc(1, sizeof(lv_st_writer), "a safetensors writer");
}

void lv_st_writer_free(lv_st_writer *w)
{
    if (!w)
        return;
    for (int64_t i = 0; i < w->n_entries; i++)
        free(w->entries[i].name);
    for (int64_t i = 0; i < 2 * w->n_meta; i++)
        free(w->meta[i]);
    free(w->entries);
    free(w->meta);
    free(w);
}

/* items grown to hold one more (item_bytes each); NULL + error, items untouched, on failure. */
static void *grow(void *items, int64_t count, int64_t *cap, size_t item_bytes, const char *what)
{
    if (count < *cap)
        return items;
    int64_t cap2 = *cap ? 2 * *cap : 16;
    void *p = realloc(items, (size_t)cap2 * item_bytes);
    if (!p) {
        lv_set_error("out of memory growing %s to %" PRId64 " entries", what, cap2);
        return NULL;
    }
    *cap = cap2;
    return p;
}

/* Records the first failure so that lv_st_writer_write refuses to write. */
static int writer_status(lv_st_writer *w, int rc)
{
    if (rc && !w->failed) {
        w->failed = 1;
        snprintf(w->first_error, sizeof w->first_error, "%s", lv_error());
    }
    return rc;
}

static int check_new_tensor(const lv_st_writer *w, const char *name, lv_dtype dtype,
                            const void *data, int ndim, const int64_t *shape, int64_t *bytes)
{
    if (!name)
        return lv_set_error("lv_st_writer_add: the tensor name is NULL");
    if (!strcmp(name, "__metadata__"))
        return lv_set_error("lv_st_writer_add: \"__metadata__\" is reserved for the metadata map; "
                            "rename the tensor");
    for (int64_t i = 0; i < w->n_entries; i++)
        if (!strcmp(w->entries[i].name, name))
            return lv_set_error("lv_st_writer_add: duplicate tensor name '%s'; each tensor needs "
                                "a unique name", name);
    if (ndim < 0 || ndim > LV_ST_MAX_DIMS || (ndim > 0 && !shape))
        return lv_set_error("lv_st_writer_add: tensor '%s': ndim %d is outside [0, %d] or shape "
                            "is NULL", name, ndim, LV_ST_MAX_DIMS);
    int64_t numel = shape_numel(ndim, shape, dtypes[dtype].bits);
    char text[256];
    if (numel < 0)
        return lv_set_error("lv_st_writer_add: tensor '%s': shape %s has a negative dim or "
                            "overflows a 64-bit byte count", name,
                            shape_text(text, sizeof text, ndim, shape));
    if (!data && numel > 0)
        return lv_set_error("lv_st_writer_add: tensor '%s': data is NULL but shape %s has %"
                            PRId64 " elements", name, shape_text(text, sizeof text, ndim, shape),
                            numel);
    *bytes = numel * dtypes[dtype].bits / 8;
    return 0;
}

static int writer_add(lv_st_writer *w, const char *name, lv_dtype dtype, const void *data,
                      int ndim, const int64_t *shape)
{
    int64_t bytes = 0;
    if (check_new_tensor(w, name, dtype, data, ndim, shape, &bytes))
        return writer_status(w, -1);
    writer_entry *entries = grow(w->entries, w->n_entries, &w->cap_entries, sizeof *entries,
                                 "the writer's tensor list");
    if (!entries)
        return writer_status(w, -1);
    w->entries = entries;
    writer_entry *e = &entries[w->n_entries];
    e->name = dup_string(name, "a tensor name");
    if (!e->name)
        return writer_status(w, -1);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        e->shape[d] = shape[d];
    e->bytes = bytes;
    e->data = data;
    w->n_entries++;
    return 0;
}

int lv_st_writer_add_f32(lv_st_writer *w, const char *name, const float *data, int ndim,
                         const int64_t *shape)
{
    return writer_add(w, name, LV_DT_F32, data, ndim, shape);
}

int lv_st_writer_add_i64(lv_st_writer *w, const char *name, const int64_t *data, int ndim,
                         const int64_t *shape)
{
    return writer_add(w, name, LV_DT_I64, data, ndim, shape);
}

int lv_st_writer_add_i32(lv_st_writer *w, const char *name, const int32_t *data, int ndim,
                         const int64_t *shape)
{
    return writer_add(w, name, LV_DT_I32, data, ndim, shape);
}

int lv_st_writer_add_u8(lv_st_writer *w, const char *name, const uint8_t *data, int ndim,
                        const int64_t *shape)
{
    return writer_add(w, name, LV_DT_U8, data, ndim, shape);
}

int lv_st_writer_meta(lv_st_writer *w, const char *key, const char *value)
{
    if (!key || !value)
        return writer_status(w, lv_set_error("lv_st_writer_meta: key and value must not be NULL"));
    for (int64_t i = 0; i < w->n_meta; i++)
        if (!strcmp(w->meta[2 * i], key))
            return writer_status(w, lv_set_error("lv_st_writer_meta: metadata key '%s' is already "
                                                 "set; each key may appear once", key));
    char **meta = grow(w->meta, w->n_meta, &w->cap_meta, 2 * sizeof *meta, "the metadata");
    if (!meta)
        return writer_status(w, -1);
    w->meta = meta;
    char **pair = &meta[2 * w->n_meta];
    pair[0] = dup_string(key, "a metadata key");
    pair[1] = pair[0] ? dup_string(value, "a metadata value") : NULL;
    if (!pair[1]) {
        free(pair[0]);
        return writer_status(w, -1);
    }
    w->n_meta++;
    return 0;
}

/* Integers go in as raw JSON text: cJSON prints numbers above INT_MAX with %1.15g, which turns
 * 10^15 into 1e+15, and safetensors readers want plain integers. */
static int json_add_ints(cJSON *obj, const char *key, const int64_t *v, int n)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    for (int i = 0; arr && i < n; i++) {
        char digits[24];
        snprintf(digits, sizeof digits, "%" PRId64, v[i]);
        if (!cJSON_AddItemToArray(arr, cJSON_CreateRaw(digits)))
            return 0;
    }
    return arr != NULL;
}

static int json_add_tensor(cJSON *root, const writer_entry *e, int64_t offset)
{
    cJSON *obj = cJSON_AddObjectToObject(root, e->name);
    int64_t offsets[2] = { offset, offset + e->bytes };
    return obj && cJSON_AddStringToObject(obj, "dtype", dtypes[e->dtype].name) &&
           json_add_ints(obj, "shape", e->shape, e->ndim) &&
           json_add_ints(obj, "data_offsets", offsets, 2);
}

static int json_add_meta(cJSON *root, const lv_st_writer *w)
{
    if (w->n_meta == 0)
        return 1;
    cJSON *obj = cJSON_AddObjectToObject(root, "__metadata__");
    for (int64_t i = 0; obj && i < w->n_meta; i++)
        if (!cJSON_AddStringToObject(obj, w->meta[2 * i], w->meta[2 * i + 1]))
            return 0;
    return obj != NULL;
}

/* The header JSON (__metadata__ first, then tensors in the order added) padded with spaces to a
 * multiple of 8 bytes, so that the data buffer starts 8-byte aligned. */
static char *header_build(const lv_st_writer *w, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root && json_add_meta(root, w);
    int64_t offset = 0;
    for (int64_t i = 0; ok && i < w->n_entries; i++) {
        ok = json_add_tensor(root, &w->entries[i], offset);
        offset += w->entries[i].bytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) {
        lv_set_error("out of memory building the safetensors header of %" PRId64 " tensors",
                     w->n_entries);
        return NULL;
    }
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    char *header = lv_malloc(padded, "the safetensors header");
    if (header) {
        memcpy(header, json, n);
        memset(header + n, ' ', padded - n);
        *len = padded;
    }
    cJSON_free(json);
    return header;
}

static int write_contents(FILE *fp, const lv_st_writer *w, const char *header,
                          size_t header_len, const char *path)
{
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(header, 1, header_len, fp) == header_len;
    for (int64_t i = 0; ok && i < w->n_entries; i++) {
        const writer_entry *e = &w->entries[i];
        ok = e->bytes == 0 || fwrite(e->data, 1, (size_t)e->bytes, fp) == (size_t)e->bytes;
    }
    return ok ? 0 : lv_set_error("%s: writing the temporary file failed: %s; check free disk "
                                 "space (an existing %s is unchanged)", path, strerror(errno),
                                 path);
}

static int finish_temp(FILE *fp, const char *path, int rc)
{
    if (rc == 0 && (fflush(fp) != 0 || fsync(fileno(fp)) != 0))
        rc = lv_set_error("%s: flushing the temporary file to disk failed: %s; check free disk "
                          "space", path, strerror(errno));
    if (fclose(fp) != 0 && rc == 0)
        rc = lv_set_error("%s: closing the temporary file failed: %s; check free disk space",
                          path, strerror(errno));
    return rc;
}

/* After the rename, fsync the directory so the new name itself survives a power cut. Best effort:
 * the file is already complete and in place, so a failure here is not an error. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    const int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* What to do about a file that cannot be created, from the OS reason. */
static const char *create_advice(int err)
{
    switch (err) {
    case ENOENT: case ENOTDIR: return "check that the folder exists";
    case EACCES: case EPERM: case EROFS: return "check that the folder is writable";
    case ENOSPC: case EDQUOT: return "free some disk space";
    default: return "check the folder";
    }
}

/* Creates a temporary file beside path under a name no other writer uses: the PID alone is not
 * unique (every container's first process is PID 1), so a temp left by a killed save would
 * make every later save fail with "File exists". O_EXCL with a fresh random suffix, retried,
 * as mkstemp does, but with the umask's permissions (mkstemp's are 0600). */
FILE *lv_file_temp_create(const char *path, char *tmp, size_t tmp_size)
{
    static unsigned counter;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
                     ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)__atomic_fetch_add(&counter, 1,
                                                                   __ATOMIC_RELAXED) << 40);
        x ^= x >> 33;                               /* mix (splitmix64's finaliser) */
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        snprintf(tmp, tmp_size, "%s.tmp-%012" PRIx64, path, (uint64_t)(x & 0xffffffffffffULL));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && !fp) {
        const int err = errno;
        close(fd);
        remove(tmp);
        errno = err;
    }
    return fp;
}

static int write_atomic(const lv_st_writer *w, const char *path, const char *header,
                        size_t header_len)
{
    size_t tmp_size = strlen(path) + 32;
    char *tmp = lv_malloc(tmp_size, "a temporary file name");
    if (!tmp)
        return -1;
    FILE *fp = lv_file_temp_create(path, tmp, tmp_size);
    int rc = 0;
    if (!fp) {
        rc = lv_set_error("%s: cannot create the temporary file %s: %s; %s", path, tmp,
                          strerror(errno), create_advice(errno));
    } else {
        rc = finish_temp(fp, path, write_contents(fp, w, header, header_len, path));
        if (rc == 0 && rename(tmp, path) != 0)
            rc = lv_set_error("%s: cannot rename the temporary file %s over it: %s; an existing "
                              "%s is unchanged", path, tmp, strerror(errno), path);
        if (rc != 0)
            remove(tmp);            /* every failure path: no temp is left behind */
        else
            sync_parent_dir(path);
    }
    free(tmp);
    return rc;
}

int lv_st_writer_write(const lv_st_writer *w, const char *path)
{
    if (w->failed)
        return lv_set_error("%s: not written because an earlier call on this writer failed (%s); "
                            "fix that call and build a new writer", path, w->first_error);
    size_t header_len = 0;
    char *header = header_build(w, &header_len);
    if (!header)
        return -1;
    int rc = (int64_t)header_len > LV_ST_MAX_HEADER_BYTES
           ? lv_set_error("%s: the header would be %zu bytes, over the %" PRId64 " MiB readers "
                          "accept; save fewer tensors or shorter names and metadata", path,
                          header_len, LV_ST_MAX_HEADER_BYTES >> 20)
           : write_atomic(w, path, header, header_len);
    free(header);
    return rc;
}

void lv_st_shape_text(char *out, size_t size, int ndim, const int64_t *shape,
                      const char *brackets)
{
    size_t n = (size_t)snprintf(out, size, "%c", brackets[0]);
    for (int d = 0; d < ndim && n < size; d++)
        n += (size_t)snprintf(out + n, size - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < size)
        snprintf(out + n, size - n, "%c", brackets[1]);
}
