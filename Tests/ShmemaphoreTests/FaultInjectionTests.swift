import CShmemaphoreShims
import Foundation
import Testing

@testable import Shmemaphore

// Dead and restarted peers (issue 5): a peer is killed with SIGKILL at every
// step of an exchange, and the survivor must report a clear error
// (PEER_GONE, or TIMEOUT where docs/PROTOCOL.md 9a "Limit" says nobody can
// know), never hang, crash or hand out a wrong payload; then a restarted peer
// must resume service on the same channel name without manual cleanup.
//
// The victims are the independent raw peer (Tests/Conformance/raw_peer.c,
// `--die-at STEP[@N]`) against the library in this process, and the library
// itself (shmemaphore-testpeer, killed by the test) against the raw peer or
// an in-process library peer.

/// The plain-POSIX raw peer (Tests/Conformance/raw_peer.c, which does not
/// link libshmemaphore), built by SwiftPM as `shmemaphore-raw-peer`.
enum RawPeer {
    static func executable() throws -> URL { try PeerProcesses.program("shmemaphore-raw-peer") }

    /// The pixels of `dot.ppm`, the 2×2×3 image the raw client serves for "dot".
    static let dotPixels: [UInt8] = Array(1...12)

    /// A folder holding dot.ppm, for `raw_peer client --dir`.
    static let imageDirectory: URL = {
        let directory = PeerProcesses.scratchDirectory.appendingPathComponent("raw-peer-images")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = Data("P6\n2 2\n255\n".utf8) + Data(dotPixels)
        try? file.write(to: directory.appendingPathComponent("dot.ppm"))
        return directory
    }()

    /// Writes `lines` as a `--requests` file (one request per line) and returns its path.
    static func requestFile(_ lines: [String]) throws -> String {
        let url = PeerProcesses.scratchDirectory.appendingPathComponent("requests-\(UUID().uuidString)")
        try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: url)
        return url.path
    }

    /// The CLOCK_MONOTONIC instant the raw peer printed just before raising SIGKILL.
    static func deathInstant(in output: String) -> Int64? {
        guard let range = output.range(of: "SIGKILL at monotonic-ns ") else { return nil }
        return Int64(output[range.upperBound...].prefix(while: \.isNumber))
    }

    /// The raw server's line for a bytes response: `<index> <request-length> bytes <B> <fnv1a64> <ms>`.
    static func bytesLine(index: Int, request: [UInt8], response: [UInt8]) -> String {
        "\(index) \(request.count) bytes \(response.count) \(FaultKit.fnv1a64Hex(response)) "
    }
}

/// Shared helpers of the fault-injection and /dev/shm-full suites.
enum FaultKit {
    /// CLOCK_MONOTONIC now, in nanoseconds: the clock the raw peer stamps its death with.
    static func monotonicNanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    static func fnv1a64Hex(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Waits until the client's liveness lock (HEAD byte 1, PROTOCOL.md 9a) is
    /// held, so that a server that looks will see it.  Looks through a
    /// descriptor of its own, as another process would.
    static func waitForClientLock(on channel: String, timeout: Double = TestSupport.patienceSeconds) throws {
        let head = try ChannelName(channel).headerSegment
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let descriptor = shm_open(head, O_RDWR, 0)
            if descriptor >= 0 {
                let locked = shmemaphore_shim_ofd_lock_end(descriptor, Int64(Wire.clientLivenessByte)) > 0
                close(descriptor)
                if locked { return }
            }
            usleep(2_000)
        }
        throw PeerProcesses.Failure(description: "no client took its liveness lock on \(head) within \(timeout) s")
    }

    /// Waits until a running peer's output contains `text`.
    static func waitForOutput(_ peer: PeerProcesses.Running, containing text: String, timeout: Double = TestSupport.patienceSeconds) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let output = try? String(contentsOf: peer.log, encoding: .utf8), output.contains(text) { return }
            if !peer.isRunning { break }
            usleep(2_000)
        }
        let output = (try? String(contentsOf: peer.log, encoding: .utf8)) ?? ""
        throw PeerProcesses.Failure(description: "the peer did not print \"\(text)\" within \(timeout) s:\n\(output)")
    }

    /// Waits (bounded) until a peer process has ended, e.g. killed itself.
    static func waitForExit(_ peer: PeerProcesses.Running, timeout: Double = TestSupport.patienceSeconds) {
        let deadline = Date().addingTimeInterval(timeout)
        while peer.isRunning && Date() < deadline { usleep(2_000) }
    }

    /// What a survivor's call ended with.
    enum Outcome: Equatable, CustomStringConvertible {
        case peerGone, timeout, success
        case otherError(String)

        var description: String {
            switch self {
            case .peerGone: return "PEER_GONE"
            case .timeout: return "TIMEOUT"
            case .success: return "success"
            case .otherError(let text): return text
            }
        }
    }

    /// Runs a survivor's call and classifies its end; also returns when it ended.
    static func outcome(of body: () throws(ShmemaphoreError) -> Void) -> (Outcome, endedAt: Int64) {
        let outcome: Outcome
        do {
            try body()
            outcome = .success
        } catch .peerGone {
            outcome = .peerGone
        } catch .timeout {
            outcome = .timeout
        } catch {
            outcome = .otherError("\(ErrorCode.name(of: error.code)): \(error)")
        }
        return (outcome, monotonicNanoseconds())
    }
}

/// Counts of faults injected and survived, printed per case and once at exit.
enum FaultTally {
    private struct Counts {
        var injected = 0
        var survived = 0
        var noticedMilliseconds: [Double] = []
        var limitTimeouts = 0
    }
    private static let counts = Mutex(Counts())
    private static let registration: Void = {
        atexit {
            FaultTally.printSummary()
        }
    }()

    /// Records one fault.  `survived`: the survivor's error was the expected
    /// clear one and the restarted peer resumed service.
    static func record(
        victim: String, step: String, survivor: String, outcome: FaultKit.Outcome, noticedMilliseconds: Double?,
        survived: Bool
    ) {
        _ = registration
        counts.withLock { counts in
            counts.injected += 1
            if survived { counts.survived += 1 }
            if let noticedMilliseconds { counts.noticedMilliseconds.append(noticedMilliseconds) }
            if outcome == .timeout { counts.limitTimeouts += 1 }
        }
        let noticed = noticedMilliseconds.map { String(format: "%.1f ms", $0) } ?? "-"
        print("fault: \(victim) killed at \(step); survivor \(survivor): \(outcome), noticed after \(noticed); \(survived ? "survived and resumed" : "NOT SURVIVED")")
    }

    static func printSummary() {
        let snapshot = counts.withLock { $0 }
        guard snapshot.injected > 0 else { return }
        let worst = snapshot.noticedMilliseconds.max().map { String(format: "%.1f", $0) } ?? "-"
        let mean =
            snapshot.noticedMilliseconds.isEmpty
            ? "-" : String(format: "%.1f", snapshot.noticedMilliseconds.reduce(0, +) / Double(snapshot.noticedMilliseconds.count))
        print(
            "fault injection summary: \(snapshot.injected) faults injected (SIGKILL), \(snapshot.survived) survived "
                + "and resumed; \(snapshot.noticedMilliseconds.count) dead peers noticed (mean \(mean) ms, worst \(worst) ms), "
                + "\(snapshot.limitTimeouts) only by timeout (PROTOCOL.md 9a, Limit)")
        fflush(nil)
    }
}

@Suite struct FaultInjectionTests {
    typealias Outcome = FaultKit.Outcome

    /// One `--die-at` of the raw peer.
    struct Death: Sendable, CustomTestStringConvertible {
        /// The raw peer's argument, STEP or STEP@N.
        let argument: String
        /// The survivor cannot have seen the victim's lock before it died
        /// (PROTOCOL.md 9a, "Limit"): only a timeout can tell.
        let limit: Bool

        init(_ argument: String, limit: Bool = false) {
            self.argument = argument
            self.limit = limit
        }

        var step: String { String(argument.prefix { $0 != "@" }) }
        var exchange: Int { argument.split(separator: "@").dropFirst().first.flatMap { Int($0) } ?? 1 }
        var testDescription: String { argument }
    }

    static let survivorTimeout: Duration = TestSupport.patience
    /// How long a survivor waits where only a timeout can tell (the Limit).
    static let limitTimeout: Duration = .seconds(1)

    // MARK: The raw server dies; the library client survives

    /// In exchange 1 a server dies microseconds after creating its segments,
    /// before a client can attach and see its lock: those are the Limit cases.
    /// From exchange 2 on, the client has seen the lock and must notice.
    static let serverDeaths: [Death] = [
        Death("after-open", limit: true), Death("after-header", limit: true), Death("after-data", limit: true),
        Death("after-post", limit: true), Death("while-waiting"),
        Death("after-header@2"), Death("after-data@2"), Death("after-post@2"), Death("while-waiting@2"),
    ]

    /// The test's client answers each request with "re:" + the request, as bytes.
    static func answer(_ client: ShmemaphoreClient, _ request: [UInt8]) throws {
        try (Array("re:".utf8) + request).withUnsafeBytes { try client.send(bytes: $0) }
    }

    @Test(arguments: serverDeaths)
    func rawServerDiesAndTheLibraryClientSurvives(_ death: Death) throws {
        let raw = try RawPeer.executable().path
        let requests = ["req-1", "req-2", "req-3"].map { Array($0.utf8) }
        let requestFile = try RawPeer.requestFile(requests.map { String(decoding: $0, as: UTF8.self) })
        defer { try? FileManager.default.removeItem(atPath: requestFile) }
        try TestSupport.withChannel("rawsrv\(death.argument)") { name in
            let victim = try PeerProcesses.Running([
                raw, "server", "--channel", name, "--requests", requestFile, "--count", "3", "--timeout", TestSupport.patienceArgument,
                "--die-at", death.argument,
            ])
            var options = ChannelOptions()
            options.attachTimeout = TestSupport.patience
            var client: ShmemaphoreClient? = try ShmemaphoreClient(channel: name, options: options)
            for index in 1..<death.exchange {
                let request = Array(try client!.receiveRequest(timeout: Self.survivorTimeout))
                #expect(request == requests[index - 1], "exchange \(index) before the fault")
                try Self.answer(client!, request)
            }
            let wait = death.limit ? Self.limitTimeout : Self.survivorTimeout
            let fatal = requests[death.exchange - 1]
            let started: Int64
            let outcome: Outcome
            let endedAt: Int64
            switch death.step {
            case "after-open", "after-header", "after-data":
                // Nothing was posted: no request may come out of the dead server's half-written turn.
                started = FaultKit.monotonicNanoseconds()
                (outcome, endedAt) = FaultKit.outcome { () throws(ShmemaphoreError) in
                    let request = try client!.receiveRequest(timeout: wait)
                    Issue.record("a request came from a server that never posted one: \(Array(request))")
                }
            case "after-post":
                // The request was complete when REQ was posted: it is served
                // (nobody reads the answer); the next wait learns of the death.
                let request = Array(try client!.receiveRequest(timeout: Self.survivorTimeout))
                #expect(request == fatal)
                try Self.answer(client!, request)
                started = FaultKit.monotonicNanoseconds()
                (outcome, endedAt) = FaultKit.outcome { () throws(ShmemaphoreError) in _ = try client!.receiveRequest(timeout: wait) }
            default:  // while-waiting: hold the request until the server has died waiting for it
                let request = Array(try client!.receiveRequest(timeout: Self.survivorTimeout))
                #expect(request == fatal)
                FaultKit.waitForExit(victim)
                try Self.answer(client!, request)
                started = FaultKit.monotonicNanoseconds()
                (outcome, endedAt) = FaultKit.outcome { () throws(ShmemaphoreError) in _ = try client!.receiveRequest(timeout: wait) }
            }
            let dead = victim.wait(timeout: TestSupport.patienceSeconds)
            #expect(dead.termination == .signaled(SIGKILL), "\(dead.output)")
            let diedAt = try #require(RawPeer.deathInstant(in: dead.output), "\(dead.output)")
            let noticed = Double(endedAt - max(diedAt, started)) / 1e6
            let expected: [Outcome] = death.limit ? [.timeout, .peerGone] : [.peerGone]
            #expect(expected.contains(outcome), "\(death.argument): the surviving client got \(outcome)")
            if outcome == .peerGone { #expect(noticed < 1000, "noticed after \(noticed) ms") }

            // A restarted server resets the channel; a client that saw PEER_GONE
            // is re-opened, one that only timed out follows the restart itself.
            if outcome != .timeout { client = nil }
            let restarted = try PeerProcesses.Running([
                raw, "server", "--channel", name, "--requests", requestFile, "--count", "2", "--timeout", TestSupport.patienceArgument,
            ])
            if client == nil { client = try ShmemaphoreClient(channel: name, options: options) }
            for index in 1...2 {
                let request = Array(try client!.receiveRequest(timeout: Self.survivorTimeout))
                #expect(request == requests[index - 1], "exchange \(index) after the restart")
                try Self.answer(client!, request)
            }
            TestSupport.expectCode(ErrorCode.peerGone) { _ = try client!.receiveRequest(timeout: Self.survivorTimeout) }
            let finished = restarted.wait(timeout: TestSupport.patienceSeconds)
            #expect(finished.status == 0, "restarted server:\n\(finished.output)")
            for index in 1...2 {
                let line = RawPeer.bytesLine(index: index, request: requests[index - 1], response: Array("re:".utf8) + requests[index - 1])
                #expect(finished.output.contains(line), "expected '\(line)' in:\n\(finished.output)")
            }
            FaultTally.record(
                victim: "raw server", step: death.argument, survivor: "library client", outcome: outcome,
                noticedMilliseconds: outcome == .peerGone ? noticed : nil,
                survived: expected.contains(outcome) && finished.status == 0)
        }
    }

    // MARK: The raw client dies; the library server survives

    /// A client that attaches and dies at once has been seen by nobody (the
    /// Limit); in every other step the test first waits until its lock is held.
    static let clientDeaths: [Death] = [
        Death("after-attach", limit: true),
        Death("after-wait"), Death("after-read"), Death("after-data"), Death("after-header"), Death("after-post"),
        Death("after-wait@2"), Death("after-read@2"), Death("after-data@2"), Death("after-header@2"), Death("after-post@2"),
    ]

    static func expectDot(_ response: Response, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.kind == .image, sourceLocation: sourceLocation)
        #expect(response.metadata == (try? ResponseMetadata.image(width: 2, height: 2, channels: 3)), sourceLocation: sourceLocation)
        #expect(response.bytes == RawPeer.dotPixels, "a wrong payload", sourceLocation: sourceLocation)
    }

    @Test(arguments: clientDeaths)
    func rawClientDiesAndTheLibraryServerSurvives(_ death: Death) throws {
        let raw = try RawPeer.executable().path
        let images = RawPeer.imageDirectory.path
        try TestSupport.withChannel("rawcli\(death.argument)") { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            let victim = try PeerProcesses.Running([
                raw, "client", "--channel", name, "--dir", images, "--attach-timeout", TestSupport.patienceArgument, "--die-at", death.argument,
            ])
            if death.limit {
                // It attaches and dies within microseconds: let it finish first.
                FaultKit.waitForExit(victim)
            } else {
                try FaultKit.waitForClientLock(on: name)
            }
            for _ in 1..<death.exchange { Self.expectDot(try server.request("dot", timeout: Self.survivorTimeout)) }
            if death.step == "after-post" {
                // The answer was complete when RES was posted: it is the right one.
                Self.expectDot(try server.request("dot", timeout: Self.survivorTimeout))
            }
            let started = FaultKit.monotonicNanoseconds()
            let (outcome, endedAt) = FaultKit.outcome { () throws(ShmemaphoreError) in
                let response = try server.request("dot", timeout: death.limit ? Self.limitTimeout : Self.survivorTimeout)
                Issue.record("a response came from a dead client: \(response.kind) \(response.metadata)")
            }
            let dead = victim.wait(timeout: TestSupport.patienceSeconds)
            #expect(dead.termination == .signaled(SIGKILL), "\(dead.output)")
            let diedAt = try #require(RawPeer.deathInstant(in: dead.output), "\(dead.output)")
            let noticed = Double(endedAt - max(diedAt, started)) / 1e6
            let expected: Outcome = death.limit ? .timeout : .peerGone
            // The server looks at the client's lock before posting each request
            // until it has seen it, so even a client that dies right after
            // taking the first request is noticed.
            #expect(outcome == expected, "\(death.argument): the surviving server got \(outcome)")
            if outcome == .peerGone { #expect(noticed < 1000, "noticed after \(noticed) ms") }

            // A restarted client serves the same channel.  After PEER_GONE the
            // request was withdrawn; after a timeout it is still out, and the
            // new client answers it.
            let restarted = try PeerProcesses.Running([raw, "client", "--channel", name, "--dir", images, "--attach-timeout", TestSupport.patienceArgument])
            if outcome == .timeout { Self.expectDot(try server.receiveResponse(timeout: Self.survivorTimeout)) }
            Self.expectDot(try server.request("dot", timeout: Self.survivorTimeout))
            TestSupport.expectCode(ErrorCode.peerError) { _ = try server.request("zebra", timeout: Self.survivorTimeout) }
            Self.expectDot(try server.request("dot", timeout: Self.survivorTimeout))
            server.close()
            let finished = restarted.wait(timeout: TestSupport.patienceSeconds)
            #expect(finished.status == 0, "restarted client:\n\(finished.output)")
            FaultTally.record(
                victim: "raw client", step: death.argument, survivor: "library server", outcome: outcome,
                noticedMilliseconds: outcome == .peerGone ? noticed : nil,
                survived: outcome == expected && finished.status == 0)
        }
    }

    // MARK: The library dies; the raw peer or an in-process library peer survives

    enum LibraryVictim: String, CaseIterable, CustomTestStringConvertible, Sendable {
        /// shmemaphore-testpeer client killed while it sits on a `sleep 60000` request.
        case clientHoldingRequest
        /// shmemaphore-testpeer client killed while it waits for the next request.
        case clientIdle
        /// shmemaphore-testpeer server killed while it waits for a response.
        case serverWaiting
        /// shmemaphore-testpeer server killed while paused between exchanges.
        case serverPaused
        /// The same, with the raw client as survivor: it tests no locks, so it
        /// keeps waiting, and follows the restarted server (PROTOCOL.md 9).
        case serverPausedRawClientSurvives

        var testDescription: String { rawValue }
    }

    static var testPeer: String { TestSupport.productsDirectory.appendingPathComponent("shmemaphore-testpeer").path }

    static func pattern(count: Int, seed: UInt64) -> [UInt8] {
        (0..<count).map { peerPattern(seed: seed, index: UInt64($0)) }
    }

    @Test(arguments: LibraryVictim.allCases)
    func libraryPeerKilledTheSurvivorCopes(_ victimKind: LibraryVictim) throws {
        try TestSupport.withChannel("lib\(victimKind.rawValue)") { name in
            switch victimKind {
            case .clientHoldingRequest, .clientIdle:
                try Self.libraryClientKilled(name, holdingRequest: victimKind == .clientHoldingRequest)
            case .serverWaiting, .serverPaused:
                try Self.libraryServerKilled(name, whileWaiting: victimKind == .serverWaiting)
            case .serverPausedRawClientSurvives:
                try Self.libraryServerKilledRawClientSurvives(name)
            }
        }
    }

    /// Survivor: an in-process server.
    static func libraryClientKilled(_ name: String, holdingRequest: Bool) throws {
        let server = try ShmemaphoreServer(channel: name)
        defer { server.close() }
        let victim = try PeerProcesses.Running([testPeer, "client", name])
        try FaultKit.waitForClientLock(on: name)
        let response = try server.request("bytes 5 1", timeout: survivorTimeout)
        #expect(response.bytes == pattern(count: 5, seed: 1))
        if holdingRequest {
            try server.send(request: "sleep 60000")
            try FaultKit.waitForOutput(victim, containing: "sleeping 60000 ms")
        }
        kill(victim.pid, SIGKILL)
        let killedAt = FaultKit.monotonicNanoseconds()
        let (outcome, endedAt) = FaultKit.outcome { () throws(ShmemaphoreError) in
            if holdingRequest {
                _ = try server.receiveResponse(timeout: survivorTimeout)
            } else {
                _ = try server.request("bytes 3 2", timeout: survivorTimeout)
            }
        }
        let noticed = Double(endedAt - killedAt) / 1e6
        #expect(outcome == .peerGone)
        #expect(noticed < 1000, "noticed after \(noticed) ms")
        _ = victim.wait(timeout: TestSupport.patienceSeconds)
        // A restarted client resumes; the withdrawn request does not reach it.
        let next = try PeerProcesses.Running([testPeer, "client", name, "2"])
        #expect(try server.request("bytes 7 3", timeout: survivorTimeout).bytes == pattern(count: 7, seed: 3))
        TestSupport.expectCode(ErrorCode.peerError) { _ = try server.request("error 4", timeout: survivorTimeout) }
        let finished = next.wait(timeout: TestSupport.patienceSeconds)
        #expect(finished.status == 0, "\(finished.output)")
        FaultTally.record(
            victim: "library client", step: holdingRequest ? "holding a request" : "idle between requests",
            survivor: "library server", outcome: outcome, noticedMilliseconds: noticed,
            survived: outcome == .peerGone && finished.status == 0)
    }

    /// Survivor: an in-process client.
    static func libraryServerKilled(_ name: String, whileWaiting: Bool) throws {
        var options = ChannelOptions()
        options.attachTimeout = TestSupport.patience
        let victim = try PeerProcesses.Running(
            [testPeer, "server", name, "bytes:5:1"] + (whileWaiting ? ["bytes:6:2"] : ["pause:60000"]))
        var client: ShmemaphoreClient? = try ShmemaphoreClient(channel: name, options: options)
        #expect(Array(try client!.receiveRequest(timeout: survivorTimeout)) == Array("bytes 5 1".utf8))
        try pattern(count: 5, seed: 1).withUnsafeBytes { try client!.send(bytes: $0) }
        let started: Int64
        let killedAt: Int64
        if whileWaiting {
            #expect(Array(try client!.receiveRequest(timeout: survivorTimeout)) == Array("bytes 6 2".utf8))
            kill(victim.pid, SIGKILL)
            killedAt = FaultKit.monotonicNanoseconds()
            _ = victim.wait(timeout: TestSupport.patienceSeconds)
            // The answer goes out (nobody will read it); the next wait learns of the death.
            try pattern(count: 6, seed: 2).withUnsafeBytes { try client!.send(bytes: $0) }
            started = FaultKit.monotonicNanoseconds()
        } else {
            try FaultKit.waitForOutput(victim, containing: "pausing")
            kill(victim.pid, SIGKILL)
            killedAt = FaultKit.monotonicNanoseconds()
            started = killedAt
        }
        let (outcome, endedAt) = FaultKit.outcome { () throws(ShmemaphoreError) in
            _ = try client!.receiveRequest(timeout: survivorTimeout)
        }
        let noticed = Double(endedAt - max(killedAt, started)) / 1e6
        #expect(outcome == .peerGone)
        #expect(noticed < 1000, "noticed after \(noticed) ms")
        _ = victim.wait(timeout: TestSupport.patienceSeconds)
        // A restarted server resets the objects it left; a new client serves it.
        client = nil
        let restarted = try PeerProcesses.Running([testPeer, "server", name, "bytes:7:3", "error:5"])
        client = try ShmemaphoreClient(channel: name, options: options)
        #expect(Array(try client!.receiveRequest(timeout: survivorTimeout)) == Array("bytes 7 3".utf8))
        try pattern(count: 7, seed: 3).withUnsafeBytes { try client!.send(bytes: $0) }
        #expect(Array(try client!.receiveRequest(timeout: survivorTimeout)) == Array("error 5".utf8))
        try client!.sendError(code: 5, message: "requested error 5")
        TestSupport.expectCode(ErrorCode.peerGone) { _ = try client!.receiveRequest(timeout: survivorTimeout) }
        let finished = restarted.wait(timeout: TestSupport.patienceSeconds)
        #expect(finished.status == 0, "\(finished.output)")
        FaultTally.record(
            victim: "library server", step: whileWaiting ? "waiting for a response" : "paused between exchanges",
            survivor: "library client", outcome: outcome, noticedMilliseconds: noticed,
            survived: outcome == .peerGone && finished.status == 0)
    }

    /// Survivor: the raw client, which takes its lock but tests none.
    static func libraryServerKilledRawClientSurvives(_ name: String) throws {
        let raw = try RawPeer.executable().path
        let survivor = try PeerProcesses.Running([
            raw, "client", "--channel", name, "--dir", RawPeer.imageDirectory.path, "--attach-timeout", TestSupport.patienceArgument,
        ])
        let victim = try PeerProcesses.Running([testPeer, "server", name, "name:zebra", "pause:60000"])
        try FaultKit.waitForOutput(victim, containing: "pausing")
        kill(victim.pid, SIGKILL)
        _ = victim.wait(timeout: TestSupport.patienceSeconds)
        usleep(200_000)
        // No crash and no spurious exit: it cannot know (it tests no locks).
        #expect(survivor.isRunning, "the raw client ended when the server died")
        let restarted = PeerProcesses.run([testPeer, "server", name, "name:zebra", "empty", "name:cat"], timeout: TestSupport.patienceSeconds)
        #expect(restarted.status == 0, "restarted server:\n\(restarted.output)")
        let finished = survivor.wait(timeout: TestSupport.patienceSeconds)
        #expect(finished.status == 0, "raw client:\n\(finished.output)")
        FaultTally.record(
            victim: "library server", step: "paused between exchanges", survivor: "raw client (tests no locks)",
            outcome: .success, noticedMilliseconds: nil, survived: restarted.status == 0 && finished.status == 0)
    }
}
