import Foundation
import Testing

@testable import Shmemaphore

// "/dev/shm full" (issue 5): running out of shared memory must be an
// out-of-space error (-ENOSPC, ShmemaphoreError.system(errno: ENOSPC, ...)),
// never SIGBUS, and must lose no earlier data.  Ideal flow: the failing growth
// is reported to the responder, which still answers with a small error
// response; the requester gets PEER_ERROR; earlier and later exchanges work.
//
// Two ways to fill /dev/shm:
//  - in this process, a growth larger than the whole of /dev/shm: tmpfs
//    refuses it at once with ENOSPC (before allocating anything), so the test
//    is harmless and needs no privileges;
//  - for real, as root: both peers run in a private mount namespace whose
//    /dev/shm is a 2 MB tmpfs, where a 12 MB image cannot fit.

enum DevShm {
    /// The size of /dev/shm in bytes, or nil when it has no limit.
    static let capacity: Int? = {
        var info = statvfs()
        guard statvfs("/dev/shm", &info) == 0, info.f_blocks > 0 else { return nil }
        return Int(info.f_blocks) * Int(info.f_frsize)
    }()

    static let namespaceSize = "2m"

    /// A private mount namespace (for /dev/shm) and PID namespace: the script
    /// is its PID 1, so when it ends the kernel kills whatever it left running.
    /// (A leftover peer would also keep Foundation's Process from seeing the
    /// runner end, since it inherits the descriptor Process watches.)
    static let unshare = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private"]

    /// Whether this process may give a child a private tmpfs on /dev/shm
    /// (root, util-linux unshare, mount): probed once by doing it.
    static let privateNamespaceWorks: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = PeerProcesses.run(
            unshare + ["sh", "-c",
             "mount -t tmpfs -o size=\(namespaceSize) tmpfs /dev/shm && test -w /dev/shm && test -z \"$(ls -A /dev/shm)\""],
            timeout: TestSupport.patienceSeconds)
        return probe.status == 0
    }()

    /// The 2000×2000×3 image that cannot fit a 2 MB /dev/shm, with dot.ppm beside it.
    static let imageDirectory: URL = {
        let directory = PeerProcesses.scratchDirectory.appendingPathComponent("devshm-images")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? (Data("P6\n2 2\n255\n".utf8) + Data(RawPeer.dotPixels)).write(to: directory.appendingPathComponent("dot.ppm"))
        var big = Data("P6\n2000 2000\n255\n".utf8)
        big.append(contentsOf: (0..<(2000 * 2000 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try? big.write(to: directory.appendingPathComponent("big.ppm"))
        return directory
    }()

    static func quoted(_ words: [String]) -> String {
        words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    }

    struct Run {
        let serverStatus: Int32?
        let clientStatus: Int32?
        let serverOutput: String
        let serverErrors: String
        let clientOutput: String
        /// What /dev/shm of the namespace held after both peers ended.
        let leftovers: String
        let seconds: Double
        let raw: String

        var summary: String {
            "server status \(serverStatus.map(String.init) ?? "?"), client status \(clientStatus.map(String.init) ?? "?")\n"
                + "server stdout:\n\(serverOutput)\nserver stderr:\n\(serverErrors)\nclient:\n\(clientOutput)\nrunner:\n\(raw)"
        }
    }

    /// Runs `client` in the background and `server` in the foreground inside
    /// one private mount namespace with a 2 MB /dev/shm.  Every peer is
    /// bounded: a server hung for `TestSupport.patience` is killed (status
    /// 137), and so is a client still running `clientGrace` seconds after the
    /// server ended.
    static func runPair(server: [String], client: [String], clientGrace: Double = 30) throws -> Run {
        let folder = PeerProcesses.scratchDirectory.appendingPathComponent("devshm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = { (name: String) in quoted([folder.appendingPathComponent(name).path]) }
        let script = """
            mount -t tmpfs -o size=\(namespaceSize) tmpfs /dev/shm || exit 99
            \(quoted(client)) > \(file("client.log")) 2>&1 &
            cpid=$!
            timeout -s KILL \(TestSupport.patienceArgument) \(quoted(server)) > \(file("server.out")) 2> \(file("server.err"))
            echo "server-status $?"
            i=0
            while kill -0 $cpid 2>/dev/null && [ $i -lt \(Int(clientGrace * 10)) ]; do sleep 0.1; i=$((i+1)); done
            kill -KILL $cpid 2>/dev/null
            wait $cpid
            echo "client-status $?"
            echo "leftovers: $(ls -A /dev/shm | tr '\\n' ' ')"
            """
        let started = Date()
        // Room for both peers' own bounds, so the runner never cuts them short.
        let result = PeerProcesses.run(
            unshare + ["sh", "-c", script], timeout: TestSupport.patienceSeconds + clientGrace + 60)
        let read = { (name: String) in (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? "" }
        func status(_ label: String) -> Int32? {
            guard let line = result.output.split(separator: "\n").first(where: { $0.hasPrefix(label + " ") }) else { return nil }
            return Int32(line.split(separator: " ").last ?? "")
        }
        let leftovers = result.output.split(separator: "\n").first { $0.hasPrefix("leftovers:") }.map {
            String($0.dropFirst("leftovers:".count)).trimmingCharacters(in: .whitespaces)
        }
        return Run(
            serverStatus: status("server-status"), clientStatus: status("client-status"),
            serverOutput: read("server.out"), serverErrors: read("server.err"), clientOutput: read("client.log"),
            leftovers: leftovers ?? "?", seconds: Date().timeIntervalSince(started), raw: result.output)
    }

    static var testPeer: String { TestSupport.productsDirectory.appendingPathComponent("shmemaphore-testpeer").path }
    static var cli: String { TestSupport.productsDirectory.appendingPathComponent("shmemaphore-cli").path }

    /// The raw or CLI server's line for the dot image: `<i> 3 image 2 2 3 12 <fnv> <ms>`.
    static func dotLine(_ index: Int) -> String {
        "\(index) 3 image 2 2 3 12 \(FaultKit.fnv1a64Hex(RawPeer.dotPixels)) "
    }

    /// A status a shell reports for a process killed by a signal (128 + n).
    static func killedBySignal(_ status: Int32?) -> Bool { (status ?? 0) > 128 }
}

@Suite struct DevShmFullTests {
    // MARK: In this process: a growth larger than all of /dev/shm

    static func dataSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
    }

    static func expectENOSPC(
        _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(ShmemaphoreError) -> Void
    ) {
        do {
            try body()
            Issue.record("\(what) succeeded; expected ENOSPC", sourceLocation: sourceLocation)
        } catch {
            guard case .system(let number, _) = error else {
                Issue.record("\(what): expected ENOSPC, got \(ErrorCode.name(of: error.code)): \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(number == ENOSPC, "\(what): \(error)", sourceLocation: sourceLocation)
            #expect(error.code == -ENOSPC, sourceLocation: sourceLocation)
        }
    }

    @Test(.enabled(if: DevShm.capacity != nil, "/dev/shm has no size limit, so no growth can exceed it"))
    func aGrowthBeyondAllOfDevShmIsENOSPCAndTheChannelGoesOn() throws {
        let tooMuch = DevShm.capacity! * 2
        // A readable region of that size, never touched: the library fails
        // while growing DATA, before it copies a byte.
        let region = mmap(nil, tooMuch, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        try #require(region != MAP_FAILED && region != nil, "cannot reserve \(tooMuch) bytes of address space")
        defer { munmap(region, tooMuch) }
        let huge = UnsafeRawBufferPointer(start: region, count: tooMuch)
        try TestSupport.withChannel { name in
            let pair = try Pair(name)
            defer { pair.server.close() }
            let data = pair.server.channel.filesystemPaths[3]
            let first = try pair.exchange(Array("first".utf8)) { client, request in try client.send(bytes: request) }
            #expect(first.bytes == Array("first".utf8))
            let sizeBefore = try Self.dataSize(data)

            // Responder: both ways of answering fail with ENOSPC and change
            // nothing; the request is still held and gets an error response.
            try pair.server.send(request: "huge")
            #expect(Array(try pair.client.receiveRequest(timeout: TestSupport.patience)) == Array("huge".utf8))
            Self.expectENOSPC("reserve(\(tooMuch))") { () throws(ShmemaphoreError) in _ = try pair.client.reserve(tooMuch) }
            Self.expectENOSPC("send(bytes:) of \(tooMuch)") { () throws(ShmemaphoreError) in try pair.client.send(bytes: huge) }
            #expect(try Self.dataSize(data) == sizeBefore, "a failed growth changed DATA's size")
            try pair.client.sendError(code: PeerErrorCode.unspecified, message: "no space for \(tooMuch) bytes")
            do {
                _ = try pair.server.receiveResponse(timeout: TestSupport.patience)
                Issue.record("expected PEER_ERROR")
            } catch let error as ShmemaphoreError {
                #expect(error == .peerError(code: PeerErrorCode.unspecified, message: "no space for \(tooMuch) bytes"))
            }

            // Requester: a request that cannot fit fails before anything is
            // posted; the client sees nothing and the next request works.
            Self.expectENOSPC("send(request:) of \(tooMuch)") { () throws(ShmemaphoreError) in try pair.server.send(request: huge) }
            TestSupport.expectCode(ErrorCode.timeout) { _ = try pair.client.receiveRequest(timeout: .milliseconds(100)) }
            #expect(try Self.dataSize(data) == sizeBefore)
            let last = try pair.exchange(Array("last".utf8)) { client, request in try client.send(bytes: request) }
            #expect(last.bytes == Array("last".utf8))
        }
    }

    // MARK: A real full /dev/shm: a private 2 MB tmpfs (root only)

    static let namespaceTrait = Testing.ConditionTrait.enabled(
        if: DevShm.privateNamespaceWorks,
        "needs root and a working `unshare --mount` + `mount -t tmpfs` to give the peers a private 2 MB /dev/shm")

    /// The scenario of the issue with the Swift test peer on both sides.  The
    /// library reports ENOSPC to the test peer client, which (by PEER-SPEC)
    /// exits on any error instead of answering; its lock goes with it, so the
    /// server gets PEER_GONE at once instead of hanging.
    @Test(namespaceTrait)
    func testPeerClientReportsENOSPCAndTheServerDoesNotHang() throws {
        let name = TestSupport.uniqueChannelName()
        let run = try DevShm.runPair(
            server: [DevShm.testPeer, "server", name, "bytes:1000:1", "image:2000:2000:3:2", "bytes:10:3"],
            client: [DevShm.testPeer, "client", name])
        print("/dev/shm full, testpeer pair: \(String(format: "%.2f", run.seconds)) s; client: \(run.clientOutput.split(separator: "\n").last ?? "")")
        #expect(run.serverOutput.contains("server: bytes:1000:1 ok"), "\(run.summary)")
        #expect(run.clientOutput.contains("ENOSPC") && run.clientOutput.contains("posix_fallocate"), "\(run.summary)")
        #expect(run.serverErrors.contains("image:2000:2000:3:2: SHMEMAPHORE_E_PEER_GONE"), "\(run.summary)")
        #expect(run.serverStatus == 1 && run.clientStatus == 1, "\(run.summary)")
        #expect(!DevShm.killedBySignal(run.serverStatus) && !DevShm.killedBySignal(run.clientStatus), "SIGBUS? \(run.summary)")
        #expect(run.leftovers == "", "the server's close left \(run.leftovers)")
    }

    /// The library as the responder (shmemaphore-cli client), the raw peer as a
    /// requester that prints every response: the ideal flow.
    @Test(namespaceTrait)
    func libraryClientAnswersENOSPCWithAnErrorResponse() throws {
        let name = TestSupport.uniqueChannelName()
        let requests = try RawPeer.requestFile(["dot", "big", "dot"])
        defer { try? FileManager.default.removeItem(atPath: requests) }
        let run = try DevShm.runPair(
            server: [try RawPeer.executable().path, "server", "--channel", name, "--requests", requests, "--count", "3", "--timeout", TestSupport.patienceArgument],
            client: [DevShm.cli, "client", "--channel", name, "--dir", DevShm.imageDirectory.path])
        #expect(run.serverStatus == 0 && run.clientStatus == 0, "\(run.summary)")
        #expect(run.serverOutput.contains(DevShm.dotLine(1)) && run.serverOutput.contains(DevShm.dotLine(3)), "\(run.summary)")
        #expect(run.serverOutput.contains("2 3 error 0 "), "\(run.summary)")
        #expect(run.clientOutput.contains("big.ppm: posix_fallocate") && run.clientOutput.contains("No space left on device"), "\(run.summary)")
        #expect(run.leftovers == "", "\(run.summary)")
    }

    /// The library as the requester (shmemaphore-cli server), the raw peer as
    /// the responder: its pwrite fails with ENOSPC and it answers an error.
    @Test(namespaceTrait)
    func libraryServerReceivesTheENOSPCErrorResponseAndGoesOn() throws {
        let name = TestSupport.uniqueChannelName()
        let requests = try RawPeer.requestFile(["dot", "big", "dot"])
        defer { try? FileManager.default.removeItem(atPath: requests) }
        let run = try DevShm.runPair(
            server: [DevShm.cli, "server", "--channel", name, "--requests", requests, "--count", "3", "--timeout", TestSupport.patienceArgument],
            client: [try RawPeer.executable().path, "client", "--channel", name, "--dir", DevShm.imageDirectory.path])
        #expect(run.serverStatus == 0 && run.clientStatus == 0, "\(run.summary)")
        #expect(run.serverOutput.contains(DevShm.dotLine(1)) && run.serverOutput.contains(DevShm.dotLine(3)), "\(run.summary)")
        #expect(run.serverOutput.contains("2 3 error 0 "), "\(run.summary)")
        #expect(run.serverErrors.contains("peer error 0: cannot send big.ppm") && run.serverErrors.contains("No space left on device"), "\(run.summary)")
        #expect(run.leftovers == "", "\(run.summary)")
    }

    /// After the raw responder's failed 12 MB answer, DATA is 12 MB long but
    /// mostly holes (it grows with ftruncate, as the original apps do), and
    /// /dev/shm is full.  The library then writes a 3 MB request into the
    /// holes: it must reserve them first (posix_fallocate) and report ENOSPC,
    /// not store into them through its mapping (SIGBUS).
    @Test(namespaceTrait)
    func libraryWritingIntoAPeersSparseGrowthGetsENOSPCNotSIGBUS() throws {
        let name = TestSupport.uniqueChannelName()
        let requests = try RawPeer.requestFile(["dot", "big", "dot", String(repeating: "x", count: 3_000_000), "dot"])
        defer { try? FileManager.default.removeItem(atPath: requests) }
        let run = try DevShm.runPair(
            server: [DevShm.cli, "server", "--channel", name, "--requests", requests, "--count", "5", "--timeout", TestSupport.patienceArgument],
            client: [try RawPeer.executable().path, "client", "--channel", name, "--dir", DevShm.imageDirectory.path],
            clientGrace: 1)
        // Everything before the sparse growth is intact.
        #expect(run.serverOutput.contains(DevShm.dotLine(1)) && run.serverOutput.contains(DevShm.dotLine(3)), "\(run.summary)")
        #expect(run.serverOutput.contains("2 3 error 0 "), "\(run.summary)")
        #expect(!DevShm.killedBySignal(run.serverStatus), "the library server was killed by signal \((run.serverStatus ?? 0) - 128)")
        #expect(run.serverErrors.contains("request 4: cannot send") && run.serverErrors.contains("No space left on device"), "\(run.summary)")
    }
}
