import Foundation
import Logging
import Synchronization

/// The one way the product runs commands: picks the transport for the target, enforces the deadline,
/// scrubs secrets, streams lines to subscribers and appends a ``CommandRecord`` to the command log.
///
/// `run` never throws: not being able to run is a ``Termination`` as well, so every attempt is logged.
public final class Executor: Sendable {
    public let commandLog: CommandLog?
    public let limits: OutputLimits
    public let dryRun: Bool
    /// Where commands that change something are listed while they run (nil: not tracked).
    public let inFlight: InFlight?
    let local: any Transport
    let ssh: SSHTransport?
    /// Answers `ssh://` targets instead of ssh (a scripted transport in unit tests of what is sent where).
    let remote: (any Transport)?
    private let subscribers = Mutex<[Int: @Sendable (CommandEvent) -> Void]>([:])
    private let knownSecrets = Mutex<[Secret]>([])
    /// Process groups of read-only commands running now, and how many times ``shutdown()`` was called: a
    /// read-only command that began before a shutdown and reports its process after it is ended at once.
    private let readOnly = Mutex(ReadOnlyCommands())
    private let counter = Atomic<Int>(0)
    private let firstLogProblem = Mutex<CommandLog.Problem?>(nil)
    /// Transport notes already said, by target: each is said once.
    private let said = Mutex<Set<String>>([])
    let channels = Mutex(Channels())
    /// Commands that change something: how many began or ended so far, and how many run now.
    private let changes = Mutex((count: 0, running: 0))
    private let runID: String
    private let logger = Logger(label: "rabbit-wizard.executor")

    /// - Parameters:
    ///   - commandLog: where records go; nil keeps no log (tests of pure logic only).
    ///   - ssh: options for `ssh://` targets; without them such commands cannot start.
    ///   - dryRun: run only commands with `mutates == false`.
    ///   - remote: runs `ssh://` targets in place of ssh (tests of what would be sent to each server).
    public init(commandLog: CommandLog?, ssh: SSHOptions? = nil, dryRun: Bool = false,
                limits: OutputLimits = OutputLimits(), local: any Transport = LocalTransport(), remote: (any Transport)? = nil,
                inFlight: InFlight? = nil)
    {
        self.remote = remote
        self.commandLog = commandLog
        self.inFlight = inFlight
        self.ssh = ssh.map { SSHTransport(options: $0) }
        self.dryRun = dryRun
        self.limits = limits
        self.local = local
        self.runID = String(UUID().uuidString.prefix(8)).lowercased()
    }

    /// Convenience: the log and the ssh files live in `state`.
    public convenience init(state: StateDirectory, identityFile: String? = nil, dryRun: Bool = false) throws {
        let log = try CommandLog(path: state.commandLogPath)
        let ssh = SSHOptions(knownHostsFile: state.knownHostsPath, controlDirectory: try state.controlSocketDirectory(),
                             identityFile: identityFile)
        self.init(commandLog: log, ssh: ssh, dryRun: dryRun, inFlight: try InFlight(directory: state.file("running")))
    }

    /// The first command log write that failed (a full disk): a command then ran without its record.
    /// Whoever runs a workflow stops at the next safe point, so that nothing more happens unrecorded.
    public var logFailure: CommandLog.Problem? { firstLogProblem.withLock { $0 } }

    /// Adds a value to scrub from every later command's output and argv (for example a cookie that was
    /// read from a node).
    public func register(secret: Secret) { knownSecrets.withLock { $0.append(secret) } }

    /// Calls `handler` for every event of every later command, from the command's own task.
    @discardableResult
    public func subscribe(_ handler: @escaping @Sendable (CommandEvent) -> Void) -> Int {
        let token = counter.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[token] = handler }
        return token
    }

    public func unsubscribe(_ token: Int) { _ = subscribers.withLock { $0.removeValue(forKey: token) } }

    private func emit(_ event: CommandEvent) {
        for handler in subscribers.withLock({ Array($0.values) }) { handler(event) }
    }

    /// Equal while no command that changes something began or ended through this executor; nil while
    /// one runs. What a read observed under one mark holds as long as the mark does (``Observations``).
    public var changeMark: Int? { changes.withLock { $0.running == 0 ? $0.count : nil } }

    /// How many times a command that changes something began or ended.
    var changeCount: Int { changes.withLock { $0.count } }

    public func run(_ spec: CommandSpec) async -> CommandResult {
        // A read asked before in this run, with nothing changed since, is answered as it was then.
        let reuse = spec.mutates ? nil : Observations.current.flatMap { cache in Executor.observationKey(spec).map { (cache, $0, changeMark) } }
        if let (cache, key, mark) = reuse, case .result(let kept)? = cache.lookup(key, mark: mark) { return kept }
        if spec.mutates { changes.withLock { $0.count += 1; $0.running += 1 } }
        defer { if spec.mutates { changes.withLock { $0.count += 1; $0.running -= 1 } } }
        let result = await execute(spec)
        if let (cache, key, mark) = reuse, case .exited = result.termination {
            cache.keep(key, .result(result), askedAt: mark, now: changeMark)
        }
        return result
    }

    private func execute(_ spec: CommandSpec) async -> CommandResult {
        let id = "\(runID)-\(counter.add(1, ordering: .relaxed).newValue)"
        let redactor = Redactor(secrets: knownSecrets.withLock { $0 } + spec.knownSecrets)
        let argv = spec.argv.map { redactor.scrub($0) }
        let started = Date()
        let clock = ContinuousClock()
        let start = clock.now
        emit(.started(id: id, step: spec.step, target: spec.target.description, argv: argv, mutates: spec.mutates))

        let transport: any Transport
        switch spec.target {
        case .local: transport = local
        case .ssh: transport = remote ?? ssh.map { $0 as any Transport } ?? MissingSSHTransport()
        }
        let chosen: any Transport = dryRun ? DryRunTransport(wrapping: transport) : transport
        let tracking = spec.mutates ? inFlight : nil
        let step = spec.step, timeout = spec.timeout, mutates = spec.mutates
        let generation = readOnly.withLock { $0.shutdowns }
        var outcome = await chosen.run(spec, limits: limits, redactor: redactor, onStart: { pid in
            if mutates {
                tracking?.add(InFlight.Entry(pid: pid, startTicks: InFlight.startTicks(of: pid), argv: argv, target: spec.target.description,
                                             step: step, started: started, timeoutSeconds: Double(timeout.components.seconds)))
            } else {
                let missedShutdown = self.readOnly.withLock { state -> Bool in
                    if state.shutdowns != generation { return true }
                    state.pids.insert(pid)
                    return false
                }
                // Began before a shutdown that looked before this report came (on a busy machine the spawn's
                // continuation runs late): that shutdown meant this command too.
                if missedShutdown { kill(-pid, SIGTERM) }
            }
            self.emit(.running(id: id, pid: pid))
        }) { [weak self] stream, line in
            self?.emit(.output(id: id, stream: stream, line: line))
        }
        if let pid = outcome.pid {
            tracking?.remove(pid: pid)
            if !mutates { readOnly.withLock { _ = $0.pids.remove(pid) } }
        }
        for note in outcome.notes where said.withLock({ $0.insert("\(spec.target) \(note)").inserted }) {
            notice("\(spec.target): \(note)")
        }
        let elapsed = clock.now - start
        let record = CommandRecord(
            id: id, step: spec.step, target: spec.target.description, argv: argv, mutates: spec.mutates,
            stdin: spec.stdinSummary, started: started,
            durationSeconds: elapsed.seconds,
            termination: outcome.termination, pid: outcome.pid,
            stdoutTail: spec.stdoutIsSecret ? (outcome.secretStdout?.description ?? "") : outcome.stdout.tail,
            stderrTail: outcome.stderr.tail,
            stdoutBytes: outcome.stdout.totalBytes, stderrBytes: outcome.stderr.totalBytes)
        let logProblem = append(record)
        var result = CommandResult(
            record: record, stdout: outcome.stdout.text, stderr: outcome.stderr.text,
            stdoutTruncated: outcome.stdout.truncated, stderrTruncated: outcome.stderr.truncated, captureLimit: limits.capture,
            secretStdout: outcome.secretStdout, logProblem: logProblem)
        if case .connectionFailed(.hostKeyUnknown(let known)) = outcome.termination, known.isEmpty,
            case .ssh(let destination) = spec.target
        {
            let keys = (try? await scanHostKeys(of: destination, step: spec.step).get()) ?? []
            outcome.termination = .connectionFailed(.hostKeyUnknown(fingerprints: keys.map(\.fingerprintLabel)))
            result.record.termination = outcome.termination
        }
        return result
    }

    /// Appends `record` to the command log and tells the subscribers; returns the log's problem, if any.
    @discardableResult
    func append(_ record: CommandRecord) -> CommandLog.Problem? {
        var logProblem: CommandLog.Problem?
        do { try commandLog?.append(record) } catch {
            logProblem = error
            firstLogProblem.withLock { $0 = $0 ?? error }
            logger.error("command log write failed: \(error)")
        }
        emit(.finished(record))
        return logProblem
    }

    var knownSecretsNow: [Secret] { knownSecrets.withLock { $0 } }

    /// Tells the subscribers something the operator should read (scrubbed of known secrets).
    public func notice(_ text: String) { emit(.notice(Redactor(secrets: knownSecretsNow).scrub(text))) }

    func nextID() -> Int { counter.add(1, ordering: .relaxed).newValue }

    /// Call before the wizard exits: ends read-only commands still running (the screen quits while it
    /// observes; nothing they do matters any more, and they would outlive it in their own sessions) and
    /// closes long-lived channels and shared ssh connections. Commands that change something are left to finish. A read-only
    /// command that began before this call and reports its process only after it is ended too; commands
    /// that begin afterwards run as usual (the screen goes on observing after a run).
    public func shutdown() async {
        let running = readOnly.withLock { state in
            state.shutdowns += 1
            return Array(state.pids)
        }
        for pid in running { kill(-pid, SIGTERM) }
        await closeChannels()
        await ssh?.closeSharedConnections()
    }
}

/// The read-only commands that run now, and how many shutdowns there have been.
struct ReadOnlyCommands {
    var pids: Set<Int32> = []
    var shutdowns = 0
}

/// Used when a command targets a host over ssh but the executor was built without ssh options.
struct MissingSSHTransport: Transport {
    func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
             onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
    {
        TransportOutcome(termination: .couldNotStart(reason: "no ssh configuration for \(spec.target)"))
    }
}
