import Executor
import Foundation
import Testing
import TestKit
import Workflow

@testable import RabbitSetup

/// A load balancer kind that exists only here: the load-balancer step plans, validates and starts it
/// through the kind's value alone, without a line of the step changed for it.
struct TestProxyKind: LoadBalancerKind {
    var name: String { "testproxy" }
    var program: String { "testproxy" }
    var packages: [String] { ["testproxy-server"] }

    func requiredFiles(for lb: LoadBalancerSpec) -> [RequiredFile] {
        [RequiredFile(path: "/usr/lib/testproxy/tcp.mod", finding: "testproxy-tcp-missing", what: "the testproxy TCP module", package: "testproxy-tcp")]
    }

    func layout(for lb: LoadBalancerSpec) -> LoadBalancerLayout {
        LoadBalancerLayout(configPath: "/etc/testproxy/rabbitmq.conf", block: false, validate: ["testproxy", "--check", "{file}"],
                           validateInPlace: false, start: ["testproxy-ctl", "start"], reload: ["testproxy-ctl", "reload"],
                           running: ["testproxy-ctl", "running"], stop: ["testproxy-ctl", "stop"])
    }

    func configuration(_ t: Topology, _ lb: LoadBalancerSpec, layout: LoadBalancerLayout, current: [UInt8]) -> [UInt8] {
        Array((["listen \(lb.listenAddress):\(lb.listenPort)"] + t.nodes.map { "backend \($0.host):\($0.amqpPort)" }).joined(separator: "\n").utf8)
    }
}

struct LoadBalancerKindTests {
    static func topology() throws -> Topology {
        var t = try TopologyParser.parse(GoldenCommandsTests.topologyText)
        t.loadBalancer?.kind = TestProxyKind()
        return t
    }

    @Test func aKindDefinedOutsideTheProductIsPlannedValidatedAndStartedByTheSameStep() async throws {
        let topology = try Self.topology()
        let lb = try #require(topology.loadBalancer)
        // The model's servers: nothing of testproxy's exists yet (its module and file are missing),
        // the program answers, and `testproxy-ctl running` says it does not run.
        let servers = GoldenCommandsTests.FreshDebian(overrides: [["testproxy-ctl", "running"]: .exited(code: 3)])
        let context = StepContext(executor: Executor(commandLog: nil, local: servers, remote: servers))
        let step = LoadBalancerStep(topology: topology, loadBalancer: lb, kind: try #require(lb.kind))

        #expect(step.title.contains("testproxy"))
        #expect(step.findingNames.contains("testproxy-tcp-missing"))
        let findings = try await step.check(context)
        let module = try #require(findings.first { $0.name == "testproxy-tcp-missing" }, "\(findings)")
        #expect(module.fix == "apt-get install testproxy-tcp")
        #expect(module.message.contains("/usr/lib/testproxy/tcp.mod"))

        let plan = try await step.plan(context)
        let file = try #require(plan.changes.first { $0.target.hasSuffix(":/etc/testproxy/rabbitmq.conf") }, "\(plan.changes)")
        #expect(file.after == "listen 0.0.0.0:9\nbackend ServerA:5672\nbackend ServerB:5672\nbackend ServerC:5672")
        #expect(plan.changes.contains { $0.target == "127.0.0.9: start testproxy" })
        _ = servers.take()

        let prepared = try await step.prepare(plan, context)
        _ = try await step.apply(plan, prepared: prepared, context)
        let sent = servers.take()
        let candidate = "/etc/testproxy/rabbitmq.conf.rabbit-wizard-candidate"
        let order = ["testproxy --check \(candidate)", "rabbit-wizard /etc/testproxy/rabbitmq.conf 644", "testproxy-ctl start"]
        let positions = order.map { sent.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(sent)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "validated, then written, then started:\n\(sent)")
        #expect(!sent.contains("nginx") && !sent.contains("haproxy"), "\(sent)")
    }

    @Test func anUnknownKindIsRefusedNamingTheKinds() throws {
        let text = GoldenCommandsTests.topologyText.replacing("kind: nginx", with: "kind: traefik")
        #expect {
            _ = try TopologyParser.parse(text)
        } throws: { error in
            guard case TopologyError.invalid(_, let problems) = error, let p = problems.first(where: { $0.field == "load_balancer.kind" }) else { return false }
            return p.value == "traefik" && p.fix == "use nginx, haproxy or external (the site's own, which the wizard only checks through)"
        }
        #expect(LoadBalancerKinds.standard.map(\.name) == ["nginx", "haproxy"])
    }
}

/// `kind: external`: the site's own load balancer, on which the wizard changes nothing.
struct ExternalLoadBalancerTests {
    static let text = Topologies.threeDebianServers + """

        load_balancer:
          kind: external
          host: lb.example.com
          listen_port: 5673
          idle_timeout: 7200
        """

    @Test func anExternalLoadBalancerIsAnAddressAndNothingToReach() throws {
        let t = try TopologyParser.parse(Self.text)
        let lb = try #require(t.loadBalancer)
        #expect(lb.isExternal && lb.kindName == "external" && lb.clientHost == "lb.example.com" && lb.listenPort == 5673 && lb.idleTimeout == 7200)
        let steps = SetupSteps.all(for: t)
        let step = try #require(steps.first { $0.id == .loadBalancer } as? ExternalLoadBalancerStep, "\(steps.map(\.id))")
        #expect(step.title.contains("lb.example.com:5673") && step.title.contains("external"))
        #expect(steps.map(\.id).contains(.failoverDrill) && steps.map(\.id).contains(.outSystemsHandoff))
        // No server of its own: nothing kept there to survey.
        #expect(Housekeeping.places(t, executor: Executor(commandLog: nil), retention: .standard).flatMap(\.roles) == t.nodes.map(\.name))
    }

    @Test(arguments: ["reach: ssh://root@lb", "config_path: /etc/x.conf", "profile: debian", "listen_address: 0.0.0.0", "sandbox_dir: /tmp/x"])
    func keysForAServerTheWizardManagesAreRefused(line: String) {
        let key = String(line.prefix { $0 != ":" })
        let p = TopologyTests.problems(Self.text + "\n  " + line + "\n")
        let problem = p.first { $0.field == "load_balancer.\(key)" }
        #expect(problem?.message.contains("not used with kind: external") == true, "\(p)")
        #expect(problem?.fix.contains("remove \(key):") == true, "\(p)")
    }

    /// The plan changes nothing and says so, and what to configure there: every node as a member, the
    /// AMQP health check, the idle time-out of the topology; a leaving node is to be taken out by hand.
    @Test func thePlanChangesNothingAndSaysWhatToConfigure() async throws {
        var t = try TopologyParser.parse(Self.text)
        let plan = try await ExternalLoadBalancerStep(topology: t, loadBalancer: try #require(t.loadBalancer))
            .plan(StepContext(executor: Executor(commandLog: nil)))
        #expect(plan.changes.isEmpty)
        let notes = try #require(plan.leftAlone)
        #expect(notes.count == 4, "\(notes)")
        #expect(notes[0].contains("nothing will be changed on the load balancer"))
        #expect(notes[1].contains("members ServerA:5672, ServerB:5672, ServerC:5672"), "\(notes[1])")
        #expect(notes[2].contains("414d515000000901") && notes[2].contains("000a000a"))
        #expect(notes[3].contains("idle at least 7200 s"))
        t.leaving = [t.nodes.removeLast()]
        let shrink = try await ExternalLoadBalancerStep(topology: t, loadBalancer: try #require(t.loadBalancer))
            .plan(StepContext(executor: Executor(commandLog: nil)))
        #expect(shrink.leftAlone?.last?.hasPrefix("take server-c out of its members before cluster-leave runs") == true, "\(String(describing: shrink.leftAlone))")
    }

    @Test func theNodesConnectionsAreReadAsPids() {
        #expect(LoadBalancerReach.pids("[\"<0.725.0>\",\"<0.729.0>\"]\n") == ["<0.725.0>", "<0.729.0>"])
        #expect(LoadBalancerReach.pids("[]\n").isEmpty)
        var seen = LoadBalancerReach.Seen()
        seen.perNode = ["server-a": 2, "server-b": 0]
        let t = try! TopologyParser.parse(Self.text)
        #expect(seen.missing(t.nodes).map(\.name) == ["server-b", "server-c"])
        #expect(seen.words(t.nodes) == "server-a 2, server-b 0, server-c 0")
    }
}

/// A pair of load balancers holding a floating address with keepalived.
struct LoadBalancerPairTests {
    static let text = Topologies.threeDebianServers + """

        load_balancer:
          kind: nginx
          host: 10.0.0.30
          listen_port: 5672
          pair:
            - reach: ssh://root@10.0.0.20
              interface: ens3
            - reach: ssh://root@10.0.0.21
          vrrp_router_id: 77
        """

    @Test func aPairIsTwoHostsAndAFloatingAddress() throws {
        let t = try TopologyParser.parse(Self.text)
        let lb = try #require(t.loadBalancer)
        #expect(lb.isPair && lb.routerID == 77 && lb.clientHost == "10.0.0.30")
        #expect(lb.pair.map(\.host.value) == ["10.0.0.20", "10.0.0.21"] && lb.pair.map(\.interface) == ["ens3", nil])
        // Each host listens on every address and is reached as itself.
        let members = lb.members
        #expect(members.count == 2 && members.allSatisfy { $0.listenAddress.value == "0.0.0.0" && !$0.isPair })
        #expect(members.map(\.clientHost) == ["10.0.0.20", "10.0.0.21"])
        let ids = SetupSteps.all(for: t).map(\.id)
        #expect(ids.firstIndex(of: .floatingAddress) == ids.firstIndex(of: .loadBalancer).map { $0 + 1 }, "\(ids)")
        #expect(Housekeeping.places(t, executor: Executor(commandLog: nil), retention: .standard).flatMap(\.roles).suffix(2) == ["load balancer 1", "load balancer 2"])
    }

    @Test(arguments: [
        ("host: 10.0.0.30", "host: lb.example.com", "load_balancer.host", "must be an IPv4 address"),
        ("host: 10.0.0.30", "host: 10.0.0.20", "load_balancer.host", "one of the pair's own addresses"),
        ("    - reach: ssh://root@10.0.0.21\n", "", "load_balancer.pair", "a list of two hosts"),
        ("ssh://root@10.0.0.21", "ssh://root@10.0.0.20", "load_balancer.pair", "both hosts are 10.0.0.20"),
        ("vrrp_router_id: 77", "vrrp_router_id: 256", "load_balancer.vrrp_router_id", "not a number from 1 to 255"),
        ("interface: ens3", "interface: \"eth0;x\"", "load_balancer.pair[0].interface", "not an interface name"),
        ("  listen_port: 5672", "  listen_port: 5672\n  reach: ssh://root@lb", "load_balancer.reach", "each host has its own reach"),
        ("  listen_port: 5672", "  listen_port: 5672\n  listen_address: 10.0.0.30", "load_balancer.listen_address", "both listen on every address"),
        ("kind: nginx", "kind: external", "load_balancer.pair", "not used with kind: external"),
    ])
    func aBadPairIsRefusedNamingTheField(from: String, to: String, field: String, words: String) {
        let p = TopologyTests.problems(Self.text.replacingOccurrences(of: from, with: to))
        #expect(p.first { $0.field == field }?.message.contains(words) == true, "\(p)")
    }

    /// Two clusters' floating addresses on one network differ, and so do their default VRRP instances.
    @Test func theRouterIDDefaultsToTheAddressesLastByte() throws {
        let t = try TopologyParser.parse(Self.text.replacingOccurrences(of: "  vrrp_router_id: 77", with: ""))
        #expect(t.loadBalancer?.routerID == 30)
    }

    @Test func vrrpRouterIDNeedsAPair() {
        let single = GoldenCommandsTests.topologyText + "\n  vrrp_router_id: 5\n"
        #expect(TopologyTests.problems(single).first { $0.field == "load_balancer.vrrp_router_id" }?.message == "only for a pair")
    }

    /// What the step reads of `ip -o -4 addr show`, and the subnet test that finds the interface.
    @Test func addressesAndSubnets() {
        let text = """
            1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
            2: eth0    inet 10.0.0.20/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
            2: eth0    inet 10.0.0.30/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever
            3: ens4    inet 192.168.5.7/16 brd 192.168.255.255 scope global ens4
            """
        let a = FloatingAddressStep.addresses(text)
        #expect(a.map(\.interface) == ["lo", "eth0", "eth0", "ens4"] && a[1].address == "10.0.0.20" && a[1].prefix == 24 && a[3].prefix == 16)
        #expect(FloatingAddressStep.sameSubnet("10.0.0.20", "10.0.0.30", prefix: 24))
        #expect(!FloatingAddressStep.sameSubnet("10.0.0.20", "10.0.1.30", prefix: 24))
        #expect(FloatingAddressStep.sameSubnet("192.168.5.7", "192.168.200.1", prefix: 16))
        #expect(!FloatingAddressStep.sameSubnet("10.0.0.20", "x", prefix: 24))
    }

    /// keepalived's block: unicast to the peer, the first host preferred, no preemption, the check on the
    /// load balancer's port, the address with the interface's prefix, the hook that reports the state.
    @Test func theKeepalivedBlockIsUnicastWithACheckAndAHook() throws {
        let t = try TopologyParser.parse(Self.text)
        let lb = try #require(t.loadBalancer)
        let step = FloatingAddressStep(topology: t, loadBalancer: lb, kind: try #require(lb.kind))
        let hosts = step.hosts(StepContext(executor: Executor(commandLog: nil)))
        #expect(hosts.map(\.priority) == [150, 100])
        let own = FloatingAddressStep.Address(interface: "ens3", address: "10.0.0.20", prefix: 24)
        let text = String(decoding: step.desired([], hosts[0], own: own, peer: "10.0.0.21"), as: UTF8.self)
        for line in ["enable_script_security", "script \"/etc/keepalived/rabbit-wizard-vrrp check 5672\"", "user root", "state BACKUP", "nopreempt",
                     "interface ens3", "virtual_router_id 77", "priority 150", "advert_int 1", "higher_prio_send_advert true", "garp_lower_prio_repeat 5", "unicast_src_ip 10.0.0.20",
                     "10.0.0.21", "10.0.0.30/24 dev ens3", "notify \"/etc/keepalived/rabbit-wizard-vrrp notify\" root"] {
            #expect(text.contains(line), "\(line) missing:\n\(text)")
        }
        // No gratuitous ARP on a timer: one falling between a heal and the yield points clients at the yielding host.
        #expect(!text.contains("garp_master_refresh"), "\(text)")
        #expect(text.hasPrefix(FloatingAddressStep.markerBegin) && text.hasSuffix(FloatingAddressStep.markerEnd + "\n"))
        // Someone else's keepalived.conf keeps every byte; the block is replaced in place the next time.
        let theirs = Array("global_defs {\n    router_id site\n}\n".utf8)
        let once = step.desired(theirs, hosts[0], own: own, peer: "10.0.0.21")
        #expect(once.starts(with: theirs))
        #expect(step.desired(once, hosts[0], own: own, peer: "10.0.0.21") == once)
    }

    /// A reload cannot move a listening socket: the step restarts instead when the listen address changes.
    @Test func aMovedListenSocketNeedsARestart() {
        let single = Array("stream {\n    server {\n        listen 10.0.0.20:5672;\n    }\n}\n".utf8)
        let pair = Array("stream {\n    server {\n        listen 0.0.0.0:5672;\n    }\n}\n".utf8)
        #expect(LoadBalancerStep.listens(single) == ["10.0.0.20:5672"] && LoadBalancerStep.listens(Array("    bind 0.0.0.0:5672\n".utf8)) == ["0.0.0.0:5672"])
        #expect(LoadBalancerStep.needsRestart(single, pair) && LoadBalancerStep.needsRestart(pair, single))
        #expect(!LoadBalancerStep.needsRestart(pair, pair) && !LoadBalancerStep.needsRestart([], pair))
    }
}
