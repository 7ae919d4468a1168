import ArgumentParser
import Executor

/// Options every command that touches the state directory shares.
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "Where the command log, journal and known_hosts live (mode 0700).",
        valueName: "DIR"))
    var stateDir: String?

    @Option(name: .customLong("identity"), help: ArgumentHelp("ssh private key for ssh:// targets.", valueName: "FILE"))
    var identity: String?

    func open(dryRun: Bool = false) throws -> (StateDirectory, Executor) {
        do {
            let state = try StateDirectory(path: stateDir)
            return (state, try Executor(state: state, identityFile: identity, dryRun: dryRun))
        } catch {
            throw ErrorPresenter.fail(error, code: .badInput)
        }
    }
}
