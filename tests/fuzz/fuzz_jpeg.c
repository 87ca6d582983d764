/* data/image.c's lv_image_read on JPEG (our marker scan, then libavcodec's mjpeg decoder and
 * swscale): fuzz_image in fuzz.h. */
#define LV_FUZZ_IMAGE
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_image(data, size, "\xff\xd8\xff", 3, "jpeg");
}
