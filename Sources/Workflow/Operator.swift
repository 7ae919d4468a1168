/// Whoever answers the runner's questions: the CLI (a prompt, or `--yes`), the TUI, or a test script.
public protocol Operator: Sendable {
    /// Apply this plan? Destructive changes are in `plan.destructive`.
    func confirm(_ step: StepID, _ plan: Plan) async -> Bool
    /// What to do after a failure or an interrupted step.
    func choose(_ step: StepID, _ choices: [Choice], failure: StepFailure?) async -> Choice
}

/// Answers without asking: confirms everything when `yes`, otherwise declines; after a failure it quits
/// (automation must decide retry or rollback explicitly, with `retry` or `rollback`).
public struct NonInteractiveOperator: Operator {
    public let yes: Bool
    public init(yes: Bool) { self.yes = yes }
    public func confirm(_ step: StepID, _ plan: Plan) async -> Bool { yes }
    public func choose(_ step: StepID, _ choices: [Choice], failure: StepFailure?) async -> Choice {
        yes && choices.contains(.continue) ? .continue : .quit
    }
}
