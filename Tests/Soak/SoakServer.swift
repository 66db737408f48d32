// SoakServer.swift - the Swift side of scripts/soak.sh: the same long-running
// server as soak_server.c, written against the library's Swift API
// (ShmemaphoreServer), for the swapped pairing (Swift server, C client).
//
//   shmemaphore-soak-peer server CHANNEL STEPS-FILE PEER-PID
//
// The SwiftPM executable target `shmemaphore-soak-peer` (Package.swift; this
// folder, soak_server.c excluded), which scripts/soak.sh builds with
// `swift build -c release --product shmemaphore-soak-peer`.  Only
// ShmemaphoreServer's public API and its Response are used.
//
// Steps, checks and output lines are exactly soak_server.c's (see its header):
// every payload byte is compared with the PEER-SPEC pattern, error responses
// by code and message, and the process's own and its peer's descriptors,
// /dev/shm mappings and anonymous memory (RssAnon) are sampled after the
// first exchange, every 10 % and after the last one.
import Glibc
import Shmemaphore

@inline(__always)
func soakPattern(_ seed: UInt64, _ index: UInt64) -> UInt8 {
    let x = (index &+ 1) &* 0x9E37_79B9_7F4A_7C15 ^ (seed &* 0xD1B5_4A32_D192_ED03)
    return UInt8(truncatingIfNeeded: x >> 56)
}

func soakPrint(_ line: String, to descriptor: Int32 = 1) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
}

func soakFail(_ message: String, status: Int32 = 1) -> Never {
    soakPrint("soak: " + message, to: 2)
    exit(status)
}

struct SoakStep {
    enum Kind { case bytes, image, error }
    let kind: Kind
    let numbers: [UInt64]
    let text: String
    let request: [UInt8]

    init?(_ line: String) {
        let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let numbers = fields.dropFirst().compactMap { UInt64($0) }
        guard numbers.count == fields.count - 1 else { return nil }
        switch (fields.first, numbers.count) {
        case ("bytes", 2): kind = .bytes
        case ("image", 4):
            guard numbers[0] > 0, numbers[1] > 0, numbers[2] > 0,
                let metadata = try? ResponseMetadata.image(width: numbers[0], height: numbers[1], channels: numbers[2]),
                metadata.bytes <= 1 << 30
            else { return nil }
            kind = .image
        case ("error", 1): kind = .error
        default: return nil
        }
        self.numbers = numbers
        text = line
        request = Array(line.utf8).map { $0 == UInt8(ascii: ":") ? UInt8(ascii: " ") : $0 }
    }
}

struct SoakCounts {
    var fds = -1
    var shmMaps = -1
    var anonKB = -1

    /// Entries of /proc/PID/fd and lines of /proc/PID/maps naming a file under /dev/shm.
    static func sample(_ pid: Int32) -> SoakCounts {
        var counts = SoakCounts()
        if let directory = opendir("/proc/\(pid)/fd") {
            counts.fds = 0
            while let entry = readdir(directory) {
                let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
                if first != UInt8(ascii: ".") { counts.fds += 1 }
            }
            closedir(directory)
            if pid == getpid() { counts.fds -= 1 }  // the descriptor opendir held
        }
        if let maps = fopen("/proc/\(pid)/maps", "r") {
            counts.shmMaps = 0
            var line: UnsafeMutablePointer<CChar>? = nil
            var capacity = 0
            while getline(&line, &capacity, maps) > 0 {
                if let line, strstr(line, " /dev/shm/") != nil { counts.shmMaps += 1 }
            }
            free(line)
            fclose(maps)
        }
        if let status = fopen("/proc/\(pid)/status", "r") {
            var line: UnsafeMutablePointer<CChar>? = nil
            var capacity = 0
            while getline(&line, &capacity, status) > 0 {
                if let line, strncmp(line, "RssAnon:", 8) == 0 { counts.anonKB = strtol(line + 8, nil, 10) }
            }
            free(line)
            fclose(status)
        }
        return counts
    }

    mutating func keepMax(_ other: SoakCounts) {
        fds = max(fds, other.fds)
        shmMaps = max(shmMaps, other.shmMaps)
        anonKB = max(anonKB, other.anonKB)
    }
}

func report(_ process: String, _ when: String, _ counts: SoakCounts) {
    soakPrint("soak: counts \(process) \(when) fds=\(counts.fds) shm_maps=\(counts.shmMaps) anon_kb=\(counts.anonKB)")
}

func channelObjects(_ name: ChannelName) -> Int {
    name.filesystemPaths.filter { access($0, F_OK) == 0 }.count
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func readSteps(_ path: String) -> [SoakStep] {
    guard let file = fopen(path, "r") else { soakFail("cannot open \(path)", status: 2) }
    defer { fclose(file) }
    var steps: [SoakStep] = []
    var line: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0 {
        var text = String(cString: line!)
        if text.hasSuffix("\n") { text.removeLast() }
        guard let step = SoakStep(text) else { soakFail("\(path):\(steps.count + 1): bad step '\(text)'", status: 2) }
        steps.append(step)
    }
    if steps.isEmpty { soakFail("\(path): no steps", status: 2) }
    return steps
}

/// Nil when `outcome` is what `step` asks for, else why not.
func problem(with outcome: Result<Response, ShmemaphoreError>, for step: SoakStep) -> String? {
    let n = step.numbers
    switch (step.kind, outcome) {
    case (.error, .failure(.peerError(let code, let message))):
        return code == n[0] && message == "requested error \(n[0])" ? nil : "wrong error \(code) '\(message)'"
    case (.error, let other):
        return "expected peer error \(n[0]), got \(other)"
    case (_, .failure(let error)):
        return "\(ErrorCode.name(of: error.code)): \(error)"
    case (.bytes, .success(let response)), (.image, .success(let response)):
        let expected: ResponseMetadata
        let seed: UInt64
        if step.kind == .image {
            expected = try! ResponseMetadata.image(width: n[0], height: n[1], channels: n[2])
            seed = n[3]
        } else {
            expected = .bytes(n[0])
            seed = n[1]
        }
        guard response.kind == (step.kind == .image ? .image : .bytes), response.metadata == expected else {
            return "got \(response.kind) \(response.metadata), expected \(expected)"
        }
        let payload = response.payload
        for index in 0..<payload.count where payload[index] != soakPattern(seed, UInt64(index)) {
            return "byte \(index) is \(payload[index]), expected \(soakPattern(seed, UInt64(index)))"
        }
        return nil
    }
}

func runServer(channel: String, stepsPath: String, peer: Int32) -> Int32 {
    let steps = readSteps(stepsPath)
    let before = SoakCounts.sample(getpid())
    var server: ShmemaphoreServer? = nil
    do { server = try ShmemaphoreServer(channel: channel) } catch { soakFail("open \(channel): \(error)") }
    report("self", "before-open", before)

    var selfMax = SoakCounts(fds: 0, shmMaps: 0, anonKB: 0)
    var peerMax = SoakCounts(fds: 0, shmMaps: 0, anonKB: 0)
    var payloadBytes: UInt64 = 0
    var requestBytes: UInt64 = 0
    var done = 0
    var status: Int32 = 0
    var objects = channelObjects(server!.channel)
    let tenth = max(steps.count / 10, 1)
    let start = monotonicSeconds()
    for (index, step) in steps.enumerated() {
        let outcome = step.request.withUnsafeBytes { bytes in
            Result { () throws(ShmemaphoreError) in try server!.request(bytes, timeout: .seconds(60)) }
        }
        if let problem = problem(with: outcome, for: step) {
            soakPrint("soak: exchange \(index + 1) (\(step.text)): \(problem)", to: 2)
            status = 1
            break
        }
        switch outcome {
        case .success(let response): payloadBytes += response.metadata.bytes
        case .failure(.peerError(_, let message)): payloadBytes += UInt64(message.utf8.count)
        case .failure: break
        }
        requestBytes += UInt64(step.request.count)
        done += 1
        if index == 0 || index + 1 == steps.count || (index + 1) % tenth == 0 {
            let mine = SoakCounts.sample(getpid())
            let other = SoakCounts.sample(peer)
            selfMax.keepMax(mine)
            peerMax.keepMax(other)
            if index == 0 {
                report("self", "start", mine)
                report("peer", "start", other)
                objects = channelObjects(server!.channel)
            }
            if index + 1 == tenth {  // warmed up: malloc has seen most sizes
                report("self", "warm", mine)
                report("peer", "warm", other)
            }
            if index + 1 == steps.count {
                report("self", "end", mine)
                report("peer", "end", other)
            }
            let gigabytes = Double(payloadBytes) / 1e9
            soakPrint(
                "soak: progress \(index + 1)/\(steps.count) \(Int(gigabytes * 10) / 10).\(Int(gigabytes * 10) % 10) GB "
                    + "\(Int(monotonicSeconds() - start)) s fds=\(mine.fds)/\(other.fds) shm_maps=\(mine.shmMaps)/\(other.shmMaps)")
        }
    }
    let seconds = monotonicSeconds() - start
    server!.close()
    server = nil
    report("self", "max", selfMax)
    report("peer", "max", peerMax)
    report("self", "after-close", SoakCounts.sample(getpid()))
    soakPrint("soak: objects during=\(objects)")
    soakPrint(
        "soak: done exchanges=\(done) payload_bytes=\(payloadBytes) request_bytes=\(requestBytes) seconds=\(Int(seconds * 10) / 10).\(Int(seconds * 10) % 10)")
    return status
}

@main
struct SoakServerMain {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count == 5, arguments[1] == "server", let peer = Int32(arguments[4]) else {
            soakFail("usage: shmemaphore-soak-peer server CHANNEL STEPS-FILE PEER-PID", status: 2)
        }
        exit(runServer(channel: arguments[2], stepsPath: arguments[3], peer: peer))
    }
}
