import ShmemaphoreTools

/// The request list of a conformance session (docs/CONFORMANCE.md, step 2).
struct ConformanceRequests {
    /// What the answer to a request must be.
    enum Expectation {
        case image(ConformanceImages.ManifestEntry)
        /// An error response; with a code when the code is prescribed.
        case error(code: UInt64?)
    }

    let lines: [[UInt8]]
    let expectations: [Expectation]

    /// The request file: lines joined with "\n", ending with one.
    var fileContents: [UInt8] { lines.flatMap { $0 + [UInt8(ascii: "\n")] } }

    /// The images from small to large, smaller after larger, larger again;
    /// then an empty request, the one-byte request "p", a 65,536-byte
    /// name-like request and the unknown name "zebra".
    static func make(manifest: [ConformanceImages.ManifestEntry]) -> ConformanceRequests {
        let bySize = manifest.sorted { $0.byteCount < $1.byteCount }
        let ascending = bySize.map(\.name)
        let descending = Array(bySize.dropLast().reversed().dropLast().map(\.name))  // below the largest, above the smallest
        let ascendingAgain = [bySize[bySize.count / 2].name, bySize[bySize.count - 1].name]
        let imageNames = ascending + descending + ascendingAgain + ["p"]
        let longName = (0..<65_536).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        var lines = imageNames.map { Array($0.utf8) }
        lines.insert([], at: ascending.count + descending.count + ascendingAgain.count)  // empty, then "p"
        lines += [longName, Array("zebra".utf8)]
        let byName = Dictionary(uniqueKeysWithValues: manifest.map { (Array($0.name.utf8), $0) })
        let expectations: [Expectation] = lines.map { line in
            if let entry = byName[line] { return .image(entry) }
            return .error(code: line == Array("zebra".utf8) ? 1 : nil)
        }
        return ConformanceRequests(lines: lines, expectations: expectations)
    }
}

/// Checks a server's output lines against the request list and manifest.
struct ExchangeChecker {
    let requests: ConformanceRequests
    let manifest: [ConformanceImages.ManifestEntry]
    let count: Int

    private(set) var exchangesChecked = 0
    private(set) var bytesMoved: UInt64 = 0
    private var failures: [String] = []
    private var mismatches = 0
    private var linesSeen = 0

    init(requests: ConformanceRequests, manifest: [ConformanceImages.ManifestEntry], count: Int) {
        self.requests = requests
        self.manifest = manifest
        self.count = count
    }

    /// The first few mismatches are reported in full, the rest counted.
    static let reportedMismatches = 5

    /// Checks one line.
    mutating func check(_ text: String) {
        linesSeen += 1
        let expectedIndex = linesSeen
        guard expectedIndex <= count else {
            mismatch("line \(expectedIndex): more than \(count) lines")
            return
        }
        let line: ExchangeLine
        switch ExchangeLine.parse(Substring(text), allowSavedPath: false) {
        case .success(let parsed): line = parsed
        case .failure(let error):
            mismatch("line \(expectedIndex): \(error)")
            return
        }
        guard line.index == expectedIndex else {
            mismatch("line \(expectedIndex): index \(line.index), expected \(expectedIndex)")
            return
        }
        let position = (expectedIndex - 1) % requests.lines.count
        let request = requests.lines[position]
        let shownRequest = request.count > 16 ? "\(request.count)-byte request" : "\"\(UntrustedText.escaped(request))\""
        guard line.requestLength == request.count else {
            mismatch("exchange \(expectedIndex) (\(shownRequest)): request length \(line.requestLength), expected \(request.count)")
            return
        }
        switch (requests.expectations[position], line.outcome) {
        case (.image(let entry), .image(let width, let height, let channels, let bytes, let digest)):
            guard width == entry.width, height == entry.height, channels == entry.channels, bytes == entry.byteCount else {
                mismatch(
                    "exchange \(expectedIndex) (\(shownRequest)): image \(width)x\(height)x\(channels) of \(bytes) bytes, "
                        + "expected \(entry.width)x\(entry.height)x\(entry.channels) of \(entry.byteCount)")
                return
            }
            guard digest == entry.digest else {
                mismatch(
                    "exchange \(expectedIndex) (\(shownRequest)): digest \(FNV1a64.hex(digest)), expected \(FNV1a64.hex(entry.digest))")
                return
            }
            bytesMoved += bytes
        case (.image(let entry), let other):
            mismatch("exchange \(expectedIndex) (\(shownRequest)): \(Self.describe(other)), expected the image \(entry.name)")
            return
        case (.error(let expectedCode), .error(let code)):
            if let expectedCode, code != expectedCode {
                mismatch("exchange \(expectedIndex) (\(shownRequest)): error code \(code), expected \(expectedCode) (not found)")
                return
            }
        case (.error, let other):
            mismatch("exchange \(expectedIndex) (\(shownRequest)): \(Self.describe(other)), expected an error response")
            return
        }
        exchangesChecked += 1
    }

    /// The failures, including a wrong number of lines.
    mutating func finish() -> [String] {
        if linesSeen < count { failures.append("\(linesSeen) lines of \(count)") }
        if mismatches > Self.reportedMismatches {
            failures.append("... and \(mismatches - Self.reportedMismatches) more mismatching lines")
        }
        return failures
    }

    private mutating func mismatch(_ reason: String) {
        mismatches += 1
        if mismatches <= Self.reportedMismatches { failures.append(reason) }
    }

    private static func describe(_ outcome: ExchangeLine.Outcome) -> String {
        switch outcome {
        case .image(let width, let height, let channels, _, _): return "an image \(width)x\(height)x\(channels)"
        case .bytes(let count, _): return "\(count) raw bytes"
        case .error(let code): return "error \(code)"
        }
    }
}
