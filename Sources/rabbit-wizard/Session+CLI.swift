import Executor
import Foundation
import WizardCore
import Workflow

/// The session as the CLI's commands open and run it: from their options, printing and prompting.
extension Session {
    /// Opens the session the options name (``Session/open(_:executor:)``); the secrets are read here, from
    /// the file or stdin the options name.
    static func open(_ options: WorkflowOptions, dryRun: Bool = false, notices: Bool = true) async throws -> Session {
        try await open(SessionOptions(config: options.config, stateDir: options.state.stateDir, identity: options.state.identity,
                                      waive: options.waive, secrets: try options.secrets(), drill: options.drill,
                                      dryRun: dryRun, notices: notices))
    }

    func run(_ request: RunRequest, yes: Bool, quiet: Bool = false) async throws -> RunnerState {
        try await run(request, hooks: .cli(self, yes: yes, quiet: quiet))
    }

    func select(_ selection: SelectionOptions) throws -> (run: [StepID], skipped: [StepID]) {
        try select(only: selection.only, skip: selection.skip)
    }
}

extension Session.RunHooks {
    /// Printing to the terminal (nothing with `quiet`), answering by prompt or by `--yes`, stopping on Ctrl-C.
    static func cli(_ session: Session, yes: Bool, quiet: Bool) -> Session.RunHooks {
        let printer = ProgressPrinter(titles: Dictionary(uniqueKeysWithValues: session.steps.map { ($0.id, $0.title) }))
        Interruption.install()
        return Session.RunHooks(answerer: CLIOperator(yes: yes),
                                observe: { state, event in if !quiet { printer.observe(state, event) } },
                                progress: { message in if !quiet { print("  ... \(message)") } },
                                evidence: { _, title, text in if !quiet { print("  \(title):\n" + text) } },
                                stopRequested: { Interruption.requested }, takeOverStaleLock: yes)
    }
}
