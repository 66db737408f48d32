// ReceivePathFuzz.swift - libFuzzer target over everything libshmemaphore's
// receive path parses from shared memory.
//
// The SwiftPM executable target `shmemaphore-receive-path-fuzz` (Package.swift,
// folder Fuzz/), built by scripts/fuzz.sh with `swift build` for libFuzzer
// and ASan (the core and the C shims are instrumented too); the fuzzer
// runtime provides main() (ReplayMain.swift says what a build without
// libFuzzer does).  The target reaches the core's `package` API (ServerEngine,
// ClientEngine, checkPayloadFits, ResponseMetadata(words:), validateForSending), which every
// target of this package sees, without @testable.
//
// Every input runs two checks:
//
// 1. Pure wire parsing, against an independent reference written here:
//    ResponseMetadata(words:) decoding, kind() (error / bytes / image /
//    protocol error, 128-bit product instead of overflow checks),
//    imageByteCount, validateForSending, and checkPayloadFits with an
//    arbitrary (also negative) segment size.
//
// 2. The real receive path of a real channel, with this process playing the
//    hostile peer.  One server and one client engine are opened once per
//    process on the channel "<prefix>-<pid>" (prefix: $SHMEMAPHORE_FUZZ_PREFIX,
//    default "shmfuzz"); the harness also opens HEAD, DATA and both semaphores
//    by name, as a peer process would, and for each input:
//      - server side: the real server sends a request; the hostile client
//        takes the REQ token, writes the DATA contents, the header words and
//        the segment sizes from the input (pwrite + ftruncate: it may shrink
//        HEAD below a header and DATA below what the header announces), posts
//        RES (once or twice) and the real server calls receiveResponse(timeout: 0);
//      - client side: the real server sends a request, the hostile writer
//        then replaces the request header, DATA and the sizes from the input
//        (as a hostile server would have written them) and the real client
//        calls receiveRequest(timeout: 0), then answers with sendError (it
//        must always be able to answer), which the real server receives.
//    Both real peers keep to the turns (docs/PROTOCOL.md, section 5): the
//    hostile writer only acts while it is the peer's turn, since the library
//    relies on a segment not changing during its own turn.
//    The outcome must be exactly what the protocol prescribes
//    (docs/PROTOCOL.md, sections 5-8): success with the right kind and
//    metadata and a payload view of exactly the announced length that lies
//    inside the segment's real size and holds the bytes the peer wrote
//    (read byte by byte: all of a view up to 1 MiB, the first and last
//    512 KiB of a larger one, so a view past the end of DATA faults), or
//    SHMEMAPHORE_E_PROTOCOL - never a crash, never another error, except
//    ENOSPC for a payload of holes larger than /dev/shm (the receiver must
//    reserve memory before it touches a hole: ENOSPC, not SIGBUS).  Any
//    deviation aborts with a description (libFuzzer then saves the input).
//    With SHMEMAPHORE_FUZZ_CHECK_RESERVE=1 the target also fails when a
//    receive reserved more of DATA than the payload it returned (a peer's
//    sparse segment must not make the receiver allocate all of it).
//
// Input layout (missing bytes read as 0, so every input is valid):
//   byte  0      flags: bit 0 side (0 server receives a response,
//                              1 client receives a request)
//                       bit 1 call receive once BEFORE the token is posted:
//                              it must time out and change nothing
//                       bit 2 large DATA (see bytes 2-5); beyond the first
//                              132 KiB it is a hole (never written)
//                       bit 3 post the token twice (a buggy peer); the
//                              server must drain the extra one before its
//                              next request
//                       bit 4 sparse: DATA is all holes (ftruncate only,
//                              as an original peer grows it); reads as 0
//   byte  1      HEAD length to truncate to: value % 65 (0...64)
//   bytes 2-5    DATA size field F, uint32 little-endian:
//                small  F % (128 KiB + 1)
//                large  bit 31 clear: (F & 0xFFFF) << 12, at most
//                       min(64 MiB, free /dev/shm / 8) ("moderate")
//                large  bit 31 set: HUGE + (F & 0x7FFFFFFF) << 12, where
//                       HUGE = max(64 GiB, 2 x the size of /dev/shm): more
//                       than /dev/shm can ever hold, so reserving it fails
//                       at once with ENOSPC instead of filling /dev/shm
//                A case whose payload would make the receiver reserve
//                between the moderate limit and HUGE bytes of holes is
//                skipped (only its wire parsing runs): it would fill the
//                machine's /dev/shm.
//   bytes 6-37   the four header words, uint64 little-endian
//                (request: word 0 is the length L; response: B, W, H, C)
import CShmemaphoreShims
import Glibc
import Shmemaphore

// MARK: - Input

struct FuzzCase {
    var receiverIsClient: Bool
    var timeoutFirst: Bool
    var largeData: Bool
    var postTwice: Bool
    var sparse: Bool
    var headerLength: Int
    var words: [UInt64]  // exactly 4
    var sizeField: UInt32

    static let smallDataLimit = 128 * 1024

    init(_ input: UnsafeRawBufferPointer) {
        func byte(_ index: Int) -> UInt8 { index < input.count ? input[index] : 0 }
        func littleEndian(_ offset: Int, _ count: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in 0..<count { value |= UInt64(byte(offset + index)) << (8 * UInt64(index)) }
            return value
        }
        let flags = byte(0)
        receiverIsClient = flags & 1 != 0
        timeoutFirst = flags & 2 != 0
        largeData = flags & 4 != 0
        postTwice = flags & 8 != 0
        sparse = flags & 16 != 0
        headerLength = Int(byte(1)) % 65
        sizeField = UInt32(littleEndian(2, 4))
        words = (0..<4).map { littleEndian(6 + 8 * $0, 8) }
    }
}

/// What /dev/shm can hold, read once: it bounds the sizes the target may
/// make a receiver reserve (see the input layout).
struct DevShmLimits {
    /// Largest "moderate" DATA size: min(64 MiB, free space / 8), whole pages.
    let moderate: Int
    /// Smallest "huge" DATA size: more than /dev/shm can ever hold.
    let huge: Int

    static let current: DevShmLimits = {
        var info = statvfs()
        guard statvfs("/dev/shm", &info) == 0 else { fuzzFailure("statvfs /dev/shm: errno \(errno)") }
        let total = Int(info.f_blocks) * Int(info.f_frsize)
        let free = Int(info.f_bavail) * Int(info.f_frsize)
        return DevShmLimits(
            moderate: min(64 << 20, free / 8) / 4096 * 4096,
            huge: max(64 << 30, 2 * total) / 4096 * 4096)
    }()

    func dataSize(_ testCase: FuzzCase) -> Int {
        let field = Int(testCase.sizeField)
        if !testCase.largeData { return field % (FuzzCase.smallDataLimit + 1) }
        if field & 0x8000_0000 == 0 { return min((field & 0xFFFF) << 12, moderate) }
        return huge + (field & 0x7FFF_FFFF) << 12
    }
}

// MARK: - Failure reporting

func fuzzFailure(_ message: String) -> Never {
    var text = "ReceivePathFuzz: CHECK FAILED: " + message + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    abort()
}

func describe(_ error: ShmemaphoreError) -> String { "\(ErrorCode.name(of: error.code)): \(error)" }

// MARK: - 1. Pure wire parsing against a reference

/// The kind the protocol prescribes for four response words (docs/PROTOCOL.md,
/// section 7), computed without the library: nil means a protocol error.
func referenceKind(bytes: UInt64, width: UInt64, height: UInt64, channels: UInt64) -> PayloadKind? {
    if channels == UInt64.max { return height == 0 ? .error(code: width) : nil }
    if width == 0 && height == 0 && channels == 0 { return .bytes }
    if width == 0 || height == 0 || channels == 0 { return nil }
    guard let product = referenceProduct(width, height, channels) else { return nil }
    return product == bytes ? .image : nil
}

/// width * height * channels in 128-bit arithmetic; nil when it exceeds 64 bits.
func referenceProduct(_ width: UInt64, _ height: UInt64, _ channels: UInt64) -> UInt64? {
    let area = UInt128(width) * UInt128(height)  // < 2^128: cannot overflow
    if area > UInt128(UInt64.max) { return channels == 0 ? 0 : nil }
    let total = area * UInt128(channels)  // < 2^128 again
    return total > UInt128(UInt64.max) ? nil : UInt64(total)
}

func checkWireParsing(_ testCase: FuzzCase) {
    let w = testCase.words
    var raw = (w[0], w[1], w[2], w[3])
    let metadata = withUnsafeBytes(of: &raw) { ResponseMetadata(words: $0) }
    guard metadata == ResponseMetadata(bytes: w[0], width: w[1], height: w[2], channels: w[3]) else {
        fuzzFailure("ResponseMetadata(words:) decoded \(metadata) from words \(w)")
    }

    // imageByteCount: the 64-bit product or nil.  Only for non-zero
    // dimensions: with a zero dimension the library reports an overflow of
    // width * height as nil although the full product is 0 (kind() checks
    // zero dimensions first, so the receive path never asks).
    let product = referenceProduct(w[1], w[2], w[3])
    guard w[1] == 0 || w[2] == 0 || w[3] == 0 || metadata.imageByteCount == product else {
        fuzzFailure("imageByteCount of \(w[1])x\(w[2])x\(w[3]) is \(String(describing: metadata.imageByteCount)), expected \(String(describing: product))")
    }

    // kind(): exactly the table of section 7.
    let expected = referenceKind(bytes: w[0], width: w[1], height: w[2], channels: w[3])
    let kind = Result { () throws(ShmemaphoreError) in try metadata.kind() }
    switch (kind, expected) {
    case (.success(let got), .some(let want)) where got == want: break
    case (.failure(.protocolViolation), .none): break
    default: fuzzFailure("kind() of \(w) gave \(kind), expected \(String(describing: expected)) (nil: protocol error)")
    }

    // validateForSending: what kind() accepts, minus error responses; failures are invalidArgument.
    let validation = Result { () throws(ShmemaphoreError) in try metadata.validateForSending() }
    let sendable = expected != nil && w[3] != UInt64.max
    switch validation {
    case .success where sendable: break
    case .failure(.invalidArgument) where !sendable: break
    default: fuzzFailure("validateForSending of \(w) gave \(validation), expected \(sendable ? "success" : "invalidArgument")")
    }

    // checkPayloadFits with any Int; a negative size (fstat never reports
    // one) holds nothing, so only an empty payload fits it.
    for size in [Int(bitPattern: UInt(w[1])), Int(bitPattern: UInt(w[2])), Int(testCase.sizeField), Int.min, -1, 0, Int.max] {
        let fits = Result { () throws(ShmemaphoreError) in try checkPayloadFits(w[0], dataSegmentSize: size, what: "fuzz") }
        let shouldFit = w[0] <= UInt64(max(size, 0))
        switch fits {
        case .success where shouldFit: break
        case .failure(.protocolViolation) where !shouldFit: break
        default: fuzzFailure("checkPayloadFits(\(w[0]), dataSegmentSize: \(size)) gave \(fits)")
        }
    }
}

// MARK: - 2. The real receive path against a hostile peer

/// The byte the hostile peer writes at DATA offset `index` (for the first
/// `patternLimit` bytes, unless the case is sparse; holes read as 0).
@inline(__always)
func patternByte(_ index: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: (index &* 131) ^ (index >> 9) ^ 0x5A)
}

final class Harness {
    /// Bytes of DATA the hostile peer fills with the pattern (all of it in
    /// small mode; the start of a large sparse segment).
    static let patternLimit = FuzzCase.smallDataLimit + 4096
    /// How much of a payload is compared against what was written: all of it
    /// up to this, else this much at the start and at the end.
    static let compareLimit = 1 << 20

    let name: ChannelName
    var server: ServerEngine?
    var client: ClientEngine?
    let headDescriptor: Int32
    let dataDescriptor: Int32
    let requestSemaphore: UnsafeMutablePointer<sem_t>
    let responseSemaphore: UnsafeMutablePointer<sem_t>
    let pattern: UnsafeMutableRawBufferPointer
    /// Extra RES tokens a "post twice" server case left for the server's next send to drain.
    var strayResponseTokens = 0
    var iterations = 0
    let limits = DevShmLimits.current
    let checkReserve = getenv("SHMEMAPHORE_FUZZ_CHECK_RESERVE").map { String(cString: $0) == "1" } ?? false

    init() {
        let prefix = getenv("SHMEMAPHORE_FUZZ_PREFIX").map { String(cString: $0) } ?? "shmfuzz"
        do {
            name = try ChannelName("\(prefix)-\(getpid())")
            // The hostile peer played here shrinks segments behind the back of
            // a side whose peer holds its liveness lock: that breaks the
            // trusted-peer promise (docs/PROTOCOL.md 9b), which only a side told
            // to check every turn survives.  A side facing a peer without a lock
            // (an original app) runs these same checks by itself.
            var options = ChannelOptions()
            options.untrustedPeer = true
            let server = try ServerEngine.openServer(name, options: options)
            let client = try ClientEngine.openClient(name, options: options)
            self.server = server
            self.client = client
        } catch {
            fuzzFailure("cannot open the channel: \(describe(error))")
        }
        headDescriptor = shm_open(name.headerSegment, O_RDWR | O_CLOEXEC, 0)
        dataDescriptor = shm_open(name.dataSegment, O_RDWR | O_CLOEXEC, 0)
        guard headDescriptor >= 0, dataDescriptor >= 0,
            let request = sem_open(name.requestSemaphore, 0), request != SEM_FAILED,
            let response = sem_open(name.responseSemaphore, 0), response != SEM_FAILED
        else { fuzzFailure("cannot open the channel's objects as a peer: errno \(errno)") }
        requestSemaphore = request
        responseSemaphore = response
        pattern = .allocate(byteCount: Self.patternLimit, alignment: 16)
        for index in 0..<pattern.count { pattern[index] = patternByte(index) }
    }

    /// Closes both cores: the server unlinks the channel's four objects.
    func close() {
        client?.close()
        server?.close()
        client = nil
        server = nil
    }

    func semaphoreValue(_ semaphore: UnsafeMutablePointer<sem_t>) -> Int32 {
        var value: Int32 = 0
        sem_getvalue(semaphore, &value)
        return value
    }

    func takeToken(_ semaphore: UnsafeMutablePointer<sem_t>) -> Bool { sem_trywait(semaphore) == 0 }

    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fuzzFailure(message()) }
    }

    /// The hostile peer's turn: DATA size and contents, header words, HEAD size.
    /// `answerNumber`: when the hostile peer plays the client, it numbers its
    /// answer as a libshmemaphore client must (docs/PROTOCOL.md 9c), so that
    /// the server looks at the words; HEAD's length may still cut it off.
    func writeSegments(_ testCase: FuzzCase, dataSize: Int, answerNumber: Bool = false) {
        // A sparse case starts from nothing, so that all of DATA is a hole.
        if testCase.sparse { check(ftruncate(dataDescriptor, 0) == 0, "ftruncate DATA to 0: errno \(errno)") }
        check(ftruncate(dataDescriptor, off_t(dataSize)) == 0, "ftruncate DATA to \(dataSize): errno \(errno)")
        let filled = testCase.sparse ? 0 : min(dataSize, Self.patternLimit)
        if filled > 0 {
            check(pwrite(dataDescriptor, pattern.baseAddress, filled, 0) == filled, "pwrite DATA: errno \(errno)")
        }
        var words = (testCase.words[0], testCase.words[1], testCase.words[2], testCase.words[3])
        let written = withUnsafeBytes(of: &words) { pwrite(headDescriptor, $0.baseAddress, 32, 0) }
        check(written == 32, "pwrite HEAD: errno \(errno)")
        if answerNumber {
            var number: UInt64 = 0
            check(pread(headDescriptor, &number, 8, off_t(Wire.requestNumberOffset)) == 8, "pread the request number: errno \(errno)")
            check(pwrite(headDescriptor, &number, 8, off_t(Wire.answerNumberOffset)) == 8, "pwrite the answer number: errno \(errno)")
        }
        check(ftruncate(headDescriptor, off_t(testCase.headerLength)) == 0, "ftruncate HEAD: errno \(errno)")
    }

    /// Reads the payload byte by byte (a view past the end of DATA faults here)
    /// and compares it with what the peer wrote.
    func verifyPayload(_ payload: UnsafeRawBufferPointer, count: UInt64, dataSize: Int, sparse: Bool, what: String) {
        check(UInt64(payload.count) == count, "\(what): the view has \(payload.count) bytes, the header announced \(count)")
        check(payload.count <= dataSize, "\(what): the view has \(payload.count) bytes, DATA only \(dataSize)")
        guard payload.count > 0 else { return }
        guard payload.baseAddress != nil else { fuzzFailure("\(what): a \(payload.count)-byte view has no address") }
        func expectedByte(_ index: Int) -> UInt8 { !sparse && index < Self.patternLimit ? patternByte(index) : 0 }
        let ranges: [Range<Int>] =
            payload.count <= Self.compareLimit
            ? [0..<payload.count]
            : [0..<Self.compareLimit / 2, (payload.count - Self.compareLimit / 2)..<payload.count]
        for range in ranges {
            for index in range where payload[index] != expectedByte(index) {
                fuzzFailure("\(what): byte \(index) of the payload is \(payload[index]), the peer wrote \(expectedByte(index))")
            }
        }
    }

    func run(_ testCase: FuzzCase) {
        iterations += 1
        let dataSize = limits.dataSize(testCase)
        // Reserving holes between the moderate limit and "huge" would fill
        // this machine's /dev/shm (see the input layout): not here.
        let count = testCase.words[0]
        let holes = testCase.sparse || dataSize > Self.patternLimit
        if holes, count <= UInt64(dataSize), count > UInt64(limits.moderate), count < UInt64(limits.huge) { return }
        if testCase.receiverIsClient {
            runClientReceives(testCase, dataSize: dataSize)
        } else {
            runServerReceives(testCase, dataSize: dataSize)
        }
    }

    /// Bytes of DATA backed by memory (tmpfs allocates whole pages).
    func allocatedBytes() -> Int {
        var status = stat()
        check(fstat(dataDescriptor, &status) == 0, "fstat DATA: errno \(errno)")
        return Int(status.st_blocks) * 512
    }

    /// A payload of holes larger than all of /dev/shm cannot be backed:
    /// ENOSPC is then the right answer (never SIGBUS).
    func expectsNoSpace(_ testCase: FuzzCase, count: UInt64) -> Bool { count >= UInt64(limits.huge) }

    /// With SHMEMAPHORE_FUZZ_CHECK_RESERVE=1: a receive may reserve the
    /// payload's pages, not the rest of the peer's (sparse) segment.
    func checkReservation(before: Int, count: UInt64, what: String) {
        guard checkReserve else { return }
        let after = allocatedBytes()
        let allowed = (Int(count) + 4095) / 4096 * 4096 + 4096
        check(
            after - before <= allowed,
            "\(what): the receiver reserved \(after - before) more bytes of DATA for a \(count)-byte payload (allocated \(before) -> \(after))")
    }

    // Server side: response header and payload from a hostile client.
    func runServerReceives(_ testCase: FuzzCase, dataSize: Int) {
        guard let server else { return }
        let request: [UInt8] = Array("fuzz \(iterations)".utf8)
        let sent = request.withUnsafeBytes { bytes in
            Result { () throws(ShmemaphoreError) in try server.sendRequest(bytes) }
        }
        if case .failure(let error) = sent { fuzzFailure("sendRequest: \(describe(error))") }
        check(semaphoreValue(responseSemaphore) == 0, "sendRequest left \(semaphoreValue(responseSemaphore)) stray RES tokens (had \(strayResponseTokens))")
        strayResponseTokens = 0
        check(takeToken(requestSemaphore), "sendRequest posted no REQ token")
        check(semaphoreValue(requestSemaphore) == 0, "sendRequest posted more than one REQ token")

        if testCase.timeoutFirst {
            switch Result(catching: { () throws(ShmemaphoreError) in try server.receiveResponse(timeout: .zero) }) {
            case .failure(.timeout): break
            case let other: fuzzFailure("receiveResponse without a token gave \(other), expected timeout")
            }
        }

        writeSegments(testCase, dataSize: dataSize, answerNumber: true)
        let allocated = allocatedBytes()
        sem_post(responseSemaphore)
        if testCase.postTwice { sem_post(responseSemaphore) }

        let w = testCase.words
        let expectedKind: PayloadKind? =
            testCase.headerLength < Wire.numberedResponseSize || w[0] > UInt64(dataSize)
            ? nil : referenceKind(bytes: w[0], width: w[1], height: w[2], channels: w[3])
        let noSpace = expectedKind != nil && expectsNoSpace(testCase, count: w[0])
        let outcome = Result(catching: { () throws(ShmemaphoreError) in try server.receiveResponse(timeout: .zero) })
        switch (outcome, expectedKind) {
        case (.success(let response), .some(let kind)) where !noSpace:
            checkReservation(before: allocated, count: w[0], what: "receiveResponse")
            check(response.kind == kind, "receiveResponse: kind \(response.kind), expected \(kind) for words \(w)")
            check(
                response.metadata == ResponseMetadata(bytes: w[0], width: w[1], height: w[2], channels: w[3]),
                "receiveResponse: metadata \(response.metadata), the peer wrote \(w)")
            verifyPayload(response.payload, count: w[0], dataSize: dataSize, sparse: testCase.sparse, what: "receiveResponse")
        case (.failure(.protocolViolation), .none): break
        case (.failure(.system(errno: ENOSPC, _)), .some) where noSpace: break
        default:
            fuzzFailure("receiveResponse gave \(outcome) for HEAD \(testCase.headerLength) B, DATA \(dataSize) B\(testCase.sparse ? " (sparse)" : ""), words \(w); expected \(noSpace ? "ENOSPC" : expectedKind.map { "\($0)" } ?? "a protocol error")")
        }
        if testCase.postTwice {
            check(semaphoreValue(responseSemaphore) == 1, "the second RES token vanished")
            strayResponseTokens = 1
        }
    }

    // Client side: request header and bytes from a hostile server.  The real
    // server sends a request (so that its view of the turn stays right), then
    // the hostile writer replaces what it wrote before the client looks; the
    // client's error answer then goes back to the real server.
    func runClientReceives(_ testCase: FuzzCase, dataSize: Int) {
        guard let client, let server else { return }
        let sent = Array("fuzz \(iterations)".utf8).withUnsafeBytes { bytes in
            Result { () throws(ShmemaphoreError) in try server.sendRequest(bytes) }
        }
        if case .failure(let error) = sent { fuzzFailure("sendRequest: \(describe(error))") }
        strayResponseTokens = 0

        if testCase.timeoutFirst {
            check(takeToken(requestSemaphore), "sendRequest posted no REQ token")
            switch Result(catching: { () throws(ShmemaphoreError) in try client.receiveRequest(timeout: .zero) }) {
            case .failure(.timeout): break
            case let other: fuzzFailure("receiveRequest without a token gave \(other), expected timeout")
            }
            sem_post(requestSemaphore)
        }

        writeSegments(testCase, dataSize: dataSize)
        let allocated = allocatedBytes()
        if testCase.postTwice { sem_post(requestSemaphore) }

        let length = testCase.words[0]
        let fits = testCase.headerLength >= Wire.requestHeaderSize && length <= UInt64(dataSize)
        let noSpace = fits && expectsNoSpace(testCase, count: length)
        let outcome = Result(catching: { () throws(ShmemaphoreError) in try client.receiveRequest(timeout: .zero) })
        switch outcome {
        case .success(let request) where fits && !noSpace:
            checkReservation(before: allocated, count: length, what: "receiveRequest")
            verifyPayload(request, count: length, dataSize: dataSize, sparse: testCase.sparse, what: "receiveRequest")
        case .failure(.protocolViolation) where !fits: break
        case .failure(.system(errno: ENOSPC, _)) where noSpace: break
        default:
            fuzzFailure("receiveRequest gave \(outcome) for HEAD \(testCase.headerLength) B, DATA \(dataSize) B\(testCase.sparse ? " (sparse)" : ""), L = \(length); expected \(noSpace ? "ENOSPC" : fits ? "success" : "a protocol error")")
        }
        // A doubled REQ token: the hostile server takes it back (not the client's problem).
        if testCase.postTwice { check(takeToken(requestSemaphore), "the second REQ token vanished") }

        // Whatever came, the client holds the request and must be able to answer it,
        // and the real server must receive that answer.
        do {
            try client.sendError(code: PeerErrorCode.badRequest, message: UnsafeRawBufferPointer(start: nil, count: 0))
        } catch {
            fuzzFailure("sendError after receiveRequest: \(describe(error))")
        }
        // A HEAD cut short of the request number (bytes 40-47) leaves the
        // client nothing to number its answer with: the server cannot match
        // the answer, a protocol error (docs/PROTOCOL.md 9c).
        let numbered = testCase.headerLength >= Wire.requestNumberOffset + 8
        switch Result(catching: { () throws(ShmemaphoreError) in try server.receiveResponse(timeout: .zero) }) {
        case .success(let response) where numbered && response.kind == .error(code: PeerErrorCode.badRequest) && response.payload.count == 0:
            break
        case .failure(.protocolViolation) where !numbered:
            break
        case let other:
            fuzzFailure("the server received \(other) for the client's empty BAD_REQUEST error response")
        }
        check(semaphoreValue(responseSemaphore) == 0, "sendError posted more than one RES token")
        check(semaphoreValue(requestSemaphore) == 0, "a REQ token is left over")
    }
}

nonisolated(unsafe) var harness: Harness?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let testCase = FuzzCase(UnsafeRawBufferPointer(start: data, count: size))
    checkWireParsing(testCase)
    if harness == nil {
        harness = Harness()
        // Leave /dev/shm clean when libFuzzer exits normally (-runs, -max_total_time).
        atexit { harness?.close() }
    }
    harness!.run(testCase)
    return 0
}
