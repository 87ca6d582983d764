/* data/model_io.c's lv_config_from_file on arbitrary bytes: the safetensors header, the "format"
 * metadata check, then every line of the stored configuration through lv_config_set and
 * lv_config_validate, as loading a checkpoint does. */
#include "config.h"
#include "fuzz.h"
#include "model_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_config c;
    lv_config_from_file(&c, fuzz_file("model_io", data, size));
    return 0;
}
