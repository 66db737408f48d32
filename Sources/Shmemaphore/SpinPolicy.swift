import Glibc

/// Decides, wait by wait, how to wait before sleeping in the kernel
/// (`WaitStrategy.adaptive`; docs/PERFORMANCE.md, "Waiting").
///
/// A blocking wait costs a futex sleep and a wake-up per turn on each side.
/// Two cheaper ways exist, each winning in one situation:
/// - **spin** (user space only) wins when the peer runs on another CPU and
///   answers within microseconds: the token arrives while this side still
///   runs, so neither side enters the kernel at all;
/// - **yield** (sched_yield) wins when the peer shares this CPU: it runs at
///   once instead of after a sleep, and its post finds no sleeper to wake.
/// Both lose when the peer works long before it answers.
///
/// The policy learns from outcomes.  It keeps the way that last won; a spin
/// that runs out of budget (or wins only late) makes the next wait try a
/// yield; a yield that wins only after several yields (each returned at once:
/// the peer runs elsewhere) goes back to spinning; a yield that runs out of
/// budget makes the next waits sleep at once, for 1, 3, 7, ... up to
/// `maximumSkips` waits, then it probes a spin again.  A probe costs at most
/// two budgets, spread over up to `maximumSkips` waits.
struct SpinPolicy {
    /// What the next wait does before it sleeps.
    enum Plan: Equatable {
        case sleep, spin, yield
        /// A short spin (`probeBudget`) while yielding is preferred: on two
        /// CPUs a yield also wins, but a spin wins sooner and without a
        /// system call, and only a spin can show that.
        case probe
    }

    /// Longest spin or yield phase, in nanoseconds: above a blocking wake-up
    /// (3-4 µs on one CPU of a 2-core VM), far below a lost time slice.
    static let budget: Int64 = 20_000
    /// A spin that gets the token later than this counts as a loss: a peer
    /// on another CPU answers a ping within a few microseconds, and a later
    /// win more likely means the peer took this CPU from us.
    static let quickWin: Int64 = 5_000
    /// A yield phase that needs more yields than this to get the token shows
    /// a peer on another CPU: with one on this CPU, the first yield runs it.
    static let sameCPUYields = 2
    /// Most yields in one yield phase (see `NamedSemaphore.yieldingWait`).
    static let maximumYields = 8
    /// Length of a `probe`: enough for a peer on another CPU to answer a ping,
    /// little enough to cost under 1 % when the peer shares this CPU.
    static let probeBudget: Int64 = 2_000
    /// Waits in yield mode between two probes.
    static let probeInterval = 64
    /// Most waits that sleep at once between two probes.
    static let maximumSkips = 1023

    /// False for `.blocking` and on a machine with a single CPU.
    private let enabled: Bool
    /// The way that won last.
    private var preferred = Plan.spin
    /// Waits left that sleep at once.
    private var skipsLeft = 0
    /// Waits to skip after the next loss (1, 3, 7, ...).
    private var nextSkips = 1
    /// Waits since yielding became preferred, for the periodic `probe`.
    private var yieldingWaits = 0

    init(strategy: WaitStrategy) {
        enabled = strategy == .adaptive && sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1
    }

    /// What the next wait should do first.
    mutating func plan() -> Plan {
        guard enabled else { return .sleep }
        if skipsLeft > 0 {
            skipsLeft -= 1
            return .sleep
        }
        if preferred == .yield {
            yieldingWaits += 1
            if yieldingWaits % Self.probeInterval == 0 { return .probe }
        }
        return preferred
    }

    /// How long a phase of `plan` may last.
    static func budget(of plan: Plan) -> Int64 {
        plan == .probe ? probeBudget : budget
    }

    /// Learns from a `plan` phase that took `elapsed` nanoseconds and
    /// `yields` yields, and got the token or not.
    mutating func record(_ plan: Plan, won: Bool, elapsed: Int64, yields: Int = 0) {
        switch plan {
        case .sleep:
            return
        case .probe:
            if won { preferred = .spin }
        case .spin where won && elapsed <= Self.quickWin, .yield where won && yields <= Self.sameCPUYields:
            nextSkips = 1
            preferred = plan
        case .spin:
            preferred = .yield
        case .yield where won:
            preferred = .spin
        case .yield:
            preferred = .spin
            skipsLeft = nextSkips
            nextSkips = min(nextSkips * 2 + 1, Self.maximumSkips)
        }
    }
}
