import Executor
import Workflow

/// `partition-handling`: `cluster_partition_handling = STRATEGY` in every node's `rabbitmq.conf`,
/// replaced in place (every other byte kept), written atomically with a backup, and the same value set on
/// each running node with `application:set_env` (RabbitMQ reads it when it handles a partition): it takes
/// effect now, with no restart, and the file is checked for the next boot by the node's own translation
/// of its config files (``RabbitNode/bootSetting(_:)``). A node that cannot take it live (see
/// ``RabbitNode/liveRefusal(translating:)``) is restarted instead, named with why in the plan; clustered
/// ones one at a time. When the erlang-cookie step restarts that node anyway (it cannot take the cookie live
/// either), the restart is left to its round (journaled as owed): one restart per node.
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
        /// Each node's effective value before apply, to set again live on rollback (absent in undo data
        /// written before live changes: the restored file's value is used then).
        var effective: [String: String]?
    }

    /// What one node needs.
    struct NodePlan: Sendable {
        var node: RabbitNode
        var before: [UInt8]
        var after: [UInt8]
        var existed: Bool
        var effective: String
        /// Why the node cannot take the value live (it restarts), or nil.
        var refusal: String?
        /// The restart is left to the erlang-cookie round, which restarts the node anyway.
        var deferred: Bool
        /// The journal has a restart of this node owed to this step (left to that round, or cut off).
        var owed: Bool
        var clustered: Bool
        var needsWrite: Bool { before != after || !existed }
        var needsChange: Bool { effective != desired }
        var desired: String
        /// This step restarts the node itself.
        var restarts: Bool { !deferred && ((needsChange && refusal != nil) || owed) }
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
        let desired = self.desired, id = self.id
        let pending = context.pendingRestarts()
        let all = nodes(context)
        let seen = try await forEachNode(all) { node throws(StepFailure) -> (FileObservation, NodeFacts, String?) in
            let conf = try await node.host.observe(node.profile.configFile, bytes: true)
            guard conf.kind == .regular || conf.kind == .missing else {
                throw StepFailure("\(node.profile.configFile) on \(node.spec.name) is \(conf.kind.words)", fix: "see the installation findings",
                                  node: node.spec.name)
            }
            let facts = try await node.clusterFacts()
            let refusal = (facts.partitionHandlingInEffect) == desired ? nil : await node.liveRefusal(translating: true)
            return (conf, facts, refusal)
        }
        // The erlang-cookie round restarts the nodes whose cookie differs and that cannot take it live.
        var cookieRestarts: Set<String> = []
        if seen.contains(where: { $0.2 != nil }), let seed = all.first(where: { $0.spec.name == topology.seedName }) {
            cookieRestarts = Set(try await ErlangCookieStep.restarting(all, seed: seed).map(\.node.spec.name))
        }
        return zip(all, seen).map { node, seen in
            let (conf, facts, refusal) = seen
            let before = conf.bytes ?? []
            let effective = facts.partitionHandlingInEffect
            let name = node.spec.name
            return NodePlan(node: node, before: before, after: RabbitConf.setting(PartitionHandlingStep.key, to: desired, in: before),
                            existed: conf.kind == .regular, effective: effective, refusal: refusal,
                            deferred: effective != desired && refusal != nil && cookieRestarts.contains(name),
                            owed: pending[name]?.owners.contains(id) == true, clustered: facts.clusterNodes.count > 1, desired: desired)
        }
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        var changes: [Change] = []
        for p in try await nodePlans(context) {
            let name = p.node.spec.name
            if p.needsWrite {
                let when = p.deferred ? " (takes effect in \(StepID.erlangCookie)'s restart round: one restart)"
                    : p.restarts ? " (takes effect at the restart)" : " (takes effect now; the file is checked for the next boot)"
                changes.append(Change(p.existed ? .modify : .add, target: "\(name):\(p.node.profile.configFile)", node: name,
                                      summary: "\(Self.key) = \(desired)\(when)", before: String(decoding: p.before, as: UTF8.self),
                                      after: String(decoding: p.after, as: UTF8.self)))
            }
            if p.restarts {
                let why = p.owed && !(p.needsChange && p.refusal != nil)
                    ? "a restart of this step that an interrupted run left owed"
                    : "\(Self.key) goes from \(p.effective) to \(desired); it cannot change live: \(p.refusal ?? "")"
                changes.append(Change(.run, target: "\(name): restart", node: name, summary: "restart: \(why)", restart: why))
            } else if p.deferred && !p.owed && !p.needsWrite {
                // The file is right already: recording the restart the round makes is this step's change.
                changes.append(Change(.run, target: "\(name): restart owed", node: name,
                                      summary: "record the restart \(StepID.erlangCookie)'s round makes, so that \(Self.key) goes from \(p.effective) to \(desired)"))
            } else if p.needsChange && !p.deferred {
                changes.append(Change(.run, target: "\(name): set live", node: name,
                                      summary: "application:set_env \(Self.key) from \(p.effective) to \(desired), no restart"))
            }
        }
        return Plan(step: id, changes: changes)
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try await forEachNode(nodes(context)) { node throws(StepFailure) -> (String, SavedFile, String) in
            (node.spec.name, try await SavedFile.capture(node.profile.configFile, with: node.host),
             try await node.clusterFacts().partitionHandlingInEffect)
        }
        return try UndoCoding.encode(Saved(files: Dictionary(uniqueKeysWithValues: saved.map { ($0.0, $0.1) }),
                                           effective: Dictionary(uniqueKeysWithValues: saved.map { ($0.0, $0.2) })))
    }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try UndoCoding.decode(Saved.self, prepared)
        let plans = try await nodePlans(context)
        let id = self.id
        let work: @Sendable (NodePlan) async throws(StepFailure) -> Void = { p throws(StepFailure) in
            let name = p.node.spec.name
            if p.needsWrite, let file = saved.files[name] {
                try await p.node.host.write(file.path, .bytes(p.after), mode: file.mode ?? "644",
                                             owner: file.existed ? file.ownerSpec : p.node.profile.configOwner, backup: file.backup)
            }
            if p.deferred {
                try context.record(.restartPending(node: name, reason: "\(PartitionHandlingStep.key); the \(StepID.erlangCookie) step restarts it", owner: id))
            } else if p.restarts {
                try context.record(.restartPending(node: name, reason: "\(PartitionHandlingStep.key); this step restarts it", owner: id))
                try await p.node.restartService(progress: context.progress)
                try context.record(.restartDone(node: name))
            } else if p.needsChange {
                try await p.node.setRabbitEnv(PartitionHandlingStep.key, to: p.desired)
            }
        }
        // Standalone nodes in parallel; nodes already in a cluster one at a time, so it stays available.
        _ = try await forEachNode(plans.filter { !$0.clustered }, work)
        _ = try await forEachNodeInTurn(plans.filter(\.clustered), work)
        return prepared
    }

    /// The file holds exactly one line with the value; every node runs with it (the effective value, read
    /// from the node); and the node's own translation of the config files it reads at boot gives it (a
    /// node that cannot translate was restarted: its effective value was read from the files).
    public func verify(_ context: StepContext) async throws(StepFailure) {
        let key = Self.key
        for p in try await nodePlans(context) {
            let name = p.node.spec.name
            let values = RabbitConf.values(of: key, in: p.before)
            guard values == [desired] else {
                throw StepFailure("\(name): \(p.node.profile.configFile) has \(values.isEmpty ? "no" : values.joined(separator: ", ")) "
                                  + "\(key) line(s), expected exactly one = \(desired)", node: name)
            }
            if p.effective == desired {
                if p.owed { try context.record(.restartDone(node: name)) }
            } else if p.owed && p.deferred {
                continue  // waits for the erlang-cookie round (the runner verifies again once it is done)
            } else if p.owed {
                throw StepFailure("\(name): its restart is still owed (an interrupted run stopped before it)", fix: "run apply again: it plans the restart",
                                  node: name, retryable: true)
            } else {
                throw StepFailure("\(name) runs with \(key) = \(p.effective)", fix: "run apply again", node: name, retryable: true)
            }
            guard await p.node.liveRefusal(translating: true) == nil else { continue }
            let boot = try await p.node.bootSetting(key)
            if let error = boot.error {
                throw StepFailure("\(name): its next boot would not read \(key) = \(desired) from \(boot.files.joined(separator: ", ")): \(error)",
                                  fix: "check RABBITMQ_CONFIG_FILE(S) and advanced.config on the node", node: name)
            }
            guard boot.value == desired else {
                throw StepFailure("\(name): its next boot would run with \(key) = \(boot.value ?? "unset") (files it reads: "
                                  + "\(boot.files.isEmpty ? "none" : boot.files.joined(separator: ", ")))",
                                  fix: "check RABBITMQ_CONFIG_FILE(S) and advanced.config on the node; the file written is \(p.node.profile.configFile)",
                                  node: name)
            }
        }
    }

    /// Restores each file and sets each node's value live back to what it ran with before apply (restarts
    /// only a node that cannot take it live). A restart owed to this step is no longer owed once its change
    /// is undone.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        let saved = try UndoCoding.decode(Saved.self, undo)
        let pending = context.pendingRestarts()
        let key = Self.key, id = self.id
        _ = try await forEachNode(nodes(context)) { node throws(StepFailure) in
            let name = node.spec.name
            guard let file = saved.files[name] else { return }
            try await file.restore(with: node.host)
            let restored = try await node.host.observe(node.profile.configFile, bytes: true)
            let wanted = saved.effective?[name] ?? RabbitConf.values(of: key, in: restored.bytes ?? []).last ?? "ignore"
            let effective = try await node.clusterFacts().partitionHandlingInEffect
            if effective != wanted {
                if await node.liveRefusal(translating: true) == nil {
                    try await node.setRabbitEnv(key, to: wanted)
                    // Live, the node does not read the restored file: its translation says whether the next boot can.
                    if let error = try await node.bootSetting(key).error {
                        throw StepFailure("\(name): \(node.profile.configFile) is restored and \(key) = \(wanted) set live, but its next boot "
                                          + "would fail: \(error)", fix: "correct \(node.profile.configFile) (restored as it was before apply)",
                                          node: name)
                    }
                } else {
                    try await node.restartService(progress: context.progress)
                }
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
