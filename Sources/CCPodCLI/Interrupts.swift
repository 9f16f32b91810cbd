import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ctrl-C for long transfers: instead of dying mid-write, ccpod stops the transfer
/// itself (the current action), keeps what arrived, and reports.
final class Interrupts: @unchecked Sendable {
    static let shared = Interrupts()

    private let state = Locked<(requested: Bool, action: (@Sendable () -> Void)?)>((false, nil))
    private var source: DispatchSourceSignal?
    private let installLock = NSLock()

    /// Whether Ctrl-C was pressed since the handler was installed.
    var requested: Bool { state.current.requested }

    /// Runs `body` with `onInterrupt` as what Ctrl-C does.
    func whileRunning<T>(onInterrupt: @escaping @Sendable () -> Void, _ body: () throws -> T) throws -> T {
        install()
        let already = state.withLock { s -> Bool in
            s.action = onInterrupt
            return s.requested
        }
        if already { onInterrupt() }
        defer { state.withLock { $0.action = nil } }
        return try body()
    }

    /// Waits `seconds`; true when Ctrl-C came meanwhile.
    func sleep(seconds: Int) -> Bool {
        install()
        let end = Date().addingTimeInterval(Double(seconds))
        while Date() < end {
            if requested { return true }
            usleep(100_000)
        }
        return requested
    }

    private func install() {
        installLock.lock()
        defer { installLock.unlock() }
        guard source == nil else { return }
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let state = self.state
        s.setEventHandler {
            let (first, action) = state.withLock { st -> (Bool, (@Sendable () -> Void)?) in
                let first = !st.requested
                st.requested = true
                return (first, st.action)
            }
            if first {
                FileHandle.standardError.write(Data("\nstopping: what arrived is kept (Ctrl-C again to quit at once)\n".utf8))
                action?()
            } else {
                signal(SIGINT, SIG_DFL)
                kill(getpid(), SIGINT)
            }
        }
        s.resume()
        source = s
    }
}
