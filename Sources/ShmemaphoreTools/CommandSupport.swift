import ArgumentParser
import Glibc
import Shmemaphore

/// The exit statuses the programs share (documented in each `--help`).
package enum ExitStatus: Int32, Sendable {
    /// Everything asked for was done.
    case success = 0
    /// An exchange, check or operation failed.
    case failure = 1
    /// The command line or its inputs are unusable.
    case usage = 2
    /// The channel could not be opened (server: created; client: attached).
    case channelUnavailable = 3

    /// The status as ArgumentParser's error type, to throw from `run()`.
    package var exitCode: ExitCode { ExitCode(rawValue) }
}

/// A failure that ends a command: `run()` prints `message` as one line on
/// stderr, prefixed with the command's name, and exits with `status`.
package struct CommandFailure: Error, Sendable {
    package let status: ExitStatus
    package let message: String

    package init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }
}

extension ParsableCommand {
    /// Runs `body`; a ``CommandFailure`` it throws becomes one line on stderr
    /// ("<command>: <message>") and its exit status.  Cleanup in `body`'s
    /// `defer` blocks runs first, because nothing calls `exit` directly.
    package func reportingFailures(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as CommandFailure {
            Console.printError("\(Self.configuration.commandName ?? "shmemaphore"): \(failure.message)")
            throw failure.status.exitCode
        }
    }

    /// Parses and runs like ArgumentParser's own `main()`, except that usage
    /// errors exit with 2 (the convention of the C examples and of most Unix
    /// tools) rather than EX_USAGE (64).  The `main()` of every program.
    package static func mainExitingTwoOnUsageErrors() {
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

/// `--wait` values: the command-line spelling of ``WaitStrategy`` (the tool's
/// `server` and `client`, the benchmark's Swift peer).
///
/// A local enum rather than a retroactive conformance of the library's type,
/// so that the library's API stays free of ArgumentParser.
package enum WaitArgument: String, ExpressibleByArgument, CaseIterable, Sendable {
    case adaptive, blocking

    /// The library's strategy this spelling stands for.
    package var strategy: WaitStrategy {
        switch self {
        case .adaptive: .adaptive
        case .blocking: .blocking
        }
    }
}
