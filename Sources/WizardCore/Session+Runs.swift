import Executor
import Foundation
import RabbitSetup
import Workflow

/// A run as a front end asks for it (`plan`, `apply`, `retry`, `rollback`, the screen's keys): the session
/// makes its starting state from the journal (``Session/run(_:hooks:)``), the same for both front ends.
public struct RunRequest: Sendable {
    public var mode: RunMode
    /// The steps to go through, in order (rollback: in the order to undo them).
    public var queue: [StepID]
    /// Steps left out by `--only`/`--skip`: their recorded state stays as it is.
    public var skipped: [StepID]
    public var waived: [String]
    /// Fingerprints of plans the operator reviewed (`apply --plan-file`).
    public var reviewed: [StepID: String]
    /// Ask before applying each plan that changes something (the screen; the CLI without `--yes`).
    public var confirmEachPlan: Bool
    /// After observing an interrupted step, go on without asking (`--yes`).
    public var continueAfterReconcile: Bool
    /// What the journal and the locks call the run (`apply`, `retry cluster-join`, `rollback erlang-cookie`).
    public var command: String

    public init(_ mode: RunMode, queue: [StepID], skipped: [StepID] = [], waived: [String], reviewed: [StepID: String] = [:],
                confirmEachPlan: Bool, continueAfterReconcile: Bool = false, command: String)
    {
        self.mode = mode
        self.queue = queue
        self.skipped = skipped
        self.waived = waived
        self.reviewed = reviewed
        self.confirmEachPlan = confirmEachPlan
        self.continueAfterReconcile = continueAfterReconcile
        self.command = command
    }
}

extension Session {
    /// The state `request` starts from: the journal's statuses, undo data, interrupted steps and owed
    /// restarts (a plan reads them too, and changes nothing: the runner's rules leave a cut-off rollback
    /// to the next apply or rollback).
    public func initialState(_ request: RunRequest) throws -> RunnerState {
        RunnerState(mode: request.mode, order: order, queue: request.queue, skipped: request.skipped, journal: try journalState(),
                    waived: Set(request.waived), reviewed: request.reviewed, confirmEachPlan: request.confirmEachPlan,
                    continueAfterReconcile: request.continueAfterReconcile)
    }

    /// Runs `request` (``run(_:command:waived:hooks:)``: under the locks with a new journal file, unless it
    /// is a plan); returns the final state.
    public func run(_ request: RunRequest, hooks: RunHooks) async throws -> RunnerState {
        try await run(try initialState(request), command: request.command, waived: request.waived, hooks: hooks)
    }

    /// A lock that a wizard which is gone left (the state folder's, or the cluster's on the seed's server),
    /// described for the question whether to take it over; nil when there is none, or when it is the
    /// cluster lock an earlier run of this state folder on this jump host left (its holder is provably gone:
    /// taken over without asking).
    public func staleLock() async -> String? {
        let (holder, alive) = RunLock.holder(stateDirectory: state.path)
        if let holder, !alive { return holder.description }
        guard let topology else { return nil }
        if case .held(let holder, _, let why?, _) = await ClusterLock.look(topology, executor: executor) {
            if let holder, holder.stateDirectory == state.path, holder.host == ClusterLock.jumpHost { return nil }
            return "the cluster lock on \(topology.seed.name): \(holder.map(String.init(describing:)) ?? "holder unknown") (\(why))"
        }
        return nil
    }

    /// One look at every step, then at the cluster, read-only: what `status` prints and the screen shows.
    /// Each step is reported as soon as it is known (``observe(_:_:)``); a cancelled task stops between steps
    /// and gets no cluster view. Call it inside ``Observations/run(reusing:_:)`` with reuse: nothing changes in
    /// a look, so each question is asked once.
    public func look(waived: [String], step each: (any Step, _ live: String, _ pendingChanges: Int?) async -> Void) async -> ClusterView? {
        let context = context(waived: waived)
        for step in steps {
            if Task.isCancelled { return nil }
            let (live, pending) = await observe(step, context)
            if Task.isCancelled { return nil }
            await each(step, live, pending)
        }
        guard let topology, !Task.isCancelled else { return nil }
        return await ClusterHealth.view(topology, executor: executor)
    }
}
