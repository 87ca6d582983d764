/* PNG pictures of training output, drawn with cairo (anti-aliased lines, a real font): a line
 * chart (the loss per step, with axis titles, numbered ticks and a legend) and a heatmap (the
 * text-video similarity matrix, with labelled axes and a colour bar). Written atomically by
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
