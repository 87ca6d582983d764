/* The synthetic long-range video-text benchmark: stories of coloured shapes moving, one event per
 * stretch of the video, rendered frame by frame, captioned and summarised in order, with
 * questions about the late events. Built so that the answer needs the whole video: videos of a
 * group share their first events and differ only late, every multiple-choice option shares the
 * early events with the truth, and every question is one its group's videos answer differently
 * (see docs/synthetic.md). */
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

/* "first a red square moves right. next a blue circle moves up. ... finally a yellow square
 * moves down.": every event in order, worded apart from the caption. Returns the length. */
size_t lv_synth_summary(char *out, size_t size, const lv_synth_story *s);

/* The frame at time t seconds (RGB24, size x size x 3) of video v: event i is on screen during
 * seconds [i F / n, (i + 1) F / n), crossing the frame in its direction. */
void lv_synth_render(uint8_t *rgb, const lv_synth_story *s, const lv_synth_spec *spec,
                     int64_t v, double t);

/* Four hard negatives: the same first `shared` events, then late events drawn as a video's
 * are (from a stream keyed by the story), each option's late part unlike the truth's and the
 * other options': exchangeable with the truth for a model that does not see the late events. */
void lv_synth_distractors(lv_synth_story out[4], const lv_synth_story *s,
                          const lv_synth_spec *spec);

/* The questions about the late events (qa.jsonl), one of each kind per video when asked. */
typedef enum {
    LV_SYNTH_QA_AFTER,      /* "what happens after the blue circle moves up?" (the last shared
                             * event): the first late event */
    LV_SYNTH_QA_LAST,       /* "what is the last thing that happens?": the last event */
    LV_SYNTH_QA_COLOUR,     /* "what colour is the last shape?": the last event's colour */
    LV_SYNTH_QA_KINDS
} lv_synth_qa_kind;

typedef struct {
    char question[96];
    char options[5][48];    /* "a red square moves right", or a colour: "red" */
    int answer;             /* index of the right option */
} lv_synth_qa;

/* The stories of group g's videos (g * group ...) that the data set holds, in order; returns
 * how many: spec->group, or fewer for a last group cut short by spec->videos. out: (group) */
int64_t lv_synth_group_stories(lv_synth_story *out, const lv_synth_spec *spec, int64_t g);

/* Question `kind` about video j of group g, whose stories are mates[0, n)
 * (lv_synth_group_stories). Returns 1 and fills *q when the group is asked it, 0 when not. A
 * group is asked only a question that at least two of its videos answer differently (so the
 * first `shared` events, which they share, cannot tell the answer), and the after-question only
 * when its anchor, the last shared event, happens once in each video. The options are the
 * distinct answers of the group's videos (the truth among them), then other late events of the
 * group, then events (colours) unlike the first answer: with up to 5 distinct answers the group's
 * videos get the same question and the same options in the same order, rotated by (g + kind) so
 * the answer moves over all five slots. */
int lv_synth_question(lv_synth_qa *q, const lv_synth_story *mates, int64_t n, int64_t j,
                      const lv_synth_spec *spec, int64_t g, lv_synth_qa_kind kind);

/* Every word a caption, summary or question can use, in a fixed order (for vocab.txt); the
 * caption words come first, so their ids are those of the vocabularies written before the
 * summaries and questions. */
const char *const *lv_synth_words(int *count);

/* Writes DIR/videos/v0000.mp4 ..., DIR/train.jsonl and DIR/test.jsonl (caption and summary per
 * video), DIR/mcq.jsonl, DIR/qa.jsonl (the test split's questions) and DIR/vocab.txt. progress
 * (may be NULL) is called after each video. */
int lv_synth_write(const char *dir, const lv_synth_spec *spec,
                   void (*progress)(int64_t done, int64_t total));

#endif
