/* data/manifest.c's YouCook2 annotations loader (lv_youcook2_load) on arbitrary bytes. The video
 * folder does not exist, so every video resolves to its .mp4 name after the .mkv/.webm probes. */
#include "fuzz.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_clip_list l;
    if (lv_youcook2_load(&l, fuzz_file("youcook2", data, size), "/nonexistent-lv-fuzz",
                         "validation") == 0) {
        for (int64_t i = 0; i < l.n; i++)
            if (!(l.e[i].start >= 0 && l.e[i].start < l.e[i].end))
                abort();                   /* the loader promises 0 <= start < end */
        lv_clip_list_free(&l);
    }
    return 0;
}
