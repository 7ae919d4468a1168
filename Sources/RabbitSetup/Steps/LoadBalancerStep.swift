import Executor
import Foundation
import Workflow

/// `load-balancer`: generates the configuration of the topology's load balancer kind for every node,
/// validates the candidate before it is activated, installs it atomically with a backup, starts or
/// reloads the load balancer, and verifies by observation: an AMQP handshake through it that reaches the
/// cluster. What differs between kinds is the kind's value (``LoadBalancerKind``); what differs between
/// servers is the host's (``ServerHost``).
public struct LoadBalancerStep: Step {
    public let id: StepID = .loadBalancer
    public var findingNames: [String] {
        ["lb-missing", "lb-not-running", "idle-timeout-short", "lb-port-in-use"] + kind.requiredFiles(for: lb).map(\.finding)
    }
    public let topology: Topology
    public let lb: LoadBalancerSpec
    public let kind: any LoadBalancerKind
    public var title: String {
        lb.isPair ? "put \(kind.name) in front of the cluster on both hosts of the pair, \(lb.pair.map(\.host.value).joined(separator: " and ")), port \(lb.listenPort)"
            : "put \(kind.name) in front of the cluster on \(lb.host):\(lb.listenPort)"
    }
    public var rollbackScope: RollbackScope { .complete }

    public init(topology: Topology, loadBalancer: LoadBalancerSpec, kind: any LoadBalancerKind) {
        self.topology = topology
        self.lb = loadBalancer
        self.kind = kind
    }

    /// The load-balancer step for the topology's load balancer: this one for a kind the wizard configures,
    /// ``ExternalLoadBalancerStep`` for the site's own.
    public static func forTopology(_ topology: Topology, _ lb: LoadBalancerSpec) -> any Step {
        if let kind = lb.kind { return LoadBalancerStep(topology: topology, loadBalancer: lb, kind: kind) }
        return ExternalLoadBalancerStep(topology: topology, loadBalancer: lb)
    }

    var layout: LoadBalancerLayout { kind.layout(for: lb) }

    /// For a pair, the same step on each of its hosts (``LoadBalancerSpec/members``): the same configuration
    /// on both, each checked, planned, applied, verified through its own address and rolled back on its own.
    var parts: [LoadBalancerStep] { lb.members.map { LoadBalancerStep(topology: topology, loadBalancer: $0, kind: kind) } }

    /// A pair's undo data: each host's, in the pair's order.
    struct PairSaved: Codable {
        var parts: [Undo]
    }

    var platform: PlatformProfile { PlatformProfile.named(lb.profile) }

    struct Saved: Codable {
        var file: SavedFile
        var wasRunning: Bool
    }

    func server(_ context: StepContext) -> any ServerHost { lb.server(executor: context.executor, step: id) }

    func run(_ argv: [String], _ context: StepContext, mutates: Bool) async -> CommandResult {
        await server(context).run(argv, timeout: .seconds(60), mutates: mutates)
    }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        if lb.isPair {
            var all: [Finding] = []
            for part in parts { all += try await part.check(context) }
            return all
        }
        var out: [Finding] = []
        let host = server(context)
        if !(await host.hasProgram(kind.program)) {
            out.append(Finding("lb-missing", .error, node: lb.host.value, message: "\(kind.program) is not installed on \(lb.target)",
                               fix: platform.installHint(kind.packages)))
        }
        for file in kind.requiredFiles(for: lb) {
            guard try await host.observe(file.path).kind == .missing else { continue }
            out.append(Finding(file.finding, .error, node: lb.host.value, message: "\(file.what) (\(file.path)) is missing",
                               fix: platform.installHint([file.package])))
        }
        if lb.idleTimeout <= 60 {
            out.append(Finding("idle-timeout-short", .warning, node: lb.host.value,
                               message: "idle_timeout \(lb.idleTimeout) s does not exceed the AMQP heartbeat (60 s): idle consumers would be cut",
                               fix: "use a value above 120 s (the default is 3600)"))
        }
        // The listen port: free, or held by our own load balancer.
        if !(await run(layout.running, context, mutates: false)).succeeded {
            if (try? AMQPProbe(host: lb.clientHost, port: lb.listenPort, timeout: .milliseconds(500)).hello()) != nil
                || LoadBalancerStep.listening(lb.clientHost, lb.listenPort)
            {
                out.append(Finding("lb-port-in-use", .error, node: lb.host.value,
                                   message: "\(lb.listenAddress):\(lb.listenPort) is already in use by another process",
                                   fix: "free the port or choose another listen_port"))
            }
        }
        return out
    }

    /// Where the controller reaches the load balancer.

    static func listening(_ host: String, _ port: Int) -> Bool {
        do { _ = try AMQPProbe(host: host, port: port, timeout: .milliseconds(500)).hello(); return true } catch {
            if case .refused = error { return false }
            return true
        }
    }

    func desired(_ current: [UInt8]) -> [UInt8] { kind.configuration(topology, lb, layout: layout, current: current) }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        if lb.isPair {
            var changes: [Change] = []
            for part in parts { changes += try await part.plan(context).changes }
            return Plan(step: id, changes: changes)
        }
        let seen = try await server(context).observe(layout.configPath, bytes: true)
        let current = seen.bytes ?? []
        let want = desired(current)
        let running = await run(layout.running, context, mutates: false).succeeded
        var changes: [Change] = []
        if seen.kind == .missing || current != want {
            changes.append(Change(seen.kind == .missing ? .add : .modify, target: "\(lb.host):\(layout.configPath)", node: lb.host.value,
                                  summary: "\(kind.name) configuration for \(topology.nodes.count) nodes",
                                  before: String(decoding: current, as: UTF8.self), after: String(decoding: want, as: UTF8.self)))
        }
        if !running {
            changes.append(Change(.run, target: "\(lb.host): start \(kind.name)", node: lb.host.value, summary: "start the load balancer"))
        } else if Self.needsRestart(current, want) {
            changes.append(Change(.run, target: "\(lb.host): restart \(kind.name)", node: lb.host.value,
                                  summary: "stop and start: it listens on \(Self.listens(want).sorted().joined(separator: ", ")) instead of "
                                      + "\(Self.listens(current).sorted().joined(separator: ", ")), which a reload cannot apply",
                                  destructive: "the client connections through \(lb.host) (clients reconnect)"))
        } else if !changes.isEmpty {
            changes.append(Change(.run, target: "\(lb.host): reload \(kind.name)", node: lb.host.value, summary: "reload with the new configuration"))
        }
        return Plan(step: id, changes: changes)
    }

    /// The addresses a configuration listens on (`listen A:P` in nginx, `bind A:P` in HAProxy).
    static func listens(_ bytes: [UInt8]) -> Set<String> {
        Set(String(decoding: bytes, as: UTF8.self).matches(of: /(?m)^\s*(?:listen|bind)\s+([^\s;]+)/).map { String($0.output.1) })
    }

    /// Whether a reload cannot apply `want` over `current`: a listening socket moves (between one address
    /// and all of them, say): the new bind fails while the old socket listens, and nginx keeps running the
    /// old configuration, saying so only in its log (seen on the bed, with `service nginx reload` exiting 0).
    static func needsRestart(_ current: [UInt8], _ want: [UInt8]) -> Bool {
        let (a, b) = (listens(current), listens(want))
        return !a.isEmpty && !b.isEmpty && a != b
    }

    /// Stop, then start.
    func restart(_ context: StepContext) async -> CommandResult {
        let stopped = await run(layout.stop, context, mutates: true)
        guard stopped.succeeded else { return stopped }
        return await run(layout.start, context, mutates: true)
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        if lb.isPair {
            var saved: [Undo] = []
            for part in parts { saved.append(try await part.prepare(Plan(step: id, changes: []), context)) }
            return try UndoCoding.encode(PairSaved(parts: saved))
        }
        let running = await run(layout.running, context, mutates: false).succeeded
        return try UndoCoding.encode(Saved(file: try await SavedFile.capture(layout.configPath, with: server(context)), wasRunning: running))
    }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        if lb.isPair {
            let saved = try UndoCoding.decode(PairSaved.self, prepared)
            for (part, undo) in zip(parts, saved.parts) { _ = try await part.apply(Plan(step: id, changes: []), prepared: undo, context) }
            return prepared
        }
        let saved = try UndoCoding.decode(Saved.self, prepared)
        let files = server(context)
        let current = try await files.observe(layout.configPath, bytes: true).bytes ?? []
        let want = desired(current)
        let moves = Self.needsRestart(current, want)
        if current != want || !saved.file.existed {
            if layout.validateInPlace {
                try await files.write(layout.configPath, .bytes(want), mode: saved.file.mode ?? "644", owner: saved.file.ownerSpec, backup: saved.file.backup)
                let check = await run(layout.validate, context, mutates: false)
                if !check.succeeded {
                    try await saved.file.restore(with: files)
                    throw rejected(check)
                }
            } else {
                // The candidate sits next to the file with a name the load balancer does not read.
                let candidate = layout.configPath + ".rabbit-wizard-candidate"
                try await files.write(candidate, .bytes(want), mode: "600", owner: "", backup: nil)
                let check = await run(layout.validate.map { $0 == "{file}" ? candidate : $0 }, context, mutates: false)
                try await files.remove(candidate)
                guard check.succeeded else { throw rejected(check) }
                try await files.write(layout.configPath, .bytes(want), mode: saved.file.mode ?? "644", owner: saved.file.ownerSpec, backup: saved.file.backup)
            }
        }
        let running = await run(layout.running, context, mutates: false).succeeded
        let control = running && moves ? await restart(context) : await run(running ? layout.reload : layout.start, context, mutates: true)
        guard control.succeeded else {
            // The new file is in place but the load balancer refused it: put the old one back.
            try await saved.file.restore(with: files)
            if running { _ = moves ? await restart(context) : await run(layout.reload, context, mutates: true) }
            throw rejected(control, doing: running ? (moves ? "restart" : "reload") : "start")
        }
        return prepared
    }

    /// The load balancer's own words, as the failure's cause.
    func rejected(_ r: CommandResult, doing what: String = "accept the configuration") -> StepFailure {
        let text = (r.stderr + r.stdout).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return StepFailure("\(kind.name) did not \(what): \(text.prefix(4).joined(separator: " | "))",
                           fix: "nothing was activated; fix the cause and retry load-balancer", node: lb.host.value)
    }

    /// An AMQP handshake through the load balancer reaches the cluster (a cluster name one of its nodes
    /// reports: each node may report its own default), and every backend answers the handshake itself.
    public func verify(_ context: StepContext) async throws(StepFailure) {
        if lb.isPair {
            for part in parts { try await part.verify(context) }
            return
        }
        let fix = "look at the load balancer's log"
        let first = try await ThroughLoadBalancer.hello(lb, what: kind.name, fix: fix)
        try await ThroughLoadBalancer.requireCluster(topology, lb, what: kind.name, answered: first, context, step: id, fix: fix)
        // Each backend as the load balancer reaches it (its host, the names of the generated config), not
        // as the controller does: the controller may not resolve or reach the nodes' own names at all.
        let answered = await server(context).probe(topology.nodes.map { "\($0.host.value):\($0.amqpPort)" }, amqp: true) ?? []
        for n in topology.nodes where !answered.contains("\(n.host.value):\(n.amqpPort)") {
            throw StepFailure("backend \(n.name) (\(n.host.value):\(n.amqpPort)) does not answer AMQP from \(lb.host.value)", fix:
                              "check that \(lb.host.value) resolves \(n.host.value) and reaches port \(n.amqpPort), and that the node runs",
                              node: n.name, retryable: true)
        }
    }

    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        if lb.isPair {
            let saved = try UndoCoding.decode(PairSaved.self, undo)
            for (part, undo) in zip(parts, saved.parts).reversed() { try await part.rollback(undo, context) }
            return
        }
        let saved = try UndoCoding.decode(Saved.self, undo)
        let before = try await server(context).observe(layout.configPath, bytes: true).bytes ?? []
        let changed = try await saved.file.restore(with: server(context))
        let restored = try await server(context).observe(layout.configPath, bytes: true).bytes ?? []
        let running = await run(layout.running, context, mutates: false).succeeded
        if !saved.wasRunning {
            if running {
                let r = await run(layout.stop, context, mutates: true)
                guard r.succeeded else { throw rejected(r, doing: "stop") }
            }
        } else if changed && running {
            let moves = Self.needsRestart(before, restored)
            let r = moves ? await restart(context) : await run(layout.reload, context, mutates: true)
            guard r.succeeded else { throw rejected(r, doing: moves ? "restart" : "reload") }
        }
    }
}

extension StepID {
    /// ``LoadBalancerStep``'s id: the one place it is spelled.
    public static let loadBalancer: StepID = "load-balancer"
}

/// What the load-balancer steps observe through the address clients dial.
enum ThroughLoadBalancer {
    /// An AMQP handshake through the load balancer reaches the cluster: a cluster name one of its nodes
    /// reports (each node may report its own default before it joins). `what` names the load balancer; the
    /// first handshake is the caller's (``hello(_:what:fix:)``, whose failure is its own finding).
    static func requireCluster(_ topology: Topology, _ lb: LoadBalancerSpec, what: String, answered first: AMQPProbe.ServerInfo,
                               _ context: StepContext, step: StepID, fix: String) async throws(StepFailure)
    {
        let names = Set(try await forEachNode(topology.nodes) { spec throws(StepFailure) -> String? in
            try await RabbitNode(spec, executor: context.executor, step: step).clusterStatus().clusterName
        }.compactMap { $0 })
        let host = lb.clientHost, port = lb.listenPort
        var info = first
        // A reload is asynchronous (nginx -s reload, service ... reload return once the master is told):
        // until the master has started its new workers, an old one still takes new connections with the
        // old configuration, such as a node just removed. So a name from outside this cluster is looked at
        // again, every 200 ms for up to 10 s, before it counts (a handshake that fails meanwhile keeps the
        // last answer).
        let settle = ContinuousClock.now.advanced(by: .seconds(10))
        while !names.isEmpty, !names.contains(info.clusterName ?? ""), ContinuousClock.now < settle {
            try? await Task.sleep(for: .milliseconds(200))
            info = (try? await hello(lb, what: what, fix: fix)) ?? info
        }
        if !names.isEmpty, !names.contains(info.clusterName ?? "") {
            throw StepFailure("\(host):\(port) answers as cluster \(info.clusterName ?? "?"), not one of \(names.sorted().joined(separator: ", "))",
                              fix: "check that the load balancer points at this cluster's nodes", node: lb.host.value)
        }
    }

    /// Connection.Start through the load balancer, or a failure that names its address.
    static func hello(_ lb: LoadBalancerSpec, what: String, fix: String) async throws(StepFailure) -> AMQPProbe.ServerInfo {
        let host = lb.clientHost, port = lb.listenPort
        do {
            return try await Task.detached { () throws(AMQPProbe.Failure) -> AMQPProbe.ServerInfo in
                try AMQPProbe(host: host, port: port).hello()
            }.value
        } catch {
            throw StepFailure("no AMQP answer through \(what) at \(host):\(port): \(error)", fix: fix, node: lb.host.value, retryable: true)
        }
    }
}
