import Foundation
import ReflexCore
import Testing

@Suite struct SafetensorsTests {
    @Test func readsPythonsFileBitExactly() throws {
        let file = try SafetensorsFile(path: fixtures + "/python.safetensors")
        let expected = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: fixtures + "/python.expected.json"))) as! [String: [String: Any]]
        #expect(file.metadata["made_by"] == "make_safetensors_fixture.py")
        #expect(Set(file.names) == Set(expected.keys))
        for (name, info) in expected {
            let t = try file.tensor(name)
            #expect(t.shape == info["shape"] as! [Int], "\(name)")
            let bits = (info["bits"] as! [NSNumber]).map { UInt32(truncating: $0) }
            #expect(t.scalars.map(\.bitPattern) == bits, "\(name) differs from torch's float32 conversion")
        }
        #expect(file.entry("bf16.matrix")?.dtype == .bf16)
        #expect(file.entry("f16.special")?.dtype == .f16)
    }

    @Test func writesAndReadsBackInEveryStorageType() throws {
        let dir = try temporaryDirectory()
        var gen = RandomGenerator(seed: 5)
        let a = Tensor(zeros: [4, 3])
        gen.fillGaussian(a)
        let b = Tensor(shape: [2], values: [1.5, -0.25])
        for dtype in [SafetensorsStorageType.f32, .f16, .bf16] {
            let path = dir + "/t-\(dtype.rawValue).safetensors"
            try writeSafetensors([("b", b), ("a", a)], to: path, metadata: ["k": "v"], dtype: dtype)
            let f = try SafetensorsFile(path: path)
            #expect(f.names == ["a", "b"]) // sorted, like Python's writer
            #expect(f.metadata == ["k": "v"])
            #expect(f.dataOffset % 8 == 0)
            let tol: Float = dtype == .f32 ? 0 : (dtype == .f16 ? 2e-3 : 2e-2)
            #expect(try f.tensor("a").maxAbsDifference(a) <= tol * 4)
            #expect(try f.tensor("b").scalars == [1.5, -0.25]) // exactly representable in all three
        }
    }

    @Test func f32TensorsAreViewsOfTheMappedFile() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/v.safetensors"
        try writeSafetensors([("w", Tensor(shape: [2, 2], values: [1, 2, 3, 4]))], to: path)
        let f = try SafetensorsFile(path: path)
        let w = try f.tensor("w")
        w[0, 0] = 99 // private mapping: the file must not change
        #expect(try SafetensorsFile(path: path).tensor("w")[0, 0] == 1)
    }

    // MARK: bad files, one clear error each

    private func write(_ bytes: [UInt8]) throws -> String {
        let path = try temporaryDirectory() + "/bad.safetensors"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func file(header: String, data: [UInt8], declaredLength: UInt64? = nil) throws -> String {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
        return try write(out + h + data)
    }

    @Test func truncatedBeforeTheHeaderLength() throws {
        let e = reflexError { _ = try SafetensorsFile(path: try write([1, 2, 3])) }
        #expect(e?.code == .safetensorsTruncated)
        #expect(e?.location.byteOffset == 0)
    }

    @Test func headerLengthPastTheEnd() throws {
        let path = try file(header: "{}", data: [], declaredLength: 1 << 40)
        let e = reflexError { _ = try SafetensorsFile(path: path) }
        #expect(e?.code == .safetensorsTruncated)
        #expect(e?.message.contains("past the end") == true)
    }

    @Test func badJSONNamesItsByteOffset() throws {
        let path = try file(header: #"{"a": {"dtype": "F32",, }}"#, data: [])
        let e = reflexError { _ = try SafetensorsFile(path: path) }
        #expect(e?.code == .safetensorsHeader)
        #expect(e?.location.byteOffset == 8 + 22) // the second comma
    }

    @Test func unknownDType() throws {
        let path = try file(header: #"{"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0])
        let e = reflexError { _ = try SafetensorsFile(path: path) }
        #expect(e?.code == .safetensorsUnknownDType)
        #expect(e?.location.element == "tensor 'w'")
    }

    @Test func shapeThatDoesNotMatchItsBytes() throws {
        let path = try file(header: #"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: Array(repeating: 0, count: 8))
        let e = reflexError { _ = try SafetensorsFile(path: path) }
        #expect(e?.code == .safetensorsShapeMismatch)
        #expect(e?.description.contains("tensor 'w'") == true)
    }

    @Test func overlappingOffsets() throws {
        let header = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#
        let path = try file(header: header, data: Array(repeating: 0, count: 12))
        let e = reflexError { _ = try SafetensorsFile(path: path) }
        #expect(e?.code == .safetensorsOverlap)
        #expect(e?.location.element == "tensor 'b'")
    }

    @Test func rangePastTheDataSection() throws {
        let path = try file(header: #"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, data: Array(repeating: 0, count: 10))
        let e = reflexError { _ = try SafetensorsFile(path: path) }
        #expect(e?.code == .safetensorsOutOfRange)
    }

    @Test func bytesNoTensorCovers() throws {
        let path = try file(header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: Array(repeating: 0, count: 8))
        let e = reflexError { _ = try SafetensorsFile(path: path) }
        #expect(e?.code == .safetensorsGap)
    }

    @Test func headerThatIsNotAnObject() throws {
        let e = reflexError { _ = try SafetensorsFile(path: try file(header: "[1, 2]", data: [])) }
        #expect(e?.code == .safetensorsHeader)
    }

    @Test func missingFileAndMissingTensor() throws {
        #expect(reflexError { _ = try SafetensorsFile(path: "/nonexistent/x.safetensors") }?.code == .fileNotFound)
        let f = try SafetensorsFile(path: fixtures + "/python.safetensors")
        #expect(reflexError { _ = try f.tensor("nope") }?.code == .safetensorsMissingTensor)
    }

    @Test func integerTensorsValidateButAreNotReadAsFloat() throws {
        let path = try file(header: #"{"i": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}"#, data: Array(repeating: 0, count: 8))
        let f = try SafetensorsFile(path: path)
        #expect(reflexError { _ = try f.tensor("i") }?.code == .safetensorsUnsupportedDType)
    }

    @Test func everyTruncationOfAValidFileIsRefusedCleanly() throws {
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixtures + "/python.safetensors")))
        for n in stride(from: 0, to: good.count, by: 7) {
            let path = try write(Array(good[0 ..< n]))
            let e = reflexError { _ = try SafetensorsFile(path: path) }
            #expect(e != nil, "prefix of \(n) bytes was accepted")
        }
    }
}

@Suite struct JSONTests {
    @Test func parsesNestedValues() throws {
        let v = try JSONParser.parse(#"{"a": [1, 2.5e1, -3], "b": {"c": "x\u00e9\n"}, "d": null, "e": true}"#)
        #expect(v["a"] == .array([.number(1), .number(25), .number(-3)]))
        #expect(v["b"]?["c"] == .string("xé\n"))
        #expect(v["d"] == .null)
        #expect(v["e"] == .bool(true))
    }

    @Test func errorsCarryTheirByteOffset() {
        let cases: [(String, Int)] = [("{\"a\" 1}", 5), ("[1, 2", 5), ("{\"a\": 1, \"a\": 2}", 9), ("tru", 0), ("\"abc", 4)]
        for (text, offset) in cases {
            let e = reflexError { _ = try JSONParser.parse(text) }
            #expect(e?.code == .invalidJSON, "\(text)")
            #expect(e?.location.byteOffset == offset, "\(text): \(String(describing: e))")
        }
    }
}

/// The streaming writer (large and non-F32 tensors, e.g. camera frames).
@Suite struct SafetensorsStreamingTests {
    @Test func streamingLaysOutTheFileAsTheInMemoryWriterDoes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-stream-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), b = Tensor(shape: [1], values: [-7])
        try writeSafetensors([("b", b), ("a", a)], to: dir + "/whole.safetensors", metadata: ["k": "v"])
        let entries = [SafetensorsLayoutEntry(name: "b", dtype: .f32, shape: [1]), SafetensorsLayoutEntry(name: "a", dtype: .f32, shape: [2, 3])]
        try writeSafetensors(streaming: entries, to: dir + "/streamed.safetensors", metadata: ["k": "v"]) { e, append in
            let t = e.name == "a" ? a : b
            for i in 0 ..< t.count { try append(UnsafeRawBufferPointer(start: t.data + i, count: 4)) } // in pieces
        }
        #expect(try readFile(dir + "/whole.safetensors") == readFile(dir + "/streamed.safetensors"))

        let frames: [UInt8] = (0 ..< 24).map { UInt8($0 * 10) }
        try writeSafetensors(streaming: [SafetensorsLayoutEntry(name: "images.front", dtype: .u8, shape: [2, 2, 2, 3])],
                             to: dir + "/u8.safetensors") { _, append in try frames.withUnsafeBytes { try append($0) } }
        let u8 = try SafetensorsFile(path: dir + "/u8.safetensors")
        #expect(u8.entry("images.front")?.dtype == .u8)
        #expect(try u8.rawBytes("images.front") == frames)
    }

    /// A tensor given the wrong number of bytes is an error naming it, and nothing appears at the path.
    @Test func aShortTensorIsRefusedAndLeavesNoFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-short-\(UUID().uuidString).safetensors").path
        #expect(throws: ReflexError.self) {
            try writeSafetensors(streaming: [SafetensorsLayoutEntry(name: "x", dtype: .u8, shape: [4])], to: path) { _, append in
                try [UInt8](repeating: 1, count: 3).withUnsafeBytes { try append($0) }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        let dir = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasPrefix((path as NSString).lastPathComponent) })
    }
}
