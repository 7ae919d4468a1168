import Foundation
import Glibc
import Testing

@testable import Workflow

func tempDir() -> String {
    var template = Array("/tmp/rw-wf-XXXXXX".utf8CString)
    return String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
}

@Suite struct JournalTests {
    @Test func entriesRoundTripAndFilesArePrivate() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let j = try Journal(directory: dir + "/journal")
        let events: [JournalEvent] = [
            .runStarted(command: "apply", pid: 1, host: "h"),
            .began(step: "a", fingerprint: "ff", undo: Undo(json: "{\"backup\":\"/x\"}")),
            .applied(step: "a", undo: Undo(json: "{\"backup\":\"/x\"}")),
            .failed(step: "b", failure: StepFailure("boom", fix: "fix", retryable: true)),
            .evidence(step: "c", title: "t", text: "line1\nline2"),
        ]
        for e in events { try j.append(e) }
        #expect(try Journal.readAll(in: dir + "/journal").map(\.event) == events)
        #expect(try Journal.readAll(in: dir + "/journal").map(\.seq) == [1, 2, 3, 4, 5])
        var st = stat()
        stat(j.path, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        stat(dir + "/journal", &st)
        #expect(st.st_mode & 0o777 == 0o700)
    }

    @Test func aFlippedByteIsDetected() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let j = try Journal(directory: dir)
        try j.append(.verified(step: "a"))
        try j.append(.verified(step: "b"))
        var text = try String(contentsOfFile: j.path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"b\"", with: "\"c\"")
        try text.write(toFile: j.path, atomically: false, encoding: .utf8)
        #expect(throws: JournalProblem.corrupt(file: j.path, line: 3, reason: "checksum mismatch")) { try Journal.readAll(in: dir) }
    }

    @Test func aTornLastEntryIsReportedAndRepairKeepsTheGoodOnes() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let j = try Journal(directory: dir)
        try j.append(.began(step: "a", fingerprint: "f", undo: .none))
        try j.append(.applied(step: "a", undo: .none))
        let data = try Data(contentsOf: URL(fileURLWithPath: j.path))
        try data.prefix(data.count - 7).write(to: URL(fileURLWithPath: j.path))
        #expect(throws: JournalProblem.truncated(file: j.path, validEntries: 1)) { try Journal.readAll(in: dir) }
        #expect(try Journal.repair(file: j.path) == 1)
        #expect(try Journal.readAll(in: dir).map(\.event) == [.began(step: "a", fingerprint: "f", undo: .none)])
        #expect(FileManager.default.fileExists(atPath: j.path + ".damaged"))
    }

    @Test func runsAreReadInOrder() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Journal(directory: dir).append(.verified(step: "a"))
        try Journal(directory: dir).append(.rolledBack(step: "a"))
        #expect(JournalState(events: try Journal.readAll(in: dir).map(\.event)).status("a") == .rolledBack)
    }

    @Test func foldingGivesStatusesUndoAndRestarts() {
        let u1 = Undo(json: "{\"n\":1}"), u2 = Undo(json: "{\"n\":2}")
        let s = JournalState(events: [
            .began(step: "a", fingerprint: "f", undo: u1), .applied(step: "a", undo: u2), .verified(step: "a"),
            .began(step: "b", fingerprint: "f", undo: u1),
            .began(step: "c", fingerprint: "f", undo: u1), .applied(step: "c", undo: u1),
            .failed(step: "d", failure: StepFailure("x", partialUndo: u2)),
            .upToDate(step: "e"), .skipped(step: "a"),
            .failed(step: "g", failure: StepFailure("connection lost", outcomeUnknown: true)),
            .restartPending(node: "n1", reason: "config"), .restartPending(node: "n2", reason: "cookie"), .restartDone(node: "n1"),
        ])
        #expect(s.status("a") == .done, "skipping never hides what was applied")
        #expect(s.records["a"]?.undo == u2)
        #expect(s.status("b") == .unknown)
        #expect(s.status("c") == .applied)
        #expect(s.status("d") == .failed)
        #expect(s.records["d"]?.undo == u2)
        #expect(s.status("e") == .done)
        #expect(s.status("g") == .unknown, "a failure whose effect is unknown is reconciled like an interruption")
        #expect(s.needingReconcile(in: ["a", "b", "c", "d", "e", "g"]) == ["b", "c", "g"])
        #expect(s.pendingRestarts == ["n2": PendingRestart(reason: "cookie")])
        // One restart can be owed to several steps; it is done once for all.
        var shared = JournalState(events: [.restartPending(node: "n1", reason: "config", owner: "ph"),
                                           .restartPending(node: "n1", reason: "stopped by the round", owner: "ec")])
        #expect(shared.pendingRestarts["n1"] == PendingRestart(reason: "config; stopped by the round", owners: ["ph", "ec"]))
        shared.apply(.restartDone(node: "n1"))
        #expect(shared.pendingRestarts.isEmpty)
    }

    /// A done step whose change waits for a restart owed to it is awaiting that restart, until it is done.
    @Test func aRestartOwedToADoneStepMakesItAwaitTheRestart() {
        var s = JournalState(events: [
            .began(step: "ph", fingerprint: "f", undo: .none), .applied(step: "ph", undo: .none), .verified(step: "ph"),
            .restartPending(node: "n1", reason: "config", owner: "ph"), .restartPending(node: "n2", reason: "config", owner: "ph"),
            .restartPending(node: "n3", reason: "other"),
        ])
        #expect(s.status("ph") == .awaitingRestart && s.restartsOwed(to: "ph") == ["n1", "n2"])
        s.apply(.restartDone(node: "n1"))
        #expect(s.status("ph") == .awaitingRestart)
        s.apply(.restartDone(node: "n2"))
        #expect(s.status("ph") == .done)
    }

    /// An attempt cut off and begun again keeps the first attempt's undo: by the second `began` the servers
    /// may be half-changed, so only the first holds the before-state. Once an attempt ends, the next one's
    /// undo counts. (A continued erlang-cookie rolled back to the seed's cookie before this.)
    @Test func anAttemptBegunAgainKeepsTheFirstBeforeState() {
        let u1 = Undo(json: "{\"before\":1}"), u2 = Undo(json: "{\"before\":2}"), u3 = Undo(json: "{\"before\":3}")
        var s = JournalState(events: [.began(step: "a", fingerprint: "f", undo: u1), .failed(step: "a", failure: StepFailure("x")),
                                      .began(step: "a", fingerprint: "f", undo: u2)])
        #expect(s.records["a"]?.undo == u1)
        s.apply(.verified(step: "a"))
        s.apply(.began(step: "a", fingerprint: "g", undo: u3))
        #expect(s.records["a"]?.undo == u3)
        s.apply(.rolledBack(step: "a"))
        s.apply(.began(step: "a", fingerprint: "g", undo: u2))
        #expect(s.records["a"]?.undo == u2)
    }

    /// Journals written before restarts named their owner still read.
    @Test func aRestartPendingEntryWithoutAnOwnerStillReads() throws {
        let old = Data(#"{"restartPending":{"node":"n1","reason":"config"}}"#.utf8)
        #expect(try JSONDecoder().decode(JournalEvent.self, from: old) == .restartPending(node: "n1", reason: "config", owner: nil))
    }
}

@Suite struct RunLockTests {
    @Test func secondHolderIsRefusedAndNamesTheFirst() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try RunLock(stateDirectory: dir, command: "apply", takeOverStale: false)
        do {
            _ = try RunLock(stateDirectory: dir, command: "apply", takeOverStale: true)
            Issue.record("the second lock was granted")
        } catch {
            guard case .held(let holder) = error else { Issue.record("\(error)"); return }
            #expect(holder?.pid == getpid())
            #expect(holder?.command == "apply")
        }
        first.release()
        _ = try RunLock(stateDirectory: dir, command: "apply", takeOverStale: false)
    }

    @Test func staleLockNeedsExplicitTakeOver() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A lock file left by a wizard that died: content but no flock.
        let left = "{\"pid\":999999,\"host\":\"h\",\"started\":\"2026-01-01T00:00:00Z\",\"command\":\"apply\"}"
        _ = FileManager.default.createFile(atPath: dir + "/lock", contents: Data(left.utf8))
        #expect(throws: RunLock.Problem.stale(RunLock.Holder(pid: 999999, host: "h", started: Date(timeIntervalSince1970: 1_767_225_600), command: "apply"))) {
            _ = try RunLock(stateDirectory: dir, command: "apply", takeOverStale: false)
        }
        let taken = try RunLock(stateDirectory: dir, command: "apply", takeOverStale: true)
        #expect(RunLock.holder(stateDirectory: dir).holder?.pid == getpid())
        #expect(RunLock.holder(stateDirectory: dir).alive)
        taken.release()
    }
}

@Suite struct LineDiffTests {
    @Test func changedLineWithContext() {
        let d = LineDiff.diff("a\nb\nc\n", "a\nB\nc\n")
        #expect(d == [.same("a"), .removed("b"), .added("B"), .same("c")])
    }

    @Test func missingFinalNewlineAndCRLFAreVisible() {
        #expect(LineDiff.diff("a\n", "a") == [.same("a"), .added("\\ no newline at end of file")])
        #expect(LineDiff.diff("a\r\n", "a\n") == [.removed("a\r"), .added("a")])
    }

    @Test func renderElidesFarLines() {
        let before = (1...20).map { "l\($0)" }.joined(separator: "\n") + "\n"
        let after = before.replacingOccurrences(of: "l10\n", with: "X\n")
        #expect(LineDiff.render(LineDiff.diff(before, after), context: 1) == ["  l9", "- l10", "+ X", "  l11"])
    }
}
