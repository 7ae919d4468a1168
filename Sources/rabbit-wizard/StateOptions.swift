import ArgumentParser
import Executor
import WizardCore

/// Options every command that touches the state directory shares.
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "Where the command log, journal and known_hosts live (mode 0700).",
        valueName: "DIR"))
    var stateDir: String?

    @Option(name: .customLong("identity"), help: ArgumentHelp("ssh private key for ssh:// targets.", valueName: "FILE"))
    var identity: String?

    func open(dryRun: Bool = false) throws -> (StateDirectory, Executor) {
        let state = try Session.openState(stateDir)
        return (state, try Session.makeExecutor(state, identity: identity, dryRun: dryRun))
    }
}
