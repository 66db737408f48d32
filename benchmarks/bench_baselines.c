/*
 * bench_baselines.c - the plain-POSIX baselines of `shmemaphore-bench`, with
 * no libshmemaphore.  Built by CMake as <build>/bin/shmemaphore-bench-baselines.
 *
 * Usage
 *   shmemaphore-bench-baselines --impl raw|raw-timed|raw-zc|uds|pipe|memcpy
 *                               --workload W1|W2|W3 [--count N] [--warmup M]
 *                               [--cpus REQUESTER,RESPONDER] [--count-syscalls]
 *
 * Every two-process baseline forks: the parent is the requester (it times
 * each round trip and checks every response word), the child the responder
 * (it writes the workload's payload for each sequence number).  --cpus pins
 * them (sched_setaffinity in each process; -1 leaves one unpinned).
 *
 *   raw     the shmemaphore protocol reduced to its floor: two named
 *           semaphores and the HEAD and DATA segments, created and mapped
 *           once (DATA at its final size), then only sem_post/sem_wait.  The
 *           requester writes HEAD word 0 and the request into DATA; the
 *           responder writes the payload into its own buffer and memcpy's
 *           it into DATA (the copy path), then the four response words.  The
 *           requester checksums DATA in place.  The names are unlinked as
 *           soon as both processes hold them, so nothing is ever left behind.
 *   raw-timed  raw, but every wait is bounded, as a wait that must notice a
 *           dead peer has to be: sem_clockwait(CLOCK_MONOTONIC) with a
 *           deadline 50 ms after the wait starts (one clock_gettime per
 *           wait), re-armed for another 50 ms on ETIMEDOUT, retried on EINTR.
 *   raw-zc  raw, but the responder writes the payload straight into DATA.
 *   uds     a SOCK_STREAM socketpair; requests are [u64 length][bytes],
 *           responses [4 x u64 words][payload]; the responder writes header
 *           and payload from one buffer, the requester reads them into one
 *           buffer (read loop) and checksums it.  Default socket buffers.
 *   pipe    the same framing over two pipes (default pipe size).
 *   memcpy  one process, no IPC: per transfer, memcpy of the payload from a
 *           source buffer into a destination buffer, then the checksum of the
 *           destination (the zero-copy target: "at least memcpy + checksum").
 *
 * Output: one BENCH line per process (benchmarks/bench_common.h); the
 * responder's line comes first.  Exit status 0, or 1 with a message.
 */
#define _GNU_SOURCE
#include "bench_common.h"

#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef struct options {
    const char *impl;
    const bench_workload *workload;
    long count, warmup;
    int requester_cpu, responder_cpu;
} options;

/* ------------------------------------------------------------------------ */
/* Shared pieces                                                            */
/* ------------------------------------------------------------------------ */

typedef struct requester_state {
    int64_t *latencies;
    bench_counters before, after;
    int64_t started, elapsed;
} requester_state;

static void requester_init(requester_state *state, long count) {
    state->latencies = bench_buffer((uint64_t)count * sizeof *state->latencies); /* every page touched */
}

static void check_payload(const bench_workload *workload, const uint64_t words[4], const void *payload,
                          uint64_t seq) {
    if (words[0] != workload->bytes || words[1] != workload->width || words[2] != workload->height ||
        words[3] != workload->channels)
        bench_die("exchange %llu: response header %llu %llu %llu %llu", (unsigned long long)seq,
                  (unsigned long long)words[0], (unsigned long long)words[1], (unsigned long long)words[2],
                  (unsigned long long)words[3]);
    uint64_t sum = bench_sum(payload, workload->bytes);
    if (sum != bench_expected_sum(workload->bytes, seq))
        bench_die("exchange %llu: payload checksum %016llx, expected %016llx", (unsigned long long)seq,
                  (unsigned long long)sum, (unsigned long long)bench_expected_sum(workload->bytes, seq));
}

static uint64_t request_length(const bench_workload *workload) {
    return workload->request ? strlen(workload->request) : sizeof(uint64_t);
}

/* Checks a request the responder received (W1 carries the sequence number). */
static void check_request(const bench_workload *workload, const void *request, uint64_t length, uint64_t seq) {
    if (length != request_length(workload))
        bench_die("exchange %llu: request of %llu bytes", (unsigned long long)seq, (unsigned long long)length);
    if (!workload->request) {
        uint64_t sent;
        memcpy(&sent, request, sizeof sent);
        if (sent != seq)
            bench_die("exchange %llu: request carries %llu", (unsigned long long)seq, (unsigned long long)sent);
    } else if (memcmp(request, workload->request, length) != 0) {
        bench_die("exchange %llu: unexpected request", (unsigned long long)seq);
    }
}

/* Forks the responder; returns its pid in the parent (the requester). */
static pid_t fork_responder(void (*responder)(const options *, void *), const options *opts, void *context) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        bench_program = "shmemaphore-bench-baselines (responder)";
        /* The responder must not outlive a requester that died. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(1);
        bench_pin(opts->responder_cpu);
        responder(opts, context);
        fflush(stdout);
        _exit(0);
    }
    bench_pin(opts->requester_cpu);
    return pid;
}

static void wait_responder(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bench_die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die("the responder failed (status %d)", status);
}

static void requester_report(const options *opts, requester_state *state) {
    bench_report("requester", opts->impl, opts->workload, opts->count, opts->requester_cpu, state->elapsed,
                 state->latencies, &state->before, &state->after);
    free(state->latencies);
}

/* ------------------------------------------------------------------------ */
/* raw: named semaphores + HEAD/DATA mapped once                            */
/* ------------------------------------------------------------------------ */

typedef struct raw_channel {
    sem_t *request, *response;
    volatile uint64_t *head; /* 4 words */
    uint8_t *data;
    int zero_copy;
    int timed; /* raw-timed: bounded waits (raw_timed_wait) */
} raw_channel;

static void raw_plain_wait(sem_t *semaphore) {
    while (sem_wait(semaphore) != 0)
        if (errno != EINTR)
            bench_die("sem_wait: %s", strerror(errno));
}

/* The slice of a bounded wait: where a real implementation would check
 * whether its peer is still alive before waiting another slice. */
#define RAW_TIMED_SLICE_NS 50000000L

static void raw_timed_wait(sem_t *semaphore) {
    struct timespec deadline;
    if (clock_gettime(CLOCK_MONOTONIC, &deadline) != 0)
        bench_die("clock_gettime: %s", strerror(errno));
    for (;;) {
        deadline.tv_nsec += RAW_TIMED_SLICE_NS; /* ETIMEDOUT: the next slice */
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        int result;
        do
            result = sem_clockwait(semaphore, CLOCK_MONOTONIC, &deadline);
        while (result != 0 && errno == EINTR);
        if (result == 0)
            return;
        if (errno != ETIMEDOUT)
            bench_die("sem_clockwait: %s", strerror(errno));
    }
}

static void raw_wait(const raw_channel *channel, sem_t *semaphore) {
    if (channel->timed)
        raw_timed_wait(semaphore);
    else
        raw_plain_wait(semaphore);
}

static void raw_post(sem_t *semaphore) {
    if (sem_post(semaphore) != 0)
        bench_die("sem_post: %s", strerror(errno));
}

static void *raw_segment(const char *name, size_t size) {
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0)
        bench_die("shm_open %s: %s", name, strerror(errno));
    /* Reserved at once, as libshmemaphore grows DATA (posix_fallocate). */
    int error = posix_fallocate(fd, 0, (off_t)size);
    if (error != 0)
        bench_die("posix_fallocate %s: %s", name, strerror(error));
    void *mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED)
        bench_die("mmap %s: %s", name, strerror(errno));
    close(fd);
    shm_unlink(name); /* both processes hold the mapping after fork */
    return mapping;
}

static sem_t *raw_semaphore(const char *name) {
    sem_t *semaphore = sem_open(name, O_CREAT | O_EXCL, 0600, 0u);
    if (semaphore == SEM_FAILED)
        bench_die("sem_open %s: %s", name, strerror(errno));
    sem_unlink(name);
    return semaphore;
}

static void raw_responder(const options *opts, void *context) {
    raw_channel *channel = context;
    const bench_workload *workload = opts->workload;
    void *own = channel->zero_copy ? NULL : bench_buffer(workload->bytes);
    bench_counters before, after;
    long total = opts->warmup + opts->count;
    int64_t started = 0;
    for (long i = 0; i < total; i++) {
        uint64_t seq = (uint64_t)i + 1;
        if (i == opts->warmup) {
            bench_window_begin(&before);
            started = bench_now_ns();
        }
        raw_wait(channel, channel->request);
        check_request(workload, channel->data, channel->head[0], seq);
        if (channel->zero_copy) {
            bench_fill(channel->data, workload->bytes, seq);
        } else {
            bench_fill(own, workload->bytes, seq);
            memcpy(channel->data, own, workload->bytes);
        }
        channel->head[0] = workload->bytes;
        channel->head[1] = workload->width;
        channel->head[2] = workload->height;
        channel->head[3] = workload->channels;
        raw_post(channel->response);
    }
    int64_t elapsed = bench_now_ns() - started;
    bench_window_end(&after);
    bench_report("responder", opts->impl, workload, opts->count, opts->responder_cpu, elapsed, NULL, &before,
                 &after);
    free(own);
}

static void run_raw(const options *opts, int zero_copy, int timed) {
    const bench_workload *workload = opts->workload;
    char names[4][64];
    long pid = (long)getpid();
    snprintf(names[0], sizeof names[0], "/SEM_shmemaphore-bench-raw-%ld_REQ", pid);
    snprintf(names[1], sizeof names[1], "/SEM_shmemaphore-bench-raw-%ld_RES", pid);
    snprintf(names[2], sizeof names[2], "/SEG_shmemaphore-bench-raw-%ld_HEAD", pid);
    snprintf(names[3], sizeof names[3], "/SEG_shmemaphore-bench-raw-%ld_DATA", pid);
    raw_channel channel = {.zero_copy = zero_copy, .timed = timed};
    channel.request = raw_semaphore(names[0]);
    channel.response = raw_semaphore(names[1]);
    channel.head = raw_segment(names[2], 32);
    size_t data_size = (size_t)((workload->bytes + 4095) / 4096 * 4096);
    channel.data = raw_segment(names[3], data_size);

    requester_state state;
    pid_t responder = fork_responder(raw_responder, opts, &channel);
    requester_init(&state, opts->count); /* after fork: no copy-on-write faults later */
    uint64_t length = request_length(workload);
    long total = opts->warmup + opts->count;
    for (long i = 0; i < total; i++) {
        uint64_t seq = (uint64_t)i + 1;
        if (i == opts->warmup) {
            bench_window_begin(&state.before);
            state.started = bench_now_ns();
        }
        int64_t t0 = bench_now_ns();
        if (workload->request)
            memcpy(channel.data, workload->request, length);
        else
            memcpy(channel.data, &seq, sizeof seq);
        channel.head[0] = length;
        raw_post(channel.request);
        raw_wait(&channel, channel.response);
        uint64_t words[4] = {channel.head[0], channel.head[1], channel.head[2], channel.head[3]};
        check_payload(workload, words, channel.data, seq);
        int64_t t1 = bench_now_ns();
        if (i >= opts->warmup)
            state.latencies[i - opts->warmup] = t1 - t0;
    }
    state.elapsed = bench_now_ns() - state.started;
    bench_window_end(&state.after);
    wait_responder(responder);
    requester_report(opts, &state);
}

/* ------------------------------------------------------------------------ */
/* uds and pipe: byte streams                                               */
/* ------------------------------------------------------------------------ */

typedef struct stream_pair {
    int requester_read, requester_write;   /* the requester's ends */
    int responder_read, responder_write;   /* the responder's ends */
} stream_pair;

static void write_all(int fd, const void *buffer, size_t size) {
    const uint8_t *bytes = buffer;
    while (size > 0) {
        ssize_t written = write(fd, bytes, size);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            bench_die("write: %s", strerror(errno));
        }
        bytes += written;
        size -= (size_t)written;
    }
}

static void read_all(int fd, void *buffer, size_t size) {
    uint8_t *bytes = buffer;
    while (size > 0) {
        ssize_t got = read(fd, bytes, size);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            bench_die("read: %s", strerror(errno));
        }
        if (got == 0)
            bench_die("read: unexpected end of stream");
        bytes += got;
        size -= (size_t)got;
    }
}

/* Closes one side's ends (a socket is both ends at once). */
static void close_ends(int read_end, int write_end) {
    close(read_end);
    if (write_end != read_end)
        close(write_end);
}

static void stream_responder(const options *opts, void *context) {
    stream_pair *pair = context;
    close_ends(pair->requester_read, pair->requester_write);
    const bench_workload *workload = opts->workload;
    /* [4 words][payload] in one buffer, so a small response is one write. */
    uint64_t *message = bench_buffer(32 + workload->bytes);
    uint8_t request[64 + 8];
    bench_counters before, after;
    long total = opts->warmup + opts->count;
    int64_t started = 0;
    for (long i = 0; i < total; i++) {
        uint64_t seq = (uint64_t)i + 1;
        if (i == opts->warmup) {
            bench_window_begin(&before);
            started = bench_now_ns();
        }
        /* Request: [u64 length][bytes], sent with one write, read with one or two. */
        uint64_t length = request_length(workload);
        read_all(pair->responder_read, request, 8 + length);
        uint64_t announced;
        memcpy(&announced, request, 8);
        check_request(workload, request + 8, announced, seq);
        message[0] = workload->bytes;
        message[1] = workload->width;
        message[2] = workload->height;
        message[3] = workload->channels;
        bench_fill(message + 4, workload->bytes, seq);
        write_all(pair->responder_write, message, 32 + workload->bytes);
    }
    int64_t elapsed = bench_now_ns() - started;
    bench_window_end(&after);
    bench_report("responder", opts->impl, workload, opts->count, opts->responder_cpu, elapsed, NULL, &before,
                 &after);
    free(message);
}

static void run_stream(const options *opts, stream_pair *pair) {
    const bench_workload *workload = opts->workload;
    requester_state state;
    pid_t responder = fork_responder(stream_responder, opts, pair);
    requester_init(&state, opts->count); /* after fork: no copy-on-write faults later */
    uint64_t *message = bench_buffer(32 + workload->bytes);
    close_ends(pair->responder_read, pair->responder_write);
    uint64_t length = request_length(workload);
    uint8_t request[64 + 8];
    memcpy(request, &length, 8);
    if (workload->request)
        memcpy(request + 8, workload->request, length);
    long total = opts->warmup + opts->count;
    for (long i = 0; i < total; i++) {
        uint64_t seq = (uint64_t)i + 1;
        if (i == opts->warmup) {
            bench_window_begin(&state.before);
            state.started = bench_now_ns();
        }
        int64_t t0 = bench_now_ns();
        if (!workload->request)
            memcpy(request + 8, &seq, sizeof seq);
        write_all(pair->requester_write, request, 8 + length);
        read_all(pair->requester_read, message, 32 + workload->bytes);
        check_payload(workload, message, message + 4, seq);
        int64_t t1 = bench_now_ns();
        if (i >= opts->warmup)
            state.latencies[i - opts->warmup] = t1 - t0;
    }
    state.elapsed = bench_now_ns() - state.started;
    bench_window_end(&state.after);
    wait_responder(responder);
    requester_report(opts, &state);
    free(message);
}

static void run_uds(const options *opts) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        bench_die("socketpair: %s", strerror(errno));
    stream_pair pair = {.requester_read = fds[0], .requester_write = fds[0],
                        .responder_read = fds[1], .responder_write = fds[1]};
    run_stream(opts, &pair);
}

static void run_pipe(const options *opts) {
    int to_responder[2], to_requester[2];
    if (pipe2(to_responder, O_CLOEXEC) != 0 || pipe2(to_requester, O_CLOEXEC) != 0)
        bench_die("pipe: %s", strerror(errno));
    stream_pair pair = {.requester_read = to_requester[0], .requester_write = to_responder[1],
                        .responder_read = to_responder[0], .responder_write = to_requester[1]};
    run_stream(opts, &pair);
}

/* ------------------------------------------------------------------------ */
/* memcpy: one process                                                      */
/* ------------------------------------------------------------------------ */

static void run_memcpy(const options *opts) {
    const bench_workload *workload = opts->workload;
    bench_pin(opts->requester_cpu);
    requester_state state;
    requester_init(&state, opts->count);
    uint8_t *source = bench_buffer(workload->bytes);
    uint8_t *destination = bench_buffer(workload->bytes);
    const uint64_t seq = 1;
    bench_fill(source, workload->bytes, seq);
    const uint64_t expected = bench_expected_sum(workload->bytes, seq);
    long total = opts->warmup + opts->count;
    for (long i = 0; i < total; i++) {
        if (i == opts->warmup) {
            bench_window_begin(&state.before);
            state.started = bench_now_ns();
        }
        int64_t t0 = bench_now_ns();
        memcpy(destination, source, workload->bytes);
        /* Keep the compiler from merging copies across iterations. */
        __asm__ volatile("" : : "r"(destination) : "memory");
        uint64_t sum = bench_sum(destination, workload->bytes);
        if (sum != expected)
            bench_die("transfer %ld: checksum %016llx, expected %016llx", i, (unsigned long long)sum,
                      (unsigned long long)expected);
        int64_t t1 = bench_now_ns();
        if (i >= opts->warmup)
            state.latencies[i - opts->warmup] = t1 - t0;
    }
    state.elapsed = bench_now_ns() - state.started;
    bench_window_end(&state.after);
    requester_report(opts, &state);
    free(source);
    free(destination);
}

/* ------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr, "usage: shmemaphore-bench-baselines --impl raw|raw-timed|raw-zc|uds|pipe|memcpy\n"
                    "                                   --workload W1|W2|W3 [--count N] [--warmup M]\n"
                    "                                   [--cpus REQUESTER,RESPONDER] [--count-syscalls]\n");
    exit(2);
}

int main(int argc, char **argv) {
    bench_program = "shmemaphore-bench-baselines";
    options opts = {.count = 1000, .warmup = 100, .requester_cpu = -1, .responder_cpu = -1};
    const char *workload_name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *option = argv[i];
        if (strcmp(option, "--count-syscalls") == 0) {
            bench_count_syscalls = 1;
            continue;
        }
        if (strcmp(option, "--help") == 0 || i + 1 >= argc)
            usage();
        const char *value = argv[++i];
        if (strcmp(option, "--impl") == 0)
            opts.impl = value;
        else if (strcmp(option, "--workload") == 0)
            workload_name = value;
        else if (strcmp(option, "--count") == 0)
            opts.count = bench_parse_long(value, option);
        else if (strcmp(option, "--warmup") == 0)
            opts.warmup = bench_parse_long(value, option);
        else if (strcmp(option, "--cpus") == 0) {
            char *comma = strchr(value, ',');
            if (!comma)
                usage();
            *comma = '\0';
            opts.requester_cpu = (int)bench_parse_long(value, option);
            opts.responder_cpu = (int)bench_parse_long(comma + 1, option);
        } else
            usage();
    }
    if (!opts.impl || !workload_name || opts.count < 1 || opts.warmup < 0)
        usage();
    opts.workload = bench_find_workload(workload_name);
    if (!opts.workload)
        bench_die("unknown workload %s", workload_name);
    /* A responder whose requester died must not block forever on a pipe. */
    signal(SIGPIPE, SIG_DFL);
    bench_prepare();
    if (strcmp(opts.impl, "raw") == 0)
        run_raw(&opts, 0, 0);
    else if (strcmp(opts.impl, "raw-timed") == 0)
        run_raw(&opts, 0, 1);
    else if (strcmp(opts.impl, "raw-zc") == 0)
        run_raw(&opts, 1, 0);
    else if (strcmp(opts.impl, "uds") == 0)
        run_uds(&opts);
    else if (strcmp(opts.impl, "pipe") == 0)
        run_pipe(&opts);
    else if (strcmp(opts.impl, "memcpy") == 0)
        run_memcpy(&opts);
    else
        usage();
    return 0;
}
