import Executor
import Foundation
import Glibc
import TestKit
import Testing

/// Two simulated Windows servers behind nginx on loopback, through the real product: `plan`, `apply --yes`
/// with a step that fails (the service cannot be installed again once: erlsrv's "The handle is invalid")
/// and its `retry`, `status`, and the rollback of every step.
///
/// Each server is a real sshd whose ForceCommand (`Tests/tools/windows_host.py`) checks every command as
/// Windows would receive it and carries out its library call against a folder standing in for `C:\`. A
/// real sandbox RabbitMQ node stands in for each Windows service: `RABBITMQ_BASE` is the node's folder, the
/// system profile (the service's cookie) is the node's HOME, and stand-ins for `rabbitmqctl.bat` (the
/// login user's HOME, so its own cookie copy) and `rabbitmq-service.bat` (stop and start the node; remove
/// and install are recorded) sit where OutSystems puts RabbitMQ. What this proves: the `windows` profile's
/// steps, from the discovery to the hand-off, form a working cluster and undo it, with every command
/// well-formed for Windows. What it cannot prove: anything PowerShell or Windows itself does.
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
        Support.write("""
            #!/bin/sh
            echo "$1" >> '\(w.drives)/service.log'
            case "$1" in
                stop) exec \(node)/bin/stop ;;
                start) exec \(node)/bin/start ;;
                install) if [ -f '\(w.drives)/fail-install-once' ]; then rm -f '\(w.drives)/fail-install-once'; echo "The handle is invalid." >&2; exit 1; fi ;;
            esac
            exit 0

            """, to: w.local(rabbitHome + "\\sbin\\rabbitmq-service.bat"), mode: 0o700)
        let layout = Self.layout(letter: letter, nodeName: bed.nodeName(letter))
        try JSONSerialization.data(withJSONObject: layout).write(to: URL(fileURLWithPath: w.drives + "/layout.json"))
    }

    /// The recorded discovery answer of a server OutSystems set up as documented.
    static func layout(letter: String, nodeName: String) -> [String: Any] {
        ["powershell": "5.1.20348.2849", "administrator": true, "user": "SERVER\(letter.uppercased())\\admin", "windir": "C:\\Windows",
         "homeDrive": "C:", "homePath": "\\Users\\admin", "userProfile": "C:\\Users\\admin", "machineBase": "C:\\ProgramData\\RabbitMQ",
         "machineNodeName": nodeName, "erlangHome": platformServer + "\\thirdparty\\Erlang", "serviceEnv": [String](),
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
        func wizard(_ args: [String]) async -> TransportOutcome {
            await Support.run([Support.productBinary] + args + ["--config", topology, "--identity", a.server.clientKey], timeout: .seconds(600))
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

        // apply: the joiner's service cannot be installed again after the cookie changed (once).
        Support.write("", to: b.drives + "/fail-install-once")
        let failed = await wizard(["apply", "--yes", "--outsystems-password-file", bed.dir + "/password"])
        outputs.append(failed.stdout.text + failed.stderr.text)
        #expect(failed.termination != .exited(code: 0))
        #expect((failed.stdout.text + failed.stderr.text).contains("The handle is invalid"), "\(failed.stdout.text)\(failed.stderr.text)")
        #expect(Support.read(b.drives + "/service.log").split(separator: "\n") == ["stop", "remove", "install"])

        let retried = await wizard(["retry", "erlang-cookie", "--yes"])
        outputs.append(retried.stdout.text + retried.stderr.text)
        #expect(retried.termination == .exited(code: 0), "\(retried.stdout.text)\(retried.stderr.text)")
        #expect(Support.read(b.drives + "/service.log").split(separator: "\n").suffix(3) == ["remove", "install", "start"], "\(Support.read(b.drives + "/service.log"))")
        let rest = await wizard(["apply", "--yes", "--outsystems-password-file", bed.dir + "/password"])
        outputs.append(rest.stdout.text + rest.stderr.text)
        #expect(rest.termination == .exited(code: 0), "\(rest.stdout.text)\(rest.stderr.text)")

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

        // Every rollback, newest first: two separate nodes again, files as they were.
        let rollback = await wizard(["rollback", "--all", "--yes"])
        outputs.append(rollback.stdout.text + rollback.stderr.text)
        #expect(rollback.termination == .exited(code: 0), "\(rollback.stdout.text)\(rollback.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "a")?.running == [bed.nodeName("a")])
        #expect(await bed.runningNodes(seenFrom: "b")?.running == [bed.nodeName("b")])
        #expect(Support.read(bed.nodeDir("b") + "/home/.erlang.cookie") == before.cookieB)
        #expect(Support.read(b.local("C:\\Users\\admin\\.erlang.cookie")) == before.cookieB, "the CLI's copy follows the restored cookie")
        #expect([Support.read(bed.nodeDir("a") + "/rabbitmq.conf"), Support.read(bed.nodeDir("b") + "/rabbitmq.conf")] == before.conf)

        // Every command line was the constant one; the cookie in none of them, no script, no environment,
        // no output, no log, no journal.
        await a.executor.shutdown()
        await b.executor.shutdown()
        for w in [a, b] {
            #expect(Set(w.commandLines).count == 1)
            #expect(!w.calls.isEmpty && !w.calls.joined().contains(canary))
            #expect(!w.environments.contains(canary) && !Support.read(w.root + "/sshd.log").contains(canary))
        }
        var kept = outputs
        for path in FileManager.default.subpaths(atPath: bed.state) ?? [] {
            kept.append((try? String(contentsOfFile: bed.state + "/" + path, encoding: .utf8)) ?? "")
        }
        #expect(!kept.contains { $0.contains(canary) }, "the cookie appeared in an output, the command log or the journal")
        // Every Windows path meant a file under the simulated drives: none landed in the ssh login's home.
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: home)) ?? []).allSatisfy { !$0.contains(":\\") }, "a Windows path was written in \(home)")
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
