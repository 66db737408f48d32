import Testing

@testable import Shmemaphore

/// The adaptive waiting policy, driven with made-up outcomes (no processes):
/// which way of waiting it picks as spins and yields win or lose.
@Suite struct SpinPolicyTests {
    /// Plays `waits` waits in which every phase ends as `outcome` says, and
    /// returns the plans the policy chose.
    static func play(
        _ policy: inout SpinPolicy, waits: Int,
        outcome: (SpinPolicy.Plan) -> (won: Bool, elapsed: Int64, yields: Int)
    ) -> [SpinPolicy.Plan] {
        var plans: [SpinPolicy.Plan] = []
        for _ in 0..<waits {
            let plan = policy.plan()
            plans.append(plan)
            let result = outcome(plan)
            policy.record(plan, won: result.won, elapsed: result.elapsed, yields: result.yields)
        }
        return plans
    }

    @Test func blockingNeverSpins() {
        var policy = SpinPolicy(strategy: .blocking)
        let plans = Self.play(&policy, waits: 100) { _ in (true, 100, 0) }
        #expect(plans.allSatisfy { $0 == .sleep })
    }

    @Test func aPeerOnAnotherCPUKeepsItSpinning() {
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 1000) { _ in (true, 400, 0) }
        #expect(plans.allSatisfy { $0 == .spin })
    }

    @Test func aPeerOnThisCPUMovesItToYielding() {
        // A spin never wins (the peer cannot run); a yield wins at the first yield.
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 1000) { plan in
            plan == .yield ? (true, 3_000, 1) : (false, plan == .probe ? 2_000 : 20_000, 0)
        }
        #expect(plans.prefix(2) == [.spin, .yield])
        #expect(plans.filter { $0 == .spin }.count == 1, "one spin to learn, then yields")
        let probes = plans.filter { $0 == .probe }.count
        #expect(probes > 0 && probes <= 1000 / SpinPolicy.probeInterval, "a short spin now and then")
    }

    @Test func aSlowPeerMakesItSleepAlmostAlways() {
        // The peer works for milliseconds: spins and yields both run out of budget.
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 20_000) { _ in (false, 20_000, 10) }
        let active = plans.filter { $0 != .sleep }.count
        #expect(active < 60, "\(active) of 20000 waits spun or yielded")
        #expect(plans.suffix(SpinPolicy.maximumSkips).filter { $0 != .sleep }.count <= 2)
    }

    @Test func aYieldThatNeedsManyYieldsGoesBackToSpinning() {
        // The peer answers in time but each yield returned at once: it runs elsewhere.
        var policy = SpinPolicy(strategy: .adaptive)
        policy.record(.spin, won: false, elapsed: 20_000)
        #expect(policy.plan() == .yield)
        policy.record(.yield, won: true, elapsed: 4_000, yields: 12)
        #expect(policy.plan() == .spin)
    }

    @Test func aWinningProbeGoesBackToSpinning() {
        var policy = SpinPolicy(strategy: .adaptive)
        let plans = Self.play(&policy, waits: 200) { plan in
            switch plan {
            case .probe: (true, 500, 0)
            case .yield: (true, 3_000, 1)
            default: (false, 20_000, 0)
            }
        }
        #expect(plans.contains(.probe))
        #expect(plans.last == .yield || plans.last == .spin)
        #expect(plans.firstIndex(of: .probe).map { plans[$0 + 1] } == .spin)
    }
}
