import Executor
import Synchronization

/// Performs the runner's effects: calls the steps, writes the journal, waits out back-offs, asks the
/// operator. All decisions stay in ``Runner/reduce(_:_:)``.
public final class Interpreter: Sendable {
    let steps: [StepID: any Step]
    let journal: Journal?
    let context: StepContext
    let answerer: any Operator
    let crashPoint: @Sendable (String) -> Void
    let observe: @Sendable (RunnerState, RunnerEvent) -> Void
    let stopRequested: @Sendable () -> Bool
    let notes: Notes

    /// - Parameters:
    ///   - journal: nil for read-only runs (`plan`), which record nothing.
    ///   - crashPoint: called after every journal write (`began:STEP`, `applied:STEP`, ...) and when
    ///     `apply` returned (`apply-returned:STEP`); tests use it to kill the process at each boundary.
    ///   - observe: sees every state after each event (the TUI's feed).
    ///   - stopRequested: polled at safe points (before a step starts, before it changes anything, before
    ///     a rollback); when it says yes the run ends there, nothing half-done (Ctrl-C).
    public init(steps: [any Step], journal: Journal?, context: StepContext, operator answerer: any Operator,
                crashPoint: @escaping @Sendable (String) -> Void = { _ in },
                observe: @escaping @Sendable (RunnerState, RunnerEvent) -> Void = { _, _ in },
                stopRequested: @escaping @Sendable () -> Bool = { false })
    {
        self.steps = Dictionary(uniqueKeysWithValues: steps.map { ($0.id, $0) })
        self.journal = journal
        // What steps note while they work (restarts owed and done) reaches the runner too, not only the journal.
        let notes = Notes()
        self.notes = notes
        self.context = StepContext(executor: context.executor, waived: context.waived, progress: context.progress,
                                   record: { event throws(StepFailure) in
                                       try context.record(event)
                                       notes.events.withLock { $0.append(event) }
                                   }, secrets: context.secrets, pendingRestarts: context.pendingRestarts)
        self.answerer = answerer
        self.crashPoint = crashPoint
        self.observe = observe
        self.stopRequested = stopRequested
    }

    /// Effects before which stopping leaves nothing half-done.
    static func safePoint(_ effect: RunnerEffect) -> StepID? {
        switch effect {
        case .check(let s), .prepare(let s, _), .rollback(let s, _), .reconcile(let s): s
        default: nil
        }
    }

    /// Runs until the runner finishes; returns the final state (its `outcome` is set).
    public func run(_ initial: RunnerState) async -> RunnerState {
        var state = initial
        var pending: [RunnerEvent] = [.start]
        var lastFailure: StepFailure?
        while !pending.isEmpty {
            let event = pending.removeFirst()
            if case .failed(_, let f, _) = event { lastFailure = f }
            let (next, effects) = Runner.reduce(state, event)
            state = next
            observe(state, event)
            for effect in effects {
                if case .finish = effect {
                    // A run that ended well but ran a command without its record did not end well.
                    if let problem = context.executor.logFailure, state.outcome?.succeeded == true {
                        state = Runner.reduce(state, .commandLogFailed(problem)).0
                    }
                    return state
                }
                if let next = Interpreter.safePoint(effect) {
                    // A command ran without its record: stop before the next step starts or changes anything.
                    if let problem = context.executor.logFailure {
                        pending = [.commandLogFailed(problem)]
                        break
                    }
                    if stopRequested() {
                        pending = [.interrupt(next: next)]
                        break
                    }
                }
                let produced = await perform(effect, lastFailure: lastFailure)
                pending += notes.events.withLock { noted in
                    defer { noted = [] }
                    return noted.map(RunnerEvent.noted)
                }
                if let produced {
                    pending.append(produced)
                    if case .journalFailed = produced { break }
                }
            }
        }
        return state
    }

    func perform(_ effect: RunnerEffect, lastFailure: StepFailure?) async -> RunnerEvent? {
        switch effect {
        case .journal(let event):
            guard let journal else { return nil }
            do { try journal.append(event) } catch { return .journalFailed(error) }
            crashPoint("\(event.name):\(event.step?.rawValue ?? "-")")
            return nil
        case .reconcile(let id):
            let step = steps[id]!
            do {
                let plan = try await Interpreter.looking { () async throws(StepFailure) in try await step.plan(context) }
                guard plan.isEmpty else {
                    return .reconciled(id, done: false, detail: "\(plan.changes.count) change(s) still to make")
                }
                try await step.verify(context)
                return .reconciled(id, done: true, detail: "plan empty and verified")
            } catch {
                return .failed(id, error, .reconcile)
            }
        case .check(let id):
            do { return .checked(id, try await Interpreter.looking { () async throws(StepFailure) in try await steps[id]!.check(context) }) } catch {
                return .failed(id, error, .check)
            }
        case .plan(let id):
            do { return .planned(id, try await Interpreter.looking { () async throws(StepFailure) in try await steps[id]!.plan(context) }) } catch {
                return .failed(id, error, .plan)
            }
        case .confirm(let id, let plan):
            return .confirmed(id, await answerer.confirm(id, plan))
        case .prepare(let id, let plan):
            // Afresh: the before-state a rollback trusts, taken after a confirmation that may have waited.
            do { return .prepared(id, try await steps[id]!.prepare(plan, context)) } catch { return .failed(id, error, .prepare) }
        case .apply(let id, let plan, let undo):
            do {
                let final = try await steps[id]!.apply(plan, prepared: undo, context)
                crashPoint("apply-returned:\(id)")
                return .applied(id, final)
            } catch {
                return .failed(id, error, .apply)
            }
        case .verify(let id):
            do {
                try await steps[id]!.verify(context)
                return .verified(id)
            } catch {
                return .failed(id, error, .verify)
            }
        case .rollback(let id, let undo):
            do {
                try await steps[id]!.rollback(undo, context)
                return .rolledBack(id)
            } catch {
                return .failed(id, error, .rollback)
            }
        case .wait(let delay, let id):
            context.progress("\(id): retrying in \(delay)")
            try? await Task.sleep(for: delay)
            return .backoffElapsed(id)
        case .offer(let id, let choices):
            return .chose(id, await answerer.choose(id, choices, failure: lastFailure))
        case .finish:
            return nil
        }
    }
}

extension Interpreter {
    /// Runs a step's check or plan where what the run already observed may answer again
    /// (``Observations``): they look without changing anything. Prepare, apply, verify and rollback
    /// always ask the servers afresh (what they see serves the next step's check and plan).
    static func looking<T>(_ body: () async throws(StepFailure) -> T) async throws(StepFailure) -> T {
        let result: Result<T, StepFailure> = await Observations.$reusing.withValue(true) {
            do throws(StepFailure) { return .success(try await body()) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

/// Notes steps recorded during the effect being performed, waiting to be fed to the runner.
final class Notes: Sendable {
    let events = Mutex<[JournalEvent]>([])
}
