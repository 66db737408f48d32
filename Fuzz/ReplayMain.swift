// ReplayMain.swift - main() of the fuzz target when it is built WITHOUT
// libFuzzer, as every plain `swift build` (and `swift build --build-tests`,
// `swift test`) builds it.
//
// scripts/fuzz.sh builds the target with `--sanitize fuzzer` and
// `-Xswiftc -DSHMEMAPHORE_LIBFUZZER`: this file is then empty, and main()
// comes from libFuzzer's runtime, which calls LLVMFuzzerTestOneInput
// (ReceivePathFuzz.swift).  (`--sanitize fuzzer` also stops SwiftPM from
// renaming the module's entry point and linking with
// `--defsym main=<module>_main`, which would need a Swift main.)  Without
// libFuzzer nothing else provides main(), and an executable target must link
// in every build, so this one does: it runs LLVMFuzzerTestOneInput once on
// each file named on the command line, as libFuzzer does with file
// arguments, without sanitizer or coverage:
//
//   swift build --product shmemaphore-receive-path-fuzz
//   .build/debug/shmemaphore-receive-path-fuzz Fuzz/corpus/*
//
// A failed check aborts with "ReceivePathFuzz: CHECK FAILED: ...", as under
// libFuzzer.  Exit status: 0 every input ran, 2 usage or an unreadable file.
#if !SHMEMAPHORE_LIBFUZZER
import Glibc

@main
enum ReplayInputs {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty { stop("usage: shmemaphore-receive-path-fuzz INPUT-FILE... (built without libFuzzer: see scripts/fuzz.sh)") }
        for path in paths {
            let input = contents(of: path)
            _ = input.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
        }
        print("ReceivePathFuzz: \(paths.count) inputs ran cleanly (built without libFuzzer)")
    }

    static func contents(of path: String) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { stop("cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 && errno != EINTR { stop("cannot read \(path): errno \(errno)") }
            if count > 0 { bytes += chunk[..<count] }
        }
    }

    static func stop(_ message: String) -> Never {
        var text = "ReceivePathFuzz: " + message + "\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        exit(2)
    }
}
#endif
