/// A named result of a step's read-only check: an error blocks the run unless waived by its name.
public struct Finding: Sendable, Codable, Equatable {
    public enum Severity: String, Sendable, Codable, Comparable {
        case error, warning, info
        private var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    /// Stable kebab name (`cookie-mismatch`), what `--waive` takes.
    public var name: String
    public var severity: Severity
    /// The node it concerns, or nil for the whole topology.
    public var node: String?
    public var message: String
    public var fix: String?

    public init(_ name: String, _ severity: Severity, node: String? = nil, message: String, fix: String? = nil) {
        self.name = name
        self.severity = severity
        self.node = node
        self.message = message
        self.fix = fix
    }

    /// Whether this finding stops the run given the waived names (`all` waives every finding).
    public func blocks(waived: Set<String>) -> Bool {
        severity == .error && !waived.contains(name) && !waived.contains("all")
    }
}
