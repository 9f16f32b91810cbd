import Foundation
import Testing
@testable import CCPodKit
import CCPodTestSupport

/// The RunPod API's transport: curl, told the request in a config on its stdin.
@Suite(.enabled(if: hasCurl, "curl is not installed (ccpod reaches the RunPod API with it)")) struct CurlTransportTests {
    /// Every byte of a header value and a body that curl's config syntax gives meaning to
    /// (quotes, backslashes, a line break and a tab in the body, "@" and "#") reaches the
    /// server as it was, and the key is in no command line.
    @Test func whatCurlSendsIsTheRequestByteForByte() throws {
        let fake = try FakeRunPodAPI()
        defer { fake.shutdown() }
        fake.setPod(.init(id: "abc123", sshPort: 41022))
        let body = Data("{\"note\":\"say \\\"hi\\\" \\\\ then\\nnext\\tcol @file # not a comment\"}".utf8)
        let url = URL(string: "/v2/pods/abc123/action", relativeTo: fake.baseURL)!.absoluteURL
        let request = HTTPRequest(method: "POST", url: url,
                                  headers: ["Authorization": "Bearer \(fake.apiKey)", "X-Odd": "a \"quoted\" \\ value # here"],
                                  body: body)
        _ = try CurlTransport().send(request, timeout: .seconds(5))
        let got = try #require(fake.requests.last)
        #expect(got.method == "POST")
        #expect(got.body == body)
        #expect(got.headers["x-odd"] == "a \"quoted\" \\ value # here")
        #expect(got.headers["authorization"] == "Bearer \(fake.apiKey)")
        #expect(got.headers["expect"] == nil)
    }

    @Test func aLineBreakInAHeaderIsRefusedBeforeAnythingIsSent() throws {
        let request = HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:9/x")!,
                                  headers: ["Authorization": "Bearer k\nurl = \"http://elsewhere\""])
        #expect(throws: CCPodError.self) { try CurlTransport.config(for: request, seconds: 5, maxBody: 1 << 20) }
        let file = HTTPRequest(method: "GET", url: URL(string: "file:///etc/passwd")!)
        #expect(throws: CCPodError.self) { try CurlTransport.config(for: file, seconds: 5, maxBody: 1 << 20) }
    }

    @Test func theFinalHeaderBlockAndTheStatusAreRead() throws {
        let raw = Data(("HTTP/1.1 100 Continue\r\n\r\n"
            + "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Type: application/json\r\n\r\n"
            + "{\"a\":\"HTTP/1.1 200 OK\\r\\n\"}\n429").utf8)
        let response = try #require(CurlTransport.parse(raw))
        #expect(response.status == 429)
        #expect(response.headers["retry-after"] == "3")
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"a\":\"HTTP/1.1 200 OK\\r\\n\"}")
        // No answer at all (curl's 000), or no status: nothing.
        #expect(CurlTransport.parse(Data("\n000".utf8)) == nil)
        #expect(CurlTransport.parse(Data("HTTP/1.1 200 OK\r\n\r\n{}".utf8)) == nil)
        // An empty body.
        #expect(CurlTransport.parse(Data("HTTP/1.1 204 No Content\r\n\r\n\n204".utf8))?.body.isEmpty == true)
    }

    @Test func noServerAndNoCurlAreSentencesNotCrashes() throws {
        let request = HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(LoopbackSSHD.freePort())/v2/pods")!)
        #expect(throws: CCPodError.self) { try CurlTransport().send(request, timeout: .seconds(3)) }
        do {
            _ = try CurlTransport(executable: "/nonexistent/curl").send(request, timeout: .seconds(3))
            Issue.record("a missing curl must fail")
        } catch let error as CCPodError {
            #expect(error.message.contains("install curl"))
        }
    }
}

extension CurlTransportTests {
    /// An API that never stops answering (chunked, no length: curl before 8.4 ignores
    /// max-filesize there) is cut at the limit: a sentence, and ccpod's memory bounded.
    @Test func anEndlessAnswerIsCutAtTheLimit() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        listen(listener, 1)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let sent = Locked<Int>(0)
        let server = Thread {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var request = [UInt8](repeating: 0, count: 4096)
            _ = read(fd, &request, request.count)
            let head = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n".utf8)
            guard write(fd, head, head.count) == head.count else { return }
            let chunk = Array(("10000\r\n" + String(repeating: "x", count: 0x10000) + "\r\n").utf8)
            for _ in 0..<4096 {  // 256 MiB at most, should the limit not hold
                if write(fd, chunk, chunk.count) != chunk.count { return }
                sent.withLock { $0 += chunk.count }
            }
        }
        server.start()
        defer { close(listener) }
        let request = HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(port)/v2/pods/abc")!)
        do {
            _ = try CurlTransport(maxBody: 1 << 20).send(request, timeout: .seconds(20))
            Issue.record("an endless answer must be refused")
        } catch let error as CCPodError {
            #expect(error.message.contains("more than 1 MiB"), "\(error.message)")
        }
        // curl was stopped soon after the limit, not left to read it all.
        while !server.isFinished { usleep(10_000) }
        #expect(sent.current < 64 << 20, "the server sent \(sent.current) bytes")
    }
}
