import Executor
import Foundation
import Workflow

/// A POSIX server (Debian, the sandbox): the ``ServerHost`` the steps use, as fixed `sh` scripts that
/// take every path and value as arguments (`sh -c SCRIPT rabbit-wizard ARGS`): nothing is ever spliced
/// into a command string. Everything the steps used to write as shell text lives here.
///
/// Writes are atomic (temp file in the same directory with the final mode and owner, fsync, rename, fsync
/// of the directory) and take a backup first when asked; on any error the temp file is removed and the
/// original is untouched. Contents travel on stdin, so a secret never reaches argv.
public struct PosixHost: ServerHost {
    public let executor: Executor
    public let target: Target
    public let step: StepID?
    public var timeout: Duration = .seconds(30)

    public init(executor: Executor, target: Target, step: StepID?) {
        self.executor = executor
        self.target = target
        self.step = step
    }

    static let observeScript = """
        p=$1; want=$2
        if [ -L "$p" ]; then echo symlink; exit 0; fi
        if [ ! -e "$p" ]; then echo missing; exit 0; fi
        if [ ! -f "$p" ]; then echo other; exit 0; fi
        stat -c 'regular %a %U %G' -- "$p" || exit 1
        sha256sum -- "$p" | cut -d' ' -f1 || exit 1
        if [ "$want" = bytes ]; then base64 -w0 -- "$p" || exit 1; echo; fi
        """

    static let writeScript = """
        set -eu
        p=$1; mode=$2; owner=$3; backup=$4
        d=$(dirname -- "$p"); b=$(basename -- "$p")
        tmp=$(mktemp -- "$d/.$b.rabbit-wizard.XXXXXX")
        trap 'rm -f -- "$tmp"' EXIT HUP INT TERM
        cat > "$tmp"
        chmod -- "$mode" "$tmp"
        if [ -n "$owner" ]; then chown -- "$owner" "$tmp"; fi
        sync -- "$tmp"
        if [ -n "$backup" ] && [ -e "$p" ] && [ ! -e "$backup" ]; then
            cp -p -- "$p" "$backup.tmp"; sync -- "$backup.tmp"; mv -f -- "$backup.tmp" "$backup"
        fi
        mv -f -- "$tmp" "$p"
        trap - EXIT HUP INT TERM
        sync -- "$d"
        sha256sum -- "$p" | cut -d' ' -f1
        """

    static let restoreScript = """
        set -eu
        p=$1; backup=$2
        if [ ! -f "$backup" ]; then echo "the backup $backup is missing" >&2; exit 3; fi
        d=$(dirname -- "$p"); b=$(basename -- "$p")
        tmp=$(mktemp -- "$d/.$b.rabbit-wizard.XXXXXX")
        trap 'rm -f -- "$tmp"' EXIT HUP INT TERM
        cp -p -- "$backup" "$tmp"
        sync -- "$tmp"
        mv -f -- "$tmp" "$p"
        trap - EXIT HUP INT TERM
        sync -- "$d"
        """

    static let removeScript = """
        set -eu
        rm -f -- "$1"
        sync -- "$(dirname -- "$1")"
        """

    static let listScript = """
        set -u
        while [ $# -ge 2 ]; do
            for f in "$1"*"$2"; do
                if [ -f "$f" ] && [ ! -L "$f" ]; then printf '%s\\t%s\\n' "$(stat -c %s -- "$f")" "$f"; fi
            done
            shift 2
        done
        """

    static let pruneScript = """
        set -eu
        rm -f -- "$@"
        for f in "$@"; do sync -- "$(dirname -- "$f")"; done
        """

    private func script(_ text: String, _ args: [String], stdin: CommandSpec.Input = .none, mutates: Bool) async -> CommandResult {
        await executor.run(CommandSpec(["sh", "-c", text, "rabbit-wizard"] + args, on: target, stdin: stdin,
                                       timeout: timeout, mutates: mutates, step: step?.rawValue))
    }

    /// Kind, mode, owner, hash and (with `bytes`) the content. Read-only.
    public func observe(_ path: String, bytes: Bool) async throws(StepFailure) -> FileObservation {
        let r = await script(PosixHost.observeScript, [path, bytes ? "bytes" : "hash"], mutates: false)
        try r.require(doing: "read \(path)", on: target)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first else { throw StepFailure("no answer reading \(path) on \(target)", retryable: true) }
        switch first {
        case "missing": return FileObservation(kind: .missing)
        case "symlink": return FileObservation(kind: .symlink)
        case "other": return FileObservation(kind: .other)
        default:
            let f = first.split(separator: " ").map(String.init)
            guard f.count == 4, lines.count >= 2 else { throw StepFailure("unexpected answer reading \(path) on \(target)") }
            var content: [UInt8]?
            if bytes {
                guard lines.count >= 3, let data = Data(base64Encoded: lines[2]) else {
                    throw StepFailure("could not read the content of \(path) on \(target)")
                }
                content = Array(data)
            }
            return FileObservation(kind: .regular, mode: f[1], owner: f[2], group: f[3], sha256: lines[1], bytes: content)
        }
    }

    /// Replaces `path` atomically with `content`, mode `mode` (octal text), owner `owner` (`user:group`,
    /// empty to keep the writer's). With `backup`, the current file is first copied there (once: an
    /// existing backup is kept, it is the older state). Returns the SHA-256 of the new file.
    @discardableResult
    public func write(_ path: String, _ content: FileContent, mode: String, owner: String, backup: String?) async throws(StepFailure) -> String {
        let input: CommandSpec.Input = switch content {
        case .bytes(let b): .bytes(b)
        case .secret(let s): .secret(s)
        }
        let r = await script(PosixHost.writeScript, [path, mode, owner, backup ?? ""], stdin: input, mutates: true)
        try r.require(doing: "write \(path)", on: target)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Puts the backup back in place atomically (bytes, mode and owner as they were).
    public func restore(_ path: String, from backup: String) async throws(StepFailure) {
        let r = await script(PosixHost.restoreScript, [path, backup], mutates: true)
        try r.require(doing: "restore \(path) from \(backup)", on: target)
    }

    public func remove(_ path: String) async throws(StepFailure) {
        let r = await script(PosixHost.removeScript, [path], mutates: true)
        try r.require(doing: "remove \(path)", on: target)
    }

    public func list(_ patterns: [KeptPattern]) async throws(StepFailure) -> [KeptFile] {
        guard !patterns.isEmpty else { return [] }
        let r = await script(PosixHost.listScript, patterns.flatMap { [$0.prefix, $0.suffix] }, mutates: false)
        try r.require(doing: "list the wizard's backups", on: target)
        return KeptFile.listed(r.stdout, matching: patterns)
    }

    public func prune(_ paths: [String]) async throws(StepFailure) {
        guard !paths.isEmpty else { return }
        let r = await script(PosixHost.pruneScript, paths, mutates: true)
        try r.require(doing: "remove old backups", on: target)
    }

    // MARK: Programs, secrets, logs, network

    public func run(_ argv: [String], timeout: Duration, mutates: Bool) async -> CommandResult {
        await executor.run(CommandSpec(argv, on: target, timeout: timeout, mutates: mutates, step: step?.rawValue))
    }

    public func hasProgram(_ name: String) async -> Bool {
        await executor.run(CommandSpec(["sh", "-c", "command -v \"$1\"", "sh", name], on: target, timeout: .seconds(60), mutates: false,
                                       step: step?.rawValue)).succeeded
    }

    public func readSecret(_ path: String) async -> Secret? {
        let r = await executor.run(CommandSpec(["cat", "--", path], on: target, timeout: .seconds(30), mutates: false, step: step?.rawValue,
                                               stdoutIsSecret: true))
        return r.succeeded ? r.secretStdout : nil
    }

    public func tail(_ path: String, bytes: Int) async -> String? {
        let r = await executor.run(CommandSpec(["tail", "-c", String(bytes), "--", path], on: target, timeout: .seconds(30), mutates: false,
                                               step: step?.rawValue))
        return r.succeeded ? r.stdout : nil
    }

    public func probe(_ endpoints: [String], amqp: Bool) async -> Set<String>? {
        let r = await executor.run(CommandSpec(PosixPortProbe.argv(amqp: amqp, endpoints), on: target, timeout: .seconds(60), mutates: false,
                                               step: step?.rawValue))
        return r.succeeded ? PosixPortProbe.answered(r.stdout) : nil
    }

    // MARK: The RabbitMQ CLI

    /// The CLI's Erlang VM writes a new random cookie when its user has none, so the CLI runs only when
    /// the cookie file exists (otherwise exit ``RabbitNode/noCookieStatus``). With `privateFiles` the
    /// files it writes are made 0600 (`umask 077`).
    public func rabbitCLI(_ cli: [String], cookieFile: String, args: [String], stdin: CommandSpec.Input, secrets: [Secret],
                          privateFiles: Bool, timeout: Duration, mutates: Bool) async -> CommandResult
    {
        let guardScript = (privateFiles ? "umask 077; " : "")
            + "[ -f \"$1\" ] || { echo \"rabbit-wizard: no Erlang cookie at $1\" >&2; exit \(RabbitNode.noCookieStatus); }; shift; exec \"$@\""
        let argv = ["sh", "-c", guardScript, "rabbit-wizard", cookieFile] + cli + args
        return await executor.run(CommandSpec(argv, on: target, stdin: stdin, timeout: timeout, mutates: mutates, step: step?.rawValue,
                                              secrets: secrets))
    }

    /// The long-lived Erlang VM of a node connection, guarded like ``rabbitCLI(_:cookieFile:args:stdin:secrets:privateFiles:timeout:mutates:)``:
    /// it starts only when the cookie file exists (an Erlang VM without one writes a new random cookie).
    public func rabbitVM(_ erl: [String], cookieFile: String, args: [String]) -> CommandSpec {
        let guardScript = "[ -f \"$1\" ] || { echo \"rabbit-wizard: no Erlang cookie at $1\" >&2; exit \(RabbitNode.noCookieStatus); }; shift; exec \"$@\""
        return CommandSpec(["sh", "-c", guardScript, "rabbit-wizard", cookieFile] + erl + args, on: target, timeout: .seconds(3600),
                           mutates: false, step: step?.rawValue)
    }
}

extension ConnectionFailure {
    /// Worth retrying after a pause (the host may come back); key and authentication problems are not.
    var isTransient: Bool {
        switch self {
        case .unreachable, .lost: true
        case .hostKeyUnknown, .hostKeyChanged, .authenticationFailed: false
        }
    }
}
