import Foundation

/// What a step would do now, computed read-only from the servers. Empty means "already done".
public struct Plan: Sendable, Codable, Equatable {
    public var step: StepID
    public var changes: [Change]
    /// Set when the step can neither change nor check anything with what it was given (the hand-off
    /// without a password): what was not checked and how to have it checked. Such a step is not done.
    public var unchecked: String?
    /// What the step observed and leaves as it is, for the operator (nodes already in the cluster when a
    /// new one joins). Not a change; absent from the plan's JSON (and fingerprint) when nil.
    public var leftAlone: [String]?

    public init(step: StepID, changes: [Change], unchecked: String? = nil, leftAlone: [String]? = nil) {
        self.step = step
        self.changes = changes
        self.unchecked = unchecked
        self.leftAlone = leftAlone
    }

    public var isEmpty: Bool { changes.isEmpty }

    /// Stable across runs and machines for equal changes: FNV-1a 64 over the canonical JSON. It detects a
    /// plan that went stale between review and apply; it is not a security hash.
    public var fingerprint: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        return Checksum.fnv1a64(data)
    }

    /// The nodes the plan restarts, with why, in the plan's order.
    public var restarts: [(node: String, why: String)] {
        changes.compactMap { c in c.restart.map { (c.node ?? c.target, $0) } }
    }

    /// Changes that destroy something, with the words that name it.
    public var destructive: [String] { changes.compactMap(\.destructive) }
}

/// FNV-1a 64 as 16 hex digits.
public enum Checksum {
    public static func fnv1a64<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            hash ^= UInt64(b)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
