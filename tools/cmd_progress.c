/* Small services of the commands: progress lines (rewritten in place on a terminal, plain
 * lines every few seconds otherwise, so CI logs stay readable) and the backend by name. */
#include "commands.h"
#include "blas_glue.h"

#include <string.h>

#include <time.h>
#include <unistd.h>

double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_report(const char *what, long long done, long long total)
{
    static double start, last;
    static const char *current;
    const double t = wall_seconds();
    if (current != what || done <= 1) {
        current = what;
        start = last = t;
    }
    const double rate = t > start ? done / (t - start) : 0.0;
    const double eta = rate > 0 ? (total - done) / rate : 0.0;
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r%s: %lld/%lld  %.1f/s  ETA %.0fs   ", what, done, total, rate, eta);
        if (done == total)
            fprintf(stderr, "\n");
    } else if (t - last >= 5.0 || done == total) {
        fprintf(stderr, "%s: %lld/%lld (%.1f/s)\n", what, done, total, rate);
        last = t;
    }
}

const lv_backend *backend_by_name(const char *name)
{
    return lv_backend_find(name);
}
