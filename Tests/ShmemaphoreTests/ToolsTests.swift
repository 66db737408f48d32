import Foundation
import Testing

@testable import ShmemaphoreTools

/// Unit tests of ShmemaphoreTools, the code the programs (tool, conformance
/// runner, benchmark) and these tests share: the process spawner, the
/// exchange-line format, the escaping of untrusted text, and the small
/// helpers whose output other programs parse.
@Suite("ShmemaphoreTools")
struct ToolsTests {
    // MARK: ChildProcess: the one process spawner

    /// A generous bound for a child that ends at once (a loaded machine, sanitizers).
    static let bound = Duration.seconds(TestSupport.patienceSeconds)

    static func sh(_ script: String, timeout: Duration = bound, grace: Duration = .zero, merging: Bool = false) throws
        -> ChildProcess.Completed
    {
        try ChildProcess.run("/bin/sh", arguments: ["-c", script], mergingErrors: merging, timeout: timeout, grace: grace)
    }

    @Test func spawnerReportsTheExitStatus() throws {
        #expect(try Self.sh("exit 0").termination == .exited(0))
        let failed = try Self.sh("exit 3")
        #expect(failed.termination == .exited(3) && !failed.timedOut)
        #expect(!failed.termination.succeeded && failed.termination.description == "exited with status 3")
    }

    @Test func spawnerReportsTerminationBySignal() throws {
        let killed = try Self.sh("kill -TERM $$; sleep 5")
        #expect(killed.termination == .signaled(SIGTERM) && !killed.timedOut)
        #expect(killed.termination.description == "was killed by signal \(SIGTERM)")
    }

    @Test func spawnerKillsAChildThatOutlivesItsTimeLimit() throws {
        let started = ContinuousClock.now
        let hung = try Self.sh("sleep 60", timeout: .milliseconds(200))
        #expect(hung.timedOut && hung.termination == .signaled(SIGKILL))
        #expect(ContinuousClock.now - started < .seconds(30), "the time limit did not end the child")
        // With a grace period it is asked first: SIGTERM ends a sleep.
        let asked = try Self.sh("sleep 60", timeout: .milliseconds(200), grace: .seconds(30))
        #expect(asked.timedOut && asked.termination == .signaled(SIGTERM))
    }

    @Test func stoppingAChildStopsItsWholeProcessGroup() throws {
        let folder = try TemporaryTestFolder()
        let pidFile = folder.path + "/grandchild"
        // The shell starts a grandchild and waits for it; stopping the shell must end both.
        let child = try ChildProcess(
            label: "sh", executable: "/bin/sh", arguments: ["-c", "sleep 60 & echo $! > \(pidFile); wait"],
            standardOutput: .discard, standardError: .discard)
        let deadline = ContinuousClock.now + Self.bound
        while (try? String(contentsOfFile: pidFile, encoding: .utf8))?.hasSuffix("\n") != true && !deadline.hasPassed {
            usleep(2_000)
        }
        let grandchild = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(child.isRunning)
        #expect(child.stop(grace: Self.bound) == .signaled(SIGTERM) && child.wasStopped)
        // The grandchild got the same SIGTERM (a zombie until someone reaps it counts as ended).
        func running(_ pid: Int32) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            return !stat[close...].hasPrefix(") Z")
        }
        while running(grandchild) && !deadline.hasPassed { usleep(2_000) }
        #expect(!running(grandchild), "the grandchild \(grandchild) outlived the stop")
    }

    @Test func spawnerCapturesStandardOutputAndErrorApartOrMerged() throws {
        let apart = try Self.sh("echo out; echo err >&2; echo more")
        #expect(String(decoding: apart.standardOutput, as: UTF8.self) == "out\nmore\n")
        #expect(String(decoding: apart.standardError, as: UTF8.self) == "err\n")
        let merged = try Self.sh("echo out; echo err >&2", merging: true)
        #expect(String(decoding: merged.standardOutput, as: UTF8.self) == "out\nerr\n" && merged.standardError.isEmpty)
        // Far more than a pipe holds: the child must not block while nobody reads.
        let large = try ChildProcess.run("head", arguments: ["-c", "3000000", "/dev/zero"], timeout: Self.bound)
        #expect(large.termination == .exited(0) && large.standardOutput.count == 3_000_000)
    }

    @Test func pipedOutputIsReadLineByLineWithADeadline() throws {
        let child = try ChildProcess(
            label: "sh", executable: "/bin/sh", arguments: ["-c", "echo one; printf 'two\\nthree'; sleep 60"],
            standardOutput: .pipe, standardError: .discard)
        defer { child.kill() }
        let reader = try #require(child.outputReader)
        #expect(reader.next(deadline: .now + Self.bound) == .line("one"))
        #expect(reader.next(deadline: .now + Self.bound) == .line("two"))
        // "three" has no newline yet and the child goes quiet: the deadline ends the wait.
        #expect(reader.next(deadline: .now + .milliseconds(100)) == .timedOut)
        #expect(child.kill() == .signaled(SIGKILL))
        #expect(reader.next(deadline: .now + Self.bound) == .line("three"))
        #expect(reader.next(deadline: .now + Self.bound) == .endOfFile)
    }

    @Test func aChildGetsOnlyTheStandardStreamsAndNoBlockedSignals() throws {
        // A descriptor opened without close-on-exec, as a library might leave one.
        let descriptor = open("/dev/null", O_RDONLY)
        try #require(descriptor > 2)
        defer { close(descriptor) }
        let listed = try Self.sh("if [ -e /proc/self/fd/\(descriptor) ]; then echo open; else echo closed; fi")
        #expect(String(decoding: listed.standardOutput, as: UTF8.self) == "closed\n")
        // grep reads its own status: no signal blocked, whatever this process blocks.
        let status = try ChildProcess.run("grep", arguments: ["^SigBlk:", "/proc/self/status"], timeout: Self.bound)
        #expect(String(decoding: status.standardOutput, as: UTF8.self) == "SigBlk:\t0000000000000000\n")
        // Its own process group (field 5 of /proc/PID/stat), and standard input at end of file.
        let group = try Self.sh("cut -d ' ' -f 5 /proc/$$/stat; echo $$; cat; echo end")
        let lines = String(decoding: group.standardOutput, as: UTF8.self).split(separator: "\n")
        try #require(lines.count == 3, "\(lines)")
        #expect(lines[0] == lines[1] && Int32(lines[0]) != getpgrp(), "\(lines)")
        #expect(lines[2] == "end")
    }

    @Test func spawnerPassesTheEnvironmentAndSearchesPath() throws {
        let run = try ChildProcess.run(
            "/bin/sh", arguments: ["-c", "echo \"$GREETING\" \"${HOME-unset}\""], environment: ["GREETING=hello"],
            timeout: Self.bound)
        #expect(String(decoding: run.standardOutput, as: UTF8.self) == "hello unset\n")
        #expect(try ChildProcess.run("sh", arguments: ["-c", "exit 7"], timeout: Self.bound).termination == .exited(7))
        let failure = #expect(throws: CommandFailure.self) {
            _ = try ChildProcess.run("/nonexistent/program", arguments: [], timeout: Self.bound)
        }
        #expect(failure?.message.hasPrefix("cannot start /nonexistent/program: ") == true, "\(String(describing: failure))")
    }

    // MARK: ExchangeLine: the servers' output format

    static let exchangeLines: [ExchangeLine] = [
        ExchangeLine(
            index: 1, requestLength: 5,
            outcome: .image(width: 640, height: 480, channels: 3, bytes: 921_600, digest: 0x0123_4567_89ab_cdef),
            milliseconds: "0.412"),
        ExchangeLine(index: 2, requestLength: 0, outcome: .bytes(count: 7, digest: 0xcbf2_9ce4_8422_2325), milliseconds: "12.000"),
        ExchangeLine(index: 3, requestLength: 65_536, outcome: .error(code: 1), milliseconds: "1.250"),
        ExchangeLine(
            index: 4, requestLength: 5, outcome: .image(width: 1, height: 1, channels: 1, bytes: 1, digest: 0),
            milliseconds: "0.001", savedPath: "/tmp/out dir/apple-4.png"),
    ]

    @Test func exchangeLinesSurviveFormatAndParse() throws {
        let texts = Self.exchangeLines.map(\.formatted)
        #expect(texts[0] == "1 5 image 640 480 3 921600 0123456789abcdef 0.412")
        #expect(texts[1] == "2 0 bytes 7 cbf29ce484222325 12.000")
        #expect(texts[2] == "3 65536 error 1 1.250")
        #expect(texts[3] == "4 5 image 1 1 1 1 0000000000000000 0.001 /tmp/out dir/apple-4.png")
        for (line, text) in zip(Self.exchangeLines, texts) {
            let parsed = try ExchangeLine.parse(Substring(text), allowSavedPath: true).get()
            #expect(parsed == line, "\(text)")
            #expect(parsed.formatted == text)
        }
        #expect(Self.exchangeLines[0].outcome.payloadBytes == 921_600 && Self.exchangeLines[2].outcome.payloadBytes == 0)
        #expect(Self.exchangeLines[1].millisecondsValue == 12)
    }

    @Test(arguments: [
        ("1 5 image 640 480 3 921600 0123456789abcdef", "an image line has 9 fields"),
        ("1 5 error", "too few fields"),
        ("1 5 image 640 480 3 921600 0123456789ABCDEF 0.412", "16 lower-case hex digits"),
        ("1 5 image 640 480 3 921600 0123456789abcde 0.412", "16 lower-case hex digits"),
        ("0 5 error 1 0.412", "the index"),
        ("1 -1 error 1 0.412", "request length"),
        ("1 5 error 1 0.41", "three decimals"),
        ("1 5 error 1 .412", "three decimals"),
        ("1 5 teapot 1 0.412", "image, bytes or error"),
        ("1 5 error 1 0.412 /tmp/saved", "unexpected text"),
        ("1 5 bytes x cbf29ce484222325 0.412", "byte count"),
    ])
    func malformedExchangeLinesAreRejectedWithAReason(line: String, reason: String) {
        switch ExchangeLine.parse(Substring(line), allowSavedPath: false) {
        case .success(let parsed): Issue.record("\"\(line)\" parsed as \(parsed)")
        case .failure(let error): #expect(error.description.contains(reason), "\(error)")
        }
    }

    @Test func aParseErrorQuotesTheLineEscaped() {
        guard case .failure(let error) = ExchangeLine.parse("1 5 \u{1B}[2J 0.412", allowSavedPath: false) else {
            Issue.record("parsed")
            return
        }
        #expect(error.description.contains(#"\x1b[2J"#) && !error.description.contains("\u{1B}"), "\(error)")
    }

    // MARK: UntrustedText: escaping what other programs wrote

    @Test func escapingWritesOutWhatATerminalWouldActOn() {
        #expect(UntrustedText.escaped("plain text: a-z 0-9 ~") == "plain text: a-z 0-9 ~")
        #expect(UntrustedText.escaped("back\\slash") == #"back\\slash"#)
        #expect(UntrustedText.escaped("\u{1B}[2J\u{1B}]0;title\u{07}") == #"\x1b[2J\x1b]0;title\x07"#)
        #expect(UntrustedText.escaped("line\nforged\r\t\u{7F}") == #"line\x0aforged\x0d\x09\x7f"#)
        // Printable non-ASCII passes; C1 controls, bidi overrides and isolates, zero-width characters do not.
        #expect(UntrustedText.escaped("café 日本 ✓") == "café 日本 ✓")
        #expect(UntrustedText.escaped("a\u{9B}b") == #"a\xc2\x9bb"#)
        #expect(UntrustedText.escaped("\u{202E}evil") == #"\xe2\x80\xaeevil"#)
        #expect(UntrustedText.escaped("x\u{2066}y\u{200B}z") == #"x\xe2\x81\xa6y\xe2\x80\x8bz"#)
        // Bytes that are not UTF-8: a lone continuation byte, an overlong form, a surrogate, a truncated sequence.
        #expect(UntrustedText.escaped([0x80, 0xC0, 0xAF, 0xED, 0xA0, 0x80, 0x41, 0xE2, 0x82]) == #"\x80\xc0\xaf\xed\xa0\x80A\xe2\x82"#)
        #expect(UntrustedText.escaped([UInt8]()) == "")
    }

    @Test func escapingWithALimitNeverSplitsACharacter() {
        #expect(UntrustedText.escaped("abcdef", limit: 3) == "abc... (6 bytes)")
        #expect(UntrustedText.escaped("abc", limit: 3) == "abc")
        // "é" is two bytes: a limit of 2 shows "a" only, not half of it.
        #expect(UntrustedText.escaped("aé", limit: 2) == "a... (3 bytes)")
        #expect(UntrustedText.escaped("\u{1B}x", limit: 1) == #"\x1b... (2 bytes)"#)
    }

    // MARK: FNV-1a, SplitMix64, durations

    @Test func fnv1a64MatchesThePublishedVectors() {
        // The FNV test suite's values for "", "a" and "foobar".
        #expect(FNV1a64.hash([UInt8]()) == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a64.hash(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a64.hash(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
        // The 8-byte steps and the byte-wise tail agree with a plain loop.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var plain = FNV1a64.offsetBasis
        for byte in bytes { plain = (plain ^ UInt64(byte)) &* FNV1a64.prime }
        #expect(FNV1a64.hash(bytes) == plain)
        #expect(FNV1a64.hex(0xab) == "00000000000000ab" && FNV1a64.parseHex("00000000000000ab") == 0xab)
        #expect(FNV1a64.parseHex("00000000000000AB") == nil && FNV1a64.parseHex("ab") == nil)
    }

    @Test func splitMix64IsTheReferenceGeneratorAndFillsLittleEndian() {
        // Vigna's splitmix64.c from seed 0.
        var generator = SplitMix64(seed: 0)
        #expect(generator.next() == 0xe220_a839_7b1d_cdaf)
        #expect(generator.next() == 0x6e78_9e6a_a1b9_65f4)
        var words = SplitMix64(seed: 42)
        let first = words.next(), second = words.next()
        var filler = SplitMix64(seed: 42)
        var buffer = [UInt8](repeating: 0, count: 11)
        buffer.withUnsafeMutableBytes { filler.fill($0) }
        let expected = withUnsafeBytes(of: first.littleEndian) { Array($0) } + withUnsafeBytes(of: second.littleEndian) { Array($0.prefix(3)) }
        #expect(buffer == expected)
    }

    @Test func durationsPrintTheFiguresTheOutputFormatsUse() {
        #expect(Durations.formatMilliseconds(.microseconds(412)) == "0.412")
        #expect(Durations.formatMilliseconds(.nanoseconds(12_345_678)) == "12.346")
        #expect(Durations.formatMilliseconds(.zero) == "0.000")
        #expect(Durations.format(12.345, decimals: 1) == "12.3" && Durations.format(-0.04, decimals: 1) == "0.0")
        #expect(Durations.format(-1.25, decimals: 2) == "-1.25" && Durations.format(.infinity, decimals: 1) == "-")
        #expect(Durations.format(7, decimals: 0) == "7")
        #expect(Durations.fromSeconds(0.25) == .milliseconds(250) && Durations.milliseconds(.seconds(2)) == 2000)
    }
}

/// A folder under the temporary directory, removed when the value goes away.
private final class TemporaryTestFolder {
    let path: String

    init() throws { path = try Paths.makeTemporaryFolder(prefix: "shmemaphore-tools-test") }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
