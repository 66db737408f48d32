/* c_w1.c - the C<->C W1 round trip, measured as bench_w1.py measures Python:
 *   c_w1 same|split N    -> "MEDIAN us  (range MIN-MAX)"
 * The server (parent) and the client (forked child) are pinned to CPU 0 (same)
 * or CPUs 0 and 1 (split).  Build:
 *   cc -O2 -I../../../include c_w1.c -L<libdir> -l:libshmemaphore.so.1 -Wl,-rpath,<libdir> -o c_w1
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmemaphore.h>

#define BATCH 1000

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int split = argc > 1 && strcmp(argv[1], "split") == 0;
    long n = argc > 2 ? atol(argv[2]) : 20000;
    long batches = n / BATCH + 1;
    char name[64];
    snprintf(name, sizeof name, "pytest-cw1-%d", (int)getpid());
    pin(0);
    shmemaphore_channel *ch;
    if (shmemaphore_server_open(name, NULL, &ch) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        pin(split ? 1 : 0);
        shmemaphore_channel *c;
        if (shmemaphore_client_open(name, NULL, &c) != 0)
            _exit(1);
        uint8_t payload[64] = {0};
        shmemaphore_metadata m = {64, 0, 0, 0};
        for (long i = 0; i < batches * BATCH; i++) {
            const uint8_t *req;
            uint64_t len;
            if (shmemaphore_receive_request(c, 10000, &req, &len) != 0)
                _exit(1);
            if (shmemaphore_send_response(c, &m, payload) != 0)
                _exit(1);
        }
        shmemaphore_close(c);
        _exit(0);
    }
    double *means = calloc((size_t)batches, sizeof *means);
    shmemaphore_response r;
    for (long b = 0; b < batches; b++) {
        double t0 = now_us();
        for (int i = 0; i < BATCH; i++)
            if (shmemaphore_request(ch, "12345678", 8, 10000, &r) != 0)
                return 1;
        means[b] = (now_us() - t0) / BATCH;
    }
    shmemaphore_close(ch);
    waitpid(pid, NULL, 0);
    qsort(means + 1, (size_t)(batches - 1), sizeof *means, cmp);
    printf("%7.3f us  (range %.3f-%.3f)\n", means[1 + (batches - 1) / 2], means[1], means[batches - 1]);
    return 0;
}
