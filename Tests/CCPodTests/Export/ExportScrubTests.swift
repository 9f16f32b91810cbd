@testable import CCPodKit
import Foundation
import Testing

/// Planted secrets of many kinds, in every place a transcript hides them: none reaches the
/// export, the report counts them, and everything else comes back byte for byte.
@Suite struct ExportScrubTests {
    static let id = "0d6f7a52-3c1b-4e8a-9f27-5b4c3d2e1f00"

    // Shape-valid fakes.
    static let anthropic = "sk-ant-api03-Xy7Kq2Lm9Pz4Rt6Vw8Bn3Cd5Fg7Hj9Kl2Mn4Pq6Rs8Tu0Vw-AbCdEfAA"
    static let openai = "sk-proj-4fG7hJ9kL2mN5pQ8rS1tU3vW6xY9zA2bC5dE8fG1hJ4kL7mN"
    static let awsId = "AKIAQ3EGRT7LUVKX5N2P"
    static let awsSecret = "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"
    static let github = "ghp_R8mK2pQ7vX4nL9sT3wY6zB1cD5fH0jA2eG4i"
    static let huggingface = "hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567890"
    static let slack = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    static let stripe = "sk_live_51HxYzAbCdEfGhIjKlMnOpQr"
    static let runpod = "rpa_7Q2W9E4R1T6Y3U8I5O0PAS2D4F6G8H1J3K5L7Z9X"
    static let wandb = "3f9a1c7e5b2d8046a1b3c5d7e9f0a2b4c6d8e0f1"
    static let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    static let password = "S3cr3tP4ss!"
    static let urlPassword = "pg-P4ssw0rd-77"
    static let gcpKeyId = "8c1f0e2d3b4a59687766554433221100ffeeddcc"
    static let google = "AIzaSyB3xK9mQ2vL7pR4tW8nZ1cF6hJ0dG5sE2a"
    static let keyField = "Zx81kLm0Qp27sVb4Yt"
    static let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBx5h0GZ3J2Y2Z3ZXJ0eXVpb3Bhc2RmZ2hqa2wAAAAAAAAAAAAAAAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    static let gcpPem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\nq2Z4L8pQsWJalrXUtnFEMI7MDENGbPxRfiCY\\n-----END PRIVATE KEY-----"
    static let hidden = "ANTHROPIC_API_KEY=sk-ant-api03-Hidden9In8Base64Qq7Rr6Ss5Tt4Uu3Vv2Ww1Xx0AA"

    /// The transcript, the subagent file, the tool result, and every secret's raw form (as it appears in the file).
    static func plant(in bed: ExportBed) throws -> (planted: [String], files: [String: Data]) {
        var planted = [String]()
        func raw(_ s: String) -> String { planted.append(ExportBed.raw(s)); return s }
        let base64 = Data(hidden.utf8).base64EncodedString()
        planted.append(base64)
        var t = ExportBed.turn(id, 1, prompt: "Here is my key \(raw(anthropic)) please configure the client",
                               answer: "I set OPENAI_API_KEY to \(raw(openai)) in your shell; the token count was 1234 and password: string stays a type")
        t += ExportBed.line(["type": "user", "sessionId": id, "uuid": "u-tool-1", "timestamp": "2026-03-01T10:02:00.000Z", "cwd": "/work/app",
                             "message": ["role": "user", "content": [["type": "tool_result", "tool_use_id": "toolu_01",
                                         "content": "[default]\naws_access_key_id = \(raw(awsId))\naws_secret_access_key = \(raw(awsSecret))\nregion = eu-west-1\n"]]]])
        t += ExportBed.line(["type": "assistant", "sessionId": id, "uuid": "a-tool-2", "timestamp": "2026-03-01T10:03:00.000Z", "cwd": "/work/app",
                             "message": ["role": "assistant", "content": [["type": "tool_use", "id": "toolu_02", "name": "Bash",
                                         "input": ["command": "cat > ~/.ssh/id_ed25519 <<'EOF'\n\(raw(pem))\nEOF\nchmod 600 ~/.ssh/id_ed25519 && export GITHUB_TOKEN=\(raw(github))",
                                                   "api_key": raw(keyField)]]]]])
        t += ExportBed.line(["type": "user", "sessionId": id, "uuid": "u-tool-3", "timestamp": "2026-03-01T10:04:00.000Z", "cwd": "/work/app",
                             "message": ["role": "user", "content": [["type": "tool_result", "tool_use_id": "toolu_03",
                                         "content": "{\n  \"type\": \"service_account\",\n  \"project_id\": \"demo-proj\",\n  \"private_key_id\": \"\(raw(gcpKeyId))\",\n  \"private_key\": \"\(raw(gcpPem))\\n\",\n  \"client_email\": \"ci@demo-proj.iam.gserviceaccount.com\"\n}"]]]])
        t += ExportBed.line(["type": "user", "sessionId": id, "uuid": "u-tool-4", "timestamp": "2026-03-01T10:05:00.000Z", "cwd": "/work/app",
                             "message": ["role": "user", "content": [["type": "tool_result", "tool_use_id": "toolu_04",
                                         "content": "$ base64 .secrets\n\(base64)\n$ mysql -u root --password=\(raw(password)) app\n$ curl -H 'Authorization: Bearer \(raw(jwt))' https://api.example.com/v1"]]]])
        // A secret whose JSON is escaped in the middle (`\u0053` for `S`): the raw bytes never spell it.
        var escaped = ExportBed.line(["type": "assistant", "sessionId": id, "uuid": "a-esc-5", "timestamp": "2026-03-01T10:06:00.000Z", "cwd": "/work/app",
                                      "message": ["role": "assistant", "content": [["type": "text", "text": "Maps key \(google) and DATABASE_URL=postgres://admin:\(raw(urlPassword))@db.internal:5432/app"]]]])
        let escapedGoogle = google.replacingOccurrences(of: "AIzaS", with: "AIza\\u0053")
        escaped = Data(String(decoding: escaped, as: UTF8.self).replacingOccurrences(of: google, with: escapedGoogle).utf8)
        planted.append(escapedGoogle)
        t += escaped
        t += ExportBed.turn(id, 7, prompt: "Fine. Also https://github.com/apple/swift-crypto and sk-learn-classifier-pipeline-version",
                            answer: "Commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 and uuid 5e0d3c2a-8f41-4b7e-9a26-1c7d2e9f4b10 are fine.")
        let subagent = ExportBed.line(["type": "assistant", "sessionId": id, "uuid": "sub-1", "timestamp": "2026-03-01T10:07:00.000Z", "isSidechain": true,
                                       "message": ["role": "assistant", "content": [["type": "text", "text": "Downloading with token \(raw(huggingface)) now"]]]])
        let toolResult = Data("SLACK_BOT_TOKEN=\(raw(slack))\nstripe.api_key = '\(raw(stripe))'\nRUNPOD_API_KEY=\(raw(runpod))\nWANDB_API_KEY=\(raw(wandb))\nLOG_LEVEL=debug\n".utf8)
        let files = ["\(id).jsonl": t, "\(id)/subagents/agent-a1.jsonl": subagent, "\(id)/tool-results/toolu_09.txt": toolResult]
        for (path, data) in files { try bed.write(data, path) }
        return (planted, files)
    }

    @Test("Planted secrets of 18 kinds are replaced, counted, and everything else round-trips byte for byte")
    func plantedSecretsNeverLeave() throws {
        let bed = try ExportBed()
        let (planted, files) = try Self.plant(in: bed)
        let summary = try bed.export()
        let exported = String(decoding: try Data(contentsOf: bed.exportFile), as: UTF8.self)
        for secret in [Self.anthropic, Self.openai, Self.awsId, Self.awsSecret, Self.github, Self.huggingface, Self.slack, Self.stripe,
                       Self.runpod, Self.wandb, Self.jwt, Self.password, Self.urlPassword, Self.gcpKeyId, Self.google, Self.keyField,
                       "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", String(Self.hidden.suffix(30))] {
            #expect(!exported.contains(secret), "the export still holds \(secret.prefix(12))…")
        }
        for rawForm in planted { #expect(!exported.contains(rawForm), "the export still holds \(rawForm.prefix(16))…") }
        // Every line stays valid JSON.
        for line in exported.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not JSON: \(line.prefix(80))")
        }
        let expectedKinds: Set = ["anthropic-key", "openai-key", "aws-access-key", "aws-secret-key", "github-token", "huggingface-token",
                                  "slack-token", "stripe-key", "runpod-key", "wandb-key", "private-key", "gcp-private-key-id", "jwt",
                                  "password", "url-credentials", "google-api-key", "secret", "base64-anthropic-key"]
        #expect(Set(summary.redactions.keys) == expectedKinds, "kinds: \(summary.redactions)")
        // The session record's title is the first prompt, so its key is counted there too.
        #expect(summary.redactions.values.reduce(0, +) == planted.count + 1, "counts: \(summary.redactions), planted \(planted.count)")
        #expect(summary.redactions["anthropic-key"] == 2 && summary.redactions["private-key"] == 2 && summary.redactions["jwt"] == 1)

        // Import elsewhere: each file is the original with each planted secret replaced by a placeholder, nothing else.
        try bed.importOther()
        let placeholder = try NSRegularExpression(pattern: #"\[REDACTED:[a-z0-9-]+:[0-9a-f]{4}\]"#)
        for (path, original) in files {
            let imported = String(decoding: bed.read(path, in: bed.otherSlugDir), as: UTF8.self)
            let normalized = placeholder.stringByReplacingMatches(in: imported, range: NSRange(location: 0, length: (imported as NSString).length), withTemplate: "§")
            var expected = String(decoding: original, as: UTF8.self)
            for rawForm in planted.sorted(by: { $0.count > $1.count }) { expected = expected.replacingOccurrences(of: rawForm, with: "§") }
            #expect(normalized == expected, "\(path) differs beyond the placeholders:\n\(normalized)\n---\n\(expected)")
        }
        // The same secret always gets the same placeholder.
        #expect(SecretScrubber.placeholder(kind: "jwt", value: Self.jwt) == SecretScrubber.placeholder(kind: "jwt", value: Self.jwt))
        #expect(exported.contains(SecretScrubber.placeholder(kind: "aws-access-key", value: Self.awsId)))
    }

    @Test("A secret the scrubber misses is caught by the second scan: nothing is written, and it says where")
    func gapInTheScrubberRefusesTheExport() throws {
        let bed = try ExportBed()
        try bed.write(ExportBed.turn(Self.id, 1, prompt: "hello", answer: "fine")
                      + ExportBed.turn(Self.id, 2, prompt: "push with \(Self.github) please", answer: "done"), "\(Self.id).jsonl")
        let error = try #require(throws: CCPodError.self) {
            try bed.export { $0.detectorGap = ["github-token"] }
        }
        #expect(error.status == .badData)
        #expect(error.message.contains("session \(Self.id)") && error.message.contains("line 3") && error.message.contains("github-token"), "\(error.message)")
        #expect(!error.message.contains(Self.github))
        #expect(!FileManager.default.fileExists(atPath: bed.exportFile.path))
        #expect(ExportBed.files(under: URL(fileURLWithPath: bed.project)).isEmpty, "left behind: \(ExportBed.files(under: URL(fileURLWithPath: bed.project)))")
        // Without the gap the same session exports.
        let summary = try bed.export()
        #expect(summary.redactions["github-token"] == 1)
    }

    @Test("--no-scrub keeps the bytes and says so in the header")
    func noScrubIsExplicit() throws {
        let bed = try ExportBed()
        try bed.write(ExportBed.turn(Self.id, 1, prompt: "key \(Self.anthropic)", answer: "ok"), "\(Self.id).jsonl")
        let summary = try bed.export { $0.scrub = false }
        let text = String(decoding: try Data(contentsOf: bed.exportFile), as: UTF8.self)
        #expect(!summary.scrubbed && summary.redactions.isEmpty)
        #expect(text.hasPrefix("{\"format\":\"ccpod-session-export\",\"version\":1,") && text.split(separator: "\n")[0].contains("\"scrubbed\":false"))
        #expect(text.contains(Self.anthropic))
    }
}
