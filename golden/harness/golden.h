/* Golden cases: inputs, outputs and gradients of every kernel of the backend table on a few
 * awkward shapes, and whole training steps (activations, loss, gradients, AdamW) of every model
 * variant on a shrunken tiny preset, as self-describing safetensors files that a port checks
 * itself against (layout: golden/README.md). One runner per kernel serves both sides: making
 * (inputs drawn here, run on ref) and checking (inputs read back from a file, run on any
 * backend). No folders, no MANIFEST text, no printing: tools/cmd_golden.c does those. */
#ifndef LV_GOLDEN_H
#define LV_GOLDEN_H

#include "backend.h"
#include "error.h"
#include "safetensors.h"
#include "tolerance.h"

#define LV_GOLDEN_FORMAT "longvivit-golden-1"
#define LV_GOLDEN_SEED 1234               /* every case draws from Philox(seed, LV_RNG_TEST, ...) */
#define LV_GOLDEN_FLAGS "ref backend (plain ISO C11, -O2, no FMA contraction, no fast-math), " \
                        "1 thread"
#define LV_GOLDEN_NAME_MAX 96

/* One named tensor of a case, owned by its set. */
typedef struct {
    char name[LV_GOLDEN_NAME_MAX];        /* "in.inp", "grad.weight", "act.block.1" */
    lv_dtype dtype;                       /* LV_DT_F32, LV_DT_I64, LV_DT_I32 or LV_DT_U8 */
    int ndim;
    int64_t shape[LV_ST_MAX_DIMS];
    int64_t numel;
    void *data;                           /* (numel) of dtype */
} lv_golden_tensor;

/* Tensors (in the order added) and string metadata (key, value pairs in the order set). */
typedef struct {
    lv_golden_tensor *t;
    int64_t n, cap;
    char **meta;                          /* (2 * n_meta) */
    int64_t n_meta, cap_meta;
    int failed;                           /* an add failed: the set is incomplete */
} lv_golden_set;

/* A zeroed tensor appended to s; NULL + lv_error() (and s->failed) when out of memory. */
void *lv_golden_add(lv_golden_set *s, const char *name, lv_dtype dtype, int ndim,
                    const int64_t *shape);
const lv_golden_tensor *lv_golden_find(const lv_golden_set *s, const char *name);  /* or NULL */
int lv_golden_meta_set(lv_golden_set *s, const char *key, const char *fmt, ...) LV_PRINTF(3, 4);
const char *lv_golden_meta(const lv_golden_set *s, const char *key);                /* or NULL */
void lv_golden_set_free(lv_golden_set *s);

/* Every tensor and metadata entry of a golden file (converted to the four dtypes above). */
int lv_golden_load(lv_golden_set *s, const char *path);
/* The same for any safetensors file (a port's results): no "format" metadata required. */
int lv_golden_load_any(lv_golden_set *s, const char *path);
/* in's metadata, then in's tensors, then out's, written atomically to path. */
int lv_golden_write(const lv_golden_set *in, const lv_golden_set *out, const char *path);

/* The cases: path "kernels/<name>" or "models/<name>" (model and v2t cases; no extension), in
 * a fixed order. */
int lv_golden_case_count(void);
const char *lv_golden_case_path(int i);

/* Case i's inputs (in.*, param.*, dout.*, input.*) and metadata into an empty set; generator
 * names the program ("longvivit 0.1.0"). */
int lv_golden_make(int i, const char *generator, lv_golden_set *in);

/* Runs the case described by in (its metadata "kind": kernel, model or v2t, and "kernel") on
 * backend be and appends every output to out (out.*, grad.*, act.*, loss, steps.*, after.*,
 * input.kept; decode.ids for v2t). -1 + lv_error() when in lacks a tensor, holds shapes that do
 * not fit, or a bad configuration. */
int lv_golden_run(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be);

/* The tolerance of output tensor want of the case in (|got - want| <= abs + rel |want|): the
 * LV_CHECK_FAST row of its kernel or, for model (v2t) cases, the LV_CHECK_GOLDEN row of kernel
 * "model" ("v2t"), whose abs is in units of the tensor's largest |entry| for activations and
 * gradients (*scale: that entry; 0 for rows in plain units). Returns the row; NULL +
 * lv_error() if the table lacks it. */
const lv_tolerance *lv_golden_tolerance(const lv_golden_set *in, const lv_golden_tensor *want,
                                       int port, double *abs, double *rel, double *scale);

/* The per-entry widening of after.<name>'s tolerance (added to the MANIFEST's abs): Adam's
 * amplification of gradient noise, lr * sum over steps s of min(gamma max|g_s| / |g_s,i|, 2),
 * g_s = steps.grad.<name>[s], gamma = the grad row's abs (strict or port column). in: the whole
 * golden file (it needs steps.grad.*); extra: (numel of after.<name>). -1 + lv_error() when the
 * file lacks what it needs. */
int lv_golden_after_widening(const lv_golden_set *in, const char *name, int port, double *extra);

/* Elementwise comparison of got with want (same shape; integers compared exactly as values):
 * the margin max |got - want| / (abs + rel |want|) (0/0 counts 0, x/0 infinity, NaN infinity)
 * and where it is reached. */
typedef struct {
    double margin, max_err;
    int64_t at;                           /* the entry of the worst margin, -1 if none */
    double got, want;                     /* there */
    int shape_differs;
} lv_golden_diff;

lv_golden_diff lv_golden_compare(const lv_golden_tensor *got, const lv_golden_tensor *want,
                                 double abs, double rel);
/* The same with abs + extra[i] as entry i's absolute tolerance (extra may be NULL). */
lv_golden_diff lv_golden_compare_widened(const lv_golden_tensor *got, const lv_golden_tensor *want,
                                         double abs, double rel, const double *extra);

#endif
