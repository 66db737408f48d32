import FoundationEssentials
import Glibc

/// Where this executable lives, to find itself and its sibling programs.
package enum ExecutableLocation {
    /// The absolute path of the running executable (/proc/self/exe).
    package static var path: String {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return resolved
        }
        return URL(filePath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// The folder that holds the running executable.
    package static var directory: String { Paths.parent(of: path) }

    /// True when `path` is a regular file we may execute.
    package static func isExecutable(_ path: String) -> Bool {
        var isDirectory = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory
            && access(path, X_OK) == 0
    }

    /// The first of `names` that is an executable file in one of `folders`
    /// (in that order: every name in the first folder, then the next folder).
    package static func find(_ names: [String], in folders: [String]) -> String? {
        for folder in folders {
            for name in names {
                let candidate = Paths.join(folder, name)
                if isExecutable(candidate) { return candidate }
            }
        }
        return nil
    }
}

/// Quoting for `/bin/sh`, used to show command lines and to substitute
/// values into the `--server-cmd`/`--client-cmd` templates of the
/// conformance runner.
package enum ShellQuoting {
    /// `text` unchanged if the shell would take it literally, else in single quotes.
    package static func quoteIfNeeded(_ text: String) -> String {
        let safe = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./=:,+@%")
        if !text.isEmpty && text.allSatisfy({ safe.contains($0) }) { return text }
        return "'" + text.replacing("'", with: "'\\''") + "'"
    }
}
