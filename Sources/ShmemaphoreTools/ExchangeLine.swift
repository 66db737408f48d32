/// One line of a server's machine-readable output (docs/CONFORMANCE.md):
///
///     <index> <request-length> image <W> <H> <C> <bytes> <fnv1a64-hex> <ms>
///     <index> <request-length> bytes <bytes> <fnv1a64-hex> <ms>
///     <index> <request-length> error <code> <ms>
///
/// Our servers append the path of the saved file after `<ms>` when `--out`
/// is given.  The same type formats the server's lines and parses them in
/// `shmemaphore demo` and `shmemaphore-conformance`, so producer and checker
/// cannot drift apart.
package struct ExchangeLine: Equatable {
    /// What the response was.
    package enum Outcome: Equatable {
        case image(width: UInt64, height: UInt64, channels: UInt64, bytes: UInt64, digest: UInt64)
        case bytes(count: UInt64, digest: UInt64)
        case error(code: UInt64)

        /// Payload bytes moved by this exchange (0 for an error).
        package var payloadBytes: UInt64 {
            switch self {
            case .image(_, _, _, let bytes, _): return bytes
            case .bytes(let count, _): return count
            case .error: return 0
            }
        }
    }

    /// 1 for the first exchange.
    package var index: Int
    /// Bytes in the request.
    package var requestLength: Int
    package var outcome: Outcome
    /// The round trip as printed, with three decimals.
    package var milliseconds: String
    /// The file our server saved the payload to (`--out`), if any.
    package var savedPath: String?

    package init(index: Int, requestLength: Int, outcome: Outcome, milliseconds: String, savedPath: String? = nil) {
        self.index = index
        self.requestLength = requestLength
        self.outcome = outcome
        self.milliseconds = milliseconds
        self.savedPath = savedPath
    }

    /// The line as the server prints it.
    package var formatted: String {
        var fields = ["\(index)", "\(requestLength)"]
        switch outcome {
        case .image(let width, let height, let channels, let bytes, let digest):
            fields += ["image", "\(width)", "\(height)", "\(channels)", "\(bytes)", FNV1a64.hex(digest)]
        case .bytes(let count, let digest):
            fields += ["bytes", "\(count)", FNV1a64.hex(digest)]
        case .error(let code):
            fields += ["error", "\(code)"]
        }
        fields.append(milliseconds)
        if let savedPath { fields.append(savedPath) }
        return fields.joined(separator: " ")
    }

    /// Why a line is not in the format.
    package struct FormatError: Error, CustomStringConvertible {
        package let description: String
    }

    /// Parses one line.  With `allowSavedPath`, text after the milliseconds is
    /// taken as the saved file's path (our servers with `--out`); otherwise a
    /// line must have exactly the fields of its kind.
    package static func parse(_ line: Substring, allowSavedPath: Bool) -> Result<ExchangeLine, FormatError> {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        func fail(_ why: String) -> Result<ExchangeLine, FormatError> {
            .failure(FormatError(description: "\(why): \"\(UntrustedText.escaped(String(line), limit: 120))\""))
        }
        guard fields.count >= 4 else { return fail("too few fields") }
        guard let index = Int(fields[0]), index >= 1 else { return fail("the index is not a whole number >= 1") }
        guard let requestLength = Int(fields[1]), requestLength >= 0 else {
            return fail("the request length is not a whole number")
        }
        let fieldCount: Int
        let outcome: Outcome
        switch fields[2] {
        case "image":
            fieldCount = 9
            guard fields.count >= fieldCount else { return fail("an image line has 9 fields") }
            guard let width = UInt64(fields[3]), let height = UInt64(fields[4]), let channels = UInt64(fields[5]),
                let bytes = UInt64(fields[6])
            else { return fail("W, H, C and bytes must be whole numbers") }
            guard let digest = FNV1a64.parseHex(fields[7]) else { return fail("the digest is not 16 lower-case hex digits") }
            outcome = .image(width: width, height: height, channels: channels, bytes: bytes, digest: digest)
        case "bytes":
            fieldCount = 6
            guard fields.count >= fieldCount else { return fail("a bytes line has 6 fields") }
            guard let count = UInt64(fields[3]) else { return fail("the byte count is not a whole number") }
            guard let digest = FNV1a64.parseHex(fields[4]) else { return fail("the digest is not 16 lower-case hex digits") }
            outcome = .bytes(count: count, digest: digest)
        case "error":
            fieldCount = 5
            guard fields.count >= fieldCount else { return fail("an error line has 5 fields") }
            guard let code = UInt64(fields[3]) else { return fail("the error code is not a whole number") }
            outcome = .error(code: code)
        default:
            return fail("the third field is not image, bytes or error")
        }
        let milliseconds = fields[fieldCount - 1]
        guard isMilliseconds(milliseconds) else { return fail("the time is not milliseconds with three decimals") }
        var savedPath: String?
        if fields.count > fieldCount {
            guard allowSavedPath else { return fail("unexpected text after the time") }
            savedPath = fields[fieldCount...].joined(separator: " ")
        }
        return .success(
            ExchangeLine(
                index: index, requestLength: requestLength, outcome: outcome, milliseconds: String(milliseconds),
                savedPath: savedPath))
    }

    /// "12.345": digits, a point, exactly three digits.
    private static func isMilliseconds(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].count == 3
            && parts.allSatisfy { $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }
    }

    /// The round trip as a number.
    package var millisecondsValue: Double { Double(milliseconds) ?? 0 }
}
