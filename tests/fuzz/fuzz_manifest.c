/* data/manifest.c's JSON Lines training manifest (lv_manifest_load) on arbitrary bytes, without
 * the file-existence check (check_files 0) so that paths are only parsed and resolved. */
#include "fuzz.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_clip_list l;
    if (lv_manifest_load(&l, fuzz_file("manifest", data, size), 0) == 0) {
        for (int64_t i = 0; i < l.n; i++)
            if (!l.e[i].video || !l.e[i].caption || l.e[i].start < 0)
                abort();
        lv_clip_list_free(&l);
    } else if (l.n || l.e) {
        abort();                           /* on failure the list must come back empty */
    }
    return 0;
}
