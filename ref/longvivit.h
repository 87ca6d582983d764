/* The public header of longvivit's reference library: the method, everything under the lv_
 * prefix that ref/ provides, and only that. File formats (safetensors.h, model_io.h,
 * checkpoint.h, clip_init.h) are data/'s, the verification harness (golden.h, tolerance.h,
 * gradcheck.h) golden/harness/'s, the fast CPU kernels (same contracts) blas_glue/blas_glue.h. */
#ifndef LONGVIVIT_H
#define LONGVIVIT_H

#include "error.h"          /* lv_error, lv_set_error, lv_malloc, LV_REQUIRE */
#include "kernels.h"        /* the plain kernels, one per member of the port contract */
#include "backend.h"        /* the port contract: the kernel table a backend fills */
#include "rng.h"            /* Philox4x32-10 streams keyed by (seed, purpose, step, sample) */
#include "mask.h"           /* which tokens each sample keeps */
#include "config.h"         /* presets, overrides, validation, the stored text form */
#include "params.h"         /* the parameter descriptor table and its slabs */
#include "model.h"          /* the dual encoder as one graph, run on any backend */
#include "adamw.h"          /* AdamW, the learning-rate schedule, gradient clipping */
#include "train.h"          /* one training step: zero, forward, backward, clip, update */
#include "metrics.h"        /* retrieval Recall@K and multiple-choice accuracy */

#endif
