/* Contact sheets (see sheet.h): copy each frame into its grid cell, greying dropped patches, draw
 * its time with a 5x7 bitmap font, write one PNG. No text rendering library, no scaling of the
 * frames: the sheet shows the exact pixels given. */
#include "sheet.h"
#include "font.h"

#include "error.h"
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *rgb;
    int64_t width;
    int64_t x1, y1;         /* drawing is clipped to x < x1, y < y1 (the current frame's cell) */
} lv_canvas;

static void fill_rect(const lv_canvas *cv, int64_t x, int64_t y, int64_t w, int64_t h, uint8_t v)
{
    for (int64_t yy = y; yy < y + h && yy < cv->y1; yy++)
        for (int64_t xx = x; xx < x + w && xx < cv->x1; xx++)
            memset(cv->rgb + (yy * cv->width + xx) * 3, v, 3);
}

/* Whole tenths of a second as "12.0s", "2:05.0" or "1:02:05.0". */
static void format_time(char *buf, size_t n, double t)
{
    const long long tenths = llround(t * 10.0), sec = tenths / 10;
    const long long h = sec / 3600, m = sec / 60 % 60, s = sec % 60, d = tenths % 10;
    if (h)
        snprintf(buf, n, "%lld:%02lld:%02lld.%lld", h, m, s, d);
    else if (m)
        snprintf(buf, n, "%lld:%02lld.%lld", m, s, d);
    else
        snprintf(buf, n, "%lld.%llds", s, d);
}

/* White glyphs on a black box with a one-font-pixel margin, top-left corner at (x, y). */
static void draw_label(const lv_canvas *cv, int64_t x, int64_t y, int64_t zoom, const char *text)
{
    const int64_t len = (int64_t)strlen(text);
    fill_rect(cv, x, y, (6 * len + 1) * zoom, 9 * zoom, 0);
    for (int64_t i = 0; i < len; i++) {
        const uint8_t *g = lv_font_glyph(text[i]);
        for (int64_t r = 0; r < 7; r++)
            for (int64_t c = 0; c < 5; c++)
                if (g[r] >> (4 - c) & 1)
                    fill_rect(cv, x + (1 + 6 * i + c) * zoom, y + (1 + r) * zoom, zoom, zoom,
                              255);
    }
}

/* One frame into its cell; pixels of dropped patches become 30% of themselves, 70% grey. */
static void blit_frame(const lv_canvas *cv, int64_t x0, int64_t y0, const uint8_t *frame,
                       int64_t S, const uint8_t *keep, int64_t p)
{
    for (int64_t y = 0; y < S; y++) {
        uint8_t *dst = cv->rgb + ((y0 + y) * cv->width + x0) * 3;
        const uint8_t *src = frame + y * S * 3;
        for (int64_t x = 0; x < S; x++) {
            const int dropped = keep && !keep[(y / p) * (S / p) + x / p];
            for (int c = 0; c < 3; c++)
                dst[3 * x + c] = dropped ? (uint8_t)((3 * src[3 * x + c] + 7 * LV_SHEET_GREY + 5)
                                                     / 10) : src[3 * x + c];
        }
    }
}

static void draw_frames(const lv_canvas *sheet, const uint8_t *frames, int64_t N, int64_t S,
                        const double *times, const uint8_t *keep, int64_t p,
                        const lv_sheet_style *st)
{
    const int64_t patches = keep ? (S / p) * (S / p) : 0;
    for (int64_t f = 0; f < N; f++) {
        const int64_t x0 = st->gap + f % st->cols * (S + st->gap);
        const int64_t y0 = st->gap + f / st->cols * (S + st->gap);
        blit_frame(sheet, x0, y0, frames + f * S * S * 3, S, keep ? keep + f * patches : NULL, p);
        if (!st->draw_times || !times || !(times[f] >= 0.0 && times[f] < 1e9))
            continue;
        char text[32];
        format_time(text, sizeof text, times[f]);
        const lv_canvas cell = { sheet->rgb, sheet->width, x0 + S, y0 + S };
        draw_label(&cell, x0, y0, S / 112 > 1 ? S / 112 : 1, text);
    }
}

int lv_sheet_write(const char *png_path, const uint8_t *frames, int64_t N, int64_t S,
                   const double *times, const uint8_t *keep, int64_t p,
                   const lv_sheet_style *style)
{
    LV_REQUIRE(N >= 1 && S >= 1 && (!keep || (p >= 1 && S % p == 0)));
    lv_sheet_style st = style ? *style : (lv_sheet_style){ 0, 4, 1 };
    LV_REQUIRE(st.cols >= 0 && st.gap >= 0);
    for (int64_t c = 1; st.cols == 0; c++)
        if (c * c >= N)
            st.cols = c;
    const int64_t rows = (N + st.cols - 1) / st.cols;
    const int64_t width = st.cols * S + (st.cols + 1) * st.gap;
    const int64_t height = rows * S + (rows + 1) * st.gap;
    if (width > LV_IMAGE_MAX_SIDE || height > LV_IMAGE_MAX_SIDE)
        return lv_set_error("%s: a sheet of %lld frames of %lld pixels would be %lld x %lld, over "
                            "the %d-pixel PNG side limit; show fewer or smaller frames", png_path,
                            (long long)N, (long long)S, (long long)width, (long long)height,
                            LV_IMAGE_MAX_SIDE);
    uint8_t *rgb = lv_malloc((size_t)(width * height * 3), "a contact sheet");
    if (!rgb)
        return -1;
    memset(rgb, LV_SHEET_BACKGROUND, (size_t)(width * height * 3));
    const lv_canvas sheet = { rgb, width, width, height };
    draw_frames(&sheet, frames, N, S, times, keep, p, &st);
    const int rc = lv_image_write_png(png_path, rgb, width, height);
    free(rgb);
    return rc;
}
