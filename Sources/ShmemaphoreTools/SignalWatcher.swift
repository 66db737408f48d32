import Glibc
import Shmemaphore
import Synchronization

/// Turns SIGINT and SIGTERM into a flag that long-running loops poll, and
/// into an interrupt of the channels that commands register.
///
/// `startWatching()` blocks the signals in the calling thread (so in every
/// thread started afterwards) and starts one thread that takes them with
/// sigwait(2), records them and interrupts every registered channel
/// (`interruptOnSignal`), whose wait then ends at once with
/// `ShmemaphoreError.interrupted`.  Nothing runs in signal-handler context,
/// so the loops can clean up normally: close the channel, stop child
/// processes, remove temporary files.
///
/// Call it before starting any thread or child process.  Child processes
/// started with ChildProcess get a clean signal mask.
package final class SignalWatcher: Sendable {
    /// The last signal received, or 0.
    private let lastSignal = Atomic<Int32>(0)
    /// The channels whose waits a signal ends.
    private let interrupters = Mutex<[ChannelInterrupter]>([])
    private let signals: [Int32]

    private init(signals: [Int32]) { self.signals = signals }

    /// Blocks `signals` and starts the thread that waits for them.
    package static func startWatching(_ signals: [Int32] = [SIGINT, SIGTERM]) -> SignalWatcher {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in signals { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        let watcher = SignalWatcher(signals: signals)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(watcher).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            Unmanaged<SignalWatcher>.fromOpaque(context!).takeRetainedValue().watch()
        }, context)
        precondition(started == 0, "cannot start the signal watcher thread (error \(started))")
        pthread_detach(thread)
        return watcher
    }

    /// The watcher thread's body: never returns.
    private func watch() -> Never {
        var awaited = sigset_t()
        sigemptyset(&awaited)
        for signal in signals { sigaddset(&awaited, signal) }
        while true {
            var received: Int32 = 0
            if sigwait(&awaited, &received) == 0 {
                lastSignal.store(received, ordering: .sequentiallyConsistent)
                for interrupter in interrupters.withLock({ $0 }) { interrupter.interrupt() }
            }
        }
    }

    /// From now on, a signal also ends the current (or next) wait of the
    /// channel `interrupter` belongs to.  A signal that came already does too.
    package func interruptOnSignal(_ interrupter: ChannelInterrupter) {
        interrupters.withLock { $0.append(interrupter) }
        if shouldStop { interrupter.interrupt() }
    }

    /// The signal that asked us to stop, if any arrived.
    package var receivedSignal: Int32? {
        let signal = lastSignal.load(ordering: .sequentiallyConsistent)
        return signal == 0 ? nil : signal
    }

    /// True once SIGINT or SIGTERM arrived.
    package var shouldStop: Bool { receivedSignal != nil }

    /// "SIGINT" or "SIGTERM", for messages.
    package var receivedSignalName: String {
        switch receivedSignal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case let other?: return "signal \(other)"
        case nil: return "no signal"
        }
    }
}

/// Makes writes to a closed pipe fail with EPIPE instead of killing the
/// process, so that `shmemaphore server | head` still closes its channel.
package func ignoreBrokenPipes() {
    signal(SIGPIPE, SIG_IGN)
}
