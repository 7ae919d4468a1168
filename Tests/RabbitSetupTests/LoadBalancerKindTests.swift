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
