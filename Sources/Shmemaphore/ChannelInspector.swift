import Glibc

// A channel's objects as files in /dev/shm, seen from outside the protocol:
// which channels have objects there, what state they are in, and removing
// them.  The one home of these rules: `shmemaphore ls` and `rm`, the
// conformance and benchmark runners and the tests all use it.  Everything
// is looked at with `ObjectInspection` (one read-only, no-follow descriptor
// per file, contents read with pread), so an owner who truncates, swaps or
// symlinks its files meanwhile cannot make this process fault or look
// elsewhere.

/// One of a channel's four objects (docs/PROTOCOL.md, "Object names").
package enum ChannelObject: CaseIterable, Sendable {
    case header, data, requestSemaphore, responseSemaphore

    /// What the object's POSIX name has before and after S: "/SEG_" S "_HEAD".
    var posixAffixes: (prefix: String, suffix: String) {
        switch self {
        case .header: return ("/SEG_", "_HEAD")
        case .data: return ("/SEG_", "_DATA")
        case .requestSemaphore: return ("/SEM_", "_REQ")
        case .responseSemaphore: return ("/SEM_", "_RES")
        }
    }

    /// The POSIX name of this object of the channel whose object names hold `sanitized`.
    func posixName(_ sanitized: String) -> String { posixAffixes.prefix + sanitized + posixAffixes.suffix }

    /// Whether it is a named semaphore (a `sem_t` file), not a segment.
    package var isSemaphore: Bool { self == .requestSemaphore || self == .responseSemaphore }

    /// What glibc puts before a named semaphore's POSIX name (without its
    /// '/') to make its file name in /dev/shm; a segment's file has none.
    static let semaphoreFilePrefix = "sem."

    /// What its file name in /dev/shm has before and after S.
    var fileAffixes: (prefix: [UInt8], suffix: [UInt8]) {
        let affixes = posixAffixes
        let prefix = (isSemaphore ? Self.semaphoreFilePrefix : "") + affixes.prefix.dropFirst()
        return (Array(prefix.utf8), Array(affixes.suffix.utf8))
    }

    /// What inspecting the object reads besides its status: a semaphore's
    /// count, HEAD's liveness locks, nothing of DATA.
    var inspectedContent: InspectedContent {
        switch self {
        case .header: return .livenessLocks
        case .data: return .none
        case .requestSemaphore, .responseSemaphore: return .semaphoreCount
        }
    }
}

/// The four files of one channel in /dev/shm, named by S: the channel name
/// as the object names hold it.  S is raw bytes: whoever makes a file in
/// /dev/shm picks its name, and a channel found there need not have a
/// valid (or UTF-8) name.
package struct ChannelFiles: Hashable, Sendable {
    /// S, as raw bytes.
    package let sanitizedName: [UInt8]

    package init(sanitizedName: [UInt8]) { self.sanitizedName = sanitizedName }

    /// The files of a validated channel name.
    package init(_ name: ChannelName) { sanitizedName = Array(name.name.utf8) }

    /// The file's name in /dev/shm ("SEG_S_HEAD", "sem.SEM_S_REQ").
    package func fileName(_ object: ChannelObject) -> [UInt8] {
        let affixes = object.fileAffixes
        return affixes.prefix + sanitizedName + affixes.suffix
    }

    /// The file's path.
    package func path(_ object: ChannelObject) -> [UInt8] { Array((ChannelInspector.directory + "/").utf8) + fileName(object) }

    /// Which object (and of which channel) a file in /dev/shm is, if any.
    package static func parse(fileName: [UInt8]) -> (ChannelFiles, ChannelObject)? {
        for object in ChannelObject.allCases {
            let (prefix, suffix) = object.fileAffixes
            guard fileName.count > prefix.count + suffix.count, fileName.starts(with: prefix),
                fileName.suffix(suffix.count).elementsEqual(suffix)
            else { continue }
            return (ChannelFiles(sanitizedName: Array(fileName[prefix.count..<(fileName.count - suffix.count)])), object)
        }
        return nil
    }
}

/// One look at a channel's four files.
package struct ChannelSnapshot: Sendable {
    /// Which channel.
    package let files: ChannelFiles
    /// Each object: what was found (nil: no such name), or why it could not
    /// be looked at (something is there, or may be).
    package let objects: [ChannelObject: Result<InspectedFile?, ShmemaphoreError>]

    /// What was found at `object`'s name; nil when nothing, or when it could not be looked at.
    package func file(_ object: ChannelObject) -> InspectedFile? { try? objects[object]?.get() }

    /// Whether something is (or may be) at `object`'s name.
    package func isPresent(_ object: ChannelObject) -> Bool {
        switch objects[object] {
        case .success(let file)?: return file != nil
        case .failure?: return true
        case nil: return false
        }
    }

    /// Whether a libshmemaphore server holds its liveness lock on HEAD
    /// (docs/PROTOCOL.md, "Liveness"); nil when HEAD is missing or unreadable.
    package var serverLocked: Bool? { file(.header)?.serverLocked }
    /// Whether a libshmemaphore client holds its liveness lock on HEAD.
    package var clientLocked: Bool? { file(.header)?.clientLocked }
    /// Whether all four objects are regular files.
    package var isComplete: Bool { ChannelObject.allCases.allSatisfy { file($0)?.kind == .regularFile } }
}

/// Finds, inspects and removes channels' objects in /dev/shm without ever
/// creating, mapping or changing an object (see the top of this file).
package enum ChannelInspector {
    /// Where glibc keeps POSIX shared memory and named semaphores on Linux.
    package static let directory = "/dev/shm"

    /// Every channel with at least one object in /dev/shm, sorted by S.
    package static func channels() throws(ShmemaphoreError) -> [ChannelFiles] {
        var channels = Set<ChannelFiles>()
        for name in try ObjectInspection.names(inDirectory: directory) {
            if let (files, _) = ChannelFiles.parse(fileName: name) { channels.insert(files) }
        }
        return channels.sorted { $0.sanitizedName.lexicographicallyPrecedes($1.sanitizedName) }
    }

    /// Looks at the four files of `files`.
    package static func inspect(_ files: ChannelFiles) -> ChannelSnapshot {
        var objects: [ChannelObject: Result<InspectedFile?, ShmemaphoreError>] = [:]
        for object in ChannelObject.allCases {
            objects[object] = Result { () throws(ShmemaphoreError) in
                try ObjectInspection.inspect(files.path(object), reading: object.inspectedContent)
            }
        }
        return ChannelSnapshot(files: files, objects: objects)
    }

    /// Removes the name of `object` while it still names the file that
    /// `snapshot` saw there (never what a symlink points to).  nil when
    /// nothing was seen there, or it could not be looked at.
    package static func remove(_ object: ChannelObject, of snapshot: ChannelSnapshot) -> RemovalOutcome? {
        guard let file = snapshot.file(object) else { return nil }
        // The path of a channel found in /dev/shm need not be UTF-8; the
        // removal must still name exactly those bytes.
        let path = snapshot.files.path(object)
        return ObjectInspection.remove(path, ifStill: file)
    }

    /// Removes the objects of channel `name`, each only while it is the file
    /// just looked at: what `shmemaphore rm` and `shmemaphore_remove_channel`
    /// do.  Returns how many were removed (0 when none existed); `progress`
    /// hears the count after each removal, so that a caller knows it also
    /// when a later object fails.
    ///
    /// - Throws: ``ShmemaphoreError/busy(_:)`` when a libshmemaphore server
    ///   holds the channel's liveness lock and `force` is false (nothing is
    ///   removed; an original app's server holds none and is not seen);
    ///   ``ShmemaphoreError/system(errno:operation:)`` when an object could
    ///   not be removed (another user's, say), after removing the others.
    @discardableResult
    package static func removeChannel(
        _ name: ChannelName, force: Bool, progress: (Int) -> Void = { _ in }
    ) throws(ShmemaphoreError) -> Int {
        let snapshot = inspect(ChannelFiles(name))
        if snapshot.serverLocked == true && !force {
            throw .busy("a live server holds channel \(name); stop it first, or force the removal")
        }
        var removed = 0
        var failure: ShmemaphoreError?
        for object in ChannelObject.allCases {
            switch snapshot.objects[object]! {
            case .failure(let error):
                failure = failure ?? error
            case .success(nil):
                continue
            case .success(.some):
                switch remove(object, of: snapshot) {
                case .removed?:
                    removed += 1
                    progress(removed)
                case .refused(let code)?:
                    let path = String(decoding: snapshot.files.path(object), as: UTF8.self)
                    failure = failure ?? .system(errno: code, operation: "unlink \(path)")
                case .replaced?, nil: continue  // a file that is not the one looked at is left alone
                }
            }
        }
        if let failure { throw failure }
        return removed
    }

    /// Removes whatever of a channel's four objects is at their names, each
    /// only while it is the file just looked at, whatever state the channel
    /// is in (clean-up after tests and runs).  Returns the objects that were
    /// there.
    @discardableResult
    package static func removeObjects(of name: ChannelName) -> [ChannelObject] {
        let snapshot = inspect(ChannelFiles(name))
        let present = ChannelObject.allCases.filter { snapshot.isPresent($0) }
        for object in present { _ = remove(object, of: snapshot) }
        return present
    }
}
