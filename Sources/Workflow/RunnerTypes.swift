import Executor

/// What the runner is asked to do.
public enum RunMode: Sendable, Equatable {
    /// check, plan, (confirm), prepare, apply, verify each selected step in order.
    case apply
    /// check and plan only; nothing is prepared or applied.
    case plan
    /// Roll back the queued steps, in the order given (callers pass reverse order).
    case rollback
}

/// Retry rules for errors that say they are retryable.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(30)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Delay before attempt `attempt + 1`: base, 2x base, 4x base ..., capped.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let factor = 1 << min(max(attempt - 1, 0), 20)
        let d = baseDelay * factor
        return d > maxDelay ? maxDelay : d
    }
}

/// Which part of a step failed: before `prepare` nothing was changed.
public enum StepPhase: String, Sendable, Codable, Equatable {
    case reconcile, check, plan, prepare, apply, verify, rollback

    public var mayHaveChanged: Bool { self == .apply || self == .verify || self == .rollback }
}

/// What the operator may choose after a failure or an interrupted step.
public enum Choice: String, Sendable, Codable, Equatable, CaseIterable {
    /// Check, plan and apply the step again.
    case retry
    /// After reconciling an interrupted step: plan it again from what the servers show and go on.
    case `continue`
    case rollbackStep = "rollback-step"
    case rollbackAll = "rollback-all"
    case skip
    case quit
}

/// How a run ended.
public enum Outcome: Sendable, Equatable {
    case completed
    case failed(StepID, StepFailure)
    /// Error findings that were not waived.
    case blocked(StepID, [Finding])
    /// The servers changed since the plan was reviewed: plan again.
    case stalePlan(StepID, reviewed: String, now: String)
    /// A confirmation was needed and not given.
    case needsConfirmation(StepID, Plan?)
    case rolledBack([StepID])
    case quit(StepID)
    /// The journal could not be written: the run stopped before acting unrecorded.
    case journalFailed(JournalProblem)
    /// The command log could not be written (a command ran without its record): the run stopped at the
    /// next boundary, so that nothing more happens unrecorded.
    case commandLogFailed(CommandLog.Problem)
    /// The operator asked to stop (Ctrl-C); the run stopped at a safe point, before `next`.
    case interrupted(next: StepID?)
}

extension Outcome {
    /// Whether the run did what it was asked to (completed, or rolled back as asked).
    public var succeeded: Bool {
        switch self {
        case .completed, .rolledBack: true
        default: false
        }
    }
}

/// What happened, fed to ``Runner/reduce(_:_:)``.
public enum RunnerEvent: Sendable, Equatable {
    case start
    case reconciled(StepID, done: Bool, detail: String)
    case checked(StepID, [Finding])
    case planned(StepID, Plan)
    case confirmed(StepID, Bool)
    case prepared(StepID, Undo)
    case applied(StepID, Undo)
    case verified(StepID)
    case failed(StepID, StepFailure, StepPhase)
    case backoffElapsed(StepID)
    case chose(StepID, Choice)
    case rolledBack(StepID)
    case journalFailed(JournalProblem)
    case commandLogFailed(CommandLog.Problem)
    /// A step recorded a note while it worked (a restart owed or done); sent by the interpreter before
    /// the event of the effect during which it was recorded.
    case noted(JournalEvent)
    /// The operator asked to stop; sent by the interpreter at a safe point.
    case interrupt(next: StepID?)
}

/// What the runner wants done next; the interpreter performs these in order.
public enum RunnerEffect: Sendable, Equatable {
    case reconcile(StepID)
    case check(StepID)
    case plan(StepID)
    case confirm(StepID, Plan)
    case prepare(StepID, Plan)
    case apply(StepID, Plan, Undo)
    case verify(StepID)
    case rollback(StepID, Undo)
    case wait(Duration, StepID)
    case journal(JournalEvent)
    case offer(StepID, [Choice])
    case finish(Outcome)
}
