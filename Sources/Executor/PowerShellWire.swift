import Foundation

/// How a command reaches a Windows server through Win32-OpenSSH, and how its outcome comes back.
///
/// - One constant command line, ``commandLine``: `powershell.exe ... -EncodedCommand <bootstrap>`, only
///   letters, digits and `+/=.-` and spaces, so cmd.exe's `/c "..."` and PowerShell's `-c` (the two
///   DefaultShell paths of Win32-OpenSSH) pass it unchanged, and it stays far below cmd's 8191 characters.
/// - The bootstrap reads stdin as UTF-8: line 1 is the per-call script (base64 of UTF-8), line 2 the
///   command's input (base64, empty for none). Nothing secret or variable is on any command line, and no
///   length limit applies. The controller closes stdin after these two lines.
/// - The per-call script is a fixed library (``PowerShellLibrary``: files, secrets, port probes, running a
///   program) and one call, its argv as PowerShell single-quoted literals (no Windows parser reads the
///   data). A program starts through `ProcessStartInfo` with an argument string built by the
///   `CommandLineToArgvW` rules (``windowsCommandLine(_:)``); a `.bat`/`.cmd` program is run by cmd.exe,
///   which no quoting makes safe, so its arguments must be plain words (``batSafe(_:)``) or the command is
///   refused before anything is sent.
/// - The script writes the call's output, then a sentinel line with its exit code: a
///   failure of PowerShell itself (exit 1) is never mistaken for the program's own exit 1. `#< CLIXML`
///   records and ANSI sequences are removed before the output is classified.
///
/// Checked here without Windows (see the README's Windows section): the constant survives both shell
/// paths (a port of Win32-OpenSSH's quoting and PyPI `mslex`), every generated script parses with
/// `tree-sitter-powershell`, the argument quoter round-trips through `mslex`'s MSVCRT and UCRT splitters.
enum PowerShellWire {
    static let sentinel = "##rabbit-wizard-exit "
    /// The line the library writes before the call's own output: what comes before it is not the answer.
    static let beginMarker = "##rabbit-wizard-begin"

    /// Reads the per-call script from stdin line 1 and runs it with the reader, so that it can read the
    /// command's input from line 2.
    static let bootstrap = "$ErrorActionPreference='Stop';$ProgressPreference='SilentlyContinue';"
        + "$r=New-Object IO.StreamReader([Console]::OpenStandardInput(),(New-Object Text.UTF8Encoding $false));"
        + "& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($r.ReadLine())))) $r"

    static let commandLine: String = {
        var utf16le: [UInt8] = []
        for unit in bootstrap.utf16 { utf16le += [UInt8(unit & 0xff), UInt8(unit >> 8)] }
        return "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
            + Data(utf16le).base64EncodedString()
    }()

    /// `s` as a PowerShell verbatim string: single quotes, each single quote doubled. PowerShell also
    /// takes the typographic single quotes (U+2018, U+2019, U+201A, U+201B) as quotes: doubled too.
    static func literal(_ s: String) -> String {
        var out = "'"
        for c in s.unicodeScalars {
            if ["'", "\u{2018}", "\u{2019}", "\u{201A}", "\u{201B}"].contains(c) { out.unicodeScalars.append(c) }
            out.unicodeScalars.append(c)
        }
        return out + "'"
    }

    /// One argument as `CommandLineToArgvW` and the MSVC runtime split it back: unchanged when it has no
    /// space, tab, newline or quote; else in quotes, with backslashes doubled only before a quote.
    static func windowsArgument(_ s: String) -> String {
        if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\u{0B}" || $0 == "\"" }) { return s }
        var out = "\""
        var backslashes = 0
        for c in s {
            if c == "\\" {
                backslashes += 1
            } else if c == "\"" {
                out += String(repeating: "\\", count: 2 * backslashes + 1) + "\""
                backslashes = 0
            } else {
                out += String(repeating: "\\", count: backslashes) + String(c)
                backslashes = 0
            }
        }
        return out + String(repeating: "\\", count: 2 * backslashes) + "\""
    }

    static func windowsCommandLine(_ arguments: [String]) -> String { arguments.map(windowsArgument).joined(separator: " ") }

    /// Words cmd.exe passes on as they are: a `.bat` argument outside this set could be read as cmd syntax
    /// (`% ^ & | < > " ! ( )`, spaces, control characters): the "BatBadBut" class.
    static func batSafe(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { c in
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || "@._:/=*,+-\\".unicodeScalars.contains(c)
        }
    }

    static func runsThroughCmd(_ program: String) -> Bool {
        let p = program.lowercased()
        return p.hasSuffix(".bat") || p.hasSuffix(".cmd")
    }

    /// The per-call script for `spec`: the library (``PowerShellLibrary``) and the command's module, then one
    /// call. A function of either named by `argv[0]` gets the rest of argv; `Invoke-WithCookie FILE STATUS
    /// PROGRAM ARGS...` and any other argv become `Invoke-Native` with the program's arguments as one
    /// `CommandLineToArgvW` string, the working folder and the environment as name/value pairs. Its input
    /// arrives on line 2 of stdin.
    static func script(for spec: CommandSpec) -> String {
        PowerShellLibrary.text + (spec.powershellModule?.text ?? "") + call(for: spec) + "\n"
    }

    /// The script's last line, `Complete-Call { NAME 'ARG' ... }`: the only part that varies.
    static func call(for spec: CommandSpec) -> String {
        let words: [String]
        if let name = spec.argv.first, PowerShellLibrary.functions(for: spec).contains(name) {
            words = [name] + spec.argv.dropFirst().map(literal)
        } else {
            let (cookie, status, program) = nativeParts(spec.argv)
            let environment = spec.environment.sorted { $0.key < $1.key }.flatMap { [literal($0.key), literal($0.value)] }
            words = ["Invoke-Native", literal(cookie), literal(status), literal(program.first ?? ""), literal(windowsCommandLine(Array(program.dropFirst()))),
                     literal(spec.workingDirectory ?? "")] + environment
        }
        return "Complete-Call { " + words.joined(separator: " ") + " }"
    }

    /// The cookie guard's file and status (empty without one) and the program's argv.
    static func nativeParts(_ argv: [String]) -> (cookie: String, status: String, program: [String]) {
        if argv.first == PowerShellLibrary.cookieGuard, argv.count >= 4 { return (argv[1], argv[2], Array(argv.dropFirst(3))) }
        return ("", "", argv)
    }

    static func wire(for spec: CommandSpec) -> Result<RemoteDialect.Wire, RefusedCommand> {
        guard let first = spec.argv.first, !first.isEmpty else { return .failure(RefusedCommand(reason: "empty argv")) }
        if first == PowerShellLibrary.cookieGuard && spec.argv.count < 4 {
            return .failure(RefusedCommand(reason: "\(first) needs a file, a status and a program"))
        }
        let native = PowerShellLibrary.functions(for: spec).contains(first) ? [] : nativeParts(spec.argv).program
        if let program = native.first, runsThroughCmd(program), let bad = native.dropFirst().first(where: { !batSafe($0) }) {
            return .failure(RefusedCommand(reason: "\(program) runs through cmd.exe, which would read the argument \(bad.debugDescription) "
                                           + "as its own syntax; such values go on stdin"))
        }
        // A profile's placeholder left in (`{rmqHome}`): what it stands for was not found on the server.
        if let unresolved = spec.argv.lazy.compactMap({ $0.firstMatch(of: /\{[A-Za-z]+\}/) }).first {
            return .failure(RefusedCommand(reason: "\(unresolved.output) is not known on this server (the look at its RabbitMQ installation did not find it)"))
        }
        if spec.argv.contains(where: { $0.unicodeScalars.contains { $0.value == 0 } }) {
            return .failure(RefusedCommand(reason: "an argument contains a NUL byte"))
        }
        let scriptLine = Data(script(for: spec).utf8).base64EncodedString()
        switch spec.stdin {
        case .none:
            return .success(.init(commandLine: commandLine, stdin: .bytes(Array((scriptLine + "\n\n").utf8))))
        case .bytes(let b):
            return .success(.init(commandLine: commandLine, stdin: .bytes(Array((scriptLine + "\n" + Data(b).base64EncodedString() + "\n").utf8))))
        case .secret(let s):
            let framed = s.withBytes { Array((scriptLine + "\n" + Data($0).base64EncodedString() + "\n").utf8) }
            return .success(.init(commandLine: commandLine, stdin: .secret(Secret(bytes: framed))))
        }
    }

    /// ANSI escape sequences (CSI and OSC), which Windows consoles and the RabbitMQ CLI may print.
    static func withoutANSI(_ s: String) -> String {
        s.replacing(/\u{1B}\[[0-9;?]*[ -\/]*[@-~]/, with: "").replacing(/\u{1B}\][^\u{07}\u{1B}]*(\u{07}|\u{1B}\\)/, with: "")
    }

    /// Text without `#< CLIXML` blocks (Windows PowerShell's serialized streams on a redirected stderr), the
    /// error records in them kept as plain lines: `<S S="Error">` strings, `_x000D__x000A_` and XML escapes
    /// decoded. Progress and other records are dropped.
    static func withoutCLIXML(_ s: String) -> String {
        // Unicode-scalar semantics: "\r\n" is one Character, and the patterns speak of its two parts.
        var out = s.replacing(/#< CLIXML\r?\n?/.matchingSemantics(.unicodeScalar), with: "")
        while let block = out.firstMatch(of: /<Objs [^>]*>[\s\S]*?<\/Objs>\r?\n?/.matchingSemantics(.unicodeScalar)) {
            let errors = errorRecords(in: String(block.output))
            out.replaceSubrange(block.range, with: errors.isEmpty ? "" : errors.joined(separator: "\n") + "\n")
        }
        return out
    }

    /// The text of each `<S S="Error">` record of a CLIXML block, in order, without blank ones.
    static func errorRecords(in block: String) -> [String] {
        block.matches(of: /<S S="Error">([\s\S]*?)<\/S>/.matchingSemantics(.unicodeScalar)).map { m in
            var t = String(m.output.1)
            while let esc = t.firstMatch(of: /_x([0-9A-Fa-f]{4})_/) {
                let scalar = UInt32(esc.output.1, radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) } ?? ""
                t.replaceSubrange(esc.range, with: scalar)
            }
            for (entity, char) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&apos;", "'"), ("&amp;", "&")] { t = t.replacing(entity, with: char) }
            return t.trimmingCharacters(in: .whitespacesAndNewlines)
        }.filter { !$0.isEmpty }
    }

    /// What PowerShell refused before the wizard's script ran, from its own error records: antivirus (AMSI),
    /// Constrained Language Mode, or an execution policy or AppLocker rule, with what the administrator can
    /// do. nil for other failures.
    static func blocked(_ errors: String) -> String? {
        let e = errors.lowercased()
        // PowerShell's message and its error id: "... blocked by your antivirus software.; ScriptContainedMaliciousContent".
        let id = errors.firstMatch(of: /FullyQualifiedErrorId\s*:\s*([^\s,]+)/).map { "; " + $0.output.1 } ?? ""
        let said = firstLine(errors) + id
        if e.contains("scriptcontainedmaliciouscontent") || e.contains("malicious content") {
            return "the server's antivirus (AMSI) blocked the wizard's PowerShell script (\(said)): nothing ran. Ask the "
                + "administrator to allow it (an exclusion for powershell.exe run by this login), or look in the antivirus log for the rule"
        }
        if e.contains("language mode") || e.contains("core types") || e.contains("constrainedlanguage") {
            return "PowerShell runs in Constrained Language Mode for this login (an AppLocker or WDAC policy; \(said)): the wizard's "
                + "script needs Full Language mode, and nothing ran. Ask the administrator for an exception for this administrator login"
        }
        if e.contains("execution polic") || e.contains("is not digitally signed") || e.contains("running scripts is disabled")
            || e.contains("blocked by group policy") {
            return "a policy on the server stops PowerShell from running the wizard's script (\(said)): nothing ran. Ask the "
                + "administrator to allow PowerShell for this login (the execution policy set by group policy, or an AppLocker rule)"
        }
        return nil
    }

    static func firstLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? ""
    }

    static func shown(_ line: String) -> String? {
        if line.hasPrefix(sentinel) || line.hasPrefix(beginMarker) || line.hasPrefix("#< CLIXML") || line.hasPrefix("<Objs ") { return nil }
        return withoutANSI(line)
    }

    /// The answer without what came before the library's begin line: that text (a profile's banner, printed
    /// by an outer PowerShell that loads profiles) is returned apart, for the operator to hear once.
    static func framed(_ text: String) -> (answer: String, before: String) {
        let marker = beginMarker + "\n"
        guard let range = text.range(of: marker), text[..<range.lowerBound].isEmpty || text[..<range.lowerBound].unicodeScalars.last == "\n"
        else { return (text, "") }
        return (String(text[range.upperBound...]), String(text[..<range.lowerBound]))
    }

    /// The program's exit code from the sentinel, the answer taken from between the begin line and the
    /// sentinel, both streams cleaned (PowerShell's own error records kept as lines). Without a sentinel
    /// PowerShell itself ended early: a script it refused (antivirus, language mode, policy) did not run;
    /// otherwise whether the program ran is unknown. Text before the begin line becomes a note.
    static func interpret(_ outcome: TransportOutcome) -> TransportOutcome {
        var out = outcome
        out.stderr.text = withoutANSI(withoutCLIXML(out.stderr.text))
        out.stderr.tail = withoutANSI(withoutCLIXML(out.stderr.tail))
        guard case .exited(let wrapperCode) = outcome.termination else { return out }
        let pattern = /\n##rabbit-wizard-exit (-?[0-9]+)\r?\n?$/.matchingSemantics(.unicodeScalar)
        // A secret output comes back only as bytes: between the begin line and the sentinel.
        if let secret = outcome.secretStdout {
            let (bytes, code, before) = secret.withBytes { bytes -> ([UInt8], Int32?, String) in
                // Byte-wise: a secret need not be UTF-8, and its bytes must come back unchanged.
                func find(_ marker: [UInt8], in b: ArraySlice<UInt8>, last: Bool) -> Int? {
                    guard b.count >= marker.count else { return nil }
                    let starts = b.startIndex...(b.endIndex - marker.count)
                    let match = { (i: Int) in b[i..<(i + marker.count)].elementsEqual(marker) }
                    return last ? starts.last(where: match) : starts.first(where: match)
                }
                var body = bytes[...]
                var before = ""
                let begin = Array((beginMarker + "\n").utf8)
                if let at = find(begin, in: body, last: false), at == body.startIndex || body[at - 1] == 0x0A {
                    before = String(decoding: body[..<at], as: UTF8.self)
                    body = body[(at + begin.count)...]
                }
                guard let at = find(Array("\n\(sentinel)".utf8), in: body, last: true) else { return (Array(body), nil, before) }
                let rest = String(decoding: body[(at + 1 + sentinel.utf8.count)...], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                return (Array(body[..<at]), Int32(rest), before)
            }
            if let code {
                out.secretStdout = Secret(bytes: bytes)
                out.termination = .exited(code: code)
                out.notes += noise(before)
                return out
            }
        }
        // The tail ends where the output ended, even when the captured head was cut short.
        if let match = out.stdout.tail.firstMatch(of: pattern), let code = Int32(match.output.1) {
            out.stdout.tail = withoutANSI(framed(String(out.stdout.tail[..<match.range.lowerBound])).answer)
            if let head = out.stdout.text.firstMatch(of: pattern) { out.stdout.text = String(out.stdout.text[..<head.range.lowerBound]) }
            let (answer, before) = framed(out.stdout.text)
            out.stdout.text = withoutANSI(answer)
            out.termination = .exited(code: code)
            out.notes += noise(before)
            return out
        }
        let errors = out.stderr.text
        if let refused = blocked(errors) {
            out.termination = .couldNotStart(reason: refused)
            return out
        }
        let said = firstLine(errors).isEmpty ? "" : ": \(firstLine(errors))"
        out.termination = .connectionFailed(.lost(reason: "PowerShell ended (exit \(wrapperCode)) without the command's exit status\(said)"))
        return out
    }

    /// A note for what a server's shell printed before the answer, if anything.
    static func noise(_ before: String) -> [String] {
        let text = withoutANSI(before).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return [] }
        return ["the server's shell printed text before the wizard's answer (a PowerShell profile run by DefaultShell=powershell?); "
                + "it is not taken as the answer: \(text.prefix(200))"]
    }
}
