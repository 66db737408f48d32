import ArgumentParser
import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// `shmemaphore client`: the original client's job.  Attaches to a channel
/// and answers each request with an image file from a folder.
struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Attach to a channel and answer each request with an image file.",
        discussion: """
            The client is the responder. A request NAME is answered with the first \
            regular file among DIR/NAME, DIR/NAME.png, .jpg, .jpeg, .bmp, .tga, .gif, \
            .psd, .hdr, .pic, .pnm, .ppm, .pgm, decoded to pixels. Every request gets \
            an answer: an unknown name gets error code 1 (not found); a request that \
            cannot be a file name (empty, longer than 255 bytes, containing "/" or \
            NUL, starting with ".", not UTF-8) gets code 2 (bad request); a file that \
            does not decode gets code 0. One line per request on standard output, \
            e.g. "apple -> img/apple.jpg 640x960x3" or "zebra -> not found".

            With --keep-serving, a server that closes the channel is not the end: \
            the client waits for the next server on the same name and serves it.

            Exit status: 0 the server closed the channel (without --keep-serving), \
            --count requests were served, or SIGINT/SIGTERM; 1 an error, or --timeout passed without a \
            request; 2 usage error; 3 the channel could not be opened (no server \
            came within --attach-timeout).
            """
    )

    @Option(help: "Channel name.")
    var channel = "ibis"

    @Option(help: ArgumentHelp("Folder of the images.", valueName: "DIR"))
    var dir = "img"

    @Option(help: "Stop after N requests (default, or 0: serve until the server closes the channel).")
    var count: Int?

    @Option(help: ArgumentHelp("Give up after this long without a request (default: wait forever).", valueName: "SECONDS"))
    var timeout: Double?

    @Option(help: ArgumentHelp("How long to wait for the server to create the channel.", valueName: "SECONDS"))
    var attachTimeout: Double = 10

    @Flag(help: "Keep serving across servers, like a daemon: when the server closes the channel, wait for the next one on the same name (until SIGINT/SIGTERM, --count or --timeout).")
    var keepServing = false

    @OptionGroup
    var tuning: ChannelTuningOptions

    /// Extensions tried after the bare name, in order: the formats stb decodes.
    static let extensions = ["png", "jpg", "jpeg", "bmp", "tga", "gif", "psd", "hdr", "pic", "pnm", "ppm", "pgm"]

    func validate() throws {
        if let count, count < 0 { throw ValidationError("--count must be at least 1 (0 means no limit)") }
        if let timeout { try Durations.validateSeconds(timeout, option: "--timeout") }
        try Durations.validateSeconds(attachTimeout, option: "--attach-timeout")
        do { _ = try ChannelName(channel) } catch { throw ValidationError("--channel: \(error)") }
    }

    func run() throws {
        try reportingFailures {
            var isDirectory = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory else {
                throw CommandFailure(.usage, "--dir: \(dir) is not a directory")
            }
            let signals = SignalWatcher.startWatching()
            ignoreBrokenPipes()
            guard let client = try attach(signals: signals) else { return }
            signals.interruptOnSignal(client.interrupter)
            try serve(client, signals: signals)
        }
    }

    /// Waits for the server's segments in short polls (so that a signal stops
    /// the wait at once), then attaches.  Returns nil when a signal came first.
    ///
    /// Polling the file system first rather than waiting inside the library
    /// also means the client creates no semaphores while no server is there.
    private func attach(signals: SignalWatcher) throws -> ShmemaphoreClient? {
        let name = try ChannelName(channel)
        let segmentPaths = name.filesystemPaths.filter { $0.hasPrefix("/dev/shm/SEG_") }
        let deadline = ContinuousClock.now + Durations.fromSeconds(attachTimeout)
        let noServer = CommandFailure(
            .channelUnavailable,
            "no server opened channel \"\(channel)\" within \(Durations.format(attachTimeout, decimals: 3)) s")
        while !segmentPaths.allSatisfy({ access($0, F_OK) == 0 }) {
            if signals.shouldStop {
                Console.printError("client: \(signals.receivedSignalName) received while waiting for the server")
                return nil
            }
            if deadline.hasPassed { throw noServer }
            usleep(5_000)
        }
        var options = tuning.applied()
        options.attachTimeout = max(deadline.timeRemaining, .milliseconds(500))
        do {
            return try ShmemaphoreClient(channel: channel, options: options)
        } catch .timeout {
            throw noServer
        } catch {
            throw CommandFailure(.channelUnavailable, "cannot open channel \"\(channel)\": \(error)")
        }
    }

    /// Answers requests until the server leaves, `--count` is reached, a
    /// signal arrives, or `--timeout` passes without a request.
    private func serve(_ client: ShmemaphoreClient, signals: SignalWatcher) throws {
        let limit = count.flatMap { $0 == 0 ? nil : $0 }
        let idleTimeout = timeout.map(Durations.fromSeconds)
        var served = 0
        var idleSince = ContinuousClock.now
        while limit.map({ served < $0 }) ?? true {
            if signals.shouldStop {
                Console.printError("client: \(signals.receivedSignalName) received; stopping after \(served) requests")
                return
            }
            let request: [UInt8]
            do {
                // A signal interrupts this wait (SignalWatcher.interruptOnSignal).
                request = Array(try client.receiveRequest(timeout: idleTimeout.map { idleSince + $0 - .now }))
            } catch .timeout {
                if let idleTimeout, ContinuousClock.now - idleSince >= idleTimeout {
                    throw CommandFailure(
                        .failure, "no request within \(Durations.format(timeout ?? 0, decimals: 3)) s; giving up")
                }
                continue
            } catch .interrupted {
                continue  // the loop looks at the signal
            } catch .peerGone {
                guard keepServing else {
                    Console.printError("client: server closed the channel")
                    return
                }
                // The next receive waits for the next server on this name.
                Console.printError("client: server closed the channel; waiting for the next one")
                continue
            } catch {
                // A malformed request is still ours to answer: best effort, so the server does not hang.
                try? client.sendError(code: PeerErrorCode.badRequest, message: "malformed request: \(error)")
                throw CommandFailure(.failure, "receiving a request: \(UntrustedText.escaped(error.description))")
            }
            served += 1
            idleSince = .now
            let report = answer(request, with: client)
            guard Console.printLine("\(Self.displayName(of: request)) -> \(report.text)") else {
                throw CommandFailure(.failure, "standard output is closed; stopping")
            }
            if let failure = report.failure {
                throw CommandFailure(.failure, "answering a request: \(UntrustedText.escaped(failure.description))")
            }
        }
    }

    /// What happened to one request: the text after "->" (escaped: it quotes
    /// the request), and a failure to answer at all (which ends the client).
    struct AnswerReport {
        var text: String
        var failure: ShmemaphoreError?
    }

    /// Answers `request` exactly once: with the image it names, or an error.
    private func answer(_ request: [UInt8], with client: ShmemaphoreClient) -> AnswerReport {
        if let refusal = Self.refusalReason(for: request) {
            return sendError(PeerErrorCode.badRequest, refusal, via: client, report: "bad request (\(refusal))")
        }
        let name = String(decoding: request, as: UTF8.self)
        guard let path = findImage(named: name) else {
            return sendError(PeerErrorCode.notFound, "no such image: \(name)", via: client, report: "not found")
        }
        // The path ends with the request's bytes, and so may the error's description.
        do {
            let sent = try client.sendImageFile(atPath: path)
            return AnswerReport(text: "\(UntrustedText.escaped(path)) \(sent.width)x\(sent.height)x\(sent.channels)")
        } catch {
            // Nothing was sent: decoding failed, or sending did (e.g. ENOSPC
            // while growing the data segment).  The request still needs an answer.
            return sendError(
                PeerErrorCode.unspecified, "\(error)", via: client, report: UntrustedText.escaped("\(path): \(error)"))
        }
    }

    /// Answers with an error response; reports `report` on success.
    private func sendError(_ code: UInt64, _ message: String, via client: ShmemaphoreClient, report: String) -> AnswerReport {
        do {
            try client.sendError(code: code, message: message)
            return AnswerReport(text: report)
        } catch {
            return AnswerReport(text: report, failure: error)
        }
    }

    /// The first regular file among DIR/NAME and DIR/NAME.<ext>.
    private func findImage(named name: String) -> String? {
        let base = dir.hasSuffix("/") ? dir + name : dir + "/" + name
        for candidate in [base] + Self.extensions.map({ "\(base).\($0)" }) {
            var status = stat()
            if stat(candidate, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG { return candidate }
        }
        return nil
    }

    /// Why a request cannot be a file name inside DIR, or nil if it can.
    static func refusalReason(for request: [UInt8]) -> String? {
        if request.isEmpty { return "empty request" }
        if request.count > 255 { return "request longer than 255 bytes" }
        if request.contains(0) { return "request contains a NUL byte" }
        if request.contains(UInt8(ascii: "/")) { return "request contains '/'" }
        if request.first == UInt8(ascii: ".") { return "request starts with '.'" }
        if String(validating: request, as: UTF8.self) == nil { return "request is not valid UTF-8" }
        return nil
    }

    /// The request for people: escaped, or "<N-byte request>" when it is
    /// empty or longer than 64 bytes.
    static func displayName(of request: [UInt8]) -> String {
        guard !request.isEmpty, request.count <= 64 else { return "<\(request.count)-byte request>" }
        return UntrustedText.escaped(request)
    }
}
