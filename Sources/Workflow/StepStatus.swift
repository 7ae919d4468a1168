/// Where a step stands, as the journal and the runner see it.
public enum StepStatus: String, Sendable, Codable, Equatable {
    case pending
    /// Applied but not yet verified.
    case applied
    case done
    case failed
    /// Began without a recorded end (a crash, a dropped link): reconcile before anything else.
    case unknown
    /// A rollback began without a recorded end.
    case rollbackUnknown = "rollback-unknown"
    case rolledBack = "rolled-back"
    case skipped
    /// Applied and verified, except what waits for a restart another step makes (a setting that takes
    /// effect at the restart round): verified again once the restart is done.
    case awaitingRestart = "awaiting-restart"

    public var needsReconcile: Bool { self == .unknown || self == .rollbackUnknown || self == .applied }
    /// Something of this step may be on the servers, so rollback has work to do.
    public var mayHaveChanges: Bool { [.applied, .done, .failed, .unknown, .rollbackUnknown, .awaitingRestart].contains(self) }
}
