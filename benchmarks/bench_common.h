/*
 * bench_common.h - what the C benchmark programs share with each other and,
 * by convention, with the Swift side (benchmarks/swift/shmemaphore-bench/):
 * the workloads, the payload pattern and its checksum, the clock, CPU
 * pinning, the steady-state counters and the result line.  The constants
 * (workloads, BENCH_GOLDEN, the markers) are in bench_constants.h, which
 * the Swift side imports too; the code here has Swift twins in
 * BenchSupport.swift.
 *
 * Payload pattern (every implementation, both languages; the kernels are
 * benchmarks/bench_kernels.c):
 *   word[i] = seq * BENCH_GOLDEN + i      (64-bit words, wrapping)
 * so the content changes with every exchange (seq counts from 1).  The
 * receiver sums every word (wrapping) and compares the sum with
 *   n * (seq * BENCH_GOLDEN) + n * (n - 1) / 2      (n = bytes / 8)
 * which it computes from the sequence number alone: a stale, torn or
 * missing payload fails the check.
 *
 * Result line (one per process, on standard output, after the run):
 *   BENCH role=requester impl=raw workload=W1 pid=123 count=50000 ...
 * key=value pairs, parsed by `shmemaphore-bench`.
 *
 * Steady-state window: both processes take their counters (getrusage,
 * malloc counts) right before exchange number `warmup` and right after the
 * last one, and bracket the same window with two marker system calls,
 * access("/shmemaphore-bench-marker/begin") and ".../end", so that a trace
 * (strace -f) can count the system calls of the window alone.
 */
#ifndef SHMEMAPHORE_BENCH_COMMON_H
#define SHMEMAPHORE_BENCH_COMMON_H

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_constants.h"

/* ------------------------------------------------------------------------ */
/* Workloads                                                                */
/* ------------------------------------------------------------------------ */

/* bench_workload and bench_workloads[]: bench_constants.h. */
static inline const bench_workload *bench_find_workload(const char *name) {
    for (size_t i = 0; i < sizeof bench_workloads / sizeof bench_workloads[0]; i++)
        if (strcmp(bench_workloads[i].name, name) == 0)
            return &bench_workloads[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Payload: fill and checksum                                               */
/* ------------------------------------------------------------------------ */

/* benchmarks/bench_kernels.c, linked into every C program (and loaded by
 * the Swift peer): the same object code for every implementation. */
void shmemaphore_bench_fill(void *destination, uint64_t bytes, uint64_t seq);
uint64_t shmemaphore_bench_sum(const void *source, uint64_t bytes);
#define bench_fill shmemaphore_bench_fill
#define bench_sum shmemaphore_bench_sum

/* benchmarks/bench_syscount.c: perf counters of this process's own system calls. */
int shmemaphore_bench_syscount_open(void);
void shmemaphore_bench_syscount_enable(void);
void shmemaphore_bench_syscount_disable(void);
int shmemaphore_bench_syscount_read(uint64_t *total, uint64_t *futex);

/* Set by --count-syscalls: count the window's system calls with perf counters. */
static int bench_count_syscalls;

/* The sum a payload of `bytes` bytes for `seq` must have. */
static inline uint64_t bench_expected_sum(uint64_t bytes, uint64_t seq) {
    const uint64_t n = bytes / 8;
    return n * (seq * BENCH_GOLDEN) + n * (n - 1) / 2;
}

/* ------------------------------------------------------------------------ */
/* Clock, pinning, failure                                                  */
/* ------------------------------------------------------------------------ */

static inline int64_t bench_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static const char *bench_program = "bench";

/* Prints "<program>: <message>" on stderr and exits 1. */
static inline void bench_die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "%s: ", bench_program);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
    exit(1);
}

/* Pins the calling process to `cpu` (nothing for cpu < 0). */
static inline void bench_pin(int cpu) {
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        bench_die("sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
}

/* A page-aligned buffer of `bytes` bytes, every page touched. */
static inline void *bench_buffer(uint64_t bytes) {
    size_t size = (size_t)((bytes + 4095) / 4096 * 4096);
    if (size == 0)
        size = 4096;
    void *buffer = aligned_alloc(4096, size);
    if (!buffer)
        bench_die("cannot allocate %zu bytes", size);
    memset(buffer, 0, size);
    return buffer;
}

static inline long bench_parse_long(const char *text, const char *option) {
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || !end || *end || end == text)
        bench_die("%s: \"%s\" is not a number", option, text);
    return value;
}

/* ------------------------------------------------------------------------ */
/* Steady-state counters                                                    */
/* ------------------------------------------------------------------------ */

typedef struct bench_counters {
    struct rusage usage;
    long long allocations, frees; /* -1: no malloc counter preloaded */
    long long syscalls, futexes;  /* window totals (in the end sample); -1: not counted */
} bench_counters;

/* The counters of benchmarks/malloc_count.c when it is LD_PRELOADed. */
static inline const volatile uint64_t *bench_malloc_counters(void) {
    static int looked;
    static const volatile uint64_t *counters;
    if (!looked) {
        looked = 1;
        counters = dlsym(RTLD_DEFAULT, "shmemaphore_bench_malloc_counters");
    }
    return counters;
}

static inline void bench_take_counters(bench_counters *counters) {
    const volatile uint64_t *malloc_counters = bench_malloc_counters();
    counters->allocations = malloc_counters ? (long long)malloc_counters[0] : -1;
    counters->frees = malloc_counters ? (long long)malloc_counters[1] : -1;
    counters->syscalls = counters->futexes = -1;
    getrusage(RUSAGE_SELF, &counters->usage);
}

/* Called once before the warm-up: resolves (lazy binding) and touches
 * everything the window's edges call, so that the window does not count
 * their first-call costs. */
static inline void bench_prepare(void) {
    bench_counters scratch;
    bench_take_counters(&scratch);
    (void)access(BENCH_MARKER_PREPARE, F_OK);
}

/* Start of the steady-state window: counters, then the marker. */
static inline void bench_window_begin(bench_counters *counters) {
    /* Everything twice: the first round takes the faults of first writes
     * (copy-on-write pages after fork, a deeper stack page) so that the
     * sample does not count them. */
    bench_take_counters(counters);
    (void)access(BENCH_MARKER_PREPARE, F_OK);
    (void)bench_now_ns(); /* the vDSO's pages fault on first use after fork */
    if (bench_count_syscalls) {
        int status = shmemaphore_bench_syscount_open(); /* per process: after any fork */
        if (status != 0)
            bench_die("--count-syscalls: cannot open perf tracepoint counters: %s", strerror(-status));
    }
    bench_take_counters(counters);
    (void)access(BENCH_MARKER_BEGIN, F_OK);
    if (bench_count_syscalls)
        shmemaphore_bench_syscount_enable();
}

/* End of the window: the marker, then the counters. */
static inline void bench_window_end(bench_counters *counters) {
    if (bench_count_syscalls)
        shmemaphore_bench_syscount_disable();
    (void)access(BENCH_MARKER_END, F_OK);
    bench_take_counters(counters);
    uint64_t total, futexes;
    if (bench_count_syscalls && shmemaphore_bench_syscount_read(&total, &futexes) == 0) {
        counters->syscalls = (long long)total;
        counters->futexes = (long long)futexes;
    }
}

/* ------------------------------------------------------------------------ */
/* Result line                                                              */
/* ------------------------------------------------------------------------ */

static inline int bench_compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Prints this process's result line.  latencies (count entries, may be
 * NULL for a responder) are sorted in place; elapsed_ns is the whole
 * window. */
static inline void bench_report(const char *role, const char *impl, const bench_workload *workload, long count,
                         int cpu, int64_t elapsed_ns, int64_t *latencies, const bench_counters *before,
                         const bench_counters *after) {
    printf("BENCH role=%s impl=%s workload=%s pid=%ld cpu=%d count=%ld payload=%llu elapsed_ns=%lld", role, impl,
           workload->name, (long)getpid(), cpu, count, (unsigned long long)workload->bytes, (long long)elapsed_ns);
    if (latencies && count > 0) {
        qsort(latencies, (size_t)count, sizeof *latencies, bench_compare_i64);
        long p99 = (long)((count * 99 + 99) / 100) - 1; /* nearest rank */
        printf(" min_ns=%lld median_ns=%lld p99_ns=%lld max_ns=%lld", (long long)latencies[0],
               (long long)latencies[(count - 1) / 2], (long long)latencies[p99], (long long)latencies[count - 1]);
    }
    printf(" minflt=%ld majflt=%ld nvcsw=%ld nivcsw=%ld", after->usage.ru_minflt - before->usage.ru_minflt,
           after->usage.ru_majflt - before->usage.ru_majflt, after->usage.ru_nvcsw - before->usage.ru_nvcsw,
           after->usage.ru_nivcsw - before->usage.ru_nivcsw);
    if (before->allocations >= 0)
        printf(" allocs=%lld frees=%lld", after->allocations - before->allocations, after->frees - before->frees);
    if (after->syscalls >= 0)
        printf(" syscalls=%lld futex=%lld", after->syscalls, after->futexes);
    printf(" kernels=c\n");
    fflush(stdout);
}

#endif
