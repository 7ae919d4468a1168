import Executor
import Foundation
import Glibc
import Workflow

/// Real RabbitMQ nodes on loopback, each like a separate server before the procedure: its own node
/// name, ports, data, config file and HOME with its own random cookie; plus a private epmd on its own
/// port, so two sandboxes in different folders can run side by side. Everything lives under `dir`;
/// processes are stopped by the PIDs recorded there.
public struct Sandbox: Sendable {
    public let dir: String
    public let executor: Executor

    public static let server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    public static let ctl = "/usr/lib/rabbitmq/bin/rabbitmqctl"

    public init(dir: String, executor: Executor) {
        self.dir = dir
        self.executor = executor
    }

    public var topologyPath: String { dir + "/topology.yml" }
    var epmdPidFile: String { dir + "/epmd.pid" }
    func nodeDir(_ letter: String) -> String { "\(dir)/nodes/\(letter)" }

    public enum Problem: Error, Sendable, Equatable {
        case rabbitmqMissing
        case alreadyUp(String)
        case noFreePorts
        case failed(String)
    }

    public static func letters(_ n: Int) -> [String] { (0..<n).map { String(UnicodeScalar(UInt8(97 + $0))) } }

    /// Starts `count` nodes in parallel and writes `DIR/topology.yml`. Refuses when this folder already
    /// has running nodes.
    public func up(count: Int, basePort requested: Int?, loadBalancer kind: (any LoadBalancerKind)? = nil,
                   progress: @Sendable (String) -> Void) async throws(Problem) -> Topology {
        guard FileManager.default.isExecutableFile(atPath: Sandbox.server) else { throw .rabbitmqMissing }
        if !runningPids().isEmpty { throw .alreadyUp(dir) }
        try? FileManager.default.removeItem(atPath: dir + "/nodes")
        try make(dir, mode: 0o700)
        let letters = Sandbox.letters(count)
        guard let (base, epmdPort) = Sandbox.freePorts(count: count, from: requested ?? 5701) else { throw .noFreePorts }
        var nodes: [NodeSpec] = []
        for (i, letter) in letters.enumerated() {
            let host = try! HostName("localhost")
            let spec = NodeSpec(name: "node-\(letter)", host: host, nodeName: NodeName(name: "rabbit-\(letter)", host: host),
                                target: .local, profile: .sandbox, amqpPort: base + i, distPort: base + i + 20000,
                                epmdPort: epmdPort, sandboxDir: nodeDir(letter))
            try writeNode(spec)
            nodes.append(spec)
        }
        var topology = Topology(nodes: nodes, seedName: nodes[0].name, partitionHandling: count >= 3 ? .pauseMinority : .autoheal,
                                stateDir: dir + "/state")
        if let kind {
            // The load balancer runs unprivileged from its own folder, on the port below the first node's.
            let lbDir = dir + "/lb"
            try make(lbDir + "/modules", mode: 0o700)
            symlink("/usr/lib/nginx/modules/ngx_stream_module.so", lbDir + "/modules/ngx_stream_module.so")
            topology.loadBalancer = LoadBalancerSpec(kind: kind, target: .local, host: try! HostName("127.0.0.1"),
                                                     listenAddress: try! HostName("127.0.0.1"), listenPort: base - 1,
                                                     profile: .sandbox, sandboxDir: lbDir)
        }
        guard FileManager.default.createFile(atPath: topologyPath, contents: Data(Sandbox.yaml(topology, dir: dir).utf8),
                                             attributes: [.posixPermissions: 0o600])
        else { throw .failed("cannot write \(topologyPath)") }

        progress("starting epmd on port \(epmdPort)")
        let epmd = await executor.run(CommandSpec(
            ["sh", "-c", "setsid epmd -port \"$1\" </dev/null >/dev/null 2>&1 & echo $! > \"$2\"", "sh", String(epmdPort), epmdPidFile],
            timeout: .seconds(10), mutates: true, step: "sandbox"))
        guard epmd.succeeded else { throw .failed("cannot start epmd: \(epmd.stderr)") }

        progress("starting \(count) RabbitMQ nodes on ports \(base)-\(base + count - 1) (10-20 s)")
        let failures = await withTaskGroup(of: String?.self) { group in
            for spec in nodes {
                group.addTask {
                    let r = await executor.run(CommandSpec([spec.sandboxDir! + "/bin/start"], timeout: .seconds(180), mutates: true, step: "sandbox"))
                    return r.succeeded ? nil : "\(spec.nodeName): \(r.termination) \(r.stderr.suffix(400))"
                }
            }
            var out: [String] = []
            for await f in group { if let f { out.append(f) } }
            return out
        }
        if !failures.isEmpty {
            await down()
            throw .failed(failures.joined(separator: "; "))
        }
        return topology
    }

    /// Stops every node and the epmd this sandbox started (by their recorded PIDs), then removes the data.
    public func down() async {
        for pid in ["nginx.pid", "haproxy.pid"].compactMap({ Sandbox.readPid(dir + "/lb/" + $0) }) {
            kill(pid, SIGTERM)
            _ = await Sandbox.waitGone(pid)
        }
        // The nodes are independent until clustered and stop gracefully in a few seconds each: all at once.
        let stops = existingLetters().map { nodeDir($0) + "/bin/stop" }.filter { FileManager.default.isExecutableFile(atPath: $0) }
        await withTaskGroup(of: Void.self) { group in
            for stop in stops {
                group.addTask { _ = await self.executor.run(CommandSpec([stop], timeout: .seconds(90), mutates: true, step: "sandbox")) }
            }
        }
        if let pid = Sandbox.readPid(epmdPidFile) {
            kill(pid, SIGTERM)
            _ = await Sandbox.waitGone(pid)
        }
        for item in ["nodes", "epmd.pid", "topology.yml", "state", "lb"] { try? FileManager.default.removeItem(atPath: dir + "/" + item) }
        rmdir(dir)
    }

    public struct NodeState: Sendable {
        public var name: String
        public var pid: Int32?
        public var running: Bool
        public var amqpPort: Int?
    }

    public func status() -> [NodeState] {
        existingLetters().map { letter in
            let pid = Sandbox.readPid(nodeDir(letter) + "/pid")
            let port = (try? String(contentsOfFile: nodeDir(letter) + "/bin/env", encoding: .utf8))
                .flatMap { $0.split(separator: "\n").first { $0.hasPrefix("export RABBITMQ_NODE_PORT=") } }
                .flatMap { Int($0.split(separator: "=").last ?? "") }
            return NodeState(name: "rabbit-\(letter)@localhost", pid: pid, running: pid.map { kill($0, 0) == 0 } ?? false, amqpPort: port)
        }
    }

    func runningPids() -> [Int32] {
        var pids = status().filter(\.running).compactMap(\.pid)
        if let e = Sandbox.readPid(epmdPidFile), kill(e, 0) == 0 { pids.append(e) }
        return pids
    }

    func existingLetters() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/nodes")) ?? []).sorted()
    }

    static func readPid(_ path: String) -> Int32? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    static func waitGone(_ pid: Int32) async -> Bool {
        for _ in 0..<200 {
            if kill(pid, 0) != 0 { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    func make(_ path: String, mode: mode_t) throws(Problem) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(mode)]) } catch {
            throw .failed("cannot create \(path): \(error.localizedDescription)")
        }
    }

    func write(_ path: String, _ text: String, mode: Int) throws(Problem) {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw .failed("cannot write \(path)")
        }
    }

    /// The node's folder: env and control scripts, a random cookie (0400), an empty config and plugin list.
    func writeNode(_ spec: NodeSpec) throws(Problem) {
        let d = spec.sandboxDir!
        for sub in ["", "/bin", "/home", "/data", "/log"] { try make(d + sub, mode: 0o700) }
        let env = """
            export HOME=\(d)/home
            export RABBITMQ_NODENAME=\(spec.nodeName)
            export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
            export RABBITMQ_NODE_PORT=\(spec.amqpPort)
            export RABBITMQ_DIST_PORT=\(spec.distPort)
            export ERL_EPMD_PORT=\(spec.epmdPort)
            export RABBITMQ_MNESIA_BASE=\(d)/data
            export RABBITMQ_LOG_BASE=\(d)/log
            export RABBITMQ_CONFIG_FILE=\(d)/rabbitmq.conf
            export RABBITMQ_ADVANCED_CONFIG_FILE=\(d)/advanced.config
            export RABBITMQ_ENABLED_PLUGINS_FILE=\(d)/plugins
            export RABBITMQ_CONF_ENV_FILE=\(d)/rabbitmq-env.conf
            export RABBITMQ_PID_FILE=\(d)/pid
            export ERL_CRASH_DUMP=\(d)/log/erl_crash.dump

            """
        try write(d + "/bin/env", env, mode: 0o600)
        try write(d + "/bin/rabbitmqctl", "#!/bin/sh\n. \(d)/bin/env\nexec \(Sandbox.ctl) \"$@\"\n", mode: 0o700)
        try write(d + "/bin/start", """
            #!/bin/sh
            # Starts the node in the background and waits until the broker has booted; fails at once when the
            # node exits during its boot (a config it cannot parse), instead of waiting out the time-out.
            # Nothing is written to stdout until the end: a caller that died (a killed wizard) must not end the
            # wait with SIGPIPE while the node still boots, since the next run waits for this script.
            . \(d)/bin/env
            # A node killed a moment ago can still be a zombie nobody has reaped: that one is not running.
            running=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null)
            if [ -n "$running" ] && kill -0 "$running" 2>/dev/null && [ "$(cut -d' ' -f3 /proc/"$running"/stat 2>/dev/null)" != Z ]; then
                \(Sandbox.ctl) -n "$RABBITMQ_NODENAME" await_startup --timeout 120 >> \(d)/log/startup.log 2>&1 || exit 1
                echo "$RABBITMQ_NODENAME is running"
                exit 0
            fi
            rm -f "$RABBITMQ_PID_FILE"
            setsid \(Sandbox.server) >> \(d)/log/startup.log 2>&1 < /dev/null &
            server=$!
            \(Sandbox.ctl) -n "$RABBITMQ_NODENAME" wait "$RABBITMQ_PID_FILE" --timeout 120 >> \(d)/log/startup.log 2>&1 &
            waiter=$!
            while kill -0 "$waiter" 2>/dev/null; do
                # Gone, or a zombie nobody has reaped yet: either way the node has exited.
                if ! kill -0 "$server" 2>/dev/null || [ "$(cut -d' ' -f3 /proc/"$server"/stat 2>/dev/null)" = Z ]; then
                    kill "$waiter" 2>/dev/null
                    echo "the node exited during its boot (see \(d)/log/startup.log)" >&2
                    exit 1
                fi
                sleep 0.2
            done
            wait "$waiter" || { echo "the node did not finish its boot within 120 s (see \(d)/log/startup.log)" >&2; exit 1; }
            echo "$RABBITMQ_NODENAME is running"

            """, mode: 0o700)
        try write(d + "/bin/stop", """
            #!/bin/sh
            # Stops the node recorded in the pid file: gracefully, then by signal.
            . \(d)/bin/env
            [ -f "$RABBITMQ_PID_FILE" ] || exit 0
            pid=$(cat "$RABBITMQ_PID_FILE")
            kill -0 "$pid" 2>/dev/null || { rm -f "$RABBITMQ_PID_FILE"; exit 0; }
            \(Sandbox.ctl) -n "$RABBITMQ_NODENAME" stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
                [ $i -eq 40 ] && kill -TERM "$pid"
                [ $i -eq 80 ] && kill -KILL "$pid"
                sleep 0.25; i=$((i + 1))
            done
            # Only our node's pid file: a start that ran meanwhile (after an aborted wizard left this stop
            # running) has written its own, and removing it would make that start wait forever.
            [ "$(cat "$RABBITMQ_PID_FILE" 2>/dev/null)" = "$pid" ] && rm -f "$RABBITMQ_PID_FILE"
            ! kill -0 "$pid" 2>/dev/null

            """, mode: 0o700)
        try write(d + "/plugins", "[].\n", mode: 0o600)
        try write(d + "/rabbitmq.conf", "# rabbitmq.conf of the sandbox node \(spec.nodeName)\nlisteners.tcp.default = 127.0.0.1:\(spec.amqpPort)\n", mode: 0o644)
        try write(d + "/home/.erlang.cookie", Sandbox.randomCookie(), mode: 0o400)
    }

    static func randomCookie() -> String {
        var rng = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in Character(UnicodeScalar(UInt8.random(in: 65...90, using: &rng))) })
    }

    /// A base AMQP port where `count` consecutive ports, their distribution ports (+20000) and an epmd port
    /// are free.
    static func freePorts(count: Int, from start: Int) -> (Int, Int)? {
        var base = start
        while base + count + 20000 < 65535 {
            let ports = (0..<count).flatMap { [base + $0, base + $0 + 20000] }
            if ports.allSatisfy(portIsFree) {
                // Derived from the base so that sandboxes started at the same time pick different ones.
                var epmd = 4370 + (base / 10) % 50
                while epmd < 4470 && !portIsFree(epmd) { epmd += 1 }
                guard portIsFree(base - 1) else { base += 10; continue }
                if epmd < 4470 { return (base, epmd) }
            }
            base += 10
        }
        return nil
    }

    /// Whether a listener could bind the port (with SO_REUSEADDR, as servers do, so a port with
    /// connections in TIME_WAIT counts as free).
    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = INADDR_ANY
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    static func yaml(_ t: Topology, dir: String) -> String {
        var out = """
            # A loopback sandbox made by `rabbit-wizard sandbox up` in \(dir).
            # Each node is a real RabbitMQ node with its own name, ports, data, config and cookie.
            cluster:
              seed: \(t.seedName)
              partition_handling: \(t.partitionHandling.rawValue)
            state_dir: \(t.stateDir!)

            """
        if let lb = t.loadBalancer {
            out += """
                load_balancer:
                  kind: \(lb.kindName)
                  host: \(lb.host)
                  listen_address: \(lb.listenAddress)
                  listen_port: \(lb.listenPort)
                  reach: local
                  profile: sandbox
                  sandbox_dir: \(lb.sandboxDir!)

                """
        }
        out += "nodes:\n"
        for n in t.nodes {
            out += """
                  - name: \(n.name)
                    host: \(n.host)
                    node_name: \(n.nodeName)
                    reach: local
                    profile: sandbox
                    amqp_port: \(n.amqpPort)
                    dist_port: \(n.distPort)
                    epmd_port: \(n.epmdPort)
                    sandbox_dir: \(n.sandboxDir!)

                """
        }
        return out
    }
}
