/* `longvivit plot`: an x-y chart (lv_plot_xy, data/plot.h) from a JSON chart spec
 * (docs/formats.md), so scripts such as the experiment driver draw their figures without Python.
 * The whole spec is checked before anything is drawn: a wrong field is named by its path
 * ("series[1].points[3].y_err"), and nothing is written. */
#include "commands.h"
#include "error.h"
#include "image.h"
#include "options.h"
#include "plot.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHART_MAX_BYTES (64 << 20)
#define PATH_BYTES 96

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit plot CHART.json --png OUT.png\n"
            "Draws the x-y chart CHART.json describes (docs/formats.md, \"Chart spec\"): series of\n"
            "points with optional lines, error bars (y_err: a standard deviation or a\n"
            "half-range) and labels, log10 axes, horizontal reference lines, a legend, and\n"
            "writes it to OUT.png (replaced atomically). Points whose x or y is null are left\n"
            "out. A spec that is not JSON, has a field of the wrong type or an unknown field, no\n"
            "series or more than %d, a negative y_err, or a value <= 0 on a log axis is\n"
            "refused naming the field (exit 1); nothing is written.\n"
            "Defaults: width 800, height 500, linear axes, no lines.\n", LV_PLOT_MAX_SERIES);
    return out == stderr ? LV_EXIT_USAGE : LV_EXIT_OK;
}

/* ---- reading the spec ----------------------------------------------------------------------- */

typedef struct {
    const char *file;               /* the spec's name, in every message */
    cJSON *root;
    lv_plot_chart chart;
    lv_plot_series series[LV_PLOT_MAX_SERIES];
    lv_plot_point *points[LV_PLOT_MAX_SERIES];  /* (series[s].n) each */
    lv_plot_hline hlines[LV_PLOT_MAX_HLINES];
    int64_t skipped;                /* points with a null or non-finite x or y */
} plot_spec;

/* "longvivit plot: FILE: FIELD: message" on stderr; returns -1. */
static int spec_error(const plot_spec *sp, const char *field, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "longvivit plot: %s: %s: ", sp->file, field);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return -1;
}

static const char *json_kind(const cJSON *v)
{
    return cJSON_IsNull(v) ? "null" : cJSON_IsBool(v) ? "a boolean" : cJSON_IsNumber(v)
           ? "a number" : cJSON_IsString(v) ? "a string" : cJSON_IsArray(v) ? "an array"
           : "an object";
}

/* Every key of obj is one of `known` (NULL-terminated): a misspelt "y_lg" is refused, not
 * silently drawn on a linear axis. */
static int check_keys(const plot_spec *sp, const cJSON *obj, const char *where,
                      const char *const *known)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, obj) {
        int found = 0;
        for (int k = 0; known[k] && !found; k++)
            found = !strcmp(v->string, known[k]);
        if (!found) {
            char list[256] = "";
            for (int k = 0; known[k]; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                         known[k]);
            return spec_error(sp, where, "unknown field \"%s\" (the fields are %s)", v->string,
                              list);
        }
    }
    return 0;
}

static void field_path(char *out, const char *where, const char *key)
{
    snprintf(out, PATH_BYTES, "%.60s%s%.30s", where, *where ? "." : "", key);
}

/* An optional string: absent or null gives NULL. */
static int get_string(const plot_spec *sp, const cJSON *obj, const char *where, const char *key,
                      const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char path[PATH_BYTES];
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    field_path(path, where, key);
    if (!cJSON_IsString(v))
        return spec_error(sp, path, "is %s; give a string", json_kind(v));
    *out = v->valuestring;
    return 0;
}

/* An optional boolean: absent gives 0. */
static int get_bool(const plot_spec *sp, const cJSON *obj, const char *where, const char *key,
                    int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char path[PATH_BYTES];
    *out = 0;
    if (!v)
        return 0;
    field_path(path, where, key);
    if (!cJSON_IsBool(v))
        return spec_error(sp, path, "is %s; give true or false", json_kind(v));
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A number; null (and, unless required, absence) gives NaN. */
static int get_number(const plot_spec *sp, const cJSON *obj, const char *where, const char *key,
                      int required, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char path[PATH_BYTES];
    field_path(path, where, key);
    *out = NAN;
    if (!v)
        return required ? spec_error(sp, path, "is missing; give a number (null: no value)")
                        : 0;
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return spec_error(sp, path, "is %s; give a number (null: no value)", json_kind(v));
    *out = v->valuedouble;
    return 0;
}

/* An optional whole number of pixels in [lo, hi]; absent gives fallback. */
static int get_pixels(const plot_spec *sp, const cJSON *obj, const char *key, int64_t lo,
                      int64_t hi, int64_t fallback, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = fallback;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return spec_error(sp, key, "is %s; give a whole number of pixels from %lld to %lld",
                          json_kind(v), (long long)lo, (long long)hi);
    if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return spec_error(sp, key, "is %g; give a whole number of pixels from %lld to %lld",
                          v->valuedouble, (long long)lo, (long long)hi);
    *out = (int64_t)v->valuedouble;
    return 0;
}

/* An optional array of at most `most` entries (absent: count 0), or a required non-empty one. */
static int get_array(const plot_spec *sp, const cJSON *obj, const char *where, const char *key,
                     int required, int most, const cJSON **out, int *count)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char path[PATH_BYTES];
    field_path(path, where, key);
    *out = v;
    *count = 0;
    if (!v && !required)
        return 0;
    if (!v)
        return spec_error(sp, path, "is missing; give an array");
    if (!cJSON_IsArray(v))
        return spec_error(sp, path, "is %s; give an array", json_kind(v));
    *count = cJSON_GetArraySize(v);
    if (most > 0 && *count > most)
        return spec_error(sp, path, "has %d entries; a chart takes at most %d", *count, most);
    return 0;
}

static int read_point(plot_spec *sp, const cJSON *o, const char *where, lv_plot_point *p)
{
    static const char *const known[] = { "x", "y", "y_err", "label", NULL };
    if (!cJSON_IsObject(o))
        return spec_error(sp, where, "is %s; give an object {\"x\", \"y\", \"y_err\", "
                          "\"label\"}", json_kind(o));
    char path[PATH_BYTES];
    if (check_keys(sp, o, where, known) < 0 || get_number(sp, o, where, "x", 1, &p->x) < 0 ||
        get_number(sp, o, where, "y", 1, &p->y) < 0 ||
        get_number(sp, o, where, "y_err", 0, &p->y_err) < 0 ||
        get_string(sp, o, where, "label", &p->label) < 0)
        return -1;
    if (p->y_err < 0) {
        field_path(path, where, "y_err");
        return spec_error(sp, path, "is %g; an error bar is a spread (a standard deviation or a "
                          "half-range), >= 0 (null: none)", p->y_err);
    }
    if ((sp->chart.x_log && p->x <= 0) || (sp->chart.y_log && p->y <= 0)) {
        const int x = sp->chart.x_log && p->x <= 0;
        field_path(path, where, x ? "x" : "y");
        return spec_error(sp, path, "is %g, on a log axis (%s is true); give values > 0 there, "
                          "null to leave the point out, or a linear axis", x ? p->x : p->y,
                          x ? "x_log" : "y_log");
    }
    sp->skipped += !(isfinite(p->x) && isfinite(p->y));
    return 0;
}

static int read_series(plot_spec *sp, const cJSON *o, int s)
{
    static const char *const known[] = { "name", "line", "points", NULL };
    char where[PATH_BYTES];
    snprintf(where, sizeof where, "series[%d]", s);
    if (!cJSON_IsObject(o))
        return spec_error(sp, where, "is %s; give an object {\"name\", \"line\", \"points\"}",
                          json_kind(o));
    lv_plot_series *se = &sp->series[s];
    const cJSON *points, *p;
    int n;
    if (check_keys(sp, o, where, known) < 0 || get_string(sp, o, where, "name", &se->name) < 0 ||
        get_bool(sp, o, where, "line", &se->line) < 0 ||
        get_array(sp, o, where, "points", 1, 0, &points, &n) < 0)
        return -1;
    sp->points[s] = calloc((size_t)(n ? n : 1), sizeof *sp->points[s]);
    if (!sp->points[s])
        return spec_error(sp, where, "out of memory for %d points", n);
    se->points = sp->points[s];
    se->n = n;
    int i = 0;
    cJSON_ArrayForEach(p, points) {
        char path[PATH_BYTES];
        snprintf(path, sizeof path, "%.60s.points[%d]", where, i);
        if (read_point(sp, p, path, &sp->points[s][i++]) < 0)
            return -1;
    }
    return 0;
}

static int read_hline(plot_spec *sp, const cJSON *o, int k)
{
    static const char *const known[] = { "y", "label", NULL };
    char where[PATH_BYTES], path[PATH_BYTES];
    snprintf(where, sizeof where, "hlines[%d]", k);
    if (!cJSON_IsObject(o))
        return spec_error(sp, where, "is %s; give an object {\"y\", \"label\"}", json_kind(o));
    lv_plot_hline *h = &sp->hlines[k];
    if (check_keys(sp, o, where, known) < 0 || get_number(sp, o, where, "y", 1, &h->y) < 0 ||
        get_string(sp, o, where, "label", &h->label) < 0)
        return -1;
    field_path(path, where, "y");
    if (isnan(h->y))
        return spec_error(sp, path, "is null; a reference line needs a value");
    if (sp->chart.y_log && h->y <= 0)
        return spec_error(sp, path, "is %g, on a log axis (y_log is true); give a value > 0",
                          h->y);
    return 0;
}

/* The top-level object: words, axes, size, then the series and reference lines. */
static int read_chart(plot_spec *sp)
{
    static const char *const known[] = { "title", "x_title", "y_title", "x_log", "y_log",
                                         "width", "height", "series", "hlines", NULL };
    const cJSON *r = sp->root, *series, *hlines, *v;
    lv_plot_chart *c = &sp->chart;
    int n_series, n_hlines;
    if (!cJSON_IsObject(r))
        return spec_error(sp, "the top level", "is %s; give an object {\"title\", ..., "
                          "\"series\": [...]}", json_kind(r));
    if (check_keys(sp, r, "the top level", known) < 0 ||
        get_string(sp, r, "", "title", &c->title) < 0 ||
        get_string(sp, r, "", "x_title", &c->x_title) < 0 ||
        get_string(sp, r, "", "y_title", &c->y_title) < 0 ||
        get_bool(sp, r, "", "x_log", &c->x_log) < 0 || get_bool(sp, r, "", "y_log", &c->y_log) < 0 ||
        get_pixels(sp, r, "width", LV_PLOT_LEFT + LV_PLOT_RIGHT + LV_PLOT_MIN_AREA,
                   LV_IMAGE_MAX_SIDE, 800, &c->width) < 0 ||
        get_pixels(sp, r, "height", LV_PLOT_TOP + LV_PLOT_BOTTOM + LV_PLOT_MIN_AREA,
                   LV_IMAGE_MAX_SIDE, 500, &c->height) < 0 ||
        get_array(sp, r, "", "series", 1, LV_PLOT_MAX_SERIES, &series, &n_series) < 0 ||
        get_array(sp, r, "", "hlines", 0, LV_PLOT_MAX_HLINES, &hlines, &n_hlines) < 0)
        return -1;
    if (n_series == 0)
        return spec_error(sp, "series", "is empty; give at least one series");
    int k = 0;
    cJSON_ArrayForEach(v, series)
        if (read_series(sp, v, k++) < 0)
            return -1;
    k = 0;
    cJSON_ArrayForEach(v, hlines)
        if (read_hline(sp, v, k++) < 0)
            return -1;
    c->series = sp->series;
    c->n_series = n_series;
    c->hlines = sp->hlines;
    c->n_hlines = n_hlines;
    return 0;
}

/* The file as a string, or NULL with the reason printed. */
static char *read_text(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "longvivit plot: cannot open the chart spec %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    char *buf = malloc(CHART_MAX_BYTES + 1);
    *n = buf ? fread(buf, 1, CHART_MAX_BYTES + 1, f) : 0;
    const int bad = !buf || ferror(f) || *n > CHART_MAX_BYTES;
    if (bad)
        fprintf(stderr, "longvivit plot: %s: %s\n", path, !buf ? "out of memory"
                : ferror(f) ? "cannot read it (is it a folder?)"
                : "over 64 MiB; a chart spec is a few kilobytes");
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[*n] = '\0';
    return buf;
}

/* The line and column of byte `at` of text, for a parse error. */
static void line_of(const char *text, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at && text[i]; i++) {
        *line += text[i] == '\n';
        *col = text[i] == '\n' ? 1 : *col + 1;
    }
}

static int load_spec(plot_spec *sp)
{
    size_t n;
    char *text = read_text(sp->file, &n);
    if (!text)
        return -1;
    const char *end = NULL;
    sp->root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!sp->root) {
        int line, col;
        const size_t at = end ? (size_t)(end - text) : 0;
        line_of(text, at, &line, &col);
        fprintf(stderr, "longvivit plot: %s: not JSON (line %d, column %d); a chart spec is one "
                "JSON object, see docs/formats.md\n", sp->file, line, col);
        free(text);
        return -1;
    }
    free(text);
    return read_chart(sp);
}

static void free_spec(plot_spec *sp)
{
    for (int s = 0; s < LV_PLOT_MAX_SERIES; s++)
        free(sp->points[s]);
    cJSON_Delete(sp->root);
}

int cmd_plot(int argc, char **argv)
{
    const char *spec = NULL, *png = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout);
        if (!strcmp(argv[i], "--png") && i + 1 < argc)
            png = argv[++i];
        else if (argv[i][0] != '-' && !spec)
            spec = argv[i];
        else {
            fprintf(stderr, "longvivit plot: bad argument '%s'\n", argv[i]);
            return usage(stderr);
        }
    }
    if (!spec || !png) {
        fprintf(stderr, "longvivit plot: CHART.json and --png OUT.png are required\n");
        return usage(stderr);
    }
    plot_spec sp = { .file = spec };
    int rc = LV_EXIT_RUNTIME;
    if (load_spec(&sp) == 0) {
        if (lv_plot_xy(png, &sp.chart) < 0) {
            fprintf(stderr, "longvivit plot: %s\n", lv_error());
        } else {
            int64_t points = 0;
            for (int s = 0; s < sp.chart.n_series; s++)
                points += sp.series[s].n;
            printf("wrote %s: %lldx%lld, %d series, %lld points (%lld left out: null or non-finite x or y), "
                   "%d reference lines\n", png, (long long)sp.chart.width,
                   (long long)sp.chart.height, sp.chart.n_series, (long long)points,
                   (long long)sp.skipped, sp.chart.n_hlines);
            rc = LV_EXIT_OK;
        }
    }
    free_spec(&sp);
    return rc;
}
