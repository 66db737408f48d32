import Foundation
import Shmemaphore  // not @testable: the documentation shows the public API only
import Testing

// The examples of the DocC catalog (Sources/Shmemaphore/Shmemaphore.docc),
// copied here verbatim (less their `import` lines) so that they are compiled
// and run: `articlesShowTheCodeThatRuns` fails when a ```swift block of an
// article is not found here line for line.  Change both together.

// MARK: Shmemaphore.md

/// The server (requester) process: creates the channel, asks once, keeps a copy.
func fetchWeights(over channel: String, timeout: Duration = .seconds(5)) throws -> [UInt8] {
    let server = try ShmemaphoreServer(channel: channel)
    defer { server.close() }                       // removes the channel's four objects
    let response = try server.request("weights", timeout: timeout)
    return response.bytes                          // a copy: `response.payload` is valid until the next call
}

/// The client (responder) process: attaches, takes one request, answers it.
func answerOnce(over channel: String, with weights: [UInt8]) throws {
    let client = try ShmemaphoreClient(channel: channel)   // waits up to 5 s for the server
    let request = try client.receiveRequest()              // a view into shared memory
    guard String(decoding: request, as: UTF8.self) == "weights" else {
        return try client.sendError(code: PeerErrorCode.notFound, message: "ask for weights")
    }
    try weights.withUnsafeBytes { try client.send(bytes: $0) }
}

// MARK: GettingStarted.md

/// The server (requester): asks for raw bytes, a rendered frame, an image
/// file and something the client does not have.
func requestAll(channel: String, savingTo directory: String, timeout: Duration = .seconds(5)) throws -> [UInt8] {
    let server = try ShmemaphoreServer(channel: channel)   // creates the channel
    defer { server.close() }                               // and removes it again

    // Raw bytes: `bytes` copies the payload out of shared memory.
    let weights = try server.request("weights", timeout: timeout).bytes

    // An image: its metadata gives the shape; save it while the view is valid.
    let frame = try server.request("frame", timeout: timeout)
    print("frame: \(frame.metadata.width)×\(frame.metadata.height)×\(frame.metadata.channels)")
    try frame.saveImage(to: "\(directory)/frame.png")

    let dog = try server.request("dog", timeout: timeout)
    try dog.saveImage(to: "\(directory)/dog-received.png")

    // An error response is thrown, with the client's code and message.
    do {
        _ = try server.request("unicorn", timeout: timeout)
    } catch .peerError(let code, let message) where code == PeerErrorCode.notFound {
        print("no unicorn: \(message)")
    } catch {
        throw error
    }
    return weights
}

/// The client (responder): answers requests until the server closes the channel.
func answerRequests(channel: String, imagesIn directory: String) throws {
    let client = try ShmemaphoreClient(channel: channel)   // waits up to 5 s for the server
    let weights = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0) }
    while true {
        let request: UnsafeRawBufferPointer
        do {
            request = try client.receiveRequest()
        } catch .peerGone {
            return                                        // the server closed the channel
        } catch {
            throw error                                   // anything else ends the client too
        }
        // The request is a view into shared memory: decode it before answering.
        let name = String(decoding: request, as: UTF8.self)
        switch name {
        case "weights":
            // Raw bytes, copied into shared memory.
            try weights.withUnsafeBytes { try client.send(bytes: $0) }
        case "frame":
            // Zero copy: render straight into shared memory, then publish.
            let metadata = try ResponseMetadata.image(width: 320, height: 240, channels: 3)
            let pixels = try client.reserve(Int(metadata.bytes))   // `request` is invalid from here
            for index in pixels.indices { pixels[index] = UInt8(truncatingIfNeeded: index / 3) }
            try client.commit(metadata)                            // and `pixels` from here
        default:
            // An image file, decoded by stb. Nothing is sent when that fails,
            // so the request is still to be answered: with an error.
            do {
                try client.sendImageFile(atPath: "\(directory)/\(name).png")
            } catch {
                try client.sendError(code: PeerErrorCode.notFound, message: "no image named \(name)")
            }
        }
    }
}

// MARK: The tests

/// Runs `body` on a thread of its own, as if in another process; the
/// closure returned waits for it and rethrows what it threw.
private func onAnotherThread(_ body: @escaping @Sendable () throws -> Void) -> () throws -> Void {
    let outcome = Mutex<Result<Void, any Error>?>(nil)
    let finished = DispatchSemaphore(value: 0)
    Thread {
        let result = Result { try body() }
        outcome.withLock { $0 = result }
        finished.signal()
    }.start()
    return {
        finished.wait()
        try outcome.withLock { $0! }.get()
    }
}

@Suite struct DocumentationSnippetTests {
    @Test func landingPageExampleRoundTrips() throws {
        try TestSupport.withChannel { channel in
            let weights = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let client = onAnotherThread { try answerOnce(over: channel, with: weights) }
            let fetched = Result { try fetchWeights(over: channel, timeout: TestSupport.patience) }
            try client()
            #expect(try fetched.get() == weights)
        }
    }

    @Test func gettingStartedProgramsTalkToEachOther() throws {
        try TestSupport.withChannel { channel in
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("shmemaphore-docs-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            // The image file the client serves for "dog".
            let dog = try ResponseMetadata.image(width: 7, height: 5, channels: 4)
            let dogPixels = (0..<Int(dog.bytes)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            try dogPixels.withUnsafeBytes { pixels in try ImageCodec.save(dog, pixels: pixels, to: "\(directory)/dog.png") }

            let client = onAnotherThread { try answerRequests(channel: channel, imagesIn: directory) }
            let requested = Result { try requestAll(channel: channel, savingTo: directory, timeout: TestSupport.patience) }
            try client()  // returns once the server closed the channel: peerGone
            #expect(try requested.get() == (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0) })

            let frame = try ImageCodec.withDecodedFile(at: "\(directory)/frame.png") { metadata, pixels in (metadata, Array(pixels)) }
            #expect(frame.0 == (try ResponseMetadata.image(width: 320, height: 240, channels: 3)))
            #expect(frame.1 == (0..<(320 * 240 * 3)).map { UInt8(truncatingIfNeeded: $0 / 3) })
            let received = try ImageCodec.withDecodedFile(at: "\(directory)/dog-received.png") { metadata, pixels in (metadata, Array(pixels)) }
            #expect(received.0 == dog)
            #expect(received.1 == dogPixels)
        }
    }

    /// Every ```swift block of the catalog's articles, but the Package.swift
    /// one, is in this file: its lines, less `import` lines, in a row
    /// (compared without leading, trailing and repeated blanks).
    @Test func articlesShowTheCodeThatRuns() throws {
        let catalog = TestSupport.packageRoot.appendingPathComponent("Sources/Shmemaphore/Shmemaphore.docc")
        let thisFile = Self.codeLines(try String(contentsOfFile: #filePath, encoding: .utf8))
        let articles = try FileManager.default.contentsOfDirectory(atPath: catalog.path).filter { $0.hasSuffix(".md") }.sorted()
        var checked = 0
        for article in articles {
            let text = try String(contentsOfFile: catalog.appendingPathComponent(article).path, encoding: .utf8)
            for block in Self.swiftBlocks(of: text) where Self.codeLines(block).first != "// Package.swift" {
                checked += 1
                let lines = Self.codeLines(block).filter { !$0.hasPrefix("import ") }
                let found = Self.contains(thisFile, inARow: lines)
                #expect(found, "\(article): this swift block is not in DocumentationSnippetTests.swift line for line:\n\(block)")
            }
        }
        #expect(checked >= 3, "found only \(checked) swift blocks in \(articles)")
    }

    /// The contents of the ```swift fences of a Markdown text.
    static func swiftBlocks(of markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let fence = line.trimmingCharacters(in: .whitespaces)
            if current == nil, fence == "```swift" {
                current = []
            } else if let lines = current, fence == "```" {
                blocks.append(lines.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// Non-blank lines, trimmed, with runs of blanks made one space.
    static func codeLines(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
            .filter { !$0.isEmpty }
    }

    static func contains(_ lines: [String], inARow run: [String]) -> Bool {
        guard !run.isEmpty, run.count <= lines.count else { return run.isEmpty }
        return (0...(lines.count - run.count)).contains { start in lines[start..<(start + run.count)].elementsEqual(run) }
    }
}
