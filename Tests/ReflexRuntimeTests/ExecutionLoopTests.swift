import ReflexCore
import ReflexPolicy
import Testing

@testable import ReflexRuntime

/// Records what the worker tells the policy about each chunk.
final class ContextRecorder: Policy {
    let config: PolicyConfig
    var contexts: [ChunkContext] = []
    init() {
        config = PolicyConfig(kind: .bc, observationSize: 1, actionSize: 1, nObsSteps: 2, horizon: 8, nActionSteps: 4,
                              normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                              network: .init(hiddenSizes: [1]))
    }
    func reset() {}
    func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo {
        InferenceInfo(networkEvaluations: 1, warmStarted: false)
    }
    func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo {
        contexts.append(context)
        return InferenceInfo(networkEvaluations: 1, warmStarted: false)
    }
}

@Suite struct ExecutionLoopTests {
    @Test func theWorkerHandsTheLoopsMeasuredDelayToThePolicy() {
        let policy = ContextRecorder()
        let worker = InferenceWorker(policy: policy, clock: ManualClock(), seed: 1, execution: .rtc(beta: 5))
        func request(tick: Int64, delay: Int, start: Bool = false) {
            let r = worker.requests.writable
            r.tick = tick
            r.delay = delay
            r.episodeStart = start
            worker.requests.publish()
            #expect(worker.serviceOnce())
        }
        request(tick: 0, delay: 3, start: true) // nothing in flight: no delay to freeze
        request(tick: 5, delay: 2)
        request(tick: 9, delay: 1)
        request(tick: 20, delay: 4, start: true) // a new episode forgets the previous chunk
        #expect(policy.contexts.map(\.stepsSinceObservation) == [0, 5, 4, 0])
        #expect(policy.contexts.map(\.stepsExecuted) == [0, 5, 4, 0])
        #expect(policy.contexts.map(\.delay) == [0, 2, 1, 0])
        #expect(policy.contexts.allSatisfy { $0.strategy == .rtc(beta: 5) })
        #expect(policy.contexts.allSatisfy { $0.deadline == 0 }) // none asked
    }

    @Test func aRequestDeadlineReachesThePolicyOnTheMonotonicClock() {
        let policy = ContextRecorder()
        let clock = ManualClock()
        let worker = InferenceWorker(policy: policy, clock: clock, seed: 1)
        let r = worker.requests.writable
        r.tick = 0
        r.deadline = clock.now() + 5_000_000_000 // 5 s ahead on the loop clock
        worker.requests.publish()
        let before = monotonicNanoseconds()
        #expect(worker.serviceOnce())
        let d = policy.contexts[0].deadline
        #expect(d >= before + 5_000_000_000 && d <= monotonicNanoseconds() + 5_000_000_000)
    }
}
