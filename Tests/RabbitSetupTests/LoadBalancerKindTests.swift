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
        let step = LoadBalancerStep(topology: topology, loadBalancer: lb)

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
            return p.value == "traefik" && p.fix == "use nginx or haproxy"
        }
        #expect(LoadBalancerKinds.standard.map(\.name) == ["nginx", "haproxy"])
    }
}
