import ArgumentParser
import Glibc

/// The `shmemaphore` command-line tool: the root command and its subcommands.
///
/// SwiftPM builds it as `shmemaphore-cli` (the dynamic library product owns
/// the name `shmemaphore`); CMake installs it as `shmemaphore`.
@main
struct ShmemaphoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shmemaphore",
        abstract: "Same-host IPC over two POSIX named semaphores and two shared-memory segments.",
        discussion: """
            A server (the requester) owns a channel and sends requests; a client (the \
            responder) answers each one with an image, opaque bytes or an error. \
            Start with `shmemaphore demo`. The wire protocol is docs/PROTOCOL.md; the \
            conformance session is docs/CONFORMANCE.md.

            Exit status of every subcommand: 0 success, 1 failure, 2 usage error, \
            3 the channel could not be opened.
            """,
        subcommands: [
            ServerCommand.self, ClientCommand.self, DemoCommand.self, MakeImagesCommand.self,
            ListCommand.self, RemoveCommand.self, ConformanceCommand.self,
            BenchCommand.self, BenchPeerCommand.self,
        ]
    )

    /// Parses and runs like ArgumentParser's own `main()`, except that usage
    /// errors exit with 2 (the convention of the C examples and of most Unix
    /// tools) rather than EX_USAGE (64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                Console.printError(fullMessage(for: error))
                Glibc.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// The exit statuses the subcommands share (documented in each `--help`).
enum ExitStatus: Int32 {
    /// Everything asked for was done.
    case success = 0
    /// An exchange, check or operation failed.
    case failure = 1
    /// The command line or its inputs are unusable.
    case usage = 2
    /// The channel could not be opened (server: created; client: attached).
    case channelUnavailable = 3

    /// The status as ArgumentParser's error type, to throw from `run()`.
    var exitCode: ExitCode { ExitCode(rawValue) }
}

/// A failure that ends a subcommand: `run()` prints `message` as one line on
/// stderr, prefixed with the subcommand's name, and exits with `status`.
struct CommandFailure: Error {
    let status: ExitStatus
    let message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }
}

extension ParsableCommand {
    /// Runs `body`; a ``CommandFailure`` it throws becomes one line on stderr
    /// ("<command>: <message>") and its exit status.  Cleanup in `body`'s
    /// `defer` blocks runs first, because nothing calls `exit` directly.
    func reportingFailures(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as CommandFailure {
            Console.printError("\(Self.configuration.commandName ?? "shmemaphore"): \(failure.message)")
            throw failure.status.exitCode
        }
    }
}
