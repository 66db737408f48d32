import ArgumentParser
import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// `shmemaphore ls`: every channel present in /dev/shm, alive or stale.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the channels in /dev/shm with their objects and state.",
        discussion: """
            A channel is four objects: SEG_<S>_HEAD, SEG_<S>_DATA, sem.SEM_<S>_REQ and \
            sem.SEM_<S>_RES, where S is the channel name with "/" replaced by "_". For \
            each object: size in bytes, mode, owner, the semaphore's count, and the \
            processes that have it open or mapped (from /proc; processes you cannot \
            inspect are not shown). Nothing is created, mapped or changed: each file \
            is opened once, read-only and without following a symlink, and read with \
            pread, so that its owner cannot crash `ls` by truncating it. A name that \
            is not a regular file (a symlink, say) is shown as what it is, in place \
            of the size, and never followed.

            Names are printed escaped, since anyone can make files in /dev/shm: \
            printable text passes, a backslash becomes "\\\\", and control characters, \
            bytes that are not UTF-8, C1 controls and bidi overrides become "\\xHH", \
            one per byte.

            State: "alive" when all four objects are regular files and some process \
            has the data segment open (or a server holds its liveness lock); "stale" \
            otherwise (leftovers of a crash, semaphores without segments, ...). Remove \
            stale channels with `shmemaphore rm`. PEERS: which libshmemaphore peers \
            hold their liveness lock on HEAD (docs/PROTOCOL.md, "Liveness"; original \
            apps take none).

            With --json: one JSON object per channel and line, with the keys channel, \
            state, server and client (liveness locks held), pids and objects (head, \
            data, req, res: path, present, type, size, mode, uid, owner, value, pids, \
            and error when the object could not be inspected). channel, path and \
            owner hold the escaped text, as printed without --json.

            Exit status: 0 (also when there are no channels); 1 /dev/shm could not \
            be read.
            """
    )

    @Flag(help: "One JSON object per channel and line.")
    var json = false

    func run() throws {
        try reportingFailures {
            let channels: [ChannelStatus]
            do {
                channels = try ChannelInventory.scan()
            } catch {
                throw CommandFailure(.failure, "cannot list \(ChannelInspector.directory): \(error)")
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for channel in channels {
                    if let data = try? encoder.encode(channel) { Console.printLine(String(decoding: data, as: UTF8.self)) }
                }
                return
            }
            guard !channels.isEmpty else {
                Console.printLine("no shmemaphore channels in \(ChannelInspector.directory)")
                return
            }
            Self.printTable(of: channels)
        }
    }

    /// One row per object, with the channel's columns on its first; then, on
    /// standard error, why any object could not be inspected.
    private static func printTable(of channels: [ChannelStatus]) {
        var rows = [["CHANNEL", "STATE", "PEERS", "OBJECT", "SIZE", "MODE", "OWNER", "VALUE", "PIDS"]]
        var problems: [String] = []
        for channel in channels {
            for (position, kind) in ChannelObject.allCases.enumerated() {
                let object = channel.object(kind)
                let lead = position == 0 ? [channel.channel, channel.state.rawValue, Self.peers(channel)] : ["", "", ""]
                guard object.present else {
                    rows.append(lead + [object.fileName, "missing", "", "", "", ""])
                    continue
                }
                if let error = object.error { problems.append("ls: \(error)") }
                // A name that is no regular file shows what it is where the size would be.
                let size = object.type == FileKind.regularFile.rawValue ? object.size.map(String.init) : object.type
                let value = kind.isSemaphore ? (object.value.map(String.init) ?? "?") : "-"
                let pids = object.pids.isEmpty ? "-" : object.pids.map(String.init).joined(separator: ",")
                rows.append(lead + [object.fileName, size ?? "?", object.mode ?? "?", object.owner ?? "?", value, pids])
            }
        }
        for line in TextTable.render(rows, rightAligned: [4]) { Console.printLine(line) }
        for problem in problems { Console.printError(problem) }
    }

    /// "server+client", "server", "client", "none", or "?" when HEAD could not be tested.
    private static func peers(_ channel: ChannelStatus) -> String {
        guard let server = channel.server, let client = channel.client else { return "?" }
        switch (server, client) {
        case (true, true): return "server+client"
        case (true, false): return "server"
        case (false, true): return "client"
        case (false, false): return "none"
        }
    }
}

/// Plain-text tables with columns padded to their widest cell.
enum TextTable {
    /// The rows as lines; columns in `rightAligned` are padded on the left.
    static func render(_ rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        return rows.map { row in
            var line = ""
            for (column, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                let isLast = column == row.count - 1
                if rightAligned.contains(column) {
                    line += padding + cell
                } else {
                    line += isLast ? cell : cell + padding
                }
                if !isLast { line += "  " }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }
}
