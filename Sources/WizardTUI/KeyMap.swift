import Workflow

/// A key as the screen reads it.
public enum Key: Sendable, Equatable {
    case char(Character)
    case up, down, pageUp, pageDown, home, end, enter, escape, backspace, tab
    case ctrlC
    case resize(TerminalSize)

    /// How help and the hint bar name the key.
    public var label: String {
        switch self {
        case .char(" "): "Space"
        case .char(let c): String(c)
        case .up: "Up"
        case .down: "Down"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .home: "Home"
        case .end: "End"
        case .enter: "Enter"
        case .escape: "Esc"
        case .backspace: "Backspace"
        case .tab: "Tab"
        case .ctrlC: "Ctrl-C"
        case .resize: "resize"
        }
    }
}

/// What a key asks for. Engine events, the clock and resizes arrive as actions too, so every change of
/// state goes through ``Wizard/update(_:_:)``.
public enum Action: Sendable, Equatable {
    case up, down, pageUp, pageDown, top, bottom
    /// Overview: run every pending step (the guided setup). In a question: accept.
    case run
    case back
    /// Run the selected step again (or an opt-in step such as the failover drill).
    case retry
    case rollback
    case rollbackAll
    /// Propose the repair of a network partition the cluster line shows.
    case repairPartition
    case plan
    case log
    case findings
    case summary
    case help
    case quit
    /// Ctrl-C: the first stops at the next safe point, the second aborts.
    case interrupt
    /// Waive (or un-waive) the finding under the cursor.
    case waive
    case filterStep, filterNode
    case yes, no
    case type(Character)
    case erase
    case choose(Choice)
    case engine(EngineEvent)
    case tick(Double)
    case resize(TerminalSize)
}

extension Action {
    /// Engine events, the clock and resizes: not keys.
    var isFromEngine: Bool {
        switch self {
        case .engine, .tick, .resize: true
        default: false
        }
    }
}

/// Key bindings as data: the table drives both the input handling and the help screen.
public enum KeyMap {
    /// Where a binding applies.
    public enum Scope: String, Sendable {
        case everywhere = "anywhere"
        case overview
        case findings = "findings view"
        case log = "log view"
    }

    public struct Binding: Sendable {
        public var keys: [Key]
        public var action: Action
        public var scope: Scope
        public var help: String
    }

    public static let bindings: [Binding] = [
        Binding(keys: [.up, .char("k")], action: .up, scope: .everywhere, help: "move up / scroll up"),
        Binding(keys: [.down, .char("j")], action: .down, scope: .everywhere, help: "move down / scroll down"),
        Binding(keys: [.pageUp], action: .pageUp, scope: .everywhere, help: "page up"),
        Binding(keys: [.pageDown, .char(" ")], action: .pageDown, scope: .everywhere, help: "page down"),
        Binding(keys: [.home, .char("g")], action: .top, scope: .everywhere, help: "first line"),
        Binding(keys: [.end, .char("G")], action: .bottom, scope: .everywhere, help: "last line"),
        Binding(keys: [.enter], action: .run, scope: .overview, help: "run every pending step in order (asks before each change)"),
        Binding(keys: [.char("r")], action: .retry, scope: .everywhere, help: "run the selected step again (retry; also runs the failover drill)"),
        Binding(keys: [.char("u")], action: .rollback, scope: .everywhere, help: "roll back the selected step"),
        Binding(keys: [.char("U")], action: .rollbackAll, scope: .everywhere, help: "roll back every applied step, last first"),
        Binding(keys: [.char("R")], action: .repairPartition, scope: .everywhere,
                help: "repair a network partition: reads every node now, proposes the side to restart, asks first"),
        Binding(keys: [.char("p")], action: .plan, scope: .everywhere, help: "plan: what would change now, with diffs (read-only)"),
        Binding(keys: [.char("f")], action: .findings, scope: .everywhere, help: "findings of the installation checks, by node"),
        Binding(keys: [.char("w")], action: .waive, scope: .findings, help: "waive (or un-waive) the finding under the cursor"),
        Binding(keys: [.enter], action: .run, scope: .findings, help: "run the pending steps again, with the waivers"),
        Binding(keys: [.char("l")], action: .log, scope: .everywhere, help: "the command log of this session"),
        Binding(keys: [.char("s")], action: .filterStep, scope: .log, help: "filter the log by step (cycles)"),
        Binding(keys: [.char("n")], action: .filterNode, scope: .log, help: "filter the log by host (cycles)"),
        Binding(keys: [.char("o")], action: .summary, scope: .everywhere, help: "summary and the OutSystems settings"),
        Binding(keys: [.char("?")], action: .help, scope: .everywhere, help: "this help"),
        Binding(keys: [.escape, .char("b")], action: .back, scope: .everywhere, help: "back to the overview"),
        Binding(keys: [.char("q")], action: .quit, scope: .everywhere, help: "quit (asks while something runs)"),
        Binding(keys: [.ctrlC], action: .interrupt, scope: .everywhere,
                help: "stop at the next safe point; twice: abort now (the step's outcome is then unknown)"),
    ]

    /// The keys that answer "what now?" after a failure.
    public static let choiceKeys: [(key: Character, choice: Choice, label: String, short: String)] = [
        ("r", .retry, "retry", "retry"), ("c", .continue, "continue", "continue"), ("u", .rollbackStep, "roll back this step", "undo step"),
        ("a", .rollbackAll, "roll back everything", "undo all"), ("s", .skip, "skip", "skip"), ("q", .quit, "quit", "quit"),
    ]

    /// The hint bar's words for `actions` in `scope`: each action named by the first key the table binds
    /// to it there, so the bar and the help screen cannot disagree. `[.up, .down]` reads "Up/Down".
    static func hints(_ scope: Scope, _ actions: [(actions: [Action], words: String)]) -> String {
        actions.map { item in
            let keys = item.actions.map { action in
                bindings.first { $0.action == action && ($0.scope == scope || $0.scope == .everywhere) }!.keys[0].label
            }
            return keys.joined(separator: "/") + " " + item.words
        }.joined(separator: "  ")
    }

    static func scope(of view: AppState.View) -> Scope {
        switch view {
        case .overview: .overview
        case .findings: .findings
        case .log: .log
        default: .everywhere
        }
    }

    /// The action a key stands for in this state, or nil when it means nothing here.
    public static func action(for key: Key, in state: AppState) -> Action? {
        if case .resize(let size) = key { return .resize(size) }
        if key == .ctrlC { return .interrupt }
        if state.form != nil { return formAction(key) }
        if let prompt = state.prompt { return promptAction(key, prompt) }
        let scope = scope(of: state.view)
        for b in bindings where b.keys.contains(key) && (b.scope == .everywhere || b.scope == scope) { return b.action }
        return nil
    }

    /// The setup form takes text, so letters type instead of acting.
    static func formAction(_ key: Key) -> Action? {
        switch key {
        case .up: .up
        case .down, .tab: .down
        case .pageUp: .pageUp
        case .pageDown: .pageDown
        case .enter: .run
        case .escape: .back
        case .backspace: .erase
        case .char(let c): .type(c)
        default: nil
        }
    }

    static func promptAction(_ key: Key, _ prompt: Prompt) -> Action? {
        switch prompt {
        case .confirmPlan(_, _?), .confirmRollback(_, _?), .confirmRepair, .secret:
            switch key {
            case .enter: return .yes
            case .escape: return .no
            case .backspace: return .erase
            case .char(let c): return .type(c)
            default: return nil
            }
        case .confirmPlan, .confirmRollback, .quit, .takeOverLock, .offer:
            switch key {
            case .char("y"), .char("Y"): return .yes
            case .char("n"), .char("N"), .escape: return .no
            case .up, .char("k"): return .up
            case .down, .char("j"): return .down
            case .pageUp: return .pageUp
            case .pageDown, .char(" "): return .pageDown
            default: return nil
            }
        case .choose(_, let choices, _):
            if case .char(let c) = key, let hit = choiceKeys.first(where: { $0.key == c && choices.contains($0.choice) }) {
                return .choose(hit.choice)
            }
            // Look around while the question waits: the log, the findings, scrolling; the question stays.
            switch key {
            case .char("l"): return .log
            case .char("f"): return .findings
            case .escape: return .back
            case .up: return .up
            case .down: return .down
            case .pageUp: return .pageUp
            case .pageDown: return .pageDown
            default: return nil
            }
        case .resume:
            switch key {
            case .char("c"), .enter: return .run
            case .char("u"): return .rollback
            case .escape, .char("b"): return .back
            case .char("q"): return .quit
            default: return nil
            }
        }
    }
}
