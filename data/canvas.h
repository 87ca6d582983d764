/* The drawing surface the pictures share (data/plot.c, data/sheet.c): a cairo image surface
 * written as an 8-bit RGB PNG through lv_image_write_png (atomic, errors name the file), and
 * text in the system's sans-serif font. cairo is optional at build time (LV_HAVE_CAIRO): without
 * it every picture function returns -1 with LV_NO_PICTURES as the error, and callers print that
 * one line and go on, so a build without cairo still trains and evaluates. */
#ifndef LV_CANVAS_H
#define LV_CANVAS_H

#include <stdint.h>

#define LV_NO_PICTURES "longvivit was built without cairo: no pictures (apt-get install " \
                       "libcairo2-dev and rebuild)"

/* 1 when this build draws pictures (cairo was found), else 0: lets a caller tell "no cairo"
 * (print the line, go on) from a real failure such as an unwritable folder. */
int lv_pictures_available(void);

#ifdef LV_HAVE_CAIRO
#include <cairo.h>

/* A white width x height canvas, or NULL with lv_error() naming png (bad size, no memory). */
cairo_t *lv_canvas_new(const char *png, int64_t width, int64_t height);

/* Writes the canvas to png as RGB (lv_image_write_png) and destroys it, either way. */
int lv_canvas_write(cairo_t *cr, const char *png);

/* The canvas's pixels as cairo keeps them (premultiplied 0xAARRGGBB words) and its row stride
 * in words, after flushing; call lv_canvas_dirty after writing into them directly. */
uint32_t *lv_canvas_pixels(cairo_t *cr, int64_t *stride);
void lv_canvas_dirty(cairo_t *cr);

/* Text of the given pixel size, anchored at (x, y): ax 0 = left edge at x, 0.5 = centred,
 * 1 = right edge; ay likewise from the top of capital letters to the baseline, so ay 0.5 puts
 * the text's middle on y. angle in radians (-pi/2: reads upwards). Uses the current source. */
void lv_canvas_text(cairo_t *cr, double x, double y, double size, double ax, double ay,
                    double angle, const char *text);

/* The advance width of text at that pixel size. */
double lv_canvas_text_width(cairo_t *cr, double size, const char *text);

void lv_canvas_rgb(cairo_t *cr, int r, int g, int b);
#endif

#endif
