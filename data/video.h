/* Video reader: decodes any video FFmpeg can open and samples it at a fixed rate (1 FPS by
 * default) into RGB24 frames, honouring rotation metadata. It does no resizing, cropping or
 * normalisation (preprocess.c's job) and knows nothing of the model. */
#ifndef LV_VIDEO_H
#define LV_VIDEO_H

#include <stdint.h>

/* first: t_k = start + k / fps (the paper's choice). uniform: N times at the centres of N equal
 * segments of [start, end] (or of the whole video): t_k = start + (k + 1/2) (end - start) / N. */
typedef enum { LV_SAMPLE_FIRST = 0, LV_SAMPLE_UNIFORM } lv_sample_mode;

/* auto: seek when the keyframe before the next sample lies 8 or more frames ahead; never:
 * decode straight through; always: seek whenever that keyframe lies ahead. The results are
 * identical in every case (a seek that lands wrongly falls back to decoding from the start);
 * only the time differs. Seeking needs a per-frame index (mp4, mov, avi); elsewhere (mkv) the
 * reader decodes straight through. */
typedef enum { LV_SEEK_AUTO = 0, LV_SEEK_NEVER, LV_SEEK_ALWAYS } lv_seek_policy;

typedef struct {
    double fps;               /* sampling rate of first mode, > 0 (lv_sample_spec_default: 1) */
    int64_t max_frames;       /* N samples wanted, > 0 */
    lv_sample_mode mode;
    double start, end;        /* seconds from the video's start; end <= 0: the end of the video */
    int64_t max_side;         /* refuse videos wider or taller than this; 0 = 8192 */
    lv_seek_policy seek;
    int decode_threads;       /* FFmpeg's decoding threads for this video; 0 = automatic (4 per
                               * CPU, at most 16): a caller decoding several videos at once (the
                               * loader's pool) asks for 1, which costs a short clip a third of
                               * the CPU time */
} lv_sample_spec;

/* fps 1, first mode, the whole video, automatic seeking. */
lv_sample_spec lv_sample_spec_default(int64_t max_frames);

/* The sample for time t is the last frame whose presentation time is <= t (a sample before the
 * first frame takes the first frame), compared as integers in the stream's time base. A time
 * at or past the end of the last frame, or at or past spec.end, has no frame: that sample is
 * not valid and repeats the last valid one. Frames no sample can take are not decoded where
 * the codec allows (intra-only codecs, non-reference frames); the results do not depend on it.
 * Times come from best_effort_timestamp; where the container stores decode times only and the
 * codec reorders frames (H.264 in AVI), the k-th frame shown takes the k-th decode time. */
typedef struct {
    int64_t n;                /* N = spec.max_frames */
    int64_t valid;            /* samples [0, valid) come from the video; the rest repeat the last */
    int64_t width, height;    /* of the RGB frames, as displayed (after rotation) */
    uint8_t *rgb;             /* (N, height, width, 3) RGB24 */
    double *t;                /* (N) requested sample times, seconds from the video's start */
    double *src_t;            /* (N) presentation time of the frame each sample took, seconds */
    int64_t *src_index;       /* (N) number of that frame in presentation order, from 0 */
    int64_t decoded;          /* diagnostics: frames the decoder produced (not skipped) */
    int64_t seeks;            /* diagnostics: seeks made */
} lv_frames;

/* Fills *out (0) or leaves it empty and sets lv_error() naming the file and the fix (-1). */
int lv_video_read(lv_frames *out, const char *path, const lv_sample_spec *spec);
void lv_frames_free(lv_frames *f);

typedef struct {
    double duration;          /* seconds, 0 if the container does not say */
    double avg_fps;           /* 0 if unknown */
    int64_t width, height;    /* as displayed (after rotation) */
    int rotation;             /* clockwise degrees applied for display: 0, 90, 180 or 270 */
    char codec[32];
    int64_t n_frames_hint;    /* from the container, or duration * avg_fps; 0 if unknown */
} lv_video_info;

int lv_video_probe(const char *path, lv_video_info *info);

/* quiet != 0 silences FFmpeg's own log lines (process-wide); lv_error() carries what matters. */
void lv_video_quiet(int quiet);

#endif
