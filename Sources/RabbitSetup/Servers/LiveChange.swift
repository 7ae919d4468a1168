import Executor
import Foundation
import Workflow

/// What a running node takes without a restart, and the proof of what it will read at its next boot.
///
/// RabbitMQ reads `cluster_partition_handling` with `application:get_env` each time it handles a partition
/// (RabbitMQ 3.10.8 `rabbit_node_monitor.erl` and `rabbit_autoheal.erl`), so `application:set_env` takes
/// effect at once; a running Erlang node takes a new cookie with `erlang:set_cookie/2`, and connections
/// made before keep working. At boot RabbitMQ translates its config files with the schemas of its
/// applications (`rabbit_prelaunch_conf:generate_config_from_cuttlefish_files/3`) and Erlang reads the
/// cookie from `.erlang.cookie` in the VM's home (`init:get_argument(home)`): the node is asked to do the
/// same now, on the files as written, so the next boot is checked without booting.
extension RabbitNode {
    /// The new cookie's file while the node takes it: next to the cookie, in the node's home.
    static let stagedCookieName = ".erlang.cookie.rabbit-wizard"

    /// ``stagedCookieName`` as the node's host names it.
    var stagedCookieFile: String { profile.cookieFile + ".rabbit-wizard" }

    /// Why this node cannot take a change live (then it is restarted, as the plan says), or nil.
    /// `RABBIT_WIZARD_TEST_LIVE_REFUSED=NAME[,NAME]` makes the named nodes refuse, for the tests of that path.
    public func liveRefusal(translating: Bool) async -> String? {
        if refusedByTestHook { return "refused by \(Self.liveRefusedVariable) (a test hook)" }
        let out: String
        do { out = try await read(Self.liveExpression, doing: "ask what it can change while it runs") } catch {
            return "its Erlang VM does not answer (\(error.cause))"
        }
        let facts = NodeFacts(output: out)
        if translating && facts.values["translates"] != "true" {
            return "this RabbitMQ cannot translate its config file without booting (no rabbit_prelaunch_conf:generate_config_from_cuttlefish_files/3)"
        }
        return nil
    }

    public static let liveRefusedVariable = "RABBIT_WIZARD_TEST_LIVE_REFUSED"

    var refusedByTestHook: Bool {
        ProcessInfo.processInfo.environment[Self.liveRefusedVariable]?.split(separator: ",").contains { $0 == spec.name } == true
    }

    static let liveExpression = """
        T = [code:ensure_loaded(M) =:= {module, M} andalso erlang:function_exported(M, F, A)
             || {M, F, A} <- [{rabbit_prelaunch, get_context, 0}, {rabbit_prelaunch_conf, generate_config_from_cuttlefish_files, 3}]],
        io:format("translates=~p~n", [lists:all(fun(X) -> X end, T)]),
        ok.
        """

    /// `application:set_env(rabbit, KEY, VALUE)` on the running node: effective at once, until the next
    /// boot reads the files. `value` is an atom's name (a ``PartitionHandling`` raw value).
    public func setRabbitEnv(_ key: String, to value: String) async throws(StepFailure) {
        let out = try await evalByCLI("ok = application:set_env(rabbit, \(key), \(value)), io:format(\"set~n\"), ok.",
                                      doing: "set \(key) to \(value) while it runs", mutates: true)
        guard out.contains("set") else { throw StepFailure("\(spec.name) did not set \(key) while it runs: \(out.prefix(200))", node: spec.name) }
    }

    /// What the node's next boot makes of its config files, translated now by the node as its boot does.
    public struct BootSetting: Sendable, Equatable {
        /// The config files it reads, in order.
        public var files: [String]
        /// The value (Erlang's text), `unset`, or nil with `error`.
        public var value: String?
        public var error: String?
    }

    public func bootSetting(_ key: String) async throws(StepFailure) -> BootSetting {
        let out = try await read(Self.bootExpression(key: key), doing: "translate its config files as its next boot will")
        var files: [String] = [], value: String?, error: String?
        for line in out.split(separator: "\n") {
            if line.hasPrefix("boot_file=") { files.append(String(line.dropFirst(10))) }
            if line.hasPrefix("boot_value=") { value = String(line.dropFirst(11)) }
            if line.hasPrefix("boot_error=") { error = String(line.dropFirst(11)) }
        }
        if value == nil && error == nil { error = "no answer: \(out.prefix(200))" }
        return BootSetting(files: files, value: value, error: error)
    }

    /// The files as `rabbit_prelaunch_conf:setup/1` (RabbitMQ 3.10.8) finds them from the node's context
    /// (main file, `.conf` or `.config`, additional files, `advanced.config`), then their translation.
    static func bootExpression(key: String) -> String {
        """
        Ctx = rabbit_prelaunch:get_context(),
        Main = maps:get(main_config_file, Ctx, undefined),
        Found = case Main of
            undefined -> none;
            _ ->
                case filelib:is_regular(Main) of
                    true -> case filename:extension(Main) of ".config" -> {erlang, Main}; _ -> {cuttlefish, Main} end;
                    false ->
                        case filelib:is_regular(Main ++ ".config") of
                            true -> {erlang, Main ++ ".config"};
                            false -> case filelib:is_regular(Main ++ ".conf") of true -> {cuttlefish, Main ++ ".conf"}; false -> none end
                        end
                end
        end,
        Extra = case maps:get(additional_config_files, Ctx, undefined) of
            undefined -> [];
            Pattern ->
                P1 = case filelib:is_dir(Pattern) of true -> filename:join(Pattern, "*"); false -> Pattern end,
                lists:sort([F || F <- filelib:wildcard(P1), filelib:is_regular(F)])
        end,
        AdvPath = maps:get(advanced_config_file, Ctx, undefined),
        Adv = case AdvPath =/= undefined andalso filelib:is_regular(AdvPath) of true -> AdvPath; false -> undefined end,
        case Found of
            {erlang, Old} -> io:format("boot_file=~ts~nboot_error=it reads the old format file ~ts, not rabbitmq.conf~n", [Old, Old]);
            _ ->
                Files = case Found of {cuttlefish, C} -> [C | Extra]; none -> Extra end,
                [io:format("boot_file=~ts~n", [F]) || F <- Files],
                case Files =:= [] andalso Adv =:= undefined of
                    true -> io:format("boot_value=unset~n");
                    false ->
                        case catch rabbit_prelaunch_conf:generate_config_from_cuttlefish_files(Ctx, Files, Adv) of
                            Cfg when is_list(Cfg) ->
                                R = proplists:get_value(rabbit, Cfg, []),
                                case is_list(R) andalso lists:keyfind(\(key), 1, R) of
                                    {_, V} -> io:format("boot_value=~p~n", [V]);
                                    _ -> io:format("boot_value=unset~n")
                                end;
                            Other -> io:format("boot_error=~p~n", [Other])
                        end
                end
        end,
        ok.
        """
    }

    /// Makes the node take the cookie in its home's ``stagedCookieName`` (written there by the caller) as
    /// its own, while it runs. The cookie travels in that file only: not in the expression, not printed.
    public func adoptStagedCookie() async throws(StepFailure) {
        let out = try await evalByCLI(Self.adoptExpression, doing: "take the new Erlang cookie while it runs", mutates: true)
        guard out.contains("adopted") else {
            let why = out.split(separator: "\n").first { $0.hasPrefix("refused") }.map(String.init) ?? String(out.prefix(200))
            throw StepFailure("\(spec.name) did not take the new cookie while it runs: \(why)", node: spec.name)
        }
    }

    /// Reads the staged cookie as Erlang's `auth` reads a cookie file (printable characters, then only
    /// white space) and sets it; prints only `adopted` or why not (never the cookie).
    static let adoptExpression = """
        R = case init:get_argument(home) of
            {ok, [[Home | _] | _]} ->
                case file:read_file(filename:join(Home, "\(stagedCookieName)")) of
                    {ok, Bin} ->
                        {Cookie, Rest} = lists:splitwith(fun(Ch) -> Ch >= 32 andalso Ch =< 126 end, binary_to_list(Bin)),
                        case Cookie =/= [] andalso lists:all(fun(Ch) -> lists:member(Ch, "\\r\\n\\t ") end, Rest) of
                            true -> true = erlang:set_cookie(node(), list_to_atom(Cookie)), adopted;
                            false -> "refused: the staged cookie is not one Erlang reads"
                        end;
                    {error, E} -> io_lib:format("refused: cannot read ~ts in the node's home ~ts: ~p", ["\(stagedCookieName)", Home, E])
                end;
            _ -> "refused: the node has no home folder"
        end,
        io:format("~ts~n", [R]),
        ok.
        """

    /// SHA-256 (hex) of the cookie file this node's VM reads at boot (`.erlang.cookie` in its home), or nil
    /// when there is none there.
    public func bootCookieHash() async throws(StepFailure) -> String? {
        let out = try await read(Self.bootCookieExpression, doing: "hash the cookie file its next boot reads")
        for line in out.split(separator: "\n") {
            if line.hasPrefix("boot_cookie=") { return String(line.dropFirst(12)) }
            if line == "boot_cookie_missing" { return nil }
        }
        throw StepFailure("cannot hash the cookie file \(spec.name) reads at boot: \(out.prefix(200))", node: spec.name)
    }

    static let bootCookieExpression = """
        case init:get_argument(home) of
            {ok, [[Home | _] | _]} ->
                case file:read_file(filename:join(Home, ".erlang.cookie")) of
                    {ok, Bin} -> io:format("boot_cookie=~s~n", [[io_lib:format("~2.16.0b", [X]) || <<X>> <= crypto:hash(sha256, Bin)]]);
                    _ -> io:format("boot_cookie_missing~n")
                end;
            _ -> io:format("boot_cookie_missing~n")
        end,
        ok.
        """
}
