/* The background loader (see loader.h): two batch buffers, one filled by the worker thread while
 * the caller reads the other; the worker walks a deterministic stream of clip indices (one
 * permutation per epoch), so the batches do not depend on timing. All buffers are allocated once
 * at open. */
#include "loader.h"
#include "error.h"
#include "image.h"
#include "preprocess.h"
#include "rng.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lv_loader {
    const lv_clip_list *clips;
    const lv_tokenizer *tok;
    lv_loader_spec spec;
    int64_t *order;              /* (n) the current epoch's permutation of `wanted` */
    int64_t *wanted;             /* (n) indices of the entries of the wanted kind */
    int64_t n, epoch, cursor;    /* position in the stream */
    lv_loader_batch buf[2];
    float *scratch;              /* preprocessing scratch, sized for the largest frame seen */
    int64_t scratch_floats;
    int64_t tried, skipped;
    char last_error[512];
    /* hand-over between the worker and the caller */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int ready[2];                /* buffer holds a finished batch */
    int started, failed, stopping, reading;   /* reading: the buffer the caller holds, or -1 */
    int64_t next_step;
};

static void shuffle_epoch(lv_loader *l)
{
    memcpy(l->order, l->wanted, (size_t)l->n * sizeof *l->order);
    if (!l->spec.shuffle)
        return;
    lv_rng r = lv_rng_stream(l->spec.seed, LV_RNG_DATA, (uint32_t)l->epoch, 0);
    for (int64_t i = l->n - 1; i > 0; i--) {
        const int64_t j = (int64_t)lv_rng_below(&r, (uint64_t)i + 1), t = l->order[i];
        l->order[i] = l->order[j];
        l->order[j] = t;
    }
}

static int64_t next_clip(lv_loader *l)
{
    if (l->cursor == l->n) {
        l->epoch++;
        l->cursor = 0;
        shuffle_epoch(l);
    }
    return l->order[l->cursor++];
}

static int grow_scratch(lv_loader *l, int64_t H, int64_t W)
{
    const int64_t need = lv_preprocess_scratch_floats(H, W, l->spec.size);
    if (need <= l->scratch_floats)
        return 0;
    float *s = realloc(l->scratch, (size_t)need * sizeof *s);
    if (!s)
        return lv_set_error("out of memory for preprocessing %lldx%lld frames", (long long)W,
                            (long long)H);
    l->scratch = s;
    l->scratch_floats = need;
    return 0;
}

/* Decodes and preprocesses clip c into slot b of batch out; -1 + lv_error() on failure. */
static int load_sample(lv_loader *l, lv_loader_batch *out, int64_t b, int64_t c)
{
    const lv_clip_entry *e = &l->clips->e[c];
    const lv_loader_spec *s = &l->spec;
    const int64_t F = s->images ? 1 : s->frames, S = s->size;
    float *dst = out->video + b * F * S * S * 3;
    int rc;
    if (s->images) {
        lv_image img;
        rc = lv_image_read(&img, e->video);
        if (rc == 0) {
            rc = grow_scratch(l, img.height, img.width);
            if (rc == 0)
                lv_preprocess(dst, img.rgb, 1, img.height, img.width, S, s->mean, s->std,
                              l->scratch);
            lv_image_free(&img);
        }
        out->valid_frames[b] = 1;
    } else {
        const lv_sample_spec spec = { .fps = s->fps, .max_frames = F, .mode = s->mode,
                                      .start = e->start, .end = e->end };
        lv_frames fr;
        rc = lv_video_read(&fr, e->video, &spec);
        if (rc == 0) {
            rc = grow_scratch(l, fr.height, fr.width);
            if (rc == 0)
                lv_preprocess(dst, fr.rgb, F, fr.height, fr.width, S, s->mean, s->std,
                              l->scratch);
            out->valid_frames[b] = fr.valid;
            lv_frames_free(&fr);
        }
    }
    if (rc < 0)
        return -1;
    lv_tokenizer_encode(l->tok, e->caption, out->text + b * s->text_len,
                        out->text_valid + b * s->text_len, s->text_len);
    out->clip[b] = c;
    return 0;
}

/* A data-parallel rank's batch: its consecutive share of the next global batch, the other
 * ranks' positions passed over; -1 at the first sample that fails (nothing replaces it). */
static int fill_shard(lv_loader *l, lv_loader_batch *out)
{
    const lv_loader_spec *s = &l->spec;
    const int64_t before = s->shard_rank * s->batch;
    const int64_t after = (s->shard_count - 1 - s->shard_rank) * s->batch;
    for (int64_t i = 0; i < before; i++, l->tried++)
        next_clip(l);
    for (int64_t b = 0; b < s->batch; b++) {
        const int64_t c = next_clip(l);
        l->tried++;
        if (load_sample(l, out, b, c) < 0) {
            l->skipped++;
            snprintf(l->last_error, sizeof l->last_error, "%s", lv_error());
            return -1;
        }
    }
    for (int64_t i = 0; i < after; i++, l->tried++)
        next_clip(l);
    out->B = s->batch;
    out->epoch = l->epoch;
    out->skipped = l->skipped;
    out->position = l->tried;
    return 0;
}

/* Fills one batch; bad samples are replaced by the next clips. -1 when too many failed.
 * Runs on the worker thread only: tried, skipped and last_error are the worker's. */
static int fill(lv_loader *l, lv_loader_batch *out)
{
    if (l->spec.shard_count > 1)
        return fill_shard(l, out);
    for (int64_t b = 0; b < l->spec.batch;) {
        const int64_t c = next_clip(l);
        l->tried++;
        if (load_sample(l, out, b, c) == 0) {
            b++;
            continue;
        }
        l->skipped++;
        snprintf(l->last_error, sizeof l->last_error, "%s", lv_error());
        const int64_t tried = l->tried - l->spec.start_position;   /* in this run */
        if ((double)l->skipped > l->spec.max_bad_fraction * (double)tried && tried >= 10)
            return -1;
        if (l->skipped >= l->n && l->skipped == tried)
            return -1;                        /* not one sample of a whole epoch decodes */
    }
    out->B = l->spec.batch;
    out->epoch = l->epoch;
    out->skipped = l->skipped;
    out->position = l->tried;
    return 0;
}

static void *worker(void *arg)
{
    lv_loader *l = arg;
    for (int64_t step = 0;; step++) {
        const int k = (int)(step % 2);
        pthread_mutex_lock(&l->lock);
        while (!l->stopping && (l->ready[k] || l->reading == k))
            pthread_cond_wait(&l->changed, &l->lock);
        const int stop = l->stopping;
        pthread_mutex_unlock(&l->lock);
        if (stop)
            return NULL;
        const int rc = fill(l, &l->buf[k]);
        l->buf[k].step = step;
        pthread_mutex_lock(&l->lock);
        if (rc < 0)
            l->failed = 1;
        else
            l->ready[k] = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        if (rc < 0)
            return NULL;
    }
}

static int alloc_batch(lv_loader_batch *b, const lv_loader_spec *s)
{
    const int64_t F = s->images ? 1 : s->frames, B = s->batch;
    b->video = lv_calloc((size_t)(B * F * s->size * s->size * 3), sizeof(float), "a batch");
    b->text = lv_calloc((size_t)(B * s->text_len), sizeof(int32_t), "a batch's captions");
    b->text_valid = lv_calloc((size_t)(B * s->text_len), 1, "a batch's caption masks");
    b->clip = lv_calloc((size_t)B, sizeof(int64_t), "a batch's clip list");
    b->valid_frames = lv_calloc((size_t)B, sizeof(int64_t), "a batch's frame counts");
    return b->video && b->text && b->text_valid && b->clip && b->valid_frames ? 0 : -1;
}

static void free_batch(lv_loader_batch *b)
{
    free(b->video);
    free(b->text);
    free(b->text_valid);
    free(b->clip);
    free(b->valid_frames);
}

lv_loader *lv_loader_open(const lv_clip_list *clips, const lv_tokenizer *tok,
                          const lv_loader_spec *spec)
{
    const int bad_shard = spec->shard_count > 1 &&
                          (spec->shard_rank < 0 || spec->shard_rank >= spec->shard_count);
    if (spec->batch < 1 || spec->size < 1 || spec->text_len < 2 || spec->frames < 1 || bad_shard) {
        lv_set_error("loader: batch, size, frames must be >= 1, text_len >= 2 and the shard a "
                     "rank of the count");
        return NULL;
    }
    lv_loader *l = lv_calloc(1, sizeof *l, "the loader");
    if (!l)
        return NULL;
    *l = (lv_loader){ .clips = clips, .tok = tok, .spec = *spec, .reading = -1 };
    l->wanted = lv_calloc((size_t)(clips->n ? clips->n : 1), sizeof(int64_t), "the clip order");
    l->order = lv_calloc((size_t)(clips->n ? clips->n : 1), sizeof(int64_t), "the clip order");
    if (!l->wanted || !l->order || alloc_batch(&l->buf[0], spec) < 0 ||
        alloc_batch(&l->buf[1], spec) < 0) {
        lv_loader_close(l);
        return NULL;
    }
    for (int64_t i = 0; i < clips->n; i++)
        if (!clips->e[i].is_image == !spec->images)
            l->wanted[l->n++] = i;
    if (l->n == 0) {
        lv_set_error("loader: the list has no %s entries", spec->images ? "image" : "video");
        lv_loader_close(l);
        return NULL;
    }
    l->cursor = l->n;          /* the first next_clip() starts epoch 0 */
    l->epoch = -1;
    for (l->tried = 0; l->tried < spec->start_position; l->tried++)
        next_clip(l);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        lv_set_error("loader: cannot start the background thread");
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->changed);
        lv_loader_close(l);
        return NULL;
    }
    l->started = 1;
    return l;
}

int lv_loader_next(lv_loader *l, const lv_loader_batch **out)
{
    const int k = (int)(l->next_step % 2);
    pthread_mutex_lock(&l->lock);
    if (l->reading >= 0) {               /* hand the previous batch back to the worker */
        l->ready[l->reading] = 0;
        l->reading = -1;
        pthread_cond_broadcast(&l->changed);
    }
    while (!l->ready[k] && !l->failed)
        pthread_cond_wait(&l->changed, &l->lock);
    const int ok = l->ready[k];
    if (ok)
        l->reading = k;
    pthread_mutex_unlock(&l->lock);
    if (!ok && l->spec.shard_count > 1)
        return lv_set_error("loader: %s (a data-parallel rank cannot skip a clip: every rank's "
                            "share of the global batch would shift; fix or remove it from the "
                            "manifest, then --resume)", l->last_error);
    if (!ok)
        return lv_set_error("loader: %lld of %lld samples failed (more than %.0f%%); the last: "
                            "%s", (long long)l->skipped, (long long)l->tried,
                            100 * l->spec.max_bad_fraction, l->last_error);
    l->next_step++;
    *out = &l->buf[k];
    return 0;
}

void lv_loader_close(lv_loader *l)
{
    if (!l)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->lock);
        l->stopping = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->changed);
    }
    free_batch(&l->buf[0]);
    free_batch(&l->buf[1]);
    free(l->wanted);
    free(l->order);
    free(l->scratch);
    free(l);
}
