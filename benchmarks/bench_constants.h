/*
 * bench_constants.h - the constants every benchmark implementation shares,
 * in both languages: the C programs include it (through bench_common.h;
 * bench_kernels.c directly), and the Swift benchmark reads it as the Clang
 * module CBenchConstants (benchmarks/swift/CBenchConstants/module.modulemap),
 * so that the workloads, the payload pattern's constant and the strace
 * markers have this one definition.
 *
 * Only <stddef.h>, <stdint.h> and plain data here: Swift imports the macros and the
 * table, and nothing that needs _GNU_SOURCE or a C library function.
 */
#ifndef SHMEMAPHORE_BENCH_CONSTANTS_H
#define SHMEMAPHORE_BENCH_CONSTANTS_H

#include <stddef.h> /* NULL */
#include <stdint.h>

/* Payload pattern: word[i] = seq * BENCH_GOLDEN + i (64-bit words, wrapping). */
#define BENCH_GOLDEN 0x9E3779B97F4A7C15ULL /* a plain literal: Swift imports no UINT64_C() */

/* The marker system calls access(MARKER, F_OK) that bracket a process's
 * steady-state window, for strace (bench_common.h). */
#define BENCH_MARKER_BEGIN "/shmemaphore-bench-marker/begin"
#define BENCH_MARKER_END "/shmemaphore-bench-marker/end"
#define BENCH_MARKER_PREPARE "/shmemaphore-bench-marker/prepare"

/* The workloads (docs/PERFORMANCE.md). */
typedef struct bench_workload {
    const char *name;     /* "W1", "W2", "W3" */
    uint64_t width, height, channels; /* 0,0,0: an opaque-bytes response */
    uint64_t bytes;       /* payload bytes of every response */
    const char *request;  /* the request (a short name); NULL: the 8-byte sequence number */
} bench_workload;

static const bench_workload bench_workloads[] = {
    {"W1", 0, 0, 0, 64, NULL},
    {"W2", 1920, 1080, 3, UINT64_C(1920) * 1080 * 3, "frame"},
    {"W3", 3840, 2160, 4, UINT64_C(3840) * 2160 * 4, "frame4k"},
};

#endif
