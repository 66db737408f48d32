/*
 * consumer.cpp - the C++ twin of consumer.c: built out of tree against an
 * INSTALLED libshmemaphore through <shmemaphore.hpp> alone
 * (Tests/Install/run.sh builds it with pkg-config and with find_package).
 *
 *   consumer-cpp CHANNEL
 *
 * It is the server: it opens CHANNEL, sends `image 2 2 3 1` to a scripted
 * test peer (Tests/CPeer/PEER-SPEC.md), e.g. `shmemaphore-testpeer client
 * CHANNEL`, checks the answer (an image {12, 2, 2, 3} whose byte i is
 * pattern(1, i)), and closes the channel (the destructor).  It also checks
 * that the library's run-time version is the header's.
 * Exit status: 0 all good, 1 a check failed, 2 bad usage.
 */
#include <shmemaphore.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>

namespace {

// Byte i of the test peers' payload for `seed` (PEER-SPEC.md, "Pattern").
std::uint8_t pattern(std::uint64_t seed, std::uint64_t i) {
    std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
    return static_cast<std::uint8_t>(x >> 56);
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CHANNEL\n", argv[0]);
        return 2;
    }
    if (shmemaphore::version_number() != shmemaphore::header_version_number) {
        std::fprintf(stderr, "consumer-cpp: library version %u, header version %u\n", shmemaphore::version_number(),
                     shmemaphore::header_version_number);
        return 1;
    }
    try {
        shmemaphore::server srv(argv[1]);
        shmemaphore::response r = srv.request("image 2 2 3 1", std::chrono::seconds(30));
        if (r.kind() != shmemaphore::payload_kind::image || r.size() != 12 || r.width() != 2 || r.height() != 2 ||
            r.channels() != 3) {
            std::fprintf(stderr, "consumer-cpp: expected an image {12,2,2,3}, got %zu bytes %llux%llux%llu\n",
                         r.size(), static_cast<unsigned long long>(r.width()),
                         static_cast<unsigned long long>(r.height()), static_cast<unsigned long long>(r.channels()));
            return 1;
        }
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (r.bytes()[i] != pattern(1, i)) {
                std::fprintf(stderr, "consumer-cpp: byte %zu is %u, expected %u\n", i, unsigned(r.bytes()[i]),
                             unsigned(pattern(1, i)));
                return 1;
            }
        }
    } catch (const shmemaphore::error &e) {
        std::fprintf(stderr, "consumer-cpp: %s (%s)\n", e.what(), e.name());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "consumer-cpp: %s\n", e.what());
        return 1;
    }
    std::printf("consumer-cpp: ok: libshmemaphore %s, image 2x2x3 received and checked (C++ %ld)\n",
                shmemaphore::version_string().data(), static_cast<long>(__cplusplus));
    return 0;
}
