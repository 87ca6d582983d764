/* Still images in and out as plain RGB24: PNG through libpng's simplified png_image API, JPEG
 * through libavcodec's mjpeg decoder, chosen by the file's signature, never by its extension.
 * No colour management beyond what libpng does by itself, no EXIF orientation, no setjmp. */
#ifndef LV_IMAGE_H
#define LV_IMAGE_H

#include <stdint.h>

#define LV_IMAGE_MAX_SIDE 16384     /* larger sides are refused as absurd */

typedef struct {
    int64_t width, height;
    uint8_t *rgb;                   /* (height, width, 3) RGB24, row-major, no padding */
} lv_image;

/* Reads a PNG (signature 89 'PNG' 0D 0A 1A 0A) or a baseline/progressive JPEG (FF D8 FF).
 * PNG: every format (grey, palette, 16-bit, with alpha) becomes 8-bit sRGB RGB. Alpha (an alpha
 * channel or tRNS) is dropped, not composited: the colour values stay as stored, like PIL's
 * convert("RGB") in CLIP's preprocessing. 16-bit files without a gAMA or sRGB chunk are taken as
 * sRGB-encoded (PNG_IMAGE_FLAG_16BIT_sRGB: v / 257); with one, libpng converts to sRGB.
 * JPEG: the whole file is one packet for the mjpeg decoder, converted to RGB24 by swscale with
 * the stream's colour range; the file must end its last scan with an EOI marker.
 * Returns 0, or -1 with lv_error() naming the file: missing, not an image, truncated or corrupt,
 * or a side above LV_IMAGE_MAX_SIDE. *out is zeroed on failure. */
int lv_image_read(lv_image *out, const char *path);

/* Writes rgb (height, width, 3) as an 8-bit RGB PNG, atomically: into path.tmp-PID, then renamed
 * over path, so an existing file is either the old or the new picture. Sides 1..16384. */
int lv_image_write_png(const char *path, const uint8_t *rgb, int64_t width, int64_t height);

void lv_image_free(lv_image *img);

#endif
