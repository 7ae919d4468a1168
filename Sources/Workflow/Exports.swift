/// A step's id is the executor's too (a command names the step it belongs to): it is declared there, and
/// whoever imports Workflow sees it as Workflow's own.
@_exported import struct Executor.StepID
