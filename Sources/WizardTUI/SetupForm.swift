/// The first-time setup form: the topology as fields (the nodes, how each is reached, the seed, the
/// partition strategy, the load balancer). Values are checked by the engine as they are typed (the same
/// parser as a topology file); Enter saves the file once nothing is wrong.
public struct SetupForm: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case text
        /// Space cycles through the options.
        case choice([String])
    }

    public struct Field: Sendable, Equatable {
        /// The topology file's path of the value: `nodes[1].host`, `load_balancer.kind`.
        public var key: String
        public var label: String
        public var kind: Kind
        public var value: String
    }

    /// One problem the engine found, by field key (or `general` for the whole topology).
    public struct Problem: Sendable, Equatable {
        public var field: String
        public var message: String
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    /// What the choice fields offer, from the engine's registries (the screen knows no kind or platform).
    public struct Choices: Sendable, Equatable {
        /// Load balancer kinds by name; the form adds `none`.
        public var loadBalancers: [String]
        /// Server platforms (profiles) by name; the first is the default.
        public var servers: [String]
        public init(loadBalancers: [String], servers: [String]) {
            self.loadBalancers = loadBalancers
            self.servers = servers
        }
    }

    public static let nodeCountKey = "nodes"
    /// The platform of every node (`profile:` in the file), one of ``Choices/servers``.
    public static let serversKey = "servers"
    public static let maxNodes = 9

    /// Where the file will be written.
    public var path: String
    public var choices: Choices
    public var fields: [Field] = []
    public var cursor = 0
    public var problems: [Problem] = []
    /// Esc was pressed once: a second Esc quits without saving.
    public var escapePressed = false

    public init(path: String, choices: Choices, values: [String: String] = [:]) {
        self.path = path
        self.choices = choices
        var v = SetupForm.defaults(nodes: Int(values[Self.nodeCountKey] ?? "") ?? 3, choices: choices)
        v.merge(values) { $1 }
        rebuild(v)
    }

    public var values: [String: String] { Dictionary(fields.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) }
    public var nodeCount: Int { min(max(Int(values[Self.nodeCountKey] ?? "") ?? 3, 2), Self.maxNodes) }
    public var current: Field? { fields.indices.contains(cursor) ? fields[cursor] : nil }

    static func letter(_ i: Int) -> String { String(UnicodeScalar(UInt8(97 + i))) }

    /// Example values, as in Resources/topology.example.yml, for `nodes` nodes.
    static func defaults(nodes: Int, choices: Choices) -> [String: String] {
        var v = [Self.nodeCountKey: "\(nodes)", Self.serversKey: choices.servers.first ?? "", "cluster.partition_handling": nodes >= 3 ? "pause_minority" : "autoheal",
                 "cluster.seed": "server-a", "load_balancer.kind": choices.loadBalancers.first ?? "none", "load_balancer.host": "LB", "load_balancer.listen_port": "5672",
                 "load_balancer.reach": "ssh://root@LB"]
        for i in 0..<SetupForm.maxNodes {
            let host = "Server" + letter(i).uppercased()
            v["nodes[\(i)].name"] = "server-\(letter(i))"
            v["nodes[\(i)].host"] = host
            v["nodes[\(i)].node_name"] = ""
            v["nodes[\(i)].reach"] = "ssh://root@\(host)"
        }
        return v
    }

    /// Lays the fields out again (after the node count changed), keeping every value typed so far.
    mutating func rebuild(_ v: [String: String]) {
        let n = min(max(Int(v[Self.nodeCountKey] ?? "") ?? 3, 2), Self.maxNodes)
        let counts = (2...Self.maxNodes).map(String.init)
        var f = [Field(key: Self.nodeCountKey, label: "Nodes", kind: .choice(counts), value: "\(n)"),
                 Field(key: "cluster.partition_handling", label: "Partition handling", kind: .choice(["pause_minority", "autoheal", "ignore"]),
                       value: v["cluster.partition_handling"] ?? "autoheal"),
                 Field(key: "cluster.seed", label: "Seed (kept data)", kind: .text, value: v["cluster.seed"] ?? "")]
        for i in 0..<n {
            f.append(Field(key: "nodes[\(i)].name", label: "Node \(i + 1) name", kind: .text, value: v["nodes[\(i)].name"] ?? ""))
            f.append(Field(key: "nodes[\(i)].host", label: "  host", kind: .text, value: v["nodes[\(i)].host"] ?? ""))
            f.append(Field(key: "nodes[\(i)].node_name", label: "  node name", kind: .text, value: v["nodes[\(i)].node_name"] ?? ""))
            f.append(Field(key: "nodes[\(i)].reach", label: "  reached by", kind: .text, value: v["nodes[\(i)].reach"] ?? ""))
        }
        // The servers' platform, as the engine offers them (Debian's packages, or Windows Server as OutSystems
        // installs RabbitMQ there; the load balancer stays on a Debian host).
        f.append(Field(key: Self.serversKey, label: "Servers", kind: .choice(choices.servers), value: v[Self.serversKey] ?? choices.servers.first ?? ""))
        f.append(Field(key: "load_balancer.kind", label: "Load balancer", kind: .choice(choices.loadBalancers + ["none"]),
                       value: v["load_balancer.kind"] ?? "none"))
        if (v["load_balancer.kind"] ?? "none") != "none" {
            f.append(Field(key: "load_balancer.host", label: "  address for clients", kind: .text, value: v["load_balancer.host"] ?? ""))
            f.append(Field(key: "load_balancer.listen_port", label: "  port", kind: .text, value: v["load_balancer.listen_port"] ?? ""))
            f.append(Field(key: "load_balancer.reach", label: "  reached by", kind: .text, value: v["load_balancer.reach"] ?? ""))
        }
        // Values of hidden fields (nodes beyond the count, a load balancer switched off) are kept for later.
        hidden = v.filter { key, _ in !f.contains { $0.key == key } }
        fields = f
        cursor = min(cursor, fields.count - 1)
    }

    /// Values of fields not shown now.
    var hidden: [String: String] = [:]

    /// All values, hidden ones included (what the engine checks and saves uses only the shown ones).
    var allValues: [String: String] { hidden.merging(values) { $1 } }

    /// Advice for the partition strategy, by node count.
    public var partitionAdvice: String {
        nodeCount >= 3
            ? "pause_minority is recommended for \(nodeCount) nodes: the smaller side of a split pauses until the network is back"
            : "with 2 nodes pause_minority would pause both sides of a split: autoheal (the guide's choice) restarts the losing side"
    }

    /// Edits the field under the cursor: a character for text, Space (or any key) cycles a choice.
    mutating func type(_ c: Character) {
        guard var field = current else { return }
        switch field.kind {
        case .text:
            field.value.append(c)
        case .choice(let options):
            guard c == " ", !options.isEmpty else { return }
            let i = options.firstIndex(of: field.value) ?? -1
            field.value = options[(i + 1) % options.count]
        }
        fields[cursor] = field
        if field.key == Self.nodeCountKey || field.key == "load_balancer.kind" { rebuild(allValues) }
    }

    mutating func erase() {
        guard var field = current, case .text = field.kind, !field.value.isEmpty else { return }
        field.value.removeLast()
        fields[cursor] = field
    }

    /// Problems of one field.
    public func problems(of key: String) -> [String] { problems.filter { $0.field == key }.map(\.message) }
    /// Problems that belong to no shown field (duplicates across nodes, the file as a whole).
    public var generalProblems: [String] { problems.filter { p in !fields.contains { $0.key == p.field } }.map(\.message) }
}
