import ArgumentParser
import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// `shmemaphore-bench peer` (hidden): one side of a libshmemaphore
/// benchmark through the Swift API, started by `shmemaphore-bench` for
/// lib-swift, lib-swift-zc, lib-swift-blocking and lib-mixed.  The C twin is
/// benchmarks/bench_peer.c; both print one BENCH result line.
struct BenchPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "One side of a benchmark (started by `shmemaphore-bench`).",
        discussion: """
            requester: the server. Opens the channel, sends warmup + count requests \
            (W1: the 8-byte sequence number; W2/W3: a short name), times each round \
            trip, checks every response in place (metadata, and the checksum of every \
            payload word), prints its BENCH line.

            responder: the client. Answers warmup + count requests with the payload of \
            that sequence number: written into its own buffer and copied in with \
            send (copy path), or with --zero-copy written straight into the reserved \
            buffer and committed.
            """,
        shouldDisplay: false
    )

    @Option(help: "requester or responder.")
    var role: String

    @Option(help: "W1, W2 or W3.")
    var workload: String

    @Option(help: "Channel name.")
    var channel: String

    @Option(help: "Measured exchanges.")
    var count = 1000

    @Option(help: "Exchanges before the measured ones.")
    var warmup = 100

    @Option(help: "Pin this process to CPU K (-1: no pinning).")
    var cpu = -1

    @Flag(help: "Responder: answer through reserve/commit.")
    var zeroCopy = false

    @Option(help: ArgumentHelp("How this side waits (ChannelOptions.waitStrategy).", valueName: "adaptive|blocking"))
    var wait: WaitArgument = .adaptive

    @Flag(help: "Open the channel for an untrusted peer (ChannelOptions.untrustedPeer).")
    var untrustedPeer = false

    @Option(help: "Implementation label for the result line.")
    var impl = "lib-swift"

    @Option(help: ArgumentHelp("shmemaphore-bench-support.so: the payload kernels (and system-call counters).", valueName: "PATH"))
    var support: String?

    @Flag(help: "Count the loop's system calls with perf counters (needs --support).")
    var countSyscalls = false

    /// How long one call may wait for the peer.
    static let callTimeout = Duration.seconds(60)

    func validate() throws {
        guard ["requester", "responder"].contains(role) else { throw ValidationError("--role: requester or responder") }
        guard BenchWorkload.named(workload) != nil else { throw ValidationError("--workload: W1, W2 or W3") }
        guard count >= 1, warmup >= 0 else { throw ValidationError("--count must be >= 1 and --warmup >= 0") }
    }

    func run() throws {
        try reportingFailures {
            let workload = BenchWorkload.named(workload)!
            let module = benchLoadSupport(path: support)
            let kernels = BenchKernels.load(from: module)
            let syscallCounter = countSyscalls ? try BenchSyscallCounter(module: module) : nil
            try benchPin(cpu: cpu)
            BenchCounters.prepare()
            do {
                if role == "requester" {
                    try runRequester(workload, kernels: kernels, syscallCounter: syscallCounter)
                } else {
                    try runResponder(workload, kernels: kernels, syscallCounter: syscallCounter)
                }
            } catch let error as ShmemaphoreError {
                throw CommandFailure(.failure, "\(role): \(error)")
            }
        }
    }

    private func runRequester(_ workload: BenchWorkload, kernels: BenchKernels, syscallCounter: BenchSyscallCounter?) throws {
        var options = ChannelOptions()
        options.waitStrategy = wait.strategy
        options.untrustedPeer = untrustedPeer
        let server = try ShmemaphoreServer(channel: channel, options: options)
        defer { server.close() }
        let latencies = UnsafeMutableBufferPointer<Int64>.allocate(capacity: count)
        latencies.initialize(repeating: 0)
        defer { latencies.deallocate() }
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: max(workload.requestLength, 8), alignment: 8)
        defer { request.deallocate() }
        if let name = workload.request {
            _ = request.initializeMemory(as: UInt8.self, from: Array(name.utf8))
        }
        let requestView = UnsafeRawBufferPointer(start: request.baseAddress, count: workload.requestLength)
        let expectedMetadata = try metadata(of: workload)
        var before = BenchCounters(syscallCounter: syscallCounter), after = BenchCounters(syscallCounter: syscallCounter)
        var started: Int64 = 0
        // Option values read once: an ArgumentParser property costs a generic
        // metadata lookup per read, which would be timed as library overhead.
        let (warmup, total, sendsSequence) = (self.warmup, self.warmup + count, workload.request == nil)
        for index in 0..<total {
            let seq = UInt64(index + 1)
            if index == warmup {
                before.beginWindow()
                started = benchNow()
            }
            if sendsSequence { request.storeBytes(of: seq, as: UInt64.self) }
            let t0 = benchNow()
            let response = try server.request(requestView, timeout: Self.callTimeout)
            guard response.metadata == expectedMetadata else {
                throw CommandFailure(.failure, "exchange \(seq): response \(response.metadata), expected \(expectedMetadata)")
            }
            let sum = kernels.sum(response.payload.baseAddress!, UInt64(response.payload.count))
            guard sum == BenchKernels.expectedSum(bytes: workload.bytes, seq: seq) else {
                throw CommandFailure(.failure, "exchange \(seq): payload checksum \(String(sum, radix: 16)) is wrong")
            }
            let t1 = benchNow()
            if index >= warmup { latencies[index - warmup] = t1 - t0 }
        }
        let elapsed = benchNow() - started
        after.endWindow()
        server.close()
        Console.printLine(
            BenchResultLine.make(
                role: "requester", impl: impl, workload: workload, count: count, cpu: cpu, elapsed: elapsed,
                latencies: latencies, before: before, after: after, kernels: kernels.origin))
    }

    private func runResponder(_ workload: BenchWorkload, kernels: BenchKernels, syscallCounter: BenchSyscallCounter?) throws {
        var options = ChannelOptions()
        options.attachTimeout = .seconds(30)
        options.waitStrategy = wait.strategy
        options.untrustedPeer = untrustedPeer
        let client = try ShmemaphoreClient(channel: channel, options: options)
        let own: UnsafeMutableRawPointer? =
            zeroCopy ? nil : UnsafeMutableRawPointer.allocate(byteCount: max(workload.bytes, 8), alignment: 4096)
        defer { own?.deallocate() }
        if let own { memset(own, 0, workload.bytes) }
        let responseMetadata = try metadata(of: workload)
        let bytes = UInt64(workload.bytes)
        var before = BenchCounters(syscallCounter: syscallCounter), after = BenchCounters(syscallCounter: syscallCounter)
        var started: Int64 = 0
        // Read once, as in runRequester (the responder's work is on the
        // round trip's critical path when both share a CPU).
        let (warmup, total, zeroCopy) = (self.warmup, self.warmup + count, self.zeroCopy)
        let (sendsSequence, requestLength) = (workload.request == nil, workload.requestLength)
        for index in 0..<total {
            let seq = UInt64(index + 1)
            if index == warmup {
                before.beginWindow()
                started = benchNow()
            }
            let request = try client.receiveRequest(timeout: Self.callTimeout)
            guard request.count == requestLength else {
                throw CommandFailure(.failure, "exchange \(seq): request of \(request.count) bytes")
            }
            if sendsSequence {
                let sent = request.loadUnaligned(as: UInt64.self)
                guard sent == seq else { throw CommandFailure(.failure, "exchange \(seq): request carries \(sent)") }
            }
            if zeroCopy {
                let buffer = try client.reserve(workload.bytes)
                kernels.fill(buffer.baseAddress!, bytes, seq)
                try client.commit(responseMetadata)
            } else {
                kernels.fill(own!, bytes, seq)
                try client.send(responseMetadata, payload: UnsafeRawBufferPointer(start: own, count: workload.bytes))
            }
        }
        let elapsed = benchNow() - started
        after.endWindow()
        Console.printLine(
            BenchResultLine.make(
                role: "responder", impl: impl, workload: workload, count: count, cpu: cpu, elapsed: elapsed,
                latencies: nil, before: before, after: after, kernels: kernels.origin))
    }

    private func metadata(of workload: BenchWorkload) throws -> ResponseMetadata {
        if workload.width == 0 { return .bytes(UInt64(workload.bytes)) }
        return try .image(width: workload.width, height: workload.height, channels: workload.channels)
    }
}
