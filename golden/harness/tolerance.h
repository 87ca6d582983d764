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

/* The row for (kernel, tensor, check), or NULL when the table has none (a column whose rows are
 * optional: LV_CHECK_BF16). */
const lv_tolerance *lv_tolerance_find(const char *kernel, const char *tensor, const char *check);

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
/* The bf16 column: the cpu backend with bf16 matmul operands and fp32 accumulation (cpu-bf16,
 * --precision bf16: linear layers, the tubelet embedding and attention's tile products; softmax,
 * InfoNCE and the rest fp32) against the fp32 reference: bf16 rounds each operand to 8
 * significant bits (unit roundoff u = 2^-8), so a K-long dot product of O(1) terms is off by
 * ~u sqrt(K) (random signs), ~2^-8 of the result's scale. Abs is in the units of the tensor's
 * strict row; a tensor with no row here (no bf16 matmul upstream) takes its strict row
 * (golden/harness/golden_bf16.h). */
#define LV_CHECK_BF16 "cpu bf16 matmuls vs fp32 golden file"

#endif
