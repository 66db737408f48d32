/*
 * bench_kernels.c - the payload kernels of every benchmark implementation:
 * write a workload payload (fill) and read it back (sum).
 *
 * The same object code serves every implementation, so that the benchmark
 * compares transports, not compilers: the C programs link this file, and
 * the Swift peer (`shmemaphore-bench peer`) loads it from
 * <build>/bin/shmemaphore-bench-support.so with dlopen (it falls back to
 * equivalent Swift loops, and says so, when the module is missing).
 *
 * Pattern: word[i] = seq * BENCH_GOLDEN + i (64-bit words, wrapping); the
 * check is the wrapping sum of all words (benchmarks/bench_common.h).
 * Both kernels move 64 bytes per iteration with 16-byte SSE2 loads/stores
 * (plain loops on other architectures); pointers need 8-byte alignment.
 */
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bench_constants.h" /* BENCH_GOLDEN */

__attribute__((visibility("default"), noinline)) void shmemaphore_bench_fill(void *destination, uint64_t bytes,
                                                                            uint64_t seq) {
    uint64_t *words = destination;
    const uint64_t n = bytes / 8, base = seq * BENCH_GOLDEN;
    uint64_t i = 0;
#if defined(__SSE2__)
    __m128i value = _mm_set_epi64x((long long)(base + 1), (long long)base);
    const __m128i two = _mm_set1_epi64x(2), eight = _mm_set1_epi64x(8);
    for (; i + 8 <= n; i += 8) {
        __m128i *block = (__m128i *)(words + i);
        __m128i v2 = _mm_add_epi64(value, two), v4 = _mm_add_epi64(v2, two), v6 = _mm_add_epi64(v4, two);
        _mm_storeu_si128(block, value);
        _mm_storeu_si128(block + 1, v2);
        _mm_storeu_si128(block + 2, v4);
        _mm_storeu_si128(block + 3, v6);
        value = _mm_add_epi64(value, eight);
    }
#endif
    for (; i < n; i++)
        words[i] = base + i;
}

__attribute__((visibility("default"), noinline)) uint64_t shmemaphore_bench_sum(const void *source, uint64_t bytes) {
    const uint64_t *words = source;
    const uint64_t n = bytes / 8;
    uint64_t i = 0, sum = 0;
#if defined(__SSE2__)
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 8 <= n; i += 8) {
        const __m128i *block = (const __m128i *)(words + i);
        a0 = _mm_add_epi64(a0, _mm_loadu_si128(block));
        a1 = _mm_add_epi64(a1, _mm_loadu_si128(block + 1));
        a2 = _mm_add_epi64(a2, _mm_loadu_si128(block + 2));
        a3 = _mm_add_epi64(a3, _mm_loadu_si128(block + 3));
    }
    uint64_t lanes[2];
    _mm_storeu_si128((__m128i *)lanes, _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3)));
    sum = lanes[0] + lanes[1];
#endif
    for (; i < n; i++)
        sum += words[i];
    return sum;
}
