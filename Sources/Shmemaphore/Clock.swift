import CShmemaphoreShims
import Glibc

/// A point on the monotonic clock (CLOCK_MONOTONIC), in nanoseconds.
///
/// Deadlines are absolute so that a wait interrupted and restarted (EINTR,
/// liveness checks between slices) never waits longer than asked.
struct MonotonicInstant: Comparable, Sendable {
    var nanoseconds: Int64

    static func now() -> MonotonicInstant { reading(CLOCK_MONOTONIC) }

    /// The monotonic clock at tick resolution (CLOCK_MONOTONIC_COARSE, a few
    /// milliseconds): a plain memory read in the vDSO, several times cheaper
    /// than `now()` on a VM.  For intervals far longer than a tick (the 50 ms
    /// trust window); never for a caller's timeout.
    static func coarseNow() -> MonotonicInstant { reading(CLOCK_MONOTONIC_COARSE) }

    private static func reading(_ clock: clockid_t) -> MonotonicInstant {
        var time = timespec()
        clock_gettime(clock, &time)  // cannot fail: a clock the kernel has, a valid pointer
        return MonotonicInstant(nanoseconds: Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec))
    }

    static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    func advanced(byNanoseconds delta: Int64) -> MonotonicInstant {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(delta)
        return MonotonicInstant(nanoseconds: overflow ? .max : sum)
    }

    var seconds: Int64 { nanoseconds / 1_000_000_000 }
    var nanosecondsOfSecond: Int64 { nanoseconds % 1_000_000_000 }
}

/// When a wait gives up: never, or at a monotonic instant.
struct Deadline: Sendable {
    /// nil: wait forever.
    var instant: MonotonicInstant?

    /// A deadline `timeout` from now; nil means infinite.
    init(timeout: Duration?) {
        self.init(timeout: timeout, from: .now())
    }

    /// A deadline `timeout` after `start` (a clock reading the caller already has).
    init(timeout: Duration?, from start: MonotonicInstant) {
        guard let timeout else { self.instant = nil; return }
        let components = timeout.components
        let nanoseconds: Int64
        if components.seconds < 0 || (components.seconds == 0 && components.attoseconds <= 0) {
            nanoseconds = 0
        } else if components.seconds >= Int64.max / 1_000_000_000 - 1 {
            self.instant = nil
            return
        } else {
            nanoseconds = components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
        }
        self.instant = start.advanced(byNanoseconds: nanoseconds)
    }

    init(instant: MonotonicInstant?) { self.instant = instant }

    var hasPassed: Bool {
        guard let instant else { return false }
        return MonotonicInstant.now() >= instant
    }

    /// The earlier of this deadline and `other`.
    func clamped(to other: MonotonicInstant) -> MonotonicInstant {
        guard let instant else { return other }
        return min(instant, other)
    }
}

/// Sleeps for `nanoseconds` (a poll interval), ending early with
/// `interrupted` when a signal handler runs in this thread, when an
/// interrupt is pending for channel `interruptID` (0: none yet), or when the
/// current task is cancelled.
func pause(nanoseconds: Int64, interruptID: UInt64 = 0) throws(ShmemaphoreError) {
    try checkInterrupted(interruptID)
    var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    // EINTR is an answer here, not a failure to retry: a signal handler ran.
    if case .failure(let error) = valueOrErrno(retryOnInterrupt: false, { nanosleep(&request, nil) }) {
        throw error.rawValue == EINTR ? .interrupted : error.error("nanosleep")
    }
    try checkInterrupted(interruptID)
}

/// Throws `interrupted` (taking the interrupt) when one is pending for
/// channel `interruptID`, or when the current Swift task is cancelled.
/// A memory read and a thread-local read: no system call.
@inline(__always)
func checkInterrupted(_ interruptID: UInt64) throws(ShmemaphoreError) {
    if interruptID != 0 && shmemaphore_shim_interrupt_take(interruptID) != 0 { throw .interrupted }
    if Task.isCancelled { throw .interrupted }
}
