import Executor
import Foundation
import Workflow

/// Which nodes a load balancer sends new connections to, seen from the nodes' own connection lists, not
/// guessed from its configuration: handshakes held open through it (``AMQPProbe/holdHandshakes(_:)``) show
/// on the node behind each as connections in state `starting` that were not there at a first look and are
/// older than the hold (a client's own handshake takes milliseconds). Read-only: no login, nothing created.
public enum LoadBalancerReach {
    /// How long the handshakes are held before the nodes are asked, and the least age of a connection
    /// counted as one of them.
    static let hold: Duration = .milliseconds(300)
    static let minimumAgeMilliseconds = 250

    /// The node's connections in state `starting` at least `minimumAge` ms old by the node's own clock, as
    /// pids; a connection that ends while it is looked at is left out (its `connection_info` exits).
    static func starting(minimumAge: Int) -> String {
        "Now = erlang:system_time(millisecond), [pid_to_list(P) || P <- rabbit_networking:connections_local(), "
            + "[{state, starting}, {connected_at, T}] <- [catch rabbit_networking:connection_info(P, [state, connected_at])], "
            + "Now - T >= \(minimumAge)]."
    }

    /// The pids in an answer such as `["<0.725.0>","<0.729.0>"]`.
    static func pids(_ answer: String) -> Set<String> {
        Set(answer.matches(of: /<\d+\.\d+\.\d+>/).map { String($0.output) })
    }

    public struct Seen: Sendable, Equatable {
        /// Node (the topology's name) -> how many of the held handshakes it listed, over all rounds.
        public var perNode: [String: Int] = [:]
        /// Node -> why its connections could not be read.
        public var unreadable: [String: String] = [:]
        /// Handshakes held through the load balancer, over all rounds.
        public var held = 0
        /// Why a handshake through the load balancer failed, the last one (nil: none failed).
        public var lastFailure: String?

        /// The nodes of `nodes` that listed none of the handshakes.
        public func missing(_ nodes: [NodeSpec]) -> [NodeSpec] { nodes.filter { (perNode[$0.name] ?? 0) == 0 } }

        /// `node-a 2, node-b 2, node-c 2`.
        public func words(_ nodes: [NodeSpec]) -> String {
            nodes.map { "\($0.name) \(perNode[$0.name] ?? 0)" }.joined(separator: ", ")
        }
    }

    /// Rounds of two handshakes per node through `host:port`, up to `rounds`, until every one of `nodes`
    /// has listed one (a load balancer that balances by source or by least connections may need more than
    /// one round).
    public static func observe(host: String, port: Int, nodes: [NodeSpec], executor: Executor, step: StepID, rounds: Int = 3) async -> Seen {
        await observe(host: host, port: port, nodes: nodes, executor: executor, step: step, rounds: rounds, window: .zero) { $0.missing(nodes).isEmpty }
    }

    /// Rounds as above, one a second, for at least `window` (and at least `rounds`), until `enough` holds:
    /// a load balancer that has marked a member down (nginx for `fail_timeout`, a health monitor until its
    /// next passing check) sends it nothing for a while and then clients again, so one look cannot say it
    /// is no longer a member.
    public static func observe(host: String, port: Int, nodes: [NodeSpec], executor: Executor, step: StepID, rounds: Int, window: Duration,
                               enough: (Seen) -> Bool) async -> Seen
    {
        var seen = Seen()
        let start = ContinuousClock.now
        var round = 0
        while round < rounds || ContinuousClock.now - start < window {
            if round > 0 && window > .zero { try? await Task.sleep(for: .seconds(1)) }
            round += 1
            let before = await look(nodes, minimumAge: 0, executor: executor, step: step)
            let probe = AMQPProbe(host: host, port: port, timeout: .seconds(3))
            let count = 2 * nodes.count
            let held = await Task.detached { probe.holdHandshakes(count) }.value
            seen.held += held.count
            if let f = held.failures.last { seen.lastFailure = "\(f)" }
            if held.count > 0 {
                try? await Task.sleep(for: hold)
                let after = await look(nodes, minimumAge: minimumAgeMilliseconds, executor: executor, step: step)
                for n in nodes {
                    switch after[n.name] {
                    case .success(let now)?:
                        var old: Set<String> = []
                        if case .success(let s)? = before[n.name] { old = s }
                        seen.perNode[n.name, default: 0] += now.subtracting(old).count
                        seen.unreadable[n.name] = nil
                    case .failure(let e)?: seen.unreadable[n.name] = e.cause
                    case nil: seen.unreadable[n.name] = "not asked"
                    }
                }
            }
            held.close()
            if enough(seen) || held.count == 0 { break }
        }
        return seen
    }

    /// Each node's `starting` connections, all nodes at once, asked afresh: each round asks the same
    /// question of a server that has changed since (a look's reuse, ``Observations``, would answer it with
    /// the first round's connections).
    static func look(_ nodes: [NodeSpec], minimumAge: Int, executor: Executor, step: StepID) async -> [String: Result<Set<String>, StepFailure>] {
        let expression = starting(minimumAge: minimumAge)
        let answers = await Observations.$reusing.withValue(false) {
            (try? await forEachNode(nodes) { spec throws(StepFailure) -> Result<Set<String>, StepFailure> in
                do throws(StepFailure) {
                    return .success(pids(try await RabbitNode(spec, executor: executor, step: step).read(expression, doing: "list its connections")))
                } catch { return .failure(error) }
            }) ?? []
        }
        return Dictionary(uniqueKeysWithValues: zip(nodes.map(\.name), answers))
    }
}
