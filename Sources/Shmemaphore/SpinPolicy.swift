import Glibc

/// Decides, wait by wait, how to wait before sleeping in the kernel
/// (`WaitStrategy.adaptive`; docs/PERFORMANCE.md, "Waiting").
///
/// A blocking wait costs a futex sleep and a wake-up per turn on each side;
/// across CPUs the wake-up of an idle CPU is the larger cost (tens of
/// microseconds on a VM, where an idle virtual CPU halts).  Three cheaper
/// ways exist, each winning in one situation:
/// - **spin** (user space only) wins when the peer runs on another CPU and
///   answers within `spinBudget`: the token arrives while this side still
///   runs, so neither side enters the kernel at all;
/// - **yield** (sched_yield) wins when the peer shares this CPU: it runs at
///   once instead of after a sleep, and its post finds no sleeper to wake;
/// - **doze** wins when the peer runs on another CPU and works longer than
///   a spin budget, but for about as long each turn (a frame, an image): a
///   timed sleep that ends shortly before the token is due, then a spin.
///   The wake-up happens while the peer still works, its post finds no
///   sleeper, and the CPU spins only for the margin (the hybrid polling of
///   Linux's blk-mq and io_uring, which sleep for part of the expected
///   completion time, then poll).
///
/// The policy learns from outcomes.  It keeps the way that last won.  A spin
/// that gets the token without losing its CPU proves the peer runs on
/// another CPU, however long it took, and spinning goes on; a spin that runs
/// out of budget, or wins only after this thread was preempted (the peer ran
/// on this CPU meanwhile), makes the next wait try a yield; a yield that wins
/// only after several yields (each returned at once: the peer runs
/// elsewhere) goes back to spinning.  A yield that runs out of budget means
/// a slow peer: after `maximumYields` yields that each returned at once it
/// runs elsewhere, and the next waits doze; after fewer (a yield ran
/// something else for long: the peer shares this CPU, or other work does)
/// the next waits sleep at once, for 1, 3, 7, ... up to `maximumSkips`
/// waits, then it spins again.
///
/// A doze learns when the token comes as TCP learns a round-trip time
/// (RFC 6298): a smoothed arrival time after the wait began and its mean
/// deviation, with gains of 1/8 and 1/4, from the arrival measured in the
/// spin after a doze (exact), or estimated from the wake-up of a wait that
/// slept on after its spin ran out (one timer lateness too late: a cross-CPU
/// wake-up is about as late), or, for a doze that the token ended, from its
/// wake-up but no later than the doze's end.  The doze
/// ends two deviations (at least `dozeMargin`) and one timer lateness before
/// the expected arrival, and the spin after it lasts up to four deviations
/// (at least `spinBudget`).  A second doze in a row whose spin runs out
/// means a peer that is slow and irregular: the next waits sleep at once, as
/// after a yield that runs out.  An arrival expected within a spin budget
/// goes back to spinning.
///
/// The spin budget is long enough to cover the peer's wake-up from a sleep
/// and its turn after it: when one side sleeps, the other side's next wait
/// lasts that long, and a budget below it would make both sides sleep from
/// then on, each waking the other every turn (two cross-CPU wake-ups per
/// round trip).  With it, the side that spins wins late, keeps spinning,
/// and the pair is spinning again as soon as the sleeping side wakes.
struct SpinPolicy {
    /// What the next wait does before it sleeps.
    enum Plan: Equatable {
        case sleep, spin, yield
        /// A short spin (`probeBudget`) while yielding is preferred: on two
        /// CPUs a yield also wins, but a spin wins sooner and without a
        /// system call, and only a spin can show that.
        case probe
        /// A timed sleep of `dozeLength`, then a spin of up to `dozeSpinBudget`.
        case doze
    }

    /// Longest spin, in nanoseconds: above a cross-CPU wake-up from a sleep
    /// plus a short turn of the peer (30-100 µs on a 2-core VM; 5-20 µs on
    /// bare metal), far below a time slice.  A peer slower than this makes
    /// the policy doze or sleep.
    static let spinBudget: Int64 = 200_000
    /// Longest yield phase, in nanoseconds: a peer on this CPU answers within
    /// a few yields, each a few microseconds.
    static let yieldBudget: Int64 = 20_000
    /// A gap between two clock readings of a spin longer than this means the
    /// spinning thread lost its CPU (they are normally well under a
    /// microsecond apart); the shortest turn of a peer on this CPU, two
    /// context switches, takes longer.
    static let preemptionGap: Int64 = 2_000
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
    /// Most waits that sleep at once between two spins.
    static let maximumSkips = 1023
    /// Least time between a doze's end and the expected arrival.
    static let dozeMargin: Int64 = 15_000
    /// Longest doze: below the liveness slice (`ChannelLink.livenessInterval`),
    /// which the doze is part of.
    static let maximumDoze: Int64 = 20_000_000
    /// Longest spin after a doze, however irregular the peer: a tenth of the
    /// longest doze.
    static let maximumDozeSpin: Int64 = 2_000_000

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
    /// When the token comes in a slow stretch, in nanoseconds after the
    /// wait began: smoothed, and its mean deviation (0: not measured yet).
    private var expectedArrival: Int64 = 0
    private var arrivalDeviation: Int64 = 0
    /// How much later than asked a doze's timer ends (smoothed).
    private var timerLateness: Int64 = 0
    /// Whether the end of a wait that sleeps on should be learned from
    /// (`recordSleep`): after the switch to dozing and after a lost doze.
    private(set) var wantsSleepLength = false
    /// Dozes in a row whose spin ran out.
    private var dozeLosses = 0

    /// How long a `.doze` sleeps, in nanoseconds.
    var dozeLength: Int64 {
        let end = expectedArrival - max(2 * arrivalDeviation, Self.dozeMargin) - timerLateness
        return min(max(end, 0), Self.maximumDoze)
    }

    /// How long the spin after a `.doze` may last, in nanoseconds.
    var dozeSpinBudget: Int64 { min(max(4 * arrivalDeviation, Self.spinBudget), Self.maximumDozeSpin) }

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

    /// How long a `.spin` or `.probe` phase may last (a yield phase lasts
    /// `yieldBudget`, a doze's spin `dozeSpinBudget`).
    static func budget(of plan: Plan) -> Int64 {
        plan == .probe ? probeBudget : spinBudget
    }

    /// Learns from a `.spin` or `.probe` phase that got the token or not, and
    /// lost its CPU meanwhile or not.
    mutating func recordSpin(_ plan: Plan, won: Bool, preempted: Bool) {
        let peerElsewhere = won && !preempted
        if plan == .probe {
            if peerElsewhere { preferred = .spin }
        } else if peerElsewhere {
            nextSkips = 1
            preferred = .spin
        } else {
            preferred = .yield
        }
    }

    /// Learns from a `.yield` phase that got the token or not after `yields`
    /// yields.
    mutating func recordYield(won: Bool, yields: Int) {
        if won && yields <= Self.sameCPUYields {
            nextSkips = 1
            preferred = .yield
        } else if won {
            preferred = .spin
        } else if yields >= Self.maximumYields {
            // Every yield returned at once: a slow peer on another CPU.
            preferred = .doze
            dozeLosses = 0
            expectedArrival = 0
            wantsSleepLength = true
        } else {
            preferred = .spin
            skipOnLoss()
        }
    }

    /// Learns from a `.doze` of `asked` nanoseconds: the token came while
    /// it slept, which ended `woken` nanoseconds after the wait began (`spun`
    /// nil), or `spun` nanoseconds into the spin after it, or not within that
    /// spin (`won` false).
    mutating func recordDoze(asked: Int64, woken: Int64, spun: Int64?, won: Bool) {
        if let spun {
            // Later than half a spin budget is a preemption, not the timer.
            timerLateness += (min(max(woken - asked, 0), Self.spinBudget / 2) - timerLateness) / 8
            if won {
                nextSkips = 1
                dozeLosses = 0
                learnArrival(woken + spun)
            } else {
                dozeLosses += 1
                wantsSleepLength = true
                if dozeLosses >= 2 {
                    dozeLosses = 0
                    preferred = .spin
                    skipOnLoss()
                }
            }
        } else {
            // The token came before the doze's end; a wake-up by a post can
            // be later than a timer's, and taking it for the arrival would
            // push the next doze later still.
            dozeLosses = 0
            learnArrival(min(woken - timerLateness, asked))
        }
    }

    /// Learns from a wait that slept on after its phases and got the token
    /// `lasted` nanoseconds after it began, when `wantsSleepLength` asked
    /// for it.
    mutating func recordSleep(lasted: Int64) {
        wantsSleepLength = false
        learnArrival(lasted - timerLateness)
    }

    /// One more arrival time into the smoothed arrival and its deviation.
    private mutating func learnArrival(_ sample: Int64) {
        let arrival = min(max(sample, 0), Self.maximumDoze)
        if expectedArrival == 0 {
            expectedArrival = arrival
            arrivalDeviation = arrival / 4
        } else {
            let error = arrival - expectedArrival
            expectedArrival += error / 8
            arrivalDeviation += (abs(error) - arrivalDeviation) / 4
        }
        // A peer this quick is cheaper to spin for.
        if preferred == .doze && expectedArrival + 2 * arrivalDeviation < Self.spinBudget { preferred = .spin }
    }

    /// After a phase that ran out of budget: the next 1, 3, 7, ... waits
    /// sleep at once.
    private mutating func skipOnLoss() {
        skipsLeft = nextSkips
        nextSkips = min(nextSkips * 2 + 1, Self.maximumSkips)
    }
}
