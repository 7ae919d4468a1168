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

        let applied = try await session.run(RunnerState(mode: .apply, order: session.order, queue: session.order, journal: try session.journalState()),
                                            command: "apply", waived: [], hooks: hooks)
        #expect(applied.outcome == .completed, "\(String(describing: applied.outcome))")
        #expect(Support.read(file) == "new = 2\n")
        #expect(try session.journalState().status("file-x") == .done)
        #expect(events.withLock { $0.contains { if case .verified("file-x") = $0 { true } else { false } } })
        #expect(RunLock.holder(stateDirectory: state.path).holder == nil, "the run left its lock")

        let rolledBack = try await session.run(RunnerState(mode: .rollback, order: session.order, queue: ["file-x"], journal: try session.journalState()),
                                               command: "rollback file-x", waived: [], hooks: hooks)
        #expect(rolledBack.outcome == .rolledBack(["file-x"]), "\(String(describing: rolledBack.outcome))")
        #expect(Support.read(file) == "old = 1\n")
        #expect(try session.journalState().status("file-x") == .rolledBack)
        #expect(ErrorPresenter.summary(for: rolledBack)?.message == "Rolled back: file-x.")
    }
}
