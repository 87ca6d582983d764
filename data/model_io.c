/* Model parameters to and from safetensors (see model_io.h): the descriptor table gives the
 * names and shapes, the metadata carries the configuration. Validates before it copies. */
#include "model_io.h"
#include "clip_init.h"
#include "error.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lv_model_add_to_writer(lv_st_writer *w, const lv_model *m, const float *host_params,
                            const char *format)
{
    char config[4096];
    LV_REQUIRE(lv_config_format(&m->cfg, config, sizeof config) < sizeof config);
    lv_st_writer_meta(w, "format", format);
    lv_st_writer_meta(w, "config", config);
    if (m->vocab)
        lv_st_writer_meta(w, "vocab", m->vocab);
    for (int64_t i = 0; i < m->params.count; i++) {
        const lv_param *p = &m->params.p[i];
        lv_st_writer_add_f32(w, p->name, host_params + p->offset, p->ndim, p->shape);
    }
}

int lv_model_save(const lv_model *m, const char *path)
{
    float *copy;
    const float *host = lv_host_view(m->be, m->params.data, m->params.n_floats, &copy);
    lv_st_writer *w = host ? lv_st_writer_new() : NULL;
    if (!w) {
        free(copy);
        return -1;
    }
    lv_model_add_to_writer(w, m, host, LV_PARAMS_FORMAT);
    const int rc = lv_st_writer_write(w, path);
    lv_st_writer_free(w);
    free(copy);
    return rc;
}

static lv_st_file *open_params(const char *path)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return NULL;
    const char *format = lv_st_meta(f, "format");
    if (!format || (strcmp(format, LV_PARAMS_FORMAT) && strcmp(format, LV_CKPT_FORMAT)) ||
        !lv_st_meta(f, "config")) {
        lv_set_error("%s: not a longvivit parameter file or checkpoint (metadata format '%s'); "
                     "for a CLIP checkpoint use lv_model_init_from_clip", path,
                     format ? format : "(none)");
        lv_st_close(f);
        return NULL;
    }
    return f;
}

/* Every tensor the configuration implies, by name and shape, against the file's header, from the
 * descriptor table alone: a few bytes of metadata must not make a loader allocate gigabytes
 * before it finds out that the tensors are another model's. */
static int check_tensors(const lv_config *c, lv_st_file *f, const char *path)
{
    lv_model t;
    if (lv_model_build_table(&t, c, NULL) < 0) {
        lv_model_free(&t);
        return lv_set_error("%s: the configuration in its metadata: %s", path, lv_error());
    }
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < t.params.count; i++) {
        const lv_param *p = &t.params.p[i];
        const lv_st_tensor *x = lv_st_find(f, p->name);
        int same = x && x->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = x->shape[d] == p->shape[d];
        if (same)
            continue;
        char want[128], have[128];
        lv_st_shape_text(want, sizeof want, p->ndim, p->shape, "[]");
        if (!x)
            rc = lv_set_error("%s: tensor '%s' (%s by the configuration in its metadata) is not in "
                              "the file: the metadata does not describe its tensors (the file is "
                              "damaged or was edited); nothing was allocated for it. Use the file "
                              "longvivit wrote", path, p->name, want);
        else {
            lv_st_shape_text(have, sizeof have, x->ndim, x->shape, "[]");
            rc = lv_set_error("%s: tensor '%s' is %s in the file, but the configuration in its "
                              "metadata makes it %s: the metadata does not describe the tensors "
                              "(the file is damaged or was edited); nothing was allocated for it. "
                              "Use the file longvivit wrote", path, p->name, have, want);
        }
    }
    lv_model_free(&t);
    return rc;
}

int lv_config_from_file(lv_config *c, const char *path)
{
    lv_st_file *f = open_params(path);
    if (!f)
        return -1;
    char *text = strdup(lv_st_meta(f, "config"));
    if (!text) {
        lv_st_close(f);
        return lv_set_error("out of memory reading the configuration of %s", path);
    }
    int rc = lv_config_preset(c, "tiny");
    int line_no = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && rc == 0;
         l = strtok_r(NULL, "\n", &save)) {
        line_no++;
        if (lv_config_set(c, l) < 0)
            rc = lv_set_error("%s: configuration line %d: %s", path, line_no, lv_error());
    }
    free(text);
    if (rc == 0)
        rc = lv_config_validate(c);
    if (rc == 0)
        rc = check_tensors(c, f, path);
    lv_st_close(f);
    return rc;
}

int lv_vocab_from_file(char **vocab, const char *path)
{
    *vocab = NULL;
    lv_st_file *f = open_params(path);
    if (!f)
        return -1;
    const char *v = lv_st_meta(f, "vocab");
    if (v && !(*vocab = strdup(v))) {
        lv_st_close(f);
        return lv_set_error("out of memory reading the vocabulary stored in %s", path);
    }
    lv_st_close(f);
    return 0;
}

/* A NaN or Inf parameter makes every embedding NaN and every metric meaningless: refused where
 * a file's parameters are read, naming the first such entry. */
static int check_finite(const char *path, const char *name, const float *x, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return lv_set_error("%s: tensor '%s' entry %lld is %s: the parameters are not finite "
                                "(the run diverged before this file was written); use an earlier "
                                "checkpoint, or train again with a lower learning rate",
                                path, name, (long long)k, isnan(x[k]) ? "NaN" : "Inf");
    return 0;
}

/* A bounded list of names for an error message; the count is always exact. */
typedef struct {
    char text[12000];
    int count;
} name_list;

static void name_add(name_list *l, const char *name)
{
    const size_t n = strlen(l->text);
    if (n + strlen(name) + 4 < sizeof l->text)
        snprintf(l->text + n, sizeof l->text - n, "%s%s", l->count ? ", " : "", name);
    else if (n + 5 < sizeof l->text && !strstr(l->text, "..."))
        snprintf(l->text + n, sizeof l->text - n, ", ...");
    l->count++;
}

int lv_model_load(lv_model *m, const char *path)
{
    lv_st_file *f = open_params(path);
    if (!f)
        return -1;
    const lv_params *ps = &m->params;
    name_list missing = { "", 0 }, reshaped = { "", 0 };
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        const lv_st_tensor *t = lv_st_find(f, p->name);
        int same = t && t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = t->shape[d] == p->shape[d];
        if (!t)
            name_add(&missing, p->name);
        else if (!same)
            name_add(&reshaped, p->name);
    }
    const int count = missing.count + reshaped.count;
    float *staged = count ? NULL : lv_malloc((size_t)ps->n_floats * sizeof(float),
                                             "the staged parameters");
    for (int64_t i = 0; staged && i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        if (lv_st_read_f32(f, lv_st_find(f, p->name), staged + p->offset, p->numel) < 0 ||
            check_finite(path, p->name, staged + p->offset, p->numel) < 0) {
            free(staged);
            staged = NULL;
        }
    }
    lv_st_close(f);
    if (count)
        return lv_set_error("%s: %d tensors do not fit this model: %d missing (%s), %d of another "
                            "shape (%s); rebuild the model from the file's own configuration "
                            "(lv_config_from_file)", path, count, missing.count, missing.text,
                            reshaped.count, reshaped.text);
    if (!staged)
        return -1;
    ps->be->upload(ps->data, staged, (size_t)ps->n_floats * sizeof(float));
    free(staged);
    return 0;
}

static int is_temporal_table(const char *name)
{
    const size_t n = strlen(name), k = strlen("pos.temporal");
    return n >= k && !strcmp(name + n - k, "pos.temporal");
}

int lv_model_start_from(lv_model *m, const char *path, int64_t *copied, int64_t *resized,
                        int64_t *kept)
{
    lv_st_file *f = open_params(path);
    if (!f)
        return -1;
    const lv_params *ps = &m->params;
    name_list bad = { "", 0 };
    *copied = *resized = *kept = 0;
    for (int64_t i = 0; i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        const lv_st_tensor *t = lv_st_find(f, p->name);
        if (!t)
            continue;
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = t->shape[d] == p->shape[d];
        if (!same && !(is_temporal_table(p->name) && t->ndim == 2 && t->shape[1] == p->shape[1]))
            name_add(&bad, p->name);
    }
    float *staged = bad.count ? NULL : lv_malloc((size_t)ps->n_floats * sizeof(float),
                                                 "the staged parameters");
    int rc = staged ? 0 : -1;
    if (staged)
        ps->be->download(staged, ps->data, (size_t)ps->n_floats * sizeof(float));
    for (int64_t i = 0; rc == 0 && i < ps->count; i++) {
        const lv_param *p = &ps->p[i];
        const lv_st_tensor *t = lv_st_find(f, p->name);
        if (!t) {
            (*kept)++;
        } else if (t->numel == p->numel) {
            rc = lv_st_read_f32(f, t, staged + p->offset, p->numel);
            if (rc == 0)
                rc = check_finite(path, p->name, staged + p->offset, p->numel);
            (*copied)++;
        } else {
            float *old = lv_malloc((size_t)t->numel * sizeof(float), "a temporal table");
            rc = old ? lv_st_read_f32(f, t, old, t->numel) : -1;
            if (rc == 0)
                rc = check_finite(path, p->name, old, t->numel);
            if (rc == 0)
                lv_temporal_resize(staged + p->offset, old, t->shape[0], p->shape[0],
                                   p->shape[1], m->cfg.temporal_extend);
            free(old);
            (*resized)++;
        }
    }
    lv_st_close(f);
    if (bad.count)
        rc = lv_set_error("%s: %d tensors have another shape than this model's (%s); only the "
                          "number of frames may differ between the runs", path, bad.count,
                          bad.text);
    if (rc == 0)
        ps->be->upload(ps->data, staged, (size_t)ps->n_floats * sizeof(float));
    free(staged);
    return rc;
}
