/* The port contract, enforced: a backend whose memory the host cannot touch. "guarded" runs the
 * ref kernels, but every allocation is its own mapping with no access rights except while a
 * member of the table runs; anything else that reads or writes backend memory (the graph, the
 * training step, initialisation, model files, checkpoints) dies with SIGSEGV. It also declares
 * host_memory = 0, so the graph must upload the batch and its index lists. Training on it must
 * give ref's results bit for bit, and a deliberate host read must crash (the test of the test). */
#include "check_util.h"
#include "checkpoint.h"
#include "error.h"
#include "golden.h"
#include "kernels.h"
#include "model_io.h"
#include "suites.h"
#include "train.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- guarded memory --------------------------------------------------------------------------- */

enum { MAX_REGIONS = 64 };
static struct {
    void *p;
    size_t bytes;
} regions[MAX_REGIONS];
static int n_regions, calls;

static void set_access(int prot)
{
    for (int i = 0; i < n_regions; i++)
        ck_assert_int_eq(mprotect(regions[i].p, regions[i].bytes, prot), 0);
}

static void open_memory(void)
{
    set_access(PROT_READ | PROT_WRITE);
    calls++;
}

static void close_memory(void)
{
    set_access(PROT_NONE);
}

static void *guard_alloc(size_t bytes, const char *what)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t len = (bytes + page - 1) / page * page + (bytes ? 0 : page);
    ck_assert_msg(n_regions < MAX_REGIONS, "more than %d backend allocations", MAX_REGIONS);
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        lv_set_error("out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    regions[n_regions].p = p;                  /* anonymous mappings start zeroed */
    regions[n_regions++].bytes = len;
    return p;
}

static void guard_free(void *p)
{
    for (int i = 0; p && i < n_regions; i++)
        if (regions[i].p == p) {
            munmap(p, regions[i].bytes);
            regions[i] = regions[--n_regions];
            return;
        }
}

/* Every member: open the memory, run ref's member, close it again. */
#define GUARDED(call)            \
    do {                         \
        open_memory();           \
        call;                    \
        close_memory();          \
    } while (0)

static const lv_backend *const R = &lv_backend_ref;

static void g_upload(void *dst, const void *src, size_t bytes)
{
    GUARDED(R->upload(dst, src, bytes));
}
static void g_download(void *dst, const void *src, size_t bytes)
{
    GUARDED(R->download(dst, src, bytes));
}
static void g_copy(float *dst, const float *src, int64_t n)
{
    GUARDED(R->copy(dst, src, n));
}
static void g_set(float *x, float value, int64_t n)
{
    GUARDED(R->set(x, value, n));
}
static void g_linear_forward(float *out, const float *inp, const float *weight,
                             const float *bias, int64_t N, int64_t C, int64_t OC)
{
    GUARDED(R->linear_forward(out, inp, weight, bias, N, C, OC));
}
static void g_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, int64_t N, int64_t C,
                              int64_t OC)
{
    GUARDED(R->linear_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC));
}
static void g_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                const float *weight, const float *bias, int64_t N, int64_t C,
                                float eps)
{
    GUARDED(R->layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, eps));
}
static void g_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, const float *mean,
                                 const float *rstd, int64_t N, int64_t C)
{
    GUARDED(R->layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C));
}
static void g_gelu_forward(float *out, const float *inp, int64_t n)
{
    GUARDED(R->gelu_forward(out, inp, n));
}
static void g_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    GUARDED(R->gelu_backward(dinp, inp, dout, n));
}
static void g_quick_gelu_forward(float *out, const float *inp, int64_t n)
{
    GUARDED(R->quick_gelu_forward(out, inp, n));
}
static void g_quick_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    GUARDED(R->quick_gelu_backward(dinp, inp, dout, n));
}
static void g_gelu_tanh_forward(float *out, const float *inp, int64_t n)
{
    GUARDED(R->gelu_tanh_forward(out, inp, n));
}
static void g_gelu_tanh_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    GUARDED(R->gelu_tanh_backward(dinp, inp, dout, n));
}
static void g_attention_forward(float *out, float *cache, const float *q, const float *k,
                                const float *v, const lv_attn_groups *g, int64_t ldq,
                                int64_t ldkv, int64_t H, int64_t D)
{
    GUARDED(R->attention_forward(out, cache, q, k, v, g, ldq, ldkv, H, D));
}
static void g_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                 const float *out, const float *cache, const float *q,
                                 const float *k, const float *v, const lv_attn_groups *g,
                                 int64_t ldq, int64_t ldkv, int64_t H, int64_t D)
{
    GUARDED(R->attention_backward(dq, dk, dv, dout, out, cache, q, k, v, g, ldq, ldkv, H, D));
}
static void g_residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    GUARDED(R->residual_forward(out, a, b, n));
}
static void g_residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    GUARDED(R->residual_backward(da, db, dout, n));
}
static void g_gated_residual_forward(float *out, const float *h, const float *f,
                                     const float *gate, int64_t n)
{
    GUARDED(R->gated_residual_forward(out, h, f, gate, n));
}
static void g_gated_residual_backward(float *dh, float *df, float *dgate, const float *dout,
                                      const float *f, const float *gate, int64_t n)
{
    GUARDED(R->gated_residual_backward(dh, df, dgate, dout, f, gate, n));
}
static void g_mean_pool_forward(float *out, const float *inp, const uint8_t *valid, int64_t B,
                                int64_t T, int64_t D)
{
    GUARDED(R->mean_pool_forward(out, inp, valid, B, T, D));
}
static void g_mean_pool_backward(float *dinp, const float *dout, const uint8_t *valid, int64_t B,
                                 int64_t T, int64_t D)
{
    GUARDED(R->mean_pool_backward(dinp, dout, valid, B, T, D));
}
static void g_segment_mean_forward(float *out, const float *inp, const int64_t *start,
                                   int64_t G, int64_t D)
{
    GUARDED(R->segment_mean_forward(out, inp, start, G, D));
}
static void g_segment_mean_backward(float *dinp, const float *dout, const int64_t *start,
                                    int64_t G, int64_t D)
{
    GUARDED(R->segment_mean_backward(dinp, dout, start, G, D));
}
static void g_l2norm_forward(float *out, float *norm, const float *inp, int64_t N, int64_t C)
{
    GUARDED(R->l2norm_forward(out, norm, inp, N, C));
}
static void g_l2norm_backward(float *dinp, const float *dout, const float *out,
                              const float *norm, int64_t N, int64_t C)
{
    GUARDED(R->l2norm_backward(dinp, dout, out, norm, N, C));
}
static void g_embedding_forward(float *out, const int32_t *ids, const float *table, int64_t N,
                                int64_t V, int64_t D)
{
    GUARDED(R->embedding_forward(out, ids, table, N, V, D));
}
static void g_embedding_backward(float *dtable, const float *dout, const int32_t *ids,
                                 int64_t N, int64_t V, int64_t D)
{
    GUARDED(R->embedding_backward(dtable, dout, ids, N, V, D));
}
static void g_tubelet_embed_forward(float *out, const float *video, const float *weight,
                                    const float *bias, const int64_t *kept,
                                    const lv_tubelet_shape *s, int64_t B, int64_t K, int64_t D)
{
    GUARDED(R->tubelet_embed_forward(out, video, weight, bias, kept, s, B, K, D));
}
static void g_tubelet_embed_backward(float *dvideo, float *dweight, float *dbias,
                                     const float *dout, const float *video, const float *weight,
                                     const int64_t *kept, const lv_tubelet_shape *s, int64_t B,
                                     int64_t K, int64_t D)
{
    GUARDED(R->tubelet_embed_backward(dvideo, dweight, dbias, dout, video, weight, kept, s, B, K,
                                      D));
}
static void g_pos_embed_forward(float *out, const float *inp, const float *spatial,
                                const float *temporal, const int64_t *kept, int64_t B,
                                int64_t K, int64_t P, int64_t Ft, int64_t D)
{
    GUARDED(R->pos_embed_forward(out, inp, spatial, temporal, kept, B, K, P, Ft, D));
}
static void g_pos_embed_backward(float *dinp, float *dspatial, float *dtemporal,
                                 const float *dout, const int64_t *kept, int64_t B, int64_t K,
                                 int64_t P, int64_t Ft, int64_t D)
{
    GUARDED(R->pos_embed_backward(dinp, dspatial, dtemporal, dout, kept, B, K, P, Ft, D));
}
static void g_infonce_forward(float *loss, float *logits, const float *v, const float *t,
                              const float *log_scale, int64_t B, int64_t E)
{
    GUARDED(R->infonce_forward(loss, logits, v, t, log_scale, B, E));
}
static void g_infonce_backward(float *dv, float *dt, float *dlog_scale, const float *dloss,
                               const float *logits, const float *v, const float *t,
                               const float *log_scale, int64_t B, int64_t E)
{
    GUARDED(R->infonce_backward(dv, dt, dlog_scale, dloss, logits, v, t, log_scale, B, E));
}
static void g_cross_entropy_forward(float *loss, float *lse, const float *logits,
                                    const int32_t *targets, int64_t N, int64_t V)
{
    GUARDED(R->cross_entropy_forward(loss, lse, logits, targets, N, V));
}
static void g_cross_entropy_backward(float *dlogits, const float *dloss, const float *logits,
                                     const float *lse, const int32_t *targets, int64_t N,
                                     int64_t V)
{
    GUARDED(R->cross_entropy_backward(dlogits, dloss, logits, lse, targets, N, V));
}
static void g_scale(float *x, float s, int64_t n)
{
    GUARDED(R->scale(x, s, n));
}
static void g_adamw_update(float *x, const float *grad, float *m, float *v, int64_t n,
                           const lv_adamw_coef *k)
{
    GUARDED(R->adamw_update(x, grad, m, v, n, k));
}
static double g_sum_squares(const float *x, int64_t n)
{
    double s;
    GUARDED(s = R->sum_squares(x, n));
    return s;
}

static const lv_backend guarded = {
    .name = "guarded",
    .host_memory = 0,
    .attention_lse = 0,
    .alloc = guard_alloc,
    .free = guard_free,
    .upload = g_upload,
    .download = g_download,
    .copy = g_copy,
    .set = g_set,
    .linear_forward = g_linear_forward,
    .linear_backward = g_linear_backward,
    .layernorm_forward = g_layernorm_forward,
    .layernorm_backward = g_layernorm_backward,
    .gelu_forward = g_gelu_forward,
    .gelu_backward = g_gelu_backward,
    .quick_gelu_forward = g_quick_gelu_forward,
    .quick_gelu_backward = g_quick_gelu_backward,
    .gelu_tanh_forward = g_gelu_tanh_forward,
    .gelu_tanh_backward = g_gelu_tanh_backward,
    .attention_forward = g_attention_forward,
    .attention_backward = g_attention_backward,
    .residual_forward = g_residual_forward,
    .residual_backward = g_residual_backward,
    .gated_residual_forward = g_gated_residual_forward,
    .gated_residual_backward = g_gated_residual_backward,
    .mean_pool_forward = g_mean_pool_forward,
    .mean_pool_backward = g_mean_pool_backward,
    .segment_mean_forward = g_segment_mean_forward,
    .segment_mean_backward = g_segment_mean_backward,
    .l2norm_forward = g_l2norm_forward,
    .l2norm_backward = g_l2norm_backward,
    .embedding_forward = g_embedding_forward,
    .embedding_backward = g_embedding_backward,
    .tubelet_embed_forward = g_tubelet_embed_forward,
    .tubelet_embed_backward = g_tubelet_embed_backward,
    .pos_embed_forward = g_pos_embed_forward,
    .pos_embed_backward = g_pos_embed_backward,
    .infonce_forward = g_infonce_forward,
    .infonce_backward = g_infonce_backward,
    .cross_entropy_forward = g_cross_entropy_forward,
    .cross_entropy_backward = g_cross_entropy_backward,
    .scale = g_scale,
    .adamw_update = g_adamw_update,
    .sum_squares = g_sum_squares,
};

/* Every member of the table is set: a port that forgets one fails here, not on a GPU. */
START_TEST(test_table_complete)
{
    const lv_backend *tables[2] = { &lv_backend_ref, &guarded };
    for (int t = 0; t < 2; t++) {
        const lv_backend *be = tables[t];
        /* the function pointers, from alloc to sum_squares, are laid out contiguously */
        const char *first = (const char *)&be->alloc, *end = (const char *)(&be->sum_squares + 1);
        int missing = 0;
        for (const char *p = first; p < end; p += sizeof(void (*)(void))) {
            void (*fn)(void);
            memcpy(&fn, p, sizeof fn);
            missing += fn == NULL;
        }
        printf("%s: %d members, %d unset\n", be->name,
               (int)((end - first) / (long)sizeof(void (*)(void))), missing);
        ck_assert_int_eq(missing, 0);
    }
}
END_TEST

/* ---- the graph through guarded memory ----------------------------------------------------------- */

static const struct {
    const char *name, *set;
    int64_t n_micro;
} variants[] = {
    { "joint, 50% random mask", "mask_ratio=0.5", 1 },
    { "factorized, tube mask", "attn=factorized mask_ratio=0.5 mask=tube", 1 },
    { "frame-level, attentional pooling", "attn=frame frame_pool=attn mask_ratio=0.25", 1 },
    { "LoRA", "tune=lora", 1 },
    { "adapters, 2 micro-batches", "tune=adapters", 2 },
};

static lv_config variant_config(int i)
{
    lv_config c;
    ck_assert_int_eq(lv_config_preset(&c, "tiny"), 0);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", variants[i].set);
    for (char *save = NULL, *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save))
        ck_assert_msg(lv_config_set(&c, kv) == 0, "%s: %s", kv, lv_error());
    ck_assert_msg(lv_config_validate(&c) == 0, "%s", lv_error());
    return c;
}

enum { BATCH = 4, STEPS = 2 };

/* STEPS training steps of a fresh model on backend be; the losses, then the parameters, land in
 * host memory (params: n_floats). */
static void train_on(const lv_backend *be, const lv_config *c, int64_t n_micro,
                     const test_batch *t, float *losses, float *params)
{
    lv_model m;
    lv_trainer tr;
    ck_assert_msg(lv_model_build(&m, c, be) == 0, "%s", lv_error());
    ck_assert_int_eq(lv_model_alloc_acts(&m, BATCH / n_micro, 0), 0);
    lv_adamw_config opt = lv_adamw_defaults();
    opt.lr = 1e-3;
    ck_assert_int_eq(lv_trainer_init(&tr, &m, &opt, BATCH), 0);
    const int64_t mb = BATCH / n_micro;
    const int64_t pixels = c->frames * c->image_size * c->image_size * 3;
    for (int64_t s = 0; s < STEPS; s++) {
        lv_batch micro[2];
        for (int64_t i = 0; i < n_micro; i++)
            micro[i] = (lv_batch){ .B = mb, .video = t->batch.video + i * mb * pixels,
                                   .text = t->batch.text + i * mb * c->text_len,
                                   .text_valid = t->batch.text_valid + i * mb * c->text_len,
                                   .step = (uint32_t)s, .first_sample = (uint32_t)(i * mb) };
        const lv_step_part part = { .micro = micro, .n_micro = n_micro };
        lv_step_stats st;
        ck_assert_msg(lv_train_step(&tr, &part, 1, s, &st) == 0, "%s", lv_error());
        losses[s] = st.loss;
    }
    be->download(params, m.params.data, (size_t)m.params.n_floats * sizeof(float));
    lv_trainer_free(&tr);
    lv_model_free(&m);
}

START_TEST(test_graph_guarded)
{
    const lv_config c = variant_config(_i);
    test_batch t = batch_make(&c, BATCH, 0, 4100 + (uint32_t)_i);
    lv_model probe;
    ck_assert_int_eq(lv_model_build_table(&probe, &c, &lv_backend_ref), 0);
    const int64_t n = probe.params.n_floats;
    lv_model_free(&probe);
    float want_loss[STEPS], got_loss[STEPS];
    float *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
    ck_assert(want && got);
    train_on(&lv_backend_ref, &c, variants[_i].n_micro, &t, want_loss, want);
    calls = 0;
    train_on(&guarded, &c, variants[_i].n_micro, &t, got_loss, got);
    ck_assert_int_eq(n_regions, 0);          /* everything allocated was freed */
    const int same = memcmp(want, got, (size_t)n * sizeof *got) == 0 &&
                     memcmp(want_loss, got_loss, sizeof got_loss) == 0;
    printf("%s: %d guarded calls, %d steps, losses %.6f %.6f, %lld parameters %s ref's\n",
           variants[_i].name, calls, STEPS, (double)got_loss[0], (double)got_loss[1],
           (long long)n, same ? "bit-identical to" : "DIFFERENT from");
    ck_assert(same);
    free(want), free(got);
    batch_free(&t);
}
END_TEST

/* Model files and checkpoints go through download and upload too: save from guarded memory,
 * load into a fresh guarded model, compare on the host. */
START_TEST(test_files_guarded)
{
    const lv_config c = variant_config(0);
    char dir[] = "/tmp/lv_contract_XXXXXX", params_path[96], ckpt_path[96];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(params_path, sizeof params_path, "%s/params.safetensors", dir);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/ckpt.safetensors", dir);
    lv_model a, b;
    lv_adamw oa, ob;
    ck_assert_int_eq(lv_model_build(&a, &c, &guarded), 0);
    ck_assert_int_eq(lv_adamw_init(&oa, &a.params), 0);
    oa.t = 3;
    ck_assert_msg(lv_model_save(&a, params_path) == 0, "%s", lv_error());
    const float losses[2] = { 1.5f, 1.25f };
    const lv_train_state st = { .step = 2, .losses = (float *)losses, .n_losses = 2 };
    ck_assert_msg(lv_checkpoint_save(ckpt_path, &a, &oa, &st) == 0, "%s", lv_error());
    lv_config cb = c;
    cb.seed = c.seed + 1;                   /* another initialisation, overwritten by the load */
    ck_assert_int_eq(lv_model_build(&b, &cb, &guarded), 0);
    ck_assert_int_eq(lv_adamw_init(&ob, &b.params), 0);
    lv_train_state got;
    char *args = NULL;
    ck_assert_msg(lv_checkpoint_load(ckpt_path, &b, &ob, &got, &args) == 0, "%s", lv_error());
    ck_assert_msg(lv_model_load(&b, params_path) == 0, "%s", lv_error());
    const int64_t n = a.params.n_floats;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    ck_assert(x && y);
    guarded.download(x, a.params.data, (size_t)n * sizeof *x);
    guarded.download(y, b.params.data, (size_t)n * sizeof *y);
    ck_assert(memcmp(x, y, (size_t)n * sizeof *x) == 0 && ob.t == 3 && got.step == 2);
    printf("params and checkpoint saved from and loaded into guarded memory: %lld floats equal\n",
           (long long)n);
    free(x), free(y), free(args), free((void *)got.losses);
    lv_adamw_free(&oa), lv_adamw_free(&ob);
    lv_model_free(&a), lv_model_free(&b);
    unlink(params_path), unlink(ckpt_path), rmdir(dir);
}
END_TEST

/* Every golden case, kernels (inputs staged by the harness) and models, on guarded memory: the
 * outputs equal ref's byte for byte, so `golden --check --backend NAME` serves a device port. */
START_TEST(test_golden_guarded)
{
    int kernels = 0, models = 0;
    int64_t tensors = 0;
    for (int i = 0; i < lv_golden_case_count(); i++) {
        lv_golden_set in = { 0 }, want = { 0 }, got = { 0 };
        ck_assert_msg(lv_golden_make(i, "check_contract", &in) == 0, "%s", lv_error());
        ck_assert_msg(lv_golden_run(&in, &want, &lv_backend_ref) == 0, "%s", lv_error());
        ck_assert_msg(lv_golden_run(&in, &got, &guarded) == 0, "%s: %s",
                      lv_golden_case_path(i), lv_error());
        ck_assert_int_eq(n_regions, 0);
        ck_assert_int_eq(got.n, want.n);
        for (int64_t k = 0; k < want.n; k++) {
            const lv_golden_tensor *a = &want.t[k], *b = &got.t[k];
            const size_t bytes = (size_t)a->numel * (a->dtype == LV_DT_F32 || a->dtype ==
                                 LV_DT_I32 ? 4 : a->dtype == LV_DT_I64 ? 8 : 1);
            ck_assert_msg(!strcmp(a->name, b->name) && a->numel == b->numel &&
                          memcmp(a->data, b->data, bytes) == 0, "%s %s differs on guarded memory",
                          lv_golden_case_path(i), a->name);
        }
        tensors += want.n;
        *(strncmp(lv_golden_case_path(i), "models/", 7) ? &kernels : &models) += 1;
        lv_golden_set_free(&in), lv_golden_set_free(&want), lv_golden_set_free(&got);
    }
    printf("golden cases on guarded memory: %d kernel and %d model cases, %lld output tensors "
           "byte-identical to ref\n", kernels, models, (long long)tensors);
    ck_assert(kernels > 30 && models > 10);
}
END_TEST

/* The test of the test: a host read of backend memory outside a member call must crash. The
 * SIGSEGV handler is ours (a sanitizer build would otherwise report and exit 1 itself): it exits
 * with a status nothing else in the test produces. */
enum { SEGV_EXIT = 77 };

static void on_segv(int sig)
{
    (void)sig;
    _exit(SEGV_EXIT);
}

START_TEST(test_guard_catches_host_access)
{
    const lv_config c = variant_config(0);
    lv_model m;
    ck_assert_int_eq(lv_model_build(&m, &c, &guarded), 0);
    struct sigaction sa = { .sa_handler = on_segv };
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
    printf("reading a parameter on the host without download: expecting SIGSEGV (exit %d)\n",
           SEGV_EXIT);
    fflush(stdout);
    volatile float x = m.params.data[0];
    printf("read %g: the guard let it through\n", (double)x);
}
END_TEST

Suite *contract_suite(void)
{
    Suite *s = suite_create("contract");
    TCase *tc = tcase_create("guarded");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_table_complete);
    tcase_add_loop_test(tc, test_graph_guarded, 0, (int)(sizeof variants / sizeof variants[0]));
    tcase_add_test(tc, test_files_guarded);
    tcase_add_test(tc, test_golden_guarded);
    tcase_add_exit_test(tc, test_guard_catches_host_access, SEGV_EXIT);
    suite_add_tcase(s, tc);
    return s;
}
