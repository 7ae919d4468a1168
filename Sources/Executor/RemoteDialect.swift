import Foundation
import Synchronization

/// The language a server's login shell speaks to ssh: how an argv becomes what ssh sends (one command
/// line and the bytes on stdin), and how what comes back is read. POSIX servers get a fixed `sh -c`
/// script; Windows servers (Win32-OpenSSH) get one constant PowerShell command line (``PowerShellWire``).
public enum RemoteDialect: String, Sendable, Hashable, Codable {
    case posix
    case powershell

    /// What ssh carries for one command.
    struct Wire: Sendable {
        var commandLine: String
        var stdin: CommandSpec.Input
    }

    /// The command line and stdin that run `spec` there, or why it cannot be sent safely (nothing runs).
    func wire(for spec: CommandSpec) -> Result<Wire, RefusedCommand> {
        switch self {
        case .posix:
            let env = spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let words = ["sh", "-c", RemoteDialect.posixScript, "rabbit-wizard", spec.workingDirectory ?? "", String(env.count)]
                + env + spec.argv
            return .success(Wire(commandLine: ShellQuote.join(words), stdin: spec.stdin))
        case .powershell:
            return PowerShellWire.wire(for: spec)
        }
    }

    /// A line of output as the operator should see it while it streams (nil: not output of the command).
    func shown(_ line: String) -> String? {
        switch self {
        case .posix: line
        case .powershell: PowerShellWire.shown(line)
        }
    }

    /// The lines of one command as the operator should see them while they stream (``shown(_:)``), with
    /// what only the next line can tell: PowerShell's sentinel starts with a line break of its own, so a
    /// blank stdout line is held until the next shows whether it was the output's.
    final class StreamedLines: Sendable {
        let dialect: RemoteDialect
        let emit: @Sendable (OutputStreamKind, String) -> Void
        private let heldBlank = Mutex(false)
        /// PowerShell: whether the library's begin line came, and the lines held until it does (what stdout
        /// had before it is not the command's; without one at all, they were).
        private let begun = Mutex((seen: false, held: [String]()))

        init(_ dialect: RemoteDialect, emit: @escaping @Sendable (OutputStreamKind, String) -> Void) {
            self.dialect = dialect
            self.emit = emit
        }

        func take(_ stream: OutputStreamKind, _ line: String) {
            guard dialect == .powershell, stream == .stdout else {
                if let shown = dialect.shown(line) { emit(stream, shown) }
                return
            }
            let answering = begun.withLock { b -> Bool in
                if b.seen { return true }
                if line.hasPrefix(PowerShellWire.beginMarker) { b = (true, []) } else { b.held.append(line) }
                return false
            }
            guard answering else { return }
            let release = heldBlank.withLock { held -> Bool in
                defer { held = line.isEmpty }
                return held && !line.hasPrefix(PowerShellWire.sentinel)
            }
            if release { emit(stream, "") }
            if !line.isEmpty, let shown = dialect.shown(line) { emit(stream, shown) }
        }

        /// The output ended: a blank line still held was the output's own, and so were lines held for a
        /// begin line that never came.
        func finish() {
            let unframed = begun.withLock { b in defer { b.held = [] }; return b.seen ? [] : b.held }
            for line in unframed { if let shown = dialect.shown(line) { emit(.stdout, shown) } }
            if heldBlank.withLock({ held in defer { held = false }; return held }) { emit(.stdout, "") }
        }
    }

    /// The command's own outcome from what came back over ssh.
    func interpret(_ outcome: TransportOutcome) -> TransportOutcome {
        switch self {
        case .posix: outcome
        case .powershell: PowerShellWire.interpret(outcome)
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

/// Why a command was not sent: it could not be carried to the server without a shell reading its data.
public struct RefusedCommand: Error, Sendable, Equatable {
    public var reason: String
}
