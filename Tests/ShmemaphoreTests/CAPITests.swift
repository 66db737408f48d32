import Foundation
import Testing

/// The C API as a C program sees it: Tests/CPeer/c_api_check.c (SwiftPM's
/// `shmemaphore-c-api-check`, compiled against include/shmemaphore.h and
/// linked with the library's code; ctest runs the same source against
/// libshmemaphore.so.1), checking documented
/// codes for bad input, wrong roles and states, timeouts and image helpers.
@Suite struct CAPITests {
    @Test func cProgramChecksEveryDocumentedCode() throws {
        let program = try PeerProcesses.program("shmemaphore-c-api-check")
        let prefix = TestSupport.uniqueChannelName("capi")
        defer {
            // The program cleans up after itself; this catches a crash half-way.
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [] where entry.contains(prefix) {
                unlink("/dev/shm/\(entry)")
            }
        }
        let result = PeerProcesses.run([program.path, prefix], timeout: TestSupport.patienceSeconds)
        let failures = result.output.split(separator: "\n").filter { $0.hasPrefix("not ok") }
        #expect(result.status == 0, "c_api_check failed:\n\(failures.joined(separator: "\n"))\n\(result.output.suffix(2000))")
        let summary = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(summary.hasSuffix("passed, 0 failed"), "\(summary)")
    }
}
