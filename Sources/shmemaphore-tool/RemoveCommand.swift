import ArgumentParser
import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// `shmemaphore rm NAME...`: removes the four objects of channels.
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove the four objects of channels (leftovers of a crash).",
        discussion: """
            For each NAME, removes exactly SEG_<S>_HEAD, SEG_<S>_DATA, sem.SEM_<S>_REQ \
            and sem.SEM_<S>_RES, where S is NAME with "/" replaced by "_", and reports \
            which of them existed. Nothing else in /dev/shm is touched: a symlink \
            among them is removed itself, never followed, and a name that another \
            file took since rm looked at it is left alone. Names are printed escaped \
            (see `shmemaphore ls --help`). A channel that `shmemaphore ls` calls alive \
            is not removed unless --force is given: its server would lose the channel \
            under its clients.

            Exit status: 0 every channel had objects and they were removed; 1 a name \
            is invalid, a channel had none of its objects, is alive (without --force), \
            or an object could not be removed.
            """
    )

    @Argument(help: ArgumentHelp("Channel names, as given to server and client.", valueName: "NAME"))
    var names: [String]

    @Flag(help: "Remove channels even when they are alive.")
    var force = false

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name at least one channel") }
    }

    func run() throws {
        var failed = false
        let users = ObjectUsers.scan()
        for name in names {
            if !remove(name, users: users) { failed = true }
        }
        if failed { throw ExitStatus.failure.exitCode }
    }

    /// Removes one channel's objects; returns false on any failure.
    private func remove(_ name: String, users: ObjectUsers) -> Bool {
        let printableName = UntrustedText.escaped(name)
        let channel: ChannelName
        do {
            channel = try ChannelName(name)
        } catch {
            Console.printError("rm: \"\(printableName)\": \(UntrustedText.escaped(error.description))")
            return false
        }
        let status = ChannelInventory.status(of: ChannelInspector.inspect(ChannelFiles(channel)), users: users)
        if status.state == .alive && !force {
            let pids = status.pids.map(String.init).joined(separator: ", ")
            Console.printError(
                "rm: channel \"\(printableName)\" is alive (in use by pid \(pids)); stop its server first, "
                    + "or remove it anyway with --force")
            return false
        }
        // Exactly the four names the library derives, and of each only the file just inspected.
        var removed: [String] = [], missing: [String] = []
        var ok = true
        for kind in ChannelObject.allCases {
            let object = status.object(kind)
            guard object.present else {
                missing.append(object.fileName)
                continue
            }
            switch Self.remove(kind, object, of: status.snapshot) {
            case .success(let note): removed.append(object.fileName + note)
            case .failure(let problem):
                Console.printError("rm: \(problem)")
                ok = false
            }
        }
        if removed.isEmpty && ok {
            Console.printError("rm: channel \"\(printableName)\": none of its four objects exists in \(ChannelInspector.directory)")
            return false
        }
        var report = "\(printableName): removed \(removed.joined(separator: ", "))"
        if !missing.isEmpty { report += " (not present: \(missing.joined(separator: ", ")))" }
        if status.state == .alive {
            report += " - it was alive (--force)"
        } else if !status.pids.isEmpty {
            // Stale by the rules, yet used: e.g. a client that created the semaphores and waits for its server.
            report += " - note: pid \(status.pids.map(String.init).joined(separator: ", ")) still had some of them open"
        }
        Console.printLine(report)
        return ok
    }

    /// Why an object could not be removed (escaped, one line).
    private struct Problem: Error {
        let text: String
    }

    /// Unlinks the name of `kind` while it is still the file `snapshot` saw
    /// there (never what a symlink points to).  On success, a note for the
    /// report ("" for a regular file).
    private static func remove(_ kind: ChannelObject, _ object: ObjectStatus, of snapshot: ChannelSnapshot) -> Result<String, Problem> {
        guard let inspected = object.inspected, let outcome = ChannelInspector.remove(kind, of: snapshot) else {
            return .failure(Problem(text: "cannot remove \(object.path): \(object.error ?? "it could not be inspected")"))
        }
        switch outcome {
        case .removed:
            return .success(inspected.kind == .regularFile ? "" : " (a \(inspected.kind.rawValue), not followed)")
        case .replaced:
            return .failure(Problem(text: "\(object.path) was replaced while rm looked at it; the new file was left alone"))
        case .refused:
            let reason =
                inspected.kind == .directory
                ? "it is a directory"
                : inspected.owner != geteuid()
                    ? "it belongs to user \(object.owner ?? String(inspected.owner)), and /dev/shm lets only a file's owner (or root) remove it"
                    : "unlink failed"
            return .failure(Problem(text: "cannot remove \(object.path): \(reason)"))
        }
    }
}
