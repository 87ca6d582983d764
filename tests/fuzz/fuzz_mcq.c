/* data/manifest.c's mcq.jsonl (lv_mcq_load) on arbitrary bytes, paths parsed but not checked. */
#include "fuzz.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_mcq_list q;
    if (lv_mcq_load(&q, fuzz_file("mcq", data, size), 0) == 0) {
        for (int64_t i = 0; i < q.n; i++)
            if (!q.e[i].video || !q.e[i].question || q.e[i].answer < -1 || q.e[i].answer > 4)
                abort();
        lv_mcq_list_free(&q);
    } else if (q.n || q.e) {
        abort();
    }
    return 0;
}
