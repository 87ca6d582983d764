/* bf16 matmuls through oneDNN's C API (dnnl.h, oneDNN 2.x): each operand is rounded to bf16 into
 * a buffer kept between calls, and a matmul primitive made once per shape multiplies them with
 * fp32 accumulation into the fp32 C (beta as a sum post-op). No per-call allocation after the
 * first call of a shape; threads are oneDNN's OpenMP, called from outside our parallel regions.
 * The tile products (lv_gemm_bf16_tile, attention's) are the other way round: already-rounded
 * dense operands, called inside our parallel region, one primitive per shape and thread.
 * Built where make's probe compiled and linked against oneDNN (Makefile); bf16_none.c otherwise. */
#include "bf16_dnnl.h"
#include "cpu_common.h"
#include "error.h"

#include <cpuid.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One primitive per shape: the shape (layouts of the dense bf16 copies included), alpha (the
 * output scale), beta, and the memory objects whose data handles are set on each call. */
typedef struct {
    int trans_a, trans_b;
    int64_t M, N, K, ldc;
    float alpha, beta;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} gemm_plan;

/* The plans made so far, found by shape (lv_gemm_bf16's, and each tile thread's own) */
typedef struct {
    gemm_plan *p;
    int64_t n, cap;
} plan_list;

static struct {
    pthread_mutex_t lock;
    int state;                   /* 0 not tried, 1 ready, -1 refused (message in why) */
    char why[512], name[160];
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    plan_list plans;             /* lv_gemm_bf16's, alpha 1 (folded into A) */
    uint16_t *a16, *b16;         /* A and B as stored, in bf16; grown, kept */
    size_t a_cap, b_cap;         /* in entries */
    uint16_t *job16[4];          /* lv_gemm_bf16_jobs: A and B of two jobs; grown, kept */
    size_t job_cap[4];
} bf16 = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* CPUID.(EAX=7, ECX=1):EAX bit 5, what /proc/cpuinfo calls avx512_bf16 */
static int cpu_has_avx512_bf16(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d))
        return 0;
    return (a >> 5) & 1u;
}

static int refuse(const char *fmt, const char *detail)
{
    snprintf(bf16.why, sizeof bf16.why, fmt, detail);
    bf16.state = -1;
    return -1;
}

static int start(void)
{
    const dnnl_version_t *v = dnnl_version();
    if (!v)                                        /* the stand-in of a GPU bundle (gpu-check) */
        return refuse("--precision bf16: the oneDNN library here is a stand-in that carries no "
                      "code (a GPU bundle leaves it out); run in fp32 (--precision fp32, the "
                      "default)%s", "");
    if (!cpu_has_avx512_bf16())
        return refuse("--precision bf16: this CPU lacks AVX512-BF16 (no avx512_bf16 among the "
                      "flags of /proc/cpuinfo)%s; run it in fp32 (--precision fp32, the "
                      "default), or on a CPU that has it (Cooper Lake, Sapphire Rapids, Zen 4 "
                      "or later)", "");
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16)
        return refuse("--precision bf16: oneDNN may not use AVX512-BF16 here (its ISA is capped "
                      "below avx512_core_bf16%s); unset DNNL_MAX_CPU_ISA or run in fp32",
                      getenv("DNNL_MAX_CPU_ISA") ? " by DNNL_MAX_CPU_ISA" : "");
    if (dnnl_engine_create(&bf16.engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&bf16.stream, bf16.engine, dnnl_stream_default_flags) != dnnl_success)
        return refuse("--precision bf16: oneDNN could not start a CPU engine%s", "");
    snprintf(bf16.name, sizeof bf16.name, "oneDNN %d.%d.%d matmul (bf16 operands, fp32 "
             "accumulation; ISA %s)", v->major, v->minor, v->patch,
             (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx
                 ? "avx512_core_amx" : "avx512_core_bf16");
    bf16.state = 1;
    return 0;
}

int lv_bf16_ready(void)
{
    pthread_mutex_lock(&bf16.lock);
    const int rc = bf16.state == 0 ? start() : bf16.state > 0 ? 0 : -1;
    pthread_mutex_unlock(&bf16.lock);
    return rc < 0 ? lv_set_error("%s", bf16.why) : 0;
}

const char *lv_bf16_backend(void)
{
    return lv_bf16_ready() == 0 ? bf16.name : bf16.why;
}

/* a oneDNN call that cannot fail on a started engine with valid shapes: stop, saying which */
#define DNNL_CHECK(call)                                                                        \
    do {                                                                                        \
        const dnnl_status_t st_ = (call);                                                       \
        if (st_ != dnnl_success) {                                                              \
            fprintf(stderr, "longvivit: oneDNN: %s failed (status %d) at %s:%d\n", #call,      \
                    (int)st_, __FILE__, __LINE__);                                              \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* A (M, K) and B (K, N) dense in their stored layouts ((M, K) or, transposed, (K, M); (K, N) or
 * (N, K)), C (M, N) with row stride ldc: the primitive and its three memory objects (handles set
 * per call). oneDNN's brgemm reads either layout of either operand: converting with a transpose
 * instead was slower (1.6x vs 1.85x fp32's speed on the weight gradients). */
static gemm_plan plan_make(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                           int64_t ldc, float alpha, float beta)
{
    gemm_plan p = { .trans_a = trans_a, .trans_b = trans_b, .M = M, .N = N, .K = K, .ldc = ldc,
                    .alpha = alpha, .beta = beta };
    const dnnl_dims_t a_dims = { M, K }, a_strides = { trans_a ? 1 : K, trans_a ? M : 1 };
    const dnnl_dims_t b_dims = { K, N }, b_strides = { trans_b ? 1 : N, trans_b ? K : 1 };
    const dnnl_dims_t c_dims = { M, N }, c_strides = { ldc, 1 };
    dnnl_memory_desc_t a_md, b_md, c_md;
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, dnnl_bf16, a_strides));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, dnnl_bf16, b_strides));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides));
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t post;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    DNNL_CHECK(dnnl_post_ops_create(&post));
    if (alpha != 1.0f)                        /* C = alpha (A B), in fp32 on the sums */
        DNNL_CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha));
    if (beta != 0.0f)                         /* C = A B + beta C */
        DNNL_CHECK(dnnl_post_ops_append_sum(post, beta));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, post));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, bf16.engine, NULL));
    DNNL_CHECK(dnnl_primitive_create(&p.prim, pd));
    DNNL_CHECK(dnnl_memory_create(&p.a, &a_md, bf16.engine, DNNL_MEMORY_NONE));
    DNNL_CHECK(dnnl_memory_create(&p.b, &b_md, bf16.engine, DNNL_MEMORY_NONE));
    DNNL_CHECK(dnnl_memory_create(&p.c, &c_md, bf16.engine, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(post);
    dnnl_primitive_attr_destroy(attr);
    return p;
}

/* x grown to hold n entries of `size` bytes (contents kept); stops, saying why, without memory */
static void *grown_plans(void *x, int64_t n, size_t size)
{
    void *y = realloc(x, (size_t)n * size);
    if (!y) {
        fprintf(stderr, "longvivit: out of memory for the bf16 matmul plans\n");
        abort();
    }
    return y;
}

/* l's plan of this shape, made on first use */
static gemm_plan *plan_get(plan_list *l, int trans_a, int trans_b, int64_t M, int64_t N,
                           int64_t K, int64_t ldc, float alpha, float beta)
{
    for (int64_t i = 0; i < l->n; i++) {
        gemm_plan *p = &l->p[i];
        if (p->trans_a == trans_a && p->trans_b == trans_b && p->M == M && p->N == N &&
            p->K == K && p->ldc == ldc && p->alpha == alpha && p->beta == beta)
            return p;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->p = grown_plans(l->p, l->cap, sizeof *l->p);
    }
    l->p[l->n] = plan_make(trans_a, trans_b, M, N, K, ldc, alpha, beta);
    return &l->p[l->n++];
}

static uint16_t *grown(uint16_t **buf, size_t *cap, size_t n, const char *what)
{
    if (n > *cap) {
        free(*buf);
        *buf = lv_malloc(n * sizeof **buf, what);
        if (!*buf) {                          /* a kernel has no error return: stop, saying why */
            fprintf(stderr, "longvivit: %s\n", lv_error());
            abort();
        }
        *cap = n;
    }
    return *buf;
}

/* dst (rows, cols) dense = bf16(alpha src), src with row stride ld; called inside a parallel
 * region (its rows shared out, no barrier at the end) */
static void convert(uint16_t *dst, const float *src, int64_t rows, int64_t cols, int64_t ld,
                    float alpha)
{
    #pragma omp for schedule(static) nowait
    for (int64_t r = 0; r < rows; r++) {
        const float *s = src + r * ld;
        uint16_t *d = dst + r * cols;
        #pragma omp simd
        for (int64_t c = 0; c < cols; c++)
            d[c] = lv_bf16_bits(alpha * s[c]);
    }
}

void lv_gemm_bf16(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc)
{
    LV_REQUIRE(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N);
    LV_REQUIRE(lv_bf16_ready() == 0);
    if (M == 0 || N == 0)
        return;
    if (K == 0) {                             /* no products: C = beta C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    pthread_mutex_lock(&bf16.lock);
    /* both operands dense in their own layouts, alpha folded into A */
    uint16_t *a16 = grown(&bf16.a16, &bf16.a_cap, (size_t)(M * K), "bf16 copies of matmul inputs");
    uint16_t *b16 = grown(&bf16.b16, &bf16.b_cap, (size_t)(K * N), "bf16 copies of matmul inputs");
    #pragma omp parallel if (M * K + K * N > PAR_MIN)     /* one region for both */
    {
        convert(a16, A, trans_a ? K : M, trans_a ? M : K, lda, alpha);
        convert(b16, B, trans_b ? N : K, trans_b ? K : N, ldb, 1.0f);
    }
    gemm_plan *p = plan_get(&bf16.plans, trans_a, trans_b, M, N, K, ldc, 1.0f, beta);
    DNNL_CHECK(dnnl_memory_set_data_handle(p->a, a16));
    DNNL_CHECK(dnnl_memory_set_data_handle(p->b, b16));
    DNNL_CHECK(dnnl_memory_set_data_handle(p->c, C));
    const dnnl_exec_arg_t args[] = {
        { DNNL_ARG_SRC, p->a }, { DNNL_ARG_WEIGHTS, p->b }, { DNNL_ARG_DST, p->c },
    };
    DNNL_CHECK(dnnl_primitive_execute(p->prim, bf16.stream, 3, args));
    DNNL_CHECK(dnnl_stream_wait(bf16.stream));
    pthread_mutex_unlock(&bf16.lock);
}

/* ---- per-thread tile products (attention_cpu.c) ----------------------------------------------
 * Each thread of the caller's parallel region has its own plans (primitive + memory objects, so
 * no handle is shared) and its own stream; oneDNN runs a primitive executed inside a parallel
 * region on the calling thread. The plan list of thread t is only touched by thread t. */
typedef struct {
    plan_list plans;
    dnnl_stream_t stream;
} tile_thread;

static struct {
    tile_thread *t;
    int n;
} tiles;

void lv_bf16_tiles_reserve(int threads)
{
    LV_REQUIRE(lv_bf16_ready() == 0);
    pthread_mutex_lock(&bf16.lock);
    if (threads > tiles.n) {
        tiles.t = grown_plans(tiles.t, threads, sizeof *tiles.t);
        for (int i = tiles.n; i < threads; i++) {
            tiles.t[i] = (tile_thread){ 0 };
            DNNL_CHECK(dnnl_stream_create(&tiles.t[i].stream, bf16.engine,
                                          dnnl_stream_default_flags));
        }
        tiles.n = threads;
    }
    pthread_mutex_unlock(&bf16.lock);
}

void lv_gemm_bf16_tile(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const uint16_t *A, const uint16_t *B, float beta, float *C, int64_t ldc)
{
    const int id = thread_id();
    LV_REQUIRE(id < tiles.n && M > 0 && N > 0 && K > 0 && ldc >= N);
    tile_thread *t = &tiles.t[id];
    gemm_plan *p = plan_get(&t->plans, trans_a, trans_b, M, N, K, ldc, alpha, beta);
    DNNL_CHECK(dnnl_memory_set_data_handle(p->a, (void *)A));
    DNNL_CHECK(dnnl_memory_set_data_handle(p->b, (void *)B));
    DNNL_CHECK(dnnl_memory_set_data_handle(p->c, C));
    const dnnl_exec_arg_t args[] = {
        { DNNL_ARG_SRC, p->a }, { DNNL_ARG_WEIGHTS, p->b }, { DNNL_ARG_DST, p->c },
    };
    DNNL_CHECK(dnnl_primitive_execute(p->prim, t->stream, 3, args));
    DNNL_CHECK(dnnl_stream_wait(t->stream));
}

/* ---- jobs: a kernel's matmuls, a part per thread ---------------------------------------------
 * Why: oneDNN's own threads ran the model's linear shapes at 365-410 GFLOP/s on 2 threads, the
 * same products one per thread (or half of C's rows each) at 385-445 (Zen 4, operands already
 * rounded); and a layer's backward rounded its dout once per product. */

/* The stored (rows, cols) of op(A) or op(B) of a job: A (M, K) or (K, M), B (K, N) or (N, K) */
static void stored_shape(const lv_gemm_job *j, int b, int64_t *rows, int64_t *cols)
{
    const int t = b ? j->tb : j->ta;
    const int64_t r = b ? j->K : j->M, c = b ? j->N : j->K;
    *rows = t ? c : r;
    *cols = t ? r : c;
}

void lv_gemm_bf16_jobs(const lv_gemm_job *jobs, int n)
{
    LV_REQUIRE(lv_bf16_ready() == 0 && n >= 1 && n <= 2);
    const int64_t T = max_threads();
    int64_t parts[2];
    const int64_t total = lv_gemm_job_parts(jobs, n, T, 1, parts);
    int degenerate = in_parallel();
    for (int i = 0; i < n; i++)
        degenerate |= jobs[i].M == 0 || jobs[i].N == 0 || jobs[i].K == 0;
    if (total < 2 || total < T || degenerate) {    /* whole, also where a thread would idle */
        for (int i = 0; i < n; i++)
            lv_gemm_bf16(jobs[i].ta, jobs[i].tb, jobs[i].M, jobs[i].N, jobs[i].K, jobs[i].alpha,
                         jobs[i].a, jobs[i].lda, jobs[i].b, jobs[i].ldb, jobs[i].beta,
                         jobs[i].c, jobs[i].ldc);
        return;
    }
    lv_bf16_tiles_reserve((int)T);
    pthread_mutex_lock(&bf16.lock);
    /* op[2 i] = A of job i (alpha folded in), op[2 i + 1] = B; an A equal to job 0's (the
     * same floats, layout and alpha: a layer's dout in dinp and in dW) is rounded once */
    const uint16_t *op16[4];
    int convert_op[4] = { 0 };
    int64_t rows[4], cols[4];
    for (int k = 0; k < 2 * n; k++) {
        const lv_gemm_job *j = &jobs[k / 2];
        stored_shape(j, k % 2, &rows[k], &cols[k]);
        if (k == 2 && j->a == jobs[0].a && j->lda == jobs[0].lda && j->alpha == jobs[0].alpha &&
            rows[2] == rows[0] && cols[2] == cols[0]) {
            op16[k] = op16[0];
            continue;
        }
        op16[k] = grown(&bf16.job16[k], &bf16.job_cap[k], (size_t)(rows[k] * cols[k]),
                        "bf16 copies of matmul inputs");
        convert_op[k] = 1;
    }
    #pragma omp parallel num_threads((int)T)
    for (int k = 0; k < 2 * n; k++) {
        const lv_gemm_job *j = &jobs[k / 2];
        if (convert_op[k])
            convert((uint16_t *)op16[k], k % 2 ? j->b : j->a, rows[k], cols[k],
                    k % 2 ? j->ldb : j->lda, k % 2 ? 1.0f : j->alpha);
    }
    #pragma omp parallel for schedule(static) num_threads((int)total)
    for (int64_t u = 0; u < total; u++) {
        const int i = u < parts[0] ? 0 : 1;
        const lv_gemm_job *j = &jobs[i];
        int64_t i0, i1;                       /* rows of C; a split job has ta = 0 */
        lv_gemm_part_rows(j, i ? u - parts[0] : u, parts[i], &i0, &i1);
        lv_gemm_bf16_tile(j->ta, j->tb, i1 - i0, j->N, j->K, 1.0f, op16[2 * i] + i0 * j->K,
                          op16[2 * i + 1], j->beta, j->c + i0 * j->ldc, j->ldc);
    }
    pthread_mutex_unlock(&bf16.lock);
}
