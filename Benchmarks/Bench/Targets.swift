import Foundation

/// The published targets, each against what this run measured (medians).
extension Report {
    struct Target {
        var what: String
        var rtt: String
        var figure: String
        var passed: Bool
    }

    static func targets(_ bench: Bench) -> [Target] {
        var out: [Target] = []
        func versus(_ c: Row, _ x: Row) -> (Double, String) {
            let q = c.medianSeconds / x.medianSeconds
            return (q, "\(seconds(c.medianSeconds)) s vs \(seconds(x.medianSeconds)) s = \(String(format: "%.2fx", q))")
        }
        for kind in bench.settings.corpora {
            for link in bench.settings.profiles {
                let at = "\(kind.rawValue), \(link.name)"
                func row(_ s: Scenario, _ tool: String) -> Row? { bench.row(link, kind, s, tool) }
                if let c = row(.coldPush, "ccpod"), let x = row(.coldPush, "rsync -az") {
                    let (q, figure) = versus(c, x)
                    let limit = link.isLimited ? 0.8 : 1.0
                    out.append(Target(what: "cold push ≤ \(limit)x rsync -az", rtt: at, figure: figure, passed: q <= limit))
                }
                if let c = row(.coldPull, "ccpod"), let x = row(.coldPull, "rsync -az") {
                    let (q, figure) = versus(c, x)
                    out.append(Target(what: "cold pull ≤ 1.0x rsync -az", rtt: at, figure: figure, passed: q <= 1.0))
                }
                if let c = row(.noChange, "ccpod"), let x = row(.noChange, "rsync -az") {
                    let (q, figure) = versus(c, x)
                    out.append(Target(what: "no change ≤ 0.5x rsync, one exec", rtt: at,
                                      figure: figure + ", \(c.execs.map(String.init).joined(separator: "/")) exec", passed: q <= 0.5 && c.execs == [1]))
                }
                if let c = row(.grow10, "ccpod"), let x = row(.grow10, "rsync -az") {
                    let (q, figure) = versus(c, x)
                    let cb = c.medianUp + c.medianDown, xb = x.medianUp + x.medianDown
                    out.append(Target(what: "10 × 50 KB ≤ 0.5x rsync, fewer bytes", rtt: at, figure: figure + "; \(bytes(cb)) vs \(bytes(xb))",
                                      passed: q <= 0.5 && cb < xb && c.execs == [1]))
                }
                if link.rttMs >= 50 {
                    for s in Bench.floored {
                        guard let c = row(s, "ccpod"), let floor = bench.floorRow(link, kind, s) else { continue }
                        let (q, figure) = versus(c, floor)
                        out.append(Target(what: "\(s.rawValue) ≤ 1.5x the floor", rtt: at, figure: figure, passed: q <= 1.5))
                    }
                }
                if let c = row(.coldPush, "ccpod"), let p = row(.coldPush, "per-file ssh") {
                    let q = p.medianSeconds / c.medianSeconds
                    out.append(Target(what: "≥ 50x faster than per-file ssh (cold push, like for like)", rtt: at,
                                      figure: "\(seconds(p.medianSeconds)) s vs \(seconds(c.medianSeconds)) s = \(String(format: "%.0fx", q))", passed: q >= 50))
                }
            }
        }
        for (what, sample) in bench.memory {
            let rss = sample.maxRSSBytes ?? Int.max
            out.append(Target(what: "\(bytes(bench.bigBytes)) session, \(what): peak memory < 100 MB", rtt: "pool, 0 ms",
                              figure: bytes(rss), passed: rss < 100 << 20))
        }
        return out
    }
}
