import Foundation
import Glibc
import Synchronization
import Testing

@testable import Executor
import TestKit

/// Real processes through the local transport.
@Suite struct LocalTransportTests {
    @Test(arguments: [0, 1, 3, 42, 255])
    func exitCodesAreData(code: Int32) async {
        let out = await Support.run(["sh", "-c", "exit \(code)"])
        #expect(out.termination == .exited(code: code))
    }

    @Test func signalIsReportedAsSignal() async {
        let out = await Support.run(["sh", "-c", "kill -KILL $$"])
        #expect(out.termination == .signaled(signal: SIGKILL))
    }

    @Test func stdoutAndStderrAreSeparate() async {
        let out = await Support.run(["sh", "-c", "echo out; echo err >&2"])
        #expect(out.stdout.text == "out\n")
        #expect(out.stderr.text == "err\n")
    }

    @Test func timeoutKillsTheWholeProcessGroup() async {
        // The child and two grandchildren; one grandchild ignores TERM, so KILL must follow.
        let out = await Support.run(
            ["sh", "-c", "sleep 300 & (trap '' TERM; sleep 300) & wait"], timeout: .seconds(1))
        guard case .timedOut = out.termination else {
            Issue.record("expected a time-out, got \(out.termination)")
            return
        }
        let pid = try! #require(out.pid)
        #expect(Support.members(ofProcessGroup: pid).isEmpty, "process group \(pid) still has members")
    }

    @Test func grandchildHoldingStdoutDoesNotBlock() async {
        // The grandchild keeps stdout open for 120 s; the command itself exits at once.
        let out = await Support.run(["sh", "-c", "sleep 120 & echo done"], timeout: .seconds(60))
        #expect(out.termination == .exited(code: 0))
        #expect(out.stdout.text == "done\n")
        let pid = try! #require(out.pid)
        // The grandchild is left alone (a daemon started by a command must survive); clean it up here.
        for member in Support.members(ofProcessGroup: pid) { kill(member, SIGKILL) }
    }

    @Test func fiftyMegabytesStayBounded() async {
        let limits = OutputLimits(capture: 1 << 20, logTail: 4096)
        let lines = Mutex(0)
        let out = await LocalTransport().run(
            CommandSpec(["sh", "-c", "head -c 52428800 /dev/zero | tr '\\0' 'x' | fold -w 99"], timeout: .seconds(120), mutates: false),
            limits: limits, redactor: Redactor(secrets: [])
        ) { _, _ in lines.withLock { $0 += 1 } }
        #expect(out.termination == .exited(code: 0))
        // fold ends the last, shorter line without a newline.
        #expect(out.stdout.totalBytes == 52_428_800 + 52_428_800 / 99)
        #expect(out.stdout.truncated)
        #expect(out.stdout.text.utf8.count <= 1 << 20)
        #expect(out.stdout.tail.utf8.count <= 4096)
        #expect(lines.withLock { $0 } == 52_428_800 / 99 + 1)
        // What stays bounded is asserted above; the memory this costs is measured by make bench.
    }

    @Test func invalidUTF8IsReplacedNotFatal() async {
        let lines = Mutex<[String]>([])
        let out = await LocalTransport().run(
            CommandSpec(["printf", "ok\\377\\376end\\n"], mutates: false), limits: OutputLimits(), redactor: Redactor(secrets: [])
        ) { _, line in lines.withLock { $0.append(line) } }
        #expect(out.termination == .exited(code: 0))
        #expect(out.stdout.totalBytes == 8)
        #expect(lines.withLock { $0 } == ["ok\u{FFFD}\u{FFFD}end"])
    }

    @Test func missingExecutableCannotStart() async {
        let out = await Support.run(["/nonexistent/rabbitmqctl", "status"])
        #expect(out.termination == .couldNotStart(reason: "executable not found: /nonexistent/rabbitmqctl"))
        let byName = await Support.run(["no-such-program-xyz"])
        guard case .couldNotStart = byName.termination else {
            Issue.record("expected couldNotStart, got \(byName.termination)")
            return
        }
    }

    @Test func stdinIsDeliveredExactly() async {
        let dir = Support.temporaryDirectory()
        defer { Support.remove(dir) }
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        _ = FileManager.default.createFile(atPath: dir + "/expected", contents: Data(payload))
        let same = await Support.run(["cmp", "-", dir + "/expected"], stdin: .bytes(payload))
        #expect(same.termination == .exited(code: 0))
        var changed = payload
        changed[123_456] ^= 1
        let differs = await Support.run(["cmp", "-", dir + "/expected"], stdin: .bytes(changed))
        #expect(differs.termination == .exited(code: 1))
    }

    @Test func commandThatIgnoresStdinStillFinishes() async {
        let out = await Support.run(["true"], stdin: .bytes(Array(repeating: 0x41, count: 1 << 20)))
        #expect(out.termination == .exited(code: 0))
    }

    @Test func environmentAndWorkingDirectory() async {
        let dir = Support.temporaryDirectory()
        defer { Support.remove(dir) }
        let out = await LocalTransport().run(
            CommandSpec(["sh", "-c", "pwd; echo \"$RW_TEST\""], environment: ["RW_TEST": "a b$c"], workingDirectory: dir, mutates: false),
            limits: OutputLimits(), redactor: Redactor(secrets: [])) { _, _ in }
        #expect(out.stdout.text == "\(dir)\na b$c\n")
        let bad = await LocalTransport().run(
            CommandSpec(["true"], workingDirectory: dir + "/missing", mutates: false),
            limits: OutputLimits(), redactor: Redactor(secrets: [])) { _, _ in }
        guard case .couldNotStart = bad.termination else {
            Issue.record("expected couldNotStart for a missing working directory, got \(bad.termination)")
            return
        }
    }

    @Test func linesStreamInOrderPerStream() async {
        let lines = Mutex<[String]>([])
        _ = await LocalTransport().run(
            CommandSpec(["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; printf tail"], mutates: false),
            limits: OutputLimits(), redactor: Redactor(secrets: [])
        ) { stream, line in if stream == .stdout { lines.withLock { $0.append(line) } } }
        #expect(lines.withLock { $0 } == ["line1", "line2", "line3", "line4", "line5", "tail"])
    }
}
