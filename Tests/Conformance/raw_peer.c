/*
 * raw_peer.c - an independent implementation of shmemaphore wire protocol
 * version 1, written from docs/PROTOCOL.md alone.
 *
 * It deliberately does not use libshmemaphore or its header: it exists to
 * prove that the library interoperates with a peer that knows only the
 * document.  Where the protocol leaves a choice, it chooses differently from
 * libshmemaphore so that both sides' tolerance is exercised:
 *   - HEAD is created with 8 bytes and DATA with 1 byte (as the original);
 *   - DATA grows with ftruncate to exactly the needed size, never rounded;
 *   - no courtesy NUL byte follows a request;
 *   - the server writes the request header before the request data;
 *   - the client polls for the segments every 10 ms.
 *
 * Liveness (PROTOCOL.md 9a): the server holds an OFD write lock on HEAD byte
 * 0 from right after creating HEAD, the client one on byte 1 from right
 * after attaching (again after following a restarted server); a client that
 * cannot take its lock (EAGAIN) is a second client and refuses (exit 3).
 * It takes the locks but does not test the other side's: a dead peer is
 * noticed only by the timeouts and link counts of sections 5 and 9.
 *
 * Fault injection: --die-at STEP[@N] makes the process kill itself with
 * SIGKILL at STEP of exchange N (default 1), so that tests can check what
 * the surviving peer does (see usage() for the steps).  Just before dying
 * it prints "raw_peer: --die-at STEP@N: SIGKILL at monotonic-ns T" to stderr.
 *
 * Usage (docs/CONFORMANCE.md):
 *   raw_peer server --channel CH --requests FILE --count N [--timeout SECONDS] [--die-at STEP[@N]]
 *   raw_peer client --channel CH --dir DIR [--attach-timeout SECONDS] [--die-at STEP[@N]]
 * Exit status: 0 ok, 1 failure, 2 usage, 3 could not open/attach (or another
 * client holds the channel).
 *
 * Build:
 *   cc -std=c11 -O2 -Wall -Wextra -pedantic $(pkg-config --cflags stb) \
 *      Tests/Conformance/raw_peer.c $(pkg-config --libs stb) -o raw_peer
 */

/* sem_clockwait (glibc >= 2.30), getopt_long and getline are not ISO C. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stb_image.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_OPEN = 3 };
enum { HEAD, DATA, REQ, RES }; /* object indices; also the close order */

#define MODE 0600               /* owner only, regardless of umask */
#define NAME_MAX_BYTES 255      /* longest request that can be a file name */
#define SLICE_MS 50             /* longest client wait between st_nlink checks */
#define POLL_MS 10              /* attach / re-open polling interval */
#define REOPEN_MS 200           /* how long a restarting server may lack segments */
#define DIE_WAIT_MS 100         /* while-waiting: how long into the RES wait to die */
#define SERVER_LOCK_BYTE 0      /* PROTOCOL.md 9a: HEAD bytes the liveness locks cover */
#define CLIENT_LOCK_BYTE 1

static const char *prog = "raw_peer";
static volatile sig_atomic_t stop_requested = 0;

struct channel {
    char name[4][256]; /* POSIX names of HEAD, DATA, REQ, RES */
    bool made[4];      /* objects this process created (removed if we give up) */
    sem_t *req, *res;
    int head, data;    /* descriptors, -1 when not open */
};

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static void on_signal(int signo) { (void)signo; stop_requested = 1; }

/* --- Fault injection: --die-at STEP[@N] ---------------------------------- */

enum die_step {
    DIE_NEVER,
    /* server */
    DIE_AFTER_OPEN,    /* segments created (and locked), nothing written */
    DIE_AFTER_HEADER,  /* request header written, request data not */
    DIE_AFTER_DATA,    /* request written, REQ not posted (server); response data written, header not (client) */
    DIE_AFTER_POST,    /* REQ posted, not waiting yet (server); RES posted (client) */
    DIE_WHILE_WAITING, /* DIE_WAIT_MS into the wait for RES */
    /* client */
    DIE_AFTER_ATTACH,  /* attached and locked, no request taken */
    DIE_AFTER_WAIT,    /* took the REQ token, read nothing */
    DIE_AFTER_READ,    /* read the request, wrote nothing */
};

static const struct {
    const char *name;
    enum die_step step;
    bool server, client;
} die_steps[] = {
    {"after-open", DIE_AFTER_OPEN, true, false},     {"after-attach", DIE_AFTER_ATTACH, false, true},
    {"after-wait", DIE_AFTER_WAIT, false, true},     {"after-read", DIE_AFTER_READ, false, true},
    {"after-header", DIE_AFTER_HEADER, true, true},  {"after-data", DIE_AFTER_DATA, true, true},
    {"after-post", DIE_AFTER_POST, true, true},      {"while-waiting", DIE_WHILE_WAITING, true, false},
};

static enum die_step die_step = DIE_NEVER;
static uint64_t die_exchange = 1; /* 1-based: the exchange in which to die */
static const char *die_text = "";

/* Dies (SIGKILL, so no handler, atexit or unlink runs) if `step` of exchange
 * `exchange` is the one --die-at names; otherwise returns. */
static void die_point(enum die_step step, uint64_t exchange)
{
    if (step != die_step || exchange != die_exchange)
        return;
    fflush(stdout); /* lines of earlier exchanges must reach the runner */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "%s: --die-at %s: SIGKILL at monotonic-ns %jd\n", prog, die_text,
            (intmax_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
    raise(SIGKILL);
    abort(); /* not reached */
}

/* STEP or STEP@N, STEP valid for the role; after-open and after-attach
 * happen once, before any exchange, so they take no @N but 1. */
static bool parse_die_at(const char *text, bool server)
{
    const char *at = strchr(text, '@');
    size_t len = at ? (size_t)(at - text) : strlen(text);
    uint64_t n = 1;
    if (at) {
        char *end;
        errno = 0;
        n = strtoull(at + 1, &end, 10);
        if (errno || end == at + 1 || *end || at[1] == '-' || n == 0)
            return false;
    }
    for (size_t i = 0; i < sizeof die_steps / sizeof die_steps[0]; i++) {
        if (strlen(die_steps[i].name) != len || strncmp(die_steps[i].name, text, len) != 0)
            continue;
        if (!(server ? die_steps[i].server : die_steps[i].client))
            return false;
        if ((die_steps[i].step == DIE_AFTER_OPEN || die_steps[i].step == DIE_AFTER_ATTACH) && n != 1)
            return false;
        die_step = die_steps[i].step;
        die_exchange = n;
        die_text = text;
        return true;
    }
    return false;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL); /* an early return on a signal is fine: callers loop */
}

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF):
 * channel names must be valid, and error messages we send must be too. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07; }
        else return false;
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += extra + 1;
    }
    return true;
}

/* --- Section 2: object names ------------------------------------------- */

static int make_names(struct channel *ch, const char *channel)
{
    size_t n = strlen(channel);
    if (n < 1 || n > 200 || !valid_utf8((const unsigned char *)channel, n)) {
        fail("channel name must be 1-200 bytes of valid UTF-8");
        return -1;
    }
    char s[201];
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)channel[i];
        if (i < n && (c < 0x20 || c == 0x7F)) {
            fail("channel name must not contain control characters");
            return -1;
        }
        s[i] = c == '/' ? '_' : (char)c; /* '/' and '_' name the same channel */
    }
    static const char *const format[4] = {"/SEG_%s_HEAD", "/SEG_%s_DATA", "/SEM_%s_REQ", "/SEM_%s_RES"};
    for (int i = 0; i < 4; i++)
        snprintf(ch->name[i], sizeof ch->name[i], format[i], s);
    return 0;
}

/* Linux/glibc keeps the semaphore "/X" in /dev/shm/sem.X: sem_open gives no
 * descriptor, so permissions are set and checked through this path. */
static void sem_path(const char *name, char out[300])
{
    snprintf(out, 300, "/dev/shm/sem.%s", name + 1);
}

/* --- Section 3: permissions -------------------------------------------- */

/* An object we did not create must be ours and not writable by group or
 * others (mode 0600 policy); otherwise another user could inject data. */
static bool object_is_safe(const struct stat *st, const char *name)
{
    if (st->st_uid != geteuid()) {
        fail("%s is owned by uid %ju, not by us; refusing it", name, (uintmax_t)st->st_uid);
        return false;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        fail("%s is writable by group or others (mode %04o); refusing it", name,
             (unsigned)(st->st_mode & 07777));
        return false;
    }
    return true;
}

/* Open an existing semaphore and check it.  NULL with errno ENOENT if it
 * does not exist (no message then), NULL with a message on other failures. */
static sem_t *open_existing_semaphore(const char *name)
{
    char path[300];
    struct stat st;
    sem_t *sem = sem_open(name, 0);
    if (sem == SEM_FAILED) {
        if (errno != ENOENT)
            fail("cannot open semaphore %s: %s", name, strerror(errno));
        return NULL;
    }
    sem_path(name, path);
    if (stat(path, &st) != 0 || !object_is_safe(&st, name)) {
        if (errno == ENOENT)
            fail("semaphore %s vanished while being checked", name);
        sem_close(sem);
        errno = EPERM;
        return NULL;
    }
    return sem;
}

/* Open with O_CREAT and value 0, whichever side comes first, and remember
 * whether we created it.  O_EXCL first tells the two cases apart. */
static sem_t *open_semaphore(const char *name, bool *created)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        sem_t *sem = sem_open(name, O_CREAT | O_EXCL, MODE, 0);
        if (sem != SEM_FAILED) {
            char path[300];
            sem_path(name, path);
            if (chmod(path, MODE) != 0) { /* umask reduced the mode; set it exactly */
                fail("cannot chmod %s: %s", path, strerror(errno));
                sem_close(sem);
                sem_unlink(name);
                return NULL;
            }
            *created = true;
            return sem;
        }
        if (errno != EEXIST) {
            fail("cannot create semaphore %s: %s", name, strerror(errno));
            return NULL;
        }
        *created = false;
        sem = open_existing_semaphore(name);
        if (sem != NULL || errno != ENOENT)
            return sem;
        /* Removed between our two calls: try to create it again. */
    }
    fail("semaphore %s keeps appearing and vanishing", name);
    return NULL;
}

/* Close everything; unlink all four objects (the server's close, section 9)
 * or only those this process created (giving up during open/attach). */
static void close_channel(struct channel *ch, bool unlink_all)
{
    if (ch->head >= 0) close(ch->head);
    if (ch->data >= 0) close(ch->data);
    if (ch->req) sem_close(ch->req);
    if (ch->res) sem_close(ch->res);
    ch->head = ch->data = -1;
    ch->req = ch->res = NULL;
    for (int i = HEAD; i <= RES; i++) {
        if (!unlink_all && !ch->made[i])
            continue;
        int rc = i <= DATA ? shm_unlink(ch->name[i]) : sem_unlink(ch->name[i]);
        if (rc != 0 && errno != ENOENT)
            fail("cannot unlink %s: %s", ch->name[i], strerror(errno));
    }
}

/* --- Section 9a: liveness locks ----------------------------------------- */

/* An open-file-description write lock on one byte of HEAD, held until the
 * descriptor closes, that is, until this process exits or dies.  0 on
 * success; -1 with errno EAGAIN (or EACCES) when another holds it. */
static int lock_head_byte(int head, off_t byte)
{
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = byte;
    lock.l_len = 1;
    return fcntl(head, F_OFD_SETLK, &lock);
}

/* The client's lock, right after attaching.  0; -2 another client holds the
 * channel (message printed); -1 another failure (message printed). */
static int take_client_lock(struct channel *ch)
{
    if (lock_head_byte(ch->head, CLIENT_LOCK_BYTE) == 0)
        return 0;
    if (errno == EAGAIN || errno == EACCES) {
        fail("another client is attached to %s (its lock on byte %d is held); refusing to be a second client",
             ch->name[HEAD], CLIENT_LOCK_BYTE);
        return -2;
    }
    fail("cannot lock byte %d of %s: %s", CLIENT_LOCK_BYTE, ch->name[HEAD], strerror(errno));
    return -1;
}

/* --- Section 4.1: server start-up -------------------------------------- */

static int create_segment(struct channel *ch, int which, off_t size)
{
    int fd = shm_open(ch->name[which], O_CREAT | O_EXCL | O_RDWR, MODE);
    if (fd < 0) {
        fail("cannot create %s: %s", ch->name[which], strerror(errno));
        return -1;
    }
    ch->made[which] = true;
    if (fchmod(fd, MODE) != 0 || ftruncate(fd, size) != 0) {
        fail("cannot set up %s: %s", ch->name[which], strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void drain(sem_t *sem)
{
    /* Counts left by a crashed run would desynchronise the turns. */
    while (sem_trywait(sem) == 0 || errno == EINTR) {
    }
}

static int server_open(struct channel *ch)
{
    if (!(ch->req = open_semaphore(ch->name[REQ], &ch->made[REQ])) ||
        !(ch->res = open_semaphore(ch->name[RES], &ch->made[RES])))
        return -1;
    drain(ch->req);
    drain(ch->res);
    for (int i = HEAD; i <= DATA; i++)
        if (shm_unlink(ch->name[i]) != 0 && errno != ENOENT) {
            fail("cannot remove old %s: %s", ch->name[i], strerror(errno));
            return -1;
        }
    /* DATA last: a client that finds DATA also finds this HEAD.  The lock
     * goes on HEAD before DATA exists, so a client always finds it held. */
    if ((ch->head = create_segment(ch, HEAD, 8)) < 0)
        return -1;
    if (lock_head_byte(ch->head, SERVER_LOCK_BYTE) != 0) {
        fail("cannot lock byte %d of %s: %s", SERVER_LOCK_BYTE, ch->name[HEAD], strerror(errno));
        return -1;
    }
    if ((ch->data = create_segment(ch, DATA, 1)) < 0)
        return -1;
    return 0;
}

/* --- Section 4.2 and 9: client attach and re-open ------------------------ */

/* 1: both segments open and checked; 0: not (yet) there; -1: refused. */
static int open_segments(struct channel *ch)
{
    int fd[2] = {-1, -1};
    for (int i = DATA; i >= HEAD; i--) { /* DATA first, see section 4.2 */
        struct stat st;
        fd[i] = shm_open(ch->name[i], O_RDWR, 0);
        if (fd[i] < 0 && errno == ENOENT) {
            if (fd[DATA] >= 0) close(fd[DATA]);
            return 0;
        }
        if (fd[i] < 0 || fstat(fd[i], &st) != 0) {
            fail("cannot open %s: %s", ch->name[i], strerror(errno));
        } else if (object_is_safe(&st, ch->name[i])) {
            continue;
        }
        for (int k = HEAD; k <= DATA; k++)
            if (fd[k] >= 0) close(fd[k]);
        return -1;
    }
    ch->head = fd[HEAD];
    ch->data = fd[DATA];
    return 1;
}

static int client_attach(struct channel *ch, double timeout_s)
{
    if (!(ch->req = open_semaphore(ch->name[REQ], &ch->made[REQ])) ||
        !(ch->res = open_semaphore(ch->name[RES], &ch->made[RES])))
        return -1;
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    for (;;) {
        int r = open_segments(ch);
        if (r != 0)
            return r > 0 ? 0 : -1;
        if (stop_requested) {
            fail("interrupted while waiting for the server");
            return -1;
        }
        if (now_ns() >= deadline) {
            fail("no server created channel segments %s within %g s", ch->name[DATA], timeout_s);
            return -1;
        }
        sleep_ms(POLL_MS);
    }
}

/* DATA was unlinked: the server closed or restarted.  1: re-attached to new
 * objects (and locked); 0: the server is gone; -1: failure; -2: another
 * client took the new channel first. */
static int client_reopen(struct channel *ch)
{
    memset(ch->made, 0, sizeof ch->made); /* attached once: we unlink nothing */
    close_channel(ch, false);
    int64_t deadline = now_ns() + (int64_t)REOPEN_MS * 1000000;
    for (;;) {
        /* The server removes the semaphores last: gone semaphores = closed. */
        if (!(ch->req = open_existing_semaphore(ch->name[REQ])) ||
            !(ch->res = open_existing_semaphore(ch->name[RES]))) {
            int gone = errno == ENOENT;
            close_channel(ch, false);
            return gone ? 0 : -1;
        }
        int r = open_segments(ch);
        if (r > 0) {
            int locked = take_client_lock(ch);
            return locked == 0 ? 1 : locked;
        }
        if (r < 0)
            return r;
        sem_close(ch->req);
        sem_close(ch->res);
        ch->req = ch->res = NULL;
        if (now_ns() >= deadline)
            return 0; /* semaphores but no segments for too long */
        sleep_ms(POLL_MS);
    }
}

/* --- Sections 5 and 8: reading and writing the segments ------------------ */

/* Wait on `sem` until the monotonic deadline.  0, ETIMEDOUT, EINTR (only
 * when a stop was requested: otherwise a signal does not pass the turn). */
static int wait_until(sem_t *sem, int64_t deadline_ns)
{
    struct timespec ts = {(time_t)(deadline_ns / 1000000000), (long)(deadline_ns % 1000000000)};
    for (;;) {
        if (sem_clockwait(sem, CLOCK_MONOTONIC, &ts) == 0)
            return 0;
        if (errno != EINTR || stop_requested)
            return errno;
    }
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -1 : (errno = EIO, -1);
        p += n, len -= (size_t)n, off += n;
    }
    return 0;
}

/* Read `n` HEAD words after checking with fstat that they exist: a HEAD
 * shorter than the layout is a protocol error, never a short read to use. */
static int read_head(int fd, uint64_t *words, size_t n, const char *what)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fail("cannot fstat the header segment: %s", strerror(errno));
        return -1;
    }
    if ((uint64_t)st.st_size < n * 8 || pread(fd, words, n * 8, 0) != (ssize_t)(n * 8)) {
        fail("protocol error: the header segment holds %jd bytes, a %s needs %zu",
             (intmax_t)st.st_size, what, n * 8);
        return -1;
    }
    return 0;
}

/* Put `len` bytes at DATA offset 0.  The writer grows DATA (to exactly `len`:
 * libshmemaphore rounds up, so peers see both styles) and never shrinks it.
 * pwrite rather than a mapping, so that tmpfs exhaustion is ENOSPC, not SIGBUS. */
static int put_data(int fd, const void *buf, uint64_t len)
{
    struct stat st;
    if (len > (uint64_t)INT64_MAX || len > SIZE_MAX)
        return errno = EFBIG, -1;
    if (fstat(fd, &st) != 0)
        return -1;
    if ((uint64_t)st.st_size < len && ftruncate(fd, (off_t)len) != 0)
        return -1;
    return pwrite_all(fd, buf, (size_t)len, 0);
}

/* --- Server: one exchange ------------------------------------------------ */

/* Header first, then data (libshmemaphore writes the data first: the order
 * within a turn is free, section 5). */
static int send_request(struct channel *ch, const char *req, size_t len, uint64_t index)
{
    uint64_t word = len;
    if (pwrite_all(ch->head, &word, 8, 0) != 0) {
        fail("cannot write the request header: %s", strerror(errno));
        return -1;
    }
    die_point(DIE_AFTER_HEADER, index);
    if (put_data(ch->data, req, len) != 0) {
        fail("cannot write the request: %s", strerror(errno));
        return -1;
    }
    die_point(DIE_AFTER_DATA, index);
    if (sem_post(ch->req) != 0) {
        fail("sem_post(REQ): %s", strerror(errno));
        return -1;
    }
    die_point(DIE_AFTER_POST, index);
    return 0;
}

/* Wait for the response, validate it (section 7) and print its line. */
static int receive_response(struct channel *ch, uint64_t index, size_t req_len, int64_t t0, double timeout_s)
{
    if (die_step == DIE_WHILE_WAITING && die_exchange == index) {
        /* Really wait, DIE_WAIT_MS, then die.  A response that comes sooner
         * is taken and lost, as when a server dies right after its wait. */
        int early = wait_until(ch->res, now_ns() + (int64_t)DIE_WAIT_MS * 1000000);
        if (early == 0)
            fprintf(stderr, "%s: --die-at %s: the response came within %d ms; dying without reading it\n",
                    prog, die_text, DIE_WAIT_MS);
        die_point(DIE_WHILE_WAITING, index);
    }
    int rc = wait_until(ch->res, t0 + (int64_t)(timeout_s * 1e9));
    if (rc != 0) {
        if (rc == ETIMEDOUT)
            fail("no response to request %" PRIu64 " within %g s", index, timeout_s);
        else
            fail("waiting for the response: %s", rc == EINTR ? "interrupted" : strerror(rc));
        return -1; /* the turn stays the client's: touch nothing */
    }
    uint64_t w[4];
    if (read_head(ch->head, w, 4, "response") != 0)
        return -1;
    double ms = (double)(now_ns() - t0) / 1e6;
    const uint64_t bytes = w[0], width = w[1], height = w[2], chans = w[3];

    enum { ERROR, BYTES, IMAGE } kind;
    if (chans == UINT64_MAX && height == 0) {
        kind = ERROR;
    } else if (width == 0 && height == 0 && chans == 0) {
        kind = BYTES;
    } else if (width != 0 && height != 0 && chans != 0) {
        kind = IMAGE;
        if (width > UINT64_MAX / height || width * height > UINT64_MAX / chans ||
            width * height * chans != bytes) {
            fail("protocol error: image %" PRIu64 "x%" PRIu64 "x%" PRIu64 " with %" PRIu64 " bytes",
                 width, height, chans, bytes);
            return -1;
        }
    } else {
        fail("protocol error: response words B=%" PRIu64 " W=%" PRIu64 " H=%" PRIu64 " C=%" PRIu64,
             bytes, width, height, chans);
        return -1;
    }

    struct stat st;
    if (fstat(ch->data, &st) != 0) {
        fail("cannot fstat the data segment: %s", strerror(errno));
        return -1;
    }
    if (bytes > (uint64_t)st.st_size || bytes > SIZE_MAX) {
        fail("protocol error: response of %" PRIu64 " bytes, data segment holds %jd",
             bytes, (intmax_t)st.st_size);
        return -1;
    }
    if (kind == ERROR) {
        printf("%" PRIu64 " %zu error %" PRIu64 " %.3f\n", index, req_len, width, ms);
        return 0;
    }
    /* Map exactly the B bytes fstat vouched for, for this access only. */
    uint64_t hash = fnv1a64(NULL, 0);
    if (bytes > 0) {
        void *p = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, ch->data, 0);
        if (p == MAP_FAILED) {
            fail("cannot map the response: %s", strerror(errno));
            return -1;
        }
        hash = fnv1a64(p, (size_t)bytes);
        munmap(p, (size_t)bytes);
    }
    if (kind == BYTES)
        printf("%" PRIu64 " %zu bytes %" PRIu64 " %016" PRIx64 " %.3f\n", index, req_len, bytes, hash, ms);
    else
        printf("%" PRIu64 " %zu image %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %016" PRIx64 " %.3f\n",
               index, req_len, width, height, chans, bytes, hash, ms);
    return 0;
}

struct request {
    char *text;
    size_t len;
};

/* One request per line; an empty line is an empty request.  Only the '\n'
 * is stripped, so a '\r' or spaces stay part of the request. */
static struct request *read_requests(const char *file, size_t *count)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        fail("cannot open %s: %s", file, strerror(errno));
        return NULL;
    }
    struct request *reqs = NULL;
    size_t n = 0, alloc = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        struct request *grown = n < alloc ? reqs : realloc(reqs, (alloc = alloc * 2 + 16) * sizeof *reqs);
        if (!grown || !(grown[n].text = malloc((size_t)len + 1))) {
            fail("out of memory reading %s", file);
            exit(EXIT_FAIL);
        }
        reqs = grown;
        memcpy(reqs[n].text, line, (size_t)len + 1); /* not strdup: a line may hold NUL */
        reqs[n++].len = (size_t)len;
    }
    if (ferror(f) || n == 0) {
        fail(n ? "cannot read %s" : "%s holds no requests", file);
        exit(EXIT_FAIL);
    }
    free(line);
    fclose(f);
    *count = n;
    return reqs;
}

static int run_server(const char *channel, const char *file, uint64_t count, double timeout_s)
{
    size_t n;
    struct request *reqs = read_requests(file, &n);
    if (!reqs)
        return EXIT_FAIL;
    struct channel ch = {.head = -1, .data = -1};
    int status = EXIT_OK;
    if (make_names(&ch, channel) != 0) {
        status = EXIT_USAGE;
        goto done;
    }
    if (server_open(&ch) != 0) {
        close_channel(&ch, false);
        status = EXIT_OPEN;
        goto done;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* a runner may follow the lines live */
    die_point(DIE_AFTER_OPEN, 1);
    for (uint64_t i = 0; i < count && status == EXIT_OK; i++) {
        const struct request *r = &reqs[i % n];
        int64_t t0 = now_ns();
        if (send_request(&ch, r->text, r->len, i + 1) != 0 ||
            receive_response(&ch, i + 1, r->len, t0, timeout_s) != 0)
            status = EXIT_FAIL;
    }
    close_channel(&ch, true);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fail("cannot write standard output");
        status = EXIT_FAIL;
    }
done:
    for (size_t k = 0; k < n; k++)
        free(reqs[k].text);
    free(reqs);
    return status;
}

/* --- Client: one exchange ------------------------------------------------ */

/* Requests this client has taken from REQ: the exchange --die-at counts. */
static uint64_t client_exchange = 0;

/* 1: a request is ours to answer; 0: the server closed the channel; -1:
 * failure; -2: another client took the restarted server's channel. */
static int wait_request(struct channel *ch)
{
    for (;;) {
        int rc = wait_until(ch->req, now_ns() + (int64_t)SLICE_MS * 1000000);
        if (rc != 0 && rc != ETIMEDOUT) {
            fail("waiting for a request: %s", rc == EINTR ? "interrupted" : strerror(rc));
            return -1;
        }
        /* Between slices and after a successful wait alike: a DATA without
         * links means the server closed or restarted (section 9). */
        struct stat st;
        if (fstat(ch->data, &st) != 0) {
            fail("cannot fstat the data segment: %s", strerror(errno));
            return -1;
        }
        if (st.st_nlink == 0) {
            int r = client_reopen(ch);
            if (r <= 0)
                return r;
        }
        if (rc == 0)
            return 1;
    }
}

/* Header first into HEAD and payload into DATA would also be legal; DATA
 * first means a failure to grow DATA leaves HEAD free for an error answer. */
static int send_response(struct channel *ch, uint64_t b, uint64_t w, uint64_t h, uint64_t c, const void *payload)
{
    uint64_t words[4] = {b, w, h, c};
    die_point(DIE_AFTER_READ, client_exchange); /* an error answer may come before the read */
    if (put_data(ch->data, payload, b) != 0)
        return -1;
    die_point(DIE_AFTER_DATA, client_exchange);
    if (pwrite_all(ch->head, words, sizeof words, 0) != 0) /* extends an 8-byte HEAD */
        return -1;
    die_point(DIE_AFTER_HEADER, client_exchange);
    if (sem_post(ch->res) != 0)
        return -1;
    die_point(DIE_AFTER_POST, client_exchange);
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int send_error(struct channel *ch, uint64_t code, const char *format, ...)
{
    char message[512];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(message, sizeof message, format, args);
    va_end(args);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof message ? (size_t)n : sizeof message - 1;
    while (len > 0 && !valid_utf8((unsigned char *)message, len))
        len--; /* truncation may have split a character */
    if (send_response(ch, len, code, 0, UINT64_MAX, message) != 0) {
        fail("cannot send an error response: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* A request name fit for a message: valid UTF-8 without control characters. */
static void printable(const char *name, size_t len, char *out)
{
    bool utf8 = valid_utf8((const unsigned char *)name, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        out[i] = c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8) ? '?' : (char)c;
    }
    out[len] = '\0';
}

/* Find DIR/<name>, then DIR/<name>.<ext>, as a regular file. */
static const char *find_image(const char *dir, const char *name, char *path, size_t size)
{
    static const char *const ext[] = {"", ".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif",
                                      ".psd", ".hdr", ".pic", ".pnm", ".ppm", ".pgm"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        struct stat st;
        int n = snprintf(path, size, "%s/%s%s", dir, name, ext[i]);
        if (n > 0 && (size_t)n < size && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return ext[i];
    }
    return NULL;
}

/* Answer the request we hold: exactly one response, whatever happens short
 * of being unable to write at all (then -1 and the client gives up). */
static int serve_request(struct channel *ch, const char *dir)
{
    uint64_t len;
    struct stat st;
    char name[NAME_MAX_BYTES + 1], shown[NAME_MAX_BYTES + 1], path[PATH_MAX];

    if (read_head(ch->head, &len, 1, "request") != 0)
        return send_error(ch, 2, "bad request: the header segment is too short");
    if (fstat(ch->data, &st) != 0)
        return send_error(ch, 0, "cannot fstat the data segment: %s", strerror(errno));
    if (len > (uint64_t)st.st_size)
        return send_error(ch, 2, "bad request: %" PRIu64 " bytes promised, the data segment holds %jd",
                          len, (intmax_t)st.st_size);
    if (len == 0)
        return send_error(ch, 2, "bad request: empty request");
    if (len > NAME_MAX_BYTES)
        return send_error(ch, 2, "bad request: %" PRIu64 " bytes is longer than a file name", len);
    if (pread(ch->data, name, (size_t)len, 0) != (ssize_t)len)
        return send_error(ch, 0, "cannot read the request: %s", strerror(errno));
    die_point(DIE_AFTER_READ, client_exchange);
    name[len] = '\0';
    printable(name, (size_t)len, shown);
    /* These keep DIR/<name> inside DIR and stop a NUL from cutting the name. */
    if (memchr(name, '\0', (size_t)len) || strchr(name, '/') || name[0] == '.')
        return send_error(ch, 2, "bad request: '%s' is not a file name", shown);

    const char *ext = find_image(dir, name, path, sizeof path);
    if (!ext)
        return send_error(ch, 1, "no such image: %s", shown);
    int w, h, c;
    unsigned char *pixels = stbi_load(path, &w, &h, &c, 0);
    if (!pixels)
        return send_error(ch, 0, "cannot decode %s%s: %s", shown, ext, stbi_failure_reason());
    uint64_t bytes = (uint64_t)w * (uint64_t)h * (uint64_t)c; /* < 2^64: ints */
    int rc = send_response(ch, bytes, (uint64_t)w, (uint64_t)h, (uint64_t)c, pixels);
    int err = errno;
    stbi_image_free(pixels);
    if (rc != 0)
        return send_error(ch, 0, "cannot send %s%s (%" PRIu64 " bytes): %s", shown, ext, bytes, strerror(err));
    return 0;
}

static int run_client(const char *channel, const char *dir, double attach_s)
{
    struct channel ch = {.head = -1, .data = -1};
    if (make_names(&ch, channel) != 0)
        return EXIT_USAGE;
    if (client_attach(&ch, attach_s) != 0) {
        close_channel(&ch, false); /* only the semaphores we created */
        return EXIT_OPEN;
    }
    if (take_client_lock(&ch) != 0) {
        close_channel(&ch, false); /* only the semaphores we created */
        return EXIT_OPEN;
    }
    memset(ch.made, 0, sizeof ch.made); /* attached: a client unlinks nothing */
    die_point(DIE_AFTER_ATTACH, 1);
    for (;;) {
        int r = wait_request(&ch);
        if (r <= 0) {
            close_channel(&ch, false);
            return r == 0 ? EXIT_OK : r == -2 ? EXIT_OPEN : EXIT_FAIL;
        }
        client_exchange++;
        die_point(DIE_AFTER_WAIT, client_exchange);
        if (serve_request(&ch, dir) != 0) {
            close_channel(&ch, false);
            return EXIT_FAIL;
        }
    }
}

/* --- Command line -------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s server --channel CH --requests FILE --count N [--timeout SECONDS] [--die-at STEP[@N]]\n"
            "       %s client --channel CH --dir DIR [--attach-timeout SECONDS] [--die-at STEP[@N]]\n"
            "An independent implementation of shmemaphore protocol version 1 (docs/PROTOCOL.md).\n"
            "\n"
            "--die-at STEP[@N]: kill this process with SIGKILL at STEP of exchange N (default 1),\n"
            "to test how the other side survives a dead peer.  Steps of the server:\n"
            "  after-open     segments created (HEAD locked), nothing written (N must be 1)\n"
            "  after-header   request header written, request data not\n"
            "  after-data     request header and data written, REQ not posted\n"
            "  after-post     REQ posted, before waiting for RES\n"
            "  while-waiting  %d ms into the wait for RES (a response that came sooner is lost)\n"
            "Steps of the client (exchange N = the Nth request taken):\n"
            "  after-attach   attached and locked, no request taken (N must be 1)\n"
            "  after-wait     took the REQ token, read nothing\n"
            "  after-read     read the request, wrote nothing\n"
            "  after-data     response data written, response header not\n"
            "  after-header   response header written, RES not posted\n"
            "  after-post     RES posted\n"
            "Before dying it prints '<prog>: --die-at STEP[@N]: SIGKILL at monotonic-ns T' to stderr.\n"
            "\n"
            "Exit status: 0 ok, 1 failure, 2 usage, 3 could not open or attach the channel\n"
            "(or another client is attached).\n",
            prog, prog, DIE_WAIT_MS);
}

static bool parse_seconds(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v <= 0 || v > 1e6)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    if (argc > 0 && argv[0][0])
        prog = argv[0];
    const char *channel = NULL, *requests = NULL, *dir = NULL, *count_text = NULL;
    double timeout_s = 30, attach_s = 10;
    bool timeout_given = false, attach_given = false, ok = true;

    static const struct option options[] = {
        {"channel", required_argument, NULL, 'c'}, {"requests", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'},   {"timeout", required_argument, NULL, 't'},
        {"dir", required_argument, NULL, 'd'},     {"attach-timeout", required_argument, NULL, 'a'},
        {"die-at", required_argument, NULL, 'k'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* The role comes first, so that a POSIXLY_CORRECT getopt (which stops at
     * the first non-option) still sees the options; getopt_long names
     * argv[0] in its messages, hence the shifted vector keeps it in front. */
    const char *role = argc > 1 ? argv[1] : "";
    bool server = !strcmp(role, "server");
    if (!server && strcmp(role, "client")) {
        if (!strcmp(role, "--help")) {
            usage(stdout);
            return EXIT_OK;
        }
        fprintf(stderr, "%s: the first argument must be the role, 'server' or 'client'\n", prog);
        usage(stderr);
        return EXIT_USAGE;
    }
    argv[1] = argv[0];
    int opt;
    while (ok && (opt = getopt_long(argc - 1, argv + 1, "", options, NULL)) != -1) {
        switch (opt) {
        case 'c': channel = optarg; break;
        case 'r': requests = optarg; break;
        case 'd': dir = optarg; break;
        case 'n': count_text = optarg; break;
        case 't':
            timeout_given = true;
            if (!(ok = parse_seconds(optarg, &timeout_s)))
                fprintf(stderr, "%s: --timeout: '%s' is not a number of seconds > 0\n", prog, optarg);
            break;
        case 'a':
            attach_given = true;
            if (!(ok = parse_seconds(optarg, &attach_s)))
                fprintf(stderr, "%s: --attach-timeout: '%s' is not a number of seconds > 0\n", prog, optarg);
            break;
        case 'k':
            if (!(ok = parse_die_at(optarg, server)))
                fprintf(stderr, "%s: --die-at: '%s' is not a %s step (see --help)\n", prog, optarg,
                        server ? "server" : "client");
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: ok = false; break; /* getopt_long printed why */
        }
    }
    uint64_t count = 0;
    if (ok && optind < argc - 1) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind + 1]);
        ok = false;
    } else if (ok && server && (!channel || !requests || !count_text || dir || attach_given)) {
        fprintf(stderr, "%s: server takes --channel, --requests, --count, --timeout and --die-at\n", prog);
        ok = false;
    } else if (ok && !server && (!channel || !dir || requests || count_text || timeout_given)) {
        fprintf(stderr, "%s: client takes --channel, --dir, --attach-timeout and --die-at\n", prog);
        ok = false;
    } else if (ok && server) {
        char *end;
        errno = 0;
        count = strtoull(count_text, &end, 10);
        if (errno || end == count_text || *end || count_text[0] == '-') {
            fprintf(stderr, "%s: --count: '%s' is not a whole number\n", prog, count_text);
            ok = false;
        }
    }
    if (!ok) {
        usage(stderr);
        return EXIT_USAGE;
    }

    /* No SA_RESTART: a signal must interrupt the waits so that the server
     * can still remove its objects before exiting. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    return server ? run_server(channel, requests, count, timeout_s) : run_client(channel, dir, attach_s);
}
