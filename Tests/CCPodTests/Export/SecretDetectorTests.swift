@testable import CCPodKit
import Foundation
import Testing

/// The detectors one by one, the JSON-aware scrubber on hand-written escapes, and what must stay.
@Suite struct SecretDetectorTests {
    static let secrets: [(String, String)] = [
        ("gitlab-token", "token glpat-Ab3dEf6hIj9kLm2nOp5q in CI"),
        ("npm-token", "//registry.npmjs.org/:_authToken=npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("sendgrid-key", "SG.AbCdEfGhIjKlMnOpQrStUv.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfG"),
        ("digitalocean-token", "dop_v1_" + String(repeating: "a1b2c3d4", count: 8)),
        ("google-oauth-token", "ya29.a0AfH6SMBxQ2vL7pR4tW8nZ1cF6hJ0dG5sE2aX"),
        ("telegram-bot-token", "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 ok"),
        ("databricks-token", "dapi0123456789abcdef0123456789abcdef"),
        ("azure-storage-key", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=Q2xvdWRTdG9yYWdlS2V5MTIzNDU2Nzg5MGFiY2RlZmdoaWprbA==;"),
        ("slack-webhook", "post to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
        ("private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"),
        ("private-key", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oc2p"),
        ("env-secret", "MY_SERVICE_TOKEN=q8Zr2Lm5Xv9Kp3Tn"),
        ("password", "DB_PASSWORD=hunter22"),
        ("secret", "client_secret: 9fK2mQ7xL4pR8vN1"),
        ("url-credentials", "redis://default:Xk29fLq7Pz@cache.internal:6379"),
        ("bearer-token", "Authorization: Bearer abcDEF123456ghiJKL789mno"),
        ("openai-key", "sk-" + "T3BlbkFJ" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1"),
        ("aws-access-key", "ASIAQ3EGRT7LUVKX5N2P"),
        ("vault-token", "VAULT_TOKEN is hvs.CAESIJlU9JMYEhOPYv4KMYr6eH1aQ2wE"),
        ("age-secret-key", "AGE-SECRET-KEY-1QQPQZRFR7ZZ2WCV7L0RDJVMZRFJ4AJ5L2KZ9MFLQUWH0AGTDRGZSQ5XNL7P"),
        ("docker-token", "docker login -p dckr_pat_2b3e36beeb386dfdaacb9b46004"),
        ("secret", "DATADOG_APP_KEY: 8f3c2b1a9e7d6c5b4a39f8e7d6c5b4a3"),
        ("secret", "auth=Zm9vYmFyOnF3ZXJ0eTEy"),
    ]

    @Test("Each kind is found in plain text")
    func kinds() {
        for (kind, text) in Self.secrets {
            let found = SecretDetectors.standard.find(in: text)
            #expect(found.map(\.kind).contains(kind), "\(kind) not found in \(text): \(found)")
        }
    }

    @Test("What only looks like a secret stays")
    func falsePositives() {
        for text in [
            "max_tokens: 4096", "password: string", "token = os.environ[\"TOKEN\"]", "api_key=$OPENAI_API_KEY", "PASSWORD=${DB_PASSWORD}",
            "sk-learn-classifier-pipeline-version", "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39", "https://github.com/apple/swift-crypto",
            "git@github.com:apple/swift-crypto.git", "OAuth: https://accounts.google.com/o/oauth2/auth", "token_file=/var/run/secrets/token1", "export TOKENIZERS_PARALLELISM=false", "the session_key is stored in the keychain",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        ] {
            #expect(SecretDetectors.standard.find(in: text).isEmpty, "false positive in \(text): \(SecretDetectors.standard.find(in: text))")
        }
    }

    @Test("Secrets split by JSON escapes are replaced over exactly their bytes; the line stays JSON")
    func jsonEscapes() throws {
        // `\/` inside a URL password, `\u0041` inside a key, a PEM whose newlines are `\n` escapes.
        let line = #"{"a":"postgres:\/\/u:Pw0rd-2024x@db","b":["AKI\u0041Q3EGRT7LUVKX5N2P"],"c":{"cmd":"-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkq\n-----END PRIVATE KEY-----\n","n":1}}"#
        var scrubber = SecretScrubber()
        let out = String(decoding: scrubber.scrub(jsonLine: Array(line.utf8)), as: UTF8.self)
        let expected = #"{"a":"postgres:\/\/u:"# + SecretScrubber.placeholder(kind: "url-credentials", value: "Pw0rd-2024x") + #"@db","b":[""#
            + SecretScrubber.placeholder(kind: "aws-access-key", value: "AKIAQ3EGRT7LUVKX5N2P") + #""],"c":{"cmd":""#
            + SecretScrubber.placeholder(kind: "private-key", value: "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkq\n-----END PRIVATE KEY-----")
            + #"\n","n":1}}"#
        #expect(out == expected)
        #expect(scrubber.counts == ["url-credentials": 1, "aws-access-key": 1, "private-key": 1])
        #expect((try? JSONSerialization.jsonObject(with: Data(out.utf8))) != nil)
        // A line without secrets is returned as it is.
        var clean = SecretScrubber()
        let plain = #"{"type":"user","message":{"content":"caf\u00e9 \ud83d\ude00 ok"}}"#
        #expect(clean.scrub(jsonLine: Array(plain.utf8)) == Array(plain.utf8))
    }

    @Test("Scrubbing a long base64 run stays fast (no quadratic patterns)")
    func longRunsAreLinear() {
        let blob = String(repeating: "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", count: 30_000)  // ~1 MB of one base64 word
        let started = Date()
        _ = SecretDetectors.standard.find(in: "password=x " + blob + " token: y")
        #expect(Date().timeIntervalSince(started) < 30, "took \(Date().timeIntervalSince(started)) s")
    }
}
