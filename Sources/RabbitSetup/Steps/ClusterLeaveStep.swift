import Executor
import Foundation
import Workflow

/// `cluster-leave`: members the topology marks `leave: true` leave the cluster. It runs after
/// `load-balancer`, which has already taken them out of rotation (their entries are not in its
/// configuration any more). As RabbitMQ's clustering guide removes a node: on the leaving node, when it
/// answers, `stop_app`, `reset`, `start_app` (it tells the others, forgets the cluster and its own data,
/// and runs on as a standalone node); when it does not answer, a remaining member runs
/// `forget_cluster_node` (RabbitMQ refuses that while the node runs). Verified from every remaining node:
/// none lists a leaving node, all running; a left node that answers is standalone.
public struct ClusterLeaveStep: Step {
    public let id: StepID = .clusterLeave
    public let topology: Topology
    public var title: String { "take \(topology.leaving.map(\.name).joined(separator: ", ")) out of the cluster" }
    public var rollbackScope: RollbackScope {
        .partial("the left node's own data: it joins again empty and takes the cluster's definitions; messages of queues that lived only on it "
                 + "are gone; the load balancer keeps it out of rotation until \(StepID.loadBalancer) is rolled back too or the node is listed again")
    }

    public init(topology: Topology) { self.topology = topology }

    /// How a node leaves.
    enum Way: String, Codable, Equatable {
        /// It answers: `stop_app`, `reset`, `start_app` on it.
        case reset
        /// It does not answer: `forget_cluster_node` from the seed.
        case forget
    }

    struct Saved: Codable {
        /// Leaving nodes that were members when the step began (rollback joins them again).
        var members: [String]
    }

    func node(_ spec: NodeSpec, _ context: StepContext) -> RabbitNode { RabbitNode(spec, executor: context.executor, step: id) }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] { [] }

    /// Leaving nodes the seed still lists, and how each can leave.
    func pending(_ context: StepContext) async throws(StepFailure) -> [(spec: NodeSpec, way: Way, why: String?)] {
        let members = try await node(topology.seed, context).clusterStatus().allNodes
        var out: [(NodeSpec, Way, String?)] = []
        for spec in topology.leaving where members.contains(spec.nodeName.description) {
            do throws(StepFailure) {
                _ = try await node(spec, context).clusterFacts()
                out.append((spec, .reset, nil))
            } catch {
                out.append((spec, .forget, error.cause))
            }
        }
        return out
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        let seed = topology.seed.nodeName
        let changes = try await pending(context).map { spec, way, why throws(StepFailure) in
            let detail: ChangeDetail
            do { detail = try ChangeDetail(way) } catch { throw StepFailure("cannot record the plan of \(spec.name): \(error)") }
            return switch way {
            case .reset:
                Change(.run, target: "\(spec.name): leave the cluster", node: spec.name,
                       summary: "stop_app, reset, start_app on \(spec.nodeName): it leaves the cluster and runs on as a standalone node",
                       destructive: "the data on \(spec.nodeName): its copy of the cluster's definitions and the messages of queues that live on it",
                       detail: detail)
            case .forget:
                Change(.run, target: "\(spec.name): forgotten by the cluster", node: spec.name,
                       summary: "\(spec.nodeName) does not answer (\(why ?? "no answer")): forget_cluster_node on \(seed); "
                           + "reset it (stop_app, reset) before it runs again, or it will try to rejoin",
                       destructive: "the cluster's knowledge of \(spec.nodeName): messages of queues that lived on it are gone",
                       detail: detail)
            }
        }
        let staying = topology.nodes.map { "\($0.name) (\($0.nodeName))" }.joined(separator: ", ")
        return Plan(step: id, changes: changes, leftAlone: changes.isEmpty ? nil : ["\(staying): stay in the cluster; this step does not restart them"])
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        try UndoCoding.encode(Saved(members: planned(plan).map(\.spec.name)))
    }

    func planned(_ plan: Plan) -> [(spec: NodeSpec, way: Way)] {
        topology.leaving.compactMap { spec in
            guard let c = plan.changes.first(where: { $0.node == spec.name }), let way = try? c.detail?.decode(Way.self) else { return nil }
            return (spec, way)
        }
    }

    /// How long a leaving node must get no client through an external load balancer: longer than nginx's
    /// default `fail_timeout` (10 s) and the every-few-seconds health checks the plan asks for, after which
    /// a member marked down but still listed gets clients again.
    static let externalWindow: Duration = .seconds(15)

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let seed = node(topology.seed, context)
        // A node leaves only once the load balancer no longer sends clients to it. A whole apply runs
        // load-balancer first; `--only cluster-leave` on its own must not reset a node still in rotation.
        if let lb = topology.loadBalancer, let kind = lb.kind,
           !(try await LoadBalancerStep(topology: topology, loadBalancer: lb, kind: kind).plan(context).isEmpty) {
            throw StepFailure("the load balancer's configuration is not yet what the topology wants: it may still send clients to "
                              + planned(plan).map(\.spec.name).joined(separator: ", ") + "; nothing was changed",
                              fix: "apply \(StepID.loadBalancer) first (a whole apply runs it before cluster-leave), then retry cluster-leave", retryable: true)
        }
        if let lb = topology.loadBalancer, lb.isExternal {
            // The site's own load balancer is not the wizard's to change: it must already have let go of
            // the leaving nodes, as seen from their own connection lists, and for long enough that a member
            // it had only marked down for a while (after the drill, say) would have had clients again.
            let leaving = planned(plan).map(\.spec)
            context.progress("watching for \(Self.externalWindow.components.seconds) s whether the external load balancer still sends clients to "
                             + leaving.map(\.name).joined(separator: ", "))
            let seen = await LoadBalancerReach.observe(host: lb.clientHost, port: lb.listenPort, nodes: topology.nodes + leaving,
                                                       executor: context.executor, step: id, rounds: 3, window: Self.externalWindow) { seen in
                leaving.contains { (seen.perNode[$0.name] ?? 0) > 0 }
            }
            let reached = leaving.filter { (seen.perNode[$0.name] ?? 0) > 0 }
            if !reached.isEmpty {
                throw StepFailure("the external load balancer at \(lb.clientHost):\(lb.listenPort) still sends clients to "
                                  + reached.map(\.name).joined(separator: ", ") + " (held handshakes per node: \(seen.words(topology.nodes + leaving))); nothing was changed",
                                  fix: "take \(reached.map(\.name).joined(separator: ", ")) out of its members, then retry cluster-leave", retryable: true)
            }
        }
        for (spec, way) in planned(plan) {
            switch way {
            case .reset:
                let leaver = node(spec, context)
                context.progress("\(spec.name): stop_app, reset, start_app (leaving the cluster)")
                try await leaver.ctlChecked(["stop_app"], doing: "stop the RabbitMQ application", mutates: true)
                try await leaver.ctlChecked(["reset"], doing: "reset the node (leave the cluster)", timeout: .seconds(120), mutates: true)
                try await leaver.ctlChecked(["start_app"], doing: "start the RabbitMQ application", timeout: .seconds(180), mutates: true)
            case .forget:
                context.progress("\(topology.seed.name): forget_cluster_node \(spec.nodeName)")
                try await seed.ctlChecked(["forget_cluster_node", spec.nodeName.description], doing: "forget \(spec.nodeName)",
                                          timeout: .seconds(120), mutates: true)
            }
        }
        return prepared
    }

    /// Every remaining node runs and lists no leaving node; a left node that answers is alone.
    public func verify(_ context: StepContext) async throws(StepFailure) {
        let leaving = Set(topology.leaving.map(\.nodeName.description))
        let topology = self.topology
        let step = id
        let views = try await forEachNode(topology.nodes) { spec throws(StepFailure) -> (String, [String]) in
            (spec.name, try await RabbitNode(spec, executor: context.executor, step: step).clusterStatus().allNodes)
        }
        for (name, members) in views.sorted(by: { $0.0 < $1.0 }) {
            let still = members.filter(leaving.contains)
            if !still.isEmpty {
                throw StepFailure("\(name) still lists \(still.joined(separator: ", ")) as a member", fix: "retry cluster-leave", node: name, retryable: true)
            }
        }
        try await ClusterHealth.require(topology, context, step: id, fix: "check the remaining nodes are up; then retry cluster-leave")
        for spec in topology.leaving {
            guard let alone = try? await node(spec, context).clusterStatus().allNodes else { continue }
            if alone != [spec.nodeName.description] {
                throw StepFailure("\(spec.nodeName) still lists \(alone.joined(separator: ", "))", fix: "retry cluster-leave", node: spec.name, retryable: true)
            }
        }
    }

    /// Each node this step took out joins the seed again (`stop_app`, `join_cluster`, `start_app`). A node
    /// that was only forgotten (it did not answer) cannot be brought back from here: that is said, with the way.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        let saved = try UndoCoding.decode(Saved.self, undo)
        let seedName = topology.seed.nodeName
        for spec in topology.leaving where saved.members.contains(spec.name) {
            let leaver = node(spec, context)
            let members: [String]
            do { members = try await leaver.clusterStatus().allNodes } catch {
                throw StepFailure("\(spec.nodeName) does not answer, so it cannot join \(seedName) again: \(error.cause)",
                                  fix: "start it, reset it (stop_app, reset, start_app), remove leave: true from its entry and run apply (\(StepID.clusterJoin))",
                                  node: spec.name)
            }
            if members.contains(seedName.description) { continue }
            context.progress("\(spec.name): stop_app, join_cluster \(seedName), start_app (joining again)")
            try await leaver.join(seedName)
        }
    }
}

extension StepID {
    /// ``ClusterLeaveStep``'s id: the one place it is spelled.
    public static let clusterLeave: StepID = "cluster-leave"
}
