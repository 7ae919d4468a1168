/// The first-time setup form: the topology as fields (the nodes, how each is reached, the seed, the
/// partition strategy, the load balancer). Values are checked by the engine as they are typed (the same
/// parser as a topology file); Enter saves the file once nothing is wrong.
public struct SetupForm: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case text
        /// Space cycles through the options.
        case choice([String])
    }

    /// What a field sets. Its ``path`` is the topology file's (`nodes[1].host`, `load_balancer.kind`): the
    /// name the engine writes the value under and the parser names a problem by.
    public enum Key: Hashable, Sendable, CustomStringConvertible {
        /// How many nodes the form shows (not written to the file).
        case nodeCount
        /// The platform of every node (each node's `profile:` in the file), one of ``Choices/servers``.
        case servers
        case seed
        case partitionHandling
        case node(Int, Node)
        case loadBalancer(LoadBalancer)

        /// A node's values, in the order the form shows them.
        public enum Node: String, Sendable, CaseIterable {
            case name, host, nodeName = "node_name", reach
        }
        /// The load balancer's values, in the order the form shows them.
        public enum LoadBalancer: String, Sendable, CaseIterable {
            case kind, host, listenPort = "listen_port", reach
        }

        public var path: String {
            switch self {
            case .nodeCount: "nodes"
            case .servers: "servers"
            case .seed: "cluster.seed"
            case .partitionHandling: "cluster.partition_handling"
            case .node(let i, let value): "nodes[\(i)].\(value.rawValue)"
            case .loadBalancer(let value): "load_balancer.\(value.rawValue)"
            }
        }

        public var description: String { path }
    }

    public struct Field: Sendable, Equatable {
        public var key: Key
        public var label: String
        public var kind: Kind
        public var value: String
    }

    /// One problem the engine found, by the topology file's path of its field (``Key/path``; another path,
    /// such as `(file)`, for the whole topology).
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
        /// Load balancer kinds the wizard does not reach (the site's own): no `reached by` field.
        public var unreachedLoadBalancers: Set<String>
        public init(loadBalancers: [String], servers: [String], unreachedLoadBalancers: Set<String> = []) {
            self.loadBalancers = loadBalancers
            self.servers = servers
            self.unreachedLoadBalancers = unreachedLoadBalancers
        }
    }

    public static let maxNodes = 9

    /// Where the file will be written.
    public var path: String
    public var choices: Choices
    public var fields: [Field] = []
    public var cursor = 0
    public var problems: [Problem] = []
    /// Esc was pressed once: a second Esc quits without saving.
    public var escapePressed = false

    public init(path: String, choices: Choices, values: [Key: String] = [:]) {
        self.path = path
        self.choices = choices
        var v = SetupForm.defaults(nodes: Int(values[.nodeCount] ?? "") ?? 3, choices: choices)
        v.merge(values) { $1 }
        rebuild(v)
    }

    public var values: [Key: String] { Dictionary(fields.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) }
    /// The shown values by the topology file's paths: what the engine checks and writes.
    public var fileValues: [String: String] { Dictionary(fields.map { ($0.key.path, $0.value) }, uniquingKeysWith: { a, _ in a }) }
    public var nodeCount: Int { min(max(Int(values[.nodeCount] ?? "") ?? 3, 2), Self.maxNodes) }
    public var current: Field? { fields.indices.contains(cursor) ? fields[cursor] : nil }

    static func letter(_ i: Int) -> String { String(UnicodeScalar(UInt8(97 + i))) }

    /// Example values, as in Resources/topology.example.yml, for `nodes` nodes.
    static func defaults(nodes: Int, choices: Choices) -> [Key: String] {
        var v: [Key: String] = [.nodeCount: "\(nodes)", .servers: choices.servers.first ?? "", .partitionHandling: nodes >= 3 ? "pause_minority" : "autoheal",
                                .seed: "server-a", .loadBalancer(.kind): choices.loadBalancers.first ?? "none", .loadBalancer(.host): "LB",
                                .loadBalancer(.listenPort): "5672", .loadBalancer(.reach): "ssh://root@LB"]
        for i in 0..<SetupForm.maxNodes {
            let host = "Server" + letter(i).uppercased()
            v[.node(i, .name)] = "server-\(letter(i))"
            v[.node(i, .host)] = host
            v[.node(i, .nodeName)] = ""
            v[.node(i, .reach)] = "ssh://root@\(host)"
        }
        return v
    }

    /// Lays the fields out again (after the node count changed), keeping every value typed so far.
    mutating func rebuild(_ v: [Key: String]) {
        let n = min(max(Int(v[.nodeCount] ?? "") ?? 3, 2), Self.maxNodes)
        let counts = (2...Self.maxNodes).map(String.init)
        var f = [Field(key: .nodeCount, label: "Nodes", kind: .choice(counts), value: "\(n)"),
                 Field(key: .partitionHandling, label: "Partition handling", kind: .choice(["pause_minority", "autoheal", "ignore"]),
                       value: v[.partitionHandling] ?? "autoheal"),
                 Field(key: .seed, label: "Seed (kept data)", kind: .text, value: v[.seed] ?? "")]
        for i in 0..<n {
            let labels: [Key.Node: String] = [.name: "Node \(i + 1) name", .host: "  host", .nodeName: "  node name", .reach: "  reached by"]
            for value in Key.Node.allCases {
                f.append(Field(key: .node(i, value), label: labels[value]!, kind: .text, value: v[.node(i, value)] ?? ""))
            }
        }
        // The servers' platform, as the engine offers them (Debian's packages, or Windows Server as OutSystems
        // installs RabbitMQ there; the load balancer stays on a Debian host).
        f.append(Field(key: .servers, label: "Servers", kind: .choice(choices.servers), value: v[.servers] ?? choices.servers.first ?? ""))
        f.append(Field(key: .loadBalancer(.kind), label: "Load balancer", kind: .choice(choices.loadBalancers + ["none"]),
                       value: v[.loadBalancer(.kind)] ?? "none"))
        if (v[.loadBalancer(.kind)] ?? "none") != "none" {
            let labels: [Key.LoadBalancer: String] = [.host: "  address for clients", .listenPort: "  port", .reach: "  reached by"]
            let unreached = choices.unreachedLoadBalancers.contains(v[.loadBalancer(.kind)] ?? "")
            for value in Key.LoadBalancer.allCases where value != .kind && !(unreached && value == .reach) {
                f.append(Field(key: .loadBalancer(value), label: labels[value]!, kind: .text, value: v[.loadBalancer(value)] ?? ""))
            }
        }
        // Values of hidden fields (nodes beyond the count, a load balancer switched off) are kept for later.
        hidden = v.filter { key, _ in !f.contains { $0.key == key } }
        fields = f
        cursor = min(cursor, fields.count - 1)
    }

    /// Values of fields not shown now.
    var hidden: [Key: String] = [:]

    /// All values, hidden ones included (what the engine checks and saves uses only the shown ones).
    var allValues: [Key: String] { hidden.merging(values) { $1 } }

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
        if field.key == .nodeCount || field.key == .loadBalancer(.kind) { rebuild(allValues) }
    }

    mutating func erase() {
        guard var field = current, case .text = field.kind, !field.value.isEmpty else { return }
        field.value.removeLast()
        fields[cursor] = field
    }

    /// Problems of one field.
    public func problems(of key: Key) -> [String] { problems.filter { $0.field == key.path }.map(\.message) }
    /// Problems that belong to no shown field (duplicates across nodes, the file as a whole).
    public var generalProblems: [String] { problems.filter { p in !fields.contains { $0.key.path == p.field } }.map(\.message) }
}
