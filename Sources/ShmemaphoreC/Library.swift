import CShmemaphoreHeader
import Shmemaphore

// Library-wide functions: versions, status code descriptions, option defaults.

/// The library version; scripts/check-abi.sh checks it against the header's macros.
let versionString: StaticString = "0.1.0"

@c @implementation
public func shmemaphore_version_number() -> CUnsignedInt {
    // SHMEMAPHORE_VERSION_NUMBER is a compound macro Swift cannot import.
    CUnsignedInt(SHMEMAPHORE_VERSION_MAJOR * 10000 + SHMEMAPHORE_VERSION_MINOR * 100 + SHMEMAPHORE_VERSION_PATCH)
}

@c @implementation
public func shmemaphore_version_string() -> UnsafePointer<CChar>! {
    versionString.cPointer
}

@c @implementation
public func shmemaphore_protocol_version() -> CUnsignedInt {
    CUnsignedInt(Wire.protocolVersion)
}

@c @implementation
public func shmemaphore_strerror(_ code: Int32) -> UnsafePointer<CChar>! {
    ErrorCode.descriptionPointer(of: code)
}

@c @implementation
public func shmemaphore_error_name(_ code: Int32) -> UnsafePointer<CChar>! {
    ErrorCode.namePointer(of: code)
}

@c @implementation
public func shmemaphore_options_init(_ options: UnsafeMutablePointer<shmemaphore_options>!) {
    guard let options else { return }
    let defaults = ChannelOptions()
    options.pointee = shmemaphore_options(
        struct_size: MemoryLayout<shmemaphore_options>.size,
        attach_timeout_ms: defaults.attachTimeout.map { Int64($0.components.seconds * 1000) } ?? -1,
        mode: defaults.mode,
        stale_policy: defaults.stalePolicy.rawValue,
        flags: 0,
        reserved: 0)
}

extension StaticString {
    var cPointer: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
