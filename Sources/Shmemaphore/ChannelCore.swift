import CShmemaphoreShims
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
    /// This channel's interrupt cell (`ChannelInterrupter`; C handles are
    /// derived from it): an interrupt raised there ends the current or next
    /// wait with `interrupted`.
    package let interruptID: UInt64

    /// What a trusted peer lets this side skip: a peer holding its liveness
    /// lock promises never to shrink a segment or punch holes in it, so what
    /// was verified stays true; only growth needs a new look.  HEAD is then
    /// mapped (at least `Wire.headerSegmentSize` bytes, `header.mapping`).
    /// Should the peer break the promise anyway, the fault guard turns the
    /// access into an error and the trust ends (`sharedAccess`).
    struct PeerTrust {
        /// Leading bytes of DATA known to exist, with memory behind them, inside our mapping.
        let dataLength: Int
        /// When the peer's lock and the sizes were last checked.
        let checkedAt: MonotonicInstant
    }

    /// Server: whether the client's lock, when last tested, also covered the
    /// answer-numbers byte: then every answer must carry the request's number.
    private var clientNumbersAnswers = false
    /// Server: the segments were replaced under a numbering client (a request
    /// was given up); until its lock shows on the new HEAD, it is known to
    /// number its answers all the same.
    private var clientMustFollow = false
    /// Server: whether an answer must carry the request's number.
    private var answersMustBeNumbered: Bool { clientNumbersAnswers || clientMustFollow }
    /// Server: the number of the last request sent (docs/PROTOCOL.md,
    /// "Exchange numbers"); 0 before the first.
    private var requestNumber: UInt64 = 0
    /// Server: RES tokens still owed for requests given up after the client
    /// took them (one each, when their late answers come).  Such a token is
    /// no sign of a third process: a wait that sees only these times out
    /// rather than reporting a protocol error.  It need not be the late
    /// answer's own token: a slow server may take the late token after the
    /// client also wrote the new answer, and accept that answer with it;
    /// the new answer's token is then the one left over, and may come after
    /// the next request went out.
    private var lateAnswerTokensOwed = 0
    /// Client: the number of the request held now (0: the server numbers
    /// none, an original app), and of the last one answered.
    private var heldRequestNumber: UInt64 = 0
    private var answeredRequestNumber: UInt64 = 0
    /// Client: whether the server held the request-numbers lock when this
    /// channel attached to its HEAD: then every request carries a number,
    /// and a token while HEAD's number is 0 comes before its first request.
    private var serverNumbersRequests = false
    /// Untrusted-peer mode: payloads are copied here, out of shared memory,
    /// before the caller sees them (grown, never shrunk; freed at deinit).
    private var privateCopy = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    /// The size of the file system that holds DATA (/dev/shm): no payload a
    /// peer really wrote can be larger.  A bound for the private copy, which
    /// a lying header must not be able to make huge.
    private lazy var sharedMemoryCapacity: Int = {
        var space = statvfs()
        guard (try? syscall("fstatvfs") { fstatvfs(data.descriptor, &space) }) != nil, space.f_blocks > 0 else { return Int.max }
        let (total, overflow) = Int(space.f_blocks).multipliedReportingOverflow(by: Int(space.f_frsize))
        return overflow ? Int.max : total
    }()

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
    ) throws(ShmemaphoreError) {
        let interruptID = shmemaphore_shim_interrupt_claim()
        guard interruptID != 0 else {
            throw .system(errno: ENOMEM, operation: "open channel \(name): this process has too many channels open")
        }
        self.interruptID = interruptID
        self.role = role
        self.name = name
        self.options = options
        self.requestSemaphore = requestSemaphore
        self.responseSemaphore = responseSemaphore
        self.header = header
        self.data = data
        self.spinPolicy = SpinPolicy(strategy: options.waitStrategy)
    }

    deinit {
        close()
        shmemaphore_shim_interrupt_release(interruptID)
        free(privateCopy.baseAddress)
    }

    // MARK: Opening and closing

    /// Opens `name` as its server (docs/PROTOCOL.md, "Start-up"): claims the
    /// channel, then opens (or creates) and drains the semaphores, and
    /// creates both segments anew.
    ///
    /// The claim is the server's liveness lock on the HEAD at the channel's
    /// name.  A HEAD whose lock another process holds belongs to a live
    /// server: the channel is busy, whatever the stale policy.  A HEAD whose
    /// lock this process gets is stale (its server is gone): it is unlinked,
    /// and a new one is created exclusively and locked.  Of servers racing
    /// for one channel, only the one that holds the lock of the HEAD at the
    /// name goes on; every other one gets `busy` and has touched nothing.
    package static func openServer(_ name: ChannelName, options: ChannelOptions) throws(ShmemaphoreError) -> ChannelCore {
        try options.validate()
        let locks = !options.emulatesOriginalPeer
        var staleHeader: SharedSegment?
        var header: SharedSegment?
        for _ in 0..<4 {
            do {
                header = try SharedSegment.create(name.headerSegment, mode: options.mode, size: Wire.headerSegmentSize)
                break
            } catch .system(errno: EEXIST, _) {}
            let existing: SharedSegment
            do {
                existing = try SharedSegment.attach(name.headerSegment, options: options)
            } catch .system(errno: ENOENT, _) {
                continue
            }
            if locks, try !existing.lock(at: Wire.serverLivenessByte) {
                throw .busy("a live server holds channel \(name)")
            }
            if options.stalePolicy == .fail {
                throw .exists("\(existing.path) exists: a server crashed (or one that takes no lock runs)")
            }
            // Ours now: only we can unlink it, and every other server that
            // looks finds its lock taken.  It is retired once DATA is gone too.
            existing.unlink()
            staleHeader = existing
        }
        guard let header else { throw .busy("the header segment of channel \(name) keeps being re-created by another process") }
        // Held for the channel's life; the kernel drops it if this process dies.
        if locks, try !Self.takeServerLocks(on: header) {
            // Another server found our new HEAD first and claimed it: it is
            // that server's channel now; leave everything to it.
            throw .busy("another server claimed channel \(name) at the same moment")
        }
        var request: NamedSemaphore?
        var response: NamedSemaphore?
        do throws(ShmemaphoreError) {
            let dataPath = ChannelName.filesystemPath(ofSegment: name.dataSegment)
            if options.stalePolicy == .fail, ObjectFile.identity(at: dataPath) != nil {
                throw .exists("\(dataPath) exists: a server crashed while starting")
            }
            (request, response) = try openSemaphores(name, options: options)
            if options.stalePolicy == .fail {
                // Look, don't touch: the objects stay as they were for whoever inspects them.
                if try request!.value() + response!.value() > 0 {
                    throw .exists("the semaphores of channel \(name) hold counts left by an earlier run")
                }
            } else {
                try request!.drain()
                try response!.drain()
            }
            // Whatever DATA is at the name is stale: its server, if it had
            // one, would hold the HEAD we now hold.
            bestEffort { unlink(dataPath) }
            // A client may still map the old HEAD and trust it: the retired
            // word, set once both old names are gone, sends it to the new ones.
            staleHeader?.markRetired()
            // DATA is created last, so a client that finds a fresh DATA also finds a fresh HEAD.
            let data = try SharedSegment.create(name.dataSegment, mode: options.mode, size: Wire.initialDataSegmentSize)
            return try ChannelCore(
                role: .server, name: name, options: options,
                requestSemaphore: request!, responseSemaphore: response!, header: header, data: data)
        } catch {
            header.unlink()
            request?.unlinkIfCreatedHere()
            response?.unlinkIfCreatedHere()
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
                let core = try ChannelCore(
                    role: .client, name: name, options: options,
                    requestSemaphore: request, responseSemaphore: response, header: header, data: data)
                try core.takeClientLivenessLock()
                return core
            } catch .system(errno: ENOENT, _) where !deadline.hasPassed {
                do {
                    try pause(nanoseconds: attachPollInterval)
                } catch {
                    request.unlinkIfCreatedHere()
                    response.unlinkIfCreatedHere()
                    throw error
                }
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

    /// Releases everything.  A server also unlinks all four objects (those
    /// that are still its own); a client unlinks nothing.  Idempotent.
    package func close() {
        guard !isClosed else { return }
        isClosed = true
        // Only names that are still the objects this channel opened: a
        // server that took over a stale channel meanwhile keeps its own.
        if role == .server {
            data.unlink()
            header.unlink()
            requestSemaphore.unlink()
            responseSemaphore.unlink()
        }
    }

    /// Tests only: what a crash leaves behind.  The channel drops its
    /// liveness lock, as the kernel does for a dead process, and unlinks
    /// nothing; it must not be used for exchanges any more.
    package func abandonForTesting() {
        bestEffort { shmemaphore_shim_ofd_unlock(header.descriptor, 0, 0) }
    }

    // MARK: Server

    /// Writes a request and posts it (server).  The request is numbered
    /// (docs/PROTOCOL.md, "Exchange numbers"); the number is written last.
    package func sendRequest(_ request: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expect(.server, "send a request")
        if state == .awaitingResponse { try giveUpOutstandingRequest() }
        // A buggy client may have posted RES twice: a stale token must not pass
        // for the answer to this request.  Free when RES is 0 (no syscall).
        // Such a client may also have resized DATA since our turn began.
        let leftOver = try responseSemaphore.drain()
        if leftOver > 0 {
            lateAnswerTokensOwed -= min(leftOver, lateAnswerTokensOwed)
            turnDataStatus = nil
            trust = nil
        }
        // One byte more than the request: a NUL after it, for peers that read
        // the request as a C string.  The wire length excludes it.
        let count = request.count
        try writeData(count: count + 1) { buffer in
            if let source = request.baseAddress, count > 0 {
                buffer.copyMemory(from: source, byteCount: count)
            }
            buffer.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
        }
        requestNumber = requestNumber == UInt64.max ? 1 : requestNumber + 1
        let number = options.emulatesOriginalPeer ? nil : requestNumber
        try writeRequestHeader(length: UInt64(count), number: number)
        // Until a client has been seen alive, look before posting: a client
        // that takes this request and dies at once is then still noticed.
        if !peerLockSeen { peerLockSeen = try testClientLock() }
        turnDataStatus = nil
        try requestSemaphore.post()
        state = .awaitingResponse
    }

    /// Waits for the response to the outstanding request (server).  Error
    /// responses are returned, not thrown: the caller decides how to surface them.
    ///
    /// A token whose answer number is not this request's (a third process
    /// posted RES, or the client answered something else) is no answer: it
    /// is dropped and the wait goes on; if no right answer comes before the
    /// deadline, the call reports a protocol error instead of a timeout,
    /// unless each such token was one owed for a given-up request.
    package func receiveResponse(timeout: Duration?) throws(ShmemaphoreError) -> ReceivedResponse {
        try expect(.server, "receive a response")
        guard state == .awaitingResponse else {
            throw .wrongState("no request is outstanding: send one before receiving a response")
        }
        // Until a client has been seen holding its lock, look once before
        // waiting: a client that dies during the first slice is then noticed.
        if !peerLockSeen { try checkClientAlive() }
        var deadline: Deadline?
        var strayTokens = 0
        while true {
            let arrived = try waitForToken(on: .response, timeout: timeout, deadline: &deadline) {
                () throws(ShmemaphoreError) in try self.checkClientAlive()
            }
            guard arrived else {
                if strayTokens > 0 {
                    throw .protocolViolation("\(strayTokens) response token(s) came that were no answer to request \(requestNumber): another process posts RES, or the client answered another request")
                }
                throw .timeout
            }
            // A fast client may answer before any slice looked: look now, once.
            if !peerLockSeen { try checkClientAlive() }
            // A client that numbers nothing (an original app, or one not
            // seen yet) must at least have taken the request: while REQ still
            // holds its token, a RES token is no answer (a third process's).
            // A memory read, no system call; numbering clients skip it.
            if !answersMustBeNumbered && !options.emulatesOriginalPeer, try requestSemaphore.value() > 0 {
                strayTokens += 1
                continue
            }
            // The server's turn starts here (if the token is the answer) and
            // lasts until its next request.
            let trusted = currentTrust() != nil
            do throws(ShmemaphoreError) {
                // The token is consumed: whatever the peer wrote, this exchange
                // is over, unless the token turns out to be no answer at all.
                state = .idle
                let (words, answer) = try readResponseHeader(trusted: trusted)
                // A client whose lock covers the answer-numbers byte numbers its
                // answers; an original client (or one that only takes the
                // liveness lock) numbers none.
                if answersMustBeNumbered && answer != requestNumber {
                    // A spurious token leaves HEAD as it was; a HEAD cut short
                    // of the answer number was shrunk by someone: no answer can
                    // be recognised in it any more.
                    guard answer != nil else {
                        throw .protocolViolation("the header segment was cut short of the answer number (HEAD bytes \(Wire.answerNumberOffset)-\(Wire.numberedResponseSize - 1)): the response cannot be matched to request \(requestNumber)")
                    }
                    state = .awaitingResponse
                    if lateAnswerTokensOwed > 0 {
                        lateAnswerTokensOwed -= 1
                    } else {
                        strayTokens += 1
                    }
                    turnDataStatus = nil
                    continue
                }
                let metadata = withUnsafeBytes(of: words) { ResponseMetadata(words: $0) }
                let kind = try metadata.kind()
                let payload: UnsafeRawBufferPointer
                if trusted, let trust, metadata.bytes <= UInt64(trust.dataLength), let address = data.mappedAddress {
                    payload = UnsafeRawBufferPointer(start: address, count: Int(metadata.bytes))
                } else {
                    payload = try checkedPayload(count: metadata.bytes, dataStatus: try data.status(), what: "response")
                }
                return ReceivedResponse(metadata: metadata, kind: kind, payload: try handedOver(payload))
            } catch {
                // A client that broke the protocol broke its promise too: the
                // next request goes out by the checked path.
                trust = nil
                throw error
            }
        }
    }

    /// Server: gives up the outstanding request, whose response did not come
    /// in time or whose wait was interrupted, so that a new one can go out
    /// (docs/PROTOCOL.md, "Giving up a request").  The client may still be
    /// answering it: its late answer must neither share the segments with
    /// the new request nor pass for the new request's answer.
    private func giveUpOutstandingRequest() throws(ShmemaphoreError) {
        // A token still in REQ was never taken: no client started on it.
        let withdrawn = try requestSemaphore.tryWait()
        if answersMustBeNumbered {
            // A client of this library: its late answer goes into the old
            // segments, which it still maps, and carries the old number,
            // which the new request's answer check refuses.  It follows the
            // new segments at its next request, as after a server restart.
            try replaceSegments()
            if !withdrawn { lateAnswerTokensOwed += 1 }
        } else if !withdrawn, try !responseSemaphore.tryWait() {
            // A client that numbers nothing (an original app) and has taken
            // the request may be writing its answer right now; nothing could
            // tell that late answer from the new request's.
            throw .wrongState("the client took the request and has not answered yet; it numbers no answers (an original app), so a new request cannot be told apart from its late answer: receive the response first")
        }
        state = .idle
    }

    /// Server: moves the channel to new HEAD and DATA segments, created under
    /// temporary names and renamed over the old ones, so that the names
    /// always hold a HEAD with the server's lock.  The old HEAD is marked
    /// retired, which sends a trusted client that maps it to the new ones.
    private func replaceSegments() throws(ShmemaphoreError) {
        let newHeader = try Self.createReplacement(of: name.headerSegment, size: Wire.headerSegmentSize, options: options)
        do throws(ShmemaphoreError) {
            guard try Self.takeServerLocks(on: newHeader) else {
                throw .busy("another process locked the replacement header segment \(newHeader.name)")
            }
            let newData = try Self.createReplacement(of: name.dataSegment, size: Wire.initialDataSegmentSize, options: options)
            do throws(ShmemaphoreError) {
                // HEAD first: a client that finds the new DATA finds the new HEAD.
                try newHeader.rename(to: name.headerSegment)
                try newData.rename(to: name.dataSegment)
            } catch {
                newData.unlink()
                throw error
            }
            header.markRetired()
            (header, data) = (newHeader, newData)
        } catch {
            newHeader.unlink()
            throw error
        }
        turnDataStatus = nil
        trust = nil
        lastTrustAttempt = nil
        // The client's lock is on the old HEAD until it follows.
        peerLockSeen = false
        clientMustFollow = true
    }

    /// A new segment for `posixName` under a temporary name beside it.
    private static func createReplacement(of posixName: String, size: Int, options: ChannelOptions) throws(ShmemaphoreError) -> SharedSegment {
        for attempt in 0..<8 {
            do {
                return try SharedSegment.create("\(posixName).new-\(getpid())-\(attempt)", mode: options.mode, size: size)
            } catch .system(errno: EEXIST, _) {
                continue  // left by a crashed run of this pid, or planted
            }
        }
        throw .exists("temporary names for replacing \(posixName) are all taken")
    }

    /// The four response words and the answer number (nil when HEAD is too
    /// short to hold one), from the mapping when trusted, else with one pread.
    @inline(__always)
    private func readResponseHeader(trusted: Bool) throws(ShmemaphoreError) -> ((UInt64, UInt64, UInt64, UInt64), UInt64?) {
        if trusted {
            return try sharedAccess(.header) { words throws(ShmemaphoreError) in
                // Acquire: the client wrote everything else before its number.
                let answer = shmemaphore_shim_load_acquire(words + Wire.answerNumberOffset)
                return (words.loadUnaligned(as: (UInt64, UInt64, UInt64, UInt64).self), answer)
            }
        }
        var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let read = try withUnsafeMutableBytes(of: &words) { buffer throws(ShmemaphoreError) in
            try header.read(into: buffer.baseAddress!, count: Wire.numberedResponseSize, offset: 0)
        }
        guard read >= Wire.responseHeaderSize else {
            throw .protocolViolation("the header segment holds \(read) bytes; a response header needs \(Wire.responseHeaderSize)")
        }
        return ((words.0, words.1, words.2, words.3), read == Wire.numberedResponseSize ? words.6 : nil)
    }

    // MARK: Client

    /// Waits for the next request (client).  The returned view lives in the
    /// data segment (in untrusted-peer mode: in private memory) and is valid
    /// until the next call on this channel.
    ///
    /// A token that comes with the number of the request answered last, or
    /// with no number from a server that numbers its requests, is no
    /// request (a third process posted REQ, or a double post): it is
    /// dropped without touching the segments, whose turn is the server's,
    /// and the wait goes on.
    package func receiveRequest(timeout: Duration?) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        try expect(.client, "receive a request")
        var deadline: Deadline?
        switch state {
        case .idle: break
        case .peerGone:
            // PEER_GONE was reported; this call serves whichever server comes next.
            deadline = Deadline(timeout: timeout)
            try awaitNewServer(until: deadline!)
        default: throw .wrongState("the current request is not answered yet")
        }
        while true {
            let arrived = try waitForToken(on: .request, timeout: timeout, deadline: &deadline) {
                () throws(ShmemaphoreError) in
                _ = try self.dataStatusFollowingServer()
                try self.checkServerAlive()
            }
            guard arrived else { throw .timeout }
            // A retired HEAD means the server was replaced: the checked path
            // below finds DATA unlinked and follows it to the new segments.
            // With a trusted server, one look at the mapped HEAD: retired?
            // Else the request number (acquire: the server wrote the request
            // before it), and the length.
            var trustedHead: (number: UInt64, length: UInt64)?
            if currentTrust() != nil {
                trustedHead = try sharedAccess(.header) { words -> (number: UInt64, length: UInt64)? in
                    guard words.load(fromByteOffset: Wire.retiredWordOffset, as: UInt64.self) != Wire.retiredMarker else { return nil }
                    let number = shmemaphore_shim_load_acquire(words + Wire.requestNumberOffset)
                    return (number, words.load(as: UInt64.self))
                }
            }
            let dataStatus = trustedHead == nil ? try dataStatusFollowingServer() : nil
            let number: UInt64?
            if let trustedHead { number = trustedHead.number } else { number = try readRequestNumber() }
            // Not a request: the one answered last again, or nothing yet
            // from a server that numbers every request.  A HEAD cut short of
            // the number (nil) is read as a request, whose reading reports it.
            if let number, number == 0 ? serverNumbersRequests : number == answeredRequestNumber {
                turnDataStatus = nil
                continue
            }
            // From here on the server waits for an answer: even a malformed request
            // leaves the client holding it, so that it can still answer with an error.
            state = .holdingRequest
            heldRequestNumber = number ?? 0
            do {
                return try readHeldRequest(trustedHead: trustedHead, dataStatus: dataStatus)
            } catch {
                // A server that broke the protocol broke its promise too: the
                // answer (an error, most likely) goes out by the checked path,
                // whose pwrite reaches HEAD whatever its size now.
                trust = nil
                throw error
            }
        }
    }

    /// The request just taken, as the caller gets to read it (client).
    private func readHeldRequest(
        trustedHead: (number: UInt64, length: UInt64)?, dataStatus: stat?
    ) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        if let trustedHead, let trust, trustedHead.length <= UInt64(trust.dataLength), let address = data.mappedAddress {
            return try handedOver(UnsafeRawBufferPointer(start: address, count: Int(trustedHead.length)))
        }
        var length: UInt64 = 0
        let read = try header.read(into: &length, count: Wire.requestHeaderSize, offset: 0)
        guard read == Wire.requestHeaderSize else {
            throw .protocolViolation("the header segment holds \(read) bytes; a request header needs \(Wire.requestHeaderSize)")
        }
        let status: stat
        if let dataStatus { status = dataStatus } else { status = try data.status() }
        return try handedOver(checkedPayload(count: length, dataStatus: status, what: "request"))
    }

    /// The request number in HEAD, read with pread (0 when the server
    /// writes none; nil when HEAD is too short to hold one).
    private func readRequestNumber() throws(ShmemaphoreError) -> UInt64? {
        if options.emulatesOriginalPeer { return 0 }
        var number: UInt64 = 0
        let read = try header.read(into: &number, count: 8, offset: Wire.requestNumberOffset)
        return read == 8 ? number : nil
    }

    /// Answers the held request with a copy of `payload` (client).
    package func sendResponse(_ metadata: ResponseMetadata, payload: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expectHeldRequest("send a response")
        try metadata.validateForSending()
        guard UInt64(payload.count) >= metadata.bytes else {
            throw .invalidArgument("the payload has \(payload.count) bytes; the metadata announces \(metadata.bytes)")
        }
        let count = Int(metadata.bytes)
        try writeData(count: count) { buffer in
            if count > 0 { buffer.copyMemory(from: payload.baseAddress!, byteCount: count) }
        }
        try publish(metadata)
    }

    /// Answers the held request with an error response (client).
    package func sendError(code: UInt64, message: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expectHeldRequest("send an error response")
        try writeData(count: message.count) { buffer in
            if let source = message.baseAddress, message.count > 0 {
                buffer.copyMemory(from: source, byteCount: message.count)
            }
        }
        try publish(.error(code: code, messageLength: UInt64(message.count)))
    }

    /// Reserves a writable response buffer of `count` bytes in the data
    /// segment (client, zero-copy path).  The request view becomes invalid.
    package func reserve(_ count: UInt64) throws(ShmemaphoreError) -> UnsafeMutableRawBufferPointer {
        try expectHeldRequest("reserve a response buffer")
        guard count <= UInt64(Int.max / 2) else { throw .tooLarge("cannot reserve \(count) bytes") }
        let buffer = try writeData(count: Int(count)) { buffer in buffer }
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

    /// Writes the response header and the answer number, then posts: the
    /// post is the release barrier.
    private func publish(_ metadata: ResponseMetadata) throws(ShmemaphoreError) {
        let number = heldRequestNumber == 0 ? nil : heldRequestNumber
        try writeResponseHeader(metadata, number: number)
        turnDataStatus = nil
        try responseSemaphore.post()
        answeredRequestNumber = heldRequestNumber
        state = .idle
    }

    /// Writes the request header, then (numbered) the request number, last:
    /// a client that sees the number sees the request.  Through the mapping
    /// with a trusted peer (this turn's trust, as its `writeData` evaluated
    /// it), else with pwrite.
    @inline(__always)
    private func writeRequestHeader(length: UInt64, number: UInt64?) throws(ShmemaphoreError) {
        if trust != nil {
            try sharedAccess(.header) { head in
                head.storeBytes(of: length, as: UInt64.self)
                if let number { shmemaphore_shim_store_release(head + Wire.requestNumberOffset, number) }
            }
            return
        }
        var length = length
        try header.write(&length, count: Wire.requestHeaderSize, offset: 0)
        if var number { try header.write(&number, count: 8, offset: Wire.requestNumberOffset) }
    }

    /// Writes the response header, then (numbered) the answer number, last.
    @inline(__always)
    private func writeResponseHeader(_ metadata: ResponseMetadata, number: UInt64?) throws(ShmemaphoreError) {
        var words = metadata.words
        if trust != nil {
            try sharedAccess(.header) { head in
                head.storeBytes(of: words, as: (UInt64, UInt64, UInt64, UInt64).self)
                if let number { shmemaphore_shim_store_release(head + Wire.answerNumberOffset, number) }
            }
            return
        }
        try withUnsafeBytes(of: &words) { buffer throws(ShmemaphoreError) in
            try header.write(buffer.baseAddress!, count: Wire.responseHeaderSize, offset: 0)
        }
        if var number { try header.write(&number, count: 8, offset: Wire.answerNumberOffset) }
    }

    /// The two segments, for `sharedAccess`.
    private enum Segment { case header, data }

    /// Runs `body` on the segment's mapping under the fault guard; a fault
    /// (the peer broke its promise and shrank the segment) ends the trust.
    /// Takes the segment by name and its mapping as plain values: the fast
    /// path counts no references.
    @inline(__always)
    private func sharedAccess<Result>(
        _ segment: Segment, _ body: (UnsafeMutableRawPointer) throws(ShmemaphoreError) -> Result
    ) throws(ShmemaphoreError) -> Result {
        let region = segment == .header ? header.region : data.region
        if let region, let result = try region.access(body) { return result }
        throw faulted(segment)
    }

    /// The error for a faulted access; the trust and this turn's view of DATA end.
    private func faulted(_ segment: Segment) -> ShmemaphoreError {
        trust = nil
        turnDataStatus = nil
        return segment == .header ? header.faultError() : data.faultError()
    }

    /// What the caller gets to read: `payload` itself (a view into DATA),
    /// or in untrusted-peer mode a copy in private memory, made under the
    /// fault guard, so that a process that shrinks DATA meanwhile cannot
    /// make the caller fault (docs/SECURITY.md).
    @inline(__always)
    private func handedOver(_ payload: UnsafeRawBufferPointer) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        guard options.untrustedPeer, payload.count > 0 else { return payload }
        return try privateCopy(of: payload)
    }

    private func privateCopy(of payload: UnsafeRawBufferPointer) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        guard payload.count <= sharedMemoryCapacity else {
            // As in the default mode, where reserving such a payload fails so.
            throw .system(errno: ENOSPC, operation: "copy a \(payload.count)-byte payload: more than all of /dev/shm (\(sharedMemoryCapacity) bytes) holds")
        }
        if privateCopy.count < payload.count {
            // malloc, not allocate(): running out of memory is an error to report, not a trap.
            guard let buffer = malloc(payload.count) else {
                throw .system(errno: ENOMEM, operation: "allocate \(payload.count) bytes for a private copy of the payload")
            }
            free(privateCopy.baseAddress)
            privateCopy = UnsafeMutableRawBufferPointer(start: buffer, count: payload.count)
        }
        let copy = privateCopy.baseAddress!
        try sharedAccess(.data) { _ in copy.copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        return UnsafeRawBufferPointer(start: copy, count: payload.count)
    }

    /// DATA's status for the current turn, read once.
    private func turnStatus() throws(ShmemaphoreError) -> stat {
        if let known = turnDataStatus { return known }
        let status = try data.status()
        turnDataStatus = status
        return status
    }

    /// Runs `body` on a writable mapping of DATA's first `count` bytes
    /// (grown if needed), under the fault guard.  With a trusted peer and
    /// bytes already verified, no system call.
    @inline(__always)
    @discardableResult
    private func writeData<Result>(
        count: Int, _ body: (UnsafeMutableRawPointer) -> Result
    ) throws(ShmemaphoreError) -> Result {
        if let trust = currentTrust(), count <= trust.dataLength {
            return try sharedAccess(.data) { buffer in body(buffer) }
        }
        var status = try turnStatus()
        _ = try data.writableBytes(count: count, status: &status)
        turnDataStatus = status
        try renewTrust(backed: count)
        return try sharedAccess(.data) { buffer in body(buffer) }
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
        // The caller reads a view outside the fault guard, so the holes are
        // filled first; a private copy (untrusted-peer mode) is made under
        // the guard, which turns such a fault into ENOSPC by itself.
        if !options.untrustedPeer { try data.backWithMemory(count: Int(count)) }
        let start = try data.mapped(covering: max(Int(count), 1), realSize: dataSize)
        try renewTrust(backed: Int(count))
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
    /// `backed`: how many of DATA's first bytes this turn checked and made
    /// sure have memory behind them.
    private func renewTrust(backed: Int) throws(ShmemaphoreError) {
        trust = nil
        guard !options.untrustedPeer && !options.emulatesOriginalPeer else { return }
        let now = MonotonicInstant.coarseNow()
        if let lastTrustAttempt, now.nanoseconds &- lastTrustAttempt.nanoseconds < Self.trustInterval,
            turnsSinceTrustAttempt < Self.trustRetryTurns
        {
            turnsSinceTrustAttempt += 1
            return
        }
        lastTrustAttempt = now
        turnsSinceTrustAttempt = 0
        let peerLocked = try role == .server ? testClientLock() : header.isByteLocked(at: Wire.serverLivenessByte)
        guard peerLocked else { return }
        peerLockSeen = true
        guard try header.mappedIfLarger(thanOrEqualTo: Wire.headerSegmentSize) != nil else { return }
        trust = PeerTrust(dataLength: min(backed, data.mappedLength), checkedAt: now)
        lastTrustAttempt = nil
    }

    /// The two semaphores, named by what their tokens mean.
    private enum Token { case request, response }

    /// Looked up on every use: a liveness check may re-open the channel and
    /// replace the semaphores.
    private func semaphore(for token: Token) -> NamedSemaphore {
        token == .request ? requestSemaphore : responseSemaphore
    }

    /// Waits for a token until `deadline` passes (false): first without any
    /// cost if it is already there, then spinning if `spinPolicy` says it
    /// pays, then sleeping in slices of `livenessInterval`, running
    /// `whileWaiting` (liveness checks) between slices.  An interrupt
    /// (`interruptID`), a signal handler or task cancellation ends the wait
    /// with `interrupted`, leaving the channel's state as it was.
    /// `deadline` is set from `timeout` at the first wait that does not find
    /// the token at once, and kept across the caller's repeated waits (a
    /// dropped token does not restart the timeout); a token already there
    /// costs no clock reading.
    @inline(__always)
    private func waitForToken(
        on token: Token, timeout: Duration?, deadline: inout Deadline?,
        whileWaiting: () throws(ShmemaphoreError) -> Void
    ) throws(ShmemaphoreError) -> Bool {
        if try semaphore(for: token).tryWait() { return true }
        return try waitForTokenToCome(on: token, timeout: timeout, deadline: &deadline, whileWaiting: whileWaiting)
    }

    /// `waitForToken` once the token was not there at once.
    private func waitForTokenToCome(
        on token: Token, timeout: Duration?, deadline: inout Deadline?,
        whileWaiting: () throws(ShmemaphoreError) -> Void
    ) throws(ShmemaphoreError) -> Bool {
        // An interrupt pending since the last call ends this one before it waits.
        try checkInterrupted(interruptID)
        // One clock reading sets up the deadline, the spin and the first slice.
        let start = MonotonicInstant.now()
        if deadline == nil { deadline = Deadline(timeout: timeout, from: start) }
        let deadline = deadline!
        let expired = deadline.instant.map { $0 <= start } ?? false
        var phase = expired ? .sleep : spinPolicy.plan()
        var phaseStart = start
        while phase != .sleep {
            let end = deadline.clamped(to: phaseStart.advanced(byNanoseconds: SpinPolicy.budget(of: phase)))
            let semaphore = semaphore(for: token)
            let (won, yields) =
                try phase == .yield
                ? semaphore.yieldingWait(until: end, maximumYields: SpinPolicy.maximumYields, interruptID: interruptID)
                : (semaphore.spin(until: end, interruptID: interruptID), 0)
            let now = MonotonicInstant.now()
            spinPolicy.record(phase, won: won, elapsed: now.nanoseconds &- phaseStart.nanoseconds, yields: yields)
            if won { return true }
            try checkInterrupted(interruptID)
            // A lost probe does not mean yielding stopped paying.
            phase = phase == .probe && !deadline.hasPassed ? .yield : .sleep
            phaseStart = now
        }
        var sliceStart = start
        while true {
            let slice = deadline.clamped(to: sliceStart.advanced(byNanoseconds: Self.livenessInterval))
            if try semaphore(for: token).wait(until: slice, interruptID: interruptID) { return true }
            if deadline.hasPassed { return false }
            // Cancellation has no wake-up of its own: it is seen here, once a slice.
            try checkInterrupted(interruptID)
            try whileWaiting()
            sliceStart = .now()
        }
    }

    // MARK: Liveness (docs/PROTOCOL.md, "Liveness")

    /// Server: the liveness lock and the request-numbers lock on a HEAD it
    /// just created, before DATA exists (a client attaches only once DATA
    /// does, so it finds both).  False when another process holds either.
    private static func takeServerLocks(on header: SharedSegment) throws(ShmemaphoreError) -> Bool {
        guard try header.lock(at: Wire.serverLivenessByte) else { return false }
        return try header.lock(at: Wire.requestNumbersByte)
    }

    /// Client: takes the client's lock on HEAD (refusing to be a second
    /// client) and notes whether the server holds its own, and whether it
    /// numbers its requests.
    private func takeClientLivenessLock() throws(ShmemaphoreError) {
        if !options.emulatesOriginalPeer {
            // One lock over the liveness byte and the answer-numbers byte.
            guard try header.lock(at: Wire.clientLivenessByte, count: Wire.answerNumbersByte - Wire.clientLivenessByte + 1) else {
                throw .busy("another client is attached to channel \(name)")
            }
        }
        peerLockSeen = try header.isByteLocked(at: Wire.serverLivenessByte)
        // Taken before DATA was created, so final for this HEAD; a server of
        // an earlier version (or an original app) holds none.
        serverNumbersRequests = false
        if !options.emulatesOriginalPeer { serverNumbersRequests = try header.isByteLocked(at: Wire.requestNumbersByte) }
    }

    /// Server: whether the client holds its liveness lock, noting whether it
    /// numbers its answers (its lock covers `Wire.answerNumbersByte` too).
    private func testClientLock() throws(ShmemaphoreError) -> Bool {
        guard let end = try header.lockEnd(at: Wire.clientLivenessByte) else {
            clientNumbersAnswers = false
            return false
        }
        clientNumbersAnswers = !options.emulatesOriginalPeer && end > Int64(Wire.answerNumbersByte)
        clientMustFollow = false
        return true
    }

    /// Server, between waits for a response: a client whose lock vanished has
    /// died.  Its request is withdrawn (a token it never took is drained) so
    /// that the next client starts clean.
    private func checkClientAlive() throws(ShmemaphoreError) {
        if try testClientLock() {
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
        // A restarting server unlinks and re-creates the segments (and a
        // server that gave up a request replaces them): give it a moment,
        // as during attach, while its semaphores are still there.
        let deadline = Deadline(instant: MonotonicInstant.now().advanced(byNanoseconds: Self.restartGrace))
        while true {
            if try adoptNewServer() { return try data.status() }
            // A closing server removes its semaphores last; a restarting one keeps them.
            let semaphoresGone = ObjectFile.identity(at: ChannelName.filesystemPath(ofSemaphore: name.requestSemaphore)) == nil
            if semaphoresGone || deadline.hasPassed {
                state = .peerGone
                throw .peerGone
            }
            try pause(nanoseconds: Self.attachPollInterval, interruptID: interruptID)
        }
    }

    /// Client, after `peerGone` was reported: waits until `deadline` for a
    /// new server on the channel's name and adopts it.  `timeout` if none came.
    private func awaitNewServer(until deadline: Deadline) throws(ShmemaphoreError) {
        while try !adoptNewServer() {
            if deadline.hasPassed { throw .timeout }
            try pause(nanoseconds: Self.attachPollInterval, interruptID: interruptID)
        }
    }

    /// Client: adopts the objects of the server now at the channel's name, if
    /// its DATA is not the one this channel maps (a crashed server's stays
    /// until a new server replaces it), with a fresh view of everything.
    /// Segments first, then semaphores: a server creates its semaphores
    /// before its segments, so semaphores opened after fresh segments are
    /// that server's, never the unlinked ones of a server that just closed.
    private func adoptNewServer() throws(ShmemaphoreError) -> Bool {
        let header: SharedSegment, data: SharedSegment, request: NamedSemaphore, response: NamedSemaphore
        do {
            (header, data) = try Self.attachSegments(name, options: options)
            guard data.identity != self.data.identity else { return false }
            request = try NamedSemaphore.attach(name.requestSemaphore, options: options)
            response = try NamedSemaphore.attach(name.responseSemaphore, options: options)
        } catch .system(errno: ENOENT, _) {
            return false
        }
        let previous = (self.header, self.data, requestSemaphore, responseSemaphore)
        (self.header, self.data) = (header, data)
        (requestSemaphore, responseSemaphore) = (request, response)
        do {
            try takeClientLivenessLock()
        } catch {
            // Another client attached first: this channel stays as it was.
            (self.header, self.data, requestSemaphore, responseSemaphore) = previous
            throw error
        }
        turnDataStatus = nil
        trust = nil
        lastTrustAttempt = nil
        // A new server numbers its requests from 1 again.
        answeredRequestNumber = 0
        state = .idle
        return true
    }
}

/// A response as the server received it: the wire words, its kind, and a view
/// of the payload inside the data segment (valid until the next call on the channel).
package struct ReceivedResponse {
    package let metadata: ResponseMetadata
    package let kind: PayloadKind
    package let payload: UnsafeRawBufferPointer
}
