/*
 * c_peer.c - the C test peer for libshmemaphore (see PEER-SPEC.md).
 *
 *   c_peer server CHANNEL STEP...   run the scripted steps, check every answer
 *   c_peer client CHANNEL [MAX]     answer requests until the server leaves
 *
 * It uses nothing but <shmemaphore.h> and libc, so pairing it with the Swift
 * peer proves that the C API alone is enough to speak the protocol, in both
 * roles, on both the copy path (send_response) and the zero-copy path
 * (reserve + commit).
 *
 * Exit status: 0 all good, 1 a library call or a check failed, 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmemaphore.h"

#define ONE_GIB ((uint64_t)1 << 30) /* payload cap, so a typo cannot exhaust memory */
#define MAX_COMMAND 256             /* no longer request can be a valid command */
#define MAX_WORDS 5                 /* verb + up to four numbers */
/* Each side waits out the other's whole work on the biggest step (a 33 MB
 * image filled or checked byte by byte, under a sanitizer, on busy CPUs),
 * plus the other's start-up for the client's attach: minutes, not the
 * seconds an idle machine needs.  A dead peer is noticed at once through its
 * liveness lock, and the harness bounds the whole run, so only a hang
 * waits this long. */
#define CLIENT_TIMEOUT_MS 120000
#define SERVER_TIMEOUT_MS 120000

enum kind { CMD_IMAGE, CMD_BYTES, CMD_ERROR, CMD_EMPTY, CMD_NAME, CMD_BIG, CMD_SLEEP };

/* One request: a parsed server STEP, or a parsed client request. */
struct command {
    enum kind kind;
    uint64_t num[4];  /* image: W H C SEED; bytes: N SEED; error: CODE; big: N */
    const char *text; /* name: the TEXT to send */
};

struct word { const char *p; size_t n; };

/* Both sides compute the payload independently, so any byte the library
 * misplaces, truncates or leaves stale shows up as a mismatch. */
static uint8_t pattern(uint64_t seed, uint64_t i) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
    return (uint8_t)(x >> 56);
}

/* Strict: digits only, at least one, no sign or blanks, no wrap-around
 * (strtoull would take " -1" as UINT64_MAX).  Takes (pointer, length)
 * because requests arrive without a terminating NUL. */
static int parse_u64(const char *s, size_t n, uint64_t *out) {
    uint64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Split on single separators.  Empty words (leading, trailing or doubled
 * separators) and too many words make the whole text malformed. */
static int split(const char *s, size_t len, char sep, struct word *w, int max) {
    int count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != sep)
            continue;
        if (i == start || count == max)
            return -1;
        w[count].p = s + start;
        w[count++].n = i - start;
        start = i + 1;
    }
    return count;
}

/* The numeric forms have one grammar on both sides; only the separator
 * differs (':' in a server STEP, ' ' on the wire). */
static int parse_numeric(const char *s, size_t len, char sep, struct command *cmd) {
    static const struct { const char *verb; int arity; enum kind kind; } verbs[] = {
        {"image", 4, CMD_IMAGE}, {"bytes", 2, CMD_BYTES}, {"error", 1, CMD_ERROR}, {"sleep", 1, CMD_SLEEP}};
    struct word w[MAX_WORDS];
    int n = split(s, len, sep, w, MAX_WORDS);
    for (size_t v = 0; n >= 1 && v < sizeof verbs / sizeof verbs[0]; v++) {
        if (w[0].n != strlen(verbs[v].verb) || memcmp(w[0].p, verbs[v].verb, w[0].n) != 0)
            continue;
        if (verbs[v].kind == CMD_SLEEP && sep != ' ')
            return -1; /* a request the client understands, not a server step */
        if (n - 1 != verbs[v].arity)
            return -1;
        for (int k = 0; k < verbs[v].arity; k++)
            if (parse_u64(w[k + 1].p, w[k + 1].n, &cmd->num[k]) != 0)
                return -1;
        cmd->kind = verbs[v].kind;
        return 0;
    }
    return -1;
}

/* W*H*C, refused when a dimension is 0 (the library rejects such images),
 * when the product overflows 64 bits, or when it exceeds the cap. */
static int image_size(const uint64_t *num, uint64_t *out) {
    uint64_t w = num[0], h = num[1], c = num[2];
    if (w == 0 || h == 0 || c == 0 || h > UINT64_MAX / w || c > UINT64_MAX / (w * h) ||
        w * h * c > ONE_GIB)
        return -1;
    *out = w * h * c;
    return 0;
}

/* ---- client ------------------------------------------------------------ */

static int refuse(shmemaphore_channel *ch, uint64_t code, const char *why, uint64_t len) {
    int rc = shmemaphore_send_error(ch, code, why);
    if (rc == SHMEMAPHORE_OK)
        printf("client: refused %" PRIu64 "-byte request: error %" PRIu64 " (%s)\n", len, code, why);
    return rc;
}

static int answer(shmemaphore_channel *ch, const uint8_t *req, uint64_t len) {
    char text[MAX_COMMAND];
    struct command cmd;
    uint64_t size;
    int rc;

    if (len == 0)
        return refuse(ch, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "empty request", len);
    /* Copy before parsing: the view is valid only until the next call on the
     * channel, and reserve() below reuses the memory it points into.  Nothing
     * longer than the buffer is a command, so the rest is never needed. */
    if (len > sizeof text)
        return refuse(ch, SHMEMAPHORE_PEER_ERROR_NOT_FOUND, "unknown request", len);
    memcpy(text, req, (size_t)len);
    if (parse_numeric(text, (size_t)len, ' ', &cmd) != 0)
        return refuse(ch, SHMEMAPHORE_PEER_ERROR_NOT_FOUND, "unknown request", len);

    if (cmd.kind == CMD_IMAGE) {
        /* Zero-copy path: render straight into the shared data segment. */
        void *buf;
        if (image_size(cmd.num, &size) != 0)
            return refuse(ch, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "image size out of range", len);
        if ((rc = shmemaphore_reserve(ch, size, &buf)) != SHMEMAPHORE_OK)
            return rc;
        for (uint64_t i = 0; i < size; i++)
            ((uint8_t *)buf)[i] = pattern(cmd.num[3], i);
        shmemaphore_metadata md = {size, cmd.num[0], cmd.num[1], cmd.num[2]};
        if ((rc = shmemaphore_commit(ch, &md)) == SHMEMAPHORE_OK)
            printf("client: served image %" PRIu64 "x%" PRIu64 "x%" PRIu64 "\n",
                   cmd.num[0], cmd.num[1], cmd.num[2]);
    } else if (cmd.kind == CMD_BYTES) {
        /* Copy path: an ordinary private buffer handed to send_response. */
        if ((size = cmd.num[0]) > ONE_GIB)
            return refuse(ch, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "byte count out of range", len);
        uint8_t *buf = malloc(size ? (size_t)size : 1);
        if (buf == NULL) /* still answer, so the server does not wait in vain */
            return refuse(ch, SHMEMAPHORE_PEER_ERROR_UNSPECIFIED, "out of memory", len);
        for (uint64_t i = 0; i < size; i++)
            buf[i] = pattern(cmd.num[1], i);
        shmemaphore_metadata md = {size, 0, 0, 0};
        if ((rc = shmemaphore_send_response(ch, &md, buf)) == SHMEMAPHORE_OK)
            printf("client: served bytes %" PRIu64 "\n", size);
        free(buf);
    } else if (cmd.kind == CMD_SLEEP) {
        /* Sit on the request (liveness tests kill us meanwhile), then answer 0 bytes. */
        struct timespec pause = {(time_t)(cmd.num[0] / 1000), (long)(cmd.num[0] % 1000) * 1000000L};
        printf("client: sleeping %" PRIu64 " ms before answering\n", cmd.num[0]);
        fflush(stdout);
        while (nanosleep(&pause, &pause) == -1)
            ;
        shmemaphore_metadata md = {0, 0, 0, 0};
        rc = shmemaphore_send_response(ch, &md, NULL);
    } else { /* CMD_ERROR: the server checks this exact message */
        char msg[64];
        snprintf(msg, sizeof msg, "requested error %" PRIu64, cmd.num[0]);
        if ((rc = shmemaphore_send_error(ch, cmd.num[0], msg)) == SHMEMAPHORE_OK)
            printf("client: served error %" PRIu64 "\n", cmd.num[0]);
    }
    return rc;
}

static int run_client(const char *name, uint64_t max) {
    shmemaphore_options opt;
    shmemaphore_channel *ch;
    int rc, status = 0;

    /* The harness may start the client before the server: wait for it. */
    shmemaphore_options_init(&opt, sizeof opt);
    opt.attach_timeout_ms = CLIENT_TIMEOUT_MS;
    if ((rc = shmemaphore_client_open(name, &opt, &ch)) != SHMEMAPHORE_OK) {
        fprintf(stderr, "client: open: %s: %s\n", shmemaphore_error_name(rc), shmemaphore_strerror(rc));
        return 1;
    }
    for (uint64_t served = 0; served < max; served++) {
        const uint8_t *req;
        uint64_t len;
        rc = shmemaphore_receive_request(ch, CLIENT_TIMEOUT_MS, &req, &len);
        if (rc == SHMEMAPHORE_E_PEER_GONE)
            break; /* the server finished its script: the normal way out */
        if (rc == SHMEMAPHORE_OK)
            rc = answer(ch, req, len);
        fflush(stdout); /* the harness reads our progress through a pipe */
        if (rc != SHMEMAPHORE_OK) {
            fprintf(stderr, "client: request %" PRIu64 ": %s: %s\n", served + 1,
                    shmemaphore_error_name(rc), shmemaphore_strerror(rc));
            status = 1;
            break;
        }
    }
    shmemaphore_close(ch);
    return status;
}

/* ---- server ------------------------------------------------------------ */

/* Run before the channel exists, so a typo in a step creates no objects.
 * Steps whose expectation could never hold are usage errors too. */
static int parse_step(const char *s, struct command *cmd) {
    uint64_t size;
    if (strcmp(s, "empty") == 0) {
        cmd->kind = CMD_EMPTY;
        return 0;
    }
    if (strncmp(s, "name:", 5) == 0) { /* TEXT is the rest, colons and all */
        cmd->kind = CMD_NAME;
        cmd->text = s + 5;
        return *cmd->text ? 0 : -1; /* an empty TEXT is answered BAD_REQUEST */
    }
    if (strncmp(s, "big:", 4) == 0) {
        cmd->kind = CMD_BIG;
        if (parse_u64(s + 4, strlen(s + 4), &cmd->num[0]) != 0)
            return -1;
        return cmd->num[0] >= 1 && cmd->num[0] <= ONE_GIB ? 0 : -1;
    }
    if (parse_numeric(s, strlen(s), ':', cmd) != 0)
        return -1;
    if (cmd->kind == CMD_IMAGE)
        return image_size(cmd->num, &size);
    return cmd->kind == CMD_BYTES && cmd->num[0] > ONE_GIB ? -1 : 0;
}

/* Metadata in the order of the wire words, for mismatch reports. */
#define MD_FMT "{%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "}"
#define MD_ARGS(m) (m).bytes, (m).width, (m).height, (m).channels

static int fail(const char *step, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "server: step %s: ", step);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/* A library failure.  For an unexpected peer error also show what the peer
 * said, sanitised and bounded: it is foreign data and must stay one line. */
static int fail_rc(const char *step, int rc, const shmemaphore_response *r) {
    char said[121];
    if (rc != SHMEMAPHORE_E_PEER_ERROR || r->data == NULL)
        return fail(step, "%s: %s", shmemaphore_error_name(rc), shmemaphore_strerror(rc));
    size_t n = r->metadata.bytes < 120 ? (size_t)r->metadata.bytes : 120;
    for (size_t i = 0; i < n; i++)
        said[i] = r->data[i] >= 0x20 && r->data[i] < 0x7f ? (char)r->data[i] : '?';
    said[n] = '\0';
    return fail(step, "%s: %s (peer code %" PRIu64 ": \"%s\")", shmemaphore_error_name(rc),
                shmemaphore_strerror(rc), r->error_code, said);
}

static int check_payload(const char *step, const struct command *cmd, int rc,
                         const shmemaphore_response *r) {
    const shmemaphore_metadata *m = &r->metadata;
    int image = cmd->kind == CMD_IMAGE;
    uint32_t kind = image ? SHMEMAPHORE_PAYLOAD_IMAGE : SHMEMAPHORE_PAYLOAD_BYTES;
    uint64_t seed = image ? cmd->num[3] : cmd->num[1];
    shmemaphore_metadata want = {cmd->num[0], 0, 0, 0};

    if (image) { /* parse_step already proved the size is in range */
        want = (shmemaphore_metadata){0, cmd->num[0], cmd->num[1], cmd->num[2]};
        image_size(cmd->num, &want.bytes);
    }
    if (rc != SHMEMAPHORE_OK)
        return fail_rc(step, rc, r);
    if (r->kind != kind)
        return fail(step, "kind %" PRIu32 ", expected %" PRIu32, r->kind, kind);
    if (m->bytes != want.bytes || m->width != want.width || m->height != want.height ||
        m->channels != want.channels)
        return fail(step, "metadata " MD_FMT ", expected " MD_FMT, MD_ARGS(*m), MD_ARGS(want));
    if (r->data == NULL)
        return fail(step, "data is NULL");
    for (uint64_t i = 0; i < want.bytes; i++)
        if (r->data[i] != pattern(seed, i))
            return fail(step, "byte %" PRIu64 " is 0x%02x, expected 0x%02x", i, r->data[i],
                        pattern(seed, i));
    printf("server: %s ok %" PRIu64 " bytes\n", step, want.bytes);
    return 0;
}

/* Every other step expects an error response with a known code. */
static int check_error(const char *step, const struct command *cmd, int rc,
                       const shmemaphore_response *r) {
    const shmemaphore_metadata *m = &r->metadata;
    uint64_t code = cmd->kind == CMD_ERROR ? cmd->num[0]
                  : cmd->kind == CMD_EMPTY ? SHMEMAPHORE_PEER_ERROR_BAD_REQUEST
                                           : SHMEMAPHORE_PEER_ERROR_NOT_FOUND;
    if (rc == SHMEMAPHORE_OK)
        return fail(step, "got a %" PRIu64 "-byte payload, expected peer error %" PRIu64,
                    m->bytes, code);
    if (rc != SHMEMAPHORE_E_PEER_ERROR)
        return fail_rc(step, rc, r);
    /* The wire words are part of the contract too (see SHMEMAPHORE_PAYLOAD_ERROR). */
    if (r->kind != SHMEMAPHORE_PAYLOAD_ERROR || r->error_code != code || m->width != code ||
        m->height != 0 || m->channels != SHMEMAPHORE_CHANNELS_ERROR || r->data == NULL)
        return fail(step, "error response kind %" PRIu32 " code %" PRIu64 " metadata " MD_FMT
                    ", expected code %" PRIu64, r->kind, r->error_code, MD_ARGS(*m), code);
    if (cmd->kind == CMD_ERROR) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "requested error %" PRIu64, code);
        if (m->bytes != (uint64_t)n || memcmp(r->data, msg, (size_t)n) != 0)
            return fail(step, "message of %" PRIu64 " bytes, expected \"%s\"", m->bytes, msg);
    }
    printf("server: %s ok peer error %" PRIu64 "\n", step, code);
    return 0;
}

static int run_server(const char *name, char **steps, const struct command *cmds, int n) {
    shmemaphore_channel *ch;
    int rc, status = 0;

    if ((rc = shmemaphore_server_open(name, NULL, &ch)) != SHMEMAPHORE_OK) {
        fprintf(stderr, "server: open: %s: %s\n", shmemaphore_error_name(rc), shmemaphore_strerror(rc));
        return 1;
    }
    for (int s = 0; s < n && status == 0; s++) {
        const struct command *cmd = &cmds[s];
        const char *step = steps[s];
        char *buf = NULL;
        const void *req = NULL; /* NULL is allowed for the empty request */
        uint64_t len = 0;
        shmemaphore_response resp;

        memset(&resp, 0, sizeof resp);
        if (cmd->kind == CMD_NAME) {
            req = cmd->text;
            len = strlen(cmd->text);
        } else if (cmd->kind != CMD_EMPTY) {
            /* A numeric step is its own request with ':' for ' '; a big one
             * is far past any command, so the client must say NOT_FOUND. */
            len = cmd->kind == CMD_BIG ? cmd->num[0] : strlen(step);
            if ((req = buf = malloc((size_t)len)) == NULL) {
                status = fail(step, "out of memory");
                break;
            }
            for (uint64_t i = 0; i < len; i++)
                buf[i] = cmd->kind == CMD_BIG ? 'x' : step[i] == ':' ? ' ' : step[i];
        }
        rc = shmemaphore_request(ch, req, len, SERVER_TIMEOUT_MS, &resp);
        free(buf);
        status = cmd->kind == CMD_IMAGE || cmd->kind == CMD_BYTES
                     ? check_payload(step, cmd, rc, &resp) : check_error(step, cmd, rc, &resp);
        fflush(stdout); /* the harness reads our progress through a pipe */
    }
    /* Always close: it unlinks all four objects and tells the client to go. */
    shmemaphore_close(ch);
    return status == 0 ? 0 : 1;
}

static int usage(void) {
    fputs("usage: c_peer server CHANNEL STEP...\n"
          "       c_peer client CHANNEL [MAX]\n"
          "steps: image:W:H:C:SEED bytes:N:SEED error:CODE empty name:TEXT big:N\n", stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "server") == 0) {
        int n = argc - 3, status;
        struct command *cmds = calloc((size_t)n, sizeof *cmds);
        if (cmds == NULL)
            return 1;
        for (int s = 0; s < n; s++)
            if (parse_step(argv[s + 3], &cmds[s]) != 0) {
                fprintf(stderr, "c_peer: bad step: %s\n", argv[s + 3]);
                free(cmds);
                return usage();
            }
        status = run_server(argv[2], argv + 3, cmds, n);
        free(cmds);
        return status;
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "client") == 0) {
        uint64_t max = UINT64_MAX; /* no MAX: serve until the server leaves */
        if (argc == 4 && (parse_u64(argv[3], strlen(argv[3]), &max) != 0 || max == 0))
            return usage();
        return run_client(argv[2], max);
    }
    return usage();
}
