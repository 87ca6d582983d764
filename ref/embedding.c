/* Lookup tables: token embeddings by id, and the spatial + temporal position embeddings of the
 * video tokens that survived masking (gathered by their index in the full token grid).
 * Gathers forward, scatter-adds backward; nothing here multiplies. */
#include "kernels.h"
#include "error.h"

/* Forward: out[n] = table[ids[n]], ids (N) in [0, V), table (V, D) -> out (N, D); a copy, so
 * bit-identical on every backend. Each id is checked first: an id out of range (a tokenizer
 * bigger than the table) stops here instead of reading past the table. */
void lv_embedding_forward(float *out, const int32_t *ids, const float *table,
                          int64_t N, int64_t V, int64_t D)
{
    for (int64_t n = 0; n < N; n++) {
        LV_REQUIRE(ids[n] >= 0 && ids[n] < V);
        for (int64_t d = 0; d < D; d++)
            out[n * D + d] = table[(int64_t)ids[n] * D + d];
    }
}

/* Backward. In the forward pass this was  out[n] = table[ids[n]],  a copy, so each output row's
 * gradient goes back to the row it was copied from:
 *   dtable[ids[n]] += dout[n]   (D values)
 * A scatter-add: a row used by several tokens sums all their gradients (in the order of n),
 * a row no token used gets nothing. The ids are integers and get no gradient; the forward
 * already checked their range. dtable (V, D) accumulates and is required. */
void lv_embedding_backward(float *dtable, const float *dout, const int32_t *ids,
                           int64_t N, int64_t V, int64_t D)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++)
            dtable[(int64_t)ids[n] * D + d] += dout[n * D + d];
}

/* Forward, for each sample b and kept token k, with n = kept[b,k] its index in the full grid of
 * N = Ft * P tokens (n = k when kept is NULL: nothing masked):
 *   out[b,k] = inp[b,k] + spatial[n % P] + temporal[n / P]
 * shapes inp, out (B, K, D), spatial (P, D), temporal (Ft, D) or NULL. Indexing by n, not k,
 * gives a kept token the position it had before masking. Two small tables (P + Ft rows, not
 * P * Ft) let the spatial one be the image model's while the temporal one starts at zero, so
 * the video model can begin as the image model on every frame. Float adds left to right, each
 * element read before it is written: out may alias inp. */
void lv_pos_embed_forward(float *out, const float *inp, const float *spatial,
                          const float *temporal, const int64_t *kept,
                          int64_t B, int64_t K, int64_t P, int64_t Ft, int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;
            LV_REQUIRE(n >= 0 && n < P * Ft);
            const float *sp = spatial + (n % P) * D;                   /* (D) position n % P */
            const float *tp = temporal ? temporal + (n / P) * D : NULL;   /* (D) time step n / P */
            const int64_t row = (b * K + k) * D;                      /* offset of token (b, k) */
            for (int64_t d = 0; d < D; d++)
                out[row + d] = inp[row + d] + sp[d] + (tp ? tp[d] : 0.0f);
        }
}

/* Backward. In the forward pass this was  out[b,k] = inp[b,k] + spatial[n % P] + temporal[n / P],
 * a plain sum, so each term receives dout[b,k] unchanged:
 *   dinp[b,k] += dout[b,k],   dspatial[n % P] += dout[b,k],   dtemporal[n / P] += dout[b,k].
 * The table gradients are scatter-adds: a spatial row collects every kept token at its position
 * (over all time steps and samples), a temporal row every kept token of its time step; rows only
 * masked tokens would have used get nothing this step. Any gradient may be NULL (not needed,
 * e.g. a frozen table or images without a temporal one); the others accumulate (+=). */
void lv_pos_embed_backward(float *dinp, float *dspatial, float *dtemporal, const float *dout,
                           const int64_t *kept, int64_t B, int64_t K, int64_t P, int64_t Ft,
                           int64_t D)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = kept ? kept[b * K + k] : k;     /* the token's grid index */
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
