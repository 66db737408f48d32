import Foundation
import Testing

@testable import Shmemaphore

/// Dead peers are noticed through the OFD locks each side holds on HEAD
/// (docs/PROTOCOL.md, "Liveness"), long before any timeout.
@Suite struct LivenessTests {
    static var testPeer: String { TestSupport.productsDirectory.appendingPathComponent("shmemaphore-testpeer").path }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test func serverNoticesAClientKilledWhileItHoldsTheRequest() throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            let client = try PeerProcesses.Running([Self.testPeer, "client", name])
            try server.send(request: "sleep 60000")
            // The client takes the request and sits on it (however long its
            // start-up took); the server sees it alive.
            try FaultKit.waitForOutput(client, containing: "sleeping 60000 ms")
            TestSupport.expectCode(ErrorCode.timeout) { _ = try server.receiveResponse(timeout: .milliseconds(500)) }
            kill(client.pid, SIGKILL)
            let killedAt = ContinuousClock.now
            TestSupport.expectCode(ErrorCode.peerGone) { _ = try server.receiveResponse(timeout: TestSupport.patience) }
            let noticed = Self.seconds(since: killedAt)
            #expect(noticed < TestSupport.patienceSeconds / 2, "noticed after \(noticed) s")
            _ = client.wait(timeout: TestSupport.patienceSeconds)
            // The request was withdrawn: the next client gets a fresh one.
            let next = try PeerProcesses.Running([Self.testPeer, "client", name, "1"])
            let response = try server.request("bytes 5 1", timeout: TestSupport.patience)
            #expect(response.metadata == .bytes(5))
            #expect(next.wait(timeout: TestSupport.patienceSeconds).status == 0)
        }
    }

    @Test func clientNoticesAServerKilledWithoutClosing() throws {
        try TestSupport.withChannel { name in
            let server = try PeerProcesses.Running([Self.testPeer, "server", name, "pause:60000"])
            defer { _ = server.wait(timeout: 0) }
            var options = ChannelOptions()
            options.attachTimeout = TestSupport.patience
            let client = try ShmemaphoreClient(channel: name, options: options)
            usleep(100_000)
            kill(server.pid, SIGKILL)
            let killedAt = ContinuousClock.now
            TestSupport.expectCode(ErrorCode.peerGone) { _ = try client.receiveRequest(timeout: TestSupport.patience) }
            let noticed = Self.seconds(since: killedAt)
            #expect(noticed < TestSupport.patienceSeconds / 2, "noticed after \(noticed) s")
            // The killed server left its objects; a new server resets them.
            let restarted = try ShmemaphoreServer(channel: name)
            restarted.close()
        }
    }

    @Test func aSecondClientIsRefused() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            TestSupport.expectCode(ErrorCode.busy) { _ = try ShmemaphoreClient(channel: name) }
            // The first client is unaffected.
            let response = try pair.exchange([7]) { client, request in try client.send(bytes: request) }
            #expect(response.bytes == [7])
        }
    }

    @Test func aClientThatLeftFreesTheChannelForTheNext() throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            do { _ = try ShmemaphoreClient(channel: name) }  // attaches and goes away
            _ = try ShmemaphoreClient(channel: name)
        }
    }
}
