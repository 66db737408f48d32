// swift-tools-version: 6.1
//
// Layout (each folder is one target):
//   Sources/Shmemaphore              the protocol core and the Swift API (no Foundation)
//   Sources/ShmemaphoreC             the C ABI: thin @c functions behind include/shmemaphore.h
//   Sources/CShmemaphoreHeader       module map that lets Swift see include/shmemaphore.h
//   Sources/CShmemaphoreShims        small C helpers Swift cannot call directly (sem_clockwait, ...)
//   Sources/CStb                     system library: Debian's libstb-dev
//   Sources/ShmemaphoreTools         what the programs and the tests share: console output, escaping of
//                                    untrusted text, durations, FNV-1a, SplitMix64, the exchange-line
//                                    format, the conformance images, the pairing session, the process spawner
//   Sources/shmemaphore-tool         the `shmemaphore` tool (product shmemaphore-cli): server, client, ls, rm, demo
//   Sources/shmemaphore-conformance  the conformance runner (docs/CONFORMANCE.md) and make-images
//   Sources/shmemaphore-testpeer     a scripted Swift peer that tests spawn as a second process
//   benchmarks/swift/                the benchmark driver `shmemaphore-bench` (next to the C benchmark
//                                    programs it runs) and CBenchConstants, benchmarks/bench_constants.h for Swift
import PackageDescription

let packageDirectory = Context.packageDirectory

/// Linker flags that make the dynamic library a proper C library: only the
/// header's functions exported, and an soname so consumers record `.so.1`.
let cLibraryLinkerFlags: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "--version-script=\(packageDirectory)/Sources/ShmemaphoreC/shmemaphore.map",
        "-Xlinker", "-soname=libshmemaphore.so.1",
    ]),
    // Release builds carry the Swift runtime inside the .so so that C programs
    // need no Swift toolchain; debug builds (and the test bundle) link it dynamically.
    .unsafeFlags(["-static-stdlib"], .when(configuration: .release)),
]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "shmemaphore",
    products: [
        .library(name: "shmemaphore", type: .dynamic, targets: ["ShmemaphoreC"]),
        .library(name: "Shmemaphore", targets: ["Shmemaphore"]),
        // Named -cli because the library product already owns the name
        // `shmemaphore`; CMake installs it as `bin/shmemaphore`.
        .executable(name: "shmemaphore-cli", targets: ["shmemaphore-tool"]),
        .executable(name: "shmemaphore-conformance", targets: ["shmemaphore-conformance"]),
        .executable(name: "shmemaphore-bench", targets: ["shmemaphore-bench"]),
        .executable(name: "shmemaphore-testpeer", targets: ["shmemaphore-testpeer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CStb",
            pkgConfig: "stb",
            providers: [.apt(["libstb-dev"])]
        ),
        .target(
            name: "CShmemaphoreShims",
            // DWARF 4: Debian's valgrind 3.19 (scripts/sanitize.sh) cannot read
            // the DWARF 5 that clang emits by default once there are two C files.
            cSettings: [.unsafeFlags(["-gdwarf-4"])]
        ),
        .systemLibrary(name: "CShmemaphoreHeader"),
        .target(
            name: "Shmemaphore",
            dependencies: ["CShmemaphoreShims", "CStb"]
        ),
        .target(
            name: "ShmemaphoreC",
            dependencies: ["Shmemaphore", "CShmemaphoreHeader"],
            exclude: ["shmemaphore.map"],
            linkerSettings: cLibraryLinkerFlags
        ),
        .target(
            name: "ShmemaphoreTools",
            dependencies: ["Shmemaphore", argumentParser]
        ),
        .executableTarget(
            name: "shmemaphore-tool",
            dependencies: ["Shmemaphore", "ShmemaphoreTools", argumentParser]
        ),
        .executableTarget(
            name: "shmemaphore-conformance",
            dependencies: ["Shmemaphore", "ShmemaphoreTools", argumentParser]
        ),
        .systemLibrary(
            name: "CBenchConstants",
            path: "benchmarks/swift/CBenchConstants"
        ),
        .executableTarget(
            name: "shmemaphore-bench",
            dependencies: ["Shmemaphore", "ShmemaphoreTools", "CBenchConstants", argumentParser],
            path: "benchmarks/swift/shmemaphore-bench"
        ),
        .executableTarget(
            name: "shmemaphore-testpeer",
            dependencies: ["Shmemaphore"]
        ),
        .testTarget(
            name: "ShmemaphoreTests",
            dependencies: ["Shmemaphore", "ShmemaphoreTools", "CShmemaphoreShims"]
        ),
    ]
)
