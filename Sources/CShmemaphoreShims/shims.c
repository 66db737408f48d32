#define _GNU_SOURCE
#include "CShmemaphoreShims.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int shmemaphore_shim_sem_wait_monotonic(sem_t *sem, int64_t seconds, int64_t nanoseconds) {
    struct timespec deadline = {.tv_sec = (time_t)seconds, .tv_nsec = (long)nanoseconds};
    return sem_clockwait(sem, CLOCK_MONOTONIC, &deadline);
}

sem_t *shmemaphore_shim_sem_create(const char *name, int exclusive, mode_t mode) {
    sem_t *sem = sem_open(name, O_CREAT | (exclusive ? O_EXCL : 0), mode, 0u);
    return sem == SEM_FAILED ? NULL : sem;
}

sem_t *shmemaphore_shim_sem_attach(const char *name) {
    sem_t *sem = sem_open(name, 0);
    return sem == SEM_FAILED ? NULL : sem;
}

int shmemaphore_shim_ofd_lock_byte(int fd, int64_t offset) {
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &lock);
}

int shmemaphore_shim_ofd_byte_is_locked(int fd, int64_t offset) {
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &lock) == -1)
        return -1;
    return lock.l_type != F_UNLCK;
}

int64_t shmemaphore_shim_first_hole(int fd) {
    return (int64_t)lseek(fd, 0, SEEK_HOLE);
}

const char *shmemaphore_shim_errno_description(int error_number) {
    const char *text = strerrordesc_np(error_number);
    return text ? text : "Unknown system error";
}

const char *shmemaphore_shim_errno_name(int error_number) {
    return strerrorname_np(error_number);
}

int shmemaphore_shim_errno(void) { return errno; }
void shmemaphore_shim_set_errno(int value) { errno = value; }
