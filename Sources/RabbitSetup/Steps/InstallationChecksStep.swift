import Executor
import Foundation
import Glibc
import Workflow

/// `installation-checks`: read-only findings per node, the ones the seed guide calls "beyond scope".
/// Its plan is always empty: it changes nothing; its errors stop the run unless waived by name.
public struct InstallationChecksStep: Step {
    public let id: StepID = .installationChecks
    public let title = "check every node before changing anything"
    public let topology: Topology
    public var rollbackScope: RollbackScope { .complete }
    public var findingNames: [String] {
        ["node-not-running", "cli-missing", "cli-cannot-authenticate", "erlang-distribution-failed", "cookie-missing", "node-name-mismatch", "partition-handling-noop",
         "resource-alarm", "low-disk", "other-cluster", "unknown-member", "node-has-data", "name-unresolved", "port-unreachable", "config-not-regular",
         "cookie-not-regular", "cookie-mode", "cookie-owner", "cookie-bom", "cookie-invalid", "file-unreadable", "another-wizard",
         "file-too-large", "answer-too-large", "version-mismatch", "erlang-mismatch", "same-server-twice",
         "name-resolves-differently", "two-node-cluster", "controller-cannot-resolve", "cookie-copies-differ"] + RabbitNode.platformFindingNames
    }

    public init(topology: Topology) { self.topology = topology }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        let nodes = topology.nodes.map { RabbitNode($0, executor: context.executor, step: id) }
        let topology = self.topology
        // One eval and the file observations per node, all nodes at once.
        let perNode = try await forEachNode(nodes) { node throws(StepFailure) -> ([Finding], NodeFacts?) in
            let facts: Result<NodeFacts, StepFailure>
            do throws(StepFailure) { facts = .success(try await node.inspect(peers: topology.nodes)) } catch { facts = .failure(error) }
            // The file findings first: where a file and the CLI name the same problem, the file's words are kept.
            return (node.platformFindings() + (await InstallationChecksStep.fileFindings(node, topology: topology))
                        + InstallationChecksStep.findings(for: node, facts: facts, topology: topology),
                    try? facts.get())
        }
        var findings = perNode.flatMap { $0.0 }
        var facts: [String: NodeFacts] = [:]
        for (node, result) in zip(nodes, perNode) { facts[node.spec.name] = result.1 }
        findings += InstallationChecksStep.crossNode(topology: topology, facts: facts)
        if topology.nodes.count == 2 {
            findings.append(Finding("two-node-cluster", .warning, message:
                "a two-node cluster is highly recommended against: pause_minority pauses both nodes on any failure, and autoheal "
                + "discards what changed on the losing side during a split",
                fix: "add a third node; with two, autoheal is the least bad choice"))
        }
        findings += controllerResolution(topology)
        // Another wizard at work on this cluster explains what the checks see while it restarts nodes (looked
        // at after the nodes, not beside them: what each server is sent stays in one order).
        findings = InstallationChecksStep.explained(findings, by: await ClusterLock.look(topology, executor: context.executor))
        // One finding per name and node (a missing cookie is seen by the file check and by the CLI's guard),
        // and a cookie that is not a file is not also reported missing.
        var seen = Set<String>()
        let notFiles = Set(findings.filter { $0.name == "cookie-not-regular" }.compactMap(\.node))
        // A byte order mark is also what the CLI refuses: one finding, the precise one.
        let marked = Set(findings.filter { $0.name == "cookie-bom" }.compactMap(\.node))
        findings = findings.filter { seen.insert("\($0.name) \($0.node ?? "")").inserted }
            .filter { !($0.name == "cookie-missing" && notFiles.contains($0.node ?? "")) }
            .filter { !($0.name == "cookie-invalid" && marked.contains($0.node ?? "")) }
        return findings.sorted { ($0.severity, $0.node ?? "") < ($1.severity, $1.node ?? "") }
    }

    static func findings(for node: RabbitNode, facts result: Result<NodeFacts, StepFailure>, topology: Topology) -> [Finding] {
        let name = node.spec.name
        var out: [Finding] = []
        let facts: NodeFacts
        switch result {
        case .success(let f): facts = f
        case .failure(let error):
            return [Finding(error.finding ?? "node-not-running", .error, node: name, message: error.cause, fix: error.fix)]
        }
        if facts.nodeName != node.spec.nodeName.description {
            out.append(Finding("node-name-mismatch", .error, node: name,
                               message: "the node calls itself \(facts.nodeName ?? "?"), the topology says \(node.spec.nodeName) (node names are case-sensitive)",
                               fix: "set node_name: \(facts.nodeName ?? "?") for \(name) in the topology"))
        }
        if let v = facts.version, let major = Int(v.split(separator: ".").first ?? ""), let minor = Int(v.split(separator: ".").dropFirst().first ?? "") {
            if major > 4 || (major == 4 && minor >= 3) {
                out.append(Finding("partition-handling-noop", .warning, node: name,
                                   message: "RabbitMQ \(v) accepts cluster_partition_handling but ignores it (Khepri metadata store)",
                                   fix: "the \(StepID.partitionHandling) step will be a no-op on this version"))
            }
        }
        if let alarms = facts.alarms, alarms != "[]" {
            out.append(Finding("resource-alarm", .error, node: name, message: "the node has a resource alarm: \(alarms)",
                               fix: "free memory or disk on \(node.spec.host) until the alarm clears"))
        }
        if let free = facts.diskFree, let limit = facts.diskFreeLimit, free < max(limit * 2, 1 << 30) {
            out.append(Finding("low-disk", .warning, node: name, message: "only \(free >> 20) MiB free in the data directory",
                               fix: "free space on \(node.spec.host)"))
        }
        let ours = Set((topology.nodes + topology.leaving).map(\.nodeName.description))
        let foreign = facts.clusterNodes.filter { !ours.contains($0) }
        let inOurCluster = facts.clusterNodes.contains { $0 != facts.nodeName && ours.contains($0) }
        if !foreign.isEmpty && inOurCluster {
            // A member the topology no longer names: most often a node taken out of the file to shrink the cluster.
            out.append(Finding("unknown-member", .error, node: name,
                               message: "the cluster has members the topology does not name: \(foreign.joined(separator: ", "))",
                               fix: "to remove one, list it again with leave: true (and how to reach it), then apply; to keep it, list it as a node"))
        } else if !foreign.isEmpty {
            out.append(Finding("other-cluster", .error, node: name,
                               message: "the node belongs to another cluster (with \(foreign.joined(separator: ", "))); joining would take it out of it and wipe its data",
                               fix: "check it is the right server; waive other-cluster to go ahead (its definitions are exported first)"))
        }
        if node.spec.name != topology.seedName && facts.holdsData && !facts.clusterNodes.contains(topology.seed.nodeName.description) {
            out.append(Finding("node-has-data", .error, node: name,
                               message: "the node holds data (vhosts \(facts.vhosts.joined(separator: ",")), users \(facts.users.joined(separator: ",")), \(facts.queues) queues) that joining the cluster wipes",
                               fix: "waive node-has-data to go ahead: its definitions are exported first and restored on rollback; queue contents are lost"))
        }
        for peer in topology.nodes where peer.name != node.spec.name {
            if let r = facts.resolves[peer.host.value], r.contains(where: \.isLetter), !r.contains(":") {
                out.append(Finding("name-unresolved", .error, node: name, message: "\(peer.host) (\(peer.name)) does not resolve on \(name): \(r)",
                                   fix: "add \(peer.host) to DNS or \(node.profile.hostsFile) on \(node.spec.host)"))
            }
            for (label, port) in [("epmd", peer.epmdPort), ("distribution", peer.distPort), ("AMQP", peer.amqpPort)] {
                if let t = facts.tcp["\(peer.host.value):\(port)"], t != "ok" {
                    out.append(Finding("port-unreachable", .error, node: name,
                                       message: "\(name) cannot reach \(peer.name)'s \(label) port \(peer.host):\(port) (\(t))",
                                       fix: "open TCP \(port) from \(node.spec.host) to \(peer.host)"))
                }
            }
        }
        return out
    }

    /// Config and cookie files: kind, mode, owner, characters. A file that cannot be looked at is a finding
    /// too (`file-unreadable`), never silence.
    static func fileFindings(_ node: RabbitNode, topology: Topology) async -> [Finding] {
        var out: [Finding] = []
        let name = node.spec.name
        func unreadable(_ path: String, _ error: StepFailure) -> Finding {
            Finding(error.finding ?? "file-unreadable", .error, node: name, message: "cannot look at \(path): \(error.cause)",
                    fix: error.fix ?? "check that the wizard's login on \(node.spec.host) may read it (root, or an administrator on Windows)")
        }
        do throws(StepFailure) {
            let conf = try await node.host.observe(node.profile.configFile)
            if conf.kind == .symlink || conf.kind == .other {
                out.append(Finding("config-not-regular", .error, node: name, message: "\(node.profile.configFile) is \(conf.kind.words)",
                                   fix: "make it a regular file (the wizard replaces files atomically and would replace the link)"))
            }
        } catch { out.append(unreadable(node.profile.configFile, error)) }
        let cookie: FileObservation
        do throws(StepFailure) { cookie = try await node.host.observe(node.profile.cookieFile) } catch {
            return out + [unreadable(node.profile.cookieFile, error)]
        }
        let seed = name == topology.seedName
        // The CLI users' copies (Windows): a copy that differs leaves the CLI unable to reach its node.
        var regularCopies: [String] = []
        if cookie.kind == .regular {
            for copy in node.profile.cliCookieFiles {
                let seen: FileObservation
                do throws(StepFailure) { seen = try await node.host.observe(copy) } catch {
                    out.append(unreadable(copy, error))
                    continue
                }
                if seen.kind == .regular { regularCopies.append(copy) }
                guard seen.sha256 != cookie.sha256 else { continue }
                out.append(Finding("cookie-copies-differ", seed ? .error : .warning, node: name,
                                   message: "\(copy) is \(seen.kind == .missing ? "missing" : "not the same cookie as the service's \(node.profile.cookieFile)")"
                                       + (seed ? ": the CLI cannot reach the seed, and the seed's cookie is the one every node gets" : ": the \(StepID.erlangCookie) step makes it equal"),
                                   fix: seed ? node.profile.remedy(.copyCookie(from: node.profile.cookieFile, to: copy)) : nil))
            }
        }
        switch cookie.kind {
        case .missing:
            out.append(Finding("cookie-missing", .error, node: name, message: "no cookie at \(node.profile.cookieFile)",
                               fix: "start RabbitMQ once so that it makes one"))
        case .symlink, .other:
            out.append(Finding("cookie-not-regular", .error, node: name, message: "\(node.profile.cookieFile) is \(cookie.kind.words)",
                               fix: "Erlang needs a regular file"))
        case .regular:
            for file in [node.profile.cookieFile] + regularCopies {
                do throws(StepFailure) {
                    if let finding = try await cookieContentFinding(node, file: file, seed: seed) { out.append(finding) }
                } catch { out.append(unreadable(file, error)) }
            }
            guard node.profile.cookieAccessChecked else { break }
            if CookieRules.modeProblem(cookie.mode ?? "") {
                out.append(Finding("cookie-mode", .error, node: name, message: "\(node.profile.cookieFile) has mode \(cookie.mode ?? "?"): Erlang refuses a cookie readable by group or others",
                                   fix: node.profile.remedy(.ownerOnly(node.profile.cookieFile))))
            }
            let expectedOwner = node.profile.cookieOwner.split(separator: ":").first.map(String.init)
            if let expectedOwner, cookie.owner != expectedOwner {
                out.append(Finding("cookie-owner", .error, node: name, message: "\(node.profile.cookieFile) belongs to \(cookie.owner ?? "?"), not \(expectedOwner)",
                                   fix: node.profile.remedy(.owner(node.profile.cookieOwner, node.profile.cookieFile))))
            }
        }
        return out
    }

    /// A cookie file Erlang would refuse, judged by Erlang's own rules (``CookieRules``) on its bytes, read
    /// as a secret (registered: scrubbed from every later output, never shown): `cookie-bom` for a UTF-8
    /// byte order mark (what Notepad and `Out-File -Encoding UTF8` write), `cookie-invalid` for the rest.
    static func cookieContentFinding(_ node: RabbitNode, file: String, seed: Bool) async throws(StepFailure) -> Finding? {
        let secret = try await node.host.readSecret(file)
        node.executor.register(secret: secret)
        let (bom, problem) = secret.withBytes { ($0.starts(with: [0xEF, 0xBB, 0xBF]), CookieRules.problem($0)) }
        guard let problem else { return nil }
        let service = file == node.profile.cookieFile, cli = file == node.profile.cliCookieFile
        let consequence = [service ? "the node will not start again with it" : nil, cli ? "the RabbitMQ CLI cannot run with it" : nil]
            .compactMap { $0 }.joined(separator: ", and ")
            + (seed ? "; it is the seed's, the cookie every node gets"
                : "; the \(StepID.erlangCookie) step would replace it with the seed's" + (cli ? ", but the node cannot be looked at until then" : ""))
        if bom {
            return Finding("cookie-bom", .error, node: node.spec.name,
                           message: "\(file) starts with a UTF-8 byte order mark (EF BB BF), which Erlang refuses (\"Bad characters in cookie\"): \(consequence)",
                           fix: "remove the byte order mark (\(node.profile.remedy(.stripByteOrderMark(file)))), then run again")
        }
        let what = switch problem {
        case .empty: "is empty"
        case .tooLong(let n): "has \(n) characters (Erlang allows 255)"
        case .badCharacters: "has characters Erlang refuses (a tab, a control or non-ASCII character)"
        }
        return Finding("cookie-invalid", .error, node: node.spec.name, message: "\(file) \(what): \(consequence)",
                       fix: seed ? "write a cookie of 1 to 255 printable ASCII characters there, then restart the node" : "copy the seed's cookie there (mode 0400), then restart the node")
    }

    /// With another wizard holding the cluster lock now: a warning that names it, and every error about a
    /// node says that the other wizard may be its cause (a node it restarts looks stopped or unreachable)
    /// before it gives its usual fix.
    static func explained(_ findings: [Finding], by lock: ClusterLock.Look) -> [Finding] {
        guard lock.activeHolder != nil, let words = lock.words else { return findings }
        let note = "another rabbit-wizard is working on this cluster now, and this may be its doing (a node it restarts looks stopped or unreachable)"
        return [Finding("another-wizard", .warning, message: words,
                        fix: "wait until it ends ('rabbit-wizard status' names it while it runs), then run again")]
            + findings.map { f in
                guard f.severity == .error, f.node != nil else { return f }
                var explained = f
                explained.message += " (\(note))"
                explained.fix = "wait until the other wizard ends and run again; if it stays: " + (f.fix ?? "see the message")
                return explained
            }
    }

    /// Versions must agree: the same RabbitMQ series and Erlang major on every node.
    static func crossNode(topology: Topology, facts: [String: NodeFacts]) -> [Finding] {
        var out: [Finding] = []
        let series = Dictionary(grouping: facts, by: { $0.value.series ?? "?" })
        if series.count > 1 {
            out.append(Finding("version-mismatch", .error, message: "RabbitMQ versions differ: "
                + facts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.version ?? "?")" }.joined(separator: ", "),
                fix: "upgrade the nodes to the same release series first"))
        }
        let otp = Dictionary(grouping: facts, by: { $0.value.otpRelease ?? "?" })
        if otp.count > 1 {
            out.append(Finding("erlang-mismatch", .error, message: "Erlang major versions differ: "
                + facts.sorted { $0.key < $1.key }.map { "\($0.key) OTP \($0.value.otpRelease ?? "?")" }.joined(separator: ", "),
                fix: "install the same Erlang major on every node"))
        }
        out += resolutionFindings(topology: topology, facts: facts)
        out += sameServerFindings(topology: topology, facts: facts)
        return out
    }

    /// Two nodes whose names point to the same address (as one node resolves them) with the same AMQP port
    /// are one server listed twice (`localhost` and `127.0.0.1`): the load balancer would send clients to it
    /// twice and never to the other. Judged by where the names point, not by their spelling.
    static func sameServerFindings(topology: Topology, facts: [String: NodeFacts]) -> [Finding] {
        var out: [Finding] = []
        var reported = Set<String>()
        for (observer, seen) in facts.sorted(by: { $0.key < $1.key }) {
            let address = { (n: NodeSpec) -> String? in
                guard let a = seen.resolves[n.host.value], !a.contains(where: \.isLetter) || a.contains(":") else { return nil }
                return a
            }
            for (i, a) in topology.nodes.enumerated() {
                for b in topology.nodes[(i + 1)...] where a.amqpPort == b.amqpPort {
                    guard let at = address(a), at == address(b), reported.insert("\(a.name) \(b.name)").inserted else { continue }
                    out.append(Finding("same-server-twice", .error, node: b.name,
                                       message: "\(a.name) (\(a.host)) and \(b.name) (\(b.host)) are one server: on \(observer) both names point to \(at) "
                                           + "and both use AMQP port \(a.amqpPort), so the load balancer would send clients to it twice",
                                       fix: "list each server once: correct host or amqp_port of \(b.name) in the topology"))
                }
            }
        }
        return out
    }

    /// Each node's answer for each peer's name, held against the addresses that peer has (asked on the
    /// peer itself): one finding per (node, name) pair that points elsewhere. A node's answer for its own
    /// name is not checked (Debian maps it to 127.0.1.1, which is harmless), nor loopback between nodes
    /// on one machine. When the peer could not be asked, the nodes' answers must at least agree.
    static func resolutionFindings(topology: Topology, facts: [String: NodeFacts]) -> [Finding] {
        var out: [Finding] = []
        let hosts = Dictionary(uniqueKeysWithValues: topology.nodes.map { ($0.name, $0.host) })
        for peer in topology.nodes {
            let answers = facts.filter { $0.key != peer.name }.compactMapValues { $0.resolves[peer.host.value] }
                .filter { !$0.value.contains(where: \.isLetter) || $0.value.contains(":") }
                .sorted { $0.key < $1.key }
            let own = facts[peer.name]?.addresses ?? []
            let machine = Set(facts[peer.name]?.interfaceAddresses ?? [])
            // Loopback is right only between nodes on one machine (the sandbox: every node is localhost).
            func isRight(_ observer: String, _ address: String) -> Bool {
                own.contains(address) || address.hasPrefix("127.") && !machine.isEmpty && Set(facts[observer]?.interfaceAddresses ?? []) == machine
            }
            if !own.isEmpty {
                let right = answers.filter { isRight($0.key, $0.value) }
                for (observer, address) in answers where !isRight(observer, address) {
                    let agreeing = right.isEmpty ? "" : "; " + right.map { "\($0.key) resolves it to \($0.value)" }.joined(separator: ", ")
                    out.append(Finding("name-resolves-differently", .error, node: observer,
                                       message: "on \(observer), \(peer.host) resolves to \(address), which is not an address of \(peer.name) "
                                           + "(\(own.joined(separator: ", ")))\(agreeing)",
                                       fix: "correct \(peer.host) in DNS or /etc/hosts on \(hosts[observer].map(\.description) ?? observer)"))
                }
            } else if Set(answers.map(\.value)).count > 1 {
                let pairs = answers.map { "on \($0.key) to \($0.value)" }.joined(separator: ", ")
                out.append(Finding("name-resolves-differently", .error, node: peer.name,
                                   message: "\(peer.host) resolves differently: \(pairs) (\(peer.name) could not be asked for its own addresses)",
                                   fix: "make DNS or /etc/hosts agree on every node"))
            }
        }
        return out
    }

    /// The controller (where the wizard runs) must resolve the nodes it reaches by name too.
    func controllerResolution(_ topology: Topology) -> [Finding] {
        topology.nodes.compactMap { node in
            guard case .ssh(let d) = node.target else { return nil }
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(d.host.value, nil, &hints, &result)
            if let result { freeaddrinfo(result) }
            return rc == 0 ? nil : Finding("controller-cannot-resolve", .error, node: node.name,
                                           message: "\(d.host) does not resolve on this machine",
                                           fix: "add it to DNS or /etc/hosts here, or use its address in reach:")
        }
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan { Plan(step: id, changes: []) }
    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo { .none }
    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo { .none }
    /// Nothing to apply: what this step guarantees is that its checks pass, so that is what it verifies
    /// (`status` and reconcile then report unreachable nodes instead of "up to date").
    public func verify(_ context: StepContext) async throws(StepFailure) {
        let blocking = try await check(context).filter { $0.blocks(waived: context.waived) }
        guard blocking.isEmpty else {
            throw StepFailure("\(blocking.count) finding(s) block: " + blocking.map { f in f.node.map { "\(f.name) (\($0))" } ?? f.name }.joined(separator: ", "),
                              fix: "run 'rabbit-wizard plan' to see each finding with its fix", node: blocking.count == 1 ? blocking[0].node : nil)
        }
    }
    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {}
}

extension StepID {
    /// ``InstallationChecksStep``'s id: the one place it is spelled.
    public static let installationChecks: StepID = "installation-checks"
}
