import CShmemaphoreHeader
import Shmemaphore

// Library-wide functions: versions, status code descriptions, option defaults.

/// The library version; scripts/check-abi.sh checks it against the header's macros.
let versionString: StaticString = "0.2.0"

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
public func shmemaphore_options_init(_ options: UnsafeMutablePointer<shmemaphore_options>!, _ structSize: Int) -> Int32 {
    guard let options, (optionsMinimumSize...optionsMaximumSize).contains(structSize) else {
        return ErrorCode.invalidArgument
    }
    var defaults = defaultOptions()
    defaults.struct_size = structSize
    // Write only what the caller's struct holds, and zeros for fields we do not know.
    let known = min(structSize, MemoryLayout<shmemaphore_options>.size)
    let target = UnsafeMutableRawPointer(options)
    withUnsafeBytes(of: &defaults) { target.copyMemory(from: $0.baseAddress!, byteCount: known) }
    (target + known).initializeMemory(as: UInt8.self, repeating: 0, count: structSize - known)
    return ErrorCode.ok
}

extension StaticString {
    var cPointer: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
