import ArgumentParser
import Foundation
import WizardCore
import Workflow

/// `rabbit-wizard apply`: check, plan, apply and verify each step, journaled.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply the steps in order: check, plan, confirm, apply, verify.",
        discussion: """
            Each step writes 'began' to the journal before it changes anything and 'applied' and 'verified' \
            after. A step whose plan is empty is already done and is not touched, so apply can be run again \
            safely. If an earlier run was interrupted, apply first observes the interrupted step; with --yes \
            it then continues from what it saw, without --yes it asks (or exits 5 without a terminal).

            Without a terminal, apply needs --yes (exit 3 otherwise).
            """)

    @OptionGroup var options: WorkflowOptions
    @OptionGroup var selection: SelectionOptions
    @OptionGroup(title: "Housekeeping") var retention: RetentionOptions

    @Flag(help: "Confirm every plan, continue after an interrupted step, and take over a stale lock.")
    var yes = false

    @Option(name: .customLong("plan-file"), help: ArgumentHelp(
        "A plan saved with 'plan --json': refuse steps whose plan changed since.", valueName: "FILE"))
    var planFile: String?

    func run() async throws {
        var session = try await Session.open(options)
        session.retention = retention.retention
        let (queue, skipped) = try session.select(selection)
        var reviewed: [StepID: String] = [:]
        if let planFile {
            guard let data = FileManager.default.contents(atPath: planFile),
                let saved = try? JSONDecoder().decode(PlanCommand.Output.self, from: data)
            else { throw ErrorPresenter.fail("--plan-file \(planFile): not a plan saved with 'plan --json'", code: .badInput) }
            for s in saved.steps { if let fp = s.fingerprint { reviewed[s.id] = fp } }
        }
        try await ApplyCommand.apply(session, queue: queue, skipped: skipped, waived: options.waive, reviewed: reviewed,
                                     yes: yes, command: "apply")
    }

    /// Shared with `retry`.
    static func apply(_ session: Session, queue: [StepID], skipped: [StepID], waived: [String], reviewed: [StepID: String],
                      yes: Bool, command: String) async throws
    {
        let request = RunRequest(.apply, queue: queue, skipped: skipped, waived: waived, reviewed: reviewed, confirmEachPlan: !yes,
                                 continueAfterReconcile: yes, command: command)
        let final = try await session.run(request, yes: yes)
        try ErrorPresenter.exit(for: final)
    }
}

/// `rabbit-wizard retry ID`: the same as `apply --only ID`.
struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Check, plan and apply one step again (after fixing what made it fail).")

    @Argument(help: ArgumentHelp("The step id.", valueName: "ID")) var step: String
    @OptionGroup var options: WorkflowOptions
    @OptionGroup(title: "Housekeeping") var retention: RetentionOptions
    @Flag(help: "Confirm the plan without asking.") var yes = false

    func run() async throws {
        var session = try await Session.open(options)
        session.retention = retention.retention
        let id = StepID(step)
        guard session.order.contains(id) else {
            throw ErrorPresenter.fail(WorkflowError.unknownSteps([id], valid: session.order), code: .badInput)
        }
        try await ApplyCommand.apply(session, queue: [id], skipped: session.order.filter { $0 != id }, waived: options.waive,
                                     reviewed: [:], yes: yes, command: "retry \(step)")
    }
}
