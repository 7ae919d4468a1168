import Foundation

/// What a step needs to undo its work, captured when it acts and kept in the journal. Steps encode their
/// own `Codable` type into it; the journal keeps it as JSON text. Never put a secret in it.
public struct Undo: Sendable, Codable, Equatable {
    public var json: String

    public init(json: String) { self.json = json }

    public init<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        json = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    public static let none = Undo(json: "{}")
}
