/// Errors of the engine itself (not of a step); the one presenter turns them into words and exit codes.
public enum WorkflowError: Error, Sendable, Equatable {
    case unknownSteps([StepID], valid: [StepID])
    /// `--waive NAME` for a name no step reports.
    case unknownFindings([String], valid: [String])
    case journal(JournalProblem)
    case lock(RunLock.Problem)
    /// `rollback ID` for a step with nothing recorded to undo.
    case nothingToRollBack(StepID, StepStatus)
}
