/// A validated channel name and the four POSIX object names derived from it.
///
/// The derivation is the original apps': `/SEM_N_REQ`, `/SEM_N_RES`,
/// `/SEG_N_HEAD`, `/SEG_N_DATA` (docs/PROTOCOL.md, "Object names").  The
/// originals also turned every `/` into `_`, so that "a/b" and "a_b" shared
/// one set of objects; libshmemaphore refuses such aliases instead: one
/// leading `/` is dropped, as in a POSIX object name ("/ibis" is the channel
/// "ibis", the original apps' channel), and a `/` anywhere else is an error.
public struct ChannelName: Hashable, Sendable, CustomStringConvertible {
    /// Longest name accepted, in bytes, after the leading `/` is dropped
    /// (SHMEMAPHORE_CHANNEL_NAME_MAX).  With the longest prefix and suffix
    /// the object names stay well under NAME_MAX (255).
    public static let maximumLength = 200

    /// The name, without the leading `/` it may have been given with.
    public let name: String
    /// POSIX name of the semaphore the server posts after writing a request.
    public let requestSemaphore: String
    /// POSIX name of the semaphore the client posts after writing a response.
    public let responseSemaphore: String
    /// POSIX name of the small segment of `uint64_t` metadata.
    public let headerSegment: String
    /// POSIX name of the grow-only payload segment.
    public let dataSegment: String

    /// Validates `name`: an optional leading `/`, then 1...200 bytes of
    /// UTF-8 with no control characters and no `/`.
    ///
    /// - Throws: ``ShmemaphoreError/invalidName(_:)``, saying what is wrong.
    public init(_ name: String) throws(ShmemaphoreError) {
        var bytes = Array(name.utf8)
        if bytes.first == UInt8(ascii: "/") { bytes.removeFirst() }
        guard !bytes.isEmpty else { throw .invalidName("the channel name is empty") }
        guard bytes.count <= Self.maximumLength else {
            throw .invalidName("the channel name is \(bytes.count) bytes long; at most \(Self.maximumLength) are allowed")
        }
        if let bad = bytes.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw .invalidName("the channel name contains the control character 0x\(String(bad, radix: 16))")
        }
        guard !bytes.contains(UInt8(ascii: "/")) else {
            throw .invalidName("the channel name contains '/' after its first byte; object names cannot hold it, and the original apps' '_' for it would make \"a/b\" and \"a_b\" one channel: use '_', '-' or '.'")
        }
        let canonical = String(decoding: bytes, as: UTF8.self)
        self.name = canonical
        self.requestSemaphore = ChannelObject.requestSemaphore.posixName(canonical)
        self.responseSemaphore = ChannelObject.responseSemaphore.posixName(canonical)
        self.headerSegment = ChannelObject.header.posixName(canonical)
        self.dataSegment = ChannelObject.data.posixName(canonical)
    }

    /// Where glibc keeps a POSIX segment on Linux: /dev/shm/NAME (NAME without its slash).
    ///
    /// `posixName` is a segment name such as ``headerSegment``; the result
    /// is only a path, whether or not the segment exists.
    public static func filesystemPath(ofSegment posixName: String) -> String { ChannelInspector.directory + posixName }
    /// Where glibc keeps a POSIX named semaphore on Linux: /dev/shm/sem.NAME.
    ///
    /// `posixName` is a semaphore name such as ``requestSemaphore``, with
    /// its leading slash.
    public static func filesystemPath(ofSemaphore posixName: String) -> String {
        ChannelInspector.directory + "/" + ChannelObject.semaphoreFilePrefix + posixName.dropFirst()
    }

    /// The four objects' paths under /dev/shm, in the order semaphores then segments.
    public var filesystemPaths: [String] {
        [
            Self.filesystemPath(ofSemaphore: requestSemaphore), Self.filesystemPath(ofSemaphore: responseSemaphore),
            Self.filesystemPath(ofSegment: headerSegment), Self.filesystemPath(ofSegment: dataSegment),
        ]
    }

    /// The channel name itself (``name``), as it prints.
    public var description: String { name }
}
