import Executor
import Foundation
import Workflow

/// `load-balancer` for the site's own TCP load balancer (`kind: external`: F5, NetScaler, a cloud load
/// balancer, one the site runs already): nothing is changed on it, and nothing is run there. The plan says
/// so and says what to configure on it; the step observes through `host:port` what a client would: an AMQP
/// handshake that answers with this cluster's name, and every node reached through it, seen from the
/// nodes' own connection lists (``LoadBalancerReach``). Both are looked at in `check` (so an apply stops
/// here, naming the address, when it does not answer) and again in `verify` (`status`).
public struct ExternalLoadBalancerStep: Step {
    public let id: StepID = .loadBalancer
    public var findingNames: [String] { ["lb-not-answering", "lb-wrong-cluster", "lb-node-not-reached"] }
    public let topology: Topology
    public let lb: LoadBalancerSpec
    public var title: String { "check the site's own load balancer at \(address) (external: the wizard changes nothing on it)" }
    public var rollbackScope: RollbackScope { .complete }

    public init(topology: Topology, loadBalancer: LoadBalancerSpec) {
        self.topology = topology
        self.lb = loadBalancer
    }

    var address: String { "\(lb.clientHost):\(lb.listenPort)" }
    static let fix = "configure it as 'rabbit-wizard plan --only load-balancer' says, or correct load_balancer.host and listen_port"

    /// What to set up on the load balancer, in the plan's words: its members, health check, time-outs.
    public var instructions: [String] {
        let members = topology.nodes.map { "\($0.host.value):\($0.amqpPort)" }.joined(separator: ", ")
        var out = [
            "the site's own load balancer at \(address): nothing will be changed on the load balancer; the wizard only checks through it",
            "what it needs (configure it there): a TCP (layer 4) service on \(address), members \(members), round robin or least connections",
            "its health check: TCP connect, or better AMQP: send the 8 bytes 414d515000000901 and expect 000a000a (Connection.Start) "
                + "in the reply; every 1 s, time-out 2 s, a member out after 2 failures and back after 2 successes",
            "its time-outs: connect 2 s, a failed connect retried on another member; idle at least \(lb.idleTimeout) s "
                + "(above the AMQP heartbeat: an idle consumer's connection carries only heartbeats)",
        ]
        if !topology.leaving.isEmpty {
            out.append("take \(topology.leaving.map(\.name).joined(separator: ", ")) out of its members before cluster-leave runs "
                       + "(cluster-leave checks through it and refuses while clients still reach a leaving node)")
        }
        return out
    }

    /// What the check and the verification observe: the first problem, as a finding's name, words and fix.
    struct Problem: Error {
        var finding: String
        var failure: StepFailure
    }

    func look(_ context: StepContext) async -> Problem? {
        let first: AMQPProbe.ServerInfo
        do throws(StepFailure) {
            first = try await ThroughLoadBalancer.hello(lb, what: lb.words, fix: Self.fix)
        } catch {
            return Problem(finding: "lb-not-answering", failure: error)
        }
        do throws(StepFailure) {
            try await ThroughLoadBalancer.requireCluster(topology, lb, what: lb.words, answered: first, context, step: id, fix: Self.fix)
        } catch {
            return Problem(finding: "lb-wrong-cluster", failure: error)
        }
        let seen = await LoadBalancerReach.observe(host: lb.clientHost, port: lb.listenPort, nodes: topology.nodes,
                                                   executor: context.executor, step: id)
        let missing = seen.missing(topology.nodes)
        guard !missing.isEmpty else { return nil }
        let unreadable = missing.compactMap { n in seen.unreadable[n.name].map { "\(n.name): \($0)" } }
        return Problem(finding: "lb-node-not-reached", failure: StepFailure(
            "through the external load balancer at \(address), \(missing.map(\.name).joined(separator: ", ")) listed none of "
                + "\(seen.held) held handshakes (per node: \(seen.words(topology.nodes)))"
                + (unreadable.isEmpty ? "" : "; could not read: " + unreadable.joined(separator: "; "))
                + (seen.lastFailure.map { "; a handshake failed: \($0)" } ?? ""),
            fix: "add every node to its members and check its health check marks them up (a pool that keeps each client on one "
                + "member by its source address sends all of this machine's connections to one node: then --waive lb-node-not-reached)", node: missing.count == 1 ? missing[0].name : nil,
            retryable: true))
    }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        guard let p = await look(context) else { return [] }
        return [Finding(p.finding, .error, node: lb.host.value, message: p.failure.cause, fix: p.failure.fix)]
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        Plan(step: id, changes: [], leftAlone: instructions)
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo { .none }
    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo { .none }

    public func verify(_ context: StepContext) async throws(StepFailure) {
        if let p = await look(context) { throw p.failure }
    }

    /// Nothing was changed, so nothing is undone.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {}
}
