import Executor
import Foundation
import Synchronization
import Workflow

/// How the failover drill takes a node down.
public enum DrillMode: String, Sendable, Codable, CaseIterable {
    /// `suspend_listeners`, then `stop_app`: a maintenance stop; clients are refused at once.
    case graceful
    /// The node's Erlang VM killed without warning (`kill -9` of its process), then its service started:
    /// a crash. The node's host stays up, so its kernel still answers a connection with a reset.
    case hard
    /// The node's network link cut silently (no reset, no ICMP: a pulled cable), then restored. Only on the
    /// test bed, where a program can do that: ``linkCutVariable`` names it.
    case linkCut = "link-cut"

    public var words: String {
        switch self {
        case .graceful: "suspend_listeners, stop_app, start_app"
        case .hard: "its Erlang VM killed (kill -9), then its service started"
        case .linkCut: "its network link cut silently, then restored"
        }
    }

    /// `RABBIT_WIZARD_TEST_LINK_CUT=PROGRAM [ARG...]`: the test bed's program that cuts a node's link, run
    /// here as `PROGRAM ARG... HOST down|up` (HOST: the host part of the node's name). Without it there is
    /// no `link-cut` mode.
    public static let linkCutVariable = "RABBIT_WIZARD_TEST_LINK_CUT"

    /// The link cut program's argv prefix, when the test bed gives one.
    public static var linkCutProgram: [String]? {
        ProcessInfo.processInfo.environment[linkCutVariable].map { $0.split(separator: " ").map(String.init) }.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// What the failover drill does and accepts; the front ends' `--drill-mode` and `--max-gap`.
public struct DrillSettings: Sendable, Equatable {
    public var mode: DrillMode = .graceful
    /// The longest stretch without a delivered message the drill accepts.
    public var maxGap: Duration = .seconds(10)
    /// How long each node stays down while clients work.
    public var outage: Duration = .seconds(4)
    /// The drill's clients' heartbeat, in seconds: how soon a silent connection is noticed (two heartbeats).
    public var heartbeat = 2

    /// How long a node stays failed: a cut link long enough for a client to miss two heartbeats and more.
    public var down: Duration { mode == .linkCut ? max(outage, .seconds(4 * heartbeat)) : outage }

    public init(mode: DrillMode = .graceful, maxGap: Duration = .seconds(10)) {
        self.mode = mode
        self.maxGap = maxGap
    }
}

/// `failover-drill` (runs only when named, after a confirmation): through the load balancer, while one
/// node at a time fails (``DrillMode``) and comes back, two kinds of clients work: new AMQP connections
/// every 100 ms (what a front end that connects sees), and cache invalidation messages (``MessagePath``: a
/// publisher and a subscriber on long-lived connections, placed on the failing node when the load balancer
/// lets them be). The clients log in as a user of the drill's own, in a vhost of its own, both made for the
/// drill and removed at its end (a vhost that was there before is kept).
///
/// Per node: new connections and failed ones, the slowest handshake, messages published, delivered and lost,
/// the longest gap between deliveries, the subscriber's reconnect, and the time until the node is back in
/// `running_nodes`. The table is kept in the journal as acceptance evidence. The step fails when a node had
/// no client attempt, no message before its failure, a gap over the limit, or did not come back.
public struct FailoverDrillStep: Step {
    public let id: StepID = .failoverDrill
    public let topology: Topology
    public let lb: LoadBalancerSpec
    public var settings: DrillSettings { topology.drill }
    public var title: String { "failover drill through \(lb.words) (\(settings.mode.rawValue)): fail each node in turn" }
    public var rollbackScope: RollbackScope { .complete }
    public var runsByDefault: Bool { false }

    /// What the drill does and how long it takes, for a front end that offers it.
    public var offer: [String] {
        let s = settings
        let nodes = topology.nodes.count
        return ["It fails each of the \(nodes) nodes in turn (\(s.mode.rawValue): \(s.mode.words)) while a publisher, a subscriber and new "
                    + "connections work through \(lb.words) \(lb.clientHost):\(lb.listenPort)\(lb.isPair ? ", then the active load balancer" : "").",
                "Each node is down about \(s.down.components.seconds) s and is waited for until it runs again (at most 2 min each) "
                    + "and the load balancer sends it new connections again (at most 1 min); a node that fails the drill ends it.",
                "Then its table: per node, new connections failed, messages lost and the longest gap (a gap over "
                    + "\(Self.seconds(ConnectionLoop.milliseconds(s.maxGap))) fails the drill)."]
    }

    public init(topology: Topology, loadBalancer: LoadBalancerSpec) {
        self.topology = topology
        self.lb = loadBalancer
    }

    public struct Row: Sendable, Codable, Equatable {
        public var node: String
        public var attempts = 0
        public var failed = 0
        public var worstMilliseconds = 0
        public var messages = MessagePath.Stats()
        /// Whether the subscriber was on the failing node when it failed (else the load balancer placed it elsewhere).
        public var subscriberOnNode = false
        /// Whether the publisher was.
        public var publisherOnNode = false
        public var backInRunningSeconds: Double?
        /// Seconds from the failure until a new connection through the load balancer landed on the node again
        /// (``servedAgain(_:on:since:)``); nil: none did, or the node did not come back.
        public var servedAgainSeconds: Double?
        /// For the row of a pair's active load balancer: its host (then `back` is the time until the
        /// floating address answers from the other host).
        public var loadBalancerHost: String?

        public init(node: String) { self.node = node }
    }

    /// Why a node's row fails the drill, in words; empty: it passes.
    public static func problems(_ r: Row, maxGap: Duration) -> [String] {
        var out: [String] = []
        if r.attempts == 0 { out.append("no new connection was attempted through the load balancer") }
        if r.messages.published == 0 || r.messages.delivered == 0 {
            out.append("no message went through (\(r.messages.published) published, \(r.messages.delivered) delivered)"
                       + (r.messages.lastFailure.map { ": \($0)" } ?? ""))
        }
        let limit = ConnectionLoop.milliseconds(maxGap)
        if r.messages.longestGapMilliseconds > limit {
            out.append("messages stopped for \(seconds(r.messages.longestGapMilliseconds)), over the limit of \(seconds(limit)) (--max-gap)")
        }
        if r.backInRunningSeconds == nil {
            out.append(r.loadBalancerHost == nil ? "it did not come back into running_nodes within 120 s"
                       : "the floating address did not answer from the other host within 30 s")
        } else if r.loadBalancerHost == nil && r.servedAgainSeconds == nil {
            out.append("the load balancer sent it no new connection within \(servedAgainLimit.components.seconds) s of its return to running_nodes")
        }
        return out
    }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        guard let kind = lb.kind else {
            // The site's own: it runs when it answers.
            do throws(StepFailure) {
                _ = try await ThroughLoadBalancer.hello(lb, what: lb.words, fix: "")
                return []
            } catch {
                return [Finding("lb-not-answering", .error, node: lb.host.value, message: error.cause,
                                fix: "see 'rabbit-wizard plan --only \(StepID.loadBalancer)' for what it needs")]
            }
        }
        var out: [Finding] = []
        for m in lb.members {
            let running = await m.server(executor: context.executor, step: id).run(kind.layout(for: m).running, timeout: .seconds(30), mutates: false)
            if !running.succeeded {
                out.append(Finding("lb-not-running", .error, node: m.host.value,
                                   message: "the \(kind.name) load balancer of the topology is not running" + (lb.isPair ? " on \(m.host)" : ""),
                                   fix: "apply the \(StepID.loadBalancer) step first"))
            }
        }
        return out
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        let s = settings
        var changes = [Change(.add, target: "vhost \(DrillAccount.vhost) and user \(DrillAccount.user)", node: topology.seed.name,
                              summary: "for the drill's clients (a random password, never kept); removed when the drill ends", secret: true)]
        changes += topology.nodes.map { n in
            Change(.run, target: "\(n.nodeName) (\(s.mode.rawValue)): \(s.mode.words)", node: n.name,
                   summary: "down about \(s.down.components.seconds) s while a publisher and a subscriber (heartbeat \(s.heartbeat) s) and new "
                       + "connections go through the load balancer; fails on a gap over \(Self.seconds(ConnectionLoop.milliseconds(s.maxGap)))",
                   destructive: "the client connections of \(n.nodeName) (clients reconnect through the load balancer)"
                       + (s.mode == .hard ? "; messages in its queues that no other node holds" : ""),
                   restart: s.mode == .hard ? "the drill kills its Erlang VM and starts its service" : nil)
        }
        if lb.isPair {
            let how = s.mode == .linkCut ? "its link cut silently, then restored" : "its \(lb.kindName) killed (the process group of its main process), then started again"
            changes.append(Change(.run, target: "the active host of the pair (the one keepalived reports MASTER): \(how)", node: lb.host.value,
                                  summary: "while the same clients work through the floating address \(lb.host); measures the time until it answers from the other host",
                                  destructive: "the client connections through the active host (clients reconnect through the floating address)"))
        }
        return Plan(step: id, changes: changes)
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo { .none }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let account = try await DrillAccount.add(on: RabbitNode(topology.seed, executor: context.executor, step: id), progress: context.progress)
        var rows: [Row] = []
        var failure: StepFailure?
        do throws(StepFailure) {
            // A node that fails the drill ends it: the next node is not failed while the cluster misbehaves.
            for spec in topology.nodes {
                rows.append(try await drill(spec, account: account, context))
                if !Self.problems(rows.last!, maxGap: settings.maxGap).isEmpty { break }
            }
            if lb.isPair, rows.count == topology.nodes.count, rows.allSatisfy({ Self.problems($0, maxGap: settings.maxGap).isEmpty }) {
                rows.append(try await drillActiveLoadBalancer(account: account, context))
            }
        } catch {
            failure = error
        }
        await account.remove()
        if !rows.isEmpty {
            try context.record(.evidence(step: id, title: "Failover drill (\(settings.mode.rawValue)) through \(lb.words) \(lb.clientHost):\(lb.listenPort)",
                                         text: Self.table(rows)))
        }
        if let failure { throw failure }
        let failed = rows.map { ($0, Self.problems($0, maxGap: settings.maxGap)) }.filter { !$0.1.isEmpty }
        if !failed.isEmpty {
            let untouched = topology.nodes.dropFirst(rows.count).map(\.nodeName.description)
                + (lb.isPair && rows.count <= topology.nodes.count ? ["the active load balancer"] : [])
            throw StepFailure("the drill failed: " + failed.map { "\($0.0.node): \($0.1.joined(separator: "; "))" }.joined(separator: ". ")
                              + (untouched.isEmpty ? "" : "; not failed after it: " + untouched.joined(separator: ", ")),
                              fix: "see the table above; a gap is the longest stretch without a delivered message (--max-gap sets the limit)",
                              node: failed.count == 1 ? topology.nodes.first { $0.nodeName.description == failed[0].0.node }?.name : nil)
        }
        return .none
    }

    /// One node failed and brought back while the clients work.
    func drill(_ spec: NodeSpec, account: DrillAccount, _ context: StepContext) async throws(StepFailure) -> Row {
        let node = RabbitNode(spec, executor: context.executor, step: id)
        let watcher = RabbitNode(topology.nodes.first { $0.name != spec.name } ?? spec, executor: context.executor, step: id)
        let path = MessagePath(endpoint: account.endpoint(through: lb), heartbeat: settings.heartbeat)
        var row = Row(node: spec.nodeName.description)
        context.progress("\(spec.name): placing a subscriber and a publisher on \(spec.nodeName) through \(lb.words)")
        let (subscriber, publisher, onNode) = try await place(path, on: node)
        (row.subscriberOnNode, row.publisherOnNode) = onNode
        let traffic = Traffic.start(path, subscriber: subscriber, publisher: publisher, through: lb)
        func finish() -> Row {
            traffic.finish(&row)
            return row
        }
        if !(await traffic.flowing()) {
            let r = finish()
            throw StepFailure("\(spec.nodeName): no message went through \(lb.words) before the failure (\(r.messages.published) published, "
                              + "0 delivered in 10 s)\(r.messages.lastFailure.map { ": \($0)" } ?? ""); no node was failed",
                              fix: "check the load balancer (rabbit-wizard status) and that the nodes accept connections", node: spec.name)
        }
        let failedAt = ContinuousClock.now
        do throws(StepFailure) {
            switch settings.mode {
            case .graceful:
                context.progress("\(spec.name): suspend_listeners, stop_app; clients work through \(lb.words)")
                // As an operator takes a node out: no new connections first (they go to the other nodes
                // through the load balancer), then the application stops.
                try await node.ctlChecked(["suspend_listeners"], doing: "suspend its client listeners", mutates: true)
                try await node.ctlChecked(["stop_app"], doing: "stop the application for the drill", mutates: true)
                try? await Task.sleep(until: failedAt.advanced(by: settings.outage))
                try await node.ctlChecked(["start_app"], doing: "start the application again", timeout: .seconds(180), mutates: true)
            case .hard:
                let pid = try await Self.vmProcess(node)
                context.progress("\(spec.name): killing its Erlang VM (process \(pid)) without warning; clients work through \(lb.words)")
                let killed = await node.host.kill(process: pid)
                guard killed.succeeded else {
                    throw RabbitCLIError.failure(killed, doing: "kill its Erlang VM (process \(pid))", node: spec.nodeName, on: spec)
                }
                try? await Task.sleep(until: failedAt.advanced(by: settings.outage))
                try await node.startService(progress: context.progress)
            case .linkCut:
                context.progress("\(spec.name): cutting its link silently; clients work through \(lb.words)")
                try await link(spec, "down", context)
                try? await Task.sleep(until: failedAt.advanced(by: settings.down))
                try await link(spec, "up", context)
            }
        } catch {
            _ = finish()
            throw error
        }
        while ContinuousClock.now - failedAt < .seconds(120) {
            if let s = try? await watcher.clusterStatus(), s.runningNodes.contains(spec.nodeName.description) {
                row.backInRunningSeconds = (ContinuousClock.now - failedAt).seconds
                break
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        if row.backInRunningSeconds != nil {
            context.progress("\(spec.name): back in running_nodes; waiting for \(lb.words) to send it new connections again")
            row.servedAgainSeconds = await servedAgain(path, on: node, since: failedAt)
        }
        // A second more of traffic with the node back, then the counts.
        try? await Task.sleep(for: .seconds(1))
        return finish()
    }

    /// A pair's active load balancer fails while the clients work through the floating address: its load
    /// balancer's process group killed (graceful and hard alike: a load balancer has no graceful drain here)
    /// or, on the test bed, its link cut; `back` is the time until the floating address answers an AMQP
    /// handshake again with the other host reporting MASTER. The failed host is then started again (or its
    /// link restored) and the pair awaited as one MASTER and one BACKUP.
    func drillActiveLoadBalancer(account: DrillAccount, _ context: StepContext) async throws(StepFailure) -> Row {
        let states = await Observations.$reusing.withValue(false) { await FloatingAddressStep.states(lb, executor: context.executor, step: id) }
        guard let active = states.first(where: { $0.state == "MASTER" }), let standby = states.first(where: { $0.host != active.host }),
              let activeHost = lb.pair.first(where: { $0.host.value == active.host }), let kind = lb.kind
        else {
            throw StepFailure("no host of the pair reports MASTER (\(states.map { "\($0.host) \($0.state ?? "no state")" }.joined(separator: ", "))); the load balancer was not failed",
                              fix: "rabbit-wizard status; apply \(StepID.floatingAddress)")
        }
        var member = lb
        member.host = activeHost.host
        member.target = activeHost.target
        member.pair = []
        let server = member.server(executor: context.executor, step: id)
        let layout = kind.layout(for: member)
        var row = Row(node: "lb@\(active.host)")
        row.loadBalancerHost = active.host
        context.progress("the active load balancer \(active.host): a subscriber and a publisher through the floating address \(lb.host)")
        let path = MessagePath(endpoint: account.endpoint(through: lb), heartbeat: settings.heartbeat)
        let made = await Task.detached { () -> Result<(AMQPClient, AMQPClient), AMQPProbe.Failure> in
            do throws(AMQPProbe.Failure) {
                let s = try path.connect("lb-subscriber")
                do throws(AMQPProbe.Failure) { return .success((s, try path.connect("lb-publisher"))) } catch { s.close(); throw error }
            } catch { return .failure(error) }
        }.value
        guard case .success(let (subscriber, publisher)) = made else {
            if case .failure(let e) = made { throw StepFailure("the drill's clients could not connect through the floating address \(lb.host): \(e); the load balancer was not failed") }
            throw StepFailure("the drill's clients could not connect through the floating address \(lb.host)")
        }
        try await Self.subscribe(subscriber, publisher, path, through: lb)
        (row.subscriberOnNode, row.publisherOnNode) = (true, true)
        let traffic = Traffic.start(path, subscriber: subscriber, publisher: publisher, through: lb)
        func finish() -> Row {
            traffic.finish(&row)
            return row
        }
        if !(await traffic.flowing()) {
            _ = finish()
            throw StepFailure("no message went through the floating address \(lb.host) in 10 s; the load balancer was not failed",
                              fix: "rabbit-wizard status")
        }
        let failedAt = ContinuousClock.now
        do throws(StepFailure) {
            if settings.mode == .linkCut {
                context.progress("\(active.host): cutting its link silently; clients work through \(lb.host)")
                try await link(host: active.host, "down", context)
            } else {
                guard let pidFile = layout.pidFile else { throw StepFailure("\(kind.name) names no pid file on \(active.host)") }
                context.progress("\(active.host): killing \(kind.name) (the process group of its main process); clients work through \(lb.host)")
                let killed = await server.run(["sh", "-c", "set -e; for p in $(cat \"$1\"); do kill -KILL \"-$p\"; done", "sh", pidFile],
                                              timeout: .seconds(30), mutates: true)
                guard killed.succeeded else { throw StepFailure("killing \(kind.name) on \(active.host) failed: \(killed.stderr.suffix(300))", node: active.host) }
            }
            // Only the host that should take over is asked: the failed one may not answer at all (a cut link).
            let other = lb.pair.first { $0.host.value == standby.host }!
            while ContinuousClock.now - failedAt < .seconds(30) {
                let now = await Observations.$reusing.withValue(false) { await FloatingAddressStep.state(of: other, executor: context.executor, step: id) }
                let host = lb.clientHost, port = lb.listenPort
                if now == "MASTER",
                   await Task.detached(operation: { (try? AMQPProbe(host: host, port: port, timeout: .seconds(1)).hello()) != nil }).value
                {
                    row.backInRunningSeconds = (ContinuousClock.now - failedAt).seconds
                    break
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            try? await Task.sleep(until: failedAt.advanced(by: settings.down))
            if settings.mode == .linkCut {
                try await link(host: active.host, "up", context)
            } else {
                context.progress("\(active.host): starting \(kind.name) again")
                let started = await server.run(layout.start, timeout: .seconds(60), mutates: true)
                guard started.succeeded else { throw StepFailure("\(kind.name) did not start again on \(active.host): \(started.stderr.suffix(300))", node: active.host) }
            }
            // Settled: one MASTER and one BACKUP. After a cut both were MASTER, and the higher priority keeps
            // the address, which may be the host that was cut (a second move, in this row's counts).
            let back = ContinuousClock.now
            while ContinuousClock.now - back < .seconds(30) {
                let now = await Observations.$reusing.withValue(false) { await FloatingAddressStep.states(lb, executor: context.executor, step: id) }
                if now.compactMap(\.state).sorted() == ["BACKUP", "MASTER"] { break }
                try? await Task.sleep(for: .milliseconds(200))
            }
        } catch {
            _ = finish()
            throw error
        }
        try? await Task.sleep(for: .seconds(1))
        return finish()
    }

    /// The clients of one failure: a new connection every 100 ms through the load balancer and the message
    /// path, from their start to the row's counts.
    struct Traffic {
        let loop: ConnectionLoop
        let path: MessagePath

        static func start(_ path: MessagePath, subscriber: AMQPClient, publisher: AMQPClient, through lb: LoadBalancerSpec) -> Traffic {
            let loop = ConnectionLoop(probe: AMQPProbe(host: lb.clientHost, port: lb.listenPort, timeout: .seconds(3)))
            loop.start()
            path.start(subscriber: subscriber, publisher: publisher)
            return Traffic(loop: loop, path: path)
        }

        /// Whether a message is delivered within 10 s: messages flow before anything fails, or there is
        /// nothing to measure.
        func flowing() async -> Bool {
            let since = ContinuousClock.now
            while path.snapshot.delivered == 0 && ContinuousClock.now - since < .seconds(10) { try? await Task.sleep(for: .milliseconds(50)) }
            return path.snapshot.delivered > 0
        }

        /// Stops both and puts their counts into `row`.
        func finish(_ row: inout Row) {
            let stats = loop.stop()
            row.messages = path.stop()
            (row.attempts, row.failed, row.worstMilliseconds) = (stats.attempts, stats.failed, stats.worstMilliseconds)
        }
    }

    /// A subscriber (consuming) and a publisher connected through the load balancer, on `node` where the
    /// load balancer puts them there: up to three rounds of twice as many connections as there are nodes,
    /// each told apart by the connection names the node lists; the best round is kept (the subscriber on the
    /// node first, then the publisher). Returns whether each is on the node.
    func place(_ path: MessagePath, on node: RabbitNode) async throws(StepFailure) -> (sub: AMQPClient, pub: AMQPClient, on: (Bool, Bool)) {
        let count = topology.nodes.count
        var lastError: AMQPProbe.Failure?
        var best: (sub: AMQPClient, pub: AMQPClient, on: (Bool, Bool))?
        func score(_ on: (Bool, Bool)) -> Int { (on.0 ? 2 : 0) + (on.1 ? 1 : 0) }
        for round in 0..<3 where best.map({ score($0.on) }) != 3 {
            let (candidates, failure) = await Self.connect(path, roles: (0..<(2 * count)).map { "client-\(round)-\($0)" })
            lastError = failure ?? lastError
            guard candidates.count >= 2 else { candidates.forEach { $0.1.close() }; continue }
            let here = await Self.landed(candidates, on: node, path)
            let elsewhere = candidates.filter { c in !here.contains { $0.0 == c.0 } }
            let ordered = here + elsewhere
            let on = (here.count >= 1, here.count >= 2)
            if let b = best, score(b.on) >= score(on) {
                ordered.forEach { $0.1.close() }
                continue
            }
            best.map { $0.sub.close(); $0.pub.close() }
            best = (ordered[0].1, ordered[1].1, on)
            ordered.dropFirst(2).forEach { $0.1.close() }
        }
        guard let best else {
            throw StepFailure("the drill's clients could not connect through \(lb.words) \(lb.clientHost):\(lb.listenPort): "
                              + (lastError.map { "\($0)" } ?? "no answer") + "; no node was failed",
                              fix: "check the load balancer (rabbit-wizard status) and that the nodes accept connections", node: node.spec.name)
        }
        try await Self.subscribe(best.sub, best.pub, path, through: lb)
        return best
    }

    /// One client per role through the load balancer, each connected off the cooperative pool (a client
    /// blocks); the ones that connected, and the last failure.
    static func connect(_ path: MessagePath, roles: [String]) async -> (clients: [(String, AMQPClient)], lastError: AMQPProbe.Failure?) {
        var clients: [(String, AMQPClient)] = []
        var lastError: AMQPProbe.Failure?
        for role in roles {
            let made = await Task.detached { () -> Result<AMQPClient, AMQPProbe.Failure> in
                do throws(AMQPProbe.Failure) { return .success(try path.connect(role)) } catch { return .failure(error) }
            }.value
            switch made {
            case .success(let c): clients.append((role, c))
            case .failure(let e): lastError = e
            }
        }
        return (clients, lastError)
    }

    /// Those of `clients` the node lists among its own connections (none when it does not answer).
    static func landed(_ clients: [(String, AMQPClient)], on node: RabbitNode, _ path: MessagePath) async -> [(String, AMQPClient)] {
        let names = (try? await node.read(connectionNames, doing: "list the connections on the node")) ?? ""
        return clients.filter { names.contains("\"\(path.connectionName($0.0))\"") }
    }

    /// How long after its return to running_nodes the drill waits for the load balancer to send the node
    /// a new connection.
    static let servedAgainLimit: Duration = .seconds(60)

    /// Waits until a new connection through the load balancer lands on the node again: a load balancer keeps
    /// a node it saw fail out of rotation for a while after it is back (nginx's `fail_timeout`, HAProxy's
    /// `rise` checks, a site's own health check), and the next node is failed only once this one serves
    /// again. Each round connects two clients per node, asks the node which it holds and closes them. The
    /// seconds since `failedAt`, or nil after ``servedAgainLimit``.
    func servedAgain(_ path: MessagePath, on node: RabbitNode, since failedAt: ContinuousClock.Instant) async -> Double? {
        let start = ContinuousClock.now
        var round = 0
        while ContinuousClock.now - start < Self.servedAgainLimit {
            round += 1
            let (clients, _) = await Self.connect(path, roles: (0..<(2 * topology.nodes.count)).map { "back-\(round)-\($0)" })
            let here = clients.isEmpty ? [] : await Self.landed(clients, on: node, path)
            clients.forEach { $0.1.close() }
            if !here.isEmpty { return (ContinuousClock.now - failedAt).seconds }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return nil
    }

    /// Makes `s` the path's subscriber (its queue declared on the node it is connected to); on failure both
    /// clients are closed.
    static func subscribe(_ s: AMQPClient, _ p: AMQPClient, _ path: MessagePath, through lb: LoadBalancerSpec) async throws(StepFailure) {
        let exchange = path.exchange
        let failure = await Task.detached { () -> AMQPProbe.Failure? in
            do throws(AMQPProbe.Failure) { try MessagePath.subscribe(s, to: exchange); return nil } catch { return error }
        }.value
        guard let failure else { return }
        s.close(); p.close()
        throw StepFailure("the drill's subscriber could not consume through \(lb.words): \(failure); no node was failed",
                          fix: "check the load balancer (rabbit-wizard status) and that the nodes accept connections")
    }

    /// The connection names (`connection_name` of their client properties) of the node's own client connections.
    static let connectionNames = "[binary_to_list(N) || P <- rabbit_networking:connections_local(), "
        + "{client_properties, CP} <- rabbit_networking:connection_info(P, [client_properties]), {<<\"connection_name\">>, longstr, N} <- CP]."

    /// The node's Erlang VM's process id, as the node itself tells it (`os:getpid()`).
    static func vmProcess(_ node: RabbitNode) async throws(StepFailure) -> String {
        let answer = try await node.read("os:getpid().", doing: "ask the node for its process id")
        let digits = answer.filter(\.isNumber)
        guard !digits.isEmpty, digits.count < 12 else {
            throw StepFailure("\(node.spec.nodeName) told its process id as \(answer.debugDescription), not a number", node: node.spec.name)
        }
        return digits
    }

    static func seconds(_ ms: Int) -> String { String(format: "%.1f s", Double(ms) / 1000) }

    /// The evidence table: at most 76 columns, so it fits the screen at 80x24 (which indents it by 3).
    public static func table(_ rows: [Row]) -> String {
        func shown(_ node: String) -> String { node.count > 18 ? String(node.prefix(17)) + "~" : node }
        let widths = [6, 5, 8, 5, 6, 5, 7, 7, 7]
        func line(_ node: String, _ cells: [String]) -> String {
            "  " + node.padding(toLength: 18, withPad: " ", startingAt: 0) + zip(cells, widths).map { $0.leftPadded($1) }.joined() + "\n"
        }
        var out = line("node", ["conns", "fail", "slowest", "sent", "acked", "lost", "gap", "reconn", "back"])
        for r in rows {
            let m = r.messages
            out += line(shown(r.node), [String(r.attempts), String(r.failed), "\(r.worstMilliseconds) ms", String(m.published), String(m.confirmed),
                                        String(m.lost), seconds(m.longestGapMilliseconds),
                                        m.subscriberDisconnects == 0 ? "-" : seconds(m.reconnectMilliseconds),
                                        r.backInRunningSeconds.map { String(format: "%.1f s", $0) } ?? "no"])
        }
        for r in rows where !(r.subscriberOnNode && r.publisherOnNode) {
            let which = r.subscriberOnNode ? "the publisher" : r.publisherOnNode ? "the subscriber" : "both clients"
            out += "  \(shown(r.node)): \(which) on another node (load balancer's choice)\n"
        }
        for r in rows where r.loadBalancerHost == nil && r.backInRunningSeconds != nil {
            out += "  \(shown(r.node)): " + (r.servedAgainSeconds.map { String(format: "new connections reach it again at %.1f s", $0) }
                                              ?? "no new connection reached it in \(servedAgainLimit.components.seconds) s after back") + "\n"
        }
        out += "  conns: new connections, each a handshake (fail: refused or timed out).\n"
            + "  sent: messages published; acked: of those, confirmed by RabbitMQ;\n"
            + "  lost: sent and never delivered; gap: the longest time without a delivery;\n"
            + "  reconn: the subscriber's time to consume again after a loss (-: no loss).\n"
            + "  back: from its failure to running_nodes; new connections reach it again\n"
            + "  at: from its failure; the next node fails only after that.\n"
            + (rows.contains { $0.loadBalancerHost != nil } ? "  back of lb@HOST (the active load balancer): the floating address answering\n  from the other host.\n" : "")
        return out
    }

    /// Every node running, no partitions, seen from every node.
    public func verify(_ context: StepContext) async throws(StepFailure) {
        try await ClusterHealth.require(topology, context, step: id, fix: "rabbitmqctl -n NODE start_app on the stopped node")
        // A pair is whole again: one MASTER, one BACKUP, the floating address answering.
        if lb.isPair, let kind = lb.kind { try await FloatingAddressStep(topology: topology, loadBalancer: lb, kind: kind).verify(context) }
    }

    /// Makes sure every node runs again (its application, and after a kill its service), and that the
    /// drill's user is gone.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        await restoreLinks(context)
        for spec in topology.nodes {
            let node = RabbitNode(spec, executor: context.executor, step: id)
            if let s = try? await node.clusterStatus(), s.runningNodes.contains(spec.nodeName.description) { continue }
            if settings.mode == .hard { try await node.startService(progress: context.progress) }
            try await node.ctlChecked(["start_app"], doing: "start the application", timeout: .seconds(180), mutates: true)
        }
        if lb.isPair, let kind = lb.kind {
            for m in lb.members {
                let server = m.server(executor: context.executor, step: id), layout = kind.layout(for: m)
                if !(await server.run(layout.running, timeout: .seconds(30), mutates: false)).succeeded {
                    let r = await server.run(layout.start, timeout: .seconds(60), mutates: true)
                    guard r.succeeded else { throw StepFailure("\(kind.name) did not start on \(m.host): \(r.stderr.suffix(300))", node: m.host.value) }
                }
            }
        }
        _ = await RabbitNode(topology.seed, executor: context.executor, step: id).ctl(["delete_user", DrillAccount.user], mutates: true)
    }

    /// A drill cut off while a link was cut leaves it cut: every node's link is restored first.
    func restoreLinks(_ context: StepContext) async {
        guard settings.mode == .linkCut else { return }
        for spec in topology.nodes { try? await link(spec, "up", context) }
        for p in lb.pair { try? await link(host: p.host.value, "up", context) }
    }

    /// The test bed's program (``DrillMode/linkCutProgram``) run on this machine for the node's host (the host
    /// part of its node name): `down` cuts its link silently, `up` restores it.
    func link(_ spec: NodeSpec, _ state: String, _ context: StepContext) async throws(StepFailure) {
        let host = spec.nodeName.description.split(separator: "@").last.map(String.init) ?? spec.host.value
        try await link(host: host, state, context, node: spec.name)
    }

    /// The same for a host named directly (a pair's load balancer host, by its address).
    func link(host: String, _ state: String, _ context: StepContext, node: String? = nil) async throws(StepFailure) {
        guard let program = DrillMode.linkCutProgram else {
            throw StepFailure("link-cut needs the test bed's program (\(DrillMode.linkCutVariable))", fix: "use --drill-mode graceful or hard")
        }
        let r = await context.executor.run(CommandSpec(program + [host, state], timeout: .seconds(30), mutates: true, step: id))
        guard r.succeeded else {
            throw StepFailure("\(state == "down" ? "the link cut" : "restoring the link") of \(host) failed: \(r.stderr.suffix(300))", node: node)
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
