/// Where a load balancer's configuration lives and how it is validated, started, reloaded and stopped:
/// data per kind and profile, like ``PlatformProfile``. `{file}` in `validate` is the candidate file.
public struct LoadBalancerLayout: Sendable, Equatable {
    /// The file the wizard owns (whole file) or edits between markers (`block`).
    public var configPath: String
    public var block: Bool
    /// Checks a complete candidate before anything is activated.
    public var validate: [String]
    /// The candidate can only be checked in place (the main config includes it): install, check, and
    /// put the old file back if the check fails, before any reload.
    public var validateInPlace: Bool
    public var start: [String]
    public var reload: [String]
    /// Exit 0 when the load balancer runs.
    public var running: [String]
    /// Stops it (the sandbox's own process, by its pid file).
    public var stop: [String]
    /// The pid file of its main process, which leads the process group of its workers: the failover drill
    /// kills that group to fail the active host of a pair.
    public var pidFile: String? = nil

    static let markerBegin = "# BEGIN rabbit-wizard: RabbitMQ load balancer (managed; edits here are replaced)"
    static let markerEnd = "# END rabbit-wizard"

    /// A load balancer the sandbox runs as its own process: alive when its pid file names a running
    /// process; stopped by that pid (never by name), waiting up to 10 s for it to end.
    static func pidAlive(_ pid: String) -> [String] { ["sh", "-c", "[ -f \"$1\" ] && kill -0 \"$(cat \"$1\")\" 2>/dev/null", "sh", pid] }
    static func killPid(_ pid: String) -> [String] {
        ["sh", "-c", "[ -f \"$1\" ] || exit 0; p=$(cat \"$1\"); kill \"$p\" 2>/dev/null; i=0; "
            + "while kill -0 \"$p\" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; rm -f \"$1\"", "sh", pid]
    }

    /// The same file for every kind: `header` then the managed part.
    static let managedHeader = "# Managed by rabbit-wizard: the TCP load balancer in front of the RabbitMQ cluster.\n"
}

/// What the kinds' configurations share. Every value in a generated configuration comes from validated
/// types (host names, ports, paths without `; { } #`), so nothing can inject a directive.
public enum LoadBalancerConfig {
    /// `current` with the block between `begin` and `end` replaced by `body`, or, without one, with the block
    /// appended after a blank line (an empty file gets the block alone); every other byte kept.
    static func replacingBlock(in current: [UInt8], with body: String, begin beginMarker: String = LoadBalancerLayout.markerBegin,
                               end endMarker: String = LoadBalancerLayout.markerEnd) -> [UInt8]
    {
        let text = String(decoding: current, as: UTF8.self)
        let block = beginMarker + "\n" + body + endMarker + "\n"
        if let begin = text.range(of: beginMarker), let end = text.range(of: endMarker + "\n", range: begin.upperBound..<text.endIndex) {
            return Array((text[..<begin.lowerBound] + block + text[end.upperBound...]).utf8)
        }
        if text.isEmpty { return Array(block.utf8) }
        return Array((text + (text.hasSuffix("\n") ? "" : "\n") + "\n" + block).utf8)
    }
}
