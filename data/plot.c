/* Line charts and heatmaps as PNG (see plot.h), drawn with cairo on the shared canvas (canvas.h):
 * anti-aliased series and text, crisp one-pixel axes and grid lines (drawn on pixel centres),
 * heatmap cells filled without anti-aliasing so each is exactly its colour. */
#include "plot.h"

#include "error.h"
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef LV_HAVE_CAIRO

int lv_plot_lines(const char *png, const float *y, const float *y2, int64_t n, int64_t width,
                  int64_t height, const lv_plot_text *text)
{
    return lv_set_error("%s", LV_NO_PICTURES);
}

int lv_plot_matrix(const char *png, const float *m, int64_t rows, int64_t cols, int64_t cell,
                   float lo, float hi, const lv_plot_matrix_text *text)
{
    return lv_set_error("%s", LV_NO_PICTURES);
}

#else

#define TICK_FONT 12.0
#define TITLE_FONT 15.0
#define AXIS_FONT 13.0

typedef struct {
    int64_t x0, y0, w, h;           /* the line chart's data area */
} lv_area;

typedef struct {
    double lo, hi, step;            /* an axis range, whole multiples of its tick step */
} lv_axis;

/* ---- shared --------------------------------------------------------------------------------- */

/* 1, 2 or 5 x 10^k: the smallest such step giving at most `target` steps over span > 0. */
static double nice_step(double span, int64_t target)
{
    const double raw = span / (double)(target > 0 ? target : 1);
    const double mag = pow(10.0, floor(log10(raw)));
    const double f = raw / mag;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

static void finite_range(const float *y, int64_t n, double *lo, double *hi)
{
    for (int64_t i = 0; y && i < n; i++)
        if (isfinite(y[i])) {
            *lo = fmin(*lo, y[i]);
            *hi = fmax(*hi, y[i]);
        }
}

/* A tick value as text: "%.4g", with the -0 and 1e-17 of floating-point steps written as 0. */
static void tick_label(char *buf, size_t n, double v, double step)
{
    snprintf(buf, n, "%.4g", fabs(v) < 1e-9 * step ? 0.0 : v);
}

/* A one-pixel line between pixel centres, not anti-aliased into two grey pixels. */
static void pixel_line(cairo_t *cr, double x0, double y0, double x1, double y1)
{
    cairo_move_to(cr, x0 + 0.5, y0 + 0.5);
    cairo_line_to(cr, x1 + 0.5, y1 + 0.5);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
}

static void draw_title(cairo_t *cr, const char *title, double width, double y)
{
    if (!title)
        return;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    lv_canvas_rgb(cr, 0, 0, 0);
    lv_canvas_text(cr, width / 2, y, TITLE_FONT, 0.5, 0.5, 0.0, title);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
}

/* ---- line chart ----------------------------------------------------------------------------- */

static lv_axis value_axis(const float *y, const float *y2, int64_t n, int64_t target)
{
    double lo = INFINITY, hi = -INFINITY;
    finite_range(y, n, &lo, &hi);
    finite_range(y2, n, &lo, &hi);
    if (lo > hi) {
        lo = 0.0;
        hi = 1.0;
    } else if (lo == hi) {
        const double d = lo != 0.0 ? 0.1 * fabs(lo) : 1.0;
        lo -= d;
        hi += d;
    }
    lv_axis a = { 0.0, 0.0, nice_step(hi - lo, target) };
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    return a;
}

static int64_t column_of(const lv_area *ar, int64_t i, int64_t n)
{
    if (n <= 1)
        return ar->x0 + (ar->w - 1) / 2;
    return ar->x0 + (int64_t)llround((double)i * (double)(ar->w - 1) / (double)(n - 1));
}

static int64_t row_of(const lv_area *ar, const lv_axis *a, double v)
{
    const int64_t r = (int64_t)llround((a->hi - v) / (a->hi - a->lo) * (double)(ar->h - 1));
    return ar->y0 + (r < 0 ? 0 : r >= ar->h ? ar->h - 1 : r);
}

/* Horizontal grid lines, tick marks and right-aligned labels at every multiple of the step;
 * a label that would touch the one below it is left out. */
static void draw_value_ticks(cairo_t *cr, const lv_area *ar, const lv_axis *a)
{
    const int64_t ticks = (int64_t)llround((a->hi - a->lo) / a->step);
    double free_below = INFINITY;           /* the lowest y a label may still reach */
    for (int64_t k = 0; k <= ticks; k++) {
        const double v = a->lo + (double)k * a->step;
        const int64_t r = row_of(ar, a, v);
        char label[32];
        tick_label(label, sizeof label, v, a->step);
        lv_canvas_rgb(cr, 225, 225, 225);
        pixel_line(cr, (double)ar->x0, (double)r, (double)(ar->x0 + ar->w - 1), (double)r);
        lv_canvas_rgb(cr, 0, 0, 0);
        pixel_line(cr, (double)ar->x0 - 6, (double)r, (double)ar->x0 - 2, (double)r);
        if (r + 0.5 + TICK_FONT / 2 + 2 > free_below)
            continue;
        lv_canvas_text(cr, (double)ar->x0 - 9, (double)r + 0.5, TICK_FONT, 1.0, 0.5, 0.0, label);
        free_below = (double)r + 0.5 - TICK_FONT / 2;
    }
}

/* Vertical grid lines, tick marks and centred labels at whole multiples of a step >= 1; a label
 * that would touch the one before it is left out. */
static void draw_step_ticks(cairo_t *cr, const lv_area *ar, int64_t n)
{
    double free_from = -INFINITY;           /* the leftmost x a label may still use */
    const int64_t last = n > 1 ? n - 1 : 0;
    const double nice = last ? nice_step((double)last, ar->w / 80 > 2 ? ar->w / 80 : 2) : 1.0;
    const int64_t step = nice < 1.0 ? 1 : (int64_t)llround(nice);
    for (int64_t i = 0; i <= last; i += step) {
        const int64_t c = column_of(ar, i, n);
        char label[32];
        snprintf(label, sizeof label, "%lld", (long long)i);
        lv_canvas_rgb(cr, 225, 225, 225);
        pixel_line(cr, (double)c, (double)ar->y0, (double)c, (double)(ar->y0 + ar->h - 1));
        lv_canvas_rgb(cr, 0, 0, 0);
        pixel_line(cr, (double)c, (double)(ar->y0 + ar->h + 1), (double)c,
                   (double)(ar->y0 + ar->h + 5));
        const double w = lv_canvas_text_width(cr, TICK_FONT, label);
        const double x = (double)c + 0.5 - w / 2;
        if (x < free_from)
            continue;
        lv_canvas_text(cr, (double)c + 0.5, (double)(ar->y0 + ar->h) + 16, TICK_FONT, 0.5, 0.5,
                       0.0, label);
        free_from = x + w + 6;
    }
}

/* Finite points joined by lines; a non-finite point breaks the line; a lone finite point (no
 * finite neighbour) is drawn as a dot so it does not vanish. */
static void draw_series(cairo_t *cr, const lv_area *ar, const lv_axis *a, const float *y,
                        int64_t n, double width)
{
    int64_t run = 0;
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (int64_t i = 0; i <= n; i++) {
        if (i == n || !isfinite(y[i])) {
            if (run == 1) {                     /* a zero-length stroke: round caps make a dot */
                double x, yy;
                cairo_get_current_point(cr, &x, &yy);
                cairo_line_to(cr, x, yy);
            }
            if (run)
                cairo_stroke(cr);
            run = 0;
            continue;
        }
        const double x = (double)column_of(ar, i, n) + 0.5, r = (double)row_of(ar, a, y[i]) + 0.5;
        if (run++)
            cairo_line_to(cr, x, r);
        else
            cairo_move_to(cr, x, r);
    }
}

/* The legend: a white box with a short line of each named series' colour and its name, in the
 * data area's top-right corner. */
static void draw_legend(cairo_t *cr, const lv_area *ar, const lv_plot_text *t, int has_y2)
{
    const char *names[2] = { t->y_name, has_y2 ? t->y2_name : NULL };
    const int rgb[2][3] = { { LV_PLOT_Y_RGB }, { LV_PLOT_Y2_RGB } };
    const double widths[2] = { 1.5, 2.0 };
    double w = 0;
    int rows = 0;
    for (int k = 0; k < 2; k++)
        if (names[k]) {
            w = fmax(w, lv_canvas_text_width(cr, TICK_FONT, names[k]));
            rows++;
        }
    if (!rows)
        return;
    const double line = 18.0, bw = w + 44, bh = rows * line + 8;
    const double bx = (double)(ar->x0 + ar->w) - bw - 8, by = (double)ar->y0 + 8;
    cairo_rectangle(cr, floor(bx) + 0.5, floor(by) + 0.5, ceil(bw), ceil(bh));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    lv_canvas_rgb(cr, 160, 160, 160);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    double y = by + 4 + line / 2;
    for (int k = 0; k < 2; k++) {
        if (!names[k])
            continue;
        lv_canvas_rgb(cr, rgb[k][0], rgb[k][1], rgb[k][2]);
        cairo_set_line_width(cr, widths[k] + 0.5);
        cairo_move_to(cr, bx + 8, y);
        cairo_line_to(cr, bx + 32, y);
        cairo_stroke(cr);
        lv_canvas_rgb(cr, 0, 0, 0);
        lv_canvas_text(cr, bx + 38, y, TICK_FONT, 0.0, 0.5, 0.0, names[k]);
        y += line;
    }
}

int lv_plot_lines(const char *png, const float *y, const float *y2, int64_t n, int64_t width,
                  int64_t height, const lv_plot_text *text)
{
    LV_REQUIRE(n >= 0 && (y || !n));
    const int64_t min_w = LV_PLOT_LEFT + LV_PLOT_RIGHT + LV_PLOT_MIN_AREA;
    const int64_t min_h = LV_PLOT_TOP + LV_PLOT_BOTTOM + LV_PLOT_MIN_AREA;
    if (width < min_w || height < min_h || width > LV_IMAGE_MAX_SIDE ||
        height > LV_IMAGE_MAX_SIDE)
        return lv_set_error("%s: a %lldx%lld line chart is outside %lldx%lld .. %dx%d pixels; "
                            "pass a size in that range", png, (long long)width,
                            (long long)height, (long long)min_w, (long long)min_h,
                            LV_IMAGE_MAX_SIDE, LV_IMAGE_MAX_SIDE);
    const lv_plot_text none = { 0 };
    const lv_plot_text *t = text ? text : &none;
    cairo_t *cr = lv_canvas_new(png, width, height);
    if (!cr)
        return -1;
    const lv_area ar = { LV_PLOT_LEFT, LV_PLOT_TOP, width - LV_PLOT_LEFT - LV_PLOT_RIGHT,
                         height - LV_PLOT_TOP - LV_PLOT_BOTTOM };
    const lv_axis a = value_axis(y, y2, n, ar.h / 40 > 2 ? ar.h / 40 : 2);
    draw_value_ticks(cr, &ar, &a);
    draw_step_ticks(cr, &ar, n);
    lv_canvas_rgb(cr, 0, 0, 0);
    pixel_line(cr, (double)ar.x0 - 1, (double)ar.y0, (double)ar.x0 - 1, (double)(ar.y0 + ar.h));
    pixel_line(cr, (double)ar.x0 - 1, (double)(ar.y0 + ar.h), (double)(ar.x0 + ar.w - 1),
               (double)(ar.y0 + ar.h));
    lv_canvas_rgb(cr, LV_PLOT_Y_RGB);
    draw_series(cr, &ar, &a, y, n, 1.5);
    if (y2) {
        lv_canvas_rgb(cr, LV_PLOT_Y2_RGB);
        draw_series(cr, &ar, &a, y2, n, 2.0);
    }
    draw_legend(cr, &ar, t, y2 != NULL);
    lv_canvas_rgb(cr, 0, 0, 0);
    if (t->x_title)
        lv_canvas_text(cr, (double)ar.x0 + ar.w / 2.0, (double)(height - 12), AXIS_FONT, 0.5, 0.5,
                       0.0, t->x_title);
    if (t->y_title)
        lv_canvas_text(cr, 16, (double)ar.y0 + ar.h / 2.0, AXIS_FONT, 0.5, 0.5, -M_PI / 2,
                       t->y_title);
    draw_title(cr, t->title, (double)width, LV_PLOT_TOP / 2.0);
    return lv_canvas_write(cr, png);
}

/* ---- heatmap -------------------------------------------------------------------------------- */

static void heat_colour(int *c, double v, double lo, double hi)
{
    if (isnan(v)) {
        c[0] = c[1] = c[2] = 128;
        return;
    }
    const double t = fmin(fmax((v - lo) / (hi - lo), 0.0), 1.0);
    const int fade = (int)lround(255.0 * (t < 0.5 ? 2.0 * t : 2.0 - 2.0 * t));
    c[0] = t < 0.5 ? fade : 255;
    c[1] = fade;
    c[2] = t < 0.5 ? 255 : fade;
}

/* Index labels every `step` cells along the left (rows) or bottom (columns) edge of the
 * matrix, centred on their cell, with step a 1, 2 or 5 x 10^k that keeps labels apart. */
static void draw_index_ticks(cairo_t *cr, int64_t count, int64_t cell, int64_t bottom, int rows)
{
    const double need = (rows ? TICK_FONT + 4 : 32.0) / (double)cell;   /* cells per label */
    const int64_t step = need <= 1.0 ? 1 : (int64_t)llround(nice_step(need, 1));
    lv_canvas_rgb(cr, 0, 0, 0);
    for (int64_t i = 0; i < count; i += step) {
        char label[32];
        snprintf(label, sizeof label, "%lld", (long long)i);
        const int64_t mid = i * cell + cell / 2;
        if (rows) {
            const int64_t y = LV_PLOT_MATRIX_TOP + mid;
            pixel_line(cr, LV_PLOT_MATRIX_LEFT - 5, (double)y, LV_PLOT_MATRIX_LEFT - 2, (double)y);
            lv_canvas_text(cr, LV_PLOT_MATRIX_LEFT - 8, (double)y + 0.5, TICK_FONT, 1.0, 0.5, 0.0,
                           label);
        } else {
            const int64_t x = LV_PLOT_MATRIX_LEFT + mid;
            pixel_line(cr, (double)x, (double)bottom + 1, (double)x, (double)bottom + 4);
            lv_canvas_text(cr, (double)x + 0.5, (double)bottom + 16, TICK_FONT, 0.5, 0.5, 0.0,
                           label);
        }
    }
}

/* The colour bar: the map from l (bottom) to h (top), one pixel row at a time, outlined, with
 * numbered ticks on its right and the value title beyond them. */
static void draw_colour_bar(cairo_t *cr, int64_t x0, int64_t bar_h, double l, double h,
                            const char *title, int64_t width)
{
    const int64_t y0 = LV_PLOT_MATRIX_TOP, bw = 16;
    for (int64_t r = 0; r < bar_h; r++) {
        int c[3];
        heat_colour(c, h - ((double)r + 0.5) / (double)bar_h * (h - l), l, h);
        lv_canvas_rgb(cr, c[0], c[1], c[2]);
        cairo_rectangle(cr, (double)x0, (double)(y0 + r), (double)bw, 1.0);
        cairo_fill(cr);
    }
    lv_canvas_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, (double)x0 - 0.5, (double)y0 - 0.5, (double)bw + 1, (double)bar_h + 1);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    const double step = nice_step(h - l, bar_h / 40 > 2 ? bar_h / 40 : 2);
    for (double v = ceil(l / step - 1e-9) * step; v <= h + 1e-9 * step; v += step) {
        const int64_t r = y0 + (int64_t)llround((h - v) / (h - l) * (double)(bar_h - 1));
        char label[32];
        tick_label(label, sizeof label, v, step);
        pixel_line(cr, (double)(x0 + bw + 1), (double)r, (double)(x0 + bw + 4), (double)r);
        lv_canvas_text(cr, (double)(x0 + bw + 8), (double)r + 0.5, TICK_FONT, 0.0, 0.5, 0.0,
                       label);
    }
    if (title)
        lv_canvas_text(cr, (double)width - 14, (double)y0 + bar_h / 2.0, AXIS_FONT, 0.5, 0.5,
                       -M_PI / 2, title);
}

int lv_plot_matrix(const char *png, const float *m, int64_t rows, int64_t cols, int64_t cell,
                   float lo, float hi, const lv_plot_matrix_text *text)
{
    LV_REQUIRE(rows >= 1 && cols >= 1 && cell >= 1);
    const int64_t room = LV_IMAGE_MAX_SIDE - LV_PLOT_MATRIX_LEFT - LV_PLOT_MATRIX_RIGHT -
                         LV_PLOT_MATRIX_TOP - LV_PLOT_MATRIX_BOTTOM;
    if (rows > room / cell || cols > room / cell)
        return lv_set_error("%s: %lldx%lld cells of %lld pixels exceed %d pixels a side; use a "
                            "smaller cell or plot a sub-matrix", png, (long long)rows,
                            (long long)cols, (long long)cell, LV_IMAGE_MAX_SIDE);
    double l = lo, h = hi;
    if (!(isfinite(lo) && isfinite(hi) && lo < hi)) {
        l = INFINITY;
        h = -INFINITY;
        finite_range(m, rows * cols, &l, &h);
        if (!(l < h)) {                 /* constant, or no finite cell: all white */
            const double mid = l > h ? 0.0 : l, d = mid != 0.0 ? fabs(mid) : 1.0;
            l = mid - d;
            h = mid + d;
        }
    }
    const lv_plot_matrix_text none = { 0 };
    const lv_plot_matrix_text *t = text ? text : &none;
    const int64_t area_w = cols * cell, area_h = rows * cell;
    const int64_t bar_h = area_h > LV_PLOT_MATRIX_MIN_BAR ? area_h : LV_PLOT_MATRIX_MIN_BAR;
    const int64_t width = LV_PLOT_MATRIX_LEFT + area_w + LV_PLOT_MATRIX_RIGHT;
    const int64_t height = LV_PLOT_MATRIX_TOP + bar_h + LV_PLOT_MATRIX_BOTTOM;
    cairo_t *cr = lv_canvas_new(png, width, height);
    if (!cr)
        return -1;
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);      /* cells: exact colours, sharp edges */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            int c[3];
            heat_colour(c, m[i * cols + j], l, h);
            lv_canvas_rgb(cr, c[0], c[1], c[2]);
            cairo_rectangle(cr, (double)(LV_PLOT_MATRIX_LEFT + j * cell),
                            (double)(LV_PLOT_MATRIX_TOP + i * cell), (double)cell, (double)cell);
            cairo_fill(cr);
        }
    lv_canvas_rgb(cr, 0, 0, 0);
    for (int64_t i = 0; cell >= 3 && i < rows && i < cols; i++) {
        cairo_rectangle(cr, (double)(LV_PLOT_MATRIX_LEFT + i * cell) + 0.5,
                        (double)(LV_PLOT_MATRIX_TOP + i * cell) + 0.5, (double)cell - 1,
                        (double)cell - 1);
        cairo_set_line_width(cr, 1.0);
        cairo_stroke(cr);
    }
    const int64_t bottom = LV_PLOT_MATRIX_TOP + area_h;
    draw_index_ticks(cr, rows, cell, bottom, 1);
    draw_index_ticks(cr, cols, cell, bottom, 0);
    draw_colour_bar(cr, LV_PLOT_MATRIX_LEFT + area_w + 16, bar_h, l, h, t->value_title, width);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
    lv_canvas_rgb(cr, 0, 0, 0);
    if (t->col_title)
        lv_canvas_text(cr, LV_PLOT_MATRIX_LEFT + area_w / 2.0, (double)bottom + 40, AXIS_FONT,
                       0.5, 0.5, 0.0, t->col_title);
    if (t->row_title)
        lv_canvas_text(cr, 18, LV_PLOT_MATRIX_TOP + area_h / 2.0, AXIS_FONT, 0.5, 0.5,
                       -M_PI / 2, t->row_title);
    draw_title(cr, t->title, (double)width, LV_PLOT_MATRIX_TOP / 2.0);
    return lv_canvas_write(cr, png);
}

#endif
