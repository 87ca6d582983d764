/* Line charts and heatmaps as PNG (see plot.h): an RGB canvas, Bresenham lines, filled
 * rectangles and the 5x7 bitmap font of font.c, then one atomic lv_image_write_png.
 * No plotting or text library, no anti-aliasing, no scaling. */
#include "plot.h"
#include "font.h"

#include "error.h"
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *rgb;                   /* (height, width, 3) */
    int64_t width, height;
} lv_canvas;

typedef struct {
    int64_t x0, y0, w, h;           /* the line chart's data area */
} lv_area;

typedef struct {
    double lo, hi, step;            /* an axis range, whole multiples of its tick step */
} lv_axis;

static const uint8_t black[3] = { 0, 0, 0 };
static const uint8_t grid[3] = { 225, 225, 225 }, grey[3] = { 128, 128, 128 };
static const uint8_t y_rgb[3] = { LV_PLOT_Y_RGB }, y2_rgb[3] = { LV_PLOT_Y2_RGB };

/* ---- canvas and font ------------------------------------------------------------------------ */


static void put_pixel(const lv_canvas *cv, int64_t x, int64_t y, const uint8_t *c)
{
    if (x >= 0 && y >= 0 && x < cv->width && y < cv->height)
        memcpy(cv->rgb + (y * cv->width + x) * 3, c, 3);
}

static void fill_rect(const lv_canvas *cv, int64_t x, int64_t y, int64_t w, int64_t h,
                      const uint8_t *c)
{
    for (int64_t yy = y; yy < y + h; yy++)
        for (int64_t xx = x; xx < x + w; xx++)
            put_pixel(cv, xx, yy, c);
}

static int64_t text_width(const char *text, int64_t zoom)
{
    const int64_t len = (int64_t)strlen(text);
    return len ? (6 * len - 1) * zoom : 0;
}

/* text with its top-left corner at (x, y), each font pixel a zoom x zoom square, clipped. */
static void draw_text(const lv_canvas *cv, int64_t x, int64_t y, int64_t zoom, const char *text,
                      const uint8_t *c)
{
    for (int64_t i = 0; text[i]; i++) {
        const uint8_t *g = lv_font_glyph(text[i]);
        for (int64_t r = 0; r < 7; r++)
            for (int64_t b = 0; b < 5; b++)
                if (g[r] >> (4 - b) & 1)
                    fill_rect(cv, x + (6 * i + b) * zoom, y + r * zoom, zoom, zoom, c);
    }
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Bresenham: every pixel of the 8-connected line from (x0, y0) to (x1, y1), both ends included. */
static void draw_line(const lv_canvas *cv, int64_t x0, int64_t y0, int64_t x1, int64_t y1,
                      const uint8_t *c)
{
    const int64_t dx = abs64(x1 - x0), dy = -abs64(y1 - y0);
    const int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int64_t err = dx + dy;
    for (;;) {
        put_pixel(cv, x0, y0, c);
        if (x0 == x1 && y0 == y1)
            return;
        const int64_t e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

static int canvas_new(lv_canvas *cv, int64_t width, int64_t height)
{
    cv->width = width;
    cv->height = height;
    cv->rgb = lv_malloc((size_t)(width * height * 3), "a plot canvas");
    if (cv->rgb)
        memset(cv->rgb, 255, (size_t)(width * height * 3));
    return cv->rgb ? 0 : -1;
}

static int canvas_write(lv_canvas *cv, const char *png)
{
    const int rc = lv_image_write_png(png, cv->rgb, cv->width, cv->height);
    free(cv->rgb);
    cv->rgb = NULL;
    return rc;
}

/* ---- line chart ----------------------------------------------------------------------------- */

/* 1, 2 or 5 x 10^k: the smallest such step giving at most `target` steps over span > 0. */
static double nice_step(double span, int64_t target)
{
    const double raw = span / (double)target;
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
static void draw_value_ticks(const lv_canvas *cv, const lv_area *ar, const lv_axis *a)
{
    const int64_t ticks = (int64_t)llround((a->hi - a->lo) / a->step);
    int64_t free_below = INT64_MAX;         /* the lowest row a label may still use */
    for (int64_t k = 0; k <= ticks; k++) {
        double v = a->lo + (double)k * a->step;
        if (fabs(v) < 1e-9 * a->step)
            v = 0.0;
        const int64_t r = row_of(ar, a, v);
        char label[32];
        snprintf(label, sizeof label, "%.4g", v);
        fill_rect(cv, ar->x0, r, ar->w, 1, grid);
        fill_rect(cv, ar->x0 - 4, r, 3, 1, black);
        if (r + 3 >= free_below)
            continue;
        draw_text(cv, ar->x0 - 6 - text_width(label, 1), r - 3, 1, label, black);
        free_below = r - 5;
    }
}

/* Vertical grid lines, tick marks and centred labels at whole multiples of a step >= 1; a label
 * that would touch the one before it is left out. */
static void draw_step_ticks(const lv_canvas *cv, const lv_area *ar, int64_t n)
{
    int64_t free_from = INT64_MIN;          /* the leftmost column a label may still use */
    const int64_t last = n > 1 ? n - 1 : 0;
    const double nice = last ? nice_step((double)last, ar->w / 80 > 2 ? ar->w / 80 : 2) : 1.0;
    const int64_t step = nice < 1.0 ? 1 : (int64_t)llround(nice);
    for (int64_t i = 0; i <= last; i += step) {
        const int64_t c = column_of(ar, i, n);
        char label[32];
        snprintf(label, sizeof label, "%lld", (long long)i);
        fill_rect(cv, c, ar->y0, 1, ar->h, grid);
        fill_rect(cv, c, ar->y0 + ar->h + 1, 1, 3, black);
        const int64_t x = c - text_width(label, 1) / 2;
        if (x < free_from)
            continue;
        draw_text(cv, x, ar->y0 + ar->h + 6, 1, label, black);
        free_from = x + text_width(label, 1) + 4;
    }
}

/* Finite points joined by lines; a non-finite point breaks the line. */
static void draw_series(const lv_canvas *cv, const lv_area *ar, const lv_axis *a, const float *y,
                        int64_t n, const uint8_t *c)
{
    int64_t px = 0, py = 0;
    int joined = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            joined = 0;
            continue;
        }
        const int64_t x = column_of(ar, i, n), r = row_of(ar, a, y[i]);
        if (joined)
            draw_line(cv, px, py, x, r, c);
        else
            put_pixel(cv, x, r, c);
        px = x;
        py = r;
        joined = 1;
    }
}

int lv_plot_lines(const char *png, const float *y, const float *y2, int64_t n, int64_t width,
                  int64_t height, const char *title)
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
    lv_canvas cv;
    if (canvas_new(&cv, width, height))
        return -1;
    const lv_area ar = { LV_PLOT_LEFT, LV_PLOT_TOP, width - LV_PLOT_LEFT - LV_PLOT_RIGHT,
                         height - LV_PLOT_TOP - LV_PLOT_BOTTOM };
    const lv_axis a = value_axis(y, y2, n, ar.h / 40 > 2 ? ar.h / 40 : 2);
    draw_value_ticks(&cv, &ar, &a);
    draw_step_ticks(&cv, &ar, n);
    fill_rect(&cv, ar.x0 - 1, ar.y0, 1, ar.h + 1, black);
    fill_rect(&cv, ar.x0 - 1, ar.y0 + ar.h, ar.w + 1, 1, black);
    draw_series(&cv, &ar, &a, y, n, y_rgb);
    if (y2)
        draw_series(&cv, &ar, &a, y2, n, y2_rgb);
    if (title) {
        const int64_t zoom = text_width(title, 2) <= width - 8 ? 2 : 1;
        draw_text(&cv, (width - text_width(title, zoom)) / 2, (LV_PLOT_TOP - 7 * zoom) / 2, zoom,
                  title, black);
    }
    return canvas_write(&cv, png);
}

/* ---- heatmap -------------------------------------------------------------------------------- */

static void heat_colour(uint8_t *c, float v, double lo, double hi)
{
    if (isnan(v)) {
        memcpy(c, grey, 3);
        return;
    }
    const double t = fmin(fmax((v - lo) / (hi - lo), 0.0), 1.0);
    const uint8_t fade = (uint8_t)lround(255.0 * (t < 0.5 ? 2.0 * t : 2.0 - 2.0 * t));
    c[0] = t < 0.5 ? fade : 255;
    c[1] = fade;
    c[2] = t < 0.5 ? 255 : fade;
}

int lv_plot_matrix(const char *png, const float *m, int64_t rows, int64_t cols, int64_t cell,
                   float lo, float hi)
{
    LV_REQUIRE(rows >= 1 && cols >= 1 && cell >= 1);
    if (rows > LV_IMAGE_MAX_SIDE / cell || cols > LV_IMAGE_MAX_SIDE / cell)
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
    lv_canvas cv;
    if (canvas_new(&cv, cols * cell, rows * cell))
        return -1;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            uint8_t c[3];
            heat_colour(c, m[i * cols + j], l, h);
            fill_rect(&cv, j * cell, i * cell, cell, cell, c);
        }
    for (int64_t i = 0; cell >= 3 && i < rows && i < cols; i++) {
        fill_rect(&cv, i * cell, i * cell, cell, 1, black);
        fill_rect(&cv, i * cell, (i + 1) * cell - 1, cell, 1, black);
        fill_rect(&cv, i * cell, i * cell, 1, cell, black);
        fill_rect(&cv, (i + 1) * cell - 1, i * cell, 1, cell, black);
    }
    return canvas_write(&cv, png);
}
