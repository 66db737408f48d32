/*
 * hostile.c - a process that breaks the shmemaphore protocol on purpose
 * (issue 9, docs/SECURITY.md).  Plain POSIX and Linux calls, no
 * libshmemaphore: Tests/Hostile/run.sh runs it against victims that use the
 * library (Tests/Hostile/capi_victim.c and the `shmemaphore` tool) and
 * checks that every attack ends in a clean error or a correct exchange.
 *
 * Object names (docs/PROTOCOL.md, section 2): for channel N, S is N with '/'
 * replaced by '_'; REQ/RES are /dev/shm/sem.SEM_S_REQ and _RES, HEAD/DATA
 * are /dev/shm/SEG_S_HEAD and _DATA.
 *
 * Subcommands
 *   post REQ|RES CHANNEL INTERVAL_US DURATION_MS
 *       a third process: wait for the semaphore to exist, then sem_post it
 *       every INTERVAL_US for DURATION_MS (or until SIGTERM/SIGINT).
 *   zero-sem CHANNEL REQ|RES
 *       create the semaphore's file as a 0-byte regular file (mode 0600).
 *   plant CHANNEL OBJECT...
 *       create well-formed objects (HEAD|DATA|REQ|RES) as plain files, 0600,
 *       held open by nobody (a crashed run's leftovers).
 *   swap CHANNEL REQ|RES DURATION_MS [--target PATH] [--post-every N] [--truncate-every N]
 *       (run as another user) own the semaphore's name and keep exchanging,
 *       with renameat2(RENAME_EXCHANGE), a 0666 semaphore file of this user
 *       with a symlink to TARGET (default: the channel's other semaphore, a
 *       real file of the victim).  A victim that checks the file by name
 *       after opening it (stat after sem_open) sees the victim's own file and
 *       uses this user's.  Every N swaps it posts its semaphore (forged
 *       tokens) and every M swaps it truncates it to 0 for a while (SIGBUS
 *       for a victim that mapped it).  Names the victim removed are made again.
 *       Without RENAME_EXCHANGE (EINVAL/ENOSYS) it swaps with three renames.
 *   truncate-loop PATH DURATION_MS
 *       own PATH (a semaphore-sized file, created if missing, re-created when
 *       removed) and ftruncate it to 0 and back, over and over.
 *   server CHANNEL [options]      a lying server (see usage())
 *   client CHANNEL [options]      a lying client (see usage())
 *   names DIR TAG [--remove]
 *       create (or remove) the four objects of channels whose names hold
 *       terminal escapes: ESC[2J, an OSC title sequence, newline, CR, C1 CSI,
 *       DEL, ...  Every name starts with TAG.
 *   mkimages DIR
 *       write the PPM images the tool client serves: k0..k255.ppm, m.ppm, b.ppm
 *       (the payloads of the shared convention below).
 *   check-lines REQUESTS_FILE TOOL_STDOUT
 *       check each line printed by `shmemaphore server --requests FILE`
 *       against the payload the convention below gives for its request.
 *   check-text FILE
 *       report bytes a terminal could obey: C0 controls (but newline), DEL,
 *       C1 controls, bytes that are not UTF-8.
 *
 * The payload convention, shared with capi_victim.c
 *   pattern(N, i) = (N * 31 + i) & 0xff
 *   request "k<N>"        -> image W x H x 3, W = 1 + (N*7) % 29,
 *                            H = 1 + (N*3) % 17, pixel byte i = pattern(N, i)
 *   request "k<N>:<LEN>"  -> raw bytes, LEN bytes of pattern(N, i); anything
 *                            after a ';' is padding and ignored
 *   request "m"           -> image 512 x 512 x 3, pattern(7, i)
 *   request "b"           -> image 2048 x 2048 x 3, pattern(11, i)
 *
 * Every line of output that a driver reads is "key=value ..." on stdout.
 * Exit status: 0 the subcommand ran (for server/client: and saw no wrong
 * answer and no timeout), 1 a failure, 2 usage.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
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
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

static const char *prog = "hostile";
static volatile sig_atomic_t stop_requested = 0;
static void on_stop(int signo) { (void)signo; stop_requested = 1; }

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void note(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "%s[%ld]: ", prog, (long)getpid());
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static int usage(void);

/* --- time --------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* --- numbers and names ---------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_long(const char *s, long *out)
{
    uint64_t v;
    if (!parse_u64(s, &v) || v > LONG_MAX)
        return false;
    *out = (long)v;
    return true;
}

struct names {
    char s[256];                       /* the channel name with '/' -> '_' */
    char head[300], data[300];         /* shm_open names */
    char req[300], res[300];           /* sem_open names */
    char head_path[320], data_path[320], req_path[320], res_path[320];
};

static bool make_names(const char *channel, struct names *n)
{
    size_t len = strlen(channel);
    if (len == 0 || len > 200)
        return false;
    memset(n, 0, sizeof *n);
    for (size_t i = 0; i < len; i++)
        n->s[i] = channel[i] == '/' ? '_' : channel[i];
    snprintf(n->head, sizeof n->head, "/SEG_%s_HEAD", n->s);
    snprintf(n->data, sizeof n->data, "/SEG_%s_DATA", n->s);
    snprintf(n->req, sizeof n->req, "/SEM_%s_REQ", n->s);
    snprintf(n->res, sizeof n->res, "/SEM_%s_RES", n->s);
    snprintf(n->head_path, sizeof n->head_path, "/dev/shm%s", n->head);
    snprintf(n->data_path, sizeof n->data_path, "/dev/shm%s", n->data);
    snprintf(n->req_path, sizeof n->req_path, "/dev/shm/sem.%s", n->req + 1);
    snprintf(n->res_path, sizeof n->res_path, "/dev/shm/sem.%s", n->res + 1);
    return true;
}

/* "REQ" or "RES" -> the semaphore's file path (and its sem_open name). */
static const char *sem_path_of(const struct names *n, const char *which, const char **sem_name)
{
    if (strcmp(which, "REQ") == 0) {
        if (sem_name) *sem_name = n->req;
        return n->req_path;
    }
    if (strcmp(which, "RES") == 0) {
        if (sem_name) *sem_name = n->res;
        return n->res_path;
    }
    return NULL;
}

/* --- payload convention (see the header comment) -------------------------- */

static uint8_t pattern(uint64_t n, uint64_t i) { return (uint8_t)((n * 31 + i) & 0xff); }

static void fill_pattern(uint8_t *p, uint64_t n, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        p[i] = pattern(n, i);
}

static uint64_t fnv1a64(const uint8_t *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (uint64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}

#define MAX_PAYLOAD ((uint64_t)64 << 20)

/* The answer the convention gives for a request: kind 'i' (image, w h c),
 * 'b' (bytes, len) or 0 (not a request of the convention). */
struct expected {
    char kind;
    uint64_t seed, w, h, c, len;
};

static struct expected expected_for(const char *req, size_t req_len)
{
    struct expected e = {0, 0, 0, 0, 0, 0};
    char text[64];
    size_t n = req_len < sizeof text - 1 ? req_len : sizeof text - 1;
    memcpy(text, req, n);
    text[n] = '\0';
    char *semi = strchr(text, ';');
    if (semi)
        *semi = '\0';
    if (strcmp(text, "m") == 0) {
        e = (struct expected){'i', 7, 512, 512, 3, 512 * 512 * 3};
        return e;
    }
    if (strcmp(text, "b") == 0) {
        e = (struct expected){'i', 11, 2048, 2048, 3, 2048 * 2048 * 3};
        return e;
    }
    if (text[0] != 'k')
        return e;
    char *colon = strchr(text, ':');
    uint64_t seed, len;
    if (colon) {
        *colon = '\0';
        if (!parse_u64(text + 1, &seed) || !parse_u64(colon + 1, &len) || len > MAX_PAYLOAD)
            return e;
        e = (struct expected){'b', seed, 0, 0, 0, len};
        return e;
    }
    if (!parse_u64(text + 1, &seed))
        return e;
    uint64_t w = 1 + (seed * 7) % 29, h = 1 + (seed * 3) % 17;
    e = (struct expected){'i', seed, w, h, 3, w * h * 3};
    return e;
}

/* --- semaphore files -------------------------------------------------------- */

/* The bytes of a fresh process-shared sem_t of value `value`, as glibc's
 * sem_open writes them. */
static void sem_bytes(unsigned value, unsigned char out[sizeof(sem_t)])
{
    sem_t tmp;
    memset(&tmp, 0, sizeof tmp);
    sem_init(&tmp, 1, value);
    memcpy(out, &tmp, sizeof tmp);
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t k = pwrite(fd, p, len, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k, len -= (size_t)k, off += k;
    }
    return 0;
}

static ssize_t read_all(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t k = pread(fd, p + done, len - done, off + (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

/* A new semaphore file at `path` (O_EXCL), `mode`, value 0. fd or -1. */
static int create_sem_file(const char *path, mode_t mode)
{
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    unsigned char bytes[sizeof(sem_t)];
    sem_bytes(0, bytes);
    if (fchmod(fd, mode) != 0 || write_all(fd, bytes, sizeof bytes, 0) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e;
        return -1;
    }
    return fd;
}

/* --- post ----------------------------------------------------------------- */

static int cmd_post(int argc, char **argv)
{
    struct names n;
    const char *sem_name = NULL;
    long interval_us, duration_ms;
    if (argc != 4 || !make_names(argv[1], &n) || !sem_path_of(&n, argv[0], &sem_name) ||
        !parse_long(argv[2], &interval_us) || !parse_long(argv[3], &duration_ms))
        return usage();
    install_stop_handlers();
    int64_t deadline = now_ns() + (int64_t)duration_ms * 1000000;
    sem_t *sem = SEM_FAILED;
    while (!stop_requested && now_ns() < deadline) {
        sem = sem_open(sem_name, 0);
        if (sem != SEM_FAILED)
            break;
        sleep_us(1000);
    }
    if (sem == SEM_FAILED) {
        note("post: %s never appeared", sem_name);
        printf("posts=0\n");
        return 1;
    }
    printf("posting\n");
    fflush(stdout);
    uint64_t posts = 0;
    while (!stop_requested && now_ns() < deadline) {
        if (sem_post(sem) == 0)
            posts++;
        sleep_us(interval_us);
    }
    sem_close(sem);
    printf("posts=%" PRIu64 "\n", posts);
    return 0;
}

/* --- zero-sem, plant ---------------------------------------------------------- */

static int cmd_zero_sem(int argc, char **argv)
{
    struct names n;
    const char *path;
    if (argc != 2 || !make_names(argv[0], &n) || !(path = sem_path_of(&n, argv[1], NULL)))
        return usage();
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        note("zero-sem: %s: %s", path, strerror(errno));
        return 1;
    }
    close(fd);
    printf("planted=%s\n", path);
    return 0;
}

static int cmd_plant(int argc, char **argv)
{
    struct names n;
    if (argc < 2 || !make_names(argv[0], &n))
        return usage();
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        off_t size = 0;
        bool sem = false;
        if (strcmp(argv[i], "HEAD") == 0) path = n.head_path, size = 64;
        else if (strcmp(argv[i], "DATA") == 0) path = n.data_path, size = 4096;
        else if ((path = sem_path_of(&n, argv[i], NULL))) sem = true;
        else return usage();
        int fd;
        if (sem) {
            fd = create_sem_file(path, 0600);
        } else {
            fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd >= 0 && (fchmod(fd, 0600) != 0 || ftruncate(fd, size) != 0)) {
                close(fd);
                fd = -1;
            }
        }
        if (fd < 0 && errno != EEXIST) {
            note("plant: %s: %s", path, strerror(errno));
            return 1;
        }
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

/* --- swap ----------------------------------------------------------------------- */

/* Our 0666 semaphore file and the symlink, under the names `a` (the victim's
 * semaphore name) and `b` (a side name of ours). */
struct swap_state {
    const char *a, *target;
    char b[400];
    int fd;            /* our semaphore file */
    sem_t *map;        /* its mapping, for posting */
    bool file_at_a;    /* where the file is now */
    bool truncated;
};

static void swap_drop_file(struct swap_state *st)
{
    if (st->map) munmap(st->map, sizeof(sem_t));
    if (st->fd >= 0) close(st->fd);
    st->map = NULL;
    st->fd = -1;
}

/* Unlinks `path` if it is ours (we may not remove the victim's files anyway:
 * /dev/shm is sticky). */
static void unlink_if_ours(const char *path)
{
    struct stat s;
    if (lstat(path, &s) == 0 && s.st_uid == getuid())
        unlink(path);
}

/* (Re)creates our file at a and the symlink at b.  false when a name is
 * taken by someone else (the victim's own semaphore): try later. */
static bool swap_setup(struct swap_state *st)
{
    swap_drop_file(st);
    unlink_if_ours(st->a);
    unlink_if_ours(st->b);
    st->fd = create_sem_file(st->a, 0666);
    if (st->fd < 0)
        return false;
    void *m = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, st->fd, 0);
    st->map = m == MAP_FAILED ? NULL : m;
    st->file_at_a = true;
    st->truncated = false;
    if (symlink(st->target, st->b) != 0) {
        swap_drop_file(st);
        unlink_if_ours(st->a);
        return false;
    }
    return true;
}

static int cmd_swap(int argc, char **argv)
{
    struct names n;
    const char *a;
    long duration_ms, post_every = 7, truncate_every = 0;
    const char *target = NULL;
    if (argc < 3 || !make_names(argv[0], &n) || !(a = sem_path_of(&n, argv[1], NULL)) ||
        !parse_long(argv[2], &duration_ms))
        return usage();
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) target = argv[++i];
        else if (strcmp(argv[i], "--post-every") == 0 && i + 1 < argc && parse_long(argv[i + 1], &post_every)) i++;
        else if (strcmp(argv[i], "--truncate-every") == 0 && i + 1 < argc && parse_long(argv[i + 1], &truncate_every)) i++;
        else return usage();
    }
    if (!target)
        target = strcmp(argv[1], "REQ") == 0 ? n.res_path : n.req_path;
    install_stop_handlers();
    struct swap_state st = {.a = a, .target = target, .fd = -1, .map = NULL};
    snprintf(st.b, sizeof st.b, "%s.swap", a);
    int64_t deadline = now_ns() + (int64_t)duration_ms * 1000000;
    uint64_t swaps = 0, posts = 0, truncations = 0, setups = 0, blocked = 0;
    bool ready = false, exchange_unsupported = false;
    while (!stop_requested && now_ns() < deadline) {
        if (!ready) {
            ready = swap_setup(&st);
            if (!ready) {
                blocked++;
                sleep_us(200);
                continue;
            }
            if (setups++ == 0) {
                printf("swapping=%s\n", a);
                fflush(stdout);
            }
        }
        if (!exchange_unsupported && renameat2(AT_FDCWD, st.a, AT_FDCWD, st.b, RENAME_EXCHANGE) != 0) {
            if (errno == EINVAL || errno == ENOSYS) {
                /* No RENAME_EXCHANGE here: fall back to plain renames
                 * through a third name (the name is missing for a moment). */
                note("swap: renameat2(RENAME_EXCHANGE): %s; using rename loops", strerror(errno));
                exchange_unsupported = true;
            } else {
                /* A victim removed one of the names (an old server's close by
                 * name): set up again. */
                ready = false;
                continue;
            }
        }
        if (exchange_unsupported) {
            char c[420];
            snprintf(c, sizeof c, "%s.tmp", st.a);
            if (rename(st.a, c) != 0 || rename(st.b, st.a) != 0 || rename(c, st.b) != 0) {
                ready = false;
                continue;
            }
        }
        st.file_at_a = !st.file_at_a;
        swaps++;
        if (truncate_every > 0 && swaps % (uint64_t)truncate_every == 0 && !st.truncated) {
            if (ftruncate(st.fd, 0) == 0) {
                st.truncated = true;
                truncations++;
            }
        } else if (st.truncated && truncate_every > 0 && swaps % (uint64_t)truncate_every == (uint64_t)truncate_every / 2) {
            unsigned char bytes[sizeof(sem_t)];
            sem_bytes(0, bytes);
            if (ftruncate(st.fd, sizeof(sem_t)) == 0 && write_all(st.fd, bytes, sizeof bytes, 0) == 0)
                st.truncated = false;
        }
        if (!st.truncated && st.map && post_every > 0 && swaps % (uint64_t)post_every == 0) {
            sem_post(st.map);
            posts++;
        }
    }
    swap_drop_file(&st);
    unlink_if_ours(st.a);
    unlink_if_ours(st.b);
    char tmp[420];
    snprintf(tmp, sizeof tmp, "%s.tmp", st.a);
    unlink_if_ours(tmp);
    printf("swaps=%" PRIu64 " posts=%" PRIu64 " truncations=%" PRIu64 " setups=%" PRIu64 " blocked=%" PRIu64 " exchange=%s\n",
           swaps, posts, truncations, setups, blocked, exchange_unsupported ? "rename-loop" : "renameat2");
    return swaps > 0 ? 0 : 1;
}

/* --- truncate-loop ------------------------------------------------------------ */

static int cmd_truncate_loop(int argc, char **argv)
{
    long duration_ms;
    if (argc != 2 || !parse_long(argv[1], &duration_ms))
        return usage();
    const char *path = argv[0];
    install_stop_handlers();
    int64_t deadline = now_ns() + (int64_t)duration_ms * 1000000;
    unsigned char bytes[sizeof(sem_t)];
    sem_bytes(0, bytes);
    int fd = -1;
    uint64_t loops = 0, recreated = 0;
    while (!stop_requested && now_ns() < deadline) {
        struct stat by_name, by_fd;
        if (fd < 0 || lstat(path, &by_name) != 0 || fstat(fd, &by_fd) != 0 ||
            by_name.st_ino != by_fd.st_ino || by_name.st_dev != by_fd.st_dev) {
            if (fd >= 0) close(fd);
            fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                fd = create_sem_file(path, 0600);
            if (fd < 0) {
                sleep_us(100);
                continue;
            }
            recreated++;
        }
        if (ftruncate(fd, 0) == 0)
            loops++;
        sched_yield();
        if (ftruncate(fd, sizeof(sem_t)) == 0)
            write_all(fd, bytes, sizeof bytes, 0);
        sched_yield();
    }
    if (fd >= 0) close(fd);
    printf("truncations=%" PRIu64 " opened=%" PRIu64 "\n", loops, recreated);
    return 0;
}

/* --- lying peers: shared pieces --------------------------------------------- */

#define HEAD_REQUEST_NUMBER 40  /* PROTOCOL.md 9c */
#define HEAD_ANSWER_NUMBER 48
#define SLICE_NS (50 * 1000000LL)

enum attack { ATTACK_NONE, ATTACK_TRUNCATE, ATTACK_HOLE, ATTACK_HUGE, ATTACK_BADHEADER };

static bool parse_attack(const char *s, enum attack *a)
{
    if (strcmp(s, "none") == 0) *a = ATTACK_NONE;
    else if (strcmp(s, "truncate") == 0) *a = ATTACK_TRUNCATE;
    else if (strcmp(s, "hole") == 0) *a = ATTACK_HOLE;
    else if (strcmp(s, "huge") == 0) *a = ATTACK_HUGE;
    else if (strcmp(s, "badheader") == 0) *a = ATTACK_BADHEADER;
    else return false;
    return true;
}

struct peer_options {
    enum attack attack;
    long before, attacks, after;   /* normal exchanges, attacked ones, normal ones */
    long timeout_ms;               /* per wait */
    bool lock;                     /* take the liveness lock (be a trusted peer) */
    const char *attack_request;    /* server: the request of attacked exchanges */
    long hole_size;                /* hole: DATA's size, all of it holes */
    const char *filler;            /* hole: the file that fills /dev/shm */
};

static int lock_range(int fd, off_t start, off_t len)
{
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    l.l_start = start;
    l.l_len = len;
    return fcntl(fd, F_OFD_SETLK, &l);
}

/* Is byte `byte` of the file locked by another open file description? */
static bool locked_by_other(int fd, off_t byte)
{
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    l.l_start = byte;
    l.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &l) != 0)
        return false;
    return l.l_type != F_UNLCK;
}

static int put_word(int fd, int index, uint64_t v) { return write_all(fd, &v, 8, (off_t)index * 8); }

static off_t size_of(int fd)
{
    struct stat s;
    return fstat(fd, &s) == 0 ? s.st_size : -1;
}

/* Grows fd to at least `size` bytes with memory behind them. */
static int reserve(int fd, off_t size)
{
    if (size_of(fd) >= size)
        return 0;
    int e = posix_fallocate(fd, 0, size);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return 0;
}

/* Waits for `sem` until `timeout_ms`, in 50 ms slices; between slices checks
 * the peer's liveness byte on HEAD: a lock seen once and then gone means the
 * peer died.  0 = posted, 1 = timeout, 2 = the peer died, 3 = stop. */
static int wait_peer(sem_t *sem, int head, off_t peer_byte, bool *seen, long timeout_ms)
{
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int64_t slice_end = now_ns() + SLICE_NS;
        if (slice_end > deadline) slice_end = deadline;
        struct timespec ts = {(time_t)(slice_end / 1000000000), (long)(slice_end % 1000000000)};
        if (sem_clockwait(sem, CLOCK_MONOTONIC, &ts) == 0)
            return 0;
        if (errno != ETIMEDOUT && errno != EINTR)
            return 1;
        if (stop_requested)
            return 3;
        bool held = locked_by_other(head, peer_byte);
        if (held) *seen = true;
        else if (*seen) return 2;
        if (now_ns() >= deadline)
            return 1;
    }
}

/* Fills /dev/shm (the file `path`) until ENOSPC.  Returns bytes written. */
static uint64_t fill_devshm(const char *path)
{
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    static uint8_t chunk[65536];
    memset(chunk, 0x5a, sizeof chunk);
    uint64_t total = 0;
    for (size_t step = sizeof chunk; step >= 4096; step /= 2) {
        for (;;) {
            ssize_t k = pwrite(fd, chunk, step, (off_t)total);
            if (k <= 0)
                break;
            total += (uint64_t)k;
        }
    }
    close(fd);
    return total;
}

/* Creates the hidden hole: DATA becomes `size` bytes of holes (with `keep`
 * bytes at offset 0 written again, since the request/response is there),
 * blocks past the end make st_blocks cover the size, and /dev/shm is full. */
static int hidden_holes = 0; /* fallocate(FALLOC_FL_KEEP_SIZE) past the end worked */

static bool punch_holes = false; /* --punch: FALLOC_FL_PUNCH_HOLE rather than truncate and grow */

static int make_hidden_hole(int data, off_t size, const void *keep, size_t keep_len, const char *filler,
                            uint64_t *filled)
{
    if (punch_holes) {
        if (size_of(data) < size && ftruncate(data, size) != 0)
            return -1;
        if (fallocate(data, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size) != 0)
            return -1;
    } else if (ftruncate(data, 0) != 0 || ftruncate(data, size) != 0) {
        return -1;
    }
    if (keep_len > 0 && write_all(data, keep, keep_len, 0) != 0)
        return -1;
    hidden_holes = fallocate(data, FALLOC_FL_KEEP_SIZE, size, size) == 0;
    if (!hidden_holes)
        note("hole: fallocate(FALLOC_FL_KEEP_SIZE) past the end: %s (holes not hidden)", strerror(errno));
    *filled = fill_devshm(filler);
    return 0;
}

/* The response words as the peer wrote them, and its payload verified
 * against the convention.  Returns 'o' ok, 'w' wrong, 'e' error response,
 * 'p' unreadable (HEAD/DATA too short). */
static char check_response(int head, int data, const struct expected *e, uint64_t *error_code, char *detail,
                           size_t detail_len)
{
    uint64_t w[4];
    if (read_all(head, w, sizeof w, 0) != (ssize_t)sizeof w) {
        snprintf(detail, detail_len, "HEAD shorter than 32 bytes");
        return 'p';
    }
    if (w[3] == UINT64_MAX && w[2] == 0) {
        *error_code = w[1];
        snprintf(detail, detail_len, "error code %" PRIu64 " (%" PRIu64 " bytes)", w[1], w[0]);
        return 'e';
    }
    char kind = (w[1] == 0 && w[2] == 0 && w[3] == 0) ? 'b' : 'i';
    if (kind != e->kind || w[0] != e->len || (kind == 'i' && (w[1] != e->w || w[2] != e->h || w[3] != e->c))) {
        snprintf(detail, detail_len, "header {%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "}, expected %c of %" PRIu64 " bytes",
                 w[0], w[1], w[2], w[3], e->kind, e->len);
        return 'w';
    }
    if (w[0] > MAX_PAYLOAD) {
        snprintf(detail, detail_len, "payload too large to check");
        return 'p';
    }
    uint8_t *buf = malloc(w[0] ? w[0] : 1);
    if (!buf)
        return 'p';
    ssize_t got = read_all(data, buf, w[0], 0);
    char verdict = 'o';
    if (got != (ssize_t)w[0]) {
        snprintf(detail, detail_len, "DATA holds %zd of %" PRIu64 " bytes", got, w[0]);
        verdict = 'p';
    } else {
        for (uint64_t i = 0; i < w[0]; i++) {
            if (buf[i] != pattern(e->seed, i)) {
                snprintf(detail, detail_len, "byte %" PRIu64 " is %u, expected %u", i, buf[i], pattern(e->seed, i));
                verdict = 'w';
                break;
            }
        }
    }
    free(buf);
    return verdict;
}

static bool parse_peer_option(int argc, char **argv, int *i, struct peer_options *o)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--no-lock") == 0) { o->lock = false; return true; }
    if (strcmp(a, "--punch") == 0) { punch_holes = true; return true; }
    if (!v) return false;
    bool ok;
    if (strcmp(a, "--attack") == 0) ok = parse_attack(v, &o->attack);
    else if (strcmp(a, "--before") == 0) ok = parse_long(v, &o->before);
    else if (strcmp(a, "--attacks") == 0) ok = parse_long(v, &o->attacks);
    else if (strcmp(a, "--after") == 0) ok = parse_long(v, &o->after);
    else if (strcmp(a, "--timeout-ms") == 0) ok = parse_long(v, &o->timeout_ms);
    else if (strcmp(a, "--attack-request") == 0) { o->attack_request = v; ok = true; }
    else if (strcmp(a, "--hole-size") == 0) ok = parse_long(v, &o->hole_size);
    else if (strcmp(a, "--filler") == 0) { o->filler = v; ok = true; }
    else return false;
    if (ok) (*i)++;
    return ok;
}

/* --- lying server ---------------------------------------------------------------- */

static const uint8_t MARKER[8] = {0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE};
#define MARKER_AT 16

static sem_t *open_sem_create(const char *name)
{
    sem_t *s = sem_open(name, O_CREAT, 0600, 0);
    if (s == SEM_FAILED) {
        note("sem_open %s: %s", name, strerror(errno));
        return NULL;
    }
    while (sem_trywait(s) == 0) {
    }
    return s;
}

static int create_segment(const char *name, off_t size)
{
    shm_unlink(name);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || ftruncate(fd, size) != 0) {
        note("create %s: %s", name, strerror(errno));
        return -1;
    }
    return fd;
}

static int cmd_server(int argc, char **argv)
{
    struct names n;
    if (argc < 1 || !make_names(argv[0], &n))
        return usage();
    struct peer_options o = {ATTACK_NONE, 3, 10, 3, 30000, true, NULL, 1 << 20, NULL};
    for (int i = 1; i < argc; i++)
        if (!parse_peer_option(argc, argv, &i, &o))
            return usage();
    install_stop_handlers();
    char filler[400];
    snprintf(filler, sizeof filler, "%s", o.filler ? o.filler : "");
    if (!o.filler)
        snprintf(filler, sizeof filler, "/dev/shm/%s-filler", n.s);

    sem_t *req = open_sem_create(n.req), *res = open_sem_create(n.res);
    if (!req || !res)
        return 1;
    int head = create_segment(n.head, 64);
    if (head < 0)
        return 1;
    if (o.lock && lock_range(head, 0, 1) != 0) {
        note("lock HEAD byte 0: %s", strerror(errno));
        return 1;
    }
    int data = create_segment(n.data, 4096);
    if (data < 0)
        return 1;
    printf("ready\n");
    fflush(stdout);

    long total = o.before + o.attacks + o.after;
    uint64_t ok = 0, wrong = 0, answered_error = 0, unreadable = 0, timeouts = 0, before_ok = 0, after_ok = 0;
    uint64_t attack_answers = 0, code2 = 0, landed = 0;
    bool seen = false, died = false;
    int status = 0;
    for (long x = 1; x <= total && !died && !stop_requested; x++) {
        bool attacked = x > o.before && x <= o.before + o.attacks;
        long phase_index = x - o.before - 1; /* 0.. within the attacks */
        char request[128];
        if (attacked && o.attack_request) {
            /* "%ld" in the attack request is the exchange number */
            snprintf(request, sizeof request, o.attack_request, x);
        } else {
            snprintf(request, sizeof request, "k%ld", x % 256);
        }
        size_t len = strlen(request);
        struct expected e = expected_for(request, len);

        /* Our turn: the request (and the courtesy NUL), then the header, the
         * request number last (9c). */
        if (attacked && o.attack == ATTACK_TRUNCATE)
            reserve(data, (off_t)(e.len + 4096));         /* as it was before the attack */
        if (reserve(data, (off_t)(MARKER_AT + sizeof MARKER)) != 0 || write_all(data, request, len + 1, 0) != 0) {
            note("exchange %ld: cannot write the request: %s", x, strerror(errno));
            status = 1;
            break;
        }
        uint64_t filled = 0;
        uint64_t announced = len;
        if (attacked) {
            switch (o.attack) {
            case ATTACK_TRUNCATE:
                write_all(data, MARKER, sizeof MARKER, MARKER_AT);
                break;
            case ATTACK_HOLE:
                if (make_hidden_hole(data, (off_t)o.hole_size, request, len + 1, filler, &filled) != 0)
                    note("hole: %s", strerror(errno));
                printf("exchange=%ld filled=%" PRIu64 " hidden=%d\n", x, filled, hidden_holes);
                break;
            case ATTACK_HUGE:
                if (ftruncate(data, (off_t)1 << 60) != 0)
                    note("huge: ftruncate(1 << 60): %s", strerror(errno));
                break;
            case ATTACK_BADHEADER:
                switch (phase_index % 4) {
                case 0: announced = (uint64_t)size_of(data) + 1; break;   /* L beyond DATA */
                case 1: announced = (uint64_t)1 << 62; break;
                case 2: announced = UINT64_MAX; break;
                case 3: announced = UINT64_MAX; ftruncate(head, 4); break; /* HEAD shorter than a word */
                }
                break;
            case ATTACK_NONE:
                break;
            }
        }
        if (attacked && o.attack == ATTACK_BADHEADER && phase_index % 4 == 3) {
            write_all(head, &announced, 4, 0);  /* half a word */
        } else {
            if (size_of(head) < 64 && ftruncate(head, 64) != 0)
                note("restore HEAD: %s", strerror(errno));
            put_word(head, 0, announced);
            put_word(head, HEAD_REQUEST_NUMBER / 8, (uint64_t)x);
        }
        sem_post(req);

        int waited;
        int pulled = 0;
        if (attacked && o.attack == ATTACK_TRUNCATE) {
            /* Wait until the victim starts writing its answer over the
             * marker (it has read the request by then), then pull DATA away. */
            bool got = false;
            int64_t deadline = now_ns() + (int64_t)o.timeout_ms * 1000000;
            uint8_t now[8];
            while (now_ns() < deadline && !stop_requested) {
                if (sem_trywait(res) == 0) { got = true; break; }
                ssize_t k = pread(data, now, sizeof now, MARKER_AT);
                if (k != (ssize_t)sizeof now || memcmp(now, MARKER, sizeof now) != 0)
                    break;
                if (!locked_by_other(head, 1) && seen)
                    break;
            }
            for (int t = 0; t < 3 && !got; t++) {   /* not once the turn is ours again */
                if (ftruncate(data, 0) == 0)
                    pulled++;
                sched_yield();
            }
            if (pulled) {
                landed++;
                printf("exchange=%ld pulled DATA away during the victim's write\n", x);
            }
            waited = got ? 0 : wait_peer(res, head, 1, &seen, o.timeout_ms);
        } else {
            waited = wait_peer(res, head, 1, &seen, o.timeout_ms);
        }
        if (attacked && o.attack == ATTACK_HOLE)
            unlink(filler);
        if (waited == 2) {
            note("exchange %ld: the client died (its liveness lock vanished)", x);
            died = true;
            status = 1;
            break;
        }
        if (waited == 3)
            break; /* stopped: the victim is gone */
        if (waited != 0) {
            note("exchange %ld (%s): no answer within %ld ms", x, request, o.timeout_ms);
            timeouts++;
            status = 1;
            break;
        }
        uint64_t code = 0;
        char detail[200] = "";
        if (attacked && o.attack == ATTACK_HUGE)
            ftruncate(data, 1 << 20); /* pread a sane file; the answer is at offset 0 */
        char v = check_response(head, data, &e, &code, detail, sizeof detail);
        if (attacked) {
            attack_answers++;
            if (v == 'e') answered_error++;
            if (v == 'e' && code == 2) code2++;
            /* An OK answer to an attacked request must still be right, unless
             * we destroyed it ourselves (truncate, bad header). */
            if (v == 'w' && o.attack != ATTACK_TRUNCATE && o.attack != ATTACK_BADHEADER) {
                note("exchange %ld (%s): wrong answer: %s", x, request, detail);
                wrong++;
            }
            if (o.attack == ATTACK_BADHEADER && v != 'e') {
                note("exchange %ld: a malformed request was not answered with an error (%s)", x, detail);
                wrong++;
            }
            if (v == 'o') ok++;
            if (v == 'p') unreadable++;
            if (o.attack == ATTACK_TRUNCATE)
                printf("exchange=%ld truncations=%d data_size=%jd answer=%c %s\n", x, pulled, (intmax_t)size_of(data), v,
                       detail);
            if (filled)
                printf("exchange=%ld answer=%c %s\n", x, v, detail);
        } else {
            if (v == 'o') {
                ok++;
                if (x <= o.before) before_ok++;
                else after_ok++;
            } else {
                note("exchange %ld (%s): %s answer: %s", x, request, v == 'e' ? "error" : "bad", detail);
                if (v == 'w') wrong++;
                if (v == 'e') answered_error++;
                if (v == 'p') unreadable++;
            }
        }
        fflush(stdout);
    }
    printf("server ok=%" PRIu64 " wrong=%" PRIu64 " before_ok=%" PRIu64 "/%ld attack_answers=%" PRIu64 "/%ld after_ok=%" PRIu64
           "/%ld error_answers=%" PRIu64 " bad_request_answers=%" PRIu64 " unreadable=%" PRIu64 " timeouts=%" PRIu64 " client_died=%d landed=%" PRIu64 "\n",
           ok, wrong, before_ok, o.before, attack_answers, o.attacks, after_ok, o.after, answered_error, code2, unreadable,
           timeouts, died ? 1 : 0, landed);
    fflush(stdout);
    /* Close like a server: unlink all four. */
    close(head);
    close(data);
    sem_close(req);
    sem_close(res);
    shm_unlink(n.head);
    shm_unlink(n.data);
    sem_unlink(n.req);
    sem_unlink(n.res);
    unlink(filler);
    return status != 0 || wrong != 0 ? 1 : 0;
}

/* --- lying client ---------------------------------------------------------------- */

static int cmd_client(int argc, char **argv)
{
    struct names n;
    if (argc < 1 || !make_names(argv[0], &n))
        return usage();
    struct peer_options o = {ATTACK_NONE, 3, 10, 3, 30000, true, NULL, 1 << 20, NULL};
    for (int i = 1; i < argc; i++)
        if (!parse_peer_option(argc, argv, &i, &o))
            return usage();
    install_stop_handlers();
    char filler[400];
    snprintf(filler, sizeof filler, "%s", o.filler ? o.filler : "");
    if (!o.filler)
        snprintf(filler, sizeof filler, "/dev/shm/%s-filler", n.s);

    /* Attach: DATA, then HEAD, then the server's semaphores. */
    int64_t deadline = now_ns() + (int64_t)o.timeout_ms * 1000000;
    int head = -1, data = -1;
    sem_t *req = SEM_FAILED, *res = SEM_FAILED;
    while (now_ns() < deadline && !stop_requested) {
        data = shm_open(n.data, O_RDWR | O_CLOEXEC, 0);
        head = data >= 0 ? shm_open(n.head, O_RDWR | O_CLOEXEC, 0) : -1;
        if (head >= 0) {
            req = sem_open(n.req, 0);
            res = req != SEM_FAILED ? sem_open(n.res, 0) : SEM_FAILED;
            if (res != SEM_FAILED)
                break;
            if (req != SEM_FAILED) sem_close(req);
            req = SEM_FAILED;
        }
        if (head >= 0) close(head);
        if (data >= 0) close(data);
        head = data = -1;
        sleep_us(2000);
    }
    if (res == SEM_FAILED) {
        note("no server on %s", n.s);
        printf("client attached=0\n");
        return 1;
    }
    if (o.lock && lock_range(head, 1, 2) != 0) {
        note("lock HEAD bytes 1-2: %s", strerror(errno));
        return 1;
    }
    printf("attached\n");
    fflush(stdout);

    long total = o.before + o.attacks + o.after;
    uint64_t served = 0, malformed = 0, timeouts = 0, landed = 0;
    bool seen = false, server_died = false;
    int status = 0;
    uint8_t *payload = malloc(MAX_PAYLOAD);
    char *text = malloc(65536);
    if (!payload || !text)
        return 1;
    for (long x = 1; x <= total && !stop_requested; x++) {
        int waited = wait_peer(req, head, 0, &seen, o.timeout_ms);
        if (waited == 2) {
            server_died = true;
            break;
        }
        if (waited != 0) {
            /* A server that closed the channel unlinks DATA. */
            struct stat s;
            if (fstat(data, &s) == 0 && s.st_nlink == 0)
                break;
            timeouts++;
            status = 1;
            note("request %ld: none within %ld ms", x, o.timeout_ms);
            break;
        }
        struct stat s;
        if (fstat(data, &s) == 0 && s.st_nlink == 0)
            break; /* the server left; its close posted nothing, but be safe */
        bool attacked = x > o.before && x <= o.before + o.attacks;
        long phase_index = x - o.before - 1;
        if (size_of(head) < 64 && ftruncate(head, 64) != 0)
            note("restore HEAD: %s", strerror(errno));
        uint64_t L = 0, number = 0;
        read_all(head, &L, 8, 0);
        read_all(head, &number, 8, HEAD_REQUEST_NUMBER);
        off_t dsize = size_of(data);
        uint64_t take = L < 64 ? L : 64;
        struct expected e = {0, 0, 0, 0, 0, 0};
        if (L <= (uint64_t)dsize && read_all(data, text, take, 0) == (ssize_t)take)
            e = expected_for(text, take);
        uint64_t words[4] = {0, 0, 0, 0};
        uint64_t plen = 0;
        if (e.kind == 0) {
            static const char msg[] = "bad request";
            malformed++;
            plen = sizeof msg - 1;
            memcpy(payload, msg, plen);
            words[0] = plen, words[1] = 2, words[2] = 0, words[3] = UINT64_MAX;
        } else {
            plen = e.len;
            fill_pattern(payload, e.seed, plen);
            words[0] = plen;
            if (e.kind == 'i') words[1] = e.w, words[2] = e.h, words[3] = e.c;
        }
        if (attacked && o.attack == ATTACK_BADHEADER) {
            switch (phase_index % 5) {
            case 0: words[0] = (uint64_t)(plen > (uint64_t)dsize ? plen : (uint64_t)dsize) + 4096 * 4; words[1] = words[2] = words[3] = 0; break; /* B beyond DATA */
            case 1: words[0] = plen; words[1] = 3, words[2] = 3, words[3] = 3; if (plen == 27) words[1] = 4; break; /* B != W*H*C */
            case 2: words[0] = 0; words[1] = (uint64_t)1 << 32, words[2] = (uint64_t)1 << 32, words[3] = (uint64_t)1 << 32; break; /* overflow */
            case 3: words[1] = 1, words[2] = 5, words[3] = UINT64_MAX; break; /* error with H != 0 */
            case 4: words[1] = 0, words[2] = 1, words[3] = 1; break; /* some zero */
            }
        }
        /* Our turn: the payload (DATA grown if needed), then the header, the
         * answer number last. */
        if (attacked && o.attack == ATTACK_HUGE) {
            if (ftruncate(data, (off_t)1 << 60) != 0)
                note("huge: ftruncate(1 << 60): %s", strerror(errno));
        } else if (reserve(data, (off_t)(plen + MARKER_AT + sizeof MARKER + 8)) != 0) {
            note("request %ld: cannot grow DATA: %s", x, strerror(errno));
        }
        if (write_all(data, payload, plen, 0) != 0)
            note("request %ld: cannot write the answer: %s", x, strerror(errno));
        uint64_t filled = 0;
        off_t marker_at = (off_t)((plen + 7) / 8 * 8 + MARKER_AT);
        if (attacked && o.attack == ATTACK_TRUNCATE)
            write_all(data, MARKER, sizeof MARKER, marker_at);
        if (attacked && o.attack == ATTACK_HOLE) {
            make_hidden_hole(data, (off_t)o.hole_size, payload, plen, filler, &filled);
            printf("request=%ld filled=%" PRIu64 " hidden=%d\n", x, filled, hidden_holes);
        }
        for (int w = 0; w < 4; w++)
            put_word(head, w, words[w]);
        put_word(head, HEAD_ANSWER_NUMBER / 8, number);
        sem_post(res);
        served++;
        if (attacked && o.attack == ATTACK_TRUNCATE) {
            /* The victim server reads our answer, then writes its next request
             * over DATA: once the marker changes, pull DATA away. */
            uint8_t now[8];
            bool pull = true;
            int64_t until = now_ns() + (int64_t)o.timeout_ms * 1000000;
            while (now_ns() < until && !stop_requested) {
                ssize_t k = pread(data, now, sizeof now, marker_at);
                if (k != (ssize_t)sizeof now || memcmp(now, MARKER, sizeof now) != 0)
                    break;
                int v = 0;
                if ((sem_getvalue(req, &v) == 0 && v > 0) || (seen && !locked_by_other(head, 0))) {
                    pull = false;   /* the turn is ours again (or nobody's) */
                    break;
                }
            }
            for (int t = 0; t < 3 && pull; t++) {
                ftruncate(data, 0);
                sched_yield();
            }
            if (pull)
                landed++;
        }
        fflush(stdout);
    }
    printf("client served=%" PRIu64 " malformed=%" PRIu64 " timeouts=%" PRIu64 " server_died=%d landed=%" PRIu64 "\n", served,
           malformed, timeouts, server_died ? 1 : 0, landed);
    free(payload);
    free(text);
    close(head);
    close(data);
    sem_close(req);
    sem_close(res);
    unlink(filler);
    return status;
}

/* --- names ---------------------------------------------------------------------- */

static const char *const evil_suffixes[] = {
    "-cls\x1b[2J\x1b[H",                 /* clear the screen, cursor home */
    "-osc\x1b]0;PWNED-TITLE\x07",         /* set the terminal title */
    "-osc8\x1b]8;;x\x1b\\link\x1b]8;;\x1b\\",  /* a hyperlink */
    "-nl\nINJECTED-LINE alive",          /* a fake line in the listing */
    "-cr\rINJECTED-CR",
    "-bs\b\b\b\bINJECTED-BS",
    "-csi\xc2\x9b" "2J",                  /* C1 CSI (U+009B) in UTF-8 */
    "-raw\x9b" "2J",                      /* a raw 0x9b byte (not UTF-8) */
    "-del\x7f",
    "-tab\tINJECTED-TAB",
};

static int cmd_names(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--remove") != 0))
        return usage();
    bool remove = argc == 3;
    const char *dir = argv[0], *tag = argv[1];
    static const char *const objects[4][2] = {{"SEG_", "_HEAD"}, {"SEG_", "_DATA"}, {"sem.SEM_", "_REQ"}, {"sem.SEM_", "_RES"}};
    int failures = 0;
    for (size_t i = 0; i < sizeof evil_suffixes / sizeof evil_suffixes[0]; i++) {
        for (int k = 0; k < 4; k++) {
            char path[600];
            snprintf(path, sizeof path, "%s/%s%s%s%s", dir, objects[k][0], tag, evil_suffixes[i], objects[k][1]);
            if (remove) {
                if (unlink(path) != 0 && errno != ENOENT) failures++;
                continue;
            }
            int fd = k >= 2 ? create_sem_file(path, 0600) : open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
            if (fd < 0) {
                note("names: %s", strerror(errno));
                failures++;
                continue;
            }
            if (k < 2 && ftruncate(fd, k == 0 ? 64 : 4096) != 0)
                failures++;
            close(fd);
        }
    }
    printf("names=%zu\n", sizeof evil_suffixes / sizeof evil_suffixes[0]);
    return failures ? 1 : 0;
}

/* --- mkimages -------------------------------------------------------------------- */

static int write_ppm(const char *dir, const char *name, uint64_t seed, uint64_t w, uint64_t h)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.ppm", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fprintf(f, "P6\n%" PRIu64 " %" PRIu64 "\n255\n", w, h);
    uint64_t len = w * h * 3;
    uint8_t *p = malloc(len);
    if (!p) {
        fclose(f);
        return -1;
    }
    fill_pattern(p, seed, len);
    size_t put = fwrite(p, 1, len, f);
    free(p);
    return fclose(f) == 0 && put == len ? 0 : -1;
}

static int cmd_mkimages(int argc, char **argv)
{
    if (argc != 1)
        return usage();
    for (uint64_t k = 0; k < 256; k++) {
        char name[16];
        snprintf(name, sizeof name, "k%" PRIu64, k);
        struct expected e = expected_for(name, strlen(name));
        if (write_ppm(argv[0], name, e.seed, e.w, e.h) != 0)
            return 1;
    }
    if (write_ppm(argv[0], "m", 7, 512, 512) != 0 || write_ppm(argv[0], "b", 11, 2048, 2048) != 0)
        return 1;
    return 0;
}

/* --- check-lines ----------------------------------------------------------------- */

static int cmd_check_lines(int argc, char **argv)
{
    if (argc != 2)
        return usage();
    FILE *rf = fopen(argv[0], "r"), *of = fopen(argv[1], "r");
    if (!rf || !of) {
        note("check-lines: %s", strerror(errno));
        return 1;
    }
    char **lines = NULL;
    size_t count = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    while ((got = getline(&line, &line_cap, rf)) >= 0) {
        if (got > 0 && line[got - 1] == '\n')
            line[--got] = '\0';
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            lines = realloc(lines, cap * sizeof *lines);
        }
        lines[count++] = strdup(line);
    }
    uint64_t ok = 0, wrong = 0, errors = 0, unparsed = 0, next = 1, gaps = 0;
    while ((got = getline(&line, &line_cap, of)) >= 0) {
        uint64_t index, reqlen, a, b, c, d;
        char kind[16], hex[32];
        if (sscanf(line, "%" SCNu64 " %" SCNu64 " %15s", &index, &reqlen, kind) != 3 || count == 0 || index == 0) {
            unparsed++;
            continue;
        }
        if (index != next)
            gaps++;
        next = index + 1;
        const char *req = lines[(index - 1) % count];
        struct expected e = expected_for(req, strlen(req));
        char detail[200] = "";
        bool right = false;
        if (strcmp(kind, "error") == 0) {
            errors++;
            continue;
        } else if (strcmp(kind, "image") == 0 &&
                   sscanf(line, "%*u %*u %*s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %31s", &a, &b, &c, &d, hex) == 5) {
            if (e.kind == 'i' && a == e.w && b == e.h && c == e.c && d == e.len) {
                uint8_t *p = malloc(e.len);
                fill_pattern(p, e.seed, e.len);
                char want[32];
                snprintf(want, sizeof want, "%016" PRIx64, fnv1a64(p, e.len));
                free(p);
                right = strcmp(want, hex) == 0;
                if (!right) snprintf(detail, sizeof detail, "fnv %s, expected %s", hex, want);
            } else {
                snprintf(detail, sizeof detail, "image %" PRIu64 "x%" PRIu64 "x%" PRIu64, a, b, c);
            }
        } else if (strcmp(kind, "bytes") == 0 && sscanf(line, "%*u %*u %*s %" SCNu64 " %31s", &d, hex) == 2) {
            if (e.kind == 'b' && d == e.len) {
                uint8_t *p = malloc(e.len ? e.len : 1);
                fill_pattern(p, e.seed, e.len);
                char want[32];
                snprintf(want, sizeof want, "%016" PRIx64, fnv1a64(p, e.len));
                free(p);
                right = strcmp(want, hex) == 0;
                if (!right) snprintf(detail, sizeof detail, "fnv %s, expected %s", hex, want);
            } else {
                snprintf(detail, sizeof detail, "bytes %" PRIu64, d);
            }
        } else {
            unparsed++;
            continue;
        }
        if (reqlen != strlen(req)) {
            right = false;
            snprintf(detail, sizeof detail, "request length %" PRIu64 ", expected %zu", reqlen, strlen(req));
        }
        if (right) {
            ok++;
        } else {
            wrong++;
            if (wrong <= 5)
                note("line %" PRIu64 " (request %.20s): %s", index, req, detail);
        }
    }
    printf("lines ok=%" PRIu64 " wrong=%" PRIu64 " errors=%" PRIu64 " unparsed=%" PRIu64 " gaps=%" PRIu64 "\n", ok, wrong,
           errors, unparsed, gaps);
    return wrong == 0 && gaps == 0 ? 0 : 1;
}

/* --- check-text ------------------------------------------------------------------ */

/* Reports every byte of FILE that a terminal could take as a control: C0
 * controls but newline, DEL, C1 controls (U+0080..U+009F) and bytes that are
 * not UTF-8 (a raw 0x9b is CSI to an 8-bit terminal). */
static int cmd_check_text(int argc, char **argv)
{
    if (argc != 1)
        return usage();
    FILE *f = fopen(argv[0], "rb");
    if (!f) {
        note("check-text: %s: %s", argv[0], strerror(errno));
        return 1;
    }
    uint64_t line = 1, bad = 0, offset = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        offset++;
        const char *what = NULL;
        unsigned cp = (unsigned)c;
        if (c == '\n') {
            line++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            what = "C0 control or DEL";
        } else if (c >= 0x80) {
            int extra = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xc2 && c <= 0xdf ? 1 : -1;
            cp = (unsigned)c & (extra == 3 ? 0x07 : extra == 2 ? 0x0f : 0x1f);
            for (int k = 0; k < extra; k++) {
                int d = fgetc(f);
                offset++;
                if (d == EOF || (d & 0xc0) != 0x80) {
                    extra = -1;
                    if (d == '\n') line++;
                    break;
                }
                cp = cp << 6 | ((unsigned)d & 0x3f);
            }
            if (extra < 0) what = "not UTF-8";
            else if (cp >= 0x80 && cp <= 0x9f) what = "C1 control";
        }
        if (what) {
            bad++;
            if (bad <= 5)
                printf("line %" PRIu64 " byte %" PRIu64 ": %s (0x%02x, U+%04X)\n", line, offset, what, (unsigned)c, cp);
        }
    }
    fclose(f);
    printf("text bad=%" PRIu64 "\n", bad);
    return bad ? 1 : 0;
}

/* --- main ------------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr,
            "usage: %s post REQ|RES CHANNEL INTERVAL_US DURATION_MS\n"
            "       %s zero-sem CHANNEL REQ|RES\n"
            "       %s plant CHANNEL HEAD|DATA|REQ|RES...\n"
            "       %s swap CHANNEL REQ|RES DURATION_MS [--target PATH] [--post-every N] [--truncate-every N]\n"
            "       %s truncate-loop PATH DURATION_MS\n"
            "       %s server CHANNEL [PEER OPTIONS] [--attack-request FORMAT]\n"
            "       %s client CHANNEL [PEER OPTIONS]\n"
            "       %s names DIR TAG [--remove]\n"
            "       %s mkimages DIR\n"
            "       %s check-lines REQUESTS_FILE TOOL_STDOUT\n"
            "       %s check-text FILE\n"
            "PEER OPTIONS: --attack none|truncate|hole|huge|badheader --before N --attacks N --after N\n"
            "              --timeout-ms MS --no-lock --hole-size BYTES --filler PATH --punch\n"
            "  server: exchanges are 'k<x %% 256>' (an image), attacked ones FORMAT (printf, %%ld = x);\n"
            "  truncate: DATA to 0 during the victim's turn, once it writes; hole: DATA all holes (truncated and\n"
            "  grown, or --punch: FALLOC_FL_PUNCH_HOLE) hidden by\n"
            "  FALLOC_FL_KEEP_SIZE and /dev/shm filled; huge: DATA sized 1 << 60; badheader: lying header words.\n",
            prog, prog, prog, prog, prog, prog, prog, prog, prog, prog, prog);
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    int sub_argc = argc - 2;
    char **sub_argv = argv + 2;
    if (strcmp(cmd, "post") == 0) return cmd_post(sub_argc, sub_argv);
    if (strcmp(cmd, "zero-sem") == 0) return cmd_zero_sem(sub_argc, sub_argv);
    if (strcmp(cmd, "plant") == 0) return cmd_plant(sub_argc, sub_argv);
    if (strcmp(cmd, "swap") == 0) return cmd_swap(sub_argc, sub_argv);
    if (strcmp(cmd, "truncate-loop") == 0) return cmd_truncate_loop(sub_argc, sub_argv);
    if (strcmp(cmd, "server") == 0) return cmd_server(sub_argc, sub_argv);
    if (strcmp(cmd, "client") == 0) return cmd_client(sub_argc, sub_argv);
    if (strcmp(cmd, "names") == 0) return cmd_names(sub_argc, sub_argv);
    if (strcmp(cmd, "mkimages") == 0) return cmd_mkimages(sub_argc, sub_argv);
    if (strcmp(cmd, "check-lines") == 0) return cmd_check_lines(sub_argc, sub_argv);
    if (strcmp(cmd, "check-text") == 0) return cmd_check_text(sub_argc, sub_argv);
    return usage();
}
