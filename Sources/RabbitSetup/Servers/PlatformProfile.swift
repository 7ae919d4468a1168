import Executor
import Workflow

extension ProfileName {
    /// Debian or Ubuntu with Debian's `rabbitmq-server` package (``PlatformProfile/debian``).
    public static let debian: ProfileName = "debian"
    /// Windows Server with RabbitMQ as OutSystems installs it, reached over OpenSSH for Windows.
    public static let windows: ProfileName = "windows"
    /// A loopback node of `rabbit-wizard sandbox up`.
    public static let sandbox: ProfileName = "sandbox"
    /// What a topology means when it names no profile.
    public static let standard: ProfileName = .debian
}

/// Where a platform keeps RabbitMQ's files and how it controls the service: data, not branches in the
/// steps. Values may hold `{dir}` (the node's sandbox folder) and `{node}`, and on Windows the places a
/// read-only look at the server found (``WindowsLayout``: `{base}`, `{rmqHome}`, `{cliHome}`,
/// `{windir}`), resolved per node by ``resolved(for:)``.
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
    /// Start the service and return once the node is running (or fail), and stop it: the commands a POSIX
    /// host runs (idempotent there: `service` and the sandbox's scripts), and the words a fix shows on
    /// Windows, whose host moves the service by its observed state instead (``ServerHost/service(_:_:)``).
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
    /// The CLI reads an `eval` expression from stdin (its command line passes through cmd.exe, which
    /// would read Erlang's punctuation as its own: `rabbitmqctl.bat`, RabbitMQ 3.8.10 and later).
    public var expressionsOnStdin = false
    /// The service's name, where the platform has one to ask about (Windows: `RabbitMQ`).
    public var serviceName = ""
    /// Whether Erlang refuses a cookie others may read (`auth.erl` checks the mode on Unix only): on
    /// Windows the wizard's access list is hardening, and the cookie mode and owner findings are not made.
    public var cookieAccessChecked = true

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
        erl: ["sh", "-c", ". {dir}/bin/env && exec erl \"$@\"", "erl"],
        offeredForServers: false,
        lockFile: "{dir}/rabbit-wizard.lock")

    /// Windows Server with RabbitMQ as OutSystems' Configuration Tool installs it: the CLI of the
    /// `rabbitmq_server-*` folder the service runs from (else the newest under the Platform Server), the
    /// files under `RABBITMQ_BASE`, the service's cookie in the system profile and the CLI user's in its
    /// home (plus the copies Erlang may read elsewhere, found by the look at the server). A restart is a stop
    /// and a start of the service, by its observed state; the service is never removed and installed again,
    /// unlike the guide's stop, remove, install: from RabbitMQ 3.8.21 (the oldest the profile takes) what
    /// `rabbitmq-service.bat install` stores in the service does not depend on `rabbitmq.conf` or the cookie,
    /// which the node reads when it boots (rabbitmq/rabbitmq-server v3.8.21 and v3.13.0,
    /// deps/rabbit/scripts/rabbitmq-service.bat, the `erlsrv set` lines), while a remove and install resets
    /// the startup type, account and recovery options an administrator set (erlang/otp
    /// erts/etc/win32/erlsrv/erlsrv_interactive.c, `install_service`: SERVICE_AUTO_START, LocalSystem).
    public static let windows = PlatformProfile(
        name: .windows,
        family: .windows,
        installCommand: "",
        cli: ["{rmqHome}\\sbin\\rabbitmqctl.bat"],
        configFile: "{base}\\rabbitmq.conf",
        advancedConfigFile: "{base}\\advanced.config",
        cookieFile: "{windir}\\System32\\config\\systemprofile\\.erlang.cookie",
        cliCookieFiles: ["{cliHome}\\.erlang.cookie"],
        cookieOwner: "",
        configOwner: "",
        start: ["Start-Service", "RabbitMQ"],
        stop: ["Stop-Service", "RabbitMQ"],
        dataDir: "{base}\\db",
        backupDir: "{base}",
        bootLogs: ["{base}\\log\\{node}.log"],
        erl: [],
        expressionsOnStdin: true,
        serviceName: "RabbitMQ",
        cookieAccessChecked: false,
        placesFromLook: true,
        // A program started over ssh dies with the session there (PowerShell/Win32-OpenSSH#1195), and nginx for
        // Windows is a console program, "beta", with at most 1024 connections per worker (nginx.org's windows.html).
        loadBalancerRefusal: Refusal(why: "a load balancer cannot run on a Windows server: a program the wizard starts over ssh "
                                  + "dies with the session there, and nginx for Windows is a console program, a beta, with at most 1024 connections",
                              fix: "put nginx or HAProxy on a Debian host (profile: debian); the Windows nodes stay behind it"),
        hostsFile: "{windir}\\System32\\drivers\\etc\\hosts",
        lockFile: "{base}\\rabbit-wizard.lock")

    /// Whether the places of such a server come from a read-only look at it before anything else
    /// (``WindowsLayout``, by ``Topology/discovered(executor:)``) rather than from the profile alone.
    public var placesFromLook = false
    /// Whether an operator's own servers can be this platform (the setup form offers it); sandbox nodes are
    /// made by `rabbit-wizard sandbox up`, which writes its own topology.
    public var offeredForServers = true
    /// Why a load balancer cannot run on such a host, and the fix; nil where it can.
    public var loadBalancerRefusal: Refusal?

    /// Why something cannot be done on a platform, and what to do instead.
    public struct Refusal: Sendable, Equatable {
        public var why: String
        public var fix: String
    }

    /// Where names are mapped to addresses by hand on such a server.
    public var hostsFile: String = "/etc/hosts"
    /// The cluster lock (``ClusterLock``), on the seed's server beside the files the wizard manages.
    public var lockFile: String = "/etc/rabbitmq/rabbit-wizard.lock"

    /// `name` in the folder `dir`, with the server's separator.
    public func path(_ dir: String, _ name: String) -> String { dir + (family == .windows ? "\\" : "/") + name }

    /// What an operator types on such a server to fix a finding: words for a fix, never run by the wizard.
    public enum Remedy: Sendable {
        /// Only the owner may read the file.
        case ownerOnly(String)
        /// The file belongs to `owner` (`user:group`).
        case owner(String, String)
        /// Drop a UTF-8 byte order mark from the start of the file.
        case stripByteOrderMark(String)
        /// Make a CLI user's cookie a copy of the service's.
        case copyCookie(from: String, to: String)
    }

    public func remedy(_ r: Remedy) -> String {
        switch (family, r) {
        case (.windows, .ownerOnly(let path)): "icacls \"\(path)\" /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F"
        case (.windows, .owner(let owner, let path)): "icacls \"\(path)\" /setowner \(owner)"
        case (.windows, .stripByteOrderMark(let path)):
            "in PowerShell: $p='\(path)'; $b=[IO.File]::ReadAllBytes($p); [IO.File]::WriteAllBytes($p, $b[3..($b.Length-1)])"
        case (.windows, .copyCookie(let from, let to)): "in PowerShell: Copy-Item -LiteralPath '\(from)' -Destination '\(to)' -Force"
        case (.posix, .ownerOnly(let path)): "chmod 400 \(path)"
        case (.posix, .owner(let owner, let path)): "chown \(owner) \(path)"
        case (.posix, .stripByteOrderMark(let path)): "sed -i '1s/^\\xEF\\xBB\\xBF//' \(path)"
        case (.posix, .copyCookie(let from, let to)): "cp -p \(from) \(to)"
        }
    }

    /// The command that installs `packages` on such a server, for a finding's fix.
    public func installHint(_ packages: [String]) -> String { ([installCommand] + packages).joined(separator: " ") }

    /// How RabbitMQ gets onto such a server, for a finding's fix.
    public var rabbitInstallFix: String {
        family == .windows ? "install RabbitMQ with the OutSystems Configuration Tool's Cache tab (Create/Upgrade Service), before clustering"
            : "install rabbitmq-server (\(installHint(["rabbitmq-server"])))"
    }

    /// Every platform, in the order the setup form and the errors name them (the default first): the one
    /// list the parser, the setup form and the steps read. A new platform is its value and its line here.
    public static let all: [PlatformProfile] = [.debian, .windows, .sandbox]

    /// The registered platform of that name, or nil (the parser's "unknown profile").
    public static func registered(_ name: ProfileName) -> PlatformProfile? { all.first { $0.name == name } }

    /// The platform of a parsed topology's node or load balancer (the parser takes registered names only).
    public static func named(_ name: ProfileName) -> PlatformProfile {
        guard let p = registered(name) else { preconditionFailure("platform \(name) is not in PlatformProfile.all") }
        return p
    }

    /// What an operator's own servers can be, the default first (the setup form's choices).
    public static var forServers: [ProfileName] { all.filter(\.offeredForServers).map(\.name) }
    /// Where a load balancer can run.
    public static var forLoadBalancers: [ProfileName] { all.filter { $0.loadBalancerRefusal == nil }.map(\.name) }

    /// "debian, windows or sandbox", for errors.
    public static func words(_ names: [ProfileName]) -> String {
        let all = names.map(\.rawValue)
        return all.count <= 1 ? all.joined() : all.dropLast().joined(separator: ", ") + " or " + all.last!
    }

    /// A server of this platform as the steps reach it: the ``ServerHost`` of its family, in its dialect.
    public func host(executor: Executor, target: Target, step: StepID?) -> any ServerHost {
        family.host(executor: executor, target: target, step: step)
    }

    /// The profile with `{dir}` replaced by the node's folder, `{node}` by its node name and the Windows
    /// placeholders by what the look at the server found (left as they are where it found nothing: a
    /// command holding one is refused by the host, and the installation checks say why).
    public func resolved(for node: NodeSpec) -> PlatformProfile {
        let dir = node.sandboxDir ?? ""
        let found = node.layout?.layout
        let places = found?.placeholders ?? [:]
        func r(_ s: String) -> String {
            var out = s.replacing("{dir}", with: dir).replacing("{node}", with: node.nodeName.description)
            for (key, value) in places { out = out.replacing(key, with: value) }
            return out
        }
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
        p.hostsFile = r(hostsFile)
        p.lockFile = r(lockFile)
        p.cliCookieFiles += (found?.seen.extraCookies ?? []).filter { !p.cliCookieFiles.contains($0) && $0 != p.cookieFile }
        return p
    }
}
