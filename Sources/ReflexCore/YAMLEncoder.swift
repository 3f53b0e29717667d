/// Encodes `Encodable` values as YAML (block mappings, flow lists for lists of scalars), the inverse of
/// `YAMLDecoder` with the same key style. Floats print in their shortest round-tripping form, so a value written and
/// read back is bit-identical.
public struct YAMLEncoder {
    public var keyStyle: YAMLDecoder.KeyStyle

    public init(keyStyle: YAMLDecoder.KeyStyle = .snakeCase) { self.keyStyle = keyStyle }

    public func encode<T: Encodable>(_ value: T) throws -> String {
        let box = YAMLBox()
        try value.encode(to: _YAMLEncoder(box: box, keyStyle: keyStyle, codingPath: []))
        var out = ""
        box.value.render(into: &out, indent: 0, inList: false)
        return out
    }
}

/// A YAML value under construction.
indirect enum YAMLValue {
    case scalar(String)
    case list([YAMLBox])
    case map([(String, YAMLBox)])
    case empty

    var isScalar: Bool { if case .scalar = self { return true } else { return false } }

    func render(into out: inout String, indent: Int, inList: Bool) {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .empty, .scalar:
            out += inlineText + "\n"
        case let .list(items):
            if items.isEmpty { out += "[]\n"; return }
            if items.allSatisfy({ $0.value.isScalar }) {
                out += "[" + items.map(\.value.inlineText).joined(separator: ", ") + "]\n"
                return
            }
            if !inList { out += "\n" }
            for (i, item) in items.enumerated() {
                out += (i == 0 && inList ? "" : pad) + "- "
                item.value.render(into: &out, indent: indent + 2, inList: true)
            }
        case let .map(pairs):
            if pairs.isEmpty { out += "{}\n"; return }
            if indent > 0 && !inList { out += "\n" }
            for (i, (key, value)) in pairs.enumerated() {
                out += (i == 0 && inList ? "" : pad) + key + ":"
                switch value.value {
                case .scalar, .empty: out += " "; value.value.render(into: &out, indent: indent + 2, inList: false)
                case .list(let items) where items.isEmpty || items.allSatisfy({ $0.value.isScalar }):
                    out += " "; value.value.render(into: &out, indent: indent + 2, inList: false)
                case .map(let p) where p.isEmpty: out += " {}\n"
                default: value.value.render(into: &out, indent: indent + 2, inList: false)
                }
            }
        }
    }

    var inlineText: String {
        switch self {
        case let .scalar(s): return s
        case .empty: return "null"
        case let .list(items): return "[" + items.map(\.value.inlineText).joined(separator: ", ") + "]"
        case let .map(pairs): return "{" + pairs.map { "\($0.0): \($0.1.value.inlineText)" }.joined(separator: ", ") + "}"
        }
    }
}

final class YAMLBox {
    var value: YAMLValue = .empty
}

private func quoteIfNeeded(_ s: String) -> String {
    let special: Set<Character> = [":", "#", "[", "]", "{", "}", ",", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`", "\n"]
    let reserved = ["", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes", "no", "on", "off"]
    let looksNumeric = Double(s) != nil || s.hasPrefix(".") || s.hasPrefix("-") || s.hasPrefix("+")
    if reserved.contains(s) || looksNumeric || s.contains(where: { special.contains($0) }) || s.first == " " || s.last == " " {
        return JSONValue.quote(s)
    }
    return s
}

private func floatText<F: BinaryFloatingPoint & LosslessStringConvertible>(_ v: F) -> String {
    if v.isNaN { return ".nan" }
    if v.isInfinite { return v < 0 ? "-.inf" : ".inf" }
    return v.description
}

struct _YAMLEncoder: Encoder {
    let box: YAMLBox
    let keyStyle: YAMLDecoder.KeyStyle
    var codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .map = box.value {} else { box.value = .map([]) }
        return KeyedEncodingContainer(YAMLKeyedEncoder<Key>(encoder: self))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if case .list = box.value {} else { box.value = .list([]) }
        return YAMLUnkeyedEncoder(encoder: self)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { YAMLSingleEncoder(encoder: self) }

    func child(_ key: CodingKey?) -> (_YAMLEncoder, YAMLBox) {
        let b = YAMLBox()
        return (_YAMLEncoder(box: b, keyStyle: keyStyle, codingPath: codingPath + (key.map { [$0] } ?? [])), b)
    }

    func encodeScalar<T: Encodable>(_ value: T, into b: YAMLBox) throws {
        switch value {
        case let v as String: b.value = .scalar(quoteIfNeeded(v))
        case let v as Bool: b.value = .scalar(v ? "true" : "false")
        case let v as Float: b.value = .scalar(floatText(v))
        case let v as Double: b.value = .scalar(floatText(v))
        case let v as any BinaryInteger: b.value = .scalar("\(v)")
        default:
            let (e, _) = child(nil)
            try value.encode(to: _YAMLEncoder(box: b, keyStyle: keyStyle, codingPath: e.codingPath))
        }
    }
}

struct YAMLKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: _YAMLEncoder
    var codingPath: [CodingKey] { encoder.codingPath }

    private func append(_ key: Key, _ b: YAMLBox) {
        guard case var .map(pairs) = encoder.box.value else { return }
        let name = encoder.keyStyle == .snakeCase ? snakeCase(key.stringValue) : key.stringValue
        pairs.append((quoteIfNeeded(name), b))
        encoder.box.value = .map(pairs)
    }

    mutating func encodeNil(forKey key: Key) throws { append(key, YAMLBox()) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let b = YAMLBox()
        try encoder.encodeScalar(value, into: b)
        append(key, b)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let (e, b) = encoder.child(key)
        append(key, b)
        return e.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let (e, b) = encoder.child(key)
        append(key, b)
        return e.unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> Encoder {
        let (e, b) = encoder.child(key)
        append(key, b)
        return e
    }
}

struct YAMLUnkeyedEncoder: UnkeyedEncodingContainer {
    let encoder: _YAMLEncoder
    var codingPath: [CodingKey] { encoder.codingPath }
    var count: Int {
        if case let .list(items) = encoder.box.value { return items.count }
        return 0
    }

    private func append(_ b: YAMLBox) {
        guard case var .list(items) = encoder.box.value else { return }
        items.append(b)
        encoder.box.value = .list(items)
    }

    mutating func encodeNil() throws { append(YAMLBox()) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let b = YAMLBox()
        try encoder.encodeScalar(value, into: b)
        append(b)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let (e, b) = encoder.child(nil)
        append(b)
        return e.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let (e, b) = encoder.child(nil)
        append(b)
        return e.unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder {
        let (e, b) = encoder.child(nil)
        append(b)
        return e
    }
}

struct YAMLSingleEncoder: SingleValueEncodingContainer {
    let encoder: _YAMLEncoder
    var codingPath: [CodingKey] { encoder.codingPath }
    mutating func encodeNil() throws { encoder.box.value = .empty }
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeScalar(value, into: encoder.box) }
}
