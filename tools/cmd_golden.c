/* longvivit golden: writes the golden cases of golden/harness/golden.c (every kernel of the
 * backend table on awkward shapes; a training step and AdamW steps of every model variant) as
 * safetensors files, and DIR/MANIFEST, the tolerance of every compared tensor with its reason.
 * --check reruns every case of a folder on a backend and compares every tensor. Generation runs
 * on ref on one thread, so its bytes are the same on every machine; the files are described in
 * golden/README.md. */
#include "commands.h"
#include "error.h"
#include "bf16_dnnl.h"
#include "golden.h"
#include "golden_bf16.h"
#include "safetensors.h"
#include "options.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define GENERATOR "longvivit " LV_VERSION
#define FIX_FILE "regenerate the folder with `make golden` (or `longvivit golden --out DIR`) " \
                 "or restore it with `git checkout -- DIR`"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: longvivit golden --out DIR\n"
            "       longvivit golden --check DIR [--backend NAME] [--strict|--port] [--dump OUT]\n"
            "                                    [--json] [--worst N]\n"
            "       longvivit golden --compare DIR PORT_DIR [--strict|--port] [--partial]\n"
            "                                    [--json] [--worst N]\n"
            "--out writes the golden cases as safetensors files under DIR/kernels (every kernel\n"
            "of the backend table on a few awkward shapes) and DIR/models (one training step and\n"
            "3 AdamW steps of every model variant, shrunken tiny preset), and DIR/MANIFEST, the\n"
            "tolerance (abs, rel, reason) of every tensor a port must reproduce. It runs on the\n"
            "ref backend on one thread: the same bytes on every machine.\n"
            "--check reruns every case of DIR on the backend (default cpu) and compares every\n"
            "output tensor with its MANIFEST row, |got - want| <= abs + rel |want|; it prints\n"
            "each case's worst tensor and the N (default 10) worst tensors overall with their\n"
            "margin, max error / tolerance (passing: <= 1). --json prints one JSON object only.\n"
            "--dump OUT also writes the backend's outputs to OUT/kernels/<case> and\n"
            "OUT/models/<case> (--compare's layout): two dumps of one backend compare byte for\n"
            "byte when it is deterministic (cmp -r).\n"
            "--compare checks files another implementation wrote: PORT_DIR/kernels/<case> and\n"
            "PORT_DIR/models/<case>.safetensors holding the outputs under the golden names (a\n"
            "missing case file or tensor fails; --partial skips missing case files).\n"
            "--strict (default) uses the MANIFEST's strict columns (our own backends), --port\n"
            "its port columns: what any correct fp32 implementation may differ by (FMA, any\n"
            "summation order, 4-ulp transcendentals; no TF32). --precision bf16 checks the cpu\n"
            "backend with bf16 matmul operands against the bf16 column (docs/tolerances.md).\n"
            "Exit status: 0 all within tolerance, 1 a tensor out of tolerance or missing, 2 bad\n"
            "input (missing folder, damaged file, missing MANIFEST row). See golden/README.md.\n"
            "Backends in this build: %s.\n%s", lv_backend_names(),
            lv_opt_precision_help());
    return out == stderr ? 2 : 0;
}

/* ---- a growing text buffer (the MANIFEST) --------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
    int failed;
} text_buf;

static void text_add(text_buf *b, const char *fmt, ...) LV_PRINTF(2, 3);

static void text_add(text_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->failed || n < 0)
        return;
    if (b->n + (size_t)n + 1 > b->cap) {
        const size_t cap = 2 * (b->n + (size_t)n + 1) + 4096;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* ---- --out ---------------------------------------------------------------------------------- */

static int make_dir(const char *path)
{
    struct stat st;
    if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    return lv_set_error("%s: cannot create the folder: %s", path, strerror(errno));
}

static int write_text(const char *path, const text_buf *b)
{
    char tmp[4300];
    FILE *f = lv_file_temp_create(path, tmp, sizeof tmp);
    int ok = f && !b->failed && fwrite(b->s, 1, b->n, f) == b->n;
    ok = f && fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0)
        return 0;
    remove(tmp);
    return lv_set_error("%s: cannot write it: %s", path, b->failed ? "out of memory"
                                                                    : strerror(errno));
}

/* The MANIFEST: a header, the reason of every tolerance row used, then one row per tensor. */
typedef struct {
    text_buf rows;
    const lv_tolerance *used[256];
    int n_used;
} manifest_text;

static int manifest_rows(manifest_text *mt, const char *case_path, const lv_golden_set *in,
                         const lv_golden_set *out)
{
    for (int64_t i = 0; i < out->n; i++) {
        double abs[2], rel[2], scale;
        const lv_tolerance *row[2];
        for (int port = 0; port < 2; port++) {
            row[port] = lv_golden_tolerance(in, &out->t[i], port, &abs[port], &rel[port], &scale);
            if (!row[port])
                return -1;
            int seen = 0;
            for (int k = 0; k < mt->n_used && !seen; k++)
                seen = mt->used[k] == row[port];
            if (!seen && mt->n_used < 256)
                mt->used[mt->n_used++] = row[port];
        }
        text_add(&mt->rows, "%-30s %-44s %-8.3g %-8.3g %-8.3g %-8.3g %s.%s", case_path,
                 out->t[i].name, abs[0], rel[0], abs[1], rel[1], row[0]->kernel, row[0]->tensor);
        if (scale > 0.0)
            text_add(&mt->rows, ": abs %.0e / %.0e x the largest |entry| %.4g", row[0]->abs,
                     row[1]->abs, scale);
        if (!strncmp(out->t[i].name, "after.", 6))
            text_add(&mt->rows, ", + Adam's widening per entry");
        text_add(&mt->rows, "\n");
    }
    return 0;
}

static void manifest_finish(text_buf *b, const manifest_text *mt)
{
    text_add(b,
             "# longvivit golden MANIFEST (%s), written by `longvivit golden --out` (%s).\n"
             "# One row per tensor to reproduce: case tensor abs rel port_abs port_rel reason.\n"
             "# case: the file's path in this folder without .safetensors. A tensor passes when\n"
             "# |got - want| <= abs + rel * |want| for every entry (NaN and Inf fail); report\n"
             "# its margin, max over entries of |got - want| / (abs + rel * |want|): passing\n"
             "# <= 1. abs rel: the strict columns, for our own backends (golden --check\n"
             "# --strict); port_abs port_rel: what any correct fp32 port may differ by (FMA, any\n"
             "# summation order, transcendentals within 4 ulp, no TF32: golden --check/--compare\n"
             "# --port). after.* rows add a per-entry widening (golden/README.md). Inputs (in.,\n"
             "# param., dout., input. but input.kept) are not listed. The reason names a row of\n"
             "# golden/harness/tolerance.c (docs/tolerances.md); the rows used, strict then "
             "port:\n",
             LV_GOLDEN_FORMAT, GENERATOR);
    for (int k = 0; k < mt->n_used; k++)
        text_add(b, "#   %s.%s (%s): %s\n", mt->used[k]->kernel, mt->used[k]->tensor,
                 mt->used[k]->check, mt->used[k]->reason);
    text_add(b, "%s", mt->rows.s ? mt->rows.s : "");
    if (mt->rows.failed)
        b->failed = 1;
}

static long long file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* One case: make its inputs, run it on ref, write it and its MANIFEST rows. */
static int golden_write_case(int i, const char *dir, manifest_text *man, long long *bytes)
{
    lv_golden_set in = { 0 }, out = { 0 };
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, lv_golden_case_path(i));
    int rc = lv_golden_make(i, GENERATOR, &in);
    if (rc == 0)
        rc = lv_golden_run(&in, &out, backend_by_name("ref"));
    if (rc == 0)
        rc = manifest_rows(man, lv_golden_case_path(i), &in, &out);
    if (rc == 0)
        rc = lv_golden_write(&in, &out, path);
    if (rc == 0) {
        *bytes += file_bytes(path);
        printf("  %-32s %3lld tensors %8lld bytes\n", lv_golden_case_path(i),
               (long long)(in.n + out.n), file_bytes(path));
    }
    lv_golden_set_free(&in);
    lv_golden_set_free(&out);
    return rc;
}

static int golden_out(const char *dir)
{
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    char sub[4200];
    int rc = make_dir(dir);
    snprintf(sub, sizeof sub, "%s/kernels", dir);
    rc = rc ? rc : make_dir(sub);
    snprintf(sub, sizeof sub, "%s/models", dir);
    rc = rc ? rc : make_dir(sub);
    manifest_text mt = { 0 };
    text_buf man = { 0 };
    long long bytes = 0;
    printf("golden: writing %d cases to %s/ (ref backend, 1 thread)\n", lv_golden_case_count(),
           dir);
    for (int i = 0; rc == 0 && i < lv_golden_case_count(); i++)
        if (golden_write_case(i, dir, &mt, &bytes) < 0) {
            char why[1024];
            snprintf(why, sizeof why, "%s", lv_error());
            rc = lv_set_error("case %s: %s", lv_golden_case_path(i), why);
        }
    snprintf(sub, sizeof sub, "%s/MANIFEST", dir);
    manifest_finish(&man, &mt);
    rc = rc ? rc : write_text(sub, &man);
    if (rc == 0)
        printf("wrote %d cases (%.1f KiB) and %s (%.1f KiB)\n", lv_golden_case_count(),
               (double)bytes / 1024.0, sub, (double)man.n / 1024.0);
    else
        fprintf(stderr, "longvivit golden: %s\n", lv_error());
    free(man.s);
    free(mt.rows.s);
    return rc ? 1 : 0;
}

/* ---- the MANIFEST, read back ---------------------------------------------------------------- */

typedef struct {
    char case_path[LV_GOLDEN_NAME_MAX], tensor[LV_GOLDEN_NAME_MAX];
    double tol[2][2];                     /* [strict, port][abs, rel] */
} man_row;

typedef struct {
    man_row *r;
    int64_t n, cap;
} manifest;

static int manifest_parse_line(manifest *m, char *line, const char *path, int64_t line_no)
{
    char *save = NULL, *f[6];
    double tol[4];
    for (int i = 0; i < 6; i++)
        f[i] = strtok_r(i ? NULL : line, " \t\r\n", &save);
    if (!f[0] || f[0][0] == '#')
        return 0;
    int ok = f[5] && strlen(f[0]) < LV_GOLDEN_NAME_MAX && strlen(f[1]) < LV_GOLDEN_NAME_MAX;
    for (int i = 0; ok && i < 4; i++) {
        char *end = NULL;
        tol[i] = strtod(f[2 + i], &end);
        ok = !*end && tol[i] >= 0 && isfinite(tol[i]);
    }
    if (!ok)
        return lv_set_error("%s line %lld: expected 'case tensor abs rel port_abs port_rel "
                            "reason' with tolerances >= 0; %s", path, (long long)line_no,
                            FIX_FILE);
    if (m->n == m->cap) {
        const int64_t cap = m->cap ? 2 * m->cap : 1024;
        man_row *r = realloc(m->r, (size_t)cap * sizeof *r);
        if (!r)
            return lv_set_error("out of memory reading %s", path);
        m->r = r;
        m->cap = cap;
    }
    man_row *r = &m->r[m->n++];
    snprintf(r->case_path, sizeof r->case_path, "%s", f[0]);
    snprintf(r->tensor, sizeof r->tensor, "%s", f[1]);
    memcpy(r->tol, tol, sizeof r->tol);
    return 0;
}

static int manifest_load(manifest *m, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return lv_set_error("%s: cannot open it: %s; %s", path, strerror(errno), FIX_FILE);
    char *line = NULL;
    size_t cap = 0;
    int64_t line_no = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0)
        rc = manifest_parse_line(m, line, path, ++line_no);
    free(line);
    fclose(f);
    if (rc == 0 && m->n == 0)
        rc = lv_set_error("%s: no rows; %s", path, FIX_FILE);
    return rc;
}

static const man_row *manifest_find(const manifest *m, const char *case_path, const char *tensor)
{
    for (int64_t i = 0; i < m->n; i++)
        if (!strcmp(m->r[i].case_path, case_path) && !strcmp(m->r[i].tensor, tensor))
            return &m->r[i];
    return NULL;
}

static int manifest_has_case(const manifest *m, const char *case_path, int64_t before)
{
    for (int64_t i = 0; i < before; i++)
        if (!strcmp(m->r[i].case_path, case_path))
            return 1;
    return 0;
}

/* ---- --check and --compare ------------------------------------------------------------------ */

typedef struct {
    const char *case_path;          /* borrowed from the manifest */
    char tensor[LV_GOLDEN_NAME_MAX];
    lv_golden_diff d;
    double abs, rel;
    const char *missing;            /* why there is nothing to compare, or NULL */
} result;

typedef struct {
    const char *dir, *port_dir;     /* port_dir: --compare's folder, NULL for --check */
    const char *dump;               /* --check --dump: the backend's outputs go here, in
                                     * --compare's layout (NULL: not kept) */
    const lv_backend *be;
    int port, json, partial;        /* port: the MANIFEST's port columns */
    int bf16;                       /* the backend is cpu-bf16: the bf16 column (golden_bf16.h) */
    result *r;
    int64_t n, cap;
    int64_t cases, failed, bad, absent;
    double *extra;                  /* after.* widening, grown as needed */
    int64_t extra_cap;
} checker;

static void bad_input(checker *c, const char *fmt, ...) LV_PRINTF(2, 3);

static void bad_input(checker *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "longvivit golden: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    c->bad++;
}

static int result_add(checker *c, const result *r)
{
    if (c->n == c->cap) {
        const int64_t cap = c->cap ? 2 * c->cap : 1024;
        result *p = realloc(c->r, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        c->r = p;
        c->cap = cap;
    }
    c->r[c->n++] = *r;
    c->failed += !(r->d.margin <= 1.0);
    return 0;
}

static void print_result(const result *r)
{
    printf(r->d.margin < 1e4 ? "  %9.4f  %-28s %-44s" : "  %9.3g  %-28s %-44s", r->d.margin,
           r->case_path, r->tensor);
    if (r->missing)
        printf(" %s\n", r->missing);
    else if (r->d.shape_differs)
        printf(" has another shape than the file's\n");
    else
        printf(" max err %.2e; worst at [%lld]: want %.9g got %.9g (abs %.3g rel %.3g)\n",
               r->d.max_err, (long long)r->d.at, r->d.want, r->d.got, r->abs, r->rel);
}

static void record(checker *c, result *r)
{
    if (result_add(c, r) < 0) {
        bad_input(c, "out of memory");
        return;
    }
    if (!(r->d.margin <= 1.0) && !c->json) {
        printf("  FAIL");
        print_result(r);
    }
}

/* The per-entry widening of an after.* tensor, into c->extra; NULL + bad input on failure. */
static const double *after_widening(checker *c, const lv_golden_set *golden, const char *path,
                                    const lv_golden_tensor *want)
{
    if (strncmp(want->name, "after.", 6))
        return NULL;
    if (want->numel > c->extra_cap) {
        double *e = realloc(c->extra, (size_t)want->numel * sizeof *e);
        if (!e) {
            bad_input(c, "out of memory");
            return NULL;
        }
        c->extra = e;
        c->extra_cap = want->numel;
    }
    if (lv_golden_after_widening(golden, want->name, c->port, c->extra) < 0) {
        bad_input(c, "%s: %s; %s", path, lv_error(), FIX_FILE);
        return NULL;
    }
    return c->extra;
}

/* Every MANIFEST row of one case: the golden file's tensor (in golden) against got's. */
static void check_outputs(checker *c, const manifest *m, const char *case_path, const char *path,
                          const lv_golden_set *golden, const lv_golden_set *got)
{
    const int64_t first = c->n;
    for (int64_t i = 0; i < m->n; i++) {
        const man_row *row = &m->r[i];
        if (strcmp(row->case_path, case_path))
            continue;
        const lv_golden_tensor *want = lv_golden_find(golden, row->tensor),
                               *have = lv_golden_find(got, row->tensor);
        result r = { .case_path = row->case_path, .abs = row->tol[c->port][0],
                     .rel = row->tol[c->port][1], .d = { .at = -1 } };
        snprintf(r.tensor, sizeof r.tensor, "%s", row->tensor);
        if (!want) {
            bad_input(c, "%s lacks tensor %s; %s", path, row->tensor, FIX_FILE);
            continue;
        }
        if (!have && !c->port_dir) {
            bad_input(c, "backend %s did not produce %s tensor %s", c->be->name, case_path,
                      row->tensor);
            continue;
        }
        if (!have && strstr(row->tensor, ".kept"))
            continue;          /* the host-drawn masks: a port may take them from the file */
        if (!have) {
            r.missing = "missing from the port's file";
            r.d.margin = r.d.max_err = INFINITY;
        } else {
            int widen = 1;
            if (c->bf16 && !lv_golden_tolerance_bf16(golden, want, &r.abs, &r.rel, &widen)) {
                bad_input(c, "%s; %s", lv_error(), FIX_FILE);
                continue;
            }
            const double *extra = widen ? after_widening(c, golden, path, want) : NULL;
            if (widen && !extra && !strncmp(want->name, "after.", 6))
                continue;
            r.d = lv_golden_compare_widened(have, want, r.abs, r.rel, extra);
        }
        record(c, &r);
    }
    for (int64_t i = 0; !c->port_dir && i < got->n; i++)
        if (!manifest_find(m, case_path, got->t[i].name))
            bad_input(c, "MANIFEST has no row for %s tensor %s; %s", case_path, got->t[i].name,
                      FIX_FILE);
    int64_t worst = first;
    for (int64_t i = first; i < c->n; i++)
        if (!(c->r[i].d.margin <= c->r[worst].d.margin))
            worst = i;
    if (!c->json && c->n > first)
        printf("  %-32s %4lld tensors  worst margin %.4f (%s)\n", case_path,
               (long long)(c->n - first), c->r[worst].d.margin, c->r[worst].tensor);
}

/* --dump: the outputs of a case (no inputs, no metadata) as DIR/<case>.safetensors, the layout
 * --compare reads; two dumps of the same backend compare byte for byte (determinism). */
static int dump_case(const char *dir, const char *case_path, const lv_golden_set *out)
{
    char path[4200], sub[4200];
    const char *slash = strchr(case_path, '/');
    snprintf(sub, sizeof sub, "%s/%.*s", dir, slash ? (int)(slash - case_path) : 0, case_path);
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, case_path);
    const lv_golden_set none = { 0 };
    if (make_dir(dir) < 0 || make_dir(sub) < 0)
        return -1;
    return lv_golden_write(&none, out, path);
}

/* --check: rerun the case on the backend. --compare: read the port's file of the case. */
static void check_case(checker *c, const manifest *m, const char *case_path)
{
    char path[4200], port_path[4200];
    snprintf(path, sizeof path, "%s/%s.safetensors", c->dir, case_path);
    lv_golden_set in, out = { 0 };
    if (c->port_dir) {
        snprintf(port_path, sizeof port_path, "%s/%s.safetensors", c->port_dir, case_path);
        if (access(port_path, F_OK) != 0) {
            c->absent++;
            if (c->partial)
                return;
            result r = { .case_path = case_path, .missing = "the port wrote no file for it",
                         .d = { .margin = INFINITY, .max_err = INFINITY, .at = -1 } };
            snprintf(r.tensor, sizeof r.tensor, "(%s)", port_path + strlen(c->port_dir) + 1);
            record(c, &r);
            return;
        }
    }
    c->cases++;
    if (lv_golden_load(&in, path) < 0) {
        bad_input(c, "%s; %s", lv_error(), FIX_FILE);
        return;
    }
    const char *name = lv_golden_meta(&in, "case");
    if (!name || strcmp(name, case_path))
        bad_input(c, "%s: its metadata says it is case '%s'; %s", path, name ? name : "(none)",
                  FIX_FILE);
    else if (c->port_dir && lv_golden_load_any(&out, port_path) < 0)
        bad_input(c, "%s; fix the port's writer (golden/README.md, golden --compare)",
                  lv_error());
    else if (!c->port_dir && lv_golden_run(&in, &out, c->be) < 0)
        bad_input(c, "%s: %s; %s", path, lv_error(), FIX_FILE);
    else {
        check_outputs(c, m, case_path, c->port_dir ? port_path : path, &in, &out);
        if (c->dump && dump_case(c->dump, case_path, &out) < 0)
            bad_input(c, "%s", lv_error());
    }
    lv_golden_set_free(&in);
    lv_golden_set_free(&out);
}

/* Files under DIR/kernels and DIR/models that the MANIFEST does not list. */
static void check_strays(checker *c, const manifest *m)
{
    const char *subs[2] = { "kernels", "models" };
    for (int s = 0; s < 2; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", c->dir, subs[s]);
        DIR *d = opendir(path);
        for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
            const size_t n = strlen(e->d_name), ext = strlen(".safetensors");
            char case_path[LV_GOLDEN_NAME_MAX + 16];
            if (n <= ext || strcmp(e->d_name + n - ext, ".safetensors"))
                continue;
            snprintf(case_path, sizeof case_path, "%s/%.*s", subs[s], (int)(n - ext), e->d_name);
            if (!manifest_has_case(m, case_path, m->n))
                bad_input(c, "%s/%s has no rows in the MANIFEST; %s", path, e->d_name, FIX_FILE);
        }
        if (d)
            closedir(d);
    }
}

static int by_margin(const void *a, const void *b)
{
    const double x = ((const result *)a)->d.margin, y = ((const result *)b)->d.margin;
    return isnan(x) ? -1 : isnan(y) ? 1 : (x < y) - (x > y);
}

static void json_number(double x)
{
    if (isfinite(x))
        printf("%.4g", x);
    else
        printf("null");
}

static void report(const checker *c, int nworst)
{
    result *r = c->r;
    qsort(r, (size_t)c->n, sizeof *r, by_margin);
    const int64_t k = c->n < nworst ? c->n : nworst;
    const char *mode = c->bf16 ? "bf16" : c->port ? "port" : "strict";
    const char *who = c->port_dir ? c->port_dir : c->be->name;
    if (c->json) {
        printf("{\"dir\": \"%s\", \"%s\": \"%s\", \"mode\": \"%s\", \"cases\": %lld, "
               "\"tensors\": %lld, \"failed\": %lld, \"bad_input\": %lld, \"absent\": %lld, "
               "\"worst_margin\": ", c->dir, c->port_dir ? "port_dir" : "backend", who, mode,
               (long long)c->cases, (long long)c->n, (long long)c->failed, (long long)c->bad,
               (long long)c->absent);
        json_number(c->n ? r[0].d.margin : 0.0);
        printf(", \"worst\": [");
        for (int64_t i = 0; i < k; i++) {
            printf("%s{\"case\": \"%s\", \"tensor\": \"%s\", \"margin\": ", i ? ", " : "",
                   r[i].case_path, r[i].tensor);
            json_number(r[i].d.margin);
            printf(", \"max_err\": ");
            json_number(r[i].d.max_err);
            printf(", \"abs\": %.3g, \"rel\": %.3g%s}", r[i].abs, r[i].rel,
                   r[i].missing ? ", \"missing\": true" : "");
        }
        printf("]}\n");
        return;
    }
    printf("worst tensors (margin = max |got - want| / (abs + rel |want|); passing <= 1):\n");
    for (int64_t i = 0; i < k; i++)
        print_result(&r[i]);
    if (c->absent && c->partial)
        printf("note: %lld cases have no file in %s (--partial: not checked)\n",
               (long long)c->absent, c->port_dir);
    if (c->bad)
        printf("BAD INPUT: %lld problems with %s (see the messages above)\n", (long long)c->bad,
               c->port_dir ? c->port_dir : c->dir);
    else if (c->failed)
        printf("FAILED: %lld of %lld tensors out of tolerance (%s) on %s\n",
               (long long)c->failed, (long long)c->n, mode, who);
    else if (c->n == 0)
        printf("FAILED: nothing was compared (%s holds no case of %s)\n", who, c->dir);
    else
        printf("passed: %lld tensors of %lld cases within tolerance (%s) on %s, worst margin "
               "%.4f (%s %s)\n", (long long)c->n, (long long)c->cases, mode, who,
               r[0].d.margin, r[0].case_path, r[0].tensor);
}

static int is_folder(const char *dir, const char *what)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 1;
    fprintf(stderr, "longvivit golden: %s: no such folder; %s\n", dir, what);
    return 0;
}

static int golden_check(checker *c, int nworst)
{
    char what[4400];
    snprintf(what, sizeof what, "write one with `longvivit golden --out %s` (or `make golden` "
             "for golden/)", c->dir);
    if (!is_folder(c->dir, what) ||
        (c->port_dir && !is_folder(c->port_dir, "it should hold the port's kernels/ and "
                                   "models/ files (golden/README.md)")))
        return 2;
    if (!c->port_dir && !c->be->host_memory) {    /* a device backend that cannot start: once */
        void *probe = c->be->alloc(1, "a probe of the backend's memory");
        if (!probe) {
            fprintf(stderr, "longvivit golden: %s\n", lv_error());
            return 2;
        }
        c->be->free(probe);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", c->dir);
    manifest m = { 0 };
    if (manifest_load(&m, path) < 0) {
        fprintf(stderr, "longvivit golden: %s\n", lv_error());
        free(m.r);
        return 2;
    }
    if (!c->json)
        printf("golden %s %s %s %s (%s tolerances)\n", c->port_dir ? "--compare" : "--check",
               c->dir, c->port_dir ? "with" : "on backend",
               c->port_dir ? c->port_dir : c->be->name,
               c->bf16 ? "bf16" : c->port ? "port" : "strict");
    for (int64_t i = 0; i < m.n; i++)
        if (!manifest_has_case(&m, m.r[i].case_path, i))
            check_case(c, &m, m.r[i].case_path);
    check_strays(c, &m);
    report(c, nworst);
    free(c->r);
    free(c->extra);
    free(m.r);
    return c->bad ? 2 : (c->failed || c->n == 0) ? 1 : 0;
}

int cmd_golden(int argc, char **argv)
{
    const char *out = NULL, *check = NULL, *compare = NULL, *port_dir = NULL, *backend = "cpu";
    checker c = { 0 };
    long nworst = 10;
    for (int i = 1; i < argc; i++) {
        const int v = i + 1 < argc;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout);
        else if (!strcmp(argv[i], "--out") && v)
            out = argv[++i];
        else if (!strcmp(argv[i], "--check") && v)
            check = argv[++i];
        else if (!strcmp(argv[i], "--compare") && i + 2 < argc) {
            compare = argv[++i];
            port_dir = argv[++i];
        } else if (!strcmp(argv[i], "--backend") && v)
            backend = argv[++i];
        else if (!strcmp(argv[i], "--port") || !strcmp(argv[i], "--strict"))
            c.port = !strcmp(argv[i], "--port");
        else if (!strcmp(argv[i], "--partial"))
            c.partial = 1;
        else if (!strcmp(argv[i], "--dump") && v)
            c.dump = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            c.json = 1;
        else if (!strcmp(argv[i], "--worst") && v) {
            long long n;
            if (lv_opt_int("--worst", argv[++i], 0, 1000000, &n) < 0) {
                fprintf(stderr, "longvivit golden: %s\n", lv_error());
                return usage(stderr);
            }
            nworst = (long)n;
        }
        else {
            fprintf(stderr, "longvivit golden: bad argument '%s'\n", argv[i]);
            return usage(stderr);
        }
    }
    if ((out != NULL) + (check != NULL) + (compare != NULL) != 1) {
        fprintf(stderr, "longvivit golden: give one of --out DIR, --check DIR and --compare "
                "DIR PORT_DIR\n");
        return usage(stderr);
    }
    if (out)
        return golden_out(out);
    if (compare) {
        c.dir = compare;
        c.port_dir = port_dir;
        c.be = backend_by_name("ref");
        return golden_check(&c, (int)nworst);
    }
    if (c.dump && !check) {
        fprintf(stderr, "longvivit golden: --dump goes with --check (the outputs of a backend "
                "of this build)\n");
        return usage(stderr);
    }
    c.dir = check;
    if (!(c.be = backend_by_name(backend))) {
        fprintf(stderr, "longvivit golden: %s; a port outside this build checks its own output "
                "files with --compare (golden/README.md)\n", lv_error());
        return 2;
    }
    c.bf16 = c.be == lv_backend_cpu_bf16();
    return golden_check(&c, (int)nworst);
}
