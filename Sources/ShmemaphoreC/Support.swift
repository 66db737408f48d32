import CShmemaphoreHeader
import Glibc
import Shmemaphore

// The conversions every exported function shares.  The rule of this layer:
// convert C arguments (refusing anything that could trap), call the core,
// turn every thrown error into its stable status code.

/// Runs `body` and returns SHMEMAPHORE_OK or the error's code.  Nothing escapes.
@inline(__always)
func status(_ body: () throws(ShmemaphoreError) -> Void) -> Int32 {
    do {
        try body()
        return ErrorCode.ok
    } catch {
        return error.code
    }
}

/// What a C handle holds: one role's engine.  A call for the other role
/// is SHMEMAPHORE_E_WRONG_ROLE, decided here; in Swift such a call cannot
/// be written.
enum ChannelHandle {
    case server(ServerEngine)
    case client(ClientEngine)

    /// The engine's interrupt cell.
    var interruptID: UInt64 {
        switch self {
        case .server(let server): return server.interruptID
        case .client(let client): return client.interruptID
        }
    }

    /// The server engine; `action` names what a client was asked to do.
    func server(_ action: @autoclosure () -> String) throws(ShmemaphoreError) -> ServerEngine {
        guard case .server(let server) = self else { throw .wrongRole("a client cannot \(action())") }
        return server
    }

    /// The client engine; `action` names what a server was asked to do.
    func client(_ action: @autoclosure () -> String) throws(ShmemaphoreError) -> ClientEngine {
        guard case .client(let client) = self else { throw .wrongRole("a server cannot \(action())") }
        return client
    }

    /// Closes the engine (a server also removes the channel's objects).
    func close() {
        switch self {
        case .server(let server): server.close()
        case .client(let client): client.close()
        }
    }
}

/// The open channels, by handle.  A C handle is a number this table hands
/// out, never a pointer to Swift memory: a closed, doubly closed or made-up
/// handle is then a clean SHMEMAPHORE_E_INVALID_ARGUMENT instead of a
/// use-after-free.  One slot per interrupt cell, found from the handle
/// without hashing (every call of the C API looks its channel up here).
/// The lock guards only the table; a channel itself is used by one thread
/// at a time, as the header says.
final class HandleTable: @unchecked Sendable {  // every access holds `mutex`
    private struct Slot {
        let handle: UInt
        let channel: ChannelHandle
    }

    private var slots = [Slot?](repeating: nil, count: ChannelInterrupter.cellCount)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    private func locked<Result>(_ body: () -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// A channel's handle is its interrupt id times 16: it looks like (and
    /// prints as) a pointer, is never handed out twice, and leads
    /// `shmemaphore_interrupt` to the channel without this table's lock.
    func insert(_ channel: ChannelHandle) -> UInt {
        let handle = handle(ofInterruptID: channel.interruptID)
        locked { slots[slotIndex(of: handle)] = Slot(handle: handle, channel: channel) }
        return handle
    }

    func lookUp(_ handle: UInt) -> ChannelHandle? {
        locked {
            guard let slot = slots[slotIndex(of: handle)], slot.handle == handle else { return nil }
            return slot.channel
        }
    }

    func remove(_ handle: UInt) -> ChannelHandle? {
        locked {
            let index = slotIndex(of: handle)
            guard let slot = slots[index], slot.handle == handle else { return nil }
            slots[index] = nil
            return slot.channel
        }
    }

    /// The channel's cell index: two open channels never share it.
    private func slotIndex(of handle: UInt) -> Int { ChannelInterrupter.cellIndex(of: interruptID(ofHandle: handle)) }
}

let openChannels = HandleTable()

/// The handle of the channel with interrupt id `id`, and back.
func handle(ofInterruptID id: UInt64) -> UInt { UInt(id) << 4 }
func interruptID(ofHandle handle: UInt) -> UInt64 { UInt64(handle >> 4) }

/// The engine behind a C handle.
func channel(_ handle: OpaquePointer?) throws(ShmemaphoreError) -> ChannelHandle {
    guard let handle else { throw .invalidArgument("the channel is NULL") }
    let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
    guard let core = openChannels.lookUp(key) else {
        throw .invalidArgument("not an open channel (closed already, or never opened)")
    }
    return core
}

/// A new handle for `core`, valid until `closeHandle`.
func makeHandle(_ core: ChannelHandle) -> OpaquePointer {
    let key = openChannels.insert(core)
    return OpaquePointer(bitPattern: key)!
}

/// Forgets a handle and returns its channel; nil if it was not open.
func closeHandle(_ handle: OpaquePointer) -> ChannelHandle? {
    let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
    return openChannels.remove(key)
}

/// A file path argument: any bytes (POSIX paths need not be UTF-8), not NULL,
/// at most PATH_MAX bytes (measured with strnlen, so an unterminated-looking
/// argument is refused without scanning all of it).
func cPath(_ pointer: UnsafePointer<CChar>?) throws(ShmemaphoreError) -> UnsafePointer<CChar> {
    guard let pointer else { throw .invalidArgument("the path is NULL") }
    guard strnlen(pointer, Int(PATH_MAX)) < Int(PATH_MAX) else {
        throw .invalidArgument("the path is longer than \(PATH_MAX) bytes")
    }
    return pointer
}

/// The channel name argument: invalid names get SHMEMAPHORE_E_INVALID_NAME.
func channelName(_ pointer: UnsafePointer<CChar>?) throws(ShmemaphoreError) -> ChannelName {
    guard let pointer else { throw .invalidArgument("the channel name is NULL") }
    // One byte more for a leading '/', which ChannelName drops.
    let length = strnlen(pointer, ChannelName.maximumLength + 2)
    guard length <= ChannelName.maximumLength + 1 else {
        throw .invalidName("the channel name is longer than \(ChannelName.maximumLength) bytes")
    }
    guard let text = String(validatingCString: pointer) else { throw .invalidName("the channel name is not valid UTF-8") }
    return try ChannelName(text)
}

/// A (pointer, length) pair from C as a buffer; NULL is allowed only for length 0.
func buffer(_ pointer: UnsafeRawPointer?, _ length: UInt64, what: String) throws(ShmemaphoreError) -> UnsafeRawBufferPointer {
    guard length <= UInt64(Int.max / 2) else { throw .tooLarge("\(what) of \(length) bytes") }
    if length == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
    guard let pointer else { throw .invalidArgument("\(what) is NULL but its length is \(length)") }
    return UnsafeRawBufferPointer(start: pointer, count: Int(length))
}

/// SHMEMAPHORE_OPTIONS_MIN_SIZE: the first version's struct, the smallest accepted.
let optionsMinimumSize = Int(SHMEMAPHORE_OPTIONS_MIN_SIZE)
/// A bound that no real struct reaches; larger values are garbage.
let optionsMaximumSize = 4096

/// The defaults as the C struct (struct_size left for the caller to set).
func defaultOptions() -> shmemaphore_options {
    let defaults = ChannelOptions()
    return shmemaphore_options(
        struct_size: MemoryLayout<shmemaphore_options>.size,
        attach_timeout_ms: defaults.attachTimeout.map { Int64($0.components.seconds * 1000) } ?? -1,
        mode: defaults.mode,
        stale_policy: defaults.stalePolicy.rawValue,
        flags: 0,  // the defaults: own objects only, adaptive waiting, trusted lock-holding peers
        reserved: 0)
}

/// The C options struct as Swift options; NULL means the defaults.
///
/// Compatibility both ways: an older caller's smaller struct is read as far as
/// it goes (the rest keeps its defaults); a newer caller's larger struct is
/// accepted when every byte this library does not know is 0.
func channelOptions(_ pointer: UnsafePointer<shmemaphore_options>?) throws(ShmemaphoreError) -> ChannelOptions {
    var options = ChannelOptions()
    guard let pointer else { return options }
    let knownSize = MemoryLayout<shmemaphore_options>.size
    let declaredSize = Int(UnsafeRawPointer(pointer).loadUnaligned(as: Int.self))
    guard (optionsMinimumSize...optionsMaximumSize).contains(declaredSize) else {
        throw .invalidArgument("options.struct_size is \(declaredSize); initialise options with shmemaphore_options_init(&o, sizeof o)")
    }
    if declaredSize > knownSize {
        let extra = UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer) + knownSize, count: declaredSize - knownSize)
        guard extra.allSatisfy({ $0 == 0 }) else {
            throw .invalidArgument("options has fields this library version does not know (set to non-zero)")
        }
    }
    var given = defaultOptions()
    withUnsafeMutableBytes(of: &given) {
        $0.baseAddress!.copyMemory(from: UnsafeRawPointer(pointer), byteCount: min(declaredSize, knownSize))
    }
    guard given.attach_timeout_ms >= -1 else {
        throw .invalidArgument("attach_timeout_ms \(given.attach_timeout_ms); use SHMEMAPHORE_TIMEOUT_INFINITE (-1) to wait forever")
    }
    options.attachTimeout = duration(milliseconds: given.attach_timeout_ms)
    if given.mode != 0 { options.mode = given.mode }
    guard let policy = StalePolicy(rawValue: given.stale_policy) else {
        throw .invalidArgument("stale_policy \(given.stale_policy) is not a SHMEMAPHORE_STALE_* value")
    }
    options.stalePolicy = policy
    let foreignOwner = UInt32(SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER)
    let blockingWait = UInt32(SHMEMAPHORE_FLAG_BLOCKING_WAIT)
    let untrustedPeer = UInt32(SHMEMAPHORE_FLAG_UNTRUSTED_PEER)
    // Unknown bits are refused rather than ignored: a caller compiled against
    // a newer header asked for something this library cannot do.
    let unknownFlags = given.flags & ~(foreignOwner | blockingWait | untrustedPeer)
    guard unknownFlags == 0 else {
        throw .invalidArgument(
            "options.flags 0x\(String(given.flags, radix: 16)) has unknown bits 0x\(String(unknownFlags, radix: 16)); known: "
                + "SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER, SHMEMAPHORE_FLAG_BLOCKING_WAIT, SHMEMAPHORE_FLAG_UNTRUSTED_PEER")
    }
    options.allowForeignOwner = given.flags & foreignOwner != 0
    options.waitStrategy = given.flags & blockingWait != 0 ? .blocking : .adaptive
    options.untrustedPeer = given.flags & untrustedPeer != 0
    guard given.reserved == 0 else { throw .invalidArgument("options.reserved must be 0") }
    return options
}

/// A per-call timeout from C: -1 is infinite, other negatives are refused.
func callTimeout(_ milliseconds: Int64) throws(ShmemaphoreError) -> Duration? {
    guard milliseconds >= -1 else {
        throw .invalidArgument("timeout \(milliseconds) ms; use SHMEMAPHORE_TIMEOUT_INFINITE (-1) to wait forever")
    }
    return duration(milliseconds: milliseconds)
}

extension ResponseMetadata {
    init(_ c: shmemaphore_metadata) {
        self.init(bytes: c.bytes, width: c.width, height: c.height, channels: c.channels)
    }

    var c: shmemaphore_metadata {
        shmemaphore_metadata(bytes: bytes, width: width, height: height, channels: channels)
    }
}

/// The C API's millisecond timeouts as a Swift one: negative
/// (SHMEMAPHORE_TIMEOUT_INFINITE) is nil, waiting forever.
func duration(milliseconds: Int64) -> Duration? {
    milliseconds < 0 ? nil : .milliseconds(milliseconds)
}
