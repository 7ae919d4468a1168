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
    /// A full disk under the state directory (a 64 KiB tmpfs): a command log record is written whole or not
    /// at all, the run that could not write one stops at the next safe point and fails saying so (it went on,
    /// exited 0, left a cut-off record and said it only on stderr's log line), `log` reads what is there and
    /// names a damaged line, and a journal that cannot even take its header leaves no empty file.
    @Test func aFullDiskNeverLeavesAHalfRecordAndFailsTheRun() async throws {
        let bed = WorkflowCLITests.Bed()
        defer { Support.remove(bed.root) }
        let small = try await Support.smallDisk(in: bed.root)
        defer { umount2(small, 0) }
        let state = small + "/state"
        func wizard(_ args: [String]) async -> TransportOutcome {
            await Support.run([Support.productBinary] + args + ["--state-dir", state], timeout: .seconds(60), environment: bed.env)
        }
        // A plan leaves records in the log; an apply is paused once its journal is open; then the disk is
        // filled: only the slack in the last pages of the log and the journal is left, so a record (about
        // 1.5 KB) soon fits only in part.
        #expect(await wizard(["plan"]).termination == .exited(code: 0))
        let output = bed.root + "/apply.out"
        let started = await Support.run(
            ["sh", "-c", "\"$@\" > \"$0\" 2>&1 & echo $!", output, Support.productBinary, "apply", "--yes", "--state-dir", state],
            environment: bed.env.merging(["RABBIT_WIZARD_PAUSE_AT": "run-started:-"]) { $1 })
        let pid = try #require(Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await Support.waitUntil(.seconds(20)) { (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") T ") == true })
        _ = await Support.run(["dd", "if=/dev/zero", "of=\(small)/filler", "bs=4096"])
        kill(pid, SIGCONT)
        #expect(await Support.waitUntil(.seconds(60)) { Support.hasEnded(pid) })
        let failed = Support.read(output)
        #expect(failed.contains("No space left on device") && failed.contains("command log") && failed.contains("stopped"), "\(failed)")
        #expect(!failed.contains("Done:"), "the run went on as if all was recorded: \(failed)")
        #expect(bed.converged() == false, "the run changed files after a command went unrecorded")
        // Every line of the log is a whole record.
        let log = Support.read(state + "/commands.jsonl")
        #expect(log.hasSuffix("\n"), "the log ends in a cut-off record")
        let contents = try CommandLog.read(path: state + "/commands.jsonl")
        #expect(contents.damagedLines == [] && contents.records.count == log.split(separator: "\n").count)
        // Two more runs on the full disk: each fails with the words, and no empty journal file is left.
        for _ in 0..<2 {
            let again = await wizard(["apply", "--yes"])
            #expect(again.termination != .exited(code: 0) && again.stderr.text.contains("No space left on device"), "\(again.stderr.text)")
        }
        for file in (try? FileManager.default.contentsOfDirectory(atPath: state + "/journal")) ?? [] {
            #expect(!Support.read(state + "/journal/" + file).isEmpty, "an empty journal file \(file) was left")
        }
        let shown = await wizard(["log", "--json"])
        #expect(shown.termination == .exited(code: 0) && shown.stdout.text.split(separator: "\n").count == contents.records.count)

        // A record cut off by a crash (not by this code) is named by `log` and the next record starts on its own line.
        let copy = bed.root + "/copy"
        mkdir(copy, 0o700)
        Support.write(log + "{\"argv\":[\"cut", to: copy + "/commands.jsonl", mode: 0o600)
        let named = await Support.run([Support.productBinary, "log", "--state-dir", copy])
        #expect(named.stderr.text.contains("skipped 1 damaged line(s)") && named.stderr.text.contains("line \(contents.records.count + 1)"),
                "\(named.stderr.text)")
        let appended = await Support.run([Support.productBinary, "exec", "--state-dir", copy, "--", "true"])
        #expect(appended.termination == .exited(code: 0))
        let after = try CommandLog.read(path: copy + "/commands.jsonl")
        #expect(after.records.count == contents.records.count + 1 && after.damagedLines == [contents.records.count + 1])
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
        Support.write(valid, to: root + "/private.yml", mode: 0o600)
        let cases: [(file: String, words: String, asNobody: Bool)] = [
            ("missing.yml", "no such file", false), ("folder", "a directory, not a file", false),
            ("dangling", "a symlink to \(root)/gone, which does not exist", false), ("loop", "a symlink loop", false),
            ("fifo", "not a regular file", false), ("nul.yml", "UTF-16 or holds NUL bytes: save it as UTF-8", false),
            ("utf16.yml", "UTF-16 or holds NUL bytes: save it as UTF-8", false), ("latin1.yml", "not UTF-8 text (byte 21)", false),
            ("long.yml", "is not valid YAML", false), ("private.yml", "permission denied", true),
        ]
        for c in cases {
            let argv = [Support.productBinary, "plan", "--config", root + "/" + c.file, "--state-dir", root + "/state"]
            let out = await Support.run(c.asNobody ? ["runuser", "-u", "nobody", "--"] + argv : argv)
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
        let catalogue = Set(steps.flatMap(\.findingNames))
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
