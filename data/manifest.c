/* Manifests and benchmark annotations (see manifest.h), parsed with cJSON: JSON Lines are read
 * one line at a time (getline), whole-file JSON in one piece. Every error names the file (and
 * the line or the JSON entry) and frees what was already loaded; no video is opened here. */
#include "manifest.h"
#include "error.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LV_WHERE_BYTES 4200     /* "path:LINE" with room for a PATH_MAX path */

/* ---- small helpers --------------------------------------------------------------------------- */

static char *str_dup(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *d = lv_malloc(n, "a manifest string");
    if (d)
        memcpy(d, s, n);
    return d;
}

/* dir/name + ext; name + ext alone when name is absolute or dir is "". */
static char *path_join(const char *dir, const char *name, const char *ext)
{
    const size_t nd = name[0] == '/' ? 0 : strlen(dir);
    const char *sep = nd && dir[nd - 1] != '/' ? "/" : "";
    const size_t n = nd + strlen(sep) + strlen(name) + strlen(ext) + 1;
    char *p = lv_malloc(n, "a video path");
    if (p)
        snprintf(p, n, "%.*s%s%s%s", (int)nd, dir, sep, name, ext);
    return p;
}

/* The folder of path ("" when it names none; "/" for a file at the root). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    char *d = lv_malloc(n + 1, "the manifest's folder");
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* NULL when path is a regular file, else why it is not. */
static const char *file_problem(const char *path)
{
    struct stat st;
    if (stat(path, &st))
        return strerror(errno);
    return S_ISREG(st.st_mode) ? NULL : "not a regular file";
}

static int file_exists(const char *path)
{
    return !file_problem(path);
}

/* p grown to hold at least n items (capacity doubling); NULL on failure with p left intact. */
static void *grow(void *p, int64_t *cap, int64_t n, size_t size, const char *what)
{
    if (n <= *cap)
        return p;
    int64_t c = *cap ? *cap : 16;
    while (c < n)
        c *= 2;
    void *q = realloc(p, (size_t)c * size);
    if (!q) {
        lv_set_error("out of memory growing %s to %lld entries", what, (long long)c);
        return NULL;
    }
    *cap = c;
    return q;
}

static const char *skip_bom(const char *s)
{
    return strncmp(s, "\xEF\xBB\xBF", 3) ? s : s + 3;
}

/* ---- JSON access ----------------------------------------------------------------------------- */

static const char *json_str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* obj[key] as a string into *out; absent is fine (NULL) unless required. */
static int json_text(const cJSON *obj, const char *key, int required, const char *where,
                     const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = cJSON_GetStringValue(v);
    if (*out || (!v && !required))
        return 0;
    return lv_set_error("%s: \"%s\" is %s: give it as a JSON string", where, key,
                        v ? "not a string" : "missing");
}

/* obj[key] as seconds into *out (left alone when absent): a finite number. */
static int json_seconds(const cJSON *obj, const char *key, const char *where, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v && (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)))
        return lv_set_error("%s: \"%s\" must be a number of seconds", where, key);
    if (v)
        *out = v->valuedouble;
    return 0;
}

/* An answer index: NULL gives -1 (unknown); otherwise an integer 0..4, else -1 is returned. */
static int answer_index(const cJSON *v, int *out)
{
    *out = -1;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 4)
        return -1;
    *out = (int)v->valuedouble;
    return 0;
}

static cJSON *json_parse(const char *text, int64_t n, const char *path, const char *what)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n + 1, &end, 1);
    if (!root) {
        int64_t line = 1, col = 1;
        for (const char *p = text; end && p < end; p++, col++)
            if (*p == '\n') {
                line++;
                col = 0;
            }
        lv_set_error("%s:%lld:%lld: not valid JSON: expected %s", path, (long long)line,
                     (long long)col, what);
    }
    return root;
}

/* A whole text file, malloc'd and NUL-terminated, its byte-order mark skipped (*body points
 * past it, *n counts the bytes from there); NULL + lv_error() for a file that cannot be read, is
 * empty or holds a NUL byte (which JSON and CSV text never hold). */
static char *text_load(const char *path, const char *what, char **body, int64_t *n)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        lv_set_error("cannot open %s: %s: check the path (expected %s)", path, strerror(errno),
                     what);
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0;
    const ssize_t got = getdelim(&text, &cap, '\0', fp);
    const int failed = ferror(fp) || (got < 0 && !feof(fp));
    fclose(fp);
    if (failed || got <= 0 || text[got - 1] == '\0') {
        lv_set_error("cannot read %s: %s (expected %s)", path, failed ? "read error"
                     : got <= 0 ? "the file is empty" : "it holds a NUL byte", what);
        free(text);
        return NULL;
    }
    *body = text + (skip_bom(text) - text);
    *n = got - (int64_t)(*body - text);
    return text;
}

/* A whole JSON file. */
static cJSON *json_load(const char *path, const char *what)
{
    char *body;
    int64_t n;
    char *text = text_load(path, what, &body, &n);
    cJSON *root = text ? json_parse(body, n, path, what) : NULL;
    free(text);
    return root;
}

/* ---- JSON Lines ------------------------------------------------------------------------------ */

typedef struct {
    const char *dir;        /* the manifest's folder */
    const char *example;    /* a good line, for the messages */
    int check_files;
    void *list;             /* lv_clip_list or lv_mcq_list */
    int64_t cap;
} jsonl_ctx;

typedef int (*jsonl_line_fn)(jsonl_ctx *c, const cJSON *obj, const char *where);

static int jsonl_line(jsonl_ctx *c, jsonl_line_fn fn, const char *path, int64_t lineno,
                      const char *line, ssize_t n)
{
    char where[LV_WHERE_BYTES];
    snprintf(where, sizeof where, "%s:%lld", path, (long long)lineno);
    if (strlen(line) != (size_t)n)
        return lv_set_error("%s: a NUL byte: a manifest is UTF-8 text, one JSON object per line",
                            where);
    const char *s = lineno == 1 ? skip_bom(line) : line;
    if (s[strspn(s, " \t\r\n")] == '\0')
        return 0;
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithOpts(s, &end, 1);
    int rc;
    if (!obj)
        rc = lv_set_error("%s:%lld: not JSON: each line must be one JSON object such as %s",
                          where, (long long)(end - line) + 1, c->example);
    else if (!cJSON_IsObject(obj))
        rc = lv_set_error("%s: a JSON value but not an object: each line must be one object "
                          "such as %s", where, c->example);
    else
        rc = fn(c, obj, where);
    cJSON_Delete(obj);
    return rc;
}

/* Calls fn on every non-blank line's object, stopping at the first error. */
static int jsonl_each(const char *path, jsonl_line_fn fn, jsonl_ctx *c)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return lv_set_error("cannot open the manifest %s: %s: check the path", path,
                            strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    for (int64_t lineno = 1; !rc && (n = getline(&line, &cap, fp)) >= 0; lineno++)
        rc = jsonl_line(c, fn, path, lineno, line, n);
    if (!rc && ferror(fp))
        rc = lv_set_error("cannot read the manifest %s: read error", path);
    free(line);
    fclose(fp);
    return rc;
}

/* A line's media path resolved against the manifest's folder, checked on disk when asked. */
static char *jsonl_media(const jsonl_ctx *c, const char *name, const char *key, const char *where)
{
    if (!name[0]) {
        lv_set_error("%s: \"%s\" is empty: give the file's path", where, key);
        return NULL;
    }
    char *path = path_join(c->dir, name, "");
    const char *problem = path && c->check_files ? file_problem(path) : NULL;
    if (problem) {
        lv_set_error("%s: %s %s: %s: relative paths are resolved against the manifest's folder",
                     where, key, path, problem);
        free(path);
        return NULL;
    }
    return path;
}

/* ---- clip lists ------------------------------------------------------------------------------ */

/* Fills a zeroed entry: takes ownership of video (NULL after a failed allocation). */
static int clip_set(lv_clip_entry *e, char *video, const char *caption, double start, double end,
                    int is_image, const char *id)
{
    *e = (lv_clip_entry){ .video = video, .start = start, .end = end, .is_image = is_image };
    e->caption = video ? str_dup(caption) : NULL;
    e->id = id && e->caption ? str_dup(id) : NULL;
    return e->caption && (!id || e->id) ? 0 : -1;
}

static int clip_add(lv_clip_list *l, int64_t *cap, char *video, const char *caption,
                    double start, double end, int is_image, const char *id)
{
    lv_clip_entry *e = grow(l->e, cap, l->n + 1, sizeof *e, "the clip list");
    if (!e) {
        free(video);
        return -1;
    }
    l->e = e;
    return clip_set(&e[l->n++], video, caption, start, end, is_image, id);
}

void lv_clip_list_free(lv_clip_list *l)
{
    for (int64_t i = 0; i < l->n; i++) {
        free(l->e[i].video);
        free(l->e[i].caption);
        free(l->e[i].id);
        free(l->e[i].summary);
    }
    free(l->e);
    *l = (lv_clip_list){ 0 };
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lv_clip_list_drop_missing(lv_clip_list *l, int64_t *videos, int64_t *clips)
{
    char **gone = lv_malloc((size_t)(l->n ? l->n : 1) * sizeof *gone, "the missing videos");
    if (!gone)
        return -1;
    int64_t kept = 0, n_gone = 0, distinct = 0;
    const char *last = NULL;            /* the previous entry's file, checked once per run */
    int last_exists = 0;
    for (int64_t i = 0; i < l->n; i++) {
        lv_clip_entry *e = &l->e[i];
        if (!last || strcmp(last, e->video))
            last_exists = file_exists(e->video);
        last = e->video;
        if (last_exists) {
            l->e[kept++] = *e;
            continue;
        }
        gone[n_gone++] = e->video;      /* freed below, once counted */
        free(e->caption);
        free(e->id);
        free(e->summary);
    }
    qsort(gone, (size_t)n_gone, sizeof *gone, str_ptr_cmp);
    for (int64_t i = 0; i < n_gone; i++)
        distinct += i == 0 || strcmp(gone[i - 1], gone[i]);
    for (int64_t i = 0; i < n_gone; i++)
        free(gone[i]);
    free(gone);
    l->n = kept;
    if (videos)
        *videos = distinct;
    if (clips)
        *clips = n_gone;
    return 0;
}

static int clip_line(jsonl_ctx *c, const cJSON *obj, const char *where)
{
    const char *video, *image, *caption, *id, *summary;
    double start = 0, end = 0;
    if (json_text(obj, "video", 0, where, &video) || json_text(obj, "image", 0, where, &image) ||
        json_text(obj, "caption", 1, where, &caption) || json_text(obj, "id", 0, where, &id) ||
        json_text(obj, "summary", 0, where, &summary) ||
        json_seconds(obj, "start", where, &start) || json_seconds(obj, "end", where, &end))
        return -1;
    if (!video == !image)
        return lv_set_error("%s: %s: a line names one \"video\" or one \"image\"", where,
                            video ? "both \"video\" and \"image\"" : "no \"video\" or \"image\"");
    if (start < 0 || (end > 0 && start >= end))
        return lv_set_error("%s: start %g s, end %g s: need 0 <= start < end (end <= 0 or no end "
                            "means until the end of the video)", where, start, end);
    char *media = jsonl_media(c, video ? video : image, video ? "video" : "image", where);
    if (!media)
        return -1;
    if (clip_add(c->list, &c->cap, media, caption, start, end, image != NULL, id) < 0)
        return -1;
    const lv_clip_list *l = c->list;
    lv_clip_entry *e = &l->e[l->n - 1];
    return !summary || (e->summary = str_dup(summary)) ? 0 : -1;
}

/* Runs a JSON Lines loader with the manifest's folder; frees the list on error. */
static int jsonl_load(void *list, void (*list_free)(void *), const char *path, int check_files,
                      jsonl_line_fn fn, const char *example)
{
    char *dir = dir_of(path);
    jsonl_ctx c = { .dir = dir, .example = example, .check_files = check_files, .list = list };
    const int rc = dir ? jsonl_each(path, fn, &c) : -1;
    free(dir);
    if (rc)
        list_free(list);
    return rc;
}

static void clip_list_free_any(void *l)
{
    lv_clip_list_free(l);
}

int lv_manifest_load(lv_clip_list *out, const char *path, int check_files)
{
    *out = (lv_clip_list){ 0 };
    return jsonl_load(out, clip_list_free_any, path, check_files, clip_line,
                      "{\"video\": \"a.mp4\", \"caption\": \"...\", \"start\": 0, \"end\": 8}");
}

/* ---- MSR-VTT --------------------------------------------------------------------------------- */

typedef struct {
    const char *id;         /* borrowed from the JSON */
    int64_t k;              /* position among the split's videos, in file order */
} video_key;

static int video_key_cmp(const void *a, const void *b)
{
    return strcmp(((const video_key *)a)->id, ((const video_key *)b)->id);
}

static const video_key *video_key_find(const video_key *keys, int64_t K, const char *id)
{
    const video_key probe = { id, 0 };
    return bsearch(&probe, keys, (size_t)K, sizeof *keys, video_key_cmp);
}

/* The split's videos, sorted by id for lookups (k keeps the file order). */
static int msrvtt_videos(const cJSON *videos, const char *path, const char *split,
                         video_key **keys, int64_t *K)
{
    *keys = lv_malloc((size_t)cJSON_GetArraySize(videos) * sizeof **keys, "MSR-VTT videos");
    if (!*keys)
        return -1;
    int64_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, videos) {
        const char *id = json_str(v, "video_id"), *s = json_str(v, "split");
        if (!id || !s)
            return lv_set_error("%s: videos[%lld] lacks a string \"video_id\" or \"split\": "
                                "expected MSR-VTT's videodatainfo JSON", path, (long long)i);
        if (!strcmp(s, split)) {
            (*keys)[*K] = (video_key){ id, *K };
            ++*K;
        }
        i++;
    }
    qsort(*keys, (size_t)*K, sizeof **keys, video_key_cmp);
    for (int64_t j = 1; j < *K; j++)
        if (!strcmp((*keys)[j - 1].id, (*keys)[j].id))
            return lv_set_error("%s: video_id '%s' is listed twice in \"videos\"", path,
                                (*keys)[j].id);
    return 0;
}

/* How many captions each video of the split gets (at most 1 when first_only). */
static int msrvtt_count(const cJSON *sentences, const char *path, const video_key *keys,
                        int64_t K, int first_only, int64_t *count)
{
    int64_t i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, sentences) {
        const char *vid = json_str(s, "video_id");
        if (!vid || !json_str(s, "caption"))
            return lv_set_error("%s: sentences[%lld] lacks a string \"video_id\" or \"caption\": "
                                "expected MSR-VTT's videodatainfo JSON", path, (long long)i);
        const video_key *key = video_key_find(keys, K, vid);
        if (key && (!first_only || count[key->k] == 0))
            count[key->k]++;
        i++;
    }
    return 0;
}

/* Places each counted caption at next[k]++ (next: each video's first entry). */
static int msrvtt_fill(lv_clip_list *out, const cJSON *sentences, const video_key *keys,
                       int64_t K, int64_t *count, int64_t *next, const char *video_dir)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, sentences) {
        const char *vid = json_str(s, "video_id");
        const video_key *key = video_key_find(keys, K, vid);
        if (!key || count[key->k] == 0)
            continue;
        count[key->k]--;
        if (clip_set(&out->e[next[key->k]++], path_join(video_dir, vid, ".mp4"),
                     json_str(s, "caption"), 0, 0, 0, vid))
            return -1;
    }
    return 0;
}

static int msrvtt_entries(lv_clip_list *out, const cJSON *sentences, const char *path,
                          const video_key *keys, int64_t K, int first_only,
                          const char *video_dir, const char *split)
{
    int64_t *count = lv_calloc((size_t)K * 2, sizeof *count, "MSR-VTT caption counts");
    if (!count)
        return -1;
    int64_t *next = count + K;
    int rc = msrvtt_count(sentences, path, keys, K, first_only, count);
    for (int64_t k = 0; !rc && k < K; k++) {
        next[k] = out->n;
        out->n += count[k];
    }
    if (!rc && out->n == 0)
        rc = lv_set_error("%s: none of the %lld videos of split '%s' has a sentence", path,
                          (long long)K, split);
    if (!rc && !(out->e = lv_calloc((size_t)out->n, sizeof *out->e, "the MSR-VTT clip list"))) {
        out->n = 0;
        rc = -1;
    }
    if (!rc)
        rc = msrvtt_fill(out, sentences, keys, K, count, next, video_dir);
    free(count);
    return rc;
}

int lv_msrvtt_load(lv_clip_list *out, const char *json_path, const char *video_dir,
                   const char *split, int first_only)
{
    *out = (lv_clip_list){ 0 };
    cJSON *root = json_load(json_path, "MSR-VTT's videodatainfo JSON");
    if (!root)
        return -1;
    const cJSON *videos = cJSON_GetObjectItemCaseSensitive(root, "videos");
    const cJSON *sentences = cJSON_GetObjectItemCaseSensitive(root, "sentences");
    video_key *keys = NULL;
    int64_t K = 0;
    int rc = -1;
    if (!cJSON_IsArray(videos) || !cJSON_IsArray(sentences))
        lv_set_error("%s: no \"videos\" and \"sentences\" arrays: expected MSR-VTT's "
                     "videodatainfo JSON", json_path);
    else if (msrvtt_videos(videos, json_path, split, &keys, &K))
        rc = -1;
    else if (K == 0)
        lv_set_error("%s: no video has \"split\": \"%s\" (MSR-VTT's splits are train, validate "
                     "and test)", json_path, split);
    else
        rc = msrvtt_entries(out, sentences, json_path, keys, K, first_only, video_dir, split);
    free(keys);
    cJSON_Delete(root);
    if (rc)
        lv_clip_list_free(out);
    return rc;
}

/* ---- MSR-VTT 1k-A CSV ------------------------------------------------------------------------ */

#define CSV_MAX_FIELDS 64

/* The next record of RFC 4180 CSV at *p, unquoted in place (a field's text never grows, so it
 * is rewritten over itself and NUL-terminated); fields[k] points at field k (the first
 * CSV_MAX_FIELDS of them); *line counts the line breaks passed, those inside quotes included.
 * Returns the number of fields, 0 at the end of the text, -1 with *problem for a quote that is
 * never closed or text after a closing quote. */
static int64_t csv_record(char **p, int64_t *line, char **fields, const char **problem)
{
    char *s = *p;
    int64_t n = 0;
    if (!*s)
        return 0;
    for (;;) {
        char *start = s, *w = s;
        if (*s == '"') {
            for (s++;; s++) {
                if (!*s) {
                    *problem = "a quoted field is never closed (a \" inside quotes is written \"\")";
                    return -1;
                }
                if (*s == '"' && s[1] != '"')
                    break;
                s += *s == '"';                 /* "" is one quote */
                *line += *s == '\n';
                *w++ = *s;
            }
            s++;
            if (*s == '\r' && (s[1] == '\n' || !s[1]))
                s++;
            if (*s && *s != ',' && *s != '\n') {
                *problem = "text after a closing quote (quote the whole field)";
                return -1;
            }
        } else {
            while (*s && *s != ',' && *s != '\n')
                s++;
            w = s - (s > start && s[-1] == '\r' && *s != ',');      /* \r\n ends the line */
        }
        const char d = *s;
        *w = '\0';
        if (n < CSV_MAX_FIELDS)
            fields[n] = start;
        n++;
        if (d == ',') {
            s++;
            continue;
        }
        if (d == '\n') {
            s++;
            ++*line;
        }
        *p = s;
        return n;
    }
}

/* The column called name in the header, or -1. */
static int64_t csv_column(char *const *header, int64_t n, const char *name)
{
    for (int64_t k = 0; k < n && k < CSV_MAX_FIELDS; k++)
        if (!strcmp(header[k], name))
            return k;
    return -1;
}

static int msrvtt_csv_rows(lv_clip_list *out, char *s, const char *path, const char *video_dir)
{
    char *f[CSV_MAX_FIELDS];
    const char *problem = NULL;
    int64_t line = 1, cap = 0, start = 1, n;
    while ((n = csv_record(&s, &line, f, &problem)) == 1 && !f[0][0])
        start = line;                                   /* blank lines before the header */
    if (n < 0)
        return lv_set_error("%s:%lld: %s", path, (long long)start, problem);
    const int64_t cols = n, vid = csv_column(f, n, "video_id"), sen = csv_column(f, n, "sentence");
    if (n == 0 || vid < 0 || sen < 0 || n > CSV_MAX_FIELDS)
        return lv_set_error("%s:%lld: the header must name the columns video_id and sentence (at "
                            "most %d columns): expected MSR-VTT's 1k-A test CSV, "
                            "key,vid_key,video_id,sentence", path, (long long)start,
                            CSV_MAX_FIELDS);
    for (start = line; (n = csv_record(&s, &line, f, &problem)) != 0; start = line) {
        if (n < 0)
            return lv_set_error("%s:%lld: %s", path, (long long)start, problem);
        if (n == 1 && !f[0][0])
            continue;                                   /* a blank line */
        if (n != cols)
            return lv_set_error("%s:%lld: %lld fields where the header has %lld: quote a "
                                "sentence that holds a comma (\"a, b\")", path, (long long)start,
                                (long long)n, (long long)cols);
        if (!f[vid][0] || !f[sen][0])
            return lv_set_error("%s:%lld: an empty %s", path, (long long)start,
                                f[vid][0] ? "sentence" : "video_id");
        if (clip_add(out, &cap, path_join(video_dir, f[vid], ".mp4"), f[sen], 0, 0, 0, f[vid]))
            return -1;
    }
    if (out->n == 0)
        return lv_set_error("%s: a header and no row: expected one row per test pair", path);
    return 0;
}

int lv_msrvtt_csv_load(lv_clip_list *out, const char *csv_path, const char *video_dir)
{
    *out = (lv_clip_list){ 0 };
    char *body;
    int64_t n;
    char *text = text_load(csv_path, "MSR-VTT's 1k-A test CSV, key,vid_key,video_id,sentence",
                           &body, &n);
    const int rc = text ? msrvtt_csv_rows(out, body, csv_path, video_dir) : -1;
    free(text);
    if (rc)
        lv_clip_list_free(out);
    return rc;
}

/* ---- YouCook2 -------------------------------------------------------------------------------- */

/* The first of <video_dir>/<folder>/<id>.<ext> that exists over the layouts of
 * lv_youcook2_load (folders "", then the download tree from its parent, from raw_videos/ and
 * from its subset folder; ext mp4, mkv, webm), else <video_dir>/<id>.mp4. recipe NULL: only the
 * flat layout. */
static char *youcook2_file(const char *video_dir, const char *subset, const char *recipe,
                           const char *id)
{
    static const char *const exts[] = { ".mp4", ".mkv", ".webm" };
    const char *const above[] = { "raw_videos/", "", NULL };    /* what precedes <subset>/ */
    const size_t bytes = strlen(subset) + (recipe ? strlen(recipe) : 0) + strlen(id) + 16;
    char *name = lv_malloc(bytes, "a YouCook2 video name");
    for (int l = 0; name && l < (recipe ? 4 : 1); l++) {
        const char *a = l ? above[l - 1] : NULL;
        if (l == 0)
            snprintf(name, bytes, "%s", id);
        else
            snprintf(name, bytes, "%s%s%s%s/%s", a ? a : "", a ? subset : "", a ? "/" : "",
                     recipe, id);
        for (int e = 0; e < 3; e++) {
            char *p = path_join(video_dir, name, exts[e]);
            if (!p || file_exists(p)) {
                free(name);
                return p;
            }
            free(p);
        }
    }
    const int named = name != NULL;
    free(name);
    return named ? path_join(video_dir, id, ".mp4") : NULL;
}

/* "recipe_type" as text into buf ("113" or 113 in the file); *recipe NULL when absent. */
static int youcook2_recipe(const cJSON *video, char *buf, size_t size, const char **recipe)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(video, "recipe_type");
    *recipe = NULL;
    if (!r)
        return 0;
    if (cJSON_IsString(r) && r->valuestring[0] && !strchr(r->valuestring, '/'))
        snprintf(buf, size, "%s", r->valuestring);
    else if (cJSON_IsNumber(r) && r->valuedouble == floor(r->valuedouble) &&
             fabs(r->valuedouble) < 1e15)
        snprintf(buf, size, "%.0f", r->valuedouble);
    else
        return -1;
    *recipe = buf;
    return 0;
}

static int youcook2_segment(const cJSON *ann, double *start, double *end)
{
    const cJSON *seg = cJSON_GetObjectItemCaseSensitive(ann, "segment");
    const cJSON *s = cJSON_GetArrayItem(seg, 0), *e = cJSON_GetArrayItem(seg, 1);
    if (!cJSON_IsArray(seg) || cJSON_GetArraySize(seg) != 2 || !cJSON_IsNumber(s) ||
        !cJSON_IsNumber(e))
        return -1;
    *start = s->valuedouble;
    *end = e->valuedouble;
    return isfinite(*start) && isfinite(*end) && *start >= 0 && *start < *end ? 0 : -1;
}

static int youcook2_video(lv_clip_list *out, int64_t *cap, const cJSON *video, const char *path,
                          const char *video_dir, const char *subset)
{
    const char *yid = video->string, *recipe;
    char recipe_buf[64];
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(video, "annotations");
    if (!cJSON_IsArray(anns))
        return lv_set_error("%s: database.%s has no \"annotations\" array", path, yid);
    if (youcook2_recipe(video, recipe_buf, sizeof recipe_buf, &recipe))
        return lv_set_error("%s: database.%s: \"recipe_type\" must be the recipe's number as a "
                            "string (\"113\") or an integer: it names the folder of the video in "
                            "raw_videos/<subset>/<recipe_type>/", path, yid);
    char *file = youcook2_file(video_dir, subset, recipe, yid);
    const size_t id_bytes = strlen(yid) + 24;
    char *id = file ? lv_malloc(id_bytes, "a YouCook2 segment id") : NULL;
    if (!id) {
        free(file);
        return -1;
    }
    int rc = 0;
    int64_t k = 0;
    const cJSON *ann;
    cJSON_ArrayForEach(ann, anns) {
        double start, end;
        const char *sentence = json_str(ann, "sentence");
        if (youcook2_segment(ann, &start, &end) || !sentence) {
            rc = lv_set_error("%s: database.%s.annotations[%lld]: needs \"segment\": [start, "
                              "end] seconds with 0 <= start < end and a string \"sentence\"",
                              path, yid, (long long)k);
            break;
        }
        snprintf(id, id_bytes, "%s_%lld", yid, (long long)k++);
        if ((rc = clip_add(out, cap, str_dup(file), sentence, start, end, 0, id)))
            break;
    }
    free(id);
    free(file);
    return rc;
}

static int youcook2_entries(lv_clip_list *out, const cJSON *db, const char *path,
                            const char *video_dir, const char *subset)
{
    int64_t cap = 0;
    const cJSON *video;
    cJSON_ArrayForEach(video, db) {
        const char *s = json_str(video, "subset");
        if (!s)
            return lv_set_error("%s: database.%s has no string \"subset\"", path, video->string);
        if (!strcmp(s, subset) && youcook2_video(out, &cap, video, path, video_dir, subset))
            return -1;
    }
    if (out->n == 0)
        return lv_set_error("%s: no annotated segment of subset '%s' (YouCook2's subsets are "
                            "training and validation)", path, subset);
    return 0;
}

int lv_youcook2_load(lv_clip_list *out, const char *json_path, const char *video_dir,
                     const char *subset)
{
    *out = (lv_clip_list){ 0 };
    cJSON *root = json_load(json_path, "YouCook2's annotations JSON");
    if (!root)
        return -1;
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(root, "database");
    const int rc = cJSON_IsObject(db) ? youcook2_entries(out, db, json_path, video_dir, subset)
                 : lv_set_error("%s: no \"database\" object: expected YouCook2's "
                                "youcookii_annotations JSON", json_path);
    cJSON_Delete(root);
    if (rc)
        lv_clip_list_free(out);
    return rc;
}

/* ---- multiple choice ------------------------------------------------------------------------- */

static void mcq_entry_free(lv_mcq_entry *e)
{
    free(e->video);
    free(e->question);
    for (int j = 0; j < 5; j++)
        free(e->options[j]);
    free(e->id);
}

void lv_mcq_list_free(lv_mcq_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        mcq_entry_free(&l->e[i]);
    free(l->e);
    *l = (lv_mcq_list){ 0 };
}

int64_t lv_mcq_list_keep_answered(lv_mcq_list *l)
{
    int64_t kept = 0;
    for (int64_t i = 0; i < l->n; i++) {
        if (l->e[i].answer >= 0)
            l->e[kept++] = l->e[i];
        else
            mcq_entry_free(&l->e[i]);
    }
    const int64_t dropped = l->n - kept;
    l->n = kept;
    return dropped;
}

/* Appends a question: takes ownership of video, copies the rest. */
static int mcq_add(lv_mcq_list *l, int64_t *cap, char *video, const char *question,
                   const char *const options[5], int answer, const char *id)
{
    lv_mcq_entry *e = video ? grow(l->e, cap, l->n + 1, sizeof *e, "the question list") : NULL;
    if (!e) {
        free(video);
        return -1;
    }
    l->e = e;
    e = &e[l->n++];
    *e = (lv_mcq_entry){ .video = video, .answer = answer };
    int ok = (e->question = str_dup(question)) != NULL;
    for (int j = 0; j < 5; j++)
        ok = ok && (e->options[j] = str_dup(options[j])) != NULL;
    return ok && (!id || (e->id = str_dup(id))) ? 0 : -1;
}

/* "options": an array of exactly 5 strings. */
static int mcq_options(const cJSON *obj, const char *where, const char *options[5])
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "options");
    int ok = cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 5;
    for (int j = 0; ok && j < 5; j++)
        ok = (options[j] = cJSON_GetStringValue(cJSON_GetArrayItem(arr, j))) != NULL;
    return ok ? 0 : lv_set_error("%s: \"options\" must be an array of 5 strings", where);
}

static int mcq_line(jsonl_ctx *c, const cJSON *obj, const char *where)
{
    const char *video, *question, *id, *options[5];
    int answer;
    if (json_text(obj, "video", 1, where, &video) ||
        json_text(obj, "question", 1, where, &question) || json_text(obj, "id", 0, where, &id) ||
        mcq_options(obj, where, options))
        return -1;
    if (answer_index(cJSON_GetObjectItemCaseSensitive(obj, "answer"), &answer))
        return lv_set_error("%s: \"answer\" must be the index 0..4 of the right option", where);
    char *media = jsonl_media(c, video, "video", where);
    return media ? mcq_add(c->list, &c->cap, media, question, options, answer, id) : -1;
}

static void mcq_list_free_any(void *l)
{
    lv_mcq_list_free(l);
}

int lv_mcq_load(lv_mcq_list *out, const char *path, int check_files)
{
    *out = (lv_mcq_list){ 0 };
    return jsonl_load(out, mcq_list_free_any, path, check_files, mcq_line,
                      "{\"video\": \"a.mp4\", \"question\": \"...\", \"options\": [5 strings], "
                      "\"answer\": 0}");
}

/* ---- EgoSchema ------------------------------------------------------------------------------- */

static int egoschema_check_answers(const cJSON *answers, const char *path)
{
    if (!cJSON_IsObject(answers))
        return lv_set_error("%s: expected EgoSchema's answers, an object {\"<q_uid>\": index}",
                            path);
    const cJSON *a;
    cJSON_ArrayForEach(a, answers) {
        int index;
        if (answer_index(a, &index))
            return lv_set_error("%s: the answer of \"%s\" is not an index 0..4 of its options",
                                path, a->string);
    }
    return 0;
}

static int egoschema_question(lv_mcq_list *out, int64_t *cap, const cJSON *q, int64_t i,
                              const char *path, const cJSON *answers, const char *video_dir)
{
    const char *uid = json_str(q, "q_uid"), *question = json_str(q, "question"), *options[5];
    int ok = uid && question;
    for (int j = 0; ok && j < 5; j++) {
        char key[16];
        snprintf(key, sizeof key, "option %d", j);
        ok = (options[j] = json_str(q, key)) != NULL;
    }
    if (!ok)
        return lv_set_error("%s: question [%lld] lacks a string \"q_uid\", \"question\" or "
                            "\"option 0\" .. \"option 4\": expected EgoSchema's questions.json",
                            path, (long long)i);
    int answer = -1;
    if (answers)
        answer_index(cJSON_GetObjectItemCaseSensitive(answers, uid), &answer);
    return mcq_add(out, cap, path_join(video_dir, uid, ".mp4"), question, options, answer, uid);
}

static int egoschema_entries(lv_mcq_list *out, const cJSON *questions, const char *path,
                             const cJSON *answers, const char *video_dir)
{
    if (!cJSON_IsArray(questions))
        return lv_set_error("%s: expected EgoSchema's questions.json, an array of questions",
                            path);
    int64_t cap = 0, i = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, questions)
        if (egoschema_question(out, &cap, q, i++, path, answers, video_dir))
            return -1;
    return 0;
}

/* The answers file, checked whole (NULL path: no answers, every answer -1). */
static int egoschema_answers(const char *path, cJSON **answers)
{
    *answers = path ? json_load(path, "EgoSchema's answers JSON") : NULL;
    if (!path)
        return 0;
    return *answers ? egoschema_check_answers(*answers, path) : -1;
}

int lv_egoschema_load(lv_mcq_list *out, const char *questions_json, const char *answers_json,
                      const char *video_dir)
{
    *out = (lv_mcq_list){ 0 };
    cJSON *answers, *questions = NULL;
    int rc = egoschema_answers(answers_json, &answers);
    if (!rc && !(questions = json_load(questions_json, "EgoSchema's questions.json")))
        rc = -1;
    if (!rc)
        rc = egoschema_entries(out, questions, questions_json, answers, video_dir);
    cJSON_Delete(answers);
    cJSON_Delete(questions);
    if (rc)
        lv_mcq_list_free(out);
    return rc;
}

/* The submission object {"<q_uid>": choice}; NULL + lv_error() naming what is wrong. */
static cJSON *egoschema_predictions(const char *path, const lv_mcq_list *q, const int32_t *choice)
{
    cJSON *obj = cJSON_CreateObject();
    for (int64_t i = 0; obj && i < q->n; i++) {
        const char *uid = q->e[i].id;
        if (!uid || choice[i] < 0 || choice[i] > 4 ||
            cJSON_GetObjectItemCaseSensitive(obj, uid)) {
            lv_set_error("%s: question %lld %s: the submission maps each q_uid once to an "
                         "option 0..4", path, (long long)i, !uid ? "has no q_uid"
                         : choice[i] < 0 || choice[i] > 4 ? "has a choice outside 0..4"
                         : "repeats a q_uid");
            cJSON_Delete(obj);
            return NULL;
        }
        if (!cJSON_AddNumberToObject(obj, uid, choice[i])) {
            cJSON_Delete(obj);
            obj = NULL;
        }
    }
    if (!obj)
        lv_set_error("%s: out of memory building the predictions", path);
    return obj;
}

int lv_egoschema_write_predictions(const char *path, const lv_mcq_list *q, const int32_t *choice)
{
    cJSON *obj = egoschema_predictions(path, q, choice);
    if (!obj)
        return -1;
    char *text = cJSON_Print(obj);
    cJSON_Delete(obj);
    if (!text)
        return lv_set_error("%s: out of memory printing the predictions", path);
    const size_t tmp_size = strlen(path) + 32;
    char *tmp = lv_malloc(tmp_size, "a temporary file name");
    FILE *fp = tmp ? lv_file_temp_create(path, tmp, tmp_size) : NULL;
    int rc = 0;
    if (!fp) {
        rc = tmp ? lv_set_error("%s: cannot create a temporary file beside it: %s; check that the "
                                "folder exists and is writable", path, strerror(errno)) : -1;
    } else {
        int ok = fputs(text, fp) >= 0 && fputs("\n", fp) >= 0 && fflush(fp) == 0 &&
                 fsync(fileno(fp)) == 0;
        ok = fclose(fp) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            rc = lv_set_error("%s: cannot write it: %s; an existing %s is unchanged", path,
                              strerror(errno), path);
            remove(tmp);
        }
    }
    free(tmp);
    cJSON_free(text);
    return rc;
}
