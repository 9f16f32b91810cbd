import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A push: the local folder, the plan, the files' bytes written into the request from a
// thread while the pod's results (`A`, `H`) are read. A result counts only for a file
// that was sent, with the size that was sent.

extension ArtifactTransfer {
    func push(_ channel: ArtifactChannel, _ listing: RunListing, _ state: inout ArtifactState, _ report: inout ArtifactReport) throws {
        let root = request.localDirectory
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            channel.endWithoutTransfer()
            throw CCPodError.usage("\(root) is not a folder here; name the folder to push with --from DIR")
        }
        let local = LocalFolder.list(root)
        let agreed = state.files
        let plan = try ArtifactPlan.push(
            listing: listing, state: state, files: local.files, links: local.links,
            sameAsAgreed: { path in
                guard let a = agreed[path] else { return false }
                return (try? SHA256Hex.ofFile(root + "/" + path)) == a.sha256
            },
            selection: request.selection, force: request.force, pod: connection.displayName)
        for (path, stamp) in plan.refreshed { state.files[path]?.local = stamp }
        report.unchanged += plan.unchanged
        report.actions += plan.reportedActions
        let total = plan.totalBytes
        let compares = plan.compares
        if request.dryRun || (plan.transfers.isEmpty && compares.isEmpty) {
            report.bytes = request.dryRun ? total : 0
            channel.endWithoutTransfer()
            return
        }
        if let free = listing.freeBytes, free > 0, total > free {
            channel.endWithoutTransfer()
            throw CCPodError.io("the pod has \(ArtifactFiles.bytes(free)) free where \(request.podDirectory) is, the push needs \(ArtifactFiles.bytes(total)); nothing was sent")
        }
        for t in plan.transfers { state.pushing[t.path] = t.stamp }
        try store.save(state)

        let compression = chooseCompression(listing)
        let planned = plan.transfers
        let progress = self.progress
        progress?.expect(files: planned.count, bytes: total)
        let sent = Locked(Int64(0))
        let sentHashes = Locked([String: String]())
        let compareText = Data(compares.map { ArtifactWire.PushRecord.compare(path: $0).line }.joined().utf8)
        try channel.sendRequest(requestCompression: compression, responseCompression: compression) { input in
            try input.write(compareText)
            for t in planned {
                // Ctrl-C: end the request between files; the pod answers for those it got.
                if self.isCancelled { break }
                let path = root + "/" + t.path
                // The whole file's SHA-256, hashed as it is read: the prefix the pod's part
                // already holds first, then what is sent.
                var hasher = t.offset > 0 ? try ArtifactFiles.hasher(of: path, length: t.offset) : SHA256()
                try input.write(Data(ArtifactWire.PushRecord.part(offset: t.offset, length: t.length, path: t.path).line.utf8))
                try ArtifactFiles.copyRange(of: path, offset: t.offset, length: t.length, to: input, hasher: &hasher) { n in
                    sent.withLock { $0 += n }
                    progress?.moved(Int(n))
                }
                let digest = SHA256Hex.hex(hasher.finalize())
                sentHashes.withLock { $0[t.path] = digest }
                try input.write(Data(ArtifactWire.PushRecord.partHash(digest).line.utf8))
                progress?.fileDone()
            }
            try input.write(Data(ArtifactWire.requestEnd.utf8))
        }

        var results: [String: ArtifactAction] = [:]
        let byPath = Dictionary(planned.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let comparing = Set(compares)
        let bad = rejecting("what it confirmed is kept")
        let ended = { (why: String) in self.badAnswer(why, "what it confirmed is kept") }
        do {
            try readAnswer(channel, bad, ended: ended) { record, _ in
                switch record {
                case let .hash(sha, size, mtime, path):
                    guard comparing.contains(path), results[path] == nil else { throw bad("a hash (H) nobody asked for") }
                    results[path] = compared(sha: sha, size: size, mtime: mtime, path: path, local: { local.files[$0] },
                                             &state, differs: ArtifactPlan.differsOnPod)
                case let .ack(status, size, mtime, path):
                    guard let t = byPath[path], results[path] == nil else {
                        throw bad("a result (A) for \(ArtifactWire.quoted(path)), which nobody sent")
                    }
                    results[path] = try acknowledged(t, status: status, size: size, mtime: mtime,
                                                     sha: sentHashes.current[path], &state, bad)
                default:
                    throw bad("a record that does not belong in a push's answer")
                }
                return true
            }
        } catch {
            report.actions = merge(report.actions, results)
            report.bytes = sent.current
            if isCancelled { channel.abort(); channel.finish(); throw ArtifactRejection.unwrap(error) }
            channel.abort()
            throw channel.explained(error)
        }
        channel.finish()
        if let error = channel.writeError.current { throw error }
        if isCancelled && results.count < planned.count + compares.count { report.interrupted = true }
        report.actions = merge(report.actions, results)
        var moved: Int64 = 0
        for action in results.values where action.kind != .failed { moved = ArtifactWire.sum(moved, action.bytes) ?? moved }
        report.bytes = moved
    }

    /// What the pod's result for one sent file means here.
    private func acknowledged(_ t: ArtifactPlan.Transfer, status: String, size: Int64?, mtime: String?, sha: String?,
                              _ state: inout ArtifactState, _ bad: (String) -> Error) throws -> ArtifactAction {
        switch status {
        case "ok":
            guard let size, let mtime, size == t.offset + t.length else { throw bad("a wrong size (A) for \(ArtifactWire.quoted(t.path))") }
            guard let sha, let stamp = t.stamp else { throw bad("a result (A) for \(ArtifactWire.quoted(t.path)) before it was sent") }
            state.files[t.path] = .init(pod: PodStat(size: size, mtime: mtime), local: stamp, sha256: sha)
            state.pushing[t.path] = nil
            return ArtifactAction(path: t.path, kind: t.kind, bytes: t.length)
        case "short":
            return ArtifactAction(path: t.path, kind: .pending, note: "part of it is on the pod; the next push sends the rest")
        case "restart":
            state.pushing[t.path] = nil
            return ArtifactAction(path: t.path, kind: .failed, bytes: t.length, note: "the pod's partial copy was not what was expected; push again to send it whole")
        case "refused":
            return ArtifactAction(path: t.path, kind: .failed, note: "the pod refused to write it (its folder is a link leaving the run, or cannot be created)")
        default:
            state.pushing[t.path] = nil
            return ArtifactAction(path: t.path, kind: .failed, bytes: t.length, note: "changed here while it was sent (or damaged on the way); push again")
        }
    }
}
