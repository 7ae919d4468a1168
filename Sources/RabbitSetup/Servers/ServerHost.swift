import Executor
import Foundation
import Workflow

/// Everything a step asks of a server, whatever the server's operating system: observe and replace
/// files (atomically, with a backup and the owner kept), run a program the profile names, read a secret
/// file, probe TCP ports from there, and run the RabbitMQ CLI. Steps build no command text: a profile
/// (data) chooses the implementation through ``HostFamily``, and each implementation holds the commands
/// of its platform (``PosixHost``, ``WindowsHost``).
public protocol ServerHost: Sendable {
    var target: Target { get }

    /// Kind, mode, owner, size, hash and (with `bytes`) the content, whole: a file larger than
    /// ``FileObservation/readableBytes(captureLimit:)`` is refused (finding `file-too-large`) and its content
    /// never read in part. Read-only.
    func observe(_ path: String, bytes: Bool) async throws(StepFailure) -> FileObservation
    /// Replaces `path` atomically with `content`, mode `mode` (octal text), owner `owner` (`user:group`,
    /// empty to keep the writer's). With `backup`, the current file is first copied there (once: an
    /// existing backup is kept, it is the older state). Returns the SHA-256 of the new file.
    @discardableResult
    func write(_ path: String, _ content: FileContent, mode: String, owner: String, backup: String?) async throws(StepFailure) -> String
    /// Puts the backup back in place atomically (bytes, mode and owner as they were).
    func restore(_ path: String, from backup: String) async throws(StepFailure)
    func remove(_ path: String) async throws(StepFailure)
    /// Regular files (not symlinks) whose path starts with a pattern's prefix and ends with its suffix,
    /// with their size. Read-only.
    func list(_ patterns: [KeptPattern]) async throws(StepFailure) -> [KeptFile]
    /// Removes these files (the wizard's own old backups), all in one command.
    func prune(_ paths: [String]) async throws(StepFailure)

    /// A compare-and-swap of a small file of the wizard's own (the cluster lock), atomic against every other
    /// call of it on this server: when the file's SHA-256 is `expected` (nil: when there is no file),
    /// `change` is made (written atomically and private, or removed); in any case what was there is
    /// returned, with its age by the server's own clock. Not a change the plan shows: it runs as a read
    /// (``CommandSpec/mutates`` false), so it does not count as a change to what the steps observe.
    func swap(_ path: String, expected: String?, _ change: SwapChange) async throws(StepFailure) -> SwapAnswer

    /// Brings the RabbitMQ service (as `profile` names it) to `goal`, judged by what the service shows,
    /// not by a command's exit: a service already there is left alone. Returns what was done and, where the
    /// platform can tell, what was seen before and after.
    func service(_ goal: ServiceGoal, _ profile: PlatformProfile) async -> ServiceChange
    /// Ends process `pid` at once, without letting it clean up (a crash, for the failover drill's `hard`
    /// mode): `kill -KILL` on POSIX, `Stop-Process -Force` (TerminateProcess) on Windows.
    func kill(process pid: String) async -> CommandResult

    /// Runs a program named by a profile or a load balancer kind (argv as data).
    func run(_ argv: [String], timeout: Duration, mutates: Bool) async -> CommandResult
    /// Whether `name` is installed (found on the server's search path).
    func hasProgram(_ name: String) async -> Bool
    /// A file's content, whole, as a secret (scrubbed from every output, never logged); a file that is
    /// missing, cannot be read or does not fit the executor's capture limit is a failure saying which.
    func readSecret(_ path: String) async throws(StepFailure) -> Secret
    /// The last `bytes` of a text file (a log), or nil if unreadable.
    func tail(_ path: String, bytes: Int) async -> String?
    /// Which `HOST:PORT` endpoints answer from this server within 3 s each (with `amqp`, answer the
    /// AMQP 0-9-1 protocol header with Connection.Start); nil when the probe itself could not run.
    func probe(_ endpoints: [String], amqp: Bool) async -> Set<String>?

    /// `cli + args` as the CLI's user, only when that user's cookie file exists (a CLI without one writes
    /// a new random cookie): otherwise exit ``RabbitNode/noCookieStatus``.
    func rabbitCLI(_ cli: [String], cookieFile: String, args: [String], stdin: CommandSpec.Input, secrets: [Secret],
                   privateFiles: Bool, timeout: Duration, mutates: Bool) async -> CommandResult
    /// How to start `erl + args` as the CLI's user for a node connection (``NodeConnection``), only
    /// when that user's cookie file exists, as ``rabbitCLI(_:cookieFile:args:stdin:secrets:privateFiles:timeout:mutates:)``.
    func rabbitVM(_ erl: [String], cookieFile: String, args: [String]) -> CommandSpec
}

extension ServerHost {
    public func observe(_ path: String) async throws(StepFailure) -> FileObservation { try await observe(path, bytes: false) }
}

/// The state a step wants a node's service in.
public enum ServiceGoal: String, Sendable {
    case running, stopped
}

/// What ``ServerHost/service(_:_:)`` did.
public struct ServiceChange: Sendable {
    public var result: CommandResult
    /// The service is in the wanted state now (by what was seen where the platform shows it).
    public var reached: Bool
    /// Windows: the service as it was seen before and after, and what Windows said when asked to move it.
    public var before: ServiceSeen?
    public var after: ServiceSeen?
    public var said: String = ""
}

/// A Windows service as `Win32_Service` shows it.
public struct ServiceSeen: Sendable, Codable, Equatable {
    public var exists: Bool
    /// `Running`, `Stopped`, `Start Pending`, ...
    public var state: String?
    /// `Auto`, `Manual`, `Disabled`.
    public var startMode: String?
    public var account: String?
    public var path: String?
}

/// What ``ServerHost/swap(_:expected:_:)`` does when the file is as expected.
public enum SwapChange: Sendable, Equatable {
    /// Nothing: a read.
    case none
    case put([UInt8])
    case remove

    var word: String {
        switch self {
        case .none: "read"
        case .put: "put"
        case .remove: "remove"
        }
    }
}

/// What ``ServerHost/swap(_:expected:_:)`` found, and whether it made the change.
public struct SwapAnswer: Sendable, Equatable {
    /// The file's content and hash before the call (nil: there was none).
    public var found: [UInt8]?
    public var foundHash: String?
    /// Seconds since the file was last written, by the server's clock.
    public var ageSeconds: Int?
    /// Whether the change was made (never for ``SwapChange/none``).
    public var changed: Bool
    /// The new file's hash after a put.
    public var hash: String?

    public init(found: [UInt8]?, foundHash: String?, ageSeconds: Int?, changed: Bool, hash: String?) {
        self.found = found
        self.foundHash = foundHash
        self.ageSeconds = ageSeconds
        self.changed = changed
        self.hash = hash
    }

    /// Parses the answer both hosts give: `found HASH AGE` and the content in base64 on the next line, or
    /// `absent` and an empty line; then `kept`, `removed` or `put HASH`.
    static func parse(_ text: String) -> SwapAnswer? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.count >= 3 else { return nil }
        var answer = SwapAnswer(found: nil, foundHash: nil, ageSeconds: nil, changed: false, hash: nil)
        let head = lines[0].split(separator: " ").map(String.init)
        if head.first == "found", head.count == 3, let age = Int(head[2]), let data = Data(base64Encoded: lines[1]) {
            answer.foundHash = head[1]
            answer.ageSeconds = max(age, 0)
            answer.found = Array(data)
        } else if head != ["absent"] {
            return nil
        }
        let end = lines[2].split(separator: " ").map(String.init)
        switch end.first {
        case "kept": break
        case "removed": answer.changed = true
        case "put" where end.count == 2:
            answer.changed = true
            answer.hash = end[1]
        default: return nil
        }
        return answer
    }
}

/// What a file is to hold: bytes, or a secret that travels only on stdin.
public enum FileContent: Sendable {
    case bytes([UInt8])
    case secret(Secret)
}

/// Which implementation of ``ServerHost`` a profile's servers get.
public enum HostFamily: String, Sendable, Codable {
    case posix
    /// Windows Server with OpenSSH for Windows (``WindowsHost``).
    case windows

    /// What such servers' login shells speak over ssh.
    public var dialect: RemoteDialect {
        switch self {
        case .posix: .posix
        case .windows: .powershell
        }
    }

    public func host(executor: Executor, target: Target, step: StepID?) -> any ServerHost {
        switch self {
        case .posix: PosixHost(executor: executor, target: target.speaking(dialect), step: step)
        case .windows: WindowsHost(executor: executor, target: target.speaking(dialect), step: step)
        }
    }
}

/// What a managed file looks like now, observed read-only.
public struct FileObservation: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case missing, regular, symlink, other

        /// "a symlink", "a directory or another special file", for people.
        public var words: String {
            switch self {
            case .missing: "missing"
            case .regular: "a regular file"
            case .symlink: "a symlink"
            case .other: "a directory or another special file"
            }
        }
    }
    public var kind: Kind
    /// Octal permission bits (`644`), owner and group names.
    public var mode: String?
    public var owner: String?
    public var group: String?
    public var sha256: String?
    /// Bytes, for a regular file (nil where the server did not say).
    public var size: Int?
    /// The bytes, when they were asked for (never for secret files).
    public var bytes: [UInt8]?

    public init(kind: Kind, mode: String? = nil, owner: String? = nil, group: String? = nil, sha256: String? = nil, size: Int? = nil,
                bytes: [UInt8]? = nil)
    {
        self.kind = kind
        self.mode = mode
        self.owner = owner
        self.group = group
        self.sha256 = sha256
        self.size = size
        self.bytes = bytes
    }

    /// The largest file whose content fits in one answer under `captureLimit`: the content travels
    /// base64-encoded (4 bytes for 3) after a short head of kind, mode, owner and hash.
    public static func readableBytes(captureLimit: Int) -> Int { max(captureLimit - 4096, 0) / 4 * 3 }

    /// The content read with `observe(_, bytes: true)` checked against the size the server gave: a file
    /// that changed while it was read is not taken for what it is now.
    func checkedContent(_ content: [UInt8], path: String, on target: Target) throws(StepFailure) -> [UInt8] {
        if let size, size != content.count {
            throw StepFailure("\(path) on \(target) changed while it was read (\(content.count) bytes read, \(size) bytes when it was looked at)",
                              fix: "run again once nothing else writes it", retryable: true)
        }
        return content
    }
}

extension StepFailure {
    /// A file whose content does not fit one answer: refused whole, before anything is written.
    static func fileTooLarge(_ path: String, size: Int, on target: Target, captureLimit: Int) -> StepFailure {
        StepFailure("\(path) on \(target) is \(Bytes.words(size)) (\(size) bytes); the wizard reads and edits files of at most "
                    + "\(Bytes.words(FileObservation.readableBytes(captureLimit: captureLimit))) whole (its \(Bytes.words(captureLimit)) limit on one "
                    + "command's output, base64-encoded), and never edits a file it could read only in part: nothing was changed",
                    fix: "remove what the file does not need (RabbitMQ's own files are a few KiB), or make the change by hand", finding: "file-too-large")
    }

    /// An answer the executor's capture limit cut: never used as the whole.
    static func answerCut(_ r: CommandResult, doing what: String, on target: Target) -> StepFailure {
        StepFailure("the answer when trying to \(what) on \(target) was \(Bytes.words(r.record.stdoutBytes)), more than the \(Bytes.words(r.captureLimit)) "
                    + "the wizard keeps of one command's output: it is never used in part, and nothing was changed because of it",
                    fix: "see 'rabbit-wizard log' for the command; make what it reads smaller", finding: "answer-too-large")
    }
}

extension CommandResult {
    /// Stdout of a command that succeeded, every byte of it: a failure, or an answer the capture limit cut,
    /// is a ``StepFailure``.
    func whole(doing what: String, on target: Target) throws(StepFailure) -> String {
        try require(doing: what, on: target)
        guard let out = wholeStdout else { throw .answerCut(self, doing: what, on: target) }
        return out
    }

    /// The secret stdout of a command that succeeded, every byte of it.
    func wholeSecret(doing what: String, on target: Target) throws(StepFailure) -> Secret {
        try require(doing: what, on: target)
        if stdoutTruncated { throw .answerCut(self, doing: what, on: target) }
        guard let secretStdout else { throw StepFailure("no answer when trying to \(what) on \(target)", retryable: true) }
        return secretStdout
    }

    /// Turns a failed command into a ``StepFailure`` with the cause in words.
    func require(doing what: String, on target: Target) throws(StepFailure) {
        switch termination {
        case .exited(0): return
        case .exited(let code):
            let detail = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw StepFailure("could not \(what) on \(target) (exit \(code))\(detail.isEmpty ? "" : ": \(detail)")")
        case .timedOut:
            throw StepFailure("timed out trying to \(what) on \(target)", retryable: true, outcomeUnknown: true)
        case .connectionFailed(let f):
            throw StepFailure("could not \(what): \(target) \(f)", retryable: !f.commandMayHaveRun && f.isTransient,
                              outcomeUnknown: f.commandMayHaveRun)
        case .notRun:
            throw StepFailure("dry run: did not \(what) on \(target)")
        default:
            throw StepFailure("could not \(what) on \(target): \(termination)")
        }
    }
}

extension KeptFile {
    /// The files of a listing (`SIZE<tab>PATH` lines) that match one of `patterns`.
    static func listed(_ stdout: String, matching patterns: [KeptPattern]) -> [KeptFile] {
        stdout.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let bytes = Int(parts[0]) else { return nil }
            let file = KeptFile(path: String(parts[1]), bytes: bytes)
            return patterns.contains { $0.matches(file.path) } ? file : nil
        }
    }
}
