import Foundation
import Glibc
import Testing

@testable import Executor
import TestKit
import Workflow

/// The `rabbit-wizard` binary as a user runs it, on this machine alone (over ssh, and the canary trace of
/// every process it spawns: `ScenarioTests/ProductOverSSHTests.swift`).
@Suite(.serialized) struct ProductCLITests {
    @Test func versionNamesTheLinkedNcurses() async {
        let out = await Support.run([Support.productBinary, "--version"])
        #expect(out.termination == .exited(code: 0))
        #expect(out.stdout.text.hasPrefix("rabbit-wizard "))
        #expect(out.stdout.text.contains("ncurses 6."))
    }

    @Test func helpTeachesTheCommandsAndExitCodes() async {
        let out = await Support.run([Support.productBinary, "--help"])
        #expect(out.termination == .exited(code: 0))
        for word in ["exec", "known-hosts", "Exit codes"] { #expect(out.stdout.text.contains(word)) }
        // Every code with its meaning, however the help wraps its lines.
        let flat = out.stdout.text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for code in ExitStatus.allCases {
            let line = "\(code.rawValue) \(code.meaning.filter { $0 != "`" })".split(separator: " ").joined(separator: " ")
            #expect(flat.contains(line), "help lacks exit code \(code.rawValue)")
        }
    }

    /// `watch` counts what clients would see: with nothing listening behind the load balancer's address
    /// every connection fails, the failing stretch spans the run, and the exit status says so. (The
    /// healthy case and a silent host run through real nginx on the multi-host bed.)
    @Test func watchCountsFailedConnectionsAndSaysSoInItsExitStatus() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let port = Support.freePort()
        Support.write("""
            cluster:
              seed: a
            state_dir: \(root)/state
            nodes:
              - name: a
                host: localhost
              - name: b
                host: localhost
                node_name: rabbit-b@localhost
                amqp_port: 5673
            load_balancer:
              kind: nginx
              host: localhost
              listen_address: 127.0.0.1
              listen_port: \(port)

            """, to: root + "/topology.yml")
        let out = await Support.run([Support.productBinary, "watch", "--seconds", "2", "--json", "--config", root + "/topology.yml"])
        #expect(out.termination == .exited(code: 1), "\(out.stderr.text)")
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.text.utf8)) as? [String: Int], "\(out.stdout.text)")
        // Every attempt failed and the failing stretch is there (how many attempts per second is make bench's).
        #expect((stats["attempts"] ?? 0) >= 1 && stats["failed"] == stats["attempts"], "\(stats)")
        #expect((stats["longestOutageMilliseconds"] ?? 0) > 0, "\(stats)")
        let bad = await Support.run([Support.productBinary, "watch", "--seconds", "0", "--config", root + "/topology.yml"])
        #expect(bad.termination == .exited(code: 64) && bad.stderr.text.contains("--seconds"))
    }

    @Test func badTargetIsRejectedBeforeAnythingRuns() async {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let out = await Support.run([Support.productBinary, "exec", "--state-dir", root + "/s", "--target", "ssh://a;touch \(root)/pwned", "--", "true"])
        #expect(out.termination == .exited(code: 64))
        #expect(out.stderr.text.contains("--target"))
        #expect(out.stderr.text.contains("not allowed in a host name"))
        #expect(!FileManager.default.fileExists(atPath: root + "/pwned"))
        #expect(!FileManager.default.fileExists(atPath: root + "/s/commands.jsonl"))
    }
}
