import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing

extension ClusterScenarioTests {
    /// Issue 14's defects that need running nodes, on the two-node sandbox of
    /// ``TwoNodes/hardening()`` while its nodes are separate. Each part leaves the
    /// sandbox as it found it; at the end every managed file is byte-identical and both nodes run standalone.
    static func hostileInputsAndFaults(_ bed: SandboxBed) async throws {
        let before = bed.managedFiles()
        let pids = bed.letters.map(bed.pid)
        let confB = bed.nodeDir("b") + "/rabbitmq.conf"

        // advanced.config: a comment that names the key sets nothing; the term does (read by the node).
        Support.write("%% {cluster_partition_handling, ignore}\n[].\n", to: bed.nodeDir("a") + "/advanced.config", mode: 0o644)
        Support.write("[{rabbit, [{cluster_partition_handling, pause_minority}]}].\n", to: bed.nodeDir("b") + "/advanced.config", mode: 0o644)
        // With --detailed-exitcode (every outcome on these nodes: blocked here, changes pending and nothing to
        // change below) a plan blocked by a finding exits 1.
        let advanced = await bed.wizard(["plan", "--only", "partition-handling", "--detailed-exitcode"])
        let advancedText = advanced.stdout.text + advanced.stderr.text
        #expect(advanced.termination == .exited(code: 1), "\(advancedText)")
        #expect(!advancedText.contains("advanced-config-partition-handling (node-a)"), "a comment counted as the setting: \(advancedText)")
        #expect(advancedText.contains("error advanced-config-partition-handling (node-b)") && advancedText.contains("to pause_minority"), "\(advancedText)")
        for l in bed.letters { unlink(bed.nodeDir(l) + "/advanced.config") }

        // A byte order mark before a key on line 1 (the key repeated later): found before anything changes.
        let original = Support.read(confB)
        let marked = "\u{FEFF}cluster_partition_handling = ignore\n" + original + "cluster_partition_handling = ignore\n"
        Support.write(marked, to: confB, mode: 0o644)
        let bom = await bed.wizard(["apply", "--yes", "--only", "partition-handling"])
        #expect(bom.termination == .exited(code: 1), "\(bom.stdout.text)\(bom.stderr.text)")
        #expect(bom.stdout.text.contains("error config-bom (node-b)") && bom.stdout.text.contains("byte order mark"), "\(bom.stdout.text)")
        #expect(SandboxBed.file(confB).bytes == Array(marked.utf8), "the file changed")
        Support.write(original, to: confB, mode: 0o644)

        // The same node twice, through localhost and 127.0.0.1: judged by where the names point.
        let topology = Support.read(bed.topology)
        let (ports, _) = bed.ports()
        let b = try #require(topology.range(of: "  - name: node-b"))
        let twice = String(topology[..<b.lowerBound]) + topology[b.lowerBound...]
            .replacingOccurrences(of: "host: localhost", with: "host: 127.0.0.1")
            .replacingOccurrences(of: "amqp_port: \(ports[1])", with: "amqp_port: \(ports[0])")
        Support.write(twice, to: bed.dir + "/twice.yml")
        let dup = await Support.run([Support.productBinary, "apply", "--yes", "--config", bed.dir + "/twice.yml"], timeout: .seconds(300))
        #expect(dup.termination == .exited(code: 1), "\(dup.stdout.text)\(dup.stderr.text)")
        #expect(dup.stdout.text.contains("error same-server-twice (node-b)"), "\(dup.stdout.text)")

        // A joiner's cookie removed: a read-only plan names it and leaves no cookie behind.
        let cookieB = bed.nodeDir("b") + "/home/.erlang.cookie"
        let cookie = SandboxBed.file(cookieB)
        rename(cookieB, cookieB + ".aside")
        let missing = await bed.wizard(["plan"])
        #expect(missing.stdout.text.contains("error cookie-missing (node-b)"), "\(missing.stdout.text)\(missing.stderr.text)")
        #expect(!FileManager.default.fileExists(atPath: cookieB), "a read-only plan created a cookie")
        rename(cookieB + ".aside", cookieB)
        #expect(SandboxBed.file(cookieB) == cookie)

        // Issue 29: a cookie file with a UTF-8 byte order mark (Notepad, Out-File -Encoding UTF8) is named as
        // such, not as a node that does not run (the node runs: it read its cookie at boot).
        let cookieText = try #require(cookie.bytes)
        chmod(cookieB, 0o600)
        FileManager.default.createFile(atPath: cookieB, contents: Data([0xEF, 0xBB, 0xBF] + cookieText))
        chmod(cookieB, 0o400)
        let bomPlan = await bed.wizard(["plan"])
        let markedText = bomPlan.stdout.text + bomPlan.stderr.text
        #expect(markedText.contains("error cookie-bom (node-b)") && markedText.contains("sed -i '1s/^\\xEF\\xBB\\xBF//' \(cookieB)"), "\(markedText)")
        #expect(!markedText.contains("node-not-running (node-b)") && !markedText.contains("cookie-invalid (node-b)"), "\(markedText)")
        #expect(!markedText.contains(String(decoding: cookieText, as: UTF8.self)), "the cookie was shown")
        chmod(cookieB, 0o600)
        FileManager.default.createFile(atPath: cookieB, contents: Data(cookieText))
        chmod(cookieB, 0o400)
        #expect(SandboxBed.file(cookieB) == cookie)

        // Issue 29: a rabbitmq.conf larger than one answer holds (4 MiB, base64) was read cut, and its first
        // 3.1 MB written back with "applied". Now refused, naming file, size and limit; nothing written.
        let large = original + String(repeating: "# a comment line of the kind a long file has, padding padding\n", count: 100_000)
        Support.write(large, to: confB, mode: 0o644)
        let largeBefore = SandboxBed.file(confB)
        let tooLarge = await bed.wizard(["apply", "--yes", "--only", "partition-handling"])
        #expect(tooLarge.termination == .exited(code: 1))
        #expect(tooLarge.stdout.text.contains("error file-too-large (node-b): \(confB) on local is") && tooLarge.stdout.text.contains("(\(large.utf8.count) bytes)")
                && tooLarge.stdout.text.contains("4.0 MiB limit"), "\(tooLarge.stdout.text.prefix(3000))")
        let largeKept = SandboxBed.file(confB) == largeBefore
        #expect(largeKept, "the large file changed")
        let backups = ((try? FileManager.default.contentsOfDirectory(atPath: bed.nodeDir("b"))) ?? []).filter { $0.contains(".rabbit-wizard") }
        #expect(backups == [], "something was written next to it: \(backups)")
        Support.write(original, to: confB, mode: 0o644)
        #expect(bed.managedFiles() == before && bed.letters.map(bed.pid) == pids, "bad input changed a server")

        // Changes pending: exit 2 with --detailed-exitcode, 0 without it (as before the flag existed).
        let pending = await bed.wizard(["plan", "--only", "partition-handling", "--detailed-exitcode"])
        #expect(pending.termination == .exited(code: 2), "\(pending.stdout.text)\(pending.stderr.text)")
        #expect(pending.stdout.text.contains("cluster_partition_handling = autoheal"), "\(pending.stdout.text)")
        let plain = await bed.wizard(["plan", "--only", "partition-handling"])
        #expect(plain.termination == .exited(code: 0), "\(plain.stdout.text)\(plain.stderr.text)")

        // From here to the end of this part node b cannot take changes live (the test hook makes it refuse), so
        // it restarts, once: partition-handling leaves its restart to erlang-cookie's round, which restarts it
        // anyway. Node a takes both live.
        let refuseB = [RabbitNode.liveRefusedVariable: "node-b"]
        // A cookie staged on b by a live attempt that was cut off: b's restart round does not leave it behind.
        let staged = bed.nodeDir("b") + "/home/.erlang.cookie.rabbit-wizard"
        Support.write("stale-staged-cookie\n", to: staged, mode: 0o400)

        // partition-handling alone: b's restart is owed to erlang-cookie's round, so the step is not "done";
        // the nodes are separate clusters, not a network partition.
        let alone = await bed.wizard(["apply", "--yes", "--only", "partition-handling"], environment: refuseB)
        #expect(alone.termination == .exited(code: 0), "\(alone.stdout.text)\(alone.stderr.text)")
        #expect(alone.stdout.text.contains("takes effect at the restart round") && !alone.stdout.text.contains("partition-handling: done"), "\(alone.stdout.text)")
        #expect(alone.stdout.text.contains("run node-a: set live") && !alone.stdout.text.contains("run node-a: restart"), "\(alone.stdout.text)")
        #expect(await bed.effectivePartitionHandling("a") == "{ok,autoheal}", "node a took the strategy live")
        #expect(bed.pid("a") == pids[0], "node a was restarted")
        // The plan names the one node that will restart, and why, before anything runs.
        let named = await bed.wizard(["plan"], environment: refuseB)
        #expect(named.stdout.text.contains("restarts: node-b (erlang-cookie: the cookie cannot change live: refused by \(RabbitNode.liveRefusedVariable)")
                && !named.stdout.text.contains("node-a (erlang-cookie"), "\(named.stdout.text)")
        let separate = await bed.wizard(["status"], environment: refuseB)
        #expect(!separate.stdout.text.contains("NETWORK PARTITION"), "\(separate.stdout.text)")
        #expect(separate.stdout.text.contains("cluster: not one cluster yet"), "\(separate.stdout.text)")
        #expect(separate.stdout.text.split(separator: "\n").contains { $0.hasPrefix("partition-handling") && $0.contains("awaiting-restart") },
                "\(separate.stdout.text)")

        // A journal that cannot be written when a restart is to be journaled as owed: the step stops there,
        // saying why, and no node is stopped (the journal write was a `try?`: the nodes were stopped anyway,
        // owed nowhere). A state folder of its own on a 64 KiB tmpfs, filled while the run waits as
        // erlang-cookie begins (its round journals each restart as owed before it stops the node).
        let small = try await Support.smallDisk(in: bed.dir)
        let fullOut = bed.dir + "/full.out"
        let paused = await Support.run(["sh", "-c", "\"$@\" > \"$0\" 2>&1 & echo $!", fullOut, Support.productBinary, "apply", "--yes",
                                        "--config", bed.topology, "--state-dir", small + "/state"],
                                       environment: refuseB.merging(["RABBIT_WIZARD_PAUSE_AT": "began:erlang-cookie"]) { $1 })
        let fullPid = try #require(Int32(paused.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await Support.waitUntil(.seconds(120)) { (try? String(contentsOfFile: "/proc/\(fullPid)/stat", encoding: .utf8))?.contains(") T ") == true },
                "the run never began erlang-cookie: \(Support.read(fullOut))")
        let pidsBeforeFull = bed.letters.map(bed.pid)
        let cookieBeforeFull = SandboxBed.file(cookieB)
        _ = await Support.run(["dd", "if=/dev/zero", "of=\(small)/filler", "bs=4096"])
        // A full tmpfs still takes a small entry into the room left in a file's last page (4 KiB): the journal's
        // last page is filled too (junk this run's journal, a scratch one, is never read again), so that its
        // next entry meets the full disk as it would when the last page happened to be full.
        let journalDir = small + "/state/journal"
        let journalFile = try #require(try FileManager.default.contentsOfDirectory(atPath: journalDir).filter { $0.hasSuffix(".journal") }.sorted().last)
        let handle = try #require(FileHandle(forWritingAtPath: journalDir + "/" + journalFile))
        let size = try handle.seekToEnd()
        try? handle.write(contentsOf: Data(repeating: 0x20, count: Int((4096 - size % 4096) % 4096)))
        try handle.close()
        kill(fullPid, SIGCONT)
        #expect(await Support.waitUntil(.seconds(120)) { Support.hasEnded(fullPid) })
        let full = Support.read(fullOut)
        #expect(full.contains("cannot write the journal") && full.contains("No space left on device")
                && full.contains("owed before it is stopped; it was not stopped"), "\(full)")
        #expect(bed.letters.map(bed.pid) == pidsBeforeFull && SandboxBed.file(cookieB) == cookieBeforeFull, "a node was stopped or changed: \(full)")
        _ = umount2(small, 0)

        // Killed at the owed-restart boundary (node b's restart journaled as owed, the node not yet stopped):
        // the apply below reconciles the interrupted step and the run after it converges.
        let pidsBeforeOwed = bed.letters.map(bed.pid)
        let owedCrash = await Support.run([Support.productBinary, "apply", "--yes", "--config", bed.topology], timeout: .seconds(300),
                                          environment: refuseB.merging(["RABBIT_WIZARD_CRASH_AT": "restart-owed:node-b"]) { $1 })
        #expect(owedCrash.termination == .signaled(signal: SIGKILL), "node b's owed restart was not reached: \(owedCrash.stdout.text)\(owedCrash.stderr.text)")
        #expect(bed.pid("b") == pidsBeforeOwed[1], "node b was stopped before its restart was journaled as owed")

        // apply killed with SIGKILL during erlang-cookie's restart round, once node b has the seed's cookie and a
        // node is starting (so the next run finds no cookie to change), then apply again: the owed restarts are
        // settled by observation (status said "restart pending" forever).
        let output = bed.dir + "/killed.out"
        let started = await Support.run(["sh", "-c", "\"$@\" > \"$0\" 2>&1 & echo $!", output, Support.productBinary, "apply", "--yes", "--config", bed.topology],
                                        environment: refuseB)
        let wizard = try #require(Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let seedCookie = SandboxBed.file(bed.nodeDir("a") + "/home/.erlang.cookie").bytes
        let starting = { Self.controlScripts(of: bed).contains { Support.commandLine($0)?.contains { $0.hasSuffix("/bin/start") } == true } }
        #expect(await Support.waitUntil(.seconds(120)) { SandboxBed.file(cookieB).bytes == seedCookie && starting() },
                "no restart with the new cookie seen: \(Support.read(output))")
        kill(wizard, SIGKILL)
        #expect(await Support.waitUntil(.seconds(10)) { Support.hasEnded(wizard) })
        let resumed = await bed.wizard(["apply", "--yes"], environment: refuseB)
        #expect(resumed.termination == .exited(code: 0), "\(resumed.stdout.text)\(resumed.stderr.text)")
        #expect(!FileManager.default.fileExists(atPath: staged), "the staged cookie was left on node b")
        let settled = await bed.wizard(["status"], environment: refuseB)
        #expect(!settled.stdout.text.contains("restart pending"), "\(settled.stdout.text)")
        #expect(settled.stdout.text.contains("cluster: 2 of 2 nodes running"), "\(settled.stdout.text)")
        for l in bed.letters { #expect(await bed.effectivePartitionHandling(l) == "{ok,autoheal}") }
        let converged = await bed.wizard(["plan", "--detailed-exitcode"], environment: refuseB)
        #expect(converged.termination == .exited(code: 0), "nothing left to change: \(converged.stdout.text)\(converged.stderr.text)")

        // Back to separate nodes; partition-handling's rollback restores a file RabbitMQ cannot parse (a BOM
        // put into its backup): the node does not come back, and the failure says why, from its log, at once.
        for step in ["cluster-join", "erlang-cookie"] {
            let r = await bed.wizard(["rollback", step, "--yes"])
            #expect(r.termination == .exited(code: 0), "rollback \(step): \(r.stdout.text)\(r.stderr.text)")
        }
        let backup = try #require(((try? FileManager.default.contentsOfDirectory(atPath: bed.nodeDir("b"))) ?? []).first { $0.hasPrefix("rabbitmq.conf.rabbit-wizard-") })
        Support.write("\u{FEFF}" + original, to: bed.nodeDir("b") + "/" + backup, mode: 0o644)
        // Live (b takes the old value while it runs): the node's translation of the restored file says its
        // next boot would fail, and nothing was restarted.
        let pidB = bed.pid("b")
        let live = await bed.wizard(["rollback", "partition-handling", "--yes"])
        #expect(live.termination == .exited(code: 1))
        #expect(live.stderr.text.contains("next boot would fail") && live.stderr.text.contains("failed_to_parse_configuration_file"), "\(live.stderr.text)")
        #expect(bed.pid("b") == pidB, "node b was restarted")
        // Where b cannot take it live it restarts, and does not come back.
        _ = await bed.ctl("b", ["eval", "application:set_env(rabbit, cluster_partition_handling, autoheal)."])
        let broken = await bed.wizard(["rollback", "partition-handling", "--yes"], environment: refuseB)
        #expect(broken.termination == .exited(code: 1))
        #expect(broken.stderr.text.contains("failed_to_parse_configuration_file") && broken.stderr.text.contains("startup.log"), "\(broken.stderr.text)")
        // Not "operation wait ... timed out" after 120 s: the start ended when the node exited.
        #expect(broken.stderr.text.contains("the node exited during its boot"), "\(broken.stderr.text)")
        Support.write(original, to: confB, mode: 0o644)
        #expect(await bed.start("b"))
        let finished = await bed.wizard(["rollback", "partition-handling", "--yes"])
        #expect(finished.termination == .exited(code: 0), "\(finished.stdout.text)\(finished.stderr.text)")
        #expect(bed.managedFiles() == before, "a managed file differs from its before-state")
        for l in bed.letters {
            #expect(await bed.runningNodes(seenFrom: l)?.running == [bed.nodeName(l)], "\(l) is standalone and running")
            #expect(await bed.effectivePartitionHandling(l) == "{ok,ignore}")
        }
        bed.resetState()
    }
}
