import Executor
import Foundation
import Workflow

/// The guided repair of a network partition that has not healed by itself (`ignore`, or an autoheal that
/// loops, as RabbitMQ 3.10 can): which side to restart, by the documented rule for the configured
/// strategy, named with the nodes' own views as evidence; then the restart of that side's RabbitMQ
/// application (`stop_app`, `start_app`), and the observation that every node sees every other with no
/// partition recorded.
public enum PartitionRepair {
    /// What the repair would do, and why.
    public struct Decision: Sendable, Equatable {
        /// The side kept running, and the side whose RabbitMQ application restarts (it takes the kept
        /// side's data: what changed only on it since the split is lost).
        public var keep: [String]
        public var restart: [String]
        /// The rule that chose, in words.
        public var rule: String
        /// Each node's own view: "rabbit@A runs with rabbit@A, rabbit@B; recorded a partition with rabbit@C".
        public var evidence: [String]
    }

    public enum Refusal: Error, Sendable, Equatable {
        /// Nothing to repair: the cluster's summary says what it is.
        case nothingToRepair(String)
        /// The repair cannot be decided from here (a node cannot be read): what to do first.
        case cannotDecide(String, fix: String)
    }

    /// The sides as the nodes see them: two nodes are on one side when each runs with the other and neither
    /// recorded a partition with the other. Pure.
    static func sides(_ statuses: [String: ClusterStatus]) -> [[String]] {
        let nodes = statuses.keys.sorted()
        func apart(_ a: String, _ b: String) -> Bool {
            let sa = statuses[a]!, sb = statuses[b]!
            let recorded = sa.partitions.values.contains { $0.contains(b) } || sb.partitions.values.contains { $0.contains(a) }
            return recorded || !sa.runningNodes.contains(b) || !sb.runningNodes.contains(a)
        }
        var side: [String: Int] = [:]
        var groups: [[String]] = []
        for n in nodes where side[n] == nil {
            var group = [n]
            side[n] = groups.count
            var i = 0
            while i < group.count {
                for m in nodes where side[m] == nil && !apart(group[i], m) {
                    side[m] = groups.count
                    group.append(m)
                }
                i += 1
            }
            groups.append(group.sorted())
        }
        return groups
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
        let groups = sides(statuses)
        guard groups.count > 1 else {
            return .failure(.nothingToRepair("every node runs with every other; RabbitMQ's records: \(view.summary(strategy: strategy))"))
        }
        // The kept side: the most nodes; on a tie, the seed's side (pause_minority keeps the majority; autoheal
        // keeps the side with the most client connections, then the most nodes; with ignore the operator
        // chooses, and this is the proposal).
        if let chosen, !statuses.keys.contains(chosen) {
            return .failure(.cannotDecide("\(chosen) is not a node of this cluster", fix: "give one of: \(statuses.keys.sorted().joined(separator: ", "))"))
        }
        let ranked = groups.sorted { a, b in
            if let chosen, a.contains(chosen) != b.contains(chosen) { return a.contains(chosen) }
            return a.count != b.count ? a.count > b.count : a.contains(seed) && !b.contains(seed)
        }
        let keep = ranked[0]
        let restart = ranked.dropFirst().flatMap { $0 }.sorted()
        let rule: String = if let chosen { "you chose to keep the side of \(chosen)" } else { switch strategy {
        case .pauseMinority: "pause_minority keeps the majority: the side with more nodes stays (on a tie, the seed's)"
        case .autoheal: "autoheal keeps the side with the most client connections, then the most nodes; connections are not counted "
            + "here: the side with more nodes stays (on a tie, the seed's)"
        case .ignore: "with ignore, RabbitMQ's guide says to keep the side you trust most; proposed: the side with more nodes "
            + "(on a tie, the seed's); --keep-side-of NODE keeps another"
        } }
        let evidence = statuses.keys.sorted().map { node -> String in
            let s = statuses[node]!
            let with = Set(s.partitions.values.flatMap { $0 }).sorted()
            return "\(node) runs with \(s.runningNodes.sorted().joined(separator: ", "))"
                + (with.isEmpty ? "; recorded no partition" : "; recorded a partition with \(with.joined(separator: ", "))")
        }
        return .success(Decision(keep: keep, restart: restart, rule: rule, evidence: evidence))
    }

    /// Restarts the RabbitMQ application of each node to restart, one at a time, then waits (polling, up to
    /// `limit`) until every node sees every other with no partition recorded. Throws with the last view when
    /// it does not get there.
    public static func restart(_ decision: Decision, topology: Topology, executor: Executor, limit: Duration = .seconds(120),
                               progress: @Sendable (String) -> Void) async throws(StepFailure) -> ClusterView
    {
        let step = StepID("repair-partition")
        for name in decision.restart {
            guard let spec = topology.nodes.first(where: { $0.nodeName.description == name }) else { continue }
            let node = RabbitNode(spec, executor: executor, step: step)
            progress("\(spec.name): stop_app, start_app (it rejoins the kept side and takes its data)")
            try await node.ctlChecked(["stop_app"], doing: "stop the RabbitMQ application", mutates: true)
            try await node.ctlChecked(["start_app"], doing: "start the RabbitMQ application", timeout: .seconds(180), mutates: true)
        }
        progress("waiting until every node sees every other with no partition recorded (up to \(limit.components.seconds) s)")
        let end = ContinuousClock.now.advanced(by: limit)
        var view = await ClusterHealth.view(topology, executor: executor, step: step)
        while ContinuousClock.now < end {
            if case .healthy = view.verdict { return view }
            try? await Task.sleep(for: .seconds(1))
            view = await ClusterHealth.view(topology, executor: executor, step: step)
        }
        if case .healthy = view.verdict { return view }
        throw StepFailure("not repaired: \(view.summary(strategy: topology.partitionHandling))",
                          fix: "check the network between the nodes; restart the remaining side by hand (rabbitmqctl stop_app, start_app)")
    }
}
