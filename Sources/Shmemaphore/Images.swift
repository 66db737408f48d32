import CStb
import Glibc

/// Image decoding and encoding through Debian's stb (libstb-dev).
///
/// Decoding reads from a FILE this code opened itself, so a missing or
/// unreadable file is reported with its errno rather than stb's generic text.
///
/// The client's ``ShmemaphoreClient/sendImageFile(atPath:)`` and the
/// response's ``Response/saveImage(to:)`` use it; call it directly to
/// decode or encode images outside a channel.  It keeps no state of its
/// own; like the C API's image functions, its functions may be called from
/// several threads at once.
public enum ImageCodec {
    /// Formats `save` can write, chosen by file extension.
    public enum Format: String, CaseIterable, Sendable {
        /// PNG (`.png`, lossless), JPEG (`.jpg`, `.jpeg`; quality
        /// ``ImageCodec/jpegQuality``), BMP (`.bmp`) and TGA (`.tga`).
        /// The raw value is the case's name.
        case png, jpeg, bmp, tga

        /// The format a path's extension names (case-insensitive), or nil.
        public init?(path: String) {
            guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
            self.init(extension: String(path[path.index(after: dot)...]))
        }

        /// The format an extension (without the dot) names, case-insensitively.
        public init?(extension: String) {
            switch `extension`.lowercased() {
            case "png": self = .png
            case "jpg", "jpeg": self = .jpeg
            case "bmp": self = .bmp
            case "tga": self = .tga
            default: return nil
            }
        }
    }

    /// JPEG quality, as the original server used.
    public static let jpegQuality: Int32 = 90

    /// Decodes the image file at `path` to 8-bit interleaved pixels with the
    /// file's own channel count and passes them to `body` (the pixels are
    /// freed when `body` returns).
    ///
    /// stb reads PNG, JPEG, BMP, TGA, GIF, PSD, HDR, PIC and PNM.  The
    /// pixel buffer is valid only inside `body`; copy what you keep.
    ///
    /// - Throws: ``ShmemaphoreError/system(errno:operation:)`` when the
    ///   file cannot be opened, ``ShmemaphoreError/imageDecode(_:)`` when stb
    ///   cannot read it, or what `body` throws.
    public static func withDecodedFile<Result>(
        at path: String,
        _ body: (ResponseMetadata, UnsafeRawBufferPointer) throws(ShmemaphoreError) -> Result
    ) throws(ShmemaphoreError) -> Result {
        try withCString(path) { cPath throws(ShmemaphoreError) in try withDecodedFile(atCPath: cPath, body) }
    }

    /// `withDecodedFile(at:_:)` for a path of arbitrary bytes (POSIX paths need not be UTF-8).
    package static func withDecodedFile<Result>(
        atCPath cPath: UnsafePointer<CChar>,
        _ body: (ResponseMetadata, UnsafeRawBufferPointer) throws(ShmemaphoreError) -> Result
    ) throws(ShmemaphoreError) -> Result {
        let path = String(decoding: UnsafeRawBufferPointer(start: cPath, count: strlen(cPath)), as: UTF8.self)
        let file = try syscall("open \(path)") { fopen(cPath, "rbe") }
        defer { bestEffort { fclose(file) } }
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        guard let pixels = stbi_load_from_file(file, &width, &height, &channels, 0) else {
            throw .imageDecode("\(path) is not an image stb can read")
        }
        defer { stbi_image_free(pixels) }
        let metadata = try ResponseMetadata.image(width: UInt64(width), height: UInt64(height), channels: UInt64(channels))
        return try body(metadata, UnsafeRawBufferPointer(start: pixels, count: Int(metadata.bytes)))
    }

    /// Writes an image to `path` in the format its extension names.
    ///
    /// `metadata` must describe an image (``PayloadKind/image``) of 1 to 4
    /// channels, and `pixels` must hold at least `metadata.bytes` bytes.
    /// An existing file is replaced.
    ///
    /// - Throws: ``ShmemaphoreError/notImage``,
    ///   ``ShmemaphoreError/unsupportedFormat(_:)`` (no known extension, or
    ///   a shape the format cannot hold),
    ///   ``ShmemaphoreError/invalidArgument(_:)`` (too few pixels),
    ///   ``ShmemaphoreError/protocolViolation(_:)`` (inconsistent metadata), or
    ///   ``ShmemaphoreError/imageEncode(_:)``.
    public static func save(_ metadata: ResponseMetadata, pixels: UnsafeRawBufferPointer, to path: String) throws(ShmemaphoreError) {
        try withCString(path) { cPath throws(ShmemaphoreError) in try save(metadata, pixels: pixels, toCPath: cPath) }
    }

    /// `save(_:pixels:to:)` for a path of arbitrary bytes (POSIX paths need not be UTF-8).
    package static func save(_ metadata: ResponseMetadata, pixels: UnsafeRawBufferPointer, toCPath cPath: UnsafePointer<CChar>) throws(ShmemaphoreError) {
        let path = String(decoding: UnsafeRawBufferPointer(start: cPath, count: strlen(cPath)), as: UTF8.self)
        guard case .image = try metadata.kind() else { throw .notImage }
        guard let format = Format(path: path) else {
            throw .unsupportedFormat("\(path) has no .png, .jpg, .jpeg, .bmp or .tga extension")
        }
        guard (1...4).contains(metadata.channels) else {
            throw .unsupportedFormat("\(format.rawValue) holds 1 to 4 channels, not \(metadata.channels)")
        }
        guard metadata.width <= UInt64(Int32.max), metadata.height <= UInt64(Int32.max),
            metadata.width * metadata.channels <= UInt64(Int32.max)
        else {
            throw .unsupportedFormat("\(metadata.width)×\(metadata.height) is too large for the encoder")
        }
        guard UInt64(pixels.count) >= metadata.bytes, let base = pixels.baseAddress else {
            throw .invalidArgument("the pixel buffer is smaller than the metadata announces")
        }
        let width = Int32(metadata.width), height = Int32(metadata.height), channels = Int32(metadata.channels)
        let written: Int32
        switch format {
        case .png: written = stbi_write_png(cPath, width, height, channels, base, width * channels)
        case .jpeg: written = stbi_write_jpg(cPath, width, height, channels, base, jpegQuality)
        case .bmp: written = stbi_write_bmp(cPath, width, height, channels, base)
        case .tga: written = stbi_write_tga(cPath, width, height, channels, base)
        }
        guard written != 0 else {
            throw .imageEncode("could not write \(path) as \(format.rawValue)")
        }
    }
}
