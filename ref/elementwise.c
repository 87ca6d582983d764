/* Elementwise utilities the graph calls through the backend table, so that device backends can
 * do them where the data lives: in-place scaling and zeroing. */
#include "kernels.h"

#include <string.h>

void lv_scale(float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

void lv_zero(float *x, int64_t n)
{
    if (n > 0)
        memset(x, 0, (size_t)n * sizeof *x);
}
