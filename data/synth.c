/* The synthetic long-range benchmark (see synth.h): stories, captions, rendering, hard negatives
 * and the files on disk. Everything is a pure function of (seed, video index, time), so the
 * dataset is the same on every machine; the videos go through a real encoder and decoder. */
#include "synth.h"
#include "error.h"
#include "rng.h"
#include "video_write.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYNTH_FPS 2                 /* frames per second of the written videos */

static const char *const colours[] = { "red", "green", "blue", "yellow", "magenta", "cyan" };
static const uint8_t colour_rgb[][3] = { { 230, 40, 40 }, { 40, 200, 60 }, { 50, 80, 240 },
                                         { 240, 220, 40 }, { 220, 60, 220 }, { 40, 220, 230 } };
static const char *const shapes[] = { "square", "circle", "triangle" };
static const char *const motions[] = { "right", "left", "up", "down" };
enum { N_COLOURS = 6, N_SHAPES = 3, N_MOTIONS = 4 };

static const char *const words[] = {
    "a", "moves", "then", ",", ".", "what", "happens", "in", "the", "video", "?",
    "red", "green", "blue", "yellow", "magenta", "cyan", "square", "circle", "triangle",
    "right", "left", "up", "down",
};

const char *const *lv_synth_words(int *count)
{
    *count = (int)(sizeof words / sizeof words[0]);
    return words;
}

lv_synth_spec lv_synth_defaults(void)
{
    return (lv_synth_spec){ .videos = 64, .frames = 64, .size = 64, .events = 4, .group = 4,
                            .shared = 2, .test_fraction = 0.25, .seed = 1 };
}

static lv_synth_event random_event(lv_rng *r)
{
    return (lv_synth_event){ (int)lv_rng_below(r, N_COLOURS), (int)lv_rng_below(r, N_SHAPES),
                             (int)lv_rng_below(r, N_MOTIONS) };
}

static int same_event(lv_synth_event a, lv_synth_event b)
{
    return a.colour == b.colour && a.shape == b.shape && a.motion == b.motion;
}

/* The late events of member j of a group: drawn in member order from the group's stream,
 * redrawn until they differ from every earlier member's (so a group's videos are told apart
 * only late) and, inside the video, consecutive late events differ in colour (so reordering
 * them changes what is seen). */
static void late_events(lv_synth_event *out, const lv_synth_spec *spec, int64_t g, int64_t j)
{
    const int64_t late = spec->events - spec->shared;
    lv_synth_event seen[64][LV_SYNTH_MAX_EVENTS];
    lv_rng r = lv_rng_stream(spec->seed, LV_RNG_DATA, 2, (uint32_t)g);
    for (int64_t m = 0; m <= j; m++) {
        for (int distinct = 0; !distinct;) {
            for (int64_t i = 0; i < late; i++)
                do
                    seen[m % 64][i] = random_event(&r);
                while (i > 0 && seen[m % 64][i].colour == seen[m % 64][i - 1].colour);
            distinct = 1;
            for (int64_t q = (m > 63 ? m - 63 : 0); q < m && distinct; q++) {
                int same = 1;
                for (int64_t i = 0; i < late; i++)
                    same &= same_event(seen[q % 64][i], seen[m % 64][i]);
                distinct = !same;
            }
        }
    }
    memcpy(out, seen[j % 64], (size_t)late * sizeof *out);
}

void lv_synth_story_of(lv_synth_story *s, const lv_synth_spec *spec, int64_t v)
{
    const int64_t g = v / spec->group;
    lv_rng r = lv_rng_stream(spec->seed, LV_RNG_DATA, 1, (uint32_t)g);
    s->n = spec->events;
    for (int64_t i = 0; i < spec->shared; i++)
        s->ev[i] = random_event(&r);
    late_events(s->ev + spec->shared, spec, g, v % spec->group);
}

size_t lv_synth_caption(char *out, size_t size, const lv_synth_story *s)
{
    size_t n = 0;
    for (int64_t i = 0; i < s->n; i++)
        n += (size_t)snprintf(out + (n < size ? n : size), n < size ? size - n : 0,
                              "%sa %s %s moves %s", i ? ", then " : "", colours[s->ev[i].colour],
                              shapes[s->ev[i].shape], motions[s->ev[i].motion]);
    n += (size_t)snprintf(out + (n < size ? n : size), n < size ? size - n : 0, ".");
    return n;
}

/* e with every attribute changed (so the change is visible however the model looks). */
static lv_synth_event other_event(lv_synth_event e, int k)
{
    return (lv_synth_event){ (e.colour + 1 + k % (N_COLOURS - 1)) % N_COLOURS,
                             (e.shape + 1 + k % (N_SHAPES - 1)) % N_SHAPES,
                             (e.motion + 1 + k % (N_MOTIONS - 1)) % N_MOTIONS };
}

void lv_synth_distractors(lv_synth_story out[4], const lv_synth_story *s,
                          const lv_synth_spec *spec)
{
    const int64_t a = spec->shared, last = s->n - 1;
    const int k = s->ev[0].colour + s->ev[a].shape;        /* varies the replacements */
    for (int i = 0; i < 4; i++)
        out[i] = *s;
    out[0].ev[a] = s->ev[last];                           /* the late events reordered */
    out[0].ev[last] = s->ev[a];
    out[1].ev[last] = other_event(s->ev[last], k);        /* another last event */
    out[2].ev[a] = other_event(s->ev[a], k + 1);          /* another first late event */
    out[3].ev[a] = other_event(s->ev[a], k + 2);          /* both late events replaced */
    out[3].ev[last] = other_event(s->ev[last], k + 3);
}

/* ---- rendering ------------------------------------------------------------------------------ */

static int inside(int shape, double dx, double dy, double r)
{
    switch (shape) {
    case 0: return fabs(dx) <= r && fabs(dy) <= r;
    case 1: return dx * dx + dy * dy <= r * r;
    default: return dy >= -r && dy <= r && fabs(dx) <= (dy + r) / 2;   /* pointing up */
    }
}

void lv_synth_render(uint8_t *rgb, const lv_synth_story *s, const lv_synth_spec *spec,
                     int64_t v, double t)
{
    const int64_t S = spec->size;
    const double span = (double)spec->frames / (double)s->n;
    const int64_t i = (int64_t)(t / span);
    const int visible = i >= 0 && i < s->n;
    const double p = visible ? (t - (double)i * span) / span : 0;   /* progress in [0, 1) */
    double cx = 0.5 * S, cy = 0.5 * S;
    if (visible) {
        const double from = 0.2 * S, to = 0.8 * S, along = from + (to - from) * p;
        switch (s->ev[i].motion) {
        case 0: cx = along; break;
        case 1: cx = S - along; break;
        case 2: cy = S - along; break;
        default: cy = along; break;
        }
    }
    const double r = S / 7.0;
    for (int64_t y = 0; y < S; y++)
        for (int64_t x = 0; x < S; x++) {
            uint8_t *px = rgb + (y * S + x) * 3;
            const int texture = (int)((x * 7 + y * 13 + v * 5) % 11);   /* faint, static */
            px[0] = px[1] = (uint8_t)(36 + texture);
            px[2] = (uint8_t)(44 + texture);
            if (visible && inside(s->ev[i].shape, x + 0.5 - cx, y + 0.5 - cy, r))
                memcpy(px, colour_rgb[s->ev[i].colour], 3);
        }
}

/* ---- files ---------------------------------------------------------------------------------- */

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return lv_set_error("%s: cannot create: %s; check that the folder is writable", tmp,
                            strerror(errno));
    const int ok = fputs(text, fp) >= 0;
    if (fclose(fp) != 0 || !ok || rename(tmp, path) != 0) {
        remove(tmp);
        return lv_set_error("%s: writing failed: %s; check free disk space", path,
                            strerror(errno));
    }
    return 0;
}

/* A growing text buffer for the manifests. */
typedef struct {
    char *text;
    size_t len, cap;
} text_buf;

static int append(text_buf *b, const char *fmt, ...) LV_PRINTF(2, 3);

static int append(text_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(b->text ? b->text + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return 0;
        }
        const size_t cap = 2 * (b->cap + (size_t)n) + 256;
        char *t = realloc(b->text, cap);
        if (!t)
            return lv_set_error("out of memory building a manifest");
        b->text = t;
        b->cap = cap;
    }
}

static int write_video(const char *path, const lv_synth_story *s, const lv_synth_spec *spec,
                       int64_t v, uint8_t *rgb)
{
    lv_video_writer *w = lv_video_writer_open(path, spec->size, spec->size, SYNTH_FPS, 1, NULL);
    if (!w)
        return -1;
    for (int64_t f = 0; f < spec->frames * SYNTH_FPS; f++) {
        lv_synth_render(rgb, s, spec, v, (double)f / SYNTH_FPS);
        if (lv_video_writer_add(w, rgb) < 0) {
            lv_video_writer_close(w);
            return -1;
        }
    }
    return lv_video_writer_close(w);
}

static int check_spec(const lv_synth_spec *spec)
{
    if (spec->videos < 1 || spec->frames < spec->events || spec->size < 16 ||
        spec->events < 2 || spec->events > LV_SYNTH_MAX_EVENTS || spec->shared < 0 ||
        spec->shared > spec->events - 2 || spec->group < 1 ||
        !(spec->test_fraction > 0 && spec->test_fraction < 1))
        return lv_set_error("synth: need videos >= 1, 2 <= events <= %d, frames >= events, "
                            "size >= 16, 0 <= shared <= events - 2, group >= 1 and a test "
                            "fraction in (0, 1)", LV_SYNTH_MAX_EVENTS);
    return 0;
}

int lv_synth_write(const char *dir, const lv_synth_spec *spec,
                   void (*progress)(int64_t done, int64_t total))
{
    if (check_spec(spec) < 0)
        return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/videos", dir);
    if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || (mkdir(path, 0755) != 0 && errno != EEXIST))
        return lv_set_error("%s: cannot create the output folder: %s", path, strerror(errno));
    const int64_t groups = (spec->videos + spec->group - 1) / spec->group;
    const int64_t test_from = groups - (int64_t)ceil(groups * spec->test_fraction);
    uint8_t *rgb = lv_malloc((size_t)(spec->size * spec->size * 3), "a synthetic frame");
    text_buf train = { 0 }, test = { 0 }, mcq = { 0 };
    int rc = rgb ? 0 : -1;
    for (int64_t v = 0; v < spec->videos && rc == 0; v++) {
        lv_synth_story s, neg[4];
        char caption[512], name[64];
        lv_synth_story_of(&s, spec, v);
        lv_synth_caption(caption, sizeof caption, &s);
        snprintf(name, sizeof name, "videos/v%04lld.mp4", (long long)v);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        rc = write_video(path, &s, spec, v, rgb);
        const int is_test = v / spec->group >= test_from;
        if (rc == 0)
            rc = append(is_test ? &test : &train, "{\"video\": \"%s\", \"caption\": \"%s\"}\n",
                        name, caption);
        if (rc == 0 && is_test) {
            lv_synth_distractors(neg, &s, spec);
            const int answer = (int)(v % 5);
            rc = append(&mcq, "{\"video\": \"%s\", \"question\": \"what happens in the video?\","
                        " \"options\": [", name);
            for (int k = 0, d = 0; k < 5 && rc == 0; k++) {
                if (k != answer)
                    lv_synth_caption(caption, sizeof caption, &neg[d++]);
                else
                    lv_synth_caption(caption, sizeof caption, &s);
                rc = append(&mcq, "%s\"%s\"", k ? ", " : "", caption);
            }
            if (rc == 0)
                rc = append(&mcq, "], \"answer\": %d}\n", answer);
        }
        if (progress)
            progress(v + 1, spec->videos);
    }
    text_buf vocab = { 0 };
    static const char *const special[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
    for (int i = 0; i < 5 && rc == 0; i++)
        rc = append(&vocab, "%s\n", special[i]);
    for (size_t i = 0; i < sizeof words / sizeof words[0] && rc == 0; i++)
        rc = append(&vocab, "%s\n", words[i]);
    if (rc == 0)
        rc = write_text(dir, "train.jsonl", train.text ? train.text : "");
    if (rc == 0)
        rc = write_text(dir, "test.jsonl", test.text ? test.text : "");
    if (rc == 0)
        rc = write_text(dir, "mcq.jsonl", mcq.text ? mcq.text : "");
    if (rc == 0)
        rc = write_text(dir, "vocab.txt", vocab.text);
    free(rgb);
    free(train.text);
    free(test.text);
    free(mcq.text);
    free(vocab.text);
    return rc;
}
