import CNcurses

/// How a cell looks. The curses screen maps these to attributes and (unless NO_COLOR) colours; the text
/// screen ignores them.
public enum Style: Sendable, Equatable {
    case normal, bold, dim, reverse, selected, ok, warn, error, added, removed, key
}

public struct TerminalSize: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
    }
}

/// What the screen should show: a grid of cells. `render` fills one; a screen draws it.
public struct ScreenBuffer: Sendable, Equatable {
    public struct Cell: Sendable, Equatable {
        /// Empty for the right half of a double-width character.
        public var text: String
        public var style: Style
    }

    public let size: TerminalSize
    public private(set) var cells: [[Cell]]

    public init(_ size: TerminalSize) {
        self.size = size
        cells = Array(repeating: Array(repeating: Cell(text: " ", style: .normal), count: max(size.cols, 0)), count: max(size.rows, 0))
    }

    /// Writes `text` at (row, col), clipped to `width` columns (default: to the right edge); control
    /// characters become `?`. Returns the column after the last one written.
    @discardableResult
    public mutating func put(_ row: Int, _ col: Int, _ text: String, _ style: Style = .normal, width: Int? = nil) -> Int {
        guard row >= 0, row < size.rows, col >= 0 else { return col }
        let end = min(size.cols, col + (width ?? size.cols))
        var c = col
        for ch in text {
            let w = TextWidth.columns(ch)
            if c + w > end { break }
            if w == 0 { continue }
            cells[row][c] = Cell(text: TextWidth.printable(ch), style: style)
            if w == 2 { cells[row][c + 1] = Cell(text: "", style: style) }
            c += w
        }
        return c
    }

    /// Paints the style over a range without changing the text (selection bars).
    public mutating func paint(_ row: Int, from col: Int, width: Int, _ style: Style) {
        guard row >= 0, row < size.rows else { return }
        for c in max(col, 0)..<min(size.cols, col + width) { cells[row][c].style = style }
    }

    public mutating func fill(_ row: Int, from col: Int, width: Int, with ch: String = " ", _ style: Style = .normal) {
        guard row >= 0, row < size.rows else { return }
        for c in max(col, 0)..<min(size.cols, col + width) { cells[row][c] = Cell(text: ch, style: style) }
    }

    /// The text of each row, trailing blanks removed: what a snapshot or a terminal capture compares.
    public var lines: [String] {
        cells.map { row in
            var s = row.map(\.text).joined()
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
    }

    public var text: String { lines.joined(separator: "\n") }
}

/// Display width of characters, as the terminal counts them.
public enum TextWidth {
    public static func columns(_ ch: Character) -> Int {
        guard let first = ch.unicodeScalars.first else { return 0 }
        if first.value < 0x80 { return 1 }  // ASCII; controls are drawn as '?'
        let w = wcwidth(wchar_t(bitPattern: first.value))
        return w < 0 ? 1 : Int(w)
    }

    public static func printable(_ ch: Character) -> String {
        guard let v = ch.unicodeScalars.first?.value else { return "?" }
        return v < 0x20 || v == 0x7F ? "?" : String(ch)
    }

    public static func columns(_ s: String) -> Int { s.reduce(0) { $0 + columns($1) } }

    /// Cuts `s` to at most `width` columns, ending with the ellipsis when something was cut.
    public static func clip(_ s: String, _ width: Int, ellipsis: String) -> String {
        guard width > 0 else { return "" }
        if columns(s) <= width { return s }
        var out = ""
        var used = 0
        let room = width - columns(ellipsis)
        for ch in s {
            let w = columns(ch)
            if used + w > room { break }
            out.append(ch)
            used += w
        }
        return out + ellipsis
    }

    /// Splits text into lines of at most `width` columns, at spaces where possible.
    public static func wrap(_ s: String, _ width: Int) -> [String] {
        guard width > 4 else { return [s] }
        var out: [String] = []
        for paragraph in s.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                var w = String(word)
                let sep = line.isEmpty ? "" : " "
                if columns(line) + columns(sep) + columns(w) <= width {
                    line += sep + w
                    continue
                }
                if !line.isEmpty { out.append(line) }
                line = ""
                while columns(w) > width {
                    var head = ""
                    for ch in w where columns(head) + columns(ch) <= width { head.append(ch) }
                    out.append(head)
                    w = String(w.dropFirst(head.count))
                }
                line = w
            }
            out.append(line)
        }
        return out
    }
}

/// Characters for boxes and marks: Unicode in a UTF-8 terminal, ASCII otherwise.
public struct Glyphs: Sendable, Equatable {
    public struct Corners: Sendable, Equatable {
        public var tl, tr, bl, br: String
    }

    /// A step's status at a glance; the word beside it says the same for screen readers and ASCII.
    public struct Marks: Sendable, Equatable {
        public var pending, ready, done, failed, unknown, rolledBack, skipped, restartOwed: String
    }

    public var vertical: String
    public var horizontal: String
    public var corners: Corners
    public var ellipsis: String
    public var pointer: String
    public var spinner: [String]
    public var marks: Marks

    public static let unicode = Glyphs(vertical: "│", horizontal: "─", corners: Corners(tl: "┌", tr: "┐", bl: "└", br: "┘"), ellipsis: "…",
                                       pointer: "▶", spinner: ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"],
                                       marks: Marks(pending: "·", ready: "●", done: "✓", failed: "✗", unknown: "?", rolledBack: "↺", skipped: "-", restartOwed: "↻"))
    public static let ascii = Glyphs(vertical: "|", horizontal: "-", corners: Corners(tl: "+", tr: "+", bl: "+", br: "+"), ellipsis: "~",
                                     pointer: ">", spinner: ["|", "/", "-", "\\"],
                                     marks: Marks(pending: ".", ready: "*", done: "+", failed: "x", unknown: "?", rolledBack: "<", skipped: "-", restartOwed: "~"))
}
