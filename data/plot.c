/* Line charts, x-y charts and heatmaps as PNG (see plot.h), drawn with cairo on the shared canvas (canvas.h):
 * anti-aliased series and text, crisp one-pixel axes and grid lines (drawn on pixel centres),
 * heatmap cells filled without anti-aliasing so each is exactly its colour. */
#include "plot.h"

#include "error.h"
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The chart's series and point that break plot.h's rules, named: 0, or -1 + lv_error(). */
static int xy_check(const char *png, const lv_plot_chart *c)
{
    LV_REQUIRE(c && (c->series || c->n_series == 0) && (c->hlines || c->n_hlines == 0));
    const int64_t min_w = LV_PLOT_LEFT + LV_PLOT_RIGHT + LV_PLOT_MIN_AREA;
    const int64_t min_h = LV_PLOT_TOP + LV_PLOT_BOTTOM + LV_PLOT_MIN_AREA;
    if (c->width < min_w || c->height < min_h || c->width > LV_IMAGE_MAX_SIDE ||
        c->height > LV_IMAGE_MAX_SIDE)
        return lv_set_error("%s: a %lldx%lld chart is outside %lldx%lld .. %dx%d pixels; pass a "
                            "size in that range", png, (long long)c->width, (long long)c->height,
                            (long long)min_w, (long long)min_h, LV_IMAGE_MAX_SIDE,
                            LV_IMAGE_MAX_SIDE);
    if (c->n_series < 1 || c->n_series > LV_PLOT_MAX_SERIES)
        return lv_set_error("%s: a chart of %d series; give 1 to %d", png, c->n_series,
                            LV_PLOT_MAX_SERIES);
    if (c->n_hlines < 0 || c->n_hlines > LV_PLOT_MAX_HLINES)
        return lv_set_error("%s: %d reference lines; give at most %d", png, c->n_hlines,
                            LV_PLOT_MAX_HLINES);
    for (int s = 0; s < c->n_series; s++) {
        const lv_plot_series *se = &c->series[s];
        const char *name = se->name ? se->name : "";
        LV_REQUIRE(se->n >= 0 && (se->points || se->n == 0));
        for (int64_t i = 0; i < se->n; i++) {
            const lv_plot_point *p = &se->points[i];
            if (p->y_err < 0)
                return lv_set_error("%s: series %d '%s' point %lld: y_err %g is negative; an "
                                    "error bar is a spread (>= 0; NaN: none)", png, s, name,
                                    (long long)i, p->y_err);
            if ((c->x_log && p->x <= 0) || (c->y_log && p->y <= 0))
                return lv_set_error("%s: series %d '%s' point %lld: %s = %g on a log axis; "
                                    "plot values > 0 there (or a linear axis)", png, s, name,
                                    (long long)i, c->x_log && p->x <= 0 ? "x" : "y",
                                    c->x_log && p->x <= 0 ? p->x : p->y);
        }
    }
    for (int k = 0; k < c->n_hlines; k++)
        if (!isfinite(c->hlines[k].y) || (c->y_log && c->hlines[k].y <= 0))
            return lv_set_error("%s: reference line %d at y = %g: %s", png, k, c->hlines[k].y,
                                isfinite(c->hlines[k].y) ? "not > 0 on a log axis"
                                                         : "give a finite value");
    return 0;
}

#ifndef LV_HAVE_CAIRO

int lv_plot_xy(const char *png, const lv_plot_chart *c)
{
    if (xy_check(png, c) < 0)
        return -1;
    return lv_set_error("%s", LV_NO_PICTURES);
}

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
#define LABEL_FONT 11.0             /* point labels and reference-line labels */
#define LEGEND_ROW 18.0             /* the legend's line spacing */
#define MAX_TICKS 64

typedef struct {
    int64_t x0, y0, w, h;           /* a chart's data area */
} lv_area;

/* An axis: [lo, hi] in its units (log10 of the value on a log axis); step, in values, is the
 * linear tick step (a log axis's ticks when fewer than two decade ticks fall inside). */
typedef struct {
    double lo, hi, step;
    int log;
} lv_axis;

/* One legend row: a name, its colour, a line sample of that width (0: none) and a marker
 * (-1: none). */
typedef struct {
    const char *name;
    int rgb[3];
    double line;
    int marker;
} lv_legend_entry;

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

/* A tick value as text: whole numbers below a million in full ("20000", not "2e+04"), others
 * "%.4g"; the -0 and 1e-17 of floating-point steps are written as 0. */
static void tick_label(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < 1e-9 * step)
        v = 0.0;
    if (v == floor(v) && fabs(v) < 1e6)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.4g", v);
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

/* Text as lv_canvas_text draws it (left edge at x, middle on y), over a white halo 3 pixels
 * wide, so a label stays readable across lines and grid. */
static void halo_text(cairo_t *cr, double x, double y, double size, const char *text,
                      const int *rgb)
{
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y + 0.5 * 0.72 * size);        /* lv_canvas_text's capital height */
    cairo_text_path(cr, text);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 3.0);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_stroke_preserve(cr);
    lv_canvas_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_fill(cr);
    cairo_restore(cr);
}

/* ---- axes of the line and x-y charts -------------------------------------------------------- */

static int64_t clamp_pixel(int64_t p, int64_t n)
{
    return p < 0 ? 0 : p >= n ? n - 1 : p;
}

/* The column of value v: round((v - lo) * (w - 1) / (hi - lo)) in axis units; the middle when
 * the axis has no span (a line chart of one point). */
static int64_t axis_column(const lv_area *ar, const lv_axis *a, double v)
{
    if (!(a->hi > a->lo))
        return ar->x0 + (ar->w - 1) / 2;
    const double u = a->log ? log10(v) : v;
    if (isnan(u) || u == -INFINITY)
        return ar->x0;
    return ar->x0 + clamp_pixel((int64_t)llround(fmin((u - a->lo) * (double)(ar->w - 1) /
                                                      (a->hi - a->lo), 1e15)), ar->w);
}

/* The row of value v: round((hi - v) / (hi - lo) * (h - 1)) in axis units, clamped to the area;
 * a value <= 0 on a log axis (an error bar's lower end) sits on the bottom row. */
static int64_t axis_row(const lv_area *ar, const lv_axis *a, double v)
{
    const double u = a->log ? (v > 0 ? log10(v) : -INFINITY) : v;
    if (u == -INFINITY)
        return ar->y0 + ar->h - 1;
    const double r = fmax((a->hi - u) / (a->hi - a->lo) * (double)(ar->h - 1), -1.0);
    return ar->y0 + clamp_pixel((int64_t)llround(fmin(r, 1e15)), ar->h);
}

/* The tick values of an axis, ascending, into t (at most MAX_TICKS): multiples of the step
 * inside [lo, hi]; on a log axis 1, 2, 5 x 10^k (only 10^k when a decade spans fewer than
 * `decade` of the axis's `pixels`), falling back to the multiples of the step when fewer than
 * two of those fall inside. *log_ticks: 1 when the ticks are the decade ones. */
static int axis_ticks(const lv_axis *a, int64_t pixels, double decade, double *t, int *log_ticks)
{
    int n = 0;
    const double lo = a->log ? pow(10.0, a->lo) : a->lo, hi = a->log ? pow(10.0, a->hi) : a->hi;
    *log_ticks = 0;
    if (a->log) {
        static const double mantissa[3] = { 1.0, 2.0, 5.0 };
        const int m = (double)pixels / (a->hi - a->lo) >= decade ? 3 : 1;
        for (double d = floor(a->lo); d <= ceil(a->hi) && n < MAX_TICKS; d += 1.0)
            for (int k = 0; k < m && n < MAX_TICKS; k++) {
                const double v = mantissa[k] * pow(10.0, d);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9))
                    t[n++] = v;
            }
        if (n >= 2) {
            *log_ticks = 1;
            return n;
        }
        n = 0;
    }
    const double slack = 1e-9 * a->step, first = ceil((lo - slack) / a->step) * a->step;
    for (double v = first; v <= hi + slack && n < MAX_TICKS; v = first + n * a->step)
        t[n++] = v;
    return n;
}

/* Horizontal grid lines, tick marks and right-aligned labels at the value axis's ticks; a label
 * that would touch the one below it is left out. */
static void draw_y_ticks(cairo_t *cr, const lv_area *ar, const lv_axis *a)
{
    double t[MAX_TICKS];
    int log_ticks;
    const int n = axis_ticks(a, ar->h, 60.0, t, &log_ticks);
    double free_below = INFINITY;           /* the lowest y a label may still reach */
    for (int k = 0; k < n; k++) {
        const int64_t r = axis_row(ar, a, t[k]);
        char label[32];
        tick_label(label, sizeof label, t[k], log_ticks ? t[k] : a->step);
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

/* Vertical grid lines, tick marks and centred labels under the area at the x axis's ticks; a
 * label that would touch the one before it is left out. */
static void draw_x_ticks(cairo_t *cr, const lv_area *ar, const lv_axis *a)
{
    double t[MAX_TICKS];
    int log_ticks;
    const int n = axis_ticks(a, ar->w, 150.0, t, &log_ticks);
    double free_from = -INFINITY;           /* the leftmost x a label may still use */
    for (int k = 0; k < n; k++) {
        const int64_t c = axis_column(ar, a, t[k]);
        char label[32];
        tick_label(label, sizeof label, t[k], log_ticks ? t[k] : a->step);
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

/* The axis lines (left and bottom of the data area, one pixel outside it) and the axis
 * titles: x under the tick labels, y reading upwards left of them. */
static void draw_axes(cairo_t *cr, const lv_area *ar, int64_t height, const char *x_title,
                      const char *y_title)
{
    lv_canvas_rgb(cr, 0, 0, 0);
    pixel_line(cr, (double)ar->x0 - 1, (double)ar->y0, (double)ar->x0 - 1, (double)(ar->y0 + ar->h));
    pixel_line(cr, (double)ar->x0 - 1, (double)(ar->y0 + ar->h), (double)(ar->x0 + ar->w - 1),
               (double)(ar->y0 + ar->h));
    if (x_title)
        lv_canvas_text(cr, (double)ar->x0 + ar->w / 2.0, (double)(height - 12), AXIS_FONT, 0.5,
                       0.5, 0.0, x_title);
    if (y_title)
        lv_canvas_text(cr, 16, (double)ar->y0 + ar->h / 2.0, AXIS_FONT, 0.5, 0.5, -M_PI / 2,
                       y_title);
}

/* The outline of marker `shape` of radius r around (cx, cy), as a path; squares and diamonds a
 * little smaller and triangles a little larger than the circle, so they look the same size. */
static void marker_path(cairo_t *cr, int shape, double cx, double cy, double r)
{
    switch (shape) {
    case LV_MARKER_CIRCLE:
        cairo_new_sub_path(cr);
        cairo_arc(cr, cx, cy, r, 0.0, 2 * M_PI);
        return;
    case LV_MARKER_SQUARE:
        cairo_rectangle(cr, cx - 0.85 * r, cy - 0.85 * r, 1.7 * r, 1.7 * r);
        return;
    default: {          /* regular polygons: corners, starting angle (0: pointing right) */
        const int corners = shape == LV_MARKER_DIAMOND ? 4 : shape == LV_MARKER_HEXAGON ? 6 : 3;
        const double start = shape == LV_MARKER_TRIANGLE_UP ? -M_PI / 2 :
                             shape == LV_MARKER_TRIANGLE_DOWN ? M_PI / 2 : 0.0;
        const double rr = corners == 3 ? 1.3 * r : corners == 4 ? 1.2 * r : 1.05 * r;
        for (int k = 0; k < corners; k++) {
            const double t = start + 2 * M_PI * k / corners;
            if (k)
                cairo_line_to(cr, cx + rr * cos(t), cy + rr * sin(t));
            else
                cairo_move_to(cr, cx + rr * cos(t), cy + rr * sin(t));
        }
        cairo_close_path(cr);
    }
    }
}

/* A marker filled with rgb and edged in white, so overlapping markers stay apart. */
static void draw_marker(cairo_t *cr, int shape, double cx, double cy, const int *rgb)
{
    marker_path(cr, shape, cx, cy, LV_PLOT_MARKER_RADIUS);
    lv_canvas_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
}

/* The legend box's width and height for its entries (0 x 0 when none has a name). */
static void legend_size(cairo_t *cr, const lv_legend_entry *e, int n, double *bw, double *bh)
{
    double w = 0;
    int rows = 0;
    for (int k = 0; k < n; k++)
        if (e[k].name) {
            w = fmax(w, lv_canvas_text_width(cr, TICK_FONT, e[k].name));
            rows++;
        }
    *bw = rows ? w + 44 : 0;
    *bh = rows ? rows * LEGEND_ROW + 8 : 0;
}

/* The legend at (bx, by): a white box with each named entry's line sample and marker in its
 * colour, and its name. */
static void draw_legend(cairo_t *cr, double bx, double by, const lv_legend_entry *e, int n)
{
    double bw, bh;
    legend_size(cr, e, n, &bw, &bh);
    if (!bw)
        return;
    cairo_rectangle(cr, floor(bx) + 0.5, floor(by) + 0.5, ceil(bw), ceil(bh));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    lv_canvas_rgb(cr, 160, 160, 160);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    double y = by + 4 + LEGEND_ROW / 2;
    for (int k = 0; k < n; k++) {
        if (!e[k].name)
            continue;
        lv_canvas_rgb(cr, e[k].rgb[0], e[k].rgb[1], e[k].rgb[2]);
        if (e[k].line > 0) {
            cairo_set_line_width(cr, e[k].line + 0.5);
            cairo_move_to(cr, bx + 8, y);
            cairo_line_to(cr, bx + 32, y);
            cairo_stroke(cr);
        }
        if (e[k].marker >= 0)
            draw_marker(cr, e[k].marker, bx + 20, y, e[k].rgb);
        lv_canvas_rgb(cr, 0, 0, 0);
        lv_canvas_text(cr, bx + 38, y, TICK_FONT, 0.0, 0.5, 0.0, e[k].name);
        y += LEGEND_ROW;
    }
}

/* ---- line chart ----------------------------------------------------------------------------- */

/* The value axis: the finite data's range widened to whole multiples of its tick step. */
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
    lv_axis a = { 0.0, 0.0, nice_step(hi - lo, target), 0 };
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    return a;
}

/* The step axis: indices 0 .. n-1, ticks at whole multiples of a step >= 1. */
static lv_axis step_axis(const lv_area *ar, int64_t n)
{
    const int64_t last = n > 1 ? n - 1 : 0;
    const double nice = last ? nice_step((double)last, ar->w / 80 > 2 ? ar->w / 80 : 2) : 1.0;
    const lv_axis a = { 0.0, (double)last, nice < 1.0 ? 1.0 : (double)llround(nice), 0 };
    return a;
}

/* Finite points joined by lines; a non-finite point breaks the line; a lone finite point (no
 * finite neighbour) is drawn as a dot so it does not vanish. */
static void draw_series(cairo_t *cr, const lv_area *ar, const lv_axis *xa, const lv_axis *a,
                        const float *y, int64_t n, double width)
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
        const double x = (double)axis_column(ar, xa, (double)i) + 0.5;
        const double r = (double)axis_row(ar, a, y[i]) + 0.5;
        if (run++)
            cairo_line_to(cr, x, r);
        else
            cairo_move_to(cr, x, r);
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
    const lv_axis xa = step_axis(&ar, n);
    draw_y_ticks(cr, &ar, &a);
    draw_x_ticks(cr, &ar, &xa);
    draw_axes(cr, &ar, height, t->x_title, t->y_title);
    lv_canvas_rgb(cr, LV_PLOT_Y_RGB);
    draw_series(cr, &ar, &xa, &a, y, n, 1.5);
    if (y2) {
        lv_canvas_rgb(cr, LV_PLOT_Y2_RGB);
        draw_series(cr, &ar, &xa, &a, y2, n, 2.0);
    }
    const lv_legend_entry legend[2] = { { t->y_name, { LV_PLOT_Y_RGB }, 1.5, -1 },
                                        { y2 ? t->y2_name : NULL, { LV_PLOT_Y2_RGB }, 2.0, -1 } };
    double bw, bh;
    legend_size(cr, legend, 2, &bw, &bh);
    draw_legend(cr, (double)(ar.x0 + ar.w) - bw - 8, (double)ar.y0 + 8, legend, 2);
    draw_title(cr, t->title, (double)width, LV_PLOT_TOP / 2.0);
    return lv_canvas_write(cr, png);
}

/* ---- x-y chart ------------------------------------------------------------------------------ */

static const int palette[LV_PLOT_PALETTE_SIZE][3] = LV_PLOT_PALETTE;

/* A point is drawn when x and y are finite (and > 0 on a log axis). */
static int drawable(const lv_plot_chart *c, const lv_plot_point *p)
{
    return isfinite(p->x) && isfinite(p->y) && (!c->x_log || p->x > 0) && (!c->y_log || p->y > 0);
}

static void widen(double v, int log, double *lo, double *hi)
{
    if (isfinite(v) && (!log || v > 0)) {
        *lo = fmin(*lo, v);
        *hi = fmax(*hi, v);
    }
}

/* [min, max] of the data in axis units, padded by 5% of the span a side (plot.h). */
static lv_axis fit_axis(double lo, double hi, int log, int64_t target)
{
    lv_axis a = { 0.0, 1.0, 0.0, log };
    if (lo <= hi) {
        a.lo = log ? log10(lo) : lo;
        a.hi = log ? log10(hi) : hi;
        const double d = a.lo == a.hi ? (log ? 0.5 : a.lo != 0.0 ? 0.1 * fabs(a.lo) : 1.0)
                                      : 0.05 * (a.hi - a.lo);
        a.lo -= d;
        a.hi += d;
    }
    const double span = log ? pow(10.0, a.hi) - pow(10.0, a.lo) : a.hi - a.lo;
    a.step = nice_step(span, target);
    return a;
}

static void xy_axes(const lv_plot_chart *c, const lv_area *ar, lv_axis *xa, lv_axis *ya)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < c->n_series; s++)
        for (int64_t i = 0; i < c->series[s].n; i++) {
            const lv_plot_point *p = &c->series[s].points[i];
            if (!drawable(c, p))
                continue;
            widen(p->x, c->x_log, &xlo, &xhi);
            widen(p->y, c->y_log, &ylo, &yhi);
            if (isfinite(p->y_err) && p->y_err > 0) {
                widen(p->y - p->y_err, c->y_log, &ylo, &yhi);
                widen(p->y + p->y_err, c->y_log, &ylo, &yhi);
            }
        }
    for (int k = 0; k < c->n_hlines; k++)
        widen(c->hlines[k].y, c->y_log, &ylo, &yhi);
    *xa = fit_axis(xlo, xhi, c->x_log, ar->w / 80 > 2 ? ar->w / 80 : 2);
    *ya = fit_axis(ylo, yhi, c->y_log, ar->h / 40 > 2 ? ar->h / 40 : 2);
}

typedef struct {
    double x0, y0, x1, y1;          /* a rectangle in pixels, corners included */
} lv_box;

static int boxes_meet(const lv_box *a, const lv_box *b)
{
    return a->x0 <= b->x1 && b->x0 <= a->x1 && a->y0 <= b->y1 && b->y0 <= a->y1;
}

/* Where a point label goes: left edge 9 pixels right of the marker's centre, or right edge 9
 * pixels left of it when the text would leave the data area; centred on the marker's row. */
static lv_box label_box(cairo_t *cr, const lv_area *ar, int64_t col, int64_t row,
                        const char *label)
{
    const double w = lv_canvas_text_width(cr, LABEL_FONT, label), cx = (double)col + 0.5;
    const int right = cx + 9 + w <= (double)(ar->x0 + ar->w);
    const lv_box b = { right ? cx + 9 : cx - 9 - w, (double)row + 0.5 - LABEL_FONT / 2,
                       right ? cx + 9 + w : cx - 9, (double)row + 0.5 + LABEL_FONT / 2 };
    return b;
}

/* The error bar of p as pixel rows (top <= bottom); 0 when it has none. */
static int error_rows(const lv_area *ar, const lv_axis *ya, const lv_plot_point *p,
                      int64_t *top, int64_t *bottom)
{
    if (!(isfinite(p->y_err) && p->y_err > 0))
        return 0;
    *top = axis_row(ar, ya, p->y + p->y_err);
    *bottom = axis_row(ar, ya, p->y - p->y_err);
    return 1;
}

/* Whether a line segment from (ax, ay) to (bx, by) comes within 2 pixels of box b (sampled
 * every pixel along it). */
static int segment_meets(double ax, double ay, double bx, double by, const lv_box *b)
{
    const int64_t steps = 1 + (int64_t)ceil(hypot(bx - ax, by - ay));
    const lv_box wide = { b->x0 - 2, b->y0 - 2, b->x1 + 2, b->y1 + 2 };
    for (int64_t k = 0; k <= steps; k++) {
        const double t = (double)k / (double)steps;
        const double x = ax + t * (bx - ax), y = ay + t * (by - ay);
        if (x >= wide.x0 && x <= wide.x1 && y >= wide.y0 && y <= wide.y1)
            return 1;
    }
    return 0;
}

/* Where reference line k's label goes: right-aligned 4 pixels inside the area's right end,
 * its middle 8 pixels above the line, or 10 below it when that would cross the area's top.
 * 0 when the line has no label. */
static int hline_label_box(cairo_t *cr, const lv_plot_chart *c, int k, const lv_area *ar,
                           const lv_axis *ya, lv_box *b)
{
    const char *label = c->hlines[k].label;
    if (!label)
        return 0;
    const int64_t r = axis_row(ar, ya, c->hlines[k].y);
    const double above = (double)r - 8;
    const double y = above - LABEL_FONT / 2 < (double)ar->y0 ? (double)r + 10.5 : above;
    const double w = lv_canvas_text_width(cr, LABEL_FONT, label);
    const double right = (double)(ar->x0 + ar->w) - 4;
    const lv_box box = { right - w, y - LABEL_FONT / 2, right, y + LABEL_FONT / 2 };
    *b = box;
    return 1;
}

/* Whether anything of the chart (a marker, an error bar, a point or reference-line label, a
 * series line) touches box b. */
static int xy_meets(cairo_t *cr, const lv_plot_chart *c, const lv_area *ar, const lv_axis *xa,
                    const lv_axis *ya, const lv_box *b)
{
    const double m = LV_PLOT_MARKER_RADIUS * 1.3 + 2;
    for (int k = 0; k < c->n_hlines; k++) {
        lv_box l;
        if (hline_label_box(cr, c, k, ar, ya, &l) && boxes_meet(&l, b))
            return 1;
    }
    for (int s = 0; s < c->n_series; s++) {
        double px = NAN, py = NAN;                  /* the previous drawable point */
        for (int64_t i = 0; i < c->series[s].n; i++) {
            const lv_plot_point *p = &c->series[s].points[i];
            if (!drawable(c, p)) {
                px = NAN;
                continue;
            }
            const int64_t col = axis_column(ar, xa, p->x), row = axis_row(ar, ya, p->y);
            const double x = (double)col + 0.5, y = (double)row + 0.5;
            const lv_box marker = { x - m, y - m, x + m, y + m };
            int64_t top, bottom;
            if (boxes_meet(&marker, b))
                return 1;
            if (error_rows(ar, ya, p, &top, &bottom)) {
                const lv_box bar = { x - 6, (double)top - 1, x + 6, (double)bottom + 2 };
                if (boxes_meet(&bar, b))
                    return 1;
            }
            if (p->label) {
                const lv_box l = label_box(cr, ar, col, row, p->label);
                if (boxes_meet(&l, b))
                    return 1;
            }
            if (c->series[s].line && !isnan(px) && segment_meets(px, py, x, y, b))
                return 1;
            px = x;
            py = y;
        }
    }
    return 0;
}

/* The reference lines: dashed, on their value's row, with their labels (hline_label_box). */
static void draw_hlines(cairo_t *cr, const lv_plot_chart *c, const lv_area *ar, const lv_axis *ya)
{
    const double dash[2] = { 6.0, 4.0 };
    for (int k = 0; k < c->n_hlines; k++) {
        const int64_t r = axis_row(ar, ya, c->hlines[k].y);
        lv_canvas_rgb(cr, LV_PLOT_HLINE_RGB);
        cairo_set_dash(cr, dash, 2, 0.5);       /* dashes from pixel edge to pixel edge */
        pixel_line(cr, (double)ar->x0, (double)r, (double)(ar->x0 + ar->w - 1), (double)r);
        cairo_set_dash(cr, NULL, 0, 0.0);
        lv_box b;
        const int grey[3] = { LV_PLOT_HLINE_RGB };
        if (hline_label_box(cr, c, k, ar, ya, &b))
            halo_text(cr, b.x0, (b.y0 + b.y1) / 2, LABEL_FONT, c->hlines[k].label, grey);
    }
}

/* Series s's lines (broken at points not drawn) and error bars. */
static void draw_lines_and_bars(cairo_t *cr, const lv_plot_chart *c, int s, const lv_area *ar,
                                const lv_axis *xa, const lv_axis *ya)
{
    const lv_plot_series *se = &c->series[s];
    const int *rgb = palette[s % LV_PLOT_PALETTE_SIZE];
    lv_canvas_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_width(cr, 1.5);
    int run = 0;
    for (int64_t i = 0; se->line && i <= se->n; i++) {
        if (i == se->n || !drawable(c, &se->points[i])) {
            if (run)
                cairo_stroke(cr);
            run = 0;
            continue;
        }
        const double x = (double)axis_column(ar, xa, se->points[i].x) + 0.5;
        const double y = (double)axis_row(ar, ya, se->points[i].y) + 0.5;
        if (run++)
            cairo_line_to(cr, x, y);
        else
            cairo_move_to(cr, x, y);
    }
    cairo_new_path(cr);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (int64_t i = 0; i < se->n; i++) {
        const lv_plot_point *p = &se->points[i];
        int64_t top, bottom;
        if (!drawable(c, p) || !error_rows(ar, ya, p, &top, &bottom))
            continue;
        const double x = (double)axis_column(ar, xa, p->x) + 0.5;
        cairo_move_to(cr, x, (double)top + 0.5);
        cairo_line_to(cr, x, (double)bottom + 0.5);
        cairo_move_to(cr, x - 4, (double)top + 0.5);
        cairo_line_to(cr, x + 4, (double)top + 0.5);
        cairo_move_to(cr, x - 4, (double)bottom + 0.5);
        cairo_line_to(cr, x + 4, (double)bottom + 0.5);
        cairo_stroke(cr);
    }
}

static void draw_markers_and_labels(cairo_t *cr, const lv_plot_chart *c, int s,
                                    const lv_area *ar, const lv_axis *xa, const lv_axis *ya,
                                    int labels)
{
    const lv_plot_series *se = &c->series[s];
    for (int64_t i = 0; i < se->n; i++) {
        const lv_plot_point *p = &se->points[i];
        if (!drawable(c, p))
            continue;
        const int64_t col = axis_column(ar, xa, p->x), row = axis_row(ar, ya, p->y);
        if (!labels) {
            draw_marker(cr, s % LV_PLOT_MARKERS, (double)col + 0.5, (double)row + 0.5,
                        palette[s % LV_PLOT_PALETTE_SIZE]);
        } else if (p->label) {
            const lv_box b = label_box(cr, ar, col, row, p->label);
            const int grey[3] = { LV_PLOT_HLINE_RGB };
            halo_text(cr, b.x0, (double)row + 0.5, LABEL_FONT, p->label, grey);
        }
    }
}

/* Where the legend goes (plot.h): the first free corner of the data area, else outside it to
 * the right (the area narrows), else the top-right corner over the data. */
static void place_legend(cairo_t *cr, const lv_plot_chart *c, lv_area *ar, lv_axis *xa,
                         lv_axis *ya, double bw, double bh, double *bx, double *by)
{
    const double left = (double)ar->x0 + 8, right = (double)(ar->x0 + ar->w) - bw - 8;
    const double top = (double)ar->y0 + 8, bottom = (double)(ar->y0 + ar->h) - bh - 8;
    const double corners[4][2] = { { right, top }, { left, top }, { right, bottom },
                                   { left, bottom } };
    for (int k = 0; k < 4; k++) {
        const lv_box b = { corners[k][0], corners[k][1], corners[k][0] + bw,
                           corners[k][1] + bh };
        if (left <= right && top <= bottom && !xy_meets(cr, c, ar, xa, ya, &b)) {
            *bx = corners[k][0];
            *by = corners[k][1];
            return;
        }
    }
    const int64_t narrow = ar->w - (int64_t)ceil(bw) - 12;
    if (narrow >= ar->w / 2 && narrow >= LV_PLOT_MIN_AREA) {
        ar->w = narrow;
        xy_axes(c, ar, xa, ya);
        *bx = (double)(ar->x0 + ar->w) + 12;
        *by = (double)ar->y0;
        return;
    }
    *bx = right;
    *by = top;
}

int lv_plot_xy(const char *png, const lv_plot_chart *c)
{
    if (xy_check(png, c) < 0)
        return -1;
    cairo_t *cr = lv_canvas_new(png, c->width, c->height);
    if (!cr)
        return -1;
    lv_area ar = { LV_PLOT_LEFT, LV_PLOT_TOP, c->width - LV_PLOT_LEFT - LV_PLOT_RIGHT,
                   c->height - LV_PLOT_TOP - LV_PLOT_BOTTOM };
    lv_axis xa, ya;
    xy_axes(c, &ar, &xa, &ya);
    lv_legend_entry legend[LV_PLOT_MAX_SERIES];
    for (int s = 0; s < c->n_series; s++) {
        const int *rgb = palette[s % LV_PLOT_PALETTE_SIZE];
        const lv_legend_entry e = { c->series[s].name, { rgb[0], rgb[1], rgb[2] },
                                    c->series[s].line ? 1.5 : 0.0, s % LV_PLOT_MARKERS };
        legend[s] = e;
    }
    double bw, bh, bx = 0, by = 0;
    legend_size(cr, legend, c->n_series, &bw, &bh);
    if (bw)
        place_legend(cr, c, &ar, &xa, &ya, bw, bh, &bx, &by);
    draw_y_ticks(cr, &ar, &ya);
    draw_x_ticks(cr, &ar, &xa);
    draw_hlines(cr, c, &ar, &ya);
    draw_axes(cr, &ar, c->height, c->x_title, c->y_title);
    for (int s = 0; s < c->n_series; s++)
        draw_lines_and_bars(cr, c, s, &ar, &xa, &ya);
    for (int s = 0; s < c->n_series; s++)
        draw_markers_and_labels(cr, c, s, &ar, &xa, &ya, 0);
    for (int s = 0; s < c->n_series; s++)
        draw_markers_and_labels(cr, c, s, &ar, &xa, &ya, 1);
    draw_legend(cr, bx, by, legend, c->n_series);
    draw_title(cr, c->title, (double)c->width, LV_PLOT_TOP / 2.0);
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
