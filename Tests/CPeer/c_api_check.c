/*
 * c_api_check.c - checks the documented behaviour of the libshmemaphore C API
 * (include/shmemaphore.h) for bad and edge-case input, in one process.
 *
 *   c_api_check PREFIX
 *
 * PREFIX is a channel-name prefix unique to the run (for example cchk12345):
 * every channel this program opens is named PREFIX-something, every channel
 * it opens is closed again, and the last check verifies that /dev/shm holds
 * no entry containing PREFIX.
 *
 * One process can be server and client of the same channel, because a server
 * never waits for its client: a round trip in one thread is "server sends,
 * client receives, client answers, server receives", each step non-blocking.
 *
 * Output: one line per check, "ok - DESCRIPTION" or
 * "not ok - DESCRIPTION: DETAIL"; lines starting with '#' are diagnostics.
 * The last line is "N passed, N failed".
 * Exit status: 0 all checks passed, 1 some check failed, 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmemaphore.h"

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */
/* ------------------------------------------------------------------------ */

static int passed, failed;

static const char *code_name(int code) { return shmemaphore_error_name(code); }

/* The one place that prints a check's verdict. */
static int report(int ok, const char *desc, const char *detail) {
    if (ok) {
        printf("ok - %s\n", desc);
        passed++;
    } else {
        printf("not ok - %s: %s\n", desc, detail);
        failed++;
    }
    fflush(stdout);
    return ok;
}

/* A boolean check; the detail (printf format) explains a failure. */
static int check(int ok, const char *desc, const char *detail_fmt, ...) {
    char detail[512] = "";
    if (!ok && detail_fmt) {
        va_list ap;
        va_start(ap, detail_fmt);
        vsnprintf(detail, sizeof detail, detail_fmt, ap);
        va_end(ap);
    }
    return report(ok, desc, detail);
}

/* A status code check: exactly `expected`. */
static int expect_code(int got, int expected, const char *desc) {
    char detail[256];
    snprintf(detail, sizeof detail, "got %d (%s), expected %d (%s)", got, code_name(got), expected,
             code_name(expected));
    return report(got == expected, desc, detail);
}

/* A status code check where the header allows either of two codes. */
static int expect_either(int got, int one, int other, const char *desc) {
    char detail[320];
    snprintf(detail, sizeof detail, "got %d (%s), expected %d (%s) or %d (%s)", got, code_name(got), one,
             code_name(one), other, code_name(other));
    if (got == one || got == other)
        printf("# %s -> %s\n", desc, code_name(got));
    return report(got == one || got == other, desc, detail);
}

/* Setup steps that are not themselves under test: silent when they work,
 * a failed check when they do not (so a broken setup is never invisible). */
static int require_ok(int got, const char *what) {
    if (got == SHMEMAPHORE_OK)
        return 1;
    char detail[256];
    snprintf(detail, sizeof detail, "got %d (%s), expected 0 (%s)", got, code_name(got), code_name(0));
    return report(0, what, detail);
}

/* printf into a rotating static buffer, for descriptions built in loops. */
static const char *fmt(const char *format, ...) {
    static char buffers[32][512];
    static unsigned next;
    char *b = buffers[next++ % 32];
    va_list ap;
    va_start(ap, format);
    vsnprintf(b, sizeof buffers[0], format, ap);
    va_end(ap);
    return b;
}

/* Waits for what this one process has already sent or opened, so they
 * return at once; generous only so that a descheduled run under a sanitizer
 * on busy CPUs still passes.  Checks that want a timeout use short ones. */
#define WAIT_MS 60000
/* A short timeout that fires later than this is broken, not just descheduled. */
#define LATE_MS 10000

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Channel names and /dev/shm                                               */
/* ------------------------------------------------------------------------ */

static const char *g_prefix;

/* "PREFIX-suffix", in a rotating static buffer. */
static const char *chan(const char *suffix) { return fmt("%s-%s", g_prefix, suffix); }

/* The name with '/' mapped to '_', as in the object names (PROTOCOL.md 2). */
static void sanitize(const char *name, char *out, size_t n) {
    snprintf(out, n, "%s", name);
    for (char *p = out; *p; p++)
        if (*p == '/')
            *p = '_';
}

/* How many of the channel's four objects exist in /dev/shm. */
static int objects_present(const char *name) {
    static const char *const formats[] = {"/dev/shm/sem.SEM_%s_REQ", "/dev/shm/sem.SEM_%s_RES",
                                          "/dev/shm/SEG_%s_HEAD", "/dev/shm/SEG_%s_DATA"};
    char s[256], path[512];
    int present = 0;
    sanitize(name, s, sizeof s);
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        snprintf(path, sizeof path, formats[i], s);
        if (access(path, F_OK) == 0)
            present++;
    }
    return present;
}

/* Permission bits of one object file, or -1 if it does not exist. */
static int object_mode(const char *format, const char *name) {
    char s[256], path[512];
    struct stat st;
    sanitize(name, s, sizeof s);
    snprintf(path, sizeof path, format, s);
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* Entries of /dev/shm whose name contains `needle`; prints them. */
static int count_shm_entries(const char *needle) {
    DIR *dir = opendir("/dev/shm");
    int n = 0;
    if (!dir)
        return -1;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (strstr(e->d_name, needle)) {
            printf("# left in /dev/shm: %s\n", e->d_name);
            n++;
        }
    }
    closedir(dir);
    return n;
}

/* ------------------------------------------------------------------------ */
/* Channel helpers                                                          */
/* ------------------------------------------------------------------------ */

struct pair {
    shmemaphore_channel *server;
    shmemaphore_channel *client;
};

static shmemaphore_options client_options(int64_t attach_timeout_ms) {
    shmemaphore_options o;
    shmemaphore_options_init(&o, sizeof o);
    o.attach_timeout_ms = attach_timeout_ms;
    return o;
}

/* Server first, then a client on the same name in this same process. */
static int open_pair(const char *name, struct pair *p) {
    shmemaphore_options o = client_options(WAIT_MS);
    p->server = p->client = NULL;
    if (!require_ok(shmemaphore_server_open(name, NULL, &p->server), fmt("setup: server_open %s", name)))
        return 0;
    if (!require_ok(shmemaphore_client_open(name, &o, &p->client), fmt("setup: client_open %s", name))) {
        shmemaphore_close(p->server);
        p->server = NULL;
        return 0;
    }
    return 1;
}

static void close_pair(struct pair *p) {
    shmemaphore_close(p->client); /* a client unlinks nothing */
    shmemaphore_close(p->server); /* the server unlinks all four objects */
    p->client = p->server = NULL;
}

/* Server sends `req`, client takes it.  Setup: silent on success. */
static int deliver(struct pair *p, const void *req, uint64_t len) {
    const uint8_t *got = NULL;
    uint64_t got_len = 0;
    if (!require_ok(shmemaphore_send_request(p->server, req, len), "setup: send_request"))
        return 0;
    return require_ok(shmemaphore_receive_request(p->client, WAIT_MS, &got, &got_len), "setup: receive_request");
}

/* Client answers the held request with raw bytes "done"; the server must
 * receive exactly that.  This is the check that a channel is still usable. */
static int finish(struct pair *p, const char *desc) {
    shmemaphore_metadata m = {4, 0, 0, 0};
    shmemaphore_response r;
    int rc = shmemaphore_send_response(p->client, &m, "done");
    if (rc != SHMEMAPHORE_OK)
        return expect_code(rc, SHMEMAPHORE_OK, fmt("%s (client send_response)", desc));
    memset(&r, 0, sizeof r);
    rc = shmemaphore_receive_response(p->server, WAIT_MS, &r);
    if (rc != SHMEMAPHORE_OK)
        return expect_code(rc, SHMEMAPHORE_OK, fmt("%s (server receive_response)", desc));
    return check(r.kind == SHMEMAPHORE_PAYLOAD_BYTES && r.metadata.bytes == 4 && r.data &&
                     memcmp(r.data, "done", 4) == 0,
                 desc, "kind %u bytes %" PRIu64, r.kind, r.metadata.bytes);
}

/* A full exchange after a rejected call: deliver, then finish. */
static int exchange(struct pair *p, const char *desc) {
    return deliver(p, "again", 5) && finish(p, desc);
}

/* ------------------------------------------------------------------------ */
/* Versions and status codes                                                */
/* ------------------------------------------------------------------------ */

static void test_versions(void) {
    const char *v = shmemaphore_version_string();
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", SHMEMAPHORE_VERSION_MAJOR, SHMEMAPHORE_VERSION_MINOR,
             SHMEMAPHORE_VERSION_PATCH);
    check(shmemaphore_version_number() == SHMEMAPHORE_VERSION_NUMBER, "version_number matches the header",
          "got %u, expected %d", shmemaphore_version_number(), SHMEMAPHORE_VERSION_NUMBER);
    check(v != NULL && strcmp(v, expected) == 0, "version_string matches the header macros", "got \"%s\", expected \"%s\"",
          v ? v : "(null)", expected);
    check(shmemaphore_protocol_version() == SHMEMAPHORE_PROTOCOL_VERSION, "protocol_version matches the header",
          "got %u, expected %d", shmemaphore_protocol_version(), SHMEMAPHORE_PROTOCOL_VERSION);
}

static void test_status_codes(void) {
    static const char *const names[] = {
        "SHMEMAPHORE_E_INVALID_ARGUMENT", "SHMEMAPHORE_E_INVALID_NAME",      "SHMEMAPHORE_E_TIMEOUT",
        "SHMEMAPHORE_E_PROTOCOL",         "SHMEMAPHORE_E_PEER_ERROR",        "SHMEMAPHORE_E_PEER_GONE",
        "SHMEMAPHORE_E_WRONG_ROLE",       "SHMEMAPHORE_E_WRONG_STATE",       "SHMEMAPHORE_E_EXISTS",
        "SHMEMAPHORE_E_IMAGE_DECODE",     "SHMEMAPHORE_E_IMAGE_ENCODE",      "SHMEMAPHORE_E_UNSUPPORTED_FORMAT",
        "SHMEMAPHORE_E_NOT_IMAGE",        "SHMEMAPHORE_E_TOO_LARGE",         "SHMEMAPHORE_E_UNSAFE_PERMISSIONS",
        "SHMEMAPHORE_E_BUSY",
    };
    /* The header's macros, in the same order, so a renumbering shows up. */
    static const int macros[] = {
        SHMEMAPHORE_E_INVALID_ARGUMENT, SHMEMAPHORE_E_INVALID_NAME,       SHMEMAPHORE_E_TIMEOUT,
        SHMEMAPHORE_E_PROTOCOL,         SHMEMAPHORE_E_PEER_ERROR,         SHMEMAPHORE_E_PEER_GONE,
        SHMEMAPHORE_E_WRONG_ROLE,       SHMEMAPHORE_E_WRONG_STATE,        SHMEMAPHORE_E_EXISTS,
        SHMEMAPHORE_E_IMAGE_DECODE,     SHMEMAPHORE_E_IMAGE_ENCODE,       SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
        SHMEMAPHORE_E_NOT_IMAGE,        SHMEMAPHORE_E_TOO_LARGE,          SHMEMAPHORE_E_UNSAFE_PERMISSIONS,
        SHMEMAPHORE_E_BUSY,
    };
    for (int i = 0; i < (int)(sizeof macros / sizeof macros[0]); i++) {
        int code = -1001 - i;
        const char *n = shmemaphore_error_name(code);
        const char *s = shmemaphore_strerror(code);
        check(macros[i] == code, fmt("header macro %s is %d", names[i], code), "it is %d", macros[i]);
        check(n != NULL && strcmp(n, names[i]) == 0, fmt("error_name(%d) is %s", code, names[i]), "got \"%s\"",
              n ? n : "(null)");
        check(s != NULL && s[0] != '\0', fmt("strerror(%d) is a non-empty string", code), "got %s",
              s ? "\"\"" : "NULL");
    }

    /* System errors are -errno, named like errno. */
    const char *n = shmemaphore_error_name(-ENOENT);
    const char *s = shmemaphore_strerror(-ENOENT);
    check(n && strcmp(n, "ENOENT") == 0, "error_name(-ENOENT) is ENOENT", "got \"%s\"", n ? n : "(null)");
    check(s && strcmp(s, strerror(ENOENT)) == 0, "strerror(-ENOENT) describes ENOENT", "got \"%s\"",
          s ? s : "(null)");
    n = shmemaphore_error_name(-ENOSPC);
    check(n && strcmp(n, "ENOSPC") == 0, "error_name(-ENOSPC) is ENOSPC", "got \"%s\"", n ? n : "(null)");
    n = shmemaphore_error_name(-EACCES);
    check(n && strcmp(n, "EACCES") == 0, "error_name(-EACCES) is EACCES", "got \"%s\"", n ? n : "(null)");

    n = shmemaphore_error_name(0);
    s = shmemaphore_strerror(0);
    check(n != NULL && s != NULL && s[0] != '\0', "error_name(0) and strerror(0) are not NULL", "name %s, text %s",
          n ? n : "(null)", s ? s : "(null)");
    printf("# error_name(0) = \"%s\", strerror(0) = \"%s\"\n", n ? n : "(null)", s ? s : "(null)");

    /* Codes that mean nothing. */
    static const int unknown[] = {12345, INT_MIN, INT_MAX, 1, ENOENT, -999, -1000, -1017, -5000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        int code = unknown[i];
        n = shmemaphore_error_name(code);
        s = shmemaphore_strerror(code);
        check(n != NULL && strcmp(n, "SHMEMAPHORE_E_UNKNOWN") == 0,
              fmt("error_name(%d) is SHMEMAPHORE_E_UNKNOWN", code), "got \"%s\"", n ? n : "(null)");
        check(s != NULL && s[0] != '\0', fmt("strerror(%d) is a non-empty string", code), "got %s",
              s ? "\"\"" : "NULL");
    }
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

static void test_options_init(void) {
    shmemaphore_options o;
    expect_code(shmemaphore_options_init(NULL, sizeof o), SHMEMAPHORE_E_INVALID_ARGUMENT, "options_init(NULL)");
    memset(&o, 0xAB, sizeof o);
    expect_code(shmemaphore_options_init(&o, SHMEMAPHORE_OPTIONS_MIN_SIZE - 1), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "options_init with a size below SHMEMAPHORE_OPTIONS_MIN_SIZE");
    check(o.struct_size == (size_t)0xABABABABABABABABull, "a refused options_init writes nothing", NULL);
    expect_code(shmemaphore_options_init(&o, 100000), SHMEMAPHORE_E_INVALID_ARGUMENT, "options_init with a huge size");
    /* A caller compiled with a larger struct (a newer header): the tail is zeroed. */
    {
        struct { shmemaphore_options base; unsigned char tail[24]; } big;
        memset(&big, 0xAB, sizeof big);
        expect_code(shmemaphore_options_init(&big.base, sizeof big), SHMEMAPHORE_OK, "options_init of a larger struct");
        int zero_tail = 1;
        for (size_t i = 0; i < sizeof big.tail; i++)
            zero_tail &= big.tail[i] == 0;
        check(zero_tail && big.base.struct_size == sizeof big, "options_init zeroes fields it does not know", NULL);
    }
    expect_code(shmemaphore_options_init(&o, sizeof o), SHMEMAPHORE_OK, "options_init");
    check(o.struct_size == sizeof o, "options_init sets struct_size to sizeof(shmemaphore_options)",
          "got %zu, expected %zu", o.struct_size, sizeof o);
    check(o.attach_timeout_ms == 5000, "options_init sets attach_timeout_ms 5000", "got %" PRId64,
          o.attach_timeout_ms);
    /* The header: "0 means the default, 0600"; either is the documented default. */
    check(o.mode == 0 || o.mode == 0600, "options_init sets mode 0 or 0600 (the default)", "got 0%o",
          (unsigned)o.mode);
    printf("# options_init writes mode 0%o\n", (unsigned)o.mode);
    check(o.stale_policy == SHMEMAPHORE_STALE_RESET, "options_init sets stale_policy STALE_RESET", "got %u",
          (unsigned)o.stale_policy);
    check(o.flags == 0 && o.reserved == 0, "options_init sets flags 0 and reserved 0", "flags %u, reserved %u",
          (unsigned)o.flags, (unsigned)o.reserved);
}

/* ------------------------------------------------------------------------ */
/* Opening: names and options                                               */
/* ------------------------------------------------------------------------ */

typedef int (*open_fn)(const char *, const shmemaphore_options *, shmemaphore_channel **);

/* An options struct compiled against a "newer header" with more fields. */
struct extended_options {
    shmemaphore_options base;
    unsigned char extra[24];
};

/* Calls `open` and expects `expected`; closes a channel opened by mistake,
 * and checks that `out` is left untouched on failure. */
static void open_expect(open_fn opener, const char *role, const char *name, const shmemaphore_options *o,
                        int expected, const char *what) {
    static char sentinel;
    shmemaphore_channel *ch = (shmemaphore_channel *)(void *)&sentinel;
    int rc = opener(name, o, &ch);
    expect_code(rc, expected, fmt("%s_open %s", role, what));
    if (rc == SHMEMAPHORE_OK) {
        if (ch != (shmemaphore_channel *)(void *)&sentinel)
            shmemaphore_close(ch);
    } else if (ch != (shmemaphore_channel *)(void *)&sentinel) {
        check(0, fmt("%s_open %s leaves out untouched", role, what), "out was changed to %p", (void *)ch);
    }
}

static void test_open_arguments_for(open_fn opener, const char *role) {
    shmemaphore_options o;
    char name[512];
    int client = strcmp(role, "client") == 0;

    /* Rejected options never reach the attach wait, but just in case a client
     * gets through, make it give up fast. */
    shmemaphore_options base = client_options(client ? 50 : WAIT_MS);

    expect_code(opener(NULL, NULL, &(shmemaphore_channel *){NULL}), SHMEMAPHORE_E_INVALID_ARGUMENT,
                fmt("%s_open NULL name", role));
    expect_code(opener(chan("nullout"), &base, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                fmt("%s_open NULL out", role));
    open_expect(opener, role, "", &base, SHMEMAPHORE_E_INVALID_NAME, "empty name");

    /* 201 bytes, starting with the prefix. */
    snprintf(name, sizeof name, "%s-", g_prefix);
    memset(name + strlen(name), 'n', 201 - strlen(name));
    name[201] = '\0';
    open_expect(opener, role, name, &base, SHMEMAPHORE_E_INVALID_NAME, "201-byte name");
    /* A very long name: the library must not scan it unbounded or crash. */
    {
        static char huge[70000];
        snprintf(huge, sizeof huge, "%s-", g_prefix);
        memset(huge + strlen(huge), 'h', sizeof huge - 1 - strlen(huge));
        huge[sizeof huge - 1] = '\0';
        open_expect(opener, role, huge, &base, SHMEMAPHORE_E_INVALID_NAME, "69999-byte name");
    }
    open_expect(opener, role, fmt("%s-new\nline", g_prefix), &base, SHMEMAPHORE_E_INVALID_NAME,
                "name with a newline");
    open_expect(opener, role, fmt("%s-tab\tx", g_prefix), &base, SHMEMAPHORE_E_INVALID_NAME, "name with a tab");
    open_expect(opener, role, fmt("%s-del\x7fx", g_prefix), &base, SHMEMAPHORE_E_INVALID_NAME,
                "name with DEL (0x7f)");
    open_expect(opener, role, fmt("%s-\x01", g_prefix), &base, SHMEMAPHORE_E_INVALID_NAME, "name with 0x01");
    open_expect(opener, role, fmt("%s-bad\xff", g_prefix), &base, SHMEMAPHORE_E_INVALID_NAME,
                "name with invalid UTF-8 (0xff)");
    open_expect(opener, role, fmt("%s-bad\xc3", g_prefix), &base, SHMEMAPHORE_E_INVALID_NAME,
                "name with a truncated UTF-8 sequence (0xc3)");

    /* Malformed options. */
    o = base;
    o.struct_size = 0;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "options.struct_size 0");
    o.struct_size = 1;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "options.struct_size 1");
    o.struct_size = sizeof o - 1;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "options.struct_size sizeof-1");
    o.struct_size = SIZE_MAX;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "options.struct_size SIZE_MAX");
    {
        struct extended_options x;
        memset(&x, 0, sizeof x);
        x.base = base;
        x.base.struct_size = sizeof x.base + sizeof x.extra;
        x.extra[sizeof x.extra - 1] = 1;
        open_expect(opener, role, chan("opt"), &x.base, SHMEMAPHORE_E_INVALID_ARGUMENT,
                    "larger options struct with a non-zero unknown field");
    }
    o = base;
    o.mode = 0666;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "mode 0666 (world bits)");
    o.mode = 0602;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "mode 0602 (other-write)");
    o.mode = 01600;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "mode 01600 (sticky bit)");
    o = base;
    o.flags = 0x8; /* the lowest bit no SHMEMAPHORE_FLAG_* uses */
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "unknown flag 0x8");
    o.flags = SHMEMAPHORE_FLAG_BLOCKING_WAIT | 0x8;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT,
                "a known flag together with unknown flag 0x8");
    o.flags = 0x80000000u;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "unknown flag 0x80000000");
    o = base;
    o.stale_policy = 7;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "stale_policy 7");
    o = base;
    o.reserved = 1;
    open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "reserved 1");
    if (client) {
        o = base;
        o.attach_timeout_ms = -5;
        open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "attach_timeout_ms -5");
        o.attach_timeout_ms = INT64_MIN;
        open_expect(opener, role, chan("opt"), &o, SHMEMAPHORE_E_INVALID_ARGUMENT, "attach_timeout_ms INT64_MIN");
    }
    check(objects_present(chan("opt")) == 0, fmt("rejected %s_open calls leave no objects", role),
          "%d objects of %s exist", objects_present(chan("opt")), chan("opt"));
}

static void test_open_arguments(void) {
    test_open_arguments_for(shmemaphore_server_open, "server");
    test_open_arguments_for(shmemaphore_client_open, "client");
}

/* Names and options that must be accepted. */
static void test_open_accepted(void) {
    shmemaphore_channel *s = NULL, *c = NULL;
    shmemaphore_options o = client_options(WAIT_MS);
    char name[512];
    int rc;

    /* Exactly 200 bytes is the limit, and allowed. */
    snprintf(name, sizeof name, "%s-", g_prefix);
    memset(name + strlen(name), 'm', 200 - strlen(name));
    name[200] = '\0';
    rc = shmemaphore_server_open(name, NULL, &s);
    if (expect_code(rc, SHMEMAPHORE_OK, "server_open 200-byte name"))
        check(objects_present(name) == 4, "a 200-byte name creates all four objects", "%d exist",
              objects_present(name));
    shmemaphore_close(s);
    s = NULL;
    check(objects_present(name) == 0, "closing the 200-byte-name server removes its objects", "%d remain",
          objects_present(name));

    /* Multi-byte UTF-8 is allowed. */
    rc = shmemaphore_server_open(chan("caf\xc3\xa9-\xe2\x9c\x93"), NULL, &s);
    expect_code(rc, SHMEMAPHORE_OK, "server_open name with valid multi-byte UTF-8");
    shmemaphore_close(s);
    s = NULL;

    /* A '/' after the first byte is refused: the original apps made it '_',
     * so "a/b" and "a_b" would be one channel. */
    expect_code(shmemaphore_server_open(chan("sl/ash"), NULL, &s), SHMEMAPHORE_E_INVALID_NAME,
                "server_open name with '/' inside");
    expect_code(shmemaphore_client_open(chan("sl/ash"), &o, &c), SHMEMAPHORE_E_INVALID_NAME,
                "client_open name with '/' inside");
    check(objects_present(chan("sl_ash")) == 0, "a refused name creates nothing", "%d exist",
          objects_present(chan("sl_ash")));
    /* One leading '/' is dropped, as in POSIX object names: "/x" and "x" are one channel. */
    rc = shmemaphore_server_open(fmt("/%s", chan("lead")), NULL, &s);
    if (expect_code(rc, SHMEMAPHORE_OK, "server_open name with a leading '/'")) {
        check(objects_present(chan("lead")) == 4, "a leading '/' is not part of the object names", "%d of %s exist",
              objects_present(chan("lead")), chan("lead"));
        rc = shmemaphore_client_open(chan("lead"), &o, &c);
        if (expect_code(rc, SHMEMAPHORE_OK, "client_open without '/' attaches to the server opened with '/'")) {
            struct pair p = {s, c};
            exchange(&p, "a round trip works across the \"/x\" and \"x\" spellings");
            shmemaphore_close(c);
        }
    }
    shmemaphore_close(s);
    s = NULL;
    check(objects_present(chan("lead")) == 0, "closing the '/' server removes its objects", "%d remain",
          objects_present(chan("lead")));

    /* A larger struct whose unknown fields are zero is accepted, by both roles. */
    {
        struct extended_options x;
        memset(&x, 0, sizeof x);
        shmemaphore_options_init(&x.base, sizeof x.base);
        x.base.struct_size = sizeof x.base + sizeof x.extra;
        x.base.attach_timeout_ms = WAIT_MS;
        rc = shmemaphore_server_open(chan("ext"), &x.base, &s);
        if (expect_code(rc, SHMEMAPHORE_OK, "server_open larger options struct with zero unknown fields")) {
            rc = shmemaphore_client_open(chan("ext"), &x.base, &c);
            expect_code(rc, SHMEMAPHORE_OK, "client_open larger options struct with zero unknown fields");
            shmemaphore_close(c);
            c = NULL;
        }
        shmemaphore_close(s);
        s = NULL;
    }

    /* NULL options are the defaults; STALE_FAIL on a fresh name works;
     * ALLOW_FOREIGN_OWNER is a known flag. */
    rc = shmemaphore_server_open(chan("nullopt"), NULL, &s);
    expect_code(rc, SHMEMAPHORE_OK, "server_open NULL options");
    shmemaphore_close(s);
    s = NULL;
    o = client_options(WAIT_MS);
    o.stale_policy = SHMEMAPHORE_STALE_FAIL;
    o.flags = SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER;
    rc = shmemaphore_server_open(chan("fresh"), &o, &s);
    expect_code(rc, SHMEMAPHORE_OK, "server_open STALE_FAIL + ALLOW_FOREIGN_OWNER on a fresh name");
    shmemaphore_close(s);
    s = NULL;

    /* BLOCKING_WAIT and CHECK_EVERY_TURN are known flags, alone and with
     * every other flag, for both roles; a round trip proves the channel they
     * open works (each on a fresh name, removed again). */
    {
        static const struct {
            uint32_t flags;
            const char *label, *suffix;
        } cases[] = {
            {SHMEMAPHORE_FLAG_BLOCKING_WAIT, "BLOCKING_WAIT", "fl-block"},
            {SHMEMAPHORE_FLAG_CHECK_EVERY_TURN, "CHECK_EVERY_TURN", "fl-check"},
            {SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER | SHMEMAPHORE_FLAG_BLOCKING_WAIT |
                 SHMEMAPHORE_FLAG_CHECK_EVERY_TURN,
             "all three flags", "fl-all"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const char *name = chan(cases[i].suffix);
            o = client_options(WAIT_MS);
            o.flags = cases[i].flags;
            rc = shmemaphore_server_open(name, &o, &s);
            if (expect_code(rc, SHMEMAPHORE_OK, fmt("server_open with %s", cases[i].label))) {
                rc = shmemaphore_client_open(name, &o, &c);
                if (expect_code(rc, SHMEMAPHORE_OK, fmt("client_open with %s", cases[i].label))) {
                    struct pair p = {s, c};
                    exchange(&p, fmt("a round trip works with %s on both sides", cases[i].label));
                    shmemaphore_close(c);
                    c = NULL;
                }
            }
            shmemaphore_close(s);
            s = NULL;
            check(objects_present(name) == 0, fmt("closing the %s server removes its objects", cases[i].label),
                  "%d remain", objects_present(name));
        }
    }

    /* The flags are per side: a blocking, checking server works with a
     * default client, and the other way round. */
    o = client_options(WAIT_MS);
    o.flags = SHMEMAPHORE_FLAG_BLOCKING_WAIT | SHMEMAPHORE_FLAG_CHECK_EVERY_TURN;
    {
        shmemaphore_options plain = client_options(WAIT_MS);
        const shmemaphore_options *server_o[2] = {&o, &plain}, *client_o[2] = {&plain, &o};
        const char *labels[2] = {"flagged server, default client", "default server, flagged client"};
        for (int i = 0; i < 2; i++) {
            const char *name = chan(fmt("fl-mixed%d", i));
            rc = shmemaphore_server_open(name, server_o[i], &s);
            if (require_ok(rc, fmt("setup: server_open %s", name))) {
                rc = shmemaphore_client_open(name, client_o[i], &c);
                if (require_ok(rc, fmt("setup: client_open %s", name))) {
                    struct pair p = {s, c};
                    exchange(&p, fmt("a round trip works with a %s", labels[i]));
                    shmemaphore_close(c);
                    c = NULL;
                }
            }
            shmemaphore_close(s);
            s = NULL;
        }
    }
}

/* Modes are applied regardless of umask; 0600 refuses group-writable objects. */
static void test_modes(void) {
    shmemaphore_channel *s = NULL, *c = NULL;
    shmemaphore_options o;
    mode_t old = umask(0);
    int rc, mode;

    rc = shmemaphore_server_open(chan("mode600"), NULL, &s);
    if (expect_code(rc, SHMEMAPHORE_OK, "server_open default mode under umask 000")) {
        static const char *const formats[] = {"/dev/shm/sem.SEM_%s_REQ", "/dev/shm/sem.SEM_%s_RES",
                                              "/dev/shm/SEG_%s_HEAD", "/dev/shm/SEG_%s_DATA"};
        for (int i = 0; i < 4; i++) {
            mode = object_mode(formats[i], chan("mode600"));
            check(mode == 0600, fmt("default mode: %s is 0600 under umask 000", formats[i] + 9), "got 0%o", mode);
        }
    }
    shmemaphore_close(s);
    s = NULL;

    umask(077);
    shmemaphore_options_init(&o, sizeof o);
    o.mode = 0660;
    rc = shmemaphore_server_open(chan("mode660"), &o, &s);
    if (expect_code(rc, SHMEMAPHORE_OK, "server_open mode 0660 under umask 077")) {
        mode = object_mode("/dev/shm/SEG_%s_DATA", chan("mode660"));
        check(mode == 0660, "mode 0660: DATA segment is 0660 under umask 077", "got 0%o", mode);
        mode = object_mode("/dev/shm/sem.SEM_%s_REQ", chan("mode660"));
        check(mode == 0660, "mode 0660: REQ semaphore is 0660 under umask 077", "got 0%o", mode);

        shmemaphore_options co = client_options(200);
        rc = shmemaphore_client_open(chan("mode660"), &co, &c);
        expect_code(rc, SHMEMAPHORE_E_UNSAFE_PERMISSIONS,
                    "client_open mode 0600 refuses a group-writable (0660) channel");
        if (rc == SHMEMAPHORE_OK)
            shmemaphore_close(c);
        c = NULL;
        co.mode = 0660;
        rc = shmemaphore_client_open(chan("mode660"), &co, &c);
        expect_code(rc, SHMEMAPHORE_OK, "client_open mode 0660 accepts a 0660 channel");
        shmemaphore_close(c);
        c = NULL;
    }
    shmemaphore_close(s);
    umask(old);
}

/* A client with no server gives up after its attach timeout, cleanly. */
static void test_attach_timeout(void) {
    static char sentinel;
    shmemaphore_channel *c = (shmemaphore_channel *)(void *)&sentinel;
    shmemaphore_options o = client_options(50);
    int64_t start = now_ms();
    int rc = shmemaphore_client_open(chan("noserver"), &o, &c);
    int64_t elapsed = now_ms() - start;
    printf("# client_open with attach timeout 50 ms returned after %" PRId64 " ms\n", elapsed);
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "client_open attach_timeout_ms 50 with no server");
    if (rc == SHMEMAPHORE_OK && c != (shmemaphore_channel *)(void *)&sentinel)
        shmemaphore_close(c);
    else
        check(c == (shmemaphore_channel *)(void *)&sentinel, "client_open timeout leaves out untouched",
              "out changed to %p", (void *)c);
    check(elapsed >= 45 && elapsed < LATE_MS, "client_open attach timeout 50 ms takes about 50 ms", "took %" PRId64 " ms",
          elapsed);
    check(objects_present(chan("noserver")) == 0, "client_open timeout leaves no /dev/shm objects",
          "%d objects remain", objects_present(chan("noserver")));

    o.attach_timeout_ms = 0;
    rc = shmemaphore_client_open(chan("noserver0"), &o, &c);
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "client_open attach_timeout_ms 0 (poll once) with no server");
    if (rc == SHMEMAPHORE_OK)
        shmemaphore_close(c);
    check(objects_present(chan("noserver0")) == 0, "client_open poll-once timeout leaves no /dev/shm objects",
          "%d objects remain", objects_present(chan("noserver0")));
}

static void test_close_and_role(void) {
    struct pair p;
    shmemaphore_close(NULL);
    check(1, "close(NULL) is ignored", NULL);
    expect_code(shmemaphore_channel_role(NULL), SHMEMAPHORE_E_INVALID_ARGUMENT, "channel_role(NULL)");
    if (!open_pair(chan("role"), &p))
        return;
    expect_code(shmemaphore_channel_role(p.server), SHMEMAPHORE_ROLE_SERVER, "channel_role of a server");
    expect_code(shmemaphore_channel_role(p.client), SHMEMAPHORE_ROLE_CLIENT, "channel_role of a client");
    close_pair(&p);

    /* Handles are checked, not dereferenced: a closed handle, a second close
     * and a made-up handle are clean errors, not crashes. */
    shmemaphore_channel *closed = NULL;
    if (!expect_code(shmemaphore_server_open(chan("closed"), NULL, &closed), SHMEMAPHORE_OK, "setup: server_open"))
        return;
    shmemaphore_close(closed);
    shmemaphore_close(closed);
    check(1, "a second close of the same handle is ignored", NULL);
    expect_code(shmemaphore_send_request(closed, "x", 1), SHMEMAPHORE_E_INVALID_ARGUMENT, "send_request on a closed handle");
    expect_code(shmemaphore_channel_role(closed), SHMEMAPHORE_E_INVALID_ARGUMENT, "channel_role of a closed handle");
    shmemaphore_channel *made_up = (shmemaphore_channel *)(uintptr_t)0x12345670u;
    expect_code(shmemaphore_send_request(made_up, "x", 1), SHMEMAPHORE_E_INVALID_ARGUMENT, "send_request on a made-up handle");
    shmemaphore_close(made_up);
    check(1, "close of a made-up handle is ignored", NULL);
    check(objects_present(chan("closed")) == 0, "the closed server left nothing", "%d remain", objects_present(chan("closed")));
}

/* ------------------------------------------------------------------------ */
/* Round trips in one thread                                                */
/* ------------------------------------------------------------------------ */

static void test_round_trip(void) {
    struct pair p;
    const uint8_t *req = NULL;
    uint64_t len = 99;
    shmemaphore_response r;
    void *buf = NULL;
    int rc;

    if (!open_pair(chan("rt"), &p))
        return;

    /* Request "abc", image answer through reserve + commit. */
    expect_code(shmemaphore_send_request(p.server, "abc", 3), SHMEMAPHORE_OK, "server send_request \"abc\"");
    rc = shmemaphore_receive_request(p.client, WAIT_MS, &req, &len);
    if (expect_code(rc, SHMEMAPHORE_OK, "client receive_request"))
        check(len == 3 && req && memcmp(req, "abc", 3) == 0, "client receives length 3 and the bytes \"abc\"",
              "length %" PRIu64, len);
    rc = shmemaphore_reserve(p.client, 6, &buf);
    if (expect_code(rc, SHMEMAPHORE_OK, "client reserve 6") && check(buf != NULL, "reserve returns a buffer", "NULL"))
        memcpy(buf, "\x01\x02\x03\x04\x05\x06", 6);
    shmemaphore_metadata img = {6, 2, 1, 3};
    expect_code(shmemaphore_commit(p.client, &img), SHMEMAPHORE_OK, "client commit image {6,2,1,3}");
    memset(&r, 0, sizeof r);
    rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
    if (expect_code(rc, SHMEMAPHORE_OK, "server receive_response (image)")) {
        check(r.kind == SHMEMAPHORE_PAYLOAD_IMAGE, "response kind is IMAGE", "kind %u", r.kind);
        check(r.metadata.bytes == 6 && r.metadata.width == 2 && r.metadata.height == 1 && r.metadata.channels == 3,
              "response metadata is {6,2,1,3}", "{%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "}", r.metadata.bytes,
              r.metadata.width, r.metadata.height, r.metadata.channels);
        check(r.error_code == 0, "image response error_code is 0", "%" PRIu64, r.error_code);
        check(r.data && memcmp(r.data, "\x01\x02\x03\x04\x05\x06", 6) == 0, "image response bytes match", NULL);
    }

    /* Error with a message. */
    if (deliver(&p, "err", 3)) {
        expect_code(shmemaphore_send_error(p.client, 1, "nope"), SHMEMAPHORE_OK, "client send_error(1, \"nope\")");
        memset(&r, 0, sizeof r);
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        expect_code(rc, SHMEMAPHORE_E_PEER_ERROR, "server receive_response after send_error");
        check(r.kind == SHMEMAPHORE_PAYLOAD_ERROR && r.error_code == 1,
              "error response: kind ERROR, error_code 1", "kind %u, code %" PRIu64, r.kind, r.error_code);
        check(r.metadata.bytes == 4 && r.data && memcmp(r.data, "nope", 4) == 0,
              "error response: data \"nope\", bytes 4", "bytes %" PRIu64, r.metadata.bytes);
        check(r.metadata.width == 1 && r.metadata.height == 0 && r.metadata.channels == SHMEMAPHORE_CHANNELS_ERROR,
              "error response: wire words {4, 1, 0, UINT64_MAX}", "{%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "}",
              r.metadata.bytes, r.metadata.width, r.metadata.height, r.metadata.channels);
    }

    /* Error with NULL message, and a large code. */
    if (deliver(&p, "err", 3)) {
        expect_code(shmemaphore_send_error(p.client, UINT64_MAX - 1, NULL), SHMEMAPHORE_OK,
                    "client send_error(UINT64_MAX-1, NULL)");
        memset(&r, 0, sizeof r);
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        expect_code(rc, SHMEMAPHORE_E_PEER_ERROR, "server receive_response after send_error with NULL message");
        check(r.metadata.bytes == 0 && r.data != NULL && r.error_code == UINT64_MAX - 1,
              "NULL message: bytes 0, data non-NULL, code kept", "bytes %" PRIu64 ", data %p, code %" PRIu64,
              r.metadata.bytes, (const void *)r.data, r.error_code);
    }

    /* Raw bytes. */
    if (deliver(&p, "raw", 3)) {
        shmemaphore_metadata m = {5, 0, 0, 0};
        expect_code(shmemaphore_send_response(p.client, &m, "hello"), SHMEMAPHORE_OK,
                    "client send_response bytes {5,0,0,0}");
        memset(&r, 0, sizeof r);
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receive_response (bytes)"))
            check(r.kind == SHMEMAPHORE_PAYLOAD_BYTES && r.metadata.bytes == 5 && r.data &&
                      memcmp(r.data, "hello", 5) == 0,
                  "bytes response: kind BYTES, 5 bytes \"hello\"", "kind %u, bytes %" PRIu64, r.kind,
                  r.metadata.bytes);
    }

    /* Empty request, empty bytes response with a NULL payload. */
    expect_code(shmemaphore_send_request(p.server, NULL, 0), SHMEMAPHORE_OK, "server send_request(NULL, 0)");
    req = NULL;
    len = 99;
    rc = shmemaphore_receive_request(p.client, WAIT_MS, &req, &len);
    if (expect_code(rc, SHMEMAPHORE_OK, "client receive_request of an empty request"))
        check(len == 0 && req != NULL, "empty request: length 0, non-NULL pointer", "length %" PRIu64 ", pointer %p",
              len, (const void *)req);
    {
        shmemaphore_metadata m = {0, 0, 0, 0};
        expect_code(shmemaphore_send_response(p.client, &m, NULL), SHMEMAPHORE_OK,
                    "client send_response zero-length bytes with NULL payload");
        memset(&r, 0, sizeof r);
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receive_response (empty bytes)"))
            check(r.kind == SHMEMAPHORE_PAYLOAD_BYTES && r.metadata.bytes == 0 && r.data != NULL,
                  "empty bytes response: kind BYTES, bytes 0, data non-NULL", "kind %u, bytes %" PRIu64 ", data %p",
                  r.kind, r.metadata.bytes, (const void *)r.data);
    }

    /* Reserve 0 + commit of an empty bytes response. */
    if (deliver(&p, "zero", 4)) {
        shmemaphore_metadata m = {0, 0, 0, 0};
        buf = NULL;
        expect_code(shmemaphore_reserve(p.client, 0, &buf), SHMEMAPHORE_OK, "client reserve 0");
        expect_code(shmemaphore_commit(p.client, &m), SHMEMAPHORE_OK, "client commit {0,0,0,0} after reserve 0");
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        expect_code(rc, SHMEMAPHORE_OK, "server receive_response (reserve 0)");
    }

    /* A commit of fewer bytes than reserved. */
    if (deliver(&p, "less", 4)) {
        shmemaphore_metadata m = {3, 0, 0, 0};
        buf = NULL;
        if (expect_code(shmemaphore_reserve(p.client, 100, &buf), SHMEMAPHORE_OK, "client reserve 100") && buf)
            memcpy(buf, "xyz", 3);
        expect_code(shmemaphore_commit(p.client, &m), SHMEMAPHORE_OK, "client commit 3 of 100 reserved bytes");
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receive_response (partial commit)"))
            check(r.metadata.bytes == 3 && memcmp(r.data, "xyz", 3) == 0, "partial commit delivers 3 bytes",
                  "bytes %" PRIu64, r.metadata.bytes);
    }

    /* Payloads larger than the initial 4096-byte segment. */
    {
        enum { REQ_SIZE = 100000, W = 640, H = 480, C = 4 };
        uint8_t *big = malloc(REQ_SIZE);
        for (size_t i = 0; i < REQ_SIZE; i++)
            big[i] = (uint8_t)(i * 7 + 3);
        expect_code(shmemaphore_send_request(p.server, big, REQ_SIZE), SHMEMAPHORE_OK,
                    "server send_request of 100000 bytes");
        rc = shmemaphore_receive_request(p.client, WAIT_MS, &req, &len);
        if (expect_code(rc, SHMEMAPHORE_OK, "client receive_request of 100000 bytes"))
            check(len == REQ_SIZE && memcmp(req, big, REQ_SIZE) == 0, "100000-byte request arrives intact",
                  "length %" PRIu64, len);
        buf = NULL;
        rc = shmemaphore_reserve(p.client, (uint64_t)W * H * C, &buf);
        if (expect_code(rc, SHMEMAPHORE_OK, "client reserve 640x480x4") && buf)
            for (size_t i = 0; i < (size_t)W * H * C; i++)
                ((uint8_t *)buf)[i] = (uint8_t)(i * 13 + 1);
        shmemaphore_metadata m = {(uint64_t)W * H * C, W, H, C};
        expect_code(shmemaphore_commit(p.client, &m), SHMEMAPHORE_OK, "client commit 640x480x4 image");
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receive_response (640x480x4)")) {
            int same = r.metadata.bytes == (uint64_t)W * H * C;
            for (size_t i = 0; same && i < (size_t)W * H * C; i++)
                same = r.data[i] == (uint8_t)(i * 13 + 1);
            check(same, "640x480x4 image arrives intact", "bytes %" PRIu64, r.metadata.bytes);
        }
        free(big);
    }

    /* shmemaphore_request = send + receive: with timeout 0 the request stays outstanding. */
    memset(&r, 0, sizeof r);
    rc = shmemaphore_request(p.server, "rq", 2, 0, &r);
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "server request(\"rq\", timeout 0) before the client answers");
    rc = shmemaphore_receive_request(p.client, WAIT_MS, &req, &len);
    if (expect_code(rc, SHMEMAPHORE_OK, "client receive_request after request()"))
        check(len == 2 && memcmp(req, "rq", 2) == 0, "request() sent the bytes \"rq\"", "length %" PRIu64, len);
    finish(&p, "the response to request() is received by receive_response");
    /* request(out NULL) must not leave a request outstanding. */
    expect_code(shmemaphore_request(p.server, "rq", 2, 0, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "server request with out NULL");
    expect_code(shmemaphore_receive_request(p.client, 0, &req, &len), SHMEMAPHORE_E_TIMEOUT,
                "request with out NULL sent nothing");
    exchange(&p, "channel usable after request with out NULL");
    /* The same for a bad timeout: a rejected request() must not send anything
     * (otherwise the caller, told "invalid argument", is stuck in WRONG_STATE). */
    expect_code(shmemaphore_request(p.server, "rq", 2, -2, &r), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "server request with timeout -2");
    rc = shmemaphore_receive_request(p.client, 0, &req, &len);
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "request with timeout -2 sent nothing");
    if (rc == SHMEMAPHORE_OK) {
        finish(&p, "finish the exchange the rejected request() started");
    } else {
        rc = shmemaphore_send_request(p.server, "ok", 2);
        expect_code(rc, SHMEMAPHORE_OK, "server can send a request after request with timeout -2");
        if (rc == SHMEMAPHORE_OK && shmemaphore_receive_request(p.client, WAIT_MS, &req, &len) == SHMEMAPHORE_OK)
            finish(&p, "channel usable after request with timeout -2");
    }

    close_pair(&p);
}

/* ------------------------------------------------------------------------ */
/* Roles, states, timeouts                                                  */
/* ------------------------------------------------------------------------ */

static void test_null_channel(void) {
    shmemaphore_response r;
    shmemaphore_metadata m = {0, 0, 0, 0};
    const uint8_t *req;
    uint64_t len;
    void *buf;
    expect_code(shmemaphore_send_request(NULL, "x", 1), SHMEMAPHORE_E_INVALID_ARGUMENT, "send_request(NULL channel)");
    expect_code(shmemaphore_receive_response(NULL, 0, &r), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "receive_response(NULL channel)");
    expect_code(shmemaphore_request(NULL, "x", 1, 0, &r), SHMEMAPHORE_E_INVALID_ARGUMENT, "request(NULL channel)");
    expect_code(shmemaphore_receive_request(NULL, 0, &req, &len), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "receive_request(NULL channel)");
    expect_code(shmemaphore_send_response(NULL, &m, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "send_response(NULL channel)");
    expect_code(shmemaphore_send_error(NULL, 0, "x"), SHMEMAPHORE_E_INVALID_ARGUMENT, "send_error(NULL channel)");
    expect_code(shmemaphore_reserve(NULL, 1, &buf), SHMEMAPHORE_E_INVALID_ARGUMENT, "reserve(NULL channel)");
    expect_code(shmemaphore_commit(NULL, &m), SHMEMAPHORE_E_INVALID_ARGUMENT, "commit(NULL channel)");
    expect_code(shmemaphore_send_image_file(NULL, "/nonexistent.png", NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "send_image_file(NULL channel)");
}

static void test_wrong_role(void) {
    struct pair p;
    shmemaphore_response r;
    shmemaphore_metadata m = {1, 0, 0, 0};
    const uint8_t *req;
    uint64_t len;
    void *buf = NULL;
    if (!open_pair(chan("wrongrole"), &p))
        return;
    expect_code(shmemaphore_send_request(p.client, "x", 1), SHMEMAPHORE_E_WRONG_ROLE, "client send_request");
    expect_code(shmemaphore_receive_response(p.client, 0, &r), SHMEMAPHORE_E_WRONG_ROLE, "client receive_response");
    expect_code(shmemaphore_request(p.client, "x", 1, 0, &r), SHMEMAPHORE_E_WRONG_ROLE, "client request");
    expect_code(shmemaphore_receive_request(p.server, 0, &req, &len), SHMEMAPHORE_E_WRONG_ROLE,
                "server receive_request");
    expect_code(shmemaphore_send_response(p.server, &m, "x"), SHMEMAPHORE_E_WRONG_ROLE, "server send_response");
    expect_code(shmemaphore_send_error(p.server, 1, "x"), SHMEMAPHORE_E_WRONG_ROLE, "server send_error");
    expect_code(shmemaphore_reserve(p.server, 1, &buf), SHMEMAPHORE_E_WRONG_ROLE, "server reserve");
    expect_code(shmemaphore_commit(p.server, &m), SHMEMAPHORE_E_WRONG_ROLE, "server commit");
    /* The same calls while a request is outstanding / held. */
    if (deliver(&p, "x", 1)) {
        expect_code(shmemaphore_send_request(p.client, "x", 1), SHMEMAPHORE_E_WRONG_ROLE,
                    "client send_request while holding a request");
        expect_code(shmemaphore_send_response(p.server, &m, "x"), SHMEMAPHORE_E_WRONG_ROLE,
                    "server send_response while a request is outstanding");
        expect_code(shmemaphore_send_error(p.server, 1, NULL), SHMEMAPHORE_E_WRONG_ROLE,
                    "server send_error while a request is outstanding");
        finish(&p, "channel usable after wrong-role calls");
    }
    close_pair(&p);
}

static void test_wrong_state(void) {
    struct pair p;
    shmemaphore_response r;
    shmemaphore_metadata m = {1, 0, 0, 0};
    const uint8_t *req;
    uint64_t len;
    void *buf = NULL;
    if (!open_pair(chan("wrongstate"), &p))
        return;

    expect_code(shmemaphore_receive_response(p.server, 0, &r), SHMEMAPHORE_E_WRONG_STATE,
                "server receive_response before any request");
    expect_code(shmemaphore_send_response(p.client, &m, "x"), SHMEMAPHORE_E_WRONG_STATE,
                "client send_response with no request held");
    expect_code(shmemaphore_send_error(p.client, 1, "x"), SHMEMAPHORE_E_WRONG_STATE,
                "client send_error with no request held");
    expect_code(shmemaphore_reserve(p.client, 1, &buf), SHMEMAPHORE_E_WRONG_STATE,
                "client reserve with no request held");
    expect_code(shmemaphore_commit(p.client, &m), SHMEMAPHORE_E_WRONG_STATE, "client commit with no request held");

    expect_code(shmemaphore_send_request(p.server, "one", 3), SHMEMAPHORE_OK, "server send_request (first)");
    /* A new request gives up the unanswered one (PROTOCOL.md, "Giving up a request"). */
    expect_code(shmemaphore_send_request(p.server, "two", 3), SHMEMAPHORE_OK,
                "server send_request twice without receive gives up the first");
    expect_code(shmemaphore_request(p.server, "six", 3, 0, &r), SHMEMAPHORE_E_TIMEOUT,
                "server request() while a request is outstanding gives it up and sends anew");
    if (expect_code(shmemaphore_receive_request(p.client, WAIT_MS, &req, &len), SHMEMAPHORE_OK,
                    "client receive_request (after two given-up requests)"))
        check(len == 3 && memcmp(req, "six", 3) == 0, "the client gets the newest request, not a given-up one",
              "length %" PRIu64 " \"%.*s\"", len, (int)(len < 16 ? len : 16), (const char *)req);
    expect_code(shmemaphore_receive_request(p.client, 0, &req, &len), SHMEMAPHORE_E_WRONG_STATE,
                "client receive_request while holding one");
    expect_code(shmemaphore_commit(p.client, &m), SHMEMAPHORE_E_WRONG_STATE,
                "client commit without reserve (request held)");
    expect_code(shmemaphore_reserve(p.client, 4, &buf), SHMEMAPHORE_OK, "client reserve 4");
    expect_code(shmemaphore_receive_request(p.client, 0, &req, &len), SHMEMAPHORE_E_WRONG_STATE,
                "client receive_request while a buffer is reserved");
    {
        shmemaphore_metadata done = {4, 0, 0, 0};
        memcpy(buf, "done", 4);
        expect_code(shmemaphore_commit(p.client, &done), SHMEMAPHORE_OK, "client commit after reserve");
        memset(&r, 0, sizeof r);
        int rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receive_response after the wrong-state calls"))
            check(r.metadata.bytes == 4 && memcmp(r.data, "done", 4) == 0, "the committed answer arrives",
                  "bytes %" PRIu64, r.metadata.bytes);
    }
    expect_code(shmemaphore_commit(p.client, &m), SHMEMAPHORE_E_WRONG_STATE, "client commit twice");
    expect_code(shmemaphore_receive_response(p.server, 0, &r), SHMEMAPHORE_E_WRONG_STATE,
                "server receive_response twice");
    exchange(&p, "channel usable after the wrong-state calls");
    close_pair(&p);
}

static void test_timeouts(void) {
    struct pair p;
    shmemaphore_response r, before;
    static const uint8_t sentinel[] = "sentinel";
    const uint8_t *req = sentinel;
    uint64_t len = 4242;
    int64_t start, elapsed;
    int rc;
    if (!open_pair(chan("timeout"), &p))
        return;

    rc = shmemaphore_receive_request(p.client, 0, &req, &len);
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "client receive_request timeout 0 with nothing pending");
    check(len == 4242 && req == sentinel, "receive_request timeout leaves out-params untouched",
          "length %" PRIu64, len);
    start = now_ms();
    rc = shmemaphore_receive_request(p.client, 20, &req, &len);
    elapsed = now_ms() - start;
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "client receive_request timeout 20 with nothing pending");
    printf("# receive_request timeout 20 ms returned after %" PRId64 " ms\n", elapsed);
    expect_code(shmemaphore_receive_request(p.client, -2, &req, &len), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "client receive_request timeout -2");
    expect_code(shmemaphore_receive_request(p.client, INT64_MIN, &req, &len), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "client receive_request timeout INT64_MIN");
    expect_code(shmemaphore_receive_request(p.client, 0, NULL, &len), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "client receive_request NULL request pointer");
    expect_code(shmemaphore_receive_request(p.client, 0, &req, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "client receive_request NULL length pointer");

    expect_code(shmemaphore_send_request(p.server, "slow", 4), SHMEMAPHORE_OK, "server send_request \"slow\"");
    /* NULL out-params must not consume the pending request. */
    expect_code(shmemaphore_receive_request(p.client, 1000, NULL, &len), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "client receive_request NULL request pointer with a request pending");
    expect_code(shmemaphore_receive_response(p.server, -2, &r), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "server receive_response timeout -2");
    expect_code(shmemaphore_receive_response(p.server, 0, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "server receive_response out NULL");
    memset(&r, 0xA5, sizeof r);
    before = r;
    rc = shmemaphore_receive_response(p.server, 0, &r);
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "server receive_response timeout 0 before the client answers");
    check(memcmp(&r, &before, sizeof r) == 0, "receive_response timeout leaves out untouched", "out was modified");
    start = now_ms();
    rc = shmemaphore_receive_response(p.server, 20, &r);
    elapsed = now_ms() - start;
    expect_code(rc, SHMEMAPHORE_E_TIMEOUT, "server receive_response timeout 20 before the client answers");
    printf("# receive_response timeout 20 ms returned after %" PRId64 " ms\n", elapsed);
    check(elapsed >= 15 && elapsed < LATE_MS, "receive_response timeout 20 ms takes about 20 ms", "took %" PRId64 " ms",
          elapsed);
    /* The request is still outstanding: wait on for it, or give it up with a new one. */
    expect_code(shmemaphore_send_request(p.server, "more", 4), SHMEMAPHORE_OK,
                "server send_request after a timed-out receive gives the old request up");

    rc = shmemaphore_receive_request(p.client, WAIT_MS, &req, &len);
    if (expect_code(rc, SHMEMAPHORE_OK, "client receive_request after the server gave up a request"))
        check(len == 4 && memcmp(req, "more", 4) == 0, "the client gets the new request \"more\"", "length %" PRIu64, len);
    {
        shmemaphore_metadata m = {4, 0, 0, 0};
        expect_code(shmemaphore_send_response(p.client, &m, "late"), SHMEMAPHORE_OK, "client answers late");
        /* A huge timeout must not overflow into "already expired" or a hang. */
        memset(&r, 0, sizeof r);
        rc = shmemaphore_receive_response(p.server, INT64_MAX, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receive_response (timeout INT64_MAX) gets the late answer"))
            check(r.metadata.bytes == 4 && memcmp(r.data, "late", 4) == 0, "the late answer is \"late\"",
                  "bytes %" PRIu64, r.metadata.bytes);
    }
    /* Same with an infinite timeout on both sides, where data is already there. */
    expect_code(shmemaphore_send_request(p.server, "inf", 3), SHMEMAPHORE_OK, "server send_request \"inf\"");
    rc = shmemaphore_receive_request(p.client, SHMEMAPHORE_TIMEOUT_INFINITE, &req, &len);
    expect_code(rc, SHMEMAPHORE_OK, "client receive_request timeout INFINITE with a request pending");
    if (rc == SHMEMAPHORE_OK)
        finish(&p, "server receive_response after an INFINITE-timeout receive_request");
    close_pair(&p);
}

/* ------------------------------------------------------------------------ */
/* Bad sizes and metadata                                                   */
/* ------------------------------------------------------------------------ */

static void test_bad_metadata(void) {
    static const uint8_t pixels[16] = {0};
    struct pair p;
    void *buf = NULL;
    int rc;
    if (!open_pair(chan("meta"), &p))
        return;

    /* Server side. */
    expect_code(shmemaphore_send_request(p.server, NULL, 5), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "send_request(NULL, 5)");
    expect_code(shmemaphore_send_request(p.server, "x", UINT64_MAX), SHMEMAPHORE_E_TOO_LARGE,
                "send_request length UINT64_MAX");
    expect_code(shmemaphore_send_request(p.server, "x", (uint64_t)INT64_MAX + 1), SHMEMAPHORE_E_TOO_LARGE,
                "send_request length 2^63");
    exchange(&p, "channel usable after rejected send_request calls");

    if (!deliver(&p, "meta", 4)) {
        close_pair(&p);
        return;
    }
    struct {
        shmemaphore_metadata m;
        const char *what;
    } bad[] = {
        {{7, 2, 1, 3}, "{7,2,1,3} (bytes != w*h*c)"},
        {{6, 0, 1, 3}, "{6,0,1,3} (a zero dimension)"},
        {{6, 2, 1, 0}, "{6,2,1,0} (zero channels)"},
        {{1, 0, 0, 1}, "{1,0,0,1} (some but not all of w,h,c zero)"},
        {{1, 1, 1, UINT64_MAX}, "{1,1,1,UINT64_MAX} (the error marker)"},
        {{0, 0, 0, UINT64_MAX}, "{0,0,0,UINT64_MAX} (the error marker)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_code(shmemaphore_send_response(p.client, &bad[i].m, pixels), SHMEMAPHORE_E_INVALID_ARGUMENT,
                    fmt("send_response %s", bad[i].what));
    }
    {
        shmemaphore_metadata m = {UINT64_MAX, UINT64_MAX, 2, 1};
        expect_either(shmemaphore_send_response(p.client, &m, pixels), SHMEMAPHORE_E_INVALID_ARGUMENT,
                      SHMEMAPHORE_E_TOO_LARGE, "send_response {UINT64_MAX,UINT64_MAX,2,1} (product overflows)");
        shmemaphore_metadata m2 = {6, (uint64_t)1 << 32, (uint64_t)1 << 32, 2};
        expect_either(shmemaphore_send_response(p.client, &m2, pixels), SHMEMAPHORE_E_INVALID_ARGUMENT,
                      SHMEMAPHORE_E_TOO_LARGE, "send_response {6,2^32,2^32,2} (product overflows, small bytes)");
        shmemaphore_metadata m3 = {UINT64_MAX, 0, 0, 0};
        expect_code(shmemaphore_send_response(p.client, &m3, pixels), SHMEMAPHORE_E_TOO_LARGE,
                    "send_response bytes {UINT64_MAX,0,0,0}");
        shmemaphore_metadata ok = {6, 2, 1, 3};
        expect_code(shmemaphore_send_response(p.client, NULL, pixels), SHMEMAPHORE_E_INVALID_ARGUMENT,
                    "send_response NULL metadata");
        expect_code(shmemaphore_send_response(p.client, &ok, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                    "send_response NULL payload with bytes 6");
    }
    expect_code(shmemaphore_reserve(p.client, UINT64_MAX, &buf), SHMEMAPHORE_E_TOO_LARGE, "reserve(UINT64_MAX)");
    expect_code(shmemaphore_reserve(p.client, (uint64_t)INT64_MAX + 1, &buf), SHMEMAPHORE_E_TOO_LARGE,
                "reserve(2^63)");
    expect_code(shmemaphore_reserve(p.client, 6, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT, "reserve with NULL buffer");
    expect_code(shmemaphore_commit(p.client, &(shmemaphore_metadata){6, 2, 1, 3}), SHMEMAPHORE_E_WRONG_STATE,
                "commit after the failed reserves (nothing reserved)");
    buf = NULL;
    rc = shmemaphore_reserve(p.client, 6, &buf);
    expect_code(rc, SHMEMAPHORE_OK, "reserve 6 after the rejected calls");
    if (rc == SHMEMAPHORE_OK) {
        shmemaphore_metadata more = {12, 2, 2, 3};
        expect_code(shmemaphore_commit(p.client, &more), SHMEMAPHORE_E_INVALID_ARGUMENT,
                    "commit {12,2,2,3} with bytes > reserved 6");
        expect_code(shmemaphore_commit(p.client, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT, "commit NULL metadata");
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            expect_code(shmemaphore_commit(p.client, &bad[i].m), SHMEMAPHORE_E_INVALID_ARGUMENT,
                        fmt("commit %s", bad[i].what));
        /* The reservation survives the rejected commits. */
        memcpy(buf, "\x09\x08\x07\x06\x05\x04", 6);
        shmemaphore_metadata ok = {6, 2, 1, 3};
        shmemaphore_response r;
        expect_code(shmemaphore_commit(p.client, &ok), SHMEMAPHORE_OK, "commit {6,2,1,3} after rejected commits");
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receives the answer after rejected metadata"))
            check(r.kind == SHMEMAPHORE_PAYLOAD_IMAGE && r.metadata.bytes == 6 &&
                      memcmp(r.data, "\x09\x08\x07\x06\x05\x04", 6) == 0,
                  "the answer after rejected metadata is intact", "kind %u bytes %" PRIu64, r.kind, r.metadata.bytes);
    }
    exchange(&p, "channel usable after the bad-metadata calls");
    close_pair(&p);
}

/* ------------------------------------------------------------------------ */
/* Images                                                                   */
/* ------------------------------------------------------------------------ */

static char g_tmpdir[64];

static const char *tmp(const char *file) { return fmt("%s/%s", g_tmpdir, file); }

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Server requests, client answers with the given image metadata/pixels,
 * server receives into *r.  Returns the receive status. */
static int serve_image(struct pair *p, const shmemaphore_metadata *m, const void *pixels, shmemaphore_response *r) {
    if (!deliver(p, "img", 3))
        return -1;
    if (!require_ok(shmemaphore_send_response(p->client, m, pixels), "setup: send_response image"))
        return -1;
    memset(r, 0, sizeof *r);
    return shmemaphore_receive_response(p->server, WAIT_MS, r);
}

/* Serves `path` with send_image_file and checks the decoded pixels. */
static void round_trip_file(struct pair *p, const char *path, const shmemaphore_metadata *m, const uint8_t *pixels,
                            int exact, const char *what) {
    shmemaphore_response r;
    int rc;
    if (!deliver(p, "file", 4))
        return;
    shmemaphore_metadata sent = {0, 0, 0, 0};
    rc = shmemaphore_send_image_file(p->client, path, &sent);
    if (!expect_code(rc, SHMEMAPHORE_OK, fmt("send_image_file %s", what))) {
        shmemaphore_send_error(p->client, 0, "failed");
        shmemaphore_receive_response(p->server, WAIT_MS, &r);
        return;
    }
    rc = shmemaphore_receive_response(p->server, WAIT_MS, &r);
    if (!expect_code(rc, SHMEMAPHORE_OK, fmt("server receives the decoded %s", what)))
        return;
    check(memcmp(&sent, &r.metadata, sizeof sent) == 0, fmt("send_image_file reports what it sent for %s", what),
          NULL);
    check(r.kind == SHMEMAPHORE_PAYLOAD_IMAGE && r.metadata.width == m->width && r.metadata.height == m->height &&
              r.metadata.channels == m->channels && r.metadata.bytes == m->bytes,
          fmt("decoded %s has the saved shape", what), "kind %u, {%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "}",
          r.kind, r.metadata.bytes, r.metadata.width, r.metadata.height, r.metadata.channels);
    if (exact && r.metadata.bytes == m->bytes)
        check(memcmp(r.data, pixels, m->bytes) == 0, fmt("decoded %s pixels match exactly", what), NULL);
}

static void test_images(void) {
    static const uint8_t rgb[6] = {10, 20, 30, 200, 150, 100};
    static const uint8_t rgba[8] = {1, 2, 3, 4, 250, 251, 252, 253};
    static const uint8_t grey[6] = {0, 50, 100, 150, 200, 255};
    shmemaphore_metadata m_rgb = {6, 2, 1, 3}, m_rgba = {8, 2, 1, 4}, m_grey = {6, 3, 2, 1};
    struct pair p;
    shmemaphore_response r;
    int rc;

    if (!open_pair(chan("img"), &p))
        return;

    /* send_image_file failures leave the request to be answered. */
    if (deliver(&p, "bad", 3)) {
        FILE *f = fopen(tmp("text.png"), "w");
        if (f) {
            fputs("this is not an image\n", f);
            fclose(f);
        }
        f = fopen(tmp("empty.png"), "w");
        if (f)
            fclose(f);
        expect_code(shmemaphore_send_image_file(p.client, tmp("does-not-exist.png"), NULL), -ENOENT,
                    "send_image_file nonexistent path");
        expect_code(shmemaphore_send_image_file(p.client, tmp("text.png"), NULL), SHMEMAPHORE_E_IMAGE_DECODE,
                    "send_image_file of a text file");
        expect_code(shmemaphore_send_image_file(p.client, tmp("empty.png"), NULL), SHMEMAPHORE_E_IMAGE_DECODE,
                    "send_image_file of an empty file");
        expect_code(shmemaphore_send_image_file(p.client, NULL, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT,
                    "send_image_file NULL path");
        expect_code(shmemaphore_send_error(p.client, SHMEMAPHORE_PEER_ERROR_NOT_FOUND, "no image"), SHMEMAPHORE_OK,
                    "send_error after failed send_image_file calls");
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        expect_code(rc, SHMEMAPHORE_E_PEER_ERROR, "server receives the error after failed send_image_file calls");
    }

    /* save_image argument errors. */
    memset(&r, 0, sizeof r);
    expect_code(shmemaphore_save_image(NULL, tmp("x.png")), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "save_image NULL response");
    rc = serve_image(&p, &m_rgb, rgb, &r);
    if (expect_code(rc, SHMEMAPHORE_OK, "server receives a 2x1x3 image")) {
        expect_code(shmemaphore_save_image(&r, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT, "save_image NULL path");
        expect_code(shmemaphore_save_image(&r, tmp("x.gif")), SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
                    "save_image to x.gif");
        expect_code(shmemaphore_save_image(&r, tmp("noext")), SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
                    "save_image to a path without extension");
        expect_code(shmemaphore_save_image(&r, tmp("png")), SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
                    "save_image to a file named \"png\"");
        expect_code(shmemaphore_save_image(&r, fmt("%s/no-such-dir/x.png", g_tmpdir)), SHMEMAPHORE_E_IMAGE_ENCODE,
                    "save_image into a directory that does not exist");
        static const char *const exts[] = {"png", "jpg", "jpeg", "bmp", "tga", "PNG", "JpG"};
        for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
            const char *path = tmp(fmt("rgb.%s", exts[i]));
            if (expect_code(shmemaphore_save_image(&r, path), SHMEMAPHORE_OK, fmt("save_image 2x1x3 to .%s", exts[i])))
                check(file_size(path) > 0, fmt("the .%s file exists and is non-empty", exts[i]), "size %ld",
                      file_size(path));
        }
        /* Crafted responses: inconsistent metadata, NULL data. */
        shmemaphore_response bad = r;
        bad.metadata.bytes = 7;
        expect_code(shmemaphore_save_image(&bad, tmp("bad.png")), SHMEMAPHORE_E_PROTOCOL,
                    "save_image of a response with bytes != w*h*c");
        bad = r;
        bad.data = NULL;
        expect_code(shmemaphore_save_image(&bad, tmp("bad.png")), SHMEMAPHORE_E_INVALID_ARGUMENT,
                    "save_image of a response with NULL data");
        /* Shapes the encoders cannot hold: rejected before any pixel is read. */
        bad = r;
        bad.metadata = (shmemaphore_metadata){(uint64_t)1 << 31, (uint64_t)1 << 31, 1, 1};
        expect_code(shmemaphore_save_image(&bad, tmp("bad.png")), SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
                    "save_image of a response with width 2^31 (above INT_MAX)");
        bad.metadata = (shmemaphore_metadata){(uint64_t)1 << 31, 1, (uint64_t)1 << 31, 1};
        expect_code(shmemaphore_save_image(&bad, tmp("bad.png")), SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
                    "save_image of a response with height 2^31 (above INT_MAX)");
        bad.metadata = (shmemaphore_metadata){(uint64_t)1 << 32, (uint64_t)1 << 30, 1, 4};
        expect_code(shmemaphore_save_image(&bad, tmp("bad.png")), SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
                    "save_image of a response whose row (width*channels) exceeds INT_MAX");
        check(file_size(tmp("bad.png")) < 0, "rejected save_image calls write no file", "bad.png has %ld bytes",
              file_size(tmp("bad.png")));
    }
    rc = serve_image(&p, &m_rgba, rgba, &r);
    if (expect_code(rc, SHMEMAPHORE_OK, "server receives a 2x1x4 image")) {
        expect_code(shmemaphore_save_image(&r, tmp("rgba.png")), SHMEMAPHORE_OK, "save_image 2x1x4 to .png");
        expect_code(shmemaphore_save_image(&r, tmp("rgba.tga")), SHMEMAPHORE_OK, "save_image 2x1x4 to .tga");
    }
    rc = serve_image(&p, &m_grey, grey, &r);
    if (expect_code(rc, SHMEMAPHORE_OK, "server receives a 3x2x1 image"))
        expect_code(shmemaphore_save_image(&r, tmp("grey.png")), SHMEMAPHORE_OK, "save_image 3x2x1 to .png");
    {
        static const uint8_t five[5] = {1, 2, 3, 4, 5};
        shmemaphore_metadata m5 = {5, 1, 1, 5};
        rc = serve_image(&p, &m5, five, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receives a 1x1x5 image"))
            expect_code(shmemaphore_save_image(&r, tmp("five.png")), SHMEMAPHORE_E_UNSUPPORTED_FORMAT,
                        "save_image of a 5-channel image");
    }
    {
        shmemaphore_metadata mb = {3, 0, 0, 0};
        rc = serve_image(&p, &mb, "abc", &r);
        if (expect_code(rc, SHMEMAPHORE_OK, "server receives a bytes response"))
            expect_code(shmemaphore_save_image(&r, tmp("bytes.png")), SHMEMAPHORE_E_NOT_IMAGE,
                        "save_image of a BYTES response");
    }
    if (deliver(&p, "err", 3)) {
        require_ok(shmemaphore_send_error(p.client, 2, "bad"), "setup: send_error");
        rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_E_PEER_ERROR, "server receives an error response"))
            expect_code(shmemaphore_save_image(&r, tmp("err.png")), SHMEMAPHORE_E_NOT_IMAGE,
                        "save_image of an ERROR response");
    }

    /* Serve the saved files back; lossless formats must decode exactly. */
    round_trip_file(&p, tmp("rgb.png"), &m_rgb, rgb, 1, "2x1x3 PNG");
    round_trip_file(&p, tmp("rgb.bmp"), &m_rgb, rgb, 1, "2x1x3 BMP");
    round_trip_file(&p, tmp("rgb.tga"), &m_rgb, rgb, 1, "2x1x3 TGA");
    round_trip_file(&p, tmp("rgb.jpg"), &m_rgb, rgb, 0, "2x1x3 JPEG");
    round_trip_file(&p, tmp("rgba.png"), &m_rgba, rgba, 1, "2x1x4 PNG");
    round_trip_file(&p, tmp("rgba.tga"), &m_rgba, rgba, 1, "2x1x4 TGA");
    round_trip_file(&p, tmp("grey.png"), &m_grey, grey, 1, "3x2x1 PNG");

    /* send_image_file is a client call that needs a held request. */
    expect_code(shmemaphore_send_image_file(p.client, tmp("rgb.png"), NULL), SHMEMAPHORE_E_WRONG_STATE,
                "client send_image_file with no request held");
    expect_code(shmemaphore_send_image_file(p.server, tmp("rgb.png"), NULL), SHMEMAPHORE_E_WRONG_ROLE,
                "server send_image_file");
    expect_code(shmemaphore_send_image_file(p.server, tmp("does-not-exist.png"), NULL), SHMEMAPHORE_E_WRONG_ROLE,
                "server send_image_file of a missing file: the role is checked before the file");

    /* POSIX paths are bytes: a file name that is not UTF-8 works. */
    {
        const char *latin1 = tmp("caf\xe9.png");
        if (expect_code(serve_image(&p, &m_rgb, rgb, &r), SHMEMAPHORE_OK, "setup: an image to save")) {
            expect_code(shmemaphore_save_image(&r, latin1), SHMEMAPHORE_OK, "save_image to a non-UTF-8 path");
            round_trip_file(&p, latin1, &m_rgb, rgb, 1, "PNG at a non-UTF-8 path");
        }
    }
    exchange(&p, "channel usable after the image checks");
    close_pair(&p);
}

/* ------------------------------------------------------------------------ */
/* Several channels, stale policy, peer gone                                */
/* ------------------------------------------------------------------------ */

static void test_several_channels(void) {
    struct pair p[3];
    int opened = 0;
    for (int i = 0; i < 3; i++)
        opened += open_pair(chan(fmt("multi%d", i)), &p[i]);
    if (!check(opened == 3, "three channels open at once in one process", "%d opened", opened)) {
        for (int i = 0; i < 3; i++)
            if (p[i].server)
                close_pair(&p[i]);
        return;
    }
    for (int i = 0; i < 3; i++) {
        char req[8];
        snprintf(req, sizeof req, "ch%d", i);
        require_ok(shmemaphore_send_request(p[i].server, req, 3), "setup: send_request");
    }
    for (int i = 2; i >= 0; i--) { /* answer in reverse order */
        const uint8_t *req;
        uint64_t len;
        shmemaphore_metadata m = {3, 0, 0, 0};
        int rc = shmemaphore_receive_request(p[i].client, WAIT_MS, &req, &len);
        if (expect_code(rc, SHMEMAPHORE_OK, fmt("channel %d: client receives its request", i))) {
            check(len == 3 && req[2] == '0' + i, fmt("channel %d: the request is its own", i), "\"%.*s\"",
                  (int)(len < 8 ? len : 8), (const char *)req);
            char answer[4];
            memcpy(answer, req, 3);
            require_ok(shmemaphore_send_response(p[i].client, &m, answer), "setup: send_response");
        }
    }
    for (int i = 0; i < 3; i++) {
        shmemaphore_response r;
        int rc = shmemaphore_receive_response(p[i].server, WAIT_MS, &r);
        if (expect_code(rc, SHMEMAPHORE_OK, fmt("channel %d: server receives its answer", i)))
            check(r.metadata.bytes == 3 && r.data[2] == '0' + i, fmt("channel %d: the answer is its own", i),
                  "bytes %" PRIu64, r.metadata.bytes);
    }
    for (int i = 0; i < 3; i++)
        close_pair(&p[i]);
    int left = 0;
    for (int i = 0; i < 3; i++)
        left += objects_present(chan(fmt("multi%d", i)));
    check(left == 0, "closing three channels removes all their objects", "%d objects remain", left);

    /* Three servers only, no clients. */
    shmemaphore_channel *s[3] = {NULL, NULL, NULL};
    opened = 0;
    for (int i = 0; i < 3; i++)
        opened += shmemaphore_server_open(chan(fmt("srv%d", i)), NULL, &s[i]) == SHMEMAPHORE_OK;
    check(opened == 3, "three servers with distinct names open at once", "%d opened", opened);
    for (int i = 0; i < 3; i++)
        shmemaphore_close(s[i]);
}

static void test_stale_policy(void) {
    shmemaphore_channel *first = NULL, *second = NULL, *c = NULL;
    shmemaphore_options fail;
    shmemaphore_options co = client_options(WAIT_MS);
    char name[256];
    int rc;

    snprintf(name, sizeof name, "%s", chan("stale"));

    shmemaphore_options_init(&fail, sizeof fail);
    fail.stale_policy = SHMEMAPHORE_STALE_FAIL;
    if (!require_ok(shmemaphore_server_open(name, NULL, &first), "setup: first server_open"))
        return;
    if (!require_ok(shmemaphore_client_open(name, &co, &c), "setup: client_open")) {
        shmemaphore_close(first);
        return;
    }
    static char sentinel;
    second = (shmemaphore_channel *)(void *)&sentinel;
    rc = shmemaphore_server_open(name, &fail, &second);
    /* A live server owns its channel: busy, under every stale policy. */
    expect_code(rc, SHMEMAPHORE_E_BUSY, "second server_open with STALE_FAIL on a live channel");
    if (rc == SHMEMAPHORE_OK)
        shmemaphore_close(second);
    else
        check(second == (shmemaphore_channel *)(void *)&sentinel, "failed server_open leaves out untouched",
              "out changed");
    {
        struct pair p = {first, c};
        exchange(&p, "STALE_FAIL left the first server's channel working");
    }
    check(objects_present(name) == 4, "STALE_FAIL left all four objects in place", "%d exist", objects_present(name));

    second = NULL;
    rc = shmemaphore_server_open(name, NULL, &second);
    expect_code(rc, SHMEMAPHORE_E_BUSY, "second server_open with the default policy (reset) on a live channel");
    if (rc == SHMEMAPHORE_OK)
        shmemaphore_close(second);
    {
        struct pair p = {first, c};
        exchange(&p, "a refused second server left the first server's channel working");
    }
    shmemaphore_close(first);
    first = NULL;
    second = NULL;
    rc = shmemaphore_server_open(name, NULL, &second);
    expect_code(rc, SHMEMAPHORE_OK, "server_open after the first server closed");
    if (rc == SHMEMAPHORE_OK) {
        /* The client attached to the first server follows the new one. */
        struct pair p = {second, c};
        exchange(&p, "a client attached before the restart works with the new server");
    }
    shmemaphore_close(c);
    shmemaphore_close(first);
    shmemaphore_close(second);
    check(objects_present(name) == 0, "closing both servers leaves nothing", "%d remain", objects_present(name));

    /* Only the semaphores exist, with count 0 (a client started first and
     * waits): that is normal, so even STALE_FAIL opens the channel. */
    {
        char lone[256], s[256], semname[300];
        snprintf(lone, sizeof lone, "%s", chan("lonesem"));
        sanitize(lone, s, sizeof s);
        snprintf(semname, sizeof semname, "/SEM_%s_REQ", s);
        sem_t *sem = sem_open(semname, O_CREAT | O_EXCL, 0600, 0);
        if (check(sem != SEM_FAILED, "setup: create a lone REQ semaphore", "sem_open: %s", strerror(errno))) {
            shmemaphore_channel *ch = NULL;
            rc = shmemaphore_server_open(lone, &fail, &ch);
            expect_code(rc, SHMEMAPHORE_OK, "server_open STALE_FAIL accepts a waiting client's semaphores");
            if (rc == SHMEMAPHORE_OK)
                shmemaphore_close(ch); /* unlinks the semaphore too */
            sem_close(sem);
            sem_unlink(semname);
        }
        check(objects_present(lone) == 0, "lone-semaphore check leaves nothing", "%d remain", objects_present(lone));
    }

    /* A stale count in REQ (a crashed run): STALE_FAIL refuses and "leaves the
     * existing objects untouched"; the default policy drains it, so the client
     * sees no phantom request. */
    {
        char stale[256], s[256], semname[300];
        snprintf(stale, sizeof stale, "%s", chan("stalecount"));
        sanitize(stale, s, sizeof s);
        snprintf(semname, sizeof semname, "/SEM_%s_REQ", s);
        sem_t *sem = sem_open(semname, O_CREAT | O_EXCL, 0600, 1);
        if (check(sem != SEM_FAILED, "setup: create a REQ semaphore with a stale count 1", "sem_open: %s",
                  strerror(errno))) {
            shmemaphore_channel *ch = NULL;
            int value = -1;
            rc = shmemaphore_server_open(stale, &fail, &ch);
            expect_code(rc, SHMEMAPHORE_E_EXISTS, "server_open STALE_FAIL with a stale REQ count");
            if (rc == SHMEMAPHORE_OK) {
                shmemaphore_close(ch);
            } else {
                sem_getvalue(sem, &value);
                check(value == 1, "STALE_FAIL leaves the stale REQ count untouched", "the count is now %d", value);
                /* restore the count for the reset check below */
                while (value < 1 && sem_post(sem) == 0)
                    sem_getvalue(sem, &value);
            }
            struct pair p;
            if (objects_present(stale) > 0 && open_pair(stale, &p)) {
                const uint8_t *req;
                uint64_t len;
                expect_code(shmemaphore_receive_request(p.client, 0, &req, &len), SHMEMAPHORE_E_TIMEOUT,
                            "the default policy drained the stale REQ count (no phantom request)");
                close_pair(&p);
            }
            sem_close(sem);
            sem_unlink(semname);
        }
        check(objects_present(stale) == 0, "stale-count check leaves nothing", "%d remain", objects_present(stale));
    }
}

/* ---- interrupts: shmemaphore_interrupt and signal handlers ---------------- */

struct delayed {
    shmemaphore_channel *channel; /* interrupt this one, or */
    pthread_t thread;             /* send SIGUSR1 to this thread */
    int use_signal;
};

static void *interrupt_later(void *argument) {
    struct delayed *d = argument;
    /* Not a multiple of the library's 50 ms wait slice: a signal that lands
     * between two slices, while the waiter runs its checks, is not seen
     * (the header says so; a handler should call shmemaphore_interrupt). */
    struct timespec pause = {0, 130 * 1000 * 1000};
    nanosleep(&pause, NULL);
    if (d->use_signal)
        pthread_kill(d->thread, SIGUSR1);
    else
        shmemaphore_interrupt(d->channel);
    return NULL;
}

static volatile sig_atomic_t g_signals;
static void count_signal(int signo) {
    (void)signo;
    g_signals++;
}

/* Runs `wait` on `ch` while another thread interrupts it after 130 ms. */
static int interrupted_wait(shmemaphore_channel *ch, int use_signal, int (*wait)(shmemaphore_channel *), int64_t *elapsed) {
    struct delayed d = {ch, pthread_self(), use_signal};
    pthread_t helper;
    if (pthread_create(&helper, NULL, interrupt_later, &d) != 0)
        return SHMEMAPHORE_E_INVALID_ARGUMENT;
    int64_t start = now_ms();
    int rc = wait(ch);
    *elapsed = now_ms() - start;
    pthread_join(helper, NULL);
    return rc;
}

/* Far longer than the interrupt's delay, and finite, so that a missed
 * interrupt is a failed check (E_TIMEOUT) rather than a hang. */
#define LONG_WAIT_MS 30000

static int receive_forever(shmemaphore_channel *ch) {
    const uint8_t *req;
    uint64_t len;
    return shmemaphore_receive_request(ch, LONG_WAIT_MS, &req, &len);
}

static int response_forever(shmemaphore_channel *ch) {
    shmemaphore_response r;
    return shmemaphore_receive_response(ch, LONG_WAIT_MS, &r);
}

static void test_interrupt(void) {
    struct pair p;
    const uint8_t *req;
    uint64_t len;
    int64_t elapsed;
    int rc;
    expect_code(shmemaphore_interrupt(NULL), SHMEMAPHORE_E_INVALID_ARGUMENT, "interrupt NULL");
    expect_code(shmemaphore_interrupt((shmemaphore_channel *)(uintptr_t)0x7770), SHMEMAPHORE_E_INVALID_ARGUMENT,
                "interrupt a made-up handle");
    check(SHMEMAPHORE_E_INTERRUPTED == -EINTR, "SHMEMAPHORE_E_INTERRUPTED is -EINTR", "%d", SHMEMAPHORE_E_INTERRUPTED);
    if (!open_pair(chan("intr"), &p))
        return;
    /* Pending before the wait: the next wait ends at once, and only that one. */
    expect_code(shmemaphore_interrupt(p.client), SHMEMAPHORE_OK, "interrupt an idle client");
    expect_code(shmemaphore_interrupt(p.client), SHMEMAPHORE_OK, "interrupt it twice");
    expect_code(receive_forever(p.client), SHMEMAPHORE_E_INTERRUPTED,
                "a long receive_request after interrupt returns SHMEMAPHORE_E_INTERRUPTED");
    expect_code(shmemaphore_receive_request(p.client, 0, &req, &len), SHMEMAPHORE_E_TIMEOUT,
                "two interrupts before a wait end one wait");

    rc = interrupted_wait(p.client, 0, receive_forever, &elapsed);
    expect_code(rc, SHMEMAPHORE_E_INTERRUPTED, "interrupt from another thread ends a long receive_request");
    printf("# receive_request interrupted by another thread after %" PRId64 " ms (interrupt at 130 ms)\n", elapsed);
    check(elapsed >= 120 && elapsed < 5000, "the receive waited until the interrupt", "%" PRId64 " ms", elapsed);

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: with it, the kernel restarts the wait itself */
    sigaction(SIGUSR1, &sa, &old);
    /* A parent may have started us with signals blocked (test runners do). */
    sigset_t unblocked, old_mask;
    sigemptyset(&unblocked);
    sigaddset(&unblocked, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &unblocked, &old_mask);
    g_signals = 0;
    rc = interrupted_wait(p.client, 1, receive_forever, &elapsed);
    expect_code(rc, SHMEMAPHORE_E_INTERRUPTED, "a signal handler (no SA_RESTART) ends a long receive_request");
    check(g_signals == 1, "the handler ran once", "%d", (int)g_signals);
    printf("# receive_request interrupted by SIGUSR1 after %" PRId64 " ms\n", elapsed);

    /* The server's wait: the request stays outstanding, and is answered. */
    expect_code(shmemaphore_send_request(p.server, "ask", 3), SHMEMAPHORE_OK, "server sends before an interrupted wait");
    rc = interrupted_wait(p.server, 1, response_forever, &elapsed);
    expect_code(rc, SHMEMAPHORE_E_INTERRUPTED, "a signal handler ends a long receive_response");
    rc = interrupted_wait(p.server, 0, response_forever, &elapsed);
    expect_code(rc, SHMEMAPHORE_E_INTERRUPTED, "interrupt from another thread ends a long receive_response");
    sigaction(SIGUSR1, &old, NULL);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (expect_code(shmemaphore_receive_request(p.client, WAIT_MS, &req, &len), SHMEMAPHORE_OK,
                    "the client still gets the request after the server's interrupted waits"))
        check(len == 3 && memcmp(req, "ask", 3) == 0, "it is the request \"ask\"", "length %" PRIu64, len);
    shmemaphore_metadata m = {6, 0, 0, 0};
    expect_code(shmemaphore_send_response(p.client, &m, "answer"), SHMEMAPHORE_OK, "client answers");
    shmemaphore_response r;
    rc = shmemaphore_receive_response(p.server, WAIT_MS, &r);
    if (expect_code(rc, SHMEMAPHORE_OK, "receive_response made again gets the answer"))
        check(r.metadata.bytes == 6 && memcmp(r.data, "answer", 6) == 0, "the answer is \"answer\"", "bytes %" PRIu64,
              r.metadata.bytes);
    shmemaphore_channel *closed = p.client;
    close_pair(&p);
    expect_code(shmemaphore_interrupt(closed), SHMEMAPHORE_E_INVALID_ARGUMENT, "interrupt a closed channel");
}

static void test_peer_gone(void) {
    struct pair p;
    const uint8_t *req;
    uint64_t len;
    shmemaphore_metadata m = {0, 0, 0, 0};
    int rc;
    if (!open_pair(chan("gone"), &p))
        return;
    shmemaphore_close(p.server);
    p.server = NULL;
    check(objects_present(chan("gone")) == 0, "server close unlinks all four objects while a client is attached",
          "%d remain", objects_present(chan("gone")));
    int64_t start = now_ms();
    rc = shmemaphore_receive_request(p.client, WAIT_MS, &req, &len);
    int64_t elapsed = now_ms() - start;
    expect_code(rc, SHMEMAPHORE_E_PEER_GONE, "client receive_request after the server closed");
    printf("# PEER_GONE reported after %" PRId64 " ms\n", elapsed);
    /* Reported once: the next receive waits for a new server (none comes here). */
    expect_code(shmemaphore_receive_request(p.client, 0, &req, &len), SHMEMAPHORE_E_TIMEOUT,
                "client receive_request again after PEER_GONE waits for a new server");
    rc = shmemaphore_send_response(p.client, &m, NULL);
    check(rc < 0, "client send_response after PEER_GONE fails", "got %d (%s)", rc, code_name(rc));
    shmemaphore_close(p.client);
    check(objects_present(chan("gone")) == 0, "a client close after PEER_GONE leaves nothing", "%d remain",
          objects_present(chan("gone")));
}

/* ------------------------------------------------------------------------ */
/* Listing and removing channels (shmemaphore_list_channels, _remove_channel) */

struct found_channel {
    const char *wanted; /* S of the channel looked for */
    int seen;
    shmemaphore_channel_info info;
    int visits;
    int stop_with; /* what the visitor returns */
};

static int visit_channel(const shmemaphore_channel_info *info, void *context) {
    struct found_channel *found = context;
    found->visits++;
    if (info->name && strcmp(info->name, found->wanted) == 0) {
        found->seen++;
        found->info = *info;
    }
    return found->stop_with;
}

static struct found_channel look_for(const char *name) {
    static char wanted[256];
    struct found_channel found;
    memset(&found, 0, sizeof found);
    sanitize(name, wanted, sizeof wanted);
    found.wanted = wanted;
    expect_code(shmemaphore_list_channels(visit_channel, &found), SHMEMAPHORE_OK, fmt("list_channels (%s)", name));
    return found;
}

static void test_channel_inspection(void) {
    const char *name = chan("inspect");
    shmemaphore_channel *server = NULL;
    unsigned removed = 99;

    expect_code(shmemaphore_list_channels(NULL, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT, "list_channels with NULL visit");
    expect_code(shmemaphore_remove_channel(NULL, 0, &removed), SHMEMAPHORE_E_INVALID_ARGUMENT, "remove_channel NULL name");
    check(removed == 0, "remove_channel sets *removed to 0 on failure", "got %u", removed);
    expect_code(shmemaphore_remove_channel("a/b", 0, NULL), SHMEMAPHORE_E_INVALID_NAME, "remove_channel \"a/b\"");
    expect_code(shmemaphore_remove_channel(name, 2, NULL), SHMEMAPHORE_E_INVALID_ARGUMENT, "remove_channel unknown flags");
    removed = 99;
    expect_code(shmemaphore_remove_channel(name, 0, &removed), SHMEMAPHORE_OK, "remove_channel of a channel with no objects");
    check(removed == 0, "nothing to remove: *removed is 0", "got %u", removed);

    /* A live server: listed with all four objects and its lock; not removed without FORCE. */
    if (!expect_code(shmemaphore_server_open(name, NULL, &server), SHMEMAPHORE_OK, "server_open (inspect)"))
        return;
    struct found_channel found = look_for(name);
    check(found.seen == 1, "a live channel is listed once", "seen %d times", found.seen);
    check(found.info.objects == (SHMEMAPHORE_OBJECT_HEAD | SHMEMAPHORE_OBJECT_DATA | SHMEMAPHORE_OBJECT_REQ |
                                 SHMEMAPHORE_OBJECT_RES),
          "a live channel has all four objects", "objects 0x%x", found.info.objects);
    check(found.info.server_locked == 1 && found.info.client_locked == 0, "its server's lock shows, no client's",
          "server %d client %d", found.info.server_locked, found.info.client_locked);
    expect_code(shmemaphore_remove_channel(name, 0, &removed), SHMEMAPHORE_E_BUSY, "remove_channel of a live channel");
    check(removed == 0 && objects_present(name) == 4, "a live channel is left whole without FORCE",
          "removed %u, %d objects remain", removed, objects_present(name));
    {
        struct found_channel stopping;
        memset(&stopping, 0, sizeof stopping);
        stopping.wanted = "";
        stopping.stop_with = 42;
        expect_code(shmemaphore_list_channels(visit_channel, &stopping), 42, "a visitor's nonzero value stops the listing");
        check(stopping.visits == 1, "the listing stops at the first nonzero value", "%d visits", stopping.visits);
    }
    expect_code(shmemaphore_remove_channel(name, SHMEMAPHORE_REMOVE_FORCE, &removed), SHMEMAPHORE_OK,
                "remove_channel FORCE of a live channel");
    check(removed == 4 && objects_present(name) == 0, "FORCE removes all four", "removed %u, %d remain", removed,
          objects_present(name));
    shmemaphore_close(server);

    /* A crashed server's leftovers: no lock; removed without FORCE. */
    pid_t child = fork();
    if (child == 0) {
        shmemaphore_channel *crashing = NULL;
        _exit(shmemaphore_server_open(name, NULL, &crashing) == SHMEMAPHORE_OK ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    /* Its exit status says whether it opened the server; under valgrind the
     * child also inherits --error-exitcode, so the listing is the evidence. */
    check(child > 0 && WIFEXITED(status), "a child opened a server and exited without closing it", "status %d", status);
    found = look_for(name);
    check(found.seen == 1 && found.info.server_locked == 0, "a dead server's channel is listed without its lock",
          "seen %d, server %d", found.seen, found.info.server_locked);
    expect_code(shmemaphore_remove_channel(name, 0, &removed), SHMEMAPHORE_OK, "remove_channel of a dead server's channel");
    check(removed == 4 && objects_present(name) == 0, "the leftovers are removed", "removed %u, %d remain", removed,
          objects_present(name));
    found = look_for(name);
    check(found.seen == 0, "a removed channel is no longer listed", "seen %d", found.seen);
    shmemaphore_remove_channel(name, SHMEMAPHORE_REMOVE_FORCE, NULL); /* whatever failed above */
}

/* ------------------------------------------------------------------------ */

static void remove_tmpdir(void) {
    DIR *dir = opendir(g_tmpdir);
    if (dir) {
        for (struct dirent *e; (e = readdir(dir)) != NULL;)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlink(tmp(e->d_name));
        closedir(dir);
    }
    rmdir(g_tmpdir);
}

int main(int argc, char **argv) {
    char needle[256];
    if (argc != 2 || argv[1][0] == '\0' || strlen(argv[1]) > 120 || strchr(argv[1], '\n')) {
        fprintf(stderr, "usage: %s PREFIX   (a channel-name prefix unique to this run, at most 120 bytes)\n",
                argv[0]);
        return 2;
    }
    g_prefix = argv[1];
    sanitize(g_prefix, needle, sizeof needle);
    if (count_shm_entries(needle) > 0)
        printf("# warning: /dev/shm already holds entries containing %s before the run\n", needle);
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/c_api_check-XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        return 2;
    }

    test_versions();
    test_status_codes();
    test_options_init();
    test_open_arguments();
    test_open_accepted();
    test_modes();
    test_attach_timeout();
    test_close_and_role();
    test_round_trip();
    test_null_channel();
    test_wrong_role();
    test_wrong_state();
    test_timeouts();
    test_bad_metadata();
    test_images();
    test_several_channels();
    test_stale_policy();
    test_peer_gone();
    test_interrupt();
    test_channel_inspection();

    remove_tmpdir();
    check(count_shm_entries(needle) == 0, fmt("no entry containing \"%s\" is left in /dev/shm", needle),
          "%d entries remain", count_shm_entries(needle));

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
