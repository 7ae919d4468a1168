import Foundation
import Synchronization

/// What one run has already observed: the results of read-only commands and the answers of channel
/// requests, each kept with the executor's change mark (``Executor/changeMark``) taken when it was
/// asked. The same question asked again is answered from here only while nothing has changed anything
/// since (no command with `mutates` began through the executor), and only where the asker allows reuse
/// (``reusing``): a step's check and plan look without having changed anything, while its prepare
/// (the before-state a rollback trusts, taken after the operator's confirmation, which may take
/// minutes), a verification, or a loop that waits for something to happen, must see the server afresh.
///
/// Bound per run (``current``): a later run, or the screen's next look, starts empty, so a server that
/// changed on its own between two runs is seen. Only clean results are kept (a command that exited, an
/// answer), never a connection failure or a timeout.
public final class Observations: Sendable {
    /// This run's observations; nil: nothing is kept or reused.
    @TaskLocal public static var current: Observations?
    /// Whether a question may be answered from ``current`` here (check, plan, a status). Answers
    /// are kept for later either way.
    @TaskLocal public static var reusing = false

    private let kept = Mutex<[String: (mark: Int, value: Kept)]>([:])
    private let reused = Atomic<Int>(0)

    enum Kept {
        case result(CommandResult)
        case answer(String)
    }

    public init() {}

    /// How many questions were answered from here (tests read it).
    public var reuseCount: Int { reused.load(ordering: .relaxed) }

    /// Runs `body` with a fresh set of observations bound, reuse allowed or not.
    public static func run<T>(reusing: Bool = false, _ body: () async throws -> T) async rethrows -> T {
        try await $current.withValue(Observations()) { try await $reusing.withValue(reusing) { try await body() } }
    }

    func lookup(_ key: String, mark: Int?) -> Kept? {
        guard Observations.reusing, let mark else { return nil }
        let hit = kept.withLock { k -> Kept? in
            guard let entry = k[key], entry.mark == mark else { return nil }
            return entry.value
        }
        if hit != nil { reused.add(1, ordering: .relaxed) }
        return hit
    }

    func keep(_ key: String, _ value: Kept, askedAt mark: Int?, now: Int?) {
        guard let mark, mark == now else { return }
        kept.withLock { $0[key] = (mark, value) }
    }
}

extension Executor {
    /// The answer `ask` gives, or the one it gave before in this run when reuse is allowed here and
    /// nothing changed since. `key` names the question completely (where it goes and what it asks);
    /// nil from `ask` (no answer) is never kept.
    public func observing(_ key: String, ask: () async -> String?) async -> String? {
        let cache = Observations.current
        let mark = changeMark
        if case .answer(let text)? = cache?.lookup("answer " + key, mark: mark) { return text }
        let answer = await ask()
        if let answer { cache?.keep("answer " + key, .answer(answer), askedAt: mark, now: changeMark) }
        return answer
    }

    /// What identifies a read-only command as a question: where it runs and everything it is given.
    /// nil for one that cannot be reused (a secret on its stdin: kept nowhere, not even as a key).
    static func observationKey(_ spec: CommandSpec) -> String? {
        let stdin: String
        switch spec.stdin {
        case .none: stdin = "-"
        case .bytes(let b): stdin = Data(b).base64EncodedString()
        case .secret: return nil
        }
        let env = spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let parts = [spec.target.description, spec.workingDirectory ?? "-", stdin, "\(spec.stdoutIsSecret)"] + env + ["--"] + spec.argv
        return "command " + parts.map { "\($0.utf8.count):\($0)" }.joined()
    }
}
