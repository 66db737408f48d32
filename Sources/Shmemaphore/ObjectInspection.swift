import CShmemaphoreShims
import Glibc

// Looking at files in /dev/shm that this process did not make and must not
// trust (docs/PROTOCOL.md, "Permissions", Inspection): `ChannelInspector`
// (ls, rm, the runners, the tests) uses this, and nothing here creates, maps
// or writes a file.
//
// A file's owner can truncate it at any moment, so its contents are read
// with pread through one descriptor (a short read is an answer; a mapping
// would fault with SIGBUS), and that descriptor's fstat is what is reported:
// a second lookup by name could find another file.  Names are raw bytes,
// since whoever makes a file in /dev/shm chooses its name and it need not
// be UTF-8.

/// What kind of file a name in /dev/shm is (the S_IFMT bits).
package enum FileKind: String, Sendable {
    case regularFile = "file"
    case symbolicLink = "symlink"
    case directory
    case fifo
    case socket
    case characterDevice = "character-device"
    case blockDevice = "block-device"
    case unknown

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regularFile
        case S_IFLNK: self = .symbolicLink
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        default: self = .unknown
        }
    }
}

/// What `ObjectInspection.inspect` reads from a regular file besides its status.
package enum InspectedContent: Sendable {
    /// Nothing (a data segment: its bytes are the peers' business).
    case none
    /// The count of the `sem_t` at the start of the file (a semaphore).
    case semaphoreCount
    /// Whether a server and a client hold their liveness locks (a header
    /// segment, docs/PROTOCOL.md "Liveness").
    case livenessLocks
}

/// One look at a name in /dev/shm.
package struct InspectedFile: Sendable {
    /// What the name is; only a regular file was opened and read.
    package let kind: FileKind
    /// Which file was looked at, so that `ObjectInspection.remove` removes
    /// only that one.
    let identity: FileIdentity
    /// Size in bytes, as fstat (or lstat) reported it.
    package let size: Int64
    /// The permission bits (mode & 0o7777).
    package let permissions: UInt32
    /// The owner's user id.
    package let owner: UInt32
    /// Whether the status came from fstat of a descriptor this process
    /// opened.  False when the name is not a regular file or could not be
    /// opened (another user's file, say): then only lstat, which never
    /// follows a symlink, described the name itself, and nothing was read.
    package let wasOpened: Bool
    /// The semaphore's count; nil unless asked for, or when the file holds
    /// less than a `sem_t` (its owner may be truncating it) or was not opened.
    package let semaphoreCount: Int32?
    /// Whether another process holds the server's liveness lock (byte 0 of
    /// HEAD); nil unless asked for, or when it could not be tested.
    package let serverLocked: Bool?
    /// Whether another process holds the client's liveness lock (byte 1).
    package let clientLocked: Bool?

    /// The file's inode: how /proc shows which processes have it open or mapped.
    package var inode: UInt64 { identity.inode }
}

/// How `ObjectInspection.remove` ended.
package enum RemovalOutcome: Sendable, Equatable {
    /// The name is gone.
    case removed
    /// The name now names another file than the one inspected; it was left alone.
    case replaced
    /// The name still names the inspected file: the system refused to
    /// unlink it (not this user's to remove, or a directory), with this errno.
    case refused(errno: Int32)
}

/// Inspection and removal of files in /dev/shm (see the top of this file).
package enum ObjectInspection {
    /// The names in `directory`, as raw bytes, without "." and "..".
    package static func names(inDirectory directory: String) throws(ShmemaphoreError) -> [[UInt8]] {
        guard let stream = try syscall("opendir \(directory)", failed: { $0 == nil }, { opendir(directory) }) else { return [] }
        defer { bestEffort { closedir(stream) } }
        var names: [[UInt8]] = []
        while true {
            guard let entry = try nextDirectoryEntry(stream, describing: directory) else { return names }
            // In place, up to its NUL: the kernel's record ends there (rounded
            // up), so copying all of d_name's 256 bytes would read past it.
            let namePointer = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let length = strnlen(namePointer.assumingMemoryBound(to: CChar.self), Int(NAME_MAX) + 1)
            let name = Array(UnsafeRawBufferPointer(start: namePointer, count: length))
            if name != Array(".".utf8) && name != Array("..".utf8) { names.append(name) }
        }
    }

    /// Looks at the file named `path` (raw bytes) without following a
    /// symlink, and reads `content` from it if it is a regular file.  nil when
    /// there is no such name.
    ///
    /// lstat first, so that only a regular file is ever opened (opening a
    /// FIFO or a device can have effects); then the file is opened once,
    /// read-only, no-follow, non-blocking, and everything reported comes from
    /// that descriptor: fstat, then pread.  A name that cannot be opened
    /// (another user's file, one swapped for a symlink meanwhile) is
    /// described by its lstat alone.
    package static func inspect(_ path: [UInt8], reading content: InspectedContent) throws(ShmemaphoreError) -> InspectedFile? {
        let described = String(decoding: path, as: UTF8.self)
        let cPath = path.map { CChar(bitPattern: $0) } + [0]
        var linkStatus = stat()
        do {
            try syscall("lstat \(described)") { lstat(cPath, &linkStatus) }
        } catch .system(errno: ENOENT, _) {
            return nil
        }
        guard FileKind(mode: linkStatus.st_mode) == .regularFile else { return describe(linkStatus, wasOpened: false) }
        let descriptor: Int32
        do {
            descriptor = try syscall("open \(described)") { shmemaphore_shim_open_for_reading(cPath) }
        } catch .system(errno: ENOENT, _) {
            return nil
        } catch .system(errno: let error, _) where [EACCES, EPERM, ELOOP, ENXIO, ENODEV, EAGAIN].contains(error) {
            return describe(linkStatus, wasOpened: false)
        }
        defer { bestEffort { close(descriptor) } }
        let status = try ObjectFile.fileStatus(descriptor, describing: described)
        // The name may have been swapped between the lstat and the open: what
        // the descriptor holds is the truth, and only a regular file is read.
        guard FileKind(mode: status.st_mode) == .regularFile else { return describe(status, wasOpened: true) }
        switch content {
        case .none:
            return describe(status, wasOpened: true)
        case .semaphoreCount:
            // An unreadable count is reported as unknown: the status is still worth showing.
            return describe(status, wasOpened: true, semaphoreCount: try? semaphoreCount(descriptor, describing: described))
        case .livenessLocks:
            let server = try? isLocked(descriptor, byte: Wire.serverLivenessByte, describing: described)
            let client = try? isLocked(descriptor, byte: Wire.clientLivenessByte, describing: described)
            return describe(status, wasOpened: true, serverLocked: server, clientLocked: client)
        }
    }

    /// Removes the name `path` (never what a symlink points to) while it
    /// still names the file `inspected` describes: the check right before the
    /// unlink is `ObjectFile.unlink(_:ifStill:)`'s.  Says what became of the
    /// name.
    package static func remove(_ path: [UInt8], ifStill inspected: InspectedFile) -> RemovalOutcome {
        let failure = ObjectFile.unlink(path, ifStill: inspected.identity)
        switch ObjectFile.identity(at: path) {
        case nil: return .removed
        case inspected.identity: return .refused(errno: failure?.rawValue ?? EPERM)
        default: return .replaced
        }
    }

    private static func describe(
        _ status: stat, wasOpened: Bool, semaphoreCount: Int32? = nil, serverLocked: Bool? = nil, clientLocked: Bool? = nil
    ) -> InspectedFile {
        InspectedFile(
            kind: FileKind(mode: status.st_mode), identity: FileIdentity(status), size: Int64(status.st_size),
            permissions: UInt32(status.st_mode) & 0o7777, owner: UInt32(status.st_uid), wasOpened: wasOpened,
            semaphoreCount: semaphoreCount, serverLocked: serverLocked, clientLocked: clientLocked)
    }

    /// The count of the `sem_t` at the start of the file, read with pread
    /// into a private copy; nil when the file holds less (a short read).
    private static func semaphoreCount(_ descriptor: Int32, describing path: String) throws(ShmemaphoreError) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: NamedSemaphore.fileSize)
        var done = 0
        while done < bytes.count {
            let got = try syscall("pread \(path)") {
                bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            }
            if got == 0 { return nil }
            done += got
        }
        var value: Int32 = 0
        try syscall("sem_getvalue \(path)") { shmemaphore_shim_sem_value_of_bytes(bytes, &value) }
        return value
    }

    /// Whether another open file description holds an OFD lock on `byte`
    /// (F_OFD_GETLK: tests without taking anything, so closing our
    /// descriptor releases nothing of the peers').
    private static func isLocked(_ descriptor: Int32, byte: Int, describing path: String) throws(ShmemaphoreError) -> Bool {
        try syscall("test lock on byte \(byte) of \(path)") { shmemaphore_shim_ofd_lock_end(descriptor, Int64(byte)) } != 0
    }
}
