import ArgumentParser
import FoundationEssentials
import Glibc
import ShmemaphoreTools

/// `shmemaphore-conformance make-images DIR`: writes the conformance image set.
struct MakeImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-images",
        abstract: "Write the conformance image set and its MANIFEST into a folder.",
        discussion: """
            Writes p.tga (1x1x1), ga.png (64x64x2), odd.tga (333x77x3), vga.tga \
            (640x480x4), hd.tga (1920x1080x3) and uhd.tga (3840x2160x4), lossless files \
            with pseudo-random pixels from a fixed seed, and MANIFEST with one line \
            "name W H C fnv1a64-hex" per image (the digest of the pixels). Each file is \
            decoded again and must give back exactly the pixels written \
            (docs/CONFORMANCE.md).

            Exit status: 0 written and verified; 1 a file could not be written or \
            does not decode to its pixels; 2 usage error.
            """
    )

    @Argument(help: ArgumentHelp("Folder to write into (created if missing).", valueName: "DIR"))
    var directory: String

    func run() throws {
        try reportingFailures {
            let started = ContinuousClock.now
            let entries = try ConformanceImages.write(to: directory)
            for (entry, specification) in zip(entries, ConformanceImages.specifications) {
                Console.printLine(
                    "\(Paths.join(directory, specification.file))  \(specification.shape)  "
                        + "\(entry.byteCount) bytes  \(FNV1a64.hex(entry.digest))")
            }
            Console.printLine(
                "\(Paths.join(directory, "MANIFEST")): \(entries.count) images, verified "
                    + "(\(Durations.format(Durations.seconds(.now - started), decimals: 2)) s)")
        }
    }
}
