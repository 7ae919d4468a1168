import Executor
import Foundation

/// One long-lived hidden Erlang VM per node and run, on the node's host, that answers the read-only
/// questions the wizard used to ask with `rabbitmqctl eval` (one CLI VM boot, about a second of CPU,
/// each): the same expressions, evaluated on the node the way `eval` does (`erl_eval:exprs` over
/// `rpc:call`), printed output and the result's `~p` text, in milliseconds.
///
/// The VM is started through the node's profile exactly as the CLI (``PlatformProfile/erl``: the CLI's
/// user and HOME, so the same cookie file, which must exist; nothing secret on its command line). Its
/// program arrives on stdin as the channel's first line; requests and answers are base64 in one line
/// each (``Channel``). Before every request it reads the cookie file again and, when it changed, uses the
/// new cookie and drops its connection to the node, which reconnects on the next call; a node that
/// restarted is reached again the same way.
///
/// Anything but an answer (the node down, an error, no answer in time, a VM that could not start) makes
/// the caller ask the CLI instead, whose failure words the wizard already explains. A VM that could not
/// start at all is said once per run, through the executor's notices.
public enum NodeConnection {
    /// `RABBIT_WIZARD_CONNECTIONS=off`: every read uses the CLI, as before node connections (for a
    /// server where a long-lived process is not wanted, and to compare).
    static var disabled: Bool { ProcessInfo.processInfo.environment["RABBIT_WIZARD_CONNECTIONS"] == "off" }

    /// How long one request may take (an `rpc:call` inside has 30 s).
    static let timeout: Duration = .seconds(45)

    /// What `-eval` runs: reads the first stdin line (the program, base64) and evaluates it. Constant.
    static let bootstrap = #"{ok,[P]}=io:fread("","~s"),{ok,T,_}=erl_scan:string(binary_to_list(base64:decode(P))),{ok,E}=erl_parse:parse_exprs(T),erl_eval:exprs(E,[])."#

    /// The program: a loop that reads `ID eval BASE64` lines and answers `ID ok|down|error BASE64`, and
    /// halts when stdin closes. Output the expression prints on the node comes back through a group
    /// leader of its own, as `rabbitmqctl eval` prints it.
    static let program = #"""
        Target = list_to_atom(hd(init:get_plain_arguments())),
        CookieFile = filename:join(os:getenv("HOME"), ".erlang.cookie"),
        Refresh = fun() ->
            case file:read_file(CookieFile) of
                {ok, Bin} ->
                    C = list_to_atom(string:trim(binary_to_list(Bin))),
                    case erlang:get_cookie() of
                        C -> ok;
                        _ -> erlang:set_cookie(node(), C), erlang:disconnect_node(Target), ok
                    end;
                _ -> ok
            end
        end,
        Text = fun(Chars, Enc) ->
            case catch unicode:characters_to_binary(Chars, Enc) of B when is_binary(B) -> B; _ -> <<>> end
        end,
        Collect = fun Collect(Acc) ->
            receive
                {io_request, From, ReplyAs, Req} ->
                    {Reply, More} = case Req of
                        {put_chars, Enc, Chars} -> {ok, Text(Chars, Enc)};
                        {put_chars, Enc, M, F, A} -> {ok, Text(catch apply(M, F, A), Enc)};
                        {put_chars, Chars} -> {ok, Text(Chars, latin1)};
                        {put_chars, M, F, A} -> {ok, Text(catch apply(M, F, A), latin1)};
                        _ -> {{error, enotsup}, <<>>}
                    end,
                    From ! {io_reply, ReplyAs, Reply},
                    Collect([Acc, More]);
                {collected, P} -> P ! {output, iolist_to_binary(Acc)}
            end
        end,
        Eval = fun(On, Source) ->
            case erl_scan:string(Source) of
                {ok, Tokens, _} ->
                    case erl_parse:parse_exprs(Tokens) of
                        {ok, Exprs} ->
                            Self = self(),
                            G = spawn(fun() -> Collect([]) end),
                            W = spawn(fun() -> group_leader(G, self()), Self ! {result, self(), rpc:call(On, erl_eval, exprs, [Exprs, []], 30000)} end),
                            R = receive {result, W, Res} -> Res end,
                            G ! {collected, self()},
                            Out = receive {output, O} -> O after 5000 -> <<>> end,
                            case R of
                                {badrpc, nodedown} -> {"down", Out};
                                {badrpc, Why} -> {"error", [Out, io_lib:format("~p~n", [Why])]};
                                {value, V, _} -> {"ok", [Out, io_lib:format("~p~n", [V])]}
                            end;
                        {error, E} -> {"error", io_lib:format("~p~n", [E])}
                    end;
                {error, E, _} -> {"error", io_lib:format("~p~n", [E])}
            end
        end,
        Loop = fun Loop() ->
            case io:get_line("") of
                eof -> halt(0);
                {error, _} -> halt(0);
                Line ->
                    case string:split(string:trim(Line), " ", all) of
                        [Id, "eval", Arg] ->
                            Refresh(),
                            {Status, Out} = Eval(Target, binary_to_list(base64:decode(Arg))),
                            io:format("~s ~s ~s~n", [Id, Status, base64:encode(iolist_to_binary(Out))]);
                        [Id, "eval-on", On, Arg] ->
                            Refresh(),
                            {Status, Out} = Eval(list_to_atom(binary_to_list(base64:decode(On))), binary_to_list(base64:decode(Arg))),
                            io:format("~s ~s ~s~n", [Id, Status, base64:encode(iolist_to_binary(Out))]);
                        [Id | _] -> io:format("~s error ~s~n", [Id, base64:encode(<<"unknown request">>)]);
                        _ -> ok
                    end,
                    Loop()
            end
        end,
        Loop().
        """#

    /// The hidden VM's own node name: `rw-` and random hex (unique on its host), short or long like the
    /// node's (Erlang does not connect the two kinds).
    static func vmArgs(for node: NodeName) -> [String] {
        let name = "rw-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let long = node.description.split(separator: "@").last?.contains(".") == true
        return ["-hidden", "-noshell", "-boot", "start_clean", long ? "-name" : "-sname", name, "-eval", bootstrap, "-extra", node.description]
    }

    /// Runs `expression` on `node` as `rabbitmqctl eval` would and returns what the CLI would print,
    /// or nil when the caller must ask the CLI (no connection for this profile, the node down, an error,
    /// no answer in time). Each request is a record in the command log; an answer reused from earlier in
    /// the run (``Observations``) is not asked again.
    /// With `on`, the expression runs on that node instead, reached from this node's host with its CLI's
    /// cookie (as `rabbitmqctl -n ON eval` run there).
    static func eval(_ node: RabbitNode, _ expression: String, on other: NodeName? = nil) async -> String? {
        guard !node.profile.erl.isEmpty, !disabled else { return nil }
        let key = "erl \(node.spec.nodeName)@\(node.spec.target)"
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString() }
        let payload = (other.map { "eval-on \(b64($0.description)) " } ?? "eval ") + b64(expression)
        let words = (other.map { ["-n", $0.description] } ?? []) + ["eval", expression]
        // Asked before in this run with nothing changed since, where reuse is allowed: the same answer.
        return await node.executor.observing("\(key) \(payload)") { await ask(node, key: key, payload: payload, words: words) }
    }

    /// Sends one request over the node's channel (opened the first time) and records it.
    private static func ask(_ node: RabbitNode, key: String, payload: String, words: [String]) async -> String? {
        let host = node.host
        let erl = node.profile.erl, cookie = node.profile.cliCookieFile
        let channel = node.executor.channel(key, opening: host.rabbitVM(erl, cookieFile: cookie, args: vmArgs(for: node.spec.nodeName)),
                                            greeting: Data(program.utf8).base64EncodedString())
        let started = Date()
        let reply = await channel.request(payload, timeout: timeout)
        switch reply {
        case .answer(let line):
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            let text = parts.count == 2 ? Data(base64Encoded: parts[1]).map { String(decoding: $0, as: UTF8.self) } ?? "" : ""
            let ok = parts.first == "ok"
            node.executor.record(request: words, on: channel, step: node.step, started: started,
                                 outcome: .exited(code: ok ? 0 : 1), answer: ok ? text : "\(parts.first ?? "?"): \(text)")
            return ok ? text : nil
        case .timedOut:
            node.executor.record(request: words, on: channel, step: node.step, started: started,
                                 outcome: .timedOut(seconds: timeout.seconds), answer: "")
            return nil
        case .ended(let why):
            node.executor.record(request: words, on: channel, step: node.step, started: started,
                                 outcome: .couldNotStart(reason: why), answer: "")
            if !channel.everAnswered, channel.claimNotice() {
                node.executor.notice("no live connection to \(node.spec.nodeName) (\(why)); reading it with rabbitmqctl instead")
            }
            return nil
        }
    }
}
