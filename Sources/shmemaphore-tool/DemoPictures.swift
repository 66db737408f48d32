import FoundationEssentials
import Glibc
import Shmemaphore
import ShmemaphoreTools

/// Colourful, recognisable test pictures that `demo` draws itself, so that a
/// new user needs no image files: a rainbow gradient, a ball of concentric
/// rings on a transparent background, a checkerboard, and an interference
/// pattern of circles.
enum DemoPictures {
    /// One picture: its request name, file, shape and how to colour a pixel.
    struct Picture: Sendable {
        let name: String
        let file: String
        let width: Int
        let height: Int
        let channels: Int
        let description: String
        /// Colour (RGBA, 0...1) of pixel (x, y) in a width × height picture.
        let colour: @Sendable (_ x: Int, _ y: Int, _ width: Int, _ height: Int) -> (Double, Double, Double, Double)

        var shape: String { "\(width)x\(height)x\(channels)" }
        var byteCount: Int { width * height * channels }
    }

    /// The four pictures, named like the original server's requests.
    static let pictures: [Picture] = [
        Picture(
            name: "apple", file: "apple.png", width: 640, height: 480, channels: 3,
            description: "rainbow gradient",
            colour: { x, y, width, height in
                let hue = Double(x) / Double(width)
                let light = 1.0 - 0.6 * Double(y) / Double(height)
                let (r, g, b) = rainbow(hue)
                return (r * light, g * light, b * light, 1)
            }),
        Picture(
            name: "ball", file: "ball.tga", width: 800, height: 600, channels: 4,
            description: "ball of rings, transparent corners",
            colour: { x, y, width, height in
                let dx = Double(x - width / 2), dy = Double(y - height / 2)
                let radius = (dx * dx + dy * dy).squareRoot()
                let edge = Double(min(width, height)) * 0.45
                let (r, g, b) = rainbow((radius / 40).truncatingRemainder(dividingBy: 1))
                return (r, g, b, radius < edge ? 1 : 0)
            }),
        Picture(
            name: "car", file: "car.png", width: 1280, height: 720, channels: 3,
            description: "checkerboard",
            colour: { x, y, width, height in
                let dark = ((x / 80) + (y / 80)) % 2 == 0
                let shade = 0.5 + 0.5 * Double(y) / Double(height)
                return dark ? (0.1, 0.2 * shade, 0.6 * shade, 1) : (1, 0.85 * shade, 0.1, 1)
            }),
        Picture(
            name: "dog", file: "dog.tga", width: 1920, height: 1080, channels: 3,
            description: "interference of two circle sets",
            colour: { x, y, width, height in
                let ax = Double(x) - Double(width) * 0.35, ay = Double(y) - Double(height) * 0.5
                let bx = Double(x) - Double(width) * 0.65, by = ay
                let wave = sin((ax * ax + ay * ay).squareRoot() / 9) + sin((bx * bx + by * by).squareRoot() / 9)
                let (r, g, b) = rainbow((wave + 2) / 4)
                return (r, g, b, 1)
            }),
    ]

    /// A saturated colour for `hue` in 0...1 (red → yellow → green → cyan → blue → magenta).
    static func rainbow(_ hue: Double) -> (Double, Double, Double) {
        let sector = (hue - hue.rounded(.down)) * 6
        let fraction = sector - sector.rounded(.down)
        switch Int(sector) {
        case 0: return (1, fraction, 0)
        case 1: return (1 - fraction, 1, 0)
        case 2: return (0, 1, fraction)
        case 3: return (0, 1 - fraction, 1)
        case 4: return (fraction, 0, 1)
        default: return (1, 0, 1 - fraction)
        }
    }

    /// A colour component in 0...1 as an 8-bit sample.
    private static func sample(_ value: Double) -> UInt8 {
        UInt8(max(0, min(255, (value * 255).rounded())))
    }

    /// Draws `picture` (3 or 4 channels) and saves it in `directory`; returns the file's path.
    static func write(_ picture: Picture, to directory: String) throws -> String {
        let path = Paths.join(directory, picture.file)
        var pixels = [UInt8](repeating: 0, count: picture.byteCount)
        pixels.withUnsafeMutableBufferPointer { buffer in
            var offset = 0
            for y in 0..<picture.height {
                for x in 0..<picture.width {
                    let (r, g, b, a) = picture.colour(x, y, picture.width, picture.height)
                    buffer[offset] = sample(r)
                    buffer[offset + 1] = sample(g)
                    buffer[offset + 2] = sample(b)
                    if picture.channels == 4 { buffer[offset + 3] = sample(a) }
                    offset += picture.channels
                }
            }
        }
        do {
            let metadata = try ResponseMetadata.image(
                width: UInt64(picture.width), height: UInt64(picture.height), channels: UInt64(picture.channels))
            try pixels.withUnsafeBytes { try ImageCodec.save(metadata, pixels: $0, to: path) }
        } catch {
            throw CommandFailure(.failure, "cannot write \(path): \(error)")
        }
        return path
    }
}
