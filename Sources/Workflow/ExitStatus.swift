/// Every exit code of the wizard, with its meaning, once: the CLI's error presenter and the screen exit
/// with these, `--help` prints this table, and a test holds the README's table to it.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case success = 0
    case failed = 1
    /// `plan --detailed-exitcode` only: apply would change something.
    case changesPending = 2
    case needsConfirmation = 3
    case unreachable = 4
    /// A stale plan, or an interrupted or damaged journal: observe or repair first.
    case staleOrDirty = 5
    /// Another wizard holds the state directory or the cluster (or left a stale lock to confirm).
    case locked = 6
    /// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
    case interrupted = 130
    /// The terminal went away (128 + SIGHUP): aborted at once.
    case hangUp = 129
    case badInput = 64

    /// The meaning, as `--help` and the README say it (words in backquotes are commands or flags).
    public var meaning: String {
        switch self {
        case .success: "success"
        case .failed: "a step failed, or was blocked by findings, or the command log could not be written"
        case .changesPending: "only with `plan --detailed-exitcode`: apply would change something (0: nothing to change)"
        case .needsConfirmation: "needs confirmation (no terminal to ask on; pass `--yes`)"
        case .unreachable: "host unreachable, or a host key problem"
        case .staleOrDirty: "stale plan, or an interrupted or damaged journal (see `status`, `journal repair`)"
        case .locked: "another wizard holds the state directory or the cluster, or left a stale lock (`--yes` takes it over)"
        case .interrupted: "stopped by Ctrl-C at a safe point (run the same command again to go on)"
        case .hangUp: "the terminal went away (SIGHUP): aborted; the step's outcome is unknown (the next run reconciles it)"
        case .badInput: "bad input: a flag or value is wrong; nothing was run"
        }
    }

    /// The table as `--help` prints it: one code per entry, without the backquotes, wrapped to fit 80
    /// columns with the meaning's later lines under its first.
    public static var helpTable: String {
        allCases.map { c in
            let code = String(c.rawValue)
            var lines = ["  " + code + String(repeating: " ", count: max(1, 4 - code.count))]
            for word in c.meaning.filter({ $0 != "`" }).split(separator: " ") {
                if lines[lines.count - 1].count + word.count + 1 > 78 { lines.append(String(repeating: " ", count: 6)) }
                let last = lines[lines.count - 1]
                lines[lines.count - 1] = last + (last.hasSuffix(" ") ? "" : " ") + word
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
