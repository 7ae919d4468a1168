import Workflow

/// The seam between the screen and the work. The TUI never calls the executor or a step itself: it sends
/// requests, and the engine (built by the executable from the topology) posts events back. Long work runs
/// off the input loop; everything it reports arrives as ``EngineEvent`` values.
public protocol WizardEngine: Sendable {
    /// Starts the engine; `events` may be called from any thread, at any time, until the process ends.
    func start(events: @escaping @Sendable (EngineEvent) -> Void)
    func perform(_ request: EngineRequest)
}

/// What the screen asks for.
public enum EngineRequest: Sendable, Equatable {
    /// Read the journal and observe every step now (read-only).
    case observe
    /// Check and plan every default step (read-only).
    case plan(waived: Set<String>)
    /// Apply: the given steps, or every default step when nil; interrupted steps are reconciled first.
    case apply(only: [StepID]?, waived: Set<String>)
    /// Roll back these steps, in this order.
    case rollback([StepID])
    /// The answer to ``EngineEvent/confirm(_:_:)``.
    case confirm(Bool)
    /// The answer to ``EngineEvent/choose(_:_:_:)``.
    case choose(Choice)
    /// First Ctrl-C: stop at the next safe point.
    case stop
    /// Check the setup form's values (the topology file's field paths to values) as a topology.
    case validate([String: String], nodes: Int)
    /// Write the topology file from the setup form's values, then open it.
    case save([String: String], nodes: Int, path: String)
    /// The operator checked that the wizard named by ``EngineEvent/staleLock(_:)`` is gone: take its lock
    /// over and run the refused request again.
    case takeOverStaleLock
    /// Read every node and propose how to repair a network partition (read-only): answered by
    /// ``EngineEvent/repairProposal(_:)``, or `finished` when there is nothing to repair.
    case proposeRepair
    /// Restart these nodes (the proposal's: their services all stopped, then started), then verify the cluster is whole.
    case repair(restart: [String])
    /// The secret ``EngineSnapshot/secret`` asks for, typed on the screen (twice, matching, within its rule):
    /// kept in the session's memory for the steps that need it, never written; answered by ``EngineEvent/handoff(_:)``.
    case giveSecret([UInt8])
}

/// A secret a step needs that the screen may ask for (the OutSystems user's password for the hand-off).
public struct SecretAsk: Sendable, Equatable {
    public var step: StepID
    /// What it is, as the question's title: "Password of the OutSystems user admin".
    public var what: String
    /// What the step does with it, in one sentence.
    public var use: String
    public var rule: SecretRule
    /// Given already: a file named on the command line, or typed earlier in this session.
    public var given: Bool

    public init(step: StepID, what: String, use: String, rule: SecretRule, given: Bool) {
        self.step = step
        self.what = what
        self.use = use
        self.rule = rule
        self.given = given
    }
}

/// An opt-in step the screen offers once the default steps are done (the failover drill), with what it
/// does and how long it takes, in lines.
public struct StepOffer: Sendable, Equatable {
    public var step: StepID
    public var question: String
    public var lines: [String]

    public init(step: StepID, question: String, lines: [String]) {
        self.step = step
        self.question = question
        self.lines = lines
    }
}

/// How the guided repair would end a network partition, for the screen to ask with.
public struct RepairProposal: Sendable, Equatable {
    public var keep: [String]
    public var restart: [String]
    public var rule: String
    /// Each node's own view.
    public var evidence: [String]
    /// `restart` are only started: a repair that was cut off stopped them.
    public var startOnly: Bool

    public init(keep: [String], restart: [String], rule: String, evidence: [String], startOnly: Bool = false) {
        self.keep = keep
        self.restart = restart
        self.rule = rule
        self.evidence = evidence
        self.startOnly = startOnly
    }
}

/// A step as the screen needs to know it.
public struct StepInfo: Sendable, Equatable {
    public var id: StepID
    public var title: String
    public var runsByDefault: Bool
    public var rollbackScope: RollbackScope

    public init(id: StepID, title: String, runsByDefault: Bool = true, rollbackScope: RollbackScope = .complete) {
        self.id = id
        self.title = title
        self.runsByDefault = runsByDefault
        self.rollbackScope = rollbackScope
    }
}

/// What the journal says when the wizard opens.
public struct EngineSnapshot: Sendable, Equatable {
    /// Shown in the title bar: the topology file, and what it describes.
    public var label: String
    public var steps: [StepInfo]
    public var journal: JournalState
    /// Steps a previous run left without a recorded end.
    public var interrupted: [StepID]
    /// What to type into the OutSystems Configuration Tool once the cluster is up.
    public var handoff: [HandoffValue]
    /// The command log so far (earlier runs included), oldest first, for the log view.
    public var history: [CommandSummary]
    /// The secret a step needs, which the screen asks for when that step is the one left (nil: none).
    public var secret: SecretAsk?
    /// The opt-in step offered once the default steps are done (nil: none).
    public var offer: StepOffer?

    public init(label: String, steps: [StepInfo], journal: JournalState = JournalState(), interrupted: [StepID] = [],
                handoff: [HandoffValue] = [], history: [CommandSummary] = [], secret: SecretAsk? = nil, offer: StepOffer? = nil)
    {
        self.history = history
        self.secret = secret
        self.offer = offer
        self.label = label
        self.steps = steps
        self.journal = journal
        self.interrupted = interrupted
        self.handoff = handoff
    }
}

/// What the engine reports.
public enum EngineEvent: Sendable, Equatable {
    /// There is no topology file yet: the setup form writes one at `path`, offering what the engine knows.
    case setup(path: String, choices: SetupForm.Choices)
    /// What is wrong with the setup form's values (empty: nothing).
    case validated([SetupForm.Problem])
    /// The topology file was written; `opened` follows.
    case saved(path: String)
    case opened(EngineSnapshot)
    /// A live observation of one step (from ``EngineRequest/observe``).
    case observed(StepID, live: String, pendingChanges: Int?)
    /// The cluster as every node reports it (the line `status` ends with), from each observation.
    case cluster(ClusterLine)
    case observeFinished
    /// The runner moved: its state after `event`.
    case runner(RunnerState, RunnerEvent)
    /// What a step is waiting for ("waiting for rabbit-b@localhost to start").
    case progress(String)
    case commandStarted(step: StepID?, target: String, argv: [String], mutates: Bool)
    /// One line of output of a running command that changes something, already scrubbed of secrets.
    case output(String)
    case commandFinished(CommandSummary)
    case evidence(StepID, title: String, text: String)
    /// The runner asks: apply this plan?
    case confirm(StepID, Plan)
    /// The runner asks: what now, after a failure or an interrupted step?
    case choose(StepID, [Choice], StepFailure?)
    /// The run ended; `message` is the outcome in words (from the one error presenter).
    case finished(message: String, ok: Bool)
    /// A run could not start (the lock is held, the journal is damaged); nothing was changed.
    case refused(String)
    /// A run could not start: a wizard that is no longer running left its lock (who, in words).
    case staleLock(String)
    /// The guided repair's proposal, to confirm (typed) before anything restarts.
    case repairProposal(RepairProposal)
    /// The hand-off's values again, after ``EngineRequest/giveSecret(_:)`` (the password now "set; not shown").
    case handoff([HandoffValue])
}

/// A finished command for the log view.
/// The cluster as every node reports it: the verdict and the words of `status`'s `cluster:` line.
public struct ClusterLine: Sendable, Equatable {
    public enum Health: Sendable, Equatable { case healthy, degraded, partitioned, separate }
    public var health: Health
    public var text: String
    /// The load balancer in the words of `status`'s `load balancer:` line (whose it is; a pair's hosts with
    /// their VRRP states); nil without one.
    public var loadBalancer: String?

    public init(health: Health, text: String, loadBalancer: String? = nil) {
        self.health = health
        self.text = text
        self.loadBalancer = loadBalancer
    }
}

public struct CommandSummary: Sendable, Equatable {
    public var step: StepID?
    public var target: String
    public var argv: [String]
    public var mutates: Bool
    public var exit: String
    public var ok: Bool
    public var seconds: Double

    public init(step: StepID?, target: String, argv: [String], mutates: Bool, exit: String, ok: Bool, seconds: Double) {
        self.step = step
        self.target = target
        self.argv = argv
        self.mutates = mutates
        self.exit = exit
        self.ok = ok
        self.seconds = seconds
    }
}

/// Command lines as the screen shows them: a `sh -c SCRIPT NAME ARGS` (how remote and file commands run)
/// becomes the script's first line and the arguments, on one line.
public enum CommandText {
    public static func brief(_ argv: [String]) -> String {
        if argv.count >= 3, argv[0].hasSuffix("sh"), argv[1] == "-c" {
            let lines = argv[2].split(separator: "\n")
            let first = lines.first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
            let more = lines.count > 1 ? " ...(\(lines.count) lines)" : ""
            return (["sh -c '\(first)\(more)'"] + argv.dropFirst(4)).joined(separator: " ")
        }
        return argv.joined(separator: " ")
    }
}
