import CBridge

/// How the C++ kernels were built, for `reflex bench` headers and sanity checks.
public enum KernelBuild {
    /// SIMD instruction sets Eigen uses, e.g. "AVX512, FMA, AVX2, AVX, SSE4.2, …".
    public static var simd: String { String(cString: rx_simd_instruction_sets()) }
    /// Whether CBridge was compiled with optimization. Debug builds without `-Xcxx -O3` run Eigen 50–100× slower.
    public static var optimized: Bool { rx_kernels_optimized() != 0 }
    /// Threads the large kernels may split over (including the caller).
    public static var threads: Int {
        get { Int(rx_num_threads()) }
    }
    /// Sets the kernel thread count. - Warning: Not real-time safe.
    public static func setThreads(_ n: Int) { rx_set_num_threads(Int32(max(1, n))) }
}

/// Probes of the machine's own limits, for the floors benchmarks print beside their figures.
public enum MachineProbe {
    /// Sums `count` floats with the widest vector loads the kernels were built for: timed over a buffer much larger
    /// than the last-level cache, it measures the read bandwidth a weight-streaming step is bound by.
    public static func streamSum(_ values: UnsafePointer<Float>, count: Int) -> Double {
        rx_stream_sum(count, values)
    }
}
