import Executor
import Foundation
import Synchronization
import Workflow

/// The suite every step passes (after golang-migrate's `database/testing`): run against real servers or
/// files through the real executor. Returns what failed, in words; empty means the step conforms.
///
/// - `snapshot` captures everything the step may change (bytes, modes, owners, node state).
/// - `dryRun` is a context whose executor is in dry-run mode: check and plan run there too, and any
///   mutating command they try is a failure (they must be read-only by construction, not by luck).
public enum StepConformance {
    public static func run<S: Equatable & Sendable>(
        _ step: any Step, context: StepContext, dryRun: StepContext, canaries: [String] = [], logPath: String? = nil,
        snapshot: () async -> S
    ) async -> [String] {
        var failures: [String] = []
        func fail(_ s: String) { failures.append("\(step.id): \(s)") }
        let before = await snapshot()
        do {
            // check and plan: read-only, stable.
            let mutatingAttempts = Mutex(0)
            let token = dryRun.executor.subscribe { event in
                if case .finished(let r) = event, r.mutates { mutatingAttempts.withLock { $0 += 1 } }
            }
            _ = try await step.check(dryRun)
            let dryPlan = try await step.plan(dryRun)
            dryRun.executor.unsubscribe(token)
            if mutatingAttempts.withLock({ $0 }) > 0 { fail("check or plan tried \(mutatingAttempts.withLock { $0 }) mutating command(s)") }
            _ = try await step.check(context)
            let plan1 = try await step.plan(context)
            let plan2 = try await step.plan(context)
            if plan1 != plan2 { fail("plan twice gave different plans") }
            if plan1 != dryPlan { fail("the plan differs between dry-run and real executors") }
            if await snapshot() != before { fail("check or plan changed the state") }
            if plan1.isEmpty { fail("the plan is empty: the suite needs a before-state where the step has work"); return failures }

            // prepare is read-only too.
            let prepared = try await step.prepare(plan1, context)
            if await snapshot() != before { fail("prepare changed the state") }

            // apply converges: verify passes and the plan is empty afterwards.
            let undo = try await step.apply(plan1, prepared: prepared, context)
            try await step.verify(context)
            let after = try await step.plan(context)
            if !after.isEmpty { fail("after apply the plan still has \(after.changes.count) change(s)") }
            let applied = await snapshot()
            if applied == before { fail("apply changed nothing observable") }

            // rollback restores the before-state exactly, and is idempotent.
            try await step.rollback(undo, context)
            if await snapshot() != before { fail("rollback did not restore the before-state exactly") }
            try await step.rollback(undo, context)
            if await snapshot() != before { fail("a second rollback changed the state") }

            // rollback with only the prepared undo (a crash before `applied` was journaled) also works.
            _ = try await step.apply(plan1, prepared: prepared, context)
            try await step.rollback(prepared, context)
            if await snapshot() != before { fail("rollback from the prepared undo did not restore the before-state") }

            // After rollback the step plans the same work again.
            if try await step.plan(context) != plan1 { fail("after rollback the plan differs from the first plan") }
        } catch {
            fail("unexpected failure: \(error.cause)\(error.fix.map { " (\($0))" } ?? "")")
        }
        failures += canaryFailures(step, canaries: canaries, logPath: logPath)
        return failures
    }

    /// The suite for a step that only looks (its plan is always empty: `installation-checks`): check and
    /// plan are read-only in a dry run too and stable, the plan is empty, prepare and apply change nothing,
    /// and verify only reads. What the full suite proves about apply and rollback has nothing to act on here.
    public static func runReadOnly<S: Equatable & Sendable>(
        _ step: any Step, context: StepContext, dryRun: StepContext, canaries: [String] = [], logPath: String? = nil,
        snapshot: () async -> S
    ) async -> [String] {
        var failures: [String] = []
        func fail(_ s: String) { failures.append("\(step.id): \(s)") }
        let before = await snapshot()
        let mutatingAttempts = Mutex(0)
        let token = context.executor.subscribe { event in
            if case .finished(let r) = event, r.mutates { mutatingAttempts.withLock { $0 += 1 } }
        }
        let dryToken = dryRun.executor.subscribe { event in
            if case .finished(let r) = event, r.mutates { mutatingAttempts.withLock { $0 += 1 } }
        }
        do {
            let findings1 = try await step.check(dryRun), findings2 = try await step.check(context)
            if findings1 != findings2 { fail("check gave other findings in a dry run: \(findings1) vs \(findings2)") }
            let plan = try await step.plan(context)
            if !plan.isEmpty { fail("a step that only looks planned \(plan.changes.count) change(s)") }
            if try await step.plan(dryRun) != plan { fail("the plan differs between dry-run and real executors") }
            let prepared = try await step.prepare(plan, context)
            _ = try await step.apply(plan, prepared: prepared, context)
            do { try await step.verify(context) } catch { /* a failing verify only reports what the checks found */ }
            try await step.rollback(prepared, context)
        } catch {
            fail("unexpected failure: \(error.cause)\(error.fix.map { " (\($0))" } ?? "")")
        }
        context.executor.unsubscribe(token)
        dryRun.executor.unsubscribe(dryToken)
        if mutatingAttempts.withLock({ $0 }) > 0 { fail("it ran \(mutatingAttempts.withLock { $0 }) command(s) that change something") }
        if await snapshot() != before { fail("the state changed") }
        failures += canaryFailures(step, canaries: canaries, logPath: logPath)
        return failures
    }

    /// A canary in the command log is a failure; so is a log that cannot be read or holds nothing, where
    /// the check would pass without looking at anything.
    static func canaryFailures(_ step: any Step, canaries: [String], logPath: String?) -> [String] {
        guard let logPath, !canaries.isEmpty else { return [] }
        guard let log = try? String(contentsOfFile: logPath, encoding: .utf8), !log.isEmpty else {
            return ["\(step.id): the command log \(logPath) is empty or unreadable: the canary check would pass on nothing"]
        }
        return canaries.contains { log.contains($0) } ? ["\(step.id): a secret appears in the command log"] : []
    }
}

/// What a step notes while it works (restarts owed and done), kept in memory as the product keeps them in
/// its journal, so that a context outside a run behaves like one inside it.
public final class MemoryNotes: Sendable {
    private let state = Mutex(JournalState())

    public init() {}

    /// A context on `executor` that records notes here and reads the restarts owed from here.
    public func context(_ executor: Executor) -> StepContext {
        StepContext(executor: executor, record: { event in self.state.withLock { $0.apply(event) } },
                    pendingRestarts: { self.state.withLock { $0.pendingRestarts } })
    }
}
