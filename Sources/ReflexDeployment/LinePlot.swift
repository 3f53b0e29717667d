import Foundation
import ReflexCore

/// Minimal SVG line charts for loss curves, learning curves and evaluation summaries (no plotting library exists
/// for Swift on Linux here, and an SVG opens in any browser).
public struct LinePlot: Sendable {
    /// One line, with an optional shaded band.
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Optional lower/upper band (same x as points), drawn shaded.
        public var band: [(low: Double, high: Double)]?
        public var markers = false

        public init(name: String, points: [(x: Double, y: Double)], band: [(low: Double, high: Double)]? = nil,
                    markers: Bool = false) {
            self.name = name
            self.points = points
            self.band = band
            self.markers = markers
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series] = []
    public var logY = false
    public var width = 760.0
    public var height = 420.0

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    private static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]

    /// The chart as an SVG document.
    public func svg() -> String {
        let left = 70.0, right = 20.0, top = 40.0, bottom = 55.0
        let pw = width - left - right, ph = height - top - bottom
        func ty(_ y: Double) -> Double { logY ? log10(max(y, 1e-12)) : y }
        var xs: [Double] = [], ys: [Double] = []
        for s in series {
            xs += s.points.map(\.x)
            ys += s.points.map { ty($0.y) }
            if let b = s.band { ys += b.flatMap { [ty($0.low), ty($0.high)] } }
        }
        let finiteY = ys.filter(\.isFinite)
        var (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1)
        var (y0, y1) = (finiteY.min() ?? 0, finiteY.max() ?? 1)
        if x1 <= x0 { x1 = x0 + 1 }
        if y1 <= y0 { y1 = y0 + 1; y0 -= 1 }
        let pad = (y1 - y0) * 0.05
        y0 -= pad
        y1 += pad
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { top + ph - (ty(y) - y0) / (y1 - y0) * ph }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func label(_ v: Double) -> String {
            let a = abs(v)
            if a != 0 && (a < 1e-2 || a >= 1e5) { return String(format: "%.1e", v) }
            return a >= 100 ? String(format: "%.0f", v) : String(format: "%.3g", v)
        }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        for i in 0 ... 5 {
            let yv = y0 + (y1 - y0) * Double(i) / 5
            let y = top + ph - ph * Double(i) / 5
            let shown = logY ? pow(10, yv) : yv
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + pw))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label(shown))</text>\n"
            let xv = x0 + (x1 - x0) * Double(i) / 5
            let x = left + pw * Double(i) / 5
            out += "<text x=\"\(f(x))\" y=\"\(f(top + ph + 18))\" text-anchor=\"middle\">\(label(xv))</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#444\"/>\n"
        out += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text transform=\"translate(16 \(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for (i, s) in series.enumerated() {
            let color = LinePlot.palette[i % LinePlot.palette.count]
            if let band = s.band, band.count == s.points.count, !band.isEmpty {
                let upper = zip(s.points, band).map { "\(f(px($0.x))),\(f(py($1.high)))" }
                let lower = zip(s.points, band).reversed().map { "\(f(px($0.x))),\(f(py($1.low)))" }
                out += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
            }
            let pts = s.points.filter { ty($0.y).isFinite }.map { "\(f(px($0.x))),\(f(py($0.y)))" }
            out += "<polyline points=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"/>\n"
            if s.markers {
                for p in s.points where ty(p.y).isFinite {
                    out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.5\" fill=\"\(color)\"/>"
                }
                out += "\n"
            }
            let ly = top + 14 + Double(i) * 16
            out += "<line x1=\"\(f(left + 10))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + 30))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(f(left + 36))\" y=\"\(f(ly))\">\(escape(s.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// Writes the SVG atomically.
    public func write(to path: String) throws {
        try writeFileAtomically(Array(svg().utf8), to: path)
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
