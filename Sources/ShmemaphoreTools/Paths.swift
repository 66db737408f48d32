import Glibc

/// Path arithmetic on plain strings, in the manner of NSString's
/// path methods, which FoundationEssentials does not have.
package enum Paths {
    /// `folder` + "/" + `name`, with no doubled slash.
    package static func join(_ folder: String, _ name: String) -> String {
        if folder.isEmpty { return name }
        return folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    /// The folder part of `path`: "a/b" for "a/b/c", "/" for "/c", "" for "c".
    package static func parent(of path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        let parent = withoutTrailingSlashes(String(trimmed[..<slash]))
        return parent.isEmpty ? "/" : parent
    }

    /// The last part of `path`: "c" for "a/b/c" and for "a/b/c/".
    package static func lastComponent(of path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    private static func withoutTrailingSlashes(_ path: String) -> String {
        var result = Substring(path)
        while result.count > 1 && result.hasSuffix("/") { result = result.dropLast() }
        return String(result)
    }
}

extension Paths {
    /// $TMPDIR, or /tmp when it is unset or empty.
    package static var temporaryDirectory: String {
        guard let value = getenv("TMPDIR"), value.pointee != 0 else { return "/tmp" }
        return String(cString: value)
    }

    /// A fresh folder `<temporaryDirectory>/<prefix>-XXXXXX` (mkdtemp), for a
    /// run's work files.
    package static func makeTemporaryFolder(prefix: String) throws -> String {
        let base = temporaryDirectory
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CommandFailure(.failure, "cannot create a work folder in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }
}
