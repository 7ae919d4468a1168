import Executor
import Foundation
import Synchronization
import Workflow

/// `failover-drill` (runs only when named, after a confirmation): through the load balancer, new AMQP
/// connections every 100 ms while one node at a time is stopped (`suspend_listeners`, `stop_app`) and
/// started again (`start_app`).
/// Records failed connections, the slowest handshake and the time until the node is back in
/// `running_nodes`; ends with `cluster_status` from every node showing no partitions. The table is kept
/// in the journal as acceptance evidence.
public struct FailoverDrillStep: Step {
    public let id: StepID = .failoverDrill
    public let topology: Topology
    public let lb: LoadBalancerSpec
    public var title: String { "failover drill through \(lb.kind.name): stop each node in turn" }
    public var rollbackScope: RollbackScope { .complete }
    public var runsByDefault: Bool { false }
    /// How long each node stays stopped while clients connect.
    public var outage: Duration = .seconds(4)

    public init(topology: Topology, loadBalancer: LoadBalancerSpec) {
        self.topology = topology
        self.lb = loadBalancer
    }

    public struct Row: Sendable, Codable, Equatable {
        public var node: String
        public var attempts: Int
        public var failed: Int
        public var worstMilliseconds: Int
        public var backInRunningSeconds: Double
    }


    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        let running = await lb.server(executor: context.executor, step: id).run(lb.kind.layout(for: lb).running, timeout: .seconds(30), mutates: false)
        return running.succeeded ? [] : [Finding("lb-not-running", .error, node: lb.host.value,
                                                 message: "the \(lb.kind.name) load balancer of the topology is not running",
                                                 fix: "apply the \(StepID.loadBalancer) step first")]
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        Plan(step: id, changes: topology.nodes.map { n in
            Change(.run, target: "\(n.nodeName): suspend_listeners, stop_app, start_app", node: n.name,
                   summary: "stopped for about \(outage.components.seconds) s while clients connect through the load balancer",
                   destructive: "the client connections of \(n.nodeName) (clients reconnect through the load balancer)")
        })
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo { .none }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        var rows: [Row] = []
        let observer = topology.nodes.count > 1 ? topology.nodes : []
        for spec in topology.nodes {
            let node = RabbitNode(spec, executor: context.executor, step: id)
            let watcher = RabbitNode(observer.first { $0.name != spec.name } ?? spec, executor: context.executor, step: id)
            let loop = ConnectionLoop(probe: AMQPProbe(host: lb.clientHost, port: lb.listenPort, timeout: .seconds(3)))
            loop.start()
            try? await Task.sleep(for: .milliseconds(500))
            context.progress("\(spec.name): stop_app; connecting through \(lb.kind.name) every 100 ms")
            do throws(StepFailure) {
                // As an operator takes a node out: no new connections first (they go to the other nodes
                // through the load balancer), then the application stops.
                try await node.ctlChecked(["suspend_listeners"], doing: "suspend its client listeners", mutates: true)
                try await node.ctlChecked(["stop_app"], doing: "stop the application for the drill", mutates: true)
                try? await Task.sleep(for: outage)
                try await node.ctlChecked(["start_app"], doing: "start the application again", timeout: .seconds(180), mutates: true)
            } catch {
                loop.stop()
                throw error
            }
            let started = ContinuousClock.now
            var back = false
            while ContinuousClock.now - started < .seconds(120) {
                if let s = try? await watcher.clusterStatus(), s.runningNodes.contains(spec.nodeName.description) { back = true; break }
                try? await Task.sleep(for: .milliseconds(200))
            }
            let elapsed = ContinuousClock.now - started
            try? await Task.sleep(for: .milliseconds(500))
            let stats = loop.stop()
            guard back else {
                throw StepFailure("\(spec.nodeName) did not come back into running_nodes within 120 s", fix: "start it: rabbitmqctl -n \(spec.nodeName) start_app",
                                  node: spec.name)
            }
            rows.append(Row(node: spec.nodeName.description, attempts: stats.attempts, failed: stats.failed,
                            worstMilliseconds: stats.worstMilliseconds,
                            backInRunningSeconds: elapsed.seconds))
        }
        try context.record(.evidence(step: id, title: "Failover drill through \(lb.kind.name) \(lb.clientHost):\(lb.listenPort)",
                                 text: FailoverDrillStep.table(rows)))
        return .none
    }

    public static func table(_ rows: [Row]) -> String {
        var out = "  node                          new connections  failed  slowest handshake  back in running_nodes\n"
        for r in rows {
            out += "  " + r.node.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(r.attempts).leftPadded(15) + String(r.failed).leftPadded(8)
                + "\(r.worstMilliseconds) ms".leftPadded(19) + String(format: "%.1f s", r.backInRunningSeconds).leftPadded(23) + "\n"
        }
        return out
    }

    /// Every node running, no partitions, seen from every node.
    public func verify(_ context: StepContext) async throws(StepFailure) {
        try await ClusterHealth.require(topology, context, step: id, fix: "rabbitmqctl -n NODE start_app on the stopped node")
    }

    /// Makes sure every node's application runs again.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        for spec in topology.nodes {
            let node = RabbitNode(spec, executor: context.executor, step: id)
            if let s = try? await node.clusterStatus(), s.runningNodes.contains(spec.nodeName.description) { continue }
            try await node.ctlChecked(["start_app"], doing: "start the application", timeout: .seconds(180), mutates: true)
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

extension StepID {
    /// ``FailoverDrillStep``'s id: the one place it is spelled.
    public static let failoverDrill: StepID = "failover-drill"
}
