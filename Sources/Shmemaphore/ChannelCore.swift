import Glibc

/// The protocol engine behind both roles: the four objects of one channel and
/// the turn-taking state machine over them (docs/PROTOCOL.md, "One exchange").
///
/// `ShmemaphoreServer` and `ShmemaphoreClient` are its typed Swift faces; the
/// C ABI layer uses it directly, which is why roles are checked at run time
/// here.  Not thread-safe: one thread at a time per channel.
package final class ChannelCore {
    /// Which side of the protocol this channel plays.
    package enum Role: Sendable { case server, client }

    /// Whose turn it is.  Every operation checks it, so a call out of order is
    /// a clear `wrongState` error instead of a hang or a corrupted exchange.
    enum State: Equatable {
        /// Server: may send a request.  Client: may wait for one.
        case idle
        /// Server: a request is out; the response is still to be received.
        case awaitingResponse
        /// Client: a request was received and must be answered.
        case holdingRequest
        /// Client: a response buffer of this many bytes is reserved.
        case reserved(Int)
        /// The server closed the channel under this client; nothing more will come.
        case peerGone
    }

    package let role: Role
    package let name: ChannelName
    let options: ChannelOptions
    private var requestSemaphore: NamedSemaphore
    private var responseSemaphore: NamedSemaphore
    private var header: SharedSegment
    private var data: SharedSegment
    private(set) var state = State.idle
    private var isClosed = false
    /// DATA's status as read at the start of this side's current turn, nil
    /// outside a turn.  The peer cannot resize DATA during our turn, so one
    /// fstat per turn is enough (docs/PROTOCOL.md, section 8).
    private var turnDataStatus: stat?
    /// Whether the peer has been seen holding its liveness lock on HEAD.  Only
    /// then does a missing lock mean a dead peer: original peers take none.
    /// A lock seen for the first time also lifts the wait between trust
    /// attempts: a server's first attempt usually comes before its client
    /// attached, and the first exchange should already find the fast path.
    private var peerLockSeen = false {
        didSet { if peerLockSeen && !oldValue { lastTrustAttempt = nil } }
    }
    /// What the fast path may rely on while the peer is trusted; nil while it
    /// is not (docs/PROTOCOL.md, "Trusted peers").
    private var trust: PeerTrust?
    /// When this side last tried to establish trust and could not (a peer
    /// without a lock, or none attached yet), and how many checked turns it
    /// skipped since: such a peer costs one lock test per `trustInterval` or
    /// per `trustRetryTurns` turns, whichever comes first, not one per turn.
    private var lastTrustAttempt: MonotonicInstant?
    private var turnsSinceTrustAttempt = 0
    /// Whether the next wait spins first (`WaitStrategy.adaptive`).
    private var spinPolicy: SpinPolicy

    /// What a trusted peer lets this side skip: a peer holding its liveness
    /// lock promises never to shrink a segment or punch holes in it, so what
    /// was verified stays true; only growth needs a new look.
    struct PeerTrust {
        /// HEAD, mapped (at least `Wire.headerSegmentSize` bytes); owned by `header`.
        let headerWords: UnsafeMutableRawPointer
        /// Leading bytes of DATA known to exist, with memory behind them, inside our mapping.
        let dataLength: Int
        /// When the peer's lock and the sizes were last checked.
        let checkedAt: MonotonicInstant
    }

    /// How often a waiting client checks that the server is still there.
    static let livenessInterval: Int64 = 50_000_000
    /// How long a check of the peer's lock and of the segment sizes is
    /// relied on before a turn checks again.  It bounds the time in which a
    /// trusted peer that died could be replaced by one that breaks the promise.
    static let trustInterval: Int64 = 50_000_000
    /// Checked turns after which a side that could not trust its peer tries
    /// again even before `trustInterval` passed: a server's first request
    /// usually goes out before its client has attached.
    static let trustRetryTurns = 16
    /// How often a client polls for the server's segments while attaching.
    static let attachPollInterval: Int64 = 5_000_000
    /// How long a client waits for a restarting server to re-create its segments.
    static let restartGrace: Int64 = 200_000_000

    private init(
        role: Role, name: ChannelName, options: ChannelOptions,
        requestSemaphore: NamedSemaphore, responseSemaphore: NamedSemaphore,
        header: SharedSegment, data: SharedSegment
    ) {
        self.role = role
        self.name = name
        self.options = options
        self.requestSemaphore = requestSemaphore
        self.responseSemaphore = responseSemaphore
        self.header = header
        self.data = data
        self.spinPolicy = SpinPolicy(strategy: options.waitStrategy)
    }

    deinit { close() }

    // MARK: Opening and closing

    /// Opens `name` as its server: semaphores opened (or created) and drained,
    /// both segments created anew (docs/PROTOCOL.md, "Start-up").
    package static func openServer(_ name: ChannelName, options: ChannelOptions) throws(ShmemaphoreError) -> ChannelCore {
        try options.validate()
        if options.stalePolicy == .fail {
            for segment in [name.headerSegment, name.dataSegment]
            where access(ChannelName.filesystemPath(ofSegment: segment), F_OK) == 0 {
                throw .exists("\(ChannelName.filesystemPath(ofSegment: segment)) exists: another server runs, or one crashed")
            }
        }
        let (request, response) = try openSemaphores(name, options: options)
        do throws(ShmemaphoreError) {
            if options.stalePolicy == .fail {
                // Look, don't touch: the objects stay as they were for whoever inspects them.
                if try request.value() + response.value() > 0 {
                    throw .exists("the semaphores of channel \(name) hold counts left by an earlier run")
                }
            } else {
                try request.drain()
                try response.drain()
            }
            // HEAD is replaced before DATA and created before DATA, so a client
            // that finds a fresh DATA also finds a fresh HEAD.
            // A client may still map the old HEAD and trust it: the retired
            // word, set once both names are gone, sends it to the new ones.
            // (A HEAD that fails the permission check is not ours to write.)
            let oldHeader = try? SharedSegment.attach(name.headerSegment, options: options)
            SharedSegment.unlink(name.headerSegment)
            SharedSegment.unlink(name.dataSegment)
            oldHeader?.markRetired()
            let header = try SharedSegment.create(name.headerSegment, mode: options.mode, size: Wire.headerSegmentSize)
            // Held for the channel's life; the kernel drops it if this process dies.
            if !options.emulatesOriginalPeer { _ = try header.lockByte(at: Wire.serverLivenessByte) }
            let data: SharedSegment
            do {
                data = try SharedSegment.create(name.dataSegment, mode: options.mode, size: Wire.initialDataSegmentSize)
            } catch {
                SharedSegment.unlink(name.headerSegment)
                throw error
            }
            return ChannelCore(
                role: .server, name: name, options: options,
                requestSemaphore: request, responseSemaphore: response, header: header, data: data)
        } catch {
            request.unlinkIfCreatedHere()
            response.unlinkIfCreatedHere()
            throw error
        }
    }

    /// Opens `name` as its client: semaphores opened (or created), then the
    /// server's segments awaited up to `options.attachTimeout`.
    package static func openClient(_ name: ChannelName, options: ChannelOptions) throws(ShmemaphoreError) -> ChannelCore {
        try options.validate()
        let (request, response) = try openSemaphores(name, options: options)
        let deadline = Deadline(timeout: options.attachTimeout)
        while true {
            do {
                let (header, data) = try attachSegments(name, options: options)
                let core = ChannelCore(
                    role: .client, name: name, options: options,
                    requestSemaphore: request, responseSemaphore: response, header: header, data: data)
                try core.takeClientLivenessLock()
                return core
            } catch .system(errno: ENOENT, _) where !deadline.hasPassed {
                sleep(nanoseconds: attachPollInterval)
            } catch {
                // No server came (or attaching failed): leave no semaphore of ours behind.
                request.unlinkIfCreatedHere()
                response.unlinkIfCreatedHere()
                if case .system(errno: ENOENT, _) = error { throw .timeout }
                throw error
            }
        }
    }

    /// Both semaphores of the channel, opened or created (whichever side starts
    /// first creates them).  On failure nothing this call created is left behind.
    private static func openSemaphores(
        _ name: ChannelName, options: ChannelOptions
    ) throws(ShmemaphoreError) -> (request: NamedSemaphore, response: NamedSemaphore) {
        let request = try NamedSemaphore.openOrCreate(name.requestSemaphore, options: options)
        do {
            return (request, try NamedSemaphore.openOrCreate(name.responseSemaphore, options: options))
        } catch {
            request.unlinkIfCreatedHere()
            throw error
        }
    }

    /// DATA first: the server creates it last, so a fresh DATA implies a fresh HEAD.
    private static func attachSegments(_ name: ChannelName, options: ChannelOptions) throws(ShmemaphoreError) -> (SharedSegment, SharedSegment) {
        let data = try SharedSegment.attach(name.dataSegment, options: options)
        let header = try SharedSegment.attach(name.headerSegment, options: options)
        return (header, data)
    }

    /// Releases everything.  A server also unlinks all four objects; a client
    /// unlinks nothing.  Idempotent.
    package func close() {
        guard !isClosed else { return }
        isClosed = true
        if role == .server {
            SharedSegment.unlink(name.dataSegment)
            SharedSegment.unlink(name.headerSegment)
            NamedSemaphore.unlink(name.requestSemaphore)
            NamedSemaphore.unlink(name.responseSemaphore)
        }
    }

    // MARK: Server

    /// Writes a request and posts it (server).
    package func sendRequest(_ request: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expect(.server, "send a request")
        guard state == .idle else {
            throw .wrongState("a request is outstanding: receive its response before sending another")
        }
        // A buggy client may have posted RES twice: a stale token must not pass
        // for the answer to this request.  Free when RES is 0 (no syscall).
        // Such a client may also have resized DATA since our turn began.
        if try responseSemaphore.drain() > 0 {
            turnDataStatus = nil
            trust = nil
        }
        // One byte more than the request: a NUL after it, for peers that read
        // the request as a C string.  The wire length excludes it.
        let buffer = try writableData(count: request.count + 1)
        if let source = request.baseAddress, request.count > 0 {
            buffer.copyMemory(from: source, byteCount: request.count)
        }
        buffer.storeBytes(of: 0, toByteOffset: request.count, as: UInt8.self)
        var length = UInt64(request.count)
        // writableData evaluated the trust for this turn.
        if let trust {
            trust.headerWords.storeBytes(of: length, as: UInt64.self)
        } else {
            try header.write(&length, count: Wire.requestHeaderSize, offset: 0)
        }
        // Until a client has been seen alive, look before posting: a client
        // that takes this request and dies at once is then still noticed.
        if !peerLockSeen { peerLockSeen = try header.isByteLocked(at: Wire.clientLivenessByte) }
        turnDataStatus = nil
        try requestSemaphore.post()
        state = .awaitingResponse
    }

    /// Waits for the response to the outstanding request (server).  Error
    /// responses are returned, not thrown: the caller decides how to surface them.
    package func receiveResponse(timeout: Duration?) throws(ShmemaphoreError) -> ReceivedResponse {
        try expect(.server, "receive a response")
        guard state == .awaitingResponse else {
            throw .wrongState("no request is outstanding: send one before receiving a response")
        }
        // Until a client has been seen holding its lock, look once before
        // waiting: a client that dies during the first slice is then noticed.
        if !peerLockSeen { try checkClientAlive() }
        let arrived = try waitForToken(on: .response, timeout: timeout) {
            () throws(ShmemaphoreError) in try self.checkClientAlive()
        }
        guard arrived else { throw .timeout }
        // The token is consumed: whatever the peer wrote, this exchange is over.
        state = .idle
        // A fast client may answer before any slice looked: look now, once.
        if !peerLockSeen { try checkClientAlive() }
        // The server's turn starts here and lasts until its next request.
        let trust = currentTrust()
        let metadata: ResponseMetadata
        if let trust {
            metadata = ResponseMetadata(words: UnsafeRawBufferPointer(start: trust.headerWords, count: Wire.responseHeaderSize))
        } else {
            var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            let read = try withUnsafeMutableBytes(of: &words) { buffer throws(ShmemaphoreError) in
                try header.read(into: buffer.baseAddress!, count: Wire.responseHeaderSize, offset: 0)
            }
            guard read == Wire.responseHeaderSize else {
                throw .protocolViolation("the header segment holds \(read) bytes; a response header needs \(Wire.responseHeaderSize)")
            }
            metadata = withUnsafeBytes(of: &words) { ResponseMetadata(words: $0) }
        }
        let kind = try metadata.kind()
        if let trust, metadata.bytes <= UInt64(trust.dataLength) {
            let payload = UnsafeRawBufferPointer(start: data.mapping, count: Int(metadata.bytes))
            return ReceivedResponse(metadata: metadata, kind: kind, payload: payload)
        }
        let payload = try checkedPayload(count: metadata.bytes, dataStatus: try data.status(), what: "response")
        return ReceivedResponse(metadata: metadata, kind: kind, payload: payload)
    }

    // MARK: Client

    /// Waits for the next request (client).  The returned view lives in the
    /// data segment and is valid until the next call on this channel.
    package func receiveRequest(timeout: Duration?) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        try expect(.client, "receive a request")
        switch state {
        case .idle: break
        case .peerGone: throw .peerGone
        default: throw .wrongState("the current request is not answered yet")
        }
        let arrived = try waitForToken(on: .request, timeout: timeout) {
            () throws(ShmemaphoreError) in
            _ = try self.dataStatusFollowingServer()
            try self.checkServerAlive()
        }
        guard arrived else { throw .timeout }
        // From here on the server waits for an answer: even a malformed request
        // leaves the client holding it, so that it can still answer with an error.
        state = .holdingRequest
        // A retired HEAD means the server was replaced: the checked path
        // below finds DATA unlinked and follows it to the new segments.
        if let trust = currentTrust(),
            trust.headerWords.load(fromByteOffset: Wire.retiredWordOffset, as: UInt64.self) != Wire.retiredMarker
        {
            let length = trust.headerWords.load(as: UInt64.self)
            if length <= UInt64(trust.dataLength) {
                return UnsafeRawBufferPointer(start: data.mapping, count: Int(length))
            }
        }
        let dataStatus = try dataStatusFollowingServer()
        var length: UInt64 = 0
        let read = try header.read(into: &length, count: Wire.requestHeaderSize, offset: 0)
        guard read == Wire.requestHeaderSize else {
            throw .protocolViolation("the header segment holds \(read) bytes; a request header needs \(Wire.requestHeaderSize)")
        }
        return try checkedPayload(count: length, dataStatus: dataStatus, what: "request")
    }

    /// Answers the held request with a copy of `payload` (client).
    package func sendResponse(_ metadata: ResponseMetadata, payload: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expectHeldRequest("send a response")
        try metadata.validateForSending()
        guard UInt64(payload.count) >= metadata.bytes else {
            throw .invalidArgument("the payload has \(payload.count) bytes; the metadata announces \(metadata.bytes)")
        }
        let count = Int(metadata.bytes)
        let buffer = try writableData(count: count)
        if count > 0 { buffer.copyMemory(from: payload.baseAddress!, byteCount: count) }
        try publish(metadata)
    }

    /// Answers the held request with an error response (client).
    package func sendError(code: UInt64, message: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expectHeldRequest("send an error response")
        let buffer = try writableData(count: message.count)
        if let source = message.baseAddress, message.count > 0 {
            buffer.copyMemory(from: source, byteCount: message.count)
        }
        try publish(.error(code: code, messageLength: UInt64(message.count)))
    }

    /// Reserves a writable response buffer of `count` bytes in the data
    /// segment (client, zero-copy path).  The request view becomes invalid.
    package func reserve(_ count: UInt64) throws(ShmemaphoreError) -> UnsafeMutableRawBufferPointer {
        try expectHeldRequest("reserve a response buffer")
        guard count <= UInt64(Int.max / 2) else { throw .tooLarge("cannot reserve \(count) bytes") }
        let buffer = try writableData(count: Int(count))
        state = .reserved(Int(count))
        return UnsafeMutableRawBufferPointer(start: buffer, count: Int(count))
    }

    /// Publishes the reserved buffer's first `metadata.bytes` bytes (client).
    package func commit(_ metadata: ResponseMetadata) throws(ShmemaphoreError) {
        try expect(.client, "commit a response")
        guard case .reserved(let reserved) = state else {
            throw .wrongState("nothing is reserved: call reserve before commit")
        }
        try metadata.validateForSending()
        guard metadata.bytes <= UInt64(reserved) else {
            throw .invalidArgument("the metadata announces \(metadata.bytes) bytes; only \(reserved) are reserved")
        }
        // reserve() grew DATA to cover the reservation, and the server cannot
        // shrink it during our turn: no need to look again.
        try publish(metadata)
    }

    // MARK: Internals

    private func expect(_ required: Role, _ action: String) throws(ShmemaphoreError) {
        guard !isClosed else { throw .wrongState("the channel is closed") }
        guard role == required else {
            throw .wrongRole("a \(role == .server ? "server" : "client") cannot \(action)")
        }
    }

    func expectHeldRequest(_ action: String) throws(ShmemaphoreError) {
        try expect(.client, action)
        switch state {
        case .holdingRequest, .reserved: return
        case .peerGone: throw .peerGone
        default: throw .wrongState("there is no request to answer: receive one first")
        }
    }

    /// Writes the response header, then posts: the post is the release barrier.
    private func publish(_ metadata: ResponseMetadata) throws(ShmemaphoreError) {
        var words = metadata.words
        // The turn's trust, as the writableData call of this turn evaluated it.
        if let trust {
            trust.headerWords.storeBytes(of: words, as: (UInt64, UInt64, UInt64, UInt64).self)
        } else {
            try withUnsafeBytes(of: &words) { buffer throws(ShmemaphoreError) in
                try header.write(buffer.baseAddress!, count: Wire.responseHeaderSize, offset: 0)
            }
        }
        turnDataStatus = nil
        try responseSemaphore.post()
        state = .idle
    }

    /// DATA's status for the current turn, read once.
    private func turnStatus() throws(ShmemaphoreError) -> stat {
        if let known = turnDataStatus { return known }
        let status = try data.status()
        turnDataStatus = status
        return status
    }

    /// A writable mapping of DATA's first `count` bytes, grown if needed.
    /// With a trusted peer and bytes already verified, no system call.
    private func writableData(count: Int) throws(ShmemaphoreError) -> UnsafeMutableRawPointer {
        if let trust = currentTrust(), count <= trust.dataLength, let mapping = data.mapping { return mapping }
        var status = try turnStatus()
        let buffer = try data.writableBytes(count: count, status: &status)
        turnDataStatus = status
        try renewTrust(dataStatus: status, backed: count)
        return buffer
    }

    /// A read-only view of the first `count` bytes of DATA, after checking
    /// them against the segment's real size (`dataStatus`, just read with
    /// fstat): the header may not send us past its end.
    private func checkedPayload(count: UInt64, dataStatus: stat, what: String) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        turnDataStatus = dataStatus
        let dataSize = Int(dataStatus.st_size)
        try checkPayloadFits(count, dataSegmentSize: dataSize, what: what)
        // Reading a hole the peer left (it grew DATA with ftruncate and never
        // wrote there) allocates a page: on a full /dev/shm that is SIGBUS.
        var status = dataStatus
        try data.backWithMemory(count: Int(count), status: &status)
        turnDataStatus = status
        let start = try data.mapped(covering: max(Int(count), 1), realSize: dataSize)
        try renewTrust(dataStatus: status, backed: Int(count))
        return UnsafeRawBufferPointer(start: start, count: Int(count))
    }

    // MARK: Trusted peers (docs/PROTOCOL.md, "Trusted peers")

    /// The trust this turn may use: nil when there is none, or when it is
    /// older than `trustInterval` (this turn then checks everything and
    /// renews it).  Reads the coarse clock through the vDSO: no system call.
    private func currentTrust() -> PeerTrust? {
        guard let current = trust else { return nil }
        guard MonotonicInstant.coarseNow().nanoseconds &- current.checkedAt.nanoseconds < Self.trustInterval else {
            trust = nil
            return nil
        }
        return current
    }

    /// After a checked turn: trusts the peer for `trustInterval` if it holds
    /// its liveness lock and HEAD has room for the extension words.
    /// `dataStatus` is DATA's status as just checked; `backed` how many of its
    /// first bytes this turn made sure have memory behind them.
    private func renewTrust(dataStatus: stat, backed: Int) throws(ShmemaphoreError) {
        trust = nil
        guard !options.checkSegmentsEveryTurn && !options.emulatesOriginalPeer else { return }
        let now = MonotonicInstant.coarseNow()
        if let lastTrustAttempt, now.nanoseconds &- lastTrustAttempt.nanoseconds < Self.trustInterval,
            turnsSinceTrustAttempt < Self.trustRetryTurns
        {
            turnsSinceTrustAttempt += 1
            return
        }
        lastTrustAttempt = now
        turnsSinceTrustAttempt = 0
        let peerByte = role == .server ? Wire.clientLivenessByte : Wire.serverLivenessByte
        guard try header.isByteLocked(at: peerByte) else { return }
        peerLockSeen = true
        guard let words = try header.mappedIfLarger(thanOrEqualTo: Wire.headerSegmentSize) else { return }
        let length = min(dataStatus.hasNoHoles ? Int(dataStatus.st_size) : backed, data.mappedLength)
        trust = PeerTrust(headerWords: words, dataLength: length, checkedAt: now)
        lastTrustAttempt = nil
    }

    /// The two semaphores, named by what their tokens mean.
    private enum Token { case request, response }

    /// Looked up on every use: a liveness check may re-open the channel and
    /// replace the semaphores.
    private func semaphore(for token: Token) -> NamedSemaphore {
        token == .request ? requestSemaphore : responseSemaphore
    }

    /// Waits for a token until `timeout` passes (false): first without any
    /// cost if it is already there, then spinning if `spinPolicy` says it
    /// pays, then sleeping in slices of `livenessInterval`, running
    /// `whileWaiting` (liveness checks) between slices.
    private func waitForToken(
        on token: Token, timeout: Duration?,
        whileWaiting: () throws(ShmemaphoreError) -> Void
    ) throws(ShmemaphoreError) -> Bool {
        if try semaphore(for: token).tryWait() { return true }
        // One clock reading sets up the deadline, the spin and the first slice.
        let start = MonotonicInstant.now()
        let deadline = Deadline(timeout: timeout, from: start)
        let expired = deadline.instant.map { $0 <= start } ?? false
        var phase = expired ? .sleep : spinPolicy.plan()
        var phaseStart = start
        while phase != .sleep {
            let end = deadline.clamped(to: phaseStart.advanced(byNanoseconds: SpinPolicy.budget(of: phase)))
            let semaphore = semaphore(for: token)
            let (won, yields) = try phase == .yield ? semaphore.yieldingWait(until: end, maximumYields: SpinPolicy.maximumYields) : (semaphore.spin(until: end), 0)
            let now = MonotonicInstant.now()
            spinPolicy.record(phase, won: won, elapsed: now.nanoseconds &- phaseStart.nanoseconds, yields: yields)
            if won { return true }
            // A lost probe does not mean yielding stopped paying.
            phase = phase == .probe && !deadline.hasPassed ? .yield : .sleep
            phaseStart = now
        }
        var sliceStart = start
        while true {
            let slice = deadline.clamped(to: sliceStart.advanced(byNanoseconds: Self.livenessInterval))
            if try semaphore(for: token).wait(until: slice) { return true }
            if deadline.hasPassed { return false }
            try whileWaiting()
            sliceStart = .now()
        }
    }

    // MARK: Liveness (docs/PROTOCOL.md, "Liveness")

    /// Client: takes the client's lock on HEAD (refusing to be a second
    /// client) and notes whether the server holds its own.
    private func takeClientLivenessLock() throws(ShmemaphoreError) {
        if !options.emulatesOriginalPeer {
            guard try header.lockByte(at: Wire.clientLivenessByte) else {
                throw .busy("another client is attached to channel \(name)")
            }
        }
        peerLockSeen = try header.isByteLocked(at: Wire.serverLivenessByte)
    }

    /// Server, between waits for a response: a client whose lock vanished has
    /// died.  Its request is withdrawn (a token it never took is drained) so
    /// that the next client starts clean.
    private func checkClientAlive() throws(ShmemaphoreError) {
        if try header.isByteLocked(at: Wire.clientLivenessByte) {
            peerLockSeen = true
        } else if peerLockSeen {
            peerLockSeen = false
            // The next client may be one that makes no promise.
            trust = nil
            try requestSemaphore.drain()
            state = .idle
            throw .peerGone
        }
    }

    /// Client, between waits for a request: a server whose lock vanished
    /// while its segments stayed has crashed.
    private func checkServerAlive() throws(ShmemaphoreError) {
        if try header.isByteLocked(at: Wire.serverLivenessByte) {
            peerLockSeen = true
        } else if peerLockSeen {
            state = .peerGone
            throw .peerGone
        }
    }

    /// Client: DATA's status (size, allocation), after following the server.  If the server
    /// replaced its segments (a restart) the channel is re-opened by name; if
    /// it removed them (it closed), the peer is gone.  A removed DATA segment
    /// shows as a link count of 0 on our descriptor.
    private func dataStatusFollowingServer() throws(ShmemaphoreError) -> stat {
        let status = try data.status()
        guard status.st_nlink == 0 else { return status }
        // A restarting server unlinks and re-creates the segments: give it a
        // moment, as during attach, while its semaphores are still there.
        // Segments first, then semaphores: a server creates its semaphores
        // before its segments, so semaphores opened after fresh segments are
        // that server's, never the unlinked ones of a server that just closed.
        let deadline = Deadline(instant: MonotonicInstant.now().advanced(byNanoseconds: Self.restartGrace))
        while true {
            do {
                let (header, data) = try Self.attachSegments(name, options: options)
                let request = try NamedSemaphore.attach(name.requestSemaphore, options: options)
                let response = try NamedSemaphore.attach(name.responseSemaphore, options: options)
                (self.header, self.data) = (header, data)
                (requestSemaphore, responseSemaphore) = (request, response)
                try takeClientLivenessLock()
                turnDataStatus = nil
                trust = nil
                lastTrustAttempt = nil
                return try data.status()
            } catch .system(errno: ENOENT, _) {
                // A closing server removes its semaphores last; a restarting one keeps them.
                let semaphoresGone = access(ChannelName.filesystemPath(ofSemaphore: name.requestSemaphore), F_OK) != 0
                if semaphoresGone || deadline.hasPassed {
                    state = .peerGone
                    throw .peerGone
                }
                sleep(nanoseconds: Self.attachPollInterval)
            }
        }
    }
}

/// A response as the server received it: the wire words, its kind, and a view
/// of the payload inside the data segment (valid until the next call on the channel).
package struct ReceivedResponse {
    package let metadata: ResponseMetadata
    package let kind: PayloadKind
    package let payload: UnsafeRawBufferPointer
}
