#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBridge

/// Element types a safetensors file may declare (the format's list). Every one validates on open; F32, F16,
/// BF16 and F64 can be read as `Float`, and `tensor(_:)` refuses the others with a clear error.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case f64 = "F64", i64 = "I64", u64 = "U64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }
}

extension ReflexError.Code {
    /// The file is shorter than its 8-byte header length, or than the header it announces.
    public static let safetensorsTruncated = Self("safetensorsTruncated")
    /// The header is not valid JSON, or not the object layout safetensors prescribes.
    public static let safetensorsHeader = Self("safetensorsHeader")
    public static let safetensorsUnknownDType = Self("safetensorsUnknownDType")
    public static let safetensorsUnsupportedDType = Self("safetensorsUnsupportedDType")
    /// A tensor's shape times its element size differs from its byte range.
    public static let safetensorsShapeMismatch = Self("safetensorsShapeMismatch")
    /// Two tensors' byte ranges overlap.
    public static let safetensorsOverlap = Self("safetensorsOverlap")
    /// A byte range ends past the data section, or begins after it ends.
    public static let safetensorsOutOfRange = Self("safetensorsOutOfRange")
    /// The data section has bytes no tensor covers.
    public static let safetensorsGap = Self("safetensorsGap")
    public static let safetensorsMissingTensor = Self("safetensorsMissingTensor")
}

/// A read-only memory mapping of a whole file, unmapped when the last tensor that borrows it goes.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeMutableRawPointer?
    let size: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            let code: ReflexError.Code = errno == ENOENT ? .fileNotFound : .io
            throw ReflexError(code, "cannot open: \(String(cString: strerror(errno)))", at: .init(file: path))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ReflexError(.io, "cannot stat: \(String(cString: strerror(errno)))", at: .init(file: path))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw ReflexError(.io, "is a directory, not a safetensors file", at: .init(file: path))
        }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        // Private and writable: pages are copied on write, so a tensor view can never modify the file.
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw ReflexError(.io, "cannot map: \(String(cString: strerror(errno)))", at: .init(file: path))
        }
        base = p
    }

    /// Whether `base` is a heap copy (`init(copying:)`) rather than a mapping.
    private var heap = false

    /// A heap copy of bytes held in memory (a request body), read like a mapped file.
    init(copying bytes: [UInt8]) {
        size = bytes.count
        heap = true
        guard size > 0 else {
            base = nil
            return
        }
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 16)
        bytes.withUnsafeBytes { src in
            if let b = src.baseAddress { p.copyMemory(from: b, byteCount: n) }
        }
        base = p
    }

    deinit {
        if let base {
            if heap { base.deallocate() } else { munmap(base, size) }
        }
    }
}

/// A safetensors file, memory-mapped and validated on open.
///
/// Layout (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, then the data section.
/// Offsets are relative to the data section. On open every entry is checked: known dtype, shape × element size
/// equal to its byte range, range inside the data section, no overlaps and no gaps. Errors name the tensor and
/// the byte offset (from the start of the file).
public struct SafetensorsFile: Sendable {
    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: SafetensorsDType
        public var shape: [Int]
        /// Byte range within the data section.
        public var dataRange: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    /// Entries in the order of their data offsets.
    public let entries: [Entry]
    public let metadata: [String: String]
    /// File offset where the data section starts (8 + header length).
    public let dataOffset: Int
    private let file: MappedFile
    private let index: [String: Int]

    /// Opens and validates `path`.
    public init(path: String) throws {
        try self.init(file: try MappedFile(path: path), path: path)
    }

    /// Validates safetensors bytes held in memory (e.g. a request body) exactly as a file is validated; `name`
    /// stands for the file in errors.
    public init(bytes: [UInt8], name: String = "<bytes>") throws {
        try self.init(file: MappedFile(copying: bytes), path: name)
    }

    private init(file: MappedFile, path: String) throws {
        self.path = path
        self.file = file
        func fail(_ code: ReflexError.Code, _ message: String, tensor: String? = nil, offset: Int) -> ReflexError {
            ReflexError(code, message, at: .init(file: path, byteOffset: offset, element: tensor.map { "tensor '\($0)'" }))
        }
        guard file.size >= 8, let base = file.base else {
            throw fail(.safetensorsTruncated, "file has \(file.size) bytes; a safetensors file starts with an 8-byte header length",
                       offset: 0)
        }
        let headerLength = base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(file.size - 8) else {
            throw fail(.safetensorsTruncated,
                       "header length \(headerLength) runs past the end of the file (\(file.size) bytes)", offset: 0)
        }
        let n = Int(headerLength)
        dataOffset = 8 + n
        let headerBytes = UnsafeBufferPointer(start: base.advanced(by: 8).assumingMemoryBound(to: UInt8.self), count: n)
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes, baseOffset: 8)
        } catch let e as ReflexError {
            throw fail(.safetensorsHeader, e.message, offset: e.location.byteOffset ?? 8)
        }
        guard let members = json.objectValue else {
            throw fail(.safetensorsHeader, "header is not a JSON object", offset: 8)
        }
        let dataSize = file.size - dataOffset
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        for (key, value) in members {
            if key == "__metadata__" {
                guard let m = value.objectValue else {
                    throw fail(.safetensorsHeader, "__metadata__ must be an object of strings", offset: 8)
                }
                for (k, v) in m {
                    guard let s = v.stringValue else {
                        throw fail(.safetensorsHeader, "__metadata__ value '\(k)' is not a string", offset: 8)
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let fields = value.objectValue else {
                throw fail(.safetensorsHeader, "entry is not an object", tensor: key, offset: 8)
            }
            for field in fields where !["dtype", "shape", "data_offsets"].contains(field.key) {
                throw fail(.safetensorsHeader, "unknown field '\(field.key)'", tensor: key, offset: 8)
            }
            guard let dtypeName = value["dtype"]?.stringValue else {
                throw fail(.safetensorsHeader, "missing string field 'dtype'", tensor: key, offset: 8)
            }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw fail(.safetensorsUnknownDType, "unknown dtype '\(dtypeName)'", tensor: key, offset: 8)
            }
            guard let shapeValues = value["shape"]?.arrayValue else {
                throw fail(.safetensorsHeader, "missing array field 'shape'", tensor: key, offset: 8)
            }
            var shape: [Int] = []
            for d in shapeValues {
                guard let x = d.numberValue, x >= 0, x == x.rounded(), x < 1e15 else {
                    throw fail(.safetensorsHeader, "shape entries must be non-negative integers", tensor: key, offset: 8)
                }
                shape.append(Int(x))
            }
            guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
                  let b = offsets[0].numberValue, let e = offsets[1].numberValue,
                  b >= 0, e >= 0, b == b.rounded(), e == e.rounded(), b < 1e15, e < 1e15
            else {
                throw fail(.safetensorsHeader, "data_offsets must be two non-negative integers", tensor: key, offset: 8)
            }
            let begin = Int(b), end = Int(e)
            guard begin <= end else {
                throw fail(.safetensorsOutOfRange, "data_offsets [\(begin), \(end)] end before they begin",
                           tensor: key, offset: dataOffset + begin)
            }
            guard end <= dataSize else {
                throw fail(.safetensorsOutOfRange,
                           "data_offsets [\(begin), \(end)] run past the data section (\(dataSize) bytes; file truncated?)",
                           tensor: key, offset: dataOffset + begin)
            }
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail(.safetensorsShapeMismatch, "shape \(shape) overflows", tensor: key, offset: 8) }
                count = p
            }
            let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, expected == end - begin else {
                throw fail(.safetensorsShapeMismatch,
                           "shape \(shape) of \(dtype.rawValue) needs \(count) × \(dtype.size) bytes but data_offsets span \(end - begin)",
                           tensor: key, offset: dataOffset + begin)
            }
            entries.append(Entry(name: key, dtype: dtype, shape: shape, dataRange: begin ..< end))
        }
        entries.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound) < ($1.dataRange.lowerBound, $1.dataRange.upperBound) }
        var covered = 0
        var previous: Entry?
        for entry in entries where !entry.dataRange.isEmpty {
            if entry.dataRange.lowerBound < covered, let previous {
                throw fail(.safetensorsOverlap,
                           "bytes [\(entry.dataRange.lowerBound), \(entry.dataRange.upperBound)) overlap tensor '\(previous.name)' [\(previous.dataRange.lowerBound), \(previous.dataRange.upperBound))",
                           tensor: entry.name, offset: dataOffset + entry.dataRange.lowerBound)
            }
            if entry.dataRange.lowerBound > covered {
                throw fail(.safetensorsGap, "data bytes [\(covered), \(entry.dataRange.lowerBound)) belong to no tensor",
                           offset: dataOffset + covered)
            }
            covered = entry.dataRange.upperBound
            previous = entry
        }
        if covered != dataSize {
            throw fail(.safetensorsGap, "data bytes [\(covered), \(dataSize)) after the last tensor belong to no tensor",
                       offset: dataOffset + covered)
        }
        self.entries = entries
        self.metadata = metadata
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.name] = i }
        self.index = index
    }

    /// Tensor names in data order.
    public var names: [String] { entries.map(\.name) }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// Reads tensor `name` as `Float`. An aligned F32 tensor is a view of the mapped file (no copy; writes go to
    /// private pages); F16, BF16 and F64 are converted.
    public func tensor(_ name: String) throws -> Tensor {
        guard let i = index[name] else {
            throw ReflexError(.safetensorsMissingTensor, "no tensor named '\(name)' (file has \(entries.count) tensors)",
                              at: .init(file: path, element: "tensor '\(name)'"))
        }
        let e = entries[i]
        let start = dataOffset + e.dataRange.lowerBound
        let count = e.elementCount
        guard let base = file.base else { return Tensor(zeros: e.shape) }
        let src = base.advanced(by: start)
        switch e.dtype {
        case .f32:
            if start % MemoryLayout<Float>.alignment == 0 {
                let storage = TensorStorage(borrowing: src.assumingMemoryBound(to: Float.self), capacity: count, owner: file)
                return Tensor(storage: storage, offset: 0, shape: e.shape)
            }
            let t = Tensor(zeros: e.shape)
            UnsafeMutableRawPointer(t.data).copyMemory(from: src, byteCount: count * 4)
            return t
        case .f16, .bf16:
            let t = Tensor(zeros: e.shape)
            // The 2-byte source may be unaligned in a hand-made file; copy through an aligned buffer if so.
            withAligned(src, count: count, of: UInt16.self) { p in
                if e.dtype == .f16 { rx_f16_to_f32(count, p, t.data) } else { rx_bf16_to_f32(count, p, t.data) }
            }
            return t
        case .f64:
            let t = Tensor(zeros: e.shape)
            for k in 0 ..< count { t.data[k] = Float(src.loadUnaligned(fromByteOffset: 8 * k, as: Double.self)) }
            return t
        default:
            throw ReflexError(.safetensorsUnsupportedDType,
                              "dtype \(e.dtype.rawValue) cannot be read as Float (F32, F16, BF16 and F64 can)",
                              at: .init(file: path, byteOffset: start, element: "tensor '\(name)'"))
        }
    }

    /// The raw bytes of a tensor (any dtype), copied.
    public func rawBytes(_ name: String) throws -> [UInt8] {
        guard let e = entry(name) else {
            throw ReflexError(.safetensorsMissingTensor, "no tensor named '\(name)'", at: .init(file: path))
        }
        guard let base = file.base else { return [] }
        let p = base.advanced(by: dataOffset + e.dataRange.lowerBound).assumingMemoryBound(to: UInt8.self)
        return Array(UnsafeBufferPointer(start: p, count: e.dataRange.count))
    }

    /// Every float tensor of the file by name.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for e in entries { out[e.name] = try tensor(e.name) }
        return out
    }
}

private func withAligned<T>(_ src: UnsafeMutableRawPointer, count: Int, of: T.Type, _ body: (UnsafePointer<T>) -> Void) {
    if Int(bitPattern: src) % MemoryLayout<T>.alignment == 0 {
        body(UnsafePointer(src.assumingMemoryBound(to: T.self)))
    } else {
        let tmp = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        defer { tmp.deallocate() }
        UnsafeMutableRawPointer(tmp).copyMemory(from: src, byteCount: count * MemoryLayout<T>.stride)
        body(UnsafePointer(tmp))
    }
}

/// Element type for writing.
public enum SafetensorsStorageType: String, Sendable, Codable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"
}

/// Writes tensors as a safetensors file, the way Python's `safetensors.torch.save_file` lays it out: entries
/// sorted by name, the header padded with spaces to a multiple of 8 bytes, data in the same order.
/// The file is written to a temporary name, flushed (fsync) and renamed, so a crash never leaves half a file.
public func writeSafetensors(_ tensors: [(name: String, tensor: Tensor)], to path: String,
                             metadata: [String: String] = [:], dtype: SafetensorsStorageType = .f32) throws {
    let out: [UInt8]
    do {
        out = try safetensorsBytes(tensors, metadata: metadata, dtype: dtype)
    } catch let e as ReflexError {
        throw e.inFile(path)
    }
    try writeFileAtomically(out, to: path)
}

/// The bytes `writeSafetensors` writes (same layout), for sending over a wire instead of to a file.
public func safetensorsBytes(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             dtype: SafetensorsStorageType = .f32) throws -> [UInt8] {
    let sorted = tensors.sorted { $0.name < $1.name }
    var seen = Set<String>()
    for t in sorted where !seen.insert(t.name).inserted {
        throw ReflexError(.invalidArgument, "tensor name '\(t.name)' appears twice")
    }
    let elementSize = dtype == .f32 ? 4 : 2
    var members: [(key: String, value: JSONValue)] = []
    if !metadata.isEmpty {
        members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
    }
    var offset = 0
    for t in sorted {
        let bytes = t.tensor.count * elementSize
        members.append((t.name, .object([
            ("dtype", .string(dtype.rawValue)),
            ("shape", .array(t.tensor.shape.map { .number(Double($0)) })),
            ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + bytes))])),
        ])))
        offset += bytes
    }
    var header = Array(JSONValue.object(members).serialized.utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: header)
    for t in sorted {
        switch dtype {
        case .f32:
            let raw = UnsafeRawBufferPointer(start: t.tensor.data, count: t.tensor.count * 4)
            out.append(contentsOf: raw)
        case .f16, .bf16:
            var half = [UInt16](repeating: 0, count: t.tensor.count)
            half.withUnsafeMutableBufferPointer { h in
                if dtype == .f16 { rx_f32_to_f16(t.tensor.count, t.tensor.data, h.baseAddress!) } else {
                    rx_f32_to_bf16(t.tensor.count, t.tensor.data, h.baseAddress!)
                }
            }
            half.withUnsafeBytes { out.append(contentsOf: $0) }
        }
    }
    return out
}

/// Writes `bytes` to `path` through a temporary file in the same directory: write, fsync, rename, fsync the
/// directory. Readers see the old file or the new one, never a torn one.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let file = try AtomicFileWriter(path: path)
    try bytes.withUnsafeBytes { try file.append($0) }
    try file.commit()
}

/// A file written in pieces that appears at `path` only when complete (`commit`): the pieces go to a temporary
/// file in the same directory, which is fsynced and renamed into place; dropped without `commit`, it is removed.
/// For files too large to hold in memory at once (demonstrations with camera frames).
public final class AtomicFileWriter {
    public let path: String
    private let tmp: String
    private var fd: Int32

    public init(path: String) throws {
        self.path = path
        tmp = path + ".tmp-\(getpid())"
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw ReflexError(.io, "cannot create: \(String(cString: strerror(errno)))", at: .init(file: tmp))
        }
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(tmp)
        }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw ReflexError(.io, "already committed", at: .init(file: path)) }
        var written = 0
        while written < bytes.count {
            let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw ReflexError(.io, "cannot write: \(String(cString: strerror(errno)))", at: .init(file: tmp))
            }
            written += n
        }
    }

    /// Flushes the file to disk and renames it into place.
    public func commit() throws {
        guard fd >= 0 else { throw ReflexError(.io, "already committed", at: .init(file: path)) }
        let synced = fsync(fd) == 0, err = errno
        close(fd)
        fd = -1
        guard synced else {
            unlink(tmp)
            throw ReflexError(.io, "cannot write: \(String(cString: strerror(err)))", at: .init(file: tmp))
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw ReflexError(.io, "cannot rename into place: \(String(cString: strerror(e)))", at: .init(file: path))
        }
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

/// One tensor of a safetensors file written piece by piece (`writeSafetensors(streaming:…)`): its name, element
/// type and shape; the bytes come later, in the file's order.
public struct SafetensorsLayoutEntry: Sendable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    public init(name: String, dtype: SafetensorsDType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
    public var byteCount: Int { shape.reduce(1, *) * dtype.size }
}

/// Writes a safetensors file whose tensors are too large to gather first (or are not F32, e.g. U8 camera frames):
/// the header from `entries` (sorted by name, as `writeSafetensors` lays it out), then each tensor's bytes from
/// `fill(entry, append)`, called once per entry in the file's order; `fill` must append exactly `byteCount` bytes.
/// Atomic like `writeSafetensors`.
public func writeSafetensors(streaming entries: [SafetensorsLayoutEntry], to path: String, metadata: [String: String] = [:],
                             fill: (SafetensorsLayoutEntry, (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
    let sorted = entries.sorted { $0.name < $1.name }
    var seen = Set<String>()
    for e in sorted where !seen.insert(e.name).inserted {
        throw ReflexError(.invalidArgument, "tensor name '\(e.name)' appears twice")
    }
    var members: [(key: String, value: JSONValue)] = []
    if !metadata.isEmpty {
        members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
    }
    var offset = 0
    for e in sorted {
        members.append((e.name, .object([
            ("dtype", .string(e.dtype.rawValue)),
            ("shape", .array(e.shape.map { .number(Double($0)) })),
            ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + e.byteCount))])),
        ])))
        offset += e.byteCount
    }
    var header = Array(JSONValue.object(members).serialized.utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    let file = try AtomicFileWriter(path: path)
    try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try file.append($0) }
    try header.withUnsafeBytes { try file.append($0) }
    for e in sorted {
        var appended = 0
        try fill(e) { bytes in
            appended += bytes.count
            try file.append(bytes)
        }
        guard appended == e.byteCount else {
            throw ReflexError(.shapeMismatch, "tensor '\(e.name)' got \(appended) bytes for its \(e.byteCount)", at: .init(file: path))
        }
    }
    try file.commit()
}

/// Writes F32 tensors and U8 tensors given as byte chunks, appended in order (a demonstration file's camera frames,
/// one chunk per episode), streaming the bytes so a dataset's frames are never joined in memory first.
public func writeSafetensors(_ floats: [(name: String, tensor: Tensor)], bytes: [(name: String, shape: [Int], chunks: [[UInt8]])],
                             to path: String) throws {
    var layout = floats.map { SafetensorsLayoutEntry(name: $0.name, dtype: .f32, shape: $0.tensor.shape) }
    layout += bytes.map { SafetensorsLayoutEntry(name: $0.name, dtype: .u8, shape: $0.shape) }
    try writeSafetensors(streaming: layout, to: path) { entry, append in
        if let t = floats.first(where: { $0.name == entry.name })?.tensor {
            try append(UnsafeRawBufferPointer(start: t.data, count: 4 * t.count))
        } else if let b = bytes.first(where: { $0.name == entry.name }) {
            for chunk in b.chunks { try chunk.withUnsafeBytes { try append($0) } }
        }
    }
}
