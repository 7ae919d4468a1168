/// How the ssh transport talks to servers. Every value becomes an explicit `-o` option, so a user's
/// `~/.ssh/config` cannot weaken host key checking or turn on agent forwarding.
public struct SSHOptions: Sendable {
    /// The tool's own known_hosts; the system and user files are not consulted.
    public var knownHostsFile: String
    /// Folder for ControlMaster sockets (short: a socket path has at most 107 bytes).
    public var controlDirectory: String
    public var identityFile: String?
    public var connectTimeout: Int
    public var serverAliveInterval: Int
    public var serverAliveCountMax: Int
    /// Seconds an idle shared connection stays open after the last command.
    public var controlPersist: Int
    public var sshProgram: String

    public init(knownHostsFile: String, controlDirectory: String, identityFile: String? = nil,
                connectTimeout: Int = 5, serverAliveInterval: Int = 5, serverAliveCountMax: Int = 3,
                controlPersist: Int = 60, sshProgram: String = "ssh")
    {
        self.knownHostsFile = knownHostsFile
        self.controlDirectory = controlDirectory
        self.identityFile = identityFile
        self.connectTimeout = connectTimeout
        self.serverAliveInterval = serverAliveInterval
        self.serverAliveCountMax = serverAliveCountMax
        self.controlPersist = controlPersist
        self.sshProgram = sshProgram
    }

    /// Options shared by command runs and control requests, without the destination.
    func commonArguments(for destination: SSHDestination) -> [String] {
        var args = [
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=\(connectTimeout)",
            "-o", "ServerAliveInterval=\(serverAliveInterval)",
            "-o", "ServerAliveCountMax=\(serverAliveCountMax)",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=\(knownHostsFile)",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "UpdateHostKeys=no",
            "-o", "ForwardAgent=no",
            "-o", "ForwardX11=no",
            "-o", "ClearAllForwardings=yes",
            "-o", "PermitLocalCommand=no",
            "-o", "ControlMaster=auto",
            "-o", "ControlPath=\(controlDirectory)/%C",
            "-o", "ControlPersist=\(controlPersist)",
            "-p", String(destination.port),
        ]
        if let identityFile { args += ["-o", "IdentitiesOnly=yes", "-i", identityFile] }
        if let user = destination.user { args += ["-l", user] }
        return args
    }
}
