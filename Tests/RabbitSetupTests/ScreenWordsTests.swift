import TestKit
import Testing

/// On-screen words are found wherever the screen wraps them. The screen below is the one a fresh clone
/// showed (a three-digit pid moved the wrap), when a plain `contains` missed "process is gone".
@Suite struct ScreenWordsTests {
    static let lockBox = """
         rabbit-wizard │ /tmp/rw-sandbox-1/topology.yml (3 nodes, nginx)          idle
         Steps                            │ Output
          installation-checks      ✓ done │ ───────────────────────────────────────────
        ▶ erlang-cookie         ? unknown │ every pending step.
          ┌─ A wizard that is no longer running left its lock ──────────────────────┐
          │ Left by pid 565 on vm (apply, started 2026-11-29T13:16:08Z). Its process │
          │ is gone; make sure no other wizard works on these servers.               │
          │ y: take the lock over and go on   n: leave it                            │
          └──────────────────────────────────────────────────────────────────────────┘

         y take over  n leave
        """

    @Test func wordsWrappedInABoxAreFound() {
        #expect(!Self.lockBox.contains("process is gone"), "the phrase must be wrapped in this screen")
        #expect(Tmux.shows(Self.lockBox, "process is gone"))
        #expect(Tmux.shows(Self.lockBox, "left its lock"))
        #expect(Tmux.shows(Self.lockBox, "make sure no other wizard works on these servers."))
    }

    @Test func columnsAreNotRunTogether() {
        // Beside each other on screen, not one text: the step list and the output pane.
        #expect(!Tmux.shows(Self.lockBox, "done every pending"))
        #expect(!Tmux.shows(Self.lockBox, "process lock"))
        #expect(Tmux.shows(Self.lockBox, "installation-checks ✓ done"))
    }
}
