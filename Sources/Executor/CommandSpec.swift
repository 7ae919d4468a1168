/// One command to run, as data. Nothing here is ever passed through a shell on this machine.
public struct CommandSpec: Sendable {
    /// Program and arguments. `argv[0]` is a path or a name looked up in `PATH` (remote `PATH` over ssh).
    public var argv: [String]
    public var target: Target
    public var stdin: Input
    /// Added to the inherited environment. Never put a secret here: secrets go on stdin.
    public var environment: [String: String]
    public var workingDirectory: String?
    public var timeout: Duration
    /// `false` marks a read-only command: it still runs in dry-run mode.
    public var mutates: Bool
    /// The workflow step this command belongs to (`cluster-join`), for the log and the screen.
    public var step: StepID?
    /// Further values to scrub from output and argv, besides a secret stdin.
    public var secrets: [Secret]
    /// The command prints a secret (for example reads a cookie): its stdout is returned only as a
    /// ``Secret`` and logged as `<secret, N bytes>`.
    public var stdoutIsSecret: Bool
    /// Functions beyond the PowerShell library's that this command may call by name, sent with its script
    /// (a Windows server's RabbitMQ calls); nothing on a POSIX server.
    public var powershellModule: PowerShellModule?

    public enum Input: Sendable {
        case none
        case bytes([UInt8])
        case secret(Secret)
    }

    public init(
        _ argv: [String], on target: Target = .local, stdin: Input = .none, environment: [String: String] = [:],
        workingDirectory: String? = nil, timeout: Duration = .seconds(60), mutates: Bool, step: StepID? = nil,
        secrets: [Secret] = [], stdoutIsSecret: Bool = false, powershellModule: PowerShellModule? = nil
    ) {
        self.argv = argv
        self.target = target
        self.stdin = stdin
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.mutates = mutates
        self.step = step
        self.secrets = secrets
        self.stdoutIsSecret = stdoutIsSecret
        self.powershellModule = powershellModule
    }

    /// Every secret this command knows of: the ones to scrub from its output.
    public var knownSecrets: [Secret] {
        if case .secret(let s) = stdin { return secrets + [s] }
        return secrets
    }

    /// What is safe to log about stdin.
    public var stdinSummary: String? {
        switch stdin {
        case .none: nil
        case .bytes(let b): "\(b.count) bytes"
        case .secret(let s): s.description
        }
    }
}
