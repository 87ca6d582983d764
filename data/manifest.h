/* Dataset manifests (JSON Lines) and the annotation files of the public benchmarks (MSR-VTT's
 * JSON and 1k-A CSV, YouCook2, EgoSchema) as flat lists of clips or multiple-choice questions
 * with owned strings, and EgoSchema's submission file. Only paths, text and seconds: nothing
 * here opens a video or knows the model (a file's existence is checked with stat). */
#ifndef LV_MANIFEST_H
#define LV_MANIFEST_H

#include <stdint.h>

typedef struct {
    char *video;            /* absolute, or resolved against the manifest's folder */
    char *caption;
    double start, end;      /* seconds; end <= 0: the whole video */
    int is_image;           /* an image entry ("image": "x.png" instead of "video") */
    char *id;               /* optional id (MSR-VTT video id, YouCook2 segment id ...), or NULL */
    char *summary;          /* optional "summary" (the synthetic benchmark's, the video-to-text
                             * stage's target), or NULL */
} lv_clip_entry;

typedef struct {
    lv_clip_entry *e;       /* (n) */
    int64_t n;
} lv_clip_list;

/* JSON Lines, one object per line: {"video": "a.mp4", "caption": "...", "start": s, "end": e,
 * "id": "...", "summary": "..."} ("image" instead of "video" for a picture; start, end, id and
 * summary optional); blank lines are skipped. With check_files, every video/image must exist
 * (stat) as a regular file. -1 + lv_error() naming "manifest:LINE" and what is wrong; *out is
 * then empty. */
int lv_manifest_load(lv_clip_list *out, const char *path, int check_files);

/* MSR-VTT's videodatainfo JSON ({"videos": [{"video_id", "split", ...}], "sentences":
 * [{"video_id", "caption", ...}]}): the captions of the videos whose split is `split` ("train",
 * "validate", "test"), in the order of "videos", a video's captions in file order (only its
 * first one when first_only). video = <video_dir>/<video_id>.mp4, id = video_id, whole video. */
int lv_msrvtt_load(lv_clip_list *out, const char *json_path, const char *video_dir,
                   const char *split, int first_only);

/* MSR-VTT's 1k-A test split as the retrieval papers distribute it (JSFusion's and CLIP4Clip's
 * MSRVTT_JSFUSION_test.csv): CSV whose header names at least "video_id" and "sentence" (the
 * published one is key,vid_key,video_id,sentence), then one row per test pair (1000 rows). RFC
 * 4180: a field may be quoted, "" inside quotes is one quote, commas and line breaks inside
 * quotes are text; \n or \r\n line ends, a UTF-8 byte-order mark and blank lines are fine. Every
 * row has as many fields as the header. video = <video_dir>/<video_id>.mp4, id = video_id, whole
 * video, the rows in file order. */
int lv_msrvtt_csv_load(lv_clip_list *out, const char *csv_path, const char *video_dir);

/* YouCook2's segments JSON ({"database": {"<youtube id>": {"subset": "validation",
 * "recipe_type": "113", "annotations": [{"segment": [s, e], "sentence": "..."}]}}}): one entry
 * per segment of the videos of `subset` ("training", "validation"), with its start and end
 * seconds; id = "<youtube id>_<segment index>". The video is looked for under video_dir in these
 * layouts, the first that has the file winning: <id>.<ext> (flat), then the official download's
 * tree raw_videos/<subset>/<recipe_type>/<id>.<ext> seen from video_dir as its parent, as
 * raw_videos/ itself and as raw_videos/<subset>/ (<recipe_type>/<id>.<ext>); ext mp4, mkv, webm
 * in that order within each layout (recipe_type, a string or an integer, is optional: without
 * it only the flat layout is searched). When no layout has it the path is
 * <video_dir>/<id>.mp4, unchecked: lv_clip_list_drop_missing sorts those out. */
int lv_youcook2_load(lv_clip_list *out, const char *json_path, const char *video_dir,
                     const char *subset);

/* Removes the entries whose video (or image) is not a regular file, keeping the others in order:
 * a benchmark download that lacks some videos is evaluated on the rest. *videos gets the number
 * of distinct files missing, *clips the entries removed (either may be NULL). -1 + lv_error()
 * only when out of memory (the list is then unchanged). */
int lv_clip_list_drop_missing(lv_clip_list *l, int64_t *videos, int64_t *clips);

void lv_clip_list_free(lv_clip_list *l);

typedef struct {
    char *video;
    char *question;
    char *options[5];
    int answer;             /* 0..4, -1 when unknown */
    char *id;               /* EgoSchema's q_uid, or the line's optional "id"; may be NULL */
} lv_mcq_entry;

typedef struct {
    lv_mcq_entry *e;        /* (n) */
    int64_t n;
} lv_mcq_list;

/* Our mcq.jsonl: {"video": "...", "question": "...", "options": [5 strings], "answer": i,
 * "id": "..."} per line (answer and id optional; answer 0..4), paths as in lv_manifest_load. */
int lv_mcq_load(lv_mcq_list *out, const char *path, int check_files);

/* EgoSchema: questions.json ([{"q_uid", "question", "option 0" .. "option 4"}]) and, when
 * answers_json is not NULL, an answers file ({"<q_uid>": i}, e.g. subset_answers.json; every
 * answer must be 0..4). A question absent from the answers gets answer -1.
 * video = <video_dir>/<q_uid>.mp4, id = q_uid. */
int lv_egoschema_load(lv_mcq_list *out, const char *questions_json, const char *answers_json,
                      const char *video_dir);

/* Keeps only the questions with a known answer (answer >= 0), in order, freeing the others:
 * EgoSchema's public subset is scored without touching the other questions' videos. Returns
 * how many were dropped. */
int64_t lv_mcq_list_keep_answered(lv_mcq_list *l);

/* EgoSchema's submission file, the format its validate.py sends and its answers files use:
 * one JSON object {"<q_uid>": <chosen option, 0..4>, ...} over the questions of q in their
 * order; choice: (q->n). Written atomically (a temporary file beside path, fsynced, renamed
 * over it), so an existing file is replaced whole or not at all. -1 + lv_error() when a question
 * has no id, two share one, a choice is outside 0..4, or the file cannot be written. */
int lv_egoschema_write_predictions(const char *path, const lv_mcq_list *q, const int32_t *choice);

void lv_mcq_list_free(lv_mcq_list *l);

#endif
