import Executor
import Synchronization
import Testing

/// A transport that answers from a script instead of running anything, for unit tests of a step's logic
/// (what it plans from given observations, which commands it sends after a given failure). Never a
/// substitute for the end-to-end tests, which run real servers.
public final class ScriptedTransport: Transport {
    public struct Rule: Sendable {
        /// Every word must be in the argv (an element equal to it, or containing it).
        public var words: [String]
        public var termination: Termination
        public var stdout: String
        public var stderr: String

        public init(_ words: [String], _ termination: Termination = .exited(code: 0), stdout: String = "", stderr: String = "") {
            self.words = words
            self.termination = termination
            self.stdout = stdout
            self.stderr = stderr
        }

        func matches(_ argv: [String]) -> Bool { words.allSatisfy { w in argv.contains { $0 == w || $0.contains(w) } } }
    }

    private let rules: [Rule]
    private let calls = Mutex<[CommandSpec]>([])

    /// The first matching rule answers. A command no rule matches fails the test that sent it (a step
    /// that sends a command its test did not expect is a finding, not a silent success) and does not
    /// start.
    public init(_ rules: [Rule]) { self.rules = rules }

    /// Every argv run so far, in order.
    public var argvs: [[String]] { calls.withLock { $0.map(\.argv) } }
    /// Every command run so far, in order.
    public var specs: [CommandSpec] { calls.withLock { $0 } }

    public func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
                    onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
    {
        calls.withLock { $0.append(spec) }
        guard let rule = rules.first(where: { $0.matches(spec.argv) }) else {
            Issue.record("ScriptedTransport: no rule answers \(spec.argv)")
            return TransportOutcome(termination: .couldNotStart(reason: "no rule in the test's script answers this command"))
        }
        func stream(_ text: String) -> CapturedStream { CapturedStream(text: text, truncated: false, tail: text, totalBytes: text.utf8.count) }
        // A secret answer comes back as a secret only, as the local transport gives it.
        if spec.stdoutIsSecret {
            return TransportOutcome(termination: rule.termination, stdout: CapturedStream(text: "", truncated: false, tail: "", totalBytes: rule.stdout.utf8.count),
                                    stderr: stream(rule.stderr), secretStdout: Secret(rule.stdout))
        }
        return TransportOutcome(termination: rule.termination, stdout: stream(rule.stdout), stderr: stream(rule.stderr))
    }
}
