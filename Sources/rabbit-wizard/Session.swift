import ArgumentParser
import Executor
import Foundation
import Workflow

/// Everything one workflow command needs: the state directory, the executor, the steps and the journal.
struct Session {
    let state: StateDirectory
    let executor: Executor
    let steps: [any Step]
    var secrets: [String: Secret] = [:]

    var order: [StepID] { steps.map(\.id) }
    var journalDirectory: String { state.file("journal") }

    /// Test-only: `RABBIT_WIZARD_CRASH_AT=began:STEP` kills this process with SIGKILL at that boundary;
    /// `RABBIT_WIZARD_PAUSE_AT=POINT` stops it with SIGSTOP there (a test then sends SIGCONT).
    static let crashVariable = "RABBIT_WIZARD_CRASH_AT"
    static let pauseVariable = "RABBIT_WIZARD_PAUSE_AT"

    static func open(_ options: WorkflowOptions, dryRun: Bool = false) throws -> Session {
        let (steps, topologyState) = try StepCatalog.steps(config: options.config)
        var stateOptions = options.state
        if stateOptions.stateDir == nil { stateOptions.stateDir = topologyState }
        let (state, executor) = try stateOptions.open(dryRun: dryRun)
        let secrets = try options.secrets()
        for secret in secrets.values { executor.register(secret: secret) }
        return Session(state: state, executor: executor, steps: steps, secrets: secrets)
    }

    /// The journal folded into step states; a damaged journal is an error with its recovery path.
    func journalState() throws -> JournalState {
        do {
            return JournalState(events: try Journal.readAll(in: journalDirectory).map(\.event))
        } catch {
            throw ErrorPresenter.fail(WorkflowError.journal(error), code: .staleOrDirty)
        }
    }

    func lock(command: String, takeOverStale: Bool) throws -> RunLock {
        do { return try RunLock(stateDirectory: state.path, command: command, takeOverStale: takeOverStale) } catch {
            throw ErrorPresenter.fail(WorkflowError.lock(error), code: .locked)
        }
    }

    func select(_ selection: SelectionOptions) throws -> (run: [StepID], skipped: [StepID]) {
        let optIn = Set(steps.filter { !$0.runsByDefault }.map(\.id))
        do { return try Runner.select(order: order, only: selection.only.map { StepID($0) }, skip: selection.skip.map { StepID($0) }, optIn: optIn) } catch {
            throw ErrorPresenter.fail(error, code: .badInput)
        }
    }

    func context(waived: [String], quiet: Bool = false, journal: Journal? = nil) -> StepContext {
        StepContext(executor: executor, waived: Set(waived), progress: { message in if !quiet { print("  ... \(message)") } },
                    record: { event in
                        try? journal?.append(event)
                        if case .evidence(_, let title, let text) = event, !quiet { print("  \(title):\n" + text) }
                    }, secrets: secrets)
    }

    /// Runs the interpreter under the lock with a new journal file; returns the final state.
    /// A read-only run (`plan`) takes no lock and writes no journal.
    func run(_ initial: RunnerState, command: String, yes: Bool, waived: [String], quiet: Bool = false) async throws -> RunnerState {
        let readOnly = initial.mode == .plan
        let lock = readOnly ? nil : try lock(command: command, takeOverStale: yes)
        defer { lock?.release() }
        let printer = ProgressPrinter(titles: Dictionary(uniqueKeysWithValues: steps.map { ($0.id, $0.title) }))
        let crashAt = ProcessInfo.processInfo.environment[Session.crashVariable]
        let pauseAt = ProcessInfo.processInfo.environment[Session.pauseVariable]
        let crashPoint: @Sendable (String) -> Void = { point in
            if point == crashAt { kill(getpid(), SIGKILL) }
            if point == pauseAt { kill(getpid(), SIGSTOP) }
        }
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
        Interruption.install()
        let interpreter = Interpreter(
            steps: steps, journal: journal, context: context(waived: waived, quiet: quiet, journal: journal), operator: CLIOperator(yes: yes),
            crashPoint: crashPoint,
            observe: { state, event in if !quiet { printer.observe(state, event) } },
            stopRequested: { Interruption.requested })
        let final = await interpreter.run(initial)
        await executor.shutdown()
        return final
    }
}
