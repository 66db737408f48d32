import CShmemaphoreHeader
import CShmemaphoreVersion
import Shmemaphore

// Library-wide functions: versions, status code descriptions, option defaults.

// The version is the header's: SHMEMAPHORE_VERSION_NUMBER and
// SHMEMAPHORE_VERSION_STRING, which Swift cannot import as macros, come from
// Sources/CShmemaphoreVersion (compiled C, rebuilt when the header changes).
// scripts/check-abi.sh checks the built library's answers against the macros.

@c @implementation
public func shmemaphore_version_number() -> CUnsignedInt {
    shmemaphore_shim_version_number()
}

@c @implementation
public func shmemaphore_version_string() -> UnsafePointer<CChar>! {
    shmemaphore_shim_version_string()  // a C string literal: static, NUL-terminated
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
