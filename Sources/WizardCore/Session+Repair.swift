import Executor
import Foundation
import RabbitSetup
import Workflow

/// The guided repair of a network partition as both front ends run it: the proposal from every node's view
/// and from the journal (nodes a repair that was cut off stopped), then, under the run locks, the restart of
/// the confirmed side in a journal run of its own.
extension Session {
    /// Erlang names of the nodes a repair stopped and did not start again: their restarts are owed to
    /// ``StepID/repairPartition`` in the journal.
    public func stoppedByRepair() throws -> [String] {
        guard let topology else { return [] }
        let owed = Set(try journalState().pendingRestarts.filter { $0.value.owners.contains(.repairPartition) }.keys)
        return topology.nodes.filter { owed.contains($0.name) }.map(\.nodeName.description).sorted()
    }

    /// What the repair would do now (read-only): what both front ends show before they ask.
    public func proposeRepair(keepSideOf: String? = nil) async throws -> PartitionRepair.Proposal {
        await PartitionRepair.propose(try repairTopology(), executor: executor, keepSideOf: keepSideOf, stopped: try stoppedByRepair())
    }

    private func repairTopology() throws -> Topology {
        guard let topology else { throw ErrorPresenter.fail("repair partition needs a topology (--config FILE)", code: .badInput) }
        return topology
    }

    /// Under `locks`, carries out `decision`, each node's stop and start in the journal (a new run file,
    /// `repair partition`). With `readAgain` (time passed while the operator read the proposal) every node is
    /// read and the repair decided again, and only the same decision goes ahead; without it (`--yes`, nothing
    /// waited) it goes ahead at once. Returns the cluster as every node sees it once it is whole.
    public func repair(_ decision: PartitionRepair.Decision, readAgain: Bool, keepSideOf: String? = nil, locks: RunLocks,
                       progress: @escaping @Sendable (String) -> Void) async throws -> ClusterView
    {
        let topology = try repairTopology()
        if let lost = locks.lost { throw ErrorPresenter.fail("\(lost): nothing was restarted", code: .locked) }
        let stopped = try stoppedByRepair()
        let journal: Journal
        do {
            journal = try Journal(directory: journalDirectory)
            try journal.append(.runStarted(command: "repair partition", pid: getpid(), host: ProcessInfo.processInfo.hostName))
        } catch {
            throw ErrorPresenter.fail(WorkflowError.journal(error), code: .staleOrDirty)
        }
        let record = context(waived: [], journal: journal, progress: progress, crashPoint: TestHooks.boundaryPoint()).record
        do {
            if readAgain {
                return try await PartitionRepair.carryOut(restarting: decision, topology: topology, executor: executor, keepSideOf: keepSideOf,
                                                          stopped: stopped, record: record, progress: progress)
            }
            return try await PartitionRepair.restart(decision, topology: topology, executor: executor, record: record, progress: progress)
        } catch {
            throw ErrorPresenter.fail(error, code: .failed)
        }
    }
}
