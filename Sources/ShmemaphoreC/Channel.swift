import CShmemaphoreHeader
import Glibc
import Shmemaphore

// Opening, closing and the exchange functions.  Each converts its arguments,
// calls the role's engine (ServerEngine, ClientEngine), and returns a status code (see Support.swift).

@c @implementation
public func shmemaphore_server_open(
    _ name: UnsafePointer<CChar>!, _ options: UnsafePointer<shmemaphore_options>!,
    _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> Int32 {
    openChannel(name, options, out) { name, options throws(ShmemaphoreError) in .server(try ServerEngine.openServer(name, options: options)) }
}

@c @implementation
public func shmemaphore_client_open(
    _ name: UnsafePointer<CChar>!, _ options: UnsafePointer<shmemaphore_options>!,
    _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> Int32 {
    openChannel(name, options, out) { name, options throws(ShmemaphoreError) in .client(try ClientEngine.openClient(name, options: options)) }
}

/// The shared body of the two open functions: `opener` is the role's constructor.
private func openChannel(
    _ name: UnsafePointer<CChar>?, _ options: UnsafePointer<shmemaphore_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?,
    with opener: (ChannelName, ChannelOptions) throws(ShmemaphoreError) -> ChannelHandle
) -> Int32 {
    status { () throws(ShmemaphoreError) in
        guard let out else { throw .invalidArgument("out is NULL") }
        out.pointee = makeHandle(try opener(channelName(name), channelOptions(options)))
    }
}

@c @implementation
public func shmemaphore_close(_ handle: OpaquePointer!) {
    guard let handle, let core = closeHandle(handle) else { return }
    core.close()
}

@c @implementation
public func shmemaphore_interrupt(_ handle: OpaquePointer!) -> Int32 {
    // Arithmetic and atomics only, never the handle table's lock: no lock,
    // no allocation, no reference counting, so that a signal handler may call it.
    let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
    guard key != 0, ChannelInterrupter(id: interruptID(ofHandle: key)).interrupt() else { return ErrorCode.invalidArgument }
    return ErrorCode.ok
}

@c @implementation
public func shmemaphore_channel_role(_ handle: OpaquePointer!) -> Int32 {
    guard let core = try? channel(handle) else { return ErrorCode.invalidArgument }
    if case .server = core { return Int32(SHMEMAPHORE_ROLE_SERVER) }
    return Int32(SHMEMAPHORE_ROLE_CLIENT)
}

// MARK: Server

@c @implementation
public func shmemaphore_send_request(_ handle: OpaquePointer!, _ request: UnsafeRawPointer!, _ length: UInt64) -> Int32 {
    status { () throws(ShmemaphoreError) in
        try channel(handle).server("send a request").sendRequest(buffer(request, length, what: "the request"))
    }
}

@c @implementation
public func shmemaphore_receive_response(
    _ handle: OpaquePointer!, _ timeoutMilliseconds: Int64, _ out: UnsafeMutablePointer<shmemaphore_response>!
) -> Int32 {
    status { () throws(ShmemaphoreError) in
        let core = try channel(handle)
        guard let out else { throw .invalidArgument("out is NULL") }
        let received = try core.server("receive a response").receiveResponse(timeout: callTimeout(timeoutMilliseconds))
        var response = shmemaphore_response()
        response.metadata = received.metadata.c
        // A view is never NULL, even when empty, so callers need no special case.
        response.data = received.payload.baseAddress?.assumingMemoryBound(to: UInt8.self)
            ?? UnsafeRawPointer(out).assumingMemoryBound(to: UInt8.self)
        switch received.kind {
        case .image: response.kind = UInt32(SHMEMAPHORE_PAYLOAD_IMAGE)
        case .bytes: response.kind = UInt32(SHMEMAPHORE_PAYLOAD_BYTES)
        case .error(let code):
            response.kind = UInt32(SHMEMAPHORE_PAYLOAD_ERROR)
            response.error_code = code
        }
        out.pointee = response
        if case .error(let code) = received.kind {
            throw .peerError(code: code, message: "")
        }
    }
}

@c @implementation
public func shmemaphore_request(
    _ handle: OpaquePointer!, _ request: UnsafeRawPointer!, _ length: UInt64, _ timeoutMilliseconds: Int64,
    _ out: UnsafeMutablePointer<shmemaphore_response>!
) -> Int32 {
    // Check every argument before sending, so a bad one never leaves a request outstanding.
    guard out != nil, timeoutMilliseconds >= -1 else { return ErrorCode.invalidArgument }
    let sent = shmemaphore_send_request(handle, request, length)
    guard sent == ErrorCode.ok else { return sent }
    return shmemaphore_receive_response(handle, timeoutMilliseconds, out)
}

// MARK: Client

@c @implementation
public func shmemaphore_receive_request(
    _ handle: OpaquePointer!, _ timeoutMilliseconds: Int64,
    _ request: UnsafeMutablePointer<UnsafePointer<UInt8>?>!, _ length: UnsafeMutablePointer<UInt64>!
) -> Int32 {
    status { () throws(ShmemaphoreError) in
        let core = try channel(handle)
        guard let request, let length else { throw .invalidArgument("request or length is NULL") }
        let received = try core.client("receive a request").receiveRequest(timeout: callTimeout(timeoutMilliseconds))
        request.pointee = received.baseAddress?.assumingMemoryBound(to: UInt8.self)
            ?? UnsafeRawPointer(length).assumingMemoryBound(to: UInt8.self)
        length.pointee = UInt64(received.count)
    }
}

@c @implementation
public func shmemaphore_send_response(
    _ handle: OpaquePointer!, _ metadata: UnsafePointer<shmemaphore_metadata>!, _ payload: UnsafeRawPointer!
) -> Int32 {
    status { () throws(ShmemaphoreError) in
        let core = try channel(handle)
        guard let metadata else { throw .invalidArgument("metadata is NULL") }
        let wire = ResponseMetadata(metadata.pointee)
        try core.client("send a response").sendResponse(wire, payload: buffer(payload, wire.bytes, what: "the payload"))
    }
}

@c @implementation
public func shmemaphore_send_error(_ handle: OpaquePointer!, _ code: UInt64, _ message: UnsafePointer<CChar>!) -> Int32 {
    status { () throws(ShmemaphoreError) in
        let core = try channel(handle)
        let text = message.map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) }
        try core.client("send an error response").sendError(code: code, message: text ?? UnsafeRawBufferPointer(start: nil, count: 0))
    }
}

@c @implementation
public func shmemaphore_reserve(_ handle: OpaquePointer!, _ length: UInt64, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>!) -> Int32 {
    status { () throws(ShmemaphoreError) in
        let core = try channel(handle)
        guard let out else { throw .invalidArgument("buffer is NULL") }
        out.pointee = try core.client("reserve a response buffer").reserve(length).baseAddress
    }
}

@c @implementation
public func shmemaphore_commit(_ handle: OpaquePointer!, _ metadata: UnsafePointer<shmemaphore_metadata>!) -> Int32 {
    status { () throws(ShmemaphoreError) in
        let core = try channel(handle)
        guard let metadata else { throw .invalidArgument("metadata is NULL") }
        try core.client("commit a response").commit(ResponseMetadata(metadata.pointee))
    }
}

// MARK: Images

@c @implementation
public func shmemaphore_send_image_file(
    _ handle: OpaquePointer!, _ path: UnsafePointer<CChar>!, _ sent: UnsafeMutablePointer<shmemaphore_metadata>!
) -> Int32 {
    status { () throws(ShmemaphoreError) in
        let core = try channel(handle)
        let metadata = try core.client("send an image").sendImageFile(atCPath: cPath(path))
        sent?.pointee = metadata.c
    }
}

@c @implementation
public func shmemaphore_save_image(_ response: UnsafePointer<shmemaphore_response>!, _ path: UnsafePointer<CChar>!) -> Int32 {
    status { () throws(ShmemaphoreError) in
        guard let response else { throw .invalidArgument("response is NULL") }
        let path = try cPath(path)
        let metadata = ResponseMetadata(response.pointee.metadata)
        guard response.pointee.kind == UInt32(SHMEMAPHORE_PAYLOAD_IMAGE) else { throw .notImage }
        let pixels = try buffer(UnsafeRawPointer(response.pointee.data), metadata.bytes, what: "response data")
        try ImageCodec.save(metadata, pixels: pixels, toCPath: path)
    }
}
