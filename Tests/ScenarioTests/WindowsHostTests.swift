import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Synchronization
import Testing
import Workflow

/// The Windows ``ServerHost`` through the real ssh transport to a simulated Windows server
/// (``WindowsSimulator``): each method sends the constant command line and one library call, which the
/// simulator checks as Windows would receive it and carries out (in Python, against a folder standing in
/// for `C:\`). What this proves: the host's calls are well-formed (names, argument counts, verbatim
/// values, framing, syntax), their answers are read right, and contents and secrets travel only on stdin.
/// What it cannot prove: that the PowerShell library does on Windows what the simulator does here.
@Suite(.serialized) struct WindowsHostTests {
    @Test func everyFileAndProgramCallReachesTheHostAndIsReadBack() async throws {
        try await WindowsSimulator.with { windows in try await Self.everyCall(windows) }
    }

    static func everyCall(_ windows: WindowsSimulator) async throws {
        let host = HostFamily.windows.host(executor: windows.executor, target: windows.target, step: StepID("erlang-cookie"))
        let base = "C:\\ProgramData\\RabbitMQ"
        try FileManager.default.createDirectory(atPath: windows.local(base), withIntermediateDirectories: true)
        let conf = base + "\\rabbitmq.conf"

        #expect(try await host.observe(conf).kind == .missing)
        // A new file: the bytes as given (CRLF kept, no BOM added), the hash of what is on disk.
        let first = Array("# OutSystems\r\nlisteners.tcp.default = 5672\r\n".utf8)
        let hash = try await host.write(conf, .bytes(first), mode: "644", owner: "", backup: base + "\\rabbitmq.conf.bak")
        #expect(FileManager.default.contents(atPath: windows.local(conf)).map(Array.init) == first)
        let seen = try await host.observe(conf, bytes: true)
        #expect(seen.kind == .regular && seen.bytes == first && seen.sha256 == hash && seen.mode == "644")
        #expect(!FileManager.default.fileExists(atPath: windows.local(base + "\\rabbitmq.conf.bak")), "nothing to back up for a new file")

        // Replaced with a backup taken once: a second write keeps the older state in it.
        let backup = base + "\\rabbitmq.conf.rabbit-wizard-20261130T080000.000Z.bak"
        try await host.write(conf, .bytes(Array("a = 1\n".utf8)), mode: "644", owner: "", backup: backup)
        try await host.write(conf, .bytes(Array("a = 2\n".utf8)), mode: "644", owner: "", backup: backup)
        #expect(Support.read(windows.local(backup)) == String(decoding: first, as: UTF8.self))
        #expect(Support.read(windows.local(conf)) == "a = 2\n")
        try await host.restore(conf, from: backup)
        #expect(try await host.observe(conf, bytes: true).bytes == first)
        do {
            try await host.restore(conf, from: base + "\\gone.bak")
            Issue.record("a restore from a missing backup succeeded")
        } catch {
            #expect(error.cause.contains("the backup C:\\ProgramData\\RabbitMQ\\gone.bak is missing"), "\(error.cause)")
        }

        // A file too large to read whole in one answer is refused, never read in part (issue 29): no byte of
        // it is used, so no edit can cut it; its kind, size and hash are still read.
        let large = base + "\\large.conf"
        let big = [UInt8](repeating: 0x23, count: 6_000_000)
        FileManager.default.createFile(atPath: windows.local(large), contents: Data(big))
        do {
            _ = try await host.observe(large, bytes: true)
            Issue.record("a 6 MB file was read through a 4 MiB answer")
        } catch {
            #expect(error.finding == "file-too-large" && error.cause.contains(large) && error.cause.contains("6000000 bytes")
                    && error.cause.contains("4.0 MiB limit"), "\(error.cause)")
        }
        #expect(try await host.observe(large).size == 6_000_000)
        #expect(FileManager.default.contents(atPath: windows.local(large)).map(Array.init) == big)
        unlink(windows.local(large))

        // The cluster lock's compare-and-swap (Swap-File): a read, a put only where the file is as expected,
        // a remove only of the expected content.
        let lockFile = base + "\\rabbit-wizard.lock"
        let read = try await host.swap(lockFile, expected: nil, .none)
        #expect(read == SwapAnswer(found: nil, foundHash: nil, ageSeconds: nil, changed: false, hash: nil))
        let mine = Array("{\"token\":\"mine\"}\n".utf8)
        let put = try await host.swap(lockFile, expected: nil, .put(mine))
        #expect(put.changed && put.hash != nil && Support.read(windows.local(lockFile)) == "{\"token\":\"mine\"}\n")
        #expect(try FileManager.default.attributesOfItem(atPath: windows.local(lockFile))[.posixPermissions] as? Int == 0o600)
        let second = try await host.swap(lockFile, expected: nil, .put(Array("other\n".utf8)))
        #expect(!second.changed && second.found == mine && second.foundHash == put.hash && (second.ageSeconds ?? 99) < 5)
        #expect(!(try await host.swap(lockFile, expected: "0123", .remove).changed))
        #expect(try await host.swap(lockFile, expected: put.hash, .remove).changed)
        #expect(!FileManager.default.fileExists(atPath: windows.local(lockFile)))

        // Listed by prefix and suffix, pruned, removed.
        let listed = try await host.list([KeptPattern(prefix: conf + ".rabbit-wizard-", suffix: ".bak", what: "backups", keep: 1)])
        #expect(listed == [KeptFile(path: backup, bytes: first.count)])
        try await host.prune([backup])
        #expect(!FileManager.default.fileExists(atPath: windows.local(backup)))
        try await host.remove(conf)
        #expect(try await host.observe(conf).kind == .missing)

        // A cookie: written as a secret (private and read-only), read back as a secret, never on a line.
        let canary = Support.canary()
        let cookie = "C:\\Windows\\System32\\config\\systemprofile\\.erlang.cookie"
        try FileManager.default.createDirectory(atPath: (windows.local(cookie) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try await host.write(cookie, .secret(Secret(canary)), mode: "400", owner: "", backup: nil)
        #expect(try await host.observe(cookie).mode == "400")
        #expect(try FileManager.default.attributesOfItem(atPath: windows.local(cookie))[.posixPermissions] as? Int == 0o400)
        #expect(try await host.readSecret(cookie).withBytes { String(decoding: $0, as: UTF8.self) } == canary)

        // The owner goes with the file: a replaced file keeps it, its backup and a restore carry it (so a
        // rollback compares owners that match), as Set-Owner does with icacls; the simulated owner is the uid.
        let owned = base + "\\owned.conf"
        Support.write("owned\n", to: windows.local(owned), mode: 0o644)
        chown(windows.local(owned), 65534, 65534)
        let ownedBackup = owned + ".rabbit-wizard-20261206T080000.000Z.bak"
        try await host.write(owned, .bytes(Array("changed\n".utf8)), mode: "644", owner: "", backup: ownedBackup)
        let nobody = try #require(getpwuid(65534)).pointee.pw_name.map { String(cString: $0) }
        let ownedSeen = try await host.observe(owned), backupSeen = try await host.observe(ownedBackup)
        #expect(ownedSeen.owner == nobody && backupSeen.owner == nobody, "\(ownedSeen) \(backupSeen)")
        chown(windows.local(owned), 0, 0)
        try await host.restore(owned, from: ownedBackup)
        let restored = try await host.observe(owned, bytes: true)
        #expect(restored.owner == nobody && restored.bytes == Array("owned\n".utf8))

        // A profile that prints (DefaultShell=powershell loads profiles): the answer is still read right, and
        // the operator hears of the text once.
        let notices = Mutex<[String]>([])
        let token = windows.executor.subscribe { event in if case .notice(let text) = event { notices.withLock { $0.append(text) } } }
        Support.write("Windows PowerShell\r\nLoading personal and system profiles took 612ms.\r\n", to: windows.root + "/profile")
        #expect(try await host.observe(owned).owner == nobody)
        #expect(try await host.readSecret(cookie).withBytes { String(decoding: $0, as: UTF8.self) } == canary, "the secret comes back without the banner")
        unlink(windows.root + "/profile")
        windows.executor.unsubscribe(token)
        #expect(notices.withLock { $0 }.count == 1 && notices.withLock { $0 }.first?.contains("took 612ms") == true, "\(notices.withLock { $0 })")

        // A script the server's antivirus blocks: PowerShell's own error record is the reason, and nothing ran.
        Support.write("amsi", to: windows.root + "/blocked")
        do {
            _ = try await host.observe(owned)
            Issue.record("a blocked script read a file")
        } catch {
            #expect(error.cause.contains("antivirus (AMSI) blocked the wizard's PowerShell script") && !error.outcomeUnknown, "\(error.cause)")
        }
        unlink(windows.root + "/blocked")
        unlink(windows.local(owned))
        unlink(windows.local(ownedBackup))

        // Logs, programs, ports.
        let log = "C:\\ProgramData\\RabbitMQ\\log\\rabbit@SERVERA.log"
        try FileManager.default.createDirectory(atPath: windows.local(base + "\\log"), withIntermediateDirectories: true)
        Support.write("old line\nwhy it stopped\n", to: windows.local(log))
        #expect(await host.tail(log, bytes: 15) == "why it stopped\n")
        #expect(await host.hasProgram("sh"))
        #expect(!(await host.hasProgram("no-such-program-\(UInt32.random(in: 0...UInt32.max))")))
        let closed = Support.freePort()
        let open = "127.0.0.1:\(windows.server.port)", shut = "127.0.0.1:\(closed)"
        #expect(await host.probe([open, shut], amqp: false) == [open])
        #expect(await host.probe([open], amqp: true) == [], "sshd does not answer the AMQP header with a method frame")

        // The CLI runs only where its user's cookie exists; its input arrives on stdin.
        let ctl = "C:\\rmq\\sbin\\rabbitmqctl.bat"
        try FileManager.default.createDirectory(atPath: windows.local("C:\\rmq\\sbin"), withIntermediateDirectories: true)
        Support.write("#!/bin/sh\nprintf '%s|' \"$@\"; cat\n", to: windows.local(ctl), mode: 0o700)
        let userCookie = "C:\\Users\\admin\\.erlang.cookie"
        let without = await host.rabbitCLI([ctl], cookieFile: userCookie, args: ["-n", "rabbit@SERVERA", "eval"], stdin: .bytes(Array("node().".utf8)),
                                           secrets: [], privateFiles: false, timeout: .seconds(30), mutates: false)
        #expect(without.termination == .exited(code: 86) && without.stderr.contains("no Erlang cookie at \(userCookie)"), "\(without.termination) \(without.stderr)")
        try FileManager.default.createDirectory(atPath: windows.local("C:\\Users\\admin"), withIntermediateDirectories: true)
        Support.write(canary, to: windows.local(userCookie), mode: 0o400)
        let with = await host.rabbitCLI([ctl], cookieFile: userCookie, args: ["-n", "rabbit@SERVERA", "eval"], stdin: .bytes(Array("node().".utf8)),
                                        secrets: [], privateFiles: false, timeout: .seconds(30), mutates: false)
        #expect(with.termination == .exited(code: 0) && with.stdout == "-n|rabbit@SERVERA|eval|node().", "\(with.termination) \(with.stdout) \(with.stderr)")
        let sent = windows.commandLines.count
        let refused = await host.rabbitCLI([ctl], cookieFile: userCookie, args: ["eval", "node()."], stdin: .none, secrets: [], privateFiles: false,
                                           timeout: .seconds(30), mutates: false)
        guard case .couldNotStart(let why) = refused.termination else { Issue.record("cmd.exe syntax reached a .bat: \(refused.termination)"); return }
        #expect(why.contains("cmd.exe"))
        #expect(windows.commandLines.count == sent, "a refused command reached the host")

        await windows.executor.shutdown()
        let commandLog = Support.read(windows.state.commandLogPath)
        #expect(commandLog.contains("Write-FileAtomic"), "the log names the library call")
        for text in [commandLog, Support.read(windows.root + "/commands.txt"), Support.read(windows.root + "/calls.txt"), Support.read(windows.root + "/sshd.log")] {
            #expect(Support.lacks(text, canary), "the cookie canary appeared in a log, a command line or a script")
        }
        #expect(Set(windows.commandLines).count == 1, "one constant command line")
    }

    /// Erlang's verdict on a cookie file, as a node reads it at boot: the cookie, or the error it logs.
    /// No epmd is started and nothing listens (`-start_epmd false -dist_listen false`); a refused cookie's
    /// crash dump goes into `home`, not into the folder the tests run in.
    static func erlangReads(cookieIn home: String) async -> String {
        let out = await Support.run(["erl", "-noshell", "-start_epmd", "false", "-dist_listen", "false", "-sname", "cookie-probe-\(UInt16.random(in: 1000...60000))",
                                     "-eval", "io:format(\"cookie=~s~n\", [erlang:get_cookie()]), halt()."],
                                    timeout: .seconds(60), environment: ["HOME": home, "ERL_CRASH_DUMP": home + "/erl_crash.dump"])
        return out.stdout.text + out.stderr.text
    }

    /// The cookie bytes the Windows writer puts in a file (what `Write-FileAtomic` receives on stdin and
    /// writes unchanged) are accepted by Debian's Erlang; the same bytes after a UTF-8 BOM, as Windows
    /// PowerShell's `-Encoding UTF8` writes text, are refused ("Bad characters in cookie"), so the check
    /// can fail. What it cannot show: that .NET's FileStream on Windows writes them unchanged too.
    @Test func theCookieTheWindowsWriterWritesIsOneErlangAccepts() async throws {
        try await WindowsSimulator.with { windows in try await Self.cookieAccepted(windows) }
    }

    static func cookieAccepted(_ windows: WindowsSimulator) async throws {
        let host = HostFamily.windows.host(executor: windows.executor, target: windows.target, step: StepID("erlang-cookie"))
        let cookie = "C:\\Windows\\System32\\config\\systemprofile\\.erlang.cookie"
        try FileManager.default.createDirectory(atPath: (windows.local(cookie) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let canary = Support.canary()
        try await host.write(cookie, .secret(Secret(canary)), mode: "400", owner: "", backup: nil)
        let home = (windows.local(cookie) as NSString).deletingLastPathComponent
        let accepted = await Self.erlangReads(cookieIn: home)
        #expect(accepted.contains("cookie=\(canary)"), "\(accepted)")

        try await host.write(cookie, .secret(Secret(bytes: [0xEF, 0xBB, 0xBF] + Array(canary.utf8))), mode: "400", owner: "", backup: nil)
        #expect(FileManager.default.contents(atPath: windows.local(cookie)).map(Array.init)?.prefix(3) == [0xEF, 0xBB, 0xBF])
        let refused = await Self.erlangReads(cookieIn: home)
        #expect(refused.contains("Bad characters in cookie") && !refused.contains("cookie=\(canary)"), "\(refused)")
    }
}
