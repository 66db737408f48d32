/*
 * soak_server.c - the C side of scripts/soak.sh: a long-running server that
 * uses nothing but <shmemaphore.h> and libc, checks every byte it receives,
 * and watches its own and its peer's descriptors and /dev/shm mappings.
 *
 *   soak_server steps N SEED                        N steps, one per line, to stdout
 *   soak_server server CHANNEL STEPS-FILE PEER-PID  run the steps against a client
 *
 * Steps and requests are those of Tests/CPeer/PEER-SPEC.md, so any test peer
 * client answers them (shmemaphore-testpeer client, shmemaphore-c-peer client):
 *   bytes:N:SEED        request "bytes N SEED"      -> N raw bytes, pattern(SEED, i)
 *   image:W:H:C:SEED    request "image W H C SEED"  -> W*H*C pixels, pattern(SEED, i)
 *   error:CODE          request "error CODE"        -> error CODE, "requested error CODE"
 * `steps` draws each payload size log-uniformly from 1 B to SOAK_MAX_BYTES
 * (33,177,600 B: one 3840x2160 RGBA frame), so every order of magnitude gets
 * the same share of exchanges; 72 % bytes, 25 % images (1-4 channels, about
 * square), 3 % error responses.  The same N and SEED give the same file.
 *
 * `server` sends every step, waits up to 60 s for each answer and checks it:
 * kind, the four metadata words, and every payload byte against the pattern
 * (error responses: code and message).  It prints (the script parses these):
 *   soak: progress I/N ...                        every 10 %
 *   soak: counts PROCESS WHEN fds=F shm_maps=M anon_kb=A
 *                                   PROCESS self|peer; WHEN before-open (self only),
 *                                   start (after exchange 1), warm (after 10 %),
 *                                   end (after the last), max (over the samples),
 *                                   after-close (self only)
 *   soak: objects during=K                        the channel's objects in /dev/shm
 *   soak: done exchanges=E payload_bytes=B request_bytes=R seconds=S
 * fds counts the entries of /proc/PID/fd, shm_maps the lines of
 * /proc/PID/maps that map a file under /dev/shm (the library maps DATA, HEAD
 * once the peer is trusted, from the first exchange on, and through glibc
 * both semaphores), anon_kb the RssAnon of /proc/PID/status
 * (heap and other private memory).  -1 means /proc was unreadable.
 *
 * Exit status: 0 every exchange checked out, 1 a failure, 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "shmemaphore.h"

#define SOAK_MAX_BYTES 33177600ull /* 3840 * 2160 * 4 */
#define SOAK_TIMEOUT_MS 60000
#define MAX_LINE 128

static uint8_t pattern(uint64_t seed, uint64_t i) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
    return (uint8_t)(x >> 56);
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform(uint64_t *state) { return (double)(splitmix64(state) >> 11) / 9007199254740992.0; }

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return *end == '\0' ? 0 : -1;
}

/* ---- steps ----------------------------------------------------------------- */

static int write_steps(uint64_t n, uint64_t seed) {
    uint64_t state = seed;
    for (uint64_t i = 0; i < n; i++) {
        double kind = uniform(&state);
        /* exp(U * ln(MAX)) is log-uniform on [1, MAX]. */
        uint64_t size = (uint64_t)exp(uniform(&state) * log((double)SOAK_MAX_BYTES));
        if (size < 1)
            size = 1;
        if (size > SOAK_MAX_BYTES)
            size = SOAK_MAX_BYTES;
        uint64_t pseed = splitmix64(&state) % 1000000007ull;
        if (kind < 0.03) {
            printf("error:%" PRIu64 "\n", splitmix64(&state) % 1000);
        } else if (kind < 0.28) {
            uint64_t c = 1 + splitmix64(&state) % 4, pixels = size / c ? size / c : 1;
            uint64_t w = (uint64_t)sqrt((double)pixels);
            if (w < 1)
                w = 1;
            uint64_t h = pixels / w ? pixels / w : 1;
            printf("image:%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%" PRIu64 "\n", w, h, c, pseed);
        } else {
            printf("bytes:%" PRIu64 ":%" PRIu64 "\n", size, pseed);
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- resource counts -------------------------------------------------------- */

struct counts {
    long fds, shm_maps, anon_kb;
};

static struct counts sample(long pid) {
    struct counts c = {-1, -1, -1};
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *dir = opendir(path);
    if (dir != NULL) {
        struct dirent *entry;
        c.fds = 0;
        while ((entry = readdir(dir)) != NULL)
            if (entry->d_name[0] != '.')
                c.fds++;
        closedir(dir);
        if (pid == (long)getpid())
            c.fds--; /* the descriptor opendir itself held */
    }
    snprintf(path, sizeof path, "/proc/%ld/maps", pid);
    FILE *maps = fopen(path, "r");
    if (maps != NULL) {
        c.shm_maps = 0;
        while (fgets(line, sizeof line, maps) != NULL)
            if (strstr(line, " /dev/shm/") != NULL)
                c.shm_maps++;
        fclose(maps);
    }
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *status = fopen(path, "r");
    if (status != NULL) {
        while (fgets(line, sizeof line, status) != NULL)
            if (strncmp(line, "RssAnon:", 8) == 0)
                c.anon_kb = strtol(line + 8, NULL, 10);
        fclose(status);
    }
    return c;
}

static void report(const char *process, const char *when, struct counts c) {
    printf("soak: counts %s %s fds=%ld shm_maps=%ld anon_kb=%ld\n", process, when, c.fds, c.shm_maps, c.anon_kb);
}

static void keep_max(struct counts *max, struct counts c) {
    if (c.fds > max->fds)
        max->fds = c.fds;
    if (c.shm_maps > max->shm_maps)
        max->shm_maps = c.shm_maps;
    if (c.anon_kb > max->anon_kb)
        max->anon_kb = c.anon_kb;
}

/* The channel's four objects that exist in /dev/shm now. */
static int channel_objects(const char *channel) {
    static const char *forms[] = {"/dev/shm/sem.SEM_%s_REQ", "/dev/shm/sem.SEM_%s_RES",
                                  "/dev/shm/SEG_%s_HEAD", "/dev/shm/SEG_%s_DATA"};
    char name[512], path[600];
    struct stat st;
    int n = 0;
    snprintf(name, sizeof name, "%s", channel);
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '_';
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(path, sizeof path, forms[i], name);
        n += stat(path, &st) == 0;
    }
    return n;
}

/* ---- server ----------------------------------------------------------------- */

struct step {
    int kind; /* 'b' bytes, 'i' image, 'e' error */
    uint64_t num[4];
    char request[MAX_LINE];
    size_t length;
};

/* Parses a step line and builds its request (':' becomes ' '). */
static int parse_step(const char *line, struct step *s) {
    char copy[MAX_LINE], *fields[6], *save = NULL;
    int n = 0;
    size_t len = strlen(line);
    if (len == 0 || len >= MAX_LINE)
        return -1;
    memcpy(copy, line, len + 1);
    for (char *f = strtok_r(copy, ":", &save); f != NULL && n < 6; f = strtok_r(NULL, ":", &save))
        fields[n++] = f;
    int arity = n == 0 ? -1 : strcmp(fields[0], "bytes") == 0 ? 2 : strcmp(fields[0], "image") == 0 ? 4
                            : strcmp(fields[0], "error") == 0 ? 1 : -1;
    if (arity < 0 || n != arity + 1)
        return -1;
    for (int k = 0; k < arity; k++)
        if (parse_u64(fields[k + 1], &s->num[k]) != 0)
            return -1;
    s->kind = fields[0][0];
    if (s->kind == 'i' && (s->num[0] == 0 || s->num[1] == 0 || s->num[2] == 0 ||
                           s->num[0] > SOAK_MAX_BYTES / s->num[1] ||
                           s->num[0] * s->num[1] > SOAK_MAX_BYTES / s->num[2]))
        return -1;
    if (s->kind == 'b' && s->num[0] > SOAK_MAX_BYTES)
        return -1;
    memcpy(s->request, line, len);
    for (size_t i = 0; i < len; i++)
        if (s->request[i] == ':')
            s->request[i] = ' ';
    s->length = len;
    return 0;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Checks one answer; returns 0 or prints why not and returns -1. */
static int check(uint64_t index, const struct step *s, int rc, const shmemaphore_response *r) {
    const shmemaphore_metadata *m = &r->metadata;
    if (s->kind == 'e') {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "requested error %" PRIu64, s->num[0]);
        if (rc != SHMEMAPHORE_E_PEER_ERROR || r->kind != SHMEMAPHORE_PAYLOAD_ERROR ||
            r->error_code != s->num[0] || m->bytes != (uint64_t)n || r->data == NULL ||
            memcmp(r->data, msg, (size_t)n) != 0) {
            fprintf(stderr, "soak: exchange %" PRIu64 " (%.*s): expected peer error %" PRIu64 ", got %s\n",
                    index, (int)s->length, s->request, s->num[0], shmemaphore_error_name(rc));
            return -1;
        }
        return 0;
    }
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "soak: exchange %" PRIu64 " (%.*s): %s: %s\n", index, (int)s->length, s->request,
                shmemaphore_error_name(rc), shmemaphore_strerror(rc));
        return -1;
    }
    shmemaphore_metadata want = {s->num[0], 0, 0, 0};
    uint64_t seed = s->num[1];
    uint32_t kind = SHMEMAPHORE_PAYLOAD_BYTES;
    if (s->kind == 'i') {
        want = (shmemaphore_metadata){s->num[0] * s->num[1] * s->num[2], s->num[0], s->num[1], s->num[2]};
        seed = s->num[3];
        kind = SHMEMAPHORE_PAYLOAD_IMAGE;
    }
    if (r->kind != kind || m->bytes != want.bytes || m->width != want.width || m->height != want.height ||
        m->channels != want.channels || r->data == NULL) {
        fprintf(stderr, "soak: exchange %" PRIu64 " (%.*s): kind %" PRIu32 " metadata {%" PRIu64 ",%" PRIu64
                ",%" PRIu64 ",%" PRIu64 "}\n", index, (int)s->length, s->request, r->kind,
                m->bytes, m->width, m->height, m->channels);
        return -1;
    }
    for (uint64_t i = 0; i < want.bytes; i++)
        if (r->data[i] != pattern(seed, i)) {
            fprintf(stderr, "soak: exchange %" PRIu64 " (%.*s): byte %" PRIu64 " is 0x%02x, expected 0x%02x\n",
                    index, (int)s->length, s->request, i, r->data[i], pattern(seed, i));
            return -1;
        }
    return 0;
}

static int run_server(const char *channel, const char *steps_path, long peer) {
    FILE *file = fopen(steps_path, "r");
    if (file == NULL) {
        perror(steps_path);
        return 2;
    }
    /* Read all steps first: a bad line is a usage error, before any object exists. */
    size_t count = 0, capacity = 1024;
    struct step *steps = malloc(capacity * sizeof *steps);
    char line[MAX_LINE + 2];
    while (steps != NULL && fgets(line, sizeof line, file) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (count == capacity) {
            struct step *grown = realloc(steps, (capacity *= 2) * sizeof *steps);
            if (grown == NULL) {
                free(steps);
                steps = NULL;
                break;
            }
            steps = grown;
        }
        if (parse_step(line, &steps[count]) != 0) {
            fprintf(stderr, "soak: %s:%zu: bad step '%s'\n", steps_path, count + 1, line);
            free(steps);
            fclose(file);
            return 2;
        }
        count++;
    }
    fclose(file);
    if (steps == NULL || count == 0) {
        fprintf(stderr, "soak: %s: %s\n", steps_path, steps == NULL ? "out of memory" : "no steps");
        free(steps);
        return 2;
    }

    struct counts before = sample(getpid());
    shmemaphore_channel *ch;
    int rc = shmemaphore_server_open(channel, NULL, &ch);
    if (rc != SHMEMAPHORE_OK) {
        fprintf(stderr, "soak: open %s: %s: %s\n", channel, shmemaphore_error_name(rc), shmemaphore_strerror(rc));
        free(steps);
        return 1;
    }
    report("self", "before-open", before);

    struct counts self_max = {0, 0, 0}, peer_max = {0, 0, 0};
    uint64_t payload_bytes = 0, request_bytes = 0, done = 0;
    int status = 0, objects = channel_objects(channel);
    size_t tenth = count / 10 ? count / 10 : 1;
    double start = now_seconds();
    for (size_t i = 0; i < count && status == 0; i++) {
        shmemaphore_response resp;
        memset(&resp, 0, sizeof resp);
        rc = shmemaphore_request(ch, steps[i].request, steps[i].length, SOAK_TIMEOUT_MS, &resp);
        if (check(i + 1, &steps[i], rc, &resp) != 0) {
            status = 1;
            break;
        }
        payload_bytes += resp.metadata.bytes;
        request_bytes += steps[i].length;
        done++;
        if (i == 0 || i + 1 == count || (i + 1) % tenth == 0) {
            struct counts self = sample(getpid()), other = sample(peer);
            keep_max(&self_max, self);
            keep_max(&peer_max, other);
            if (i == 0) {
                report("self", "start", self);
                report("peer", "start", other);
                objects = channel_objects(channel);
            }
            if (i + 1 == tenth) { /* warmed up: malloc has seen most sizes */
                report("self", "warm", self);
                report("peer", "warm", other);
            }
            if (i + 1 == count) {
                report("self", "end", self);
                report("peer", "end", other);
            }
            printf("soak: progress %zu/%zu %.1f GB %.0f s fds=%ld/%ld shm_maps=%ld/%ld\n", i + 1, count,
                   (double)payload_bytes / 1e9, now_seconds() - start, self.fds, other.fds, self.shm_maps,
                   other.shm_maps);
            fflush(stdout);
        }
    }
    double seconds = now_seconds() - start;
    shmemaphore_close(ch);
    report("self", "max", self_max);
    report("peer", "max", peer_max);
    report("self", "after-close", sample(getpid()));
    printf("soak: objects during=%d\n", objects);
    printf("soak: done exchanges=%" PRIu64 " payload_bytes=%" PRIu64 " request_bytes=%" PRIu64 " seconds=%.1f\n",
           done, payload_bytes, request_bytes, seconds);
    free(steps);
    return status;
}

static int usage(void) {
    fputs("usage: soak_server steps N SEED > FILE\n"
          "       soak_server server CHANNEL STEPS-FILE PEER-PID\n", stderr);
    return 2;
}

int main(int argc, char **argv) {
    uint64_t a, b;
    if (argc == 4 && strcmp(argv[1], "steps") == 0 && parse_u64(argv[2], &a) == 0 && parse_u64(argv[3], &b) == 0)
        return write_steps(a, b);
    if (argc == 5 && strcmp(argv[1], "server") == 0 && parse_u64(argv[4], &a) == 0)
        return run_server(argv[2], argv[3], (long)a);
    return usage();
}
