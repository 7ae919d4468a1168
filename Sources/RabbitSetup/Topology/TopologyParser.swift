import Executor
import Foundation
import Glibc
import Workflow
import Yams

/// Reads a topology file into a ``Topology``, collecting every problem with its line.
public enum TopologyParser {
    /// A topology larger than this is not one (a wrong file given by mistake).
    static let maxBytes = 1 << 20

    public static func load(path: String) throws(TopologyError) -> Topology {
        let bytes = try read(path)
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) || bytes.contains(0) {
            throw .unreadable(path, "it is UTF-16 or holds NUL bytes: save it as UTF-8")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .unreadable(path, "it is not UTF-8 text (byte \(firstInvalidUTF8(bytes) + 1)): save it as UTF-8")
        }
        return try parse(text, file: path)
    }

    /// Offset of the first byte that does not decode as UTF-8.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput, .error: return offset
            }
        }
    }

    /// The file's bytes, or why not in words: missing, a dangling link, a link loop, a directory, not a
    /// regular file, too large, not readable.
    static func read(_ path: String) throws(TopologyError) -> [UInt8] {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw .unreadable(path, errno == ENOENT ? "no such file" : String(cString: strerror(errno)))
        }
        if (st.st_mode & S_IFMT) == S_IFLNK, stat(path, &st) != 0 {
            if errno == ELOOP { throw .unreadable(path, "a symlink loop") }
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
            throw .unreadable(path, "a symlink to \(target), which does not exist")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .unreadable(path, "a directory, not a file")
        default: throw .unreadable(path, "not a regular file (a FIFO, socket or device)")
        }
        if Int(st.st_size) > maxBytes { throw .unreadable(path, "\(st.st_size) bytes: too large for a topology file (at most \(maxBytes))") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .unreadable(path, errno == EACCES ? "permission denied: run as a user who may read it, or make it readable"
                                : String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count <= maxBytes {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw .unreadable(path, String(cString: strerror(errno))) }
            if n == 0 { break }
            out += buffer[..<n]
        }
        return out
    }

    /// What a parser's message may show of the file: control characters escaped, each line at most 160
    /// characters, at most 12 lines.
    static func excerpt(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).prefix(12).map { line -> String in
            let escaped = line.unicodeScalars.map { c -> String in
                c.value < 0x20 && c != "\t" || c.value == 0x7F ? String(format: "\\x%02X", c.value) : String(c)
            }.joined()
            return escaped.count > 160 ? String(escaped.prefix(157)) + "..." : escaped
        }.joined(separator: "\n")
    }

    public static func parse(_ text: String, file: String = "topology") throws(TopologyError) -> Topology {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw TopologyError.invalid(file, [TopologyProblem(field: "(file)", message: "the file is empty",
                                                                   fix: "start from Resources/topology.example.yml")])
            }
            root = node
        } catch let e as TopologyError {
            throw e
        } catch {
            throw .syntax(file, excerpt("\(error)"))
        }
        var p = Reader()
        let topology = p.topology(root)
        if !p.problems.isEmpty || topology == nil { throw .invalid(file, p.problems) }
        return topology!
    }

    /// Walks the YAML nodes; every accessor records a problem instead of throwing, so all are reported.
    struct Reader {
        var problems: [TopologyProblem] = []

        mutating func problem(_ field: String, _ node: Node?, _ message: String, fix: String) {
            problems.append(TopologyProblem(field: field, line: node?.mark?.line, value: node?.scalar?.string,
                                            message: message, fix: fix))
        }

        mutating func mapping(_ node: Node?, _ field: String, allowed: [String]) -> [String: Node]? {
            guard let node else { return nil }
            guard let m = node.mapping else {
                problem(field, node, "expected a mapping (key: value lines)", fix: "indent the keys of \(field) under it")
                return nil
            }
            var out: [String: Node] = [:]
            for (k, v) in m {
                guard let key = k.string else { continue }
                if !allowed.contains(key) {
                    problem(field.isEmpty ? key : "\(field).\(key)", k, "unknown key",
                            fix: "use one of: \(allowed.joined(separator: ", ")) (check the spelling)")
                    continue
                }
                out[key] = v
            }
            return out
        }

        mutating func string(_ m: [String: Node], _ key: String, _ field: String, required: Bool) -> String? {
            guard let node = m[key] else {
                if required { problem("\(field).\(key)", nil, "missing", fix: "add \(key): to \(field.isEmpty ? "the file" : field)") }
                return nil
            }
            guard let s = node.scalar?.string, !s.isEmpty else {
                problem("\(field).\(key)", node, "expected a value", fix: "write a single value after \(key):")
                return nil
            }
            if s.contains(where: { $0.isNewline || $0 == "\0" }) {
                problem("\(field).\(key)", node, "contains a line break", fix: "put the value on one line")
                return nil
            }
            return s
        }

        mutating func port(_ m: [String: Node], _ key: String, _ field: String, default value: Int?) -> Int? {
            guard let node = m[key] else { return value }
            guard let text = node.scalar?.string, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let n = Int(text) else {
                problem("\(field).\(key)", node, "not a number", fix: "write a port number from 1 to 65535")
                return nil
            }
            guard (1...65535).contains(n) else {
                problem("\(field).\(key)", node, "out of range", fix: "write a port number from 1 to 65535")
                return nil
            }
            return n
        }

        mutating func host(_ m: [String: Node], _ key: String, _ field: String, required: Bool = true) -> HostName? {
            guard let raw = string(m, key, field, required: required) else { return nil }
            do {
                let host = try HostName(raw)
                // A node name on an IPv6 address needs Erlang's inet6 distribution, and nginx and HAProxy need
                // it in brackets: neither is set up by the wizard.
                if host.isIPv6 {
                    problem("\(field).\(key)", m[key], "an IPv6 address, which the wizard does not set up (Erlang's inet6 distribution, brackets in the load balancer)",
                            fix: "use a host name (it may resolve to IPv6 for clients) or an IPv4 address")
                    return nil
                }
                return host
            } catch {
                problem("\(field).\(key)", m[key], "not a valid host name (\(Self.words(error)))",
                        fix: "use letters, digits, - and . only (RFC 1123), or an IPv4 address")
                return nil
            }
        }

        mutating func target(_ m: [String: Node], _ field: String) -> Target? {
            guard let raw = string(m, "reach", field, required: false) else { return .local }
            if raw == "local" { return .local }
            do { return .ssh(try SSHDestination(url: raw)) } catch {
                problem("\(field).reach", m["reach"], "not local or ssh://user@host:port",
                        fix: "write local, or ssh://user@host:port with a valid user, host and port")
                return nil
            }
        }

        mutating func path(_ m: [String: Node], _ key: String, _ field: String) -> String? {
            guard let raw = string(m, key, field, required: false) else { return nil }
            let bad = raw.first { $0 == ";" || $0 == "{" || $0 == "}" || $0 == "#" || $0 == "\"" || $0 == "'" || $0 == "$" || $0 == "`" || $0.isWhitespace }
            guard raw.hasPrefix("/"), bad == nil else {
                problem("\(field).\(key)", m[key], bad.map { "contains \($0.debugDescription)" } ?? "not an absolute path",
                        fix: "use an absolute path without spaces, quotes or ; { } # $")
                return nil
            }
            return raw
        }

        static func words(_ e: HostName.Problem) -> String {
            switch e {
            case .empty: "empty"
            case .tooLong(let n): "\(n) bytes, at most 253"
            case .badCharacter(let c): "character \(c.debugDescription) is not allowed"
            case .badLabel(let l): "label \(l.debugDescription) is not valid"
            case .notCanonicalIPv4(let a): "\(a) is not an IPv4 address in its plain form: four parts 0-255, no leading zeros"
            }
        }

        mutating func topology(_ root: Node) -> Topology? {
            guard let top = mapping(root, "", allowed: ["cluster", "nodes", "load_balancer", "outsystems", "state_dir"]) else { return nil }
            let cluster = mapping(top["cluster"], "cluster", allowed: ["seed", "partition_handling"]) ?? [:]
            if top["cluster"] == nil { problem("cluster", nil, "missing", fix: "add a cluster: section with seed:") }
            let seed = string(cluster, "seed", "cluster", required: top["cluster"] != nil)
            var strategy = PartitionHandling.autoheal
            if let raw = string(cluster, "partition_handling", "cluster", required: false) {
                if let s = PartitionHandling(rawValue: raw) { strategy = s } else {
                    problem("cluster.partition_handling", cluster["partition_handling"], "unknown strategy",
                            fix: "use autoheal (the seed guide's choice), pause_minority (recommended for 3+ nodes) or ignore")
                }
            }
            var nodes: [NodeSpec] = []
            var leavingAt: [String: (index: Int, item: Node)] = [:]
            if let list = top["nodes"] {
                guard let seq = list.sequence else {
                    problem("nodes", list, "expected a list", fix: "write each node as a '- name: ...' item")
                    return nil
                }
                for (i, item) in seq.enumerated() {
                    guard let n = node(item, "nodes[\(i)]") else { continue }
                    nodes.append(n.spec)
                    if n.leave { leavingAt[n.spec.name] = (i, item) }
                }
            } else {
                problem("nodes", nil, "missing", fix: "add a nodes: list with at least two servers")
            }
            if top["nodes"] != nil && nodes.count + problems.filter({ $0.field.hasPrefix("nodes[") }).count < 2 && problems.isEmpty {
                problem("nodes", top["nodes"], "a cluster needs at least two nodes", fix: "add the other servers (three are recommended)")
            }
            checkUnique(nodes, top["nodes"])
            if let seed, !nodes.isEmpty, !nodes.contains(where: { $0.name == seed }) {
                problem("cluster.seed", cluster["seed"], "names no node", fix: "use one of: \(nodes.map(\.name).joined(separator: ", "))")
            }
            // Shrinking: the leaving nodes keep their entries (how to reach them), the cluster is the rest.
            let leaving = nodes.filter { leavingAt[$0.name] != nil }
            nodes.removeAll { leavingAt[$0.name] != nil }
            if let seed, let at = leavingAt[seed] {
                problem("nodes[\(at.index)].leave", at.item, "the seed cannot leave the cluster",
                        fix: "choose another seed first: set cluster.seed to one of the staying nodes (\(nodes.map(\.name).joined(separator: ", "))), then apply")
            } else if !leaving.isEmpty && nodes.count < 2 {
                problem("nodes", top["nodes"], "removing \(leaving.map(\.name).joined(separator: ", ")) leaves \(nodes.count) node(s): a cluster needs at least two",
                        fix: "keep at least two nodes; to take the cluster apart, roll back \(StepID.clusterJoin) (rabbit-wizard rollback \(StepID.clusterJoin))")
            }
            let lb = top["load_balancer"].flatMap { loadBalancer($0, nodes) }
            var outsystems = OutSystemsSpec()
            if let os = mapping(top["outsystems"], "outsystems", allowed: ["vhost", "username"]) {
                if let v = string(os, "vhost", "outsystems", required: false) {
                    if v.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/_-.".contains($0)) }) { outsystems.vhost = v } else {
                        problem("outsystems.vhost", os["vhost"], "not a plain vhost name", fix: "use letters, digits and / _ - . (the default is /outsystems)")
                    }
                }
                if let u = string(os, "username", "outsystems", required: false) {
                    if u.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }) { outsystems.username = u } else {
                        problem("outsystems.username", os["username"], "not a plain user name", fix: "use letters, digits and _ - .")
                    }
                }
            }
            var stateDir = path(top, "state_dir", "")
            if let dir = stateDir, StateDirectory.isSystemFolder(dir) {
                problem("state_dir", top["state_dir"], "a system folder (or your home folder itself), never a state directory",
                        fix: "choose a folder of its own, e.g. /var/lib/rabbit-wizard or ~/.local/state/rabbit-wizard")
                stateDir = nil
            }
            guard problems.isEmpty, let seed else { return nil }
            var t = Topology(nodes: nodes, seedName: seed, partitionHandling: strategy, loadBalancer: lb, stateDir: stateDir)
            t.outsystems = outsystems
            t.leaving = leaving
            return t
        }

        mutating func node(_ item: Node, _ field: String) -> (spec: NodeSpec, leave: Bool)? {
            let before = problems.count
            guard let m = mapping(item, field, allowed: ["name", "host", "node_name", "reach", "profile", "amqp_port",
                                                         "dist_port", "epmd_port", "sandbox_dir", "leave"]) else { return nil }
            var leave = false
            if let raw = string(m, "leave", field, required: false) {
                switch raw.lowercased() {
                case "true", "yes": leave = true
                case "false", "no": leave = false
                default: problem("\(field).leave", m["leave"], "not true or false", fix: "write leave: true to take this node out of the cluster")
                }
            }
            let name = string(m, "name", field, required: true)
            if let name, !name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) || name.count > 32 {
                problem("\(field).name", m["name"], "not a short label", fix: "use lowercase letters, digits and -, e.g. server-a")
            }
            let host = host(m, "host", field)
            var nodeName: NodeName?
            if let raw = string(m, "node_name", field, required: false) {
                nodeName = NodeName(raw)
                if nodeName == nil {
                    problem("\(field).node_name", m["node_name"], "not a node name", fix: "write name@host, e.g. rabbit@ServerA (case matters)")
                }
            }
            let target = target(m, field)
            var profile = ProfileName.standard
            if let raw = string(m, "profile", field, required: false) {
                if let p = PlatformProfile.registered(ProfileName(rawValue: raw)) { profile = p.name } else {
                    problem("\(field).profile", m["profile"], "unknown profile", fix: "use \(PlatformProfile.words(PlatformProfile.all.map(\.name)))")
                }
            }
            if PlatformProfile.named(profile).family == .windows, let target, case .local = target {
                problem("\(field).reach", m["reach"], "a Windows node is reached over OpenSSH for Windows, not on this machine",
                        fix: "write reach: ssh://USER@HOST (an administrator of that server)")
            }
            let amqp = port(m, "amqp_port", field, default: 5672)
            let dist = port(m, "dist_port", field, default: amqp.map { $0 + 20000 })
            let epmd = port(m, "epmd_port", field, default: 4369)
            if let amqp, let dist, let epmd {
                for (key, value, others) in [("amqp_port", amqp, [(dist, "dist_port"), (epmd, "epmd_port")]), ("dist_port", dist, [(epmd, "epmd_port")])] {
                    for (other, otherKey) in others where value == other {
                        problem("\(field).\(key)", m[key], "the same port as \(otherKey)", fix: "give each of amqp_port, dist_port and epmd_port its own port")
                    }
                }
                if amqp == 15672 || amqp == 4369 || (amqp == 25672 && dist != 25672) {
                    problem("\(field).amqp_port", m["amqp_port"], "clashes with a port RabbitMQ uses (4369 epmd, 25672 distribution, 15672 management)",
                            fix: "use 5672 or another free port")
                }
            }
            let sandboxDir = path(m, "sandbox_dir", field)
            if profile == .sandbox && sandboxDir == nil && m["sandbox_dir"] == nil {
                problem("\(field).sandbox_dir", nil, "missing for the sandbox profile", fix: "rabbit-wizard sandbox up writes it; or add sandbox_dir:")
            }
            guard problems.count == before, let name, let host, let target, let amqp, let dist, let epmd else { return nil }
            return (NodeSpec(name: name, host: host, nodeName: nodeName, target: target, profile: profile, amqpPort: amqp,
                             distPort: dist, epmdPort: epmd, sandboxDir: sandboxDir), leave)
        }

        mutating func checkUnique(_ nodes: [NodeSpec], _ at: Node?) {
            func dupes<T: Hashable>(_ key: (NodeSpec) -> T) -> [T] {
                Dictionary(grouping: nodes, by: key).filter { $0.value.count > 1 }.keys.map { $0 }
            }
            for n in dupes(\.name) { problem("nodes", at, "two nodes are named \(n)", fix: "give every node its own name") }
            for n in dupes(\.nodeName) {
                problem("nodes", at, "two nodes have the node name \(n): a node cannot join itself", fix: "list each server once")
            }
            struct Endpoint: Hashable { var host: String; var port: Int }
            var seen: [Endpoint: String] = [:]
            for n in nodes {
                for port in [n.amqpPort, n.distPort] {
                    let e = Endpoint(host: n.host.value.lowercased(), port: port)
                    if let other = seen[e], other != n.name {
                        problem("nodes", at, "\(other) and \(n.name) both use \(n.host):\(port)", fix: "give nodes on one host their own ports")
                    }
                    seen[e] = n.name
                }
            }
        }

        mutating func loadBalancer(_ node: Node, _ nodes: [NodeSpec]) -> LoadBalancerSpec? {
            let field = "load_balancer"
            let before = problems.count
            guard let m = mapping(node, field, allowed: ["kind", "host", "reach", "listen_address", "listen_port", "config_path", "profile",
                                                         "sandbox_dir", "idle_timeout", "pair", "vrrp_router_id"]) else { return nil }
            var kind: (any LoadBalancerKind)?
            var external = false
            if let raw = string(m, "kind", field, required: true) {
                kind = LoadBalancerKinds.named(raw)
                external = raw == LoadBalancerSpec.external
                if kind == nil && !external {
                    problem("\(field).kind", m["kind"], "unknown load balancer",
                            fix: "use \(LoadBalancerKinds.standard.map(\.name).joined(separator: ", ")) or external (the site's own, which the wizard only checks through)")
                }
            }
            if external {
                // The site's own load balancer: nothing is reached, written or run there.
                for key in ["reach", "listen_address", "config_path", "profile", "sandbox_dir"] where m[key] != nil {
                    problem("\(field).\(key)", m[key], "not used with kind: external (the wizard changes nothing on the site's own load balancer)",
                            fix: "remove \(key): from load_balancer; host: and listen_port: are the address clients use")
                }
            }
            let host = host(m, "host", field)
            let target = target(m, field)
            let listenAddress: HostName? = m["listen_address"] == nil ? try? HostName("0.0.0.0") : self.host(m, "listen_address", field)
            let listenPort = port(m, "listen_port", field, default: 5672)
            let configPath = path(m, "config_path", field)
            if let host, let listenPort {
                for n in nodes where n.host.value.lowercased() == host.value.lowercased() && [n.amqpPort, n.distPort, n.epmdPort].contains(listenPort) {
                    problem("\(field).listen_port", m["listen_port"] ?? node, "\(host):\(listenPort) is already used by node \(n.name)",
                            fix: "use another port, or put the load balancer on another host")
                }
            }
            var profile = ProfileName.standard
            if let raw = string(m, "profile", field, required: false) {
                if let p = PlatformProfile.registered(ProfileName(rawValue: raw)) {
                    if let refusal = p.loadBalancerRefusal { problem("\(field).profile", m["profile"], refusal.why, fix: refusal.fix) } else { profile = p.name }
                } else { problem("\(field).profile", m["profile"], "unknown profile", fix: "use \(PlatformProfile.words(PlatformProfile.forLoadBalancers))") }
            }
            let sandboxDir = path(m, "sandbox_dir", field)
            if profile == .sandbox && sandboxDir == nil && m["sandbox_dir"] == nil {
                problem("\(field).sandbox_dir", nil, "missing for the sandbox profile", fix: "add sandbox_dir:")
            }
            var idle = 3600
            if let raw = m["idle_timeout"] {
                if let n = raw.scalar.flatMap({ Int($0.string) }), n > 0 { idle = n } else {
                    problem("\(field).idle_timeout", raw, "not a number of seconds", fix: "write seconds, e.g. 3600")
                }
            }
            let pair = self.pair(m, host: host, external: external, profile: profile)
            // By default the floating address's last byte: two clusters' addresses on one network differ, and
            // so do their VRRP instances.
            var routerID = host.flatMap { Int($0.value.split(separator: ".").last ?? "") }.map { min(max($0, 1), 255) } ?? 51
            if let raw = m["vrrp_router_id"] {
                if m["pair"] == nil {
                    problem("\(field).vrrp_router_id", raw, "only for a pair", fix: "remove vrrp_router_id:, or add pair: with two hosts")
                } else if let n = raw.scalar.flatMap({ Int($0.string) }), (1...255).contains(n) { routerID = n } else {
                    problem("\(field).vrrp_router_id", raw, "not a number from 1 to 255", fix: "write keepalived's virtual_router_id, unique on the network, e.g. 51")
                }
            }
            guard problems.count == before, kind != nil || external, let host, let target, let listenAddress, let listenPort else { return nil }
            if external { return .external(host: host, port: listenPort, idleTimeout: idle) }
            var spec = LoadBalancerSpec(kind: kind, target: target, host: host, listenAddress: listenAddress, listenPort: listenPort,
                                        configPath: configPath, profile: profile, sandboxDir: sandboxDir, idleTimeout: idle)
            spec.pair = pair
            spec.routerID = routerID
            return spec
        }

        /// `pair:`: two hosts, each with its `reach` (ssh) and optionally its `interface`; `host:` is then the
        /// floating address, an IPv4 address, and the load balancer listens on every address.
        mutating func pair(_ m: [String: Node], host: HostName?, external: Bool, profile: ProfileName) -> [LoadBalancerSpec.PairHost] {
            let field = "load_balancer.pair"
            guard let list = m["pair"] else { return [] }
            if external {
                problem(field, list, "not used with kind: external (the site's own load balancer is its own business)", fix: "remove pair:")
                return []
            }
            guard let seq = list.sequence, seq.count == 2 else {
                problem(field, list, "expected a list of two hosts", fix: "write two items, '- reach: ssh://root@LB1' and '- reach: ssh://root@LB2' (the first is preferred)")
                return []
            }
            for key in ["reach", "listen_address"] where m[key] != nil {
                problem("load_balancer.\(key)", m[key], "not used with pair: (each host has its own reach; both listen on every address)",
                        fix: "remove \(key): from load_balancer; give each pair item its reach:")
            }
            if profile != .standard {
                problem("load_balancer.profile", m["profile"], "a pair needs two Debian hosts with keepalived", fix: "remove profile: (a pair is debian)")
            }
            if let host, !host.value.split(separator: ".").allSatisfy({ $0.allSatisfy(\.isNumber) }) || host.value.split(separator: ".").count != 4 {
                problem("load_balancer.host", m["host"], "with pair: the floating address, which must be an IPv4 address",
                        fix: "write the free address keepalived is to hold, in the pair's subnet, e.g. 10.0.0.30")
            }
            var out: [LoadBalancerSpec.PairHost] = []
            for (i, item) in seq.enumerated() {
                let f = "\(field)[\(i)]"
                guard let p = mapping(item, f, allowed: ["reach", "interface"]) else { continue }
                guard p["reach"] != nil else { problem("\(f).reach", nil, "missing", fix: "add reach: ssh://root@HOST"); continue }
                guard let target = target(p, f) else { continue }
                guard case .ssh(let d) = target else {
                    problem("\(f).reach", p["reach"], "a pair's host is reached over ssh", fix: "write reach: ssh://root@HOST")
                    continue
                }
                var interface: String?
                if let raw = string(p, "interface", f, required: false) {
                    if raw.count <= 15, raw.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) { interface = raw } else {
                        problem("\(f).interface", p["interface"], "not an interface name", fix: "write the name ip link shows, e.g. eth0")
                    }
                }
                out.append(.init(host: d.host, target: target, interface: interface))
            }
            if out.count == 2, out[0].host.value.lowercased() == out[1].host.value.lowercased() {
                problem(field, list, "both hosts are \(out[0].host)", fix: "name two different hosts")
            }
            if let host, out.contains(where: { $0.host == host }) {
                problem("load_balancer.host", m["host"], "the floating address is one of the pair's own addresses", fix: "choose a free address in their subnet")
            }
            return out
        }
    }
}
