/* Lookup tables: token embeddings by id, and the spatial + temporal position embeddings of the
 * video tokens that survived masking (gathered by their index in the full token grid). */
#include "kernels.h"
#include "error.h"

void lv_embedding_forward(float *out, const int32_t *ids, const float *table,
                          int64_t N, int64_t V, int64_t D)
{
    for (int64_t n = 0; n < N; n++) {
        LV_REQUIRE(ids[n] >= 0 && ids[n] < V);
        for (int64_t d = 0; d < D; d++)
            out[n * D + d] = table[(int64_t)ids[n] * D + d];
    }
}

void lv_embedding_backward(float *dtable, const float *dout, const int32_t *ids,
                           int64_t N, int64_t V, int64_t D)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++)
            dtable[(int64_t)ids[n] * D + d] += dout[n * D + d];
}

void lv_pos_embed_forward(float *out, const float *inp, const float *spatial,
                          const float *temporal, const int64_t *kept,
                          int64_t B, int64_t K, int64_t P, int64_t Ft, int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            LV_REQUIRE(n >= 0 && n < P * Ft);
            const float *sp = spatial + (n % P) * D;
            const float *tp = temporal ? temporal + (n / P) * D : NULL;
            const int64_t row = (b * K + k) * D;
            for (int64_t d = 0; d < D; d++)
                out[row + d] = inp[row + d] + sp[d] + (tp ? tp[d] : 0.0f);
        }
}

void lv_pos_embed_backward(float *dinp, float *dspatial, float *dtemporal, const float *dout,
                           const int64_t *kept, int64_t B, int64_t K, int64_t P, int64_t Ft,
                           int64_t D)
{
    /* forward: out[b,k] = inp[b,k] + spatial[n % P] + temporal[n / P] */
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            const int64_t row = (b * K + k) * D;
            for (int64_t d = 0; d < D; d++) {
                if (dinp)
                    dinp[row + d] += dout[row + d];
                if (dspatial)
                    dspatial[(n % P) * D + d] += dout[row + d];
                if (dtemporal)
                    dtemporal[(n / P) * D + d] += dout[row + d];
            }
        }
}
