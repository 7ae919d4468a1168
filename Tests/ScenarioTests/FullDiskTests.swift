import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing
import Workflow

/// A full disk, made with a 64 KiB tmpfs (mounting one needs root, so these are scenarios): the command log
/// and journal never hold half a record, and a file step's failed write leaves the original.
@Suite struct FullDiskTests {
    /// A full disk under the state directory (a 64 KiB tmpfs): a command log record is written whole or not
    /// at all, the run that could not write one stops at the next safe point and fails saying so (it went on,
    /// exited 0, left a cut-off record and said it only on stderr's log line), `log` reads what is there and
    /// names a damaged line, and a journal that cannot even take its header leaves no empty file.
    @Test func aFullDiskNeverLeavesAHalfRecordAndFailsTheRun() async throws {
        let bed = FileStepsBed()
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

    @Test func aFailedFileWriteLeavesTheOriginalAndNoTempFile() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        // A 64 KiB tmpfs: the new content does not fit, like a full disk.
        let mountPoint = try await Support.smallDisk(in: root)
        defer { _ = umount2(mountPoint, 0) }
        Support.write("original\n", to: mountPoint + "/file.conf")
        let context = StepContext(executor: try Executor(state: try StateDirectory(path: root + "/state")))
        let big = [UInt8](repeating: 0x61, count: 200_000)
        let step = FileContentStep(id: "s", path: mountPoint + "/file.conf", content: big)
        let plan = try await step.plan(context)
        let undo = try await step.prepare(plan, context)
        await #expect(throws: StepFailure.self) { _ = try await step.apply(plan, prepared: undo, context) }
        #expect(Support.read(mountPoint + "/file.conf") == "original\n")
        let left = try FileManager.default.contentsOfDirectory(atPath: mountPoint).filter { $0.contains(".rabbit-wizard.") }
        #expect(left == [], "temp files left behind")
    }
}
