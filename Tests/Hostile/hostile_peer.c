/*
 * hostile_peer.c - a process that breaks the shmemaphore protocol on purpose
 * (docs/SECURITY.md).  Plain POSIX, no libshmemaphore.  Tests/Hostile/hostile.sh
 * runs it against victims that use the library and checks that each attack
 * ends in a clean error or a correct exchange.
 *
 *   hostile_peer post PATH INTERVAL_US DURATION_MS
 *       sem_post the semaphore file PATH (/dev/shm/sem.NAME) every
 *       INTERVAL_US microseconds: a third process posting out of turn.
 *   hostile_peer zero-file PATH
 *       create PATH as a 0-byte regular file (a semaphore too short for a sem_t).
 *   hostile_peer truncate-loop PATH DURATION_MS
 *       shrink PATH to 0 and grow it back, over and over.
 *   hostile_peer swap PATH TARGET DURATION_MS
 *       keep exchanging (renameat2 RENAME_EXCHANGE) PATH, a 0666 semaphore of
 *       this user, with a symlink to TARGET: the file a victim checks is not
 *       the one it would use unless it opens once, by descriptor.
 *   hostile_peer truncating-client CHANNEL DURATION_MS
 *       attach to CHANNEL as a client that answers every request with an
 *       empty bytes response and meanwhile keeps truncating DATA to 0, also
 *       during the server's turn.
 *   hostile_peer huge-data-server CHANNEL TIMEOUT_MS
 *       create CHANNEL as a server that takes no lock, size DATA beyond the
 *       address space (1 << 60 bytes), send the request "q", and report the
 *       response: the victim client must still answer (with an error).
 *   hostile_peer names PREFIX COUNT
 *       create COUNT files PREFIX<i><escape sequence>_HEAD (PREFIX such as
 *       /dev/shm/SEG_x): header segments whose names hold terminal escapes.
 *
 * Exit status: 0 when the attack ran (and, for huge-data-server, an answer
 * came); 1 when it could not; 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int usage(void) {
    fprintf(stderr, "usage: hostile_peer post|zero-file|truncate-loop|swap|truncating-client|huge-data-server|names ... (see the source)\n");
    return 2;
}

/* Maps the semaphore file at PATH (as glibc's sem_open does) without a check. */
static sem_t *map_semaphore(const char *path) {
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return NULL;
    void *mapped = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return mapped == MAP_FAILED ? NULL : (sem_t *)mapped;
}

static int post(const char *path, long interval_us, long duration_ms) {
    sem_t *sem = NULL;
    double end = now_ms() + duration_ms;
    long posts = 0;
    while (now_ms() < end) {
        if (!sem)
            sem = map_semaphore(path);
        if (sem && sem_post(sem) == 0)
            posts++;
        usleep((useconds_t)interval_us);
    }
    printf("posted %ld times\n", posts);
    return posts > 0 ? 0 : 1;
}

static int zero_file(const char *path) {
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    close(fd);
    return 0;
}

static int truncate_loop(const char *path, long duration_ms) {
    double end = now_ms() + duration_ms;
    long rounds = 0;
    while (now_ms() < end) {
        int fd = open(path, O_RDWR);
        if (fd >= 0) {
            if (ftruncate(fd, 0) == 0 && ftruncate(fd, 4096) == 0)
                rounds++;
            close(fd);
        }
    }
    printf("truncated %ld times\n", rounds);
    return rounds > 0 ? 0 : 1;
}

static int swap(const char *path, const char *target, long duration_ms) {
    char link_path[4096];
    snprintf(link_path, sizeof link_path, "%s.hostile-link", path);
    unlink(link_path);
    if (symlink(target, link_path) != 0) {
        perror("symlink");
        return 1;
    }
    /* Her own semaphore, writable by everyone, at PATH. */
    sem_t initial;
    memset(&initial, 0, sizeof initial);
    sem_init(&initial, 1, 1);
    int fd = open(path, O_CREAT | O_RDWR, 0666);
    if (fd < 0 || fchmod(fd, 0666) != 0 || write(fd, &initial, sizeof initial) != (ssize_t)sizeof initial) {
        perror(path);
        return 1;
    }
    close(fd);
    double end = now_ms() + duration_ms;
    long swaps = 0;
    while (now_ms() < end) {
        if (renameat2(AT_FDCWD, path, AT_FDCWD, link_path, RENAME_EXCHANGE) == 0)
            swaps++;
    }
    unlink(link_path);
    unlink(path);
    printf("swapped %ld times\n", swaps);
    return swaps > 0 ? 0 : 1;
}

/* The channel's four paths, from its name (docs/PROTOCOL.md 2; no '/' here). */
struct paths {
    char req[300], res[300], head[300], data[300];
    char req_name[300], res_name[300];
};

static void channel_paths(const char *channel, struct paths *p) {
    snprintf(p->req, sizeof p->req, "/dev/shm/sem.SEM_%s_REQ", channel);
    snprintf(p->res, sizeof p->res, "/dev/shm/sem.SEM_%s_RES", channel);
    snprintf(p->head, sizeof p->head, "/dev/shm/SEG_%s_HEAD", channel);
    snprintf(p->data, sizeof p->data, "/dev/shm/SEG_%s_DATA", channel);
    snprintf(p->req_name, sizeof p->req_name, "/SEM_%s_REQ", channel);
    snprintf(p->res_name, sizeof p->res_name, "/SEM_%s_RES", channel);
}

static int truncating_client(const char *channel, long duration_ms) {
    struct paths p;
    channel_paths(channel, &p);
    double end = now_ms() + duration_ms;
    int head = -1, data = -1;
    while ((head < 0 || data < 0) && now_ms() < end) {
        if (data < 0)
            data = open(p.data, O_RDWR);
        if (head < 0)
            head = open(p.head, O_RDWR);
        usleep(1000);
    }
    sem_t *req = map_semaphore(p.req), *res = map_semaphore(p.res);
    if (head < 0 || data < 0 || !req || !res) {
        fprintf(stderr, "truncating-client: no channel %s\n", channel);
        return 1;
    }
    long answers = 0, truncations = 0;
    uint64_t words[4] = {0, 0, 0, 0};
    while (now_ms() < end) {
        /* Truncate all the time, whoever's turn it is. */
        if (ftruncate(data, 0) == 0)
            truncations++;
        if (sem_trywait(req) == 0) {
            pwrite(head, words, sizeof words, 0); /* an empty bytes response */
            sem_post(res);
            answers++;
        }
        if (ftruncate(data, 1 << 20) == 0)
            truncations++;
    }
    printf("answered %ld, truncated %ld times\n", answers, truncations);
    return 0;
}

static int huge_data_server(const char *channel, long timeout_ms) {
    struct paths p;
    channel_paths(channel, &p);
    sem_t *req = sem_open(p.req_name, O_CREAT, 0600, 0);
    sem_t *res = sem_open(p.res_name, O_CREAT, 0600, 0);
    int head = open(p.head, O_CREAT | O_EXCL | O_RDWR, 0600);
    int data = open(p.data, O_CREAT | O_EXCL | O_RDWR, 0600);
    int status = 1;
    if (req == SEM_FAILED || res == SEM_FAILED || head < 0 || data < 0) {
        perror("huge-data-server: create");
        goto done;
    }
    uint64_t length = 1;
    if (ftruncate(head, 64) != 0 || pwrite(data, "q", 1, 0) != 1 || ftruncate(data, (off_t)1 << 60) != 0 ||
        pwrite(head, &length, sizeof length, 0) != (ssize_t)sizeof length) {
        perror("huge-data-server: write");
        goto done;
    }
    sem_post(req);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    if (sem_timedwait(res, &deadline) != 0) {
        printf("no answer within %ld ms\n", timeout_ms);
        goto done;
    }
    uint64_t words[4];
    if (pread(head, words, sizeof words, 0) != (ssize_t)sizeof words)
        goto done;
    printf("answer: bytes %llu width %llu height %llu channels %s\n", (unsigned long long)words[0],
           (unsigned long long)words[1], (unsigned long long)words[2],
           words[3] == UINT64_MAX ? "error" : "other");
    status = 0;
done:
    unlink(p.head);
    unlink(p.data);
    sem_unlink(p.req_name);
    sem_unlink(p.res_name);
    return status;
}

static int names(const char *prefix, int count) {
    static const char *tricks[] = {"\x1b[2J", "\x1b]0;owned\x07", "line\nbreak", "\x1b[31mred"};
    for (int i = 0; i < count; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s%d%s_HEAD", prefix, i, tricks[i % 4]);
        int fd = open(path, O_CREAT | O_RDWR, 0600);
        if (fd < 0) {
            perror("names");
            return 1;
        }
        close(fd);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    const char *command = argv[1];
    if (strcmp(command, "post") == 0 && argc == 5)
        return post(argv[2], atol(argv[3]), atol(argv[4]));
    if (strcmp(command, "zero-file") == 0 && argc == 3)
        return zero_file(argv[2]);
    if (strcmp(command, "truncate-loop") == 0 && argc == 4)
        return truncate_loop(argv[2], atol(argv[3]));
    if (strcmp(command, "swap") == 0 && argc == 5)
        return swap(argv[2], argv[3], atol(argv[4]));
    if (strcmp(command, "truncating-client") == 0 && argc == 4)
        return truncating_client(argv[2], atol(argv[3]));
    if (strcmp(command, "huge-data-server") == 0 && argc == 4)
        return huge_data_server(argv[2], atol(argv[3]));
    if (strcmp(command, "names") == 0 && argc == 4)
        return names(argv[2], atoi(argv[3]));
    return usage();
}
