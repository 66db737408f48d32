import Testing

@testable import Shmemaphore

/// Unit tests of the pure parts of the core: layouts, payload kinds, names,
/// status codes and options.
@Suite struct WireTests {
    @Test func imagesNeedAllDimensionsAndAMatchingByteCount() throws {
        #expect(try ResponseMetadata(bytes: 6, width: 2, height: 1, channels: 3).kind() == .image)
        #expect(try ResponseMetadata(bytes: 1, width: 1, height: 1, channels: 1).kind() == .image)
        for bad in [
            ResponseMetadata(bytes: 7, width: 2, height: 1, channels: 3),
            ResponseMetadata(bytes: 0, width: 0, height: 1, channels: 3),
            ResponseMetadata(bytes: 0, width: 2, height: 0, channels: 0),
            ResponseMetadata(bytes: 0, width: .max, height: .max, channels: 2),
            ResponseMetadata(bytes: 0, width: 1 << 32, height: 1 << 32, channels: 1),
        ] {
            TestSupport.expectCode(ErrorCode.protocolViolation) { _ = try bad.kind() }
        }
    }

    @Test func rawBytesAreMarkedByThreeZeroWords() throws {
        #expect(try ResponseMetadata.bytes(0).kind() == .bytes)
        #expect(try ResponseMetadata.bytes(12345).kind() == .bytes)
    }

    @Test func errorsCarryTheirCodeInTheWidthWord() throws {
        let metadata = ResponseMetadata.error(code: 42, messageLength: 5)
        #expect(metadata == ResponseMetadata(bytes: 5, width: 42, height: 0, channels: .max))
        #expect(try metadata.kind() == .error(code: 42))
        TestSupport.expectCode(ErrorCode.protocolViolation) {
            _ = try ResponseMetadata(bytes: 5, width: 42, height: 1, channels: .max).kind()
        }
    }

    @Test func sendersCannotForgeErrorsOrInconsistentImages() {
        TestSupport.expectCode(ErrorCode.invalidArgument) { try ResponseMetadata.error(code: 1, messageLength: 0).validateForSending() }
        TestSupport.expectCode(ErrorCode.invalidArgument) {
            try ResponseMetadata(bytes: 5, width: 2, height: 1, channels: 3).validateForSending()
        }
        TestSupport.expectCode(ErrorCode.tooLarge) { _ = try ResponseMetadata.image(width: .max, height: 2, channels: 1) }
    }

    @Test func wordsDecodeInWireOrder() {
        var words: (UInt64, UInt64, UInt64, UInt64) = (6, 2, 1, 3)
        let metadata = withUnsafeBytes(of: &words) { ResponseMetadata(words: $0) }
        #expect(metadata == ResponseMetadata(bytes: 6, width: 2, height: 1, channels: 3))
    }

    @Test func payloadsMustFitTheSegment() {
        TestSupport.expectCode(ErrorCode.protocolViolation) { try checkPayloadFits(4097, dataSegmentSize: 4096, what: "response") }
        TestSupport.expectCode(ErrorCode.protocolViolation) { try checkPayloadFits(.max, dataSegmentSize: 4096, what: "response") }
        TestSupport.expectCode(ErrorCode.ok) { try checkPayloadFits(4096, dataSegmentSize: 4096, what: "response") }
    }
}

@Suite struct ChannelNameTests {
    @Test func objectNamesFollowTheOriginal() throws {
        let channel = try ChannelName("ibis")
        #expect(channel.requestSemaphore == "/SEM_ibis_REQ")
        #expect(channel.responseSemaphore == "/SEM_ibis_RES")
        #expect(channel.headerSegment == "/SEG_ibis_HEAD")
        #expect(channel.dataSegment == "/SEG_ibis_DATA")
        #expect(
            channel.filesystemPaths == [
                "/dev/shm/sem.SEM_ibis_REQ", "/dev/shm/sem.SEM_ibis_RES", "/dev/shm/SEG_ibis_HEAD", "/dev/shm/SEG_ibis_DATA",
            ])
    }

    @Test func aLeadingSlashNamesTheSameChannel() throws {
        let slashed = try ChannelName("/ibis")
        #expect(slashed == (try ChannelName("ibis")))
        #expect(slashed.name == "ibis")
        #expect(slashed.dataSegment == "/SEG_ibis_DATA")
        _ = try ChannelName("/" + String(repeating: "x", count: ChannelName.maximumLength))
    }

    /// The original apps turned every '/' into '_': "a/b" and "a_b" would share objects.
    @Test(arguments: ["a/b", "a/", "//a", "/", "/a/b"])
    func slashesAfterTheFirstByteAreRefused(_ name: String) {
        TestSupport.expectCode(ErrorCode.invalidName) { _ = try ChannelName(name) }
    }

    @Test(arguments: ["", String(repeating: "x", count: 201), "bad\nname", "tab\there", "del\u{7F}"])
    func badNamesAreRefused(_ name: String) {
        TestSupport.expectCode(ErrorCode.invalidName) { _ = try ChannelName(name) }
    }

    @Test func longestNameIsAccepted() throws {
        _ = try ChannelName(String(repeating: "x", count: ChannelName.maximumLength))
    }
}

@Suite struct StatusCodeTests {
    @Test func everyLibraryCodeHasAStableName() {
        let expected: [(Int32, String)] = [
            (0, "SHMEMAPHORE_OK"), (-1001, "SHMEMAPHORE_E_INVALID_ARGUMENT"), (-1002, "SHMEMAPHORE_E_INVALID_NAME"),
            (-1003, "SHMEMAPHORE_E_TIMEOUT"), (-1004, "SHMEMAPHORE_E_PROTOCOL"), (-1005, "SHMEMAPHORE_E_PEER_ERROR"),
            (-1006, "SHMEMAPHORE_E_PEER_GONE"), (-1007, "SHMEMAPHORE_E_WRONG_ROLE"), (-1008, "SHMEMAPHORE_E_WRONG_STATE"),
            (-1009, "SHMEMAPHORE_E_EXISTS"), (-1010, "SHMEMAPHORE_E_IMAGE_DECODE"), (-1011, "SHMEMAPHORE_E_IMAGE_ENCODE"),
            (-1012, "SHMEMAPHORE_E_UNSUPPORTED_FORMAT"), (-1013, "SHMEMAPHORE_E_NOT_IMAGE"), (-1014, "SHMEMAPHORE_E_TOO_LARGE"),
            (-1015, "SHMEMAPHORE_E_UNSAFE_PERMISSIONS"), (-1016, "SHMEMAPHORE_E_BUSY"),
        ]
        for (code, name) in expected {
            #expect(ErrorCode.name(of: code) == name)
            #expect(!ErrorCode.description(of: code).isEmpty)
        }
    }

    @Test func systemErrorsKeepTheirErrno() {
        #expect(ErrorCode.name(of: -2) == "ENOENT")
        #expect(ShmemaphoreError.system(errno: 28, operation: "x").code == -28)
        #expect(ErrorCode.description(of: -28) == "No space left on device")
    }

    @Test(arguments: [Int32(1), 12345, -1000, -1017, -99999, .min, .max])
    func unknownCodesStillDescribeThemselves(_ code: Int32) {
        #expect(ErrorCode.name(of: code) == "SHMEMAPHORE_E_UNKNOWN")
        #expect(ErrorCode.description(of: code) == "unknown status code")
    }

    @Test func errorsReadAsOneSentence() {
        let error = ShmemaphoreError.peerError(code: 1, message: "no such image: cat")
        #expect(error.description == "the peer answered with an error (code 1: no such image: cat)")
    }
}

@Suite struct OptionsTests {
    @Test(arguments: [UInt32(0o600), 0o640, 0o660, 0o700])
    func ownerAndGroupModesAreAccepted(_ mode: UInt32) throws {
        var options = ChannelOptions()
        options.mode = mode
        try options.validate()
    }

    @Test(arguments: [UInt32(0o666), 0o604, 0o400, 0o1600, 0o000])
    func modesForOthersOrWithoutOwnerAccessAreRefused(_ mode: UInt32) {
        var options = ChannelOptions()
        options.mode = mode
        TestSupport.expectCode(ErrorCode.invalidArgument) { try options.validate() }
    }

    @Test func deadlinesHandleInfiniteAndHugeTimeouts() {
        #expect(Deadline(timeout: nil).instant == nil)
        #expect(Deadline(timeout: .seconds(Int64.max)).instant == nil)
        #expect(Deadline(timeout: .zero).hasPassed)
        #expect(Deadline(timeout: .milliseconds(-5)).hasPassed)
        #expect(!Deadline(timeout: .seconds(60)).hasPassed)
    }
}
