import RabbitSetup
import Testing
import WizardTUI

/// The setup form's values become a topology file checked by the topology parser.
@Suite struct TopologyDraftTests {
    static let good: [String: String] = [
        "cluster.seed": "server-a", "cluster.partition_handling": "pause_minority",
        "nodes[0].name": "server-a", "nodes[0].host": "ServerA", "nodes[0].reach": "ssh://root@ServerA",
        "nodes[1].name": "server-b", "nodes[1].host": "ServerB", "nodes[1].reach": "ssh://root@ServerB",
        "nodes[2].name": "server-c", "nodes[2].host": "ServerC", "nodes[2].reach": "ssh://root@ServerC", "nodes[2].node_name": "rabbit@ServerC",
        "load_balancer.kind": "haproxy", "load_balancer.host": "LB", "load_balancer.listen_port": "5672", "load_balancer.reach": "local",
    ]

    @Test func goodValuesMakeTheTopologyTheyDescribe() throws {
        #expect(TopologyDraft.problems(Self.good, nodes: 3) == [])
        let t = try TopologyParser.parse(TopologyDraft.yaml(Self.good, nodes: 3))
        #expect(t.nodes.map(\.name) == ["server-a", "server-b", "server-c"])
        #expect(t.nodes.map { "\($0.nodeName)" } == ["rabbit@ServerA", "rabbit@ServerB", "rabbit@ServerC"])
        #expect(t.seed.name == "server-a")
        #expect(t.partitionHandling.rawValue == "pause_minority")
        #expect(t.loadBalancer?.kindName == "haproxy")
        #expect(t.loadBalancer?.listenPort == 5672)
    }

    /// Every platform and load balancer kind the setup form is offered (from the registries) makes a topology.
    @Test func everyOfferedPlatformAndKindMakesATopology() throws {
        #expect(!PlatformProfile.forServers.isEmpty && !LoadBalancerKinds.standard.isEmpty)
        #expect(PlatformProfile.forServers.first == ProfileName.standard && !PlatformProfile.forServers.contains(.sandbox))
        for profile in PlatformProfile.forServers {
            for kind in LoadBalancerKinds.standard {
                var v = Self.good
                v["servers"] = profile.rawValue
                v["load_balancer.kind"] = kind.name
                #expect(TopologyDraft.problems(v, nodes: 3) == [], "\(profile) \(kind.name)")
                let t = try TopologyParser.parse(TopologyDraft.yaml(v, nodes: 3))
                #expect(t.nodes.allSatisfy { $0.profile == profile } && t.loadBalancer?.kindName == kind.name)
            }
        }
    }

    /// The site's own load balancer from the form: its address only (a `reached by` value left from
    /// another kind is not written), and the topology takes it as external.
    @Test func anExternalLoadBalancerIsWrittenAsAnAddress() throws {
        var v = Self.good
        v["load_balancer.kind"] = "external"
        #expect(TopologyDraft.problems(v, nodes: 3) == [])
        let yaml = TopologyDraft.yaml(v, nodes: 3)
        #expect(!yaml.contains("reach: \"local\"") && yaml.contains("kind: \"external\""), "\(yaml)")
        let t = try TopologyParser.parse(yaml)
        #expect(t.loadBalancer?.isExternal == true && t.loadBalancer?.clientHost == "LB")
    }

    /// The platforms are one list: names unique, the default first; the parser names that list when a
    /// profile is unknown, and takes for a load balancer only the platforms that host one.
    @Test func thePlatformsAreOneList() throws {
        let names = PlatformProfile.all.map(\.name)
        #expect(!names.isEmpty && Set(names).count == names.count && names.first == .standard)
        #expect(PlatformProfile.forLoadBalancers == [.debian, .sandbox])
        var v = Self.good
        v["nodes[1].profile"] = "plan9"
        let unknown = TopologyDraft.problems(v, nodes: 3).first { $0.field == "nodes[1].profile" }
        #expect(unknown?.fix == "use debian, windows or sandbox")
        v = Self.good
        v["load_balancer.profile"] = "windows"
        let refused = TopologyDraft.problems(v, nodes: 3).first { $0.field == "load_balancer.profile" }
        #expect(refused?.message.hasPrefix("a load balancer cannot run on a Windows server") == true, "\(String(describing: refused))")
    }

    /// The setup form's keys and the parser agree: the form's own values (its paths) make a topology, and a
    /// problem with a field comes back under that field's path.
    @Test func theFormsKeysAreTheParsersFields() throws {
        let form = SetupForm(path: "/srv/t.yml", choices: SetupForm.Choices(loadBalancers: LoadBalancerKinds.standard.map(\.name),
                                                                             servers: PlatformProfile.forServers.map(\.rawValue)))
        #expect(!form.fields.isEmpty)
        #expect(TopologyDraft.problems(form.fileValues, nodes: form.nodeCount) == [])
        let keys: [SetupForm.Key] = [.seed, .node(1, .host), .node(2, .reach), .loadBalancer(.listenPort), .loadBalancer(.host)]
        for key in keys {
            var values = form.fileValues
            values[key.path] = "bad value!"
            let problems = TopologyDraft.problems(values, nodes: form.nodeCount)
            #expect(problems.contains { $0.field == key.path }, "\(key): \(problems.map(\.field))")
        }
    }

    /// The profile is a value like the others: the form's, else the topology's default.
    @Test func theProfileIsTheFormsValueOrTheDefault() throws {
        #expect(try TopologyParser.parse(TopologyDraft.yaml(Self.good, nodes: 3)).nodes.map(\.profile) == Array(repeating: ProfileName.standard, count: 3))
        var v = Self.good
        v["nodes[1].profile"] = "sandbox"
        #expect(TopologyDraft.problems(v, nodes: 3).map(\.field) == ["nodes[1].sandbox_dir"])
        v["nodes[1].profile"] = "windows98"
        #expect(TopologyDraft.problems(v, nodes: 3).map(\.field) == ["nodes[1].profile"])
        // The form's Servers choice gives every node the windows profile; the load balancer stays on Debian.
        var w = Self.good
        w["servers"] = "windows"
        let t = try TopologyParser.parse(TopologyDraft.yaml(w, nodes: 3))
        #expect(t.nodes.map(\.profile) == [.windows, .windows, .windows] && t.loadBalancer?.profile == .debian)
    }

    @Test func onlyTheShownNodesAndNoLoadBalancerWhenItIsNone() throws {
        var v = Self.good
        v["load_balancer.kind"] = "none"
        v["load_balancer.listen_port"] = "not a port"
        let t = try TopologyParser.parse(TopologyDraft.yaml(v, nodes: 2))
        #expect(t.nodes.count == 2)
        #expect(t.loadBalancer == nil)
    }

    @Test(arguments: [
        ("nodes[1].host", "Bad;host", "nodes[1].host"),
        ("nodes[1].host", "ServerA", "nodes"),  // the same host and ports as node 1
        ("nodes[0].name", "server-b", "nodes"),  // two nodes with one name
        ("cluster.seed", "server-x", "cluster.seed"),
        ("load_balancer.listen_port", "70000", "load_balancer.listen_port"),
        ("load_balancer.listen_port", "56a", "load_balancer.listen_port"),
        ("nodes[2].reach", "ssh://root@ServerC:0", "nodes[2].reach"),
        // Quotes and backslashes stay inside the one value: no YAML of the operator's making gets in.
        ("nodes[0].host", "a\"\nkind: haproxy", "nodes[0].host"),
        ("nodes[0].host", "x\\\" , y", "nodes[0].host"),
    ])
    func aBadValueIsReportedOnItsField(key: String, value: String, field: String) {
        var v = Self.good
        v[key] = value
        let problems = TopologyDraft.problems(v, nodes: 3)
        #expect(problems.contains { $0.field == field }, "\(key) = \(value.debugDescription): \(problems.map(\.description))")
    }
}
