import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A pull: what is here for each listed file, the plan, the request, and the answer's
// bytes into part files. Every record of the answer must answer something asked: a
// file that was listed, selected and requested, at most the bytes requested, once.

extension ArtifactTransfer {
    /// Small whole files travel in batches (a few forks on the pod for all of them).
    /// A name with a tab goes on its own: the batch record keeps only one field for it.
    static func travelsInBatch(_ t: ArtifactPlan.Transfer) -> Bool {
        t.offset == 0 && t.length <= ArtifactFiles.smallFile && !t.path.contains("\t")
    }

    func pull(_ channel: ArtifactChannel, _ listing: RunListing, _ state: inout ArtifactState, _ report: inout ArtifactReport) throws {
        let root = request.localDirectory
        let pod = connection.displayName

        // What is here, for every listed file the selection takes.
        let partFiles = LocalFolder.list(root).parts
        var local: [String: ArtifactPlan.LocalEntry] = [:]
        var parts: [String: Int64] = [:]
        var resumeHashes: [String: SHA256] = [:]
        for (path, file) in listing.files where LocalFolder.pathOfPart(path) == nil && request.selection.includes(path) {
            if let stat = FileStat.of(root + "/" + path, followSymlinks: false) {
                local[path] = LocalStat(regular: stat).map { .file($0) } ?? .notRegular
            } else {
                local[path] = .missing
            }
            // An interrupted pull of this very version: its part is hashed to go on from it.
            if local[path] == .missing, let part = partFiles[path], state.partial[path] == file.stat,
               part.size > 0, part.size < file.stat.size,
               let hasher = try? ArtifactFiles.hasher(of: root + "/" + LocalFolder.partPath(path), length: part.size) {
                parts[path] = part.size
                resumeHashes[path] = hasher
            }
        }
        let agreedShas = state.files.mapValues(\.sha256)
        let plan = try ArtifactPlan.pull(
            listing: listing, state: state, local: local, parts: parts,
            sameAsAgreed: { path in agreedShas[path] != nil && (try? SHA256Hex.ofFile(root + "/" + path)) == agreedShas[path] },
            selection: request.selection, force: request.force, pod: pod)
        for (path, stamp) in plan.refreshed { state.files[path]?.local = stamp }
        report.unchanged += plan.unchanged

        var planned: [ArtifactPlan.Transfer] = []
        var prefixes: [String: PrefixHash] = [:]
        for var t in plan.transfers {
            if t.kind == .resumed, let hasher = resumeHashes[t.path] {
                t.prefixSha = SHA256Hex.hex(hasher.finalize())
                prefixes[t.path] = PrefixHash(hasher)
            } else if t.kind == .grown && !request.dryRun {
                // The pod checks its first bytes against the agreed hash while the same
                // bytes here are hashed (to go on with the new end) in the background.
                prefixes[t.path] = PrefixHash(of: root + "/" + t.path, length: t.offset, on: prefixQueue)
            }
            planned.append(t)
        }
        let total = plan.totalBytes
        let compares = plan.compares
        report.actions += plan.reportedActions
        if request.dryRun || (planned.isEmpty && compares.isEmpty) {
            report.bytes = request.dryRun ? total : 0
            channel.endWithoutTransfer()
            return
        }
        do {
            try CCPodLocations.makePrivateDirectory(URL(fileURLWithPath: root))
            try ArtifactFiles.checkFreeSpace(root, needed: total)
        } catch {
            channel.endWithoutTransfer()
            throw error
        }

        // Remember what the parts and appends are before any byte lands.
        for t in planned {
            switch t.landing {
            case .part: state.partial[t.path] = t.pod
            case .append: state.appending[t.path] = t.offset
            }
        }
        try store.save(state)

        let compression = chooseCompression(listing)
        var text = ""
        var batchBytes: Int64 = 0
        for t in planned where Self.travelsInBatch(t) {
            if batchBytes + t.length > ArtifactFiles.batchLimit && batchBytes > 0 {
                text += ArtifactWire.PullRecord.nextBatch.line
                batchBytes = 0
            }
            text += ArtifactWire.PullRecord.small(length: t.length, path: t.path).line
            batchBytes += t.length
        }
        for t in planned where !Self.travelsInBatch(t) {
            text += ArtifactWire.PullRecord.get(offset: t.offset, length: t.length, prefixSha: t.prefixSha, path: t.path).line
        }
        for path in compares { text += ArtifactWire.PullRecord.compare(path: path).line }
        text += ArtifactWire.requestEnd
        let requestText = Data(text.utf8)
        try channel.sendRequest(requestCompression: .none, responseCompression: compression) { input in
            try input.write(requestText)
        }

        let asked = Dictionary(planned.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let comparing = Set(compares)
        var results: [String: ArtifactAction] = [:]
        var moved: Int64 = 0
        var lastSave = Date()
        progress?.expect(files: planned.count, bytes: total)
        let bad = rejecting("files that arrived before are kept")
        let ended = { (why: String) in self.badAnswer(why, "files that arrived before are kept") }
        do {
            try readAnswer(channel, bad, ended: ended) { record, answer in
                var arrivals: [(transfer: ArtifactPlan.Transfer, offset: Int64, length: Int64, sha: String?)] = []
                switch record {
                case let .hash(sha, size, mtime, path):
                    guard comparing.contains(path), results[path] == nil else { throw bad("a hash (H) nobody asked for") }
                    results[path] = compared(sha: sha, size: size, mtime: mtime, path: path, local: { LocalStat.of(root + "/" + $0) },
                                             &state, differs: ArtifactPlan.differsHere)
                    return true
                case let .data(offset, length, path):
                    guard let t = asked[path], results[path] == nil, offset == t.offset || offset == 0 else {
                        throw bad("data (D) for \(ArtifactWire.quoted(path)), which was not asked for")
                    }
                    // From the offset asked, or from 0 when the pod's first bytes were not the
                    // agreed ones: never past the size listed.
                    let most = offset == t.offset ? t.length : t.offset + t.length
                    guard length <= most else {
                        throw bad("\(length) bytes of data (D) for \(ArtifactWire.quoted(path)), more than the \(most) asked for")
                    }
                    arrivals.append((t, offset, length, nil))
                case let .batch(count):
                    guard count <= asked.count else { throw bad("a batch (B) of more files than were asked for") }
                    var inBatch = Set<String>()
                    for _ in 0..<count {
                        guard let line = try answer.readLine(limit: ArtifactWire.maxLine) else { throw ended("it ended in a batch") }
                        let entry = try ArtifactWire.BatchEntry.parse(line, bad: bad)
                        guard let t = asked[entry.path], results[t.path] == nil, Self.travelsInBatch(t), inBatch.insert(t.path).inserted else {
                            throw bad("a batch entry (E) for \(ArtifactWire.quoted(entry.path)), which was not asked for")
                        }
                        guard entry.length <= t.length else {
                            throw bad("\(entry.length) bytes in a batch (E) for \(ArtifactWire.quoted(t.path)), more than the \(t.length) asked for")
                        }
                        arrivals.append((t, 0, entry.length, entry.sha256))
                    }
                default:
                    throw bad("a record that does not belong in a pull's answer")
                }
                for arrival in arrivals {
                    let action = try finisher.receive(arrival.transfer, prefix: prefixes[arrival.transfer.path], offset: arrival.offset,
                                                      length: arrival.length, sha: arrival.sha, root: root, from: answer,
                                                      state: &state, bad: bad) { n in
                        moved += n
                        self.progress?.moved(Int(n))
                    }
                    progress?.fileDone()
                    results[arrival.transfer.path] = action
                }
                ArtifactFinisher.absorb(finisher.take(), &state, &results)
                if Date().timeIntervalSince(lastSave) > 2 { try store.save(state); lastSave = Date() }
                if isCancelled && results.count < planned.count + compares.count {
                    // Ctrl-C: this file is whole; the others wait for the next run.
                    channel.abort()
                    report.interrupted = true
                    return false
                }
                return true
            }
        } catch {
            ArtifactFinisher.absorb(finisher.drain(), &state, &results)
            report.actions = merge(report.actions, results)
            report.bytes = moved
            if isCancelled { channel.abort(); channel.finish(); throw ArtifactRejection.unwrap(error) }
            channel.abort()
            throw channel.explained(error)
        }
        channel.finish()
        ArtifactFinisher.absorb(finisher.drain(), &state, &results)
        report.actions = merge(report.actions, results)
        report.bytes = moved
    }
}
