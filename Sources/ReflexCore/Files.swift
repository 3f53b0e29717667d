#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// mkdir -p.
public func makeDirectory(_ path: String) throws {
    var built = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        built += "/" + part
        if isDirectory(built) { continue }
        if mkdir(built, 0o755) != 0 && errno != EEXIST {
            throw ReflexError(.io, "cannot create directory: \(String(cString: strerror(errno)))", at: .init(file: built))
        }
    }
}
