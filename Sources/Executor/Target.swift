/// Where a command runs: on this machine, or on a server reached over ssh.
public enum Target: Sendable, Hashable, Codable, CustomStringConvertible {
    case local
    case ssh(SSHDestination)

    public var description: String {
        switch self {
        case .local: "local"
        case .ssh(let d): d.description
        }
    }
}
