/// The one POSIX shell quoting function: every argument that reaches a remote shell goes through it.
public enum ShellQuote {
    /// Characters that need no quoting in any POSIX shell.
    static func isPlain(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "/", ":", ",", "+", "=", "@", "%": true
        default: false
        }
    }

    /// `word` as one shell word: unchanged when it is plain, else in single quotes with each `'`
    /// written as `'\''`. Works for any string without NUL (a NUL cannot be in argv at all).
    public static func quote(_ word: String) -> String {
        if !word.isEmpty && word.unicodeScalars.allSatisfy(isPlain) && !word.hasPrefix("=") { return word }
        return "'" + word.replacing("'", with: "'\\''") + "'"
    }

    public static func join(_ words: [String]) -> String { words.map(quote).joined(separator: " ") }
}
