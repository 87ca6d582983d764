/* bf16 matmuls in a build without oneDNN (no oneapi/dnnl/dnnl.h when make probed, or DNNL=0):
 * --precision bf16 is refused, saying what to install. bf16_dnnl.c is the real one. */
#include "bf16_dnnl.h"
#include "error.h"

#define NO_DNNL "--precision bf16 needs oneDNN, which this build lacks: install it (apt-get " \
                "install libdnnl-dev, or tools/install-deps.sh) and rebuild (make); or run in " \
                "fp32 (--precision fp32, the default)"

int lv_bf16_ready(void)
{
    return lv_set_error(NO_DNNL);
}

void lv_gemm_bf16(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc)
{
    LV_REQUIRE(lv_bf16_ready() == 0);
}

void lv_gemm_bf16_jobs(const struct lv_gemm_job *jobs, int n)
{
    LV_REQUIRE(lv_bf16_ready() == 0);
}

void lv_bf16_tiles_reserve(int threads)
{
    LV_REQUIRE(lv_bf16_ready() == 0);
}

void lv_gemm_bf16_tile(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const uint16_t *A, const uint16_t *B, float beta, float *C, int64_t ldc)
{
    LV_REQUIRE(lv_bf16_ready() == 0);
}

const char *lv_bf16_backend(void)
{
    return NO_DNNL;
}
