import Executor
import Foundation
import Yams

/// The cluster as the operator describes it: nodes, how to reach each, the seed, the partition handling
/// strategy, the load balancer. Every value is validated into a type before any command runs.
public struct Topology: Sendable, Equatable {
    /// The cluster's members once applied.
    public var nodes: [NodeSpec]
    /// Members that leave the cluster (`leave: true`): kept in the topology so the wizard can reach them
    /// to reset them; no other step touches them, and the load balancer no longer lists them.
    public var leaving: [NodeSpec] = []
    public var seedName: String
    public var partitionHandling: PartitionHandling
    public var loadBalancer: LoadBalancerSpec?
    public var outsystems = OutSystemsSpec()
    public var stateDir: String?
    /// How the failover drill fails each node and what it accepts (flags of the front ends, not the file).
    public var drill = DrillSettings()

    public var seed: NodeSpec { nodes.first { $0.name == seedName }! }
    public var joiners: [NodeSpec] { nodes.filter { $0.name != seedName } }

    public init(nodes: [NodeSpec], seedName: String, partitionHandling: PartitionHandling = .autoheal,
                loadBalancer: LoadBalancerSpec? = nil, stateDir: String? = nil)
    {
        self.nodes = nodes
        self.seedName = seedName
        self.partitionHandling = partitionHandling
        self.loadBalancer = loadBalancer
        self.stateDir = stateDir
    }
}

/// `cluster_partition_handling` values the wizard sets.
public enum PartitionHandling: String, Sendable, Codable, CaseIterable {
    case autoheal
    case pauseMinority = "pause_minority"
    case ignore
}

/// One RabbitMQ server.
public struct NodeSpec: Sendable, Hashable {
    /// Short label for output and flags (`server-a`).
    public var name: String
    /// The host name the nodes use for each other; case matters.
    public var host: HostName
    public var nodeName: NodeName
    public var target: Target
    public var profile: ProfileName
    public var amqpPort: Int
    public var distPort: Int
    public var epmdPort: Int
    /// The node's folder, for the sandbox profile.
    public var sandboxDir: String?
    /// Whether the topology gave `node_name` (else it is `rabbit@HOST`): the field a wrong name is fixed in.
    public var nodeNameGiven: Bool
    /// For the windows profile: what a read-only look at the server found (``Topology/discovered(executor:)``),
    /// nil before that look.
    public var layout: LayoutDiscovery?

    public init(name: String, host: HostName, nodeName: NodeName? = nil, target: Target = .local, profile: ProfileName = .standard,
                amqpPort: Int = 5672, distPort: Int? = nil, epmdPort: Int = 4369, sandboxDir: String? = nil)
    {
        self.name = name
        self.host = host
        self.nodeName = nodeName ?? NodeName(name: "rabbit", host: host)
        nodeNameGiven = nodeName != nil
        self.target = target
        self.profile = profile
        self.amqpPort = amqpPort
        self.distPort = distPort ?? amqpPort + 20000
        self.epmdPort = epmdPort
        self.sandboxDir = sandboxDir
    }
}

/// `rabbit@ServerA`: compared exactly, case included.
public struct NodeName: Sendable, Hashable, Codable, CustomStringConvertible {
    public var name: String
    public var host: HostName

    public init(name: String, host: HostName) {
        self.name = name
        self.host = host
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64,
            parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }),
            let host = try? HostName(String(parts[1]))
        else { return nil }
        name = String(parts[0])
        self.host = host
    }

    public var description: String { "\(name)@\(host.value)" }
}

/// A platform as a topology names it (`profile: debian`): the key of ``PlatformProfile/all``, where each
/// platform is one value; the names are declared beside their profiles.
public struct ProfileName: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public var description: String { rawValue }
}

/// The TCP load balancer in front of the cluster (used by the load-balancer steps): one the wizard
/// configures (``kind``), or the site's own (`kind: external`), which the wizard only checks through.
public struct LoadBalancerSpec: Sendable, Equatable {
    /// What kind of load balancer the wizard configures, as a value (``LoadBalancerKinds``): its program,
    /// files and layout. nil: an external one at ``host``:``listenPort``, on which nothing is changed
    /// (``target``, ``profile``, ``configPath`` and ``sandboxDir`` are then unused).
    public var kind: (any LoadBalancerKind)?
    public var target: Target
    /// The address clients (OutSystems) use.
    public var host: HostName
    public var listenAddress: HostName
    public var listenPort: Int
    public var configPath: String?
    /// The platform of its host: one where ``PlatformProfile/loadBalancerRefusal`` is nil.
    public var profile: ProfileName = .standard
    /// For the sandbox profile: the folder the load balancer runs from.
    public var sandboxDir: String?
    /// Seconds a connection may stay idle; must exceed the AMQP heartbeat traffic interval.
    public var idleTimeout: Int = 3600
    /// A highly available pair: the two hosts that each run the same load balancer, the first preferred,
    /// with keepalived holding ``host`` (then the floating address, IPv4) on the one whose load balancer
    /// answers. Empty: one host (``target``).
    public var pair: [PairHost] = []
    /// keepalived's `virtual_router_id` for the pair (1-255): one VRRP instance per cluster on a network;
    /// by default the floating address's last byte.
    public var routerID = 51

    /// One host of a pair: its own address (the host of its `reach`), how it is reached, and the interface
    /// for the floating address (nil: the one whose subnet holds it, found on the host).
    public struct PairHost: Sendable, Equatable {
        public var host: HostName
        public var target: Target
        public var interface: String?

        public init(host: HostName, target: Target, interface: String? = nil) {
            self.host = host
            self.target = target
            self.interface = interface
        }
    }

    public var isPair: Bool { !pair.isEmpty }

    /// The hosts a load balancer is configured on, each as a spec of its own: this one, or each host of the
    /// pair, listening on every address (so it takes connections for the floating address once it holds it)
    /// and reached at its own address.
    public var members: [LoadBalancerSpec] {
        guard isPair else { return [self] }
        return pair.map { p in
            var m = self
            m.host = p.host
            m.target = p.target
            m.listenAddress = try! HostName("0.0.0.0")
            m.pair = []
            return m
        }
    }

    /// The address a client dials to reach the load balancer: the listen address, unless that is the
    /// wildcard, then the host's name. Used by the probes, the drill and the OutSystems hand-off.
    public var clientHost: String { listenAddress.value == "0.0.0.0" ? host.value : listenAddress.value }

    /// `kind:` as the topology writes it.
    public var kindName: String { kind?.name ?? LoadBalancerSpec.external }
    public var isExternal: Bool { kind == nil }
    /// The load balancer in a sentence: `nginx`, `the external load balancer`.
    public var words: String { kind?.name ?? "the external load balancer" }
    public static let external = "external"

    /// The site's own load balancer at `host:port`.
    public static func external(host: HostName, port: Int, idleTimeout: Int = 3600) -> LoadBalancerSpec {
        LoadBalancerSpec(kind: nil, target: .local, host: host, listenAddress: host, listenPort: port, idleTimeout: idleTimeout)
    }

    public init(kind: (any LoadBalancerKind)?, target: Target, host: HostName, listenAddress: HostName, listenPort: Int,
                configPath: String? = nil, profile: ProfileName = .standard, sandboxDir: String? = nil, idleTimeout: Int = 3600)
    {
        self.kind = kind
        self.target = target
        self.host = host
        self.listenAddress = listenAddress
        self.listenPort = listenPort
        self.configPath = configPath
        self.profile = profile
        self.sandboxDir = sandboxDir
        self.idleTimeout = idleTimeout
    }

    public static func == (a: LoadBalancerSpec, b: LoadBalancerSpec) -> Bool {
        a.kindName == b.kindName && a.target == b.target && a.host == b.host && a.listenAddress == b.listenAddress
            && a.listenPort == b.listenPort && a.configPath == b.configPath && a.profile == b.profile && a.sandboxDir == b.sandboxDir
            && a.idleTimeout == b.idleTimeout && a.pair == b.pair && a.routerID == b.routerID
    }
}

/// What the OutSystems Configuration Tool's Cache tab will use.
public struct OutSystemsSpec: Sendable, Equatable {
    public var vhost: String = "/outsystems"
    public var username: String = "outsystems"
}

/// A problem in the topology file: which field, where, what value, and how to fix it.
public struct TopologyProblem: Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var line: Int?
    public var value: String?
    public var message: String
    public var fix: String

    public var description: String {
        let shown = value.map { $0.count > 80 ? String($0.prefix(77)) + "..." : $0 }
        return "\(line.map { "line \($0): " } ?? "")\(field)\(shown.map { " = \($0.debugDescription)" } ?? ""): \(message). Fix: \(fix)"
    }
}

public enum TopologyError: Error, Sendable, Equatable {
    case unreadable(String, String)
    case syntax(String, String)
    case invalid(String, [TopologyProblem])
}
