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
final class SharedSegment {
    let name: String
    let descriptor: Int32
    private(set) var mapping: UnsafeMutableRawPointer?
    private(set) var mappedLength = 0

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    private init(name: String, descriptor: Int32) {
        self.name = name
        self.descriptor = descriptor
    }

    /// Creates the segment anew (O_EXCL), with exactly `mode` and `size` zero bytes.
    static func create(_ name: String, mode: UInt32, size: Int) throws(ShmemaphoreError) -> SharedSegment {
        let descriptor = try syscall("shm_open \(name)") {
            shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, mode_t(mode))
        }
        let segment = SharedSegment(name: name, descriptor: descriptor)
        do {
            // shm_open honours the umask; the options' mode must hold regardless.
            try syscall("fchmod \(name)") { fchmod(descriptor, mode_t(mode)) }
            try segment.reserve(size)
        } catch {
            unlink(name)
            throw error
        }
        return segment
    }

    /// Opens an existing segment.  Throws ENOENT (as `.system`) when there is none.
    static func attach(_ name: String, options: ChannelOptions) throws(ShmemaphoreError) -> SharedSegment {
        let descriptor = try syscall("shm_open \(name)") { shm_open(name, O_RDWR | O_CLOEXEC, 0) }
        let segment = SharedSegment(name: name, descriptor: descriptor)
        try ObjectPermissions.check(segment.status(), describing: ChannelName.filesystemPath(ofSegment: name), options: options)
        return segment
    }

    deinit {
        if let mapping { bestEffort { munmap(mapping, mappedLength) } }
        bestEffort { close(descriptor) }
    }

    static func unlink(_ name: String) {
        bestEffort { shm_unlink(name) }
    }

    func status() throws(ShmemaphoreError) -> stat {
        var status = stat()
        try syscall("fstat \(name)") { fstat(descriptor, &status) }
        return status
    }

    /// Grows the segment to `size` bytes, allocating the memory now:
    /// posix_fallocate reports a full /dev/shm as ENOSPC here instead of
    /// SIGBUS at first touch.  Never shrinks (a smaller size changes nothing).
    func reserve(_ size: Int) throws(ShmemaphoreError) {
        guard size > 0 else { return }
        while true {
            let error = posix_fallocate(descriptor, 0, off_t(size))
            if error == 0 { return }
            if error != EINTR { throw .system(errno: error, operation: "posix_fallocate \(name) to \(size) bytes") }
        }
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
        if Int(status.st_size) < size {
            try reserve(Self.pageRounded(size))
            status = try self.status()
        } else {
            try backWithMemory(count: size, status: &status)
        }
        return try mapped(covering: max(size, 1), realSize: Int(status.st_size))
    }

    /// Makes sure the first `count` bytes have memory behind them.  A peer
    /// that grew the segment with ftruncate (the original apps do) leaves
    /// holes, and touching a hole when /dev/shm is full is SIGBUS; reserving
    /// turns that into ENOSPC.  Free when the segment has no holes at all
    /// (st_blocks covers the size), which is always so for segments we grew;
    /// otherwise one lseek(SEEK_HOLE) tells whether the first `count` bytes
    /// have one.  Only those bytes are reserved: a peer must not be able to
    /// make us allocate a huge sparse segment.
    func backWithMemory(count: Int, status: inout stat) throws(ShmemaphoreError) {
        guard count > 0, !status.hasNoHoles else { return }
        let firstHole = try syscall("lseek \(name) SEEK_HOLE") { shmemaphore_shim_first_hole(descriptor) }
        guard firstHole < Int64(count) else { return }
        try reserve(count)
        status = try self.status()
    }

    /// A mapping that covers `count` bytes, which the caller has checked
    /// against the real size (`realSize`, from fstat).  Not MAP_POPULATE: on
    /// the reference VM it made an exchange that grows a 33 MB segment 28 %
    /// slower (docs/PERFORMANCE.md, "Growth"), and it would allocate a peer's
    /// holes.
    func mapped(covering count: Int, realSize: Int) throws(ShmemaphoreError) -> UnsafeMutableRawPointer {
        if let mapping, mappedLength >= count { return mapping }
        // Map the whole real size so that later, smaller payloads need no remap.
        let length = max(realSize, count)
        let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw .system(errno: currentErrno, operation: "mmap \(name) (\(length) bytes)")
        }
        if let mapping { bestEffort { munmap(mapping, mappedLength) } }
        mapping = address
        mappedLength = length
        return address
    }

    /// The first `count` bytes mapped, when the segment holds at least that
    /// many (one fstat; nil otherwise).  For HEAD, once the peer is trusted.
    func mappedIfLarger(thanOrEqualTo count: Int) throws(ShmemaphoreError) -> UnsafeMutableRawPointer? {
        if let mapping, mappedLength >= count { return mapping }
        let size = Int(try status().st_size)
        guard size >= count else { return nil }
        return try mapped(covering: count, realSize: size)
    }

    /// Sets the retired word of a header segment that a new server replaced
    /// (docs/PROTOCOL.md, "Trusted peers").  Best effort: a HEAD too short for
    /// the word belongs to a peer that never reads it.
    func markRetired() {
        guard let size = try? Int(status().st_size), size >= Wire.retiredWordOffset + 8 else { return }
        var marker = Wire.retiredMarker
        try? write(&marker, count: 8, offset: Wire.retiredWordOffset)
    }

    /// Takes an OFD lock on the byte at `offset`, held until this descriptor
    /// closes, so that the kernel releases it when the process dies.
    /// Returns false when another open file description holds it.
    func lockByte(at offset: Int) throws(ShmemaphoreError) -> Bool {
        if shmemaphore_shim_ofd_lock_byte(descriptor, Int64(offset)) == 0 { return true }
        let error = currentErrno
        if error == EAGAIN || error == EACCES { return false }
        throw .system(errno: error, operation: "lock byte \(offset) of \(name)")
    }

    /// Whether another open file description holds a lock on the byte at `offset`.
    func isByteLocked(at offset: Int) throws(ShmemaphoreError) -> Bool {
        let result = try syscall("test lock on byte \(offset) of \(name)") {
            shmemaphore_shim_ofd_byte_is_locked(descriptor, Int64(offset))
        }
        return result == 1
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

extension stat {
    /// Whether every byte of the file has memory behind it (st_blocks counts
    /// 512-byte units), as always for a segment that only posix_fallocate grew.
    var hasNoHoles: Bool { Int(st_blocks) * 512 >= Int(st_size) }
}
