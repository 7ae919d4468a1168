import Foundation
import RabbitSetup
import Workflow

/// Every hook the tests drive the shipped binary through, in one place. Each is an environment variable
/// an operator has no reason to set; without them the product behaves as documented.
///
/// - `RABBIT_WIZARD_TEST_STEPS=FILE`: a JSON list of files to manage, `[{"id": "...", "path": "...",
///   "content": "...", "mode": "644"}]`, replaces the topology's steps, so the engine (journal, crashes,
///   the screen) is tested on real files without RabbitMQ.
/// - `RABBIT_WIZARD_CRASH_AT=POINT`: SIGKILL at a run boundary (`run-started:-`, `began:ID`,
///   `apply-returned:ID`, `applied:ID`, `verified:ID`, ...), to test what the next run makes of it.
/// - `RABBIT_WIZARD_PAUSE_AT=POINT`: SIGSTOP there (the test sends SIGCONT), to act while a run holds
///   the lock. `exec` has one point, `command-running`: its command runs and is listed, and its own
///   time-out cannot fire while the wizard is stopped.
/// - `RABBIT_WIZARD_TEST_LIVE_REFUSED=NAME[,NAME]`: the named nodes refuse changes while they run
///   (`RabbitNode.liveRefusal`, read where it is decided, in RabbitSetup), so the restart paths a real
///   node takes when it cannot (its VM does not answer) are tested on nodes that could.
/// - `RABBIT_WIZARD_TEST_LINK_CUT=PROGRAM [ARG...]`: the failover drill's `link-cut` mode, which exists
///   only with it: the multi-host bed's program that cuts a node's link silently and restores it, run as
///   `PROGRAM ARG... HOST down|up` (`DrillMode.linkCutProgram`, read in RabbitSetup).
public enum TestHooks {
    public static let stepsVariable = "RABBIT_WIZARD_TEST_STEPS"
    public static let crashVariable = "RABBIT_WIZARD_CRASH_AT"
    public static let pauseVariable = "RABBIT_WIZARD_PAUSE_AT"

    private struct TestFile: Decodable {
        var id: String
        var path: String
        var content: String
        var mode: String?
    }

    /// Whether the file steps replace the topology's.
    public static var fileStepsGiven: Bool { ProcessInfo.processInfo.environment[stepsVariable] != nil }

    /// The file steps, when `RABBIT_WIZARD_TEST_STEPS` names their list.
    public static func fileSteps() throws -> [any Step]? {
        guard let file = ProcessInfo.processInfo.environment[stepsVariable] else { return nil }
        guard let data = FileManager.default.contents(atPath: file), let files = try? JSONDecoder().decode([TestFile].self, from: data) else {
            throw UsageError("\(stepsVariable)=\(file): cannot read the test step list")
        }
        return files.map { FileContentStep(id: StepID($0.id), path: $0.path, content: Array($0.content.utf8), mode: $0.mode ?? "644") }
    }

    /// Called by the interpreter at every boundary: kills or stops this process at the one the
    /// environment names, and does nothing otherwise.
    public static func boundaryPoint() -> @Sendable (String) -> Void {
        let crashAt = ProcessInfo.processInfo.environment[crashVariable]
        let pauseAt = ProcessInfo.processInfo.environment[pauseVariable]
        return { point in
            if point == crashAt { kill(getpid(), SIGKILL) }
            if point == pauseAt { kill(getpid(), SIGSTOP) }
        }
    }
}
