import Foundation
import Testing

@testable import Shmemaphore

// Hostile files and hostile processes (issue 9), seen from inside one test
// process: every object is opened once by descriptor and checked; a live
// server owns its channel; exchange numbers keep a third process's posts
// from pairing the wrong answer with a request; the library's own accesses
// to shared memory never die of SIGBUS.  The same attacks from real other
// processes and another user run in Tests/Hostile/ (ctest).

/// Raw access to a channel's files, as another process would have it.
enum ObjectFiles {
    static func truncate(_ path: String, to size: Int) throws {
        let descriptor = open(path, O_RDWR)
        try #require(descriptor >= 0, "open \(path): \(String(cString: strerror(errno)))")
        defer { close(descriptor) }
        try #require(ftruncate(descriptor, off_t(size)) == 0)
    }

    /// fallocate(FALLOC_FL_KEEP_SIZE): blocks allocated past the end (Glibc's
    /// module map does not show the GNU function, so it is looked up).
    static func fallocateKeepingSize(_ descriptor: Int32, offset: Int, length: Int) -> Int32 {
        typealias Fallocate = @convention(c) (Int32, Int32, off_t, off_t) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fallocate") else { return -1 }
        return unsafeBitCast(symbol, to: Fallocate.self)(descriptor, 1 /* FALLOC_FL_KEEP_SIZE */, off_t(offset), off_t(length))
    }

    /// The bytes of `path`, read with pread (never mapped).
    static func bytes(_ path: String, count: Int) -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: count)
        let read = pread(descriptor, &buffer, count, 0)
        return Array(buffer.prefix(max(read, 0)))
    }
}

@Suite struct HostileObjectFileTests {
    /// REQ as a 0-byte regular file: a clean error at open (it cannot hold a
    /// sem_t), no SIGBUS, and nothing of the failed server left behind.
    @Test(arguments: [false, true])
    func aSemaphoreFileTooShortIsRefused(responseSemaphore: Bool) throws {
        try TestSupport.withChannel(expectClean: false) { name in
            let channel = try ChannelName(name)
            let path = ChannelName.filesystemPath(ofSemaphore: responseSemaphore ? channel.responseSemaphore : channel.requestSemaphore)
            let descriptor = open(path, O_CREAT | O_EXCL | O_RDWR, 0o600)
            try #require(descriptor >= 0)
            close(descriptor)
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try ShmemaphoreServer(channel: name) }
            TestSupport.expectCode(ErrorCode.protocolViolation) {
                var options = ChannelOptions()
                options.attachTimeout = .zero
                _ = try ShmemaphoreClient(channel: name, options: options)
            }
            #expect(TestSupport.existingObjects(of: name) == [path], "only the planted file remains")
        }
    }

    /// A symlink in place of an object is never followed (O_NOFOLLOW): the
    /// file it points to is neither used nor changed.
    @Test func symlinkedObjectsAreRefused() throws {
        try TestSupport.withChannel(expectClean: false) { name in
            let channel = try ChannelName(name)
            let target = "/dev/shm/shmtest-target-\(getpid())-\(name.hashValue & 0xffff)"
            defer { unlink(target) }
            let descriptor = open(target, O_CREAT | O_EXCL | O_RDWR, 0o600)
            try #require(descriptor >= 0)
            #expect(ftruncate(descriptor, 4096) == 0)
            close(descriptor)
            // A semaphore that is a symlink: the server refuses it.
            let request = ChannelName.filesystemPath(ofSemaphore: channel.requestSemaphore)
            try #require(symlink(target, request) == 0)
            TestSupport.expectCode(-ELOOP) { _ = try ShmemaphoreServer(channel: name) }
            unlink(request)
            // Segments that are symlinks: the client refuses them.
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            let data = ChannelName.filesystemPath(ofSegment: channel.dataSegment)
            unlink(data)
            try #require(symlink(target, data) == 0)
            var options = ChannelOptions()
            options.attachTimeout = .zero
            TestSupport.expectCode(-ELOOP) { _ = try ShmemaphoreClient(channel: name, options: options) }
            #expect(ObjectFiles.bytes(target, count: 4096) == [UInt8](repeating: 0, count: 4096), "the target is untouched")
        }
    }

    /// An object that is not a regular file (a FIFO, a directory) is refused
    /// with a clean error, and opening never blocks on it.
    @Test func objectsThatAreNotRegularFilesAreRefused() throws {
        try TestSupport.withChannel(expectClean: false) { name in
            let channel = try ChannelName(name)
            let request = ChannelName.filesystemPath(ofSemaphore: channel.requestSemaphore)
            try #require(mkfifo(request, 0o600) == 0)
            TestSupport.expectCode(ErrorCode.unsafePermissions) { _ = try ShmemaphoreServer(channel: name) }
            unlink(request)
            try #require(mkdir(ChannelName.filesystemPath(ofSegment: channel.headerSegment), 0o700) == 0)
            defer { rmdir(ChannelName.filesystemPath(ofSegment: channel.headerSegment)) }
            TestSupport.expectCode(-EISDIR) { _ = try ShmemaphoreServer(channel: name) }
        }
    }

    /// The hole test must see holes that fallocate(FALLOC_FL_KEEP_SIZE)
    /// hides from st_blocks by allocating blocks past the end.
    @Test func holesHiddenByBlocksPastTheEndAreFound() throws {
        try TestSupport.withChannel(expectClean: false) { name in
            let channel = try ChannelName(name)
            let segment = try SharedSegment.create(channel.dataSegment, mode: 0o600, size: 0)
            defer { segment.unlink() }
            let size = 1 << 20
            #expect(ftruncate(segment.descriptor, off_t(size)) == 0)  // all hole
            #expect(ObjectFiles.fallocateKeepingSize(segment.descriptor, offset: size, length: size) == 0)
            let status = try segment.status()
            let blocksPastTheEnd = Int(status.st_blocks)
            #expect(blocksPastTheEnd * 512 >= Int(status.st_size), "st_blocks alone would call this segment hole-free")
            try segment.backWithMemory(count: size)
            #expect((Int(try segment.status().st_blocks) - blocksPastTheEnd) * 512 >= size, "the first megabyte has memory behind it now")
        }
    }
}

@Suite struct ChannelOwnershipTests {
    /// Closing a channel whose objects were replaced behind its back (by name)
    /// removes none of the replacements.
    @Test func closeUnlinksOnlyTheObjectsItOpened() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let server = try ShmemaphoreServer(channel: name)
            // Someone replaces REQ and DATA with files of their own.
            for path in [ChannelName.filesystemPath(ofSemaphore: channel.requestSemaphore), ChannelName.filesystemPath(ofSegment: channel.dataSegment)] {
                unlink(path)
                let descriptor = open(path, O_CREAT | O_EXCL | O_RDWR, 0o600)
                try #require(descriptor >= 0)
                close(descriptor)
            }
            server.close()
            #expect(TestSupport.existingObjects(of: name).count == 2, "the two replacements survive the close")
            TestSupport.removeObjects(of: name)
        }
    }
}

/// A third process posting a semaphore must never make a healthy pair
/// report a wrong payload as OK (docs/PROTOCOL.md, "Exchange numbers").
@Suite struct SpuriousPostTests {
    static let exchanges = 2_000

    /// The answer to request `k`: its own bytes, then a pattern of `k`.
    static func answer(to request: UnsafeRawBufferPointer) -> [UInt8] {
        let k = UInt64(String(decoding: request, as: UTF8.self).dropFirst()) ?? 0
        return Array(request) + (0..<61).map { peerPattern(seed: k, index: UInt64($0)) }
    }

    @Test(arguments: [false, true])
    func postsByAThirdPartyNeverPairTheWrongAnswer(postResponses: Bool) throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let pair = try Pair(name)
            defer { pair.server.close() }
            let stop = Mutex(false)
            let served = Mutex(0)
            let client = UncheckedSendable(value: pair.client)
            let clientThread = Thread {
                while !stop.withLock({ $0 }) {
                    guard let request = try? client.value.receiveRequest(timeout: .milliseconds(100)) else { continue }
                    let bytes = Self.answer(to: request)
                    try? bytes.withUnsafeBytes { try client.value.send(bytes: $0) }
                    served.withLock { $0 += 1 }
                }
            }
            // The third party: its own handle on the semaphore, posting every 200 µs.
            let semaphoreName = postResponses ? channel.responseSemaphore : channel.requestSemaphore
            let intruder = Thread {
                let semaphore = sem_open(semaphoreName, 0)
                guard let semaphore, semaphore != SEM_FAILED else { return }
                defer { sem_close(semaphore) }
                while !stop.withLock({ $0 }) {
                    sem_post(semaphore)
                    usleep(200)
                }
            }
            clientThread.start()
            intruder.start()
            var wrong = 0, failed = 0
            for k in 0..<Self.exchanges {
                let request = Array("k\(k)".utf8)
                do {
                    let response = try request.withUnsafeBytes { bytes in
                        try pair.server.send(request: bytes)
                        return try pair.server.receiveResponse(timeout: TestSupport.patience)
                    }
                    if response.bytes != request.withUnsafeBytes(Self.answer) { wrong += 1 }
                } catch {
                    failed += 1
                    break
                }
            }
            stop.withLock { $0 = true }
            while !clientThread.isFinished || !intruder.isFinished { usleep(1000) }
            #expect(wrong == 0, "\(wrong) wrong payloads reported as OK")
            #expect(failed == 0, "every exchange gets its own answer")
        }
    }
}

/// A RES token that comes before any client took the request is no
/// answer, whether or not the client will number its answers.
@Suite struct EarlyStrayTokenTests {
    @Test func aResponseTokenBeforeAnyClientTookTheRequestIsNoAnswer() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            try server.send(request: "k1")
            let intruder = try #require(sem_open(channel.responseSemaphore, 0))
            try #require(intruder != SEM_FAILED)
            sem_post(intruder)
            sem_close(intruder)
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try server.receiveResponse(timeout: .milliseconds(200)) }
            // The request is still outstanding; a client that comes now answers it.
            let client = try ShmemaphoreClient(channel: name)
            #expect(Array(try client.receiveRequest(timeout: TestSupport.patience)) == Array("k1".utf8))
            try [UInt8]([4, 2]).withUnsafeBytes { try client.send(bytes: $0) }
            #expect(try server.receiveResponse(timeout: TestSupport.patience).bytes == [4, 2])
        }
    }
}

/// A REQ token that comes before a numbering server wrote its first request
/// is no request: HEAD's request number is still 0, and the segments are
/// the server's (it may be writing its first request into them).
@Suite struct EarlyStrayRequestTokenTests {
    @Test func aRequestTokenBeforeTheServersFirstRequestIsNoRequest() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let pair = try Pair(name)
            defer { pair.server.close() }
            let intruder = try #require(sem_open(channel.requestSemaphore, 0))
            try #require(intruder != SEM_FAILED)
            sem_post(intruder)
            sem_close(intruder)
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.client.receiveRequest(timeout: .milliseconds(100)) }
            // The client answered nothing into the server's turn: the first request goes through whole.
            try pair.server.send(request: "k1")
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("k1".utf8))
            try [UInt8]([4, 2]).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(try pair.server.receiveResponse(timeout: TestSupport.patience).bytes == [4, 2])
        }
    }
}

/// The library's own accesses to a segment that another process shrinks
/// fail cleanly (the fault guard), and untrusted-peer mode hands payloads
/// over as private copies that cannot fault.
@Suite struct TruncatedSegmentTests {
    /// Exchanges enough to trust each other (the fast path, which maps HEAD
    /// and skips fstat), then lets `attack` run during the given side's turn.
    @Test func dataTruncatedDuringTheClientsTurnIsAnErrorNotSIGBUS() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let pair = try Pair(name)
            defer { pair.server.close() }
            let big = [UInt8](repeating: 5, count: 64 * 1024)
            for _ in 0..<3 {
                _ = try pair.exchange([1]) { client, _ in try big.withUnsafeBytes { try client.send(bytes: $0) } }
            }
            try pair.server.send(request: "x")
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try ObjectFiles.truncate(ChannelName.filesystemPath(ofSegment: channel.dataSegment), to: 0)
            // On the fast path the copy faults under the guard: a protocol
            // error, and the request is still held, so a small error answer
            // goes out.  (If a busy machine let the trust window run out, the
            // checked path sees the new size and grows DATA: a success.)
            do {
                try big.withUnsafeBytes { try pair.client.send(bytes: $0) }
                #expect(try pair.server.receiveResponse(timeout: TestSupport.patience).bytes == big)
            } catch let error as ShmemaphoreError {
                #expect(error.code == ErrorCode.protocolViolation, "\(error)")
                try pair.client.sendError(code: PeerErrorCode.unspecified, message: "segment shrank")
                TestSupport.expectCode(ErrorCode.peerError) { _ = try pair.server.receiveResponse(timeout: TestSupport.patience) }
            }
        }
    }

    @Test func dataTruncatedDuringTheServersTurnIsAnErrorNotSIGBUS() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let pair = try Pair(name)
            defer { pair.server.close() }
            let big = [UInt8](repeating: 5, count: 64 * 1024)
            for _ in 0..<3 {
                _ = try big.withUnsafeBytes { request in
                    try pair.server.send(request: request)
                    _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
                    try pair.client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
                    return try pair.server.receiveResponse(timeout: TestSupport.patience)
                }
            }
            try ObjectFiles.truncate(ChannelName.filesystemPath(ofSegment: channel.dataSegment), to: 0)
            // A protocol error on the fast path; a success if the trust window
            // ran out on a busy machine (the checked path grows DATA).
            do {
                try big.withUnsafeBytes { try pair.server.send(request: $0) }
                #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == big)
            } catch let error as ShmemaphoreError {
                #expect(error.code == ErrorCode.protocolViolation, "\(error)")
            }
        }
    }

    /// HEAD truncated behind a trusted peer's back: the mapped header words
    /// fault inside the library, which reports it.  (On a machine so busy
    /// that the 50 ms trust window ran out, the send takes the checked path
    /// instead and pwrite reaches HEAD whatever its size: a success.  Either
    /// way, no SIGBUS, which the code before the fault guard died of.)
    @Test func headerTruncatedBehindTheFastPathIsAnErrorNotSIGBUS() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let pair = try Pair(name)
            defer { pair.server.close() }
            for _ in 0..<3 { _ = try pair.exchange([1]) { client, request in try client.send(bytes: request) } }
            try pair.server.send(request: "x")
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try ObjectFiles.truncate(ChannelName.filesystemPath(ofSegment: channel.headerSegment), to: 0)
            do {
                try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try pair.client.send(bytes: $0) }
                #expect(try pair.server.receiveResponse(timeout: TestSupport.patience).bytes == [UInt8](repeating: 1, count: 8))
            } catch let error as ShmemaphoreError {
                #expect(error.code == ErrorCode.protocolViolation, "\(error)")
            }
        }
    }

    /// Untrusted-peer mode: the response the caller reads is a private copy,
    /// so shrinking DATA afterwards cannot make the caller fault.
    @Test func untrustedModeHandsOverAPrivateCopy() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            var options = ChannelOptions()
            options.untrustedPeer = true
            let pair = try Pair(name, options: options)
            defer { pair.server.close() }
            let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            let response = try pair.exchange([1]) { client, _ in try payload.withUnsafeBytes { try client.send(bytes: $0) } }
            try ObjectFiles.truncate(ChannelName.filesystemPath(ofSegment: channel.dataSegment), to: 0)
            #expect(Array(response.payload) == payload, "read after the segment shrank: still the payload, no SIGBUS")
        }
    }

    /// A DATA larger than the address space: the client maps only what it
    /// needs, so it can still read the request and answer it.
    @Test func dataLargerThanTheAddressSpaceStillGetsAnAnswer() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let pair = try Pair(name)
            defer { pair.server.close() }
            try pair.server.send(request: "big")
            try ObjectFiles.truncate(ChannelName.filesystemPath(ofSegment: channel.dataSegment), to: 1 << 60)
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("big".utf8))
            try pair.client.sendError(code: PeerErrorCode.badRequest, message: "no")
            TestSupport.expectCode(ErrorCode.peerError) { _ = try pair.server.receiveResponse(timeout: TestSupport.patience) }
        }
    }
}

/// The fault guard passes on faults that are not the library's own, and
/// guards the semaphores (Tests/CPeer/sigbus_chain.c, in child processes).
@Suite struct FaultGuardTests {
    @Test func faultsOutsideTheLibraryAreNotHiddenAndSemaphoresAreGuarded() throws {
        try TestSupport.withChannel { name in
            let program = try PeerProcesses.program("shmemaphore-sigbus-chain")
            let result = PeerProcesses.run([program.path, name], timeout: TestSupport.patienceSeconds)
            defer { ["a", "b", "c"].forEach { TestSupport.removeObjects(of: "\(name)-\($0)") } }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("3 passed, 0 failed"), "\(result.output)")
            // The children of checks a and b die of their fault, as intended, and
            // leave their channels behind; check c closes its channel.
            #expect(TestSupport.existingObjects(of: "\(name)-c") == [], "objects left behind")
        }
    }
}
