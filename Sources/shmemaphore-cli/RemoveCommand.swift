import ArgumentParser
import Foundation
import Shmemaphore

/// `shmemaphore rm NAME...`: removes the four objects of channels.
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove the four objects of channels (leftovers of a crash).",
        discussion: """
            For each NAME, removes exactly SEG_<S>_HEAD, SEG_<S>_DATA (shm_unlink) and \
            sem.SEM_<S>_REQ, sem.SEM_<S>_RES (sem_unlink), where S is NAME with "/" \
            replaced by "_", and reports which of them existed. Nothing else in \
            /dev/shm is touched. A channel that `shmemaphore ls` calls alive is not \
            removed unless --force is given: its server would lose the channel under \
            its clients.

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
        let printableName = UntrustedText.printable(name)
        let channel: ChannelName
        do {
            channel = try ChannelName(name)
        } catch {
            Console.printError("rm: \"\(printableName)\": \(error)")
            return false
        }
        let objects = ChannelObjects(channel)
        let status = ChannelInventory.status(of: objects, users: users)
        if status.state == .alive && !force {
            let pids = status.pids.map(String.init).joined(separator: ", ")
            Console.printError(
                "rm: channel \"\(printableName)\" is alive (in use by pid \(pids)); stop its server first, "
                    + "or remove it anyway with --force")
            return false
        }
        // Exactly the four names the library derives; unlink's own result says whether each existed.
        let removals: [(role: ChannelObjects.Role, unlink: () -> Int32)] = [
            (.head, { shm_unlink(channel.headerSegment) }), (.data, { shm_unlink(channel.dataSegment) }),
            (.req, { sem_unlink(channel.requestSemaphore) }), (.res, { sem_unlink(channel.responseSemaphore) }),
        ]
        var removed: [String] = [], missing: [String] = []
        var ok = true
        for removal in removals {
            let fileName = objects.fileName(removal.role)
            if removal.unlink() == 0 {
                removed.append(fileName)
            } else if errno == ENOENT {
                missing.append(fileName)
            } else {
                Console.printError("rm: cannot remove \(objects.path(removal.role)): \(String(cString: strerror(errno)))")
                ok = false
            }
        }
        if removed.isEmpty && ok {
            Console.printError("rm: channel \"\(printableName)\": none of its four objects exists in \(ChannelInventory.directory)")
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
}
