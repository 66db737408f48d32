import Foundation
import Shmemaphore
import Synchronization
import Testing

/// Everyday robustness (issue 10): Ctrl-C ends a wait and the program goes
/// on, one client handle serves successive servers, and a request given up
/// after a timeout never gets another request's answer.  The two-process
/// tests run against both interruptible clients: Tests/CPeer/interrupt_peer.c
/// and the Swift test peer's `interruptible-client` role.
@Suite(.serialized) struct InterruptTests {
    /// The interruptible client of `implementation` on `channel`, once it says it attached.
    static func attachedInterruptibleClient(_ implementation: PeerProcesses.Implementation, channel: String) throws -> PeerProcesses.Running {
        let peer: PeerProcesses.Running
        switch implementation {
        case .swift:
            let program = TestSupport.productsDirectory.appendingPathComponent("shmemaphore-testpeer").path
            peer = try PeerProcesses.Running([program, "interruptible-client", channel])
        case .c:
            peer = try PeerProcesses.Running([try PeerProcesses.program("shmemaphore-interrupt-peer").path, channel])
        }
        _ = try lines(of: peer, startingWith: "attached", count: 1)
        return peer
    }

    /// The peer's output lines that start with `prefix`, once there are `count`
    /// of them.  Bounded by `timeout` only so that a hang fails the test.
    static func lines(of peer: PeerProcesses.Running, startingWith prefix: String, count: Int, timeout: Double = 120) throws -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        var found: [String] = []
        while Date() < deadline {
            let output = (try? String(contentsOf: peer.log, encoding: .utf8)) ?? ""
            found = output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
            if found.count >= count { return found }
            if !peer.isRunning { break }
            usleep(1_000)
        }
        let output = (try? String(contentsOf: peer.log, encoding: .utf8)) ?? ""
        throw PeerProcesses.Failure(description: "wanted \(count) line(s) \"\(prefix)...\", got \(found.count):\n\(output)")
    }

    static func text(_ response: Response) -> String { String(decoding: response.payload, as: UTF8.self) }

    /// A generous bound for an answer the client gives at once (sanitizers, a loaded machine).
    static let answerTimeout = TestSupport.patience

    @Test(arguments: PeerProcesses.Implementation.allCases)
    func ctrlCEndsAnInfiniteWaitAndTheClientGoesOn(_ implementation: PeerProcesses.Implementation) throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            let peer = try Self.attachedInterruptibleClient(implementation, channel: name)
            for round in 1...3 {
                // Let the client get into its infinite wait (the first time, or after serving).
                usleep(50_000)
                kill(peer.pid, SIGINT)
                let interrupted = try Self.lines(of: peer, startingWith: "interrupted after ", count: round)
                let microseconds = Int(interrupted[round - 1].split(separator: " ")[2]) ?? Int.max
                // From the signal handler to the wait's return, measured by the peer itself.
                #expect(microseconds < 100_000, "\(implementation): round \(round): \(interrupted[round - 1])")
                // The same handle goes on serving.
                #expect(Self.text(try server.request("ping\(round)", timeout: Self.answerTimeout)) == "echo:ping\(round)")
            }
            _ = try server.request("quit", timeout: Self.answerTimeout)
            #expect(peer.wait(timeout: 60).status == 0)
        }
    }

    @Test(arguments: PeerProcesses.Implementation.allCases)
    func oneClientHandleServesThreeSuccessiveServers(_ implementation: PeerProcesses.Implementation) throws {
        try TestSupport.withChannel { name in
            var server: ShmemaphoreServer? = try ShmemaphoreServer(channel: name)
            let peer = try Self.attachedInterruptibleClient(implementation, channel: name)
            for generation in 1...3 {
                if server == nil { server = try ShmemaphoreServer(channel: name) }
                for exchange in 1...3 {
                    let request = "server\(generation)-\(exchange)"
                    #expect(Self.text(try server!.request(request, timeout: Self.answerTimeout)) == "echo:\(request)")
                }
                if generation < 3 {
                    server!.close()
                    server = nil
                    // The client noticed (PEER_GONE) before the next server came.
                    _ = try Self.lines(of: peer, startingWith: "peer-gone", count: generation)
                }
            }
            _ = try server!.request("quit", timeout: Self.answerTimeout)
            server!.close()
            #expect(peer.wait(timeout: 60).status == 0)
        }
    }

    @Test(arguments: PeerProcesses.Implementation.allCases)
    func aTimedOutRequestIsGivenUpAndEveryLaterRequestGetsItsOwnAnswer(_ implementation: PeerProcesses.Implementation) throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            let peer = try Self.attachedInterruptibleClient(implementation, channel: name)
            for round in 1...5 {
                // The client answers only after 300 ms: a 20 ms wait times out whatever the machine.
                TestSupport.expectCode(ErrorCode.timeout) {
                    _ = try server.request("slow:300:late\(round)", timeout: .milliseconds(20))
                }
                // The next request gives that one up; the late answer must never pass for its answer.
                #expect(Self.text(try server.request("now\(round)", timeout: Self.answerTimeout)) == "echo:now\(round)")
            }
            for round in 1...20 {
                #expect(Self.text(try server.request("then\(round)", timeout: Self.answerTimeout)) == "echo:then\(round)")
            }
            _ = try server.request("quit", timeout: Self.answerTimeout)
            #expect(peer.wait(timeout: 60).status == 0)
        }
    }

    // MARK: In one process

    /// The steps of a give-up in a fixed order: the late answer is written
    /// after the new request went out, into the old segments.
    @Test func aLateAnswerLandsInTheOldSegmentsAndIsNeverTakenForTheNewRequest() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            try pair.server.send(request: "A")
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("A".utf8))
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.server.receiveResponse(timeout: .milliseconds(1)) }
            try pair.server.send(request: "B")  // gives up A
            try Array("answer to A".utf8).withUnsafeBytes { try pair.client.send(bytes: $0) }
            // Only the late token is there: dropped (wrong exchange number), never
            // returned; a token owed for the given-up request, so a timeout.
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.server.receiveResponse(timeout: .milliseconds(100)) }
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("B".utf8))
            try Array("answer to B".utf8).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(Self.text(try pair.server.receiveResponse(timeout: TestSupport.patience)) == "answer to B")
            for round in 1...10 {
                let response = try pair.exchange(Array("R\(round)".utf8)) { client, request in
                    try Array("answer to \(String(decoding: request, as: UTF8.self))".utf8).withUnsafeBytes { try client.send(bytes: $0) }
                }
                #expect(Self.text(response) == "answer to R\(round)")
            }
        }
    }

    /// A slow server takes the late answer's token only after the client
    /// wrote the new answer too: it accepts the new answer with that token,
    /// and the new answer's own token, posted late, comes while the next
    /// request waits.  It is the token owed for the given-up request: the
    /// wait times out (it reported a protocol error), and nothing is taken
    /// for the next request's answer.
    @Test func theTokenLeftOverFromAGivenUpRequestIsNoProtocolError() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            try pair.server.send(request: "A")
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.server.receiveResponse(timeout: .milliseconds(1)) }
            try pair.server.send(request: "B")  // gives up A
            try Array("answer to A".utf8).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("B".utf8))
            try Array("answer to B".utf8).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(Self.text(try pair.server.receiveResponse(timeout: TestSupport.patience)) == "answer to B")
            // B's own token is still in RES; hold it back until C went out,
            // as a client descheduled between its header and its post would.
            let response = try #require(sem_open(try ChannelName(name).responseSemaphore, 0))
            try #require(response != SEM_FAILED)
            defer { sem_close(response) }
            #expect(sem_trywait(response) == 0)
            try pair.server.send(request: "C")
            sem_post(response)
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.server.receiveResponse(timeout: .milliseconds(100)) }
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("C".utf8))
            try Array("answer to C".utf8).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(Self.text(try pair.server.receiveResponse(timeout: TestSupport.patience)) == "answer to C")
            // Only one token was owed: a further stray one is a protocol error again.
            try pair.server.send(request: "D")
            sem_post(response)
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try pair.server.receiveResponse(timeout: .milliseconds(100)) }
        }
    }

    /// An original client numbers no answers: a request it is still
    /// answering cannot be given up; one it never took, or answered, can.
    @Test func withAnOriginalClientOnlyARequestNotBeingAnsweredIsGivenUp() throws {
        try TestSupport.withChannel { name in
            var original = ChannelOptions()
            original.emulatesOriginalPeer = true
            let pair = try Pair(name, (server: ChannelOptions(), client: original))
            defer { pair.server.close() }
            try pair.server.send(request: "untaken")
            try pair.server.send(request: "taken")  // "untaken" was withdrawn
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("taken".utf8))
            TestSupport.expectCode(ErrorCode.wrongState) { try pair.server.send(request: "too soon") }
            try Array("late".utf8).withUnsafeBytes { try pair.client.send(bytes: $0) }
            try pair.server.send(request: "after")  // the late answer came: dropped
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("after".utf8))
            try Array("fresh".utf8).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(Self.text(try pair.server.receiveResponse(timeout: TestSupport.patience)) == "fresh")
        }
    }

    @Test func oneClientHandleServesSuccessiveServersInProcess() throws {
        try TestSupport.withChannel { name in
            var server = try ShmemaphoreServer(channel: name)
            let client = try ShmemaphoreClient(channel: name)
            for generation in 1...3 {
                try server.send(request: "g\(generation)")
                #expect(Array(try client.receiveRequest(timeout: TestSupport.patience)) == Array("g\(generation)".utf8))
                try Array("a\(generation)".utf8).withUnsafeBytes { try client.send(bytes: $0) }
                #expect(Self.text(try server.receiveResponse(timeout: TestSupport.patience)) == "a\(generation)")
                server.close()
                TestSupport.expectCode(ErrorCode.peerGone) { _ = try client.receiveRequest(timeout: TestSupport.patience) }
                // No server yet: the wait for one times out, and may be made again.
                TestSupport.expectCode(ErrorCode.timeout) { _ = try client.receiveRequest(timeout: .milliseconds(20)) }
                server = try ShmemaphoreServer(channel: name)
            }
            server.close()
        }
    }

    @Test func interrupterEndsAWaitFromAnotherThreadAndEachInterruptEndsOneWait() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            let interrupter = pair.client.interrupter
            #expect(interrupter.interrupt())
            TestSupport.expectCode(ErrorCode.interrupted) { _ = try pair.client.receiveRequest() }
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.client.receiveRequest(timeout: .zero) }
            let thread = Thread {
                usleep(130_000)
                interrupter.interrupt()
            }
            thread.start()
            TestSupport.expectCode(ErrorCode.interrupted) { _ = try pair.client.receiveRequest() }
            #expect(ErrorCode.name(of: ErrorCode.interrupted) == "EINTR")
            pair.server.close()
            _ = try? pair.client.receiveRequest(timeout: TestSupport.patience)  // PEER_GONE
        }
    }

    @Test func cancellingTheTaskEndsItsWait() async throws {
        let name = TestSupport.uniqueChannelName()
        defer { TestSupport.removeObjects(of: name) }
        nonisolated(unsafe) let pair = try Pair(name)
        defer { pair.server.close() }
        let waiting = Task.detached { () -> Int32 in
            do {
                _ = try pair.client.receiveRequest()
                return ErrorCode.ok
            } catch let error as ShmemaphoreError {
                return error.code
            } catch {
                return ErrorCode.invalidArgument
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(await waiting.value == ErrorCode.interrupted)
    }

    @Test func anInterrupterOutlivingItsChannelDoesNothing() throws {
        let name = TestSupport.uniqueChannelName()
        defer { TestSupport.removeObjects(of: name) }
        let interrupter: ChannelInterrupter
        do {
            let server = try ShmemaphoreServer(channel: name)
            interrupter = server.interrupter
            server.close()
        }
        #expect(!interrupter.interrupt())
        let next = try ShmemaphoreServer(channel: name)
        defer { next.close() }
        // Ids are never reused: the old interrupter cannot reach the new channel.
        #expect(next.interrupter != interrupter)
        #expect(!interrupter.interrupt())
    }
}
