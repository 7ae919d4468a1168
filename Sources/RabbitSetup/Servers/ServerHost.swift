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

    /// Kind, mode, owner, hash and (with `bytes`) the content. Read-only.
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

    /// Runs a program named by a profile or a load balancer kind (argv as data).
    func run(_ argv: [String], timeout: Duration, mutates: Bool) async -> CommandResult
    /// Whether `name` is installed (found on the server's search path).
    func hasProgram(_ name: String) async -> Bool
    /// A file's content as a secret (scrubbed from every output, never logged), or nil if unreadable.
    func readSecret(_ path: String) async -> Secret?
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
    /// The bytes, when they were asked for (never for secret files).
    public var bytes: [UInt8]?
}

extension CommandResult {
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
