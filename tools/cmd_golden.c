/* longvivit golden: writes the golden cases of ref/golden.c (every kernel of the backend table on
 * awkward shapes; a training step and AdamW steps of every model variant) as safetensors files,
 * and DIR/MANIFEST, the tolerance of every compared tensor with its reason. --check reruns every
 * case of a folder on a backend and compares every tensor. Generation runs on ref on one thread,
 * so its bytes are the same on every machine; the files are described in golden/README.md. */
#include "commands.h"
#include "error.h"
#include "golden.h"

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
            "       longvivit golden --check DIR [--backend ref|cpu|cuda] [--json] [--worst N]\n"
            "--out writes the golden cases as safetensors files under DIR/kernels (every kernel\n"
            "of the backend table on a few awkward shapes) and DIR/models (one training step and\n"
            "3 AdamW steps of every model variant, shrunken tiny preset), and DIR/MANIFEST, the\n"
            "tolerance (abs, rel, reason) of every tensor a port must reproduce. It runs on the\n"
            "ref backend on one thread: the same bytes on every machine.\n"
            "--check reruns every case of DIR on the backend (default cpu) and compares every\n"
            "output tensor with its MANIFEST row, |got - want| <= abs + rel |want|; it prints\n"
            "each case's worst tensor and the N (default 10) worst tensors overall with their\n"
            "margin, max error / tolerance (passing: <= 1). --json prints one JSON object only.\n"
            "Exit status: 0 all within tolerance, 1 a tensor out of tolerance, 2 bad input\n"
            "(missing folder, damaged file, missing MANIFEST row). See golden/README.md.\n");
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
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
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
    const lv_tolerance *used[128];
    int n_used;
} manifest_text;

static int manifest_rows(manifest_text *mt, const char *case_path, const lv_golden_set *in,
                         const lv_golden_set *out)
{
    for (int64_t i = 0; i < out->n; i++) {
        double abs, rel, scale;
        const lv_tolerance *row = lv_golden_tolerance(in, &out->t[i], &abs, &rel, &scale);
        if (!row)
            return -1;
        int seen = 0;
        for (int k = 0; k < mt->n_used && !seen; k++)
            seen = mt->used[k] == row;
        if (!seen && mt->n_used < 128)
            mt->used[mt->n_used++] = row;
        text_add(&mt->rows, "%-30s %-44s %-8.3g %-8.3g %s.%s", case_path, out->t[i].name, abs,
                 rel, row->kernel, row->tensor);
        if (scale > 0.0)
            text_add(&mt->rows, ": abs %.0e x the largest |entry| %.4g", row->abs, scale);
        text_add(&mt->rows, "\n");
    }
    return 0;
}

static void manifest_finish(text_buf *b, const manifest_text *mt)
{
    text_add(b,
             "# longvivit golden MANIFEST (%s), written by `longvivit golden --out` (%s).\n"
             "# One row per tensor a port must reproduce: case tensor abs rel reason. case: the\n"
             "# file's path in this folder without .safetensors. A tensor passes when\n"
             "# |got - want| <= abs + rel * |want| for every entry (NaN fails); report its\n"
             "# margin, max over entries of |got - want| / (abs + rel * |want|): passing <= 1.\n"
             "# Inputs (in., param., dout., input. but input.kept) are not listed. The reason\n"
             "# names a row of ref/tolerance.c (docs/tolerances.md): kernels use the 'fast kernel\n"
             "# vs ref kernel' rows, models (and sum_squares) the 'port vs golden file' rows:\n",
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
        rc = lv_golden_run(&in, &out, &lv_backend_ref);
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
    double abs, rel;
} man_row;

typedef struct {
    man_row *r;
    int64_t n, cap;
} manifest;

static int manifest_parse_line(manifest *m, char *line, const char *path, int64_t line_no)
{
    char *save = NULL, *f[4];
    for (int i = 0; i < 4; i++)
        f[i] = strtok_r(i ? NULL : line, " \t\r\n", &save);
    if (!f[0] || f[0][0] == '#')
        return 0;
    char *end1 = NULL, *end2 = NULL;
    const double abs = f[2] ? strtod(f[2], &end1) : 0, rel = f[3] ? strtod(f[3], &end2) : 0;
    if (!f[3] || *end1 || *end2 || !(abs >= 0) || !(rel >= 0) ||
        strlen(f[0]) >= LV_GOLDEN_NAME_MAX || strlen(f[1]) >= LV_GOLDEN_NAME_MAX)
        return lv_set_error("%s line %lld: expected 'case tensor abs rel reason' with abs, rel "
                            ">= 0; %s", path, (long long)line_no, FIX_FILE);
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
    r->abs = abs;
    r->rel = rel;
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

/* ---- --check -------------------------------------------------------------------------------- */

typedef struct {
    const char *case_path;          /* borrowed from the manifest */
    char tensor[LV_GOLDEN_NAME_MAX];
    lv_golden_diff d;
    double abs, rel;
} result;

typedef struct {
    const char *dir;
    const lv_backend *be;
    int json;
    result *r;
    int64_t n, cap;
    int64_t cases, failed, bad;
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
    if (r->d.shape_differs)
        printf(" has another shape than the file's\n");
    else
        printf(" max err %.2e; worst at [%lld]: want %.9g got %.9g (abs %.3g rel %.3g)\n",
               r->d.max_err, (long long)r->d.at, r->d.want, r->d.got, r->abs, r->rel);
}

/* Every output of one case against the file's tensors, with the MANIFEST's tolerances. */
static void check_outputs(checker *c, const manifest *m, const char *case_path, const char *path,
                          const lv_golden_set *in, const lv_golden_set *out)
{
    int64_t first = c->n;
    for (int64_t i = 0; i < out->n; i++) {
        const lv_golden_tensor *got = &out->t[i], *want = lv_golden_find(in, got->name);
        const man_row *row = manifest_find(m, case_path, got->name);
        if (!want || !row) {
            bad_input(c, want ? "MANIFEST has no row for %s tensor %s; %s"
                              : "%s lacks tensor %s; %s", want ? case_path : path, got->name,
                      FIX_FILE);
            continue;
        }
        result r = { .case_path = row->case_path, .abs = row->abs, .rel = row->rel,
                     .d = lv_golden_compare(got, want, row->abs, row->rel) };
        snprintf(r.tensor, sizeof r.tensor, "%s", got->name);
        if (result_add(c, &r) < 0) {
            bad_input(c, "out of memory");
            return;
        }
        if (!(r.d.margin <= 1.0) && !c->json) {
            printf("  FAIL");
            print_result(&r);
        }
    }
    int64_t worst = first;
    for (int64_t i = first; i < c->n; i++)
        if (!(c->r[i].d.margin <= c->r[worst].d.margin))
            worst = i;
    if (!c->json && c->n > first)
        printf("  %-32s %4lld tensors  worst margin %.4f (%s)\n", case_path,
               (long long)(c->n - first), c->r[worst].d.margin, c->r[worst].tensor);
}

static void check_case(checker *c, const manifest *m, const char *case_path)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.safetensors", c->dir, case_path);
    lv_golden_set in, out = { 0 };
    c->cases++;
    if (lv_golden_load(&in, path) < 0) {
        bad_input(c, "%s; %s", lv_error(), FIX_FILE);
        return;
    }
    const char *name = lv_golden_meta(&in, "case");
    if (!name || strcmp(name, case_path))
        bad_input(c, "%s: its metadata says it is case '%s'; %s", path, name ? name : "(none)",
                  FIX_FILE);
    else if (lv_golden_run(&in, &out, c->be) < 0)
        bad_input(c, "%s: %s; %s", path, lv_error(), FIX_FILE);
    else
        check_outputs(c, m, case_path, path, &in, &out);
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
    if (c->json) {
        printf("{\"dir\": \"%s\", \"backend\": \"%s\", \"cases\": %lld, \"tensors\": %lld, "
               "\"failed\": %lld, \"bad_input\": %lld, \"worst_margin\": ", c->dir, c->be->name,
               (long long)c->cases, (long long)c->n, (long long)c->failed, (long long)c->bad);
        json_number(c->n ? r[0].d.margin : 0.0);
        printf(", \"worst\": [");
        for (int64_t i = 0; i < k; i++) {
            printf("%s{\"case\": \"%s\", \"tensor\": \"%s\", \"margin\": ", i ? ", " : "",
                   r[i].case_path, r[i].tensor);
            json_number(r[i].d.margin);
            printf(", \"max_err\": ");
            json_number(r[i].d.max_err);
            printf(", \"abs\": %.3g, \"rel\": %.3g}", r[i].abs, r[i].rel);
        }
        printf("]}\n");
        return;
    }
    printf("worst tensors (margin = max |got - want| / (abs + rel |want|); passing <= 1):\n");
    for (int64_t i = 0; i < k; i++)
        print_result(&r[i]);
    if (c->bad)
        printf("BAD INPUT: %lld problems with %s (see the messages above)\n", (long long)c->bad,
               c->dir);
    else if (c->failed)
        printf("FAILED: %lld of %lld tensors out of tolerance on backend %s\n",
               (long long)c->failed, (long long)c->n, c->be->name);
    else
        printf("passed: %lld tensors of %lld cases within tolerance on backend %s, worst margin "
               "%.4f (%s %s)\n", (long long)c->n, (long long)c->cases, c->be->name,
               c->n ? r[0].d.margin : 0.0, c->n ? r[0].case_path : "-", c->n ? r[0].tensor : "-");
}

static int golden_check(const char *dir, const lv_backend *be, int json, int nworst)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "longvivit golden: %s: no such folder; write one with `longvivit golden "
                "--out %s` (or `make golden` for golden/)\n", dir, dir);
        return 2;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    manifest m = { 0 };
    if (manifest_load(&m, path) < 0) {
        fprintf(stderr, "longvivit golden: %s\n", lv_error());
        free(m.r);
        return 2;
    }
    checker c = { .dir = dir, .be = be, .json = json };
    if (!json)
        printf("golden --check %s on backend %s\n", dir, be->name);
    for (int64_t i = 0; i < m.n; i++)
        if (!manifest_has_case(&m, m.r[i].case_path, i))
            check_case(&c, &m, m.r[i].case_path);
    check_strays(&c, &m);
    report(&c, nworst);
    free(c.r);
    free(m.r);
    return c.bad ? 2 : c.failed ? 1 : 0;
}

int cmd_golden(int argc, char **argv)
{
    const char *out = NULL, *check = NULL, *backend = "cpu";
    int json = 0;
    long nworst = 10;
    for (int i = 1; i < argc; i++) {
        const int v = i + 1 < argc;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout);
        else if (!strcmp(argv[i], "--out") && v)
            out = argv[++i];
        else if (!strcmp(argv[i], "--check") && v)
            check = argv[++i];
        else if (!strcmp(argv[i], "--backend") && v)
            backend = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--worst") && v && (nworst = atol(argv[++i])) >= 0)
            continue;
        else {
            fprintf(stderr, "longvivit golden: bad argument '%s'\n", argv[i]);
            return usage(stderr);
        }
    }
    if (!out == !check) {
        fprintf(stderr, "longvivit golden: give one of --out DIR and --check DIR\n");
        return usage(stderr);
    }
    if (out)
        return golden_out(out);
    if (!strcmp(backend, "cuda")) {
        fprintf(stderr, "longvivit golden: this build has no CUDA backend (cuda/ holds no "
                "kernels yet, see cuda/README.md); check with --backend ref or cpu, or check a "
                "port with its own reader of the files (golden/README.md)\n");
        return 2;
    }
    const lv_backend *be = backend_by_name(backend);
    return be ? golden_check(check, be, json, (int)nworst) : 2;
}
