/// The error every cold path in Reflex throws: a code to branch on, a message for people, where it happened
/// (file, line, key, byte offset, element) and what caused it.
///
/// Codes are open: each module adds its own as static constants (see `ReflexError.Code`), so one type serves
/// files, configs, devices and checkpoints without a module knowing the others.
public struct ReflexError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a stable identifier tests and callers can match on.
    public struct Code: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
    }

    /// Where in the outside data the problem is. Every field is optional; those present are printed.
    public struct Location: Sendable, Equatable {
        public var file: String?
        public var line: Int?
        public var column: Int?
        /// A dotted key path into a YAML/JSON document, e.g. `joints[2].limits.velocity`.
        public var keyPath: String?
        /// Byte offset into a binary file or stream.
        public var byteOffset: Int?
        /// The named thing: a tensor, a URDF element, a servo id.
        public var element: String?

        public init(file: String? = nil, line: Int? = nil, column: Int? = nil, keyPath: String? = nil,
                    byteOffset: Int? = nil, element: String? = nil) {
            self.file = file
            self.line = line
            self.column = column
            self.keyPath = keyPath
            self.byteOffset = byteOffset
            self.element = element
        }
    }

    public var code: Code
    public var message: String
    public var location: Location
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, at location: Location = Location(), cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.cause = cause
    }

    public var description: String {
        var prefix = ""
        if let file = location.file {
            prefix = file
            if let line = location.line {
                prefix += ":\(line)"
                if let column = location.column { prefix += ":\(column)" }
            }
            prefix += ": "
        }
        var text = prefix
        if let keyPath = location.keyPath, !keyPath.isEmpty { text += "key '\(keyPath)': " }
        if let element = location.element { text += "\(element): " }
        text += message
        if let offset = location.byteOffset { text += " (byte offset \(offset))" }
        if let cause { text += " [cause: \(cause)]" }
        return text
    }
}

extension ReflexError.Code {
    public static let fileNotFound = Self("fileNotFound")
    public static let io = Self("io")
    public static let invalidArgument = Self("invalidArgument")
    public static let shapeMismatch = Self("shapeMismatch")
}

extension ReflexError {
    /// A copy with the file filled in when the thrower did not know it.
    public func inFile(_ file: String) -> ReflexError {
        var copy = self
        if copy.location.file == nil { copy.location.file = file }
        return copy
    }
}
