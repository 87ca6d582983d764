/* The transport under data-parallel training (ref/dist.h's collectives): MPI in a build made
 * where mpicc exists (dist_mpi.c), none otherwise (dist_none.c: always one process). Programs
 * open it once; ref/ only ever sees the lv_dist table. */
#ifndef LV_DIST_TRANSPORT_H
#define LV_DIST_TRANSPORT_H

#include "dist.h"

/* The ranks this process belongs to: the MPI world when the program was started by an MPI
 * launcher (mpirun, mpiexec: their environment says so), else lv_dist_single and MPI is not
 * initialised at all, so the single-process program behaves as in a build without MPI. An MPI
 * error stops every rank (MPI's default handler). */
const lv_dist *lv_dist_open(void);

/* The end of a run: MPI_Finalize after the last collective (nothing for one process). */
void lv_dist_close(const lv_dist *d);

/* Stops the whole job (every rank, MPI_Abort) with exit status code; one process just exits. */
_Noreturn void lv_dist_abort(const lv_dist *d, int code);

/* Every rank waits for all the others. */
void lv_dist_barrier(const lv_dist *d);

/* Seconds spent inside collectives since open, and the bytes a ring algorithm sends from this
 * rank for them (the volume docs/performance.md counts). */
void lv_dist_traffic(const lv_dist *d, double *seconds, double *bytes);

/* "MPI (<the library's version line>)" or "none (built without MPI)". */
const char *lv_dist_transport_name(void);

#endif
