// How a channel is opened: the options and the policies they choose.

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
    /// Before sleeping in the kernel, spin in user space (a peer on another
    /// CPU; at most 200 µs) or yield the CPU (a peer on this CPU; at most
    /// 20 µs); for a peer on another CPU that takes about as long every
    /// turn, sleep with a timer until shortly before its answer is due, then
    /// spin (200 µs to 2 ms); each for as long as recent waits show that it pays
    /// (`SpinPolicy`; docs/PERFORMANCE.md, "Waiting").  The default.
    case adaptive
    /// Always sleep in the kernel at once: no CPU time spent waiting, at the
    /// cost of a wake-up per turn.
    case blocking
}

/// How a channel is opened.  The defaults are safe: owner-only objects, reset
/// of stale state, a 5 s wait for the server.
///
/// Start from the defaults and change fields:
///
/// ```swift
/// var options = ChannelOptions()
/// options.mode = 0o660                    // let the group's processes attach
/// options.waitStrategy = .blocking        // never spin while waiting
/// let server = try ShmemaphoreServer(channel: "tensors", options: options)
/// ```
///
/// Each option applies to the side that sets it; the two sides of a
/// channel may choose differently.  The C API's `shmemaphore_options` holds
/// the same settings (`flags` for the Booleans and the wait strategy).
public struct ChannelOptions: Sendable, Equatable {
    /// Client only: how long to wait for the server's segments; nil waits forever.
    public var attachTimeout: Duration? = .seconds(5)
    /// Permission bits of created objects, applied regardless of umask.
    /// Only owner and group bits are allowed.
    ///
    /// The owner must have read and write: 0o600 (the default) or 0o660
    /// (grants the group) are the usual values.  A mode with bits for others,
    /// or without the owner's read and write, makes opening throw
    /// ``ShmemaphoreError/invalidArgument(_:)``.
    public var mode: UInt32 = 0o600
    /// Server only: what to do with objects left by a crashed run.
    public var stalePolicy: StalePolicy = .reset
    /// Attach to objects owned by another user.
    ///
    /// Off by default: an object of another user is refused with
    /// ``ShmemaphoreError/unsafePermissions(_:)`` (docs/SECURITY.md).
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

    /// The defaults: a 5 s attach timeout, mode 0o600, ``StalePolicy/reset``,
    /// own objects only, ``WaitStrategy/adaptive``, trusted lock-holding peers.
    public init() {}

    /// Rejects modes with bits for others or beyond 0o777.
    func validate() throws(ShmemaphoreError) {
        guard mode & ~0o770 == 0, mode & 0o600 == 0o600 else {
            throw .invalidArgument("mode \(String(mode, radix: 8)) must give the owner read and write and nothing to others (e.g. 600 or 660)")
        }
    }
}
