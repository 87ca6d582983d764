/* The host execution layer (cuda/host_exec.h) against what CUDA promises, on small kernels:
 * __syncthreads orders shared-memory writes and reads across the block; a warp shuffle inside a
 * branch that one warp takes works (only its lanes wait); every thread and block index is
 * visited once; and, its own test, a barrier that only some threads reach is reported and
 * aborts instead of hanging. Built and run by `make check`; exits 1 on a failure. */
#include "lv_cuda.h"

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

static int failures;

static void expect(bool ok, const char *what)
{
    std::printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

/* out[b] = sum over the block of (b * 1000 + t): every thread writes shared[t], the block
 * waits, then thread t reads shared[(t + 1) % n] (a neighbour's write) */
static __global__ void neighbour_kernel(int *out, int *seen)
{
    __shared__ int cell[256];
    const unsigned t = threadIdx.x, n = blockDim.x;
    cell[t] = (int)(blockIdx.x * 1000 + t);
    __syncthreads();
    const int next = cell[(t + 1) % n];
    __syncthreads();
    cell[t] = next;
    __syncthreads();
    if (t == 0) {
        int s = 0;
        for (unsigned k = 0; k < n; k++)
            s += cell[k];
        out[blockIdx.x] = s;
    }
    seen[blockIdx.x * n + t]++;
}

/* the usual final reduction: warp 0 alone sums 32 values with shuffles */
static __global__ void warp_sum_kernel(float *out, const float *x)
{
    __shared__ float part[128];
    part[threadIdx.x] = x[threadIdx.x];
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = part[threadIdx.x] + part[threadIdx.x + 32] + part[threadIdx.x + 64] +
                  part[threadIdx.x + 96];
        for (int off = 16; off > 0; off /= 2)
            v += __shfl_down_sync(0xffffffffu, v, (unsigned)off);
        if (threadIdx.x == 0)
            out[0] = v;
    }
}

/* a barrier inside a branch only half the threads take: undefined on a GPU */
static __global__ void divergent_kernel(int *x)
{
    if (threadIdx.x < 16)
        __syncthreads();
    x[threadIdx.x] = 1;
}

int main(void)
{
    const unsigned blocks = 5, threads = 96;
    std::vector<int> out(blocks), seen(blocks * threads);
    LV_LAUNCH(neighbour_kernel, blocks, threads, out.data(), seen.data());
    bool sums = true, once = true;
    for (unsigned b = 0; b < blocks; b++) {
        int want = 0;
        for (unsigned t = 0; t < threads; t++)
            want += (int)(b * 1000 + t);
        sums &= out[b] == want;
    }
    for (int s : seen)
        once &= s == 1;
    expect(sums, "__syncthreads: every thread reads its neighbour's write (5 blocks of 96)");
    expect(once, "every (block, thread) runs exactly once");

    std::vector<float> x(128), got(1);
    float want = 0.0f;
    for (int i = 0; i < 128; i++)
        want += x[i] = (float)(i % 7) - 3.0f;
    LV_LAUNCH(warp_sum_kernel, 1, 128, got.data(), x.data());
    char line[128];
    std::snprintf(line, sizeof line, "shuffles in a branch only warp 0 takes: sum %g (want %g)",
                  (double)got[0], (double)want);
    expect(got[0] == want, line);

    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) {
        std::vector<int> y(32);
        freopen("/dev/null", "w", stderr);
        LV_LAUNCH(divergent_kernel, 1, 32, y.data());
        _exit(0);                                   /* the layer let it through */
    }
    int status = 0;
    waitpid(child, &status, 0);
    expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
           "a barrier only 16 of 32 threads reach is reported (the child aborts)");

    std::printf("%s: %d failed\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
