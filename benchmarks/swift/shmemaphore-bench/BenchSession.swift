import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// What one benchmark process reported (its BENCH line).
struct BenchProcessResult {
    let role: String
    let pid: Int
    let count: Int
    let elapsedNanoseconds: Int64
    let medianNanoseconds: Int64?
    let p99Nanoseconds: Int64?
    let minorFaults: Int
    let majorFaults: Int
    let contextSwitches: Int
    let allocations: Int?
    /// System calls and futex calls in the loop (perf counters), when counted.
    let syscalls: Int?
    let futexes: Int?
    let kernels: String

    init?(_ fields: [String: String]) {
        guard let role = fields["role"], let pid = fields["pid"].flatMap(Int.init), let count = fields["count"].flatMap(Int.init),
            let elapsed = fields["elapsed_ns"].flatMap(Int64.init), let minflt = fields["minflt"].flatMap(Int.init),
            let majflt = fields["majflt"].flatMap(Int.init)
        else { return nil }
        self.role = role
        self.pid = pid
        self.count = count
        self.elapsedNanoseconds = elapsed
        self.medianNanoseconds = fields["median_ns"].flatMap(Int64.init)
        self.p99Nanoseconds = fields["p99_ns"].flatMap(Int64.init)
        self.minorFaults = minflt
        self.majorFaults = majflt
        self.contextSwitches = (fields["nvcsw"].flatMap(Int.init) ?? 0) + (fields["nivcsw"].flatMap(Int.init) ?? 0)
        self.allocations = fields["allocs"].flatMap(Int.init)
        self.syscalls = fields["syscalls"].flatMap(Int.init)
        self.futexes = fields["futex"].flatMap(Int.init)
        self.kernels = fields["kernels"] ?? "c"
    }
}

/// One timed run: the requester's measurements and both processes' counters.
struct BenchSample {
    let requester: BenchProcessResult
    let responder: BenchProcessResult?
    var processes: [BenchProcessResult] { [requester] + (responder.map { [$0] } ?? []) }
}

/// System calls counted with perf counters in each process's steady-state
/// loop, at full speed: totals and futex calls.
struct BenchSyscallCounts {
    /// Exchanges in the counted loop.
    let count: Int
    let requesterTotal: Int
    let requesterFutex: Int
    let responderTotal: Int
    let responderFutex: Int
}

/// System calls counted under strace in each process's steady-state loop.
struct BenchSyscalls {
    /// Exchanges in the traced loop.
    let count: Int
    let requester: [String: Int]
    let responder: [String: Int]
}

/// Everything measured for one row of the report.
struct BenchRow {
    let key: BenchRowKey
    let workload: BenchWorkload
    var samples: [BenchSample] = []
    /// By type, from the strace run.
    var syscalls: BenchSyscalls?
    /// Totals and futex calls, from the perf-counter run.
    var syscallCounts: BenchSyscallCounts?
    /// Why the row has no (or incomplete) results.
    var error: String?
}

/// A run that failed: the row records the message and the session goes on.
struct BenchRunFailure: Error {
    let message: String
}

/// Runs a plan: every row's repetitions round-robin, then the traced runs.
final class BenchSession {
    let plan: BenchPlan
    let workFolder: String
    let signals: SignalWatcher
    private var runNumber = 0
    private let environment: [String]

    init(plan: BenchPlan, workFolder: String, signals: SignalWatcher) {
        self.plan = plan
        self.workFolder = workFolder
        self.signals = signals
        var variables = ProcessInfo.processInfo.environment
        if let counter = plan.mallocCounter {
            let existing = variables["LD_PRELOAD"].flatMap { $0.isEmpty ? nil : $0 }
            variables["LD_PRELOAD"] = existing.map { "\(counter) \($0)" } ?? counter
        }
        environment = variables.map { "\($0.key)=\($0.value)" }.sorted()
    }

    func run() throws -> [BenchRow] {
        let keys = plan.rowKeys
        var rows: [BenchRowKey: BenchRow] = [:]
        for key in keys { rows[key] = BenchRow(key: key, workload: BenchWorkload.named(key.workload)!) }
        let total = plan.runCount
        for repetition in 1...plan.repetitions {
            for key in keys where rows[key]!.error == nil {
                let label = "[\(runNumber + 1)/\(total)] \(key.workload) \(key.cpus.rawValue) \(key.impl) #\(repetition)"
                do {
                    let (sample, _) = try runOnce(key, mode: .timed)
                    rows[key]!.samples.append(sample)
                    Console.printError("bench: \(label): \(Self.describe(sample, workload: rows[key]!.workload))")
                } catch let failure as BenchRunFailure {
                    rows[key]!.error = failure.message
                    Console.printError("bench: \(label): FAILED: \(failure.message)")
                }
            }
        }
        if plan.countSyscalls {
            var unavailable: String?
            for key in keys where rows[key]!.error == nil {
                let label = "[\(runNumber + 1)/\(total)] \(key.workload) \(key.cpus.rawValue) \(key.impl) with perf counters"
                if let unavailable {
                    runNumber += 1
                    Console.printError("bench: \(label): skipped (\(unavailable))")
                    continue
                }
                do {
                    let (sample, _) = try runOnce(key, mode: .counted)
                    guard let requesterTotal = sample.requester.syscalls, let requesterFutex = sample.requester.futexes else {
                        throw BenchRunFailure(message: "the requester reported no system-call counts")
                    }
                    let counts = BenchSyscallCounts(
                        count: sample.requester.count, requesterTotal: requesterTotal, requesterFutex: requesterFutex,
                        responderTotal: sample.responder?.syscalls ?? 0, responderFutex: sample.responder?.futexes ?? 0)
                    rows[key]!.syscallCounts = counts
                    let perExchange = Double(counts.requesterTotal + counts.responderTotal) / Double(counts.count)
                    Console.printError("bench: \(label): \(Durations.format(perExchange, decimals: 2)) system calls per exchange")
                } catch let failure as BenchRunFailure {
                    if failure.message.contains("perf tracepoint counters") {
                        // Not a failure of the row: this machine does not allow the counters.
                        unavailable = "perf counters unavailable: \(failure.message)"
                        Console.printError("bench: \(label): \(unavailable!); strace alone counts the calls")
                    } else {
                        Console.printError("bench: \(label): FAILED: \(failure.message)")
                        rows[key]!.error = "with perf counters: \(failure.message)"
                    }
                }
            }
        }
        if plan.strace != nil {
            for key in keys where rows[key]!.error == nil {
                let label = "[\(runNumber + 1)/\(total)] \(key.workload) \(key.cpus.rawValue) \(key.impl) under strace"
                do {
                    let (_, syscalls) = try runOnce(key, mode: .traced)
                    rows[key]!.syscalls = syscalls
                    let perExchange = syscalls.map {
                        Double($0.requester.values.reduce(0, +) + $0.responder.values.reduce(0, +)) / Double($0.count)
                    }
                    Console.printError("bench: \(label): \(perExchange.map { Durations.format($0, decimals: 2) } ?? "-") system calls per exchange")
                } catch let failure as BenchRunFailure {
                    Console.printError("bench: \(label): FAILED: \(failure.message)")
                    rows[key]!.error = "under strace: \(failure.message)"
                }
            }
        }
        return keys.map { rows[$0]! }
    }

    static func describe(_ sample: BenchSample, workload: BenchWorkload) -> String {
        let requester = sample.requester
        let median = Double(requester.medianNanoseconds ?? 0) / 1000
        let p99 = Double(requester.p99Nanoseconds ?? 0) / 1000
        if workload.name == "W1" {
            return "median \(Durations.format(median, decimals: 2)) µs, p99 \(Durations.format(p99, decimals: 2)) µs"
        }
        let gigabytesPerSecond = Double(requester.count) * Double(workload.bytes) / Double(requester.elapsedNanoseconds)
        return "\(Durations.format(median / 1000, decimals: 3)) ms per transfer, \(Durations.format(gigabytesPerSecond, decimals: 2)) GB/s"
    }

    // MARK: One run

    /// How a run is made.
    enum RunMode {
        /// The measurement itself.
        case timed
        /// With perf system-call counters in each process (--count-syscalls).
        case counted
        /// Under strace -f, for the system calls by type.
        case traced
    }

    /// Runs `key` once; a traced run also returns the system calls counted by strace.
    private func runOnce(_ key: BenchRowKey, mode: RunMode) throws -> (BenchSample, BenchSyscalls?) {
        let traced = mode == .traced
        runNumber += 1
        let number = runNumber
        let workload = BenchWorkload.named(key.workload)!
        let implementation = BenchImplementation.named(key.impl)!
        let (count, warmup): (Int, Int)
        switch mode {
        case .timed: (count, warmup) = plan.budget.counts(workload)
        case .counted: (count, warmup) = plan.budget.countedCounts(workload)
        case .traced: (count, warmup) = plan.budget.tracedCounts(workload)
        }
        let (requesterCPU, responderCPU) = plan.cpus(for: key.cpus)
        let stem = Paths.join(workFolder, "\(number)-\(key.workload)-\(key.cpus.rawValue)-\(key.impl)")
        let common = ["--workload", workload.name, "--count", "\(count)", "--warmup", "\(warmup)"]
            + (mode == .counted ? ["--count-syscalls"] : [])

        var programs: [(label: String, program: BenchProgram)] = []
        var channel: ChannelName?
        switch implementation.shape {
        case .library(let requesterSide, let responderSide, let zeroCopy, let wait, let untrusted):
            let name = "shmemaphore-bench-\(getpid())-\(number)"
            channel = try? ChannelName(name)
            func peer(_ side: BenchImplementation.Side, role: String, cpu: Int) -> BenchProgram {
                var arguments = ["--role", role, "--channel", name, "--cpu", "\(cpu)", "--impl", implementation.name]
                    + ["--wait", wait.rawValue] + common
                if role == "responder" && zeroCopy { arguments.append("--zero-copy") }
                if untrusted { arguments.append("--untrusted-peer") }
                switch side {
                case .swift:
                    if FileManager.default.fileExists(atPath: plan.programs.support) {
                        arguments += ["--support", plan.programs.support]
                    }
                    return BenchProgram(executable: plan.programs.bench, arguments: ["peer"] + arguments)
                case .c:
                    return BenchProgram(executable: plan.programs.cPeer, arguments: arguments)
                case .python, .iceoryx2:
                    let script = side == .python ? "bench_peer.py" : "bench_iceoryx2.py"
                    if FileManager.default.fileExists(atPath: plan.programs.support) {
                        arguments += ["--support", plan.programs.support]
                    }
                    return BenchProgram(
                        executable: plan.programs.python ?? "python3",
                        arguments: [Paths.join(plan.programs.pythonScripts, script)] + arguments)
                }
            }
            // The responder first: it waits for the channel the requester creates.
            programs.append(("responder", peer(responderSide, role: "responder", cpu: responderCPU)))
            programs.append(("requester", peer(requesterSide, role: "requester", cpu: requesterCPU)))
        case .baseline, .singleProcess:
            programs.append((
                "baseline",
                BenchProgram(
                    executable: plan.programs.baselines,
                    arguments: ["--impl", implementation.name, "--cpus", "\(requesterCPU),\(responderCPU)"] + common)
            ))
        }

        var children: [BenchProcess] = []
        var traceFiles: [String] = []
        defer {
            for child in children { child.kill() }
            if let channel { ChannelInspector.removeObjects(of: channel) }
        }
        for (label, program) in programs {
            var started = program
            if traced, let strace = plan.strace {
                let traceFile = "\(stem)-\(label).strace"
                traceFiles.append(traceFile)
                started = BenchProgram(
                    executable: strace, arguments: ["-f", "-qq", "-o", traceFile, "--", program.executable] + program.arguments)
            }
            do {
                children.append(
                    try BenchProcess(
                        label: label, program: started, environment: environment, outputPath: "\(stem)-\(label).out",
                        errorPath: "\(stem)-\(label).err"))
            } catch let failure as CommandFailure {
                throw BenchRunFailure(message: failure.message)
            }
        }
        switch BenchRunner.wait(for: children, timeout: plan.timeout, signals: signals) {
        case .interrupted:
            throw CommandFailure(.failure, "\(signals.receivedSignalName) received; stopped")
        case .timedOut:
            throw BenchRunFailure(message: "no result within \(Durations.format(plan.timeout, decimals: plan.timeout < 10 ? 1 : 0)) s (--timeout)")
        case .finished:
            break
        }
        for child in children where !child.succeeded {
            let detail = child.lastErrorLine().map { ": \($0)" } ?? ""
            throw BenchRunFailure(message: "\(child.label) \(child.endDescription)\(detail)")
        }
        let results = children.flatMap { $0.resultLines() }.compactMap(BenchProcessResult.init)
        guard let requester = results.first(where: { $0.role == "requester" }), requester.medianNanoseconds != nil else {
            throw BenchRunFailure(message: "the requester printed no result line")
        }
        let responder = results.first { $0.role == "responder" }
        if !implementation.isSingleProcess && responder == nil {
            throw BenchRunFailure(message: "the responder printed no result line")
        }
        let sample = BenchSample(requester: requester, responder: responder)
        guard traced else { return (sample, nil) }

        var byProcess: [Int: [String: Int]] = [:]
        for file in traceFiles {
            byProcess.merge(BenchStrace.windowCounts(inFile: file)) { first, _ in first }
        }
        guard let requesterCalls = byProcess[requester.pid] else {
            throw BenchRunFailure(message: "strace log without the requester's marker calls")
        }
        var responderCalls: [String: Int] = [:]
        if let responder {
            guard let calls = byProcess[responder.pid] else {
                throw BenchRunFailure(message: "strace log without the responder's marker calls")
            }
            responderCalls = calls
        }
        return (sample, BenchSyscalls(count: count, requester: requesterCalls, responder: responderCalls))
    }
}
