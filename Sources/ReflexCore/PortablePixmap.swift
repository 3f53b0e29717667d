extension ReflexError.Code {
    /// A PPM/PGM image file that cannot be read.
    public static let invalidImage = Self("invalidImage")
}

/// Binary Netpbm images (P6 colour, P5 grey; maxval up to 255) as LeRobot's pipeline takes a camera frame: float
/// C × H × W, channel-major, values / maxval in [0, 1]. The one image format Reflex reads without a dependency.
public enum PortablePixmap {
    /// Binary P6 bytes of an RGB image (row-major, top row first, 3 bytes a pixel).
    public static func encodeP6(width: Int, height: Int, rgb: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out = Array("P6\n\(width) \(height)\n255\n".utf8)
        out.append(contentsOf: rgb.prefix(3 * width * height))
        return out
    }

    /// Decodes the file at `path`.
    public static func read(_ path: String) throws -> Tensor {
        do {
            return try decode(try readFile(path))
        } catch let e as ReflexError {
            throw e.inFile(path)
        }
    }

    /// Decodes P6 (3 channels) or P5 (1 channel) bytes.
    public static func decode(_ bytes: [UInt8]) throws -> Tensor {
        var i = 0
        func bad(_ message: String) -> ReflexError { ReflexError(.invalidImage, message, at: .init(byteOffset: i)) }
        // Header: magic, width, height, maxval, separated by whitespace and # comments, then one whitespace byte.
        func skipSpace() {
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "#") {
                    while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
                } else if [9, 10, 13, 32].contains(bytes[i]) {
                    i += 1
                } else {
                    return
                }
            }
        }
        func number(_ what: String) throws -> Int {
            skipSpace()
            var v = 0, digits = 0
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57, digits < 7 {
                v = v * 10 + Int(bytes[i] - 48)
                i += 1
                digits += 1
            }
            guard digits > 0 else { throw bad("expected the \(what) (a decimal number) in the PPM header") }
            return v
        }
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "6") || bytes[1] == UInt8(ascii: "5") else {
            throw bad("not a binary PPM/PGM image (the file must start with P6 or P5)")
        }
        let channels = bytes[1] == UInt8(ascii: "6") ? 3 : 1
        i = 2
        let width = try number("width"), height = try number("height"), maxval = try number("maxval")
        guard width >= 1, height >= 1 else { throw bad("image is \(width)×\(height)") }
        guard (1 ... 255).contains(maxval) else { throw bad("maxval \(maxval) is not supported (1…255: one byte per sample)") }
        guard i < bytes.count, [9, 10, 13, 32].contains(bytes[i]) else { throw bad("expected one whitespace byte before the pixels") }
        i += 1
        let count = width * height * channels
        guard bytes.count - i >= count else {
            throw bad("truncated: \(width)×\(height)×\(channels) needs \(count) pixel bytes, \(bytes.count - i) remain")
        }
        let t = Tensor(zeros: [channels, height, width])
        // Divided, not multiplied by 1/maxval: the same float torchvision's to_tensor (x.float().div(255)) gives.
        let m = Float(maxval)
        for p in 0 ..< width * height {
            for c in 0 ..< channels { t.data[c * width * height + p] = Float(bytes[i + p * channels + c]) / m }
        }
        return t
    }
}
