/// Well-known error codes for ``ShmemaphoreClient/sendError(code:message:)``
/// (SHMEMAPHORE_PEER_ERROR_* in the C header).
///
/// The code travels in the response's width word; any other value is
/// allowed, and its meaning is for the two applications to agree on.
public enum PeerErrorCode {
    /// The request failed (SHMEMAPHORE_PEER_ERROR_UNSPECIFIED).
    public static let unspecified: UInt64 = 0
    /// The requested name is unknown (SHMEMAPHORE_PEER_ERROR_NOT_FOUND).
    public static let notFound: UInt64 = 1
    /// The request is malformed (SHMEMAPHORE_PEER_ERROR_BAD_REQUEST).
    public static let badRequest: UInt64 = 2
}
