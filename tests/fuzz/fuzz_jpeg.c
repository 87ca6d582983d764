/* data/image.c's lv_image_read on JPEG (our marker scan, then
 * libavcodec's mjpeg decoder and swscale). The reader picks the format by
 * signature, so an input that lacks the JPEG signature gets it prepended: every input reaches
 * the JPEG path. */
#include "fuzz.h"
#include "image.h"

#define SIG "\xff\xd8\xff"
#define SIG_BYTES 3
#define MAX_INPUT (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[SIG_BYTES + MAX_INPUT];
    if (size > MAX_INPUT)
        return 0;
    size_t n = 0;
    if (size < SIG_BYTES || memcmp(data, SIG, SIG_BYTES)) {
        memcpy(buf, SIG, SIG_BYTES);
        n = SIG_BYTES;
    }
    memcpy(buf + n, data, size);
    lv_image img;
    if (lv_image_read(&img, fuzz_file("jpeg", buf, n + size)) == 0) {
        if (img.width < 1 || img.height < 1 || img.width > LV_IMAGE_MAX_SIDE ||
            img.height > LV_IMAGE_MAX_SIDE || !img.rgb)
            abort();
        /* touch the last byte: the buffer must hold height * width * 3 */
        volatile uint8_t last = img.rgb[(size_t)(img.width * img.height * 3) - 1];
        (void)last;
        lv_image_free(&img);
    } else if (img.rgb) {
        abort();                           /* *out is zeroed on failure */
    }
    return 0;
}
