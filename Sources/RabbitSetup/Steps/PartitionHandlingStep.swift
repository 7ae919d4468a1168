import Executor
import Workflow

/// `partition-handling`: `cluster_partition_handling = STRATEGY` in every node's `rabbitmq.conf`,
/// replaced in place (every other byte kept), written atomically with a backup; the node restarted so
/// that the value is effective, which is what verify checks. When the erlang-cookie step will restart
/// nodes anyway (a cookie differs from the seed's), every restart is left to its round, the seed's too
/// (journaled as owed): one restart per node, all at once.
public struct PartitionHandlingStep: Step {
    public let id: StepID = .partitionHandling
    public let topology: Topology
    public static let key = "cluster_partition_handling"
    public var title: String { "set \(Self.key) = \(topology.partitionHandling.rawValue) on every node" }
    public var rollbackScope: RollbackScope { .complete }
    public var findingNames: [String] { ["config-bom", "file-too-large", "advanced-config-partition-handling", "advanced-config-unreadable"] }

    public init(topology: Topology) { self.topology = topology }

    struct Saved: Codable {
        var files: [String: SavedFile]
    }

    /// What one node needs.
    struct NodePlan: Sendable {
        var node: RabbitNode
        var before: [UInt8]
        var after: [UInt8]
        var existed: Bool
        var effective: String
        var restartDeferred: Bool
        /// The journal has this node's restart as owed (to erlang-cookie's round).
        var owed: Bool
        var clustered: Bool
        var needsWrite: Bool { before != after || !existed }
        var needsRestart: Bool
    }

    var desired: String { topology.partitionHandling.rawValue }

    func nodes(_ context: StepContext) -> [RabbitNode] { topology.nodes.map { RabbitNode($0, executor: context.executor, step: id) } }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        let key = Self.key
        return try await forEachNode(nodes(context)) { node throws(StepFailure) -> [Finding] in
            var out: [Finding] = []
            let conf: FileObservation
            do throws(StepFailure) { conf = try await node.host.observe(node.profile.configFile, bytes: true) } catch {
                // Read whole or not at all: the plan refuses the same way, so nothing is written.
                guard let name = error.finding else { throw error }
                return [Finding(name, .error, node: node.spec.name, message: error.cause, fix: error.fix)]
            }
            if let bytes = conf.bytes, RabbitConf.startsWithByteOrderMark(bytes) {
                out.append(Finding("config-bom", .error, node: node.spec.name,
                                   message: "\(node.profile.configFile) starts with a UTF-8 byte order mark (EF BB BF), which RabbitMQ cannot "
                                       + "parse: the node would not start again after the restart (failed_to_parse_configuration_file)",
                                   fix: "save it as UTF-8 without a byte order mark (\(node.profile.remedy(.stripByteOrderMark(node.profile.configFile)))), then run again"))
            }
            // advanced.config wins over rabbitmq.conf: ask the node what the file's term sets (a comment
            // that mentions the key sets nothing).
            let adv = try await node.host.observe(node.profile.advancedConfigFile, bytes: true)
            guard let bytes = adv.bytes, String(decoding: bytes, as: UTF8.self).contains(key) else { return out }
            switch try await node.advancedConfigSetting(key) {
            case .unset: break
            case .set(let value):
                out.append(Finding("advanced-config-partition-handling", .error, node: node.spec.name,
                                   message: "\(node.profile.advancedConfigFile) sets \(key) to \(value), and advanced.config wins over rabbitmq.conf",
                                   fix: "remove \(key) from advanced.config (or set it there yourself and skip this step)"))
            case .unreadable(let why):
                out.append(Finding("advanced-config-unreadable", .error, node: node.spec.name,
                                   message: "\(node.profile.advancedConfigFile) cannot be read as an Erlang term (\(why)): the node would not start again",
                                   fix: "correct the file (it must hold one list ending in a full stop, e.g. [].)"))
            }
            return out
        }.flatMap { $0 }
    }

    func nodePlans(_ context: StepContext) async throws(StepFailure) -> [NodePlan] {
        let all = nodes(context)
        // The erlang-cookie step restarts every node whose cookie differs from the seed's, all at once, and
        // takes the restarts owed by this step into that round (the seed's too): one restart per node.
        let seedName = topology.seedName
        let differing = Set(try await ErlangCookieStep.differing(all, seed: seedName).map(\.spec.name))
        let desired = self.desired
        let pending = context.pendingRestarts()
        return try await forEachNode(all) { node throws(StepFailure) -> NodePlan in
            let conf = try await node.host.observe(node.profile.configFile, bytes: true)
            guard conf.kind == .regular || conf.kind == .missing else {
                throw StepFailure("\(node.profile.configFile) on \(node.spec.name) is \(conf.kind.words)", fix: "see the installation findings",
                                  node: node.spec.name)
            }
            let before = conf.bytes ?? []
            let facts = try await node.clusterFacts()
            let effective = facts.effectivePartitionHandling ?? "ignore"
            let name = node.spec.name
            let deferred = effective != desired && (name == seedName ? !differing.isEmpty : differing.contains(name))
            return NodePlan(node: node, before: before, after: RabbitConf.setting(PartitionHandlingStep.key, to: desired, in: before),
                            existed: conf.kind == .regular, effective: effective, restartDeferred: deferred, owed: pending[name] != nil,
                            clustered: facts.clusterNodes.count > 1, needsRestart: effective != desired)
        }
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        var changes: [Change] = []
        for p in try await nodePlans(context) {
            let name = p.node.spec.name
            if p.needsWrite {
                let when = p.restartDeferred ? " (takes effect in \(StepID.erlangCookie)'s restart round: one restart)" : ""
                changes.append(Change(p.existed ? .modify : .add, target: "\(name):\(p.node.profile.configFile)", node: name,
                                      summary: "\(Self.key) = \(desired)\(when)", before: String(decoding: p.before, as: UTF8.self),
                                      after: String(decoding: p.after, as: UTF8.self)))
            }
            // A restart the erlang-cookie step makes anyway is its change, not this step's; but when the file is
            // already right and that restart is not recorded as owed yet, recording it is (else nobody makes it).
            if p.needsRestart && !p.restartDeferred {
                changes.append(Change(.run, target: "\(name): restart", node: name,
                                      summary: "restart so that \(Self.key) goes from \(p.effective) to \(desired)"))
            } else if p.needsRestart && !p.needsWrite && !p.owed {
                changes.append(Change(.run, target: "\(name): restart owed", node: name,
                                      summary: "record the restart \(StepID.erlangCookie)'s round makes, so that \(Self.key) goes from \(p.effective) to \(desired)"))
            }
        }
        return Plan(step: id, changes: changes)
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try await forEachNode(nodes(context)) { node throws(StepFailure) -> (String, SavedFile) in
            (node.spec.name, try await SavedFile.capture(node.profile.configFile, with: node.host))
        }
        return try UndoCoding.encode(Saved(files: Dictionary(uniqueKeysWithValues: saved)))
    }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try UndoCoding.decode(Saved.self, prepared)
        let plans = try await nodePlans(context)
        let work: @Sendable (NodePlan) async throws(StepFailure) -> Void = { p throws(StepFailure) in
            let name = p.node.spec.name
            if p.needsWrite, let file = saved.files[name] {
                try await p.node.host.write(file.path, .bytes(p.after), mode: file.mode ?? "644",
                                             owner: file.existed ? file.ownerSpec : p.node.profile.configOwner, backup: file.backup)
            }
            if p.needsRestart {
                if p.restartDeferred {
                    try context.record(.restartPending(node: name, reason: "\(PartitionHandlingStep.key); the \(StepID.erlangCookie) step restarts it", owner: id))
                } else {
                    try await p.node.restartService(progress: context.progress)
                    try context.record(.restartDone(node: name))
                }
            }
        }
        // Standalone nodes in parallel; nodes already in a cluster one at a time, so it stays available.
        _ = try await forEachNode(plans.filter { !$0.clustered }, work)
        _ = try await forEachNodeInTurn(plans.filter(\.clustered), work)
        return prepared
    }

    /// The file holds exactly one line with the value, and every node runs with it: the effective value,
    /// read from the node. A node whose restart is owed to erlang-cookie's round passes as waiting for it
    /// (the runner verifies again once that restart is done); a node that runs with the value although
    /// its restart is still recorded as owed had it (an interrupted round): the debt is cleared.
    public func verify(_ context: StepContext) async throws(StepFailure) {
        let pending = context.pendingRestarts()
        for p in try await nodePlans(context) {
            let name = p.node.spec.name
            let values = RabbitConf.values(of: Self.key, in: p.before)
            guard values == [desired] else {
                throw StepFailure("\(name): \(p.node.profile.configFile) has \(values.isEmpty ? "no" : values.joined(separator: ", ")) "
                                  + "\(Self.key) line(s), expected exactly one = \(desired)", node: name)
            }
            if p.effective == desired {
                if pending[name]?.owners.contains(id) == true { try context.record(.restartDone(node: name)) }
                continue
            }
            if pending[name] != nil { continue }
            if p.restartDeferred {
                throw StepFailure("\(name) runs with \(Self.key) = \(p.effective): its restart is neither done nor recorded as owed",
                                  fix: "run apply again: it plans the restart", node: name)
            }
            throw StepFailure("\(name) runs with \(Self.key) = \(p.effective) after the restart",
                              fix: "check advanced.config and RABBITMQ_CONFIG_FILE(S) on the node; the file is not the one it reads", node: name)
        }
    }

    /// Restores each file, and restarts a node only when it runs with another value than the restored file
    /// sets (a restart that was still owed never happened: the node already runs with the old value). A
    /// restart owed to this step is no longer owed once its change is undone.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        let saved = try UndoCoding.decode(Saved.self, undo)
        let pending = context.pendingRestarts()
        let key = Self.key, id = self.id
        _ = try await forEachNode(nodes(context)) { node throws(StepFailure) in
            let name = node.spec.name
            guard let file = saved.files[name] else { return }
            try await file.restore(with: node.host)
            let restored = try await node.host.observe(node.profile.configFile, bytes: true)
            let wanted = RabbitConf.values(of: key, in: restored.bytes ?? []).last ?? "ignore"
            let effective = try await node.clusterFacts().effectivePartitionHandling ?? "ignore"
            if effective != wanted {
                try await node.restartService(progress: context.progress)
                try context.record(.restartDone(node: name))
            } else if pending[name]?.owners.contains(id) == true {
                try context.record(.restartDone(node: name))
            }
        }
    }
}

extension StepID {
    /// ``PartitionHandlingStep``'s id: the one place it is spelled.
    public static let partitionHandling: StepID = "partition-handling"
}
