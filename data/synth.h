/* The synthetic long-range video-text benchmark: stories of coloured shapes moving, one event per
 * stretch of the video, rendered frame by frame and captioned in order. Built so that the answer
 * needs the whole video: videos of a group share their first events and differ only late, and
 * every multiple-choice option shares the early events with the truth (see docs/synthetic.md). */
#ifndef LV_SYNTH_H
#define LV_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#define LV_SYNTH_MAX_EVENTS 8

typedef struct {
    int64_t videos;          /* number of videos (train + test) */
    int64_t frames;          /* length in seconds = frames at 1 FPS */
    int64_t size;            /* width = height in pixels */
    int64_t events;          /* events per video, each in its own stretch (default 4) */
    int64_t group;           /* videos per group sharing their first `shared` events (default 4) */
    int64_t shared;          /* events shared inside a group and by every MCQ option (default
                              * events / 2: the first half of the video) */
    double test_fraction;    /* last fraction of the groups held out as the test split (0.25) */
    uint64_t seed;
} lv_synth_spec;

/* Fills the defaults: 64 videos of 64 s at 64 x 64, 4 events, groups of 4, seed 1. */
lv_synth_spec lv_synth_defaults(void);

typedef struct {
    int colour, shape, motion;
} lv_synth_event;

typedef struct {
    lv_synth_event ev[LV_SYNTH_MAX_EVENTS];
    int64_t n;
} lv_synth_story;

/* Video v's story: deterministic from (seed, v); events [0, shared) come from its group. */
void lv_synth_story_of(lv_synth_story *s, const lv_synth_spec *spec, int64_t v);

/* "a red square moves right, then a blue circle moves up, ..." Returns the length. */
size_t lv_synth_caption(char *out, size_t size, const lv_synth_story *s);

/* The frame at time t seconds (RGB24, size x size x 3) of video v: event i is on screen during
 * seconds [i F / n, (i + 1) F / n), crossing the frame in its direction. */
void lv_synth_render(uint8_t *rgb, const lv_synth_story *s, const lv_synth_spec *spec,
                     int64_t v, double t);

/* Four hard negatives: the same first `shared` events, then (1) the late events in another
 * order, (2) another last event, (3) another first late event, (4) both late events replaced
 * ("another" event differs in colour, shape and motion). */
void lv_synth_distractors(lv_synth_story out[4], const lv_synth_story *s,
                          const lv_synth_spec *spec);

/* Every word a caption can use, in a fixed order (for vocab.txt). */
const char *const *lv_synth_words(int *count);

/* Writes DIR/videos/v0000.mp4 ..., DIR/train.jsonl, DIR/test.jsonl, DIR/mcq.jsonl and
 * DIR/vocab.txt. progress (may be NULL) is called after each video. */
int lv_synth_write(const char *dir, const lv_synth_spec *spec,
                   void (*progress)(int64_t done, int64_t total));

#endif
