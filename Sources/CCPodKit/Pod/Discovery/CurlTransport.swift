import Foundation

/// `HTTPTransport` through the `curl` program, the way ccpod reaches the RunPod API.
///
/// Not URLSession: on Linux that is FoundationNetworking, which links libcurl and the
/// thirty libraries behind it into every ccpod command, including the many that never
/// talk HTTP (a sync, a hook): `ccpod --version` took 11.5 ms with them and takes 4.8 ms
/// without (`perf stat -r 40` on a 2-core VM). curl ships with macOS and nearly every
/// Linux image.
///
/// The request goes to curl as a config file on its stdin (`-K -`), so the API key is
/// never in a command line another user could read; `-q` first keeps `~/.curlrc` out.
/// The answer is read back whole from stdout: the headers (`dump-header`), the body (at
/// most `maxBody` bytes), and the status after a last newline (`write-out`).
public struct CurlTransport: HTTPTransport {
    /// The curl to run: a path, or a name looked up in `PATH`.
    public var executable: String
    /// The most of a body ccpod takes; curl stops past it.
    public var maxBody: Int

    /// What the headers and the status may add to a body on curl's stdout.
    static let headRoom = 256 << 10

    public init(executable: String = "curl", maxBody: Int = 16 << 20) {
        self.executable = executable
        self.maxBody = maxBody
    }

    public func send(_ request: HTTPRequest, timeout: Duration) throws -> HTTPResponse {
        let host = request.url.host ?? "?"
        let seconds = max(1, Int((Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18).rounded(.up)))
        let config = try Self.config(for: request, seconds: seconds, maxBody: maxBody)
        let output: ChildProcess.Output
        do {
            // (curl 8.4 and later stop at max-filesize by themselves; an older one reading an
            // answer of unknown length is stopped here, by what it wrote.)
            output = try ChildProcess.run(executable, ["-q", "-K", "-"], input: Data(config.utf8),
                                          stdoutLimit: maxBody + Self.headRoom)
        } catch {
            throw CCPodError.unavailable("ccpod reaches the RunPod API with curl, which cannot be run here (\(error)); install curl")
        }
        if output.stdout.count > maxBody + Self.headRoom {
            throw CCPodError.unavailable("the RunPod API at \(host) answered with more than \(maxBody >> 20) MiB; nothing was read")
        }
        switch output.status {
        case 0: break
        case 28: throw CCPodError.unavailable("the RunPod API at \(host) did not answer within \(seconds) s")
        case 63: throw CCPodError.unavailable("the RunPod API at \(host) answered with more than \(maxBody >> 20) MiB; nothing was read")
        default:
            let said = TerminalText.escape(output.stderrText.split(whereSeparator: \.isNewline).last.map(String.init) ?? "")
            throw CCPodError.unavailable("cannot reach the RunPod API at \(host): curl exited \(output.status)\(said.isEmpty ? "" : ": \(said)")")
        }
        guard let response = Self.parse(output.stdout) else {
            throw CCPodError.unavailable("cannot reach the RunPod API at \(host): curl gave no HTTP answer")
        }
        return response
    }

    /// curl's config for one request. Values are quoted with curl's escapes; a line
    /// break in a header would start another option, so it is refused.
    static func config(for request: HTTPRequest, seconds: Int, maxBody: Int) throws -> String {
        func quoted(_ value: String) throws -> String {
            guard !value.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\0" }) else {
                throw CCPodError.usage("an HTTP request value holds a line break; nothing was sent")
            }
            return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        guard let scheme = request.url.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            throw CCPodError.usage("the RunPod API address must be https:// (or http:// for a local test server)")
        }
        guard request.method.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw CCPodError.usage("invalid HTTP method \(TerminalText.escape(request.method))")
        }
        var lines = [
            "url = \(try quoted(request.url.absoluteString))",
            "request = \(try quoted(request.method))",
            "proto = \"=http,https\"",
            "silent", "show-error",
            "max-time = \(seconds)",
            "connect-timeout = \(min(seconds, 15))",
            "max-filesize = \(maxBody)",
            "dump-header = \"-\"",
            "write-out = \"\\n%{http_code}\"",
            // No Expect: 100-continue round trip before a body.
            "header = \"Expect:\"",
        ]
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw CCPodError.usage("invalid HTTP header name \(TerminalText.escape(name))")
            }
            lines.append("header = \(try quoted("\(name): \(value)"))")
        }
        if let body = request.body {
            // Inline, never "@file": a body is JSON, text without NUL or line breaks once escaped.
            guard let text = String(data: body, encoding: .utf8), !text.contains("\0") else {
                throw CCPodError.usage("an HTTP request body that is not text; nothing was sent")
            }
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
                .replacingOccurrences(of: "\t", with: "\\t")
            lines.append("data-binary = \"\(escaped)\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Headers (the last block: an interim 1xx one comes first), body, "\n" and the status.
    static func parse(_ raw: Data) -> HTTPResponse? {
        let bytes = [UInt8](raw)
        guard let lastNewline = bytes.lastIndex(of: 0x0A) else { return nil }
        let statusText = String(decoding: bytes[(lastNewline + 1)...], as: UTF8.self)
        guard statusText.count == 3, let status = Int(statusText), status >= 100 else { return nil }
        var rest = bytes[..<lastNewline]
        var headers: [String: String] = [:]
        let http = Array("HTTP/".utf8)
        while rest.starts(with: http) {
            // A block ends at an empty line (CRLF CRLF, or LF LF from a lax server).
            guard let end = Self.blockEnd(rest) else { return nil }
            let block = String(decoding: rest[rest.startIndex..<end.start], as: UTF8.self)
            rest = rest[end.after...]
            headers = [:]
            for line in block.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }).dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if headers[name] == nil { headers[name] = value }
            }
        }
        return HTTPResponse(status: status, headers: headers, body: Data(rest))
    }

    private static func blockEnd(_ bytes: ArraySlice<UInt8>) -> (start: Int, after: Int)? {
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 0x0A {
                if i + 1 < bytes.endIndex, bytes[i + 1] == 0x0A { return (i, i + 2) }
                if i + 2 < bytes.endIndex, bytes[i + 1] == 0x0D, bytes[i + 2] == 0x0A { return (i, i + 3) }
            }
            i += 1
        }
        return nil
    }
}
