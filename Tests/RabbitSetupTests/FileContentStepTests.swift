import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing
import Workflow

/// The conformance suite on the file step, with real files through the real executor.
@Suite struct FileContentStepTests {
    struct FileState: Equatable, Sendable {
        var bytes: [UInt8]?
        var mode: mode_t
        var uid: uid_t
        var gid: gid_t
        var siblings: [String]
    }

    static func snapshot(_ path: String) -> FileState {
        var st = stat()
        let exists = lstat(path, &st) == 0
        let dir = (path as NSString).deletingLastPathComponent
        let siblings = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { !$0.contains(".rabbit-wizard-") }.sorted()
        return FileState(bytes: exists ? FileManager.default.contents(atPath: path).map(Array.init) : nil,
                         mode: exists ? st.st_mode & 0o7777 : 0, uid: exists ? st.st_uid : 0, gid: exists ? st.st_gid : 0,
                         siblings: siblings)
    }

    func contexts(_ root: String) throws -> (StepContext, StepContext, String) {
        let state = try StateDirectory(path: root + "/state")
        let real = try Executor(state: state)
        let dry = try Executor(state: state, dryRun: true)
        return (StepContext(executor: real), StepContext(executor: dry), state.commandLogPath)
    }

    @Test(arguments: [
        ("replace content, CRLF and no final newline", Optional("line1\r\nold\r\nlast"), "line1\r\nnew\r\nlast", "644"),
        ("create a missing file", nil, "fresh\n", "600"),
        ("mode only", Optional("same\n"), "same\n", "600"),
        ("empty file", Optional(""), "x = 1\n", "644"),
    ])
    func conforms(label: String, before: String?, content: String, mode: String) async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let path = root + "/data/file.conf"
        mkdir(root + "/data", 0o755)
        if let before {
            Support.write(before, to: path, mode: 0o640)
            // Owned by someone else: rollback must give it back to them.
            chown(path, 65534, 65534)
        }
        let (context, dry, log) = try contexts(root)
        let step = FileContentStep(id: "file-step", path: path, content: Array(content.utf8), mode: mode)
        let failures = await StepConformance.run(step, context: context, dryRun: dry, logPath: log) { Self.snapshot(path) }
        #expect(failures == [], "\(label)")
    }

    @Test func symlinkIsAnErrorFinding() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        Support.write("x", to: root + "/real")
        symlink(root + "/real", root + "/link")
        let (context, _, _) = try contexts(root)
        let findings = try await FileContentStep(id: "s", path: root + "/link", content: [0x41]).check(context)
        #expect(findings.map(\.name) == ["not-a-regular-file"])
    }

    /// Issue 29: a 5.8 MB file was read through the executor's 4 MiB answer, cut, and its first 3.1 MB
    /// written back with "applied". A file too large to read whole is refused before anything is written;
    /// one that fits is kept byte for byte, through the same read.
    @Test func aFileTooLargeToReadWholeIsRefusedAndOneThatFitsKeepsEveryByte() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        mkdir(root + "/data", 0o755)
        let path = root + "/data/rabbitmq.conf"
        let lines = (0..<100_000).map { "# comment line \($0) padding padding padding padding padding\n" }.joined()
        Support.write(lines, to: path, mode: 0o644)
        #expect(lines.utf8.count > 6_000_000)
        let before = Self.snapshot(path)
        let (context, _, _) = try contexts(root)
        let step = FileContentStep(id: "s", path: path, content: Array((lines + "cluster_partition_handling = autoheal\n").utf8))
        do {
            let plan = try await step.plan(context)
            Issue.record("a file larger than one answer was planned: \(plan.changes.count) change(s)")
        } catch {
            #expect(error.finding == "file-too-large" && error.cause.contains(path) && error.cause.contains("\(lines.utf8.count) bytes")
                    && error.cause.contains("4.0 MiB limit"), "\(error.cause)")
        }
        let unchanged = Self.snapshot(path) == before
        #expect(unchanged, "the file or its folder changed")

        // 2 MB (base64: 2.7 MB, under the 4 MiB answer): read whole and edited without losing a byte.
        let fits = String(lines.prefix(2_000_000))
        Support.write(fits, to: path, mode: 0o644)
        let edit = FileContentStep(id: "s", path: path, content: Array((fits + "cluster_partition_handling = autoheal\n").utf8))
        let plan = try await edit.plan(context)
        _ = try await edit.apply(plan, prepared: try await edit.prepare(plan, context), context)
        let kept = Support.read(path) == fits + "cluster_partition_handling = autoheal\n"
        #expect(kept, "the edited file lost bytes")
    }
}
