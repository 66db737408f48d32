/*
 * Small C helpers for what Swift cannot reach through Glibc: functions that
 * need _GNU_SOURCE, variadic calls with a fixed shape, and errno access.
 * Every function here is a direct wrapper: no state, no policy.
 */
#ifndef CSHMEMAPHORE_SHIMS_H
#define CSHMEMAPHORE_SHIMS_H

#include <semaphore.h>
#include <stdint.h>
#include <sys/types.h>

/** sem_clockwait(sem, CLOCK_MONOTONIC, deadline): waits until the monotonic
 *  deadline (seconds + nanoseconds).  Returns 0 or -1 with errno set. */
int shmemaphore_shim_sem_wait_monotonic(sem_t *sem, int64_t seconds, int64_t nanoseconds);

/** sem_open with O_CREAT (and O_EXCL when `exclusive`), mode and value 0.
 *  Returns NULL (with errno) on failure instead of SEM_FAILED. */
sem_t *shmemaphore_shim_sem_create(const char *name, int exclusive, mode_t mode);

/** sem_open without O_CREAT.  Returns NULL (with errno) on failure. */
sem_t *shmemaphore_shim_sem_attach(const char *name);

/** Takes an open-file-description (OFD) write lock on the single byte at
 *  `offset` of `fd`, without waiting.  The kernel drops it when the last
 *  descriptor of that open file description closes, i.e. when the process
 *  dies.  Returns 0, or -1 with errno (EAGAIN/EACCES: someone holds it). */
int shmemaphore_shim_ofd_lock_byte(int fd, int64_t offset);

/** Whether some other open file description holds a lock on the byte at
 *  `offset` of `fd`: 1 yes, 0 no, -1 error (errno set). */
int shmemaphore_shim_ofd_byte_is_locked(int fd, int64_t offset);

/** Offset of the first hole of `fd` (lseek SEEK_HOLE; the file size when it
 *  has none), or -1 with errno. */
int64_t shmemaphore_shim_first_hole(int fd);

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

/** The calling thread's errno, and a way to set it. */
int shmemaphore_shim_errno(void);
void shmemaphore_shim_set_errno(int value);

#endif
