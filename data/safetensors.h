/* Safetensors checkpoints: open a file, validate its header, read tensors on demand (converted
 * to float or int64); write float/int64 tensors plus string metadata atomically and byte for
 * byte deterministically. No mmap, no whole-file reads (checkpoints can be GBs), no big-endian. */
#ifndef LV_SAFETENSORS_H
#define LV_SAFETENSORS_H

#include <stdint.h>
#include <stdio.h>

/* Every dtype the safetensors format names. F4 and F6_* pack 4 and 6 bits per element. */
typedef enum {
    LV_DT_F64, LV_DT_F32, LV_DT_F16, LV_DT_BF16,
    LV_DT_I64, LV_DT_I32, LV_DT_I16, LV_DT_I8,
    LV_DT_U8, LV_DT_BOOL, LV_DT_U16, LV_DT_U32, LV_DT_U64,
    LV_DT_F8_E4M3, LV_DT_F8_E5M2, LV_DT_F8_E8M0,
    LV_DT_F4, LV_DT_F6_E2M3, LV_DT_F6_E3M2, LV_DT_C64,
    LV_DT_COUNT
} lv_dtype;

/* The header spelling ("F32", "BF16", ...); "invalid" outside the enum. */
const char *lv_dtype_name(lv_dtype dtype);

#define LV_ST_MAX_DIMS 8
#define LV_ST_MAX_HEADER_BYTES ((int64_t)100 << 20)     /* 100 MiB, refused beyond */

typedef struct {
    char *name;
    lv_dtype dtype;
    int ndim;
    int64_t shape[LV_ST_MAX_DIMS];      /* (ndim,) */
    int64_t numel;                      /* product of shape; 1 for ndim == 0 */
    int64_t begin, end;                 /* bytes [begin, end) of the data buffer after the header */
} lv_st_tensor;

/* ---- reader ---------------------------------------------------------------------------------
 * lv_st_open reads and validates the header only and keeps the file open; tensor bytes are read
 * with pread when asked for, so several threads may read from one open file at once. */
typedef struct lv_st_file lv_st_file;

lv_st_file *lv_st_open(const char *path);          /* NULL + lv_error() on failure */
void lv_st_close(lv_st_file *f);                   /* NULL is fine */

int64_t lv_st_count(const lv_st_file *f);
/* Tensor i in file order (increasing data offset); NULL + lv_error() if i is out of range. */
const lv_st_tensor *lv_st_tensor_at(const lv_st_file *f, int64_t i);
/* The tensor called name, or NULL when there is none (not an error: lv_error() is untouched). */
const lv_st_tensor *lv_st_find(const lv_st_file *f, const char *name);

/* __metadata__ entries, in header order. lv_st_meta returns NULL when key is absent. */
int64_t lv_st_meta_count(const lv_st_file *f);
const char *lv_st_meta(const lv_st_file *f, const char *key);
int lv_st_meta_at(const lv_st_file *f, int64_t i, const char **key, const char **value);

/* Read tensor t (from this f) into out, (n,) with n == t->numel. lv_st_read_f32 converts F32,
 * F16, BF16 (exactly) and F64 (rounded); lv_st_read_i64 converts I64, I32, I16, I8, U8, U16, U32
 * and BOOL (0/1). Any other dtype, a wrong n or a short read: -1 + lv_error(). */
int lv_st_read_f32(lv_st_file *f, const lv_st_tensor *t, float *out, int64_t n);
int lv_st_read_i64(lv_st_file *f, const lv_st_tensor *t, int64_t *out, int64_t n);

/* ---- writer ---------------------------------------------------------------------------------
 * Collects tensors (the data pointers, not copies: they must stay valid until the write) and
 * metadata, then writes the file. Tensors are laid out in the order added, contiguous; the header
 * is padded with spaces so the data starts 8-byte aligned; same inputs give identical bytes.
 * A failed add or meta call poisons the writer: lv_st_writer_write then refuses, so a checkpoint
 * with a missing tensor never reaches disk. */
typedef struct lv_st_writer lv_st_writer;

lv_st_writer *lv_st_writer_new(void);              /* NULL + lv_error() when out of memory */
void lv_st_writer_free(lv_st_writer *w);           /* NULL is fine */

/* data: (shape[0], ..., shape[ndim-1]) row-major; may be NULL only for a zero-size tensor.
 * Refused: duplicate names, "__metadata__", ndim outside [0, LV_ST_MAX_DIMS], negative dims. */
int lv_st_writer_add_f32(lv_st_writer *w, const char *name, const float *data, int ndim,
                         const int64_t *shape);
int lv_st_writer_add_i64(lv_st_writer *w, const char *name, const int64_t *data, int ndim,
                         const int64_t *shape);
/* The same for I32 (token ids) and U8 (masks) tensors. */
int lv_st_writer_add_i32(lv_st_writer *w, const char *name, const int32_t *data, int ndim,
                         const int64_t *shape);
int lv_st_writer_add_u8(lv_st_writer *w, const char *name, const uint8_t *data, int ndim,
                        const int64_t *shape);
/* A __metadata__ entry; keys must be unique. Both strings are copied. */
int lv_st_writer_meta(lv_st_writer *w, const char *key, const char *value);

/* A shape as text for messages, "[2, 3]" with brackets "[]" (safetensors' own notation) or
 * "(2, 3)" with "()" (PyTorch's); cut short to fit size. */
void lv_st_shape_text(char *out, size_t size, int ndim, const int64_t *shape,
                      const char *brackets);

/* Every atomic writer's temporary file: a new file beside path named path.tmp-<12 random hex>
 * (O_EXCL, retried: unique even where every container's first process is PID 1, so a temp left
 * by a killed writer never blocks a later one), opened for writing; its name in tmp (at least
 * strlen(path) + 32 bytes). NULL with errno set on failure. Rename it over path when complete,
 * remove it on every failure. */
FILE *lv_file_temp_create(const char *path, char *tmp, size_t tmp_size);

/* Writes a temporary file (lv_file_temp_create), flushes and fsyncs it, then renames it over
 * path. On any failure the temporary file is removed and an existing file at path is left as it
 * was. The writer is not consumed: writing it again gives the same bytes. */
int lv_st_writer_write(const lv_st_writer *w, const char *path);

#endif
