/* The one-process transport (every collective a copy) and the all-reduce built from the two
 * shard collectives. Plain C: the MPI transport is blas_glue/dist_mpi.c. */
#include "dist.h"

#include <string.h>

static void single_gather_f32(const lv_dist *d, float *out, const float *in, int64_t n)
{
    if (out != in)
        memmove(out, in, (size_t)n * sizeof *out);
}

static void single_gather_f64(const lv_dist *d, double *out, const double *in, int64_t n)
{
    if (out != in)
        memmove(out, in, (size_t)n * sizeof *out);
}

static void single_shards_f32(const lv_dist *d, float *shard, const float *in, int64_t n)
{
    single_gather_f32(d, shard, in, n);
}

static void single_gather_shards_f32(const lv_dist *d, float *buf, int64_t n)
{
}

const lv_dist lv_dist_single = {
    .rank = 0, .size = 1,
    .allgather_f32 = single_gather_f32, .allgather_f64 = single_gather_f64,
    .reduce_scatter_f64 = single_gather_f64, .reduce_scatter_shards_f32 = single_shards_f32,
    .allgather_shards_f32 = single_gather_shards_f32,
};

void lv_dist_allreduce_f32(const lv_dist *d, float *buf, float *shard, int64_t n)
{
    int64_t lo, hi;
    lv_dist_shard(n, d->rank, d->size, &lo, &hi);
    d->reduce_scatter_shards_f32(d, shard, buf, n);       /* my shard, summed over the ranks */
    memcpy(buf + lo, shard, (size_t)(hi - lo) * sizeof *buf);
    d->allgather_shards_f32(d, buf, n);                    /* every shard to every rank */
}
