import Workflow

/// Plans, findings and statuses as text for the terminal. The TUI renders the same data its own way.
public enum PlanText {
    public static func change(_ c: Change, indent: String = "  ") -> [String] {
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

    public static func plan(_ p: Plan, indent: String = "  ") -> [String] {
        let alone = (p.leftAlone ?? []).map { "\(indent)left alone: \($0)" }
        if p.isEmpty { return ["\(indent)nothing to do (already done)"] + alone }
        return ["\(indent)\(p.changes.count) change(s):"] + p.changes.flatMap { change($0, indent: indent + "  ") } + alone
    }

    /// The run's restarts over every step's plan: `restarts: none`, or each node that restarts, with the
    /// step and why (a node restarts only where a change cannot take effect while it runs).
    public static func restarts(_ plans: [Plan]) -> String {
        let all = plans.flatMap { p in p.restarts.map { "\($0.node) (\(p.step): \($0.why))" } }
        return all.isEmpty ? "restarts: none" : "restarts: " + all.joined(separator: "; ")
    }

    public static func finding(_ f: Finding, indent: String = "  ") -> String {
        "\(indent)\(f.severity.rawValue) \(f.name)\(f.node.map { " (\($0))" } ?? ""): \(f.message)\(f.fix.map { ". Fix: \($0)" } ?? "")"
    }

    public static func failure(_ f: StepFailure) -> String {
        var s = f.cause
        if let node = f.node, !s.contains(node) { s += " [\(node)]" }
        if let fix = f.fix { s += ". Next: \(fix)" }
        return s
    }
}
