/*
 * Interrupt cells and the interruptible semaphore wait.
 *
 * Every open channel owns one cell in static memory.  shmemaphore_interrupt
 * finds a channel's cell from its handle with arithmetic and atomics only,
 * so it may be called from any thread and from a signal handler: no lock,
 * no allocation, errno preserved.
 *
 * A waiter sleeps on two futex words at once (futex_waitv, Linux 5.16): the
 * semaphore's value word, which sem_post wakes, and its cell's `wakes` word,
 * which an interrupt bumps and wakes.  The waiter reads `wakes` before it
 * looks at the pending bit, so an interrupt that comes after the look
 * changes `wakes` and the kernel refuses to let the waiter sleep: no
 * interrupt is lost.  Where futex_waitv is missing (older kernels,
 * valgrind 3.19), the wait sleeps on the value word alone and an interrupt
 * is seen when the caller's wait slice ends (ChannelLink.livenessInterval).
 */
#define _GNU_SOURCE
#include "CShmemaphoreShims.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CELL_INDEX_BITS SHMEMAPHORE_SHIM_INTERRUPT_INDEX_BITS
#define CELL_COUNT ((uint32_t)SHMEMAPHORE_SHIM_INTERRUPT_CELLS)

struct interrupt_cell {
    /* (id << 1) | pending; 0 while the cell is free. */
    _Atomic uint64_t state;
    /* Bumped by every interrupt: the second word a waiter sleeps on. */
    _Atomic uint32_t wakes;
};

static struct interrupt_cell cells[CELL_COUNT];
/* Ids are (sequence << CELL_INDEX_BITS) | index with a sequence that only
 * grows, so an id is never handed out twice in a process's life. */
static _Atomic uint64_t last_sequence;

static struct interrupt_cell *cell_of(uint64_t id) { return &cells[id & (CELL_COUNT - 1)]; }

uint64_t shmemaphore_shim_interrupt_claim(void) {
    for (uint32_t index = 0; index < CELL_COUNT; index++) {
        uint64_t free_state = 0;
        if (atomic_load_explicit(&cells[index].state, memory_order_relaxed) != 0)
            continue;
        uint64_t id = ((atomic_fetch_add(&last_sequence, 1) + 1) << CELL_INDEX_BITS) | index;
        if (atomic_compare_exchange_strong(&cells[index].state, &free_state, id << 1))
            return id;
    }
    return 0;
}

void shmemaphore_shim_interrupt_release(uint64_t id) {
    uint64_t owned = atomic_load(&cell_of(id)->state);
    /* Only the owner releases; an interrupt may set the pending bit meanwhile. */
    while ((owned >> 1) == id && !atomic_compare_exchange_weak(&cell_of(id)->state, &owned, 0)) {
    }
}

int shmemaphore_shim_interrupt_raise(uint64_t id) {
    if (id == 0)
        return -1;
    struct interrupt_cell *cell = cell_of(id);
    uint64_t state = atomic_load(&cell->state);
    do {
        if ((state >> 1) != id)
            return -1; /* not an open channel (any more) */
    } while (!atomic_compare_exchange_weak(&cell->state, &state, state | 1));
    int saved_errno = errno;
    atomic_fetch_add(&cell->wakes, 1);
    syscall(SYS_futex, &cell->wakes, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    errno = saved_errno;
    return 0;
}

int shmemaphore_shim_interrupt_take(uint64_t id) {
    return (int)(atomic_fetch_and(&cell_of(id)->state, ~(uint64_t)1) & 1);
}

int shmemaphore_shim_interrupt_pending(uint64_t id) {
    return (int)(atomic_load_explicit(&cell_of(id)->state, memory_order_relaxed) & 1);
}

/* glibc keeps a sem_t on 64-bit targets as one 64-bit word: the value in the
 * low 32 bits (the futex word sem_post wakes), the number of waiters in the
 * high 32 bits (sem_post makes the wake-up system call only when it is not
 * 0).  A waiter of our own counts itself in, as glibc's sem_wait does. */
#if defined(__GLIBC__) && __SIZEOF_POINTER__ == 8 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HAVE_GLIBC_SEM_LAYOUT 1
#define SEM_WAITER ((uint64_t)1 << 32)
#endif

static _Atomic int futex_waitv_missing;

int shmemaphore_shim_sem_wait_interruptible(sem_t *sem, uint64_t id, int64_t seconds, int64_t nanoseconds) {
    struct timespec deadline = {.tv_sec = (time_t)seconds, .tv_nsec = (long)nanoseconds};
#ifndef HAVE_GLIBC_SEM_LAYOUT
    if (id != 0 && shmemaphore_shim_interrupt_take(id)) {
        errno = EINTR;
        return -1;
    }
    return sem_clockwait(sem, CLOCK_MONOTONIC, &deadline);
#else
    struct interrupt_cell *cell = cell_of(id);
    _Atomic uint64_t *data = (_Atomic uint64_t *)(void *)sem;
    atomic_fetch_add(data, SEM_WAITER);
    int result;
    for (;;) {
        if (sem_trywait(sem) == 0) {
            result = 0;
            break;
        }
        if (errno != EAGAIN && errno != EINTR) {
            result = -1;
            break;
        }
        uint32_t wakes = atomic_load(&cell->wakes);
        if (id != 0 && shmemaphore_shim_interrupt_take(id)) {
            errno = EINTR;
            result = -1;
            break;
        }
        long slept;
        if (id != 0 && !atomic_load_explicit(&futex_waitv_missing, memory_order_relaxed)) {
            struct futex_waitv words[2] = {
                /* Shared: the poster is another process. */
                {.val = 0, .uaddr = (uintptr_t)data, .flags = FUTEX_32},
                {.val = wakes, .uaddr = (uintptr_t)&cell->wakes, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
            };
            slept = syscall(SYS_futex_waitv, words, 2, 0, &deadline, CLOCK_MONOTONIC);
            if (slept == -1 && errno == ENOSYS) {
                atomic_store(&futex_waitv_missing, 1);
                continue;
            }
        } else {
            slept = syscall(SYS_futex, data, FUTEX_WAIT_BITSET, 0, &deadline, NULL, FUTEX_BITSET_MATCH_ANY);
        }
        /* Woken, or a word changed before we slept: look again. */
        if (slept >= 0 || errno == EAGAIN)
            continue;
        result = -1; /* ETIMEDOUT, EINTR (a signal handler ran), EFAULT */
        break;
    }
    int saved_errno = errno;
    atomic_fetch_sub(data, SEM_WAITER);
    errno = saved_errno;
    return result;
#endif
}
