import Testing
import WizardTUI
import Workflow

/// Every key binding: key -> action (through the one table) -> state and engine requests.
@Suite struct KeyMapTests {
    /// Presses `keys` in order; returns every engine request made.
    @discardableResult
    static func press(_ s: inout AppState, _ keys: Key...) -> [EngineRequest] {
        var requests: [EngineRequest] = []
        for key in keys {
            guard let action = KeyMap.action(for: key, in: s) else { continue }
            requests += Wizard.update(&s, action)
        }
        return requests
    }

    static func typing(_ s: inout AppState, _ text: String) -> [EngineRequest] {
        var r: [EngineRequest] = []
        for c in text { r += press(&s, .char(c)) }
        return r
    }

    /// Actions each test below covers; the last test fails when a binding is added without one.
    static let covered: [Action] = [.up, .down, .pageUp, .pageDown, .top, .bottom, .run, .retry, .rollback, .rollbackAll, .repairPartition, .plan,
                                    .findings, .waive, .log, .filterStep, .filterNode, .summary, .help, .back, .quit, .interrupt]

    @Test func everyBindingHasATest() {
        for b in KeyMap.bindings { #expect(Self.covered.contains(b.action), "no test for \(b.keys.map(\.label)) -> \(b.action)") }
    }

    @Test func noKeyIsBoundTwiceInOneScope() {
        for (i, a) in KeyMap.bindings.enumerated() {
            for b in KeyMap.bindings.dropFirst(i + 1) where a.scope == b.scope || a.scope == .everywhere || b.scope == .everywhere {
                for k in a.keys { #expect(!b.keys.contains(k), "\(k.label) is bound to \(a.action) and \(b.action)") }
            }
        }
    }

    @Test func movingSelectsStepsAndStopsAtTheEnds() {
        var s = Fixtures.opened()
        Self.press(&s, .down, .char("j"))
        #expect(s.selected == 2)
        Self.press(&s, .up)
        #expect(s.selected == 1)
        Self.press(&s, .char("k"), .char("k"), .char("k"))
        #expect(s.selected == 0)
        Self.press(&s, .pageDown)
        #expect(s.selected == 6)
        Self.press(&s, .pageUp)
        #expect(s.selected == 0)
        Self.press(&s, .char("G"))
        #expect(s.selected == 6)
        Self.press(&s, .home)
        #expect(s.selected == 0)
        Self.press(&s, .end)
        #expect(s.selected == 6)
        Self.press(&s, .char("g"))
        #expect(s.selected == 0)
    }

    @Test func scrollingInPagesMovesTheOffsetNotTheSelection() {
        var s = Fixtures.opened()
        Self.press(&s, .char("?"), .down, .down, .char(" "))
        #expect(s.view == .help)
        #expect(s.scroll == 12)
        #expect(s.selected == 0)
        Self.press(&s, .pageUp, .pageUp)
        #expect(s.scroll == 0)
    }

    @Test func enterRunsEveryPendingStepAndIsRefusedWhileBusy() {
        var s = Fixtures.opened()
        #expect(Self.press(&s, .enter) == [.apply(only: nil, waived: [])])
        #expect(s.activity?.kind == .applying)
        #expect(Self.press(&s, .enter) == [])
        #expect(s.message?.text.contains("busy") == true)
    }

    @Test func enterStartsARunWhileObservationIsStillGoing() {
        var s = AppState()
        _ = Wizard.update(&s, .engine(.opened(EngineSnapshot(label: "x", steps: Fixtures.infos))))
        #expect(s.activity?.kind == .observing)
        #expect(Self.press(&s, .enter) == [.apply(only: nil, waived: [])])
    }

    @Test func rRunsTheSelectedStepOnly() {
        var s = Fixtures.opened()
        Self.press(&s, .down, .down, .down, .down, .down)
        #expect(Self.press(&s, .char("r")) == [.apply(only: [StepID("failover-drill")], waived: [])])
    }

    @Test func uAsksBeforeRollingBackTheLastAppliedStep() {
        var s = Fixtures.allDone()
        Self.press(&s, .char("G"))
        #expect(Self.press(&s, .char("u")) == [])
        #expect(s.message?.text.contains("nothing recorded to roll back") == true)
        s.message = nil
        Self.press(&s, .up, .up)
        #expect(s.selectedStep?.id == StepID("load-balancer"))
        #expect(Self.press(&s, .char("u")) == [])
        #expect(s.prompt == .confirmRollback([StepID("load-balancer")], typed: nil))
        #expect(Self.press(&s, .char("n")) == [])
        #expect(s.prompt == nil)
        Self.press(&s, .char("u"))
        #expect(Self.press(&s, .char("y")) == [.rollback([StepID("load-balancer")])])
        #expect(s.activity?.kind == .rollingBack)
    }

    @Test func uRefusesAStepWhileLaterStepsAreStillApplied() {
        var s = Fixtures.allDone()
        Self.press(&s, .down)
        #expect(Self.press(&s, .char("u")) == [])
        #expect(s.prompt == nil)
        #expect(s.message?.text.contains("later steps are still applied: erlang-cookie, cluster-join, load-balancer") == true)
    }

    @Test func capitalURollsBackEverythingAppliedLastFirst() {
        var s = Fixtures.allDone()
        Self.press(&s, .char("U"))
        let order = ["load-balancer", "cluster-join", "erlang-cookie", "partition-handling"].map { StepID($0) }
        #expect(s.prompt == .confirmRollback(order, typed: nil))
        #expect(Self.press(&s, .char("y")) == [.rollback(order)])
    }

    static let proposal = RepairProposal(keep: ["rabbit@ServerA", "rabbit@ServerB"], restart: ["rabbit@ServerC"],
                                         rule: "pause_minority keeps the majority: the side with more nodes stays (on a tie, the seed's)",
                                         evidence: ["rabbit@ServerA runs with rabbit@ServerA, rabbit@ServerB; recorded a partition with rabbit@ServerC",
                                                    "rabbit@ServerB runs with rabbit@ServerA, rabbit@ServerB; recorded a partition with rabbit@ServerC",
                                                    "rabbit@ServerC runs with rabbit@ServerC; recorded a partition with rabbit@ServerA, rabbit@ServerB"])

    /// R asks the engine for a proposal whatever the cluster line says (the engine reads every node afresh;
    /// the line is as old as the last look: the end-to-end run found R refusing on a healthy line while
    /// RabbitMQ had recorded a partition since); the restart is requested only after the word is typed, and
    /// Esc restarts nothing.
    @Test func capitalRProposesARepairAndRestartsOnlyAfterTheTypedWord() {
        var s = Fixtures.allDone()
        #expect(Self.press(&s, .char("R")) == [.proposeRepair])
        _ = Wizard.update(&s, .engine(.finished(message: "no network partition to repair: 3 of 3 nodes running", ok: true)))
        _ = Wizard.update(&s, .engine(.cluster(ClusterLine(health: .healthy, text: "3 of 3 nodes running, every node sees all of them, no partition"))))
        #expect(Self.press(&s, .char("R")) == [.proposeRepair], "a healthy line does not stop R: it may be old")
        _ = Wizard.update(&s, .engine(.cluster(ClusterLine(health: .partitioned, text: "NETWORK PARTITION: rabbit@ServerA, rabbit@ServerB | rabbit@ServerC"))))
        #expect(s.activity?.kind == .repairing)
        _ = Wizard.update(&s, .engine(.repairProposal(Self.proposal)))
        #expect(s.prompt == .confirmRepair(Self.proposal, typed: "") && s.activity == nil)
        #expect(Self.typing(&s, "restar") == [])
        #expect(Self.press(&s, .enter) == [])
        #expect(s.message?.text.contains("type restart exactly") == true)
        #expect(Self.press(&s, .char("t"), .enter) == [.repair(restart: ["rabbit@ServerC"])])
        #expect(s.prompt == nil && s.activity?.kind == .repairing)
        _ = Wizard.update(&s, .engine(.finished(message: "Repaired: 3 of 3 nodes running", ok: true)))
        #expect(s.activity?.kind == .observing, "the cluster line is read again after the repair")

        _ = Wizard.update(&s, .engine(.repairProposal(Self.proposal)))
        #expect(Self.press(&s, .escape) == [])
        #expect(s.prompt == nil && s.message?.text == "nothing was restarted")
    }

    @Test func aRollbackThatDestroysNeedsTheWordTyped() {
        var events: [JournalEvent] = []
        for id in [Fixtures.ids[6]] { events += [.began(step: id, fingerprint: "f", undo: Fixtures.undo), .verified(step: id)] }
        var s = Fixtures.opened(Fixtures.journal(events))
        Self.press(&s, .char("G"), .char("u"))
        #expect(s.prompt == .confirmRollback([StepID("outsystems-handoff")], typed: ""))
        #expect(Self.typing(&s, "outsystems-handof") == [])
        #expect(Self.press(&s, .enter) == [])
        #expect(s.message?.text.contains("type outsystems-handoff exactly") == true)
        Self.press(&s, .char("x"), .backspace, .char("f"))
        #expect(Self.press(&s, .enter) == [.rollback([StepID("outsystems-handoff")])])
    }

    @Test func pPlansEverythingReadOnlyAndShowsThePlanView() {
        var s = Fixtures.opened()
        #expect(Self.press(&s, .char("p")) == [.plan(waived: [])])
        #expect(s.view == .plan)
        #expect(s.activity?.kind == .planning)
        #expect(Self.press(&s, .char("p")) == [])  // a second p while planning only shows the view
    }

    @Test func fShowsFindingsAndWTogglesTheOneUnderTheCursor() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: Fixtures.ids[0]), .checked(Fixtures.ids[0], Fixtures.findings))))
        Self.press(&s, .char("f"))
        #expect(s.view == .findings)
        // Grouped by node (whole cluster first), errors first within a node.
        #expect(s.allFindings.map(\.finding.name) == ["two-nodes", "disk-free", "hostname-unresolved", "cookie-mismatch"])
        Self.press(&s, .down, .down, .char("w"))
        #expect(s.waived == ["hostname-unresolved"])
        #expect(Self.press(&s, .enter) == [.apply(only: nil, waived: ["hostname-unresolved"])])
        s.activity = nil
        Self.press(&s, .char("f"), .char("w"))
        #expect(s.waived == [])
    }

    @Test func lShowsTheLogAndSAndNFilterIt() {
        var s = Fixtures.opened()
        for (step, target): (StepID, String) in [("erlang-cookie", "ServerB"), ("erlang-cookie", "ServerC"), ("cluster-join", "ServerB")] {
            _ = Wizard.update(&s, .engine(.commandFinished(CommandSummary(step: step, target: target, argv: ["true"], mutates: true,
                                                                          exit: "ok", ok: true, seconds: 0.1))))
        }
        Self.press(&s, .char("l"))
        #expect(s.view == .log)
        #expect(s.filteredCommands.count == 3)
        Self.press(&s, .char("s"), .char("s"), .char("s"))
        #expect(s.logStep == StepID("erlang-cookie"))
        #expect(s.filteredCommands.count == 2)
        Self.press(&s, .char("n"))
        #expect(s.logNode == "ServerB")
        #expect(s.filteredCommands.count == 1)
        Self.press(&s, .char("n"), .char("n"))
        #expect(s.logNode == nil)
        // s and n mean nothing outside the log view.
        Self.press(&s, .escape, .char("s"))
        #expect(s.view == .overview)
        #expect(s.logStep == StepID("erlang-cookie"))
    }

    @Test func oHelpAndBackSwitchViews() {
        var s = Fixtures.opened()
        Self.press(&s, .char("o"))
        #expect(s.view == .summary)
        Self.press(&s, .char("?"))
        #expect(s.view == .help)
        Self.press(&s, .char("b"))
        #expect(s.view == .overview)
        Self.press(&s, .char("l"), .escape)
        #expect(s.view == .overview)
    }

    @Test func qQuitsAtOnceWhenIdleAndAsksWhileRunning() {
        var idle = Fixtures.opened()
        Self.press(&idle, .char("q"))
        #expect(idle.exit?.code == 0)

        var s = Fixtures.opened()
        Self.press(&s, .enter, .char("q"))
        #expect(s.prompt == .quit)
        #expect(Self.press(&s, .char("n")) == [])
        #expect(s.exit == nil)
        Self.press(&s, .char("q"))
        #expect(Self.press(&s, .char("y")) == [.stop])
        #expect(s.exit == nil)
        _ = Wizard.update(&s, .engine(.finished(message: "stopped by Ctrl-C at a safe point", ok: false)))
        #expect(s.exit?.code == 1)
        #expect(s.exit?.abort == false)
    }

    @Test func ctrlCStopsAtASafePointThenAborts() {
        var idle = Fixtures.opened()
        Self.press(&idle, .ctrlC)
        #expect(idle.exit?.code == 130)

        var s = Fixtures.opened()
        Self.press(&s, .enter)
        _ = Wizard.update(&s, .engine(.confirm(Fixtures.ids[1], Fixtures.confPlan)))
        #expect(Self.press(&s, .ctrlC) == [.stop])
        #expect(s.prompt == nil)  // the engine answers the open question "no"
        #expect(s.activity?.stopping == true)
        #expect(s.exit == nil)
        Self.press(&s, .ctrlC)
        #expect(s.exit?.code == 130)
        #expect(s.exit?.abort == true)
    }

    @Test func aPlanIsConfirmedWithYOrDeclinedWithN() {
        var s = Fixtures.opened()
        Self.press(&s, .enter)
        _ = Wizard.update(&s, .engine(.confirm(Fixtures.ids[1], Fixtures.confPlan)))
        #expect(s.view == .plan)
        #expect(s.prompt == .confirmPlan(Fixtures.ids[1], typed: nil))
        #expect(Self.press(&s, .char("x"), .enter) == [])  // other keys do nothing
        #expect(Self.press(&s, .char("y")) == [.confirm(true)])
        _ = Wizard.update(&s, .engine(.confirm(Fixtures.ids[1], Fixtures.confPlan)))
        #expect(Self.press(&s, .escape) == [.confirm(false)])
    }

    @Test func aDestructivePlanNeedsTheStepIdTyped() {
        var s = Fixtures.opened()
        Self.press(&s, .enter)
        _ = Wizard.update(&s, .engine(.confirm(Fixtures.ids[3], Fixtures.joinPlan)))
        #expect(s.prompt == .confirmPlan(Fixtures.ids[3], typed: ""))
        #expect(Self.press(&s, .char("y"), .enter) == [])  // "y" is just a letter here
        #expect(s.prompt == .confirmPlan(Fixtures.ids[3], typed: "y"))
        Self.press(&s, .backspace)
        #expect(Self.typing(&s, "cluster-join") == [])
        #expect(Self.press(&s, .enter) == [.confirm(true)])
    }

    @Test func afterAFailureTheChoiceKeysAnswerAndOthersDoNothing() {
        var s = Fixtures.opened()
        Self.press(&s, .enter)
        _ = Wizard.update(&s, .engine(.choose(Fixtures.ids[3], [.retry, .rollbackStep, .quit], Fixtures.nodeDown)))
        #expect(s.selectedStep?.id == Fixtures.ids[3])
        #expect(Self.press(&s, .char("s"), .char("a")) == [])  // skip and roll back all are not offered here
        Self.press(&s, .char("l"))
        #expect(s.view == .log)  // look at the log; the question stays
        #expect(Self.press(&s, .escape, .char("u")) == [.choose(.rollbackStep)])
        #expect(s.prompt == nil)
        #expect(s.activity?.kind == .rollingBack)
        _ = Wizard.update(&s, .engine(.choose(Fixtures.ids[3], [.retry, .quit], Fixtures.nodeDown)))
        #expect(Self.press(&s, .char("r")) == [.choose(.retry)])
    }

    @Test func resumeOffersReconcileRollbackOrALookFirst() {
        let j = Fixtures.journal([.began(step: Fixtures.ids[2], fingerprint: "f", undo: Fixtures.undo)])
        var s = Fixtures.opened(j, interrupted: [Fixtures.ids[2]])
        #expect(s.prompt == .resume([Fixtures.ids[2]]))
        #expect(s.selectedStep?.id == Fixtures.ids[2])
        #expect(s.selectedStep?.status == .unknown)
        #expect(Self.press(&s, .char("c")) == [.apply(only: nil, waived: [])])

        var r = Fixtures.opened(j, interrupted: [Fixtures.ids[2]])
        Self.press(&r, .char("u"))
        #expect(r.prompt == .confirmRollback([Fixtures.ids[2]], typed: nil))

        var l = Fixtures.opened(j, interrupted: [Fixtures.ids[2]])
        Self.press(&l, .escape)
        #expect(l.prompt == nil)
        #expect(l.view == .overview)
    }

    @Test func anInterruptedRollbackIsFinishedAndNothingElseStarted() {
        let j = Fixtures.journal([.began(step: Fixtures.ids[2], fingerprint: "f", undo: Fixtures.undo), .verified(step: Fixtures.ids[2]),
                                  .rollbackBegan(step: Fixtures.ids[2])])
        var s = Fixtures.opened(j, interrupted: [Fixtures.ids[2]])
        #expect(Self.press(&s, .enter) == [.rollback([])])
        #expect(s.activity?.kind == .rollingBack)
    }

    @Test func aStaleLockIsTakenOverOnlyWhenTheOperatorSaysSo() {
        var s = Fixtures.opened()
        Self.press(&s, .enter)
        _ = Wizard.update(&s, .engine(.staleLock("pid 42 on vm (apply)")))
        #expect(s.prompt == .takeOverLock("pid 42 on vm (apply)"))
        #expect(s.activity == nil)
        #expect(Self.press(&s, .char("y")) == [.takeOverStaleLock])
        _ = Wizard.update(&s, .engine(.staleLock("pid 42 on vm (apply)")))
        #expect(Self.press(&s, .char("n")) == [])
        #expect(s.message?.text.contains("nothing was run") == true)
    }
}
