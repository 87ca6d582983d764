/* The host execution layer's scheduler (see host_exec.h): the threads of a block are fibers on
 * the calling OS thread, resumed in turn by a round-robin loop; a fiber gives the loop back when
 * it waits at a barrier and when it finishes. Built only for the host (g++), never by nvcc.
 * On x86-64 a fiber switch is six register pushes and a stack swap (ucontext's switch makes a
 * system call each time, 20x slower, and the kernels switch at every barrier); elsewhere it is
 * ucontext. */
#include "host_exec.h"

#include <cstdio>
#include <cstdlib>
#include <ucontext.h>

lv_uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

enum { MAX_THREADS = 1024, WARP = 32, STACK_BYTES = 128 * 1024 };

static struct {
    void *sp;                             /* x86-64: the saved stack pointer */
    ucontext_t ctx;                       /* elsewhere */
    char *stack;
    int done;
} fibers[MAX_THREADS];

#if defined(__x86_64__)
static void *scheduler_sp;
#else
static ucontext_t scheduler;
#endif
static unsigned current, n_threads;
static void (*task_body)(void *);
static void *task_ctx;
static unsigned long progress;            /* arrivals and completions: a round without any is a
                                           * deadlock */

#if defined(__x86_64__)
/* lv_ctx_switch(save, load): pushes the callee-saved registers, stores the stack pointer in
 * *save, loads `load` and pops the registers saved there (System V ABI: rbx, rbp, r12-r15). */
extern "C" void lv_ctx_switch(void **save, void *load);
asm(".text\n"
    ".globl lv_ctx_switch\n"
    ".type lv_ctx_switch, @function\n"
    "lv_ctx_switch:\n"
    "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n    pushq %r13\n    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n    popq %r14\n    popq %r13\n    popq %r12\n    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size lv_ctx_switch, .-lv_ctx_switch\n");
#endif

static struct {
    unsigned arrived, generation;
} block_barrier, warp_barrier[MAX_THREADS / WARP];

static float mailbox[MAX_THREADS];

static void to_scheduler(void)
{
#if defined(__x86_64__)
    lv_ctx_switch(&fibers[current].sp, scheduler_sp);
#else
    swapcontext(&fibers[current].ctx, &scheduler);
#endif
}

static void to_fiber(unsigned t)
{
#if defined(__x86_64__)
    lv_ctx_switch(&scheduler_sp, fibers[t].sp);
#else
    swapcontext(&scheduler, &fibers[t].ctx);
#endif
}

static void fiber_main(void)
{
    task_body(task_ctx);
    fibers[current].done = 1;
    progress++;
    to_scheduler();                       /* never resumed again */
    std::abort();
}

/* a fresh fiber for thread t: its first switch starts fiber_main on its own stack */
static void fiber_start(unsigned t)
{
    if (!fibers[t].stack && !(fibers[t].stack = (char *)std::malloc(STACK_BYTES))) {
        std::fprintf(stderr, "cuda host layer: out of memory for a thread's stack\n");
        std::abort();
    }
    fibers[t].done = 0;
#if defined(__x86_64__)
    /* from the 16-aligned top: a never-used return slot, fiber_main as the address the switch
     * returns to, six zeroed registers; fiber_main starts with rsp = 8 mod 16, as after a call */
    uintptr_t top = ((uintptr_t)(fibers[t].stack + STACK_BYTES)) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;
    *--sp = (void *)fiber_main;
    for (int r = 0; r < 6; r++)
        *--sp = nullptr;
    fibers[t].sp = sp;
#else
    getcontext(&fibers[t].ctx);
    fibers[t].ctx.uc_stack.ss_sp = fibers[t].stack;
    fibers[t].ctx.uc_stack.ss_size = STACK_BYTES;
    fibers[t].ctx.uc_link = &scheduler;
    makecontext(&fibers[t].ctx, fiber_main, 0);
#endif
}

/* arrive at barrier b of `count` threads, and wait until the last one has */
static void barrier_wait(unsigned *arrived, unsigned *generation, unsigned count)
{
    const unsigned gen = *generation;
    progress++;
    if (++*arrived == count) {
        *arrived = 0;
        ++*generation;
        return;
    }
    while (*generation == gen)
        to_scheduler();
}

void __syncthreads(void)
{
    barrier_wait(&block_barrier.arrived, &block_barrier.generation, n_threads);
}

float lv_warp_exchange(float v, unsigned src_lane)
{
    const unsigned warp = threadIdx.x / WARP, first = warp * WARP;
    const unsigned lanes = n_threads - first < (unsigned)WARP ? n_threads - first : (unsigned)WARP;
    mailbox[threadIdx.x] = v;
    barrier_wait(&warp_barrier[warp].arrived, &warp_barrier[warp].generation, lanes);
    const float got = mailbox[first + src_lane % lanes];
    barrier_wait(&warp_barrier[warp].arrived, &warp_barrier[warp].generation, lanes);
    return got;
}

static void run_block(void)
{
    for (unsigned t = 0; t < n_threads; t++)
        fiber_start(t);
    block_barrier = { 0, 0 };
    for (auto &w : warp_barrier)
        w = { 0, 0 };
    for (unsigned left = n_threads; left > 0;) {
        const unsigned long before = progress;
        for (unsigned t = 0; t < n_threads; t++) {
            if (fibers[t].done)
                continue;
            current = t;
            threadIdx = lv_uint3{ t, 0, 0 };
            to_fiber(t);
            left -= fibers[t].done;
        }
        if (left > 0 && progress == before) {
            std::fprintf(stderr, "cuda host layer: block (%u, %u, %u): %u of %u threads wait at "
                         "a barrier the others never reach (undefined on a GPU)\n", blockIdx.x,
                         blockIdx.y, blockIdx.z, left, n_threads);
            std::abort();
        }
    }
}

void lv_host_run_grid(dim3 grid, dim3 block, void (*body)(void *), void *ctx)
{
    const unsigned threads = block.x * block.y * block.z;
    if (threads == 0 || threads > MAX_THREADS || block.y * block.z != 1) {
        std::fprintf(stderr, "cuda host layer: blocks of %u x %u x %u threads are not supported "
                     "(1D blocks of 1..%d threads)\n", block.x, block.y, block.z,
                     (int)MAX_THREADS);
        std::abort();
    }
    blockDim = block;
    gridDim = grid;
    n_threads = threads;
    task_body = body;
    task_ctx = ctx;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = lv_uint3{ x, y, z };
                run_block();
            }
}
