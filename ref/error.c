/* Thread-local last-error message and checked allocation (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[16384];   /* room to name every bad tensor of a file */

int lv_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *lv_error(void)
{
    return last_error;
}

void *lv_malloc(size_t bytes, const char *what)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        lv_set_error("out of memory allocating %zu bytes for %s: use a smaller configuration "
                     "(batch, frames, mask ratio) or free memory", bytes, what);
    return p;
}

void *lv_calloc(size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        lv_set_error("out of memory allocating %zu x %zu bytes for %s: use a smaller "
                     "configuration (batch, frames, mask ratio) or free memory", count, size, what);
    return p;
}

static lv_fatal_fn *fatal_hook;

void lv_set_fatal_hook(lv_fatal_fn *hook)
{
    fatal_hook = hook;
}

void lv_require_failed(const char *cond, const char *file, int line, const char *func)
{
    lv_set_error("longvivit: internal precondition failed in %s (%s:%d): %s\n"
                 "This is a bug in the caller of %s; please report it with the command you ran.",
                 func, file, line, cond, func);
    if (fatal_hook)
        fatal_hook(lv_error());
    abort();
}
