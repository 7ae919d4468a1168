import CNcurses

/// Facts about the terminal library the screen is drawn with (`--version` prints them).
public enum TerminalLibrary {
    /// The linked ncurses version, e.g. `ncurses 6.4.20221231`.
    public static var version: String { String(cString: curses_version()) }
}
