import Executor
import Foundation
import Testing
import TestKit
import Workflow

@testable import RabbitSetup

/// The `windows` profile from a discovery answer: where each value comes from, what the installation
/// checks say about a server the wizard cannot work with, and what the topology refuses. Logic only (the
/// answers are written here); the simulated host and the golden plans carry the calls themselves.
@Suite struct WindowsProfileTests {
    static func seen(_ change: (inout WindowsLayout.Seen) -> Void = { _ in }) -> WindowsLayout.Seen {
        var s = WindowsLayout.Seen()
        s.powershell = "5.1.20348.2849"
        s.administrator = true
        s.user = "SERVERA\\admin"
        s.windir = "C:\\Windows"
        s.homeDrive = "C:"
        s.homePath = "\\Users\\admin"
        s.userProfile = "C:\\Users\\admin"
        s.machineBase = "C:\\ProgramData\\RabbitMQ"
        s.erlangHome = "C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\Erlang"
        s.platformServer = "C:\\Program Files\\OutSystems\\Platform Server"
        s.rabbitHomes = ["C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\RabbitMQ Server\\rabbitmq_server-3.13.0"]
        s.service = "Running"
        s.hostName = "SERVERA"
        s.openssh = "9.5.0.0"
        change(&s)
        return s
    }

    static func node(_ seen: WindowsLayout.Seen?, nodeName: String = "rabbit@SERVERA", failed: String? = nil) throws -> RabbitNode {
        var spec = NodeSpec(name: "server-a", host: try HostName("SERVERA"), nodeName: NodeName(nodeName),
                            target: .ssh(try SSHDestination(user: "admin", host: HostName("SERVERA"))), profile: .windows)
        spec.layout = failed.map { .failed($0) } ?? seen.map { .found(WindowsLayout(seen: $0)) }
        let executor = Executor(commandLog: nil, local: ScriptedTransport([]), remote: ScriptedTransport([]))
        return RabbitNode(spec, executor: executor, step: "installation-checks")
    }

    /// The places come from the server: the machine variable first, then what the service stored, then
    /// OutSystems' default; the newest RabbitMQ folder by version (3.10 is newer than 3.9); the CLI's home
    /// from HOMEDRIVE+HOMEPATH, else USERPROFILE; the node name from RABBITMQ_NODENAME, else the host.
    @Test func placesComeFromWhatTheServerShows() throws {
        #expect(WindowsLayout(seen: Self.seen()).base.path == "C:\\ProgramData\\RabbitMQ")
        let stored = WindowsLayout(seen: Self.seen { $0.machineBase = ""; $0.serviceEnv = ["ERLANG_HOME=x", "rabbitmq_base=D:\\Rabbit"] })
        #expect(stored.base.path == "D:\\Rabbit" && stored.base.source.contains("service"))
        let appdata = WindowsLayout(seen: Self.seen { $0.machineBase = ""; $0.serviceEnv = ["APPDATA=C:\\Users\\svc\\AppData\\Roaming"] })
        #expect(appdata.base.path == "C:\\Users\\svc\\AppData\\Roaming\\RabbitMQ")
        #expect(WindowsLayout(seen: Self.seen { $0.machineBase = "" }).base.path == "C:\\ProgramData\\RabbitMQ")

        let homes = WindowsLayout(seen: Self.seen { $0.rabbitHomes = ["X\\rabbitmq_server-3.9.11", "X\\rabbitmq_server-3.10.14", "X\\rabbitmq_server-3.8.3"] })
        #expect(homes.rabbitHome == "X\\rabbitmq_server-3.10.14" && homes.rabbitVersion == [3, 10, 14])
        // The folder the service runs from (its stored ERL_LIBS names its plugins) wins over the newest: an
        // upgrade that left a newer folder beside it does not change which RabbitMQ the wizard talks with.
        let running = WindowsLayout(seen: Self.seen {
            $0.rabbitHomes = ["X\\rabbitmq_server-3.13.0", "X\\rabbitmq_server-4.1.0"]
            $0.serviceEnv = ["APPDATA=C:\\Users\\svc", "ERL_LIBS=X\\rabbitmq_server-3.13.0\\plugins"]
        })
        #expect(running.serviceHome == "X\\rabbitmq_server-3.13.0" && running.rabbitHome == "X\\rabbitmq_server-3.13.0" && running.rabbitVersion == [3, 13, 0])
        #expect(WindowsLayout(seen: Self.seen { $0.homeDrive = "" }).cliHome == "C:\\Users\\admin")
        #expect(WindowsLayout(seen: Self.seen()).cliHome == "C:\\Users\\admin")
        #expect(WindowsLayout(seen: Self.seen()).nodeName == "rabbit@SERVERA")
        #expect(WindowsLayout(seen: Self.seen { $0.machineNodeName = "rabbit@ServerA" }).nodeName == "rabbit@ServerA")

        // Old or partial answers decode (every field may be missing).
        let partial = try JSONDecoder().decode(WindowsLayout.Seen.self, from: Data(#"{"hostName":"SERVERB","administrator":true}"#.utf8))
        #expect(partial.hostName == "SERVERB" && partial.administrator && partial.rabbitHomes.isEmpty)
    }

    /// The profile resolved for a node: every placeholder replaced, the extra cookie copies the server has
    /// added to the CLI's (never the service's own twice); before any look, the placeholders stay.
    @Test func theProfileResolvesFromTheLayout() throws {
        let node = try Self.node(Self.seen { $0.extraCookies = ["C:\\Windows\\SysWOW64\\config\\systemprofile\\.erlang.cookie"] })
        let p = node.profile
        let home = "C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\RabbitMQ Server\\rabbitmq_server-3.13.0"
        #expect(p.family == .windows && p.expressionsOnStdin && p.erl.isEmpty)
        #expect(p.cli == [home + "\\sbin\\rabbitmqctl.bat"])
        #expect(p.configFile == "C:\\ProgramData\\RabbitMQ\\rabbitmq.conf")
        #expect(p.cookieFile == "C:\\Windows\\System32\\config\\systemprofile\\.erlang.cookie")
        #expect(p.cliCookieFiles == ["C:\\Users\\admin\\.erlang.cookie", "C:\\Windows\\SysWOW64\\config\\systemprofile\\.erlang.cookie"])
        // The service is moved by its observed state (WindowsHost.service); these are the words a fix shows.
        #expect(p.stop == ["Stop-Service", "RabbitMQ"] && p.start == ["Start-Service", "RabbitMQ"] && p.serviceName == "RabbitMQ")
        #expect(p.bootLogs == ["C:\\ProgramData\\RabbitMQ\\log\\rabbit@SERVERA.log"])
        #expect(p.path(p.backupDir, "x.json") == "C:\\ProgramData\\RabbitMQ\\x.json")
        #expect(node.host is WindowsHost)
        let unknown = try Self.node(nil)
        #expect(unknown.profile.cli == ["{rmqHome}\\sbin\\rabbitmqctl.bat"])
    }

    /// A server OutSystems set up as documented gives no Windows finding; each departure gives its own.
    @Test func theChecksNameWhatTheWizardCannotWorkWith() throws {
        let good = try Self.node(Self.seen()).platformFindings()
        #expect(good.map(\.name) == ["windows-layout"] && good[0].severity == .info)
        #expect(good[0].message.contains("RabbitMQ 3.13.0 in C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\RabbitMQ Server\\rabbitmq_server-3.13.0")
                && good[0].message.contains("C:\\ProgramData\\RabbitMQ (the machine variable RABBITMQ_BASE)")
                && good[0].message.contains("the CLI's cookie C:\\Users\\admin\\.erlang.cookie"), "\(good[0].message)")
        func names(_ change: (inout WindowsLayout.Seen) -> Void, nodeName: String = "rabbit@SERVERA") throws -> [String] {
            try Self.node(Self.seen(change), nodeName: nodeName).platformFindings().filter { $0.severity != .info }.map(\.name)
        }
        #expect(try names { $0.administrator = false } == ["windows-not-administrator"])
        #expect(try names { $0.service = "missing" } == ["rabbitmq-service-missing"])
        #expect(try names { $0.rabbitHomes.append("X\\rabbitmq_server-3.12.0") } == ["several-rabbitmq-folders"])
        #expect(try names { $0.rabbitHomes = ["X\\rabbitmq_server-3.8.3"] } == ["rabbitmq-too-old-for-windows"])
        #expect(try names { $0.rabbitHomes = ["X\\rabbitmq_server-3.8.21"] }.isEmpty)
        #expect(try names { $0.rabbitHomes = [] } == ["rabbitmq-not-found"])
        #expect(try names { $0.machineBase = "" } == ["rabbitmq-base-not-machine-wide"])
        #expect(try names { $0.erlangHome = "" } == ["erlang-home-missing"])
        #expect(try names { $0.openssh = "7.7.2.1" } == ["openssh-old"])
        #expect(try names({ _ in }, nodeName: "rabbit@ServerA") == ["node-name-mismatch"])
        let failed = try Self.node(nil, failed: "ssh://admin@SERVERA connection refused").platformFindings()
        #expect(failed.map(\.name) == ["windows-layout-unknown"] && failed[0].message.contains("connection refused"))
        let checks = InstallationChecksStep(topology: Topology(nodes: [try Self.node(nil).spec], seedName: "server-a"))
        #expect(Set(RabbitNode.platformFindingNames + ["cookie-copies-differ"]).isSubset(of: Set(checks.findingNames)), "every finding can be waived by name")
    }

    /// A Windows node is reached over ssh; a load balancer is never put on Windows: both named with the fix.
    @Test func theTopologyRefusesWhatCannotWorkOnWindows() {
        // The golden plans' topology (valid), with server-b's reach left out and the load balancer on Windows.
        let good = GoldenCommandsTests.windowsTopologyText
        #expect(TopologyTests.problems(good).isEmpty, "\(TopologyTests.problems(good))")
        let yaml = good.replacing("    reach: ssh://admin@SERVERB\n", with: "").replacing("  listen_port: 9", with: "  listen_port: 9\n  profile: windows")
        let problems = TopologyTests.problems(yaml)
        #expect(problems.map(\.field).sorted() == ["load_balancer.profile", "nodes[1].reach"], "\(problems)")
        #expect(problems.first { $0.field == "load_balancer.profile" }?.fix.contains("Debian host") == true)
        #expect(problems.first { $0.field == "nodes[1].reach" }?.fix.contains("ssh://") == true)
    }

    /// The RabbitMQ module defines each function it offers, and every call of the Windows host carries it
    /// (the executor's library has none of RabbitMQ's functions).
    @Test func theRabbitModuleDefinesWhatItOffers() async throws {
        let module = RabbitPowerShell.module
        #expect(!module.functions.isEmpty)
        for function in module.functions {
            #expect(module.text.contains("\nfunction \(function)(") || module.text.hasPrefix("function \(function)("), "\(function)")
            #expect(!PowerShellLibrary.text.contains("function \(function)("), "\(function) is RabbitSetup's, not the executor's")
        }
        let recorder = ScriptedTransport([.init([RabbitPowerShell.service]), .init([RabbitPowerShell.layout])])
        let executor = Executor(commandLog: nil, local: recorder, remote: recorder)
        let host = WindowsHost(executor: executor, target: .ssh(try SSHDestination(url: "ssh://admin@ServerA")).speaking(.powershell), step: nil)
        _ = await host.service(.running, .windows)
        _ = await host.discoverLayout(serviceName: "RabbitMQ")
        let sent = recorder.specs
        #expect(sent.count == 2)
        #expect(sent.allSatisfy { $0.powershellModule == module }, "\(sent.map(\.argv))")
    }

    /// The documented Windows topology (`Resources/topology.windows.yml`) is valid as written.
    @Test func theDocumentedWindowsTopologyParses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/topology.windows.yml").path
        let t = try TopologyParser.load(path: path)
        #expect(t.nodes.map(\.profile) == [.windows, .windows] && t.loadBalancer?.profile == .debian)
    }

    /// A CLI user's cookie copy that differs from the service's: an error on the seed (its CLI could not
    /// reach it, and its cookie is the one every node gets; the fix copies it), a warning on a joiner (the
    /// cookie step makes it equal). The answers are scripted: which copies are read is the point.
    @Test func aCookieCopyThatDiffersIsNamed() async throws {
        func seen(_ sha: String) -> String { #"{"kind":"regular","mode":"400","owner":"BUILTIN\\Administrators","sha256":"\#(sha)"}"# + "\n" }
        let transport = ScriptedTransport([
            .init(["Observe-File", "rabbitmq.conf"], stdout: #"{"kind":"missing"}"# + "\n"),
            .init(["Observe-File", "System32\\config\\systemprofile\\.erlang.cookie"], stdout: seen("aaaa")),
            .init(["Observe-File", "C:\\Users\\admin\\.erlang.cookie"], stdout: seen("bbbb")),
            .init(["Observe-File", "SysWOW64"], stdout: #"{"kind":"missing"}"# + "\n"),
            // The cookies' bytes, judged by Erlang's rules: printable ASCII, so no cookie-bom or cookie-invalid.
            .init(["Read-Secret", ".erlang.cookie"], stdout: "ABCDEFGHIJKLMNOPQRST"),
        ])
        let executor = Executor(commandLog: nil, local: transport, remote: transport)
        var spec = try Self.node(Self.seen { $0.extraCookies = ["C:\\Windows\\SysWOW64\\config\\systemprofile\\.erlang.cookie"] }).spec
        let seed = RabbitNode(spec, executor: executor, step: "installation-checks")
        spec.name = "server-b"
        let joiner = RabbitNode(spec, executor: executor, step: "installation-checks")
        let topology = Topology(nodes: [seed.spec, joiner.spec], seedName: "server-a")

        let onSeed = await InstallationChecksStep.fileFindings(seed, topology: topology).filter { $0.name == "cookie-copies-differ" }
        #expect(onSeed.map(\.severity) == [.error, .error], "the user's copy differs, the 32-bit one is missing: \(onSeed)")
        #expect(onSeed.first?.fix?.contains("Copy-Item -LiteralPath 'C:\\Windows\\System32\\config\\systemprofile\\.erlang.cookie' -Destination 'C:\\Users\\admin\\.erlang.cookie'") == true,
                "\(onSeed)")
        let onJoiner = await InstallationChecksStep.fileFindings(joiner, topology: topology).filter { $0.name == "cookie-copies-differ" }
        #expect(onJoiner.map(\.severity) == [.warning, .warning] && onJoiner.allSatisfy { $0.message.contains("the erlang-cookie step makes it equal") })
        #expect(transport.argvs.filter { $0.first == "Read-Secret" }.count >= 2, "the cookies' bytes were not looked at")
        // No cookie mode or owner finding on Windows: Erlang checks no ACL there.
        #expect(await InstallationChecksStep.fileFindings(seed, topology: topology).allSatisfy { $0.name != "cookie-mode" && $0.name != "cookie-owner" })
    }
}
