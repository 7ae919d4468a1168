import Executor
import Foundation
import Glibc
import TestKit
import Testing

/// The engine through the real `rabbit-wizard` binary, on real files (the test steps stand in for the
/// topology): crashes at every boundary, two concurrent runs, plan versus what apply does, stale plans,
/// a damaged journal.
@Suite struct WorkflowCLITests {
    static let boundaries: [String] = ["run-started:-"] + ["file-a", "file-b", "file-c"].flatMap {
        ["began:\($0)", "apply-returned:\($0)", "applied:\($0)", "verified:\($0)"]
    }

    @Test(arguments: boundaries)
    func killedAtEveryBoundaryReconcilesAndConverges(point: String) async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let crashed = await bed.wizard(["apply", "--yes"], extraEnv: ["RABBIT_WIZARD_CRASH_AT": point])
        #expect(crashed.termination == .signaled(signal: SIGKILL), "the crash point \(point) was not reached")

        let step = String(point.split(separator: ":")[1])
        let interrupted = !point.hasPrefix("verified") && step != "-"
        let status = await bed.wizard(["status"])
        #expect(status.termination == .exited(code: 0))
        #expect(status.stdout.text.contains("\(step): interrupted") == interrupted, "status after \(point):\n\(status.stdout.text)")
        #expect(status.stdout.text.contains("lock: stale"), "status names the stale lock")

        let resumed = await bed.wizard(["apply", "--yes"])
        #expect(resumed.termination == .exited(code: 0), "\(resumed.stdout.text)\(resumed.stderr.text)")
        if interrupted { #expect(resumed.stdout.text.contains("\(step): was interrupted; observed:")) }
        #expect(bed.converged())

        let before = try bed.mutatingCommands()
        let files = bed.files()
        let again = await bed.wizard(["apply", "--yes"])
        #expect(again.termination == .exited(code: 0))
        #expect(try bed.mutatingCommands() == before, "a converged apply ran mutating commands")
        #expect(bed.files() == files, "a converged apply changed a file")
    }

    /// A rollback killed at each of its boundaries (`rollback-began`, `rolled-back`): the next rollback
    /// finishes the job and every file is as before; a step killed right after its failure was journaled
    /// (`failed`): once its cause is gone (here a missing folder), apply converges.
    static let rollbackBoundaries = ["file-b", "file-a"].flatMap { ["rollback-began:\($0)", "rolled-back:\($0)"] }

    @Test(arguments: rollbackBoundaries)
    func rollbackKilledAtEveryBoundaryFinishesNextTime(point: String) async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let a = Support.read(bed.path("file-a")), c = Support.read(bed.path("file-c"))
        #expect(await bed.wizard(["apply", "--yes"]).termination == .exited(code: 0))
        let crashed = await bed.wizard(["rollback", "--all", "--yes"], extraEnv: ["RABBIT_WIZARD_CRASH_AT": point])
        #expect(crashed.termination == .signaled(signal: SIGKILL), "the crash point \(point) was not reached")
        let again = await bed.wizard(["rollback", "--all", "--yes"])
        #expect(again.termination == .exited(code: 0), "\(again.stdout.text)\(again.stderr.text)")
        #expect(Support.read(bed.path("file-a")) == a && Support.read(bed.path("file-c")) == c, "after \(point)")
        #expect(!FileManager.default.fileExists(atPath: bed.path("file-b")), "after \(point)")
        let status = await bed.wizard(["status"])
        #expect(!status.stdout.text.contains("interrupted"), "\(status.stdout.text)")
    }

    @Test func killedRightAfterAFailureConvergesOnceTheCauseIsGone() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        // file-b's folder is missing: its write fails, and the run is killed as its failure is journaled.
        let moved = bed.root + "/etc-aside"
        var steps = try #require(try JSONSerialization.jsonObject(with: Data(Support.read(bed.root + "/steps.json").utf8)) as? [[String: String]])
        let b = try #require(steps.firstIndex { $0["id"] == "file-b" })
        steps[b]["path"] = moved + "/b.conf"
        try JSONSerialization.data(withJSONObject: steps).write(to: URL(fileURLWithPath: bed.root + "/steps.json"))
        let crashed = await bed.wizard(["apply", "--yes"], extraEnv: ["RABBIT_WIZARD_CRASH_AT": "failed:file-b"])
        #expect(crashed.termination == .signaled(signal: SIGKILL), "the failure of file-b was not journaled: \(crashed.stdout.text)\(crashed.stderr.text)")
        let status = await bed.wizard(["status"])
        #expect(status.stdout.text.split(separator: "\n").contains { $0.hasPrefix("file-b") && $0.contains("failed") }, "\(status.stdout.text)")
        mkdir(moved, 0o755)
        let resumed = await bed.wizard(["apply", "--yes"])
        #expect(resumed.termination == .exited(code: 0), "\(resumed.stdout.text)\(resumed.stderr.text)")
        #expect(Support.read(moved + "/b.conf") == "created\n" && Support.read(bed.path("file-a")) == "# managed by hand\nnew = 2\n")
    }

    @Test func uninterruptedRunThenRollbackAllRestoresEverything() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let a = Support.read(bed.path("file-a")), c = Support.read(bed.path("file-c"))
        #expect(await bed.wizard(["apply", "--yes"]).termination == .exited(code: 0))
        #expect(bed.converged())
        let one = await bed.wizard(["rollback", "file-a", "--yes"])
        #expect(one.termination == .exited(code: 64), "later steps are still applied")
        #expect(one.stderr.text.contains("file-b, file-c"))
        let all = await bed.wizard(["rollback", "--all", "--yes"])
        #expect(all.termination == .exited(code: 0))
        #expect(all.stdout.text.contains("Rolled back: file-c, file-b, file-a."))
        #expect(Support.read(bed.path("file-a")) == a)
        #expect(Support.read(bed.path("file-c")) == c)
        #expect(!FileManager.default.fileExists(atPath: bed.path("file-b")))
        let noTerminal = await bed.wizard(["rollback", "--all"])
        #expect(noTerminal.stdout.text.contains("Nothing to roll back"))
    }

    @Test func secondConcurrentApplyRefusesAndNamesTheHolder() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let pid = try await bed.applyPaused(at: "began:file-b", output: bed.root + "/first.out")
        let second = await bed.wizard(["apply", "--yes"])
        #expect(second.termination == .exited(code: 6))
        #expect(second.stderr.text.contains("pid \(pid)"), "\(second.stderr.text)")
        kill(pid, SIGCONT)
        #expect(await Support.waitUntil(.seconds(20)) { kill(pid, 0) != 0 })
        #expect(Support.read(bed.root + "/first.out").contains("Done: 3 of 3 steps are done."))
        #expect(bed.converged())
    }

    /// The first Ctrl-C stops at the next safe point (here: before file-b starts), nothing half-done.
    @Test func ctrlCStopsAtTheNextSafePoint() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let pid = try await bed.applyPaused(at: "verified:file-a", output: bed.root + "/run.out")
        kill(pid, SIGINT)
        kill(pid, SIGCONT)
        #expect(await Support.waitUntil(.seconds(20)) { kill(pid, 0) != 0 })
        let out = Support.read(bed.root + "/run.out")
        #expect(out.contains("stopped by Ctrl-C at a safe point, before file-b"), "\(out)")
        #expect(!FileManager.default.fileExists(atPath: bed.path("file-b")), "file-b was started after Ctrl-C")
        let status = await bed.wizard(["status"])
        #expect(!status.stdout.text.contains("interrupted"), "a step was left half-done:\n\(status.stdout.text)")
        #expect(!status.stdout.text.contains("lock:"), "the lock was not released")
        // What the wizard keeps, as the folder has it.
        let runs = ((try? FileManager.default.contentsOfDirectory(atPath: bed.state + "/journal")) ?? []).filter { $0.hasSuffix(".journal") }.count
        #expect(runs > 0 && status.stdout.text.contains("in 1 file(s) (rotated at 8 MiB, 4 old ones kept); journal ")
                && status.stdout.text.contains(" in \(runs) run file(s)"), "\(status.stdout.text)")
        let resumed = await bed.wizard(["apply", "--yes"])
        #expect(resumed.termination == .exited(code: 0))
        #expect(bed.converged())
    }

    /// Commands of a run that is killed go on in their own sessions and stay listed in STATE/running;
    /// the next run waits for them before it acts, and stops one that is past its own time-out.
    @Test func commandsLeftByAKilledRunAreWaitedForOrStoppedAtTheirTimeOut() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let done = bed.root + "/slow-done", release = bed.root + "/release"
        // The slow command ends only once the test says so: it is surely running while the next run starts.
        let slow = try await bed.execKilled(["sh", "-c", "while [ ! -e \"$0\" ]; do sleep 0.05; done; touch \"$1\"", release, done], timeout: 60)
        let stuck = try await bed.execKilled(["sleep", "600"], timeout: 1)
        #expect(!Support.members(ofProcessGroup: slow).isEmpty && !Support.members(ofProcessGroup: stuck).isEmpty)

        let status = await bed.wizard(["status"])
        #expect(status.stdout.text.contains("still running, left by an interrupted run (the next run waits for it): sh -c"), "\(status.stdout.text)")

        let output = bed.root + "/apply.out"
        let started = await Support.run(["sh", "-c", "\"$@\" > \"$0\" 2>&1 & echo $!", output, Support.productBinary, "apply", "--yes", "--state-dir", bed.state],
                                        environment: bed.env)
        let apply = try #require(Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await Support.waitUntil(.seconds(20)) { Support.read(output).contains("waiting for 2 command(s) left running by an interrupted run") },
                "\(Support.read(output))")
        #expect(!FileManager.default.fileExists(atPath: bed.path("file-a")) || Support.read(bed.path("file-a")).contains("old = 1"),
                "the run acted while a left-over command still ran")
        Support.write("", to: release)
        #expect(await Support.waitUntil(.seconds(30)) { Support.hasEnded(apply) })
        let out = Support.read(output)
        #expect(out.contains("Done: 3 of 3 steps are done."), "\(out)")
        #expect(out.contains("sleep 600 on local (pid \(stuck)), left running by an interrupted run, is past its time-out of 1 s: stopping it"), "\(out)")
        #expect(Support.members(ofProcessGroup: stuck).isEmpty, "the stuck command still runs")
        // The run acted only after the slow command had ended.
        var a = stat(), d = stat()
        #expect(stat(done, &d) == 0, "the slow command did not finish")
        #expect(stat(bed.path("file-a"), &a) == 0)
        #expect((a.st_mtim.tv_sec, a.st_mtim.tv_nsec) >= (d.st_mtim.tv_sec, d.st_mtim.tv_nsec), "file-a was written before the slow command ended")
        #expect(bed.converged())
        #expect((try? FileManager.default.contentsOfDirectory(atPath: bed.state + "/running")) == [])
    }

    @Test func planIsWhatApplyDoes() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let files = bed.files()
        let plan = await bed.wizard(["plan", "--json"])
        #expect(plan.termination == .exited(code: 0))
        #expect(bed.files() == files, "plan changed a file")
        try Data(plan.stdout.text.utf8).write(to: URL(fileURLWithPath: bed.root + "/plan.json"))
        let parsed = try JSONSerialization.jsonObject(with: Data(plan.stdout.text.utf8)) as! [String: Any]
        let planned = Set((parsed["steps"] as! [[String: Any]]).flatMap { step in
            ((step["plan"] as! [String: Any])["changes"] as! [[String: Any]]).map { ($0["target"] as! String).replacingOccurrences(of: "local:", with: "") }
        })
        #expect(planned.count == 3)
        #expect(try bed.mutatingCommands() == 0, "plan ran a mutating command")
        let apply = await bed.wizard(["apply", "--yes", "--plan-file", bed.root + "/plan.json"])
        #expect(apply.termination == .exited(code: 0))
        // The write script's first argument is the file it replaces.
        let written = Set(try CommandLog.read(path: bed.state + "/commands.jsonl").records.filter(\.mutates).map { $0.argv[4] })
        #expect(written == planned)
    }

    @Test func stalePlanIsRefusedBeforeAnyChange() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let plan = await bed.wizard(["plan", "--json"])
        try Data(plan.stdout.text.utf8).write(to: URL(fileURLWithPath: bed.root + "/plan.json"))
        Support.write("someone else changed this\n", to: bed.path("file-a"))
        let files = bed.files()
        let apply = await bed.wizard(["apply", "--yes", "--plan-file", bed.root + "/plan.json"])
        #expect(apply.termination == .exited(code: 5))
        #expect(apply.stderr.text.contains("the plan of file-a changed since it was reviewed"))
        #expect(Support.read(bed.path("file-a")) == "someone else changed this\n")
        #expect(bed.files() == files, "a refused apply changed a file")
        #expect(try bed.mutatingCommands() == 0)
    }

    @Test func damagedJournalIsNotTrustedUntilRepaired() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        #expect(await bed.wizard(["apply", "--yes"]).termination == .exited(code: 0))
        let journal = try #require(try FileManager.default.contentsOfDirectory(atPath: bed.state + "/journal").first)
        let file = bed.state + "/journal/" + journal
        var text = Support.read(file)
        text = text.replacingOccurrences(of: "\"verified\"", with: "\"verifieD\"")
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        let commands = try CommandLog.read(path: bed.state + "/commands.jsonl").records.count
        for args in [["status"], ["apply", "--yes"]] {
            let out = await bed.wizard(args)
            #expect(out.termination == .exited(code: 5), "\(args)")
            #expect(out.stderr.text.contains("journal repair"))
        }
        #expect(try CommandLog.read(path: bed.state + "/commands.jsonl").records.count == commands, "no command ran on a damaged journal")
        let repair = await bed.wizard(["journal", "repair", "--yes"])
        #expect(repair.termination == .exited(code: 0), "\(repair.stderr.text)")
        let resumed = await bed.wizard(["apply", "--yes"])
        #expect(resumed.termination == .exited(code: 0), "\(resumed.stdout.text)\(resumed.stderr.text)")
        #expect(bed.converged())
    }

    @Test func withoutTerminalApplyNeedsYes() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        let files = bed.files()
        let out = await bed.wizard(["apply"])
        #expect(out.termination == .exited(code: 3))
        #expect(bed.files() == files, "an unconfirmed apply changed a file")
        #expect(try bed.mutatingCommands() == 0)
        let unknown = await bed.wizard(["apply", "--only", "file-x"])
        #expect(unknown.termination == .exited(code: 64))
        #expect(unknown.stderr.text.contains("file-a, file-b, file-c"))
    }
}
