/* The data pipeline end to end: the synthetic benchmark's stories, captions, hard negatives and
 * files (through the real encoder, manifests, tokenizer and decoder), and the background loader
 * (deterministic order, skipping bad samples, stopping past the allowed fraction). */
#include "check_util.h"
#include "error.h"
#include "loader.h"
#include "manifest.h"
#include "synth.h"
#include "video.h"
#include "wordpiece.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same_story(const lv_synth_story *a, const lv_synth_story *b, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i++)
        if (a->ev[i].colour != b->ev[i].colour || a->ev[i].shape != b->ev[i].shape ||
            a->ev[i].motion != b->ev[i].motion)
            return 0;
    return 1;
}

START_TEST(test_synth_stories)
{
    const lv_synth_spec spec = lv_synth_defaults();
    int64_t late_differs = 0, pairs = 0;
    for (int64_t g = 0; g < spec.videos / spec.group; g++)
        for (int64_t a = 0; a < spec.group; a++)
            for (int64_t b = a + 1; b < spec.group; b++) {
                lv_synth_story x, y;
                lv_synth_story_of(&x, &spec, g * spec.group + a);
                lv_synth_story_of(&y, &spec, g * spec.group + b);
                ck_assert(same_story(&x, &y, 0, spec.shared));    /* the first half is shared */
                late_differs += !same_story(&x, &y, spec.shared, spec.events);
                pairs++;
            }
    ck_assert_int_eq(late_differs, pairs);                         /* ...and told apart late */
    for (int64_t v = 0; v < spec.videos; v++) {
        lv_synth_story s, again, neg[4];
        lv_synth_story_of(&s, &spec, v);
        lv_synth_story_of(&again, &spec, v);
        ck_assert(same_story(&s, &again, 0, s.n));
        lv_synth_distractors(neg, &s, &spec);
        char truth[512], other[512];
        lv_synth_caption(truth, sizeof truth, &s);
        for (int k = 0; k < 4; k++) {
            ck_assert(same_story(&neg[k], &s, 0, spec.shared));   /* no help from the start */
            lv_synth_caption(other, sizeof other, &neg[k]);
            ck_assert_str_ne(other, truth);
            for (int q = 0; q < k; q++) {
                char earlier[512];
                lv_synth_caption(earlier, sizeof earlier, &neg[q]);
                ck_assert_str_ne(other, earlier);
            }
        }
    }
    lv_synth_story s;
    char caption[512];
    lv_synth_story_of(&s, &spec, 0);
    lv_synth_caption(caption, sizeof caption, &s);
    printf("  synth: %lld videos in groups of %lld share their first %lld events, all %lld "
           "group pairs differ late; 4 distinct hard negatives each share the first events\n"
           "  video 0: %s\n", (long long)spec.videos, (long long)spec.group,
           (long long)spec.shared, (long long)pairs, caption);
}
END_TEST

START_TEST(test_synth_render)
{
    lv_synth_spec spec = lv_synth_defaults();
    spec.size = 32;
    lv_synth_story s;
    lv_synth_story_of(&s, &spec, 5);
    uint8_t rgb[32 * 32 * 3];
    const double span = (double)spec.frames / (double)spec.events;
    for (int64_t i = 0; i < spec.events; i++) {
        /* mid-way through its stretch, event i's shape is on screen and nothing else is */
        lv_synth_render(rgb, &s, &spec, 5, (i + 0.5) * span);
        int64_t coloured = 0;
        for (int64_t p = 0; p < 32 * 32; p++)
            coloured += rgb[p * 3] > 100 || rgb[p * 3 + 1] > 100 || rgb[p * 3 + 2] > 100;
        ck_assert_int_gt(coloured, 20);
        ck_assert_int_lt(coloured, 32 * 32 / 4);
    }
    printf("  render: each of the %lld events is on screen during its own stretch\n",
           (long long)spec.events);
}
END_TEST

/* Writes a small benchmark into the test folder. */
static lv_synth_spec write_small(char *dir)
{
    lv_synth_spec spec = lv_synth_defaults();
    spec.videos = 8;
    spec.frames = 8;
    spec.size = 32;
    tmp_path(dir, "synth");
    ck_assert_msg(lv_synth_write(dir, &spec, NULL) == 0, "%s", lv_error());
    return spec;
}

START_TEST(test_synth_files)
{
    char dir[TEST_PATH_BYTES], path[TEST_PATH_BYTES + 32];
    const lv_synth_spec spec = write_small(dir);
    lv_clip_list train, test;
    lv_mcq_list mcq;
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    ck_assert_msg(lv_manifest_load(&train, path, 1) == 0, "%s", lv_error());
    snprintf(path, sizeof path, "%s/test.jsonl", dir);
    ck_assert_msg(lv_manifest_load(&test, path, 1) == 0, "%s", lv_error());
    snprintf(path, sizeof path, "%s/mcq.jsonl", dir);
    ck_assert_msg(lv_mcq_load(&mcq, path, 1) == 0, "%s", lv_error());
    ck_assert_int_eq(train.n + test.n, spec.videos);
    ck_assert_int_eq(mcq.n, test.n);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    lv_tokenizer *tok = lv_tokenizer_load(path);
    ck_assert_msg(tok != NULL, "%s", lv_error());
    const int32_t unk = lv_tokenizer_id(tok, "[UNK]");
    for (int64_t i = 0; i < mcq.n; i++)
        for (int k = 0; k < 5; k++) {   /* every option is made of known words */
            int32_t ids[64];
            uint8_t valid[64];
            const int64_t n = lv_tokenizer_encode(tok, mcq.e[i].options[k], ids, valid, 64);
            for (int64_t j = 0; j < n; j++)
                ck_assert_int_ne(ids[j], unk);
        }
    /* the decoded video at 1 FPS shows the story's first event in colour */
    lv_frames fr;
    const lv_sample_spec sample = lv_sample_spec_default(spec.frames);
    ck_assert_msg(lv_video_read(&fr, train.e[0].video, &sample) == 0, "%s", lv_error());
    ck_assert_int_eq(fr.valid, spec.frames);
    ck_assert_int_eq(fr.width, spec.size);
    printf("  synth files: %lld train + %lld test clips, %lld questions, every option "
           "tokenizes without [UNK], videos decode at 1 FPS (%lld of %lld frames)\n",
           (long long)train.n, (long long)test.n, (long long)mcq.n, (long long)fr.valid,
           (long long)fr.n);
    lv_frames_free(&fr);
    lv_tokenizer_free(tok);
    lv_clip_list_free(&train);
    lv_clip_list_free(&test);
    lv_mcq_list_free(&mcq);
}
END_TEST

static void quiet_ffmpeg(void)
{
    lv_video_quiet(1);      /* our messages name the file; FFmpeg's own lines add nothing */
}

static lv_loader_spec loader_spec(int shuffle)
{
    return (lv_loader_spec){ .batch = 3, .frames = 4, .size = 16, .text_len = 24, .fps = 1.0,
                             .mode = LV_SAMPLE_FIRST, .mean = { 0.5f, 0.5f, 0.5f },
                             .std = { 0.25f, 0.25f, 0.25f }, .shuffle = shuffle, .seed = 7,
                             .max_bad_fraction = 0.5 };
}

START_TEST(test_loader_order_and_content)
{
    char dir[TEST_PATH_BYTES], path[TEST_PATH_BYTES + 32];
    write_small(dir);
    lv_clip_list clips;
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    ck_assert_int_eq(lv_manifest_load(&clips, path, 1), 0);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    lv_tokenizer *tok = lv_tokenizer_load(path);
    const lv_loader_spec spec = loader_spec(1);
    lv_loader *a = lv_loader_open(&clips, tok, &spec), *b = lv_loader_open(&clips, tok, &spec);
    ck_assert(a && b);
    const int64_t pixels = spec.batch * spec.frames * spec.size * spec.size * 3;
    int64_t order[64], n_order = 0;
    const int steps = 4;                      /* 12 samples: three epochs of 4 clips */
    for (int step = 0; step < steps; step++) {
        const lv_loader_batch *x, *y;
        ck_assert_msg(lv_loader_next(a, &x) == 0, "%s", lv_error());
        ck_assert_msg(lv_loader_next(b, &y) == 0, "%s", lv_error());
        ck_assert_int_eq(x->step, step);
        ck_assert(memcmp(x->clip, y->clip, (size_t)spec.batch * sizeof *x->clip) == 0);
        ck_assert(memcmp(x->video, y->video, (size_t)pixels * sizeof(float)) == 0);
        ck_assert(memcmp(x->text, y->text, (size_t)(spec.batch * spec.text_len) * 4) == 0);
        for (int64_t i = 0; i < spec.batch; i++)
            order[n_order++] = x->clip[i];
    }
    for (int64_t e = 0; (e + 1) * clips.n <= n_order; e++) {   /* each epoch: a permutation */
        int64_t seen[64] = { 0 };
        for (int64_t i = 0; i < clips.n; i++)
            seen[order[e * clips.n + i]]++;
        for (int64_t c = 0; c < clips.n; c++)
            ck_assert_int_eq(seen[c], 1);
    }
    ck_assert(memcmp(order, order + clips.n, (size_t)clips.n * sizeof *order) != 0);
    printf("  loader: two loaders with seed %llu give identical batches for %d steps; every "
           "epoch visits each of the %lld clips once, in a new order\n",
           (unsigned long long)spec.seed, steps,
           (long long)clips.n);
    lv_loader_close(a);
    lv_loader_close(b);
    lv_tokenizer_free(tok);
    lv_clip_list_free(&clips);
}
END_TEST

START_TEST(test_loader_bad_samples)
{
    char dir[TEST_PATH_BYTES], path[TEST_PATH_BYTES + 32];
    write_small(dir);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    lv_tokenizer *tok = lv_tokenizer_load(path);
    /* a manifest with one corrupt "video" among good ones: skipped and counted */
    char bad[TEST_PATH_BYTES + 32], manifest[TEST_PATH_BYTES + 32];
    snprintf(bad, sizeof bad, "%s/videos/broken.mp4", dir);
    FILE *fp = fopen(bad, "w");
    fputs("this is not a video\n", fp);
    fclose(fp);
    snprintf(manifest, sizeof manifest, "%s/mixed.jsonl", dir);
    fp = fopen(manifest, "w");
    fprintf(fp, "{\"video\": \"videos/v0000.mp4\", \"caption\": \"a red square moves up.\"}\n"
                "{\"video\": \"videos/broken.mp4\", \"caption\": \"a red square moves up.\"}\n"
                "{\"video\": \"videos/v0001.mp4\", \"caption\": \"a red square moves up.\"}\n");
    fclose(fp);
    lv_clip_list clips;
    ck_assert_int_eq(lv_manifest_load(&clips, manifest, 1), 0);
    lv_loader_spec spec = loader_spec(0);
    spec.batch = 2;
    lv_loader *l = lv_loader_open(&clips, tok, &spec);
    const lv_loader_batch *x;
    ck_assert_int_eq(lv_loader_next(l, &x), 0);
    ck_assert(x->clip[0] == 0 && x->clip[1] == 2 && x->skipped == 1);
    lv_loader_close(l);
    /* the bad one alone: the loader stops with the file's own message */
    fp = fopen(manifest, "w");
    fprintf(fp, "{\"video\": \"videos/broken.mp4\", \"caption\": \"a red square moves up.\"}\n");
    fclose(fp);
    lv_clip_list only_bad;
    ck_assert_int_eq(lv_manifest_load(&only_bad, manifest, 1), 0);
    l = lv_loader_open(&only_bad, tok, &spec);
    ck_assert_int_lt(lv_loader_next(l, &x), 0);
    ck_assert_ptr_nonnull(strstr(lv_error(), "broken.mp4"));
    printf("  loader: a corrupt video is skipped and counted; a list of only bad videos stops "
           "with: %.120s\n", lv_error());
    lv_loader_close(l);
    lv_clip_list_free(&clips);
    lv_clip_list_free(&only_bad);
    lv_tokenizer_free(tok);
}
END_TEST

Suite *pipeline_suite(void)
{
    const test_row rows[] = {
        { "synth", test_synth_stories, 1 },
        { "synth", test_synth_render, 1 },
        { "synth", test_synth_files, 1 },
        { "loader", test_loader_order_and_content, 1 },
        { "loader", test_loader_bad_samples, 1 },
    };
    Suite *s = suite_from_rows("pipeline", rows, sizeof rows / sizeof rows[0], 60, 1);
    quiet_ffmpeg();
    return s;
}
