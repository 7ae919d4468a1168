import Workflow

/// The cluster as every node sees it: all topology nodes running, no partitions.
enum ClusterHealth {
    /// Reads `cluster_status` from every node at once; throws with the first node that sees a node not
    /// running (retryable: it may still be starting) or a partition.
    static func require(_ topology: Topology, _ context: StepContext, step: StepID, fix: String) async throws(StepFailure) {
        let expected = Set(topology.nodes.map(\.nodeName.description))
        _ = try await forEachNode(topology.nodes) { spec throws(StepFailure) in
            let status = try await RabbitNode(spec, executor: context.executor, step: step).clusterStatus()
            let missing = expected.subtracting(status.runningNodes)
            guard missing.isEmpty else {
                throw StepFailure("\(spec.nodeName) does not see \(missing.sorted().joined(separator: ", ")) running", fix: fix,
                                  node: spec.name, retryable: true)
            }
            guard status.partitions.values.allSatisfy(\.isEmpty) else {
                throw StepFailure("\(spec.nodeName) reports a network partition: \(status.partitions)",
                                  fix: "see the RabbitMQ partitions guide; autoheal repairs it once the network is back", node: spec.name)
            }
        }
    }
}
