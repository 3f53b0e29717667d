import CBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ReflexError.Code {
    /// The text is not well-formed YAML.
    public static let yamlSyntax = Self("yamlSyntax")
    /// A required key is absent.
    public static let yamlMissingKey = Self("yamlMissingKey")
    /// A key the target type does not know (usually a typo).
    public static let yamlUnknownKey = Self("yamlUnknownKey")
    /// A value of the wrong kind (a list where a number belongs, "abc" for a number, …).
    public static let yamlType = Self("yamlType")
    /// A value that parses but is not allowed (a negative size, an unknown enum case, …).
    public static let invalidValue = Self("invalidValue")
}

/// A parsed YAML document: a tree of scalars, sequences and mappings with their line and column.
public struct YAMLNode: Sendable {
    public enum Kind: Sendable { case scalar, sequence, mapping }
    public var kind: Kind
    public var scalar: String
    /// Unquoted scalar (only plain scalars can mean null, a bool or a number by their spelling).
    public var plain: Bool
    public var line: Int
    public var column: Int
    /// Position of the node in its document (unique within it).
    public var id: Int
    /// Sequence items, or mapping keys and values alternating.
    public var children: [YAMLNode]

    /// Parses the first document of `text`; `file` names it in errors.
    public static func parse(_ text: String, file: String? = nil) throws -> YAMLNode? {
        var bytes = Array(text.utf8)
        var message = [CChar](repeating: 0, count: 256)
        var line = 0, column = 0
        let doc: OpaquePointer? = bytes.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { c in
                rx_yaml_parse(c.baseAddress, c.count, &message, message.count, &line, &column)
            }
        }
        guard let doc else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ReflexError(.yamlSyntax, text, at: .init(file: file, line: line, column: column))
        }
        defer { rx_yaml_free(doc) }
        let count = rx_yaml_node_count(doc)
        guard count > 0, let nodes = rx_yaml_nodes(doc) else { return nil }
        let children = rx_yaml_children(doc)
        func build(_ i: Int) -> YAMLNode {
            let n = nodes[i]
            var node = YAMLNode(kind: .scalar, scalar: "", plain: n.plain != 0, line: n.line, column: n.column, id: i,
                                children: [])
            switch n.kind {
            case RX_YAML_SEQUENCE: node.kind = .sequence
            case RX_YAML_MAPPING: node.kind = .mapping
            default:
                node.kind = .scalar
                if let s = n.scalar {
                    node.scalar = String(decoding: UnsafeRawBufferPointer(start: s, count: n.scalar_length), as: UTF8.self)
                }
            }
            if node.kind != .scalar, let children {
                node.children = (0 ..< n.child_count).map { build(children[n.first_child + $0]) }
            }
            return node
        }
        return build(0)
    }

    /// True for an unquoted `null`, `~`, `Null`, `NULL` or empty scalar.
    var isNull: Bool {
        kind == .scalar && plain && ["", "~", "null", "Null", "NULL"].contains(scalar)
    }

    /// Mapping entries as (key node, value node).
    var pairs: [(key: YAMLNode, value: YAMLNode)] {
        stride(from: 0, to: children.count - 1, by: 2).map { (children[$0], children[$0 + 1]) }
    }
}

/// Decodes `Decodable` types from YAML (parsed by libyaml through CBridge). Errors are `ReflexError`s that
/// name the file, the line and column, and the key path.
///
/// By default a mapping key the type does not read is an error (`yamlUnknownKey`): a misspelled
/// `velocity_limit` in a robot file should stop the program, not be silently ignored.
public struct YAMLDecoder {
    /// Reject keys the decoded type never asks for.
    public var rejectUnknownKeys = true
    /// How Swift property names map to keys: `.snakeCase` reads `maxVelocity` from `max_velocity`.
    public enum KeyStyle: Sendable { case asIs, snakeCase }
    public var keyStyle: KeyStyle = .snakeCase

    public init(rejectUnknownKeys: Bool = true, keyStyle: KeyStyle = .snakeCase) {
        self.rejectUnknownKeys = rejectUnknownKeys
        self.keyStyle = keyStyle
    }

    /// Decodes `type` from YAML text.
    public func decode<T: Decodable>(_ type: T.Type, from text: String, file: String? = nil) throws -> T {
        let root = try YAMLNode.parse(text, file: file)
            ?? YAMLNode(kind: .mapping, scalar: "", plain: false, line: 1, column: 1, id: 0, children: [])
        let context = YAMLDecodingContext(file: file, keyStyle: keyStyle)
        let decoder = _YAMLDecoder(node: root, path: [], context: context)
        let value: T
        do {
            value = try T(from: decoder)
        } catch let e as ReflexError {
            throw e
        } catch let e as DecodingError {
            throw context.convert(e, root: root)
        }
        if rejectUnknownKeys, let unknown = context.firstUnread(in: root, path: []) {
            throw unknown
        }
        return value
    }

    /// Reads and decodes a YAML file.
    public func decode<T: Decodable>(_ type: T.Type, fromFile path: String) throws -> T {
        try decode(type, from: try readTextFile(path), file: path)
    }
}

/// Reads a whole UTF-8 text file, with a clear error when it is missing or unreadable.
public func readTextFile(_ path: String) throws -> String {
    String(decoding: try readFile(path), as: UTF8.self)
}

/// Reads a whole file's bytes.
public func readFile(_ path: String) throws -> [UInt8] {
    guard let f = fopen(path, "rb") else {
        let code: ReflexError.Code = errno == ENOENT ? .fileNotFound : .io
        throw ReflexError(code, "cannot open: \(String(cString: strerror(errno)))", at: .init(file: path))
    }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n > 0 { out.append(contentsOf: chunk[0 ..< n]) }
        if n < chunk.count {
            if ferror(f) != 0 {
                throw ReflexError(.io, "read failed (is it a directory?)", at: .init(file: path))
            }
            break
        }
    }
    return out
}

/// Shared state of one decode: which mapping values were read (for unknown-key detection).
final class YAMLDecodingContext {
    let file: String?
    let keyStyle: YAMLDecoder.KeyStyle
    /// Ids of every mapping value node a keyed container looked at, and every mapping whose keys were
    /// enumerated (`allKeys`, as dictionaries do).
    var read = Set<Int>()
    var enumerated = Set<Int>()

    init(file: String?, keyStyle: YAMLDecoder.KeyStyle) {
        self.file = file
        self.keyStyle = keyStyle
    }

    static func id(_ node: YAMLNode) -> Int { node.id }

    func location(_ node: YAMLNode, _ path: [CodingKey]) -> ReflexError.Location {
        .init(file: file, line: node.line, column: node.column, keyPath: renderPath(path))
    }

    func firstUnread(in node: YAMLNode, path: [CodingKey]) -> ReflexError? {
        switch node.kind {
        case .scalar: return nil
        case .sequence:
            for (i, child) in node.children.enumerated() {
                if let e = firstUnread(in: child, path: path + [YAMLKey(index: i)]) { return e }
            }
            return nil
        case .mapping:
            let all = enumerated.contains(YAMLDecodingContext.id(node))
            for (key, value) in node.pairs {
                let keyPath = path + [YAMLKey(stringValue: key.scalar)]
                if !all && !read.contains(YAMLDecodingContext.id(value)) {
                    return ReflexError(.yamlUnknownKey, "unknown key '\(key.scalar)'",
                                       at: location(key, keyPath))
                }
                if let e = firstUnread(in: value, path: keyPath) { return e }
            }
            return nil
        }
    }

    func convert(_ error: DecodingError, root: YAMLNode) -> ReflexError {
        switch error {
        case let .keyNotFound(key, ctx):
            return ReflexError(.yamlMissingKey, "missing key '\(yamlKey(key.stringValue))'",
                               at: .init(file: file, keyPath: renderPath(ctx.codingPath + [key])))
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .dataCorrupted(ctx):
            return ReflexError(.invalidValue, ctx.debugDescription,
                               at: .init(file: file, keyPath: renderPath(ctx.codingPath)))
        @unknown default:
            return ReflexError(.invalidValue, "\(error)", at: .init(file: file))
        }
    }

    func yamlKey(_ swiftName: String) -> String {
        keyStyle == .snakeCase ? snakeCase(swiftName) : swiftName
    }

    func renderPath(_ path: [CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue { out += "[\(i)]" } else {
                out += (out.isEmpty ? "" : ".") + yamlKey(key.stringValue)
            }
        }
        return out
    }
}

/// `maxVelocity` → `max_velocity`; `joint1Pos` → `joint1_pos`; names already in snake case are unchanged.
func snakeCase(_ name: String) -> String {
    var out = ""
    var previousWasLowerOrDigit = false
    for ch in name {
        if ch.isUppercase {
            if previousWasLowerOrDigit { out.append("_") }
            out.append(contentsOf: ch.lowercased())
            previousWasLowerOrDigit = false
        } else {
            out.append(ch)
            previousWasLowerOrDigit = ch.isLowercase || ch.isNumber
        }
    }
    return out
}

struct YAMLKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = "\(intValue)"
        self.intValue = intValue
    }
    init(index: Int) { self.init(intValue: index) }
}

struct _YAMLDecoder: Decoder {
    let node: YAMLNode
    let path: [CodingKey]
    let context: YAMLDecodingContext
    var codingPath: [CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func typeError(_ expected: String) -> ReflexError {
        let found: String
        switch node.kind {
        case .scalar: found = node.isNull ? "null" : "'\(node.scalar)'"
        case .sequence: found = "a list"
        case .mapping: found = "a mapping"
        }
        return ReflexError(.yamlType, "expected \(expected), found \(found)", at: context.location(node, path))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard node.kind == .mapping else { throw typeError("a mapping") }
        return KeyedDecodingContainer(YAMLKeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard node.kind == .sequence else { throw typeError("a list") }
        return YAMLUnkeyedContainer(decoder: self)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { YAMLSingleValueContainer(decoder: self) }
}

struct YAMLKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: _YAMLDecoder
    let entries: [String: (key: YAMLNode, value: YAMLNode)]

    init(decoder: _YAMLDecoder) {
        self.decoder = decoder
        var entries: [String: (key: YAMLNode, value: YAMLNode)] = [:]
        for pair in decoder.node.pairs where entries[pair.key.scalar] == nil { entries[pair.key.scalar] = pair }
        self.entries = entries
    }

    var codingPath: [CodingKey] { decoder.path }

    var allKeys: [Key] {
        decoder.context.enumerated.insert(YAMLDecodingContext.id(decoder.node))
        return decoder.node.pairs.compactMap { Key(stringValue: $0.key.scalar) }
    }

    private func name(_ key: Key) -> String {
        // Dictionary keys (from allKeys) are used as they are; property names follow the key style.
        if entries[key.stringValue] != nil { return key.stringValue }
        return decoder.context.yamlKey(key.stringValue)
    }

    func contains(_ key: Key) -> Bool { entries[name(key)] != nil }

    private func child(_ key: Key) throws -> _YAMLDecoder {
        guard let entry = entries[name(key)] else {
            throw ReflexError(.yamlMissingKey, "missing key '\(name(key))'",
                              at: decoder.context.location(decoder.node, decoder.path + [key]))
        }
        decoder.context.read.insert(YAMLDecodingContext.id(entry.value))
        return _YAMLDecoder(node: entry.value, path: decoder.path + [key], context: decoder.context)
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let entry = entries[name(key)] else { return true }
        decoder.context.read.insert(YAMLDecodingContext.id(entry.value))
        return entry.value.isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try child(key).decodeValue(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let entry = entries[name(key)] else { return nil }
        decoder.context.read.insert(YAMLDecodingContext.id(entry.value))
        if entry.value.isNull { return nil }
        return try child(key).decodeValue(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
    func superDecoder() throws -> Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

struct YAMLUnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: _YAMLDecoder
    var currentIndex = 0
    var codingPath: [CodingKey] { decoder.path }
    var count: Int? { decoder.node.children.count }
    var isAtEnd: Bool { currentIndex >= decoder.node.children.count }

    init(decoder: _YAMLDecoder) { self.decoder = decoder }

    private mutating func next() throws -> _YAMLDecoder {
        guard !isAtEnd else {
            throw ReflexError(.yamlType, "list has only \(decoder.node.children.count) items",
                              at: decoder.context.location(decoder.node, decoder.path))
        }
        let d = _YAMLDecoder(node: decoder.node.children[currentIndex], path: decoder.path + [YAMLKey(index: currentIndex)],
                             context: decoder.context)
        currentIndex += 1
        return d
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return true }
        if decoder.node.children[currentIndex].isNull {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(type) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}

struct YAMLSingleValueContainer: SingleValueDecodingContainer {
    let decoder: _YAMLDecoder
    var codingPath: [CodingKey] { decoder.path }
    func decodeNil() -> Bool { decoder.node.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeBool() }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeString() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeDouble() }
    func decode(_ type: Float.Type) throws -> Float { Float(try decoder.decodeDouble()) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeInteger(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeInteger(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeInteger(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeInteger(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeInteger(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeInteger(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeInteger(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeInteger(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeInteger(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeInteger(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type) }
}

extension _YAMLDecoder {
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is Bool.Type: return try decodeBool() as! T
        case is String.Type: return try decodeString() as! T
        case is Double.Type: return try decodeDouble() as! T
        case is Float.Type: return Float(try decodeDouble()) as! T
        case is Int.Type: return try decodeInteger(Int.self) as! T
        case is UInt8.Type: return try decodeInteger(UInt8.self) as! T
        case is UInt16.Type: return try decodeInteger(UInt16.self) as! T
        case is Int32.Type: return try decodeInteger(Int32.self) as! T
        case is UInt32.Type: return try decodeInteger(UInt32.self) as! T
        case is Int64.Type: return try decodeInteger(Int64.self) as! T
        case is UInt64.Type: return try decodeInteger(UInt64.self) as! T
        default:
            do {
                return try T(from: self)
            } catch let e as DecodingError {
                // Enums and custom inits report through DecodingError; give them a location.
                if case let .dataCorrupted(ctx) = e {
                    throw ReflexError(.invalidValue, ctx.debugDescription, at: context.location(node, path))
                }
                throw e
            }
        }
    }

    func scalarText(_ expected: String) throws -> String {
        guard node.kind == .scalar, !node.isNull else { throw typeError(expected) }
        return node.scalar
    }

    func decodeBool() throws -> Bool {
        let s = try scalarText("true or false")
        switch s {
        case "true", "True", "TRUE", "yes", "Yes", "on": return true
        case "false", "False", "FALSE", "no", "No", "off": return false
        default: throw typeError("true or false")
        }
    }

    func decodeString() throws -> String {
        guard node.kind == .scalar else { throw typeError("a string") }
        return node.scalar
    }

    func decodeDouble() throws -> Double {
        let s = try scalarText("a number")
        switch s {
        case ".inf", ".Inf", ".INF", "+.inf", "inf": return .infinity
        case "-.inf", "-.Inf", "-.INF", "-inf": return -.infinity
        case ".nan", ".NaN", ".NAN", "nan": return .nan
        default:
            guard let v = Double(s.replacingOccurrences(of: "_", with: "")) else { throw typeError("a number") }
            return v
        }
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let s = try scalarText("an integer").replacingOccurrences(of: "_", with: "")
        if let v = T(s) { return v }
        if s.hasPrefix("0x"), let v = T(s.dropFirst(2), radix: 16) { return v }
        if let d = Double(s), d == d.rounded(), let v = T(exactly: d) { return v }
        throw typeError("an integer in \(T.min)...\(T.max)")
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
