/* Check suite for the benchmark files as they are published (data/manifest.c): MSR-VTT's 1k-A
 * test CSV, YouCook2's download tree with videos missing, EgoSchema's subset answers and its
 * submission file. Every file is written here, small, in the published layout; every reader is
 * also fed a broken input and must name the file (and line) in its message. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "manifest.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- files ----------------------------------------------------------------------------------- */

/* Writes n bytes of text to name inside the test folder (folders made as needed); path
 * (TEST_PATH_BYTES, may be NULL) receives its full path. */
static void write_bytes(char *path, const char *name, const char *text, size_t n)
{
    char full[TEST_PATH_BYTES];
    tmp_path(full, name);
    for (char *s = strchr(full + strlen(test_dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(full, 0700);
        *s = '/';
    }
    FILE *fp = fopen(full, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
    if (path)
        snprintf(path, TEST_PATH_BYTES, "%s", full);
}

static void write_text(char *path, const char *name, const char *text)
{
    write_bytes(path, name, text, strlen(text));
}

static void expect_error(const char *needle, const char *needle2)
{
    printf("    error: %s\n", lv_error());
    ck_assert_msg(strstr(lv_error(), needle), "message lacks \"%s\": %s", needle, lv_error());
    ck_assert_msg(!needle2 || strstr(lv_error(), needle2), "message lacks \"%s\": %s", needle2,
                  lv_error());
}

static void expect_clip(const lv_clip_entry *e, const char *video, const char *caption,
                        double start, double end, const char *id)
{
    printf("    %s \"%s\" [%g, %g] id %s\n", e->video, e->caption, e->start, e->end, e->id);
    ck_assert_str_eq(e->video, video);
    ck_assert_str_eq(e->caption, caption);
    ck_assert(e->start == start && e->end == end && !e->is_image);
    ck_assert_str_eq(e->id, id);
}

/* ---- MSR-VTT 1k-A CSV ------------------------------------------------------------------------ */

/* As JSFusion and CLIP4Clip ship MSRVTT_JSFUSION_test.csv, with what a spreadsheet or another
 * writer adds: a byte-order mark, CRLF line ends, quoted fields holding a comma, a doubled quote
 * and a line break, a blank line at the end. */
static const char msrvtt_csv[] =
    "\xEF\xBB\xBFkey,vid_key,video_id,sentence\r\n"
    "ret0,msr7579,video7579,a girl wearing red top and black trouser is putting a sweater on "
    "a dog\r\n"
    "ret1,msr7725,video7725,\"young people sit around the edges of a room, clapping\"\r\n"
    "\"ret2\",msr9258,video9258,\"a man says \"\"hello\"\" \r\nand waves\"\r\n"
    "\r\n";

START_TEST(test_msrvtt_csv)
{
    char path[TEST_PATH_BYTES];
    write_text(path, "MSRVTT_JSFUSION_test.csv", msrvtt_csv);
    lv_clip_list l;
    ck_assert_msg(!lv_msrvtt_csv_load(&l, path, "/data/msrvtt/videos"), "%s", lv_error());
    printf("  MSR-VTT 1k-A CSV: %lld rows\n", (long long)l.n);
    ck_assert_int_eq(l.n, 3);
    expect_clip(&l.e[0], "/data/msrvtt/videos/video7579.mp4", "a girl wearing red top and "
                "black trouser is putting a sweater on a dog", 0, 0, "video7579");
    expect_clip(&l.e[1], "/data/msrvtt/videos/video7725.mp4", "young people sit around the "
                "edges of a room, clapping", 0, 0, "video7725");
    expect_clip(&l.e[2], "/data/msrvtt/videos/video9258.mp4", "a man says \"hello\" \r\nand waves",
                0, 0, "video9258");
    lv_clip_list_free(&l);
    ck_assert(l.n == 0 && l.e == NULL);

    /* the columns are found by name: another order, an extra column, \n line ends, no final
     * line end */
    write_text(path, "reordered.csv", "sentence,video_id,extra\na dog runs,video1,x\n"
               "\"a cat, asleep\",video2,\"y\"");
    ck_assert_msg(!lv_msrvtt_csv_load(&l, path, "v"), "%s", lv_error());
    ck_assert_int_eq(l.n, 2);
    expect_clip(&l.e[0], "v/video1.mp4", "a dog runs", 0, 0, "video1");
    expect_clip(&l.e[1], "v/video2.mp4", "a cat, asleep", 0, 0, "video2");
    lv_clip_list_free(&l);

    printf("  MSR-VTT CSV with a NUL byte:\n");
    static const char nul[] = "video_id,sentence\nvideo1,a\0dog\n";
    write_bytes(path, "nul.csv", nul, sizeof nul - 1);
    ck_assert_int_eq(lv_msrvtt_csv_load(&l, path, "v"), -1);
    ck_assert(l.n == 0 && l.e == NULL);
    expect_error(path, "holds a NUL byte");
}
END_TEST

typedef struct {
    const char *what, *text, *needle;
} bad_csv;

static const bad_csv bad_csvs[] = {
    { "an unclosed quote", "key,vid_key,video_id,sentence\nret0,msr1,video1,fine\n"
      "ret1,msr2,video2,\"never closed\nret2,msr3,video3,x\n", ":3: a quoted field is never closed" },
    { "an unquoted comma", "key,vid_key,video_id,sentence\r\nret0,msr1,video1,a dog, running\r\n",
      ":2: 5 fields where the header has 4: quote a sentence" },
    { "a short row", "key,vid_key,video_id,sentence\nret0,msr1,video1\n",
      ":2: 3 fields where the header has 4" },
    { "text after a quote", "key,vid_key,video_id,sentence\nret0,msr1,video1,\"a\" b\n",
      ":2: text after a closing quote" },
    { "an empty sentence", "key,vid_key,video_id,sentence\r\nret0,msr1,video1,\r\n",
      ":2: an empty sentence" },
    { "a bad row after a quoted line break", "key,vid_key,video_id,sentence\nret0,msr1,video1,"
      "\"two\nlines\"\nret1,msr2,video2,\"a\" b\n", ":4: text after a closing quote" },
    { "an empty video_id", "video_id,sentence\n,a dog\n", ":2: an empty video_id" },
    { "no sentence column", "key,vid_key,video_id,caption\nret0,msr1,video1,a dog\n",
      ":1: the header must name the columns video_id and sentence" },
    { "a header alone", "key,vid_key,video_id,sentence\r\n", "a header and no row" },
    { "blank lines only", "\n\r\n", "the header must name" },
    { "an empty file", "", "the file is empty" },
};

START_TEST(test_msrvtt_csv_broken)
{
    const bad_csv *b = &bad_csvs[_i];
    char path[TEST_PATH_BYTES];
    write_text(path, "broken.csv", b->text);
    lv_clip_list l;
    printf("  MSR-VTT CSV with %s:\n", b->what);
    ck_assert_int_eq(lv_msrvtt_csv_load(&l, path, "v"), -1);
    ck_assert(l.n == 0 && l.e == NULL);
    expect_error(path, b->needle);
}
END_TEST

/* ---- YouCook2's download tree ---------------------------------------------------------------- */

/* youcookii_annotations_trainval.json's shape; NotThere00 is one of the videos the download
 * always misses. */
static const char youcook2_json[] =
    "{\"database\": {\n"
    " \"GLd3aX16zBg\": {\"duration\": 241.62, \"subset\": \"validation\", \"recipe_type\": \"113\","
    " \"annotations\": [\n"
    "  {\"segment\": [90, 102], \"id\": 0, \"sentence\": \"spread margarine on the bread\"},\n"
    "  {\"segment\": [114, 127], \"id\": 1, \"sentence\": \"place a slice of cheese\"}],"
    " \"video_url\": \"https://www.youtube.com/watch?v=GLd3aX16zBg\"},\n"
    " \"NotThere00\": {\"subset\": \"validation\", \"recipe_type\": \"113\", \"annotations\": [\n"
    "  {\"segment\": [3, 9], \"id\": 0, \"sentence\": \"boil water\"},\n"
    "  {\"segment\": [9, 15], \"id\": 1, \"sentence\": \"add salt\"}]},\n"
    " \"xHr8X2Wpmno\": {\"subset\": \"validation\", \"recipe_type\": 201, \"annotations\": [\n"
    "  {\"segment\": [5, 10.5], \"id\": 0, \"sentence\": \"cut the tofu\"}]},\n"
    " \"sIp2tOA6bJY\": {\"subset\": \"training\", \"recipe_type\": \"113\", \"annotations\": [\n"
    "  {\"segment\": [2, 5], \"id\": 0, \"sentence\": \"boil the pasta\"}]}}}\n";

/* The validation subset from root/sub: every found video at its place in the tree. */
static void expect_tree(const char *json, const char *sub, const char *flat_name)
{
    char dir[TEST_PATH_BYTES], a[TEST_PATH_BYTES * 2], b[TEST_PATH_BYTES * 2];
    tmp_path(dir, sub);
    lv_clip_list l;
    ck_assert_msg(!lv_youcook2_load(&l, json, dir, "validation"), "%s", lv_error());
    ck_assert_int_eq(l.n, 5);
    int64_t videos = -1, clips = -1;
    ck_assert_msg(!lv_clip_list_drop_missing(&l, &videos, &clips), "%s", lv_error());
    printf("  YouCook2 from %s: %lld segments kept, %lld videos (%lld segments) missing\n", sub,
           (long long)l.n, (long long)videos, (long long)clips);
    ck_assert_int_eq(videos, 1);
    ck_assert_int_eq(clips, 2);
    ck_assert_int_eq(l.n, 3);
    tmp_path(a, flat_name ? flat_name : "yc/raw_videos/validation/113/GLd3aX16zBg.mp4");
    tmp_path(b, "yc/raw_videos/validation/201/xHr8X2Wpmno.webm");
    expect_clip(&l.e[0], a, "spread margarine on the bread", 90, 102, "GLd3aX16zBg_0");
    expect_clip(&l.e[1], a, "place a slice of cheese", 114, 127, "GLd3aX16zBg_1");
    expect_clip(&l.e[2], b, "cut the tofu", 5, 10.5, "xHr8X2Wpmno_0");
    lv_clip_list_free(&l);
}

START_TEST(test_youcook2_tree)
{
    char json[TEST_PATH_BYTES], dir[TEST_PATH_BYTES], want[TEST_PATH_BYTES];
    write_text(json, "youcookii_annotations_trainval.json", youcook2_json);
    write_text(NULL, "yc/raw_videos/validation/113/GLd3aX16zBg.mp4", "");
    write_text(NULL, "yc/raw_videos/validation/201/xHr8X2Wpmno.webm", "");
    write_text(NULL, "yc/raw_videos/training/113/sIp2tOA6bJY.mkv", "");
    /* --videos at the dataset's folder, at raw_videos/ and at raw_videos/validation/ */
    expect_tree(json, "yc", NULL);
    expect_tree(json, "yc/raw_videos", NULL);
    expect_tree(json, "yc/raw_videos/validation", NULL);
    /* a flat copy beside the tree wins (today's layout first) */
    write_text(NULL, "yc/GLd3aX16zBg.mkv", "");
    expect_tree(json, "yc", "yc/GLd3aX16zBg.mkv");

    lv_clip_list l;
    tmp_path(dir, "yc");
    ck_assert_msg(!lv_youcook2_load(&l, json, dir, "training"), "%s", lv_error());
    tmp_path(want, "yc/raw_videos/training/113/sIp2tOA6bJY.mkv");
    ck_assert_int_eq(l.n, 1);
    expect_clip(&l.e[0], want, "boil the pasta", 2, 5, "sIp2tOA6bJY_0");
    lv_clip_list_free(&l);
}
END_TEST

START_TEST(test_youcook2_broken)
{
    char json[TEST_PATH_BYTES], dir[TEST_PATH_BYTES];
    lv_clip_list l;
    printf("  YouCook2 with none of the videos: every segment dropped, every video counted\n");
    write_text(json, "yc.json", youcook2_json);
    tmp_path(dir, "empty");
    ck_assert_msg(!lv_youcook2_load(&l, json, dir, "validation"), "%s", lv_error());
    int64_t videos = -1, clips = -1;
    ck_assert_msg(!lv_clip_list_drop_missing(&l, &videos, &clips), "%s", lv_error());
    printf("    %lld videos, %lld segments missing, %lld left\n", (long long)videos,
           (long long)clips, (long long)l.n);
    ck_assert(l.n == 0 && videos == 3 && clips == 5);
    lv_clip_list_free(&l);

    printf("  YouCook2 with a recipe_type that names no folder:\n");
    write_text(json, "badrecipe.json", "{\"database\": {\"abc\": {\"subset\": \"validation\", "
               "\"recipe_type\": {\"id\": 113}, \"annotations\": [{\"segment\": [1, 2], "
               "\"sentence\": \"fine\"}]}}}");
    ck_assert_int_eq(lv_youcook2_load(&l, json, dir, "validation"), -1);
    ck_assert(l.n == 0 && l.e == NULL);
    expect_error(json, "database.abc: \"recipe_type\" must be");
    write_text(json, "escape.json", "{\"database\": {\"abc\": {\"subset\": \"validation\", "
               "\"recipe_type\": \"../..\", \"annotations\": []}}}");
    ck_assert_int_eq(lv_youcook2_load(&l, json, dir, "validation"), -1);
    expect_error(json, "\"recipe_type\" must be");
}
END_TEST

/* ---- EgoSchema: subset answers and the submission file --------------------------------------- */

#define EGO_OPTIONS(a) "\"option 0\": \"" a "\", \"option 1\": \"o1\", \"option 2\": \"o2\"," \
                       " \"option 3\": \"o3\", \"option 4\": \"o4\""

static const char ego_questions[] =
    "[{\"q_uid\": \"001934bb-81bd-4cd8-a574-0472ef3f6678\", \"google_drive_id\": \"1x\", "
    "\"question\": \"What is c doing overall?\", " EGO_OPTIONS("cooking") "},\n"
    " {\"q_uid\": \"00b9a0de-c59e-49cb-a127-6081e2fb8c8e\", \"question\": \"Which tool?\", "
    EGO_OPTIONS("a knife") "},\n"
    " {\"q_uid\": \"00f93e1e-cf4e-4835-88b4-4ad68216e86f\", \"question\": \"How does it change?\", "
    EGO_OPTIONS("it gets dark") "},\n"
    " {\"q_uid\": \"0141c8ad-2ab4-4a4e-8d4b-6f9d2e6a2b50\", \"question\": \"What first?\", "
    EGO_OPTIONS("washing") "}]\n";

/* subset_answers.json answers two of the four (and one question this file does not list) */
static const char ego_answers[] =
    "{\"00b9a0de-c59e-49cb-a127-6081e2fb8c8e\": 4, \"0141c8ad-2ab4-4a4e-8d4b-6f9d2e6a2b50\": 0,"
    " \"ffffffff-0000-0000-0000-000000000000\": 2}";

/* No temporary file is left beside the predictions. */
static void expect_no_temp(void)
{
    DIR *d = opendir(test_dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));)
        ck_assert_msg(!strstr(e->d_name, ".tmp-"), "a temporary file is left: %s", e->d_name);
    closedir(d);
}

START_TEST(test_egoschema_round_trip)
{
    char q[TEST_PATH_BYTES], a[TEST_PATH_BYTES], pred[TEST_PATH_BYTES];
    write_text(q, "questions.json", ego_questions);
    write_text(a, "subset_answers.json", ego_answers);
    lv_mcq_list l;
    ck_assert_msg(!lv_egoschema_load(&l, q, a, "/ego/videos"), "%s", lv_error());
    ck_assert_int_eq(l.n, 4);
    const int64_t dropped = lv_mcq_list_keep_answered(&l);
    printf("  EgoSchema subset: %lld questions answered, %lld dropped\n", (long long)l.n,
           (long long)dropped);
    ck_assert_int_eq(dropped, 2);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.e[0].id, "00b9a0de-c59e-49cb-a127-6081e2fb8c8e");
    ck_assert_str_eq(l.e[0].video, "/ego/videos/00b9a0de-c59e-49cb-a127-6081e2fb8c8e.mp4");
    ck_assert_str_eq(l.e[0].options[0], "a knife");
    ck_assert_int_eq(l.e[0].answer, 4);
    ck_assert_str_eq(l.e[1].id, "0141c8ad-2ab4-4a4e-8d4b-6f9d2e6a2b50");
    ck_assert_str_eq(l.e[1].question, "What first?");
    ck_assert_int_eq(l.e[1].answer, 0);
    lv_mcq_list_free(&l);

    /* the whole set's submission, read back as an answers file: the same choices */
    const int32_t choice[4] = { 3, 0, 4, 1 };
    ck_assert_msg(!lv_egoschema_load(&l, q, NULL, "v"), "%s", lv_error());
    tmp_path(pred, "predictions.json");
    ck_assert_msg(!lv_egoschema_write_predictions(pred, &l, choice), "%s", lv_error());
    lv_mcq_list_free(&l);
    ck_assert_msg(!lv_egoschema_load(&l, q, pred, "v"), "%s", lv_error());
    ck_assert_int_eq(l.n, 4);
    printf("  submission read back:");
    for (int i = 0; i < 4; i++) {
        printf(" %d", l.e[i].answer);
        ck_assert_int_eq(l.e[i].answer, choice[i]);
    }
    printf("\n");
    lv_mcq_list_free(&l);
    expect_no_temp();
}
END_TEST

START_TEST(test_egoschema_predictions_broken)
{
    char q[TEST_PATH_BYTES], pred[TEST_PATH_BYTES];
    write_text(q, "questions.json", ego_questions);
    lv_mcq_list l;
    ck_assert_msg(!lv_egoschema_load(&l, q, NULL, "v"), "%s", lv_error());
    tmp_path(pred, "predictions.json");
    const int32_t good[4] = { 0, 1, 2, 3 }, bad[4] = { 0, 1, 5, 3 };
    ck_assert_msg(!lv_egoschema_write_predictions(pred, &l, good), "%s", lv_error());

    printf("  a choice outside 0..4: refused, the file written before unchanged\n");
    ck_assert_int_eq(lv_egoschema_write_predictions(pred, &l, bad), -1);
    expect_error(pred, "question 2 has a choice outside 0..4");
    lv_mcq_list back;
    ck_assert_msg(!lv_egoschema_load(&back, q, pred, "v"), "%s", lv_error());
    ck_assert_int_eq(back.e[2].answer, 2);
    lv_mcq_list_free(&back);

    printf("  a question without a q_uid, a q_uid twice:\n");
    char *uid = l.e[1].id;
    l.e[1].id = NULL;
    ck_assert_int_eq(lv_egoschema_write_predictions(pred, &l, good), -1);
    expect_error(pred, "question 1 has no q_uid");
    l.e[1].id = l.e[0].id;
    ck_assert_int_eq(lv_egoschema_write_predictions(pred, &l, good), -1);
    expect_error(pred, "question 1 repeats a q_uid");
    l.e[1].id = uid;

    printf("  a folder that does not exist:\n");
    tmp_path(pred, "no/such/folder/predictions.json");
    ck_assert_int_eq(lv_egoschema_write_predictions(pred, &l, good), -1);
    expect_error(pred, "No such file or directory");
    lv_mcq_list_free(&l);
    expect_no_temp();
}
END_TEST

Suite *benchmarks_suite(void)
{
    const test_row rows[] = {
        { "msrvtt_csv", test_msrvtt_csv, 1 },
        { "msrvtt_csv", test_msrvtt_csv_broken, sizeof bad_csvs / sizeof bad_csvs[0] },
        { "youcook2", test_youcook2_tree, 1 }, { "youcook2", test_youcook2_broken, 1 },
        { "egoschema", test_egoschema_round_trip, 1 },
        { "egoschema", test_egoschema_predictions_broken, 1 },
    };
    return suite_from_rows("benchmarks", rows, sizeof rows / sizeof rows[0], 30, 1);
}
