import Executor
import Foundation
import RabbitSetup
import Synchronization
import TestKit
import Testing
import Workflow

@testable import WizardCore

/// The application core in-process, as both front ends use it: opening a session (steps built once, bad
/// input refused before anything exists or runs), and a run under its locks with the journal, on file
/// steps. The same paths through the shipped binary are in `RabbitSetupTests` (`WorkflowCLITests`).
@Suite struct SessionTests {
    /// A topology of three Debian servers over ssh: opening it contacts none of them.
    static func topologyFile(in dir: String) -> String {
        let path = dir + "/topology.yml"
        Support.write(Topologies.threeDebianServers + "\n", to: path, mode: 0o644)
        return path
    }

    /// An executor whose ssh commands go to `transport` (no rule: any command sent fails the test).
    static func executor(_ transport: ScriptedTransport) -> Executor { Executor(commandLog: nil, remote: transport) }

    @Test func openingBuildsTheStepsOnceAndRunsNothing() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Self.topologyFile(in: dir)
        let transport = ScriptedTransport([])
        let session = try await Session.open(SessionOptions(config: path, stateDir: dir + "/state", notices: false),
                                             executor: Self.executor(transport))
        let topology = try #require(session.topology)
        #expect(topology.nodes.map(\.name) == ["server-a", "server-b", "server-c"])
        #expect(!session.order.isEmpty && session.order == SetupSteps.all(for: topology).map(\.id))
        #expect(session.configPath == path && session.state.path == dir + "/state")
        var isFolder: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: session.journalDirectory, isDirectory: &isFolder) && isFolder.boolValue)
        #expect(transport.argvs.isEmpty, "opening a Debian topology sent \(transport.argvs)")
        // Debian servers need no look: nothing to rediscover.
        #expect(await session.rediscovered() == nil)
    }

    @Test func badInputIsRefusedBeforeAnythingExists() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = dir + "/state"
        let transport = ScriptedTransport([])
        func refusal(_ options: SessionOptions) async -> (any Error)? {
            do { _ = try await Session.open(options, executor: Self.executor(transport)) } catch { return error }
            return nil
        }
        // A waiver that names no finding.
        let waiver = await refusal(SessionOptions(config: Self.topologyFile(in: dir), stateDir: state, waive: ["no-such-finding"], notices: false))
        let failure = try #require(waiver as? ErrorPresenter.Failure, "\(String(describing: waiver))")
        #expect(failure.code == .badInput && failure.message.contains("--waive: no step reports no-such-finding"), "\(failure.message)")
        // No topology file named.
        let missing = await refusal(SessionOptions(config: nil, stateDir: state, notices: false))
        #expect((missing as? UsageError)?.message.hasPrefix("Missing --config FILE") == true, "\(String(describing: missing))")
        // A topology whose seed is not one of its nodes.
        let bad = dir + "/bad.yml"
        Support.write(Support.read(Self.topologyFile(in: dir)).replacing("seed: server-a", with: "seed: server-z"), to: bad, mode: 0o644)
        let invalid = try #require(await refusal(SessionOptions(config: bad, stateDir: state, notices: false)) as? ErrorPresenter.Failure)
        #expect(invalid.code == .badInput && invalid.message.contains("problem(s); nothing was run") && invalid.message.contains("server-z"),
                "\(invalid.message)")
        // Nothing was made and nothing was sent.
        #expect(!FileManager.default.fileExists(atPath: state), "a refused session created its state folder")
        #expect(transport.argvs.isEmpty)
    }

    /// The nodes a cut-off partition repair left stopped are the journal's restarts owed to the repair, by
    /// their Erlang names; a restart owed to a step is not one of them.
    @Test func aCutOffRepairsStopsAreReadFromTheJournal() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let session = try await Session.open(SessionOptions(config: Self.topologyFile(in: dir), stateDir: dir + "/state", notices: false),
                                             executor: Self.executor(ScriptedTransport([])))
        #expect(try session.stoppedByRepair().isEmpty)
        let journal = try Journal(directory: session.journalDirectory)
        try journal.append(.restartPending(node: "server-b", reason: "the partition repair stops it", owner: .repairPartition))
        try journal.append(.restartPending(node: "server-c", reason: "the partition repair stops it", owner: .repairPartition))
        try journal.append(.restartPending(node: "server-a", reason: "the erlang-cookie round stops it", owner: .erlangCookie))
        try journal.append(.restartDone(node: "server-c"))
        #expect(try session.stoppedByRepair() == ["rabbit@ServerB"])
    }

    /// The owed restarts a step sees: the journal's when first asked (an earlier run's included), then kept
    /// in memory with the context's own notes; the files are not read again for each question.
    @Test func owedRestartsAreReadOnceAndKeptWithTheNotes() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let session = try await Session.open(SessionOptions(config: Self.topologyFile(in: dir), stateDir: dir + "/state", notices: false),
                                             executor: Self.executor(ScriptedTransport([])))
        try Journal(directory: session.journalDirectory).append(.restartPending(node: "server-a", reason: "an earlier run", owner: .erlangCookie))
        let journal = try Journal(directory: session.journalDirectory)
        let context = session.context(waived: [], journal: journal)
        #expect(context.pendingRestarts().keys.sorted() == ["server-a"])
        try context.record(.restartPending(node: "server-b", reason: "the erlang-cookie round stops it", owner: .erlangCookie))
        #expect(context.pendingRestarts().keys.sorted() == ["server-a", "server-b"])
        // Written by someone else meanwhile: not read again (a run holds the locks; nothing else writes).
        try Journal(directory: session.journalDirectory).append(.restartPending(node: "server-c", reason: "elsewhere", owner: .erlangCookie))
        try context.record(.restartDone(node: "server-a"))
        #expect(context.pendingRestarts().keys.sorted() == ["server-b"])
        // What the files hold, read afresh: the context wrote its notes there too.
        #expect(try session.journalState().pendingRestarts.keys.sorted() == ["server-b", "server-c"])
    }

    /// A run through the core's one entry point, as the screen calls it (its hooks, not the CLI's): the file
    /// step applied under the state folder's lock and journaled, then rolled back to the byte.
    @Test func aRunAppliesJournalsAndRollsBack() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/managed.conf"
        Support.write("old = 1\n", to: file, mode: 0o644)
        let step = FileContentStep(id: "file-x", path: file, content: Array("new = 2\n".utf8), mode: "640")
        let state = try Session.openState(dir + "/state")
        let session = Session(state: state, executor: try Session.makeExecutor(state, identity: nil, dryRun: false), steps: [step], journalDirectory: try state.folder("journal"), topology: nil)
        let events = Mutex<[RunnerEvent]>([])
        let hooks = Session.RunHooks(answerer: NonInteractiveOperator(yes: true), observe: { _, e in events.withLock { $0.append(e) } },
                                     progress: { _ in }, evidence: { _, _, _ in }, stopRequested: { false }, takeOverStaleLock: false)

        let applied = try await session.run(RunRequest(.apply, queue: session.order, waived: [], confirmEachPlan: false, command: "apply"), hooks: hooks)
        #expect(applied.outcome == .completed, "\(String(describing: applied.outcome))")
        #expect(Support.read(file) == "new = 2\n")
        #expect(try session.journalState().status("file-x") == .done)
        #expect(events.withLock { $0.contains { if case .verified("file-x") = $0 { true } else { false } } })
        #expect(RunLock.holder(stateDirectory: state.path).holder == nil, "the run left its lock")

        let rolledBack = try await session.run(RunRequest(.rollback, queue: ["file-x"], waived: [], confirmEachPlan: false, command: "rollback file-x"),
                                               hooks: hooks)
        #expect(rolledBack.outcome == .rolledBack(["file-x"]), "\(String(describing: rolledBack.outcome))")
        #expect(Support.read(file) == "old = 1\n")
        #expect(try session.journalState().status("file-x") == .rolledBack)
        #expect(ErrorPresenter.summary(for: rolledBack)?.message == "Rolled back: file-x.")
    }

    /// A session on the file step with `file` holding "old = 1", for the tests below.
    static func fileSession(_ dir: String, file: String) throws -> Session {
        Support.write("old = 1\n", to: file, mode: 0o644)
        let step = FileContentStep(id: "file-x", path: file, content: Array("new = 2\n".utf8), mode: "640")
        let state = try Session.openState(dir + "/state")
        return Session(state: state, executor: try Session.makeExecutor(state, identity: nil, dryRun: false), steps: [step],
                       journalDirectory: try state.folder("journal"), topology: nil)
    }

    static let quietHooks = Session.RunHooks(answerer: NonInteractiveOperator(yes: true), observe: { _, _ in }, progress: { _ in },
                                             evidence: { _, _, _ in }, stopRequested: { false }, takeOverStaleLock: false)

    /// Every front end's plan starts from the journal, and changes nothing even when a rollback was cut off
    /// there (the screen's plan once finished it, without locks); the next rollback finishes it.
    @Test func aPlanReadsTheJournalAndChangesNothing() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/managed.conf"
        let session = try Self.fileSession(dir, file: file)
        let applied = try await session.run(RunRequest(.apply, queue: session.order, waived: [], confirmEachPlan: false, command: "apply"),
                                            hooks: Self.quietHooks)
        #expect(applied.outcome == .completed)
        try Journal(directory: session.journalDirectory).append(.rollbackBegan(step: "file-x"))
        let request = RunRequest(.plan, queue: session.order, waived: [], confirmEachPlan: false, command: "plan")
        #expect(try session.initialState(request).statuses["file-x"] == .rollbackUnknown, "the plan's state is the journal's")
        let planned = try await session.run(request, hooks: Self.quietHooks)
        #expect(planned.outcome == .completed, "\(String(describing: planned.outcome))")
        #expect(Support.read(file) == "new = 2\n", "a plan rolled the step back")
        #expect(try session.journalState().status("file-x") == .rollbackUnknown)
        let finished = try await session.run(RunRequest(.rollback, queue: [], waived: [], confirmEachPlan: false, command: "rollback"),
                                             hooks: Self.quietHooks)
        #expect(finished.outcome == .rolledBack(["file-x"]), "\(String(describing: finished.outcome))")
        #expect(Support.read(file) == "old = 1\n")
    }

    /// The stale-lock question both front ends ask: none on a fresh state folder, the holder named for a
    /// lock a wizard that is gone left.
    @Test func aLockLeftByAWizardThatIsGoneIsNamed() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let session = try Self.fileSession(dir, file: dir + "/managed.conf")
        #expect(await session.staleLock() == nil)
        let left = "{\"pid\":999999,\"host\":\"h\",\"started\":\"2026-01-01T00:00:00Z\",\"command\":\"apply\"}"
        Support.write(left, to: session.state.path + "/lock", mode: 0o600)
        let stale = try #require(await session.staleLock())
        #expect(stale.contains("999999") && stale.contains("apply"), "\(stale)")
    }

    /// One look: every step reported with what it shows now, read-only; no cluster without a topology.
    @Test func aLookReportsEveryStepAndChangesNothing() async throws {
        let dir = Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/managed.conf"
        let session = try Self.fileSession(dir, file: file)
        let seen = Mutex<[(StepID, String, Int?)]>([])
        let view = await Observations.run(reusing: true) {
            await session.look(waived: []) { step, live, pending in seen.withLock { $0.append((step.id, live, pending)) } }
        }
        #expect(view == nil)
        let rows = seen.withLock { $0 }
        #expect(rows.map(\.0) == session.order && !rows.isEmpty)
        #expect(rows.first?.1 == "1 change(s) pending" && rows.first?.2 == 1, "\(rows)")
        #expect(Support.read(file) == "old = 1\n")
    }
}
