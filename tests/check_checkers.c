/* Tests of the tests: every comparator of the suites must fail on a NaN in the first entry
 * followed by finite ones (a running `if (x > max)` or fmax keeps the later finite entry and
 * passes), on an Inf, and on an error of 2x its tolerance, and pass on 0.5x. Each comparator is
 * run in a forked child (its ck_assert ends the child, not this test) with its output captured;
 * the pure part (compare_stats, scaled_diff) is checked here directly. And the probe that
 * tests/cli.sh uses to prove that a skipped test is counted, and fails under LV_REQUIRE_ALL=1. */
#include "check_util.h"
#include "suites.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 4
static const double want[N] = { 0.5, 1.0, 2.0, 3.0 };

/* ---- the comparators, each as (tolerance at want, the call) --------------------------------- */

static double tol_table(const char *kernel, const char *tensor, const char *check, double w)
{
    const lv_tolerance *t = lv_tolerance_get(kernel, tensor, check);
    return t->abs + t->rel * fabs(w);
}

static double cmp_tol(double w) { return tol_table("sgemm", "C", LV_CHECK_FAST, w); }
static double cmp_run(const float *got)
{
    return compare_f32_f64("sgemm", "C", LV_CHECK_FAST, got, want, N);
}

#define FLOATS_TOL 1e-3
static double floats_tol(double w) { return FLOATS_TOL; }
static double floats_run(const float *got)
{
    return expect_floats("expect_floats", got, want, N, FLOATS_TOL);
}

#define CLOSE_REL 1e-3
#define CLOSE_ABS 1e-6
static double close_tol(double w) { return CLOSE_ABS + CLOSE_REL * fabs(w); }
static double close_run(const float *got)
{
    return expect_close("expect_close", got, want, N, CLOSE_REL, CLOSE_ABS);
}

/* fd_check of sum(want * x): the central differences of a linear objective are want (to ~1e-11),
 * so got plays the analytic gradient */
static double fd_x[N];
static double fd_objective_linear(void *ctx)
{
    return dot_f64(want, fd_x, N);
}
static double fd_tol(double w) { return tol_table("linear", "dinp", LV_CHECK_FD, w); }
static double fd_run(const float *got)
{
    for (int i = 0; i < N; i++)
        fd_x[i] = 1.0 + i;
    fd_tensor t = { .tensor = "dinp", .x = fd_x, .grad = got, .n = N };
    return fd_check("linear", &t, 1, fd_objective_linear, NULL, 0);
}

/* scaled_diff as check_backend.c's step test asserts it: diff <= tol in units of max |want| */
#define SCALED_TOL 1e-3
static double scaled_tol(double w) { return SCALED_TOL * 3.0; }      /* max |want| = 3 */
static double scaled_run(const float *got)
{
    float wf[N];
    for (int i = 0; i < N; i++)
        wf[i] = (float)want[i];
    const double d = scaled_diff(got, wf, N);
    printf("  scaled_diff %.2e of scale (tol %.0e)\n", d, SCALED_TOL);
    ck_assert_msg(d <= SCALED_TOL, "scaled_diff %.2e > %.0e", d, SCALED_TOL);
    return d / SCALED_TOL;
}

static const struct {
    const char *name;
    double (*tol)(double want);
    double (*run)(const float *got);      /* prints, asserts; returns the worst margin */
} comparators[] = {
    { "compare_f32_f64", cmp_tol, cmp_run },
    { "expect_floats", floats_tol, floats_run },
    { "expect_close", close_tol, close_run },
    { "fd_check", fd_tol, fd_run },
    { "scaled_diff", scaled_tol, scaled_run },
};
#define N_COMPARATORS (int)(sizeof comparators / sizeof comparators[0])

/* ---- the inputs: the bad entry first, the finite ones after it ------------------------------ */

static const struct {
    const char *name;
    double first;        /* got[0]: NAN, INFINITY, or want[0] + this many tolerances */
    int fails;
} inputs[] = {
    { "NaN first", NAN, 1 },
    { "+Inf first", INFINITY, 1 },
    { "-Inf first", -INFINITY, 1 },
    { "2x tolerance", 2.0, 1 },
    { "0.5x tolerance", 0.5, 0 },
};
#define N_INPUTS (int)(sizeof inputs / sizeof inputs[0])

static void make_got(int c, int in, float *got)
{
    for (int i = 0; i < N; i++)
        got[i] = (float)want[i];
    const double first = inputs[in].first;
    got[0] = isfinite(first) ? (float)(want[0] + first * comparators[c].tol(want[0]))
                             : (float)first;
}

/* Runs comparator c on got in a forked child, its stdout in a file; returns the child's wait
 * status (exit 0: the comparator returned, a pass) and what it printed. */
static int run_forked(int c, const float *got, char *printed, size_t cap)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, "child.out");
    fflush(stdout);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(99);
        /* unbuffered: Check ends a failing child without flushing what it printed */
        setvbuf(stdout, NULL, _IONBF, 0);
        const double worst = comparators[c].run(got);
        printf("  (returned: worst %.3f of tolerance)\n", worst);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    const size_t got_bytes = fread(printed, 1, cap - 1, f);
    printed[got_bytes] = 0;
    fclose(f);
    return status;
}

static int forking(void)
{
    const char *fork_env = getenv("CK_FORK");
    return !(fork_env && !strcmp(fork_env, "no"));
}

/* _i enumerates (comparator, input) */
START_TEST(test_comparator_fails)
{
    const int c = _i / N_INPUTS, in = _i % N_INPUTS;
    float got[N];
    make_got(c, in, got);
    printf("%s on %s: got {%g, %g, %g, %g} want {0.5, 1, 2, 3}:\n", comparators[c].name,
           inputs[in].name, got[0], got[1], got[2], got[3]);
    if (!forking()) {
        /* without Check's forking a failed assertion in the child would longjmp into a copy of
         * the runner */
        test_skip("%s on %s: CK_FORK=no; the comparators are tested in a forked child (unset "
                  "CK_FORK)", comparators[c].name, inputs[in].name);
        return;
    }
    char printed[4096];
    const int status = run_forked(c, got, printed, sizeof printed);
    const int passed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("%s  -> the child %s (%s %d)\n", printed, passed ? "passed" : "FAILED, as it must",
           WIFEXITED(status) ? "exit" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 99), "the child could not "
                  "redirect its output");
    ck_assert_msg(passed == !inputs[in].fails, "%s on %s: %s", comparators[c].name,
                  inputs[in].name, passed ? "passed" : "failed");
    if (!isfinite(inputs[in].first)) {
        /* the figure printed must say so too, not "max abs 0.00e+00" */
        ck_assert_msg(strstr(printed, "inf") || strstr(printed, "nan"),
                      "%s on %s printed no inf/nan", comparators[c].name, inputs[in].name);
    }
}
END_TEST

/* The pure part: the statistics every table comparator prints and asserts on. */
START_TEST(test_compare_stats)
{
    const int in = _i;
    float got[N];
    make_got(0, in, got);
    const lv_tolerance *t = lv_tolerance_get("sgemm", "C", LV_CHECK_FAST);
    const err_stats e = compare_stats(t, got, want, N);
    printf("compare_stats on %s: max abs %.2e, max rel %.2e, worst %.3f of tol at entry %lld\n",
           inputs[in].name, e.max_abs, e.max_rel, e.worst, (long long)e.worst_at);
    if (!isfinite(inputs[in].first)) {
        ck_assert(e.worst == INFINITY && e.max_abs == INFINITY && e.max_rel == INFINITY);
        ck_assert_int_eq(e.worst_at, 0);
        ck_assert(isnan(e.worst_got) || isinf(e.worst_got));
    } else {
        /* got[0] is a float: within a few ulps (6e-8 at 0.5) of the tolerances asked for */
        ck_assert_msg(fabs(e.worst - inputs[in].first) < 0.01, "worst %.4f, want %.1f", e.worst,
                      inputs[in].first);
        ck_assert((e.worst > 1.0) == inputs[in].fails);
    }
    const double d = scaled_diff(got, (const float[]){ 0.5f, 1.0f, 2.0f, 3.0f }, N);
    printf("  scaled_diff: %.3e of scale\n", d);
    if (!isfinite(inputs[in].first))
        ck_assert(d == INFINITY);
}
END_TEST

/* lv_margin_max over a running maximum: a NaN at any point leaves INFINITY */
START_TEST(test_margin_max)
{
    const double seq[] = { NAN, 0.5, 0.25 };
    double m = 0.0, naive = 0.0;
    for (int i = 0; i < 3; i++) {
        m = lv_margin_max(m, seq[i]);
        naive = fmax(naive, seq[i]);
    }
    printf("running max of {NaN, 0.5, 0.25}: lv_margin_max %g, fmax %g (the bug)\n", m, naive);
    ck_assert(m == INFINITY);
    ck_assert(naive == 0.5);
}
END_TEST

/* tests/cli.sh runs this suite with LV_SKIP_PROBE=1 and expects: without LV_REQUIRE_ALL a pass,
 * "SKIP: probe" printed and counted; with LV_REQUIRE_ALL=1 a failure. */
START_TEST(test_skip_probe)
{
    const char *probe = getenv("LV_SKIP_PROBE");
    if (probe && !strcmp(probe, "1")) {
        test_skip("probe: LV_SKIP_PROBE=1 asked for a skip (tests/cli.sh checks that it is "
                  "counted, and fails the run under LV_REQUIRE_ALL=1)");
        return;
    }
    printf("skip probe: not asked (LV_SKIP_PROBE unset), nothing skipped\n");
}
END_TEST

Suite *checkers_suite(void)
{
    const test_row rows[] = {
        { "comparators", test_comparator_fails, N_COMPARATORS * N_INPUTS },
        { "comparators", test_compare_stats, N_INPUTS },
        { "comparators", test_margin_max, 1 },
        { "skips", test_skip_probe, 1 },
    };
    return suite_from_rows("checkers", rows, sizeof rows / sizeof rows[0], 30, 1);
}
