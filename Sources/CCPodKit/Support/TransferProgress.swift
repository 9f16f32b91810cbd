import Foundation

/// Counts what really crosses the pod stream during an exchange: payload bytes as the
/// request writer hands them to the stream, data bytes as the answer reader takes them
/// from it (before compression one way, after decompression the other), and the files
/// whose bytes are complete. Thread-safe: the writer and the reader run on their own
/// threads; every change is passed to `observer`.
public final class TransferProgress: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var filesDone = 0
        /// Files announced so far: the request's payloads, and the answer's data records as they arrive.
        public var filesTotal = 0
        public var bytesDone: Int64 = 0
        public var bytesTotal: Int64 = 0

        public init(filesDone: Int = 0, filesTotal: Int = 0, bytesDone: Int64 = 0, bytesTotal: Int64 = 0) {
            self.filesDone = filesDone
            self.filesTotal = filesTotal
            self.bytesDone = bytesDone
            self.bytesTotal = bytesTotal
        }
    }

    private let state = Locked(Snapshot())
    private let observer: @Sendable (Snapshot) -> Void

    public init(observer: @escaping @Sendable (Snapshot) -> Void) {
        self.observer = observer
    }

    public var current: Snapshot { state.current }

    /// Files and bytes that are going to travel (announced before they do).
    public func expect(files: Int, bytes: Int64) { change { $0.filesTotal += files; $0.bytesTotal += bytes } }

    /// Bytes that crossed the stream.
    public func moved(_ bytes: Int) { change { $0.bytesDone += Int64(bytes) } }

    /// A file whose bytes all crossed.
    public func fileDone() { change { $0.filesDone += 1 } }

    private func change(_ body: (inout Snapshot) -> Void) {
        let snapshot = state.withLock { s -> Snapshot in
            body(&s)
            return s
        }
        observer(snapshot)
    }
}
