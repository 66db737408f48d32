import CShmemaphoreHeader
import Glibc
import Shmemaphore

// Channels in /dev/shm: listing and clean-up, over the core's
// ChannelInspector (the same rules as `shmemaphore ls` and `rm`).

@c @implementation
public func shmemaphore_list_channels(
    _ visit: shmemaphore_channel_visitor!, _ context: UnsafeMutableRawPointer!
) -> Int32 {
    guard let visit else { return ErrorCode.invalidArgument }
    let channels: [ChannelFiles]
    do {
        channels = try ChannelInspector.channels()
    } catch {
        return error.code
    }
    for files in channels {
        let snapshot = ChannelInspector.inspect(files)
        var objects: UInt32 = 0
        for (object, bit) in [
            (ChannelObject.header, SHMEMAPHORE_OBJECT_HEAD), (.data, SHMEMAPHORE_OBJECT_DATA),
            (.requestSemaphore, SHMEMAPHORE_OBJECT_REQ), (.responseSemaphore, SHMEMAPHORE_OBJECT_RES),
        ] where snapshot.isPresent(object) {
            objects |= UInt32(bit)
        }
        let name = files.sanitizedName.map { CChar(bitPattern: $0) } + [0]
        let stop = name.withUnsafeBufferPointer { pointer -> Int32 in
            var info = shmemaphore_channel_info()
            info.name = pointer.baseAddress
            info.objects = objects
            info.server_locked = lockState(snapshot.serverLocked)
            info.client_locked = lockState(snapshot.clientLocked)
            return visit(&info, context)
        }
        if stop != 0 { return stop }
    }
    return ErrorCode.ok
}

/// 1 held, 0 not held, -1 unknown.
private func lockState(_ held: Bool?) -> Int32 {
    guard let held else { return -1 }
    return held ? 1 : 0
}

@c @implementation
public func shmemaphore_remove_channel(
    _ name: UnsafePointer<CChar>!, _ flags: CUnsignedInt, _ removed: UnsafeMutablePointer<CUnsignedInt>!
) -> Int32 {
    status { () throws(ShmemaphoreError) in
        removed?.pointee = 0
        let force = CUnsignedInt(SHMEMAPHORE_REMOVE_FORCE)
        guard flags & ~force == 0 else {
            throw .invalidArgument("unknown flags 0x\(String(flags, radix: 16)) for shmemaphore_remove_channel")
        }
        let channel = try channelName(name)
        try ChannelInspector.removeChannel(channel, force: flags & force != 0) { count in removed?.pointee = CUnsignedInt(count) }
    }
}
