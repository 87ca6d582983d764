/* Contact sheets: sampled frames laid out in a grid as one PNG, so a person sees what the model
 * sees, with the tokens a masking dropped greyed out and each frame's time written in a corner.
 * No font files and no drawing library: a built-in 5x7 bitmap font (digits . s :) is enough. */
#ifndef LV_SHEET_H
#define LV_SHEET_H

#include <stdint.h>

typedef struct {
    int64_t cols;       /* frames per row; 0 = about square: the smallest c with c * c >= N */
    int64_t gap;        /* background pixels between frames and around the border, >= 0 */
    int draw_times;     /* nonzero: write each frame's time (needs times) in its top-left corner */
} lv_sheet_style;

#define LV_SHEET_BACKGROUND 16      /* grey level of the gaps */
#define LV_SHEET_GREY 128           /* a dropped patch shows (3 * pixel + 7 * 128 + 5) / 10 */

/* Layout: rows = ceil(N / cols); the sheet is (cols * S + (cols + 1) * gap) pixels wide and
 * (rows * S + (rows + 1) * gap) high; frame f sits at column f % cols, row f / cols, with its
 * top-left corner at (gap + col * (S + gap), gap + row * (S + gap)).
 * frames: (N, S, S, 3) RGB24. times: (N) seconds, or NULL. keep: (N, (S/p) * (S/p)) with 1 =
 * token kept, 0 = dropped (a tubelet's decision repeated on each of its frames), or NULL; with a
 * keep map S must be a multiple of p. Labels read "12.0s", "2:05.0", "1:02:05.0", at
 * max(1, S / 112) screen pixels per font pixel, white on a black box, clipped to the frame.
 * style NULL means { 0, 4, 1 }. Writes the PNG atomically (lv_image_write_png); returns 0, or -1
 * with lv_error() naming png_path (a sheet side over 16384 pixels is refused). */
int lv_sheet_write(const char *png_path, const uint8_t *frames, int64_t N, int64_t S,
                   const double *times, const uint8_t *keep, int64_t p,
                   const lv_sheet_style *style);

#endif
