import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local cost ledger (`<state dir>/ledger.sqlite`, SQLite through GRDB): what ccpod
/// saw of its pods' cost, so `ccpod cost` and the budgets work offline.
///
/// What to record, and who calls it:
/// - `recordPodState(pod:status:costPerHour:at:)`: whenever ccpod learns a pod's status
///   and price (`pod status`, `pod start`, `pod stop`, recovery through the API). Only
///   changes are stored: the same status and price again is a no-op.
/// - `recordSessionStart(pod:project:run:kind:)` / `recordSessionEnd(_:)`: around the
///   time a terminal is in Claude on the pod (`launch`, `attach`).
/// - `importBilling(_:podId:)`: RunPod's own bill (`GET /v2/billing/pods`).
///
/// Two ccpods may write at once: the database is in WAL mode, writers wait up to
/// `busyTimeout` for each other, and the schema is created under a file lock. The API
/// key is never stored. A damaged file is refused with what to do (exit 65).
public final class CostLedger: Sendable {
    public let file: URL
    let pool: DatabasePool

    /// How long a writer waits for another ccpod's write.
    public static let busyTimeout: TimeInterval = 15

    /// The ledger of this state dir, created when missing.
    public static func open(locations: CCPodLocations) throws -> CostLedger {
        try CostLedger(file: locations.stateDir.appendingPathComponent("ledger.sqlite"))
    }

    /// Opens (and creates or migrates) the ledger at `file` (folder 0700, file 0600).
    public init(file: URL) throws {
        self.file = file
        try CCPodLocations.makePrivateDirectory(file.deletingLastPathComponent())
        var configuration = Configuration()
        configuration.busyMode = .timeout(CostLedger.busyTimeout)
        configuration.label = "ccpod-ledger"
        do {
            let migrator = CostLedger.migrator
            let lockFD = try CostLedger.lockSchema(file)
            defer { flock(lockFD, LOCK_UN); close(lockFD) }
            // Created empty and private first (never replacing one): SQLite gives its -wal
            // and -shm files the database's mode.
            let created = CostLedger.openFile(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC)
            if created >= 0 { close(created) }
            pool = try DatabasePool(path: file.path, configuration: configuration)
            try migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw CostLedger.explain(error, file: file)
        }
    }

    // MARK: - Writing

    /// Records what ccpod saw of a pod; returns false when it is what the ledger already
    /// had last for that pod (same status, price and GPU count), which is not stored again.
    @discardableResult
    public func recordPodState(pod: String, runpodId: String? = nil, status: String, costPerHour: Double?,
                               gpuCount: Int? = nil, at: Date = Date()) throws -> Bool {
        guard !pod.isEmpty, !status.isEmpty else { throw CCPodError.usage("a pod state needs a pod and a status") }
        if let costPerHour, !(costPerHour.isFinite && costPerHour >= 0 && costPerHour < 100_000) {
            throw CCPodError.badData("an impossible price for pod \(pod): \(costPerHour) USD per hour")
        }
        if let gpuCount, !(0...1024).contains(gpuCount) {
            throw CCPodError.badData("an impossible GPU count for pod \(pod): \(gpuCount)")
        }
        return try write { db in
            let last = try Row.fetchOne(db, sql: """
                SELECT status, cost_per_hour, gpu_count FROM pod_state WHERE pod = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1
                """, arguments: [pod, at.timeIntervalSince1970])
            if let last, last["status"] as String == status, last["cost_per_hour"] as Double? == costPerHour,
               last["gpu_count"] as Int? == gpuCount {
                return false
            }
            try db.execute(sql: """
                INSERT INTO pod_state (pod, runpod_id, status, cost_per_hour, gpu_count, at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [pod, runpodId, status, costPerHour, gpuCount, at.timeIntervalSince1970])
            return true
        }
    }

    /// Records that a terminal went to Claude on `pod` for `project` (its folder here)
    /// and `run` (the run folder on the pod, if any). Pair it with `recordSessionEnd`.
    public func recordSessionStart(pod: String, project: String, run: String?, kind: LedgerSessionKind,
                                   at: Date = Date()) throws -> LedgerSessionID {
        try write { db in
            try db.execute(sql: "INSERT INTO session (pod, project, run, kind, started_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [pod, project, run, kind.rawValue, at.timeIntervalSince1970])
            return LedgerSessionID(db.lastInsertedRowID)
        }
    }

    /// Records that the terminal came back.
    public func recordSessionEnd(_ id: LedgerSessionID, at: Date = Date()) throws {
        try write { db in
            try db.execute(sql: "UPDATE session SET ended_at = MAX(started_at, ?) WHERE id = ? AND ended_at IS NULL",
                           arguments: [at.timeIntervalSince1970, id.rawValue])
        }
    }

    /// Replaces what the ledger holds for the page's window (for `podId`, or every pod when
    /// nil) with the page's records; returns how many were stored.
    @discardableResult
    public func importBilling(_ page: RunPodBillingPage, podId: String? = nil, at: Date = Date()) throws -> Int {
        try write { db in
            let from = page.windowStart.timeIntervalSince1970, to = page.windowEnd.timeIntervalSince1970
            if let podId {
                try db.execute(sql: "DELETE FROM billing WHERE runpod_id = ? AND start_time >= ? AND start_time < ?",
                               arguments: [podId, from, to])
            } else {
                try db.execute(sql: "DELETE FROM billing WHERE start_time >= ? AND start_time < ?", arguments: [from, to])
            }
            for r in page.records where podId == nil || r.podId == podId {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO billing (runpod_id, start_time, end_time, total_usd, gpu_usd, cpu_usd, disk_usd, fetched_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [r.podId, r.start.timeIntervalSince1970, r.end.timeIntervalSince1970, r.totalAmount,
                                     r.gpuAmount, r.cpuAmount, r.diskAmount, at.timeIntervalSince1970])
            }
            return page.records.filter { podId == nil || $0.podId == podId }.count
        }
    }

    // MARK: - Reading

    /// Every state change up to `to`, the sessions and billing buckets that overlap `[from, to)`.
    public func snapshot(from: Date, to: Date) throws -> LedgerSnapshot {
        let a = from.timeIntervalSince1970, b = to.timeIntervalSince1970
        return try read { db in
            let states = try Row.fetchAll(db, sql: "SELECT * FROM pod_state WHERE at < ? ORDER BY at, id", arguments: [b]).map { row in
                PodStateRecord(pod: row["pod"], runpodId: row["runpod_id"], status: row["status"], costPerHour: row["cost_per_hour"],
                               gpuCount: row["gpu_count"], at: Date(timeIntervalSince1970: row["at"]))
            }
            // An open session may reach into the window from before it.
            let sessions = try Row.fetchAll(db, sql: """
                SELECT * FROM session WHERE started_at < ? AND (ended_at IS NULL OR ended_at > ?) ORDER BY started_at, id
                """, arguments: [b, a]).map { row in
                SessionRecord(id: LedgerSessionID(row["id"]), pod: row["pod"], project: row["project"], run: row["run"],
                              kind: LedgerSessionKind(rawValue: row["kind"]) ?? .launch,
                              start: Date(timeIntervalSince1970: row["started_at"]),
                              end: (row["ended_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
            let billing = try Row.fetchAll(db, sql: """
                SELECT * FROM billing WHERE start_time < ? AND end_time > ? ORDER BY start_time, runpod_id
                """, arguments: [b, a]).map { row in
                RunPodBillingRecord(podId: row["runpod_id"], start: Date(timeIntervalSince1970: row["start_time"]),
                                    end: Date(timeIntervalSince1970: row["end_time"]), totalAmount: row["total_usd"],
                                    gpuAmount: row["gpu_usd"], cpuAmount: row["cpu_usd"], diskAmount: row["disk_usd"])
            }
            return LedgerSnapshot(states: states, sessions: sessions, billing: billing)
        }
    }

    // MARK: - Internals

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: pod states, sessions, billing") { db in
            try db.execute(sql: """
                CREATE TABLE pod_state (
                    id INTEGER PRIMARY KEY,
                    pod TEXT NOT NULL,
                    runpod_id TEXT,
                    status TEXT NOT NULL,
                    cost_per_hour REAL CHECK (cost_per_hour IS NULL OR cost_per_hour >= 0),
                    gpu_count INTEGER,
                    at REAL NOT NULL
                );
                CREATE INDEX pod_state_by_pod ON pod_state (pod, at);
                CREATE TABLE session (
                    id INTEGER PRIMARY KEY,
                    pod TEXT NOT NULL,
                    project TEXT NOT NULL,
                    run TEXT,
                    kind TEXT NOT NULL CHECK (kind IN ('launch', 'attach')),
                    started_at REAL NOT NULL,
                    ended_at REAL
                );
                CREATE INDEX session_by_start ON session (started_at);
                CREATE TABLE billing (
                    runpod_id TEXT NOT NULL,
                    start_time REAL NOT NULL,
                    end_time REAL NOT NULL,
                    total_usd REAL NOT NULL,
                    gpu_usd REAL NOT NULL,
                    cpu_usd REAL NOT NULL,
                    disk_usd REAL NOT NULL,
                    fetched_at REAL NOT NULL,
                    PRIMARY KEY (runpod_id, start_time, end_time)
                );
                """)
        }
        return migrator
    }

    /// Two ccpods opening a new ledger at once must not both create its tables.
    static func lockSchema(_ file: URL) throws -> Int32 {
        let path = file.path + ".lock"
        let fd = openFile(path, O_RDWR | O_CREAT | O_CLOEXEC)
        guard fd >= 0 else { throw CCPodError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CCPodError.io("cannot lock \(path): \(reason)")
        }
        return fd
    }

    static func openFile(_ path: String, _ flags: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.open(path, flags, 0o600)
        #else
        return Darwin.open(path, flags, 0o600)
        #endif
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch let error as DatabaseError { throw CostLedger.explain(error, file: file) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as DatabaseError { throw CostLedger.explain(error, file: file) }
    }

    /// A sentence for a database failure: what happened to which file and what to do.
    static func explain(_ error: DatabaseError, file: URL) -> CCPodError {
        let path = file.path
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT, .SQLITE_FORMAT, .SQLITE_SCHEMA, .SQLITE_MISMATCH, .SQLITE_CONSTRAINT, .SQLITE_ERROR:
            return .badData("""
                the cost ledger \(path) is damaged (\(error.message ?? "\(error.resultCode)")). Move it aside \
                (`mv \(path) \(path).damaged`) and ccpod starts a new one; RunPod's billed amounts come back \
                with the next `ccpod cost`, local estimates before then are lost
                """)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return .init(.busy, "the cost ledger \(path) stayed locked by another ccpod for \(Int(busyTimeout)) s; try again")
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FULL:
            return .io("cannot write the cost ledger \(path): \(error.message ?? "\(error.resultCode)"); check the folder's permissions and free space")
        default:
            return .io("the cost ledger \(path) failed: \(error.message ?? "\(error.resultCode)")")
        }
    }
}
