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

    /// `PATH MAX WANT`: the kind; for a regular file `regular MODE USER GROUP SIZE` and its hash, and with
    /// WANT `bytes` its content in base64 on one line, or `too-large` when it has more than MAX bytes.
    static let observeScript = """
        p=$1; max=$2; want=$3
        if [ -L "$p" ]; then echo symlink; exit 0; fi
        if [ ! -e "$p" ]; then echo missing; exit 0; fi
        if [ ! -f "$p" ]; then echo other; exit 0; fi
        info=$(stat -c '%a %U %G %s' -- "$p") || exit 1
        echo "regular $info"
        sha256sum -- "$p" | cut -d' ' -f1 || exit 1
        if [ "$want" = bytes ]; then
            if [ "${info##* }" -gt "$max" ]; then echo too-large; else base64 -w0 -- "$p" || exit 1; echo; fi
        fi
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

    /// `PATH EXPECTED CHANGE` (``ServerHost/swap(_:expected:_:)``), under `flock` on the file's folder, so
    /// that no other swap on this server runs between its look and its change.
    static let swapScript = """
        set -eu
        p=$1; expect=$2; change=$3
        d=$(dirname -- "$p")
        exec 9<"$d"
        flock -w 10 9 || { echo "another rabbit-wizard's lock operation has held $d for over 10 s" >&2; exit 75; }
        if [ -L "$p" ] || { [ -e "$p" ] && [ ! -f "$p" ]; }; then echo "$p is not a regular file" >&2; exit 3; fi
        if [ -f "$p" ]; then
            have=$(sha256sum -- "$p" | cut -d' ' -f1)
            echo "found $have $(( $(date +%s) - $(stat -c %Y -- "$p") ))"
            base64 -w0 -- "$p"; echo
        else
            have=absent
            printf 'absent\n\n'
        fi
        if [ "$change" = read ] || [ "$have" != "$expect" ]; then echo kept; exit 0; fi
        if [ "$change" = remove ]; then rm -f -- "$p"; sync -- "$d"; echo removed; exit 0; fi
        tmp=$(mktemp -- "$d/.rabbit-wizard-lock.XXXXXX")
        trap 'rm -f -- "$tmp"' EXIT HUP INT TERM
        cat > "$tmp"
        chmod 600 "$tmp"
        sync -- "$tmp"
        mv -f -- "$tmp" "$p"
        trap - EXIT HUP INT TERM
        sync -- "$d"
        echo "put $(sha256sum -- "$p" | cut -d' ' -f1)"
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
                                       timeout: timeout, mutates: mutates, step: step))
    }

    /// Kind, mode, owner, size, hash and (with `bytes`) the content, whole. Read-only.
    public func observe(_ path: String, bytes: Bool) async throws(StepFailure) -> FileObservation {
        let limit = executor.limits.capture
        let r = await script(PosixHost.observeScript, [path, String(FileObservation.readableBytes(captureLimit: limit)), bytes ? "bytes" : "hash"],
                             mutates: false)
        let out = try r.whole(doing: "read \(path)", on: target)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first else { throw StepFailure("no answer reading \(path) on \(target)", retryable: true) }
        switch first {
        case "missing": return FileObservation(kind: .missing)
        case "symlink": return FileObservation(kind: .symlink)
        case "other": return FileObservation(kind: .other)
        default:
            let f = first.split(separator: " ").map(String.init)
            guard f.count >= 4, f[0] == "regular", lines.count >= 2 else { throw StepFailure("unexpected answer reading \(path) on \(target)") }
            var seen = FileObservation(kind: .regular, mode: f[1], owner: f[2], group: f[3], sha256: lines[1], size: f.count > 4 ? Int(f[4]) : nil)
            if bytes {
                if lines.count >= 3 && lines[2] == "too-large" {
                    throw .fileTooLarge(path, size: seen.size ?? 0, on: target, captureLimit: limit)
                }
                guard lines.count >= 3, let data = Data(base64Encoded: lines[2]) else {
                    throw StepFailure("could not read the content of \(path) on \(target)")
                }
                seen.bytes = try seen.checkedContent(Array(data), path: path, on: target)
            }
            return seen
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
        return try r.whole(doing: "write \(path)", on: target).trimmingCharacters(in: .whitespacesAndNewlines)
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

    public func swap(_ path: String, expected: String?, _ change: SwapChange) async throws(StepFailure) -> SwapAnswer {
        let input: CommandSpec.Input = if case .put(let bytes) = change { .bytes(bytes) } else { .none }
        let r = await script(PosixHost.swapScript, [path, expected ?? "absent", change.word], stdin: input, mutates: false)
        let out = try r.whole(doing: "\(change.word) \(path)", on: target)
        guard let answer = SwapAnswer.parse(out) else { throw StepFailure("unexpected answer using \(path) on \(target)") }
        return answer
    }

    public func list(_ patterns: [KeptPattern]) async throws(StepFailure) -> [KeptFile] {
        guard !patterns.isEmpty else { return [] }
        let r = await script(PosixHost.listScript, patterns.flatMap { [$0.prefix, $0.suffix] }, mutates: false)
        return KeptFile.listed(try r.whole(doing: "list the wizard's backups", on: target), matching: patterns)
    }

    public func prune(_ paths: [String]) async throws(StepFailure) {
        guard !paths.isEmpty else { return }
        let r = await script(PosixHost.pruneScript, paths, mutates: true)
        try r.require(doing: "remove old backups", on: target)
    }

    // MARK: Programs, secrets, logs, network

    public func run(_ argv: [String], timeout: Duration, mutates: Bool) async -> CommandResult {
        await executor.run(CommandSpec(argv, on: target, timeout: timeout, mutates: mutates, step: step))
    }

    /// The profile's own start or stop command (`service` and the sandbox's scripts leave a service that
    /// is already there as it is).
    public func service(_ goal: ServiceGoal, _ profile: PlatformProfile) async -> ServiceChange {
        let r = await run(goal == .running ? profile.start : profile.stop, timeout: .seconds(goal == .running ? 180 : 120), mutates: true)
        return ServiceChange(result: r, reached: r.succeeded)
    }

    public func kill(process pid: String) async -> CommandResult {
        await run(["kill", "-KILL", "--", pid], timeout: .seconds(30), mutates: true)
    }

    public func hasProgram(_ name: String) async -> Bool {
        await executor.run(CommandSpec(["sh", "-c", "command -v \"$1\"", "sh", name], on: target, timeout: .seconds(60), mutates: false,
                                       step: step)).succeeded
    }

    public func readSecret(_ path: String) async throws(StepFailure) -> Secret {
        let r = await executor.run(CommandSpec(["cat", "--", path], on: target, timeout: .seconds(30), mutates: false, step: step,
                                               stdoutIsSecret: true))
        return try r.wholeSecret(doing: "read \(path)", on: target)
    }

    /// A log's end, for people: `bytes` is far below the capture limit, so nothing is cut.
    public func tail(_ path: String, bytes: Int) async -> String? {
        let r = await executor.run(CommandSpec(["tail", "-c", String(bytes), "--", path], on: target, timeout: .seconds(30), mutates: false,
                                               step: step))
        return r.succeeded ? r.stdout : nil
    }

    public func probe(_ endpoints: [String], amqp: Bool) async -> Set<String>? {
        let r = await executor.run(CommandSpec(PosixPortProbe.argv(amqp: amqp, endpoints), on: target, timeout: .seconds(60), mutates: false,
                                               step: step))
        return r.succeeded ? r.wholeStdout.map(PosixPortProbe.answered) : nil
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
        return await executor.run(CommandSpec(argv, on: target, stdin: stdin, timeout: timeout, mutates: mutates, step: step,
                                              secrets: secrets))
    }

    /// The long-lived Erlang VM of a node connection, guarded like ``rabbitCLI(_:cookieFile:args:stdin:secrets:privateFiles:timeout:mutates:)``:
    /// it starts only when the cookie file exists (an Erlang VM without one writes a new random cookie).
    public func rabbitVM(_ erl: [String], cookieFile: String, args: [String]) -> CommandSpec {
        let guardScript = "[ -f \"$1\" ] || { echo \"rabbit-wizard: no Erlang cookie at $1\" >&2; exit \(RabbitNode.noCookieStatus); }; shift; exec \"$@\""
        return CommandSpec(["sh", "-c", guardScript, "rabbit-wizard", cookieFile] + erl + args, on: target, timeout: .seconds(3600),
                           mutates: false, step: step)
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
