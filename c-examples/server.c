/*
 * server.c - the shmemaphore "server" example: asks a client for images by
 * name and reports (and optionally saves) what comes back.
 *
 * In shmemaphore terms the server is the requester and owns the channel: it
 * creates the shared-memory objects, sends requests (here: image names) and
 * receives responses (here: decoded images).  Pair it with client.c, or with
 * any other shmemaphore client on the same host.
 *
 * Usage
 *   server [--channel NAME] [--names a,b,c | --requests FILE] [--count N]
 *          [--out DIR] [--format png|jpg|bmp|tga] [--timeout SECONDS]
 *          [--seed S] [--blocking-wait] [--untrusted-peer] [--help]
 *
 *   client --dir img &                  # serve img/apple.png, img/dog.jpg, ...
 *   server --out /tmp/out --count 10    # 10 random requests, saved to /tmp/out
 *   server --requests list.txt --count 1000   # the lines of list.txt, cycling
 *
 * Output: one machine-readable line per exchange, as docs/CONFORMANCE.md
 * defines it:
 *   INDEX REQUEST-LENGTH image W H C BYTES FNV1A64 MS [PATH]
 *   INDEX REQUEST-LENGTH bytes BYTES FNV1A64 MS [PATH]
 *   INDEX REQUEST-LENGTH error CODE MS
 * INDEX counts from 1; FNV1A64 is the 64-bit FNV-1a hash of the payload as
 * 16 hex digits; MS is the round trip (request sent to response received)
 * on the monotonic clock; PATH is the saved file, with --out only.
 * An error response is a valid answer: it gets its line, its message goes
 * to standard error, and the run goes on.
 *
 * Exit status: 0 all exchanges done (error responses included), 1 an
 * exchange failed (timeout, protocol or system error, a file that could not
 * be written) or the run was interrupted, 2 usage error, 3 the channel could
 * not be opened.
 *
 * Ctrl-C ends the wait at once (the handler calls shmemaphore_interrupt);
 * the channel is closed, so /dev/shm is left clean.
 *
 * Build against the CMake build tree (cmake -S . -B build && cmake --build
 * build), whose build/lib holds libshmemaphore.so.1, the name the program
 * loads:
 *   cc -std=c11 -Wall -Wextra -pedantic -Iinclude c-examples/server.c \
 *      -Lbuild/lib -lshmemaphore -Wl,-rpath,$PWD/build/lib -o server
 * against a SwiftPM build (swift build --product shmemaphore), which makes
 * no libshmemaphore.so.1: make the link first,
 *   ln -sf libshmemaphore.so .build/debug/libshmemaphore.so.1
 *   cc -std=c11 -Wall -Wextra -pedantic -Iinclude c-examples/server.c \
 *      -L.build/debug -lshmemaphore -Wl,-rpath,$PWD/.build/debug -o server
 * or against an installed library (outside the loader's path, add
 * -Wl,-rpath,<prefix>/lib):
 *   cc -std=c11 -Wall -Wextra -pedantic c-examples/server.c \
 *      $(pkg-config --cflags --libs shmemaphore) -o server
 */

/* clock_gettime, sigaction, getline and friends are POSIX, not ISO C. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <shmemaphore.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

enum {
    EXIT_OK = 0,
    EXIT_EXCHANGE = 1, /* timeout, protocol error, I/O, interrupted */
    EXIT_USAGE = 2,
    EXIT_OPEN = 3
};

/* The client turns a request into a file name, and file names are at most
 * 255 bytes on common file systems. */
#define NAME_MAX_BYTES 255

/* With --requests, a request is used in an --out file name only if it is at
 * most this long and made of safe characters (see file_stem). */
#define STEM_MAX_BYTES 64

/* At most this many bytes of a peer's error message are printed: the message
 * comes from another process and may be arbitrarily long. */
#define MESSAGE_CAP 200

/* One request to send.  It is kept with its length rather than as a C
 * string: a line of a request file may contain NUL bytes, and the wire
 * carries a length, not a terminator.  `bytes` is NUL-terminated anyway
 * (one extra byte), which makes it easy to use in file names. */
struct request {
    char *bytes;
    size_t length;
};

/* Set by the signal handler, read by the main loop.  Only a volatile
 * sig_atomic_t may be written from a handler portably. */
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

/* Monotonic time in milliseconds: immune to wall-clock jumps, as the
 * library's own timeouts are. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The 64-bit FNV-1a hash of `length` bytes: a cheap fingerprint of a
 * payload, which lets a test compare what arrived with what was sent. */
static uint64_t fnv1a64(const uint8_t *data, uint64_t length)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325); /* offset basis */
    for (uint64_t k = 0; k < length; k++) {
        hash ^= data[k];
        hash *= UINT64_C(0x100000001b3); /* FNV prime */
    }
    return hash;
}

/* Print `length` bytes that another process sent us, at most MESSAGE_CAP of
 * them, with control characters replaced so they cannot mess up a terminal
 * (or split our one-line message).  The bytes are not NUL-terminated, so
 * never use plain %s on them. */
static void print_untrusted(FILE *out, const uint8_t *bytes, uint64_t length)
{
    uint64_t shown = length < MESSAGE_CAP ? length : MESSAGE_CAP;
    for (uint64_t i = 0; i < shown; i++) {
        uint8_t c = bytes[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
    if (shown < length)
        fprintf(out, "... (%llu bytes)", (unsigned long long)length);
}

static void usage(FILE *out)
{
    fputs("usage: server [--channel NAME] [--names a,b,c | --requests FILE] [--count N]\n"
          "              [--out DIR] [--format png|jpg|bmp|tga] [--timeout SECONDS]\n"
          "              [--seed S] [--blocking-wait] [--untrusted-peer]\n"
          "\n"
          "Sends N requests to the shmemaphore client on channel NAME: random names\n"
          "from the --names list, or the lines of FILE in order (cycling).  Prints one\n"
          "line per exchange (see docs/CONFORMANCE.md):\n"
          "  INDEX REQUEST-LENGTH image W H C BYTES FNV1A64 MS [PATH]\n"
          "  INDEX REQUEST-LENGTH bytes BYTES FNV1A64 MS [PATH]\n"
          "  INDEX REQUEST-LENGTH error CODE MS\n"
          "With --out, saves each image as DIR/<name>-<i>.<format> (a raw-bytes\n"
          "response as DIR/<name>-<i>.bin).\n"
          "\n"
          "  --channel NAME     channel name (default ibis)\n"
          "  --names a,b,c      names to request at random (default apple,ball,car,dog)\n"
          "  --requests FILE    send the lines of FILE instead, in order; an empty line\n"
          "                     is an empty request; lines are sent as they are\n"
          "  --count N          number of requests, > 0 (default 10)\n"
          "  --out DIR          save the responses in this existing directory\n"
          "                     (default: save nothing)\n"
          "  --format F         png, jpg, bmp or tga (default png)\n"
          "  --timeout SECONDS  how long to wait for each response (default 10)\n"
          "  --seed S           seed for the random choice of names (default: time)\n"
          "  --blocking-wait    never spin: sleep in the kernel at once on every wait\n"
          "                     (default: adaptive, spins briefly when that pays)\n"
          "  --untrusted-peer   fstat the segments and pread/pwrite HEAD on every turn,\n"
          "                     even for a client that holds its liveness lock, and\n"
          "                     receive into private memory (3 more system calls and\n"
          "                     a copy per round trip; former name --check-every-turn)\n"
          "  --help             show this help\n"
          "\n"
          "Exit status: 0 all exchanges done (error responses included), 1 an\n"
          "exchange failed or was interrupted, 2 usage error, 3 the channel could\n"
          "not be opened.\n",
          out);
}

/* strtol with the checks it needs to be safe: whole string, no overflow. */
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

/* Seconds (fractions allowed) to milliseconds; must be > 0 and sane. */
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

/* Append a copy of `length` bytes to the growing array *list (*count used,
 * *capacity allocated).  Returns 0, or -1 when out of memory. */
static int add_request(struct request **list, long *count, long *capacity, const char *bytes, size_t length)
{
    if (*count == *capacity) {
        long grown = *capacity ? *capacity * 2 : 16;
        struct request *bigger = realloc(*list, (size_t)grown * sizeof **list);
        if (!bigger)
            return -1;
        *list = bigger;
        *capacity = grown;
    }
    char *copy = malloc(length + 1); /* + 1: the NUL, and never malloc(0) */
    if (!copy)
        return -1;
    memcpy(copy, bytes, length);
    copy[length] = '\0';
    (*list)[*count].bytes = copy;
    (*list)[*count].length = length;
    (*count)++;
    return 0;
}

static void free_requests(struct request *list, long count)
{
    for (long i = 0; i < count; i++)
        free(list[i].bytes);
    free(list);
}

/* Split "a,b,c" in place into requests.  These names also become file
 * names (here with --out, and in the client's directory), so they are
 * checked.  Returns the number of names, or -1 after printing why the list
 * is unusable. */
static long split_names(char *list, struct request **out)
{
    struct request *names = NULL;
    long count = 0, capacity = 0;
    char *name = list;
    for (;;) {
        char *comma = strchr(name, ',');
        if (comma)
            *comma = '\0';
        size_t len = strlen(name);
        if (len == 0) {
            fputs("server: --names: empty name in the list\n", stderr);
            goto fail;
        }
        if (len > NAME_MAX_BYTES) {
            fprintf(stderr, "server: --names: name %ld is %zu bytes long; at most %d\n", count + 1, len,
                    NAME_MAX_BYTES);
            goto fail;
        }
        if (strchr(name, '/')) {
            fprintf(stderr, "server: --names: \"%s\" contains '/'\n", name);
            goto fail;
        }
        if (add_request(&names, &count, &capacity, name, len) != 0) {
            fputs("server: out of memory\n", stderr);
            goto fail;
        }
        if (!comma)
            break;
        name = comma + 1;
    }
    *out = names;
    return count;
fail:
    free_requests(names, count);
    return -1;
}

/* Read the request file: one request per line, in order.  Only the final
 * "\n" of a line is removed, so an empty line is an empty request and a
 * "\r" or spaces stay part of it; nothing is checked, since testing how a
 * client copes with odd requests is the point of such a file.  getline
 * handles lines of any length (and NUL bytes inside them: we keep its
 * length instead of calling strlen).  Returns the number of lines, or -1
 * after printing why the file is unusable (including "no lines at all"). */
static long read_requests(const char *path, struct request **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "server: --requests: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct request *list = NULL;
    long count = 0, capacity = 0;
    char *line = NULL;     /* getline's buffer, grown as needed */
    size_t line_size = 0;
    ssize_t len;
    while ((len = getline(&line, &line_size, f)) != -1) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (add_request(&list, &count, &capacity, line, (size_t)len) != 0) {
            fputs("server: out of memory\n", stderr);
            goto fail;
        }
    }
    /* getline returns -1 both at the end of the file and on an error. */
    if (ferror(f) || !feof(f)) {
        fprintf(stderr, "server: --requests: cannot read %s: %s\n", path, strerror(errno));
        goto fail;
    }
    if (count == 0) {
        fprintf(stderr, "server: --requests: %s holds no lines\n", path);
        goto fail;
    }
    free(line);
    fclose(f);
    *out = list;
    return count;
fail:
    free(line);
    fclose(f);
    free_requests(list, count);
    return -1;
}

/* The part of an --out file name that comes from a request of a request
 * file.  Such a request may be anything (empty, 64 KiB long, "../x", control
 * bytes), so it is used only when it is 1 to STEM_MAX_BYTES characters from
 * [A-Za-z0-9._-]; otherwise the file is named after "request".  (Names from
 * --names were checked when the list was read and are used as they are.) */
static const char *file_stem(const struct request *r)
{
    if (r->length == 0 || r->length > STEM_MAX_BYTES)
        return "request";
    for (size_t k = 0; k < r->length; k++) {
        char c = r->bytes[k];
        int safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                   c == '_' || c == '-';
        if (!safe)
            return "request";
    }
    return r->bytes; /* NUL-terminated: see struct request */
}

/* Write a raw-bytes response with plain stdio. */
static int write_bytes(const char *path, const uint8_t *data, uint64_t length)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t written = fwrite(data, 1, (size_t)length, f);
    int failed = written != (size_t)length;
    if (fclose(f) != 0)
        failed = 1;
    return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    const char *channel_name = "ibis";
    char default_names[] = "apple,ball,car,dog";
    char *names_arg = NULL;
    const char *requests_path = NULL;
    long count = 10;
    const char *out_dir = NULL; /* NULL: save nothing */
    const char *format = "png";
    int64_t timeout_ms = 10000;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    uint32_t flags = 0; /* SHMEMAPHORE_FLAG_* from --blocking-wait, --untrusted-peer */

    static const struct option long_options[] = {
        {"channel", required_argument, NULL, 'c'},
        {"names", required_argument, NULL, 'n'},
        {"requests", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'N'},
        {"out", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"blocking-wait", no_argument, NULL, 'b'},
        {"untrusted-peer", no_argument, NULL, 'k'},
        {"check-every-turn", no_argument, NULL, 'k'}, /* the former name */
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long value;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case 'c': channel_name = optarg; break;
        case 'n': names_arg = optarg; break;
        case 'r': requests_path = optarg; break;
        case 'N':
            if (parse_long(optarg, &count) != 0 || count <= 0) {
                fprintf(stderr, "server: --count: '%s' is not a whole number > 0\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'o': out_dir = optarg; break;
        case 'f':
            if (strcmp(optarg, "png") != 0 && strcmp(optarg, "jpg") != 0 &&
                strcmp(optarg, "bmp") != 0 && strcmp(optarg, "tga") != 0) {
                fprintf(stderr, "server: --format: '%s' is not png, jpg, bmp or tga\n", optarg);
                return EXIT_USAGE;
            }
            format = optarg;
            break;
        case 't':
            if (parse_seconds(optarg, &timeout_ms) != 0) {
                fprintf(stderr, "server: --timeout: '%s' is not a number of seconds > 0 (at most 1e9)\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 's':
            if (parse_long(optarg, &value) != 0 || value < 0 || (unsigned long)value > UINT_MAX) {
                fprintf(stderr, "server: --seed: '%s' is not a whole number in 0..%u\n", optarg, UINT_MAX);
                return EXIT_USAGE;
            }
            seed = (unsigned)value;
            break;
        case 'b': flags |= SHMEMAPHORE_FLAG_BLOCKING_WAIT; break;
        case 'k': flags |= SHMEMAPHORE_FLAG_UNTRUSTED_PEER; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE; /* getopt printed why */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "server: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (names_arg && requests_path) {
        fputs("server: --names and --requests cannot be used together\n", stderr);
        return EXIT_USAGE;
    }

    /* Catch a missing directory now rather than after the first exchange. */
    struct stat st;
    if (out_dir && (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "server: --out: %s is not a directory\n", out_dir);
        return EXIT_USAGE;
    }

    struct request *requests;
    long request_count = requests_path ? read_requests(requests_path, &requests)
                                       : split_names(names_arg ? names_arg : default_names, &requests);
    if (request_count < 0)
        return EXIT_USAGE;

    /* Line-buffer stdout so each exchange shows up at once even in a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (requests_path) {
        fprintf(stderr, "server: channel \"%s\", %ld requests from the %ld lines of %s\n", channel_name, count,
                request_count, requests_path);
    } else {
        /* Print the seed so a run can be repeated with --seed. */
        fprintf(stderr, "server: channel \"%s\", %ld requests, seed %u\n", channel_name, count, seed);
        srand(seed);
    }

    /* Catch SIGINT/SIGTERM so that we still close the channel: closing is
     * what removes the four objects from /dev/shm.  No SA_RESTART, so that
     * a signal also ends a wait by itself.  SA_RESETHAND makes a second
     * Ctrl-C kill the process at once. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* The defaults (objects mode 0600, stale objects from a crashed earlier
     * run are reset, adaptive waiting), plus the flags asked for.  Always
     * start from shmemaphore_options_init: it records sizeof options, which
     * keeps this program working with newer libraries whose struct has grown.
     * Opening does not wait for a client: a request sent before the client
     * attaches simply waits for it. */
    shmemaphore_options options;
    int rc = shmemaphore_options_init(&options, sizeof options);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "server: shmemaphore_options_init: %s\n", shmemaphore_strerror(rc));
        free_requests(requests, request_count);
        return EXIT_OPEN;
    }
    options.flags = flags;
    shmemaphore_channel *ch = NULL;
    rc = shmemaphore_server_open(channel_name, &options, &ch);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "server: cannot open channel \"%s\": %s (%s)\n", channel_name,
                shmemaphore_strerror(rc), shmemaphore_error_name(rc));
        free_requests(requests, request_count);
        return EXIT_OPEN;
    }

    signal_channel = ch;

    int status = EXIT_OK;
    long i;
    for (i = 1; i <= count && !stop_signal; i++) {
        /* The request file in order, starting over at its end; or a random
         * name (rand() % n is slightly biased; irrelevant here). */
        const struct request *req = requests_path ? &requests[(i - 1) % request_count]
                                                  : &requests[rand() % request_count];
        shmemaphore_response resp;

        double start = now_ms();
        /* The request goes out as its bytes, without a NUL: the wire
         * carries a length, and that is what the original apps send. */
        rc = shmemaphore_send_request(ch, req->bytes, req->length);
        if (rc == SHMEMAPHORE_OK) {
            /* A signal ends this wait (SHMEMAPHORE_E_INTERRUPTED) and
             * leaves the request outstanding; receiving again would wait
             * on for the same answer, a new request would give it up. */
            rc = shmemaphore_receive_response(ch, timeout_ms, &resp);
        }
        double elapsed = now_ms() - start;

        if (rc == SHMEMAPHORE_E_INTERRUPTED || (rc == SHMEMAPHORE_E_TIMEOUT && stop_signal))
            break; /* interrupted while waiting: reported below */

        if (rc == SHMEMAPHORE_E_TIMEOUT) {
            fprintf(stderr, "server: request %ld: %s (no response within %.3g s; is a client running on channel \"%s\"?)\n",
                    i, shmemaphore_strerror(rc), (double)timeout_ms / 1000.0, channel_name);
            status = EXIT_EXCHANGE;
            break;
        }
        if (rc == SHMEMAPHORE_E_PEER_ERROR) {
            /* The client could not serve the request and said why: a valid
             * answer, so report it and go on.  resp is filled: error_code,
             * and the message in data (not NUL-terminated). */
            printf("%ld %zu error %llu %.3f\n", i, req->length, (unsigned long long)resp.error_code, elapsed);
            fprintf(stderr, "server: request %ld: peer error %llu: ", i, (unsigned long long)resp.error_code);
            print_untrusted(stderr, resp.data, resp.metadata.bytes);
            fputc('\n', stderr);
            continue;
        }
        if (rc != SHMEMAPHORE_OK) {
            /* SHMEMAPHORE_E_PROTOCOL (a broken peer) or a system error. */
            fprintf(stderr, "server: request %ld: %s (%s)\n", i, shmemaphore_strerror(rc), shmemaphore_error_name(rc));
            status = EXIT_EXCHANGE;
            break;
        }

        /* resp.data points into shared memory and stays valid until our next
         * call on the channel: use it (hash it, save it) before sending the
         * next request. */
        int is_image = resp.kind == SHMEMAPHORE_PAYLOAD_IMAGE;
        uint64_t digest = fnv1a64(resp.data, resp.metadata.bytes);

        char path[PATH_MAX] = "";
        if (out_dir) {
            const char *stem = requests_path ? file_stem(req) : req->bytes;
            int len = snprintf(path, sizeof path, "%s/%s-%ld.%s", out_dir, stem, i, is_image ? format : "bin");
            if (len < 0 || (size_t)len >= sizeof path) {
                fprintf(stderr, "server: request %ld: output path too long\n", i);
                status = EXIT_EXCHANGE;
                break;
            }
            if (is_image) {
                rc = shmemaphore_save_image(&resp, path);
                if (rc != SHMEMAPHORE_OK) {
                    fprintf(stderr, "server: request %ld: %s (%s) while saving %s\n", i, shmemaphore_strerror(rc),
                            shmemaphore_error_name(rc), path);
                    status = EXIT_EXCHANGE;
                    break;
                }
            } else if (write_bytes(path, resp.data, resp.metadata.bytes) != 0) {
                /* SHMEMAPHORE_PAYLOAD_BYTES: an opaque payload, not an image. */
                fprintf(stderr, "server: request %ld: cannot write %s: %s\n", i, path, strerror(errno));
                status = EXIT_EXCHANGE;
                break;
            }
        }

        if (is_image)
            printf("%ld %zu image %llu %llu %llu %llu %016llx %.3f", i, req->length,
                   (unsigned long long)resp.metadata.width, (unsigned long long)resp.metadata.height,
                   (unsigned long long)resp.metadata.channels, (unsigned long long)resp.metadata.bytes,
                   (unsigned long long)digest, elapsed);
        else
            printf("%ld %zu bytes %llu %016llx %.3f", i, req->length, (unsigned long long)resp.metadata.bytes,
                   (unsigned long long)digest, elapsed);
        if (path[0])
            printf(" %s", path);
        putchar('\n');
    }

    if (stop_signal && status == EXIT_OK && i <= count) {
        fprintf(stderr, "server: interrupted by signal %d after %ld of %ld exchanges\n", (int)stop_signal,
                i - 1, count);
        status = EXIT_EXCHANGE;
    }

    /* Always close: it unlinks both segments and both semaphores, so
     * /dev/shm is left clean and a waiting client sees "peer gone". */
    signal_channel = NULL;
    shmemaphore_close(ch);
    free_requests(requests, request_count);
    return status;
}
