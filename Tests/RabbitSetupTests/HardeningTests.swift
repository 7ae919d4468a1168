import Executor
import Workflow
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing

/// Defects found with hostile inputs and faults (issue 14), each through the real binary on real files.
/// The cases that need running nodes are in ``ClusterScenarioTests`` (one shared sandbox).
@Suite struct HardeningTests {
    /// A topology whose nodes are never reached (ssh to a closed port): nothing in the tests that use it may
    /// run a command on them.
    static func topology(_ extra: String = "") -> String {
        """
        cluster:
          seed: server-a
        nodes:
          - name: server-a
            host: ServerA
            reach: ssh://root@127.0.0.1:1
          - name: server-b
            host: ServerB
            reach: ssh://root@127.0.0.1:1
        \(extra)
        """
    }

    static func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    /// The state directory: a folder the wizard did not create is never changed. One that others may read
    /// is refused with the fix (it was chmod-ed to 0700, its `ssh` and `running` folders too); a system
    /// folder in the topology is refused naming the field (a read-only `plan` chmod-ed /etc and wrote
    /// /etc/commands.jsonl); a symlinked lock or journal folder is a problem to fix (exit 64), not
    /// "another wizard" (exit 6), and is never followed. (Never run this test against a binary without
    /// the fix on a machine you care about: the old code tightened any folder it was given.)
    @Test func stateDirectoriesTheWizardDoesNotOwnAreRefusedAndLeftAlone() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        Support.write(Self.topology(), to: root + "/topology.yml")
        mkdir(root + "/shared", 0o755)
        chmod(root + "/shared", 0o755)
        let plan = await Support.run([Support.productBinary, "plan", "--config", root + "/topology.yml", "--state-dir", root + "/shared"])
        #expect(plan.termination == .exited(code: 64), "\(plan.stdout.text)\(plan.stderr.text)")
        #expect(plan.stderr.text.contains("has mode 755") && plan.stderr.text.contains("chmod 700 \(root)/shared"), "\(plan.stderr.text)")
        #expect(Self.mode(root + "/shared") == 0o755, "the folder's mode was changed")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: root + "/shared")) == [], "the wizard wrote into it")

        // A system folder as state_dir in the topology (the issue's /etc; a folder inside /etc that does not
        // exist here, so that a regression creates a folder, which is removed, instead of changing /etc).
        let system = "/etc/rabbit-wizard-test-\(getpid())"
        defer { Support.remove(system) }
        Support.write(Self.topology("state_dir: \(system)"), to: root + "/etc.yml")
        let etc = await Support.run([Support.productBinary, "plan", "--config", root + "/etc.yml"])
        #expect(etc.termination == .exited(code: 64), "\(etc.stdout.text)\(etc.stderr.text)")
        #expect(etc.stderr.text.contains("state_dir") && etc.stderr.text.contains("system folder"), "\(etc.stderr.text)")
        #expect(!FileManager.default.fileExists(atPath: system), "the wizard created a folder in /etc")
        let flag = await Support.run([Support.productBinary, "status", "--config", root + "/topology.yml", "--state-dir", system])
        #expect(flag.termination == .exited(code: 64) && flag.stderr.text.contains("system folder"), "\(flag.stderr.text)")
        #expect(!FileManager.default.fileExists(atPath: system), "the wizard created a folder in /etc")

        // A symlink planted as the lock, then as the journal folder.
        let state = root + "/state"
        let first = await Support.run([Support.productBinary, "status", "--config", root + "/topology.yml", "--state-dir", state])
        #expect(first.termination != .exited(code: 64), "\(first.stderr.text)")
        Support.write("decoy", to: root + "/decoy")
        symlink(root + "/decoy", state + "/lock")
        let locked = await Support.run([Support.productBinary, "apply", "--yes", "--config", root + "/topology.yml", "--state-dir", state])
        #expect(locked.termination == .exited(code: 64), "\(locked.stderr.text)")
        #expect(locked.stderr.text.contains("symlink"), "\(locked.stderr.text)")
        #expect(Support.read(root + "/decoy") == "decoy")
        unlink(state + "/lock")
        Support.remove(state + "/journal")
        mkdir(root + "/elsewhere", 0o700)
        symlink(root + "/elsewhere", state + "/journal")
        let journal = await Support.run([Support.productBinary, "apply", "--yes", "--config", root + "/topology.yml", "--state-dir", state])
        #expect(journal.termination == .exited(code: 64), "\(journal.stderr.text)")
        #expect(journal.stderr.text.contains("journal") && journal.stderr.text.contains("symlink"), "\(journal.stderr.text)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: root + "/elsewhere")) == [], "a journal was written through the link")
    }
}

extension HardeningTests {
    /// A topology file that cannot be read says why, and a parse error quotes a bounded, escaped excerpt
    /// (raw NUL bytes, a 400 KB line or a whole UTF-16 file were printed; all of these read "cannot read the
    /// file"). Nothing runs, exit 64.
    @Test func topologyFilesThatCannotBeReadSayWhy() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        chmod(root, 0o711)
        let valid = Self.topology()
        mkdir(root + "/folder", 0o700)
        symlink(root + "/gone", root + "/dangling")
        symlink(root + "/loop", root + "/loop")
        mkfifo(root + "/fifo", 0o600)
        Support.write(valid.replacingOccurrences(of: "seed: server-a", with: "seed: server-a\u{0}\u{0}"), to: root + "/nul.yml")
        _ = FileManager.default.createFile(atPath: root + "/utf16.yml", contents: valid.data(using: .utf16))
        _ = FileManager.default.createFile(atPath: root + "/latin1.yml", contents: Data(Array("cluster:\n  seed: caf".utf8) + [0xE9, 0x0A]))
        Support.write("cluster: {seed: a}\nnodes: [" + String(repeating: "x", count: 400_000) + "\n", to: root + "/long.yml")
        // Unreadable for whoever runs the product: root reads any file, so as root the product runs as nobody
        // on a private file; any other user gets a file with no read permission at all.
        let asRoot = geteuid() == 0
        Support.write(valid, to: root + "/private.yml", mode: asRoot ? 0o600 : 0o000)
        let cases: [(file: String, words: String, unreadable: Bool)] = [
            ("missing.yml", "no such file", false), ("folder", "a directory, not a file", false),
            ("dangling", "a symlink to \(root)/gone, which does not exist", false), ("loop", "a symlink loop", false),
            ("fifo", "not a regular file", false), ("nul.yml", "UTF-16 or holds NUL bytes: save it as UTF-8", false),
            ("utf16.yml", "UTF-16 or holds NUL bytes: save it as UTF-8", false), ("latin1.yml", "not UTF-8 text (byte 21)", false),
            ("long.yml", "is not valid YAML", false), ("private.yml", "permission denied", true),
        ]
        for c in cases {
            let argv = [Support.productBinary, "plan", "--config", root + "/" + c.file, "--state-dir", root + "/state"]
            let out = await Support.run(c.unreadable && asRoot ? ["runuser", "-u", "nobody", "--"] + argv : argv)
            #expect(out.termination == .exited(code: 64), "\(c.file): \(out.termination)")
            #expect(out.stderr.text.contains(c.words), "\(c.file): \(out.stderr.text.prefix(300))")
            #expect(out.stderr.totalBytes < 3000 && !out.stderr.text.contains("\u{0}"), "\(c.file): \(out.stderr.totalBytes) bytes on stderr")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/state/commands.jsonl"), "a command ran")
    }
}

extension HardeningTests {
    /// `--waive` names a finding some step reports (a typo waived nothing and said nothing), and every finding
    /// name the steps' sources write is in their catalogue, so the check cannot drift from the code.
    @Test func waiversNameFindingsTheStepsReport() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        Support.write(Self.topology(), to: root + "/topology.yml")
        let out = await Support.run([Support.productBinary, "plan", "--waive", "cookie-mode", "--waive", "cookie-mod", "--config", root + "/topology.yml",
                                     "--state-dir", root + "/state"])
        #expect(out.termination == .exited(code: 64), "\(out.stderr.text)")
        #expect(out.stderr.text.contains("no step reports cookie-mod;") && out.stderr.text.contains("cookie-mode, "), "\(out.stderr.text)")
        #expect(!FileManager.default.fileExists(atPath: root + "/state/commands.jsonl"), "a command ran")

        let topology = try TopologyParser.parse(Self.topology("""
            load_balancer:
              kind: nginx
              host: lb
            """))
        let steps = SetupSteps.all(for: topology)
        #expect(steps.count == 7)
        // The site's own load balancer has a load-balancer step of its own.
        let external = SetupSteps.all(for: try TopologyParser.parse(Self.topology("""
            load_balancer:
              kind: external
              host: lb
            """)))
        // A pair has the floating-address step.
        let pair = SetupSteps.all(for: try TopologyParser.parse(Self.topology("""
            load_balancer:
              kind: nginx
              host: 10.0.0.30
              pair:
                - reach: ssh://root@10.0.0.20
                - reach: ssh://root@10.0.0.21
            """)))
        #expect(pair.map(\.id).contains(.floatingAddress))
        let catalogue = Set((steps + external + pair).flatMap(\.findingNames))
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/RabbitSetup").path
        let pattern = try Regex(#"(?:Finding\(|finding: |finding \?\? )"([a-z][a-z0-9-]+)""#)
        var written = Set<String>()
        for file in try FileManager.default.subpathsOfDirectory(atPath: sources) where file.hasSuffix(".swift") && !file.hasSuffix("FileContentStep.swift") {
            for match in Support.read(sources + "/" + file).matches(of: pattern) {
                if let name = match.output[1].substring { written.insert(String(name)) }
            }
        }
        #expect(written.count > 20, "the scan found \(written.count) names")
        #expect(written.subtracting(catalogue).isEmpty, "reported but not in a catalogue: \(written.subtracting(catalogue).sorted())")
        #expect(catalogue.subtracting(written).isEmpty, "in a catalogue but never reported: \(catalogue.subtracting(written).sorted())")
    }
}

extension HardeningTests {
    /// The hand-off shows the address the wizard verifies the login through (the listen address), on every
    /// front end: the step said `Host lb` while the screen (and the login check) used 10.0.0.5.
    @Test func theHandOffShowsTheAddressItVerifies() async throws {
        let topology = try TopologyParser.parse(Self.topology("""
            load_balancer:
              kind: nginx
              host: lb
              listen_address: 10.0.0.5
            """))
        let lb = try #require(topology.loadBalancer)
        let step = OutSystemsHandoffStep(topology: topology, loadBalancer: lb)
        #expect(step.cacheTab.first { $0.label == "Host" }?.value == lb.clientHost)
        let findings = try await step.check(StepContext(executor: Executor(commandLog: nil)))
        let shown = try #require(findings.first { $0.name == "outsystems-cache-tab" }?.message)
        #expect(shown.contains("Host 10.0.0.5, Port 5672, Virtual Host /outsystems, Username outsystems"), "\(shown)")
    }
}

extension HardeningTests {
    /// Bad input through the binary (shell metacharacters in host names, a payload in a generated config, a
    /// node twice, bad ports): a clear error naming the field, and no command at all.
    @Test(arguments: [
        ("host: ServerB", "host: \"ServerB;touch /tmp/rw-pwned\"", "nodes[1].host"),
        ("host: ServerB", "host: \"$(touch /tmp/rw-pwned)\"", "nodes[1].host"),
        ("seed: server-a", "seed: server-a\n  partition_handling: \"autoheal\\n}\"", "cluster.partition_handling"),
        ("host: ServerB", "host: ServerA", "nodes"),
        ("host: ServerB", "host: ServerB\n    amqp_port: 99999", "nodes[1].amqp_port"),
        ("host: ServerB", "host: ServerB\n    amqp_port: 4369", "nodes[1].amqp_port"),
    ])
    func badTopologyRunsNothing(from: String, to: String, field: String) async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let yaml = HardeningTests.topology().replacingOccurrences(of: from, with: to)
        Support.write(yaml, to: root + "/topology.yml")
        for command in [["plan"], ["apply", "--yes"], ["status"]] {
            let out = await Support.run([Support.productBinary] + command + ["--config", root + "/topology.yml", "--state-dir", root + "/state"])
            #expect(out.termination == .exited(code: 64), "\(command)")
            #expect(out.stderr.text.contains(field), "\(out.stderr.text)")
            #expect(out.stderr.text.contains("Fix:"))
            #expect(out.stderr.text.contains("nothing was run"))
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/state/commands.jsonl"), "a command ran")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/rw-pwned"))
    }
}
