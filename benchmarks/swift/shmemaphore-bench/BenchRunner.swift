import CBenchConstants
import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// A program to start for one benchmark process.
struct BenchProgram {
    let executable: String
    let arguments: [String]
}

/// One process of a benchmark run: a ``ChildProcess`` whose standard output
/// and error go to files, which hold its BENCH result line and its last words.
final class BenchProcess {
    let child: ChildProcess
    let outputPath: String
    let errorPath: String

    init(label: String, program: BenchProgram, environment: [String], outputPath: String, errorPath: String) throws {
        self.outputPath = outputPath
        self.errorPath = errorPath
        let output = try OpenFile.create(outputPath), errors = try OpenFile.create(errorPath)
        child = try ChildProcess(
            label: label, executable: program.executable, arguments: program.arguments, environment: environment,
            standardOutput: .file(output), standardError: .file(errors))
    }

    var label: String { child.label }

    /// True once the child has been reaped (reaps it if it has ended; never blocks).
    var hasEnded: Bool { child.termination != nil }

    /// True when the child exited with status 0.
    var succeeded: Bool { child.termination?.succeeded ?? false }

    /// "exited with status 1", "was killed by signal 9".
    var endDescription: String { child.termination?.description ?? "is still running" }

    /// Reaps the child if it has ended (never blocks).
    func poll() { _ = child.termination }

    /// Kills the child's process group and reaps the child.
    func kill() { child.kill() }

    /// The BENCH lines of its standard output, as key → value maps.
    func resultLines() -> [[String: String]] {
        guard let text = try? String(contentsOfFile: outputPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").filter { $0.hasPrefix("BENCH ") }.map { line in
            var fields: [String: String] = [:]
            for token in line.split(separator: " ").dropFirst() {
                guard let equals = token.firstIndex(of: "=") else { continue }
                fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
            }
            return fields
        }
    }

    /// The last line it wrote on standard error, for failure messages.
    func lastErrorLine() -> String? {
        guard let text = try? String(contentsOfFile: errorPath, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").last.map { UntrustedText.escaped(String($0), limit: 200) }
    }
}

/// Runs the processes of one benchmark run to their end.
enum BenchRunner {
    /// SIGCHLD is blocked in every thread (``prepareSignals()``) and taken
    /// here with sigtimedwait, in slices of this length.
    static let waitSlice: Int = 250_000_000

    /// Blocks SIGCHLD before any thread starts, so that it stays pending for
    /// sigtimedwait instead of being discarded by another thread.
    static func prepareSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGCHLD)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    enum Outcome: Equatable {
        case finished
        case timedOut
        case interrupted
    }

    /// Waits until every child has ended, without polling: SIGCHLD (or a
    /// slice of ``waitSlice``) wakes it up.  When one fails, the others get
    /// `failureGrace` seconds, then are killed; at `timeout` everything is
    /// killed; a SIGINT/SIGTERM kills everything at once.
    static func wait(for children: [BenchProcess], timeout: Double, signals: SignalWatcher, failureGrace: Double = 2) -> Outcome {
        let deadline = benchNow() + Int64(timeout * 1e9)
        var graceDeadline: Int64?
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGCHLD)
        while true {
            for child in children { child.poll() }
            if children.allSatisfy(\.hasEnded) { return .finished }
            if signals.shouldStop {
                for child in children { child.kill() }
                return .interrupted
            }
            let now = benchNow()
            if now >= deadline {
                for child in children { child.kill() }
                return .timedOut
            }
            if children.contains(where: { $0.hasEnded && !$0.succeeded }) {
                if let graceDeadline, now >= graceDeadline {
                    for child in children { child.kill() }
                    continue
                }
                if graceDeadline == nil { graceDeadline = now + Int64(failureGrace * 1e9) }
            }
            var slice = timespec(tv_sec: 0, tv_nsec: waitSlice)
            var info = siginfo_t()
            _ = sigtimedwait(&set, &info, &slice)
        }
    }
}

/// System calls counted in a strace log (`strace -f -qq -o FILE`) between
/// the benchmark's marker calls, per process.
enum BenchStrace {
    /// pid → system call name → count, inside each process's steady-state window.
    static func windowCounts(inFile path: String) -> [Int: [String: Int]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var counting: Set<Int> = []
        var counts: [Int: [String: Int]] = [:]
        for line in text.split(separator: "\n") {
            // "1234  futex(0x7f..., FUTEX_WAKE, 1) = 1", "1234  <... futex resumed>) = 0",
            // "1234  --- SIGCHLD ... ---"; with one traced process the pid may be missing.
            var rest = line[...]
            var pid = 0
            if let space = rest.firstIndex(of: " "), let value = Int(rest[..<space]) {
                pid = value
                rest = rest[space...].drop(while: { $0 == " " })
            }
            if rest.contains(BENCH_MARKER_BEGIN) {
                counting.insert(pid)
                if counts[pid] == nil { counts[pid] = [:] }  // present even with no call in the window
                continue
            }
            if rest.contains(BENCH_MARKER_END) {
                counting.remove(pid)
                continue
            }
            guard counting.contains(pid), !rest.hasPrefix("<..."), !rest.hasPrefix("---"), !rest.hasPrefix("+++"),
                let parenthesis = rest.firstIndex(of: "(")
            else { continue }
            let name = String(rest[..<parenthesis])
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
            counts[pid, default: [:]][name, default: 0] += 1
        }
        return counts
    }
}
