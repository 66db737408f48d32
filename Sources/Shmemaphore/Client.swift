/// The responder side of a channel, for Swift programs.
///
/// ```swift
/// let client = try ShmemaphoreClient(channel: "ibis")
/// while true {
///     let name = try client.receiveRequest()
///     try client.sendImageFile(atPath: "img/\(String(decoding: name, as: UTF8.self)).jpg")
/// }
/// ```
/// A client unlinks nothing: the server owns the channel's objects.
/// Not thread-safe: use one thread at a time.
public final class ShmemaphoreClient {
    package let core: ClientEngine

    /// Attaches to channel `channel`, waiting up to `options.attachTimeout`
    /// for its server.
    public init(channel: String, options: ChannelOptions = ChannelOptions()) throws(ShmemaphoreError) {
        core = try ClientEngine.openClient(ChannelName(channel), options: options)
    }

    /// The channel's name and object names.
    public var channel: ChannelName { core.name }

    /// Ends this channel's current or next wait with
    /// ``ShmemaphoreError/interrupted``, from any thread or a signal handler.
    public var interrupter: ChannelInterrupter { ChannelInterrupter(id: core.interruptID) }

    /// Waits for the next request.
    ///
    /// - Parameter timeout: nil waits forever.
    /// - Throws: ``ShmemaphoreError/peerGone`` once when the server closed the
    ///   channel or died; the next call waits (within its timeout) for a new
    ///   server on the same name and serves it.  ``ShmemaphoreError/interrupted``
    ///   when ``interrupter`` was used, a signal handler ran, or the task was
    ///   cancelled; call again to go on.
    /// - Returns: the request bytes in place in shared memory, valid until the
    ///   next call on this client (reserving a buffer overwrites them).
    public func receiveRequest(timeout: Duration? = nil) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
        try core.receiveRequest(timeout: timeout)
    }

    /// Answers with a copy of `payload` described by `metadata`.
    public func send(_ metadata: ResponseMetadata, payload: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try core.sendResponse(metadata, payload: payload)
    }

    /// Answers with opaque bytes.
    public func send(bytes: UnsafeRawBufferPointer) throws(ShmemaphoreError) {
        try core.sendResponse(.bytes(UInt64(bytes.count)), payload: bytes)
    }

    /// Answers with an error so that the server does not wait in vain.
    public func sendError(code: UInt64, message: String) throws(ShmemaphoreError) {
        try withUTF8Bytes(of: message) { bytes throws(ShmemaphoreError) in try core.sendError(code: code, message: bytes) }
    }

    /// Zero-copy answer: a writable buffer of `count` bytes inside shared
    /// memory, valid until ``commit(_:)`` or the next call.
    public func reserve(_ count: Int) throws(ShmemaphoreError) -> UnsafeMutableRawBufferPointer {
        guard count >= 0 else { throw .invalidArgument("cannot reserve \(count) bytes") }
        return try core.reserve(UInt64(count))
    }

    /// Publishes the first `metadata.bytes` reserved bytes.
    public func commit(_ metadata: ResponseMetadata) throws(ShmemaphoreError) {
        try core.commit(metadata)
    }

    /// Answers with the image file at `path`, decoded by stb.  Nothing is sent
    /// on failure: answer with ``sendError(code:message:)`` then.
    /// - Returns: the metadata of the image sent.
    @discardableResult
    public func sendImageFile(atPath path: String) throws(ShmemaphoreError) -> ResponseMetadata {
        try withCString(path) { cPath throws(ShmemaphoreError) in try core.sendImageFile(atCPath: cPath) }
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

/// Well-known error codes for ``ShmemaphoreClient/sendError(code:message:)``
/// (SHMEMAPHORE_PEER_ERROR_* in the C header).
public enum PeerErrorCode {
    public static let unspecified: UInt64 = 0
    public static let notFound: UInt64 = 1
    public static let badRequest: UInt64 = 2
}
