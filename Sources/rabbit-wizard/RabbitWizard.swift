import ArgumentParser
import Executor
import Foundation
import Logging
import WizardCore
import WizardTUI
import Workflow

@main
struct RabbitWizard: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "rabbit-wizard",
        abstract: "Turn separate RabbitMQ servers into a cluster behind a TCP load balancer, step by step.",
        usage: """
            rabbit-wizard [--config FILE] [--ascii]     the wizard screen (a terminal is needed)
            rabbit-wizard <subcommand> [options]         the same steps, for scripts and automation
            """,
        discussion: """
            Without a subcommand the wizard screen opens on the topology given with --config, or on the \
            sandbox's topology when a sandbox is running (rabbit-wizard sandbox up). It lists the steps beside \
            a live log; Enter runs every pending step, asking before each change; r retries a step, u rolls one \
            back, p shows the plan with diffs, l the command log, ? all keys. When the OutSystems hand-off is             the one step left it asks for the OutSystems user's password (typed twice, never shown or written;             --outsystems-password-file FILE gives it instead), then offers the failover drill.

            The topology file (example: topology.example.yml in the package's documentation) names the nodes \
            and the load balancer: load_balancer.kind nginx or haproxy, which the wizard configures on \
            load_balancer.host (reached by load_balancer.reach) or, with load_balancer.pair (two hosts, each \
            with its reach), on both, with keepalived holding load_balancer.host as a floating address; or \
            external: the site's own at \
            load_balancer.host and listen_port, on which nothing is changed; the plan says what to configure \
            there and every check goes through it.

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
            \(ExitStatus.helpTable)
            """,
        version: "rabbit-wizard \(version) (\(TerminalLibrary.version))",
        subcommands: [
            PlanCommand.self, ApplyCommand.self, StatusCommand.self, RetryCommand.self, RollbackCommand.self,
            WatchCommand.self, RepairCommand.self, LogCommand.self, JournalCommand.self, SandboxCommand.self, ExecCommand.self, KnownHostsCommand.self,
        ]
    )

    @OptionGroup var options: WorkflowOptions

    @Flag(help: "Draw with ASCII only (the default follows the terminal's locale).")
    var ascii = false

    /// Errors for the operator (``ErrorPresenter/Failure``) are printed here, once, after any screen is closed.
    static func main() async {
        // Progress must reach a pipe or a log file when it happens, not when the buffer fills.
        StandardOutput.lineBuffered()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as ErrorPresenter.Failure {
            FileHandle.standardError.write(Data("rabbit-wizard: \(failure.message)\n".utf8))
            Foundation.exit(failure.code.rawValue)
        } catch let usage as UsageError {
            exit(withError: ValidationError(usage.message))
        } catch {
            exit(withError: error)
        }
    }

    /// The wizard screen.
    mutating func run() async throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw ErrorPresenter.fail("the wizard screen needs a terminal. For scripts and pipes use the subcommands: "
                                      + "rabbit-wizard plan | apply | status | retry | rollback | log (see rabbit-wizard --help)", code: .badInput)
        }
        if options.outsystemsPasswordStdin {
            throw ErrorPresenter.fail("--outsystems-password-stdin: the wizard screen reads the terminal; use --outsystems-password-file FILE", code: .badInput)
        }
        var options = self.options
        if options.config == nil {
            // The sandbox's topology when there is one; else the setup form writes ./topology.yml.
            let sandbox = SandboxCommand.defaultDir() + "/topology.yml"
            options.config = FileManager.default.fileExists(atPath: sandbox) ? sandbox : "topology.yml"
        }
        if let c = options.config, !c.hasPrefix("/") { options.config = FileManager.default.currentDirectoryPath + "/" + c }
        let path = options.config!
        let testSteps = TestHooks.fileStepsGiven
        // A topology that exists is opened now, so its problems are printed before the screen starts.
        let session = FileManager.default.fileExists(atPath: path) || testSteps ? try await Session.open(options, notices: false) : nil
        // Nothing may write to the terminal behind the screen's back.
        LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
        let base = options
        let engine = TUIEngine(session: session, setupPath: session == nil ? path : nil) { file in
            var o = base
            o.config = file
            return try await Session.open(o, notices: false)
        }
        let ascii = self.ascii
        let code: Int32 = try await MainActor.run {
            let screen: CursesScreen
            do throws(CursesScreen.Problem) {
                screen = try CursesScreen(noColor: !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty)
            } catch {
                switch error {
                case .notATerminal: throw ErrorPresenter.fail("the wizard screen needs a terminal; use the subcommands", code: .badInput)
                case .unknownTerminal(let t):
                    throw ErrorPresenter.fail("the terminal type TERM=\(t) is unknown to ncurses: set TERM (for example xterm-256color), "
                                              + "or use the subcommands", code: .badInput)
                }
            }
            let app = WizardApp(screen: screen, engine: engine, glyphs: ascii || !CursesScreen.utf8 ? .ascii : .unicode) { code, why in
                FileHandle.standardError.write(Data("\nrabbit-wizard: \(why)\n".utf8))
                _exit(code)
            }
            return app.run()
        }
        if engine.isOpen { await engine.session.executor.shutdown() }
        if code != 0 { throw ExitCode(code) }
    }
}
