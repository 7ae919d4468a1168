import Workflow

/// Plans, findings and statuses as text for the terminal. The TUI renders the same data its own way.
enum PlanText {
    static func change(_ c: Change, indent: String = "  ") -> [String] {
        var out = ["\(indent)\(c.action.rawValue) \(c.target)  \(c.summary)"]
        if c.secret { out.append("\(indent)    (secret: changed)") }
        if let d = c.destructive { out.append("\(indent)    DESTROYS: \(d)") }
        if c.before != nil || c.after != nil {
            let lines = LineDiff.render(LineDiff.diff(c.before ?? "", c.after ?? ""))
            out += lines.prefix(60).map { "\(indent)    " + $0 }
            if lines.count > 60 { out.append("\(indent)    ... \(lines.count - 60) more diff lines") }
        }
        return out
    }

    static func plan(_ p: Plan, indent: String = "  ") -> [String] {
        let alone = (p.leftAlone ?? []).map { "\(indent)left alone: \($0)" }
        if p.isEmpty { return ["\(indent)nothing to do (already done)"] + alone }
        return ["\(indent)\(p.changes.count) change(s):"] + p.changes.flatMap { change($0, indent: indent + "  ") } + alone
    }

    static func finding(_ f: Finding, indent: String = "  ") -> String {
        "\(indent)\(f.severity.rawValue) \(f.name)\(f.node.map { " (\($0))" } ?? ""): \(f.message)\(f.fix.map { ". Fix: \($0)" } ?? "")"
    }

    static func failure(_ f: StepFailure) -> String {
        var s = f.cause
        if let node = f.node, !s.contains(node) { s += " [\(node)]" }
        if let fix = f.fix { s += ". Next: \(fix)" }
        return s
    }
}

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
