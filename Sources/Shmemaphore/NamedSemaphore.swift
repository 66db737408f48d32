import CShmemaphoreShims
import Glibc

/// One POSIX named semaphore of a channel, opened once by descriptor.
///
/// glibc keeps a named semaphore as the file /dev/shm/sem.NAME holding one
/// `sem_t`; sem_open maps that file.  The library does the same itself, so
/// that the file it checked (owner, mode, type, size) is the file it uses:
/// sem_open by name followed by a stat of the path would look the name up
/// twice, and another user could swap the file in between.  An original
/// peer's sem_open maps the same file, so the two interoperate.  Closing
/// (deinit) unmaps it and leaves the name in place.
final class NamedSemaphore {
    let name: String
    /// The file, /dev/shm/sem.NAME.
    let path: String
    /// Which file was opened: the server unlinks the name only while it still names this file.
    let identity: FileIdentity
    private let mapping: SharedMapping
    private let handle: UnsafeMutablePointer<sem_t>
    /// `mapping.slot`, kept as a plain value for the check after every operation.
    private let guardSlot: Int32
    /// True when this process created the semaphore (it made the name).
    let createdHere: Bool

    /// The size of the `sem_t` a semaphore file must hold.
    static let fileSize = shmemaphore_shim_sem_size()

    private init(name: String, path: String, descriptor: Int32, status: stat, createdHere: Bool) throws(ShmemaphoreError) {
        defer { bestEffort { close(descriptor) } }  // the mapping keeps the file
        self.name = name
        self.path = path
        self.identity = FileIdentity(status)
        self.createdHere = createdHere
        self.mapping = try SharedMapping(descriptor: descriptor, length: Self.fileSize, describing: path)
        // Only the library touches a semaphore's memory: every access is guarded.
        mapping.guardAlways()
        self.handle = mapping.address.bindMemory(to: sem_t.self, capacity: 1)
        self.guardSlot = mapping.slot
    }

    /// Opens `name`, creating it with value 0 if it does not exist.
    ///
    /// A semaphore this process creates gets `options.mode` exactly,
    /// whatever the umask; an existing one must pass `ObjectFile.check`.
    static func openOrCreate(_ name: String, options: ChannelOptions) throws(ShmemaphoreError) -> NamedSemaphore {
        // A name that vanishes between a failed create and the open is tried again.
        for _ in 0..<8 {
            if let created = try create(name, mode: options.mode) { return created }
            do {
                return try attach(name, options: options)
            } catch .system(errno: ENOENT, _) {
                continue
            }
        }
        throw .system(errno: EAGAIN, operation: "open or create semaphore \(name) (it keeps appearing and vanishing)")
    }

    /// Creates `name` exclusively as sem_open does: a new private file
    /// holding a fresh `sem_t`, then link(2) to the name, which fails if the
    /// name exists.  Returns nil when it does.
    static func create(_ name: String, mode: UInt32) throws(ShmemaphoreError) -> NamedSemaphore? {
        let path = ChannelName.filesystemPath(ofSemaphore: name)
        var template = Array("/dev/shm/sem.shmemaphore-XXXXXX".utf8CString)
        let descriptor = try template.withUnsafeMutableBufferPointer { buffer throws(ShmemaphoreError) in
            try syscall("create a semaphore file in /dev/shm") { shmemaphore_shim_make_temporary(buffer.baseAddress!) }
        }
        let temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { bestEffort { Glibc.unlink(temporaryPath) } }
        do throws(ShmemaphoreError) {
            try syscall("fchmod \(temporaryPath)") { fchmod(descriptor, mode_t(mode)) }
            var bytes = [UInt8](repeating: 0, count: fileSize)
            try syscall("sem_init") { shmemaphore_shim_sem_initial_bytes(&bytes) }
            let written = try syscall("pwrite \(temporaryPath)") { pwrite(descriptor, bytes, bytes.count, 0) }
            guard written == bytes.count else { throw .system(errno: ENOSPC, operation: "write \(temporaryPath)") }
            let status = try ObjectFile.fileStatus(descriptor, describing: temporaryPath)
            do {
                try syscall("link \(path)") { link(temporaryPath, path) }
            } catch .system(errno: EEXIST, _) {
                bestEffort { close(descriptor) }
                return nil
            }
            do {
                return try NamedSemaphore(name: name, path: path, descriptor: descriptor, status: status, createdHere: true)
            } catch {
                ObjectFile.unlink(path, ifStill: FileIdentity(status))
                throw error
            }
        } catch {
            bestEffort { close(descriptor) }
            throw error
        }
    }

    /// Opens an existing semaphore by its file; fails with ENOENT if there is none.
    static func attach(_ name: String, options: ChannelOptions) throws(ShmemaphoreError) -> NamedSemaphore {
        let path = ChannelName.filesystemPath(ofSemaphore: name)
        let (descriptor, status) = try ObjectFile.openExisting(path, minimumSize: fileSize, options: options)
        return try NamedSemaphore(name: name, path: path, descriptor: descriptor, status: status, createdHere: false)
    }

    /// A semaphore whose file was truncated under us (the fault guard
    /// repaired the access) is no longer a semaphore anyone shares.
    @inline(__always)
    private func checkIntact() throws(ShmemaphoreError) {
        if SharedMapping.faulted(guardSlot) { throw truncated() }
    }

    @inline(never)
    private func truncated() -> ShmemaphoreError {
        .protocolViolation("\(path) was truncated by another process while in use")
    }

    func post() throws(ShmemaphoreError) {
        try syscall("sem_post \(name)") { sem_post(handle) }
        try checkIntact()
    }

    /// Takes one count if there is one, without blocking.
    func tryWait() throws(ShmemaphoreError) -> Bool {
        switch valueOrErrno({ sem_trywait(handle) }) {
        case .success: break
        case .failure(let error) where error.rawValue == EAGAIN: return false
        case .failure(let error): throw error.error("sem_trywait \(name)")
        }
        try checkIntact()
        return true
    }

    /// Spins in user space for a count until `end` (monotonic).  No system
    /// call: sem_trywait on an empty semaphore only reads its word, and the
    /// clock is read through the vDSO.  Returns whether a count was taken,
    /// the clock when the spin ended, and whether this thread lost its CPU
    /// while spinning: a gap of more than `preemptionGap` nanoseconds between
    /// two clock readings (normally a few hundred apart), seen also between
    /// the last reading and a count taken right after it.
    /// Stops early, without a count, when an interrupt for channel
    /// `interruptID` is pending: the caller reports it.
    func spin(from start: MonotonicInstant, until end: MonotonicInstant, preemptionGap: Int64, interruptID: UInt64)
        throws(ShmemaphoreError) -> (taken: Bool, finished: MonotonicInstant, preempted: Bool)
    {
        var round = 0
        var reading = start
        var preempted = false
        while true {
            if try tryWait() {
                let now = MonotonicInstant.now()
                return (true, now, preempted || now.nanoseconds &- reading.nanoseconds > preemptionGap)
            }
            shmemaphore_shim_cpu_relax()
            round &+= 1
            if round & 15 == 0 {
                let now = MonotonicInstant.now()
                if now.nanoseconds &- reading.nanoseconds > preemptionGap { preempted = true }
                reading = now
                if now >= end || shmemaphore_shim_interrupt_pending(interruptID) != 0 {
                    return (false, now, preempted)
                }
            }
        }
    }

    /// Hands the CPU to whatever else is runnable on it (sched_yield) until
    /// a count arrives or `end` passes.  When the peer shares this CPU, the
    /// yield lets it run at once, and its post then finds no sleeper to
    /// wake: one system call per turn instead of two futex calls.
    /// Gives up after `maximumYields` yields: with nothing else to run on
    /// this CPU a yield returns at once, and more of them would only spin
    /// through the kernel.  Returns whether a count was taken, and how many
    /// yields it took.
    /// Stops early when an interrupt for `interruptID` is pending, as `spin` does.
    func yieldingWait(until end: MonotonicInstant, maximumYields: Int, interruptID: UInt64) throws(ShmemaphoreError) -> (taken: Bool, yields: Int) {
        var yields = 0
        while true {
            if try tryWait() { return (true, yields) }
            if yields == maximumYields || MonotonicInstant.now() >= end || shmemaphore_shim_interrupt_pending(interruptID) != 0 {
                return (false, yields)
            }
            sched_yield()
            yields += 1
        }
    }

    /// Waits for a count until `deadline` (monotonic).  Returns false on
    /// timeout.  Every wait is bounded: a caller that wants to wait longer
    /// waits again, after its liveness checks.
    ///
    /// Throws ``ShmemaphoreError/interrupted`` at once when an interrupt
    /// for channel `interruptID` is pending or comes (it is taken), or when
    /// a signal handler runs in this thread: a signal is how a user asks a
    /// blocked program to stop (docs/PROTOCOL.md, "Interrupts").
    func wait(until deadline: MonotonicInstant, interruptID: UInt64) throws(ShmemaphoreError) -> Bool {
        // EINTR is an answer here, not a failure to retry: a signal handler ran.
        let waited = valueOrErrno(retryOnInterrupt: false) {
            shmemaphore_shim_sem_wait_interruptible(handle, interruptID, deadline.seconds, deadline.nanosecondsOfSecond)
        }
        switch waited {
        case .success: try checkIntact(); return true
        case .failure(let error) where error.rawValue == EINTR: try checkIntact(); throw .interrupted
        case .failure(let error) where error.rawValue == ETIMEDOUT: try checkIntact(); return false
        case .failure(let error): throw error.error("sem_clockwait \(name)")
        }
    }

    /// The current count (sem_getvalue), without changing it.
    func value() throws(ShmemaphoreError) -> Int {
        var value: Int32 = 0
        try syscall("sem_getvalue \(name)") { sem_getvalue(handle, &value) }
        return Int(max(value, 0))
    }

    /// Drains stale counts left by a crashed run; returns how many were taken.
    @discardableResult
    func drain() throws(ShmemaphoreError) -> Int {
        var drained = 0
        while try tryWait() { drained += 1 }
        return drained
    }

    /// Removes the name while it still names this semaphore's file;
    /// processes that have it open keep their handle.
    func unlink() {
        ObjectFile.unlink(path, ifStill: identity)
    }

    /// Undoes this process's creation of the semaphore (after a failed open).
    func unlinkIfCreatedHere() {
        if createdHere { unlink() }
    }
}
