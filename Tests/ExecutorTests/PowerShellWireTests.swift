import Foundation
import Synchronization
import Testing

@testable import Executor
import TestKit

/// The PowerShell dialect, checked without Windows: what each check proves is said at each test. The
/// Windows-side rules come from PyPI's `mslex` (MSVCRT, UCRT and cmd.exe splitting) and
/// `tree-sitter-powershell` (PowerShell's grammar), through `Tests/tools/winwire.py`.
@Suite struct PowerShellWireTests {
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

    struct Parsed: Decodable { var error: Bool; var tree: String }

    /// Whether each script parses; with `trees`, its syntax tree too (large for whole scripts).
    static func parse(_ scripts: [String], trees: Bool = true) async throws -> [Parsed] {
        try await ask(["op": "parse", "scripts": scripts, "trees": trees], as: [Parsed].self)
    }

    static func split(_ lines: [String], rule: String) async throws -> [[String]] {
        try await ask(["op": "split", "rule": rule, "lines": lines], as: [[String]].self)
    }

    static let expectedArgv = ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"]

    /// The command line is one constant for every command, decodes to the bootstrap, and holds only
    /// characters no Windows shell treats specially.
    @Test func theCommandLineIsOneConstantThatDecodesToTheBootstrap() throws {
        let a = try RemoteDialect.powershell.wire(for: CommandSpec(["C:\\x\\rabbitmqctl.bat", "status"], mutates: false)).get()
        let b = try RemoteDialect.powershell.wire(for: CommandSpec(["icacls.exe", "C:\\a b\\c", "/grant", "x"], stdin: .secret(Secret("canary")),
                                                                    mutates: true)).get()
        #expect(a.commandLine == b.commandLine)
        let words = a.commandLine.split(separator: " ").map(String.init)
        #expect(Array(words.dropLast()) == Self.expectedArgv)
        let encoded = try #require(Data(base64Encoded: words.last ?? ""))
        let units = stride(from: 0, to: encoded.count, by: 2).map { UInt16(encoded[$0]) | UInt16(encoded[$0 + 1]) << 8 }
        #expect(String(decoding: units, as: UTF16.self) == PowerShellWire.bootstrap)
        #expect(a.commandLine.unicodeScalars.allSatisfy { CharacterSet(charactersIn: "+/=.- ").union(.alphanumerics).contains($0) && $0.isASCII })
        #expect(a.commandLine.count < 8191, "cmd.exe's limit")
        #expect(!a.commandLine.contains("canary"))
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
        for function in PowerShellLibrary.functions.sorted() {
            specs.append(CommandSpec([function] + hostile, stdin: .secret(Secret("canary")), mutates: true))
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
        let scripts = [PowerShellWire.bootstrap, PowerShellLibrary.text]
            + PowerShellLibrary.functions.sorted().map { PowerShellWire.script(for: CommandSpec([$0, "a", "b", "c"], mutates: false)) }
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

    /// A script is the constant library and one line: the call, every value a verbatim literal. Each
    /// function a command may name is defined by the library; a name outside them runs as a program.
    @Test func aScriptIsTheLibraryAndOneCall() throws {
        for function in PowerShellLibrary.functions {
            #expect(PowerShellLibrary.text.contains("\nfunction \(function)(") || PowerShellLibrary.text.contains("\nfunction \(function) {"), "\(function)")
        }
        #expect(PowerShellLibrary.text.contains("'\(PowerShellWire.sentinel)'"), "the library writes the sentinel the wire reads")
        let observe = PowerShellWire.script(for: CommandSpec(["Observe-File", "C:\\it's\\x", "bytes"], mutates: false))
        #expect(observe == PowerShellLibrary.text + "Complete-Call { Observe-File 'C:\\it''s\\x' 'bytes' }\n")
        let guarded = PowerShellWire.call(for: CommandSpec(["Invoke-WithCookie", "C:\\c", "86", "C:\\r\\rabbitmqctl.bat", "-n", "rabbit@A", "status"],
                                                           environment: ["K": "v"], workingDirectory: "C:\\w", mutates: false))
        #expect(guarded == "Complete-Call { Invoke-Native 'C:\\c' '86' 'C:\\r\\rabbitmqctl.bat' '-n rabbit@A status' 'C:\\w' 'K' 'v' }")
        let plain = PowerShellWire.call(for: CommandSpec(["tool.exe", "a b"], mutates: false))
        #expect(plain == "Complete-Call { Invoke-Native '' '' 'tool.exe' '\"a b\"' '' }")
        // The cmd.exe rule holds for the program a cookie guard runs, not for the guard's own words.
        let refused = RemoteDialect.powershell.wire(for: CommandSpec(["Invoke-WithCookie", "C:\\Users\\a b\\.erlang.cookie", "86", "C:\\r\\rabbitmqctl.bat", "eval", "node()."],
                                                                   mutates: false))
        guard case .failure(let why) = refused else { Issue.record("an unsafe .bat argument behind a cookie guard was sent"); return }
        #expect(why.reason.contains("node()."))
        #expect(throws: Never.self) {
            try RemoteDialect.powershell.wire(for: CommandSpec(["Invoke-WithCookie", "C:\\Users\\a b\\.erlang.cookie", "86", "C:\\r\\rabbitmqctl.bat", "status"],
                                                               mutates: false)).get()
        }
    }

    /// A command that still holds a profile placeholder (`{rmqHome}`: the look at the server did not find it) is refused before anything is sent.
    @Test func anUnresolvedPlaceholderIsNeverSent() {
        let refused = RemoteDialect.powershell.wire(for: CommandSpec(["Invoke-WithCookie", "C:\\c", "86", "{rmqHome}\\sbin\\rabbitmqctl.bat", "status"], mutates: false))
        guard case .failure(let why) = refused else { Issue.record("a placeholder was sent"); return }
        #expect(why.reason.contains("{rmqHome} is not known on this server"))
    }

    /// What goes on stdin: the script on line 1, the input on line 2, base64 both; a secret input stays a
    /// secret on the wire.
    @Test func stdinCarriesTheScriptThenTheInput() throws {
        let wire = try RemoteDialect.powershell.wire(for: CommandSpec(["x.exe", "a b"], stdin: .bytes([0, 1, 2, 255]), mutates: true)).get()
        guard case .bytes(let bytes) = wire.stdin else { Issue.record("bytes expected"); return }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 3 && lines[2].isEmpty)
        #expect(Data(base64Encoded: lines[0]).map { String(decoding: $0, as: UTF8.self) } == PowerShellWire.script(for: CommandSpec(["x.exe", "a b"], mutates: true)))
        #expect(Data(base64Encoded: lines[1]).map(Array.init) == [0, 1, 2, 255])
        let secret = try RemoteDialect.powershell.wire(for: CommandSpec(["x.exe"], stdin: .secret(Secret("canary-cookie")), mutates: true)).get()
        guard case .secret(let s) = secret.stdin else { Issue.record("a secret input must stay a secret"); return }
        #expect(s.withBytes { String(decoding: $0, as: UTF8.self) }.hasSuffix("\n" + Data("canary-cookie".utf8).base64EncodedString() + "\n"))
    }

    /// cmd.exe reads a `.bat`'s arguments as its own syntax: anything beyond plain words is refused before
    /// anything is sent; an `.exe` takes any argument.
    @Test(arguments: ["100%", "a&b", "a|b", "a^b", "\"x\"", "a b", "(x)", "!x!", "<x", "", "a\nb"])
    func batArgumentsOutsidePlainWordsAreRefused(argument: String) throws {
        let refused = RemoteDialect.powershell.wire(for: CommandSpec(["C:\\r\\sbin\\rabbitmqctl.bat", "eval", argument], mutates: false))
        guard case .failure(let why) = refused else { Issue.record("\(argument.debugDescription) was sent to cmd.exe"); return }
        #expect(why.reason.contains("cmd.exe"))
        #expect(throws: Never.self) { try RemoteDialect.powershell.wire(for: CommandSpec(["C:\\x\\tool.exe", argument], mutates: false)).get() }
        #expect(PowerShellWire.batSafe("rabbit@ServerA") && PowerShellWire.batSafe("C:\\ProgramData\\RabbitMQ\\defs-1.json") && PowerShellWire.batSafe("--formatter"))
    }

    /// While output streams, the blank line the sentinel starts with is not shown; the output's own blank
    /// lines are, in order, also at its end. (Seen through `exec --windows`: an extra blank line after every
    /// command's output, before this.)
    @Test func theSentinelsLineBreakIsNotShownWhileStreaming() {
        func streamed(_ lines: [String], _ dialect: RemoteDialect = .powershell) -> [String] {
            let seen = Mutex<[String]>([])
            let s = RemoteDialect.StreamedLines(dialect) { _, line in seen.withLock { $0.append(line) } }
            for line in lines { s.take(.stdout, line) }
            s.finish()
            return seen.withLock { $0 }
        }
        let begin = "##rabbit-wizard-begin"
        #expect(streamed([begin, "a", "", "##rabbit-wizard-exit 3"]) == ["a"])
        #expect(streamed([begin, "a", "", "", "##rabbit-wizard-exit 0"]) == ["a", ""])
        #expect(streamed([begin, "", "b", "", "##rabbit-wizard-exit 0"]) == ["", "b"])
        #expect(streamed([begin, "a", ""]) == ["a", ""], "no sentinel: the blank line was the output's")
        #expect(streamed(["a", "", "##rabbit-wizard-exit 0"], .posix) == ["a", "", "##rabbit-wizard-exit 0"], "POSIX output is shown as it is")
        // What a profile printed before the begin line is not the command's output; without a begin line
        // at all (PowerShell failed before the library ran), every line was.
        #expect(streamed(["Loading personal and system profiles took 612ms.", begin, "a", "", "##rabbit-wizard-exit 0"]) == ["a"])
        #expect(streamed(["Exception calling \"FromBase64String\""]) == ["Exception calling \"FromBase64String\""])
    }

    static func outcome(_ stdout: String, _ stderr: String = "", exit: Int32) -> TransportOutcome {
        func s(_ t: String) -> CapturedStream { CapturedStream(text: t, truncated: false, tail: t, totalBytes: t.utf8.count) }
        return TransportOutcome(termination: .exited(code: exit), stdout: s(stdout), stderr: s(stderr))
    }

    /// The program's exit code is the sentinel's, never PowerShell's; CLIXML and ANSI are gone before
    /// anything reads the output; without a sentinel, whether the program ran is unknown.
    @Test func theSentinelCarriesTheExitCodeAndTheNoiseIsRemoved() {
        let ok = PowerShellWire.interpret(Self.outcome("Cluster status\r\n\u{1B}[1mrunning\u{1B}[0m\n\n##rabbit-wizard-exit 69\n",
                                                      "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"x\"><Obj S=\"progress\"></Obj></Objs>\r\nError: nodedown\n", exit: 1))
        #expect(ok.termination == .exited(code: 69))
        #expect(ok.stdout.text == "Cluster status\r\nrunning\n")
        #expect(ok.stderr.text == "Error: nodedown\n")
        let noOutput = PowerShellWire.interpret(Self.outcome("\n##rabbit-wizard-exit 0\n", exit: 0))
        #expect(noOutput.termination == .exited(code: 0) && noOutput.stdout.text.isEmpty)
        let died = PowerShellWire.interpret(Self.outcome("", "Exception calling \"FromBase64String\"\n", exit: 1))
        #expect(died.termination == .connectionFailed(.lost(reason: "PowerShell ended (exit 1) without the command's exit status: Exception calling \"FromBase64String\"")))
        #expect(died.termination.outcomeUnknown)
        // A secret output (a cookie) comes back byte for byte, whatever its bytes, without the sentinel.
        var secret = Self.outcome("", exit: 0)
        secret.stdout = .empty
        secret.secretStdout = Secret(bytes: [0xff, 0x00, 0x0a] + Array("\n##rabbit-wizard-exit 0\n".utf8))
        let back = PowerShellWire.interpret(secret)
        #expect(back.termination == .exited(code: 0))
        #expect(back.secretStdout?.withBytes { $0 } == [0xff, 0x00, 0x0a])
        #expect(PowerShellWire.shown("##rabbit-wizard-exit 0") == nil && PowerShellWire.shown("#< CLIXML") == nil)
        #expect(PowerShellWire.shown("\u{1B}[32mok\u{1B}[0m") == "ok")
    }

    /// The answer is what lies between the begin line and the sentinel: a banner a profile printed before it
    /// (DefaultShell=powershell loads profiles) is not taken as the answer, and becomes a note; the same for
    /// a secret answer, byte for byte.
    @Test func theAnswerIsFramedOnBothSides() {
        let banner = "Windows PowerShell\r\nLoading personal and system profiles took 612ms.\r\n"
        let framed = PowerShellWire.interpret(Self.outcome(banner + "##rabbit-wizard-begin\n{\"kind\":\"missing\"}\n\n##rabbit-wizard-exit 0\n", exit: 0))
        #expect(framed.termination == .exited(code: 0) && framed.stdout.text == "{\"kind\":\"missing\"}\n", "\(framed.stdout.text)")
        #expect(framed.notes.count == 1 && framed.notes[0].contains("Loading personal and system profiles took 612ms."), "\(framed.notes)")
        var secret = Self.outcome("", exit: 0)
        secret.stdout = .empty
        secret.secretStdout = Secret(bytes: Array((banner + "##rabbit-wizard-begin\n").utf8) + [0x43, 0x4f, 0x0a] + Array("\n##rabbit-wizard-exit 0\n".utf8))
        let back = PowerShellWire.interpret(secret)
        #expect(back.termination == .exited(code: 0) && back.secretStdout?.withBytes { $0 } == [0x43, 0x4f, 0x0a] && back.notes.count == 1)
        let quiet = PowerShellWire.interpret(Self.outcome("##rabbit-wizard-begin\nok\n\n##rabbit-wizard-exit 0\n", exit: 0))
        #expect(quiet.stdout.text == "ok\n" && quiet.notes.isEmpty)
    }

    /// PowerShell's own error records (CLIXML `<S S="Error">` on a redirected stderr) are the reason, decoded,
    /// not dropped; a script that antivirus (AMSI), Constrained Language Mode or a policy refused is named as
    /// such, with what the administrator can do, and counts as not run.
    @Test func powerShellsOwnErrorRecordsAreTheReason() {
        func clixml(_ lines: [String]) -> String {
            "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
                + lines.map { "<S S=\"Error\">\($0)_x000D__x000A_</S>" }.joined() + "</Objs>\r\n"
        }
        let amsi = PowerShellWire.interpret(Self.outcome("", clixml(["This script contains malicious content and has been blocked by your antivirus software.",
                                                                      "    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException",
                                                                      "    + FullyQualifiedErrorId : ScriptContainedMaliciousContent"]), exit: 1))
        guard case .couldNotStart(let why) = amsi.termination else { Issue.record("\(amsi.termination)"); return }
        #expect(why.contains("antivirus (AMSI) blocked the wizard's PowerShell script (This script contains malicious content")
                && why.contains("software.; ScriptContainedMaliciousContent)") && why.contains("nothing ran"), "\(why)")
        #expect(!amsi.termination.outcomeUnknown)
        #expect(amsi.stderr.text.contains("FullyQualifiedErrorId : ScriptContainedMaliciousContent") && !amsi.stderr.text.contains("_x000D_"), "\(amsi.stderr.text)")
        let clm = PowerShellWire.interpret(Self.outcome("", clixml(["Cannot create type. Only core types are supported in this language mode.",
                                                                     "    + FullyQualifiedErrorId : CannotCreateTypeConstrainedLanguage"]), exit: 1))
        guard case .couldNotStart(let clmWhy) = clm.termination else { Issue.record("\(clm.termination)"); return }
        #expect(clmWhy.contains("Constrained Language Mode"), "\(clmWhy)")
        let other = PowerShellWire.interpret(Self.outcome("", clixml(["The term 'Get-Foo' is not recognized &amp; so on &lt;here&gt;"]), exit: 1))
        #expect(other.termination == .connectionFailed(.lost(reason: "PowerShell ended (exit 1) without the command's exit status: "
                                                                 + "The term 'Get-Foo' is not recognized & so on <here>")), "\(other.termination)")
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
