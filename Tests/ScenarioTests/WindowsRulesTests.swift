import Foundation
import Synchronization
import Testing

@testable import Executor
@testable import RabbitSetup
import TestKit

/// The PowerShell dialect against the Windows side's own rules, without Windows: PyPI's `mslex` (MSVCRT,
/// UCRT and cmd.exe splitting) and `tree-sitter-powershell` (PowerShell's grammar), through
/// `Tests/tools/winwire.py` (installed by `make deps`, hence here and not in the fast layer, which keeps the
/// dialect's own tests in `ExecutorTests/PowerShellWireTests.swift`).
@Suite struct WindowsRulesTests {
    static let helper = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/winwire.py").path

    static func ask<T: Decodable>(_ request: [String: Any], as: T.Type) async throws -> T {
        let body = try JSONSerialization.data(withJSONObject: request)
        let out = await Support.run(["python3", helper], stdin: .bytes(Array(body)), timeout: .seconds(120))
        try #require(out.termination == .exited(code: 0), "winwire.py: \(out.stderr.text)")
        // An answer cut at the capture limit is never read as the whole (it was, once the library grew).
        try #require(!out.stdout.truncated, "winwire.py's answer was cut: \(out.stdout.totalBytes) bytes")
        return try JSONDecoder().decode(T.self, from: Data(out.stdout.text.utf8))
    }

    /// powershell.exe and its options, as the constant command line starts.
    static let expectedArgv = ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"]

    struct Parsed: Decodable { var error: Bool; var tree: String }

    /// Whether each script parses; with `trees`, its syntax tree too (large for whole scripts).
    static func parse(_ scripts: [String], trees: Bool = true) async throws -> [Parsed] {
        try await ask(["op": "parse", "scripts": scripts, "trees": trees], as: [Parsed].self)
    }

    static func split(_ lines: [String], rule: String) async throws -> [[String]] {
        try await ask(["op": "split", "rule": rule, "lines": lines], as: [[String]].self)
    }

    /// Win32-OpenSSH's two DefaultShell paths deliver the constant unchanged to powershell.exe:
    /// cmd.exe `/c "LINE"` (its quote stripping, then the C runtime's split, as `mslex` does them), and
    /// `powershell -c` with the quoting of Win32-OpenSSH's `build_commandline_string` (PowerShell/openssh-portable
    /// contrib/win32/win32compat/misc.c), after which PowerShell reads LINE as one native command with those words
    /// (tree-sitter-powershell).
    @Test func theConstantSurvivesBothDefaultShellPaths() async throws {
        let line = PowerShellWire.commandLine
        let throughCmd = try await Self.split([line], rule: "cmd")
        #expect(throughCmd.first.map { Array($0.dropLast()) } == Self.expectedArgv)
        #expect(throughCmd.first?.last == line.split(separator: " ").last.map(String.init))

        func openSSHQuoted(_ argv: [String]) -> String {
            argv.map { a in
                if a.hasPrefix("'") { return a }
                let escaped = a.replacingOccurrences(of: "\"", with: "\\\"")
                return a.contains(" ") ? "\"\(escaped)\"" : escaped
            }.joined(separator: " ")
        }
        let powershellC = openSSHQuoted(["powershell.exe", "-c", line])
        for rule in ["msvcrt", "ucrt"] {
            let argv = try await Self.split([powershellC], rule: rule)
            #expect(argv.first == ["powershell.exe", "-c", line], "\(rule)")
        }
        let parsed = try #require(try await Self.parse([line]).first)
        #expect(!parsed.error, "\(parsed.tree)")
        #expect(parsed.tree.components(separatedBy: "(command ").count == 2, "one command: \(parsed.tree)")
        #expect(parsed.tree.components(separatedBy: "(command_parameter)").count - 1 == 5, "\(parsed.tree)")
        #expect(parsed.tree.components(separatedBy: "(generic_token)").count - 1 == 2, "\(parsed.tree)")
    }

    /// The argument string given to `ProcessStartInfo` splits back into exactly the argv, under the
    /// MSVCRT and the UCRT rules, for 400 random arguments made of the characters that matter (quotes,
    /// backslashes, spaces, tabs, cmd and PowerShell metacharacters, non-ASCII).
    @Test func argumentsRoundTripThroughTheWindowsRuntimesRules() async throws {
        let alphabet = Array("a\"\\ \t'%^&|<>!()$`;é€\u{2019}x")
        var rng = SystemRandomNumberGenerator()
        var cases: [[String]] = [[""], ["a\\"], ["a b\\"], ["\\\""], ["\\\\\"\\"], ["C:\\Program Files\\RabbitMQ\\"]]
        for _ in 0..<100 {
            cases.append((0..<Int.random(in: 1...4, using: &rng)).map { _ in
                String((0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            })
        }
        let lines = cases.map { "\"C:\\prog.exe\" " + PowerShellWire.windowsCommandLine($0) }
        for rule in ["msvcrt", "ucrt"] {
            let split = try await Self.split(lines, rule: rule)
            for (argv, back) in zip(cases, split) {
                #expect(Array(back.dropFirst()) == argv, "\(rule): \(argv.map(\.debugDescription)) came back as \(back.dropFirst().map(\.debugDescription))")
            }
        }
    }

    /// Every script the dialect produces parses as PowerShell with no error node, whatever the data in
    /// it; each value stays one verbatim string (no variable, subexpression or command is read from it).
    /// A script broken on purpose shows an error node, so the check can fail.
    @Test func everyScriptParsesAndDataStaysData() async throws {
        let hostile = ["it's", "$(Remove-Item C:\\ -Recurse)", "`n`$x", "a\u{2019}b\u{2018}c", "\"; exit 1; \"", "line\nbreak", "@'\nhere\n'@", "é€"]
        var specs = [CommandSpec(["C:\\x\\sbin\\rabbitmqctl.bat", "-n", "rabbit@ServerA", "await_startup"], mutates: false),
                     CommandSpec(["icacls.exe"] + hostile, stdin: .secret(Secret("canary")), environment: ["RABBITMQ_BASE": "C:\\ProgramData\\RabbitMQ", "X": "it's $(y)"],
                                 workingDirectory: "C:\\it's here", mutates: true)]
        specs.append(CommandSpec([hostile[1]] + hostile, stdin: .bytes(Array("data".utf8)), mutates: true))
        // Every library call, with hostile values in every argument.
        for function in PowerShellLibrary.functions.union(RabbitPowerShell.module.functions).sorted() {
            specs.append(CommandSpec([function] + hostile, stdin: .secret(Secret("canary")), mutates: true, powershellModule: RabbitPowerShell.module))
        }
        specs.append(CommandSpec(["Invoke-WithCookie", "C:\\Users\\it's\\.erlang.cookie", "86", "C:\\x\\erl.exe"] + hostile, environment: ["A": "$b"], mutates: false))
        let scripts = [PowerShellWire.bootstrap] + specs.map(PowerShellWire.script(for:))
        let parsed = try await Self.parse(scripts + ["if ($x { }"], trees: false)
        try #require(parsed.count == scripts.count + 1)
        for (script, p) in zip(scripts, parsed.dropLast()) { #expect(!p.error, "\(script.suffix(500))") }
        #expect(parsed.last?.error == true, "a broken script must show an error")

        let literals = hostile.map { "$v = " + PowerShellWire.literal($0) }
        for (text, p) in zip(literals, try await Self.parse(literals)) {
            #expect(!p.error, "\(text)")
            #expect(p.tree.components(separatedBy: "(variable)").count - 1 == 1, "only $v is a variable: \(text)\n\(p.tree)")
            #expect(!p.tree.contains("sub_expression") && !p.tree.contains("expandable") && !p.tree.contains("(command"), "\(text)\n\(p.tree)")
        }
    }

    /// Windows Server 2016 to 2022 run Windows PowerShell 5.1, and tree-sitter-powershell's grammar is
    /// PowerShell 7's: the bootstrap, the library and every script hold nothing only PowerShell 6 or 7
    /// takes (`Tests/tools/winwire.py`, op `ps51`), and a sample with each such construct is caught.
    @Test func theScriptsAreWindowsPowerShell51() async throws {
        let scripts = [PowerShellWire.bootstrap, PowerShellLibrary.text, RabbitPowerShell.module.text]
            + PowerShellLibrary.functions.union(RabbitPowerShell.module.functions).sorted().map {
                PowerShellWire.script(for: CommandSpec([$0, "a", "b", "c"], mutates: false, powershellModule: RabbitPowerShell.module))
            }
        let sample = """
            a && b
            c || d
            Get-Content x -AsByteStream
            Set-Content x -Encoding utf8NoBOM -Value 1
            $h = '{}' | ConvertFrom-Json -AsHashtable
            $j = '{}' | ConvertFrom-Json -Depth 5
            1..3 | ForEach-Object -Parallel { $_ }
            if ($IsWindows) { }
            $p = Join-Path 'a' 'b' 'c'
            $n = $x ?? 1
            $m = $x?.Length
            $t = $c ? 1 : 2
            # inside a comment and a string none counts: && -AsByteStream $IsWindows
            $s = 'a || b utf8NoBOM'
            """
        let found = try await Self.ask(["op": "ps51", "scripts": scripts + [sample]], as: [[String]].self)
        try #require(found.count == scripts.count + 1)
        for (script, problems) in zip(scripts, found.dropLast()) { #expect(problems.isEmpty, "\(problems) in \(script.prefix(200))") }
        let caught = found.last ?? []
        #expect(caught.count == 12, "\(caught)")
        for (line, word) in [(1, "&&"), (2, "||"), (3, "-AsByteStream"), (4, "utf8NoBOM"), (5, "-AsHashtable"), (6, "-Depth"), (7, "-Parallel"),
                             (8, "$IsWindows"), (9, "Join-Path"), (10, "syntax error"), (11, "syntax error"), (12, "syntax error")] {
            #expect(caught.contains { $0.hasPrefix("line \(line): ") && $0.contains(word) }, "line \(line) \(word): \(caught)")
        }
    }
}

/// The dialect through the real ssh transport to a simulated Windows host (`Tests/tools/windows_host.py`
/// as sshd's ForceCommand): it checks the command line as cmd.exe would pass it on, the bootstrap, the
/// stdin framing and the script's syntax, then runs a Linux program in place of the Windows one with the
/// arguments split by the Windows runtime's rules, and answers with CLIXML noise and the sentinel.
@Suite(.serialized) struct PowerShellOverSSHTests {
    @Test func commandsReachTheSimulatedWindowsHostExactlyAndComeBackClean() async throws {
        try await WindowsSimulator.with { windows in try await Self.exactly(windows) }
    }

    static func exactly(_ windows: WindowsSimulator) async throws {
        let executor = windows.executor, target = windows.target, root = windows.root, state = windows.state

        let words = ["a b", "it's", "\"dq\"", "back\\slash\\", "tab\there", "%PATH%", "$(x)", "é€", ""]
        let echoed = await executor.run(CommandSpec(["sh", "-c", "printf '%s|' \"$@\"; printf '%s' \"$RW\" >&2; exit 3", "sh"] + words,
                                                    on: target, environment: ["RW": "it's $(y)"], timeout: .seconds(30), mutates: false))
        #expect(echoed.termination == .exited(code: 3), "\(echoed.termination) \(echoed.stderr)")
        #expect(echoed.stdout == words.map { $0 + "|" }.joined())
        #expect(echoed.stderr == "it's $(y)", "CLIXML and nothing else removed: \(echoed.stderr.debugDescription)")

        let canary = "canary-cookie-\(UInt32.random(in: 0...UInt32.max))"
        let read = await executor.run(CommandSpec(["cat"], on: target, stdin: .secret(Secret(canary)), timeout: .seconds(30), mutates: true,
                                                  stdoutIsSecret: true))
        #expect(read.termination == .exited(code: 0))
        #expect(read.secretStdout?.withBytes { String(decoding: $0, as: UTF8.self) } == canary)

        let missing = await executor.run(CommandSpec(["/nonexistent/tool.exe"], on: target, timeout: .seconds(30), mutates: false))
        #expect(missing.termination == .exited(code: 127) && missing.stderr.contains("cannot start /nonexistent/tool.exe"), "\(missing.termination) \(missing.stderr)")

        let sentBefore = Support.read(root + "/commands.txt")
        let refused = await executor.run(CommandSpec(["C:\\r\\sbin\\rabbitmqctl.bat", "eval", "node()."], on: target, timeout: .seconds(30), mutates: false))
        guard case .couldNotStart(let why) = refused.termination else { Issue.record("a cmd.exe-unsafe argument was sent: \(refused.termination)"); return }
        #expect(why.contains("cmd.exe"))
        #expect(Support.read(root + "/commands.txt") == sentBefore, "a refused command reached the host")

        let lines = windows.commandLines
        #expect(lines.count == 3 && Set(lines) == [PowerShellWire.commandLine], "one constant command line for every command")
        #expect(windows.calls.count == 3 && windows.calls.allSatisfy { $0.hasPrefix("Complete-Call { Invoke-Native ") }, "\(windows.calls)")
        await executor.shutdown()
        let log = Support.read(state.commandLogPath)
        #expect(Support.lacks(log, canary) && Support.lacks(Support.read(root + "/commands.txt"), canary) && Support.lacks(Support.read(root + "/sshd.log"), canary))
    }
}
