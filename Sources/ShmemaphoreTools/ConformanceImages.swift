import FoundationEssentials
import Glibc
import Shmemaphore

/// The conformance image set of docs/CONFORMANCE.md: six lossless files with
/// pseudo-random pixels, and a MANIFEST of their shapes and pixel digests.
///
/// The pixels come from SplitMix64 seeded with the FNV-1a hash of the image's
/// name, so every run on every machine writes the same pixels (the encoded
/// files may still differ between stb versions; the digests are of pixels).
package enum ConformanceImages {
    /// One image of the set.
    package struct Specification: Sendable {
        package let name: String
        package let file: String
        package let width: UInt64
        package let height: UInt64
        package let channels: UInt64

        package var byteCount: UInt64 { width * height * channels }
        package var shape: String { "\(width)x\(height)x\(channels)" }
    }

    /// The set, from small to large.
    package static let specifications: [Specification] = [
        Specification(name: "p", file: "p.tga", width: 1, height: 1, channels: 1),
        Specification(name: "ga", file: "ga.png", width: 64, height: 64, channels: 2),
        Specification(name: "odd", file: "odd.tga", width: 333, height: 77, channels: 3),
        Specification(name: "vga", file: "vga.tga", width: 640, height: 480, channels: 4),
        Specification(name: "hd", file: "hd.tga", width: 1920, height: 1080, channels: 3),
        Specification(name: "uhd", file: "uhd.tga", width: 3840, height: 2160, channels: 4),
    ]

    /// One line of MANIFEST: `name W H C fnv1a64-hex`.
    package struct ManifestEntry: Equatable, Sendable {
        package let name: String
        package let width: UInt64
        package let height: UInt64
        package let channels: UInt64
        package let digest: UInt64

        package var line: String { "\(name) \(width) \(height) \(channels) \(FNV1a64.hex(digest))" }
        package var byteCount: UInt64 { width * height * channels }
    }

    /// Writes every image and `MANIFEST` into `directory` (created if
    /// missing), then decodes each file again and checks that it gives back
    /// exactly the pixels written.
    /// - Throws: ``CommandFailure`` naming the file that failed.
    package static func write(to directory: String) throws -> [ManifestEntry] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure(.failure, "cannot create \(directory): \(ErrorText.describe(error))")
        }
        var entries: [ManifestEntry] = []
        for specification in specifications {
            let path = Paths.join(directory, specification.file)
            let digest = try writeImage(specification, to: path)
            try verify(path, against: specification, digest: digest)
            entries.append(
                ManifestEntry(
                    name: specification.name, width: specification.width, height: specification.height,
                    channels: specification.channels, digest: digest))
        }
        let manifest = entries.map { $0.line + "\n" }.joined()
        let manifestPath = Paths.join(directory, "MANIFEST")
        do {
            try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        } catch {
            throw CommandFailure(.failure, "cannot write \(manifestPath): \(ErrorText.describe(error))")
        }
        return entries
    }

    /// Fills a buffer with the image's pixels, saves it, returns their digest.
    private static func writeImage(_ specification: Specification, to path: String) throws -> UInt64 {
        let count = Int(specification.byteCount)
        let pixels = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 8)
        defer { pixels.deallocate() }
        var generator = SplitMix64(seed: FNV1a64.hash(Array(specification.name.utf8)))
        generator.fill(pixels)
        let digest = FNV1a64.hash(UnsafeRawBufferPointer(pixels))
        do {
            let metadata = try ResponseMetadata.image(
                width: specification.width, height: specification.height, channels: specification.channels)
            try ImageCodec.save(metadata, pixels: UnsafeRawBufferPointer(pixels), to: path)
        } catch {
            throw CommandFailure(.failure, "cannot write \(path): \(error)")
        }
        return digest
    }

    /// Decodes `path` and compares shape and digest with what was written.
    private static func verify(_ path: String, against specification: Specification, digest: UInt64) throws {
        let decoded: (shape: String, digest: UInt64)
        do {
            decoded = try ImageCodec.withDecodedFile(at: path) { metadata, pixels in
                ("\(metadata.width)x\(metadata.height)x\(metadata.channels)", FNV1a64.hash(pixels))
            }
        } catch {
            throw CommandFailure(.failure, "\(path) was written but does not decode: \(error)")
        }
        guard decoded.shape == specification.shape, decoded.digest == digest else {
            throw CommandFailure(
                .failure,
                "\(path) decodes to \(decoded.shape) with digest \(FNV1a64.hex(decoded.digest)), "
                    + "but \(specification.shape) with digest \(FNV1a64.hex(digest)) was written: "
                    + "the encoder or decoder is not lossless")
        }
    }
}
