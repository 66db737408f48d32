import CShmemaphoreShims
import Glibc

// Every object of a channel is a file in /dev/shm that another process may
// have made, replaced, truncated or swapped for a symlink.  This file holds
// the one way the library opens such a file (once, by descriptor: no second
// lookup by name), the checks that descriptor must pass, and the one way it
// unlinks a name (only while the name still is the object this process made).

/// Which file a descriptor is: device and inode, as fstat reports them.
package struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

/// Opening, checking and unlinking object files.
package enum ObjectFile {
    /// Opens the existing file at `path` read-write (or read-only for
    /// inspection) without following a symlink or blocking on a FIFO, and
    /// checks the descriptor (`check`).  ENOENT when there is none.
    static func openExisting(
        _ path: String, minimumSize: Int, options: ChannelOptions, readOnly: Bool = false
    ) throws(ShmemaphoreError) -> (descriptor: Int32, status: stat) {
        let descriptor = try syscall("open \(path)") {
            readOnly ? shmemaphore_shim_open_for_reading(path) : shmemaphore_shim_open_nofollow(path)
        }
        do throws(ShmemaphoreError) {
            let status = try fileStatus(descriptor, describing: path)
            try check(status, describing: path, minimumSize: minimumSize, options: options)
            return (descriptor, status)
        } catch {
            bestEffort { close(descriptor) }
            throw error
        }
    }

    /// fstat through the choke point.
    static func fileStatus(_ descriptor: Int32, describing path: String) throws(ShmemaphoreError) -> stat {
        var status = stat()
        try syscall("fstat \(path)") { fstat(descriptor, &status) }
        return status
    }

    /// The rules for an object another process made (docs/PROTOCOL.md,
    /// "Permissions"): a regular file, of this process's user (unless foreign
    /// owners are allowed), writable by nobody beyond the configured mode,
    /// and at least `minimumSize` bytes long.
    static func check(_ status: stat, describing path: String, minimumSize: Int, options: ChannelOptions) throws(ShmemaphoreError) {
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw .unsafePermissions("\(path) is not a regular file")
        }
        if !options.allowForeignOwner && status.st_uid != geteuid() {
            throw .unsafePermissions("\(path) belongs to user \(status.st_uid), not to this process's user \(geteuid())")
        }
        let mode = UInt32(status.st_mode) & 0o777
        let allowedWrite: UInt32 = 0o200 | (options.mode & 0o020)
        if mode & 0o222 & ~allowedWrite != 0 {
            throw .unsafePermissions("\(path) has mode \(String(mode, radix: 8)), writable by \(mode & 0o002 != 0 ? "others" : "the group")")
        }
        guard Int(status.st_size) >= minimumSize else {
            throw .protocolViolation("\(path) holds \(status.st_size) bytes; it must hold at least \(minimumSize)")
        }
    }

    /// The identity of whatever `path` names now (lstat: a symlink is itself), or nil.
    static func identity(at path: String) -> FileIdentity? { identity(at: Array(path.utf8)) }

    /// `identity(at:)` for a path of raw bytes (a name found in /dev/shm need not be UTF-8).
    static func identity(at path: [UInt8]) -> FileIdentity? {
        let cPath = path.map { CChar(bitPattern: $0) } + [0]
        var status = stat()
        let found = try? syscall("lstat \(String(decoding: path, as: UTF8.self))") { lstat(cPath, &status) }
        return found != nil ? FileIdentity(status) : nil
    }

    /// Unlinks `path` only while it still names `identity`: a name that
    /// another process has since re-created is left alone.  (Between the
    /// lstat and the unlink only a process that may unlink in /dev/shm,
    /// which is sticky, can swap the name: the file's owner or root.)
    static func unlink(_ path: String, ifStill identity: FileIdentity) { unlink(Array(path.utf8), ifStill: identity) }

    /// `unlink(_:ifStill:)` for a path of raw bytes.  Returns why unlink
    /// failed, if it was called and did (nil: unlinked, or left alone).
    @discardableResult
    static func unlink(_ path: [UInt8], ifStill identity: FileIdentity) -> Errno? {
        guard Self.identity(at: path) == identity else { return nil }
        let cPath = path.map { CChar(bitPattern: $0) } + [0]
        if case .failure(let error) = valueOrErrno({ Glibc.unlink(cPath) }) { return error }
        return nil
    }
}
