/*
 * malloc_count.c - an LD_PRELOAD interposer that counts heap allocations.
 *
 * Built by CMake as <build>/bin/shmemaphore-bench-malloc-count.so.
 * `shmemaphore-bench` preloads it into every benchmark process.  Each
 * process reads the counters (dlsym(RTLD_DEFAULT,
 * "shmemaphore_bench_malloc_counters")) right before and right after its
 * steady-state loop; the difference is the number of allocations in the
 * loop.  Without the interposer the symbol is absent and nothing is counted.
 *
 *   shmemaphore_bench_malloc_counters[0]  malloc, calloc, realloc,
 *                                         posix_memalign, aligned_alloc,
 *                                         memalign, valloc, pvalloc calls
 *   shmemaphore_bench_malloc_counters[1]  free calls (of non-NULL pointers)
 *
 * Every function forwards to glibc's own allocator through its __libc_*
 * entry points, so no dlsym bootstrap is needed and memory from either side
 * can be freed by the other.  The counters are relaxed atomics: exact, and a
 * few nanoseconds per call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

__attribute__((visibility("default"))) volatile uint64_t shmemaphore_bench_malloc_counters[2];

static inline void counted(int which) {
    __atomic_fetch_add(&shmemaphore_bench_malloc_counters[which], 1, __ATOMIC_RELAXED);
}

__attribute__((visibility("default"))) void *malloc(size_t size) {
    counted(0);
    return __libc_malloc(size);
}

__attribute__((visibility("default"))) void *calloc(size_t count, size_t size) {
    counted(0);
    return __libc_calloc(count, size);
}

__attribute__((visibility("default"))) void *realloc(void *pointer, size_t size) {
    counted(0);
    return __libc_realloc(pointer, size);
}

__attribute__((visibility("default"))) void free(void *pointer) {
    if (pointer)
        counted(1);
    __libc_free(pointer);
}

__attribute__((visibility("default"))) void *memalign(size_t alignment, size_t size) {
    counted(0);
    return __libc_memalign(alignment, size);
}

__attribute__((visibility("default"))) void *aligned_alloc(size_t alignment, size_t size) {
    counted(0);
    return __libc_memalign(alignment, size);
}

__attribute__((visibility("default"))) int posix_memalign(void **out, size_t alignment, size_t size) {
    counted(0);
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer && size != 0)
        return ENOMEM;
    *out = pointer;
    return 0;
}

__attribute__((visibility("default"))) void *valloc(size_t size) {
    counted(0);
    return __libc_valloc(size);
}

__attribute__((visibility("default"))) void *pvalloc(size_t size) {
    counted(0);
    return __libc_pvalloc(size);
}
