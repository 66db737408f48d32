/// The requester side of a channel, for Swift programs.
///
/// ```swift
/// let server = try ShmemaphoreServer(channel: "ibis")
/// let response = try server.request("dog", timeout: .seconds(5))
/// print(response.metadata.width, response.metadata.height)
/// ```
///
/// The server owns the channel: creating it creates (or, after a crash,
/// resets) the channel's two semaphores and two segments, and ``close()``,
/// or deinit when the last reference goes away, removes all four objects.
/// It sends one request at a time and receives that request's response;
/// ``request(_:timeout:)-(String,_)`` does both.  A client may attach
/// before or after the server starts.
///
/// Every ``Response`` it returns points into shared memory and is valid
/// until the next call on this server (or its close): copy the payload
/// (``Response/bytes``) to keep it.
///
/// Not thread-safe: use a server from one thread at a time (distinct
/// servers and clients are independent).  Only ``interrupter`` may be
/// used from other threads.
public final class ShmemaphoreServer {
    package let core: ServerEngine

    /// Creates channel `channel` as its server (see ``ChannelOptions``).
    ///
    /// Returns at once; it does not wait for a client.  Objects that a
    /// crashed earlier server left behind are reset or refused as
    /// ``ChannelOptions/stalePolicy`` says; a channel whose server is alive
    /// is never touched.
    ///
    /// - Parameters:
    ///   - channel: the channel name, as ``ChannelName/init(_:)`` accepts it
    ///     (`"/tensors"` and `"tensors"` are one channel).
    ///   - options: the objects' mode, the stale policy, the wait strategy.
    /// - Throws: ``ShmemaphoreError/invalidName(_:)``,
    ///   ``ShmemaphoreError/invalidArgument(_:)`` (a bad mode),
    ///   ``ShmemaphoreError/busy(_:)`` (a live server holds the channel),
    ///   ``ShmemaphoreError/exists(_:)`` (stale objects under
    ///   ``StalePolicy/fail``), ``ShmemaphoreError/unsafePermissions(_:)``,
    ///   or ``ShmemaphoreError/system(errno:operation:)``.
    public init(channel: String, options: ChannelOptions = ChannelOptions()) throws(ShmemaphoreError) {
        core = try ServerEngine.openServer(ChannelName(channel), options: options)
    }

    /// The channel's name and object names.
    public var channel: ChannelName { core.name }

    /// Ends this channel's current or next wait with
    /// ``ShmemaphoreError/interrupted``, from any thread or a signal handler.
    ///
    /// The interrupter is `Sendable` and may be copied to other threads; it
    /// does not keep the server alive, and once the server is deinitialized
    /// interrupting does nothing.
    public var interrupter: ChannelInterrupter { ChannelInterrupter(id: core.interruptID) }

    /// Sends a request without waiting for the response.
    ///
    /// The bytes are copied into shared memory (the buffer may be reused
    /// at once); they are not NUL-terminated on the wire.  Wait for the
    /// answer with ``receiveResponse(timeout:)``.
    ///
    /// A request still outstanding (its receive timed out or was
    /// interrupted) is given up first: its late answer is never returned for
    /// this one (docs/PROTOCOL.md, "Giving up a request").  With a client
    /// that numbers no answers (an original app) that is possible only if it
    /// has not taken the old request or has answered it; else this throws
    /// ``ShmemaphoreError/wrongState(_:)``.
    ///
    /// - Throws: ``ShmemaphoreError/wrongState(_:)`` (see above, or the
    ///   server is closed), ``ShmemaphoreError/tooLarge(_:)``, or
    ///   ``ShmemaphoreError/system(errno:operation:)`` (`ENOSPC`: /dev/shm
    ///   is full).
    public func send(request: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try core.sendRequest(request)
    }

    /// Sends `request`'s UTF-8 bytes (not NUL-terminated) without waiting.
    ///
    /// As ``send(request:)-(UnsafeRawBufferPointer)``, which says how an
    /// outstanding request is given up and what this throws.
    public func send(request: String) throws(ShmemaphoreError) {
        try withUTF8Bytes(of: request) { bytes throws(ShmemaphoreError) in try core.sendRequest(bytes) }
    }

    /// Waits for the response to the outstanding request.
    ///
    /// - Parameter timeout: nil waits forever.  On ``ShmemaphoreError/timeout``
    ///   or ``ShmemaphoreError/interrupted`` the request stays outstanding:
    ///   call this again to wait on, or send a new request to give it up.
    /// - Throws: ``ShmemaphoreError/peerError(code:message:)`` when the client
    ///   answered with an error response (the exchange is then complete).
    ///   ``ShmemaphoreError/peerGone`` when the client died (the request is
    ///   withdrawn; a new one may be sent for the next client).
    ///   ``ShmemaphoreError/wrongState(_:)`` when no request is outstanding,
    ///   ``ShmemaphoreError/protocolViolation(_:)`` when the peer broke the
    ///   protocol.  A cancelled Swift task ends the wait with
    ///   ``ShmemaphoreError/interrupted`` within 50 ms.
    /// - Returns: a response whose payload is valid until the next call on this server.
    public func receiveResponse(timeout: Duration? = nil) throws(ShmemaphoreError) -> Response {
        let received = try core.receiveResponse(timeout: timeout)
        if case .error(let code) = received.kind {
            throw .peerError(code: code, message: String(decoding: received.payload, as: UTF8.self))
        }
        return Response(metadata: received.metadata, kind: received.kind, payload: received.payload)
    }

    /// One round trip: send `request`'s UTF-8 bytes, wait for its response.
    ///
    /// ``send(request:)-(String)`` followed by ``receiveResponse(timeout:)``.
    /// After ``ShmemaphoreError/timeout`` or ``ShmemaphoreError/interrupted``
    /// the same call may simply be made again: it gives up the unanswered
    /// request and sends anew.
    ///
    /// - Parameters:
    ///   - request: the request, usually a name such as `"dog"`.
    ///   - timeout: how long to wait for the response; nil waits forever.
    /// - Throws: what the two calls throw; an error response as
    ///   ``ShmemaphoreError/peerError(code:message:)``.
    /// - Returns: the response, valid until the next call on this server.
    public func request(_ request: String, timeout: Duration? = nil) throws(ShmemaphoreError) -> Response {
        try send(request: request)
        return try receiveResponse(timeout: timeout)
    }

    /// One round trip with a binary request.
    ///
    /// As ``request(_:timeout:)-(String,_)``, with the request's bytes
    /// copied from `request`.
    ///
    /// - Parameters:
    ///   - request: the request bytes, copied; the buffer may be reused once this returns.
    ///   - timeout: how long to wait for the response; nil waits forever.
    /// - Returns: the response, valid until the next call on this server.
    public func request(_ request: UnsafeRawBufferPointer, timeout: Duration? = nil) throws(ShmemaphoreError) -> Response {
        try send(request: request)
        return try receiveResponse(timeout: timeout)
    }

    /// Removes the channel's four objects.  Further calls fail; idempotent.
    ///
    /// A waiting client then gets ``ShmemaphoreError/peerGone``.  Objects
    /// that a newer server put under the same names are left alone.  Every
    /// view this server handed out (``Response/payload``) becomes invalid.
    /// Deinit closes a server that was not closed.
    public func close() { core.close() }
}
