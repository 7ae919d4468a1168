import Glibc
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs commands on this machine with swift-subprocess: argv only, each child in its own session and
/// process group (so ssh cannot prompt on our terminal and a terminal Ctrl-C does not reach it), stdin
/// a pipe that is closed once the input is written, output streamed line by line.
///
/// The deadline runs on the continuous (monotonic) clock. When it passes, the whole process group gets
/// SIGTERM, then SIGKILL after ``OutputLimits/killGrace``. When the child exits, reading stops even if
/// a grandchild still holds the pipes open (swift-subprocess cancels the pending reads).
public struct LocalTransport: Transport {
    public init() {
        // A child that exits before reading all of its stdin must not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
    }

    public func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
                    onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
    {
        guard let program = spec.argv.first, !program.isEmpty else {
            return TransportOutcome(termination: .couldNotStart(reason: "empty argv"))
        }
        if spec.argv.contains(where: { $0.utf8.contains(0) }) {
            return TransportOutcome(termination: .couldNotStart(reason: "an argument contains a NUL byte"))
        }
        var environment = Environment.inherit
        if !spec.environment.isEmpty {
            var updates: [Environment.Key: String?] = [:]
            for (name, value) in spec.environment {
                guard let key = Environment.Key(rawValue: name), !name.contains("=") else {
                    return TransportOutcome(termination: .couldNotStart(reason: "bad environment variable name \(name)"))
                }
                updates[key] = value
            }
            environment = environment.updating(updates)
        }
        let options = LocalTransport.platformOptions(killGrace: limits.killGrace)
        let executable = LocalTransport.executable(program)
        let stdinBytes: [UInt8]? =
            switch spec.stdin {
            case .none: nil
            case .bytes(let b): b
            case .secret(let s): s.withBytes { $0 }
            }

        let watch = ProcessWatch()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: spec.timeout)
        let secretStdout = spec.stdoutIsSecret

        do {
            let result = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Task.sleep(until: deadline, clock: clock)
                    await watch.expire(grace: limits.killGrace)
                }
                let outcome = try await Subprocess.run(
                    executable,
                    arguments: Arguments(Array(spec.argv.dropFirst())),
                    environment: environment,
                    workingDirectory: spec.workingDirectory.map { FilePath($0) },
                    platformOptions: options,
                    input: .inputWriter,
                    output: .sequence,
                    error: .sequence
                ) { execution in
                    watch.started(pid: execution.processIdentifier.value)
                    onStart(execution.processIdentifier.value)
                    async let out = LocalTransport.collect(
                        execution.standardOutput, kind: .stdout, redactor: redactor, limits: limits,
                        secret: secretStdout, onLine: onLine)
                    async let err = LocalTransport.collect(
                        execution.standardError, kind: .stderr, redactor: redactor, limits: limits,
                        secret: false, onLine: onLine)
                    if let stdinBytes, !stdinBytes.isEmpty {
                        _ = try? await execution.standardInputWriter.write(stdinBytes)
                    }
                    try? await execution.standardInputWriter.finish()
                    return await (out, err)
                }
                watch.finished()
                // After an expiry the deadline task still has to make sure the group is gone.
                if watch.expiredAt == nil { group.cancelAll() }
                return outcome
            }
            let (out, err) = result.closureResult
            let termination: Termination
            if let expiredAfter = watch.expiredAt.map({ _ in spec.timeout }) {
                termination = .timedOut(seconds: expiredAfter.seconds)
            } else {
                switch result.terminationStatus {
                case .exited(let code): termination = .exited(code: code)
                case .signaled(let signal): termination = .signaled(signal: signal)
                }
            }
            return TransportOutcome(
                termination: termination, pid: result.processIdentifier.value,
                stdout: out.captured, stderr: err.captured,
                secretStdout: secretStdout ? Secret(bytes: out.head) : nil)
        } catch {
            return TransportOutcome(termination: .couldNotStart(reason: LocalTransport.describe(error, program: program, spec: spec)))
        }
    }

    /// Each child in its own session and process group; on cancellation TERM to the group, then KILL.
    static func platformOptions(killGrace: Duration) -> PlatformOptions {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [
            .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: killGrace),
            .send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(200)),
        ]
        return options
    }

    /// A path when the program names one, else looked up on the search path.
    static func executable(_ program: String) -> Executable { program.contains("/") ? .path(FilePath(program)) : .name(program) }

    struct Collected: Sendable {
        var captured: CapturedStream
        var head: [UInt8]
    }

    static func collect(_ sequence: SubprocessOutputSequence, kind: OutputStreamKind, redactor: Redactor,
                        limits: OutputLimits, secret: Bool,
                        onLine: @Sendable (OutputStreamKind, String) -> Void) async -> Collected
    {
        var collector = OutputCollector(redactor: redactor, headLimit: limits.capture, tailLimit: limits.logTail, secret: secret)
        do {
            for try await buffer in sequence {
                buffer.withUnsafeBytes { raw in collector.append(raw) { onLine(kind, $0) } }
            }
        } catch {
            // Reading was cancelled (the child exited while a grandchild holds the pipe) or failed:
            // what was read so far is kept.
        }
        collector.finish { onLine(kind, $0) }
        let captured = CapturedStream(
            text: secret ? "" : collector.headText, truncated: collector.headTruncated,
            tail: secret ? "" : collector.tailText, totalBytes: collector.totalBytes)
        return Collected(captured: captured, head: secret ? collector.head : [])
    }

    static func describe(_ error: any Error, program: String, spec: CommandSpec) -> String {
        if let e = error as? SubprocessError {
            switch e.code {
            case .executableNotFound: return "executable not found: \(program)"
            case .failedToChangeWorkingDirectory:
                return "cannot change to working directory \(spec.workingDirectory ?? "?")"
            default: break
            }
            if let underlying = e.underlyingError {
                return "\(program): \(String(cString: strerror(underlying.rawValue)))"
            }
        }
        return "\(program): \(error)"
    }
}

/// Shared between the command's body and its deadline: the pid to signal and whether it still runs.
final class ProcessWatch: Sendable {
    private struct State {
        var pid: pid_t?
        var done = false
        var expiredAt: ContinuousClock.Instant?
    }
    private let state = Mutex(State())

    func started(pid: pid_t) { state.withLock { $0.pid = pid } }
    func finished() { state.withLock { $0.done = true } }
    var expiredAt: ContinuousClock.Instant? { state.withLock { $0.expiredAt } }

    /// TERM to the process group, then KILL to whatever of the group is left after `grace`; returns
    /// once the group is empty (or after a further second, for a member stuck in the kernel).
    func expire(grace: Duration) async {
        // Under load the body may not have reported the pid yet: the deadline still holds once it does.
        while state.withLock({ $0.pid == nil && !$0.done }) {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { return }
        }
        guard let pid = mark() else { return }
        kill(-pid, SIGTERM)
        if await ProcessWatch.waitUntilGone(group: pid, within: grace) { return }
        kill(-pid, SIGKILL)
        _ = await ProcessWatch.waitUntilGone(group: pid, within: .seconds(1))
    }

    static func waitUntilGone(group pid: pid_t, within limit: Duration) async -> Bool {
        let end = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < end {
            if kill(-pid, 0) != 0 && errno == ESRCH { return true }
            do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
        }
        return kill(-pid, 0) != 0 && errno == ESRCH
    }

    private func mark() -> pid_t? {
        state.withLock { s in
            guard let pid = s.pid, !s.done else { return nil }
            s.expiredAt = .now
            return pid
        }
    }
}
