/* The public header of longvivit's reference library: everything under the lv_ prefix that
 * ref/ provides. The fast CPU kernels (same contracts) are declared in blas_glue/blas_glue.h. */
#ifndef LONGVIVIT_H
#define LONGVIVIT_H

#include "error.h"          /* lv_error, lv_set_error, lv_malloc, LV_REQUIRE */
#include "kernels.h"        /* every kernel's forward/backward contract */
#include "rng.h"            /* Philox4x32-10 streams keyed by (seed, purpose, step, sample) */
#include "safetensors.h"    /* tensor files: read, validate, write atomically */
#include "tolerance.h"      /* the per-kernel, per-tensor tolerance table */

#endif
