/*
 * sigbus_chain.c - what libshmemaphore's SIGBUS handler does with faults
 * that are not its own (include/shmemaphore.h, "SIGBUS"), and with a
 * semaphore file truncated under an open channel.
 *
 *   sigbus_chain CHANNEL
 *
 * Each check runs the fault in a forked child, so that the expected death
 * does not end the program.  Prints one line per check and
 * "N passed, N failed"; exits 0 when all passed.
 */
#define _GNU_SOURCE
#include <shmemaphore.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

static void report(int ok, const char *what, const char *detail) {
    if (ok) {
        passed++;
        printf("ok - %s\n", what);
    } else {
        failed++;
        printf("not ok - %s: %s\n", what, detail);
    }
}

/* Maps a file of this process's own, shrinks it, and reads past the new end. */
static int touch_truncated_mapping(void) {
    char path[] = "/dev/shm/shmemaphore-sigbus-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 8192) != 0)
        return -1;
    unlink(path);
    volatile unsigned char *bytes = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (bytes == MAP_FAILED)
        return -1;
    bytes[0] = 1;
    if (ftruncate(fd, 0) != 0)
        return -1;
    return bytes[4096]; /* SIGBUS */
}

static void on_own_sigbus(int signal_number) {
    (void)signal_number;
    _exit(42);
}

/* Runs `body` in a child; returns its wait status. */
static int in_child(void (*body)(const char *), const char *channel) {
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        body(channel);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return status;
}

/* The library's handler is installed (a channel is open); the fault is not the library's. */
static void fault_with_library_handler(const char *channel) {
    shmemaphore_channel *server = NULL;
    char name[256];
    snprintf(name, sizeof name, "%s-a", channel);
    if (shmemaphore_server_open(name, NULL, &server) != SHMEMAPHORE_OK)
        _exit(3);
    int value = touch_truncated_mapping();
    shmemaphore_close(server);
    _exit(value == -1 ? 4 : 0);
}

/* The program's own handler came first; the library must pass the fault on to it. */
static void fault_with_program_handler_first(const char *channel) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_own_sigbus;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, NULL);
    shmemaphore_channel *server = NULL;
    char name[256];
    snprintf(name, sizeof name, "%s-b", channel);
    if (shmemaphore_server_open(name, NULL, &server) != SHMEMAPHORE_OK)
        _exit(3);
    int value = touch_truncated_mapping();
    shmemaphore_close(server);
    _exit(value == -1 ? 4 : 0);
}

/* A semaphore file truncated under an open channel: an error, not a crash. */
static void truncated_semaphore(const char *channel) {
    shmemaphore_channel *server = NULL;
    char name[256], path[300];
    snprintf(name, sizeof name, "%s-c", channel);
    if (shmemaphore_server_open(name, NULL, &server) != SHMEMAPHORE_OK)
        _exit(3);
    snprintf(path, sizeof path, "/dev/shm/sem.SEM_%s_REQ", name);
    int fd = open(path, O_RDWR);
    if (fd < 0 || ftruncate(fd, 0) != 0)
        _exit(4);
    close(fd);
    int rc = shmemaphore_send_request(server, "x", 1);
    shmemaphore_close(server);
    _exit(rc == SHMEMAPHORE_E_PROTOCOL ? 0 : 5);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: sigbus_chain CHANNEL\n");
        return 2;
    }
    char detail[128];
    int status = in_child(fault_with_library_handler, argv[1]);
    snprintf(detail, sizeof detail, "wait status 0x%x", status);
    /* The default action kills with SIGBUS; under a sanitizer, its own
     * handler (the one before ours) reports the fault and exits with its
     * error status.  Either way the access did not come back (exit 0). */
    report((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
               (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3 && WEXITSTATUS(status) != 4),
           "a fault outside the library is not hidden (SIGBUS's default action, or the handler before ours)", detail);

    status = in_child(fault_with_program_handler_first, argv[1]);
    snprintf(detail, sizeof detail, "wait status 0x%x", status);
    report(WIFEXITED(status) && WEXITSTATUS(status) == 42,
           "a fault outside the library reaches the program's earlier handler", detail);

    status = in_child(truncated_semaphore, argv[1]);
    snprintf(detail, sizeof detail, "wait status 0x%x", status);
    report(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "a semaphore file truncated under an open channel gives SHMEMAPHORE_E_PROTOCOL", detail);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
