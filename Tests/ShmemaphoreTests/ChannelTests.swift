import Foundation
import Testing

@testable import Shmemaphore

/// A server and a client on one channel inside the test process.  The server
/// never blocks when sending, so one thread can play both sides in turn.
struct Pair {
    let server: ShmemaphoreServer
    let client: ShmemaphoreClient

    init(_ name: String, options: ChannelOptions = ChannelOptions()) throws {
        server = try ShmemaphoreServer(channel: name, options: options)
        client = try ShmemaphoreClient(channel: name, options: options)
    }

    /// A pair whose sides open with different options.
    init(_ name: String, _ options: (server: ChannelOptions, client: ChannelOptions)) throws {
        server = try ShmemaphoreServer(channel: name, options: options.server)
        client = try ShmemaphoreClient(channel: name, options: options.client)
    }

    /// One full exchange: `request` out, then the client's answer as `answer` decides.
    func exchange(
        _ request: [UInt8], answer: (ShmemaphoreClient, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Response {
        try request.withUnsafeBytes { try server.send(request: $0) }
        let received = try client.receiveRequest(timeout: TestSupport.patience)
        try answer(client, received)
        return try server.receiveResponse(timeout: TestSupport.patience)
    }
}

@Suite struct ChannelTests {
    @Test func roundTripsOfManySizesIncludingGrowthThenSmaller() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            let shapes: [(UInt64, UInt64, UInt64)] = [
                (1, 1, 1), (333, 77, 3), (64, 64, 2), (640, 480, 4), (1920, 1080, 3), (2, 2, 1), (3840, 2160, 4), (5, 1, 3),
            ]
            for (seed, (width, height, channels)) in shapes.enumerated() {
                let metadata = try ResponseMetadata.image(width: width, height: height, channels: channels)
                let requestText = Array("image \(width)x\(height)x\(channels)".utf8)
                let response = try pair.exchange(requestText) { client, request in
                    #expect(Array(request) == requestText)
                    let buffer = try client.reserve(Int(metadata.bytes))
                    for index in 0..<buffer.count { buffer[index] = peerPattern(seed: UInt64(seed), index: UInt64(index)) }
                    try client.commit(metadata)
                }
                #expect(response.kind == .image)
                #expect(response.metadata == metadata)
                #expect(response.payload.indices.allSatisfy { response.payload[$0] == peerPattern(seed: UInt64(seed), index: UInt64($0)) })
            }
        }
    }

    @Test func copyPathBytesAndEmptyPayloads() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            for count in [0, 1, 4095, 4096, 4097, 1 << 20, 3] {
                let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                let response = try pair.exchange([]) { client, request in
                    #expect(request.isEmpty)
                    try payload.withUnsafeBytes { try client.send(bytes: $0) }
                }
                #expect(response.kind == .bytes)
                #expect(response.metadata == .bytes(UInt64(count)))
                #expect(response.bytes == payload)
            }
        }
    }

    @Test func largeRequestsArriveIntact() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            let request = (0..<(1 << 16)).map { UInt8(truncatingIfNeeded: $0 % 251) }
            _ = try pair.exchange(request) { client, received in
                #expect(Array(received) == request)
                try client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
    }

    @Test func errorResponsesReachTheServerAsPeerErrors() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            do {
                _ = try pair.exchange(Array("cat".utf8)) { client, _ in
                    try client.sendError(code: PeerErrorCode.notFound, message: "no such image: cat")
                }
                Issue.record("an error response must throw")
            } catch let error as ShmemaphoreError {
                #expect(error == .peerError(code: 1, message: "no such image: cat"))
            }
            // The channel goes on working after an error response.
            let response = try pair.exchange(Array("dog".utf8)) { client, _ in try client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0)) }
            #expect(response.kind == .bytes)
        }
    }

    @Test func callsOutOfTurnAreWrongStateNotHangs() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            TestSupport.expectCode(ErrorCode.wrongState) { _ = try pair.server.receiveResponse(timeout: .zero) }
            TestSupport.expectCode(ErrorCode.wrongState) { try pair.client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0)) }
            TestSupport.expectCode(ErrorCode.wrongState) { try pair.client.commit(.bytes(0)) }
            try pair.server.send(request: "a")
            // A second request gives up the first (docs/PROTOCOL.md, "Giving up a request").
            try pair.server.send(request: "b")
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("b".utf8))
            TestSupport.expectCode(ErrorCode.wrongState) { _ = try pair.client.receiveRequest(timeout: .zero) }
            TestSupport.expectCode(ErrorCode.wrongState) { try pair.client.commit(.bytes(0)) }
            let buffer = try pair.client.reserve(8)
            TestSupport.expectCode(ErrorCode.invalidArgument) { try pair.client.commit(.bytes(9)) }
            buffer.copyBytes(from: [1, 2, 3, 4, 5, 6, 7, 8])
            try pair.client.commit(.bytes(8))
            #expect(try pair.server.receiveResponse(timeout: TestSupport.patience).bytes == [1, 2, 3, 4, 5, 6, 7, 8])
        }
    }

    @Test func timeoutsLeaveTheExchangeResumable() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.client.receiveRequest(timeout: .zero) }
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.client.receiveRequest(timeout: .milliseconds(120)) }
            try pair.server.send(request: "x")
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.server.receiveResponse(timeout: .milliseconds(20)) }
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try pair.client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            #expect(try pair.server.receiveResponse(timeout: TestSupport.patience).kind == .bytes)
        }
    }

    @Test func attachTimesOutWithoutAServerAndLeavesNothing() {
        TestSupport.withChannel { name in
            var options = ChannelOptions()
            options.attachTimeout = .milliseconds(50)
            let start = ContinuousClock.now
            TestSupport.expectCode(ErrorCode.timeout) { _ = try ShmemaphoreClient(channel: name, options: options) }
            #expect(ContinuousClock.now - start >= .milliseconds(50))
        }
    }

    @Test func clientWaitingBeforeTheServerStartsIsServed() throws {
        try TestSupport.withChannel { name in
            let clientResult = Mutex<Result<[UInt8], ShmemaphoreError>?>(nil)
            let thread = Thread {
                let outcome = Result { () throws(ShmemaphoreError) -> [UInt8] in
                    let client = try ShmemaphoreClient(channel: name)
                    let request = Array(try client.receiveRequest(timeout: TestSupport.patience))
                    try client.sendError(code: 7, message: "seen")
                    return request
                }
                clientResult.withLock { $0 = outcome }
            }
            thread.start()
            usleep(100_000)
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            TestSupport.expectCode(ErrorCode.peerError) { _ = try server.request("hello", timeout: TestSupport.patience) }
            while clientResult.withLock({ $0 }) == nil { usleep(1000) }
            #expect(try clientResult.withLock { $0 }!.get() == Array("hello".utf8))
        }
    }

    @Test func clientLearnsThatTheServerClosed() throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            let client = try ShmemaphoreClient(channel: name)
            server.close()
            let start = ContinuousClock.now
            TestSupport.expectCode(ErrorCode.peerGone) { _ = try client.receiveRequest(timeout: TestSupport.patience) }
            #expect(ContinuousClock.now - start < TestSupport.patience / 2)
            // Reported once; the next receive waits for a new server, and none comes.
            TestSupport.expectCode(ErrorCode.timeout) { _ = try client.receiveRequest(timeout: .zero) }
        }
    }

    @Test func clientFollowsARestartedServer() throws {
        try TestSupport.withChannel { name in
            let first = try ShmemaphoreServer(channel: name)
            let client = try ShmemaphoreClient(channel: name)
            // One exchange with the first server: its request number 1 is answered.
            try first.send(request: "before")
            _ = try client.receiveRequest(timeout: TestSupport.patience)
            try client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            _ = try first.receiveResponse(timeout: TestSupport.patience)
            // A crash: the first server vanishes without unlinking anything.
            first.core.abandonForTesting()
            let second = try ShmemaphoreServer(channel: name)
            defer { second.close() }
            // The new server's first request is number 1 again: a new request.
            try second.send(request: "after restart")
            #expect(Array(try client.receiveRequest(timeout: TestSupport.patience)) == Array("after restart".utf8))
            try client.sendError(code: 3, message: "")
            TestSupport.expectCode(ErrorCode.peerError) { _ = try second.receiveResponse(timeout: TestSupport.patience) }
        }
    }

    /// A server's close removes only the objects it opened: a server that
    /// took over the channel after it keeps its own.
    @Test func closeLeavesTheObjectsOfTheServerThatTookOver() throws {
        try TestSupport.withChannel { name in
            let first = try ShmemaphoreServer(channel: name)
            first.core.abandonForTesting()
            // The semaphores are gone too, so the second server's are new files.
            let channel = try ChannelName(name)
            sem_unlink(channel.requestSemaphore)
            sem_unlink(channel.responseSemaphore)
            let second = try ShmemaphoreServer(channel: name)
            defer { second.close() }
            first.close()
            #expect(TestSupport.existingObjects(of: name).count == 4, "the first server's close removed the second server's objects")
            let client = try ShmemaphoreClient(channel: name)
            try second.send(request: "still here")
            #expect(Array(try client.receiveRequest(timeout: TestSupport.patience)) == Array("still here".utf8))
        }
    }

    @Test func staleSemaphoreCountsAreDrainedAtServerStart() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            // A crashed run left a request and a response token behind.
            for semaphoreName in [channel.requestSemaphore, channel.responseSemaphore] {
                let semaphore = try NamedSemaphore.openOrCreate(semaphoreName, options: ChannelOptions())
                try semaphore.post()
                try semaphore.post()
            }
            let pair = try Pair(name)
            defer { pair.server.close() }
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.client.receiveRequest(timeout: .zero) }
            try pair.server.send(request: "real")
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.server.receiveResponse(timeout: .milliseconds(10)) }
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("real".utf8))
        }
    }

    /// A live server owns its channel: a second server is refused with
    /// `busy` under every stale policy, and the first goes on unharmed.
    @Test(arguments: [StalePolicy.reset, .fail])
    func aSecondServerOnALiveChannelIsBusy(policy: StalePolicy) throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            var options = ChannelOptions()
            options.stalePolicy = policy
            TestSupport.expectCode(ErrorCode.busy) { _ = try ShmemaphoreServer(channel: name, options: options) }
            #expect(TestSupport.existingObjects(of: name).count == 4)
            let response = try pair.exchange([7, 8, 9]) { client, request in try client.send(bytes: request) }
            #expect(response.bytes == [7, 8, 9])
        }
    }

    /// Under STALE_FAIL a crashed server's objects are refused (exists), not reset.
    @Test func staleFailPolicyRefusesACrashedChannel() throws {
        try TestSupport.withChannel { name in
            let first = try ShmemaphoreServer(channel: name)
            first.core.abandonForTesting()
            defer { first.close() }
            var options = ChannelOptions()
            options.stalePolicy = .fail
            TestSupport.expectCode(ErrorCode.exists) { _ = try ShmemaphoreServer(channel: name, options: options) }
            #expect(TestSupport.existingObjects(of: name).count == 4, "STALE_FAIL changed nothing")
        }
    }

    @Test func severalChannelsInOneProcess() throws {
        let names = (0..<4).map { TestSupport.uniqueChannelName("several\($0)") }
        defer { names.forEach(TestSupport.removeObjects) }
        let pairs = try names.map { try Pair($0) }
        for (index, pair) in pairs.enumerated() {
            let response = try pair.exchange([UInt8(index)]) { client, request in
                try client.send(bytes: request)
            }
            #expect(response.bytes == [UInt8(index)])
        }
        pairs.forEach { $0.server.close() }
        #expect(names.flatMap(TestSupport.existingObjects) == [])
    }
}

@Suite struct ClosedChannelTests {
    @Test func callsAfterCloseAreRefused() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            pair.server.close()
            pair.server.close()  // idempotent
            TestSupport.expectCode(ErrorCode.wrongState) { try pair.server.send(request: "late") }
            TestSupport.expectCode(ErrorCode.peerGone) { _ = try pair.client.receiveRequest(timeout: TestSupport.patience) }
        }
    }
}

@Suite struct RestartTests {
    /// A client blocked in receiveRequest while its server is replaced by one
    /// with new semaphores must wait on the new ones (regression: it kept
    /// waiting on the unlinked semaphore and missed every request).
    @Test func waitingClientSwitchesToTheNewServersSemaphores() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let first = try ShmemaphoreServer(channel: name)
            let client = UncheckedSendable(value: try ShmemaphoreClient(channel: name))
            let received = Mutex<(request: [UInt8], seconds: Double)?>(nil)
            let thread = Thread {
                let start = ContinuousClock.now
                var request: [UInt8] = []
                do {
                    do {
                        request = Array(try client.value.receiveRequest(timeout: TestSupport.patience))
                    } catch ShmemaphoreError.peerGone {
                        // A liveness check that fell between the first server's
                        // death and the second's start saw a dead server: reported
                        // once, and the next receive serves the next server.
                        request = Array(try client.value.receiveRequest(timeout: TestSupport.patience))
                    }
                } catch {
                    Issue.record("the waiting client's receive failed: \(error)")
                }
                let elapsed = ContinuousClock.now - start
                received.withLock { $0 = (request, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) }
            }
            thread.start()
            usleep(125_000)  // not a multiple of the 50 ms wait slice
            // The first server vanishes without closing, and its semaphores
            // are gone too: the next server creates new ones.
            first.core.abandonForTesting()
            sem_unlink(channel.requestSemaphore)
            sem_unlink(channel.responseSemaphore)
            let second = try ShmemaphoreServer(channel: name)
            defer { second.close() }
            try second.send(request: "after restart")
            while received.withLock({ $0 }) == nil { usleep(1000) }
            let result = received.withLock { $0 }!
            #expect(result.request == Array("after restart".utf8))
            #expect(result.seconds < TestSupport.patienceSeconds / 2)
            withExtendedLifetime(first) {}
        }
    }
}
