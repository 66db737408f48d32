import ArgumentParser
import FoundationEssentials
import Glibc
import Shmemaphore

/// `shmemaphore bench`: measures libshmemaphore against plain POSIX
/// baselines, every implementation in its own pair of processes, in one run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure libshmemaphore against plain POSIX baselines (docs/PERFORMANCE.md).",
        discussion: """
            Workloads: W1 ping (8-byte request, 64-byte response: round-trip latency), \
            W2 image (1920x1080x3 = 6,220,800 bytes) and W3 4K (3840x2160x4 = \
            33,177,600 bytes): transfers/s and GB/s. Every payload changes with every \
            exchange and the requester checksums every byte of it.

            Implementations: lib-swift (Swift <-> Swift), lib-c (C <-> C through the \
            header), lib-mixed (C requester, Swift responder), lib-swift-zc (zero-copy: \
            reserve/commit), all with the library's defaults (adaptive waiting); \
            lib-swift-blocking and lib-c-blocking (copy path, both processes open \
            with blocking waits: WaitStrategy.blocking, SHMEMAPHORE_FLAG_BLOCKING_WAIT); \
            and the plain-POSIX baselines raw (the protocol's floor: segments mapped \
            once, sem_wait/sem_post), raw-timed (raw with bounded waits, as needed to \
            notice a dead peer: sem_clockwait with a 50 ms deadline, re-armed on \
            timeout), uds (socketpair), pipe and memcpy (memcpy + checksum in one \
            process). Also available: lib-c-zc, raw-zc.

            The C programs (shmemaphore-bench-peer, shmemaphore-bench-baselines and the \
            modules shmemaphore-bench-support.so, shmemaphore-bench-malloc-count.so) are \
            looked for beside this executable or in --bin-dir; build them with \
            `cmake -S . -B build && cmake --build build`. Implementations whose programs \
            are missing are left out with a warning (an error if named in --impls).

            Each run is one process per role, both pinned with sched_setaffinity \
            (--pin: W1 is measured with both processes on one CPU, "same", and on two, \
            "split"; W2 and W3 on two). Runs are repeated round-robin across \
            implementations; the table shows the median of the repetitions and their \
            min-max. Page faults and heap allocations (LD_PRELOADed counter) are counted \
            in each process around its steady-state loop. --syscalls adds two runs per \
            row that count the system calls of that loop: one with perf tracepoint \
            counters (totals and futex calls at full speed; needs root or \
            perf_event_paranoid -1) and one under strace -f (the calls by type; needs \
            strace).

            Exit status: 0 every run succeeded; 1 a run failed (its row says why) or \
            SIGINT/SIGTERM; 2 usage error.
            """
    )

    @Flag(help: "A short run (under a minute): fewer exchanges and repetitions, every implementation and workload.")
    var quick = false

    @Flag(help: "One JSON object per result row on standard output (progress stays on standard error).")
    var json = false

    @Option(help: ArgumentHelp("Workloads, comma-separated.", valueName: "W1,W2,W3"))
    var workloads = "W1,W2,W3"

    @Option(help: ArgumentHelp("Implementations, comma-separated (default: all but lib-c-zc and raw-zc).", valueName: "LIST"))
    var impls: String?

    @Option(help: ArgumentHelp(
        "CPU placement: same (both processes on one CPU), split (on two), none (no pinning); comma-separated for several rows. Default: W1 same,split; W2 and W3 split.",
        valueName: "MODE"))
    var pin: String?

    @Option(help: "Repetitions of every measurement (default 5; --quick 3).")
    var repetitions: Int?

    @Option(help: "W1 round trips measured per run (default 50000; --quick 10000).")
    var roundTrips: Int?

    @Option(help: "W2 and W3 transfers measured per run (default 200; --quick 40 for W2, 20 for W3).")
    var transfers: Int?

    @Flag(help: "Count system calls per exchange: one more run per row with perf counters, one under strace -f.")
    var syscalls = false

    @Flag(help: "Do not preload the heap-allocation counter.")
    var noMallocCount = false

    @Option(help: ArgumentHelp("Where the C benchmark programs are (default: the folder of this executable).", valueName: "DIR"))
    var binDir: String?

    @Option(help: ArgumentHelp("Time limit of one run.", valueName: "SECONDS"))
    var timeout: Double = 300

    @Flag(help: "Keep the work folder (outputs, strace logs) and print its path.")
    var keep = false

    func validate() throws {
        for name in workloadNames where BenchWorkload.named(name) == nil {
            throw ValidationError("--workloads: unknown workload \"\(name)\" (W1, W2, W3)")
        }
        if workloadNames.isEmpty { throw ValidationError("--workloads: nothing selected") }
        if let impls {
            for name in Self.list(impls) where BenchImplementation.named(name) == nil {
                throw ValidationError(
                    "--impls: unknown implementation \"\(name)\"; known: \(BenchImplementation.catalog.map(\.name).joined(separator: ", "))")
            }
        }
        if let pin {
            for mode in Self.list(pin) where BenchPlacement(rawValue: mode) == nil || mode == "one" {
                throw ValidationError("--pin: \"\(mode)\" is not same, split or none")
            }
        }
        if let repetitions, repetitions < 1 { throw ValidationError("--repetitions must be at least 1") }
        if let roundTrips, roundTrips < 1 { throw ValidationError("--round-trips must be at least 1") }
        if let transfers, transfers < 1 { throw ValidationError("--transfers must be at least 1") }
        try Durations.validateSeconds(timeout, option: "--timeout")
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingBlanks }.filter { !$0.isEmpty }
    }

    private var workloadNames: [String] { Self.list(workloads).map { $0.uppercased() } }

    func run() throws {
        try reportingFailures {
            BenchRunner.prepareSignals()
            let signals = SignalWatcher.startWatching()
            ignoreBrokenPipes()
            let started = benchNow()
            let plan = try makePlan()
            let workFolder = try makeWorkFolder()
            defer {
                if keep {
                    Console.printError("bench: work folder kept: \(workFolder)")
                } else {
                    try? FileManager.default.removeItem(atPath: workFolder)
                }
            }
            let session = BenchSession(plan: plan, workFolder: workFolder, signals: signals)
            let rows = try session.run()
            let report = BenchReport(rows: rows, workloads: plan.workloads)
            if json {
                for line in report.jsonLines() { Console.printLine(line) }
            } else {
                for line in report.table() { Console.printLine(line) }
                for line in report.legend(plan: plan) { Console.printLine(line) }
            }
            let seconds = Double(benchNow() - started) / 1e9
            Console.printError("bench: \(plan.runCount) runs in \(Durations.format(seconds, decimals: 1)) s")
            if rows.contains(where: { $0.error != nil }) { throw ExitStatus.failure.exitCode }
        }
    }

    // MARK: Plan

    private func makePlan() throws -> BenchPlan {
        let directory = binDir ?? ExecutableLocation.directory
        func inBinDir(_ file: String) -> String { Paths.join(directory, file) }
        let programs = BenchPrograms(
            tool: ExecutableLocation.path,
            cPeer: inBinDir("shmemaphore-bench-peer"),
            baselines: inBinDir("shmemaphore-bench-baselines"),
            support: inBinDir("shmemaphore-bench-support.so"),
            mallocCounter: inBinDir("shmemaphore-bench-malloc-count.so"))

        var selected: [BenchImplementation] = []
        let explicit = impls != nil
        let names = impls.map(Self.list) ?? BenchImplementation.catalog.filter(\.isDefault).map(\.name)
        var missing: [String] = []
        for name in names {
            let implementation = BenchImplementation.named(name)!
            if selected.contains(where: { $0.name == name }) { continue }
            let absent = implementation.requiredFiles(programs).filter { !ExecutableLocation.isExecutable($0) }
            if absent.isEmpty {
                selected.append(implementation)
            } else {
                missing.append("\(name) (\(absent.joined(separator: ", ")))")
            }
        }
        if !missing.isEmpty {
            let message = "missing program for \(missing.joined(separator: "; ")). Build them with "
                + "`cmake -S . -B build && cmake --build build` and run build/bin/shmemaphore, or pass --bin-dir"
            if explicit { throw CommandFailure(.usage, message) }
            Console.printError("bench: warning: left out \(message)")
        }
        if selected.isEmpty { throw CommandFailure(.usage, "no implementation to run") }
        if !FileManager.default.fileExists(atPath: programs.support) {
            Console.printError("bench: warning: \(programs.support) is missing: the Swift peer uses its own payload kernels")
        }
        var mallocCounter: String? = nil
        if !noMallocCount {
            if FileManager.default.fileExists(atPath: programs.mallocCounter) {
                mallocCounter = programs.mallocCounter
            } else {
                Console.printError("bench: warning: \(programs.mallocCounter) is missing: heap allocations are not counted")
            }
        }
        var strace: String? = nil
        if syscalls && !FileManager.default.fileExists(atPath: programs.support) {
            Console.printError("bench: warning: \(programs.support) is missing: no perf system-call counts")
        }
        if syscalls {
            strace = Self.findInPath("strace")
            if strace == nil {
                Console.printError(
                    "bench: warning: strace not found (Debian: apt-get install strace): no system calls by type, only perf counts")
            }
        }

        let cpus = Self.allowedCPUs()
        var placements = (pin.map(Self.list) ?? []).compactMap(BenchPlacement.init(rawValue:))
        if placements.contains(.split) && cpus.count < 2 {
            Console.printError("bench: warning: only CPU \(cpus.first ?? 0) is available: no \"split\" rows")
            placements.removeAll { $0 == .split }
            if placements.isEmpty && pin != nil { throw CommandFailure(.usage, "--pin: nothing left to run") }
        }
        let workloads = workloadNames.map { BenchWorkload.named($0)! }
        var placementsByWorkload: [String: [BenchPlacement]] = [:]
        for workload in workloads {
            if !placements.isEmpty {
                placementsByWorkload[workload.name] = placements
            } else if cpus.count < 2 {
                placementsByWorkload[workload.name] = [.same]
            } else {
                placementsByWorkload[workload.name] = workload.name == "W1" ? [.same, .split] : [.split]
            }
        }
        return BenchPlan(
            workloads: workloads, implementations: selected, placements: placementsByWorkload,
            cpus: Array(cpus.prefix(2)), repetitions: repetitions ?? (quick ? 3 : 5),
            budget: BenchBudget(quick: quick, roundTrips: roundTrips, transfers: transfers),
            programs: programs, mallocCounter: mallocCounter,
            countSyscalls: syscalls && FileManager.default.fileExists(atPath: programs.support), strace: strace,
            timeout: quick ? min(timeout, 60) : timeout,
            quick: quick)
    }

    /// The CPUs this process may run on (Cpus_allowed_list of /proc/self/status).
    static func allowedCPUs() -> [Int] {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return [0] }
        var cpus: [Int] = []
        for part in line.dropFirst("Cpus_allowed_list:".count).trimmingBlanks.split(separator: ",") {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 1 { cpus.append(bounds[0]) }
            if bounds.count == 2, bounds[0] <= bounds[1] { cpus.append(contentsOf: bounds[0]...bounds[1]) }
        }
        return cpus.isEmpty ? [0] : cpus
    }

    static func findInPath(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if ExecutableLocation.isExecutable(candidate) { return candidate }
        }
        return nil
    }

    private func makeWorkFolder() throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/shmemaphore-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CommandFailure(.failure, "cannot create a work folder in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }
}

// MARK: - Plan types

/// Where the benchmark's programs are.
struct BenchPrograms {
    let tool: String
    let cPeer: String
    let baselines: String
    let support: String
    let mallocCounter: String
}

/// How the processes of a run are placed on CPUs.
enum BenchPlacement: String {
    /// Both processes pinned to one CPU.
    case same
    /// Requester and responder pinned to two different CPUs.
    case split
    /// No pinning.
    case none
    /// A single-process baseline (memcpy), pinned to one CPU.
    case one
}

/// One implementation: how to start its processes.
struct BenchImplementation {
    enum Side { case swift, c }
    enum Shape {
        /// A requester and a responder through libshmemaphore, both opening
        /// their channel with `wait` (passed to each peer as `--wait`).
        /// `untrusted`: both open with `untrustedPeer` (SHMEMAPHORE_FLAG_UNTRUSTED_PEER).
        case library(requester: Side, responder: Side, zeroCopy: Bool, wait: WaitArgument, untrusted: Bool)
        /// shmemaphore-bench-baselines --impl NAME (forks its responder itself).
        case baseline
        /// shmemaphore-bench-baselines --impl NAME, one process.
        case singleProcess
    }

    let name: String
    let shape: Shape
    let isDefault: Bool

    /// Every implementation, in report order.  The lib-* rows without a
    /// suffix measure the library's defaults (adaptive waiting); the
    /// -blocking rows the same copy path with blocking waits on both sides;
    /// the -untrusted rows the copy path with both sides treating the other
    /// as untrusted (checks every turn, payloads received into private memory).
    static let catalog: [BenchImplementation] = [
        library("lib-swift", .swift, .swift, isDefault: true),
        library("lib-c", .c, .c, isDefault: true),
        library("lib-mixed", .c, .swift, isDefault: true),
        library("lib-swift-zc", .swift, .swift, zeroCopy: true, isDefault: true),
        library("lib-c-zc", .c, .c, zeroCopy: true, isDefault: false),
        library("lib-swift-blocking", .swift, .swift, wait: .blocking, isDefault: true),
        library("lib-c-blocking", .c, .c, wait: .blocking, isDefault: true),
        library("lib-swift-untrusted", .swift, .swift, untrusted: true, isDefault: true),
        library("lib-c-untrusted", .c, .c, untrusted: true, isDefault: true),
        BenchImplementation(name: "raw", shape: .baseline, isDefault: true),
        // raw with every wait bounded (sem_clockwait, 50 ms slices): the floor
        // of a blocking wait that can notice a dead peer.
        BenchImplementation(name: "raw-timed", shape: .baseline, isDefault: true),
        BenchImplementation(name: "raw-zc", shape: .baseline, isDefault: false),
        BenchImplementation(name: "uds", shape: .baseline, isDefault: true),
        BenchImplementation(name: "pipe", shape: .baseline, isDefault: true),
        BenchImplementation(name: "memcpy", shape: .singleProcess, isDefault: true),
    ]

    private static func library(
        _ name: String, _ requester: Side, _ responder: Side, zeroCopy: Bool = false, wait: WaitArgument = .adaptive,
        untrusted: Bool = false, isDefault: Bool
    ) -> BenchImplementation {
        BenchImplementation(
            name: name,
            shape: .library(requester: requester, responder: responder, zeroCopy: zeroCopy, wait: wait, untrusted: untrusted),
            isDefault: isDefault)
    }

    static func named(_ name: String) -> BenchImplementation? { catalog.first { $0.name == name } }

    var isSingleProcess: Bool {
        if case .singleProcess = shape { return true }
        return false
    }

    /// The programs it needs (this tool itself is always there).
    func requiredFiles(_ programs: BenchPrograms) -> [String] {
        switch shape {
        case .library(let requester, let responder, _, _, _):
            return requester == .c || responder == .c ? [programs.cPeer] : []
        case .baseline, .singleProcess:
            return [programs.baselines]
        }
    }
}

/// Exchanges per run.
struct BenchBudget {
    let quick: Bool
    let roundTrips: Int?
    let transfers: Int?

    /// Measured exchanges and warm-up exchanges of a timed run.
    func counts(_ workload: BenchWorkload) -> (count: Int, warmup: Int) {
        switch workload.name {
        case "W1":
            let count = roundTrips ?? (quick ? 10_000 : 50_000)
            return (count, max(100, count / 10))
        case "W2":
            let count = transfers ?? (quick ? 40 : 200)
            return (count, max(3, count / 10))
        default:
            let count = transfers ?? (quick ? 20 : 200)
            return (count, max(2, count / 20))
        }
    }

    /// Exchanges of the run with perf system-call counters.
    func countedCounts(_ workload: BenchWorkload) -> (count: Int, warmup: Int) {
        switch workload.name {
        case "W1": return quick ? (3_000, 300) : (20_000, 2_000)
        case "W2": return quick ? (20, 3) : (100, 10)
        default: return quick ? (10, 2) : (50, 5)
        }
    }

    /// Exchanges of the run under strace (slowed down: fewer).
    func tracedCounts(_ workload: BenchWorkload) -> (count: Int, warmup: Int) {
        switch workload.name {
        case "W1": return quick ? (1_000, 100) : (5_000, 500)
        case "W2": return quick ? (10, 2) : (40, 4)
        default: return quick ? (5, 1) : (20, 2)
        }
    }
}

/// Everything a session runs.
struct BenchPlan {
    let workloads: [BenchWorkload]
    let implementations: [BenchImplementation]
    let placements: [String: [BenchPlacement]]
    /// The CPUs to pin to: [requester's (and "same"), responder's for "split"].
    let cpus: [Int]
    let repetitions: Int
    let budget: BenchBudget
    let programs: BenchPrograms
    let mallocCounter: String?
    /// --syscalls: one run per row with perf counters, and one under strace when it exists.
    let countSyscalls: Bool
    let strace: String?
    let timeout: Double
    let quick: Bool

    /// The rows of the report, in order: (workload, placement, implementation).
    var rowKeys: [BenchRowKey] {
        var keys: [BenchRowKey] = []
        for workload in workloads {
            let modes = placements[workload.name] ?? [.split]
            for (position, mode) in modes.enumerated() {
                for implementation in implementations {
                    if implementation.isSingleProcess {
                        // One process: placement means nothing; measured once per workload.
                        if position == 0 {
                            keys.append(BenchRowKey(workload: workload.name, impl: implementation.name, cpus: mode == .none ? .none : .one))
                        }
                    } else {
                        keys.append(BenchRowKey(workload: workload.name, impl: implementation.name, cpus: mode))
                    }
                }
            }
        }
        return keys
    }

    var runCount: Int { rowKeys.count * (repetitions + (countSyscalls ? 1 : 0) + (strace == nil ? 0 : 1)) }

    /// (requester CPU, responder CPU) for a placement; -1 is unpinned.
    func cpus(for placement: BenchPlacement) -> (Int, Int) {
        switch placement {
        case .same, .one: return (cpus[0], cpus[0])
        case .split: return (cpus[0], cpus.count > 1 ? cpus[1] : cpus[0])
        case .none: return (-1, -1)
        }
    }
}

struct BenchRowKey: Hashable {
    let workload: String
    let impl: String
    let cpus: BenchPlacement
}
