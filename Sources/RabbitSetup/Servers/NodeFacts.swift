import Executor

/// What one `rabbitmqctl eval` tells about a node: identity, versions, effective settings, membership,
/// alarms, disk, data, and what it sees of its peers (resolution, TCP).
public struct NodeFacts: Sendable, Equatable {
    public var values: [String: String] = [:]
    /// host -> address or error, as resolved on this node.
    public var resolves: [String: String] = [:]
    /// "host:port" -> "ok" or the error.
    public var tcp: [String: String] = [:]

    public var nodeName: String? { values["node"] }
    public var version: String? { values["version"] }
    public var otpRelease: String? { values["otp"] }
    /// `{ok,autoheal}` as Erlang prints it.
    public var partitionHandling: String? { values["partition_handling"] }
    public var clusterNodes: [String] { list("cluster_nodes") }
    public var runningNodes: [String] { list("running_nodes") }
    public var alarms: String? { values["alarms"] }
    public var cookieHash: String? { values["cookie_hash"] }
    public var diskFree: Int? { values["disk_free"].flatMap { Int($0) } }
    public var diskFreeLimit: Int? { values["disk_free_limit"].flatMap { Int($0) } }
    public var vhosts: [String] { list("vhosts") }
    public var users: [String] { list("users") }
    public var queues: Int { Int(values["queues"] ?? "0") ?? 0 }
    /// The node's own IPv4 addresses (its interfaces), loopback left out: what peers must resolve its name to.
    public var addresses: [String] { interfaceAddresses.filter { !$0.hasPrefix("127.") } }
    /// All of the node's IPv4 interface addresses, loopback included: nodes with the same set share a machine.
    public var interfaceAddresses: [String] { list("addresses") }
    /// Whether the RabbitMQ application runs on the node (the Erlang VM answers either way).
    public var appRunning: Bool { values["app_running"] == "true" }

    /// The effective partition handling strategy (`autoheal`), parsed from `{ok,autoheal}`.
    public var effectivePartitionHandling: String? {
        guard let raw = partitionHandling, raw.hasPrefix("{ok,"), raw.hasSuffix("}") else { return nil }
        return String(raw.dropFirst(4).dropLast())
    }

    /// The strategy the node runs with: ``effectivePartitionHandling``, or RabbitMQ's default (`ignore`) when unset.
    public var partitionHandlingInEffect: String { effectivePartitionHandling ?? "ignore" }

    /// `major.minor` of the RabbitMQ version.
    public var series: String? { version.map { $0.split(separator: ".").prefix(2).joined(separator: ".") } }

    /// Vhosts other than `/`, users other than `guest`, or any queue: joining would wipe them.
    public var holdsData: Bool { vhosts.contains { $0 != "/" } || users.contains { $0 != "guest" } || queues > 0 }

    func list(_ key: String) -> [String] {
        (values[key] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }

    init(output: String) {
        for line in output.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]), value = String(line[line.index(after: eq)...])
            if key.hasPrefix("resolve ") { resolves[String(key.dropFirst(8))] = value } else if key.hasPrefix("tcp ") {
                tcp[String(key.dropFirst(4))] = value
            } else { values[key] = value }
        }
    }

    /// Effective partition strategy, members and whether the RabbitMQ application runs, in one short
    /// `eval`. Unlike `cluster_status` it answers while the application is stopped (members are then
    /// read from the node's cluster file).
    static let clusterExpression = """
        io:format("partition_handling=~p~n", [application:get_env(rabbit, cluster_partition_handling)]),
        io:format("cluster_nodes=~s~n", [string:join([atom_to_list(N) || N <- rabbit_nodes:all()], ",")]),
        io:format("app_running=~p~n", [rabbit:is_running()]),
        ok.
        """

    /// Reads `path` with `file:consult` (what RabbitMQ does with advanced.config) and prints `unset`,
    /// `set=VALUE` or `error=WHY` for `key` of the `rabbit` application. The path and key travel as lists
    /// of character codes, so no character of theirs can end a string literal.
    static func advancedConfigExpression(path: String, key: String) -> String {
        let codes = { (s: String) in "[" + s.unicodeScalars.map { String($0.value) }.joined(separator: ",") + "]" }
        return """
            K = list_to_atom(\(codes(key))),
            case file:consult(\(codes(path))) of
                {ok, []} -> io:format("unset~n");
                {ok, [Cfg]} when is_list(Cfg) ->
                    R = proplists:get_value(rabbit, Cfg, []),
                    case is_list(R) andalso lists:keyfind(K, 1, R) of
                        {K, V} -> io:format("set=~p~n", [V]);
                        _ -> io:format("unset~n")
                    end;
                {ok, _} -> io:format("error=~s~n", ["not one list of application settings"]);
                {error, enoent} -> io:format("unset~n");
                {error, E} -> io:format("error=~s~n", [file:format_error(E)])
            end,
            ok.
            """
    }

    /// The Erlang expression. Host names and ports come from validated types (RFC 1123 names and
    /// integers), so they cannot break out of the string literals. The TCP probes run at once (2 s each at
    /// most), so peers that do not answer (a partition, a firewall) cost 2 s, not 2 s per port.
    static func expression(peers: [NodeSpec]) -> String {
        let peerList = peers.map { "{\"\($0.host.value)\", [\($0.epmdPort), \($0.distPort), \($0.amqpPort)]}" }.joined(separator: ", ")
        return """
            J = fun(L) -> string:join([if is_atom(X) -> atom_to_list(X); is_binary(X) -> binary_to_list(X); true -> X end || X <- L], ",") end,
            {ok, V} = application:get_key(rabbit, vsn),
            io:format("node=~s~n", [node()]),
            io:format("version=~s~n", [V]),
            io:format("otp=~s~n", [erlang:system_info(otp_release)]),
            io:format("partition_handling=~p~n", [application:get_env(rabbit, cluster_partition_handling)]),
            io:format("cluster_nodes=~s~n", [J(rabbit_nodes:all())]),
            io:format("running_nodes=~s~n", [J(rabbit_nodes:all_running())]),
            io:format("alarms=~w~n", [rabbit_alarm:get_alarms()]),
            io:format("cookie_hash=~p~n", [erlang:phash2(erlang:get_cookie())]),
            io:format("disk_free=~p~n", [rabbit_disk_monitor:get_disk_free()]),
            io:format("disk_free_limit=~p~n", [rabbit_disk_monitor:get_disk_free_limit()]),
            io:format("vhosts=~s~n", [J(rabbit_vhost:list_names())]),
            io:format("users=~s~n", [J([element(2, lists:keyfind(user, 1, U)) || U <- [if is_map(M) -> maps:to_list(M); true -> M end || M <- rabbit_auth_backend_internal:list_users()]])]),
            io:format("queues=~p~n", [length(rabbit_amqqueue:list())]),
            io:format("addresses=~s~n", [J([inet:ntoa(A) || {ok, Ifs} <- [inet:getifaddrs()], {_, Opts} <- Ifs, {addr, A} <- Opts, tuple_size(A) =:= 4])]),
            Peers = [\(peerList)],
            Self = self(),
            Probes = [begin Ref = make_ref(), spawn(fun() ->
                          T = case gen_tcp:connect(H, P, [], 2000) of {ok, S} -> gen_tcp:close(S), ok; {error, W} -> W end,
                          Self ! {Ref, T} end), {Ref, H, P} end || {H, Ps} <- Peers, P <- Ps],
            lists:foreach(fun({H, _}) ->
                R = case inet:getaddr(H, inet) of {ok, A} -> inet:ntoa(A); {error, E} -> atom_to_list(E) end,
                io:format("resolve ~s=~s~n", [H, R]) end, Peers),
            lists:foreach(fun({Ref, H, P}) ->
                T = receive {Ref, X} -> X after 10000 -> timeout end,
                io:format("tcp ~s:~p=~p~n", [H, P, T]) end, Probes),
            ok.
            """
    }
}
