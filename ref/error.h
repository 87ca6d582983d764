/* Error reporting shared by the whole library: a function that can fail returns -1 (or NULL)
 * and leaves one human-readable message, naming the file and the fix, in a thread-local buffer.
 * No global error codes to decode, no printing from inside the library. */
#ifndef LV_ERROR_H
#define LV_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define LV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LV_PRINTF(a, b)
#endif

/* Sets the calling thread's last error message; always returns -1 so callers can write
 * `return lv_set_error("...")`. */
int lv_set_error(const char *fmt, ...) LV_PRINTF(1, 2);

/* The calling thread's last error message ("" if none). Valid until the next lv_set_error. */
const char *lv_error(void);

/* malloc/calloc that record "out of memory allocating N bytes for WHAT" on failure. */
void *lv_malloc(size_t bytes, const char *what);
void *lv_calloc(size_t count, size_t size, const char *what);

/* Layout preconditions at kernel entry: stays on in release builds (a wrong shape is a bug in
 * the caller, and silently computing garbage is worse than stopping). */
#define LV_REQUIRE(cond) \
    ((cond) ? (void)0 : lv_require_failed(#cond, __FILE__, __LINE__, __func__))
#ifdef __cplusplus                      /* cuda/ includes this header from C++ */
[[noreturn]] void lv_require_failed(const char *cond, const char *file, int line,
                                    const char *func);
#else
_Noreturn void lv_require_failed(const char *cond, const char *file, int line, const char *func);
#endif

/* A failed LV_REQUIRE leaves its message in lv_error() and calls this hook, when one is set,
 * before abort(): the library prints nothing, so a program sets a hook that shows the message
 * (tools/longvivit.c, tests/run_tests.c). Set once, before any thread starts. */
typedef void lv_fatal_fn(const char *message);
void lv_set_fatal_hook(lv_fatal_fn *hook);

#endif
