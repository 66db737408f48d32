// shmemaphore-testpeer: the Swift side of the scripted two-process tests.
//
// It speaks the conversation in Tests/CPeer/PEER-SPEC.md, exactly as the C
// peer (Tests/CPeer/c_peer.c) does, so any server peer pairs with any client
// peer.  The client answers `image` through the zero-copy path and `bytes`
// through the copy path, so every pairing exercises both.
import Glibc
import Shmemaphore

/// How long a peer waits for the other side, as Tests/CPeer/c_peer.c does
/// (CLIENT_TIMEOUT_MS, SERVER_TIMEOUT_MS): it must cover the other side's
/// work on the biggest step (a 33 MB image) under a sanitizer on a busy
/// machine, so it is generous; it only turns a hang into a failure.
let peerPatience: Duration = .seconds(120)

/// Byte `index` of the deterministic payload for `seed` (PEER-SPEC.md, "Pattern").
@inline(__always)
func pattern(seed: UInt64, index: UInt64) -> UInt8 {
    let x = (index &+ 1) &* 0x9E37_79B9_7F4A_7C15 ^ (seed &* 0xD1B5_4A32_D192_ED03)
    return UInt8(truncatingIfNeeded: x >> 56)
}

func fill(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64) {
    for index in 0..<buffer.count { buffer[index] = pattern(seed: seed, index: UInt64(index)) }
}

/// First offset where `payload` differs from the pattern, or nil.
func firstMismatch(_ payload: UnsafeRawBufferPointer, seed: UInt64) -> Int? {
    for index in 0..<payload.count where payload[index] != pattern(seed: seed, index: UInt64(index)) {
        return index
    }
    return nil
}

/// Writes a line straight to a descriptor: unbuffered, so a parent reading a
/// pipe sees progress at once (and Swift 6 forbids the global FILE streams).
func writeLine(_ line: String, to descriptor: Int32) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    writeLine(message, to: 2)
    exit(status)
}

func say(_ line: String) { writeLine(line, to: 1) }

/// A step of the server's script and the request it sends.
enum Step {
    case image(width: UInt64, height: UInt64, channels: UInt64, seed: UInt64)
    case bytes(count: UInt64, seed: UInt64)
    case error(code: UInt64)
    case empty
    case name(String)
    case big(Int)
    /// Not an exchange: the server sleeps, holding the channel open (tests kill it meanwhile).
    case pause(milliseconds: UInt64)

    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let numbers = parts.dropFirst().compactMap { UInt64($0) }
        switch (parts[0], parts.count) {
        case ("image", 5) where numbers.count == 4:
            self = .image(width: numbers[0], height: numbers[1], channels: numbers[2], seed: numbers[3])
        case ("bytes", 3) where numbers.count == 2: self = .bytes(count: numbers[0], seed: numbers[1])
        case ("error", 2) where numbers.count == 1: self = .error(code: numbers[0])
        case ("empty", 1): self = .empty
        case ("name", _) where parts.count >= 2: self = .name(parts.dropFirst().joined(separator: ":"))
        case ("big", 2) where numbers.count == 1: self = .big(Int(numbers[0]))
        case ("pause", 2) where numbers.count == 1: self = .pause(milliseconds: numbers[0])
        default: return nil
        }
    }

    var request: [UInt8] {
        switch self {
        case .image(let w, let h, let c, let seed): return Array("image \(w) \(h) \(c) \(seed)".utf8)
        case .bytes(let count, let seed): return Array("bytes \(count) \(seed)".utf8)
        case .error(let code): return Array("error \(code)".utf8)
        case .empty: return []
        case .name(let text): return Array(text.utf8)
        case .big(let count): return [UInt8](repeating: UInt8(ascii: "x"), count: count)
        case .pause: return []
        }
    }
}

func runServer(channel: String, steps: [String]) -> Never {
    let parsed = steps.map { text -> (String, Step) in
        guard let step = Step(text) else { fail("server: bad step '\(text)'", status: 2) }
        return (text, step)
    }
    let server: ShmemaphoreServer
    do { server = try ShmemaphoreServer(channel: channel) } catch { fail("server: open: \(error)") }
    for (text, step) in parsed {
        if case .pause(let milliseconds) = step {
            say("server: pausing \(milliseconds) ms")
            usleep(useconds_t(min(milliseconds * 1000, UInt64(UInt32.max))))
            continue
        }
        let request = step.request
        let outcome = request.withUnsafeBytes { bytes in
            Result { () throws(ShmemaphoreError) in try server.request(bytes, timeout: peerPatience) }
        }
        let problem: String? = {
            switch (step, outcome) {
            case (.image(let w, let h, let c, let seed), .success(let response)):
                let expected = try? ResponseMetadata.image(width: w, height: h, channels: c)
                guard response.kind == .image, response.metadata == expected else {
                    return "expected image \(w)x\(h)x\(c), got \(response.kind) \(response.metadata)"
                }
                return firstMismatch(response.payload, seed: seed).map { "payload differs at offset \($0)" }
            case (.bytes(let count, let seed), .success(let response)):
                guard response.kind == .bytes, response.metadata == .bytes(count) else {
                    return "expected \(count) bytes, got \(response.kind) \(response.metadata)"
                }
                return firstMismatch(response.payload, seed: seed).map { "payload differs at offset \($0)" }
            case (.error(let code), .failure(.peerError(let got, let message))):
                return got == code && message == "requested error \(code)" ? nil : "wrong error \(got) '\(message)'"
            case (.empty, .failure(.peerError(let got, _))):
                return got == PeerErrorCode.badRequest ? nil : "expected BAD_REQUEST, got code \(got)"
            case (.name, .failure(.peerError(let got, _))), (.big, .failure(.peerError(let got, _))):
                return got == PeerErrorCode.notFound ? nil : "expected NOT_FOUND, got code \(got)"
            case (_, .failure(let error)):
                return "\(ErrorCode.name(of: error.code)): \(error)"
            case (_, .success(let response)):
                return "expected an error response, got \(response.kind) \(response.metadata)"
            }
        }()
        if let problem {
            server.close()
            fail("server: step \(text): \(problem)")
        }
        say("server: \(text) ok")
    }
    server.close()
    exit(0)
}

func runClient(channel: String, maximum: Int?) -> Never {
    var options = ChannelOptions()
    options.attachTimeout = peerPatience
    let client: ShmemaphoreClient
    do { client = try ShmemaphoreClient(channel: channel, options: options) } catch { fail("client: open: \(error)") }
    var served = 0
    while maximum.map({ served < $0 }) ?? true {
        do {
            let request = try client.receiveRequest(timeout: peerPatience)
            // Commands are short; anything longer cannot be one (and may be huge).
            let words = request.count <= 256 ? String(decoding: request, as: UTF8.self).split(separator: " ").map(String.init) : []
            let numbers = words.dropFirst().compactMap { UInt64($0) }
            if request.isEmpty {
                try client.sendError(code: PeerErrorCode.badRequest, message: "empty request")
            } else if words.first == "image", words.count == 5, numbers.count == 4,
                let metadata = try? ResponseMetadata.image(width: numbers[0], height: numbers[1], channels: numbers[2]),
                metadata.bytes <= 1 << 30
            {
                let buffer = try client.reserve(Int(metadata.bytes))
                fill(buffer, seed: numbers[3])
                try client.commit(metadata)
                say("client: served image \(numbers[0])x\(numbers[1])x\(numbers[2])")
            } else if words.first == "bytes", words.count == 3, numbers.count == 2, numbers[0] <= 1 << 30 {
                let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(numbers[0]), alignment: 16)
                defer { payload.deallocate() }
                fill(payload, seed: numbers[1])
                try client.send(bytes: UnsafeRawBufferPointer(payload))
                say("client: served \(numbers[0]) bytes")
            } else if words.first == "sleep", words.count == 2, numbers.count == 1 {
                // Holds the request unanswered (tests kill the client meanwhile).
                say("client: sleeping \(numbers[0]) ms before answering")
                usleep(useconds_t(min(numbers[0] * 1000, UInt64(UInt32.max))))
                try client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            } else if words.first == "error", words.count == 2, numbers.count == 1 {
                try client.sendError(code: numbers[0], message: "requested error \(numbers[0])")
                say("client: served error \(numbers[0])")
            } else {
                try client.sendError(code: PeerErrorCode.notFound, message: "unknown request")
                say("client: unknown request of \(request.count) bytes")
            }
            served += 1
        } catch .peerGone {
            say("client: server closed the channel after \(served) requests")
            exit(0)
        } catch {
            fail("client: \(ErrorCode.name(of: error.code)): \(error)")
        }
    }
    exit(0)
}

// MARK: interruptible-client: Tests/CPeer/interrupt_peer.c's behaviour, in Swift

/// What the SIGINT handler touches: plain values, set before the handler is installed.
nonisolated(unsafe) var signalInterrupter: ChannelInterrupter?
nonisolated(unsafe) var signalTime = timespec()

/// The SIGINT handler: notes the time and interrupts the client's wait.
nonisolated(unsafe) let onInterruptSignal: @convention(c) (Int32) -> Void = { _ in
    clock_gettime(CLOCK_MONOTONIC, &signalTime)
    signalInterrupter?.interrupt()
}

func microsecondsSinceSignal() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return (Int64(now.tv_sec) - Int64(signalTime.tv_sec)) * 1_000_000 + (Int64(now.tv_nsec) - Int64(signalTime.tv_nsec)) / 1000
}

/// Serves successive servers on one client, answering R with "echo:R"
/// ("slow:N:R" after N ms; "quit" ends), and goes on after SIGINT.
func runInterruptibleClient(channel: String) -> Never {
    var options = ChannelOptions()
    options.attachTimeout = peerPatience
    let client: ShmemaphoreClient
    do { client = try ShmemaphoreClient(channel: channel, options: options) } catch { fail("client: open: \(error)") }
    signalInterrupter = client.interrupter
    var action = sigaction()
    action.__sigaction_handler.sa_handler = onInterruptSignal
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART
    sigaction(SIGINT, &action, nil)
    // A parent may have started us with SIGINT blocked (test runners do).
    var unblocked = sigset_t()
    sigemptyset(&unblocked)
    sigaddset(&unblocked, SIGINT)
    sigprocmask(SIG_UNBLOCK, &unblocked, nil)
    say("attached")
    while true {
        let received: Result<[UInt8], ShmemaphoreError> = Result { () throws(ShmemaphoreError) in Array(try client.receiveRequest()) }
        let text: String
        switch received {
        case .success(let bytes): text = String(decoding: bytes, as: UTF8.self)
        case .failure(.interrupted):
            say("interrupted after \(microsecondsSinceSignal()) us")
            continue
        case .failure(.peerGone):
            say("peer-gone")
            continue
        case .failure(let error): fail("client: receive: \(error)")
        }
        var answer = Substring(text)
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "slow", let delay = UInt32(parts[1]) {
            usleep(delay * 1000)
            answer = parts[2]
        }
        let reply = Array("echo:\(answer)".utf8)
        do {
            try reply.withUnsafeBytes { bytes in try client.send(bytes: bytes) }
        } catch {
            fail("client: send: \(error)")
        }
        say("served \(text)")
        if text == "quit" { exit(0) }
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    fail(
        "usage: shmemaphore-testpeer server CHANNEL STEP...\n       shmemaphore-testpeer client CHANNEL [MAX]\n"
            + "       shmemaphore-testpeer interruptible-client CHANNEL", status: 2)
}
switch arguments[1] {
case "server": runServer(channel: arguments[2], steps: Array(arguments.dropFirst(3)))
case "client": runClient(channel: arguments[2], maximum: arguments.count > 3 ? Int(arguments[3]) : nil)
case "interruptible-client": runInterruptibleClient(channel: arguments[2])
default:
    fail("unknown role \(arguments[1])", status: 2)
}
