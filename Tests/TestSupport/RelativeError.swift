import ReflexCore

/// max |a − b| / max |b|: the error relative to the reference's scale (element-wise ratios blow up near zero).
public func relativeError(_ a: UnsafePointer<Float>, _ b: Tensor) -> Float {
    var diff: Float = 0, scale: Float = 0
    for i in 0 ..< b.count {
        diff = max(diff, abs(a[i] - b.data[i]))
        scale = max(scale, abs(b.data[i]))
    }
    return diff / max(scale, 1e-30)
}
