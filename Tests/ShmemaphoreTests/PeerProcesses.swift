import Foundation
import ShmemaphoreTools
import Testing

/// Builds and runs the peer programs that two-process tests spawn: the Swift
/// test peer and the C peer, both built by SwiftPM next to this bundle.
enum PeerProcesses {
    enum Implementation: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case swift, c
        var testDescription: String { rawValue }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A folder of this test run for the files that peers read (images,
    /// request lists); removed by nobody, under the temporary directory.
    static let scratchDirectory: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shmemaphore-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }()

    /// A program of this package that SwiftPM built next to the test bundle
    /// (`swift build --build-tests` builds them all): the Swift test peer and
    /// the C programs of Tests/CPeer and Tests/Conformance (Package.swift).
    static func program(_ name: String) throws -> URL {
        let url = TestSupport.productsDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw Failure(description: "\(url.path) is missing: build the package's programs first (swift build --build-tests)")
        }
        return url
    }

    /// The command that runs `implementation`'s test peer.
    static func peerCommand(_ implementation: Implementation) throws -> [String] {
        switch implementation {
        case .swift: return [try program("shmemaphore-testpeer").path]
        case .c: return [try program("shmemaphore-c-peer").path]
        }
    }

    /// How a peer ended, with its standard output and error merged.
    struct Finished {
        /// How it ended; nil when it could not be started.
        let termination: ChildProcess.Termination?
        /// True when it outlived its time limit and was killed.
        let timedOut: Bool
        let output: String

        /// The exit status; -1 when the peer was killed (by a signal or the
        /// time limit) or did not start.
        var status: Int32 {
            guard !timedOut, case .exited(let status) = termination else { return -1 }
            return status
        }
    }

    /// A process started with the tools' spawner (ShmemaphoreTools'
    /// ChildProcess), stdout and stderr merged into a temporary file.
    /// `arguments[0]` without a "/" is looked for in PATH.
    final class Running {
        let child: ChildProcess
        let log: URL

        init(_ arguments: [String]) throws {
            log = FileManager.default.temporaryDirectory.appendingPathComponent("shmemaphore-peer-\(UUID().uuidString).log")
            let file = try OpenFile.create(log.path)
            child = try ChildProcess(
                label: arguments[0], executable: arguments[0], arguments: Array(arguments.dropFirst()),
                standardOutput: .file(file), standardError: .file(file))
        }

        /// The peer's process id (and process group id).
        var pid: pid_t { child.pid }

        /// True while the peer runs.
        var isRunning: Bool { child.isRunning }

        /// A peer still running when its test ends (a failed expectation threw)
        /// is killed, so it cannot re-create objects after the test's cleanup.
        deinit {
            child.kill()
            try? FileManager.default.removeItem(at: log)
        }

        /// Waits up to `timeout` seconds; a process still running then is killed
        /// (so a hang fails the test instead of stalling the suite).
        func wait(timeout: Double) -> Finished {
            var termination = child.wait(until: .now + Durations.fromSeconds(timeout))
            let timedOut = termination == nil
            if timedOut { termination = child.kill() }
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: log)
            return Finished(
                termination: termination, timedOut: timedOut,
                output: timedOut ? output + "\n[killed after \(timeout) s]" : output)
        }
    }

    /// Runs a program to its end (killed after `timeout` seconds), stdout and
    /// stderr merged.
    static func run(_ arguments: [String], timeout: Double) -> Finished {
        do {
            let completed = try ChildProcess.run(
                arguments[0], arguments: Array(arguments.dropFirst()), mergingErrors: true,
                timeout: Durations.fromSeconds(timeout))
            let output = String(decoding: completed.standardOutput, as: UTF8.self)
            return Finished(
                termination: completed.termination, timedOut: completed.timedOut,
                output: completed.timedOut ? output + "\n[killed after \(timeout) s]" : output)
        } catch {
            return Finished(termination: nil, timedOut: false, output: "could not start \(arguments[0]): \(ErrorText.describe(error))")
        }
    }
}
