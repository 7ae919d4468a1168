import Workflow

/// The product's steps for a topology, in their fixed order: what both front ends run and what the
/// golden command plans in the tests pin.
public enum SetupSteps {
    public static func all(for topology: Topology) -> [any Step] {
        var steps: [any Step] = [
            InstallationChecksStep(topology: topology), PartitionHandlingStep(topology: topology),
            ErlangCookieStep(topology: topology), ClusterJoinStep(topology: topology),
        ]
        if let lb = topology.loadBalancer {
            steps.append(LoadBalancerStep(topology: topology, loadBalancer: lb))
            steps.append(FailoverDrillStep(topology: topology, loadBalancer: lb))
            steps.append(OutSystemsHandoffStep(topology: topology, loadBalancer: lb))
        }
        return steps
    }
}
