import Glibc
import Synchronization
import Workflow

/// Ctrl-C during a run: the first SIGINT asks the run to stop at the next safe
/// point; a second one, or SIGHUP, ends the process at once (the journal then shows the step as unknown
/// and the next run reconciles it). Children run in their own sessions, so the terminal's Ctrl-C never
/// reaches them directly.
enum Interruption {
    static let count = Atomic<Int>(0)

    static var requested: Bool { count.load(ordering: .relaxed) > 0 }

    static func install() {
        signal(SIGINT) { _ in
            let n = Interruption.count.add(1, ordering: .relaxed).newValue
            if n >= 2 {
                let s: StaticString = "\nrabbit-wizard: aborted; the current step's outcome is unknown (the next run reconciles it)\n"
                _ = write(2, s.utf8Start, s.utf8CodeUnitCount)
                _exit(ExitStatus.interrupted.rawValue)
            }
            let s: StaticString = "\nrabbit-wizard: stopping at the next safe point (Ctrl-C again to abort now)\n"
            _ = write(2, s.utf8Start, s.utf8CodeUnitCount)
        }
        signal(SIGHUP) { _ in
            let s: StaticString = "\nrabbit-wizard: terminal gone; aborted, the current step's outcome is unknown\n"
            _ = write(2, s.utf8Start, s.utf8CodeUnitCount)
            _exit(ExitStatus.hangUp.rawValue)
        }
    }
}
