/* The parameter descriptor table and its slabs (see params.h). */
#include "params.h"
#include "error.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t lv_params_add(lv_params *ps, const char *name, const lv_param_spec *spec)
{
    LV_REQUIRE(spec->ndim >= 0 && spec->ndim <= LV_PARAM_MAX_DIMS &&
               strlen(name) < LV_PARAM_NAME_MAX);
    LV_REQUIRE(ps->data == NULL);            /* the table is complete once allocated */
    if (ps->count == ps->cap) {
        const int64_t cap = ps->cap ? 2 * ps->cap : 64;
        lv_param *p = realloc(ps->p, (size_t)cap * sizeof *p);
        if (!p)
            return lv_set_error("out of memory growing the parameter table to %lld rows",
                                (long long)cap);
        ps->p = p;
        ps->cap = cap;
    }
    const int copies = spec->init == LV_INIT_COPY || spec->init == LV_INIT_INFLATE_AVERAGE ||
                       spec->init == LV_INIT_INFLATE_CENTRAL;
    lv_param *p = &ps->p[ps->count];
    *p = (lv_param){ .ndim = spec->ndim, .numel = 1, .trainable = spec->trainable,
                     .decay = spec->decay, .init = spec->init, .init_value = spec->init_value,
                     .source = copies ? spec->source : -1 };
    snprintf(p->name, sizeof p->name, "%s", name);
    for (int d = 0; d < spec->ndim; d++) {
        p->shape[d] = spec->shape[d];
        p->numel *= spec->shape[d];
    }
    p->offset = ps->n_floats;
    ps->n_floats += p->numel;
    p->grad_offset = p->trainable ? ps->n_grad_floats : -1;
    if (p->trainable)
        ps->n_grad_floats += p->numel;
    return ps->count++;
}

void lv_params_freeze(lv_params *ps)
{
    LV_REQUIRE(!ps->data);
    for (int64_t i = 0; i < ps->count; i++) {
        ps->p[i].trainable = 0;
        ps->p[i].grad_offset = -1;
    }
    ps->n_grad_floats = 0;
}

int lv_params_alloc(lv_params *ps, const lv_backend *be)
{
    ps->be = be;
    ps->data = be->alloc((size_t)ps->n_floats * sizeof(float), "the parameters");
    if (!ps->data)
        return -1;
    if (ps->n_grad_floats) {
        ps->grad = be->alloc((size_t)ps->n_grad_floats * sizeof(float), "the gradients");
        if (!ps->grad)
            return -1;
    }
    return 0;
}

void lv_inflate_kernel(float *w3, const float *w2, int64_t D, int64_t V2, int64_t t, int central)
{
    for (int64_t d = 0; d < D; d++)
        for (int64_t dt = 0; dt < t; dt++)
            for (int64_t e = 0; e < V2; e++) {
                const float w = w2[d * V2 + e];
                w3[(d * t + dt) * V2 + e] = central ? (dt == t / 2 ? w : 0.0f) : w / (float)t;
            }
}

int lv_params_init(lv_params *ps, uint64_t seed)
{
    /* the host values: the slab itself on a host-memory backend, else a staging copy */
    const int in_place = ps->be->host_memory;
    float *host = in_place ? ps->data
                           : lv_malloc((size_t)ps->n_floats * sizeof *host,
                                       "the parameters' initial values");
    if (!host)
        return -1;
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        float *x = host + p->offset;
        lv_rng r = lv_rng_stream(seed, LV_RNG_INIT, 0, (uint32_t)i);
        switch (p->init) {
        case LV_INIT_ZERO:
            memset(x, 0, (size_t)p->numel * sizeof *x);
            break;
        case LV_INIT_ONE:
        case LV_INIT_CONST:
            for (int64_t k = 0; k < p->numel; k++)
                x[k] = p->init == LV_INIT_ONE ? 1.0f : (float)p->init_value;
            break;
        case LV_INIT_NORMAL:
            for (int64_t k = 0; k < p->numel; k++)
                x[k] = (float)(p->init_value * lv_rng_normal(&r));
            break;
        case LV_INIT_UNIFORM:
            for (int64_t k = 0; k < p->numel; k++)
                x[k] = (float)(p->init_value * (2.0 * lv_rng_uniform(&r) - 1.0));
            break;
        case LV_INIT_COPY:
            LV_REQUIRE(p->source >= 0 && p->source < i && ps->p[p->source].numel == p->numel);
            memcpy(x, host + ps->p[p->source].offset, (size_t)p->numel * sizeof *x);
            break;
        case LV_INIT_INFLATE_AVERAGE:
        case LV_INIT_INFLATE_CENTRAL: {
            const lv_param *s = &ps->p[p->source];
            LV_REQUIRE(p->source >= 0 && p->source < i && s->shape[0] == p->shape[0] &&
                       p->shape[1] % s->shape[1] == 0);
            lv_inflate_kernel(x, host + s->offset, p->shape[0], s->shape[1],
                              p->shape[1] / s->shape[1], p->init == LV_INIT_INFLATE_CENTRAL);
            break;
        }
        }
    }
    if (!in_place) {
        ps->be->upload(ps->data, host, (size_t)ps->n_floats * sizeof *host);
        free(host);
    }
    return 0;
}

const float *lv_host_view(const lv_backend *be, const float *src, int64_t n, float **copy)
{
    *copy = NULL;
    if (be->host_memory)
        return src;
    *copy = lv_malloc((size_t)(n > 0 ? n : 1) * sizeof(float), "a host copy of backend memory");
    if (*copy)
        be->download(*copy, src, (size_t)n * sizeof(float));
    return *copy;
}

void lv_params_zero_grad(lv_params *ps)
{
    if (ps->grad)
        ps->be->set(ps->grad, 0.0f, ps->n_grad_floats);
}

void lv_params_free(lv_params *ps)
{
    free(ps->p);
    if (ps->be) {
        ps->be->free(ps->data);
        ps->be->free(ps->grad);
    }
    *ps = (lv_params){ 0 };
}

int64_t lv_params_find(const lv_params *ps, const char *name)
{
    for (int64_t i = 0; i < ps->count; i++)
        if (!strcmp(ps->p[i].name, name))
            return i;
    return -1;
}

int64_t lv_params_count_floats(const lv_params *ps, const char *prefix, int trainable_only)
{
    int64_t n = 0;
    for (int64_t i = 0; i < ps->count; i++)
        if (!strncmp(ps->p[i].name, prefix, strlen(prefix)) &&
            (!trainable_only || ps->p[i].trainable))
            n += ps->p[i].numel;
    return n;
}
