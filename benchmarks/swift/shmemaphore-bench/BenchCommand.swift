import ArgumentParser
import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// `shmemaphore-bench`: measures libshmemaphore against plain POSIX
/// baselines, every implementation in its own pair of processes, in one run.
/// A program of its own (benchmarks/swift/, next to the C programs it runs);
/// its hidden subcommand `peer` is one side of a lib-swift run.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shmemaphore-bench",
        abstract: "Measure libshmemaphore against plain POSIX baselines (docs/PERFORMANCE.md).",
        discussion: """
            Workloads: W1 ping (8-byte request, 64-byte response: round-trip latency), \
            W2 image (1920x1080x3 = 6,220,800 bytes) and W3 4K (3840x2160x4 = \
            33,177,600 bytes): transfers/s and GB/s. Every payload changes with every \
            exchange and the requester checksums every byte of it.

            Implementations: lib-swift (Swift <-> Swift), lib-c (C <-> C through the \
            header), lib-mixed (C requester, Swift responder), lib-swift-zc and lib-c-zc (zero-copy: \
            reserve/commit), lib-python and lib-python-zc (the Python binding, copy and \
            zero copy, both sides benchmarks/python/bench_peer.py run by --python), all with the library's defaults (adaptive waiting); \
            lib-swift-blocking and lib-c-blocking (copy path, both processes open \
            with blocking waits: WaitStrategy.blocking, SHMEMAPHORE_FLAG_BLOCKING_WAIT); \
            and the plain-POSIX baselines raw (the protocol's floor: segments mapped \
            once, sem_wait/sem_post), raw-timed (raw with bounded waits, as needed to \
            notice a dead peer: sem_clockwait with a 50 ms deadline, re-armed on \
            timeout), uds (socketpair), pipe and memcpy (memcpy + checksum in one \
            process); iceoryx2-python (iceoryx2's Python request-response API with loans, \
            benchmarks/python/bench_iceoryx2.py; when --python imports iceoryx2). Also \
            available: raw-zc.

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
            """,
        subcommands: [BenchPeerCommand.self]
    )

    /// Usage errors exit with 2 (CommandSupport.swift).
    static func main() { mainExitingTwoOnUsageErrors() }

    @Flag(help: "A short run (under a minute): fewer exchanges and repetitions, every implementation and workload.")
    var quick = false

    @Flag(help: "One JSON object per result row on standard output (progress stays on standard error).")
    var json = false

    @Option(help: ArgumentHelp("Workloads, comma-separated.", valueName: "W1,W2,W3"))
    var workloads = "W1,W2,W3"

    @Option(help: ArgumentHelp("Implementations, comma-separated (default: all but raw-zc; the Python rows when --python imports their modules).", valueName: "LIST"))
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

    @Option(help: ArgumentHelp(
        "The Python interpreter of lib-python, lib-python-zc (it must import shmemaphore) and iceoryx2-python (iceoryx2). Default: $SHMEMAPHORE_BENCH_PYTHON, else <bin-dir>/../python-venv/bin/python (benchmarks/run.sh makes it), else python3.",
        valueName: "PATH"))
    var python: String?

    @Option(help: ArgumentHelp("Where bench_peer.py and bench_iceoryx2.py are (default: the source tree's benchmarks/python).", valueName: "DIR"))
    var pythonScripts: String?

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
            let workFolder = try Paths.makeTemporaryFolder(prefix: "shmemaphore-bench")
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
        var programs = BenchPrograms(
            bench: ExecutableLocation.path,
            cPeer: inBinDir("shmemaphore-bench-peer"),
            baselines: inBinDir("shmemaphore-bench-baselines"),
            support: inBinDir("shmemaphore-bench-support.so"),
            mallocCounter: inBinDir("shmemaphore-bench-malloc-count.so"))
        programs.pythonScripts = pythonScripts ?? Self.sourcePythonScripts
        let pythonCandidates = python.map { [$0] }
            ?? ProcessInfo.processInfo.environment["SHMEMAPHORE_BENCH_PYTHON"].flatMap { $0.isEmpty ? nil : [$0] }
            ?? [Paths.join(directory, "../python-venv/bin/python"), "python3"]
        var pythonProbes: [String: String?] = [:]  // module -> nil (importable) or why not

        var selected: [BenchImplementation] = []
        let explicit = impls != nil
        let names = impls.map(Self.list) ?? BenchImplementation.catalog.filter(\.isDefault).map(\.name)
        var missing: [String] = []
        for name in names {
            let implementation = BenchImplementation.named(name)!
            if selected.contains(where: { $0.name == name }) { continue }
            let absent = implementation.requiredFiles(programs).filter { !ExecutableLocation.isExecutable($0) }
            if absent.isEmpty && !implementation.pythonModules.isEmpty {
                // The Python rows: skipped, with the reason, when the interpreter cannot import their modules.
                if pythonProbes.isEmpty {
                    // The first candidate that imports the binding; else the first that exists (iceoryx2 alone).
                    let importing = pythonCandidates.first { Self.pythonImports($0, "shmemaphore") == nil }
                    programs.python = importing
                        ?? pythonCandidates.first { !$0.contains("/") || ExecutableLocation.isExecutable($0) }
                    pythonProbes["shmemaphore"] = .some(importing != nil ? nil
                        : "no interpreter imports shmemaphore (tried \(pythonCandidates.joined(separator: ", ")); "
                            + "install it with bindings/python/scripts/install-venv.sh VENV LIBRARY, pass --python)")
                }
                var why: String?
                for module in implementation.pythonModules {
                    if pythonProbes[module] == nil {
                        let python = programs.python ?? "python3"
                        pythonProbes[module] = .some(Self.pythonImports(python, module).map {
                            "\(python) cannot import \(module)\($0)\(module == "iceoryx2" ? " (pip install iceoryx2; benchmarks/run.sh --iceoryx2)" : "")"
                        })
                    }
                    if let reason = pythonProbes[module] ?? nil { why = reason }
                }
                if let why {
                    if explicit { throw CommandFailure(.usage, "--impls \(name): \(why)") }
                    Console.printError("bench: left out \(name): \(why)")
                    continue
                }
            }
            if absent.isEmpty {
                selected.append(implementation)
            } else {
                missing.append("\(name) (\(absent.joined(separator: ", ")))")
            }
        }
        if !missing.isEmpty {
            let message = "missing program for \(missing.joined(separator: "; ")). Build them with "
                + "`cmake -S . -B build && cmake --build build` and run build/bin/shmemaphore-bench, or pass --bin-dir"
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

    /// benchmarks/python of the source tree this program was built from.
    static let sourcePythonScripts: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)  // swift/shmemaphore-bench/BenchCommand.swift
        return parts.joined(separator: "/") + "/python"
    }()

    /// nil when `python -c "import MODULE"` succeeds, else why not (": exited with status 1").
    static func pythonImports(_ python: String, _ module: String) -> String? {
        if python.contains("/") && !ExecutableLocation.isExecutable(python) { return ": no such program" }
        do {
            let child = try ChildProcess(
                label: "python", executable: python, arguments: ["-c", "import \(module)"],
                standardOutput: .discard, standardError: .discard)
            guard let end = child.wait(until: .now + .seconds(30)) else {
                child.kill()
                return ": no answer within 30 s"
            }
            return end.succeeded ? nil : ": \(end)"
        } catch {
            return ": \(error)"
        }
    }

    static func findInPath(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if ExecutableLocation.isExecutable(candidate) { return candidate }
        }
        return nil
    }
}
