/*
 * bench_syscount.c - counts a process's own system calls with two perf
 * tracepoint counters (raw_syscalls:sys_enter and syscalls:sys_enter_futex),
 * switched on and off around the steady-state loop.
 *
 * Unlike strace this does not slow the process down (no ptrace stops), so
 * the futex calls it counts are those of a normal run: a sem_post that finds
 * a waiter, a sem_wait that blocks.  `shmemaphore-bench --syscalls` runs one
 * extra run per row with it (the counters cost a little per system call, so
 * the timed runs go without), and one under strace for the calls by type.
 *
 * Linked into the C benchmark programs and into shmemaphore-bench-support.so,
 * which the Swift peer loads.  Needs tracefs (/sys/kernel/tracing or
 * /sys/kernel/debug/tracing) and permission for tracepoint counters (root,
 * or kernel.perf_event_paranoid <= -1); when either is missing,
 * shmemaphore_bench_syscount_open fails and nothing is counted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int leader = -1, futex_counter = -1;

static long tracepoint_id(const char *event) {
    static const char *roots[] = {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s/id", roots[i], event);
        FILE *file = fopen(path, "r");
        if (!file)
            continue;
        long id = -1;
        if (fscanf(file, "%ld", &id) != 1)
            id = -1;
        fclose(file);
        if (id >= 0)
            return id;
    }
    return -1;
}

static int open_counter(long id, int group) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof attr;
    attr.config = (uint64_t)id;
    attr.disabled = group < 0; /* the leader starts disabled, members follow it */
    return (int)syscall(SYS_perf_event_open, &attr, 0 /* this process */, -1 /* any CPU */, group, PERF_FLAG_FD_CLOEXEC);
}

/* Opens both counters, disabled.  Returns 0, or -errno (nothing counted). */
__attribute__((visibility("default"))) int shmemaphore_bench_syscount_open(void) {
    if (leader >= 0)
        return 0;
    long all = tracepoint_id("raw_syscalls/sys_enter"), futex = tracepoint_id("syscalls/sys_enter_futex");
    if (all < 0 || futex < 0)
        return -ENOENT;
    leader = open_counter(all, -1);
    if (leader < 0)
        return -errno;
    futex_counter = open_counter(futex, leader);
    if (futex_counter < 0) {
        int error = errno;
        close(leader);
        leader = -1;
        return -error;
    }
    return 0;
}

/* Starts counting (the enabling call itself is not counted). */
__attribute__((visibility("default"))) void shmemaphore_bench_syscount_enable(void) {
    if (leader >= 0) {
        ioctl(leader, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
        ioctl(leader, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
    }
}

/* Stops counting.  The disabling ioctl is counted once in the total;
 * shmemaphore_bench_syscount_read takes it off. */
__attribute__((visibility("default"))) void shmemaphore_bench_syscount_disable(void) {
    if (leader >= 0)
        ioctl(leader, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
}

/* System calls (all, and futex) between enable and disable.  Returns 0, or
 * -1 when the counters are not open. */
__attribute__((visibility("default"))) int shmemaphore_bench_syscount_read(uint64_t *total, uint64_t *futex) {
    if (leader < 0)
        return -1;
    uint64_t all = 0, futexes = 0;
    if (read(leader, &all, sizeof all) != (ssize_t)sizeof all || read(futex_counter, &futexes, sizeof futexes) != (ssize_t)sizeof futexes)
        return -1;
    *total = all > 0 ? all - 1 : 0; /* the disabling ioctl */
    *futex = futexes;
    return 0;
}
