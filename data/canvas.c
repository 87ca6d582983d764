/* The pictures' shared canvas (see canvas.h): cairo for lines, text and fills; the PNG itself is
 * written by lv_image_write_png so every picture is replaced atomically and its errors read like
 * the rest of the project's. */
#include "canvas.h"

#include "error.h"
#include "image.h"

#include <stdlib.h>

#ifndef LV_HAVE_CAIRO

int lv_pictures_available(void)
{
    return 0;
}

#else

int lv_pictures_available(void)
{
    return 1;
}

cairo_t *lv_canvas_new(const char *png, int64_t width, int64_t height)
{
    if (width < 1 || height < 1 || width > LV_IMAGE_MAX_SIDE || height > LV_IMAGE_MAX_SIDE) {
        lv_set_error("%s: a %lldx%lld picture is outside 1..%d pixels a side; draw a smaller "
                     "one", png, (long long)width, (long long)height, LV_IMAGE_MAX_SIDE);
        return NULL;
    }
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)width, (int)height);
    cairo_t *cr = cairo_create(s);
    cairo_surface_destroy(s);                   /* cr holds the reference now */
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        lv_set_error("%s: cairo could not make a %lldx%lld canvas (%s); free some memory or "
                     "draw a smaller picture", png, (long long)width, (long long)height,
                     cairo_status_to_string(cairo_status(cr)));
        cairo_destroy(cr);
        return NULL;
    }
    /* grey anti-aliasing and no hinting: the same pixels on every machine with the same font */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options(cr, fo);
    cairo_font_options_destroy(fo);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    return cr;
}

uint32_t *lv_canvas_pixels(cairo_t *cr, int64_t *stride)
{
    cairo_surface_t *s = cairo_get_target(cr);
    cairo_surface_flush(s);
    *stride = cairo_image_surface_get_stride(s) / 4;
    return (uint32_t *)cairo_image_surface_get_data(s);
}

void lv_canvas_dirty(cairo_t *cr)
{
    cairo_surface_mark_dirty(cairo_get_target(cr));
}

int lv_canvas_write(cairo_t *cr, const char *png)
{
    cairo_surface_t *s = cairo_get_target(cr);
    const int64_t w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int64_t stride;
    const uint32_t *px = lv_canvas_pixels(cr, &stride);
    uint8_t *rgb = lv_malloc((size_t)(w * h * 3), "a picture");
    int rc = -1;
    if (rgb) {
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                const uint32_t v = px[y * stride + x];      /* RGB24: opaque, the top byte unused */
                uint8_t *o = rgb + (y * w + x) * 3;
                o[0] = (uint8_t)(v >> 16);
                o[1] = (uint8_t)(v >> 8);
                o[2] = (uint8_t)v;
            }
        rc = lv_image_write_png(png, rgb, w, h);
        free(rgb);
    }
    cairo_destroy(cr);
    return rc;
}

void lv_canvas_text(cairo_t *cr, double x, double y, double size, double ax, double ay,
                    double angle, const char *text)
{
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, text, &te);
    const double cap = 0.72 * size;             /* DejaVu Sans' capital height, near enough */
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -ax * te.x_advance, ay * cap);
    cairo_show_text(cr, text);
    cairo_restore(cr);
}

double lv_canvas_text_width(cairo_t *cr, double size, const char *text)
{
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, text, &te);
    return te.x_advance;
}

void lv_canvas_rgb(cairo_t *cr, int r, int g, int b)
{
    cairo_set_source_rgb(cr, r / 255.0, g / 255.0, b / 255.0);
}

#endif
