/* Test helpers: seeded random tensors, tolerance-table comparisons that print the figure they
 * checked, and the central finite-difference gradient check in double. */
#ifndef LV_CHECK_UTIL_H
#define LV_CHECK_UTIL_H

#include "model.h"
#include "rng.h"
#include "tolerance.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* A seeded stream for one test: the same numbers on every run and machine. */
lv_rng test_rng(uint32_t test_id);

float *rand_floats(lv_rng *r, int64_t n, double scale);     /* N(0, scale^2), malloc'd */
float *rand_unit_rows(lv_rng *r, int64_t N, int64_t E);   /* rows of N(0,1), norm 1 */
double *to_double(const float *x, int64_t n);               /* malloc'd copy */
float *zeros(int64_t n);

/* Running statistics of one comparison, in the pure part of every comparator below (the thin
 * part prints them and asserts worst <= 1). A NaN or Inf in got or want makes worst INFINITY
 * and max_abs inf, wherever it is: lv_tolerance_margin and lv_margin_max, never `x > max`. */
typedef struct {
    double max_abs, max_rel, worst;     /* worst = the largest lv_tolerance_margin */
    int64_t worst_at, n;
    double worst_got, worst_want;
} err_stats;
void err_stats_add(err_stats *e, const lv_tolerance *t, int64_t i, double got, double want);
err_stats compare_stats(const lv_tolerance *t, const float *got, const double *want, int64_t n);

/* |got - want| <= abs + rel*|want| elementwise, with the (kernel, tensor, check) row of the
 * tolerance table; prints max abs error, max rel error and the worst fraction of tolerance.
 * Returns the worst fraction (pass means <= 1). */
double compare_f32_f64(const char *kernel, const char *tensor, const char *check,
                       const float *got, const double *want, int64_t n);

/* Central finite differences of a scalar objective in double.
 * objective(ctx) must return sum(upstream * forward_fp64(inputs)) reading the double inputs
 * the test registered; fd_check perturbs each registered tensor in place by +-h (restoring it),
 * and compares the analytic gradient (fp32 from the kernel) entry by entry. At most
 * max_entries entries per tensor are probed (spread evenly), 0 = all. */
typedef double (*fd_objective)(void *ctx);
typedef struct {
    const char *tensor;      /* "dinp", ... : also the tolerance table key */
    double *x;               /* the double input the objective reads */
    const float *grad;       /* analytic gradient, laid out like x */
    int64_t n;               /* logical entries */
    int64_t cols, ld;        /* strided rows (q inside a packed qkv): entry i is at
                              * (i / cols) * ld + i % cols; cols = 0 means contiguous */
} fd_tensor;

double fd_check(const char *kernel, fd_tensor *tensors, int count, fd_objective objective,
                void *ctx, int64_t max_entries);

/* A gradient buffer pre-filled with random multiples of 1/8 ("prior"), so a test proves that
 * backward accumulates (+=) instead of overwriting: grad_delta() returns grad - prior. */
typedef struct {
    float *grad;
    float *prior;
    int64_t n;
} grad_buf;
grad_buf grad_new(lv_rng *r, int64_t n);
const float *grad_delta(grad_buf *g);       /* in place: grad -= prior; returns grad */
void grad_free(grad_buf *g);

/* Per-test temporary folders: tmp_root_setup/tmp_root_teardown as an unchecked fixture (they run
 * in the parent, so the root is removed even when a test fails), tmp_dir_setup as a checked one
 * (a fresh folder per test); tmp_path puts a file name inside it. */
#define TEST_PATH_BYTES 512
extern char test_dir[128];
void tmp_root_setup(void);
void tmp_root_teardown(void);
void tmp_dir_setup(void);
void tmp_path(char *out, const char *name);      /* out: TEST_PATH_BYTES */

/* got[i] == want[i] within tol for every i; prints what was checked and the worst error;
 * returns the worst margin. */
double expect_floats(const char *what, const float *got, const double *want, int64_t n, double tol);
/* The same with a tolerance abs + rel |want| given here rather than read from the table;
 * returns the worst margin. */
double expect_close(const char *what, const float *got, const double *want, int64_t n,
                    double rel, double abs);
/* max |got - want| over max |want| (over 1 when want is all zeros); INFINITY when any entry of
 * either is NaN or Inf. */
double scaled_diff(const float *got, const float *want, int64_t n);

/* A test that cannot run here (a missing encoder, program or Python module): prints
 * "SKIP: <fmt>" (say what is missing and how to install it) and appends that line to the file
 * named by LV_SKIP_LOG, where the runner counts it. Under LV_REQUIRE_ALL=1 (CI, where
 * tools/install-deps.sh installed everything) the skip is a failure instead. The caller returns
 * after it. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A suite from a table of (test case name, test, loop count); consecutive rows with the same
 * name share a TCase with the given timeout; tmp_dirs gives every test a fresh temp folder. */
typedef struct {
    const char *name;
    const TTest *test;
    int loops;
} test_row;
Suite *suite_from_rows(const char *suite, const test_row *rows, size_t n, int timeout,
                       int tmp_dirs);

/* A seeded random batch of B videos (or images) with captions of decreasing length: sample b's
 * caption has T - b tokens, then padding. Free with batch_free. */
typedef struct {
    float *video;
    int32_t *text;
    uint8_t *valid;
    lv_batch batch;
} test_batch;
test_batch batch_make(const lv_config *c, int64_t B, int image, uint32_t seed);
void batch_free(test_batch *t);

/* sum(a * b) in double */
double dot_f64(const double *a, const double *b, int64_t n);

#endif
