/* Test helpers (see check_util.h). */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700      /* nftw */
#endif
#include "check_util.h"

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>

#define FD_STEP 1e-5

lv_rng test_rng(uint32_t test_id)
{
    return lv_rng_stream(20231211u, LV_RNG_TEST, 0, test_id);
}

float *rand_floats(lv_rng *r, int64_t n, double scale)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * lv_rng_normal(r));
    return x;
}

double *to_double(const float *x, int64_t n)
{
    double *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}

float *zeros(int64_t n)
{
    float *x = calloc((size_t)(n ? n : 1), sizeof *x);
    ck_assert_ptr_nonnull(x);
    return x;
}

grad_buf grad_new(lv_rng *r, int64_t n)
{
    grad_buf g = { .grad = zeros(n), .prior = zeros(n), .n = n };
    for (int64_t i = 0; i < n; i++)
        g.grad[i] = g.prior[i] = (float)((int)lv_rng_below(r, 17) - 8) / 8.0f;
    return g;
}

const float *grad_delta(grad_buf *g)
{
    for (int64_t i = 0; i < g->n; i++)
        g->grad[i] -= g->prior[i];
    return g->grad;
}

void grad_free(grad_buf *g)
{
    free(g->grad);
    free(g->prior);
}

double dot_f64(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* One entry into the running statistics of a comparison. The margin is lv_tolerance_margin's
 * (INFINITY for a NaN or Inf), and every running maximum goes through lv_margin_max: with a plain
 * `if (x > max)` or fmax, a NaN compares false (fmax drops it), so a NaN in the first entry was
 * overwritten by the next finite one and the comparison passed printing max abs 0. */
void err_stats_add(err_stats *e, const lv_tolerance *t, int64_t i, double got, double want)
{
    const double err = fabs(got - want);          /* NaN or inf when got or want is */
    const double margin = lv_tolerance_margin(got, want, t->abs, t->rel);
    if (e->n++ == 0)
        e->worst_at = i;
    e->max_abs = lv_margin_max(e->max_abs, err);
    if (fabs(want) > 1e-3 || !isfinite(err))
        e->max_rel = lv_margin_max(e->max_rel, err / fabs(want));
    if (margin > e->worst) {                      /* margins are never NaN */
        e->worst = margin;
        e->worst_at = i;
        e->worst_got = got;
        e->worst_want = want;
    }
}

err_stats compare_stats(const lv_tolerance *t, const float *got, const double *want, int64_t n)
{
    err_stats e = { 0 };
    for (int64_t i = 0; i < n; i++)
        err_stats_add(&e, t, i, got[i], want[i]);
    return e;
}

static const char *check_label(const char *check)
{
    return !strcmp(check, LV_CHECK_F64) ? "vs fp64" : !strcmp(check, LV_CHECK_FD) ? "vs FD"
                                                                                   : "vs ref";
}

static double err_report(const char *kernel, const char *tensor, const lv_tolerance *t,
                         const err_stats *e, int64_t n)
{
    printf("  %-15s %-10s %-14s max abs %.2e  max rel %.2e  worst %.3f of tol (abs %.0e rel %.0e)"
           "  over %lld\n", kernel, tensor, check_label(t->check),
           e->max_abs, e->max_rel, e->worst, t->abs, t->rel, (long long)n);
    ck_assert_msg(e->worst <= 1.0, "%s.%s: entry %lld got %.9g want %.9g (%.2f x tolerance)",
                  kernel, tensor, (long long)e->worst_at, e->worst_got, e->worst_want, e->worst);
    return e->worst;
}

double compare_f32_f64(const char *kernel, const char *tensor, const char *check,
                       const float *got, const double *want, int64_t n)
{
    const lv_tolerance *t = lv_tolerance_get(kernel, tensor, check);
    const err_stats e = compare_stats(t, got, want, n);
    return err_report(kernel, tensor, t, &e, n);
}

double fd_check(const char *kernel, fd_tensor *tensors, int count, fd_objective objective,
                void *ctx, int64_t max_entries)
{
    double worst = 0.0;
    for (int ti = 0; ti < count; ti++) {
        fd_tensor *ft = &tensors[ti];
        const lv_tolerance *t = lv_tolerance_get(kernel, ft->tensor, LV_CHECK_FD);
        const int64_t stride = (max_entries > 0 && ft->n > max_entries)
                                   ? (ft->n + max_entries - 1) / max_entries : 1;
        err_stats e = { 0 };
        int64_t probed = 0;
        for (int64_t i = 0; i < ft->n; i += stride, probed++) {
            const int64_t at = ft->cols ? (i / ft->cols) * ft->ld + i % ft->cols : i;
            const double saved = ft->x[at];
            ft->x[at] = saved + FD_STEP;
            const double up = objective(ctx);
            ft->x[at] = saved - FD_STEP;
            const double down = objective(ctx);
            ft->x[at] = saved;
            err_stats_add(&e, t, at, ft->grad[at], (up - down) / (2.0 * FD_STEP));
        }
        worst = lv_margin_max(worst, err_report(kernel, ft->tensor, t, &e, probed));
    }
    return worst;
}

/* ---- temporary folders ---------------------------------------------------------------------- */

static char test_root[64];
char test_dir[128];

void tmp_root_setup(void)
{
    snprintf(test_root, sizeof test_root, "/tmp/lv_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(test_root));
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

void tmp_root_teardown(void)
{
    ck_assert_int_eq(nftw(test_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

void tmp_dir_setup(void)
{
    snprintf(test_dir, sizeof test_dir, "%s/test_XXXXXX", test_root);
    ck_assert_ptr_nonnull(mkdtemp(test_dir));
}

void tmp_path(char *out, const char *name)
{
    snprintf(out, TEST_PATH_BYTES, "%s/%s", test_dir, name);
}

/* ---- small checks and suites ---------------------------------------------------------------- */

double expect_close(const char *what, const float *got, const double *want, int64_t n,
                    double rel, double abs)
{
    const lv_tolerance t = { .kernel = what, .abs = abs, .rel = rel };
    const err_stats e = compare_stats(&t, got, want, n);
    printf("  %-40s max abs err %.2e, max rel err %.2e, worst %.2f of tol (rel %.1e abs %.0e) "
           "over %lld\n", what, e.max_abs, e.max_rel, e.worst, rel, abs, (long long)n);
    ck_assert_msg(e.worst <= 1.0, "%s[%lld]: got %.9g want %.9g (%.2f x tolerance)", what,
                  (long long)e.worst_at, e.worst_got, e.worst_want, e.worst);
    return e.worst;
}

double expect_floats(const char *what, const float *got, const double *want, int64_t n, double tol)
{
    const lv_tolerance t = { .kernel = what, .abs = tol };
    const err_stats e = compare_stats(&t, got, want, n);
    printf("  %-40s hand-computed, max abs err %.2e (tol %.0e)\n", what, e.max_abs, tol);
    ck_assert_msg(e.worst <= 1.0, "%s[%lld]: got %.9g want %.9g", what, (long long)e.worst_at,
                  e.worst_got, e.worst_want);
    return e.worst;
}

/* A NaN anywhere makes the difference INFINITY: fmax would drop it. */
double scaled_diff(const float *got, const float *want, int64_t n)
{
    double diff = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; i++) {
        diff = lv_margin_max(diff, fabs((double)got[i] - want[i]));
        scale = lv_margin_max(scale, fabs((double)want[i]));
    }
    if (!isfinite(diff) || !isfinite(scale))
        return INFINITY;
    return diff / (scale > 0.0 ? scale : 1.0);
}

void test_skip(const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    printf("SKIP: %s\n", what);
    fflush(stdout);
    /* one line per skip, appended: every test runs in its own forked process */
    const char *log = getenv("LV_SKIP_LOG");
    FILE *f = log && *log ? fopen(log, "a") : NULL;
    if (f) {
        fprintf(f, "SKIP: %s\n", what);
        fclose(f);
    }
    const char *require = getenv("LV_REQUIRE_ALL");
    if (require && !strcmp(require, "1"))
        ck_abort_msg("LV_REQUIRE_ALL=1 and this test was skipped: %s", what);
}

Suite *suite_from_rows(const char *suite, const test_row *rows, size_t n, int timeout,
                       int tmp_dirs)
{
    Suite *s = suite_create(suite);
    TCase *tc = NULL;
    const char *current = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(current, rows[i].name)) {
            current = rows[i].name;
            tc = tcase_create(current);
            tcase_set_timeout(tc, timeout);
            if (tmp_dirs) {
                tcase_add_unchecked_fixture(tc, tmp_root_setup, tmp_root_teardown);
                tcase_add_checked_fixture(tc, tmp_dir_setup, NULL);
            }
            suite_add_tcase(s, tc);
        }
        tcase_add_loop_test(tc, rows[i].test, 0, rows[i].loops);
    }
    return s;
}

/* ---- model batches -------------------------------------------------------------------------- */

test_batch batch_make(const lv_config *c, int64_t B, int image, uint32_t seed)
{
    lv_rng r = test_rng(seed);
    const int64_t F = image ? 1 : c->frames, T = c->text_len;
    test_batch t = { .video = rand_floats(&r, B * F * c->image_size * c->image_size * 3, 0.5),
                     .text = calloc((size_t)(B * T), sizeof(int32_t)),
                     .valid = calloc((size_t)(B * T), 1) };
    for (int64_t i = 0; i < B * T; i++) {
        t.valid[i] = i % T < T - i / T;
        t.text[i] = t.valid[i] ? 1 + (int32_t)lv_rng_below(&r, (uint64_t)c->vocab - 1) : 0;
    }
    t.batch = (lv_batch){ .B = B, .video = t.video, .is_image = image, .text = t.text,
                          .text_valid = t.valid, .step = 3 };
    return t;
}

void batch_free(test_batch *t)
{
    free(t->video);
    free(t->text);
    free(t->valid);
}

/* N rows of E standard normals, each scaled to unit length (the kernel's inputs are L2-normalised
 * embeddings; the finite differences then perturb them as given, without renormalising) */
float *rand_unit_rows(lv_rng *r, int64_t N, int64_t E)
{
    float *x = rand_floats(r, N * E, 1);
    for (int64_t n = 0; n < N; n++) {
        double ss = 0.0;
        for (int64_t e = 0; e < E; e++)
            ss += (double)x[n * E + e] * x[n * E + e];
        for (int64_t e = 0; e < E; e++)
            x[n * E + e] = (float)(x[n * E + e] / sqrt(ss));
    }
    return x;
}
