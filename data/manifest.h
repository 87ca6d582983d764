/* Dataset manifests (JSON Lines) and the annotation files of the public benchmarks (MSR-VTT,
 * YouCook2, EgoSchema) as flat lists of clips or multiple-choice questions with owned strings.
 * Only paths, text and seconds: nothing here opens a video or knows the model. */
#ifndef LV_MANIFEST_H
#define LV_MANIFEST_H

#include <stdint.h>

typedef struct {
    char *video;            /* absolute, or resolved against the manifest's folder */
    char *caption;
    double start, end;      /* seconds; end <= 0: the whole video */
    int is_image;           /* an image entry ("image": "x.png" instead of "video") */
    char *id;               /* optional id (MSR-VTT video id, YouCook2 segment id ...), or NULL */
} lv_clip_entry;

typedef struct {
    lv_clip_entry *e;       /* (n) */
    int64_t n;
} lv_clip_list;

/* JSON Lines, one object per line: {"video": "a.mp4", "caption": "...", "start": s, "end": e,
 * "id": "..."} ("image" instead of "video" for a picture; start, end and id optional); blank
 * lines are skipped. With check_files, every video/image must exist (stat) as a regular file.
 * -1 + lv_error() naming "manifest:LINE" and what is wrong; *out is then empty. */
int lv_manifest_load(lv_clip_list *out, const char *path, int check_files);

/* MSR-VTT's videodatainfo JSON ({"videos": [{"video_id", "split", ...}], "sentences":
 * [{"video_id", "caption", ...}]}): the captions of the videos whose split is `split` ("train",
 * "validate", "test"), in the order of "videos", a video's captions in file order (only its
 * first one when first_only). video = <video_dir>/<video_id>.mp4, id = video_id, whole video. */
int lv_msrvtt_load(lv_clip_list *out, const char *json_path, const char *video_dir,
                   const char *split, int first_only);

/* YouCook2's segments JSON ({"database": {"<youtube id>": {"subset": "validation",
 * "annotations": [{"segment": [s, e], "sentence": "..."}]}}}): one entry per segment of the
 * videos of `subset` ("training", "validation"), with its start and end seconds. video =
 * <video_dir>/<youtube id>.mp4, or .mkv / .webm when only that one exists; id = "<youtube
 * id>_<segment index>". */
int lv_youcook2_load(lv_clip_list *out, const char *json_path, const char *video_dir,
                     const char *subset);

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

void lv_mcq_list_free(lv_mcq_list *l);

#endif
