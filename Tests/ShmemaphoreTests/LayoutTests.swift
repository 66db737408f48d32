import Foundation
import Testing

@testable import Shmemaphore

/// Golden byte-level fixtures: the exact object names and bytes that
/// docs/PROTOCOL.md ("Worked example") promises a peer will find in /dev/shm.
@Suite struct GoldenLayoutTests {
    static func bytes(ofFile path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined(separator: " ")
    }

    /// HEAD's 32 bytes of wire words, after checking that it is 64 bytes
    /// long and that its extension words are those of a live channel: not
    /// retired, request number `request` and answer number `answer`
    /// (docs/PROTOCOL.md, "Exchange numbers"), the last word reserved (0).
    static func wireWords(ofFile path: String, request: UInt64, answer: UInt64) throws -> [UInt8] {
        let bytes = try Self.bytes(ofFile: path)
        #expect(bytes.count == Wire.headerSegmentSize)
        #expect(Self.hex(bytes.dropFirst(32)) == Self.hex(Self.words(0, request, answer, 0)), "extension words")
        return Array(bytes.prefix(32))
    }

    /// The 32 header bytes of four little-endian words.
    static func words(_ values: UInt64...) -> [UInt8] {
        values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    @Test func requestAndResponsesAreTheDocumentedBytes() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            let head = "/dev/shm/SEG_\(name)_HEAD", data = "/dev/shm/SEG_\(name)_DATA"
            #expect(
                TestSupport.existingObjects(of: name) == [
                    "/dev/shm/sem.SEM_\(name)_REQ", "/dev/shm/sem.SEM_\(name)_RES", head, data,
                ])

            // A fresh channel: HEAD is 64 zero bytes (32 of wire words, 32 of
            // extension words), DATA one page of zeros.
            #expect(try Self.bytes(ofFile: head) == [UInt8](repeating: 0, count: 64))
            #expect(try Self.bytes(ofFile: data) == [UInt8](repeating: 0, count: 4096))

            // Server sends "dog": word 0 = 3, then "dog" and a NUL in DATA;
            // it is request number 1 (HEAD bytes 40-47).
            try pair.server.send(request: "dog")
            #expect(Self.hex(try Self.wireWords(ofFile: head, request: 1, answer: 0)) == Self.hex(Self.words(3, 0, 0, 0)))
            #expect(Array(try Self.bytes(ofFile: data).prefix(4)) == [0x64, 0x6F, 0x67, 0x00])

            // Client answers a 2×1×3 image: HEAD = {6, 2, 1, 3}, DATA = the
            // pixels, answer number 1 (HEAD bytes 48-55).
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            let pixels: [UInt8] = [1, 2, 3, 4, 5, 6]
            try pixels.withUnsafeBytes { try pair.client.send(.image(width: 2, height: 1, channels: 3), payload: $0) }
            #expect(Self.hex(try Self.wireWords(ofFile: head, request: 1, answer: 1)) == Self.hex(Self.words(6, 2, 1, 3)))
            #expect(Array(try Self.bytes(ofFile: data).prefix(6)) == pixels)
            _ = try pair.server.receiveResponse(timeout: TestSupport.patience)

            // Server sends "cat"; only word 0 changes, the rest is stale.
            try pair.server.send(request: "cat")
            #expect(Self.hex(try Self.wireWords(ofFile: head, request: 2, answer: 1)) == Self.hex(Self.words(3, 2, 1, 3)))

            // Client answers an error: {18, 1, 0, UINT64_MAX} and the message.
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try pair.client.sendError(code: 1, message: "no such image: cat")
            #expect(Self.hex(try Self.wireWords(ofFile: head, request: 2, answer: 2)) == Self.hex(Self.words(18, 1, 0, .max)))
            #expect(Array(try Self.bytes(ofFile: data).prefix(18)) == Array("no such image: cat".utf8))
            TestSupport.expectCode(ErrorCode.peerError) { _ = try pair.server.receiveResponse(timeout: TestSupport.patience) }

            // Raw bytes: {5, 0, 0, 0}.
            try pair.server.send(request: "raw")
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try [UInt8]([9, 8, 7, 6, 5]).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(Self.hex(try Self.wireWords(ofFile: head, request: 3, answer: 3)) == Self.hex(Self.words(5, 0, 0, 0)))
            _ = try pair.server.receiveResponse(timeout: TestSupport.patience)
        }
    }

    @Test func dataSegmentGrowsInPagesAndNeverShrinks() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            let data = "/dev/shm/SEG_\(name)_DATA"
            func size() throws -> Int { (try FileManager.default.attributesOfItem(atPath: data)[.size] as! NSNumber).intValue }
            for (count, expected) in [(10, 4096), (10_000, 12_288), (5, 12_288), (1 << 20, 1 << 20), (1, 1 << 20)] {
                _ = try pair.exchange([]) { client, _ in
                    let buffer = try client.reserve(count)
                    buffer.initializeMemory(as: UInt8.self, repeating: 1)
                    try client.commit(.bytes(UInt64(count)))
                }
                #expect(try size() == expected, "after a \(count)-byte response")
            }
        }
    }
}

/// The extension words and what trusted peers do with them.
@Suite struct TrustedPeerTests {
    /// A server that replaces a channel marks the old HEAD "RETIRED!" at
    /// offset 32, so a trusted client, which no longer looks at st_nlink on
    /// every turn, still follows it instead of reading the old segments.
    @Test func aReplacedChannelsHeaderIsRetiredAndTheClientFollows() throws {
        try TestSupport.withChannel { name in
            let first = try ShmemaphoreServer(channel: name)
            let client = try ShmemaphoreClient(channel: name)
            // Two exchanges: the first establishes trust, the second uses it.
            for text in ["one", "two"] {
                try first.send(request: text)
                #expect(String(decoding: try client.receiveRequest(timeout: TestSupport.patience), as: UTF8.self) == text)
                try client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
                _ = try first.receiveResponse(timeout: TestSupport.patience)
            }
            let oldHead = shm_open(try ChannelName(name).headerSegment, O_RDONLY, 0)
            try #require(oldHead >= 0)
            defer { close(oldHead) }
            var marker: UInt64 = 0
            #expect(pread(oldHead, &marker, 8, off_t(Wire.retiredWordOffset)) == 8)
            #expect(marker == 0, "a live HEAD is not retired")

            first.core.abandonForTesting()  // a crash: the new server takes over
            let second = try ShmemaphoreServer(channel: name)
            #expect(pread(oldHead, &marker, 8, off_t(Wire.retiredWordOffset)) == 8)
            #expect(marker == Wire.retiredMarker)
            #expect(withUnsafeBytes(of: marker.littleEndian) { Array($0) } == Array("RETIRED!".utf8))

            try second.send(request: "three, from the new server")
            let request = try client.receiveRequest(timeout: TestSupport.patience)
            #expect(String(decoding: request, as: UTF8.self) == "three, from the new server")
            try client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            _ = try second.receiveResponse(timeout: TestSupport.patience)
            second.close()
            first.close()
        }
    }

    /// Trust, seen from outside: only a side whose peer holds its liveness
    /// lock maps HEAD (reads and writes the words without pread/pwrite).
    @Test(arguments: [false, true])
    func onlyAPeerWithALockIsTrusted(clientEmulatesOriginal: Bool) throws {
        try TestSupport.withChannel { name in
            var clientOptions = ChannelOptions()
            clientOptions.emulatesOriginalPeer = clientEmulatesOriginal
            let pair = try Pair(name, (ChannelOptions(), clientOptions))
            defer { pair.server.close() }
            for _ in 0..<3 {
                _ = try pair.exchange([1, 2, 3]) { client, request in try client.send(bytes: request) }
            }
            let headPath = "/dev/shm/SEG_\(name)_HEAD"
            // Read to the end: procfs files report a size of 0.
            let maps = try #require(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile()
            let segmentLines = String(decoding: maps, as: UTF8.self)
                .split(separator: "\n").filter { $0.contains("SEG_\(name)_") }
            // Both sides live in this process: a trusted pair maps HEAD twice;
            // with an original client, the client trusts no one and the server
            // does not trust a client without a lock: no mapping at all.
            #expect(segmentLines.filter { $0.hasSuffix(headPath) }.count == (clientEmulatesOriginal ? 0 : 2), "\(segmentLines)")
        }
    }

    /// A client trusted its server, then the server's payloads grow past
    /// what was verified: the fast path notices and checks again.
    @Test func growthPastTheVerifiedLengthIsCheckedAgain() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            for count in [8, 8, 100_000, 100_000, 3_000_000, 16, 5_000_000] {
                let request = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ count) }
                let response = try pair.exchange(request) { client, received in
                    #expect(Array(received) == request)
                    try client.send(bytes: received)
                }
                #expect(response.bytes == request, "\(count) bytes")
            }
        }
    }
}

/// What a hostile or buggy peer can do to shared memory, and the clean
/// errors that result instead of SIGBUS or a wrong payload.
@Suite struct HostilePeerTests {
    /// A raw handle on one of the channel's segments, as another process would have.
    static func truncate(_ segment: String, to size: Int) throws {
        let descriptor = shm_open(segment, O_RDWR, 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(ftruncate(descriptor, off_t(size)) == 0)
    }

    static func writeWords(_ segment: String, _ words: [UInt64]) throws {
        let descriptor = shm_open(segment, O_RDWR, 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(words.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } == words.count * 8)
    }

    /// The configurations in which a peer may shrink segments and the victim
    /// must notice: both sides told to check every turn; or a default side
    /// facing a peer that takes no liveness lock (an original app), with the
    /// original peer on either side.  A default side never trusts a peer
    /// without a lock (docs/PROTOCOL.md, "Trusted peers").
    static let checkingConfigurations: [(server: ChannelOptions, client: ChannelOptions)] = {
        var checking = ChannelOptions()
        checking.untrustedPeer = true
        var original = ChannelOptions()
        original.emulatesOriginalPeer = true
        return [(checking, checking), (ChannelOptions(), original), (original, ChannelOptions())]
    }()

    @Test(arguments: 0..<checkingConfigurations.count)
    func headerPromisingMoreThanTheSegmentIsAProtocolError(configuration: Int) throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name, Self.checkingConfigurations[configuration])
            defer { pair.server.close() }
            let channel = try ChannelName(name)
            try pair.server.send(request: "x")
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            let buffer = try pair.client.reserve(100_000)
            buffer.initializeMemory(as: UInt8.self, repeating: 7)
            try pair.client.commit(.bytes(100_000))
            // An original peer shrinks DATA to the length it last used.
            try Self.truncate(channel.dataSegment, to: 10)
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try pair.server.receiveResponse(timeout: TestSupport.patience) }
            // The next exchange works: the writer grows the segment again.
            let response = try pair.exchange([1]) { client, request in try client.send(bytes: request) }
            #expect(response.bytes == [1])
        }
    }

    @Test(arguments: 0..<checkingConfigurations.count)
    func shortOrTruncatedHeaderIsAProtocolError(configuration: Int) throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name, Self.checkingConfigurations[configuration])
            defer { pair.server.close() }
            let channel = try ChannelName(name)
            try pair.server.send(request: "x")
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try pair.client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            try Self.truncate(channel.headerSegment, to: 8)
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try pair.server.receiveResponse(timeout: TestSupport.patience) }
            // A request header truncated to nothing: the client still holds the
            // request and can answer it with an error.
            try pair.server.send(request: "y")
            try Self.truncate(channel.headerSegment, to: 0)
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try pair.client.receiveRequest(timeout: TestSupport.patience) }
            try pair.client.sendError(code: PeerErrorCode.badRequest, message: "unreadable request")
            // Between two numbering peers the answer number was cut off with
            // HEAD: the answer cannot be matched, which is a protocol error
            // too (reported at once, not after the timeout).
            let (serverOptions, clientOptions) = Self.checkingConfigurations[configuration]
            let numbered = !serverOptions.emulatesOriginalPeer && !clientOptions.emulatesOriginalPeer
            TestSupport.expectCode(numbered ? ErrorCode.protocolViolation : ErrorCode.peerError) {
                _ = try pair.server.receiveResponse(timeout: TestSupport.patience)
            }
        }
    }

    @Test(arguments: [
        [UInt64(7), 2, 1, 3],  // bytes ≠ width × height × channels
        [0, .max, .max, 2],  // product overflows 64 bits
        [0, 0, 5, 0],  // a zero dimension
        [3, 1, 1, .max],  // error marker with height ≠ 0
        [.max, 0, 0, 0],  // more bytes than any segment
    ])
    func inconsistentResponseWordsAreProtocolErrors(_ words: [UInt64]) throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            try pair.server.send(request: "x")
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try pair.client.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            try Self.writeWords(try ChannelName(name).headerSegment, words)
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try pair.server.receiveResponse(timeout: TestSupport.patience) }
        }
    }

    @Test func requestLongerThanTheSegmentIsAProtocolError() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            try pair.server.send(request: "x")
            try Self.writeWords(try ChannelName(name).headerSegment, [1 << 40])
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try pair.client.receiveRequest(timeout: TestSupport.patience) }
            try pair.client.sendError(code: 2, message: "")
            TestSupport.expectCode(ErrorCode.peerError) { _ = try pair.server.receiveResponse(timeout: TestSupport.patience) }
        }
    }
}

/// Objects are private by default and the library refuses unsafe ones.
@Suite struct PermissionTests {
    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    @Test(arguments: [(UInt32(0o600), mode_t(0o022)), (0o600, 0o000), (0o660, 0o077)])
    func createdObjectsHaveExactlyTheRequestedMode(mode: UInt32, umaskValue: mode_t) throws {
        try TestSupport.withChannel { name in
            let previous = umask(umaskValue)
            defer { umask(previous) }
            var options = ChannelOptions()
            options.mode = mode
            let server = try ShmemaphoreServer(channel: name, options: options)
            defer { server.close() }
            for path in server.channel.filesystemPaths {
                #expect(try Self.mode(path) == Int(mode), "\(path)")
            }
        }
    }

    @Test func groupOrWorldWritableObjectsAreRefused() throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            let data = server.channel.filesystemPaths[3]
            #expect(chmod(data, 0o666) == 0)
            TestSupport.expectCode(ErrorCode.unsafePermissions) { _ = try ShmemaphoreClient(channel: name) }
            // Asking for group access allows group write, never world write.
            var groupOptions = ChannelOptions()
            groupOptions.mode = 0o660
            TestSupport.expectCode(ErrorCode.unsafePermissions) { _ = try ShmemaphoreClient(channel: name, options: groupOptions) }
            #expect(chmod(data, 0o660) == 0)
            TestSupport.expectCode(ErrorCode.unsafePermissions) { _ = try ShmemaphoreClient(channel: name) }
            _ = try ShmemaphoreClient(channel: name, options: groupOptions)
        }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give an object to another user"))
    func objectsOfAnotherUserAreRefusedUnlessAllowed() throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            #expect(chown(server.channel.filesystemPaths[0], 65534, 65534) == 0)
            TestSupport.expectCode(ErrorCode.unsafePermissions) { _ = try ShmemaphoreClient(channel: name) }
            var options = ChannelOptions()
            options.allowForeignOwner = true
            _ = try ShmemaphoreClient(channel: name, options: options)
        }
    }

    @Test func descriptorsAreCloseOnExec() throws {
        try TestSupport.withChannel { name in
            let server = try ShmemaphoreServer(channel: name)
            defer { server.close() }
            let segments = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { entry -> Int32? in
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)"),
                    target.contains("SEG_\(name)_")
                else { return nil }
                return Int32(entry)
            }
            #expect(segments.count == 2)
            for descriptor in segments { #expect(fcntl(descriptor, F_GETFD) & FD_CLOEXEC != 0) }
        }
    }
}

@Suite struct DoublePostTests {
    @Test func aResponseSemaphorePostedTwiceDoesNotAnswerTheNextRequest() throws {
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            let first = try pair.exchange([1]) { client, request in try client.send(bytes: request) }
            #expect(first.bytes == [1])
            // A buggy client posts RES once more.
            try NamedSemaphore.attach(try ChannelName(name).responseSemaphore, options: ChannelOptions()).post()
            try pair.server.send(request: "second")
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.server.receiveResponse(timeout: .milliseconds(100)) }
            _ = try pair.client.receiveRequest(timeout: TestSupport.patience)
            try [UInt8]([2]).withUnsafeBytes { try pair.client.send(bytes: $0) }
            #expect(try pair.server.receiveResponse(timeout: TestSupport.patience).bytes == [2])
        }
    }
}
