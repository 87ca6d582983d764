/* Golden cases (see golden.h): the case table, one maker and one runner per kernel, the model
 * and video-to-text runners (one training step's activations and gradients, then AdamW steps;
 * the video-to-text stage also a greedy decode), file I/O of a case
 * and the tolerance and comparison of its outputs. Inputs are small and O(1), shapes awkward
 * (one row, odd sizes, empty groups); every runner validates the shapes and indices it reads,
 * so a damaged file is an error, never an out-of-bounds access. */
#include "golden.h"
#include "adamw.h"
#include "model.h"
#include "train.h"
#include "rng.h"
#include "tolerance.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sets of named tensors ------------------------------------------------------------------ */

static size_t dtype_size(lv_dtype dt)
{
    return dt == LV_DT_I64 ? 8 : dt == LV_DT_U8 ? 1 : 4;
}

void *lv_golden_add(lv_golden_set *s, const char *name, lv_dtype dtype, int ndim,
                    const int64_t *shape)
{
    if (s->failed)
        return NULL;
    if (strlen(name) >= LV_GOLDEN_NAME_MAX || ndim < 0 || ndim > LV_ST_MAX_DIMS) {
        s->failed = 1;
        lv_set_error("golden tensor '%s': name over %d bytes or rank %d", name,
                     LV_GOLDEN_NAME_MAX - 1, ndim);
        return NULL;
    }
    if (s->n == s->cap) {
        const int64_t cap = s->cap ? 2 * s->cap : 32;
        lv_golden_tensor *t = realloc(s->t, (size_t)cap * sizeof *t);
        if (!t) {
            s->failed = 1;
            lv_set_error("out of memory growing a golden case to %lld tensors", (long long)cap);
            return NULL;
        }
        s->t = t;
        s->cap = cap;
    }
    lv_golden_tensor *t = &s->t[s->n];
    *t = (lv_golden_tensor){ .dtype = dtype, .ndim = ndim, .numel = 1 };
    snprintf(t->name, sizeof t->name, "%s", name);
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= shape[d];
    }
    t->data = lv_calloc((size_t)(t->numel > 0 ? t->numel : 1), dtype_size(dtype), name);
    if (!t->data) {
        s->failed = 1;
        return NULL;
    }
    s->n++;
    return t->data;
}

const lv_golden_tensor *lv_golden_find(const lv_golden_set *s, const char *name)
{
    for (int64_t i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name))
            return &s->t[i];
    return NULL;
}

int lv_golden_meta_set(lv_golden_set *s, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *value = lv_malloc((size_t)n + 1, "a golden metadata value");
    char *k = value ? strdup(key) : NULL;
    if (s->n_meta == s->cap_meta && k) {
        const int64_t cap = s->cap_meta ? 2 * s->cap_meta : 32;
        char **meta = realloc(s->meta, (size_t)(2 * cap) * sizeof *meta);
        if (meta) {
            s->meta = meta;
            s->cap_meta = cap;
        }
    }
    if (!value || !k || s->n_meta == s->cap_meta) {
        free(value);
        free(k);
        s->failed = 1;
        return lv_set_error("out of memory setting golden metadata '%s'", key);
    }
    va_start(ap, fmt);
    vsnprintf(value, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->meta[2 * s->n_meta] = k;
    s->meta[2 * s->n_meta + 1] = value;
    s->n_meta++;
    return 0;
}

const char *lv_golden_meta(const lv_golden_set *s, const char *key)
{
    for (int64_t i = 0; i < s->n_meta; i++)
        if (!strcmp(s->meta[2 * i], key))
            return s->meta[2 * i + 1];
    return NULL;
}

void lv_golden_set_free(lv_golden_set *s)
{
    for (int64_t i = 0; i < s->n; i++)
        free(s->t[i].data);
    for (int64_t i = 0; i < 2 * s->n_meta; i++)
        free(s->meta[i]);
    free(s->t);
    free(s->meta);
    *s = (lv_golden_set){ 0 };
}

/* ---- files ---------------------------------------------------------------------------------- */

static int load_tensor(lv_golden_set *s, lv_st_file *f, const lv_st_tensor *t, const char *path)
{
    lv_dtype dt = t->dtype;
    if (dt != LV_DT_F32 && dt != LV_DT_I64 && dt != LV_DT_I32 && dt != LV_DT_U8)
        return lv_set_error("%s: tensor '%s' has dtype %s; golden files hold F32, I64, I32 and "
                            "U8 only", path, t->name, lv_dtype_name(dt));
    void *data = lv_golden_add(s, t->name, dt, t->ndim, t->shape);
    if (!data)
        return -1;
    if (dt == LV_DT_F32)
        return lv_st_read_f32(f, t, data, t->numel);
    int64_t *wide = dt == LV_DT_I64 ? data : lv_malloc((size_t)t->numel * 8 + 8, t->name);
    if (!wide || lv_st_read_i64(f, t, wide, t->numel) < 0) {
        if (wide != data)
            free(wide);
        return -1;
    }
    for (int64_t i = 0; dt != LV_DT_I64 && i < t->numel; i++) {
        if (dt == LV_DT_I32)
            ((int32_t *)data)[i] = (int32_t)wide[i];
        else
            ((uint8_t *)data)[i] = (uint8_t)wide[i];
    }
    if (wide != data)
        free(wide);
    return 0;
}

int lv_golden_load(lv_golden_set *s, const char *path)
{
    int rc = lv_golden_load_any(s, path);
    if (rc == 0 && strcmp(lv_golden_meta(s, "format") ? lv_golden_meta(s, "format") : "",
                          LV_GOLDEN_FORMAT))
        rc = lv_set_error("%s: metadata \"format\" is not \"%s\": not a golden file of this "
                          "version", path, LV_GOLDEN_FORMAT);
    if (rc)
        lv_golden_set_free(s);
    return rc;
}

int lv_golden_load_any(lv_golden_set *s, const char *path)
{
    *s = (lv_golden_set){ 0 };
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < lv_st_meta_count(f); i++) {
        const char *key, *value;
        rc = lv_st_meta_at(f, i, &key, &value);
        if (rc == 0)
            rc = lv_golden_meta_set(s, key, "%s", value);
    }
    for (int64_t i = 0; rc == 0 && i < lv_st_count(f); i++)
        rc = load_tensor(s, f, lv_st_tensor_at(f, i), path);
    lv_st_close(f);
    if (rc)
        lv_golden_set_free(s);
    return rc;
}

static void writer_add_set(lv_st_writer *w, const lv_golden_set *s)
{
    for (int64_t i = 0; i < s->n; i++) {
        const lv_golden_tensor *t = &s->t[i];
        if (t->dtype == LV_DT_F32)
            lv_st_writer_add_f32(w, t->name, t->data, t->ndim, t->shape);
        else if (t->dtype == LV_DT_I64)
            lv_st_writer_add_i64(w, t->name, t->data, t->ndim, t->shape);
        else if (t->dtype == LV_DT_I32)
            lv_st_writer_add_i32(w, t->name, t->data, t->ndim, t->shape);
        else
            lv_st_writer_add_u8(w, t->name, t->data, t->ndim, t->shape);
    }
}

int lv_golden_write(const lv_golden_set *in, const lv_golden_set *out, const char *path)
{
    lv_st_writer *w = lv_st_writer_new();
    if (!w)
        return -1;
    for (int64_t i = 0; i < in->n_meta; i++)
        lv_st_writer_meta(w, in->meta[2 * i], in->meta[2 * i + 1]);
    writer_add_set(w, in);
    writer_add_set(w, out);
    const int rc = lv_st_writer_write(w, path);
    lv_st_writer_free(w);
    return rc;
}

/* ---- helpers of makers and runners ---------------------------------------------------------- */

#define DIMS(...) (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)), \
                  (const int64_t[]){ __VA_ARGS__ }

static float *put(lv_golden_set *s, const char *name, int ndim, const int64_t *shape)
{
    return lv_golden_add(s, name, LV_DT_F32, ndim, shape);
}

static float *randn(lv_golden_set *s, const char *name, lv_rng *r, double mean, double std,
                    int ndim, const int64_t *shape)
{
    float *x = put(s, name, ndim, shape);
    for (int64_t i = 0; x && i < s->t[s->n - 1].numel; i++)
        x[i] = (float)(mean + std * lv_rng_normal(r));
    return x;
}

static int64_t *put_i64(lv_golden_set *s, const char *name, int ndim, const int64_t *shape)
{
    return lv_golden_add(s, name, LV_DT_I64, ndim, shape);
}

/* K of 0..N-1 in ascending order, uniformly (selection sampling) */
static void pick_sorted(int64_t *out, int64_t K, int64_t N, lv_rng *r)
{
    for (int64_t n = 0, k = 0; n < N && k < K; n++)
        if ((int64_t)lv_rng_below(r, (uint64_t)(N - n)) < K - k)
            out[k++] = n;
}

/* Input name of in with the given dtype and rank: NULL and *ok = 0 (+ error) when it is absent
 * and required, or present with another dtype or rank; NULL (ok untouched) when absent and
 * optional. */
static const lv_golden_tensor *arg(const lv_golden_set *in, const char *name, lv_dtype dt,
                                   int ndim, int required, int *ok)
{
    const lv_golden_tensor *t = lv_golden_find(in, name);
    if (!t && !required)
        return NULL;
    if (!t || t->dtype != dt || (ndim >= 0 && t->ndim != ndim)) {
        if (*ok)
            lv_set_error(t ? "tensor '%s' is not %s with %d dims" : "tensor '%s' is missing",
                         name, lv_dtype_name(dt), ndim);
        *ok = 0;
        return NULL;
    }
    return t;
}

/* ---- staging: kernel cases on a backend whose memory is not the host's -----------------------
 * While a kernel case runs on such a backend (host_memory = 0), every input a kernel reads is
 * uploaded once (dev_in) and every output is a backend buffer (put_out) downloaded into its host
 * tensor when the case ends (stage_finish). On a host-memory backend both are the tensors
 * themselves, so ref and cpu run exactly as before. */
enum { STAGE_MAX = 48 };
static struct {
    const lv_backend *be;              /* NULL: no staging */
    struct {
        const void *src;               /* the host tensor an input came from (NULL: output) */
        void *host;                    /* the host tensor an output goes to (NULL: input) */
        void *dev;
        size_t bytes;
    } buf[STAGE_MAX];
    int n, failed;
} stage;

static void *stage_alloc(const void *src, void *host, size_t bytes)
{
    if (stage.n == STAGE_MAX) {
        stage.failed = 1;
        lv_set_error("a golden case needs more than %d staged buffers", STAGE_MAX);
        return NULL;
    }
    void *dev = stage.be->alloc(bytes, "a golden case's tensor");
    if (!dev) {
        stage.failed = 1;
        return NULL;
    }
    stage.buf[stage.n].src = src;
    stage.buf[stage.n].host = host;
    stage.buf[stage.n].dev = dev;
    stage.buf[stage.n++].bytes = bytes;
    return dev;
}

/* The kernel's view of input tensor t: t's data, or its uploaded copy (made once). */
static const void *dev_in(const lv_golden_tensor *t)
{
    if (!t)
        return NULL;
    if (!stage.be)
        return t->data;
    for (int i = 0; i < stage.n; i++)
        if (stage.buf[i].src == t->data)
            return stage.buf[i].dev;
    const size_t bytes = (size_t)t->numel * dtype_size(t->dtype);
    void *dev = stage_alloc(t->data, NULL, bytes ? bytes : 1);
    if (dev)
        stage.be->upload(dev, t->data, bytes);
    return dev;
}

/* Downloads the outputs, frees every staged buffer; returns rc (-1 if staging failed). */
static int stage_finish(int rc)
{
    for (int i = 0; i < stage.n; i++) {
        if (rc == 0 && stage.buf[i].host)
            stage.be->download(stage.buf[i].host, stage.buf[i].dev, stage.buf[i].bytes);
        stage.be->free(stage.buf[i].dev);
    }
    if (stage.failed && rc == 0)
        rc = -1;
    stage.n = stage.failed = 0;
    stage.be = NULL;
    return rc;
}

#define F(t) ((float *)dev_in(t))
#define I64(t) ((const int64_t *)dev_in(t))
#define U8(t) ((const uint8_t *)dev_in(t))
#define I32(t) ((const int32_t *)dev_in(t))

/* An output tensor of a kernel case: the host tensor of out or, while staging, a zeroed backend
 * buffer whose contents land in it at stage_finish. */
static float *put_out(lv_golden_set *out, const char *name, int ndim, const int64_t *shape)
{
    float *host = put(out, name, ndim, shape);
    if (!host || !stage.be)
        return host;
    const lv_golden_tensor *t = &out->t[out->n - 1];
    return stage_alloc(NULL, host, (size_t)t->numel * sizeof(float));
}

/* dst (an output, perhaps staged) = the host tensor src */
static void copy_in(float *dst, const lv_golden_tensor *src)
{
    const size_t bytes = (size_t)src->numel * sizeof(float);
    if (stage.be)
        stage.be->upload(dst, src->data, bytes);
    else
        memcpy(dst, src->data, bytes);
}
#define FIT(cond) \
    do { \
        if (!(cond)) \
            return lv_set_error("%s: the inputs' shapes or indices do not fit (%s)", \
                                lv_golden_meta(in, "case"), #cond); \
    } while (0)

static int meta_num(const lv_golden_set *in, const char *key, double *v)
{
    const char *s = lv_golden_meta(in, key);
    char *end = NULL;
    *v = s ? strtod(s, &end) : 0.0;
    if (!s || end == s || *end)
        return lv_set_error("%s: metadata \"%s\" is %s%s%s, not a number",
                            lv_golden_meta(in, "case"), key, s ? "'" : "missing", s ? s : "",
                            s ? "'" : "");
    return 0;
}

static int meta_int(const lv_golden_set *in, const char *key, int64_t *v)
{
    double d;
    if (meta_num(in, key, &d) < 0)
        return -1;
    *v = (int64_t)d;
    return (double)*v == d ? 0 : lv_set_error("%s: metadata \"%s\" is not an integer",
                                              lv_golden_meta(in, "case"), key);
}

/* every entry of t in [lo, hi) */
static int in_range(const lv_golden_tensor *t, int64_t lo, int64_t hi)
{
    for (int64_t i = 0; t && i < t->numel; i++) {
        const int64_t v = t->dtype == LV_DT_I32 ? ((const int32_t *)t->data)[i]
                                                 : ((const int64_t *)t->data)[i];
        if (v < lo || v >= hi)
            return 0;
    }
    return 1;
}

/* starts (G+1) ascending from >= 0; their last <= rows */
static int starts_fit(const lv_golden_tensor *t, int64_t rows)
{
    const int64_t *s = t->data;
    for (int64_t g = 0; g + 1 < t->numel; g++)
        if (s[g + 1] < s[g])
            return 0;
    return t->numel >= 1 && s[0] >= 0 && s[t->numel - 1] <= rows;
}

static int same_shape(const lv_golden_tensor *a, int ndim, const int64_t *shape)
{
    if (!a || a->ndim != ndim)
        return 0;
    for (int d = 0; d < ndim; d++)
        if (a->shape[d] != shape[d])
            return 0;
    return 1;
}

/* ---- kernels: makers (inputs) and runners (outputs) ----------------------------------------- */

typedef struct golden_case golden_case;
typedef int (*make_fn)(lv_golden_set *in, const golden_case *c, lv_rng *r);

struct golden_case {
    const char *name;          /* file name without extension */
    const char *kernel;        /* runner: a kernel of the backend table, or "model" */
    make_fn make;
    int64_t a[16];             /* shape arguments of the maker */
    const char *overrides;     /* model cases: config overrides of the variant */
};

static int make_linear(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t N = c->a[0], C = c->a[1], OC = c->a[2];
    randn(in, "in.inp", r, 0, 1, DIMS(N, C));
    randn(in, "param.weight", r, 0, 1, DIMS(OC, C));
    if (c->a[3])
        randn(in, "param.bias", r, 0, 1, DIMS(OC));
    randn(in, "dout.out", r, 0, 1, DIMS(N, OC));
    return 0;
}

static int run_linear(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *x = arg(in, "in.inp", LV_DT_F32, 2, 1, &ok),
                           *w = arg(in, "param.weight", LV_DT_F32, 2, 1, &ok),
                           *b = arg(in, "param.bias", LV_DT_F32, 1, 0, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 2, 1, &ok);
    if (!ok)
        return -1;
    const int64_t N = x->shape[0], C = x->shape[1], OC = w->shape[0];
    FIT(w->shape[1] == C && (!b || b->shape[0] == OC) && same_shape(dy, DIMS(N, OC)));
    float *y = put_out(out, "out.out", DIMS(N, OC)), *dx = put_out(out, "grad.inp", DIMS(N, C)),
          *dw = put_out(out, "grad.weight", DIMS(OC, C));
    float *db = b ? put_out(out, "grad.bias", DIMS(OC)) : NULL;
    if (out->failed)
        return -1;
    be->linear_forward(y, F(x), F(w), F(b), N, C, OC);
    be->linear_backward(dx, dw, db, F(dy), F(x), F(w), N, C, OC);
    return 0;
}

static int make_layernorm(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t N = c->a[0], C = c->a[1];
    lv_golden_meta_set(in, "eps", "1e-05");
    if (c->a[2])     /* flat rows: variance 1e-6 < eps, so eps matters (rstd 302 with eps 1e-5,
                      * 707 with 1e-6); centred, since the fp32 rounding of a mean (the cache
                      * ref's backward reads, or a port's fp32 sum) is ~eps_fp32 |mean|, which
                      * rstd multiplies twice in the backward */
        randn(in, "in.inp", r, 0, 1e-3, DIMS(N, C));
    else
        randn(in, "in.inp", r, 0.5, 2, DIMS(N, C));      /* off-centre, so the mean matters */
    randn(in, "param.weight", r, 1, 0.2, DIMS(C));
    randn(in, "param.bias", r, 0, 0.2, DIMS(C));
    randn(in, "dout.out", r, 0, 1, DIMS(N, C));
    return 0;
}

static int run_layernorm(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    double eps;
    const lv_golden_tensor *x = arg(in, "in.inp", LV_DT_F32, 2, 1, &ok),
                           *w = arg(in, "param.weight", LV_DT_F32, 1, 1, &ok),
                           *b = arg(in, "param.bias", LV_DT_F32, 1, 1, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 2, 1, &ok);
    if (!ok || meta_num(in, "eps", &eps) < 0)
        return -1;
    const int64_t N = x->shape[0], C = x->shape[1];
    FIT(w->shape[0] == C && b->shape[0] == C && same_shape(dy, DIMS(N, C)));
    float *y = put_out(out, "out.out", DIMS(N, C)), *mean = put_out(out, "out.mean", DIMS(N)),
          *rstd = put_out(out, "out.rstd", DIMS(N)), *dx = put_out(out, "grad.inp", DIMS(N, C)),
          *dw = put_out(out, "grad.weight", DIMS(C)), *db = put_out(out, "grad.bias", DIMS(C));
    if (out->failed)
        return -1;
    be->layernorm_forward(y, mean, rstd, F(x), F(w), F(b), N, C, (float)eps);
    be->layernorm_backward(dx, dw, db, F(dy), F(x), F(w), mean, rstd, N, C);
    return 0;
}

static int make_gelu(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    randn(in, "in.inp", r, 0, (double)c->a[1], DIMS(c->a[0]));
    randn(in, "dout.out", r, 0, 1, DIMS(c->a[0]));
    return 0;
}

/* The three MLP activations' cases are alike: in.inp, dout.out -> out.out, grad.inp. */
static int run_activation(const lv_golden_set *in, lv_golden_set *out, lv_gelu_forward_fn *fwd,
                          lv_gelu_backward_fn *bwd)
{
    int ok = 1;
    const lv_golden_tensor *x = arg(in, "in.inp", LV_DT_F32, 1, 1, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 1, 1, &ok);
    if (!ok)
        return -1;
    const int64_t n = x->numel;
    FIT(dy->numel == n);
    float *y = put_out(out, "out.out", DIMS(n)), *dx = put_out(out, "grad.inp", DIMS(n));
    if (out->failed)
        return -1;
    fwd(y, F(x), n);
    bwd(dx, F(x), F(dy), n);
    return 0;
}

static int run_gelu(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    return run_activation(in, out, be->gelu_forward, be->gelu_backward);
}

/* a[0] values N(0, a[1]^2); a[2] = 1: eight of them (every 7th) replaced by saturated[] */
static int make_saturating(lv_golden_set *in, const golden_case *c, lv_rng *r,
                           const float saturated[8])
{
    float *x = randn(in, "in.inp", r, 0, (double)c->a[1], DIMS(c->a[0]));
    randn(in, "dout.out", r, 0, 1, DIMS(c->a[0]));
    for (int64_t i = 0; x && c->a[2] && i < 8 && 7 * i < c->a[0]; i++)
        x[7 * i] = saturated[i];
    return 0;
}

/* a[0] values N(0, a[1]^2); a[2] = 1: eight of them (every 7th) replaced by +-20, +-60, +-100,
 * +-1000, where the sigmoid saturates: exp(1.702 |x|) overflows fp32 from |x| = 52 and double
 * from |x| = 417, so a sigmoid written as exp(a) / (1 + exp(a)) gives NaN there */
static int make_quick_gelu(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    static const float saturated[8] = { 20, -20, 60, -60, 100, -100, 1000, -1000 };
    return make_saturating(in, c, r, saturated);
}

static int run_quick_gelu(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    return run_activation(in, out, be->quick_gelu_forward, be->quick_gelu_backward);
}

/* a[0] values N(0, a[1]^2); a[2] = 1: eight of them (every 7th) replaced by +-10, +-20, +-100,
 * +-1000, where the tanh saturates: a = 2 sqrt(2/pi) (x + 0.044715 x^3) puts exp(a) beyond fp32
 * from |x| = 10 and beyond double from |x| = 21, so a tanh or sigmoid written with exp(a) gives
 * NaN there (not beyond 1000: fp32 autograd of the tanh form multiplies 1 - tanh^2 = 0 by
 * da/dx, whose x^2 overflows fp32 from 1.8e19, a NaN a correct port may give) */
static int make_gelu_tanh(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    static const float saturated[8] = { 10, -10, 20, -20, 100, -100, 1000, -1000 };
    return make_saturating(in, c, r, saturated);
}

static int run_gelu_tanh(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    return run_activation(in, out, be->gelu_tanh_forward, be->gelu_tanh_backward);
}

/* Attention groups as tensors: in.q_start, in.k_start (G+1); in.q_index, in.k_index (rows,
 * optional: absent = contiguous rows); in.k_valid (key rows, U8, optional). */
static int64_t *put_starts(lv_golden_set *in, const char *name, const int64_t *sizes, int64_t G)
{
    int64_t *s = put_i64(in, name, DIMS(G + 1));
    for (int64_t g = 0; s && g < G; g++)
        s[g + 1] = s[g] + sizes[g];
    return s;
}

/* joint: a[0] groups of sizes a[3..]; the same rows for queries and keys (self-attention) */
static int make_attention_joint(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t G = c->a[0], H = c->a[1], D = c->a[2];
    const int64_t *rows = put_starts(in, "in.q_start", c->a + 3, G);
    put_starts(in, "in.k_start", c->a + 3, G);
    if (in->failed)
        return -1;
    lv_golden_meta_set(in, "H", "%lld", (long long)H);
    randn(in, "in.q", r, 0, 1, DIMS(rows[G], D));
    randn(in, "in.k", r, 0, 1, DIMS(rows[G], D));
    randn(in, "in.v", r, 0, 1, DIMS(rows[G], D));
    randn(in, "dout.out", r, 0, 1, DIMS(rows[G], D));
    return 0;
}

/* peaked: the joint layout with q and k 8 times larger, so scores reach the hundreds: a softmax
 * that does not subtract the row maximum overflows fp32 there (expf(88.8) = inf) */
static int make_attention_peaked(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    if (make_attention_joint(in, c, r) < 0)
        return -1;
    for (int64_t i = 0; i < in->n; i++)
        if (!strcmp(in->t[i].name, "in.q") || !strcmp(in->t[i].name, "in.k"))
            for (int64_t j = 0; j < in->t[i].numel; j++)
                ((float *)in->t[i].data)[j] *= 8.0f;
    return 0;
}

/* factorized: a[0] rows spread over a[3] groups at random (one group of one row at least), the
 * rows of each group listed by index, ascending, as temporal attention does */
static int make_attention_factorized(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t R = c->a[0], H = c->a[1], D = c->a[2], G = c->a[3];
    int64_t group[64], sizes[16] = { 0 };
    LV_REQUIRE(R <= 64 && G <= 16 && G >= 2);
    for (int64_t i = 0; i < R; i++) {
        group[i] = i == 0 ? G - 1 : (int64_t)lv_rng_below(r, (uint64_t)(G - 1));
        sizes[group[i]]++;
    }
    put_starts(in, "in.q_start", sizes, G);
    put_starts(in, "in.k_start", sizes, G);
    int64_t *qi = put_i64(in, "in.q_index", DIMS(R)), *ki = put_i64(in, "in.k_index", DIMS(R));
    if (in->failed)
        return -1;
    for (int64_t g = 0, n = 0; g < G; g++)
        for (int64_t i = 0; i < R; i++)
            if (group[i] == g) {
                qi[n] = ki[n] = i;
                n++;
            }
    lv_golden_meta_set(in, "H", "%lld", (long long)H);
    randn(in, "in.q", r, 0, 1, DIMS(R, D));
    randn(in, "in.k", r, 0, 1, DIMS(R, D));
    randn(in, "in.v", r, 0, 1, DIMS(R, D));
    randn(in, "dout.out", r, 0, 1, DIMS(R, D));
    return 0;
}

/* cross: a[0] groups, a[3] queries each, key groups of sizes a[4..]; key padding at random,
 * and the last group has no valid key at all (its queries output 0 and pass back 0) */
static int make_attention_cross(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t G = c->a[0], H = c->a[1], D = c->a[2];
    int64_t qsizes[16];
    for (int64_t g = 0; g < G; g++)
        qsizes[g] = c->a[3];
    const int64_t *qs = put_starts(in, "in.q_start", qsizes, G);
    const int64_t *ks = put_starts(in, "in.k_start", c->a + 4, G);
    if (in->failed)
        return -1;
    uint8_t *valid = lv_golden_add(in, "in.k_valid", LV_DT_U8, DIMS(ks[G]));
    for (int64_t g = 0; valid && g < G; g++)
        for (int64_t j = ks[g]; j < ks[g + 1]; j++)
            valid[j] = g < G - 1 && (j == ks[g] || lv_rng_below(r, 3) > 0);
    lv_golden_meta_set(in, "H", "%lld", (long long)H);
    randn(in, "in.q", r, 0, 1, DIMS(qs[G], D));
    randn(in, "in.k", r, 0, 1, DIMS(ks[G], D));
    randn(in, "in.v", r, 0, 1, DIMS(ks[G], D));
    randn(in, "dout.out", r, 0, 1, DIMS(qs[G], D));
    return 0;
}

/* causal: the joint layout (a group per sequence, self-attention) under the causal mask of a
 * decoder (metadata causal = 1), keys padded at random; the first key of the last group is
 * padding, so that group's first query sees no key at all and outputs 0 */
static int make_attention_causal(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t G = c->a[0];
    if (make_attention_joint(in, c, r) < 0)
        return -1;
    const int64_t *ks = lv_golden_find(in, "in.k_start")->data;
    uint8_t *valid = lv_golden_add(in, "in.k_valid", LV_DT_U8, DIMS(ks[G]));
    for (int64_t g = 0; valid && g < G; g++)
        for (int64_t j = ks[g]; j < ks[g + 1]; j++)
            valid[j] = !(g == G - 1 && j == ks[g]) && lv_rng_below(r, 4) > 0;
    lv_golden_meta_set(in, "causal", "1");
    return 0;
}

/* decode: one step of a decoder over a KV cache, causal = 1. a = G, H, D, cap, then per group
 * its queries and keys (nq, nk): group g's nq queries are the newest positions of its nk, so
 * they see keys up to nk - nq + i. Keys sit in rows g cap .. g cap + nk - 1 of a cache of cap
 * rows per group (in.k_index; the rows after nk are in no group); queries in rows listed by
 * in.q_index with one row in no group after each group's; the first key of group 1 is padding
 * (a left-padded prompt). */
static int make_attention_decode(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t G = c->a[0], H = c->a[1], D = c->a[2], cap = c->a[3];
    int64_t qsizes[8] = { 0 }, ksizes[8] = { 0 }, Mq = 0, Mk = 0;
    LV_REQUIRE(G <= 8);
    for (int64_t g = 0; g < G; g++) {
        qsizes[g] = c->a[4 + 2 * g];
        ksizes[g] = c->a[5 + 2 * g];
        LV_REQUIRE(ksizes[g] <= cap);
        Mq += qsizes[g];
        Mk += ksizes[g];
    }
    put_starts(in, "in.q_start", qsizes, G);
    put_starts(in, "in.k_start", ksizes, G);
    int64_t *qi = put_i64(in, "in.q_index", DIMS(Mq)), *ki = put_i64(in, "in.k_index", DIMS(Mk));
    uint8_t *valid = lv_golden_add(in, "in.k_valid", LV_DT_U8, DIMS(G * cap));
    if (in->failed)
        return -1;
    for (int64_t g = 0, p = 0, row = 0; g < G; g++, row++)
        for (int64_t i = 0; i < qsizes[g]; i++)
            qi[p++] = row++;
    for (int64_t g = 0, p = 0; g < G; g++)
        for (int64_t j = 0; j < ksizes[g]; j++) {
            ki[p++] = g * cap + j;
            valid[g * cap + j] = !(g == 1 && j == 0);
        }
    lv_golden_meta_set(in, "H", "%lld", (long long)H);
    lv_golden_meta_set(in, "causal", "1");
    randn(in, "in.q", r, 0, 1, DIMS(Mq + G, D));
    randn(in, "in.k", r, 0, 1, DIMS(G * cap, D));
    randn(in, "in.v", r, 0, 1, DIMS(G * cap, D));
    randn(in, "dout.out", r, 0, 1, DIMS(Mq + G, D));
    return 0;
}

static int groups_fit(const lv_golden_tensor *start, const lv_golden_tensor *index,
                      int64_t rows)
{
    if (!index)
        return starts_fit(start, rows);
    return starts_fit(start, index->numel) && in_range(index, 0, rows);
}

static int run_attention(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    int64_t H;
    const lv_golden_tensor *q = arg(in, "in.q", LV_DT_F32, 2, 1, &ok),
                           *k = arg(in, "in.k", LV_DT_F32, 2, 1, &ok),
                           *v = arg(in, "in.v", LV_DT_F32, 2, 1, &ok),
                           *qs = arg(in, "in.q_start", LV_DT_I64, 1, 1, &ok),
                           *ks = arg(in, "in.k_start", LV_DT_I64, 1, 1, &ok),
                           *qi = arg(in, "in.q_index", LV_DT_I64, 1, 0, &ok),
                           *ki = arg(in, "in.k_index", LV_DT_I64, 1, 0, &ok),
                           *kv = arg(in, "in.k_valid", LV_DT_U8, 1, 0, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 2, 1, &ok);
    int64_t causal = 0;                 /* metadata causal: optional, absent = 0 */
    if (!ok || meta_int(in, "H", &H) < 0 ||
        (lv_golden_meta(in, "causal") && meta_int(in, "causal", &causal) < 0))
        return -1;
    const int64_t Nq = q->shape[0], Nk = k->shape[0], D = q->shape[1];
    FIT(H > 0 && D % H == 0 && same_shape(k, DIMS(Nk, D)) && same_shape(v, DIMS(Nk, D)));
    FIT(same_shape(dy, DIMS(Nq, D)) && qs->numel == ks->numel && (!kv || kv->numel == Nk));
    FIT(groups_fit(qs, qi, Nq) && groups_fit(ks, ki, Nk) && (causal == 0 || causal == 1));
    const lv_attn_groups g = { .n_groups = qs->numel - 1, .q_start = I64(qs), .q_index = I64(qi),
                               .k_start = I64(ks), .k_index = I64(ki), .k_valid = U8(kv),
                               .causal = (int)causal };
    float *y = put_out(out, "out.out", DIMS(Nq, D)), *dq = put_out(out, "grad.q", DIMS(Nq, D)),
          *dk = put_out(out, "grad.k", DIMS(Nk, D)), *dv = put_out(out, "grad.v", DIMS(Nk, D));
    /* the cache is sized on the host, from the host copies of the group lists */
    const lv_attn_groups g_host = { .n_groups = qs->numel - 1, .q_start = qs->data,
                                    .q_index = qi ? qi->data : NULL, .k_start = ks->data,
                                    .k_index = ki ? ki->data : NULL };
    const int64_t cache = lv_backend_attention_cache(be, &g_host, H);
    float *att = be->alloc((size_t)(cache > 0 ? cache : 1) * sizeof(float),
                           "the attention cache");
    if (out->failed || stage.failed || !att) {
        be->free(att);
        return -1;
    }
    be->attention_forward(y, att, F(q), F(k), F(v), &g, D, D, H, D);
    be->attention_backward(dq, dk, dv, F(dy), y, att, F(q), F(k), F(v), &g, D, D, H, D);
    be->free(att);
    return 0;
}

static int make_residual(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    randn(in, "in.a", r, 0, 1, DIMS(c->a[0]));
    randn(in, "in.b", r, 0, 1, DIMS(c->a[0]));
    randn(in, "dout.out", r, 0, 1, DIMS(c->a[0]));
    return 0;
}

static int run_residual(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *a = arg(in, "in.a", LV_DT_F32, 1, 1, &ok),
                           *b = arg(in, "in.b", LV_DT_F32, 1, 1, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 1, 1, &ok);
    if (!ok)
        return -1;
    const int64_t n = a->numel;
    FIT(b->numel == n && dy->numel == n);
    float *y = put_out(out, "out.out", DIMS(n)), *da = put_out(out, "grad.a", DIMS(n)),
          *db = put_out(out, "grad.b", DIMS(n));
    if (out->failed)
        return -1;
    be->residual_forward(y, F(a), F(b), n);
    be->residual_backward(da, db, F(dy), n);
    return 0;
}

/* a[1]: the gate in thousandths (0 = the initial, closed gate) */
static int make_gated_residual(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    randn(in, "in.h", r, 0, 1, DIMS(c->a[0]));
    randn(in, "in.f", r, 0, 1, DIMS(c->a[0]));
    float *gate = put(in, "param.gate", DIMS(1));
    if (gate)
        gate[0] = (float)c->a[1] / 1000.0f;
    randn(in, "dout.out", r, 0, 1, DIMS(c->a[0]));
    return 0;
}

static int run_gated_residual(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *h = arg(in, "in.h", LV_DT_F32, 1, 1, &ok),
                           *f = arg(in, "in.f", LV_DT_F32, 1, 1, &ok),
                           *gate = arg(in, "param.gate", LV_DT_F32, 1, 1, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 1, 1, &ok);
    if (!ok)
        return -1;
    const int64_t n = h->numel;
    FIT(f->numel == n && dy->numel == n && gate->numel == 1);
    float *y = put_out(out, "out.out", DIMS(n)), *dh = put_out(out, "grad.h", DIMS(n)),
          *df = put_out(out, "grad.f", DIMS(n)), *dg = put_out(out, "grad.gate", DIMS(1));
    if (out->failed)
        return -1;
    be->gated_residual_forward(y, F(h), F(f), F(gate), n);
    be->gated_residual_backward(dh, df, dg, F(dy), F(f), F(gate), n);
    return 0;
}

/* a = B, T, D, masked: with a mask, tokens valid at random and sample 1 with none valid */
static int make_mean_pool(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t B = c->a[0], T = c->a[1], D = c->a[2];
    randn(in, "in.inp", r, 0, 1, DIMS(B, T, D));
    uint8_t *valid = c->a[3] ? lv_golden_add(in, "in.valid", LV_DT_U8, DIMS(B, T)) : NULL;
    for (int64_t i = 0; valid && i < B * T; i++)
        valid[i] = i / T != 1 && (i % T == 0 || lv_rng_below(r, 2));
    randn(in, "dout.out", r, 0, 1, DIMS(B, D));
    return 0;
}

static int run_mean_pool(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *x = arg(in, "in.inp", LV_DT_F32, 3, 1, &ok),
                           *valid = arg(in, "in.valid", LV_DT_U8, 2, 0, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 2, 1, &ok);
    if (!ok)
        return -1;
    const int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2];
    FIT(same_shape(dy, DIMS(B, D)) && (!valid || same_shape(valid, DIMS(B, T))));
    float *y = put_out(out, "out.out", DIMS(B, D)), *dx = put_out(out, "grad.inp", DIMS(B, T, D));
    if (out->failed)
        return -1;
    const uint8_t *vm = U8(valid);
    be->mean_pool_forward(y, F(x), vm, B, T, D);
    be->mean_pool_backward(dx, F(dy), vm, B, T, D);
    return 0;
}

/* a = D, G, then the G + 1 row offsets */
static int make_segment_mean(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t D = c->a[0], G = c->a[1];
    int64_t *start = put_i64(in, "in.start", DIMS(G + 1));
    if (start)
        memcpy(start, c->a + 2, (size_t)(G + 1) * sizeof *start);
    randn(in, "in.inp", r, 0, 1, DIMS(c->a[2 + G], D));
    randn(in, "dout.out", r, 0, 1, DIMS(G, D));
    return 0;
}

static int run_segment_mean(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *x = arg(in, "in.inp", LV_DT_F32, 2, 1, &ok),
                           *start = arg(in, "in.start", LV_DT_I64, 1, 1, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 2, 1, &ok);
    if (!ok)
        return -1;
    const int64_t rows = x->shape[0], D = x->shape[1], G = start->numel - 1;
    FIT(G >= 1 && starts_fit(start, rows) && same_shape(dy, DIMS(G, D)));
    float *y = put_out(out, "out.out", DIMS(G, D)), *dx = put_out(out, "grad.inp", DIMS(rows, D));
    if (out->failed)
        return -1;
    be->segment_mean_forward(y, F(x), I64(start), G, D);
    be->segment_mean_backward(dx, F(dy), I64(start), G, D);
    return 0;
}

/* a = N, C, the row left all zeros (or -1) */
static int make_l2norm(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t N = c->a[0], C = c->a[1];
    float *x = randn(in, "in.inp", r, 0, 1, DIMS(N, C));
    for (int64_t j = 0; x && c->a[2] >= 0 && j < C; j++)
        x[c->a[2] * C + j] = 0.0f;
    randn(in, "dout.out", r, 0, 1, DIMS(N, C));
    return 0;
}

static int run_l2norm(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *x = arg(in, "in.inp", LV_DT_F32, 2, 1, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 2, 1, &ok);
    if (!ok)
        return -1;
    const int64_t N = x->shape[0], C = x->shape[1];
    FIT(same_shape(dy, DIMS(N, C)));
    float *y = put_out(out, "out.out", DIMS(N, C)), *norm = put_out(out, "out.norm", DIMS(N)),
          *dx = put_out(out, "grad.inp", DIMS(N, C));
    if (out->failed)
        return -1;
    be->l2norm_forward(y, norm, F(x), N, C);
    be->l2norm_backward(dx, F(dy), y, norm, N, C);
    return 0;
}

/* a = N, V, D: ids drawn with repeats */
static int make_embedding(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t N = c->a[0], V = c->a[1], D = c->a[2];
    int32_t *ids = lv_golden_add(in, "in.ids", LV_DT_I32, DIMS(N));
    for (int64_t i = 0; ids && i < N; i++)
        ids[i] = (int32_t)lv_rng_below(r, (uint64_t)V);
    randn(in, "param.table", r, 0, 1, DIMS(V, D));
    randn(in, "dout.out", r, 0, 1, DIMS(N, D));
    return 0;
}

static int run_embedding(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *ids = arg(in, "in.ids", LV_DT_I32, 1, 1, &ok),
                           *table = arg(in, "param.table", LV_DT_F32, 2, 1, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 2, 1, &ok);
    if (!ok)
        return -1;
    const int64_t N = ids->numel, V = table->shape[0], D = table->shape[1];
    FIT(in_range(ids, 0, V) && same_shape(dy, DIMS(N, D)));
    float *y = put_out(out, "out.out", DIMS(N, D)), *dt = put_out(out, "grad.table", DIMS(V, D));
    if (out->failed)
        return -1;
    be->embedding_forward(y, I32(ids), F(table), N, V, D);
    be->embedding_backward(dt, F(dy), I32(ids), N, V, D);
    return 0;
}

/* a = F, H, W, kt, kh, kw, st, sh, sw, ot, oh, ow (channels 3), then B, K (0: every token, no
 * kept list), D, bias */
static const char *const tube_keys[12] = { "F", "H", "W", "kt", "kh", "kw",
                                           "st", "sh", "sw", "ot", "oh", "ow" };

static lv_tubelet_shape tube_from(const int64_t *v)
{
    return (lv_tubelet_shape){ v[0], v[1], v[2], 3, v[3], v[4], v[5], v[6], v[7], v[8],
                               v[9], v[10], v[11] };
}

static int make_tubelet_embed(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const lv_tubelet_shape s = tube_from(c->a);
    const int64_t B = c->a[12], D = c->a[14], N = lv_tubelet_grid(&s, NULL, NULL, NULL);
    const int64_t K = c->a[13] ? c->a[13] : N;
    for (int i = 0; i < 12; i++)
        lv_golden_meta_set(in, tube_keys[i], "%lld", (long long)c->a[i]);
    randn(in, "in.video", r, 0, 1, DIMS(B, s.F, s.H, s.W, 3));
    int64_t *kept = c->a[13] ? put_i64(in, "in.kept", DIMS(B, K)) : NULL;
    for (int64_t b = 0; kept && b < B; b++)
        pick_sorted(kept + b * K, K, N, r);
    randn(in, "param.weight", r, 0, 0.2, DIMS(D, s.kt * s.kh * s.kw * 3));
    if (c->a[15])
        randn(in, "param.bias", r, 0, 1, DIMS(D));
    randn(in, "dout.out", r, 0, 1, DIMS(B, K, D));
    return 0;
}

static int run_tubelet_embed(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    int64_t v[12];
    for (int i = 0; i < 12; i++)
        if (meta_int(in, tube_keys[i], &v[i]) < 0)
            return -1;
    const lv_tubelet_shape s = tube_from(v);
    const lv_golden_tensor *video = arg(in, "in.video", LV_DT_F32, 5, 1, &ok),
                           *kept = arg(in, "in.kept", LV_DT_I64, 2, 0, &ok),
                           *w = arg(in, "param.weight", LV_DT_F32, 2, 1, &ok),
                           *b = arg(in, "param.bias", LV_DT_F32, 1, 0, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 3, 1, &ok);
    if (!ok)
        return -1;
    const int64_t B = video->shape[0], N = lv_tubelet_grid(&s, NULL, NULL, NULL);
    const int64_t K = kept ? kept->shape[1] : N, D = w->shape[0];
    FIT(N > 0 && same_shape(video, DIMS(B, s.F, s.H, s.W, 3)));
    FIT(w->shape[1] == s.kt * s.kh * s.kw * 3 && (!b || b->shape[0] == D));
    FIT((!kept || (kept->shape[0] == B && in_range(kept, 0, N))) && same_shape(dy, DIMS(B, K, D)));
    float *y = put_out(out, "out.out", DIMS(B, K, D)), *dx = put_out(out, "grad.video", 5, video->shape),
          *dw = put_out(out, "grad.weight", DIMS(D, w->shape[1]));
    float *db = b ? put_out(out, "grad.bias", DIMS(D)) : NULL;
    if (out->failed)
        return -1;
    be->tubelet_embed_forward(y, F(video), F(w), F(b), I64(kept), &s, B, K, D);
    be->tubelet_embed_backward(dx, dw, db, F(dy), F(video), F(w), I64(kept), &s, B, K, D);
    return 0;
}

/* a = B, K, P, Ft, D, kept (a list of K of the P Ft tokens), temporal (a table) */
static int make_pos_embed(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t B = c->a[0], K = c->a[1], P = c->a[2], Ft = c->a[3], D = c->a[4];
    lv_golden_meta_set(in, "Ft", "%lld", (long long)Ft);
    randn(in, "in.inp", r, 0, 1, DIMS(B, K, D));
    int64_t *kept = c->a[5] ? put_i64(in, "in.kept", DIMS(B, K)) : NULL;
    for (int64_t b = 0; kept && b < B; b++)
        pick_sorted(kept + b * K, K, P * Ft, r);
    randn(in, "param.spatial", r, 0, 1, DIMS(P, D));
    if (c->a[6])
        randn(in, "param.temporal", r, 0, 1, DIMS(Ft, D));
    randn(in, "dout.out", r, 0, 1, DIMS(B, K, D));
    return 0;
}

static int run_pos_embed(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    int64_t Ft;
    const lv_golden_tensor *x = arg(in, "in.inp", LV_DT_F32, 3, 1, &ok),
                           *kept = arg(in, "in.kept", LV_DT_I64, 2, 0, &ok),
                           *sp = arg(in, "param.spatial", LV_DT_F32, 2, 1, &ok),
                           *tp = arg(in, "param.temporal", LV_DT_F32, 2, 0, &ok),
                           *dy = arg(in, "dout.out", LV_DT_F32, 3, 1, &ok);
    if (!ok || meta_int(in, "Ft", &Ft) < 0)
        return -1;
    const int64_t B = x->shape[0], K = x->shape[1], D = x->shape[2], P = sp->shape[0];
    FIT(Ft >= 1 && sp->shape[1] == D && (!tp || same_shape(tp, DIMS(Ft, D))));
    FIT(kept ? same_shape(kept, DIMS(B, K)) && in_range(kept, 0, P * Ft) : K <= P * Ft);
    FIT(same_shape(dy, DIMS(B, K, D)));
    float *y = put_out(out, "out.out", DIMS(B, K, D)), *dx = put_out(out, "grad.inp", DIMS(B, K, D)),
          *dsp = put_out(out, "grad.spatial", DIMS(P, D));
    float *dtp = tp ? put_out(out, "grad.temporal", DIMS(Ft, D)) : NULL;
    if (out->failed)
        return -1;
    be->pos_embed_forward(y, F(x), F(sp), F(tp), I64(kept), B, K, P, Ft, D);
    be->pos_embed_backward(dx, dsp, dtp, F(dy), I64(kept), B, K, P, Ft, D);
    return 0;
}

/* rows of x (N, C) scaled to unit length, in double, rounded once */
static void normalise_rows(float *x, int64_t N, int64_t C)
{
    for (int64_t i = 0; i < N; i++) {
        double ss = 0.0;
        for (int64_t j = 0; j < C; j++)
            ss += (double)x[i * C + j] * x[i * C + j];
        for (int64_t j = 0; j < C; j++)
            x[i * C + j] = (float)(x[i * C + j] / sqrt(ss));
    }
}

/* a = B, E, clamped (log-scale log 200, above the clamp at log 100; else log(1/0.07); 2: also
 * t = v, so the diagonal logits are 100 and a log-sum-exp without max subtraction overflows) */
static int make_infonce(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t B = c->a[0], E = c->a[1];
    float *v = randn(in, "in.v", r, 0, 1, DIMS(B, E)), *t = randn(in, "in.t", r, 0, 1, DIMS(B, E));
    float *s = put(in, "param.log_scale", DIMS(1));
    if (!v || !t || !s)
        return -1;
    normalise_rows(v, B, E);
    normalise_rows(t, B, E);
    if (c->a[2] == 2)
        memcpy(t, v, (size_t)(B * E) * sizeof *t);
    s[0] = (float)(c->a[2] ? log(200.0) : log(1.0 / 0.07));
    randn(in, "dout.loss", r, 1, 0.5, DIMS(1));
    return 0;
}

static int run_infonce(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *v = arg(in, "in.v", LV_DT_F32, 2, 1, &ok),
                           *t = arg(in, "in.t", LV_DT_F32, 2, 1, &ok),
                           *s = arg(in, "param.log_scale", LV_DT_F32, 1, 1, &ok),
                           *dl = arg(in, "dout.loss", LV_DT_F32, 1, 1, &ok);
    if (!ok)
        return -1;
    const int64_t B = v->shape[0], E = v->shape[1];
    FIT(B >= 1 && E >= 1 && same_shape(t, DIMS(B, E)) && s->numel == 1 && dl->numel == 1);
    float *loss = put_out(out, "out.loss", DIMS(1)), *logits = put_out(out, "out.logits", DIMS(B, B)),
          *dv = put_out(out, "grad.v", DIMS(B, E)), *dt = put_out(out, "grad.t", DIMS(B, E)),
          *ds = put_out(out, "grad.log_scale", DIMS(1));
    if (out->failed)
        return -1;
    be->infonce_forward(loss, logits, F(v), F(t), F(s), B, E);
    be->infonce_backward(dv, dt, ds, F(dl), logits, F(v), F(t), F(s), B, E);
    return 0;
}

/* a = N, V, kind. Logits N(0, 2^2); targets uniform in [0, V), row 1 ignored with -1 and row 2
 * with -100 (PyTorch's ignore_index), later rows ignored with -1 one time in four. kind 1,
 * peaked: rows cycle through 100 + N(0, 2^2) (exp of the logits overflows fp32 unless the row
 * maximum is subtracted), -100 + N(0, 1) (exp underflows to 0: log 0 = -inf unless subtracted)
 * and N(0, 1) with one logit set to 100 (a probability ~1). kind 2: every row ignored (loss 0,
 * no gradient, never 0/0). */
static int make_cross_entropy(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t N = c->a[0], V = c->a[1], kind = c->a[2];
    float *x = randn(in, "in.logits", r, 0, kind == 1 ? 1 : 2, DIMS(N, V));
    int32_t *t = lv_golden_add(in, "in.targets", LV_DT_I32, DIMS(N));
    if (!x || !t)
        return -1;
    for (int64_t n = 0; n < N; n++) {
        t[n] = (int32_t)lv_rng_below(r, (uint64_t)V);
        if (kind == 2 || n == 1 || (n > 2 && lv_rng_below(r, 4) == 0))
            t[n] = -1;
        else if (n == 2)
            t[n] = -100;
    }
    for (int64_t n = 0; kind == 1 && n < N; n++) {
        float *row = x + n * V;
        for (int64_t v = 0; v < V; v++)
            row[v] = n % 3 == 0 ? 100.0f + 2.0f * row[v] : n % 3 == 1 ? row[v] - 100.0f : row[v];
        if (n % 3 == 2)
            row[n % V] = 100.0f;
    }
    randn(in, "dout.loss", r, 1, 0.5, DIMS(1));
    return 0;
}

static int run_cross_entropy(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *x = arg(in, "in.logits", LV_DT_F32, 2, 1, &ok),
                           *t = arg(in, "in.targets", LV_DT_I32, 1, 1, &ok),
                           *dl = arg(in, "dout.loss", LV_DT_F32, 1, 1, &ok);
    if (!ok)
        return -1;
    const int64_t N = x->shape[0], V = x->shape[1];
    FIT(V >= 1 && t->numel == N && dl->numel == 1 && in_range(t, INT32_MIN, V));
    float *loss = put_out(out, "out.loss", DIMS(1)), *lse = put_out(out, "out.lse", DIMS(N)),
          *dx = put_out(out, "grad.logits", DIMS(N, V));
    if (out->failed)
        return -1;
    be->cross_entropy_forward(loss, lse, F(x), I32(t), N, V);
    be->cross_entropy_backward(dx, F(dl), F(x), lse, I32(t), N, V);
    return 0;
}

/* a = n, the factor in thousandths */
static int make_scale(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    lv_golden_meta_set(in, "s", "%.9g", (double)((float)c->a[1] / 1000.0f));
    randn(in, "in.x", r, 0, 1, DIMS(c->a[0]));
    return 0;
}

static int run_scale(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    double s;
    const lv_golden_tensor *x = arg(in, "in.x", LV_DT_F32, 1, 1, &ok);
    if (!ok || meta_num(in, "s", &s) < 0)
        return -1;
    float *y = put_out(out, "out.x", DIMS(x->numel));
    if (!y)
        return -1;
    copy_in(y, x);
    be->scale(y, (float)s, x->numel);
    return 0;
}

/* a = n, t (the step: t = 1 starts from zero moments, with weight decay) */
static int make_adamw_update(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    const int64_t n = c->a[0], t = c->a[1];
    const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999;
    lv_golden_meta_set(in, "lr", "%.17g", lr);
    lv_golden_meta_set(in, "keep", "%.17g", t == 1 ? 1.0 - lr * 0.05 : 1.0);
    lv_golden_meta_set(in, "beta1", "%.17g", beta1);
    lv_golden_meta_set(in, "beta2", "%.17g", beta2);
    lv_golden_meta_set(in, "eps", "%.17g", 1e-8);
    lv_golden_meta_set(in, "bc1", "%.17g", 1.0 - pow(beta1, (double)t));
    lv_golden_meta_set(in, "bc2", "%.17g", 1.0 - pow(beta2, (double)t));
    randn(in, "in.x", r, 0, 0.1, DIMS(n));
    float *g = randn(in, "in.g", r, 0, 0.01, DIMS(n));
    float *m = randn(in, "in.m", r, 0, t == 1 ? 0.0 : 0.005, DIMS(n));
    float *v = put(in, "in.v", DIMS(n));
    for (int64_t i = 0; g && m && v && i < n; i++) {
        if (i == n / 2)
            g[i] = 0.0f;                     /* a zero gradient: the step is m's alone */
        v[i] = t == 1 ? 0.0f : (float)(m[i] * m[i] + 1e-5 * lv_rng_uniform(r));
    }
    return 0;
}

static int run_adamw_update(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    lv_adamw_coef k = { .grad_scale = 1.0f };
    const lv_golden_tensor *x = arg(in, "in.x", LV_DT_F32, 1, 1, &ok),
                           *g = arg(in, "in.g", LV_DT_F32, 1, 1, &ok),
                           *m = arg(in, "in.m", LV_DT_F32, 1, 1, &ok),
                           *v = arg(in, "in.v", LV_DT_F32, 1, 1, &ok);
    if (!ok || meta_num(in, "lr", &k.lr) < 0 || meta_num(in, "keep", &k.keep) < 0 ||
        meta_num(in, "beta1", &k.beta1) < 0 || meta_num(in, "beta2", &k.beta2) < 0 ||
        meta_num(in, "eps", &k.eps) < 0 || meta_num(in, "bc1", &k.bc1) < 0 ||
        meta_num(in, "bc2", &k.bc2) < 0)
        return -1;
    const int64_t n = x->numel;
    FIT(g->numel == n && m->numel == n && v->numel == n);
    float *xo = put_out(out, "out.x", DIMS(n)), *mo = put_out(out, "out.m", DIMS(n)),
          *vo = put_out(out, "out.v", DIMS(n));
    if (out->failed)
        return -1;
    copy_in(xo, x);
    copy_in(mo, m);
    copy_in(vo, v);
    be->adamw_update(xo, F(g), mo, vo, n, &k);
    return 0;
}

static int make_sum_squares(lv_golden_set *in, const golden_case *c, lv_rng *r)
{
    randn(in, "in.x", r, 0, 1, DIMS(c->a[0]));
    return 0;
}

/* out.out: the double sum, stored as F32 */
static int run_sum_squares(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    int ok = 1;
    const lv_golden_tensor *x = arg(in, "in.x", LV_DT_F32, 1, 1, &ok);
    if (!ok)
        return -1;
    float *y = put(out, "out.out", DIMS(1));
    if (!y)
        return -1;
    y[0] = (float)be->sum_squares(F(x), x->numel);
    return 0;
}

/* ---- models --------------------------------------------------------------------------------- */

#define MODEL_BATCH 3
#define MODEL_STEPS 3
#define MODEL_LR 1e-3
/* 20x our training default (0.05), so that decay moves a parameter past the after.* tolerance
 * in 3 steps (lr wd |p| = 1e-3 |p| a step): decay on a LayerNorm weight, or none on the unused
 * 2D patch kernel, is then visible */
#define MODEL_WEIGHT_DECAY 1.0
/* the tiny preset shrunk (width 16, 16 px frames, 4 px patches: 64 tubelets of 8 frames) so
 * that every variant's file stays a few hundred KB */
#define MODEL_BASE "width=16 text_width=16 image_size=16 patch=4 adapter_dim=4"

static int config_apply(lv_config *c, const char *text, const char *sep)
{
    char *buf = strdup(text ? text : "");
    int rc = buf ? 0 : lv_set_error("out of memory parsing a configuration");
    for (char *save = NULL, *kv = buf ? strtok_r(buf, sep, &save) : NULL; kv && rc == 0;
         kv = strtok_r(NULL, sep, &save))
        rc = lv_config_set(c, kv);
    free(buf);
    return rc;
}

/* The trainable tensors with weight decay, comma-separated. */
static int meta_decay_list(lv_golden_set *in, const lv_params *ps)
{
    size_t n = 1;
    for (int64_t i = 0; i < ps->count; i++)
        n += strlen(ps->p[i].name) + 1;
    char *list = lv_malloc(n, "the decay list");
    if (!list)
        return -1;
    list[0] = 0;
    for (int64_t i = 0; i < ps->count; i++)
        if (ps->p[i].decay && ps->p[i].grad_offset >= 0)
            snprintf(list + strlen(list), n - strlen(list), "%s%s", list[0] ? "," : "",
                     ps->p[i].name);
    const int rc = lv_golden_meta_set(in, "adamw.decay", "%s", list);
    free(list);
    return rc;
}

static void meta_adamw(lv_golden_set *in)
{
    lv_adamw_config a = lv_adamw_defaults();
    lv_golden_meta_set(in, "steps", "%d", MODEL_STEPS);
    lv_golden_meta_set(in, "adamw.lr", "%.9g", MODEL_LR);
    lv_golden_meta_set(in, "adamw.beta1", "%.9g", a.beta1);
    lv_golden_meta_set(in, "adamw.beta2", "%.9g", a.beta2);
    lv_golden_meta_set(in, "adamw.eps", "%.9g", a.eps);
    lv_golden_meta_set(in, "adamw.weight_decay", "%.9g", MODEL_WEIGHT_DECAY);
    lv_golden_meta_set(in, "adamw.clip", "%.9g", a.clip);
    lv_golden_meta_set(in, "adamw.rule",
                       "per step s = 0..steps-1: zero the gradients; forward and backward of the "
                       "batch with masks keyed by (seed, step s, sample); n = global L2 norm of "
                       "every trainable gradient (double); if n > clip: "
                       "g = fp32(g * fp32(clip / n)); then per "
                       "trainable entry, t = s + 1: p *= 1 - lr * weight_decay (only tensors in "
                       "adamw.decay); m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2; "
                       "p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps); "
                       "constant lr, no warm-up (torch.optim.AdamW with one group per decay "
                       "setting; torch's clip_grad_norm_ divides by n + 1e-6)");
}

#define MODEL_INIT "the model's initialisation (config seed), then every parameter plus " \
    "independent N(0, sigma^2) noise from the case's stream, in table order: sigma = 0.5 / " \
    "sqrt(numel / shape[0]) for tensors of 2 or more dims, 0.5 for one-entry gates, 0.1 for the " \
    "other vectors; the log-scale then set to log 200 (above the clamp at log 100) where " \
    "clamped=1"

/* The golden init (MODEL_INIT): a wider spread than the 0.02 initialisation, so that every
 * branch is live (zero-initialised gates, LoRA B, adapter up, temporal positions) and the
 * activations are O(1) where the variants of a port's arithmetic differ (erf- vs tanh-GELU,
 * a gate's tanh, LayerNorm's eps) -- at the 0.02 init tanh-GELU passes for erf-GELU. */
static void model_spread(lv_params *ps, lv_rng *r, int clamped)
{
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        const double sigma = p->ndim >= 2 ? 0.5 / sqrt((double)(p->numel / p->shape[0]))
                           : p->numel == 1 ? 0.5 : 0.1;
        float *x = lv_param_data(ps, i);
        for (int64_t j = 0; j < p->numel; j++)
            x[j] += (float)(sigma * lv_rng_normal(r));
        if (clamped && !strcmp(p->name, "logit_scale"))
            x[0] = (float)log(200.0);
    }
}

/* param.<name> = every tensor of ps (host memory: the ref backend's) */
static void put_param_values(lv_golden_set *in, const lv_params *ps)
{
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        char name[LV_GOLDEN_NAME_MAX];
        snprintf(name, sizeof name, "param.%s", p->name);
        float *x = put(in, name, p->ndim, p->shape);
        if (x)
            memcpy(x, lv_param_data(ps, i), (size_t)p->numel * sizeof(float));
    }
}

static int make_model(lv_golden_set *in, const golden_case *gc, lv_rng *r)
{
    lv_config c;
    char text[4096];
    if (lv_config_preset(&c, "tiny") < 0 || config_apply(&c, MODEL_BASE, " ") < 0 ||
        config_apply(&c, gc->overrides, " ") < 0 || lv_config_validate(&c) < 0)
        return -1;
    lv_config_format(&c, text, sizeof text);
    lv_golden_meta_set(in, "config", "%s", text);
    lv_golden_meta_set(in, "overrides", "preset tiny, %s%s%s", MODEL_BASE,
                       gc->overrides[0] ? " " : "", gc->overrides);
    lv_golden_meta_set(in, "batch", "%d", MODEL_BATCH);
    lv_golden_meta_set(in, "init", MODEL_INIT);
    lv_golden_meta_set(in, "clamped", "%d", (int)gc->a[0]);
    meta_adamw(in);
    lv_model m;
    if (lv_model_build(&m, &c, &lv_backend_ref) < 0)
        return -1;
    meta_decay_list(in, &m.params);
    const int64_t B = MODEL_BATCH, T = c.text_len, S = c.image_size;
    randn(in, "input.video", r, 0, 0.5, DIMS(B, c.frames, S, S, 3));
    int32_t *text_ids = lv_golden_add(in, "input.text", LV_DT_I32, DIMS(B, T));
    uint8_t *valid = lv_golden_add(in, "input.text_valid", LV_DT_U8, DIMS(B, T));
    for (int64_t i = 0; text_ids && valid && i < B * T; i++) {
        const int64_t b = i / T, t = i % T, len = b == 0 ? T : b == 1 ? T - 4 : 2;
        valid[i] = t < len;
        text_ids[i] = t < len ? 1 + (int32_t)lv_rng_below(r, (uint64_t)c.vocab - 1) : 0;
    }
    model_spread(&m.params, r, (int)gc->a[0]);
    put_param_values(in, &m.params);
    lv_model_free(&m);
    return in->failed ? -1 : 0;
}

/* The tensors of ps from the param.* tensors of in (all of them, shapes checked). */
static int params_load(lv_params *ps, const lv_golden_set *in)
{
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        char name[LV_GOLDEN_NAME_MAX];
        snprintf(name, sizeof name, "param.%s", p->name);
        int ok = 1;
        const lv_golden_tensor *t = arg(in, name, LV_DT_F32, p->ndim, 1, &ok);
        if (!ok)
            return -1;
        if (!same_shape(t, p->ndim, p->shape))
            return lv_set_error("tensor '%s' has another shape than the configuration's model",
                                name);
        ps->be->upload(lv_param_data(ps, i), t->data, (size_t)p->numel * sizeof(float));
    }
    return 0;
}

static int adamw_from_meta(const lv_golden_set *in, lv_adamw_config *a, int64_t *steps)
{
    *a = lv_adamw_defaults();
    if (meta_int(in, "steps", steps) < 0 || meta_num(in, "adamw.lr", &a->lr) < 0 ||
        meta_num(in, "adamw.beta1", &a->beta1) < 0 || meta_num(in, "adamw.beta2", &a->beta2) < 0 ||
        meta_num(in, "adamw.eps", &a->eps) < 0 ||
        meta_num(in, "adamw.weight_decay", &a->weight_decay) < 0 ||
        meta_num(in, "adamw.clip", &a->clip) < 0)
        return -1;
    return *steps >= 1 && *steps <= 100 ? 0 : lv_set_error("metadata \"steps\" outside 1..100");
}

/* Per-parameter output tensors prefix.<name> (trainable ones only), shaped like the parameter,
 * or (steps, *shape) when steps > 0. */
static int put_params(lv_golden_set *out, const lv_params *ps, const char *prefix, int64_t steps,
                      float **dst)
{
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        char name[LV_GOLDEN_NAME_MAX];
        int64_t shape[LV_PARAM_MAX_DIMS + 1] = { steps };
        memcpy(shape + (steps > 0), p->shape, (size_t)p->ndim * sizeof(int64_t));
        snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        dst[i] = p->grad_offset < 0 ? NULL : put(out, name, p->ndim + (steps > 0), shape);
    }
    return out->failed ? -1 : 0;
}

typedef struct {
    int64_t *kept;
    float *tokens, *embedded, *ln_pre, **block, *video_emb, *text_emb, *logits, *loss;
    float **grad, *steps_loss, *steps_norm, **steps_grad, **after;
    int64_t *steps_kept;
} model_outputs;

static int model_outputs_put(lv_golden_set *out, const lv_model *m, int64_t B, int64_t steps,
                             model_outputs *o)
{
    const int64_t K = m->geo.K, R = m->geo.R, D = m->cfg.width, E = m->cfg.embed_dim;
    const int64_t L = m->cfg.layers;
    o->block = calloc((size_t)L, sizeof *o->block);
    o->grad = calloc((size_t)m->params.count, sizeof *o->grad);
    o->after = calloc((size_t)m->params.count, sizeof *o->after);
    o->steps_grad = calloc((size_t)m->params.count, sizeof *o->steps_grad);
    if (!o->block || !o->grad || !o->after || !o->steps_grad)
        return lv_set_error("out of memory listing a golden model's outputs");
    o->kept = put_i64(out, "input.kept", DIMS(B, K));
    o->tokens = put(out, "act.tokens", DIMS(B * K, D));
    o->embedded = put(out, "act.embedded", DIMS(B * R, D));      /* with the class tokens */
    o->ln_pre = put(out, "act.ln_pre", DIMS(B * R, D));
    for (int64_t l = 0; l < L; l++) {
        char name[32];
        snprintf(name, sizeof name, "act.block.%lld", (long long)l);
        o->block[l] = put(out, name, DIMS(B * R, D));
    }
    o->video_emb = put(out, "act.video_emb", DIMS(B, E));
    o->text_emb = put(out, "act.text_emb", DIMS(B, E));
    o->logits = put(out, "act.logits", DIMS(B, B));
    o->loss = put(out, "loss", DIMS(1));
    put_params(out, &m->params, "grad", 0, o->grad);
    o->steps_loss = put(out, "steps.loss", DIMS(steps));
    o->steps_norm = put(out, "steps.grad_norm", DIMS(steps));
    o->steps_kept = put_i64(out, "steps.kept", DIMS(steps, B, K));
    put_params(out, &m->params, "steps.grad", steps, o->steps_grad);
    put_params(out, &m->params, "after", 0, o->after);
    return out->failed ? -1 : 0;
}

static void model_outputs_free(model_outputs *o)
{
    free(o->block);
    free(o->grad);
    free(o->after);
    free(o->steps_grad);
}

/* n floats of backend memory (the model's) into a host tensor of the output set */
static void fetch(const lv_model *m, float *dst, const float *src, int64_t n)
{
    m->be->download(dst, src, (size_t)n * sizeof(float));
}

/* The forward of step 0: kept tokens, activations, embeddings, logits, loss. */
static void model_record_forward(const lv_model *m, int64_t B, const model_outputs *o)
{
    const int64_t BK = B * m->geo.K, R = B * m->geo.R, D = m->cfg.width, E = m->cfg.embed_dim;
    memcpy(o->kept, m->ix.kept, (size_t)BK * sizeof(int64_t));     /* host: the mask's lists */
    fetch(m, o->tokens, m->tokens, BK * D);
    fetch(m, o->embedded, m->embedded, R * D);
    fetch(m, o->ln_pre, lv_tower_stream(&m->video, 0), R * D);
    for (int64_t l = 0; l < m->cfg.layers; l++)
        fetch(m, o->block[l], lv_tower_stream(&m->video, l + 1), R * D);
    fetch(m, o->video_emb, m->video.emb_n, B * E);
    fetch(m, o->text_emb, m->text.emb_n, B * E);
    fetch(m, o->logits, m->logits, B * B);
    fetch(m, o->loss, m->loss, 1);
}

typedef struct {
    const model_outputs *o;
    int64_t B;
} recorder;

/* lv_train_step's observer: after the backward of step s, before the update, record the kept
 * lists, the forward of step 0 and the raw gradients (the clipping is folded into the update) */
static void model_record_step(void *ctx, const lv_model *m, int64_t s)
{
    const recorder *r = ctx;
    const model_outputs *o = r->o;
    const lv_params *ps = &m->params;
    memcpy(o->steps_kept + s * r->B * m->geo.K, m->ix.kept,
           (size_t)(r->B * m->geo.K) * sizeof(int64_t));
    if (s == 0)
        model_record_forward(m, r->B, o);
    for (int64_t i = 0; i < ps->count; i++) {
        const int64_t n = ps->p[i].numel;
        if (o->grad[i] && s == 0)
            fetch(m, o->grad[i], lv_param_grad(ps, i), n);
        if (o->steps_grad[i])
            fetch(m, o->steps_grad[i] + s * n, lv_param_grad(ps, i), n);
    }
}

/* steps training steps of m on batch (step s keys the masks), recording into o: the training
 * step of longvivit train itself (lv_train_step), observed between backward and update. */
static int model_train(lv_model *m, lv_batch *batch, const lv_adamw_config *ac, int64_t steps,
                       const model_outputs *o)
{
    lv_trainer t;
    recorder rec = { .o = o, .B = batch->B };
    if (lv_trainer_init(&t, m, ac, batch->B) < 0)
        return -1;
    t.observe = model_record_step;
    t.observe_ctx = &rec;
    int rc = 0;
    for (int64_t s = 0; s < steps && rc == 0; s++) {
        batch->step = (uint32_t)s;
        const lv_step_part part = { .micro = batch, .n_micro = 1 };
        lv_step_stats stats;
        rc = lv_train_step(&t, &part, 1, s, &stats);
        o->steps_loss[s] = stats.loss;
        o->steps_norm[s] = (float)stats.grad_norm;
    }
    for (int64_t i = 0; rc == 0 && i < m->params.count; i++)
        if (o->after[i])
            fetch(m, o->after[i], lv_param_data(&m->params, i), m->params.p[i].numel);
    lv_trainer_free(&t);
    return rc;
}

static int run_model(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    lv_config c;
    lv_adamw_config ac;
    int64_t steps;
    int ok = 1;
    if (lv_config_preset(&c, "tiny") < 0 || config_apply(&c, lv_golden_meta(in, "config"), "\n")
        < 0 || lv_config_validate(&c) < 0 || adamw_from_meta(in, &ac, &steps) < 0)
        return -1;
    const lv_golden_tensor *video = arg(in, "input.video", LV_DT_F32, 5, 1, &ok),
                           *text = arg(in, "input.text", LV_DT_I32, 2, 1, &ok),
                           *valid = arg(in, "input.text_valid", LV_DT_U8, 2, 1, &ok);
    if (!ok)
        return -1;
    const int64_t B = video->shape[0], T = c.text_len, S = c.image_size;
    FIT(B >= 1 && same_shape(video, DIMS(B, c.frames, S, S, 3)));
    FIT(same_shape(text, DIMS(B, T)) && same_shape(valid, DIMS(B, T)) &&
        in_range(text, 0, c.vocab));
    lv_model m;
    model_outputs o = { 0 };
    int rc = lv_model_build(&m, &c, be);
    if (rc == 0) {
        m.geo = lv_config_geometry(&c, 0);
        /* every block's output is recorded, the frozen prefix's too */
        rc = lv_model_alloc_acts(&m, B, LV_ACTS_EVERY_STREAM) < 0 ||
             params_load(&m.params, in) < 0 ||
             model_outputs_put(out, &m, B, steps, &o) < 0 ? -1 : 0;
    }
    lv_batch batch = { .B = B, .video = video->data, .text = text->data,
                       .text_valid = valid->data };
    if (rc == 0)
        rc = model_train(&m, &batch, &ac, steps, &o);
    model_outputs_free(&o);
    lv_model_free(&m);
    return rc;
}

/* ---- the video-to-text stage ------------------------------------------------------------------
 * Kind "v2t": the stage of ref/v2t.h (or, lm_only, its LM's pretraining) on a batch of MODEL_BATCH
 * videos with captions: a greedy decode from the file's parameters, then one forward and
 * MODEL_STEPS AdamW steps (lv_v2t_train_step) recorded like a model case's. */

#define V2T_TEXT 12                     /* text rows per sample */
#define V2T_PROMPT 4                    /* every caption's first tokens: not predicted */
#define V2T_NEW 4                       /* tokens a greedy decode writes after sample 0's prompt */
#define V2T_INIT "lv_v2t_build's initialisation (config seed), then every tensor of the frozen " \
    "encoder (the contrastive model, in its table order; none with lm_only) and then of the " \
    "stage (its table order) plus independent N(0, sigma^2) noise from the case's stream as " \
    "model cases do: sigma = 0.5 / sqrt(numel / shape[0]) for tensors of 2 or more dims, 0.5 " \
    "for one-entry tensors (the tanh gates, so they are open), 0.1 for the other vectors"

static int make_v2t(lv_golden_set *in, const golden_case *gc, lv_rng *r)
{
    const int lm_only = (int)gc->a[0];
    lv_config c;
    char text[4096];
    if (lv_config_preset(&c, "tiny") < 0 || config_apply(&c, MODEL_BASE, " ") < 0 ||
        config_apply(&c, gc->overrides, " ") < 0 || lv_config_validate(&c) < 0)
        return -1;
    lv_config_format(&c, text, sizeof text);
    lv_golden_meta_set(in, "config", "%s", text);
    lv_golden_meta_set(in, "overrides", "preset tiny, %s%s%s", MODEL_BASE,
                       gc->overrides[0] ? " " : "", gc->overrides);
    lv_golden_meta_set(in, "lm_only", "%d", lm_only);
    lv_golden_meta_set(in, "batch", "%d", MODEL_BATCH);
    lv_golden_meta_set(in, "init", V2T_INIT);
    lv_golden_meta_set(in, "decode.prompt", "%d", V2T_PROMPT);
    lv_golden_meta_set(in, "decode.new", "%d", V2T_NEW);
    lv_golden_meta_set(in, "decode.rule",
                       "before training, from the file's parameters: lv_v2t_generate on sample "
                       "0's video (its mask keyed by step 0, sample 0: input.kept[0]) after "
                       "the first decode.prompt ids of sample 0, greedy (beam 1), no end token, "
                       "decode.new tokens, each the argmax of the last row's logits");
    meta_adamw(in);
    lv_v2t v;
    int rc = lv_v2t_build(&v, &c, &lv_backend_ref, lm_only);
    const int64_t B = MODEL_BATCH, T = V2T_TEXT, S = c.image_size, V = v.V;
    const int64_t len[MODEL_BATCH] = { T, T - 3, T - 6 };          /* the rest is padding */
    if (rc == 0 && !lm_only)
        randn(in, "input.video", r, 0, 0.5, DIMS(B, c.frames, S, S, 3));
    int32_t *ids = lv_golden_add(in, "input.ids", LV_DT_I32, DIMS(B, T));
    int32_t *targets = lv_golden_add(in, "input.targets", LV_DT_I32, DIMS(B, T));
    uint8_t *valid = lv_golden_add(in, "input.valid", LV_DT_U8, DIMS(B, T));
    for (int64_t i = 0; rc == 0 && ids && targets && valid && i < B * T; i++) {
        const int64_t b = i / T, t = i % T;
        valid[i] = t < len[b];
        ids[i] = t < len[b] ? 1 + (int32_t)lv_rng_below(r, (uint64_t)V - 1) : 0;
    }
    /* row t predicts id t + 1 where that is a caption token (after the prompt, not padding) */
    for (int64_t i = 0; rc == 0 && ids && targets && i < B * T; i++) {
        const int64_t b = i / T, t = i % T;
        targets[i] = t >= V2T_PROMPT - 1 && t + 1 < len[b] ? ids[i + 1] : -1;
    }
    if (rc == 0) {
        rc = meta_decay_list(in, &v.params);
        if (!lm_only)
            model_spread(&v.enc.params, r, 0);
        model_spread(&v.params, r, 0);
        put_param_values(in, &v.enc.params);
        put_param_values(in, &v.params);
    }
    lv_v2t_free(&v);
    return rc < 0 || in->failed ? -1 : 0;
}

typedef struct {
    int64_t *kept, *steps_kept;
    float *visual, *media, *logits, *loss;
    float **grad, *steps_loss, *steps_norm, **steps_grad, **after;
    int32_t *decoded;
} v2t_outputs;

static int v2t_outputs_put(lv_golden_set *out, const lv_v2t *v, int64_t B, int64_t steps,
                           int64_t n_new, v2t_outputs *o)
{
    const int64_t K = v->lm_only ? 0 : lv_config_geometry(&v->enc.cfg, 0).K;
    const int64_t n = v->params.count;
    o->grad = calloc((size_t)n, sizeof *o->grad);
    o->after = calloc((size_t)n, sizeof *o->after);
    o->steps_grad = calloc((size_t)n, sizeof *o->steps_grad);
    if (!o->grad || !o->after || !o->steps_grad)
        return lv_set_error("out of memory listing a golden case's outputs");
    if (!v->lm_only) {
        o->kept = put_i64(out, "input.kept", DIMS(B, K));
        o->visual = put(out, "act.visual", DIMS(B * v->P, v->Dv));
        o->media = put(out, "act.media", DIMS(B * v->Lq, v->Dv));
    }
    o->logits = put(out, "act.logits", DIMS(B * v->T, v->V));
    o->loss = put(out, "loss", DIMS(1));
    put_params(out, &v->params, "grad", 0, o->grad);
    o->steps_loss = put(out, "steps.loss", DIMS(steps));
    o->steps_norm = put(out, "steps.grad_norm", DIMS(steps));
    if (!v->lm_only)
        o->steps_kept = put_i64(out, "steps.kept", DIMS(steps, B, K));
    put_params(out, &v->params, "steps.grad", steps, o->steps_grad);
    put_params(out, &v->params, "after", 0, o->after);
    o->decoded = lv_golden_add(out, "decode.ids", LV_DT_I32, DIMS(n_new));
    return out->failed ? -1 : 0;
}

static void v2t_outputs_free(v2t_outputs *o)
{
    free(o->grad);
    free(o->after);
    free(o->steps_grad);
}

/* The forward of step 0 (its masks keyed by step 0): kept tokens, visual tokens, media, logits,
 * loss. The training step that follows recomputes it exactly (same masks, same parameters). */
static int v2t_record_forward(lv_v2t *v, const lv_v2t_batch *b, const v2t_outputs *o)
{
    const lv_backend *be = v->be;
    *o->loss = lv_v2t_forward(v, b);
    if (!isfinite(*o->loss)) {
        char why[1024];
        snprintf(why, sizeof why, "%s", lv_error());
        return lv_set_error("the golden case's first forward: loss %g (%s)", *o->loss, why);
    }
    if (!v->lm_only) {
        memcpy(o->kept, v->enc.ix.kept, (size_t)(b->B * v->enc.geo.K) * sizeof(int64_t));
        be->download(o->visual, v->visual, (size_t)(b->B * v->P * v->Dv) * sizeof(float));
        be->download(o->media, v->media, (size_t)(b->B * v->Lq * v->Dv) * sizeof(float));
    }
    be->download(o->logits, v->logits, (size_t)(b->B * v->T * v->V) * sizeof(float));
    return 0;
}

/* steps training steps of v on b (lv_v2t_train_step: step s keys the masks), recording each
 * step's loss, norm, kept lists and raw gradients (AdamW folds the clipping into its update, so
 * the gradient buffers still hold them), then the parameters after the last step. */
static int v2t_train(lv_v2t *v, const lv_v2t_batch *b, const lv_adamw_config *ac, int64_t steps,
                     const v2t_outputs *o)
{
    const lv_params *ps = &v->params;
    lv_adamw adam;
    if (lv_adamw_init(&adam, ps) < 0)
        return -1;
    int rc = 0;
    for (int64_t s = 0; s < steps && rc == 0; s++) {
        lv_step_stats stats;
        rc = lv_v2t_train_step(v, &adam, ac, b, s, &stats);
        o->steps_loss[s] = stats.loss;
        o->steps_norm[s] = (float)stats.grad_norm;
        for (int64_t i = 0; rc == 0 && i < ps->count; i++) {
            const int64_t n = ps->p[i].numel;
            if (o->grad[i] && s == 0)
                v->be->download(o->grad[i], lv_param_grad(ps, i), (size_t)n * sizeof(float));
            if (o->steps_grad[i])
                v->be->download(o->steps_grad[i] + s * n, lv_param_grad(ps, i),
                                (size_t)n * sizeof(float));
        }
        if (rc == 0 && !v->lm_only)
            memcpy(o->steps_kept + s * b->B * v->enc.geo.K, v->enc.ix.kept,
                   (size_t)(b->B * v->enc.geo.K) * sizeof(int64_t));
    }
    for (int64_t i = 0; rc == 0 && i < ps->count; i++)
        if (o->after[i])
            v->be->download(o->after[i], lv_param_data(ps, i),
                            (size_t)ps->p[i].numel * sizeof(float));
    lv_adamw_free(&adam);
    return rc;
}

/* The greedy decode of n_new tokens after sample 0's first n_prompt ids, on the stage allocated
 * for the whole batch (one video and one hypothesis: fewer rows than allocated). */
static int v2t_decode(lv_v2t *v, const lv_v2t_batch *b, int64_t n_prompt, int64_t n_new,
                      int32_t *dst)
{
    const lv_v2t_decode opt = { .max_new = n_new, .beam = 1, .eos = -1, .step = 0 };
    const int64_t n = lv_v2t_generate(v, v->lm_only ? NULL : b->video, b->ids, n_prompt, &opt,
                                      dst);
    if (n < 0)
        return -1;
    return n == n_new ? 0 : lv_set_error("the greedy decode wrote %lld tokens, not %lld",
                                         (long long)n, (long long)n_new);
}

static int run_v2t(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    lv_config c;
    lv_adamw_config ac;
    int64_t steps, lm_only, n_prompt, n_new;
    int ok = 1;
    if (lv_config_preset(&c, "tiny") < 0 || config_apply(&c, lv_golden_meta(in, "config"), "\n")
        < 0 || lv_config_validate(&c) < 0 || adamw_from_meta(in, &ac, &steps) < 0 ||
        meta_int(in, "lm_only", &lm_only) < 0 || meta_int(in, "decode.prompt", &n_prompt) < 0 ||
        meta_int(in, "decode.new", &n_new) < 0)
        return -1;
    const lv_golden_tensor *ids = arg(in, "input.ids", LV_DT_I32, 2, 1, &ok),
                           *targets = arg(in, "input.targets", LV_DT_I32, 2, 1, &ok),
                           *valid = arg(in, "input.valid", LV_DT_U8, 2, 1, &ok),
                           *video = arg(in, "input.video", LV_DT_F32, 5, !lm_only, &ok);
    if (!ok)
        return -1;
    const int64_t B = ids->shape[0], T = ids->shape[1], S = c.image_size;
    const int64_t V = lv_config_lm_vocab(&c);
    FIT(B >= 1 && T >= 1 && T <= c.lm_ctx && (lm_only == 0 || lm_only == 1));
    FIT(same_shape(targets, DIMS(B, T)) && same_shape(valid, DIMS(B, T)));
    FIT(in_range(ids, 0, V) && in_range(targets, INT32_MIN, V));
    FIT(lm_only || same_shape(video, DIMS(B, c.frames, S, S, 3)));
    FIT(n_prompt >= 1 && n_new >= 1 && n_prompt + n_new - 1 <= T);
    lv_v2t v;
    v2t_outputs o = { 0 };
    const lv_v2t_batch b = { .B = B, .T = T, .video = video ? video->data : NULL,
                             .ids = ids->data, .targets = targets->data, .valid = valid->data };
    int rc = lv_v2t_build(&v, &c, be, (int)lm_only);
    if (rc == 0)
        rc = lv_v2t_alloc_acts(&v, B, T) < 0 ||
             (!lm_only && params_load(&v.enc.params, in) < 0) ||
             params_load(&v.params, in) < 0 ||
             v2t_outputs_put(out, &v, B, steps, n_new, &o) < 0 ? -1 : 0;
    if (rc == 0)
        rc = v2t_decode(&v, &b, n_prompt, n_new, o.decoded);
    if (rc == 0)
        rc = v2t_record_forward(&v, &b, &o);
    if (rc == 0)
        rc = v2t_train(&v, &b, &ac, steps, &o);
    v2t_outputs_free(&o);
    lv_v2t_free(&v);
    return rc;
}

/* ---- the case table ------------------------------------------------------------------------- */

static const golden_case cases[] = {
    { "linear_row", "linear", make_linear, { 1, 3, 5, 1 }, NULL },
    { "linear_odd", "linear", make_linear, { 7, 13, 9, 1 }, NULL },
    { "linear_nobias", "linear", make_linear, { 10, 24, 33, 0 }, NULL },
    { "layernorm_row", "layernorm", make_layernorm, { 1, 5 }, NULL },
    { "layernorm_odd", "layernorm", make_layernorm, { 9, 37 }, NULL },
    { "layernorm_flat", "layernorm", make_layernorm, { 4, 24, 1 }, NULL },
    { "gelu_one", "gelu", make_gelu, { 1, 1 }, NULL },
    { "gelu_wide", "gelu", make_gelu, { 61, 3 }, NULL },
    /* n, std, saturated entries */
    { "quick_gelu_one", "quick_gelu", make_quick_gelu, { 1, 1, 0 }, NULL },
    { "quick_gelu_wide", "quick_gelu", make_quick_gelu, { 61, 3, 1 }, NULL },
    { "gelu_tanh_one", "gelu_tanh", make_gelu_tanh, { 1, 1, 0 }, NULL },
    { "gelu_tanh_wide", "gelu_tanh", make_gelu_tanh, { 61, 3, 1 }, NULL },
    /* groups, heads, width, then sizes */
    { "attention_joint", "attention", make_attention_joint, { 2, 2, 6, 5, 7 }, NULL },
    /* one group longer than a 256-key tile and many 64-query tiles: what tiled ports split */
    { "attention_long", "attention", make_attention_joint, { 1, 2, 16, 300 }, NULL },
    { "attention_peaked", "attention", make_attention_peaked, { 1, 2, 16, 9 }, NULL },
    { "attention_factorized", "attention", make_attention_factorized, { 11, 3, 9, 4 }, NULL },
    { "attention_cross", "attention", make_attention_cross, { 3, 2, 8, 2, 4, 5, 3 }, NULL },
    { "attention_causal", "attention", make_attention_causal, { 3, 2, 12, 6, 1, 9 }, NULL },
    /* groups, heads, width, cache rows per group, then (queries, keys) per group */
    { "attention_causal_decode", "attention", make_attention_decode,
      { 3, 2, 8, 9, 3, 7, 2, 5, 1, 1 }, NULL },
    { "residual_one", "residual", make_residual, { 1 }, NULL },
    { "residual_odd", "residual", make_residual, { 45 }, NULL },
    { "gated_residual_closed", "gated_residual", make_gated_residual, { 13, 0 }, NULL },
    { "gated_residual_open", "gated_residual", make_gated_residual, { 45, 600 }, NULL },
    { "gated_residual_one", "gated_residual", make_gated_residual, { 1, -1300 }, NULL },
    { "mean_pool_masked", "mean_pool", make_mean_pool, { 3, 5, 7, 1 }, NULL },
    { "mean_pool_all", "mean_pool", make_mean_pool, { 2, 4, 6, 0 }, NULL },
    { "mean_pool_one", "mean_pool", make_mean_pool, { 1, 1, 3, 1 }, NULL },
    { "segment_mean_empty", "segment_mean", make_segment_mean, { 5, 4, 0, 3, 3, 8, 9 }, NULL },
    { "segment_mean_one", "segment_mean", make_segment_mean, { 1, 1, 0, 1 }, NULL },
    { "l2norm_zero_row", "l2norm", make_l2norm, { 5, 17, 2 }, NULL },
    { "l2norm_one", "l2norm", make_l2norm, { 1, 1, -1 }, NULL },
    { "embedding_repeats", "embedding", make_embedding, { 9, 5, 3 }, NULL },
    { "embedding_one", "embedding", make_embedding, { 1, 1, 7 }, NULL },
    /* F, H, W, kt, kh, kw, st, sh, sw, ot, oh, ow, B, K (0: all), D, bias */
    { "tubelet_embed_kept", "tubelet_embed", make_tubelet_embed,
      { 4, 8, 8, 2, 4, 4, 2, 4, 4, 0, 0, 0, 2, 3, 5, 1 }, NULL },
    { "tubelet_embed_overlap", "tubelet_embed", make_tubelet_embed,
      { 5, 7, 9, 3, 3, 4, 2, 2, 3, 0, 1, 0, 1, 0, 6, 1 }, NULL },
    { "tubelet_embed_image", "tubelet_embed", make_tubelet_embed,
      { 1, 6, 6, 1, 3, 3, 1, 3, 3, 0, 0, 0, 3, 0, 7, 0 }, NULL },
    /* B, K, P, Ft, D, kept, temporal */
    { "pos_embed_kept", "pos_embed", make_pos_embed, { 2, 5, 4, 3, 6, 1, 1 }, NULL },
    { "pos_embed_all", "pos_embed", make_pos_embed, { 1, 6, 3, 2, 5, 0, 1 }, NULL },
    { "pos_embed_image", "pos_embed", make_pos_embed, { 2, 4, 4, 1, 3, 0, 0 }, NULL },
    { "infonce_one", "infonce", make_infonce, { 1, 4, 0 }, NULL },
    { "infonce_odd", "infonce", make_infonce, { 3, 5, 0 }, NULL },
    { "infonce_clamped", "infonce", make_infonce, { 4, 8, 1 }, NULL },
    { "infonce_peaked", "infonce", make_infonce, { 3, 8, 2 }, NULL },
    /* N, V, kind (0 random, 1 peaked, 2 every row ignored) */
    { "cross_entropy_ignore", "cross_entropy", make_cross_entropy, { 9, 13, 0 }, NULL },
    { "cross_entropy_peaked", "cross_entropy", make_cross_entropy, { 9, 11, 1 }, NULL },
    { "cross_entropy_wide", "cross_entropy", make_cross_entropy, { 6, 509, 0 }, NULL },
    { "cross_entropy_all_ignored", "cross_entropy", make_cross_entropy, { 3, 5, 2 }, NULL },
    { "scale_odd", "scale", make_scale, { 37, 370 }, NULL },
    /* n, step t */
    { "adamw_update_first", "adamw_update", make_adamw_update, { 37, 1 }, NULL },
    { "adamw_update_late", "adamw_update", make_adamw_update, { 50, 10 }, NULL },
    { "sum_squares_one", "sum_squares", make_sum_squares, { 1 }, NULL },
    { "sum_squares_odd", "sum_squares", make_sum_squares, { 1001 }, NULL },
    /* a[0] = 1: the log-scale above the clamp */
    { "joint", "model", make_model, { 1 }, "" },
    { "factorized", "model", make_model, { 0 }, "attn=factorized" },
    { "frame", "model", make_model, { 0 }, "attn=frame frame_pool=mean" },
    { "frame_attn", "model", make_model, { 0 }, "attn=frame frame_pool=attn" },
    { "frame_attn_masked", "model", make_model, { 1 },
      "attn=frame frame_pool=attn mask_ratio=0.9" },
    { "coarse_ts", "model", make_model, { 0 }, "tubelet_t=4 patch=8" },
    { "tubevit", "model", make_model, { 0 }, "tubes=tubevit" },
    { "mask_random", "model", make_model, { 0 }, "mask_ratio=0.75" },
    { "mask_tube", "model", make_model, { 1 }, "mask=tube mask_ratio=0.75" },
    { "adapters", "model", make_model, { 0 }, "tune=adapters" },
    { "lora", "model", make_model, { 1 }, "tune=lora lora_alpha=8" },
    { "last_k", "model", make_model, { 0 }, "tune=last-k freeze_text=1 mask_ratio=0.75" },
    { "temporal", "model", make_model, { 1 }, "attn=factorized tune=temporal" },
    { "clip_vision", "model", make_model, { 0 }, "act=quick_gelu pool=cls mask_ratio=0.5" },
    { "bert_text", "model", make_model, { 1 },
      "text_arch=bert text_pool=cls text_ln_eps=1e-12" },
    /* the video-to-text stage; a[0] = 1: lm_only, the LM's pretraining */
    { "v2t", "v2t", make_v2t, { 0 }, "" },
    { "v2t_lm", "v2t", make_v2t, { 1 }, "" },
};

static const struct {
    const char *kernel;
    int (*run)(const lv_golden_set *, lv_golden_set *, const lv_backend *);
} runners[] = {
    { "linear", run_linear },
    { "layernorm", run_layernorm },
    { "gelu", run_gelu },
    { "quick_gelu", run_quick_gelu },
    { "gelu_tanh", run_gelu_tanh },
    { "attention", run_attention },
    { "residual", run_residual },
    { "gated_residual", run_gated_residual },
    { "mean_pool", run_mean_pool },
    { "segment_mean", run_segment_mean },
    { "l2norm", run_l2norm },
    { "embedding", run_embedding },
    { "tubelet_embed", run_tubelet_embed },
    { "pos_embed", run_pos_embed },
    { "infonce", run_infonce },
    { "cross_entropy", run_cross_entropy },
    { "scale", run_scale },
    { "adamw_update", run_adamw_update },
    { "sum_squares", run_sum_squares },
};

#define N_CASES (int)(sizeof cases / sizeof cases[0])

int lv_golden_case_count(void)
{
    return N_CASES;
}

const char *lv_golden_case_path(int i)
{
    static char path[N_CASES][LV_GOLDEN_NAME_MAX];
    LV_REQUIRE(i >= 0 && i < N_CASES);
    const int model = !strcmp(cases[i].kernel, "model") || !strcmp(cases[i].kernel, "v2t");
    snprintf(path[i], sizeof path[i], "%s/%s", model ? "models" : "kernels", cases[i].name);
    return path[i];
}

/* FNV-1a of a name: a case's random stream does not move when cases are added or reordered */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int lv_golden_make(int i, const char *generator, lv_golden_set *in)
{
    LV_REQUIRE(i >= 0 && i < N_CASES);
    const golden_case *c = &cases[i];
    const int model = !strcmp(c->kernel, "model") || !strcmp(c->kernel, "v2t");
    *in = (lv_golden_set){ 0 };
    lv_golden_meta_set(in, "format", LV_GOLDEN_FORMAT);
    lv_golden_meta_set(in, "case", "%s", lv_golden_case_path(i));
    lv_golden_meta_set(in, "kind", model ? c->kernel : "kernel");
    if (!model)
        lv_golden_meta_set(in, "kernel", "%s", c->kernel);
    lv_golden_meta_set(in, "generator", "%s", generator);
    lv_golden_meta_set(in, "seed", "%d", LV_GOLDEN_SEED);
    lv_golden_meta_set(in, "flags", LV_GOLDEN_FLAGS);
    lv_rng r = lv_rng_stream(LV_GOLDEN_SEED, LV_RNG_TEST, name_hash(c->name), 0);
    if (c->make(in, c, &r) < 0 || in->failed) {
        lv_golden_set_free(in);
        return -1;
    }
    return 0;
}

int lv_golden_run(const lv_golden_set *in, lv_golden_set *out, const lv_backend *be)
{
    if (!be->host_memory) {               /* a device backend that cannot start says so here */
        void *probe = be->alloc(1, "a probe of the backend's memory");
        if (!probe)
            return -1;
        be->free(probe);
    }
    const char *kind = lv_golden_meta(in, "kind"), *kernel = lv_golden_meta(in, "kernel");
    if (kind && !strcmp(kind, "model"))
        return run_model(in, out, be);
    if (kind && !strcmp(kind, "v2t"))
        return run_v2t(in, out, be);
    for (size_t i = 0; kind && kernel && !strcmp(kind, "kernel") &&
                       i < sizeof runners / sizeof runners[0]; i++)
        if (!strcmp(runners[i].kernel, kernel)) {
            stage.be = be->host_memory ? NULL : be;
            return stage_finish(runners[i].run(in, out, be));
        }
    return lv_set_error("metadata \"kind\" '%s', \"kernel\" '%s': not a case this version runs",
                        kind ? kind : "(missing)", kernel ? kernel : "(missing)");
}

/* ---- tolerances and comparison -------------------------------------------------------------- */

static const lv_tolerance *row_find(const char *kernel, const char *tensor, const char *check)
{
    int n;
    const lv_tolerance *t = lv_tolerance_table(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].kernel, kernel) && !strcmp(t[i].tensor, tensor) &&
            !strcmp(t[i].check, check))
            return &t[i];
    return NULL;
}

/* The row of a model (or v2t) case's output, and whether its abs is in units of the tensor's
 * largest |entry|. */
static const lv_tolerance *model_row(const char *kind, const char *name, const char *check,
                                     int *scaled)
{
    static const struct {
        const char *prefix, *row;
        int scaled;
    } map[] = {
        { "input.kept", "kept", 0 },     { "act.tokens", "tokens", 0 },
        { "act.embedded", "tokens", 0 }, { "act.ln_pre", "act", 1 },
        { "act.block.", "act", 1 },      { "act.video_emb", "emb", 0 },
        { "act.text_emb", "emb", 0 },    { "act.logits", "logits", 0 },
        { "loss", "loss", 0 },           { "grad.", "grad", 1 },
        { "steps.loss", "steps.loss", 0 }, { "steps.grad_norm", "steps.grad_norm", 0 },
        { "steps.grad.", "steps.grad", 1 },
        { "steps.kept", "kept", 0 },
        { "after.", "after", 0 },
    }, v2t_map[] = {
        { "input.kept", "kept", 0 },     { "act.visual", "visual", 1 },
        { "act.media", "media", 1 },     { "act.logits", "logits", 1 },
        { "loss", "loss", 0 },           { "grad.", "grad", 1 },
        { "steps.loss", "steps.loss", 0 }, { "steps.grad_norm", "steps.grad_norm", 0 },
        { "steps.grad.", "steps.grad", 1 },
        { "steps.kept", "kept", 0 },
        { "after.", "after", 0 },        { "decode.ids", "decode", 0 },
    };
    const int v2t = !strcmp(kind, "v2t");
    const size_t n = v2t ? sizeof v2t_map / sizeof v2t_map[0] : sizeof map / sizeof map[0];
    for (size_t i = 0; i < n; i++) {
        const char *prefix = v2t ? v2t_map[i].prefix : map[i].prefix;
        if (!strncmp(name, prefix, strlen(prefix))) {
            *scaled = v2t ? v2t_map[i].scaled : map[i].scaled;
            return row_find(kind, v2t ? v2t_map[i].row : map[i].row, check);
        }
    }
    return NULL;
}

static double max_abs(const lv_golden_tensor *t)
{
    double m = 0.0;
    for (int64_t i = 0; t->dtype == LV_DT_F32 && i < t->numel; i++)
        m = fmax(m, fabs(((const float *)t->data)[i]));
    return m;
}

const lv_tolerance *lv_golden_tolerance(const lv_golden_set *in, const lv_golden_tensor *want,
                                       int port, double *abs, double *rel, double *scale)
{
    const char *kind = lv_golden_meta(in, "kind"), *kernel = lv_golden_meta(in, "kernel");
    const lv_tolerance *row = NULL;
    int scaled = 0;
    char tensor[LV_GOLDEN_NAME_MAX + 1];
    if (kind && (!strcmp(kind, "model") || !strcmp(kind, "v2t"))) {
        row = model_row(kind, want->name, port ? LV_CHECK_PORT : LV_CHECK_GOLDEN, &scaled);
    } else if (kernel) {
        const char *k = !strcmp(kernel, "tubelet_embed") ? "tubelet"
                      : !strcmp(kernel, "scale") ? "elementwise"
                      : !strcmp(kernel, "adamw_update") ? "adamw" : kernel;
        if (!strcmp(kernel, "scale"))
            snprintf(tensor, sizeof tensor, "scale");
        else if (!strncmp(want->name, "grad.", 5))
            snprintf(tensor, sizeof tensor, "d%s", want->name + 5);
        else
            snprintf(tensor, sizeof tensor, "%s", want->name + (strncmp(want->name, "out.", 4)
                                                                ? 0 : 4));
        row = row_find(k, tensor, port ? LV_CHECK_PORT : strcmp(kernel, "sum_squares")
                                                                 ? LV_CHECK_FAST
                                                                 : LV_CHECK_GOLDEN);
    }
    if (!row) {
        lv_set_error("no %s tolerance row for %s tensor '%s': add one to "
                     "golden/harness/tolerance.c", port ? "port" : "strict",
                     lv_golden_meta(in, "case"), want->name);
        return NULL;
    }
    *scale = scaled ? max_abs(want) : 0.0;
    *abs = row->abs * (*scale > 0.0 ? *scale : 1.0);
    *rel = row->rel;
    return row;
}

static double value_at(const lv_golden_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LV_DT_F32: return ((const float *)t->data)[i];
    case LV_DT_I64: return (double)((const int64_t *)t->data)[i];
    case LV_DT_I32: return ((const int32_t *)t->data)[i];
    default: return ((const uint8_t *)t->data)[i];
    }
}

lv_golden_diff lv_golden_compare(const lv_golden_tensor *got, const lv_golden_tensor *want,
                                 double abs, double rel)
{
    return lv_golden_compare_widened(got, want, abs, rel, NULL);
}

lv_golden_diff lv_golden_compare_widened(const lv_golden_tensor *got, const lv_golden_tensor *want,
                                         double abs, double rel, const double *extra)
{
    lv_golden_diff d = { .at = -1 };
    if (!same_shape(got, want->ndim, want->shape)) {
        d.shape_differs = 1;
        d.margin = d.max_err = INFINITY;
        return d;
    }
    for (int64_t i = 0; i < want->numel; i++) {
        const double g = value_at(got, i), w = value_at(want, i), err = fabs(g - w);
        const double m = lv_tolerance_margin(g, w, abs + (extra ? extra[i] : 0.0), rel);
        d.max_err = isfinite(err) ? fmax(d.max_err, err) : INFINITY;
        if (d.at < 0 || m > d.margin) {
            d.margin = m;
            d.at = i;
            d.got = g;
            d.want = w;
        }
    }
    return d;
}

int lv_golden_after_widening(const lv_golden_set *in, const char *name, int port, double *extra)
{
    double lr;
    int64_t steps;
    int scaled, ok = 1;
    char grads[LV_GOLDEN_NAME_MAX + 16];
    const char *kind = lv_golden_meta(in, "kind");
    const lv_tolerance *row = model_row(kind && !strcmp(kind, "v2t") ? "v2t" : "model", "grad.",
                                        port ? LV_CHECK_PORT : LV_CHECK_GOLDEN, &scaled);
    LV_REQUIRE(row && !strncmp(name, "after.", 6));
    snprintf(grads, sizeof grads, "steps.grad.%s", name + 6);
    const lv_golden_tensor *g = arg(in, grads, LV_DT_F32, -1, 1, &ok);
    if (!ok || meta_num(in, "adamw.lr", &lr) < 0 || meta_int(in, "steps", &steps) < 0)
        return -1;
    const lv_golden_tensor *after = lv_golden_find(in, name);
    const int64_t n = after ? after->numel : 0;
    FIT(after && steps >= 1 && g->numel == steps * n);
    for (int64_t i = 0; i < n; i++)
        extra[i] = 0.0;
    for (int64_t s = 0; s < steps; s++) {
        const float *gs = (const float *)g->data + s * n;
        double gmax = 0.0;
        for (int64_t i = 0; i < n; i++)
            gmax = fmax(gmax, fabs(gs[i]));
        /* Adam's step m / sqrt(v) divides by |g|: a gradient error of gamma * gmax (what the
         * grad row allows) moves entry i by ~lr gamma gmax / |g_i|, and no step moves an entry
         * by much more than lr, so two implementations differ by at most ~2 lr a step */
        for (int64_t i = 0; i < n; i++)
            extra[i] += lr * (fabs(gs[i]) > row->abs * gmax / 2.0
                                  ? fmin(row->abs * gmax / fabs(gs[i]), 2.0) : 2.0);
    }
    return 0;
}
