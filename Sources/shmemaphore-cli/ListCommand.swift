import ArgumentParser
import Foundation

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
            inspect are not shown). Nothing is created or changed.

            State: "alive" when all four objects exist and some process has the data \
            segment open (or a server holds its liveness lock); "stale" otherwise \
            (leftovers of a crash, semaphores without segments, ...). Remove stale \
            channels with `shmemaphore rm`. PEERS: which libshmemaphore peers hold \
            their liveness lock on HEAD (docs/PROTOCOL.md, "Liveness"; original apps \
            take none).

            With --json: one JSON object per channel and line, with the keys channel, \
            state, server and client (liveness locks held), pids and objects (head, \
            data, req, res: path, present, size, mode, uid, owner, value, pids).

            Exit status: 0 (also when there are no channels).
            """
    )

    @Flag(help: "One JSON object per channel and line.")
    var json = false

    func run() throws {
        let channels = ChannelInventory.scan()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for channel in channels {
                if let data = try? encoder.encode(channel) { Console.printLine(String(decoding: data, as: UTF8.self)) }
            }
            return
        }
        guard !channels.isEmpty else {
            Console.printLine("no shmemaphore channels in \(ChannelInventory.directory)")
            return
        }
        var rows = [["CHANNEL", "STATE", "PEERS", "OBJECT", "SIZE", "MODE", "OWNER", "VALUE", "PIDS"]]
        for channel in channels {
            for (position, role) in ChannelObjects.Role.allCases.enumerated() {
                let object = channel.object(role)
                let name = (object.path as NSString).lastPathComponent
                let lead = position == 0 ? [channel.channel, channel.state.rawValue, Self.peers(channel)] : ["", "", ""]
                guard object.present else {
                    rows.append(lead + [name, "missing", "", "", "", ""])
                    continue
                }
                rows.append(
                    lead + [
                        name, object.size.map(String.init) ?? "?", object.mode ?? "?", object.owner ?? "?",
                        role.isSemaphore ? (object.value.map(String.init) ?? "?") : "-",
                        object.pids.isEmpty ? "-" : object.pids.map(String.init).joined(separator: ","),
                    ])
            }
        }
        for line in TextTable.render(rows, rightAligned: [4]) { Console.printLine(line) }
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
