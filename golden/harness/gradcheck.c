/* Whole-model finite-difference gradient check (see gradcheck.h). The model runs in fp32 (its
 * kernels are each checked against fp64 finite differences in the tests); here the loss is
 * evaluated at x +- h, x +- 2h and the differences taken in double. The checked point is the
 * initial model plus noise, so zero-initialised branches (gates, LoRA B, adapter up) are live.
 *
 * How far the numeric gradient n of an entry may be from the analytic a, and why.
 *
 * n is the five-point central difference, Richardson's (4 D(h) - D(2h)) / 3 of the central
 * differences D at steps h and 2h:
 *     n = (L(-2h) - 8 L(-h) + 8 L(h) - L(2h)) / (12 h),   L(s) = the fp32 loss at x0 + s.
 * Its error has two parts.
 *   Rounding: each fp32 loss is the smooth loss plus a rounding error of some std delta,
 *   accumulated over the whole forward pass, and different on every CPU (glibc picks expf, erff
 *   etc. per CPU, with or without FMA). Independent errors on the four losses give
 *       std(n) = sqrt(1 + 64 + 64 + 1) / 12 * delta / h = C_N delta / h,   C_N = 0.9501.
 *   Truncation: -h^4 L^(5) / 30 (the h^2 term cancels). Small where the loss is smooth on the
 *   scale of h, not where it bends sharply: in the tiny model's mask-random variant, entry 12 of
 *   text.blocks.0.attn.proj.bias has L'' ~ 80 along its axis, and there the five-point gradient
 *   at h = 2^-7 is 2.8e-4 off while a polynomial fit to 65 losses within +-4h agrees with the
 *   analytic gradient to 1e-5 (the loss's rounding there is ~1e-7, one ulp).
 *
 * Both are measured from the losses alone, never from the analytic gradient (so a wrong
 * gradient cannot widen its own tolerance). One more loss, L(0), gives each probe the fourth
 * difference
 *     D4 = L(-2h) - 4 L(-h) + 6 L(0) - 4 L(h) + L(2h) = h^4 L'''' + O(h^6) + rounding.
 * Its rounding part has std sqrt(1 + 16 + 36 + 16 + 1) delta = sqrt(70) delta, but 6 L(0) is
 * the same number in every probe of a variant, so across probes D4 spreads by sqrt(34) delta.
 *   delta: the spread of D4 over all the variant's probes, robustly (the median absolute
 *   deviation from the median, times 1.4826 for a normal's std, over sqrt(34)), so the few
 *   probes where h^4 L'''' shows do not inflate it; never below the rounding of the fp32 loss
 *   itself, ulp(L) / sqrt(12).
 *   Truncation: a probe whose D4 stands out of the noise (|D4 - median| > GC_CURVED sqrt(34)
 *   delta) sees the loss bend on the scale of h. Its step is halved (new losses at +-h/2; the old
 *   +-h become the 2h pair), which cuts truncation 16-fold and doubles the rounding part, until
 *   D4 is back in the noise or the step is 2^-GC_MAX_HALVINGS of the base one. Truncation error
 *   goes as h^4, so after a halving n(h) - n(h/2) is 15 times what is left in n(h/2): that
 *   estimate, |n(h) - n(h/2)| / 15, joins the tolerance.
 *
 * The verdict, taken once every probe of the variant is in:
 *     |a - n| <= GC_ABS_FLOOR + GC_REL max(|a|, |n|) + GC_K C_N delta / h + truncation
 * through lv_tolerance_margin, so a NaN or infinite a or n fails. GC_K = 8 standard deviations
 * of the rounding part: over the ~20000 probes of `--probes 20` on every variant a normal
 * exceeds 5; the rest is room for delta being an estimate and for tensors whose losses are a
 * little noisier than the variant's median. */
#include "gradcheck.h"
#include "error.h"
#include "model.h"
#include "rng.h"
#include "tolerance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GC_BATCH 3
#define GC_NOISE 0.05          /* std of the noise added to every parameter */
#define GC_STEP_LOG2 (-7)      /* finite-difference step 2^-7, times 2^ceil(log2 |x|) if |x| > 1 */
#define GC_MAX_HALVINGS 3      /* so the smallest step is 2^-10 (times the same scale) */
#define GC_ABS_FLOOR 1e-6      /* the tolerance, see the top of the file */
#define GC_REL 1e-3
#define GC_K 8.0
#define GC_C_N 0.9501462       /* sqrt(130) / 12 */
#define GC_CURVED 4.0          /* D4 this many of its noise stds from the median: bent at h */
#define GC_REL_FLOOR 0.1       /* denominator floor of the reported relative error */

static const lv_gradcheck_variant variants[] = {
    { "joint", "", 0 },
    { "factorized", "attn=factorized", 0 },
    { "frame-mean", "attn=frame frame_pool=mean", 0 },
    { "frame-attn", "attn=frame frame_pool=attn", 0 },
    { "coarse-t", "tubelet_t=4", 0 },
    { "coarse-s", "patch=16", 0 },
    { "coarse-ts", "tubelet_t=4 patch=16", 0 },
    { "tubevit", "tubes=tubevit", 0 },
    { "mask-random", "mask_ratio=0.75", 0 },
    { "mask-tube", "mask=tube mask_ratio=0.75", 0 },
    { "adapters", "tune=adapters", 0 },
    { "lora", "tune=lora lora_alpha=8", 0 },
    { "last-k", "tune=last-k freeze_text=1", 0 },
    { "temporal", "attn=factorized tune=temporal", 0 },
    { "image", "attn=factorized", 1 },
    { "clip-vision", "act=quick_gelu pool=cls mask_ratio=0.5", 0 },
    { "clip-image", "act=quick_gelu pool=cls", 1 },
    { "bert-cls", "text_arch=bert text_pool=cls text_ln_eps=1e-12", 0 },
    { "bert-mean", "text_arch=bert text_act=quick_gelu", 0 },
    { "gelu-tanh", "act=gelu_tanh text_act=gelu_tanh", 0 },
};

const lv_gradcheck_variant *lv_gradcheck_variants(int *count)
{
    *count = (int)(sizeof variants / sizeof variants[0]);
    return variants;
}

const lv_gradcheck_variant *lv_gradcheck_find(const char *name)
{
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (!strcmp(variants[i].name, name))
            return &variants[i];
    return NULL;
}

static int apply_overrides(lv_config *c, const char *overrides)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", overrides);
    for (char *save = NULL, *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save))
        if (lv_config_set(c, kv) < 0)
            return -1;
    return lv_config_validate(c);
}

/* The batch: pixels ~ N(0, 0.5^2); sample b's caption has text_len - b tokens, then padding. */
typedef struct {
    float *video;
    int32_t *text;
    uint8_t *valid;
    lv_batch batch;
    int64_t n_pixels;
} gc_data;

static int data_make(gc_data *d, const lv_config *c, int image, lv_rng *r)
{
    const int64_t B = GC_BATCH, T = c->text_len, F = image ? 1 : c->frames;
    d->n_pixels = B * F * c->image_size * c->image_size * 3;
    d->video = lv_malloc((size_t)d->n_pixels * sizeof(float), "the gradcheck video");
    d->text = lv_malloc((size_t)(B * T) * sizeof(int32_t), "the gradcheck captions");
    d->valid = lv_malloc((size_t)(B * T), "the gradcheck caption mask");
    if (!d->video || !d->text || !d->valid)
        return -1;
    for (int64_t i = 0; i < d->n_pixels; i++)
        d->video[i] = (float)(0.5 * lv_rng_normal(r));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            d->valid[b * T + t] = t < T - b;
            d->text[b * T + t] = t < T - b ? 1 + (int32_t)lv_rng_below(r, c->vocab - 1) : 0;
        }
    d->batch = (lv_batch){ .B = B, .video = d->video, .is_image = image, .text = d->text,
                           .text_valid = d->valid, .step = 7 };
    return 0;
}

static void data_free(gc_data *d)
{
    free(d->video);
    free(d->text);
    free(d->valid);
}


/* One probed entry: where, the analytic gradient, and the losses around it. */
typedef struct {
    int64_t tensor;            /* parameter index, -1 for the input pixels */
    int64_t entry;
    double a;                  /* the analytic gradient (after the test hook) */
    double h;                  /* the step (halved while the loss bends at it) */
    double lm2, lm1, lp1, lp2; /* L(x0 - 2h), L(x0 - h), L(x0 + h), L(x0 + 2h) */
    double n, d4;              /* the five-point gradient, the fourth difference */
    double trunc;              /* estimated truncation error of n (0 if never halved) */
    int halvings;
} gc_probe;

typedef struct {
    lv_model *m;
    gc_data *d;
    const lv_gradcheck_options *opt;
    gc_probe *probes;
    int64_t count, cap;
    double loss0;              /* L(0): the unperturbed loss, computed like the others */
} gc_state;

static float *probe_x(gc_state *st, const gc_probe *p)
{
    return p->tensor < 0 ? st->d->video : lv_param_data(&st->m->params, p->tensor);
}

/* The loss with x[i] set to v. */
static double loss_at(lv_model *m, const lv_batch *batch, float *x, int64_t i, double v)
{
    const float saved = x[i];
    x[i] = (float)v;
    const double loss = lv_model_forward(m, batch);
    x[i] = saved;
    return loss;
}

static void derive(gc_probe *p, double loss0)
{
    p->n = (p->lm2 - 8 * p->lm1 + 8 * p->lp1 - p->lp2) / (12 * p->h);
    p->d4 = p->lm2 - 4 * p->lm1 + 6 * loss0 - 4 * p->lp1 + p->lp2;
}

/* The base step is a power of two, so x +- h and x +- 2h are exact in fp32 for |x| below the
 * step's scale: the perturbation is exactly the h the difference divides by. */
static void probe(gc_state *st, gc_probe *p)
{
    float *x = probe_x(st, p);
    const double x0 = x[p->entry];
    const lv_batch *b = &st->d->batch;
    p->h = ldexp(1.0, GC_STEP_LOG2) * (fabs(x0) > 1 ? exp2(ceil(log2(fabs(x0)))) : 1);
    p->lm2 = loss_at(st->m, b, x, p->entry, x0 - 2 * p->h);
    p->lm1 = loss_at(st->m, b, x, p->entry, x0 - p->h);
    p->lp1 = loss_at(st->m, b, x, p->entry, x0 + p->h);
    p->lp2 = loss_at(st->m, b, x, p->entry, x0 + 2 * p->h);
    derive(p, st->loss0);
}

/* Halves the step: the old +-h losses become the +-2h pair, two new losses at +-h/2. */
static void halve(gc_state *st, gc_probe *p)
{
    float *x = probe_x(st, p);
    const double x0 = x[p->entry], before = p->n;
    p->h /= 2;
    p->lm2 = p->lm1;
    p->lp2 = p->lp1;
    p->lm1 = loss_at(st->m, &st->d->batch, x, p->entry, x0 - p->h);
    p->lp1 = loss_at(st->m, &st->d->batch, x, p->entry, x0 + p->h);
    derive(p, st->loss0);
    p->trunc = fabs(before - p->n) / 15;
    p->halvings++;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* delta and the median of D4, over the probes with finite losses (see the top of the file). */
static int noise_floor(const gc_state *st, double *delta, double *center)
{
    double *v = lv_malloc((size_t)(st->count ? st->count : 1) * sizeof *v, "the noise estimate");
    if (!v)
        return -1;
    int64_t k = 0;
    for (int64_t j = 0; j < st->count; j++)
        if (isfinite(st->probes[j].d4))
            v[k++] = st->probes[j].d4;
    *center = k ? median(v, k) : 0.0;
    for (int64_t j = 0; j < k; j++)
        v[j] = fabs(v[j] - *center);
    const double spread = k ? 1.4826 * median(v, k) : 0.0;
    free(v);
    const float l0 = (float)fabs(st->loss0);
    const double ulp = (double)nextafterf(l0, INFINITY) - l0;
    *delta = fmax(spread / sqrt(34.0), ulp / sqrt(12.0));
    return 0;
}

static double tolerance(const gc_probe *p, double delta)
{
    return GC_ABS_FLOOR + GC_REL * fmax(fabs(p->a), fabs(p->n)) + GC_K * GC_C_N * delta / p->h
           + p->trunc;
}

/* The analytic gradient the checker compares for entry i of a tensor, after the test hook. */
static double analytic(const lv_gradcheck_options *opt, const char *name, const float *g,
                       int64_t n, int64_t i)
{
    double a = g[i];
    if (!opt || !opt->corrupt_tensor || strcmp(opt->corrupt_tensor, name))
        return a;
    if (opt->corrupt_scale != 0.0)
        a *= opt->corrupt_scale;
    if (opt->corrupt_zero_largest) {
        int64_t largest = 0;           /* the first largest, as pick() takes it */
        for (int64_t q = 1; q < n; q++)
            if (fabsf(g[q]) > fabsf(g[largest]))
                largest = q;
        if (i == largest)
            a = 0.0;
    }
    return a;
}

/* Entries to probe in a tensor of n: evenly spread, plus the largest |gradient| entries (the
 * ones a wrong gradient is most visible in), all distinct. */
static int64_t pick(int64_t *at, int64_t probes, const float *grad, int64_t n, lv_rng *r)
{
    const int64_t k = probes < n ? probes : n;
    int64_t count = 0;
    for (int64_t j = 0; j < k - k / 2; j++)
        at[count++] = (int64_t)lv_rng_below(r, (uint64_t)n);
    for (int64_t j = 0; j < k / 2; j++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++) {
            int taken = 0;
            for (int64_t q = 0; q < count && !taken; q++)
                taken = at[q] == i;
            if (!taken && (best < 0 || fabsf(grad[i]) > fabsf(grad[best])))
                best = i;
        }
        if (best >= 0)
            at[count++] = best;
    }
    return count;
}

/* Picks a tensor's entries and takes the four losses around each. */
static int add_probes(gc_state *st, int64_t tensor, const char *name, const float *g, int64_t n,
                      int64_t probes, int64_t *at, lv_rng *r)
{
    const int64_t k = pick(at, probes, g, n, r);
    if (st->count + k > st->cap) {
        const int64_t cap = 2 * (st->count + k);
        gc_probe *grown = realloc(st->probes, (size_t)cap * sizeof *grown);
        if (!grown)
            return lv_set_error("out of memory for %lld gradcheck probes", (long long)cap);
        st->probes = grown;
        st->cap = cap;
    }
    for (int64_t j = 0; j < k; j++) {
        gc_probe *p = &st->probes[st->count++];
        *p = (gc_probe){ .tensor = tensor, .entry = at[j],
                         .a = analytic(st->opt, name, g, n, at[j]) };
        probe(st, p);
    }
    return 0;
}

static const char *probe_name(const gc_state *st, const gc_probe *p)
{
    return p->tensor < 0 ? "input pixels" : st->m->params.p[p->tensor].name;
}

/* Judges every probe, one log line per tensor (and one per failing entry), and fills res. */
static void judge(const gc_state *st, double delta, FILE *log, lv_gradcheck_result *res)
{
    for (int64_t j0 = 0, j1; j0 < st->count; j0 = j1) {
        for (j1 = j0; j1 < st->count && st->probes[j1].tensor == st->probes[j0].tensor; j1++) {}
        const char *name = probe_name(st, &st->probes[j0]);
        double max_abs = 0, max_rel = 0, max_margin = 0, max_grad = 0;
        int64_t failed = 0;
        for (int64_t j = j0; j < j1; j++) {
            const gc_probe *p = &st->probes[j];
            const double err = fabs(p->a - p->n), tol = tolerance(p, delta);
            const double margin = lv_tolerance_margin(p->a, p->n, tol, 0.0);
            const double scale = fmax(fmax(fabs(p->a), fabs(p->n)), GC_REL_FLOOR);
            max_abs = lv_margin_max(max_abs, isfinite(err) ? err : INFINITY);
            max_rel = lv_margin_max(max_rel, isfinite(err) ? err / scale : INFINITY);
            max_margin = lv_margin_max(max_margin, margin);
            max_grad = lv_margin_max(max_grad, fabs(p->a));
            res->refined += p->halvings > 0;
            if (!(margin <= 1.0)) {
                failed++;
                if (log)
                    fprintf(log, "      entry %lld: analytic %.6e numeric %.6e err %.2e tol %.2e "
                            "step 2^%d: FAIL\n", (long long)p->entry, p->a, p->n, err, tol,
                            (int)lrint(log2(p->h)));
            }
            if (res->entries == 0 || !(margin <= res->max_margin)) {
                res->max_margin = margin;
                snprintf(res->worst_margin, sizeof res->worst_margin, "%s", name);
                res->worst_entry = p->entry;
                res->worst_err = err;
                res->worst_tol = tol;
                res->worst_analytic = p->a;
                res->worst_numeric = p->n;
                res->worst_step = p->h;
            }
            res->entries++;
        }
        if (log)
            fprintf(log, "    %-44s probes %3lld  max |grad| %.1e  abs err %.2e  rel err %.2e  "
                    "margin %.2f  %s\n", name, (long long)(j1 - j0), max_grad, max_abs, max_rel,
                    max_margin, failed ? "FAIL" : "ok");
        if (res->tensors == 0 || !(max_rel <= res->max_rel_err)) {
            res->max_rel_err = max_rel;
            snprintf(res->worst, sizeof res->worst, "%s", name);
        }
        res->tensors++;
        res->failed += failed;
    }
}

static int check_model(lv_model *m, gc_data *d, int64_t probes, const lv_gradcheck_options *opt,
                       FILE *log, lv_gradcheck_result *res, lv_rng *r)
{
    lv_params *ps = &m->params;
    gc_state st = { .m = m, .d = d, .opt = opt };
    int64_t *at = lv_malloc((size_t)probes * sizeof *at, "the probe list");
    float *pixel_grad = lv_malloc((size_t)d->n_pixels * sizeof(float), "the pixel gradient");
    int rc = -1;
    if (!at || !pixel_grad)
        goto done;
    lv_params_zero_grad(ps);
    const float loss = lv_model_forward(m, &d->batch);
    lv_model_backward(m, &d->batch);
    memcpy(pixel_grad, m->dvideo, (size_t)d->n_pixels * sizeof(float));
    st.loss0 = lv_model_forward(m, &d->batch);      /* L(0), taken as loss_at takes the others */
    if (log)
        fprintf(log, "  loss %.6f, %lld trainable tensors\n", loss,
                (long long)(ps->n_grad_floats ? ps->count : 0));
    for (int64_t i = 0; i < ps->count; i++) {
        const float *g = lv_param_grad(ps, i);
        if (g && add_probes(&st, i, ps->p[i].name, g, ps->p[i].numel, probes, at, r) < 0)
            goto done;
    }
    if (add_probes(&st, -1, "input pixels", pixel_grad, d->n_pixels, probes, at, r) < 0)
        goto done;

    double delta, center;
    if (noise_floor(&st, &delta, &center) < 0)
        goto done;
    const double bent = GC_CURVED * sqrt(34.0) * delta;
    for (int64_t j = 0; j < st.count; j++) {
        gc_probe *p = &st.probes[j];
        while (p->halvings < GC_MAX_HALVINGS && !(fabs(p->d4 - center) <= bent))
            halve(&st, p);
    }
    res->noise = delta;
    res->noise_grad = GC_C_N * delta / ldexp(1.0, GC_STEP_LOG2);
    judge(&st, delta, log, res);
    if (log)
        fprintf(log, "  noise floor: the fp32 loss rounds by %.2e (from the spread of D4 over "
                "%lld probes), %.2e in a gradient at step 2^%d, tolerated %g times that; "
                "%lld probes on a smaller step\n", delta, (long long)st.count, res->noise_grad,
                GC_STEP_LOG2, GC_K, (long long)res->refined);
    rc = 0;
done:
    free(st.probes);
    free(at);
    free(pixel_grad);
    return rc;
}

int lv_gradcheck_run(const lv_config *base, const lv_gradcheck_variant *v, int64_t probes,
                     const lv_backend *be, FILE *log, lv_gradcheck_result *res)
{
    return lv_gradcheck_run_opts(base, v, probes, be, NULL, log, res);
}

int lv_gradcheck_run_opts(const lv_config *base, const lv_gradcheck_variant *v, int64_t probes,
                          const lv_backend *be, const lv_gradcheck_options *opt, FILE *log,
                          lv_gradcheck_result *res)
{
    *res = (lv_gradcheck_result){ 0 };
    lv_config c = *base;
    if (apply_overrides(&c, v->overrides) < 0)
        return -1;
    lv_model m;
    gc_data d = { 0 };
    lv_rng r = lv_rng_stream(c.seed, LV_RNG_TEST, 1, 0);
    int rc = -1;
    if (lv_model_build(&m, &c, be) == 0 && lv_model_alloc_acts(&m, GC_BATCH, 1) == 0
        && data_make(&d, &c, v->image, &r) == 0) {
        for (int64_t i = 0; i < m.params.count; i++) {   /* move off the initial point */
            float *x = lv_param_data(&m.params, i);
            for (int64_t j = 0; j < m.params.p[i].numel; j++)
                x[j] += (float)(GC_NOISE * lv_rng_normal(&r));
        }
        if (log)
            fprintf(log, "variant %s (%s%s)\n", v->name,
                    v->overrides[0] ? v->overrides : "defaults", v->image ? ", image batch" : "");
        rc = check_model(&m, &d, probes, opt, log, res, &r);
    }
    data_free(&d);
    lv_model_free(&m);
    return rc;
}
