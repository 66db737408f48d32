import ArgumentParser

/// Conversions between the command line's seconds, Swift `Duration`s and the
/// millisecond figures the tool prints.
package enum Durations {
    /// `seconds` (fractions allowed) as a Duration.
    package static func fromSeconds(_ seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// A duration in milliseconds, as a Double.
    package static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    /// A duration in seconds, as a Double.
    package static func seconds(_ duration: Duration) -> Double { milliseconds(duration) / 1000 }

    /// Milliseconds with exactly three decimals ("0.412"), rounded to the
    /// nearest microsecond; no locale, no Foundation.
    package static func formatMilliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let microseconds = max(0, seconds * 1_000_000 + (attoseconds + 500_000_000_000) / 1_000_000_000_000)
        return "\(microseconds / 1000).\(zeroPadded(microseconds % 1000, width: 3))"
    }

    /// `value` with `decimals` decimals, for summaries ("12.3").
    package static func format(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let unit = Int64(scale)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard decimals > 0 else { return sign + "\(scaled)" }
        return sign + "\(scaled / unit).\(zeroPadded(scaled % unit, width: decimals))"
    }

    /// "7" → "007".
    package static func zeroPadded(_ value: Int64, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Validates a `--timeout`-style option: positive, finite, at most 1e9 s.
    package static func validateSeconds(_ seconds: Double, option: String) throws {
        guard seconds.isFinite, seconds > 0, seconds <= 1e9 else {
            throw ValidationError("\(option): \(seconds) is not a number of seconds > 0 (at most 1e9)")
        }
    }
}

extension ContinuousClock.Instant {
    /// The time left until this instant, never negative.
    package var timeRemaining: Duration { max(.zero, self - ContinuousClock.now) }

    /// True once this instant is reached.
    package var hasPassed: Bool { ContinuousClock.now >= self }
}
