import FoundationEssentials
import Glibc
import ShmemaphoreTools

/// A value measured once per repetition: the median and the range.
struct BenchSpread {
    let median: Double
    let minimum: Double
    let maximum: Double

    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        minimum = sorted[0]
        maximum = sorted[sorted.count - 1]
    }
}

/// The figures of one row, aggregated over its repetitions.
struct BenchFigures {
    let row: BenchRow
    let repetitions: Int
    /// Measured exchanges per run.
    let count: Int
    let medianMicroseconds: BenchSpread
    let p99Microseconds: BenchSpread
    let perSecond: BenchSpread
    let gigabytesPerSecond: BenchSpread
    /// Per exchange, summed over both processes and all repetitions.
    let minorFaults: Double
    let majorFaults: Double
    let contextSwitches: Double
    let allocationsRequester: Double?
    let allocationsResponder: Double?
    let kernels: String

    init?(_ row: BenchRow) {
        let samples = row.samples
        guard !samples.isEmpty else { return nil }
        self.row = row
        repetitions = samples.count
        count = samples[0].requester.count
        let bytes = Double(row.workload.bytes)
        medianMicroseconds = BenchSpread(samples.map { Double($0.requester.medianNanoseconds ?? 0) / 1000 })!
        p99Microseconds = BenchSpread(samples.map { Double($0.requester.p99Nanoseconds ?? 0) / 1000 })!
        perSecond = BenchSpread(samples.map { Double($0.requester.count) / (Double($0.requester.elapsedNanoseconds) / 1e9) })!
        gigabytesPerSecond = BenchSpread(samples.map { Double($0.requester.count) * bytes / Double($0.requester.elapsedNanoseconds) })!
        let exchanges = Double(samples.map(\.requester.count).reduce(0, +))
        let processes = samples.flatMap(\.processes)
        minorFaults = Double(processes.map(\.minorFaults).reduce(0, +)) / exchanges
        majorFaults = Double(processes.map(\.majorFaults).reduce(0, +)) / exchanges
        contextSwitches = Double(processes.map(\.contextSwitches).reduce(0, +)) / exchanges
        func allocations(_ results: [BenchProcessResult?]) -> Double? {
            let values = results.compactMap { $0?.allocations }
            guard !values.isEmpty, values.count == results.count else { return nil }
            return Double(values.reduce(0, +)) / exchanges
        }
        allocationsRequester = allocations(samples.map(\.requester))
        allocationsResponder = samples[0].responder == nil ? nil : allocations(samples.map(\.responder))
        kernels = Set(processes.map(\.kernels)).sorted().joined(separator: "+")
    }

    /// Heap allocations per exchange in both processes.
    var allocations: Double? {
        guard let allocationsRequester else { return nil }
        if row.samples[0].responder == nil { return allocationsRequester }
        return allocationsResponder.map { allocationsRequester + $0 }
    }

    /// System calls per exchange (both processes), when counted: the totals
    /// and futex calls from the perf-counter run when there is one (full
    /// speed), the other calls by type from the strace run.
    var syscalls: BenchSyscallFigures? {
        let counts = row.syscallCounts
        let traced = row.syscalls
        guard counts != nil || traced != nil else { return nil }
        func perExchange(_ calls: [String: Int]?, _ exchanges: Int) -> [String: Double] {
            (calls ?? [:]).mapValues { Double($0) / Double(exchanges) }
        }
        var requesterTypes = traced.map { perExchange($0.requester, $0.count) } ?? [:]
        var responderTypes = traced.map { perExchange($0.responder, $0.count) } ?? [:]
        var requester = requesterTypes.values.reduce(0, +)
        var responder = responderTypes.values.reduce(0, +)
        var source = "strace"
        if let counts, counts.count > 0 {
            let exchanges = Double(counts.count)
            requester = Double(counts.requesterTotal) / exchanges
            responder = Double(counts.responderTotal) / exchanges
            func merge(_ types: inout [String: Double], total: Double, futex: Double) {
                types.removeValue(forKey: "futex")
                if futex > 0 { types["futex"] = futex }
                if traced == nil {
                    let other = total - futex
                    if other > 0.0005 { types["other"] = other }
                }
            }
            merge(&requesterTypes, total: requester, futex: Double(counts.requesterFutex) / exchanges)
            merge(&responderTypes, total: responder, futex: Double(counts.responderFutex) / exchanges)
            source = traced == nil ? "perf" : "perf+strace"
        }
        var byType = requesterTypes
        for (name, value) in responderTypes { byType[name, default: 0] += value }
        let tracedTotal = traced.map { Double($0.requester.values.reduce(0, +) + $0.responder.values.reduce(0, +)) / Double($0.count) }
        return BenchSyscallFigures(
            total: requester + responder, requester: requester, responder: responder, byType: byType,
            requesterByType: requesterTypes, responderByType: responderTypes, source: source, tracedTotal: tracedTotal)
    }

    /// W1 is compared by latency, W2 and W3 by throughput.
    var isLatencyWorkload: Bool { row.workload.name == "W1" }

    /// The figure compared with the baselines.
    var comparedValue: Double { isLatencyWorkload ? medianMicroseconds.median : gigabytesPerSecond.median }
}

/// System calls per exchange of one row.
struct BenchSyscallFigures {
    let total: Double
    let requester: Double
    let responder: Double
    let byType: [String: Double]
    let requesterByType: [String: Double]
    let responderByType: [String: Double]
    /// "perf" (counters), "strace", or "perf+strace" (totals and futex from perf, the rest by type from strace).
    let source: String
    /// The total counted under strace (slowed down: fewer futex calls), if traced.
    let tracedTotal: Double?
}

/// The report: the table or JSON lines, with the ratios to raw and memcpy.
struct BenchReport {
    let rows: [BenchRow]
    let workloads: [BenchWorkload]

    /// Ratio to raw (same workload and placement): latency ÷ raw latency for
    /// W1, throughput ÷ raw throughput for W2/W3.
    func ratioToRaw(_ figures: BenchFigures) -> Double? {
        let key = figures.row.key
        // memcpy (one process) is compared with the workload's first raw row.
        let rawRow = rows.first {
            $0.key.workload == key.workload && $0.key.impl == "raw" && (key.cpus == .one || $0.key.cpus == key.cpus)
        }
        guard let raw = rawRow.flatMap(BenchFigures.init), raw.comparedValue > 0 else { return nil }
        return figures.comparedValue / raw.comparedValue
    }

    /// Ratio to memcpy + checksum of the same workload, as for raw.
    func ratioToMemcpy(_ figures: BenchFigures) -> Double? {
        let key = figures.row.key
        let memcpy = rows.first { $0.key.workload == key.workload && $0.key.impl == "memcpy" }.flatMap(BenchFigures.init)
        guard let memcpy, memcpy.comparedValue > 0 else { return nil }
        return figures.comparedValue / memcpy.comparedValue
    }

    // MARK: JSON

    func jsonLines() -> [String] {
        rows.map { row in
            var object = BenchJSONObject()
            object.add("workload", string: row.key.workload)
            object.add("impl", string: row.key.impl)
            object.add("cpus", string: row.key.cpus.rawValue)
            guard let figures = BenchFigures(row) else {
                object.add("status", string: "failed")
                object.add("error", string: row.error ?? "no result")
                return object.text
            }
            object.add("median_us", figures.medianMicroseconds.median)
            object.add("p99_us", figures.p99Microseconds.median)
            object.add("per_s", figures.perSecond.median)
            object.add("gbps", figures.gigabytesPerSecond.median)
            object.add("repetitions", Double(figures.repetitions))
            object.add("count", Double(figures.count))
            object.add("payload_bytes", Double(row.workload.bytes))
            for (name, spread) in [
                ("median_us", figures.medianMicroseconds), ("p99_us", figures.p99Microseconds),
                ("per_s", figures.perSecond), ("gbps", figures.gigabytesPerSecond),
            ] {
                object.add("\(name)_min", spread.minimum)
                object.add("\(name)_max", spread.maximum)
            }
            object.add("ratio_metric", string: figures.isLatencyWorkload ? "latency" : "throughput")
            object.add("vs_raw", ratioToRaw(figures))
            object.add("vs_memcpy", ratioToMemcpy(figures))
            let syscalls = figures.syscalls
            object.add("syscalls_per_exchange", syscalls?.total)
            object.add("syscalls_requester", syscalls?.requester)
            object.add("syscalls_responder", syscalls?.responder)
            if let syscalls {
                object.add("syscalls_by_type", object: syscalls.byType)
                object.add("syscalls_requester_by_type", object: syscalls.requesterByType)
                object.add("syscalls_responder_by_type", object: syscalls.responderByType)
                object.add("syscalls_source", string: syscalls.source)
                object.add("syscalls_strace_total", syscalls.tracedTotal)
            } else {
                object.addNull("syscalls_by_type")
            }
            object.add("minflt_per_exchange", figures.minorFaults)
            object.add("majflt_per_exchange", figures.majorFaults)
            object.add("allocs_per_exchange", figures.allocations)
            object.add("allocs_requester", figures.allocationsRequester)
            object.add("allocs_responder", figures.allocationsResponder)
            object.add("csw_per_exchange", figures.contextSwitches)
            object.add("kernels", string: figures.kernels)
            object.add("status", string: row.error == nil ? "ok" : "failed")
            if let error = row.error { object.add("error", string: error) }
            return object.text
        }
    }

    // MARK: Table

    func table() -> [String] {
        var lines: [String] = []
        let headers = [
            "impl", "median µs", "p99 µs", "per s", "GB/s", "range", "×raw", "×memcpy", "sys/x", "faults/x", "allocs/x", "csw/x",
        ]
        // One group per workload and placement; the single-process memcpy row
        // is shown in every group of its workload, as the reference.
        var groups: [(title: String, rows: [BenchRow])] = []
        var placed: [(workload: String, cpus: BenchPlacement)] = []
        for row in rows where !placed.contains(where: { $0.workload == row.key.workload && $0.cpus == row.key.cpus }) {
            if row.key.cpus == .one && rows.contains(where: { $0.key.workload == row.key.workload && $0.key.cpus != .one }) {
                continue
            }
            placed.append((row.key.workload, row.key.cpus))
        }
        for (workloadName, cpus) in placed {
            let workload = BenchWorkload.named(workloadName)!
            let what = workload.name == "W1"
                ? "W1 ping: round trip, 8-byte request, 64-byte response"
                : "\(workload.name): \(workload.width)x\(workload.height)x\(workload.channels) = \(workload.bytes) bytes per transfer"
            let placement: String
            switch cpus {
            case .same, .one: placement = "both processes on one CPU (same)"
            case .split: placement = "processes on two CPUs (split)"
            case .none: placement = "processes not pinned"
            }
            let members = rows.filter { $0.key.workload == workloadName && $0.key.cpus == cpus }
                + rows.filter { $0.key.workload == workloadName && $0.key.cpus == .one && cpus != .one }
            groups.append(("\(what); \(placement)", members))
        }
        for group in groups {
            var cells: [[String]] = [headers]
            for row in group.rows {
                let name = row.key.cpus == .one ? "\(row.key.impl) (1 CPU)" : row.key.impl
                guard let figures = BenchFigures(row) else {
                    cells.append([name, "FAILED: \(row.error ?? "no result")"])
                    continue
                }
                let range = figures.isLatencyWorkload
                    ? "\(Self.number(figures.medianMicroseconds.minimum))–\(Self.number(figures.medianMicroseconds.maximum))"
                    : "\(Self.number(figures.gigabytesPerSecond.minimum))–\(Self.number(figures.gigabytesPerSecond.maximum))"
                cells.append([
                    name + (row.error == nil ? "" : " (!)"),
                    Self.number(figures.medianMicroseconds.median), Self.number(figures.p99Microseconds.median),
                    Self.number(figures.perSecond.median, decimals: 0), Self.number(figures.gigabytesPerSecond.median),
                    range, ratioToRaw(figures).map { Self.number($0) } ?? "-", ratioToMemcpy(figures).map { Self.number($0) } ?? "-",
                    figures.syscalls.map { Self.number($0.total) } ?? "-", Self.number(figures.minorFaults + figures.majorFaults, decimals: 4),
                    figures.allocations.map { Self.number($0, decimals: 3) } ?? "-", Self.number(figures.contextSwitches),
                ])
            }
            lines.append("")
            lines.append(group.title)
            lines += Self.align(cells)
        }
        let failed = rows.filter { $0.error != nil }
        if !failed.isEmpty {
            lines.append("")
            for row in failed { lines.append("(!) \(row.key.workload) \(row.key.cpus.rawValue) \(row.key.impl): \(row.error!)") }
        }
        return lines
    }

    func legend(plan: BenchPlan) -> [String] {
        let counts = workloads.map { workload -> String in
            let (count, warmup) = plan.budget.counts(workload)
            return "\(workload.name) \(count) (+\(warmup) warm-up)"
        }
        var lines = [
            "",
            "Medians of \(plan.repetitions) repetition\(plan.repetitions == 1 ? "" : "s") (round-robin across implementations); range: min–max of the",
            "median latency (W1) or of GB/s (W2, W3) over the repetitions. Exchanges per run: \(counts.joined(separator: ", ")).",
            "×raw, ×memcpy: W1 latency ÷ baseline latency (lower is better); W2/W3 GB/s ÷ baseline GB/s (higher is",
            "better). GB/s = 10^9 payload bytes per second. sys/x: system calls per exchange in both processes (--syscalls:",
            "perf counters, else strace). faults/x, allocs/x, csw/x: page faults, heap allocations and context switches",
            "per exchange in both processes' steady-state loops. CPUs: \(plan.cpus.map(String.init).joined(separator: ", ")).",
        ]
        if plan.mallocCounter == nil { lines.append("Heap allocations were not counted (no shmemaphore-bench-malloc-count.so).") }
        return lines
    }

    static func number(_ value: Double, decimals: Int? = nil) -> String {
        guard value.isFinite else { return "-" }
        let places = decimals ?? (abs(value) >= 100 ? 1 : abs(value) >= 10 ? 2 : 3)
        return Durations.format(value, decimals: places)
    }

    /// Columns padded to their widest cell; numbers right-aligned.
    static func align(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows where row.count == columns {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            guard row.count == columns else { return row.joined(separator: "  ") }
            return row.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
                return index == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
    }
}

/// A JSON object written key by key, in order.
struct BenchJSONObject {
    private var members: [String] = []

    var text: String { "{" + members.joined(separator: ",") + "}" }

    mutating func add(_ key: String, string value: String) {
        members.append("\(Self.quote(key)):\(Self.quote(value))")
    }

    mutating func add(_ key: String, _ value: Double?) {
        members.append("\(Self.quote(key)):\(value.map(Self.number) ?? "null")")
    }

    mutating func addNull(_ key: String) { members.append("\(Self.quote(key)):null") }

    mutating func add(_ key: String, object: [String: Double]) {
        let inner = object.sorted { $0.key < $1.key }.map { "\(Self.quote($0.key)):\(Self.number($0.value))" }
        members.append("\(Self.quote(key)):{\(inner.joined(separator: ","))}")
    }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        // vsnprintf: String(format:) is in Foundation, not FoundationEssentials.
        var text = [CChar](repeating: 0, count: 32)
        _ = withVaList([value]) { vsnprintf(&text, text.count, "%.6g", $0) }
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
