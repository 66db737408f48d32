import FoundationEssentials
import Glibc

/// One line for an error in a message.  FoundationEssentials has no
/// `localizedDescription`, and its file errors print as their whole
/// structure; the system's reason (strerror) says what went wrong.
package enum ErrorText {
    package static func describe(_ error: any Error) -> String {
        if let failure = error as? CommandFailure { return failure.message }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        if let cocoa = error as? CocoaError, let underlying = cocoa.userInfo["NSUnderlyingError"] as? POSIXError {
            return String(cString: strerror(underlying.code.rawValue))
        }
        return "\(error)"
    }
}

extension StringProtocol {
    /// Without leading and trailing blanks (spaces, tabs; not newlines), as
    /// Foundation's `trimmingCharacters(in: .whitespaces)`.
    package var trimmingBlanks: String {
        let isBlank: (Character) -> Bool = { $0.isWhitespace && !$0.isNewline }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
