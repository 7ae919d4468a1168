/// Where a command runs: on this machine, or on a server reached over ssh.
public enum Target: Sendable, Hashable, Codable, CustomStringConvertible {
    case local
    case ssh(SSHDestination)

    /// The same target, reached in `dialect` when it is remote.
    public func speaking(_ dialect: RemoteDialect) -> Target {
        guard case .ssh(var d) = self else { return self }
        d.dialect = dialect
        return .ssh(d)
    }

    public var description: String {
        switch self {
        case .local: "local"
        case .ssh(let d): d.description
        }
    }
}
