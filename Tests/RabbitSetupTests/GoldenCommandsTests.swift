import Executor
import Foundation
import Synchronization
import Testing
import TestKit
import Workflow

@testable import RabbitSetup

/// What every step sends to each server of a 3-node Debian topology behind nginx, phase by phase, in
/// order per server: pinned in `Golden/debian-3-nodes.txt`. A refactor of how steps reach servers (the
/// host seam) must not change a byte of it. The servers are a fixed model of fresh Debian hosts (a
/// scripted transport), so this pins what is sent, not what servers do: the scenarios do that.
///
/// After an intended change of the commands: `RABBIT_WIZARD_RECORD_GOLDEN=1 swift test --filter
/// GoldenCommandsTests`, then read the diff of the golden file before committing it.
struct GoldenCommandsTests {
    static let topologyText = Topologies.threeDebianServers + """

        load_balancer:
          kind: nginx
          host: 127.0.0.9
          reach: ssh://root@LB
          listen_port: 9
        """

    /// Fresh Debian servers as the steps observe them: standalone nodes, each with its own cookie, no
    /// rabbitmq.conf, nginx installed but not running. Stateless: a write does not change what is read.
    final class FreshDebian: Transport {
        struct Call { var target: String; var line: String }
        let calls = Mutex<[Call]>([])
        /// Commands (by their first words) that end otherwise than the model says.
        let overrides: [[String]: Termination]

        /// The servers' host names (the cluster once formed).
        let servers: [String]

        init(overrides: [[String]: Termination] = [:], servers: [String] = ["ServerA", "ServerB", "ServerC"]) {
            self.overrides = overrides
            self.servers = servers
        }

        static func host(of argv: [String], target: Target) -> String {
            if let i = argv.firstIndex(of: "-n"), i + 1 < argv.count, let at = argv[i + 1].firstIndex(of: "@") {
                return String(argv[i + 1][argv[i + 1].index(after: at)...])
            }
            if case .ssh(let d) = target { return d.host.value }
            return "local"
        }

        /// Steps that run after cluster-join find one cluster of the three nodes.
        static let afterJoin: Set<StepID> = [.loadBalancer, .failoverDrill, .outSystemsHandoff]

        func answer(_ argv: [String], target: Target, formed: Bool, stdin: String = "") -> (Termination, String) {
            if let windows = windowsAnswer(argv, target: target, formed: formed, stdin: stdin) { return windows }
            let all = argv.joined(separator: " ")
            let host = FreshDebian.host(of: argv, target: target)
            let own = "rabbit@\(host)"
            let members = formed ? servers.map { "rabbit@\($0)" } : [own]
            let list = members.map { "\"\($0)\"" }.joined(separator: ",")
            if all.contains("stat -c") {
                let path = argv.count > 4 ? argv[4] : ""
                let bytes = argv.last == "bytes"
                if path.hasSuffix(".erlang.cookie") {
                    let cookie = "COOKIE\(host.uppercased())"
                    return (.exited(code: 0), "regular 400 rabbitmq rabbitmq\n\(Self.sha(cookie))\n" + (bytes ? Data(cookie.utf8).base64EncodedString() + "\n" : ""))
                }
                if path.hasSuffix(".so") { return (.exited(code: 0), "regular 644 root root\n\(Self.sha("module"))\n") }
                if path.contains("rabbit-wizard-definitions") { return (.exited(code: 0), "regular 600 rabbitmq rabbitmq\n\(Self.sha("defs"))\n") }
                return (.exited(code: 0), "missing\n")
            }
            if all.contains("mktemp") && all.contains("cat >") { return (.exited(code: 0), Self.sha("written") + "\n") }
            if argv.first == "cat" { return (.exited(code: 0), "COOKIE\(host.uppercased())") }
            if all.contains("command -v") { return (.exited(code: 0), "/usr/sbin/nginx\n") }
            if all.contains("/dev/tcp") { return (.exited(code: 0), argv.drop { $0 != "tcp" && $0 != "amqp" }.dropFirst().map { "ok \($0)\n" }.joined()) }
            if argv.starts(with: ["service", "nginx", "status"]) { return (.exited(code: 3), "") }
            // As RabbitMQ 3.10 prints them: a fresh node has the default vhost and user.
            if argv.contains("list_vhosts") { return (.exited(code: 0), #"[{"name":"/"}]"# + "\n") }
            if argv.contains("list_users") { return (.exited(code: 0), #"[{"user":"guest","tags":["administrator"]}]"# + "\n") }
            if argv.contains("cluster_status") {
                return (.exited(code: 0), #"{"running_nodes":[\#(list)],"disk_nodes":[\#(list)],"partitions":{},"cluster_name":"\#(members[0])"}"#)
            }
            if let i = argv.firstIndex(of: "eval"), i + 1 < argv.count {
                let expression = argv[i + 1]
                if expression.contains("file:consult") { return (.exited(code: 0), "unset\nok\n") }
                if expression.contains("app_running") {
                    return (.exited(code: 0), "partition_handling={ok,ignore}\ncluster_nodes=\(members.joined(separator: ","))\napp_running=true\nok\n")
                }
                if expression == "node()." { return (.exited(code: 0), own + "\n") }
                // What a running RabbitMQ 3.10.8 node answers to the live changes (RabbitNode's LiveChange.swift).
                if expression.contains("translates=") { return (.exited(code: 0), "translates=true\nok\n") }
                if expression.contains("erlang:set_cookie") { return (.exited(code: 0), "adopted\nok\n") }
                if expression.contains("application:set_env") { return (.exited(code: 0), "set\nok\n") }
                if expression.contains("generate_config_from_cuttlefish_files") {
                    return (.exited(code: 0), "boot_file=/etc/rabbitmq/rabbitmq.conf\nboot_value=unset\nok\n")
                }
                let peers = servers
                let address = Dictionary(uniqueKeysWithValues: servers.enumerated().map { ($1, "10.0.0.\(11 + $0)") })
                let lines = ["node=\(own)", "version=3.10.8", "otp=25", "partition_handling={ok,ignore}", "cluster_nodes=\(own)",
                             "running_nodes=\(own)", "alarms=[]", "disk_free=50000000000", "disk_free_limit=50000000",
                             "vhosts=/", "users=guest", "queues=0", "addresses=127.0.0.1,\(address[host] ?? "10.0.0.99")", "app_running=true"]
                    + peers.map { "resolve \($0)=\(address[$0]!)" }
                    + peers.flatMap { p in [4369, 25672, 5672].map { "tcp \(p):\($0)=ok" } }
                return (.exited(code: 0), lines.joined(separator: "\n") + "\nok\n")
            }
            return (.exited(code: 0), "")
        }

        /// Fresh Windows servers as OutSystems leaves them (RabbitMQ 3.13.0 under the Platform Server,
        /// RABBITMQ_BASE machine-wide), answering the PowerShell library's calls: the recorded discovery
        /// answer for `Get-RabbitLayout`, files as ``answer(_:target:formed:stdin:)`` has them, and the CLI
        /// (behind its cookie guard, an `eval` expression on stdin) as the Debian model's.
        func windowsAnswer(_ argv: [String], target: Target, formed: Bool, stdin: String) -> (Termination, String)? {
            guard let call = argv.first, PowerShellLibrary.functions.union(RabbitPowerShell.module.functions).contains(call) || call == PowerShellLibrary.cookieGuard || call.hasSuffix("rabbitmq-service.bat") else { return nil }
            let host = FreshDebian.host(of: argv, target: target)
            switch call {
            case RabbitPowerShell.layout: return (.exited(code: 0), FreshDebian.windowsLayout(host: host) + "\n")
            case "Observe-File":
                let path = argv[1]
                func seen(_ mode: String, _ content: String) -> String {
                    #"{"kind":"regular","mode":"\#(mode)","owner":"BUILTIN\\Administrators","sha256":"\#(Self.sha(content))""#
                        + (argv.last == "bytes" ? #","bytes":"\#(Data(content.utf8).base64EncodedString())""# : "") + "}\n"
                }
                if path.hasSuffix(".erlang.cookie") { return (.exited(code: 0), seen("400", "COOKIE\(host.uppercased())")) }
                if path.contains("rabbit-wizard-definitions") { return (.exited(code: 0), seen("644", "defs")) }
                return (.exited(code: 0), #"{"kind":"missing"}"# + "\n")
            case "Write-FileAtomic": return (.exited(code: 0), Self.sha("written") + "\n")
            case "Read-Secret": return (.exited(code: 0), "COOKIE\(host.uppercased())")
            case "Test-Ports": return (.exited(code: 0), argv.dropFirst(2).map { "ok \($0)\n" }.joined())
            case "Invoke-WithCookie":
                let cli = Array(argv.dropFirst(3))
                return answer(cli.last == "eval" ? cli + [stdin] : cli, target: target, formed: formed)
            default: return (.exited(code: 0), "")
            }
        }

        /// The recorded discovery answer of a fresh OutSystems server (`Get-RabbitLayout`'s JSON).
        static func windowsLayout(host: String) -> String {
            #"{"powershell":"5.1.20348.2849","administrator":true,"user":"\#(host)\\admin","windir":"C:\\Windows","homeDrive":"C:","#
                + #""homePath":"\\Users\\admin","userProfile":"C:\\Users\\admin","machineBase":"C:\\ProgramData\\RabbitMQ","machineNodeName":"","#
                + #""erlangHome":"C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\Erlang","#
                + #""serviceEnv":["ERLANG_SERVICE_MANAGER_PATH=C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\Erlang\\erts-14.2.2\\bin"],"#
                + #""platformServer":"C:\\Program Files\\OutSystems\\Platform Server","#
                + #""rabbitHomes":["C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\RabbitMQ Server\\rabbitmq_server-3.13.0"],"#
                + #""service":"Running","hostName":"\#(host)","extraCookies":["C:\\Windows\\SysWOW64\\config\\systemprofile\\.erlang.cookie"],"#
                + #""openssh":"9.5.0.0","defaultShell":""}"#
        }

        /// FNV-1a 64 as hex: a digest to tell texts apart (nothing here is a security check).
        static func sha(_ s: String) -> String {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            return String(h, radix: 16).leftPadded(16)
        }

        /// One argv element as the golden file shows it: exact, long ones (scripts, Erlang expressions) by
        /// their length and digest, so the file stays readable and a change of one byte still shows.
        static func shown(_ word: String) -> String {
            if word.count <= 100 && !word.contains("\n") { return word }
            return "<\(word.count) chars fnv:\(sha(word).prefix(12)) \(word.prefix { $0 != "\n" }.prefix(32))...>"
        }

        func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
                 onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
        {
            let input: String = switch spec.stdin {
            case .none: ""
            case .bytes(let b): " <stdin \(b.count) bytes fnv:\(FreshDebian.sha(String(decoding: b, as: UTF8.self)).prefix(12))>"
            case .secret(let s): " <stdin \(s.description)>"
            }
            // Backup and export names carry the time of the run: shown as <time>.
            let line = ((spec.mutates ? "! " : "  ") + spec.argv.map(FreshDebian.shown).joined(separator: " ") + input)
                .replacing(/[0-9]{8}T[0-9]{6}\.[0-9]{3}Z/, with: "<time>").replacing(/-[0-9]{10}\.json/, with: "-<time>.json")
            calls.withLock { $0.append(Call(target: spec.target.description, line: line)) }
            let given: String = if case .bytes(let b) = spec.stdin { String(decoding: b, as: UTF8.self) } else { "" }
            var (termination, out) = answer(spec.argv, target: spec.target, formed: spec.step.map(FreshDebian.afterJoin.contains) ?? false, stdin: given)
            if let given = overrides.first(where: { spec.argv.starts(with: $0.key) })?.value { termination = given }
            let stream = CapturedStream(text: out, truncated: false, tail: out, totalBytes: out.utf8.count)
            return TransportOutcome(termination: termination, stdout: stream, stderr: .empty,
                                    secretStdout: spec.stdoutIsSecret ? Secret(bytes: Array(out.utf8)) : nil)
        }

        /// The calls since the last take, grouped by target.
        func take() -> String {
            let taken = calls.withLock { c in defer { c = [] }; return c }
            // Nodes are worked on in parallel: servers in name order, each server's commands in order.
            let targets = Set(taken.map(\.target)).sorted()
            // A poll repeats a command as often as time allows: consecutive repeats are one line.
            return targets.map { t in
                var lines: [String] = []
                for call in taken where call.target == t && lines.last != call.line { lines.append(call.line) }
                return "  \(t):\n" + lines.map { "    \($0)\n" }.joined()
            }.joined()
        }
    }

    /// Two Windows nodes as OutSystems installs them, behind nginx on a Debian host.
    static let windowsTopologyText = """
        cluster:
          seed: server-a
        nodes:
          - name: server-a
            host: SERVERA
            profile: windows
            reach: ssh://admin@SERVERA
          - name: server-b
            host: SERVERB
            profile: windows
            reach: ssh://admin@SERVERB
        load_balancer:
          kind: nginx
          host: 127.0.0.9
          reach: ssh://root@LB
          listen_port: 9
        """

    /// Every phase of every step against the model, and what was sent in each. With `windows`, the
    /// 2-node Windows topology, looked at first (the discovery is the file's first section).
    static func record(kind: String = "nginx", only: Set<String>? = nil, windows: Bool = false) async throws -> String {
        var topology = try TopologyParser.parse(windows ? windowsTopologyText : topologyText.replacing("kind: nginx", with: "kind: \(kind)"))
        let servers = windows ? FreshDebian(servers: ["SERVERA", "SERVERB"]) : FreshDebian()
        let executor = Executor(commandLog: nil, local: servers, remote: servers)
        let context = StepContext(executor: executor)
        var out = "# What each step sends to each server (! = changes something), per phase. See GoldenCommandsTests.\n"
        if windows {
            topology = await topology.discovered(executor: executor)
            out += "\n## discovery\n" + servers.take()
        }
        func phase(_ step: any Step, _ name: String, _ body: () async throws(StepFailure) -> Void) async {
            var outcome = "ok"
            do throws(StepFailure) { try await body() } catch { outcome = "failed: \(error.cause)" }
            out += "\n## \(step.id) \(name): \(outcome)\n" + servers.take()
        }
        for step in SetupSteps.all(for: topology) where only?.contains(step.id.rawValue) ?? true {
            var plan = Plan(step: step.id, changes: [])
            var undo = Undo.none
            await phase(step, "check") { () throws(StepFailure) in _ = try await step.check(context) }
            await phase(step, "plan") { () throws(StepFailure) in plan = try await step.plan(context) }
            await phase(step, "prepare") { () throws(StepFailure) in undo = try await step.prepare(plan, context) }
            await phase(step, "apply") { () throws(StepFailure) in undo = try await step.apply(plan, prepared: undo, context) }
            await phase(step, "verify") { () throws(StepFailure) in try await step.verify(context) }
            await phase(step, "rollback") { () throws(StepFailure) in try await step.rollback(undo, context) }
        }
        return out
    }

    static func goldenPath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)").path
    }

    static func compare(_ recorded: String, golden name: String) throws {
        let path = goldenPath(name)
        if ProcessInfo.processInfo.environment["RABBIT_WIZARD_RECORD_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try recorded.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOfFile: path, encoding: .utf8)
        #expect(recorded == golden, "\(name):\n\(LineDiff.render(LineDiff.diff(golden, recorded)).joined(separator: "\n"))")
    }

    /// Recorded twice: the same run sends the same commands (the golden file is a fact, not a race).
    @Test func everyStepSendsWhatTheGoldenFileSays() async throws {
        let recorded = try await Self.record(), again = try await Self.record()
        #expect(recorded == again, "\(LineDiff.render(LineDiff.diff(recorded, again)).joined(separator: "\n"))")
        try Self.compare(recorded, golden: "debian-3-nodes.txt")
        let golden = try String(contentsOfFile: Self.goldenPath("debian-3-nodes.txt"), encoding: .utf8)
        // The model answered enough for every step to reach its changes: not a file of early failures.
        #expect(golden.contains("## cluster-join apply: ok") && golden.contains("## load-balancer apply: ok")
                && golden.contains("## erlang-cookie apply: ok"), "the model no longer carries the steps through apply")
    }

    /// Two Windows nodes (the `windows` profile, resolved from a recorded discovery answer) behind nginx on
    /// Debian: what each step would send, as library calls and programs (the PowerShell wire that carries
    /// them is pinned by PowerShellWireTests). Read once by a person before it was committed.
    @Test func windowsNodesSendWhatTheGoldenFileSays() async throws {
        let recorded = try await Self.record(windows: true)
        try Self.compare(recorded, golden: "windows-2-nodes.txt")
        #expect(recorded.contains("## cluster-join apply: ok") && recorded.contains("## erlang-cookie apply: ok")
                && recorded.contains("## partition-handling apply: ok"), "the model no longer carries the steps through apply")
        #expect(!recorded.contains("{rmqHome}") && !recorded.contains("{base}"), "every place of the profile was resolved")
    }

    /// HAProxy edits a block of Debian's own haproxy.cfg: its load-balancer step, pinned the same way.
    @Test func haproxySendsWhatTheGoldenFileSays() async throws {
        try Self.compare(try await Self.record(kind: "haproxy", only: ["load-balancer"]), golden: "debian-3-nodes-haproxy.txt")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
