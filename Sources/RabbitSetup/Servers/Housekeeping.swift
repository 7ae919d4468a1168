import Executor
import Foundation
import Workflow

/// How many of its own leftovers the wizard keeps. The README documents the defaults.
public struct Retention: Sendable, Equatable {
    /// Backups per managed file and server (`rabbitmq.conf`, `advanced.config`, the cookies, the load
    /// balancer's configuration): `FILE.rabbit-wizard-<UTC time>.bak`.
    public var backupsPerFile: Int
    /// Definitions exports per node (cluster-join writes one before a node joins).
    public var exportsPerNode: Int
    /// Run files in `STATE/journal`; an older one goes only when no step needs it any more.
    public var journalRuns: Int

    public init(backupsPerFile: Int, exportsPerNode: Int, journalRuns: Int) {
        self.backupsPerFile = backupsPerFile
        self.exportsPerNode = exportsPerNode
        self.journalRuns = journalRuns
    }

    public static let standard = Retention(backupsPerFile: 5, exportsPerNode: 5, journalRuns: 20)
}

/// A family of files the wizard leaves on a server: paths that start with `prefix` and end with `suffix`,
/// whose names sort oldest first (they carry their UTC time).
public struct KeptPattern: Sendable, Hashable {
    public var prefix: String
    public var suffix: String
    /// "backups of /etc/rabbitmq/rabbitmq.conf", for people.
    public var what: String
    /// How many of the newest stay.
    public var keep: Int

    public init(prefix: String, suffix: String, what: String, keep: Int) {
        self.prefix = prefix
        self.suffix = suffix
        self.what = what
        self.keep = keep
    }

    /// The part between prefix and suffix is the file's time (no `-` or `/`): node `b`'s exports are not
    /// node `b-1`'s.
    public func matches(_ path: String) -> Bool {
        guard path.count > prefix.count + suffix.count, path.hasPrefix(prefix), path.hasSuffix(suffix) else { return false }
        let stamp = path.dropFirst(prefix.count).dropLast(suffix.count)
        return !stamp.contains("-") && !stamp.contains("/")
    }
}

public struct KeptFile: Sendable, Equatable, Codable {
    public var path: String
    public var bytes: Int

    public init(path: String, bytes: Int) {
        self.path = path
        self.bytes = bytes
    }
}

/// The wizard's own files on the servers: listed for `status`, and pruned after every run that could
/// add one (apply, retry, rollback) down to ``Retention``, never removing a file the journal's undo data
/// still names (a possible rollback reads it).
public enum Housekeeping {
    /// One server and the patterns of files the wizard keeps there.
    struct Place: Sendable {
        var roles: [String]
        var host: any ServerHost
        var patterns: [KeptPattern]

        /// "this machine (node-a, node-b, load balancer)", "admin@10.0.0.11 (node-a)".
        var name: String {
            let server = host.target == .local ? "this machine" : host.target.description
            return "\(server) (\(roles.joined(separator: ", ")))"
        }
    }

    /// What one server holds, and what a sweep removed there (or why it could not look).
    public struct Report: Sendable, Equatable, Codable {
        public var server: String
        public var files: Int
        public var bytes: Int
        public var removed: [String]
        public var problem: String?
    }

    public static let step = StepID("housekeeping")

    /// Every server of the topology with its patterns, one place per target (nodes sharing a host share it).
    static func places(_ topology: Topology, executor: Executor, retention: Retention) -> [Place] {
        var places: [Place] = []
        func add(_ role: String, _ host: any ServerHost, _ patterns: [KeptPattern]) {
            if let i = places.firstIndex(where: { $0.host.target == host.target }) {
                places[i].patterns += patterns.filter { !places[i].patterns.contains($0) }
                places[i].roles.append(role)
            } else {
                places.append(Place(roles: [role], host: host, patterns: patterns))
            }
        }
        func backups(_ file: String) -> KeptPattern {
            KeptPattern(prefix: file + ".rabbit-wizard-", suffix: ".bak", what: "backups of \(file)", keep: retention.backupsPerFile)
        }
        // Leaving nodes too: their backups stay on their servers after they leave.
        for spec in topology.nodes + topology.leaving {
            let node = RabbitNode(spec, executor: executor, step: step)
            let files = [node.profile.configFile, node.profile.advancedConfigFile, node.profile.cookieFile] + node.profile.cliCookieFiles
            let exports = KeptPattern(prefix: node.profile.path(node.profile.backupDir, "rabbit-wizard-definitions-\(spec.name)-"), suffix: ".json",
                                      what: "definitions exports of \(spec.name)", keep: retention.exportsPerNode)
            add(spec.name, node.host, files.map(backups) + [exports])
        }
        if let lb = topology.loadBalancer, !lb.isExternal {
            // Every kind's file: a switch from nginx to HAProxy leaves the old kind's backups behind too; on
            // each host of a pair, keepalived's files as well.
            for (i, member) in lb.members.enumerated() {
                let configs = LoadBalancerKinds.standard.map { $0.layout(for: member).configPath }
                    + (lb.isPair ? [FloatingAddressStep.configPath, FloatingAddressStep.scriptPath] : [])
                add(lb.isPair ? "load balancer \(i + 1)" : "load balancer", member.server(executor: executor, step: step), configs.map(backups))
            }
        }
        return places
    }

    /// What the wizard keeps on each server now. Read-only: a sweep with unknown needs removes nothing.
    public static func survey(_ topology: Topology, executor: Executor) async -> [Report] {
        await sweep(topology, executor: executor, retention: .standard, needed: nil)
    }

    /// The files beyond each pattern's `keep` newest, oldest first, leaving out any file `needed` names.
    /// With `needed` nil (undo data that cannot be read) nothing is surplus.
    public static func surplus(_ files: [KeptFile], patterns: [KeptPattern], needed: Set<String>?) -> [String] {
        guard let needed else { return [] }
        var out: [String] = []
        for pattern in patterns {
            let mine = files.map(\.path).filter { path in patterns.first { $0.matches(path) } == pattern }.sorted()
            out += mine.dropLast(max(pattern.keep, 1)).filter { !needed.contains($0) }
        }
        return out
    }

    /// Lists each server's files and removes the surplus in one command per server (none when nothing is
    /// surplus), all servers at once; reports in the topology's order. A server that cannot be reached is
    /// reported, not an error: housekeeping never fails a run.
    public static func sweep(_ topology: Topology, executor: Executor, retention: Retention, needed: Set<String>?) async -> [Report] {
        let all = places(topology, executor: executor, retention: retention)
        return await withTaskGroup(of: (Int, Report).self) { group in
            for (index, place) in all.enumerated() {
                group.addTask { (index, await sweep(place, needed: needed)) }
            }
            var reports: [(Int, Report)] = []
            for await r in group { reports.append(r) }
            return reports.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    static func sweep(_ place: Place, needed: Set<String>?) async -> Report {
        var report = Report(server: place.name, files: 0, bytes: 0, removed: [])
        do {
            let files = try await place.host.list(place.patterns)
            let remove = surplus(files, patterns: place.patterns, needed: needed)
            if !remove.isEmpty { try await place.host.prune(remove) }
            report.removed = remove
            let left = files.filter { !remove.contains($0.path) }
            report.files = left.count
            report.bytes = left.map(\.bytes).reduce(0, +)
        } catch {
            report.problem = error.cause
        }
        return report
    }
}
