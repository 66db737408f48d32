import CShmemaphoreShims
import Glibc

/// One mapping of shared memory, registered with the fault guard
/// (fault_guard.c): a SIGBUS while the library accesses it (`guarded`)
/// becomes `faulted`, never a crash.  Unmapped on deinit.
final class SharedMapping {
    let address: UnsafeMutableRawPointer
    let length: Int
    /// The fault guard's slot for this mapping.
    let slot: Int32

    /// Maps `length` bytes of `descriptor` shared and read-write.
    init(descriptor: Int32, length: Int, describing name: String) throws(ShmemaphoreError) {
        let mapped = try mappingSyscall("mmap \(name) (\(length) bytes)") {
            mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        }
        let slot: Int32
        do throws(ShmemaphoreError) {
            slot = try syscall("register the mapping of \(name) with the fault guard") {
                shmemaphore_shim_fault_region_register(mapped, length)
            }
        } catch {
            bestEffort { munmap(mapped, length) }
            throw error
        }
        self.address = mapped
        self.length = length
        self.slot = slot
    }

    deinit {
        shmemaphore_shim_fault_region_unregister(slot)
        bestEffort { munmap(address, length) }
    }

    /// Whether a fault in the mapping of `slot` was repaired: from then on
    /// (part of) it holds private zero pages, not the segment.  Takes the
    /// slot, not the mapping: no reference to count on the hot path.
    @inline(__always)
    static func faulted(_ slot: Int32) -> Bool { shmemaphore_shim_fault_region_faulted(slot) != 0 }

    /// Marks the mapping in `slot` as accessed by the library for the whole of `body`.
    @inline(__always)
    static func guarded<Result>(
        _ slot: Int32, _ body: () throws(ShmemaphoreError) -> Result
    ) throws(ShmemaphoreError) -> Result {
        shmemaphore_shim_fault_region_guard(slot, 1)
        defer { shmemaphore_shim_fault_region_guard(slot, 0) }
        return try body()
    }

    /// Keeps the mapping guarded from now on (semaphores: only the library touches them).
    func guardAlways() { shmemaphore_shim_fault_region_guard(slot, 1) }
}

/// A mapping's address and fault-guard slot, as plain values.
struct MappedRegion {
    let address: UnsafeMutableRawPointer
    let slot: Int32

    /// Runs `body` on the mapping under the fault guard (fault_guard.c).
    /// Returns its result, or nil when an access faulted: then the mapping
    /// (from the fault on) holds private zero pages and whatever `body` read
    /// is not to be used (`SharedSegment.faultError` reports it).
    @inline(__always)
    func access<Result>(_ body: (UnsafeMutableRawPointer) throws(ShmemaphoreError) -> Result) throws(ShmemaphoreError) -> Result? {
        let result = try SharedMapping.guarded(slot) { () throws(ShmemaphoreError) in try body(address) }
        return SharedMapping.faulted(slot) ? nil : result
    }
}
