/// What subscribers of an ``Executor`` see, in order for each command: `started`, any number of
/// `output` lines (already scrubbed), `finished`.
public enum CommandEvent: Sendable {
    case started(id: String, step: String?, target: String, argv: [String], mutates: Bool)
    case output(id: String, stream: OutputStreamKind, line: String)
    case finished(CommandRecord)
}
