/// How a step fails: the cause in words, the next action, and what the runner may do about it.
/// Steps throw this; the one presenter formats it.
public struct StepFailure: Error, Sendable, Codable, Equatable {
    public var cause: String
    public var fix: String?
    public var node: String?
    /// Trying again after a pause may succeed (a node still starting, a lost connection).
    public var retryable: Bool
    /// The step may have changed something that was not observed (a time-out, a dropped ssh link).
    public var outcomeUnknown: Bool
    /// Undo data for what was done before the failure, if any.
    public var partialUndo: Undo?
    /// The named finding this failure is (`cookie-missing`, `node-not-running`), so a check reports it
    /// under that name without reading the words.
    public var finding: String?

    public init(_ cause: String, fix: String? = nil, node: String? = nil, retryable: Bool = false,
                outcomeUnknown: Bool = false, partialUndo: Undo? = nil, finding: String? = nil)
    {
        self.cause = cause
        self.fix = fix
        self.node = node
        self.retryable = retryable
        self.outcomeUnknown = outcomeUnknown
        self.partialUndo = partialUndo
        self.finding = finding
    }
}
