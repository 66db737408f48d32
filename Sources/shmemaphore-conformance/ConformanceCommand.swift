import ArgumentParser
import FoundationEssentials
import Glibc
import ShmemaphoreTools

/// `shmemaphore-conformance`: the runner of docs/CONFORMANCE.md, a program of
/// its own (SwiftPM product and CMake program `shmemaphore-conformance`).
/// Pairs every server with every client over the real protocol and checks
/// every exchange; `shmemaphore-conformance make-images DIR` writes the image
/// set alone.
@main
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shmemaphore-conformance",
        abstract: "Check implementations of the protocol against each other (docs/CONFORMANCE.md).",
        discussion: """
            Built-in implementations: swift (the server and client of the shmemaphore \
            tool, SwiftPM's shmemaphore-cli), c (shmemaphore-example-server and \
            shmemaphore-example-client), raw (shmemaphore-raw-peer server|client, \
            plain POSIX C without the library), python (shmemaphore-python-peer \
            server|client, the Python binding) and cpp (shmemaphore-cpp-peer \
            server|client, the C++ header), looked for in --bin-dir (default: the \
            folder of this executable; the tool also beside this executable). Every \
            server is paired with every client. An outside implementation joins with \
            --server-cmd and --client-cmd, templates run by /bin/sh -c in which \
            {channel}, {requests}, {count} and {dir} are replaced:

              shmemaphore-conformance --name mine \\
                --client-cmd 'cli --channel {channel} --dir {dir}' \\
                --server-cmd 'srv --channel {channel} --requests {requests} \\
                              --count {count}'

            It is paired with each built-in in both directions and with itself.

            Each pairing gets a fresh channel: the client starts first, then the \
            server with --requests FILE --count N --timeout 30. Every line the server \
            prints must match the manifest (image requests: exact shape and digest; the \
            empty, 64 KiB and unknown requests: an error response, code 1 for the \
            unknown name), there must be exactly N lines, both programs must exit 0 \
            within --timeout, and /dev/shm must hold none of the channel's objects \
            afterwards. The last line is "N passed, N failed".

            Exit status: 0 every pairing passed; 1 a pairing failed (or SIGINT/SIGTERM); \
            2 usage error, including a built-in implementation that is missing and \
            not left out with --only.
            """,
        subcommands: [MakeImagesCommand.self]
    )

    /// Usage errors exit with 2 (CommandSupport.swift).
    static func main() { mainExitingTwoOnUsageErrors() }

    @Option(help: "Exchanges per pairing.")
    var count = 1000

    @Option(help: ArgumentHelp("Built-in implementations to use, comma-separated (default swift,c,raw,python,cpp; none with \"\").", valueName: "LIST"))
    var only: String?

    @Option(help: ArgumentHelp(
        "Run exactly one pairing, SERVER:CLIENT, of swift, c, raw, python, cpp (or --name); e.g. c:raw. Each ctest conformance test runs one.",
        valueName: "SERVER:CLIENT"))
    var pair: String?

    @Option(help: ArgumentHelp("Where the built-in programs are (default: the folder of this executable).", valueName: "DIR"))
    var binDir: String?

    @Option(help: ArgumentHelp("An outside server: a /bin/sh command template.", valueName: "CMD"))
    var serverCmd: String?

    @Option(help: ArgumentHelp("An outside client: a /bin/sh command template.", valueName: "CMD"))
    var clientCmd: String?

    @Option(help: "Name of the outside implementation in the table.")
    var name = "outside"

    @Option(help: ArgumentHelp("Time limit of one pairing; both programs are stopped when it passes.", valueName: "SECONDS"))
    var timeout: Double = 300

    @Flag(help: "Keep the work folder (images, request file, logs) and print its path.")
    var keep = false

    /// The built-in implementations, in table order.
    static let builtInNames = ["swift", "c", "raw", "python", "cpp"]

    /// The programs (in --bin-dir) and first arguments of each built-in but
    /// swift, whose tool is looked for by `findTool`.
    static let builtInPrograms: [String: (server: (file: String, arguments: [String]), client: (file: String, arguments: [String]))] = [
        "c": (("shmemaphore-example-server", []), ("shmemaphore-example-client", [])),
        "raw": (("shmemaphore-raw-peer", ["server"]), ("shmemaphore-raw-peer", ["client"])),
        // bindings/python's conformance peer (python3 -m shmemaphore.conformance),
        // through the launcher CMake writes into <build>/bin.
        "python": (("shmemaphore-python-peer", ["server"]), ("shmemaphore-python-peer", ["client"])),
        // Tests/CPP/cpp_peer.cpp, over include/shmemaphore.hpp.
        "cpp": (("shmemaphore-cpp-peer", ["server"]), ("shmemaphore-cpp-peer", ["client"])),
    ]

    /// "swift, c, raw, python and cpp".
    static var builtInList: String { builtInNames.dropLast().joined(separator: ", ") + " and " + builtInNames.last! }

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        try Durations.validateSeconds(timeout, option: "--timeout")
        if (serverCmd == nil) != (clientCmd == nil) {
            throw ValidationError("--server-cmd and --client-cmd go together")
        }
        for unknown in selectedBuiltIns where !Self.builtInNames.contains(unknown) {
            throw ValidationError("--only: unknown implementation \"\(unknown)\"; the built-in ones are \(Self.builtInList)")
        }
        if Self.builtInNames.contains(name) || name.isEmpty || name.contains(where: \.isWhitespace) {
            throw ValidationError("--name: \"\(name)\" must be one word, not one of \(Self.builtInList)")
        }
        if let pair {
            guard let (server, client) = Self.split(pair: pair) else {
                throw ValidationError("--pair: \"\(pair)\" is not SERVER:CLIENT")
            }
            let known = Self.builtInNames + (serverCmd == nil ? [] : [name])
            for side in [server, client] where !known.contains(side) {
                throw ValidationError("--pair: unknown implementation \"\(side)\"; known: \(known.joined(separator: ", "))")
            }
            if only != nil { throw ValidationError("--pair and --only exclude each other") }
        }
        if selectedBuiltIns.isEmpty && serverCmd == nil {
            throw ValidationError("nothing to pair: --only selects no built-in implementation and no outside one is given")
        }
    }

    /// "server:client" split in two, or nil.
    private static func split(pair: String) -> (String, String)? {
        let sides = pair.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard sides.count == 2, !sides[0].isEmpty, !sides[1].isEmpty else { return nil }
        return (sides[0], sides[1])
    }

    /// The built-in implementations chosen with --only (or named by --pair).
    private var selectedBuiltIns: [String] {
        if let pair, let (server, client) = Self.split(pair: pair) {
            return Self.builtInNames.filter { $0 == server || $0 == client }
        }
        guard let only else { return Self.builtInNames }
        return only.split(separator: ",").map { $0.trimmingBlanks }.filter { !$0.isEmpty }
    }

    func run() throws {
        try reportingFailures {
            let signals = SignalWatcher.startWatching()
            let implementations = try makeImplementations()
            let workFolder = try Paths.makeTemporaryFolder(prefix: "shmemaphore-conformance")
            defer {
                if keep {
                    Console.printLine("work folder kept: \(workFolder)")
                } else {
                    try? FileManager.default.removeItem(atPath: workFolder)
                }
            }
            let images = Paths.join(workFolder, "images")
            let manifest = try ConformanceImages.write(to: images)
            let requests = ConformanceRequests.make(manifest: manifest)
            let requestsPath = Paths.join(workFolder, "REQUESTS")
            guard FileManager.default.createFile(atPath: requestsPath, contents: Data(requests.fileContents)) else {
                throw CommandFailure(.failure, "cannot write \(requestsPath)")
            }

            var pairings: [(server: Implementation, client: Implementation)] = []
            for server in implementations { for client in implementations { pairings.append((server, client)) } }
            if let pair, let (server, client) = Self.split(pair: pair) {
                pairings = pairings.filter { $0.server.name == server && $0.client.name == client }
            }
            Console.printLine(
                "\(pairings.count) pairings of \(implementations.map(\.name).joined(separator: ", ")), "
                    + "\(count) exchanges each, \(requests.lines.count) requests cycled")
            // Fixed column widths, so that rows can be printed as each pairing ends.
            let nameWidth = max(6, implementations.map(\.name.count).max() ?? 0)
            func row(_ cells: [String]) -> String {
                let widths = [nameWidth, nameWidth, 6, 9, 9, 8]
                return zip(cells, widths).enumerated().map { column, pair in
                    let padding = String(repeating: " ", count: max(0, pair.1 - pair.0.count))
                    return column >= 3 ? padding + pair.0 : pair.0 + padding
                }.joined(separator: "  ")
            }
            Console.printLine(row(["SERVER", "CLIENT", "RESULT", "EXCHANGES", "MB", "SECONDS"]))
            var passed = 0, failed = 0
            for (number, pairing) in pairings.enumerated() {
                let channel = "conf-\(getpid())-\(number + 1)"
                let values = [
                    "channel": channel, "requests": requestsPath, "count": "\(count)", "dir": images,
                ]
                let session = PairingSession(
                    channel: channel,
                    server: pairing.server.serverCommand(values),
                    client: pairing.client.clientCommand(values),
                    logStem: Paths.join(workFolder, "\(number + 1)-\(pairing.server.name)-\(pairing.client.name)"),
                    timeLimit: Durations.fromSeconds(timeout), signals: signals)
                var checker = ExchangeChecker(requests: requests, manifest: manifest, count: count)
                let outcome = session.run { checker.check($0) }
                if outcome.interrupted {
                    throw CommandFailure(.failure, "\(signals.receivedSignalName) received; stopped (no channel left behind)")
                }
                let failures = outcome.failures + checker.finish()
                if failures.isEmpty { passed += 1 } else { failed += 1 }
                Console.printLine(
                    row([
                        pairing.server.name, pairing.client.name, failures.isEmpty ? "PASS" : "FAIL",
                        "\(checker.exchangesChecked)", Durations.format(Double(checker.bytesMoved) / 1e6, decimals: 1),
                        Durations.format(Durations.seconds(outcome.elapsed), decimals: 2),
                    ]).trimmingBlanks)
                for failure in failures { Console.printLine("    \(failure)") }
            }
            Console.printLine("\(passed) passed, \(failed) failed")
            if failed > 0 { throw ExitStatus.failure.exitCode }
        }
    }

    /// One implementation: how to start its server and its client.
    struct Implementation {
        let name: String
        let serverCommand: ([String: String]) -> PeerCommand
        let clientCommand: ([String: String]) -> PeerCommand
    }

    /// The selected built-ins (all must exist) and the outside implementation.
    private func makeImplementations() throws -> [Implementation] {
        let directory = binDir ?? ExecutableLocation.directory
        func inBinDir(_ file: String) -> String { Paths.join(directory, file) }
        var implementations: [Implementation] = []
        var missing: [String] = []
        for builtIn in selectedBuiltIns {
            let server: (String, [String]), client: (String, [String])
            if builtIn == "swift" {
                let program = Self.findTool(binDir: directory)
                server = (program, ["server"])
                client = (program, ["client"])
            } else {
                let programs = Self.builtInPrograms[builtIn]!
                server = (inBinDir(programs.server.file), programs.server.arguments)
                client = (inBinDir(programs.client.file), programs.client.arguments)
            }
            let programs = Set([server.0, client.0])
            let absent = programs.filter { !ExecutableLocation.isExecutable($0) }.sorted()
            if !absent.isEmpty {
                missing.append("\(builtIn) (\(absent.joined(separator: ", ")))")
                continue
            }
            implementations.append(
                Implementation(
                    name: builtIn,
                    serverCommand: { values in
                        PeerCommand(
                            implementation: builtIn, executable: server.0,
                            arguments: server.1 + [
                                "--channel", values["channel"]!, "--requests", values["requests"]!, "--count", values["count"]!,
                                "--timeout", "30",
                            ])
                    },
                    clientCommand: { values in
                        PeerCommand(
                            implementation: builtIn, executable: client.0,
                            arguments: client.1 + ["--channel", values["channel"]!, "--dir", values["dir"]!])
                    }))
        }
        if !missing.isEmpty {
            throw CommandFailure(
                .usage,
                "missing built-in implementation \(missing.joined(separator: "; ")). Build them with "
                    + "`cmake -S . -B build && cmake --build build` and pass --bin-dir build/bin, or leave them out "
                    + "with --only (e.g. --only swift)")
        }
        if let serverCmd, let clientCmd {
            let outsideName = name
            implementations.append(
                Implementation(
                    name: outsideName,
                    serverCommand: { .shell(outsideName, Self.substitute(serverCmd, $0)) },
                    clientCommand: { .shell(outsideName, Self.substitute(clientCmd, $0)) }))
        }
        return implementations
    }

    /// Replaces {channel}, {requests}, {count} and {dir}, quoted for the shell where needed.
    static func substitute(_ template: String, _ values: [String: String]) -> String {
        var command = template
        for (key, value) in values {
            command = command.replacing("{\(key)}", with: ShellQuoting.quoteIfNeeded(value))
        }
        return command
    }

    /// The `shmemaphore` tool: `shmemaphore` (as CMake names it) or
    /// `shmemaphore-cli` (as SwiftPM does) in `binDir`, else beside this
    /// executable; when none exists, the path it was looked for at first.
    static func findTool(binDir: String) -> String {
        let names = ["shmemaphore", "shmemaphore-cli"]
        return ExecutableLocation.find(names, in: [binDir, ExecutableLocation.directory]) ?? Paths.join(binDir, names[0])
    }
}
