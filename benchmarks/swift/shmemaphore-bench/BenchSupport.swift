import CBenchConstants
import FoundationEssentials
import Glibc
import ShmemaphoreTools

// What the Swift side of `shmemaphore-bench` shares with the C benchmark
// programs (benchmarks/bench_common.h): the workloads, the payload pattern
// and its checksum, CPU pinning, the steady-state counters and the result
// line.  Everything here that runs inside a measured loop allocates nothing.
//
// The constants come from the C side itself, benchmarks/bench_constants.h
// (the Clang module CBenchConstants): the workload table, BENCH_GOLDEN and
// the marker paths.  The code (kernels' fallback, counters, result line) is
// a twin of bench_common.h's: it is Swift calling the Swift API.

/// One fixed benchmark workload (docs/PERFORMANCE.md).
struct BenchWorkload: Sendable, Equatable {
    let name: String
    let width: UInt64, height: UInt64, channels: UInt64
    /// Payload bytes of every response.
    let bytes: Int
    /// The request, a short name; nil: the 8-byte sequence number (W1).
    let request: String?

    /// W1 ping (8-byte request, 64-byte opaque response), W2 image (a
    /// 1920×1080×3 image) and W3 4K (3840×2160×4): bench_workloads[] of
    /// bench_constants.h.
    static let all: [BenchWorkload] = withUnsafeBytes(of: bench_workloads) { table in
        table.bindMemory(to: bench_workload.self).map { workload in
            BenchWorkload(
                name: String(cString: workload.name), width: workload.width, height: workload.height,
                channels: workload.channels, bytes: Int(workload.bytes), request: workload.request.map { String(cString: $0) })
        }
    }

    static func named(_ name: String) -> BenchWorkload? { all.first { $0.name == name.uppercased() } }

    /// Bytes of the request on the wire.
    var requestLength: Int { request.map { $0.utf8.count } ?? 8 }
}

/// The payload pattern: word[i] = seq × golden + i (wrapping), checked by the
/// wrapping sum of all words.
///
/// The kernels are, when available, the C object code of
/// benchmarks/bench_kernels.c loaded from shmemaphore-bench-support.so, so
/// that every implementation runs the same fill and checksum instructions and
/// the benchmark compares transports rather than compilers.  Without the
/// module, equivalent Swift loops run (and the result line says so).
struct BenchKernels {
    typealias Fill = @convention(c) (UnsafeMutableRawPointer, UInt64, UInt64) -> Void
    typealias Sum = @convention(c) (UnsafeRawPointer, UInt64) -> UInt64

    static let golden: UInt64 = BENCH_GOLDEN

    let fill: Fill
    let sum: Sum
    /// "c" (the shared module) or "swift" (the fallback loops).
    let origin: String

    /// The kernels of the support module, or the Swift loops without it.
    static func load(from module: UnsafeMutableRawPointer?) -> BenchKernels {
        if let module, let fill = dlsym(module, "shmemaphore_bench_fill"), let sum = dlsym(module, "shmemaphore_bench_sum") {
            return BenchKernels(fill: unsafeBitCast(fill, to: Fill.self), sum: unsafeBitCast(sum, to: Sum.self), origin: "c")
        }
        return BenchKernels(fill: swiftFill, sum: swiftSum, origin: "swift")
    }

    /// The sum a payload of `bytes` bytes for `seq` must have.
    @inline(__always)
    static func expectedSum(bytes: Int, seq: UInt64) -> UInt64 {
        let words = UInt64(bytes / 8)
        return words &* (seq &* golden) &+ words &* (words &- 1) / 2
    }
}

/// The Swift fallback of shmemaphore_bench_fill (same pattern, 64 bytes per iteration).
private let swiftFill: BenchKernels.Fill = { destination, bytes, seq in
    let base = seq &* BenchKernels.golden
    let count = Int(bytes / 8)
    var value = SIMD2<UInt64>(base, base &+ 1)
    let two = SIMD2<UInt64>(repeating: 2), eight = SIMD2<UInt64>(repeating: 8)
    var index = 0
    while index &+ 8 <= count {
        let block = destination + index &* 8
        block.storeBytes(of: value, toByteOffset: 0, as: SIMD2<UInt64>.self)
        block.storeBytes(of: value &+ two, toByteOffset: 16, as: SIMD2<UInt64>.self)
        block.storeBytes(of: value &+ two &+ two, toByteOffset: 32, as: SIMD2<UInt64>.self)
        block.storeBytes(of: value &+ two &+ two &+ two, toByteOffset: 48, as: SIMD2<UInt64>.self)
        value &+= eight
        index &+= 8
    }
    while index < count {
        destination.storeBytes(of: base &+ UInt64(truncatingIfNeeded: index), toByteOffset: index &* 8, as: UInt64.self)
        index &+= 1
    }
}

/// The Swift fallback of shmemaphore_bench_sum.
private let swiftSum: BenchKernels.Sum = { source, bytes in
    let count = Int(bytes / 8)
    var a0 = SIMD2<UInt64>(), a1 = SIMD2<UInt64>(), a2 = SIMD2<UInt64>(), a3 = SIMD2<UInt64>()
    var index = 0
    while index &+ 8 <= count {
        let block = source + index &* 8
        a0 &+= block.loadUnaligned(fromByteOffset: 0, as: SIMD2<UInt64>.self)
        a1 &+= block.loadUnaligned(fromByteOffset: 16, as: SIMD2<UInt64>.self)
        a2 &+= block.loadUnaligned(fromByteOffset: 32, as: SIMD2<UInt64>.self)
        a3 &+= block.loadUnaligned(fromByteOffset: 48, as: SIMD2<UInt64>.self)
        index &+= 8
    }
    let total = a0 &+ a1 &+ a2 &+ a3
    var sum = total[0] &+ total[1]
    while index < count {
        sum &+= source.load(fromByteOffset: index &* 8, as: UInt64.self)
        index &+= 1
    }
    return sum
}

/// Monotonic nanoseconds (clock_gettime through the vDSO: no system call).
@inline(__always)
func benchNow() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
}

/// Pins the calling process to `cpu` with sched_setaffinity (nothing for a
/// negative cpu).  Looked up with dlsym: Glibc's Swift module hides the
/// _GNU_SOURCE declaration.
func benchPin(cpu: Int) throws {
    guard cpu >= 0 else { return }
    typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity") else {
        throw CommandFailure(.failure, "sched_setaffinity is not available")
    }
    var set = cpu_set_t()
    let size = MemoryLayout<cpu_set_t>.size
    guard cpu < size * 8 else { throw CommandFailure(.usage, "--cpu \(cpu) is out of range") }
    withUnsafeMutableBytes(of: &set) { $0[cpu / 8] |= UInt8(1 << (cpu % 8)) }
    let status = withUnsafeBytes(of: &set) { unsafeBitCast(symbol, to: SetAffinity.self)(0, size, $0.baseAddress!) }
    if status != 0 {
        throw CommandFailure(.failure, "sched_setaffinity(cpu \(cpu)): \(String(cString: strerror(errno)))")
    }
}

/// shmemaphore-bench-support.so (benchmarks/bench_kernels.c and
/// bench_syscount.c), loaded with dlopen; nil when it is missing.
func benchLoadSupport(path: String?) -> UnsafeMutableRawPointer? {
    guard let path else { return nil }
    return dlopen(path, RTLD_NOW | RTLD_LOCAL)
}

/// The perf counters of this process's own system calls (benchmarks/bench_syscount.c).
struct BenchSyscallCounter {
    typealias Open = @convention(c) () -> Int32
    typealias Toggle = @convention(c) () -> Void
    typealias Read = @convention(c) (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) -> Int32

    let enable: Toggle
    let disable: Toggle
    let read: Read

    /// Opens the counters through the support module; throws when that is impossible.
    init(module: UnsafeMutableRawPointer?) throws {
        guard let module, let open = dlsym(module, "shmemaphore_bench_syscount_open"),
            let enable = dlsym(module, "shmemaphore_bench_syscount_enable"),
            let disable = dlsym(module, "shmemaphore_bench_syscount_disable"),
            let read = dlsym(module, "shmemaphore_bench_syscount_read")
        else { throw CommandFailure(.failure, "--count-syscalls needs shmemaphore-bench-support.so (--support)") }
        let status = unsafeBitCast(open, to: Open.self)()
        guard status == 0 else {
            throw CommandFailure(.failure, "--count-syscalls: cannot open perf tracepoint counters: \(String(cString: strerror(-status)))")
        }
        self.enable = unsafeBitCast(enable, to: Toggle.self)
        self.disable = unsafeBitCast(disable, to: Toggle.self)
        self.read = unsafeBitCast(read, to: Read.self)
    }
}

/// The steady-state counters of one process: rusage and, when
/// benchmarks/malloc_count.c is preloaded, its allocation counters; with a
/// system-call counter, the window's system calls (in the end sample).
struct BenchCounters {
    var usage = rusage()
    var allocations: Int64 = -1
    var frees: Int64 = -1
    var syscalls: Int64 = -1
    var futexes: Int64 = -1
    var syscallCounter: BenchSyscallCounter?

    // The markers of bench_constants.h as C strings made once: Swift imports
    // a string macro as a String, and a String passed to a C function may be
    // copied into a temporary C string, a heap allocation inside the window.
    // `prepare()` makes them before the window (a static is made on first use).
    nonisolated(unsafe) static let markerBegin = UnsafePointer(strdup(BENCH_MARKER_BEGIN)!)
    nonisolated(unsafe) static let markerEnd = UnsafePointer(strdup(BENCH_MARKER_END)!)
    nonisolated(unsafe) static let markerPrepare = UnsafePointer(strdup(BENCH_MARKER_PREPARE)!)

    /// One marker system call, access(marker), which strace shows with the path.
    static func mark(_ marker: UnsafePointer<CChar>) {
        access(marker, F_OK)
    }

    /// The preloaded interposer's counters, if any.
    nonisolated(unsafe) private static let mallocCounters: UnsafePointer<UInt64>? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "shmemaphore_bench_malloc_counters"
    ).map { UnsafePointer($0.assumingMemoryBound(to: UInt64.self)) }

    mutating func take() {
        if let counters = Self.mallocCounters {
            allocations = Int64(bitPattern: counters[0])
            frees = Int64(bitPattern: counters[1])
        }
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    }

    /// Once before the warm-up: resolves and touches what the window's edges use.
    static func prepare() {
        var scratch = BenchCounters()
        scratch.take()
        _ = (markerBegin, markerEnd)
        mark(markerPrepare)
    }

    /// The start of the steady-state window: counters (twice: the first round
    /// takes first-write faults), then the begin marker for strace.
    mutating func beginWindow() {
        take()
        Self.mark(Self.markerPrepare)
        _ = benchNow()
        take()
        Self.mark(Self.markerBegin)
        syscallCounter?.enable()
    }

    /// The end of the window: the end marker, then the counters.
    mutating func endWindow() {
        syscallCounter?.disable()
        Self.mark(Self.markerEnd)
        take()
        var total: UInt64 = 0, futex: UInt64 = 0
        if let syscallCounter, syscallCounter.read(&total, &futex) == 0 {
            syscalls = Int64(total)
            futexes = Int64(futex)
        }
    }
}

/// The result line every benchmark process prints (benchmarks/bench_common.h).
enum BenchResultLine {
    static func make(
        role: String, impl: String, workload: BenchWorkload, count: Int, cpu: Int, elapsed: Int64,
        latencies: UnsafeMutableBufferPointer<Int64>?, before: BenchCounters, after: BenchCounters, kernels: String
    ) -> String {
        var line = "BENCH role=\(role) impl=\(impl) workload=\(workload.name) pid=\(getpid()) cpu=\(cpu) count=\(count)"
        line += " payload=\(workload.bytes) elapsed_ns=\(elapsed) kernels=\(kernels)"
        if var latencies, latencies.count > 0 {
            latencies.sort()
            let p99 = (latencies.count * 99 + 99) / 100 - 1
            line += " min_ns=\(latencies[0]) median_ns=\(latencies[(latencies.count - 1) / 2])"
            line += " p99_ns=\(latencies[p99]) max_ns=\(latencies[latencies.count - 1])"
        }
        line += " minflt=\(after.usage.ru_minflt - before.usage.ru_minflt) majflt=\(after.usage.ru_majflt - before.usage.ru_majflt)"
        line += " nvcsw=\(after.usage.ru_nvcsw - before.usage.ru_nvcsw) nivcsw=\(after.usage.ru_nivcsw - before.usage.ru_nivcsw)"
        if before.allocations >= 0 {
            line += " allocs=\(after.allocations - before.allocations) frees=\(after.frees - before.frees)"
        }
        if after.syscalls >= 0 { line += " syscalls=\(after.syscalls) futex=\(after.futexes)" }
        return line
    }
}
