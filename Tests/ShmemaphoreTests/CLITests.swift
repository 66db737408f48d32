import Foundation
import Testing

@testable import Shmemaphore

/// Tests of the `shmemaphore` command-line tool (SwiftPM product
/// `shmemaphore-cli`), run as a separate process the way users run it.
@Suite("shmemaphore command-line tool")
struct CLITests {
    // MARK: make-images

    @Test func makeImagesWritesTheManifestAndFilesThatDecodeToIt() throws {
        let folder = try TemporaryFolder()
        let run = CLI.run(["make-images", folder.path], timeout: 60)
        try #require(run.status == 0, "make-images failed: \(run.stderr)")
        let manifest = try String(contentsOfFile: folder.path + "/MANIFEST", encoding: .utf8)
        let lines = manifest.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let expectedShapes: [(String, String, UInt64, UInt64, UInt64)] = [
            ("p", "p.tga", 1, 1, 1), ("ga", "ga.png", 64, 64, 2), ("odd", "odd.tga", 333, 77, 3),
            ("vga", "vga.tga", 640, 480, 4), ("hd", "hd.tga", 1920, 1080, 3), ("uhd", "uhd.tga", 3840, 2160, 4),
        ]
        try #require(lines.count == expectedShapes.count, "MANIFEST:\n\(manifest)")
        for (fields, expected) in zip(lines, expectedShapes) {
            #expect(fields.count == 5)
            #expect(fields[0] == expected.0)
            #expect(fields[1...3] == ["\(expected.2)", "\(expected.3)", "\(expected.4)"])
            #expect(fields[4].count == 16 && fields[4] == fields[4].lowercased())
            let decoded = try ImageCodec.withDecodedFile(at: folder.path + "/" + expected.1) { metadata, pixels in
                (metadata.width, metadata.height, metadata.channels, fnv1a64Hex(pixels))
            }
            #expect(decoded.0 == expected.2 && decoded.1 == expected.3 && decoded.2 == expected.4, "\(expected.1)")
            #expect(decoded.3 == fields[4], "\(expected.1): the file decodes to another digest than MANIFEST lists")
        }
        // The pixels come from a fixed seed: a second run writes the same digests.
        let again = try TemporaryFolder()
        try #require(CLI.run(["make-images", again.path], timeout: 60).status == 0)
        #expect(try String(contentsOfFile: again.path + "/MANIFEST", encoding: .utf8) == manifest)
    }

    // MARK: server and client

    @Test func serverAndClientExchangeImagesAndErrorsOverARequestFile() throws {
        let folder = try TemporaryFolder()
        let images = folder.path + "/img", out = folder.path + "/out"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        let pixels: [UInt8] = (0..<45).map { UInt8($0 * 5) }
        let metadata = try ResponseMetadata.image(width: 5, height: 3, channels: 3)
        try pixels.withUnsafeBytes { try ImageCodec.save(metadata, pixels: $0, to: images + "/a.png") }
        let digest = pixels.withUnsafeBytes { fnv1a64Hex($0) }
        // "a" and the unknown name "zebra"; a last line without a newline counts.
        try Data("a\nzebra".utf8).write(to: URL(fileURLWithPath: folder.path + "/requests"))

        try TestSupport.withChannel { channel in
            let client = try PeerProcesses.Running([CLI.path, "client", "--channel", channel, "--dir", images])
            let server = CLI.run(
                ["server", "--channel", channel, "--requests", folder.path + "/requests", "--count", "5", "--out", out,
                 "--timeout", "10"], timeout: 30)
            let clientRun = client.wait(timeout: 10)
            #expect(server.status == 0, "server: \(server.stderr)")
            #expect(clientRun.status == 0, "client: \(clientRun.output)")

            let lines = server.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            try #require(lines.count == 5, "server output:\n\(server.stdout)")
            for (number, fields) in lines.enumerated() {
                let index = number + 1
                #expect(fields[0] == "\(index)")
                #expect(isMilliseconds(fields[fields[2] == "image" ? 8 : 4]), "line \(index): \(fields)")
                if index % 2 == 1 {  // "a"
                    #expect(Array(fields[1...7]) == ["1", "image", "5", "3", "3", "45", digest], "line \(index)")
                    #expect(fields.count == 10 && fields[9] == "\(out)/a-\(index).png", "line \(index): \(fields)")
                    let saved = try ImageCodec.withDecodedFile(at: "\(out)/a-\(index).png") { _, pixels in fnv1a64Hex(pixels) }
                    #expect(saved == digest)
                } else {  // "zebra": not found
                    #expect(Array(fields[1...3]) == ["5", "error", "1"] && fields.count == 5, "line \(index): \(fields)")
                }
            }
            #expect(server.stderr.contains("server: request 2: peer error 1: no such image: zebra"), "\(server.stderr)")
            #expect(clientRun.output.contains("a -> \(images)/a.png 5x3x3"), "\(clientRun.output)")
            #expect(clientRun.output.contains("zebra -> not found"), "\(clientRun.output)")
            #expect(clientRun.output.contains("server closed the channel"), "\(clientRun.output)")
        }

        // An empty line is an empty request, answered "bad request" (2).
        try Data("\np\n".utf8).write(to: URL(fileURLWithPath: folder.path + "/requests"))
        try TestSupport.withChannel { channel in
            let client = try PeerProcesses.Running([CLI.path, "client", "--channel", channel, "--dir", images])
            let server = CLI.run(
                ["server", "--channel", channel, "--requests", folder.path + "/requests", "--count", "2"], timeout: 30)
            let clientRun = client.wait(timeout: 10)
            #expect(server.status == 0 && clientRun.status == 0, "\(server.stderr)\n\(clientRun.output)")
            let kinds = server.stdout.split(separator: "\n").map { $0.split(separator: " ").prefix(4).joined(separator: " ") }
            #expect(kinds == ["1 0 error 2", "2 1 error 1"], "\(server.stdout)")
            #expect(clientRun.output.contains("<0-byte request> -> bad request (empty request)"), "\(clientRun.output)")
        }
    }

    @Test func exitStatusesSeparateUsageErrorsFromAMissingServer() throws {
        #expect(CLI.run(["server", "--count", "0"], timeout: 10).status == 2)
        #expect(CLI.run(["client", "--channel", "bad\u{1}name", "--dir", "/"], timeout: 10).status == 2)
        TestSupport.withChannel { channel in
            let started = Date()
            let run = CLI.run(["client", "--channel", channel, "--dir", "/", "--attach-timeout", "0.2"], timeout: 10)
            #expect(run.status == 3, "\(run.stderr)")
            #expect(run.stderr.contains("no server opened channel"), "\(run.stderr)")
            #expect(Date().timeIntervalSince(started) < 5)
        }
    }

    // MARK: rm and ls

    @Test func rmRemovesExactlyTheFourObjectsOfAChannel() throws {
        try TestSupport.withChannel { channel in
            // A neighbour whose name starts with ours, and one that ours starts with.
            let neighbours = [channel + "x", channel + "_HEAD", String(channel.dropLast())]
            defer { neighbours.forEach(TestSupport.removeObjects) }
            for name in [channel] + neighbours { try makeStaleChannel(name) }

            let run = CLI.run(["rm", channel], timeout: 10)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(TestSupport.existingObjects(of: channel) == [])
            for name in ["SEG_\(channel)_HEAD", "SEG_\(channel)_DATA", "sem.SEM_\(channel)_REQ", "sem.SEM_\(channel)_RES"] {
                #expect(run.stdout.contains(name), "\(run.stdout)")
            }
            for neighbour in neighbours {
                #expect(TestSupport.existingObjects(of: neighbour).count == 4, "\(neighbour) lost objects")
            }

            // Nothing left to remove, and an invalid name: both fail, and say so.
            let again = CLI.run(["rm", channel], timeout: 10)
            #expect(again.status == 1 && again.stderr.contains("none of its four objects exists"), "\(again.stderr)")
            let invalid = CLI.run(["rm", "bad\u{1}name"], timeout: 10)
            #expect(invalid.status == 1 && invalid.stderr.contains("invalid channel name"), "\(invalid.stderr)")
        }
    }

    @Test func lsShowsStaleAndAliveChannelsAndRmRefusesAnAliveOne() throws {
        // The stale channel is left on purpose; withChannel still removes it afterwards.
        try TestSupport.withChannel(expectClean: false) { stale in
            try TestSupport.withChannel { alive in
                try makeStaleChannel(stale)
                let server = try ShmemaphoreServer(channel: alive)
                defer { server.close() }

                let run = CLI.run(["ls", "--json"], timeout: 30)
                try #require(run.status == 0, "\(run.stderr)")
                var states: [String: [String: Any]] = [:]
                for line in run.stdout.split(separator: "\n") {
                    let object = try #require(
                        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                    if let name = object["channel"] as? String { states[name] = object }
                }
                let staleEntry = try #require(states[stale], "\(stale) not listed:\n\(run.stdout)")
                let aliveEntry = try #require(states[alive], "\(alive) not listed:\n\(run.stdout)")
                #expect(staleEntry["state"] as? String == "stale")
                #expect((staleEntry["pids"] as? [Int]) == [])
                #expect(staleEntry["server"] as? Bool == false, "the crashed server's liveness lock is gone")
                #expect(aliveEntry["state"] as? String == "alive")
                #expect(aliveEntry["server"] as? Bool == true, "the live server holds its liveness lock")
                #expect((aliveEntry["pids"] as? [Int])?.contains(Int(getpid())) == true, "\(aliveEntry)")
                let objects = try #require(aliveEntry["objects"] as? [String: [String: Any]])
                #expect(Set(objects.keys) == ["head", "data", "req", "res"])
                #expect(objects["data"]?["mode"] as? String == "0600")
                #expect(objects["req"]?["value"] as? Int == 0)

                let refused = CLI.run(["rm", alive], timeout: 10)
                #expect(refused.status == 1 && refused.stderr.contains("is alive"), "\(refused.stderr)")
                #expect(TestSupport.existingObjects(of: alive).count == 4)
            }
        }
    }

    // MARK: conformance

    @Test func conformanceOfTheSwiftImplementationWithItselfPasses() throws {
        let run = CLI.run(["conformance", "--only", "swift", "--count", "50"], timeout: 120)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.last == "1 passed, 0 failed", "\(run.stdout)")
        #expect(lines.contains { $0.hasPrefix("swift") && $0.contains("PASS") && $0.contains(" 50 ") }, "\(run.stdout)")
    }

    // MARK: Helpers

    /// Leaves the four objects of `name` behind as a crashed server would: the
    /// Swift test peer opens the channel with the library and is killed while
    /// it holds it.
    private func makeStaleChannel(_ name: String) throws {
        let peer = TestSupport.productsDirectory.appendingPathComponent("shmemaphore-testpeer").path
        let server = try PeerProcesses.Running([peer, "server", name, "pause:10000"])
        let deadline = Date().addingTimeInterval(10)
        while TestSupport.existingObjects(of: name).count < 4 && Date() < deadline { usleep(2_000) }
        kill(server.process.processIdentifier, SIGKILL)
        _ = server.wait(timeout: 5)
        try #require(TestSupport.existingObjects(of: name).count == 4, "the crashed peer left no objects")
    }
}

/// Runs the tool with separate standard output and standard error.
private enum CLI {
    static var path: String { TestSupport.productsDirectory.appendingPathComponent("shmemaphore-cli").path }

    struct Finished {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: [String], timeout: Double) -> Finished {
        let stdoutLog = FileManager.default.temporaryDirectory.appendingPathComponent("shmemaphore-cli-\(UUID().uuidString).out")
        let stderrLog = stdoutLog.deletingPathExtension().appendingPathExtension("err")
        defer {
            try? FileManager.default.removeItem(at: stdoutLog)
            try? FileManager.default.removeItem(at: stderrLog)
        }
        do {
            _ = FileManager.default.createFile(atPath: stdoutLog.path, contents: nil)
            _ = FileManager.default.createFile(atPath: stderrLog.path, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = try FileHandle(forWritingTo: stdoutLog)
            process.standardError = try FileHandle(forWritingTo: stderrLog)
            try process.run()
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(5_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return Finished(
                status: process.terminationReason == .exit ? process.terminationStatus : -1,
                stdout: (try? String(contentsOf: stdoutLog, encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOf: stderrLog, encoding: .utf8)) ?? "")
        } catch {
            return Finished(status: -1, stdout: "", stderr: "could not run \(path): \(error)")
        }
    }
}

/// A folder under the temporary directory, removed when the value goes away.
private final class TemporaryFolder {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("shmemaphore-cli-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// FNV-1a 64 as 16 lower-case hex digits, written independently of the tool's.
private func fnv1a64Hex(_ bytes: UnsafeRawBufferPointer) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    let digits = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// "12.345": the three-decimal milliseconds of the output format.
private func isMilliseconds(_ text: String) -> Bool {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 2 && !parts[0].isEmpty && parts[1].count == 3 && parts.allSatisfy { $0.allSatisfy(\.isNumber) }
}
