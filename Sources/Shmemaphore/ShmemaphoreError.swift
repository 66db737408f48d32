import CShmemaphoreShims
import Glibc

/// Everything that can go wrong in libshmemaphore, as one typed error.
///
/// Each case has a stable integer ``code`` that the C API returns unchanged
/// (see `include/shmemaphore.h`): system errors are `-errno`, the library's
/// own errors are at or below -1001.
///
/// Every throwing call of the Swift API uses typed throws, so a `catch`
/// clause sees a `ShmemaphoreError` and can match its cases:
///
/// ```swift
/// do {
///     let response = try server.request("dog", timeout: .seconds(5))
///     try response.saveImage(to: "dog.png")
/// } catch .peerError(let code, let message) {
///     print("the client answered with error \(code): \(message)")
/// } catch .timeout {
///     // the request is still outstanding: wait again, or send another one
/// } catch {
///     print(error)                       // one sentence: `description`
/// }
/// ```
///
/// ``timeout`` and ``interrupted`` leave the channel usable: the same call
/// may be made again.
public enum ShmemaphoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed; `operation` names it and the object it acted on.
    ///
    /// ``code`` is `-errno`: for example `ENOSPC` when /dev/shm is full,
    /// `ENOENT` or `EACCES` for a file, `ELOOP` when an object is a symlink.
    case system(errno: Int32, operation: String)
    /// A pointer was NULL, a size impossible, or options malformed.
    case invalidArgument(String)
    /// The channel name cannot form the four POSIX object names.
    case invalidName(String)
    /// The peer did not act before the deadline; the call may be repeated.
    case timeout
    /// The peer left shared memory in a state that breaks the protocol.
    case protocolViolation(String)
    /// The client answered with an error response.
    ///
    /// `code` and `message` are what the client passed to
    /// ``ShmemaphoreClient/sendError(code:message:)`` (``PeerErrorCode``
    /// suggests codes).  The exchange is complete: the server may send its
    /// next request.
    case peerError(code: UInt64, message: String)
    /// The peer is gone: the server closed the channel, or the peer's
    /// process died.
    ///
    /// A client gets it once from ``ShmemaphoreClient/receiveRequest(timeout:)``;
    /// its next call waits for a new server on the same name.  A server
    /// gets it when its client died; its request is withdrawn and a new
    /// one may be sent for the next client.
    case peerGone
    /// The call belongs to the other role.
    case wrongRole(String)
    /// The call is not allowed in the channel's current state.
    case wrongState(String)
    /// The channel's objects exist and the options asked not to reset them.
    case exists(String)
    /// An image file could not be decoded.
    case imageDecode(String)
    /// An image could not be encoded or written.
    case imageEncode(String)
    /// The file extension or the image shape is not supported by the encoder.
    case unsupportedFormat(String)
    /// The response holds raw bytes or an error, not an image.
    case notImage
    /// A size overflowed 64 bits or does not fit the address space.
    case tooLarge(String)
    /// An object is owned by another user, writable beyond what is allowed, or not a regular file.
    case unsafePermissions(String)
    /// The channel is taken: another client is attached, or a live server holds it.
    case busy(String)
    /// A waiting call ended early: a signal handler ran in its thread, the
    /// channel's ``ChannelInterrupter`` was used, or the Swift task was
    /// cancelled.  The channel is as before the call: make it again to go on.
    case interrupted

    /// The stable status code that the C API returns for this error.
    public var code: Int32 {
        switch self {
        case .system(let code, _): return -code
        case .invalidArgument: return ErrorCode.invalidArgument
        case .invalidName: return ErrorCode.invalidName
        case .timeout: return ErrorCode.timeout
        case .protocolViolation: return ErrorCode.protocolViolation
        case .peerError: return ErrorCode.peerError
        case .peerGone: return ErrorCode.peerGone
        case .wrongRole: return ErrorCode.wrongRole
        case .wrongState: return ErrorCode.wrongState
        case .exists: return ErrorCode.exists
        case .imageDecode: return ErrorCode.imageDecode
        case .imageEncode: return ErrorCode.imageEncode
        case .unsupportedFormat: return ErrorCode.unsupportedFormat
        case .notImage: return ErrorCode.notImage
        case .tooLarge: return ErrorCode.tooLarge
        case .unsafePermissions: return ErrorCode.unsafePermissions
        case .busy: return ErrorCode.busy
        case .interrupted: return ErrorCode.interrupted
        }
    }

    /// One sentence for people: the code's description plus the detail.
    public var description: String {
        let summary = ErrorCode.description(of: code)
        switch self {
        case .system(_, let operation): return "\(operation): \(summary)"
        case .timeout, .peerGone, .notImage, .interrupted: return summary
        case .peerError(let code, let message):
            return "\(summary) (code \(code)\(message.isEmpty ? "" : ": \(message)"))"
        case .invalidArgument(let detail), .invalidName(let detail), .protocolViolation(let detail),
            .wrongRole(let detail), .wrongState(let detail), .exists(let detail),
            .imageDecode(let detail), .imageEncode(let detail), .unsupportedFormat(let detail),
            .tooLarge(let detail), .unsafePermissions(let detail), .busy(let detail):
            return "\(summary): \(detail)"
        }
    }
}
