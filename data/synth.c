/* The synthetic long-range benchmark (see synth.h): stories, captions, summaries, rendering, hard
 * negatives, questions about the late events and the files on disk. Everything is a pure
 * function of (seed, video index, time), so the dataset is the same on every machine; the videos
 * go through a real encoder and decoder. */
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
    /* summaries and questions (issue 17): after the caption words, whose ids stay as they were */
    "first", "next", "finally", "after", "is", "last", "thing", "that", "colour", "shape",
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

size_t lv_synth_summary(char *out, size_t size, const lv_synth_story *s)
{
    size_t n = 0;
    for (int64_t i = 0; i < s->n; i++) {
        const char *when = i == 0 ? "first" : i == s->n - 1 ? "finally" : "next";
        n += (size_t)snprintf(out + (n < size ? n : size), n < size ? size - n : 0,
                              "%s%s a %s %s moves %s.", i ? " " : "", when,
                              colours[s->ev[i].colour], shapes[s->ev[i].shape],
                              motions[s->ev[i].motion]);
    }
    return n;
}

/* e with every attribute changed (the questions' last-resort options). */
static lv_synth_event other_event(lv_synth_event e, int k)
{
    return (lv_synth_event){ (e.colour + 1 + k % (N_COLOURS - 1)) % N_COLOURS,
                             (e.shape + 1 + k % (N_SHAPES - 1)) % N_SHAPES,
                             (e.motion + 1 + k % (N_MOTIONS - 1)) % N_MOTIONS };
}

/* The four wrong options: the truth's first `shared` events, then late events drawn as a
 * video's are (each uniform, consecutive late events of different colours), from a stream keyed
 * by the story itself, redrawn until every option's late part differs from the truth's and the
 * other options'. Drawn, not edited from the truth: the options are then exchangeable for a
 * model that does not see the late events, whose accuracy is chance. (Options made by editing
 * the truth's late events, as before, were not: every model trained here, and the blind floor,
 * preferred the edited ones, 88% of the picks of a 16-frame model.) */
static int same_late(const lv_synth_story *a, const lv_synth_story *b, int64_t from)
{
    for (int64_t i = from; i < a->n; i++)
        if (!same_event(a->ev[i], b->ev[i]))
            return 0;
    return 1;
}

void lv_synth_distractors(lv_synth_story out[4], const lv_synth_story *s,
                          const lv_synth_spec *spec)
{
    const int64_t a = spec->shared;
    LV_REQUIRE(a < s->n);        /* without late events no option could differ from the truth */
    uint32_t key = 2166136261u;                           /* FNV-1a over the story's events */
    for (int64_t i = 0; i < s->n; i++) {
        const int attr[3] = { s->ev[i].colour, s->ev[i].shape, s->ev[i].motion };
        for (int k = 0; k < 3; k++)
            key = (key ^ (uint32_t)attr[k]) * 16777619u;
    }
    lv_rng r = lv_rng_stream(spec->seed, LV_RNG_DATA, 3, key);
    for (int d = 0; d < 4; d++) {
        out[d] = *s;
        for (int fresh = 0; !fresh;) {
            for (int64_t i = a; i < s->n; i++)
                do
                    out[d].ev[i] = random_event(&r);
                while (i > a && out[d].ev[i].colour == out[d].ev[i - 1].colour);
            fresh = !same_late(&out[d], s, a);
            for (int q = 0; q < d && fresh; q++)
                fresh = !same_late(&out[d], &out[q], a);
        }
    }
}

/* ---- questions about the late events --------------------------------------------------------- */

int64_t lv_synth_group_stories(lv_synth_story *out, const lv_synth_spec *spec, int64_t g)
{
    const int64_t first = g * spec->group;
    const int64_t n = spec->videos - first < spec->group ? spec->videos - first : spec->group;
    for (int64_t j = 0; j < n; j++)
        lv_synth_story_of(&out[j], spec, first + j);
    return n > 0 ? n : 0;
}

/* The answer of question `kind` about story s (a colour answer has shape = motion = -1); 0 when
 * the story cannot be asked it: the after-question's anchor (event shared - 1) must exist and
 * happen once, else "after" names no single moment. */
static int qa_answer(lv_synth_event *a, const lv_synth_story *s, int64_t shared,
                     lv_synth_qa_kind kind)
{
    const lv_synth_event last = s->ev[s->n - 1];
    switch (kind) {
    case LV_SYNTH_QA_AFTER: {
        if (shared < 1)
            return 0;
        int times = 0;
        for (int64_t i = 0; i < s->n; i++)
            times += same_event(s->ev[i], s->ev[shared - 1]);
        *a = s->ev[shared];
        return times == 1;
    }
    case LV_SYNTH_QA_LAST:
        *a = last;
        return 1;
    default:
        *a = (lv_synth_event){ last.colour, -1, -1 };
        return 1;
    }
}

static void qa_text(char *out, size_t size, lv_synth_event a)
{
    if (a.shape < 0)
        snprintf(out, size, "%s", colours[a.colour]);
    else
        snprintf(out, size, "a %s %s moves %s", colours[a.colour], shapes[a.shape],
                 motions[a.motion]);
}

/* A list of distinct answers (72 events: 6 colours x 3 shapes x 4 motions). */
typedef struct {
    lv_synth_event e[N_COLOURS * N_SHAPES * N_MOTIONS];
    int n;
} answer_set;

static int answer_index(const answer_set *l, lv_synth_event a)
{
    for (int i = 0; i < l->n; i++)
        if (same_event(l->e[i], a))
            return i;
    return -1;
}

static void answer_add(answer_set *l, lv_synth_event a)
{
    if (answer_index(l, a) < 0)
        l->e[l->n++] = a;
}

/* The five options before rotation: the block of five distinct answers that holds the truth
 * (index t), then the group's other answers, its other late events (their colours), then events
 * unlike the first answer (the colours in order), none twice and none the question's own event
 * (avoid, may be NULL). */
static void qa_options(answer_set *opt, const answer_set *answers, int t,
                       const lv_synth_story *mates, int64_t n, int64_t shared, int colour_only,
                       const lv_synth_event *avoid)
{
    const int from = t / 5 * 5;
    opt->n = 0;
    for (int i = from; i < answers->n && i < from + 5; i++)
        answer_add(opt, answers->e[i]);
    for (int i = 0; i < answers->n && opt->n < 5; i++)
        answer_add(opt, answers->e[i]);
    for (int64_t m = 0; m < n && opt->n < 5; m++)
        for (int64_t i = shared; i < mates[m].n && opt->n < 5; i++) {
            const lv_synth_event e = mates[m].ev[i];
            answer_add(opt, colour_only ? (lv_synth_event){ e.colour, -1, -1 } : e);
        }
    for (int k = 0; opt->n < 5; k++) {      /* 30 distinct events, or the 6 colours */
        const lv_synth_event e = colour_only ? (lv_synth_event){ k % N_COLOURS, -1, -1 }
                                             : other_event(answers->e[0], k);
        if (!avoid || !same_event(e, *avoid))
            answer_add(opt, e);
    }
}

static void qa_question(char *out, size_t size, const lv_synth_story *s, int64_t shared,
                        lv_synth_qa_kind kind)
{
    if (kind == LV_SYNTH_QA_AFTER) {
        const lv_synth_event e = s->ev[shared - 1];
        snprintf(out, size, "what happens after the %s %s moves %s?", colours[e.colour],
                 shapes[e.shape], motions[e.motion]);
    } else if (kind == LV_SYNTH_QA_LAST) {
        snprintf(out, size, "what is the last thing that happens?");
    } else {
        snprintf(out, size, "what colour is the last shape?");
    }
}

int lv_synth_question(lv_synth_qa *q, const lv_synth_story *mates, int64_t n, int64_t j,
                      const lv_synth_spec *spec, int64_t g, lv_synth_qa_kind kind)
{
    LV_REQUIRE(j >= 0 && j < n && kind >= 0 && kind < LV_SYNTH_QA_KINDS);
    answer_set answers = { .n = 0 };
    lv_synth_event truth, a;
    for (int64_t m = 0; m < n; m++) {
        if (!qa_answer(&a, &mates[m], spec->shared, kind))
            return 0;
        answer_add(&answers, a);
    }
    qa_answer(&truth, &mates[j], spec->shared, kind);
    if (answers.n < 2)          /* all alike: the shared start would tell the answer */
        return 0;
    *q = (lv_synth_qa){ .answer = 0 };     /* every byte set: equal questions compare equal */
    qa_question(q->question, sizeof q->question, &mates[j], spec->shared, kind);
    answer_set opt;
    qa_options(&opt, &answers, answer_index(&answers, truth), mates, n, spec->shared,
               kind == LV_SYNTH_QA_COLOUR,
               kind == LV_SYNTH_QA_AFTER ? &mates[j].ev[spec->shared - 1] : NULL);
    const int turn = (int)((g + kind) % 5);
    for (int i = 0; i < 5; i++)
        qa_text(q->options[(i + turn) % 5], sizeof q->options[0], opt.e[i]);
    q->answer = (answer_index(&opt, truth) + turn) % 5;
    return 1;
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

/* The questions about video v (a test video of the group whose stories are mates[0, n)), one
 * line each in mcq.jsonl's format with an id naming the video and the kind. */
static int append_questions(text_buf *qa, const char *name, const lv_synth_story *mates,
                            int64_t n, const lv_synth_spec *spec, int64_t v)
{
    static const char *const kinds[LV_SYNTH_QA_KINDS] = { "after", "last", "colour" };
    int rc = 0;
    for (int kind = 0; kind < LV_SYNTH_QA_KINDS && rc == 0; kind++) {
        lv_synth_qa q;
        if (!lv_synth_question(&q, mates, n, v % spec->group, spec, v / spec->group, kind))
            continue;
        rc = append(qa, "{\"video\": \"%s\", \"question\": \"%s\", \"options\": [", name,
                    q.question);
        for (int k = 0; k < 5 && rc == 0; k++)
            rc = append(qa, "%s\"%s\"", k ? ", " : "", q.options[k]);
        if (rc == 0)
            rc = append(qa, "], \"answer\": %d, \"id\": \"v%04lld-%s\"}\n", q.answer,
                        (long long)v, kinds[kind]);
    }
    return rc;
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
    const int64_t group = spec->group < spec->videos ? spec->group : spec->videos;
    uint8_t *rgb = lv_malloc((size_t)(spec->size * spec->size * 3), "a synthetic frame");
    lv_synth_story *mates = lv_malloc((size_t)group * sizeof *mates, "a group's stories");
    text_buf train = { 0 }, test = { 0 }, mcq = { 0 }, qa = { 0 };
    int64_t n_mates = 0;
    int rc = rgb && mates ? 0 : -1;
    for (int64_t v = 0; v < spec->videos && rc == 0; v++) {
        lv_synth_story s, neg[4];
        char caption[512], summary[512], name[64];
        lv_synth_story_of(&s, spec, v);
        lv_synth_caption(caption, sizeof caption, &s);
        lv_synth_summary(summary, sizeof summary, &s);
        snprintf(name, sizeof name, "videos/v%04lld.mp4", (long long)v);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        rc = write_video(path, &s, spec, v, rgb);
        const int is_test = v / spec->group >= test_from;
        if (rc == 0)
            rc = append(is_test ? &test : &train, "{\"video\": \"%s\", \"caption\": \"%s\", "
                        "\"summary\": \"%s\"}\n", name, caption, summary);
        if (is_test && v % spec->group == 0)
            n_mates = lv_synth_group_stories(mates, spec, v / spec->group);
        if (rc == 0 && is_test)
            rc = append_questions(&qa, name, mates, n_mates, spec, v);
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
        rc = write_text(dir, "qa.jsonl", qa.text ? qa.text : "");
    if (rc == 0)
        rc = write_text(dir, "vocab.txt", vocab.text);
    free(rgb);
    free(mates);
    free(qa.text);
    free(train.text);
    free(test.text);
    free(mcq.text);
    free(vocab.text);
    return rc;
}
