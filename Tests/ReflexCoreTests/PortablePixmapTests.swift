import ReflexCore
import Testing

@Suite struct PortablePixmapTests {
    @Test func colourAndGreyDecodeChannelMajor() throws {
        // 2×1 P6 with a comment: pixels (255, 0, 51) and (0, 255, 102).
        let p6 = Array("P6\n# camera\n2 1\n255\n".utf8) + [255, 0, 51, 0, 255, 102]
        let t = try PortablePixmap.decode(p6)
        #expect(t.shape == [3, 1, 2])
        #expect(t.scalars == [1, 0, 0, 1, Float(51) / 255, Float(102) / 255])
        let p5 = Array("P5 1 2 15 ".utf8) + [15, 3]
        let g = try PortablePixmap.decode(p5)
        #expect(g.shape == [1, 2, 1] && g.scalars == [1, Float(3) / 15])
    }

    @Test func badFilesSayWhatAndWhere() {
        for (bytes, mention) in [(Array("P3\n1 1\n255\n0 0 0".utf8), "P6 or P5"),
                                 (Array("P6\n2 2\n255\n".utf8) + [1, 2, 3], "truncated"),
                                 (Array("P6\n1 1\n65535\n".utf8) + [0, 0, 0, 0, 0, 0], "maxval"),
                                 (Array("P6\nx 1\n255\n".utf8), "width")] {
            #expect {
                try PortablePixmap.decode(bytes)
            } throws: { e in
                guard let e = e as? ReflexError else { return false }
                return e.code == .invalidImage && e.description.contains(mention) && e.location.byteOffset != nil
            }
        }
    }
}
