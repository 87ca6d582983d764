/* Check suite for ref/metrics and data/plot: retrieval ranks and MCQ accuracy on hand-made score
 * matrices (ties, duplicates, NaN, Q != C) plus a seeded sort-based reference, and both PNGs read
 * back pixel by pixel at known points. No model and no data set: every expectation is by hand. */
#include "suites.h"
#include "check_util.h"
#include "error.h"
#include "image.h"
#include "metrics.h"
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- retrieval ------------------------------------------------------------------------------ */

typedef struct {
    double r1, r5, r10, median_rank, mean_rank;
    int64_t n;
} want_retrieval;

static void expect_retrieval(const char *what, const lv_retrieval *got, want_retrieval want)
{
    ck_assert_int_eq(got->n, want.n);
    const double g[5] = { got->r1, got->r5, got->r10, got->median_rank, got->mean_rank };
    const double w[5] = { want.r1, want.r5, want.r10, want.median_rank, want.mean_rank };
    static const char *names[5] = { "R@1", "R@5", "R@10", "median rank", "mean rank" };
    for (int i = 0; i < 5; i++)
        ck_assert_msg(fabs(g[i] - w[i]) <= 1e-12, "%s %s: got %.17g want %.17g", what, names[i],
                      g[i], w[i]);
    printf("  %-34s n %lld  R@1 %.4f R@5 %.4f R@10 %.4f median %.1f mean %.4f\n", what,
           (long long)got->n, got->r1, got->r5, got->r10, got->median_rank, got->mean_rank);
}

static lv_retrieval retrieval_ok(const float *sim, const int64_t *gt, int64_t Q, int64_t C)
{
    lv_retrieval r;
    ck_assert_msg(lv_retrieval_metrics(&r, sim, gt, Q, C) == 0, "%s", lv_error());
    return r;
}

START_TEST(test_identity)
{
    float sim[16] = { 0 };
    const int64_t gt[4] = { 0, 1, 2, 3 };
    for (int i = 0; i < 4; i++)
        sim[i * 4 + i] = 1.0f;
    const lv_retrieval r = retrieval_ok(sim, gt, 4, 4);
    expect_retrieval("identity 4x4", &r, (want_retrieval){ 1, 1, 1, 1, 1, 4 });
}
END_TEST

/* Distinct scores, Q = 5 queries over C = 6 candidates; ranks by counting the higher scores. */
static const float hand_sim[5 * 6] = {
    0.9f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f,     /* gt 0: nothing higher        -> rank 1 */
    0.5f, 0.6f, 0.9f, 0.1f, 0.2f, 0.3f,     /* gt 1: 0.9                   -> rank 2 */
    0.3f, 0.8f, 0.7f, 0.6f, 0.9f, 0.1f,     /* gt 3: 0.8 0.7 0.9           -> rank 4 */
    0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f,     /* gt 0: all five              -> rank 6 */
    0.2f, 0.9f, 0.8f, 0.7f, 0.6f, 0.5f,     /* gt 5: 0.9 0.8 0.7 0.6       -> rank 5 */
};
static const int64_t hand_gt[5] = { 0, 1, 3, 0, 5 };

START_TEST(test_hand_ranks)
{
    lv_retrieval r = retrieval_ok(hand_sim, hand_gt, 5, 6);
    /* ranks 1 2 4 6 5: sorted 1 2 4 5 6, median 4, mean 18/5 */
    expect_retrieval("5 queries x 6 candidates", &r, (want_retrieval){ 0.2, 0.8, 1, 4, 3.6, 5 });
    r = retrieval_ok(hand_sim, hand_gt, 4, 6);
    /* ranks 1 2 4 6: even count, median (2 + 4) / 2 = 3, mean 13/4 */
    expect_retrieval("first 4 queries (even median)", &r,
                     (want_retrieval){ 0.25, 0.75, 1, 3, 3.25, 4 });
}
END_TEST

/* A permutation matrix scored against the identity ground truth: a fixed point ranks 1; any other
 * query's correct score 0 ties with C - 2 other zeros and sits below one 1, so it ranks C = 6. */
START_TEST(test_permutation_ties)
{
    const int64_t perm[6] = { 0, 2, 1, 3, 5, 4 }, gt[6] = { 0, 1, 2, 3, 4, 5 };
    float sim[36] = { 0 };
    for (int q = 0; q < 6; q++)
        sim[q * 6 + perm[q]] = 1.0f;
    const lv_retrieval r = retrieval_ok(sim, gt, 6, 6);
    /* ranks 1 6 6 1 6 6: median (6 + 6) / 2, mean 26/6 */
    expect_retrieval("permutation, 2 fixed points", &r,
                     (want_retrieval){ 1.0 / 3, 1.0 / 3, 1, 6, 26.0 / 6, 6 });
}
END_TEST

/* A constant model must not score: every query ranks C (ties pessimistic), except when C = 1. */
START_TEST(test_constant)
{
    float sim[3 * 7];
    const int64_t gt[3] = { 0, 3, 6 }, gt1[3] = { 0, 0, 0 };
    for (int i = 0; i < 21; i++)
        sim[i] = 0.25f;
    lv_retrieval r = retrieval_ok(sim, gt, 3, 7);
    expect_retrieval("constant 3x7", &r, (want_retrieval){ 0, 0, 1, 7, 7, 3 });
    r = retrieval_ok(sim, gt1, 3, 1);
    expect_retrieval("constant 3x1 (one candidate)", &r, (want_retrieval){ 1, 1, 1, 1, 1, 3 });
    for (int i = 0; i < 21; i++)
        sim[i] = 0.0f;
    sim[0] = 1.0f;
    r = retrieval_ok(sim, gt1, 3, 7);
    /* query 0 ranks 1; queries 1, 2 tie with 6 other zeros: rank 7 */
    expect_retrieval("constant rows, one winner", &r,
                     (want_retrieval){ 1.0 / 3, 1.0 / 3, 1, 7, 5, 3 });
}
END_TEST

/* NaN is pessimistic: a NaN candidate counts above the correct one, a NaN correct score ranks C. */
START_TEST(test_nan_scores)
{
    const float sim[3 * 3] = { NAN, 0.5f, 0.2f,         /* gt 1: NaN above -> rank 2 */
                               0.1f, NAN, 0.3f,         /* gt 1 is NaN     -> rank 3 */
                               0.9f, 0.1f, NAN };       /* gt 0: NaN above -> rank 2 */
    const int64_t gt[3] = { 1, 1, 0 };
    const lv_retrieval r = retrieval_ok(sim, gt, 3, 3);
    expect_retrieval("NaN scores", &r, (want_retrieval){ 0, 1, 1, 2, 7.0 / 3, 3 });
}
END_TEST

typedef struct {
    float score;
    int correct;
} scored;

/* Descending by score; among equal scores the correct candidate goes last (pessimistic). */
static int compare_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->correct - y->correct;
}

/* Seeded 37 x 53 matrices with scores on a grid of 8 values (many ties), the correct one drawn
 * from the upper half or 1 (so that some queries rank first), checked against the position of
 * the correct candidate in a full sort: an independent formulation of the rank. */
START_TEST(test_sorted_reference)
{
    enum { Q = 37, C = 53 };
    lv_rng rng = test_rng(9100 + (uint32_t)_i);
    float *sim = malloc(Q * C * sizeof *sim);
    int64_t gt[Q], ranks[Q] = { 0 };
    scored row[C];
    ck_assert_ptr_nonnull(sim);
    for (int i = 0; i < Q * C; i++)
        sim[i] = (float)lv_rng_below(&rng, 8) / 8.0f;
    double sum = 0.0;
    int within[3] = { 0, 0, 0 };
    for (int q = 0; q < Q; q++) {
        gt[q] = (int64_t)lv_rng_below(&rng, C);
        sim[q * C + gt[q]] = (float)(4 + lv_rng_below(&rng, 5)) / 8.0f;     /* 8/8: unique */
        for (int c = 0; c < C; c++)
            row[c] = (scored){ sim[q * C + c], c == gt[q] };
        qsort(row, C, sizeof row[0], compare_scored);
        for (int c = 0; c < C; c++)
            if (row[c].correct)
                ranks[q] = c + 1;
        within[0] += ranks[q] <= 1;
        within[1] += ranks[q] <= 5;
        within[2] += ranks[q] <= 10;
        sum += (double)ranks[q];
    }
    for (int i = 1; i < Q; i++)             /* insertion sort: Q is odd, median is the middle */
        for (int j = i; j > 0 && ranks[j - 1] > ranks[j]; j--) {
            const int64_t t = ranks[j];
            ranks[j] = ranks[j - 1];
            ranks[j - 1] = t;
        }
    const lv_retrieval r = retrieval_ok(sim, gt, Q, C);
    expect_retrieval("37x53 on 8 levels vs full sort", &r,
                     (want_retrieval){ within[0] / (double)Q, within[1] / (double)Q,
                                       within[2] / (double)Q, (double)ranks[Q / 2], sum / Q, Q });
    free(sim);
}
END_TEST

/* T = 6 captions, 2 per video for videos 0..2; video 3 has none (its column is all 0). */
static const float dup_sim[6 * 4] = {
    0.9f, 0.1f,  0.4f, 0.0f,       /* t0 of v0: rank 1 */
    0.3f, 0.85f, 0.1f, 0.0f,       /* t1 of v0: 0.85 above -> rank 2 */
    0.2f, 0.8f,  0.1f, 0.0f,       /* t2 of v1: rank 1 */
    0.6f, 0.4f,  0.7f, 0.0f,       /* t3 of v1: 0.6 0.7 above -> rank 3 */
    0.1f, 0.2f,  0.3f, 0.0f,       /* t4 of v2: rank 1 */
    0.4f, 0.4f,  0.4f, 0.0f,       /* t5 of v2: two ties above -> rank 3 */
};
static const int64_t dup_owner[6] = { 0, 0, 1, 1, 2, 2 };

START_TEST(test_duplicates)
{
    lv_retrieval t2v, v2t;
    ck_assert_msg(lv_retrieval_both(&t2v, &v2t, dup_sim, dup_owner, 6, 4) == 0, "%s", lv_error());
    /* t2v ranks 1 2 1 3 1 3: sorted 1 1 1 2 3 3, median 1.5, mean 11/6 */
    expect_retrieval("t2v, 2 captions per video", &t2v,
                     (want_retrieval){ 0.5, 1, 1, 1.5, 11.0 / 6, 6 });
    /* v2t by the best own caption; other videos' captions not below it push the video down:
     * v0 best 0.9, none above -> 1; v1 best 0.8 (t2), t1's 0.85 above -> 2; v2 best 0.4 (t5),
     * t0's 0.4 ties and t3's 0.7 is above -> 3; v3 has no caption: skipped */
    expect_retrieval("v2t, best caption, v3 skipped", &v2t,
                     (want_retrieval){ 1.0 / 3, 1, 1, 2, 2, 3 });
}
END_TEST

/* Every video's captions score 1 against it, 0 elsewhere: both directions perfect, and two own
 * captions tying at the top do not push each other down. */
START_TEST(test_duplicates_perfect)
{
    enum { T = 7, V = 3 };
    const int64_t owner[T] = { 0, 0, 0, 1, 2, 2, 1 };
    float sim[T * V] = { 0 };
    for (int t = 0; t < T; t++)
        sim[t * V + owner[t]] = 1.0f;
    lv_retrieval t2v, v2t;
    ck_assert_msg(lv_retrieval_both(&t2v, &v2t, sim, owner, T, V) == 0, "%s", lv_error());
    expect_retrieval("t2v, perfect, 1-3 captions each", &t2v, (want_retrieval){ 1, 1, 1, 1, 1, T });
    expect_retrieval("v2t, perfect, tied own captions", &v2t, (want_retrieval){ 1, 1, 1, 1, 1, V });
    for (int i = 0; i < T * V; i++)
        sim[i] = 0.5f;
    ck_assert_msg(lv_retrieval_both(&t2v, &v2t, sim, owner, T, V) == 0, "%s", lv_error());
    /* constant: a video ranks below every caption of the others: 1 + (7 - 3), 1 + 5, 1 + 5 */
    expect_retrieval("v2t, constant", &v2t, (want_retrieval){ 0, 1.0 / 3, 1, 6, 17.0 / 3, V });
}
END_TEST

/* ---- multiple choice ------------------------------------------------------------------------ */

START_TEST(test_mcq)
{
    const float scores[6 * 4] = {
        0.1f, 0.9f, 0.3f, 0.2f,     /* answer 1: the unique max      -> right */
        0.5f, 0.4f, 0.3f, 0.2f,     /* answer 2: not the max         -> wrong */
        0.7f, 0.7f, 0.1f, 0.0f,     /* answer 0: tied max            -> wrong */
        0.1f, 0.2f, 0.3f, 0.4f,     /* unknown answer                -> skipped */
        0.0f, 0.0f, 0.0f, 1.0f,     /* answer 3                      -> right */
        NAN,  0.1f, 0.2f, 0.3f,     /* answer 3, a NaN option        -> wrong */
    };
    const int32_t answer[6] = { 1, 2, 0, -1, 3, 3 }, unknown[6] = { -1, -1, -1, -1, -1, -1 };
    int64_t answered = -7;
    const double acc = lv_mcq_accuracy(scores, answer, 6, 4, &answered);
    ck_assert_int_eq(answered, 5);
    ck_assert_msg(fabs(acc - 0.4) <= 1e-15, "accuracy %.17g, want 2/5", acc);
    printf("  %-34s %lld answered, accuracy %.4f (hand: 2/5)\n", "MCQ, tie and NaN wrong",
           (long long)answered, acc);
    ck_assert(isnan(lv_mcq_accuracy(scores, unknown, 6, 4, &answered)));
    ck_assert_int_eq(answered, 0);
    const float flat[3 * 5] = { 0 };
    const int32_t flat_answer[3] = { 0, 2, 4 };
    const double flat_acc = lv_mcq_accuracy(flat, flat_answer, 3, 5, NULL);
    ck_assert(flat_acc == 0.0);
    printf("  %-34s accuracy %.4f (hand: 0), all unknown: NaN over 0\n", "MCQ, constant scores",
           flat_acc);
}
END_TEST

/* ---- pictures ------------------------------------------------------------------------------- */

static lv_image read_back(const char *path)
{
    lv_image img;
    ck_assert_msg(lv_image_read(&img, path) == 0, "%s", lv_error());
    return img;
}

static int pixel_is(const lv_image *img, int64_t x, int64_t y, int r, int g, int b)
{
    const uint8_t *p = img->rgb + (y * img->width + x) * 3;
    return p[0] == r && p[1] == g && p[2] == b;
}

static void expect_pixel(const lv_image *img, const char *what, int64_t x, int64_t y, int r,
                         int g, int b)
{
    const uint8_t *p = img->rgb + (y * img->width + x) * 3;
    ck_assert_msg(pixel_is(img, x, y, r, g, b), "%s at (%lld, %lld): got (%d, %d, %d) want "
                  "(%d, %d, %d)", what, (long long)x, (long long)y, p[0], p[1], p[2], r, g, b);
    printf("  %-34s (%lld, %lld) = (%d, %d, %d)\n", what, (long long)x, (long long)y, r, g, b);
}

/* Within `tol` of (r, g, b) summed over the channels: anti-aliased lines blend their edges. */
static int pixel_near(const lv_image *img, int64_t x, int64_t y, int r, int g, int b, int tol)
{
    const uint8_t *p = img->rgb + (y * img->width + x) * 3;
    return abs(p[0] - r) + abs(p[1] - g) + abs(p[2] - b) <= tol;
}

/* Dark (text) pixels in a rectangle. */
static int dark_in(const lv_image *img, int64_t x0, int64_t y0, int64_t w, int64_t h)
{
    int n = 0;
    for (int64_t y = y0; y < y0 + h; y++)
        for (int64_t x = x0; x < x0 + w; x++)
            n += pixel_near(img, x, y, 0, 0, 0, 300);
    return n;
}

/* A build without cairo: the picture is refused with the one documented line; 1 means skip. */
static int plot_skipped(int rc)
{
    if (lv_pictures_available())
        return 0;
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(lv_error(), LV_NO_PICTURES);
    test_skip("charts: this build has no cairo (apt-get install libcairo2-dev, rebuild)");
    return 1;
}

/* The documented layout: the data span [0, 10] is already whole multiples of its tick step, so
 * value v sits on the centre of row TOP + round((10 - v) / 10 * (area height - 1)); the lines are
 * anti-aliased, so colours are compared within a tolerance. */
START_TEST(test_plot_lines)
{
    enum { W = 480, H = 300, N = 11 };
    const float y[N] = { 0, 10, 5, 10, 0, NAN, 3, 7, 2, 8, 6 };
    float y2[N];
    for (int i = 0; i < N; i++)
        y2[i] = i < 3 ? NAN : 2.5f;
    char path[TEST_PATH_BYTES];
    tmp_path(path, "loss.png");
    const lv_plot_text words = { "Loss per step 0.5", "step", "loss", "train loss", "smoothed" };
    const int rc = lv_plot_lines(path, y, y2, N, W, H, &words);
    if (plot_skipped(rc))
        return;
    ck_assert_msg(rc == 0, "%s", lv_error());
    lv_image img = read_back(path);
    ck_assert_int_eq(img.width, W);
    ck_assert_int_eq(img.height, H);
    const int64_t aw = W - LV_PLOT_LEFT - LV_PLOT_RIGHT, ah = H - LV_PLOT_TOP - LV_PLOT_BOTTOM;
    int64_t col[N];
    for (int i = 0; i < N; i++)
        col[i] = LV_PLOT_LEFT + llround(i * (double)(aw - 1) / (N - 1));
    const int64_t top = LV_PLOT_TOP, bottom = LV_PLOT_TOP + ah - 1;
    const int64_t row25 = LV_PLOT_TOP + llround(7.5 / 10 * (double)(ah - 1));
    ck_assert_msg(pixel_near(&img, col[1], top, LV_PLOT_Y_RGB, 60), "y[1] = 10 not at the top");
    ck_assert_msg(pixel_near(&img, col[0], bottom, LV_PLOT_Y_RGB, 60), "y[0] = 0 not at the "
                  "bottom");
    ck_assert_msg(pixel_near(&img, col[6], row25, LV_PLOT_Y2_RGB, 60), "y2[6] = 2.5 misplaced");
    expect_pixel(&img, "y axis", LV_PLOT_LEFT - 1, top + 10, 0, 0, 0);
    int blue = 0, blue_at_nan = 0, legend = 0;
    for (int64_t r = top; r <= bottom; r++) {
        blue_at_nan += pixel_near(&img, col[5], r, LV_PLOT_Y_RGB, 60);
        for (int64_t x = LV_PLOT_LEFT; x < LV_PLOT_LEFT + aw; x++)
            blue += pixel_near(&img, x, r, LV_PLOT_Y_RGB, 60);
    }
    /* the legend, top right of the data area, where no data reaches: an orange sample line */
    for (int64_t r = top; r < top + 50; r++)
        for (int64_t x = LV_PLOT_LEFT + aw - 160; x < LV_PLOT_LEFT + aw; x++)
            legend += pixel_near(&img, x, r, LV_PLOT_Y2_RGB, 60);
    const int title = dark_in(&img, 0, 0, W, LV_PLOT_TOP);
    const int x_title = dark_in(&img, LV_PLOT_LEFT, H - 24, aw, 24);
    const int y_title = dark_in(&img, 0, top, 24, ah);
    const int value_ticks = dark_in(&img, 24, top, LV_PLOT_LEFT - 32, ah);
    const int step_ticks = dark_in(&img, LV_PLOT_LEFT, bottom + 8, aw, 18);
    ck_assert_int_eq(blue_at_nan, 0);
    ck_assert_int_gt(blue, 4 * ah);
    ck_assert_int_gt(legend, 20);
    ck_assert_int_gt(title, 100);
    ck_assert_int_gt(x_title, 20);
    ck_assert_int_gt(y_title, 20);
    ck_assert_int_gt(value_ticks, 50);
    ck_assert_int_gt(step_ticks, 20);
    printf("  lines %dx%d: %d blue pixels, none in the NaN point's column %lld; text pixels: "
           "title %d, axis titles %d and %d, tick numbers %d and %d; legend line %d\n", W, H,
           blue, (long long)col[5], title, x_title, y_title, value_ticks, step_ticks, legend);
    lv_image_free(&img);
    ck_assert_int_eq(lv_plot_lines(path, y, NULL, N, 50, H, NULL), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), path));
}
END_TEST

/* 3 x 4 cells of 5 pixels over [-1, 1]: -1 blue, 0 white, 1 red, +-0.5 half-way (127.5 -> 128),
 * out-of-range values clamped, NaN grey; diagonal cells outlined in black; the colour bar red at
 * its top (hi) and blue at its bottom (lo). */
START_TEST(test_plot_matrix)
{
    enum { R = 3, C = 4, CELL = 5, X0 = LV_PLOT_MATRIX_LEFT, Y0 = LV_PLOT_MATRIX_TOP };
    const float m[R * C] = { -1.0f, 0.0f, 1.0f,  0.5f,
                             -0.5f, 1.0f, NAN,   3.0f,
                             -9.0f, 0.0f, 0.25f, -1.0f };
    const int want[R * C][3] = {
        { 0, 0, 255 },     { 255, 255, 255 }, { 255, 0, 0 },     { 255, 128, 128 },
        { 128, 128, 255 }, { 255, 0, 0 },     { 128, 128, 128 }, { 255, 0, 0 },
        { 0, 0, 255 },     { 255, 255, 255 }, { 255, 191, 191 }, { 0, 0, 255 },
    };
    char path[TEST_PATH_BYTES];
    tmp_path(path, "sim.png");
    const lv_plot_matrix_text words = { "similarity", "text i", "video j", "cosine" };
    const int rc = lv_plot_matrix(path, m, R, C, CELL, -1.0f, 1.0f, &words);
    if (plot_skipped(rc))
        return;
    ck_assert_msg(rc == 0, "%s", lv_error());
    lv_image img = read_back(path);
    ck_assert_int_eq(img.width, X0 + C * CELL + LV_PLOT_MATRIX_RIGHT);
    ck_assert_int_eq(img.height, Y0 + LV_PLOT_MATRIX_MIN_BAR + LV_PLOT_MATRIX_BOTTOM);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            const int *w = want[i * C + j];
            ck_assert_msg(pixel_is(&img, X0 + j * CELL + 2, Y0 + i * CELL + 2, w[0], w[1], w[2]),
                          "cell (%d, %d) centre is not (%d, %d, %d)", i, j, w[0], w[1], w[2]);
            const int outlined = pixel_is(&img, X0 + j * CELL, Y0 + i * CELL, 0, 0, 0);
            ck_assert_int_eq(outlined, i == j);
        }
    printf("  matrix %dx%d cells of %d: all 12 cell centres as hand-computed, diagonal "
           "outlined\n", R, C, CELL);
    expect_pixel(&img, "cell (1, 1) outline, bottom right", X0 + 2 * CELL - 1, Y0 + 2 * CELL - 1,
                 0, 0, 0);
    const int64_t bar_x = X0 + C * CELL + 16 + 8;
    ck_assert(pixel_near(&img, bar_x, Y0 + 1, 255, 0, 0, 12));
    ck_assert(pixel_near(&img, bar_x, Y0 + LV_PLOT_MATRIX_MIN_BAR - 2, 0, 0, 255, 12));
    const int numbers = dark_in(&img, bar_x + 12, Y0, 60, LV_PLOT_MATRIX_MIN_BAR);
    const int row_text = dark_in(&img, 0, Y0, X0 - 2, R * CELL + 20);
    ck_assert_int_gt(numbers, 50);
    ck_assert_int_gt(row_text, 20);
    printf("  colour bar red at the top, blue at the bottom, %d pixels of numbers; %d pixels of "
           "row labels\n", numbers, row_text);
    lv_image_free(&img);
    /* no range given: the finite data's [-9, 3], so -9 is blue and 3 red */
    ck_assert_msg(lv_plot_matrix(path, m, R, C, CELL, 0.0f, 0.0f, NULL) == 0, "%s", lv_error());
    img = read_back(path);
    expect_pixel(&img, "data range: min -9", X0 + 0 * CELL + 2, Y0 + 2 * CELL + 2, 0, 0, 255);
    expect_pixel(&img, "data range: max 3", X0 + 3 * CELL + 2, Y0 + 1 * CELL + 2, 255, 0, 0);
    lv_image_free(&img);
    ck_assert_int_eq(lv_plot_matrix(path, m, R, C, LV_IMAGE_MAX_SIDE, 0.0f, 1.0f, NULL), -1);
    ck_assert_ptr_nonnull(strstr(lv_error(), path));
}
END_TEST

Suite *metrics_suite(void)
{
    const test_row rows[] = {
        { "retrieval", test_identity, 1 }, { "retrieval", test_hand_ranks, 1 },
        { "retrieval", test_permutation_ties, 1 }, { "retrieval", test_constant, 1 },
        { "retrieval", test_nan_scores, 1 }, { "retrieval", test_sorted_reference, 3 },
        { "retrieval", test_duplicates, 1 }, { "retrieval", test_duplicates_perfect, 1 },
        { "mcq", test_mcq, 1 },
        { "plot", test_plot_lines, 1 }, { "plot", test_plot_matrix, 1 },
    };
    return suite_from_rows("metrics", rows, sizeof rows / sizeof rows[0], 20, 1);
}
