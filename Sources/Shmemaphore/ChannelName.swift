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
        self.requestSemaphore = "/SEM_\(canonical)_REQ"
        self.responseSemaphore = "/SEM_\(canonical)_RES"
        self.headerSegment = "/SEG_\(canonical)_HEAD"
        self.dataSegment = "/SEG_\(canonical)_DATA"
    }

    /// Where glibc keeps a POSIX segment on Linux: /dev/shm/NAME (NAME without its slash).
    public static func filesystemPath(ofSegment posixName: String) -> String { "/dev/shm" + posixName }
    /// Where glibc keeps a POSIX named semaphore on Linux: /dev/shm/sem.NAME.
    public static func filesystemPath(ofSemaphore posixName: String) -> String { "/dev/shm/sem." + posixName.dropFirst() }

    /// The four objects' paths under /dev/shm, in the order semaphores then segments.
    public var filesystemPaths: [String] {
        [
            Self.filesystemPath(ofSemaphore: requestSemaphore), Self.filesystemPath(ofSemaphore: responseSemaphore),
            Self.filesystemPath(ofSegment: headerSegment), Self.filesystemPath(ofSegment: dataSegment),
        ]
    }

    public var description: String { name }
}

/// What a server does with objects that a crashed earlier run left behind.
public enum StalePolicy: UInt32, Sendable {
    /// Drain both semaphores to 0 and replace both segments; a client already
    /// waiting on the semaphores keeps working.
    case reset = 0
    /// Refuse to open (``ShmemaphoreError/exists(_:)``) if any object exists.
    case fail = 1
}

/// How a side waits for its peer's semaphore post.
public enum WaitStrategy: Sendable, Equatable {
    /// Before sleeping in the kernel, spin briefly in user space (a peer on
    /// another CPU) or yield the CPU (a peer on this CPU), at most 20 µs, for
    /// as long as recent waits show that it pays (`SpinPolicy`).  The default.
    case adaptive
    /// Always sleep in the kernel at once: no CPU time spent waiting, at the
    /// cost of a wake-up per turn.
    case blocking
}

/// How a channel is opened.  The defaults are safe: owner-only objects, reset
/// of stale state, a 5 s wait for the server.
public struct ChannelOptions: Sendable, Equatable {
    /// Client only: how long to wait for the server's segments; nil waits forever.
    public var attachTimeout: Duration? = .seconds(5)
    /// Permission bits of created objects, applied regardless of umask.
    /// Only owner and group bits are allowed.
    public var mode: UInt32 = 0o600
    /// Server only: what to do with objects left by a crashed run.
    public var stalePolicy: StalePolicy = .reset
    /// Attach to objects owned by another user.
    public var allowForeignOwner = false
    /// How a side waits for its peer's post (docs/PERFORMANCE.md, "Waiting").
    public var waitStrategy: WaitStrategy = .adaptive
    /// For peers you do not trust to keep the protocol's promises (a peer
    /// that may shrink a segment, or a process that posts out of turn):
    /// check the segments' real size (fstat) and read HEAD with pread on
    /// every turn, even when the peer holds its liveness lock and has thereby
    /// promised never to shrink them (docs/PROTOCOL.md, "Trusted peers"), and
    /// hand every received payload over as a private copy, so that reading
    /// it cannot fault (docs/SECURITY.md).  Costs three system calls and one
    /// copy per round trip.
    public var untrustedPeer = false
    /// The former name of ``untrustedPeer``.
    @available(*, deprecated, renamed: "untrustedPeer")
    public var checkSegmentsEveryTurn: Bool {
        get { untrustedPeer }
        set { untrustedPeer = newValue }
    }
    /// Plays a peer that knows only the original protocol, for tests and
    /// conformance tools: takes no liveness lock and trusts no peer.
    package var emulatesOriginalPeer = false

    /// The defaults.
    public init() {}

    /// Rejects modes with bits for others or beyond 0o777.
    func validate() throws(ShmemaphoreError) {
        guard mode & ~0o770 == 0, mode & 0o600 == 0o600 else {
            throw .invalidArgument("mode \(String(mode, radix: 8)) must give the owner read and write and nothing to others (e.g. 600 or 660)")
        }
    }
}
