/// Where a platform keeps RabbitMQ's files and how it controls the service: data, not branches in the
/// steps. Values may hold `{dir}` (the node's sandbox folder), resolved per node by ``resolved(for:)``.
///
/// A `windows` profile would set `cli` to `rabbitmqctl.bat`, the config under
/// `%ALLUSERSPROFILE%\RabbitMQ`, the service cookie under the system profile with the CLI user's
/// `%USERPROFILE%\.erlang.cookie` in `cliCookieFiles`, and `rabbitmq-service.bat stop|start`; the steps
/// would not change.
public struct PlatformProfile: Sendable, Equatable {
    public var name: ProfileName
    /// Which ``ServerHost`` implementation talks to these servers.
    public var family: HostFamily = .posix
    /// How an operator installs packages there, for the fixes the findings give (`apt-get install`).
    public var installCommand: String = "apt-get install"
    /// argv prefix that runs `rabbitmqctl` on the node's host, as the user whose cookie the CLI uses.
    public var cli: [String]
    public var configFile: String
    public var advancedConfigFile: String
    /// The service's cookie.
    public var cookieFile: String
    /// Cookies of CLI users that must match the service's (empty when the CLI uses the service's own).
    public var cliCookieFiles: [String]
    /// The cookie the CLI uses (its user's): the first CLI cookie, else the service's own.
    public var cliCookieFile: String { cliCookieFiles.first ?? cookieFile }
    /// `user:group` for the cookie file, or empty to keep the writer's.
    public var cookieOwner: String
    /// `user:group` for a config file the wizard creates, or empty.
    public var configOwner: String
    /// Start the service and return once the node is running (or fail).
    public var start: [String]
    public var stop: [String]
    /// Where the node keeps its data (for the free-disk check).
    public var dataDir: String
    /// Where the wizard keeps definitions exports on the node's host (mode 0600 files).
    public var backupDir: String
    /// Logs that hold why a node did not come back (read when a start fails, newest lines last).
    public var bootLogs: [String] = []
    /// argv prefix that runs Erlang's `erl` as the CLI's user, with the CLI's HOME (so the same cookie)
    /// and environment: the node connection's VM. Empty: no node connection, every read uses the CLI.
    public var erl: [String] = []

    /// The Debian/Ubuntu package layout. The CLI runs as `rabbitmq` with its HOME, like Debian's
    /// `/usr/sbin/rabbitmqctl` wrapper, but without the wrapper's re-quoting through `su -c`; in
    /// `/var/lib/rabbitmq`, since the Erlang VM reads its working folder (over ssh that is root's home,
    /// which `rabbitmq` may not read: every module load then logs `eacces` into the command's output).
    public static let debian = PlatformProfile(
        name: .debian,
        cli: ["runuser", "-u", "rabbitmq", "--", "env", "-C", "/var/lib/rabbitmq", "HOME=/var/lib/rabbitmq", "/usr/lib/rabbitmq/bin/rabbitmqctl"],
        configFile: "/etc/rabbitmq/rabbitmq.conf",
        advancedConfigFile: "/etc/rabbitmq/advanced.config",
        cookieFile: "/var/lib/rabbitmq/.erlang.cookie",
        cliCookieFiles: [],
        cookieOwner: "rabbitmq:rabbitmq",
        configOwner: "root:rabbitmq",
        start: ["service", "rabbitmq-server", "start"],
        stop: ["service", "rabbitmq-server", "stop"],
        dataDir: "/var/lib/rabbitmq",
        backupDir: "/var/lib/rabbitmq",
        bootLogs: ["/var/log/rabbitmq/{node}.log"],
        erl: ["runuser", "-u", "rabbitmq", "--", "env", "-C", "/var/lib/rabbitmq", "HOME=/var/lib/rabbitmq", "erl"])

    /// A loopback sandbox node: everything under its folder, controlled by the scripts `sandbox up` wrote.
    public static let sandbox = PlatformProfile(
        name: .sandbox,
        cli: ["{dir}/bin/rabbitmqctl"],
        configFile: "{dir}/rabbitmq.conf",
        advancedConfigFile: "{dir}/advanced.config",
        cookieFile: "{dir}/home/.erlang.cookie",
        cliCookieFiles: [],
        cookieOwner: "",
        configOwner: "",
        start: ["{dir}/bin/start"],
        stop: ["{dir}/bin/stop"],
        dataDir: "{dir}/data",
        backupDir: "{dir}",
        bootLogs: ["{dir}/log/startup.log", "{dir}/log/{node}.log"],
        erl: ["sh", "-c", ". {dir}/bin/env && exec erl \"$@\"", "erl"])

    /// Where names are mapped to addresses by hand on such a server.
    public var hostsFile: String = "/etc/hosts"

    /// What an operator types on such a server to fix a finding: words for a fix, never run by the wizard.
    public enum Remedy: Sendable {
        /// Only the owner may read the file.
        case ownerOnly(String)
        /// The file belongs to `owner` (`user:group`).
        case owner(String, String)
        /// Drop a UTF-8 byte order mark from the start of the file.
        case stripByteOrderMark(String)
    }

    public func remedy(_ r: Remedy) -> String {
        switch r {
        case .ownerOnly(let path): "chmod 400 \(path)"
        case .owner(let owner, let path): "chown \(owner) \(path)"
        case .stripByteOrderMark(let path): "sed -i '1s/^\\xEF\\xBB\\xBF//' \(path)"
        }
    }

    /// The command that installs `packages` on such a server, for a finding's fix.
    public func installHint(_ packages: [String]) -> String { ([installCommand] + packages).joined(separator: " ") }

    public static func named(_ name: ProfileName) -> PlatformProfile {
        switch name {
        case .debian: debian
        case .sandbox: sandbox
        }
    }

    /// The profile with `{dir}` replaced by the node's folder and `{node}` by its node name.
    public func resolved(for node: NodeSpec) -> PlatformProfile {
        let dir = node.sandboxDir ?? ""
        func r(_ s: String) -> String { s.replacing("{dir}", with: dir).replacing("{node}", with: node.nodeName.description) }
        var p = self
        p.cli = cli.map(r)
        p.erl = erl.map(r)
        p.configFile = r(configFile)
        p.advancedConfigFile = r(advancedConfigFile)
        p.cookieFile = r(cookieFile)
        p.cliCookieFiles = cliCookieFiles.map(r)
        p.start = start.map(r)
        p.stop = stop.map(r)
        p.dataDir = r(dataDir)
        p.backupDir = r(backupDir)
        p.bootLogs = bootLogs.map(r)
        return p
    }
}
