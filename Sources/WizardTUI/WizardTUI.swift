import CNcurses

/// Facts about the terminal library the TUI is built on. The TUI itself arrives with its issue.
public enum TerminalLibrary {
    /// The linked ncurses version, e.g. `ncurses 6.4.20221231`.
    public static var version: String { String(cString: curses_version()) }
}
