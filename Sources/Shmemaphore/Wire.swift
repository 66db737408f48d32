/// The protocol's byte layouts and the rules for telling payload kinds apart
/// (docs/PROTOCOL.md, "Layouts" and "Responses").  Pure functions: everything
/// the receive path parses from shared memory passes through here, so it can
/// be tested and fuzzed without any process or segment.
public enum Wire {
    /// Wire protocol version (SHMEMAPHORE_PROTOCOL_VERSION).
    public static let protocolVersion: UInt32 = 1
    /// Bytes of the request header: one `uint64_t` length.
    public static let requestHeaderSize = 8
    /// Bytes of the response header: four `uint64_t` words.
    public static let responseHeaderSize = 32
    /// Size our server gives a new header segment: the 32 bytes of either
    /// layout, then libshmemaphore's extension words (docs/PROTOCOL.md,
    /// "Trusted peers"), which peers that know only the original protocol
    /// never read.
    public static let headerSegmentSize = 64
    /// Offset in HEAD of the retired word: a server that replaces a channel
    /// sets it in the old HEAD, so that a client still mapping that HEAD
    /// notices without a system call.
    public static let retiredWordOffset = 32
    /// The retired word's value once the segment is replaced ("RETIRED!").
    public static let retiredMarker: UInt64 = 0x2144_4552_4954_4552
    /// Offset in HEAD of the request number: a libshmemaphore server numbers
    /// its requests 1, 2, 3, ... and writes the number last, just before it
    /// posts REQ (docs/PROTOCOL.md, "Exchange numbers").
    public static let requestNumberOffset = 40
    /// Offset in HEAD of the answer number: a libshmemaphore client writes the
    /// number of the request it answers, last, just before it posts RES.
    public static let answerNumberOffset = 48
    /// Bytes of HEAD that a server reads after a response: the four response
    /// words up to and including the answer number.
    public static let numberedResponseSize = answerNumberOffset + 8
    /// Size our server gives a new data segment: one page.
    public static let initialDataSegmentSize = 4096
    /// The channels word that marks an error response.
    public static let errorChannels = UInt64.max
    /// Byte of HEAD on which a live server holds an OFD lock (docs/PROTOCOL.md, "Liveness").
    public static let serverLivenessByte = 0
    /// Byte of HEAD on which a live client holds an OFD lock.
    public static let clientLivenessByte = 1
    /// Byte of HEAD that a client's lock also covers when the client numbers
    /// its answers (docs/PROTOCOL.md, "Exchange numbers"): its one lock then
    /// spans bytes 1-2.  A client that locks byte 1 only numbers none.
    public static let answerNumbersByte = 2
    /// Byte of HEAD on which a server that numbers its requests holds a
    /// second lock, taken before it creates DATA (docs/PROTOCOL.md,
    /// "Exchange numbers"): its client then knows that a request number
    /// of 0 means "no request yet", not "a server that numbers none".
    public static let requestNumbersByte = 3
}

/// The four words of a response header, exactly as on the wire.
///
/// The words tell the payload's kind (``kind()``): an image has `width`,
/// `height` and `channels` ≥ 1 and `bytes` == width × height × channels; raw
/// bytes have all three 0; an error has `channels` == ``Wire/errorChannels``
/// and its code in `width`.  Make them with ``image(width:height:channels:)``,
/// ``bytes(_:)`` or ``error(code:messageLength:)``, which keep these rules.
public struct ResponseMetadata: Equatable, Sendable {
    /// The payload's length in bytes (HEAD word 0).
    public var bytes: UInt64
    /// The image's width in pixels; 0 for raw bytes; the error code of an error response (word 1).
    public var width: UInt64
    /// The image's height in pixels; 0 for raw bytes and errors (word 2).
    public var height: UInt64
    /// Interleaved 8-bit channels per pixel (1 grey, 2 grey + alpha, 3 RGB,
    /// 4 RGBA); 0 for raw bytes; ``Wire/errorChannels`` for an error (word 3).
    public var channels: UInt64

    /// The four words as given, unchecked: ``kind()`` tells whether they
    /// are consistent (sending checks them too).
    public init(bytes: UInt64, width: UInt64, height: UInt64, channels: UInt64) {
        self.bytes = bytes
        self.width = width
        self.height = height
        self.channels = channels
    }

    /// Metadata of an image of `width` × `height` × `channels` 8-bit samples.
    ///
    /// - Throws: ``ShmemaphoreError/invalidArgument(_:)`` for a zero
    ///   dimension, ``ShmemaphoreError/tooLarge(_:)`` when the byte count
    ///   overflows 64 bits.
    public static func image(width: UInt64, height: UInt64, channels: UInt64) throws(ShmemaphoreError) -> ResponseMetadata {
        guard width > 0, height > 0, channels > 0 else {
            throw .invalidArgument("image shape \(width)×\(height)×\(channels) has a zero dimension")
        }
        let metadata = ResponseMetadata(bytes: 0, width: width, height: height, channels: channels)
        guard let bytes = metadata.imageByteCount else {
            throw .tooLarge("\(width) × \(height) × \(channels) overflows 64 bits")
        }
        return ResponseMetadata(bytes: bytes, width: width, height: height, channels: channels)
    }

    /// Metadata of `count` opaque bytes.
    public static func bytes(_ count: UInt64) -> ResponseMetadata {
        ResponseMetadata(bytes: count, width: 0, height: 0, channels: 0)
    }

    /// Metadata of an error response: `code` travels in the width word.
    public static func error(code: UInt64, messageLength: UInt64) -> ResponseMetadata {
        ResponseMetadata(bytes: messageLength, width: code, height: 0, channels: Wire.errorChannels)
    }

    /// width × height × channels, or nil when the product overflows 64 bits.
    public var imageByteCount: UInt64? {
        let (area, overflow1) = width.multipliedReportingOverflow(by: height)
        let (total, overflow2) = area.multipliedReportingOverflow(by: channels)
        return overflow1 || overflow2 ? nil : total
    }

    /// What kind of payload these words describe, or why they describe none.
    ///
    /// - Throws: ``ShmemaphoreError/protocolViolation(_:)`` for words that
    ///   describe no payload (a zero dimension, a byte count that is not
    ///   width × height × channels, an error with a nonzero height).
    public func kind() throws(ShmemaphoreError) -> PayloadKind {
        if channels == Wire.errorChannels {
            guard height == 0 else {
                throw .protocolViolation("error response with height \(height); it must be 0")
            }
            return .error(code: width)
        }
        if width == 0 && height == 0 && channels == 0 { return .bytes }
        guard width > 0, height > 0, channels > 0 else {
            throw .protocolViolation("image shape \(width)×\(height)×\(channels) has a zero dimension")
        }
        guard let expected = imageByteCount else {
            throw .protocolViolation("image shape \(width)×\(height)×\(channels) overflows 64 bits")
        }
        guard expected == bytes else {
            throw .protocolViolation("image of \(width)×\(height)×\(channels) = \(expected) bytes announces \(bytes) bytes")
        }
        return .image
    }

    /// Validates metadata a responder is about to publish (error responses
    /// have their own call, so the error marker is refused here).
    package func validateForSending() throws(ShmemaphoreError) {
        if channels == Wire.errorChannels {
            throw .invalidArgument("channels = UINT64_MAX marks error responses; send errors with the error call")
        }
        do {
            _ = try kind()
        } catch {
            if case .protocolViolation(let detail) = error { throw .invalidArgument(detail) }
            throw error
        }
    }

    /// Decodes the four words from the first 32 bytes of `buffer` (native byte order).
    package init(words buffer: UnsafeRawBufferPointer) {
        self.init(
            bytes: buffer.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
            width: buffer.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            height: buffer.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
            channels: buffer.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    /// The four words in wire order.
    var words: (UInt64, UInt64, UInt64, UInt64) { (bytes, width, height, channels) }
}

/// The three kinds of response payload.
public enum PayloadKind: Equatable, Sendable {
    /// 8-bit pixels, bytes == width × height × channels.
    case image
    /// Opaque bytes (width = height = channels = 0).
    case bytes
    /// An error response with the client's code; the payload is its UTF-8 message.
    case error(code: UInt64)
}

/// Checks a received header against the data segment's real size.
/// A header may never send a reader past the end of the segment.
package func checkPayloadFits(_ bytes: UInt64, dataSegmentSize: Int, what: String) throws(ShmemaphoreError) {
    guard bytes <= UInt64(max(dataSegmentSize, 0)) else {
        throw .protocolViolation("the \(what) header announces \(bytes) bytes but the data segment holds only \(dataSegmentSize)")
    }
}
