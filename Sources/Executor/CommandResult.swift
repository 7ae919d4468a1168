/// What a caller gets back from running a command: the logged record plus the captured output.
public struct CommandResult: Sendable {
    public var record: CommandRecord
    /// Scrubbed stdout, at most the capture limit (see ``stdoutTruncated``). Empty when the spec said
    /// its stdout is secret: then it is in ``secretStdout``.
    public var stdout: String
    public var stderr: String
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    public var secretStdout: Secret?
    /// Set when the record could not be appended to the command log (for example a full disk).
    public var logProblem: CommandLog.Problem?

    public var termination: Termination { record.termination }
    public var succeeded: Bool { record.termination.isSuccess }
}
