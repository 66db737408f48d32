import FoundationEssentials
import Glibc
import Shmemaphore

/// How to start one peer program.
package struct PeerCommand {
    /// "swift", "c", "raw" or an outside implementation's name.
    package let implementation: String
    package let executable: String
    package let arguments: [String]

    package init(implementation: String, executable: String, arguments: [String]) {
        self.implementation = implementation
        self.executable = executable
        self.arguments = arguments
    }

    /// A command line for `/bin/sh -c` (outside implementations).
    package static func shell(_ implementation: String, _ command: String) -> PeerCommand {
        PeerCommand(implementation: implementation, executable: "/bin/sh", arguments: ["-c", command])
    }
}

/// One server × client session as `demo` and `conformance` run it: the client
/// starts first, then the server; the server's standard output is read line by
/// line; both must exit 0 within the time limit; afterwards /dev/shm must hold
/// none of the channel's objects.
///
/// Each program's output goes to a log file (the client's stdout and stderr,
/// the server's stderr); a failure quotes the last line of the log.
package struct PairingSession {
    package let channel: String
    package let server: PeerCommand
    package let client: PeerCommand
    /// Logs are written as <logStem>-client.log and <logStem>-server.log.
    package let logStem: String
    /// Limit for the whole session; both programs are stopped when it passes.
    package let timeLimit: Duration
    package let signals: SignalWatcher

    /// What happened.
    package struct Outcome {
        /// Problems found by the session itself (exit statuses, time limit,
        /// leftovers); the caller adds its own checks of the lines.
        package var failures: [String] = []
        package var elapsed: Duration = .zero
        /// A signal stopped the session.
        package var interrupted = false
    }

    package init(
        channel: String, server: PeerCommand, client: PeerCommand, logStem: String, timeLimit: Duration,
        signals: SignalWatcher
    ) {
        self.channel = channel
        self.server = server
        self.client = client
        self.logStem = logStem
        self.timeLimit = timeLimit
        self.signals = signals
    }

    /// How long a client may outlive its server before it counts as hanging:
    /// a client notices within 50 ms that the server closed the channel.
    package static let clientExitGrace = Duration.seconds(5)

    /// Runs the session; `onLine` gets each line of the server's standard output.
    package func run(onLine: (String) -> Void) -> Outcome {
        var outcome = Outcome()
        let started = ContinuousClock.now
        runPrograms(until: started + timeLimit, outcome: &outcome, onLine: onLine)
        outcome.failures += removeLeftovers()
        outcome.elapsed = .now - started
        return outcome
    }

    /// Starts both programs, reads the server's lines, waits for both to end.
    private func runPrograms(until deadline: ContinuousClock.Instant, outcome: inout Outcome, onLine: (String) -> Void) {
        let clientLog = logStem + "-client.log", serverLog = logStem + "-server.log"
        let clientProcess: ChildProcess, serverProcess: ChildProcess
        do {
            // Closed when this block ends: the child has its own copy.
            let clientHandle = try OpenFile.create(clientLog)
            clientProcess = try ChildProcess(
                label: "client", executable: client.executable, arguments: client.arguments,
                standardOutput: .file(clientHandle), standardError: .file(clientHandle))
        } catch {
            outcome.failures.append("\(client.implementation) client: \(ErrorText.describe(error))")
            return
        }
        do {
            let serverHandle = try OpenFile.create(serverLog)
            serverProcess = try ChildProcess(
                label: "server", executable: server.executable, arguments: server.arguments,
                standardOutput: .pipe, standardError: .file(serverHandle))
        } catch {
            outcome.failures.append("\(server.implementation) server: \(ErrorText.describe(error))")
            clientProcess.stop()
            return
        }

        // Read the server's lines until it closes its output.
        var clientEndedAt: ContinuousClock.Instant?
        reading: while let reader = serverProcess.outputReader {
            switch reader.next(deadline: min(deadline, .now + .milliseconds(200)), signals: signals) {
            case .line(let line):
                onLine(line)
            case .endOfFile:
                break reading
            case .interrupted:
                outcome.interrupted = true
                break reading
            case .timedOut:
                if deadline.hasPassed {
                    outcome.failures.append("time limit of \(Durations.format(Durations.seconds(timeLimit), decimals: 0)) s reached")
                    break reading
                }
                // A client that died early leaves the server waiting for its timeout: stop sooner.
                if clientEndedAt == nil, clientProcess.termination != nil { clientEndedAt = .now }
                if let clientEndedAt, ContinuousClock.now - clientEndedAt > Self.clientExitGrace {
                    outcome.failures.append("the client ended while the server still ran")
                    break reading
                }
            }
        }
        let stopNow = outcome.interrupted || !outcome.failures.isEmpty
        let serverEnd = stopNow ? serverProcess.stop() : awaitExit(of: serverProcess, until: deadline, outcome: &outcome)
        let clientDeadline = min(deadline, .now + Self.clientExitGrace)
        let clientEnd =
            stopNow ? clientProcess.stop() : awaitExit(of: clientProcess, until: clientDeadline, outcome: &outcome)
        if !outcome.interrupted {
            // A program this session had to stop has its reason recorded already.
            if !serverProcess.wasStopped {
                outcome.failures += Self.check(serverEnd, "\(server.implementation) server", log: serverLog)
            }
            if !clientProcess.wasStopped {
                outcome.failures += Self.check(clientEnd, "\(client.implementation) client", log: clientLog)
            }
        }
    }

    /// Waits for `process` to end by `deadline`; stops it (and records why) otherwise.
    private func awaitExit(of process: ChildProcess, until deadline: ContinuousClock.Instant, outcome: inout Outcome) -> ChildProcess.Termination {
        if let termination = process.wait(until: deadline, signals: signals) { return termination }
        if signals.shouldStop {
            outcome.interrupted = true
        } else {
            outcome.failures.append("the \(process.label) did not exit in time and was stopped")
        }
        return process.stop()
    }

    /// A failure unless the program exited 0; quotes the last line of its log.
    private static func check(_ termination: ChildProcess.Termination, _ who: String, log: String) -> [String] {
        guard termination != .exited(0) else { return [] }
        // Bytes, not a String: a log that is not UTF-8 still shows its last line (escaped).
        let lastLine = FileManager.default.contents(atPath: log)
            .flatMap { [UInt8]($0).split(separator: UInt8(ascii: "\n")).last }
            .map { ": \"\(UntrustedText.escaped($0, limit: 160))\"" } ?? ""
        return ["\(who) \(termination)\(lastLine)"]
    }

    /// Removes whatever of the channel's four objects is left; each one is a failure.
    private func removeLeftovers() -> [String] {
        guard let name = try? ChannelName(channel) else { return [] }
        let left = ChannelInspector.removeObjects(of: name)
        guard !left.isEmpty else { return [] }
        let files = ChannelFiles(name)
        let names = left.map { UntrustedText.escaped(files.fileName($0)) }
        return ["left in /dev/shm (now removed): \(names.joined(separator: ", "))"]
    }

}
