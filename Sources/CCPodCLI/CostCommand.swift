import ArgumentParser
import CCPodKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ccpod cost`: GPU-hours and dollars from the local ledger and RunPod's bill.
struct CostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "What the pods cost: GPU-hours and USD per pod, project or run, and a bar per day.",
        discussion: """
        Figures come from the local ledger (what ccpod saw: pod states with their $/h, \
        launches and attaches) and, when a RunPod API key and a pod's runpodId are \
        configured, RunPod's own bill, fetched first (one request). Billed amounts are \
        shown as billed; the rest are estimates ($/h × time), marked with ~. \
        `ccpod cost` is `ccpod cost report`: --since (7d), --by pod|project|run, --json, \
        --no-refresh (see `ccpod cost report --help`).
        """,
        subcommands: [CostReportCommand.self, CostRecordCommand.self],
        defaultSubcommand: CostReportCommand.self)
}

/// What `ccpod cost` reads for "now" and days (tests fix them).
enum CostClock {
    @TaskLocal static var now: Date? = nil
    @TaskLocal static var calendar: Calendar? = nil

    static var current: Date { now ?? Date() }
    static var currentCalendar: Calendar { calendar ?? .current }
}

extension CostGrouping: ExpressibleByArgument {}

struct CostReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Show GPU-hours and USD (the default of `ccpod cost`).")

    @Option(help: ArgumentHelp("How far back: 30m, 24h, 7d, 2w, or a date (2026-11-01).", valueName: "when"))
    var since = "7d"

    @Option(help: ArgumentHelp("Group by pod, project (time in Claude) or run.", valueName: "pod|project|run"))
    var by: CostGrouping = .pod

    @Flag(help: "Print the figures as JSON on stdout.")
    var json = false

    @Flag(name: .customLong("no-refresh"), help: "Do not ask RunPod for its bill; use the ledger only.")
    var noRefresh = false

    func run() throws {
        let now = CostClock.current
        let calendar = CostClock.currentCalendar
        let from: Date
        do { from = try CostSince.parse(since, now: now, calendar: calendar) } catch let e as CCPodError { throw ValidationError(e.message) }
        let locations = CLIContext.locations
        let config = try CCPodConfig.load(from: locations)
        let ledger = try CostLedger.open(locations: locations)
        var billing = CostBillingRefresh.Outcome.notConfigured
        if !noRefresh {
            billing = CostBillingRefresh.refresh(config: config, environment: CLIContext.environment, ledger: ledger, from: from, now: now)
            if case .failed(let why) = billing {
                Console.note("RunPod's bill was not refreshed (\(why)); the figures below are the ledger's")
            }
        }
        let calculator = CostCalculator(calendar: calendar, podNames: CostBillingRefresh.podNames(config))
        let report = calculator.report(try ledger.snapshot(from: from, to: now), from: from, to: now, by: by)
        if json {
            Console.out(try CostRendering.json(report, calendar: calendar, billing: billing) + "\n")
            return
        }
        let home = CLIContext.environment["HOME"]
        Console.out(CostRendering.text(report, calendar: calendar, unicode: isatty(1) == 1, home: home))
    }
}

struct CostRecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Tell the ledger a pod's status and price (for pods ccpod cannot ask RunPod about).",
        discussion: """
        For example `ccpod cost record gpu1 --status RUNNING --usd-per-hour 0.44` when you \
        started it, and `ccpod cost record gpu1 --status EXITED` when you stopped it. The \
        same status and price as last time is not recorded again.
        """)

    @Argument(help: ArgumentHelp("The pod's name.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("RUNNING, EXITED, TERMINATED, …", valueName: "status"))
    var status: String

    @Option(name: .customLong("usd-per-hour"), help: ArgumentHelp("What the pod costs per hour while running.", valueName: "usd"))
    var usdPerHour: Double?

    @Option(help: ArgumentHelp("How many GPUs the pod has (GPU-hours = hours × GPUs).", valueName: "n"))
    var gpus: Int?

    @Option(help: ArgumentHelp("When it happened: 10m (ago) or 2026-11-01T12:00:00Z. Default: now.", valueName: "when"))
    var at: String?

    func validate() throws {
        try PodSettings.validateName(name)
        guard status.range(of: "^[A-Z_]{2,20}$", options: .regularExpression) != nil else {
            throw ValidationError("--status takes a RunPod status in capitals: RUNNING, EXITED, TERMINATED, …")
        }
        if let usdPerHour, !(usdPerHour.isFinite && usdPerHour >= 0 && usdPerHour < 100_000) {
            throw ValidationError("--usd-per-hour must be a price from 0 to 100000")
        }
        if let gpus, !(0...1024).contains(gpus) { throw ValidationError("--gpus must be from 0 to 1024") }
    }

    func run() throws {
        let now = CostClock.current
        var when = now
        if let at {
            do { when = try CostSince.parse(at, now: now, calendar: CostClock.currentCalendar) } catch let e as CCPodError {
                throw ValidationError(e.message.replacingOccurrences(of: "--since", with: "--at"))
            }
        }
        let locations = CLIContext.locations
        let runpodId = (try? CCPodConfig.load(from: locations))?.pods[name]?.runpodId
        let ledger = try CostLedger.open(locations: locations)
        let price = usdPerHour ?? (status == "RUNNING" ? nil : 0)
        let stored = try ledger.recordPodState(pod: name, runpodId: runpodId, status: status, costPerHour: price, gpuCount: gpus, at: when)
        Console.note(stored ? "recorded: \(name) \(status)" + (price.map { " at \(CostFormat.usd($0))/h" } ?? "")
                            : "unchanged: the ledger already has \(name) \(status) at that price")
    }
}

/// The ledger around `launch` and `attach`: the session's time, and the budget check.
/// A ledger that cannot be used never stops the work: it is said on stderr.
enum CostRecording {
    /// Runs `body` (the terminal in Claude on the pod) and records it as a session of
    /// `project` (and its run, when `podPath` is a run's `code/`).
    static func session<T>(_ kind: LedgerSessionKind, pod: String, project: String, podPath: String?,
                           _ body: () throws -> T) throws -> T {
        var ledger: CostLedger?
        var id: LedgerSessionID?
        do {
            let opened = try CostLedger.open(locations: CLIContext.locations)
            id = try opened.recordSessionStart(pod: pod, project: project, run: podPath.flatMap(LedgerRun.folder(ofPodPath:)), kind: kind)
            ledger = opened
        } catch {
            Console.note("cost ledger: this \(kind.rawValue) is not recorded (\(error))")
        }
        defer {
            if let ledger, let id {
                do { try ledger.recordSessionEnd(id) } catch { Console.note("cost ledger: the end of this \(kind.rawValue) is not recorded (\(error))") }
            }
        }
        return try body()
    }

    /// What RunPod said of a pod, kept in the ledger (only when its status, price or GPU
    /// count changed): the estimate `ccpod cost` gives between bills comes from these.
    static func podState(_ state: RunPodPod, pod: String) {
        do {
            try CostLedger.open(locations: CLIContext.locations).recordPodState(
                pod: pod, runpodId: state.id, status: state.status, costPerHour: state.isRunning ? state.costPerHour : 0,
                gpuCount: state.details.gpuCount, at: CostClock.current)
        } catch {
            Console.note("cost ledger: \(pod)'s state \(state.status) is not recorded (\(error))")
        }
    }

    /// The pod's own budget before it is started (`pod start`), as `checkBudget`.
    static func checkPodBudget(_ settings: PodSettings, overBudget: Bool) throws {
        try enforce(pod: settings.name, podBudget: settings.budget, project: nil, overBudget: overBudget, action: "start \(settings.name)")
    }

    /// `CostBudgetCheck.enforce` for the pod and this project: warns at 80 %, refuses
    /// past 100 % (exit 3) unless `overBudget`.
    static func checkBudget(pod: ResolvedPod, project: ProjectContext, overBudget: Bool, action: String) throws {
        try enforce(pod: pod.name, podBudget: pod.settings?.budget ?? CostBudget(), project: project, overBudget: overBudget, action: action)
    }

    /// The check on this machine's ledger; a ledger that cannot be read is said, never fatal.
    private static func enforce(pod: String, podBudget: CostBudget, project: ProjectContext?, overBudget: Bool, action: String) throws {
        let projectBudget = project?.settings.budget ?? CostBudget()
        guard !podBudget.isEmpty || !projectBudget.isEmpty else { return }
        let ledger: CostLedger
        do {
            ledger = try CostLedger.open(locations: CLIContext.locations)
        } catch {
            Console.note("budget not checked: \(error)")
            return
        }
        let calculator = CostCalculator(calendar: CostClock.currentCalendar,
                                        podNames: CostBillingRefresh.podNames((try? CCPodConfig.load(from: CLIContext.locations)) ?? CCPodConfig()))
        do {
            try CostBudgetCheck.enforce(pod: pod, podBudget: podBudget, project: project?.root, projectBudget: projectBudget,
                                        overBudget: overBudget, action: action, ledger: ledger, now: CostClock.current,
                                        calculator: calculator, note: { Console.note($0) })
        } catch let error as CCPodError where error.status != .overBudget {
            Console.note("budget not checked: \(error.message)")
        }
    }
}
