/* The background loader (see loader.h): a pool of threads fills two batch buffers, one while
 * the caller reads the other. The threads take positions of a deterministic stream (one
 * permutation of the clips per epoch) in order, each with the batch slot it will have if every
 * earlier sample loads, and decode straight into that slot; finished samples are accepted in
 * stream order under the lock. A sample that fails is counted and leaves a hole: the positions
 * handed out after it are dropped once those in flight are done, and the stream goes on from
 * the position after the bad one, at its slot. So every batch is the one a single thread taking
 * the stream in order would make, whatever the timing and the number of threads. All buffers
 * are allocated at open (a thread's preprocessing scratch grows only for a larger frame);
 * nothing is copied. */
#include "loader.h"
#include "error.h"
#include "image.h"
#include "preprocess.h"
#include "rng.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SLOT_EMPTY = 0, SLOT_LOADING, SLOT_DONE };

typedef struct {                 /* one sample slot of a batch buffer, as the stream sees it */
    int64_t position;            /* the stream position loaded into it */
    int state;                   /* SLOT_EMPTY, SLOT_LOADING or SLOT_DONE */
    int ok;                      /* done: 1 loaded, 0 failed (error says why) */
    char error[512];
} slot_state;

typedef struct {
    struct lv_loader *l;
    int id;                      /* 0 .. threads - 1 */
    float *scratch;              /* preprocessing scratch, sized for the largest frame seen */
    int64_t scratch_floats;
    pthread_t thread;
} worker;

typedef struct {                 /* a position handed to a thread, and where it goes */
    int64_t step, b, position, clip;
} claim;

struct lv_loader {
    const lv_clip_list *clips;
    const lv_tokenizer *tok;
    lv_loader_spec spec;
    int64_t *wanted;             /* (n) indices of the entries of the wanted kind */
    int64_t *order;              /* (n) epoch order_epoch's permutation of wanted */
    int64_t n, order_epoch;
    lv_loader_batch buf[2];
    slot_state *slots;           /* (2, B) the slots of buf[0], then of buf[1] */
    worker *workers;             /* (threads) */
    int threads, started;        /* started: threads running (joined at close) */
    int has_lock;                /* lock and changed are initialised */
    /* the rest is shared: read and written under lock */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int64_t claim_pos;           /* the next stream position to hand out */
    int64_t fill_step, fill_b;   /* the batch and slot it will fill */
    int64_t accept_step, accept_b;   /* the next slot to accept, in stream order */
    int64_t in_flight;           /* samples being loaded */
    int rewinding;               /* a sample failed: no claims until in_flight is 0 */
    int64_t rewind_pos;          /* where the stream goes on after the failed sample */
    int64_t tried, skipped;      /* positions accepted (absolute, like batch.position); failed */
    char last_error[512];
    int ready[2];                /* buffer holds a finished batch */
    int failed, stopping, reading;   /* reading: the buffer the caller holds, or -1 */
    int64_t next_step;           /* the caller's: the step lv_loader_next returns next */
};

int lv_loader_default_threads(void)
{
    const char *omp = getenv("OMP_NUM_THREADS");
    long n = 0;
    if (omp) {                   /* "4" or a nested list "4,2": the first level */
        char *end = NULL;
        n = strtol(omp, &end, 10);
        if (end == omp || (*end && *end != ','))
            n = 0;
    }
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > LV_LOADER_MAX_THREADS ? LV_LOADER_MAX_THREADS : (int)n;
}

static void shuffle_epoch(lv_loader *l, int64_t epoch)
{
    memcpy(l->order, l->wanted, (size_t)l->n * sizeof *l->order);
    l->order_epoch = epoch;
    if (!l->spec.shuffle)
        return;
    lv_rng r = lv_rng_stream(l->spec.seed, LV_RNG_DATA, (uint32_t)epoch, 0);
    for (int64_t i = l->n - 1; i > 0; i--) {
        const int64_t j = (int64_t)lv_rng_below(&r, (uint64_t)i + 1), t = l->order[i];
        l->order[i] = l->order[j];
        l->order[j] = t;
    }
}

/* The clip at stream position p: entry p mod n of epoch p / n's permutation (a pure function
 * of the seed, so a rewind or a resume lands on the same clip). */
static int64_t clip_at(lv_loader *l, int64_t p)
{
    if (p / l->n != l->order_epoch)
        shuffle_epoch(l, p / l->n);
    return l->order[p % l->n];
}

static int sharded(const lv_loader *l)
{
    return l->spec.shard_count > 1;
}

/* Whether position p is this rank's: runs of `batch` positions go to the ranks in turn,
 * counted from where this run started. */
static int mine(const lv_loader *l, int64_t p)
{
    if (!sharded(l))
        return 1;
    const int64_t run = (p - l->spec.start_position) / l->spec.batch;
    return run % l->spec.shard_count == l->spec.shard_rank;
}

static slot_state *slot_of(lv_loader *l, int64_t step, int64_t b)
{
    return &l->slots[(step % 2) * l->spec.batch + b];
}

static int grow_scratch(worker *w, int64_t H, int64_t W, int64_t S)
{
    const int64_t need = lv_preprocess_scratch_floats(H, W, S);
    if (need <= w->scratch_floats)
        return 0;
    float *s = realloc(w->scratch, (size_t)need * sizeof *s);
    if (!s)
        return lv_set_error("out of memory for preprocessing %lldx%lld frames", (long long)W,
                            (long long)H);
    w->scratch = s;
    w->scratch_floats = need;
    return 0;
}

/* Decodes and preprocesses clip c into slot b of batch out with thread w's scratch; -1 +
 * lv_error() on failure. */
static int load_sample(lv_loader *l, worker *w, lv_loader_batch *out, int64_t b, int64_t c)
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
            rc = grow_scratch(w, img.height, img.width, S);
            if (rc == 0)
                lv_preprocess(dst, img.rgb, 1, img.height, img.width, S, s->mean, s->std,
                              w->scratch);
            lv_image_free(&img);
        }
        out->valid_frames[b] = 1;
    } else {
        /* several loader threads decode several clips at once: one decoding thread each
         * (FFmpeg's own threads would only compete with them); a lone loader thread lets
         * FFmpeg thread its decoding */
        const lv_sample_spec spec = { .fps = s->fps, .max_frames = F, .mode = s->mode,
                                      .start = e->start, .end = e->end,
                                      .decode_threads = l->threads > 1 ? 1 : 0 };
        lv_frames fr;
        rc = lv_video_read(&fr, e->video, &spec);
        if (rc == 0) {
            rc = grow_scratch(w, fr.height, fr.width, S);
            if (rc == 0)
                lv_preprocess(dst, fr.rgb, F, fr.height, fr.width, S, s->mean, s->std,
                              w->scratch);
            out->valid_frames[b] = fr.valid;
            lv_frames_free(&fr);
        }
    }
    if (rc < 0)
        return -1;
    if (s->test_thread_dependent)
        dst[0] += (float)w->id;
    lv_tokenizer_encode(l->tok, e->caption, out->text + b * s->text_len,
                        out->text_valid + b * s->text_len, s->text_len);
    out->clip[b] = c;
    return 0;
}

/* Whether a thread may take the next position: the loader runs, no rewind is pending, and the
 * slot's buffer is the one being filled or the next, neither finished nor the caller's. */
static int can_claim(const lv_loader *l)
{
    const int k = (int)(l->fill_step % 2);
    return !l->stopping && !l->failed && !l->rewinding && l->fill_step - l->accept_step < 2 &&
           !l->ready[k] && l->reading != k;
}

/* Hands out the next position of this rank's stream with the slot it fills if every sample
 * before it loads (the lock held). */
static claim claim_next(lv_loader *l)
{
    while (!mine(l, l->claim_pos))
        l->claim_pos++;
    const claim c = { .step = l->fill_step, .b = l->fill_b, .position = l->claim_pos,
                      .clip = clip_at(l, l->claim_pos) };
    slot_state *s = slot_of(l, c.step, c.b);
    s->position = c.position;
    s->state = SLOT_LOADING;
    l->claim_pos++;
    if (++l->fill_b == l->spec.batch) {
        l->fill_b = 0;
        l->fill_step++;
    }
    l->in_flight++;
    return c;
}

/* A failed sample at the head of the stream: counted; the loader stops when too many have
 * failed (a data-parallel rank at the first), else the stream goes on after it, at its slot. */
static void reject(lv_loader *l, const slot_state *s)
{
    l->skipped++;
    snprintf(l->last_error, sizeof l->last_error, "%s", s->error);
    const int64_t tried = l->tried - l->spec.start_position;   /* in this run */
    if (sharded(l) ||
        ((double)l->skipped > l->spec.max_bad_fraction * (double)tried && tried >= 10) ||
        (l->skipped >= l->n && l->skipped == tried)) {  /* not one sample of an epoch decodes */
        l->failed = 1;
        return;
    }
    l->rewinding = 1;
    l->rewind_pos = s->position + 1;
}

/* The positions handed out after a failed one are dropped (none is in flight any more): the
 * stream goes on from the position after it, into its slot. */
static void rewind_stream(lv_loader *l)
{
    l->claim_pos = l->rewind_pos;
    l->fill_step = l->accept_step;
    l->fill_b = l->accept_b;
    l->rewinding = 0;
}

/* The batch being accepted is full: its counters, then it is the caller's to take. */
static void finish_batch(lv_loader *l)
{
    const lv_loader_spec *s = &l->spec;
    const int k = (int)(l->accept_step % 2);
    lv_loader_batch *out = &l->buf[k];
    out->B = s->batch;
    out->step = l->accept_step;
    out->skipped = l->skipped;
    /* a rank's batch also passes over the later ranks' shares of the global batch */
    out->position = l->tried + (sharded(l) ? (s->shard_count - 1 - s->shard_rank) * s->batch : 0);
    out->epoch = (out->position - 1) / l->n;
    l->ready[k] = 1;
    l->accept_step++;
    l->accept_b = 0;
}

/* Accepts the finished samples at the head of the stream, in stream order. */
static void accept(lv_loader *l)
{
    while (!l->rewinding && !l->failed &&
           (l->accept_step < l->fill_step || l->accept_b < l->fill_b)) {
        slot_state *s = slot_of(l, l->accept_step, l->accept_b);
        if (s->state != SLOT_DONE)
            return;
        s->state = SLOT_EMPTY;
        l->tried = s->position + 1;
        if (!s->ok)
            reject(l, s);
        else if (++l->accept_b == l->spec.batch)
            finish_batch(l);
    }
}

/* A loader thread: take a position, load it without the lock, report it and accept what can
 * be accepted; until the loader stops or fails. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    lv_loader *l = w->l;
    char name[16];               /* what top -H and perf show */
    snprintf(name, sizeof name, "lv-loader-%d", w->id);
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->stopping && !l->failed && !can_claim(l))
            pthread_cond_wait(&l->changed, &l->lock);
        if (l->stopping || l->failed)
            break;
        const claim c = claim_next(l);
        pthread_mutex_unlock(&l->lock);
        const int ok = load_sample(l, w, &l->buf[c.step % 2], c.b, c.clip) == 0;
        pthread_mutex_lock(&l->lock);
        l->in_flight--;
        if (!l->rewinding) {     /* else the sample is one of those a rewind drops */
            slot_state *s = slot_of(l, c.step, c.b);
            s->ok = ok;
            if (!ok)
                snprintf(s->error, sizeof s->error, "%s", lv_error());
            s->state = SLOT_DONE;
            accept(l);
        }
        if (l->rewinding && l->in_flight == 0)
            rewind_stream(l);
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
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

/* The threads: spec.threads or the default, no more than the 2 B slots they can fill. */
static int thread_count(const lv_loader_spec *spec)
{
    const int64_t want = spec->threads > 0 ? spec->threads : lv_loader_default_threads();
    return (int)(want < 2 * spec->batch ? want : 2 * spec->batch);
}

static int start_threads(lv_loader *l)
{
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    l->has_lock = 1;
    for (int i = 0; i < l->threads; i++) {
        l->workers[i] = (worker){ .l = l, .id = i };
        if (pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i]) != 0)
            return lv_set_error("loader: cannot start background thread %d of %d; give fewer "
                                "with --loader-threads", i + 1, l->threads);
        l->started++;
    }
    return 0;
}

lv_loader *lv_loader_open(const lv_clip_list *clips, const lv_tokenizer *tok,
                          const lv_loader_spec *spec)
{
    const int bad_shard = spec->shard_count > 1 &&
                          (spec->shard_rank < 0 || spec->shard_rank >= spec->shard_count);
    if (spec->batch < 1 || spec->size < 1 || spec->text_len < 2 || spec->frames < 1 ||
        bad_shard || spec->threads < 0 || spec->threads > LV_LOADER_MAX_THREADS) {
        lv_set_error("loader: batch, size, frames must be >= 1, text_len >= 2, the shard a "
                     "rank of the count and threads from 0 (the default) to %d",
                     LV_LOADER_MAX_THREADS);
        return NULL;
    }
    lv_loader *l = lv_calloc(1, sizeof *l, "the loader");
    if (!l)
        return NULL;
    *l = (lv_loader){ .clips = clips, .tok = tok, .spec = *spec, .reading = -1,
                      .threads = thread_count(spec), .order_epoch = -1,
                      .claim_pos = spec->start_position, .tried = spec->start_position };
    l->wanted = lv_calloc((size_t)(clips->n ? clips->n : 1), sizeof(int64_t), "the clip order");
    l->order = lv_calloc((size_t)(clips->n ? clips->n : 1), sizeof(int64_t), "the clip order");
    l->slots = lv_calloc((size_t)(2 * spec->batch), sizeof *l->slots, "the loader's slots");
    l->workers = lv_calloc((size_t)l->threads, sizeof *l->workers, "the loader's threads");
    if (!l->wanted || !l->order || !l->slots || !l->workers ||
        alloc_batch(&l->buf[0], spec) < 0 || alloc_batch(&l->buf[1], spec) < 0) {
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
    if (start_threads(l) < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", lv_error());
        lv_loader_close(l);
        lv_set_error("%s", why);
        return NULL;
    }
    return l;
}

int lv_loader_next(lv_loader *l, const lv_loader_batch **out)
{
    const int k = (int)(l->next_step % 2);
    pthread_mutex_lock(&l->lock);
    if (l->reading >= 0) {               /* hand the previous batch back to the threads */
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
    if (!ok && sharded(l))
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

int lv_loader_threads(const lv_loader *l)
{
    return l->threads;
}

void lv_loader_close(lv_loader *l)
{
    if (!l)
        return;
    if (l->has_lock) {
        pthread_mutex_lock(&l->lock);
        l->stopping = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        for (int i = 0; i < l->started; i++)
            pthread_join(l->workers[i].thread, NULL);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->changed);
    }
    for (int i = 0; l->workers && i < l->threads; i++)
        free(l->workers[i].scratch);
    free_batch(&l->buf[0]);
    free_batch(&l->buf[1]);
    free(l->wanted);
    free(l->order);
    free(l->slots);
    free(l->workers);
    free(l);
}
