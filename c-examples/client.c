/*
 * client.c - the shmemaphore "client" example: serves image files from a
 * directory to whoever asks for them by name.
 *
 * In shmemaphore terms the client is the responder: it attaches to a channel
 * that a server created, waits for requests (here: image names) and answers
 * each one, with the decoded image or with an error response.  Every request
 * gets exactly one answer, so the server never waits in vain.  Pair it with
 * server.c.
 *
 * Usage
 *   client [--channel NAME] [--dir DIR] [--count N] [--timeout SECONDS]
 *          [--attach-timeout SECONDS] [--keep-serving] [--blocking-wait]
 *          [--untrusted-peer] [--help]
 *
 *   client --dir img &                  # serve img/apple.png, img/dog.jpg, ...
 *   server --out /tmp/out --count 10
 *
 * A request "dog" is answered with the first regular file among DIR/dog,
 * DIR/dog.png, DIR/dog.jpg, ... (see EXTENSIONS below), decoded.  The error
 * responses follow docs/CONFORMANCE.md:
 *   code 1 (not found)    no such file: message "no such image: NAME"
 *   code 2 (bad request)  the request cannot be a file name: empty, longer
 *                         than 255 bytes, containing '/' or NUL, or starting
 *                         with '.' (so it can never reach outside DIR)
 *   code 0 (unspecified)  the file was found but could not be decoded
 *                         (or DIR/NAME does not fit in PATH_MAX)
 * Output: one human-readable line per request, "NAME -> PATH WxHxC",
 * "NAME -> not found", "NAME -> refused (WHY)", ...
 *
 * With --keep-serving the client outlives its server, like a daemon: when
 * the server closes the channel, the same handle waits for the next server
 * on the channel's name and serves it.
 *
 * Exit status: 0 the server closed the channel (without --keep-serving), N
 * requests were served, or SIGINT/SIGTERM; 1 an error (or --timeout passed
 * without a request); 2 usage error; 3 the channel could not be opened (no
 * server came).  Ctrl-C ends every wait at once: the handler calls
 * shmemaphore_interrupt (a second Ctrl-C kills at once).
 *
 * Build against the CMake build tree (cmake -S . -B build && cmake --build
 * build), whose build/lib holds libshmemaphore.so.1, the name the program
 * loads:
 *   cc -std=c11 -Wall -Wextra -pedantic -Iinclude c-examples/client.c \
 *      -Lbuild/lib -lshmemaphore -Wl,-rpath,$PWD/build/lib -o client
 * against a SwiftPM build (swift build --product shmemaphore), which makes
 * no libshmemaphore.so.1: make the link first,
 *   ln -sf libshmemaphore.so .build/debug/libshmemaphore.so.1
 *   cc -std=c11 -Wall -Wextra -pedantic -Iinclude c-examples/client.c \
 *      -L.build/debug -lshmemaphore -Wl,-rpath,$PWD/.build/debug -o client
 * or against an installed library (outside the loader's path, add
 * -Wl,-rpath,<prefix>/lib):
 *   cc -std=c11 -Wall -Wextra -pedantic c-examples/client.c \
 *      $(pkg-config --cflags --libs shmemaphore) -o client
 */

/* clock_gettime, sigaction, stat are POSIX, not ISO C. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <shmemaphore.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_OPEN = 3 };

/* A request becomes a file name; file names are at most 255 bytes. */
#define NAME_MAX_BYTES 255

/* Extensions tried after the bare name, in order: the formats stb_image
 * decodes. */
static const char *const EXTENSIONS[] = {
    "png", "jpg", "jpeg", "bmp", "tga", "gif", "psd", "hdr", "pic", "pnm", "ppm", "pgm",
};

static volatile sig_atomic_t stop_signal = 0;
/* The channel whose wait a signal ends; NULL until it is open. */
static shmemaphore_channel *volatile signal_channel = NULL;

/* shmemaphore_interrupt is async-signal-safe: the wait in progress (or the
 * next one) returns SHMEMAPHORE_E_INTERRUPTED, and the loop sees the flag. */
static void on_signal(int signo)
{
    stop_signal = signo;
    shmemaphore_interrupt(signal_channel);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* A copied request name, printable: control characters become '?' so that a
 * hostile request cannot play tricks with the terminal. */
static void print_name(FILE *out, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

static void usage(FILE *out)
{
    fputs("usage: client [--channel NAME] [--dir DIR] [--count N] [--timeout SECONDS]\n"
          "              [--attach-timeout SECONDS] [--blocking-wait] [--untrusted-peer]\n"
          "\n"
          "Answers the requests of the shmemaphore server on channel NAME with the\n"
          "image files in DIR: a request \"dog\" gets DIR/dog, DIR/dog.png, DIR/dog.jpg,\n"
          "... (png jpg jpeg bmp tga gif psd hdr pic pnm ppm pgm), whichever exists\n"
          "first; an unknown name gets a \"not found\" error response.\n"
          "\n"
          "  --channel NAME            channel name (default ibis)\n"
          "  --dir DIR                 image directory (default img)\n"
          "  --count N                 stop after N requests; 0 = never (default 0)\n"
          "  --timeout SECONDS         give up after SECONDS without a request\n"
          "                            (default: wait forever)\n"
          "  --attach-timeout SECONDS  how long to wait for the server to create the\n"
          "                            channel (default 10)\n"
          "  --keep-serving            keep serving across servers, like a daemon: when\n"
          "                            the server closes the channel, wait for the next\n"
          "                            one on the same name\n"
          "  --blocking-wait           never spin: sleep in the kernel at once on every\n"
          "                            wait (default: adaptive, spins briefly when that\n"
          "                            pays)\n"
          "  --untrusted-peer          fstat the segments and pread/pwrite HEAD on every\n"
          "                            turn, even for a server that holds its liveness\n"
          "                            lock, and receive into private memory (3 more\n"
          "                            system calls and a copy per round trip; former\n"
          "                            name --check-every-turn)\n"
          "  --help                    show this help\n"
          "\n"
          "Exit status: 0 the server closed the channel (without --keep-serving), N\n"
          "requests were served, or SIGINT/SIGTERM; 1 an error, or --timeout passed; 2 usage error; 3 the\n"
          "channel could not be opened (for example no server came).\n",
          out);
}

static int parse_long(const char *text, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = value;
    return 0;
}

static int parse_seconds(const char *text, int64_t *out_ms)
{
    char *end;
    errno = 0;
    double seconds = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(seconds) ||
        seconds <= 0 || seconds > 1e9)
        return -1;
    int64_t ms = (int64_t)(seconds * 1000.0 + 0.5);
    *out_ms = ms > 0 ? ms : 1;
    return 0;
}

/*
 * Check a request before it goes anywhere near the file system, and copy it
 * into `name` as a C string.  The request view points into shared memory:
 * it is not NUL-terminated, its length comes from the other process, and it
 * becomes invalid with our next call on the channel - hence the copy.
 * Returns NULL if the name is acceptable, else the reason to refuse it.
 */
static const char *check_request(const uint8_t *request, uint64_t length, char name[NAME_MAX_BYTES + 1])
{
    name[0] = '\0';
    if (length == 0)
        return "empty request";
    if (length > NAME_MAX_BYTES)
        return "request longer than 255 bytes";
    memcpy(name, request, (size_t)length);
    name[length] = '\0';
    /* These three rules keep DIR/<name> inside DIR: no path separator, no
     * "." or "..", no hidden files, and no NUL that would cut the name. */
    if (memchr(name, '\0', (size_t)length))
        return "request contains a NUL byte";
    if (strchr(name, '/'))
        return "request contains '/'";
    if (name[0] == '.')
        return "request starts with '.'";
    return NULL;
}

/* Find DIR/<name>, then DIR/<name>.<ext>, as a regular file.  Returns 1 and
 * fills `path` when found, 0 when not, -1 when the path would not fit. */
static int find_image(const char *dir, const char *name, char path[PATH_MAX])
{
    struct stat st;
    int len = snprintf(path, PATH_MAX, "%s/%s", dir, name);
    if (len < 0 || len >= PATH_MAX)
        return -1;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return 1;
    for (size_t i = 0; i < sizeof EXTENSIONS / sizeof EXTENSIONS[0]; i++) {
        len = snprintf(path, PATH_MAX, "%s/%s.%s", dir, name, EXTENSIONS[i]);
        if (len < 0 || len >= PATH_MAX)
            return -1;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    }
    return 0;
}

/* Length of the well-formed UTF-8 sequence at the start of the C string s
 * (1 to 4 bytes), or 0 if it does not start with one.  The ranges allowed
 * for the second byte rule out overlong forms, surrogates and code points
 * above U+10FFFF.  Stops at the NUL, so it never reads past the string. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0)
        return 0;
    unsigned low = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned high = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (s[1] < low || s[1] > high)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Answer the held request with an error response whose message is built
 * like printf's.  The library copies the message (a C string) and sends it
 * without the NUL.  The protocol wants the message in UTF-8, but it may
 * quote a request or a path, which are any bytes (and vsnprintf may cut a
 * character in two): every byte that is not part of valid UTF-8 becomes '?'.
 * Returns the status of shmemaphore_send_error. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static int answer_error(shmemaphore_channel *ch, uint64_t code, const char *format, ...)
{
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args); /* truncating is fine */
    va_end(args);
    for (size_t k = 0; message[k] != '\0';) {
        size_t n = utf8_sequence((const unsigned char *)message + k);
        if (n == 0) {
            message[k] = '?';
            n = 1;
        }
        k += n;
    }
    return shmemaphore_send_error(ch, code, message);
}

int main(int argc, char **argv)
{
    int rc;
    const char *channel_name = "ibis";
    const char *dir = "img";
    long count = 0;
    int64_t idle_timeout_ms = -1; /* -1: wait forever */
    int64_t attach_timeout_ms = 10000;
    uint32_t flags = 0; /* SHMEMAPHORE_FLAG_* from --blocking-wait, --untrusted-peer */
    int keep_serving = 0;

    static const struct option long_options[] = {
        {"channel", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'N'},
        {"timeout", required_argument, NULL, 't'},
        {"attach-timeout", required_argument, NULL, 'a'},
        {"keep-serving", no_argument, NULL, 's'},
        {"blocking-wait", no_argument, NULL, 'b'},
        {"untrusted-peer", no_argument, NULL, 'k'},
        {"check-every-turn", no_argument, NULL, 'k'}, /* the former name */
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case 'c': channel_name = optarg; break;
        case 'd': dir = optarg; break;
        case 'N':
            if (parse_long(optarg, &count) != 0 || count < 0) {
                fprintf(stderr, "client: --count: '%s' is not a whole number >= 0\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 't':
            if (parse_seconds(optarg, &idle_timeout_ms) != 0) {
                fprintf(stderr, "client: --timeout: '%s' is not a number of seconds > 0 (at most 1e9)\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a':
            if (parse_seconds(optarg, &attach_timeout_ms) != 0) {
                fprintf(stderr, "client: --attach-timeout: '%s' is not a number of seconds > 0 (at most 1e9)\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 's': keep_serving = 1; break;
        case 'b': flags |= SHMEMAPHORE_FLAG_BLOCKING_WAIT; break;
        case 'k': flags |= SHMEMAPHORE_FLAG_UNTRUSTED_PEER; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "client: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    /* Catch a missing directory now, not as "not found" for every request. */
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "client: --dir: %s is not a directory\n", dir);
        return EXIT_USAGE;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Install the handlers before opening: a signal during the attach ends
     * it (no SA_RESTART) with SHMEMAPHORE_E_INTERRUPTED, and the client
     * removes the semaphores it created.  A second Ctrl-C kills at once
     * (SA_RESETHAND). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Always start from shmemaphore_options_init: it fills in the defaults
     * and records sizeof options, which keeps this program working with
     * newer libraries whose options struct has grown. */
    shmemaphore_options options;
    rc = shmemaphore_options_init(&options, sizeof options);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "client: shmemaphore_options_init: %s\n", shmemaphore_strerror(rc));
        return EXIT_OPEN;
    }
    options.attach_timeout_ms = attach_timeout_ms;
    options.flags = flags;

    shmemaphore_channel *ch = NULL;
    rc = shmemaphore_client_open(channel_name, &options, &ch);
    if (rc == SHMEMAPHORE_E_INTERRUPTED || (rc == SHMEMAPHORE_E_TIMEOUT && stop_signal)) {
        fprintf(stderr, "client: interrupted while waiting for the server\n");
        return EXIT_OK;
    }
    if (rc == SHMEMAPHORE_E_TIMEOUT) {
        fprintf(stderr, "client: no server opened channel \"%s\" within %.3g s\n", channel_name,
                (double)attach_timeout_ms / 1000.0);
        return EXIT_OPEN;
    }
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "client: cannot open channel \"%s\": %s (%s)\n", channel_name, shmemaphore_strerror(rc),
                shmemaphore_error_name(rc));
        return EXIT_OPEN;
    }

    signal_channel = ch;
    if (stop_signal) /* it came just before the channel was known */
        shmemaphore_interrupt(ch);

    int status = EXIT_OK;
    long served = 0;
    double idle_since = now_ms();
    while (!stop_signal && (count == 0 || served < count)) {
        const uint8_t *request;
        uint64_t length;
        int64_t wait_ms = SHMEMAPHORE_TIMEOUT_INFINITE; /* a signal ends it */
        if (idle_timeout_ms >= 0) {
            double left = idle_since + (double)idle_timeout_ms - now_ms();
            wait_ms = left > 0 ? (int64_t)left + 1 : 0;
        }
        rc = shmemaphore_receive_request(ch, wait_ms, &request, &length);
        if (rc == SHMEMAPHORE_E_INTERRUPTED)
            continue; /* the loop looks at the signal flag */
        if (rc == SHMEMAPHORE_E_TIMEOUT) {
            if (idle_timeout_ms >= 0 && now_ms() - idle_since >= (double)idle_timeout_ms) {
                fprintf(stderr, "client: no request within %.3g s; giving up\n", (double)idle_timeout_ms / 1000.0);
                status = EXIT_ERROR;
                break;
            }
            continue;
        }
        if (rc == SHMEMAPHORE_E_PEER_GONE && keep_serving) {
            /* The next receive waits for the next server on this name. */
            fprintf(stderr, "client: server closed the channel; waiting for the next one\n");
            continue;
        }
        if (rc == SHMEMAPHORE_E_PEER_GONE) {
            fprintf(stderr, "client: server closed the channel\n");
            break;
        }
        if (rc != SHMEMAPHORE_OK) {
            fprintf(stderr, "client: receiving a request: %s (%s)\n", shmemaphore_strerror(rc),
                    shmemaphore_error_name(rc));
            /* Best effort: if the library still holds a (malformed) request,
             * answer it so the server does not wait for nothing; if it holds
             * none, this fails harmlessly with SHMEMAPHORE_E_WRONG_STATE. */
            shmemaphore_send_error(ch, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "malformed request");
            status = EXIT_ERROR;
            break;
        }
        served++;
        idle_since = now_ms();

        /* From here on, every path must answer the request exactly once. */
        char name[NAME_MAX_BYTES + 1];
        char path[PATH_MAX];
        const char *refusal = check_request(request, length, name);
        int found = refusal ? 0 : find_image(dir, name, path);
        if (refusal) {
            rc = answer_error(ch, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "%s", refusal);
            if (name[0])
                print_name(stdout, name);
            else
                printf("(%llu-byte request)", (unsigned long long)length);
            printf(" -> refused (%s)\n", refusal);
        } else if (found < 0) {
            /* The name is fine, but DIR/name does not fit in PATH_MAX: our
             * limitation, not a bad request, so "unspecified". */
            rc = answer_error(ch, SHMEMAPHORE_PEER_ERROR_UNSPECIFIED, "path too long: %s", name);
            print_name(stdout, name);
            printf(" -> error (path too long)\n");
        } else if (found == 0) {
            rc = answer_error(ch, SHMEMAPHORE_PEER_ERROR_NOT_FOUND, "no such image: %s", name);
            print_name(stdout, name);
            printf(" -> not found\n");
        } else {
            /* Decodes the file with stb and publishes the pixels.  On failure
             * nothing was sent and the request is still ours to answer. */
            shmemaphore_metadata sent;
            rc = shmemaphore_send_image_file(ch, path, &sent);
            print_name(stdout, name);
            if (rc == SHMEMAPHORE_OK) {
                printf(" -> %s %llux%llux%llu\n", path, (unsigned long long)sent.width,
                       (unsigned long long)sent.height, (unsigned long long)sent.channels);
            } else {
                printf(" -> %s: %s\n", path, shmemaphore_strerror(rc));
                rc = answer_error(ch, SHMEMAPHORE_PEER_ERROR_UNSPECIFIED, "%s: %s", path, shmemaphore_strerror(rc));
            }
        }
        /* Sending does not wait for the server.  If it closed the channel
         * meanwhile, the answer is silently lost and the next receive
         * reports SHMEMAPHORE_E_PEER_GONE; so a failure here is a real one
         * (for example -ENOSPC when /dev/shm is full). */
        if (rc != SHMEMAPHORE_OK) {
            fprintf(stderr, "client: answering a request: %s (%s)\n", shmemaphore_strerror(rc),
                    shmemaphore_error_name(rc));
            status = EXIT_ERROR;
            break;
        }
    }

    /* A client unlinks nothing (the server owns the objects); closing just
     * releases our handles and mappings. */
    signal_channel = NULL;
    shmemaphore_close(ch);
    return status;
}
