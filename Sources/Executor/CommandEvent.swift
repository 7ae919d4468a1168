/// What subscribers of an ``Executor`` see, in order for each command: `started`, any number of
/// `output` lines (already scrubbed), `finished`.
public enum CommandEvent: Sendable {
    case started(id: String, step: StepID?, target: String, argv: [String], mutates: Bool)
    /// The command's process runs (`pid`); a command that changes something is listed in STATE/running by now.
    case running(id: String, pid: Int32)
    case output(id: String, stream: OutputStreamKind, line: String)
    case finished(CommandRecord)
    /// Something the operator should read once (a read that falls back to a slower way, say).
    case notice(String)
}
