/* PNG pictures of training output, drawn with cairo (anti-aliased lines, a real font): a line
 * chart (the loss per step, with axis titles, numbered ticks and a legend), an x-y chart (series
 * of points with error bars, labels, log axes and reference lines: the experiments' figures) and
 * a heatmap (the text-video similarity matrix, with labelled axes and a colour bar). Written atomically by
 * lv_image_write_png. Without cairo both return -1 with LV_NO_PICTURES (canvas.h) as the error. */
#ifndef LV_PLOT_H
#define LV_PLOT_H

#include "canvas.h"

#include <stdint.h>

/* The line chart's layout: the data area is x in [LV_PLOT_LEFT, width - LV_PLOT_RIGHT),
 * y in [LV_PLOT_TOP, height - LV_PLOT_BOTTOM); the title above it, the tick labels and axis
 * titles left of and below it, the legend in its top-right corner. */
#define LV_PLOT_LEFT 76
#define LV_PLOT_RIGHT 20
#define LV_PLOT_TOP 36
#define LV_PLOT_BOTTOM 52
#define LV_PLOT_MIN_AREA 16     /* the data area is at least this many pixels each way */

/* The series colours (RGB): y blue, y2 orange. */
#define LV_PLOT_Y_RGB 31, 119, 180
#define LV_PLOT_Y2_RGB 255, 127, 14

/* The words on a line chart; any may be NULL (left out). A series without a name has no legend
 * entry; no names at all, no legend. */
typedef struct {
    const char *title;          /* above the chart, e.g. "training loss" */
    const char *x_title;        /* under the x axis, e.g. "step" */
    const char *y_title;        /* beside the y axis, reading upwards, e.g. "loss" */
    const char *y_name;         /* legend entry of y, e.g. "train loss (per step)" */
    const char *y2_name;        /* legend entry of y2, e.g. "mean of the last 20 steps" */
} lv_plot_text;

/* A line chart of y (n points, e.g. the loss per step) against x = 0..n-1, with an optional
 * second series y2 (NULL for none, else n points: a smoothed loss, the eval loss) drawn over it.
 * Point i sits at the centre of column LV_PLOT_LEFT + round(i * (area width - 1) / (n - 1)) (the
 * middle when n = 1); value v at the centre of row LV_PLOT_TOP + round((hi - v) / (hi - lo) *
 * (area height - 1)), where [lo, hi] is the finite data's range widened to whole multiples of a
 * 1, 2 or 5 x 10^k tick step (a constant series is widened by 10% of its value, or by 1 around
 * 0; no finite point: [0, 1]). Consecutive finite points are joined by 1.5-pixel anti-aliased
 * lines (y2 2 pixels wide); NaN and Inf points are skipped and break the line. Light grey grid
 * lines and numbered ticks on both axes (a label that would touch its neighbour is left out).
 * Returns 0, or -1 with lv_error() naming the file (a side below the layout's minimum or above
 * LV_IMAGE_MAX_SIDE, a write error, or a build without cairo). */
int lv_plot_lines(const char *png, const float *y, const float *y2, int64_t n, int64_t width,
                  int64_t height, const lv_plot_text *text);

/* ---- x-y charts ------------------------------------------------------------------------------
 * Publication-style charts of several series against a numeric x axis (memory against accuracy,
 * a metric against the frame count): markers, optional lines, error bars, point labels, log
 * axes, horizontal reference lines and a legend. Same layout constants, fonts, tick rules and
 * atomic PNG writing as lv_plot_lines. */

#define LV_PLOT_MAX_SERIES 12
#define LV_PLOT_MAX_HLINES 8

/* The series colours, series k taking entry k % 8: Okabe and Ito's colour-blind-safe palette
 * ("Color Universal Design", 2008) in the order blue, vermillion, bluish green, orange, reddish
 * purple, sky blue, black, yellow (yellow, the faintest on white, last). Markers, lines, error
 * bars and legend samples of a series are drawn in its colour. */
#define LV_PLOT_PALETTE_SIZE 8
#define LV_PLOT_PALETTE { { 0, 114, 178 }, { 213, 94, 0 }, { 0, 158, 115 }, { 230, 159, 0 }, \
                          { 204, 121, 167 }, { 86, 180, 233 }, { 0, 0, 0 }, { 240, 228, 66 } }

/* The marker of series k is shape k % LV_PLOT_MARKERS, filled with the series colour and edged
 * in white, its centre on the point's pixel centre; with 8 colours and 6 shapes, the first 24
 * series all differ in colour or shape. */
typedef enum {
    LV_MARKER_CIRCLE, LV_MARKER_SQUARE, LV_MARKER_DIAMOND, LV_MARKER_TRIANGLE_UP,
    LV_MARKER_TRIANGLE_DOWN, LV_MARKER_HEXAGON, LV_PLOT_MARKERS
} lv_plot_marker;
#define LV_PLOT_MARKER_RADIUS 4.5   /* pixels; every shape covers the 3 x 3 pixels around its
                                     * centre, which are then exactly the series colour */

/* The reference lines' and point labels' colour (RGB). */
#define LV_PLOT_HLINE_RGB 90, 90, 90

typedef struct {
    double x, y;                /* NaN or Inf in either: the point is skipped */
    double y_err;               /* half-length of a symmetric error bar (a standard deviation,
                                 * a half-range): >= 0; NaN: none; 0 draws none */
    const char *label;          /* short text beside the marker; NULL: none */
} lv_plot_point;

typedef struct {
    const char *name;           /* the legend entry; NULL: not in the legend */
    const lv_plot_point *points;    /* (n) */
    int64_t n;
    int line;                   /* 1: consecutive drawable points joined by a 1.5-pixel line */
} lv_plot_series;

typedef struct {
    double y;                   /* a horizontal line across the data area at this value */
    const char *label;          /* e.g. "16 GB (the paper's GPU)"; NULL: none */
} lv_plot_hline;

typedef struct {
    const char *title, *x_title, *y_title;     /* any may be NULL; put the units in the titles */
    int x_log, y_log;           /* 1: a log10 axis (every x, y, and hline y must then be > 0) */
    int64_t width, height;      /* pixels, each in the layout's minimum .. LV_IMAGE_MAX_SIDE */
    const lv_plot_series *series;   /* (n_series), 1 .. LV_PLOT_MAX_SERIES */
    int n_series;
    const lv_plot_hline *hlines;    /* (n_hlines), 0 .. LV_PLOT_MAX_HLINES */
    int n_hlines;
} lv_plot_chart;

/* An x-y chart of c's series. Axis range: over the drawable points (x and y finite, and > 0 on
 * a log axis), y also over the error bars' ends (those > 0 on a log axis) and the reference
 * lines, [lo, hi] = [min - 5% of the span, max + 5% of the span], on a log axis in log10 units;
 * a zero span is widened to +-10% of the value (+-1 around 0; a log axis: +-0.5 decades), no
 * point at all gives [0, 1] ([1, 10] on a log axis). The data area is as lv_plot_lines': x in
 * [LV_PLOT_LEFT, LV_PLOT_LEFT + aw), y in [LV_PLOT_TOP, LV_PLOT_TOP + ah), with
 * aw = width - LV_PLOT_LEFT - LV_PLOT_RIGHT and ah = height - LV_PLOT_TOP - LV_PLOT_BOTTOM unless
 * the legend goes outside (below). Point (x, y) is centred on the pixel
 *     column LV_PLOT_LEFT + round((X - LO) * (aw - 1) / (HI - LO)),
 *     row    LV_PLOT_TOP + round((YHI - Y) / (YHI - YLO) * (ah - 1)),
 * with X = x, LO = lo ... on a linear axis, X = log10 x, LO = log10 lo ... on a log axis.
 * Ticks: linear axes at the multiples of a 1, 2 or 5 x 10^k step inside [lo, hi] (about one per
 * 40 pixels of y, 80 of x); log axes at 1, 2 and 5 x 10^k when a decade spans at least 60 (y) or
 * 150 (x) pixels, else at 10^k, and at linear ticks when fewer than two of those fall inside
 * (a range within one decade); a tick label that would touch its neighbour is left out.
 * Drawn in this order: grid, reference lines (one pixel, dashed 6 on 4 off, LV_PLOT_HLINE_RGB,
 * on the value's row; the label right-aligned 4 pixels inside the area's right end, 8 pixels
 * above the line, or 10 below it at the top), series lines (1.5 pixels; a point not drawn breaks
 * the line), error bars (1.5 pixels on the point's column, capped 4 pixels a side; the part of a
 * bar at or below 0 on a log axis is cut at the area's bottom), markers, point labels (right of
 * the marker, or left of it when they would leave the area; text with a white halo). The legend
 * (series with a name: marker, and a line sample for series with lines) goes 8 pixels inside the
 * first corner of the data area, in the order top-right, top-left, bottom-right, bottom-left,
 * that no marker, error bar, point or reference-line label or series line touches; when none is
 * free, outside the data area to its right (aw shrinks by the legend's width + 12 pixels, its
 * top at the area's), unless that would halve aw: then top-right over the data.
 * Returns 0, or -1 with lv_error() naming the file and the offending series and point (a size out
 * of range, no series or too many, a negative y_err, a non-positive value on a log axis, a write
 * error, a build without cairo); nothing is written then. */
int lv_plot_xy(const char *png, const lv_plot_chart *c);

/* The matrix picture's layout: cell (i, j) is the cell x cell square at
 * (LV_PLOT_MATRIX_LEFT + j * cell, LV_PLOT_MATRIX_TOP + i * cell); the colour bar stands right
 * of the matrix, as tall as the matrix but at least LV_PLOT_MATRIX_MIN_BAR pixels. The picture is
 * LEFT + cols * cell + RIGHT wide and TOP + max(rows * cell, MIN_BAR) + BOTTOM high. */
#define LV_PLOT_MATRIX_LEFT 84
#define LV_PLOT_MATRIX_RIGHT 120
#define LV_PLOT_MATRIX_TOP 40
#define LV_PLOT_MATRIX_BOTTOM 56
#define LV_PLOT_MATRIX_MIN_BAR 160

/* The words on a heatmap; any may be NULL (left out). */
typedef struct {
    const char *title;          /* above the matrix */
    const char *row_title;      /* what row i is, down the left side, e.g. "text (caption i)" */
    const char *col_title;      /* what column j is, under the matrix, e.g. "video j" */
    const char *value_title;    /* what a colour means, beside the colour bar */
} lv_plot_matrix_text;

/* A heatmap of m (rows, cols), cell (i, j) drawn as above. Colour map: t = (v - lo) / (hi - lo)
 * clamped to [0, 1], pure blue (0, 0, 255) at 0 through white at 0.5 to pure red (255, 0, 0) at
 * 1, each channel linear in t and rounded; cells are filled without anti-aliasing, so a cell's
 * inside is exactly its colour. The range is [lo, hi] when both are finite and lo < hi, else the
 * finite data's min and max (a constant matrix is all white). NaN cells are grey
 * (128, 128, 128). When cell >= 3 the diagonal cells (i, i) get a black one-pixel outline on
 * their border. Row and column indices are numbered along the left and bottom edges; the colour
 * bar shows the map from lo (bottom) to hi (top) with numbered ticks. Returns 0, or -1 with
 * lv_error() naming the file (too big a picture, a write error, or a build without cairo). */
int lv_plot_matrix(const char *png, const float *m, int64_t rows, int64_t cols, int64_t cell,
                   float lo, float hi, const lv_plot_matrix_text *text);

#endif
