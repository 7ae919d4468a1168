/// Why a RabbitMQ node did not come back, as its boot log says it: the reason of the last boot failure
/// (`failed_to_parse_configuration_file`), with the fix for the reasons seen in practice.
enum BootLog {
    struct Cause: Equatable {
        var text: String
        var hint: String?
    }

    /// Known reasons and what to do about them.
    static let hints: [(reason: String, hint: String)] = [
        ("failed_to_parse_configuration_file", "rabbitmq.conf cannot be parsed (a byte order mark at its start, or a syntax error): correct it, then start the node"),
        ("eaddrinuse", "a port the node needs is in use by another process: free it, then start the node"),
        ("invalid_advanced_config", "advanced.config cannot be read: correct it, then start the node"),
        ("nodedown", "the node stopped while booting"),
    ]

    /// Lines a completed boot writes: a failure before the last of them is an old one.
    static let completed = ["Starting broker... completed", "Server startup complete", "Time to start RabbitMQ"]

    /// The cause of the last failed boot in `log` (its tail), or nil when it shows none after the last
    /// completed boot.
    static func cause(in log: String) -> Cause? {
        let all = log.split(separator: "\n").map(String.init)
        let since = all.lastIndex { line in completed.contains { line.contains($0) } }.map { $0 + 1 } ?? 0
        let lines = Array(all[since...])
        guard let last = lines.lastIndex(where: { $0.contains("Kernel pid terminated") || $0.contains("BOOT FAILED") || $0.contains("exited with reason") })
        else { return nil }
        let line = lines[last]
        if let known = hints.first(where: { line.contains($0.reason) }) {
            return Cause(text: known.reason, hint: known.hint)
        }
        if let reason = line.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).first(where: { $0.hasPrefix("failed_to_") || $0.hasPrefix("could_not_") }) {
            return Cause(text: String(reason), hint: nil)
        }
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return Cause(text: trimmed.count > 200 ? String(trimmed.prefix(197)) + "..." : trimmed, hint: nil)
    }
}
