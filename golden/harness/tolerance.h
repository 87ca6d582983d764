/* The one table of numerical tolerances: for every kernel and tensor, how far a result may be
 * from its reference (|got - want| <= abs + rel * |want|), and why. Tests, golden checks and
 * ports all read it here; docs/tolerances.md is printed from it (longvivit tolerances). */
#ifndef LV_TOLERANCE_H
#define LV_TOLERANCE_H

typedef struct {
    const char *kernel;      /* "linear", "attention", ... */
    const char *tensor;      /* "out", "dinp", "dweight", ... */
    const char *check;       /* what is compared with what */
    double abs, rel;
    const char *reason;
} lv_tolerance;

/* The row for (kernel, tensor, check); aborts naming the missing row (a test without a
 * tolerance is a bug). */
const lv_tolerance *lv_tolerance_get(const char *kernel, const char *tensor, const char *check);

/* The one comparison every checker uses (tests, gradcheck, golden --check/--compare): the margin
 * |got - want| / (abs + rel |want|), passing when <= 1. A NaN or infinite got (or want) is
 * INFINITY, never a pass: NaN compares false with everything, so a checker that kept the
 * largest margin with `if (m > worst)` would let a later finite entry hide it. 0 when got == want
 * (so a 0/0 tolerance demands bit-identical values), INFINITY when they differ and the tolerance
 * is 0. */
double lv_tolerance_margin(double got, double want, double abs, double rel);

/* The larger of two margins, NaN counted as INFINITY (for running maxima). */
double lv_margin_max(double a, double b);

/* The whole table, for printing. */
const lv_tolerance *lv_tolerance_table(int *count);

/* The checks, spelled once. */
#define LV_CHECK_F64 "fp32 kernel vs fp64 reference"
#define LV_CHECK_FD "fp32 backward vs central differences in fp64"
#define LV_CHECK_FAST "fast kernel vs ref kernel"
#define LV_CHECK_GOLDEN "port vs golden file"
#define LV_CHECK_DIST "N ranks vs one process with the N x B batch"
/* The port column of the golden files: what any correct fp32 implementation (a GPU port above
 * all) may legitimately differ by. Allowed: fp32 storage and fp32 accumulation in any order
 * (trees, atomics, split-K), FMA contraction, transcendental functions within 4 ulp (CUDA's
 * default library: expf, erff, tanhf, logf, sqrtf, rsqrtf); not allowed: TF32 or bf16 matmuls,
 * fast-math intrinsics (__expf), one-pass E[x^2] - E[x]^2 variances. `golden --check --port`. */
#define LV_CHECK_PORT "any correct fp32 port vs golden file"

#endif
