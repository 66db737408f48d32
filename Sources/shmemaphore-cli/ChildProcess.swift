import Foundation

/// A child process for `demo` and `conformance`, started with
/// Foundation.Process.
///
/// Foundation starts each child in its own process group, with a clean
/// signal mask.  So a Ctrl-C at the terminal reaches only this tool, which
/// then stops its children itself (``stop(grace:)``), and stopping a child
/// also stops whatever it started (a `/bin/sh -c` command's programs).
final class ChildProcess {
    /// Where a standard stream of the child goes.
    enum Destination {
        /// A pipe this tool reads (``outputReader``).
        case pipe
        /// An open file, shared e.g. by stdout and stderr.
        case file(FileHandle)
        /// /dev/null.
        case discard
    }

    /// How a child ended.
    enum Termination: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let status): return "exited with status \(status)"
            case .signaled(let signal): return "was killed by signal \(signal)"
            }
        }
    }

    /// A short name for messages ("server", "client").
    let label: String
    private let process = Process()
    /// True once ``stop(grace:)`` had to signal the child.
    private(set) var wasStopped = false
    /// Reads the child's standard output when it was started with `.pipe`.
    private(set) var outputReader: LineReader?

    /// Starts `executable` with `arguments`; standard input is /dev/null.
    init(
        label: String, executable: String, arguments: [String],
        standardOutput: Destination, standardError: Destination
    ) throws {
        self.label = label
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        var outputPipe: Pipe?
        func attach(_ destination: Destination) -> Any {
            switch destination {
            case .pipe:
                let pipe = outputPipe ?? Pipe()
                outputPipe = pipe
                return pipe
            case .file(let handle): return handle
            case .discard: return FileHandle.nullDevice
            }
        }
        process.standardOutput = attach(standardOutput)
        process.standardError = attach(standardError)
        do {
            try process.run()
        } catch {
            throw CommandFailure(.failure, "cannot start \(executable): \(error.localizedDescription)")
        }
        if let outputPipe {
            outputReader = LineReader(descriptor: outputPipe.fileHandleForReading.fileDescriptor, owner: outputPipe)
        }
    }

    /// The child's process id (and process group id).
    var pid: Int32 { process.processIdentifier }

    /// How the child ended, or nil while it runs.
    var termination: Termination? {
        guard !process.isRunning else { return nil }
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signaled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }

    /// Waits until the child ends, `deadline` passes or a signal asks us to
    /// stop; returns how it ended, or nil if it still runs.
    func wait(until deadline: ContinuousClock.Instant, signals: SignalWatcher? = nil) -> Termination? {
        while true {
            if let termination { return termination }
            if deadline.hasPassed || signals?.shouldStop == true { return nil }
            usleep(2_000)
        }
    }

    /// Stops the child's process group: SIGTERM first (our servers then close
    /// their channel), SIGKILL after `grace`.  Returns how the child ended.
    @discardableResult
    func stop(grace: Duration = .seconds(2)) -> Termination {
        if let termination { return termination }
        wasStopped = true
        kill(-pid, SIGTERM)
        if let termination = wait(until: .now + grace) { return termination }
        kill(-pid, SIGKILL)
        process.waitUntilExit()
        return termination ?? .signaled(SIGKILL)
    }
}

/// Reads lines from a pipe with a deadline: poll(2) in short slices, then
/// read(2), so that a silent child cannot block the reader forever and a
/// signal is noticed within the slice.
final class LineReader {
    /// What ``next(deadline:signals:)`` found.
    enum Event: Equatable {
        case line(String)
        case endOfFile
        case timedOut
        case interrupted
    }

    private let descriptor: Int32
    private let owner: AnyObject
    private var buffer: [UInt8] = []
    private var atEndOfFile = false

    /// Reads `descriptor`; `owner` keeps the object that owns it open.
    init(descriptor: Int32, owner: AnyObject) {
        self.descriptor = descriptor
        self.owner = owner
    }

    /// The next complete line (without its "\n"); a last line without a
    /// newline is returned at end of file.
    func next(deadline: ContinuousClock.Instant, signals: SignalWatcher? = nil) -> Event {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return .line(line)
            }
            if atEndOfFile {
                guard !buffer.isEmpty else { return .endOfFile }
                defer { buffer.removeAll() }
                return .line(String(decoding: buffer, as: UTF8.self))
            }
            if signals?.shouldStop == true { return .interrupted }
            let remaining = deadline.timeRemaining
            if remaining == .zero { return .timedOut }
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let slice = Int32(min(100, max(1, Durations.milliseconds(remaining))))
            let ready = poll(&request, 1, slice)
            if ready < 0 && errno != EINTR { atEndOfFile = true; continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.append(contentsOf: chunk[..<count])
            } else if count == 0 || errno != EINTR {
                atEndOfFile = true
            }
        }
    }
}

/// Quoting for `/bin/sh`, used to show command lines and to substitute
/// values into the `--server-cmd`/`--client-cmd` templates of `conformance`.
enum ShellQuoting {
    /// `text` unchanged if the shell would take it literally, else in single quotes.
    static func quoteIfNeeded(_ text: String) -> String {
        let safe = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./=:,+@%")
        if !text.isEmpty && text.allSatisfy({ safe.contains($0) }) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Where this executable lives, to find itself and its sibling programs.
enum ExecutableLocation {
    /// The absolute path of the running executable (/proc/self/exe).
    static var path: String {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return resolved
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// The folder that holds the running executable.
    static var directory: String { (path as NSString).deletingLastPathComponent }

    /// True when `path` is a regular file we may execute.
    static func isExecutable(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && access(path, X_OK) == 0
    }
}
