/* The MPI transport of data-parallel training (see dist_transport.h and ref/dist.h): only
 * MPI-standard calls (MPI 3.0), so Open MPI and MPICH both work. Counts are int in MPI: every
 * collective checks its size fits. The shard counts and displacements are allocated once, at
 * open; nothing is allocated per step. The library's default error handler
 * (MPI_ERRORS_ARE_FATAL) stops the whole job on any MPI error, a dead rank included. */
#include "dist_transport.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int *counts, *displs;       /* (size) (size) the shards of the last n */
    int64_t counts_n;           /* the n they were computed for, -1 before */
    double seconds, bytes;      /* in collectives, since open; bytes: what a ring algorithm
                                 * sends from this rank (docs/performance.md's volume) */
    int initialised;            /* this program called MPI_Init_thread */
} mpi_state;

static mpi_state state = { .counts_n = -1 };
static lv_dist world;
static char version[MPI_MAX_LIBRARY_VERSION_STRING + 16];

static int count_of(const lv_dist *d, int64_t n)
{
    if (n > INT_MAX) {
        fprintf(stderr, "longvivit: rank %d: a collective of %lld entries is over MPI's int "
                "count; use a smaller batch\n", d->rank, (long long)n);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return (int)n;
}

static void shards_of(const lv_dist *d, int64_t n)
{
    if (state.counts_n == n)
        return;
    for (int r = 0; r < d->size; r++) {
        int64_t lo, hi;
        lv_dist_shard(n, r, d->size, &lo, &hi);
        state.counts[r] = count_of(d, hi - lo);
        state.displs[r] = count_of(d, lo);
    }
    state.counts_n = n;
}

static void account(double t0, double bytes)
{
    state.seconds += MPI_Wtime() - t0;
    state.bytes += bytes;
}

static void mpi_allgather_f32(const lv_dist *d, float *out, const float *in, int64_t n)
{
    const double t0 = MPI_Wtime();
    MPI_Allgather(in, count_of(d, n), MPI_FLOAT, out, count_of(d, n), MPI_FLOAT, MPI_COMM_WORLD);
    account(t0, 4.0 * (double)n * (d->size - 1));
}

static void mpi_allgather_f64(const lv_dist *d, double *out, const double *in, int64_t n)
{
    const double t0 = MPI_Wtime();
    MPI_Allgather(in, count_of(d, n), MPI_DOUBLE, out, count_of(d, n), MPI_DOUBLE,
                  MPI_COMM_WORLD);
    account(t0, 8.0 * (double)n * (d->size - 1));
}

static void mpi_reduce_scatter_f64(const lv_dist *d, double *out, const double *in, int64_t n)
{
    const double t0 = MPI_Wtime();
    MPI_Reduce_scatter_block(in, out, count_of(d, n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    account(t0, 8.0 * (double)n * (d->size - 1));
}

static void mpi_reduce_scatter_shards_f32(const lv_dist *d, float *shard, const float *in,
                                          int64_t n)
{
    const double t0 = MPI_Wtime();
    shards_of(d, n);
    MPI_Reduce_scatter(in, shard, state.counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    account(t0, 4.0 * (double)(n - state.counts[d->rank]));
}

static void mpi_allgather_shards_f32(const lv_dist *d, float *buf, int64_t n)
{
    const double t0 = MPI_Wtime();
    shards_of(d, n);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, state.counts, state.displs,
                   MPI_FLOAT, MPI_COMM_WORLD);
    account(t0, 4.0 * (double)(n - state.counts[d->rank]));
}

/* Started by an MPI launcher: Open MPI, MPICH's Hydra and PMIx launchers each set one of these
 * in every rank's environment. */
static int under_launcher(void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                        "PMI_RANK", NULL };
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

const lv_dist *lv_dist_open(void)
{
    if (!under_launcher())
        return &lv_dist_single;
    int provided, rank, size;
    /* only the main thread calls MPI; the loader's thread and OpenMP's never do */
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    state.initialised = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    state.counts = calloc((size_t)size, sizeof(int));
    state.displs = calloc((size_t)size, sizeof(int));
    if (!state.counts || !state.displs) {
        fprintf(stderr, "longvivit: rank %d: out of memory for %d ranks' counts\n", rank, size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    world = (lv_dist){ .rank = rank, .size = size,
                       .allgather_f32 = mpi_allgather_f32, .allgather_f64 = mpi_allgather_f64,
                       .reduce_scatter_f64 = mpi_reduce_scatter_f64,
                       .reduce_scatter_shards_f32 = mpi_reduce_scatter_shards_f32,
                       .allgather_shards_f32 = mpi_allgather_shards_f32, .ctx = &state };
    return &world;
}

void lv_dist_close(const lv_dist *d)
{
    if (d != &world || !state.initialised)
        return;
    MPI_Finalize();
    free(state.counts);
    free(state.displs);
    state = (mpi_state){ .counts_n = -1 };
}

_Noreturn void lv_dist_abort(const lv_dist *d, int code)
{
    if (d == &world && state.initialised)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void lv_dist_barrier(const lv_dist *d)
{
    if (d == &world && state.initialised) {
        const double t0 = MPI_Wtime();
        MPI_Barrier(MPI_COMM_WORLD);
        account(t0, 0.0);
    }
}

void lv_dist_traffic(const lv_dist *d, double *seconds, double *bytes)
{
    *seconds = d == &world ? state.seconds : 0.0;
    *bytes = d == &world ? state.bytes : 0.0;
}

const char *lv_dist_transport_name(void)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    int end = 0;
    while (end < len && lib[end] != '\n' && lib[end] != ',')
        end++;
    snprintf(version, sizeof version, "MPI (%.*s)", end, lib);
    return version;
}
