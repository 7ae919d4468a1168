import Foundation
import Glibc
import Synchronization
import Testing

@testable import Executor
import TestKit

/// The facade: ids, the command log, events, secrets, dry-run.
@Suite struct ExecutorTests {
    func makeExecutor(dryRun: Bool = false) throws -> (Executor, StateDirectory, String) {
        let root = Support.temporaryDirectory()
        let state = try StateDirectory(path: root + "/state/rabbit-wizard")
        return (try Executor(state: state, dryRun: dryRun), state, root)
    }

    @Test func recordsGoToTheLogWithSafeModes() async throws {
        let (executor, state, root) = try makeExecutor()
        defer { Support.remove(root) }
        let result = await executor.run(CommandSpec(["sh", "-c", "echo hello; exit 7"], timeout: .seconds(10), mutates: true, step: "partition-handling"))
        #expect(result.termination == .exited(code: 7))
        let records = try CommandLog.read(path: state.commandLogPath).records
        #expect(records.count == 1)
        #expect(records.first?.argv == ["sh", "-c", "echo hello; exit 7"])
        #expect(records.first?.step == "partition-handling")
        #expect(records.first?.termination == .exited(code: 7))
        #expect(records.first?.stdoutTail == "hello\n")
        #expect(records.first?.target == "local")
        var st = stat()
        stat(state.path, &st)
        #expect(st.st_mode & 0o777 == 0o700)
        stat(state.commandLogPath, &st)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    /// shutdown ends read-only commands still running (the screen quit while observing) and leaves a
    /// command that changes something to finish; while it runs, that one is listed in STATE/running.
    @Test func shutdownEndsReadOnlyCommandsOnly() async throws {
        let (executor, state, root) = try makeExecutor()
        defer { Support.remove(root) }
        // A duration no other test uses: the wait below looks for this very process (tests run in parallel;
        // another test's `sleep 30` once satisfied it before this command had started).
        let observing = Task { await executor.run(CommandSpec(["sleep", "29.25"], timeout: .seconds(60), mutates: false)) }
        // The changing command ends only once the test says so: it surely runs while shutdown happens.
        let release = root + "/release"
        let changing = Task {
            await executor.run(CommandSpec(["sh", "-c", "while [ ! -e \"$0\" ]; do sleep 0.05; done; echo finished", release],
                                           timeout: .seconds(60), mutates: true))
        }
        let running = state.file("running")
        #expect(await Support.waitUntil(.seconds(10)) { ((try? FileManager.default.contentsOfDirectory(atPath: running)) ?? []).count == 1 })
        #expect(await Support.waitUntil(.seconds(10)) { Support.processes().contains { Support.commandLine($0)?.last == "29.25" && Support.commandLine($0)?.first?.hasSuffix("sleep") == true } })
        await executor.shutdown()
        let ended = await observing.value
        #expect(ended.termination == .signaled(signal: SIGTERM))
        #expect(ended.record.durationSeconds < 20)
        Support.write("", to: release)
        let finished = await changing.value
        #expect(finished.termination == .exited(code: 0) && finished.stdout == "finished\n")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: running)) == [], "the finished command is still listed")
    }

    /// The race behind a fresh-clone failure: on a busy machine the process runs before the executor hears
    /// of it, and shutdown looked in between. A transport that holds the report back until after shutdown
    /// makes that order certain; the command must still be ended (before the fix it ran its full 10 s).
    @Test func shutdownEndsAReadOnlyCommandReportedAfterIt() async throws {
        let gate = StartGate()
        let executor = Executor(commandLog: nil, local: GatedTransport(gate: gate))
        let observing = Task { await executor.run(CommandSpec(["sleep", "10"], timeout: .seconds(60), mutates: false)) }
        #expect(await Support.waitUntil(.seconds(10)) { gate.pid != nil }, "the command did not start")
        await executor.shutdown()
        gate.release()
        let ended = await observing.value
        #expect(ended.termination == .signaled(signal: SIGTERM), "ran \(ended.record.durationSeconds) s")
        // A command that begins after the shutdown runs as usual (the screen observes again after a run).
        let after = Task { await executor.run(CommandSpec(["sh", "-c", "sleep 1; echo after"], timeout: .seconds(60), mutates: false)) }
        #expect(await Support.waitUntil(.seconds(10)) { gate.pid != nil && gate.pid != ended.record.pid })
        gate.release()
        #expect(await after.value.termination == .exited(code: 0))
    }

    @Test func symlinkAtLogPathIsRefused() throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let state = try StateDirectory(path: root + "/state")
        Support.write("victim", to: root + "/victim")
        symlink(root + "/victim", state.commandLogPath)
        #expect(throws: CommandLog.Problem.cannotOpen(state.commandLogPath, errno: ELOOP)) {
            _ = try CommandLog(path: state.commandLogPath)
        }
        #expect(Support.read(root + "/victim") == "victim")
    }

    /// A folder the wizard did not create is never changed: one that others may read is refused (before
    /// the fix it was chmod-ed to 0700), and so are a symlink, system folders and the home folder itself.
    @Test func stateDirectoryThatIsNotPrivateIsRefusedNotChanged() throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        mkdir(root + "/loose", 0o755)
        chmod(root + "/loose", 0o755)
        #expect(throws: StateDirectory.Problem.notPrivate(root + "/loose", mode: 0o755)) { _ = try StateDirectory(path: root + "/loose") }
        #expect(SandboxMode.of(root + "/loose") == 0o755, "the folder's mode was changed")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: root + "/loose")) == [], "something was created inside")
        // A folder the wizard creates is private; its own subfolders too, and an existing one that is not is refused.
        let state = try StateDirectory(path: root + "/new/state")
        #expect(SandboxMode.of(root + "/new") == 0o700 && SandboxMode.of(state.path) == 0o700)
        mkdir(state.file("running"), 0o755)
        chmod(state.file("running"), 0o755)
        #expect(throws: StateDirectory.Problem.notPrivate(state.file("running"), mode: 0o755)) { _ = try state.folder("running") }
        #expect(SandboxMode.of(state.file("running")) == 0o755)
        symlink(root + "/loose", state.file("journal"))
        #expect(throws: StateDirectory.Problem.isSymlink(state.file("journal"))) { _ = try state.folder("journal") }
        symlink(root + "/new/state", root + "/link")
        #expect(throws: StateDirectory.Problem.isSymlink(root + "/link")) { _ = try StateDirectory(path: root + "/link") }
        // System folders by name (the check alone: a regression must not get to chmod this machine's /etc).
        for system in ["/", "/etc", "/etc/ssh", "/usr/local", "/usr/local/lib", "/var", "/tmp", "/tmp/", "/proc/self", "//etc/./", "/tmp/../etc", StateDirectory.home()] {
            #expect(StateDirectory.isSystemFolder(system), "\(system)")
        }
        #expect(!StateDirectory.isSystemFolder("/var/lib/rabbit-wizard") && !StateDirectory.isSystemFolder("/tmp/x"))
        // Through the initializer, on a path that does not exist yet: refused before anything is created.
        let inside = "/etc/rabbit-wizard-test-\(getpid())"
        #expect(throws: StateDirectory.Problem.systemFolder(inside + "/state")) { _ = try StateDirectory(path: inside + "/state") }
        #expect(!FileManager.default.fileExists(atPath: inside))
        Support.remove(inside)
        #expect(StateDirectory.isSystemFolder("/srv/../etc/x/..") && !StateDirectory.isSystemFolder(root + "/new/../new/state"))
    }

    @Test func secretOnStdinIsScrubbedEverywhere() async throws {
        let (executor, state, root) = try makeExecutor()
        defer { Support.remove(root) }
        let canary = Support.canary()
        let seen = Mutex<[String]>([])
        executor.subscribe { event in
            switch event {
            case .started(_, _, _, let argv, _): seen.withLock { $0.append(contentsOf: argv) }
            case .output(_, _, let line): seen.withLock { $0.append(line) }
            case .running: break
            case .finished(let record): seen.withLock { $0.append(String(describing: record)) }
            case .notice(let text): seen.withLock { $0.append(text) }
            }
        }
        // `cat` echoes the secret to stdout and, via sed, to stderr: both must come back scrubbed.
        let result = await executor.run(CommandSpec(
            ["sh", "-c", "cat | tee /dev/stderr"], stdin: .secret(Secret(canary + "\n")), timeout: .seconds(10), mutates: true))
        #expect(result.termination == .exited(code: 0))
        #expect(result.stdout == "<redacted>\n")
        #expect(result.stderr == "<redacted>\n")
        #expect(result.record.stdin == "<secret, \(canary.utf8.count + 1) bytes>")
        let log = Support.read(state.commandLogPath)
        #expect(Support.lacks(log, canary))
        #expect(log.contains("<redacted>"))
        #expect(!seen.withLock { $0 }.joined().contains(canary))
        #expect("\(Secret(canary))" == "<secret, \(canary.utf8.count) bytes>")
        #expect(String(reflecting: Secret(canary)) == "<secret, \(canary.utf8.count) bytes>")
        var dumped = ""
        dump(Secret(canary), to: &dumped)
        #expect(Support.lacks(dumped, canary))
    }

    @Test func secretStdoutIsReturnedAsSecretOnly() async throws {
        let (executor, state, root) = try makeExecutor()
        defer { Support.remove(root) }
        let canary = Support.canary()
        Support.write(canary, to: root + "/cookie", mode: 0o400)
        let result = await executor.run(CommandSpec(["cat", root + "/cookie"], timeout: .seconds(10), mutates: false, stdoutIsSecret: true))
        #expect(result.stdout == "")
        #expect(result.secretStdout?.withBytes { String(decoding: $0, as: UTF8.self) } == canary)
        #expect(Support.lacks(Support.read(state.commandLogPath), canary))
    }

    /// An answer longer than the capture limit says so in the result (not only in a log line): its head is
    /// kept, `wholeStdout` is nil, and the limit and the real size are named; a secret answer likewise.
    @Test func aCutAnswerSaysSo() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let executor = Executor(commandLog: try CommandLog(path: root + "/commands.jsonl"), limits: OutputLimits(capture: 1024))
        let cut = await executor.run(CommandSpec(["head", "-c", "5000", "/dev/zero"], timeout: .seconds(10), mutates: false))
        #expect(cut.succeeded && cut.stdoutTruncated && cut.wholeStdout == nil)
        #expect(cut.stdout.utf8.count <= 1024 && cut.captureLimit == 1024 && cut.record.stdoutBytes == 5000)
        let secret = await executor.run(CommandSpec(["head", "-c", "5000", "/dev/zero"], timeout: .seconds(10), mutates: false, stdoutIsSecret: true))
        #expect(secret.stdoutTruncated && (secret.secretStdout?.withBytes(\.count) ?? 0) <= 1024)
        let whole = await executor.run(CommandSpec(["head", "-c", "1000", "/dev/zero"], timeout: .seconds(10), mutates: false))
        #expect(!whole.stdoutTruncated && whole.wholeStdout?.utf8.count == 1000)
    }

    @Test func registeredSecretIsScrubbedFromLaterCommands() async throws {
        let (executor, state, root) = try makeExecutor()
        defer { Support.remove(root) }
        let canary = Support.canary()
        executor.register(secret: Secret(canary))
        let result = await executor.run(CommandSpec(["echo", "x", canary], timeout: .seconds(10), mutates: false))
        #expect(result.stdout == "x <redacted>\n")
        #expect(result.record.argv == ["echo", "x", "<redacted>"])
        #expect(Support.lacks(Support.read(state.commandLogPath), canary))
    }

    @Test func dryRunRunsOnlyReadOnlyCommandsAndLogsBoth() async throws {
        let (executor, state, root) = try makeExecutor(dryRun: true)
        defer { Support.remove(root) }
        let marker = root + "/created"
        let mutating = await executor.run(CommandSpec(["touch", marker], timeout: .seconds(10), mutates: true))
        let readOnly = await executor.run(CommandSpec(["echo", "looked"], timeout: .seconds(10), mutates: false))
        #expect(mutating.termination == .notRun(reason: "dry run"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(readOnly.stdout == "looked\n")
        #expect(try CommandLog.read(path: state.commandLogPath).records.map(\.termination) == [.notRun(reason: "dry run"), .exited(code: 0)])
    }

    @Test func eventsArriveInOrderWithOneId() async throws {
        let (executor, _, root) = try makeExecutor()
        defer { Support.remove(root) }
        let events = Mutex<[String]>([])
        executor.subscribe { event in
            switch event {
            case .started(let id, _, _, _, _): events.withLock { $0.append("start \(id)") }
            case .running(let id, _): events.withLock { $0.append("running \(id)") }
            case .output(let id, let s, let l): events.withLock { $0.append("\(s) \(id) \(l)") }
            case .finished(let r): events.withLock { $0.append("end \(r.id)") }
            case .notice(let text): events.withLock { $0.append("notice \(text)") }
            }
        }
        let result = await executor.run(CommandSpec(["sh", "-c", "echo a; echo b"], timeout: .seconds(10), mutates: false))
        let id = result.record.id
        #expect(events.withLock { $0 } == ["start \(id)", "running \(id)", "stdout \(id) a", "stdout \(id) b", "end \(id)"])
    }

    @Test func tornLastLineOfTheLogIsSkipped() async throws {
        let (executor, state, root) = try makeExecutor()
        defer { Support.remove(root) }
        _ = await executor.run(CommandSpec(["true"], timeout: .seconds(10), mutates: false))
        let fd = open(state.commandLogPath, O_WRONLY | O_APPEND)
        _ = "{\"argv\":[\"tru".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        #expect(try CommandLog.read(path: state.commandLogPath).records.count == 1)
    }

    /// Start times are written with milliseconds (requests take milliseconds); a log written before, with
    /// whole seconds, still reads.
    @Test func startTimesHaveMillisecondsAndOldLogsStillRead() async throws {
        let (executor, state, root) = try makeExecutor()
        defer { Support.remove(root) }
        let before = Date()
        let r = await executor.run(CommandSpec(["true"], timeout: .seconds(10), mutates: false))
        let line = Support.read(state.commandLogPath)
        let written = try #require(line.firstMatch(of: /"started":"([0-9T:.Z-]+)"/)?.1)
        #expect(written.contains("."), "\(written)")
        let old = #"{"argv":["true"],"durationSeconds":0.01,"id":"x-1","mutates":false,"started":"2026-11-30T04:59:35Z","#
            + #""stderrBytes":0,"stderrTail":"","stdoutBytes":0,"stdoutTail":"","target":"local","termination":{"exited":{"code":0}}}"#
        Support.write(line + old + "\n", to: state.commandLogPath)
        let records = try CommandLog.read(path: state.commandLogPath).records
        #expect(records.count == 2)
        #expect(abs(records[0].started.timeIntervalSince(r.record.started)) < 0.002 && records[0].started >= before.addingTimeInterval(-0.002))
        #expect(records[1].started == Date(timeIntervalSince1970: 1_796_014_775))
    }
}

/// Holds back a started command's report to the executor until ``release()``.
final class StartGate: Sendable {
    private let held = Mutex<(pid: Int32, report: @Sendable (Int32) -> Void)?>(nil)
    var pid: Int32? { held.withLock { $0?.pid } }
    func hold(_ pid: Int32, _ report: @escaping @Sendable (Int32) -> Void) { held.withLock { $0 = (pid, report) } }
    func release() { if let (pid, report) = held.withLock({ $0 }) { report(pid) } }
}

/// The real local transport, with the start report going through a ``StartGate``.
struct GatedTransport: Transport {
    let gate: StartGate
    func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
             onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
    {
        await LocalTransport().run(spec, limits: limits, redactor: redactor, onStart: { gate.hold($0, onStart) }, onLine: onLine)
    }
}

/// Permission bits of a path, for the tests above.
enum SandboxMode {
    static func of(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }
}
