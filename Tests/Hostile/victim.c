/*
 * victim.c - a libshmemaphore program that checks every byte it receives,
 * for the hostile-peer suite (Tests/Hostile/hostile.sh).
 *
 *   victim server CHANNEL COUNT SIZE [untrusted]
 *       send COUNT requests "k<N>" and check that each answer is the SIZE
 *       bytes of pattern N (byte i = (N * 31 + i) & 0xff).
 *   victim client CHANNEL SIZE [untrusted]
 *       answer every request "k<N>" with the SIZE bytes of pattern N, any
 *       other request with an error; until the server is gone.
 *   victim open-server CHANNEL      open as server, report the code, close.
 *   victim open-client CHANNEL      open as client (2 s), report the code, close.
 *
 * The server prints "ready" once its channel is open, and waits
 * $VICTIM_DELAY_US microseconds after each exchange (default 0), so that an
 * attack has time to overlap its exchanges.
 *
 * Prints one summary line, "ok=N wrong=N errors=N last=NAME", where wrong
 * counts payloads reported as SHMEMAPHORE_OK that are not the expected bytes
 * (never allowed), errors counts calls that returned an error code and last
 * names the last such code.  Exit status 0 when the program ran to its end,
 * 3 when the channel could not be opened (the code is printed).
 */
#define _DEFAULT_SOURCE /* usleep */
#include <shmemaphore.h>

#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static unsigned char pattern_byte(long n, size_t i) { return (unsigned char)((n * 31 + (long)i) & 0xff); }

static shmemaphore_options options_for(int argc, char **argv, int at) {
    shmemaphore_options options;
    shmemaphore_options_init(&options, sizeof options);
    options.attach_timeout_ms = 10000;
    if (argc > at && strcmp(argv[at], "untrusted") == 0)
        options.flags |= SHMEMAPHORE_FLAG_UNTRUSTED_PEER;
    return options;
}

static int run_server(const char *channel, long count, size_t size, shmemaphore_options options) {
    shmemaphore_channel *server = NULL;
    int rc = shmemaphore_server_open(channel, &options, &server);
    if (rc != SHMEMAPHORE_OK) {
        printf("open: %s\n", shmemaphore_error_name(rc));
        return 3;
    }
    printf("ready\n");
    fflush(stdout);
    const char *delay_text = getenv("VICTIM_DELAY_US");
    long delay = delay_text ? atol(delay_text) : 0;
    long ok = 0, wrong = 0, errors = 0;
    const char *last = "none";
    for (long n = 0; n < count; n++) {
        if (delay > 0)
            usleep((useconds_t)delay);
        char request[32];
        int length = snprintf(request, sizeof request, "k%ld", n);
        shmemaphore_response response;
        /* A generous bound: the client answers at once; a wait this long is a hang. */
        rc = shmemaphore_request(server, request, (uint64_t)length, 30000, &response);
        if (rc == SHMEMAPHORE_E_WRONG_STATE) {
            /* An earlier timeout left its request outstanding: wait for it. */
            rc = shmemaphore_receive_response(server, 30000, &response);
            errors++;
            last = "SHMEMAPHORE_E_WRONG_STATE";
            continue;
        }
        if (rc != SHMEMAPHORE_OK) {
            errors++;
            last = shmemaphore_error_name(rc);
            continue;
        }
        int good = response.kind == SHMEMAPHORE_PAYLOAD_BYTES && response.metadata.bytes == size;
        for (size_t i = 0; good && i < size; i++)
            good = response.data[i] == pattern_byte(n, i);
        if (good)
            ok++;
        else
            wrong++;
    }
    shmemaphore_close(server);
    printf("ok=%ld wrong=%ld errors=%ld last=%s\n", ok, wrong, errors, last);
    return 0;
}

static int run_client(const char *channel, size_t size, shmemaphore_options options) {
    shmemaphore_channel *client = NULL;
    int rc = shmemaphore_client_open(channel, &options, &client);
    if (rc != SHMEMAPHORE_OK) {
        printf("open: %s\n", shmemaphore_error_name(rc));
        return 3;
    }
    unsigned char *payload = malloc(size ? size : 1);
    long ok = 0, errors = 0;
    const char *last = "none";
    for (;;) {
        const uint8_t *request;
        uint64_t length;
        rc = shmemaphore_receive_request(client, 60000, &request, &length);
        if (rc == SHMEMAPHORE_E_PEER_GONE || rc == SHMEMAPHORE_E_TIMEOUT)
            break;
        if (rc != SHMEMAPHORE_OK) {
            errors++;
            last = shmemaphore_error_name(rc);
            if (rc == SHMEMAPHORE_E_PROTOCOL)
                shmemaphore_send_error(client, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "unreadable request");
            continue;
        }
        char text[32] = {0};
        memcpy(text, request, length < sizeof text - 1 ? length : sizeof text - 1);
        if (text[0] != 'k') {
            shmemaphore_send_error(client, SHMEMAPHORE_PEER_ERROR_BAD_REQUEST, "not k<N>");
            continue;
        }
        long n = atol(text + 1);
        for (size_t i = 0; i < size; i++)
            payload[i] = pattern_byte(n, i);
        shmemaphore_metadata metadata = {size, 0, 0, 0};
        rc = shmemaphore_send_response(client, &metadata, payload);
        if (rc == SHMEMAPHORE_OK) {
            ok++;
        } else {
            errors++;
            last = shmemaphore_error_name(rc);
            shmemaphore_send_error(client, SHMEMAPHORE_PEER_ERROR_UNSPECIFIED, "could not send");
        }
    }
    free(payload);
    shmemaphore_close(client);
    printf("served=%ld errors=%ld last=%s\n", ok, errors, last);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: victim server|client|open-server|open-client CHANNEL ...\n");
        return 2;
    }
    const char *mode = argv[1], *channel = argv[2];
    if (strcmp(mode, "server") == 0 && argc >= 5)
        return run_server(channel, atol(argv[3]), (size_t)atol(argv[4]), options_for(argc, argv, 5));
    if (strcmp(mode, "client") == 0 && argc >= 4)
        return run_client(channel, (size_t)atol(argv[3]), options_for(argc, argv, 4));
    if (strcmp(mode, "open-server") == 0 || strcmp(mode, "open-client") == 0) {
        shmemaphore_options options;
        shmemaphore_options_init(&options, sizeof options);
        options.attach_timeout_ms = 2000;
        shmemaphore_channel *channel_handle = NULL;
        int rc = mode[5] == 's' ? shmemaphore_server_open(channel, &options, &channel_handle)
                                : shmemaphore_client_open(channel, &options, &channel_handle);
        printf("open: %s\n", shmemaphore_error_name(rc));
        shmemaphore_close(channel_handle);
        return 0;
    }
    fprintf(stderr, "victim: bad arguments\n");
    return 2;
}
