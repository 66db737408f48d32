/*
 * consumer.c - a program built out of tree against an INSTALLED
 * libshmemaphore (Tests/Install/run.sh builds it with pkg-config and with
 * find_package).  It uses only <shmemaphore.h> and the library.
 *
 *   consumer CHANNEL
 *
 * It is the server (the requester): it opens CHANNEL, sends the request
 * `image 2 2 3 1` to a scripted test peer (Tests/CPeer/PEER-SPEC.md), e.g.
 * `shmemaphore-testpeer client CHANNEL`, checks the answer (an image with
 * metadata {12, 2, 2, 3} whose byte i is pattern(1, i)), and closes the
 * channel.  It also checks that the library's run-time version is the
 * header's.  Exit status: 0 all good, 1 a check failed, 2 bad usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <shmemaphore.h>

/* Byte i of the test peers' payload for `seed` (PEER-SPEC.md, "Pattern"). */
static uint8_t pattern(uint64_t seed, uint64_t i) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
    return (uint8_t)(x >> 56);
}

static int fail(const char *what, int code) {
    fprintf(stderr, "consumer: %s: %s (%s)\n", what, shmemaphore_strerror(code), shmemaphore_error_name(code));
    return 1;
}

int main(int argc, char **argv) {
    static const char request[] = "image 2 2 3 1";
    shmemaphore_channel *channel = NULL;
    shmemaphore_response response;
    int rc, status = 0;
    uint64_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CHANNEL\n", argv[0]);
        return 2;
    }
    if (shmemaphore_version_number() != SHMEMAPHORE_VERSION_NUMBER) {
        fprintf(stderr, "consumer: library version %u, header version %d\n", shmemaphore_version_number(),
                SHMEMAPHORE_VERSION_NUMBER);
        return 1;
    }

    rc = shmemaphore_server_open(argv[1], NULL, &channel);
    if (rc != SHMEMAPHORE_OK)
        return fail("server_open", rc);

    rc = shmemaphore_request(channel, request, sizeof request - 1, 30000, &response);
    if (rc != SHMEMAPHORE_OK) {
        status = fail("request", rc);
    } else if (response.kind != SHMEMAPHORE_PAYLOAD_IMAGE || response.metadata.bytes != 12 ||
               response.metadata.width != 2 || response.metadata.height != 2 || response.metadata.channels != 3) {
        fprintf(stderr, "consumer: expected an image {12,2,2,3}, got kind %u {%llu,%llu,%llu,%llu}\n",
                (unsigned)response.kind, (unsigned long long)response.metadata.bytes,
                (unsigned long long)response.metadata.width, (unsigned long long)response.metadata.height,
                (unsigned long long)response.metadata.channels);
        status = 1;
    } else {
        for (i = 0; i < response.metadata.bytes; i++) {
            if (response.data[i] != pattern(1, i)) {
                fprintf(stderr, "consumer: byte %llu is %u, expected %u\n", (unsigned long long)i,
                        (unsigned)response.data[i], (unsigned)pattern(1, i));
                status = 1;
                break;
            }
        }
    }

    shmemaphore_close(channel); /* removes the channel's four objects */
    if (status == 0)
        printf("consumer: ok: libshmemaphore %s, image 2x2x3 received and checked\n", shmemaphore_version_string());
    return status;
}
