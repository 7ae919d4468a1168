import Foundation
import Glibc
import Testing

@testable import Executor
import TestKit

/// The ssh transport against a real sshd on loopback.
@Suite(.serialized) struct SSHTransportTests {
    struct Bed {
        let root: String
        let server: SSHServer
        let state: StateDirectory
        let executor: Executor

        func tearDown() async {
            await executor.shutdown()
            await server.stop()
            Support.remove(root)
        }
    }

    /// A server and an executor whose known_hosts has the server enrolled through the product's path.
    func makeBed(enrol: Bool = true) async throws -> Bed {
        let root = Support.temporaryDirectory()
        let server = try await SSHServer.start(in: root)
        let state = try StateDirectory(path: root + "/state")
        let options = SSHOptions(knownHostsFile: state.knownHostsPath, controlDirectory: try state.controlSocketDirectory(),
                                 identityFile: server.clientKey, connectTimeout: 3)
        let executor = Executor(commandLog: try CommandLog(path: state.commandLogPath), ssh: options)
        if enrol {
            let keys = try await executor.scanHostKeys(of: server.destination).get()
            _ = try executor.enrol(keys, for: server.destination, expectedFingerprint: await server.hostFingerprint(),
                                   knownHostsPath: state.knownHostsPath).get()
        }
        return Bed(root: root, server: server, state: state, executor: executor)
    }

    @Test func awkwardArgumentsArriveExactly() async throws {
        let bed = try await makeBed()
        let words = ["a b", "it's", "\"dq\"", "$HOME", "$(touch /tmp/pwned)", "`id`", "x;y", "new\nline", "tab\there",
                     "back\\slash", "*", "", "-n", "--", "é→🐇", "'", "\\'"]
        let result = await bed.executor.run(CommandSpec(["printf", "%s\\0"] + words, on: .ssh(bed.server.destination),
                                                        timeout: .seconds(20), mutates: false))
        #expect(result.termination == .exited(code: 0), "\(result.stderr)")
        let back = result.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(back == words)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
        await bed.tearDown()
    }

    @Test func environmentAndWorkingDirectoryReachTheRemoteCommand() async throws {
        let bed = try await makeBed()
        let result = await bed.executor.run(CommandSpec(
            ["sh", "-c", "pwd; printf '%s\\n' \"$RW_VALUE\""], on: .ssh(bed.server.destination),
            environment: ["RW_VALUE": "a 'b' $c"], workingDirectory: bed.root, timeout: .seconds(20), mutates: false))
        #expect(result.stdout == "\(bed.root)\na 'b' $c\n")
        await bed.tearDown()
    }

    @Test func remoteExitCodesIncluding255AreResults() async throws {
        let bed = try await makeBed()
        for code: Int32 in [0, 3, 255] {
            let result = await bed.executor.run(CommandSpec(["sh", "-c", "exit \(code)"], on: .ssh(bed.server.destination),
                                                            timeout: .seconds(20), mutates: false))
            #expect(result.termination == .exited(code: code))
        }
        await bed.tearDown()
    }

    /// A connection dropped under a running command: the command may have run, so the outcome is
    /// unknown (`lost`), never "exit 255". Both ways ssh reports it: the command that opened the shared
    /// connection prints ssh's message; a command sharing it exits 255 silently.
    @Test func droppedConnectionIsLostNotAnExitCode() async throws {
        let bed = try await makeBed()
        let spec = CommandSpec(["sh", "-c", "touch \(bed.root)/started; exec sleep 30"], on: .ssh(bed.server.destination),
                               timeout: .seconds(40), mutates: true)
        for sharing in [false, true] {
            Support.remove(bed.root + "/started")
            if sharing {
                let opener = await bed.executor.run(CommandSpec(["true"], on: .ssh(bed.server.destination), timeout: .seconds(20), mutates: false))
                #expect(opener.termination == .exited(code: 0))
            }
            let executor = bed.executor
            let running = Task { await executor.run(spec) }
            #expect(await Support.waitUntil(.seconds(20)) { FileManager.default.fileExists(atPath: bed.root + "/started") })
            #expect(bed.server.dropConnections() > 0)
            let result = await running.value
            guard case .connectionFailed(.lost) = result.termination else {
                Issue.record("sharing \(sharing): expected lost, got \(result.termination) \(result.stderr)")
                continue
            }
            #expect(result.termination.outcomeUnknown)
            #expect(result.record.durationSeconds < 20, "sharing \(sharing): took \(result.record.durationSeconds) s")
        }
        await bed.tearDown()
    }

    @Test func secretStdinArrivesExactlyAndIsScrubbed() async throws {
        let bed = try await makeBed()
        let canary = Support.canary()
        Support.write(canary + "\n", to: bed.root + "/expected")
        let same = await bed.executor.run(CommandSpec(["cmp", "-", bed.root + "/expected"], on: .ssh(bed.server.destination),
                                                      stdin: .secret(Secret(canary + "\n")), timeout: .seconds(20), mutates: true))
        #expect(same.termination == .exited(code: 0))
        let echoed = await bed.executor.run(CommandSpec(["cat"], on: .ssh(bed.server.destination),
                                                        stdin: .secret(Secret(canary + "\n")), timeout: .seconds(20), mutates: true))
        #expect(echoed.stdout == "<redacted>\n")
        #expect(Support.lacks(Support.read(bed.state.commandLogPath), canary))
        await bed.tearDown()
    }

    @Test func unknownHostKeyIsRefusedWithItsFingerprint() async throws {
        let bed = try await makeBed(enrol: false)
        let result = await bed.executor.run(CommandSpec(["touch", bed.root + "/ran"], on: .ssh(bed.server.destination),
                                                        timeout: .seconds(20), mutates: true))
        let expected = await bed.server.hostFingerprint()
        #expect(result.termination == .connectionFailed(.hostKeyUnknown(fingerprints: ["ED25519 \(expected)"])))
        #expect(!FileManager.default.fileExists(atPath: bed.root + "/ran"))
        #expect(!FileManager.default.fileExists(atPath: bed.state.knownHostsPath) || Support.read(bed.state.knownHostsPath).isEmpty)
        await bed.tearDown()
    }

    @Test func changedHostKeyIsAHardStop() async throws {
        let bed = try await makeBed()
        let ok = await bed.executor.run(CommandSpec(["true"], on: .ssh(bed.server.destination), timeout: .seconds(20), mutates: false))
        #expect(ok.termination == .exited(code: 0))
        await bed.executor.shutdown()
        await bed.server.stop()
        let enrolled = Support.read(bed.state.knownHostsPath)
        // Same address and port, new identity.
        let impostor = try await SSHServer.start(in: bed.root, port: bed.server.port, newHostKey: true)
        let result = await bed.executor.run(CommandSpec(["touch", bed.root + "/ran"], on: .ssh(impostor.destination),
                                                        timeout: .seconds(20), mutates: true))
        let newPrint = await impostor.hostFingerprint()
        #expect(result.termination == .connectionFailed(.hostKeyChanged(fingerprint: newPrint)))
        #expect(!FileManager.default.fileExists(atPath: bed.root + "/ran"))
        #expect(Support.read(bed.state.knownHostsPath) == enrolled)
        let keys = try await bed.executor.scanHostKeys(of: impostor.destination).get()
        #expect(throws: HostKeyProblem.alreadyEnrolledDifferently(impostor.destination.knownHostsName)) {
            try bed.executor.enrol(keys, for: impostor.destination, expectedFingerprint: nil, knownHostsPath: bed.state.knownHostsPath).get()
        }
        await bed.executor.shutdown()
        await impostor.stop()
        Support.remove(bed.root)
    }

    /// A refused connection is unreachable at once (the silent host, which waits for the connect time-out,
    /// is ProductOverSSHTests.aSilentHostIsUnreachableWithinTheConnectTimeout).
    @Test func stoppedServerIsUnreachable() async throws {
        let bed = try await makeBed()
        await bed.server.stop()
        let result = await bed.executor.run(CommandSpec(["true"], on: .ssh(bed.server.destination), timeout: .seconds(30), mutates: false))
        guard case .connectionFailed(.unreachable(let reason)) = result.termination else {
            Issue.record("expected unreachable, got \(result.termination)")
            return
        }
        #expect(reason.contains("Connection refused"))
        await bed.tearDown()
    }

    @Test func connectionsAreSharedAndClosedOnShutdown() async throws {
        let bed = try await makeBed()
        let first = await bed.executor.run(CommandSpec(["true"], on: .ssh(bed.server.destination), timeout: .seconds(20), mutates: false))
        #expect(first.termination == .exited(code: 0))
        let controlDir = try bed.state.controlSocketDirectory()
        let sockets = { (try? FileManager.default.contentsOfDirectory(atPath: controlDir)) ?? [] }
        #expect(sockets().count == 1, "one master socket after the first command")
        let second = await bed.executor.run(CommandSpec(["true"], on: .ssh(bed.server.destination), timeout: .seconds(20), mutates: false))
        #expect(second.termination == .exited(code: 0))
        #expect(sockets().count == 1, "the second command reused the master")
        await bed.executor.shutdown()
        #expect(await Support.waitUntil { sockets().isEmpty }, "shutdown closed the master")
        await bed.server.stop()
        Support.remove(bed.root)
    }

    @Test func remoteTimeoutIsUnknownOutcome() async throws {
        let bed = try await makeBed()
        let pidFile = bed.root + "/remote.pid"
        let result = await bed.executor.run(CommandSpec(["sh", "-c", "echo $$ > \"$0\"; exec sleep 30", pidFile],
                                                        on: .ssh(bed.server.destination), timeout: .seconds(2), mutates: true))
        // Without a pty the remote command outlives the dropped client: exactly why the outcome is unknown.
        if let pid = Int32(Support.read(pidFile).trimmingCharacters(in: .whitespacesAndNewlines)) { kill(pid, SIGKILL) }
        guard case .timedOut = result.termination else {
            Issue.record("expected timedOut, got \(result.termination)")
            return
        }
        #expect(result.termination.outcomeUnknown)
        await bed.tearDown()
    }
}
