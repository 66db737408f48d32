import Foundation
import ShmemaphoreTools
import Testing

@testable import Shmemaphore

/// Tests of the `shmemaphore` command-line tool (SwiftPM product
/// `shmemaphore-cli`) and of the conformance runner's `make-images` and
/// pairings, run as separate processes the way users run them.
@Suite("shmemaphore command-line tool")
struct CLITests {
    // MARK: make-images

    @Test func makeImagesWritesTheManifestAndFilesThatDecodeToIt() throws {
        let folder = try TemporaryFolder()
        let run = CLI.run(CLI.conformance, ["make-images", folder.path], timeout: TestSupport.patienceSeconds)
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
        try #require(CLI.run(CLI.conformance, ["make-images", again.path], timeout: TestSupport.patienceSeconds).status == 0)
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
            let client = try PeerProcesses.Running([CLI.path, "client", "--channel", channel, "--dir", images, "--attach-timeout", TestSupport.patienceArgument])
            let server = CLI.run(
                ["server", "--channel", channel, "--requests", folder.path + "/requests", "--count", "5", "--out", out,
                 "--timeout", TestSupport.patienceArgument], timeout: TestSupport.patienceSeconds * 2)
            let clientRun = client.wait(timeout: TestSupport.patienceSeconds)
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
            let client = try PeerProcesses.Running([CLI.path, "client", "--channel", channel, "--dir", images, "--attach-timeout", TestSupport.patienceArgument])
            let server = CLI.run(
                ["server", "--channel", channel, "--requests", folder.path + "/requests", "--count", "2", "--timeout", TestSupport.patienceArgument],
                timeout: TestSupport.patienceSeconds * 2)
            let clientRun = client.wait(timeout: TestSupport.patienceSeconds)
            #expect(server.status == 0 && clientRun.status == 0, "\(server.stderr)\n\(clientRun.output)")
            let kinds = server.stdout.split(separator: "\n").map { $0.split(separator: " ").prefix(4).joined(separator: " ") }
            #expect(kinds == ["1 0 error 2", "2 1 error 1"], "\(server.stdout)")
            #expect(clientRun.output.contains("<0-byte request> -> bad request (empty request)"), "\(clientRun.output)")
        }
    }

    @Test func exitStatusesSeparateUsageErrorsFromAMissingServer() throws {
        #expect(CLI.run(["server", "--count", "0"], timeout: TestSupport.patienceSeconds).status == 2)
        #expect(CLI.run(["client", "--channel", "bad\u{1}name", "--dir", "/"], timeout: TestSupport.patienceSeconds).status == 2)
        TestSupport.withChannel { channel in
            let started = Date()
            let run = CLI.run(["client", "--channel", channel, "--dir", "/", "--attach-timeout", "0.2"], timeout: TestSupport.patienceSeconds)
            #expect(run.status == 3, "\(run.stderr)")
            #expect(run.stderr.contains("no server opened channel"), "\(run.stderr)")
            #expect(Date().timeIntervalSince(started) < TestSupport.patienceSeconds / 2)
        }
    }

    // MARK: rm and ls

    @Test func rmRemovesExactlyTheFourObjectsOfAChannel() throws {
        try TestSupport.withChannel { channel in
            // A neighbour whose name starts with ours, and one that ours starts with.
            let neighbours = [channel + "x", channel + "_HEAD", String(channel.dropLast())]
            defer { neighbours.forEach(TestSupport.removeObjects) }
            for name in [channel] + neighbours { try makeStaleChannel(name) }

            let run = CLI.run(["rm", channel], timeout: TestSupport.patienceSeconds)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(TestSupport.existingObjects(of: channel) == [])
            for name in ["SEG_\(channel)_HEAD", "SEG_\(channel)_DATA", "sem.SEM_\(channel)_REQ", "sem.SEM_\(channel)_RES"] {
                #expect(run.stdout.contains(name), "\(run.stdout)")
            }
            for neighbour in neighbours {
                #expect(TestSupport.existingObjects(of: neighbour).count == 4, "\(neighbour) lost objects")
            }

            // Nothing left to remove, and an invalid name: both fail, and say so.
            let again = CLI.run(["rm", channel], timeout: TestSupport.patienceSeconds)
            #expect(again.status == 1 && again.stderr.contains("none of its four objects exists"), "\(again.stderr)")
            let invalid = CLI.run(["rm", "bad\u{1}name"], timeout: TestSupport.patienceSeconds)
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

                let run = CLI.run(["ls", "--json"], timeout: TestSupport.patienceSeconds)
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

                let refused = CLI.run(["rm", alive], timeout: TestSupport.patienceSeconds)
                #expect(refused.status == 1 && refused.stderr.contains("is alive"), "\(refused.stderr)")
                #expect(TestSupport.existingObjects(of: alive).count == 4)
            }
        }
    }

    // MARK: hostile objects in /dev/shm

    /// Runs of each command; at the old code's rate (about one run in ten
    /// died of SIGBUS) a run of this many without a death is all but impossible.
    private static let hostileRuns = 300

    @Test func lsAndRmSurviveObjectsThatTheirOwnerKeepsTruncating() throws {
        let channel = TestSupport.uniqueChannelName()
        let files = DevShmFiles()
        defer { files.removeAll() }
        let semaphoreSize = MemoryLayout<sem_t>.size
        let request = try files.create("sem.SEM_\(channel)_REQ", size: semaphoreSize)
        let response = try files.create("sem.SEM_\(channel)_RES", size: semaphoreSize)
        let header = try files.create("SEG_\(channel)_HEAD", size: 64)
        // DATA stays open in this process: the channel looks alive, so each
        // rm inspects all four objects and then refuses, leaving them for the next run.
        try files.create("SEG_\(channel)_DATA", size: 4096)
        let churn = TruncationChurn([(request, semaphoreSize), (response, semaphoreSize), (header, 64)])
        defer { churn.stop() }

        var lsFailures: [String] = []
        for _ in 0..<Self.hostileRuns {
            let run = CLI.run(["ls"], timeout: TestSupport.patienceSeconds)
            if run.status != 0 || !run.stdout.contains(channel) { lsFailures.append(run.summary) }
        }
        var rmFailures: [String] = []
        for _ in 0..<Self.hostileRuns {
            let run = CLI.run(["rm", channel], timeout: TestSupport.patienceSeconds)
            if run.status != 1 || !run.stderr.contains("is alive") { rmFailures.append(run.summary) }
        }
        let rounds = churn.stop()
        #expect(rounds > 0, "the files were never truncated")
        #expect(lsFailures.isEmpty, "\(lsFailures.count) of \(Self.hostileRuns) ls runs failed, first: \(lsFailures.first ?? "")")
        #expect(rmFailures.isEmpty, "\(rmFailures.count) of \(Self.hostileRuns) rm runs failed, first: \(rmFailures.first ?? "")")
        #expect(TestSupport.existingObjects(of: channel).count == 4, "rm removed objects of an alive channel")
    }

    @Test func lsAndRmPrintHostileNamesOnlyAsEscapedText() throws {
        let files = DevShmFiles()
        defer { files.removeAll() }
        let prefix = "shmtest-\(getpid())-hostile-"
        // Clear screen, set the window title, a forged line, a bidi override,
        // a C1 CSI, a byte that is not UTF-8, a backslash.
        let hostile: [UInt8] =
            Array(prefix.utf8) + [0x1B] + Array("[2J".utf8) + [0x1B] + Array("]0;owned".utf8) + [0x07, 0x2D, 0x0A]
            + Array("forged-".utf8) + [0xE2, 0x80, 0xAE, 0xC2, 0x9B, 0xFF, 0x5C] + Array("end".utf8)
        let escaped = prefix + #"\x1b[2J\x1b]0;owned\x07-\x0aforged-\xe2\x80\xae\xc2\x9b\xff\\end"#
        try files.create(Array("SEG_".utf8) + hostile + Array("_HEAD".utf8), size: 64)
        try files.create(Array("sem.SEM_".utf8) + hostile + Array("_REQ".utf8), size: MemoryLayout<sem_t>.size)

        let table = CLI.run(["ls"], timeout: TestSupport.patienceSeconds)
        try #require(table.status == 0, "\(table.summary)")
        #expect(rawControlCharacters(in: table.stdoutBytes) == [], "\(table.stdout)")
        let row = table.stdout.split(separator: "\n").first { $0.hasPrefix(escaped) }
        #expect(row?.contains("stale") == true, "no row for the channel, on one line:\n\(table.stdout)")
        #expect(table.stdout.contains("SEG_\(escaped)_HEAD") && table.stdout.contains("sem.SEM_\(escaped)_REQ"))

        let json = CLI.run(["ls", "--json"], timeout: TestSupport.patienceSeconds)
        try #require(json.status == 0, "\(json.summary)")
        #expect(rawControlCharacters(in: json.stdoutBytes) == [], "\(json.stdout)")
        let entries = try json.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
        let entry = try #require(entries.first { $0["channel"] as? String == escaped }, "\(json.stdout)")
        let objects = try #require(entry["objects"] as? [String: [String: Any]])
        #expect(objects["head"]?["path"] as? String == "/dev/shm/SEG_\(escaped)_HEAD")

        // A name given to rm is printed the same way (a control character makes it invalid).
        let removal = CLI.run(["rm", "x\u{1B}]0;owned\u{07}\u{202E}y"], timeout: TestSupport.patienceSeconds)
        #expect(removal.status == 1)
        #expect(rawControlCharacters(in: Array(removal.stderr.utf8)) == [], "\(removal.stderr)")
        #expect(removal.stderr.contains(#"x\x1b]0;owned\x07\xe2\x80\xaey"#), "\(removal.stderr)")
    }

    @Test func serverAndClientPrintHostileRequestsAndPeerMessagesEscaped() throws {
        let folder = try TemporaryFolder()
        // No images: the client answers each request "not found", quoting it in its error message.
        try Data("a\u{1B}[2Jb\n\u{1B}]0;owned\u{07}\n\u{202E}evil\n".utf8).write(
            to: URL(fileURLWithPath: folder.path + "/requests"))
        try TestSupport.withChannel { channel in
            let client = try PeerProcesses.Running([CLI.path, "client", "--channel", channel, "--dir", folder.path, "--attach-timeout", TestSupport.patienceArgument])
            let server = CLI.run(
                ["server", "--channel", channel, "--requests", folder.path + "/requests", "--count", "3", "--timeout", TestSupport.patienceArgument],
                timeout: TestSupport.patienceSeconds * 2)
            let clientRun = client.wait(timeout: TestSupport.patienceSeconds)
            #expect(server.status == 0 && clientRun.status == 0, "\(server.stderr)\n\(clientRun.output)")
            for (who, output) in [("server stdout", server.stdout), ("server stderr", server.stderr), ("client", clientRun.output)] {
                #expect(rawControlCharacters(in: Array(output.utf8)) == [], "\(who): \(output)")
            }
            for shown in [#"a\x1b[2Jb"#, #"\x1b]0;owned\x07"#, #"\xe2\x80\xaeevil"#] {
                #expect(server.stderr.contains("peer error 1: no such image: \(shown)"), "\(server.stderr)")
                #expect(clientRun.output.contains("\(shown) -> not found"), "\(clientRun.output)")
            }
        }
    }

    @Test func lsAndRmNeverFollowASymlinkNamedLikeAnObject() throws {
        try TestSupport.withChannel { channel in
            let name = try ChannelName(channel)
            let folder = try TemporaryFolder()
            // Targets: a semaphore with count 5 and a file the size of a HEAD,
            // outside /dev/shm, and a file in /dev/shm that this process keeps
            // open (ls reports who uses the files there).
            let semaphoreTarget = folder.path + "/semaphore", headerTarget = folder.path + "/header"
            let dataTarget = "/dev/shm/\(channel)-symlink-target"
            defer { unlink(dataTarget) }
            var semaphore = sem_t()
            try #require(sem_init(&semaphore, 1, 5) == 0)
            let semaphoreBytes = withUnsafeBytes(of: &semaphore) { Data($0) }
            let headerBytes = Data(repeating: 0x5A, count: 64)
            try semaphoreBytes.write(to: URL(fileURLWithPath: semaphoreTarget))
            try headerBytes.write(to: URL(fileURLWithPath: headerTarget))
            try Data(count: 4096).write(to: URL(fileURLWithPath: dataTarget))
            let dataHandle = try FileHandle(forReadingFrom: URL(fileURLWithPath: dataTarget))
            defer { try? dataHandle.close() }
            let requestPath = ChannelName.filesystemPath(ofSemaphore: name.requestSemaphore)
            let headerPath = ChannelName.filesystemPath(ofSegment: name.headerSegment)
            let dataPath = ChannelName.filesystemPath(ofSegment: name.dataSegment)
            // withChannel's cleanup unlinks the names, which removes a symlink itself.
            try #require(
                symlink(semaphoreTarget, requestPath) == 0 && symlink(headerTarget, headerPath) == 0
                    && symlink(dataTarget, dataPath) == 0)
            let watch = try FileWatch([semaphoreTarget, headerTarget, dataTarget])

            let listed = CLI.run(["ls", "--json"], timeout: TestSupport.patienceSeconds)
            try #require(listed.status == 0, "\(listed.summary)")
            let entry = try #require(
                try listed.stdout.split(separator: "\n").compactMap {
                    try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }.first { $0["channel"] as? String == channel }, "\(listed.stdout)")
            let objects = try #require(entry["objects"] as? [String: [String: Any]])
            #expect(objects["req"]?["type"] as? String == "symlink", "\(entry)")
            #expect(objects["req"]?["value"] == nil, "ls read the count of the symlink's target: \(entry)")
            #expect(objects["head"]?["type"] as? String == "symlink", "\(entry)")
            // Whoever has the target open does not use the symlink: a lookup by name would follow it.
            #expect(objects["data"]?["pids"] as? [Int] == [], "ls followed the DATA symlink to its target's users: \(entry)")
            #expect(entry["server"] == nil && entry["state"] as? String == "stale", "\(entry)")
            let table = CLI.run(["ls"], timeout: TestSupport.patienceSeconds)
            let requestRow = table.stdout.split(separator: "\n").first { $0.contains("sem.SEM_\(channel)_REQ") }
            #expect(requestRow?.contains("symlink") == true, "\(table.stdout)")
            #expect(watch.events() == [], "ls opened or touched a symlink's target")

            let removed = CLI.run(["rm", channel], timeout: TestSupport.patienceSeconds)
            #expect(removed.status == 0, "\(removed.summary)")
            #expect(removed.stdout.contains("sem.SEM_\(channel)_REQ (a symlink, not followed)"), "\(removed.stdout)")
            var status = stat()
            #expect(
                lstat(requestPath, &status) == -1 && lstat(headerPath, &status) == -1 && lstat(dataPath, &status) == -1,
                "rm left the symlinks")
            #expect(watch.events() == [], "rm opened or touched a symlink's target")
            #expect(FileManager.default.contents(atPath: semaphoreTarget) == semaphoreBytes)
            #expect(FileManager.default.contents(atPath: headerTarget) == headerBytes)
            #expect(FileManager.default.contents(atPath: dataTarget)?.count == 4096)
        }
    }

    // MARK: conformance (the runner, shmemaphore-conformance)

    @Test func conformanceOfTheSwiftImplementationWithItselfPasses() throws {
        // The runner finds the tool beside itself (SwiftPM names it shmemaphore-cli).
        let run = CLI.run(CLI.conformance, ["--only", "swift", "--count", "50"], timeout: TestSupport.patienceSeconds * 5)
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
        let server = try PeerProcesses.Running([peer, "server", name, "pause:600000"])
        let deadline = Date().addingTimeInterval(TestSupport.patienceSeconds)
        while TestSupport.existingObjects(of: name).count < 4 && Date() < deadline { usleep(2_000) }
        kill(server.pid, SIGKILL)
        _ = server.wait(timeout: TestSupport.patienceSeconds)
        try #require(TestSupport.existingObjects(of: name).count == 4, "the crashed peer left no objects")
    }
}

/// Runs one of the programs (the tool by default) with separate standard
/// output and standard error, with the tools' spawner.
private enum CLI {
    /// The `shmemaphore` tool (SwiftPM product `shmemaphore-cli`).
    static var path: String { program("shmemaphore-cli") }
    /// The conformance runner.
    static var conformance: String { program("shmemaphore-conformance") }

    static func program(_ name: String) -> String { TestSupport.productsDirectory.appendingPathComponent(name).path }

    struct Finished {
        /// The exit status; -1 when the program was killed (by a signal or the timeout).
        let status: Int32
        /// The signal that killed the program, if one did.
        let signal: Int32?
        /// Standard output exactly as written (to check for raw control bytes).
        let stdoutBytes: [UInt8]
        let stdout: String
        let stderr: String

        /// How the run ended, for failure messages.
        var summary: String {
            if let signal { return "killed by signal \(signal) (\(String(cString: strsignal(signal))))" }
            return "exit status \(status): \(stderr.split(separator: "\n").last ?? "")"
        }
    }

    /// Runs the tool.
    static func run(_ arguments: [String], timeout: Double) -> Finished { run(path, arguments, timeout: timeout) }

    /// Runs `program`; killed with SIGKILL when `timeout` passes.
    static func run(_ program: String, _ arguments: [String], timeout: Double) -> Finished {
        do {
            let completed = try ChildProcess.run(program, arguments: arguments, timeout: Durations.fromSeconds(timeout))
            var status: Int32 = -1, signal: Int32?
            switch completed.termination {
            case .exited(let code): status = code
            case .signaled(let number): signal = number
            }
            return Finished(
                status: status, signal: signal, stdoutBytes: completed.standardOutput,
                stdout: String(decoding: completed.standardOutput, as: UTF8.self),
                stderr: String(decoding: completed.standardError, as: UTF8.self))
        } catch {
            return Finished(
                status: -1, signal: nil, stdoutBytes: [], stdout: "", stderr: "could not run \(program): \(ErrorText.describe(error))")
        }
    }
}

/// What in `output` a terminal would act on instead of showing: control
/// characters other than the newline that ends each line, DEL, C1 controls,
/// bidi embeddings, overrides and isolates, bytes that are not UTF-8.
/// Empty when the output is safe to print.
private func rawControlCharacters(in output: [UInt8]) -> [String] {
    guard let text = String(validating: output, as: UTF8.self) else { return ["bytes that are not UTF-8"] }
    return text.unicodeScalars.compactMap { scalar in
        switch scalar.value {
        case 0x0A: return nil
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069:
            return "U+" + String(scalar.value, radix: 16, uppercase: true)
        default: return nil
        }
    }
}

/// Files made directly in /dev/shm under any name, as a hostile owner
/// would make them.  `removeAll` (call it from a `defer`) unlinks every one
/// and closes their descriptors, however the test ends.
private final class DevShmFiles {
    private var paths: [[UInt8]] = []
    private var descriptors: [Int32] = []

    /// Creates /dev/shm/NAME (raw bytes) with mode 0600 and `size` zero
    /// bytes; returns its descriptor, open read-write until `removeAll`.
    @discardableResult
    func create(_ name: [UInt8], size: Int) throws -> Int32 {
        let path = Array("/dev/shm/".utf8) + name
        let descriptor = withCPath(path) { open($0, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600) }
        try #require(descriptor >= 0, "cannot create \(String(decoding: path, as: UTF8.self)): errno \(errno)")
        paths.append(path)
        descriptors.append(descriptor)
        try #require(ftruncate(descriptor, off_t(size)) == 0)
        return descriptor
    }

    /// `create` for a name that is text.
    @discardableResult
    func create(_ name: String, size: Int) throws -> Int32 { try create(Array(name.utf8), size: size) }

    /// Unlinks every file made here and closes the descriptors.
    func removeAll() {
        for path in paths { _ = withCPath(path) { unlink($0) } }
        for descriptor in descriptors { close(descriptor) }
        paths = []
        descriptors = []
    }

    private func withCPath<Result>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) -> Result) -> Result {
        (path.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// A thread that, like a hostile owner, truncates files to 0 bytes and grows
/// them back, over and over, until `stop`.
private final class TruncationChurn: @unchecked Sendable {
    private let stopRequested = Mutex(false)
    private let rounds = Mutex(0)
    private let finished = DispatchSemaphore(value: 0)
    private var stopped = false

    init(_ files: [(descriptor: Int32, size: Int)]) {
        Thread { [self] in
            var count = 0
            while !stopRequested.withLock({ $0 }) {
                for file in files {
                    _ = ftruncate(file.descriptor, 0)
                    _ = ftruncate(file.descriptor, off_t(file.size))
                }
                count += 1
            }
            rounds.withLock { $0 = count }
            finished.signal()
        }.start()
    }

    /// Stops the thread (once; later calls only report) and returns how many
    /// rounds of truncations it made.
    @discardableResult
    func stop() -> Int {
        if !stopped {
            stopRequested.withLock { $0 = true }
            finished.wait()
            stopped = true
        }
        return rounds.withLock { $0 }
    }
}

/// Watches files with inotify for anything done to them: opened, read,
/// written, changed, removed.
private final class FileWatch {
    private let descriptor: Int32

    init(_ paths: [String]) throws {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        try #require(descriptor >= 0)
        let events = UInt32(IN_OPEN | IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
        for path in paths { try #require(inotify_add_watch(descriptor, path, events) >= 0, "cannot watch \(path)") }
    }

    deinit { close(descriptor) }

    /// The event masks that arrived since the last call (inotify queues an
    /// event as part of the system call that causes it: nothing to wait for).
    func events() -> [UInt32] {
        var masks: [UInt32] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return masks }
            var offset = 0
            // struct inotify_event: wd, mask, cookie, len, then len bytes of name.
            while offset + 16 <= count {
                let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                let nameLength = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) }
                masks.append(mask)
                offset += 16 + Int(nameLength)
            }
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
