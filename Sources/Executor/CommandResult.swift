/// What a caller gets back from running a command: the logged record plus the captured output.
public struct CommandResult: Sendable {
    public var record: CommandRecord
    /// Scrubbed stdout, at most the capture limit (see ``stdoutTruncated``). Empty when the spec said
    /// its stdout is secret: then it is in ``secretStdout``.
    public var stdout: String
    public var stderr: String
    /// The capture limit cut stdout: ``stdout`` (or ``secretStdout``) holds only its first
    /// ``captureLimit`` bytes of ``CommandRecord/stdoutBytes``. A cut answer is never the whole: callers that
    /// use content read ``wholeStdout`` or fail.
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    /// Bytes of each stream kept for the caller (``OutputLimits/capture``).
    public var captureLimit: Int
    public var secretStdout: Secret?
    /// Set when the record could not be appended to the command log (for example a full disk).
    public var logProblem: CommandLog.Problem?

    public var termination: Termination { record.termination }
    /// Stdout when every byte of it was kept; nil when the capture limit cut it.
    public var wholeStdout: String? { stdoutTruncated ? nil : stdout }
    public var succeeded: Bool { record.termination.isSuccess }
}
