import Testing
import WizardTUI
import Workflow

/// The first-time setup form: keys edit fields, choices cycle, the node count lays the form out again,
/// problems from the engine block saving, Esc twice leaves.
@Suite struct SetupFormTests {
    /// What the product's engine offers today (its registries: `LoadBalancerKinds.standard`, `PlatformProfile.forServers`).
    static let choices = SetupForm.Choices(loadBalancers: ["nginx", "haproxy"], servers: ["debian", "windows"])

    static func opened(_ choices: SetupForm.Choices = Self.choices) -> (AppState, [EngineRequest]) {
        var s = AppState()
        let r = Wizard.update(&s, .engine(.setup(path: "/srv/topology.yml", choices: choices)))
        return (s, r)
    }

    /// The choices are the engine's: a kind or platform it registers is offered with no change to the form.
    @Test func theFormOffersWhatTheEngineRegisters() throws {
        let (s, _) = Self.opened(SetupForm.Choices(loadBalancers: ["nginx", "testproxy"], servers: ["debian", "plan9"]))
        let form = try #require(s.form)
        let kinds = try #require(form.fields.first { $0.key == .loadBalancer(.kind) })
        let servers = try #require(form.fields.first { $0.key == .servers })
        #expect(kinds.kind == .choice(["nginx", "testproxy", "none"]) && kinds.value == "nginx")
        #expect(servers.kind == .choice(["debian", "plan9"]) && servers.value == "debian")
    }

    /// A load balancer the wizard does not reach (the site's own) has an address and a port, no `reached by`.
    @Test func anUnreachedLoadBalancerHasNoReachField() throws {
        let (s, _) = Self.opened(SetupForm.Choices(loadBalancers: ["external", "nginx"], servers: ["debian"], unreachedLoadBalancers: ["external"]))
        let keys = try #require(s.form).fields.map(\.key)
        #expect(keys.contains(.loadBalancer(.host)) && keys.contains(.loadBalancer(.listenPort)) && !keys.contains(.loadBalancer(.reach)), "\(keys)")
        let (managed, _) = Self.opened()
        #expect(try #require(managed.form).fields.map(\.key).contains(.loadBalancer(.reach)))
    }

    @Test func theFormOpensWithExampleValuesAndAsksForACheck() throws {
        let (s, r) = Self.opened()
        let form = try #require(s.form)
        #expect(s.view == .setup)
        #expect(form.nodeCount == 3)
        #expect(form.values[.node(2, .host)] == "ServerC")
        #expect(form.values[.partitionHandling] == "pause_minority")
        #expect(r == [.validate(form.fileValues, nodes: 3)])
        #expect(form.fileValues["nodes[2].host"] == "ServerC" && form.fileValues["cluster.partition_handling"] == "pause_minority", "the engine gets the file's paths")
    }

    @Test func lettersTypeIntoTheFieldInsteadOfActing() throws {
        var (s, _) = Self.opened()
        for _ in 0..<4 { _ = KeyMapTests.press(&s, .down) }  // Node 1 host
        #expect(s.form?.current?.key == .node(0, .host))
        KeyMapTests.press(&s, .backspace, .backspace)
        let r = KeyMapTests.typing(&s, "qlu")  // q, l and u would quit, log and roll back outside the form
        #expect(s.form?.values[.node(0, .host)] == "Serveqlu")
        #expect(s.exit == nil)
        #expect(s.view == .setup)
        #expect(r.count == 3)
        #expect(r.last == .validate(s.form!.fileValues, nodes: 3))
    }

    @Test func spaceCyclesAChoiceAndTheNodeCountReshapesTheForm() throws {
        var (s, _) = Self.opened()
        KeyMapTests.press(&s, .down, .char(" "))
        #expect(s.form?.values[.partitionHandling] == "autoheal")
        KeyMapTests.press(&s, .up)
        let before = s.form!.fields.count
        KeyMapTests.press(&s, .char(" "))  // 3 -> 4 nodes
        #expect(s.form?.nodeCount == 4)
        #expect(s.form!.fields.count == before + 4)
        #expect(s.form?.values[.node(3, .host)] == "ServerD")
        // Typing into a text field does not cycle, and a choice ignores letters.
        KeyMapTests.press(&s, .char("x"))
        #expect(s.form?.nodeCount == 4)
    }

    @Test func valuesOfHiddenNodesComeBackWhenTheCountGrowsAgain() throws {
        var (s, _) = Self.opened()
        for _ in 0..<11 { KeyMapTests.press(&s, .down) }  // Node 3 name
        #expect(s.form?.current?.key == .node(2, .name))
        _ = KeyMapTests.typing(&s, "-x")
        KeyMapTests.press(&s, .home)  // not a form key: nothing
        for _ in 0..<11 { KeyMapTests.press(&s, .up) }
        for _ in 0..<7 { KeyMapTests.press(&s, .char(" ")) }  // 3 -> 9 -> 2 nodes
        #expect(s.form?.nodeCount == 2)
        #expect(s.form?.values[.node(2, .name)] == nil)
        KeyMapTests.press(&s, .char(" "))  // 2 -> 3
        #expect(s.form?.values[.node(2, .name)] == "server-c-x")
    }

    @Test func enterSavesOnlyWhenNothingIsWrong() throws {
        var (s, _) = Self.opened()
        _ = Wizard.update(&s, .engine(.validated([SetupForm.Problem(field: "nodes[1].host", message: "not a valid host name")])))
        #expect(KeyMapTests.press(&s, .enter) == [])
        #expect(s.message?.text.contains("fix the 1 problem(s)") == true)
        _ = Wizard.update(&s, .engine(.validated([])))
        #expect(KeyMapTests.press(&s, .enter) == [.save(s.form!.fileValues, nodes: 3, path: "/srv/topology.yml")])
        _ = Wizard.update(&s, .engine(.saved(path: "/srv/topology.yml")))
        #expect(s.form == nil)
        #expect(s.view == .overview)
        #expect(s.message?.text.contains("wrote /srv/topology.yml") == true)
    }

    @Test func escTwiceLeavesWithoutSavingAndOneEscIsForgiven() {
        var (s, _) = Self.opened()
        KeyMapTests.press(&s, .escape)
        #expect(s.exit == nil)
        #expect(s.message?.text.contains("Esc again") == true)
        KeyMapTests.press(&s, .down, .escape)
        #expect(s.exit == nil)
        KeyMapTests.press(&s, .escape)
        #expect(s.exit?.code == 0)
    }

    @Test func theFormShowsEachProblemUnderItsFieldAndTheAdviceForTheNodeCount() {
        var (s, _) = Self.opened()
        _ = Wizard.update(&s, .engine(.validated([SetupForm.Problem(field: "cluster.seed", message: "names no node. Fix: use server-a"),
                                                  SetupForm.Problem(field: "nodes", message: "two nodes are named server-a")])))
        let text = Render.render(s, TerminalSize(rows: 40, cols: 120)).text
        let lines = text.split(separator: "\n").map(String.init)
        let seed = lines.firstIndex { $0.contains("Seed (kept data)") }!
        #expect(lines[seed + 1].contains("names no node. Fix: use server-a"))
        #expect(lines.prefix(seed).contains { $0.contains("two nodes are named server-a") })
        #expect(text.contains("pause_minority is recommended for 3 nodes"))
        #expect(text.contains("2 problem(s)"))
    }
}
