import Executor

/// A step is a value with five verbs (check, plan, apply, verify, rollback, after kubeadm's phases) and
/// `prepare`, which captures the before-state apply and rollback need.
///
/// - `check` and `plan` are read-only and run freely; `plan` twice gives the same plan, and an empty
///   plan means the step is already done.
/// - `prepare` is read-only too: it captures the before-state the rollback needs (backup names, hashes)
///   and is journaled *before* `apply` starts, so a crash mid-apply can still be undone.
/// - `apply` mutates and returns the undo data (it may enrich the prepared one).
/// - `verify` observes the real effect (an effective value, `cluster_status` from both sides), not an
///   exit code; it throws ``StepFailure`` when the effect is not there. After `apply` it asks the servers
///   afresh; in a look that changes nothing (`status`, the screen) it may be answered from what the look
///   already saw (``Observations``), so a verify that waits for something to happen asks afresh itself
///   (`Observations.$reusing.withValue(false)`).
/// - `rollback` restores the before-state from undo data of either `prepare` or `apply`.
public protocol Step: Sendable {
    var id: StepID { get }
    var title: String { get }
    var rollbackScope: RollbackScope { get }
    /// Whether `apply` without `--only` runs it. A drill that stops nodes on purpose runs only when named.
    var runsByDefault: Bool { get }
    /// The names of every finding `check` can report: what `--waive` accepts.
    var findingNames: [String] { get }

    func check(_ context: StepContext) async throws(StepFailure) -> [Finding]
    func plan(_ context: StepContext) async throws(StepFailure) -> Plan
    func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo
    func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo
    func verify(_ context: StepContext) async throws(StepFailure)
    func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure)
}

extension Step {
    public var runsByDefault: Bool { true }
    public var findingNames: [String] { [] }
}

/// Which finding names may be waived among `steps`: every name a step can report, and `all`.
public enum Waivers {
    public static func check(_ names: [String], against steps: [any Step]) throws(WorkflowError) {
        let valid = Set(steps.flatMap(\.findingNames))
        let unknown = names.filter { $0 != "all" && !valid.contains($0) }
        if !unknown.isEmpty { throw .unknownFindings(unknown, valid: valid.sorted() + ["all"]) }
    }
}

/// What a step's rollback can promise.
public enum RollbackScope: Sendable, Equatable, Codable {
    case complete
    /// Says what cannot be restored (for example queue contents of a reset node).
    case partial(String)
    /// Rollback is destructive itself; the words name what is lost.
    case needsConfirmation(String)
}

/// What a step gets to do its work: the executor for commands, the waived finding names, a way to say
/// what it is waiting for (shown as progress on long waits), and a way to journal a note (a restart
/// that is owed, acceptance evidence). A note that cannot be written is a failure the step lets through:
/// a restart is journaled as owed before the node is stopped, or the node is not stopped.
public struct StepContext: Sendable {
    public let executor: Executor
    public let waived: Set<String>
    public let progress: @Sendable (String) -> Void
    public let record: @Sendable (JournalEvent) throws(StepFailure) -> Void
    /// Secrets the operator handed over (prompt, stdin or file; never argv), by name.
    public let secrets: [String: Secret]
    /// Restarts owed now, node name -> reason and owner, as the journal has them
    /// (``JournalEvent/restartPending(node:reason:owner:)`` not yet followed by
    /// ``JournalEvent/restartDone(node:)``, from any run). A step that restarts nodes anyway can take these
    /// into its round instead of leaving them to a restart of their own; the owner reads them to tell
    /// "waits for the round" from "did not take effect".
    public let pendingRestarts: @Sendable () -> [String: PendingRestart]

    public init(executor: Executor, waived: Set<String> = [], progress: @escaping @Sendable (String) -> Void = { _ in },
                record: @escaping @Sendable (JournalEvent) throws(StepFailure) -> Void = { _ in }, secrets: [String: Secret] = [:],
                pendingRestarts: @escaping @Sendable () -> [String: PendingRestart] = { [:] })
    {
        self.executor = executor
        self.waived = waived
        self.progress = progress
        self.record = record
        self.secrets = secrets
        self.pendingRestarts = pendingRestarts
    }
}
