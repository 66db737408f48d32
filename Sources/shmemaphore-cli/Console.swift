import Glibc

/// Writing to the standard streams with write(2), without the C library's
/// `stdout`/`stderr` globals (which Swift 6 treats as shared mutable state).
///
/// Each call writes one whole line, so the lines of concurrent writers do not
/// interleave mid-line and a reader on a pipe sees each line as soon as it is
/// complete (no buffering to flush).
enum Console {
    /// Writes `text` and a newline to standard output.
    /// - Returns: false when standard output is gone (EPIPE) or failed.
    @discardableResult
    static func printLine(_ text: String) -> Bool { write(text + "\n", to: STDOUT_FILENO) }

    /// Writes `text` and a newline to standard error.
    @discardableResult
    static func printError(_ text: String) -> Bool {
        write(text.hasSuffix("\n") ? text : text + "\n", to: STDERR_FILENO)
    }

    /// Writes all of `text` to `descriptor`, retrying short writes and EINTR.
    static func write(_ text: String, to descriptor: Int32) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return true }
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, base + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }
}

/// Text that came from another process, made safe to print on one line.
enum UntrustedText {
    /// Decodes `bytes` as UTF-8 (invalid sequences become U+FFFD), replaces
    /// control characters with "?", and cuts the result after `limit`
    /// characters, noting the full length.
    static func printable<Bytes: Collection<UInt8>>(_ bytes: Bytes, limit: Int = 200) -> String {
        let decoded = String(decoding: bytes.prefix(limit * 4), as: UTF8.self)
        var result = ""
        var shown = 0
        for scalar in decoded.unicodeScalars {
            if shown == limit { return result + "... (\(bytes.count) bytes)" }
            result.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
            shown += 1
        }
        return bytes.count > limit * 4 ? result + "... (\(bytes.count) bytes)" : result
    }

    /// `printable` for a Swift string.
    static func printable(_ text: String, limit: Int = 200) -> String {
        printable(Array(text.utf8), limit: limit)
    }
}
