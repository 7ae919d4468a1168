import Glibc
import Synchronization

/// Engine events wait here until the input loop picks them up (the engine posts from any thread).
final class Inbox: Sendable {
    private let events = Mutex<[EngineEvent]>([])
    func post(_ e: EngineEvent) { events.withLock { $0.append(e) } }
    func drain() -> [EngineEvent] { events.withLock { q in defer { q = [] }; return q } }
}

/// The input loop: engine events and keys become actions, actions change the state, the state is
/// rendered. It never waits on work: a key is read with a short time-out, so output keeps streaming.
@MainActor
public final class WizardApp {
    public private(set) var state = AppState()
    let screen: any Screen
    let engine: any WizardEngine
    let glyphs: Glyphs
    let inbox = Inbox()
    /// Called before the process ends on an abort (second Ctrl-C, SIGHUP, SIGTERM), after the screen closed.
    let onAbort: @MainActor (Int32, String) -> Never

    public init(screen: any Screen, engine: any WizardEngine, glyphs: Glyphs,
                onAbort: @escaping @MainActor (Int32, String) -> Never)
    {
        self.screen = screen
        self.engine = engine
        self.glyphs = glyphs
        self.onAbort = onAbort
    }

    /// Runs until the operator quits; returns the exit status. `maxIterations` bounds tests.
    public func run(maxIterations: Int = .max) -> Int32 {
        let inbox = self.inbox
        var started = false
        let clock = ContinuousClock()
        let t0 = clock.now
        var drawn: ScreenBuffer?
        var iterations = 0
        defer { screen.close() }
        while iterations < maxIterations {
            iterations += 1
            let elapsed = clock.now - t0
            var requests = Wizard.update(&state, .tick(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            for event in inbox.drain() { requests += Wizard.update(&state, .engine(event)) }
            switch screen.takeSignal() {
            case 0: break
            case SIGINT: requests += Wizard.update(&state, .interrupt)
            case let sig:
                screen.close()
                onAbort(128 + sig, sig == SIGHUP ? "terminal gone; aborted, the current step's outcome is unknown (the next run reconciles it)"
                                   : "terminated; the current step's outcome is unknown (the next run reconciles it)")
            }
            for r in requests { engine.perform(r) }
            if let exit = state.exit {
                if exit.abort {
                    screen.close()
                    onAbort(exit.code, "aborted; the current step's outcome is unknown (the next run reconciles it)")
                }
                return exit.code
            }
            let frame = Render.render(state, screen.size, glyphs: glyphs)
            if frame != drawn {
                screen.draw(frame)
                drawn = frame
            }
            // The engine starts once the first frame is up: the operator sees the screen at once, before
            // the first observations (Erlang VMs, ~1 s of CPU each) compete with it for the cores.
            if !started {
                started = true
                engine.start { inbox.post($0) }
                continue
            }
            guard let key = screen.readKey(timeoutMilliseconds: 50), let action = KeyMap.action(for: key, in: state) else { continue }
            for r in Wizard.update(&state, action) { engine.perform(r) }
        }
        return state.exit?.code ?? 0
    }
}
