#if canImport(Glibc)
import Glibc
#endif
import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import ReflexRobot
import ReflexSteering
import TestSupport
import Testing

@testable import ReflexRuntime

/// A diffusion policy as `reflex run` and the daemon load it when every kind of steering is on: an MLP denoiser
/// (3×512, wide enough that a batch of K candidates splits over the kernel threads), the RTI sampler, a DSRL noise
/// actor (sampled, as under V-GPS) and V-GPS twin critics over K = 8 candidates with the paper's softmax draw (β = 1),
/// composed by `SteeredPolicy`.
/// Random weights: what is under test is the path, not the behaviour.
func productionSteeredPolicy(sampler: SamplerSpec = .rti(schedule: [2, 1, 0], variant: .renoise),
                             candidates k: Int = 8) throws -> SteeredPolicy {
    let observation = 12, action = 6
    let config = PolicyConfig(kind: .diffusion, observationSize: observation, actionSize: action, nObsSteps: 2, horizon: 16,
                              nActionSteps: 8,
                              normalization: .init(observation: .identity(size: observation), action: .identity(size: action)),
                              network: .init(hiddenSizes: [512, 512, 512]), scheduler: NoiseScheduler.Config(),
                              sampler: sampler)
    var gen = RandomGenerator(seed: 11)
    let mlp = MLP(config: config.network.mlp(horizon: config.horizon, actionSize: action, conditionSize: config.conditionSize),
                  generator: &gen)
    let denoiser = MLPDenoiser(config: config.network, network: mlp, horizon: config.horizon, actionSize: action,
                               conditionSize: config.conditionSize, trainTimesteps: 100, maxBatch: k)
    let base = try DiffusionPolicy(config: config, denoiser: denoiser)
    let chunk = config.horizon * action
    let actor = LatentNoiseActor(policy: TanhGaussianPolicy(observationSize: config.conditionSize, actionSize: chunk,
                                                            hiddenSizes: [256, 256], generator: &gen),
                                 magnitude: 1.5, deterministic: false, maxBatch: k)
    let criticConfig = MLPConfig(inputSize: config.conditionSize + config.nActionSteps * action, hiddenSizes: [256, 256],
                                 outputSize: 1, activation: .relu, layerNorm: true)
    let critics = [MLP(config: criticConfig, generator: &gen), MLP(config: criticConfig, generator: &gen)]
    let reranker = try ValueReranker(critics: critics, stateSize: config.conditionSize,
                                     actionSize: config.nActionSteps * action, maxCandidates: k, selection: .softmax(beta: 1))
    return try SteeredPolicy(base: base, noiseSource: actor, reranker: reranker, candidates: k)
}

/// The control loop as it runs in production: its own thread at 100 Hz, inference on the worker thread, two kernel
/// threads, the steered policy above.
@Suite struct ProductionLoopTests {
    /// Every thread of that configuration — the loop thread, the inference worker and the kernel pool's worker —
    /// allocates nothing in steady state. The counter reads each thread's own count (AllocationCounter's slots), and
    /// the test checks that each thread was there and ran during the window, so zero means "ran without allocating".
    @Test func everyThreadOfTheProductionLoopAllocatesNothing() throws {
        #expect(rx_allocation_counter_active() == 1)
        try KernelThreads.with(2) {
            let policy = try productionSteeredPolicy()
            let robot = FakeRobot.sixJoint()
            try robot.configure()
            try robot.activate()
            let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(), period: 0.01)
            // The production settings but mlockall (it is process-wide; ControlLoopTests checks it on its own).
            let config = ControlLoopConfig(rate: 100, realTimePriority: 80, lockMemory: false, actionSteps: 4)
            let loop = try ControlLoop(robot: robot, safety: safety, policy: policy,
                                       observation: try ObservationBuilder(jointCount: 6, includeVelocities: true),
                                       config: config)
            try loop.start()
            defer { loop.stop() }
            func waitForChunks(_ n: Int) {
                let deadline = Date().addingTimeInterval(120)
                while loop.snapshot().counters.chunksReceived < n && Date() < deadline { usleep(10_000) }
            }
            // Warm-up: the first chunks (RTI's full chain, the kernels' per-thread packing buffers, the telemetry).
            waitForChunks(6)
            let loopThread = try #require(loop.threadID, "the loop thread reports its id")
            let workerThread = try #require(loop.worker?.threadID, "the worker thread reports its id")
            let kernelThreads = ThreadAllocations.threads(named: "reflex-kernel")
            #expect(kernelThreads.count == 1, "two kernel threads = the caller and one pool worker; found \(kernelThreads)")
            let watched = [loopThread, workerThread] + kernelThreads
            let before = ThreadAllocations.snapshot()
            let cpuBefore = watched.map { ThreadAllocations.cpuTime($0) ?? 0 }
            let start = loop.snapshot()
            waitForChunks(start.counters.chunksReceived + 40)
            let after = ThreadAllocations.snapshot()
            let cpuAfter = watched.map { ThreadAllocations.cpuTime($0) ?? 0 }
            let end = loop.snapshot()
            #expect(end.counters.chunksReceived - start.counters.chunksReceived >= 40)
            #expect(end.counters.ticks - start.counters.ticks >= 40) // at most one chunk request a tick
            for (i, tid) in watched.enumerated() {
                let name = ThreadAllocations.name(tid) ?? "exited"
                // A thread gets its slot at its first allocation: no slot yet means none so far.
                let b = before[tid] ?? 0, a = after[tid] ?? 0
                #expect(a == b, "thread \(tid) (\(name)): \(a - b) allocations over \(end.counters.ticks - start.counters.ticks) ticks and \(end.counters.chunksReceived - start.counters.chunksReceived) chunks")
                #expect(cpuAfter[i] > cpuBefore[i], "thread \(tid) (\(name)) did not run during the window")
            }
            // The worker inferred through every part: RTI warm starts (3 evaluations per call after the first).
            #expect(end.timings["inference_latency"].map { $0.count } ?? 0 >= 40)
        }
    }
}

/// What this process may ask the kernel for, read from /proc the way the kernel decides it: SCHED_FIFO needs
/// CAP_SYS_NICE or an RLIMIT_RTPRIO at least the priority; mlockall of a whole process needs CAP_IPC_LOCK or an
/// unlimited RLIMIT_MEMLOCK (a test binary is far larger than any finite default).
struct RealTimePrivileges {
    var mayUseFIFO: (Int32) -> Bool
    var mayLockAll: Bool

    static func current() throws -> RealTimePrivileges {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let limits = try String(contentsOfFile: "/proc/self/limits", encoding: .utf8)
        let capEff = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }
            .flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
        func softLimit(_ name: String) -> String? {
            limits.split(separator: "\n").first { $0.hasPrefix(name) }
                .map { $0.dropFirst(name.count).split(whereSeparator: \.isWhitespace).first.map(String.init) ?? "" }
        }
        let sysNice = capEff & (1 << 23) != 0, ipcLock = capEff & (1 << 14) != 0
        let rtprio = softLimit("Max realtime priority").flatMap { Int32($0) } ?? 0
        let memlockUnlimited = softLimit("Max locked memory") == "unlimited"
        return RealTimePrivileges(mayUseFIFO: { sysNice || rtprio >= $0 }, mayLockAll: ipcLock || memlockUnlimited)
    }

    /// Locked memory of this process (VmLck, kB).
    static func lockedKilobytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        return status.split(separator: "\n").first { $0.hasPrefix("VmLck:") }
            .flatMap { Int($0.dropFirst(6).split(whereSeparator: \.isWhitespace).first ?? "") } ?? 0
    }
}

@Suite struct RealTimeGrantTests {
    /// Where this process may have SCHED_FIFO and mlockall (here: root with CAP_SYS_NICE and CAP_IPC_LOCK), the loop
    /// thread must run SCHED_FIFO at the asked priority as the kernel reports it in /proc, and the process's memory
    /// must be locked (VmLck); where it may not, the report must say refused, with the reason. Either way the test
    /// checks the kernel's view, not only the report.
    @Test func schedFIFOAndMlockallTakeEffectWhereTheProcessMayHaveThem() throws {
        let may = try RealTimePrivileges.current()
        let robot = FakeRobot.sixJoint()
        try robot.configure()
        try robot.activate()
        let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(), period: 0.01)
        let loop = try ControlLoop(robot: robot, safety: safety, policy: nil,
                                   observation: try ObservationBuilder(jointCount: 6),
                                   config: ControlLoopConfig(rate: 100, realTimePriority: 42, lockMemory: true))
        let report = try loop.start()
        defer {
            loop.stop()
            munlockall() // mlockall is process-wide and outlives the loop: give the other tests their pageable memory back
        }
        let tid = try #require(loop.threadID)
        let kernel = try #require(ThreadAllocations.scheduling(tid), "the loop thread's /proc stat")
        if may.mayUseFIFO(42) {
            #expect(report.fifoGranted, "\(report)")
            #expect(kernel.policy == 1 && kernel.priority == 42, "kernel: policy \(kernel.policy), rt priority \(kernel.priority)")
        } else {
            #expect(!report.fifoGranted && report.fifoError != nil, "\(report)")
            #expect(kernel.policy == 0, "kernel: policy \(kernel.policy)")
        }
        let locked = try RealTimePrivileges.lockedKilobytes()
        if may.mayLockAll {
            #expect(report.memoryLocked, "\(report)")
            #expect(locked > 0, "VmLck \(locked) kB")
        } else if report.memoryLocked {
            #expect(locked > 0, "granted but VmLck \(locked) kB")
        } else {
            #expect(report.memoryLockError != nil, "\(report)")
        }
    }
}
