import Foundation
import Testing

/// Builds and runs the peer programs that two-process tests spawn: the Swift
/// test peer (built by SwiftPM next to this bundle) and C programs compiled
/// here against include/shmemaphore.h and the freshly built libshmemaphore.so.
enum PeerProcesses {
    enum Implementation: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case swift, c
        var testDescription: String { rawValue }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A folder for compiled C programs, with the `libshmemaphore.so.1` name
    /// that the library's soname makes the dynamic loader look for.
    static let cBuildDirectory: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shmemaphore-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let library = TestSupport.productsDirectory.appendingPathComponent("libshmemaphore.so").path
        try? FileManager.default.createSymbolicLink(
            atPath: directory.appendingPathComponent("libshmemaphore.so.1").path, withDestinationPath: library)
        return directory
    }()

    private static let compiled = Mutex<[String: Result<URL, Failure>]>([:])

    /// Compiles `Tests/CPeer/<source>` once per test run (C11, warnings as errors).
    static func cProgram(_ source: String) throws -> URL {
        try compiled.withLock { cache -> Result<URL, Failure> in
            if let known = cache[source] { return known }
            let output = cBuildDirectory.appendingPathComponent((source as NSString).deletingPathExtension)
            let compiler = ProcessInfo.processInfo.environment["CC"] ?? "cc"
            let arguments = [
                compiler, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic",
                "-I", TestSupport.packageRoot.appendingPathComponent("include").path,
                TestSupport.packageRoot.appendingPathComponent("Tests/CPeer/\(source)").path,
                "-L", TestSupport.productsDirectory.path, "-lshmemaphore",
                "-Wl,-rpath,\(cBuildDirectory.path)", "-o", output.path,
            ]
            let result = run(arguments, timeout: 120)
            let outcome: Result<URL, Failure> =
                result.status == 0
                ? .success(output) : .failure(Failure(description: "compiling \(source) failed:\n\(result.output)"))
            cache[source] = outcome
            return outcome
        }.get()
    }

    /// The command that runs `implementation`'s test peer.
    static func peerCommand(_ implementation: Implementation) throws -> [String] {
        switch implementation {
        case .swift: return [TestSupport.productsDirectory.appendingPathComponent("shmemaphore-testpeer").path]
        case .c: return [try cProgram("c_peer.c").path]
        }
    }

    struct Finished {
        let status: Int32
        let output: String
    }

    /// Starts a process with stdout and stderr merged into a temporary file.
    final class Running {
        let process = Process()
        let log: URL

        init(_ arguments: [String]) throws {
            log = FileManager.default.temporaryDirectory.appendingPathComponent("shmemaphore-peer-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            try handle.close()
        }

        /// A peer still running when its test ends (a failed expectation threw)
        /// is killed, so it cannot re-create objects after the test's cleanup.
        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: log)
        }

        /// Waits up to `timeout` seconds; a process still running then is killed
        /// (so a hang fails the test instead of stalling the suite).
        func wait(timeout: Double) -> Finished {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(5_000) }
            var timedOut = false
            if process.isRunning {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: log)
            return Finished(status: timedOut ? -1 : process.terminationStatus, output: timedOut ? output + "\n[killed after \(timeout) s]" : output)
        }
    }

    static func run(_ arguments: [String], timeout: Double) -> Finished {
        do {
            return try Running(arguments).wait(timeout: timeout)
        } catch {
            return Finished(status: -1, output: "could not start \(arguments[0]): \(error)")
        }
    }
}
