/* The registry of backends: the one table that maps --backend NAME to an lv_backend. A new
 * backend is one more row here and becomes selectable in every command; nothing else names a
 * backend. cuda/backend_cuda.cu is "cuda" in the nvcc build (make cuda) and "cuda-host", its
 * kernels run on the CPU by cuda/host_exec.h, in every build with a C++ compiler and OpenMP.
 * "cpu-bf16" (lv_backend_cpu_bf16: bf16 operands in the linear, tubelet and attention matmuls)
 * is found by name, or as "cpu" under --precision bf16, where this build has oneDNN and the CPU
 * AVX512-BF16; it is not a row of the table, which lists the fp32 backends. */
#include "blas_glue.h"
#include "bf16_dnnl.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

#if defined(LV_HAVE_CUDA) || defined(LV_HAVE_CUDA_HOST)
extern const lv_backend lv_backend_cuda;      /* cuda/backend_cuda.cu: "cuda" or "cuda-host" */
#endif

static const lv_backend *const registry[] = {
    &lv_backend_ref,
    &lv_backend_cpu,
#if defined(LV_HAVE_CUDA) || defined(LV_HAVE_CUDA_HOST)
    &lv_backend_cuda,
#endif
};

enum { N_BACKENDS = (int)(sizeof registry / sizeof registry[0]) };

int lv_backend_count(void)
{
    return N_BACKENDS;
}

const lv_backend *lv_backend_at(int i)
{
    LV_REQUIRE(i >= 0 && i < N_BACKENDS);
    return registry[i];
}

static char precision[16] = "fp32";      /* lv_backend_set_precision; as given, checked below */

void lv_backend_set_precision(const char *p)
{
    snprintf(precision, sizeof precision, "%s", p);
}

/* "cpu-bf16" when the build and the CPU can run it; NULL + lv_error() saying why not */
static const lv_backend *cpu_bf16(void)
{
    if (lv_bf16_ready() < 0)
        return NULL;
    return lv_backend_cpu_bf16();
}

const char *lv_backend_names(void)
{
    static char names[256];
    names[0] = '\0';
    for (int i = 0; i < N_BACKENDS; i++) {
        const size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", registry[i]->name);
    }
    return names;
}

const lv_backend *lv_backend_find(const char *name)
{
    if (strcmp(precision, "fp32") && strcmp(precision, "bf16")) {
        lv_set_error("--precision '%s': give fp32 (the default) or bf16", precision);
        return NULL;
    }
    if (!strcmp(name, "cpu-bf16") || (!strcmp(precision, "bf16") && !strcmp(name, "cpu")))
        return cpu_bf16();
    if (!strcmp(precision, "bf16")) {
        lv_set_error("--precision bf16 is for the cpu backend (bf16 matmuls through oneDNN); "
                     "backend '%s' runs fp32 only", name);
        return NULL;
    }
    for (int i = 0; i < N_BACKENDS; i++)
        if (!strcmp(registry[i]->name, name))
            return registry[i];
    lv_set_error("no backend called '%s' in this build (it has: %s)%s", name, lv_backend_names(),
                 !strcmp(name, "cuda") ? "; the cuda backend is built by `make cuda` where nvcc "
                 "exists (cuda/README.md)" : "");
    return NULL;
}
