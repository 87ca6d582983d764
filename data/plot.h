/* PNG pictures of training output: a line chart (the loss per step) and a heatmap (the
 * text-video similarity matrix), drawn pixel by pixel with a built-in 5x7 font and written
 * atomically by lv_image_write_png. No plotting library, no anti-aliasing, no legend. */
#ifndef LV_PLOT_H
#define LV_PLOT_H

#include <stdint.h>

/* The line chart's layout: the data area is x in [LV_PLOT_LEFT, width - LV_PLOT_RIGHT),
 * y in [LV_PLOT_TOP, height - LV_PLOT_BOTTOM); the axes, tick labels and title lie outside it. */
#define LV_PLOT_LEFT 64
#define LV_PLOT_RIGHT 12
#define LV_PLOT_TOP 24
#define LV_PLOT_BOTTOM 18
#define LV_PLOT_MIN_AREA 16     /* the data area is at least this many pixels each way */

/* The series colours (RGB): y blue, y2 orange. */
#define LV_PLOT_Y_RGB 31, 119, 180
#define LV_PLOT_Y2_RGB 255, 127, 14

/* A line chart of y (n points, e.g. the loss per step) against x = 0..n-1, with an optional
 * second series y2 (NULL for none, else n points: a smoothed loss, the eval loss) drawn over it.
 * Point i sits at column LV_PLOT_LEFT + round(i * (area width - 1) / (n - 1)) (the middle when
 * n = 1); value v at row LV_PLOT_TOP + round((hi - v) / (hi - lo) * (area height - 1)), where
 * [lo, hi] is the finite data's range widened to whole multiples of a 1, 2 or 5 x 10^k tick step
 * (a constant series is widened by 10% of its value, or by 1 around 0; no finite point: [0, 1]).
 * Consecutive finite points are joined by straight lines; NaN and Inf points are skipped and
 * break the line. Grey grid lines and labels at the ticks of both axes (a label that would
 * touch its neighbour is left out); the title (NULL for none) above, in the 5x7 font: digits,
 * A-Z, a-z, space and . , - + : / ( ) = _ %, anything else drawn as '?'. Returns 0, or -1
 * with lv_error() naming the file (a side below the layout's minimum or above
 * LV_IMAGE_MAX_SIDE, or a write error). */
int lv_plot_lines(const char *png, const float *y, const float *y2, int64_t n, int64_t width,
                  int64_t height, const char *title);

/* A heatmap of m (rows, cols), cell (i, j) a square of cell x cell pixels at
 * (x, y) = (j * cell, i * cell), so the picture is cols * cell wide and rows * cell high. Colour
 * map: t = (v - lo) / (hi - lo) clamped to [0, 1], pure blue (0, 0, 255) at 0 through white at
 * 0.5 to pure red (255, 0, 0) at 1, each channel linear in t and rounded. The range is [lo, hi]
 * when both are finite and lo < hi, else the finite data's min and max (a constant matrix is all
 * white). NaN cells are grey (128, 128, 128). When cell >= 3 the diagonal cells (i, i) get a
 * black one-pixel outline on their border. Returns 0, or -1 with lv_error() naming the file. */
int lv_plot_matrix(const char *png, const float *m, int64_t rows, int64_t cols, int64_t cell,
                   float lo, float hi);

#endif
