/// The runner's state: a value, changed only by ``Runner/reduce(_:_:)``.
public struct RunnerState: Sendable, Equatable {
    public var mode: RunMode
    /// Every step of the workflow in its canonical order.
    public var order: [StepID]
    /// Steps still to do in this run, front first.
    public var queue: [StepID]
    /// Steps left out by `--skip` / `--only` (not journaled: their recorded state stays as it is).
    public var skipped: [StepID]
    /// Interrupted steps to observe before anything else.
    public var toReconcile: [StepID]
    public var statuses: [StepID: StepStatus]
    public var undo: [StepID: Undo]
    /// Steps with an attempt that began and has not ended: a new attempt keeps that attempt's undo (the
    /// before-state), since the servers may be half-changed by now.
    public var openAttempts: Set<StepID>
    /// Failed attempts so far per step (reset when the operator chooses retry).
    public var attempts: [StepID: Int] = [:]
    /// The last failure of each step in this run.
    public var failures: [StepID: StepFailure] = [:]
    /// Steps whose apply or verify failed in this run: their changes may be in place but unproven, so an
    /// empty plan on a retry is verified before the step counts as done.
    public var unverified: Set<StepID> = []
    public var plans: [StepID: Plan] = [:]
    /// Restarts owed now: node -> the steps whose change waits for it (from the journal, then as steps note them).
    public var owedRestarts: [String: Set<StepID>]
    /// Steps whose owed restarts were all done in this run: verified again before the next step starts.
    public var reverify: [StepID] = []
    public var findings: [StepID: [Finding]] = [:]
    public var waived: Set<String>
    /// Fingerprints of plans the operator reviewed; a different plan at apply time is stale.
    public var reviewed: [StepID: String]
    public var retry: RetryPolicy
    /// Ask before applying each non-empty plan (interactive runs without `--yes`).
    public var confirmEachPlan: Bool
    /// After reconciling an interrupted step, go on without asking (`--yes`).
    public var continueAfterReconcile: Bool
    public var current: StepID?
    public var rolledBack: [StepID] = []
    public var outcome: Outcome?

    public init(mode: RunMode, order: [StepID], queue: [StepID], skipped: [StepID] = [], journal: JournalState = JournalState(),
                waived: Set<String> = [], reviewed: [StepID: String] = [:], retry: RetryPolicy = RetryPolicy(),
                confirmEachPlan: Bool = false, continueAfterReconcile: Bool = false)
    {
        self.mode = mode
        self.order = order
        self.queue = queue
        self.skipped = skipped
        self.toReconcile = journal.needingReconcile(in: order)
        self.statuses = Dictionary(uniqueKeysWithValues: order.map { ($0, journal.status($0)) })
        self.undo = journal.records.compactMapValues(\.undo)
        self.openAttempts = Set(journal.records.filter(\.value.open).keys)
        self.owedRestarts = journal.pendingRestarts.mapValues { Set($0.owners) }.filter { !$0.value.isEmpty }
        self.waived = waived
        self.reviewed = reviewed
        self.retry = retry
        self.confirmEachPlan = confirmEachPlan
        self.continueAfterReconcile = continueAfterReconcile
    }
}

/// The rules, as a pure function: no IO, no clock. Table-tested in WorkflowTests.
public enum Runner {
    /// Resolves `--only` and `--skip` against the workflow's step ids: skip wins over only; an unknown
    /// id is an error that lists the valid ones. Returns the steps to run and the ones left out, in order.
    /// Steps in `optIn` run only when `--only` names them.
    public static func select(order: [StepID], only: [StepID], skip: [StepID], optIn: Set<StepID> = []) throws(WorkflowError) -> (run: [StepID], skipped: [StepID]) {
        let unknown = (only + skip).filter { !order.contains($0) }
        if !unknown.isEmpty { throw .unknownSteps(unknown, valid: order) }
        let run = order.filter { (only.isEmpty ? !optIn.contains($0) : only.contains($0)) && !skip.contains($0) }
        return (run, order.filter { !run.contains($0) })
    }

    public static func reduce(_ state: RunnerState, _ event: RunnerEvent) -> (RunnerState, [RunnerEffect]) {
        var s = state
        var fx: [RunnerEffect] = []
        switch event {
        case .start:
            fx += nextReconcileOrAdvance(&s)

        case .reconciled(let step, let done, let detail):
            s.statuses[step] = done ? .done : .failed
            if done { s.openAttempts.remove(step) }
            fx.append(.journal(.reconciled(step: step, done: done, detail: detail)))
            if !done && s.mode == .apply {
                if s.continueAfterReconcile {
                    if !s.skipped.contains(step) { finishFirst(&s, step) }
                } else {
                    s.current = step
                    fx.append(.offer(step, [.continue, .rollbackStep, .quit]))
                    return (s, fx)
                }
            }
            fx += nextReconcileOrAdvance(&s)

        case .checked(let step, let findings):
            s.findings[step] = findings
            let blocking = findings.filter { $0.blocks(waived: s.waived) }
            if blocking.isEmpty || s.mode == .plan {
                fx.append(.plan(step))
            } else {
                let names = blocking.map(\.name).joined(separator: ", ")
                let failure = StepFailure("blocked by \(blocking.count) finding(s): \(names)",
                                          fix: "fix them, or waive each by name (--waive NAME)")
                s.statuses[step] = .failed
                fx.append(.journal(.failed(step: step, failure: failure)))
                fx += finish(&s, .blocked(step, blocking))
            }

        case .planned(let step, let plan):
            s.plans[step] = plan
            if s.mode == .plan {
                fx += advance(&s)
            } else if plan.isEmpty && plan.unchecked != nil {
                // Nothing done and nothing checked: not done either; the plan says what is missing.
                if s.statuses[step]?.mayHaveChanges != true { s.statuses[step] = .skipped }
                fx.append(.journal(.skipped(step: step)))
                fx += advance(&s)
            } else if plan.isEmpty && (s.unverified.contains(step) || s.statuses[step] == .awaitingRestart) {
                // Nothing left to change after a failed apply or verify, or while a restart is owed: prove the
                // effect, not the plan (the owner observes whether the owed restart has happened meanwhile).
                s.statuses[step] = .applied
                fx.append(.verify(step))
            } else if plan.isEmpty {
                s.statuses[step] = .done
                s.openAttempts.remove(step)
                fx.append(.journal(.upToDate(step: step)))
                fx += advance(&s)
            } else if let reviewed = s.reviewed[step], reviewed != plan.fingerprint {
                fx += finish(&s, .stalePlan(step, reviewed: reviewed, now: plan.fingerprint))
            } else if s.confirmEachPlan {
                fx.append(.confirm(step, plan))
            } else {
                fx.append(.prepare(step, plan))
            }

        case .confirmed(let step, let yes):
            if yes, let plan = s.plans[step] {
                fx.append(.prepare(step, plan))
            } else {
                fx += finish(&s, .needsConfirmation(step, s.plans[step]))
            }

        case .prepared(let step, let prepared):
            guard let plan = s.plans[step] else { break }
            s.statuses[step] = .unknown
            // Continuing or retrying an attempt that never ended: its before-state is the one to restore.
            let undo = s.openAttempts.contains(step) ? (s.undo[step] ?? prepared) : prepared
            s.undo[step] = undo
            s.openAttempts.insert(step)
            fx.append(.journal(.began(step: step, fingerprint: plan.fingerprint, undo: undo)))
            fx.append(.apply(step, plan, undo))

        case .applied(let step, let undo):
            s.statuses[step] = .applied
            s.undo[step] = undo
            fx.append(.journal(.applied(step: step, undo: undo)))
            fx.append(.verify(step))

        case .verified(let step):
            s.unverified.remove(step)
            s.openAttempts.remove(step)
            s.reverify.removeAll { $0 == step }
            // Verified as far as it can be while a restart it waits for is owed.
            s.statuses[step] = s.owedRestarts.values.contains { $0.contains(step) } ? .awaitingRestart : .done
            fx.append(.journal(.verified(step: step)))
            fx += advance(&s)

        case .noted(let note):
            switch note {
            case .restartPending(let node, _, let owner?):
                s.owedRestarts[node, default: []].insert(owner)
            case .restartDone(let node):
                // The last restart a step waited for is done: its effect is verified again, before the next step.
                for owner in (s.owedRestarts.removeValue(forKey: node) ?? []).sorted(by: { $0.rawValue < $1.rawValue })
                where !s.owedRestarts.values.contains(where: { $0.contains(owner) }) && s.statuses[owner] == .awaitingRestart
                    && !s.reverify.contains(owner)
                {
                    s.reverify.append(owner)
                }
            default: break
            }

        case .failed(let step, let failure, let phase):
            s.failures[step] = failure
            if let partial = failure.partialUndo { s.undo[step] = partial }
            if phase == .rollback {
                s.statuses[step] = .rollbackUnknown
                fx.append(.journal(.failed(step: step, failure: failure)))
                fx += finish(&s, .failed(step, failure))
                break
            }
            s.statuses[step] = failure.outcomeUnknown ? .unknown : .failed
            if phase == .apply || phase == .verify { s.unverified.insert(step) }
            fx.append(.journal(.failed(step: step, failure: failure)))
            let failures = s.attempts[step, default: 0] + 1
            s.attempts[step] = failures
            if failure.retryable && failures < s.retry.maxAttempts && s.mode == .apply {
                fx.append(.wait(s.retry.delay(afterAttempt: failures), step))
            } else if s.mode == .plan {
                fx += finish(&s, .failed(step, failure))
            } else {
                var choices: [Choice] = [.retry]
                if s.undo[step] != nil && (phase.mayHaveChanged || failure.partialUndo != nil) { choices.append(.rollbackStep) }
                if s.order.contains(where: { s.undo[$0] != nil && s.statuses[$0]?.mayHaveChanges == true }) { choices.append(.rollbackAll) }
                if !phase.mayHaveChanged { choices.append(.skip) }
                choices.append(.quit)
                fx.append(.offer(step, choices))
            }

        case .backoffElapsed(let step):
            // Plan again from what the servers show now: a retry never re-applies an old plan blindly.
            fx.append(.plan(step))

        case .chose(let step, let choice):
            switch choice {
            case .retry:
                s.attempts[step] = 0
                s.current = step
                fx.append(.check(step))
            case .continue:
                finishFirst(&s, step)
                fx += nextReconcileOrAdvance(&s)
            case .rollbackStep:
                s.mode = .rollback
                s.queue = []
                fx += rollbackEffects(&s, step)
            case .rollbackAll:
                s.mode = .rollback
                let touched = s.order.filter { s.statuses[$0]?.mayHaveChanges == true && s.undo[$0] != nil }
                s.queue = Array(touched.reversed())
                fx += advance(&s)
            case .skip:
                s.statuses[step] = .skipped
                fx.append(.journal(.skipped(step: step)))
                fx += advance(&s)
            case .quit:
                fx += finish(&s, .quit(step))
            }

        case .rolledBack(let step):
            s.statuses[step] = .rolledBack
            s.undo[step] = nil
            s.openAttempts.remove(step)
            s.rolledBack.append(step)
            fx.append(.journal(.rolledBack(step: step)))
            fx += nextReconcileOrAdvance(&s)

        case .journalFailed(let problem):
            fx += finish(&s, .journalFailed(problem))

        case .commandLogFailed(let problem):
            fx += finish(&s, .commandLogFailed(problem))

        case .interrupt(let next):
            fx += finish(&s, .interrupted(next: next))
        }
        return (s, fx)
    }

    /// An interrupted step that is not done runs before the rest of the queue: what it left half-done
    /// (a node stopped mid-restart) would otherwise fail the checks of the steps before it.
    static func finishFirst(_ s: inout RunnerState, _ step: StepID) {
        s.queue.removeAll { $0 == step }
        s.queue.insert(step, at: 0)
    }

    /// Interrupted steps first (a rollback in progress is completed, an apply is observed), then the queue.
    /// A plan changes nothing: it leaves a cut-off rollback to the next apply or rollback.
    static func nextReconcileOrAdvance(_ s: inout RunnerState) -> [RunnerEffect] {
        while !s.toReconcile.isEmpty {
            let step = s.toReconcile.removeFirst()
            s.current = step
            if s.statuses[step] == .rollbackUnknown, s.undo[step] != nil {
                if s.mode == .plan { continue }
                return rollbackEffects(&s, step)
            }
            if s.statuses[step]?.needsReconcile == true { return [.reconcile(step)] }
        }
        return advance(&s)
    }

    static func advance(_ s: inout RunnerState) -> [RunnerEffect] {
        if s.mode == .apply, !s.reverify.isEmpty {
            let step = s.reverify.removeFirst()
            s.current = step
            s.statuses[step] = .applied
            return [.verify(step)]
        }
        guard !s.queue.isEmpty else {
            s.current = nil
            return finish(&s, s.mode == .rollback ? .rolledBack(s.rolledBack) : .completed)
        }
        let step = s.queue.removeFirst()
        s.current = step
        if s.mode == .rollback { return rollbackEffects(&s, step) }
        return [.check(step)]
    }

    static func rollbackEffects(_ s: inout RunnerState, _ step: StepID) -> [RunnerEffect] {
        s.current = step
        guard let undo = s.undo[step] else {
            // Nothing recorded to undo (never applied, or already rolled back): nothing to do.
            return nextReconcileOrAdvance(&s)
        }
        s.statuses[step] = .rollbackUnknown
        return [.journal(.rollbackBegan(step: step)), .rollback(step, undo)]
    }

    static func finish(_ s: inout RunnerState, _ outcome: Outcome) -> [RunnerEffect] {
        s.outcome = outcome
        return [.finish(outcome)]
    }
}
