/* data/safetensors.c's reader on arbitrary bytes: open (the whole header is validated), list every
 * tensor and metadata entry, and read each small tensor as f32 and i64 as the callers do. */
#include "fuzz.h"
#include "safetensors.h"

#define MAX_READ (1 << 16)      /* elements: bigger tensors are listed, not read */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_st_file *f = lv_st_open(fuzz_file("safetensors", data, size));
    if (!f)
        return 0;
    static float out_f[MAX_READ];
    static int64_t out_i[MAX_READ];
    for (int64_t i = 0; i < lv_st_count(f); i++) {
        const lv_st_tensor *t = lv_st_tensor_at(f, i);
        if (lv_st_find(f, t->name) != t)
            abort();                       /* names are unique: find must return this one */
        if (t->numel <= MAX_READ) {
            lv_st_read_f32(f, t, out_f, t->numel);
            lv_st_read_i64(f, t, out_i, t->numel);
        }
    }
    for (int64_t i = 0; i < lv_st_meta_count(f); i++) {
        const char *k, *v;
        if (lv_st_meta_at(f, i, &k, &v) == 0 && lv_st_meta(f, k) == NULL)
            abort();                       /* a listed key must be found */
    }
    lv_st_close(f);
    return 0;
}
