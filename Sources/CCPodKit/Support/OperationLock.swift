import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One ccpod at a time per pod and per Claude dir: an exclusive `flock` on a file
/// under the state dir's `locks/`, held until `release()` or the process ends.
///
/// The kernel drops a lock when its holder dies, so a crashed or killed ccpod never
/// leaves one behind. The holder writes its pid and what it does into the file, so a
/// second ccpod can say whom it waits for.
public final class OperationLock: @unchecked Sendable {
    private var fd: Int32
    public let file: URL

    private init(fd: Int32, file: URL) {
        self.fd = fd
        self.file = file
    }

    deinit { release() }

    /// What one lock guards: a pod (by name), a Claude dir (by its real path), the
    /// local copy of a share repository (by its remote), the archive.
    public enum Subject: Sendable, Hashable {
        case pod(String)
        case claudeDir(String)
        case share(String)
        /// ccpod's session archive and its index (`ccpod archive`).
        case archive

        /// The lock file's name: readable for a pod, a digest for a path.
        var fileName: String {
            switch self {
            case .pod(let name):
                let safe = name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) ? String($0) : "_" }.joined()
                return "pod-\(safe.prefix(64))-\(Self.digest(name)).lock"
            case .claudeDir(let path):
                let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
                return "claude-\(Self.digest(real)).lock"
            case .share(let remote):
                return "share-\(Self.digest(remote)).lock"
            case .archive:
                return "archive.lock"
            }
        }

        static func digest(_ s: String) -> String { String(SHA256Hex.of(Data(s.utf8)).prefix(12)) }
    }

    /// Takes the locks of `subjects` in a fixed order (so two ccpods never wait for
    /// each other). When one is held elsewhere: with `wait`, blocks until it is free,
    /// calling `waiting` once (with whom it waits for) after `patience` seconds;
    /// without, throws `.busy` (exit 75) naming the holder.
    public static func acquire(_ subjects: [Subject], stateDir: URL, purpose: String, wait: Bool = true,
                               patience: TimeInterval = 1, waiting: (String) -> Void = { _ in }) throws -> [OperationLock] {
        var held: [OperationLock] = []
        for subject in Set(subjects).sorted(by: { $0.fileName < $1.fileName }) {
            held.append(try acquire(subject, stateDir: stateDir, purpose: purpose, wait: wait, patience: patience, waiting: waiting))
        }
        return held
    }

    static func acquire(_ subject: Subject, stateDir: URL, purpose: String, wait: Bool,
                        patience: TimeInterval, waiting: (String) -> Void) throws -> OperationLock {
        let dir = stateDir.appendingPathComponent("locks", isDirectory: true)
        try CCPodLocations.makePrivateDirectory(dir)
        let file = dir.appendingPathComponent(subject.fileName)
        let fd = open(file.path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CCPodError.io("cannot open the lock \(file.path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw CCPodError.io("cannot lock \(file.path): \(reason)")
            }
            let holder = Self.holder(of: fd)
            guard wait else {
                close(fd)
                throw CCPodError(.busy, "\(holder) right now; run this again when it is done, or without --no-wait to wait for it")
            }
            let deadline = Date().addingTimeInterval(patience)
            var told = false
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK || errno == EINTR else {
                    let reason = String(cString: strerror(errno))
                    close(fd)
                    throw CCPodError.io("cannot lock \(file.path): \(reason)")
                }
                if !told && Date() >= deadline {
                    waiting("waiting for \(Self.holder(of: fd))")
                    told = true
                }
                usleep(50_000)
            }
        }
        let lock = OperationLock(fd: fd, file: file)
        lock.describe("ccpod pid \(getpid()), \(purpose)")
        return lock
    }

    /// Releases the lock (also done when the object goes away or the process ends).
    public func release() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    private func describe(_ text: String) {
        _ = ftruncate(fd, 0)
        let line = Data((text + "\n").utf8)
        _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Whom the lock file names ("ccpod pid 4242, syncing with gpu1"), read while it is held.
    static func holder(of fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").first.map(String.init) : nil
        return text.map { TerminalText.escape($0) } ?? "another ccpod"
    }
}
