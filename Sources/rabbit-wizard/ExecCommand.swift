import ArgumentParser
import Executor
import Foundation
import WizardCore

/// `rabbit-wizard exec`: one command through the executor, for diagnostics and for tests.
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run one command through the wizard's executor: logged, timed, secrets scrubbed.",
        discussion: """
            The command runs with an argv (never through a local shell), in its own process group, with a \
            deadline. Its output streams to this terminal and a record goes to the command log.

            Examples:
              rabbit-wizard exec -- rabbitmqctl cluster_status
              rabbit-wizard exec --target ssh://admin@ServerB -- hostname
              rabbit-wizard exec --windows --target ssh://admin@SERVERA -- hostname.exe
              rabbit-wizard exec --secret-stdin-file cookie.txt --target ssh://root@ServerB -- sha256sum

            --secret-stdin-file sends the file's bytes on the command's stdin and scrubs them from every \
            output; they are never put in argv, the environment or the log.
            """)

    @Option(help: ArgumentHelp("local, or ssh://[user@]host[:port].", valueName: "TARGET"))
    var target: String = "local"

    @Flag(help: ArgumentHelp("The ssh target is a Windows server (OpenSSH for Windows): send the command as the windows profile does, "
                             + "one constant PowerShell command line with the script and input on stdin."))
    var windows = false

    @Option(help: ArgumentHelp("Seconds before the process group is killed.", valueName: "SECONDS"))
    var timeout: Int = 60

    @Option(name: .customLong("secret-stdin-file"), help: ArgumentHelp("Send this file as a secret on stdin.", valueName: "FILE"))
    var secretStdinFile: String?

    @Option(help: ArgumentHelp("Step id to record with the command.", valueName: "ID"))
    var step: String?

    @Flag(help: "Record the command as read-only (it then also runs with --dry-run).")
    var readOnly = false

    @Flag(name: .customLong("dry-run"), help: "Run only read-only commands; record the others.")
    var dryRun = false

    @OptionGroup var state: StateOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The program and its arguments, after --.", valueName: "ARGV"))
    var argv: [String] = []

    func validate() throws {
        guard !argv.isEmpty else { throw ValidationError("Missing the command: put it after --, e.g. rabbit-wizard exec -- hostname") }
        guard (1...86_400).contains(timeout) else { throw ValidationError("--timeout must be 1...86400 seconds, got \(timeout)") }
        _ = try parsedTarget()
    }

    func parsedTarget() throws -> Target {
        if target == "local" {
            if windows { throw ValidationError("--windows needs an ssh:// --target: a Windows server is reached over OpenSSH for Windows") }
            return .local
        }
        do { return Target.ssh(try SSHDestination(url: target)).speaking(windows ? .powershell : .posix) } catch {
            throw ValidationError("--target \(target): \(ErrorPresenter.describe(error)). Use local or ssh://user@host:port.")
        }
    }

    func run() async throws {
        var input = CommandSpec.Input.none
        if let secretStdinFile {
            guard let data = FileManager.default.contents(atPath: secretStdinFile) else {
                throw ValidationError("--secret-stdin-file \(secretStdinFile): cannot read the file")
            }
            input = .secret(Secret(bytes: Array(data)))
        }
        let (stateDir, executor) = try state.open(dryRun: dryRun)
        let boundary = TestHooks.boundaryPoint()
        executor.subscribe { event in
            switch event {
            case .output(_, let stream, let line):
                if stream == .stdout { print(line) } else { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            case .running:
                boundary("command-running")
            default:
                break
            }
        }
        let spec = CommandSpec(argv, on: try parsedTarget(), stdin: input, timeout: .seconds(timeout),
                               mutates: !readOnly, step: step.map { StepID($0) })
        let result = await executor.run(spec)
        await executor.shutdown()
        try ErrorPresenter.exitFor(result, knownHostsPath: stateDir.knownHostsPath)
    }
}
