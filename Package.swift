// swift-tools-version: 6.1
//
// Layout (each folder is one target):
//   Sources/Shmemaphore              the protocol core and the Swift API (no Foundation)
//   Sources/ShmemaphoreC             the C ABI: thin @c functions behind include/shmemaphore.h
//   Sources/CShmemaphoreHeader       module map that lets Swift see include/shmemaphore.h
//   Sources/CShmemaphoreShims        small C helpers Swift cannot call directly (sem_clockwait, ...)
//   Sources/CShmemaphoreVersion      the header's version macros as two C functions for ShmemaphoreC
//                                    (include/shmemaphore.h is the one place the version is written)
//   Sources/CStb                     system library: Debian's libstb-dev
//   Sources/ShmemaphoreTools         what the programs and the tests share: console output, escaping of
//                                    untrusted text, durations, FNV-1a, SplitMix64, the exchange-line
//                                    format, the conformance images, the pairing session, the process spawner
//   Sources/shmemaphore-tool         the `shmemaphore` tool (product shmemaphore-cli): server, client, ls, rm, demo
//   Sources/shmemaphore-conformance  the conformance runner (docs/CONFORMANCE.md) and make-images
//   Sources/shmemaphore-testpeer     a scripted Swift peer that tests spawn as a second process
//   benchmarks/swift/                the benchmark driver `shmemaphore-bench` (next to the C benchmark
//                                    programs it runs) and CBenchConstants, benchmarks/bench_constants.h for Swift
//   Tests/CPeer, Tests/Conformance   the C programs that the Swift tests run (c_peer, c_api_check,
//                                    interrupt_peer, sigbus_chain; raw_peer): C targets, so that
//                                    `swift build --build-tests` builds everything `swift test` spawns
//   Tests/Soak                       shmemaphore-soak-peer: the Swift soak server of scripts/soak.sh
//                                    (soak_server.c beside it is C: CMake builds it, shmemaphore-soak-server)
//   Fuzz                             shmemaphore-receive-path-fuzz: the libFuzzer target of scripts/fuzz.sh
import PackageDescription

let packageDirectory = Context.packageDirectory

/// Linker flags that make the dynamic library a proper C library: only the
/// header's functions exported, and an soname so consumers record `.so.1`.
/// This `-soname=` flag is the build's one definition of the soname:
/// CMakeLists.txt reads it from here (a regex over this file; the configure
/// fails if the literal `-soname=libshmemaphore.so.<N>` is gone), as it reads
/// the version from include/shmemaphore.h.  (scripts/check-abi.sh and
/// Tests/Install expect `.so.1` on their own: checks, not definitions.)
let cLibraryLinkerFlags: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "--version-script=\(packageDirectory)/Sources/ShmemaphoreC/shmemaphore.map",
        "-Xlinker", "-soname=libshmemaphore.so.1",
    ]),
    // Release builds carry the Swift runtime inside the .so so that C programs
    // need no Swift toolchain; debug builds (and the test bundle) link it dynamically.
    .unsafeFlags(["-static-stdlib"], .when(configuration: .release)),
]

/// The C programs of the tests: C11 with warnings as errors, as CMake builds them.
let cPeerSettings: [CSetting] = [
    .headerSearchPath("../../include"),
    .unsafeFlags(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-gdwarf-4"]),
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
        // Command plugin only (`swift package generate-documentation`, scripts/check-docs.sh): builds nothing in normal builds.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
            name: "CShmemaphoreVersion",
            cSettings: [.unsafeFlags(["-gdwarf-4"])]  // as CShmemaphoreShims: valgrind 3.19
        ),
        .target(
            name: "Shmemaphore",
            dependencies: ["CShmemaphoreShims", "CStb"]
        ),
        .target(
            name: "ShmemaphoreC",
            dependencies: ["Shmemaphore", "CShmemaphoreHeader", "CShmemaphoreVersion"],
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
        // Built by scripts/soak.sh (`swift build -c release --product
        // shmemaphore-soak-peer`); no product is declared: SwiftPM makes one
        // for every executable target of the root package, and this one is not
        // for other packages.
        .executableTarget(
            name: "shmemaphore-soak-peer",
            dependencies: ["Shmemaphore"],
            path: "Tests/Soak",
            exclude: ["soak_server.c"]
        ),
        // The libFuzzer target over the receive path (Fuzz/README.md).
        // scripts/fuzz.sh builds it with `--sanitize fuzzer --sanitize address
        // -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
        // -Xswiftc -DSHMEMAPHORE_LIBFUZZER` (the script says why): main()
        // then comes from libFuzzer's runtime, which calls the target's
        // @_cdecl("LLVMFuzzerTestOneInput").  Every other build (swift build,
        // --build-tests) links it without libFuzzer; Fuzz/ReplayMain.swift,
        // compiled only without SHMEMAPHORE_LIBFUZZER, is then its main(): it
        // runs the inputs named on the command line once each.
        .executableTarget(
            name: "shmemaphore-receive-path-fuzz",
            dependencies: ["Shmemaphore", "CShmemaphoreShims"],
            path: "Fuzz",
            exclude: ["corpus", "README.md"]
        ),
        // The C programs that the Swift tests run (Tests/CPeer/PEER-SPEC.md),
        // built by SwiftPM so that `swift build --build-tests` makes every
        // program a test spawns, with the same sanitizer flags as the library.
        // They link the library's code as C users get it through
        // include/shmemaphore.h (the ShmemaphoreC target: the @c functions);
        // CMake builds the same sources against the installed-style
        // libshmemaphore.so.1 for ctest.
        .executableTarget(
            name: "shmemaphore-c-peer",
            dependencies: ["ShmemaphoreC"],
            path: "Tests/CPeer",
            sources: ["c_peer.c"],
            cSettings: cPeerSettings
        ),
        .executableTarget(
            name: "shmemaphore-c-api-check",
            dependencies: ["ShmemaphoreC"],
            path: "Tests/CPeer",
            sources: ["c_api_check.c"],
            cSettings: cPeerSettings
        ),
        .executableTarget(
            name: "shmemaphore-interrupt-peer",
            dependencies: ["ShmemaphoreC"],
            path: "Tests/CPeer",
            sources: ["interrupt_peer.c"],
            cSettings: cPeerSettings
        ),
        .executableTarget(
            name: "shmemaphore-sigbus-chain",
            dependencies: ["ShmemaphoreC"],
            path: "Tests/CPeer",
            sources: ["sigbus_chain.c"],
            cSettings: cPeerSettings
        ),
        // The plain-POSIX raw peer (docs/CONFORMANCE.md): no libshmemaphore.
        .executableTarget(
            name: "shmemaphore-raw-peer",
            dependencies: ["CStb"],
            path: "Tests/Conformance",
            sources: ["raw_peer.c"],
            // Debian's libstb-dev puts its headers in /usr/include/stb (its stb.pc is not always found).
            cSettings: cPeerSettings + [.unsafeFlags(["-I/usr/include/stb"])],
            linkerSettings: [.linkedLibrary("stb"), .linkedLibrary("m")]
        ),
        .testTarget(
            name: "ShmemaphoreTests",
            dependencies: ["Shmemaphore", "ShmemaphoreTools", "CShmemaphoreShims"]
        ),
    ]
)
