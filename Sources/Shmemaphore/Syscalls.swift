import CShmemaphoreShims
import Glibc

// The one place where libshmemaphore calls into the kernel and reads errno.
//
// Every libc call of the core that can fail runs inside one of the wrappers
// below (scripts/check-syscalls.py checks it in CI).  They retry on EINTR
// unless told that EINTR is an answer (a wait that a signal handler ends),
// and capture errno as a typed `Errno` right after the call, before anything
// else can change it.  `syscall` turns that into `ShmemaphoreError.system`
// naming the operation; callers for whom some errno is an answer (EAGAIN
// from sem_trywait, ETIMEDOUT from a timed wait) switch on the `Errno`.
// The rest of the core never reads errno.  The model is swift-system's
// `valueOrErrno(retryOnInterrupt:)` (Internals/Syscalls.swift).

/// An errno value, captured at the choke point when a call failed.
struct Errno: Error, Equatable {
    let rawValue: Int32

    init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// This errno as the library's error, naming what failed.
    func error(_ operation: String) -> ShmemaphoreError { .system(errno: rawValue, operation: operation) }
}

/// Runs `body`; when `failed(result)`, captures errno.  EINTR is retried
/// unless `retryOnInterrupt` is false (then it is returned like any errno).
@inline(__always)
func valueOrErrno<Value>(
    retryOnInterrupt: Bool = true, failed: (Value) -> Bool, _ body: () -> Value
) -> Result<Value, Errno> {
    while true {
        let result = body()
        if !failed(result) { return .success(result) }
        let error = shmemaphore_shim_errno()
        if error == EINTR && retryOnInterrupt { continue }
        return .failure(Errno(error))
    }
}

/// `valueOrErrno` for the common convention: -1 means failure.
@inline(__always)
func valueOrErrno<Value: BinaryInteger>(
    retryOnInterrupt: Bool = true, _ body: () -> Value
) -> Result<Value, Errno> {
    valueOrErrno(retryOnInterrupt: retryOnInterrupt, failed: { $0 == -1 }, body)
}

/// For calls that return their error number instead of setting errno
/// (posix_fallocate): 0 is success.  EINTR is retried.
@inline(__always)
func nothingOrErrorNumber(_ body: () -> Int32) -> Result<Void, Errno> {
    while true {
        let error = body()
        if error == 0 { return .success(()) }
        if error != EINTR { return .failure(Errno(error)) }
    }
}

extension Result where Failure == Errno {
    /// The value, or the errno as ``ShmemaphoreError/system(errno:operation:)`` naming `operation`.
    @inline(__always)
    func get(_ operation: @autoclosure () -> String) throws(ShmemaphoreError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let errno): throw errno.error(operation())
        }
    }
}

/// Runs `body` until it does not fail with EINTR; any other failure is
/// thrown as ``ShmemaphoreError/system(errno:operation:)``.
///
/// - Parameters:
///   - operation: what is being done, for the error message ("shm_open /SEG_ibis_DATA").
///   - failed: whether a result means failure, with errno set.
@inline(__always)
func syscall<Result>(
    _ operation: @autoclosure () -> String,
    failed: (Result) -> Bool,
    _ body: () -> Result
) throws(ShmemaphoreError) -> Result {
    try valueOrErrno(failed: failed, body).get(operation())
}

/// `syscall` for the common convention: -1 means failure.
@inline(__always)
@discardableResult
func syscall<Value: BinaryInteger>(
    _ operation: @autoclosure () -> String,
    _ body: () -> Value
) throws(ShmemaphoreError) -> Value {
    try valueOrErrno(body).get(operation())
}

/// `syscall` for calls that return a pointer, nil meaning failure (fopen, opendir).
@inline(__always)
func syscall<Pointee>(
    _ operation: @autoclosure () -> String,
    _ body: () -> UnsafeMutablePointer<Pointee>?
) throws(ShmemaphoreError) -> UnsafeMutablePointer<Pointee> {
    try valueOrErrno(failed: { $0 == nil }, body).get(operation())!
}

/// `syscall` for mmap: MAP_FAILED (or nil) means failure.
@inline(__always)
func mappingSyscall(
    _ operation: @autoclosure () -> String,
    _ body: () -> UnsafeMutableRawPointer?
) throws(ShmemaphoreError) -> UnsafeMutableRawPointer {
    try valueOrErrno(failed: { $0 == nil || $0 == MAP_FAILED }, body).get(operation())!
}

/// `syscall` for calls that return their error number (posix_fallocate).
@inline(__always)
func errorNumberSyscall(
    _ operation: @autoclosure () -> String,
    _ body: () -> Int32
) throws(ShmemaphoreError) {
    try nothingOrErrorNumber(body).get(operation())
}

/// The next entry of a directory stream, nil at its end.  readdir returns
/// NULL both at the end and on failure; only errno, cleared first, tells
/// them apart.
func nextDirectoryEntry(
    _ stream: OpaquePointer, describing directory: String
) throws(ShmemaphoreError) -> UnsafeMutablePointer<dirent>? {
    shmemaphore_shim_set_errno(0)
    if let entry = readdir(stream) { return entry }
    let error = shmemaphore_shim_errno()
    if error == 0 { return nil }
    throw Errno(error).error("readdir \(directory)")
}

/// Calls whose failure is deliberately ignored (cleanup paths: close,
/// munmap, unlink of an object that may already be gone).
@inline(__always)
func bestEffort<Value>(_ body: () -> Value) {
    _ = body()
}

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
