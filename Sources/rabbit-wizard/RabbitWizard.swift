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

            Steps run in order; each checks, plans, applies, verifies and can be rolled back. A journal in \
            the state directory records every step before and after it acts, so an interrupted run is \
            observed and continued (or rolled back), never repeated blindly.

              plan          what apply would change now, with diffs (read-only)
              apply         check, plan, confirm, apply and verify each step
              status        recorded state and live observation of every step (read-only)
              retry ID      run one step again
              rollback      undo a step, or --all in reverse order
              log           the command log
              journal       repair a damaged journal
              sandbox       start, show or remove real RabbitMQ nodes on loopback to try it on
              exec          run one command through the executor (diagnostics)
              known-hosts   show and enrol ssh host keys for the servers

            Exit codes:
              0   success
              1   a step failed, or was blocked by findings
              3   needs confirmation (no terminal: pass --yes)
              4   host unreachable, or a host key problem
              5   stale plan, or an interrupted or damaged journal (see status / journal repair)
              6   another wizard holds the state directory, or left a stale lock
              130 stopped by Ctrl-C at a safe point (run the same command again)
              64  bad input: a flag or value is wrong; nothing was run
            """,
        version: "rabbit-wizard \(version) (\(TerminalLibrary.version))",
        subcommands: [
            PlanCommand.self, ApplyCommand.self, StatusCommand.self, RetryCommand.self, RollbackCommand.self,
            LogCommand.self, JournalCommand.self, SandboxCommand.self, ExecCommand.self, KnownHostsCommand.self,
        ]
    )
}
