/* Check suite for the x-y chart (lv_plot_xy, data/plot.h): charts of known points read back
 * pixel by pixel against plot.h's documented mapping (markers in their series' palette colour at
 * the predicted pixel, on linear and log axes), a NaN point drawing nothing and breaking its
 * line, error bars, reference lines, labels and the legend's corner; with a test of the test (a
 * shifted point, or the linear mapping of a log chart, is not found), and every refusal naming
 * the file and the point, nothing written. Seeded. */
#include "suites.h"
#include "check_util.h"
#include "canvas.h"
#include "error.h"
#include "image.h"
#include "plot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int palette[LV_PLOT_PALETTE_SIZE][3] = LV_PLOT_PALETTE;

/* ---- the documented mapping, written out again here ----------------------------------------- */

typedef struct {
    double lo, hi;              /* in axis units: log10 of the value on a log axis */
    int log;
} test_axis;

/* plot.h: [min, max] in axis units padded by 5% of the span a side. */
static test_axis test_fit(double mn, double mx, int log)
{
    test_axis a = { log ? log10(mn) : mn, log ? log10(mx) : mx, log };
    const double d = 0.05 * (a.hi - a.lo);
    a.lo -= d;
    a.hi += d;
    return a;
}

static int64_t expect_column(const test_axis *a, int64_t aw, double x)
{
    const double u = a->log ? log10(x) : x;
    return LV_PLOT_LEFT + llround((u - a->lo) * (double)(aw - 1) / (a->hi - a->lo));
}

static int64_t expect_row(const test_axis *a, int64_t ah, double y)
{
    const double u = a->log ? log10(y) : y;
    return LV_PLOT_TOP + llround((a->hi - u) / (a->hi - a->lo) * (double)(ah - 1));
}

/* ---- reading pixels ------------------------------------------------------------------------- */

static int near_rgb(const lv_image *img, int64_t x, int64_t y, const int *rgb, int tol)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height)
        return 0;
    const uint8_t *p = img->rgb + (y * img->width + x) * 3;
    return abs(p[0] - rgb[0]) + abs(p[1] - rgb[1]) + abs(p[2] - rgb[2]) <= tol;
}

/* A marker of colour rgb centred on pixel (x, y): the 3 x 3 pixels around it all that colour
 * (plot.h: a marker covers them exactly). */
static int marker_at(const lv_image *img, int64_t x, int64_t y, const int *rgb)
{
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
            if (!near_rgb(img, x + dx, y + dy, rgb, 3))
                return 0;
    return 1;
}

/* Pixels of the rectangle within tol of rgb. */
static int count_rgb(const lv_image *img, int64_t x0, int64_t y0, int64_t w, int64_t h,
                     const int *rgb, int tol)
{
    int n = 0;
    for (int64_t y = y0; y < y0 + h; y++)
        for (int64_t x = x0; x < x0 + w; x++)
            n += near_rgb(img, x, y, rgb, tol);
    return n;
}

/* A build without cairo: refused with the one documented line; 1 means skip. */
static int chart_skipped(int rc)
{
    if (lv_pictures_available())
        return 0;
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(lv_error(), LV_NO_PICTURES);
    test_skip("x-y charts: this build has no cairo (apt-get install libcairo2-dev, rebuild)");
    return 1;
}

static lv_image read_chart(const char *path, int64_t w, int64_t h)
{
    lv_image img;
    ck_assert_msg(lv_image_read(&img, path) == 0, "%s", lv_error());
    ck_assert_int_eq(img.width, w);
    ck_assert_int_eq(img.height, h);
    return img;
}

/* Draws chart c into the test folder as `name` and reads it back into *img; 0 when this build
 * draws no pictures (the test then says SKIP and stops). */
static int draw_chart(lv_image *img, const char *name, const lv_plot_chart *c)
{
    char path[TEST_PATH_BYTES];
    tmp_path(path, name);
    const int rc = lv_plot_xy(path, c);
    if (chart_skipped(rc))
        return 0;
    ck_assert_msg(rc == 0, "%s", lv_error());
    *img = read_chart(path, c->width, c->height);
    return 1;
}

/* ---- linear axes ---------------------------------------------------------------------------- */

/* Series 0 ("alpha", circles): five seeded points rising left to right, one with an error bar
 * and one labelled, plus a point with y = NaN and one with x = NaN. Series 1 ("beta", squares,
 * line on): (0, 10) with an error bar, (20, NaN), (40, 10): its line is broken at the NaN, so
 * nothing joins its two points. A reference line at y = 0 labelled at the bottom right. Both top
 * corners hold a marker and the bottom right the line's label, so the legend must go to the
 * bottom left. */
START_TEST(test_chart_linear)
{
    enum { W = 640, H = 420, N0 = 7 };
    lv_rng r = test_rng(7100);
    lv_plot_point a[N0], b[3] = { { 0, 10, 1, NULL }, { 20, NAN, NAN, NULL },
                                  { 40, 10, NAN, NULL } };
    for (int i = 0; i < 5; i++) {
        const lv_plot_point p = { 5 + 8 * i + (lv_rng_uniform(&r) * 2 - 1),
                                  3 + 1.2 * i + (lv_rng_uniform(&r) * 0.6 - 0.3), NAN, NULL };
        a[i] = p;
    }
    a[2].y_err = 0.8;
    a[0].label = "p0";
    const lv_plot_point nan_y = { 9, NAN, NAN, "nan" }, nan_x = { NAN, 5, NAN, NULL };
    a[5] = nan_y;
    a[6] = nan_x;
    const lv_plot_series series[2] = { { "alpha", a, N0, 0 }, { "beta", b, 3, 1 } };
    const lv_plot_hline zero = { 0.0, "zero line" };
    const lv_plot_chart c = { .title = "known points", .x_title = "x (units)",
                              .y_title = "y (units)", .width = W, .height = H,
                              .series = series, .n_series = 2, .hlines = &zero, .n_hlines = 1 };
    lv_image img;
    if (!draw_chart(&img, "linear.png", &c))
        return;
    const int64_t aw = W - LV_PLOT_LEFT - LV_PLOT_RIGHT, ah = H - LV_PLOT_TOP - LV_PLOT_BOTTOM;
    /* the ranges plot.h defines: x over the drawable points, y also over bars and the line */
    double xmin = 0, xmax = 40, ymin = 0, ymax = 11;
    for (int i = 0; i < 5; i++) {
        xmin = fmin(xmin, a[i].x);
        xmax = fmax(xmax, a[i].x);
    }
    const test_axis xa = test_fit(xmin, xmax, 0), ya = test_fit(ymin, ymax, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(marker_at(&img, expect_column(&xa, aw, a[i].x), expect_row(&ya, ah, a[i].y),
                                palette[0]), "alpha point %d (%.3f, %.3f) is not at column %lld "
                      "row %lld", i, a[i].x, a[i].y, (long long)expect_column(&xa, aw, a[i].x),
                      (long long)expect_row(&ya, ah, a[i].y));
    for (int i = 0; i < 3; i += 2)
        ck_assert_msg(marker_at(&img, expect_column(&xa, aw, b[i].x), expect_row(&ya, ah, b[i].y),
                                palette[1]), "beta point %d misplaced", i);
    const int64_t c2 = expect_column(&xa, aw, a[2].x), r2 = expect_row(&ya, ah, a[2].y);
    printf("  linear %dx%d: 5 alpha markers (seeded) and 2 beta markers at the documented "
           "pixels, e.g. alpha 2 (%.3f, %.3f) at column %lld row %lld in (%d, %d, %d)\n", W, H,
           a[2].x, a[2].y, (long long)c2, (long long)r2, palette[0][0], palette[0][1],
           palette[0][2]);
    /* the test of the test: the same point 1.5 x-units (about 18 pixels) right is not found */
    const int64_t shifted = expect_column(&xa, aw, a[2].x + 1.5);
    ck_assert_msg(!marker_at(&img, shifted, r2, palette[0]), "a marker found at the shifted "
                  "column %lld: the position check cannot fail", (long long)shifted);
    printf("  test of the test: at the shifted column %lld (%lld pixels right) no marker\n",
           (long long)shifted, (long long)(shifted - c2));
    /* the error bar: between the marker and each cap (0.8 up and down) the bar's colour */
    const int64_t bar_up = expect_row(&ya, ah, a[2].y + 0.6), bar_down = expect_row(&ya, ah,
                                                                                a[2].y - 0.6);
    ck_assert(near_rgb(&img, c2, bar_up, palette[0], 3));
    ck_assert(near_rgb(&img, c2, bar_down, palette[0], 3));
    ck_assert(near_rgb(&img, c2 + 3, expect_row(&ya, ah, a[2].y + 0.8), palette[0], 60));
    ck_assert(!near_rgb(&img, c2, expect_row(&ya, ah, a[2].y + 1.1), palette[0], 60));
    /* NaN: no alpha colour anywhere in the y = NaN point's column band; beta's line broken */
    const int64_t c_nan = expect_column(&xa, aw, 9.0);
    const int at_nan = count_rgb(&img, c_nan - 3, LV_PLOT_TOP, 7, ah, palette[0], 60);
    const int64_t row10 = expect_row(&ya, ah, 10.0);
    const int line_gap = count_rgb(&img, expect_column(&xa, aw, 12.0), row10 - 1,
                                   expect_column(&xa, aw, 28.0) - expect_column(&xa, aw, 12.0), 3,
                                   palette[1], 60);
    ck_assert_int_eq(at_nan, 0);
    ck_assert_int_eq(line_gap, 0);
    printf("  NaN: %d alpha pixels in the 7 columns around x = 9 (column %lld), %d beta pixels "
           "between x = 12 and 28 on row %lld (the line is broken at the NaN)\n", at_nan,
           (long long)c_nan, line_gap, (long long)row10);
    /* the reference line: dashed grey along its row (its right half: the legend covers part
     * of the left), not on the rows beside it */
    const int grey[3] = { LV_PLOT_HLINE_RGB };
    const int64_t row0 = expect_row(&ya, ah, 0.0), half = LV_PLOT_LEFT + aw / 2;
    const int on = count_rgb(&img, half, row0, aw / 2, 1, grey, 3);
    const int beside = count_rgb(&img, half, row0 - 2, aw / 2, 1, grey, 3) +
                       count_rgb(&img, half, row0 + 2, aw / 2, 1, grey, 3);
    ck_assert_msg(on >= aw / 2 * 5 / 10 && beside < aw / 40, "reference line row %lld: %d grey "
                  "pixels of %lld, %d beside", (long long)row0, on, (long long)aw / 2, beside);
    printf("  reference line y = 0 on row %lld: %d of its right %lld pixels grey (dashed 6 on, "
           "4 off), %d on rows %lld and %lld\n", (long long)row0, on, (long long)aw / 2, beside,
           (long long)row0 - 2, (long long)row0 + 2);
    /* the label "p0" right of its marker; the legend in the bottom-left corner (its border) */
    const int ink[3] = { 90, 90, 90 };              /* the labels' grey and its blends */
    const int64_t c0 = expect_column(&xa, aw, a[0].x), r0 = expect_row(&ya, ah, a[0].y);
    const int label = count_rgb(&img, c0 + 9, r0 - 6, 20, 12, ink, 360);
    const int left_of = count_rgb(&img, c0 - 29, r0 - 6, 20, 12, ink, 360);
    ck_assert_msg(label > 20 && left_of == 0, "label p0: %d grey pixels right of its marker, "
                  "%d left", label, left_of);
    const int border[3] = { 160, 160, 160 };
    const int64_t legend_y = LV_PLOT_TOP + ah - 8 - (2 * 18 + 8);
    ck_assert_msg(count_rgb(&img, LV_PLOT_LEFT + 10, legend_y, 20, 1, border, 3) == 20 &&
                  count_rgb(&img, LV_PLOT_LEFT + 8, legend_y + 2, 1, 20, border, 3) == 20,
                  "no legend border at the bottom left (%d, %lld)", LV_PLOT_LEFT + 8,
                  (long long)legend_y);
    ck_assert_int_eq(count_rgb(&img, LV_PLOT_LEFT + 10, LV_PLOT_TOP + 8, 20, 1, border, 3), 0);
    printf("  label p0: %d grey pixels right of its marker, none left; legend at the bottom left (both top "
           "corners hold markers, the bottom right the line's label)\n", label);
    lv_image_free(&img);
}
END_TEST

/* ---- log axes ------------------------------------------------------------------------------- */

START_TEST(test_chart_log)
{
    enum { W = 720, H = 400, N = 5 };   /* 189 pixels a decade of x: 1-2-5 ticks */
    const lv_plot_point p[N] = { { 1, 1, NAN, NULL }, { 10, 100, NAN, NULL },
                                 { 100, 10, 5, NULL }, { 1000, 1000, NAN, NULL },
                                 { 31.6, 3.16, NAN, "mid" } };
    const lv_plot_series s = { NULL, p, N, 0 };
    const lv_plot_chart c = { .x_log = 1, .y_log = 1, .width = W, .height = H, .series = &s,
                              .n_series = 1 };
    lv_image img;
    if (!draw_chart(&img, "log.png", &c))
        return;
    const int64_t aw = W - LV_PLOT_LEFT - LV_PLOT_RIGHT, ah = H - LV_PLOT_TOP - LV_PLOT_BOTTOM;
    const test_axis xa = test_fit(1, 1000, 1), ya = test_fit(1, 1000, 1);
    const test_axis lin_x = test_fit(1, 1000, 0), lin_y = test_fit(1, 1000, 0);
    int found = 0, linear_found = 0;
    for (int i = 0; i < N; i++) {
        const int64_t x = expect_column(&xa, aw, p[i].x), y = expect_row(&ya, ah, p[i].y);
        ck_assert_msg(marker_at(&img, x, y, palette[0]), "point (%g, %g) not at column %lld row "
                      "%lld of the log mapping", p[i].x, p[i].y, (long long)x, (long long)y);
        found++;
        /* the test of the test: where a linear axis would put it (away from the corners) */
        const int64_t lx = expect_column(&lin_x, aw, p[i].x), ly = expect_row(&lin_y, ah, p[i].y);
        if (llabs(lx - x) + llabs(ly - y) > 10)
            linear_found += marker_at(&img, lx, ly, palette[0]);
    }
    ck_assert_int_eq(linear_found, 0);
    /* the 1-2-5 grid: a light grey vertical line on the column of x = 20 and 50, not 30 */
    const int grid[3] = { 225, 225, 225 };
    const int64_t g20 = expect_column(&xa, aw, 20), g30 = expect_column(&xa, aw, 30);
    const int at20 = count_rgb(&img, g20, LV_PLOT_TOP, 1, ah, grid, 3);
    const int at30 = count_rgb(&img, g30, LV_PLOT_TOP, 1, ah, grid, 3);
    ck_assert_msg(at20 > ah / 2 && at30 < ah / 10, "grid: %d pixels at x = 20, %d at x = 30",
                  at20, at30);
    printf("  log-log %dx%d: %d markers where log10 puts them (e.g. (10, 100) at column %lld "
           "row %lld), none where a linear axis would; grid at x = 20 (%d pixels), none at "
           "30 (%d)\n", W, H, found, (long long)expect_column(&xa, aw, 10),
           (long long)expect_row(&ya, ah, 100), at20, at30);
    lv_image_free(&img);
}
END_TEST

/* Twelve series, one point each on a diagonal: series k in palette colour k % 8, every marker
 * visible (the legend of 12 names placed where it hides none). */
START_TEST(test_chart_palette)
{
    enum { W = 800, H = 500, S = LV_PLOT_MAX_SERIES };
    lv_plot_point p[S];
    lv_plot_series s[S];
    char names[S][8];
    for (int k = 0; k < S; k++) {
        const lv_plot_point q = { k, k, NAN, NULL };
        p[k] = q;
        snprintf(names[k], sizeof names[k], "s%d", k);
        const lv_plot_series se = { names[k], &p[k], 1, 0 };
        s[k] = se;
    }
    const lv_plot_chart c = { .width = W, .height = H, .series = s, .n_series = S };
    lv_image img;
    if (!draw_chart(&img, "palette.png", &c))
        return;
    const int64_t aw = W - LV_PLOT_LEFT - LV_PLOT_RIGHT, ah = H - LV_PLOT_TOP - LV_PLOT_BOTTOM;
    const test_axis xa = test_fit(0, S - 1, 0), ya = test_fit(0, S - 1, 0);
    for (int k = 0; k < S; k++)
        ck_assert_msg(marker_at(&img, expect_column(&xa, aw, k), expect_row(&ya, ah, k),
                                palette[k % LV_PLOT_PALETTE_SIZE]), "series %d: no marker of "
                      "palette colour %d", k, k % LV_PLOT_PALETTE_SIZE);
    printf("  12 series: each marker in palette colour k %% 8 at its pixel, none hidden by "
           "the legend\n");
    lv_image_free(&img);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------------- */

static void expect_refused(const lv_plot_chart *c, const char *path, const char *says)
{
    ck_assert_int_eq(lv_plot_xy(path, c), -1);
    ck_assert_msg(strstr(lv_error(), path) && strstr(lv_error(), says), "message lacks the file "
                  "or \"%s\": %s", says, lv_error());
    ck_assert_msg(access(path, F_OK) != 0, "a refused chart wrote %s", path);
    printf("  refused: %s\n", lv_error() + strlen(test_dir) + 1);
}

START_TEST(test_chart_refused)
{
    lv_plot_point p[2] = { { 1, 2, NAN, NULL }, { 3, 4, 0.5, NULL } };
    lv_plot_series s[LV_PLOT_MAX_SERIES + 1];
    for (int k = 0; k <= LV_PLOT_MAX_SERIES; k++) {
        const lv_plot_series se = { "acc", p, 2, 1 };
        s[k] = se;
    }
    lv_plot_hline h = { -1, "floor" };
    lv_plot_chart c = { .width = 400, .height = 300, .series = s, .n_series = 1 };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "refused.png");
    p[1].y_err = -0.5;
    expect_refused(&c, path, "series 0 'acc' point 1: y_err -0.5 is negative");
    p[1].y_err = 0.5;
    p[0].x = 0;
    c.x_log = 1;
    expect_refused(&c, path, "point 0: x = 0 on a log axis");
    p[0].x = 1;
    c.x_log = 0;
    c.y_log = 1;
    c.hlines = &h;
    c.n_hlines = 1;
    expect_refused(&c, path, "reference line 0 at y = -1");
    c.y_log = 0;
    c.n_series = LV_PLOT_MAX_SERIES + 1;
    expect_refused(&c, path, "13 series; give 1 to 12");
    c.n_series = 0;
    expect_refused(&c, path, "0 series");
    c.n_series = 1;
    c.width = 50;
    expect_refused(&c, path, "50x300 chart is outside");
    c.width = 400;
    const int rc = lv_plot_xy(path, &c);
    if (chart_skipped(rc))
        return;
    ck_assert_msg(rc == 0, "%s", lv_error());
    printf("  the same chart with every field fixed is drawn\n");
}
END_TEST

Suite *chart_suite(void)
{
    const test_row rows[] = {
        { "xy", test_chart_linear, 1 }, { "xy", test_chart_log, 1 },
        { "xy", test_chart_palette, 1 }, { "xy", test_chart_refused, 1 },
    };
    return suite_from_rows("chart", rows, sizeof rows / sizeof rows[0], 20, 1);
}
