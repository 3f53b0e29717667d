#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ReflexCore

extension ReflexError.Code {
    /// A checkpoint that is truncated, fails its checksum or lacks what a run needs.
    public static let checkpointCorrupt = Self("checkpointCorrupt")
    /// `--resume` on a directory without a checkpoint.
    public static let checkpointMissing = Self("checkpointMissing")
}

/// A fine-tuning run's directory: `run.json` (what was asked for), `checkpoint.safetensors` (the latest state) and
/// `checkpoint.prev.safetensors` (the one before), plus what the CLI writes (metrics, plots, the final policy).
///
/// A checkpoint is one safetensors file: the learner's tensors (weights, targets, Adam moments, log α), the replay
/// buffer's held rows, and in the metadata the step counters, the generator state, the evaluation history and an
/// FNV-1a checksum over everything else. It is written to a temporary file, fsynced and renamed into place
/// (`writeFileAtomically`), after the previous one has been renamed aside, so at every instant one complete
/// checkpoint exists. Reading checks the file's structure and checksum and throws `checkpointCorrupt` on any damage,
/// leaving both files as they are.
public struct RunDirectory: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    public var latestCheckpoint: String { path + "/checkpoint.safetensors" }
    public var previousCheckpoint: String { path + "/checkpoint.prev.safetensors" }
    public var runFile: String { path + "/run.json" }

    /// Creates the directory (and parents) when missing.
    public func create() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ReflexError(.io, "cannot create the run directory: \(error.localizedDescription)", at: .init(file: path))
        }
    }

    /// Saves the trainer's state as the latest checkpoint, keeping the current latest as the previous one.
    /// - Precondition: `trainer.atEpisodeBoundary`.
    public func saveCheckpoint<Env>(_ trainer: OffPolicyTrainer<Env>) throws {
        precondition(trainer.atEpisodeBoundary, "checkpoints are taken between episodes")
        if access(latestCheckpoint, F_OK) == 0, rename(latestCheckpoint, previousCheckpoint) != 0 {
            throw ReflexError(.io, "cannot keep the previous checkpoint: \(String(cString: strerror(errno)))",
                              at: .init(file: latestCheckpoint))
        }
        let tensors = trainer.learner.namedState() + trainer.buffer.namedState()
        var meta = trainer.learner.metadata().merging(trainer.buffer.metadata()) { a, _ in a }
        let g = trainer.generator.state
        meta["trainer.step"] = String(trainer.step)
        meta["trainer.episodes"] = String(trainer.episodes)
        meta["trainer.generator"] = g.s.map(String.init).joined(separator: ",")
            + ";" + (g.spareGaussian.map { String($0.bitPattern) } ?? "none")
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        meta["trainer.evaluations"] = String(decoding: try enc.encode(trainer.evaluations), as: UTF8.self)
        meta["trainer.episode_returns"] = String(decoding: try enc.encode(trainer.episodeReturns), as: UTF8.self)
        meta["checkpoint.checksum"] = String(RunDirectory.checksum(tensors: tensors.map { ($0.name, $0.tensor) }, metadata: meta))
        try writeSafetensors(tensors, to: latestCheckpoint, metadata: meta)
    }

    /// The checkpoint `--resume` continues from: the latest, or the previous one if a crash came between renaming
    /// the latest aside and writing the new one. Throws `checkpointMissing` when there is neither.
    public func resumableCheckpoint() throws -> String {
        if access(latestCheckpoint, F_OK) == 0 { return latestCheckpoint }
        if access(previousCheckpoint, F_OK) == 0 { return previousCheckpoint }
        throw ReflexError(.checkpointMissing, "no checkpoint to resume from", at: .init(file: latestCheckpoint))
    }

    /// Restores the trainer (learner, replay buffer, generator, counters, histories) from the checkpoint at `file`.
    /// Nothing is modified unless the whole file verifies.
    public static func loadCheckpoint<Env>(_ file: String, into trainer: OffPolicyTrainer<Env>) throws {
        let st: SafetensorsFile
        do {
            st = try SafetensorsFile(path: file)
        } catch let e as ReflexError {
            throw ReflexError(.checkpointCorrupt, "checkpoint is damaged or truncated (\(e.message)); it was not loaded",
                              at: .init(file: file), cause: e)
        }
        var tensors: [(String, [UInt8])] = []
        for e in st.entries { tensors.append((e.name, try st.rawBytes(e.name))) }
        var meta = st.metadata
        guard let stored = meta.removeValue(forKey: "checkpoint.checksum"), let want = UInt64(stored) else {
            throw ReflexError(.checkpointCorrupt, "checkpoint has no checksum; it was not loaded", at: .init(file: file))
        }
        let got = RunDirectory.checksum(raw: tensors, metadata: meta)
        guard got == want else {
            throw ReflexError(.checkpointCorrupt, "checkpoint checksum mismatch (stored \(want), computed \(got)); it was not loaded",
                              at: .init(file: file))
        }
        func field(_ key: String) throws -> String {
            guard let v = meta[key] else {
                throw ReflexError(.checkpointCorrupt, "checkpoint lacks '\(key)'", at: .init(file: file, keyPath: key))
            }
            return v
        }
        guard let step = Int(try field("trainer.step")), let episodes = Int(try field("trainer.episodes")) else {
            throw ReflexError(.checkpointCorrupt, "bad step counters", at: .init(file: file, keyPath: "trainer.step"))
        }
        let parts = try field("trainer.generator").split(separator: ";")
        let words = parts.first.map { $0.split(separator: ",").compactMap { UInt64($0) } } ?? []
        guard parts.count == 2, words.count == 4 else {
            throw ReflexError(.checkpointCorrupt, "bad generator state", at: .init(file: file, keyPath: "trainer.generator"))
        }
        let spare = parts[1] == "none" ? nil : UInt64(parts[1]).map { Double(bitPattern: $0) }
        let generator = try RandomGenerator(state: .init(s: words, spareGaussian: spare))
        let dec = JSONDecoder()
        let evaluations: [EvaluationRecord], returns: [EpisodeRecord]
        do {
            evaluations = try dec.decode([EvaluationRecord].self, from: Data(try field("trainer.evaluations").utf8))
            returns = try dec.decode([EpisodeRecord].self, from: Data(try field("trainer.episode_returns").utf8))
        } catch let e as ReflexError {
            throw e
        } catch {
            throw ReflexError(.checkpointCorrupt, "bad history: \(error)", at: .init(file: file, keyPath: "trainer.evaluations"))
        }
        try trainer.learner.load(from: st)
        try trainer.buffer.load(from: st)
        trainer.generator = generator
        trainer.restore(step: step, episodes: episodes, evaluations: evaluations, episodeReturns: returns)
    }

    /// FNV-1a (64-bit) over tensor names and bytes in name order, then metadata key=value lines in key order.
    static func checksum(tensors: [(String, Tensor)], metadata: [String: String]) -> UInt64 {
        let raw = tensors.map { t in
            (t.0, Array(UnsafeRawBufferPointer(start: t.1.data, count: t.1.count * MemoryLayout<Float>.stride)))
        }
        return checksum(raw: raw, metadata: metadata)
    }

    static func checksum(raw: [(String, [UInt8])], metadata: [String: String]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes {
                h ^= UInt64(b)
                h &*= 0x100_0000_01b3
            }
        }
        for (name, bytes) in raw.sorted(by: { $0.0 < $1.0 }) {
            mix(name.utf8)
            mix(bytes)
        }
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            mix(k.utf8)
            mix(v.utf8)
        }
        return h
    }
}
