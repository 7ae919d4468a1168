import ArgumentParser
import Workflow

/// What every workflow command takes.
struct WorkflowOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("The topology file.", valueName: "FILE"))
    var config: String?

    @OptionGroup var state: StateOptions

    @Option(name: .customLong("waive"), help: ArgumentHelp(
        "Do not let this finding block the run (repeatable; 'all' waives every finding).", valueName: "NAME"))
    var waive: [String] = []
}

/// `--only` / `--skip`, shared by plan and apply.
struct SelectionOptions: ParsableArguments {
    @Option(name: .customLong("only"), help: ArgumentHelp("Run only this step (repeatable).", valueName: "ID"))
    var only: [String] = []

    @Option(name: .customLong("skip"), help: ArgumentHelp("Leave this step out (repeatable; wins over --only).", valueName: "ID"))
    var skip: [String] = []
}
