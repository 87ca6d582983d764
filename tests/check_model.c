/* The model graph: the whole-model gradient check of every variant, and the properties the
 * method relies on: masking inside the model, the factorized model at gate 0 being the image
 * model frame by frame, initialisation rules, frozen tensors, memory, parameter counts, config. */
#include "blas_glue.h"
#include "check_util.h"
#include "error.h"
#include "gradcheck.h"
#include "model.h"
#include "model_io.h"
#include "safetensors.h"
#include "suites.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lv_config tiny_with(const char *const *sets)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "tiny"), 0);
    for (; sets && *sets; sets++)
        ck_assert_msg(lv_config_set(&c, *sets) == 0, "%s", lv_error());
    ck_assert_msg(lv_config_validate(&c) == 0, "%s", lv_error());
    return c;
}

START_TEST(test_gradcheck_variant)
{
    int n;
    const lv_gradcheck_variant *v = &lv_gradcheck_variants(&n)[_i];
    const lv_config c = tiny_with(NULL);
    lv_gradcheck_result r;
    ck_assert_msg(lv_gradcheck_run(&c, v, 3, &lv_backend_ref, NULL, &r) == 0, "%s: %s", v->name, lv_error());
    printf("  gradcheck %-12s %3lld tensors %4lld entries  max rel err %.2e (%s)  %s\n", v->name,
           (long long)r.tensors, (long long)r.entries, r.max_rel_err, r.worst,
           r.failed ? "FAILED" : "ok");
    ck_assert_msg(r.failed == 0, "%s: %lld entries out of tolerance, worst in %s", v->name,
                  (long long)r.failed, r.worst);
    ck_assert_int_gt(r.tensors, 10);
}
END_TEST

/* The check has teeth: with the analytic gradient of one tensor broken on purpose (through the
 * test-of-the-test hook), it fails, and fails in that tensor only; the same run unbroken passes.
 * Each backend's, since the noise floor the tolerance is built on is measured per run. The
 * tensor is a video MLP weight whose largest gradient (~0.27 in the joint variant) is large
 * enough that 1% of it (2.7e-3) is well past the tolerance there (GC_REL 1e-3 of it plus 8x the
 * noise floor, ~1.2e-4): a check that let 1% through there would not be worth having. */
#define GC_BROKEN "video.blocks.1.mlp.fc2.weight"

START_TEST(test_gradcheck_catches_broken_gradient)
{
    static const char *const cases[] = { "unbroken", "scaled by 1.01", "largest entry zeroed",
                                         "NaN" };
    const lv_backend *be = _i / 4 ? &lv_backend_cpu : &lv_backend_ref;
    const int which = _i % 4;
    lv_gradcheck_options opt = { .corrupt_tensor = which ? GC_BROKEN : NULL };
    if (which == 1)
        opt.corrupt_scale = 1.01;
    else if (which == 2)
        opt.corrupt_zero_largest = 1;
    else if (which == 3)
        opt.corrupt_scale = NAN;
    const lv_config c = tiny_with(NULL);
    lv_gradcheck_result r;
    const int64_t probes = 2;     /* one at random, one the largest |gradient| */
    ck_assert_msg(lv_gradcheck_run_opts(&c, lv_gradcheck_find("joint"), probes, be, &opt, NULL,
                                        &r) == 0, "%s", lv_error());
    printf("  gradcheck joint on %-3s %s, %-20s: %lld failed; worst margin %.3g in %s [%lld]: "
           "analytic %.6e numeric %.6e err %.2e tolerance %.2e; noise floor %.2e (%.2e in a "
           "gradient)\n", be->name, GC_BROKEN, cases[which], (long long)r.failed, r.max_margin,
           r.worst_margin, (long long)r.worst_entry, r.worst_analytic, r.worst_numeric,
           r.worst_err, r.worst_tol, r.noise, r.noise_grad);
    ck_assert_msg(r.noise > 0 && isfinite(r.noise), "noise floor %g", r.noise);
    if (!which) {
        ck_assert_msg(r.failed == 0, "unbroken: %lld failed, worst %s", (long long)r.failed,
                      r.worst_margin);
        return;
    }
    ck_assert_msg(r.failed >= 1 && r.failed <= probes, "%s: %lld failed", cases[which],
                  (long long)r.failed);
    ck_assert_msg(!strcmp(r.worst_margin, GC_BROKEN), "%s: worst is %s", cases[which],
                  r.worst_margin);
    ck_assert_msg(!(r.max_margin <= 1.0), "%s: margin %g", cases[which], r.max_margin);
    if (which == 2)
        ck_assert_msg(r.worst_analytic == 0.0 && fabs(r.worst_numeric) > 0.1,
                      "the zeroed entry is not the worst: %g vs %g", r.worst_analytic,
                      r.worst_numeric);
    if (which == 3)
        ck_assert_msg(isinf(r.max_margin) && r.failed == probes, "NaN: margin %g, %lld failed",
                      r.max_margin, (long long)r.failed);
}
END_TEST

/* Copies every tensor of `from` that `to` has under the same name and shape. */
static int64_t copy_by_name(lv_model *to, const lv_model *from)
{
    int64_t copied = 0;
    for (int64_t i = 0; i < from->params.count; i++) {
        const lv_param *p = &from->params.p[i];
        const int64_t j = lv_params_find(&to->params, p->name);
        if (j < 0 || to->params.p[j].numel != p->numel)
            continue;
        memcpy(lv_param_data(&to->params, j), lv_param_data(&from->params, i),
               (size_t)p->numel * sizeof(float));
        copied++;
    }
    return copied;
}

START_TEST(test_factorized_gate_zero_is_image_model)
{
    /* 1-frame tubelets so each time step is one frame: with every gate at 0 the factorized
     * model must compute exactly the frame-level image model (mean over frames) */
    const lv_config cf = tiny_with((const char *[]){ "attn=factorized", "tubelet_t=1", NULL });
    const lv_config ci = tiny_with((const char *[]){ "attn=frame", "frame_pool=mean", NULL });
    lv_model mf, mi;
    ck_assert_int_eq(lv_model_build(&mf, &cf, &lv_backend_ref), 0);
    ck_assert_int_eq(lv_model_build(&mi, &ci, &lv_backend_ref), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&mf, 2, 0), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&mi, 2, 0), 0);
    const int64_t copied = copy_by_name(&mf, &mi);
    /* the tubelet of t = 1 inflated from the (copied) patch kernel is that kernel */
    const lv_params *ps = &mf.params;
    const int64_t tw = lv_params_find(ps, "video.tubelet.weight");
    const int64_t tb = lv_params_find(ps, "video.tubelet.bias");
    memcpy(lv_param_data(ps, tw), lv_param_data(ps, lv_params_find(ps, "video.patch.weight")),
           (size_t)ps->p[tw].numel * sizeof(float));
    memcpy(lv_param_data(ps, tb), lv_param_data(ps, lv_params_find(ps, "video.patch.bias")),
           (size_t)ps->p[tb].numel * sizeof(float));
    test_batch t = batch_make(&cf, 2, 0, 2000);
    const float lf = lv_model_forward(&mf, &t.batch), li = lv_model_forward(&mi, &t.batch);
    double worst = 0.0, worst_tok = 0.0;
    for (int64_t i = 0; i < 2 * cf.embed_dim; i++)
        worst = lv_margin_max(worst, fabs(mf.video.emb_n[i] - mi.video.emb_n[i]));
    for (int64_t i = 0; i < mf.video.rows * cf.width; i++)
        worst_tok = lv_margin_max(worst_tok, fabs(mf.video.ln_f[i] - mi.video.ln_f[i]));
    printf("  factorized (gate 0, t=1) vs frame-level image model: %lld tensors shared, tokens "
           "max diff %.2e, embeddings max diff %.2e, loss %.7f vs %.7f\n", (long long)copied,
           worst_tok, worst, lf, li);
    ck_assert(worst_tok == 0.0);      /* same kernels on the same numbers, frame by frame */
    ck_assert(worst < 1e-6);          /* only the order of the mean over tokens differs */
    batch_free(&t);
    lv_model_free(&mf);
    lv_model_free(&mi);
}
END_TEST

START_TEST(test_masking_in_model)
{
    const lv_config c = tiny_with((const char *[]){ "mask_ratio=0.75", NULL });
    lv_model m;
    ck_assert_int_eq(lv_model_build(&m, &c, &lv_backend_ref), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&m, 3, 0), 0);
    test_batch t = batch_make(&c, 3, 0, 2001);
    const int64_t N = lv_config_geometry(&c, 0).N, K = lv_config_geometry(&c, 0).K;
    ck_assert_int_eq(K, (int64_t)llround(0.25 * 64));
    const float l1 = lv_model_forward(&m, &t.batch);
    int64_t *first = malloc((size_t)(3 * K) * sizeof *first);
    memcpy(first, m.ix.kept, (size_t)(3 * K) * sizeof *first);
    const float l2 = lv_model_forward(&m, &t.batch);
    ck_assert(memcmp(first, m.ix.kept, (size_t)(3 * K) * sizeof *first) == 0 && l1 == l2);
    int differ = memcmp(first, first + K, (size_t)K * sizeof *first) != 0;   /* per sample */
    for (int64_t b = 0; b < 3; b++)
        for (int64_t k = 1; k < K; k++)
            ck_assert(first[b * K + k] > first[b * K + k - 1] && first[b * K + k] < N);
    t.batch.step = 4;
    const float l3 = lv_model_forward(&m, &t.batch);
    differ += memcmp(first, m.ix.kept, (size_t)(3 * K) * sizeof *first) != 0;
    printf("  masking in the model: %lld of %lld tokens kept per sample; same step -> same masks "
           "and loss (%.6f), next step -> new masks (loss %.6f)\n", (long long)K, (long long)N,
           l1, l3);
    ck_assert_int_eq(differ, 2);
    free(first);
    batch_free(&t);
    lv_model_free(&m);
}
END_TEST

/* Frame-level pooling at high masking: a frame whose tokens were all dropped has no embedding, so
 * the mean over frames skips it and attentional pooling gives it probability 0 (ref keeps the
 * probabilities: checked there directly). */
START_TEST(test_frame_pool_skips_empty_frames)
{
    for (int attn_pool = 0; attn_pool < 2; attn_pool++) {
        const lv_config c = tiny_with((const char *[]){ "attn=frame", "mask_ratio=0.9",
                                                        attn_pool ? "frame_pool=attn"
                                                                  : "frame_pool=mean", NULL });
        lv_model m;
        ck_assert_int_eq(lv_model_build(&m, &c, &lv_backend_ref), 0);
        ck_assert_int_eq(lv_model_alloc_acts(&m, 3, 0), 0);
        test_batch t = batch_make(&c, 3, 0, 2003);
        ck_assert(isfinite(lv_model_forward(&m, &t.batch)));
        const int64_t F = c.frames, D = c.width, H = c.heads;
        int64_t empty = 0;
        double worst = 0.0;
        for (int64_t b = 0; b < 3; b++) {
            int64_t valid = 0;
            for (int64_t f = 0; f < F; f++)
                valid += m.ix.frame_valid[b * F + f];
            empty += F - valid;
            for (int64_t d = 0; !attn_pool && d < D; d++) {
                double sum = 0.0;
                for (int64_t f = 0; f < F; f++)
                    if (m.ix.frame_valid[b * F + f])
                        sum += m.frame_emb[(b * F + f) * D + d];
                const double err = fabs(sum / (double)valid - m.video.pooled[b * D + d]);
                worst = lv_margin_max(worst, err);
            }
            for (int64_t h = 0; attn_pool && h < H; h++)
                for (int64_t f = 0; f < F; f++)
                    if (!m.ix.frame_valid[b * F + f])
                        ck_assert(m.pool_att[(b * H + h) * F + f] == 0.0f);
        }
        printf("  frame-level %s pooling, mask 0.9: %lld of %lld frames empty%s; mean over the "
               "kept frames vs pooled: max diff %.1e\n", attn_pool ? "attentional" : "mean",
               (long long)empty, (long long)(3 * F),
               attn_pool ? " and given probability 0" : "", worst);
        ck_assert_int_gt(empty, 0);
        ck_assert(worst < 1e-6);
        batch_free(&t);
        lv_model_free(&m);
    }
}
END_TEST

START_TEST(test_initialisation_rules)
{
    const lv_config c = tiny_with((const char *[]){ "attn=factorized", NULL });
    lv_model a, b;
    ck_assert_int_eq(lv_model_build(&a, &c, &lv_backend_ref), 0);
    ck_assert_int_eq(lv_model_build(&b, &c, &lv_backend_ref), 0);
    ck_assert(memcmp(a.params.data, b.params.data, (size_t)a.params.n_floats * 4) == 0);
    const lv_params *ps = &a.params;
    const float *patch = lv_param_data(ps, a.patch_w), *tube = lv_param_data(ps, a.tok_w[0]);
    const int64_t D = c.width, V2 = ps->p[a.patch_w].shape[1], t = c.tubelet_t;
    for (int64_t d = 0; d < D; d++)    /* average inflation: every frame carries w / t */
        for (int64_t f = 0; f < t; f++)
            for (int64_t e = 0; e < V2; e++)
                ck_assert_float_eq(tube[(d * t + f) * V2 + e], patch[d * V2 + e] / (float)t);
    for (int64_t l = 0; l < c.layers; l++) {
        const lv_block_params *bp = &a.video.blocks[l];
        ck_assert(memcmp(lv_param_data(ps, bp->t_qkv_w), lv_param_data(ps, bp->qkv_w),
                         (size_t)ps->p[bp->qkv_w].numel * 4) == 0);
        ck_assert(memcmp(lv_param_data(ps, bp->t_proj_w), lv_param_data(ps, bp->proj_w),
                         (size_t)ps->p[bp->proj_w].numel * 4) == 0);
        ck_assert_float_eq(lv_param_data(ps, bp->t_gate)[0], 0.0f);
    }
    const float *temporal = lv_param_data(ps, a.pos_temporal);
    for (int64_t i = 0; i < ps->p[a.pos_temporal].numel; i++)
        ck_assert_float_eq(temporal[i], 0.0f);
    ck_assert_float_eq_tol(lv_param_data(ps, a.logit_scale)[0], (float)log(1 / 0.07), 1e-6f);
    printf("  init: reproducible from the seed; tubelet = patch / %lld per frame; temporal blocks "
           "copy the spatial ones with gate 0; temporal positions 0; log-scale log(1/0.07)\n",
           (long long)t);
    lv_model_free(&a);
    lv_model_free(&b);
}
END_TEST

START_TEST(test_tuning_modes)
{
    /* which tensors get gradient memory in each mode */
    static const struct {
        const char *sets[3];
        const char *trains[3], *frozen[3];
    } cases[] = {
        { { "tune=last-k", "freeze_text=1" }, { "video.blocks.1.mlp.fc1.weight",
          "video.ln_final.weight", "video.proj.weight" }, { "video.blocks.0.attn.qkv.weight",
          "video.tubelet.weight", "video.pos.temporal" } },
        { { "tune=adapters" }, { "video.blocks.0.adapter.up.weight", "video.tubelet.weight",
          "video.pos.temporal" }, { "video.blocks.0.mlp.fc1.weight", "video.patch.weight",
          "video.proj.weight" } },
        { { "tune=lora" }, { "video.blocks.1.attn.qkv.lora_b", "video.blocks.0.mlp.fc2.lora_a",
          "video.tubelet.weight" }, { "video.blocks.1.attn.qkv.weight", "video.ln_final.weight",
          "video.pos.spatial" } },
        { { "attn=factorized", "tune=temporal" }, { "video.blocks.0.temporal.gate",
          "video.blocks.1.temporal.attn.qkv.weight", "video.tubelet.weight" },
          { "video.blocks.0.attn.qkv.weight", "video.blocks.1.ln2.bias", "video.pos.spatial" } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const lv_config c = tiny_with(cases[i].sets);
        lv_model m;
        ck_assert_int_eq(lv_model_build_table(&m, &c, &lv_backend_ref), 0);
        int64_t trainable = 0;
        for (int64_t p = 0; p < m.params.count; p++)
            trainable += m.params.p[p].trainable ? m.params.p[p].numel : 0;
        ck_assert_int_eq(trainable, m.params.n_grad_floats);
        for (int k = 0; k < 3; k++) {
            const int64_t tr = lv_params_find(&m.params, cases[i].trains[k]);
            const int64_t fr = lv_params_find(&m.params, cases[i].frozen[k]);
            ck_assert_msg(tr >= 0 && m.params.p[tr].grad_offset >= 0, "%s", cases[i].trains[k]);
            ck_assert_msg(fr >= 0 && m.params.p[fr].grad_offset < 0, "%s", cases[i].frozen[k]);
        }
        printf("  tune %-8s %s: %lld of %lld parameters train\n", lv_tune_name(c.tune),
               c.freeze_text ? "(text frozen)" : "", (long long)m.params.n_grad_floats,
               (long long)m.params.n_floats);
        lv_model_free(&m);
    }
}
END_TEST

START_TEST(test_memory_masking)
{
    /* the paper's lever: at 75% masking joint attention's activations shrink far more than 4x
     * with the plain attention (ref keeps every probability); with the memory-efficient one
     * (cpu: one log-sum-exp per query) activations are linear in kept tokens */
    static const char *const presets[] = { "vit-b", "tiny" };
    for (int i = 0; i < 2; i++) {
        lv_config c;
        ck_assert_int_eq(lv_config_preset(&c, presets[i]), 0);
        if (i == 0)
            ck_assert_int_eq(lv_config_set(&c, "frames=128"), 0);
        const double full = (double)lv_model_act_floats(&c, &lv_backend_ref, 1);
        const double full_cpu = (double)lv_model_act_floats(&c, &lv_backend_cpu, 1);
        ck_assert_int_eq(lv_config_set(&c, "mask_ratio=0.75"), 0);
        const double masked = (double)lv_model_act_floats(&c, &lv_backend_ref, 1);
        const double masked_cpu = (double)lv_model_act_floats(&c, &lv_backend_cpu, 1);
        printf("  %s %lld frames, batch 1: activations %.1f MiB at mask 0, %.1f MiB at mask 0.75:"
               " ratio %.3f (ref); %.1f and %.1f MiB: ratio %.3f (cpu)\n", presets[i],
               (long long)c.frames, full * 4 / (1 << 20), masked * 4 / (1 << 20), masked / full,
               full_cpu * 4 / (1 << 20), masked_cpu * 4 / (1 << 20), masked_cpu / full_cpu);
        if (i == 0)
            ck_assert(masked / full <= 0.3);
        else
            ck_assert(masked / full < 0.5);
        ck_assert(masked_cpu <= masked && full_cpu < full);
        if (i == 0)     /* the text tower is a fixed cost; the video tower scales with tokens */
            ck_assert(masked_cpu / full_cpu > 0.24 && masked_cpu / full_cpu < 0.30);
    }
}
END_TEST

START_TEST(test_parameter_counts)
{
    static const struct { const char *preset; double video, tol; } want[] = {
        { "vit-b", 86e6, 0.02 }, { "vit-l", 304e6, 0.02 },
    };
    for (int i = 0; i < 2; i++) {
        lv_config c;
        lv_model m;
        ck_assert_int_eq(lv_config_preset(&c, want[i].preset), 0);
        ck_assert_int_eq(lv_model_build_table(&m, &c, &lv_backend_ref), 0);
        const double video = (double)lv_params_count_floats(&m.params, "video.", 0);
        printf("  %s video tower: %.2fM parameters (ViT reference %.0fM, %+.2f%%)\n",
               want[i].preset, video / 1e6, want[i].video / 1e6,
               100 * (video / want[i].video - 1));
        ck_assert(fabs(video / want[i].video - 1) <= want[i].tol);
        lv_model_free(&m);
    }
    lv_config c;
    lv_model m;
    ck_assert_int_eq(lv_config_preset(&c, "1b"), 0);
    ck_assert_int_eq(lv_model_build_table(&m, &c, &lv_backend_ref), 0);
    printf("  1b: %.3fB parameters in total\n", m.params.n_floats / 1e9);
    ck_assert(fabs(m.params.n_floats / 1e9 - 1) < 0.1);
    lv_model_free(&m);
}
END_TEST

START_TEST(test_config_text_and_errors)
{
    lv_config c, d;
    ck_assert_int_eq(lv_config_preset(&c, "vit-b"), 0);
    ck_assert_int_eq(lv_config_set(&c, "tubes=tubevit"), 0);
    ck_assert_int_eq(lv_config_set(&c, "mask_ratio=0.75"), 0);
    char text[4096], again[4096];
    lv_config_format(&c, text, sizeof text);
    ck_assert_int_eq(lv_config_preset(&d, "tiny"), 0);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", text);
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        ck_assert_msg(lv_config_set(&d, l) == 0, "%s: %s", l, lv_error()), lines++;
    lv_config_format(&d, again, sizeof again);
    ck_assert_str_eq(text, again);
    static const struct { const char *set, *expect; } bad[] = {
        { "heads=5", "multiple of heads" },
        { "tune=temporal", "attn=factorized" },
        { "patch=7", "tile" },
        { "mask_ratio=0.95", "[0, 0.9]" },
        { "attn=sideways", "one of joint" },
        { "colour=blue", "unknown config key" },
        { "tubes=1.2.3", "kt.kh.kw" },
        { "pool=cls", "attn=joint" },                     /* after attn=factorized, below */
        { "act=relu", "one of gelu, quick_gelu" },
        { "text_arch=post-ln", "one of pre-ln, bert" },
        { "text_pool=max", "one of mean, cls" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(lv_config_preset(&d, "tiny"), 0);
        if (!strcmp(bad[i].set, "pool=cls"))
            ck_assert_int_eq(lv_config_set(&d, "attn=factorized"), 0);
        const int rc = lv_config_set(&d, bad[i].set) < 0 ? -1 : lv_config_validate(&d);
        ck_assert_msg(rc < 0 && strstr(lv_error(), bad[i].expect), "%s -> '%s'", bad[i].set,
                      lv_error());
    }
    ck_assert_int_lt(lv_config_preset(&d, "vit-z"), 0);
    printf("  config: %d keys round-trip through their text form; %zu bad values rejected with "
           "a message\n", lines, sizeof bad / sizeof bad[0]);
}
END_TEST

START_TEST(test_save_and_load)
{
    char dir[] = "/tmp/lv_model_XXXXXX", path[64], other[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    const lv_config c = tiny_with((const char *[]){ "attn=factorized", "tune=lora", "seed=99",
                                                    NULL });
    lv_model a, b, d;
    ck_assert_int_eq(lv_model_build(&a, &c, &lv_backend_ref), 0);
    ck_assert_msg(lv_model_save(&a, path) == 0, "%s", lv_error());
    /* the file alone rebuilds the model: config from metadata, then the tensors by name */
    lv_config back;
    ck_assert_msg(lv_config_from_file(&back, path) == 0, "%s", lv_error());
    ck_assert_int_eq(back.attn, LV_ATTN_FACTORIZED);
    ck_assert_int_eq(back.seed, 99);
    ck_assert_int_eq(lv_config_set(&back, "seed=5"), 0);    /* a different init... */
    ck_assert_int_eq(lv_model_build(&b, &back, &lv_backend_ref), 0);
    ck_assert_msg(lv_model_load(&b, path) == 0, "%s", lv_error());   /* ...overwritten */
    ck_assert(memcmp(a.params.data, b.params.data, (size_t)a.params.n_floats * 4) == 0);
    /* a model of another shape: every mismatch named, nothing applied */
    const lv_config c3 = tiny_with((const char *[]){ "layers=3", "width=48", NULL });
    ck_assert_int_eq(lv_model_build(&d, &c3, &lv_backend_ref), 0);
    float *before = malloc((size_t)d.params.n_floats * 4);
    memcpy(before, d.params.data, (size_t)d.params.n_floats * 4);
    ck_assert_int_lt(lv_model_load(&d, path), 0);
    ck_assert_ptr_nonnull(strstr(lv_error(), "missing (video.blocks.2.ln1.weight"));
    ck_assert_ptr_nonnull(strstr(lv_error(), "shape (video.patch.weight"));
    printf("  load into a 3-layer, 48-wide model: %.160s...\n", lv_error());
    ck_assert(memcmp(before, d.params.data, (size_t)d.params.n_floats * 4) == 0);
    /* a safetensors file that is not ours */
    lv_st_writer *w = lv_st_writer_new();
    const float x[2] = { 1, 2 };
    lv_st_writer_add_f32(w, "w", x, 1, (int64_t[]){ 2 });
    ck_assert_int_eq(lv_st_writer_write(w, other), 0);
    lv_st_writer_free(w);
    ck_assert_int_lt(lv_model_load(&b, other), 0);
    ck_assert_ptr_nonnull(strstr(lv_error(), "not a longvivit parameter file"));
    printf("  save/load: %lld tensors round-trip bit for bit; the config travels in the "
           "metadata\n", (long long)a.params.count);
    free(before);
    remove(path);
    remove(other);
    rmdir(dir);
    lv_model_free(&a);
    lv_model_free(&b);
    lv_model_free(&d);
}
END_TEST

START_TEST(test_accumulation_global_negatives)
{
    /* 2 micro-batches of 2 must give the loss and gradients of one batch of 4 */
    const lv_config c = tiny_with((const char *[]){ "mask_ratio=0.5", NULL });
    lv_model m;
    ck_assert_int_eq(lv_model_build(&m, &c, &lv_backend_ref), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&m, 4, 0), 0);
    test_batch t = batch_make(&c, 4, 0, 2002);
    lv_accum acc;
    ck_assert_int_eq(lv_accum_alloc(&acc, m.be, 4, c.embed_dim), 0);
    lv_params_zero_grad(&m.params);
    const float whole = lv_model_step(&m, &t.batch, 1, &acc);
    float *g_whole = malloc((size_t)m.params.n_grad_floats * 4);
    memcpy(g_whole, m.params.grad, (size_t)m.params.n_grad_floats * 4);
    const int64_t F = c.frames, S = c.image_size, T = c.text_len;
    lv_batch micro[2] = { t.batch, t.batch };
    micro[0].B = micro[1].B = 2;
    micro[1].video = t.video + 2 * F * S * S * 3;
    micro[1].text = t.text + 2 * T;
    micro[1].text_valid = t.valid + 2 * T;
    micro[1].first_sample = 2;
    lv_params_zero_grad(&m.params);
    const float split = lv_model_step(&m, micro, 2, &acc);
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < m.params.n_grad_floats; i++) {
        worst = lv_margin_max(worst, fabs(m.params.grad[i] - g_whole[i]));
        scale = fmax(scale, fabs(g_whole[i]));
    }
    printf("  accumulation: loss %.7f as one batch of 4, %.7f as 2 x 2 with global negatives; "
           "gradients max diff %.2e (largest gradient %.2e)\n", whole, split, worst, scale);
    ck_assert(fabs(whole - split) < 1e-6);
    ck_assert(worst <= 1e-5 * scale);
    free(g_whole);
    lv_accum_free(&acc);
    batch_free(&t);
    lv_model_free(&m);
}
END_TEST

/* ---- last-k: the frozen prefix ---------------------------------------------------------------
 * With tune=last-k nothing before the last k video blocks trains (docs/model.md): the test's own
 * reading of that rule, from the names alone, says which tensors must be frozen. The model is
 * checked against it and against the same model tuned fully (the reference that runs the whole
 * backward): the frozen tensors get no gradient memory and the AdamW step leaves them
 * bit-identical; every trainable one's gradient equals the reference's, within the golden
 * grad row; the backward never reaches the prefix (no LayerNorm backward below block L-k, no
 * tokenizer or position backward). */

static int last_k_should_train(const lv_config *c, const char *name)
{
    if (!strcmp(name, "logit_scale"))
        return 1;
    if (!strncmp(name, "text.", 5))
        return !c->freeze_text;
    long long l;
    if (sscanf(name, "video.blocks.%lld.", &l) == 1)
        return l >= c->layers - c->tune_last_k;
    return !strncmp(name, "video.ln_final.", 15) || !strcmp(name, "video.proj.weight") ||
           !strncmp(name, "video.pool.", 11);
}

/* The backward kernels that would show a backward through the prefix, counted. */
static int64_t n_ln_backward, n_embed_backward;

static void counting_layernorm_backward(float *dinp, float *dweight, float *dbias,
                                        const float *dout, const float *inp, const float *weight,
                                        const float *mean, const float *rstd, int64_t N, int64_t C)
{
    n_ln_backward++;
    lv_backend_ref.layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}

static void counting_tubelet_backward(float *dvideo, float *dweight, float *dbias,
                                      const float *dout, const float *video, const float *weight,
                                      const int64_t *kept, const lv_tubelet_shape *shape, int64_t B,
                                      int64_t K, int64_t D)
{
    n_embed_backward++;
    lv_backend_ref.tubelet_embed_backward(dvideo, dweight, dbias, dout, video, weight, kept,
                                          shape, B, K, D);
}

static void counting_pos_backward(float *dinp, float *dspatial, float *dtemporal,
                                  const float *dout, const int64_t *kept, int64_t B, int64_t K,
                                  int64_t P, int64_t Ft, int64_t D)
{
    n_embed_backward++;
    lv_backend_ref.pos_embed_backward(dinp, dspatial, dtemporal, dout, kept, B, K, P, Ft, D);
}

typedef struct {
    int64_t wrong_set;          /* tensors whose trainable flag differs from the rule */
    int64_t frozen_moved;       /* frozen by the rule, changed by the step */
    int64_t grad_off;           /* trainable tensors whose gradient is off the reference's */
    int64_t trained, frozen;    /* tensors of each kind, by the rule */
    double max_margin;          /* the largest |grad - reference| / tolerance */
    int64_t ln_backward, embed_backward;    /* kernel calls of one backward */
    int64_t act_floats, full_act_floats;    /* the two models' activation slabs */
    float loss, full_loss;
} last_k_report;

/* The model of c (last-k), with `flip` (a tensor name, or NULL) made trainable before the slabs
 * are allocated: the test-of-the-test hook. */
static void last_k_build(lv_model *m, const lv_config *c, const lv_backend *be, const char *flip)
{
    ck_assert_msg(lv_model_build_table(m, c, be) == 0, "%s", lv_error());
    if (flip) {
        const int64_t i = lv_params_find(&m->params, flip);
        ck_assert_msg(i >= 0, "%s", flip);
        m->params.p[i].trainable = 1;          /* as lv_params_add gives a trainable row */
        m->params.p[i].grad_offset = m->params.n_grad_floats;
        m->params.n_grad_floats += m->params.p[i].numel;
    }
    ck_assert(lv_params_alloc(&m->params, be) == 0);
    ck_assert(lv_params_init(&m->params, c->seed) == 0);
}

static last_k_report last_k_check(const lv_config *c, const char *flip)
{
    last_k_report r = { 0 };
    const int64_t B = 3;
    lv_backend counting = lv_backend_ref;
    counting.layernorm_backward = counting_layernorm_backward;
    counting.tubelet_embed_backward = counting_tubelet_backward;
    counting.pos_embed_backward = counting_pos_backward;
    lv_config cf = *c;
    cf.tune = LV_TUNE_FULL;
    lv_model m, f;
    last_k_build(&m, c, &counting, flip);
    ck_assert_int_eq(lv_model_build(&f, &cf, &lv_backend_ref), 0);
    ck_assert_int_eq(m.params.n_floats, f.params.n_floats);
    memcpy(f.params.data, m.params.data, (size_t)m.params.n_floats * sizeof(float));
    ck_assert_int_eq(lv_model_alloc_acts(&m, B, 0), 0);
    ck_assert_int_eq(lv_model_alloc_acts(&f, B, 0), 0);
    r.act_floats = m.act_floats;
    r.full_act_floats = f.act_floats;
    test_batch t = batch_make(c, B, 0, 2600);
    lv_params_zero_grad(&m.params);
    lv_params_zero_grad(&f.params);
    n_ln_backward = n_embed_backward = 0;
    r.loss = lv_model_step(&m, &t.batch, 1, NULL);
    r.ln_backward = n_ln_backward;
    r.embed_backward = n_embed_backward;
    r.full_loss = lv_model_step(&f, &t.batch, 1, NULL);
    const lv_tolerance *tol = lv_tolerance_get("model", "grad", LV_CHECK_GOLDEN);
    for (int64_t i = 0; i < m.params.count; i++) {
        const lv_param *p = &m.params.p[i];
        const int train = last_k_should_train(c, p->name);
        r.trained += train;
        r.frozen += !train;
        r.wrong_set += (p->grad_offset >= 0) != train;
        const float *g = lv_param_grad(&m.params, i);
        if (!g)
            continue;
        const int64_t j = lv_params_find(&f.params, p->name);
        const float *want = lv_param_grad(&f.params, j);
        if (!want) {            /* the reference freezes it (the text tower): so must we */
            r.grad_off++;
            continue;
        }
        double largest = 0.0, margin = 0.0;
        for (int64_t e = 0; e < p->numel; e++)
            largest = fmax(largest, fabs(want[e]));
        for (int64_t e = 0; e < p->numel; e++)
            margin = lv_margin_max(margin, lv_tolerance_margin(g[e], want[e], tol->abs * largest,
                                                               tol->rel));
        r.grad_off += !(margin <= 1.0);
        r.max_margin = lv_margin_max(r.max_margin, margin);
    }
    /* one AdamW step (the training step itself): the frozen tensors stay bit for bit */
    float *before = malloc((size_t)m.params.n_floats * sizeof(float));
    ck_assert_ptr_nonnull(before);
    memcpy(before, m.params.data, (size_t)m.params.n_floats * sizeof(float));
    lv_trainer tr;
    const lv_adamw_config ac = lv_adamw_defaults();
    ck_assert_int_eq(lv_trainer_init(&tr, &m, &ac, B), 0);
    const lv_step_part part = { .micro = &t.batch, .n_micro = 1 };
    lv_step_stats stats;
    ck_assert_msg(lv_train_step(&tr, &part, 1, 0, &stats) == 0, "%s", lv_error());
    int64_t moved = 0;
    for (int64_t i = 0; i < m.params.count; i++) {
        const lv_param *p = &m.params.p[i];
        const int same = !memcmp(before + p->offset, m.params.data + p->offset,
                                 (size_t)p->numel * sizeof(float));
        r.frozen_moved += !last_k_should_train(c, p->name) && !same;
        moved += !same;
    }
    ck_assert_int_gt(moved, 0);           /* the step did something */
    free(before);
    lv_trainer_free(&tr);
    batch_free(&t);
    lv_model_free(&m);
    lv_model_free(&f);
    return r;
}

static const char *const last_k_cases[][6] = {
    { "tune=last-k", "freeze_text=1", "layers=4", "tune_last_k=2", "mask_ratio=0.5", NULL },
    { "tune=last-k", "freeze_text=1", "layers=3", "attn=factorized", NULL },
    { "tune=last-k", "layers=3", "tune_last_k=2", "pool=cls", "mask_ratio=0.25", NULL },
};

START_TEST(test_last_k_frozen_prefix)
{
    const lv_config c = tiny_with(last_k_cases[_i]);
    const last_k_report r = last_k_check(&c, NULL);
    /* the backward's LayerNorms: ln1, ln2 (and the temporal one) of the last k blocks, ln_final;
     * with the text tower training, its 2 per block and its final one as well */
    const int64_t k = c.tune_last_k, per_block = 2 + (c.attn == LV_ATTN_FACTORIZED);
    const int64_t want_ln = k * per_block + 1 + (c.freeze_text ? 0 : 2 * c.text_layers + 1);
    printf("  last-k %s, %lld layers, k %lld%s: %lld tensors train, %lld frozen; %lld with the "
           "wrong flag, %lld frozen moved by a step; gradients vs full tuning's: worst margin "
           "%.3g, %lld off; backward: %lld LayerNorms (want %lld), %lld tokenizer/position "
           "calls (text's included); loss %.7f vs %.7f\n", lv_attn_kind_name(c.attn), (long long)c.layers,
           (long long)k, c.freeze_text ? ", text frozen" : "", (long long)r.trained,
           (long long)r.frozen, (long long)r.wrong_set, (long long)r.frozen_moved, r.max_margin,
           (long long)r.grad_off, (long long)r.ln_backward, (long long)want_ln,
           (long long)r.embed_backward, r.loss, r.full_loss);
    ck_assert_int_eq(r.wrong_set, 0);
    ck_assert_int_eq(r.frozen_moved, 0);
    ck_assert_int_eq(r.grad_off, 0);
    ck_assert(r.max_margin <= 1.0);
    ck_assert(r.loss == r.full_loss);         /* the same forward, in place or not */
    ck_assert_int_eq(r.ln_backward, want_ln);
    ck_assert_int_eq(r.embed_backward, c.freeze_text ? 0 : 1);   /* the text positions' */
    ck_assert_int_gt(r.frozen, 10);
}
END_TEST

/* The test of the test: one frozen tensor flipped to trainable through the hook is noticed, by
 * the rule (wrong flag), by the reference (its gradient never arrives: 0 against the full
 * backward's) and, for a decayed matrix, by the step (the decay moves it). */
START_TEST(test_last_k_check_notices_a_flip)
{
    static const char *const flips[] = { "video.tubelet.weight", "video.blocks.0.mlp.fc1.weight" };
    const lv_config c = tiny_with(last_k_cases[0]);
    const last_k_report r = last_k_check(&c, flips[_i]);
    printf("  last-k with %s flipped to trainable: %lld with the wrong flag, %lld frozen moved, "
           "%lld gradients off (worst margin %.3g)\n", flips[_i], (long long)r.wrong_set,
           (long long)r.frozen_moved, (long long)r.grad_off, r.max_margin);
    ck_assert_int_eq(r.wrong_set, 1);
    ck_assert_int_eq(r.frozen_moved, 1);
    ck_assert_int_eq(r.grad_off, 1);
    ck_assert(!(r.max_margin <= 1.0));
}
END_TEST

/* The memory the prefix saves: the allocator's slab with last-k is smaller than with full tuning
 * by at least the prefix's blocks but one (they share one activation set) and their residual
 * streams but one (they run in place), and the analytic figure is the allocator's. One block's
 * share is measured as the difference between full-tuning models of L and L - 1 layers. */
START_TEST(test_last_k_activation_memory)
{
    const lv_config c = tiny_with(last_k_cases[0]);
    lv_config full = c, shorter = c;
    full.tune = shorter.tune = LV_TUNE_FULL;
    shorter.layers = c.layers - 1;
    const int64_t B = 3, prefix = c.layers - c.tune_last_k;
    const last_k_report r = last_k_check(&c, NULL);
    const int64_t block = lv_model_act_floats(&full, &lv_backend_ref, B) -
                          lv_model_act_floats(&shorter, &lv_backend_ref, B);
    const int64_t analytic = lv_model_act_floats(&c, &lv_backend_ref, B);
    const int64_t saved = r.full_act_floats - r.act_floats;
    printf("  activations (allocated, batch %lld): last-k %lld floats, full %lld: %lld saved; "
           "a block's share %lld, the prefix of %lld blocks but one %lld; analytic %lld\n",
           (long long)B, (long long)r.act_floats, (long long)r.full_act_floats, (long long)saved,
           (long long)block, (long long)prefix, (long long)((prefix - 1) * block),
           (long long)analytic);
    ck_assert_int_gt(block, 0);
    ck_assert_int_ge(saved, (prefix - 1) * block);
    ck_assert_int_eq(analytic, r.act_floats);
    /* the paper's preset: vit-l at 256 frames, 75% masked, the last 4 blocks */
    lv_config l;
    ck_assert_int_eq(lv_config_preset(&l, "vit-l"), 0);
    ck_assert_int_eq(lv_config_set(&l, "frames=256"), 0);
    ck_assert_int_eq(lv_config_set(&l, "mask_ratio=0.75"), 0);
    const double l_full = (double)lv_model_act_floats(&l, &lv_backend_cpu, 1);
    ck_assert_int_eq(lv_config_set(&l, "tune=last-k"), 0);
    const double l_last = (double)lv_model_act_floats(&l, &lv_backend_cpu, 1);
    printf("  vit-l, 256 frames, mask 0.75, cpu backend: activations %.0f MiB full, %.0f MiB "
           "last-4 (ratio %.3f)\n", l_full * 4 / (1 << 20), l_last * 4 / (1 << 20),
           l_last / l_full);
    ck_assert(l_last / l_full < 0.35);      /* 5 of 24 blocks' sets, plus the shared buffers */
}
END_TEST

Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("gradcheck");
    int n;
    lv_gradcheck_variants(&n);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_gradcheck_variant, 0, n);
    tcase_add_loop_test(tc, test_gradcheck_catches_broken_gradient, 0, 8);
    suite_add_tcase(s, tc);
    tc = tcase_create("properties");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_factorized_gate_zero_is_image_model);
    tcase_add_test(tc, test_masking_in_model);
    tcase_add_test(tc, test_frame_pool_skips_empty_frames);
    tcase_add_test(tc, test_initialisation_rules);
    tcase_add_test(tc, test_tuning_modes);
    tcase_add_test(tc, test_memory_masking);
    tcase_add_test(tc, test_parameter_counts);
    tcase_add_test(tc, test_config_text_and_errors);
    tcase_add_test(tc, test_save_and_load);
    tcase_add_test(tc, test_accumulation_global_negatives);
    tcase_add_loop_test(tc, test_last_k_frozen_prefix, 0,
                        (int)(sizeof last_k_cases / sizeof last_k_cases[0]));
    tcase_add_loop_test(tc, test_last_k_check_notices_a_flip, 0, 2);
    tcase_add_test(tc, test_last_k_activation_memory);
    suite_add_tcase(s, tc);
    return s;
}
