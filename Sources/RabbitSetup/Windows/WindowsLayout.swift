import Executor
import Foundation
import Workflow

/// Where OutSystems (or an operator) put RabbitMQ on one Windows server, and who the wizard is there: what
/// the read-only `Get-RabbitLayout` call answers, and the profile's placeholders derived from it. Nothing
/// here is assumed: a value the server does not show stays empty and becomes a finding.
public struct WindowsLayout: Sendable, Hashable, Codable {
    /// What the server answered (``RabbitPowerShell``'s `Get-RabbitLayout`, one JSON object).
    public struct Seen: Sendable, Hashable, Codable {
        public var powershell: String = ""
        public var administrator: Bool = false
        public var user: String = ""
        public var windir: String = ""
        public var homeDrive: String = ""
        public var homePath: String = ""
        public var userProfile: String = ""
        /// The machine-wide environment variables (OutSystems sets these at installation).
        public var machineBase: String = ""
        public var machineNodeName: String = ""
        public var erlangHome: String = ""
        /// `NAME=value` lines the service stored at its installation (erlsrv's `Env`).
        public var serviceEnv: [String] = []
        /// The Platform Server folder from the registry, empty where OutSystems is not installed.
        public var platformServer: String = ""
        public var rabbitHomes: [String] = []
        /// `Running`, `Stopped`, ... or `missing`.
        public var service: String = ""
        public var hostName: String = ""
        /// Copies of the cookie Erlang may read elsewhere (kept in sync, never created).
        public var extraCookies: [String] = []
        public var openssh: String = ""
        public var defaultShell: String = ""

        public init() {}

        /// Every field may be missing (an older library, a value the server does not have): empty then.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func text(_ k: CodingKeys) throws -> String { try c.decodeIfPresent(String.self, forKey: k) ?? "" }
            func list(_ k: CodingKeys) throws -> [String] { try c.decodeIfPresent([String].self, forKey: k) ?? [] }
            powershell = try text(.powershell)
            administrator = try c.decodeIfPresent(Bool.self, forKey: .administrator) ?? false
            user = try text(.user)
            windir = try text(.windir)
            homeDrive = try text(.homeDrive)
            homePath = try text(.homePath)
            userProfile = try text(.userProfile)
            machineBase = try text(.machineBase)
            machineNodeName = try text(.machineNodeName)
            erlangHome = try text(.erlangHome)
            serviceEnv = try list(.serviceEnv)
            platformServer = try text(.platformServer)
            rabbitHomes = try list(.rabbitHomes)
            service = try text(.service)
            hostName = try text(.hostName)
            extraCookies = try list(.extraCookies)
            openssh = try text(.openssh)
            defaultShell = try text(.defaultShell)
        }
    }

    public var seen: Seen

    public init(seen: Seen) { self.seen = seen }

    /// Where the service keeps its files: the machine variable, else what the service stored at its
    /// installation (`RABBITMQ_BASE`, else `APPDATA\RabbitMQ`), else OutSystems' default.
    public var base: (path: String, source: String) {
        if !seen.machineBase.isEmpty { return (seen.machineBase, "the machine variable RABBITMQ_BASE") }
        if let b = storedByService("RABBITMQ_BASE") { return (b, "the service's stored RABBITMQ_BASE") }
        if let a = storedByService("APPDATA") { return (a + "\\RabbitMQ", "the service's stored APPDATA") }
        return ("C:\\ProgramData\\RabbitMQ", "OutSystems' default (nothing on the server names it)")
    }

    func storedByService(_ name: String) -> String? {
        for line in seen.serviceEnv {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].caseInsensitiveCompare(name) == .orderedSame, !parts[1].isEmpty { return String(parts[1]) }
        }
        return nil
    }

    /// The `rabbitmq_server-X.Y.Z` folder the service runs from: its stored `ERL_LIBS` names that folder's
    /// `plugins` (rabbitmq/rabbitmq-server v3.13.0, deps/rabbit/scripts/rabbitmq-env.bat, lines 15-21, and
    /// rabbitmq-service.bat, `-env ERL_LIBS`), if the service has one.
    public var serviceHome: String? {
        guard let libs = storedByService("ERL_LIBS") else { return nil }
        for entry in libs.split(separator: ";") where entry.lowercased().hasSuffix("\\plugins") {
            let home = String(entry.dropLast("\\plugins".count))
            if !home.isEmpty { return home }
        }
        return nil
    }

    /// The folder whose CLI the wizard runs: the one the service runs from, else the newest
    /// `rabbitmq_server-X.Y.Z` (by version, not by name), if any.
    public var rabbitHome: String? {
        serviceHome ?? seen.rabbitHomes.max { WindowsLayout.version(of: $0).lexicographicallyPrecedes(WindowsLayout.version(of: $1)) }
    }

    /// RabbitMQ's version from its folder's name (`rabbitmq_server-3.13.0`), as numbers.
    public var rabbitVersion: [Int]? { rabbitHome.map(WindowsLayout.version(of:)).flatMap { $0.isEmpty ? nil : $0 } }

    static func version(of home: String) -> [Int] {
        guard let name = home.split(separator: "\\").last, let dash = name.lastIndex(of: "-") else { return [] }
        return name[name.index(after: dash)...].split(separator: ".").compactMap { Int($0) }
    }

    /// The CLI user's home, where `rabbitmqctl.bat`'s Erlang reads its cookie: `HOMEDRIVE`+`HOMEPATH`,
    /// else `USERPROFILE` (Erlang 20.2 and later).
    public var cliHome: String {
        !seen.homeDrive.isEmpty && !seen.homePath.isEmpty ? seen.homeDrive + seen.homePath : seen.userProfile
    }

    /// The node name the service uses: `RABBITMQ_NODENAME` (machine-wide, else stored by the service),
    /// else `rabbit@` and the host name as Windows reports it (case kept).
    public var nodeName: String {
        if !seen.machineNodeName.isEmpty { return seen.machineNodeName }
        if let n = storedByService("RABBITMQ_NODENAME") { return n }
        return "rabbit@" + seen.hostName
    }

    /// The profile's placeholders and their values on this server (a missing RabbitMQ folder leaves
    /// `{rmqHome}` out: commands that need it are then refused, and the checks say why).
    public var placeholders: [String: String] {
        var p = ["{base}": base.path, "{cliHome}": cliHome, "{windir}": seen.windir.isEmpty ? "C:\\Windows" : seen.windir]
        if let home = rabbitHome { p["{rmqHome}"] = home }
        return p
    }
}

/// What discovering a node's layout gave: the layout, or why it could not be read.
public enum LayoutDiscovery: Sendable, Hashable {
    case found(WindowsLayout)
    case failed(String)

    public var layout: WindowsLayout? { if case .found(let l) = self { l } else { nil } }
}

extension WindowsHost {
    /// The read-only look at the server that resolves the `windows` profile (``WindowsLayout``).
    public func discoverLayout(serviceName: String) async -> LayoutDiscovery {
        let r = await call(RabbitPowerShell.layout, [serviceName], timeout: .seconds(60), mutates: false)
        let out: String
        do { out = try r.whole(doing: "look at the RabbitMQ installation", on: target) } catch { return .failed(error.cause) }
        guard let line = out.split(whereSeparator: \.isNewline).first,
              let seen = try? JSONDecoder().decode(WindowsLayout.Seen.self, from: Data(line.utf8))
        else { return .failed("unexpected answer from \(target) describing its RabbitMQ installation: \(out.prefix(200))") }
        return .found(WindowsLayout(seen: seen))
    }
}

extension RabbitNode {
    /// The names of ``platformFindings()``, for waivers.
    public static let platformFindingNames = ["windows-layout", "windows-layout-unknown", "windows-not-administrator", "rabbitmq-not-found", "several-rabbitmq-folders",
                                      "rabbitmq-base-not-machine-wide", "rabbitmq-too-old-for-windows", "rabbitmq-service-missing",
                                      "erlang-home-missing", "openssh-old"]

    /// What the installation checks say from the look at the node's server, where its profile takes its
    /// places from one (Windows, ``WindowsLayout``): what was found (`windows-layout`, for the operator to
    /// compare with the server), what the wizard cannot work with, and what the operator should know. Read
    /// before the node's own facts, and without them; none for other profiles.
    public func platformFindings() -> [Finding] {
        let node = self
        guard PlatformProfile.named(spec.profile).placesFromLook else { return [] }
        let name = spec.name
        guard let layout = spec.layout?.layout else {
            let why: String = if case .failed(let reason) = spec.layout { reason } else { "it was not looked at" }
            return [Finding("windows-layout-unknown", .error, node: name, message: "cannot tell where RabbitMQ is on \(name): \(why)",
                            fix: "check that ssh reaches \(node.spec.target) as an administrator (rabbit-wizard exec --windows --target \(node.spec.target) -- whoami.exe)")]
        }
        let seen = layout.seen
        let version = layout.rabbitVersion.map { "RabbitMQ " + $0.map(String.init).joined(separator: ".") } ?? "RabbitMQ"
        var out = [Finding("windows-layout", .info, node: name,
                           message: "\(version) in \(layout.rabbitHome ?? "(not found)"); its files in \(layout.base.path) (\(layout.base.source)); "
                               + "the service names its node \(layout.nodeName); the CLI's cookie \(node.profile.cliCookieFile); login \(seen.user)"
                               + "\(seen.administrator ? " (administrator)" : ""), PowerShell \(seen.powershell.isEmpty ? "?" : seen.powershell), "
                               + "OpenSSH \(seen.openssh.isEmpty ? "?" : seen.openssh)",
                           fix: nil)]
        if !seen.administrator {
            out.append(Finding("windows-not-administrator", .error, node: name,
                               message: "the ssh login \(seen.user) on \(name) is not an administrator: the service, the system profile's cookie and \(layout.base.path) need one",
                               fix: "log in as a member of Administrators (their keys go in C:\\ProgramData\\ssh\\administrators_authorized_keys)"))
        }
        if seen.service == "missing" {
            out.append(Finding("rabbitmq-service-missing", .error, node: name, message: "\(name) has no Windows service named \(node.profile.serviceName)",
                               fix: "install RabbitMQ with the Configuration Tool's Cache tab on \(name) first (Create/Upgrade Service, before clustering)"))
        }
        if let home = layout.rabbitHome {
            if seen.rabbitHomes.count > 1 {
                let which = layout.serviceHome != nil ? "the one the service runs from (its stored ERL_LIBS)" : "the newest (the service does not say which it runs from)"
                out.append(Finding("several-rabbitmq-folders", .warning, node: name,
                                   message: "\(seen.rabbitHomes.count) RabbitMQ folders on \(name): \(seen.rabbitHomes.joined(separator: ", ")); the wizard uses \(which), \(home)",
                                   fix: "check that the service runs from \(home), then remove the other folders"))
            }
            if let v = layout.rabbitVersion, v.lexicographicallyPrecedes([3, 8, 21]) {
                out.append(Finding("rabbitmq-too-old-for-windows", .error, node: name,
                                   message: "RabbitMQ \(v.map(String.init).joined(separator: ".")) on \(name): rabbitmqctl.bat passes its arguments through cmd.exe, so Erlang expressions "
                                       + "and passwords must go on stdin, which rabbitmqctl reads from 3.8.10 (eval) and 3.8.21 (add_user); nothing is sent to an older one",
                                   fix: "upgrade RabbitMQ on \(name) to 3.8.21 or later (OutSystems 11.13.2 and later ship it) before clustering"))
            }
        } else {
            let place = seen.platformServer.isEmpty ? "no OutSystems Platform Server is registered" : "no rabbitmq_server-* folder under \(seen.platformServer)\\thirdparty\\RabbitMQ Server"
            out.append(Finding("rabbitmq-not-found", .error, node: name, message: "cannot find RabbitMQ on \(name): \(place)",
                               fix: "install RabbitMQ with the Configuration Tool's Cache tab on \(name) first"))
        }
        if seen.machineBase.isEmpty {
            out.append(Finding("rabbitmq-base-not-machine-wide", .warning, node: name,
                               message: "RABBITMQ_BASE is not set machine-wide on \(name): the wizard uses \(layout.base.path), from \(layout.base.source) (it never "
                                   + "reinstalls the service), but a later rabbitmq-service.bat install run from another account's session would move the files "
                                   + "to that account's APPDATA",
                               fix: "on \(name), as an administrator: setx /M RABBITMQ_BASE \"\(layout.base.path)\" (OutSystems sets it so at installation)"))
        }
        if seen.erlangHome.isEmpty {
            out.append(Finding("erlang-home-missing", .error, node: name, message: "ERLANG_HOME is not set machine-wide on \(name): rabbitmqctl.bat cannot find Erlang",
                               fix: "set it to the Platform Server's thirdparty\\Erlang folder: setx /M ERLANG_HOME \"<folder>\""))
        }
        let ssh = seen.openssh.split(separator: ".").compactMap { Int($0) }
        if ssh.isEmpty || ssh.lexicographicallyPrecedes([7, 9]) {
            out.append(Finding("openssh-old", .warning, node: name,
                               message: "OpenSSH for Windows on \(name) is \(seen.openssh.isEmpty ? "of unknown version" : seen.openssh): releases before 7.9 (Windows Server 2019 ships 7.7.2.1) "
                                   + "had stdin and quoting bugs, and are not what Ansible supports",
                               fix: "install a current Win32-OpenSSH release on \(name)"))
        }
        if node.spec.nodeName.description != layout.nodeName {
            out.append(Finding("node-name-mismatch", .error, node: name,
                               message: "the service on \(name) names its node \(layout.nodeName), the topology says \(node.spec.nodeName) (node names are case-sensitive)",
                               fix: "set node_name: \(layout.nodeName) for \(name) in the topology"))
        }
        return out
    }
}

extension Topology {
    /// Whether a look at a server failed or has not been made (then the topology is worth looking at again).
    public var hasUnknownLayouts: Bool { (nodes + leaving).contains { PlatformProfile.named($0.profile).placesFromLook && $0.layout?.layout == nil } }

    /// The topology with each Windows node's layout looked at (read-only, all at once): the `windows`
    /// profile's places resolve from it. A node that could not be looked at keeps the reason, which the
    /// installation checks report; nothing else changes.
    public func discovered(executor: Executor) async -> Topology {
        var out = self
        func look(_ specs: [NodeSpec]) async -> [NodeSpec] {
            await withTaskGroup(of: (Int, LayoutDiscovery).self) { group in
                for (i, spec) in specs.enumerated() where PlatformProfile.named(spec.profile).placesFromLook {
                    group.addTask {
                        let profile = PlatformProfile.named(spec.profile)
                        let host = WindowsHost(executor: executor, target: spec.target.speaking(profile.family.dialect), step: .installationChecks)
                        return (i, await host.discoverLayout(serviceName: profile.serviceName))
                    }
                }
                var result = specs
                for await (i, found) in group { result[i].layout = found }
                return result
            }
        }
        out.nodes = await look(nodes)
        out.leaving = await look(leaving)
        return out
    }
}
