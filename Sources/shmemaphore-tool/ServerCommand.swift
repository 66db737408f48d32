import ArgumentParser
import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// `shmemaphore server`: the original server's job.  Creates the channel,
/// sends N requests and prints one machine-readable line per exchange.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Create a channel, send requests, print one line per response.",
        discussion: """
            The server is the requester and owns the channel: it creates the four \
            objects in /dev/shm and removes them when it ends, also on SIGINT/SIGTERM.

            Requests are N names chosen at random from --names (repeatable with \
            --seed), or the lines of --requests FILE in order, cycling (an empty \
            line is an empty request; a last line without a newline counts).

            Standard output has exactly one line per exchange (docs/CONFORMANCE.md):
              <index> <request-length> image <W> <H> <C> <bytes> <fnv1a64-hex> <ms>
              <index> <request-length> bytes <bytes> <fnv1a64-hex> <ms>
              <index> <request-length> error <code> <ms>
            <ms> is the round trip in milliseconds on the monotonic clock. With \
            --out DIR each image is saved as DIR/<name>-<index>.<format> (opaque \
            bytes as .bin) and the path ends the line. <name> is the request if it \
            is 1-64 characters of [A-Za-z0-9._-], else "request".

            An error response is a valid answer: its line is printed, the client's \
            message goes to standard error, and the run goes on.

            Exit status: 0 all exchanges done; 1 an exchange failed (timeout, \
            protocol or system error, a file that could not be saved) or SIGINT/\
            SIGTERM; 2 usage error; 3 the channel could not be created.
            """
    )

    @Option(help: "Channel name.")
    var channel = "ibis"

    @Option(help: ArgumentHelp("Names to request at random, comma-separated (default apple,ball,car,dog).", valueName: "a,b,c"))
    var names: String?

    @Option(help: ArgumentHelp("Send the lines of FILE in order, cycling, instead of random names.", valueName: "FILE"))
    var requests: String?

    @Option(help: "Number of exchanges.")
    var count = 10

    @Option(help: ArgumentHelp("Save each image (and raw-bytes payload) into DIR, created if missing.", valueName: "DIR"))
    var out: String?

    @Option(help: "Format of saved images.")
    var format: SavedImageFormat = .png

    @Option(help: ArgumentHelp("How long to wait for each response.", valueName: "SECONDS"))
    var timeout: Double = 10

    @Option(help: "Seed for the random choice of names (default: random, printed on stderr).")
    var seed: UInt64?

    @OptionGroup
    var tuning: ChannelTuningOptions

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        try Durations.validateSeconds(timeout, option: "--timeout")
        do { _ = try ChannelName(channel) } catch { throw ValidationError("--channel: \(error)") }
        if names != nil && requests != nil { throw ValidationError("--names and --requests exclude each other") }
        if let names, names.split(separator: ",", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            throw ValidationError("--names: the list has an empty name")
        }
        if seed != nil && requests != nil { throw ValidationError("--seed only applies to random names, not to --requests") }
    }

    func run() throws {
        try reportingFailures {
            var plan = try makeRequestPlan()
            if let outputDirectory = out {
                do {
                    try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
                } catch {
                    throw CommandFailure(.usage, "--out: cannot create \(outputDirectory): \(ErrorText.describe(error))")
                }
            }
            let signals = SignalWatcher.startWatching()
            ignoreBrokenPipes()
            let server: ShmemaphoreServer
            do {
                server = try ShmemaphoreServer(channel: channel, options: tuning.applied())
            } catch {
                throw CommandFailure(.channelUnavailable, "cannot create channel \"\(channel)\": \(error)")
            }
            defer { server.close() }
            signals.interruptOnSignal(server.interrupter)
            try exchange(over: server, plan: &plan, signals: signals)
        }
    }

    /// The requests to send: the file's lines, or random names.
    private func makeRequestPlan() throws -> RequestPlan {
        if let requests {
            guard let contents = FileManager.default.contents(atPath: requests) else {
                throw CommandFailure(.usage, "--requests: cannot read \(requests)")
            }
            let lines = RequestPlan.lines(of: [UInt8](contents))
            guard !lines.isEmpty else { throw CommandFailure(.usage, "--requests: \(requests) has no lines") }
            return .cycling(lines)
        }
        let list = (names ?? "apple,ball,car,dog").split(separator: ",").map { Array($0.utf8) }
        let chosenSeed = seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        if seed == nil { Console.printError("server: random names with --seed \(chosenSeed)") }
        return .random(list, SplitMix64(seed: chosenSeed))
    }

    /// Runs the exchanges, printing one line each; throws to end the run.
    private func exchange(over server: ShmemaphoreServer, plan: inout RequestPlan, signals: SignalWatcher) throws {
        let responseTimeout = Durations.fromSeconds(timeout)
        for index in 1...count {
            if signals.shouldStop {
                throw CommandFailure(.failure, "\(signals.receivedSignalName) received after \(index - 1) exchanges; channel closed")
            }
            let request = plan.next()
            let started = ContinuousClock.now
            do {
                try request.withUnsafeBytes { try server.send(request: $0) }
            } catch {
                throw CommandFailure(.failure, "request \(index): cannot send: \(error)")
            }
            let deadline = started + responseTimeout
            var line = ExchangeLine(index: index, requestLength: request.count, outcome: .error(code: 0), milliseconds: "")
            var peerMessage: String?
            waiting: while true {
                do {
                    // A signal interrupts this wait (SignalWatcher.interruptOnSignal).
                    let response = try server.receiveResponse(timeout: deadline.timeRemaining)
                    line.milliseconds = Durations.formatMilliseconds(.now - started)
                    let digest = FNV1a64.hash(response.payload)
                    switch response.kind {
                    case .image:
                        let metadata = response.metadata
                        line.outcome = .image(
                            width: metadata.width, height: metadata.height, channels: metadata.channels,
                            bytes: metadata.bytes, digest: digest)
                    case .bytes, .error:
                        line.outcome = .bytes(count: UInt64(response.payload.count), digest: digest)
                    }
                    if let outputDirectory = out {
                        line.savedPath = try save(response, request: request, index: index, in: outputDirectory, line: line)
                    }
                    break waiting
                } catch .timeout, .interrupted {
                    if signals.shouldStop {
                        throw CommandFailure(
                            .failure, "\(signals.receivedSignalName) received while waiting for response \(index); channel closed")
                    }
                    if deadline.hasPassed {
                        throw CommandFailure(
                            .failure,
                            "request \(index) (\(UntrustedText.escaped(request, limit: 64))): no response within "
                                + "\(Durations.format(timeout, decimals: 3)) s; is a client running on channel \"\(channel)\"?")
                    }
                } catch .peerError(let code, let message) {
                    line.milliseconds = Durations.formatMilliseconds(.now - started)
                    line.outcome = .error(code: code)
                    peerMessage = message
                    break waiting
                } catch .peerGone {
                    throw CommandFailure(.failure, "request \(index): the client went away (its process ended) without answering")
                } catch {
                    // What went wrong may quote the peer's data (a path, a size it wrote).
                    throw CommandFailure(.failure, "request \(index): \(UntrustedText.escaped(error.description))")
                }
            }
            guard Console.printLine(line.formatted) else {
                throw CommandFailure(.failure, "standard output is closed; stopping after \(index) exchanges")
            }
            if let peerMessage, case .error(let code) = line.outcome {
                Console.printError("server: request \(index): peer error \(code): \(UntrustedText.escaped(peerMessage, limit: 200))")
            }
        }
    }

    /// Saves an image (or raw bytes) as DIR/<name>-<index>.<ext>; returns the path.
    private func save(
        _ response: Response, request: [UInt8], index: Int, in directory: String, line: ExchangeLine
    ) throws(ShmemaphoreError) -> String {
        let stem = Paths.join(directory, "\(Self.fileStem(for: request))-\(index)")
        if response.kind == .image {
            let path = "\(stem).\(format.rawValue)"
            do {
                try response.saveImage(to: path)
            } catch {
                // The exchange itself succeeded: show its line before failing.
                Console.printLine(line.formatted)
                throw error
            }
            return path
        }
        let path = "\(stem).bin"
        guard FileManager.default.createFile(atPath: path, contents: Data(response.payload)) else {
            Console.printLine(line.formatted)
            throw .system(errno: errno, operation: "write \(path)")
        }
        return path
    }

    /// The request as a file-name stem: 1-64 characters of [A-Za-z0-9._-],
    /// else "request".
    static func fileStem(for request: [UInt8]) -> String {
        let allowed: (UInt8) -> Bool = { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default: return false
            }
        }
        guard (1...64).contains(request.count), request.allSatisfy(allowed) else { return "request" }
        return String(decoding: request, as: UTF8.self)
    }
}

/// Image formats `server --out` can write.
enum SavedImageFormat: String, ExpressibleByArgument, CaseIterable {
    case png, jpg, bmp, tga
}

/// The sequence of requests a server sends.
enum RequestPlan {
    /// The lines of a file, in order, starting over after the last.
    case cycling([[UInt8]], position: Int = 0)
    /// Names chosen at random.
    case random([[UInt8]], SplitMix64)

    /// The next request.
    mutating func next() -> [UInt8] {
        switch self {
        case .cycling(let lines, let position):
            self = .cycling(lines, position: (position + 1) % lines.count)
            return lines[position]
        case .random(let names, var generator):
            let name = names[Int(generator.next() % UInt64(names.count))]
            self = .random(names, generator)
            return name
        }
    }

    /// Splits a request file into lines: each "\n" ends one (and is not part
    /// of it); an empty line is an empty request; text after the last "\n"
    /// is a line too.
    static func lines(of contents: [UInt8]) -> [[UInt8]] {
        var lines = contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        if contents.last == UInt8(ascii: "\n") || contents.isEmpty { lines.removeLast() }
        return lines
    }
}
