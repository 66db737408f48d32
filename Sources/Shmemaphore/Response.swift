/// A response the server received.
public struct Response {
    /// The four header words as on the wire.
    public let metadata: ResponseMetadata
    /// Image or opaque bytes (error responses are thrown, not returned).
    public let kind: PayloadKind
    /// The payload, in place in shared memory: valid until the next call on
    /// the server that returned it.  Copy it (``bytes``) to keep it.
    public let payload: UnsafeRawBufferPointer

    /// A copy of the payload.
    public var bytes: [UInt8] { Array(payload) }

    /// Saves an image response as PNG, JPEG, BMP or TGA by `path`'s extension.
    public func saveImage(to path: String) throws(ShmemaphoreError) {
        try ImageCodec.save(metadata, pixels: payload, to: path)
    }
}
