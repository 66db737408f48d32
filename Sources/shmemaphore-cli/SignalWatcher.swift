import Foundation
import Synchronization

/// Turns SIGINT and SIGTERM into a flag that long-running loops poll.
///
/// `startWatching()` blocks the signals in the calling thread (so in every
/// thread started afterwards) and starts one thread that takes them with
/// sigwait(2) and records them.  Nothing runs in signal-handler context, so
/// the loops can clean up normally: close the channel, stop child processes,
/// remove temporary files.  Every wait in the tool is bounded (a few hundred
/// milliseconds at most), so a signal takes effect quickly.
///
/// Call it before starting any thread or child process.  Child processes
/// started with Foundation.Process get a clean signal mask.
final class SignalWatcher: Sendable {
    /// The last signal received, or 0.
    private let lastSignal = Atomic<Int32>(0)

    private init() {}

    /// Blocks `signals` and starts the thread that waits for them.
    static func startWatching(_ signals: [Int32] = [SIGINT, SIGTERM]) -> SignalWatcher {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in signals { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        let watcher = SignalWatcher()
        let thread = Thread {
            var awaited = sigset_t()
            sigemptyset(&awaited)
            for signal in signals { sigaddset(&awaited, signal) }
            while true {
                var received: Int32 = 0
                if sigwait(&awaited, &received) == 0 {
                    watcher.lastSignal.store(received, ordering: .sequentiallyConsistent)
                }
            }
        }
        thread.name = "signal watcher"
        thread.start()
        return watcher
    }

    /// The signal that asked us to stop, if any arrived.
    var receivedSignal: Int32? {
        let signal = lastSignal.load(ordering: .sequentiallyConsistent)
        return signal == 0 ? nil : signal
    }

    /// True once SIGINT or SIGTERM arrived.
    var shouldStop: Bool { receivedSignal != nil }

    /// "SIGINT" or "SIGTERM", for messages.
    var receivedSignalName: String {
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
func ignoreBrokenPipes() {
    signal(SIGPIPE, SIG_IGN)
}
