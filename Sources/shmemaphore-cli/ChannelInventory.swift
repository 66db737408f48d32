import Foundation
import Shmemaphore

/// The four objects of one channel, named by S, the channel name with "/"
/// replaced by "_" (docs/PROTOCOL.md, "Object names").
struct ChannelObjects: Hashable {
    /// The four objects, in the order the tool lists them.
    enum Role: String, CaseIterable, Codable {
        case head, data, req, res

        var isSemaphore: Bool { self == .req || self == .res }
    }

    /// S: what sits between the prefix and the suffix of every object name.
    let sanitizedName: String

    init(sanitizedName: String) { self.sanitizedName = sanitizedName }

    /// The objects of a validated channel name.
    init(_ name: ChannelName) {
        // "/SEG_" + S + "_HEAD"
        sanitizedName = String(name.headerSegment.dropFirst("/SEG_".count).dropLast("_HEAD".count))
    }

    /// The POSIX name, as shm_open/sem_open take it ("/SEG_S_HEAD", "/SEM_S_REQ").
    func posixName(_ role: Role) -> String {
        switch role {
        case .head: return "/SEG_\(sanitizedName)_HEAD"
        case .data: return "/SEG_\(sanitizedName)_DATA"
        case .req: return "/SEM_\(sanitizedName)_REQ"
        case .res: return "/SEM_\(sanitizedName)_RES"
        }
    }

    /// The file's name in /dev/shm ("SEG_S_HEAD", "sem.SEM_S_REQ").
    func fileName(_ role: Role) -> String {
        role.isSemaphore ? "sem." + posixName(role).dropFirst() : String(posixName(role).dropFirst())
    }

    /// The file's path.
    func path(_ role: Role) -> String { ChannelInventory.directory + "/" + fileName(role) }

    /// Which object (and of which channel) a file in /dev/shm is, if any.
    static func parse(fileName: String) -> (ChannelObjects, Role)? {
        let patterns: [(prefix: String, suffix: String, role: Role)] = [
            ("SEG_", "_HEAD", .head), ("SEG_", "_DATA", .data), ("sem.SEM_", "_REQ", .req), ("sem.SEM_", "_RES", .res),
        ]
        let bytes = Array(fileName.utf8)
        for pattern in patterns {
            let prefix = Array(pattern.prefix.utf8), suffix = Array(pattern.suffix.utf8)
            guard bytes.count > prefix.count + suffix.count, bytes.starts(with: prefix),
                bytes.suffix(suffix.count).elementsEqual(suffix)
            else { continue }
            let middle = bytes[prefix.count..<(bytes.count - suffix.count)]
            return (ChannelObjects(sanitizedName: String(decoding: middle, as: UTF8.self)), pattern.role)
        }
        return nil
    }
}

/// What `ls` and `rm` know about one object.
struct ObjectStatus: Codable, Equatable {
    var path: String
    var present: Bool
    var size: Int64?
    /// Permission bits in octal, e.g. "0600".
    var mode: String?
    var uid: UInt32?
    var owner: String?
    /// A semaphore's count (sem_getvalue), when it could be read.
    var value: Int32?
    /// Processes that have the object open or mapped.
    var pids: [Int32]
}

/// What `ls` and `rm` know about one channel.
struct ChannelStatus: Codable {
    /// Is the channel in use, or a leftover?
    enum State: String, Codable {
        /// All four objects exist and some process has the data segment open.
        case alive
        /// Anything else: nobody attached, or objects missing.
        case stale
    }

    /// S, the channel name as it appears in the object names.
    var channel: String
    var state: State
    /// Whether a libshmemaphore server holds its liveness lock on HEAD (byte 0,
    /// docs/PROTOCOL.md "Liveness"); nil when HEAD is missing or unreadable.
    var server: Bool?
    /// Whether a libshmemaphore client holds its liveness lock (byte 1).
    var client: Bool?
    /// Processes using any of the four objects.
    var pids: [Int32]
    var objects: [String: ObjectStatus]

    /// The object of `role`.
    func object(_ role: ChannelObjects.Role) -> ObjectStatus { objects[role.rawValue]! }
}

/// Finds channels in /dev/shm and inspects them, without ever creating or
/// changing an object: semaphores are opened without O_CREAT, read with
/// sem_getvalue and closed again.
enum ChannelInventory {
    /// Where glibc keeps POSIX shared memory and named semaphores on Linux.
    static let directory = "/dev/shm"

    /// Every channel with at least one object in /dev/shm, sorted by name.
    static func scan() -> [ChannelStatus] {
        var channels = Set<ChannelObjects>()
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for entry in entries {
                if let (objects, _) = ChannelObjects.parse(fileName: entry) { channels.insert(objects) }
            }
        }
        let users = ObjectUsers.scan()
        return channels.sorted { $0.sanitizedName < $1.sanitizedName }.map { status(of: $0, users: users) }
    }

    /// The status of one channel's objects.
    static func status(of objects: ChannelObjects, users: ObjectUsers) -> ChannelStatus {
        var statuses: [String: ObjectStatus] = [:]
        for role in ChannelObjects.Role.allCases {
            statuses[role.rawValue] = inspect(objects, role, users: users)
        }
        let all = statuses.values
        let locks = livenessLocks(onHeader: objects.path(.head))
        // The lock also reveals servers whose /proc entries we may not read (other users).
        let attached = !statuses[ChannelObjects.Role.data.rawValue]!.pids.isEmpty || locks.server == true
        let alive = all.allSatisfy(\.present) && attached
        let pids = Set(all.flatMap(\.pids)).sorted()
        return ChannelStatus(
            channel: objects.sanitizedName, state: alive ? .alive : .stale, server: locks.server, client: locks.client,
            pids: pids, objects: statuses)
    }

    /// F_OFD_GETLK from Linux's <fcntl.h> (the Glibc module does not export
    /// the _GNU_SOURCE names); the same value on every architecture.
    private static let getOpenFileDescriptionLock: Int32 = 36

    /// Tests the liveness locks on bytes 0 (server) and 1 (client) of HEAD.
    /// Opening the file read-only and testing takes no lock and, because the
    /// locks belong to the peers' own open file descriptions, closing ours
    /// releases nothing of theirs.
    private static func livenessLocks(onHeader path: String) -> (server: Bool?, client: Bool?) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard descriptor >= 0 else { return (nil, nil) }
        defer { close(descriptor) }
        func isLocked(_ byte: Int) -> Bool? {
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = off_t(byte)
            lock.l_len = 1
            guard fcntl(descriptor, getOpenFileDescriptionLock, &lock) == 0 else { return nil }
            return lock.l_type != Int16(F_UNLCK)
        }
        return (isLocked(0), isLocked(1))
    }

    private static func inspect(_ objects: ChannelObjects, _ role: ChannelObjects.Role, users: ObjectUsers) -> ObjectStatus {
        let path = objects.path(role)
        var info = stat()
        guard lstat(path, &info) == 0 else { return ObjectStatus(path: path, present: false, pids: []) }
        var status = ObjectStatus(
            path: path, present: true, size: Int64(info.st_size), mode: octalMode(info.st_mode), uid: info.st_uid,
            owner: userName(of: info.st_uid), pids: users.pids(using: path))
        if role.isSemaphore { status.value = semaphoreValue(objects.posixName(role), info: info) }
        return status
    }

    /// A semaphore's count, read without creating anything.  Only a regular
    /// file at least as large as a sem_t is opened: glibc maps it without
    /// checking, and reading a shorter file would raise SIGBUS.
    private static func semaphoreValue(_ posixName: String, info: stat) -> Int32? {
        guard (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) >= MemoryLayout<sem_t>.size,
            let semaphore = sem_open(posixName, 0)
        else { return nil }
        defer { sem_close(semaphore) }
        var value: Int32 = 0
        return sem_getvalue(semaphore, &value) == 0 ? value : nil
    }

    /// "0600".
    static func octalMode(_ mode: mode_t) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The user name of `uid` (getpwuid_r), or the number.
    static func userName(of uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil, let name = entry.pw_name else { return String(uid) }
        return String(cString: name)
    }
}

/// Which processes use which objects in /dev/shm, from /proc/<pid>/fd (open
/// descriptors) and /proc/<pid>/maps (mappings: a semaphore is only mapped,
/// and a peer may close a segment's descriptor after mapping it).  Objects
/// are matched by inode, not by name: glibc creates a semaphore under a
/// temporary name and renames it, so its creator's mapping shows that name.
/// Processes whose /proc entries we cannot read are skipped; this process is
/// left out.
struct ObjectUsers {
    private var pidsByInode: [UInt64: Set<Int32>] = [:]

    /// The processes using the file at `path`, sorted.
    func pids(using path: String) -> [Int32] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        return pidsByInode[UInt64(info.st_ino)].map { $0.sorted() } ?? []
    }

    /// Scans every process.
    static func scan() -> ObjectUsers {
        var users = ObjectUsers()
        let me = getpid()
        let prefix = ChannelInventory.directory + "/"
        var shmInfo = stat()
        guard stat(ChannelInventory.directory, &shmInfo) == 0,
            let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc")
        else { return users }
        for entry in entries {
            guard let pid = Int32(entry), pid != me else { continue }
            if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") {
                for descriptor in descriptors {
                    let link = "/proc/\(pid)/fd/\(descriptor)"
                    var info = stat()
                    guard let target = readLink(link), target.hasPrefix(prefix), stat(link, &info) == 0,
                        info.st_dev == shmInfo.st_dev
                    else { continue }
                    users.pidsByInode[UInt64(info.st_ino), default: []].insert(pid)
                }
            }
            // "address perms offset dev inode path": the inode of every mapping of a /dev/shm file.
            for line in readFile("/proc/\(pid)/maps").split(separator: "\n") where line.contains(" " + prefix) {
                let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
                if fields.count == 6, let inode = UInt64(fields[4]) {
                    users.pidsByInode[inode, default: []].insert(pid)
                }
            }
        }
        return users
    }

    /// readlink(2) as a String.
    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A /proc file's text ("" if unreadable); read to the end, since /proc
    /// files report a size of 0.
    private static func readFile(_ path: String) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
