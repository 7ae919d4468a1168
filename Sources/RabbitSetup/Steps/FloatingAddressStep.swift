import Executor
import Foundation
import Workflow

/// `floating-address` (only for a pair, after `load-balancer` has put the same load balancer on both
/// hosts): keepalived (Debian's `keepalived`) on both hosts holds the topology's floating address on the
/// host whose load balancer answers. VRRP by unicast between the two hosts' own addresses (many networks
/// drop multicast), advertisements every second, a check every second that the load balancer takes a TCP
/// connection on its port on that host (down after 2 failures), the first host preferred at the first
/// election and no move back once the other holds it (`nopreempt`: one failover is one move). One
/// instance per cluster (`vrrp_router_id`). After a split heals both hosts are MASTER and the higher
/// priority keeps the address without a new transition: the one that yields first sends an advertisement of
/// its own (`higher_prio_send_advert`), and the holder answers any lower-priority advertisement with
/// gratuitous ARP (`garp_lower_prio_repeat`), so the clients' neighbour entries point at the holder again
/// (with neither, they pointed at the host that let the address go until they expired: messages stopped for
/// 31 s in the drill on the bed). Neither host repeats gratuitous ARP on a timer: a repeat falling between
/// the heal and the yield pointed the entries at the yielding host (seen on the bed).
///
/// keepalived's own `keepalived.conf` gets a block between markers (anything else in it is the
/// administrator's); a small script of the wizard's (`rabbit-wizard-vrrp`) is keepalived's check and its
/// notify hook, which writes the state keepalived reports (MASTER, BACKUP, FAULT) to a file that `status`
/// and the verification read.
public struct FloatingAddressStep: Step {
    public let id: StepID = .floatingAddress
    public var findingNames: [String] {
        ["keepalived-missing", "vrrp-interface-not-found", "floating-address-outside-subnet", "floating-address-in-use"]
    }
    public let topology: Topology
    public let lb: LoadBalancerSpec
    public let kind: any LoadBalancerKind
    public var title: String {
        "hold \(lb.host) on the pair \(lb.pair.map(\.host.value).joined(separator: " and ")) with keepalived (VRRP, unicast)"
    }
    public var rollbackScope: RollbackScope { .complete }

    public init(topology: Topology, loadBalancer: LoadBalancerSpec, kind: any LoadBalancerKind) {
        self.topology = topology
        self.lb = loadBalancer
        self.kind = kind
    }

    static let configPath = "/etc/keepalived/keepalived.conf"
    static let scriptPath = "/etc/keepalived/rabbit-wizard-vrrp"
    static let statePath = "/run/rabbit-wizard-vrrp.state"
    static let pidPath = "/run/keepalived.pid"
    static let running = ["sh", "-c", "[ -f \"$1\" ] && kill -0 \"$(cat \"$1\")\" 2>/dev/null", "sh", pidPath]
    static let markerBegin = "# BEGIN rabbit-wizard: floating address of the RabbitMQ load balancers (managed; edits here are replaced)"
    static let markerEnd = "# END rabbit-wizard"

    /// One host of the pair, with what a look at it found: the interface for the floating address and the
    /// host's own address there (its VRRP source).
    struct Host {
        var spec: LoadBalancerSpec.PairHost
        var server: any ServerHost
        var priority: Int
    }

    func hosts(_ context: StepContext) -> [Host] {
        lb.pair.enumerated().map { i, p in
            Host(spec: p, server: PlatformProfile.named(.standard).host(executor: context.executor, target: p.target, step: id),
                 priority: i == 0 ? 150 : 100)
        }
    }

    func peer(of host: Host, _ context: StepContext) -> Host { hosts(context).first { $0.spec.host != host.spec.host }! }

    /// An IPv4 address with its prefix, as `ip -o -4 addr show` lists it.
    struct Address: Equatable {
        var interface: String
        var address: String
        var prefix: Int
    }

    /// `2: eth0    inet 10.0.0.20/24 brd 10.0.0.255 scope global eth0` -> (eth0, 10.0.0.20, 24).
    static func addresses(_ text: String) -> [Address] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count >= 4, let inet = words.firstIndex(of: "inet"), inet + 1 < words.count else { return nil }
            let parts = words[inet + 1].split(separator: "/")
            guard parts.count == 2, let prefix = Int(parts[1]) else { return nil }
            return Address(interface: words[1].trimmingCharacters(in: CharacterSet(charactersIn: ":")), address: String(parts[0]), prefix: prefix)
        }
    }

    static func number(_ ipv4: String) -> UInt32? {
        let parts = ipv4.split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 < 256 }) else { return nil }
        return parts.reduce(0) { $0 << 8 | $1 }
    }

    static func sameSubnet(_ a: String, _ b: String, prefix: Int) -> Bool {
        guard let x = number(a), let y = number(b), (0...32).contains(prefix) else { return false }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - UInt32(prefix))
        return x & mask == y & mask
    }

    /// What a look at the host finds: its address in the floating address's subnet (on the named
    /// interface, if one is named), and whether it holds the floating address now.
    struct Look {
        var own: Address?
        var holdsFloating: Bool
        var problem: Finding?
    }

    func look(_ host: Host) async -> Look {
        let r = await host.server.run(["ip", "-o", "-4", "addr", "show"], timeout: .seconds(30), mutates: false)
        guard r.succeeded else {
            return Look(own: nil, holdsFloating: false, problem: Finding("vrrp-interface-not-found", .error, node: host.spec.host.value,
                                                                         message: "ip -o -4 addr show failed on \(host.spec.target): \(r.stderr.suffix(200))",
                                                                         fix: "install iproute2 on \(host.spec.host)"))
        }
        let all = Self.addresses(r.stdout)
        let holds = all.contains { $0.address == lb.host.value }
        let candidates = all.filter { a in a.address != lb.host.value && (host.spec.interface.map { $0 == a.interface } ?? true) }
        if let named = host.spec.interface, candidates.isEmpty {
            return Look(own: nil, holdsFloating: holds, problem: Finding("vrrp-interface-not-found", .error, node: host.spec.host.value,
                message: "\(host.spec.host) has no IPv4 address on interface \(named) (it has: \(Set(all.map(\.interface)).sorted().joined(separator: ", ")))",
                fix: "name the interface that faces the clients in load_balancer.pair's interface:, or leave it out to have it found"))
        }
        guard let own = candidates.first(where: { Self.sameSubnet($0.address, lb.host.value, prefix: $0.prefix) }) else {
            return Look(own: nil, holdsFloating: holds, problem: Finding("floating-address-outside-subnet", .error, node: host.spec.host.value,
                message: "\(lb.host) is in no subnet of \(host.spec.host)'s addresses (\(candidates.map { "\($0.interface) \($0.address)/\($0.prefix)" }.joined(separator: ", ")))",
                fix: "choose a free address in the subnet both hosts share"))
        }
        return Look(own: own, holdsFloating: holds, problem: nil)
    }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        var out: [Finding] = []
        var held = false
        for host in hosts(context) {
            if !(await host.server.hasProgram("keepalived")) {
                out.append(Finding("keepalived-missing", .error, node: host.spec.host.value, message: "keepalived is not installed on \(host.spec.target)",
                                   fix: PlatformProfile.named(.standard).installHint(["keepalived"])))
            }
            let seen = await look(host)
            if let p = seen.problem { out.append(p) }
            held = held || seen.holdsFloating
        }
        // Free: held by neither host now, and nothing else answers on it (a refused connection is an answer).
        if !held {
            let address = lb.host.value, port = lb.listenPort
            let answer = await Task.detached { () -> String? in
                do throws(AMQPProbe.Failure) {
                    _ = try AMQPProbe(host: address, port: port, timeout: .milliseconds(1500)).hello()
                    return "an AMQP server answers on port \(port)"
                } catch {
                    switch error {
                    case .refused(let why) where !why.contains("unreachable") && !why.contains("No route"): return "a host answers (\(why))"
                    case .notAMQP, .closed: return "something answers on port \(port)"
                    default: return nil
                    }
                }
            }.value
            if let answer {
                out.append(Finding("floating-address-in-use", .error, node: lb.host.value,
                                   message: "\(address) is in use: \(answer), and neither host of the pair holds it",
                                   fix: "choose a free address in the pair's subnet for load_balancer.host"))
            }
        }
        return out
    }

    /// The block in keepalived.conf for `host`.
    func block(_ host: Host, own: Address, peer: String) -> String {
        let name = "rabbit_wizard_\(lb.routerID)"
        // keepalived -t refuses scripts without script security; with it, each script names the user it runs
        // as (root: the check connects to a port, the hook writes under /run), so no global user is set.
        return """
            global_defs {
                enable_script_security
            }
            vrrp_script \(name)_check {
                script "\(Self.scriptPath) check \(lb.listenPort)"
                user root
                interval 1
                timeout 2
                fall 2
                rise 2
            }
            vrrp_instance \(name) {
                state BACKUP
                nopreempt
                interface \(own.interface)
                virtual_router_id \(lb.routerID)
                priority \(host.priority)
                advert_int 1
                higher_prio_send_advert true
                garp_lower_prio_repeat 5
                unicast_src_ip \(own.address)
                unicast_peer {
                    \(peer)
                }
                virtual_ipaddress {
                    \(lb.host.value)/\(own.prefix) dev \(own.interface)
                }
                track_script {
                    \(name)_check
                }
                notify "\(Self.scriptPath) notify" root
            }

            """
    }

    /// keepalived's check (`check PORT`: the load balancer takes a TCP connection there within 2 s) and its
    /// notify hook (`notify TYPE NAME STATE PRIORITY`: the state kept in ``statePath``).
    static let script = """
        #!/bin/sh
        # Managed by rabbit-wizard: keepalived's check and notify hook for the RabbitMQ load balancers' floating address.
        case "$1" in
        check) exec timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$2" ;;
        notify) printf '%s\\n' "$4" > \(statePath).new && mv \(statePath).new \(statePath) ;;
        *) echo "usage: $0 check PORT | notify TYPE NAME STATE PRIORITY" >&2; exit 64 ;;
        esac

        """

    /// Each host with its looked-at address and its peer's, or the first problem as a failure.
    func placed(_ context: StepContext) async throws(StepFailure) -> [(host: Host, own: Address, peer: String)] {
        var out: [(Host, Address)] = []
        for host in hosts(context) {
            let seen = await look(host)
            guard let own = seen.own else {
                throw StepFailure(seen.problem?.message ?? "no address found on \(host.spec.host)", fix: seen.problem?.fix, node: host.spec.host.value)
            }
            out.append((host, own))
        }
        return out.map { h, own in (h, own, out.first { $0.0.spec.host != h.spec.host }!.1.address) }
    }

    func desired(_ current: [UInt8], _ host: Host, own: Address, peer: String) -> [UInt8] {
        LoadBalancerConfig.replacingBlock(in: current, with: block(host, own: own, peer: peer), begin: Self.markerBegin, end: Self.markerEnd)
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        var changes: [Change] = []
        for (host, own, peer) in try await placed(context) {
            let h = host.spec.host.value
            var changed = false
            let script = try await host.server.observe(Self.scriptPath, bytes: true)
            if script.bytes != Array(Self.script.utf8) || script.mode != "755" {
                changes.append(Change(script.kind == .missing ? .add : .modify, target: "\(h):\(Self.scriptPath)", node: h,
                                      summary: "keepalived's check and notify hook", before: script.bytes.map { String(decoding: $0, as: UTF8.self) },
                                      after: Self.script))
                changed = true
            }
            let conf = try await host.server.observe(Self.configPath, bytes: true)
            let want = desired(conf.bytes ?? [], host, own: own, peer: peer)
            if conf.bytes != want {
                changes.append(Change(conf.kind == .missing ? .add : .modify, target: "\(h):\(Self.configPath)", node: h,
                                      summary: "VRRP instance \(lb.routerID) for \(lb.host) on \(own.interface), priority \(host.priority), unicast to \(peer)",
                                      before: String(decoding: conf.bytes ?? [], as: UTF8.self), after: String(decoding: want, as: UTF8.self)))
                changed = true
            }
            let running = await host.server.run(Self.running, timeout: .seconds(30), mutates: false).succeeded
            if !running {
                changes.append(Change(.run, target: "\(h): start keepalived", node: h, summary: "start keepalived (it takes the address if its load balancer answers)"))
            } else if changed {
                changes.append(Change(.run, target: "\(h): reload keepalived", node: h, summary: "reload with the new configuration"))
            }
        }
        return Plan(step: id, changes: changes)
    }

    struct Saved: Codable {
        var host: String
        var conf: SavedFile
        var script: SavedFile
        var wasRunning: Bool
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        var saved: [Saved] = []
        for host in hosts(context) {
            saved.append(Saved(host: host.spec.host.value, conf: try await SavedFile.capture(Self.configPath, with: host.server),
                               script: try await SavedFile.capture(Self.scriptPath, with: host.server),
                               wasRunning: await host.server.run(Self.running, timeout: .seconds(30), mutates: false).succeeded))
        }
        return try UndoCoding.encode(saved)
    }

    func control(_ host: Host, _ verb: String) async -> CommandResult {
        await host.server.run(["service", "keepalived", verb], timeout: .seconds(60), mutates: true)
    }

    /// Both hosts written and checked (`keepalived -t`) before either is started or reloaded, the preferred
    /// host first, so it wins the first election.
    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try UndoCoding.decode([Saved].self, prepared)
        let placed = try await placed(context)
        for (host, own, peer) in placed {
            guard let s = saved.first(where: { $0.host == host.spec.host.value }) else { throw StepFailure("no undo data for \(host.spec.host)") }
            _ = try await host.server.write(Self.scriptPath, .bytes(Array(Self.script.utf8)), mode: "755", owner: "", backup: s.script.backup)
            let current = try await host.server.observe(Self.configPath, bytes: true).bytes ?? []
            try await host.server.write(Self.configPath, .bytes(desired(current, host, own: own, peer: peer)), mode: s.conf.mode ?? "644",
                                        owner: s.conf.ownerSpec, backup: s.conf.backup)
            let test = await host.server.run(["keepalived", "-t", "-f", Self.configPath], timeout: .seconds(30), mutates: false)
            guard test.succeeded else {
                try await s.conf.restore(with: host.server)
                try await s.script.restore(with: host.server)
                throw StepFailure("keepalived did not accept the configuration on \(host.spec.host): \((test.stderr + test.stdout).suffix(400))",
                                  fix: "nothing was started; fix the cause and retry \(id)", node: host.spec.host.value)
            }
        }
        for (host, _, _) in placed {
            let running = await host.server.run(Self.running, timeout: .seconds(30), mutates: false).succeeded
            let r = await control(host, running ? "reload" : "start")
            guard r.succeeded else {
                throw StepFailure("keepalived did not \(running ? "reload" : "start") on \(host.spec.host): \((r.stderr + r.stdout).suffix(300))",
                                  fix: "look at the host's log (journalctl -u keepalived or syslog)", node: host.spec.host.value)
            }
            context.progress("\(host.spec.host): keepalived \(running ? "reloaded" : "started")")
        }
        return prepared
    }

    /// The state each host's keepalived reported last (MASTER, BACKUP, FAULT), read from the notify hook's
    /// file; nil when there is none (keepalived not running, or not yet past its first transition).
    /// Empty for a load balancer that is not a pair: nothing is asked.
    public static func states(_ lb: LoadBalancerSpec, executor: Executor, step: StepID?) async -> [(host: String, state: String?)] {
        var out: [(String, String?)] = []
        for p in lb.pair { out.append((p.host.value, await state(of: p, executor: executor, step: step))) }
        return out
    }

    /// One host's state, as ``states(_:executor:step:)`` reads it (a host that does not answer is asked
    /// nothing more: the failover drill asks only the host that should take over).
    public static func state(of p: LoadBalancerSpec.PairHost, executor: Executor, step: StepID?) async -> String? {
        let server = PlatformProfile.named(.standard).host(executor: executor, target: p.target, step: step)
        guard await server.run(running, timeout: .seconds(10), mutates: false).succeeded else { return nil }
        let text = try? await server.observe(statePath, bytes: true).bytes.map { String(decoding: $0, as: UTF8.self) }
        return (text ?? nil)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One host MASTER and the other BACKUP as keepalived reports them (waiting up to 10 s for the first
    /// election), the floating address answering AMQP as this cluster, and the same load balancer
    /// configuration on both (compared by hash).
    public func verify(_ context: StepContext) async throws(StepFailure) {
        var seen: [(host: String, state: String?)] = []
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        repeat {
            seen = await Observations.$reusing.withValue(false) { await Self.states(lb, executor: context.executor, step: id) }
            if seen.map(\.state).sorted(by: { ($0 ?? "") < ($1 ?? "") }) == ["BACKUP", "MASTER"] { break }
            try? await Task.sleep(for: .milliseconds(250))
        } while ContinuousClock.now < deadline
        let words = seen.map { "\($0.host) \($0.state ?? "no state")" }.joined(separator: ", ")
        guard seen.map(\.state).sorted(by: { ($0 ?? "") < ($1 ?? "") }) == ["BACKUP", "MASTER"] else {
            throw StepFailure("keepalived reports \(words), not one MASTER and one BACKUP", fix: "look at each host's keepalived log; check that VRRP (IP protocol 112) passes between them",
                              retryable: true)
        }
        let fix = "look at the MASTER's load balancer (\(seen.first { $0.state == "MASTER" }?.host ?? "?"))"
        let first = try await ThroughLoadBalancer.hello(lb, what: "the floating address", fix: fix)
        try await ThroughLoadBalancer.requireCluster(topology, lb, what: "the floating address", answered: first, context, step: id, fix: fix)
        let layout = kind.layout(for: lb.members[0])
        var hashes: [String] = []
        for h in hosts(context) { hashes.append(try await h.server.observe(layout.configPath).sha256 ?? "missing") }
        guard Set(hashes).count == 1 else {
            throw StepFailure("the two hosts' \(kind.name) configurations differ (\(layout.configPath): \(hashes.map { String($0.prefix(12)) }.joined(separator: " vs ")))",
                              fix: "apply \(StepID.loadBalancer) again")
        }
    }

    /// Each host as it was: keepalived stopped where the wizard started it (which releases the address;
    /// stopped first, while its files are still the ones it runs with), keepalived.conf and the script back
    /// (or removed), keepalived reloaded where it ran before, and the state file gone.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        let saved = try UndoCoding.decode([Saved].self, undo)
        for host in hosts(context).reversed() {
            guard let s = saved.first(where: { $0.host == host.spec.host.value }) else { continue }
            if !s.wasRunning { try await stop(host) }
            let changed = try await s.conf.restore(with: host.server)
            try await s.script.restore(with: host.server)
            let running = await host.server.run(Self.running, timeout: .seconds(30), mutates: false).succeeded
            if s.wasRunning && changed && running {
                let r = await control(host, "reload")
                guard r.succeeded else { throw StepFailure("keepalived did not reload on \(host.spec.host): \(r.stderr.suffix(300))", node: host.spec.host.value) }
            }
            if !s.wasRunning { _ = await host.server.run(["rm", "-f", Self.statePath], timeout: .seconds(30), mutates: true) }
        }
    }

    /// `service keepalived stop`, then keepalived observed gone (the init script returns once it has sent
    /// the signal), for up to 10 s.
    func stop(_ host: Host) async throws(StepFailure) {
        guard await host.server.run(Self.running, timeout: .seconds(30), mutates: false).succeeded else { return }
        let r = await control(host, "stop")
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while ContinuousClock.now < deadline {
            if !(await host.server.run(Self.running, timeout: .seconds(30), mutates: false).succeeded) { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
        throw StepFailure("keepalived still runs on \(host.spec.host) 10 s after 'service keepalived stop' (\(r.termination): \(r.stderr.suffix(200)))",
                          fix: "stop it there by hand, then retry the rollback", node: host.spec.host.value, retryable: true)
    }
}

extension StepID {
    /// ``FloatingAddressStep``'s id: the one place it is spelled.
    public static let floatingAddress: StepID = "floating-address"
}

extension LoadBalancerSpec {
    /// The load balancer in a line, for `status` and the screen: whose it is and where; for a pair, each
    /// host with the state its keepalived reported (``FloatingAddressStep/states(_:executor:step:)``).
    public func summary(vrrp: [(host: String, state: String?)]) -> String {
        if isExternal { return "the site's own (external) at \(clientHost):\(listenPort), nothing changed on it" }
        if isPair {
            return "\(kindName) on the pair " + vrrp.map { "\($0.host) (\($0.state ?? "keepalived not reporting"))" }.joined(separator: ", ")
                + ", floating address \(host):\(listenPort)"
        }
        return "\(kindName) on \(host):\(listenPort), configured by the wizard"
    }
}
