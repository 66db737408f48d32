/// Text this tool did not write itself, made safe to print: names found in
/// /dev/shm, requests and error messages read from shared memory, lines of
/// another program's output.  Every such text goes through `escaped` before
/// it reaches a terminal, a log or JSON, because a terminal obeys the control
/// sequences in what it prints: ESC [ 2 J clears the screen, ESC ] 0 ; T BEL
/// retitles the window, a newline forges an output line, a bidi override
/// makes text read backwards.
package enum UntrustedText {
    /// `text` with everything a terminal could act on written out as escapes:
    ///
    /// - printable ASCII passes, except the backslash, which becomes `\\` (so
    ///   that an escape in the output always means an escaped byte);
    /// - every other ASCII byte (the controls, ESC and DEL among them) and
    ///   every byte that is not part of valid UTF-8 becomes `\xHH`;
    /// - a valid non-ASCII character passes if it is printable (`isPrintable`);
    ///   otherwise each of its bytes becomes `\xHH`.
    ///
    /// With a `limit`, at most that many bytes of `text` are shown (never half
    /// a character), followed by "... (N bytes)".
    package static func escaped<Bytes: Collection<UInt8>>(_ text: Bytes, limit: Int? = nil) -> String {
        let bytes = Array(text)
        let shown = min(limit ?? bytes.count, bytes.count)
        var result = ""
        var index = 0
        while index < bytes.count {
            let decoded = scalar(in: bytes, at: index)
            let length = decoded?.length ?? 1
            if index + length > shown { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                result += "\\\\"
            } else if (0x20...0x7E).contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else if let decoded, byte >= 0x80, isPrintable(decoded.scalar) {
                result.unicodeScalars.append(decoded.scalar)
            } else {
                for escapedByte in bytes[index..<(index + length)] { result += hexEscape(escapedByte) }
            }
            index += length
        }
        if index < bytes.count { result += "... (\(bytes.count) bytes)" }
        return result
    }

    /// `escaped` for a Swift string (its UTF-8 bytes).
    package static func escaped(_ text: String, limit: Int? = nil) -> String {
        escaped(Array(text.utf8), limit: limit)
    }

    /// Whether a non-ASCII character may reach a terminal as it is.  Not: the
    /// C1 controls (U+0080-U+009F; U+009B is a one-character CSI), format
    /// characters (the bidi embeddings and overrides U+202A-U+202E, the
    /// isolates U+2066-U+2069, zero-width characters), the line and paragraph
    /// separators, private-use, surrogate and unassigned code points.
    package static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            return false
        default:
            return true
        }
    }

    /// The character whose valid UTF-8 starts at `bytes[index]`, and how many
    /// bytes it takes; nil when the bytes there are not valid UTF-8 (the
    /// standard library's validation rejects overlong forms and surrogates).
    private static func scalar(in bytes: [UInt8], at index: Int) -> (scalar: Unicode.Scalar, length: Int)? {
        let length: Int
        switch bytes[index] {
        case 0x00...0x7F: length = 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return nil
        }
        guard index + length <= bytes.count,
            let character = String(validating: bytes[index..<(index + length)], as: UTF8.self),
            let scalar = character.unicodeScalars.first
        else { return nil }
        return (scalar, length)
    }

    /// "\x1b".
    private static func hexEscape(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return "\\x" + (digits.count == 1 ? "0" + digits : digits)
    }
}
