import ArgumentParser
import Shmemaphore
import ShmemaphoreTools

/// The options of `server` and `client` that tune how one side of a channel
/// waits and checks, as ``ChannelOptions`` fields.  Each side chooses for
/// itself; the two sides of a channel may differ.
struct ChannelTuningOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "How to wait for the peer: adaptive spins briefly before sleeping when recent waits show it pays "
            + "(the library default); blocking always sleeps in the kernel at once (no CPU time spent spinning).",
        valueName: "adaptive|blocking"))
    var wait: WaitArgument = .adaptive

    @Flag(
        name: [.customLong("untrusted-peer"), .customLong("check-every-turn")],
        help: ArgumentHelp(
            "Treat the peer as untrusted: check the segments' sizes (fstat) and read and write HEAD with pread/pwrite "
                + "on every turn, even when the peer holds its liveness lock, and receive into private memory that "
                + "cannot fault (3 more system calls and one copy per round trip; docs/SECURITY.md). "
                + "--check-every-turn is its former name."))
    var untrustedPeer = false

    /// `options` with this side's choices applied.
    func applied(to options: ChannelOptions = ChannelOptions()) -> ChannelOptions {
        var options = options
        options.waitStrategy = wait.strategy
        options.untrustedPeer = untrustedPeer
        return options
    }
}
