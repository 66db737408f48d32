import Glibc

/// Writing to the standard streams with write(2), without the C library's
/// `stdout`/`stderr` globals (which Swift 6 treats as shared mutable state).
///
/// Each call writes one whole line, so the lines of concurrent writers do not
/// interleave mid-line and a reader on a pipe sees each line as soon as it is
/// complete (no buffering to flush).
package enum Console {
    /// Writes `text` and a newline to standard output.
    /// - Returns: false when standard output is gone (EPIPE) or failed.
    @discardableResult
    package static func printLine(_ text: String) -> Bool { write(text + "\n", to: STDOUT_FILENO) }

    /// Writes `text` and a newline to standard error.
    @discardableResult
    package static func printError(_ text: String) -> Bool {
        write(text.hasSuffix("\n") ? text : text + "\n", to: STDERR_FILENO)
    }

    /// Writes all of `text` to `descriptor`, retrying short writes and EINTR.
    package static func write(_ text: String, to descriptor: Int32) -> Bool {
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
