/// A host name or IP literal that is safe to put in argv, generated configs and ssh destinations.
///
/// Accepts RFC 1123 names (labels of letters, digits and inner hyphens, up to 63 bytes each, 253 in
/// all), IPv4 literals in their one canonical form (four decimal parts without leading zeros: `010.0.0.1`
/// is 8.0.0.1 to some programs and 10.0.0.1 to others), and IPv6 literals made of hex digits, colons and
/// dots. Case is kept exactly: RabbitMQ node names are case-sensitive.
public struct HostName: Sendable, Hashable, Codable, CustomStringConvertible {
    public let value: String

    public enum Problem: Error, Equatable, Sendable {
        case empty
        case tooLong(Int)
        case badCharacter(Character)
        case badLabel(String)
        /// All digits and dots, but not four parts of 0-255 without leading zeros.
        case notCanonicalIPv4(String)
    }

    /// Whether this is an IPv6 literal.
    public var isIPv6: Bool { value.contains(":") }

    public init(_ raw: String) throws(Problem) {
        guard !raw.isEmpty else { throw .empty }
        guard raw.utf8.count <= 253 else { throw .tooLong(raw.utf8.count) }
        if raw.contains(":") {
            for c in raw where !(c.isHexDigit || c == ":" || c == ".") { throw .badCharacter(c) }
            value = raw
            return
        }
        for c in raw where !(c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == ".")) {
            throw .badCharacter(c)
        }
        let labels = raw.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty || label.utf8.count > 63 || label.hasPrefix("-") || label.hasSuffix("-") {
                throw .badLabel(String(label))
            }
        }
        if labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) {
            let canonical = labels.count == 4 && labels.allSatisfy { l in Int(l).map { $0 <= 255 && String($0) == l } ?? false }
            if !canonical { throw .notCanonicalIPv4(raw) }
        }
        value = raw
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(raw) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad host name \(raw)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }

    public var description: String { value }
}
