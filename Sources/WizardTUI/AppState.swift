import Workflow

/// Where a step stands on screen. Besides the journal's states, a step can be `checking` (its checks and
/// plan run now), `ready` (a plan with changes waits) or `running`.
public enum RowStatus: String, Sendable, Equatable, CaseIterable {
    case pending, checking, ready, running, done, failed, unknown
    case rollingBack = "rolling back"
    case rolledBack = "rolled back"
    case skipped
    /// Applied; takes effect at a restart another step makes.
    case restartOwed = "restart owed"

    init(_ s: StepStatus) {
        switch s {
        case .pending: self = .pending
        case .applied, .unknown: self = .unknown
        case .done: self = .done
        case .failed: self = .failed
        case .rollbackUnknown: self = .unknown
        case .rolledBack: self = .rolledBack
        case .skipped: self = .skipped
        case .awaitingRestart: self = .restartOwed
        }
    }
}

public struct StepRow: Sendable, Equatable {
    public var info: StepInfo
    public var status: RowStatus
    /// The recorded state, as the journal has it (rollback needs it).
    public var recorded: StepStatus
    /// Whether the journal holds undo data for changes the step made.
    public var undoable: Bool

    public var id: StepID { info.id }
}

/// A question on screen. While one is open, keys answer it.
public enum Prompt: Sendable, Equatable {
    /// Apply this step's plan? `typed` collects the step id when the plan destroys something.
    case confirmPlan(StepID, typed: String?)
    /// After a failure (or an interrupted step that is not done): what now?
    case choose(StepID, [Choice], StepFailure?)
    /// Roll these back (in this order)? `typed` when a rollback itself destroys something.
    case confirmRollback([StepID], typed: String?)
    /// A run is going on: stop it at the next safe point and quit?
    case quit
    /// The wizard opened on a journal whose run stopped in the middle of these steps.
    case resume([StepID])
    /// A wizard that is no longer running left its lock: take it over?
    case takeOverLock(String)
    /// Restart the losing side of a network partition? Always typed (`restart`).
    case confirmRepair(RepairProposal, typed: String)
    /// The secret ``AppState/secret`` names, typed twice, shown masked.
    case secret(SecretEntry)
    /// Run the offered opt-in step (``AppState/offer``) now?
    case offer
}

/// A secret being typed: the first typing once Enter took it, the current one, and why the last Enter was
/// refused. Lives in memory only; the screen shows its length as `*`, never a character of it.
public struct SecretEntry: Sendable, Equatable {
    public var typed = ""
    public var first: String?
    public var refusal: String?
    public init() {}

    /// What Enter does with the current typing under `rule`.
    public enum Outcome: Equatable { case refused, again, accepted(String) }

    public mutating func enter(_ rule: SecretRule) -> Outcome {
        if let problem = rule.problem(typed) {
            refusal = "not taken: \(problem)"
            return .refused
        }
        guard let first else {
            self.first = typed
            typed = ""
            refusal = nil
            return .again
        }
        guard first == typed else {
            self = SecretEntry()
            refusal = "the two typings differ: type it again, twice"
            return .refused
        }
        return .accepted(typed)
    }
}

/// One line of the live output pane.
public struct OutputLine: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case command, output, progress, failure, note }
    public var kind: Kind
    public var text: String
    public init(kind: Kind, text: String) {
        self.kind = kind
        self.text = text
    }
}

/// The work going on now, for the running pane.
public struct Activity: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case observing, planning, applying, repairing
        case rollingBack = "rolling back"
    }
    public var kind: Kind
    public var startedAt: Double
    public var step: StepID?
    /// The steps the run was asked for (nil: every default step, the guided run).
    public var only: [StepID]?
    /// A command running now: where, what, since when.
    public struct Running: Sendable, Equatable {
        public var target: String
        public var line: String
        public var startedAt: Double
    }
    /// The commands running now, oldest first.
    public var running: [Running] = []
    /// The command shown: the newest of those running.
    public var command: Running? { running.last }
    /// What the step is waiting for (a node to start...).
    public var waitingFor: String?
    /// Ctrl-C was pressed once: the run stops at the next safe point.
    public var stopping = false
}

/// The whole screen's state: a value, changed only by ``Wizard/update(_:_:)``.
public struct AppState: Sendable, Equatable {
    public enum View: String, Sendable, Equatable { case setup, overview, findings, plan, log, help, summary }

    public var label = "opening"
    public var steps: [StepRow] = []
    public var selected = 0
    public var view: View = .overview
    public var prompt: Prompt?
    /// The first-time setup form, while there is no topology file.
    public var form: SetupForm?
    public var activity: Activity?
    /// The last lines streamed by commands and steps (at most ``outputLimit``).
    public var output: [OutputLine] = []
    /// Every finished command of this session, for the log view.
    public var commands: [CommandSummary] = []
    public var logStep: StepID?
    public var logNode: String?
    /// Scroll offset of the plan, findings, log and help views.
    public var scroll = 0
    /// The finding the cursor is on in the findings view (for waiving).
    public var findingCursor = 0
    public var findings: [StepID: [Finding]] = [:]
    public var plans: [StepID: Plan] = [:]
    public var failures: [StepID: StepFailure] = [:]
    /// What observation found for each step (`up to date (verified)`, `3 change(s) pending`).
    public var live: [StepID: String] = [:]
    /// The cluster as every node saw it at the last observation (nil before the first, or without a topology).
    public var cluster: ClusterLine?
    public var waived: Set<String> = []
    public var evidence: [EvidenceItem] = []
    public var handoff: [HandoffValue] = []
    /// The secret a step needs, which the screen asks for (from the engine).
    public var secret: SecretAsk?
    /// Esc on the secret's question: not asked again by itself in this session (r on its step asks).
    public var secretDeclined = false
    /// The secret was typed on this screen (not given by a file on the command line).
    public var secretTyped = false
    /// The opt-in step offered once the default steps are done, and whether it was offered this session.
    public var offer: StepOffer?
    public var offered = false
    /// The last outcome or notice, in words; `ok` chooses its colour.
    public var message: (text: String, ok: Bool)?
    /// Seconds on a monotonic clock (``Action/tick(_:)``): elapsed times and the spinner come from it.
    public var clock: Double = 0
    /// Ctrl-C presses during the current run.
    public var interrupts = 0
    /// Quit once the current run has stopped.
    public var quitWhenIdle = false
    /// Set when the program should end, with its exit status; `abort` ends at once (second Ctrl-C).
    public var exit: (code: Int32, abort: Bool)?

    public static let outputLimit = 2000

    public init() {}

    /// A run (plan, apply, rollback) is going on. Observation does not count: a run may start over it.
    public var busy: Bool { activity != nil && activity?.kind != .observing }
    public var selectedStep: StepRow? { steps.indices.contains(selected) ? steps[selected] : nil }

    public static func == (a: AppState, b: AppState) -> Bool {
        a.form == b.form && a.label == b.label && a.steps == b.steps && a.selected == b.selected && a.view == b.view && a.prompt == b.prompt
            && a.activity == b.activity && a.output == b.output && a.commands == b.commands && a.logStep == b.logStep
            && a.logNode == b.logNode && a.scroll == b.scroll && a.findingCursor == b.findingCursor && a.findings == b.findings
            && a.plans == b.plans && a.failures == b.failures && a.live == b.live && a.waived == b.waived
            && a.evidence == b.evidence && a.handoff == b.handoff && a.secret == b.secret && a.secretDeclined == b.secretDeclined && a.secretTyped == b.secretTyped
            && a.offer == b.offer && a.offered == b.offered && a.message?.text == b.message?.text
            && a.message?.ok == b.message?.ok && a.clock == b.clock && a.interrupts == b.interrupts
            && a.quitWhenIdle == b.quitWhenIdle && a.exit?.code == b.exit?.code && a.exit?.abort == b.exit?.abort
    }

    /// Findings of every step, grouped as the findings view shows them: by node, errors first.
    public var allFindings: [(step: StepID, finding: Finding)] {
        let flat = steps.flatMap { row in (findings[row.id] ?? []).map { (step: row.id, finding: $0) } }
        return flat.enumerated().sorted { x, y in
            let (a, b) = (x.element.finding, y.element.finding)
            if (a.node ?? "") != (b.node ?? "") { return (a.node ?? "") < (b.node ?? "") }
            if a.severity != b.severity { return a.severity < b.severity }
            return x.offset < y.offset
        }.map(\.element)
    }

    /// Commands shown by the log view under its filters.
    public var filteredCommands: [CommandSummary] {
        commands.filter { c in (logStep == nil || c.step == logStep) && (logNode == nil || c.target == logNode) }
    }

    mutating func say(_ kind: OutputLine.Kind, _ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) { output.append(OutputLine(kind: kind, text: String(line))) }
        if output.count > AppState.outputLimit { output.removeFirst(output.count - AppState.outputLimit) }
    }
}

public struct EvidenceItem: Sendable, Equatable {
    public var step: StepID
    public var title: String
    public var text: String
    public init(step: StepID, title: String, text: String) {
        self.step = step
        self.title = title
        self.text = text
    }
}

/// One value the OutSystems Configuration Tool asks for.
public struct HandoffValue: Sendable, Equatable {
    public var label: String
    public var value: String
    public init(_ label: String, _ value: String) {
        self.label = label
        self.value = value
    }
}
