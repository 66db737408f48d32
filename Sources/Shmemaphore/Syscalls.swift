import CShmemaphoreShims
import Glibc

// The one place where libshmemaphore calls into the kernel.
//
// Every system call of the core goes through `syscall(_:_:)`: it retries on
// EINTR (a signal must never surface as an error or a lost wake-up) and turns
// errno into a typed `ShmemaphoreError.system` that names the operation.  The
// rest of the core never reads errno.

/// Runs `body` until it does not fail with EINTR.
///
/// - Parameters:
///   - operation: what is being done, for the error message ("shm_open /SEG_ibis_DATA").
///   - body: returns a value, or `nil`/`-1` via `failed` to signal failure with errno set.
@inline(__always)
func syscall<Result>(
    _ operation: @autoclosure () -> String,
    failed: (Result) -> Bool,
    _ body: () -> Result
) throws(ShmemaphoreError) -> Result {
    while true {
        let result = body()
        if !failed(result) { return result }
        let error = shmemaphore_shim_errno()
        if error == EINTR { continue }
        throw .system(errno: error, operation: operation())
    }
}

/// `syscall` for the common convention: -1 means failure.
@inline(__always)
@discardableResult
func syscall<Value: BinaryInteger>(
    _ operation: @autoclosure () -> String,
    _ body: () -> Value
) throws(ShmemaphoreError) -> Value {
    try syscall(operation(), failed: { $0 == -1 }, body)
}

/// `syscall` for calls that return a pointer, nil meaning failure.
@inline(__always)
func syscall<Pointee>(
    _ operation: @autoclosure () -> String,
    _ body: () -> UnsafeMutablePointer<Pointee>?
) throws(ShmemaphoreError) -> UnsafeMutablePointer<Pointee> {
    try syscall(operation(), failed: { $0 == nil }, body)!
}

/// Calls whose failure is reported but deliberately ignored (cleanup paths:
/// close, munmap, unlink of an object that may already be gone).
@inline(__always)
func bestEffort(_ body: () -> Int32) {
    _ = body()
}

/// The calling thread's errno after a call that failed outside `syscall`.
var currentErrno: Int32 { shmemaphore_shim_errno() }

/// `String.withCString` for typed-throwing bodies.
func withCString<Result>(
    _ string: String, _ body: (UnsafePointer<CChar>) throws(ShmemaphoreError) -> Result
) throws(ShmemaphoreError) -> Result {
    try string.withCString { pointer in
        Swift.Result { () throws(ShmemaphoreError) in try body(pointer) }
    }.get()
}

/// `String.withUTF8` for typed-throwing bodies (the standard library's
/// version only rethrows `any Error`).  Native strings need no copy.
func withUTF8Bytes<Result>(
    of string: String, _ body: (UnsafeRawBufferPointer) throws(ShmemaphoreError) -> Result
) throws(ShmemaphoreError) -> Result {
    var text = string
    return try text.withUTF8 { bytes in
        Swift.Result { () throws(ShmemaphoreError) in try body(UnsafeRawBufferPointer(bytes)) }
    }.get()
}
