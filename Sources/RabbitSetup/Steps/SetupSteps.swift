import Workflow

/// The product's steps for a topology, in their fixed order: what both front ends run and what the
/// golden command plans in the tests pin.
public enum SetupSteps {
    public static func all(for topology: Topology) -> [any Step] {
        var steps: [any Step] = [
            InstallationChecksStep(topology: topology), PartitionHandlingStep(topology: topology),
            ErlangCookieStep(topology: topology), ClusterJoinStep(topology: topology),
        ]
        // A shrink: after the load balancer has taken the leaving nodes out of rotation.
        let leave: [any Step] = topology.leaving.isEmpty ? [] : [ClusterLeaveStep(topology: topology)]
        if let lb = topology.loadBalancer {
            steps.append(LoadBalancerStep.forTopology(topology, lb))
            if lb.isPair, let kind = lb.kind { steps.append(FloatingAddressStep(topology: topology, loadBalancer: lb, kind: kind)) }
            steps += leave
            steps.append(FailoverDrillStep(topology: topology, loadBalancer: lb))
            steps.append(OutSystemsHandoffStep(topology: topology, loadBalancer: lb))
        } else {
            steps += leave
        }
        return steps
    }
}
