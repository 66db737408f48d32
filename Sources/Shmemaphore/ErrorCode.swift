import CShmemaphoreShims
import Glibc

/// The stable status codes of `include/shmemaphore.h`, with their names and
/// descriptions as static strings (the C API hands these out as pointers).
///
/// ``ShmemaphoreError/code`` is one of these, or `-errno` for a system
/// error.  The codes never change between versions.  All members are
/// constants; ``name(of:)`` and ``description(of:)`` are thread-safe.
public enum ErrorCode {
    /// SHMEMAPHORE_OK: success (never the code of a ``ShmemaphoreError``).
    public static let ok: Int32 = 0
    /// SHMEMAPHORE_ERRNO_MAX: codes above `-errnoLimit` and below 0 are `-errno`.
    public static let errnoLimit: Int32 = 1000
    /// SHMEMAPHORE_E_INTERRUPTED: -EINTR, so that C callers may test either.
    public static let interrupted: Int32 = -EINTR
    /// SHMEMAPHORE_E_INVALID_ARGUMENT (-1001): ``ShmemaphoreError/invalidArgument(_:)``.
    public static let invalidArgument: Int32 = -1001
    /// SHMEMAPHORE_E_INVALID_NAME (-1002): ``ShmemaphoreError/invalidName(_:)``.
    public static let invalidName: Int32 = -1002
    /// SHMEMAPHORE_E_TIMEOUT (-1003): ``ShmemaphoreError/timeout``.
    public static let timeout: Int32 = -1003
    /// SHMEMAPHORE_E_PROTOCOL (-1004): ``ShmemaphoreError/protocolViolation(_:)``.
    public static let protocolViolation: Int32 = -1004
    /// SHMEMAPHORE_E_PEER_ERROR (-1005): ``ShmemaphoreError/peerError(code:message:)``.
    public static let peerError: Int32 = -1005
    /// SHMEMAPHORE_E_PEER_GONE (-1006): ``ShmemaphoreError/peerGone``.
    public static let peerGone: Int32 = -1006
    /// SHMEMAPHORE_E_WRONG_ROLE (-1007): ``ShmemaphoreError/wrongRole(_:)``.
    public static let wrongRole: Int32 = -1007
    /// SHMEMAPHORE_E_WRONG_STATE (-1008): ``ShmemaphoreError/wrongState(_:)``.
    public static let wrongState: Int32 = -1008
    /// SHMEMAPHORE_E_EXISTS (-1009): ``ShmemaphoreError/exists(_:)``.
    public static let exists: Int32 = -1009
    /// SHMEMAPHORE_E_IMAGE_DECODE (-1010): ``ShmemaphoreError/imageDecode(_:)``.
    public static let imageDecode: Int32 = -1010
    /// SHMEMAPHORE_E_IMAGE_ENCODE (-1011): ``ShmemaphoreError/imageEncode(_:)``.
    public static let imageEncode: Int32 = -1011
    /// SHMEMAPHORE_E_UNSUPPORTED_FORMAT (-1012): ``ShmemaphoreError/unsupportedFormat(_:)``.
    public static let unsupportedFormat: Int32 = -1012
    /// SHMEMAPHORE_E_NOT_IMAGE (-1013): ``ShmemaphoreError/notImage``.
    public static let notImage: Int32 = -1013
    /// SHMEMAPHORE_E_TOO_LARGE (-1014): ``ShmemaphoreError/tooLarge(_:)``.
    public static let tooLarge: Int32 = -1014
    /// SHMEMAPHORE_E_UNSAFE_PERMISSIONS (-1015): ``ShmemaphoreError/unsafePermissions(_:)``.
    public static let unsafePermissions: Int32 = -1015
    /// SHMEMAPHORE_E_BUSY (-1016): ``ShmemaphoreError/busy(_:)``.
    public static let busy: Int32 = -1016

    /// Static name and description of each library code, in code order
    /// starting at -1001.  StaticString so the C layer can return pointers
    /// that live for the whole process.
    static let table: [(name: StaticString, description: StaticString)] = [
        ("SHMEMAPHORE_E_INVALID_ARGUMENT", "invalid argument"),
        ("SHMEMAPHORE_E_INVALID_NAME", "invalid channel name"),
        ("SHMEMAPHORE_E_TIMEOUT", "timed out waiting for the peer"),
        ("SHMEMAPHORE_E_PROTOCOL", "protocol violation by the peer"),
        ("SHMEMAPHORE_E_PEER_ERROR", "the peer answered with an error"),
        ("SHMEMAPHORE_E_PEER_GONE", "the peer is gone (it closed the channel or its process died)"),
        ("SHMEMAPHORE_E_WRONG_ROLE", "operation not allowed in this role"),
        ("SHMEMAPHORE_E_WRONG_STATE", "operation not allowed in the channel's current state"),
        ("SHMEMAPHORE_E_EXISTS", "channel objects already exist"),
        ("SHMEMAPHORE_E_IMAGE_DECODE", "image could not be decoded"),
        ("SHMEMAPHORE_E_IMAGE_ENCODE", "image could not be encoded or written"),
        ("SHMEMAPHORE_E_UNSUPPORTED_FORMAT", "unsupported image format or shape"),
        ("SHMEMAPHORE_E_NOT_IMAGE", "the payload is not an image"),
        ("SHMEMAPHORE_E_TOO_LARGE", "size too large"),
        ("SHMEMAPHORE_E_UNSAFE_PERMISSIONS", "object has unsafe owner or permissions"),
        ("SHMEMAPHORE_E_BUSY", "the channel is taken: another client is attached, or a live server holds it"),
    ]

    private static func libraryEntry(_ code: Int32) -> (name: StaticString, description: StaticString)? {
        let index = Int(invalidArgument) - Int(code)
        return table.indices.contains(index) ? table[index] : nil
    }

    /// Static, NUL-terminated symbolic name of any code.
    package static func namePointer(of code: Int32) -> UnsafePointer<CChar> {
        if code == ok { return StaticString("SHMEMAPHORE_OK").cPointer }
        if let entry = libraryEntry(code) { return entry.name.cPointer }
        if code < 0, code > -errnoLimit, let name = shmemaphore_shim_errno_name(-code) { return name }
        return StaticString("SHMEMAPHORE_E_UNKNOWN").cPointer
    }

    /// Static, NUL-terminated description of any code.
    package static func descriptionPointer(of code: Int32) -> UnsafePointer<CChar> {
        if code == ok { return StaticString("success").cPointer }
        if code == interrupted {
            return StaticString("interrupted (a signal handler ran, or shmemaphore_interrupt was called); the call may be made again").cPointer
        }
        if let entry = libraryEntry(code) { return entry.description.cPointer }
        if code < 0, code > -errnoLimit { return shmemaphore_shim_errno_description(-code) }
        return StaticString("unknown status code").cPointer
    }

    /// Symbolic name of any code, as a Swift string.
    ///
    /// `"SHMEMAPHORE_E_TIMEOUT"` for ``timeout``, `"ENOENT"` for `-ENOENT`,
    /// `"SHMEMAPHORE_E_UNKNOWN"` for a code that means nothing.
    public static func name(of code: Int32) -> String { String(cString: namePointer(of: code)) }

    /// Description of any code, as a Swift string.
    ///
    /// One English phrase, as `shmemaphore_strerror` returns it; also for
    /// unknown codes.
    public static func description(of code: Int32) -> String { String(cString: descriptionPointer(of: code)) }
}

extension StaticString {
    /// The string's storage as a C string; StaticString literals are NUL-terminated.
    var cPointer: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
