import FoundationEssentials
import Glibc

/// A child process for `demo` and `conformance`, started with posix_spawn
/// (``ChildSpawn``).
///
/// Each child runs in its own process group, with a clean signal mask.  So
/// a Ctrl-C at the terminal reaches only this tool, which then stops its
/// children itself (``stop(grace:)``), and stopping a child also stops
/// whatever it started (a `/bin/sh -c` command's programs).
final class ChildProcess {
    /// Where a standard stream of the child goes.
    enum Destination {
        /// A pipe this tool reads (``outputReader``).
        case pipe
        /// An open file, shared e.g. by stdout and stderr.
        case file(OpenFile)
        /// /dev/null.
        case discard
    }

    /// How a child ended.
    enum Termination: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        /// From a waitpid(2) status (WIFEXITED and friends are macros Swift cannot call).
        init(waitStatus status: Int32) {
            self = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        }

        var description: String {
            switch self {
            case .exited(let status): return "exited with status \(status)"
            case .signaled(let signal): return "was killed by signal \(signal)"
            }
        }
    }

    /// A short name for messages ("server", "client").
    let label: String
    /// The child's process id (and process group id).
    let pid: pid_t
    /// True once ``stop(grace:)`` had to signal the child.
    private(set) var wasStopped = false
    /// Reads the child's standard output when it was started with `.pipe`.
    private(set) var outputReader: LineReader?
    private var ended: Termination?

    /// Starts `executable` with `arguments` and this tool's environment;
    /// standard input is /dev/null.
    init(
        label: String, executable: String, arguments: [String],
        standardOutput: Destination, standardError: Destination
    ) throws {
        self.label = label
        var outputPipe: (read: OpenFile, write: OpenFile)?
        if case .pipe = standardOutput {
            outputPipe = try OpenFile.pipe()
        } else if case .pipe = standardError {
            outputPipe = try OpenFile.pipe()
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (destination, descriptor) in [(standardOutput, Int32(1)), (standardError, Int32(2))] {
            switch destination {
            case .pipe: posix_spawn_file_actions_adddup2(&actions, outputPipe!.write.descriptor, descriptor)
            case .file(let file): posix_spawn_file_actions_adddup2(&actions, file.descriptor, descriptor)
            case .discard: posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0)
            }
        }
        pid = try ChildSpawn.start(executable, arguments: arguments, environment: nil, actions: &actions)
        if let outputPipe {
            // Our write end closes when init returns: the reader sees end of file once the child exits.
            outputReader = LineReader(descriptor: outputPipe.read.descriptor, owner: outputPipe.read)
        }
    }

    /// How the child ended, or nil while it runs (reaps it once it ended).
    var termination: Termination? {
        if ended == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { ended = Termination(waitStatus: status) }
        }
        return ended
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
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        ended = Termination(waitStatus: status)
        return ended!
    }
}

/// posix_spawn with what every child of this tool needs: its own process
/// group (a signal to the group reaches the child and what it started, a
/// Ctrl-C at the terminal reaches only this tool), no blocked signals (the
/// tool blocks SIGINT and SIGTERM for its SignalWatcher, and the mask is
/// inherited), default dispositions, and none of the tool's descriptors
/// besides 0, 1 and 2.
enum ChildSpawn {
    /// Starts `executable`; `environment` nil passes this tool's own.
    /// `actions` set up the standard streams.
    static func start(
        _ executable: String, arguments: [String], environment: [String]?,
        actions: inout posix_spawn_file_actions_t
    ) throws -> pid_t {
        // After the caller's actions, which may dup2 a descriptor onto 0-2
        // first.  (closefrom_np is a GNU extension Swift's Glibc does not show.)
        for descriptor in inheritedDescriptors() where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup($0) } + [nil] }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp ?? [] { free(pointer) }
        }
        var pid: pid_t = 0
        let error = envp.map { posix_spawn(&pid, executable, &actions, &attributes, argv, $0) }
            ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard error == 0 else {
            throw CommandFailure(.failure, "cannot start \(executable): \(String(cString: strerror(error)))")
        }
        return pid
    }

    /// This process's open descriptors (one of them the listing's own, closed
    /// by now: posix_spawn ignores closing a descriptor that is not open).
    private static func inheritedDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }
    }
}

/// A descriptor this tool opened, closed when the last user lets go (a log
/// file shared by a child's stdout and stderr, a pipe's read end held by a
/// ``LineReader``).  Opened close-on-exec: a child gets only what
/// posix_spawn's file actions give it.
final class OpenFile {
    let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }
    deinit { close(descriptor) }

    /// Creates or truncates `path` for writing.
    static func create(_ path: String) throws -> OpenFile {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CommandFailure(.failure, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return OpenFile(descriptor: descriptor)
    }

    /// A new pipe.
    static func pipe() throws -> (read: OpenFile, write: OpenFile) {
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else {
            throw CommandFailure(.failure, "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return (OpenFile(descriptor: ends[0]), OpenFile(descriptor: ends[1]))
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
        return "'" + text.replacing("'", with: "'\\''") + "'"
    }
}

/// Where this executable lives, to find itself and its sibling programs.
enum ExecutableLocation {
    /// The absolute path of the running executable (/proc/self/exe).
    static var path: String {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return resolved
        }
        return URL(filePath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// The folder that holds the running executable.
    static var directory: String { Paths.parent(of: path) }

    /// True when `path` is a regular file we may execute.
    static func isExecutable(_ path: String) -> Bool {
        var isDirectory = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory
            && access(path, X_OK) == 0
    }
}
