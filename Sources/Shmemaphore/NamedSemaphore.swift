import CShmemaphoreShims
import Glibc

/// One open POSIX named semaphore; closing it (deinit) leaves the name in place.
final class NamedSemaphore {
    let name: String
    private let handle: UnsafeMutablePointer<sem_t>
    /// True when this process created the semaphore (O_EXCL succeeded).
    let createdHere: Bool

    private init(name: String, handle: UnsafeMutablePointer<sem_t>, createdHere: Bool) {
        self.name = name
        self.handle = handle
        self.createdHere = createdHere
    }

    /// Opens `name`, creating it with value 0 if it does not exist.
    ///
    /// A semaphore this process creates gets `options.mode` exactly (its file
    /// is chmod-ed, since sem_open applies the umask); an existing one must
    /// pass `ObjectPermissions.check`.
    static func openOrCreate(_ name: String, options: ChannelOptions) throws(ShmemaphoreError) -> NamedSemaphore {
        let path = ChannelName.filesystemPath(ofSemaphore: name)
        if let created = shmemaphore_shim_sem_create(name, 1, mode_t(options.mode)) {
            // sem_open honours the umask; the options' mode must hold regardless.
            if chmod(path, mode_t(options.mode)) == -1 {
                let error = currentErrno
                sem_close(created)
                sem_unlink(name)
                throw .system(errno: error, operation: "chmod \(path)")
            }
            return NamedSemaphore(name: name, handle: created, createdHere: true)
        }
        guard currentErrno == EEXIST else {
            throw .system(errno: currentErrno, operation: "sem_open \(name)")
        }
        return try attach(name, options: options)
    }

    /// Opens an existing semaphore; fails with ENOENT if there is none.
    static func attach(_ name: String, options: ChannelOptions) throws(ShmemaphoreError) -> NamedSemaphore {
        let path = ChannelName.filesystemPath(ofSemaphore: name)
        let handle = try syscall("sem_open \(name)") { shmemaphore_shim_sem_attach(name) }
        var status = stat()
        do throws(ShmemaphoreError) {
            try syscall("stat \(path)") { stat(path, &status) }
            try ObjectPermissions.check(status, describing: path, options: options)
        } catch {
            sem_close(handle)
            throw error
        }
        return NamedSemaphore(name: name, handle: handle, createdHere: false)
    }

    deinit { sem_close(handle) }

    func post() throws(ShmemaphoreError) {
        try syscall("sem_post \(name)") { sem_post(handle) }
    }

    /// Takes one count if there is one, without blocking.
    func tryWait() throws(ShmemaphoreError) -> Bool {
        while sem_trywait(handle) == -1 {
            switch currentErrno {
            case EINTR: continue
            case EAGAIN: return false
            case let error: throw .system(errno: error, operation: "sem_trywait \(name)")
            }
        }
        return true
    }

    /// Spins in user space for a count until `end` (monotonic): true when one
    /// was taken.  No system call: sem_trywait on an empty semaphore only
    /// reads its word, and the clock is read through the vDSO.
    func spin(until end: MonotonicInstant) throws(ShmemaphoreError) -> Bool {
        var round = 0
        while true {
            if try tryWait() { return true }
            shmemaphore_shim_cpu_relax()
            round &+= 1
            if round & 63 == 0 && MonotonicInstant.now() >= end { return false }
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
    func yieldingWait(until end: MonotonicInstant, maximumYields: Int) throws(ShmemaphoreError) -> (taken: Bool, yields: Int) {
        var yields = 0
        while true {
            if try tryWait() { return (true, yields) }
            if yields == maximumYields || MonotonicInstant.now() >= end { return (false, yields) }
            sched_yield()
            yields += 1
        }
    }

    /// Waits for a count until `deadline` (monotonic).  Returns false on timeout.
    func wait(until deadline: MonotonicInstant?) throws(ShmemaphoreError) -> Bool {
        guard let deadline else {
            try syscall("sem_wait \(name)") { sem_wait(handle) }
            return true
        }
        while shmemaphore_shim_sem_wait_monotonic(handle, deadline.seconds, deadline.nanosecondsOfSecond) == -1 {
            switch currentErrno {
            case EINTR: continue
            case ETIMEDOUT: return false
            case let error: throw .system(errno: error, operation: "sem_clockwait \(name)")
            }
        }
        return true
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

    /// Removes the name; processes that have it open keep their handle.
    static func unlink(_ name: String) {
        bestEffort { sem_unlink(name) }
    }

    /// Undoes this process's creation of the semaphore (after a failed open).
    func unlinkIfCreatedHere() {
        if createdHere { Self.unlink(name) }
    }
}

/// The permission rules for objects another process created
/// (docs/PROTOCOL.md, "Permissions").
enum ObjectPermissions {
    static func check(_ status: stat, describing path: String, options: ChannelOptions) throws(ShmemaphoreError) {
        if !options.allowForeignOwner && status.st_uid != geteuid() {
            throw .unsafePermissions("\(path) belongs to user \(status.st_uid), not to this process's user \(geteuid())")
        }
        let mode = UInt32(status.st_mode) & 0o777
        let allowedWrite: UInt32 = 0o200 | (options.mode & 0o020)
        if mode & 0o222 & ~allowedWrite != 0 {
            throw .unsafePermissions("\(path) has mode \(String(mode, radix: 8)), writable by \(mode & 0o002 != 0 ? "others" : "the group")")
        }
    }
}
