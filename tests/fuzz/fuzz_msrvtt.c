/* data/manifest.c's MSR-VTT videodatainfo loader (lv_msrvtt_load) on arbitrary bytes; the low
 * bit of the size picks first_only, so both ways of counting captions are fuzzed. */
#include "fuzz.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_clip_list l;
    if (lv_msrvtt_load(&l, fuzz_file("msrvtt", data, size), "videos", "test",
                       (int)(size & 1)) == 0) {
        for (int64_t i = 0; i < l.n; i++)
            if (!l.e[i].video || !l.e[i].caption || !l.e[i].id)
                abort();                   /* every counted slot must have been filled */
        lv_clip_list_free(&l);
    }
    return 0;
}
