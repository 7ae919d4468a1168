/// Rules both front ends (the CLI and the screen) follow, kept once here so they cannot drift apart:
/// which steps have something to roll back, which of them stand in the way of rolling back one step,
/// the words for what a rollback can restore, and which steps a run selects.
public enum Rollback {
    /// Whether a step has something recorded to roll back: it may have changed something and its undo
    /// restores something (``Undo/none`` is what checks and a drill record).
    public static func isUndoable(_ status: StepStatus, undo: Undo?) -> Bool {
        status.mayHaveChanges && undo != nil && undo != Undo.none
    }

    /// The steps of `order` with something to roll back, by the journal.
    public static func undoable(_ journal: JournalState, order: [StepID]) -> [StepID] {
        order.filter { isUndoable(journal.status($0), undo: journal.records[$0]?.undo) }
    }

    /// The undoable steps after `id`: rolling `id` back alone while they stay applied is refused, since
    /// they may depend on it (roll them back first, or everything).
    public static func blocking(_ id: StepID, undoable: [StepID]) -> [StepID] {
        Array(undoable.drop { $0 != id }.dropFirst())
    }

    /// Everything, newest first: the order `rollback --all` and the screen's U undo the steps in.
    public static func all(_ undoable: [StepID]) -> [StepID] { Array(undoable.reversed()) }
}

extension RollbackScope {
    /// What rolling the step back does, in full: "restores everything it changed", "cannot restore ...",
    /// "DESTROYS ...".
    public var consequence: String {
        switch self {
        case .complete: "restores everything it changed"
        case .partial(let what): "cannot restore \(what)"
        case .needsConfirmation(let what): "DESTROYS \(what)"
        }
    }

    /// The same, short enough for the screen's step pane.
    public var brief: String {
        switch self {
        case .complete: "restores everything"
        default: consequence
        }
    }
}

extension Runner {
    /// The steps `apply` (or Enter on the screen) runs: `only` (when given) minus `skip`, in order; a
    /// step that does not run by default (a drill) runs only when `only` names it.
    public static func select(_ steps: [any Step], only: [StepID], skip: [StepID]) throws(WorkflowError) -> (run: [StepID], skipped: [StepID]) {
        try select(order: steps.map(\.id), only: only, skip: skip, optIn: Set(steps.filter { !$0.runsByDefault }.map(\.id)))
    }
}

extension RunnerState {
    /// After a plan: the findings that would stop `apply` (errors not waived), in step order.
    public var blockingFindings: [Finding] { order.flatMap { findings[$0] ?? [] }.filter { $0.blocks(waived: waived) } }

    /// After a plan: whether `apply` would change something.
    public var changesPending: Bool { order.contains { plans[$0]?.isEmpty == false } }
}
