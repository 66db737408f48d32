#define _GNU_SOURCE
#include "CShmemaphoreShims.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int shmemaphore_shim_sem_wait_monotonic(sem_t *sem, int64_t seconds, int64_t nanoseconds) {
    struct timespec deadline = {.tv_sec = (time_t)seconds, .tv_nsec = (long)nanoseconds};
    return sem_clockwait(sem, CLOCK_MONOTONIC, &deadline);
}

size_t shmemaphore_shim_sem_size(void) { return sizeof(sem_t); }

int shmemaphore_shim_sem_initial_bytes(void *bytes) {
    sem_t sem;
    /* sem_open writes a zeroed sem_t set up as sem_init(pshared=1, 0) does. */
    memset(&sem, 0, sizeof sem);
    if (sem_init(&sem, 1, 0) == -1)
        return -1;
    memcpy(bytes, &sem, sizeof sem);
    return 0;
}

int shmemaphore_shim_sem_value_of_bytes(const void *bytes, int *value) {
    sem_t sem; /* an aligned private copy: sem_getvalue only reads it */
    memcpy(&sem, bytes, sizeof sem);
    return sem_getvalue(&sem, value);
}

int shmemaphore_shim_make_temporary(char *path_template) {
    return mkostemp(path_template, O_CLOEXEC);
}

int shmemaphore_shim_open_nofollow(const char *path) {
    return open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

int shmemaphore_shim_open_for_reading(const char *path) {
    return open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

int shmemaphore_shim_ofd_lock(int fd, int64_t offset, int64_t length) {
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = (off_t)length};
    return fcntl(fd, F_OFD_SETLK, &lock);
}

int shmemaphore_shim_ofd_unlock(int fd, int64_t offset, int64_t length) {
    struct flock lock = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = (off_t)length};
    return fcntl(fd, F_OFD_SETLK, &lock);
}

int64_t shmemaphore_shim_ofd_lock_end(int fd, int64_t offset) {
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &lock) == -1)
        return -1;
    if (lock.l_type == F_UNLCK)
        return 0;
    return lock.l_len == 0 ? INT64_MAX : (int64_t)(lock.l_start + lock.l_len);
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
