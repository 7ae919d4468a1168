import ArgumentParser
import Executor
import Foundation
import RabbitSetup
import Workflow

/// Which steps a run has, from the configuration.
enum StepCatalog {
    /// Test-only: a JSON list of files to manage, `[{"id": "...", "path": "...", "content": "...",
    /// "mode": "644"}]`, standing in for the topology so the engine can be tested on real files.
    static let testStepsVariable = "RABBIT_WIZARD_TEST_STEPS"

    struct TestFile: Decodable {
        var id: String
        var path: String
        var content: String
        var mode: String?
    }

    /// The product's steps for a topology, in their fixed order.
    static func steps(for topology: Topology) -> [any Step] {
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

    /// The steps, the topology's own state folder (used when --state-dir is not given) and the topology.
    static func steps(config: String?) throws -> (steps: [any Step], stateDir: String?, topology: Topology?) {
        if let file = ProcessInfo.processInfo.environment[testStepsVariable] {
            guard let data = FileManager.default.contents(atPath: file),
                let files = try? JSONDecoder().decode([TestFile].self, from: data)
            else { throw ValidationError("\(testStepsVariable)=\(file): cannot read the test step list") }
            return (files.map { FileContentStep(id: StepID($0.id), path: $0.path, content: Array($0.content.utf8), mode: $0.mode ?? "644") }, nil, nil)
        }
        guard let config else {
            throw ValidationError("Missing --config FILE: the topology file that names your RabbitMQ servers "
                                  + "(see Resources/topology.example.yml, or 'rabbit-wizard sandbox up' to make one).")
        }
        do {
            let topology = try TopologyParser.load(path: config)
            return (steps(for: topology), topology.stateDir, topology)
        } catch {
            throw ErrorPresenter.fail(error, code: .badInput)
        }
    }
}
