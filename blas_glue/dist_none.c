/* The transport of a build without MPI (see dist_transport.h): always one process, and the
 * collectives of lv_dist_single are copies. dist_mpi.c is its sibling in an MPI build. */
#include "dist_transport.h"

#include <stdlib.h>

const lv_dist *lv_dist_open(void)
{
    return &lv_dist_single;
}

void lv_dist_close(const lv_dist *d)
{
}

_Noreturn void lv_dist_abort(const lv_dist *d, int code)
{
    exit(code);
}

void lv_dist_barrier(const lv_dist *d)
{
}

void lv_dist_traffic(const lv_dist *d, double *seconds, double *bytes)
{
    *seconds = *bytes = 0.0;
}

const char *lv_dist_transport_name(void)
{
    return "none (built without MPI)";
}
