import Synchronization

/// Runs commands on a remote host with the system OpenSSH client.
///
/// The remote side gets one command line in the destination's ``RemoteDialect`` (POSIX: a fixed `sh -c`
/// script and the arguments, each quoted by ``ShellQuote``, that changes directory, exports the
/// environment additions and `exec`s the argv). Stdin is left for
/// the command itself, which is how secrets travel. (`sh -s` with the script on stdin cannot share
/// stdin with the command: dash reads ahead and would swallow the command's input.)
///
/// ssh's own failures (exit 255 plus its message) become ``ConnectionFailure`` values.
public final class SSHTransport: Transport {
    public let options: SSHOptions
    private let local: LocalTransport
    private let used = Mutex<Set<SSHDestination>>([])

    public init(options: SSHOptions, local: LocalTransport = LocalTransport()) {
        self.options = options
        self.local = local
    }

    /// The local argv that hands `commandLine` to the login shell of `destination`.
    public func sshArgv(commandLine: String, on destination: SSHDestination) -> [String] {
        [options.sshProgram] + options.commonArguments(for: destination) + ["-T", "--", destination.host.value, commandLine]
    }

    struct ChannelRefused: Error { var reason: String }

    /// The local argv of a long-lived ``Channel`` to `destination` running `spec` (its stdin is the
    /// channel's). Only dialects that pass stdin through unchanged take channels.
    func channelArgv(for spec: CommandSpec, on destination: SSHDestination) -> Result<[String], ChannelRefused> {
        for name in spec.environment.keys where !SSHTransport.isEnvironmentName(name) { return .failure(ChannelRefused(reason: "bad environment variable name \(name)")) }
        guard destination.dialect == .posix else { return .failure(ChannelRefused(reason: "no long-lived channel to \(destination.dialect) servers yet")) }
        switch destination.dialect.wire(for: spec) {
        case .success(let wire):
            used.withLock { _ = $0.insert(destination) }
            return .success(sshArgv(commandLine: wire.commandLine, on: destination))
        case .failure(let refused): return .failure(ChannelRefused(reason: refused.reason))
        }
    }

    public func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
                    onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
    {
        guard case .ssh(let destination) = spec.target else {
            return await local.run(spec, limits: limits, redactor: redactor, onStart: onStart, onLine: onLine)
        }
        for name in spec.environment.keys where !SSHTransport.isEnvironmentName(name) {
            return TransportOutcome(termination: .couldNotStart(reason: "bad environment variable name \(name)"))
        }
        let dialect = destination.dialect
        let wire: RemoteDialect.Wire
        switch dialect.wire(for: spec) {
        case .success(let w): wire = w
        case .failure(let refused): return TransportOutcome(termination: .couldNotStart(reason: refused.reason))
        }
        used.withLock { _ = $0.insert(destination) }
        var sshSpec = spec
        sshSpec.argv = sshArgv(commandLine: wire.commandLine, on: destination)
        sshSpec.stdin = wire.stdin
        sshSpec.target = .local
        sshSpec.environment = [:]
        sshSpec.workingDirectory = nil
        // The ssh client lives as long as the remote command: waiting for it is waiting for the command.
        let lines = RemoteDialect.StreamedLines(dialect, emit: onLine)
        var outcome = await local.run(sshSpec, limits: limits, redactor: redactor, onStart: onStart) { stream, line in lines.take(stream, line) }
        lines.finish()
        if case .exited(255) = outcome.termination {
            if let failure = SSHTransport.classify(stderr: outcome.stderr.text) {
                outcome.termination = .connectionFailed(failure)
            } else if await !masterAnswers(destination) {
                // A command sharing a connection gets 255 and no message when that connection dies (the
                // master, not this client, saw the drop). A live master means the command exited 255.
                outcome.termination = .connectionFailed(.lost(
                    reason: "the connection to \(destination.host) ended during the command (ssh exit 255, no message)"))
            }
        }
        if case .exited = outcome.termination { outcome = dialect.interpret(outcome) }
        return outcome
    }

    /// Whether the shared connection to `destination` is still up (`ssh -O check`: local, no network).
    func masterAnswers(_ destination: SSHDestination) async -> Bool {
        await control("check", destination) == .exited(code: 0)
    }

    /// A request to the shared connection's master (`ssh -O OPERATION`), through its local socket.
    func control(_ operation: String, _ destination: SSHDestination) async -> Termination {
        let argv = [options.sshProgram] + options.commonArguments(for: destination) + ["-O", operation, "--", destination.host.value]
        return await local.run(CommandSpec(argv, timeout: .seconds(5), mutates: false), limits: OutputLimits(),
                               redactor: Redactor(secrets: [])) { _, _ in }.termination
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("A"..."Z").contains(first) || ("a"..."z").contains(first)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    /// Reads ssh's own error text (exit 255). Returns nil when the text is not ssh's: then 255 was the
    /// remote command's exit code, or the shared connection died under a client that says nothing (`run`
    /// asks the master which).
    static func classify(stderr: String) -> ConnectionFailure? {
        let lines = stderr.split(whereSeparator: \.isNewline).map(String.init)
        func line(containing needle: String) -> String? { lines.first { $0.contains(needle) } }
        if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || stderr.contains("Host key for") && stderr.contains("has changed") {
            let fp = lines.first { $0.hasPrefix("SHA256:") }.map { String($0.prefix { !$0.isWhitespace }).trimmingSuffix(".") }
            return .hostKeyChanged(fingerprint: fp)
        }
        if stderr.contains("Host key verification failed") {
            return .hostKeyUnknown(fingerprints: [])
        }
        if let l = line(containing: "Permission denied") { return .authenticationFailed(reason: l) }
        for needle in ["Connection refused", "Connection timed out", "No route to host", "Network is unreachable",
                       "Could not resolve hostname", "Name or service not known", "connect to host"]
        {
            if let l = line(containing: needle) { return .unreachable(reason: l) }
        }
        for needle in ["closed by remote host", "Timeout, server not responding", "Broken pipe",
                       "Connection reset", "Connection closed by", "client_loop:"]
        {
            if let l = line(containing: needle) { return .lost(reason: l) }
        }
        if let l = lines.first(where: { $0.hasPrefix("ssh:") || $0.hasPrefix("kex_exchange_identification") }) {
            return .unreachable(reason: l)
        }
        return nil
    }

    /// Closes the shared connections this transport opened (`ssh -O exit`), so that no ssh master
    /// outlives the wizard longer than needed. Read-only for the servers.
    public func closeSharedConnections() async {
        let destinations = used.withLock { d in defer { d.removeAll() }; return d }
        await withTaskGroup(of: Void.self) { group in
            for destination in destinations { group.addTask { _ = await self.control("exit", destination) } }
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
