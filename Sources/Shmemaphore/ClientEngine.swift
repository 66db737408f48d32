import CShmemaphoreShims
import Glibc

/// The client's side of the protocol: it attaches to a server's channel,
/// receives its requests and answers them (docs/PROTOCOL.md, "One
/// exchange"), follows the server when it replaces its segments or restarts,
/// over the channel's objects, trust cache and token waiter (`ChannelLink`).
///
/// `ShmemaphoreClient` is its Swift face; the C ABI holds it in a client
/// handle.  Not thread-safe: one thread at a time per channel.
package final class ClientEngine: PeerLockTest {
    /// Whose turn it is.  Every operation checks it, so a call out of order is
    /// a clear `wrongState` error instead of a hang or a corrupted exchange.
    enum State: Equatable {
        /// Waiting for a request may begin.
        case idle
        /// A request was received and must be answered.
        case holdingRequest
        /// A response buffer of this many bytes is reserved.
        case reserved(Int)
        /// The server closed the channel under this client; the next receive
        /// waits for a new server on the name.
        case peerGone
    }

    let link: ChannelLink
    private(set) var state = State.idle
    private var isClosed = false
    /// The number of the request held now (0: the server numbers none, an
    /// original app), and of the last one answered.
    private var heldRequestNumber: UInt64 = 0
    private var answeredRequestNumber: UInt64 = 0
    /// Whether the server held the request-numbers lock when this channel
    /// attached to its HEAD: then every request carries a number, and a
    /// token while HEAD's number is 0 comes before its first request.
    private var serverNumbersRequests = false

    /// How often a client polls for the server's segments while attaching.
    static let attachPollInterval: Int64 = 5_000_000
    /// How long a client waits for a restarting server to re-create its segments.
    static let restartGrace: Int64 = 200_000_000

    private init(link: ChannelLink) { self.link = link }

    /// The channel's name and object names.
    package var name: ChannelName { link.name }
    /// This channel's interrupt cell (`ChannelInterrupter`).
    package var interruptID: UInt64 { link.interruptID }

    // MARK: Opening and closing

    /// Opens `name` as its client: semaphores opened (or created), then the
    /// server's segments awaited up to `options.attachTimeout`.
    package static func openClient(_ name: ChannelName, options: ChannelOptions) throws(ShmemaphoreError) -> ClientEngine {
        try options.validate()
        let (request, response) = try ChannelLink.openSemaphores(name, options: options)
        let deadline = Deadline(timeout: options.attachTimeout)
        while true {
            do {
                let (header, data) = try attachSegments(name, options: options)
                let client = ClientEngine(
                    link: try ChannelLink(
                        name: name, options: options,
                        requestSemaphore: request, responseSemaphore: response, header: header, data: data))
                try client.takeClientLivenessLock()
                return client
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

    /// DATA first: the server creates it last, so a fresh DATA implies a fresh HEAD.
    private static func attachSegments(_ name: ChannelName, options: ChannelOptions) throws(ShmemaphoreError) -> (SharedSegment, SharedSegment) {
        let data = try SharedSegment.attach(name.dataSegment, options: options)
        let header = try SharedSegment.attach(name.headerSegment, options: options)
        return (header, data)
    }

    /// Releases everything; a client unlinks nothing.  Idempotent.
    package func close() { isClosed = true }

    // MARK: Requests and responses

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
        try expectOpen()
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
            let arrived = try link.waitForToken(on: .request, timeout: timeout, deadline: &deadline) {
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
            if link.currentTrust() != nil {
                trustedHead = try link.sharedAccess(.header) { words -> (number: UInt64, length: UInt64)? in
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
                link.turnDataStatus = nil
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
                link.trust = nil
                throw error
            }
        }
    }

    /// The request just taken, as the caller gets to read it (client).
    private func readHeldRequest(
        trustedHead: (number: UInt64, length: UInt64)?, dataStatus: stat?
    ) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        if let trustedHead, let trust = link.trust, trustedHead.length <= UInt64(trust.dataLength), let address = link.data.mappedAddress {
            return try link.handedOver(UnsafeRawBufferPointer(start: address, count: Int(trustedHead.length)))
        }
        var length: UInt64 = 0
        let read = try link.header.read(into: &length, count: Wire.requestHeaderSize, offset: 0)
        guard read == Wire.requestHeaderSize else {
            throw .protocolViolation("the header segment holds \(read) bytes; a request header needs \(Wire.requestHeaderSize)")
        }
        let status: stat
        if let dataStatus { status = dataStatus } else { status = try link.data.status() }
        return try link.handedOver(link.checkedPayload(count: length, dataStatus: status, what: "request", peer: self))
    }

    /// The request number in HEAD, read with pread (0 when the server
    /// writes none; nil when HEAD is too short to hold one).
    private func readRequestNumber() throws(ShmemaphoreError) -> UInt64? {
        if link.options.emulatesOriginalPeer { return 0 }
        var number: UInt64 = 0
        let read = try link.header.read(into: &number, count: 8, offset: Wire.requestNumberOffset)
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
        try link.writeData(count: count, peer: self) { buffer in
            if count > 0 { buffer.copyMemory(from: payload.baseAddress!, byteCount: count) }
        }
        try publish(metadata)
    }

    /// Answers the held request with an error response (client).
    package func sendError(code: UInt64, message: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try expectHeldRequest("send an error response")
        try link.writeData(count: message.count, peer: self) { buffer in
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
        let buffer = try link.writeData(count: Int(count), peer: self) { buffer in buffer }
        state = .reserved(Int(count))
        return UnsafeMutableRawBufferPointer(start: buffer, count: Int(count))
    }

    /// Publishes the reserved buffer's first `metadata.bytes` bytes (client).
    package func commit(_ metadata: ResponseMetadata) throws(ShmemaphoreError) {
        try expectOpen()
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

    private func expectOpen() throws(ShmemaphoreError) {
        guard !isClosed else { throw .wrongState("the channel is closed") }
    }

    func expectHeldRequest(_ action: String) throws(ShmemaphoreError) {
        try expectOpen()
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
        link.turnDataStatus = nil
        try link.responseSemaphore.post()
        answeredRequestNumber = heldRequestNumber
        state = .idle
    }

    /// Writes the response header, then (numbered) the answer number, last.
    @inline(__always)
    private func writeResponseHeader(_ metadata: ResponseMetadata, number: UInt64?) throws(ShmemaphoreError) {
        var words = metadata.words
        if link.trust != nil {
            try link.sharedAccess(.header) { head in
                head.storeBytes(of: words, as: (UInt64, UInt64, UInt64, UInt64).self)
                if let number { shmemaphore_shim_store_release(head + Wire.answerNumberOffset, number) }
            }
            return
        }
        try withUnsafeBytes(of: &words) { buffer throws(ShmemaphoreError) in
            try link.header.write(buffer.baseAddress!, count: Wire.responseHeaderSize, offset: 0)
        }
        if var number { try link.header.write(&number, count: 8, offset: Wire.answerNumberOffset) }
    }

    // MARK: Liveness (docs/PROTOCOL.md, "Liveness")

    /// Whether the server holds its liveness lock on HEAD now.
    func peerHoldsItsLock() throws(ShmemaphoreError) -> Bool {
        try link.header.isByteLocked(at: Wire.serverLivenessByte)
    }

    /// Takes the client's lock on HEAD (refusing to be a second
    /// client) and notes whether the server holds its own, and whether it
    /// numbers its requests.
    private func takeClientLivenessLock() throws(ShmemaphoreError) {
        if !link.options.emulatesOriginalPeer {
            // One lock over the liveness byte and the answer-numbers byte.
            guard try link.header.lock(at: Wire.clientLivenessByte, count: Wire.answerNumbersByte - Wire.clientLivenessByte + 1) else {
                throw .busy("another client is attached to channel \(link.name)")
            }
        }
        link.peerLockSeen = try link.header.isByteLocked(at: Wire.serverLivenessByte)
        // Taken before DATA was created, so final for this HEAD; a server of
        // an earlier version (or an original app) holds none.
        serverNumbersRequests = false
        if !link.options.emulatesOriginalPeer { serverNumbersRequests = try link.header.isByteLocked(at: Wire.requestNumbersByte) }
    }

    /// Client, between waits for a request: a server whose lock vanished
    /// while its segments stayed has crashed.
    private func checkServerAlive() throws(ShmemaphoreError) {
        if try link.header.isByteLocked(at: Wire.serverLivenessByte) {
            link.peerLockSeen = true
        } else if link.peerLockSeen {
            state = .peerGone
            throw .peerGone
        }
    }

    /// DATA's status (size, allocation), after following the server.  If the server
    /// replaced its segments (a restart) the channel is re-opened by name; if
    /// it removed them (it closed), the peer is gone.  A removed DATA segment
    /// shows as a link count of 0 on our descriptor.
    private func dataStatusFollowingServer() throws(ShmemaphoreError) -> stat {
        let status = try link.data.status()
        guard status.st_nlink == 0 else { return status }
        // A restarting server unlinks and re-creates the segments (and a
        // server that gave up a request replaces them): give it a moment,
        // as during attach, while its semaphores are still there.
        let deadline = Deadline(instant: MonotonicInstant.now().advanced(byNanoseconds: Self.restartGrace))
        while true {
            if try adoptNewServer() { return try link.data.status() }
            // A closing server removes its semaphores last; a restarting one keeps them.
            let semaphoresGone = ObjectFile.identity(at: ChannelName.filesystemPath(ofSemaphore: link.name.requestSemaphore)) == nil
            if semaphoresGone || deadline.hasPassed {
                state = .peerGone
                throw .peerGone
            }
            try pause(nanoseconds: Self.attachPollInterval, interruptID: link.interruptID)
        }
    }

    /// Client, after `peerGone` was reported: waits until `deadline` for a
    /// new server on the channel's name and adopts it.  `timeout` if none came.
    private func awaitNewServer(until deadline: Deadline) throws(ShmemaphoreError) {
        while try !adoptNewServer() {
            if deadline.hasPassed { throw .timeout }
            try pause(nanoseconds: Self.attachPollInterval, interruptID: link.interruptID)
        }
    }

    /// Adopts the objects of the server now at the channel's name, if its
    /// DATA is not the one this channel maps (a crashed server's stays until
    /// a new server replaces it), with a fresh view of everything.
    /// Segments first, then semaphores: a server creates its semaphores
    /// before its segments, so semaphores opened after fresh segments are
    /// that server's, never the unlinked ones of a server that just closed.
    private func adoptNewServer() throws(ShmemaphoreError) -> Bool {
        let header: SharedSegment, data: SharedSegment, request: NamedSemaphore, response: NamedSemaphore
        do {
            (header, data) = try Self.attachSegments(link.name, options: link.options)
            guard data.identity != link.data.identity else { return false }
            request = try NamedSemaphore.attach(link.name.requestSemaphore, options: link.options)
            response = try NamedSemaphore.attach(link.name.responseSemaphore, options: link.options)
        } catch .system(errno: ENOENT, _) {
            return false
        }
        let previous = (link.header, link.data, link.requestSemaphore, link.responseSemaphore)
        (link.header, link.data) = (header, data)
        (link.requestSemaphore, link.responseSemaphore) = (request, response)
        do {
            try takeClientLivenessLock()
        } catch {
            // Another client attached first: this channel stays as it was.
            (link.header, link.data, link.requestSemaphore, link.responseSemaphore) = previous
            throw error
        }
        link.forgetPeer()
        // A new server numbers its requests from 1 again.
        answeredRequestNumber = 0
        state = .idle
        return true
    }
}

extension ClientEngine {
    /// Decodes `cPath` and answers with it (client); shared by the Swift and C APIs.
    package func sendImageFile(atCPath cPath: UnsafePointer<CChar>) throws(ShmemaphoreError) -> ResponseMetadata {
        // Check the turn first: decoding a large file only to fail is wasted work.
        try expectHeldRequest("send an image")
        return try ImageCodec.withDecodedFile(atCPath: cPath) { metadata, pixels throws(ShmemaphoreError) in
            try sendResponse(metadata, payload: pixels)
            return metadata
        }
    }
}
