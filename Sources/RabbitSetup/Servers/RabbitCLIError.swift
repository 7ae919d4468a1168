import Executor
import Workflow

/// Turns `rabbitmqctl`'s multi-line error banners into a cause and a next action.
enum RabbitCLIError {
    /// From the CLI's diagnostics ("other nodes on HOST: [...]"): a node on the same host whose name
    /// differs from `node`'s only in case.
    static func realName(in text: String, for node: NodeName) -> String? {
        guard let line = text.split(separator: "\n").first(where: { $0.contains("other nodes on") }) else { return nil }
        let names = line.split(whereSeparator: { "[]', ".contains($0) }).map(String.init)
        guard let match = names.first(where: { $0 != node.name && $0.lowercased() == node.name.lowercased() }) else { return nil }
        return "\(match)@\(node.host)"
    }

    /// The host part of the CLI's own node name ("Current node details: node name:
    /// 'rabbitmqcli-545-rabbit@ServerB'"): the CLI runs on the node's host, so this is how the host spells
    /// its own name, which is what the node's name is built from.
    static func cliHost(in text: String) -> String? {
        guard let line = text.split(separator: "\n").first(where: { $0.contains("node name:") && $0.contains("rabbitmqcli") }),
            let at = line.lastIndex(of: "@")
        else { return nil }
        let host = line[line.index(after: at)...].prefix { $0 != "'" && !$0.isWhitespace }
        return host.isEmpty ? nil : String(host)
    }

    static func failure(_ r: CommandResult, doing what: String, node: NodeName, on spec: NodeSpec, retryable: Bool = false) -> StepFailure {
        let text = r.stderr + r.stdout
        let profile = PlatformProfile.named(spec.profile).resolved(for: spec)
        let start = profile.start.joined(separator: " ")
        switch r.termination {
        case .exited(RabbitNode.noCookieStatus) where text.contains("no Erlang cookie at"):
            // The guard in RabbitNode.ctl: the CLI would have written a new random cookie.
            let cookie = profile.cliCookieFile
            return StepFailure("\(spec.name): no Erlang cookie file at \(cookie) (missing, or not a regular file; the CLI did not run: "
                               + "it would have created a new, random one)",
                               fix: "start RabbitMQ on \(spec.host) once so that it makes its cookie, or copy the seed's there (mode 0400)",
                               node: spec.name, finding: "cookie-missing")
        case .exited: break
        case .timedOut:
            return StepFailure("\(spec.name): timed out trying to \(what) (\(node))", fix: "check that \(node) responds; then retry",
                               node: spec.name, retryable: true, outcomeUnknown: true)
        case .connectionFailed(let f) where f.commandMayHaveRun:
            return StepFailure("\(spec.name): the connection dropped while trying to \(what): \(spec.target) \(f)",
                               fix: "it may have happened or not; once \(spec.target) answers, apply reconciles from what the node shows",
                               node: spec.name, outcomeUnknown: true)
        case .connectionFailed(let f):
            return StepFailure("\(spec.name): cannot \(what): \(spec.target) \(f)", fix: "check ssh access to \(spec.target)",
                               node: spec.name, retryable: true)
        case .couldNotStart(let reason):
            return StepFailure("\(spec.name): cannot run rabbitmqctl: \(reason)", fix: profile.rabbitInstallFix,
                               node: spec.name, finding: "cli-missing")
        default:
            return StepFailure("\(spec.name): cannot \(what): \(r.termination)", node: spec.name)
        }
        if text.contains("Bad characters in cookie") {
            // The CLI's own Erlang VM refused its user's cookie file before it could reach any node.
            let cookie = profile.cliCookieFile
            return StepFailure("\(spec.name): the RabbitMQ CLI cannot run: its Erlang refuses the cookie \(cookie) (\"Bad characters in cookie\": a byte "
                               + "order mark, a tab, a non-ASCII character or a control character in it)",
                               fix: "write the cookie as printable ASCII without a byte order mark (\(profile.remedy(.stripByteOrderMark(cookie))) removes a "
                                   + "byte order mark), then run again", node: spec.name, finding: "cookie-invalid")
        }
        if text.contains("not running at all"), let real = realName(in: text, for: node) {
            // Ask the host, not the input: epmd lists the nodes it has, and one differs only in case.
            return StepFailure("the host has a node named \(real), not \(node): node names are case-sensitive",
                               fix: "set node_name: \(real) for \(spec.name) in the topology", node: spec.name, finding: "node-name-mismatch")
        }
        if text.contains("not running at all") || text.contains("nodedown") && text.contains("not running") {
            return StepFailure("\(node) is not running", fix: "start it (\(start)) and retry", node: spec.name, retryable: retryable,
                               finding: "node-not-running")
        }
        if text.contains("Erlang distribution failed"), let own = cliHost(in: text), own != node.host.value,
            own.lowercased() == node.host.value.lowercased()
        {
            // Names resolve whatever the case, Erlang node names compare exactly: the node answered on
            // its port, but it is called \(name)@\(own). The CLI shares the node's cookie there, so that is
            // not the cause.
            // The field that made the name: node_name when the topology gives it, else host.
            let fix = spec.nodeNameGiven
                ? "write node_name: \(node.name)@\(own) for \(spec.name) in the topology (the spelling the host itself uses)"
                : "write host: \(own) for \(spec.name) in the topology (the spelling the host itself uses)"
            let says = spec.nodeNameGiven ? "node_name \(node)" : "host \(node.host)"
            return StepFailure("\(spec.name): the topology says \(says), but the host calls itself \(own): node names are case-sensitive, "
                               + "so the node is \(node.name)@\(own), not \(node)", fix: fix, node: spec.name, finding: "node-name-mismatch")
        }
        if text.contains("Erlang distribution failed") {
            // The same words for a cookie that differs, a name whose case differs and a node that accepts the
            // connection but does not answer (stopped, overloaded): say all three, not one of them.
            return StepFailure("\(node) accepted the connection, but Erlang distribution failed: the node's running cookie differs from "
                               + "the CLI's (a cookie file replaced without a restart, or another cookie), the host name's case does not match the "
                               + "node's name, or the node does not answer (hung or overloaded)",
                               fix: "compare the node's real name (case-sensitive) and the cookies, and check the node responds; "
                               + "the \(StepID.erlangCookie) step makes the cookies equal", node: spec.name, retryable: retryable,
                               finding: "erlang-distribution-failed")
        }
        if text.contains("Authentication failed") || text.contains("Invalid challenge reply") {
            return StepFailure("the CLI cannot authenticate to \(node): its Erlang cookie differs from the node's",
                               fix: "make the CLI user's cookie equal to the service's", node: spec.name, finding: "cli-cannot-authenticate")
        }
        if text.contains("unable to connect to epmd") || text.contains("epmd") && text.contains("could not connect") || text.contains("nxdomain") {
            return StepFailure("cannot reach \(node): the host does not resolve or epmd (port 4369) is unreachable",
                               fix: "check the name resolution and the firewall between the hosts", node: spec.name, retryable: retryable)
        }
        if text.contains("is not running") || text.contains("rabbit app") && text.contains("stopped") || text.contains("app to be running") {
            return StepFailure("the RabbitMQ application on \(node) is stopped", fix: "rabbitmqctl -n \(node) start_app, then retry",
                               node: spec.name, retryable: retryable)
        }
        let first = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty && $0 != "Error:" } ?? "\(r.termination)"
        return StepFailure("\(spec.name): cannot \(what): \(first)", fix: "see 'rabbit-wizard log --step \(r.record.step ?? "")' for the full output",
                           node: spec.name, retryable: retryable)
    }
}
