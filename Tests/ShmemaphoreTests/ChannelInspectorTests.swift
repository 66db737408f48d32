import Foundation
import Testing

@testable import Shmemaphore

/// The channel inspector: the one home of the object names as files, of a
/// channel's state as seen from outside, and of removing its objects.
@Suite struct ChannelInspectorTests {
    @Test func fileNamesAreTheProtocolsObjectNamesAndParseBack() throws {
        let name = try ChannelName("ibis")
        let files = ChannelFiles(name)
        let expected: [(ChannelObject, String, String)] = [
            (.header, "SEG_ibis_HEAD", ChannelName.filesystemPath(ofSegment: name.headerSegment)),
            (.data, "SEG_ibis_DATA", ChannelName.filesystemPath(ofSegment: name.dataSegment)),
            (.requestSemaphore, "sem.SEM_ibis_REQ", ChannelName.filesystemPath(ofSemaphore: name.requestSemaphore)),
            (.responseSemaphore, "sem.SEM_ibis_RES", ChannelName.filesystemPath(ofSemaphore: name.responseSemaphore)),
        ]
        for (object, fileName, path) in expected {
            #expect(String(decoding: files.fileName(object), as: UTF8.self) == fileName)
            #expect(String(decoding: files.path(object), as: UTF8.self) == path)
            let parsed = try #require(ChannelFiles.parse(fileName: Array(fileName.utf8)))
            #expect(parsed.0 == files && parsed.1 == object)
        }
        #expect(ChannelFiles.parse(fileName: Array("SEG__HEAD".utf8)) == nil)
        #expect(ChannelFiles.parse(fileName: Array("sem.other".utf8)) == nil)
    }

    @Test func aServersChannelIsFoundCompleteAndLockedAndGoneAfterClose() throws {
        try TestSupport.withChannel { name in
            let channel = try ChannelName(name)
            let server = try ShmemaphoreServer(channel: name)
            #expect(try ChannelInspector.channels().contains(ChannelFiles(channel)))
            let snapshot = ChannelInspector.inspect(ChannelFiles(channel))
            #expect(snapshot.isComplete)
            #expect(snapshot.serverLocked == true)
            #expect(snapshot.clientLocked == false)
            #expect(snapshot.file(.requestSemaphore)?.semaphoreCount == 0)
            server.close()
            #expect(try !ChannelInspector.channels().contains(ChannelFiles(channel)))
        }
    }

    /// A channel found in /dev/shm may have a name that is not UTF-8; its
    /// files are still removed by their exact bytes, and nothing else is.
    @Test func removalNamesExactBytesAndTouchesOnlyTheFilesItSaw() throws {
        let stem = Array("shmtest-\(getpid())-inspector-".utf8) + [0xFF, 0xFE]
        let files = ChannelFiles(sanitizedName: stem)
        let neighbour = ChannelFiles(sanitizedName: stem + Array("x".utf8))
        func create(_ path: [UInt8]) throws {
            let descriptor = open(path.map { CChar(bitPattern: $0) } + [0], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            try #require(descriptor >= 0)
            close(descriptor)
        }
        func unlinkAll() {
            for object in ChannelObject.allCases {
                for path in [files.path(object), neighbour.path(object)] { unlink(path.map { CChar(bitPattern: $0) } + [0]) }
            }
        }
        unlinkAll()
        defer { unlinkAll() }
        try create(files.path(.header))
        try create(files.path(.data))
        try create(neighbour.path(.header))
        #expect(try ChannelInspector.channels().contains(files))
        let snapshot = ChannelInspector.inspect(files)
        #expect(snapshot.isPresent(.header) && snapshot.isPresent(.data))
        #expect(!snapshot.isPresent(.requestSemaphore) && !snapshot.isPresent(.responseSemaphore))
        #expect(!snapshot.isComplete)
        // A name re-created since the look is left alone.
        unlink(files.path(.data).map { CChar(bitPattern: $0) } + [0])
        try create(files.path(.data))
        #expect(ChannelInspector.remove(.header, of: snapshot) == .removed)
        #expect(ChannelInspector.remove(.data, of: snapshot) == .replaced)
        #expect(ChannelInspector.remove(.requestSemaphore, of: snapshot) == nil)
        #expect(ObjectFile.identity(at: files.path(.header)) == nil)
        #expect(ObjectFile.identity(at: files.path(.data)) != nil)
        #expect(ObjectFile.identity(at: neighbour.path(.header)) != nil)
    }
}
