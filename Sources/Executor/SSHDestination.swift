/// Where an ssh command goes: `ssh://[user@]host[:port]`, validated so that no part can be read as an
/// option or carry shell syntax.
public struct SSHDestination: Sendable, Hashable, Codable, CustomStringConvertible {
    public let user: String?
    public let host: HostName
    public let port: Int
    /// What the server's login shell speaks (from the node's profile; POSIX unless it says otherwise).
    public var dialect: RemoteDialect = .posix

    public enum Problem: Error, Equatable, Sendable {
        case notSSHURL(String)
        case badUser(String)
        case badHost(String, HostName.Problem)
        case badPort(String)
    }

    enum CodingKeys: String, CodingKey { case user, host, port, dialect }

    /// Journals written before dialects existed have none: POSIX.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        host = try c.decode(HostName.self, forKey: .host)
        port = try c.decode(Int.self, forKey: .port)
        dialect = try c.decodeIfPresent(RemoteDialect.self, forKey: .dialect) ?? .posix
    }

    public init(user: String?, host: HostName, port: Int = 22) throws(Problem) {
        if let user {
            let ok = !user.isEmpty && user.utf8.count <= 32 && !user.hasPrefix("-")
                && user.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
            guard ok else { throw .badUser(user) }
        }
        guard (1...65535).contains(port) else { throw .badPort(String(port)) }
        self.user = user
        self.host = host
        self.port = port
    }

    /// Parses `ssh://user@host:port`; `[v6]:port` is accepted for IPv6 literals.
    public init(url: String) throws(Problem) {
        guard url.hasPrefix("ssh://") else { throw .notSSHURL(url) }
        var rest = Substring(url.dropFirst("ssh://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        var hostPart = rest
        var port = 22
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw .notSSHURL(url) }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { throw .badPort(String(after.dropFirst())) }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            let portText = rest[rest.index(after: colon)...]
            guard let p = Int(portText) else { throw .badPort(String(portText)) }
            port = p
        }
        let host: HostName
        do { host = try HostName(String(hostPart)) } catch { throw .badHost(String(hostPart), error) }
        try self.init(user: user, host: host, port: port)
    }

    /// The form ssh-keyscan and known_hosts use: `host` on port 22, `[host]:port` otherwise.
    public var knownHostsName: String { port == 22 ? host.value : "[\(host.value)]:\(port)" }

    public var description: String {
        let h = host.value.contains(":") ? "[\(host.value)]" : host.value
        return "ssh://\(user.map { "\($0)@" } ?? "")\(h)\(port == 22 ? "" : ":\(port)")"
    }
}
