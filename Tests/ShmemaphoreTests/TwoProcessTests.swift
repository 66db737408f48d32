import Foundation
import Testing

@testable import Shmemaphore

/// Real peers in separate processes, every pairing of the Swift and C
/// implementations, over the scripted conversation of Tests/CPeer/PEER-SPEC.md.
@Suite struct TwoProcessTests {
    typealias Implementation = PeerProcesses.Implementation

    /// Growth, then smaller, then larger again; both payload paths; every request form.
    static let steps = [
        "image:1:1:1:1", "image:333:77:3:2", "bytes:0:0", "error:9", "empty", "name:apple",
        "big:65536", "image:64:64:2:3", "image:640:480:4:4", "image:1920:1080:3:5", "bytes:7:6",
        "image:2:2:1:7", "image:3840:2160:4:8", "image:5:1:3:9", "bytes:1048577:10", "error:0",
        "image:1920:1080:3:11", "name:dog",
    ]

    @Test(arguments: Implementation.allCases, Implementation.allCases)
    func serverAndClientInSeparateProcesses(server: Implementation, client: Implementation) throws {
        try TestSupport.withChannel("pair\(server.rawValue)\(client.rawValue)") { name in
            // The client starts first and waits for the server, as users often do.
            let clientProcess = try PeerProcesses.Running(try PeerProcesses.peerCommand(client) + ["client", name])
            let serverResult = PeerProcesses.run(try PeerProcesses.peerCommand(server) + ["server", name] + Self.steps, timeout: TestSupport.patienceSeconds * 5)
            let clientResult = clientProcess.wait(timeout: TestSupport.patienceSeconds)
            #expect(serverResult.status == 0, "server (\(server)) failed:\n\(serverResult.output)")
            #expect(clientResult.status == 0, "client (\(client)) failed:\n\(clientResult.output)")
            #expect(serverResult.output.components(separatedBy: " ok").count - 1 == Self.steps.count, "\(serverResult.output)")
        }
    }

    @Test(arguments: Implementation.allCases)
    func serverLearnsThatAClientWhichServedItsQuotaIsGone(client: Implementation) throws {
        try TestSupport.withChannel("quota\(client.rawValue)") { name in
            let clientProcess = try PeerProcesses.Running(try PeerProcesses.peerCommand(client) + ["client", name, "2"])
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            // The client sits on its first request long enough for the server
            // to see its liveness lock, then answers a second and exits.
            #expect(try server.request("sleep 300", timeout: TestSupport.patience).metadata == .bytes(0))
            let second = try server.request("bytes 3 1", timeout: TestSupport.patience)
            #expect(second.metadata == .bytes(3))
            #expect(clientProcess.wait(timeout: TestSupport.patienceSeconds).status == 0)
            // The client exited: its liveness lock is gone, so the next request
            // fails fast with PEER_GONE instead of waiting out a long timeout.
            let start = ContinuousClock.now
            TestSupport.expectCode(ErrorCode.peerGone) { _ = try server.request("bytes 3 1", timeout: TestSupport.patience) }
            #expect(ContinuousClock.now - start < TestSupport.patience / 2)
        }
    }
}
