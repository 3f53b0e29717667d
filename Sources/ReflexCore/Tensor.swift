#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Memory behind one or more tensors: 64-byte aligned `Float`s that the storage owns, or a borrowed region
/// (a memory-mapped file) kept alive by `owner`.
///
/// Storage is shared by reference, like `torch.Tensor`'s: views alias it, and writes through one are seen
/// by all. Callers that share a tensor across threads order their own accesses.
public final class TensorStorage: @unchecked Sendable {
    /// First element.
    public let base: UnsafeMutablePointer<Float>
    /// Number of `Float`s available from `base`.
    public let capacity: Int
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Allocates `capacity` zeroed floats, aligned to 64 bytes for AVX-512 loads.
    public init(capacity: Int) {
        precondition(capacity >= 0, "negative tensor size")
        let bytes = max(capacity, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        base = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
        self.capacity = capacity
        owner = nil
        ownsMemory = true
    }

    /// Borrows `capacity` floats at `base`, which stay valid as long as `owner` lives.
    public init(borrowing base: UnsafeMutablePointer<Float>, capacity: Int, owner: AnyObject) {
        self.base = base
        self.capacity = capacity
        self.owner = owner
        ownsMemory = false
    }

    deinit {
        if ownsMemory { UnsafeMutableRawPointer(base).deallocate() }
    }
}

/// A dense, contiguous, row-major array of `Float` with a shape.
///
/// `reshaped(_:)`, `rows(_:)` and `flattened()` are views: they share storage without copying. `copy()` makes an
/// independent tensor. Hot paths take `data` (a raw pointer) from tensors made at set-up time.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let storage: TensorStorage
    /// Offset of the first element in `storage`.
    public let offset: Int
    public let shape: [Int]
    /// Number of elements (product of `shape`).
    public let count: Int

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        let count = Tensor.elementCount(shape)
        self.init(storage: TensorStorage(capacity: count), offset: 0, shape: shape, count: count)
    }

    /// A tensor filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        data.update(repeating: value, count: count)
    }

    /// A tensor holding `values` (row-major) in the given shape.
    public init(shape: [Int], values: [Float]) {
        precondition(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) holds \(Tensor.elementCount(shape)) values, got \(values.count)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A 1-D tensor of `values`.
    public init(_ values: [Float]) { self.init(shape: [values.count], values: values) }

    /// A view of existing storage. `offset + count` must fit in it.
    public init(storage: TensorStorage, offset: Int, shape: [Int]) {
        self.init(storage: storage, offset: offset, shape: shape, count: Tensor.elementCount(shape))
    }

    private init(storage: TensorStorage, offset: Int, shape: [Int], count: Int) {
        precondition(offset >= 0 && offset + count <= storage.capacity, "tensor view outside its storage")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = count
    }

    static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "negative dimension in shape \(shape)")
            n *= d
        }
        return n
    }

    /// Pointer to the first element; valid while this tensor (or another reference to its storage) lives.
    /// - Note: Real-time safe.
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.base + offset }

    /// The elements as a buffer pointer (same lifetime rule as `data`).
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    public var rank: Int { shape.count }

    /// The same elements in another shape (a view). One dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[i] = count / known
        }
        precondition(Tensor.elementCount(resolved) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: resolved, count: count)
    }

    /// The tensor as one dimension (a view).
    public func flattened() -> Tensor { reshaped([count]) }

    /// Rows `range` along the first dimension (a view).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) outside \(shape)")
        let rowSize = shape[0] == 0 ? 0 : count / shape[0]
        var newShape = shape
        newShape[0] = range.count
        return Tensor(storage: storage, offset: offset + range.lowerBound * rowSize, shape: newShape,
                      count: range.count * rowSize)
    }

    /// Row `i` along the first dimension, with that dimension dropped (a view).
    public func row(_ i: Int) -> Tensor {
        let r = rows(i ..< i + 1)
        return r.reshaped(Array(shape.dropFirst()))
    }

    /// An independent copy.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Copies `other`'s elements into this tensor's storage (shapes must have the same element count).
    /// - Note: Real-time safe.
    public func assign(from other: Tensor) {
        precondition(other.count == count, "assigning \(other.shape) to \(shape)")
        data.update(from: other.data, count: count)
    }

    /// Sets every element to `value`.
    /// - Note: Real-time safe.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// The elements as an array (a copy).
    public var scalars: [Float] { Array(buffer) }

    /// Element at a multi-index (row-major); bounds are checked.
    public subscript(_ index: Int...) -> Float {
        get { data[flatIndex(index)] }
        nonmutating set { data[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) outside shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    public var description: String {
        let preview = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(\(shape): [\(preview)\(count > 8 ? ", …" : "")])"
    }

    /// Largest absolute elementwise difference to `other` (same count).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(other.count == count)
        var m: Float = 0
        for i in 0 ..< count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}
