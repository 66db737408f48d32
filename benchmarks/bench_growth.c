/*
 * bench_growth.c - `shmemaphore-bench-growth`: what it costs when an exchange
 * has to grow the data segment (docs/PERFORMANCE.md, "Growth").
 *
 *   shmemaphore-bench-growth [BYTES [TRIALS]]     (default 33177600 = W3, 7)
 *
 * Each trial opens a fresh channel (DATA starts at one page) with a server
 * and a client in this one process, through the public header only, and
 * times:
 *   growth  the first exchange of BYTES: the client's send_response grows
 *           DATA (posix_fallocate reserves the pages), maps it and copies the
 *           payload in; the server maps it and reads every word;
 *   steady  the median of the next 10 exchanges of the same size, which
 *           reuse the grown segment and its mappings;
 *   copy    one memcpy of BYTES between two warm buffers.
 * It prints the medians over the trials and (growth - steady) / copy: the
 * issue's bound is that growing costs no more than one extra copy.  Minor
 * page faults of the growth exchange are counted with getrusage.
 */
#define _GNU_SOURCE
#include <shmemaphore.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long minor_faults(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

static void check(int code, const char *what) {
    if (code != SHMEMAPHORE_OK) {
        fprintf(stderr, "bench-growth: %s: %s (%s)\n", what, shmemaphore_strerror(code), shmemaphore_error_name(code));
        exit(1);
    }
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count) {
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return values[count / 2];
}

/* One exchange of `bytes` bytes from `payload`; returns its duration and
 * folds the received words into *sum so the read is not optimised away. */
static double exchange(shmemaphore_channel *server, shmemaphore_channel *client, const uint8_t *payload, uint64_t bytes,
                       uint64_t *sum) {
    const uint8_t *request = NULL;
    uint64_t length = 0;
    shmemaphore_metadata metadata = {bytes, 0, 0, 0};
    shmemaphore_response response;
    double start = seconds_now();
    check(shmemaphore_send_request(server, "x", 1), "send_request");
    check(shmemaphore_receive_request(client, 1000, &request, &length), "receive_request");
    check(shmemaphore_send_response(client, &metadata, payload), "send_response");
    check(shmemaphore_receive_response(server, 1000, &response), "receive_response");
    const uint64_t *words = (const uint64_t *)(const void *)response.data;
    uint64_t total = 0;
    for (uint64_t i = 0; i < bytes / 8; i++)
        total += words[i];
    double elapsed = seconds_now() - start;
    *sum += total;
    return elapsed;
}

int main(int argc, char **argv) {
    uint64_t bytes = argc > 1 ? strtoull(argv[1], NULL, 10) : 33177600u;
    int trials = argc > 2 ? atoi(argv[2]) : 7;
    if (bytes < 8 || bytes > (1ull << 34) || trials < 1 || trials > 1000) {
        fprintf(stderr, "usage: shmemaphore-bench-growth [BYTES (8..2^34) [TRIALS (1..1000)]]\n");
        return 2;
    }
    uint8_t *payload = malloc(bytes), *copy = malloc(bytes);
    if (!payload || !copy) {
        fprintf(stderr, "bench-growth: out of memory\n");
        return 1;
    }
    for (uint64_t i = 0; i < bytes; i++)
        payload[i] = (uint8_t)(i * 131u + 7u);
    memcpy(copy, payload, bytes); /* warm both buffers */

    double growth[1000], steady[1000], copies[1000];
    long growth_faults[1000];
    uint64_t sum = 0;
    for (int trial = 0; trial < trials; trial++) {
        char name[64];
        snprintf(name, sizeof name, "shmemaphore-bench-growth-%d-%d", (int)getpid(), trial);
        shmemaphore_channel *server = NULL, *client = NULL;
        check(shmemaphore_server_open(name, NULL, &server), "server_open");
        check(shmemaphore_client_open(name, NULL, &client), "client_open");
        long faults_before = minor_faults();
        growth[trial] = exchange(server, client, payload, bytes, &sum);
        growth_faults[trial] = minor_faults() - faults_before;
        double runs[10];
        for (int i = 0; i < 10; i++)
            runs[i] = exchange(server, client, payload, bytes, &sum);
        steady[trial] = median(runs, 10);
        shmemaphore_close(client);
        shmemaphore_close(server);
        double start = seconds_now();
        memcpy(copy, payload, bytes);
        copies[trial] = seconds_now() - start;
        sum += copy[bytes / 2];
    }
    double faults[1000];
    for (int i = 0; i < trials; i++)
        faults[i] = (double)growth_faults[i];
    double g = median(growth, trials), s = median(steady, trials), c = median(copies, trials);
    printf("bytes %llu, trials %d (medians)\n", (unsigned long long)bytes, trials);
    printf("growth exchange   %8.3f ms   (%.0f minor faults: both sides' first touch of each new page)\n", g * 1e3,
           median(faults, trials));
    printf("steady exchange   %8.3f ms\n", s * 1e3);
    printf("one memcpy        %8.3f ms\n", c * 1e3);
    printf("growth - steady   %8.3f ms = %.2f copies\n", (g - s) * 1e3, (g - s) / c);
    return sum == 42 ? 3 : 0; /* never 42 in practice; keeps the sums alive */
}
