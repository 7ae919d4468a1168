import Testing

@testable import Workflow

/// The rollback rules both front ends follow (the CLI's `rollback` and the screen's u / U call these).
struct RulesTests {
    static let some = Undo(json: #"{"backup":"/var/backups/x"}"#)

    @Test(arguments: [
        (StepStatus.done, some, true), (.applied, some, true), (.failed, some, true), (.unknown, some, true),
        (.rollbackUnknown, some, true), (.awaitingRestart, some, true),
        (.pending, some, false), (.rolledBack, some, false), (.skipped, some, false),
        (.done, nil, false), (.done, Undo.none, false),
    ] as [(StepStatus, Undo?, Bool)])
    func undoableNeedsPossibleChangesAndUndoThatRestoresSomething(status: StepStatus, undo: Undo?, expected: Bool) {
        #expect(Rollback.isUndoable(status, undo: undo) == expected)
    }

    /// From a journal: a done step with undo, a check (Undo.none), a rolled-back one, one never run.
    @Test func undoableStepsOfAJournalInOrder() {
        var journal = JournalState()
        journal.records = [
            "checks": .init(status: .done, undo: Undo.none),
            "conf": .init(status: .done, undo: Self.some),
            "cookie": .init(status: .rolledBack, undo: Self.some),
            "join": .init(status: .failed, undo: Self.some),
        ]
        #expect(Rollback.undoable(journal, order: ["checks", "conf", "cookie", "join", "lb"]) == ["conf", "join"])
    }

    @Test(arguments: [
        ("a", ["b", "c"]), ("b", ["c"]), ("c", []), ("x", []),
    ] as [(StepID, [StepID])])
    func laterUndoableStepsBlockRollingBackOne(id: StepID, expected: [StepID]) {
        #expect(Rollback.blocking(id, undoable: ["a", "b", "c"]) == expected)
    }

    @Test func everythingRollsBackNewestFirst() {
        #expect(Rollback.all(["a", "b", "c"]) == ["c", "b", "a"])
    }
}
