import Executor
import Foundation
import Workflow

/// A Windows server reached over OpenSSH for Windows: the ``ServerHost`` the steps use, as calls of the
/// PowerShell dialect's fixed library (``PowerShellLibrary``), each argument a verbatim literal, each
/// content and secret on stdin. Nothing of a path, a value or a secret is ever script text or on a command
/// line.
///
/// Files are replaced through a temp file in the same folder written through to disk, `File.Replace` (or
/// `File.Move` for a new file), with a backup first when asked (bytes, access list and ReadOnly kept).
/// Modes, as the steps pass them, become access lists (see ``PowerShellLibrary``): `600`/`400` private
/// (SYSTEM, Administrators and the login user, who runs the CLI; `400` also ReadOnly, as Erlang's own
/// cookie), anything else the folder's inherited access. The `owner` of ``write(_:_:mode:owner:backup:)``
/// has no meaning here: a file belongs to whoever wrote it, and the access list decides who may read it.
///
/// Programs (the RabbitMQ CLI) start through `ProcessStartInfo`; a `.bat` gets
/// plain words only, or the command is refused before anything is sent (cmd.exe would read the rest).
/// Not run against a real Windows server yet: see the README's Windows section for what was checked how.
public struct WindowsHost: ServerHost {
    public let executor: Executor
    public let target: Target
    public let step: StepID?
    public var timeout: Duration = .seconds(30)

    public init(executor: Executor, target: Target, step: StepID?) {
        self.executor = executor
        self.target = target
        self.step = step
    }

    /// One call of the library or of ``RabbitPowerShell``'s module (which every call carries).
    func call(_ function: String, _ args: [String], stdin: CommandSpec.Input = .none, timeout: Duration? = nil, mutates: Bool,
              stdoutIsSecret: Bool = false) async -> CommandResult
    {
        await executor.run(CommandSpec([function] + args, on: target, stdin: stdin, timeout: timeout ?? self.timeout, mutates: mutates,
                                       step: step, stdoutIsSecret: stdoutIsSecret, powershellModule: RabbitPowerShell.module))
    }

    /// What `Observe-File` answers: one JSON object.
    struct Seen: Decodable {
        var kind: FileObservation.Kind
        var mode: String?
        var owner: String?
        var size: Int?
        var sha256: String?
        var bytes: String?
        var tooLarge: Bool?
    }

    public func observe(_ path: String, bytes: Bool) async throws(StepFailure) -> FileObservation {
        let limit = executor.limits.capture
        let r = await call("Observe-File", [path, String(FileObservation.readableBytes(captureLimit: limit)), bytes ? "bytes" : "hash"], mutates: false)
        let out = try r.whole(doing: "read \(path)", on: target)
        guard let line = out.split(whereSeparator: \.isNewline).first,
              let seen = try? JSONDecoder().decode(Seen.self, from: Data(line.utf8))
        else { throw StepFailure("unexpected answer reading \(path) on \(target)") }
        var observed = FileObservation(kind: seen.kind, mode: seen.mode, owner: seen.owner, group: nil, sha256: seen.sha256, size: seen.size)
        if bytes && seen.kind == .regular {
            if seen.tooLarge == true { throw .fileTooLarge(path, size: seen.size ?? 0, on: target, captureLimit: limit) }
            guard let b = seen.bytes.flatMap({ Data(base64Encoded: $0) }) else { throw StepFailure("could not read the content of \(path) on \(target)") }
            observed.bytes = try observed.checkedContent(Array(b), path: path, on: target)
        }
        return observed
    }

    @discardableResult
    public func write(_ path: String, _ content: FileContent, mode: String, owner: String, backup: String?) async throws(StepFailure) -> String {
        let input: CommandSpec.Input = switch content {
        case .bytes(let b): .bytes(b)
        case .secret(let s): .secret(s)
        }
        let r = await call("Write-FileAtomic", [path, mode, backup ?? ""], stdin: input, mutates: true)
        return try r.whole(doing: "write \(path)", on: target).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func restore(_ path: String, from backup: String) async throws(StepFailure) {
        try await call("Restore-File", [path, backup], mutates: true).require(doing: "restore \(path) from \(backup)", on: target)
    }

    public func remove(_ path: String) async throws(StepFailure) {
        try await call("Remove-File", [path], mutates: true).require(doing: "remove \(path)", on: target)
    }

    public func swap(_ path: String, expected: String?, _ change: SwapChange) async throws(StepFailure) -> SwapAnswer {
        let input: CommandSpec.Input = if case .put(let bytes) = change { .bytes(bytes) } else { .none }
        let r = await call("Swap-File", [path, expected ?? "absent", change.word], stdin: input, mutates: false)
        let out = try r.whole(doing: "\(change.word) \(path)", on: target)
        guard let answer = SwapAnswer.parse(out) else { throw StepFailure("unexpected answer using \(path) on \(target)") }
        return answer
    }

    public func list(_ patterns: [KeptPattern]) async throws(StepFailure) -> [KeptFile] {
        guard !patterns.isEmpty else { return [] }
        let r = await call("Find-Files", patterns.flatMap { [$0.prefix, $0.suffix] }, mutates: false)
        return KeptFile.listed(try r.whole(doing: "list the wizard's backups", on: target), matching: patterns)
    }

    public func prune(_ paths: [String]) async throws(StepFailure) {
        guard !paths.isEmpty else { return }
        try await call("Remove-Files", paths, mutates: true).require(doing: "remove old backups", on: target)
    }

    // MARK: Programs, secrets, logs, network

    public func run(_ argv: [String], timeout: Duration, mutates: Bool) async -> CommandResult {
        await executor.run(CommandSpec(argv, on: target, timeout: timeout, mutates: mutates, step: step))
    }

    /// ``RabbitPowerShell``'s `Stop-RabbitProcess`: `Stop-Process -Id PID -Force`, which ends the process
    /// with TerminateProcess (no `rabbit:stop_and_halt()`, unlike a service stop).
    public func kill(process pid: String) async -> CommandResult {
        await call(RabbitPowerShell.stopProcess, [pid], timeout: .seconds(30), mutates: true)
    }

    /// ``RabbitPowerShell``'s `Set-RabbitService`: the service is read, moved only if it is not in the wanted state already
    /// (`Start-Service` / `Stop-Service`), and read again; the second look decides.
    public func service(_ goal: ServiceGoal, _ profile: PlatformProfile) async -> ServiceChange {
        let r = await call(RabbitPowerShell.service, [profile.serviceName, goal.rawValue], timeout: .seconds(goal == .running ? 180 : 120), mutates: true)
        struct Answer: Decodable {
            var before: ServiceSeen
            var after: ServiceSeen
            var said: String?
        }
        let answer = r.wholeStdout?.split(whereSeparator: \.isNewline).first.flatMap { try? JSONDecoder().decode(Answer.self, from: Data($0.utf8)) }
        return ServiceChange(result: r, reached: r.succeeded && (answer.map { $0.after.state == goal.windowsState } ?? true),
                             before: answer?.before, after: answer?.after, said: answer?.said ?? "")
    }

    public func hasProgram(_ name: String) async -> Bool {
        await call("Find-Program", [name], timeout: .seconds(60), mutates: false).succeeded
    }

    public func readSecret(_ path: String) async throws(StepFailure) -> Secret {
        try await call("Read-Secret", [path], mutates: false, stdoutIsSecret: true).wholeSecret(doing: "read \(path)", on: target)
    }

    /// A log's end, for people: `bytes` is far below the capture limit, so nothing is cut.
    public func tail(_ path: String, bytes: Int) async -> String? {
        let r = await call("Read-Tail", [path, String(bytes)], mutates: false)
        return r.succeeded ? r.stdout : nil
    }

    public func probe(_ endpoints: [String], amqp: Bool) async -> Set<String>? {
        let r = await call("Test-Ports", [amqp ? "amqp" : "tcp"] + endpoints, timeout: .seconds(60), mutates: false)
        return r.succeeded ? r.wholeStdout.map(PosixPortProbe.answered) : nil
    }

    // MARK: The RabbitMQ CLI

    /// `rabbitmqctl.bat` as the login user, only when that user's cookie exists (exit
    /// ``RabbitNode/noCookieStatus`` otherwise). `privateFiles` has no effect here: what the CLI writes
    /// takes the access of the folder it writes into (the profile's backup folder).
    public func rabbitCLI(_ cli: [String], cookieFile: String, args: [String], stdin: CommandSpec.Input, secrets: [Secret],
                          privateFiles: Bool, timeout: Duration, mutates: Bool) async -> CommandResult
    {
        await executor.run(CommandSpec([PowerShellLibrary.cookieGuard, cookieFile, String(RabbitNode.noCookieStatus)] + cli + args, on: target, stdin: stdin,
                                       timeout: timeout, mutates: mutates, step: step, secrets: secrets))
    }

    /// The same guard for a node connection's VM. Windows servers take no long-lived channel yet (the
    /// dialect frames stdin once), so a connection to one ends at once and every read uses the CLI.
    public func rabbitVM(_ erl: [String], cookieFile: String, args: [String]) -> CommandSpec {
        CommandSpec([PowerShellLibrary.cookieGuard, cookieFile, String(RabbitNode.noCookieStatus)] + erl + args, on: target, timeout: .seconds(3600),
                    mutates: false, step: step)
    }
}
