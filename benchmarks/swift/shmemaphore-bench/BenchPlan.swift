import Shmemaphore
import ShmemaphoreTools

// The plan of a benchmark session: what `shmemaphore-bench` runs, where the
// programs are, how many exchanges, on which CPUs.

/// Where the benchmark's programs are.
struct BenchPrograms {
    /// This program: the Swift peer is its `peer` subcommand.
    let bench: String
    let cPeer: String
    let baselines: String
    let support: String
    let mallocCounter: String
    /// The Python interpreter of the Python rows (nil: none found that
    /// imports the binding), and the folder of their scripts (benchmarks/python).
    var python: String? = nil
    var pythonScripts: String = ""
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
    /// swift: `shmemaphore-bench peer`; c: shmemaphore-bench-peer; python:
    /// benchmarks/python/bench_peer.py (the binding); iceoryx2:
    /// benchmarks/python/bench_iceoryx2.py (iceoryx2's Python API, not libshmemaphore).
    enum Side { case swift, c, python, iceoryx2 }
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
        library("lib-c-zc", .c, .c, zeroCopy: true, isDefault: true),
        library("lib-swift-blocking", .swift, .swift, wait: .blocking, isDefault: true),
        library("lib-c-blocking", .c, .c, wait: .blocking, isDefault: true),
        library("lib-swift-untrusted", .swift, .swift, untrusted: true, isDefault: true),
        library("lib-c-untrusted", .c, .c, untrusted: true, isDefault: true),
        // The Python binding (bindings/python) on both sides: copy path
        // (client.respond) and zero copy (client.reserve / reserve_image);
        // and iceoryx2's own Python request-response API with loans, the
        // same work through another library.  Run when the interpreter
        // (--python) imports shmemaphore (and iceoryx2).
        library("lib-python", .python, .python, isDefault: true),
        library("lib-python-zc", .python, .python, zeroCopy: true, isDefault: true),
        library("iceoryx2-python", .iceoryx2, .iceoryx2, zeroCopy: true, isDefault: true),
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

    /// The Python modules its processes import (none: no Python side).
    var pythonModules: [String] {
        guard case .library(let requester, let responder, _, _, _) = shape else { return [] }
        var modules: [String] = []
        for side in [requester, responder] {
            let module = side == .python ? "shmemaphore" : side == .iceoryx2 ? "iceoryx2" : nil
            if let module, !modules.contains(module) { modules.append(module) }
        }
        return modules
    }

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
