import Foundation
import Testing

@testable import Shmemaphore

/// Helpers shared by the test suites: unique channel names, guaranteed
/// cleanup of /dev/shm, and paths to the peer programs.
enum TestSupport {
    /// The package root, found from this file's path (Tests/ShmemaphoreTests/TestSupport.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build products folder that holds this test bundle, the test peer and libshmemaphore.so.
    static let productsDirectory: URL = {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // On Linux the test runner is <products>/<package>PackageTests.xctest.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("shmemaphore-testpeer").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory
    }()

    /// How long a test waits for something that is bound to happen (an
    /// answer, a peer's start-up or exit, a tool's whole run): far beyond what
    /// the slowest run needs (a sanitizer on CPUs busy with other work), so
    /// only a hang ever waits it out.  Tests that want a timeout to happen use
    /// short ones of their own; a test that checks something happened "long
    /// before a timeout" waits `patience` and expects less than half of it.
    static let patience: Duration = .seconds(120)
    static let patienceSeconds: Double = 120
    /// `patience` as a command-line number of seconds, for peers and the tool.
    static let patienceArgument = "120"

    private static let counter = Mutex(0)

    /// A channel name no other test (or test run) uses.
    static func uniqueChannelName(_ label: String = #function) -> String {
        let number = counter.withLock { value -> Int in
            value += 1
            return value
        }
        let safeLabel = label.filter { $0.isLetter || $0.isNumber }.prefix(24)
        return "shmtest-\(getpid())-\(number)-\(safeLabel)"
    }

    /// Removes the four objects of `name`, whatever state they are in.
    static func removeObjects(of name: String) {
        guard let channel = try? ChannelName(name) else { return }
        ChannelInspector.removeObjects(of: channel)
    }

    /// Which of `name`'s four objects exist in /dev/shm.
    static func existingObjects(of name: String) -> [String] {
        guard let channel = try? ChannelName(name) else { return [] }
        return channel.filesystemPaths.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// Runs `body` with a fresh channel name; afterwards, whatever happened,
    /// removes the channel's objects.  When `expectClean` is set, it first
    /// records as a test failure any object the code under test left behind.
    static func withChannel<Result>(
        _ label: String = #function, expectClean: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (String) throws -> Result
    ) rethrows -> Result {
        let name = uniqueChannelName(label)
        defer {
            if expectClean {
                #expect(existingObjects(of: name) == [], "objects left behind", sourceLocation: sourceLocation)
            }
            removeObjects(of: name)
        }
        return try body(name)
    }

    /// Asserts that `body` throws exactly `expected`-coded ShmemaphoreError.
    static func expectCode(
        _ expected: Int32, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            if expected != ErrorCode.ok {
                Issue.record("expected \(ErrorCode.name(of: expected)), got success", sourceLocation: sourceLocation)
            }
        } catch let error as ShmemaphoreError {
            #expect(
                error.code == expected, "expected \(ErrorCode.name(of: expected)), got \(ErrorCode.name(of: error.code)): \(error)",
                sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected a ShmemaphoreError, got \(error)", sourceLocation: sourceLocation)
        }
    }
}

/// The deterministic payload of Tests/CPeer/PEER-SPEC.md.
func peerPattern(seed: UInt64, index: UInt64) -> UInt8 {
    let x = (index &+ 1) &* 0x9E37_79B9_7F4A_7C15 ^ (seed &* 0xD1B5_4A32_D192_ED03)
    return UInt8(truncatingIfNeeded: x >> 56)
}

/// A minimal lock for test bookkeeping (Synchronization.Mutex needs macOS 15 on Apple; fine on Linux).
final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// Hands a non-Sendable value to one other thread that is the only one to
/// use it meanwhile (channels are used by one thread at a time).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
