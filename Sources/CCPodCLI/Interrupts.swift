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

    private let state = Locked<(requested: Bool, presses: Int, action: (@Sendable () -> Void)?)>((false, 0, nil))
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
        let state = self.state
        source = armedSignalSource(SIGINT) {
            let (presses, action) = state.withLock { st -> (Int, (@Sendable () -> Void)?) in
                st.presses += 1
                st.requested = true
                return (st.presses, st.action)
            }
            switch presses {
            case 1:
                Console.writeError("\nstopping after the file in flight (Ctrl-C again to stop at once, keeping what arrived)\n")
                action?()
            case 2:
                Console.writeError("\nstopping now: the part that arrived is kept for the next run\n")
                action?()
            default:
                signal(SIGINT, SIG_DFL)
                kill(getpid(), SIGINT)
            }
        }
    }
}

/// A dispatch source for `sig` whose handler is in place when this returns. The signal
/// is ignored first (its default would end ccpod), and libdispatch installs its own
/// handler on its own thread after `resume`: a signal in between met SIG_IGN and was
/// lost (a Ctrl-C right after `ccpod watch` said it was watching was never seen).
func armedSignalSource(_ sig: Int32, handler: @escaping @Sendable () -> Void) -> DispatchSourceSignal {
    signal(sig, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    let armed = DispatchSemaphore(value: 0)
    source.setRegistrationHandler { armed.signal() }
    source.setEventHandler(handler: handler)
    source.resume()
    _ = armed.wait(timeout: .now() + 2)
    return source
}
