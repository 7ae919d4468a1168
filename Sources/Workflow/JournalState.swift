import Foundation

/// The journal folded into what each step's status is, the undo data to roll it back with, and the
/// restarts still owed. Pure: built from entries, no IO.
public struct JournalState: Sendable, Equatable {
    public struct Record: Sendable, Equatable {
        public var status: StepStatus = .pending
        public var undo: Undo?
        public var failure: StepFailure?
        public var fingerprint: String?
        /// Whether the last apply actually changed something (an up-to-date step has nothing to undo).
        public var changed = false
        /// An attempt began and has not ended (verified, up to date, reconciled as done, rolled back): its
        /// undo holds the before-state of that attempt, which a later attempt (continue, retry) keeps,
        /// since by then the servers may be half-changed.
        public var open = false
    }

    public var records: [StepID: Record] = [:]
    /// Restarts owed now: node -> the reason and the step whose change waits for it.
    public var pendingRestarts: [String: PendingRestart] = [:]
    /// What the newest run that produced evidence for a step showed (a drill run again replaces the old table).
    public var evidence: [(step: StepID, title: String, text: String)] = []
    /// Runs folded so far, and the run each step's evidence comes from (not part of ==: only the outcome is).
    private var runs = 0
    private var evidenceRun: [StepID: Int] = [:]

    public init() {}

    public init(events: [JournalEvent]) {
        for e in events { apply(e) }
    }

    public static func == (a: JournalState, b: JournalState) -> Bool {
        a.records == b.records && a.pendingRestarts == b.pendingRestarts
            && a.evidence.map { "\($0.step)\($0.title)\($0.text)" } == b.evidence.map { "\($0.step)\($0.title)\($0.text)" }
    }

    /// The recorded status; a done step whose change still waits for an owed restart is awaiting it.
    public func status(_ step: StepID) -> StepStatus {
        let recorded = records[step]?.status ?? .pending
        return recorded == .done && pendingRestarts.values.contains { $0.owners.contains(step) } ? .awaitingRestart : recorded
    }

    /// The nodes whose restart `step` waits for, sorted.
    public func restartsOwed(to step: StepID) -> [String] { pendingRestarts.filter { $0.value.owners.contains(step) }.keys.sorted() }

    /// Every text in the undo data still held (backup and export paths among them): what a rollback, a
    /// retry or a reconcile may still read. Files named here are never pruned; nil when some undo data
    /// cannot be read (then nothing may be pruned).
    public var undoTexts: Set<String>? {
        var texts = Set<String>()
        func collect(_ value: Any) {
            if let s = value as? String { texts.insert(s) }
            else if let a = value as? [Any] { a.forEach(collect) }
            else if let d = value as? [String: Any] { d.forEach { texts.insert($0.key); collect($0.value) } }
        }
        for record in records.values {
            guard let json = record.undo?.json else { continue }
            guard let value = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else { return nil }
            collect(value)
        }
        return texts
    }

    /// Steps whose outcome is not known, in the order given.
    public func needingReconcile(in order: [StepID]) -> [StepID] { order.filter { status($0).needsReconcile } }

    public mutating func apply(_ event: JournalEvent) {
        switch event {
        case .runStarted: runs += 1
        case .began(let s, let fp, let undo):
            records[s, default: Record()].status = .unknown
            if !records[s]!.open || records[s]!.undo == nil { records[s]!.undo = undo }
            records[s]!.open = true
            records[s]!.fingerprint = fp
            records[s]!.changed = true
            records[s]!.failure = nil
        case .applied(let s, let undo):
            records[s, default: Record()].status = .applied
            records[s]!.undo = undo
        case .verified(let s):
            records[s, default: Record()].status = .done
            records[s]!.open = false
        case .upToDate(let s):
            records[s, default: Record()].status = .done
            records[s]!.open = false
        case .failed(let s, let failure):
            // A failure whose effect is unknown (a dropped connection, a time-out) is reconciled first by the
            // next run, like an interrupted step.
            records[s, default: Record()].status = failure.outcomeUnknown ? .unknown : .failed
            records[s]!.failure = failure
            if let partial = failure.partialUndo { records[s]!.undo = partial; records[s]!.changed = true }
        case .skipped(let s):
            // Skipping never hides what an earlier run changed.
            if records[s]?.status.mayHaveChanges != true { records[s, default: Record()].status = .skipped }
        case .rollbackBegan(let s):
            records[s, default: Record()].status = .rollbackUnknown
        case .rolledBack(let s):
            records[s, default: Record()] = Record(status: .rolledBack)
        case .reconciled(let s, let done, let detail):
            records[s, default: Record()].status = done ? .done : .failed
            if done { records[s]!.open = false }
            if !done { records[s]!.failure = StepFailure("interrupted: \(detail)", fix: "continue (apply) or roll back this step") }
        case .restartPending(let node, let reason, let owner):
            var owed = pendingRestarts[node] ?? PendingRestart(reason: reason)
            if !owed.reason.contains(reason) { owed.reason += "; " + reason }
            if let owner, !owed.owners.contains(owner) { owed.owners.append(owner) }
            pendingRestarts[node] = owed
        case .restartDone(let node): pendingRestarts[node] = nil
        case .evidence(let s, let title, let text):
            if evidenceRun[s] != runs {
                evidence.removeAll { $0.step == s }
                evidenceRun[s] = runs
            }
            evidence.append((s, title, text))
        }
    }
}

/// A restart owed to a node: why, and the steps whose change waits for it (one restart serves them all).
public struct PendingRestart: Sendable, Equatable, Codable {
    public var reason: String
    public var owners: [StepID]

    public init(reason: String, owners: [StepID] = []) {
        self.reason = reason
        self.owners = owners
    }
}
