/* Data parallelism's collectives, handed to the trainer the way a backend is handed to the graph:
 * ref/ calls these operations and never knows the transport (blas_glue/dist_mpi.c implements
 * them with MPI; one process needs none, lv_dist_single). Every rank calls every collective in
 * the same order with the same sizes; buffers are host memory. */
#ifndef LV_DIST_H
#define LV_DIST_H

#include <stdint.h>

typedef struct lv_dist lv_dist;

struct lv_dist {
    int rank, size;                     /* this process and how many take part (ranks 0..size-1) */
    /* out (size n) = every rank's in (n), in rank order */
    void (*allgather_f32)(const lv_dist *d, float *out, const float *in, int64_t n);
    void (*allgather_f64)(const lv_dist *d, double *out, const double *in, int64_t n);
    /* in (size n) summed elementwise over the ranks; this rank's block of n (rank * n ...) into
     * out */
    void (*reduce_scatter_f64)(const lv_dist *d, double *out, const double *in, int64_t n);
    /* in (n) summed elementwise over the ranks; this rank's shard of it (lv_dist_shard) into
     * shard (hi - lo) */
    void (*reduce_scatter_shards_f32)(const lv_dist *d, float *shard, const float *in, int64_t n);
    /* buf (n): every rank's own shard [lo, hi) of it sent to every other rank, in place */
    void (*allgather_shards_f32)(const lv_dist *d, float *buf, int64_t n);
    void *ctx;                          /* the transport's own state */
};

/* The one process of a run without a transport: size 1, every collective a copy. */
extern const lv_dist lv_dist_single;

/* The shard of n entries that rank owns, [*lo, *hi): contiguous, in rank order, sizes differing
 * by at most one. */
static inline void lv_dist_shard(int64_t n, int rank, int size, int64_t *lo, int64_t *hi)
{
    *lo = n * rank / size;
    *hi = n * (rank + 1) / size;
}

/* An element-wise sum over the ranks whose result is the same bits on every rank: each shard
 * is reduced once, on its owner, then sent to all (a ring all-reduce's two halves). shard
 * holds at least n / size + 1 floats. */
void lv_dist_allreduce_f32(const lv_dist *d, float *buf, float *shard, int64_t n);

/* ---- the global-batch InfoNCE, one rank's share (ref/infonce.c) --------------------------------
 * The global batch is G = size x B pairs; v, t (G, E) are every rank's L2-normalised embeddings
 * in global order (gathered), and this rank owns pairs r0 .. r0 + B - 1. With
 * L = scale v t^T (G, G) the global loss is
 *   loss = 1/(2G) sum_a [ lse(row a of L) - L_aa + lse(column a of L) - L_aa ],  a < G,
 * a sum over pairs, so it splits exactly into the ranks' shares over their own pairs a. */

/* rows (B, G): row r0 + i of L; cols (B, G): column r0 + i of L, stored as a row (entry j is
 * L[j, r0 + i]). Returns this rank's share 1/(2G) sum_{own a} [...], in double. The logits are
 * computed as lv_infonce_forward computes them (double dot products, one fp32 rounding), so a
 * rank's entries equal the single-process ones bit for bit. */
double lv_infonce_shard_forward(float *rows, float *cols, const float *v, const float *t,
                                float log_scale, int64_t G, int64_t r0, int64_t B, int64_t E);

/* The gradient of dloss x this rank's share with respect to EVERY pair's embeddings: adds to dv,
 * dt (G, E), in double (the rows of other ranks' pairs are their partial gradients, to be
 * summed on their owners), and to *dlog_scale unless the scale is clamped. */
void lv_infonce_shard_backward(double *dv, double *dt, double *dlog_scale, double dloss,
                               const float *rows, const float *cols, const float *v,
                               const float *t, float log_scale, int64_t G, int64_t r0,
                               int64_t B, int64_t E);

#endif
