/// The requester side of a channel, for Swift programs.
///
/// ```swift
/// let server = try ShmemaphoreServer(channel: "ibis")
/// let response = try server.request("dog", timeout: .seconds(5))
/// print(response.metadata.width, response.metadata.height)
/// ```
/// Creating it creates (or resets) the channel; `close()` or deinit removes
/// all four objects.  Not thread-safe: use one thread at a time.
public final class ShmemaphoreServer {
    package let core: ServerEngine

    /// Creates channel `channel` as its server (see ``ChannelOptions``).
    public init(channel: String, options: ChannelOptions = ChannelOptions()) throws(ShmemaphoreError) {
        core = try ServerEngine.openServer(ChannelName(channel), options: options)
    }

    /// The channel's name and object names.
    public var channel: ChannelName { core.name }

    /// Ends this channel's current or next wait with
    /// ``ShmemaphoreError/interrupted``, from any thread or a signal handler.
    public var interrupter: ChannelInterrupter { ChannelInterrupter(id: core.interruptID) }

    /// Sends a request without waiting for the response.
    ///
    /// A request still outstanding (its receive timed out or was
    /// interrupted) is given up first: its late answer is never returned for
    /// this one (docs/PROTOCOL.md, "Giving up a request").  With a client
    /// that numbers no answers (an original app) that is possible only if it
    /// has not taken the old request or has answered it; else this throws
    /// ``ShmemaphoreError/wrongState(_:)``.
    public func send(request: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try core.sendRequest(request)
    }

    /// Sends `request`'s UTF-8 bytes (not NUL-terminated) without waiting.
    public func send(request: String) throws(ShmemaphoreError) {
        try withUTF8Bytes(of: request) { bytes throws(ShmemaphoreError) in try core.sendRequest(bytes) }
    }

    /// Waits for the response to the outstanding request.
    ///
    /// - Parameter timeout: nil waits forever.  On ``ShmemaphoreError/timeout``
    ///   or ``ShmemaphoreError/interrupted`` the request stays outstanding:
    ///   call this again to wait on, or send a new request to give it up.
    /// - Throws: ``ShmemaphoreError/peerError(code:message:)`` when the client
    ///   answered with an error response.
    /// - Returns: a response whose payload is valid until the next call on this server.
    public func receiveResponse(timeout: Duration? = nil) throws(ShmemaphoreError) -> Response {
        let received = try core.receiveResponse(timeout: timeout)
        if case .error(let code) = received.kind {
            throw .peerError(code: code, message: String(decoding: received.payload, as: UTF8.self))
        }
        return Response(metadata: received.metadata, kind: received.kind, payload: received.payload)
    }

    /// One round trip: send `request`, wait for its response.
    public func request(_ request: String, timeout: Duration? = nil) throws(ShmemaphoreError) -> Response {
        try send(request: request)
        return try receiveResponse(timeout: timeout)
    }

    /// One round trip with a binary request.
    public func request(_ request: UnsafeRawBufferPointer, timeout: Duration? = nil) throws(ShmemaphoreError) -> Response {
        try send(request: request)
        return try receiveResponse(timeout: timeout)
    }

    /// Removes the channel's four objects.  Further calls fail; idempotent.
    public func close() { core.close() }
}
