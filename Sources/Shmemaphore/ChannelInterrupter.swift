import CShmemaphoreShims

/// Ends a channel's wait from another thread, or from a signal handler.
///
/// ```swift
/// let server = try ShmemaphoreServer(channel: "ibis")
/// let interrupter = server.interrupter            // Sendable: hand it to another thread
/// // elsewhere: interrupter.interrupt()
/// // here: try server.request("dog") throws ShmemaphoreError.interrupted
/// ```
/// An interrupt ends the wait in progress at once, or, when none is in
/// progress, the next call that has to wait (each interrupt ends one wait).
/// The channel stays as it was: make the same call again to go on.
/// A signal handler that runs in the waiting thread ends its wait by itself
/// (`interrupted`); cancelling the Swift task a wait runs in ends it within
/// one wait slice (50 ms).
///
/// Get one from ``ShmemaphoreServer/interrupter`` or
/// ``ShmemaphoreClient/interrupter``.  It is a plain value that names the
/// channel's interrupt cell, not a reference to the channel: it neither
/// keeps the channel alive nor becomes dangerous when the channel goes away
/// (once its server or client is deinitialized, or its C handle closed,
/// ``interrupt()`` returns false and does nothing; cells are never reused
/// for another channel).
public struct ChannelInterrupter: Sendable, Hashable {
    /// The channel's interrupt cell (`ChannelLink.interruptID`).
    package let id: UInt64

    package init(id: UInt64) { self.id = id }

    /// Interrupts the channel's current or next wait.  Thread-safe and
    /// async-signal-safe (atomic operations and one futex wake-up, no lock,
    /// no allocation).  Returns false when the channel is gone: its server
    /// or client deinitialized, or its C handle closed (after
    /// ``ShmemaphoreServer/close()`` alone it still returns true, and the
    /// closed channel's calls fail anyway).
    @discardableResult
    public func interrupt() -> Bool {
        shmemaphore_shim_interrupt_raise(id) == 0
    }
}

extension ChannelInterrupter {
    /// How many channels a process may have open at once: one interrupt cell each.
    package static let cellCount = Int(SHMEMAPHORE_SHIM_INTERRUPT_CELLS)

    /// The cell of channel `id`, as an index below `cellCount`: open
    /// channels never share one, so it can index a table of them.
    package static func cellIndex(of id: UInt64) -> Int { Int(truncatingIfNeeded: id) & (cellCount - 1) }
}
