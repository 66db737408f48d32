import ArgumentParser
import FoundationEssentials
import Glibc
import ShmemaphoreTools

/// `shmemaphore demo`: the first thing a new user runs.  Draws four pictures,
/// then has the Swift server talk to the C client and the C server to the
/// Swift client, and shows what went where and how fast.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Exchange images between the Swift and the C server and client.",
        discussion: """
            Draws four test pictures (apple, ball, car, dog) into DIR/images, then \
            runs two pairings over fresh channels: this tool's server with the C \
            example client, and the C example server with this tool's client. The \
            C examples are looked for next to this executable (where the CMake build \
            puts them: shmemaphore-example-server and shmemaphore-example-client) or \
            given with --c-server/--c-client; without them the demo pairs the Swift \
            server with the Swift client. Received images are saved into \
            DIR/received-swift-server/ and DIR/received-c-server/, the programs' logs \
            into DIR/logs/.

            Exit status: 0 every exchange succeeded; 1 something failed; 2 usage error.
            """
    )

    @Option(help: ArgumentHelp("Folder for the pictures, received images and logs.", valueName: "DIR"))
    var dir = "shmemaphore-demo"

    @Option(help: ArgumentHelp("The C example server (default: next to this executable).", valueName: "PATH"))
    var cServer: String?

    @Option(help: ArgumentHelp("The C example client (default: next to this executable).", valueName: "PATH"))
    var cClient: String?

    /// Exchanges per pairing: each picture three times.
    static let exchanges = 12

    func run() throws {
        try reportingFailures {
            let signals = SignalWatcher.startWatching()
            let folders = try prepareFolders()
            Console.printLine("Drawing the test pictures into \(folders.images)/")
            for picture in DemoPictures.pictures {
                let path = try DemoPictures.write(picture, to: folders.images)
                Console.printLine("  \(Self.pad(picture.name, 6)) \(Self.pad(Paths.lastComponent(of: path), 10)) \(Self.pad(picture.shape, 14)) \(picture.description)")
            }
            let requests = Paths.join(folders.root, "requests.txt")
            try writeRequests(to: requests)

            let swiftProgram = ExecutableLocation.path
            let cPrograms = try findCExamples()
            var pairings: [(server: String, client: String, serverCommand: [String], clientCommand: [String], received: String)] = []
            let swiftServer = [swiftProgram, "server"], swiftClient = [swiftProgram, "client"]
            if let cPrograms {
                pairings.append(("Swift", "C", swiftServer, [cPrograms.client], "received-swift-server"))
                pairings.append(("C", "Swift", [cPrograms.server], swiftClient, "received-c-server"))
            } else {
                Console.printLine("")
                Console.printLine("The C examples (shmemaphore-example-server, shmemaphore-example-client) were not found")
                Console.printLine("next to \(swiftProgram). Build them with")
                Console.printLine("    cmake -S . -B build && cmake --build build")
                Console.printLine("and run build/bin/shmemaphore demo, or pass --c-server and --c-client.")
                Console.printLine("Running the Swift server with the Swift client instead.")
                pairings.append(("Swift", "Swift", swiftServer, swiftClient, "received-swift-server"))
            }

            var failed = false
            for (number, pairing) in pairings.enumerated() {
                let received = Paths.join(folders.root, pairing.received)
                try? FileManager.default.removeItem(atPath: received)
                try? FileManager.default.createDirectory(atPath: received, withIntermediateDirectories: true)
                let channel = "demo-\(getpid())-\(number + 1)"
                let session = PairingSession(
                    channel: channel,
                    server: PeerCommand(
                        implementation: pairing.server, executable: pairing.serverCommand[0],
                        arguments: Array(pairing.serverCommand.dropFirst()) + [
                            "--channel", channel, "--requests", requests, "--count", "\(Self.exchanges)",
                            "--out", received, "--timeout", "10",
                        ]),
                    client: PeerCommand(
                        implementation: pairing.client, executable: pairing.clientCommand[0],
                        arguments: Array(pairing.clientCommand.dropFirst()) + ["--channel", channel, "--dir", folders.images]),
                    logStem: Paths.join(folders.logs, 
                        "\(pairing.server.lowercased())-server-\(pairing.client.lowercased())-client"),
                    timeLimit: .seconds(60), signals: signals)
                Console.printLine("")
                Console.printLine("== \(pairing.server) server -> \(pairing.client) client, channel \"\(channel)\"")
                if !runPairing(session, received: received) { failed = true }
                if signals.shouldStop {
                    throw CommandFailure(.failure, "\(signals.receivedSignalName) received; stopped (no channel left behind)")
                }
            }
            Console.printLine("")
            Console.printLine("Pictures: \(folders.images)/   logs: \(folders.logs)/")
            if failed { throw CommandFailure(.failure, "some exchanges failed (see above and the logs)") }
            Console.printLine("All exchanges succeeded; no channel objects are left in /dev/shm.")
        }
    }

    /// Runs one pairing and prints its exchanges and summary; true if all went well.
    private func runPairing(_ session: PairingSession, received: String) -> Bool {
        var rows: [ExchangeLine] = []
        var problems: [String] = []
        let requestNames = DemoPictures.pictures.map(\.name)
        Console.printLine(
            "  \(Self.pad("#", 3, right: true)) \(Self.pad("request", 8)) \(Self.pad("shape", 12)) "
                + "\(Self.pad("bytes", 10, right: true)) \(Self.pad("ms", 9, right: true))  saved as")
        let outcome = session.run { text in
            switch ExchangeLine.parse(Substring(text), allowSavedPath: true) {
            case .success(let line):
                rows.append(line)
                let name = requestNames[(line.index - 1) % requestNames.count]
                let shape: String
                switch line.outcome {
                case .image(let width, let height, let channels, _, _): shape = "\(width)x\(height)x\(channels)"
                case .bytes: shape = "raw bytes"
                case .error(let code):
                    shape = "error \(code)"
                    problems.append("exchange \(line.index) (\(name)) was answered with error \(code)")
                }
                // The path is the server's output: the C server is another program.
                let saved = line.savedPath.map { UntrustedText.escaped(Self.relative($0, to: received)) } ?? "-"
                Console.printLine(
                    "  \(Self.pad("\(line.index)", 3, right: true)) \(Self.pad(name, 8)) \(Self.pad(shape, 12)) "
                        + "\(Self.pad("\(line.outcome.payloadBytes)", 10, right: true)) "
                        + "\(Self.pad(line.milliseconds, 9, right: true))  \(saved)")
            case .failure(let error):
                problems.append("unexpected server output: \(error)")
                Console.printLine("  ?   \(UntrustedText.escaped(text, limit: 120))")
            }
        }
        problems += outcome.failures
        if rows.count != Self.exchanges && !outcome.interrupted {
            problems.append("\(rows.count) of \(Self.exchanges) exchanges reported")
        }
        let bytes = rows.reduce(UInt64(0)) { $0 + $1.outcome.payloadBytes }
        let times = rows.map(\.millisecondsValue).sorted()
        let median = times.isEmpty ? 0 : (times[(times.count - 1) / 2] + times[times.count / 2]) / 2
        let totalMilliseconds = times.reduce(0, +)
        let megabytes = Double(bytes) / 1e6
        Console.printLine(
            "  \(rows.count) exchanges, \(Durations.format(megabytes, decimals: 1)) MB, median \(Durations.format(median, decimals: 3)) ms, "
                + "\(totalMilliseconds > 0 ? Durations.format(megabytes / (totalMilliseconds / 1000), decimals: 0) : "-") MB/s "
                + "(round trips only; \(Durations.format(Durations.seconds(outcome.elapsed), decimals: 2)) s with start-up and saving)")
        Console.printLine("  received images: \(received)/")
        for problem in problems { Console.printLine("  FAILED: \(problem)") }
        return problems.isEmpty && !outcome.interrupted
    }

    /// Creates DIR, DIR/images and DIR/logs.
    private func prepareFolders() throws -> (root: String, images: String, logs: String) {
        let root = URL(fileURLWithPath: dir).standardizedFileURL.path
        let images = Paths.join(root, "images")
        let logs = Paths.join(root, "logs")
        for folder in [root, images, logs] {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw CommandFailure(.usage, "cannot create \(folder): \(ErrorText.describe(error))")
            }
        }
        return (root, images, logs)
    }

    /// The request file: the four names, one per line (the servers cycle through it).
    private func writeRequests(to path: String) throws {
        let text = DemoPictures.pictures.map { $0.name + "\n" }.joined()
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw CommandFailure(.failure, "cannot write \(path): \(ErrorText.describe(error))")
        }
    }

    /// The C example programs: given, or next to this executable; nil if not found.
    private func findCExamples() throws -> (server: String, client: String)? {
        if cServer != nil || cClient != nil {
            for (option, path) in [("--c-server", cServer), ("--c-client", cClient)] {
                guard let path else { throw CommandFailure(.usage, "\(option) is needed too when the other is given") }
                guard ExecutableLocation.isExecutable(path) else { throw CommandFailure(.usage, "\(option): \(path) is not an executable file") }
            }
            return (cServer!, cClient!)
        }
        let directory = ExecutableLocation.directory
        let server = Paths.join(directory, "shmemaphore-example-server")
        let client = Paths.join(directory, "shmemaphore-example-client")
        guard ExecutableLocation.isExecutable(server), ExecutableLocation.isExecutable(client) else { return nil }
        return (server, client)
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }

    /// `path` relative to the parent of `folder` ("received-c-server/apple-1.png").
    private static func relative(_ path: String, to folder: String) -> String {
        let parent = Paths.parent(of: folder) + "/"
        return path.hasPrefix(parent) ? String(path.dropFirst(parent.count)) : path
    }
}
