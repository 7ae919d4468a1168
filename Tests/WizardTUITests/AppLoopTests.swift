import Glibc
import Synchronization
import Testing
import WizardTUI
import Workflow

/// A scripted engine: records requests and answers with canned events. For the loop's logic only; the
/// real engine is exercised through tmux on a real sandbox (WizardScreenTests).
final class ScriptedEngine: WizardEngine {
    let requests = Mutex<[EngineRequest]>([])
    let sink = Mutex<(@Sendable (EngineEvent) -> Void)?>(nil)
    let replies: @Sendable (EngineRequest) -> [EngineEvent]

    init(replies: @escaping @Sendable (EngineRequest) -> [EngineEvent] = { _ in [] }) { self.replies = replies }

    func start(events: @escaping @Sendable (EngineEvent) -> Void) {
        sink.withLock { $0 = events }
        events(.opened(EngineSnapshot(label: "scripted", steps: Fixtures.infos)))
    }

    func perform(_ request: EngineRequest) {
        requests.withLock { $0.append(request) }
        let send = sink.withLock { $0 }
        for e in replies(request) { send?(e) }
    }
}

@MainActor @Suite struct AppLoopTests {
    @Test func keysBecomeRequestsAndQuittingWhileRunningStopsFirst() {
        let engine = ScriptedEngine { r in
            switch r {
            case .observe: [.observeFinished]
            case .stop: [.finished(message: "stopped by Ctrl-C at a safe point", ok: false)]
            default: []
            }
        }
        let screen = TextScreen(size: TerminalSize(rows: 24, cols: 80), keys: [.down, .char("r"), .char("q"), .char("y")])
        let app = WizardApp(screen: screen, engine: engine, glyphs: .ascii) { code, _ in fatalError("aborted with \(code)") }
        let code = app.run(maxIterations: 50)
        #expect(code == 1)
        #expect(engine.requests.withLock { $0 } == [.observe, .apply(only: [StepID("partition-handling")], waived: []), .stop])
        #expect(screen.closed)
        #expect(screen.frames.contains { $0.text.contains("A run is in progress") })
        #expect(screen.frames.allSatisfy { $0.size == TerminalSize(rows: 24, cols: 80) })
    }

    @Test func aSigintIsTheFirstCtrlC() {
        let engine = ScriptedEngine { r in r == .observe ? [.observeFinished] : [] }
        let screen = TextScreen(size: TerminalSize(rows: 24, cols: 80), keys: [.enter])
        // The first turn draws and starts the engine; Enter starts a run in the second; the signal comes in the third.
        screen.signals = [0, 0, SIGINT]
        let app = WizardApp(screen: screen, engine: engine, glyphs: .ascii) { code, _ in fatalError("aborted with \(code)") }
        _ = app.run(maxIterations: 4)
        #expect(engine.requests.withLock { $0 }.contains(.stop))
        #expect(app.state.activity?.stopping == true)
    }

    @Test func anUnchangedStateIsNotDrawnAgain() {
        let engine = ScriptedEngine { r in r == .observe ? [.observeFinished] : [] }
        let screen = TextScreen(size: TerminalSize(rows: 24, cols: 80))
        let app = WizardApp(screen: screen, engine: engine, glyphs: .ascii) { code, _ in fatalError("aborted with \(code)") }
        _ = app.run(maxIterations: 40)
        // One frame before the engine has said anything (drawn before it starts), one while observing, one when
        // it finished; 37 more turns of the loop change nothing.
        #expect(screen.frames.count == 3)
    }
}
