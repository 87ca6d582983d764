/* Contact sheets: sampled frames laid out in a grid as one PNG, so a person sees what the model
 * sees: the tokens a masking dropped darkened, hatched and outlined (visible on light and dark
 * footage alike), padding frames (repeats of the last real frame) framed in orange and tagged
 * "pad", each frame's time written under it. Drawn with cairo (canvas.h); without it,
 * lv_sheet_write returns -1 with LV_NO_PICTURES as the error. */
#ifndef LV_SHEET_H
#define LV_SHEET_H

#include "canvas.h"

#include <stdint.h>

typedef struct {
    int64_t cols;       /* frames per row; 0 = about square: the smallest c with c * c >= N */
    int64_t gap;        /* background pixels between frames and around the border, >= 0 */
    int draw_times;     /* nonzero: write each frame's time (needs times) under it */
    int64_t zoom;       /* screen pixels per frame pixel (nearest neighbour); 0 = the smallest
                           with zoom * S >= LV_SHEET_MIN_CELL, so small frames stay legible */
} lv_sheet_style;

typedef struct {
    const uint8_t *frames;  /* (n, size, size, 3) RGB24 */
    int64_t n, size;        /* N frames of S x S pixels */
    const double *times;    /* (n) seconds, or NULL */
    int64_t valid;          /* frames [valid, n) are padding (repeats); valid >= n: none */
    const uint8_t *keep;    /* (n, (S/p)^2): 1 = token kept, 0 = dropped (a tubelet's decision
                               repeated on each of its frames), or NULL; S a multiple of p */
    int64_t patch;          /* p */
} lv_sheet_frames;

#define LV_SHEET_BACKGROUND 16      /* grey level of the gaps and label strips */
#define LV_SHEET_MIN_CELL 96        /* automatic zoom: frames at least this many pixels wide */
#define LV_SHEET_LABEL 18           /* height of the time strip under each frame */
#define LV_SHEET_HEADER 22          /* height of the legend line, when there is one */
#define LV_SHEET_PAD_RGB 255, 140, 0

/* A dropped token's screen pixels (zoom * p square, sheet coordinates (x, y)): its outermost
 * ring of pixels LV_SHEET_OUTLINE; inside, pixels with (x + y) % LV_SHEET_HATCH_PERIOD == 0
 * LV_SHEET_HATCH (a diagonal hatch); the rest (35 * v + 50) / 100 of the frame's value v. */
#define LV_SHEET_OUTLINE 0
#define LV_SHEET_HATCH 200
#define LV_SHEET_HATCH_PERIOD 6
#define LV_SHEET_DARKEN(v) ((35 * (v) + 50) / 100)

/* Layout: C = zoom * S; L = LV_SHEET_LABEL when times are drawn, else 0; H = LV_SHEET_HEADER
 * when there is a keep map or padding to explain, else 0; rows = ceil(N / cols). The sheet is
 * cols * C + (cols + 1) * gap pixels wide and H + rows * (C + L) + (rows + 1) * gap high; frame f
 * sits at column f % cols, row f / cols, its top-left corner at (gap + col * (C + gap),
 * H + gap + row * (C + L + gap)), its time centred in the L-pixel strip under it, as "12s",
 * "12.5s", "1:05", "4:16.5", "1:02:05". Kept pixels are the frame's, each a zoom x zoom block.
 * A padding frame gets a 3-pixel LV_SHEET_PAD_RGB border inside its cell and a "pad" tag in its
 * bottom-right corner, and its time reads "1:05 pad". style NULL means { 0, 4, 1, 0 }.
 * Writes the PNG atomically (lv_image_write_png); returns 0, or -1 with lv_error() naming png
 * (a sheet side over LV_IMAGE_MAX_SIDE is refused). */
int lv_sheet_write(const char *png, const lv_sheet_frames *in, const lv_sheet_style *style);

#endif
