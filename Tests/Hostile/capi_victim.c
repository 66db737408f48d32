/*
 * capi_victim.c - the victim of the hostile-peer suite (Tests/Hostile/run.sh):
 * a server or client that uses libshmemaphore through its C API
 * (include/shmemaphore.h) only, checks every payload byte it receives, and
 * ends with one machine-readable summary line on stdout:
 *
 *   summary role=ROLE ok=N wrong=N errors=NAME:COUNT,...|none [more=...]
 *
 * "wrong" counts answers reported as OK (or as the peer's error) that are not
 * the answer to the request sent; errors are the library's status codes by
 * name (shmemaphore_error_name).  The payload convention is hostile.c's:
 *   pattern(N, i) = (N * 31 + i) & 0xff
 *   "k<N>"        -> image W x H x 3 (W = 1 + (N*7) % 29, H = 1 + (N*3) % 17)
 *   "k<N>:<LEN>"  -> LEN raw bytes (";..." after it is padding)
 *   "m", "b"      -> images 512x512x3 (seed 7), 2048x2048x3 (seed 11)
 *
 * Usage
 *   capi_victim server CHANNEL [--count N (default 10)] [--mode bytes|image] [--request-size S]
 *                      [--response-len LEN] [--timeout-ms T] [--untrusted] [--stale reset|fail]
 *                      [--hold-at K --hold-file F] [--ready-file F]
 *       N exchanges; bytes mode asks "k<n>:<LEN>" (LEN = --response-len, or
 *       1 + (n * 2654435761) % 16384) padded to S bytes; image mode asks
 *       "k<n % 256>".  Stops at a timeout or when no request can be sent.
 *       With --hold-at K: after K exchanges, creates F.half and waits for F.go.
 *   capi_victim client CHANNEL [--count N (default: no limit)] [--timeout-ms T] [--attach-timeout-ms T]
 *                      [--untrusted] [--zero-copy] [--hold-at K --hold-file F]
 *       answers requests by the convention until the server leaves (or N
 *       requests); an answer that cannot be sent is followed by an error
 *       answer (retried), a request that cannot be read by error code 2.
 *   capi_victim open-server CHANNEL [--stale reset|fail] [--untrusted]
 *   capi_victim open-client CHANNEL [--attach-timeout-ms T] [--untrusted]
 *       one open, printed as "open=NAME", then close.
 *   capi_victim attempts-server CHANNEL N [--timeout-ms T]
 *       N times: open as server, one request "k<i>:16", close.  With no
 *       client on the channel, every answer is forged: counted as wrong, and
 *       so is every open that succeeds while the run's attacker owns a
 *       semaphore name (the driver guarantees that; see run.sh, case c).
 *   capi_victim attempts-client CHANNEL N [--attach-timeout-ms T]
 *       N client opens with no server: an open that gets as far as waiting
 *       for segments (E_TIMEOUT) or succeeds accepted the attacker's
 *       semaphore: counted as wrong.
 *
 * Exit status: 0 every exchange right and no error; 1 otherwise; 2 usage;
 * 3 the channel could not be opened.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmemaphore.h"

/* The untrusted-peer flag under its new name, or its former one. */
#if defined(SHMEMAPHORE_FLAG_UNTRUSTED_PEER)
#define VICTIM_UNTRUSTED_FLAG SHMEMAPHORE_FLAG_UNTRUSTED_PEER
#elif defined(SHMEMAPHORE_FLAG_CHECK_EVERY_TURN)
#define VICTIM_UNTRUSTED_FLAG SHMEMAPHORE_FLAG_CHECK_EVERY_TURN
#else
#define VICTIM_UNTRUSTED_FLAG 0u
#endif

#define MAX_PAYLOAD ((uint64_t)64 << 20)
#define MAX_ERRORS 16

static const char *prog = "capi_victim";

/* --- the summary ------------------------------------------------------------ */

static struct { int code; unsigned count; } errors[MAX_ERRORS];
static unsigned error_kinds = 0, error_total = 0;
static uint64_t ok_count = 0, wrong_count = 0;

static void count_error(int code)
{
    error_total++;
    for (unsigned i = 0; i < error_kinds; i++)
        if (errors[i].code == code) {
            errors[i].count++;
            return;
        }
    if (error_kinds < MAX_ERRORS) {
        errors[error_kinds].code = code;
        errors[error_kinds++].count = 1;
    }
}

static void print_summary(const char *role, const char *more)
{
    printf("summary role=%s ok=%" PRIu64 " wrong=%" PRIu64 " errors=", role, ok_count, wrong_count);
    if (error_kinds == 0)
        printf("none");
    for (unsigned i = 0; i < error_kinds; i++)
        printf("%s%s:%u", i ? "," : "", shmemaphore_error_name(errors[i].code), errors[i].count);
    printf("%s%s\n", more && *more ? " " : "", more ? more : "");
    fflush(stdout);
}

/* --- the payload convention ---------------------------------------------------- */

static uint8_t pattern(uint64_t n, uint64_t i) { return (uint8_t)((n * 31 + i) & 0xff); }

struct expected {
    char kind; /* 'i' image, 'b' bytes, 0 none */
    uint64_t seed, w, h, c, len;
};

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static struct expected expected_for(const uint8_t *req, uint64_t req_len)
{
    struct expected e = {0, 0, 0, 0, 0, 0};
    char text[64];
    size_t n = req_len < sizeof text - 1 ? (size_t)req_len : sizeof text - 1;
    memcpy(text, req, n);
    text[n] = '\0';
    char *semi = memchr(text, ';', n);
    if (semi) {
        *semi = '\0';
        n = (size_t)(semi - text);
    }
    if (strlen(text) != n) /* a NUL inside */
        return e;
    if (strcmp(text, "m") == 0)
        return (struct expected){'i', 7, 512, 512, 3, 512 * 512 * 3};
    if (strcmp(text, "b") == 0)
        return (struct expected){'i', 11, 2048, 2048, 3, 2048 * 2048 * 3};
    if (n < 2 || text[0] != 'k')
        return e;
    char *colon = strchr(text, ':');
    uint64_t seed, len;
    if (colon) {
        if (!parse_u64(text + 1, (size_t)(colon - text - 1), &seed) ||
            !parse_u64(colon + 1, strlen(colon + 1), &len) || len > MAX_PAYLOAD)
            return e;
        return (struct expected){'b', seed, 0, 0, 0, len};
    }
    if (!parse_u64(text + 1, n - 1, &seed))
        return e;
    uint64_t w = 1 + (seed * 7) % 29, h = 1 + (seed * 3) % 17;
    return (struct expected){'i', seed, w, h, 3, w * h * 3};
}

/* --- options -------------------------------------------------------------------- */

struct options {
    uint64_t count;
    bool image_mode;
    uint64_t request_size;
    bool fixed_response_len;
    uint64_t response_len;
    int64_t timeout_ms;
    int64_t attach_timeout_ms;
    bool untrusted;
    bool stale_fail;
    bool zero_copy;
    uint64_t hold_at;
    const char *hold_file;
    const char *ready_file;
};

static int usage(void)
{
    fprintf(stderr,
            "usage: %s server CHANNEL [--count N] [--mode bytes|image] [--request-size S] [--response-len LEN]\n"
            "                 [--timeout-ms T] [--untrusted] [--stale reset|fail] [--hold-at K --hold-file F] [--ready-file F]\n"
            "       %s client CHANNEL [--count N] [--timeout-ms T] [--attach-timeout-ms T] [--untrusted] [--zero-copy]\n"
            "                 [--hold-at K --hold-file F]\n"
            "       %s open-server CHANNEL [--stale reset|fail] [--untrusted]\n"
            "       %s open-client CHANNEL [--attach-timeout-ms T] [--untrusted]\n"
            "       %s attempts-server CHANNEL N [--timeout-ms T]\n"
            "       %s attempts-client CHANNEL N [--attach-timeout-ms T]\n",
            prog, prog, prog, prog, prog, prog);
    return 2;
}

static bool parse_number(const char *s, uint64_t *out) { return s && parse_u64(s, strlen(s), out); }

static bool parse_options(int argc, char **argv, int first, struct options *o)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (strcmp(a, "--untrusted") == 0) { o->untrusted = true; continue; }
        if (strcmp(a, "--zero-copy") == 0) { o->zero_copy = true; continue; }
        if (!v) return false;
        i++;
        if (strcmp(a, "--count") == 0 && parse_number(v, &o->count)) continue;
        if (strcmp(a, "--mode") == 0 && (strcmp(v, "bytes") == 0 || strcmp(v, "image") == 0)) { o->image_mode = v[0] == 'i'; continue; }
        if (strcmp(a, "--request-size") == 0 && parse_number(v, &o->request_size) && o->request_size <= MAX_PAYLOAD) continue;
        if (strcmp(a, "--response-len") == 0 && parse_number(v, &o->response_len) && o->response_len <= MAX_PAYLOAD) { o->fixed_response_len = true; continue; }
        if (strcmp(a, "--timeout-ms") == 0 && parse_number(v, &n) && n <= INT64_MAX) { o->timeout_ms = (int64_t)n; continue; }
        if (strcmp(a, "--attach-timeout-ms") == 0 && parse_number(v, &n) && n <= INT64_MAX) { o->attach_timeout_ms = (int64_t)n; continue; }
        if (strcmp(a, "--stale") == 0 && (strcmp(v, "reset") == 0 || strcmp(v, "fail") == 0)) { o->stale_fail = v[0] == 'f'; continue; }
        if (strcmp(a, "--hold-at") == 0 && parse_number(v, &o->hold_at)) continue;
        if (strcmp(a, "--hold-file") == 0) { o->hold_file = v; continue; }
        if (strcmp(a, "--ready-file") == 0) { o->ready_file = v; continue; }
        return false;
    }
    return true;
}

static void channel_options(const struct options *o, shmemaphore_options *co)
{
    shmemaphore_options_init(co, sizeof *co);
    co->attach_timeout_ms = o->attach_timeout_ms;
    co->stale_policy = o->stale_fail ? SHMEMAPHORE_STALE_FAIL : SHMEMAPHORE_STALE_RESET;
    if (o->untrusted)
        co->flags |= VICTIM_UNTRUSTED_FLAG;
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Creates F.half and waits (bounded by `timeout_ms`, at least 2 minutes)
 * until F.go exists. */
static void hold(const char *file, int64_t timeout_ms)
{
    char half[4096], go[4096];
    snprintf(half, sizeof half, "%s.half", file);
    snprintf(go, sizeof go, "%s.go", file);
    touch(half);
    int64_t limit = timeout_ms > 120000 ? timeout_ms : 120000;
    for (int64_t waited = 0; waited < limit; waited += 5) {
        if (access(go, F_OK) == 0)
            return;
        sleep_ms(5);
    }
    fprintf(stderr, "%s: %s never appeared\n", prog, go);
}

/* --- server -------------------------------------------------------------------- */

static uint64_t response_len_for(const struct options *o, uint64_t n)
{
    return o->fixed_response_len ? o->response_len : 1 + (n * 2654435761u) % 16384;
}

/* Is `r` exactly the answer `e`? */
static bool response_is(const shmemaphore_response *r, const struct expected *e, char *why, size_t why_len)
{
    uint32_t want_kind = e->kind == 'i' ? SHMEMAPHORE_PAYLOAD_IMAGE : SHMEMAPHORE_PAYLOAD_BYTES;
    if (r->kind != want_kind || r->metadata.bytes != e->len ||
        (e->kind == 'i' && (r->metadata.width != e->w || r->metadata.height != e->h || r->metadata.channels != e->c))) {
        snprintf(why, why_len, "kind %u {%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "}, expected %c of %" PRIu64 " bytes",
                 r->kind, r->metadata.bytes, r->metadata.width, r->metadata.height, r->metadata.channels, e->kind, e->len);
        return false;
    }
    if (r->data == NULL) {
        snprintf(why, why_len, "data is NULL");
        return false;
    }
    for (uint64_t i = 0; i < e->len; i++)
        if (r->data[i] != pattern(e->seed, i)) {
            snprintf(why, why_len, "byte %" PRIu64 " is %u, expected %u", i, r->data[i], pattern(e->seed, i));
            return false;
        }
    return true;
}

static int run_server(const char *name, const struct options *o)
{
    shmemaphore_options co;
    channel_options(o, &co);
    shmemaphore_channel *ch = NULL;
    int rc = shmemaphore_server_open(name, &co, &ch);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "%s: server_open %s: %s: %s\n", prog, name, shmemaphore_error_name(rc), shmemaphore_strerror(rc));
        count_error(rc);
        print_summary("server", "opened=0");
        return 3;
    }
    if (o->ready_file)
        touch(o->ready_file);
    uint64_t cap = o->request_size > 64 ? o->request_size : 64;
    uint8_t *request = malloc(cap);
    if (!request)
        return 1;
    uint64_t sent = 0, peer_errors = 0;
    for (uint64_t n = 1; n <= o->count; n++) {
        if (o->hold_at && o->hold_file && n == o->hold_at + 1)
            hold(o->hold_file, o->timeout_ms);
        int len;
        if (o->image_mode)
            len = snprintf((char *)request, cap, "k%" PRIu64, n % 256);
        else
            len = snprintf((char *)request, cap, "k%" PRIu64 ":%" PRIu64 ";", n, response_len_for(o, n));
        uint64_t length = (uint64_t)len;
        if (o->request_size > length) {
            for (uint64_t i = length; i < o->request_size; i++)
                request[i] = pattern(n, i);
            length = o->request_size;
        }
        struct expected e = expected_for(request, length);
        rc = shmemaphore_send_request(ch, request, length);
        if (rc != SHMEMAPHORE_OK) {
            fprintf(stderr, "%s: request %" PRIu64 ": send: %s\n", prog, n, shmemaphore_error_name(rc));
            count_error(rc);
            if (rc == SHMEMAPHORE_E_WRONG_STATE || rc == SHMEMAPHORE_E_INVALID_ARGUMENT)
                break;
            continue;
        }
        sent++;
        shmemaphore_response r;
        memset(&r, 0, sizeof r);
        rc = shmemaphore_receive_response(ch, o->timeout_ms, &r);
        char why[200];
        if (rc == SHMEMAPHORE_OK) {
            if (response_is(&r, &e, why, sizeof why)) {
                ok_count++;
            } else {
                wrong_count++;
                if (wrong_count <= 5)
                    fprintf(stderr, "%s: request %" PRIu64 ": WRONG payload reported as OK: %s\n", prog, n, why);
            }
            continue;
        }
        count_error(rc);
        if (rc == SHMEMAPHORE_E_PEER_ERROR) {
            peer_errors++;
            fprintf(stderr, "%s: request %" PRIu64 ": the client answered with error %" PRIu64 ": %.*s\n", prog, n,
                    r.error_code, (int)(r.data && r.metadata.bytes < 200 ? r.metadata.bytes : 0),
                    r.data ? (const char *)r.data : "");
            continue;
        }
        fprintf(stderr, "%s: request %" PRIu64 ": receive: %s: %s\n", prog, n, shmemaphore_error_name(rc),
                shmemaphore_strerror(rc));
        if (rc == SHMEMAPHORE_E_TIMEOUT || rc == SHMEMAPHORE_E_PEER_GONE)
            break;
    }
    free(request);
    shmemaphore_close(ch);
    char more[128];
    snprintf(more, sizeof more, "sent=%" PRIu64 " peer_errors=%" PRIu64, sent, peer_errors);
    print_summary("server", more);
    return wrong_count == 0 && error_total == 0 && ok_count == o->count ? 0 : 1;
}

/* --- client -------------------------------------------------------------------- */

/* Answers with an error, retrying while the library cannot write it (a peer
 * that keeps shrinking DATA); a code that says no answer is owed stops. */
static int answer_error(shmemaphore_channel *ch, uint64_t code, const char *message)
{
    int rc = SHMEMAPHORE_OK;
    for (int attempt = 0; attempt < 200; attempt++) {
        rc = shmemaphore_send_error(ch, code, message);
        if (rc == SHMEMAPHORE_OK || rc == SHMEMAPHORE_E_WRONG_STATE || rc == SHMEMAPHORE_E_WRONG_ROLE ||
            rc == SHMEMAPHORE_E_INVALID_ARGUMENT)
            return rc;
        count_error(rc);
        sleep_ms(1);
    }
    return rc;
}

static int run_client(const char *name, const struct options *o)
{
    shmemaphore_options co;
    channel_options(o, &co);
    shmemaphore_channel *ch = NULL;
    int rc = shmemaphore_client_open(name, &co, &ch);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "%s: client_open %s: %s: %s\n", prog, name, shmemaphore_error_name(rc), shmemaphore_strerror(rc));
        count_error(rc);
        print_summary("client", "opened=0");
        return 3;
    }
    uint8_t *payload = malloc(MAX_PAYLOAD);
    if (!payload)
        return 1;
    uint64_t served = 0, answered = 0, error_answers = 0, unanswered = 0;
    bool gone = false;
    for (;;) {
        if (o->count && served >= o->count)
            break;
        const uint8_t *request = NULL;
        uint64_t length = 0;
        rc = shmemaphore_receive_request(ch, o->timeout_ms, &request, &length);
        if (rc == SHMEMAPHORE_E_PEER_GONE) {
            gone = true;
            break;
        }
        if (rc == SHMEMAPHORE_E_TIMEOUT) {
            count_error(rc);
            fprintf(stderr, "%s: no request within %" PRId64 " ms\n", prog, o->timeout_ms);
            break;
        }
        served++;
        if (o->hold_at && o->hold_file && served == o->hold_at + 1)
            hold(o->hold_file, o->timeout_ms);
        if (rc != SHMEMAPHORE_OK) {
            /* A request we cannot read is still ours to answer (bad request). */
            count_error(rc);
            fprintf(stderr, "%s: request %" PRIu64 ": receive: %s: %s\n", prog, served, shmemaphore_error_name(rc),
                    shmemaphore_strerror(rc));
            int arc = answer_error(ch, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "bad request");
            if (arc == SHMEMAPHORE_OK) error_answers++;
            else if (arc != SHMEMAPHORE_E_WRONG_STATE) unanswered++;
            if (rc != SHMEMAPHORE_E_PROTOCOL && rc != SHMEMAPHORE_E_TOO_LARGE && arc != SHMEMAPHORE_OK)
                break; /* not a request problem: the channel is unusable */
            continue;
        }
        /* Copy what we parse first: the view points into shared memory. */
        uint8_t head[64];
        uint64_t take = length < sizeof head ? length : sizeof head;
        memcpy(head, request, (size_t)take);
        struct expected e = expected_for(head, take);
        if (e.kind == 0) {
            int arc = answer_error(ch, SHMEMAPHORE_PEER_ERROR_NOT_FOUND, "not found");
            if (arc == SHMEMAPHORE_OK) error_answers++;
            else unanswered++;
            continue;
        }
        shmemaphore_metadata md = {e.len, e.w, e.h, e.c};
        if (o->zero_copy) {
            void *buffer = NULL;
            rc = shmemaphore_reserve(ch, e.len, &buffer);
            if (rc == SHMEMAPHORE_OK) {
                uint8_t *p = buffer;
                for (uint64_t i = 0; i < e.len; i++)
                    p[i] = pattern(e.seed, i);
                rc = shmemaphore_commit(ch, &md);
            }
        } else {
            for (uint64_t i = 0; i < e.len; i++)
                payload[i] = pattern(e.seed, i);
            rc = shmemaphore_send_response(ch, &md, payload);
        }
        if (rc == SHMEMAPHORE_OK) {
            answered++;
            ok_count++;
            continue;
        }
        count_error(rc);
        fprintf(stderr, "%s: request %" PRIu64 ": send: %s: %s\n", prog, served, shmemaphore_error_name(rc),
                shmemaphore_strerror(rc));
        char message[128];
        snprintf(message, sizeof message, "cannot send the answer: %s", shmemaphore_error_name(rc));
        int arc = answer_error(ch, SHMEMAPHORE_PEER_ERROR_UNSPECIFIED, message);
        if (arc == SHMEMAPHORE_OK) error_answers++;
        else unanswered++;
    }
    free(payload);
    shmemaphore_close(ch);
    char more[160];
    snprintf(more, sizeof more, "served=%" PRIu64 " answered=%" PRIu64 " error_answers=%" PRIu64 " unanswered=%" PRIu64 " server_gone=%d",
             served, answered, error_answers, unanswered, gone ? 1 : 0);
    print_summary("client", more);
    return error_total == 0 && unanswered == 0 ? 0 : 1;
}

/* --- single opens and attempts --------------------------------------------------- */

static int run_open(const char *name, const struct options *o, bool server)
{
    shmemaphore_options co;
    channel_options(o, &co);
    shmemaphore_channel *ch = NULL;
    int rc = server ? shmemaphore_server_open(name, &co, &ch) : shmemaphore_client_open(name, &co, &ch);
    printf("open=%s\n", rc == SHMEMAPHORE_OK ? "OK" : shmemaphore_error_name(rc));
    if (rc != SHMEMAPHORE_OK)
        fprintf(stderr, "%s: %s_open %s: %s\n", prog, server ? "server" : "client", name, shmemaphore_strerror(rc));
    else
        shmemaphore_close(ch);
    fflush(stdout);
    return rc == SHMEMAPHORE_OK ? 0 : 3;
}

static int run_attempts(const char *name, uint64_t attempts, const struct options *o, bool server)
{
    shmemaphore_options co;
    channel_options(o, &co);
    uint64_t opened = 0, forged = 0;
    for (uint64_t i = 1; i <= attempts; i++) {
        shmemaphore_channel *ch = NULL;
        int rc = server ? shmemaphore_server_open(name, &co, &ch) : shmemaphore_client_open(name, &co, &ch);
        if (!server) {
            if (rc == SHMEMAPHORE_OK || rc == SHMEMAPHORE_E_TIMEOUT) {
                /* Nothing but the attacker's objects is there to attach to. */
                wrong_count++;
                if (wrong_count <= 3)
                    fprintf(stderr, "%s: attempt %" PRIu64 ": the client accepted the semaphores (%s)\n", prog, i,
                            shmemaphore_error_name(rc));
            }
            if (rc == SHMEMAPHORE_OK) {
                opened++;
                shmemaphore_close(ch);
            } else {
                count_error(rc);
            }
            continue;
        }
        if (rc != SHMEMAPHORE_OK) {
            count_error(rc);
            continue;
        }
        opened++;
        wrong_count++; /* it accepted a semaphore name the attacker owns */
        char request[32];
        int len = snprintf(request, sizeof request, "k%" PRIu64 ":16;", i);
        shmemaphore_response r;
        rc = shmemaphore_request(ch, request, (uint64_t)len, o->timeout_ms, &r);
        if (rc == SHMEMAPHORE_OK || rc == SHMEMAPHORE_E_PEER_ERROR) {
            forged++; /* no client exists: the answer is forged */
            fprintf(stderr, "%s: attempt %" PRIu64 ": a FORGED answer was accepted (%s, %" PRIu64 " bytes)\n", prog, i,
                    shmemaphore_error_name(rc), r.metadata.bytes);
        } else {
            count_error(rc);
        }
        shmemaphore_close(ch);
    }
    char more[96];
    snprintf(more, sizeof more, "attempts=%" PRIu64 " opened=%" PRIu64 " forged=%" PRIu64, attempts, opened, forged);
    print_summary(server ? "attempts-server" : "attempts-client", more);
    return wrong_count == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        return usage();
    const char *cmd = argv[1], *name = argv[2];
    struct options o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = 30000;
    o.attach_timeout_ms = 5000;
    if (strcmp(cmd, "attempts-server") == 0 || strcmp(cmd, "attempts-client") == 0) {
        uint64_t attempts;
        o.timeout_ms = 20;
        o.attach_timeout_ms = 20;
        if (argc < 4 || !parse_number(argv[3], &attempts) || !parse_options(argc, argv, 4, &o))
            return usage();
        return run_attempts(name, attempts, &o, cmd[9] == 's');
    }
    if (!parse_options(argc, argv, 3, &o))
        return usage();
    if (strcmp(cmd, "server") == 0) {
        if (o.count == 0)
            o.count = 10;
        return run_server(name, &o);
    }
    if (strcmp(cmd, "client") == 0) return run_client(name, &o);
    if (strcmp(cmd, "open-server") == 0) return run_open(name, &o, true);
    if (strcmp(cmd, "open-client") == 0) return run_open(name, &o, false);
    return usage();
}
