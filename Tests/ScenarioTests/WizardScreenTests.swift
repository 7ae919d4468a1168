import Executor
import Foundation
import Glibc
import TestKit
import Testing

/// The wizard screen through tmux, on the engine's file steps (no RabbitMQ needed): a run from the
/// keyboard, views, resize, colours and ASCII, no terminal, an unknown terminal, and the terminal given
/// back after a crash or a hang-up. The full cluster from the keyboard is in ClusterScenarioTests.
@Suite struct WizardScreenTests {
    /// The product on the bed's file steps in tmux; the server is stopped whatever `body` does.
    static func with(_ bed: FileStepsBed, env: [String: String] = [:], _ body: (Tmux) async throws -> Void) async throws {
        try await Tmux.with([Support.productBinary, "--config", "/dev/null", "--state-dir", bed.state],
                            environment: bed.env.merging(env) { $1 }, body)
    }

    @Test func aRunFromTheKeyboardThenTheViewsAndResizing() async throws {
        let bed = FileStepsBed()
        try await Self.with(bed) { tmux in
            defer { Support.remove(bed.root) }
            let first = try #require(await tmux.wait(for: "Enter run all"), "no overview: \(tmux.lastScreen)")
            #expect(Tmux.shows(first, "file-a") && Tmux.shows(first, "file-c"))
            #expect(Tmux.shows(first, "· pending"))

            await tmux.send("Enter")
            let planA = try #require(await tmux.wait(for: "Apply file-a?"), "\(tmux.lastScreen)")
            #expect(Tmux.shows(planA, "- old = 1"))
            #expect(Tmux.shows(planA, "+ new = 2"))
            #expect(!bed.converged())
            await tmux.send("y")
            _ = try #require(await tmux.wait(for: "Apply file-b?"), "\(tmux.lastScreen)")
            await tmux.send("y")
            _ = try #require(await tmux.wait(for: "Apply file-c?"), "\(tmux.lastScreen)")
            await tmux.send("y")
            let summary = try #require(await tmux.wait(for: "Done: 3 of 3 steps are done."), "\(tmux.lastScreen)")
            #expect(Tmux.shows(summary, "Summary"))
            #expect(bed.converged())

            await tmux.send("Escape")
            _ = try #require(await tmux.wait { Tmux.shows($0, "✓ done") && Tmux.shows($0, "Output") }, "\(tmux.lastScreen)")
            await tmux.send("l")
            let log = try #require(await tmux.wait(for: "Command log"), "\(tmux.lastScreen)")
            #expect(Tmux.shows(log, "[file-a]"))
            await tmux.send("?")
            _ = try #require(await tmux.wait(for: "The wizard walks through the steps"), "\(tmux.lastScreen)")

            await tmux.resize(cols: 120, rows: 40)
            let wide = try #require(await tmux.wait { $0.split(separator: "\n").first.map { $0.count > 100 } == true }, "\(tmux.lastScreen)")
            #expect(wide.split(separator: "\n", omittingEmptySubsequences: false).count >= 40)
            await tmux.resize(cols: 70, rows: 20)
            _ = try #require(await tmux.wait(for: "needs at least 80x24"), "\(tmux.lastScreen)")
            await tmux.resize(cols: 80, rows: 24)
            _ = try #require(await tmux.wait(for: "The wizard walks through the steps"), "\(tmux.lastScreen)")

            await tmux.send("q")
            #expect(await tmux.exitStatus() == 0)
            #expect(!tmux.terminalSettings.before.isEmpty)
            #expect(tmux.terminalChanges.isEmpty, "the terminal changed: \(tmux.terminalChanges)")
            #expect(tmux.stderr.isEmpty, "\(tmux.stderr)")
        }
    }

    @Test func aTopologyWrittenFromTheSetupForm() async throws {
        let dir = Support.temporaryDirectory()
        defer { Support.remove(dir) }
        let path = dir + "/topology.yml"
        try await Tmux.with([Support.productBinary, "--config", path, "--state-dir", dir + "/state"]) { tmux in
            let form = try #require(await tmux.wait(for: "New topology, to be written to \(path)"), "\(tmux.lastScreen)")
            #expect(Tmux.shows(form, "pause_minority is recommended for 3 nodes"))
            for _ in 0..<8 { await tmux.send("Down") }  // node 2's host
            for _ in 0..<7 { await tmux.send("BSpace") }
            await tmux.type("bad;host")
            let bad = try #require(await tmux.wait { Tmux.shows($0, "bad;host_") && Tmux.shows($0, "not a valid host name") }, "\(tmux.lastScreen)")
            #expect(Tmux.shows(bad, "character \";\" is not allowed"))
            await tmux.send("Enter")
            _ = try #require(await tmux.wait(for: "fix the 1 problem(s)"), "\(tmux.lastScreen)")
            #expect(!FileManager.default.fileExists(atPath: path))
            for _ in 0..<8 { await tmux.send("BSpace") }
            await tmux.type("ServerB")
            _ = try #require(await tmux.wait { !Tmux.shows($0, "not a valid host name") && Tmux.shows($0, "ServerB_") }, "\(tmux.lastScreen)")
            await tmux.send("Enter")
            let overview = try #require(await tmux.wait(for: "Enter run all"), "\(tmux.lastScreen)")
            #expect(Tmux.shows(overview, "\(path) (3 nodes, nginx)"))
            #expect(Tmux.shows(overview, "cluster-join"))
            var st = stat()
            #expect(stat(path, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600)
            #expect(Support.read(path).contains("host: \"ServerB\""))
            await tmux.send("q")
            #expect(await tmux.exitStatus() == 0)
            #expect(tmux.terminalChanges.isEmpty, "the terminal changed: \(tmux.terminalChanges)")
        }
    }

    /// A topology that does not fit (a full disk) is refused in words and not left half-written: a partial
    /// file would block the next Enter, since the form never overwrites a file.
    @Test func aTopologyThatDoesNotFitIsNotLeftHalfWritten() async throws {
        let dir = Support.temporaryDirectory()
        defer { Support.remove(dir) }
        let small = try await Support.smallDisk(in: dir)
        defer { _ = umount2(small, 0) }
        _ = await Support.run(["sh", "-c", "dd if=/dev/zero of=\"$1\" bs=4096 2>/dev/null; true", "sh", small + "/filler"])
        let path = small + "/topology.yml"
        try await Tmux.with([Support.productBinary, "--config", path, "--state-dir", dir + "/state"]) { tmux in
            _ = try #require(await tmux.wait(for: "New topology, to be written to \(path)"), "\(tmux.lastScreen)")
            await tmux.send("Enter")
            let refused = try #require(await tmux.wait(for: "cannot write \(path)"), "\(tmux.lastScreen)")
            #expect(Tmux.shows(refused, "No space left on device"), "\(refused)")
            #expect(!FileManager.default.fileExists(atPath: path), "a half-written topology was left")
            await tmux.send("Escape")
            _ = await tmux.wait(for: "Esc again quits without saving")
            await tmux.send("Escape")
            #expect(await tmux.exitStatus() == 0)
        }
    }

    /// Foreground colour escape sequences (SGR 30-37, 38;5;N) in a capture.
    static func hasColour(_ s: String) -> Bool {
        s.range(of: "\u{1B}\\[([0-9]+;)*(3[0-7]|38;5;[0-9]+)(;[0-9]+)*m", options: .regularExpression) != nil
    }

    @Test func coloursUnlessNoColorAndAsciiUnderACLocale() async throws {
        for (env, colour, ascii) in [([String: String](), true, false), (["NO_COLOR": "1"], false, false), (["LANG": "C", "LC_ALL": "C"], true, true)] {
            let bed = FileStepsBed()
            defer { Support.remove(bed.root) }
            try await Self.with(bed, env: env) { tmux in
                _ = try #require(await tmux.wait(for: "Enter run all"), "\(tmux.lastScreen)")
                await tmux.send("p")
                _ = try #require(await tmux.wait { Tmux.shows($0, "+ new = 2") && Tmux.shows($0, "idle") }, "\(env): \(tmux.lastScreen)")
                let escaped = await tmux.capture(escapes: true)
                #expect(Self.hasColour(escaped) == colour, "\(env): colour sequences \(Self.hasColour(escaped) ? "present" : "absent")")
                let plain = await tmux.capture()
                #expect(plain.unicodeScalars.allSatisfy(\.isASCII) == ascii, "\(env): \(plain)")
                await tmux.send("q")
                #expect(await tmux.exitStatus() == 0)
                #expect(tmux.terminalChanges.isEmpty, "the terminal changed: \(tmux.terminalChanges)")
            }
        }
    }

    @Test func withoutATerminalItPointsToTheSubcommands() async throws {
        let out = await Support.run([Support.productBinary, "--config", "/dev/null"])
        #expect(out.termination == .exited(code: 64))
        #expect(out.stderr.text.contains("the wizard screen needs a terminal"))
        #expect(out.stderr.text.contains("rabbit-wizard plan | apply | status"))
        #expect(out.stdout.text.isEmpty)
    }

    @Test func anUnknownTerminalTypeIsNamedNotACrash() async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        try await Self.with(bed, env: ["TERM": "no-such-terminal"]) { tmux in
            #expect(await tmux.exitStatus() == 64)
            #expect(tmux.stderr.contains("TERM=no-such-terminal is unknown to ncurses"), "\(tmux.stderr)")
            #expect(tmux.terminalChanges.isEmpty, "the terminal changed: \(tmux.terminalChanges)")
        }
    }

    @Test(arguments: [(SIGSEGV, 128 + SIGSEGV, ""), (SIGHUP, 128 + SIGHUP, "terminal gone"), (SIGTERM, 128 + SIGTERM, "terminated")])
    func theTerminalIsGivenBackOnACrashOrASignal(signal: Int32, status: Int32, words: String) async throws {
        let bed = FileStepsBed()
        defer { Support.remove(bed.root) }
        try await Self.with(bed) { tmux in
            _ = try #require(await tmux.wait(for: "Enter run all"), "\(tmux.lastScreen)")
            let pid = try #require(await tmux.productPID())
            kill(pid, signal)
            #expect(await tmux.exitStatus() == status)
            #expect(tmux.terminalChanges.isEmpty, "after signal \(signal) the terminal changed: \(tmux.terminalChanges)")
            if !words.isEmpty { #expect(tmux.stderr.contains(words), "\(tmux.stderr)") }
        }
    }
}
