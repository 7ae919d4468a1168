/// Runs one command somewhere and reports how it ended. Transports never log and never throw: a
/// failure to run is a ``Termination`` too. The ``Executor`` wraps them with ids, logging and events.
public protocol Transport: Sendable {
    /// `onStart` gets the pid of the started process (its own process group) before any output.
    func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
             onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
}

extension Transport {
    public func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor,
                    onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
    {
        await run(spec, limits: limits, redactor: redactor, onStart: { _ in }, onLine: onLine)
    }
}

/// Bounds on what is kept of a command's output.
public struct OutputLimits: Sendable {
    /// Bytes of stdout/stderr kept for the caller to parse.
    public var capture: Int
    /// Bytes of each stream kept in the command log.
    public var logTail: Int
    /// After TERM, how long the process group has before KILL.
    public var killGrace: Duration

    public init(capture: Int = 4 << 20, logTail: Int = 8 << 10, killGrace: Duration = .seconds(2)) {
        self.capture = capture
        self.logTail = logTail
        self.killGrace = killGrace
    }
}

/// What a transport observed.
public struct TransportOutcome: Sendable {
    public var termination: Termination
    public var pid: Int32?
    public var stdout: CapturedStream
    public var stderr: CapturedStream
    /// Raw stdout when the spec declared it secret.
    public var secretStdout: Secret?
    /// What the operator should hear about once per server (text a Windows server's shell printed before
    /// the answer); the executor says each once.
    public var notes: [String] = []

    public init(termination: Termination, pid: Int32? = nil, stdout: CapturedStream = .empty,
                stderr: CapturedStream = .empty, secretStdout: Secret? = nil) {
        self.termination = termination
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.secretStdout = secretStdout
    }
}

/// One scrubbed, bounded output stream.
public struct CapturedStream: Sendable {
    public var text: String
    public var truncated: Bool
    public var tail: String
    public var totalBytes: Int

    public static let empty = CapturedStream(text: "", truncated: false, tail: "", totalBytes: 0)

    public init(text: String, truncated: Bool, tail: String, totalBytes: Int) {
        self.text = text
        self.truncated = truncated
        self.tail = tail
        self.totalBytes = totalBytes
    }
}
