import Foundation
import Glibc
import Testing

@testable import Workflow

/// `Journal.prune`: old run files go, never one that the folded journal (a rollback's undo data, an open
/// attempt's before-state, an owed restart, the newest evidence) still needs.
@Suite struct JournalRetentionTests {
    /// One run file holding these events (a new `Journal` per run, as each command opens one).
    func run(_ dir: String, _ events: [JournalEvent]) throws {
        let j = try Journal(directory: dir)
        try j.append(.runStarted(command: "apply", pid: 1, host: "h"))
        for e in events { try j.append(e) }
    }

    func state(_ dir: String) throws -> JournalState { JournalState(events: try Journal.readAll(in: dir).map(\.event)) }

    @Test func theRunHoldingADoneStepsUndoStaysUntilItIsRolledBack() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let undo = Undo(json: #"{"backup":"/etc/rabbitmq/rabbitmq.conf.rabbit-wizard-20261129T100000.000Z.bak"}"#)
        try run(dir, [.began(step: "a", fingerprint: "f1", undo: undo), .applied(step: "a", undo: undo), .verified(step: "a")])
        for _ in 0..<11 { try run(dir, [.upToDate(step: "a")]) }
        let first = Journal.runFiles(in: dir)[0]
        let before = try state(dir)

        let pruned = Journal.prune(in: dir, keepNewest: 3)
        let removed = pruned.removed
        #expect(pruned.state == before, "the state prune folded is the journal's")
        #expect(removed.count == 8, "the 8 up-to-date runs between the first and the newest 3")
        #expect(!removed.contains(first))
        #expect(Journal.runFiles(in: dir).count == 4)
        #expect(try state(dir) == before)
        #expect(try state(dir).undoTexts?.contains("/etc/rabbitmq/rabbitmq.conf.rabbit-wizard-20261129T100000.000Z.bak") == true)

        // Rolled back, then applied again with new undo data: the first run is needed no more.
        try run(dir, [.rollbackBegan(step: "a"), .rolledBack(step: "a")])
        let again = Undo(json: #"{"backup":"/etc/rabbitmq/rabbitmq.conf.rabbit-wizard-20261129T110000.000Z.bak"}"#)
        try run(dir, [.began(step: "a", fingerprint: "f2", undo: again), .applied(step: "a", undo: again), .verified(step: "a")])
        let current = try state(dir)
        let second = Journal.prune(in: dir, keepNewest: 3).removed
        #expect(second.contains(first))
        #expect(try state(dir) == current)
        #expect(try state(dir).undoTexts == ["backup", "/etc/rabbitmq/rabbitmq.conf.rabbit-wizard-20261129T110000.000Z.bak"])
    }

    @Test func aRetriedAttemptKeepsTheRunWithTheFirstBeforeState() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let u1 = Undo(json: #"{"backup":"/x.rabbit-wizard-1.bak"}"#)
        let u2 = Undo(json: #"{"backup":"/x.rabbit-wizard-2.bak"}"#)
        try run(dir, [.began(step: "a", fingerprint: "f", undo: u1), .failed(step: "a", failure: StepFailure("boom"))])
        // The retry failed too: its own undo data would describe the half-changed servers, not the before-state.
        try run(dir, [.began(step: "a", fingerprint: "f", undo: u2), .failed(step: "a", failure: StepFailure("boom again"))])
        let before = try state(dir)
        #expect(before.records["a"]?.undo == u1, "the retry keeps the first attempt's before-state")
        #expect(Journal.prune(in: dir, keepNewest: 1).removed.isEmpty)
        #expect(Journal.runFiles(in: dir).count == 2)
    }

    @Test func anOwedRestartKeepsItsRun() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try run(dir, [.restartPending(node: "rabbit-a", reason: "cookie", owner: "erlang-cookie")])
        for _ in 0..<3 { try run(dir, [.upToDate(step: "b")]) }
        let removed = Journal.prune(in: dir, keepNewest: 1).removed
        #expect(removed.count == 2)
        #expect(try state(dir).pendingRestarts["rabbit-a"]?.owners == ["erlang-cookie"])
    }

    @Test func theNewestDrillsEvidenceReplacesOlderOnesAndTheirRunsGo() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try run(dir, [.evidence(step: "drill", title: "Failover drill", text: "old"), .verified(step: "drill")])
        try run(dir, [.evidence(step: "drill", title: "Failover drill", text: "new 1"),
                      .evidence(step: "drill", title: "Failover drill", text: "new 2"), .verified(step: "drill")])
        #expect(try state(dir).evidence.map(\.text) == ["new 1", "new 2"])
        #expect(Journal.prune(in: dir, keepNewest: 1).removed.count == 1)
        #expect(try state(dir).evidence.map(\.text) == ["new 1", "new 2"])
    }

    @Test func aDamagedJournalIsLeftWholeAndUnreadableUndoProtectsEverything() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for _ in 0..<4 { try run(dir, [.upToDate(step: "a")]) }
        let last = Journal.runFiles(in: dir).last!
        let text = try String(contentsOfFile: last, encoding: .utf8)
        try text.replacingOccurrences(of: "\"a\"", with: "\"b\"").write(toFile: last, atomically: false, encoding: .utf8)
        let pruned = Journal.prune(in: dir, keepNewest: 1)
        #expect(pruned.removed.isEmpty && pruned.state == nil, "a damaged journal: nothing removed, no state to trust")
        #expect(Journal.runFiles(in: dir).count == 4)

        var s = JournalState()
        s.apply(.began(step: "a", fingerprint: "f", undo: Undo(json: "{not json")))
        #expect(s.undoTexts == nil)
    }
}
