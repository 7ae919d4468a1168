import Executor
import Foundation
import Workflow

/// One RabbitMQ node as the steps talk to it: `rabbitmqctl` through the node's profile, its service
/// control, and the facts one `eval` collects. Every command goes through the executor.
public struct RabbitNode: Sendable {
    public let spec: NodeSpec
    public let profile: PlatformProfile
    public let executor: Executor
    public let step: StepID?
    /// The node's server, as its profile reaches it (made once, with the node).
    public let host: any ServerHost

    public init(_ spec: NodeSpec, executor: Executor, step: StepID?) {
        self.init(spec, profile: PlatformProfile.named(spec.profile).resolved(for: spec), executor: executor, step: step)
    }

    /// With a profile of the caller's (already resolved for the node).
    public init(_ spec: NodeSpec, profile: PlatformProfile, executor: Executor, step: StepID?) {
        self.spec = spec
        self.profile = profile
        self.executor = executor
        self.step = step
        host = profile.host(executor: executor, target: spec.target, step: step)
    }

    /// Exit status of the guard in ``ctl(_:node:stdin:secrets:privateFiles:timeout:mutates:)`` when the CLI
    /// user's cookie file is missing.
    static let noCookieStatus: Int32 = 86

    /// `rabbitmqctl -n NODE ARGS` on the node's host. `node` picks another target node (the seed asking
    /// a joiner), run with this node's CLI and cookie. The CLI's Erlang VM writes a new random cookie when
    /// its user has none, so the CLI runs only when the cookie file exists (otherwise exit
    /// ``noCookieStatus``): not even a read-only command creates a file on a server. With `privateFiles`
    /// the files it writes are made 0600 (a definitions export).
    public func ctl(_ args: [String], node: NodeName? = nil, stdin: CommandSpec.Input = .none, secrets: [Secret] = [],
                    privateFiles: Bool = false, timeout: Duration = .seconds(60), mutates: Bool) async -> CommandResult
    {
        await host.rabbitCLI(profile.cli, cookieFile: profile.cliCookieFile, args: ["-n", (node ?? spec.nodeName).description] + args,
                             stdin: stdin, secrets: secrets, privateFiles: privateFiles, timeout: timeout, mutates: mutates)
    }

    /// Runs `rabbitmqctl` and turns a failure into words (cause and next action), or returns stdout, whole
    /// (an answer the capture limit cut is a failure too).
    @discardableResult
    public func ctlChecked(_ args: [String], doing what: String, node: NodeName? = nil, stdin: CommandSpec.Input = .none,
                           timeout: Duration = .seconds(60), mutates: Bool) async throws(StepFailure) -> String
    {
        let r = await ctl(args, node: node, stdin: stdin, timeout: timeout, mutates: mutates)
        guard r.succeeded else { throw RabbitCLIError.failure(r, doing: what, node: node ?? spec.nodeName, on: spec) }
        guard let out = r.wholeStdout else { throw .answerCut(r, doing: what, on: spec.target) }
        return out
    }

    /// `stop_app`, `join_cluster SEED`, `start_app`, as RabbitMQ's clustering guide joins a node ("already a
    /// member" is success). A join that surely failed leaves the node as it was: its application is started
    /// again. One whose end is unknown (connection lost, timed out) may still be running there: nothing more
    /// is sent, the next run reconciles. `start_app` returns once the broker has booted.
    public func join(_ seed: NodeName) async throws(StepFailure) {
        try await ctlChecked(["stop_app"], doing: "stop the RabbitMQ application", mutates: true)
        let join = await ctl(["join_cluster", seed.description], timeout: .seconds(120), mutates: true)
        if !join.succeeded && !(join.stdout + join.stderr).contains("already a member") {
            if !join.termination.outcomeUnknown {
                _ = try? await ctlChecked(["start_app"], doing: "start the RabbitMQ application again", mutates: true)
            }
            throw RabbitCLIError.failure(join, doing: "join \(seed)", node: spec.nodeName, on: spec)
        }
        try await ctlChecked(["start_app"], doing: "start the RabbitMQ application", timeout: .seconds(180), mutates: true)
    }

    // MARK: Service control

    /// Stops the whole node (the service), as its host does it: a service that is stopped already is left so.
    public func stopService() async throws(StepFailure) {
        let change = await host.service(.stopped, profile)
        guard change.reached else { throw serviceFailure(change, .stopped) }
    }

    /// Starts the service (one that runs already is left so) and waits until the broker is fully booted:
    /// a service that runs is not yet a broker that answers.
    public func startService(progress: @Sendable (String) -> Void = { _ in }) async throws(StepFailure) {
        progress("starting \(spec.nodeName) and waiting until it is ready (often 5-15 s)")
        let change = await host.service(.running, profile)
        guard change.reached else { throw await withBootCause(serviceFailure(change, .running)) }
        do { try await waitReady(progress: progress) } catch { throw await withBootCause(error) }
    }

    /// Why the service is not in the wanted state, in words: from what was seen where the host shows the
    /// service (Windows), else from the command's own failure.
    func serviceFailure(_ change: ServiceChange, _ goal: ServiceGoal) -> StepFailure {
        let doing = goal == .running ? "start the RabbitMQ service" : "stop the RabbitMQ service"
        guard let after = change.after else { return RabbitCLIError.failure(change.result, doing: doing, node: spec.nodeName, on: spec) }
        return windowsServiceFailure(change, after, goal, doing: doing)
    }

    /// `failure` with what the node's boot logs say about why it did not come back, where they say it.
    func withBootCause(_ failure: StepFailure) async -> StepFailure {
        for log in profile.bootLogs {
            guard let text = await host.tail(log, bytes: 16384), let cause = BootLog.cause(in: text) else { continue }
            var out = failure
            out.cause += "; \(log) says: \(cause.text)"
            if let hint = cause.hint { out.fix = hint + (out.fix.map { "; " + $0 } ?? "") }
            return out
        }
        return failure
    }

    /// Polls `await_startup` until the broker has booted, for at most `limit`: first over the node
    /// connection (the function the command calls, `rabbit:await_startup/3`), which answers `ok` at once
    /// when the node is up; anything else asks the CLI, which waits and explains.
    public func waitReady(limit: Duration = .seconds(120), progress: @Sendable (String) -> Void = { _ in }) async throws(StepFailure) {
        let end = ContinuousClock.now.advanced(by: limit)
        var last: CommandResult?
        while ContinuousClock.now < end {
            // A wait asks afresh every time, wherever it is called from.
            let ready = await Observations.$reusing.withValue(false) {
                await NodeConnection.eval(self, "rabbit:await_startup(node(), false, 25000).")?.trimmingCharacters(in: .whitespacesAndNewlines) == "ok"
            }
            if ready { return }
            let r = await Observations.$reusing.withValue(false) { await ctl(["await_startup", "--timeout", "30"], timeout: .seconds(40), mutates: false) }
            if r.succeeded { return }
            last = r
            progress("waiting for \(spec.nodeName) to finish booting")
            try? await Task.sleep(for: .seconds(1))
        }
        throw RabbitCLIError.failure(last!, doing: "wait for the node to boot", node: spec.nodeName, on: spec, retryable: true)
    }

    public func restartService(progress: @Sendable (String) -> Void = { _ in }) async throws(StepFailure) {
        progress("restarting \(spec.nodeName)")
        try await stopService()
        try await startService(progress: progress)
    }

    // MARK: Observations

    /// `rabbitmqctl eval EXPRESSION` for a read: answered by the node connection (``NodeConnection``)
    /// when it can, else by the CLI (whose failure words ``RabbitCLIError`` explains).
    /// With `node`, evaluated on that node from this one's host (as `rabbitmqctl -n NODE eval`).
    @discardableResult
    func read(_ expression: String, doing what: String, node: NodeName? = nil) async throws(StepFailure) -> String {
        if let answer = await NodeConnection.eval(self, expression, on: node) { return answer }
        return try await evalByCLI(expression, doing: what, node: node, mutates: false)
    }

    /// `rabbitmqctl eval EXPRESSION`: without an expression the CLI reads it from stdin (RabbitMQ 3.8.10 and
    /// later), where the profile sends it.
    func evalByCLI(_ expression: String, doing what: String, node: NodeName? = nil, mutates: Bool) async throws(StepFailure) -> String {
        if profile.expressionsOnStdin { return try await ctlChecked(["eval"], doing: what, node: node, stdin: .bytes(Array(expression.utf8)), mutates: mutates) }
        return try await ctlChecked(["eval", expression], doing: what, node: node, mutates: mutates)
    }

    /// `cluster_status --formatter json`, from this node's point of view: over the node connection the
    /// same fields from the same function the CLI calls (`rabbit_mnesia:status()`, or
    /// `rabbit_db_cluster:cli_cluster_status()` where it exists), only while the application runs (as the
    /// CLI, which refuses otherwise: then the CLI is asked, for its words).
    public func clusterStatus() async throws(StepFailure) -> ClusterStatus {
        if let answer = await NodeConnection.eval(self, ClusterStatus.expression), let status = ClusterStatus(lines: answer) {
            return status
        }
        let out = try await ctlChecked(["cluster_status", "--formatter", "json"], doing: "read the cluster status", mutates: false)
        guard let status = ClusterStatus(json: out) else {
            throw StepFailure("cannot read the cluster status of \(spec.nodeName)", fix: "run rabbitmqctl cluster_status on it")
        }
        return status
    }

    /// The effective `cluster_partition_handling`, the cluster members and whether the application runs,
    /// in one `eval` (one CLI VM instead of two: each costs ~1 s of CPU). Works while the app is stopped.
    public func clusterFacts() async throws(StepFailure) -> NodeFacts {
        NodeFacts(output: try await read(NodeFacts.clusterExpression, doing: "read its cluster membership"))
    }

    /// What `advanced.config` sets for a key of the `rabbit` application, read as the node reads it.
    public enum AdvancedSetting: Sendable, Equatable {
        case unset
        case set(String)
        case unreadable(String)
    }

    /// Reads `advanced.config` as an Erlang term on the node (`file:consult`, as RabbitMQ does at boot), so
    /// a comment that names the key sets nothing. Read-only.
    public func advancedConfigSetting(_ key: String) async throws(StepFailure) -> AdvancedSetting {
        let out = try await read(NodeFacts.advancedConfigExpression(path: profile.advancedConfigFile, key: key),
                                 doing: "read \(profile.advancedConfigFile)")
        for line in out.split(separator: "\n") {
            if line == "unset" { return .unset }
            if line.hasPrefix("set=") { return .set(String(line.dropFirst(4))) }
            if line.hasPrefix("error=") { return .unreadable(String(line.dropFirst(6))) }
        }
        throw StepFailure("cannot read what \(profile.advancedConfigFile) sets on \(spec.name): \(out.prefix(200))", node: spec.name)
    }

    /// The facts the installation checks need, in one `eval` (one Erlang VM start on the CLI side).
    /// `peers` are probed from this node: name resolution and TCP to their epmd, distribution and AMQP ports.
    public func inspect(peers: [NodeSpec]) async throws(StepFailure) -> NodeFacts {
        let out = try await read(NodeFacts.expression(peers: peers), doing: "inspect the node")
        return NodeFacts(output: out)
    }
}

/// The JSON of `rabbitmqctl cluster_status --formatter json`, the parts the steps use.
public struct ClusterStatus: Sendable, Equatable {
    public var runningNodes: [String]
    public var diskNodes: [String]
    /// Node -> nodes it is partitioned from. Empty when healthy.
    public var partitions: [String: [String]]
    public var clusterName: String?

    public init(runningNodes: [String], diskNodes: [String], partitions: [String: [String]] = [:], clusterName: String? = nil) {
        self.runningNodes = runningNodes
        self.diskNodes = diskNodes
        self.partitions = partitions
        self.clusterName = clusterName
    }

    public init?(json: String) {
        guard let start = json.firstIndex(of: "{"),
            let object = try? JSONSerialization.jsonObject(with: Data(json[start...].utf8)) as? [String: Any]
        else { return nil }
        runningNodes = object["running_nodes"] as? [String] ?? []
        diskNodes = object["disk_nodes"] as? [String] ?? []
        if let p = object["partitions"] as? [String: [String]] { partitions = p } else { partitions = [:] }
        clusterName = object["cluster_name"] as? String
    }

    public var allNodes: [String] { Array(Set(runningNodes + diskNodes)).sorted() }

    /// The fields above as the node connection reads them: from the function `cluster_status` calls on
    /// the node, printed one per line; `not_running` while the application is stopped.
    static let expression = #"""
        case rabbit:is_running() of
            false -> io:format("not_running~n");
            true ->
                S = case code:ensure_loaded(rabbit_db_cluster) =:= {module, rabbit_db_cluster}
                        andalso erlang:function_exported(rabbit_db_cluster, cli_cluster_status, 0) of
                    true -> rabbit_db_cluster:cli_cluster_status();
                    false -> rabbit_mnesia:status()
                end,
                J = fun(L) -> string:join([atom_to_list(N) || N <- L], ",") end,
                io:format("running_nodes=~s~n", [J(proplists:get_value(running_nodes, S, []))]),
                io:format("disk_nodes=~s~n", [J(proplists:get_value(disc, proplists:get_value(nodes, S, []), []))]),
                case proplists:get_value(cluster_name, S) of
                    undefined -> ok;
                    Name -> io:format("cluster_name=~ts~n", [Name])
                end,
                [io:format("partition ~s=~s~n", [N, J(P)]) || {N, P} <- proplists:get_value(partitions, S, [])]
        end,
        ok.
        """#

    /// Parses ``expression``'s lines; nil for `not_running` or anything unexpected.
    init?(lines: String) {
        var running: [String]?, disk: [String] = [], partitions: [String: [String]] = [:], name: String?
        let list = { (v: Substring) in v.split(separator: ",").map(String.init) }
        for line in lines.split(separator: "\n") {
            if line == "not_running" { return nil }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq], value = line[line.index(after: eq)...]
            switch key {
            case "running_nodes": running = list(value)
            case "disk_nodes": disk = list(value)
            case "cluster_name": name = String(value)
            default: if key.hasPrefix("partition ") { partitions[String(key.dropFirst(10))] = list(value) }
            }
        }
        guard let running else { return nil }
        self.init(runningNodes: running, diskNodes: disk, partitions: partitions, clusterName: name)
    }
}

