import CCPodSystemShims

/// Sends a file being written to disk as it grows instead of all at its fsync: every
/// `step` bytes it starts writing out the newest range and waits for the one before,
/// so a multi-gigabyte file never piles up as dirty memory and its final fsync has
/// little left to do. Where the system cannot (macOS), it does nothing and the fsync
/// does all the work, as before.
struct WriteBehind {
    let fd: Int32
    /// Where the next range to write out starts.
    private var next: Int64
    private var written: Int64
    static let step: Int64 = 8 << 20

    /// For a file whose first `offset` bytes are already there.
    init(fd: Int32, offset: Int64) {
        self.fd = fd
        next = offset
        written = offset
    }

    /// Call after appending `count` bytes.
    mutating func wrote(_ count: Int) {
        written += Int64(count)
        while written - next >= Self.step {
            _ = ccpod_write_out(fd, next, Self.step, 0)
            if next >= Self.step { _ = ccpod_write_out(fd, next - Self.step, Self.step, 1) }
            next += Self.step
        }
    }

    /// Call when the file is complete: starts writing out what is left, without waiting.
    func finish() {
        if written > next { _ = ccpod_write_out(fd, next, written - next, 0) }
    }
}
