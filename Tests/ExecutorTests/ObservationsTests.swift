import Executor
import Foundation
import Glibc
import TestKit
import Testing

/// ``Observations``: within one run, a read asked again is answered as before while nothing changed,
/// where reuse is allowed; real processes (each read appends a line to a file, so a read that really ran
/// is counted there).
struct ObservationsTests {
    /// A read-only command that counts how often it really ran: appends to `file`, prints the count.
    static func counting(_ file: String, _ extra: String = "") -> CommandSpec {
        CommandSpec(["sh", "-c", "echo . >> \"$0\"; wc -l < \"$0\"", file, extra], mutates: false)
    }

    static func ran(_ file: String) -> Int { Support.read(file).split(separator: "\n").count }

    @Test func aReadIsAskedAgainOnlyAfterAChangeOrWhereReuseIsNotAllowed() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let state = try StateDirectory(path: root + "/state")
        let executor = try Executor(state: state)
        let file = root + "/count"
        let cache = try await Observations.run(reusing: true) { () async throws -> Observations in
            let first = await executor.run(Self.counting(file))
            let second = await executor.run(Self.counting(file))
            #expect(first.stdout == "1\n" && second.stdout == "1\n" && Self.ran(file) == 1, "the second read ran: \(second.stdout)")
            // Another question (other arguments) is asked.
            _ = await executor.run(Self.counting(file, "other"))
            #expect(Self.ran(file) == 2)
            // Where reuse is not allowed (a verification) it is asked, and its answer serves later reads.
            let fresh = await Observations.$reusing.withValue(false) { await executor.run(Self.counting(file)) }
            #expect(fresh.stdout == "3\n")
            #expect(await executor.run(Self.counting(file)).stdout == "3\n")
            // A command that changes something (even one that fails) ends every earlier answer.
            _ = await executor.run(CommandSpec(["false"], mutates: true))
            #expect(await executor.run(Self.counting(file)).stdout == "4\n")
            #expect(await executor.run(Self.counting(file)).stdout == "4\n" && Self.ran(file) == 4)
            return try #require(Observations.current)
        }
        #expect(cache.reuseCount == 3)
        // Reused answers are not records: only what really ran is in the command log.
        let reads = try CommandLog.read(path: state.commandLogPath).records.filter { $0.argv.first == "sh" }
        #expect(reads.count == 4, "\(reads.map(\.argv))")
        // A new run starts empty.
        await Observations.run(reusing: true) { _ = await executor.run(Self.counting(file)) }
        #expect(Self.ran(file) == 5)
        // Outside a run nothing is kept.
        _ = await executor.run(Self.counting(file))
        _ = await executor.run(Self.counting(file))
        #expect(Self.ran(file) == 7)
    }

    /// A read that overlapped a change, one that timed out, and one with a secret on stdin are not kept;
    /// a request answer is kept like a command's result, a missing answer is not.
    @Test func onlyCleanAnswersAskedWhileNothingChangedAreKept() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let state = try StateDirectory(path: root + "/state")
        let executor = try Executor(state: state)
        let file = root + "/count", gate = root + "/gate"
        try await Observations.run(reusing: true) {
            // A change runs while the read runs: the read's answer is not kept.
            async let change = executor.run(CommandSpec(["sh", "-c", "while [ ! -e \"$0\" ]; do sleep 0.05; done", gate], mutates: true))
            #expect(await Support.waitUntil(.seconds(20)) { executor.changeMark == nil })
            _ = await executor.run(Self.counting(file))
            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            _ = await change
            _ = await executor.run(Self.counting(file))
            #expect(Self.ran(file) == 2, "a read made during a change was reused")

            // No answer in time: asked again. Counted by its records, not by what it wrote: on a busy machine a
            // 300 ms deadline can end it before it writes anything (it did, once: 3 lines for 4).
            let slow = CommandSpec(["sh", "-c", "sleep 5", "slow-read"], timeout: .milliseconds(300), mutates: false)
            _ = await executor.run(slow)
            _ = await executor.run(slow)
            let slowRecords = try CommandLog.read(path: state.commandLogPath).records.filter { $0.argv == slow.argv }
            #expect(slowRecords.count == 2 && slowRecords.allSatisfy { if case .timedOut = $0.termination { true } else { false } }, "\(slowRecords.map(\.termination))")
            #expect(Self.ran(file) == 2)

            // A secret on stdin: never a key, asked each time.
            var secretRead = Self.counting(file)
            secretRead.stdin = .secret(Secret("canary-not-kept"))
            _ = await executor.run(secretRead)
            _ = await executor.run(secretRead)
            #expect(Self.ran(file) == 4)

            // Request answers: kept when there is one.
            var asked = 0
            for _ in 0..<2 { _ = await executor.observing("node x: question") { asked += 1; return "answer" } }
            #expect(asked == 1)
            for _ in 0..<2 { _ = await executor.observing("node x: unanswered") { asked += 1; return nil } }
            #expect(asked == 3)
        }
    }
}
