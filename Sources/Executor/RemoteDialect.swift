/// The language a server's login shell speaks to ssh: how an argv becomes the one command line ssh hands
/// over. Today only POSIX `sh`; the Windows servers' PowerShell is the next dialect, added here without
/// touching the ssh transport.
public enum RemoteDialect: String, Sendable, Hashable, Codable {
    case posix

    /// The remote command line that runs `spec.argv` with its working directory and environment additions.
    func commandLine(for spec: CommandSpec) -> String {
        switch self {
        case .posix:
            let env = spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let words = ["sh", "-c", RemoteDialect.posixScript, "rabbit-wizard", spec.workingDirectory ?? "", String(env.count)]
                + env + spec.argv
            return ShellQuote.join(words)
        }
    }

    /// The fixed POSIX script: `$1` working directory or empty, `$2` number of `NAME=value` words that
    /// follow, then the argv. Every value is a quoted argument (``ShellQuote``), never script text.
    static let posixScript = """
        d=$1; n=$2; shift 2
        if [ -n "$d" ]; then cd "$d" || exit 126; fi
        while [ "$n" -gt 0 ]; do export "$1" || exit 126; shift; n=$((n - 1)); done
        exec "$@"
        """
}
