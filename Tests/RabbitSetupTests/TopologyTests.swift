import Executor
import Testing

@testable import RabbitSetup

/// Bad input at the parser (shell metacharacters, payloads for generated files, duplicates, ports): every
/// bad value is named with its line and a fix.
@Suite struct TopologyTests {
    static let good = """
        cluster:
          seed: server-a
          partition_handling: pause_minority
        nodes:
          - name: server-a
            host: ServerA
            reach: ssh://admin@ServerA:22
          - name: server-b
            host: ServerB
            node_name: rabbit@SERVERB
            reach: ssh://admin@10.0.0.2
          - name: server-c
            host: ServerC
        load_balancer:
          kind: haproxy
          host: lb
          reach: ssh://root@lb
          listen_port: 5672

        """

    @Test func validFileIsTyped() throws {
        let t = try TopologyParser.parse(Self.good)
        #expect(t.nodes.map(\.name) == ["server-a", "server-b", "server-c"])
        #expect(t.seed.nodeName.description == "rabbit@ServerA")
        #expect(t.nodes[1].nodeName.description == "rabbit@SERVERB")
        #expect(t.nodes[1].distPort == 25672)
        #expect(t.nodes[2].target == .local)
        #expect(t.partitionHandling == .pauseMinority)
        #expect(t.loadBalancer?.kindName == "haproxy")
    }

    static func problems(_ yaml: String) -> [TopologyProblem] {
        do {
            _ = try TopologyParser.parse(yaml)
            return []
        } catch {
            if case .invalid(_, let p) = error { return p }
            return [TopologyProblem(field: "(syntax)", message: "\(error)", fix: "")]
        }
    }

    @Test(arguments: [
        ("a;touch /tmp/pwned", "nodes[1].host"), ("$(id)", "nodes[1].host"), ("`id`", "nodes[1].host"),
        ("server b", "nodes[1].host"), ("'quoted'", "nodes[1].host"), ("-oProxyCommand=x", "nodes[1].host"),
    ])
    func shellMetacharactersInHostsAreRejected(host: String, field: String) {
        let yaml = Self.good.replacingOccurrences(of: "host: ServerB", with: "host: \"\(host.replacingOccurrences(of: "\"", with: "\\\""))\"")
        let p = Self.problems(yaml)
        #expect(p.map(\.field).contains(field), "\(host): \(p)")
        #expect(p.first { $0.field == field }?.line == 9)
    }

    @Test(arguments: [
        ("reach: ssh://admin@10.0.0.2", "reach: \"ssh://ad;min@x\"", "nodes[1].reach"),
        ("reach: ssh://admin@10.0.0.2", "reach: \"ssh://admin@x:0\"", "nodes[1].reach"),
        ("node_name: rabbit@SERVERB", "node_name: \"rabbit@SERVERB\\n#\"", "nodes[1].node_name"),
        ("node_name: rabbit@SERVERB", "node_name: \"rab{bit}@x\"", "nodes[1].node_name"),
        ("host: lb", "host: \"lb;\"", "load_balancer.host"),
        ("listen_port: 5672", "listen_port: 5672\n  config_path: \"/etc/x;y\"", "load_balancer.config_path"),
        ("listen_port: 5672", "listen_port: 5672\n  config_path: \"/etc/{x}\"", "load_balancer.config_path"),
        ("listen_port: 5672", "listen_port: 5672\n  config_path: \"/etc/x # y\"", "load_balancer.config_path"),
    ])
    func payloadBytesBoundForConfigsAreRejected(from: String, to: String, field: String) {
        let p = Self.problems(Self.good.replacingOccurrences(of: from, with: to))
        #expect(p.map(\.field).contains(field), "\(p)")
    }

    @Test(arguments: [
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: abc\n", "nodes[2].amqp_port", "not a number"),
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: 0\n", "nodes[2].amqp_port", "out of range"),
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: 70000\n", "nodes[2].amqp_port", "out of range"),
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: 4369\n", "nodes[2].amqp_port", "clashes"),
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: 15672\n", "nodes[2].amqp_port", "clashes"),
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: 25672\n", "nodes[2].amqp_port", "clashes"),
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: 5000\n    dist_port: 5000\n", "nodes[2].amqp_port", "the same port as dist_port"),
        ("  host: lb\n", "  host: ServerC\n", "load_balancer.listen_port", "already used by node server-c"),
        // From the hostile pass: signs and radix prefixes are not port numbers.
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: \"+5672\"\n", "nodes[2].amqp_port", "not a number"),
        ("    host: ServerC\n", "    host: ServerC\n    amqp_port: 0x1628\n", "nodes[2].amqp_port", "not a number"),
    ])
    func portsAreTypedWithExactErrors(from: String, to: String, field: String, words: String) {
        let p = Self.problems(Self.good.replacingOccurrences(of: from, with: to))
        #expect(p.contains { $0.field == field && $0.message.contains(words) }, "\(p)")
    }

    /// From the hostile pass: addresses that programs read differently (010 is 8 to inet_aton, 10 to
    /// others; 127.1 is 127.0.0.1) and IPv6, which the wizard does not set up, are refused with the field.
    @Test(arguments: [("010.0.0.1", "no leading zeros"), ("127.1", "no leading zeros"), ("256.0.0.1", "four parts 0-255"),
                      ("123", "plain form"), ("::1", "IPv6"), ("fe80::1", "IPv6")])
    func addressesReadDifferentlyOrIPv6AreRefused(host: String, words: String) {
        let p = Self.problems(Self.good.replacingOccurrences(of: "host: ServerB", with: "host: \"\(host)\""))
        #expect(p.contains { $0.field == "nodes[1].host" && $0.message.contains(words) }, "\(host): \(p)")
        #expect(Self.problems(Self.good.replacingOccurrences(of: "host: ServerB", with: "host: 10.0.0.1")).isEmpty)
    }

    @Test func duplicatesAndSelfJoinAreRefused() {
        let dupName = Self.good.replacingOccurrences(of: "name: server-c", with: "name: server-b")
        #expect(Self.problems(dupName).contains { $0.message.contains("two nodes are named server-b") })
        let selfJoin = Self.good.replacingOccurrences(of: "host: ServerC", with: "host: ServerA")
        #expect(Self.problems(selfJoin).contains { $0.message.contains("cannot join itself") })
        let badSeed = Self.good.replacingOccurrences(of: "seed: server-a", with: "seed: server-x")
        #expect(Self.problems(badSeed).contains { $0.field == "cluster.seed" && $0.fix.contains("server-a, server-b, server-c") })
    }

    @Test func unknownKeysAndStrategiesAreNamed() {
        let typo = Self.good.replacingOccurrences(of: "    host: ServerC", with: "    hots: ServerC")
        let p = Self.problems(typo)
        #expect(p.contains { $0.field == "nodes[2].hots" && $0.message == "unknown key" && $0.line == 13 })
        #expect(p.contains { $0.field == "nodes[2].host" && $0.message == "missing" })
        let strategy = Self.problems(Self.good.replacingOccurrences(of: "pause_minority", with: "autoheel"))
        #expect(strategy.contains { $0.field == "cluster.partition_handling" && $0.fix.contains("autoheal") })
    }

    @Test func oneNodeIsNotACluster() {
        let one = "cluster:\n  seed: a\nnodes:\n  - name: a\n    host: ServerA\n"
        #expect(Self.problems(one).contains { $0.message.contains("at least two nodes") })
    }

    /// Shrinking: `leave: true` moves a node out of `nodes` into `leaving`, with its reach kept; the seed
    /// leaving, or fewer than two staying, is refused with the field and the way to do it instead.
    @Test func leavingNodesAreTypedAndUnsafeShrinksRefused() throws {
        let shrink = Self.good.replacingOccurrences(of: "    host: ServerC\n", with: "    host: ServerC\n    leave: true\n")
        let t = try TopologyParser.parse(shrink)
        #expect(t.nodes.map(\.name) == ["server-a", "server-b"])
        #expect(t.leaving.map(\.name) == ["server-c"])
        #expect(SetupSteps.all(for: t).map(\.id.rawValue) == ["installation-checks", "partition-handling", "erlang-cookie", "cluster-join",
                                                                "load-balancer", "cluster-leave", "failover-drill", "outsystems-handoff"])
        #expect(!SetupSteps.all(for: try TopologyParser.parse(Self.good)).map(\.id.rawValue).contains("cluster-leave"))

        let seed = Self.problems(Self.good.replacingOccurrences(of: "reach: ssh://admin@ServerA:22\n", with: "reach: ssh://admin@ServerA:22\n    leave: true\n"))
        #expect(seed.contains { $0.field == "nodes[0].leave" && $0.message.contains("seed cannot leave") && $0.fix.contains("server-b, server-c") }, "\(seed)")
        let tooFew = Self.problems(shrink.replacingOccurrences(of: "reach: ssh://admin@10.0.0.2\n", with: "reach: ssh://admin@10.0.0.2\n    leave: true\n"))
        #expect(tooFew.contains { $0.field == "nodes" && $0.message.contains("leaves 1 node(s)") && $0.fix.contains("rollback cluster-join") }, "\(tooFew)")
        let typo = Self.problems(Self.good.replacingOccurrences(of: "    host: ServerC\n", with: "    host: ServerC\n    leave: maybe\n"))
        #expect(typo.contains { $0.field == "nodes[2].leave" && $0.fix.contains("leave: true") }, "\(typo)")
    }
}
