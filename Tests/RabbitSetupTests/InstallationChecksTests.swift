import Executor
import Testing
import TestKit
import Workflow

@testable import RabbitSetup

/// installation-checks' name findings from given node answers (a scripted transport). The same traps on
/// real hosts: `debianHostsOverSSH` on the multi-host bed.
struct InstallationChecksTests {
    static let address = ["ServerA": "10.0.0.11", "ServerB": "10.0.0.12", "ServerC": "10.0.0.13"]

    static func topology(hostB: String = "ServerB") -> Topology {
        Topology(nodes: ["ServerA", hostB, "ServerC"].map { h in NodeSpec(name: "server-\(h.suffix(1).lowercased())", host: try! HostName(h)) },
                 seedName: "server-a")
    }

    /// What the node's inspection `eval` prints: itself, its addresses, and how it resolves every node.
    static func eval(_ host: String, resolves: [String: String] = [:], hostB: String = "ServerB") -> ScriptedTransport.Rule {
        let names = ["ServerA", hostB, "ServerC"]
        let lines = ["node=rabbit@\(host)", "version=3.10.8", "otp=25", "cluster_nodes=rabbit@\(host)", "running_nodes=rabbit@\(host)",
                     "alarms=[]", "vhosts=/", "users=guest", "queues=0", "addresses=127.0.0.1,\(address[host]!)"]
            + names.map { name in "resolve \(name)=\(resolves[name] ?? address.first { $0.key.lowercased() == name.lowercased() }?.value ?? "nxdomain")" }
        return .init(["rabbit@\(host)", "eval"], stdout: lines.joined(separator: "\n") + "\nok\n")
    }

    /// The files every node's check reads, as on a healthy Debian node: the cookie (0400, the service's, and
    /// what Erlang accepts) and no rabbitmq.conf yet; and the cluster lock on the seed: free.
    static let files: [ScriptedTransport.Rule] = [
        .init(["/var/lib/rabbitmq/.erlang.cookie", "hash"], stdout: "regular 400 rabbitmq rabbitmq 20\n" + String(repeating: "ab", count: 32) + "\n"),
        .init(["cat", "/var/lib/rabbitmq/.erlang.cookie"], stdout: "ABCDEFGHIJKLMNOPQRST"),
        .init(["/etc/rabbitmq/rabbitmq.conf", "hash"], stdout: "missing\n"),
        .init(["/etc/rabbitmq/rabbit-wizard.lock", "read"], stdout: "absent\n\nkept\n"),
    ]

    func findings(_ rules: [ScriptedTransport.Rule], topology: Topology = topology()) async throws -> [Finding] {
        let context = StepContext(executor: Executor(commandLog: nil, local: ScriptedTransport(rules + Self.files)))
        return try await InstallationChecksStep(topology: topology).check(context)
    }

    /// A cookie that cannot be looked at is a finding on its node, not silence (the checks then passed, and
    /// `status` said "up to date (verified)" for nodes whose cookie nobody had looked at); and it blocks.
    @Test func aFileThatCannotBeReadIsAFinding() async throws {
        let unreadable = ScriptedTransport.Rule(["/var/lib/rabbitmq/.erlang.cookie", "hash"], .exited(code: 1),
                                                stderr: "sha256sum: /var/lib/rabbitmq/.erlang.cookie: Permission denied\n")
        let found = try await findings([unreadable, Self.eval("ServerA"), Self.eval("ServerB"), Self.eval("ServerC")]).filter { $0.name == "file-unreadable" }
        #expect(found.map(\.node) == ["server-a", "server-b", "server-c"], "\(found)")
        #expect(found.allSatisfy { $0.severity == .error && $0.message.contains("Permission denied") && $0.blocks(waived: []) }, "\(found)")
    }

    @Test func aNameThatPointsElsewhereOnOneNodeIsNamedForThatPair() async throws {
        let found = try await findings([Self.eval("ServerA"), Self.eval("ServerB"), Self.eval("ServerC", resolves: ["ServerB": "10.0.0.11"])])
            .filter { $0.name.hasPrefix("name-") }
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.node == "server-c")
        let message = found.first?.message ?? ""
        #expect(message.contains("ServerB resolves to 10.0.0.11") && message.contains("server-b (10.0.0.12)")
                && message.contains("server-a resolves it to 10.0.0.12"), "\(message)")
        #expect(found.first?.fix?.contains("on ServerC") == true)
    }

    /// Debian maps a host's own name to 127.0.1.1: harmless, never a finding. A peer's name pointing at
    /// loopback is.
    @Test func ownNameOnLoopbackIsFineAPeersIsNot() async throws {
        let own = try await findings([Self.eval("ServerA"), Self.eval("ServerB", resolves: ["ServerB": "127.0.1.1"]), Self.eval("ServerC")])
        #expect(own.filter { $0.name.hasPrefix("name-") }.isEmpty, "\(own)")
        let peer = try await findings([Self.eval("ServerA", resolves: ["ServerC": "127.0.0.1"]), Self.eval("ServerB"), Self.eval("ServerC")])
        #expect(peer.filter { $0.name == "name-resolves-differently" }.map(\.node) == ["server-a"], "\(peer)")
    }

    /// Sandbox nodes share one machine and are all `localhost`: loopback is right between them.
    @Test func loopbackIsRightBetweenNodesOnOneMachine() async throws {
        let topology = Topology(nodes: ["a", "b"].map { NodeSpec(name: "node-\($0)", host: try! HostName("localhost"), nodeName: NodeName(name: "rabbit-\($0)", host: try! HostName("localhost"))) },
                                seedName: "node-a")
        func eval(_ node: String, addresses: String) -> ScriptedTransport.Rule {
            .init(["rabbit-\(node)@localhost", "eval"], stdout: "node=rabbit-\(node)@localhost\nversion=3.10.8\notp=25\naddresses=\(addresses)\nresolve localhost=127.0.0.1\nok\n")
        }
        let same = try await findings([eval("a", addresses: "127.0.0.1,10.0.0.5"), eval("b", addresses: "127.0.0.1,10.0.0.5")], topology: topology)
        #expect(same.filter { $0.name.hasPrefix("name-") }.isEmpty, "\(same)")
        // Two machines whose nodes both call each other localhost: each reaches itself, not the other.
        let apart = try await findings([eval("a", addresses: "127.0.0.1,10.0.0.5"), eval("b", addresses: "127.0.0.1,10.0.0.6")], topology: topology)
        #expect(apart.filter { $0.name == "name-resolves-differently" }.count == 2, "\(apart)")
    }

    /// A peer that cannot be asked (not running): its name's answers on the others must agree.
    @Test func answersForAPeerThatCannotBeAskedMustAgree() async throws {
        let down = ScriptedTransport.Rule(["rabbit@ServerB", "eval"], .exited(code: 69), stderr: "Error: unable to perform an operation on node 'rabbit@ServerB'.\n * Target node is not running\nnodedown\n")
        let found = try await findings([Self.eval("ServerA"), down, Self.eval("ServerC", resolves: ["ServerB": "10.0.0.99"])])
        let names = found.filter { $0.name == "name-resolves-differently" }
        #expect(names.count == 1 && names.first?.node == "server-b", "\(found)")
        #expect(names.first?.message.contains("on server-a to 10.0.0.12, on server-c to 10.0.0.99") == true, "\(names)")
    }

    /// `host: serverb` for a host that calls itself ServerB: the name resolves (DNS ignores case), the node
    /// answers on its port, and Erlang refuses the name. The CLI's own node name (it runs on that host)
    /// shows the spelling. The stderr is RabbitMQ 3.10.8's, captured on the multi-host bed.
    /// When the topology gives node_name, that is the field to fix (the advice said host: either way).
    @Test(arguments: [("ServerB", true, false), ("ServerB", true, true), ("OtherHost", false, false)])
    func hostNameCaseMismatchIsNamedWithTheRealSpelling(cliHost: String, mismatch: Bool, nodeNameGiven: Bool) async throws {
        let stderr = """
            Error: unable to perform an operation on node 'rabbit@serverb'. Please see diagnostics information and suggestions below.

            DIAGNOSTICS
            ===========

            attempted to contact: [rabbit@serverb]

            rabbit@serverb:
              * connected to epmd (port 4369) on serverb
              * epmd reports node 'rabbit' uses port 25672 for inter-node and CLI tool traffic 
              * TCP connection succeeded but Erlang distribution failed 
              * suggestion: check if the Erlang cookie is identical for all server nodes and CLI tools
              * suggestion: check if all server nodes and CLI tools use consistent hostnames when addressing each other

            Current node details:
             * node name: 'rabbitmqcli-545-rabbit@\(cliHost)'
             * effective user's home directory: /var/lib/rabbitmq
             * Erlang cookie hash: /YAXVMBGg9AJk4Xd4fWHQw==

            """
        var topology = Self.topology(hostB: "serverb")
        if nodeNameGiven { topology.nodes[1] = NodeSpec(name: "server-b", host: try HostName("serverb"), nodeName: NodeName("rabbit@serverb")) }
        let found = try await findings([Self.eval("ServerA", hostB: "serverb"), .init(["rabbit@serverb", "eval"], .exited(code: 69), stderr: stderr),
                                         Self.eval("ServerC", hostB: "serverb")], topology: topology)
        let b = found.filter { $0.node == "server-b" }
        #expect(b.count == 1 && found.filter { $0.name.hasPrefix("name-") }.isEmpty, "\(found)")
        if mismatch {
            #expect(b.first?.name == "node-name-mismatch")
            if nodeNameGiven {
                #expect(b.first?.message.contains("node_name rabbit@serverb, but the host calls itself ServerB") == true, "\(b)")
                #expect(b.first?.fix?.hasPrefix("write node_name: rabbit@ServerB for server-b") == true, "\(b)")
            } else {
                #expect(b.first?.message.contains("host serverb, but the host calls itself ServerB") == true, "\(b)")
                #expect(b.first?.fix?.hasPrefix("write host: ServerB for server-b") == true, "\(b)")
            }
        } else {
            // The node's own CLI, on its own host, got a connection but no distribution: not "node down"
            // (the CLI user's cookie may differ), and not called a cookie problem either (a hung node says the same).
            #expect(b.first?.name == "erlang-distribution-failed")
            #expect(b.first?.message.contains("Erlang distribution failed") == true, "\(b)")
        }
    }
}
