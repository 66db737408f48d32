import CShmemaphoreShims
import Glibc

/// What `ChannelLink` needs of a role engine: a test that the peer holds
/// its liveness lock now, for renewing the trust (an engine may note more
/// from it, as a server does whether its client numbers answers).  Generic,
/// not a closure: the fast path, which never runs it, then builds nothing.
protocol PeerLockTest: AnyObject {
    func peerHoldsItsLock() throws(ShmemaphoreError) -> Bool
}

/// What both role engines (`ServerEngine`, `ClientEngine`) stand on: the
/// channel's four objects, what this side may rely on about its peer (the
/// trust cache of docs/PROTOCOL.md "Trusted peers"), the access to shared
/// memory under the fault guard, and the token waiter with its spin policy.
/// It knows no role: where it needs the peer's liveness lock tested, the
/// engine passes itself in (`PeerLockTest`).
///
/// Not thread-safe: one thread at a time per channel (its interrupt cell
/// excepted, `ChannelInterrupter`).
final class ChannelLink {
    let name: ChannelName
    let options: ChannelOptions
    /// This channel's interrupt cell (`ChannelInterrupter`; C handles are
    /// derived from it): an interrupt raised there ends the current or next
    /// wait with `interrupted`.
    let interruptID: UInt64

    // MARK: The four objects (a client replaces them when it follows a new
    // server, a server when it gives up a request)

    var requestSemaphore: NamedSemaphore
    var responseSemaphore: NamedSemaphore
    var header: SharedSegment
    var data: SharedSegment

    /// DATA's status as read at the start of this side's current turn, nil
    /// outside a turn.  The peer cannot resize DATA during our turn, so one
    /// fstat per turn is enough (docs/PROTOCOL.md, section 8).
    var turnDataStatus: stat?

    // MARK: The trust cache

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

    /// What the fast path may rely on while the peer is trusted; nil while it is not.
    var trust: PeerTrust?
    /// Whether the peer has been seen holding its liveness lock on HEAD.  Only
    /// then does a missing lock mean a dead peer: original peers take none.
    /// A lock seen for the first time also lifts the wait between trust
    /// attempts: a server's first attempt usually comes before its client
    /// attached, and the first exchange should already find the fast path.
    var peerLockSeen = false {
        didSet { if peerLockSeen && !oldValue { lastTrustAttempt = nil } }
    }
    /// When this side last tried to establish trust and could not (a peer
    /// without a lock, or none attached yet), and how many checked turns it
    /// skipped since: such a peer costs one lock test per `trustInterval` or
    /// per `trustRetryTurns` turns, whichever comes first, not one per turn.
    var lastTrustAttempt: MonotonicInstant?
    private var turnsSinceTrustAttempt = 0

    /// How long a check of the peer's lock and of the segment sizes is
    /// relied on before a turn checks again.  It bounds the time in which a
    /// trusted peer that died could be replaced by one that breaks the promise.
    static let trustInterval: Int64 = 50_000_000
    /// Checked turns after which a side that could not trust its peer tries
    /// again even before `trustInterval` passed: a server's first request
    /// usually goes out before its client has attached.
    static let trustRetryTurns = 16

    // MARK: The token waiter

    /// Whether the next wait spins first (`WaitStrategy.adaptive`).
    private var spinPolicy: SpinPolicy
    /// How long a wait sleeps in the kernel before it runs its liveness checks.
    static let livenessInterval: Int64 = 50_000_000

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

    init(
        name: ChannelName, options: ChannelOptions,
        requestSemaphore: NamedSemaphore, responseSemaphore: NamedSemaphore,
        header: SharedSegment, data: SharedSegment
    ) throws(ShmemaphoreError) {
        let interruptID = shmemaphore_shim_interrupt_claim()
        guard interruptID != 0 else {
            throw .system(errno: ENOMEM, operation: "open channel \(name): this process has too many channels open")
        }
        self.interruptID = interruptID
        self.name = name
        self.options = options
        self.requestSemaphore = requestSemaphore
        self.responseSemaphore = responseSemaphore
        self.header = header
        self.data = data
        self.spinPolicy = SpinPolicy(strategy: options.waitStrategy)
    }

    deinit {
        shmemaphore_shim_interrupt_release(interruptID)
        free(privateCopy.baseAddress)
    }

    /// Both semaphores of the channel, opened or created (whichever side starts
    /// first creates them).  On failure nothing this call created is left behind.
    static func openSemaphores(
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

    /// Unlinks the four names while they still name this channel's objects:
    /// a server that took over a stale channel meanwhile keeps its own.
    func unlinkObjects() {
        data.unlink()
        header.unlink()
        requestSemaphore.unlink()
        responseSemaphore.unlink()
    }

    // MARK: Shared memory

    /// The two segments, for `sharedAccess`.
    enum Segment { case header, data }

    /// Runs `body` on the segment's mapping under the fault guard; a fault
    /// (the peer broke its promise and shrank the segment) ends the trust.
    /// Takes the segment by name and its mapping as plain values: the fast
    /// path counts no references.
    @inline(__always)
    func sharedAccess<Result>(
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
    func handedOver(_ payload: UnsafeRawBufferPointer) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
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
    /// bytes already verified, no system call.  `peer` tests the peer's
    /// liveness lock, should the trust need renewing.
    @inline(__always)
    @discardableResult
    func writeData<Result, Peer: PeerLockTest>(
        count: Int, peer: Peer, _ body: (UnsafeMutableRawPointer) -> Result
    ) throws(ShmemaphoreError) -> Result {
        if let trust = currentTrust(), count <= trust.dataLength {
            return try sharedAccess(.data) { buffer in body(buffer) }
        }
        var status = try turnStatus()
        _ = try data.writableBytes(count: count, status: &status)
        turnDataStatus = status
        try renewTrust(backed: count, peer: peer)
        return try sharedAccess(.data) { buffer in body(buffer) }
    }

    /// A read-only view of the first `count` bytes of DATA, after checking
    /// them against the segment's real size (`dataStatus`, just read with
    /// fstat): the header may not send us past its end.
    func checkedPayload<Peer: PeerLockTest>(
        count: UInt64, dataStatus: stat, what: String, peer: Peer
    ) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
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
        try renewTrust(backed: Int(count), peer: peer)
        return UnsafeRawBufferPointer(start: start, count: Int(count))
    }

    // MARK: Trusted peers (docs/PROTOCOL.md, "Trusted peers")

    /// The trust this turn may use: nil when there is none, or when it is
    /// older than `trustInterval` (this turn then checks everything and
    /// renews it).  Reads the coarse clock through the vDSO: no system call.
    func currentTrust() -> PeerTrust? {
        guard let current = trust else { return nil }
        guard MonotonicInstant.coarseNow().nanoseconds &- current.checkedAt.nanoseconds < Self.trustInterval else {
            trust = nil
            return nil
        }
        return current
    }

    /// After a checked turn: trusts the peer for `trustInterval` if it holds
    /// its liveness lock (`peer`) and HEAD has room for the extension
    /// words.  `backed`: how many of DATA's first bytes this turn checked
    /// and made sure have memory behind them.
    private func renewTrust<Peer: PeerLockTest>(backed: Int, peer: Peer) throws(ShmemaphoreError) {
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
        guard try peer.peerHoldsItsLock() else { return }
        peerLockSeen = true
        guard try header.mappedIfLarger(thanOrEqualTo: Wire.headerSegmentSize) != nil else { return }
        trust = PeerTrust(dataLength: min(backed, data.mappedLength), checkedAt: now)
        lastTrustAttempt = nil
    }

    /// Forgets everything known about the peer and this turn (a new peer, or new segments).
    func forgetPeer() {
        turnDataStatus = nil
        trust = nil
        lastTrustAttempt = nil
    }

    // MARK: The token waiter

    /// The two semaphores, named by what their tokens mean.
    enum Token { case request, response }

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
    func waitForToken(
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
            let semaphore = semaphore(for: token)
            let won: Bool
            let now: MonotonicInstant
            if phase == .doze {
                // Sleeps until shortly before the token is due, then spins.
                let asked = spinPolicy.dozeLength
                let dozeEnd = deadline.clamped(to: phaseStart.advanced(byNanoseconds: asked))
                var tokenCame = false
                if asked > 0 { tokenCame = try semaphore.wait(until: dozeEnd, interruptID: interruptID) }
                let woke = MonotonicInstant.now()
                let woken = woke.nanoseconds &- phaseStart.nanoseconds
                if tokenCame {
                    spinPolicy.recordDoze(asked: asked, woken: woken, spun: nil, won: true)
                    return true
                }
                // A caller's timeout is no news about the peer.
                if deadline.hasPassed { return false }
                let spinEnd = deadline.clamped(to: woke.advanced(byNanoseconds: spinPolicy.dozeSpinBudget))
                (won, now, _) = try semaphore.spin(
                    from: woke, until: spinEnd, preemptionGap: SpinPolicy.preemptionGap, interruptID: interruptID)
                spinPolicy.recordDoze(asked: asked, woken: woken, spun: now.nanoseconds &- woke.nanoseconds, won: won)
            } else if phase == .yield {
                let end = deadline.clamped(to: phaseStart.advanced(byNanoseconds: SpinPolicy.yieldBudget))
                let yields: Int
                (won, yields) = try semaphore.yieldingWait(until: end, maximumYields: SpinPolicy.maximumYields, interruptID: interruptID)
                now = .now()
                spinPolicy.recordYield(won: won, yields: yields)
            } else {
                let end = deadline.clamped(to: phaseStart.advanced(byNanoseconds: SpinPolicy.budget(of: phase)))
                let preempted: Bool
                (won, now, preempted) = try semaphore.spin(
                    from: phaseStart, until: end, preemptionGap: SpinPolicy.preemptionGap, interruptID: interruptID)
                spinPolicy.recordSpin(phase, won: won, preempted: preempted)
            }
            if won { return true }
            try checkInterrupted(interruptID)
            // A lost probe does not mean yielding stopped paying.
            phase = phase == .probe && !deadline.hasPassed ? .yield : .sleep
            phaseStart = now
        }
        var sliceStart = start
        while true {
            let slice = deadline.clamped(to: sliceStart.advanced(byNanoseconds: Self.livenessInterval))
            if try semaphore(for: token).wait(until: slice, interruptID: interruptID) {
                if spinPolicy.wantsSleepLength {
                    spinPolicy.recordSleep(lasted: MonotonicInstant.now().nanoseconds &- start.nanoseconds)
                }
                return true
            }
            if deadline.hasPassed { return false }
            // Cancellation has no wake-up of its own: it is seen here, once a slice.
            try checkInterrupted(interruptID)
            try whileWaiting()
            sliceStart = .now()
        }
    }
}
