/*
 * server.c - the shmemaphore "server" example: asks a client for images by
 * name and saves what comes back.
 *
 * In shmemaphore terms the server is the requester and owns the channel: it
 * creates the shared-memory objects, sends requests (here: image names) and
 * receives responses (here: decoded images).  Pair it with client.c, or with
 * any other shmemaphore client on the same host.
 *
 * Usage
 *   server [--channel NAME] [--names a,b,c] [--count N] [--out DIR]
 *          [--format png|jpg|bmp|tga] [--timeout SECONDS] [--seed S] [--help]
 *
 *   client --dir img &                  # serve img/apple.png, img/dog.jpg, ...
 *   server --out /tmp/out --count 10    # 10 random requests, saved to /tmp/out
 *
 * Output: one line per exchange,
 *   NAME  BYTES  WxHxC  MS ms  PATH
 * where MS is the round trip (request sent to response received) on the
 * monotonic clock.  Exit status: 0 all exchanges done, 1 an exchange failed
 * (or interrupted), 2 usage error, 3 the channel could not be opened.
 *
 * Build against a build tree:
 *   cc -std=c11 -Wall -Wextra -pedantic -Iinclude c-examples/server.c \
 *      -L.build/debug -lshmemaphore -Wl,-rpath,$PWD/.build/debug -o server
 * or against an installed library:
 *   cc -std=c11 -Wall -Wextra -pedantic c-examples/server.c \
 *      $(pkg-config --cflags --libs shmemaphore) -o server
 */

/* clock_gettime, sigaction and friends are POSIX, not ISO C. */
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
#include <time.h>
#include <unistd.h>

#include <shmemaphore.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

enum {
    EXIT_OK = 0,
    EXIT_EXCHANGE = 1, /* timeout, error response, protocol error, I/O */
    EXIT_USAGE = 2,
    EXIT_OPEN = 3
};

/* The client turns a request into a file name, and file names are at most
 * 255 bytes on common file systems. */
#define NAME_MAX_BYTES 255

/* Longest wait inside one library call.  The library retries EINTR itself,
 * so a signal does not cut a wait short; waiting in short slices is what
 * lets us notice a SIGINT/SIGTERM within this many milliseconds. */
#define WAIT_SLICE_MS 200

/* At most this many bytes of a peer's error message are printed: the message
 * comes from another process and may be arbitrarily long. */
#define MESSAGE_CAP 200

/* Set by the signal handler, read by the main loop.  Only a volatile
 * sig_atomic_t may be written from a handler portably. */
static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int signo) { stop_signal = signo; }

/* Monotonic time in milliseconds: immune to wall-clock jumps, as the
 * library's own timeouts are. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Print `length` bytes that another process sent us, at most MESSAGE_CAP of
 * them, with control characters replaced so they cannot mess up a terminal.
 * The bytes are not NUL-terminated, so never use plain %s on them. */
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

static const char *peer_error_name(uint64_t code)
{
    switch (code) {
    case SHMEMAPHORE_PEER_ERROR_UNSPECIFIED: return "unspecified";
    case SHMEMAPHORE_PEER_ERROR_NOT_FOUND: return "not found";
    case SHMEMAPHORE_PEER_ERROR_BAD_REQUEST: return "bad request";
    default: return "application-defined";
    }
}

static void usage(FILE *out)
{
    fputs("usage: server [--channel NAME] [--names a,b,c] [--count N] [--out DIR]\n"
          "              [--format png|jpg|bmp|tga] [--timeout SECONDS] [--seed S]\n"
          "\n"
          "Requests N images, each a random name from the list, from the shmemaphore\n"
          "client on channel NAME and saves each as DIR/<name>-<i>.<format>\n"
          "(a raw-bytes response goes to DIR/<name>-<i>.bin).\n"
          "\n"
          "  --channel NAME     channel name (default ibis)\n"
          "  --names a,b,c      names to request (default apple,ball,car,dog)\n"
          "  --count N          number of requests, > 0 (default 10)\n"
          "  --out DIR          existing directory for the images (default .)\n"
          "  --format F         png, jpg, bmp or tga (default png)\n"
          "  --timeout SECONDS  how long to wait for each response (default 10)\n"
          "  --seed S           seed for the random choice of names (default: time)\n"
          "  --help             show this help\n"
          "\n"
          "Exit status: 0 all exchanges done, 1 an exchange failed or was\n"
          "interrupted, 2 usage error, 3 the channel could not be opened.\n",
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

/* Split "a,b,c" in place into an array of pointers.  Returns the number of
 * names, or -1 after printing why the list is unusable. */
static long split_names(char *list, char ***out)
{
    long n = 1;
    for (const char *p = list; *p; p++)
        if (*p == ',')
            n++;
    char **names = malloc((size_t)n * sizeof *names);
    if (!names) {
        fputs("server: out of memory\n", stderr);
        return -1;
    }
    char *name = list;
    for (long i = 0; i < n; i++) {
        char *comma = strchr(name, ',');
        if (comma)
            *comma = '\0';
        size_t len = strlen(name);
        if (len == 0) {
            fputs("server: --names: empty name in the list\n", stderr);
            free(names);
            return -1;
        }
        if (len > NAME_MAX_BYTES) {
            fprintf(stderr, "server: --names: name %ld is %zu bytes long; at most %d\n",
                    i + 1, len, NAME_MAX_BYTES);
            free(names);
            return -1;
        }
        /* Names become file names in --out (and in the client's directory). */
        if (strchr(name, '/')) {
            fprintf(stderr, "server: --names: \"%s\" contains '/'\n", name);
            free(names);
            return -1;
        }
        names[i] = name;
        name = comma ? comma + 1 : name + len;
    }
    *out = names;
    return n;
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
    char *names_arg = default_names;
    long count = 10;
    const char *out_dir = ".";
    const char *format = "png";
    int64_t timeout_ms = 10000;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

    static const struct option long_options[] = {
        {"channel", required_argument, NULL, 'c'},
        {"names", required_argument, NULL, 'n'},
        {"count", required_argument, NULL, 'N'},
        {"out", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long value;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case 'c': channel_name = optarg; break;
        case 'n': names_arg = optarg; break;
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
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE; /* getopt printed why */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "server: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }

    /* Catch a missing directory now rather than after the first exchange. */
    struct stat st;
    if (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "server: --out: %s is not a directory\n", out_dir);
        return EXIT_USAGE;
    }

    char **names;
    long name_count = split_names(names_arg, &names);
    if (name_count < 0)
        return EXIT_USAGE;

    /* Line-buffer stdout so each exchange shows up at once even in a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Print the seed so a run can be repeated with --seed. */
    fprintf(stderr, "server: channel \"%s\", %ld requests, seed %u\n", channel_name, count, seed);
    srand(seed);

    /* Catch SIGINT/SIGTERM so that we still close the channel: closing is
     * what removes the four objects from /dev/shm.  No SA_RESTART: the
     * library retries interrupted waits anyway.  SA_RESETHAND makes a
     * second Ctrl-C kill the process at once. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* NULL options = defaults: objects mode 0600, stale objects from a
     * crashed earlier run are reset.  Opening does not wait for a client:
     * a request sent before the client attaches simply waits for it. */
    shmemaphore_channel *ch = NULL;
    int rc = shmemaphore_server_open(channel_name, NULL, &ch);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "server: cannot open channel \"%s\": %s (%s)\n", channel_name,
                shmemaphore_strerror(rc), shmemaphore_error_name(rc));
        free(names);
        return EXIT_OPEN;
    }

    int status = EXIT_OK;
    long i;
    for (i = 1; i <= count && !stop_signal; i++) {
        /* rand() % n is slightly biased; irrelevant for picking test names. */
        const char *name = names[rand() % name_count];
        shmemaphore_response resp;

        double start = now_ms();
        /* The request is the bare name, without its NUL: the wire carries a
         * length, and that is what the original apps send. */
        rc = shmemaphore_send_request(ch, name, strlen(name));
        if (rc == SHMEMAPHORE_OK) {
            /* Wait for the answer in slices, checking for a signal between
             * them.  A timed-out receive leaves the request outstanding;
             * calling receive again just keeps waiting for the same answer. */
            double deadline = start + (double)timeout_ms;
            for (;;) {
                double left = deadline - now_ms();
                int64_t slice = left <= 0 ? 0 : left < WAIT_SLICE_MS ? (int64_t)left + 1 : WAIT_SLICE_MS;
                rc = shmemaphore_receive_response(ch, slice, &resp);
                if (rc != SHMEMAPHORE_E_TIMEOUT || stop_signal || now_ms() >= deadline)
                    break;
            }
        }
        double elapsed = now_ms() - start;

        if (rc == SHMEMAPHORE_E_TIMEOUT && stop_signal)
            break; /* interrupted while waiting: reported below */

        if (rc == SHMEMAPHORE_E_TIMEOUT) {
            fprintf(stderr, "server: %s: %s (no response within %.3g s; is a client running on channel \"%s\"?)\n",
                    name, shmemaphore_strerror(rc), (double)timeout_ms / 1000.0, channel_name);
            status = EXIT_EXCHANGE;
            break;
        }
        if (rc == SHMEMAPHORE_E_PEER_ERROR) {
            /* The client could not serve the request and said why.  resp is
             * filled: error_code and the message in data (not NUL-terminated). */
            fprintf(stderr, "server: %s: %s: code %llu (%s), message \"", name, shmemaphore_strerror(rc),
                    (unsigned long long)resp.error_code, peer_error_name(resp.error_code));
            print_untrusted(stderr, resp.data, resp.metadata.bytes);
            fputs("\"\n", stderr);
            status = EXIT_EXCHANGE;
            break;
        }
        if (rc != SHMEMAPHORE_OK) {
            /* SHMEMAPHORE_E_PROTOCOL (a broken peer) or a system error. */
            fprintf(stderr, "server: %s: %s (%s)\n", name, shmemaphore_strerror(rc), shmemaphore_error_name(rc));
            status = EXIT_EXCHANGE;
            break;
        }

        /* resp.data points into shared memory and stays valid until our next
         * call on the channel: save it before sending the next request. */
        char path[PATH_MAX];
        int is_image = resp.kind == SHMEMAPHORE_PAYLOAD_IMAGE;
        int len = snprintf(path, sizeof path, "%s/%s-%ld.%s", out_dir, name, i, is_image ? format : "bin");
        if (len < 0 || (size_t)len >= sizeof path) {
            fprintf(stderr, "server: %s: output path too long\n", name);
            status = EXIT_EXCHANGE;
            break;
        }
        if (is_image) {
            rc = shmemaphore_save_image(&resp, path);
            if (rc != SHMEMAPHORE_OK) {
                fprintf(stderr, "server: %s: %s (%s) while saving %s\n", name, shmemaphore_strerror(rc),
                        shmemaphore_error_name(rc), path);
                status = EXIT_EXCHANGE;
                break;
            }
        } else {
            /* SHMEMAPHORE_PAYLOAD_BYTES: an opaque payload, not an image. */
            if (write_bytes(path, resp.data, resp.metadata.bytes) != 0) {
                fprintf(stderr, "server: %s: cannot write %s: %s\n", name, path, strerror(errno));
                status = EXIT_EXCHANGE;
                break;
            }
        }
        printf("%s  %llu  %llux%llux%llu  %.3f ms  %s\n", name, (unsigned long long)resp.metadata.bytes,
               (unsigned long long)resp.metadata.width, (unsigned long long)resp.metadata.height,
               (unsigned long long)resp.metadata.channels, elapsed, path);
    }

    if (stop_signal && status == EXIT_OK && i <= count) {
        fprintf(stderr, "server: interrupted by signal %d after %ld of %ld exchanges\n", (int)stop_signal,
                i - 1, count);
        status = EXIT_EXCHANGE;
    }

    /* Always close: it unlinks both segments and both semaphores, so
     * /dev/shm is left clean and a waiting client sees "peer gone". */
    shmemaphore_close(ch);
    free(names);
    return status;
}
