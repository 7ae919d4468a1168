import Foundation
import Synchronization
import Testing

@testable import Executor
import TestKit

/// The PowerShell dialect, checked without Windows: what each check proves is said at each test. The
/// checks against the Windows side's own rules (`mslex`, `tree-sitter-powershell`) and through a
/// simulated Windows host are scenarios: `ScenarioTests/WindowsRulesTests.swift`.
@Suite struct PowerShellWireTests {
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
        // A module's functions are called by name by the commands that carry it, its text after the library's.
        let module = PowerShellModule(functions: ["Get-Thing"], text: "function Get-Thing([string]$A) { return 0 }\n")
        let carried = PowerShellWire.script(for: CommandSpec(["Get-Thing", "x"], mutates: false, powershellModule: module))
        #expect(carried == PowerShellLibrary.text + module.text + "Complete-Call { Get-Thing 'x' }\n")
        let without = PowerShellWire.call(for: CommandSpec(["Get-Thing", "x"], mutates: false))
        #expect(without == "Complete-Call { Invoke-Native '' '' 'Get-Thing' 'x' '' }", "a module not carried is not called")
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
