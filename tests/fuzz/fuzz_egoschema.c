/* data/manifest.c's EgoSchema loader (lv_egoschema_load): the input up to its first NUL byte is
 * questions.json, the rest (when there is a NUL) the answers file; JSON text holds no NUL, so
 * one input covers both files and the no-answers case. */
#include "fuzz.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    const size_t nq = nul ? (size_t)(nul - data) : size;
    static char answers[600];
    const char *questions = fuzz_file("egoschema-q", data, nq);
    if (nul) {
        snprintf(answers, sizeof answers, "%s.answers", questions);
        fuzz_write(answers, nul + 1, size - nq - 1);
    }
    lv_mcq_list q;
    if (lv_egoschema_load(&q, questions, nul ? answers : NULL, "videos") == 0) {
        for (int64_t i = 0; i < q.n; i++)
            if (q.e[i].answer < -1 || q.e[i].answer > 4 || !q.e[i].id)
                abort();
        lv_mcq_list_free(&q);
    }
    return 0;
}
