import CCPodKit
import Foundation

/// The Claude Code transcripts the project owns: a Claude config dir under
/// `Tests/Fixtures/transcripts/claude` (described in the README next to it), plus one long
/// session built here, deterministically, so it need not be committed.
enum TranscriptFixtures {
    /// `Tests/Fixtures/transcripts/claude`: a config dir with `projects/<slug>/…`.
    static let claudeDir = ClaudeTestPaths.packageRoot
        .appendingPathComponent("Tests/Fixtures/transcripts/claude", isDirectory: true)

    static let tinyVitSlug = "-home-dev-code-tiny-vit"
    static let cifarSlug = "-home-dev-code-cifar-baseline"

    /// The 2.1.x working session: subagents, a persisted tool result, a title, a compaction.
    static let workSession = "fe4f5263-11d5-4724-95ba-a978983b6369"
    /// A rewind and an automatic compaction, no summary and no title.
    static let rewindSession = "e40039ce-ed55-4114-893c-ffa3a34dcb89"
    /// Started with 2.0.x (summary first), then resumed once by 2.1.x.
    static let resumedSession = "c2e81373-0736-494e-884f-bc062d93cf42"
    /// A `claude -p` run (`entrypoint` `sdk-cli`).
    static let headlessSession = "858a7822-3f95-4ae4-b0f7-d67ef3eaa9c4"
    /// 2.0.x with a summary line and a top-level `agent-5f64e071.jsonl` sidechain.
    static let legacySession = "5f64e071-303d-4273-b20a-87faf8593238"
    /// 2.0.x without a summary.
    static let noSummarySession = "01568487-4b81-4633-acf2-1dae5452eb4f"

    /// What Claude Code's picker would show for each committed file (relative to `claudeDir`),
    /// and for the long session.
    static let titles: [String: String] = [
        "projects/\(tinyVitSlug)/\(workSession).jsonl": "Resumable training — ViT-Tiny · CIFAR-10",
        "projects/\(tinyVitSlug)/\(rewindSession).jsonl": "Validation loss goes NaN after epoch 3 with --amp (bf16) — why? 🤔 fp32 is fine.",
        "projects/\(tinyVitSlug)/\(resumedSession).jsonl": "Export ViT-Tiny to ONNX with a dynamic batch axis",
        "projects/\(tinyVitSlug)/\(headlessSession).jsonl":
            "Summarize runs/sweep-lr/metrics.csv: best lr by final val_acc, one line per run, no prose.",
        "projects/\(cifarSlug)/\(legacySession).jsonl": "ResNet-18 baseline: fix the data augmentation",
        "projects/\(cifarSlug)/\(noSummarySession).jsonl": "add a --seed flag and make cudnn deterministic when it is set",
        "projects/\(cifarSlug)/agent-5f64e071.jsonl":
            "Trace which torchvision transforms reach the training DataLoader in data.py and report any that are built but never used.",
        LongSession.relativePath: LongSession.title,
    ]

    /// Every committed `.jsonl`, relative to `claudeDir`, sorted.
    static var committedJSONL: [String] {
        files(under: claudeDir).keys.filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    /// Copies the committed config dir to `<dir>/claude` and adds the long session; returns it.
    static func materialize(into dir: URL) throws -> URL {
        let config = dir.appendingPathComponent("claude", isDirectory: true)
        try FileManager.default.copyItem(at: claudeDir, to: config)
        let long = config.appendingPathComponent(LongSession.relativePath)
        try LongSession.bytes.write(to: long)
        return config
    }

    /// Every regular file under `root`, by path relative to it.
    static func files(under root: URL) -> [String: Data] {
        var result = [String: Data]()
        guard let walk = FileManager.default.enumerator(atPath: root.path) else { return result }
        for case let relative as String in walk {
            var isDirectory: ObjCBool = false
            let path = root.appendingPathComponent(relative).path
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            result[relative] = FileManager.default.contents(atPath: path)
        }
        return result
    }
}
