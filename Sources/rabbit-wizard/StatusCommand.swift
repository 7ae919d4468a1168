import ArgumentParser
import Executor
import Foundation
import RabbitSetup
import WizardCore
import Workflow

/// `rabbit-wizard status`: what the journal says and what the servers show now. Read-only.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each step's recorded state and what the servers show now. Read-only.",
        discussion: """
            For every step: the state recorded in the journal (pending, done, failed, unknown, rolled-back, \
            skipped) and a live observation (its plan now: up to date, or how many changes are pending). A \
            step whose run was interrupted is shown as unknown together with what observation finds; \
            'apply' reconciles it. Then the cluster as every node sees it: healthy, DEGRADED (a node missing \
            from some node's view, or not readable), or NETWORK PARTITION (groups of nodes that each run \
            without the others, or a partition RabbitMQ recorded). Nothing is changed and nothing is journaled.
            """)

    @OptionGroup var options: WorkflowOptions
    @Flag(help: "Print JSON.") var json = false

    struct Row: Codable {
        var id: StepID
        var title: String
        var recorded: StepStatus
        var live: String
        var pendingChanges: Int?
        var lastFailure: String?
    }

    /// The cluster as every node sees it.
    struct Cluster: Codable {
        /// healthy, degraded, partitioned, or separate (clusters that never joined each other).
        var verdict: String
        var summary: String
        /// Node -> the nodes it sees running.
        var running: [String: [String]]
        /// Node -> why it could not be read.
        var unreadable: [String: String]

        init(_ view: ClusterView, strategy: PartitionHandling) {
            switch view.verdict {
            case .healthy: verdict = "healthy"
            case .partitioned: verdict = "partitioned"
            case .separate: verdict = "separate"
            case .degraded: verdict = "degraded"
            }
            summary = view.summary(strategy: strategy)
            running = [:]
            unreadable = [:]
            for (node, seen) in view.seen {
                switch seen {
                case .status(let s): running[node] = s.runningNodes.sorted()
                case .unreadable(let why): unreadable[node] = why
                }
            }
        }
    }

    struct Output: Codable {
        var steps: [Row]
        var cluster: Cluster?
        var interrupted: [StepID]
        var pendingRestarts: [String: String]
        /// Commands an interrupted run left running (they are waited for by the next run).
        var stillRunning: [String]
        var lock: String?
        /// Who holds the cluster lock on the seed's server, unless it is free (absent without a topology).
        var clusterLock: String?
        var kept: Kept
        /// The load balancer, which kind (the wizard's own or the site's, external) and what is seen through it.
        var loadBalancer: String?
    }

    /// The load balancer in a line: whose it is, where, and the load-balancer step's live observation.
    static func loadBalancer(_ lb: LoadBalancerSpec?, _ rows: [Row], vrrp: [(host: String, state: String?)]) -> String? {
        guard let lb, let row = rows.first(where: { $0.id == .loadBalancer }) else { return nil }
        // A row's observation: its words when verified, else what failed.
        func seen(_ row: Row, _ verified: String) -> String {
            row.live == Session.verifiedWords ? verified : row.live.replacingOccurrences(of: Session.unverifiedWords, with: "NOT VERIFIED: ")
        }
        let head = lb.summary(vrrp: vrrp)
        if lb.isExternal { return head + ": " + seen(row, "answers as this cluster, every node reached through it") }
        if lb.isPair {
            // The floating address is the floating-address step's to verify; each host's load balancer is this row's.
            let held = rows.first { $0.id == .floatingAddress }.map { seen($0, "answers as this cluster") }
            return head + ": \(held ?? "?"); each host's \(lb.kindName): " + seen(row, "answers as this cluster")
        }
        return head + ": " + seen(row, "answers as this cluster")
    }

    /// What the wizard keeps in the state directory, and how much of it.
    struct Kept: Codable {
        var commandLogFiles: Int
        var commandLogBytes: Int
        var journalRuns: Int
        var journalBytes: Int
        /// The wizard's backups and definitions exports on each server (absent without a topology).
        var servers: [Housekeeping.Report]?

        init(state: StateDirectory) {
            func size(_ f: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0 }
            let logs = CommandLog.files(path: state.commandLogPath)
            commandLogFiles = logs.count
            commandLogBytes = logs.map(size).reduce(0, +)
            let runs = Journal.runFiles(in: state.file("journal"))
            journalRuns = runs.count
            journalBytes = runs.map(size).reduce(0, +)
        }

        var summary: String {
            let mib = Bytes.words
            return "command log \(mib(commandLogBytes)) in \(commandLogFiles) file(s) (rotated at \(CommandLog.defaultRotateAt >> 20) MiB, "
                + "\(CommandLog.defaultKeep) old ones kept); journal \(mib(journalBytes)) in \(journalRuns) run file(s)"
        }
    }

    func run() async throws {
        let session = try await Session.open(options)
        let journal = try session.journalState()
        // One look, nothing changes in it: each question is asked once (a step's verify and a later step's
        // plan reuse what an earlier one saw, and so does the cluster line).
        let (rows, cluster, servers, clusterLock) = await Observations.run(reusing: true) { () -> ([Row], Cluster?, [Housekeeping.Report]?, ClusterLock.Look?) in
            // The wizard's files on the servers are looked at meanwhile (nothing the steps ask).
            async let servers: [Housekeeping.Report]? = {
                guard let topology = session.topology else { return nil }
                return await Housekeeping.survey(topology, executor: session.executor)
            }()
            async let clusterLock: ClusterLock.Look? = {
                guard let topology = session.topology else { return nil }
                return await ClusterLock.look(topology, executor: session.executor)
            }()
            var rows: [Row] = []
            let view = await session.look(waived: options.waive) { step, live, pending in
                rows.append(Row(id: step.id, title: step.title, recorded: journal.status(step.id), live: live, pendingChanges: pending,
                                lastFailure: journal.records[step.id]?.failure.map(PlanText.failure)))
            }
            let cluster = view.flatMap { v in session.topology.map { Cluster(v, strategy: $0.partitionHandling) } }
            return (rows, cluster, await servers, await clusterLock)
        }
        var kept = Kept(state: session.state)
        kept.servers = servers
        // A pair's hosts, each with the VRRP state its keepalived reported last (none without a pair).
        let vrrp = if let lb = session.topology?.loadBalancer { await FloatingAddressStep.states(lb, executor: session.executor, step: nil) } else { [(host: String, state: String?)]() }
        await session.executor.shutdown()
        let interrupted = journal.needingReconcile(in: session.order)
        let (holder, alive) = RunLock.holder(stateDirectory: session.state.path)
        let lock = holder.map { "\(alive ? "held" : "stale, left") by \($0)" }
        // While a run holds the lock its commands are its own, not left-overs.
        let stillRunning = alive ? [] : (session.executor.inFlight?.leftovers() ?? []).map(\.summary)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Output(steps: rows, cluster: cluster, interrupted: interrupted, pendingRestarts: journal.pendingRestarts.mapValues(\.reason),
                                                                           stillRunning: stillRunning, lock: lock, clusterLock: clusterLock?.words,
                                                                           kept: kept, loadBalancer: Self.loadBalancer(session.topology?.loadBalancer, rows, vrrp: vrrp))), as: UTF8.self))
            return
        }
        for row in rows {
            print("\(row.id.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0)) \(row.recorded.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(row.live)")
            if let f = row.lastFailure, row.recorded == .failed { print("    last failure: \(f)") }
        }
        if let cluster {
            print("cluster: \(cluster.summary)")
            if cluster.verdict == "partitioned" {
                print("  guided repair: rabbit-wizard repair partition\(options.config.map { " --config \($0)" } ?? "") "
                      + "(proposes which side to restart, with each node's view, and asks first)")
            }
        }
        if let words = Self.loadBalancer(session.topology?.loadBalancer, rows, vrrp: vrrp) { print("load balancer: \(words)") }
        for id in interrupted {
            print("\(id): interrupted (outcome unknown). Run 'rabbit-wizard apply' to reconcile and continue, or 'rabbit-wizard rollback \(id)'.")
        }
        for (node, owed) in journal.pendingRestarts.sorted(by: { $0.key < $1.key }) { print("restart pending on \(node): \(owed.reason)") }
        for command in stillRunning { print("still running, left by an interrupted run (the next run waits for it): \(command)") }
        if let lock { print("lock: \(lock)") }
        if let words = clusterLock?.words { print("cluster lock: \(words)") }
        print("kept in \(session.state.path): \(kept.summary)")
        for server in kept.servers ?? [] {
            if let problem = server.problem {
                print("kept on \(server.server): not known (\(problem))")
            } else {
                print("kept on \(server.server): \(server.files) backup(s) and definitions export(s), \(Bytes.words(server.bytes)) "
                      + "(newest \(Retention.standard.backupsPerFile) per file and node kept by default, and any a rollback needs)")
            }
        }
    }
}
