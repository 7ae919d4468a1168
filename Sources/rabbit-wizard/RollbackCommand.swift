import ArgumentParser
import Foundation
import WizardCore
import Workflow

/// `rabbit-wizard rollback ID|--all`: undo applied steps, newest first.
struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Undo a step (or all applied steps, in reverse order) from the journal's undo data.",
        discussion: """
            Rolling back one step while later steps are still applied is refused (they may depend on it): roll \
            those back first, use --all, or --force if you know they are independent. Each step says what its \
            rollback cannot restore. Without a terminal, rollback needs --yes (exit 3 otherwise).
            """)

    @Argument(help: ArgumentHelp("The step to roll back.", valueName: "ID")) var step: String?
    @Flag(help: "Roll back every applied step, last first.") var all = false
    @Flag(help: "Do not ask.") var yes = false
    @Flag(help: "Roll back this step even though later steps are still applied.") var force = false
    @OptionGroup var options: WorkflowOptions
    @OptionGroup(title: "Housekeeping") var retention: RetentionOptions

    func validate() throws {
        if (step == nil) == !all { throw ValidationError("Name one step to roll back, or pass --all.") }
    }

    func run() async throws {
        var session = try await Session.open(options)
        session.retention = retention.retention
        let journal = try session.journalState()
        let undoable = Rollback.undoable(journal, order: session.order)
        var targets: [StepID]
        if all {
            targets = Rollback.all(undoable)
            if targets.isEmpty {
                print("Nothing to roll back: no step has recorded changes.")
                return
            }
        } else {
            let id = StepID(step!)
            guard session.order.contains(id) else {
                throw ErrorPresenter.fail(WorkflowError.unknownSteps([id], valid: session.order), code: .badInput)
            }
            guard undoable.contains(id) else {
                throw ErrorPresenter.fail(WorkflowError.nothingToRollBack(id, journal.status(id)), code: .badInput)
            }
            let later = Rollback.blocking(id, undoable: undoable)
            if !later.isEmpty && !force {
                throw ErrorPresenter.fail(
                    "later steps are still applied: \(later.map(\.rawValue).joined(separator: ", ")). Roll them back first "
                        + "(rabbit-wizard rollback \(later.last!)), use --all, or --force", code: .badInput)
            }
            targets = [id]
        }
        for id in targets {
            print("rollback \(id): \(session.steps.first { $0.id == id }!.rollbackScope.consequence)")
        }
        if !yes {
            guard isatty(0) == 1 else {
                throw ErrorPresenter.fail("rollback changes the servers: confirm with --yes", code: .needsConfirmation)
            }
            print("Roll back \(targets.map(\.rawValue).joined(separator: ", "))? [y/N] ", terminator: "")
            guard ["y", "yes"].contains(readLine()?.lowercased() ?? "") else {
                throw ErrorPresenter.fail("not rolled back", code: .needsConfirmation)
            }
        }
        let request = RunRequest(.rollback, queue: targets, waived: options.waive, confirmEachPlan: false,
                                 command: "rollback \(targets.map(\.rawValue).joined(separator: " "))")
        let final = try await session.run(request, yes: true)
        try ErrorPresenter.exit(for: final)
    }
}
