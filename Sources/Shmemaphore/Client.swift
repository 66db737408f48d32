/// The responder side of a channel, for Swift programs.
///
/// ```swift
/// let client = try ShmemaphoreClient(channel: "ibis")
/// while true {
///     let name = try client.receiveRequest()
///     try client.sendImageFile(atPath: "img/\(String(decoding: name, as: UTF8.self)).jpg")
/// }
/// ```
///
/// The client answers each request it receives in one of three ways:
/// - with a copy of a payload: ``send(bytes:)`` for raw bytes,
///   ``send(_:payload:)`` for any ``ResponseMetadata``, or
///   ``sendImageFile(atPath:)`` for an image file decoded by stb;
/// - without a copy: ``reserve(_:)`` a buffer inside shared memory, fill
///   it, then ``commit(_:)``;
/// - with an error: ``sendError(code:message:)``, which the server's call
///   throws as ``ShmemaphoreError/peerError(code:message:)``.
///
/// Sending never waits for the server.  When the server closes the channel
/// (or dies), ``receiveRequest(timeout:)`` throws
/// ``ShmemaphoreError/peerGone`` once; the next call waits for the next
/// server on the same name, so one client serves successive servers.
///
/// A client unlinks nothing: the server owns the channel's objects.  Its
/// mappings and liveness lock are released when the last reference to it
/// goes away.  Not thread-safe: use a client from one thread at a time
/// (only ``interrupter`` may be used from other threads).
public final class ShmemaphoreClient {
    package let core: ClientEngine

    /// Attaches to channel `channel`, waiting up to `options.attachTimeout`
    /// for its server.
    ///
    /// The client may start first: it opens (or creates) the channel's
    /// semaphores and waits for the server's segments.
    ///
    /// - Parameters:
    ///   - channel: the channel name, as ``ChannelName/init(_:)`` accepts it.
    ///   - options: the attach timeout, the wait strategy, the trust in the peer.
    /// - Throws: ``ShmemaphoreError/timeout`` (no server came; semaphores
    ///   this call created are removed again), ``ShmemaphoreError/interrupted``
    ///   (a signal handler ran, or the task was cancelled),
    ///   ``ShmemaphoreError/busy(_:)`` (another client is attached),
    ///   ``ShmemaphoreError/invalidName(_:)``,
    ///   ``ShmemaphoreError/unsafePermissions(_:)``, or
    ///   ``ShmemaphoreError/system(errno:operation:)``.
    public init(channel: String, options: ChannelOptions = ChannelOptions()) throws(ShmemaphoreError) {
        core = try ClientEngine.openClient(ChannelName(channel), options: options)
    }

    /// The channel's name and object names.
    public var channel: ChannelName { core.name }

    /// Ends this channel's current or next wait with
    /// ``ShmemaphoreError/interrupted``, from any thread or a signal handler.
    ///
    /// The interrupter is `Sendable`: hand it to the thread (or the signal
    /// handler's code) that decides when to stop this client's wait.
    public var interrupter: ChannelInterrupter { ChannelInterrupter(id: core.interruptID) }

    /// Waits for the next request.
    ///
    /// The previous request must have been answered first.  A token that
    /// carries no new request (a third process posted the semaphore) is
    /// dropped and the wait goes on.
    ///
    /// - Parameter timeout: nil waits forever.
    /// - Throws: ``ShmemaphoreError/peerGone`` once when the server closed the
    ///   channel or died; the next call waits (within its timeout) for a new
    ///   server on the same name and serves it.  ``ShmemaphoreError/interrupted``
    ///   when ``interrupter`` was used, a signal handler ran, or the task was
    ///   cancelled; call again to go on.  ``ShmemaphoreError/timeout`` when
    ///   nothing came; ``ShmemaphoreError/busy(_:)`` when, after
    ///   `peerGone`, another client attached to the new server first;
    ///   ``ShmemaphoreError/wrongState(_:)`` when the previous request is
    ///   not answered yet.
    /// - Returns: the request bytes in place in shared memory, valid until the
    ///   next call on this client (reserving a buffer overwrites them).
    public func receiveRequest(timeout: Duration? = nil) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        try core.receiveRequest(timeout: timeout)
    }

    /// Answers with a copy of `payload` described by `metadata`.
    ///
    /// Images need `width`, `height` and `channels` ≥ 1 and `bytes` ==
    /// width × height × channels (``ResponseMetadata/image(width:height:channels:)``);
    /// raw bytes need all three 0 (``ResponseMetadata/bytes(_:)``).  The
    /// first `metadata.bytes` bytes of `payload` are copied into shared
    /// memory, growing the data segment if needed.  Sending does not wait:
    /// if the server closed the channel meanwhile, the answer is lost
    /// without an error, and the next ``receiveRequest(timeout:)`` throws
    /// ``ShmemaphoreError/peerGone``.
    ///
    /// - Throws: ``ShmemaphoreError/invalidArgument(_:)`` (inconsistent
    ///   metadata, the error marker in `channels`, or a payload shorter
    ///   than `metadata.bytes`), ``ShmemaphoreError/wrongState(_:)`` (no
    ///   request to answer), ``ShmemaphoreError/peerGone``,
    ///   ``ShmemaphoreError/tooLarge(_:)``, or
    ///   ``ShmemaphoreError/system(errno:operation:)`` (`ENOSPC`: /dev/shm is full).
    public func send(_ metadata: ResponseMetadata, payload: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try core.sendResponse(metadata, payload: payload)
    }

    /// Answers with opaque bytes: a copy of all of `bytes`.
    ///
    /// The server receives a ``Response`` of kind ``PayloadKind/bytes``.
    /// Throws as ``send(_:payload:)``.
    public func send(bytes: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try core.sendResponse(.bytes(UInt64(bytes.count)), payload: bytes)
    }

    /// Answers with an error so that the server does not wait in vain.
    ///
    /// The server's call throws ``ShmemaphoreError/peerError(code:message:)``
    /// with `code` and `message`.
    ///
    /// - Parameters:
    ///   - code: application-defined; ``PeerErrorCode`` suggests values.
    ///   - message: UTF-8 text for the server, copied.
    /// - Throws: as ``send(_:payload:)``.
    public func sendError(code: UInt64, message: String) throws(ShmemaphoreError) {
        try withUTF8Bytes(of: message) { bytes throws(ShmemaphoreError) in try core.sendError(code: code, message: bytes) }
    }

    /// Zero-copy answer: a writable buffer of `count` bytes inside shared
    /// memory, valid until ``commit(_:)`` or the next call.
    ///
    /// Write the payload into the buffer, then publish it with
    /// ``commit(_:)``.  The data segment grows if needed, and the request
    /// view that ``receiveRequest(timeout:)`` returned becomes invalid (the
    /// buffer overwrites it): decode the request first.  The buffer is
    /// owned by the client; do not keep it past the commit, another call,
    /// or the client's end.  Reserving again replaces the reservation.
    ///
    /// ```swift
    /// let metadata = try ResponseMetadata.image(width: 640, height: 480, channels: 3)
    /// let pixels = try client.reserve(Int(metadata.bytes))
    /// for index in pixels.indices { pixels[index] = 128 }   // mid grey, in place
    /// try client.commit(metadata)            // `pixels` is invalid from here on
    /// ```
    ///
    /// - Throws: ``ShmemaphoreError/invalidArgument(_:)`` (a negative
    ///   count), ``ShmemaphoreError/tooLarge(_:)``,
    ///   ``ShmemaphoreError/wrongState(_:)`` (no request to answer),
    ///   ``ShmemaphoreError/peerGone``, or
    ///   ``ShmemaphoreError/system(errno:operation:)`` (`ENOSPC`).
    public func reserve(_ count: Int) throws(ShmemaphoreError) -> UnsafeMutableRawBufferPointer {
        guard count >= 0 else { throw .invalidArgument("cannot reserve \(count) bytes") }
        return try core.reserve(UInt64(count))
    }

    /// Publishes the first `metadata.bytes` reserved bytes.
    ///
    /// `metadata` follows the rules of ``send(_:payload:)``, and
    /// `metadata.bytes` must not exceed the reserved count.  The reserved
    /// buffer is invalid once this returns (or throws).
    ///
    /// - Throws: ``ShmemaphoreError/wrongState(_:)`` (nothing reserved),
    ///   ``ShmemaphoreError/invalidArgument(_:)`` (inconsistent metadata, or
    ///   more bytes than reserved), ``ShmemaphoreError/protocolViolation(_:)``
    ///   (the segment shrank under the client), or
    ///   ``ShmemaphoreError/system(errno:operation:)``.
    public func commit(_ metadata: ResponseMetadata) throws(ShmemaphoreError) {
        try core.commit(metadata)
    }

    /// Answers with the image file at `path`, decoded by stb.  Nothing is sent
    /// on failure: answer with ``sendError(code:message:)`` then.
    ///
    /// stb decodes PNG, JPEG, BMP, TGA, GIF, PSD, HDR, PIC and PNM files to
    /// 8-bit interleaved pixels with the file's own channel count.  The
    /// role and state are checked before the file is read.
    ///
    /// - Throws: ``ShmemaphoreError/system(errno:operation:)`` (`ENOENT`,
    ///   `EACCES`: the file cannot be opened),
    ///   ``ShmemaphoreError/imageDecode(_:)``, or what
    ///   ``send(_:payload:)`` throws.
    /// - Returns: the metadata of the image sent.
    @discardableResult
    public func sendImageFile(atPath path: String) throws(ShmemaphoreError) -> ResponseMetadata {
        try withCString(path) { cPath throws(ShmemaphoreError) in try core.sendImageFile(atCPath: cPath) }
    }
}
