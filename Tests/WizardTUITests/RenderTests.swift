import Foundation
import Glibc
import Testing
import WizardTUI
import Workflow

/// The main screens rendered at 80x24 and 120x40 and compared with golden text files in Snapshots/.
/// A missing golden is written and the test fails, so every golden is read by a person before it counts;
/// `RABBIT_WIZARD_RECORD=1 swift test --filter RenderTests` rewrites them after a deliberate change.
@Suite struct RenderTests {
    static let sizes = [TerminalSize(rows: 24, cols: 80), TerminalSize(rows: 40, cols: 120)]

    init() { setlocale(LC_ALL, "C.UTF-8") }

    /// The cluster line from an observation sits at the bottom of the step pane, in its verdict's colour;
    /// a new observation clears it until the next line arrives.
    @Test func theClusterLineShowsAtTheBottomOfTheStepPane() {
        var s = Self.overview()
        _ = Wizard.update(&s, .engine(.cluster(ClusterLine(health: .partitioned, text: "NETWORK PARTITION: rabbit@A | rabbit@B each run without the other side"))))
        for size in Self.sizes {
            let b = Render.render(s, size)
            let rows = b.lines
            let first = rows.firstIndex { $0.contains("cluster: NETWORK PARTITION") }
            #expect(first != nil, "\(rows.joined(separator: "\n"))")
            if let first {
                #expect(first > rows.firstIndex { $0.contains("recorded:") } ?? Int.max, "below the step's details")
                #expect(b.cells[first][2].style == .error)
                #expect(rows[first + 1].contains("the other side") || rows[first + 2].contains("the other side"))
            }
        }
        _ = Wizard.update(&s, .engine(.finished(message: "Done", ok: true)))
        #expect(s.cluster == nil)
        #expect(!Render.render(s, Self.sizes[0]).text.contains("cluster:"))
    }

    /// The load balancer below the cluster line, at 80x24 too: a pair's hosts each with its VRRP state, in
    /// rows of their own (appended to the cluster's words, the 4-row cluster block cut them off at 80x24).
    @Test func theLoadBalancerShowsBelowTheClusterLine() {
        var s = Self.overview()
        let pair = "nginx on the pair 10.0.0.20 (MASTER), 10.0.0.21 (BACKUP), floating address 10.0.0.30:5672"
        _ = Wizard.update(&s, .engine(.cluster(ClusterLine(health: .healthy, text: "3 of 3 nodes running, every node sees all of them, no partition",
                                                           loadBalancer: pair))))
        for size in Self.sizes {
            let rows = Render.render(s, size).lines
            let cluster = rows.firstIndex { $0.contains("cluster: 3 of 3") }, lb = rows.firstIndex { $0.contains("load balancer: nginx") }
            #expect(cluster != nil && lb != nil && lb! > cluster!, "\(rows.joined(separator: "\n"))")
            let text = Array(rows[(lb ?? 0)...]).joined(separator: " ").split(separator: " ").joined(separator: " ")
            #expect(text.contains("(MASTER)") && text.contains("(BACKUP)") && text.contains("10.0.0.30:5672"), "\(rows.joined(separator: "\n"))")
        }
    }

    /// A question box makes the step pane short: the cluster line then gets only the rows below the steps,
    /// never the steps' own rows (it was drawn over them, seen at 80x24 with the repair question).
    @Test func theClusterLineNeverCoversTheSteps() {
        let s = Self.repairConfirmation()
        for size in Self.sizes {
            let rows = Render.render(s, size).lines
            let stepRows = rows.filter { row in Fixtures.ids.contains { row.contains($0.rawValue) } }
            #expect(stepRows.count >= 4, "\(rows.joined(separator: "\n"))")
            #expect(!rows.contains { $0.contains("cluster:") && $0.contains("done") }, "\(rows.joined(separator: "\n"))")
        }
    }

    // MARK: the screens

    static func overview() -> AppState {
        var s = Fixtures.opened(Fixtures.journal([.upToDate(step: Fixtures.ids[0])]))
        _ = Wizard.update(&s, .engine(.observed(Fixtures.ids[0], live: "up to date (verified)", pendingChanges: 0)))
        _ = Wizard.update(&s, .engine(.observed(Fixtures.ids[1], live: "3 change(s) pending", pendingChanges: 3)))
        _ = Wizard.update(&s, .down)
        return s
    }

    static func running() -> AppState {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .tick(10))
        _ = Wizard.update(&s, .run)
        let id = Fixtures.ids[2]
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: id, statuses: [Fixtures.ids[0]: .done, Fixtures.ids[1]: .done, id: .unknown],
                                                              plans: [id: Fixtures.cookiePlan]), .prepared(id, Fixtures.undo))))
        _ = Wizard.update(&s, .engine(.commandStarted(step: id, target: "ServerB", argv: ["service", "rabbitmq-server", "stop"], mutates: true)))
        _ = Wizard.update(&s, .engine(.output("Stopping rabbitmq-server (via systemctl): rabbitmq-server.service.")))
        _ = Wizard.update(&s, .engine(.commandFinished(CommandSummary(step: id, target: "ServerB", argv: ["service", "rabbitmq-server", "stop"],
                                                                      mutates: true, exit: "ok", ok: true, seconds: 4.2))))
        _ = Wizard.update(&s, .tick(71))
        _ = Wizard.update(&s, .engine(.commandStarted(step: id, target: "ServerB", argv: ["service", "rabbitmq-server", "start"], mutates: true)))
        _ = Wizard.update(&s, .engine(.progress("ServerB: waiting until rabbit@ServerB is ready (often 5-15 s)")))
        _ = Wizard.update(&s, .tick(83.4))
        return s
    }

    static func findings() -> AppState {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: Fixtures.ids[0]), .checked(Fixtures.ids[0], Fixtures.findings))))
        _ = Wizard.update(&s, .engine(.finished(message: "installation-checks is blocked by findings: hostname-unresolved", ok: false)))
        _ = Wizard.update(&s, .engine(.observeFinished))
        _ = Wizard.update(&s, .down)
        _ = Wizard.update(&s, .down)
        _ = Wizard.update(&s, .down)
        _ = Wizard.update(&s, .waive)
        return s
    }

    static func planReview() -> AppState {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        _ = Wizard.update(&s, .engine(.confirm(Fixtures.ids[1], Fixtures.confPlan)))
        return s
    }

    static func failure() -> AppState {
        var s = running()
        let id = Fixtures.ids[3]
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: id, statuses: [Fixtures.ids[0]: .done, Fixtures.ids[1]: .done, Fixtures.ids[2]: .done,
                                                                                      id: .failed]), .failed(id, Fixtures.nodeDown, .apply))))
        _ = Wizard.update(&s, .engine(.choose(id, [.retry, .rollbackStep, .rollbackAll, .quit], Fixtures.nodeDown)))
        return s
    }

    static func rollbackConfirmation() -> AppState {
        var events: [JournalEvent] = []
        for id in [Fixtures.ids[1], Fixtures.ids[2], Fixtures.ids[6]] { events += [.began(step: id, fingerprint: "f", undo: Fixtures.undo), .verified(step: id)] }
        var s = Fixtures.opened(Fixtures.journal(events))
        _ = Wizard.update(&s, .rollbackAll)
        for c in "rollb" { _ = Wizard.update(&s, .type(c)) }
        return s
    }

    static func resume() -> AppState {
        Fixtures.opened(Fixtures.journal([.upToDate(step: Fixtures.ids[0]), .began(step: Fixtures.ids[1], fingerprint: "f", undo: Fixtures.undo),
                                          .verified(step: Fixtures.ids[1]), .began(step: Fixtures.ids[2], fingerprint: "f", undo: Fixtures.undo)]),
                        interrupted: [Fixtures.ids[2]])
    }

    static func summary() -> AppState {
        var s = Fixtures.allDone()
        // The drill's table as FailoverDrillStep.table prints it (76 columns; FailoverDrillTests holds it there).
        _ = Wizard.update(&s, .engine(.evidence(Fixtures.ids[5], title: "Failover drill (hard) through nginx 10.0.0.10:5672", text: """
              node               conns fail slowest sent acked lost    gap reconn   back
              rabbit@ServerA        99    0   62 ms  104   104    0  0.2 s  0.2 s  9.3 s
              rabbit@ServerB        95    0  144 ms   99    98    1  0.3 s  0.1 s  8.8 s
              rabbit@ServerC        93    0  109 ms   97    97    0  0.2 s      -  8.5 s
              rabbit@ServerC: the subscriber on another node (load balancer's choice)
            """)))
        _ = Wizard.update(&s, .engine(.finished(message: "Done: 6 of 7 steps are done.", ok: true)))
        _ = Wizard.update(&s, .summary)
        return s
    }

    static func repairConfirmation() -> AppState {
        var s = Fixtures.allDone()
        _ = Wizard.update(&s, .engine(.cluster(ClusterLine(health: .partitioned,
                                                           text: "NETWORK PARTITION: rabbit@ServerA, rabbit@ServerB | rabbit@ServerC each run without the other side"))))
        _ = Wizard.update(&s, .repairPartition)
        _ = Wizard.update(&s, .engine(.repairProposal(KeyMapTests.proposal)))
        for c in "res" { _ = Wizard.update(&s, .type(c)) }
        return s
    }

    static func setup() -> AppState {
        var s = AppState()
        _ = Wizard.update(&s, .engine(.setup(path: "/etc/rabbit-wizard/prod.yml", choices: SetupFormTests.choices)))
        for _ in 0..<4 { _ = Wizard.update(&s, .down) }
        _ = Wizard.update(&s, .type("!"))
        _ = Wizard.update(&s, .engine(.validated([SetupForm.Problem(
            field: "nodes[0].host", message: "not a valid host name (character \"!\" is not allowed). Fix: use letters, digits, - and . only")])))
        return s
    }

    /// The hand-off's password question, masked, after the guided run ended with only the hand-off undone.
    static func passwordPrompt() -> AppState {
        var (s, _) = Fixtures.finishedGuidedRun()
        for c in "s3cret-pass" { _ = Wizard.update(&s, .type(c)) }
        return s
    }

    /// A character OutSystems rejects, refused on Enter.
    static func passwordRejected() -> AppState {
        var (s, _) = Fixtures.finishedGuidedRun()
        for c in "pa&ss" { _ = Wizard.update(&s, .type(c)) }
        _ = Wizard.update(&s, .yes)
        return s
    }

    /// The second typing differed from the first: both start over.
    static func passwordMismatch() -> AppState {
        var (s, _) = Fixtures.finishedGuidedRun()
        for c in "s3cret-pass" { _ = Wizard.update(&s, .type(c)) }
        _ = Wizard.update(&s, .yes)
        for c in "s3cret-past" { _ = Wizard.update(&s, .type(c)) }
        _ = Wizard.update(&s, .yes)
        return s
    }

    static func drillOffer() -> AppState { Fixtures.finishedGuidedRun(given: true, handoffDone: true).0 }

    static let screens: [(name: String, state: @Sendable () -> AppState)] = [
        ("password-prompt", passwordPrompt), ("password-rejected", passwordRejected), ("password-mismatch", passwordMismatch),
        ("drill-offer", drillOffer),
        ("setup", setup),
        ("overview", overview), ("running", running), ("findings", findings), ("plan-review", planReview), ("failure", failure),
        ("rollback-confirmation", rollbackConfirmation), ("resume", resume), ("summary", summary),
        ("repair-confirmation", repairConfirmation),
    ]

    // MARK: tests

    @Test(arguments: screens.map(\.name), sizes)
    func matchesItsGolden(_ name: String, _ size: TerminalSize) throws {
        let state = Self.screens.first { $0.name == name }!.state()
        let text = Render.render(state, size).text + "\n"
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots/\(name)-\(size.cols)x\(size.rows).txt").path
        let record = ProcessInfo.processInfo.environment["RABBIT_WIZARD_RECORD"] == "1"
        guard !record, let golden = try? String(contentsOfFile: path, encoding: .utf8) else {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            Issue.record("wrote \(path): read it, then run the test again")
            return
        }
        #expect(text == golden, "\(name) at \(size.cols)x\(size.rows) differs from \(path)")
    }

    @Test(arguments: screens.map(\.name), sizes + [TerminalSize(rows: 24, cols: 100), TerminalSize(rows: 30, cols: 81)])
    func everyLineFitsAndAsciiModeIsPureAscii(_ name: String, _ size: TerminalSize) {
        let state = Self.screens.first { $0.name == name }!.state()
        for glyphs in [Glyphs.unicode, .ascii] {
            let buffer = Render.render(state, size, glyphs: glyphs)
            #expect(buffer.lines.count == size.rows)
            for line in buffer.lines { #expect(TextWidth.columns(line) <= size.cols, "\(name): too wide: \(line)") }
            if glyphs == .ascii {
                let ascii = buffer.text.unicodeScalars.allSatisfy { $0.isASCII }
                #expect(ascii, "\(name): non-ASCII in ASCII mode")
            }
        }
    }

    /// The failure reaches the screen twice: the runner's event writes "<step> failed (apply): <cause>" in the
    /// output at once, and the box with the cause and the choices comes with the question, after the journal
    /// is written. A frame can show the first without the second, so a test that waits for the box looks
    /// for its keys ("r: retry"), not for "<step> failed".
    @Test func theFailuresLineComesBeforeItsBox() {
        var s = Self.running()
        let id = Fixtures.ids[3]
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: id, statuses: [id: .failed]), .failed(id, Fixtures.nodeDown, .apply))))
        let between = Render.render(s, RenderTests.sizes[0]).text
        #expect(between.contains("\(id) failed"))
        #expect(!between.contains("Cause:") && !between.contains("r: retry"))
        _ = Wizard.update(&s, .engine(.choose(id, [.retry, .quit], Fixtures.nodeDown)))
        let box = Render.render(s, RenderTests.sizes[0]).text
        #expect(box.contains("Cause:") && box.contains("r: retry"))
    }

    @Test func whatEachScreenMustSay() {
        let at80 = TerminalSize(rows: 24, cols: 80)
        let failure = Render.render(Self.failure(), at80).text
        #expect(failure.contains("cluster-join failed"))
        #expect(failure.contains("Cause: rabbit@ServerC is not running"))
        #expect(failure.contains("r: retry"))
        #expect(!failure.contains("s: skip"))
        let plan = Render.render(Self.planReview(), at80).text
        #expect(plan.contains("+ cluster_partition_handling = pause_minority"))
        #expect(plan.contains("  listeners.tcp.default = 5672"))
        #expect(plan.contains("Restarts: none."))
        var restarting = Fixtures.opened()
        _ = Wizard.update(&restarting, .run)
        _ = Wizard.update(&restarting, .engine(.confirm(Fixtures.ids[1], Fixtures.confPlanRestarting)))
        let named = Render.render(restarting, at80).text
        #expect(named.contains("Restarts: ServerA (it cannot change live: its Erlang VM does not"), "\(named)")
        let running = Render.render(Self.running(), at80).text
        #expect(running.contains("running on ServerB for 12s:"))
        #expect(running.contains("$ service rabbitmq-server start"))
        #expect(running.contains("Stopping rabbitmq-server (via systemctl)"))
        #expect(running.contains("1m13s"))  // the run started at 10 s, the clock is at 83.4 s
        let rollback = Render.render(Self.rollbackConfirmation(), at80).text
        #expect(rollback.contains("outsystems-handoff: DESTROYS the OutSystems user and its permissions"))
        #expect(rollback.contains("> rollb_"))
        let summary = Render.render(Self.summary(), at80).text
        #expect(summary.contains("Host            10.0.0.10"))
        // The drill's columns, whole, at 80 columns.
        #expect(summary.contains("     node               conns fail slowest sent acked lost    gap reconn   back\n"))
        #expect(summary.contains("     rabbit@ServerA        99    0   62 ms  104   104    0  0.2 s  0.2 s  9.3 s\n"))
    }

    @Test func aSecretChangeIsShownOnlyAsWillChange() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .run)
        _ = Wizard.update(&s, .engine(.confirm(Fixtures.ids[2], Fixtures.cookiePlan)))
        let text = Render.render(s, TerminalSize(rows: 40, cols: 120)).text
        #expect(text.contains("(secret: will change; never shown)"))
        #expect(!text.contains("CANARY"))
    }

    @Test func aTerminalBelow80x24SaysSoInsteadOfDrawingGarbage() {
        let text = Render.render(Self.overview(), TerminalSize(rows: 20, cols: 70)).text
        #expect(text.contains("needs at least 80x24"))
        #expect(text.contains("this terminal is 70x20"))
    }

    /// The first frame is drawn before the engine starts: it must not claim to be idle (the benchmark and
    /// an operator would both take that as "ready").
    @Test func theFirstFrameSaysOpeningNotIdle() {
        let size = TerminalSize(rows: 24, cols: 80)
        let first = Render.render(AppState(), size).text.split(separator: "\n").first ?? ""
        #expect(first.contains("opening") && !first.contains("idle"), "\(first)")
        let opened = Render.render(Fixtures.opened(), size).text.split(separator: "\n").first ?? ""
        #expect(opened.contains("idle"), "\(opened)")
    }

    @Test func helpListsEveryBindingFromTheTable() {
        var s = Fixtures.opened()
        _ = Wizard.update(&s, .help)
        let text = Render.render(s, TerminalSize(rows: 60, cols: 120)).text
        for b in KeyMap.bindings { #expect(text.contains(b.help), "help does not mention: \(b.help)") }
    }

    @Test func wideAndControlCharactersKeepTheGrid() {
        var b = ScreenBuffer(TerminalSize(rows: 1, cols: 10))
        let end = b.put(0, 0, "a\u{7}日本語xyz")
        #expect(b.lines == ["a?日本語xy"])
        #expect(end == 10)
        #expect(TextWidth.wrap("alpha beta gamma", 11) == ["alpha beta", "gamma"])
        #expect(TextWidth.clip("abcdefgh", 5, ellipsis: "~") == "abcd~")
    }
}
