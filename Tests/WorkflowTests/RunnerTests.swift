import Testing

@testable import Workflow

/// Drives the pure reducer with scripted answers, like the interpreter does, and records the effects.
struct Drive {
    var state: RunnerState
    var effects: [RunnerEffect] = []

    /// `answer` turns an effect into the event the world would send back (nil for journal writes).
    mutating func run(_ answer: (RunnerEffect) -> RunnerEvent?) {
        run { answer($0).map { [$0] } ?? [] }
    }

    /// `answer` turns an effect into the events the world sends back: notes the step recorded while it
    /// worked first, as the interpreter sends them, then the effect's own event.
    mutating func run(_ answer: (RunnerEffect) -> [RunnerEvent]) {
        var pending: [RunnerEvent] = [.start]
        var guardCount = 0
        while !pending.isEmpty, guardCount < 500 {
            guardCount += 1
            let (next, fx) = Runner.reduce(state, pending.removeFirst())
            state = next
            for e in fx {
                effects.append(e)
                if case .finish = e { return }
                pending += answer(e)
            }
        }
    }

    /// Effects without journal writes, as short strings: `check a`, `apply a`, `wait 2s b`, ...
    var trace: [String] {
        effects.compactMap { e in
            switch e {
            case .reconcile(let s): "reconcile \(s)"
            case .check(let s): "check \(s)"
            case .plan(let s): "plan \(s)"
            case .confirm(let s, _): "confirm \(s)"
            case .prepare(let s, _): "prepare \(s)"
            case .apply(let s, _, _): "apply \(s)"
            case .verify(let s): "verify \(s)"
            case .rollback(let s, _): "rollback \(s)"
            case .wait(let d, let s): "wait \(d.components.seconds)s \(s)"
            case .journal: nil
            case .offer(let s, let c): "offer \(s) " + c.map(\.rawValue).joined(separator: ",")
            case .finish(let o): "finish \(Drive.name(o))"
            }
        }
    }

    var journal: [String] {
        effects.compactMap { if case .journal(let j) = $0 { return "\(j.name) \(j.step?.rawValue ?? "-")" } else { return nil } }
    }

    static func name(_ o: Outcome) -> String {
        switch o {
        case .completed: "completed"
        case .failed(let s, _): "failed \(s)"
        case .blocked(let s, _): "blocked \(s)"
        case .stalePlan(let s, _, _): "stale \(s)"
        case .needsConfirmation(let s, _): "needs-confirmation \(s)"
        case .rolledBack(let s): "rolled-back " + s.map(\.rawValue).joined(separator: ",")
        case .quit(let s): "quit \(s)"
        case .journalFailed: "journal-failed"
        case .commandLogFailed: "command-log-failed"
        case .interrupted(let next): "interrupted \(next?.rawValue ?? "-")"
        }
    }
}

/// A world where every step succeeds with a one-change plan, unless a test overrides an answer.
func happy(_ e: RunnerEffect) -> RunnerEvent? {
    switch e {
    case .reconcile(let s): .reconciled(s, done: true, detail: "ok")
    case .check(let s): .checked(s, [])
    case .plan(let s): .planned(s, change(s))
    case .confirm(let s, _): .confirmed(s, true)
    case .prepare(let s, _): .prepared(s, Undo(json: "{\"step\":\"\(s)\"}"))
    case .apply(let s, _, let u): .applied(s, u)
    case .verify(let s): .verified(s)
    case .rollback(let s, _): .rolledBack(s)
    case .wait(_, let s): .backoffElapsed(s)
    case .journal, .finish: nil
    case .offer(let s, _): .chose(s, .quit)
    }
}

func change(_ s: StepID) -> Plan { Plan(step: s, changes: [Change(.modify, target: "file-\(s)", summary: "edit")]) }

let abc: [StepID] = ["a", "b", "c"]

func state(_ mode: RunMode = .apply, queue: [StepID] = abc, journal: JournalState = JournalState(), waived: Set<String> = [],
           reviewed: [StepID: String] = [:], confirm: Bool = false, continueAfterReconcile: Bool = false) -> RunnerState
{
    RunnerState(mode: mode, order: abc, queue: queue, skipped: abc.filter { !queue.contains($0) }, journal: journal,
                waived: waived, reviewed: reviewed, confirmEachPlan: confirm, continueAfterReconcile: continueAfterReconcile)
}

@Suite struct RunnerTests {
    @Test func stepsRunInOrderThroughAllVerbsAndAreJournaledBeforeActing() {
        var d = Drive(state: state())
        d.run(happy)
        #expect(d.trace == [
            "check a", "plan a", "prepare a", "apply a", "verify a",
            "check b", "plan b", "prepare b", "apply b", "verify b",
            "check c", "plan c", "prepare c", "apply c", "verify c", "finish completed",
        ])
        // `began` is written before apply, `applied` before verify.
        let began = d.effects.firstIndex { if case .journal(.began(step: "a", _, _)) = $0 { true } else { false } }!
        let apply = d.effects.firstIndex { if case .apply("a", _, _) = $0 { true } else { false } }!
        let applied = d.effects.firstIndex { if case .journal(.applied(step: "a", _)) = $0 { true } else { false } }!
        let verify = d.effects.firstIndex { if case .verify("a") = $0 { true } else { false } }!
        #expect(began < apply && apply < applied && applied < verify)
        #expect(d.state.statuses == ["a": .done, "b": .done, "c": .done])
    }

    @Test(arguments: [
        ([], [], ["a", "b", "c"]),
        (["b"], [], ["b"]),
        (["a", "b"], ["b"], ["a"]),
        ([], ["a", "c"], ["b"]),
        (["c", "a"], [], ["a", "c"]),
        (["b"], ["b"], []),
    ] as [([StepID], [StepID], [StepID])])
    func onlyAndSkipSkipWins(only: [StepID], skip: [StepID], expected: [StepID]) throws {
        let (run, skipped) = try Runner.select(order: abc, only: only, skip: skip)
        #expect(run == expected)
        #expect(skipped == abc.filter { !expected.contains($0) })
    }

    @Test func unknownStepIdsAreAnErrorListingTheValidOnes() {
        #expect(throws: WorkflowError.unknownSteps(["x", "y"], valid: abc)) {
            try Runner.select(order: abc, only: ["x"], skip: ["y"])
        }
    }

    /// a defers a restart to b's round (a note: restart owed on n1 and n2, owner a): a waits for it; b's
    /// round restarts both; a is verified again before c starts, and only then done.
    @Test func aStepWaitingForARestartIsVerifiedAgainOnceTheRestartIsDone() {
        var d = Drive(state: state())
        d.run { e -> [RunnerEvent] in
            switch e {
            case .apply("a", _, let u): [.noted(.restartPending(node: "n1", reason: "x", owner: "a")),
                                         .noted(.restartPending(node: "n2", reason: "x", owner: "a")), .applied("a", u)]
            case .apply("b", _, let u): [.noted(.restartDone(node: "n1")), .noted(.restartDone(node: "n2")), .applied("b", u)]
            default: happy(e).map { [$0] } ?? []
            }
        }
        #expect(d.trace == [
            "check a", "plan a", "prepare a", "apply a", "verify a",
            "check b", "plan b", "prepare b", "apply b", "verify b", "verify a",
            "check c", "plan c", "prepare c", "apply c", "verify c", "finish completed",
        ])
        #expect(d.state.statuses == ["a": .done, "b": .done, "c": .done])
    }

    /// Run alone, the step stays awaiting its restart (not done); a later run whose plan is empty verifies it
    /// (the owner observes whether the restart happened, e.g. in a round cut off by a kill), and a note that
    /// the restart is done makes it done.
    @Test func aRestartOwedAfterARunIsSettledByTheNextRunsVerify() {
        var d = Drive(state: state(queue: ["a"]))
        d.run { e -> [RunnerEvent] in
            if case .apply("a", _, let u) = e { return [.noted(.restartPending(node: "n1", reason: "x", owner: "a")), .applied("a", u)] }
            return happy(e).map { [$0] } ?? []
        }
        #expect(d.state.statuses["a"] == .awaitingRestart && d.state.outcome == .completed)
        let journal = JournalState(events: [.began(step: "a", fingerprint: "f", undo: .none), .verified(step: "a"),
                                            .restartPending(node: "n1", reason: "x", owner: "a")])
        var next = Drive(state: state(queue: ["a"], journal: journal))
        next.run { e -> [RunnerEvent] in
            switch e {
            case .plan(let s): [.planned(s, Plan(step: s, changes: []))]
            case .verify("a"): [.noted(.restartDone(node: "n1")), .verified("a")]
            default: happy(e).map { [$0] } ?? []
            }
        }
        #expect(next.trace == ["check a", "plan a", "verify a", "finish completed"])
        #expect(next.state.statuses["a"] == .done && next.journal == ["verified a"])
    }

    /// A plan that says what it could not check (the hand-off without a password) is not done: skipped,
    /// journaled so, and nothing verified (before, it was recorded up to date and counted as done).
    @Test func anEmptyPlanThatCheckedNothingIsNotDone() {
        var d = Drive(state: state(queue: ["a"]))
        d.run { e in if case .plan(let s) = e { return .planned(s, Plan(step: s, changes: [], unchecked: "give a password")) }; return happy(e) }
        #expect(d.trace == ["check a", "plan a", "finish completed"])
        #expect(d.journal == ["skipped a"] && d.state.statuses["a"] == .skipped)
    }

    /// An interrupted step that is continued keeps its first before-state: `began` and `apply` get the undo
    /// of the attempt that was cut off, not the half-changed state the new prepare sees.
    @Test func aContinuedStepKeepsTheBeforeStateOfTheAttemptThatWasCutOff() {
        let first = Undo(json: "{\"before\":\"original\"}")
        let journal = JournalState(events: [.began(step: "a", fingerprint: "f", undo: first)])
        var d = Drive(state: state(queue: ["a"], journal: journal, continueAfterReconcile: true))
        d.run { e in
            switch e {
            case .reconcile(let s): .reconciled(s, done: false, detail: "1 change(s) still to make")
            case .prepare(let s, _): .prepared(s, Undo(json: "{\"before\":\"half-changed\"}"))
            default: happy(e)
            }
        }
        let began = d.effects.compactMap { e -> Undo? in if case .journal(.began(_, _, let u)) = e { u } else { nil } }
        let applied = d.effects.compactMap { e -> Undo? in if case .apply(_, _, let u) = e { u } else { nil } }
        #expect(began == [first] && applied == [first], "\(began) \(applied)")
        #expect(d.state.statuses["a"] == .done)
    }

    @Test func emptyPlanMeansDoneWithoutApplying() {
        var d = Drive(state: state(queue: ["a"]))
        d.run { e in if case .plan(let s) = e { return .planned(s, Plan(step: s, changes: [])) }; return happy(e) }
        #expect(d.trace == ["check a", "plan a", "finish completed"])
        #expect(d.journal == ["up-to-date a"])
    }

    @Test(arguments: [
        // maxAttempts, failures before success, expected trace tail
        (3, 1, ["apply b", "wait 2s b", "plan b", "prepare b", "apply b", "verify b"]),
        (3, 2, ["apply b", "wait 2s b", "plan b", "prepare b", "apply b", "wait 4s b", "plan b", "prepare b", "apply b", "verify b"]),
        (3, 3, ["apply b", "wait 2s b", "plan b", "prepare b", "apply b", "wait 4s b", "plan b", "prepare b", "apply b", "offer b retry,rollback-step,rollback-all,quit"]),
        (1, 1, ["apply b", "offer b retry,rollback-step,rollback-all,quit"]),
    ])
    func retryableErrorsRetryWithBackoffUpToTheLimit(maxAttempts: Int, failures: Int, tail: [String]) {
        var s = state(queue: ["b"])
        s.retry = RetryPolicy(maxAttempts: maxAttempts, baseDelay: .seconds(2), maxDelay: .seconds(30))
        var d = Drive(state: s)
        var failed = 0
        d.run { e in
            if case .apply("b", _, _) = e, failed < failures {
                failed += 1
                return .failed("b", StepFailure("node still starting", retryable: true, partialUndo: Undo(json: "{}")), .apply)
            }
            return happy(e)
        }
        let trace = d.trace.drop { $0 != "apply b" }.prefix(tail.count)
        #expect(Array(trace) == tail)
    }

    /// A verify that fails (a backend still starting) is retried; the retry's plan is empty because the
    /// change is in place, and the step is verified again instead of being called up to date.
    @Test(arguments: [(1, ["verify b", "wait 2s b", "plan b", "verify b", "finish completed"]),
                      (3, ["verify b", "wait 2s b", "plan b", "verify b", "wait 4s b", "plan b", "verify b",
                           "offer b retry,rollback-step,rollback-all,quit", "finish quit b"])])
    func emptyPlanAfterAFailedVerifyIsVerifiedAgain(failures: Int, tail: [String]) {
        var s = state(queue: ["b"])
        s.retry = RetryPolicy(maxAttempts: 3, baseDelay: .seconds(2), maxDelay: .seconds(30))
        var d = Drive(state: s)
        var failed = 0, applied = false
        d.run { e in
            switch e {
            case .plan("b") where applied: return .planned("b", Plan(step: "b", changes: []))
            case .apply("b", _, let undo):
                applied = true
                return .applied("b", undo)
            case .verify("b") where failed < failures:
                failed += 1
                return .failed("b", StepFailure("backend still starting", retryable: true), .verify)
            default: return happy(e)
            }
        }
        #expect(Array(d.trace.drop { $0 != "verify b" }) == tail)
        #expect(!d.journal.contains("up-to-date b"))
        #expect(d.journal.contains("verified b") == (failures < 3))
    }

    @Test func backoffDoublesAndIsCapped() {
        let p = RetryPolicy(maxAttempts: 10, baseDelay: .seconds(2), maxDelay: .seconds(30))
        #expect((1...6).map { p.delay(afterAttempt: $0) } == [.seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30)])
    }

    @Test func failureBeforeAnyChangeOffersSkipButNoRollbackOfThatStep() {
        var d = Drive(state: state(queue: ["a"]))
        d.run { e in if case .plan("a") = e { return .failed("a", StepFailure("cannot read config"), .plan) }; return happy(e) }
        #expect(d.trace.suffix(2) == ["offer a retry,skip,quit", "finish quit a"])
    }

    @Test func rollbackAllUndoesInReverseOrder() {
        var d = Drive(state: state())
        d.run { e in
            if case .verify("c") = e { return .failed("c", StepFailure("not clustered"), .verify) }
            if case .offer(let s, let choices) = e {
                #expect(choices.contains(.rollbackAll))
                return .chose(s, .rollbackAll)
            }
            return happy(e)
        }
        #expect(d.trace.suffix(4) == ["rollback c", "rollback b", "rollback a", "finish rolled-back c,b,a"])
        #expect(d.journal.suffix(6) == ["rollback-began c", "rolled-back c", "rollback-began b", "rolled-back b", "rollback-began a", "rolled-back a"])
    }

    @Test func rollbackThisStepUndoesOnlyIt() {
        var d = Drive(state: state())
        d.run { e in
            if case .apply("b", _, _) = e { return .failed("b", StepFailure("join refused"), .apply) }
            if case .offer(let s, _) = e { return .chose(s, .rollbackStep) }
            return happy(e)
        }
        #expect(d.trace.suffix(2) == ["rollback b", "finish rolled-back b"])
        #expect(d.state.statuses["a"] == .done)
    }

    @Test func rollbackModeGoesThroughTheQueueInTheGivenOrder() {
        var journal = JournalState()
        for s in abc {
            journal.apply(.began(step: s, fingerprint: "f", undo: Undo(json: "{}")))
            journal.apply(.applied(step: s, undo: Undo(json: "{}")))
            journal.apply(.verified(step: s))
        }
        var d = Drive(state: state(.rollback, queue: ["c", "a"], journal: journal))
        d.run(happy)
        #expect(d.trace == ["rollback c", "rollback a", "finish rolled-back c,a"])
    }

    /// A plan changes nothing, even with a rollback that was cut off in the journal (the screen's plan reads
    /// the journal): the rollback is finished by the next apply or rollback, under the lock, journaled.
    @Test func aPlanNeverFinishesACutOffRollback() {
        var journal = JournalState()
        journal.apply(.began(step: "a", fingerprint: "f", undo: Undo(json: "{}")))
        journal.apply(.applied(step: "a", undo: Undo(json: "{}")))
        journal.apply(.verified(step: "a"))
        journal.apply(.rollbackBegan(step: "a"))
        #expect(journal.status("a") == .rollbackUnknown)
        var d = Drive(state: state(.plan, journal: journal))
        d.run(happy)
        #expect(!d.trace.isEmpty)
        #expect(!d.trace.contains { $0.hasPrefix("rollback") || $0.hasPrefix("apply") || $0.hasPrefix("prepare") }, "\(d.trace)")
        #expect(d.journal.isEmpty, "\(d.journal)")
        #expect(d.trace.last == "finish completed")
        // The same journal in an apply finishes the rollback first.
        var applying = Drive(state: state(.apply, journal: journal))
        applying.run(happy)
        #expect(applying.trace.first == "rollback a")
    }

    @Test func interruptedStepIsReconciledBeforeAnythingElse() {
        var journal = JournalState()
        journal.apply(.began(step: "a", fingerprint: "f", undo: Undo(json: "{}")))
        journal.apply(.applied(step: "a", undo: Undo(json: "{}")))
        journal.apply(.verified(step: "a"))
        journal.apply(.began(step: "b", fingerprint: "f", undo: Undo(json: "{}")))
        var d = Drive(state: state(journal: journal))
        d.run(happy)
        #expect(d.trace.first == "reconcile b")
        #expect(!d.trace.contains("prepare b") || d.trace.firstIndex(of: "reconcile b")! < d.trace.firstIndex(of: "prepare b")!)
    }

    @Test func dirtyJournalBlocksApplyUntilTheOperatorChooses() {
        var journal = JournalState()
        journal.apply(.began(step: "b", fingerprint: "f", undo: Undo(json: "{}")))
        var d = Drive(state: state(journal: journal))
        d.run { e in
            if case .reconcile(let s) = e { return .reconciled(s, done: false, detail: "1 change(s) still to make") }
            return happy(e)
        }
        #expect(d.trace == ["reconcile b", "offer b continue,rollback-step,quit", "finish quit b"])
        #expect(!d.trace.contains("check a"))
    }

    @Test func continueAfterReconcileFinishesTheInterruptedStepFirst() {
        var journal = JournalState()
        journal.apply(.began(step: "b", fingerprint: "f", undo: Undo(json: "{}")))
        var d = Drive(state: state(journal: journal, continueAfterReconcile: true))
        d.run { e in
            if case .reconcile(let s) = e { return .reconciled(s, done: false, detail: "1 change(s) still to make") }
            return happy(e)
        }
        // b first: what it left half-done (a node stopped mid-restart) would fail the checks of a.
        #expect(d.trace.prefix(3) == ["reconcile b", "check b", "plan b"])
        #expect(d.trace.filter { $0.hasPrefix("apply") } == ["apply b", "apply a", "apply c"])
    }

    @Test func choosingContinueFinishesTheInterruptedStepFirst() {
        var journal = JournalState()
        journal.apply(.began(step: "b", fingerprint: "f", undo: Undo(json: "{}")))
        var d = Drive(state: state(journal: journal))
        d.run { e in
            if case .reconcile(let s) = e { return .reconciled(s, done: false, detail: "1 change(s) still to make") }
            if case .offer(let s, _) = e { return .chose(s, .continue) }
            return happy(e)
        }
        #expect(Array(d.trace.prefix(4)) == ["reconcile b", "offer b continue,rollback-step,quit", "check b", "plan b"])
        #expect(d.trace.filter { $0.hasPrefix("apply") } == ["apply b", "apply a", "apply c"])
    }

    @Test func interruptedRollbackIsFinishedFirst() {
        var journal = JournalState()
        journal.apply(.began(step: "a", fingerprint: "f", undo: Undo(json: "{\"x\":1}")))
        journal.apply(.applied(step: "a", undo: Undo(json: "{\"x\":1}")))
        journal.apply(.rollbackBegan(step: "a"))
        var d = Drive(state: state(queue: [], journal: journal))
        d.run(happy)
        #expect(d.trace == ["rollback a", "finish completed"])
    }

    @Test func stalePlanIsRefused() {
        var d = Drive(state: state(queue: ["a"], reviewed: ["a": "0000000000000000"]))
        d.run(happy)
        #expect(d.trace == ["check a", "plan a", "finish stale a"])
        #expect(!d.trace.contains("prepare a"))
    }

    @Test func reviewedPlanThatStillMatchesIsApplied() {
        var d = Drive(state: state(queue: ["a"], reviewed: ["a": change("a").fingerprint]))
        d.run(happy)
        #expect(d.trace.last == "finish completed")
    }

    @Test(arguments: [
        (Set<String>(), "finish blocked a"),
        (Set(["cookie-mismatch"]), "finish completed"),
        (Set(["all"]), "finish completed"),
        (Set(["other"]), "finish blocked a"),
    ])
    func errorFindingsBlockUnlessWaivedByName(waived: Set<String>, last: String) {
        var d = Drive(state: state(queue: ["a"], waived: waived))
        d.run { e in
            if case .check("a") = e {
                return .checked("a", [Finding("cookie-mismatch", .error, message: "x"), Finding("two-nodes", .warning, message: "y")])
            }
            return happy(e)
        }
        #expect(d.trace.last == last)
    }

    @Test func declinedConfirmationStopsBeforeAnyChange() {
        var d = Drive(state: state(queue: ["a"], confirm: true))
        d.run { e in if case .confirm(let s, _) = e { return .confirmed(s, false) }; return happy(e) }
        #expect(d.trace == ["check a", "plan a", "confirm a", "finish needs-confirmation a"])
    }

    @Test func planModeNeverPreparesOrApplies() {
        var d = Drive(state: state(.plan))
        d.run(happy)
        #expect(d.trace == ["check a", "plan a", "check b", "plan b", "check c", "plan c", "finish completed"])
        #expect(d.journal.isEmpty)
    }

    @Test func journalFailureStopsTheRun() {
        var d = Drive(state: state(queue: ["a"]))
        var answered = false
        d.run { e in
            if case .prepare = e, !answered { answered = true; return .journalFailed(.cannotWrite("/j", errno: 28)) }
            return happy(e)
        }
        #expect(d.trace.last == "finish journal-failed")
        #expect(!d.trace.contains("apply a"))
    }

    @Test func interruptEndsTheRunWhereItIs() {
        var d = Drive(state: state())
        d.run { e in if case .check("b") = e { return .interrupt(next: "b") }; return happy(e) }
        #expect(d.trace.suffix(2) == ["check b", "finish interrupted b"])
        #expect(d.state.statuses["a"] == .done)
        #expect(d.state.statuses["b"] == .pending)
    }

    @Test func retryChoiceResetsAttemptsAndStartsFromCheck() {
        var d = Drive(state: state(queue: ["a"]))
        var failures = 0
        d.run { e in
            if case .apply("a", _, _) = e, failures == 0 { failures += 1; return .failed("a", StepFailure("x"), .apply) }
            if case .offer(let s, _) = e { return .chose(s, .retry) }
            return happy(e)
        }
        #expect(d.trace == ["check a", "plan a", "prepare a", "apply a", "offer a retry,rollback-step,rollback-all,quit",
                            "check a", "plan a", "prepare a", "apply a", "verify a", "finish completed"])
    }
}
