import FoundationEssentials
import Glibc

/// A child process, started with posix_spawn: the one process spawner of the
/// tool, the conformance runner, the benchmark and the tests.
///
/// Each child runs in its own process group, with a clean signal mask, the
/// default disposition of the signals the programs handle, and none of the
/// parent's descriptors besides 0, 1 and 2.  So a Ctrl-C at the terminal
/// reaches only the parent, which then stops its children itself
/// (``stop(grace:)``, ``kill()``), and stopping a child also stops whatever
/// it started (a `/bin/sh -c` command's programs).  Standard input is
/// /dev/null.
///
/// Not Foundation.Process (or swift-subprocess, whose API is async): the
/// callers are synchronous loops that decide themselves how they wait (the
/// benchmark with sigtimedwait, so that it does not wake up every few
/// milliseconds next to a run that is being timed), and the programs avoid
/// Foundation.
package final class ChildProcess {
    /// Where a standard stream of the child goes.
    package enum Destination {
        /// A pipe this process reads (``outputReader``); standard output and
        /// standard error share it when both are `.pipe`.
        case pipe
        /// An open file, shared e.g. by stdout and stderr.
        case file(OpenFile)
        /// /dev/null.
        case discard
    }

    /// How a child ended.
    package enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        /// From a waitpid(2) status (WIFEXITED and friends are macros Swift cannot call).
        package init(waitStatus status: Int32) {
            self = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        }

        /// True for an exit with status 0.
        package var succeeded: Bool { self == .exited(0) }

        /// "exited with status 1", "was killed by signal 9".
        package var description: String {
            switch self {
            case .exited(let status): return "exited with status \(status)"
            case .signaled(let signal): return "was killed by signal \(signal)"
            }
        }
    }

    /// A short name for messages ("server", "client").
    package let label: String
    /// The child's process id (and process group id).
    package let pid: pid_t
    /// True once ``stop(grace:)`` or ``kill()`` had to signal the child.
    package private(set) var wasStopped = false
    /// Reads the child's output when it was started with `.pipe`.
    package private(set) var outputReader: LineReader?
    private var ended: Termination?

    /// Starts `executable` with `arguments`.  An `executable` without a "/"
    /// is looked for in PATH (posix_spawnp).  `environment` (NAME=VALUE
    /// strings) nil passes this process's own.
    package init(
        label: String, executable: String, arguments: [String], environment: [String]? = nil,
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
        pid = try Self.spawn(executable, arguments: arguments, environment: environment, actions: &actions)
        if let outputPipe {
            // Our write end closes when init returns: the reader sees end of file once the child exits.
            outputReader = LineReader(descriptor: outputPipe.read.descriptor, owner: outputPipe.read)
        }
    }

    /// How the child ended, or nil while it runs (reaps it once it ended; never blocks).
    package var termination: Termination? {
        if ended == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { ended = Termination(waitStatus: status) }
        }
        return ended
    }

    /// True while the child runs.
    package var isRunning: Bool { termination == nil }

    /// Waits until the child ends, `deadline` passes or a signal asks us to
    /// stop; returns how it ended, or nil if it still runs.  Polls every 2 ms.
    package func wait(until deadline: ContinuousClock.Instant, signals: SignalWatcher? = nil) -> Termination? {
        while true {
            if let termination { return termination }
            if deadline.hasPassed || signals?.shouldStop == true { return nil }
            usleep(2_000)
        }
    }

    /// Stops the child's process group: SIGTERM first (our servers then close
    /// their channel), SIGKILL after `grace`.  Returns how the child ended.
    @discardableResult
    package func stop(grace: Duration = .seconds(2)) -> Termination {
        if let termination { return termination }
        wasStopped = true
        Glibc.kill(-pid, SIGTERM)
        if let termination = wait(until: .now + grace) { return termination }
        return kill()
    }

    /// Kills the child's process group with SIGKILL at once and reaps the
    /// child.  Returns how it ended (a child that ended already is not signalled).
    @discardableResult
    package func kill() -> Termination {
        if let termination { return termination }
        wasStopped = true
        Glibc.kill(-pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        ended = Termination(waitStatus: status)
        return ended!
    }

    // MARK: Spawning

    /// posix_spawnp with what every child needs: its own process group (a
    /// signal to the group reaches the child and what it started, a Ctrl-C
    /// at the terminal reaches only the parent), no blocked signals (the
    /// programs block SIGINT and SIGTERM for their SignalWatcher, the
    /// benchmark SIGCHLD, and the mask is inherited), default dispositions,
    /// and none of the parent's descriptors besides 0, 1 and 2.  `actions`
    /// set up the standard streams.
    private static func spawn(
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
        let error = envp.map { posix_spawnp(&pid, executable, &actions, &attributes, argv, $0) }
            ?? posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
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

extension ChildProcess {
    /// What ``run(_:arguments:environment:mergingErrors:timeout:grace:)`` saw.
    package struct Completed: Sendable {
        /// How the child ended.
        package let termination: Termination
        /// True when the time limit passed and the child was stopped.
        package let timedOut: Bool
        /// Everything it wrote on standard output (and, merged, standard error).
        package let standardOutput: [UInt8]
        /// Everything it wrote on standard error; empty when merged.
        package let standardError: [UInt8]
    }

    /// Runs `executable` to its end and returns its output.  When `timeout`
    /// passes first, the child is stopped (SIGTERM, then SIGKILL after
    /// `grace`; at once with a zero grace).  The output goes to unlinked
    /// temporary files, not pipes, so that a child that writes much never
    /// blocks on a full pipe while nobody reads it.
    package static func run(
        _ executable: String, arguments: [String], environment: [String]? = nil, mergingErrors: Bool = false,
        timeout: Duration, grace: Duration = .zero
    ) throws -> Completed {
        let output = try OpenFile.temporary()
        let errors = mergingErrors ? output : try OpenFile.temporary()
        let child = try ChildProcess(
            label: Paths.lastComponent(of: executable), executable: executable, arguments: arguments,
            environment: environment, standardOutput: .file(output), standardError: .file(errors))
        var timedOut = false
        var termination = child.wait(until: .now + timeout)
        if termination == nil {
            timedOut = true
            termination = grace == .zero ? child.kill() : child.stop(grace: grace)
        }
        return Completed(
            termination: termination!, timedOut: timedOut, standardOutput: output.contents(),
            standardError: mergingErrors ? [] : errors.contents())
    }
}
