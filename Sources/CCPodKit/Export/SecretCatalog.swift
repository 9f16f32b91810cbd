import Foundation

extension SecretDetectors {
    /// The detectors, most specific first. Kinds name what was found in the placeholder
    /// (`[REDACTED:<kind>:<hash>]`); several patterns may share a kind.
    static let catalog: [SecretDetector] = {
        let w = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"  // not inside a longer word
        return [
            // Private keys: PEM blocks (also with their newlines as literal `\n`, as in a service
            // account JSON file shown by a tool), and a block cut off before its END line.
            SecretDetector("private-key",
                           #"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,-]*)"#),
            SecretDetector("private-key", #"PuTTY-User-Key-File-[0-9]: [\s\S]*?Private-MAC: [0-9a-f]+"#),
            SecretDetector("gcp-private-key-id", #""private_key_id"\s*:\s*\\?"([0-9a-f]{40})"#, group: 1),
            SecretDetector("anthropic-key", #"sk-ant-[A-Za-z0-9_\-]{16,}"#, notAfter: w),
            SecretDetector("openai-key", #"sk-(?!ant-)(?:proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_\-]{20,}"#, notAfter: w, accept: keyLike),
            SecretDetector("aws-access-key", #"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Z0-9])"#,
                           notAfter: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
            SecretDetector("aws-secret-key",
                           #"(?i)aws.{0,24}?(?:secret|sk)[a-z_]*['"]?\s*[:=]\s*['"]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"#, group: 1),
            SecretDetector("github-token", #"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}"#, notAfter: w),
            SecretDetector("github-token", #"github_pat_[A-Za-z0-9_]{22,}"#, notAfter: w),
            SecretDetector("gitlab-token", #"gl(?:pat|ptt|dt|rt|cbt|oas)-[A-Za-z0-9_\-]{20,}"#, notAfter: w),
            SecretDetector("huggingface-token", #"hf_[A-Za-z0-9]{30,}"#, notAfter: w),
            SecretDetector("slack-token", #"xox[abposre]-[A-Za-z0-9\-]{10,}"#, notAfter: w),
            SecretDetector("slack-token", #"xapp-[0-9]-[A-Za-z0-9\-]{10,}"#, notAfter: w),
            SecretDetector("slack-webhook", #"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_\-]{20,}"#),
            SecretDetector("discord-webhook", #"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_\-]{20,}"#),
            SecretDetector("stripe-key", #"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"#, notAfter: w),
            SecretDetector("stripe-key", #"whsec_[A-Za-z0-9]{24,}"#, notAfter: w),
            SecretDetector("runpod-key", #"rpa_[A-Za-z0-9]{20,}"#, notAfter: w),
            SecretDetector("runpod-key", #"RUNPOD_API_KEY['"]?\s*[:=]\s*['"]?([A-Za-z0-9_\-]{16,})"#, group: 1),
            SecretDetector("wandb-key", #"(?i)WANDB_API_KEY['"]?\s*[:=]\s*['"]?([0-9a-f]{40})"#, group: 1),
            SecretDetector("wandb-key", #"wandb login (?:--relogin )?(?:--host[= ]\S+ )?([0-9a-f]{40})"#, group: 1),
            SecretDetector("google-api-key", #"AIza[0-9A-Za-z_\-]{35}"#, notAfter: w),
            SecretDetector("google-oauth-token", #"ya29\.[0-9A-Za-z_\-]{30,}"#, notAfter: w),
            SecretDetector("google-oauth-token", #"1//0[0-9A-Za-z_\-]{30,}"#, notAfter: w),
            SecretDetector("npm-token", #"npm_[A-Za-z0-9]{36}"#, notAfter: w),
            SecretDetector("pypi-token", #"pypi-AgE[A-Za-z0-9_\-]{50,}"#, notAfter: w),
            SecretDetector("sendgrid-key", #"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"#, notAfter: w),
            SecretDetector("digitalocean-token", #"do[por]_v1_[a-f0-9]{64}"#, notAfter: w),
            SecretDetector("shopify-token", #"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"#, notAfter: w),
            SecretDetector("databricks-token", #"dapi[a-f0-9]{32}(?:-[0-9])?"#, notAfter: w),
            SecretDetector("groq-key", #"gsk_[A-Za-z0-9]{40,}"#, notAfter: w),
            SecretDetector("replicate-token", #"r8_[A-Za-z0-9]{30,}"#, notAfter: w),
            SecretDetector("nvidia-key", #"nvapi-[A-Za-z0-9_\-]{40,}"#, notAfter: w),
            SecretDetector("twilio-key", #"SK[0-9a-f]{32}(?![0-9a-f])"#, notAfter: w),
            SecretDetector("mailgun-key", #"key-[0-9a-f]{32}(?![0-9a-f])"#, notAfter: w),
            SecretDetector("azure-storage-key", #"(?i)AccountKey=([A-Za-z0-9+/]{40,}={0,2})"#, group: 1),
            SecretDetector("linear-key", #"lin_api_[A-Za-z0-9]{40}"#, notAfter: w),
            SecretDetector("notion-token", #"(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,})"#, notAfter: w),
            SecretDetector("supabase-token", #"sbp_[a-f0-9]{40}"#, notAfter: w),
            SecretDetector("postman-key", #"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"#, notAfter: w),
            SecretDetector("doppler-token", #"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}"#, notAfter: w),
            SecretDetector("pulumi-token", #"pul-[a-f0-9]{40}"#, notAfter: w),
            SecretDetector("mapbox-token", #"sk\.eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{10,}"#, notAfter: w),
            SecretDetector("perplexity-key", #"pplx-[A-Za-z0-9]{40,}"#, notAfter: w),
            SecretDetector("xai-key", #"xai-[A-Za-z0-9]{40,}"#, notAfter: w),
            SecretDetector("fireworks-key", #"fw_[A-Za-z0-9]{20,}"#, notAfter: w),
            SecretDetector("age-secret-key", #"AGE-SECRET-KEY-1[0-9A-Z]{58}"#),
            SecretDetector("atlassian-token", #"ATATT3[A-Za-z0-9_\-=]{100,}"#, notAfter: w),
            SecretDetector("vault-token", #"hv[sbr]\.[A-Za-z0-9_\-]{24,}"#, notAfter: w),
            SecretDetector("tailscale-key", #"tskey-[a-z]+-[A-Za-z0-9\-]{20,}"#, notAfter: w),
            SecretDetector("docker-token", #"dckr_pat_[A-Za-z0-9_\-]{20,}"#, notAfter: w),
            SecretDetector("telegram-bot-token", #"(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}"#),
            SecretDetector("jwt", #"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"#, notAfter: w + "-"),
            // scheme://user:password@host — the password only.
            SecretDetector("url-credentials",
                           #"(?i)(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{1,20}://[^\s:/@'"<>\\]{1,128}:([^\s@/'"<>\\]{1,256})@[A-Za-z0-9.\-\[]"#,
                           group: 1, accept: isLiteralValue),
            SecretDetector("bearer-token", #"(?i)authorization['"]?\s*[:=]\s*['"]?(?:bearer|basic|token)\s+([A-Za-z0-9._~+/\-]{8,}=*)"#,
                           group: 1, accept: isLiteralValue),
            SecretDetector("bearer-token", #"(?i)\bbearer\s+([A-Za-z0-9._~+/\-]{20,}=*)"#, group: 1, accept: looksRandom),
            // .env lines: NAME=value where the name says secret.
            SecretDetector("env-secret",
                           ##"(?mi)^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]{0,40}?(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|PASS|CREDENTIALS?|AUTH)[A-Za-z0-9_]{0,40})[ \t]*=[ \t]*['"]?([^\s'"#]{4,})"##,
                           group: 2, accept: looksRandom),
            // password= / password: pairs in code, logs, YAML, JSON text. (No leading name pattern: an
            // unbounded `[\w]*` before the keyword makes long base64 runs quadratic.)
            SecretDetector("password",
                           #"(?i)(?:password|passwd|passphrase|pwd)['"]?\s*[:=]\s*['"]?([^\s'",;&]{4,})"#,
                           group: 1, accept: isLiteralValue),
            // token= / secret= / api_key: pairs with a value that looks generated (high entropy in a key-like position).
            SecretDetector("secret",
                           #"(?i)(?:secret|token|api[_\-]?key|apikey|[_\-]key|access[_\-]?key|auth|private[_\-]?key|credentials?)['"]?\s*[:=]\s*['"]?([^\s'",;&]{8,})"#,
                           group: 1, accept: looksRandom),
        ]
    }()
}
