import Executor
import Foundation
import Glibc
import Testing

/// Three test steps on real files (`RABBIT_WIZARD_TEST_STEPS`: `file-a` edits a file, `file-b` creates
/// one, `file-c` changes a mode) that stand in for a topology: the engine through the real binary without
/// servers. Used by the fast layer's CLI tests and by the screen and full-disk scenarios.
public struct FileStepsBed: Sendable {
    public let root: String
    public var state: String { root + "/state" }
    public var env: [String: String] { ["RABBIT_WIZARD_TEST_STEPS": root + "/steps.json"] }
    /// What every file must hold at the end of a complete run.
    public let expected: [String: (String, String)]

    public init() {
        root = Support.temporaryDirectory()
        mkdir(root + "/etc", 0o755)
        Support.write("# managed by hand\nold = 1\n", to: root + "/etc/a.conf", mode: 0o644)
        Support.write("mode only\n", to: root + "/etc/c.conf", mode: 0o644)
        expected = [
            "file-a": ("# managed by hand\nnew = 2\n", "644"),
            "file-b": ("created\n", "600"),
            "file-c": ("mode only\n", "640"),
        ]
        let steps = ["file-a", "file-b", "file-c"].map { id -> [String: String] in
            ["id": id, "path": "\(root)/etc/\(id.dropFirst(5)).conf", "content": expected[id]!.0, "mode": expected[id]!.1]
        }
        _ = FileManager.default.createFile(atPath: root + "/steps.json", contents: try! JSONSerialization.data(withJSONObject: steps))
    }

    public func path(_ id: String) -> String { "\(root)/etc/\(id.dropFirst(5)).conf" }

    public func wizard(_ args: [String], extraEnv: [String: String] = [:]) async -> TransportOutcome {
        await Support.run([Support.productBinary] + args + ["--state-dir", state], timeout: .seconds(60),
                          environment: env.merging(extraEnv) { $1 })
    }

    /// Every file holds exactly the expected bytes and mode.
    public func converged() -> Bool {
        expected.allSatisfy { id, want in
            var st = stat()
            guard stat(path(id), &st) == 0 else { return false }
            return Support.read(path(id)) == want.0 && String(st.st_mode & 0o777, radix: 8) == want.1
        }
    }

    /// Starts `apply --yes` in the background, stopped (SIGSTOP) at `point`; returns its pid once stopped.
    public func applyPaused(at point: String, output: String) async throws -> Int32 {
        let started = await Support.run(
            ["sh", "-c", "\"$@\" > \"$0\" 2>&1 & echo $!", output, Support.productBinary, "apply", "--yes", "--state-dir", state],
            environment: env.merging(["RABBIT_WIZARD_PAUSE_AT": point]) { $1 })
        let pid = try #require(Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let paused = await Support.waitUntil(.seconds(20)) {
            (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") T ") == true
        }
        #expect(paused, "apply did not reach its pause point \(point)")
        return pid
    }

    /// Runs `exec -- argv` (a command that changes something), kills the wizard with SIGKILL while it is
    /// stopped at `command-running` (its command runs and is listed; its own time-out cannot fire while
    /// it is stopped), and returns the command's pid (its process group).
    public func execKilled(_ argv: [String], timeout: Int) async throws -> Int32 {
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: state + "/running")) ?? [])
        let started = await Support.run(
            ["sh", "-c", "\"$@\" >/dev/null 2>&1 & echo $!", "sh", Support.productBinary, "exec", "--state-dir", state,
             "--timeout", String(timeout), "--"] + argv, environment: ["RABBIT_WIZARD_PAUSE_AT": "command-running"])
        let wizard = try #require(Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await Support.waitUntil(.seconds(20)) {
            (try? String(contentsOfFile: "/proc/\(wizard)/stat", encoding: .utf8))?.contains(") T ") == true
        }, "exec did not reach command-running")
        // Listed means recorded under the final name (a `.partial` is not yet a record).
        let listed = Set((try? FileManager.default.contentsOfDirectory(atPath: state + "/running")) ?? []).subtracting(before)
            .first { $0.hasSuffix(".json") }
        #expect(listed != nil, "the command was not listed")
        kill(wizard, SIGKILL)
        #expect(await Support.waitUntil(.seconds(10)) { Support.hasEnded(wizard) })
        return try #require(listed.flatMap { Int32($0.prefix { $0 != "." }) })
    }

    /// Mutating commands in the product's log; a log that cannot be read is an error, never 0.
    public func mutatingCommands() throws -> Int {
        try CommandLog.read(path: state + "/commands.jsonl").records.filter(\.mutates).count
    }

    /// The managed files as the servers have them: bytes, mode and modification time (a rewrite with
    /// the same bytes shows too). What "nothing changed" is checked against, not the product's own log.
    public func files() -> [String] {
        expected.keys.sorted().map { id in
            var st = stat()
            guard stat(path(id), &st) == 0 else { return "\(id) missing" }
            return "\(id) \(Support.read(path(id)).debugDescription) \(String(st.st_mode & 0o777, radix: 8)) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        }
    }
}
