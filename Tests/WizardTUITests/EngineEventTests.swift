import Testing
import WizardTUI
import Workflow

/// What the engine reports changes the screen's state: step rows, the live pane, questions, the end.
@Suite struct EngineEventTests {
    func status(_ s: AppState, _ i: Int) -> RowStatus { s.steps[i].status }

    @Test func openingShowsTheJournalsStatesAndAsksToObserve() {
        var s = AppState()
        let j = Fixtures.journal([.upToDate(step: Fixtures.ids[0]), .began(step: Fixtures.ids[1], fingerprint: "f", undo: Fixtures.undo),
                                  .failed(step: Fixtures.ids[1], failure: Fixtures.nodeDown)])
        let r = Wizard.update(&s, .engine(.opened(EngineSnapshot(label: "t", steps: Fixtures.infos, journal: j))))
        #expect(r == [.observe])
        #expect(s.steps.map(\.status) == [.done, .failed, .pending, .pending, .pending, .pending, .pending])
        #expect(s.failures[Fixtures.ids[1]] == Fixtures.nodeDown)
        #expect(s.steps[1].undoable)
        #expect(!s.steps[0].undoable)
        _ = Wizard.update(&s, .engine(.observed(Fixtures.ids[0], live: "up to date (verified)", pendingChanges: 0)))
        #expect(s.live[Fixtures.ids[0]] == "up to date (verified)")
    }

    @Test func rowsFollowTheRunnerThroughCheckPlanApplyVerify() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        let id = Fixtures.ids[1]
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: id), .start)))
        #expect(status(s, 1) == .checking)
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: id, plans: [id: Fixtures.confPlan]), .planned(id, Fixtures.confPlan))))
        #expect(status(s, 1) == .ready)
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: id, statuses: [id: .unknown], plans: [id: Fixtures.confPlan]),
                                              .prepared(id, Fixtures.undo))))
        #expect(status(s, 1) == .running)
        #expect(s.activity?.step == id)
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: id, statuses: [id: .done], plans: [id: Fixtures.confPlan]), .verified(id))))
        #expect(status(s, 1) == .done)
        #expect(s.output.last?.text == "partition-handling: done")
        var rb = Fixtures.runner(.rollback, current: id, statuses: [id: .rollbackUnknown])
        rb.undo[id] = Fixtures.undo
        _ = Wizard.update(&s, .engine(.runner(rb, .start)))
        #expect(status(s, 1) == .rollingBack)
    }

    @Test func thePlanOfAReadOnlyRunMarksStepsReadyOrDone() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .plan)
        let empty = Plan(step: Fixtures.ids[0], changes: [])
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(.plan, current: Fixtures.ids[2], plans: [Fixtures.ids[0]: empty, Fixtures.ids[1]: Fixtures.confPlan]),
                                              .planned(Fixtures.ids[1], Fixtures.confPlan))))
        #expect(status(s, 0) == .done)
        #expect(status(s, 1) == .ready)
        #expect(status(s, 2) == .checking)
        #expect(s.plans[Fixtures.ids[1]] == Fixtures.confPlan)
    }

    @Test func onlyCommandsThatChangeSomethingStreamIntoTheLivePane() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        _ = Wizard.update(&s, .engine(.commandStarted(step: "erlang-cookie", target: "ServerB", argv: ["cat", "/etc/hosts"], mutates: false)))
        #expect(s.output.isEmpty)
        #expect(s.activity?.command?.line == "cat /etc/hosts")
        _ = Wizard.update(&s, .engine(.commandStarted(step: "erlang-cookie", target: "ServerB",
                                                      argv: ["sh", "-c", "set -e\nservice rabbitmq-server stop", "rabbit-wizard", "--now"], mutates: true)))
        #expect(s.output.map(\.text) == ["$ [ServerB] sh -c 'set -e ...(2 lines)' --now"])
        _ = Wizard.update(&s, .engine(.progress("waiting for rabbit@ServerB to start")))
        #expect(s.activity?.waitingFor == "waiting for rabbit@ServerB to start")
        // Another command that ends (a request over a node connection, which never started as a command)
        // leaves the restart shown; the restart's own end clears it, and the read shows again.
        _ = Wizard.update(&s, .engine(.commandFinished(CommandSummary(step: "erlang-cookie", target: "ServerB", argv: ["eval", "node()."], mutates: false,
                                                                      exit: "exited(code: 0)", ok: true, seconds: 0.01))))
        #expect(s.activity?.command?.line == "sh -c 'set -e ...(2 lines)' --now")
        _ = Wizard.update(&s, .engine(.commandFinished(CommandSummary(step: "erlang-cookie", target: "ServerB",
                                                                      argv: ["sh", "-c", "set -e\nservice rabbitmq-server stop", "rabbit-wizard", "--now"],
                                                                      mutates: true, exit: "exited(code: 1)", ok: false, seconds: 2))))
        #expect(s.activity?.command?.line == "cat /etc/hosts")
        _ = Wizard.update(&s, .engine(.commandFinished(CommandSummary(step: "erlang-cookie", target: "ServerB", argv: ["cat", "/etc/hosts"], mutates: false,
                                                                      exit: "exited(code: 0)", ok: true, seconds: 2))))
        #expect(s.activity?.command == nil)
        #expect(s.output.last == OutputLine(kind: .failure, text: "  -> exited(code: 1)"))
        #expect(s.commands.count == 3)
    }

    @Test func theOutputPaneKeepsOnlyTheNewestLines() {
        var s = Fixtures.opened()
        for i in 0..<(AppState.outputLimit + 150) { _ = Wizard.update(&s, .engine(.output("line \(i)"))) }
        #expect(s.output.count == AppState.outputLimit)
        #expect(s.output.first?.text == "  line 150")
    }

    @Test func aCompleteRunEndsOnTheSummaryAndObservesAgain() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        var r = Fixtures.runner(current: nil, statuses: Dictionary(uniqueKeysWithValues: Fixtures.ids.map { ($0, StepStatus.done) }))
        r.statuses[Fixtures.ids[5]] = .pending
        r.outcome = .completed
        _ = Wizard.update(&s, .engine(.runner(r, .verified(Fixtures.ids[6]))))
        #expect(Wizard.update(&s, .engine(.finished(message: "Done: 6 of 7 steps are done.", ok: true))) == [.observe])
        #expect(s.view == .summary)
        #expect(s.activity?.kind == .observing)
        #expect(s.message?.text == "Done: 6 of 7 steps are done.")
    }

    @Test func aRunBlockedByFindingsEndsOnTheFindings() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: Fixtures.ids[0]), .checked(Fixtures.ids[0], Fixtures.findings))))
        #expect(s.output.contains { $0.kind == .failure && $0.text.contains("hostname-unresolved (ServerB)") })
        _ = Wizard.update(&s, .engine(.finished(message: "installation-checks is blocked by findings", ok: false)))
        #expect(s.view == .findings)
    }

    @Test func aRefusedRunSaysWhyAndChangesNothing() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        _ = Wizard.update(&s, .engine(.refused("another wizard is working on this state directory")))
        #expect(s.activity == nil)
        #expect(s.message?.ok == false)
        #expect(!s.steps.isEmpty && s.steps.allSatisfy { $0.status == .pending })
    }

    @Test func evidenceIsKeptForTheSummary() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .engine(.evidence(Fixtures.ids[5], title: "Failover drill", text: "node  failed\nServerA  0")))
        #expect(s.evidence == [EvidenceItem(step: Fixtures.ids[5], title: "Failover drill", text: "node  failed\nServerA  0")])
        #expect(s.output.suffix(3).map(\.text) == ["Failover drill:", "node  failed", "ServerA  0"])
    }
}
