/* Training checkpoints (see checkpoint.h), on top of the model's parameter I/O: the same
 * names and validation, plus the optimiser state and the training position. */
#include "checkpoint.h"
#include "error.h"
#include "model_io.h"
#include "safetensors.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lv_checkpoint_save(const char *path, const lv_model *m, const lv_adamw *opt,
                       const lv_train_state *st)
{
    /* host views of backend memory (the slabs themselves on a host-memory backend) */
    float *copies[3];
    const float *params = lv_host_view(m->be, m->params.data, m->params.n_floats, &copies[0]);
    const float *mom = lv_host_view(opt->be, opt->m, opt->n, &copies[1]);
    const float *vel = lv_host_view(opt->be, opt->v, opt->n, &copies[2]);
    lv_st_writer *w = params && mom && vel ? lv_st_writer_new() : NULL;
    if (!w) {
        free(copies[0]), free(copies[1]), free(copies[2]);
        return -1;
    }
    char num[4][32];
    snprintf(num[0], sizeof num[0], "%" PRId64, st->step);
    snprintf(num[1], sizeof num[1], "%" PRId64, st->data_position);
    snprintf(num[2], sizeof num[2], "%" PRId64, opt->t);
    snprintf(num[3], sizeof num[3], "%" PRId64, st->image_position);
    lv_model_add_to_writer(w, m, params, LV_CKPT_FORMAT);
    lv_st_writer_meta(w, "step", num[0]);
    lv_st_writer_meta(w, "data_position", num[1]);
    lv_st_writer_meta(w, "adamw_t", num[2]);
    lv_st_writer_meta(w, "image_position", num[3]);
    lv_st_writer_meta(w, "train_args", st->train_args ? st->train_args : "");
    lv_st_writer_add_f32(w, "optimizer.adamw.m", mom, 1, &opt->n);
    lv_st_writer_add_f32(w, "optimizer.adamw.v", vel, 1, &opt->n);
    lv_st_writer_add_f32(w, "train.loss", st->losses, 1, &st->n_losses);
    const int rc = lv_st_writer_write(w, path);
    lv_st_writer_free(w);
    free(copies[0]), free(copies[1]), free(copies[2]);
    return rc;
}

static int meta_int(lv_st_file *f, const char *path, const char *key, int64_t *out)
{
    const char *v = lv_st_meta(f, key);
    char *end;
    if (!v || (*out = strtoll(v, &end, 10), *end) || *out < 0)
        return lv_set_error("%s: metadata '%s' is missing or not a count; the checkpoint is "
                            "damaged", path, key);
    return 0;
}

/* Reads tensor name (n floats) into out; -1 + lv_error() if absent or of another size. */
static int read_flat(lv_st_file *f, const char *path, const char *name, float *out, int64_t n)
{
    const lv_st_tensor *t = lv_st_find(f, name);
    if (!t || t->numel != n)
        return lv_set_error("%s: tensor '%s' is %s (want %" PRId64 " floats); this checkpoint "
                            "belongs to another configuration or tuning mode", path, name,
                            t ? "of another size" : "missing", n);
    if (lv_st_read_f32(f, t, out, n) < 0)
        return -1;
    for (int64_t k = 0; k < n; k++)        /* a NaN moment would make every update NaN */
        if (!isfinite(out[k]))
            return lv_set_error("%s: tensor '%s' entry %" PRId64 " is %s: the optimiser state is "
                                "not finite (the run diverged before this checkpoint); resume "
                                "from an earlier one", path, name, k, isnan(out[k]) ? "NaN" : "Inf");
    return 0;
}

int lv_checkpoint_load(const char *path, lv_model *m, lv_adamw *opt, lv_train_state *st,
                       char **train_args)
{
    lv_st_file *f = lv_st_open(path);
    if (!f)
        return -1;
    const char *format = lv_st_meta(f, "format");
    int64_t adamw_t = 0;
    int rc = (!format || strcmp(format, LV_CKPT_FORMAT))
           ? lv_set_error("%s: not a longvivit training checkpoint (format '%s'); use a "
                          "ckpt.safetensors written by longvivit train", path,
                          format ? format : "(none)")
           : 0;
    *st = (lv_train_state){ 0 };
    if (rc == 0)
        rc = meta_int(f, path, "step", &st->step);
    if (rc == 0)
        rc = meta_int(f, path, "data_position", &st->data_position);
    if (rc == 0)
        rc = meta_int(f, path, "adamw_t", &adamw_t);
    if (rc == 0)
        rc = meta_int(f, path, "image_position", &st->image_position);
    const lv_st_tensor *loss = rc == 0 ? lv_st_find(f, "train.loss") : NULL;
    float *losses = NULL, *m_new = NULL;
    if (rc == 0 && !loss)
        rc = lv_set_error("%s: no train.loss tensor; the checkpoint is damaged", path);
    if (rc == 0) {
        losses = lv_malloc((size_t)(loss->numel ? loss->numel : 1) * sizeof *losses, "losses");
        m_new = lv_malloc((size_t)(opt->n > 0 ? 2 * opt->n : 1) * sizeof *m_new, "moments");
        rc = losses && m_new ? 0 : -1;
    }
    if (rc == 0)
        rc = lv_st_read_f32(f, loss, losses, loss->numel);
    if (rc == 0)
        rc = read_flat(f, path, "optimizer.adamw.m", m_new, opt->n);
    if (rc == 0)
        rc = read_flat(f, path, "optimizer.adamw.v", m_new + opt->n, opt->n);
    const char *args = lv_st_meta(f, "train_args");
    *train_args = rc == 0 ? strdup(args ? args : "") : NULL;
    const int64_t n_losses = loss ? loss->numel : 0;     /* loss lives in f: read before close */
    lv_st_close(f);
    if (rc == 0)
        rc = lv_model_load(m, path);       /* validates every tensor before touching any */
    if (rc == 0) {
        opt->be->upload(opt->m, m_new, (size_t)opt->n * sizeof(float));
        opt->be->upload(opt->v, m_new + opt->n, (size_t)opt->n * sizeof(float));
        opt->t = adamw_t;
        st->losses = losses;
        st->n_losses = n_losses;
        losses = NULL;
    } else {
        free(*train_args);
        *train_args = NULL;
    }
    free(losses);
    free(m_new);
    return rc;
}
