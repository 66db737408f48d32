/*
 * Small C helpers for what Swift cannot reach through Glibc: functions that
 * need _GNU_SOURCE, variadic calls with a fixed shape, and errno access.
 * Every function here is a direct wrapper: no state, no policy.
 */
#ifndef CSHMEMAPHORE_SHIMS_H
#define CSHMEMAPHORE_SHIMS_H

#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** sem_clockwait(sem, CLOCK_MONOTONIC, deadline): waits until the monotonic
 *  deadline (seconds + nanoseconds).  Returns 0 or -1 with errno set. */
int shmemaphore_shim_sem_wait_monotonic(sem_t *sem, int64_t seconds, int64_t nanoseconds);

/* Interrupt cells (interrupt.c): one per open channel, found from the
 * channel's id without a lock, so that an interrupt may come from any thread
 * or a signal handler. */

/** How many channels a process may have open at once: one cell each.  An
 *  id is (sequence << SHMEMAPHORE_SHIM_INTERRUPT_INDEX_BITS) | cell index. */
enum { SHMEMAPHORE_SHIM_INTERRUPT_INDEX_BITS = 12, SHMEMAPHORE_SHIM_INTERRUPT_CELLS = 1 << 12 };

/** Claims a free cell for a new channel.  Returns the channel's id (never
 *  0, never handed out twice in a process), or 0 when every cell is taken. */
uint64_t shmemaphore_shim_interrupt_claim(void);

/** Frees the cell of `id`; later interrupts of `id` find no channel. */
void shmemaphore_shim_interrupt_release(uint64_t id);

/** Marks an interrupt pending for `id` and wakes its waiter, if one sleeps.
 *  Async-signal-safe, thread-safe, keeps errno.  0, or -1 when `id` is not
 *  an open channel. */
int shmemaphore_shim_interrupt_raise(uint64_t id);

/** 1 (and clears it) if an interrupt is pending for `id`, else 0. */
int shmemaphore_shim_interrupt_take(uint64_t id);

/** 1 if an interrupt is pending for `id`, else 0; clears nothing. */
int shmemaphore_shim_interrupt_pending(uint64_t id);

/** Takes a count of `sem`, sleeping until the monotonic deadline (seconds +
 *  nanoseconds) if there is none, and ends early when an interrupt for `id`
 *  is pending or comes (taking it) or a signal handler runs in this thread.
 *  Returns 0, or -1 with errno: ETIMEDOUT, EINTR (interrupt or signal),
 *  or another error of the wait.  `id` 0: no interrupt cell. */
int shmemaphore_shim_sem_wait_interruptible(sem_t *sem, uint64_t id, int64_t seconds, int64_t nanoseconds);

/** sizeof(sem_t): the least size of a semaphore's file. */
size_t shmemaphore_shim_sem_size(void);

/** Writes the sizeof(sem_t) bytes of a new process-shared semaphore with
 *  value 0, exactly as sem_open writes them into its file.  0 or -1. */
int shmemaphore_shim_sem_initial_bytes(void *bytes);

/** The count of the semaphore whose sizeof(sem_t) bytes were read (pread)
 *  into `bytes`, through sem_getvalue on a private copy.  0 or -1. */
int shmemaphore_shim_sem_value_of_bytes(const void *bytes, int *value);

/** mkostemp(path_template, O_CLOEXEC): a new file, mode 0600. */
int shmemaphore_shim_make_temporary(char *path_template);

/** open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK): never follows a
 *  symlink, never blocks on a FIFO.  A descriptor, or -1 with errno. */
int shmemaphore_shim_open_nofollow(const char *path);

/** As shmemaphore_shim_open_nofollow, read-only (inspection). */
int shmemaphore_shim_open_for_reading(const char *path);

/* The fault guard (fault_guard.c): SIGBUS from shared memory that another
 * process shrank becomes a mark the library checks, not a crash. */

/** Registers [start, start + length) as a mapping of shared memory and
 *  installs the SIGBUS handler (once per process).  Returns a slot, or -1
 *  with errno (ENOMEM: too many regions). */
int shmemaphore_shim_fault_region_register(void *start, size_t length);

/** Forgets a slot; call before munmap. */
void shmemaphore_shim_fault_region_unregister(int slot);

/** The registered regions (fault_guard.c).  Fields are accessed atomically,
 *  through the functions here; declared so that the two below inline. */
struct shmemaphore_fault_region {
    uintptr_t start; /* 0: slot free */
    size_t length;
    int guarded;
    int faulted;
};
#define SHMEMAPHORE_FAULT_REGION_SLOTS 4096
extern struct shmemaphore_fault_region shmemaphore_fault_regions[SHMEMAPHORE_FAULT_REGION_SLOTS];

/** Marks whether the library itself is now accessing the region (1) or not
 *  (0).  Only faults in a guarded region are repaired.  The fault arrives on
 *  the thread that makes the access, so program order is all the handler
 *  needs: a compiler fence, no CPU fence.  Inline: two of these and one
 *  `faulted` per access are the guard's whole cost. */
static inline void shmemaphore_shim_fault_region_guard(int slot, int guarded)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&shmemaphore_fault_regions[slot].guarded, guarded, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/** 1 once a fault in the region was repaired (the region then holds private
 *  zero pages from the fault on), else 0. */
static inline int shmemaphore_shim_fault_region_faulted(int slot)
{
    return __atomic_load_n(&shmemaphore_fault_regions[slot].faulted, __ATOMIC_ACQUIRE);
}


/** Takes an open-file-description (OFD) write lock on the `length` bytes at
 *  `offset` of `fd`, without waiting.  The kernel drops it when the last
 *  descriptor of that open file description closes, i.e. when the process
 *  dies.  Returns 0, or -1 with errno (EAGAIN/EACCES: someone holds it). */
int shmemaphore_shim_ofd_lock(int fd, int64_t offset, int64_t length);

/** Drops this open file description's OFD locks on the `length` bytes at
 *  `offset` (0 = to the end).  0 or -1 with errno. */
int shmemaphore_shim_ofd_unlock(int fd, int64_t offset, int64_t length);

/** Whether another open file description holds a lock on the byte at
 *  `offset` of `fd`: 0 no; else the offset just past that lock (a lock over
 *  several bytes, which the kernel keeps as one, shows its whole extent;
 *  INT64_MAX for a lock to the end of the file); -1 error (errno set). */
int64_t shmemaphore_shim_ofd_lock_end(int fd, int64_t offset);

/** Static description of an errno value (strerrordesc_np); never NULL. */
const char *shmemaphore_shim_errno_description(int error_number);

/** Static symbolic name of an errno value ("ENOENT"); NULL if unknown. */
const char *shmemaphore_shim_errno_name(int error_number);

/** A hint to the CPU that this thread is spinning (x86 PAUSE, Arm YIELD):
 *  it saves power and lets the other hyperthread run. */
static inline void shmemaphore_shim_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/** A 64-bit word of shared memory stored with release order: every write
 *  before it is visible to a peer that loads the word with acquire order
 *  (the exchange numbers, docs/PROTOCOL.md 9c). */
static inline void shmemaphore_shim_store_release(void *word, uint64_t value)
{
    __atomic_store_n((uint64_t *)word, value, __ATOMIC_RELEASE);
}

/** A 64-bit word of shared memory loaded with acquire order. */
static inline uint64_t shmemaphore_shim_load_acquire(const void *word)
{
    return __atomic_load_n((const uint64_t *)word, __ATOMIC_ACQUIRE);
}

/** The calling thread's errno, and a way to set it. */
int shmemaphore_shim_errno(void);
void shmemaphore_shim_set_errno(int value);

#endif
