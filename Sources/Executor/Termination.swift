/// How a command ended, as data. A non-zero exit is a result, not an error.
public enum Termination: Sendable, Equatable, Codable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)
    /// The deadline passed; the whole process group was sent TERM, then KILL after the grace period.
    case timedOut(seconds: Double)
    /// The program could not be started at all (missing executable, bad working directory).
    case couldNotStart(reason: String)
    /// ssh could not reach the host or lost it; see ``ConnectionFailure``.
    case connectionFailed(ConnectionFailure)
    /// Dry-run mode: a mutating command was recorded but not run.
    case notRun(reason: String)

    public var isSuccess: Bool { self == .exited(code: 0) }

    /// Whether the command may have changed something that we did not observe: the workflow treats
    /// such a step as "outcome unknown" and reconciles before anything else.
    public var outcomeUnknown: Bool {
        switch self {
        case .timedOut: true
        case .connectionFailed(let f): f.commandMayHaveRun
        default: false
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .timedOut(let s): "timed out after \(s) s (process group killed)"
        case .couldNotStart(let reason): "could not start: \(reason)"
        case .connectionFailed(let f): f.description
        case .notRun(let reason): "not run (\(reason))"
        }
    }
}

/// Why ssh did not deliver a command. All but ``lost`` mean the command never started remotely.
public enum ConnectionFailure: Sendable, Equatable, Codable, CustomStringConvertible {
    /// TCP connect failed or timed out, or the name did not resolve.
    case unreachable(reason: String)
    /// The host's key is not in the tool's known_hosts. `fingerprint` is what the host offers now.
    case hostKeyUnknown(fingerprints: [String])
    /// The host's key differs from the enrolled one: a hard stop, never overridden automatically.
    case hostKeyChanged(fingerprint: String?)
    case authenticationFailed(reason: String)
    /// The connection dropped after it was established: the remote command's outcome is unknown.
    case lost(reason: String)

    public var commandMayHaveRun: Bool {
        if case .lost = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .unreachable(let r): "unreachable: \(r)"
        case .hostKeyUnknown(let f): "host key unknown (\(f.joined(separator: ", ")))"
        case .hostKeyChanged(let f): "host key changed (\(f ?? "fingerprint not shown"))"
        case .authenticationFailed(let r): "authentication failed: \(r)"
        case .lost(let r): "connection lost: \(r)"
        }
    }
}
