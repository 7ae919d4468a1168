/// A host name or IP literal that is safe to put in argv, generated configs and ssh destinations.
///
/// Accepts RFC 1123 names (labels of letters, digits and inner hyphens, up to 63 bytes each, 253 in
/// all), IPv4 literals, and IPv6 literals made of hex digits, colons and dots. Case is kept exactly:
/// RabbitMQ node names are case-sensitive.
public struct HostName: Sendable, Hashable, Codable, CustomStringConvertible {
    public let value: String

    public enum Problem: Error, Equatable, Sendable {
        case empty
        case tooLong(Int)
        case badCharacter(Character)
        case badLabel(String)
    }

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
        for label in raw.split(separator: ".", omittingEmptySubsequences: false) {
            if label.isEmpty || label.utf8.count > 63 || label.hasPrefix("-") || label.hasSuffix("-") {
                throw .badLabel(String(label))
            }
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
