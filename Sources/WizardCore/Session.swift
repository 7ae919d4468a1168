import Executor
import Foundation
import RabbitSetup
import Synchronization
import Workflow

/// Everything one workflow command needs: the state directory, the executor, the steps and the journal.
public struct Session: Sendable {
    public let state: StateDirectory
    public let executor: Executor
    public var steps: [any Step]
    /// `STATE/journal`, checked to be a private folder of ours (a symlink there is refused, never followed).
    public let journalDirectory: String
    /// nil for the test-only file steps.
    public var topology: Topology?
    public var configPath: String?
    public var secrets: [String: Secret] = [:]
    /// How much of its own leftovers a run keeps (``housekeeping(progress:)``).
    public var retention: Retention = .standard

    public var order: [StepID] { steps.map(\.id) }

    /// Opens a session: the topology and its steps, the state directory and its journal folder, an executor
    /// (`executor`, or one of the state directory's) that knows the secrets. With `notices`, the executor's
    /// notices go to stderr (the screen shows them itself). A topology with Windows nodes is looked at
    /// first (read-only: where RabbitMQ is on each, which the `windows` profile's paths come from), so the
    /// steps are built on what the servers show. Bad input throws before any command runs.
    public static func open(_ options: SessionOptions, executor given: Executor? = nil) async throws -> Session {
        var (steps, topologyState, topology) = try StepCatalog.steps(config: options.config)
        if let drill = options.drill, var t = topology {
            t.drill = drill
            (topology, steps) = (t, StepCatalog.steps(for: t))
        }
        // A waiver that names no finding would silently waive nothing: refused before anything runs.
        do { try Waivers.check(options.waive, against: steps) } catch { throw ErrorPresenter.fail(error, code: .badInput) }
        let state = try openState(options.stateDir ?? topologyState)
        let executor = try given ?? makeExecutor(state, identity: options.identity, dryRun: options.dryRun)
        let journal: String
        do { journal = try state.folder("journal") } catch { throw ErrorPresenter.fail(error, code: .badInput) }
        for secret in options.secrets.values { executor.register(secret: secret) }
        if options.notices {
            executor.subscribe { event in
                if case .notice(let text) = event { FileHandle.standardError.write(Data("note: \(text)\n".utf8)) }
            }
        }
        let session = Session(state: state, executor: executor, steps: steps, journalDirectory: journal, topology: topology,
                              configPath: options.config, secrets: options.secrets)
        return await session.rediscovered() ?? session
    }

    /// The state directory (nil: the default), created private when missing, refused when unsafe.
    public static func openState(_ path: String?) throws -> StateDirectory {
        do { return try StateDirectory(path: path) } catch { throw ErrorPresenter.fail(error, code: .badInput) }
    }

    /// An executor that logs in `state` and reaches `ssh://` targets with `identity`.
    public static func makeExecutor(_ state: StateDirectory, identity: String?, dryRun: Bool) throws -> Executor {
        do { return try Executor(state: state, identityFile: identity, dryRun: dryRun) } catch { throw ErrorPresenter.fail(error, code: .badInput) }
    }

    /// The same session with its Windows nodes looked at where no look has succeeded yet (at its opening;
    /// and the screen's session spans many runs: a server that was down, a host key enrolled since); nil
    /// when every look succeeded, or there is no Windows node.
    public func rediscovered() async -> Session? {
        guard let t = topology, t.hasUnknownLayouts else { return nil }
        var s = self
        let found = await t.discovered(executor: executor)
        s.topology = found
        s.steps = StepCatalog.steps(for: found)
        return s
    }

    /// The journal folded into step states; a damaged journal is an error with its recovery path.
    public func journalState() throws -> JournalState {
        do {
            return JournalState(events: try Journal.readAll(in: journalDirectory).map(\.event))
        } catch {
            throw ErrorPresenter.fail(WorkflowError.journal(error), code: .staleOrDirty)
        }
    }

    /// The state folder's lock, then (with a topology) the cluster's on the seed's server: one wizard per
    /// state folder and per cluster. Release them with ``RunLocks/release(progress:)``.
    public func lock(command: String, takeOverStale: Bool, progress: @escaping @Sendable (String) -> Void) async throws -> RunLocks {
        let local: RunLock
        do { local = try RunLock(stateDirectory: state.path, command: command, takeOverStale: takeOverStale) } catch {
            // A lock that cannot be opened (a symlink planted at its path) is a problem to fix, not a holder.
            let code: ErrorPresenter.Code = if case .cannotOpen = error { .badInput } else { .locked }
            throw ErrorPresenter.fail(WorkflowError.lock(error), code: code)
        }
        guard let topology else { return RunLocks(local: local, cluster: nil) }
        do {
            let cluster = try await ClusterLock.take(topology, executor: executor, command: command, stateDirectory: state.path,
                                                     takeOverStale: takeOverStale, progress: progress)
            return RunLocks(local: local, cluster: cluster)
        } catch {
            local.release()
            throw ErrorPresenter.fail(error, code: ErrorPresenter.code(error))
        }
    }

    /// What a command that changes servers holds while it runs.
    public struct RunLocks: Sendable {
        public let local: RunLock
        public let cluster: ClusterLock?

        /// Why the run lost its cluster lock (taken over by another wizard), or nil.
        public var lost: String? { cluster?.lost }

        public func release(progress: (String) -> Void) async {
            if let note = await cluster?.release() { progress(note) }
            local.release()
        }
    }

    public func select(only: [String], skip: [String]) throws -> (run: [StepID], skipped: [StepID]) {
        do { return try Runner.select(steps, only: only.map { StepID($0) }, skip: skip.map { StepID($0) }) } catch {
            throw ErrorPresenter.fail(error, code: .badInput)
        }
    }

    /// What a run reports and asks, and how it is stopped: the CLI prints and prompts, the TUI posts
    /// events to the screen.
    public struct RunHooks: Sendable {
        public var answerer: any Operator
        public var observe: @Sendable (RunnerState, RunnerEvent) -> Void
        public var progress: @Sendable (String) -> Void
        public var evidence: @Sendable (StepID, String, String) -> Void
        public var stopRequested: @Sendable () -> Bool
        public var takeOverStaleLock: Bool
        /// Whether the run ends with the executor's ``Executor/shutdown()`` (node connections and shared
        /// ssh connections closed). The screen keeps them for its next look and closes them when it quits.
        public var closesConnections = true

        public init(answerer: any Operator, observe: @escaping @Sendable (RunnerState, RunnerEvent) -> Void,
                    progress: @escaping @Sendable (String) -> Void, evidence: @escaping @Sendable (StepID, String, String) -> Void,
                    stopRequested: @escaping @Sendable () -> Bool, takeOverStaleLock: Bool, closesConnections: Bool = true)
        {
            self.answerer = answerer
            self.observe = observe
            self.progress = progress
            self.evidence = evidence
            self.stopRequested = stopRequested
            self.takeOverStaleLock = takeOverStaleLock
            self.closesConnections = closesConnections
        }
    }

    /// What a step of this session gets. With a journal, each note a step makes is written to it before the
    /// step goes on, or the step fails: a restart is journaled as owed before the node is stopped, or the
    /// node is not stopped (a full disk stops the run there, saying why). `crashPoint` is the tests' hook at
    /// the owed-restart boundary (`restart-owed:NODE`, just before the note is written).
    ///
    /// The restarts owed (``StepContext/pendingRestarts``) are the journal's, from every run's file (one owed by
    /// an earlier, interrupted run counts too), read once when first asked and then kept up to date in memory
    /// with the notes this context writes: while a run holds its locks nothing else writes them.
    public func context(waived: [String], journal: Journal? = nil, progress: @escaping @Sendable (String) -> Void = { _ in },
                 evidence: @escaping @Sendable (StepID, String, String) -> Void = { _, _, _ in },
                 crashPoint: @escaping @Sendable (String) -> Void = { _ in }) -> StepContext
    {
        let known = Mutex<JournalState?>(nil)
        return StepContext(executor: executor, waived: Set(waived), progress: progress,
                    record: { event throws(StepFailure) in
                        if case .restartPending(let node, _, _) = event { crashPoint("restart-owed:\(node)") }
                        do throws(JournalProblem) { try journal?.append(event) } catch {
                            let what = if case .restartPending(let node, _, _) = event { "the restart of \(node) owed before it is stopped; it was not stopped" }
                                else { "a note of the run" }
                            throw StepFailure("cannot write the journal (\(error.cause)), which was to record \(what)",
                                              fix: "free space or fix the state folder's permissions, then run the same command again")
                        }
                        known.withLock { state in state?.apply(event) }
                        if case .evidence(let step, let title, let text) = event { evidence(step, title, text) }
                    }, secrets: secrets,
                    pendingRestarts: { [self] in
                        known.withLock { state in
                            if state == nil { state = try? journalState() }
                            return state?.pendingRestarts ?? [:]
                        }
                    })
    }

    /// What ``observe(_:_:)`` says of a step whose plan is empty and whose verification passed.
    public static let verifiedWords = "up to date (verified)"
    /// What it says before the reason when the plan is empty and the verification failed.
    public static let unverifiedWords = "plan empty but not verified: "

    /// What one step shows now, read-only: its plan, and whether an empty plan verifies (`status`, the TUI).
    /// Call it inside one look (``Observations/run(reusing:_:)`` with reuse, as `status` and the screen do):
    /// nothing changes in a look, so its plan and verification reuse what the look already saw.
    public func observe(_ step: any Step, _ context: StepContext) async -> (live: String, pendingChanges: Int?) {
        do {
            let plan = try await step.plan(context)
            guard plan.isEmpty else { return ("\(plan.changes.count) change(s) pending", plan.changes.count) }
            if let unchecked = plan.unchecked { return (unchecked, 0) }
            do {
                try await step.verify(context)
                let owed = context.pendingRestarts().filter { $0.value.owners.contains(step.id) }.keys.sorted()
                if !owed.isEmpty {
                    return ("in place; takes effect at the restart round (restart owed on \(owed.joined(separator: ", ")))", 0)
                }
                return (Self.verifiedWords, 0)
            } catch { return (Self.unverifiedWords + PlanText.failure(error), 0) }
        } catch {
            return ("cannot observe: \(PlanText.failure(error))", nil)
        }
    }

    /// Runs the interpreter under the lock with a new journal file; returns the final state.
    /// A read-only run (`plan`) takes no lock and writes no journal.
    public func run(_ initial: RunnerState, command: String, waived: [String], hooks: RunHooks) async throws -> RunnerState {
        let readOnly = initial.mode == .plan
        let locks = readOnly ? nil : try await lock(command: command, takeOverStale: hooks.takeOverStaleLock, progress: hooks.progress)
        let final: RunnerState
        do {
            final = try await run(initial, command: command, waived: waived, hooks: hooks, locks: locks)
        } catch {
            await locks?.release(progress: hooks.progress)
            throw error
        }
        await locks?.release(progress: hooks.progress)
        if hooks.closesConnections { await executor.shutdown() }
        return final
    }

    private func run(_ initial: RunnerState, command: String, waived: [String], hooks: RunHooks, locks: RunLocks?) async throws -> RunnerState {
        let readOnly = initial.mode == .plan
        let crashPoint = TestHooks.boundaryPoint()
        // Commands an aborted run left running (own sessions, by design) end before this run looks at
        // anything: a restart still under way would otherwise meet this run's own.
        await executor.inFlight?.wait(progress: hooks.progress)
        var journal: Journal?
        if !readOnly {
            do {
                journal = try Journal(directory: journalDirectory)
                try journal?.append(.runStarted(command: command, pid: getpid(), host: ProcessInfo.processInfo.hostName))
                crashPoint("run-started:-")
            } catch {
                throw ErrorPresenter.fail(WorkflowError.journal(error), code: .staleOrDirty)
            }
        }
        // A run whose cluster lock another wizard took over stops at the next safe point, as on Ctrl-C.
        let stopRequested: @Sendable () -> Bool = { hooks.stopRequested() || locks?.lost != nil }
        let interpreter = Interpreter(
            steps: steps, journal: journal,
            context: context(waived: waived, journal: journal, progress: hooks.progress, evidence: hooks.evidence, crashPoint: crashPoint),
            operator: hooks.answerer, crashPoint: crashPoint, observe: hooks.observe, stopRequested: stopRequested)
        // One run, one set of observations: a step's plan reuses what the steps before saw, until
        // something changes a server.
        let final = await Observations.run { await interpreter.run(initial) }
        // Housekeeping decides from the journal and is recorded in the command log: not after either failed.
        let unrecorded = if case .journalFailed = final.outcome { true } else { executor.logFailure != nil }
        if journal != nil && !stopRequested() && !unrecorded { await housekeeping(progress: hooks.progress) }
        return final
    }

    /// After a run that may have added files (apply, retry, rollback), under its lock: the journal's old
    /// run files and the servers' old backups and definitions exports pruned to ``retention``, never one
    /// the journal's undo data still names. Says what it removed or could not look at; never fails the run.
    public func housekeeping(progress: @Sendable (String) -> Void) async {
        let pruned = Journal.prune(in: journalDirectory, keepNewest: retention.journalRuns)
        if !pruned.removed.isEmpty { progress("housekeeping: removed \(pruned.removed.count) old journal run file(s) that no step needs any more") }
        guard let topology else { return }
        guard let needed = pruned.state?.undoTexts else {
            progress("housekeeping: old backups left on the servers: the journal's undo data cannot be read, so none is known to be unneeded")
            return
        }
        for report in await Housekeeping.sweep(topology, executor: executor, retention: retention, needed: needed) {
            if let problem = report.problem {
                progress("housekeeping: could not look at the backups on \(report.server): \(problem)")
            } else if !report.removed.isEmpty {
                progress("housekeeping: removed \(report.removed.count) old backup(s) on \(report.server); "
                         + "\(report.files) file(s) kept (\(Bytes.words(report.bytes)))")
            }
        }
    }
}

/// What opening a session takes, as the front ends give it (the CLI from its options).
public struct SessionOptions: Sendable {
    /// The topology file; nil only with the tests' file steps.
    public var config: String?
    /// The state directory; nil: the topology's `state_dir`, else the default.
    public var stateDir: String?
    /// The ssh private key for `ssh://` targets.
    public var identity: String?
    /// Findings that do not block (`all` waives every one).
    public var waive: [String]
    /// Secrets by the name the steps know them by (read by the front end from a file or stdin).
    public var secrets: [String: Secret]
    /// How the failover drill runs (nil: its defaults).
    public var drill: DrillSettings?
    /// Only commands that change nothing run.
    public var dryRun: Bool
    /// The executor's notices go to stderr.
    public var notices: Bool

    public init(config: String?, stateDir: String? = nil, identity: String? = nil, waive: [String] = [], secrets: [String: Secret] = [:],
                drill: DrillSettings? = nil, dryRun: Bool = false, notices: Bool = true)
    {
        self.drill = drill
        self.config = config
        self.stateDir = stateDir
        self.identity = identity
        self.waive = waive
        self.secrets = secrets
        self.dryRun = dryRun
        self.notices = notices
    }
}
