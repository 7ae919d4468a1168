import WizardCore
import Workflow

/// Prints the run's progress from the runner's events.
struct ProgressPrinter: Sendable {
    let titles: [StepID: String]

    func observe(_ state: RunnerState, _ event: RunnerEvent) {
        switch event {
        case .start: break
        case .reconciled(let s, let done, let detail):
            say("\(s): was interrupted; observed: \(detail) -> \(done ? "done" : "not done")")
        case .checked(let s, let findings):
            say("== \(s): \(titles[s] ?? "")")
            for f in findings.sorted(by: { $0.severity < $1.severity }) { say(PlanText.finding(f)) }
        case .planned(let s, let plan):
            // A read-only plan goes on past blocking findings: say that apply would stop here.
            let blocking = (state.findings[s] ?? []).filter { $0.blocks(waived: state.waived) }
            if state.mode == .plan && !blocking.isEmpty {
                say("  apply stops here: \(blocking.count) error finding(s) above (fix them, or --waive NAME)")
            } else if let unchecked = plan.unchecked, plan.isEmpty {
                say("  \(s): \(unchecked)")
            } else {
                PlanText.plan(plan).forEach(say)
            }
        case .confirmed: break
        case .prepared(let s, _): say("  \(s): applying")
        case .applied(let s, _): say("  \(s): applied, verifying")
        case .verified(let s) where state.statuses[s] == .awaitingRestart:
            let nodes = state.owedRestarts.filter { $0.value.contains(s) }.keys.sorted().joined(separator: ", ")
            say("  \(s): applied; takes effect at the restart round (restart owed on \(nodes))")
        case .verified(let s): say("  \(s): done")
        case .noted: break
        case .failed(let s, let f, let phase):
            say("  \(s): FAILED (\(phase.rawValue)): \(PlanText.failure(f))")
            if state.attempts[s] ?? 0 > 0, f.retryable, (state.attempts[s] ?? 0) < state.retry.maxAttempts {
                say("  \(s): retrying (attempt \((state.attempts[s] ?? 0) + 1) of \(state.retry.maxAttempts))")
            }
        case .backoffElapsed: break
        case .chose(let s, let c): say("  \(s): \(c.rawValue)")
        case .rolledBack(let s): say("  \(s): rolled back")
        case .journalFailed(let p): say("journal: \(ErrorPresenter.describe(p))")
        case .commandLogFailed(let p): say("command log: \(ErrorPresenter.describe(p))")
        case .interrupt(let next): say("stopping before \(next?.rawValue ?? "the next step") (Ctrl-C)")
        }
    }

    func say(_ line: String) { print(line) }
}
