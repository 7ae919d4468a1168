/// Erlang's own rules for a cookie file (`lib/kernel/src/auth.erl`), so the wizard's verdict matches what
/// a node does: printable ASCII, 1 to 255 characters after trailing `\n`, `\r` and spaces are dropped.
public enum CookieRules {
    public enum Problem: Sendable, Equatable {
        case empty
        case tooLong(Int)
        case badCharacters
    }

    /// The value Erlang uses: the content without trailing newlines, carriage returns and spaces.
    public static func effective(_ bytes: [UInt8]) -> [UInt8] {
        var end = bytes.count
        while end > 0, [0x0A, 0x0D, 0x20].contains(bytes[end - 1]) { end -= 1 }
        return Array(bytes[..<end])
    }

    public static func problem(_ bytes: [UInt8]) -> Problem? {
        let value = effective(bytes)
        if value.isEmpty { return .empty }
        if value.contains(where: { $0 < 0x20 || $0 > 0x7E }) { return .badCharacters }
        if value.count > 255 { return .tooLong(value.count) }
        return nil
    }

    /// Mode bits a cookie file may not have (group and other).
    public static func modeProblem(_ octal: String) -> Bool {
        guard let mode = Int(octal, radix: 8) else { return true }
        return mode & 0o077 != 0
    }
}
