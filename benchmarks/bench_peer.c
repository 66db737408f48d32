/*
 * bench_peer.c - one side of a libshmemaphore benchmark, through the C API
 * (include/shmemaphore.h).  Built by CMake as <build>/bin/shmemaphore-bench-peer;
 * `shmemaphore-bench` starts two of them (lib-c, lib-c-zc, lib-c-blocking), or
 * one against its own Swift peer (lib-mixed).
 *
 * Usage
 *   shmemaphore-bench-peer --role requester|responder --workload W1|W2|W3
 *                          --channel NAME [--count N] [--warmup M] [--cpu K]
 *                          [--zero-copy] [--wait adaptive|blocking] [--untrusted-peer] [--impl LABEL]
 *                          [--count-syscalls]
 *
 *   requester  the server: opens the channel, sends warmup + count requests
 *              (W1: the 8-byte sequence number; W2/W3: a short name), times
 *              each round trip, checks every response in place (metadata
 *              and the checksum of every payload word), prints its result.
 *   responder  the client: attaches, answers warmup + count requests with
 *              the workload's payload for that sequence number, written
 *              into its own buffer and copied in with shmemaphore_send_response
 *              (copy path), or with --zero-copy written straight into
 *              shmemaphore_reserve's buffer and published with
 *              shmemaphore_commit.
 *
 * --wait blocking opens the channel with SHMEMAPHORE_FLAG_BLOCKING_WAIT (every
 * wait sleeps in the kernel at once); the default, adaptive, opens it with
 * the library's defaults.
 *
 * --untrusted-peer opens it with SHMEMAPHORE_FLAG_UNTRUSTED_PEER (every check
 * on every turn, payloads received into private memory: the safe view).
 *
 * --count-syscalls counts the loop's system calls with perf counters
 * (benchmarks/bench_syscount.c).
 *
 * Output: one BENCH result line (benchmarks/bench_common.h).  Exit status 0,
 * or 1 with a message on stderr (a failed call or a wrong payload).
 */
#define _GNU_SOURCE
#include "bench_common.h"

#include <shmemaphore.h>

#define BENCH_TIMEOUT_MS 60000

static void check(int status, const char *what, uint64_t seq) {
    if (status != SHMEMAPHORE_OK)
        bench_die("%s (exchange %llu): %s (%s)", what, (unsigned long long)seq, shmemaphore_error_name(status),
                  shmemaphore_strerror(status));
}

/* The options both roles open with: the defaults plus `flags`. */
static shmemaphore_options peer_options(uint32_t flags) {
    shmemaphore_options options;
    check(shmemaphore_options_init(&options, sizeof options), "shmemaphore_options_init", 0);
    options.flags = flags;
    return options;
}

static void run_requester(const bench_workload *workload, const char *channel_name, long count, long warmup,
                          int cpu, uint32_t flags, const char *impl) {
    shmemaphore_options options = peer_options(flags);
    shmemaphore_channel *channel = NULL;
    check(shmemaphore_server_open(channel_name, &options, &channel), "shmemaphore_server_open", 0);
    int64_t *latencies = bench_buffer((uint64_t)count * sizeof *latencies); /* every page touched */
    uint64_t request_seq = 0;
    const void *request = workload->request ? (const void *)workload->request : (const void *)&request_seq;
    uint64_t request_length = workload->request ? strlen(workload->request) : sizeof request_seq;
    bench_counters before, after;
    int64_t started = 0;
    long total = warmup + count;
    for (long i = 0; i < total; i++) {
        uint64_t seq = (uint64_t)i + 1;
        if (i == warmup) {
            bench_window_begin(&before);
            started = bench_now_ns();
        }
        request_seq = seq;
        int64_t t0 = bench_now_ns();
        shmemaphore_response response;
        check(shmemaphore_request(channel, request, request_length, BENCH_TIMEOUT_MS, &response),
              "shmemaphore_request", seq);
        const shmemaphore_metadata *m = &response.metadata;
        if (m->bytes != workload->bytes || m->width != workload->width || m->height != workload->height ||
            m->channels != workload->channels)
            bench_die("exchange %llu: response %llu bytes %llux%llux%llu, expected %llu bytes %llux%llux%llu",
                      (unsigned long long)seq, (unsigned long long)m->bytes, (unsigned long long)m->width,
                      (unsigned long long)m->height, (unsigned long long)m->channels,
                      (unsigned long long)workload->bytes, (unsigned long long)workload->width,
                      (unsigned long long)workload->height, (unsigned long long)workload->channels);
        uint64_t sum = bench_sum(response.data, m->bytes);
        if (sum != bench_expected_sum(workload->bytes, seq))
            bench_die("exchange %llu: payload checksum %016llx, expected %016llx", (unsigned long long)seq,
                      (unsigned long long)sum, (unsigned long long)bench_expected_sum(workload->bytes, seq));
        int64_t t1 = bench_now_ns();
        if (i >= warmup)
            latencies[i - warmup] = t1 - t0;
    }
    int64_t elapsed = bench_now_ns() - started;
    bench_window_end(&after);
    shmemaphore_close(channel);
    bench_report("requester", impl, workload, count, cpu, elapsed, latencies, &before, &after);
    free(latencies);
}

static void run_responder(const bench_workload *workload, const char *channel_name, long count, long warmup,
                          int cpu, int zero_copy, uint32_t flags, const char *impl) {
    shmemaphore_options options = peer_options(flags);
    options.attach_timeout_ms = 30000;
    shmemaphore_channel *channel = NULL;
    check(shmemaphore_client_open(channel_name, &options, &channel), "shmemaphore_client_open", 0);
    void *own = zero_copy ? NULL : bench_buffer(workload->bytes);
    const shmemaphore_metadata metadata = {
        .bytes = workload->bytes, .width = workload->width, .height = workload->height,
        .channels = workload->channels};
    size_t expected_length = workload->request ? strlen(workload->request) : sizeof(uint64_t);
    bench_counters before, after;
    int64_t started = 0;
    long total = warmup + count;
    for (long i = 0; i < total; i++) {
        uint64_t seq = (uint64_t)i + 1;
        if (i == warmup) {
            bench_window_begin(&before);
            started = bench_now_ns();
        }
        const uint8_t *request = NULL;
        uint64_t length = 0;
        check(shmemaphore_receive_request(channel, BENCH_TIMEOUT_MS, &request, &length),
              "shmemaphore_receive_request", seq);
        if (length != expected_length)
            bench_die("exchange %llu: request of %llu bytes, expected %zu", (unsigned long long)seq,
                      (unsigned long long)length, expected_length);
        if (!workload->request) {
            uint64_t sent;
            memcpy(&sent, request, sizeof sent);
            if (sent != seq)
                bench_die("exchange %llu: request carries sequence number %llu", (unsigned long long)seq,
                          (unsigned long long)sent);
        }
        if (zero_copy) {
            void *buffer = NULL;
            check(shmemaphore_reserve(channel, workload->bytes, &buffer), "shmemaphore_reserve", seq);
            bench_fill(buffer, workload->bytes, seq);
            check(shmemaphore_commit(channel, &metadata), "shmemaphore_commit", seq);
        } else {
            bench_fill(own, workload->bytes, seq);
            check(shmemaphore_send_response(channel, &metadata, own), "shmemaphore_send_response", seq);
        }
    }
    int64_t elapsed = bench_now_ns() - started;
    bench_window_end(&after);
    shmemaphore_close(channel);
    bench_report("responder", impl, workload, count, cpu, elapsed, NULL, &before, &after);
    free(own);
}

static void usage(void) {
    fprintf(stderr, "usage: shmemaphore-bench-peer --role requester|responder --workload W1|W2|W3 --channel NAME\n"
                    "                              [--count N] [--warmup M] [--cpu K] [--zero-copy]\n"
                    "                              [--wait adaptive|blocking] [--untrusted-peer] [--impl LABEL] [--count-syscalls]\n");
    exit(2);
}

int main(int argc, char **argv) {
    bench_program = "shmemaphore-bench-peer";
    const char *role = NULL, *workload_name = NULL, *channel = NULL, *impl = "lib-c";
    long count = 1000, warmup = 100;
    int cpu = -1, zero_copy = 0;
    uint32_t flags = 0; /* adaptive waiting: the library's default */
    for (int i = 1; i < argc; i++) {
        const char *option = argv[i];
        if (strcmp(option, "--zero-copy") == 0) {
            zero_copy = 1;
            continue;
        }
        if (strcmp(option, "--untrusted-peer") == 0) {
            flags |= SHMEMAPHORE_FLAG_UNTRUSTED_PEER;
            continue;
        }
        if (strcmp(option, "--count-syscalls") == 0) {
            bench_count_syscalls = 1;
            continue;
        }
        if (strcmp(option, "--help") == 0 || i + 1 >= argc)
            usage();
        const char *value = argv[++i];
        if (strcmp(option, "--role") == 0)
            role = value;
        else if (strcmp(option, "--workload") == 0)
            workload_name = value;
        else if (strcmp(option, "--channel") == 0)
            channel = value;
        else if (strcmp(option, "--impl") == 0)
            impl = value;
        else if (strcmp(option, "--count") == 0)
            count = bench_parse_long(value, option);
        else if (strcmp(option, "--warmup") == 0)
            warmup = bench_parse_long(value, option);
        else if (strcmp(option, "--cpu") == 0)
            cpu = (int)bench_parse_long(value, option);
        else if (strcmp(option, "--wait") == 0) {
            if (strcmp(value, "blocking") == 0)
                flags |= SHMEMAPHORE_FLAG_BLOCKING_WAIT;
            else if (strcmp(value, "adaptive") == 0)
                flags &= ~SHMEMAPHORE_FLAG_BLOCKING_WAIT;
            else
                bench_die("--wait: '%s' is not adaptive or blocking", value);
        }
        else
            usage();
    }
    if (!role || !workload_name || !channel || count < 1 || warmup < 0)
        usage();
    const bench_workload *workload = bench_find_workload(workload_name);
    if (!workload)
        bench_die("unknown workload %s", workload_name);
    bench_pin(cpu);
    bench_prepare();
    if (strcmp(role, "requester") == 0)
        run_requester(workload, channel, count, warmup, cpu, flags, impl);
    else if (strcmp(role, "responder") == 0)
        run_responder(workload, channel, count, warmup, cpu, zero_copy, flags, impl);
    else
        usage();
    return 0;
}
