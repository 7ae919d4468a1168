/// What the journal remembers. Each is written and fsynced before the action it announces.
public enum JournalEvent: Sendable, Codable, Equatable {
    /// A run starts: which command, by which process on which host.
    case runStarted(command: String, pid: Int32, host: String)
    /// About to apply; `undo` is the before-state captured by `prepare`.
    case began(step: StepID, fingerprint: String, undo: Undo)
    case applied(step: StepID, undo: Undo)
    case verified(step: StepID)
    /// The plan was empty: nothing to do.
    case upToDate(step: StepID)
    case failed(step: StepID, failure: StepFailure)
    case skipped(step: StepID)
    case rollbackBegan(step: StepID)
    case rolledBack(step: StepID)
    /// After an interrupted step: what observation showed. `done` means plan empty and verify passed.
    case reconciled(step: StepID, done: Bool, detail: String)
    /// A node must be restarted for a change of step `owner` to take effect; cleared by
    /// ``restartDone(node:)``. Until then the owner is *awaiting restart*, and once the restart is done it
    /// is verified again (its effect observed after the restart).
    case restartPending(node: String, reason: String, owner: StepID? = nil)
    case restartDone(node: String)
    /// Acceptance evidence kept with the run (for example the failover drill's table).
    case evidence(step: StepID, title: String, text: String)

    public var step: StepID? {
        switch self {
        case .began(let s, _, _), .applied(let s, _), .verified(let s), .upToDate(let s), .failed(let s, _),
            .skipped(let s), .rollbackBegan(let s), .rolledBack(let s), .reconciled(let s, _, _), .evidence(let s, _, _):
            s
        case .runStarted, .restartPending, .restartDone: nil
        }
    }

    /// Short name for crash points and logs: `began`, `applied`, ...
    public var name: String {
        switch self {
        case .runStarted: "run-started"
        case .began: "began"
        case .applied: "applied"
        case .verified: "verified"
        case .upToDate: "up-to-date"
        case .failed: "failed"
        case .skipped: "skipped"
        case .rollbackBegan: "rollback-began"
        case .rolledBack: "rolled-back"
        case .reconciled: "reconciled"
        case .restartPending: "restart-pending"
        case .restartDone: "restart-done"
        case .evidence: "evidence"
        }
    }
}
