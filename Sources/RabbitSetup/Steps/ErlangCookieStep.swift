import Executor
import Workflow

/// `erlang-cookie`: every node gets the seed's cookie. Cookies are compared by hash and never shown,
/// logged or put in argv: the seed's is read as a secret and written on the other nodes through stdin.
/// Each joiner takes it while it runs, with no restart: the cookie is staged next to the node's cookie
/// file, the node sets it as its own from there (``RabbitNode/adoptStagedCookie()``), then the cookie
/// files (the service's and the CLI users') are replaced atomically (mode 0400, the service user's), so
/// the wizard's node connection and the CLI, which read those files, follow. The next boot is checked by
/// the node hashing the cookie file it reads at boot. A node that cannot take it live (its VM does not
/// answer) is stopped, given the cookie and started, as the plan says; such a round also takes the
/// restarts earlier steps left to it (journaled as owed).
public struct ErlangCookieStep: Step {
    public let id: StepID = .erlangCookie
    public let title = "give every node the seed's Erlang cookie"
    public let topology: Topology
    public var rollbackScope: RollbackScope { .complete }
    public var findingNames: [String] { ["seed-cookie-unreadable", "seed-cookie-invalid"] }

    public init(topology: Topology) { self.topology = topology }

    struct Saved: Codable {
        var files: [String: SavedFile]
    }

    func seed(_ context: StepContext) -> RabbitNode { RabbitNode(topology.seed, executor: context.executor, step: id) }
    func joiners(_ context: StepContext) -> [RabbitNode] { topology.joiners.map { RabbitNode($0, executor: context.executor, step: id) } }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        let seed = seed(context)
        let cookie: Secret
        do { cookie = try await seedCookie(context) } catch {
            return [Finding("seed-cookie-unreadable", .error, node: seed.spec.name, message: error.cause,
                            fix: "the wizard needs root (or the rabbitmq user) on the seed")]
        }
        return cookie.withBytes { bytes in
            switch CookieRules.problem(bytes) {
            case nil: []
            case .empty: [Finding("seed-cookie-invalid", .error, node: seed.spec.name, message: "the seed's cookie is empty (Erlang: too short)",
                                  fix: "restart RabbitMQ on the seed so that it makes a new one")]
            case .tooLong(let n): [Finding("seed-cookie-invalid", .error, node: seed.spec.name, message: "the seed's cookie has \(n) characters; Erlang allows 255",
                                           fix: "write a shorter cookie on the seed")]
            case .badCharacters: [Finding("seed-cookie-invalid", .error, node: seed.spec.name,
                                          message: "the seed's cookie has characters Erlang refuses (tab, non-ASCII, BOM)",
                                          fix: "write a cookie of printable ASCII on the seed")]
            }
        }
    }

    /// Joiners whose cookie file differs from the seed's, by hash.
    func differing(_ context: StepContext) async throws(StepFailure) -> [RabbitNode] {
        try await Self.differing([seed(context)] + joiners(context), seed: topology.seedName)
    }

    /// The nodes of `nodes` whose cookie file differs from the seed's (named `seed`, among `nodes`), by
    /// hash: the ones this step's round replaces and restarts. Steps that leave their restart to that round
    /// ask this, so they and the round agree on which nodes it takes.
    static func differing(_ nodes: [RabbitNode], seed: String) async throws(StepFailure) -> [RabbitNode] {
        // The service's cookie first, then the copies its CLI users read (Windows), kept equal to it.
        let hashes = try await forEachNode(nodes) { node throws(StepFailure) -> [String?] in
            var out = [try await node.host.observe(node.profile.cookieFile).sha256]
            for copy in node.profile.cliCookieFiles { out.append(try await node.host.observe(copy).sha256) }
            return out
        }
        let seedHash = zip(nodes, hashes).first { $0.0.spec.name == seed }?.1.first ?? nil
        return zip(nodes, hashes).filter { $0.0.spec.name != seed && $0.1.contains { $0 != seedHash } }.map(\.0)
    }

    /// This step's round: the nodes whose cookie differs (taken live, or stop, replace, start where the node
    /// cannot take it live), the nodes a round of its own stopped and that an interruption left without their
    /// start (journaled as owed to this step before each stop: started again), and, when any node restarts,
    /// the restarts owed by earlier steps (journaled), so that no node is restarted twice.
    struct Round {
        var live: [RabbitNode]
        var replace: [(node: RabbitNode, why: String)]
        var start: [RabbitNode]
        var restart: [(node: RabbitNode, reason: String)]

        var isEmpty: Bool { live.isEmpty && replace.isEmpty && start.isEmpty && restart.isEmpty }
    }

    /// The nodes of `nodes` whose cookie differs from `seed`'s, each with why it cannot take the seed's cookie
    /// live (nil: it can). A node its own files no longer reach may run with the seed's cookie already (a run
    /// cut off after the take, before the files): the seed reaches it then, and it is finished live. Steps
    /// that leave a restart to this step's round ask ``restarting(_:seed:)``, so they and the round agree.
    static func liveOrNot(_ nodes: [RabbitNode], seed: RabbitNode) async throws(StepFailure) -> [(node: RabbitNode, refusal: String?)] {
        let differing = try await differing(nodes, seed: seed.spec.name)
        var refusals = try await forEachNode(differing) { node throws(StepFailure) -> String? in await node.liveRefusal(translating: false) }
        for (i, node) in differing.enumerated() where refusals[i] != nil && !node.refusedByTestHook {
            if await seedReaches(seed, node) { refusals[i] = nil }
        }
        return Array(zip(differing, refusals)).map { (node: $0.0, refusal: $0.1) }
    }

    /// The nodes this step's round stops, replaces and starts, with why.
    static func restarting(_ nodes: [RabbitNode], seed: RabbitNode) async throws(StepFailure) -> [(node: RabbitNode, why: String)] {
        try await liveOrNot(nodes, seed: seed).compactMap { n in n.refusal.map { (node: n.node, why: $0) } }
    }

    /// Whether the seed reaches `node` with its own cookie (then the node runs with it).
    static func seedReaches(_ seed: RabbitNode, _ node: RabbitNode) async -> Bool {
        (try? await seed.read("node().", doing: "reach \(node.spec.nodeName) from the seed", node: node.spec.nodeName)) != nil
    }

    func round(_ context: StepContext) async throws(StepFailure) -> Round {
        let seed = self.seed(context)
        let all = try await Self.liveOrNot([seed] + joiners(context), seed: seed)
        let live = all.filter { $0.refusal == nil }.map(\.node)
        let replace = all.compactMap { n in n.refusal.map { (node: n.node, why: $0) } }
        let pending = context.pendingRestarts()
        let taken = Set(all.map(\.node.spec.name))
        let start = topology.nodes.filter { !taken.contains($0.name) && pending[$0.name]?.owners.contains(id) == true }
            .map { RabbitNode($0, executor: context.executor, step: id) }
        guard !replace.isEmpty || !start.isEmpty else { return Round(live: live, replace: [], start: [], restart: []) }
        let busy = taken.union(start.map(\.spec.name))
        let restart = topology.nodes.compactMap { spec -> (node: RabbitNode, reason: String)? in
            guard !busy.contains(spec.name), let owed = pending[spec.name] else { return nil }
            return (RabbitNode(spec, executor: context.executor, step: id), owed.reason)
        }
        return Round(live: live, replace: replace, start: start, restart: restart)
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        let round = try await round(context)
        return Plan(step: id, changes: round.live.map { node in
            Change(.modify, target: "\(node.spec.name):\(node.profile.cookieFile)", node: node.spec.name,
                   summary: "the seed's cookie, mode 0400 (takes effect now; the file is checked for the next boot)", secret: true)
        } + round.replace.flatMap { node, why in
            [Change(.modify, target: "\(node.spec.name):\(node.profile.cookieFile)", node: node.spec.name,
                    summary: "the seed's cookie, mode 0400", secret: true),
             Change(.run, target: "\(node.spec.name): restart", node: node.spec.name, summary: "stop, replace the cookie, start: it cannot take it live: \(why)",
                    restart: "the cookie cannot change live: \(why)")]
        } + round.start.map { node in
            Change(.run, target: "\(node.spec.name): start", node: node.spec.name,
                   summary: "start it: an interrupted restart round of this step stopped it")
        } + round.restart.map { node, reason in
            Change(.run, target: "\(node.spec.name): restart", node: node.spec.name, summary: "restart owed (\(reason)), in the same round",
                   restart: "owed: \(reason)")
        })
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try await forEachNode(joiners(context)) { node throws(StepFailure) -> (String, SavedFile) in
            (node.spec.name, try await SavedFile.capture(node.profile.cookieFile, with: node.host))
        }
        return try UndoCoding.encode(Saved(files: Dictionary(uniqueKeysWithValues: saved)))
    }

    /// The seed's cookie as a secret (registered, so it is scrubbed from every later output).
    func seedCookie(_ context: StepContext) async throws(StepFailure) -> Secret {
        let seed = seed(context)
        let cookie: Secret
        do throws(StepFailure) { cookie = try await seed.host.readSecret(seed.profile.cookieFile) } catch {
            throw StepFailure("cannot read the seed's cookie: \(error.cause)", fix: error.fix, node: seed.spec.name, retryable: error.retryable)
        }
        context.executor.register(secret: cookie)
        return cookie
    }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try UndoCoding.decode(Saved.self, prepared)
        let cookie = try await seedCookie(context)
        let round = try await round(context)
        let id = self.id
        // All nodes at once (none is clustered yet: their cookies differ). Before a node is stopped its restart
        // is journaled as owed to this step, so that a run cut off after the stop leaves the start to the next
        // run instead of a stopped node.
        enum Work: Sendable { case live, replace, start, restart }
        let work = round.live.map { ($0, Work.live) } + round.replace.map { ($0.node, Work.replace) } + round.start.map { ($0, Work.start) }
            + round.restart.map { ($0.node, Work.restart) }
        let seed = self.seed(context)
        _ = try await forEachNode(work) { node, what throws(StepFailure) in
            switch what {
            case .live:
                guard let file = saved.files[node.spec.name] else { return }
                try await Self.takeLive(cookie, named: "the seed's cookie", on: node, seed: seed, progress: context.progress) { () async throws(StepFailure) in
                    try await Self.writeCookieFiles(cookie, on: node, file: file)
                }
                return
            case .replace:
                guard let file = saved.files[node.spec.name] else { return }
                try context.record(.restartPending(node: node.spec.name, reason: "the erlang-cookie round stops it", owner: id))
                context.progress("\(node.spec.name): stopping to replace the cookie")
                try await node.stopService()
                try await Self.writeCookieFiles(cookie, on: node, file: file)
                // A cookie staged by a live attempt that was cut off is not left behind.
                try await node.host.remove(node.stagedCookieFile)
                try await node.startService(progress: context.progress)
            case .start:
                try await node.startService(progress: context.progress)
            case .restart:
                try context.record(.restartPending(node: node.spec.name, reason: "the erlang-cookie round stops it", owner: id))
                try await node.restartService(progress: context.progress)
            }
            try context.record(.restartDone(node: node.spec.name))
        }
        return prepared
    }

    /// The service's cookie file (atomically, with its backup) and the CLI users' copies.
    static func writeCookieFiles(_ cookie: Secret, on node: RabbitNode, file: SavedFile) async throws(StepFailure) {
        try await node.host.write(file.path, .secret(cookie), mode: "400",
                                  owner: node.profile.cookieOwner.isEmpty ? file.ownerSpec : node.profile.cookieOwner, backup: file.backup)
        for cli in node.profile.cliCookieFiles {
            try await node.host.write(cli, .secret(cookie), mode: "400", owner: "", backup: nil)
        }
    }

    /// Gives a running node `cookie` without a restart, keeping every connection the wizard uses working:
    /// the cookie is staged in the node's home, the node takes it from there (reached with the cookie the
    /// files still hold), then `writeFiles` replaces the files the CLI and the node connection read (they
    /// follow) and the staged file is removed. A node that does not take it but already runs with it (a run
    /// cut off after the take, before the files) is recognised by the seed reaching it with its own cookie.
    static func takeLive(_ cookie: Secret, named: String, on node: RabbitNode, seed: RabbitNode, progress: @Sendable (String) -> Void,
                         writeFiles: () async throws(StepFailure) -> Void) async throws(StepFailure)
    {
        progress("\(node.spec.name): taking \(named) while it runs")
        try await node.host.write(node.stagedCookieFile, .secret(cookie), mode: "400", owner: node.profile.cookieOwner, backup: nil)
        do throws(StepFailure) { try await node.adoptStagedCookie() } catch {
            // Only the seed's own cookie can be recognised this way (rollback gives another one).
            let runsWithIt = seed.spec.name != node.spec.name ? await seedReaches(seed, node) : false
            if !runsWithIt {
                try? await node.host.remove(node.stagedCookieFile)
                throw error
            }
        }
        try await writeFiles()
        try await node.host.remove(node.stagedCookieFile)
    }

    /// The seed's CLI reaches every node (which proves the cookies match), and the files are equal.
    public func verify(_ context: StepContext) async throws(StepFailure) {
        let left = try await differing(context)
        if !left.isEmpty {
            throw StepFailure("the cookie of \(left.map(\.spec.name).joined(separator: ", ")) still differs from the seed's")
        }
        let seed = seed(context)
        // A silent joiner would hold each read below for up to a minute: name it within seconds instead.
        // The seed's own probes of its peers (the installation checks' inspection: TCP from the node, 2 s
        // at most, the checks' answer itself where the run already has it); where the seed cannot be
        // inspected, a probe from its host (3 s).
        let ports = topology.joiners.flatMap { ["\($0.host.value):\($0.epmdPort)", "\($0.host.value):\($0.distPort)"] }
        var probed: (answered: Set<String>, seconds: Int)?
        if let facts = try? await seed.inspect(peers: topology.nodes), ports.allSatisfy({ facts.tcp[$0] != nil }) {
            probed = (Set(facts.tcp.filter { $0.value == "ok" }.keys), 2)
        } else if let answered = await seed.host.probe(ports, amqp: false) {
            probed = (answered, 3)
        }
        if let (answered, seconds) = probed {
            for spec in topology.joiners {
                let silent = ["\(spec.host.value):\(spec.epmdPort)", "\(spec.host.value):\(spec.distPort)"].filter { !answered.contains($0) }
                if !silent.isEmpty {
                    throw StepFailure("\(silent.joined(separator: ", ")) (\(spec.nodeName)) do not answer from \(topology.seed.host) within \(seconds) s",
                                      fix: "check the network and firewall between \(topology.seed.host) and \(spec.host) (TCP \(spec.epmdPort) and \(spec.distPort)), "
                                          + "and that the node runs; then retry", node: spec.name, retryable: true)
                }
            }
        }
        _ = try await forEachNode(topology.joiners) { spec throws(StepFailure) in
            try await seed.read("node().", doing: "reach \(spec.nodeName) from the seed", node: spec.nodeName)
        }
        // The next boot: the cookie file each VM reads at boot (in its home) is the seed's.
        let seedHash = try await seed.host.observe(seed.profile.cookieFile).sha256
        let id = self.id
        _ = try await forEachNode(joiners(context)) { node throws(StepFailure) in
            let boot = try await node.bootCookieHash()
            guard boot == seedHash else {
                throw StepFailure("\(node.spec.name) runs with the seed's cookie, but the cookie file its next boot reads (.erlang.cookie in the "
                                  + "Erlang VM's home) \(boot == nil ? "is missing" : "differs from the seed's")",
                                  fix: "check that \(node.profile.cookieFile) is in the home of the user RabbitMQ runs as (the \(id) step writes it there)",
                                  node: node.spec.name)
            }
        }
    }

    /// Puts each node's previous cookie back, taken live as apply gives it (the node stopped and started only
    /// where it cannot take it live), and the CLI users' copies equal to it. Refused while the node is
    /// clustered: roll back cluster-join first. A node that an interrupted round of this step left stopped is
    /// started again too.
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        let saved = try UndoCoding.decode(Saved.self, undo)
        let pending = context.pendingRestarts()
        let id = self.id
        _ = try await forEachNode(topology.nodes.map { RabbitNode($0, executor: context.executor, step: id) }) { node throws(StepFailure) in
            let name = node.spec.name
            let owedToMe = pending[name]?.owners.contains(id) == true
            if let file = saved.files[name] {
                let seen = try await node.host.observe(file.path)
                if seen.sha256 != file.sha256 || seen.mode != file.mode || seen.owner != file.owner {
                    if let status = try? await node.clusterStatus(), status.allNodes.count > 1 {
                        throw StepFailure("\(name) is still in a cluster with \(status.allNodes.joined(separator: ", "))",
                                          fix: "roll back \(StepID.clusterJoin) first", node: name)
                    }
                    let previous: Secret?
                    if file.existed, let backup = file.backup {
                        do throws(StepFailure) { previous = try await node.host.readSecret(backup) } catch {
                            throw StepFailure("cannot read the saved cookie \(backup): \(error.cause)", node: name, retryable: error.retryable)
                        }
                        context.executor.register(secret: previous!)
                    } else {
                        previous = nil
                    }
                    let restoreFiles = { () async throws(StepFailure) in
                        try await file.restore(with: node.host)
                        // The CLI users' copies follow the service's cookie, as apply keeps them.
                        if let previous { for cli in node.profile.cliCookieFiles { try await node.host.write(cli, .secret(previous), mode: "400", owner: "", backup: nil) } }
                    }
                    if !owedToMe, let previous, await node.liveRefusal(translating: false) == nil {
                        try await Self.takeLive(previous, named: "its previous cookie", on: node, seed: node, progress: context.progress, writeFiles: restoreFiles)
                        return
                    }
                    try context.record(.restartPending(node: name, reason: "the erlang-cookie rollback stops it", owner: id))
                    try await node.stopService()
                    try await restoreFiles()
                    try await node.host.remove(node.stagedCookieFile)
                    try await node.startService(progress: context.progress)
                    try context.record(.restartDone(node: name))
                    return
                }
            }
            if owedToMe {
                try await node.startService(progress: context.progress)
                try context.record(.restartDone(node: name))
            }
        }
    }
}

extension StepID {
    /// ``ErlangCookieStep``'s id: the one place it is spelled.
    public static let erlangCookie: StepID = "erlang-cookie"
}
