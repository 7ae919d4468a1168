import Executor
import Foundation
import Glibc

/// A sandbox of real RabbitMQ nodes made through the product (`rabbit-wizard sandbox up`), plus what
/// the tests need to look at it independently of the product: each node's own rabbitmqctl, its files.
public struct SandboxBed: Sendable {
    public let dir: String
    public let count: Int
    /// The topology file the product is given (the sandbox's own, or a copy without its load balancer).
    var topologyName = "topology.yml"
    public var topology: String { dir + "/" + topologyName }
    public var state: String { dir + "/state" }
    public var letters: [String] { (0..<count).map { String(UnicodeScalar(UInt8(97 + $0))) } }

    public init(dir: String, count: Int) {
        self.dir = dir
        self.count = count
    }

    public static func up(nodes: Int, basePort: Int, loadBalancer: String? = nil) async throws -> SandboxBed {
        let dir = Support.temporaryDirectory("rw-sandbox")
        let bed = SandboxBed(dir: dir, count: nodes)
        // The nodes boot at nice 10 (they keep it until the product restarts them): the sandboxes start in the
        // first seconds of the parallel run, beside the short tests whose commands have 10 s deadlines (see
        // PackageTests, whose build runs at nice 19).
        let out = await Support.run(["nice", "-n", "10", Support.productBinary, "sandbox", "up", "--dir", dir, "--nodes", String(nodes),
                                     "--base-port", String(basePort)] + (loadBalancer.map { ["--lb", $0] } ?? []), timeout: .seconds(600))
        guard out.termination == .exited(code: 0) else {
            await bed.down()
            throw SSHServer.Failure.setup("sandbox up failed: \(out.stdout.text) \(out.stderr.text)")
        }
        return bed
    }

    /// Starts a sandbox, runs `body`, and always removes the sandbox, also when `body` throws.
    public static func with(nodes: Int, basePort: Int, loadBalancer: String? = nil, _ body: (SandboxBed) async throws -> Void) async throws {
        let bed = try await up(nodes: nodes, basePort: basePort, loadBalancer: loadBalancer)
        do { try await body(bed) } catch {
            await bed.down()
            throw error
        }
        await bed.down()
    }

    /// The same sandbox given to the product without its load balancer (`topology-cluster.yml`, the same
    /// nodes and state folder): the cluster steps alone.
    public func withoutLoadBalancer() -> SandboxBed {
        let text = Support.read(dir + "/topology.yml")
        var kept: [Substring] = []
        var inBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("load_balancer:") { inBlock = true; continue }
            if inBlock && (line.hasPrefix(" ") || line.isEmpty) { continue }
            inBlock = false
            kept.append(line)
        }
        Support.write(kept.joined(separator: "\n"), to: dir + "/topology-cluster.yml")
        var copy = self
        copy.topologyName = "topology-cluster.yml"
        return copy
    }

    /// Forgets what the product did here (its state folder, config backups, cookie backups, definitions
    /// exports), as before its first run. The nodes and their files are left as they are.
    public func resetState() {
        Support.remove(state)
        for l in letters {
            for folder in [nodeDir(l), nodeDir(l) + "/home"] {
                for f in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where f.contains(".rabbit-wizard-") || f.hasPrefix("rabbit-wizard-definitions-") {
                    unlink(folder + "/" + f)
                }
            }
        }
    }

    /// The AMQP ports of the nodes and the load balancer's port, as the sandbox wrote them.
    public func ports() -> (nodes: [Int], loadBalancer: Int?) {
        let lines = Support.read(topology).split(separator: "\n")
        func values(_ key: String) -> [Int] { lines.filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix(key + ":") }.compactMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) } }
        return (values("amqp_port"), values("listen_port").first)
    }

    public func down() async {
        _ = await Support.run([Support.productBinary, "sandbox", "down", "--dir", dir], timeout: .seconds(180))
        Support.remove(dir)
    }

    /// Runs the product with this sandbox's topology.
    public func wizard(_ args: [String], config: Bool = true, timeout: Duration = .seconds(600), environment: [String: String] = [:]) async -> TransportOutcome {
        await Support.run([Support.productBinary] + args + (config ? ["--config", topology] : []), timeout: timeout, environment: environment)
    }

    public func nodeDir(_ letter: String) -> String { "\(dir)/nodes/\(letter)" }
    public func nodeName(_ letter: String) -> String { "rabbit-\(letter)@localhost" }

    /// The node's own rabbitmqctl (its own cookie), not the product's code path.
    public func ctl(_ letter: String, _ args: [String]) async -> TransportOutcome {
        await Support.run([nodeDir(letter) + "/bin/rabbitmqctl", "-n", nodeName(letter)] + args, timeout: .seconds(60))
    }

    public func runningNodes(seenFrom letter: String) async -> (running: [String], partitions: Int)? {
        let out = await ctl(letter, ["cluster_status", "--formatter", "json"])
        guard out.termination == .exited(code: 0),
            let o = try? JSONSerialization.jsonObject(with: Data(out.stdout.text.utf8)) as? [String: Any]
        else { return nil }
        return ((o["running_nodes"] as? [String] ?? []).sorted(), (o["partitions"] as? [String: Any])?.count ?? -1)
    }

    public func effectivePartitionHandling(_ letter: String) async -> String {
        await ctl(letter, ["eval", "application:get_env(rabbit, cluster_partition_handling)."]).stdout.text
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func pid(_ letter: String) -> String { Support.read(nodeDir(letter) + "/pid") }

    public func stop(_ letter: String) async -> Bool { await Support.run([nodeDir(letter) + "/bin/stop"], timeout: .seconds(60)).termination == .exited(code: 0) }
    public func start(_ letter: String) async -> Bool { await Support.run([nodeDir(letter) + "/bin/start"], timeout: .seconds(180)).termination == .exited(code: 0) }

    /// A file as a test compares it: bytes, mode, owner, group.
    public struct FileState: Equatable, Sendable {
        public var bytes: [UInt8]?
        public var mode: mode_t
        public var uid: uid_t
        public var gid: gid_t
    }

    public static func file(_ path: String) -> FileState {
        var st = stat()
        guard lstat(path, &st) == 0 else { return FileState(bytes: nil, mode: 0, uid: 0, gid: 0) }
        return FileState(bytes: FileManager.default.contents(atPath: path).map(Array.init), mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid)
    }

    /// Every node's rabbitmq.conf and cookie.
    public func managedFiles() -> [String: FileState] {
        var out: [String: FileState] = [:]
        for l in letters {
            for path in [nodeDir(l) + "/rabbitmq.conf", nodeDir(l) + "/home/.erlang.cookie"] { out[path] = SandboxBed.file(path) }
        }
        return out
    }

    /// Every text the run left in the state folder: command log and journals.
    public func stateTexts() -> String {
        var text = Support.read(state + "/commands.jsonl")
        for f in (try? FileManager.default.contentsOfDirectory(atPath: state + "/journal")) ?? [] { text += Support.read(state + "/journal/" + f) }
        return text
    }
}
