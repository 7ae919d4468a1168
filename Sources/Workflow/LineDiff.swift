/// A line diff of two texts for plan review, shared by the CLI and the TUI.
public enum LineDiff {
    public enum Line: Sendable, Equatable {
        case same(String), removed(String), added(String)
    }

    /// Lines are split on `\n`; a `\r` before it stays part of the line, so CRLF changes show.
    /// Longest common subsequence; texts over `limit` lines in all fall back to "all removed, all added".
    public static func diff(_ before: String, _ after: String, limit: Int = 4000) -> [Line] {
        let a = lines(before)
        let b = lines(after)
        guard a.count + b.count <= limit else { return a.map(Line.removed) + b.map(Line.added) }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        var out: [Line] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                out.append(.same(a[i])); i += 1; j += 1
            } else if i < a.count, j == b.count || table[i + 1][j] >= table[i][j + 1] {
                out.append(.removed(a[i])); i += 1
            } else {
                out.append(.added(b[j])); j += 1
            }
        }
        return out
    }

    /// Lines of a text; a final newline ends the last line rather than starting an empty one. A missing
    /// final newline shows as its own marker line, so adding or removing it is a visible change.
    static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        // Split on the byte: Swift joins "\r\n" into one Character, which would hide CRLF.
        var parts = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if parts.last == "" { parts.removeLast() } else { parts.append("\\ no newline at end of file") }
        return parts
    }

    /// Unified-style text: changed lines with up to `context` unchanged lines around them.
    public static func render(_ lines: [Line], context: Int = 2) -> [String] {
        let changed = lines.indices.filter { if case .same = lines[$0] { return false } else { return true } }
        guard !changed.isEmpty else { return [] }
        var keep = Set<Int>()
        for c in changed { for k in max(0, c - context)...min(lines.count - 1, c + context) { keep.insert(k) } }
        var out: [String] = []
        var last = -1
        for k in keep.sorted() {
            if last >= 0 && k != last + 1 { out.append("  ...") }
            switch lines[k] {
            case .same(let t): out.append("  " + t)
            case .removed(let t): out.append("- " + t)
            case .added(let t): out.append("+ " + t)
            }
            last = k
        }
        return out
    }
}
