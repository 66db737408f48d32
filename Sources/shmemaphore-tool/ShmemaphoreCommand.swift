import ArgumentParser
import ShmemaphoreTools

/// The `shmemaphore` command-line tool: the root command and its subcommands,
/// one file each (ServerCommand.swift, ClientCommand.swift, ListCommand.swift,
/// RemoveCommand.swift, DemoCommand.swift).
///
/// SwiftPM builds it as `shmemaphore-cli` (the dynamic library product owns
/// the name `shmemaphore`); CMake installs it as `shmemaphore`.  The
/// conformance runner (`shmemaphore-conformance`) and the benchmark
/// (`shmemaphore-bench`) are programs of their own.
@main
struct ShmemaphoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shmemaphore",
        abstract: "Same-host IPC over two POSIX named semaphores and two shared-memory segments.",
        discussion: """
            A server (the requester) owns a channel and sends requests; a client (the \
            responder) answers each one with an image, opaque bytes or an error. \
            Start with `shmemaphore demo`. The wire protocol is docs/PROTOCOL.md; the \
            conformance session (`shmemaphore-conformance`) is docs/CONFORMANCE.md.

            Exit status of every subcommand: 0 success, 1 failure, 2 usage error, \
            3 the channel could not be opened.
            """,
        subcommands: [
            ServerCommand.self, ClientCommand.self, DemoCommand.self, ListCommand.self, RemoveCommand.self,
        ]
    )

    /// Usage errors exit with 2 (CommandSupport.swift).
    static func main() { mainExitingTwoOnUsageErrors() }
}
