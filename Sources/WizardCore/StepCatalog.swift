import Executor
import Foundation
import RabbitSetup
import Workflow

/// Which steps a run has, from the configuration.
public enum StepCatalog {
    /// The product's steps for a topology, in their fixed order.
    public static func steps(for topology: Topology) -> [any Step] { SetupSteps.all(for: topology) }

    /// The steps, the topology's own state folder (used when --state-dir is not given) and the topology.
    public static func steps(config: String?) throws -> (steps: [any Step], stateDir: String?, topology: Topology?) {
        if let files = try TestHooks.fileSteps() { return (files, nil, nil) }
        guard let config else {
            throw UsageError("Missing --config FILE: the topology file that names your RabbitMQ servers "
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

/// A command given wrongly (a missing option, a test hook's unreadable file): the executable shows it with
/// the command's usage, as it does its own argument errors.
public struct UsageError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}
