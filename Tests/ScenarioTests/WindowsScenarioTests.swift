import Executor
import Foundation
import Glibc
import TestKit
import Testing
import Workflow

@testable import RabbitSetup

/// Two simulated Windows servers behind nginx on loopback, through the real product: `plan`, `apply --yes`
/// with a service that fails to start once and its `retry`, `status`, a service stopped by hand under a
/// rollback and under the partition repair's restart, a stop that fails once, and the rollback of every
/// step; the services' start type, account and folder as they were, never removed or installed again.
///
/// Each server is a real sshd whose ForceCommand (`Tests/tools/windows_host.py`) checks every command as
/// Windows would receive it and carries out its library call against a folder standing in for `C:\`. A
/// real sandbox RabbitMQ node stands in for each Windows service: `RABBITMQ_BASE` is the node's folder, the
/// system profile (the service's cookie) is the node's HOME, a stand-in for `rabbitmqctl.bat` (the login
/// user's HOME, so its own cookie copy) sits where OutSystems puts RabbitMQ, and the service itself is the
/// simulated Service Control Manager's (`Tests/tools/windows_services.py`: Start-Service and Stop-Service
/// as PowerShell's Service.cs does them, `rabbitmq-service.bat` as its script and erlsrv do). What this
/// proves: the `windows` profile's steps, from the discovery to the hand-off, form a working cluster and
/// undo it, with every command well-formed for Windows. What it cannot prove: anything PowerShell or
/// Windows itself does.
@Suite(.serialized) struct WindowsScenarioTests {
    static let platformServer = "C:\\Program Files\\OutSystems\\Platform Server"
    static let rabbitHome = platformServer + "\\thirdparty\\RabbitMQ Server\\rabbitmq_server-3.10.8"

    /// Makes a simulated Windows server stand for the sandbox node `letter`.
    static func standIn(_ w: WindowsSimulator, for letter: String, bed: SandboxBed) throws {
        let node = bed.nodeDir(letter)
        let fm = FileManager.default
        for dir in ["C:\\ProgramData", "C:\\Windows\\System32\\config", "C:\\Windows\\SysWOW64\\config\\systemprofile", "C:\\Users\\admin", rabbitHome + "\\sbin"] {
            try fm.createDirectory(atPath: w.local(dir), withIntermediateDirectories: true)
        }
        // The service's files and cookie are the node's own.
        try fm.createSymbolicLink(atPath: w.local("C:\\ProgramData\\RabbitMQ"), withDestinationPath: node)
        try fm.createSymbolicLink(atPath: w.local("C:\\Windows\\System32\\config\\systemprofile"), withDestinationPath: node + "/home")
        // The installer's copies of the service's cookie: the login user's and the 32-bit system profile's.
        let cookie = Support.read(node + "/home/.erlang.cookie")
        Support.write(cookie, to: w.local("C:\\Users\\admin\\.erlang.cookie"), mode: 0o400)
        Support.write(cookie, to: w.local("C:\\Windows\\SysWOW64\\config\\systemprofile\\.erlang.cookie"), mode: 0o400)
        Support.write("""
            #!/bin/sh
            . \(node)/bin/env
            export HOME='\(w.local("C:\\Users\\admin"))'
            exec /usr/lib/rabbitmq/bin/rabbitmqctl "$@"

            """, to: w.local(rabbitHome + "\\sbin\\rabbitmqctl.bat"), mode: 0o700)
        // rabbitmq-service.bat as its verbs behave (the wizard never runs it; a test of older behaviour may).
        Support.write("""
            #!/bin/sh
            exec python3 '\(Self.tools)/rabbitmq_service_bat.py' '\(w.drives)' '\(rabbitHome)' "$@"

            """, to: w.local(rabbitHome + "\\sbin\\rabbitmq-service.bat"), mode: 0o700)
        // The service as an administrator left it: started by hand, under an account of its own.
        try Self.writeJSON(["RabbitMQ": Self.installed], to: w.drives + "/services.json")
        try Self.writeJSON(["RabbitMQ": node + "/bin"], to: w.drives + "/service-control.json")
        let layout = Self.layout(letter: letter, nodeName: bed.nodeName(letter))
        try JSONSerialization.data(withJSONObject: layout).write(to: URL(fileURLWithPath: w.drives + "/layout.json"))
    }

    static let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tools").path

    /// The service as the simulated Service Control Manager holds it (`Tests/tools/windows_services.py`).
    static var installed: [String: Any] {
        ["state": "Running", "startMode": "Manual", "account": ".\\rabbitsvc",
         "path": "\"C:\\Program Files\\OutSystems\\Platform Server\\thirdparty\\Erlang\\erts-14.2.2\\bin\\erlsrv.exe\"", "home": rabbitHome]
    }

    static func writeJSON(_ value: Any, to path: String) throws {
        try JSONSerialization.data(withJSONObject: value).write(to: URL(fileURLWithPath: path))
    }

    /// The simulated service now.
    static func service(_ w: WindowsSimulator) -> [String: Any] {
        let all = (try? JSONSerialization.jsonObject(with: Data(Support.read(w.drives + "/services.json").utf8))) as? [String: Any]
        return all?["RabbitMQ"] as? [String: Any] ?? [:]
    }

    /// The recorded discovery answer of a server OutSystems set up as documented.
    static func layout(letter: String, nodeName: String) -> [String: Any] {
        ["powershell": "5.1.20348.2849", "administrator": true, "user": "SERVER\(letter.uppercased())\\admin", "windir": "C:\\Windows",
         "homeDrive": "C:", "homePath": "\\Users\\admin", "userProfile": "C:\\Users\\admin", "machineBase": "C:\\ProgramData\\RabbitMQ",
         "machineNodeName": nodeName, "erlangHome": platformServer + "\\thirdparty\\Erlang", "serviceEnv": ["ERL_LIBS=\(rabbitHome)\\plugins"],
         "platformServer": platformServer, "rabbitHomes": [rabbitHome], "service": "Running", "hostName": "localhost",
         "extraCookies": ["C:\\Windows\\SysWOW64\\config\\systemprofile\\.erlang.cookie"], "openssh": "9.5.0.0", "defaultShell": ""]
    }

    @Test func twoSimulatedWindowsNodesFormACluster() async throws {
        try await SandboxBed.with(nodes: 2, basePort: 5791, loadBalancer: "nginx") { bed in
            try await WindowsSimulator.with { a in
                try await WindowsSimulator.with(clientKey: a.server.clientKey) { b in
                    try Self.standIn(a, for: "a", bed: bed)
                    try Self.standIn(b, for: "b", bed: bed)
                    try await Self.scenario(bed, a, b)
                }
            }
        }
    }

    static func scenario(_ bed: SandboxBed, _ a: WindowsSimulator, _ b: WindowsSimulator) async throws {
        // The seed's cookie is the secret that travels: random, so a canary.
        let canary = Support.read(bed.nodeDir("a") + "/home/.erlang.cookie").trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(canary.count >= 16)
        let before = (conf: [Support.read(bed.nodeDir("a") + "/rabbitmq.conf"), Support.read(bed.nodeDir("b") + "/rabbitmq.conf")],
                      cookieB: Support.read(bed.nodeDir("b") + "/home/.erlang.cookie"))

        // The sandbox's topology with its nodes as Windows servers reached over ssh.
        var text = Support.read(bed.topology)
        for (letter, w) in [("a", a), ("b", b)] {
            text = text.replacing("    node_name: \(bed.nodeName(letter))\n    reach: local\n    profile: sandbox",
                                  with: "    node_name: \(bed.nodeName(letter))\n    reach: ssh://\(Support.userName)@127.0.0.1:\(w.server.port)\n    profile: windows")
            text = text.replacing("    sandbox_dir: \(bed.nodeDir(letter))\n", with: "")
        }
        let topology = bed.dir + "/topology-windows.yml"
        Support.write(text, to: topology)
        for w in [a, b] {
            let enrol = await Support.run([Support.productBinary, "known-hosts", "add", "ssh://\(Support.userName)@127.0.0.1:\(w.server.port)",
                                           "--fingerprint", await w.server.hostFingerprint(), "--state-dir", bed.state])
            try #require(enrol.termination == .exited(code: 0), "\(enrol.stdout.text)\(enrol.stderr.text)")
        }
        let password = "Windows-\(UUID().uuidString.prefix(8))"
        Support.write(password + "\n", to: bed.dir + "/password")
        func wizard(_ args: [String], environment: [String: String] = [:]) async -> TransportOutcome {
            await Support.run([Support.productBinary] + args + ["--config", topology, "--identity", a.server.clientKey], timeout: .seconds(600),
                              environment: environment)
        }
        var outputs: [String] = []

        // One command by hand, as the checklist's first look at a server does it.
        let exec = await Support.run([Support.productBinary, "exec", "--windows", "--target", "ssh://\(Support.userName)@127.0.0.1:\(a.server.port)",
                                      "--state-dir", bed.state, "--identity", a.server.clientKey, "--", "sh", "-c", "echo from-windows; exit 3"])
        #expect(exec.termination == .exited(code: 3) && exec.stdout.text == "from-windows\n", "\(exec.termination) \(exec.stdout.text)\(exec.stderr.text)")
        #expect(a.calls.last?.hasPrefix("Complete-Call { Invoke-Native ") == true)

        // plan: the places come from each server's answer.
        let plan = await wizard(["plan"])
        outputs.append(plan.stdout.text + plan.stderr.text)
        #expect(plan.termination == .exited(code: 0), "\(plan.stdout.text)\(plan.stderr.text)")
        #expect(plan.stdout.text.contains("C:\\ProgramData\\RabbitMQ\\rabbitmq.conf") && !plan.stdout.text.contains("{base}"), "\(plan.stdout.text)")

        // apply: both nodes take the strategy and the joiner the seed's cookie while they run. No service is
        // stopped or started (a start would fail: one is armed to), no Erlang VM restarted.
        try Self.writeJSON(["start-fails": 1], to: b.drives + "/faults.json")
        let serviceLines = [a, b].map { Support.read($0.drives + "/service.log").split(separator: "\n").count }
        let vms = bed.letters.map(bed.pid)
        let rest = await wizard(["apply", "--yes", "--outsystems-password-file", bed.dir + "/password"])
        outputs.append(rest.stdout.text + rest.stderr.text)
        #expect(rest.termination == .exited(code: 0), "\(rest.stdout.text)\(rest.stderr.text)")
        #expect([a, b].map { Support.read($0.drives + "/service.log").split(separator: "\n").count } == serviceLines,
                "apply moved a service: \(Support.read(b.drives + "/service.log"))")
        #expect(bed.letters.map(bed.pid) == vms && !vms.contains(""), "apply restarted a node's Erlang VM")
        #expect(!b.calls.isEmpty && b.calls.allSatisfy { !$0.contains("Set-RabbitService") }, "apply asked for a service move")
        try Self.writeJSON([String: Int](), to: b.drives + "/faults.json")

        // Seen with the nodes' own CLI, not the product's: one cluster of both.
        let both = [bed.nodeName("a"), bed.nodeName("b")].sorted()
        #expect(await bed.runningNodes(seenFrom: "a")?.running == both)
        #expect(await bed.runningNodes(seenFrom: "b")?.running == both)
        // The joiner's definitions export (taken before the join) is in its RABBITMQ_BASE.
        let exports = (try FileManager.default.contentsOfDirectory(atPath: bed.nodeDir("b"))).filter { $0.hasPrefix("rabbit-wizard-definitions-") }
        #expect(exports.count == 1 && exports.allSatisfy { Support.read(bed.nodeDir("b") + "/" + $0).contains("\"vhosts\"") }, "\(exports)")
        // The joiner's copies of the cookie follow its service's (the seed's now).
        for copy in ["C:\\Users\\admin\\.erlang.cookie", "C:\\Windows\\SysWOW64\\config\\systemprofile\\.erlang.cookie"] {
            #expect(Support.read(b.local(copy)) == Support.read(bed.nodeDir("b") + "/home/.erlang.cookie"), "\(copy)")
        }

        let status = await wizard(["status"])
        outputs.append(status.stdout.text + status.stderr.text)
        #expect(status.termination == .exited(code: 0), "\(status.stdout.text)\(status.stderr.text)")

        // The failover drill, hard, through nginx: each node's Erlang VM ended by `Stop-RabbitProcess`
        // (Stop-Process -Force) over ssh; erlsrv starts it again (the service's -onfail restart: the simulated
        // host, Tests/tools/windows_services.py), the service stays Running and is not moved; messages and new
        // connections go through nginx meanwhile.
        let drillLines = [a, b].map { Support.read($0.drives + "/service.log").split(separator: "\n").count }
        let vmsBeforeDrill = bed.letters.map(bed.pid)
        let drill = await wizard(["apply", "--yes", "--only", "failover-drill", "--drill-mode", "hard"])
        outputs.append(drill.stdout.text + drill.stderr.text)
        #expect(drill.termination == .exited(code: 0), "\(drill.stdout.text)\(drill.stderr.text)")
        let drillRows = DrillRow.parse(drill.stdout.text)
        // A kill fails at most the one new connection whose handshake is in flight at that instant (the loop
        // makes one at a time; nginx cannot move a connection whose header it already forwarded).
        #expect(drillRows.count == 2 && drillRows.allSatisfy { $0.failed <= 1 && $0.sent > 0 && $0.backSeconds != nil }, "\(drill.stdout.text)")
        #expect(zip(vmsBeforeDrill, bed.letters.map(bed.pid)).allSatisfy { $0 != $1 && !$1.isEmpty }, "each VM ended and started again")
        for (w, before) in zip([a, b], drillLines) {
            let added = Support.read(w.drives + "/service.log").split(separator: "\n").dropFirst(before)
            #expect(added.count == 1 && added.allSatisfy { $0.hasPrefix("Stop-Process ") }, "the drill moved a service: \(added)")
            #expect(w.calls.contains { $0.hasPrefix("Complete-Call { Stop-RabbitProcess ") })
            #expect(Self.service(w)["state"] as? String == "Running")
        }

        // The partition repair's restart of a node whose service an administrator stopped: the stop finds it
        // stopped and leaves it so, the start brings it back, and the cluster is whole again.
        let stopped = await Support.run([bed.nodeDir("b") + "/bin/stop"], timeout: .seconds(90))
        #expect(stopped.termination == .exited(code: 0))
        var byHand = Self.installed
        byHand["state"] = "Stopped"
        try Self.writeJSON(["RabbitMQ": byHand], to: b.drives + "/services.json")
        let executor = try Executor(state: try StateDirectory(path: bed.dir + "/repair-state"), identityFile: a.server.clientKey)
        for (letter, w) in [("a", a), ("b", b)] {
            let enrol = await Support.run([Support.productBinary, "known-hosts", "add", "ssh://\(Support.userName)@127.0.0.1:\(w.server.port)",
                                           "--fingerprint", await w.server.hostFingerprint(), "--state-dir", bed.dir + "/repair-state"])
            try #require(enrol.termination == .exited(code: 0), "\(letter): \(enrol.stdout.text)\(enrol.stderr.text)")
        }
        let windowsTopology = await (try TopologyParser.load(path: topology)).discovered(executor: executor)
        let serviceLog = Support.read(b.drives + "/service.log").split(separator: "\n").count
        let repaired = try await PartitionRepair.restart(PartitionRepair.Decision(keep: [bed.nodeName("a")], restart: [bed.nodeName("b")], rule: "test",
                                                                                  evidence: []), topology: windowsTopology, executor: executor) { _ in }
        await executor.shutdown()
        #expect(repaired.verdict == .healthy(running: 2), "\(repaired.summary(strategy: windowsTopology.partitionHandling))")
        #expect(Support.read(b.drives + "/service.log").split(separator: "\n").dropFirst(serviceLog) == ["Start-Service"],
                "a stopped service was stopped again, or not started: \(Support.read(b.drives + "/service.log"))")

        // Every rollback, newest first: up to cluster-join's; then the rest with the joiner's service stopped by
        // hand and failing to start once (its cookie's rollback cannot give a stopped node its cookie live: it
        // finds the service stopped, leaves it so, and its start fails, said as Windows said it), then with the
        // seed refusing live changes (the test hook) and its stop failing once (partition-handling's rollback
        // restarts it instead): each fails saying so, and the next rollback ends the job.
        // Two separate nodes again, files as they were.
        for step in ["outsystems-handoff", "load-balancer", "cluster-join"] {
            let undone = await wizard(["rollback", step, "--yes"])
            outputs.append(undone.stdout.text + undone.stderr.text)
            #expect(undone.termination == .exited(code: 0), "\(step): \(undone.stdout.text)\(undone.stderr.text)")
        }
        _ = await Support.run([bed.nodeDir("b") + "/bin/stop"], timeout: .seconds(90))
        try Self.writeJSON(["RabbitMQ": byHand], to: b.drives + "/services.json")
        try Self.writeJSON(["start-fails": 1], to: b.drives + "/faults.json")
        try Self.writeJSON(["stop-fails": 1], to: a.drives + "/faults.json")
        let refuseA = [RabbitNode.liveRefusedVariable: "node-a"]
        let serviceLogB = Support.read(b.drives + "/service.log").split(separator: "\n").count
        let failed = await wizard(["rollback", "--all", "--yes"], environment: refuseA)
        outputs.append(failed.stdout.text + failed.stderr.text)
        #expect(failed.termination != .exited(code: 0))
        #expect(failed.stderr.text.contains("could not start the RabbitMQ service on node-b: it is Stopped (it was Stopped), not Running; "
                                            + "Windows said: Failed to start service 'RabbitMQ (RabbitMQ)'."), "\(failed.stdout.text)\(failed.stderr.text)")
        #expect(Self.service(b)["state"] as? String == "Stopped")
        #expect(Support.read(b.drives + "/service.log").split(separator: "\n").dropFirst(serviceLogB).first == "Start-Service",
                "the joiner's stopped service was stopped again: \(Support.read(b.drives + "/service.log"))")
        let first = await wizard(["rollback", "--all", "--yes"], environment: refuseA)
        outputs.append(first.stdout.text + first.stderr.text)
        #expect(first.termination != .exited(code: 0))
        #expect(first.stderr.text.contains("could not stop the RabbitMQ service on node-a: it is Running (it was Running), not Stopped; Windows said: "
                                           + "Service 'RabbitMQ (RabbitMQ)' cannot be stopped due to the following error"), "\(first.stdout.text)\(first.stderr.text)")
        #expect(first.stdout.text.contains("erlang-cookie: rolled back"), "\(first.stdout.text)")
        #expect(Self.service(b)["state"] as? String == "Running")
        let rollback = await wizard(["rollback", "--all", "--yes"], environment: refuseA)
        outputs.append(rollback.stdout.text + rollback.stderr.text)
        #expect(rollback.termination == .exited(code: 0), "\(rollback.stdout.text)\(rollback.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "a")?.running == [bed.nodeName("a")])
        #expect(await bed.runningNodes(seenFrom: "b")?.running == [bed.nodeName("b")])
        #expect(Support.read(bed.nodeDir("b") + "/home/.erlang.cookie") == before.cookieB)
        #expect(Support.read(b.local("C:\\Users\\admin\\.erlang.cookie")) == before.cookieB, "the CLI's copy follows the restored cookie")
        #expect([Support.read(bed.nodeDir("a") + "/rabbitmq.conf"), Support.read(bed.nodeDir("b") + "/rabbitmq.conf")] == before.conf)

        // The services were moved by state only (and their emulators ended by the drill): never removed or
        // installed again, start type, account and folder as the administrator left them, running.
        for (letter, w) in [("a", a), ("b", b)] {
            let log = Support.read(w.drives + "/service.log").split(separator: "\n").map(String.init)
            #expect(!log.isEmpty && log.allSatisfy { $0 == "Start-Service" || $0 == "Stop-Service" || $0.hasPrefix("Stop-Process ") }, "\(letter): \(log)")
            let now = Self.service(w)
            #expect(now["state"] as? String == "Running" && now["startMode"] as? String == "Manual" && now["account"] as? String == ".\\rabbitsvc"
                    && now["home"] as? String == rabbitHome, "\(letter): \(now)")
        }

        // Every command line was the constant one; the cookie in none of them, no script, no environment,
        // no output, no log, no journal.
        await a.executor.shutdown()
        await b.executor.shutdown()
        for w in [a, b] {
            #expect(Set(w.commandLines).count == 1)
            #expect(!w.calls.isEmpty && !w.calls.joined().contains(canary))
            #expect(Support.lacks(w.environments, canary) && Support.lacks(Support.read(w.root + "/sshd.log"), canary))
        }
        var kept = outputs
        for path in FileManager.default.subpaths(atPath: bed.state) ?? [] {
            kept.append((try? String(contentsOfFile: bed.state + "/" + path, encoding: .utf8)) ?? "")
        }
        #expect(!kept.contains { $0.contains(canary) }, "the cookie appeared in an output, the command log or the journal")
        // Every Windows path meant a file under the simulated drives: none landed in the ssh login's home.
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        let homeFiles = try FileManager.default.contentsOfDirectory(atPath: home)
        #expect(homeFiles.allSatisfy { !$0.contains(":\\") }, "a Windows path was written in \(home): \(homeFiles)")
    }

    /// The screen looks again at a Windows server it could not look at when it opened (a server that
    /// was down, here one that had no answer yet), before its next run: no restart of the screen needed.
    @Test func theScreenLooksAgainAtAServerItCouldNotLookAt() async throws {
        try await WindowsSimulator.with { a in
            try await WindowsSimulator.with(clientKey: a.server.clientKey) { b in
                let dir = Support.temporaryDirectory()
                defer { Support.remove(dir) }
                let state = dir + "/state"
                var nodes = ""
                for (letter, w) in [("a", a), ("b", b)] {
                    let enrol = await Support.run([Support.productBinary, "known-hosts", "add", "ssh://\(Support.userName)@127.0.0.1:\(w.server.port)",
                                                   "--fingerprint", await w.server.hostFingerprint(), "--state-dir", state])
                    try #require(enrol.termination == .exited(code: 0), "\(enrol.stdout.text)\(enrol.stderr.text)")
                    nodes += "  - name: server-\(letter)\n    host: SERVER\(letter.uppercased())\n    profile: windows\n"
                        + "    reach: ssh://\(Support.userName)@127.0.0.1:\(w.server.port)\n"
                }
                let topology = dir + "/topology.yml"
                Support.write("cluster:\n  seed: server-a\nnodes:\n" + nodes, to: topology)
                try await Tmux.with([Support.productBinary, "--config", topology, "--state-dir", state, "--identity", a.server.clientKey], cols: 160, rows: 50) { tmux in
                    // Nothing runs: the title bar ends in "idle" (a key that starts a run while one runs is not taken).
                    func idle(_ screen: String) -> Bool { screen.split(separator: "\n").first?.trimmingCharacters(in: .whitespaces).hasSuffix("idle") == true }
                    _ = try #require(await tmux.wait(for: "Enter run all"), "\(tmux.lastScreen)")
                    await tmux.send("p")
                    await tmux.send("f")
                    let unknown = try #require(await tmux.wait { Tmux.shows($0, "ERROR windows-layout-unknown") && idle($0) }, "\(tmux.lastScreen)")
                    #expect(!Tmux.shows(unknown, "INFO windows-layout:"))
                    // Both servers answer now; the next run looks again before it checks.
                    for (letter, w) in [("a", a), ("b", b)] {
                        var seen = WindowsScenarioTests.layout(letter: letter, nodeName: "rabbit@SERVER\(letter.uppercased())")
                        seen["hostName"] = "SERVER\(letter.uppercased())"
                        try JSONSerialization.data(withJSONObject: seen).write(to: URL(fileURLWithPath: w.drives + "/layout.json"))
                    }
                    await tmux.send("p")
                    await tmux.send("f")
                    let found = try #require(await tmux.wait { Tmux.shows($0, "INFO windows-layout:") && !Tmux.shows($0, "windows-layout-unknown") && idle($0) },
                                             "\(tmux.lastScreen)")
                    #expect(Tmux.shows(found, "rabbitmq_server-3.10.8"), "\(found)")
                    await tmux.send("q")
                    _ = await tmux.exitStatus()
                }
            }
        }
    }
}
