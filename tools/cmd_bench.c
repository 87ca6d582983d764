/* longvivit bench: times whole training steps (forward + backward + AdamW) of any config on a
 * backend, next to the sgemm rate of this machine measured in the same run.
 * longvivit memory: the analytic peak memory of a training step (parameters, gradients, AdamW
 * moments, activations, inputs, backend scratch) and, with --measure, the peak RSS of one step.
 * Figures for comparisons are ratios measured in one run: the machine may be shared.
 * Under mpirun (an MPI build) bench times the data-parallel step, --batch pairs per rank, and
 * splits each step into time inside the collectives and the rest (compute). With --profile the
 * backend is wrapped by blas_glue/backend_profile.c and the timed steps are broken down by
 * kernel family and matmul shape (without it the plain table runs: no cost when off). */
#include "train.h"
#include "backend_profile.h"
#include "bf16_dnnl.h"
#include "blas_glue.h"
#include "commands.h"
#include "dist_transport.h"
#include "options.h"
#include "error.h"
#include "model.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    lv_config cfg;
    const lv_backend *be;
    int64_t batch, warmup, steps;
    int json, measure, no_sgemm, profile;
} bench_opts;

/* The ranks of a data-parallel benchmark (mpirun -np N longvivit bench), or the one process. */
static const lv_dist *dist = &lv_dist_single;

/* CPU time of every thread of the process: the work itself (spin-waits aside, which
 * OMP_WAIT_POLICY=passive removes) whatever other jobs' load does to the wall clock */
static double process_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;      /* Linux: KiB */
}

static double current_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * 4096.0 / (1024.0 * 1024.0);
}

static int threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int compare_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int64_t n)
{
    qsort(x, (size_t)n, sizeof *x, compare_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* ---- options -------------------------------------------------------------------------------- */

static int usage(const char *cmd, FILE *out)
{
    fprintf(out,
            "usage: longvivit %s [--preset P] [--set key=value ...] [--frames F] [--mask R]\n"
            "                 [--attn joint|factorized|frame] [--batch B] [--backend NAME]\n"
            "                 %s[--json]\n", cmd,
            !strcmp(cmd, "bench") ? "[--warmup W] [--steps N] [--no-sgemm] [--profile]\n"
                                    "                 " : "[--measure] ");
    fprintf(out, "Backends in this build: %s.\n%s", lv_backend_names(),
            lv_opt_precision_help());
    if (!strcmp(cmd, "bench"))
        fprintf(out,
                "Times N training steps (forward, backward, AdamW) after W warm-up steps on\n"
                "random inputs; prints the median ms/step, kept video tokens/s, the model's\n"
                "GFLOP/s (lv_model_step_flops: 3 x the forward's matmul FLOPs), the sgemm rate\n"
                "of this machine measured in the same run and the ratio (--no-sgemm: not\n"
                "measured, 42 GFLOP less work: seconds in a build without BLAS), and the peak RSS.\n"
                "--profile: also the timed steps broken down by kernel family (matmuls by shape,\n"
                "attention, text tower, zeroing, AdamW, LayerNorm, GELU, elementwise, copies,\n"
                "host code between kernels): ms/step, %% of the step, GFLOP/s of the matmul rows\n"
                "(with --json: a \"profile\" object).\n"
                "Threads: OMP_NUM_THREADS. Defaults: --preset vit-s --batch 1 --backend cpu\n"
                "--warmup 1 --steps 5.\n");
    else
        fprintf(out,
                "Prints the analytic peak memory of one training step (parameters, gradients,\n"
                "AdamW moments, activations, the input batch, the backend's scratch); with\n"
                "--measure runs one step and prints the peak RSS beside it.\n"
                "Defaults: --preset vit-s --batch 1 --backend cpu.\n");
    return out == stderr ? 2 : 0;
}

static int parse(const char *cmd, int argc, char **argv, bench_opts *o, int *done)
{
    const char *preset = "vit-s", *sets[64];
    char own[3][64];             /* --frames, --mask, --attn as key=value */
    int n_sets = 0;
    *o = (bench_opts){ .be = backend_by_name("cpu"), .batch = 1, .warmup = 1, .steps = 5 };
    *done = 0;
    for (int i = 1; i < argc; i++) {
        const int v = i + 1 < argc;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            *done = 1;
            return usage(cmd, stdout);
        } else if (!strcmp(argv[i], "--json")) {
            o->json = 1;
        } else if (!strcmp(argv[i], "--no-sgemm") && !strcmp(cmd, "bench")) {
            o->no_sgemm = 1;
        } else if (!strcmp(argv[i], "--profile") && !strcmp(cmd, "bench")) {
            o->profile = 1;
        } else if (!strcmp(argv[i], "--measure") && !strcmp(cmd, "memory")) {
            o->measure = 1;
        } else if (!strcmp(argv[i], "--preset") && v) {
            preset = argv[++i];
        } else if (!strcmp(argv[i], "--backend") && v) {
            if (!(o->be = backend_by_name(argv[++i]))) {
                fprintf(stderr, "longvivit %s: %s\n", cmd, lv_error());
                return 2;
            }
        } else if (!strcmp(argv[i], "--set") && v && n_sets < 60) {
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(argv[i], "--frames") && v) {
            snprintf(own[0], sizeof own[0], "frames=%s", argv[++i]);
            sets[n_sets++] = own[0];
        } else if (!strcmp(argv[i], "--mask") && v) {
            snprintf(own[1], sizeof own[1], "mask_ratio=%s", argv[++i]);
            sets[n_sets++] = own[1];
        } else if (!strcmp(argv[i], "--attn") && v) {
            snprintf(own[2], sizeof own[2], "attn=%s", argv[++i]);
            sets[n_sets++] = own[2];
        } else if ((!strcmp(argv[i], "--batch") || (!strcmp(cmd, "bench") &&
                    (!strcmp(argv[i], "--warmup") || !strcmp(argv[i], "--steps")))) && v) {
            long long n;
            const char *k = argv[i];
            if (lv_opt_int(k, argv[++i], !strcmp(k, "--warmup") ? 0 : 1, 1 << 30, &n) < 0) {
                fprintf(stderr, "longvivit %s: %s\n", cmd, lv_error());
                return usage(cmd, stderr);
            }
            *(!strcmp(k, "--batch") ? &o->batch : !strcmp(k, "--warmup") ? &o->warmup
                                                                          : &o->steps) = n;
        } else {
            goto bad;
        }
        continue;
bad:
        fprintf(stderr, "longvivit %s: bad argument '%s'\n", cmd, argv[i]);
        return usage(cmd, stderr);
    }
    if (!o->be) {                /* the default cpu backend under an unusable --precision */
        fprintf(stderr, "longvivit %s: %s\n", cmd, lv_error());
        return 2;
    }
    if (lv_config_preset(&o->cfg, preset) < 0) {
        fprintf(stderr, "longvivit %s: %s\n", cmd, lv_error());
        return 2;
    }
    for (int i = 0; i < n_sets; i++)
        if (lv_config_set(&o->cfg, sets[i]) < 0) {
            fprintf(stderr, "longvivit %s: %s\n", cmd, lv_error());
            return 2;
        }
    if (lv_config_validate(&o->cfg) < 0) {
        fprintf(stderr, "longvivit %s: %s\n", cmd, lv_error());
        return 2;
    }
    return 0;
}

/* ---- the step ------------------------------------------------------------------------------- */

typedef struct {
    lv_model m;
    lv_trainer trainer;
    float *video;
    int32_t *text;
    uint8_t *valid;
    lv_batch batch;
} bench_run;

static void run_free(bench_run *r)
{
    lv_model_free(&r->m);
    lv_trainer_free(&r->trainer);
    free(r->video), free(r->text), free(r->valid);
}

/* Model, optimiser and one random batch, all allocated once. */
static int run_setup(bench_run *r, const bench_opts *o)
{
    const lv_config *c = &o->cfg;
    const int64_t B = o->batch, T = c->text_len;
    const int64_t pixels = B * c->frames * c->image_size * c->image_size * 3;
    *r = (bench_run){ 0 };
    const lv_adamw_config opt = lv_adamw_defaults();
    if (lv_model_build(&r->m, c, o->be) < 0 || lv_model_alloc_acts(&r->m, B, 0) < 0 ||
        lv_trainer_init(&r->trainer, &r->m, &opt, B) < 0 ||
        (dist->size > 1 && lv_trainer_distribute(&r->trainer, dist, B) < 0))
        return -1;
    r->video = lv_malloc((size_t)pixels * sizeof *r->video, "the benchmark's videos");
    r->text = lv_malloc((size_t)(B * T) * sizeof *r->text, "the benchmark's text");
    r->valid = lv_malloc((size_t)(B * T), "the benchmark's text mask");
    if (!r->video || !r->text || !r->valid)
        return -1;
    lv_rng g = lv_rng_stream(c->seed, 0x62656e63u, (uint32_t)dist->rank, 0);  /* "benc" */
    for (int64_t i = 0; i < pixels; i++)
        r->video[i] = (float)lv_rng_normal(&g);
    for (int64_t i = 0; i < B * T; i++) {
        r->valid[i] = i % T < T - (i / T) % (T / 2 + 1);
        r->text[i] = r->valid[i] ? 1 + (int32_t)lv_rng_below(&g, (uint64_t)c->vocab - 1) : 0;
    }
    r->batch = (lv_batch){ .B = B, .video = r->video, .text = r->text, .text_valid = r->valid,
                           .first_sample = (uint32_t)(dist->rank * B) };
    return 0;
}

/* The training step of longvivit train (lv_train_step); NaN + lv_error() when it stops. */
static float run_step(bench_run *r, uint32_t step)
{
    r->batch.step = step;
    const lv_step_part part = { .micro = &r->batch, .n_micro = 1 };
    lv_step_stats stats;
    return lv_train_step(&r->trainer, &part, 1, step, &stats) == 0 ? stats.loss : NAN;
}

/* Best-of-5 GFLOP/s of a square sgemm (n = 1536: large enough for the peak, 7 GFLOP a call). */
static double sgemm_gflops(void)
{
    const int64_t n = 1536;
    float *a = lv_malloc((size_t)(3 * n * n) * sizeof *a, "the sgemm probe");
    if (!a)
        return 0.0;
    for (int64_t i = 0; i < 3 * n * n; i++)
        a[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    double best = 0.0;
    for (int k = 0; k < 6; k++) {
        const double t0 = wall_seconds();
        lv_sgemm(0, 1, n, n, n, 1.0f, a, n, a + n * n, n, 0.0f, a + 2 * n * n, n);
        const double dt = wall_seconds() - t0;
        if (k > 0 && 2.0 * n * n * n / dt * 1e-9 > best)      /* the first call warms up */
            best = 2.0 * n * n * n / dt * 1e-9;
    }
    free(a);
    return best;
}

static const char *coretype(void)
{
    const char *e = getenv("OPENBLAS_CORETYPE");
    return e && *e ? e : "(unset: OpenBLAS picks by cpuid)";
}

/* The timed steps (on every rank; rank 0 prints); the median step's wall and process CPU ms. */
static int bench_steps(const bench_opts *po, double *median_ms, double *median_cpu_ms)
{
    bench_opts o = *po;
    static lv_profile prof;      /* --profile: the wrapper the graph runs on instead of o.be */
    if (o.profile)
        o.be = lv_profile_wrap(&prof, po->be, &(lv_profile_opts){
                                   .text_rows = o.batch * o.cfg.text_len });
    const int lead = dist->rank == 0;
    const lv_config *c = &o.cfg;
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const double flops = lv_model_step_flops(c, o.batch);
    const double peak = o.no_sgemm ? 0.0 : sgemm_gflops();
    bench_run r;
    if (run_setup(&r, &o) < 0) {
        fprintf(stderr, "longvivit bench: rank %d: %s\n", dist->rank, lv_error());
        run_free(&r);
        lv_dist_abort(dist, 1);
    }
    prof.o.grad = r.m.params.grad;               /* set(0) over it: the step's zero_grad */
    prof.o.grad_floats = r.m.params.n_grad_floats;
    if (!o.json && lead)
        printf("bench: preset %s, width %lld, %lld layers, %lld heads, attn %s, %lld frames, "
               "mask %.2f: %lld of %lld tokens kept, batch %lld, backend %s, %d threads\n"
               "matmul: %s; OPENBLAS_CORETYPE=%s (the environment as it is)\n",
               c->preset, (long long)c->width, (long long)c->layers, (long long)c->heads,
               lv_attn_kind_name(c->attn), (long long)c->frames, c->mask_ratio, (long long)g.K,
               (long long)g.N, (long long)o.batch, po->be->name, threads(),
               po->be == lv_backend_cpu_bf16() ? lv_bf16_backend() : lv_sgemm_backend(),
               coretype());
    /* per timed step: wall ms, ms inside collectives (waiting for slower ranks included), process
     * CPU ms */
    double *ms = calloc((size_t)(3 * o.steps), sizeof *ms), *comm = ms + o.steps;
    double *cpu = ms + 2 * o.steps;
    float loss = 0.0f;
    double comm_s0, bytes0, comm_s1, bytes1, bytes = 0.0;
    lv_dist_barrier(dist);
    for (int64_t s = 0; s < o.warmup + o.steps; s++) {
        lv_dist_traffic(dist, &comm_s0, &bytes0);
        if (o.profile && s == o.warmup)
            lv_profile_reset(&prof);
        if (o.profile && s >= o.warmup)
            lv_profile_step_begin(&prof);
        const double t0 = wall_seconds(), c0 = process_cpu_s();
        loss = run_step(&r, (uint32_t)s);
        const double dt = (wall_seconds() - t0) * 1e3, dcpu = (process_cpu_s() - c0) * 1e3;
        if (o.profile && s >= o.warmup)
            lv_profile_step_end(&prof);
        lv_dist_traffic(dist, &comm_s1, &bytes1);
        if (!isfinite(loss)) {
            fprintf(stderr, "longvivit bench: step %lld: loss %g: %s\n", (long long)s, loss,
                    lv_error());
            free(ms);
            run_free(&r);
            lv_dist_abort(dist, 1);
        }
        if (s >= o.warmup) {
            ms[s - o.warmup] = dt;
            cpu[s - o.warmup] = dcpu;
            comm[s - o.warmup] = (comm_s1 - comm_s0) * 1e3;
            bytes = bytes1 - bytes0;
        }
        if (!o.json && lead)
            printf("  step %lld%s: %.1f ms (in collectives %.1f ms), loss %.4f\n", (long long)s,
                   s < o.warmup ? " (warm-up)" : "", dt, (comm_s1 - comm_s0) * 1e3, loss);
    }
    const double comm_med = median(comm, o.steps);
    const double med = median(ms, o.steps), cpu_med = median(cpu, o.steps);
    const double gflops = flops / (med * 1e-3) * 1e-9;
    const double tokens = (double)(o.batch * g.K) / (med * 1e-3);
    const double rss = peak_rss_mib();
    if (o.json && lead) {
        printf("{\"impl\": \"longvivit\", \"backend\": \"%s\", \"preset\": \"%s\", \"width\": %lld, "
               "\"layers\": %lld, \"heads\": %lld, \"attn\": \"%s\", \"frames\": %lld, "
               "\"mask\": %.4f, \"kept_tokens\": %lld, \"batch\": %lld, \"threads\": %d, "
               "\"warmup\": %lld, \"steps\": %lld, \"ms_per_step\": %.3f, \"ms_all\": [",
               o.be->name, c->preset, (long long)c->width, (long long)c->layers,
               (long long)c->heads, lv_attn_kind_name(c->attn), (long long)c->frames,
               c->mask_ratio, (long long)g.K, (long long)o.batch, threads(),
               (long long)o.warmup, (long long)o.steps, med);
        for (int64_t s = 0; s < o.steps; s++)
            printf("%s%.3f", s ? ", " : "", ms[s]);
        printf("], \"tokens_per_s\": %.1f, \"gflop_per_step\": %.3f, \"gflops\": %.2f, ",
               tokens, flops * 1e-9, gflops);
        if (peak > 0)    /* --no-sgemm: null */
            printf("\"sgemm_gflops\": %.2f, \"ratio_sgemm\": %.4f, ", peak, gflops / peak);
        else
            printf("\"sgemm_gflops\": null, \"ratio_sgemm\": null, ");
        printf("\"peak_rss_mib\": %.1f, "
               "\"loss\": %.6f, \"matmul\": \"%s\", \"openblas_core\": \"%s\", "
               "\"ranks\": %d, \"global_batch\": %lld, \"comm_ms_per_step\": %.3f, "
               "\"compute_ms_per_step\": %.3f, \"comm_mib_per_step\": %.3f, "
               "\"transport\": \"%s\"",
               rss, loss,
               lv_sgemm_backend(), coretype(), dist->size, (long long)(dist->size * o.batch),
               comm_med, med - comm_med, bytes / (1 << 20), lv_dist_transport_name());
        if (o.profile) {
            printf(", \"profile\": ");
            lv_profile_print(stdout, &prof, 1);
        }
        printf("}\n");
    } else if (lead) {
        printf("median %.1f ms/step over %lld steps; %.0f kept tokens/s; %.1f GFLOP/step -> "
               "%.1f GFLOP/s\n", med, (long long)o.steps, tokens, flops * 1e-9, gflops);
        if (peak > 0)
            printf("sgemm (1536^3, best of 5, same run): %.1f GFLOP/s; the step runs at %.1f%% "
                   "of it\n", peak, 100.0 * gflops / peak);
        else
            printf("sgemm: not measured (--no-sgemm)\n");
        printf("process CPU time: median %.1f ms/step (every thread)\n", cpu_med);
        printf("peak RSS %.1f MiB\n", rss);
        if (dist->size > 1)
            printf("%d ranks x batch %lld: median %.1f ms/step in collectives (%.2f MiB sent "
                   "per step by each rank, waiting for slower ranks included), %.1f ms the "
                   "rest (compute)\n", dist->size, (long long)o.batch, comm_med,
                   bytes / (1 << 20), med - comm_med);
        if (o.profile)
            lv_profile_print(stdout, &prof, 0);
    }
    *median_ms = med;
    *median_cpu_ms = cpu_med;
    free(ms);
    run_free(&r);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    int done;
    int rc = parse("bench", argc, argv, &o, &done);
    if (rc || done)
        return rc;
    dist = lv_dist_open();
    /* --precision bf16: the fp32 step first, then the bf16 one, in the same run */
    const int bf16 = o.be == lv_backend_cpu_bf16();
    bench_opts fp32 = o;
    fp32.be = &lv_backend_cpu;
    double ms32 = 0.0, ms = 0.0, cpu32 = 0.0, cpu = 0.0;
    rc = bf16 ? bench_steps(&fp32, &ms32, &cpu32) : 0;
    rc = rc ? rc : bench_steps(&o, &ms, &cpu);
    if (bf16 && rc == 0 && dist->rank == 0 && !o.json)
        printf("bf16 matmuls vs fp32, same run: %.1f vs %.1f ms/step, %.2fx; process CPU time "
               "%.1f vs %.1f ms/step, %.2fx (on a loaded machine, with OMP_WAIT_POLICY=passive, "
               "the figure to compare)\n", ms, ms32, ms32 / ms, cpu, cpu32, cpu32 / cpu);
    lv_dist_close(dist);
    return rc;
}

/* ---- memory --------------------------------------------------------------------------------- */

static void memory_row(int json, const char *key, const char *label, double floats, int last)
{
    if (json)
        printf("\"%s_mib\": %.2f%s", key, floats * 4.0 / (1 << 20), last ? "" : ", ");
    else
        printf("  %-34s %10.1f MiB\n", label, floats * 4.0 / (1 << 20));
}

int cmd_memory(int argc, char **argv)
{
    bench_opts o;
    int done;
    int rc = parse("memory", argc, argv, &o, &done);
    if (rc || done)
        return rc;
    const lv_config *c = &o.cfg;
    const lv_video_geometry g = lv_config_geometry(c, 0);
    const double base = current_rss_mib();       /* the program and its libraries */
    lv_model m;
    if (lv_model_build_table(&m, c, o.be) < 0) {
        fprintf(stderr, "longvivit memory: %s\n", lv_error());
        return 2;
    }
    const double params = (double)m.params.n_floats, grads = (double)m.params.n_grad_floats;
    lv_model_free(&m);
    const double acts = (double)lv_model_act_floats(c, o.be, o.batch);
    const double inputs = (double)(o.batch * c->frames * c->image_size * c->image_size * 3) +
                          (double)(o.batch * c->text_len) * 1.25;
    const double scratch = o.be == &lv_backend_cpu
                           ? (double)lv_backend_cpu_scratch_floats(c, o.batch) : 0.0;
    const double total = params + 3.0 * grads + acts + inputs + scratch;
    if (o.json)
        printf("{\"preset\": \"%s\", \"backend\": \"%s\", \"kept_tokens\": %lld, \"batch\": %lld, ",
               c->preset, o.be->name, (long long)g.K, (long long)o.batch);
    else
        printf("memory of one training step: preset %s, %lld of %lld tokens kept, batch %lld, "
               "%s backend (analytic, fp32)\n", c->preset, (long long)g.K, (long long)g.N,
               (long long)o.batch, o.be->name);
    memory_row(o.json, "params", "parameters", params, 0);
    memory_row(o.json, "grads", "gradients (trainable only)", grads, 0);
    memory_row(o.json, "adamw", "AdamW moments", 2.0 * grads, 0);
    memory_row(o.json, "activations", "activations (attention cache incl.)", acts, 0);
    memory_row(o.json, "inputs", "input batch", inputs, 0);
    memory_row(o.json, "scratch", "backend scratch (bound)", scratch, 0);
    memory_row(o.json, "analytic", "total (analytic)", total, !o.measure);
    if (!o.measure) {
        if (o.json)
            printf("}\n");
        return 0;
    }
    bench_run r;
    if (run_setup(&r, &o) < 0) {
        fprintf(stderr, "longvivit memory: %s\n", lv_error());
        run_free(&r);
        return 1;
    }
    const double t0 = wall_seconds();
    const float loss = run_step(&r, 0);
    const double secs = wall_seconds() - t0;
    run_free(&r);
    const double peak = peak_rss_mib(), analytic = total * 4.0 / (1 << 20);
    if (o.json)
        printf("\"baseline_mib\": %.1f, \"peak_rss_mib\": %.1f, \"ratio\": %.4f, "
               "\"step_s\": %.2f, \"loss\": %.6f}\n", base, peak, peak / (analytic + base), secs,
               loss);
    else
        printf("measured (one step, %.2f s, loss %.4f)\n"
               "  %-34s %10.1f MiB\n  %-34s %10.1f MiB\n"
               "  peak RSS / (analytic + baseline)   %10.3f\n", secs, loss,
               "baseline before the model", base, "peak RSS (getrusage)", peak,
               peak / (analytic + base));
    return isfinite(loss) ? 0 : 1;
}
