import Executor
import Foundation
import Workflow

/// `cluster-join`: each other node joins the seed, one at a time: definitions exported first (0600),
/// `stop_app`, `join_cluster SEED`, `start_app`. "Already a member" is success. Verified from every node:
/// all running, no partitions. Joining wipes the joiner's own data; the installation checks stop a node
/// that holds data or belongs to another cluster unless that finding is waived by name.
public struct ClusterJoinStep: Step {
    public let id: StepID = .clusterJoin
    public let topology: Topology
    public var title: String { "join every node to \(topology.seed.nodeName)" }
    public var rollbackScope: RollbackScope {
        .partial("messages in queues of the joined nodes: their definitions (vhosts, users, queues, policies) are re-imported, their messages are not")
    }

    public init(topology: Topology) { self.topology = topology }

    struct Saved: Codable {
        /// Joiner name -> definitions export on its host.
        var definitions: [String: String]
        /// Joiners that were members before this step: rollback leaves them alone.
        var alreadyMembers: [String]
    }

    func node(_ spec: NodeSpec, _ context: StepContext) -> RabbitNode { RabbitNode(spec, executor: context.executor, step: id) }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] { [] }

    /// What a joiner still needs.
    enum Need: String, Equatable, Codable {
        /// Not a member: export, stop_app, join_cluster, start_app.
        case join
        /// A member whose application is stopped (a join whose end was cut off, e.g. its ssh connection
        /// dropped before start_app): start_app only.
        case start
    }

    /// Joiners that are not yet members, seen from both sides, or members left stopped. A half-join (one
    /// side lists the other, the other does not) is an error with its repair, never a blind re-join. The
    /// joiner is read with `eval`, which answers while its application is stopped (`cluster_status` does not).
    func pending(_ context: StepContext) async throws(StepFailure) -> [(spec: NodeSpec, need: Need)] {
        let seedName = topology.seed.nodeName.description
        let seedStatus = try await node(topology.seed, context).clusterStatus()
        let topology = self.topology
        return try await forEachNode(topology.joiners) { spec throws(StepFailure) -> (spec: NodeSpec, need: Need)? in
            let facts = try await RabbitNode(spec, executor: context.executor, step: .clusterJoin).clusterFacts()
            let seedSees = seedStatus.allNodes.contains(spec.nodeName.description)
            let joinerSees = facts.clusterNodes.contains(seedName)
            if seedSees && joinerSees { return facts.appRunning ? nil : (spec, .start) }
            if seedSees != joinerSees {
                throw StepFailure("half-join: \(seedSees ? "the seed lists \(spec.nodeName) but it does not list the seed" : "\(spec.nodeName) lists the seed but the seed does not list it")",
                                  fix: "repair by hand: rabbitmqctl -n \(seedName) forget_cluster_node \(spec.nodeName), then reset \(spec.nodeName) "
                                      + "(stop_app, reset, start_app); then retry cluster-join", node: spec.name)
            }
            return (spec, .join)
        }.compactMap { $0 }
    }

    /// The change's target, for people; `apply` reads the need from the change's detail.
    func target(_ spec: NodeSpec, _ need: Need) -> String {
        switch need {
        case .join: "\(spec.name): join \(topology.seed.nodeName)"
        case .start: "\(spec.name): start_app"
        }
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        let pending = try await pending(context)
        let changes = try pending.map { spec, need throws(StepFailure) in
            let detail: ChangeDetail
            do { detail = try ChangeDetail(need) } catch { throw StepFailure("cannot record the plan of \(spec.name): \(error)") }
            return switch need {
            case .join:
                Change(.run, target: target(spec, .join), node: spec.name,
                       summary: "export definitions, stop_app, join_cluster \(topology.seed.nodeName), start_app",
                       destructive: "the own data of \(spec.nodeName) (vhosts, users, queues and their messages); definitions are exported first",
                       detail: detail)
            case .start:
                Change(.run, target: target(spec, .start), node: spec.name,
                       summary: "\(spec.nodeName) is a member of the cluster but its RabbitMQ application is stopped (a join cut off before start_app)",
                       detail: detail)
            }
        }
        // A node joins a formed cluster (the cluster grows): say that the members are not touched.
        let joining = Set(pending.map(\.spec.name))
        let members = [topology.seed] + topology.joiners.filter { !joining.contains($0.name) }
        let leftAlone = changes.isEmpty || members.count < 2 ? nil
            : ["\(members.map { "\($0.name) (\($0.nodeName))" }.joined(separator: ", ")): already members of the cluster; this step does not touch them"]
        return Plan(step: id, changes: changes, leftAlone: leftAlone)
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        let stamp = Int(Date().timeIntervalSince1970)
        var definitions: [String: String] = [:]
        for spec in topology.joiners {
            let profile = node(spec, context).profile
            definitions[spec.name] = profile.path(profile.backupDir, "rabbit-wizard-definitions-\(spec.name)-\(stamp).json")
        }
        let pending = Set(planned(plan).map(\.name))
        return try UndoCoding.encode(Saved(definitions: definitions, alreadyMembers: topology.joiners.map(\.name).filter { !pending.contains($0) }))
    }

    /// The joiners the plan joins (or only starts), in topology order. `apply` acts on the plan it was
    /// given (just made from what the servers showed); a node that became a member meanwhile is still
    /// fine: "already a member" counts as success.
    func planned(_ plan: Plan, _ need: Need? = nil) -> [NodeSpec] {
        let needs = plan.changes.compactMap { c -> (node: String, need: Need)? in
            guard let node = c.node, let n = try? c.detail?.decode(Need.self) else { return nil }
            return (node, n)
        }
        return topology.joiners.filter { spec in needs.contains { $0.node == spec.name && (need == nil || $0.need == need) } }
    }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try UndoCoding.decode(Saved.self, prepared)
        let seedName = topology.seed.nodeName
        let joiners = planned(plan, .join)
        let step = id
        for spec in planned(plan, .start) {
            context.progress("\(spec.name): start_app (it is a member; its application was left stopped)")
            try await node(spec, context).ctlChecked(["start_app"], doing: "start the RabbitMQ application", timeout: .seconds(180), mutates: true)
        }
        // Exports first, all at once (each node's own data, nothing shared); then the joins one by one.
        _ = try await forEachNode(joiners) { spec throws(StepFailure) in
            guard let file = saved.definitions[spec.name] else { return }
            let joiner = RabbitNode(spec, executor: context.executor, step: step)
            context.progress("\(spec.name): exporting definitions to \(file)")
            let r = await joiner.ctl(["export_definitions", file], privateFiles: true, mutates: true)
            guard r.succeeded else { throw RabbitCLIError.failure(r, doing: "export its definitions", node: spec.nodeName, on: spec) }
        }
        for spec in joiners {
            let joiner = node(spec, context)
            do throws(StepFailure) {
                context.progress("\(spec.name): stop_app, join_cluster \(seedName), start_app")
                // verify then reads cluster_status from every node.
                try await joiner.join(seedName)
            } catch {
                var failure = error
                failure.partialUndo = try? UndoCoding.encode(saved)
                throw failure
            }
        }
        return prepared
    }

    public func verify(_ context: StepContext) async throws(StepFailure) {
        try await ClusterHealth.require(topology, context, step: id, fix: "check those nodes are up; then retry cluster-join")
    }

    /// Each node this step joined leaves, as observed now (so it also undoes a join whose end was never
    /// journaled): `stop_app`, `reset`, `start_app`, its definitions re-imported; the seed forgets it if it
    /// still lists it. Nodes that were members before the step are left alone.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        let saved = try UndoCoding.decode(Saved.self, undo)
        let seed = node(topology.seed, context)
        for spec in topology.joiners.reversed() where !saved.alreadyMembers.contains(spec.name) {
            let joiner = node(spec, context)
            let status = try await joiner.clusterStatus()
            if status.allNodes.count > 1 || !status.runningNodes.contains(spec.nodeName.description) {
                context.progress("\(spec.name): stop_app, reset, start_app")
                try await joiner.ctlChecked(["stop_app"], doing: "stop the RabbitMQ application", mutates: true)
                try await joiner.ctlChecked(["reset"], doing: "reset the node", timeout: .seconds(120), mutates: true)
                try await joiner.ctlChecked(["start_app"], doing: "start the RabbitMQ application", timeout: .seconds(180), mutates: true)
                try await joiner.waitReady(progress: context.progress)
                if let file = saved.definitions[spec.name], try await joiner.host.observe(file).kind == .regular {
                    try await joiner.ctlChecked(["import_definitions", file], doing: "re-import its definitions", mutates: true)
                }
            }
            if try await seed.clusterStatus().allNodes.contains(spec.nodeName.description) {
                try await seed.ctlChecked(["forget_cluster_node", spec.nodeName.description], doing: "forget \(spec.nodeName)", mutates: true)
            }
        }
    }
}

extension StepID {
    /// ``ClusterJoinStep``'s id: the one place it is spelled.
    public static let clusterJoin: StepID = "cluster-join"
}
