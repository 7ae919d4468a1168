import Workflow

/// `render(state, size)`: the whole screen as a pure function of the state. Snapshot-tested as text.
public enum Render {
    public static let minimum = TerminalSize(rows: 24, cols: 80)

    typealias Line = (text: String, style: Style)

    public static func render(_ s: AppState, _ size: TerminalSize, glyphs g: Glyphs = .unicode) -> ScreenBuffer {
        var b = ScreenBuffer(size)
        guard size.rows >= minimum.rows, size.cols >= minimum.cols else {
            b.put(0, 0, "rabbit-wizard needs at least \(minimum.cols)x\(minimum.rows);", .bold)
            b.put(1, 0, "this terminal is \(size.cols)x\(size.rows). Enlarge it, or use the CLI (rabbit-wizard --help).")
            return b
        }
        titleBar(&b, s, g)
        var body = (top: 1, height: size.rows - 3)
        // A question takes the bottom of the body; the view keeps the rest, so nothing hides behind it.
        let question = s.prompt.map { promptLines(s, $0, width: size.cols - 8) }
        if let q = question { body.height -= min(q.lines.count + 2, body.height - 4) }
        switch s.view {
        case .setup:
            if let form = s.form {
                let (lines, cursor) = formLines(form, g, width: size.cols - 2)
                page(&b, s, g, body, title: "New topology, to be written to \(form.path)", lines: lines, highlight: cursor)
            }
        case .overview: overview(&b, s, g, body)
        case .findings:
            let (lines, cursor) = findingLines(s, g, width: size.cols - 2)
            page(&b, s, g, body, title: "Findings (by node, errors first; w waives the marked one)", lines: lines, highlight: cursor)
        case .plan: page(&b, s, g, body, title: planTitle(s), lines: planLines(s, g, width: size.cols - 2))
        case .log: page(&b, s, g, body, title: logTitle(s), lines: logLines(s, width: size.cols - 2))
        case .help: page(&b, s, g, body, title: "Keys", lines: helpLines(s, width: size.cols - 2))
        case .summary: page(&b, s, g, body, title: "Summary", lines: summaryLines(s, g, width: size.cols - 2))
        }
        if let q = question { promptBox(&b, g, q, top: body.top + body.height, bottom: size.rows - 2) }
        messageLine(&b, s, size.rows - 2)
        hintBar(&b, s, size.rows - 1)
        return b
    }

    // MARK: frame

    static func titleBar(_ b: inout ScreenBuffer, _ s: AppState, _ g: Glyphs) {
        let cols = b.size.cols
        b.fill(0, from: 0, width: cols, with: " ", .reverse)
        // Before the engine has said anything there is nothing to be idle about yet.
        var right = s.steps.isEmpty && s.form == nil ? "opening" : "idle"
        if let a = s.activity {
            right = "\(spinner(s, g)) \(a.kind.rawValue)\(a.step.map { " \($0)" } ?? "") \(duration(s.clock - a.startedAt))"
            if a.stopping { right += " (stopping)" }
        }
        let left = " rabbit-wizard \(g.vertical) \(s.label)"
        b.put(0, 0, TextWidth.clip(left, cols - TextWidth.columns(right) - 3, ellipsis: g.ellipsis), .reverse)
        b.put(0, cols - TextWidth.columns(right) - 1, right, .reverse)
    }

    static func messageLine(_ b: inout ScreenBuffer, _ s: AppState, _ row: Int) {
        guard let m = s.message else { return }
        b.put(row, 1, TextWidth.clip(m.text.replacingOccurrences(of: "\n", with: " "), b.size.cols - 2, ellipsis: "..."), m.ok ? .ok : .error)
    }

    static func hintBar(_ b: inout ScreenBuffer, _ s: AppState, _ row: Int) {
        b.fill(row, from: 0, width: b.size.cols, with: " ", .reverse)
        b.put(row, 0, TextWidth.clip(" " + hints(s), b.size.cols, ellipsis: ""), .reverse)
    }

    /// The keys that do something now, shortest first in the bar.
    static func hints(_ s: AppState) -> String {
        if let p = s.prompt {
            switch p {
            case .confirmPlan(_, _?), .confirmRollback(_, _?), .confirmRepair: return "type the word, Enter confirm  Esc cancel"
            case .secret: return "type it (shown as *)  Enter accept  Backspace erase  Esc leave it undone"
            case .confirmPlan, .confirmRollback, .quit, .takeOverLock, .offer: return "y yes  n no  Up/Down scroll"
            case .choose(_, let choices, _):
                return KeyMap.choiceKeys.filter { choices.contains($0.choice) }.map { "\($0.key) \($0.short)" }.joined(separator: "  ")
                    + "  l log  f findings  Esc overview"
            case .resume: return "c continue (reconcile)  u roll back  Esc look first  q quit"
            }
        }
        switch s.view {
        case .setup: return "Up/Down move  type to edit  Space cycles a choice  Enter save  Esc Esc quit"
        // Before the engine has reported the steps there is nothing to run or show yet.
        case .overview where s.steps.isEmpty && s.form == nil: return "q quit"
        case .overview:
            return KeyMap.hints(.overview, [([.run], "run all"), ([.retry], "retry step"), ([.rollback], "roll back"), ([.plan], "plan"),
                                            ([.findings], "findings"), ([.log], "log"), ([.summary], "summary"), ([.help], "help"), ([.quit], "quit")])
        case .findings:
            return KeyMap.hints(.findings, [([.up, .down], "move"), ([.waive], "waive/unwaive"), ([.run], "run"), ([.back], "back"),
                                            ([.help], "help"), ([.quit], "quit")])
        case .log:
            return KeyMap.hints(.log, [([.up, .down], "scroll"), ([.filterStep], "step filter"), ([.filterNode], "host filter"),
                                       ([.back], "back"), ([.quit], "quit")])
        default: return KeyMap.hints(.everywhere, [([.up, .down], "scroll"), ([.back], "back"), ([.help], "help"), ([.quit], "quit")])
        }
    }

    // MARK: overview: steps beside the live log pane

    static func overview(_ b: inout ScreenBuffer, _ s: AppState, _ g: Glyphs, _ body: (top: Int, height: Int)) {
        let leftWidth = b.size.cols >= 110 ? 42 : 34
        for r in body.top..<(body.top + body.height) { b.put(r, leftWidth, g.vertical, .dim) }
        var row = body.top
        b.put(row, 1, "Steps", .bold)
        row += 1
        for (i, step) in s.steps.enumerated() {
            let selected = i == s.selected
            let mark = selected ? g.pointer : " "
            let status = "\(statusMark(step.status, s, g)) \(step.status.rawValue)"
            let idWidth = leftWidth - 3 - TextWidth.columns(status) - 1
            b.put(row, 0, mark, .bold)
            b.put(row, 2, TextWidth.clip(step.id.rawValue + (step.info.runsByDefault ? "" : "*"), idWidth, ellipsis: g.ellipsis))
            b.put(row, leftWidth - 1 - TextWidth.columns(status), status, statusStyle(step.status))
            if selected { b.paint(row, from: 0, width: leftWidth, .selected) }
            row += 1
        }
        row += 1
        // The cluster line sits at the bottom of the pane, the load balancer's below it; the step's details
        // use the rows above them.
        func block(_ text: String, _ style: Style, rows: Int) -> [(text: String, style: Style, cut: Bool)] {
            let lines = TextWidth.wrap(text, leftWidth - 2)
            return lines.prefix(rows).enumerated().map { i, l in (l, style, i == rows - 1 && lines.count > rows) }
        }
        let cluster = s.cluster.map { c -> [(text: String, style: Style, cut: Bool)] in
            let style: Style = switch c.health {
            case .healthy: .ok
            case .separate: .dim
            case .degraded: .warn
            case .partitioned: .error
            }
            return block("cluster: " + c.text, style, rows: 4) + (c.loadBalancer.map { block("load balancer: " + $0, .normal, rows: 4) } ?? [])
        } ?? []
        // At most 4 rows of the cluster and 4 of the load balancer, and never over the step list: in a pane
        // made short by a question they get what is left below the steps (or nothing).
        let fit = min(cluster.count, max(0, body.top + body.height - row))
        let detailsEnd = body.top + body.height - (fit == 0 ? 0 : fit + 1)
        for (i, l) in cluster.prefix(fit).enumerated() {
            let r = body.top + body.height - fit + i
            let cut = l.cut || (i == fit - 1 && cluster.count > fit)
            b.put(r, 1, cut ? TextWidth.clip(l.text, leftWidth - 3, ellipsis: g.ellipsis) + g.ellipsis : l.text, l.style, width: leftWidth - 2)
        }
        if let step = s.selectedStep {
            var lines: [Line] = [(step.info.title, .bold), ("recorded: \(step.recorded.rawValue)", .normal)]
            if !step.info.runsByDefault { lines.append(("* opt-in: Enter skips it; r runs it", .dim)) }
            if let live = s.live[step.id] { lines.append(("now: \(live)", .normal)) }
            if let f = s.failures[step.id], [.failed, .unknown].contains(step.status) {
                lines.append(("cause: \(f.cause)", .error))
                if let fix = f.fix { lines.append(("fix: \(fix)", .warn)) }
            }
            let scope = step.info.rollbackScope
            let style: Style = if case .needsConfirmation = scope { .warn } else { .dim }
            lines.append(("rollback \(scope.brief)", style))
            let wrapped = lines.flatMap { l in TextWidth.wrap(l.text, leftWidth - 2).map { ($0, l.style) } }
            for l in wrapped where row < detailsEnd {
                b.put(row, 1, l.0, l.1, width: leftWidth - 2)
                row += 1
            }
        }
        livePane(&b, s, g, left: leftWidth + 2, top: body.top, height: body.height)
    }

    /// What runs now and the streamed output, newest at the bottom.
    static func livePane(_ b: inout ScreenBuffer, _ s: AppState, _ g: Glyphs, left: Int, top: Int, height: Int) {
        let width = b.size.cols - left - 1
        var row = top
        if let a = s.activity {
            b.put(row, left, "\(spinner(s, g)) \(capitalized(a.kind.rawValue))\(a.step.map { " \($0)" } ?? "")  \(duration(s.clock - a.startedAt))", .bold, width: width)
            row += 1
            if let c = a.command {
                b.put(row, left, TextWidth.clip("running on \(c.target) for \(duration(s.clock - c.startedAt)):", width, ellipsis: g.ellipsis), .normal)
                row += 1
                b.put(row, left, TextWidth.clip("$ " + c.line, width, ellipsis: g.ellipsis), .key)
                row += 1
            }
            if let w = a.waitingFor {
                b.put(row, left, TextWidth.clip("waiting for: " + w, width, ellipsis: g.ellipsis), .warn)
                row += 1
            }
        } else {
            b.put(row, left, "Output", .bold)
            row += 1
        }
        b.fill(row, from: left, width: width, with: g.horizontal, .dim)
        row += 1
        let room = top + height - row
        guard room > 0 else { return }
        var wrapped: [Line] = []
        for line in s.output.suffix(room * 2) {
            let style: Style = switch line.kind {
            case .command: .key
            case .output: .normal
            case .progress: .warn
            case .failure: .error
            case .note: .ok
            }
            wrapped += TextWidth.wrap(line.text, width).map { ($0, style) }
        }
        if s.output.isEmpty {
            let idle = s.steps.isEmpty && s.form == nil ? "Opening the topology and the journal..."
                : "Nothing has run in this session. Enter runs every pending step."
            wrapped = TextWidth.wrap(s.busy ? "(no output yet)" : idle, width).map { ($0, .dim) }
        }
        for l in wrapped.suffix(room) {
            b.put(row, left, l.text, l.style, width: width)
            row += 1
        }
    }

    // MARK: full-width pages

    static func page(_ b: inout ScreenBuffer, _ s: AppState, _ g: Glyphs, _ body: (top: Int, height: Int), title: String, lines: [Line],
                     highlight: Range<Int>? = nil)
    {
        let room = body.height - 1
        let maxScroll = max(0, lines.count - room)
        var scroll = min(s.scroll, maxScroll)
        if let h = highlight { scroll = min(max(0, h.lowerBound - room / 2), maxScroll) }
        var header = title
        if lines.count > room { header += "  (\(scroll + 1)-\(min(scroll + room, lines.count)) of \(lines.count))" }
        b.put(body.top, 1, TextWidth.clip(header, b.size.cols - 2, ellipsis: g.ellipsis), .bold)
        for (i, l) in lines.dropFirst(scroll).prefix(room).enumerated() {
            b.put(body.top + 1 + i, 1, TextWidth.clip(l.text, b.size.cols - 2, ellipsis: g.ellipsis), l.style)
            if let h = highlight, h.contains(scroll + i) { b.paint(body.top + 1 + i, from: 0, width: b.size.cols, .selected) }
        }
    }

    static func planTitle(_ s: AppState) -> String {
        if case .confirmPlan(let id, _) = s.prompt { return "Plan review: \(id)" }
        return s.activity?.kind == .planning ? "Plan (planning...)" : "Plan: what apply would change now"
    }

    static func planLines(_ s: AppState, _ g: Glyphs, width: Int) -> [Line] {
        var ids = s.steps.map(\.id).filter { s.plans[$0] != nil || s.findings[$0] != nil }
        if case .confirmPlan(let id, _) = s.prompt { ids = [id] }
        if ids.isEmpty { return [(s.busy ? "Planning: checks run on every node..." : "No plan yet: press p to plan.", .dim)] }
        var out: [Line] = []
        for id in ids {
            let title = s.steps.first { $0.id == id }?.info.title ?? ""
            out.append(("\(id): \(title)", .bold))
            for f in (s.findings[id] ?? []).sorted(by: { $0.severity < $1.severity }) where f.severity != .info {
                out += wrapIndented("  \(f.severity.rawValue) \(f.name)\(f.node.map { " (\($0))" } ?? ""): \(f.message)", width, f.severity == .error ? .error : .warn)
            }
            guard let plan = s.plans[id] else {
                out.append(("  not planned (blocked by its checks, or a step before it stopped)", .dim))
                continue
            }
            if plan.isEmpty { out.append(("  nothing to do: already done", .ok)) }
            for note in plan.leftAlone ?? [] { out += wrapIndented("  left alone: \(note)", width, .dim) }
            for c in plan.changes {
                out += wrapIndented("  \(c.action.rawValue) \(c.target)  \(c.summary)", width, .normal)
                if c.secret { out.append(("      (secret: will change; never shown)", .warn)) }
                if let d = c.destructive { out += wrapIndented("      DESTROYS: \(d)", width, .error) }
                if c.before != nil || c.after != nil {
                    for d in LineDiff.render(LineDiff.diff(c.before ?? "", c.after ?? "")) {
                        let style: Style = d.hasPrefix("+") ? .added : d.hasPrefix("-") ? .removed : .dim
                        out.append(("      " + d, style))
                    }
                }
            }
            out.append(("", .normal))
        }
        return out
    }

    /// The findings as lines, and which lines belong to the finding under the cursor.
    static func findingLines(_ s: AppState, _ g: Glyphs, width: Int) -> (lines: [Line], cursor: Range<Int>?) {
        let all = s.allFindings
        if all.isEmpty {
            return ([(s.findings.isEmpty ? "No checks have run yet: Enter runs the steps, p plans (both run the checks)." : "No findings: every check passed.", .dim)], nil)
        }
        var out: [Line] = []
        var cursor: Range<Int>?
        var node: String?? = .none
        for (i, item) in all.enumerated() {
            let f = item.finding
            if node != .some(f.node) {
                out.append((f.node.map { "\($0):" } ?? "whole cluster:", .bold))
                node = .some(f.node)
            }
            let first = out.count
            let waived = s.waived.contains(f.name)
            let style: Style = waived ? .dim : f.severity == .error ? .error : f.severity == .warning ? .warn : .normal
            out += wrapIndented("  \(f.severity.rawValue.uppercased()) \(f.name)\(waived ? " (waived)" : ""): \(f.message)", width, style)
            if let fix = f.fix { out += wrapIndented("      fix: \(fix)", width, waived ? .dim : .normal) }
            if i == s.findingCursor { cursor = first..<out.count }
        }
        return (out, cursor)
    }

    /// The form as lines: each field with its value, its problems under it; the cursor's field marked.
    static func formLines(_ form: SetupForm, _ g: Glyphs, width: Int) -> (lines: [Line], cursor: Range<Int>?) {
        var out: [Line] = []
        let general = form.generalProblems
        if general.isEmpty && form.problems.isEmpty {
            out.append(("Everything checks out: Enter writes the file and opens it.", .ok))
        } else {
            out.append(("\(form.problems.count) problem(s); the file is written once there are none.", .warn))
        }
        for p in general { out += wrapIndented("  " + p, width, .error) }
        out.append(("", .normal))
        var cursor: Range<Int>?
        for (i, field) in form.fields.enumerated() {
            let first = out.count
            var value = field.value
            if case .choice = field.kind { value = "< \(value) >" }
            if i == form.cursor, case .text = field.kind { value += "_" }
            let optional = if case .node(_, .nodeName) = field.key { "  (optional: rabbit@<host>)" } else { "" }
            out.append(("  " + field.label.padding(toLength: 22, withPad: " ", startingAt: 0) + value + (field.value.isEmpty ? optional : ""), .normal))
            if field.key == .partitionHandling { out += wrapIndented("      " + form.partitionAdvice, width, .dim) }
            for p in form.problems(of: field.key) { out += wrapIndented("      " + p, width, .error) }
            if i == form.cursor { cursor = first..<(first + 1) }
        }
        return (out, cursor)
    }

    static func logTitle(_ s: AppState) -> String {
        "Command log, all runs (\(s.filteredCommands.count) of \(s.commands.count)) step: \(s.logStep?.rawValue ?? "all")  host: \(s.logNode ?? "all")"
    }

    static func logLines(_ s: AppState, width: Int) -> [Line] {
        let shown = s.filteredCommands
        if shown.isEmpty { return [("No commands logged yet. Output tails: rabbit-wizard log --output", .dim)] }
        return shown.map { c in
            let text = "\(String(format: "%6.2fs", c.seconds)) \(c.exit.padding(toLength: 8, withPad: " ", startingAt: 0)) [\(c.step ?? "-")] \(c.target)  \(CommandText.brief(c.argv))"
            return (text, c.ok ? .normal : .error)
        }
    }

    static func helpLines(_ s: AppState, width: Int) -> [Line] {
        var out: [Line] = [("The wizard walks through the steps in order; each checks, plans, asks, applies and verifies.", .normal),
                           ("Nothing changes before you confirm a plan. Every command is in the command log (l).", .normal), ("", .normal)]
        for b in KeyMap.bindings {
            let keys = b.keys.map(\.label).joined(separator: " ")
            let scope = b.scope == .everywhere ? "" : " (\(b.scope.rawValue))"
            out.append(("  " + keys.padding(toLength: 14, withPad: " ", startingAt: 0) + b.help + scope, .normal))
        }
        out.append(("", .normal))
        out.append(("After a failure:", .bold))
        for c in KeyMap.choiceKeys { out.append(("  \(c.key)             \(c.label)", .normal)) }
        out.append(("", .normal))
        out.append(("Finishing the setup:", .bold))
        out += finishing(s).flatMap { wrapIndented("  " + $0, width, .normal) }
        return out
    }

    /// How the secret and the offered step are given and run from the keyboard (help and summary).
    static func finishing(_ s: AppState) -> [String] {
        var out: [String] = []
        if let ask = s.secret {
            out.append(ask.given ? "\(ask.what): given (set; not shown)."
                       : "\(ask.what): asked for when \(ask.step) is the only step left (after Enter runs the others), or r on \(ask.step); "
                           + "typed twice, shown as *, kept in memory only.")
        }
        if let offer = s.offer {
            let done = s.steps.first { $0.id == offer.step }?.status == .done
            out.append(done ? "\(offer.step): done; r on it runs it again."
                       : "\(offer.step): offered once every step before it is done, or r on \(offer.step) (its plan asks before anything stops).")
        }
        if out.isEmpty { out.append("Enter runs every pending step; each asks before it changes anything.") }
        return out
    }

    static func summaryLines(_ s: AppState, _ g: Glyphs, width: Int) -> [Line] {
        var out: [Line] = []
        if let m = s.message { out += wrapIndented(m.text, width, m.ok ? .ok : .error) + [("", .normal)] }
        for step in s.steps {
            out.append(("  \(statusMark(step.status, s, g)) \(step.id.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0)) \(step.status.rawValue)", statusStyle(step.status)))
        }
        out.append(("", .normal))
        out.append(("OutSystems Configuration Tool, Cache Invalidation Service:", .bold))
        if s.handoff.isEmpty { out.append(("  (no load balancer in the topology: nothing to hand over yet)", .dim)) }
        for v in s.handoff { out.append(("  " + v.label.padding(toLength: 16, withPad: " ", startingAt: 0) + v.value, .normal)) }
        if s.secret != nil || s.offer != nil {
            out.append(("", .normal))
            out += finishing(s).flatMap { wrapIndented($0, width, .normal) }
        }
        for e in s.evidence {
            out.append(("", .normal))
            out.append(("\(e.title) (\(e.step))", .bold))
            out += e.text.split(separator: "\n").map { ("  " + $0, .normal) }
        }
        return out
    }

    // MARK: questions

    /// The question's title and its lines, wrapped to `inner` columns.
    static func promptLines(_ s: AppState, _ p: Prompt, width inner: Int) -> (title: String, lines: [Line]) {
        var lines: [Line] = []
        var title = ""
        switch p {
        case .confirmPlan(let id, let typed):
            let plan = s.plans[id]
            title = "Apply \(id)?"
            lines.append(("\(plan?.changes.count ?? 0) change(s), shown above. Nothing has changed yet.", .normal))
            let restarts = plan?.restarts ?? []
            lines.append(restarts.isEmpty ? ("Restarts: none.", .normal)
                         : ("Restarts: " + restarts.map { "\($0.node) (\($0.why))" }.joined(separator: "; "), .warn))
            if let typed {
                lines.append(("This DESTROYS: \((plan?.destructive ?? []).joined(separator: "; "))", .error))
                lines.append(("Type \(id) and press Enter to go ahead, Esc to decline:", .bold))
                lines.append(("> " + typed + "_", .key))
            } else {
                lines.append(("y: apply it   n: stop here (nothing more is changed)", .bold))
            }
        case .choose(let id, let choices, let failure):
            if let failure {
                title = "\(id) failed"
                lines.append(("Cause: \(failure.cause)", .error))
                if let node = failure.node { lines.append(("Node: \(node)", .normal)) }
                if let fix = failure.fix { lines.append(("Fix: \(fix)", .warn)) }
                if failure.outcomeUnknown { lines.append(("Its outcome is unknown: it may have changed something.", .warn)) }
            } else {
                title = "\(id) was interrupted and is not finished"
                lines.append(("Observation shows it still has changes to make.", .normal))
            }
            lines.append((KeyMap.choiceKeys.filter { choices.contains($0.choice) }.map { "\($0.key): \($0.label)" }.joined(separator: "   "), .bold))
        case .confirmRollback(let ids, let typed):
            title = ids.count == 1 ? "Roll back \(ids[0])?" : "Roll back \(ids.count) steps?"
            if ids.count > 1 { lines.append(("In this order: \(ids.map(\.rawValue).joined(separator: ", "))", .normal)) }
            for id in ids {
                let scope = s.steps.first(where: { $0.id == id })?.info.rollbackScope ?? .complete
                let style: Style = switch scope { case .complete: .normal; case .partial: .warn; case .needsConfirmation: .error }
                lines.append(("\(id): \(scope.consequence)", style))
            }
            if let typed {
                lines.append(("Type \(Wizard.expectedWord(p)!) and press Enter to go ahead, Esc to cancel:", .bold))
                lines.append(("> " + typed + "_", .key))
            } else {
                lines.append(("y: roll back   n: cancel", .bold))
            }
        case .confirmRepair(let proposal, let typed):
            title = "Repair the network partition?"
            lines.append(("What each node sees:", .normal))
            for e in proposal.evidence { lines.append(("  " + e, .normal)) }
            lines.append(("Rule: \(proposal.rule)", .normal))
            lines.append(("Keep running: \(proposal.keep.joined(separator: ", "))", .ok))
            if proposal.startOnly {
                lines.append(("Start (a repair that was cut off stopped them): \(proposal.restart.joined(separator: ", "))", .warn))
            } else {
                lines.append(("Restart (stop them all, then start them): \(proposal.restart.joined(separator: ", "))", .warn))
                lines.append(("This DESTROYS: what changed only on \(proposal.restart.joined(separator: ", ")) since the split.", .error))
            }
            lines.append(("Type restart and press Enter to go ahead, Esc to cancel:", .bold))
            lines.append(("> " + typed + "_", .key))
        case .secret(let entry):
            let ask = s.secret
            title = ask?.what ?? "A secret"
            if let ask { lines.append(("\(ask.step): \(ask.use)", .normal)) }
            lines.append(("Kept in memory for this session only: never written, never shown.", .dim))
            lines.append((entry.first == nil ? "Type it, then Enter:" : "Type it again, then Enter:", .bold))
            lines.append(("> " + String(repeating: "*", count: entry.typed.count) + "_", .key))
            if let refusal = entry.refusal {
                lines.append((refusal, .error))
            } else if let rule = ask?.rule, !entry.typed.isEmpty, let problem = rule.problem(entry.typed) {
                lines.append(("not yet: \(problem)", .warn))
            } else if let rule = ask?.rule {
                lines.append((capitalized(rule.requirement) + ".", .dim))
            }
            lines.append(("Enter: accept   Esc: leave it undone (r on the step asks again)", .bold))
        case .offer:
            let offer = s.offer
            title = offer?.question ?? "Run it now?"
            for l in offer?.lines ?? [] { lines.append((l, .normal)) }
            lines.append(("y: review its plan (it asks again before anything stops)", .bold))
            lines.append(("n: not now (r on \(offer?.step.rawValue ?? "it") runs it whenever you want)", .bold))
        case .takeOverLock(let who):
            title = "A wizard that is no longer running left its lock"
            lines.append(("Left by \(who). Make sure that wizard is gone and no other works on these servers.", .warn))
            lines.append(("y: take the lock over and go on   n: leave it", .bold))
        case .quit:
            title = "A run is in progress"
            lines.append(("Stop it at the next safe point (nothing half-done) and quit?", .normal))
            lines.append(("y: stop and quit   n: keep running", .bold))
        case .resume(let ids):
            title = "The last run did not finish"
            let rollingBack = ids.allSatisfy { id in s.steps.first { $0.id == id }?.recorded == .rollbackUnknown }
            if rollingBack {
                lines.append(("It stopped while rolling back \(ids.map(\.rawValue).joined(separator: ", ")): the outcome is unknown (the rollback began and never recorded an end).", .warn))
                lines.append(("c or Enter: finish that rollback (nothing else is started)", .bold))
            } else {
                lines.append(("It stopped during \(ids.map(\.rawValue).joined(separator: ", ")): the outcome is unknown (it began and never recorded an end).", .warn))
                lines.append(("c or Enter: observe what the servers show (reconcile), then continue", .bold))
            }
            lines.append(("u: roll it back    Esc: look around first    q: quit", .bold))
        }
        return (title, lines.flatMap { l in TextWidth.wrap(l.text, inner).map { ($0, l.style) } })
    }

    /// The question in a box from row `top` to the row before `bottom`.
    static func promptBox(_ b: inout ScreenBuffer, _ g: Glyphs, _ q: (title: String, lines: [Line]), top: Int, bottom: Int) {
        let width = b.size.cols - 4
        let inner = width - 4
        let (title, wrapped) = q
        let height = bottom - top
        let left = 2
        for r in top..<(top + height) { b.fill(r, from: left, width: width) }
        b.put(top, left, g.corners.tl + String(repeating: g.horizontal, count: width - 2) + g.corners.tr)
        b.put(top, left + 2, " \(TextWidth.clip(title, width - 6, ellipsis: g.ellipsis)) ", .bold)
        for (i, l) in wrapped.prefix(height - 2).enumerated() {
            b.put(top + 1 + i, left, g.vertical)
            b.put(top + 1 + i, left + 2, l.0, l.1, width: inner)
            b.put(top + 1 + i, left + width - 1, g.vertical)
        }
        b.put(top + height - 1, left, g.corners.bl + String(repeating: g.horizontal, count: width - 2) + g.corners.br)
    }

    // MARK: helpers

    static func wrapIndented(_ text: String, _ width: Int, _ style: Style) -> [Line] {
        let indent = String(text.prefix { $0 == " " })
        let wrapped = TextWidth.wrap(String(text.dropFirst(indent.count)), max(10, width - indent.count - 2))
        return wrapped.enumerated().map { (i, l) in ((i == 0 ? indent : indent + "  ") + l, style) }
    }

    static func statusMark(_ st: RowStatus, _ s: AppState, _ g: Glyphs) -> String {
        switch st {
        case .pending: g.marks.pending
        case .checking, .running, .rollingBack: spinner(s, g)
        case .ready: g.marks.ready
        case .done: g.marks.done
        case .failed: g.marks.failed
        case .unknown: g.marks.unknown
        case .rolledBack: g.marks.rolledBack
        case .skipped: g.marks.skipped
        case .restartOwed: g.marks.restartOwed
        }
    }

    static func statusStyle(_ st: RowStatus) -> Style {
        switch st {
        case .done: .ok
        case .failed, .unknown: .error
        case .ready, .checking, .running, .rollingBack, .restartOwed: .warn
        case .pending: .normal
        case .skipped, .rolledBack: .dim
        }
    }

    static func spinner(_ s: AppState, _ g: Glyphs) -> String {
        g.spinner[Int((s.clock * 8).rounded(.down)) % g.spinner.count]
    }

    public static func duration(_ seconds: Double) -> String {
        let t = max(0, Int(seconds))
        return t < 60 ? "\(t)s" : "\(t / 60)m\(String(format: "%02d", t % 60))s"
    }

    static func capitalized(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
}
