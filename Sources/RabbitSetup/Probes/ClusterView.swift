import Executor
import Workflow

/// The cluster as every node sees it, and what that adds up to.
public struct ClusterView: Sendable, Equatable {
    /// One node's answer: its `cluster_status`, or why it could not be read.
    public enum Seen: Sendable, Equatable {
        case status(ClusterStatus)
        case unreadable(String)
    }

    public enum Verdict: Sendable, Equatable {
        /// Every node runs and every node sees all of them.
        case healthy(running: Int)
        /// Groups of nodes that each run without the others (split brain), or a partition RabbitMQ recorded.
        case partitioned(sides: [[String]], recorded: Bool)
        /// Groups that run apart and never counted each other as members: separate clusters (before the
        /// join, or a node not joined yet), not a partition.
        case separate(clusters: [[String]])
        /// Nodes missing from some node's view (stopped, starting, or cut off) or not readable at all: from
        /// here a stopped node and a cut-off one look the same.
        case degraded(missing: [String: [String]], unreadable: [String: String])
    }

    /// Node name (`rabbit@ServerA`) -> what it answered, for every node of the topology.
    public var seen: [String: Seen]

    public init(seen: [String: Seen]) { self.seen = seen }

    public var verdict: Verdict {
        let expected = Set(seen.keys)
        var running: [String: Set<String>] = [:]
        var members: [String: Set<String>] = [:]
        var unreadable: [String: String] = [:]
        var recorded = false
        for (node, answer) in seen {
            switch answer {
            case .status(let s):
                running[node] = Set(s.runningNodes).intersection(expected)
                members[node] = Set(s.runningNodes + s.diskNodes).intersection(expected)
                recorded = recorded || s.partitions.values.contains { !$0.isEmpty }
            case .unreadable(let why): unreadable[node] = why
            }
        }
        // Two nodes that each run, and neither sees the other: each side carries on alone.
        let alive = running.filter { $0.value.contains($0.key) }
        let sides = Set(alive.values).sorted { $0.count != $1.count ? $0.count > $1.count : $0.sorted().lexicographicallyPrecedes($1.sorted()) }
        let split = sides.count > 1 && sides.indices.allSatisfy { i in sides[(i + 1)...].allSatisfy { sides[i].isDisjoint(with: $0) } }
        // Apart is a partition only between members of one cluster: some node counts a node of another side
        // as a member. Nodes that never joined each other are separate clusters.
        if split && !recorded {
            let together = sides.contains { side in side.contains { node in !(members[node] ?? []).isSubset(of: side) } }
            if !together { return .separate(clusters: sides.map { $0.sorted() }) }
        }
        if split || recorded {
            return .partitioned(sides: split ? sides.map { $0.sorted() } : [], recorded: recorded)
        }
        let missing = running.compactMapValues { view -> [String]? in
            let gone = expected.subtracting(view)
            return gone.isEmpty ? nil : gone.sorted()
        }
        if missing.isEmpty && unreadable.isEmpty { return .healthy(running: expected.count) }
        return .degraded(missing: missing, unreadable: unreadable)
    }

    /// Each node's own record of the nodes it was partitioned from, merged from every answer. A node's
    /// `cluster_status` carries the records of every node it runs with (RabbitMQ asks each running node for
    /// its list), keyed by the node that recorded it: a view holds other nodes' records besides its own, and
    /// a node's record is missing from the views of nodes that do not run with it.
    var records: [String: Set<String>] {
        var merged: [String: Set<String>] = [:]
        for case .status(let s) in seen.values {
            for (node, with) in s.partitions where !with.isEmpty { merged[node, default: []].formUnion(with) }
        }
        return merged
    }

    /// "rabbit@ServerA apart from rabbit@ServerC" for each node that recorded a partition, and with whom.
    var recordedPairs: String {
        records.sorted { $0.key < $1.key }.map { node, with in "\(node) apart from \(with.sorted().joined(separator: ", "))" }
            .joined(separator: "; ")
    }

    /// One line for people: what the cluster looks like and, when it is not healthy, what it means.
    public func summary(strategy: PartitionHandling) -> String {
        switch verdict {
        case .healthy(let n):
            return "\(n) of \(n) nodes running, every node sees all of them, no partition"
        case .partitioned(let sides, let recorded):
            let split = sides.map { $0.joined(separator: ", ") }.joined(separator: " | ")
            var heal = switch strategy {
            case .autoheal: "autoheal restarts the losing side once the nodes reach each other again"
            case .pauseMinority: "pause_minority has paused, or will pause, the minority side"
            case .ignore: "nothing repairs it by itself (partition handling is ignore): restart the side to discard"
            }
            if recorded && split.isEmpty && strategy != .ignore {
                heal += "; if it stays recorded, restart the nodes of the side to discard (rabbit-wizard repair partition)"
            }
            return "NETWORK PARTITION: " + (split.isEmpty ? "" : "\(split) each run without the other side; ")
                + (recorded ? "RabbitMQ recorded it (\(recordedPairs)); " : "") + heal
        case .separate(let clusters):
            return "not one cluster yet: " + clusters.map { $0.joined(separator: ", ") }.joined(separator: " | ")
                + " run as separate clusters (\(StepID.clusterJoin) makes them one)"
        case .degraded(let missing, let unreadable):
            var parts: [String] = []
            let byMissing = Dictionary(grouping: missing, by: \.value).sorted { $0.key.lexicographicallyPrecedes($1.key) }
            for (gone, seers) in byMissing {
                parts.append("\(gone.joined(separator: ", ")) not running as seen from \(seers.map(\.key).sorted().joined(separator: ", "))")
            }
            for (node, why) in unreadable.sorted(by: { $0.key < $1.key }) { parts.append("\(node) cannot be read (\(why))") }
            return "DEGRADED: " + parts.joined(separator: "; ")
                + (unreadable.isEmpty ? "" : " (from here a stopped node and a cut-off one look the same)")
        }
    }
}

/// The cluster as every node sees it: all topology nodes running, no partitions.
public enum ClusterHealth {
    /// Reads `cluster_status` from every node at once; a node that cannot be read is part of the answer.
    public static func view(_ topology: Topology, executor: Executor, step: StepID? = nil) async -> ClusterView {
        let answers = try? await forEachNode(topology.nodes) { spec throws(StepFailure) -> (String, ClusterView.Seen) in
            do throws(StepFailure) {
                return (spec.nodeName.description, .status(try await RabbitNode(spec, executor: executor, step: step).clusterStatus()))
            } catch {
                return (spec.nodeName.description, .unreadable(error.cause))
            }
        }
        return ClusterView(seen: Dictionary(answers ?? [], uniquingKeysWith: { a, _ in a }))
    }

    /// Throws unless the cluster is healthy: a node missing from a view is retryable (it may still be
    /// starting), a partition is not.
    static func require(_ topology: Topology, _ context: StepContext, step: StepID, fix: String) async throws(StepFailure) {
        let view = await view(topology, executor: context.executor, step: step)
        switch view.verdict {
        case .healthy: return
        case .partitioned:
            throw StepFailure(view.summary(strategy: topology.partitionHandling),
                              fix: "check the network between the sides; see the RabbitMQ partitions guide")
        case .separate:
            throw StepFailure(view.summary(strategy: topology.partitionHandling), fix: "run \(StepID.clusterJoin)")
        case .degraded(let missing, let unreadable):
            let node = (missing.keys.sorted().first ?? unreadable.keys.sorted().first).flatMap { name in topology.nodes.first { $0.nodeName.description == name }?.name }
            throw StepFailure(view.summary(strategy: topology.partitionHandling), fix: fix, node: node, retryable: true)
        }
    }
}
