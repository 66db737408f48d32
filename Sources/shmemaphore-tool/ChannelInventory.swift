import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// The tool's names for a channel's objects: the keys of `ls --json` and
/// the order `ls` and `rm` list them in.
extension ChannelObject {
    var key: String {
        switch self {
        case .header: return "head"
        case .data: return "data"
        case .requestSemaphore: return "req"
        case .responseSemaphore: return "res"
        }
    }
}

/// What `ls` and `rm` know about one object.  Every string in it is already
/// escaped (`UntrustedText`), ready to print or to encode: the names come
/// from /dev/shm.
struct ObjectStatus: Encodable {
    /// The file's path.
    var path: String
    /// The file's name in /dev/shm (not encoded: `path` ends with it).
    var fileName: String
    var present: Bool
    /// What the name is ("file", "symlink", "directory", ...), when it could be looked at.
    var type: String?
    var size: Int64?
    /// Permission bits in octal, e.g. "0600".
    var mode: String?
    var uid: UInt32?
    var owner: String?
    /// A semaphore's count, when it could be read (pread of the sem_t).
    var value: Int32?
    /// Processes that have the object open or mapped.
    var pids: [Int32]
    /// Why the object could not be inspected.
    var error: String?
    /// The inspection itself (not encoded).
    var inspected: InspectedFile?

    private enum CodingKeys: String, CodingKey {
        case path, present, type, size, mode, uid, owner, value, pids, error
    }
}

/// What `ls` and `rm` know about one channel.
struct ChannelStatus: Encodable {
    /// Is the channel in use, or a leftover?
    enum State: String, Encodable {
        /// All four objects are regular files and some process has the data
        /// segment open (or a server holds its liveness lock).
        case alive
        /// Anything else: nobody attached, or objects missing or not files.
        case stale
    }

    /// S, the channel name as it appears in the object names, escaped.
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
    /// The look that every field was made from (not encoded): what `rm` removes.
    var snapshot: ChannelSnapshot

    private enum CodingKeys: String, CodingKey {
        case channel, state, server, client, pids, objects
    }

    /// The status of `object`.
    func object(_ object: ChannelObject) -> ObjectStatus { objects[object.key]! }
}

/// Finds channels in /dev/shm and inspects them without ever creating,
/// mapping or changing an object (`ObjectInspection`: one read-only,
/// no-follow descriptor per file, contents read with pread), so that an
/// owner who truncates, swaps or symlinks its files meanwhile cannot make
/// this process fault or look elsewhere.
enum ChannelInventory {
    /// Every channel with at least one object in /dev/shm, sorted by S.
    static func scan() throws(ShmemaphoreError) -> [ChannelStatus] {
        let users = ObjectUsers.scan()
        return try ChannelInspector.channels().map { status(of: ChannelInspector.inspect($0), users: users) }
    }

    /// The status of one channel's objects, as `snapshot` saw them.
    static func status(of snapshot: ChannelSnapshot, users: ObjectUsers) -> ChannelStatus {
        var statuses: [String: ObjectStatus] = [:]
        for object in ChannelObject.allCases {
            statuses[object.key] = status(of: object, in: snapshot, users: users)
        }
        let all = statuses.values
        // The lock also reveals servers whose /proc entries we may not read (other users).
        let attached = !statuses[ChannelObject.data.key]!.pids.isEmpty || snapshot.serverLocked == true
        let alive = snapshot.isComplete && attached
        let pids = Set(all.flatMap(\.pids)).sorted()
        return ChannelStatus(
            channel: UntrustedText.escaped(snapshot.files.sanitizedName), state: alive ? .alive : .stale,
            server: snapshot.serverLocked, client: snapshot.clientLocked, pids: pids, objects: statuses,
            snapshot: snapshot)
    }

    private static func status(of object: ChannelObject, in snapshot: ChannelSnapshot, users: ObjectUsers) -> ObjectStatus {
        var status = ObjectStatus(
            path: UntrustedText.escaped(snapshot.files.path(object)),
            fileName: UntrustedText.escaped(snapshot.files.fileName(object)), present: false, pids: [])
        switch snapshot.objects[object]! {
        case .failure(let error):
            // Something is there (or may be) that could not be looked at; the error names the file.
            status.present = true
            status.error = UntrustedText.escaped(error.description)
        case .success(nil):
            break
        case .success(let file?):
            status.present = true
            status.type = file.kind.rawValue
            status.size = file.size
            status.mode = octalMode(file.permissions)
            status.uid = file.owner
            status.owner = UntrustedText.escaped(userName(of: file.owner))
            status.value = file.semaphoreCount
            status.pids = users.pids(usingInode: file.inode)
            status.inspected = file
        }
        return status
    }

    /// "0600".
    static func octalMode(_ permissions: UInt32) -> String {
        let digits = String(permissions & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The user name of `uid` (getpwuid_r), or the number.
    static func userName(of uid: UInt32) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let status = getpwuid_r(uid_t(uid), &entry, &buffer, buffer.count, &result)
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

    /// The processes using the file with inode `inode` in /dev/shm, sorted.
    /// By the inode the inspection's own descriptor saw: a lookup by name
    /// would follow a symlink, or find a file swapped in since.
    func pids(usingInode inode: UInt64) -> [Int32] {
        pidsByInode[inode].map { $0.sorted() } ?? []
    }

    /// Scans every process.
    static func scan() -> ObjectUsers {
        var users = ObjectUsers()
        let me = getpid()
        let prefix = ChannelInspector.directory + "/"
        var shmInfo = stat()
        guard stat(ChannelInspector.directory, &shmInfo) == 0,
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
