import CShmemaphoreShims
import Glibc

/// One open POSIX shared-memory segment.
///
/// With a peer that may shrink segments (an original app), the header
/// segment is read and written with pread/pwrite, where a short read is a
/// clean protocol error and a mapped read past the end would be SIGBUS, and
/// the data segment's real size is checked (fstat) before every access.
/// With a trusted peer (docs/PROTOCOL.md, "Trusted peers") the header is
/// mapped too, and sizes are checked only when a payload needs more than was
/// verified.  Mappings are made once and re-made only when the segment grew.
/// Every access the library makes through a mapping runs inside `access`,
/// under the fault guard: a peer that breaks its promise and shrinks the
/// segment anyway causes an error, not a SIGBUS.
final class SharedSegment {
    /// The POSIX name (changes only by `rename(to:)`).
    private(set) var name: String
    let descriptor: Int32
    /// Which file was opened (for the server's unlink at close).
    let identity: FileIdentity
    private(set) var mapping: SharedMapping? {
        didSet { region = mapping.map { MappedRegion(address: $0.address, slot: $0.slot) } }
    }
    var mappedLength: Int { mapping?.length ?? 0 }
    /// `mapping` as plain values, for accesses on the fast path (no
    /// reference to count); nil when nothing is mapped.
    private(set) var region: MappedRegion?
    /// `mapping`'s address.
    var mappedAddress: UnsafeMutableRawPointer? { region?.address }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    private init(name: String, descriptor: Int32, identity: FileIdentity) {
        self.name = name
        self.descriptor = descriptor
        self.identity = identity
    }

    /// The segment's file, /dev/shm/NAME.
    var path: String { ChannelName.filesystemPath(ofSegment: name) }

    /// Creates the segment anew (O_EXCL), with exactly `mode` and `size` zero bytes.
    static func create(_ name: String, mode: UInt32, size: Int) throws(ShmemaphoreError) -> SharedSegment {
        let path = ChannelName.filesystemPath(ofSegment: name)
        let descriptor = try syscall("shm_open \(name)") {
            shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        }
        do throws(ShmemaphoreError) {
            let identity = FileIdentity(try ObjectFile.fileStatus(descriptor, describing: path))
            let segment = SharedSegment(name: name, descriptor: descriptor, identity: identity)
            do {
                // shm_open honours the umask; the options' mode must hold regardless.
                try syscall("fchmod \(name)") { fchmod(descriptor, mode_t(mode)) }
                try segment.reserve(size)
            } catch {
                segment.unlink()
                throw error
            }
            return segment
        } catch {
            bestEffort { close(descriptor) }
            throw error
        }
    }

    /// Opens an existing segment once, by descriptor, and checks it
    /// (`ObjectFile.check`).  Throws ENOENT (as `.system`) when there is none.
    static func attach(_ name: String, options: ChannelOptions) throws(ShmemaphoreError) -> SharedSegment {
        let path = ChannelName.filesystemPath(ofSegment: name)
        let (descriptor, status) = try ObjectFile.openExisting(path, minimumSize: 0, options: options)
        return SharedSegment(name: name, descriptor: descriptor, identity: FileIdentity(status))
    }

    deinit {
        mapping = nil
        bestEffort { close(descriptor) }
    }

    /// Moves the segment to POSIX name `newName` with rename(2), which
    /// replaces the segment there in one step: the name never lacks one.
    func rename(to newName: String) throws(ShmemaphoreError) {
        let target = ChannelName.filesystemPath(ofSegment: newName)
        try syscall("rename \(path) to \(target)") { Glibc.rename(path, target) }
        name = newName
    }

    /// Removes the name while it still names this segment.
    func unlink() {
        ObjectFile.unlink(path, ifStill: identity)
    }

    func status() throws(ShmemaphoreError) -> stat {
        try ObjectFile.fileStatus(descriptor, describing: name)
    }

    /// Grows the segment to `size` bytes, allocating the memory now:
    /// posix_fallocate reports a full /dev/shm as ENOSPC here instead of
    /// SIGBUS at first touch.  Never shrinks (a smaller size changes nothing).
    func reserve(_ size: Int) throws(ShmemaphoreError) {
        guard size > 0 else { return }
        try errorNumberSyscall("posix_fallocate \(name) to \(size) bytes") { posix_fallocate(descriptor, 0, off_t(size)) }
    }

    /// `size` rounded up to whole pages, so that small growths do not each cost a syscall.
    static func pageRounded(_ size: Int) throws(ShmemaphoreError) -> Int {
        let (rounded, overflow) = size.addingReportingOverflow(pageSize - 1)
        guard !overflow else { throw .tooLarge("\(size) bytes do not fit a segment") }
        return rounded / pageSize * pageSize
    }

    /// Ensures the segment holds at least `size` bytes, growing it if needed,
    /// and returns a mapping that covers them.  `status` is the segment's
    /// status as read at the start of this turn (the peer cannot resize it
    /// during our turn); it is updated when this call grows the segment.
    func writableBytes(count size: Int, status: inout stat) throws(ShmemaphoreError) -> UnsafeMutableRawPointer {
        // Bytes that exist need no reserving: holes a peer left in them are
        // written under the fault guard, where a full /dev/shm is ENOSPC.
        if Int(status.st_size) < size {
            try reserve(Self.pageRounded(size))
            status = try self.status()
        }
        return try mapped(covering: max(size, 1), realSize: Int(status.st_size))
    }

    /// Makes sure the first `count` bytes have memory behind them.  A peer
    /// that grew the segment with ftruncate (the original apps do) leaves
    /// holes, and touching a hole when /dev/shm is full is SIGBUS; reserving
    /// turns that into ENOSPC.  Nothing tells cheaply whether those bytes
    /// have holes: st_blocks counts blocks that fallocate(KEEP_SIZE) put past
    /// the end, and tmpfs reports reserved but unwritten pages as holes to
    /// lseek(SEEK_HOLE).  So they are reserved on every checked turn, which
    /// allocates only what is missing.  Only those bytes: a peer must not be
    /// able to make us allocate a huge sparse segment.  Needed only before
    /// a caller reads a view outside the library: the library's own
    /// accesses run under the fault guard, where a hole on a full /dev/shm
    /// is ENOSPC too.
    /// `count` must not exceed the segment's size (reserving never grows it then).
    func backWithMemory(count: Int) throws(ShmemaphoreError) {
        try reserve(count)
    }

    /// A mapping that covers `count` bytes, which the caller has checked
    /// against the real size (`realSize`, from fstat).  Not MAP_POPULATE: on
    /// the reference VM it made an exchange that grows a 33 MB segment 28 %
    /// slower (docs/PERFORMANCE.md, "Growth"), and it would allocate a peer's
    /// holes.
    func mapped(covering count: Int, realSize: Int) throws(ShmemaphoreError) -> UnsafeMutableRawPointer {
        if let mapping, mapping.length >= count { return mapping.address }
        mapping = nil
        // Map the whole real size so that later, smaller payloads need no
        // remap; a segment too large for the address space (a peer can make
        // one) is mapped only as far as needed, so that an answer still fits.
        do {
            mapping = try SharedMapping(descriptor: descriptor, length: max(realSize, count), describing: name)
        } catch .system(errno: ENOMEM, _) where realSize > count {
            mapping = try SharedMapping(descriptor: descriptor, length: try Self.pageRounded(count), describing: name)
        }
        return mapping!.address
    }

    /// The first `count` bytes mapped, when the segment holds at least that
    /// many now (one fstat; nil otherwise).  For HEAD, when the peer is to be trusted.
    func mappedIfLarger(thanOrEqualTo count: Int) throws(ShmemaphoreError) -> UnsafeMutableRawPointer? {
        // Looked at every time (once per trust window): a mapping made
        // earlier says nothing about what the peer has done to the file since.
        let size = Int(try status().st_size)
        guard size >= count else { return nil }
        return try mapped(covering: count, realSize: size)
    }

    /// The error for an access that faulted (`MappedRegion.access`, or
    /// nothing mapped); drops the mapping, whose pages may now be private zeros.
    func faultError() -> ShmemaphoreError {
        let mappedLength = self.mappedLength
        mapping = nil
        if let size = try? Int(status().st_size), size < mappedLength {
            return .protocolViolation("another process shrank \(name) to \(size) bytes while this process used it (SIGBUS averted)")
        }
        // Either /dev/shm could not back a page, or the segment shrank and grew back meanwhile.
        var space = statvfs()
        if (try? syscall("fstatvfs \(name)") { fstatvfs(descriptor, &space) }) != nil, space.f_bavail == 0 {
            return .system(errno: ENOSPC, operation: "access \(name): its memory could not be allocated (SIGBUS averted)")
        }
        return .protocolViolation("another process resized \(name) while this process used it (SIGBUS averted)")
    }

    /// Sets the retired word of a header segment that a new server replaced
    /// (docs/PROTOCOL.md, "Trusted peers").  Best effort: a HEAD too short for
    /// the word belongs to a peer that never reads it.
    func markRetired() {
        guard let size = try? Int(status().st_size), size >= Wire.retiredWordOffset + 8 else { return }
        var marker = Wire.retiredMarker
        try? write(&marker, count: 8, offset: Wire.retiredWordOffset)
    }

    /// Takes an OFD lock on the `count` bytes at `offset`, held until this
    /// descriptor closes, so that the kernel releases it when the process
    /// dies.  Returns false when another open file description holds it.
    func lock(at offset: Int, count: Int = 1) throws(ShmemaphoreError) -> Bool {
        switch valueOrErrno({ shmemaphore_shim_ofd_lock(descriptor, Int64(offset), Int64(count)) }) {
        case .success: return true
        case .failure(let error) where error.rawValue == EAGAIN || error.rawValue == EACCES: return false
        case .failure(let error): throw error.error("lock bytes \(offset)..<\(offset + count) of \(name)")
        }
    }

    /// Where the lock that another open file description holds on the byte
    /// at `offset` ends (exclusive), or nil when there is none.
    func lockEnd(at offset: Int) throws(ShmemaphoreError) -> Int64? {
        let end = try syscall("test lock on byte \(offset) of \(name)") {
            shmemaphore_shim_ofd_lock_end(descriptor, Int64(offset))
        }
        return end == 0 ? nil : end
    }

    /// Whether another open file description holds a lock on the byte at `offset`.
    func isByteLocked(at offset: Int) throws(ShmemaphoreError) -> Bool {
        try lockEnd(at: offset) != nil
    }

    /// Reads `count` bytes at `offset` with pread.  Returns how many were read
    /// (fewer when the segment is shorter).
    func read(into buffer: UnsafeMutableRawPointer, count: Int, offset: Int) throws(ShmemaphoreError) -> Int {
        var done = 0
        while done < count {
            let got = try syscall("pread \(name)") { pread(descriptor, buffer + done, count - done, off_t(offset + done)) }
            if got == 0 { break }
            done += got
        }
        return done
    }

    /// Writes `count` bytes at `offset` with pwrite (extending the segment if it is shorter).
    func write(_ buffer: UnsafeRawPointer, count: Int, offset: Int) throws(ShmemaphoreError) {
        var done = 0
        while done < count {
            done += try syscall("pwrite \(name)") { pwrite(descriptor, buffer + done, count - done, off_t(offset + done)) }
        }
    }
}
