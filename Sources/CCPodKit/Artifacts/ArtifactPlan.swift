import Foundation

/// What a transfer does with each file, decided without touching a disk or a process:
/// the pod's listing × what both sides last agreed on × what is here × the selection and
/// `--force`. Pull and push effects (`ArtifactPull`, `ArtifactPush`) only carry it out.
struct ArtifactPlan: Equatable {
    /// A local path as `lstat` found it.
    enum LocalEntry: Equatable {
        case missing
        /// A folder, a link or anything else that is not a regular file: never replaced.
        case notRegular
        case file(LocalStat)
    }

    /// Bytes of one file that travel, and how they land.
    struct Transfer: Equatable {
        enum Landing: Equatable {
            /// Into `.NAME.ccpod-part`, renamed into place once verified.
            case part
            /// Appended to the file itself (it only grew on the sending side).
            case append
        }

        var path: String
        var offset: Int64
        var length: Int64
        var kind: ArtifactAction.Kind
        var landing: Landing = .part
        /// What the first `offset` bytes hash to (a grown file: the agreed version's hash).
        var prefixSha: String?
        /// The pod's version this transfer takes (pull) or replaces (push: nil when new).
        var pod: PodStat?
        /// The local version sent (push).
        var stamp: LocalStat?
    }

    var transfers: [Transfer] = []
    /// Files with the same size on both sides and nothing agreed: compared by SHA-256.
    var compares: [String] = []
    /// Links, kept files, conflicts and compares, in the order they are reported.
    var actions: [ArtifactAction] = []
    var unchanged = 0
    /// Agreed files whose bytes here did not change though their stat did (touched).
    var refreshed: [String: LocalStat] = [:]
    /// Bytes of every transfer (checked: no Int64 overflow).
    var totalBytes: Int64 = 0

    static let differsHere = "a different file is already here; use --force to take the pod's"
    static let differsOnPod = "a different file is already on the pod; use --force to send this one"

    // MARK: - pull

    /// - Parameters:
    ///   - local: what is here for each selected listed path.
    ///   - parts: sizes of the part files here whose bytes could be read (an interrupted pull).
    ///   - sameAsAgreed: whether the local file's bytes hash to the agreed SHA-256 (asked
    ///     only when its stat changed and its size did not).
    static func pull(listing: RunListing, state: ArtifactState, local: [String: LocalEntry], parts: [String: Int64],
                     sameAsAgreed: (String) -> Bool, selection: ArtifactSelection, force: Bool, pod name: String) throws -> ArtifactPlan {
        var plan = ArtifactPlan()
        // A listed folder (`logs`) that is itself a link is reported too.
        for link in listing.links where selection.includes(link.path) || selection.listedTops.contains(link.path) {
            plan.actions.append(ArtifactAction(path: link.path, kind: .link,
                note: link.inside ? "a link on the pod; not followed" : "a link on the pod that points outside the run; not followed"))
        }
        for (path, file) in listing.files.sorted(by: { $0.key < $1.key })
        where LocalFolder.pathOfPart(path) == nil && selection.includes(path) {
            let pod = file.stat
            func fetch(_ kind: ArtifactAction.Kind, offset: Int64 = 0, prefixSha: String? = nil, landing: Transfer.Landing = .part) {
                plan.transfers.append(Transfer(path: path, offset: offset, length: pod.size - offset, kind: kind,
                                               landing: landing, prefixSha: prefixSha, pod: pod))
            }
            let stamp: LocalStat
            switch local[path] ?? .missing {
            case .notRegular:
                plan.actions.append(ArtifactAction(path: path, kind: .conflict, note: "not a regular file here; left alone"))
                continue
            case .missing:
                // New here, or an interrupted pull of this very version to finish.
                if let part = parts[path], state.partial[path] == pod, part > 0, part < pod.size {
                    fetch(.resumed, offset: part)
                } else {
                    fetch(.new)
                }
                continue
            case .file(let s):
                stamp = s
            }
            let agreed = state.files[path]
            if let agreed, agreed.local == stamp || (agreed.local.size == stamp.size && sameAsAgreed(path)) {
                if agreed.local != stamp { plan.refreshed[path] = stamp }
                if agreed.pod == pod {
                    plan.unchanged += 1
                } else if pod.size > agreed.pod.size, agreed.pod.size == stamp.size {
                    fetch(.grown, offset: stamp.size, prefixSha: agreed.sha256, landing: .append)
                } else {
                    fetch(.replaced)
                }
            } else if let agreed {
                // Changed here since the last agreement.
                if agreed.pod == pod {
                    plan.actions.append(ArtifactAction(path: path, kind: .kept, note: "changed here; the pod's copy did not change"))
                } else if force {
                    fetch(.replaced)
                } else {
                    plan.actions.append(ArtifactAction(path: path, kind: .conflict, note: "changed here and on the pod; use --force to take the pod's"))
                }
            } else if force {
                fetch(.replaced)
            } else if stamp.size == pod.size {
                plan.compares.append(path)
                plan.actions.append(ArtifactAction(path: path, kind: .compare))
            } else {
                plan.actions.append(ArtifactAction(path: path, kind: .conflict, note: differsHere))
            }
        }
        plan.totalBytes = try total(plan.transfers, pod: name)
        return plan
    }

    // MARK: - push

    /// - Parameters:
    ///   - files: the regular files here (relative paths) and their stat.
    ///   - links: the links here (reported, never followed).
    ///   - sameAsAgreed: as for a pull.
    static func push(listing: RunListing, state: ArtifactState, files: [String: LocalStat], links: [String],
                     sameAsAgreed: (String) -> Bool, selection: ArtifactSelection, force: Bool, pod name: String) throws -> ArtifactPlan {
        var plan = ArtifactPlan()
        for link in links where selection.includes(link) {
            plan.actions.append(ArtifactAction(path: link, kind: .link, note: "a link here; not followed"))
        }
        var podParts: [String: Int64] = [:]
        for (path, file) in listing.files { if let original = LocalFolder.pathOfPart(path) { podParts[original] = file.stat.size } }
        for (path, stamp) in files.sorted(by: { $0.key < $1.key }) where selection.includes(path) {
            func send(_ kind: ArtifactAction.Kind, offset: Int64 = 0) {
                plan.transfers.append(Transfer(path: path, offset: offset, length: stamp.size - offset, kind: kind,
                                               pod: listing.files[path]?.stat, stamp: stamp))
            }
            let agreed = state.files[path]
            guard let pod = listing.files[path]?.stat else {
                // The pod's part, if any, belongs to this very version when the local file did not change since.
                if let part = podParts[path], part > 0, part < stamp.size, state.pushing[path] == stamp {
                    send(.resumed, offset: part)
                } else {
                    send(.new)
                }
                continue
            }
            if let agreed {
                let localSame = agreed.local == stamp || (agreed.local.size == stamp.size && sameAsAgreed(path))
                if localSame, agreed.local != stamp { plan.refreshed[path] = stamp }
                switch (localSame, agreed.pod == pod) {
                case (true, true): plan.unchanged += 1
                case (true, false): plan.actions.append(ArtifactAction(path: path, kind: .kept, note: "changed on the pod; this copy did not change"))
                case (false, true): send(.replaced)
                case (false, false):
                    if force {
                        send(.replaced)
                    } else {
                        plan.actions.append(ArtifactAction(path: path, kind: .conflict, note: "changed here and on the pod; use --force to send this one"))
                    }
                }
            } else if force {
                send(.replaced)
            } else if pod.size == stamp.size {
                plan.compares.append(path)
                plan.actions.append(ArtifactAction(path: path, kind: .compare))
            } else {
                plan.actions.append(ArtifactAction(path: path, kind: .conflict, note: differsOnPod))
            }
        }
        plan.totalBytes = try total(plan.transfers, pod: name)
        return plan
    }

    // MARK: - totals

    /// The bytes of `transfers`, or an error when the sizes add up past Int64 (only a
    /// pod that lies can list that much).
    static func total(_ transfers: [Transfer], pod: String) throws -> Int64 {
        var sum: Int64 = 0
        for t in transfers {
            guard t.length >= 0, let next = ArtifactWire.sum(sum, t.length) else {
                throw CCPodError.badData("the pod \(TerminalText.escape(pod)) listed file sizes (F records) that add up past what ccpod can count; nothing was changed here")
            }
            sum = next
        }
        return sum
    }

    /// The report's lines for what is planned: the actions, then every transfer.
    var reportedActions: [ArtifactAction] {
        actions + transfers.map { ArtifactAction(path: $0.path, kind: $0.kind, bytes: $0.length) }
    }
}
