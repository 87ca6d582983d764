/* Contact sheets (see sheet.h). The frames and the dropped-token marking are written straight
 * into the canvas's pixels, so they are exact and testable; cairo draws the text (times, tags,
 * the legend) and the padding borders. Frames are enlarged by whole pixels (nearest neighbour),
 * never smoothed: the sheet shows the pixels the model is given. */
#include "sheet.h"

#include "error.h"
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LV_HAVE_CAIRO

int lv_sheet_write(const char *png, const lv_sheet_frames *in, const lv_sheet_style *style)
{
    return lv_set_error("%s", LV_NO_PICTURES);
}

#else

typedef struct {
    int64_t cols, rows, zoom, cell, label, header, gap, width, height;
} lv_layout;

/* Whole tenths of a second as "12s", "12.5s", "1:05", "4:16.5" or "1:02:05": minutes and hours
 * past 60 s, tenths only when there are some. */
static void format_time(char *buf, size_t n, double t)
{
    const long long tenths = llround(t * 10.0), sec = tenths / 10;
    const long long h = sec / 3600, m = sec / 60 % 60, s = sec % 60, d = tenths % 10;
    char frac[8] = "";
    if (d)
        snprintf(frac, sizeof frac, ".%lld", d);
    if (h)
        snprintf(buf, n, "%lld:%02lld:%02lld%s", h, m, s, frac);
    else if (m)
        snprintf(buf, n, "%lld:%02lld%s", m, s, frac);
    else
        snprintf(buf, n, "%lld%ss", s, frac);
}

static uint32_t grey(int v)
{
    return (uint32_t)v * 0x010101u;
}

/* One frame into its cell, each pixel a zoom x zoom block; dropped tokens outlined, hatched and
 * darkened (sheet.h gives the exact values). */
static void blit_frame(uint32_t *px, int64_t stride, int64_t x0, int64_t y0, const uint8_t *frame,
                       int64_t S, int64_t zoom, const uint8_t *keep, int64_t p)
{
    const int64_t C = S * zoom, pz = p * zoom;
    for (int64_t y = 0; y < C; y++) {
        uint32_t *dst = px + (y0 + y) * stride + x0;
        for (int64_t x = 0; x < C; x++) {
            const uint8_t *v = frame + ((y / zoom) * S + x / zoom) * 3;
            const int dropped = keep && !keep[(y / zoom / p) * (S / p) + x / zoom / p];
            if (!dropped) {
                dst[x] = (uint32_t)v[0] << 16 | (uint32_t)v[1] << 8 | v[2];
                continue;
            }
            const int64_t u = x % pz, w = y % pz;
            if (u == 0 || w == 0 || u == pz - 1 || w == pz - 1)
                dst[x] = grey(LV_SHEET_OUTLINE);
            else if ((x0 + x + y0 + y) % LV_SHEET_HATCH_PERIOD == 0)
                dst[x] = grey(LV_SHEET_HATCH);
            else
                dst[x] = (uint32_t)LV_SHEET_DARKEN(v[0]) << 16 |
                         (uint32_t)LV_SHEET_DARKEN(v[1]) << 8 | (uint32_t)LV_SHEET_DARKEN(v[2]);
        }
    }
}

/* Text of at most `size` pixels, shrunk to fit max_w, centred on (x, y). */
static void fitted_text(cairo_t *cr, double x, double y, double size, double max_w, double ax,
                        const char *text)
{
    const double w = lv_canvas_text_width(cr, size, text);
    if (w > max_w && w > 0)
        size = fmax(6.0, size * max_w / w);
    lv_canvas_text(cr, x, y, size, ax, 0.5, 0.0, text);
}

/* The orange border and "pad" tag of a padding frame. */
static void mark_padding(cairo_t *cr, double x0, double y0, double C)
{
    lv_canvas_rgb(cr, LV_SHEET_PAD_RGB);
    cairo_set_line_width(cr, 3.0);
    cairo_rectangle(cr, x0 + 1.5, y0 + 1.5, C - 3.0, C - 3.0);
    cairo_stroke(cr);
    const double size = fmin(12.0, C / 5.0), w = lv_canvas_text_width(cr, size, "pad") + 6;
    const double h = size + 4;
    cairo_rectangle(cr, x0 + C - w, y0 + C - h, w, h);
    cairo_fill(cr);
    lv_canvas_rgb(cr, 0, 0, 0);
    lv_canvas_text(cr, x0 + C - w / 2, y0 + C - h / 2, size, 0.5, 0.5, 0.0, "pad");
}

static void draw_header(cairo_t *cr, const lv_layout *lo, const lv_sheet_frames *in)
{
    char text[256] = "";
    if (in->keep) {
        const int64_t P = (in->size / in->patch) * (in->size / in->patch);
        int64_t dropped = 0;
        for (int64_t i = 0; i < in->n * P; i++)
            dropped += !in->keep[i];
        snprintf(text, sizeof text, "hatched, dark: tokens dropped by masking (%.0f%%)",
                 100.0 * (double)dropped / (double)(in->n * P));
    }
    if (in->valid < in->n)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%sorange, \"pad\": %lld "
                 "repeated frames (the video ran out)", in->keep ? ";  " : "",
                 (long long)(in->n - in->valid));
    lv_canvas_rgb(cr, 235, 235, 235);
    fitted_text(cr, (double)lo->gap, lo->header / 2.0 + lo->gap / 2.0, 12.0,
                (double)(lo->width - 2 * lo->gap), 0.0, text);
}

static void layout_of(lv_layout *lo, const lv_sheet_frames *in, const lv_sheet_style *st)
{
    const int64_t S = in->size;
    lo->cols = st->cols;
    for (int64_t c = 1; lo->cols == 0; c++)
        if (c * c >= in->n)
            lo->cols = c;
    lo->rows = (in->n + lo->cols - 1) / lo->cols;
    lo->zoom = st->zoom ? st->zoom : (LV_SHEET_MIN_CELL + S - 1) / S;
    lo->cell = lo->zoom * S;
    lo->label = st->draw_times && in->times ? LV_SHEET_LABEL : 0;
    lo->header = in->keep || in->valid < in->n ? LV_SHEET_HEADER : 0;
    lo->gap = st->gap;
    lo->width = lo->cols * lo->cell + (lo->cols + 1) * lo->gap;
    lo->height = lo->header + lo->rows * (lo->cell + lo->label) + (lo->rows + 1) * lo->gap;
}

int lv_sheet_write(const char *png, const lv_sheet_frames *in, const lv_sheet_style *style)
{
    LV_REQUIRE(in && in->frames && in->n >= 1 && in->size >= 1 &&
               (!in->keep || (in->patch >= 1 && in->size % in->patch == 0)));
    const lv_sheet_style st = style ? *style : (lv_sheet_style){ 0, 4, 1, 0 };
    LV_REQUIRE(st.cols >= 0 && st.gap >= 0 && st.zoom >= 0);
    if (in->size > LV_IMAGE_MAX_SIDE || (st.zoom && st.zoom > LV_IMAGE_MAX_SIDE / in->size) ||
        in->n > LV_IMAGE_MAX_SIDE)
        return lv_set_error("%s: %lld frames of %lld pixels are too many or too large for a "
                            "sheet; show fewer or smaller frames", png, (long long)in->n,
                            (long long)in->size);
    lv_layout lo;
    layout_of(&lo, in, &st);
    if (lo.width > LV_IMAGE_MAX_SIDE || lo.height > LV_IMAGE_MAX_SIDE)
        return lv_set_error("%s: a sheet of %lld frames of %lld pixels would be %lld x %lld, over "
                            "the %d-pixel PNG side limit; show fewer or smaller frames", png,
                            (long long)in->n, (long long)in->size, (long long)lo.width,
                            (long long)lo.height, LV_IMAGE_MAX_SIDE);
    cairo_t *cr = lv_canvas_new(png, lo.width, lo.height);
    if (!cr)
        return -1;
    lv_canvas_rgb(cr, LV_SHEET_BACKGROUND, LV_SHEET_BACKGROUND, LV_SHEET_BACKGROUND);
    cairo_paint(cr);
    const int64_t S = in->size, P = in->keep ? (S / in->patch) * (S / in->patch) : 0;
    int64_t stride;
    uint32_t *px = lv_canvas_pixels(cr, &stride);
    for (int64_t f = 0; f < in->n; f++)
        blit_frame(px, stride, lo.gap + f % lo.cols * (lo.cell + lo.gap),
                   lo.header + lo.gap + f / lo.cols * (lo.cell + lo.label + lo.gap),
                   in->frames + f * S * S * 3, S, lo.zoom, in->keep ? in->keep + f * P : NULL,
                   in->patch);
    lv_canvas_dirty(cr);
    if (lo.header)
        draw_header(cr, &lo, in);
    for (int64_t f = 0; f < in->n; f++) {
        const double x0 = (double)(lo.gap + f % lo.cols * (lo.cell + lo.gap));
        const double y0 = (double)(lo.header + lo.gap + f / lo.cols * (lo.cell + lo.label +
                                                                        lo.gap));
        const int pad = f >= in->valid;
        if (pad)
            mark_padding(cr, x0, y0, (double)lo.cell);
        if (!lo.label || !(in->times[f] >= 0.0 && in->times[f] < 1e9))
            continue;
        char text[48];
        format_time(text, sizeof text, in->times[f]);
        if (pad)
            strcat(text, " pad");
        if (pad)
            lv_canvas_rgb(cr, LV_SHEET_PAD_RGB);
        else
            lv_canvas_rgb(cr, 235, 235, 235);
        fitted_text(cr, x0 + lo.cell / 2.0, y0 + (double)lo.cell + lo.label / 2.0, 12.0,
                    (double)lo.cell, 0.5, text);
    }
    return lv_canvas_write(cr, png);
}

#endif
