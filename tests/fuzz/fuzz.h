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

#endif
