/* data/image.c's lv_image_read on PNG (libpng's simplified API: every colour type and bit depth
 * becomes 8-bit RGB): fuzz_image in fuzz.h. */
#define LV_FUZZ_IMAGE
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_image(data, size, "\x89PNG\r\n\x1a\n", 8, "png");
}
