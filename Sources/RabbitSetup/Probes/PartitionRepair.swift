import Executor
import Foundation
import Workflow

/// The guided repair of a network partition that has not healed by itself (`ignore`, or an autoheal that
/// loops, as RabbitMQ 3.10 can): which side to restart, by the documented rule for the configured
/// strategy, named with the nodes' own views as evidence; then the restart of that side's nodes (the
/// service stopped and started, as RabbitMQ's partitions guide recovers from a split), and the observation that every node sees every other with no
/// partition recorded.
public enum PartitionRepair {
    /// What the repair would do, and why.
    public struct Decision: Sendable, Equatable {
        /// The side kept running, and the nodes that restart (they take the kept
        /// side's data: what changed only on it since the split is lost).
        public var keep: [String]
        public var restart: [String]
        /// The rule that chose, in words.
        public var rule: String
        /// Each node's own view: "rabbit@A runs with rabbit@A, rabbit@B; recorded a partition with rabbit@C".
        public var evidence: [String]
        /// The nodes in `restart` were stopped by a repair that was cut off before it started them again:
        /// they are only started (``finishing(_:view:)``).
        public var startOnly = false

        public init(keep: [String], restart: [String], rule: String, evidence: [String], startOnly: Bool = false) {
            self.keep = keep
            self.restart = restart
            self.rule = rule
            self.evidence = evidence
            self.startOnly = startOnly
        }
    }

    /// Finishing a repair that was cut off after it stopped `stopped` (their restarts are owed to
    /// ``StepID/repairPartition`` in the journal): they are started, whatever the nodes that run show now; a
    /// partition that is left is decided afresh by the next repair. Pure.
    public static func finishing(_ stopped: [String], view: ClusterView) -> Decision {
        let evidence = view.seen.sorted { $0.key < $1.key }.map { node, seen -> String in
            switch seen {
            case .status(let s): "\(node) runs with \(s.runningNodes.sorted().joined(separator: ", "))"
            case .unreadable(let why): "\(node) cannot be read (\(why))"
            }
        }
        return Decision(keep: view.seen.keys.filter { !stopped.contains($0) }.sorted(), restart: stopped.sorted(),
                        rule: "a repair was cut off after it stopped \(stopped.sorted().joined(separator: ", ")) (the journal owes their start): "
                            + "they are started first; the next repair decides about any partition that is left",
                        evidence: evidence, startOnly: true)
    }

    public enum Refusal: Error, Sendable, Equatable {
        /// Nothing to repair: the cluster's summary says what it is.
        case nothingToRepair(String)
        /// The repair cannot be decided from here (a node cannot be read): what to do first.
        case cannotDecide(String, fix: String)

        /// The refusal as the operator reads it, in the CLI and on the screen alike.
        public var message: String {
            switch self {
            case .nothingToRepair(let summary): "Nothing to repair: \(summary)"
            case .cannotDecide(let why, let fix): "cannot repair: \(why). Fix: \(fix)"
            }
        }
    }

    /// Pairs of nodes that are apart as they see it: one recorded a partition with the other (`records`, each
    /// node's own, ``ClusterView/records``), or one does not run with the other. Pure.
    static func apart(_ statuses: [String: ClusterStatus], records: [String: Set<String>]) -> [(String, String)] {
        let nodes = statuses.keys.sorted()
        var pairs: [(String, String)] = []
        for (i, a) in nodes.enumerated() {
            for b in nodes[(i + 1)...] {
                let sa = statuses[a]!, sb = statuses[b]!
                let recorded = records[a, default: []].contains(b) || records[b, default: []].contains(a)
                if recorded || !sa.runningNodes.contains(b) || !sb.runningNodes.contains(a) { pairs.append((a, b)) }
            }
        }
        return pairs
    }

    /// The fewest nodes whose restart leaves no pair apart (every other node is kept): in a full split that
    /// is the smaller side, and in a partial partition (A apart from C, B with both) one of the two ends.
    /// Ties go to the set without `chosen`, then without the seed, then the first by name. Pure; up to 9
    /// nodes, so every subset is tried.
    static func restartSet(_ nodes: [String], apart: [(String, String)], seed: String, chosen: String?) -> [String] {
        var best: [String]?
        func better(_ a: [String], than b: [String]) -> Bool {
            if a.count != b.count { return a.count < b.count }
            if let chosen, a.contains(chosen) != b.contains(chosen) { return !a.contains(chosen) }
            if a.contains(seed) != b.contains(seed) { return !a.contains(seed) }
            return a.lexicographicallyPrecedes(b)
        }
        for mask in 1..<(1 << nodes.count) {
            let set = nodes.indices.filter { mask & (1 << $0) != 0 }.map { nodes[$0] }
            guard set.count < nodes.count, apart.allSatisfy({ set.contains($0.0) || set.contains($0.1) }) else { continue }
            if let chosen, set.contains(chosen) { continue }
            if best.map({ better(set, than: $0) }) ?? true { best = set }
        }
        return best ?? []
    }

    /// Decides from what every node answered. Refuses when there is no partition, or when a node cannot
    /// be read (its side is unknown). Pure.
    /// With `keepSideOf`, the side of that node is kept (the operator's choice, for `ignore`).
    public static func decide(_ view: ClusterView, strategy: PartitionHandling, seed: String, keepSideOf chosen: String? = nil)
        -> Result<Decision, Refusal>
    {
        let verdict = view.verdict
        guard case .partitioned = verdict else { return .failure(.nothingToRepair(view.summary(strategy: strategy))) }
        var statuses: [String: ClusterStatus] = [:]
        for (node, seen) in view.seen {
            switch seen {
            case .status(let s): statuses[node] = s
            case .unreadable(let why):
                return .failure(.cannotDecide("\(node) cannot be read (\(why)), so its side is not known",
                                              fix: "start it or restore the network to it, then run repair partition again"))
            }
        }
        if let chosen, !statuses.keys.contains(chosen) {
            return .failure(.cannotDecide("\(chosen) is not a node of this cluster", fix: "give one of: \(statuses.keys.sorted().joined(separator: ", "))"))
        }
        let records = view.records
        let pairs = apart(statuses, records: records)
        guard !pairs.isEmpty else {
            return .failure(.nothingToRepair("every node runs with every other and none recorded a partition with another: \(view.summary(strategy: strategy))"))
        }
        let nodes = statuses.keys.sorted()
        let restart = restartSet(nodes, apart: pairs, seed: seed, chosen: chosen)
        let keep = nodes.filter { !restart.contains($0) }
        let rule: String = if let chosen { "you chose to keep the side of \(chosen)" } else { switch strategy {
        case .pauseMinority: "pause_minority keeps the majority: the fewest nodes restart that end every partition (the smaller side; "
            + "on a tie, not the seed's)"
        case .autoheal: "autoheal keeps the side with the most client connections, then the most nodes; connections are not counted "
            + "here: the fewest nodes restart that end every partition (the smaller side; on a tie, not the seed's)"
        case .ignore: "with ignore, RabbitMQ's guide says to keep the side you trust most; proposed: the fewest nodes restart that end "
            + "every partition (on a tie, not the seed's); --keep-side-of NODE keeps another"
        } }
        let evidence = statuses.keys.sorted().map { node -> String in
            let s = statuses[node]!
            let with = records[node, default: []].sorted()
            return "\(node) runs with \(s.runningNodes.sorted().joined(separator: ", "))"
                + (with.isEmpty ? "; recorded no partition" : "; recorded a partition with \(with.joined(separator: ", "))")
        }
        return .success(Decision(keep: keep, restart: restart, rule: rule, evidence: evidence))
    }

    /// The kept nodes that still record the partition while every node runs with every other and no other
    /// node records it: a node that never saw the restarted ones go down keeps its record. Empty otherwise. Pure.
    static func keptHolders(_ view: ClusterView, keep: [String]) -> [String] {
        guard case .partitioned(let sides, _) = view.verdict, sides.isEmpty else { return [] }
        let holders = view.records.keys.sorted()
        return holders.allSatisfy(keep.contains) ? holders : []
    }

    /// Restarts `holders` one at a time (the others run meanwhile), as the partitions guide's last step
    /// clears the warning; each restart journaled like the side's.
    static func restartKept(_ holders: [String], topology: Topology, executor: Executor,
                            record: @Sendable (JournalEvent) throws(StepFailure) -> Void, progress: @Sendable (String) -> Void) async throws(StepFailure)
    {
        for spec in topology.nodes where holders.contains(spec.nodeName.description) {
            let node = RabbitNode(spec, executor: executor, step: .repairPartition)
            try record(.restartPending(node: spec.name, reason: "the partition repair restarts it to clear its record", owner: .repairPartition))
            progress("\(spec.name): still records the partition; restarting it to clear that (the others run meanwhile)")
            try await node.restartService(progress: progress)
            try record(.restartDone(node: spec.name))
        }
    }

    /// What both front ends say once the repair ended with `view`, which is whole.
    public static func repaired(_ view: ClusterView, _ topology: Topology) -> String {
        "Repaired: \(view.summary(strategy: topology.partitionHandling)) (observed from every node)."
    }

    /// What the repair would do now: every node's view, read once, and the decision from it.
    public struct Proposal: Sendable {
        public let view: ClusterView
        public let decision: Result<Decision, Refusal>
    }

    /// Reads every node's `cluster_status` and decides (read-only): what both front ends show before asking.
    /// `stopped` (Erlang node names): nodes an earlier repair stopped and did not start again; then the
    /// decision is to start them (``finishing(_:view:)``).
    public static func propose(_ topology: Topology, executor: Executor, keepSideOf: String? = nil, stopped: [String] = []) async -> Proposal {
        let view = await ClusterHealth.view(topology, executor: executor, step: .repairPartition)
        if !stopped.isEmpty { return Proposal(view: view, decision: .success(finishing(stopped, view: view))) }
        return Proposal(view: view, decision: decide(view, strategy: topology.partitionHandling, seed: topology.seed.nodeName.description,
                                                     keepSideOf: keepSideOf))
    }

    /// Carries out the restart of `confirmed`, the nodes the operator agreed to restart. Time passed while the
    /// proposal was read: every node is read and the repair decided again, and only a decision that restarts
    /// the same nodes goes on to ``restart(_:topology:executor:limit:record:progress:)``; otherwise nothing is restarted.
    public static func carryOut(restarting confirmed: Decision, topology: Topology, executor: Executor, keepSideOf: String? = nil,
                                stopped: [String] = [], record: @Sendable (JournalEvent) throws(StepFailure) -> Void = { _ in },
                                progress: @Sendable (String) -> Void) async throws(StepFailure) -> ClusterView
    {
        let now = await propose(topology, executor: executor, keepSideOf: keepSideOf, stopped: stopped)
        guard case .success(let decision) = now.decision, decision.restart == confirmed.restart, decision.startOnly == confirmed.startOnly else {
            throw StepFailure("the cluster changed since the proposal; nothing was restarted: \(now.view.summary(strategy: topology.partitionHandling))",
                              fix: "look again (R on the screen, or repair partition again) and confirm what it proposes now")
        }
        return try await restart(decision, topology: topology, executor: executor, record: record, progress: progress)
    }

    /// Stops every node to restart (its service, through the profile), then starts them one at a time, as
    /// RabbitMQ's partitions guide recovers from a split ("stop all nodes in the other partitions, then start
    /// them all up again"); then waits (polling, up to `limit`) until every node sees every other with no
    /// partition recorded. A kept node forgets its record when a node of it goes down and none of the others
    /// is still up and apart (RabbitMQ's `rabbit_node_monitor:handle_dead_rabbit/2`): restarted one after
    /// another, a side of two would leave the kept side's record standing. A kept node that still records the
    /// partition once every node runs with every other (it never saw the restarted ones go down) is restarted
    /// too, one at a time: the guide's last step ("restart all the nodes in the trusted partition to clear the
    /// warning"), only where a record is left. Each node's restart is recorded
    /// (`record`: the journal) as owed before it is stopped and as done once it runs again, so a repair cut off
    /// in between leaves its start to the next repair (``finishing(_:view:)``), not a stopped node nobody
    /// owes. A ``Decision/startOnly`` decision only starts. Throws with the last view when it does not get there.
    public static func restart(_ decision: Decision, topology: Topology, executor: Executor, limit: Duration = .seconds(120),
                               record: @Sendable (JournalEvent) throws(StepFailure) -> Void = { _ in },
                               progress: @Sendable (String) -> Void) async throws(StepFailure) -> ClusterView
    {
        let step = StepID.repairPartition
        let nodes = decision.restart.compactMap { name in topology.nodes.first { $0.nodeName.description == name } }
            .map { RabbitNode($0, executor: executor, step: step) }
        if !decision.startOnly {
            for node in nodes {
                try record(.restartPending(node: node.spec.name, reason: "the partition repair stops it", owner: step))
                progress("\(node.spec.name): stopping the node (every node of the side to restart stops before any starts again)")
                try await node.stopService()
            }
        }
        for node in nodes {
            progress(decision.startOnly ? "\(node.spec.name): starting the node (a repair that was cut off stopped it)"
                     : "\(node.spec.name): starting the node (it rejoins the kept side and takes its state)")
            try await node.startService(progress: progress)
            try record(.restartDone(node: node.spec.name))
        }
        progress("waiting until every node sees every other with no partition recorded (up to \(limit.components.seconds) s)")
        let end = ContinuousClock.now.advanced(by: limit)
        var view = await ClusterHealth.view(topology, executor: executor, step: step)
        var keptRestarted = false
        var keptOnlyReads = 0
        while ContinuousClock.now < end {
            if case .healthy = view.verdict { return view }
            // Finishing a cut-off repair ends with the nodes back: a partition that is left is the next repair's.
            if decision.startOnly, case .partitioned = view.verdict { break }
            // Seen in two reads in a row (a record the node is about to forget is not restarted for); once: a
            // record that comes back is reported.
            let holders = keptHolders(view, keep: decision.keep)
            keptOnlyReads = holders.isEmpty ? 0 : keptOnlyReads + 1
            if !keptRestarted, keptOnlyReads >= 2 {
                keptRestarted = true
                try await restartKept(holders, topology: topology, executor: executor, record: record, progress: progress)
            }
            try? await Task.sleep(for: .seconds(1))
            view = await ClusterHealth.view(topology, executor: executor, step: step)
        }
        if case .healthy = view.verdict { return view }
        if decision.startOnly {
            throw StepFailure("started \(decision.restart.joined(separator: ", ")), which a repair that was cut off had stopped; not repaired: "
                              + view.summary(strategy: topology.partitionHandling),
                              fix: "run repair partition again (R on the screen): it proposes the side to restart now")
        }
        throw StepFailure("not repaired: \(view.summary(strategy: topology.partitionHandling))",
                          fix: "check the network between the nodes; restart the nodes of the side to discard by hand (stop them all, then start them); "
                              + "if only kept nodes still record the partition, restart those too, as RabbitMQ's partitions guide does to clear the warning")
    }
}

extension StepID {
    /// What the partition repair's commands are logged under (`rabbit-wizard log --step repair-partition`).
    public static let repairPartition: StepID = "repair-partition"
}
