import Glibc

/// A descriptor a program opened, closed when the last user lets go (a log
/// file shared by a child's stdout and stderr, a pipe's read end held by a
/// ``LineReader``).  Opened close-on-exec: a child gets only what
/// posix_spawn's file actions give it.
package final class OpenFile {
    package let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }
    deinit { close(descriptor) }

    /// Creates or truncates `path` for writing.
    package static func create(_ path: String) throws -> OpenFile {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CommandFailure(.failure, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return OpenFile(descriptor: descriptor)
    }

    /// A new file under $TMPDIR (or /tmp) that has no name any more: it goes
    /// away with its last descriptor.  Read it back with ``contents()``.
    package static func temporary() throws -> OpenFile {
        var template = Array("\(Paths.temporaryDirectory)/shmemaphore-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw CommandFailure(
                .failure, "cannot create a file in \(Paths.temporaryDirectory): \(String(cString: strerror(errno)))")
        }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return OpenFile(descriptor: descriptor)
    }

    /// A new pipe.
    package static func pipe() throws -> (read: OpenFile, write: OpenFile) {
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else {
            throw CommandFailure(.failure, "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return (OpenFile(descriptor: ends[0]), OpenFile(descriptor: ends[1]))
    }

    /// The file's whole contents, read from its start (pread: the position
    /// a child shares with this descriptor does not matter).
    package func contents() -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(result.count)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return result }
            result.append(contentsOf: chunk[..<count])
        }
    }
}

/// Reads lines from a pipe with a deadline: poll(2) in short slices, then
/// read(2), so that a silent child cannot block the reader forever and a
/// signal is noticed within the slice.
package final class LineReader {
    /// What ``next(deadline:signals:)`` found.
    package enum Event: Equatable {
        case line(String)
        case endOfFile
        case timedOut
        case interrupted
    }

    private let descriptor: Int32
    private let owner: AnyObject
    private var buffer: [UInt8] = []
    private var atEndOfFile = false

    /// Reads `descriptor`; `owner` keeps the object that owns it open.
    package init(descriptor: Int32, owner: AnyObject) {
        self.descriptor = descriptor
        self.owner = owner
    }

    /// The next complete line (without its "\n"); a last line without a
    /// newline is returned at end of file.
    package func next(deadline: ContinuousClock.Instant, signals: SignalWatcher? = nil) -> Event {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return .line(line)
            }
            if atEndOfFile {
                guard !buffer.isEmpty else { return .endOfFile }
                defer { buffer.removeAll() }
                return .line(String(decoding: buffer, as: UTF8.self))
            }
            if signals?.shouldStop == true { return .interrupted }
            let remaining = deadline.timeRemaining
            if remaining == .zero { return .timedOut }
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let slice = Int32(min(100, max(1, Durations.milliseconds(remaining))))
            let ready = poll(&request, 1, slice)
            if ready < 0 && errno != EINTR { atEndOfFile = true; continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.append(contentsOf: chunk[..<count])
            } else if count == 0 || errno != EINTR {
                atEndOfFile = true
            }
        }
    }
}
