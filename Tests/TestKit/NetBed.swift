import Executor
import Foundation
import Glibc

/// Real separate hosts on this machine (`Tests/netbed/netbed.sh`): ServerA, ServerB, ServerC and LB, each
/// with its own network, hostname, Debian layout and sshd. The tests start RabbitMQ through the Debian
/// service command inside each host and run the product over ssh from this namespace (the controller).
public struct NetBed: Sendable {
    public let dir: String
    public static let servers = ["ServerA", "ServerB", "ServerC"]
    /// Prefix of the bed's namespace and link names (`rwt-ServerA`) and its subnet, apart from a bed made
    /// by hand (`rwb`, 10.231.0.0/24).
    public static let prefix = "rwt"

    public static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("netbed/netbed.sh").path
    }

    public init(dir: String) { self.dir = dir }

    static let environment = ["NETBED_PREFIX": prefix, "NETBED_NET": "10.232.0"]

    static func netbed(_ args: [String], timeout: Duration = .seconds(120)) async -> TransportOutcome {
        await Support.run(["bash", script] + args, timeout: timeout, environment: environment)
    }

    /// Creates the bed in `dir`; a bed left there by a failed run is removed first.
    public static func up(dir: String) async throws -> NetBed {
        _ = await netbed(["down", dir])
        let out = await netbed(["up", dir])
        guard out.termination == .exited(code: 0) else {
            _ = await netbed(["down", dir])
            throw SSHServer.Failure.setup("netbed up failed: \(out.stdout.text) \(out.stderr.text)")
        }
        return NetBed(dir: dir)
    }

    public func down() async -> TransportOutcome { await NetBed.netbed(["down", dir]) }

    /// What runs a command inside a host (``run(_:_:timeout:)``'s argv prefix and environment), for a caller
    /// that starts it itself.
    public func launcher(_ host: String) -> (argv: [String], environment: [String: String]) {
        (["bash", NetBed.script, "run", dir, host], NetBed.environment)
    }

    /// A command inside a host (its network, hostname and mounts), as root.
    public func run(_ host: String, _ argv: [String], timeout: Duration = .seconds(120)) async -> TransportOutcome {
        await NetBed.netbed(["run", dir, host] + argv, timeout: timeout)
    }

    /// The program the failover drill's `link-cut` mode runs (`RABBIT_WIZARD_TEST_LINK_CUT`): this bed's
    /// `link`, to which the drill adds `HOST down|up`.
    public var linkCutProgram: String {
        (["env"] + NetBed.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + ["bash", NetBed.script, "link", dir])
            .joined(separator: " ")
    }

    /// Cuts (`down`) or restores (`up`) the host's link: a cut is silent, no RST and no ICMP.
    public func link(_ host: String, _ state: String) async -> TransportOutcome {
        await NetBed.netbed(["link", dir, host, state])
    }

    /// Cuts or heals the paths between the host and the other servers only; the controller and LB still
    /// reach it (a network partition, silent: no RST, no ICMP).
    public func split(_ host: String, _ state: String) async -> TransportOutcome {
        await NetBed.netbed(["split", dir, host, state])
    }

    /// The host's `/etc/hosts` as seen from here (`/etc/netns/NS/hosts`, bound into the host).
    public func hostsFile(_ host: String) -> String { "/etc/netns/\(NetBed.prefix)-\(host)/hosts" }

    /// Rewrites the host's `/etc/hosts` in place (a new file would not be the one bound into the host).
    public func setHosts(_ host: String, _ text: String) async -> Bool {
        let scratch = dir + "/hosts-\(host).new"
        Support.write(text, to: scratch)
        defer { Support.remove(scratch) }
        return await Support.run(["sh", "-c", "cat \"$1\" > \"$2\"", "sh", scratch, hostsFile(host)]).termination == .exited(code: 0)
    }

    /// Drops every ssh connection to the host as a network failure would (SIGKILL to each sshd session;
    /// the listener stays). Returns how many were dropped.
    @discardableResult
    public func dropSSHConnections(_ host: String) -> Int {
        guard let listener = Int32(Support.read("\(dir)/hosts/\(host)/run/sshd.pid").trimmingCharacters(in: .whitespacesAndNewlines)) else { return 0 }
        let sessions = Support.children(of: listener)
        for session in sessions { kill(session, SIGKILL) }
        return sessions.count
    }

    /// The host's rabbitmqctl as an admin types it there (Debian's wrapper), not the product's code path.
    public func ctl(_ host: String, _ args: [String]) async -> TransportOutcome {
        await run(host, ["rabbitmqctl"] + args)
    }

    /// `KEY`, `ADDR_ServerA`, `FP_ServerA`, ... as `up` wrote them.
    public var env: [String: String] {
        Dictionary(Support.read(dir + "/env").split(separator: "\n").compactMap { line -> (String, String)? in
            guard let eq = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<eq]), String(line[line.index(after: eq)...]))
        }, uniquingKeysWith: { $1 })
    }

    public func address(_ host: String) -> String { env["ADDR_\(host)"] ?? "?" }

    /// Pids of the processes in the host's network namespace.
    public func processes(_ host: String) async -> [Int32] {
        await Support.run(["ip", "netns", "pids", "\(NetBed.prefix)-\(host)"]).stdout.text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Whether a process in the host's network namespace has `word` in its argv (from /proc alone, so it
    /// can be polled: the namespace is the one `ip netns` bound to /run/netns).
    public func isRunning(_ host: String, _ word: String) -> Bool {
        var ns = stat()
        guard stat("/run/netns/\(NetBed.prefix)-\(host)", &ns) == 0 else { return false }
        return Support.processes().contains { pid in
            var st = stat()
            return stat("/proc/\(pid)/ns/net", &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev
                && (Support.commandLine(pid) ?? []).joined(separator: " ").contains(word)
        }
    }

    /// The bed's namespaces that exist now.
    public static func namespaces() async -> [String] {
        await Support.run(["ip", "netns", "list"]).stdout.text.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
            .filter { $0.hasPrefix(prefix + "-") }
    }
}
