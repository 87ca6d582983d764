/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): the parsers under test read files, so
 * each input is written to one scratch file per process and the real parser opens it. */
#ifndef LV_FUZZ_H
#define LV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The scratch file for this process (under TMPDIR, /dev/shm where it exists: the fuzzer rewrites
 * it a million times, and tmpfs keeps that off the disk). name tells harnesses' files apart. */
static const char *fuzz_path(const char *name)
{
    static char path[512];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        if (!dir)
            dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/lv-fuzz-%s-%ld", dir, name, (long)getpid());
    }
    return path;
}

/* Writes data to path; aborts when it cannot (a broken harness, not a finding). */
static void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp)) {
        perror(path);
        abort();
    }
}

/* The input written to this harness's scratch file; returns its path. */
static const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(name);
    fuzz_write(path, data, size);
    return path;
}

#ifdef LV_FUZZ_IMAGE
#include "image.h"

/* The image harnesses (fuzz_png.c, fuzz_jpeg.c): data/image.c's lv_image_read picks the format
 * by signature, so an input that lacks sig gets it prepended and every input reaches that
 * format's path; a success must hold width * height * 3 bytes, a failure none. */
static int fuzz_image(const uint8_t *data, size_t size, const char *sig, size_t sig_bytes,
                      const char *name)
{
    enum { MAX_INPUT = 1 << 20 };
    static uint8_t buf[16 + MAX_INPUT];
    if (size > MAX_INPUT || sig_bytes > 16)
        return 0;
    size_t n = 0;
    if (size < sig_bytes || memcmp(data, sig, sig_bytes)) {
        memcpy(buf, sig, sig_bytes);
        n = sig_bytes;
    }
    memcpy(buf + n, data, size);
    lv_image img;
    if (lv_image_read(&img, fuzz_file(name, buf, n + size)) == 0) {
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
#endif

#endif
