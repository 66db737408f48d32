/*
 * interrupt_peer.c - a client that serves successive servers and survives
 * Ctrl-C, for Tests/ShmemaphoreTests/InterruptTests.swift.  The Swift test
 * peer's "interruptible-client" role behaves the same (Sources/shmemaphore-testpeer).
 *
 *   interrupt_peer CHANNEL
 *
 * Waits for requests forever (SHMEMAPHORE_TIMEOUT_INFINITE) on one client
 * handle and answers each request R with the bytes "echo:R".  A request
 * "slow:N:R" is answered "echo:R" after N milliseconds; "quit" is answered,
 * then the program exits 0.  Lines on stdout (unbuffered):
 *   attached                      the client is open
 *   interrupted after U us        SIGINT ended a wait, U microseconds after
 *                                 the handler ran; the loop goes on
 *   peer-gone                     the server went; the loop serves the next one
 *   served R                      answered R
 * The SIGINT handler (sigaction without SA_RESTART) calls
 * shmemaphore_interrupt, as the header recommends.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmemaphore.h"

static shmemaphore_channel *volatile g_channel;
static volatile sig_atomic_t g_signal_seconds;
static volatile sig_atomic_t g_signal_nanoseconds;

static void on_sigint(int signo) {
    (void)signo;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* async-signal-safe */
    g_signal_seconds = (sig_atomic_t)now.tv_sec;
    g_signal_nanoseconds = (sig_atomic_t)now.tv_nsec;
    shmemaphore_interrupt(g_channel);
}

static int64_t microseconds_since_signal(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return ((int64_t)now.tv_sec - g_signal_seconds) * 1000000 + ((int64_t)now.tv_nsec - g_signal_nanoseconds) / 1000;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: interrupt_peer CHANNEL\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    /* A parent may have started us with SIGINT blocked (test runners do). */
    sigset_t unblocked;
    sigemptyset(&unblocked);
    sigaddset(&unblocked, SIGINT);
    sigprocmask(SIG_UNBLOCK, &unblocked, NULL);

    shmemaphore_options options;
    shmemaphore_options_init(&options, sizeof options);
    options.attach_timeout_ms = 60000;
    shmemaphore_channel *channel;
    int rc = shmemaphore_client_open(argv[1], &options, &channel);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "client_open: %s\n", shmemaphore_error_name(rc));
        return 1;
    }
    g_channel = channel;
    printf("attached\n");
    for (;;) {
        const uint8_t *request;
        uint64_t length;
        rc = shmemaphore_receive_request(channel, SHMEMAPHORE_TIMEOUT_INFINITE, &request, &length);
        if (rc == SHMEMAPHORE_E_INTERRUPTED) {
            printf("interrupted after %lld us\n", (long long)microseconds_since_signal());
            continue;
        }
        if (rc == SHMEMAPHORE_E_PEER_GONE) {
            printf("peer-gone\n");
            continue;
        }
        if (rc != SHMEMAPHORE_OK) {
            fprintf(stderr, "receive_request: %s\n", shmemaphore_error_name(rc));
            return 1;
        }
        char text[256];
        size_t n = length < sizeof text - 1 ? (size_t)length : sizeof text - 1;
        memcpy(text, request, n);
        text[n] = '\0';
        const char *answer = text;
        unsigned delay;
        int offset = 0;
        if (sscanf(text, "slow:%u:%n", &delay, &offset) == 1 && offset > 0) {
            struct timespec pause = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
            nanosleep(&pause, NULL);
            answer = text + offset;
        }
        char reply[300];
        int length_of_reply = snprintf(reply, sizeof reply, "echo:%s", answer);
        shmemaphore_metadata metadata = {(uint64_t)length_of_reply, 0, 0, 0};
        rc = shmemaphore_send_response(channel, &metadata, reply);
        if (rc != SHMEMAPHORE_OK) {
            fprintf(stderr, "send_response: %s\n", shmemaphore_error_name(rc));
            return 1;
        }
        printf("served %s\n", text);
        if (strcmp(text, "quit") == 0)
            break;
    }
    shmemaphore_close(channel);
    return 0;
}
