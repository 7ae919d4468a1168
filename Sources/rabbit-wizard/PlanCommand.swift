import ArgumentParser
import Foundation
import WizardCore
import Workflow

/// `rabbit-wizard plan`: what apply would do now, read-only.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would change now, with diffs. Read-only.",
        discussion: """
            Runs each step's checks and plan against the servers as they are now; nothing is changed and \
            nothing is journaled. Later steps are planned against today's servers, before earlier steps run.

            Save the JSON form and give it to apply with --plan-file: apply then refuses a step whose plan \
            changed in between (exit 5, stale plan).

            For scripts, --detailed-exitcode tells the outcomes apart (as terraform plan does): 0 nothing to \
            change, 2 apply would change something, 1 blocked by findings or a step could not be planned.
            """)

    @OptionGroup var options: WorkflowOptions
    @OptionGroup var selection: SelectionOptions
    @Flag(help: "Print the plan as JSON.") var json = false
    @Flag(help: "Exit 2 when apply would change something, 0 when nothing (1 when blocked or failed).")
    var detailedExitcode = false

    struct Output: Codable {
        struct StepPlan: Codable {
            var id: StepID
            var title: String
            var findings: [Finding]
            var plan: Plan?
            var fingerprint: String?
        }
        var steps: [StepPlan]
    }

    func run() async throws {
        let session = try await Session.open(options)
        let (queue, skipped) = try session.select(selection)
        let final = try await session.run(RunRequest(.plan, queue: queue, skipped: skipped, waived: options.waive, confirmEachPlan: false, command: "plan"),
                                          yes: false, quiet: json)
        if !json {
            // Every step's plan is made against today's servers: a later step's restart shows here too.
            print(PlanText.restarts(queue.compactMap { final.plans[$0] }))
        }
        if json {
            let out = Output(steps: queue.compactMap { id in
                guard final.plans[id] != nil || final.findings[id] != nil else { return nil }
                return .init(id: id, title: session.steps.first { $0.id == id }?.title ?? "", findings: final.findings[id] ?? [],
                             plan: final.plans[id], fingerprint: final.plans[id]?.fingerprint)
            })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
        }
        try ErrorPresenter.exit(for: final)
        if detailedExitcode { try ErrorPresenter.detailedExit(forPlan: final) }
    }
}
