import Testing
import WizardTUI
import Workflow

/// The screen finishes the setup itself: the hand-off's password typed twice (masked, its rule shown as it is
/// typed), then the failover drill offered; key by key through ``Wizard/update(_:_:)``.
@Suite struct FinishingTests {
    static let handoff = Fixtures.ids[6], drill = Fixtures.ids[5]

    static func type(_ s: inout AppState, _ text: String) {
        for c in text { #expect(Wizard.update(&s, .type(c)).isEmpty) }
    }

    /// The guided run ends with only the hand-off undone and no password: the screen asks for it.
    @Test func theGuidedRunEndsWithThePasswordQuestion() {
        let (s, requests) = Fixtures.finishedGuidedRun()
        #expect(requests == [.observe])
        #expect(s.prompt == .secret(SecretEntry()))
        #expect(KeyMap.action(for: .char("q"), in: s) == .type("q"), "letters type into the password, they are not keys")
        #expect(KeyMap.action(for: .escape, in: s) == .no)
        #expect(KeyMap.action(for: .enter, in: s) == .yes)
    }

    /// Typed twice and matching: the secret goes to the engine, then the hand-off runs alone. At no point does
    /// the screen show a character of it: only its length, as `*`.
    @Test func typedTwiceTheSecretIsGivenAndTheHandoffRuns() {
        var (s, _) = Fixtures.finishedGuidedRun()
        let canary = "Canary-7Qx2-pw"
        var screens: [String] = []
        for c in canary {
            _ = Wizard.update(&s, .type(c))
            screens += RenderTests.sizes.map { Render.render(s, $0).text }
        }
        #expect(Render.render(s, RenderTests.sizes[0]).text.contains("> " + String(repeating: "*", count: canary.count) + "_"))
        #expect(Wizard.update(&s, .yes).isEmpty)
        #expect(Render.render(s, RenderTests.sizes[0]).text.contains("Type it again, then Enter:"))
        for c in canary {
            _ = Wizard.update(&s, .type(c))
            screens += RenderTests.sizes.map { Render.render(s, $0).text }
        }
        let requests = Wizard.update(&s, .yes)
        screens += RenderTests.sizes.map { Render.render(s, $0).text }
        #expect(requests == [.giveSecret(Array(canary.utf8)), .apply(only: [Self.handoff], waived: [])])
        #expect(s.prompt == nil && s.secret?.given == true && s.activity?.only == [Self.handoff])
        #expect(screens.count == 4 * canary.count + 2)
        for screen in screens { #expect(!screen.contains("7Qx2"), "a part of the password was on screen:\n\(screen)") }
        // The login failed (a user that exists with another password): r asks for it again.
        _ = Wizard.update(&s, .engine(.runner(Fixtures.runner(current: Self.handoff, statuses: [Self.handoff: .failed]),
                                              .failed(Self.handoff, StepFailure("the OutSystems login failed"), .verify))))
        _ = Wizard.update(&s, .engine(.finished(message: "outsystems-handoff failed", ok: false)))
        s.selected = 6
        #expect(Wizard.update(&s, .retry).isEmpty)
        #expect(s.prompt == .secret(SecretEntry()))
    }

    /// The rule is shown as it is typed; Enter refuses a password OutSystems rejects, and two typings that differ
    /// start over. Nothing goes to the engine.
    @Test func aRejectedOrMismatchedPasswordIsRefused() {
        var (s, _) = Fixtures.finishedGuidedRun()
        Self.type(&s, "ab&c")
        #expect(Render.render(s, RenderTests.sizes[0]).text.contains("not yet: it has a character OutSystems rejects"))
        #expect(Wizard.update(&s, .yes).isEmpty)
        guard case .secret(let refused) = s.prompt else { Issue.record("no question: \(String(describing: s.prompt))"); return }
        #expect(refused.first == nil && refused.refusal?.hasPrefix("not taken: it has a character OutSystems rejects") == true)
        for _ in 0..<4 { _ = Wizard.update(&s, .erase) }
        #expect(s.prompt == .secret(SecretEntry()))
        #expect(Wizard.update(&s, .yes).isEmpty, "an empty password is refused")
        guard case .secret(let empty) = s.prompt else { Issue.record("no question"); return }
        #expect(empty.refusal == "not taken: it is empty")
        Self.type(&s, "first-one")
        #expect(Wizard.update(&s, .yes).isEmpty)
        Self.type(&s, "first-0ne")
        #expect(Wizard.update(&s, .yes).isEmpty)
        guard case .secret(let differ) = s.prompt else { Issue.record("no question"); return }
        #expect(differ.first == nil && differ.typed.isEmpty && differ.refusal == "the two typings differ: type it again, twice")
    }

    /// Esc leaves the hand-off undone (nothing sent), then the drill is offered; n declines it, once per session.
    @Test func escLeavesTheHandoffUndoneAndTheDrillIsOffered() {
        var (s, _) = Fixtures.finishedGuidedRun()
        Self.type(&s, "half")
        #expect(Wizard.update(&s, .no).isEmpty)
        #expect(s.secretDeclined && s.secret?.given == false)
        #expect(s.prompt == .offer, "\(String(describing: s.prompt))")
        let text = Render.render(s, RenderTests.sizes[0]).text
        #expect(text.contains("Run the failover drill now?") && text.contains("fails each of the 3 nodes in turn"), "\(text)")
        #expect(Wizard.update(&s, .no).isEmpty)
        #expect(s.prompt == nil && s.offered)
        #expect(s.message?.text == "failover-drill not run: r on it runs it whenever you want")
        // r on the hand-off asks for the password again.
        s.selected = 6
        #expect(Wizard.update(&s, .retry).isEmpty)
        #expect(s.prompt == .secret(SecretEntry()))
    }

    /// With the password given (a file on the command line), r runs the hand-off at once; once every default
    /// step is done the drill is offered, y runs it alone, and its end shows the summary with its table.
    @Test func theDrillIsOfferedOnceEverythingIsDoneAndEndsOnTheSummary() {
        var (s, _) = Fixtures.finishedGuidedRun(given: true, handoffDone: true)
        #expect(s.prompt == .offer)
        #expect(Wizard.update(&s, .yes) == [.apply(only: [Self.drill], waived: [])])
        #expect(s.offered && s.activity?.only == [Self.drill])
        _ = Wizard.update(&s, .engine(.evidence(Self.drill, title: "Failover drill (graceful) through nginx 10.0.0.10:5672", text: "node conns\nrabbit@ServerA 99")))
        _ = Wizard.update(&s, .engine(.finished(message: "Done: 7 of 7 steps are done.", ok: true)))
        #expect(s.view == .summary && s.prompt == nil)
        #expect(Render.render(s, RenderTests.sizes[1]).text.contains("Failover drill (graceful) through nginx"))
        s.view = .overview
        s.selected = 6
        #expect(Wizard.update(&s, .retry) == [.apply(only: [Self.handoff], waived: [])])
    }

    /// Help and the summary say how to give the password and run the drill from the keyboard.
    @Test func helpAndSummarySayHow() {
        var (s, _) = Fixtures.finishedGuidedRun()
        _ = Wizard.update(&s, .no)
        _ = Wizard.update(&s, .no)
        _ = Wizard.update(&s, .help)
        let help = Render.render(s, RenderTests.sizes[1]).text
        #expect(help.contains("Finishing the setup:"), "\(help)")
        _ = Wizard.update(&s, .bottom)
        let end = Render.render(s, RenderTests.sizes[1]).text
        #expect(end.contains("r on outsystems-handoff") && end.contains("r on failover-drill"), "\(end)")
        _ = Wizard.update(&s, .summary)
        let summary = Render.render(s, RenderTests.sizes[1]).text
        #expect(summary.contains("asked for when outsystems-handoff is the only step left") && summary.contains("r on failover-drill"), "\(summary)")
        _ = Wizard.update(&s, .engine(.handoff(Fixtures.handoff + [HandoffValue("Password", "(set; not shown)")])))
        #expect(Render.render(s, RenderTests.sizes[1]).text.contains("(set; not shown)"))
    }
}
