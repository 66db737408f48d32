/* bench_instructions.c - the CPU work of one round trip, counted exactly.
 *
 *   benchmarks/instructions.sh [BUILD]      (valgrind's callgrind; BUILD: build/)
 *
 * A server and a client in this one process, one thread playing both in
 * turn, through the C API: N round trips of an 8-byte request and a 64-byte
 * raw response on a trusted channel (the fast path).  No waiting happens (every
 * token is there when asked for), so what callgrind counts is the library's
 * own work: the handle lookup, the turn checks, the writes and reads of HEAD
 * and DATA, the semaphore operations.  instructions.sh runs it for two counts
 * and reports the difference per round trip, which leaves out start-up. */
#include <shmemaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    char name[64];
    snprintf(name, sizeof name, "bench-instructions-%ld", (long)getpid());
    shmemaphore_channel *server = NULL, *client = NULL;
    int rc = shmemaphore_server_open(name, NULL, &server);
    if (rc == SHMEMAPHORE_OK) rc = shmemaphore_client_open(name, NULL, &client);
    unsigned char payload[64];
    memset(payload, 7, sizeof payload);
    shmemaphore_metadata metadata = {sizeof payload, 0, 0, 0};
    for (long i = 0; i < rounds && rc == SHMEMAPHORE_OK; i++) {
        const uint8_t *request;
        uint64_t length;
        shmemaphore_response response;
        if ((rc = shmemaphore_send_request(server, "12345678", 8)) != SHMEMAPHORE_OK) break;
        if ((rc = shmemaphore_receive_request(client, 1000, &request, &length)) != SHMEMAPHORE_OK) break;
        if ((rc = shmemaphore_send_response(client, &metadata, payload)) != SHMEMAPHORE_OK) break;
        rc = shmemaphore_receive_response(server, 1000, &response);
    }
    if (rc != SHMEMAPHORE_OK) fprintf(stderr, "bench_instructions: %s\n", shmemaphore_strerror(rc));
    shmemaphore_close(client);
    shmemaphore_close(server);
    return rc == SHMEMAPHORE_OK ? 0 : 1;
}
