import ShmemaphoreTools
import Testing

@testable import Shmemaphore

/// The adaptive waiting policy, driven with made-up outcomes (no processes):
/// which way of waiting it picks as spins, yields and dozes win or lose, and
/// how a pair of waiters, each with its own policy, fares (`PairModel`).
@Suite struct SpinPolicyTests {
    /// The outcome of one phase: won, preempted while spinning, yields made,
    /// and for a doze how far into its spin the token came (nil: during
    /// the sleep).
    typealias Outcome = (won: Bool, preempted: Bool, yields: Int, spun: Int64?)

    /// Plays `waits` waits in which every phase ends as `outcome` says, and
    /// returns the plans the policy chose.  A wait whose phase lost sleeps
    /// on until the token comes `sleptWait` nanoseconds after it began.
    static func play(
        _ policy: inout SpinPolicy, waits: Int, sleptWait: Int64 = 10_000_000, outcome: (SpinPolicy.Plan) -> Outcome
    ) -> [SpinPolicy.Plan] {
        var plans: [SpinPolicy.Plan] = []
        for _ in 0..<waits {
            let plan = policy.plan()
            plans.append(plan)
            let result = outcome(plan)
            switch plan {
            case .sleep: break
            case .spin, .probe: policy.recordSpin(plan, won: result.won, preempted: result.preempted)
            case .yield: policy.recordYield(won: result.won, yields: result.yields)
            case .doze:
                // A timer 10 µs late, or the token during the sleep.
                let asked = policy.dozeLength
                policy.recordDoze(asked: asked, woken: result.spun == nil ? sleptWait : asked + 10_000, spun: result.spun, won: result.won)
            }
            if !result.won && policy.wantsSleepLength { policy.recordSleep(lasted: sleptWait) }
        }
        return plans
    }

    @Test func blockingNeverSpins() {
        var policy = SpinPolicy(strategy: .blocking)
        let plans = Self.play(&policy, waits: 100) { _ in (true, false, 0, 0) }
        #expect(plans.allSatisfy { $0 == .sleep })
    }

    @Test func aPeerOnAnotherCPUKeepsItSpinning() {
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 1000) { _ in (true, false, 0, nil) }
        #expect(plans.allSatisfy { $0 == .spin })
    }

    @Test func aLateWinWithoutPreemptionKeepsItSpinning() {
        // A peer on another CPU whose turns take tens of microseconds (an
        // interpreter, or a peer just woken): the spin wins late but keeps its CPU.
        var policy = SpinPolicy(strategy: .adaptive)
        policy.recordSpin(.spin, won: true, preempted: false)
        #expect(policy.plan() == .spin)
        policy.recordSpin(.spin, won: true, preempted: true)
        #expect(policy.plan() == .yield, "a win after losing the CPU: the peer ran on this one")
    }

    @Test func aPeerOnThisCPUMovesItToYielding() {
        // A spin wins only after it lost its CPU to the peer; a yield wins at the first yield.
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 1000) { plan in
            plan == .yield ? (true, false, 1, nil) : (true, true, 0, nil)
        }
        #expect(plans.prefix(2) == [.spin, .yield])
        #expect(plans.filter { $0 == .spin }.count == 1, "one spin to learn, then yields")
        let probes = plans.filter { $0 == .probe }.count
        #expect(probes > 0 && probes <= 1000 / SpinPolicy.probeInterval, "a short spin now and then")
    }

    @Test func aSlowPeerOnThisCPUMakesItSleepAlmostAlways() {
        // The peer works for milliseconds on this CPU: a spin runs out, a yield runs it for long.
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 20_000) { _ in (false, false, 1, SpinPolicy.spinBudget) }
        #expect(!plans.contains(.doze))
        let active = plans.filter { $0 != .sleep }.count
        #expect(active < 60, "\(active) of 20000 waits spun or yielded")
        #expect(plans.suffix(SpinPolicy.maximumSkips).filter { $0 != .sleep }.count <= 2)
    }

    @Test func anUnpredictablePeerElsewhereMakesItSleepAlmostAlways() {
        // The peer runs elsewhere (every yield returns at once) and answers
        // neither within a spin nor after a doze and its spin.
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 20_000) { _ in (false, false, SpinPolicy.maximumYields, SpinPolicy.spinBudget) }
        #expect(plans.contains(.doze))
        let active = plans.filter { $0 != .sleep }.count
        #expect(active < 200, "\(active) of 20000 waits spun, yielded or dozed: over 1 %")
        #expect(policy.dozeLength <= SpinPolicy.maximumDoze)
    }

    @Test func aYieldThatNeedsManyYieldsGoesBackToSpinning() {
        // The peer answers in time but each yield returned at once: it runs elsewhere.
        var policy = SpinPolicy(strategy: .adaptive)
        policy.recordSpin(.spin, won: false, preempted: false)
        #expect(policy.plan() == .yield)
        policy.recordYield(won: true, yields: SpinPolicy.maximumYields - 1)
        #expect(policy.plan() == .spin)
    }

    @Test func aWinningProbeGoesBackToSpinning() {
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 200) { plan in
            switch plan {
            case .probe: (true, false, 0, nil)
            case .yield: (true, false, 1, nil)
            default: (false, false, 0, nil)
            }
        }
        #expect(plans.contains(.probe))
        #expect(plans.last == .yield || plans.last == .spin)
        #expect(plans.firstIndex(of: .probe).map { plans[$0 + 1] } == .spin)
    }

    @Test func aPeerThatTurnsQuickEndsTheDozing() {
        var policy = SpinPolicy(strategy: .adaptive)
        policy.recordSpin(.spin, won: false, preempted: false)
        policy.recordYield(won: false, yields: SpinPolicy.maximumYields)
        policy.recordSleep(lasted: 5_000_000)  // one long turn
        #expect(policy.plan() == .doze)
        #expect(policy.dozeLength > 0 && policy.dozeLength < 5_000_000)
        var dozes = 0
        while policy.plan() == .doze && dozes < 1_000 {
            // The token comes during the sleep, 60 µs after the wait began.
            policy.recordDoze(asked: policy.dozeLength, woken: 60_000, spun: nil, won: true)
            dozes += 1
        }
        #expect(dozes < 40, "\(dozes) dozes before spinning again")
    }

    // MARK: Two waiters

    /// Two processes on two CPUs, each waiting with its own policy for the
    /// other's token: the outcomes of each phase follow from when the token
    /// comes, in nanoseconds of a simulated clock.  A side that sleeps when
    /// its token comes runs `wakeUp` later; one that is spinning runs at once.
    struct PairModel {
        /// A cross-CPU wake-up from a futex sleep or a timer (this VM: 30-100 µs).
        static let wakeUp: Int64 = 60_000
        /// How much later than asked a timed sleep ends.
        static let timerLateness: Int64 = 10_000
        /// One sched_yield with nothing else to run on the CPU.
        static let yieldTime: Int64 = 700

        var sides = [SpinPolicy(strategy: .adaptive), SpinPolicy(strategy: .adaptive)]
        /// Nanoseconds spent spinning and yielding, per side.
        var busy: [Int64] = [0, 0]
        /// Waits that ended a wake-up after the token, per side.
        var wakeUps = [0, 0]

        /// One wait of `side` whose token comes `arrival` after the wait
        /// began: how long after the token the side runs again.
        mutating func wait(_ side: Int, tokenAfter arrival: Int64) -> Int64 {
            var plan = sides[side].plan()
            var phaseStart: Int64 = 0
            while true {
                switch plan {
                case .sleep:
                    if sides[side].wantsSleepLength { sides[side].recordSleep(lasted: arrival + Self.wakeUp) }
                    wakeUps[side] += 1
                    return Self.wakeUp
                case .spin, .probe:
                    let budget = SpinPolicy.budget(of: plan)
                    let won = arrival <= phaseStart + budget
                    busy[side] += won ? arrival - phaseStart : budget
                    sides[side].recordSpin(plan, won: won, preempted: false)
                    if won { return 0 }
                    phaseStart += budget
                    plan = plan == .probe ? .yield : .sleep
                case .yield:
                    let needed = Int((arrival - phaseStart + Self.yieldTime - 1) / Self.yieldTime)
                    let won = needed <= SpinPolicy.maximumYields
                    let yields = won ? needed : SpinPolicy.maximumYields
                    busy[side] += Int64(yields) * Self.yieldTime
                    sides[side].recordYield(won: won, yields: yields)
                    if won { return 0 }
                    plan = .sleep
                case .doze:
                    let asked = sides[side].dozeLength
                    let woke = phaseStart + (asked > 0 ? asked + Self.timerLateness : 0)
                    if asked > 0 && arrival <= woke {
                        sides[side].recordDoze(asked: asked, woken: arrival + Self.wakeUp, spun: nil, won: true)
                        wakeUps[side] += 1
                        return Self.wakeUp
                    }
                    let budget = sides[side].dozeSpinBudget
                    let won = arrival <= woke + budget
                    busy[side] += won ? arrival - woke : budget
                    sides[side].recordDoze(asked: asked, woken: woke, spun: won ? arrival - woke : budget, won: won)
                    if won { return 0 }
                    plan = .sleep
                }
            }
        }

        /// Plays `rounds` round trips; `work(round, side)` is how long a side
        /// works on its turn.  Returns each round trip's length.
        mutating func play(rounds: Int, work: (Int, Int) -> Int64) -> [Int64] {
            var roundTrips: [Int64] = []
            // Side 1 waits for the first request from the moment side 0 starts its turn.
            var sinceOtherPosted = work(0, 0)
            for round in 0..<rounds {
                let clientDelay = wait(1, tokenAfter: sinceOtherPosted)
                let clientTurn = clientDelay + work(round, 1)
                let serverDelay = wait(0, tokenAfter: clientTurn)
                let serverTurn = serverDelay + work(round + 1, 0)
                roundTrips.append(clientTurn + serverTurn)
                sinceOtherPosted = serverTurn
            }
            return roundTrips
        }
    }

    @Test func aPairOfSlowTurnsFindsItsWayBackToSpinningAfterAStall() {
        // Turns of 4 µs (an interpreter's), and one side stalled for 5 ms
        // once: the other side sleeps, and its next turn comes a wake-up
        // late.  The pair must spin again, not stay at two wake-ups per
        // round trip (as it did with a 20 µs spin that counted a win after
        // 5 µs as a loss).
        var pair = PairModel()
        let roundTrips = pair.play(rounds: 5_000) { round, side in
            round == 1_000 && side == 1 ? 5_000_000 : 4_000
        }
        #expect(roundTrips[10..<1_000].allSatisfy { $0 == 8_000 }, "spinning before the stall")
        #expect(roundTrips[1_000] >= 5_000_000 + PairModel.wakeUp, "the waiting side slept through the stall")
        let recovered = roundTrips[4_000...].filter { $0 == 8_000 }.count
        #expect(recovered == 1_000, "\(recovered) of the last 1000 round trips without a wake-up")
    }

    @Test(arguments: [0, 40_000] as [Int64])
    func aPredictableSlowPeerIsAwaitedByDozingNotSpinning(jitter: Int64) {
        // A peer elsewhere that works 400 µs per turn (a frame), give or take
        // `jitter`: the waiting side wakes before the token in most waits,
        // and spins for a small part of each.
        var pair = PairModel()
        let turn: Int64 = 400_000
        var random = SplitMix64(seed: 7)
        _ = pair.play(rounds: 3_000) { _, side in
            side == 1 ? turn - jitter + Int64(random.next() % UInt64(2 * jitter + 1)) : 1_000
        }
        let wakeUpsBefore = pair.wakeUps[0]
        _ = pair.play(rounds: 1_000) { _, side in
            side == 1 ? turn - jitter + Int64(random.next() % UInt64(2 * jitter + 1)) : 1_000
        }
        let wakeUps = pair.wakeUps[0] - wakeUpsBefore
        #expect(wakeUps <= 100, "\(wakeUps) of 1000 waits of the server ended a wake-up late")
        let spinPerWait = pair.busy[0] / 4_000
        #expect(spinPerWait < turn / 4, "the server spins \(spinPerWait) ns per wait of \(turn)")
        print("model: jitter \(jitter) ns: \(wakeUps) of 1000 waits a wake-up late, \(spinPerWait) ns spun per wait")
    }
}
