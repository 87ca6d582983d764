/* The ref backend's memory (plain host memory: calloc, free, memcpy) and the few elementwise
 * steps the graph and the optimiser call through the table, so that a device backend does them
 * where the data lives. Plain loops; the optimiser's arithmetic in double per entry. */
#include "kernels.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory: the host is the backend --------------------------------------------------------- */

void *lv_host_alloc(size_t bytes, const char *what)
{
    /* zeroed, like every backend's alloc; at least one byte so that empty buffers are not NULL */
    return lv_calloc(bytes ? bytes : 1, 1, what);
}

void lv_host_free(void *p)
{
    free(p);
}

void lv_host_upload(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
}

void lv_host_download(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
}

void lv_host_copy(float *dst, const float *src, int64_t n)
{
    if (n > 0 && dst != src)
        memcpy(dst, src, (size_t)n * sizeof *dst);
}

void lv_host_set(float *x, float value, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = value;
}

/* ---- elementwise steps ------------------------------------------------------------------------ */

/* x *= s: LoRA's alpha / r on the forward, and the same on its gradient */
void lv_scale(float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

/* AdamW per entry (the rule: lv_adamw_coef in backend.h). The gradient is first read as the
 * fp32 product g * grad_scale, exactly what clipping in place would have stored; from there the
 * moments and the update are computed in double from the stored floats and each result is
 * rounded to float once. */
void lv_adamw_update(float *x, const float *g, float *m, float *v, int64_t n,
                     const lv_adamw_coef *k)
{
    for (int64_t i = 0; i < n; i++) {
        const double gi = g[i] * k->grad_scale;        /* an fp32 product, as clipping stores */
        m[i] = (float)(k->beta1 * m[i] + (1.0 - k->beta1) * gi);
        v[i] = (float)(k->beta2 * v[i] + (1.0 - k->beta2) * gi * gi);
        const double update = (m[i] / k->bc1) / (sqrt(v[i] / k->bc2) + k->eps);
        x[i] = (float)(k->keep * x[i] - k->lr * update);
    }
}

/* sum of x^2 in double: the squared global gradient norm; a NaN or Inf anywhere makes it
 * non-finite, which is how the training step checks the gradients */
double lv_sum_squares(const float *x, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    return sum;
}
