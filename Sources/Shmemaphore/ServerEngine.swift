import CShmemaphoreShims
import Glibc

/// The server's side of the protocol: it owns the channel, sends requests
/// and receives their responses (docs/PROTOCOL.md, "One exchange"), over
/// the channel's objects, trust cache and token waiter (`ChannelLink`).
///
/// `ShmemaphoreServer` is its Swift face; the C ABI holds it in a server
/// handle.  Not thread-safe: one thread at a time per channel.
package final class ServerEngine: PeerLockTest {
    /// Whose turn it is.  Every operation checks it, so a call out of order is
    /// a clear `wrongState` error instead of a hang or a corrupted exchange.
    enum State: Equatable {
        /// The server may send a request.
        case idle
        /// A request is out; its response is still to be received.
        case awaitingResponse
    }

    let link: ChannelLink
    private(set) var state = State.idle
    private var isClosed = false
    /// Whether the client's lock, when last tested, also covered the
    /// answer-numbers byte: then every answer must carry the request's number.
    private var clientNumbersAnswers = false
    /// The segments were replaced under a numbering client (a request was
    /// given up); until its lock shows on the new HEAD, it is known to
    /// number its answers all the same.
    private var clientMustFollow = false
    /// Whether an answer must carry the request's number.
    private var answersMustBeNumbered: Bool { clientNumbersAnswers || clientMustFollow }
    /// The number of the last request sent (docs/PROTOCOL.md, "Exchange
    /// numbers"); 0 before the first.
    private var requestNumber: UInt64 = 0
    /// RES tokens still owed for requests given up after the client took
    /// them (one each, when their late answers come).  Such a token is no
    /// sign of a third process: a wait that sees only these times out
    /// rather than reporting a protocol error.  It need not be the late
    /// answer's own token: a slow server may take the late token after the
    /// client also wrote the new answer, and accept that answer with it;
    /// the new answer's token is then the one left over, and may come after
    /// the next request went out.
    private var lateAnswerTokensOwed = 0

    private init(link: ChannelLink) { self.link = link }

    deinit { close() }

    /// The channel's name and object names.
    package var name: ChannelName { link.name }
    /// This channel's interrupt cell (`ChannelInterrupter`).
    package var interruptID: UInt64 { link.interruptID }

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
    package static func openServer(_ name: ChannelName, options: ChannelOptions) throws(ShmemaphoreError) -> ServerEngine {
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
            (request, response) = try ChannelLink.openSemaphores(name, options: options)
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
            return ServerEngine(
                link: try ChannelLink(
                    name: name, options: options,
                    requestSemaphore: request!, responseSemaphore: response!, header: header, data: data))
        } catch {
            header.unlink()
            request?.unlinkIfCreatedHere()
            response?.unlinkIfCreatedHere()
            throw error
        }
    }

    /// The liveness lock and the request-numbers lock on a HEAD it
    /// just created, before DATA exists (a client attaches only once DATA
    /// does, so it finds both).  False when another process holds either.
    private static func takeServerLocks(on header: SharedSegment) throws(ShmemaphoreError) -> Bool {
        guard try header.lock(at: Wire.serverLivenessByte) else { return false }
        return try header.lock(at: Wire.requestNumbersByte)
    }

    /// Releases everything and unlinks the four objects (those that are
    /// still this channel's own).  Idempotent.
    package func close() {
        guard !isClosed else { return }
        isClosed = true
        link.unlinkObjects()
    }

    /// Tests only: what a crash leaves behind.  The channel drops its
    /// liveness locks, as the kernel does for a dead process, and unlinks
    /// nothing; it must not be used for exchanges any more.
    package func abandonForTesting() {
        bestEffort { shmemaphore_shim_ofd_unlock(link.header.descriptor, 0, 0) }
    }

    // MARK: Requests and responses

    /// Writes a request and posts it (server).  The request is numbered
    /// (docs/PROTOCOL.md, "Exchange numbers"); the number is written last.
    package func sendRequest(_ request: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expectOpen()
        if state == .awaitingResponse { try giveUpOutstandingRequest() }
        // A buggy client may have posted RES twice: a stale token must not pass
        // for the answer to this request.  Free when RES is 0 (no syscall).
        // Such a client may also have resized DATA since our turn began.
        let leftOver = try link.responseSemaphore.drain()
        if leftOver > 0 {
            lateAnswerTokensOwed -= min(leftOver, lateAnswerTokensOwed)
            link.turnDataStatus = nil
            link.trust = nil
        }
        // One byte more than the request: a NUL after it, for peers that read
        // the request as a C string.  The wire length excludes it.
        let count = request.count
        try link.writeData(count: count + 1, peer: self) { buffer in
            if let source = request.baseAddress, count > 0 {
                buffer.copyMemory(from: source, byteCount: count)
            }
            buffer.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
        }
        requestNumber = requestNumber == UInt64.max ? 1 : requestNumber + 1
        let number = link.options.emulatesOriginalPeer ? nil : requestNumber
        try writeRequestHeader(length: UInt64(count), number: number)
        // Until a client has been seen alive, look before posting: a client
        // that takes this request and dies at once is then still noticed.
        if !link.peerLockSeen { link.peerLockSeen = try testClientLock() }
        link.turnDataStatus = nil
        try link.requestSemaphore.post()
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
        try expectOpen()
        guard state == .awaitingResponse else {
            throw .wrongState("no request is outstanding: send one before receiving a response")
        }
        // Until a client has been seen holding its lock, look once before
        // waiting: a client that dies during the first slice is then noticed.
        if !link.peerLockSeen { try checkClientAlive() }
        var deadline: Deadline?
        var strayTokens = 0
        while true {
            let arrived = try link.waitForToken(on: .response, timeout: timeout, deadline: &deadline) {
                () throws(ShmemaphoreError) in try self.checkClientAlive()
            }
            guard arrived else {
                if strayTokens > 0 {
                    throw .protocolViolation("\(strayTokens) response token(s) came that were no answer to request \(requestNumber): another process posts RES, or the client answered another request")
                }
                throw .timeout
            }
            // A fast client may answer before any slice looked: look now, once.
            if !link.peerLockSeen { try checkClientAlive() }
            // A client that numbers nothing (an original app, or one not
            // seen yet) must at least have taken the request: while REQ still
            // holds its token, a RES token is no answer (a third process's).
            // A memory read, no system call; numbering clients skip it.
            if !answersMustBeNumbered && !link.options.emulatesOriginalPeer, try link.requestSemaphore.value() > 0 {
                strayTokens += 1
                continue
            }
            // The server's turn starts here (if the token is the answer) and
            // lasts until its next request.
            let trusted = link.currentTrust() != nil
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
                    link.turnDataStatus = nil
                    continue
                }
                let metadata = withUnsafeBytes(of: words) { ResponseMetadata(words: $0) }
                let kind = try metadata.kind()
                let payload: UnsafeRawBufferPointer
                if trusted, let trust = link.trust, metadata.bytes <= UInt64(trust.dataLength), let address = link.data.mappedAddress {
                    payload = UnsafeRawBufferPointer(start: address, count: Int(metadata.bytes))
                } else {
                    payload = try link.checkedPayload(count: metadata.bytes, dataStatus: try link.data.status(), what: "response", peer: self)
                }
                return ReceivedResponse(metadata: metadata, kind: kind, payload: try link.handedOver(payload))
            } catch {
                // A client that broke the protocol broke its promise too: the
                // next request goes out by the checked path.
                link.trust = nil
                throw error
            }
        }
    }

    /// Gives up the outstanding request, whose response did not come
    /// in time or whose wait was interrupted, so that a new one can go out
    /// (docs/PROTOCOL.md, "Giving up a request").  The client may still be
    /// answering it: its late answer must neither share the segments with
    /// the new request nor pass for the new request's answer.
    private func giveUpOutstandingRequest() throws(ShmemaphoreError) {
        // A token still in REQ was never taken: no client started on it.
        let withdrawn = try link.requestSemaphore.tryWait()
        if answersMustBeNumbered {
            // A client of this library: its late answer goes into the old
            // segments, which it still maps, and carries the old number,
            // which the new request's answer check refuses.  It follows the
            // new segments at its next request, as after a server restart.
            try replaceSegments()
            if !withdrawn { lateAnswerTokensOwed += 1 }
        } else if !withdrawn, try !link.responseSemaphore.tryWait() {
            // A client that numbers nothing (an original app) and has taken
            // the request may be writing its answer right now; nothing could
            // tell that late answer from the new request's.
            throw .wrongState("the client took the request and has not answered yet; it numbers no answers (an original app), so a new request cannot be told apart from its late answer: receive the response first")
        }
        state = .idle
    }

    /// Moves the channel to new HEAD and DATA segments, created under
    /// temporary names and renamed over the old ones, so that the names
    /// always hold a HEAD with the server's lock.  The old HEAD is marked
    /// retired, which sends a trusted client that maps it to the new ones.
    private func replaceSegments() throws(ShmemaphoreError) {
        let newHeader = try Self.createReplacement(of: link.name.headerSegment, size: Wire.headerSegmentSize, options: link.options)
        do throws(ShmemaphoreError) {
            guard try Self.takeServerLocks(on: newHeader) else {
                throw .busy("another process locked the replacement header segment \(newHeader.name)")
            }
            let newData = try Self.createReplacement(of: link.name.dataSegment, size: Wire.initialDataSegmentSize, options: link.options)
            do throws(ShmemaphoreError) {
                // HEAD first: a client that finds the new DATA finds the new HEAD.
                try newHeader.rename(to: link.name.headerSegment)
                try newData.rename(to: link.name.dataSegment)
            } catch {
                newData.unlink()
                throw error
            }
            link.header.markRetired()
            (link.header, link.data) = (newHeader, newData)
        } catch {
            newHeader.unlink()
            throw error
        }
        link.forgetPeer()
        // The client's lock is on the old HEAD until it follows.
        link.peerLockSeen = false
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
            return try link.sharedAccess(.header) { words throws(ShmemaphoreError) in
                // Acquire: the client wrote everything else before its number.
                let answer = shmemaphore_shim_load_acquire(words + Wire.answerNumberOffset)
                return (words.loadUnaligned(as: (UInt64, UInt64, UInt64, UInt64).self), answer)
            }
        }
        var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let read = try withUnsafeMutableBytes(of: &words) { buffer throws(ShmemaphoreError) in
            try link.header.read(into: buffer.baseAddress!, count: Wire.numberedResponseSize, offset: 0)
        }
        guard read >= Wire.responseHeaderSize else {
            throw .protocolViolation("the header segment holds \(read) bytes; a response header needs \(Wire.responseHeaderSize)")
        }
        return ((words.0, words.1, words.2, words.3), read == Wire.numberedResponseSize ? words.6 : nil)
    }

    /// Writes the request header, then (numbered) the request number, last:
    /// a client that sees the number sees the request.  Through the mapping
    /// with a trusted peer (this turn's trust, as its `writeData` evaluated
    /// it), else with pwrite.
    @inline(__always)
    private func writeRequestHeader(length: UInt64, number: UInt64?) throws(ShmemaphoreError) {
        if link.trust != nil {
            try link.sharedAccess(.header) { head in
                head.storeBytes(of: length, as: UInt64.self)
                if let number { shmemaphore_shim_store_release(head + Wire.requestNumberOffset, number) }
            }
            return
        }
        var length = length
        try link.header.write(&length, count: Wire.requestHeaderSize, offset: 0)
        if var number { try link.header.write(&number, count: 8, offset: Wire.requestNumberOffset) }
    }

    private func expectOpen() throws(ShmemaphoreError) {
        guard !isClosed else { throw .wrongState("the channel is closed") }
    }

    // MARK: Liveness (docs/PROTOCOL.md, "Liveness")

    /// Whether the client holds its liveness lock now (`testClientLock`).
    func peerHoldsItsLock() throws(ShmemaphoreError) -> Bool { try testClientLock() }

    /// Whether the client holds its liveness lock, noting whether it
    /// numbers its answers (its lock covers `Wire.answerNumbersByte` too).
    private func testClientLock() throws(ShmemaphoreError) -> Bool {
        guard let end = try link.header.lockEnd(at: Wire.clientLivenessByte) else {
            clientNumbersAnswers = false
            return false
        }
        clientNumbersAnswers = !link.options.emulatesOriginalPeer && end > Int64(Wire.answerNumbersByte)
        clientMustFollow = false
        return true
    }

    /// Server, between waits for a response: a client whose lock vanished has
    /// died.  Its request is withdrawn (a token it never took is drained) so
    /// that the next client starts clean.
    private func checkClientAlive() throws(ShmemaphoreError) {
        if try testClientLock() {
            link.peerLockSeen = true
        } else if link.peerLockSeen {
            link.peerLockSeen = false
            // The next client may be one that makes no promise.
            link.trust = nil
            try link.requestSemaphore.drain()
            state = .idle
            throw .peerGone
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
