import CNcurses
import Glibc

/// Where frames go and keys come from. ``CursesScreen`` is the only type that calls ncurses;
/// ``TextScreen`` does the same for tests.
@MainActor
public protocol Screen: AnyObject {
    var size: TerminalSize { get }
    func draw(_ buffer: ScreenBuffer)
    /// The next key, or nil when none came within `timeoutMilliseconds`.
    func readKey(timeoutMilliseconds: Int32) -> Key?
    /// A signal that arrived (SIGINT, SIGTERM, SIGHUP), or 0.
    func takeSignal() -> Int32
    /// Gives the terminal back as it was. Safe to call twice.
    func close()
}

/// The terminal through ncursesw: raw mode (Ctrl-C arrives as a key), no echo, keypad, hidden cursor,
/// colours unless `NO_COLOR`. The terminal is restored by ``close()`` and, on a crash, by a signal handler.
@MainActor
public final class CursesScreen: Screen {
    public enum Problem: Error, Equatable {
        case notATerminal
        case unknownTerminal(String)
    }

    private var open = false
    private let colors: Bool
    private var current: ScreenBuffer?

    public init(noColor: Bool) throws(Problem) {
        guard isatty(0) == 1, isatty(1) == 1 else { throw .notATerminal }
        setlocale(LC_ALL, "")
        rw_install_terminal_guards()
        guard rw_newterm() != nil else { throw .unknownTerminal(String(cString: getenv("TERM") ?? strdup(""))) }
        open = true
        raw()
        noecho()
        keypad(rw_stdscr(), true)
        curs_set(0)
        set_escdelay(25)
        colors = !noColor && has_colors()
        if colors {
            start_color()
            use_default_colors()
            init_pair(1, Int16(COLOR_GREEN), -1)
            init_pair(2, Int16(COLOR_YELLOW), -1)
            init_pair(3, Int16(COLOR_RED), -1)
            init_pair(4, Int16(COLOR_CYAN), -1)
        }
    }

    /// Whether the terminal takes UTF-8 (else the ASCII glyphs are used).
    public static var utf8: Bool {
        setlocale(LC_ALL, "")
        return String(cString: nl_langinfo(nl_item(CODESET))).uppercased().filter { $0 != "-" } == "UTF8"
    }

    public var size: TerminalSize {
        var rows: Int32 = 0, cols: Int32 = 0
        rw_getmaxyx(rw_stdscr(), &rows, &cols)
        return TerminalSize(rows: Int(rows), cols: Int(cols))
    }

    func attributes(_ style: Style) -> (attr_t, Int16) {
        switch style {
        case .normal: (0, 0)
        case .bold: (rw_a_bold(), 0)
        case .dim: (rw_a_dim(), 0)
        case .reverse: (rw_a_reverse(), 0)
        case .selected: (rw_a_reverse() | rw_a_bold(), 0)
        case .ok, .added: colors ? (0, 1) : (0, 0)
        case .warn: colors ? (0, 2) : (rw_a_bold(), 0)
        case .error, .removed: colors ? (rw_a_bold(), 3) : (rw_a_bold(), 0)
        case .key: colors ? (0, 4) : (0, 0)
        }
    }

    public func draw(_ buffer: ScreenBuffer) {
        guard open else { return }
        let win = rw_stdscr()
        let redrawAll = current?.size != buffer.size
        if redrawAll { werase(win) }
        for r in 0..<buffer.size.rows {
            let row = buffer.cells[r]
            if !redrawAll, let old = current, old.cells[r] == row { continue }
            var c = 0
            while c < row.count {
                let style = row[c].style
                var run = ""
                let start = c
                while c < row.count, row[c].style == style {
                    run += row[c].text
                    c += 1
                }
                let (attr, pair) = attributes(style)
                wattr_set(win, attr, pair, nil)
                // The last cell of the screen cannot be written without scrolling; ncurses draws it and
                // reports an error, which is harmless here.
                _ = mvwaddstr(win, Int32(r), Int32(start), run)
            }
        }
        wattr_set(win, 0, 0, nil)
        wnoutrefresh(win)
        doupdate()
        current = buffer
    }

    public func readKey(timeoutMilliseconds: Int32) -> Key? {
        guard open else { return nil }
        let win = rw_stdscr()
        wtimeout(win, timeoutMilliseconds)
        var ch: wint_t = 0
        let r = wget_wch(win, &ch)
        if r == ERR { return nil }
        if r == KEY_CODE_YES {
            switch Int32(ch) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_ENTER: return .enter
            case KEY_BACKSPACE: return .backspace
            case KEY_RESIZE:
                current = nil
                return .resize(size)
            default: return nil
            }
        }
        switch ch {
        case 3: return .ctrlC
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 9: return .tab
        default:
            guard let scalar = Unicode.Scalar(UInt32(ch)), ch >= 32 else { return nil }
            return .char(Character(scalar))
        }
    }

    public func takeSignal() -> Int32 { rw_take_signal() }

    public func close() {
        guard open else { return }
        open = false
        endwin()
    }
}

/// The same screen in memory: frames are kept as text, keys come from a script. For tests.
@MainActor
public final class TextScreen: Screen {
    public var size: TerminalSize
    public private(set) var frames: [ScreenBuffer] = []
    public var keys: [Key]
    public var signals: [Int32] = []
    public private(set) var closed = false

    public init(size: TerminalSize, keys: [Key] = []) {
        self.size = size
        self.keys = keys
    }

    public var last: String { frames.last?.text ?? "" }

    public func draw(_ buffer: ScreenBuffer) { frames.append(buffer) }
    public func readKey(timeoutMilliseconds: Int32) -> Key? { keys.isEmpty ? nil : keys.removeFirst() }
    public func takeSignal() -> Int32 { signals.isEmpty ? 0 : signals.removeFirst() }
    public func close() { closed = true }
}
