/// A response the server received.
///
/// Returned by ``ShmemaphoreServer/receiveResponse(timeout:)`` and
/// ``ShmemaphoreServer/request(_:timeout:)-(String,_)``.  It is an image
/// (``PayloadKind/image``: ``ResponseMetadata/width`` ×
/// ``ResponseMetadata/height`` × ``ResponseMetadata/channels`` 8-bit
/// samples, interleaved, row by row) or opaque bytes (``PayloadKind/bytes``);
/// error responses are thrown as ``ShmemaphoreError/peerError(code:message:)``.
///
/// A response does not own its payload: ``payload`` is a view into the
/// channel's shared memory (or, with ``ChannelOptions/untrustedPeer``, into
/// the server's private copy), valid until the next call on the server
/// that returned it or its close.  Copy what you keep (``bytes``) and do
/// not hand a response to another thread that outlives that call.
public struct Response {
    /// The four header words as on the wire.
    public let metadata: ResponseMetadata
    /// Image or opaque bytes (error responses are thrown, not returned).
    public let kind: PayloadKind
    /// The payload, in place in shared memory: valid until the next call on
    /// the server that returned it.  Copy it (``bytes``) to keep it.
    public let payload: UnsafeRawBufferPointer

    /// A copy of the payload, yours to keep after the next call.
    public var bytes: [UInt8] { Array(payload) }

    /// Saves an image response as PNG, JPEG, BMP or TGA by `path`'s extension.
    ///
    /// The extension is matched case-insensitively (``ImageCodec/Format``);
    /// JPEG uses quality ``ImageCodec/jpegQuality``.  An existing file is
    /// replaced.  Call it while ``payload`` is still valid.
    ///
    /// - Throws: ``ShmemaphoreError/notImage`` (a bytes response),
    ///   ``ShmemaphoreError/unsupportedFormat(_:)`` (no known extension, or
    ///   a shape the format cannot hold), or
    ///   ``ShmemaphoreError/imageEncode(_:)``.
    public func saveImage(to path: String) throws(ShmemaphoreError) {
        try ImageCodec.save(metadata, pixels: payload, to: path)
    }
}
