import ArgumentParser
import Executor
import WizardTUI

@main
struct RabbitWizard: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "rabbit-wizard",
        abstract: "Turn separate RabbitMQ servers into a cluster behind a TCP load balancer, step by step.",
        discussion: """
            Every command the wizard runs, locally or over ssh, goes through one executor that enforces a \
            deadline, scrubs secrets and appends a record to the command log in the state directory \
            (default: $XDG_STATE_HOME/rabbit-wizard or ~/.local/state/rabbit-wizard).

            Available now:
              exec          run one command through the executor (diagnostics)
              known-hosts   show and enrol ssh host keys for the servers

            The guided setup (plan, apply, status, retry, rollback, log), the sandbox and the TUI are \
            being built; see CHANGELOG.md.

            Exit codes: 0 success, 1 the command failed, 3 needs confirmation, \
            4 host unreachable or host key problem, 64 bad input (nothing was run).
            """,
        version: "rabbit-wizard \(version) (\(TerminalLibrary.version))",
        subcommands: [ExecCommand.self, KnownHostsCommand.self]
    )
}
